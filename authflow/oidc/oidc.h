/*
 * The OpenID Connect endpoints, one file per endpoint or step, and the
 * pieces they share. Handlers always leave a complete response in resp.
 *
 * Thread-safety: handlers are re-entrant and run on MHD worker threads.
 */
#ifndef AF_OIDC_H
#define AF_OIDC_H

#include <jansson.h>

#include "http/request.h"
#include "server.h"
#include "session/session.h"

/* Caps on authorization request parameters. */
#define AF_STATE_MAX	  2048
#define AF_NONCE_MAX	  512
#define AF_SCOPE_MAX	  1024
#define AF_ACR_VALUES_MAX 1024
#define AF_PROMPT_MAX	  64
/* A refused state longer than this is not sent back (see authorize.c). */
#define AF_STATE_ECHO_MAX 4096

#define AF_ACR_PWD "urn:authflow:acr:pwd"
#define AF_ACR_MFA "urn:authflow:acr:mfa"

void af_h_discovery(af_server *srv, af_req *req, af_resp *resp);
void af_h_jwks(af_server *srv, af_req *req, af_resp *resp);
void af_h_authorize(af_server *srv, af_req *req, af_resp *resp);
void af_h_login_get(af_server *srv, af_req *req, af_resp *resp);

/*
 * Answers with the sign-in form of the flow (authz borrowed): the page
 * GET /login shows, and /authorize at once for a flow it has just begun,
 * which saves the browser a round trip on every sign-in.
 */
void af_login_form(af_server *srv, af_resp *resp, const char *flow,
		   const json_t *authz);

/*
 * The longest "restart" field the sign-in form carries or accepts: what
 * leaves room, in the request target the server reads (AF_REQ_URI_MAX),
 * for "/authorize?" and a login_hint.
 */
#define AF_RESTART_MAX 7168

/*
 * The authorization request of a flow (its record), as the query of a GET
 * /authorize that starts the sign-in again, without the leading '?': what
 * the flow keeps of the request, and restarted=1. The sign-in form carries
 * it ("restart"), so that a form posted after its flow is gone starts
 * over instead of ending at an error page. The new sign-in asks for the
 * password whatever session the browser has (prompt has "login"): the
 * request's id_token_hint, which named the user a session had to be, is
 * not kept.
 * NULL when it would pass AF_RESTART_MAX or memory runs out; free() it.
 */
char *af_authorize_restart_query(const json_t *authz);

/*
 * Appends "prompt=" and prompt (NULL: none) with "login" added when it
 * lacks it, URL-encoded, to b: a request that is never answered by a
 * session, since one that did not fit it before (another user's, or
 * none) may fit it now that its id_token_hint is gone.
 */
void af_authorize_prompt_login(af_buf *b, const char *prompt);
void af_h_login_post(af_server *srv, af_req *req, af_resp *resp);
/*
 * The sign-in form's POST up to the password check, on the HTTP thread:
 * answers what needs no check (an expired form, a throttled or locked
 * sign-in), or says to queue af_h_login_post(), a known browser's first.
 */
af_early af_h_login_post_early(af_server *srv, af_req *req, af_resp *resp);

/*
 * 1 when the user (a directory record) is in a policy with single sign-on
 * on and the sso feature is on, 0 when not, -1 when the store failed.
 * *policy (NULL: not wanted) gets the user's policy, if any. Sign-in, the
 * token endpoint and /userinfo ask it, so that taking a user out of single
 * sign-on stops their refresh and access tokens too.
 */
int af_login_sso_on(af_server *srv, const json_t *user, json_t **policy);

/*
 * Whether the user (a directory record; NULL when gone) may finish the
 * flow's sign-in: enabled, in a policy with single sign-on on, and the flow's
 * app deployed to them. Checked after the password and again when a second step
 * ends, since an administrator may have changed any of it meanwhile. 0 with the
 * policy and the app (new references), -1 with the refusal page in resp, or
 * -2 with the service-unavailable page when the store failed (no answer).
 */
int af_login_allowed(af_server *srv, const af_req *req, af_resp *resp,
		     const char *flow, const json_t *authz, const json_t *user,
		     json_t **policy, json_t **app);

/*
 * A failed check of a secret (a password, a token code) that could not
 * be counted, the store having refused the write: for a while no secret
 * is checked at all, so that a guesser gets no uncounted tries.
 * af_login_uncounted_pause() starts that while and logs it (step names
 * the check); af_login_uncounted() is 1 during it.
 */
void af_login_uncounted_pause(af_server *srv, const af_req *req,
			      const char *step);
int af_login_uncounted(af_server *srv);

/* The longest detail af_login_finish() takes for its log event. */
#define AF_LOGIN_DETAIL_MAX 128

/*
 * Ends a sign-in whose every step passed, for the user (the directory
 * record as it is now) and s (username, sub, auth_time, gen, amr and acr
 * filled in; consumed), device the id of the phone of its second factor
 * (NULL: none). When the user's password is temporary, the page to
 * choose a new one comes first (web/pwchange.h), which ends the sign-in
 * here in turn. Else the flow is claimed, a fresh session made, the
 * browser remembered as the user's, the event "ok" logged with detail
 * (NULL or up to AF_LOGIN_DETAIL_MAX bytes, such as "factor=push") and
 * known_browser=1 when known (the browser's id, or empty) is set, and the
 * code sent to the client.
 */
void af_login_finish(af_server *srv, af_req *req, af_resp *resp,
		     const char *flow, const json_t *authz, const json_t *user,
		     af_session *s, const char *device, const char *known,
		     const char *detail);
void af_h_token(af_server *srv, af_req *req, af_resp *resp);
void af_h_userinfo(af_server *srv, af_req *req, af_resp *resp);
void af_h_logout(af_server *srv, af_req *req, af_resp *resp);
void af_h_revoke(af_server *srv, af_req *req, af_resp *resp);
void af_h_introspect(af_server *srv, af_req *req, af_resp *resp);

/*
 * Whether grant, the record of an access or refresh token, still stands:
 * its user, found by sub (a user removed and made again under the name is
 * another), is enabled and may still be signed in to applications
 * (af_login_sso_on()), the user's sign-ins were not ended since it began
 * (af_grant_gen_current()), and its application is enabled and deployed
 * to the user. 0 with *user and *app (new references); 1 with *why, a
 * static reason in words a client's log can show; -1 when the store
 * failed. userinfo.c.
 */
int af_oidc_grant_standing(af_server *srv, const json_t *grant, json_t **user,
			   json_t **app, const char **why);

/*
 * Finishes a sign-in for the validated request authz (borrowed) and the
 * session s: stores a code and redirects the browser to the client with
 * code, state and iss, by query or form_post.
 */
void af_oidc_send_code(af_server *srv, const af_req *req, af_resp *resp,
		       const json_t *authz, const af_session *s);

/*
 * Sends the browser back to the client with an error (authz validated as
 * far as client_id and redirect_uri).
 */
void af_oidc_send_error(af_server *srv, af_resp *resp, const json_t *authz,
			const char *error, const char *desc);

/*
 * A request parameter of an OAuth endpoint, or NULL when absent or sent
 * without a value (RFC 6749 3.1: treated as if omitted). Of a parameter
 * given twice, the first value: check af_oidc_repeated() first.
 */
const char *af_oidc_param(const af_req *req, const char *name);

/*
 * 1 when one of the endpoint's parameters in names (NULL-terminated) was
 * given more than once; parameters not in names are ignored, repeated or
 * not (RFC 6749 3.1, 3.2).
 */
int af_oidc_repeated(const af_req *req, const char *const *names);

/*
 * A POST to an endpoint that needs the SSO session, sent from another
 * site: the browser leaves the session cookie (SameSite=Lax) off it, so
 * the server would not see a session the browser has. When req is a POST
 * without the cookie, not yet sent on this way (same_site=1), answers
 * with a page of this server that posts the endpoint's parameters in
 * names (the first value of each) back to action, same-site now, and
 * returns 1; else 0. dest (NULL: none) is where the endpoint will send
 * the browser on, already checked against the application's registered
 * addresses: the page's CSP lets the form's answer lead there.
 */
int af_oidc_same_site_hop(const af_req *req, af_resp *resp,
			  const char *const *names, const char *action,
			  const char *dest);

/* 1 when the space-separated list holds word. */
int af_oidc_has_word(const char *list, const char *word);

/* The scopes this provider grants (discovery's scopes_supported). */
extern const char *const af_oidc_scopes[];

/*
 * The scope granted for the space-separated scope asked for (NULL: none):
 * its words that this provider supports (the discovery document's
 * scopes_supported), each once, in the order asked, one space apart. Other
 * words are ignored, never refused (RFC 6749 3.3): relying parties ask for
 * scopes of other providers. A new JSON string, or NULL when memory ran
 * out.
 */
json_t *af_oidc_scope_granted(const char *scope);

/*
 * Authenticates the client of a token, revocation or similar request
 * (client_secret_basic or client_secret_post, not both). 0 and the client
 * id in client_id (AF_DIR_CLIENT_ID_BUF) and, when app is not NULL, its
 * profile in *app (new reference); or -1 with an RFC 6749 error already
 * in resp.
 */
int af_oidc_client_auth(af_server *srv, const af_req *req, af_resp *resp,
			char *client_id, size_t cap, json_t **app);

/*
 * What a request to /revoke or /introspect must be before its token is
 * looked at: a form body, none of token, token_type_hint, client_id and
 * client_secret twice, an authenticated client (af_oidc_client_auth())
 * and a token. 0 with the client id in client_id (cap bytes) and the
 * token in *token (the request's); or -1 with the error in resp.
 */
int af_oidc_token_call(af_server *srv, const af_req *req, af_resp *resp,
		       char *client_id, size_t cap, const char **token);

/*
 * The claims of a user released for scope (borrowed objects): sub always;
 * profile: name, preferred_username; email: email, email_verified (only
 * when the email is known good); groups: groups; then the app's mapped
 * claims. New reference.
 */
json_t *af_oidc_user_claims(const json_t *user, const json_t *app,
			    const char *scope);

#endif /* AF_OIDC_H */
