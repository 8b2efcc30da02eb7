/*
 * Fuzz target: the sign-in form (POST /login), its early part and its
 * handler, as the server runs them. Each input is up to 3 posts, each
 * ended by a NUL byte: a flags byte (bit 0: the browser brings the flow's
 * binding cookie), then the form body. In it these stand for what a
 * fuzzer cannot guess:
 *
 *   $F  the flow of a sign-in begun at /authorize for client 1
 *   $C  the CSRF token of that flow's form
 *   $P  alice's password        $Q  bob's password
 *
 * Before the posts, the sign-in is begun as a browser would: GET
 * /authorize without a session, then the form at GET /login. alice and
 * bob may sign in (SSO on, no MFA), carol is disabled.
 *
 * Nothing may crash or leak; every answer has a known status; a redirect
 * goes to a page of this server or to client 1's registered redirect
 * URI; and nobody is signed in (a code for the client, or an SSO session
 * cookie) by a post whose password is not alice's or bob's.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
#include "oidc/flow.h"
#include "oidc/oidc.h"
#include "server.h"
#include "session/session.h"
#include "web/page.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ISSUER	   "http://127.0.0.1:8080"
#define REDIRECT   "https://crm.example.com/cb"
#define PASS_ALICE "alice's long passphrase"
#define PASS_BOB   "bob's other passphrase"
#define CALLS_MAX  3
#define FORM_MAX   ((size_t)16 * 1024)

struct world {
	af_server srv;
	char client[AF_DIR_CLIENT_ID_BUF];
	char flow[128], csrf[128];
	char cookie[512]; /* the flow's binding cookie, "name=value" */
	int logfd;
};

static void add_user(struct world *w, const char *name, const char *pass,
		     int enabled)
{
	json_t *spec =
		json_pack("{s:s, s:b}", "username", name, "enabled", enabled);

	if (spec == NULL || af_dir_user_add(w->srv.dir, "fuzz", spec, pass,
					    NULL, NULL, 0) != AF_DIR_OK)
		abort();
	json_decref(spec);
}

/* The value of header name of resp, or NULL. */
static const char *header(const af_resp *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

static void request(af_req *req, const char *method, const char *path,
		    const char *query, const char **headers)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->path = path;
	if (hp_params_parse(query, strlen(query), &req->query) != HP_OK)
		abort();
	req->test_headers = headers;
	snprintf(req->rid, sizeof(req->rid), "fuzz");
}

/* Copies the text after "mark" in s, up to stop, into out. */
static void copy_after(const char *s, const char *mark, char stop, char *out,
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

/* Begins a sign-in as a browser would: its flow, cookie and CSRF token. */
static void begin(struct world *w)
{
	const char *cookie_hdr[3] = {"Cookie", w->cookie, NULL};
	char query[1024], *body;
	af_resp resp;
	af_req req;

	snprintf(query, sizeof(query),
		 "response_type=code&client_id=%s&redirect_uri=%s&scope="
		 "openid&state=s1&nonce=n1",
		 w->client, "https%3A%2F%2Fcrm.example.com%2Fcb");
	request(&req, "GET", "/authorize", query, NULL);
	af_resp_init(&resp, 0);
	af_h_authorize(&w->srv, &req, &resp);
	hp_params_free(req.query);
	copy_after(header(&resp, "Location"), "flow=", '\0', w->flow,
		   sizeof(w->flow));
	copy_after(header(&resp, "Set-Cookie"), "", ';', w->cookie,
		   sizeof(w->cookie));
	af_resp_cleanup(&resp);
	snprintf(query, sizeof(query), "flow=%s", w->flow);
	request(&req, "GET", "/login", query, cookie_hdr);
	af_resp_init(&resp, 0);
	af_h_login_get(&w->srv, &req, &resp);
	hp_params_free(req.query);
	body = strndup(resp.body.data != NULL ? resp.body.data : "",
		       resp.body.len);
	if (body == NULL)
		abort();
	copy_after(body, "name=\"csrf\" value=\"", '"', w->csrf,
		   sizeof(w->csrf));
	free(body);
	af_resp_cleanup(&resp);
}

static void world_open(struct world *w)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	char secret[AF_DIR_SECRET_BUF];
	json_t *spec, *app = NULL;
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
	w->srv.log = log_new(w->logfd, LOG_LEVEL_ERROR);
	if (w->srv.log == NULL)
		abort();
	add_user(w, "alice", PASS_ALICE, 1);
	add_user(w, "bob", PASS_BOB, 1);
	add_user(w, "carol", PASS_ALICE, 0);
	spec = json_pack("{s:s, s:b, s:{s:[s, s, s]}}", "name", "std", "sso", 1,
			 "assigned", "users", "alice", "bob", "carol");
	if (spec == NULL ||
	    af_dir_policy_add(w->srv.dir, "fuzz", spec, NULL, 0) != AF_DIR_OK)
		abort();
	json_decref(spec);
	spec = json_pack("{s:s, s:[s], s:{s:s}}", "name", "crm",
			 "redirect_uris", REDIRECT, "deployment", "mode",
			 "all");
	if (spec == NULL ||
	    af_dir_app_add(w->srv.dir, "fuzz", spec, &app, secret,
			   sizeof(secret), NULL, 0) != AF_DIR_OK)
		abort();
	OPENSSL_cleanse(secret, sizeof(secret));
	snprintf(w->client, sizeof(w->client), "%s",
		 json_string_value(json_object_get(app, "client_id")));
	json_decref(app);
	json_decref(spec);
	begin(w);
}

static void world_close(struct world *w)
{
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
			case 'F':
				v = w->flow;
				break;
			case 'C':
				v = w->csrf;
				break;
			case 'P':
				v = PASS_ALICE;
				break;
			case 'Q':
				v = PASS_BOB;
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

static void check_answer(const af_req *req, const af_resp *resp)
{
	const char *password = af_req_param(req, "password");
	int signed_in = 0;
	const char *v;
	size_t i;

	if (resp->status != 200 && resp->status != 302 && resp->status != 303 &&
	    resp->status != 400 && resp->status != 401 && resp->status != 403 &&
	    resp->status != 429 && resp->status != 503)
		abort();
	for (i = 0; i < resp->nheaders; i++) {
		v = resp->headers[i].value;
		if (strcasecmp(resp->headers[i].name, "Location") == 0) {
			if (strncmp(v, REDIRECT "?", strlen(REDIRECT) + 1) == 0)
				signed_in |= strstr(v, "code=") != NULL;
			else if (v[0] != '/' || v[1] == '/' || v[1] == '\\')
				abort();
		}
		if (strcasecmp(resp->headers[i].name, "Set-Cookie") == 0 &&
		    strncmp(v, AF_SESSION_COOKIE "=",
			    strlen(AF_SESSION_COOKIE) + 1) == 0 &&
		    v[strlen(AF_SESSION_COOKIE) + 1] != ';')
			signed_in = 1;
	}
	if (signed_in &&
	    (password == NULL || (strcmp(password, PASS_ALICE) != 0 &&
				  strcmp(password, PASS_BOB) != 0)))
		abort();
}

static void post(struct world *w, unsigned flags, const char *text, size_t len)
{
	const char *headers[5] = {"Content-Type",
				  "application/x-www-form-urlencoded", NULL};
	af_resp resp;
	hp_status st;
	af_req req;
	af_buf b;

	af_buf_init(&b, FORM_MAX);
	expand(w, text, len, &b);
	memset(&req, 0, sizeof(req));
	st = b.failed ? HP_ERR_TOO_BIG
		      : hp_params_parse(b.data, b.len, &req.form);
	if (st == HP_OK || st == HP_ERR_DUPLICATE) {
		if (flags & 0x01) {
			headers[2] = "Cookie";
			headers[3] = w->cookie;
		}
		req.method = "POST";
		req.path = "/login";
		req.query = hp_params_new();
		req.duplicate_param = st == HP_ERR_DUPLICATE;
		req.test_headers = headers;
		req.body = b.data;
		req.body_len = b.len;
		snprintf(req.rid, sizeof(req.rid), "fuzz");
		if (req.query == NULL)
			abort();
		af_resp_init(&resp, 0);
		if (af_h_login_post_early(&w->srv, &req, &resp) !=
		    AF_EARLY_ANSWERED) {
			af_resp_cleanup(&resp);
			af_resp_init(&resp, 0);
			af_h_login_post(&w->srv, &req, &resp);
		}
		check_answer(&req, &resp);
		af_resp_cleanup(&resp);
	}
	hp_params_free(req.query);
	hp_params_free(req.form);
	af_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *stop;
	struct world w;
	unsigned flags;
	int calls = 0;

	world_open(&w);
	while (p < end && calls++ < CALLS_MAX) {
		flags = (unsigned char)*p++;
		stop = memchr(p, '\0', (size_t)(end - p));
		if (stop == NULL)
			stop = end;
		post(&w, flags, p, (size_t)(stop - p));
		p = stop < end ? stop + 1 : end;
	}
	world_close(&w);
	return 0;
}
