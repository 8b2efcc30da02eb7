/*
 * GET|POST /logout: RP-initiated logout (OpenID Connect RP-Initiated
 * Logout 1.0). The session ends; the browser is sent to the client's
 * post_logout_redirect_uri only when that URI is registered for the client
 * named by a valid id_token_hint (or client_id); otherwise a plain page
 * says the user is signed out.
 */
#include <stdlib.h>
#include <string.h>

#include "oidc/oidc.h"
#include "web/page.h"

static void signed_out_page(af_resp *resp, const char *note)
{
	af_buf b;

	af_buf_init(&b, 16384);
	af_page_begin(&b, resp, "Signed out");
	af_buf_puts(&b, "<h1>You are signed out</h1><p class=\"msg info\">"
			"You have been signed out of the sign-in service.</p>");
	if (note != NULL) {
		af_buf_puts(&b, "<p>");
		af_buf_html(&b, note);
		af_buf_puts(&b, "</p>");
	}
	af_page_end(&b, resp);
	af_page_send(resp, 200, &b);
}

static int post_logout_ok(const json_t *app, const char *uri)
{
	const json_t *uris = json_object_get(app, "post_logout_uris"), *u;
	size_t i;

	json_array_foreach(uris, i, u)
	{
		if (json_is_string(u) && strcmp(json_string_value(u), uri) == 0)
			return 1;
	}
	return 0;
}

/* The client named by the hint's aud (or azp); NULL when none. */
static const char *hint_client(const json_t *claims)
{
	const json_t *aud = json_object_get(claims, "aud");

	if (json_is_string(aud))
		return json_string_value(aud);
	if (json_is_array(aud) && json_array_size(aud) == 1)
		return json_string_value(json_array_get(aud, 0));
	return json_string_value(json_object_get(claims, "azp"));
}

void af_h_logout(af_server *srv, af_req *req, af_resp *resp)
{
	const char *hint = af_req_param(req, "id_token_hint");
	const char *uri = af_req_param(req, "post_logout_redirect_uri");
	const char *state = af_req_param(req, "state");
	const char *client_id = af_req_param(req, "client_id");
	json_t *claims = NULL, *app = NULL;
	const char *hc = NULL;
	af_buf b;
	char *url;

	if (hint != NULL) {
		if (af_jwt_verify(srv->keys, hint, strlen(hint), &claims) !=
			    JOSE_OK ||
		    !json_is_string(json_object_get(claims, "iss")) ||
		    strcmp(json_string_value(json_object_get(claims, "iss")),
			   srv->cfg.issuer) != 0) {
			af_session_end_current(srv, req, resp);
			signed_out_page(resp, "The application's sign-out "
					      "request could not be verified, "
					      "so you were not sent back to "
					      "it.");
			goto out;
		}
		hc = hint_client(claims);
	}
	if (hc != NULL && client_id != NULL && strcmp(hc, client_id) != 0)
		hc = NULL;
	if (hc == NULL && hint == NULL)
		hc = client_id;
	af_session_end_current(srv, req, resp);
	log_info(srv->log, req->rid, "logout", "client=%s",
		 hc != NULL ? hc : "-");
	if (uri == NULL || hc == NULL ||
	    af_dir_app_get(srv->dir, hc, &app) != AF_DIR_OK ||
	    !post_logout_ok(app, uri)) {
		signed_out_page(resp, uri != NULL
					      ? "The address to return to is "
						"not registered, so you stay "
						"here."
					      : NULL);
		goto out;
	}
	af_buf_init(&b, 8192);
	af_buf_puts(&b, uri);
	if (state != NULL) {
		af_buf_puts(&b,
			    strchr(uri, '?') != NULL ? "&state=" : "?state=");
		af_buf_urlenc(&b, state);
	}
	url = af_buf_take(&b, NULL);
	if (url == NULL) {
		signed_out_page(resp, NULL);
		goto out;
	}
	af_resp_redirect(resp, 302, url);
	free(url);
out:
	json_decref(claims);
	json_decref(app);
}
