/*
 * A user's own new password. First the step of a sign-in with a
 * temporary password (one an administrator set with "temporary", see
 * directory.h): once the password and any second factor passed, and
 * before anything is signed into, the user chooses a new password.
 *
 *   GET  /login/password?flow=ID   the form: new password, twice
 *   POST /login/password           flow, csrf, password, confirm (or
 *                                  cancel): the change, then the code
 *
 * Only the browser the sign-in began in (the flow's binding cookie) sees
 * the form, and only a sign-in that reached this step may post it; the
 * change itself is allowed by the directory only while the user is still
 * the one whose password was checked, and the mark is still set.
 *
 * Thread-safety: re-entrant.
 */
#ifndef AF_WEB_PWCHANGE_H
#define AF_WEB_PWCHANGE_H

#include <jansson.h>

#include "http/request.h"
#include "server.h"
#include "session/session.h"

/* Wrong tries of the form one sign-in may make before it ends. */
#define AF_PWCHANGE_TRIES_MAX 10

/* 1 when the user (a directory record; may be NULL) must choose one. */
int af_pwchange_needed(const json_t *user);

/*
 * Keeps s (who signed in, and how), device (the phone of the second
 * factor, or NULL) and detail (the words of the sign-in's log event) in
 * the flow, and sends the browser to the form (303); or the
 * flow-expired or service-unavailable page.
 */
void af_pwchange_begin(af_server *srv, const af_req *req, af_resp *resp,
		       const char *flow, const json_t *authz,
		       const af_session *s, const char *device,
		       const char *detail);

void af_h_password_get(af_server *srv, af_req *req, af_resp *resp);
void af_h_password_post(af_server *srv, af_req *req, af_resp *resp);

/*
 * A signed-in user's own change of their password:
 *
 *   GET  /account/password   the form: current password, new one twice
 *   POST /account/password   csrf (the session's form token), current,
 *                            password, confirm
 *
 * The current password is checked as at sign-in (the same delays and
 * lock). The change ends every other session, code and token of the user
 * (af_dir_user_gen()); this browser goes on in a new session.
 */
void af_h_account_password_get(af_server *srv, af_req *req, af_resp *resp);
void af_h_account_password_post(af_server *srv, af_req *req, af_resp *resp);

#endif /* AF_WEB_PWCHANGE_H */
