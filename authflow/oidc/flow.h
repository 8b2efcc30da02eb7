/*
 * A sign-in flow: the validated authorization request, kept in the store
 * ("flow:<id>", 10 minutes) while the user signs in. The browser carries
 * the flow id in the login form, together with a CSRF token that must
 * match the flow's, and a binding cookie whose SHA-256 the flow holds, so
 * that a login form posted from another browser (login CSRF) is refused.
 *
 * Thread-safety: re-entrant.
 */
#ifndef AF_OIDC_FLOW_H
#define AF_OIDC_FLOW_H

#include <jansson.h>

#include "http/request.h"
#include "server.h"

#define AF_FLOW_TTL_S	     600
/*
 * The share of the memory store's cap (percent) that the sign-ins one
 * address began may take up, whatever limits.flows_per_ip allows.
 */
#define AF_FLOW_IP_SHARE_PCT 5
#define AF_FLOW_ID_MAX	     64
#define AF_FLOW_COOKIE	     "af_flow"
/*
 * The user name typed in a sign-in form whose flow was gone, carried by
 * the restart to /authorize (and taken there) in this session cookie
 * rather than the URL: a password typed in the name field would otherwise
 * reach the browser's history and the proxies' logs.
 */
#define AF_TYPED_COOKIE	     "af_typed"
/*
 * The member of a flow started again that holds that name; never part of
 * the request a later restart carries (af_authorize_restart_query()).
 */
#define AF_FLOW_TYPED_USER   "typed_user"
/*
 * The member of a flow sent back to its password step after the second
 * step ended (denied, too many codes, ...): the user name the password
 * was checked for, which the form then shows filled in, as it does while
 * the flow is still at the second step ("mfa": {"user"}).
 */
#define AF_FLOW_AGAIN_USER   "again_user"

/*
 * The member of a flow whose request came with an id_token_hint: the
 * hint's subject, the only user the sign-in may end with a code for
 * (OpenID Connect Core 3.1.2.1). A restart carries it as the parameter of
 * the same name, which can only narrow who may sign in.
 */
#define AF_FLOW_HINT_SUB "hint_sub"

/*
 * Counts a sign-in begun from the request's address (an IPv6 address by
 * its /64, what one host is usually given), a new flow's or a code issued
 * at once on a session's: 0 while within limits.flows_per_ip in a flow's
 * lifetime, 1 past it, -1 on store failure. Flows and codes are stored
 * before (or without) a sign-in, so that this is what bounds the store
 * one address can fill. With the memory store, the bytes of the flows an
 * address began in that time are capped too (af_server's
 * flow_bytes_per_ip): a new flow past them is refused as well.
 */
int af_flow_over_limit(af_server *srv, const af_req *req);

/*
 * Stores req (borrowed: client_id, redirect_uri, state, nonce, scope,
 * code_challenge, response_mode, max_age, ...) as a new flow; writes the
 * id into id (AF_FLOW_ID_MAX + 1) and sets the binding cookie on resp (a
 * session cookie). The oldest binding cookies req carries beyond
 * the newest few are cleared (sign-ins never finished). 0, 1 when the
 * request's address is past its limits (af_flow_over_limit(); nothing
 * stored), or -1 on RNG or store failure.
 */
int af_flow_begin(af_server *srv, const af_req *req, json_t *authz,
		  af_resp *resp, char *id, size_t idcap);

/*
 * Loads the flow id for a form post: 0 and *authz (new reference) when it
 * exists, the request's binding cookie matches, and csrf (may be NULL to
 * skip) equals the flow's CSRF token; -2 when the store failed; -1
 * otherwise.
 */
int af_flow_load(af_server *srv, const af_req *req, const char *id,
		 const char *csrf, json_t **authz);

/*
 * af_flow_load() for a post of the password form: also takes the binding
 * from before a password step of the flow less than a few seconds ago,
 * as af_flow_rebind() turned it (the same form sent twice, the first
 * answer dropped by the browser); the password is checked again anyway.
 */
int af_flow_load_password_step(af_server *srv, const af_req *req,
			       const char *id, const char *csrf,
			       json_t **authz);

/*
 * Binds the flow id anew once the password of user (the directory's user
 * name) is right, as a session is given a new id when its privilege
 * changes: a copy of the binding cookie taken or planted before the
 * password (session fixation) does not reach the second step, the
 * number, or the code. The new cookie is derived from the one presented
 * and a secret the flow keeps on the server, so two posts of one form
 * give the same; the flow notes user, and a second post goes on only
 * with that user's password. *authz (the flow as loaded, replaced by what
 * is stored now) gets the new binding; the cookie goes on resp. 0, 1 when
 * the flow changed otherwise meanwhile (or was rebound for another
 * user), -1 on store or crypto failure.
 */
int af_flow_rebind(af_server *srv, const af_req *req, af_resp *resp,
		   const char *id, const char *user, json_t **authz);

/*
 * Replaces the stored flow with now only if it still holds was, as
 * af_flow_load() gave it (its TTL kept): of password steps that race on
 * one flow (a double-clicked button) exactly one replaces it. 0 replaced,
 * 1 the flow changed or ended meanwhile, -1 store failure.
 */
int af_flow_replace(af_server *srv, const char *id, const json_t *was,
		    const json_t *now);

/*
 * Claims the one ending of a flow, before its session and code are made:
 * its record is taken from the store (GETDEL), so it cannot be used
 * again, and its binding cookie goes from the browser with resp. Of
 * requests that race to end one flow (two password posts, the MFA page,
 * poll and code form) exactly one gets 0; the others -1 with the
 * flow-expired page in resp, or the service-unavailable page when the
 * store failed.
 */
int af_flow_claim_page(af_server *srv, const char *id, af_resp *resp);

/*
 * Puts back a flow claimed by af_flow_claim_page() whose sign-in could not
 * be stored after all (the store refused the session), with its binding
 * cookie (the request's), so that the page's retry finishes the sign-in
 * as the unavailable page promises: authz as it was loaded, for what is
 * left of its lifetime, unless another request made the id anew. 0 when
 * it is back; -1 when it is not (its lifetime over, or the store refused
 * this too): the sign-in must then start again.
 */
int af_flow_unclaim(af_server *srv, const af_req *req, af_resp *resp,
		    const char *id, const json_t *authz);

#endif /* AF_OIDC_FLOW_H */
