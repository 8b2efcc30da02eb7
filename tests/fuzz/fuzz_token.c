/*
 * Fuzz target: the token endpoint (POST /token), past the form parser.
 * Each input is up to 4 requests, each ended by a NUL byte: a flags byte
 * (bit 0: an Authorization header with the client's right id and
 * secret, client_secret_basic; bit 1: one with a wrong secret; bit 2:
 * the other client's right credentials), then the form body. In the body
 * these stand for what a fuzzer cannot guess:
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
 * JSON object with status 200, 400, 401 or 503; an error is one of RFC
 * 6749's with a description; a success has a bearer access token and an
 * expiry, and for a code an id_token. And each code, and each refresh
 * token, is redeemed at most once.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/httpparse.h"
#include "common/jose.h"
#include "common/log.h"
#include "common/store.h"
#include "common/util.h"
#include "directory/directory.h"
#include "http/buf.h"
#include "oidc/grant.h"
#include "oidc/oidc.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS_MAX 4
#define FORM_MAX  ((size_t)16 * 1024)
#define REDIRECT  "https://crm.example.com/cb"
/* A verifier and its S256 challenge. */
#define VERIFIER  "dBjftJeZ4CVP-mJ0kqyFgcqmgl7bHX-n0lM5d2TcPEE"
#define CHALLENGE "8UfZMp3yjpV-FI8kBysyLs_a2iKTE_E8lbIcDwtebtE"

struct client {
	char id[AF_DIR_CLIENT_ID_BUF];
	char secret[AF_DIR_SECRET_BUF];
};

struct world {
	af_server srv;
	struct client c1, c2;
	char code[AF_TOKEN_TEXT_MAX + 1];
	char pkce[AF_TOKEN_TEXT_MAX + 1];
	char refresh[AF_TOKEN_TEXT_MAX + 1];
	int logfd;
};

/* The key ring, made once: an RSA key costs a good part of a second. */
static af_keyring *keyring(void)
{
	static store_ctx *st;
	static af_keyring *keys;
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_keyring_options ko = {.rsa_bits = 2048,
				 .lifetime_days = 90,
				 .alert_days = 30,
				 .max_token_lifetime_s = 600};

	if (keys != NULL)
		return keys;
	if (store_open(&so, &st, NULL, 0) != STORE_OK ||
	    af_keyring_open(st, &ko, &keys) != JOSE_OK)
		abort();
	return keys;
}

static void add_client(struct world *w, const char *spec_text, struct client *c)
{
	json_t *spec = json_loads(spec_text, 0, NULL), *app = NULL;

	if (spec == NULL ||
	    af_dir_app_add(w->srv.dir, "fuzz", spec, &app, c->secret,
			   sizeof(c->secret), NULL, 0) != AF_DIR_OK)
		abort();
	snprintf(c->id, sizeof(c->id), "%s",
		 json_string_value(json_object_get(app, "client_id")));
	json_decref(app);
	json_decref(spec);
}

/* A code of client 1 for alice, with challenge when not NULL. */
static void make_code(struct world *w, const json_t *user,
		      const char *challenge, char *out)
{
	json_t *grant = json_pack(
		"{s:s, s:s, s:s, s:s, s:s*, s:s, s:O, s:I, s:[s], s:s, s:s, "
		"s:I}",
		"client_id", w->c1.id, "redirect_uri", REDIRECT, "scope",
		"openid profile email offline_access", "nonce", "n-0S6_WzA2Mj",
		"code_challenge", challenge, "username", "alice", "sub",
		json_object_get(user, "sub"), "auth_time", (json_int_t)af_now(),
		"amr", "pwd", "acr", "pwd", "sid", "fuzz-session-id", "gen",
		(json_int_t)af_dir_user_gen(user));

	if (grant == NULL || af_grant_issue_code(&w->srv, grant, out,
						 AF_TOKEN_TEXT_MAX + 1) != 0)
		abort();
	json_decref(grant);
}

static void world_open(struct world *w)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	json_t *spec, *user = NULL;
	af_dir_options o;

	memset(w, 0, sizeof(*w));
	af_config_defaults(&w->srv.cfg);
	snprintf(w->srv.cfg.issuer, sizeof(w->srv.cfg.issuer), "%s",
		 "http://127.0.0.1:8080");
	af_dir_options_default(&o);
	o.pw.m_kib = 8;
	o.pw.t = 1;
	o.pw.p = 1;
	w->logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (w->logfd < 0 ||
	    store_open(&so, &w->srv.store, NULL, 0) != STORE_OK ||
	    pthread_rwlock_init(&w->srv.admin_lock, NULL) != 0 ||
	    af_dir_new(w->srv.store, &o, &w->srv.dir, NULL, 0) != AF_DIR_OK)
		abort();
	w->srv.keys = keyring();
	w->srv.log = log_new(w->logfd, LOG_LEVEL_ERROR);
	spec = json_pack("{s:s, s:s, s:b}", "username", "alice", "email",
			 "alice@example.com", "email_verified", 1);
	if (w->srv.log == NULL || spec == NULL ||
	    af_dir_user_add(w->srv.dir, "fuzz", spec, "correct horse battery",
			    &user, NULL, 0) != AF_DIR_OK)
		abort();
	json_decref(spec);
	spec = json_pack("{s:s, s:b, s:{s:[s]}}", "name", "std", "sso", 1,
			 "assigned", "users", "alice");
	if (spec == NULL ||
	    af_dir_policy_add(w->srv.dir, "fuzz", spec, NULL, 0) != AF_DIR_OK)
		abort();
	json_decref(spec);
	add_client(w,
		   "{\"name\":\"crm\",\"redirect_uris\":[\"" REDIRECT "\"],"
		   "\"allow_refresh\":true,\"claims\":{\"email\":\"email\"},"
		   "\"deployment\":{\"mode\":\"all\"}}",
		   &w->c1);
	add_client(w,
		   "{\"name\":\"wiki\",\"redirect_uris\":[\"" REDIRECT "\"],"
		   "\"access_token_format\":\"jwt\","
		   "\"deployment\":{\"mode\":\"all\"}}",
		   &w->c2);
	make_code(w, user, NULL, w->code);
	make_code(w, user, CHALLENGE, w->pkce);
	json_decref(user);
}

static void world_close(struct world *w)
{
	log_free(w->srv.log);
	af_dir_free(w->srv.dir);
	store_close(w->srv.store);
	pthread_rwlock_destroy(&w->srv.admin_lock);
	close(w->logfd);
	OPENSSL_cleanse(w, sizeof(*w));
}

/* body (len bytes) with the $X of the comment above put in, into b. */
static void expand(const struct world *w, const char *body, size_t len,
		   af_buf *b)
{
	const char *v;
	size_t i;

	for (i = 0; i < len; i++) {
		v = NULL;
		if (body[i] == '$' && i + 1 < len) {
			switch (body[i + 1]) {
			case 'C':
				v = w->code;
				break;
			case 'P':
				v = w->pkce;
				break;
			case 'V':
				v = VERIFIER;
				break;
			case 'I':
				v = w->c1.id;
				break;
			case 'S':
				v = w->c1.secret;
				break;
			case 'J':
				v = w->c2.id;
				break;
			case 'T':
				v = w->c2.secret;
				break;
			case 'U':
				v = REDIRECT;
				break;
			case 'R':
				v = w->refresh;
				break;
			default:
				break;
			}
		}
		if (v != NULL) {
			af_buf_puts(b, v);
			i++;
		} else {
			af_buf_append(b, body + i, 1);
		}
	}
}

/* "Basic base64(id:secret)" into out. */
static void basic(const char *id, const char *secret, char *out, size_t cap)
{
	char pair[256];
	int n = snprintf(pair, sizeof(pair), "%s:%s", id, secret);
	size_t enc = 4 * (((size_t)n + 2) / 3) + 1;

	if (n < 0 || (size_t)n >= sizeof(pair) || cap < 6 + enc)
		abort();
	snprintf(out, cap, "Basic ");
	EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)pair,
			n);
	OPENSSL_cleanse(pair, sizeof(pair));
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
		    resp->status != 503) ||
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
	char auth[512];
	const char *headers[5] = {NULL};
	size_t nh = 0;
	af_resp resp;
	hp_status st;
	af_req req;
	af_buf b;

	af_buf_init(&b, FORM_MAX);
	expand(w, body, len, &b);
	if (b.failed || b.data == NULL) {
		af_buf_cleanup(&b);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/token";
	req.query = hp_params_new();
	if (req.query == NULL)
		abort();
	/*
	 * A body the form parser refuses is the parser's target, not this
	 * one's; a repeated name is kept, as the server keeps it.
	 */
	st = hp_params_parse(b.data, b.len, &req.form);
	if (st != HP_OK && st != HP_ERR_DUPLICATE) {
		hp_params_free(req.query);
		af_buf_cleanup(&b);
		return;
	}
	req.duplicate_param = st == HP_ERR_DUPLICATE;
	if (flags & 0x07) {
		if (flags & 0x01)
			basic(w->c1.id, w->c1.secret, auth, sizeof(auth));
		else if (flags & 0x02)
			basic(w->c1.id, "not-the-secret", auth, sizeof(auth));
		else
			basic(w->c2.id, w->c2.secret, auth, sizeof(auth));
		headers[nh++] = "Authorization";
		headers[nh++] = auth;
	}
	headers[nh++] = "Content-Type";
	headers[nh++] = "application/x-www-form-urlencoded";
	req.test_headers = headers;
	req.body = b.data;
	req.body_len = b.len;
	snprintf(req.rid, sizeof(req.rid), "fuzz");
	af_resp_init(&resp, 0);
	af_h_token(&w->srv, &req, &resp);
	check_answer(w, sp, &resp, req.form);
	af_resp_cleanup(&resp);
	hp_params_free(req.form);
	hp_params_free(req.query);
	OPENSSL_cleanse(auth, sizeof(auth));
	af_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *stop;
	struct spent sp;
	struct world w;
	unsigned flags;
	int calls = 0;

	memset(&sp, 0, sizeof(sp));
	world_open(&w);
	while (p < end && calls++ < CALLS_MAX) {
		flags = (unsigned char)*p++;
		stop = memchr(p, '\0', (size_t)(end - p));
		if (stop == NULL)
			stop = end;
		call(&w, &sp, flags, p, (size_t)(stop - p));
		p = stop < end ? stop + 1 : end;
	}
	world_close(&w);
	return 0;
}
