/*
 * GET /.well-known/openid-configuration (OpenID Connect Discovery 1.0)
 * and GET /jwks: public, cacheable for a short while.
 */
#include <stdio.h>

#include "oidc/oidc.h"

static json_t *endpoint(const af_server *srv, const char *path)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", srv->cfg.issuer, path);
	return json_string(url);
}

static json_t *strings(const char *const *list)
{
	json_t *a = json_array();

	for (; a != NULL && *list != NULL; list++)
		json_array_append_new(a, json_string(*list));
	return a;
}

void af_h_discovery(af_server *srv, af_req *req, af_resp *resp)
{
	static const char *const response_types[] = {"code", NULL};
	static const char *const response_modes[] = {"query", "form_post",
						     NULL};
	static const char *const grant_types[] = {"authorization_code",
						  "refresh_token", NULL};
	static const char *const subject_types[] = {"public", NULL};
	static const char *const algs[] = {"RS256", NULL};
	static const char *const auth_methods[] = {"client_secret_basic",
						   "client_secret_post", NULL};
	static const char *const pkce[] = {"S256", NULL};
	static const char *const claims[] = {"iss",
					     "sub",
					     "aud",
					     "exp",
					     "iat",
					     "auth_time",
					     "nonce",
					     "amr",
					     "acr",
					     "sid",
					     "azp",
					     "at_hash",
					     "name",
					     "given_name",
					     "family_name",
					     "preferred_username",
					     "updated_at",
					     "email",
					     "email_verified",
					     "groups",
					     NULL};
	static const char *const prompts[] = {"none", "login", "consent",
					      "select_account", NULL};
	json_t *o;

	(void)req;
	o = json_object();
	if (o == NULL) {
		af_resp_json(resp, 500, NULL);
		return;
	}
	json_object_set_new(o, "issuer", json_string(srv->cfg.issuer));
	json_object_set_new(o, "authorization_endpoint",
			    endpoint(srv, "/authorize"));
	json_object_set_new(o, "token_endpoint", endpoint(srv, "/token"));
	json_object_set_new(o, "userinfo_endpoint", endpoint(srv, "/userinfo"));
	json_object_set_new(o, "jwks_uri", endpoint(srv, "/jwks"));
	json_object_set_new(o, "end_session_endpoint",
			    endpoint(srv, "/logout"));
	/* Back-Channel Logout 1.0: a logout token, with the session's sid. */
	json_object_set_new(o, "backchannel_logout_supported", json_true());
	json_object_set_new(o, "backchannel_logout_session_supported",
			    json_true());
	json_object_set_new(o, "revocation_endpoint", endpoint(srv, "/revoke"));
	json_object_set_new(o, "introspection_endpoint",
			    endpoint(srv, "/introspect"));
	json_object_set_new(o, "response_types_supported",
			    strings(response_types));
	json_object_set_new(o, "response_modes_supported",
			    strings(response_modes));
	json_object_set_new(o, "grant_types_supported", strings(grant_types));
	json_object_set_new(o, "subject_types_supported",
			    strings(subject_types));
	json_object_set_new(o, "id_token_signing_alg_values_supported",
			    strings(algs));
	json_object_set_new(o, "scopes_supported", strings(af_oidc_scopes));
	json_object_set_new(o, "token_endpoint_auth_methods_supported",
			    strings(auth_methods));
	json_object_set_new(o, "revocation_endpoint_auth_methods_supported",
			    strings(auth_methods));
	json_object_set_new(o, "introspection_endpoint_auth_methods_supported",
			    strings(auth_methods));
	json_object_set_new(o, "claims_supported", strings(claims));
	json_object_set_new(o, "code_challenge_methods_supported",
			    strings(pkce));
	json_object_set_new(o, "prompt_values_supported", strings(prompts));
	json_object_set_new(o, "authorization_response_iss_parameter_supported",
			    json_true());
	json_object_set_new(o, "request_parameter_supported", json_false());
	json_object_set_new(o, "request_uri_parameter_supported", json_false());
	json_object_set_new(o, "claims_parameter_supported", json_false());
	/* The acr an id_token may carry: the password alone, or with MFA. */
	json_object_set_new(o, "acr_values_supported",
			    json_pack("[s, s]", AF_ACR_PWD, AF_ACR_MFA));
	af_resp_header_set(resp, "Cache-Control",
			   "public, max-age=" JOSE_JWKS_MAX_AGE_TEXT);
	af_resp_json(resp, 200, o);
}

void af_h_jwks(af_server *srv, af_req *req, af_resp *resp)
{
	(void)req;
	/* Short caching: a rotated key must reach relying parties soon. */
	af_resp_header_set(resp, "Cache-Control",
			   "public, max-age=" JOSE_JWKS_MAX_AGE_TEXT);
	af_resp_json(resp, 200, af_keyring_jwks(srv->keys));
	if (resp->status == 200)
		snprintf(resp->content_type, sizeof(resp->content_type), "%s",
			 "application/jwk-set+json");
}
