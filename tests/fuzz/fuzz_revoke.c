/*
 * Fuzz target: what a client does with the tokens it was given: GET and
 * POST /userinfo, POST /revoke, POST /introspect. Each input is up to 4
 * requests, each ended by a NUL byte: a flags byte (bits 0-1: GET
 * /userinfo, POST /userinfo, POST /revoke, POST /introspect; bit 2: an
 * Authorization header "Bearer" with client 1's access token; bits 3-4,
 * for /revoke and /introspect: client_secret_basic as client 1, as
 * client 2, or as client 1 with a wrong secret), then the form or
 * query. In it these stand for what a fuzzer cannot guess:
 *
 *   $A  client 1's access token      $R  its refresh token
 *   $D  the id_token given with them (no access token)
 *   $W  client 2's access token, a JWT (at+jwt)
 *   $I  client 1's id, $S its secret  $J  client 2's id, $T its secret
 *
 * The tokens come from real codes redeemed at /token by each client.
 * Nothing may crash or leak; every answer is JSON (or empty) with a
 * known status; /userinfo answers only to a request carrying an access
 * token; and client 1's access token stops working only by a /revoke
 * that authenticates as client 1 (the tokens' client) and names one of
 * them: another client's revocation is answered 200 and changes nothing.
 * /introspect changes nothing, and answers {"active": true} only to a
 * client about one of its own tokens.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "directory/directory.h"
#include "fuzz_world.h"
#include "oidc/grant.h"
#include "oidc/oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS_MAX 4
#define FORM_MAX  ((size_t)16 * 1024)
#define REDIRECT  "https://crm.example.com/cb"

struct world {
	fz_world fw;
	char c1[AF_DIR_CLIENT_ID_BUF], s1[AF_DIR_SECRET_BUF];
	char c2[AF_DIR_CLIENT_ID_BUF], s2[AF_DIR_SECRET_BUF];
	char access[JOSE_JWT_MAX + 1];
	char refresh[AF_TOKEN_TEXT_MAX + 1];
	char id_token[JOSE_JWT_MAX + 1];
	char jwt_access[JOSE_JWT_MAX + 1];
	char bearer[JOSE_JWT_MAX + 16];
};

/* Copies member name of answer a into out (cap bytes); aborts without. */
static void member(const json_t *a, const char *name, char *out, size_t cap)
{
	const char *v = json_string_value(json_object_get(a, name));

	if (v == NULL || strlen(v) >= cap)
		abort();
	memcpy(out, v, strlen(v) + 1);
}

/*
 * A client (id, secret) redeems a code for alice: the answer of /token
 * (new reference).
 */
static json_t *redeem_as(struct world *w, const json_t *user, const char *id,
			 const char *secret)
{
	char code[AF_TOKEN_TEXT_MAX + 1], form[512], auth[512];
	const char *headers[] = {"Authorization", auth, "Content-Type",
				 "application/x-www-form-urlencoded", NULL};
	json_t *a;
	af_resp resp;
	af_req req;

	fz_code(&w->fw, id, REDIRECT, user, NULL, code);
	fz_basic(id, secret, auth, sizeof(auth));
	snprintf(form, sizeof(form),
		 "grant_type=authorization_code&code=%s&redirect_uri=%s", code,
		 "https%3A%2F%2Fcrm.example.com%2Fcb");
	if (fz_request(&req, "POST", "/token", form, strlen(form), headers) !=
	    0)
		abort();
	af_resp_init(&resp, 0);
	af_h_token(&w->fw.srv, &req, &resp);
	fz_request_free(&req);
	a = json_loadb(resp.body.data, resp.body.len, 0, NULL);
	if (resp.status != 200 || a == NULL)
		abort();
	af_resp_cleanup(&resp);
	OPENSSL_cleanse(auth, sizeof(auth));
	return a;
}

/* Both clients redeem a code: their tokens. */
static void redeem(struct world *w, const json_t *user)
{
	json_t *a = redeem_as(w, user, w->c1, w->s1);

	member(a, "access_token", w->access, sizeof(w->access));
	member(a, "refresh_token", w->refresh, sizeof(w->refresh));
	member(a, "id_token", w->id_token, sizeof(w->id_token));
	snprintf(w->bearer, sizeof(w->bearer), "Bearer %s", w->access);
	json_decref(a);
	a = redeem_as(w, user, w->c2, w->s2);
	member(a, "access_token", w->jwt_access, sizeof(w->jwt_access));
	json_decref(a);
}

static void world_open(struct world *w)
{
	json_t *alice = NULL;

	memset(w, 0, sizeof(*w));
	fz_world_open(&w->fw, 1);
	fz_user(&w->fw,
		"{\"username\":\"alice\",\"email\":\"alice@example.com\","
		"\"email_verified\":true}",
		"correct horse battery", &alice);
	fz_policy(&w->fw, "{\"name\":\"std\",\"sso\":true,"
			  "\"assigned\":{\"users\":[\"alice\"]}}");
	fz_client(&w->fw,
		  "{\"name\":\"crm\",\"redirect_uris\":[\"" REDIRECT "\"],"
		  "\"allow_refresh\":true,\"deployment\":{\"mode\":\"all\"}}",
		  w->c1, w->s1);
	fz_client(&w->fw,
		  "{\"name\":\"wiki\",\"redirect_uris\":[\"" REDIRECT "\"],"
		  "\"access_token_format\":\"jwt\","
		  "\"deployment\":{\"mode\":\"all\"}}",
		  w->c2, w->s2);
	redeem(w, alice);
	json_decref(alice);
}

static void world_close(struct world *w)
{
	fz_world_close(&w->fw);
	OPENSSL_cleanse(w, sizeof(*w));
}

/* Whether the access token still answers at /userinfo. */
static int works(struct world *w)
{
	const char *headers[] = {"Authorization", w->bearer, NULL};
	af_resp resp;
	af_req req;
	int ok;

	if (fz_request(&req, "GET", "/userinfo", "", 0, headers) != 0)
		abort();
	af_resp_init(&resp, 0);
	af_h_userinfo(&w->fw.srv, &req, &resp);
	ok = resp.status == 200;
	af_resp_cleanup(&resp);
	fz_request_free(&req);
	return ok;
}

/*
 * Whether an introspection answer is a JSON object whose "active" is a
 * boolean, true only when may_be_active.
 */
static int introspected(const af_resp *resp, int may_be_active)
{
	json_t *o = json_loadb(resp->body.data, resp->body.len, 0, NULL);
	json_t *active = json_object_get(o, "active");
	int ok = json_is_boolean(active) &&
		 (may_be_active || !json_is_true(active));

	json_decref(o);
	return ok;
}

static void call(void *arg, unsigned flags, const char *text, size_t len)
{
	struct world *w = arg;
	const fz_subst subs[] = {
		{'A', w->access},     {'R', w->refresh}, {'D', w->id_token},
		{'W', w->jwt_access}, {'I', w->c1},	 {'S', w->s1},
		{'J', w->c2},	      {'T', w->s2},	 {0, NULL},
	};
	unsigned t = flags & 0x03, auth_as = (flags >> 3) & 0x03;
	const char *headers[7] = {NULL};
	int worked = works(w), as_client_1, as_client_2, carries;
	char auth[512] = "";
	size_t nh = 0;
	af_resp resp;
	af_req req;
	af_buf b;

	memset(&req, 0, sizeof(req));
	if (t < 2 && (flags & 0x04)) {
		headers[nh++] = "Authorization";
		headers[nh++] = w->bearer;
	} else if (t >= 2 && auth_as != 0) {
		fz_basic(auth_as == 2 ? w->c2 : w->c1,
			 auth_as == 1	? w->s1
			 : auth_as == 2 ? w->s2
					: "not-the-secret",
			 auth, sizeof(auth));
		headers[nh++] = "Authorization";
		headers[nh++] = auth;
	}
	headers[nh++] = "Content-Type";
	headers[nh++] = "application/x-www-form-urlencoded";
	carries = (t < 2 && (flags & 0x04)) || fz_has(text, len, 'A') ||
		  fz_has(text, len, 'W');
	as_client_1 = auth_as == 1 || fz_has(text, len, 'S');
	as_client_2 = auth_as == 2 || fz_has(text, len, 'T');
	af_buf_init(&b, FORM_MAX);
	fz_expand(subs, text, len, &b);
	if (!b.failed &&
	    fz_request(&req, t == 0 ? "GET" : "POST",
		       t == 3	? "/introspect"
		       : t == 2 ? "/revoke"
				: "/userinfo",
		       b.data != NULL ? b.data : "", b.len, headers) == 0) {
		af_resp_init(&resp, 0);
		if (t == 3)
			af_h_introspect(&w->fw.srv, &req, &resp);
		else if (t == 2)
			af_h_revoke(&w->fw.srv, &req, &resp);
		else
			af_h_userinfo(&w->fw.srv, &req, &resp);
		if ((resp.status != 200 && resp.status != 400 &&
		     resp.status != 401 && resp.status != 503) ||
		    (t < 2 && resp.status == 200 && !carries) ||
		    (t == 3 && resp.status == 200 &&
		     !introspected(
			     &resp,
			     (as_client_1 && (fz_has(text, len, 'A') ||
					      fz_has(text, len, 'R'))) ||
				     (as_client_2 && fz_has(text, len, 'W')))))
			abort();
		af_resp_cleanup(&resp);
		if (worked && !works(w) &&
		    (t != 2 || !as_client_1 ||
		     (!fz_has(text, len, 'A') && !fz_has(text, len, 'R'))))
			abort();
	}
	fz_request_free(&req);
	OPENSSL_cleanse(auth, sizeof(auth));
	af_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world w;

	world_open(&w);
	fz_each(data, size, CALLS_MAX, call, &w);
	world_close(&w);
	return 0;
}
