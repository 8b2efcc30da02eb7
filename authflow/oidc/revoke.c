/*
 * POST /revoke (RFC 7009): revokes an access or refresh token of the
 * authenticated client; a refresh token takes the access tokens issued
 * with it along (RFC 7009 2.1), and a rotated-out refresh token its
 * family, as at the token endpoint. Unknown tokens and tokens of other
 * clients get the same 200 answer, so the endpoint tells nothing about
 * them.
 */
#include <string.h>

#include "oidc/grant.h"
#include "oidc/oidc.h"

/* 1 when tok is a token of kind (of any client), else 0. */
static int revoke_kind(af_server *srv, af_grant_kind kind, const char *tok,
		       const char *client_id)
{
	json_t *grant = NULL;
	int rc = af_grant_lookup(srv, kind, tok, &grant);

	if (rc != 0)
		return rc < 0;
	if (json_is_string(json_object_get(grant, "client_id")) &&
	    strcmp(json_string_value(json_object_get(grant, "client_id")),
		   client_id) == 0 &&
	    af_grant_revoke(srv, kind, tok) != 0)
		log_warn(srv->log, NULL, "revoke", "could not revoke a token");
	json_decref(grant);
	return 1;
}

void af_h_revoke(af_server *srv, af_req *req, af_resp *resp)
{
	char client_id[AF_DIR_CLIENT_ID_BUF + 64];
	const char *tok = NULL;
	const char *hint = af_oidc_param(req, "token_type_hint");
	int found;

	if (af_oidc_token_call(srv, req, resp, client_id, sizeof(client_id),
			       &tok) != 0)
		return;
	if (hint != NULL && strcmp(hint, "refresh_token") == 0)
		found = revoke_kind(srv, AF_GRANT_REFRESH, tok, client_id) ||
			revoke_kind(srv, AF_GRANT_ACCESS, tok, client_id);
	else
		found = revoke_kind(srv, AF_GRANT_ACCESS, tok, client_id) ||
			revoke_kind(srv, AF_GRANT_REFRESH, tok, client_id);
	/* A refresh token rotated out, or in the middle of its rotation. */
	if (!found)
		af_grant_revoke_family(srv, tok, client_id);
	log_info(srv->log, req->rid, "revoke", "client=%s", client_id);
	af_resp_json(resp, 200, json_object());
}
