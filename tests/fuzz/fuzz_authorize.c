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
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/httpparse.h"
#include "common/jose.h"
#include "common/log.h"
#include "common/store.h"
#include "common/util.h"
#include "directory/directory.h"
#include "http/buf.h"
#include "oidc/oidc.h"
#include "server.h"
#include "session/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ISSUER	   "http://127.0.0.1:8080"
#define PARAMS_MAX ((size_t)16 * 1024)
#define URI_1	   "https://crm.example.com/cb"
#define URI_2	   "http://127.0.0.1:9000/cb"
#define URI_3	   "https://wiki.example.com/cb"

struct world {
	af_server srv;
	char c1[AF_DIR_CLIENT_ID_BUF], c2[AF_DIR_CLIENT_ID_BUF];
	char cookie[512];
	char *hint_alice, *hint_bob;
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

static void add_client(struct world *w, const char *spec_text, char *id)
{
	char secret[AF_DIR_SECRET_BUF];
	json_t *spec = json_loads(spec_text, 0, NULL), *app = NULL;

	if (spec == NULL ||
	    af_dir_app_add(w->srv.dir, "fuzz", spec, &app, secret,
			   sizeof(secret), NULL, 0) != AF_DIR_OK)
		abort();
	OPENSSL_cleanse(secret, sizeof(secret));
	snprintf(id, AF_DIR_CLIENT_ID_BUF, "%s",
		 json_string_value(json_object_get(app, "client_id")));
	json_decref(app);
	json_decref(spec);
}

static json_t *add_user(struct world *w, const char *name)
{
	json_t *spec = json_pack("{s:s}", "username", name), *user = NULL;

	if (spec == NULL ||
	    af_dir_user_add(w->srv.dir, "fuzz", spec, "correct horse battery",
			    &user, NULL, 0) != AF_DIR_OK)
		abort();
	json_decref(spec);
	return user;
}

/* An id_token of ours for user, audience client 1. */
static char *id_token(const struct world *w, const json_t *user)
{
	int64_t now = af_now();
	json_t *claims =
		json_pack("{s:s, s:O, s:s, s:I, s:I, s:I}", "iss", ISSUER,
			  "sub", json_object_get(user, "sub"), "aud", w->c1,
			  "iat", (json_int_t)now, "exp", (json_int_t)now + 300,
			  "auth_time", (json_int_t)now);
	char *out = NULL;

	if (claims == NULL ||
	    af_jwt_sign(w->srv.keys, claims, AF_ID_TOKEN_TYP, &out) != JOSE_OK)
		abort();
	json_decref(claims);
	return out;
}

/* alice's SSO session, as the Cookie header the browser would send. */
static void sign_in(struct world *w, const json_t *user)
{
	af_session s;
	af_resp resp;
	af_req req;
	const char *v, *semi;
	size_t i;

	memset(&s, 0, sizeof(s));
	memset(&req, 0, sizeof(req));
	snprintf(s.username, sizeof(s.username), "alice");
	snprintf(s.sub, sizeof(s.sub), "%s",
		 json_string_value(json_object_get(user, "sub")));
	snprintf(s.amr[0], sizeof(s.amr[0]), "pwd");
	s.namr = 1;
	snprintf(s.acr, sizeof(s.acr), "pwd");
	s.auth_time = af_now();
	s.gen = af_dir_user_gen(user);
	req.method = "POST";
	req.path = "/login";
	snprintf(req.rid, sizeof(req.rid), "fuzz");
	af_resp_init(&resp, 0);
	if (af_session_begin(&w->srv, &req, &resp, &s) != 0)
		abort();
	for (i = 0; i < resp.nheaders; i++) {
		if (strcasecmp(resp.headers[i].name, "Set-Cookie") != 0)
			continue;
		v = resp.headers[i].value;
		semi = strchr(v, ';');
		snprintf(w->cookie, sizeof(w->cookie), "%.*s",
			 (int)(semi != NULL ? (size_t)(semi - v) : strlen(v)),
			 v);
	}
	af_resp_cleanup(&resp);
	if (w->cookie[0] == '\0')
		abort();
}

static void world_open(struct world *w)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	json_t *spec, *alice, *bob;
	af_dir_options o;

	memset(w, 0, sizeof(*w));
	af_config_defaults(&w->srv.cfg);
	snprintf(w->srv.cfg.issuer, sizeof(w->srv.cfg.issuer), "%s", ISSUER);
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
	if (w->srv.log == NULL)
		abort();
	alice = add_user(w, "alice");
	bob = add_user(w, "bob");
	spec = json_pack("{s:s, s:b, s:{s:[s, s]}}", "name", "std", "sso", 1,
			 "assigned", "users", "alice", "bob");
	if (spec == NULL ||
	    af_dir_policy_add(w->srv.dir, "fuzz", spec, NULL, 0) != AF_DIR_OK)
		abort();
	json_decref(spec);
	add_client(w,
		   "{\"name\":\"crm\",\"redirect_uris\":[\"" URI_1 "\",\"" URI_2
		   "\"],\"deployment\":{\"mode\":\"all\"}}",
		   w->c1);
	add_client(w, "{\"name\":\"wiki\",\"redirect_uris\":[\"" URI_3 "\"]}",
		   w->c2);
	w->hint_alice = id_token(w, alice);
	w->hint_bob = id_token(w, bob);
	sign_in(w, alice);
	json_decref(alice);
	json_decref(bob);
}

static void world_close(struct world *w)
{
	free(w->hint_alice);
	free(w->hint_bob);
	log_free(w->srv.log);
	af_dir_free(w->srv.dir);
	store_close(w->srv.store);
	pthread_rwlock_destroy(&w->srv.admin_lock);
	close(w->logfd);
}

/* text (len bytes) with the $X of the comment above put in, into b. */
static void expand(const struct world *w, const char *text, size_t len,
		   af_buf *b)
{
	const char *v;
	size_t i;

	for (i = 0; i < len; i++) {
		v = NULL;
		if (text[i] == '$' && i + 1 < len) {
			switch (text[i + 1]) {
			case 'I':
				v = w->c1;
				break;
			case 'J':
				v = w->c2;
				break;
			case 'U':
				v = URI_1;
				break;
			case 'W':
				v = URI_2;
				break;
			case 'X':
				v = URI_3;
				break;
			case 'H':
				v = w->hint_alice;
				break;
			case 'N':
				v = w->hint_bob;
				break;
			default:
				break;
			}
		}
		if (v != NULL) {
			af_buf_puts(b, v);
			i++;
		} else {
			af_buf_append(b, text + i, 1);
		}
	}
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

/* 1 when url is target with a query after it, or a page of our own. */
static int destination_ok(const char *url, const char *target)
{
	size_t n = target != NULL ? strlen(target) : 0;

	if (url[0] == '/' && url[1] != '/' && url[1] != '\\')
		return 1;
	if (strncmp(url, ISSUER "/", strlen(ISSUER) + 1) == 0)
		return 1;
	return target != NULL && strncmp(url, target, n) == 0 && url[n] == '?';
}

static void check_answer(const struct world *w, const af_req *req,
			 const af_resp *resp)
{
	const char *target = allowed_target(w, req), *action;
	char *html;
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
	html = strndup(resp->body.data != NULL ? resp->body.data : "",
		       resp->body.len);
	if (html == NULL)
		abort();
	for (action = strstr(html, " action=\""); action != NULL;
	     action = strstr(action + 1, " action=\"")) {
		action += strlen(" action=\"");
		if (action[0] != '/' &&
		    (target == NULL ||
		     strncmp(action, target, strlen(target)) != 0 ||
		     action[strlen(target)] != '"'))
			abort();
	}
	free(html);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *headers[3] = {NULL};
	struct world w;
	unsigned flags;
	hp_status st;
	af_resp resp;
	af_req req;
	af_buf b;

	if (size == 0)
		return 0;
	world_open(&w);
	flags = data[0];
	af_buf_init(&b, PARAMS_MAX);
	expand(&w, (const char *)data + 1, size - 1, &b);
	memset(&req, 0, sizeof(req));
	if (!b.failed) {
		req.method = flags & 0x02 ? "POST" : "GET";
		req.path = "/authorize";
		st = hp_params_parse(b.data, b.len,
				     flags & 0x02 ? &req.form : &req.query);
		if (st == HP_OK || st == HP_ERR_DUPLICATE) {
			req.duplicate_param = st == HP_ERR_DUPLICATE;
			if (req.query == NULL)
				req.query = hp_params_new();
			if (req.query == NULL)
				abort();
			if (flags & 0x01) {
				headers[0] = "Cookie";
				headers[1] = w.cookie;
			}
			req.test_headers = headers;
			snprintf(req.rid, sizeof(req.rid), "fuzz");
			af_resp_init(&resp, 0);
			af_h_authorize(&w.srv, &req, &resp);
			check_answer(&w, &req, &resp);
			af_resp_cleanup(&resp);
		}
		hp_params_free(req.query);
		hp_params_free(req.form);
	}
	af_buf_cleanup(&b);
	world_close(&w);
	return 0;
}
