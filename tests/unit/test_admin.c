/*
 * Unit tests of the admin API: af_h_admin() on a server context built by
 * hand (memory store, a 2048-bit key ring, a cheap Argon2 cost), called
 * with hand-made requests whose headers travel in test_headers.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>

#include "admin/admin.h"
#include "common/util.h"
#include "directory/directory.h"
#include "directory/signins.h"
#include "directory/throttle.h"
#include "http/buf.h"
#include "http/metrics.h"
#include "mfa/mfa.h"
#include "mfa/mfa_internal.h"
#include "server.h"
#include "session/session.h"

/* A session without a timeout ends a week after its sign-in. */
#define WEEK_S ((int64_t)7 * 86400)
#define ISSUER "http://127.0.0.1:8080"
#define SUPER  "super-token-8f1c2e"
#define ADMIN  "admin-token-77d0aa"
#define URI_OK "https://tenant.example.com/login/callback"
/* A valid P-256 public key (the curve's generator), for a test device. */
#define JWK_X  "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY"
#define JWK_Y  "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"

/* The key ring is slow to make: one for the whole run, in its own store. */
struct group {
	store_ctx *keystore;
	af_keyring *keys;
};

struct fx {
	af_server srv;
	int logfd;
	af_resp resp;
	int have_resp;
	json_t *answer; /* the last answer's JSON */
};

static int group_setup(void **state)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_keyring_options ko = {.rsa_bits = 2048,
				 .lifetime_days = 90,
				 .alert_days = 30,
				 .max_token_lifetime_s = 600};
	struct group *g = calloc(1, sizeof(*g));
	char err[128];

	assert_non_null(g);
	assert_int_equal(store_open(&so, &g->keystore, err, sizeof(err)),
			 STORE_OK);
	assert_int_equal(af_keyring_open(g->keystore, &ko, &g->keys), JOSE_OK);
	*state = g;
	return 0;
}

static int group_teardown(void **state)
{
	struct group *g = *state;

	af_keyring_free(g->keys);
	store_close(g->keystore);
	free(g);
	return 0;
}

static void add_token(af_config *cfg, const char *name, af_admin_role role,
		      const char *token)
{
	af_admin_token *t = &cfg->admin_tokens[cfg->admin_token_count++];

	snprintf(t->name, sizeof(t->name), "%s", name);
	t->role = role;
	af_sha256(token, strlen(token), t->sha256);
}

static int setup(void **state)
{
	struct group *g = *state;
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_dir_options o;
	struct fx *f = calloc(1, sizeof(*f));
	char err[AF_DIR_ERR_BUF];

	assert_non_null(f);
	af_config_defaults(&f->srv.cfg);
	snprintf(f->srv.cfg.issuer, sizeof(f->srv.cfg.issuer), "%s", ISSUER);
	add_token(&f->srv.cfg, "root", AF_ROLE_SUPERADMIN, SUPER);
	add_token(&f->srv.cfg, "helpdesk", AF_ROLE_ADMIN, ADMIN);
	assert_int_equal(store_open(&so, &f->srv.store, err, sizeof(err)),
			 STORE_OK);
	assert_int_equal(pthread_rwlock_init(&f->srv.admin_lock, NULL), 0);
	f->srv.keys = g->keys;
	af_dir_options_default(&o);
	o.pw.m_kib = 64;
	o.pw.t = 1;
	o.pw.p = 1;
	assert_int_equal(
		af_dir_new(f->srv.store, &o, &f->srv.dir, err, sizeof(err)),
		AF_DIR_OK);
	f->logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(f->logfd >= 0);
	f->srv.log = log_new(f->logfd, LOG_LEVEL_DEBUG);
	assert_non_null(f->srv.log);
	*state = f;
	return 0;
}

static void drop_resp(struct fx *f)
{
	if (f->have_resp)
		af_resp_cleanup(&f->resp);
	f->have_resp = 0;
	json_decref(f->answer);
	f->answer = NULL;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	drop_resp(f);
	log_free(f->srv.log);
	close(f->logfd);
	af_dir_free(f->srv.dir);
	store_close(f->srv.store);
	pthread_rwlock_destroy(&f->srv.admin_lock);
	free(f);
	return 0;
}

/*
 * One request: token NULL sends no Authorization header; query is a raw
 * query string or NULL; body a JSON text or NULL. Returns the status and
 * keeps the parsed answer in f->answer.
 */
static unsigned call_ct(struct fx *f, const char *token, const char *method,
			const char *path, const char *query, const char *body,
			const char *ctype)
{
	char auth[256];
	const char *headers[5] = {NULL};
	size_t nh = 0;
	af_req req;

	drop_resp(f);
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = path;
	if (query != NULL)
		assert_int_equal(
			hp_params_parse(query, strlen(query), &req.query),
			HP_OK);
	else
		req.query = hp_params_new();
	assert_non_null(req.query);
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		headers[nh++] = "Authorization";
		headers[nh++] = auth;
	}
	if (body != NULL) {
		headers[nh++] = "Content-Type";
		headers[nh++] = ctype;
		req.body = body;
		req.body_len = strlen(body);
	}
	req.test_headers = headers;
	snprintf(req.rid, sizeof(req.rid), "test");
	af_resp_init(&f->resp, 0);
	f->have_resp = 1;
	af_h_admin(&f->srv, &req, &f->resp);
	hp_params_free(req.query);
	assert_string_equal(f->resp.content_type, "application/json");
	f->answer = json_loadb(f->resp.body.data, f->resp.body.len, 0, NULL);
	assert_non_null(f->answer);
	return f->resp.status;
}

static unsigned call(struct fx *f, const char *token, const char *method,
		     const char *path, const char *body)
{
	return call_ct(f, token, method, path, NULL, body, "application/json");
}

static const char *answer_str(const struct fx *f, const char *key)
{
	return json_string_value(json_object_get(f->answer, key));
}

static void assert_error(const struct fx *f, const char *code)
{
	assert_non_null(answer_str(f, "error"));
	assert_string_equal(answer_str(f, "error"), code);
	assert_non_null(answer_str(f, "message"));
}

static void add_alice(struct fx *f)
{
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/users",
			      "{\"username\": \"alice\", \"name\": \"Alice\","
			      " \"password\": \"first-pass-123\"}"),
			 201);
}

/* Adds an app; the client id goes to id, the secret to secret. */
static void add_app(struct fx *f, const char *name, int admins_may_deploy,
		    char *id, size_t idcap, char *secret, size_t secretcap)
{
	char body[512];

	snprintf(body, sizeof(body),
		 "{\"name\": \"%s\", \"redirect_uris\": [\"%s\"], "
		 "\"admins_may_deploy\": %s}",
		 name, URI_OK, admins_may_deploy ? "true" : "false");
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps", body), 201);
	snprintf(id, idcap, "%s", answer_str(f, "client_id"));
	snprintf(secret, secretcap, "%s", answer_str(f, "client_secret"));
}

static void test_admin_no_token_401(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call(f, NULL, "GET", "/admin/v1/status", NULL), 401);
	assert_error(f, "unauthorized");
	assert_string_equal(af_resp_header_get(&f->resp, "WWW-Authenticate"),
			    "Bearer realm=\"authflow-admin\"");
	/* Unknown paths say nothing to a caller without a token. */
	assert_int_equal(call(f, NULL, "GET", "/admin/v1/nothing", NULL), 401);
}

static void test_admin_bad_token_401(void **state)
{
	struct fx *f = *state;

	assert_int_equal(
		call(f, "not-a-known-token", "GET", "/admin/v1/status", NULL),
		401);
	assert_error(f, "unauthorized");
	assert_non_null(af_resp_header_get(&f->resp, "WWW-Authenticate"));
	assert_int_equal(call(f, "bad token with spaces", "GET",
			      "/admin/v1/status", NULL),
			 401);
}

static void test_status_counts_users_and_apps(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64];
	json_t *store;

	add_alice(f);
	add_app(f, "qlik", 0, id, sizeof(id), secret, sizeof(secret));
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/status", NULL), 200);
	assert_string_equal(answer_str(f, "issuer"), ISSUER);
	assert_string_equal(answer_str(f, "version"), "0.1.0");
	store = json_object_get(f->answer, "store");
	assert_string_equal(
		json_string_value(json_object_get(store, "backend")), "memory");
	assert_true(json_is_true(json_object_get(store, "ok")));
	assert_int_equal(
		json_integer_value(json_object_get(f->answer, "users")), 1);
	assert_int_equal(json_integer_value(json_object_get(f->answer, "apps")),
			 1);
	assert_non_null(json_object_get(json_object_get(f->answer, "keys"),
					"signing_kid"));
}

static void test_user_add_show_list_set_remove(void **state)
{
	struct fx *f = *state;
	json_t *user = NULL;

	add_alice(f);
	assert_null(json_object_get(f->answer, "password"));
	assert_true(json_is_true(json_object_get(f->answer, "password_set")));
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/users",
			      "{\"username\": \"alice\"}"),
			 409);
	assert_error(f, "conflict");

	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 200);
	assert_string_equal(answer_str(f, "name"), "Alice");
	assert_true(json_is_false(json_object_get(f->answer, "locked")));

	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 1);
	/* Each with the policy that decides the user's sign-in (none). */
	assert_true(json_is_null(json_object_get(
		json_array_get(json_object_get(f->answer, "users"), 0),
		"policy")));
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/policies",
			      "{\"name\": \"remote\", \"sso\": true, "
			      "\"remote_access\": true, "
			      "\"assigned\": {\"users\": [\"alice\"]}}"),
			 201);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users", NULL), 200);
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(f->answer, "users"), 0),
			"policy")),
		"remote");

	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/alice",
			      "{\"name\": \"Alice Liddell\"}"),
			 200);
	assert_string_equal(answer_str(f, "name"), "Alice Liddell");
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/alice",
			      "{\"password\": \"sneaky-1234\"}"),
			 400);
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/alice",
			      "{\"email\": \"not an address\"}"),
			 400);
	assert_error(f, "bad_request");
	assert_non_null(strstr(answer_str(f, "message"), "email"));
	/* A change of nothing is refused, and so leaves no audit event. */
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/alice", "{}"),
			 400);
	assert_non_null(strstr(answer_str(f, "message"), "nothing to change"));

	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/users/alice", NULL), 200);
	assert_true(json_is_true(json_object_get(f->answer, "ok")));
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 404);
	assert_error(f, "not_found");
	assert_int_equal(af_dir_user_get(f->srv.dir, "alice", &user),
			 AF_DIR_NOT_FOUND);
}

static void test_user_passwd_changes_password(void **state)
{
	struct fx *f = *state;
	json_t *user = NULL;

	add_alice(f);
	assert_int_equal(call(f, ADMIN, "PUT", "/admin/v1/users/alice/password",
			      "{\"password\": \"second-pass-456\"}"),
			 200);
	assert_true(json_is_true(json_object_get(f->answer, "ok")));
	assert_int_equal(af_dir_user_login(f->srv.dir, "alice",
					   "second-pass-456", &user),
			 AF_DIR_OK);
	json_decref(user);
	user = NULL;
	assert_int_equal(
		af_dir_user_login(f->srv.dir, "alice", "first-pass-123", &user),
		AF_DIR_MISMATCH);
	json_decref(user);
	assert_int_equal(call(f, ADMIN, "PUT", "/admin/v1/users/alice/password",
			      "{\"password\": 42}"),
			 400);
	/* Malformed: the place is said, not the password around it. */
	assert_int_equal(call(f, ADMIN, "PUT", "/admin/v1/users/alice/password",
			      "{\"password\": \"s3cretPW\\x\"}"),
			 400);
	assert_non_null(strstr(answer_str(f, "message"), "line 1 column"));
	assert_null(strstr(answer_str(f, "message"), "s3cretPW"));
	assert_int_equal(call(f, ADMIN, "PUT", "/admin/v1/users/bob/password",
			      "{\"password\": \"whatever-123\"}"),
			 404);
}

/* A phone (platform none) enrolled for alice: its record. */
static json_t *alice_phone(struct fx *f)
{
	char err[256];
	json_t *spec, *dev = NULL;

	spec = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "platform", "none",
			 "public_key", "kty", "EC", "crv", "P-256", "x", JWK_X,
			 "y", JWK_Y);
	assert_non_null(spec);
	assert_int_equal(af_mfa_device_add(f->srv.store, "alice", spec, &dev,
					   err, sizeof(err)),
			 AF_MFA_OK);
	json_decref(spec);
	return dev;
}

/* How many devices the admin API lists for alice. */
static size_t alice_devices(struct fx *f)
{
	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/users/alice/devices", NULL),
		200);
	return json_array_size(json_object_get(f->answer, "devices"));
}

/* The newest audit event of all (lent from f->answer). */
static json_t *last_event(struct fx *f)
{
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit", "limit=1",
				 NULL, NULL),
			 200);
	return json_array_get(json_object_get(f->answer, "events"), 0);
}

static void test_user_unlock_clears_lock_and_audits(void **state)
{
	struct fx *f = *state;
	json_t *ev, *was;
	int i;

	add_alice(f);
	for (i = 0; i < 12; i++) {
		af_dir_status st =
			af_throttle_fail(f->srv.dir, "alice", NULL, NULL);

		assert_true(st == AF_DIR_OK || st == AF_DIR_LOCKED);
	}
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 200);
	assert_true(json_is_true(json_object_get(f->answer, "locked")));
	assert_int_equal(
		call(f, ADMIN, "POST", "/admin/v1/users/alice/unlock", NULL),
		200);
	assert_int_equal(af_throttle_is_locked(f->srv.dir, "alice"), 0);
	ev = last_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "action")),
			    "user.unlock");
	assert_string_equal(json_string_value(json_object_get(ev, "actor")),
			    "helpdesk");
	/* What it lifted: the lock, and no push pause or limit. */
	was = json_object_get(json_object_get(ev, "detail"), "was");
	assert_true(json_is_true(json_object_get(was, "locked")));
	assert_true(json_is_null(json_object_get(was, "push_paused_until")));
	assert_true(json_is_null(json_object_get(was, "push_limited_until")));
	/* Again, with a push pause running and no lock. */
	assert_int_equal(af_mfa__pause_pushes(f->srv.store, "alice", af_now()),
			 AF_MFA_OK);
	assert_int_equal(
		call(f, ADMIN, "POST", "/admin/v1/users/alice/unlock", NULL),
		200);
	was = json_object_get(json_object_get(last_event(f), "detail"), "was");
	assert_true(json_is_false(json_object_get(was, "locked")));
	assert_true(json_integer_value(json_object_get(
			    was, "push_paused_until")) > af_now());
}

static void test_group_percent_decoded_members(void **state)
{
	struct fx *f = *state;

	add_alice(f);
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/groups",
			      "{\"name\": \"Sales Team\", \"description\": "
			      "\"the sales people\"}"),
			 201);
	assert_string_equal(answer_str(f, "name"), "Sales Team");
	/* {} changes nothing, as every PATCH says. */
	assert_int_equal(
		call(f, ADMIN, "PATCH", "/admin/v1/groups/Sales%20Team", "{}"),
		400);
	assert_string_equal(answer_str(f, "message"),
			    "nothing to change: give at least one field");
	assert_int_equal(call(f, ADMIN, "PUT",
			      "/admin/v1/groups/Sales%20Team/members/alice",
			      NULL),
			 200);
	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/groups/Sales%20Team", NULL),
		200);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(f->answer, "members"), 0)),
			    "alice");
	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/groups/Sales%2", NULL), 400);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/groups/a%00b", NULL),
			 400);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/groups/Nobody", NULL),
			 404);
}

static void test_policy_add_assign_group(void **state)
{
	struct fx *f = *state;
	json_t *groups;

	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/groups",
			      "{\"name\": \"staff\"}"),
			 201);
	/* What a policy asks for is a superadmin's; whom it covers, not. */
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/policies",
			      "{\"name\": \"default\", \"sso\": true, "
			      "\"remote_access\": false}"),
			 403);
	assert_string_equal(answer_str(f, "message"),
			    "creating a policy needs a superadmin token");
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/policies",
			      "{\"name\": \"default\", \"sso\": true, "
			      "\"remote_access\": true}"),
			 201);
	assert_true(json_is_true(json_object_get(f->answer, "sso")));
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/policies/default",
			      "{\"remote_access\": false}"),
			 403);
	assert_string_equal(answer_str(f, "message"),
			    "editing a policy needs a superadmin token");
	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/policies/default", NULL),
		403);
	assert_string_equal(answer_str(f, "message"),
			    "removing a policy needs a superadmin token");
	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/policies/default", NULL), 200);
	assert_true(json_is_true(json_object_get(f->answer, "remote_access")));
	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/policies/default/assign",
			      "{\"group\": \"staff\"}"),
			 200);
	groups = json_object_get(json_object_get(f->answer, "assigned"),
				 "groups");
	assert_int_equal(json_array_size(groups), 1);
	assert_string_equal(json_string_value(json_array_get(groups, 0)),
			    "staff");
	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/policies/default/assign",
			      "{\"group\": \"staff\", \"user\": \"alice\"}"),
			 400);
	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/policies/default/unassign",
			      "{\"group\": \"staff\"}"),
			 200);
	groups = json_object_get(json_object_get(f->answer, "assigned"),
				 "groups");
	assert_int_equal(json_array_size(groups), 0);
}

static void test_app_add_admin_403(void **state)
{
	struct fx *f = *state;

	assert_int_equal(
		call(f, ADMIN, "POST", "/admin/v1/apps",
		     "{\"name\": \"qlik\", \"redirect_uris\": [\"" URI_OK
		     "\"]}"),
		403);
	assert_error(f, "forbidden");
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/apps", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "apps")),
			 0);
	/* The role is checked before the body: a malformed one is 403 too. */
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/apps", "{not json"),
			 403);
	assert_error(f, "forbidden");
	assert_non_null(strstr(answer_str(f, "message"),
			       "creating an application profile"));
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/branding", "[]"),
			 403);
}

static void test_app_add_secret_works_and_metadata_url(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64];

	add_app(f, "qlik", 0, id, sizeof(id), secret, sizeof(secret));
	assert_int_equal(strlen(secret), AF_DIR_SECRET_LEN);
	assert_int_equal(strncmp(id, "af-", 3), 0);
	assert_string_equal(answer_str(f, "metadata_url"),
			    ISSUER "/.well-known/openid-configuration");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(f->answer, "app"), "client_id")),
		id);
	assert_int_equal(
		af_dir_app_check_secret(f->srv.dir, id, secret, NULL, NULL),
		AF_DIR_OK);
	/* By client id and by name; the secret is never shown again. */
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/apps/qlik", NULL),
			 200);
	assert_string_equal(answer_str(f, "client_id"), id);
	assert_null(json_object_get(f->answer, "client_secret"));
	assert_string_equal(answer_str(f, "metadata_url"),
			    ISSUER "/.well-known/openid-configuration");
}

/*
 * backchannel_logout_uri: of the form redirect URIs take, shown by GET,
 * and "" takes it away.
 */
static void test_app_backchannel_logout_uri(void **state)
{
	static const char *const bad[] = {
		"ftp://rp.example.com/bcl",
		"https://rp.example.com/bcl#f",
		"http://rp.example.com/bcl",
		"https://user@rp.example.com/bcl",
		"/bcl",
	};
	struct fx *f = *state;
	char body[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"name\": \"rp%zu\", \"redirect_uris\": [\"%s\"], "
			 "\"backchannel_logout_uri\": \"%s\"}",
			 i, URI_OK, bad[i]);
		assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps", body),
				 400);
		assert_non_null(strstr(answer_str(f, "message"),
				       "backchannel_logout_uri"));
	}
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps",
			      "{\"name\": \"rp\", \"redirect_uris\": [\"" URI_OK
			      "\"], \"backchannel_logout_uri\": 7}"),
			 400);
	snprintf(body, sizeof(body),
		 "{\"name\": \"rp\", \"redirect_uris\": [\"%s\"], "
		 "\"backchannel_logout_uri\": \"https://rp.example.com/bcl\"}",
		 URI_OK);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps", body), 201);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/apps/rp", NULL), 200);
	assert_string_equal(answer_str(f, "backchannel_logout_uri"),
			    "https://rp.example.com/bcl");
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/apps/rp",
			      "{\"backchannel_logout_uri\": "
			      "\"http://127.0.0.1:9000/bcl\"}"),
			 200);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/apps/rp", NULL), 200);
	assert_string_equal(answer_str(f, "backchannel_logout_uri"),
			    "http://127.0.0.1:9000/bcl");
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/apps/rp",
			      "{\"backchannel_logout_uri\": \"\"}"),
			 200);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/apps/rp", NULL), 200);
	assert_null(json_object_get(f->answer, "backchannel_logout_uri"));
	/* An admin token edits no app profile. */
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/apps/rp",
			      "{\"backchannel_logout_uri\": "
			      "\"https://evil.example.com/\"}"),
			 403);
}

static void test_app_rotate_secret_old_refused(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64], path[128], fresh[64];

	add_app(f, "qlik", 0, id, sizeof(id), secret, sizeof(secret));
	snprintf(path, sizeof(path), "/admin/v1/apps/%s/rotate-secret", id);
	assert_int_equal(call(f, ADMIN, "POST", path, NULL), 403);
	assert_int_equal(call(f, SUPER, "POST", path, NULL), 200);
	assert_string_equal(answer_str(f, "client_id"), id);
	snprintf(fresh, sizeof(fresh), "%s", answer_str(f, "client_secret"));
	assert_string_not_equal(fresh, secret);
	assert_int_equal(
		af_dir_app_check_secret(f->srv.dir, id, fresh, NULL, NULL),
		AF_DIR_OK);
	assert_int_equal(
		af_dir_app_check_secret(f->srv.dir, id, secret, NULL, NULL),
		AF_DIR_FORBIDDEN);
}

/*
 * keep_previous_s: the replaced secret works that much longer, said in
 * the answer; DELETE previous-secret ends it (409 when none is kept).
 */
static void test_app_rotate_secret_keep_previous(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64], path[128], drop[128], fresh[64];
	int previous = 0;

	add_app(f, "qlik", 0, id, sizeof(id), secret, sizeof(secret));
	snprintf(path, sizeof(path), "/admin/v1/apps/%s/rotate-secret", id);
	snprintf(drop, sizeof(drop), "/admin/v1/apps/%s/previous-secret", id);
	assert_int_equal(
		call(f, SUPER, "POST", path, "{\"keep_previous_s\":2592001}"),
		400);
	assert_non_null(strstr(answer_str(f, "message"), "keep_previous_s"));
	assert_int_equal(
		call(f, SUPER, "POST", path, "{\"keep_previous_s\":\"1h\"}"),
		400);
	assert_int_equal(call(f, SUPER, "POST", path, "{\"keep\":60}"), 400);
	assert_int_equal(call(f, SUPER, "DELETE", drop, NULL), 409);
	assert_int_equal(
		call(f, SUPER, "POST", path, "{\"keep_previous_s\":3600}"),
		200);
	snprintf(fresh, sizeof(fresh), "%s", answer_str(f, "client_secret"));
	assert_true(json_integer_value(json_object_get(
			    f->answer, "previous_secret_until")) >=
		    af_now() + 3599);
	assert_int_equal(af_dir_app_check_secret(f->srv.dir, id, secret, NULL,
						 &previous),
			 AF_DIR_OK);
	assert_int_equal(previous, 1);
	assert_int_equal(
		af_dir_app_check_secret(f->srv.dir, id, fresh, NULL, &previous),
		AF_DIR_OK);
	assert_int_equal(previous, 0);
	/* Ending it is a superadmin's, as the rotation is. */
	assert_int_equal(call(f, ADMIN, "DELETE", drop, NULL), 403);
	assert_int_equal(call(f, SUPER, "DELETE", drop, NULL), 200);
	assert_string_equal(answer_str(f, "client_id"), id);
	assert_null(json_object_get(f->answer, "previous_secret_until"));
	assert_int_equal(
		af_dir_app_check_secret(f->srv.dir, id, secret, NULL, NULL),
		AF_DIR_FORBIDDEN);
	assert_int_equal(call(f, SUPER, "DELETE", drop, NULL), 409);
}

static const char *deploy_mode(const struct fx *f)
{
	return json_string_value(json_object_get(
		json_object_get(f->answer, "deployment"), "mode"));
}

static void test_app_deploy_admin_needs_admins_may_deploy(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64];

	add_app(f, "locked-down", 0, id, sizeof(id), secret, sizeof(secret));
	add_app(f, "open", 1, id, sizeof(id), secret, sizeof(secret));
	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/apps/locked-down/deploy",
			      "{\"all\": true}"),
			 403);
	assert_error(f, "forbidden");
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/apps/open/deploy",
			      "{\"all\": true}"),
			 200);
	assert_string_equal(deploy_mode(f), "all");
}

/*
 * Removing a group or OU undeploys every profile deployed to it: an admin
 * may not do that to a profile it may not undeploy; a superadmin may.
 */
static void
test_group_removal_undeploying_locked_profile_superadmin(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64];

	add_app(f, "payroll", 0, id, sizeof(id), secret, sizeof(secret));
	add_app(f, "wiki", 1, id, sizeof(id), secret, sizeof(secret));
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/groups",
			      "{\"name\": \"finance\"}"),
			 201);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/groups",
			      "{\"name\": \"readers\"}"),
			 201);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/ous",
			      "{\"name\": \"north\"}"),
			 201);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps/payroll/deploy",
			      "{\"groups\": [\"finance\"], \"ous\": "
			      "[\"north\"]}"),
			 200);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps/wiki/deploy",
			      "{\"groups\": [\"readers\"]}"),
			 200);
	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/groups/finance", NULL),
		403);
	assert_error(f, "forbidden");
	assert_non_null(strstr(answer_str(f, "message"), "payroll"));
	assert_int_equal(call(f, ADMIN, "DELETE", "/admin/v1/ous/north", NULL),
			 403);
	/* Nothing changed: the group and the deployment are still there. */
	assert_int_equal(
		call(f, SUPER, "GET", "/admin/v1/groups/finance", NULL), 200);
	assert_int_equal(call(f, SUPER, "GET", "/admin/v1/apps/payroll", NULL),
			 200);
	assert_int_equal(
		json_array_size(json_object_get(
			json_object_get(f->answer, "deployment"), "groups")),
		1);
	/* A profile an admin may undeploy holds nothing back. */
	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/groups/readers", NULL),
		200);
	assert_int_equal(
		call(f, SUPER, "DELETE", "/admin/v1/groups/finance", NULL),
		200);
	assert_int_equal(call(f, SUPER, "DELETE", "/admin/v1/ous/north", NULL),
			 200);
}

/* One unknown name in a deploy changes nothing, not even the good ones. */
static void test_app_deploy_unknown_name_400_nothing_deployed(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64];

	add_app(f, "portal", 0, id, sizeof(id), secret, sizeof(secret));
	add_alice(f);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/groups",
			      "{\"name\": \"staff\"}"),
			 201);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps/portal/deploy",
			      "{\"groups\": [\"staff\"], \"users\": "
			      "[\"alice\", \"nobody\"]}"),
			 400);
	assert_error(f, "bad_request");
	assert_non_null(strstr(answer_str(f, "message"), "nobody"));
	assert_int_equal(call(f, SUPER, "GET", "/admin/v1/apps/portal", NULL),
			 200);
	assert_string_equal(deploy_mode(f), "none");
	assert_int_equal(
		json_array_size(json_object_get(
			json_object_get(f->answer, "deployment"), "groups")),
		0);
	/* Undeploying a name that is gone is fine: stale names can go. */
	assert_int_equal(call(f, SUPER, "POST",
			      "/admin/v1/apps/portal/undeploy",
			      "{\"users\": [\"nobody\"]}"),
			 200);
}

static void test_app_deploy_full_list_409_nothing_deployed(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64];
	json_t *body = json_pack("{s:[]}", "domains");
	char name[64], *text;
	int i;

	add_app(f, "crm", 0, id, sizeof(id), secret, sizeof(secret));
	for (i = 0; i < AF_DIR_ASSIGNED_MAX - 1; i++) {
		snprintf(name, sizeof(name), "d%d.example.com", i);
		json_array_append_new(json_object_get(body, "domains"),
				      json_string(name));
	}
	text = json_dumps(body, JSON_COMPACT);
	assert_int_equal(
		call(f, SUPER, "POST", "/admin/v1/apps/crm/deploy", text), 200);
	free(text);
	/* Two more would pass the limit: refused before either is added. */
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps/crm/deploy",
			      "{\"domains\": [\"new1.example.com\", "
			      "\"new2.example.com\"]}"),
			 409);
	assert_int_equal(call(f, SUPER, "GET", "/admin/v1/apps/crm", NULL),
			 200);
	assert_int_equal(
		json_array_size(json_object_get(
			json_object_get(f->answer, "deployment"), "domains")),
		AF_DIR_ASSIGNED_MAX - 1);
	/* Names already there take no room. */
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps/crm/deploy",
			      "{\"domains\": [\"d1.example.com\", "
			      "\"new1.example.com\"]}"),
			 200);
	json_decref(body);
}

static void test_app_deploy_all_then_undeploy(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64], path[128];

	add_alice(f);
	add_app(f, "qlik", 0, id, sizeof(id), secret, sizeof(secret));
	snprintf(path, sizeof(path), "/admin/v1/apps/%s/deploy", id);
	assert_int_equal(call(f, SUPER, "POST", path, "{\"all\": true}"), 200);
	assert_string_equal(deploy_mode(f), "all");
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps/qlik/undeploy",
			      "{\"all\": true}"),
			 200);
	assert_string_equal(deploy_mode(f), "none");
	assert_int_equal(
		call(f, SUPER, "POST", path, "{\"users\": [\"alice\"]}"), 200);
	assert_string_equal(deploy_mode(f), "chosen");
	assert_int_equal(call(f, SUPER, "POST", path,
			      "{\"all\": true, \"users\": [\"alice\"]}"),
			 400);
	assert_int_equal(call(f, SUPER, "POST", path, "{}"), 400);
}

static void test_app_add_bad_redirect_uri_400_names_it(void **state)
{
	struct fx *f = *state;

	assert_int_equal(
		call(f, SUPER, "POST", "/admin/v1/apps",
		     "{\"name\": \"evil\", \"redirect_uris\": [\"" URI_OK
		     "\", \"http://evil.example.com/cb\"]}"),
		400);
	assert_error(f, "bad_request");
	assert_non_null(
		strstr(answer_str(f, "message"), "http://evil.example.com/cb"));
	assert_int_equal(call(f, SUPER, "GET", "/admin/v1/apps/evil", NULL),
			 404);
}

/*
 * A message quoting input cut at a byte count, where the cut splits a
 * character: still a 400 with its message, never a 500.
 */
static void test_message_cut_inside_a_character_400(void **state)
{
	struct fx *f = *state;
	char body[512], key[80];
	const char *paths[] = {"/admin/v1/users", "/admin/v1/groups"};
	size_t i;

	memset(key, 'a', 63);
	memcpy(key + 63, "\xc3\xa9", 3); /* é, split by a 64-byte cut */
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"name\": \"zed\", \"username\": \"zed\", "
			 "\"%s\": 1}",
			 key);
		assert_int_equal(call(f, SUPER, "POST", paths[i], body), 400);
		assert_error(f, "bad_request");
	}
	snprintf(body, sizeof(body),
		 "{\"name\": \"bad\", \"redirect_uris\": "
		 "[\"https://x.example.com/%0133d\xc3\xa9\"]}",
		 0);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps", body), 400);
	assert_error(f, "bad_request");
}

static void test_admin_unknown_path_404(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/nothing", NULL), 404);
	assert_error(f, "not_found");
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/", NULL), 404);
	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/users/a/b/c/d/e/f", NULL),
		404);
}

static void test_admin_wrong_method_405(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call(f, ADMIN, "PUT", "/admin/v1/users", NULL), 405);
	assert_error(f, "method_not_allowed");
	/* HEAD works wherever GET does, so it is allowed there too. */
	assert_string_equal(af_resp_header_get(&f->resp, "Allow"),
			    "GET, HEAD, POST");
	assert_int_equal(call(f, ADMIN, "DELETE", "/admin/v1/status", NULL),
			 405);
	assert_string_equal(af_resp_header_get(&f->resp, "Allow"), "GET, HEAD");
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/keys/rotate", NULL),
			 403);
}

static void test_admin_unknown_query_parameter_400_on_every_route(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users", "foo=1",
				 NULL, NULL),
			 400);
	assert_string_equal(answer_str(f, "message"),
			    "foo: unknown query parameter");
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit",
				 "limit=5&foo=1", NULL, NULL),
			 400);
	assert_string_equal(answer_str(f, "message"),
			    "foo: unknown query parameter");
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/push/queue",
				 "limit=5&foo=1", NULL, NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/sessions",
				 "user=alice&limit=1", NULL, NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/sessions",
				 "user=alice", NULL, NULL),
			 200);
}

static void test_admin_malformed_json_400(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/users", "{bad"),
			 400);
	assert_error(f, "bad_request");
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/users", "[1, 2]"),
			 400);
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/users",
			      "{\"username\": \"a\", \"username\": \"b\"}"),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "POST", "/admin/v1/users", NULL,
				 "{\"username\": \"carol\"}",
				 "application/x-www-form-urlencoded"),
			 400);
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/users", NULL), 400);
}

static void test_audit_newest_first_with_actor(void **state)
{
	struct fx *f = *state;
	json_t *events, *e0, *e1;
	json_int_t next;
	char query[64];

	add_alice(f);
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/groups",
			      "{\"name\": \"staff\"}"),
			 201);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit", "limit=2",
				 NULL, NULL),
			 200);
	events = json_object_get(f->answer, "events");
	assert_int_equal(json_array_size(events), 2);
	e0 = json_array_get(events, 0);
	e1 = json_array_get(events, 1);
	assert_string_equal(json_string_value(json_object_get(e0, "actor")),
			    "helpdesk");
	assert_string_equal(json_string_value(json_object_get(e1, "actor")),
			    "root");
	assert_true(json_integer_value(json_object_get(e0, "seq")) >
		    json_integer_value(json_object_get(e1, "seq")));
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit", "limit=0",
				 NULL, NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit",
				 "limit=1001", NULL, NULL),
			 400);
	/* Paging back: a full page says where the older events start. */
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit", "limit=1",
				 NULL, NULL),
			 200);
	next = json_integer_value(json_object_get(f->answer, "next_before"));
	assert_true(next > 1);
	snprintf(query, sizeof(query), "limit=5&before=%lld", (long long)next);
	assert_int_equal(
		call_ct(f, ADMIN, "GET", "/admin/v1/audit", query, NULL, NULL),
		200);
	events = json_object_get(f->answer, "events");
	assert_int_equal(json_array_size(events), 1);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(events, 0), "seq")),
			 next - 1);
	assert_null(json_object_get(f->answer, "next_before"));
	/* Unknown parameters are refused, not ignored. */
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit",
				 "limit=1&who=nobody", NULL, NULL),
			 400);
	/* Filters: by actor, by action or a kind of them, target, time. */
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit",
				 "actor=helpdesk", NULL, NULL),
			 200);
	events = json_object_get(f->answer, "events");
	assert_int_equal(json_array_size(events), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(events, 0), "action")),
			    "group.add");
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit",
				 "action=user.&target=alice", NULL, NULL),
			 200);
	events = json_object_get(f->answer, "events");
	assert_true(json_array_size(events) >= 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(events, 0), "target")),
			    "alice");
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit",
				 "action=user", NULL, NULL),
			 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "events")),
			 0);
	snprintf(query, sizeof(query), "since=%lld",
		 (long long)af_now() + 3600);
	assert_int_equal(
		call_ct(f, ADMIN, "GET", "/admin/v1/audit", query, NULL, NULL),
		200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "events")),
			 0);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit",
				 "since=0&target=staff", NULL, NULL),
			 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "events")),
			 1);
	/* An end: before it, and none of those from it on. */
	snprintf(query, sizeof(query), "until=%lld&target=staff",
		 (long long)af_now() + 3600);
	assert_int_equal(
		call_ct(f, ADMIN, "GET", "/admin/v1/audit", query, NULL, NULL),
		200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "events")),
			 1);
	snprintf(query, sizeof(query), "until=%lld&target=staff",
		 (long long)af_now() - 3600);
	assert_int_equal(
		call_ct(f, ADMIN, "GET", "/admin/v1/audit", query, NULL, NULL),
		200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "events")),
			 0);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit", "until=0",
				 NULL, NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit",
				 "actor=a%01b", NULL, NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit",
				 "target=", NULL, NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit", "before=0",
				 NULL, NULL),
			 400);
}

static void test_keys_rotate_superadmin_only(void **state)
{
	struct fx *f = *state;
	char path[128];

	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/keys", NULL), 200);
	assert_non_null(answer_str(f, "signing_kid"));
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/keys/rotate", NULL),
			 403);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/keys/rotate", NULL),
			 200);
	assert_non_null(answer_str(f, "kid"));
	assert_string_equal(answer_str(f, "kid"), answer_str(f, "signing_kid"));
	/* Refusals of a retirement leave nothing behind (LeakSanitizer). */
	assert_int_equal(
		call(f, SUPER, "DELETE", "/admin/v1/keys/no-such-kid", NULL),
		404);
	assert_int_equal(call(f, SUPER, "GET", "/admin/v1/keys", NULL), 200);
	(void)snprintf(path, sizeof(path), "/admin/v1/keys/%s",
		       answer_str(f, "signing_kid"));
	assert_int_equal(call(f, SUPER, "DELETE", path, NULL), 409);
}

/* A list past 1 MiB comes whole: no success with an empty body. */
static void test_user_list_past_a_mebibyte(void **state)
{
	struct fx *f = *state;
	char name[129], username[16];
	json_t *spec;
	size_t i, n = 6000;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (i = 0; i < n; i++) {
		(void)snprintf(username, sizeof(username), "user%05zu", i);
		spec = json_pack("{s:s, s:s}", "username", username, "name",
				 name);
		assert_non_null(spec);
		assert_int_equal(af_dir_user_add(f->srv.dir, "test", spec, NULL,
						 NULL, NULL, 0),
				 AF_DIR_OK);
		json_decref(spec);
	}
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 n);
}

static void test_sessions_list_and_end(void **state)
{
	struct fx *f = *state;

	add_alice(f);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/sessions",
				 "user=Alice", NULL, NULL),
			 200);
	assert_int_equal(
		json_array_size(json_object_get(f->answer, "sessions")), 0);
	assert_int_equal(call_ct(f, ADMIN, "DELETE", "/admin/v1/sessions",
				 "user=alice", NULL, NULL),
			 200);
	assert_int_equal(
		json_integer_value(json_object_get(f->answer, "ended")), 0);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/sessions", NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/sessions",
				 "user=%0A", NULL, NULL),
			 400);
}

/*
 * Makes an SSO session for alice; its cookie goes to cookie, the store
 * key of its record to key.
 */
static void begin_session(struct fx *f, char *cookie, size_t cookiecap,
			  char *key, size_t keycap)
{
	const char *set, *end;
	char hex[65];
	af_session s;
	af_resp resp;
	af_req req;

	memset(&s, 0, sizeof(s));
	memset(&req, 0, sizeof(req));
	snprintf(s.username, sizeof(s.username), "alice");
	snprintf(s.sub, sizeof(s.sub), "sub-a");
	s.auth_time = af_now();
	snprintf(req.client_ip, sizeof(req.client_ip), "192.0.2.1");
	af_resp_init(&resp, 0);
	assert_int_equal(af_session_begin(&f->srv, &req, &resp, &s), 0);
	set = af_resp_header_get(&resp, "Set-Cookie");
	assert_non_null(set);
	assert_true(strncmp(set, AF_SESSION_COOKIE "=", 7) == 0);
	end = strchr(set, ';');
	assert_non_null(end);
	snprintf(cookie, cookiecap, "%.*s", (int)(end - set), set);
	af_resp_cleanup(&resp);
	af_sha256_hex(cookie + 7, strlen(cookie + 7), hex);
	snprintf(key, keycap, "sess:%s", hex);
}

/* af_session_get() for a request that carries cookie. */
static int get_session(struct fx *f, const char *cookie, af_session *s)
{
	const char *headers[] = {"Cookie", cookie, NULL};
	int failed = 0, rc;
	af_req req;

	memset(&req, 0, sizeof(req));
	req.test_headers = headers;
	rc = af_session_get(&f->srv, &req, s, &failed);
	assert_int_equal(failed, 0);
	return rc;
}

/* Sets an integer member of the session record under key. */
static void set_session_member(struct fx *f, const char *key, const char *name,
			       int64_t value)
{
	store_value v = {0};
	char *text;
	json_t *o;

	assert_int_equal(store_get(f->srv.store, key, &v), STORE_OK);
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_non_null(o);
	assert_int_equal(json_object_set_new(o, name, json_integer(value)), 0);
	text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	assert_int_equal(store_set(f->srv.store, key, text, strlen(text),
				   (uint64_t)3600 * 1000, STORE_SET_XX),
			 STORE_OK);
	free(text);
	json_decref(o);
}

/* Makes the session under key look made (and last used) ago seconds ago. */
static void age_session(struct fx *f, const char *key, int64_t ago)
{
	set_session_member(f, key, "created", af_now() - ago);
	set_session_member(f, key, "used", 0);
}

static void test_session_idle_timeout(void **state)
{
	struct fx *f = *state;
	char cookie[128], key[80], cookie2[128], key2[80];
	store_value v = {0};
	af_session s;
	json_t *o;

	add_alice(f);
	f->srv.cfg.session_idle_s = 600;
	begin_session(f, cookie, sizeof(cookie), key, sizeof(key));
	assert_int_equal(get_session(f, cookie, &s), 0);
	assert_string_equal(s.username, "alice");
	/* Used two minutes ago: live, and this use is noted. */
	age_session(f, key, 120);
	assert_int_equal(get_session(f, cookie, &s), 0);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_OK);
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_true(json_integer_value(json_object_get(o, "used")) >=
		    af_now() - 1);
	json_decref(o);
	/* The admin API shows the last use. */
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/sessions",
				 "user=alice", NULL, NULL),
			 200);
	o = json_array_get(json_object_get(f->answer, "sessions"), 0);
	assert_true(json_integer_value(json_object_get(o, "last_used")) >=
		    af_now() - 1);
	/* And when it ends unless used again: its idle timeout from then. */
	assert_int_equal(json_integer_value(json_object_get(o, "ends_at")),
			 json_integer_value(json_object_get(o, "last_used")) +
				 600);
	/* Unused for the idle timeout: over, and gone from the store. */
	age_session(f, key, 600);
	assert_int_equal(get_session(f, cookie, &s), -1);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_NOT_FOUND);
	/* Nor listed: the list ends it too. */
	begin_session(f, cookie2, sizeof(cookie2), key2, sizeof(key2));
	age_session(f, key2, 601);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/sessions",
				 "user=alice", NULL, NULL),
			 200);
	assert_int_equal(
		json_array_size(json_object_get(f->answer, "sessions")), 0);
	assert_int_equal(store_get(f->srv.store, key2, &v), STORE_NOT_FOUND);
	/* Without an idle timeout, age alone ends nothing. */
	f->srv.cfg.session_idle_s = 0;
	f->srv.cfg.session_timeout_s = 0;
	begin_session(f, cookie, sizeof(cookie), key, sizeof(key));
	age_session(f, key, (int64_t)3 * 86400);
	assert_int_equal(get_session(f, cookie, &s), 0);
}

/* Reads a whole small file into buf (NUL-terminated). */
static void read_all(int fd, char *buf, size_t cap)
{
	ssize_t n;
	size_t len = 0;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while (len + 1 < cap) {
		n = read(fd, buf + len, cap - 1 - len);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
}

/*
 * Sends the server's log to a new file, *saved keeping the log it had;
 * the file's descriptor.
 */
static int log_capture(struct fx *f, log_ctx **saved)
{
	char path[] = "/tmp/test_admin_log_XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	*saved = f->srv.log;
	f->srv.log = log_new(fd, LOG_LEVEL_DEBUG);
	assert_non_null(f->srv.log);
	return fd;
}

/* Gives the server back its log, and what was captured in fd to text. */
static void log_release(struct fx *f, log_ctx *saved, int fd, char *text,
			size_t cap)
{
	log_free(f->srv.log);
	f->srv.log = saved;
	read_all(fd, text, cap);
	close(fd);
}

/* An integer member of the session record under key. */
static int64_t session_member(struct fx *f, const char *key, const char *name)
{
	store_value v = {0};
	json_int_t n;
	json_t *o;

	assert_int_equal(store_get(f->srv.store, key, &v), STORE_OK);
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_non_null(o);
	n = json_integer_value(json_object_get(o, name));
	json_decref(o);
	return n;
}

static int count_member(const char *member, void *arg)
{
	(void)member;
	++*(int *)arg;
	return 0;
}

/* How many members the set at key has. */
static int members(struct fx *f, const char *key)
{
	int n = 0;

	assert_int_equal(store_smembers(f->srv.store, key, count_member, &n),
			 STORE_OK);
	return n;
}

/* How many sessions are filed under the second slot. */
static int filed(struct fx *f, int64_t slot)
{
	char key[64];

	snprintf(key, sizeof(key), "session_due:%lld", (long long)slot);
	return members(f, key);
}

/* Sweeps as the server's clock would, up to now (from scratch). */
static void sweep_until(struct fx *f, int64_t now)
{
	af_session_sweeper sw = {0, 0};
	int i;

	/* A start catches up AF_SESSION_SWEEP_SLOTS_MAX seconds a call. */
	for (i = 0; i <= AF_SESSION_DUE_KEEP_S / AF_SESSION_SWEEP_SLOTS_MAX;
	     i++)
		af_session_sweep(&f->srv, &sw, now);
	assert_int_equal(sw.cursor, now - AF_SESSION_SWEEP_LAG_S + 1);
}

/* No routes: the tests count sessions only. */
static const char *no_route(size_t i)
{
	(void)i;
	return "unknown";
}

/* The value of the line that starts with series in /metrics. */
static unsigned long metric(af_metrics *m, const char *series)
{
	unsigned long n;
	const char *line;
	af_buf b;

	af_buf_init(&b, (size_t)1 << 20);
	af_metrics_render(m, &b);
	assert_false(b.failed);
	line = strstr(b.data, series);
	assert_non_null(line);
	n = strtoul(line + strlen(series), NULL, 10);
	af_buf_cleanup(&b);
	return n;
}

/*
 * A sweeper that ran with the clock an hour ahead, which was then set
 * back, goes back to now rather than wait for its cursor's second.
 */
static void test_session_sweep_clock_set_back_starts_over(void **state)
{
	struct fx *f = *state;
	af_session_sweeper sw = {0, 0};
	int64_t now = af_now();
	int i;

	for (i = 0; i <= AF_SESSION_DUE_KEEP_S / AF_SESSION_SWEEP_SLOTS_MAX;
	     i++)
		af_session_sweep(&f->srv, &sw, now + 3600);
	assert_int_equal(sw.cursor, now + 3600 - AF_SESSION_SWEEP_LAG_S + 1);
	af_session_sweep(&f->srv, &sw, now);
	assert_int_equal(sw.cursor, now - AF_SESSION_SWEEP_LAG_S + 1);
}

static void test_session_sweep_ends_unread_sessions(void **state)
{
	struct fx *f = *state;
	char cookie[128], key[80], cookie2[128], key2[80], clients[128];
	char text[16384];
	log_ctx *quiet;
	store_value v = {0};
	int64_t due, created, used;
	af_session s;
	int fd = log_capture(f, &quiet);

	f->srv.metrics = af_metrics_new(no_route, 1);
	assert_non_null(f->srv.metrics);
	add_alice(f);
	f->srv.cfg.session_timeout_s = 7200;
	f->srv.cfg.session_idle_s = 600;
	/* Filed under the second its idle timeout ends it, unused. */
	begin_session(f, cookie, sizeof(cookie), key, sizeof(key));
	created = session_member(f, key, "created");
	due = session_member(f, key, "due");
	assert_int_equal(due, created + 600);
	assert_int_equal(filed(f, due), 1);
	assert_int_equal(get_session(f, cookie, &s), 0);
	af_session_note_client(&f->srv, &s, "client-a");
	snprintf(clients, sizeof(clients), "session_clients:%s", s.sid);
	assert_int_equal(members(f, clients), 1);
	/* Nothing is due yet: the session lives on. */
	sweep_until(f, af_now());
	assert_int_equal(get_session(f, cookie, &s), 0);
	/*
	 * Nobody reads it again: the sweep ends it when its second comes,
	 * and its application is told (its list goes with it).
	 */
	sweep_until(f, due + AF_SESSION_SWEEP_LAG_S);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_NOT_FOUND);
	assert_int_equal(members(f, clients), 0);
	assert_int_equal(filed(f, due), 0);

	/* A session used since is filed again, under its new second. */
	begin_session(f, cookie2, sizeof(cookie2), key2, sizeof(key2));
	due = session_member(f, key2, "due");
	used = due - 300;
	set_session_member(f, key2, "used", used);
	sweep_until(f, due + AF_SESSION_SWEEP_LAG_S);
	assert_int_equal(get_session(f, cookie2, &s), 0);
	assert_int_equal(session_member(f, key2, "due"), used + 600);
	assert_int_equal(filed(f, due), 0);
	assert_int_equal(filed(f, used + 600), 1);
	/* Ended otherwise, it leaves its file. */
	assert_int_equal(af_session_end_user(&f->srv, "alice"), 1);
	assert_int_equal(filed(f, used + 600), 0);

	/*
	 * Without an idle timeout: filed under its timeout, which the sweep
	 * ends it at; a read after the timeout ends it too.
	 */
	f->srv.cfg.session_idle_s = 0;
	begin_session(f, cookie, sizeof(cookie), key, sizeof(key));
	due = session_member(f, key, "due");
	assert_int_equal(due, session_member(f, key, "auth_time") + 7201);
	assert_int_equal(filed(f, due), 1);
	sweep_until(f, due - 1);
	assert_int_equal(get_session(f, cookie, &s), 0);
	sweep_until(f, due + AF_SESSION_SWEEP_LAG_S);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_NOT_FOUND);
	begin_session(f, cookie2, sizeof(cookie2), key2, sizeof(key2));
	set_session_member(f, key2, "auth_time", af_now() - 7201);
	assert_int_equal(get_session(f, cookie2, &s), -1);
	assert_int_equal(store_get(f->srv.store, key2, &v), STORE_NOT_FOUND);

	/*
	 * With the timeout off a session still ends a week after its
	 * sign-in, told as a timeout: its record outlives that by as long as
	 * the sweep catches up, instead of leaving the store unannounced.
	 */
	f->srv.cfg.session_timeout_s = 0;
	begin_session(f, cookie, sizeof(cookie), key, sizeof(key));
	due = session_member(f, key, "due");
	assert_int_equal(due, session_member(f, key, "auth_time") + WEEK_S + 1);
	assert_int_equal(filed(f, due), 1);
	{
		uint64_t ttl = 0;

		assert_int_equal(store_ttl(f->srv.store, key, &ttl), STORE_OK);
		assert_true(ttl >
			    (uint64_t)(WEEK_S + AF_SESSION_DUE_KEEP_S - 60) *
				    1000);
	}
	set_session_member(f, key, "auth_time", af_now() - WEEK_S - 1);
	assert_int_equal(get_session(f, cookie, &s), -1);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_NOT_FOUND);

	log_release(f, quiet, fd, text, sizeof(text));
	assert_non_null(strstr(text, "user=alice ended=1 reason=idle"));
	assert_non_null(strstr(text, "user=alice ended=1 reason=timeout"));
	/* Counted by why, each once. */
	assert_int_equal(
		metric(f->srv.metrics,
		       "authflow_sessions_ended_total{reason=\"idle\"} "),
		1);
	assert_int_equal(
		metric(f->srv.metrics,
		       "authflow_sessions_ended_total{reason=\"timeout\"} "),
		3);
	assert_int_equal(
		metric(f->srv.metrics,
		       "authflow_sessions_ended_total{reason=\"ended\"} "),
		1);
	af_metrics_free(f->srv.metrics);
	f->srv.metrics = NULL;
}

/*
 * A code given while the session ends: the client is noted first, so
 * either the end reads it (and tells it), or the noting finds the session
 * gone and no code goes.
 */
static void test_session_note_client_after_end_refused(void **state)
{
	struct fx *f = *state;
	char cookie[128], key[80];
	af_session s;

	add_alice(f);
	begin_session(f, cookie, sizeof(cookie), key, sizeof(key));
	assert_int_equal(get_session(f, cookie, &s), 0);
	assert_string_equal(s.key, key);
	assert_int_equal(af_session_note_client(&f->srv, &s, "client-a"), 0);
	assert_int_equal(af_session_end_user(&f->srv, "alice"), 1);
	assert_int_equal(af_session_note_client(&f->srv, &s, "client-b"), 1);
	/* One not from the store is not judged. */
	s.key[0] = '\0';
	assert_int_equal(af_session_note_client(&f->srv, &s, "client-c"), 0);
}

static void test_admin_log_line_names_actor_never_secrets(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64], text[16384];
	log_ctx *quiet;
	int fd = log_capture(f, &quiet);

	add_alice(f);
	add_app(f, "qlik", 0, id, sizeof(id), secret, sizeof(secret));
	assert_int_equal(
		call(f, "wrong-token", "GET", "/admin/v1/status", NULL), 401);
	log_release(f, quiet, fd, text, sizeof(text));
	assert_non_null(
		strstr(text, "actor=root action=user.add target=alice"));
	assert_non_null(strstr(text, "action=app.add"));
	assert_non_null(strstr(text, "action=auth status=401"));
	assert_null(strstr(text, "first-pass-123"));
	assert_null(strstr(text, secret));
	assert_null(strstr(text, SUPER));
	assert_null(strstr(text, "wrong-token"));
}

static void test_workflow_get_defaults(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/workflow", NULL),
			 200);
	assert_true(
		json_is_true(json_object_get(f->answer, "number_matching")));
	assert_true(json_is_false(json_object_get(f->answer, "legacy")));
	assert_true(json_is_object(json_object_get(f->answer, "push_limit")));
	assert_true(
		json_is_integer(json_object_get(f->answer, "report_pause_s")));
}

static void test_workflow_patch_changes_and_audits(void **state)
{
	struct fx *f = *state;
	json_t *ev, *detail;

	/* One call switches push MFA for everyone: a superadmin's call. */
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/workflow",
			      "{\"legacy\": true}"),
			 403);
	assert_string_equal(
		answer_str(f, "message"),
		"changing the MFA workflow needs a superadmin token");
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow",
			      "{\"legacy\": true, \"report_pause_s\": 600,"
			      " \"min_app_version\": {\"ios\": \"2023.2\"}}"),
			 200);
	assert_true(json_is_true(json_object_get(f->answer, "legacy")));
	assert_int_equal(json_integer_value(
				 json_object_get(f->answer, "report_pause_s")),
			 600);
	/* Lowered: what the workflow keeps of that is no setting to show. */
	assert_null(json_object_get(f->answer, "report_pause_cuts"));
	/* It is not a setting either. */
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow",
			      "{\"report_pause_cuts\": []}"),
			 400);
	/* Stored: a fresh read shows the change, the rest untouched. */
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/workflow", NULL),
			 200);
	assert_null(json_object_get(f->answer, "report_pause_cuts"));
	assert_true(json_is_true(json_object_get(f->answer, "legacy")));
	assert_true(
		json_is_true(json_object_get(f->answer, "number_matching")));
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(f->answer, "min_app_version"), "ios")),
		"2023.2");
	ev = last_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "action")),
			    "workflow.set");
	assert_string_equal(json_string_value(json_object_get(ev, "actor")),
			    "root");
	detail = json_object_get(ev, "detail");
	assert_true(json_is_true(json_object_get(detail, "legacy")));
	/* And what the settings it names held before. */
	assert_true(json_is_false(
		json_object_get(json_object_get(detail, "was"), "legacy")));
	/* A shorter push-limit period: its record is not shown either. */
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow",
			      "{\"push_limit\": {\"period_s\": 60}}"),
			 200);
	assert_null(json_object_get(f->answer, "push_period_cuts"));
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow",
			      "{\"push_period_cuts\": []}"),
			 400);
}

static void test_workflow_patch_bad_value_400_unchanged(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow",
			      "{\"push_limit\": {\"count\": 0, "
			      "\"period_s\": 300}}"),
			 400);
	assert_error(f, "bad_request");
	assert_non_null(strstr(answer_str(f, "message"), "push_limit"));
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow",
			      "{\"legacy\": \"yes\"}"),
			 400);
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow",
			      "{\"frobnicate\": true}"),
			 400);
	assert_non_null(strstr(answer_str(f, "message"), "frobnicate"));
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow", NULL),
			 400);
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow", "{}"),
			 400);
	/* push_limit merges: {} of it changes nothing either. */
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/workflow",
			      "{\"push_limit\": {}}"),
			 400);
	assert_non_null(strstr(answer_str(f, "message"),
			       "push_limit: nothing to change"));
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/workflow", NULL),
			 200);
	assert_true(json_is_false(json_object_get(f->answer, "legacy")));
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/workflow", "{}"),
			 405);
}

static void test_enroll_code_known_user_201_with_uri(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], want[512], user[128];
	const char *c;
	json_t *ev;
	int64_t now = af_now(), exp;

	add_alice(f);
	/* Names are found whatever their case, and stored folded. */
	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/users/Alice/enroll-code", NULL),
			 201);
	c = answer_str(f, "code");
	assert_non_null(c);
	assert_true(strlen(c) >= 16);
	snprintf(code, sizeof(code), "%s", c);
	snprintf(want, sizeof(want),
		 "authflow://enroll?issuer=http%%3A%%2F%%2F127.0.0.1%%3A8080"
		 "&code=%s&user=alice",
		 code);
	assert_string_equal(answer_str(f, "uri"), want);
	exp = json_integer_value(json_object_get(f->answer, "expires_at"));
	assert_true(exp >= now + AF_MFA_ENROLL_TTL_S - 5);
	assert_true(exp <= af_now() + AF_MFA_ENROLL_TTL_S + 5);
	/* The audit trail names the user and never holds the code. */
	ev = last_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "action")),
			    "device.enroll_code");
	assert_string_equal(json_string_value(json_object_get(ev, "target")),
			    "alice");
	assert_null(strstr(f->resp.body.data, code));
	/* The code really enrolls alice, once. */
	assert_int_equal(
		af_mfa_enroll_code_take(f->srv.store, code, user, sizeof(user)),
		AF_MFA_OK);
	assert_string_equal(user, "alice");
	assert_int_equal(
		af_mfa_enroll_code_take(f->srv.store, code, user, sizeof(user)),
		AF_MFA_NOT_FOUND);
}

static void test_enroll_code_disabled_user_409(void **state)
{
	struct fx *f = *state;

	add_alice(f);
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/alice",
			      "{\"enabled\": false}"),
			 200);
	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/users/alice/enroll-code", NULL),
			 409);
	assert_error(f, "conflict");
	assert_non_null(strstr(answer_str(f, "message"), "is disabled"));
}

static void test_enroll_code_unknown_user_404(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/users/nobody/enroll-code", NULL),
			 404);
	assert_error(f, "not_found");
	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/users/alice/devices", NULL),
		404);
}

/* An administrator's codes and the user's own, all revoked. */
static void test_enroll_codes_revoked_all_of_the_user(void **state)
{
	struct fx *f = *state;
	char codes[3][AF_MFA_ID_BUF], user[128];
	unsigned flags = 0;
	int64_t exp = 0;
	json_t *ev;
	int i;

	add_alice(f);
	for (i = 0; i < 2; i++) {
		assert_int_equal(call(f, ADMIN, "POST",
				      "/admin/v1/users/alice/enroll-code",
				      NULL),
				 201);
		snprintf(codes[i], sizeof(codes[i]), "%s",
			 answer_str(f, "code"));
	}
	assert_int_equal(af_mfa_enroll_code_new(
				 f->srv.store, "alice", AF_MFA_CODE_FIRST_PHONE,
				 codes[2], sizeof(codes[2]), &exp),
			 AF_MFA_OK);
	assert_int_equal(call(f, ADMIN, "DELETE",
			      "/admin/v1/users/Alice/enroll-codes", NULL),
			 200);
	for (i = 0; i < 3; i++)
		assert_int_equal(af_mfa_enroll_code_peek(f->srv.store, codes[i],
							 user, sizeof(user),
							 &flags),
				 AF_MFA_NOT_FOUND);
	ev = last_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "action")),
			    "device.enroll_codes_revoke");
	assert_string_equal(json_string_value(json_object_get(ev, "target")),
			    "alice");
	/* A new one works again. */
	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/users/alice/enroll-code", NULL),
			 201);
	assert_int_equal(af_mfa_enroll_code_peek(f->srv.store,
						 answer_str(f, "code"), user,
						 sizeof(user), &flags),
			 AF_MFA_OK);
	assert_int_equal(call(f, ADMIN, "DELETE",
			      "/admin/v1/users/nobody/enroll-codes", NULL),
			 404);
}

static void test_devices_list_empty_then_one_then_removed(void **state)
{
	struct fx *f = *state;
	char err[256], path[128];
	json_t *spec, *dev = NULL, *list, *ev;

	add_alice(f);
	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/users/alice/devices", NULL),
		200);
	list = json_object_get(f->answer, "devices");
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 0);

	spec = json_pack("{s:s, s:s, s:b, s:{s:s, s:s, s:s, s:s}, s:s, s:s}",
			 "platform", "apns", "push_token", "00aa11bb22cc",
			 "sandbox", 0, "public_key", "kty", "EC", "crv",
			 "P-256", "x", JWK_X, "y", JWK_Y, "app_version",
			 "2024.1", "device_name", "Alice's phone");
	assert_non_null(spec);
	assert_int_equal(af_mfa_device_add(f->srv.store, "alice", spec, &dev,
					   err, sizeof(err)),
			 AF_MFA_OK);
	json_decref(spec);
	snprintf(path, sizeof(path), "/admin/v1/devices/%s",
		 json_string_value(json_object_get(dev, "id")));

	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/users/alice/devices", NULL),
		200);
	list = json_object_get(f->answer, "devices");
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "device_name")),
			    "Alice's phone");
	/* No TOTP secret ever leaves through the admin API. */
	assert_null(json_object_get(json_array_get(list, 0), "totp_secret"));
	assert_null(strstr(f->resp.body.data, json_string_value(json_object_get(
						      dev, "totp_secret"))));

	assert_int_equal(call(f, ADMIN, "DELETE", path, NULL), 200);
	assert_true(json_is_true(json_object_get(f->answer, "ok")));
	assert_int_equal(call(f, ADMIN, "DELETE", path, NULL), 404);
	assert_int_equal(alice_devices(f), 0);
	ev = last_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "action")),
			    "device.remove");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(ev, "detail"), "user")),
			    "alice");
	json_decref(dev);
}

/*
 * The device record goes after its audit event: with the trail failing
 * the device stays, listed for a retry, and the answer says so; once the
 * trail works the retry removes it, recorded.
 */
static void test_device_remove_audit_fails_device_stays(void **state)
{
	struct fx *f = *state;
	char path[128];
	store_value seq = {NULL, 0};
	json_t *dev, *ev;

	add_alice(f);
	dev = alice_phone(f);
	snprintf(path, sizeof(path), "/admin/v1/devices/%s",
		 json_string_value(json_object_get(dev, "id")));
	assert_int_equal(store_get(f->srv.store, "audit:seq", &seq), STORE_OK);
	/* The trail's counter is damaged: every event fails. */
	assert_int_equal(store_set(f->srv.store, "audit:seq", "x", 1, 0, 0),
			 STORE_OK);
	assert_int_equal(call(f, ADMIN, "DELETE", path, NULL), 503);
	assert_non_null(
		strstr(answer_str(f, "message"), "the device was not removed"));
	assert_int_equal(alice_devices(f), 1);
	assert_int_equal(
		store_set(f->srv.store, "audit:seq", seq.data, seq.len, 0, 0),
		STORE_OK);
	assert_int_equal(call(f, ADMIN, "DELETE", path, NULL), 200);
	assert_int_equal(alice_devices(f), 0);
	ev = last_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "action")),
			    "device.remove");
	store_value_free(&seq);
	json_decref(dev);
}

/*
 * A removal of an older version cut short after the user record went (a
 * crash) left the phone behind: a new user of the name does not inherit
 * it.
 */
static void test_user_add_clears_an_earlier_users_phone(void **state)
{
	struct fx *f = *state;
	json_t *dev;

	add_alice(f);
	dev = alice_phone(f);
	json_decref(dev);
	/* Only the directory's step of the removal took place. */
	assert_int_equal(
		af_dir_user_remove(f->srv.dir, "test", "alice", NULL, 0),
		AF_DIR_OK);
	add_alice(f);
	assert_int_equal(alice_devices(f), 0);
}

/* A user record that does not parse can still be removed. */
static void test_user_remove_damaged_record(void **state)
{
	struct fx *f = *state;

	add_alice(f);
	assert_int_equal(
		store_set(f->srv.store, "user:alice", "garbage", 7, 0, 0),
		STORE_OK);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 503);
	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/users/Alice", NULL), 200);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 404);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 0);
	/* The name is free again. */
	add_alice(f);
}

static void test_device_remove_unknown_or_odd_id_404(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call(f, ADMIN, "DELETE",
			      "/admin/v1/devices/AAAAAAAAAAAAAAAAAAAAAA", NULL),
			 404);
	assert_error(f, "not_found");
	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/devices/a%3Ab", NULL), 404);
}

/* The name device list shows for alice's first phone (lent). */
static const char *alice_phone_name(struct fx *f)
{
	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/users/alice/devices", NULL),
		200);
	return json_string_value(json_object_get(
		json_array_get(json_object_get(f->answer, "devices"), 0),
		"device_name"));
}

static void test_device_rename_shown_audited_checked(void **state)
{
	struct fx *f = *state;
	char path[128];
	json_t *dev, *ev, *detail;

	add_alice(f);
	dev = alice_phone(f);
	snprintf(path, sizeof(path), "/admin/v1/devices/%s",
		 json_string_value(json_object_get(dev, "id")));
	assert_int_equal(
		call(f, ADMIN, "PATCH", path,
		     "{\"device_name\": \"Alice iPhone 15 (ward 3)\"}"),
		200);
	assert_string_equal(answer_str(f, "device_name"),
			    "Alice iPhone 15 (ward 3)");
	assert_null(json_object_get(f->answer, "totp_secret"));
	assert_true(json_is_boolean(
		json_object_get(f->answer, "below_min_app_version")));
	/* Stored: the list shows it. */
	assert_string_equal(alice_phone_name(f), "Alice iPhone 15 (ward 3)");
	ev = last_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "action")),
			    "device.set");
	detail = json_object_get(ev, "detail");
	assert_string_equal(json_string_value(json_object_get(detail, "user")),
			    "alice");
	/* Enrolled without a name: the empty one it had. */
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(detail, "was"), "device_name")),
		"");
	/* Empty, control characters, too long, other members: 400. */
	assert_int_equal(
		call(f, ADMIN, "PATCH", path, "{\"device_name\": \"\"}"), 400);
	assert_int_equal(call(f, ADMIN, "PATCH", path,
			      "{\"device_name\": \"a\\u0007b\"}"),
			 400);
	assert_int_equal(call(f, ADMIN, "PATCH", path,
			      "{\"device_name\": \"a\\u0000b\"}"),
			 400);
	assert_int_equal(
		call(f, ADMIN, "PATCH", path,
		     "{\"device_name\": \"0123456789012345678901234567890123456"
		     "789012345678901234567890123456789\"}"),
		400);
	assert_int_equal(
		call(f, ADMIN, "PATCH", path, "{\"push_token\": \"mine-now\"}"),
		400);
	assert_int_equal(call(f, ADMIN, "PATCH", path, "{}"), 400);
	/* Unchanged by the refusals. */
	assert_string_equal(alice_phone_name(f), "Alice iPhone 15 (ward 3)");
	assert_int_equal(call(f, ADMIN, "PATCH",
			      "/admin/v1/devices/AAAAAAAAAAAAAAAAAAAAAA",
			      "{\"device_name\": \"x\"}"),
			 404);
	json_decref(dev);
}

static int took_one(const char *id, const char *entry, void *arg)
{
	(void)id;
	(void)entry;
	(void)arg;
	return 0;
}

static void test_push_queue_empty_then_jobs_oldest_first(void **state)
{
	struct fx *f = *state;
	static const char job1[] = "{\"job\":\"j1\",\"txn\":\"t1\"}";
	static const char job2[] = "{\"job\":\"j2\",\"txn\":\"t2\","
				   "\"push_token\":\"0123456789abcdef\"}";
	json_t *jobs;
	size_t n = 0;

	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/push/queue", NULL),
			 200);
	assert_int_equal(
		json_integer_value(json_object_get(f->answer, "length")), 0);
	jobs = json_object_get(f->answer, "jobs");
	assert_true(json_is_array(jobs));
	assert_int_equal(json_array_size(jobs), 0);

	assert_int_equal(store_queue_push(f->srv.store, "push", job1,
					  strlen(job1), NULL, 0),
			 STORE_OK);
	assert_int_equal(store_queue_push(f->srv.store, "push", job2,
					  strlen(job2), NULL, 0),
			 STORE_OK);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/push/queue",
				 "limit=1", NULL, NULL),
			 200);
	assert_int_equal(
		json_integer_value(json_object_get(f->answer, "length")), 2);
	jobs = json_object_get(f->answer, "jobs");
	assert_int_equal(json_array_size(jobs), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(jobs, 0), "job")),
			    "j1");
	/* No push worker has started: none holds a job. */
	assert_int_equal(
		json_integer_value(json_object_get(f->answer, "pending")), 0);
	assert_int_equal(
		store_queue_group_create(f->srv.store, "push", "pushd"),
		STORE_OK);
	assert_int_equal(store_queue_read(f->srv.store, "push", "pushd", "w1",
					  1, 0, took_one, NULL, &n),
			 STORE_OK);
	/* A push token is listed cut short: not one to push to. */
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/push/queue", NULL),
			 200);
	assert_int_equal(
		json_integer_value(json_object_get(f->answer, "pending")), 1);
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(f->answer, "jobs"), 1),
			"push_token")),
		"01234567...");
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/push/queue",
				 "limit=0", NULL, NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/push/queue",
				 "limit=1001", NULL, NULL),
			 400);
}

static void test_branding_superadmin_sets_admin_reads(void **state)
{
	struct fx *f = *state;
	json_t *ev;

	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/branding", NULL),
			 200);
	assert_int_equal(json_object_size(f->answer), 0);
	/* What every user sees before signing in is the superadmin's. */
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/branding",
			      "{\"name\": \"Evil Corp\"}"),
			 403);
	assert_error(f, "forbidden");
	assert_int_equal(call(f, ADMIN, "DELETE", "/admin/v1/branding", NULL),
			 403);
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/branding",
			      "{\"name\": \"Acme\", \"color\": \"#AABBCC\","
			      " \"logo\": \"iVBORw0KGgoAAAAA\"}"),
			 200);
	assert_string_equal(answer_str(f, "color"), "#aabbcc");
	assert_null(
		json_object_get(json_object_get(f->answer, "logo"), "data"));
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/branding", NULL),
			 200);
	assert_string_equal(answer_str(f, "name"), "Acme");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(f->answer, "logo"), "size")),
			 12);
	ev = last_event(f);
	assert_string_equal(json_string_value(json_object_get(ev, "action")),
			    "branding.set");
	assert_string_equal(json_string_value(json_object_get(ev, "actor")),
			    "root");

	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/branding",
			      "{\"help_url\": \"javascript:alert(1)\"}"),
			 400);
	assert_error(f, "bad_request");
	assert_non_null(strstr(answer_str(f, "message"), "help_url"));
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/branding", NULL),
			 400);
	assert_int_equal(call(f, SUPER, "DELETE", "/admin/v1/branding", NULL),
			 200);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/branding", NULL),
			 200);
	assert_int_equal(json_object_size(f->answer), 0);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/branding", "{}"),
			 405);
}

/*
 * The device list shows a push token cut short, as the push queue does:
 * an administrator tells the phones apart, and no listing hands out a
 * token that pushes to one.
 */
static void test_devices_list_push_token_cut(void **state)
{
	static const char token[] = "0123abcd4567ef890123abcd4567ef89"
				    "0123abcd4567ef890123abcd4567ef89";
	struct fx *f = *state;
	char err[256];
	json_t *spec, *dev = NULL, *listed;

	add_alice(f);
	spec = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "platform",
			 "apns", "push_token", token, "public_key", "kty", "EC",
			 "crv", "P-256", "x", JWK_X, "y", JWK_Y);
	assert_non_null(spec);
	assert_int_equal(af_mfa_device_add(f->srv.store, "alice", spec, &dev,
					   err, sizeof(err)),
			 AF_MFA_OK);
	json_decref(spec);
	assert_int_equal(
		call(f, ADMIN, "GET", "/admin/v1/users/alice/devices", NULL),
		200);
	listed = json_array_get(json_object_get(f->answer, "devices"), 0);
	assert_string_equal(
		json_string_value(json_object_get(listed, "push_token")),
		"0123abcd...");
	assert_null(strstr(f->resp.body.data, token));
	/* The stored token is whole: pushes still reach the phone. */
	json_decref(dev);
	dev = NULL;
	assert_int_equal(
		af_mfa_device_get(
			f->srv.store,
			json_string_value(json_object_get(listed, "id")), &dev),
		AF_MFA_OK);
	assert_string_equal(
		json_string_value(json_object_get(dev, "push_token")), token);
	json_decref(dev);
}

/*
 * The audit trail fails after a new secret was stored: the answer is still
 * the success with the secret (the only one that works now), and says
 * that the trail missed it.
 */
static void test_app_secret_stored_audit_fails_secret_answered(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64], path[128], fresh[64];

	add_app(f, "qlik", 0, id, sizeof(id), secret, sizeof(secret));
	assert_null(json_object_get(f->answer, "warning"));
	/* The trail's counter is damaged: every event fails. */
	assert_int_equal(store_set(f->srv.store, "audit:seq", "x", 1, 0, 0),
			 STORE_OK);
	snprintf(path, sizeof(path), "/admin/v1/apps/%s/rotate-secret", id);
	assert_int_equal(call(f, SUPER, "POST", path, NULL), 200);
	assert_string_equal(answer_str(f, "client_id"), id);
	assert_non_null(answer_str(f, "client_secret"));
	assert_non_null(strstr(answer_str(f, "warning"), "audit trail"));
	snprintf(fresh, sizeof(fresh), "%s", answer_str(f, "client_secret"));
	assert_int_equal(
		af_dir_app_check_secret(f->srv.dir, id, fresh, NULL, NULL),
		AF_DIR_OK);
	assert_int_equal(
		af_dir_app_check_secret(f->srv.dir, id, secret, NULL, NULL),
		AF_DIR_FORBIDDEN);

	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps",
			      "{\"name\": \"crm\", \"redirect_uris\": "
			      "[\"" URI_OK "\"]}"),
			 201);
	assert_non_null(strstr(answer_str(f, "warning"), "audit trail"));
	assert_int_equal(af_dir_app_check_secret(
				 f->srv.dir, answer_str(f, "client_id"),
				 answer_str(f, "client_secret"), NULL, NULL),
			 AF_DIR_OK);
	/* Other changes still fail as they did. */
	assert_int_equal(
		call(f, SUPER, "POST", "/admin/v1/groups", "{\"name\": \"g\"}"),
		503);
}

/*
 * A removal that fails part-way says it is incomplete, leaves the user
 * disabled and marked, and the next DELETE finishes it.
 */
static void test_user_remove_incomplete_503_then_rerun_finishes(void **state)
{
	struct fx *f = *state;

	add_alice(f);
	assert_int_equal(store_set(f->srv.store, "audit:seq", "x", 1, 0, 0),
			 STORE_OK);
	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/users/alice", NULL), 503);
	assert_error(f, "unavailable");
	assert_non_null(strstr(answer_str(f, "message"), "incomplete"));
	assert_non_null(strstr(answer_str(f, "message"), "again"));
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 200);
	assert_true(json_is_true(json_object_get(f->answer, "removing")));
	assert_true(json_is_false(json_object_get(f->answer, "enabled")));
	/* Nothing brings the user back meanwhile. */
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/alice",
			      "{\"enabled\": true}"),
			 409);
	assert_non_null(strstr(answer_str(f, "message"), "being removed"));
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/users",
			      "{\"username\": \"alice\"}"),
			 409);
	assert_int_equal(store_del(f->srv.store, "audit:seq"), STORE_OK);
	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/users/alice", NULL), 200);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 404);
	add_alice(f);
	assert_null(json_object_get(f->answer, "removing"));
}

/*
 * The newest event of action on the trail (lent from f->answer, which the
 * next call replaces), or NULL.
 */
static json_t *newest_event(struct fx *f, const char *action)
{
	json_t *ev;
	size_t i;

	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/audit", "limit=50",
				 NULL, NULL),
			 200);
	json_array_foreach(json_object_get(f->answer, "events"), i, ev)
	{
		if (strcmp(json_string_value(json_object_get(ev, "action")),
			   action) == 0)
			return ev;
	}
	return NULL;
}

static const json_t *deployment_list(const struct fx *f, const char *field)
{
	return json_object_get(json_object_get(f->answer, "deployment"), field);
}

/*
 * Names beside mode none were stored, shown nowhere, and handed access by
 * the next deploy: refused now, and a profile deployed to nobody starts
 * from empty lists.
 */
static void test_app_hidden_deployment_400_never_deployed(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64];

	add_alice(f);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/users",
			      "{\"username\": \"bob\"}"),
			 201);
	assert_int_equal(
		call(f, SUPER, "POST", "/admin/v1/apps",
		     "{\"name\": \"latent\", \"redirect_uris\": [\"" URI_OK
		     "\"], \"deployment\": {\"mode\": \"none\", "
		     "\"users\": [\"bob\"]}}"),
		400);
	assert_error(f, "bad_request");
	assert_non_null(strstr(answer_str(f, "message"), "deployment:"));
	assert_non_null(strstr(answer_str(f, "message"), "mode chosen"));
	assert_int_equal(call(f, SUPER, "GET", "/admin/v1/apps/latent", NULL),
			 404);
	add_app(f, "latent", 0, id, sizeof(id), secret, sizeof(secret));
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/apps/latent",
			      "{\"deployment\": {\"mode\": \"all\", "
			      "\"users\": [\"bob\"]}}"),
			 400);
	assert_int_equal(call(f, SUPER, "PATCH", "/admin/v1/apps/latent",
			      "{\"deployment\": {\"mode\": \"chosen\"}}"),
			 200);
	assert_string_equal(deploy_mode(f), "none");
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps/latent/deploy",
			      "{\"users\": [\"alice\"]}"),
			 200);
	assert_string_equal(deploy_mode(f), "chosen");
	assert_int_equal(json_array_size(deployment_list(f, "users")), 1);
	assert_string_equal(json_string_value(json_array_get(
				    deployment_list(f, "users"), 0)),
			    "alice");
}

static void test_app_undeploy_admin_403_says_undeploying(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64];

	add_app(f, "locked-down", 0, id, sizeof(id), secret, sizeof(secret));
	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/apps/locked-down/undeploy",
			      "{\"all\": true}"),
			 403);
	assert_error(f, "forbidden");
	assert_string_equal(answer_str(f, "message"),
			    "undeploying this application profile needs a "
			    "superadmin token (admins_may_deploy is off)");
	assert_int_equal(call(f, ADMIN, "POST",
			      "/admin/v1/apps/locked-down/deploy",
			      "{\"all\": true}"),
			 403);
	assert_non_null(strstr(answer_str(f, "message"), "deploying"));
	assert_null(strstr(answer_str(f, "message"), "undeploying"));
}

static int64_t answer_int(const struct fx *f, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(f->answer, key));
}

/* A user held back by failed passwords can be seen to be, and until when. */
static void test_user_show_failures_delay_and_lock(void **state)
{
	struct fx *f = *state;
	int64_t now;
	int i;

	add_alice(f);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 200);
	assert_int_equal(answer_int(f, "failed_signins"), 0);
	assert_true(json_is_null(json_object_get(f->answer, "delayed_until")));
	assert_true(json_is_null(json_object_get(f->answer, "locked_until")));
	/* Six failures: the sixth starts a delay of 2 s. */
	for (i = 0; i < 6; i++)
		assert_int_equal(
			af_throttle_fail(f->srv.dir, "alice", NULL, NULL),
			AF_DIR_OK);
	now = af_now();
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 200);
	assert_true(json_is_false(json_object_get(f->answer, "locked")));
	assert_true(json_is_null(json_object_get(f->answer, "locked_until")));
	assert_int_equal(answer_int(f, "failed_signins"), 6);
	assert_true(answer_int(f, "delayed_until") >= now + 1);
	assert_true(answer_int(f, "delayed_until") <= af_now() + 2);
	/* The tenth locks for the default 1800 s. */
	for (i = 6; i < 10; i++)
		assert_int_equal(
			af_throttle_fail(f->srv.dir, "alice", NULL, NULL),
			AF_DIR_OK);
	now = af_now();
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 200);
	assert_true(json_is_true(json_object_get(f->answer, "locked")));
	assert_int_equal(answer_int(f, "failed_signins"), 10);
	assert_true(answer_int(f, "locked_until") >= now + 1790);
	assert_true(answer_int(f, "locked_until") <= af_now() + 1800);
	assert_int_equal(
		call(f, ADMIN, "POST", "/admin/v1/users/alice/unlock", NULL),
		200);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/alice", NULL),
			 200);
	assert_true(json_is_false(json_object_get(f->answer, "locked")));
	assert_int_equal(answer_int(f, "failed_signins"), 0);
	assert_true(json_is_null(json_object_get(f->answer, "locked_until")));
	assert_true(json_is_null(json_object_get(f->answer, "delayed_until")));
}

/* The user.remove event names the devices the removal deleted. */
static void test_user_remove_event_names_devices(void **state)
{
	struct fx *f = *state;
	char err[256], id[64], totp[128];
	json_t *spec, *dev = NULL, *ev, *detail;
	char *text;

	add_alice(f);
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/groups",
			      "{\"name\": \"staff\"}"),
			 201);
	assert_int_equal(call(f, ADMIN, "PUT",
			      "/admin/v1/groups/staff/members/alice", NULL),
			 200);
	spec = json_pack("{s:s, s:s, s:b, s:{s:s, s:s, s:s, s:s}}", "platform",
			 "apns", "push_token", "00aa11bb22cc33dd", "sandbox", 0,
			 "public_key", "kty", "EC", "crv", "P-256", "x", JWK_X,
			 "y", JWK_Y);
	assert_non_null(spec);
	assert_int_equal(af_mfa_device_add(f->srv.store, "alice", spec, &dev,
					   err, sizeof(err)),
			 AF_MFA_OK);
	json_decref(spec);
	snprintf(id, sizeof(id), "%s",
		 json_string_value(json_object_get(dev, "id")));
	snprintf(totp, sizeof(totp), "%s",
		 json_string_value(json_object_get(dev, "totp_secret")));
	json_decref(dev);
	assert_true(strlen(totp) > 0);

	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/users/alice", NULL), 200);
	ev = newest_event(f, "user.remove");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "target")),
			    "alice");
	detail = json_object_get(ev, "detail");
	assert_true(json_is_object(detail));
	assert_string_equal(
		json_string_value(json_object_get(detail, "username")),
		"alice");
	assert_non_null(json_string_value(json_object_get(detail, "sub")));
	assert_int_equal(json_array_size(json_object_get(detail, "groups")), 1);
	assert_int_equal(json_array_size(json_object_get(detail, "devices")),
			 1);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(detail, "devices"), 0)),
			    id);
	/* Never a secret: no hash, no TOTP seed, no push token. */
	text = json_dumps(ev, JSON_COMPACT);
	assert_non_null(text);
	assert_null(strstr(text, totp));
	assert_null(strstr(text, "00aa11bb"));
	assert_null(strstr(text, "argon2"));
	assert_null(strstr(text, "first-pass-123"));
	free(text);
}

/* The other removals through the API keep what they removed too. */
static void test_removal_events_have_detail(void **state)
{
	struct fx *f = *state;
	char id[64], secret[64], path[128];
	json_t *ev, *detail;

	add_alice(f);
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/groups",
			      "{\"name\": \"staff\", \"description\": "
			      "\"Everyone\"}"),
			 201);
	assert_int_equal(call(f, ADMIN, "PUT",
			      "/admin/v1/groups/staff/members/alice", NULL),
			 200);
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/ous",
			      "{\"name\": \"Paris\"}"),
			 201);
	assert_int_equal(call(f, ADMIN, "PUT",
			      "/admin/v1/ous/Paris/members/alice", NULL),
			 200);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/policies",
			      "{\"name\": \"staff\", \"sso\": true, "
			      "\"assigned\": {\"groups\": [\"staff\"]}}"),
			 201);
	add_app(f, "crm", 0, id, sizeof(id), secret, sizeof(secret));

	assert_int_equal(
		call(f, SUPER, "DELETE", "/admin/v1/policies/staff", NULL),
		200);
	ev = newest_event(f, "policy.remove");
	assert_non_null(ev);
	detail = json_object_get(ev, "detail");
	assert_true(json_is_object(detail));
	assert_true(json_is_true(json_object_get(detail, "sso")));
	assert_true(json_is_false(json_object_get(detail, "remote_access")));
	assert_int_equal(
		json_array_size(json_object_get(
			json_object_get(detail, "assigned"), "groups")),
		1);

	assert_int_equal(
		call(f, ADMIN, "DELETE", "/admin/v1/groups/staff", NULL), 200);
	ev = newest_event(f, "group.remove");
	assert_non_null(ev);
	detail = json_object_get(ev, "detail");
	assert_true(json_is_object(detail));
	assert_string_equal(
		json_string_value(json_object_get(detail, "description")),
		"Everyone");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(detail, "members"), 0)),
			    "alice");

	assert_int_equal(call(f, ADMIN, "DELETE", "/admin/v1/ous/Paris", NULL),
			 200);
	ev = newest_event(f, "ou.remove");
	assert_non_null(ev);
	assert_true(json_is_object(json_object_get(ev, "detail")));
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(json_object_get(ev, "detail"),
					"members"),
			0)),
		"alice");

	snprintf(path, sizeof(path), "/admin/v1/apps/%s", id);
	assert_int_equal(call(f, SUPER, "DELETE", path, NULL), 200);
	ev = newest_event(f, "app.remove");
	assert_non_null(ev);
	detail = json_object_get(ev, "detail");
	assert_true(json_is_object(detail));
	assert_string_equal(
		json_string_value(json_object_get(detail, "display_name")),
		"crm");
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(detail, "redirect_uris"), 0)),
		URI_OK);
	assert_non_null(json_object_get(detail, "post_logout_uris"));
	assert_non_null(json_object_get(detail, "deployment"));
	assert_null(json_object_get(detail, "secret_sha256"));
	assert_null(strstr(f->resp.body.data, secret));
}

/* "." and ".." cannot be named in a URL path: refused when made. */
static void test_names_of_only_dots_400(void **state)
{
	static const struct {
		const char *path;
		const char *body;
	} cases[] = {
		{"/admin/v1/users", "{\"username\": \".\"}"},
		{"/admin/v1/groups", "{\"name\": \"..\"}"},
		{"/admin/v1/ous", "{\"name\": \".\"}"},
		{"/admin/v1/policies", "{\"name\": \"...\"}"},
		{"/admin/v1/apps",
		 "{\"name\": \"..\", \"redirect_uris\": [\"" URI_OK "\"]}"},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
			call(f, SUPER, "POST", cases[i].path, cases[i].body),
			400);
		assert_error(f, "bad_request");
		assert_non_null(strstr(answer_str(f, "message"), "only dots"));
	}
}

/* 25 copies of one URI are one URI, as the docs say. */
static void test_app_duplicate_redirect_uris_dropped(void **state)
{
	struct fx *f = *state;
	char body[4096];
	size_t n;

	n = (size_t)snprintf(body, sizeof(body),
			     "{\"name\": \"dup\", \"redirect_uris\": [");
	for (int i = 0; i < 25; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"%s\"",
				      i > 0 ? ", " : "", URI_OK);
	snprintf(body + n, sizeof(body) - n, "]}");
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/apps", body), 201);
	assert_int_equal(
		json_array_size(json_object_get(
			json_object_get(f->answer, "app"), "redirect_uris")),
		1);
}

static void test_group_description_blank_400_says_0(void **state)
{
	struct fx *f = *state;

	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/groups",
			      "{\"name\": \"g\", \"description\": \"  \"}"),
			 400);
	assert_string_equal(answer_str(f, "message"),
			    "description: must be 0..256 printable UTF-8 "
			    "characters, not only spaces");
	assert_int_equal(call(f, ADMIN, "POST", "/admin/v1/groups",
			      "{\"name\": \"g\", \"description\": \"\"}"),
			 201);
}

/* Adds user name (password "first-pass-123") through the API. */
static void add_user(struct fx *f, const char *name)
{
	char body[256];

	snprintf(body, sizeof(body),
		 "{\"username\": \"%s\", \"password\": \"first-pass-123\"}",
		 name);
	assert_int_equal(call(f, SUPER, "POST", "/admin/v1/users", body), 201);
}

/* Records a sign-in of user name at time t, to client_id, with amr. */
static void note_signin(struct fx *f, const char *name, int64_t t,
			const char *address, const char *client_id)
{
	static const char *const amr[] = {"pwd", "swk", "mfa"};
	json_t *user = NULL;
	af_dir_signin in;

	assert_int_equal(af_dir_user_get(f->srv.dir, name, &user), AF_DIR_OK);
	in = (af_dir_signin){
		.username = name,
		.sub = json_string_value(json_object_get(user, "sub")),
		.time = t,
		.address = address,
		.client_id = client_id,
		.amr = amr,
		.namr = 3,
	};
	assert_int_equal(af_dir_signin_note(f->srv.dir, &in), AF_DIR_OK);
	json_decref(user);
}

/* Sets the created_at of user name's stored record to t. */
static void set_created(struct fx *f, const char *name, int64_t t)
{
	char key[128];
	store_value v = {NULL, 0};
	json_t *o;
	char *text;

	snprintf(key, sizeof(key), "user:%s", name);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_OK);
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_non_null(o);
	json_object_set_new(o, "created_at", json_integer(t));
	text = json_dumps(o, JSON_COMPACT);
	assert_int_equal(store_set(f->srv.store, key, text, strlen(text), 0, 0),
			 STORE_OK);
	free(text);
	json_decref(o);
}

/* Sets when sign-in records began (directory/signins.h) to t. */
static void set_epoch(struct fx *f, int64_t t)
{
	char text[32];

	snprintf(text, sizeof(text), "%lld", (long long)t);
	assert_int_equal(store_set(f->srv.store, "signins:since", text,
				   strlen(text), 0, 0),
			 STORE_OK);
}

/* The user of f->answer's "users" named name, or NULL. */
static json_t *listed(const struct fx *f, const char *name)
{
	json_t *u;
	size_t i;

	json_array_foreach(json_object_get(f->answer, "users"), i, u)
	{
		if (strcmp(json_string_value(json_object_get(u, "username")),
			   name) == 0)
			return u;
	}
	return NULL;
}

static void test_last_signin_shown_and_inactive_users_listed(void **state)
{
	struct fx *f = *state;
	char id[64], secret[128], path[128];
	int64_t now = af_now(), day = 86400;
	json_t *last;

	add_app(f, "crm", 0, id, sizeof(id), secret, sizeof(secret));
	add_user(f, "ann"); /* signed in an hour ago */
	add_user(f, "bea"); /* signed in 100 days ago */
	add_user(f, "cy");  /* made 100 days ago, never signed in */
	add_user(f, "dee"); /* made now, never signed in */
	/* Nobody is idle before records began. */
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users",
				 "inactive_days=90", NULL, NULL),
			 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 0);
	set_epoch(f, now - 365 * day);
	note_signin(f, "ann", now - 3600, "192.0.2.7", id);
	note_signin(f, "bea", now - 100 * day, "198.51.100.9", id);
	set_created(f, "bea", now - 200 * day);
	set_created(f, "cy", now - 100 * day);

	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/ann", NULL),
			 200);
	last = json_object_get(f->answer, "last_sign_in");
	assert_true(json_is_object(last));
	assert_int_equal(json_integer_value(json_object_get(last, "time")),
			 now - 3600);
	assert_string_equal(json_string_value(json_object_get(last, "address")),
			    "192.0.2.7");
	assert_string_equal(
		json_string_value(json_object_get(last, "client_id")), id);
	assert_string_equal(json_string_value(json_object_get(last, "app")),
			    "crm");
	assert_int_equal(json_array_size(json_object_get(last, "amr")), 3);
	assert_null(json_object_get(last, "sub"));
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/dee", NULL),
			 200);
	assert_true(json_is_null(json_object_get(f->answer, "last_sign_in")));

	/* Every user in the list carries it. */
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users", NULL), 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 4);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(listed(f, "bea"), "last_sign_in"),
			"time")),
		now - 100 * day);

	/* Inactive for 90 days: bea (old sign-in) and cy (old, never). */
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users",
				 "inactive_days=90", NULL, NULL),
			 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 2);
	assert_non_null(listed(f, "bea"));
	assert_non_null(listed(f, "cy"));
	/* Enabled again, bea is no longer idle. */
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/bea",
			      "{\"enabled\": false}"),
			 200);
	assert_null(json_object_get(f->answer, "enabled_at"));
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/bea",
			      "{\"enabled\": true}"),
			 200);
	assert_true(json_integer_value(
			    json_object_get(f->answer, "enabled_at")) >= now);
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/bea",
			      "{\"enabled_at\": 5}"),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users",
				 "inactive_days=90", NULL, NULL),
			 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 1);
	assert_non_null(listed(f, "cy"));
	/* For 150 days: none (cy was made 100 days ago, bea enabled now). */
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users",
				 "inactive_days=150", NULL, NULL),
			 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 0);
	/* A day: cy; ann signed in an hour ago, bea was enabled and dee
	 * made just now. */
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users",
				 "inactive_days=1", NULL, NULL),
			 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 1);
	assert_non_null(listed(f, "cy"));
	/* A password given to cy (back from an absence): no longer idle. */
	assert_int_equal(call(f, ADMIN, "PUT", "/admin/v1/users/cy/password",
			      "{\"password\": \"back-again-2026\", "
			      "\"temporary\": true}"),
			 200);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/cy", NULL),
			 200);
	assert_true(json_integer_value(json_object_get(
			    f->answer, "password_set_at")) >= now);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users",
				 "inactive_days=1", NULL, NULL),
			 200);
	assert_int_equal(json_array_size(json_object_get(f->answer, "users")),
			 0);
	assert_int_equal(call(f, ADMIN, "PATCH", "/admin/v1/users/cy",
			      "{\"password_set_at\": 5}"),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users",
				 "inactive_days=0", NULL, NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users",
				 "inactive_days=36501", NULL, NULL),
			 400);
	assert_int_equal(call_ct(f, ADMIN, "GET", "/admin/v1/users",
				 "inactive_days=9x", NULL, NULL),
			 400);
	assert_non_null(strstr(answer_str(f, "message"), "inactive_days"));

	/* The app gone, the sign-in stays, without an app name. */
	snprintf(path, sizeof(path), "/admin/v1/apps/%s", id);
	assert_int_equal(call(f, SUPER, "DELETE", path, NULL), 200);
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/ann", NULL),
			 200);
	last = json_object_get(f->answer, "last_sign_in");
	assert_true(json_is_null(json_object_get(last, "app")));
	assert_string_equal(
		json_string_value(json_object_get(last, "client_id")), id);

	/* A user removed and made again has not signed in. */
	assert_int_equal(call(f, ADMIN, "DELETE", "/admin/v1/users/ann", NULL),
			 200);
	add_user(f, "ann");
	assert_int_equal(call(f, ADMIN, "GET", "/admin/v1/users/ann", NULL),
			 200);
	assert_true(json_is_null(json_object_get(f->answer, "last_sign_in")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_admin_no_token_401),
		T(test_admin_bad_token_401),
		T(test_status_counts_users_and_apps),
		T(test_user_add_show_list_set_remove),
		T(test_user_passwd_changes_password),
		T(test_user_unlock_clears_lock_and_audits),
		T(test_group_percent_decoded_members),
		T(test_policy_add_assign_group),
		T(test_app_add_admin_403),
		T(test_app_add_secret_works_and_metadata_url),
		T(test_app_backchannel_logout_uri),
		T(test_app_rotate_secret_old_refused),
		T(test_app_rotate_secret_keep_previous),
		T(test_app_deploy_admin_needs_admins_may_deploy),
		T(test_group_removal_undeploying_locked_profile_superadmin),
		T(test_app_deploy_unknown_name_400_nothing_deployed),
		T(test_app_deploy_full_list_409_nothing_deployed),
		T(test_app_deploy_all_then_undeploy),
		T(test_app_add_bad_redirect_uri_400_names_it),
		T(test_message_cut_inside_a_character_400),
		T(test_admin_unknown_path_404),
		T(test_admin_wrong_method_405),
		T(test_admin_malformed_json_400),
		T(test_audit_newest_first_with_actor),
		T(test_keys_rotate_superadmin_only),
		T(test_user_list_past_a_mebibyte),
		T(test_sessions_list_and_end),
		T(test_session_idle_timeout),
		T(test_session_sweep_clock_set_back_starts_over),
		T(test_session_sweep_ends_unread_sessions),
		T(test_session_note_client_after_end_refused),
		T(test_admin_log_line_names_actor_never_secrets),
		T(test_admin_unknown_query_parameter_400_on_every_route),
		T(test_enroll_code_disabled_user_409),
		T(test_workflow_get_defaults),
		T(test_workflow_patch_changes_and_audits),
		T(test_workflow_patch_bad_value_400_unchanged),
		T(test_enroll_code_known_user_201_with_uri),
		T(test_enroll_code_unknown_user_404),
		T(test_devices_list_empty_then_one_then_removed),
		T(test_user_add_clears_an_earlier_users_phone),
		T(test_user_remove_damaged_record),
		T(test_device_remove_unknown_or_odd_id_404),
		T(test_device_rename_shown_audited_checked),
		T(test_enroll_codes_revoked_all_of_the_user),
		T(test_device_remove_audit_fails_device_stays),
		T(test_push_queue_empty_then_jobs_oldest_first),
		T(test_branding_superadmin_sets_admin_reads),
		T(test_devices_list_push_token_cut),
		T(test_app_secret_stored_audit_fails_secret_answered),
		T(test_user_remove_incomplete_503_then_rerun_finishes),
		T(test_app_hidden_deployment_400_never_deployed),
		T(test_app_undeploy_admin_403_says_undeploying),
		T(test_user_show_failures_delay_and_lock),
		T(test_user_remove_event_names_devices),
		T(test_removal_events_have_detail),
		T(test_names_of_only_dots_400),
		T(test_app_duplicate_redirect_uris_dropped),
		T(test_group_description_blank_400_says_0),
		T(test_last_signin_shown_and_inactive_users_listed),
#undef T
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
