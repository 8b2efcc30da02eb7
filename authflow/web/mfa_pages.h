/*
 * The browser side of the second factor: the page that shows the number
 * to type on the phone, its status endpoint, the token-code form, cancel,
 * and the enrollment page.
 *
 *   GET  /login/mfa?flow=ID         the page; finishes the sign-in once the
 *                                   phone approved (the status's "next")
 *   GET  /login/mfa/status?flow=ID  JSON {state, number, expires_in, next}
 *   POST /login/mfa/code            flow, csrf, code
 *   POST /login/mfa/cancel          flow, csrf
 *   POST /login/mfa/push            flow, csrf: another request to the
 *                                   phone after one nobody answered
 *   GET  /enroll                    a signed-in user's button for an
 *                                   enrollment code; makes none itself
 *   POST /enroll                    csrf: the code and its QR
 *
 * Every /login/mfa one checks the flow's browser binding: only the
 * browser that entered the password sees the number or the outcome.
 * /enroll makes a code only for a post of its form, which carries a
 * token of the browser session, so that another site sending a signed-in
 * browser there uses up none of the user's codes and writes no audit
 * event.
 *
 * Thread-safety: handlers are re-entrant.
 */
#ifndef AF_WEB_MFA_PAGES_H
#define AF_WEB_MFA_PAGES_H

#include <jansson.h>

#include "http/request.h"
#include "server.h"

void af_h_mfa_page(af_server *srv, af_req *req, af_resp *resp);
void af_h_mfa_status(af_server *srv, af_req *req, af_resp *resp);
void af_h_mfa_code(af_server *srv, af_req *req, af_resp *resp);
void af_h_mfa_cancel(af_server *srv, af_req *req, af_resp *resp);
void af_h_mfa_push(af_server *srv, af_req *req, af_resp *resp);

/* Sends the browser on to the MFA page of flow (303). */
void af_mfa_to_page(af_resp *resp, const char *flow);
void af_h_enroll(af_server *srv, af_req *req, af_resp *resp);
void af_h_enroll_post(af_server *srv, af_req *req, af_resp *resp);

/* Why the enrollment page is shown. */
typedef enum af_enroll_why {
	AF_ENROLL_NO_DEVICE = 0, /* after the password, never had a phone */
	AF_ENROLL_REPLACED,	 /* after the password, its phone removed */
	AF_ENROLL_FIRST,	 /* /enroll, password only: the first phone */
	AF_ENROLL_ANOTHER,	 /* /enroll, signed in with a phone: one more */
	AF_ENROLL_STEP_UP /* after the password, never had a phone, and only
			     the application asks for the second step */
} af_enroll_why;

/*
 * The enrollment page: a QR code and the one-time code when offer_qr
 * (and never for AF_ENROLL_REPLACED: a password alone does not replace a
 * removed phone; an administrator's code does), else where to get one.
 * A code that a password alone obtained (AF_ENROLL_NO_DEVICE,
 * AF_ENROLL_FIRST) enrolls only a first phone: once the user has one, it
 * is good for nothing.
 * A code made is an audit event, device.enroll_code by "user:<name>".
 * Shown in a sign-in (flow and authz, its authorization request, not
 * NULL), the page has the "Back to the application" button, so the
 * application learns that nobody signed in (access_denied) rather than
 * wait; at /enroll both are NULL.
 */
void af_mfa_enroll_page(af_server *srv, const af_req *req, af_resp *resp,
			const char *username, int offer_qr, af_enroll_why why,
			const char *flow, const json_t *authz);

/* The JavaScript of the MFA page, served at /static/mfa.js. */
const char *af_mfa_js(void);

#endif /* AF_WEB_MFA_PAGES_H */
