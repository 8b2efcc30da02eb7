/*
 * The form token of a browser session, the CSRF token of the forms a
 * signed-in user posts (/enroll, /account/password): a random token the
 * store keeps for the session (under its public id), which a form posts
 * back and which is compared in constant time. Another site can send a
 * signed-in browser to such a page (the session cookie goes along on a
 * top-level navigation), but it cannot read the token, so it cannot make
 * the browser post one. Each showing of a form keeps the token another
 * AF_FORM_TOKEN_TTL_MS; a new sign-in makes a new session id, and so
 * needs a new token.
 *
 * Thread-safety: re-entrant.
 */
#ifndef AF_SESSION_FORMTOKEN_H
#define AF_SESSION_FORMTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "http/request.h"
#include "server.h"
#include "session/session.h"

#define AF_FORM_TOKEN_BYTES  32 /* 256 random bits */
#define AF_FORM_TOKEN_BUF    64 /* its base64url text and NUL */
#define AF_FORM_TOKEN_TTL_MS ((uint64_t)10 * 60 * 1000)

/*
 * The form token of session s into token (AF_FORM_TOKEN_BUF bytes): the
 * one it has, kept another AF_FORM_TOKEN_TTL_MS, or a new one. 0, or -1
 * when the store or the RNG failed.
 */
int af_form_token(af_server *srv, const af_session *s, char *token, size_t cap);

/*
 * Whether the request's form posts session s's token (field "csrf", once):
 * 1 yes, 0 no, -1 when the store failed.
 */
int af_form_token_ok(af_server *srv, const af_req *req, const af_session *s);

#endif /* AF_SESSION_FORMTOKEN_H */
