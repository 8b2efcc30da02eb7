/*
 * Fuzz target: the authorization endpoint (GET and POST /authorize), past
 * the parameter parser. The input is a flags byte (bit 0: the browser
 * brings alice's live SSO session cookie; bit 1: the parameters come as
 * a POSTed form rather than a query), then the parameters. In them these
 * stand for what a fuzzer cannot guess:
 *
 *   $I  client 1's id (redirect URIs $U and $W, deployed to all)
 *   $J  client 2's id (redirect URI $X, deployed to nobody)
 *   $U  https://crm.example.com/cb    $W  http://127.0.0.1:9000/cb
 *   $X  https://wiki.example.com/cb
 *   $H  an id_token of ours for alice, as an id_token_hint
 *   $N  an id_token of ours for bob
 *
 * Nothing may crash or leak, and the answer never sends the browser
 * anywhere it should not: a redirect (Location) goes to one of this
 * server's own pages, or to a redirect URI registered for the client the
 * request names, and only when the request names exactly one; a page
 * that posts its answer (response_mode form_post) posts it to such a URI
 * only. A request with an unknown client or an unregistered redirect URI
 * gets a page of this server and nothing else.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/jose.h"
#include "common/util.h"
#include "directory/directory.h"
#include "fuzz_world.h"
#include "oidc/oidc.h"
#include "session/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARAMS_MAX ((size_t)16 * 1024)
#define URI_1	   "https://crm.example.com/cb"
#define URI_2	   "http://127.0.0.1:9000/cb"
#define URI_3	   "https://wiki.example.com/cb"

struct world {
	fz_world fw;
	char c1[AF_DIR_CLIENT_ID_BUF], c2[AF_DIR_CLIENT_ID_BUF];
	char cookie[512];
	char *hint_alice, *hint_bob;
};

/* An id_token of ours for user, audience client 1. */
static char *id_token(const struct world *w, const json_t *user)
{
	int64_t now = af_now();
	json_t *claims =
		json_pack("{s:s, s:O, s:s, s:I, s:I, s:I}", "iss", FZ_ISSUER,
			  "sub", json_object_get(user, "sub"), "aud", w->c1,
			  "iat", (json_int_t)now, "exp", (json_int_t)now + 300,
			  "auth_time", (json_int_t)now);
	char *out = NULL;

	if (claims == NULL || af_jwt_sign(w->fw.srv.keys, claims,
					  AF_ID_TOKEN_TYP, &out) != JOSE_OK)
		abort();
	json_decref(claims);
	return out;
}

static void world_open(struct world *w)
{
	json_t *alice = NULL, *bob = NULL;

	memset(w, 0, sizeof(*w));
	fz_world_open(&w->fw, 1);
	fz_user(&w->fw, "{\"username\":\"alice\"}", "correct horse battery",
		&alice);
	fz_user(&w->fw, "{\"username\":\"bob\"}", "correct horse battery",
		&bob);
	fz_policy(&w->fw, "{\"name\":\"std\",\"sso\":true,\"assigned\":"
			  "{\"users\":[\"alice\",\"bob\"]}}");
	fz_client(&w->fw,
		  "{\"name\":\"crm\",\"redirect_uris\":[\"" URI_1 "\",\"" URI_2
		  "\"],\"deployment\":{\"mode\":\"all\"}}",
		  w->c1, NULL);
	fz_client(&w->fw,
		  "{\"name\":\"wiki\",\"redirect_uris\":[\"" URI_3 "\"]}",
		  w->c2, NULL);
	w->hint_alice = id_token(w, alice);
	w->hint_bob = id_token(w, bob);
	fz_session(&w->fw, alice, w->cookie, sizeof(w->cookie), NULL);
	json_decref(alice);
	json_decref(bob);
}

static void world_close(struct world *w)
{
	free(w->hint_alice);
	free(w->hint_bob);
	fz_world_close(&w->fw);
}

/* text (len bytes) with the $X of the comment above put in, into b. */
static void expand(const struct world *w, const char *text, size_t len,
		   af_buf *b)
{
	const fz_subst subs[] = {
		{'I', w->c1},	    {'J', w->c2}, {'U', URI_1},
		{'W', URI_2},	    {'X', URI_3}, {'H', w->hint_alice},
		{'N', w->hint_bob}, {0, NULL},
	};

	fz_expand(subs, text, len, b);
}

/*
 * Where the request may send the browser: the one redirect URI it names,
 * when the client it names (once each) has it registered; else nowhere
 * off this server (NULL).
 */
static const char *allowed_target(const struct world *w, const af_req *req)
{
	const char *id, *uri;

	if (af_req_param_repeated(req, "client_id") ||
	    af_req_param_repeated(req, "redirect_uri"))
		return NULL;
	id = af_req_param(req, "client_id");
	uri = af_req_param(req, "redirect_uri");
	if (id == NULL || uri == NULL)
		return NULL;
	if (strcmp(id, w->c1) == 0 &&
	    (strcmp(uri, URI_1) == 0 || strcmp(uri, URI_2) == 0))
		return uri;
	if (strcmp(id, w->c2) == 0 && strcmp(uri, URI_3) == 0)
		return uri;
	return NULL;
}

/*
 * 1 when url is target with a query after it (or a fragment: the refusal
 * of an implicit or hybrid request), or a page of our own.
 */
static int destination_ok(const char *url, const char *target)
{
	size_t n = target != NULL ? strlen(target) : 0;

	if (fz_own_page(url))
		return 1;
	if (strncmp(url, FZ_ISSUER "/", strlen(FZ_ISSUER) + 1) == 0)
		return 1;
	return target != NULL && strncmp(url, target, n) == 0 &&
	       (url[n] == '?' || url[n] == '#');
}

static void check_answer(const struct world *w, const af_req *req,
			 const af_resp *resp)
{
	const char *target = allowed_target(w, req);
	size_t i;

	if (resp->status != 200 && resp->status != 302 && resp->status != 303 &&
	    resp->status != 400 && resp->status != 503)
		abort();
	for (i = 0; i < resp->nheaders; i++) {
		if (strcasecmp(resp->headers[i].name, "Location") == 0 &&
		    !destination_ok(resp->headers[i].value, target))
			abort();
	}
	/*
	 * Every form of the page posts to a page of ours or (form_post) to
	 * the named, registered URI only.
	 */
	fz_forms_post_to(resp, target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *headers[3] = {NULL};
	struct world w;
	af_resp resp;
	af_req req;
	af_buf b;

	if (size == 0)
		return 0;
	world_open(&w);
	if (data[0] & 0x01) {
		headers[0] = "Cookie";
		headers[1] = w.cookie;
	}
	memset(&req, 0, sizeof(req));
	af_buf_init(&b, PARAMS_MAX);
	expand(&w, (const char *)data + 1, size - 1, &b);
	if (!b.failed &&
	    fz_request(&req, data[0] & 0x02 ? "POST" : "GET", "/authorize",
		       b.data != NULL ? b.data : "", b.len, headers) == 0) {
		af_resp_init(&resp, 0);
		af_h_authorize(&w.fw.srv, &req, &resp);
		check_answer(&w, &req, &resp);
		af_resp_cleanup(&resp);
	}
	fz_request_free(&req);
	af_buf_cleanup(&b);
	world_close(&w);
	return 0;
}
