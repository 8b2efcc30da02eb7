/*
 * The signed-in user's own view of where they are signed in:
 *
 *   GET  /account/sessions   the browsers signed in as the user (what
 *                            each is, its address, when it signed in and
 *                            was last used; this one marked)
 *   POST /account/sessions   csrf: signs the other browsers out; what
 *                            they signed into lives on, as after their
 *                            own sign-out
 *
 * Someone who finds a browser they do not know there signs it out here,
 * then changes their password (/account/password), which ends what it
 * signed into as well.
 *
 * Thread-safety: handlers are re-entrant.
 */
#ifndef AF_WEB_ACCOUNT_H
#define AF_WEB_ACCOUNT_H

#include "http/request.h"
#include "server.h"

void af_h_account_sessions_get(af_server *srv, af_req *req, af_resp *resp);
void af_h_account_sessions_post(af_server *srv, af_req *req, af_resp *resp);

#endif /* AF_WEB_ACCOUNT_H */
