/*
 * The server world of the endpoint fuzz targets: see fuzz_world.h.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/httpparse.h"
#include "common/jose.h"
#include "common/log.h"
#include "common/store.h"
#include "common/util.h"
#include "directory/directory.h"
#include "directory/pwlist.h"
#include "directory/throttle.h"
#include "fuzz_world.h"
#include "oidc/grant.h"
#include "oidc/oidc.h"
#include "session/session.h"

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

void fz_world_open(fz_world *w, int keys)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_dir_options o;

	memset(w, 0, sizeof(*w));
	af_config_defaults(&w->srv.cfg);
	snprintf(w->srv.cfg.issuer, sizeof(w->srv.cfg.issuer), "%s", FZ_ISSUER);
	af_dir_options_default(&o);
	o.pw.m_kib = 8;
	o.pw.t = 1;
	o.pw.p = 1;
	/* The built-in blocklist, as a server without a file has. */
	if (af_pwlist_load(NULL, &w->srv.pwlist, NULL, 0) != AF_PWLIST_OK)
		abort();
	o.pwlist = w->srv.pwlist;
	w->logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (w->logfd < 0 ||
	    store_open(&so, &w->srv.store, NULL, 0) != STORE_OK ||
	    pthread_rwlock_init(&w->srv.admin_lock, NULL) != 0 ||
	    af_dir_new(w->srv.store, &o, &w->srv.dir, NULL, 0) != AF_DIR_OK)
		abort();
	w->srv.log = log_new(w->logfd, LOG_LEVEL_ERROR);
	if (w->srv.log == NULL)
		abort();
	if (keys)
		w->srv.keys = keyring();
}

void fz_world_close(fz_world *w)
{
	log_free(w->srv.log);
	af_dir_free(w->srv.dir);
	af_pwlist_free(w->srv.pwlist);
	store_close(w->srv.store);
	pthread_rwlock_destroy(&w->srv.admin_lock);
	close(w->logfd);
}

static json_t *spec_of(const char *text)
{
	json_t *spec = json_loads(text, 0, NULL);

	if (!json_is_object(spec))
		abort();
	return spec;
}

void fz_user(fz_world *w, const char *spec_json, const char *password,
	     json_t **out)
{
	json_t *spec = spec_of(spec_json);

	if (af_dir_user_add(w->srv.dir, "fuzz", spec, password, out, NULL, 0) !=
	    AF_DIR_OK)
		abort();
	json_decref(spec);
}

void fz_policy(fz_world *w, const char *spec_json)
{
	json_t *spec = spec_of(spec_json);

	if (af_dir_policy_add(w->srv.dir, "fuzz", spec, NULL, 0) != AF_DIR_OK)
		abort();
	json_decref(spec);
}

void fz_client(fz_world *w, const char *spec_json, char *id, char *secret)
{
	char made[AF_DIR_SECRET_BUF];
	json_t *spec = spec_of(spec_json), *app = NULL;

	if (af_dir_app_add(w->srv.dir, "fuzz", spec, &app, made, sizeof(made),
			   NULL, 0) != AF_DIR_OK)
		abort();
	snprintf(id, AF_DIR_CLIENT_ID_BUF, "%s",
		 json_string_value(json_object_get(app, "client_id")));
	if (secret != NULL)
		memcpy(secret, made, sizeof(made));
	OPENSSL_cleanse(made, sizeof(made));
	json_decref(app);
	json_decref(spec);
}

void fz_session(fz_world *w, const json_t *user, char *cookie, size_t cap,
		char *sid)
{
	fz_session_of(w, user, 0, cookie, cap, sid);
}

void fz_session_of(fz_world *w, const json_t *user, int mfa, char *cookie,
		   size_t cap, char *sid)
{
	static const char *const amr[] = {"pwd", "swk", "mfa"};
	af_session s;
	af_resp resp;
	af_req req;

	memset(&s, 0, sizeof(s));
	memset(&req, 0, sizeof(req));
	snprintf(s.username, sizeof(s.username), "%s",
		 json_string_value(json_object_get(user, "username")));
	snprintf(s.sub, sizeof(s.sub), "%s",
		 json_string_value(json_object_get(user, "sub")));
	for (s.namr = 0; s.namr < (mfa ? 3u : 1u); s.namr++)
		snprintf(s.amr[s.namr], sizeof(s.amr[0]), "%s", amr[s.namr]);
	snprintf(s.acr, sizeof(s.acr), "%s", mfa ? AF_ACR_MFA : "pwd");
	s.auth_time = af_now();
	s.gen = af_dir_user_gen(user);
	req.method = "POST";
	req.path = "/login";
	snprintf(req.rid, sizeof(req.rid), "fuzz");
	af_resp_init(&resp, 0);
	if (af_session_begin(&w->srv, &req, &resp, &s) != 0)
		abort();
	fz_copy_after(fz_header(&resp, "Set-Cookie"), "", ';', cookie, cap);
	af_resp_cleanup(&resp);
	if (sid != NULL)
		snprintf(sid, AF_SID_MAX, "%s", s.sid);
}

void fz_code(fz_world *w, const char *client, const char *redirect,
	     const json_t *user, const char *challenge, char *out)
{
	json_t *grant = json_pack(
		"{s:s, s:s, s:s, s:s, s:s*, s:O, s:O, s:I, s:[s], s:s, s:s, "
		"s:I}",
		"client_id", client, "redirect_uri", redirect, "scope",
		"openid profile email offline_access", "nonce", "n-0S6_WzA2Mj",
		"code_challenge", challenge, "username",
		json_object_get(user, "username"), "sub",
		json_object_get(user, "sub"), "auth_time", (json_int_t)af_now(),
		"amr", "pwd", "acr", "pwd", "sid", "fuzz-session-id", "gen",
		(json_int_t)af_dir_user_gen(user));

	if (grant == NULL || af_grant_issue_code(&w->srv, grant, out,
						 AF_TOKEN_TEXT_MAX + 1) != 0)
		abort();
	json_decref(grant);
}

void fz_basic(const char *id, const char *secret, char *out, size_t cap)
{
	char pair[256];
	int n = snprintf(pair, sizeof(pair), "%s:%s", id, secret);

	if (n < 0 || (size_t)n >= sizeof(pair) ||
	    cap < 7 + 4 * (((size_t)n + 2) / 3))
		abort();
	snprintf(out, cap, "Basic ");
	EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)pair,
			n);
	OPENSSL_cleanse(pair, sizeof(pair));
}

int fz_session_live(fz_world *w, const char *cookie)
{
	const char *headers[] = {"Cookie", cookie, NULL};
	int failed = 0, live;
	af_session s;
	af_req req;

	if (fz_request(&req, "GET", "/", "", 0, headers) != 0)
		abort();
	live = af_session_get(&w->srv, &req, &s, &failed) == 0;
	fz_request_free(&req);
	if (failed)
		abort();
	return live;
}

int fz_password_is(fz_world *w, const char *username, const char *password)
{
	json_t *user = NULL;
	af_dir_status st =
		af_dir_user_login(w->srv.dir, username, password, &user);

	json_decref(user);
	return st == AF_DIR_OK;
}

const char *fz_header(const af_resp *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

void fz_copy_after(const char *s, const char *mark, char stop, char *out,
		   size_t cap)
{
	const char *p = s != NULL ? strstr(s, mark) : NULL;
	const char *e;

	if (p == NULL)
		abort();
	p += strlen(mark);
	e = strchr(p, stop);
	if (e == NULL || (size_t)(e - p) >= cap)
		abort();
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
}

int fz_has(const char *text, size_t len, char c)
{
	size_t i;

	for (i = 0; i + 1 < len; i++)
		if (text[i] == '$' && text[i + 1] == c)
			return 1;
	return 0;
}

void fz_expand(const fz_subst *subs, const char *text, size_t len, af_buf *b)
{
	const fz_subst *s;
	size_t i;

	for (i = 0; i < len; i++) {
		s = NULL;
		if (text[i] == '$' && i + 1 < len)
			for (s = subs; s->key != 0 && s->key != text[i + 1];
			     s++)
				;
		if (s != NULL && s->key != 0) {
			af_buf_puts(b, s->value);
			i++;
		} else {
			af_buf_append(b, text + i, 1);
		}
	}
}

int fz_next(const char **p, const char *end, unsigned *flags, const char **text,
	    size_t *len)
{
	const char *stop;

	if (*p >= end)
		return 0;
	*flags = (unsigned char)**p;
	(*p)++;
	stop = memchr(*p, '\0', (size_t)(end - *p));
	if (stop == NULL)
		stop = end;
	*text = *p;
	*len = (size_t)(stop - *p);
	*p = stop < end ? stop + 1 : end;
	return 1;
}

void fz_each(const uint8_t *data, size_t size, int max, fz_call_fn *fn,
	     void *arg)
{
	const char *p = (const char *)data, *end = p + size, *text;
	unsigned flags;
	size_t len;
	int calls = 0;

	while (calls++ < max && fz_next(&p, end, &flags, &text, &len))
		fn(arg, flags, text, len);
}

int fz_request(af_req *req, const char *method, const char *path,
	       const char *text, size_t len, const char **headers)
{
	int form = strcmp(method, "POST") == 0;
	hp_status st;

	memset(req, 0, sizeof(*req));
	req->method = method;
	req->path = path;
	req->test_headers = headers;
	snprintf(req->rid, sizeof(req->rid), "fuzz");
	snprintf(req->client_ip, sizeof(req->client_ip), "%s", FZ_CLIENT_IP);
	st = hp_params_parse(text, len, form ? &req->form : &req->query);
	if (st != HP_OK && st != HP_ERR_DUPLICATE)
		return -1;
	req->duplicate_param = st == HP_ERR_DUPLICATE;
	if (req->query == NULL)
		req->query = hp_params_new();
	if (req->query == NULL)
		abort();
	if (form) {
		req->body = text;
		req->body_len = len;
	}
	return 0;
}

void fz_request_free(af_req *req)
{
	hp_params_free(req->query);
	hp_params_free(req->form);
	req->query = NULL;
	req->form = NULL;
}

int fz_own_page(const char *url)
{
	return url[0] == '/' && url[1] != '/' && url[1] != '\\';
}

void fz_forms_post_to(const af_resp *resp, const char *allowed)
{
	static const char mark[] = " action=\"";
	size_t n = allowed != NULL ? strlen(allowed) : 0;
	const char *action;
	char *html;

	html = strndup(resp->body.data != NULL ? resp->body.data : "",
		       resp->body.len);
	if (html == NULL)
		abort();
	for (action = strstr(html, mark); action != NULL;
	     action = strstr(action + 1, mark)) {
		action += sizeof(mark) - 1;
		if (action[0] != '/' &&
		    (allowed == NULL || strncmp(action, allowed, n) != 0 ||
		     action[n] != '"'))
			abort();
	}
	free(html);
}

int fz_signed_in(const af_resp *resp, const char *redirect)
{
	size_t n = strlen(redirect), i;
	int signed_in = 0;
	const char *v;

	for (i = 0; i < resp->nheaders; i++) {
		v = resp->headers[i].value;
		if (strcasecmp(resp->headers[i].name, "Location") == 0) {
			if (strncmp(v, redirect, n) == 0 && v[n] == '?')
				signed_in |= strstr(v, "code=") != NULL;
			else if (!fz_own_page(v))
				abort();
		}
		if (strcasecmp(resp->headers[i].name, "Set-Cookie") == 0 &&
		    strncmp(v, AF_SESSION_COOKIE "=",
			    strlen(AF_SESSION_COOKIE) + 1) == 0 &&
		    v[strlen(AF_SESSION_COOKIE) + 1] != ';')
			signed_in = 1;
	}
	return signed_in;
}

void fz_begin(fz_world *w, const char *client, const char *redirect_enc,
	      fz_signin *s)
{
	const char *cookie[3] = {"Cookie", s->cookie, NULL};
	char query[1024], *body;
	af_resp resp;
	af_req req;

	memset(s, 0, sizeof(*s));
	snprintf(query, sizeof(query),
		 "response_type=code&client_id=%s&redirect_uri=%s&scope="
		 "openid&state=s1&nonce=n1",
		 client, redirect_enc);
	if (fz_request(&req, "GET", "/authorize", query, strlen(query), NULL) !=
	    0)
		abort();
	af_resp_init(&resp, 0);
	af_h_authorize(&w->srv, &req, &resp);
	fz_request_free(&req);
	/* The sign-in form comes at once; GET /login shows it again. */
	body = strndup(resp.body.data != NULL ? resp.body.data : "",
		       resp.body.len);
	if (body == NULL)
		abort();
	fz_copy_after(body, "name=\"flow\" value=\"", '"', s->flow,
		      sizeof(s->flow));
	free(body);
	fz_copy_after(fz_header(&resp, "Set-Cookie"), "", ';', s->cookie,
		      sizeof(s->cookie));
	af_resp_cleanup(&resp);
	snprintf(query, sizeof(query), "flow=%s", s->flow);
	if (fz_request(&req, "GET", "/login", query, strlen(query), cookie) !=
	    0)
		abort();
	af_resp_init(&resp, 0);
	af_h_login_get(&w->srv, &req, &resp);
	fz_request_free(&req);
	body = strndup(resp.body.data != NULL ? resp.body.data : "",
		       resp.body.len);
	if (body == NULL)
		abort();
	fz_copy_after(body, "name=\"csrf\" value=\"", '"', s->csrf,
		      sizeof(s->csrf));
	free(body);
	af_resp_cleanup(&resp);
}

/* Failed secrets fz_door_held() counts (see fuzz_world.h). */
#define DOOR_FAILS 25

void fz_door_held(fz_world *w, af_throttle_door door)
{
	af_dir *dir = w->srv.dir;
	uint32_t wait_s = 0;
	af_throttle_turn turn;
	int i;

	for (i = 0; i < DOOR_FAILS; i++)
		if (af_throttle_door_fail(dir, door, FZ_CLIENT_IP, NULL) !=
		    AF_DIR_OK)
			abort();
	memset(&turn, 0, sizeof(turn));
	if (af_throttle_door_check(dir, door, FZ_CLIENT_IP, &wait_s, &turn) !=
		    AF_DIR_WAIT ||
	    wait_s < 8)
		abort();
	af_throttle_door_end(dir, door, FZ_CLIENT_IP, &turn);
}
