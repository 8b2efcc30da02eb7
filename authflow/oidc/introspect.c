/*
 * POST /introspect (RFC 7662): whether an access or refresh token is
 * active, asked by the client it was issued to, which authenticates as at
 * the token endpoint (and is slowed down the same way when it guesses).
 * A token of another client, unknown, expired, revoked, or whose grant no
 * longer stands (the user disabled or signed out everywhere, the
 * application taken from them: what /userinfo checks) is {"active":
 * false}, the one answer whatever the reason, so that the endpoint tells
 * a client nothing of tokens not its own. An active one says what the
 * client needs to serve it: scope, client_id, username, sub, aud, iss,
 * exp (and iat and token_type "Bearer" for an access token).
 */
#include <string.h>

#include "oidc/grant.h"
#include "oidc/oidc.h"

/*
 * Looks tok up as a token of kind issued to client_id: 0 with *grant (new
 * reference), 1 when it is no such token (or another client's), -1 when
 * the store failed.
 */
static int own_token(af_server *srv, af_grant_kind kind, const char *tok,
		     const char *client_id, json_t **grant)
{
	const char *owner;
	int rc = af_grant_lookup(srv, kind, tok, grant);

	if (rc != 0)
		return rc;
	owner = json_string_value(json_object_get(*grant, "client_id"));
	if (owner != NULL && strcmp(owner, client_id) == 0)
		return 0;
	json_decref(*grant);
	*grant = NULL;
	return 1;
}

/* The answer about an active token of kind, from its grant and user. */
static json_t *active(af_server *srv, af_grant_kind kind, const json_t *grant,
		      const json_t *user)
{
	json_t *o = json_pack(
		"{s:b, s:O?, s:O?, s:O?, s:O?, s:O?, s:s}", "active", 1,
		"scope", json_object_get(grant, "scope"), "client_id",
		json_object_get(grant, "client_id"), "username",
		json_object_get(user, "username"), "sub",
		json_object_get(grant, "sub"), "aud",
		json_object_get(grant, "client_id"), "iss", srv->cfg.issuer);
	json_int_t exp;

	if (o == NULL)
		return NULL;
	if (kind == AF_GRANT_ACCESS) {
		exp = json_integer_value(json_object_get(grant, "exp"));
		(void)json_object_set_new(o, "token_type",
					  json_string("Bearer"));
		/* A record from before exp was kept says nothing of it. */
		if (exp > 0) {
			(void)json_object_set_new(o, "exp", json_integer(exp));
			(void)json_object_set_new(
				o, "iat", json_integer(exp - AF_ACCESS_TTL_S));
		}
	} else {
		exp = json_integer_value(json_object_get(grant, "rt_exp"));
		if (exp > 0)
			(void)json_object_set_new(o, "exp", json_integer(exp));
	}
	return o;
}

void af_h_introspect(af_server *srv, af_req *req, af_resp *resp)
{
	char client_id[AF_DIR_CLIENT_ID_BUF + 64];
	const char *tok = NULL;
	const char *hint = af_oidc_param(req, "token_type_hint");
	af_grant_kind first = AF_GRANT_ACCESS, second = AF_GRANT_REFRESH;
	af_grant_kind kind;
	json_t *grant = NULL, *user = NULL, *app = NULL, *answer = NULL;
	const char *why = NULL;
	int rc;

	if (af_oidc_token_call(srv, req, resp, client_id, sizeof(client_id),
			       &tok) != 0)
		return;
	/* A hint only orders the look-ups (RFC 7662 2.1). */
	if (hint != NULL && strcmp(hint, "refresh_token") == 0) {
		first = AF_GRANT_REFRESH;
		second = AF_GRANT_ACCESS;
	}
	kind = first;
	rc = own_token(srv, kind, tok, client_id, &grant);
	if (rc == 1) {
		kind = second;
		rc = own_token(srv, kind, tok, client_id, &grant);
	}
	if (rc == 0)
		rc = af_oidc_grant_standing(srv, grant, &user, &app, &why);
	if (rc < 0) {
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "try again");
		goto out;
	}
	answer = rc == 0 ? active(srv, kind, grant, user)
			 : json_pack("{s:b}", "active", 0);
	if (answer == NULL) {
		af_resp_oauth_error(resp, 500, "server_error", "out of memory");
		goto out;
	}
	log_info(srv->log, req->rid, "introspect", "client=%s active=%s%s%s",
		 client_id, rc == 0 ? "true" : "false",
		 why != NULL ? " why=" : "", why != NULL ? why : "");
	af_resp_json(resp, 200, answer);
out:
	json_decref(grant);
	json_decref(user);
	json_decref(app);
}
