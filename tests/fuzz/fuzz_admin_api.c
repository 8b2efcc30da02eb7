/*
 * Fuzz target: the admin API (/admin/v1/...), called by a superadmin, an
 * admin, or with a wrong token. The input is a short list of requests,
 * each ended by a NUL byte: a method byte (its value modulo 6 picks GET,
 * POST, PATCH, PUT, DELETE or HEAD; divided by 6, modulo 3, the caller:
 * the superadmin, an admin, a wrong token; the first request's divided by
 * 18, when odd: the client address has given so many wrong tokens before
 * that it waits), the path after /admin/v1/
 * with an optional query, up to a newline, then the JSON body (none when
 * empty). They run in order on a
 * fresh memory store that already holds a user "alice", a group "staff",
 * an OU "ops", a policy "std" and an application profile "crm", so that
 * changes of things that exist are reached as well as additions.
 *
 * Nothing may crash or leak; every answer is a JSON object with a status
 * the API documents, an error answer carries "error" and "message", and a
 * directory the API changed is still one the directory reads: every
 * user, group, policy and application it lists can be read again. A
 * wrong token gets 401; an admin never succeeds at what only a superadmin
 * may do (policies, application profiles, the workflow, the branding,
 * deploying a profile whose admins_may_deploy is off); and while the
 * address waits every request is refused unchecked, 429, the
 * superadmin's too.
 *
 * Key rotation and retirement are left out: each rotation makes an RSA
 * key, a good part of a second, and the unit tests cover them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin/admin.h"
#include "common/httpparse.h"
#include "common/util.h"
#include "fuzz_world.h"
#include "http/buf.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN	     "fuzz-superadmin-token-5e1d"
#define BEARER	     "Bearer fuzz-superadmin-token-5e1d"
#define ADMIN_TOKEN  "fuzz-admin-token-0c2a"
#define ADMIN_BEARER "Bearer fuzz-admin-token-0c2a"
#define WRONG_BEARER "Bearer fuzz-admin-token-0c2b"
#define CALLS_MAX    8
#define PATH_MAX_LEN ((size_t)512)
#define BODY_MAX     ((size_t)64 * 1024)

static void seed_call(af_server *srv, const char *method, const char *path,
		      const char *body);

static void server_open(fz_world *w)
{
	af_admin_token *t;

	fz_world_open(w, 1);
	t = &w->srv.cfg.admin_tokens[w->srv.cfg.admin_token_count++];
	snprintf(t->name, sizeof(t->name), "%s", "root");
	t->role = AF_ROLE_SUPERADMIN;
	af_sha256(TOKEN, strlen(TOKEN), t->sha256);
	t = &w->srv.cfg.admin_tokens[w->srv.cfg.admin_token_count++];
	snprintf(t->name, sizeof(t->name), "%s", "ops");
	t->role = AF_ROLE_ADMIN;
	af_sha256(ADMIN_TOKEN, strlen(ADMIN_TOKEN), t->sha256);
	seed_call(&w->srv, "POST", "ous", "{\"name\":\"ops\"}");
	seed_call(&w->srv, "POST", "groups", "{\"name\":\"staff\"}");
	seed_call(&w->srv, "POST", "users",
		  "{\"username\":\"alice\",\"password\":\"correct horse "
		  "battery\",\"email\":\"alice@example.com\","
		  "\"groups\":[\"staff\"],\"ous\":[\"ops\"]}");
	seed_call(&w->srv, "POST", "policies",
		  "{\"name\":\"std\",\"sso\":true,\"remote_access\":true,"
		  "\"assigned\":{\"groups\":[\"staff\"]}}");
	seed_call(&w->srv, "POST", "apps",
		  "{\"name\":\"crm\",\"redirect_uris\":[\"https://crm."
		  "example.com/cb\"],\"deployment\":{\"mode\":\"all\"}}");
}

static int status_known(unsigned status)
{
	static const unsigned known[] = {200, 201, 204, 400, 401, 403,
					 404, 405, 409, 413, 429, 503};
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
static unsigned call_as(af_server *srv, const char *bearer, const char *method,
			const char *target, const char *body, size_t body_len)
{
	const char *headers[] = {"Authorization", bearer, "Content-Type",
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
	/* From an address, so that wrong tokens are counted as live. */
	snprintf(req.client_ip, sizeof(req.client_ip), "%s", FZ_CLIENT_IP);
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

static unsigned call(af_server *srv, const char *method, const char *target,
		     const char *body, size_t body_len)
{
	return call_as(srv, BEARER, method, target, body, body_len);
}

/*
 * Whether method on target (after /admin/v1/, a query allowed) is a call
 * only a superadmin may make; deploy counts while no call may have let
 * admins deploy a profile.
 */
static int superadmin_only(const char *method, const char *target,
			   int may_deploy)
{
	char segs[4][PATH_MAX_LEN + 1];
	size_t n = 0, i = 0, k;

	while (n < 4 && target[i] != '\0' && target[i] != '?') {
		for (k = 0;
		     target[i] != '\0' && target[i] != '?' && target[i] != '/';
		     i++)
			segs[n][k++] = target[i];
		segs[n++][k] = '\0';
		if (target[i] == '/')
			i++;
	}
	if (n == 0)
		return 0;
	if (strcmp(segs[0], "workflow") == 0)
		return n == 1 && strcmp(method, "PATCH") == 0;
	if (strcmp(segs[0], "branding") == 0)
		return n == 1 && (strcmp(method, "PATCH") == 0 ||
				  strcmp(method, "DELETE") == 0);
	if (strcmp(segs[0], "policies") == 0)
		return (n == 1 && strcmp(method, "POST") == 0) ||
		       (n == 2 && (strcmp(method, "PATCH") == 0 ||
				   strcmp(method, "DELETE") == 0));
	if (strcmp(segs[0], "apps") != 0)
		return 0;
	if (n == 1)
		return strcmp(method, "POST") == 0;
	if (n == 2)
		return strcmp(method, "PATCH") == 0 ||
		       strcmp(method, "DELETE") == 0;
	if (n == 3 && strcmp(method, "POST") == 0)
		return strcmp(segs[2], "rotate-secret") == 0 ||
		       (!may_deploy && (strcmp(segs[2], "deploy") == 0 ||
					strcmp(segs[2], "undeploy") == 0));
	return n == 3 && strcmp(method, "DELETE") == 0 &&
	       strcmp(segs[2], "previous-secret") == 0;
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

/* Whether the len bytes of text hold word. */
static int memmem_text(const char *text, size_t len, const char *word)
{
	size_t n = strlen(word), i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(text + i, word, n) == 0)
			return 1;
	return 0;
}

static const char *const methods[] = {"GET", "POST",   "PATCH",
				      "PUT", "DELETE", "HEAD"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const bearers[] = {BEARER, ADMIN_BEARER,
					      WRONG_BEARER};
	const char *p = (const char *)data, *end = p + size, *text, *nl;
	char target[PATH_MAX_LEN + 1];
	size_t len, plen;
	unsigned method, who, st;
	int calls = 0, may_deploy = 0, held = 0;
	fz_world w;

	server_open(&w);
	while (calls++ < CALLS_MAX && fz_next(&p, end, &method, &text, &len)) {
		nl = memchr(text, '\n', len);
		plen = nl != NULL ? (size_t)(nl - text) : len;
		if (plen > PATH_MAX_LEN || len - plen > BODY_MAX ||
		    (plen >= 4 && memcmp(text, "keys", 4) == 0))
			continue;
		memcpy(target, text, plen);
		target[plen] = '\0';
		if (calls == 1 && (method / 18) % 2 == 1) {
			fz_door_held(&w, AF_THROTTLE_ADMIN);
			held = 1;
		}
		who = (method / 6) % 3;
		/* Any call may have let admins deploy: not judged after. */
		if (memmem_text(text, len, "admins_may_deploy"))
			may_deploy = 1;
		st = call_as(&w.srv, bearers[who], methods[method % 6], target,
			     nl != NULL ? nl + 1 : text + len,
			     nl != NULL ? len - plen - 1 : 0);
		if (held && st != 429)
			abort();
		if ((!held && who == 2 && st != 401) ||
		    (who == 1 && st >= 200 && st < 300 &&
		     superadmin_only(methods[method % 6], target, may_deploy)))
			abort();
	}
	/* While the address waits the read-back is refused too. */
	if (!held) {
		lists_read_back(&w.srv, "users", "users", "username");
		lists_read_back(&w.srv, "groups", "groups", "name");
		lists_read_back(&w.srv, "policies", "policies", "name");
		lists_read_back(&w.srv, "apps", "apps", "client_id");
	}
	fz_world_close(&w);
	return 0;
}
