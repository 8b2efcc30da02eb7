/*
 * GET|POST /userinfo (OpenID Connect Core 5.3) with a bearer access token
 * in the Authorization header, or in a form body (RFC 6750 2.2); and
 * whether a token's grant still stands, which /introspect asks too.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "oidc/grant.h"
#include "oidc/oidc.h"

int af_oidc_grant_standing(af_server *srv, const json_t *grant, json_t **user,
			   json_t **app, const char **why)
{
	af_dir_status st;
	int sso;

	*user = NULL;
	*app = NULL;
	*why = NULL;
	st = af_dir_user_get_by_sub(
		srv->dir, json_string_value(json_object_get(grant, "sub")),
		user);
	if (st == AF_DIR_STORE)
		return -1;
	sso = st == AF_DIR_OK ? af_login_sso_on(srv, *user, NULL) : 0;
	if (sso < 0)
		return -1;
	if (st != AF_DIR_OK ||
	    !json_is_true(json_object_get(*user, "enabled")) || sso == 0)
		*why = "the user is no longer active";
	else if (!af_grant_gen_current(grant, *user))
		*why = "the user's sign-ins were ended";
	if (*why != NULL)
		return 1;
	/*
	 * The token is only as good as the app's right to it: an app that
	 * was removed, disabled or taken from the user stands no more.
	 */
	st = af_dir_app_get(
		srv->dir,
		json_string_value(json_object_get(grant, "client_id")), app);
	if (st == AF_DIR_STORE)
		return -1;
	if (st != AF_DIR_OK ||
	    !json_is_true(json_object_get(*app, "enabled")) ||
	    !af_dir_app_deployed_to(*app, *user)) {
		*why = "the application is no longer allowed";
		return 1;
	}
	return 0;
}

void af_h_userinfo(af_server *srv, af_req *req, af_resp *resp)
{
	const char *header = af_req_header(req, "Authorization");
	const char *form_token = af_oidc_param(req, "access_token");
	char token[JOSE_JWT_MAX + 1];
	json_t *grant = NULL, *user = NULL, *app = NULL, *claims;
	const char *scope, *why = NULL;
	hp_status hs = HP_OK;
	int rc;

	token[0] = '\0';
	/*
	 * Credentials of another scheme hold no bearer token: the request is
	 * answered as one without any (RFC 6750 3.1), unless it has a token
	 * in its form body.
	 */
	if (header != NULL && !hp_auth_scheme_is(header, "bearer") &&
	    af_req_header_count(req, "Authorization") == 1)
		header = NULL;
	if (header != NULL)
		hs = hp_auth_bearer(header, token, sizeof(token));
	else if (form_token != NULL && strlen(form_token) >= sizeof(token))
		hs = HP_ERR_TOO_BIG;
	/*
	 * RFC 6750 3.1: a malformed request is 400 invalid_request; a request
	 * without any token gets the bare challenge, with no error code. Two
	 * Authorization headers are malformed (RFC 9110 11.6.2): a proxy in
	 * front may have read the other. A token longer than any this server
	 * issues is well formed as far as can be told, and invalid.
	 */
	if (af_req_header_count(req, "Authorization") > 1 ||
	    (header != NULL && form_token != NULL) ||
	    (hs != HP_OK && hs != HP_ERR_TOO_BIG) ||
	    (header == NULL && form_token != NULL && req->form == NULL)) {
		af_resp_header_set(
			resp, "WWW-Authenticate",
			"Bearer realm=\"authflow\", error=\"invalid_request\"");
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "send one well-formed bearer token, in the "
				    "Authorization header or the form body");
		goto out;
	}
	if (hs == HP_ERR_TOO_BIG) {
		af_resp_oauth_error(resp, 401, "invalid_token",
				    "the access token is invalid or expired");
		goto out;
	}
	if (header == NULL && form_token == NULL) {
		af_resp_header_set(resp, "WWW-Authenticate",
				   "Bearer realm=\"authflow\"");
		af_resp_text(resp, 401, "text/plain; charset=utf-8",
			     "an access token is required\n");
		goto out;
	}
	if (header == NULL)
		memcpy(token, form_token, strlen(form_token) + 1);
	rc = af_grant_lookup(srv, AF_GRANT_ACCESS, token, &grant);
	if (rc < 0) {
		/* The store did not answer: the token may well be good. */
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "try again");
		goto out;
	}
	if (rc != 0) {
		af_resp_oauth_error(resp, 401, "invalid_token",
				    "the access token is invalid or expired");
		goto out;
	}
	rc = af_oidc_grant_standing(srv, grant, &user, &app, &why);
	if (rc < 0) {
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "try again");
		goto out;
	}
	if (rc != 0) {
		af_resp_oauth_error(resp, 401, "invalid_token", why);
		goto out;
	}
	scope = json_string_value(json_object_get(grant, "scope"));
	claims = af_oidc_user_claims(user, app, scope != NULL ? scope : "");
	af_resp_json(resp, 200, claims);
out:
	OPENSSL_cleanse(token, sizeof(token));
	json_decref(grant);
	json_decref(user);
	json_decref(app);
}
