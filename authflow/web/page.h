/*
 * Browser pages: a plain, accessible layout (readable on a phone, no
 * inline script or style, so the strict CSP holds), the error page that
 * says what happened and what to do next, and the sign-in form.
 *
 * Thread-safety: re-entrant.
 */
#ifndef AF_WEB_PAGE_H
#define AF_WEB_PAGE_H

#include "http/buf.h"
#include "http/request.h"
#include "server.h"
#include "session/session.h"

/*
 * Opens a page: doctype, head, stylesheet links, and the header with the
 * branding of resp->brand (web/brand.h; NULL, or resp NULL: the built-in
 * look).
 */
void af_page_begin(af_buf *b, const af_resp *resp, const char *title);

/* Closes a page opened with af_page_begin(): the footer with the help
 * line of the branding. */
void af_page_end(af_buf *b, const af_resp *resp);

/*
 * Lets the page's forms lead to the origin of target (an application's
 * redirect URI) as well as here: browsers hold the redirect that answers
 * a form's POST to the page's form-action too, so a sign-in form whose
 * answer sends the browser on to the application needs that origin
 * allowed. A target without a plain http(s) origin adds nothing.
 */
void af_page_allow_form_target(af_resp *resp, const char *target);

/*
 * A page that posts the name/value pairs of params (a NULL name ends
 * them; a NULL value is left out) to action at once, by the script
 * /static/formpost.js, or when the person presses Continue without
 * script. An action on another origin is allowed by the page's CSP.
 */
void af_page_auto_post(af_resp *resp, const char *title, const char *action,
		       const char *const *params);

/* Sets resp to an HTML page from b (consumed) with the status. */
void af_page_send(af_resp *resp, unsigned status, af_buf *b);

/*
 * A number pad: the ten digit buttons, each carrying its digit in the
 * attribute attr, and a Clear button carrying the attribute clear_attr,
 * for a page's script to type into or clear its field. Every button is
 * type="button", so none submits. The pad is hidden until the script
 * shows it.
 */
void af_page_digit_pad(af_buf *b, const char *attr, const char *clear_attr);

/*
 * The error page: a heading, what happened, and what to do next (all
 * plain text, escaped here).
 */
void af_page_error(af_resp *resp, unsigned status, const char *title,
		   const char *what, const char *next);

/*
 * The pages of a signed-in user's own account, each linking the others
 * (WCAG 2.4.5): where they are signed in, their password, a phone, and
 * signing out. here is the path of the page it is on (named, not linked,
 * with aria-current), or NULL.
 */
void af_page_account_nav(af_buf *b, const char *here);

/*
 * A page that tells, not warns: a heading and a paragraph (plain text),
 * neither styled nor announced as an error.
 */
void af_page_info(af_resp *resp, unsigned status, const char *title,
		  const char *text);

/*
 * The "Back to the application" button of sign-in flow (with its csrf):
 * the application then gets error=access_denied. The page must allow its
 * redirect URI as a form target (af_page_allow_form_target()).
 */
void af_page_back_form(af_buf *b, const char *flow, const char *csrf);

/*
 * The error page of a sign-in refused after the password, with a "Back
 * to the application" button that posts cancel=1 for the flow to /login,
 * which tells the application (access_denied) instead of leaving it
 * waiting (RFC 6749 4.1.2.1).
 */
void af_page_refusal(af_resp *resp, unsigned status, const char *title,
		     const char *what, const char *next, const char *flow,
		     const char *csrf);

/*
 * af_page_refusal() whose page title begins with the cause ("Account
 * disabled: Sign-in not completed"), so that the title, read first and
 * shown in the tab, tells refusals apart (WCAG 2.4.2); the heading is
 * title alone. cause NULL: as af_page_refusal().
 */
void af_page_refusal_why(af_resp *resp, unsigned status, const char *cause,
			 const char *title, const char *what, const char *next,
			 const char *flow, const char *csrf);

/*
 * The sign-in form for a flow: hidden flow id, CSRF token and restart
 * query (af_authorize_restart_query(); NULL: none), the application's
 * display name, an optional message (escaped), and the user name to
 * prefill. The message describes both fields, and marks them invalid
 * when status is 400 (a field empty) or 401 (wrong); with status 200 it
 * is a notice.
 */
void af_page_login(af_resp *resp, unsigned status, const char *flow,
		   const char *csrf, const char *restart, const char *app_name,
		   const char *message, const char *username);

/* The page for a sign-in flow that expired, was used, or is not ours. */
void af_page_flow_expired(af_resp *resp);

/*
 * 1, with resp answered by a 400 page, when a parameter of a sign-in
 * form's post came more than once; else 0. No sign-in form sends a field
 * twice, and which copy a proxy or filter in front read is unknown, so
 * such a post is refused before anything of it is used.
 */
int af_page_refuse_repeated(const af_req *req, af_resp *resp);

/* The "try again in a moment" page for a store that does not answer. */
void af_page_unavailable(af_resp *resp);

/*
 * The page of a signed-in user's page opened without a live session:
 * "Sign in first", with why (a sentence: what needs the sign-in); with
 * store_failed, whether the visitor is signed in is not known: the
 * service-unavailable page (503) instead.
 */
void af_page_sign_in_first(af_resp *resp, int store_failed, const char *why);

/*
 * The form token check of a signed-in page's post (session s's,
 * af_form_token_ok()): 0 when the form carries it; else -1 with the page
 * made in resp (the store failing, or "This form has expired", saying
 * undone: what did not happen).
 */
int af_page_form_token_check(af_server *srv, const af_req *req, af_resp *resp,
			     const af_session *s, const char *undone);

/*
 * A sign-in step refused while a delay of wait_s seconds runs: writes the
 * message to show on the form into msg (NUL-terminated, cut to msglen) and
 * sets Retry-After to the delay, so that the person and any client see the
 * same figure.
 */
void af_page_throttled(af_resp *resp, uint32_t wait_s, char *msg,
		       size_t msglen);

/*
 * The words for an account locked by failed sign-ins, or with browser 1
 * for a known browser locked by its own (directory/throttle.h), into msg
 * (cut to msglen): when it opens again (wait_s seconds; 0, or more than a
 * day: when an administrator unlocks it).
 */
void af_page_locked(uint32_t wait_s, int browser, char *msg, size_t msglen);

/* The stylesheet served at /static/authflow.css. */
const char *af_page_css(void);

#endif /* AF_WEB_PAGE_H */
