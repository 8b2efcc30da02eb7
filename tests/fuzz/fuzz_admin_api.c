/*
 * Fuzz target: the admin API (/admin/v1/...), called by a superadmin.
 * The input is a short list of requests, each ended by a NUL byte: a
 * method byte (its value modulo 6 picks GET, POST, PATCH, PUT, DELETE or
 * HEAD), the path after /admin/v1/ with an optional query, up to a
 * newline, then the JSON body (none when empty). They run in order on a
 * fresh memory store that already holds a user "alice", a group "staff",
 * an OU "ops", a policy "std" and an application profile "crm", so that
 * changes of things that exist are reached as well as additions.
 *
 * Nothing may crash or leak; every answer is a JSON object with a status
 * the API documents, an error answer carries "error" and "message", and a
 * directory the API changed is still one the directory reads: every
 * user, group, policy and application it lists can be read again.
 *
 * Key rotation and retirement are left out (each rotation makes an RSA
 * key: seconds of fuzzing each, covered by the unit tests).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "admin/admin.h"
#include "common/httpparse.h"
#include "common/jose.h"
#include "common/log.h"
#include "common/store.h"
#include "common/util.h"
#include "directory/directory.h"
#include "http/buf.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN	     "fuzz-superadmin-token-5e1d"
#define BEARER	     "Bearer fuzz-superadmin-token-5e1d"
#define CALLS_MAX    8
#define PATH_MAX_LEN ((size_t)512)
#define BODY_MAX     ((size_t)64 * 1024)

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

static void seed_call(af_server *srv, const char *method, const char *path,
		      const char *body);

static void server_open(af_server *srv, int logfd)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_admin_token *t;
	af_dir_options o;

	memset(srv, 0, sizeof(*srv));
	af_config_defaults(&srv->cfg);
	snprintf(srv->cfg.issuer, sizeof(srv->cfg.issuer), "%s",
		 "http://127.0.0.1:8080");
	t = &srv->cfg.admin_tokens[srv->cfg.admin_token_count++];
	snprintf(t->name, sizeof(t->name), "%s", "root");
	t->role = AF_ROLE_SUPERADMIN;
	af_sha256(TOKEN, strlen(TOKEN), t->sha256);
	af_dir_options_default(&o);
	o.pw.m_kib = 8;
	o.pw.t = 1;
	o.pw.p = 1;
	if (store_open(&so, &srv->store, NULL, 0) != STORE_OK ||
	    pthread_rwlock_init(&srv->admin_lock, NULL) != 0 ||
	    af_dir_new(srv->store, &o, &srv->dir, NULL, 0) != AF_DIR_OK)
		abort();
	srv->keys = keyring();
	srv->log = log_new(logfd, LOG_LEVEL_ERROR);
	if (srv->log == NULL)
		abort();
	seed_call(srv, "POST", "ous", "{\"name\":\"ops\"}");
	seed_call(srv, "POST", "groups", "{\"name\":\"staff\"}");
	seed_call(srv, "POST", "users",
		  "{\"username\":\"alice\",\"password\":\"correct horse "
		  "battery\",\"email\":\"alice@example.com\","
		  "\"groups\":[\"staff\"],\"ous\":[\"ops\"]}");
	seed_call(srv, "POST", "policies",
		  "{\"name\":\"std\",\"sso\":true,\"remote_access\":true,"
		  "\"assigned\":{\"groups\":[\"staff\"]}}");
	seed_call(srv, "POST", "apps",
		  "{\"name\":\"crm\",\"redirect_uris\":[\"https://crm."
		  "example.com/cb\"],\"deployment\":{\"mode\":\"all\"}}");
}

static void server_close(af_server *srv)
{
	log_free(srv->log);
	af_dir_free(srv->dir);
	store_close(srv->store);
	pthread_rwlock_destroy(&srv->admin_lock);
}

static int status_known(unsigned status)
{
	static const unsigned known[] = {200, 201, 204, 400, 401, 403,
					 404, 405, 409, 413, 503};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (status == known[i])
			return 1;
	return 0;
}

/*
 * One request; returns its status. The answer must be a JSON object (or
 * nothing, for 204 and HEAD), and an error must say what it is.
 */
static unsigned call(af_server *srv, const char *method, const char *target,
		     const char *body, size_t body_len)
{
	const char *headers[] = {"Authorization", BEARER, "Content-Type",
				 "application/json", NULL};
	char path[PATH_MAX_LEN + 16];
	const char *q = strchr(target, '?');
	size_t plen = q != NULL ? (size_t)(q - target) : strlen(target);
	json_t *answer = NULL;
	unsigned status;
	af_resp resp;
	af_req req;

	memset(&req, 0, sizeof(req));
	(void)snprintf(path, sizeof(path), "/admin/v1/%.*s", (int)plen, target);
	req.method = method;
	req.path = path;
	if (q == NULL ||
	    hp_params_parse(q + 1, strlen(q + 1), &req.query) != HP_OK) {
		hp_params_free(req.query);
		req.query = hp_params_new();
	}
	if (req.query == NULL)
		abort();
	if (body_len > 0) {
		req.body = body;
		req.body_len = body_len;
	}
	req.test_headers = headers;
	snprintf(req.rid, sizeof(req.rid), "fuzz");
	af_resp_init(&resp, 0);
	af_h_admin(srv, &req, &resp);
	hp_params_free(req.query);
	status = resp.status;
	if (!status_known(status))
		abort();
	if (resp.body.len > 0) {
		answer = json_loadb(resp.body.data, resp.body.len, 0, NULL);
		if (!json_is_object(answer))
			abort();
		if (status >= 400 &&
		    (!json_is_string(json_object_get(answer, "error")) ||
		     !json_is_string(json_object_get(answer, "message"))))
			abort();
	} else if (status != 204 && strcmp(method, "HEAD") != 0) {
		abort();
	}
	json_decref(answer);
	af_resp_cleanup(&resp);
	return status;
}

static void seed_call(af_server *srv, const char *method, const char *path,
		      const char *body)
{
	unsigned st = call(srv, method, path, body, strlen(body));

	if (st != 200 && st != 201)
		abort();
}

/* Every entry of the list at path (under key, by field) reads again. */
static void lists_read_back(af_server *srv, const char *path, const char *key,
			    const char *field)
{
	const char *headers[] = {"Authorization", BEARER, NULL};
	char full[64];
	json_t *answer, *v;
	const char *name;
	af_resp resp;
	af_req req;
	af_buf one;
	size_t i;

	memset(&req, 0, sizeof(req));
	(void)snprintf(full, sizeof(full), "/admin/v1/%s", path);
	req.method = "GET";
	req.path = full;
	req.query = hp_params_new();
	req.test_headers = headers;
	snprintf(req.rid, sizeof(req.rid), "fuzz");
	if (req.query == NULL)
		abort();
	af_resp_init(&resp, 0);
	af_h_admin(srv, &req, &resp);
	hp_params_free(req.query);
	answer = json_loadb(resp.body.data, resp.body.len, 0, NULL);
	if (resp.status != 200 || !json_is_array(json_object_get(answer, key)))
		abort();
	af_resp_cleanup(&resp);
	json_array_foreach(json_object_get(answer, key), i, v)
	{
		name = json_is_string(v)
			       ? json_string_value(v)
			       : json_string_value(json_object_get(v, field));
		if (name == NULL)
			abort();
		af_buf_init(&one, 4 * PATH_MAX_LEN);
		af_buf_printf(&one, "%s/", path);
		af_buf_urlenc(&one, name);
		if (one.failed || one.len > PATH_MAX_LEN ||
		    call(srv, "GET", one.data, "", 0) != 200)
			abort();
		af_buf_cleanup(&one);
	}
	json_decref(answer);
}

static const char *const methods[] = {"GET", "POST",   "PATCH",
				      "PUT", "DELETE", "HEAD"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *stop, *nl;
	char target[PATH_MAX_LEN + 1];
	af_server srv;
	int logfd, calls = 0;
	size_t plen;

	logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (logfd < 0)
		abort();
	server_open(&srv, logfd);
	while (p < end && calls++ < CALLS_MAX) {
		const char *method = methods[(unsigned char)*p % 6];

		p++;
		stop = memchr(p, '\0', (size_t)(end - p));
		if (stop == NULL)
			stop = end;
		nl = memchr(p, '\n', (size_t)(stop - p));
		if (nl == NULL)
			nl = stop;
		plen = (size_t)(nl - p);
		if (plen <= PATH_MAX_LEN && memchr(p, '\0', plen) == NULL &&
		    !(plen >= 4 && memcmp(p, "keys", 4) == 0) &&
		    (size_t)(stop - nl) <= BODY_MAX) {
			memcpy(target, p, plen);
			target[plen] = '\0';
			(void)call(&srv, method, target,
				   nl < stop ? nl + 1 : nl,
				   nl < stop ? (size_t)(stop - nl - 1) : 0);
		}
		p = stop < end ? stop + 1 : end;
	}
	lists_read_back(&srv, "users", "users", "username");
	lists_read_back(&srv, "groups", "groups", "name");
	lists_read_back(&srv, "policies", "policies", "name");
	lists_read_back(&srv, "apps", "apps", "client_id");
	server_close(&srv);
	close(logfd);
	return 0;
}
