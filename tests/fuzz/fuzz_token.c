/*
 * Fuzz target: the token endpoint (POST /token), past the form parser.
 * Each input is up to 4 requests, each ended by a NUL byte: a flags byte
 * (bit 0: an Authorization header with the client's right id and
 * secret, client_secret_basic; bit 1: one with a wrong secret; bit 2:
 * the other client's right credentials; in the first request's alone,
 * bit 3: the client address has failed so often before that it waits),
 * then the form body. In the body these stand for what a fuzzer cannot
 * guess:
 *
 *   $C  a live code of client 1, made without PKCE
 *   $P  a live code of client 1, made with PKCE (S256 of $V)
 *   $V  that code's verifier
 *   $I  client 1's id, $S its secret
 *   $J  client 2's id, $T its secret
 *   $U  the redirect URI both codes were made for
 *   $R  the refresh token of the last answer that gave one
 *
 * They run in order on a fresh memory store holding the user alice (SSO
 * on) and the two clients (both deployed to all, client 1 with refresh
 * tokens and no grace). Nothing may crash or leak; every answer is a
 * JSON object with status 200, 400, 401, 429 or 503; an error is one of
 * RFC 6749's with a description; a success has a bearer access token and
 * an expiry, and for a code an id_token. Each code, and each refresh
 * token, is redeemed at most once; and while the address waits nothing
 * is redeemed at all, the right secret's tries included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/httpparse.h"
#include "common/util.h"
#include "directory/directory.h"
#include "fuzz_world.h"
#include "oidc/grant.h"
#include "oidc/oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS_MAX 4
#define FORM_MAX  ((size_t)16 * 1024)
#define HELD	  0x08 /* first flags: the address waits */
#define REDIRECT  "https://crm.example.com/cb"
/* A verifier and its S256 challenge. */
#define VERIFIER  "dBjftJeZ4CVP-mJ0kqyFgcqmgl7bHX-n0lM5d2TcPEE"
#define CHALLENGE "8UfZMp3yjpV-FI8kBysyLs_a2iKTE_E8lbIcDwtebtE"

struct client {
	char id[AF_DIR_CLIENT_ID_BUF];
	char secret[AF_DIR_SECRET_BUF];
};

struct world {
	fz_world fw;
	int held; /* the address waits */
	struct client c1, c2;
	char code[AF_TOKEN_TEXT_MAX + 1];
	char pkce[AF_TOKEN_TEXT_MAX + 1];
	char refresh[AF_TOKEN_TEXT_MAX + 1];
};

static void world_open(struct world *w)
{
	json_t *user = NULL;

	memset(w, 0, sizeof(*w));
	fz_world_open(&w->fw, 1);
	fz_user(&w->fw,
		"{\"username\":\"alice\",\"email\":\"alice@example.com\","
		"\"email_verified\":true}",
		"correct horse battery", &user);
	fz_policy(&w->fw, "{\"name\":\"std\",\"sso\":true,"
			  "\"assigned\":{\"users\":[\"alice\"]}}");
	fz_client(&w->fw,
		  "{\"name\":\"crm\",\"redirect_uris\":[\"" REDIRECT "\"],"
		  "\"allow_refresh\":true,\"claims\":{\"email\":\"email\"},"
		  "\"deployment\":{\"mode\":\"all\"}}",
		  w->c1.id, w->c1.secret);
	fz_client(&w->fw,
		  "{\"name\":\"wiki\",\"redirect_uris\":[\"" REDIRECT "\"],"
		  "\"access_token_format\":\"jwt\","
		  "\"deployment\":{\"mode\":\"all\"}}",
		  w->c2.id, w->c2.secret);
	fz_code(&w->fw, w->c1.id, REDIRECT, user, NULL, w->code);
	fz_code(&w->fw, w->c1.id, REDIRECT, user, CHALLENGE, w->pkce);
	json_decref(user);
}

static void world_close(struct world *w)
{
	fz_world_close(&w->fw);
	OPENSSL_cleanse(w, sizeof(*w));
}

static int oauth_error(const char *e)
{
	static const char *const known[] = {
		"invalid_request",	   "invalid_client",
		"invalid_grant",	   "unauthorized_client",
		"unsupported_grant_type",  "invalid_scope",
		"temporarily_unavailable", "server_error"};
	size_t i;

	for (i = 0; e != NULL && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(e, known[i]) == 0)
			return 1;
	return 0;
}

/* Counts of successful redemptions, to hold each to one. */
struct spent {
	int code, pkce;
	char refreshes[CALLS_MAX][AF_TOKEN_TEXT_MAX + 1];
	int nrefresh;
};

/* Notes what a successful request used: nothing may be used twice. */
static void note_spent(struct spent *sp, const struct world *w,
		       const af_params *form)
{
	const char *gt = hp_params_get(form, "grant_type");
	const char *v;
	int i;

	if (gt != NULL && strcmp(gt, "authorization_code") == 0) {
		v = hp_params_get(form, "code");
		if (v == NULL)
			abort();
		if (strcmp(v, w->code) == 0 && sp->code++ > 0)
			abort();
		if (strcmp(v, w->pkce) == 0 && sp->pkce++ > 0)
			abort();
	} else if (gt != NULL && strcmp(gt, "refresh_token") == 0) {
		v = hp_params_get(form, "refresh_token");
		if (v == NULL || strlen(v) > AF_TOKEN_TEXT_MAX)
			abort();
		for (i = 0; i < sp->nrefresh; i++)
			if (strcmp(sp->refreshes[i], v) == 0)
				abort();
		if (sp->nrefresh < CALLS_MAX)
			memcpy(sp->refreshes[sp->nrefresh++], v, strlen(v) + 1);
	} else {
		abort();
	}
}

static void check_answer(struct world *w, struct spent *sp, const af_resp *resp,
			 const af_params *form)
{
	json_t *a = json_loadb(resp->body.data, resp->body.len, 0, NULL);
	const char *rt, *gt;

	if (!json_is_object(a))
		abort();
	if (resp->status == 200) {
		if (w->held)
			abort();
		gt = hp_params_get(form, "grant_type");
		if (!json_is_string(json_object_get(a, "access_token")) ||
		    strcmp(json_string_value(json_object_get(a, "token_type")),
			   "Bearer") != 0 ||
		    json_integer_value(json_object_get(a, "expires_in")) <= 0 ||
		    (gt != NULL && strcmp(gt, "authorization_code") == 0 &&
		     !json_is_string(json_object_get(a, "id_token"))))
			abort();
		note_spent(sp, w, form);
		rt = json_string_value(json_object_get(a, "refresh_token"));
		if (rt != NULL) {
			if (strlen(rt) > AF_TOKEN_TEXT_MAX)
				abort();
			memcpy(w->refresh, rt, strlen(rt) + 1);
		}
	} else if ((resp->status != 400 && resp->status != 401 &&
		    resp->status != 429 && resp->status != 503) ||
		   !oauth_error(
			   json_string_value(json_object_get(a, "error"))) ||
		   !json_is_string(json_object_get(a, "error_description"))) {
		abort();
	}
	json_decref(a);
}

static void call(struct world *w, struct spent *sp, unsigned flags,
		 const char *body, size_t len)
{
	const fz_subst subs[] = {
		{'C', w->code},	     {'P', w->pkce},	  {'V', VERIFIER},
		{'I', w->c1.id},     {'S', w->c1.secret}, {'J', w->c2.id},
		{'T', w->c2.secret}, {'U', REDIRECT},	  {'R', w->refresh},
		{0, NULL},
	};
	const char *headers[5] = {NULL};
	char auth[512] = "";
	size_t nh = 0;
	af_resp resp;
	af_req req;
	af_buf b;

	memset(&req, 0, sizeof(req));
	if (flags & 0x07) {
		if (flags & 0x01)
			fz_basic(w->c1.id, w->c1.secret, auth, sizeof(auth));
		else if (flags & 0x02)
			fz_basic(w->c1.id, "not-the-secret", auth,
				 sizeof(auth));
		else
			fz_basic(w->c2.id, w->c2.secret, auth, sizeof(auth));
		headers[nh++] = "Authorization";
		headers[nh++] = auth;
	}
	headers[nh++] = "Content-Type";
	headers[nh++] = "application/x-www-form-urlencoded";
	af_buf_init(&b, FORM_MAX);
	fz_expand(subs, body, len, &b);
	/* A body the form parser refuses is the parser's target. */
	if (!b.failed &&
	    fz_request(&req, "POST", "/token", b.data != NULL ? b.data : "",
		       b.len, headers) == 0) {
		af_resp_init(&resp, 0);
		af_h_token(&w->fw.srv, &req, &resp);
		check_answer(w, sp, &resp, req.form);
		af_resp_cleanup(&resp);
	}
	fz_request_free(&req);
	OPENSSL_cleanse(auth, sizeof(auth));
	af_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *text;
	struct spent sp;
	struct world w;
	unsigned flags;
	size_t len;
	int calls = 0;

	memset(&sp, 0, sizeof(sp));
	world_open(&w);
	while (calls++ < CALLS_MAX && fz_next(&p, end, &flags, &text, &len)) {
		if (calls == 1 && (flags & HELD)) {
			fz_door_held(&w.fw, AF_THROTTLE_CLIENT);
			w.held = 1;
		}
		call(&w, &sp, flags, text, len);
	}
	world_close(&w);
	return 0;
}
