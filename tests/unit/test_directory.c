/*
 * Unit tests of the directory: users, groups, OUs, policies, application
 * profiles, sign-in, brute-force throttling and the audit trail, over the
 * memory store.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <argon2.h>
#include <jansson.h>
#include <openssl/crypto.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/store.h"
#include "common/util.h"
#include "directory/audit.h"
#include "directory/directory.h"
#include "directory/password.h"
#include "directory/signins.h"
#include "directory/throttle.h"

#define ACTOR "root"

typedef struct fixture {
	store_ctx *store;
	af_dir *dir;
	char err[AF_DIR_ERR_BUF];
} fixture;

static store_ctx *memory_store(void)
{
	store_options so;
	store_ctx *st = NULL;

	memset(&so, 0, sizeof(so));
	so.backend = STORE_BACKEND_MEMORY;
	assert_int_equal(store_open(&so, &st, NULL, 0), STORE_OK);
	assert_non_null(st);
	return st;
}

static af_dir *small_dir(store_ctx *st, uint32_t m_kib)
{
	af_dir_options opts;
	af_dir *dir = NULL;

	af_dir_options_default(&opts);
	opts.pw.m_kib = m_kib;
	opts.pw.t = 1;
	opts.pw.p = 1;
	assert_int_equal(af_dir_new(st, &opts, &dir, NULL, 0), AF_DIR_OK);
	assert_non_null(dir);
	return dir;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->store = memory_store();
	f->dir = small_dir(f->store, 64);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	af_dir_free(f->dir);
	store_close(f->store);
	free(f);
	return 0;
}

/* The key of a user name's strikes: the name is kept hashed. */
static const char *strikes_key(const char *name, char out[80])
{
	char hex[65];

	af_sha256_hex(name, strlen(name), hex);
	(void)snprintf(out, 80, "strikes:user:%s", hex);
	return out;
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);

	if (v == NULL)
		fail_msg("bad test JSON: %s", jerr.text);
	return v;
}

/* Adds a user from JSON text; returns the status, err in f->err. */
static af_dir_status add_user(fixture *f, const char *spec_text,
			      const char *password)
{
	json_t *spec = parse(spec_text);
	af_dir_status rc;

	f->err[0] = '\0';
	rc = af_dir_user_add(f->dir, ACTOR, spec, password, NULL, f->err,
			     sizeof(f->err));
	json_decref(spec);
	return rc;
}

static af_dir_status set_user(fixture *f, const char *name,
			      const char *patch_text)
{
	json_t *patch = parse(patch_text);
	af_dir_status rc;

	f->err[0] = '\0';
	rc = af_dir_user_set(f->dir, ACTOR, name, patch, NULL, f->err,
			     sizeof(f->err));
	json_decref(patch);
	return rc;
}

static af_dir_status add_policy(fixture *f, const char *spec_text)
{
	json_t *spec = parse(spec_text);
	af_dir_status rc;

	f->err[0] = '\0';
	rc = af_dir_policy_add(f->dir, ACTOR, spec, f->err, sizeof(f->err));
	json_decref(spec);
	return rc;
}

static af_dir_status add_app(fixture *f, const char *spec_text, json_t **app,
			     char *secret)
{
	json_t *spec = parse(spec_text);
	char tmp[AF_DIR_SECRET_BUF];
	af_dir_status rc;

	f->err[0] = '\0';
	rc = af_dir_app_add(f->dir, ACTOR, spec, app,
			    secret != NULL ? secret : tmp, AF_DIR_SECRET_BUF,
			    f->err, sizeof(f->err));
	json_decref(spec);
	return rc;
}

/* add_app() that keeps only the new app's client id, into id. */
static af_dir_status add_app_id(fixture *f, const char *spec_text, char *id)
{
	json_t *app = NULL;
	af_dir_status rc = add_app(f, spec_text, &app, NULL);

	snprintf(id, AF_DIR_CLIENT_ID_BUF, "%s",
		 rc == AF_DIR_OK
			 ? json_string_value(json_object_get(app, "client_id"))
			 : "");
	json_decref(app);
	return rc;
}

/* Expects a refusal whose message starts with the field name. */
static void assert_refused(fixture *f, af_dir_status rc, const char *field)
{
	if (rc != AF_DIR_INVALID)
		fail_msg("expected INVALID for %s, got %s (%s)", field,
			 af_dir_status_name(rc), f->err);
	if (strncmp(f->err, field, strlen(field)) != 0)
		fail_msg("message \"%s\" does not name %s", f->err, field);
}

static void add_groups_and_ous(fixture *f)
{
	assert_int_equal(
		af_dir_group_add(f->dir, ACTOR, "staff", "Everyone", NULL, 0),
		AF_DIR_OK);
	assert_int_equal(
		af_dir_group_add(f->dir, ACTOR, "sales", NULL, NULL, 0),
		AF_DIR_OK);
	assert_int_equal(af_dir_ou_add(f->dir, ACTOR, "Europe/Paris", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_ou_add(f->dir, ACTOR, "Americas", NULL, 0),
			 AF_DIR_OK);
}

static int members_equal(fixture *f, int group, const char *name,
			 const char *want_text)
{
	json_t *got = NULL, *want = parse(want_text);
	int eq;

	assert_int_equal(group ? af_dir_group_members(f->dir, name, &got)
			       : af_dir_ou_members(f->dir, name, &got),
			 AF_DIR_OK);
	eq = json_equal(got, want);
	if (!eq) {
		char *s = json_dumps(got, JSON_COMPACT);

		print_error("members of %s: %s, want %s\n", name, s, want_text);
		free(s);
	}
	json_decref(got);
	json_decref(want);
	return eq;
}

static json_t *get_user(fixture *f, const char *name)
{
	json_t *u = NULL;

	assert_int_equal(af_dir_user_get(f->dir, name, &u), AF_DIR_OK);
	return u;
}

/* The record stored for user name, read straight from the store. */
static json_t *stored_user(fixture *f, const char *name, char *key)
{
	store_value v = {NULL, 0};
	json_t *u;

	snprintf(key, STORE_KEY_MAX, "user:%s", name);
	assert_int_equal(store_get(f->store, key, &v), STORE_OK);
	u = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_non_null(u);
	return u;
}

/* The PHC string stored for a user. */
static char *stored_phc(fixture *f, const char *name)
{
	char key[STORE_KEY_MAX];
	json_t *u = stored_user(f, name, key);
	char *phc = strdup(json_string_value(json_object_get(u, "password")));

	json_decref(u);
	assert_non_null(phc);
	return phc;
}

/* Sets member k of the record stored for user name to v (taken). */
static void put_member(fixture *f, const char *name, const char *k, json_t *v)
{
	char key[STORE_KEY_MAX];
	json_t *u = stored_user(f, name, key);
	char *text;

	assert_int_equal(json_object_set_new(u, k, v), 0);
	text = json_dumps(u, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	assert_int_equal(store_set(f->store, key, text, strlen(text), 0, 0),
			 STORE_OK);
	free(text);
	json_decref(u);
}

static void test_af_dir_strerror_every_status_has_text(void **state)
{
	static const af_dir_status all[] = {
#define AF_DIR_XX(name, value, text) AF_DIR_##name,
		AF_DIR_STATUS_MAP(AF_DIR_XX)
#undef AF_DIR_XX
	};

	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_non_null(af_dir_strerror(all[i]));
		assert_true(strlen(af_dir_strerror(all[i])) > 0);
	}
	assert_string_equal(af_dir_strerror((af_dir_status)-999),
			    "unknown error");
	assert_string_equal(af_dir_status_name(AF_DIR_LOCKED), "LOCKED");
}

static void test_af_dir_new_bad_options_invalid(void **state)
{
	fixture *f = *state;
	af_dir_options opts;
	af_dir *dir = NULL;

	af_dir_options_default(&opts);
	opts.pw.t = 0;
	assert_int_equal(
		af_dir_new(f->store, &opts, &dir, f->err, sizeof(f->err)),
		AF_DIR_INVALID);
	assert_null(dir);
	assert_true(strstr(f->err, "argon2 t") != NULL);
	af_dir_options_default(&opts);
	opts.throttle.window_s = 0;
	assert_int_equal(
		af_dir_new(f->store, &opts, &dir, f->err, sizeof(f->err)),
		AF_DIR_INVALID);
	assert_true(strstr(f->err, "window_s") != NULL);
	assert_int_equal(af_dir_new(NULL, NULL, &dir, NULL, 0), AF_DIR_INVALID);
}

static void test_af_dir_check_values_bad_refused(void **state)
{
	char err[AF_DIR_ERR_BUF], long_name[80];

	(void)state;
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(
		af_dir_check_username("u", "al.ice@x-y_z", err, sizeof(err)),
		AF_DIR_OK);
	assert_int_equal(af_dir_check_username("u", "al ice", err, sizeof(err)),
			 AF_DIR_INVALID);
	assert_string_equal(
		err, "u: must be 1..64 characters of A-Z a-z 0-9 . _ @ -");
	assert_int_equal(af_dir_check_username("u", "", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_username("u", long_name, NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_name("n", "Sales EMEA/2.x_y-z", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_check_name("n", " lead", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_name("n", "a:b", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(
		af_dir_check_display("d", "Zoë Ångström 日本", 128, NULL, 0),
		AF_DIR_OK);
	assert_int_equal(af_dir_check_display("d", "tab\there", 128, NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_display("d", "\xc3\x28", 128, NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_display("d", "\xc0\xaf", 128, NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_display("d", "evil\xe2\x80\xaegpj.exe",
					      128, NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_display("d", "", 128, NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_display("d", "abcd", 3, NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(
		af_dir_check_email("e", "a.b+c@mail.example.com", NULL, 0),
		AF_DIR_OK);
	assert_int_equal(af_dir_check_email("e", "a@b@c.com", err, sizeof(err)),
			 AF_DIR_INVALID);
	assert_string_equal(err, "e: not a valid address");
	assert_int_equal(af_dir_check_email("e", "a@localhost", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_email("e", "@x.com", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_email("e", "a..b@x.com", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_email("e", "a b@x.com", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_email("e", "a@x..com", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_domain("d", "Example.COM", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_check_domain("d", "-a.com", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_domain("d", "a-.com", NULL, 0),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_check_domain("d", "a.com.", NULL, 0),
			 AF_DIR_INVALID);
}

static void test_af_dir_user_add_full_spec_stored(void **state)
{
	fixture *f = *state;
	json_t *u;

	add_groups_and_ous(f);
	assert_int_equal(
		add_user(f,
			 "{\"username\":\"Alice\",\"name\":\"Alice Liddell\","
			 "\"email\":\"alice@example.com\","
			 "\"domain\":\"Example.com\","
			 "\"groups\":[\"staff\",\"sales\",\"staff\"],"
			 "\"ous\":[\"Europe/Paris\"]}",
			 "pw-alice"),
		AF_DIR_OK);
	u = get_user(f, "ALICE");
	assert_string_equal(json_string_value(json_object_get(u, "username")),
			    "alice");
	assert_string_equal(json_string_value(json_object_get(u, "domain")),
			    "example.com");
	assert_true(json_is_false(json_object_get(u, "email_verified")));
	assert_true(json_is_true(json_object_get(u, "enabled")));
	assert_true(json_is_true(json_object_get(u, "password_set")));
	assert_null(json_object_get(u, "password"));
	assert_int_equal(json_array_size(json_object_get(u, "groups")), 2);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(u, "groups"), 0)),
			    "sales");
	assert_true(json_is_integer(json_object_get(u, "created_at")));
	assert_int_equal(strlen(json_string_value(json_object_get(u, "sub"))),
			 AF_DIR_SUB_LEN);
	json_decref(u);
	assert_true(members_equal(f, 1, "staff", "[\"alice\"]"));
	assert_true(members_equal(f, 1, "sales", "[\"alice\"]"));
	assert_true(members_equal(f, 0, "Europe/Paris", "[\"alice\"]"));
	assert_true(members_equal(f, 0, "Americas", "[]"));
}

static void test_af_dir_user_add_bad_fields_refused(void **state)
{
	static const struct {
		const char *spec;
		const char *field;
	} bad[] = {
		{"{\"name\":\"No Username\"}", "username"},
		{"{\"username\":\"a b\"}", "username"},
		{"{\"username\":7}", "username"},
		{"{\"username\":\"u\",\"sub\":\"x\"}", "sub"},
		{"{\"username\":\"u\",\"password\":\"x\"}", "password"},
		{"{\"username\":\"u\",\"colour\":\"red\"}", "colour"},
		{"{\"username\":\"u\",\"name\":\"\"}", "name"},
		{"{\"username\":\"u\",\"name\":\"a\\u0007b\"}", "name"},
		{"{\"username\":\"u\",\"name\":5}", "name"},
		{"{\"username\":\"u\",\"email\":\"nope\"}", "email"},
		{"{\"username\":\"u\",\"domain\":\"bad domain\"}", "domain"},
		{"{\"username\":\"u\",\"enabled\":\"yes\"}", "enabled"},
		{"{\"username\":\"u\",\"email_verified\":1}", "email_verified"},
		{"{\"username\":\"u\",\"groups\":\"staff\"}", "groups"},
		{"{\"username\":\"u\",\"groups\":[\"nosuch\"]}", "groups"},
		{"{\"username\":\"u\",\"groups\":[3]}", "groups"},
		{"{\"username\":\"u\",\"ous\":[\"Nowhere\"]}", "ous"},
	};
	fixture *f = *state;
	char big[AF_PW_MAX + 2];
	json_t *arr;

	add_groups_and_ous(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(f, add_user(f, bad[i].spec, NULL), bad[i].field);
	assert_refused(f, add_user(f, "{\"username\":\"u\"}", ""), "password");
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_refused(f, add_user(f, "{\"username\":\"u\"}", big), "password");
	assert_string_equal(f->err, "password: must be 1..1024 bytes");
	assert_refused(f, add_user(f, "[1]", NULL), "user");
	assert_refused(f,
		       add_user(f,
				"{\"username\":\"u\",\"groups\":[\"nosuch\"]}",
				NULL),
		       "groups: no group named \"nosuch\"");
	/* Nothing was stored by any refusal. */
	assert_int_equal(af_dir_user_list(f->dir, &arr), AF_DIR_OK);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	assert_int_equal(af_dir_user_add(f->dir, "", NULL, NULL, NULL, NULL, 0),
			 AF_DIR_INVALID);
}

static void test_af_dir_user_add_same_name_any_case_exists(void **state)
{
	fixture *f = *state;

	assert_int_equal(add_user(f, "{\"username\":\"bob\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"BOB\"}", NULL),
			 AF_DIR_EXISTS);
	assert_string_equal(f->err, "username: a user named \"bob\" exists");
}

static void test_af_dir_user_subs_unique_and_found(void **state)
{
	fixture *f = *state;
	char name[16];
	json_t *subs = json_array(), *u = NULL, *v;
	size_t i;

	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "user%zu", i);
		snprintf(f->err, sizeof(f->err), "{\"username\":\"%s\"}", name);
		assert_int_equal(add_user(f, f->err, NULL), AF_DIR_OK);
		u = get_user(f, name);
		v = json_object_get(u, "sub");
		assert_int_equal(strlen(json_string_value(v)), AF_DIR_SUB_LEN);
		assert_false(af_dir__array_has(subs, json_string_value(v)));
		assert_int_equal(json_array_append(subs, v), 0);
		json_decref(u);
	}
	assert_int_equal(
		af_dir_user_get_by_sub(
			f->dir, json_string_value(json_array_get(subs, 7)), &u),
		AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(u, "username")),
			    "user7");
	json_decref(u);
	assert_int_equal(af_dir_user_get_by_sub(f->dir, "short", &u),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(
		af_dir_user_get_by_sub(f->dir, "AAAAAAAAAAAAAAAAAAAAAA", &u),
		AF_DIR_NOT_FOUND);
	/* A removed user's sub no longer resolves. */
	assert_int_equal(af_dir_user_remove(f->dir, ACTOR, "user7", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(
		af_dir_user_get_by_sub(
			f->dir, json_string_value(json_array_get(subs, 7)), &u),
		AF_DIR_NOT_FOUND);
	json_decref(subs);
}

static void test_af_dir_user_set_memberships_kept_in_step(void **state)
{
	fixture *f = *state;
	json_t *u;

	add_groups_and_ous(f);
	assert_int_equal(
		add_user(f,
			 "{\"username\":\"carol\",\"groups\":[\"staff\"],"
			 "\"ous\":[\"Americas\"]}",
			 NULL),
		AF_DIR_OK);
	assert_int_equal(
		add_user(f, "{\"username\":\"dave\",\"groups\":[\"staff\"]}",
			 NULL),
		AF_DIR_OK);
	assert_true(members_equal(f, 1, "staff", "[\"carol\",\"dave\"]"));
	assert_int_equal(set_user(f, "carol",
				  "{\"groups\":[\"sales\"],"
				  "\"ous\":[\"Europe/Paris\"]}"),
			 AF_DIR_OK);
	assert_true(members_equal(f, 1, "staff", "[\"dave\"]"));
	assert_true(members_equal(f, 1, "sales", "[\"carol\"]"));
	assert_true(members_equal(f, 0, "Americas", "[]"));
	assert_true(members_equal(f, 0, "Europe/Paris", "[\"carol\"]"));
	assert_refused(f, set_user(f, "carol", "{\"groups\":[\"gone\"]}"),
		       "groups");
	assert_refused(f, set_user(f, "carol", "{\"username\":\"x\"}"),
		       "username");
	assert_int_equal(set_user(f, "nobody", "{\"enabled\":false}"),
			 AF_DIR_NOT_FOUND);
	/* One member at a time. */
	assert_int_equal(af_dir_group_add_member(f->dir, ACTOR, "staff",
						 "Carol", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_true(members_equal(f, 1, "staff", "[\"carol\",\"dave\"]"));
	assert_int_equal(af_dir_group_remove_member(f->dir, ACTOR, "staff",
						    "dave", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_true(members_equal(f, 1, "staff", "[\"carol\"]"));
	assert_int_equal(af_dir_group_add_member(f->dir, ACTOR, "nosuch",
						 "dave", NULL, NULL, 0),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_ou_add_member(f->dir, ACTOR, "Americas",
					      "nobody", NULL, NULL, 0),
			 AF_DIR_NOT_FOUND);
	u = get_user(f, "carol");
	assert_int_equal(json_array_size(json_object_get(u, "groups")), 2);
	json_decref(u);
	/*
	 * A record that names a group whose member list lost the user (an
	 * earlier call failed after writing the record): the call made
	 * again, or any change of the user, brings the list in line.
	 */
	assert_int_equal(store_srem(af_dir_store(f->dir), "group_members:staff",
				    "carol"),
			 STORE_OK);
	assert_true(members_equal(f, 1, "staff", "[]"));
	assert_int_equal(af_dir_group_add_member(f->dir, ACTOR, "staff",
						 "carol", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_true(members_equal(f, 1, "staff", "[\"carol\"]"));
	assert_int_equal(store_srem(af_dir_store(f->dir), "group_members:sales",
				    "carol"),
			 STORE_OK);
	assert_int_equal(set_user(f, "carol", "{\"enabled\":true}"), AF_DIR_OK);
	assert_true(members_equal(f, 1, "sales", "[\"carol\"]"));
	/* And a member removed again leaves the list too. */
	assert_int_equal(
		store_sadd(af_dir_store(f->dir), "group_members:staff", "dave"),
		STORE_OK);
	assert_int_equal(af_dir_group_remove_member(f->dir, ACTOR, "staff",
						    "dave", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_true(members_equal(f, 1, "staff", "[\"carol\"]"));
}

static void test_af_dir_user_set_email_change_unverifies(void **state)
{
	fixture *f = *state;
	json_t *u;

	assert_int_equal(add_user(f,
				  "{\"username\":\"erin\",\"name\":\"Erin\","
				  "\"email\":\"erin@a.example\","
				  "\"email_verified\":true}",
				  NULL),
			 AF_DIR_OK);
	assert_int_equal(set_user(f, "erin", "{\"email\":\"erin@b.example\"}"),
			 AF_DIR_OK);
	u = get_user(f, "erin");
	assert_true(json_is_false(json_object_get(u, "email_verified")));
	json_decref(u);
	assert_int_equal(set_user(f, "erin",
				  "{\"email\":\"erin@c.example\","
				  "\"email_verified\":true,\"name\":null}"),
			 AF_DIR_OK);
	u = get_user(f, "erin");
	assert_true(json_is_true(json_object_get(u, "email_verified")));
	assert_null(json_object_get(u, "name"));
	json_decref(u);
}

/*
 * Given and family names are display strings like the full name; what
 * applications are told of the user dates its changes apart from other
 * writes (AF_DIR_USER_PROFILE_AT).
 */
static void test_af_dir_user_names_and_profile_time(void **state)
{
	fixture *f = *state;
	json_t *u;

	assert_int_equal(add_user(f,
				  "{\"username\":\"ines\",\"name\":\"In\u00e9s "
				  "Garc\u00eda\",\"given_name\":\"In\u00e9s\","
				  "\"family_name\":\"Garc\u00eda\"}",
				  "pw-ines-123"),
			 AF_DIR_OK);
	u = get_user(f, "ines");
	assert_string_equal(
		json_string_value(json_object_get(u, "family_name")),
		"Garc\xc3\xad"
		"a");
	/* Made now: its profile too. */
	assert_true(json_equal(json_object_get(u, AF_DIR_USER_PROFILE_AT),
			       json_object_get(u, "created_at")));
	json_decref(u);
	put_member(f, "ines", AF_DIR_USER_PROFILE_AT, json_integer(1));
	assert_refused(f, set_user(f, "ines", "{\"given_name\":\"a\\tb\"}"),
		       "given_name");
	assert_refused(f, set_user(f, "ines", "{\"family_name\":7}"),
		       "family_name");
	assert_refused(f, set_user(f, "ines", "{\"profile_updated_at\":1}"),
		       "profile_updated_at");
	/* The same value again, or a password, is no profile change. */
	assert_int_equal(set_user(f, "ines", "{\"given_name\":\"In\u00e9s\"}"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "ines",
						  "pw-ines-456", f->err,
						  sizeof(f->err)),
			 AF_DIR_OK);
	u = get_user(f, "ines");
	assert_int_equal(
		json_integer_value(json_object_get(u, AF_DIR_USER_PROFILE_AT)),
		1);
	json_decref(u);
	assert_int_equal(set_user(f, "ines", "{\"family_name\":null}"),
			 AF_DIR_OK);
	u = get_user(f, "ines");
	assert_null(json_object_get(u, "family_name"));
	assert_true(json_integer_value(
			    json_object_get(u, AF_DIR_USER_PROFILE_AT)) > 1);
	json_decref(u);
	/* Joining a group is a change of the profile too. */
	put_member(f, "ines", AF_DIR_USER_PROFILE_AT, json_integer(1));
	add_groups_and_ous(f);
	assert_int_equal(af_dir_group_add_member(f->dir, ACTOR, "staff", "ines",
						 NULL, NULL, 0),
			 AF_DIR_OK);
	u = get_user(f, "ines");
	assert_true(json_integer_value(
			    json_object_get(u, AF_DIR_USER_PROFILE_AT)) > 1);
	json_decref(u);
}

static int stop_now(void *arg)
{
	(void)arg;
	return 1;
}

/*
 * A record written without its member sets (a process killed between the
 * two): the mending pass adds what the records name, only that, and a
 * removal of the group then reaches the user again.
 */
static void test_af_dir_memberships_mend(void **state)
{
	fixture *f = *state;
	size_t users = 0, mended = 0;
	json_t *u;

	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "g1", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_ou_add(f->dir, ACTOR, "Lab", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(add_user(f,
				  "{\"username\":\"mona\",\"groups\":[\"g1\"],"
				  "\"ous\":[\"Lab\"]}",
				  NULL),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"ned\"}", NULL),
			 AF_DIR_OK);
	/* Nothing to mend. */
	assert_int_equal(af_dir_memberships_mend(f->dir, NULL, NULL, NULL,
						 &users, &mended),
			 AF_DIR_OK);
	assert_int_equal(users, 2);
	assert_int_equal(mended, 0);
	/* The sets lose what the record names. */
	assert_int_equal(store_srem(f->store, "group_members:g1", "mona"),
			 STORE_OK);
	assert_int_equal(store_srem(f->store, "ou_members:Lab", "mona"),
			 STORE_OK);
	assert_true(members_equal(f, 1, "g1", "[]"));
	/* Asked to stop, it reads nobody. */
	assert_int_equal(af_dir_memberships_mend(f->dir, stop_now, NULL, NULL,
						 &users, &mended),
			 AF_DIR_OK);
	assert_int_equal(users, 0);
	assert_int_equal(mended, 0);
	assert_int_equal(af_dir_memberships_mend(f->dir, NULL, NULL, NULL,
						 &users, &mended),
			 AF_DIR_OK);
	assert_int_equal(users, 2);
	assert_int_equal(mended, 2);
	assert_true(members_equal(f, 1, "g1", "[\"mona\"]"));
	assert_true(members_equal(f, 0, "Lab", "[\"mona\"]"));
	/* The group's removal reaches the record, so a later group of the
	 * name does not inherit her. */
	assert_int_equal(af_dir_group_remove(f->dir, ACTOR, "g1"), AF_DIR_OK);
	u = get_user(f, "mona");
	assert_int_equal(json_array_size(json_object_get(u, "groups")), 0);
	json_decref(u);
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "g1", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_true(members_equal(f, 1, "g1", "[]"));
	assert_int_equal(af_dir_memberships_mend(NULL, NULL, NULL, NULL, &users,
						 &mended),
			 AF_DIR_INVALID);
}

static void note_removing(void *arg, const char *user)
{
	json_array_append_new(arg, json_string(user));
}

/* A removal a stop cut short is told by the pass, and only that one. */
static void test_af_dir_memberships_mend_tells_removing(void **state)
{
	fixture *f = *state;
	size_t users = 0, mended = 0;
	json_t *told = json_array(), *u;
	store_value v = {NULL, 0};
	char *text;

	assert_int_equal(add_user(f, "{\"username\":\"olga\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"pete\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(store_get(f->store, "user:olga", &v), STORE_OK);
	u = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_non_null(u);
	assert_int_equal(json_object_set_new(u, "removing", json_true()), 0);
	text = json_dumps(u, JSON_COMPACT);
	assert_int_equal(
		store_set(f->store, "user:olga", text, strlen(text), 0, 0),
		STORE_OK);
	free(text);
	json_decref(u);
	assert_int_equal(af_dir_memberships_mend(f->dir, NULL, note_removing,
						 told, &users, &mended),
			 AF_DIR_OK);
	assert_int_equal(users, 2);
	assert_int_equal(json_array_size(told), 1);
	assert_string_equal(json_string_value(json_array_get(told, 0)), "olga");
	json_decref(told);
}

static void test_af_dir_group_remove_drops_from_users(void **state)
{
	fixture *f = *state;
	json_t *u, *list;

	add_groups_and_ous(f);
	assert_int_equal(add_user(f,
				  "{\"username\":\"frank\","
				  "\"groups\":[\"staff\",\"sales\"],"
				  "\"ous\":[\"Americas\"]}",
				  NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_group_remove(f->dir, ACTOR, "staff"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_ou_remove(f->dir, ACTOR, "Americas"),
			 AF_DIR_OK);
	u = get_user(f, "frank");
	assert_int_equal(json_array_size(json_object_get(u, "groups")), 1);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(u, "groups"), 0)),
			    "sales");
	assert_int_equal(json_array_size(json_object_get(u, "ous")), 0);
	json_decref(u);
	assert_int_equal(af_dir_group_members(f->dir, "staff", &list),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_group_remove(f->dir, ACTOR, "staff"),
			 AF_DIR_NOT_FOUND);
	/* A group made again with the name starts empty. */
	assert_int_equal(
		af_dir_group_add(f->dir, ACTOR, "staff", NULL, NULL, 0),
		AF_DIR_OK);
	assert_true(members_equal(f, 1, "staff", "[]"));
	assert_int_equal(af_dir_group_list(f->dir, &list), AF_DIR_OK);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "name")),
			    "sales");
	json_decref(list);
}

static void test_af_dir_group_add_bad_or_twice_refused(void **state)
{
	fixture *f = *state;
	json_t *g = NULL;

	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "ops", "Operations",
					  f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "ops", NULL, f->err,
					  sizeof(f->err)),
			 AF_DIR_EXISTS);
	assert_string_equal(f->err, "name: a group named \"ops\" exists");
	assert_refused(f,
		       af_dir_group_add(f->dir, ACTOR, "a:b", NULL, f->err,
					sizeof(f->err)),
		       "name");
	assert_refused(f,
		       af_dir_group_add(f->dir, ACTOR, "ok", "bell\a", f->err,
					sizeof(f->err)),
		       "description");
	assert_refused(f,
		       af_dir_ou_add(f->dir, ACTOR, "", f->err, sizeof(f->err)),
		       "name");
	assert_int_equal(
		af_dir_ou_add(f->dir, ACTOR, "Ops", f->err, sizeof(f->err)),
		AF_DIR_OK);
	assert_int_equal(
		af_dir_ou_add(f->dir, ACTOR, "Ops", f->err, sizeof(f->err)),
		AF_DIR_EXISTS);
	assert_string_equal(f->err, "name: an OU named \"Ops\" exists");
	/* Names that differ only in case would be mistaken for each other. */
	assert_int_equal(
		af_dir_ou_add(f->dir, ACTOR, "OPS", f->err, sizeof(f->err)),
		AF_DIR_EXISTS);
	assert_string_equal(f->err,
			    "name: an OU named \"Ops\" exists; names that "
			    "differ only in case would be mistaken for each "
			    "other");
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "Ops", NULL, f->err,
					  sizeof(f->err)),
			 AF_DIR_EXISTS);
	assert_non_null(strstr(f->err, "a group named \"ops\" exists;"));
	assert_int_equal(add_policy(f, "{\"name\":\"Ward-Staff\"}"), AF_DIR_OK);
	assert_int_equal(add_policy(f, "{\"name\":\"ward-staff\"}"),
			 AF_DIR_EXISTS);
	assert_non_null(strstr(f->err, "a policy named \"Ward-Staff\""));
	assert_int_equal(af_dir_group_set(f->dir, ACTOR, "ops", "Ops team",
					  f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_group_get(f->dir, "ops", &g), AF_DIR_OK);
	assert_string_equal(
		json_string_value(json_object_get(g, "description")),
		"Ops team");
	json_decref(g);
	assert_int_equal(af_dir_group_set(f->dir, ACTOR, "none", "x", f->err,
					  sizeof(f->err)),
			 AF_DIR_NOT_FOUND);
}

/* Collects the events af_audit_list() gives into the array *arg. */
static int collect_actions(const json_t *ev, void *arg)
{
	json_t **list = arg;

	if (*list == NULL)
		*list = json_array();
	json_array_append_new(*list, json_deep_copy(ev));
	return 0;
}

/* user.set says what each field was, so a change can be read and undone. */
static void test_af_dir_user_set_audit_says_what_was(void **state)
{
	fixture *f = *state;
	json_t *list = NULL, *detail, *was;
	char *text;

	assert_int_equal(add_user(f,
				  "{\"username\":\"wes\",\"name\":\"Wes\","
				  "\"email\":\"wes@a.example\","
				  "\"email_verified\":true}",
				  "wes-first-pass-1"),
			 AF_DIR_OK);
	assert_int_equal(set_user(f, "wes",
				  "{\"email\":\"wes@b.example\","
				  "\"name\":null,\"enabled\":false,"
				  "\"password_change_required\":true}"),
			 AF_DIR_OK);
	assert_int_equal(af_audit_list(f->dir, 1, collect_actions, &list),
			 AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "action")),
			    "user.set");
	detail = json_object_get(json_array_get(list, 0), "detail");
	assert_string_equal(json_string_value(json_object_get(detail, "email")),
			    "wes@b.example");
	was = json_object_get(detail, "was");
	assert_string_equal(json_string_value(json_object_get(was, "email")),
			    "wes@a.example");
	assert_string_equal(json_string_value(json_object_get(was, "name")),
			    "Wes");
	assert_true(json_is_true(json_object_get(was, "enabled")));
	/* A flag never stored was off, not nothing. */
	assert_true(json_is_false(
		json_object_get(was, "password_change_required")));
	/* Not given, but cleared by the new address: said all the same. */
	assert_true(json_is_false(json_object_get(detail, "email_verified")));
	assert_true(json_is_true(json_object_get(was, "email_verified")));
	/* Never a password hash, not even the one before. */
	assert_null(json_object_get(was, "password"));
	text = json_dumps(detail, 0);
	assert_non_null(text);
	assert_null(strstr(text, "argon2"));
	free(text);
	json_decref(list);
	/* A change that leaves it as it was does not name it. */
	list = NULL;
	assert_int_equal(set_user(f, "wes", "{\"email\":\"wes@c.example\"}"),
			 AF_DIR_OK);
	assert_int_equal(af_audit_list(f->dir, 1, collect_actions, &list),
			 AF_DIR_OK);
	detail = json_object_get(json_array_get(list, 0), "detail");
	assert_null(json_object_get(detail, "email_verified"));
	assert_null(json_object_get(json_object_get(detail, "was"),
				    "email_verified"));
	json_decref(list);
}

/* The newest audit event's detail; *list keeps it (decref it after). */
static json_t *newest_detail(fixture *f, const char *action, json_t **list)
{
	*list = NULL;
	assert_int_equal(af_audit_list(f->dir, 1, collect_actions, list),
			 AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(*list, 0), "action")),
			    action);
	return json_object_get(json_array_get(*list, 0), "detail");
}

/*
 * policy.set and app.set say what each setting was: MFA turned off for a
 * policy's people, or a redirect URI swapped, shows as such.
 */
static void test_af_dir_policy_app_set_audit_says_what_was(void **state)
{
	fixture *f = *state;
	char id[AF_DIR_CLIENT_ID_BUF], *text;
	json_t *patch, *list, *detail, *was, *want;

	assert_int_equal(add_user(f, "{\"username\":\"ann\"}", "ann-pass-0001"),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"bob\"}", "bob-pass-0001"),
			 AF_DIR_OK);
	assert_int_equal(add_policy(f, "{\"name\":\"p\",\"remote_access\":true,"
				       "\"assigned\":{\"users\":[\"ann\"]}}"),
			 AF_DIR_OK);
	patch = parse("{\"remote_access\":false,\"number_matching\":false,"
		      "\"assigned\":{\"users\":[\"bob\"]}}");
	assert_int_equal(af_dir_policy_set(f->dir, ACTOR, "p", patch, f->err,
					   sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(patch);
	detail = newest_detail(f, "policy.set", &list);
	assert_true(json_is_false(json_object_get(detail, "remote_access")));
	was = json_object_get(detail, "was");
	assert_true(json_is_true(json_object_get(was, "remote_access")));
	/* Not set before: the workflow's, said as null. */
	assert_true(json_is_null(json_object_get(was, "number_matching")));
	/* The lists given, as they were; the others not named. */
	want = parse("{\"users\":[\"ann\"]}");
	assert_true(json_equal(json_object_get(was, "assigned"), want));
	json_decref(want);
	json_decref(list);

	assert_int_equal(
		add_app_id(f,
			   "{\"name\":\"a\",\"display_name\":\"A\","
			   "\"redirect_uris\":[\"https://a.example/cb\"]}",
			   id),
		AF_DIR_OK);
	patch = parse("{\"redirect_uris\":[\"https://b.example/cb\"]}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, id, patch, NULL, f->err,
					sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(patch);
	detail = newest_detail(f, "app.set", &list);
	want = parse("[\"https://a.example/cb\"]");
	assert_true(json_equal(json_object_get(json_object_get(detail, "was"),
					       "redirect_uris"),
			       want));
	json_decref(want);
	text = json_dumps(detail, 0);
	assert_non_null(text);
	assert_null(strstr(text, "secret"));
	free(text);
	json_decref(list);
	/* Claims are replaced whole: one dropped shows under was. */
	patch = parse("{\"claims\":{\"groups\":\"groups\","
		      "\"dept_x\":\"email\"}}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, id, patch, NULL, f->err,
					sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(patch);
	patch = parse("{\"claims\":{\"dept_x\":\"email\"}}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, id, patch, NULL, f->err,
					sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(patch);
	detail = newest_detail(f, "app.set", &list);
	want = parse("{\"groups\":\"groups\",\"dept_x\":\"email\"}");
	assert_true(json_equal(
		json_object_get(json_object_get(detail, "was"), "claims"),
		want));
	json_decref(want);
	json_decref(list);
}

/* 1 when list holds action on target by ACTOR with "removed" in detail. */
static int has_forget(const json_t *list, const char *action,
		      const char *target)
{
	const json_t *ev;
	size_t i;

	json_array_foreach(list, i, ev)
	{
		if (strcmp(json_string_value(json_object_get(ev, "action")),
			   action) == 0 &&
		    strcmp(json_string_value(json_object_get(ev, "target")),
			   target) == 0 &&
		    strcmp(json_string_value(json_object_get(ev, "actor")),
			   ACTOR) == 0 &&
		    json_is_true(json_object_get(json_object_get(ev, "detail"),
						 "removed")))
			return 1;
	}
	return 0;
}

static void test_af_dir_user_remove_clears_references(void **state)
{
	fixture *f = *state;
	json_t *p = NULL, *app = NULL, *list = NULL;

	add_groups_and_ous(f);
	assert_int_equal(
		add_user(f, "{\"username\":\"gina\",\"groups\":[\"staff\"]}",
			 "pw-123456"),
		AF_DIR_OK);
	assert_int_equal(add_policy(f, "{\"name\":\"p\",\"sso\":true,"
				       "\"assigned\":{\"users\":[\"gina\"]}}"),
			 AF_DIR_OK);
	assert_int_equal(
		add_app(f,
			"{\"name\":\"crm\",\"redirect_uris\":[\"https://c/cb\"],"
			"\"deployment\":{\"mode\":\"chosen\","
			"\"users\":[\"gina\"]}}",
			&app, NULL),
		AF_DIR_OK);
	assert_int_equal(af_dir_user_remove(f->dir, ACTOR, "gina", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_get(f->dir, "gina", &list),
			 AF_DIR_NOT_FOUND);
	assert_true(members_equal(f, 1, "staff", "[]"));
	assert_int_equal(af_dir_policy_get(f->dir, "p", &p), AF_DIR_OK);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(p, "assigned"), "users")),
			 0);
	json_decref(p);
	assert_int_equal(af_dir_app_get(f->dir,
					json_string_value(json_object_get(
						app, "client_id")),
					&list),
			 AF_DIR_OK);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(list, "deployment"), "mode")),
		"none");
	json_decref(list);
	/* The policy and the app that lost the user say so on the trail. */
	list = NULL;
	assert_int_equal(af_audit_list(f->dir, 3, collect_actions, &list),
			 AF_DIR_OK);
	assert_true(has_forget(list, "policy.unassign", "p"));
	assert_true(has_forget(
		list, "app.undeploy",
		json_string_value(json_object_get(app, "client_id"))));
	json_decref(list);
	json_decref(app);
	assert_int_equal(af_dir_user_remove(f->dir, ACTOR, "gina", NULL, 0),
			 AF_DIR_NOT_FOUND);
}

static void test_af_dir_user_list_sorted_without_hashes(void **state)
{
	fixture *f = *state;
	json_t *list;

	assert_int_equal(add_user(f, "{\"username\":\"zed\"}", "pw-123456"),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"amy\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"max\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_list(f->dir, &list), AF_DIR_OK);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "username")),
			    "amy");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 2), "username")),
			    "zed");
	assert_null(json_object_get(json_array_get(list, 2), "password"));
	assert_true(json_is_true(
		json_object_get(json_array_get(list, 2), "password_set")));
	assert_true(json_is_false(
		json_object_get(json_array_get(list, 0), "password_set")));
	json_decref(list);
}

/* One damaged record does not take the whole list with it. */
static void test_af_dir_user_list_skips_a_damaged_record(void **state)
{
	fixture *f = *state;
	json_t *list;

	assert_int_equal(add_user(f, "{\"username\":\"amy\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"zed\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(store_set(f->store, "user:zed", "garbage", 7, 0, 0),
			 STORE_OK);
	assert_int_equal(af_dir_user_list(f->dir, &list), AF_DIR_OK);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "username")),
			    "amy");
	json_decref(list);
	/* The record itself is still refused, not taken for something. */
	assert_int_equal(af_dir_user_get(f->dir, "zed", &list), AF_DIR_STORE);
}

/*
 * Lists longer than one batch of reads come whole and in order, past a
 * damaged record and a name whose record is gone; and the policy that
 * applies is found wherever it sorts. A damaged policy fails sign-ins'
 * policy lookup closed: whom it named is not known.
 */
static void test_af_dir_long_list_in_batches(void **state)
{
	fixture *f = *state;
	char spec[128];
	json_t *list, *u, *p = NULL;
	size_t i;

	assert_int_equal(add_user(f, "{\"username\":\"ivy\"}", NULL),
			 AF_DIR_OK);
	for (i = 0; i < 150; i++) {
		snprintf(spec, sizeof(spec),
			 "{\"name\":\"p%03zu\",\"sso\":%s%s}", i,
			 i == 149 ? "true" : "false",
			 i == 149 ? ",\"assigned\":{\"users\":[\"ivy\"]}" : "");
		assert_int_equal(add_policy(f, spec), AF_DIR_OK);
	}
	assert_int_equal(store_set(f->store, "policy:p070", "garbage", 7, 0, 0),
			 STORE_OK);
	assert_int_equal(store_sadd(f->store, "policies", "p100a"), STORE_OK);
	assert_int_equal(af_dir_policy_list(f->dir, &list), AF_DIR_OK);
	assert_int_equal(json_array_size(list), 149);
	for (i = 0; i < json_array_size(list); i++) {
		snprintf(spec, sizeof(spec), "p%03zu", i < 70 ? i : i + 1);
		assert_string_equal(json_string_value(json_object_get(
					    json_array_get(list, i), "name")),
				    spec);
	}
	json_decref(list);
	u = get_user(f, "ivy");
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_STORE);
	assert_null(p);
	assert_int_equal(store_del(f->store, "policy:p070"), STORE_OK);
	assert_int_equal(store_srem(f->store, "policies", "p070"), STORE_OK);
	af_dir__policies_changed(f->dir);
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
			    "p149");
	assert_true(json_is_true(json_object_get(p, "sso")));
	json_decref(p);
	json_decref(u);
}

/* The sso flag of the policy that applies to name, as dir resolves it. */
static int sso_of(fixture *f, af_dir *dir, const char *name)
{
	json_t *u = get_user(f, name), *p = NULL;
	int on;

	assert_int_equal(af_dir_policy_for_user(dir, u, &p), AF_DIR_OK);
	on = json_is_true(json_object_get(p, "sso"));
	json_decref(p);
	json_decref(u);
	return on;
}

/*
 * The policies are kept listed between changes, and a change made through
 * another directory on the same store (another node) is seen at the next
 * sign-in; one written behind the directory's back, without the bump,
 * within a second.
 */
static void test_af_dir_policy_changes_seen_at_once(void **state)
{
	fixture *f = *state;
	af_dir *other = small_dir(f->store, 64);
	const char *direct = "{\"name\":\"p\",\"sso\":true,\"assigned\":{"
			     "\"users\":[\"ivy\"]}}";
	json_t *patch;

	assert_int_equal(add_user(f, "{\"username\":\"ivy\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_policy(f, "{\"name\":\"p\",\"sso\":true,"
				       "\"assigned\":{\"users\":[\"ivy\"]}}"),
			 AF_DIR_OK);
	assert_true(sso_of(f, f->dir, "ivy"));
	assert_true(sso_of(f, f->dir, "ivy"));
	patch = parse("{\"sso\":false}");
	assert_int_equal(af_dir_policy_set(other, ACTOR, "p", patch, NULL, 0),
			 AF_DIR_OK);
	json_decref(patch);
	assert_false(sso_of(f, f->dir, "ivy"));
	/* Unassigned on the other node: no policy applies any more. */
	assert_int_equal(af_dir_policy_unassign(other, ACTOR, "p",
						AF_DIR_TARGET_USER, "ivy", NULL,
						0),
			 AF_DIR_OK);
	{
		json_t *u = get_user(f, "ivy"), *p = NULL;

		assert_int_equal(af_dir_policy_for_user(f->dir, u, &p),
				 AF_DIR_NOT_FOUND);
		json_decref(u);
	}
	assert_int_equal(af_dir_policy_assign(other, ACTOR, "p",
					      AF_DIR_TARGET_USER, "ivy", NULL,
					      0),
			 AF_DIR_OK);
	assert_false(sso_of(f, f->dir, "ivy"));
	/* Behind the directory's back: seen once the listing is a second
	 * old. */
	assert_int_equal(
		store_set(f->store, "policy:p", direct, strlen(direct), 0, 0),
		STORE_OK);
	(void)usleep(1100 * 1000);
	assert_true(sso_of(f, f->dir, "ivy"));
	af_dir_free(other);
}

/*
 * The index names, for each user, group and OU, the first policy in the
 * listing that lists it: what a scan of the lists in order would find.
 */
static void test_af_dir_policy_index_first_wins(void **state)
{
	json_t *list = json_array(), *index = NULL, *maps;
	char name[32];
	size_t i, n;

	(void)state;
	for (i = 0; i < 30; i++) {
		json_t *users = json_array(), *p;

		for (n = i * 7; n < i * 7 + 40; n++) {
			(void)snprintf(name, sizeof(name), "u%zu", n);
			assert_int_equal(
				json_array_append_new(users, json_string(name)),
				0);
		}
		assert_int_equal(json_array_append_new(users, json_integer(5)),
				 0);
		(void)snprintf(name, sizeof(name), "g%zu", i % 5);
		p = json_pack("{s:s, s:{s:o, s:[s], s:[s]}}", "name", "p",
			      "assigned", "users", users, "groups", name, "ous",
			      i % 3 == 0 ? "o0" : "o1");
		assert_non_null(p);
		if (i == 29)
			(void)json_object_del(p, "assigned");
		assert_int_equal(json_array_append_new(list, p), 0);
	}
	assert_int_equal(af_dir__policy_index(list, &index), AF_DIR_OK);
	maps = json_object_get(index, "users");
	for (n = 0; n < 29 * 7 + 40; n++) {
		/* The first policy i with i * 7 <= n < i * 7 + 40. */
		size_t want = n < 40 ? 0 : (n - 40) / 7 + 1;

		(void)snprintf(name, sizeof(name), "u%zu", n);
		if (want >= 29) {
			assert_null(json_object_get(maps, name));
			continue;
		}
		assert_int_equal(
			json_integer_value(json_object_get(maps, name)),
			(json_int_t)want);
	}
	assert_int_equal(json_object_size(json_object_get(index, "groups")), 5);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(index, "groups"), "g3")),
			 3);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(index, "ous"), "o1")),
			 1);
	json_decref(index);
	json_decref(list);
}

/*
 * The index is made once per change: kept with the listing, and kept
 * again when the listing is read again a second later and holds the
 * same records; a change of a policy makes a new one.
 */
static void test_af_dir_policy_index_kept(void **state)
{
	fixture *f = *state;
	json_t *list = NULL, *index = NULL, *first, *u, *p = NULL;

	assert_int_equal(add_user(f, "{\"username\":\"kim\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_policy(f, "{\"name\":\"p\",\"sso\":true,"
				       "\"assigned\":{\"users\":[\"kim\"]}}"),
			 AF_DIR_OK);
	assert_int_equal(af_dir__policies_shared(f->dir, &list, &first),
			 AF_DIR_OK);
	json_decref(list);
	assert_int_equal(af_dir__policies_shared(f->dir, &list, &index),
			 AF_DIR_OK);
	assert_ptr_equal(index, first);
	json_decref(list);
	json_decref(index);
	(void)usleep(1100 * 1000);
	assert_int_equal(af_dir__policies_shared(f->dir, &list, &index),
			 AF_DIR_OK);
	assert_ptr_equal(index, first);
	json_decref(list);
	json_decref(index);
	assert_int_equal(add_policy(f, "{\"name\":\"a\",\"sso\":false,"
				       "\"assigned\":{\"users\":[\"kim\"]}}"),
			 AF_DIR_OK);
	assert_int_equal(af_dir__policies_shared(f->dir, &list, &index),
			 AF_DIR_OK);
	assert_ptr_not_equal(index, first);
	json_decref(list);
	json_decref(index);
	json_decref(first);
	u = get_user(f, "kim");
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "a");
	json_decref(p);
	json_decref(u);
}

/* One of the readers that come at once after a change of the policies. */
typedef struct index_reader {
	af_dir *dir;
	pthread_barrier_t *go;
	json_t *index;
	af_dir_status rc;
} index_reader;

static void *read_index(void *arg)
{
	index_reader *r = arg;
	json_t *list = NULL;

	(void)pthread_barrier_wait(r->go);
	r->rc = af_dir__policies_shared(r->dir, &list, &r->index);
	json_decref(list);
	return NULL;
}

/*
 * Readers that come together after a change share one index: one of them
 * lists and indexes the policies, the others wait and take what it kept.
 */
static void test_af_dir_policy_index_made_once(void **state)
{
	fixture *f = *state;
	enum { READERS = 8 };
	index_reader r[READERS];
	pthread_t t[READERS];
	pthread_barrier_t go;
	char spec[128];
	size_t i;

	for (i = 0; i < 200; i++) {
		(void)snprintf(spec, sizeof(spec),
			       "{\"name\":\"p%03zu\",\"sso\":true}", i);
		assert_int_equal(add_policy(f, spec), AF_DIR_OK);
	}
	assert_int_equal(pthread_barrier_init(&go, NULL, READERS), 0);
	for (i = 0; i < READERS; i++) {
		r[i] = (index_reader){f->dir, &go, NULL, AF_DIR_STORE};
		assert_int_equal(pthread_create(&t[i], NULL, read_index, &r[i]),
				 0);
	}
	for (i = 0; i < READERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	(void)pthread_barrier_destroy(&go);
	for (i = 0; i < READERS; i++) {
		assert_int_equal(r[i].rc, AF_DIR_OK);
		assert_ptr_equal(r[i].index, r[0].index);
	}
	for (i = 0; i < READERS; i++)
		json_decref(r[i].index);
}

static void note_damage(void *arg, const char *key)
{
	(void)snprintf(arg, 64, "%s", key);
}

/* A directory on f's store that notes the last damaged key in seen[64]. */
static af_dir *dir_noting_damage(fixture *f, char *seen)
{
	af_dir_options opts;
	af_dir *dir = NULL;

	af_dir_options_default(&opts);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	store_set_damage_sink(f->store, note_damage, seen);
	assert_int_equal(af_dir_new(f->store, &opts, &dir, NULL, 0), AF_DIR_OK);
	return dir;
}

/* A damaged record is named to the operator, not taken for an outage. */
static void test_af_dir_damaged_record_named(void **state)
{
	fixture *f = *state;
	af_dir *dir = NULL;
	char seen[64] = "";
	json_t *got = NULL;

	assert_int_equal(add_user(f, "{\"username\":\"zed\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(store_set(f->store, "user:zed", "[1]", 3, 0, 0),
			 STORE_OK);
	dir = dir_noting_damage(f, seen);
	assert_int_equal(af_dir_user_get(dir, "zed", &got), AF_DIR_STORE);
	assert_null(got);
	assert_string_equal(seen, "user:zed");
	af_dir_free(dir);
}

/*
 * A record that is JSON but does not name itself as its key does (a user
 * without its username, a group under another's key: a change by hand)
 * is left out of listings and named to the operator, as one that does
 * not parse is; the others are listed.
 */
static void test_af_dir_listing_leaves_out_records_naming_another(void **state)
{
	fixture *f = *state;
	af_dir *dir = NULL;
	char seen[64] = "";
	json_t *list = NULL;
	static const char nameless[] = "{\"created_at\":\"x\",\"email\":5}";
	static const char other[] = "{\"name\":\"staff\"}";

	assert_int_equal(add_user(f, "{\"username\":\"amy\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"bob\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(store_set(f->store, "user:bob", nameless,
				   sizeof(nameless) - 1, 0, 0),
			 STORE_OK);
	dir = dir_noting_damage(f, seen);
	assert_int_equal(af_dir_user_list(dir, &list), AF_DIR_OK);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "username")),
			    "amy");
	assert_string_equal(seen, "user:bob");
	json_decref(list);
	assert_int_equal(af_dir_group_add(dir, "admin", "staff", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(
		af_dir_group_add(dir, "admin", "nurses", NULL, NULL, 0),
		AF_DIR_OK);
	assert_int_equal(store_set(f->store, "group:nurses", other,
				   sizeof(other) - 1, 0, 0),
			 STORE_OK);
	assert_int_equal(af_dir_group_list(dir, &list), AF_DIR_OK);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "name")),
			    "staff");
	assert_string_equal(seen, "group:nurses");
	json_decref(list);
	af_dir_free(dir);
}

/*
 * What the hot reads hand out is the caller's to change as they say: the
 * members of a profile and of a user's policy may be set or dropped, and
 * neither the next read nor the secret check sees any of it (the memo
 * keeps one parsed value for every reader).
 */
static void test_af_dir_reads_hand_out_own_values(void **state)
{
	fixture *f = *state;
	char secret[AF_DIR_SECRET_BUF], id[128];
	json_t *app = NULL, *u, *p = NULL, *again = NULL;
	int previous = 1;

	assert_int_equal(add_user(f, "{\"username\":\"ivy\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_policy(f, "{\"name\":\"p\",\"sso\":true,"
				       "\"assigned\":{\"users\":[\"ivy\"]}}"),
			 AF_DIR_OK);
	assert_int_equal(add_app(f,
				 "{\"name\":\"crm\",\"redirect_uris\":"
				 "[\"https://c/cb\"]}",
				 &app, secret),
			 AF_DIR_OK);
	snprintf(id, sizeof(id), "%s",
		 json_string_value(json_object_get(app, "client_id")));
	json_decref(app);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
		assert_string_equal(
			json_string_value(json_object_get(app, "name")), "crm");
		assert_null(json_object_get(app, "secret_sha256"));
		assert_int_equal(
			json_array_size(json_object_get(app, "redirect_uris")),
			1);
		assert_int_equal(json_object_set_new(app, "name",
						     json_string("changed")),
				 0);
		assert_int_equal(json_object_del(app, "redirect_uris"), 0);
		json_decref(app);
		u = get_user(f, "ivy");
		assert_int_equal(af_dir_policy_for_user(f->dir, u, &p),
				 AF_DIR_OK);
		json_decref(u);
		assert_false(json_is_true(json_object_get(p, "remote_access")));
		assert_true(json_is_true(json_object_get(p, "sso")));
		assert_string_equal(
			json_string_value(json_object_get(p, "name")), "p");
		/* The assignment lists stay behind: no reader needs them. */
		assert_null(json_object_get(p, "assigned"));
		assert_int_equal(
			json_object_set_new(p, "remote_access", json_true()),
			0);
		assert_int_equal(json_object_del(p, "sso"), 0);
		json_decref(p);
	}
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, secret, &again, &previous),
		AF_DIR_OK);
	assert_int_equal(previous, 0);
	assert_string_equal(json_string_value(json_object_get(again, "name")),
			    "crm");
	assert_null(json_object_get(again, "secret_sha256"));
	assert_int_equal(json_object_set_new(again, "name", json_string("x")),
			 0);
	json_decref(again);
	assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(app, "name")),
			    "crm");
	json_decref(app);
	OPENSSL_cleanse(secret, sizeof(secret));
}

static void test_af_dir_policy_for_user_precedence(void **state)
{
	fixture *f = *state;
	json_t *u, *p = NULL;

	add_groups_and_ous(f);
	assert_int_equal(
		add_user(f,
			 "{\"username\":\"hal\",\"groups\":[\"staff\"],"
			 "\"ous\":[\"Americas\"]}",
			 NULL),
		AF_DIR_OK);
	u = get_user(f, "hal");
	/* None assigned: not SSO-enabled. */
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p),
			 AF_DIR_NOT_FOUND);
	assert_null(p);
	assert_int_equal(add_policy(f,
				    "{\"name\":\"z-ou\",\"sso\":true,"
				    "\"assigned\":{\"ous\":[\"Americas\"]}}"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
			    "z-ou");
	json_decref(p);
	/* A group beats an OU even when its name sorts later. */
	assert_int_equal(add_policy(f,
				    "{\"name\":\"zz-group\","
				    "\"assigned\":{\"groups\":[\"staff\"]}}"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
			    "zz-group");
	json_decref(p);
	/* Ties at one level go to the first name. */
	assert_int_equal(add_policy(f,
				    "{\"name\":\"m-group\","
				    "\"assigned\":{\"groups\":[\"staff\"]}}"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
			    "m-group");
	json_decref(p);
	/* The user directly beats everything. */
	assert_int_equal(add_policy(f, "{\"name\":\"zzz-user\","
				       "\"remote_access\":true}"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_assign(f->dir, ACTOR, "zzz-user",
					      AF_DIR_TARGET_USER, "HAL", f->err,
					      sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
			    "zzz-user");
	assert_true(json_is_true(json_object_get(p, "remote_access")));
	assert_true(json_is_false(json_object_get(p, "sso")));
	json_decref(p);
	assert_int_equal(af_dir_policy_unassign(f->dir, ACTOR, "zzz-user",
						AF_DIR_TARGET_USER, "hal", NULL,
						0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
			    "m-group");
	json_decref(p);
	/* Removing the group leaves the OU's policy. */
	assert_int_equal(af_dir_group_remove(f->dir, ACTOR, "staff"),
			 AF_DIR_OK);
	json_decref(u);
	u = get_user(f, "hal");
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
			    "z-ou");
	json_decref(p);
	json_decref(u);
}

/* The name of the user's policy now; the caller frees nothing. */
static const char *policy_now(fixture *f, const char *user, char *buf,
			      size_t cap)
{
	json_t *u = get_user(f, user), *p = NULL;

	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p), AF_DIR_OK);
	(void)snprintf(buf, cap, "%s",
		       json_string_value(json_object_get(p, "name")));
	json_decref(p);
	json_decref(u);
	return buf;
}

static void test_af_dir_policy_for_user_strictest_wins(void **state)
{
	fixture *f = *state;
	char name[64];

	add_groups_and_ous(f);
	assert_int_equal(
		add_user(f,
			 "{\"username\":\"ida\",\"groups\":[\"staff\"],"
			 "\"ous\":[\"Americas\"]}",
			 NULL),
		AF_DIR_OK);
	assert_int_equal(add_policy(f,
				    "{\"name\":\"z-mfa\",\"sso\":true,"
				    "\"remote_access\":true,"
				    "\"assigned\":{\"groups\":[\"staff\"]}}"),
			 AF_DIR_OK);
	/* A password-only policy sorting first does not take MFA away. */
	assert_int_equal(add_policy(f,
				    "{\"name\":\"a-basic\",\"sso\":true,"
				    "\"assigned\":{\"groups\":[\"staff\"]}}"),
			 AF_DIR_OK);
	assert_string_equal(policy_now(f, "ida", name, sizeof(name)), "z-mfa");
	/* MFA with the number beats MFA without it. */
	assert_int_equal(add_policy(f,
				    "{\"name\":\"m-nonum\",\"sso\":true,"
				    "\"remote_access\":true,"
				    "\"number_matching\":false,"
				    "\"assigned\":{\"groups\":[\"staff\"]}}"),
			 AF_DIR_OK);
	assert_string_equal(policy_now(f, "ida", name, sizeof(name)), "z-mfa");
	/* Equals: the name sorting first. */
	assert_int_equal(add_policy(f,
				    "{\"name\":\"y-mfa\",\"sso\":true,"
				    "\"remote_access\":true,"
				    "\"number_matching\":true,"
				    "\"assigned\":{\"groups\":[\"staff\"]}}"),
			 AF_DIR_OK);
	assert_string_equal(policy_now(f, "ida", name, sizeof(name)), "y-mfa");
	/* A policy that signs its users in nowhere beats them all. */
	assert_int_equal(add_policy(f,
				    "{\"name\":\"zz-off\",\"sso\":false,"
				    "\"assigned\":{\"groups\":[\"staff\"]}}"),
			 AF_DIR_OK);
	assert_string_equal(policy_now(f, "ida", name, sizeof(name)), "zz-off");
	/* Levels still come first: the user's own beats a stricter group's. */
	assert_int_equal(add_policy(f, "{\"name\":\"zzz-own\",\"sso\":true,"
				       "\"assigned\":{\"users\":[\"ida\"]}}"),
			 AF_DIR_OK);
	assert_string_equal(policy_now(f, "ida", name, sizeof(name)),
			    "zzz-own");
	/* And among the user's own, the strictest again. */
	assert_int_equal(af_dir_policy_assign(f->dir, ACTOR, "z-mfa",
					      AF_DIR_TARGET_USER, "ida", f->err,
					      sizeof(f->err)),
			 AF_DIR_OK);
	assert_string_equal(policy_now(f, "ida", name, sizeof(name)), "z-mfa");
	/* OUs alike. */
	assert_int_equal(
		add_user(f, "{\"username\":\"jon\",\"ous\":[\"Americas\"]}",
			 NULL),
		AF_DIR_OK);
	assert_int_equal(af_dir_policy_assign(f->dir, ACTOR, "y-mfa",
					      AF_DIR_TARGET_OU, "Americas",
					      f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_assign(f->dir, ACTOR, "a-basic",
					      AF_DIR_TARGET_OU, "Americas",
					      f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_string_equal(policy_now(f, "jon", name, sizeof(name)), "y-mfa");
}

static void test_af_dir_policy_bad_specs_refused(void **state)
{
	static const struct {
		const char *spec;
		const char *field;
	} bad[] = {
		{"{\"sso\":true}", "name"},
		{"{\"name\":\"\"}", "name"},
		{"{\"name\":\"p\",\"sso\":\"yes\"}", "sso"},
		{"{\"name\":\"p\",\"remote_access\":0}", "remote_access"},
		{"{\"name\":\"p\",\"assigned\":[]}", "assigned"},
		{"{\"name\":\"p\",\"assigned\":{\"roles\":[]}}",
		 "assigned.roles"},
		{"{\"name\":\"p\",\"assigned\":{\"users\":[\"ghost\"]}}",
		 "assigned.users: no user named \"ghost\""},
		{"{\"name\":\"p\",\"assigned\":{\"groups\":[\"ghosts\"]}}",
		 "assigned.groups"},
		{"{\"name\":\"p\",\"colour\":1}", "colour"},
	};
	fixture *f = *state;
	json_t *patch;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(f, add_policy(f, bad[i].spec), bad[i].field);
	assert_int_equal(add_policy(f, "{\"name\":\"p\"}"), AF_DIR_OK);
	assert_int_equal(add_policy(f, "{\"name\":\"p\"}"), AF_DIR_EXISTS);
	patch = parse("{\"name\":\"q\"}");
	assert_refused(f,
		       af_dir_policy_set(f->dir, ACTOR, "p", patch, f->err,
					 sizeof(f->err)),
		       "name");
	json_decref(patch);
	/* Merged list by list: an empty object would change nothing. */
	patch = parse("{\"assigned\":{}}");
	assert_refused(f,
		       af_dir_policy_set(f->dir, ACTOR, "p", patch, f->err,
					 sizeof(f->err)),
		       "assigned");
	json_decref(patch);
	assert_refused(f,
		       af_dir_policy_assign(f->dir, ACTOR, "p",
					    AF_DIR_TARGET_DOMAIN, "a.com",
					    f->err, sizeof(f->err)),
		       "kind");
	assert_refused(f,
		       af_dir_policy_assign(f->dir, ACTOR, "p",
					    AF_DIR_TARGET_GROUP, "ghosts",
					    f->err, sizeof(f->err)),
		       "groups");
	assert_int_equal(af_dir_policy_assign(f->dir, ACTOR, "nope",
					      AF_DIR_TARGET_GROUP, "x", f->err,
					      sizeof(f->err)),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_policy_remove(f->dir, ACTOR, "p", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_remove(f->dir, ACTOR, "p", NULL, 0),
			 AF_DIR_NOT_FOUND);
}

static void test_af_dir_app_add_secret_checks(void **state)
{
	fixture *f = *state;
	char secret[AF_DIR_SECRET_BUF], fresh[AF_DIR_SECRET_BUF];
	json_t *app = NULL, *got = NULL;
	const char *id;

	assert_int_equal(add_app(f,
				 "{\"name\":\"Qlik prod\",\"redirect_uris\":"
				 "[\"https://t.example/login/callback\"]}",
				 &app, secret),
			 AF_DIR_OK);
	id = json_string_value(json_object_get(app, "client_id"));
	assert_int_equal(strlen(id), AF_DIR_CLIENT_ID_LEN);
	assert_true(strncmp(id, "af-", 3) == 0);
	assert_int_equal(strlen(secret), AF_DIR_SECRET_LEN);
	assert_null(json_object_get(app, "secret_sha256"));
	assert_string_equal(
		json_string_value(json_object_get(app, "display_name")),
		"Qlik prod");
	assert_string_equal(
		json_string_value(json_object_get(app, "access_token_format")),
		"opaque");
	assert_int_equal(json_integer_value(
				 json_object_get(app, "refresh_grace_seconds")),
			 0);
	assert_true(
		json_is_integer(json_object_get(app, "refresh_grace_seconds")));
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, secret, NULL, NULL),
		AF_DIR_OK);
	secret[5] ^= 1;
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, secret, NULL, NULL),
		AF_DIR_FORBIDDEN);
	secret[5] ^= 1;
	assert_int_equal(af_dir_app_check_secret(f->dir, id, "", NULL, NULL),
			 AF_DIR_FORBIDDEN);
	assert_int_equal(af_dir_app_check_secret(f->dir, id, NULL, NULL, NULL),
			 AF_DIR_FORBIDDEN);
	assert_int_equal(
		af_dir_app_check_secret(f->dir, "af-nope", secret, NULL, NULL),
		AF_DIR_NOT_FOUND);
	/* Rotation: the old secret stops working at once. */
	assert_int_equal(af_dir_app_rotate_secret(f->dir, ACTOR, id, 0, fresh,
						  sizeof(fresh), NULL),
			 AF_DIR_OK);
	assert_string_not_equal(fresh, secret);
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, secret, NULL, NULL),
		AF_DIR_FORBIDDEN);
	assert_int_equal(af_dir_app_check_secret(f->dir, id, fresh, &got, NULL),
			 AF_DIR_OK);
	/* The checked profile comes back as af_dir_app_get() gives it. */
	assert_string_equal(
		json_string_value(json_object_get(got, "client_id")), id);
	assert_null(json_object_get(got, "secret_sha256"));
	json_decref(got);
	got = (json_t *)1;
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, secret, &got, NULL),
		AF_DIR_FORBIDDEN);
	assert_null(got);
	/* A grace period for rotated-out refresh tokens, up to 60 s. */
	got = parse("{\"refresh_grace_seconds\":60}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, id, got, NULL, f->err,
					sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(got);
	assert_int_equal(af_dir_app_get(f->dir, id, &got), AF_DIR_OK);
	assert_int_equal(json_integer_value(
				 json_object_get(got, "refresh_grace_seconds")),
			 60);
	json_decref(got);
	/* A disabled app refuses even the right secret. */
	got = parse("{\"enabled\":false}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, id, got, NULL, f->err,
					sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(got);
	assert_int_equal(af_dir_app_check_secret(f->dir, id, fresh, NULL, NULL),
			 AF_DIR_FORBIDDEN);
	assert_int_equal(af_dir_app_get_by_name(f->dir, "Qlik prod", &got),
			 AF_DIR_OK);
	assert_string_equal(
		json_string_value(json_object_get(got, "client_id")), id);
	json_decref(got);
	json_decref(app);
}

static void test_af_dir_app_ids_unique_names_unique(void **state)
{
	fixture *f = *state;
	char spec[256];
	json_t *ids = json_array(), *app = NULL, *list, *patch;
	const char *first;

	for (int i = 0; i < 10; i++) {
		snprintf(spec, sizeof(spec),
			 "{\"name\":\"app %d\",\"redirect_uris\":[\"x:/%d\"]}",
			 9 - i, i);
		assert_int_equal(add_app(f, spec, &app, NULL), AF_DIR_OK);
		assert_false(af_dir__array_has(
			ids,
			json_string_value(json_object_get(app, "client_id"))));
		assert_int_equal(
			json_array_append(ids,
					  json_object_get(app, "client_id")),
			0);
		json_decref(app);
	}
	assert_int_equal(
		add_app(f, "{\"name\":\"app 3\",\"redirect_uris\":[\"x:/\"]}",
			&app, NULL),
		AF_DIR_EXISTS);
	assert_string_equal(f->err, "name: an app named \"app 3\" exists");
	/* A twin by case is refused as well, on add and on rename. */
	assert_int_equal(
		add_app(f, "{\"name\":\"APP 3\",\"redirect_uris\":[\"x:/\"]}",
			&app, NULL),
		AF_DIR_EXISTS);
	assert_non_null(strstr(f->err, "differ only in case"));
	assert_non_null(strstr(f->err, "\"app 3\""));
	/* Listed by name, without secret hashes. */
	assert_int_equal(af_dir_app_list(f->dir, &list), AF_DIR_OK);
	assert_int_equal(json_array_size(list), 10);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "name")),
			    "app 0");
	assert_null(json_object_get(json_array_get(list, 0), "secret_sha256"));
	json_decref(list);
	/* A rename frees the old name and takes the new one. */
	first = json_string_value(json_array_get(ids, 0));
	patch = parse("{\"name\":\"renamed\"}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, first, patch, NULL,
					f->err, sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(patch);
	assert_int_equal(af_dir_app_get_by_name(f->dir, "app 9", &app),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_app_get_by_name(f->dir, "renamed", &app),
			 AF_DIR_OK);
	json_decref(app);
	patch = parse("{\"name\":\"app 1\"}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, first, patch, NULL,
					f->err, sizeof(f->err)),
			 AF_DIR_EXISTS);
	json_decref(patch);
	patch = parse("{\"name\":\"App 1\"}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, first, patch, NULL,
					f->err, sizeof(f->err)),
			 AF_DIR_EXISTS);
	json_decref(patch);
	/* Its own name in another case is no twin. */
	patch = parse("{\"name\":\"RENAMED\"}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, first, patch, NULL,
					f->err, sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(patch);
	/* A name shaped like a client id would reach another app. */
	snprintf(spec, sizeof(spec), "{\"name\":\"%s\"}",
		 json_string_value(json_array_get(ids, 1)));
	patch = parse(spec);
	assert_refused(f,
		       af_dir_app_set(f->dir, ACTOR, first, patch, NULL, f->err,
				      sizeof(f->err)),
		       "name");
	json_decref(patch);
	assert_refused(f,
		       add_app(f,
			       "{\"name\":\"af-AAAAAAAAAAAAAAAAAAAAAA\","
			       "\"redirect_uris\":[\"x:/\"]}",
			       &app, NULL),
		       "name");
	assert_int_equal(af_dir_app_remove(f->dir, ACTOR, first, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_get_by_name(f->dir, "renamed", &app),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_app_get(f->dir, first, &app), AF_DIR_NOT_FOUND);
	json_decref(ids);
}

static void test_af_dir_app_add_bad_specs_refused(void **state)
{
	static const struct {
		const char *spec;
		const char *field;
	} bad[] = {
		{"{\"redirect_uris\":[\"https://a/cb\"]}", "name"},
		{"{\"name\":\"a\"}", "redirect_uris"},
		{"{\"name\":\"a\",\"redirect_uris\":[]}", "redirect_uris"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"\"]}", "redirect_uris"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"https://a/ b\"]}",
		 "redirect_uris"},
		{"{\"name\":\"a\",\"redirect_uris\":[1]}", "redirect_uris"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"post_logout_uris\":\"x:/\"}",
		 "post_logout_uris"},
		{"{\"name\":\"a:b\",\"redirect_uris\":[\"x:/\"]}", "name"},
		{"{\"name\":\"a\",\"display_name\":\"\",\"redirect_uris\":"
		 "[\"x:/\"]}",
		 "display_name"},
		/* Blank, or nothing visible: the login page would name no app.
		 */
		{"{\"name\":\"a\",\"display_name\":\"  \",\"redirect_uris\":"
		 "[\"x:/\"]}",
		 "display_name"},
		{"{\"name\":\"a\",\"display_name\":\"\\u00ad\","
		 "\"redirect_uris\":[\"x:/\"]}",
		 "display_name"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"claims\":{\"dept\":\"salary\"}}",
		 "claims.dept"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"claims\":{\"sub\":\"email\"}}",
		 "claims.sub"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"claims\":{\"a b\":\"email\"}}",
		 "claims"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"access_token_format\":\"saml\"}",
		 "access_token_format"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"allow_refresh\":\"no\"}",
		 "allow_refresh"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"refresh_grace_seconds\":61}",
		 "refresh_grace_seconds"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"refresh_grace_seconds\":-1}",
		 "refresh_grace_seconds"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"refresh_grace_seconds\":\"30\"}",
		 "refresh_grace_seconds"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"deployment\":{\"mode\":\"some\"}}",
		 "deployment.mode"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"deployment\":{\"mode\":\"chosen\",\"groups\":[\"x\"]}}",
		 "deployment.groups"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"deployment\":{\"mode\":\"chosen\",\"domains\":[\"-\"]}}",
		 "deployment.domains"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"deployment\":{\"mode\":\"all\",\"roles\":[]}}",
		 "deployment.roles"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],"
		 "\"client_id\":\"af-x\"}",
		 "client_id"},
		{"{\"name\":\"a\",\"redirect_uris\":[\"x:/\"],\"logo\":1}",
		 "logo"},
	};
	fixture *f = *state;
	char secret[AF_DIR_SECRET_BUF];
	json_t *spec, *uris, *list;
	char uri[AF_DIR_URI_MAX + 2];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_refused(f, add_app(f, bad[i].spec, NULL, secret),
			       bad[i].field);
		assert_string_equal(secret, "");
	}
	/* Too many URIs, and one too long. */
	spec = parse("{\"name\":\"a\"}");
	uris = json_array();
	for (int i = 0; i <= AF_DIR_URIS_MAX; i++)
		assert_int_equal(
			json_array_append_new(uris, json_sprintf("x:/%d", i)),
			0);
	assert_int_equal(json_object_set_new(spec, "redirect_uris", uris), 0);
	assert_refused(f,
		       af_dir_app_add(f->dir, ACTOR, spec, NULL, secret,
				      sizeof(secret), f->err, sizeof(f->err)),
		       "redirect_uris");
	memset(uri, 'u', sizeof(uri) - 1);
	uri[sizeof(uri) - 1] = '\0';
	assert_int_equal(json_object_set_new(spec, "redirect_uris",
					     json_pack("[s]", uri)),
			 0);
	assert_refused(f,
		       af_dir_app_add(f->dir, ACTOR, spec, NULL, secret,
				      sizeof(secret), f->err, sizeof(f->err)),
		       "redirect_uris");
	uri[AF_DIR_URI_MAX] = '\0';
	assert_int_equal(json_object_set_new(spec, "redirect_uris",
					     json_pack("[s]", uri)),
			 0);
	assert_int_equal(af_dir_app_add(f->dir, ACTOR, spec, NULL, secret,
					sizeof(secret), f->err, sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(spec);
	assert_int_equal(af_dir_app_list(f->dir, &list), AF_DIR_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
}

static json_t *user_obj(const char *text)
{
	return parse(text);
}

static void test_af_dir_app_deployed_to_modes(void **state)
{
	json_t *app, *alice, *bob, *off;

	(void)state;
	alice = user_obj("{\"username\":\"alice\",\"enabled\":true,"
			 "\"domain\":\"a.example\",\"groups\":[\"g1\"],"
			 "\"ous\":[\"o1\"]}");
	bob = user_obj("{\"username\":\"bob\",\"enabled\":true,"
		       "\"groups\":[],\"ous\":[]}");
	off = user_obj("{\"username\":\"off\",\"enabled\":false,"
		       "\"groups\":[\"g1\"],\"ous\":[]}");
	app = parse("{\"enabled\":true,\"deployment\":{\"mode\":\"none\","
		    "\"users\":[\"alice\"]}}");
	assert_int_equal(af_dir_app_deployed_to(app, alice), 0);
	json_decref(app);
	app = parse("{\"enabled\":true,\"deployment\":{\"mode\":\"all\"}}");
	assert_int_equal(af_dir_app_deployed_to(app, alice), 1);
	assert_int_equal(af_dir_app_deployed_to(app, bob), 1);
	assert_int_equal(af_dir_app_deployed_to(app, off), 0);
	json_decref(app);
	app = parse("{\"enabled\":false,\"deployment\":{\"mode\":\"all\"}}");
	assert_int_equal(af_dir_app_deployed_to(app, alice), 0);
	json_decref(app);
	app = parse("{\"enabled\":true,\"deployment\":{\"mode\":\"chosen\","
		    "\"users\":[\"bob\"],\"groups\":[],\"ous\":[],"
		    "\"domains\":[]}}");
	assert_int_equal(af_dir_app_deployed_to(app, alice), 0);
	assert_int_equal(af_dir_app_deployed_to(app, bob), 1);
	json_decref(app);
	app = parse("{\"enabled\":true,\"deployment\":{\"mode\":\"chosen\","
		    "\"groups\":[\"g1\"]}}");
	assert_int_equal(af_dir_app_deployed_to(app, alice), 1);
	assert_int_equal(af_dir_app_deployed_to(app, bob), 0);
	assert_int_equal(af_dir_app_deployed_to(app, off), 0);
	json_decref(app);
	app = parse("{\"enabled\":true,\"deployment\":{\"mode\":\"chosen\","
		    "\"ous\":[\"o1\"]}}");
	assert_int_equal(af_dir_app_deployed_to(app, alice), 1);
	assert_int_equal(af_dir_app_deployed_to(app, bob), 0);
	json_decref(app);
	app = parse("{\"enabled\":true,\"deployment\":{\"mode\":\"chosen\","
		    "\"domains\":[\"a.example\"]}}");
	assert_int_equal(af_dir_app_deployed_to(app, alice), 1);
	assert_int_equal(af_dir_app_deployed_to(app, bob), 0);
	json_decref(app);
	json_decref(alice);
	json_decref(bob);
	json_decref(off);
}

/*
 * Long lists on both sides (a user in many groups, an application
 * deployed to many): the same answer as for short ones, a match found
 * wherever it sits, entries that are not names passed over.
 */
static void test_af_dir_app_deployed_to_long_lists(void **state)
{
	json_t *app, *user, *groups = json_array(), *dep = json_array();
	char name[32];
	size_t i;

	(void)state;
	/* Not in order: 97 is prime to 256, so i * 97 % 256 takes each. */
	for (i = 0; i < AF_DIR_MEMBERSHIPS_MAX; i++) {
		(void)snprintf(name, sizeof(name), "staff-%03zu",
			       i * 97 % AF_DIR_MEMBERSHIPS_MAX);
		assert_int_equal(
			json_array_append_new(groups, json_string(name)), 0);
	}
	assert_int_equal(json_array_append_new(dep, json_integer(7)), 0);
	for (i = 0; i < AF_DIR_ASSIGNED_MAX - 2; i++) {
		(void)snprintf(name, sizeof(name), "ward-%04zu", i);
		assert_int_equal(json_array_append_new(dep, json_string(name)),
				 0);
	}
	user = json_pack("{s:s, s:b, s:o, s:[]}", "username", "mia", "enabled",
			 1, "groups", groups, "ous");
	app = json_pack("{s:b, s:{s:s, s:o}}", "enabled", 1, "deployment",
			"mode", "chosen", "groups", dep);
	assert_non_null(user);
	assert_non_null(app);
	assert_int_equal(af_dir_app_deployed_to(app, user), 0);
	/* The user's last group, at the end of the application's list. */
	assert_int_equal(json_array_append_new(dep, json_string("staff-255")),
			 0);
	assert_int_equal(af_dir_app_deployed_to(app, user), 1);
	/* The user's first group, at the start. */
	assert_int_equal(json_array_set_new(dep, 1023, json_string("x")), 0);
	assert_int_equal(af_dir_app_deployed_to(app, user), 0);
	assert_int_equal(json_array_set_new(dep, 1, json_string("staff-000")),
			 0);
	assert_int_equal(af_dir_app_deployed_to(app, user), 1);
	json_decref(app);
	json_decref(user);
}

static const char *mode_of(fixture *f, const char *id)
{
	static char mode[16];
	json_t *app = NULL;

	assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
	snprintf(mode, sizeof(mode), "%s",
		 json_string_value(json_object_get(
			 json_object_get(app, "deployment"), "mode")));
	json_decref(app);
	return mode;
}

static int64_t newest_seq_of(fixture *f);

/*
 * An admin's deployment is checked against admins_may_deploy as it is
 * written, so a superadmin who turns it off stops one under way.
 */
static void test_af_dir_app_deploy_as_admin_checked_when_written(void **state)
{
	fixture *f = *state;
	json_t *app = NULL, *patch;
	char id[AF_DIR_CLIENT_ID_BUF];

	assert_int_equal(add_app_id(f,
				    "{\"name\":\"open\",\"redirect_uris\":"
				    "[\"https://rp.example/cb\"],"
				    "\"admins_may_deploy\":true}",
				    id),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id,
					   AF_DIR_TARGET_DOMAIN, "a.example",
					   AF_DIR_DEPLOY_ADMIN, f->err,
					   sizeof(f->err)),
			 AF_DIR_OK);
	patch = parse("{\"admins_may_deploy\":false}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, id, patch, NULL, f->err,
					sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(patch);
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id,
					   AF_DIR_TARGET_DOMAIN, "b.example",
					   AF_DIR_DEPLOY_ADMIN, f->err,
					   sizeof(f->err)),
			 AF_DIR_FORBIDDEN);
	assert_non_null(strstr(f->err, "superadmin"));
	assert_int_equal(af_dir_app_undeploy(f->dir, ACTOR, id,
					     AF_DIR_TARGET_DOMAIN, "a.example",
					     AF_DIR_DEPLOY_ADMIN, f->err,
					     sizeof(f->err)),
			 AF_DIR_FORBIDDEN);
	assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(json_object_get(app, "deployment"),
					"domains"),
			0)),
		"a.example");
	assert_int_equal(
		json_array_size(json_object_get(
			json_object_get(app, "deployment"), "domains")),
		1);
	json_decref(app);
	/* A superadmin's goes on. */
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id,
					   AF_DIR_TARGET_DOMAIN, "b.example", 0,
					   f->err, sizeof(f->err)),
			 AF_DIR_OK);
}

static void test_af_dir_app_deploy_undeploy_moves_mode(void **state)
{
	fixture *f = *state;
	json_t *app = NULL, *user;
	char id[AF_DIR_CLIENT_ID_BUF];
	int64_t seq;

	add_groups_and_ous(f);
	assert_int_equal(
		add_user(f, "{\"username\":\"ivy\",\"groups\":[\"sales\"]}",
			 NULL),
		AF_DIR_OK);
	assert_int_equal(
		add_app(f,
			"{\"name\":\"crm\",\"redirect_uris\":[\"x:/\"],"
			"\"admins_may_deploy\":true}",
			&app, NULL),
		AF_DIR_OK);
	snprintf(id, sizeof(id), "%s",
		 json_string_value(json_object_get(app, "client_id")));
	assert_int_equal(af_dir_app_may_deploy(0, app), 1);
	assert_int_equal(af_dir_app_may_deploy(1, app), 1);
	json_decref(app);
	assert_string_equal(mode_of(f, id), "none");
	user = get_user(f, "ivy");
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id,
					   AF_DIR_TARGET_GROUP, "sales", 0,
					   f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_string_equal(mode_of(f, id), "chosen");
	assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
	assert_int_equal(af_dir_app_deployed_to(app, user), 1);
	json_decref(app);
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id, AF_DIR_TARGET_ALL,
					   NULL, 0, f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_string_equal(mode_of(f, id), "all");
	/* Again: nothing changes, and the trail records nothing. */
	seq = newest_seq_of(f);
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id, AF_DIR_TARGET_ALL,
					   NULL, 0, f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(newest_seq_of(f), seq);
	assert_int_equal(af_dir_app_undeploy(f->dir, ACTOR, id,
					     AF_DIR_TARGET_ALL, NULL, 0, f->err,
					     sizeof(f->err)),
			 AF_DIR_OK);
	assert_string_equal(mode_of(f, id), "chosen");
	assert_int_equal(newest_seq_of(f), seq + 1);
	assert_int_equal(af_dir_app_undeploy(f->dir, ACTOR, id,
					     AF_DIR_TARGET_ALL, NULL, 0, f->err,
					     sizeof(f->err)),
			 AF_DIR_OK);
	assert_string_equal(mode_of(f, id), "chosen");
	assert_int_equal(newest_seq_of(f), seq + 1);
	assert_int_equal(af_dir_app_undeploy(f->dir, ACTOR, id,
					     AF_DIR_TARGET_GROUP, "sales", 0,
					     f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_string_equal(mode_of(f, id), "none");
	assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
	assert_int_equal(af_dir_app_deployed_to(app, user), 0);
	json_decref(app);
	assert_refused(f,
		       af_dir_app_deploy(f->dir, ACTOR, id, AF_DIR_TARGET_OU,
					 "Mars", 0, f->err, sizeof(f->err)),
		       "ous");
	assert_refused(f,
		       af_dir_app_deploy(f->dir, ACTOR, id,
					 AF_DIR_TARGET_DOMAIN, "bad_domain", 0,
					 f->err, sizeof(f->err)),
		       "domains");
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id,
					   AF_DIR_TARGET_DOMAIN, "Corp.Example",
					   0, f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, "af-nope",
					   AF_DIR_TARGET_ALL, NULL, 0, f->err,
					   sizeof(f->err)),
			 AF_DIR_NOT_FOUND);
	json_decref(user);
	app = parse("{\"admins_may_deploy\":false}");
	assert_int_equal(af_dir_app_may_deploy(0, app), 0);
	assert_int_equal(af_dir_app_may_deploy(1, app), 1);
	json_decref(app);
}

static void test_af_dir_user_login_right_wrong_unknown(void **state)
{
	fixture *f = *state;
	json_t *u = NULL;

	assert_int_equal(add_user(f, "{\"username\":\"jan\"}", "s3cret!-123"),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"nopw\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_login(f->dir, "JAN", "s3cret!-123", &u),
			 AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(u, "username")),
			    "jan");
	assert_null(json_object_get(u, "password"));
	json_decref(u);
	assert_int_equal(af_dir_user_login(f->dir, "jan", "s3cret", &u),
			 AF_DIR_MISMATCH);
	assert_null(u);
	/*
	 * A password of 1024 bytes whose normal form is over the cap (U+FDFA
	 * becomes 18 characters): refused unhashed, for user and ghost alike.
	 */
	{
		char wide[1024];
		size_t i;

		for (i = 0; i + 3 <= 1023; i += 3)
			memcpy(wide + i, "\xef\xb7\xba", 3);
		wide[i] = '\0';
		assert_int_equal(af_dir_user_login(f->dir, "jan", wide, &u),
				 AF_DIR_INVALID);
		assert_int_equal(af_dir_user_login(f->dir, "ghost", wide, &u),
				 AF_DIR_INVALID);
	}
	/* The same answer for an unknown, malformed or passwordless user. */
	assert_int_equal(af_dir_user_login(f->dir, "ghost", "s3cret!-123", &u),
			 AF_DIR_MISMATCH);
	assert_int_equal(
		af_dir_user_login(f->dir, "not valid", "s3cret!-123", &u),
		AF_DIR_MISMATCH);
	assert_int_equal(af_dir_user_login(f->dir, NULL, "s3cret!-123", &u),
			 AF_DIR_MISMATCH);
	assert_int_equal(af_dir_user_login(f->dir, "nopw", "s3cret!-123", &u),
			 AF_DIR_MISMATCH);
	assert_int_equal(af_dir_user_login(f->dir, "jan", "", &u),
			 AF_DIR_INVALID);
	/* Disabled: only the right password learns it. */
	assert_int_equal(set_user(f, "jan", "{\"enabled\":false}"), AF_DIR_OK);
	assert_int_equal(af_dir_user_login(f->dir, "jan", "wrong", &u),
			 AF_DIR_MISMATCH);
	assert_int_equal(af_dir_user_login(f->dir, "jan", "s3cret!-123", &u),
			 AF_DIR_FORBIDDEN);
	assert_null(u);
	/* A new password replaces the old; none means no sign-in. */
	assert_int_equal(set_user(f, "jan", "{\"enabled\":true}"), AF_DIR_OK);
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "jan",
						  "new-password", f->err,
						  sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_login(f->dir, "jan", "s3cret!-123", &u),
			 AF_DIR_MISMATCH);
	assert_int_equal(af_dir_user_login(f->dir, "jan", "new-password", &u),
			 AF_DIR_OK);
	json_decref(u);
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "jan", NULL,
						  f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_login(f->dir, "jan", "new-password", &u),
			 AF_DIR_MISMATCH);
	assert_refused(f,
		       af_dir_user_set_password(f->dir, ACTOR, "jan", "",
						f->err, sizeof(f->err)),
		       "password");
}

/* The user's password_change_required, as handed out. */
static int must_change(fixture *f, const char *name)
{
	json_t *u = NULL;
	int v;

	assert_int_equal(af_dir_user_get(f->dir, name, &u), AF_DIR_OK);
	assert_true(json_is_boolean(json_object_get(u, AF_DIR_USER_PW_CHANGE)));
	v = json_is_true(json_object_get(u, AF_DIR_USER_PW_CHANGE));
	json_decref(u);
	return v;
}

/* Signs in as name: its sub into sub (64 bytes) and its generation. */
static int64_t signed_in(fixture *f, const char *name, const char *pw,
			 char *sub)
{
	json_t *u = NULL;
	int64_t gen;

	assert_int_equal(af_dir_user_login(f->dir, name, pw, &u), AF_DIR_OK);
	snprintf(sub, 64, "%s", json_string_value(json_object_get(u, "sub")));
	gen = af_dir_user_gen(u);
	json_decref(u);
	return gen;
}

static af_dir_status change_pw(fixture *f, const char *name, const char *sub,
			       int64_t gen, const char *pw, int64_t *now)
{
	f->err[0] = '\0';
	return af_dir_user_change_password(f->dir, name, sub, gen, 1, pw, now,
					   f->err, sizeof(f->err));
}

static void test_af_dir_temporary_password(void **state)
{
	fixture *f = *state;
	json_t *u = NULL;
	char sub[64];
	int64_t gen, now = 0;

	assert_int_equal(add_user(f, "{\"username\":\"tia\"}", "first-pass-1"),
			 AF_DIR_OK);
	assert_false(must_change(f, "tia"));
	assert_int_equal(af_dir_user_reset_password(f->dir, ACTOR, "tia",
						    "given-once-22", f->err,
						    sizeof(f->err)),
			 AF_DIR_OK);
	assert_true(must_change(f, "tia"));
	/* It signs in for the directory's time, three days by default. */
	assert_int_equal(af_dir_user_get(f->dir, "tia", &u), AF_DIR_OK);
	assert_true(llabs(json_integer_value(
				  json_object_get(u, AF_DIR_USER_PW_EXPIRES)) -
			  (af_now() + AF_DIR_PW_TEMPORARY_S)) <= 5);
	assert_false(af_dir_user_password_expired(u, af_now()));
	assert_true(af_dir_user_password_expired(
		u, af_now() + AF_DIR_PW_TEMPORARY_S + 5));
	json_decref(u);
	assert_refused(f, set_user(f, "tia", "{\"password_expires_at\":1}"),
		       "password_expires_at");
	gen = signed_in(f, "tia", "given-once-22", sub);

	/* Not the same one again, nor one any password is refused. */
	assert_refused(f, change_pw(f, "tia", sub, gen, "given-once-22", &now),
		       "password");
	assert_non_null(strstr(f->err, "differ"));
	assert_refused(f, change_pw(f, "tia", sub, gen, "tia", &now),
		       "password");
	assert_refused(
		f, change_pw(f, "tia", sub, gen, "Good-\xff\xfe-Word", &now),
		"password");
	assert_non_null(strstr(f->err, "UTF-8"));
	/* Another user's sign-in, or an older one: refused. */
	assert_int_equal(change_pw(f, "tia", "x", gen, "mine-alone-33", &now),
			 AF_DIR_CONFLICT);
	assert_int_equal(
		change_pw(f, "tia", sub, gen - 1, "mine-alone-33", &now),
		AF_DIR_CONFLICT);
	assert_int_equal(
		change_pw(f, "nobody", sub, gen, "mine-alone-33", &now),
		AF_DIR_CONFLICT);
	assert_true(must_change(f, "tia"));

	assert_int_equal(change_pw(f, "tia", sub, gen, "mine-alone-33", &now),
			 AF_DIR_OK);
	assert_true(now > gen);
	assert_false(must_change(f, "tia"));
	assert_int_equal(af_dir_user_get(f->dir, "tia", &u), AF_DIR_OK);
	assert_null(json_object_get(u, AF_DIR_USER_PW_EXPIRES));
	assert_false(af_dir_user_password_expired(u, INT64_MAX));
	json_decref(u);
	assert_int_equal(af_dir_user_login(f->dir, "tia", "given-once-22", &u),
			 AF_DIR_MISMATCH);
	assert_int_equal(signed_in(f, "tia", "mine-alone-33", sub), now);
	/* Once changed, no second change through the same sign-in. */
	assert_int_equal(change_pw(f, "tia", sub, now, "mine-again-44", &now),
			 AF_DIR_CONFLICT);
	/* A change of a lasting password: no mark needed, the same rules. */
	gen = now;
	assert_refused(f,
		       af_dir_user_change_password(f->dir, "tia", sub, gen, 0,
						   "mine-alone-33", &now,
						   f->err, sizeof(f->err)),
		       "password");
	assert_non_null(strstr(f->err, "current one"));
	assert_int_equal(af_dir_user_change_password(
				 f->dir, "tia", sub, gen - 1, 0,
				 "mine-again-44", &now, f->err, sizeof(f->err)),
			 AF_DIR_CONFLICT);
	assert_int_equal(af_dir_user_change_password(f->dir, "tia", sub, gen, 0,
						     "mine-again-44", &now,
						     f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_true(now > gen);
	assert_false(must_change(f, "tia"));
	assert_int_equal(signed_in(f, "tia", "mine-again-44", sub), now);

	/* A permanent password lifts the mark; add and set carry it. */
	assert_int_equal(af_dir_user_reset_password(f->dir, ACTOR, "tia",
						    "given-twice-55", f->err,
						    sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "tia",
						  "set-for-good-66", f->err,
						  sizeof(f->err)),
			 AF_DIR_OK);
	assert_false(must_change(f, "tia"));
	assert_int_equal(af_dir_user_get(f->dir, "tia", &u), AF_DIR_OK);
	assert_null(json_object_get(u, AF_DIR_USER_PW_EXPIRES));
	json_decref(u);
	assert_int_equal(
		set_user(f, "tia", "{\"password_change_required\":true}"),
		AF_DIR_OK);
	assert_true(must_change(f, "tia"));
	assert_refused(f,
		       set_user(f, "tia", "{\"password_change_required\":1}"),
		       "password_change_required");
	/* Without a password there is none to change. */
	assert_refused(f,
		       add_user(f,
				"{\"username\":\"tom\","
				"\"password_change_required\":true}",
				NULL),
		       "password_change_required");
	assert_int_equal(add_user(f,
				  "{\"username\":\"tom\","
				  "\"password_change_required\":true}",
				  "tom-first-77"),
			 AF_DIR_OK);
	assert_true(must_change(f, "tom"));
	/* Given with the user to be replaced: temporary, as a reset's. */
	assert_int_equal(af_dir_user_get(f->dir, "tom", &u), AF_DIR_OK);
	assert_true(af_dir_user_password_expired(u, INT64_MAX));
	json_decref(u);
	/* The requirement lifted, then set again: the user's own, lasting. */
	assert_int_equal(
		set_user(f, "tom", "{\"password_change_required\":false}"),
		AF_DIR_OK);
	assert_int_equal(
		set_user(f, "tom", "{\"password_change_required\":true}"),
		AF_DIR_OK);
	assert_int_equal(af_dir_user_get(f->dir, "tom", &u), AF_DIR_OK);
	assert_true(must_change(f, "tom"));
	assert_null(json_object_get(u, AF_DIR_USER_PW_EXPIRES));
	assert_false(af_dir_user_password_expired(u, INT64_MAX));
	json_decref(u);
	/* A user disabled meanwhile changes nothing. */
	gen = signed_in(f, "tom", "tom-first-77", sub);
	assert_int_equal(set_user(f, "tom", "{\"enabled\":false}"), AF_DIR_OK);
	assert_int_equal(change_pw(f, "tom", sub, gen, "tom-second-88", &now),
			 AF_DIR_CONFLICT);
	assert_int_equal(af_dir_user_reset_password(f->dir, ACTOR, "tom", NULL,
						    f->err, sizeof(f->err)),
			 AF_DIR_INVALID);
}

static double login_ms(af_dir *dir, const char *user, const char *pw)
{
	uint64_t t0 = af_mono_ns();
	json_t *u = NULL;

	assert_int_equal(af_dir_user_login(dir, user, pw, &u), AF_DIR_MISMATCH);
	return (double)(af_mono_ns() - t0) / 1e6;
}

/* An unknown user costs an Argon2 check too (no enumeration by timing). */
static void test_af_dir_user_login_unknown_user_costs_a_hash(void **state)
{
	fixture *f = *state;
	af_dir *dir = small_dir(f->store, 8192);
	json_t *spec = parse("{\"username\":\"kim\"}");
	double known = 0, unknown = 0;

	assert_int_equal(
		af_dir_user_add(dir, ACTOR, spec, "pw-123456", NULL, NULL, 0),
		AF_DIR_OK);
	json_decref(spec);
	for (int i = 0; i < 3; i++) {
		known += login_ms(dir, "kim", "wrong");
		unknown += login_ms(dir, "nobody-here", "wrong");
	}
	print_message("wrong password %.1f ms, unknown user %.1f ms\n", known,
		      unknown);
	assert_true(unknown > known * 0.4);
	af_dir_free(dir);
}

/* The passwords NIST SP 800-63B says to refuse, when they are set. */
static void test_af_dir_password_refused_kinds(void **state)
{
	static const struct {
		const char *pw, *why;
	} refused[] = {
		{"Kimberly", "password: must not be the user name"},
		{"aaaaaaaa", "password: must not be a character or a few "
			     "repeated, like aaaaaaaa or abababab"},
		{"abababab", NULL},
		{"xyzxyzxyz", NULL},
		{"12341234", NULL},
		{"12345678", "password: must not be a run of consecutive "
			     "characters, like 12345678 or abcdefgh"},
		{"987654321", NULL},
		{"abcdefghij", NULL},
		{"Password1", "password: is on the list of common and breached "
			      "passwords: choose another"},
		{"QWERTYUIOP", NULL},
		/* Full-width letters: "iloveyou" once normalised. */
		{"\xef\xbd\x89\xef\xbd\x8c\xef\xbd\x8f\xef\xbd\x96"
		 "\xef\xbd\x85\xef\xbd\x99\xef\xbd\x8f\xef\xbd\x95",
		 "password: is on the list of common and breached "
		 "passwords: choose another"},
		{"ward\tround-7",
		 "password: must be valid UTF-8 text without control or "
		 "invisible characters (tabs, line breaks, zero-width spaces, "
		 "direction marks)"},
		{"ward-round-7\n", NULL},
		{"ward\x7fround-7", NULL},
		{"ward\xc2\x85round-7", NULL},	   /* U+0085, a C1 line break */
		{"ward\xe2\x80\xa8round-7", NULL}, /* U+2028 line separator */
		{"ward\xe2\x80\x8bround-7", NULL}, /* U+200B zero-width space */
		{"ward\xe2\x80\xaeround-7", NULL}, /* U+202E right-to-left */
		{"\xef\xbb\xbfward-round-7", NULL}, /* a BOM */
		{"ward\xffround-7", NULL},
	};
	fixture *f = *state;
	af_dir_options opts;
	af_pwlist *list = NULL;
	af_dir *listed = NULL;
	json_t *spec = parse("{\"username\":\"kimberly\"}");
	size_t i;

	assert_int_equal(af_pwlist_load(NULL, &list, NULL, 0), AF_PWLIST_OK);
	af_dir_options_default(&opts);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	opts.pwlist = list;
	assert_int_equal(af_dir_new(f->store, &opts, &listed, NULL, 0),
			 AF_DIR_OK);
	for (i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
		f->err[0] = '\0';
		assert_int_equal(af_dir_user_add(listed, ACTOR, spec,
						 refused[i].pw, NULL, f->err,
						 sizeof(f->err)),
				 AF_DIR_INVALID);
		if (refused[i].why != NULL)
			assert_string_equal(f->err, refused[i].why);
		else
			assert_true(strncmp(f->err, "password: ", 10) == 0);
	}
	/* Nothing of the refused user was written. */
	assert_int_equal(af_dir_user_add(listed, ACTOR, spec, "1234567x", NULL,
					 f->err, sizeof(f->err)),
			 AF_DIR_OK);
	/* The same rules when a password is changed. */
	assert_int_equal(af_dir_user_set_password(listed, ACTOR, "kimberly",
						  "KIMBERLY", f->err,
						  sizeof(f->err)),
			 AF_DIR_INVALID);
	assert_string_equal(f->err, "password: must not be the user name");
	assert_int_equal(af_dir_user_set_password(listed, ACTOR, "kimberly",
						  "iloveyou", f->err,
						  sizeof(f->err)),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_user_set_password(listed, ACTOR, "kimberly",
						  "ward-round-7", f->err,
						  sizeof(f->err)),
			 AF_DIR_OK);
	/* Spaces and letters beyond ASCII are text. */
	assert_int_equal(
		af_dir_user_set_password(listed, ACTOR, "kimberly",
					 "ward r\xc3\xb6und 7\xc2\xa0x", f->err,
					 sizeof(f->err)),
		AF_DIR_OK);
	/* Without a list, a listed password is not refused for being one. */
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "kimberly",
						  "Password1", f->err,
						  sizeof(f->err)),
			 AF_DIR_OK);
	json_decref(spec);
	af_dir_free(listed);
	af_pwlist_free(list);
}

/*
 * A password being set needs the directory's fewest characters, counted
 * as a person counts them; one set before a higher minimum still signs
 * in.
 */
static void test_af_dir_password_min_chars(void **state)
{
	fixture *f = *state;
	af_dir_options opts;
	af_dir *loose = NULL, *dir = NULL;
	json_t *u = NULL;

	af_dir_options_default(&opts);
	assert_int_equal(opts.pw_min_chars, 8);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	opts.pw_min_chars = 0;
	assert_int_equal(
		af_dir_new(f->store, &opts, &dir, f->err, sizeof(f->err)),
		AF_DIR_INVALID);
	opts.pw_min_chars = AF_DIR_PW_MIN_CHARS_MAX + 1;
	assert_int_equal(
		af_dir_new(f->store, &opts, &dir, f->err, sizeof(f->err)),
		AF_DIR_INVALID);
	assert_null(dir);
	assert_int_equal(add_user(f, "{\"username\":\"sam\"}", "1234567"),
			 AF_DIR_INVALID);
	assert_string_equal(f->err, "password: must be at least 8 characters");
	/* Eight characters in ten bytes. */
	assert_int_equal(
		add_user(f, "{\"username\":\"sam\"}", "p\xc3\xa4ssw\xc3\xb6rd"),
		AF_DIR_OK);
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "sam", "short",
						  f->err, sizeof(f->err)),
			 AF_DIR_INVALID);
	assert_int_equal(
		af_dir_user_login(f->dir, "sam", "p\xc3\xa4ssw\xc3\xb6rd", &u),
		AF_DIR_OK);
	json_decref(u);
	/* Set where the minimum was lower: it still signs in. */
	opts.pw_min_chars = 1;
	assert_int_equal(af_dir_new(f->store, &opts, &loose, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_set_password(loose, ACTOR, "sam", "ab1",
						  f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_login(f->dir, "sam", "ab1", &u),
			 AF_DIR_OK);
	json_decref(u);
	af_dir_free(loose);
}

/*
 * A password signs in however its characters were composed; a hash made
 * of the password as typed, before normalisation, signs in as typed and
 * is replaced by one of the normal form.
 */
static void test_af_dir_user_login_normalised(void **state)
{
	/* "café": a combining accent, and the precomposed letter. */
	static const char nfd[] = "cafe\xcc\x81-latte-9",
			  nfc[] = "caf\xc3\xa9-latte-9";
	static const uint8_t salt[AF_PW_SALT_LEN] = "sixteen bytes 16";
	fixture *f = *state;
	char raw[AF_PW_PHC_MAX];
	char *after;
	json_t *u = NULL;
	int stale = 0;

	assert_int_equal(add_user(f, "{\"username\":\"noe\"}", nfc), AF_DIR_OK);
	assert_int_equal(af_dir_user_login(f->dir, "noe", nfd, &u), AF_DIR_OK);
	json_decref(u);
	assert_int_equal(argon2id_hash_encoded(1, 64, 1, nfd, strlen(nfd), salt,
					       sizeof(salt), AF_PW_HASH_LEN,
					       raw, sizeof(raw)),
			 ARGON2_OK);
	put_member(f, "noe", "password", json_string(raw));
	/* To that hash the precomposed form is another password. */
	assert_int_equal(af_dir_user_login(f->dir, "noe", nfc, &u),
			 AF_DIR_MISMATCH);
	assert_int_equal(af_dir_user_login(f->dir, "noe", nfd, &u), AF_DIR_OK);
	json_decref(u);
	after = stored_phc(f, "noe");
	assert_string_not_equal(after, raw);
	assert_int_equal(af_pw_verify(after, nfc, &stale), AF_DIR_OK);
	assert_int_equal(stale, 0);
	free(after);
}

static void test_af_dir_user_login_old_costs_rehashed(void **state)
{
	fixture *f = *state;
	af_dir *stronger = small_dir(f->store, 128);
	json_t *u = NULL;
	char *before, *after;
	af_pw_params p;

	assert_int_equal(add_user(f, "{\"username\":\"lee\"}", "pw-lee-123"),
			 AF_DIR_OK);
	before = stored_phc(f, "lee");
	assert_int_equal(af_pw_parse(before, &p), AF_DIR_OK);
	assert_int_equal(p.m_kib, 64);
	/* A wrong password changes nothing. */
	assert_int_equal(af_dir_user_login(stronger, "lee", "nope", &u),
			 AF_DIR_MISMATCH);
	after = stored_phc(f, "lee");
	assert_string_equal(before, after);
	free(after);
	assert_int_equal(af_dir_user_login(stronger, "lee", "pw-lee-123", &u),
			 AF_DIR_OK);
	json_decref(u);
	after = stored_phc(f, "lee");
	assert_string_not_equal(before, after);
	assert_int_equal(af_pw_parse(after, &p), AF_DIR_OK);
	assert_int_equal(p.m_kib, 128);
	assert_int_equal(af_pw_verify(after, "pw-lee-123", NULL), AF_DIR_OK);
	free(after);
	free(before);
	/* Same costs: the hash stays as it is. */
	before = stored_phc(f, "lee");
	assert_int_equal(af_dir_user_login(stronger, "lee", "pw-lee-123", &u),
			 AF_DIR_OK);
	json_decref(u);
	after = stored_phc(f, "lee");
	assert_string_equal(before, after);
	free(after);
	free(before);
	af_dir_free(stronger);
}

static int64_t gen_of(fixture *f, const char *name)
{
	json_t *u = get_user(f, name);
	int64_t gen = af_dir_user_gen(u);

	json_decref(u);
	return gen;
}

/*
 * The sign-in generation goes up with a password set or cleared, the user
 * disabled, or their sign-ins ended; never with a re-hash at sign-in, an
 * enabling or other changes, and nobody sets it by hand.
 */
static void test_af_dir_user_gen_raised_by_what_ends_signins(void **state)
{
	fixture *f = *state;
	af_dir *stronger = small_dir(f->store, 128);
	json_t *u = NULL;

	assert_int_equal(add_user(f, "{\"username\":\"gus\"}", "pw-gus-123"),
			 AF_DIR_OK);
	assert_int_equal(gen_of(f, "gus"), 0);
	assert_int_equal(af_dir_user_login(stronger, "gus", "pw-gus-123", &u),
			 AF_DIR_OK);
	json_decref(u);
	assert_int_equal(gen_of(f, "gus"), 0);
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "GUS",
						  "pw-new-123", f->err,
						  sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(gen_of(f, "gus"), 1);
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "gus", NULL,
						  f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(gen_of(f, "gus"), 2);
	assert_int_equal(set_user(f, "gus", "{\"enabled\":false}"), AF_DIR_OK);
	assert_int_equal(gen_of(f, "gus"), 3);
	assert_int_equal(set_user(f, "gus", "{\"enabled\":false}"), AF_DIR_OK);
	assert_int_equal(set_user(f, "gus", "{\"enabled\":true}"), AF_DIR_OK);
	assert_int_equal(set_user(f, "gus", "{\"name\":\"Gus\"}"), AF_DIR_OK);
	assert_int_equal(gen_of(f, "gus"), 3);
	assert_int_equal(af_dir_user_end_signins(f->dir, "Gus"), AF_DIR_OK);
	assert_int_equal(gen_of(f, "gus"), 4);
	assert_int_equal(af_dir_user_end_signins(f->dir, "nobody"),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_user_end_signins(f->dir, "not valid"),
			 AF_DIR_NOT_FOUND);
	assert_refused(f, set_user(f, "gus", "{\"signin_gen\":0}"),
		       "signin_gen");
	assert_int_equal(gen_of(f, "gus"), 4);
	af_dir_free(stronger);
}

/* A list of names is capped by its distinct names: repeats are dropped. */
static void test_af_dir_names_cap_counts_distinct(void **state)
{
	fixture *f = *state;
	char name[32];
	json_t *spec, *groups;
	af_dir_status rc;

	groups = json_array();
	assert_non_null(groups);
	for (int i = 0; i <= AF_DIR_MEMBERSHIPS_MAX; i++) {
		(void)snprintf(name, sizeof(name), "g%d", i);
		assert_int_equal(
			af_dir_group_add(f->dir, ACTOR, name, NULL, NULL, 0),
			AF_DIR_OK);
		if (i < AF_DIR_MEMBERSHIPS_MAX)
			assert_int_equal(json_array_append_new(
						 groups, json_string(name)),
					 0);
	}
	/* Every name once, and one of them again: taken, once. */
	assert_int_equal(json_array_append_new(groups, json_string("g0")), 0);
	spec = json_pack("{s:s, s:O}", "username", "many", "groups", groups);
	rc = af_dir_user_add(f->dir, ACTOR, spec, "a long enough password",
			     NULL, f->err, sizeof(f->err));
	if (rc != AF_DIR_OK)
		fail_msg("user add: %s", f->err);
	json_decref(spec);
	/* One distinct name more: refused. */
	(void)snprintf(name, sizeof(name), "g%d", AF_DIR_MEMBERSHIPS_MAX);
	assert_int_equal(json_array_append_new(groups, json_string(name)), 0);
	spec = json_pack("{s:s, s:O}", "username", "more", "groups", groups);
	rc = af_dir_user_add(f->dir, ACTOR, spec, "a long enough password",
			     NULL, f->err, sizeof(f->err));
	assert_int_equal(rc, AF_DIR_INVALID);
	assert_non_null(strstr(f->err, "groups: at most"));
	json_decref(spec);
	json_decref(groups);
}

/*
 * At the memory store's cap a wrong password is still counted, delayed
 * and locked (those keys are vital); only the month-long strikes of a
 * name no user has are not kept there.
 */
static void test_af_throttle_counts_at_the_store_cap(void **state)
{
	char key[80], val[512];
	store_options so;
	store_ctx *st = NULL;
	af_dir *dir;
	uint32_t wait_s = 0;
	int i;

	(void)state;
	memset(&so, 0, sizeof(so));
	so.backend = STORE_BACKEND_MEMORY;
	so.max_bytes = (uint64_t)64 * 1024;
	assert_int_equal(store_open(&so, &st, NULL, 0), STORE_OK);
	dir = small_dir(st, 64);
	memset(val, 'v', sizeof(val));
	for (i = 0; i < 1000; i++) {
		(void)snprintf(key, sizeof(key), "code:%d", i);
		if (store_set(st, key, val, sizeof(val), 600000, 0) != STORE_OK)
			break;
	}
	assert_true(i < 1000);
	for (i = 0; i < 6; i++)
		assert_int_equal(
			af_throttle_fail(dir, "ghost", "10.1.1.1", NULL),
			AF_DIR_OK);
	assert_int_equal(
		af_throttle_check(dir, "ghost", "10.1.1.1", NULL, &wait_s),
		AF_DIR_WAIT);
	assert_true(wait_s >= 1);
	/* The strikes of a name nobody has were not kept. */
	{
		store_value v = {NULL, 0};

		assert_int_equal(store_get(st, strikes_key("ghost", key), &v),
				 STORE_NOT_FOUND);
	}
	af_dir_free(dir);
	store_close(st);
}

static void test_af_throttle_user_delays_then_locks(void **state)
{
	fixture *f = *state;
	uint32_t wait = 99;

	for (int i = 0; i < 4; i++) {
		assert_int_equal(af_throttle_check(f->dir, "Mia", "10.0.0.1",
						   NULL, &wait),
				 AF_DIR_OK);
		assert_int_equal(wait, 0);
		assert_int_equal(
			af_throttle_fail(f->dir, "mia", "10.0.0.1", NULL),
			AF_DIR_OK);
	}
	assert_int_equal(
		af_throttle_check(f->dir, "mia", "10.0.0.1", NULL, &wait),
		AF_DIR_OK);
	assert_int_equal(af_throttle_fail(f->dir, "mia", "10.0.0.1", NULL),
			 AF_DIR_OK);
	/* Fifth failure: 1 s, then 2, 4, 8, 16. */
	assert_int_equal(
		af_throttle_check(f->dir, "mia", "10.0.0.2", NULL, &wait),
		AF_DIR_WAIT);
	assert_int_equal(wait, 1);
	for (uint32_t want = 2; want <= 16; want *= 2) {
		assert_int_equal(
			af_throttle_fail(f->dir, "mia", "10.0.0.1", NULL),
			AF_DIR_OK);
		assert_int_equal(
			af_throttle_check(f->dir, "MIA", NULL, NULL, &wait),
			AF_DIR_WAIT);
		assert_int_equal(wait, want);
	}
	/* Tenth failure: locked until an admin unlocks. */
	assert_int_equal(af_throttle_fail(f->dir, "mia", "10.0.0.1", NULL),
			 AF_DIR_OK);
	assert_int_equal(
		af_throttle_check(f->dir, "mia", "10.0.0.9", NULL, &wait),
		AF_DIR_LOCKED);
	assert_int_equal(af_throttle_is_locked(f->dir, "mia"), 1);
	/* A success does not lift a lock. */
	assert_int_equal(af_throttle_success(f->dir, "mia", "10.0.0.1", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "mia", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	assert_int_equal(af_throttle_unlock(f->dir, "MIA"), AF_DIR_OK);
	assert_int_equal(af_throttle_is_locked(f->dir, "mia"), 0);
	assert_int_equal(af_throttle_check(f->dir, "mia", NULL, NULL, &wait),
			 AF_DIR_OK);
	/* Counting starts over after the unlock. */
	assert_int_equal(af_throttle_fail(f->dir, "mia", NULL, NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "mia", NULL, NULL, &wait),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_unlock(f->dir, "not valid"),
			 AF_DIR_INVALID);
}

/*
 * A browser known to the user answers for itself: a lock others ran the
 * user into does not keep it out; its own failures delay and lock it
 * alone, and never count toward the user's lock or strikes.
 */
static void test_af_throttle_known_browser_answers_for_itself(void **state)
{
	fixture *f = *state;
	af_throttle_info info;
	uint32_t wait = 99;
	char key[80];
	store_value v = {NULL, 0};

	for (int i = 0; i < 10; i++)
		assert_int_equal(
			af_throttle_fail(f->dir, "kim", "192.0.2.66", NULL),
			AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	/* Neither the user's lock nor the address' count applies. */
	assert_int_equal(
		af_throttle_check(f->dir, "Kim", "192.0.2.66", "b1", &wait),
		AF_DIR_OK);
	assert_int_equal(wait, 0);
	/* A name no user can have has no known browser. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(
			af_throttle_fail(f->dir, "bad name", NULL, "b3"),
			AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, "b3", &wait),
			 AF_DIR_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(af_throttle_fail(f->dir, "kim", NULL, "b1"),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, "b1", &wait),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_fail(f->dir, "kim", NULL, "b1"),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, "b1", &wait),
			 AF_DIR_WAIT);
	assert_int_equal(wait, 1);
	/* Another browser of the user's is not slowed by b1's failures. */
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, "b2", &wait),
			 AF_DIR_OK);
	for (int i = 5; i < 10; i++)
		assert_int_equal(af_throttle_fail(f->dir, "kim", NULL, "b1"),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, "b1", &wait),
			 AF_DIR_LOCKED);
	assert_int_equal(wait, 1800);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, "b2", &wait),
			 AF_DIR_OK);
	/* The user's count and strikes are the ten from the address. */
	assert_int_equal(af_throttle_info_get(f->dir, "kim", &info), AF_DIR_OK);
	assert_int_equal(info.failures, 10);
	assert_int_equal(
		store_get(af_dir_store(f->dir), strikes_key("kim", key), &v),
		STORE_OK);
	assert_string_equal((const char *)v.data, "10");
	store_value_free(&v);
	/*
	 * A sign-in in b2 clears b2's counts only: the user's, run up from
	 * elsewhere, stay on their way to the lock for good; locks stay.
	 */
	assert_int_equal(af_throttle_fail(f->dir, "kim", NULL, "b2"),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_success(f->dir, "kim", NULL, "b2"),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_info_get(f->dir, "kim", &info), AF_DIR_OK);
	assert_int_equal(info.failures, 10);
	assert_int_equal(info.locked, 1);
	assert_int_equal(
		store_get(af_dir_store(f->dir), strikes_key("kim", key), &v),
		STORE_OK);
	store_value_free(&v);
	assert_int_equal(store_get(af_dir_store(f->dir), "fail:browser:b2", &v),
			 STORE_NOT_FOUND);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, "b1", &wait),
			 AF_DIR_LOCKED);
	/* The help desk sees the locked browser, and an unlock lifts it. */
	assert_int_equal(info.browsers_locked, 1);
	assert_int_equal(af_throttle_unlock(f->dir, "KIM"), AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, "b1", &wait),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, NULL, &wait),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_info_get(f->dir, "kim", &info), AF_DIR_OK);
	assert_int_equal(info.browsers_locked, 0);
	assert_int_equal(info.locked, 0);
	/* Its count starts over: one failure is no delay. */
	assert_int_equal(af_throttle_fail(f->dir, "kim", NULL, "b1"),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "kim", NULL, "b1", &wait),
			 AF_DIR_OK);
}

/*
 * A check that found no failure runs side by side, counted while it runs;
 * a turn taken once a failure is counted waits for it, so that the first
 * wave cannot add failures past the limit behind the turns' backs.
 */
static void test_af_throttle_turn_waits_for_the_first_wave(void **state)
{
	fixture *f = *state;
	af_throttle_turn t1 = {0}, t2 = {0}, t3 = {0};

	assert_int_equal(af_throttle_begin(f->dir, "max", NULL, 0, &t1),
			 AF_DIR_OK);
	assert_int_equal(t1.side, 1);
	assert_int_equal(t1.held, 0);
	assert_int_equal(af_throttle_begin(f->dir, "max", NULL, 0, &t2),
			 AF_DIR_OK);
	assert_int_equal(t2.side, 1);
	/* Another check's failure is counted: turns from now on. */
	assert_int_equal(af_throttle_fail(f->dir, "max", NULL, NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_begin(f->dir, "max", NULL, 0, &t3),
			 AF_DIR_CONFLICT);
	assert_int_equal(t3.held, 0);
	assert_int_equal(t3.side, 0);
	af_throttle_end(f->dir, "max", NULL, &t1);
	assert_int_equal(af_throttle_begin(f->dir, "max", NULL, 0, &t3),
			 AF_DIR_CONFLICT);
	/* The first wave over, the turn is given; it was not held meanwhile. */
	af_throttle_end(f->dir, "max", NULL, &t2);
	assert_int_equal(t2.side, 0);
	assert_int_equal(af_throttle_begin(f->dir, "max", NULL, 0, &t3),
			 AF_DIR_OK);
	assert_int_equal(t3.held, 1);
	assert_int_equal(t3.side, 0);
	af_throttle_end(f->dir, "max", NULL, &t3);
	assert_int_equal(t3.held, 0);
}

/* Once a known browser has failed, its checks take turns with its own. */
static void test_af_throttle_known_browser_own_turn(void **state)
{
	fixture *f = *state;
	af_throttle_turn t1 = {0}, t2 = {0}, t3 = {0};

	assert_int_equal(af_throttle_fail(f->dir, "lou", NULL, NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_begin(f->dir, "lou", NULL, 0, &t1),
			 AF_DIR_OK);
	assert_int_equal(t1.held, 1);
	/* The user's turn is taken; a known browser without failures goes. */
	assert_int_equal(af_throttle_begin(f->dir, "lou", "b1", 0, &t2),
			 AF_DIR_OK);
	assert_int_equal(t2.held, 0);
	assert_int_equal(t2.side, 1);
	af_throttle_end(f->dir, "lou", "b1", &t2);
	assert_int_equal(t2.side, 0);
	assert_int_equal(af_throttle_fail(f->dir, "lou", NULL, "b1"),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_begin(f->dir, "lou", "b1", 0, &t2),
			 AF_DIR_OK);
	assert_int_equal(t2.held, 1);
	assert_int_equal(af_throttle_begin(f->dir, "lou", "b1", 0, &t3),
			 AF_DIR_CONFLICT);
	assert_int_equal(t3.held, 0);
	af_throttle_end(f->dir, "lou", "b1", &t2);
	assert_int_equal(t2.held, 0);
	assert_int_equal(af_throttle_begin(f->dir, "lou", "b1", 0, &t3),
			 AF_DIR_OK);
	assert_int_equal(t3.held, 1);
	/* Given back already: a second end gives back nobody's turn. */
	af_throttle_end(f->dir, "lou", "b1", &t2);
	assert_int_equal(af_throttle_begin(f->dir, "lou", "b1", 0, &t2),
			 AF_DIR_CONFLICT);
	af_throttle_end(f->dir, "lou", "b1", &t3);
	af_throttle_end(f->dir, "lou", NULL, &t1);
}

/*
 * A check that outlived its turn (it ran out meanwhile, and another took
 * it) gives back nothing at its end: the turn stays the other's.
 */
static void test_af_throttle_outlived_turn_stays_the_next_ones(void **state)
{
	fixture *f = *state;
	af_throttle_turn late = {0}, next = {0}, third = {0};
	uint32_t wait = 0;
	char hex[65], key[96];

	assert_int_equal(af_throttle_fail(f->dir, "nell", NULL, NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_begin(f->dir, "nell", NULL, 0, &late),
			 AF_DIR_OK);
	assert_int_equal(late.held, 1);
	af_sha256_hex("nell", 4, hex);
	(void)snprintf(key, sizeof(key), "turn:user:%s", hex);
	assert_int_equal(store_del(f->store, key), STORE_OK); /* ran out */
	assert_int_equal(af_throttle_begin(f->dir, "nell", NULL, 0, &next),
			 AF_DIR_OK);
	assert_int_equal(next.held, 1);
	af_throttle_end(f->dir, "nell", NULL, &late);
	assert_int_equal(af_throttle_begin(f->dir, "nell", NULL, 0, &third),
			 AF_DIR_CONFLICT);
	af_throttle_end(f->dir, "nell", NULL, &next);
	assert_int_equal(af_throttle_begin(f->dir, "nell", NULL, 0, &third),
			 AF_DIR_OK);
	af_throttle_end(f->dir, "nell", NULL, &third);
	/* So at a door: a failure counted late gives back no later turn. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(af_throttle_door_fail(f->dir,
						       AF_THROTTLE_ADMIN,
						       "192.0.2.60", NULL),
				 AF_DIR_OK);
	assert_int_equal(
		store_del(af_dir_store(f->dir), "wait:admin:192.0.2.60"),
		STORE_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_ADMIN,
						"192.0.2.60", &wait, &late),
			 AF_DIR_OK);
	assert_int_equal(late.held, 1);
	assert_int_equal(
		store_del(af_dir_store(f->dir), "turn:admin:192.0.2.60"),
		STORE_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_ADMIN,
						"192.0.2.60", &wait, &next),
			 AF_DIR_OK);
	assert_int_equal(next.held, 1);
	af_throttle_door_end(f->dir, AF_THROTTLE_ADMIN, "192.0.2.60", &late);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_ADMIN,
						"192.0.2.60", &wait, &third),
			 AF_DIR_WAIT);
	af_throttle_door_end(f->dir, AF_THROTTLE_ADMIN, "192.0.2.60", &next);
}

/*
 * A turn left by a node that died holding it: another check waits a
 * moment only (it holds a thread every sign-in needs), not the time limit
 * it was given; the turn itself runs out after 10 s.
 */
static void test_af_throttle_dead_turn_short_wait(void **state)
{
	fixture *f = *state;
	char hex[65], key[96];
	uint64_t t0, ttl = 0;
	af_throttle_turn held = {0}, held2 = {0};

	assert_int_equal(af_throttle_fail(f->dir, "mae", NULL, NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_begin(f->dir, "mae", NULL, 0, &held),
			 AF_DIR_OK);
	assert_int_equal(held.held, 1);
	af_sha256_hex("mae", 3, hex);
	(void)snprintf(key, sizeof(key), "turn:user:%s", hex);
	assert_int_equal(store_ttl(f->store, key, &ttl), STORE_OK);
	assert_in_range(ttl, 9000, 10000);
	t0 = af_mono_ns();
	assert_int_equal(af_throttle_begin(f->dir, "mae", NULL, 30000, &held2),
			 AF_DIR_CONFLICT);
	assert_int_equal(held2.held, 0);
	assert_true(af_mono_ns() - t0 < 2000000000ull);
	assert_true(af_mono_ns() - t0 >= 150000000ull);
	af_throttle_end(f->dir, "mae", NULL, &held);
}

static void test_af_throttle_success_clears_user_count(void **state)
{
	fixture *f = *state;
	uint32_t wait = 0;

	for (int i = 0; i < 4; i++)
		assert_int_equal(af_throttle_fail(f->dir, "ned", NULL, NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_success(f->dir, "ned", NULL, NULL),
			 AF_DIR_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(af_throttle_fail(f->dir, "ned", NULL, NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "ned", NULL, NULL, &wait),
			 AF_DIR_OK);
}

static void test_af_throttle_address_spray_delayed(void **state)
{
	fixture *f = *state;
	char name[16];
	uint32_t wait = 0;

	/* Many names from one address: no user reaches its limit. */
	for (int i = 0; i < 19; i++) {
		snprintf(name, sizeof(name), "spray%d", i);
		assert_int_equal(
			af_throttle_fail(f->dir, name, "192.0.2.7", NULL),
			AF_DIR_OK);
	}
	assert_int_equal(
		af_throttle_check(f->dir, "other", "192.0.2.7", NULL, &wait),
		AF_DIR_OK);
	assert_int_equal(af_throttle_fail(f->dir, "spray19", "192.0.2.7", NULL),
			 AF_DIR_OK);
	assert_int_equal(
		af_throttle_check(f->dir, "other", "192.0.2.7", NULL, &wait),
		AF_DIR_WAIT);
	assert_int_equal(wait, 1);
	assert_int_equal(
		af_throttle_check(f->dir, "other", "192.0.2.8", NULL, &wait),
		AF_DIR_OK);
	/* A malformed name is still counted by its address. */
	assert_int_equal(
		af_throttle_fail(f->dir, "bad name", "192.0.2.7", NULL),
		AF_DIR_OK);
	assert_int_equal(
		af_throttle_check(f->dir, "bad name", "192.0.2.7", NULL, &wait),
		AF_DIR_WAIT);
	assert_int_equal(wait, 2);
}

/*
 * Failed client authentications are counted per address, apart from
 * sign-ins' counts both ways and from the admin API's, an IPv6 address
 * by its /64.
 */
static void test_af_throttle_client_auth_by_address(void **state)
{
	fixture *f = *state;
	uint32_t wait = 99;
	store_value v = {NULL, 0};
	af_throttle_turn held = {0}, other = {0};

	for (int i = 0; i < 19; i++)
		assert_int_equal(af_throttle_door_fail(f->dir,
						       AF_THROTTLE_CLIENT,
						       "192.0.2.30", NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.30", &wait, &held),
			 AF_DIR_OK);
	assert_int_equal(wait, 0);
	assert_int_equal(af_throttle_door_fail(f->dir, AF_THROTTLE_CLIENT,
					       "192.0.2.30", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.30", &wait, &held),
			 AF_DIR_WAIT);
	assert_int_equal(wait, 1);
	assert_int_equal(af_throttle_door_fail(f->dir, AF_THROTTLE_CLIENT,
					       "192.0.2.30", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.30", &wait, &held),
			 AF_DIR_WAIT);
	assert_int_equal(wait, 2);
	/* Another address, and the same one's sign-ins, are not slowed. */
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.31", &wait, &held),
			 AF_DIR_OK);
	assert_int_equal(
		af_throttle_check(f->dir, "kai", "192.0.2.30", NULL, &wait),
		AF_DIR_OK);
	/* Nor do an address' failed sign-ins slow its clients. */
	for (int i = 0; i < 25; i++)
		assert_int_equal(
			af_throttle_fail(f->dir, "kai", "192.0.2.32", "b9"),
			AF_DIR_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.32", &wait, &held),
			 AF_DIR_OK);
	assert_int_equal(
		store_get(af_dir_store(f->dir), "wait:client:192.0.2.30", &v),
		STORE_OK);
	store_value_free(&v);
	/* One /64 is one address. */
	for (int i = 0; i < 20; i++) {
		char ip[64];

		snprintf(ip, sizeof(ip), "2001:db8:5:6:%x::1", i + 1);
		assert_int_equal(af_throttle_door_fail(
					 f->dir, AF_THROTTLE_CLIENT, ip, NULL),
				 AF_DIR_OK);
	}
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"2001:db8:5:6::7", &wait,
						&held),
			 AF_DIR_WAIT);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"2001:db8:5:7::7", &wait,
						&held),
			 AF_DIR_OK);
	/* Each door counts apart: the admin API's is not the clients'. */
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_ADMIN,
						"192.0.2.30", &wait, &held),
			 AF_DIR_OK);
	for (int i = 0; i < 20; i++)
		assert_int_equal(af_throttle_door_fail(f->dir,
						       AF_THROTTLE_ADMIN,
						       "192.0.2.33", NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_ADMIN,
						"192.0.2.33", &wait, &held),
			 AF_DIR_WAIT);
	assert_int_equal(wait, 1);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.33", &wait, &held),
			 AF_DIR_OK);
	/*
	 * Past the delay's start, the address' tries take turns as each
	 * wait ends: a burst sent then gets one try, the others wait a
	 * second; a failure, or the end of a try, gives the turn back.
	 */
	assert_int_equal(
		store_del(af_dir_store(f->dir), "wait:client:192.0.2.30"),
		STORE_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.30", &wait, &held),
			 AF_DIR_OK);
	assert_int_equal(held.held, 1);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.30", &wait, &other),
			 AF_DIR_WAIT);
	assert_int_equal(other.held, 0);
	assert_int_equal(wait, 1);
	assert_int_equal(af_throttle_door_fail(f->dir, AF_THROTTLE_CLIENT,
					       "192.0.2.30", &held),
			 AF_DIR_OK);
	assert_int_equal(held.held, 0);
	assert_int_equal(
		store_del(af_dir_store(f->dir), "wait:client:192.0.2.30"),
		STORE_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.30", &wait, &held),
			 AF_DIR_OK);
	assert_int_equal(held.held, 1);
	af_throttle_door_end(f->dir, AF_THROTTLE_CLIENT, "192.0.2.30", &held);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.30", &wait, &held),
			 AF_DIR_OK);
	assert_int_equal(held.held, 1);
	/* Before the delay's start no turn is needed. */
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						"192.0.2.31", &wait, &held),
			 AF_DIR_OK);
	assert_int_equal(held.held, 0);
	/* No address: nothing to count, nothing refused. */
	assert_int_equal(
		af_throttle_door_fail(f->dir, AF_THROTTLE_CLIENT, NULL, NULL),
		AF_DIR_OK);
	assert_int_equal(af_throttle_door_check(f->dir, AF_THROTTLE_CLIENT,
						NULL, &wait, &held),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_door_check(NULL, AF_THROTTLE_CLIENT,
						"192.0.2.30", &wait, &held),
			 AF_DIR_INVALID);
	assert_int_equal(af_throttle_door_fail(NULL, AF_THROTTLE_CLIENT,
					       "192.0.2.30", NULL),
			 AF_DIR_INVALID);
}

/*
 * An IPv6 host may take any address of its /64 for each try: the
 * addresses of one /64 are counted together, another /64 apart.
 */
static void test_af_throttle_ipv6_counted_by_64(void **state)
{
	fixture *f = *state;
	char name[16], ip[64];
	uint32_t wait = 0;

	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "v6spray%d", i);
		snprintf(ip, sizeof(ip), "2001:db8:1:2:%x::%x", i * 7 + 1,
			 i + 1);
		assert_int_equal(af_throttle_fail(f->dir, name, ip, NULL),
				 AF_DIR_OK);
	}
	assert_int_equal(af_throttle_check(f->dir, "other", "2001:db8:1:2::99",
					   NULL, &wait),
			 AF_DIR_WAIT);
	assert_int_equal(wait, 1);
	assert_int_equal(af_throttle_check(f->dir, "other", "2001:db8:1:3::99",
					   NULL, &wait),
			 AF_DIR_OK);
}

static void test_af_throttle_delay_capped_and_expires(void **state)
{
	fixture *f = *state;
	const struct timespec pause = {1, 200000000};
	af_dir_options opts;
	af_dir *dir = NULL;
	uint32_t wait = 0;

	af_dir_options_default(&opts);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	opts.throttle.user_delay_after = 1;
	opts.throttle.user_lock_after = 0;
	opts.throttle.max_delay_s = 30;
	assert_int_equal(af_dir_new(f->store, &opts, &dir, NULL, 0), AF_DIR_OK);
	assert_int_equal(af_throttle_fail(dir, "olga", NULL, NULL), AF_DIR_OK);
	assert_int_equal(af_throttle_check(dir, "olga", NULL, NULL, &wait),
			 AF_DIR_WAIT);
	assert_int_equal(wait, 1);
	/* The delay is a TTL in the store: it runs out by itself. */
	nanosleep(&pause, NULL);
	assert_int_equal(af_throttle_check(dir, "olga", NULL, NULL, &wait),
			 AF_DIR_OK);
	for (int i = 0; i < 40; i++)
		assert_int_equal(af_throttle_fail(dir, "olga", NULL, NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_check(dir, "olga", NULL, NULL, &wait),
			 AF_DIR_WAIT);
	assert_int_equal(wait, 30);
	assert_int_equal(af_throttle_is_locked(dir, "olga"), 0);
	af_dir_free(dir);
}

/*
 * A directory on f's store whose locks come at lock_after failures in a
 * window of 1 s and last 1 s, with no delays before: locks by the clock.
 */
static af_dir *lock_dir(fixture *f, uint32_t lock_after)
{
	af_dir_options opts;
	af_dir *dir = NULL;

	af_dir_options_default(&opts);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	opts.throttle.user_delay_after = 1000;
	opts.throttle.user_lock_after = lock_after;
	opts.throttle.window_s = 1;
	opts.throttle.lock_s = 1;
	assert_int_equal(af_dir_new(f->store, &opts, &dir, NULL, 0), AF_DIR_OK);
	return dir;
}

/*
 * A lock runs out after lock_s; once a user's failures since the last
 * success pass AF_THROTTLE_STRIKES_MAX, it lasts until lifted.
 */
static void test_af_throttle_lock_runs_out_then_stays(void **state)
{
	fixture *f = *state;
	const struct timespec pause = {1, 200000000};
	af_dir *dir = lock_dir(f, 10);
	uint32_t wait = 0;
	int i;

	assert_int_equal(add_user(f, "{\"username\":\"lena\"}",
				  "a long enough password"),
			 AF_DIR_OK);
	for (i = 0; i < 10; i++)
		assert_int_equal(af_throttle_fail(dir, "lena", NULL, NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_check(dir, "lena", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	assert_int_equal(wait, 1);
	nanosleep(&pause, NULL);
	assert_int_equal(af_throttle_check(dir, "lena", NULL, NULL, &wait),
			 AF_DIR_OK);
	/* Nine more rounds: the hundredth failure locks for good. */
	for (i = 10; i < AF_THROTTLE_STRIKES_MAX; i++) {
		if (i % 10 == 0 && i > 10)
			nanosleep(&pause, NULL);
		assert_int_equal(af_throttle_fail(dir, "lena", NULL, NULL),
				 AF_DIR_OK);
	}
	assert_int_equal(af_throttle_check(dir, "lena", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	assert_int_equal(wait, 0);
	nanosleep(&pause, NULL);
	assert_int_equal(af_throttle_check(dir, "lena", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	assert_int_equal(af_throttle_unlock(dir, "lena"), AF_DIR_OK);
	assert_int_equal(af_throttle_check(dir, "lena", NULL, NULL, &wait),
			 AF_DIR_OK);
	/* A success in between starts the count of strikes over. */
	for (i = 0; i < AF_THROTTLE_STRIKES_MAX - 1; i++)
		assert_int_equal(af_throttle_fail(dir, "lena", NULL, NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_unlock(dir, "lena"), AF_DIR_OK);
	assert_int_equal(af_throttle_fail(dir, "lena", NULL, NULL), AF_DIR_OK);
	assert_int_equal(af_throttle_success(dir, "lena", NULL, NULL),
			 AF_DIR_OK);
	for (i = 0; i < 10; i++)
		assert_int_equal(af_throttle_fail(dir, "lena", NULL, NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_check(dir, "lena", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	assert_int_equal(wait, 1);
	af_dir_free(dir);
}

/*
 * Past the address's limit, its sign-in checks take turns: a spray of
 * names sent at once as the wait ends gets one check, not one per
 * thread. A known browser, and an address below the limit, take none.
 */
static void test_af_throttle_ip_turn_past_the_limit(void **state)
{
	fixture *f = *state;
	const struct timespec pause = {1, 200000000};
	af_throttle_turn a = {0}, b = {0};
	af_dir_options opts;
	af_dir *dir = NULL;
	uint32_t wait = 99;

	af_dir_options_default(&opts);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	opts.throttle.ip_delay_after = 2;
	assert_int_equal(af_dir_new(f->store, &opts, &dir, NULL, 0), AF_DIR_OK);
	assert_int_equal(
		af_throttle_ip_begin(dir, "192.0.2.40", NULL, &wait, &a),
		AF_DIR_OK);
	assert_int_equal(wait, 0);
	assert_false(a.held);
	assert_int_equal(af_throttle_fail(dir, "n1", "192.0.2.40", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_fail(dir, "n2", "192.0.2.40", NULL),
			 AF_DIR_OK);
	/* The address's wait first, then its turn. */
	assert_int_equal(
		af_throttle_ip_begin(dir, "192.0.2.40", NULL, &wait, &a),
		AF_DIR_WAIT);
	assert_int_equal(wait, 1);
	nanosleep(&pause, NULL);
	assert_int_equal(
		af_throttle_ip_begin(dir, "192.0.2.40", NULL, &wait, &a),
		AF_DIR_OK);
	assert_true(a.held);
	assert_int_equal(
		af_throttle_ip_begin(dir, "192.0.2.40", NULL, &wait, &b),
		AF_DIR_WAIT);
	assert_int_equal(wait, 1);
	assert_false(b.held);
	/* A known browser answers for itself; another address is free. */
	assert_int_equal(
		af_throttle_ip_begin(dir, "192.0.2.40", "known-id", &wait, &b),
		AF_DIR_OK);
	assert_false(b.held);
	assert_int_equal(
		af_throttle_ip_begin(dir, "192.0.2.41", NULL, &wait, &b),
		AF_DIR_OK);
	assert_false(b.held);
	af_throttle_ip_end(dir, "192.0.2.40", &a);
	assert_false(a.held);
	assert_int_equal(
		af_throttle_ip_begin(dir, "192.0.2.40", NULL, &wait, &b),
		AF_DIR_OK);
	assert_true(b.held);
	af_throttle_ip_end(dir, "192.0.2.40", &b);
	af_dir_free(dir);
}

/*
 * Failures paced to stay under the lock limit in every window still add
 * up: the hundredth since the last success locks for good.
 */
static void test_af_throttle_paced_failures_lock_for_good(void **state)
{
	fixture *f = *state;
	const struct timespec pause = {1, 200000000};
	af_dir *dir = lock_dir(f, 50);
	uint32_t wait = 0;
	int i;

	assert_int_equal(add_user(f, "{\"username\":\"pace\"}",
				  "a long enough password"),
			 AF_DIR_OK);
	for (i = 0; i < AF_THROTTLE_STRIKES_MAX - 1; i++) {
		if (i % 49 == 0 && i > 0)
			nanosleep(&pause, NULL);
		assert_int_equal(af_throttle_fail(dir, "pace", NULL, NULL),
				 AF_DIR_OK);
	}
	/* 49, 49 and 1 in three windows: never locked so far. */
	assert_int_equal(af_throttle_check(dir, "pace", NULL, NULL, &wait),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_fail(dir, "pace", NULL, NULL), AF_DIR_OK);
	assert_int_equal(af_throttle_check(dir, "pace", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	assert_int_equal(wait, 0);
	af_dir_free(dir);
}

/*
 * A name no user has is locked as a user is, but never for good: past
 * AF_THROTTLE_STRIKES_MAX its lock lasts as long as strikes are kept, and
 * its strikes are not durable, so that a spray of made-up names cannot
 * fill the store with keys that never go.
 */
static void test_af_throttle_unknown_name_never_locked_for_good(void **state)
{
	fixture *f = *state;
	const struct timespec pause = {1, 200000000};
	af_dir *dir = lock_dir(f, 10);
	uint32_t wait = 0;
	uint64_t ttl = 0;
	char key[80];
	int i;

	for (i = 0; i < AF_THROTTLE_STRIKES_MAX; i++) {
		if (i % 10 == 0 && i > 0)
			nanosleep(&pause, NULL);
		assert_int_equal(af_throttle_fail(dir, "nobody", NULL, NULL),
				 AF_DIR_OK);
	}
	assert_int_equal(af_throttle_check(dir, "nobody", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	assert_true(wait > 29 * 86400 && wait <= 30 * 86400);
	/* Strikes of a name nobody has are kept, but not written durable. */
	assert_int_equal(store_ttl(f->store, strikes_key("nobody", key), &ttl),
			 STORE_OK);
	assert_true(ttl > 0);
	af_dir_free(dir);
}

/* Failures against a name before its user existed are not the user's. */
static void test_af_throttle_new_user_inherits_no_lock(void **state)
{
	fixture *f = *state;
	uint32_t wait = 0;
	int i;

	for (i = 0; i < 10; i++)
		assert_int_equal(
			af_throttle_fail(f->dir, "ghost", "10.0.0.1", NULL),
			AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "ghost", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	assert_int_equal(add_user(f, "{\"username\":\"Ghost\"}", "pw-123456"),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "ghost", NULL, NULL, &wait),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_is_locked(f->dir, "ghost"), 0);
}

typedef struct seen {
	int64_t seq[16];
	char action[16][AF_AUDIT_ACTION_MAX + 1];
	size_t n;
	size_t stop_after;
} seen;

static int record_event(const json_t *ev, void *arg)
{
	seen *s = arg;

	if (s->n < 16) {
		s->seq[s->n] = json_integer_value(json_object_get(ev, "seq"));
		snprintf(s->action[s->n], sizeof(s->action[0]), "%s",
			 json_string_value(json_object_get(ev, "action")));
	}
	s->n++;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static void test_af_audit_list_newest_first(void **state)
{
	fixture *f = *state;
	seen s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(af_audit_list(f->dir, 10, record_event, &s),
			 AF_DIR_OK);
	assert_int_equal(s.n, 0);
	assert_int_equal(add_user(f, "{\"username\":\"pat\"}", "pw-123456"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "g", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "pat",
						  "pw2-123456", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_audit_list(f->dir, 10, record_event, &s),
			 AF_DIR_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.action[0], "user.passwd");
	assert_string_equal(s.action[1], "group.add");
	assert_string_equal(s.action[2], "user.add");
	assert_true(s.seq[0] > s.seq[1] && s.seq[1] > s.seq[2]);
	memset(&s, 0, sizeof(s));
	assert_int_equal(af_audit_list(f->dir, 2, record_event, &s), AF_DIR_OK);
	assert_int_equal(s.n, 2);
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(af_audit_list(f->dir, 10, record_event, &s),
			 AF_DIR_OK);
	assert_int_equal(s.n, 1);
	assert_int_equal(af_audit_list(f->dir, 0, record_event, &s),
			 AF_DIR_INVALID);
	assert_int_equal(
		af_audit_list(f->dir, AF_AUDIT_RING + 1, record_event, &s),
		AF_DIR_INVALID);
}

/* The password never reaches the trail. */
static int find_secret(const json_t *ev, void *arg)
{
	char *text = json_dumps(ev, JSON_COMPACT);
	int *found = arg;

	if (text != NULL && strstr(text, "pw-visible") != NULL)
		*found = 1;
	free(text);
	return 0;
}

/* Keeps the detail of the event it is given (the newest, limit 1). */
static int newest_event(const json_t *ev, void *arg)
{
	json_t **detail = arg;

	json_decref(*detail);
	*detail = json_deep_copy(json_object_get(ev, "detail"));
	return 0;
}

static void test_af_audit_record_no_secrets_and_refusals(void **state)
{
	fixture *f = *state;
	char big[AF_AUDIT_DETAIL_MAX + 16];
	json_t *detail;
	int found = 0;

	assert_int_equal(add_user(f, "{\"username\":\"quinn\"}", "pw-visible"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "quinn",
						  "pw-visible", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_audit_list(f->dir, 100, find_secret, &found),
			 AF_DIR_OK);
	assert_int_equal(found, 0);
	assert_int_equal(af_audit_record(f->dir, "", "x", NULL, NULL),
			 AF_DIR_INVALID);
	assert_int_equal(
		af_audit_record(f->dir, ACTOR, "Bad Action", NULL, NULL),
		AF_DIR_INVALID);
	assert_int_equal(
		af_audit_record(f->dir, ACTOR, "x", "bad\ntarget", NULL),
		AF_DIR_INVALID);
	memset(big, 'd', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* A detail too big to keep is kept shortened, never dropped. */
	detail = json_pack("{s:s, s:i}", "d", big, "n", 1);
	assert_int_equal(af_audit_record(f->dir, ACTOR, "x", NULL, detail),
			 AF_DIR_OK);
	json_decref(detail);
	detail = NULL;
	assert_int_equal(af_audit_list(f->dir, 1, newest_event, &detail),
			 AF_DIR_OK);
	assert_non_null(detail);
	assert_true(json_is_true(json_object_get(detail, "shortened")));
	assert_true(json_integer_value(json_object_get(detail, "bytes")) >
		    AF_AUDIT_DETAIL_MAX);
	assert_int_equal(json_string_length(json_object_get(detail, "sha256")),
			 64);
	assert_int_equal(json_array_size(json_object_get(detail, "members")),
			 2);
	json_decref(detail);
	detail = json_pack("[]");
	assert_int_equal(af_audit_record(f->dir, ACTOR, "x", NULL, detail),
			 AF_DIR_INVALID);
	json_decref(detail);
}

/* The newest event, whole. */
static int newest_whole(const json_t *ev, void *arg)
{
	json_t **out = arg;

	json_decref(*out);
	*out = json_deep_copy(ev);
	return 1;
}

static const char *member(const json_t *ev, const char *name)
{
	return json_string_value(json_object_get(ev, name));
}

/* The sequence number of the newest audit event. */
static int64_t newest_seq_of(fixture *f)
{
	json_t *ev = NULL;
	int64_t seq;

	assert_int_equal(af_audit_list(f->dir, 1, newest_whole, &ev),
			 AF_DIR_OK);
	seq = json_integer_value(json_object_get(ev, "seq"));
	json_decref(ev);
	return seq;
}

/*
 * A member added again, or a non-member removed, answers as a change
 * would, but nothing changed, so the trail records nothing.
 */
static void test_af_dir_member_again_records_nothing(void **state)
{
	fixture *f = *state;
	int64_t seq;
	int changed = -1;

	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "crew", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"nia\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"ola\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_group_add_member(f->dir, ACTOR, "crew", "nia",
						 &changed, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(changed, 1);
	seq = newest_seq_of(f);
	assert_int_equal(af_dir_group_add_member(f->dir, ACTOR, "crew", "nia",
						 &changed, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(af_dir_group_remove_member(f->dir, ACTOR, "crew",
						    "ola", &changed, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(newest_seq_of(f), seq);
	assert_int_equal(af_dir_group_remove_member(f->dir, ACTOR, "crew",
						    "nia", &changed, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(newest_seq_of(f), seq + 1);
	assert_true(members_equal(f, 1, "crew", "[]"));
}

static void test_af_dir_view_names_the_request(void **state)
{
	fixture *f = *state;
	char long_ip[AF_DIR_ORIGIN_MAX + 20];
	af_dir *view, *again;
	json_t *spec, *ev = NULL;

	view = af_dir_view(f->dir, "192.0.2.7", "rid-abc");
	assert_non_null(view);
	spec = parse("{\"username\":\"vera\"}");
	assert_int_equal(
		af_dir_user_add(view, ACTOR, spec, NULL, NULL, NULL, 0),
		AF_DIR_OK);
	json_decref(spec);
	assert_int_equal(af_audit_list(f->dir, 1, newest_whole, &ev),
			 AF_DIR_OK);
	assert_string_equal(member(ev, "action"), "user.add");
	assert_string_equal(member(ev, "ip"), "192.0.2.7");
	assert_string_equal(member(ev, "request_id"), "rid-abc");
	/* A view of a view shows the same directory, with its own origin. */
	again = af_dir_view(view, NULL, "rid-def");
	assert_non_null(again);
	af_dir_free(view);
	assert_int_equal(
		af_audit_record(again, ACTOR, "test.event", NULL, NULL),
		AF_DIR_OK);
	assert_int_equal(af_audit_list(f->dir, 1, newest_whole, &ev),
			 AF_DIR_OK);
	assert_null(json_object_get(ev, "ip"));
	assert_string_equal(member(ev, "request_id"), "rid-def");
	af_dir_free(again);
	/* The directory itself names no request, and works on. */
	assert_int_equal(add_user(f, "{\"username\":\"wes\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_audit_list(f->dir, 1, newest_whole, &ev),
			 AF_DIR_OK);
	assert_string_equal(member(ev, "target"), "wes");
	assert_null(json_object_get(ev, "ip"));
	assert_null(json_object_get(ev, "request_id"));
	/* An origin given whole must be printable; a view's is cut. */
	assert_int_equal(af_audit_record_from(f->dir, "a\nb", NULL, ACTOR,
					      "test.event", NULL, NULL),
			 AF_DIR_INVALID);
	memset(long_ip, '9', sizeof(long_ip) - 1);
	long_ip[sizeof(long_ip) - 1] = '\0';
	view = af_dir_view(f->dir, long_ip, NULL);
	assert_non_null(view);
	assert_int_equal(af_audit_record(view, ACTOR, "test.event", NULL, NULL),
			 AF_DIR_OK);
	af_dir_free(view);
	assert_int_equal(af_audit_list(f->dir, 1, newest_whole, &ev),
			 AF_DIR_OK);
	assert_int_equal(strlen(member(ev, "ip")), AF_DIR_ORIGIN_MAX - 1);
	json_decref(ev);
}

static void test_af_audit_ring_keeps_newest(void **state)
{
	fixture *f = *state;
	json_t *detail = json_object();
	seen s;

	for (int i = 1; i <= AF_AUDIT_RING + 5; i++) {
		assert_int_equal(
			json_object_set_new(detail, "i", json_integer(i)), 0);
		assert_int_equal(af_audit_record(f->dir, ACTOR, "test.event",
						 "t", detail),
				 AF_DIR_OK);
	}
	json_decref(detail);
	memset(&s, 0, sizeof(s));
	assert_int_equal(af_audit_list(f->dir, AF_AUDIT_RING, record_event, &s),
			 AF_DIR_OK);
	assert_int_equal(s.n, AF_AUDIT_RING);
	assert_int_equal(s.seq[0], AF_AUDIT_RING + 5);
	assert_int_equal(s.seq[1], AF_AUDIT_RING + 4);
}

/* A directory on f's store keeping audit events keep_s seconds. */
static af_dir *keeping_dir(fixture *f, int64_t keep_s)
{
	af_dir_options opts;
	af_dir *dir = NULL;

	af_dir_options_default(&opts);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	opts.audit_keep_s = keep_s;
	assert_int_equal(af_dir_new(f->store, &opts, &dir, NULL, 0), AF_DIR_OK);
	return dir;
}

/* Rewrites the stored audit event seq as recorded at ts, with no TTL. */
static void age_event(fixture *f, int64_t seq, int64_t ts)
{
	char key[32];
	store_value v = {NULL, 0};
	json_t *ev;
	char *text;

	(void)snprintf(key, sizeof(key), "audit:%lld", (long long)seq);
	assert_int_equal(store_get(f->store, key, &v), STORE_OK);
	ev = json_loadb((const char *)v.data, v.len, 0, NULL);
	assert_non_null(ev);
	assert_int_equal(json_object_set_new(ev, "ts", json_integer(ts)), 0);
	text = json_dumps(ev, JSON_COMPACT);
	assert_non_null(text);
	assert_int_equal(store_set(f->store, key, text, strlen(text), 0, 0),
			 STORE_OK);
	free(text);
	json_decref(ev);
	store_value_free(&v);
}

static int event_kept(fixture *f, int64_t seq)
{
	char key[32];
	uint64_t ttl;

	(void)snprintf(key, sizeof(key), "audit:%lld", (long long)seq);
	return store_ttl(f->store, key, &ttl) == STORE_OK;
}

/* Reads what was written to fd into buf (NUL-terminated). */
static void read_back(int fd, char *buf, size_t cap)
{
	ssize_t n;
	size_t len = 0;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
}

/*
 * audit_keep_s: each event is written to live that long, and the sweep
 * takes out older ones (written before the setting), oldest first, up to
 * the first younger event, once a pass is due, saying how many it took.
 */
static void test_af_audit_keep_days(void **state)
{
	fixture *f = *state;
	const int64_t day = 86400, now = af_now();
	char path[] = "/tmp/test_directory_log_XXXXXX", text[4096];
	af_audit_sweeper sw;
	af_dir *dir = keeping_dir(f, day), *forever = keeping_dir(f, 0);
	int fd = mkstemp(path);
	log_ctx *log;
	uint64_t ttl = 0;

	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	log = log_new(fd, LOG_LEVEL_INFO);
	assert_non_null(log);
	for (int i = 1; i <= 5; i++)
		assert_int_equal(
			af_audit_record(dir, ACTOR, "test.event", "t", NULL),
			AF_DIR_OK);
	assert_int_equal(store_ttl(f->store, "audit:1", &ttl), STORE_OK);
	assert_true(ttl > (uint64_t)(day - 60) * 1000 &&
		    ttl <= (uint64_t)day * 1000);
	/* Events 1, 2 and 4 from before: 3 younger stops the pass. */
	age_event(f, 1, now - 3 * day);
	age_event(f, 2, now - 2 * day);
	age_event(f, 4, now - 2 * day);

	/* No age limit: nothing is swept. */
	memset(&sw, 0, sizeof(sw));
	af_audit_sweep(forever, log, &sw, now);
	assert_true(event_kept(f, 1));

	af_audit_sweep(dir, log, &sw, now);
	assert_false(event_kept(f, 1));
	assert_false(event_kept(f, 2));
	assert_true(event_kept(f, 3));
	assert_true(event_kept(f, 4));
	assert_true(event_kept(f, 5));
	assert_int_equal(sw.due, now + AF_AUDIT_SWEEP_EVERY_S);

	/* Not due yet; then due, from where the last pass stopped. */
	age_event(f, 3, now - 2 * day);
	af_audit_sweep(dir, log, &sw, now + 10);
	assert_true(event_kept(f, 3));
	af_audit_sweep(dir, log, &sw, now + AF_AUDIT_SWEEP_EVERY_S);
	assert_false(event_kept(f, 3));
	assert_false(event_kept(f, 4));
	assert_true(event_kept(f, 5));
	/* A clock set back: the pass is due again at once. */
	age_event(f, 5, now - 2 * day);
	af_audit_sweep(dir, log, &sw,
		       now - 2 * (int64_t)AF_AUDIT_SWEEP_EVERY_S);
	assert_false(event_kept(f, 5));

	/* The listing goes on with the newer events. */
	assert_int_equal(
		af_audit_record(forever, ACTOR, "test.event", "t", NULL),
		AF_DIR_OK);
	assert_int_equal(store_ttl(f->store, "audit:6", &ttl), STORE_OK);
	assert_int_equal(ttl, 0);
	log_free(log);
	read_back(fd, text, sizeof(text));
	close(fd);
	assert_non_null(strstr(text, "took out 2 audit event(s) older than "
				     "86400 s"));
	assert_non_null(strstr(text, "took out 1 audit event(s)"));
	af_dir_free(forever);
	af_dir_free(dir);
}

/* Writes slot seq as holding an event of an earlier lap, recorded at ts. */
static void put_lapped(fixture *f, int64_t seq, int64_t ts)
{
	char key[32], text[160];

	(void)snprintf(key, sizeof(key), "audit:%lld", (long long)seq);
	(void)snprintf(text, sizeof(text),
		       "{\"seq\":%lld,\"ts\":%lld,\"actor\":\"root\","
		       "\"action\":\"test.event\",\"target\":\"t\"}",
		       (long long)(seq - AF_AUDIT_RING), (long long)ts);
	assert_int_equal(store_set(f->store, key, text, strlen(text), 0, 0),
			 STORE_OK);
}

/*
 * A slot still holding an event of an earlier lap (its writer took the
 * number but could not write): taken out when old enough, and passed
 * over, not ending the pass, when younger.
 */
static void test_af_audit_sweep_lapped_slot(void **state)
{
	fixture *f = *state;
	const int64_t day = 86400, now = af_now();
	af_audit_sweeper sw;
	af_dir *dir = keeping_dir(f, day);

	for (int i = 1; i <= 4; i++)
		assert_int_equal(
			af_audit_record(dir, ACTOR, "test.event", "t", NULL),
			AF_DIR_OK);
	age_event(f, 1, now - 3 * day);
	put_lapped(f, 2, now - 3 * day);
	put_lapped(f, 3, now);
	age_event(f, 4, now - 2 * day);
	memset(&sw, 0, sizeof(sw));
	af_audit_sweep(dir, NULL, &sw, now);
	assert_false(event_kept(f, 1));
	assert_false(event_kept(f, 2));
	assert_true(event_kept(f, 3));
	assert_false(event_kept(f, 4));
	af_dir_free(dir);
}

/* audit_keep_s is 0..ten years. */
static void test_af_audit_keep_refused(void **state)
{
	fixture *f = *state;
	af_dir_options opts;
	af_dir *dir = NULL;

	af_dir_options_default(&opts);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	opts.audit_keep_s = -1;
	assert_int_equal(
		af_dir_new(f->store, &opts, &dir, f->err, sizeof(f->err)),
		AF_DIR_INVALID);
	assert_non_null(strstr(f->err, "audit events are kept"));
	opts.audit_keep_s = AF_DIR_AUDIT_KEEP_S_MAX + 1;
	assert_int_equal(af_dir_new(f->store, &opts, &dir, NULL, 0),
			 AF_DIR_INVALID);
	assert_null(dir);
}

struct join_race {
	fixture *f;
	char user[16];
	pthread_barrier_t go;
};

static void *join_staff(void *arg)
{
	struct join_race *r = arg;
	af_dir_status rc;

	(void)pthread_barrier_wait(&r->go);
	rc = af_dir_group_add_member(r->f->dir, ACTOR, "staff", r->user, NULL,
				     NULL, 0);

	/*
	 * Either joined before the removal, or found the user being removed
	 * or gone.
	 */
	return rc == AF_DIR_OK || rc == AF_DIR_NOT_FOUND ||
			       rc == AF_DIR_REMOVING
		       ? NULL
		       : arg;
}

/* A user removed while added to a group: never left in the group. */
static void test_af_dir_user_remove_racing_join_leaves_no_member(void **state)
{
	fixture *f = *state;
	struct join_race r = {.f = f};
	json_t *members = NULL;
	void *failed = NULL;
	pthread_t t;
	int i;

	assert_int_equal(
		af_dir_group_add(f->dir, ACTOR, "staff", NULL, NULL, 0),
		AF_DIR_OK);
	for (i = 0; i < 400; i++) {
		char spec[64];

		(void)snprintf(r.user, sizeof(r.user), "racer%d", i);
		(void)snprintf(spec, sizeof(spec), "{\"username\":\"%s\"}",
			       r.user);
		assert_int_equal(add_user(f, spec, NULL), AF_DIR_OK);
		assert_int_equal(pthread_barrier_init(&r.go, NULL, 2), 0);
		assert_int_equal(pthread_create(&t, NULL, join_staff, &r), 0);
		(void)pthread_barrier_wait(&r.go);
		assert_int_equal(
			af_dir_user_remove(f->dir, ACTOR, r.user, NULL, 0),
			AF_DIR_OK);
		assert_int_equal(pthread_join(t, &failed), 0);
		assert_int_equal(pthread_barrier_destroy(&r.go), 0);
		assert_null(failed);
	}
	assert_int_equal(af_dir_group_members(f->dir, "staff", &members),
			 AF_DIR_OK);
	assert_int_equal(json_array_size(members), 0);
	json_decref(members);
}

/* --- state files, cut writes and restarts ------------------------------ */

/*
 * Makes a fresh folder for a state file (under TMPDIR when it is short)
 * into dir, which holds 64 bytes.
 */
static void state_dir_new(char *dir)
{
	const char *tmp = getenv("TMPDIR");

	(void)snprintf(dir, 64, "%s/af-dir-XXXXXX",
		       tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
}

/*
 * Gives the fixture a new store and directory: over the state file in dir
 * (replayed, as after a restart), or in memory only when dir is NULL.
 */
static void reopen_at(fixture *f, const char *dir)
{
	store_options so;
	char err[256];

	af_dir_free(f->dir);
	store_close(f->store);
	memset(&so, 0, sizeof(so));
	so.backend = STORE_BACKEND_MEMORY;
	so.state_dir = dir;
	f->store = NULL;
	if (store_open(&so, &f->store, err, sizeof(err)) != STORE_OK)
		fail_msg("store_open: %s", err);
	f->dir = small_dir(f->store, 64);
}

/* Leaves the folder for a store in memory and removes the folder. */
static void state_dir_drop(fixture *f, const char *dir)
{
	char path[96];

	reopen_at(f, NULL);
	(void)snprintf(path, sizeof(path), "%s/store.aof", dir);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/store.aof.tmp", dir);
	(void)unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static off_t state_size(const char *dir)
{
	char path[96];
	struct stat sb;

	(void)snprintf(path, sizeof(path), "%s/store.aof", dir);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/*
 * Removes user with the state file allowed to grow by room bytes at most,
 * as a full disk would allow: the first record that does not fit is
 * refused (STORE_ERR_IO) and so is every one after it, which leaves the
 * store as a crash at that point would.
 */
static void room_limit(const char *dir, off_t room, struct rlimit *old)
{
	struct rlimit lim;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, old), 0);
	lim = *old;
	lim.rlim_cur = (rlim_t)(state_size(dir) + room);
	(void)signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

static void room_restore(const struct rlimit *old)
{
	assert_int_equal(setrlimit(RLIMIT_FSIZE, old), 0);
	(void)signal(SIGXFSZ, SIG_DFL);
}

static af_dir_status remove_with_room(fixture *f, const char *dir,
				      const char *name, off_t room, int group)
{
	struct rlimit old;
	af_dir_status rc;

	room_limit(dir, room, &old);
	f->err[0] = '\0';
	rc = group ? af_dir_group_remove(f->dir, ACTOR, name)
		   : af_dir_user_remove(f->dir, ACTOR, name, f->err,
					sizeof(f->err));
	room_restore(&old);
	return rc;
}

/*
 * bob, with what a removal must clean up: a member of a group and an OU,
 * a policy assigned to him, a profile deployed to him, failed sign-ins.
 * The client id goes into client_id, bob's sub into sub.
 */
static void seed_bob(fixture *f, char *client_id, char *sub)
{
	json_t *u;

	assert_int_equal(
		af_dir_group_add(f->dir, ACTOR, "staff", NULL, NULL, 0),
		AF_DIR_OK);
	assert_int_equal(af_dir_ou_add(f->dir, ACTOR, "Americas", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(
		add_user(f,
			 "{\"username\":\"bob\",\"groups\":[\"staff\"],"
			 "\"ous\":[\"Americas\"]}",
			 "bob-password"),
		AF_DIR_OK);
	assert_int_equal(add_policy(f, "{\"name\":\"p\",\"sso\":true,"
				       "\"assigned\":{\"users\":[\"bob\"]}}"),
			 AF_DIR_OK);
	assert_int_equal(
		add_app_id(f,
			   "{\"name\":\"crm\",\"redirect_uris\":[\"https://c/"
			   "cb\"],\"deployment\":{\"mode\":\"chosen\","
			   "\"users\":[\"bob\"]}}",
			   client_id),
		AF_DIR_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(af_throttle_fail(f->dir, "bob", NULL, NULL),
				 AF_DIR_OK);
	u = get_user(f, "bob");
	(void)snprintf(sub, AF_DIR_SUB_LEN + 1, "%s",
		       json_string_value(json_object_get(u, "sub")));
	json_decref(u);
}

/* 1 when the trail has an event action on target. */
static int on_trail(fixture *f, const char *action, const char *target)
{
	json_t *list = NULL, *ev;
	int found = 0;
	size_t i;

	assert_int_equal(
		af_audit_list(f->dir, AF_AUDIT_RING, collect_actions, &list),
		AF_DIR_OK);
	json_array_foreach(list, i, ev)
	{
		if (strcmp(json_string_value(json_object_get(ev, "action")),
			   action) == 0 &&
		    strcmp(json_string_value(json_object_get(ev, "target")),
			   target) == 0)
			found = 1;
	}
	json_decref(list);
	return found;
}

/* Nothing names bob any more, and a new bob gets none of the old one's. */
static void assert_bob_gone_then_new_clean(fixture *f, const char *client_id,
					   const char *sub)
{
	json_t *p = NULL, *app = NULL, *u = NULL;
	store_value v = {NULL, 0};
	char sk[80];

	assert_int_equal(af_dir_user_get(f->dir, "bob", &u), AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_user_get_by_sub(f->dir, sub, &u),
			 AF_DIR_NOT_FOUND);
	assert_true(members_equal(f, 1, "staff", "[]"));
	assert_true(members_equal(f, 0, "Americas", "[]"));
	assert_int_equal(af_dir_policy_get(f->dir, "p", &p), AF_DIR_OK);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(p, "assigned"), "users")),
			 0);
	json_decref(p);
	assert_int_equal(af_dir_app_get(f->dir, client_id, &app), AF_DIR_OK);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(app, "deployment"), "users")),
			 0);
	assert_int_equal(store_get(f->store, strikes_key("bob", sk), &v),
			 STORE_NOT_FOUND);
	assert_true(on_trail(f, "user.remove", "bob"));

	assert_int_equal(add_user(f, "{\"username\":\"bob\"}", "new-bob-pw"),
			 AF_DIR_OK);
	u = get_user(f, "bob");
	assert_false(af_dir_user_removing(u));
	assert_true(json_is_true(json_object_get(u, "enabled")));
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_app_deployed_to(app, u), 0);
	assert_true(members_equal(f, 1, "staff", "[]"));
	json_decref(app);
	json_decref(u);
}

/*
 * A removal cut short at every point it can be (the state file refuses
 * every write from there on, as a full disk or a crash leaves it): the
 * user is still there, disabled and marked, or untouched when the very
 * first write was refused; a restart keeps that; a second removal
 * finishes the job; and a new user of the name starts clean.
 */
static void test_af_dir_user_remove_cut_anywhere_finished_by_rerun(void **state)
{
	fixture *f = *state;
	char dir[64], client_id[AF_DIR_CLIENT_ID_BUF];
	char sub[AF_DIR_SUB_LEN + 1];
	int marked = 0, untouched = 0, done = 0;
	af_dir_status rc;
	json_t *u = NULL;

	/* Steps below the smallest record (57 bytes), so every cut is met. */
	for (off_t room = 0; !done; room += 48) {
		state_dir_new(dir);
		reopen_at(f, dir);
		seed_bob(f, client_id, sub);
		rc = remove_with_room(f, dir, "bob", room, 0);
		if (rc == AF_DIR_OK) {
			done = 1;
		} else {
			assert_int_equal(rc, AF_DIR_STORE);
			reopen_at(f, dir); /* a restart sees the same */
			u = get_user(f, "bob");
			if (af_dir_user_removing(u)) {
				marked++;
				assert_non_null(strstr(f->err, "incomplete"));
				assert_non_null(strstr(f->err, "again"));
				assert_true(json_is_false(
					json_object_get(u, "enabled")));
				assert_int_equal(
					af_dir_user_login(f->dir, "bob",
							  "bob-password", NULL),
					AF_DIR_FORBIDDEN);
			} else {
				/* Only while the mark itself does not fit. */
				untouched++;
				assert_int_equal(marked, 0);
				assert_non_null(strstr(f->err, "nothing was"));
				assert_int_equal(
					af_dir_user_login(f->dir, "bob",
							  "bob-password", NULL),
					AF_DIR_OK);
			}
			json_decref(u);
			assert_int_equal(af_dir_user_remove(f->dir, ACTOR,
							    "bob", NULL, 0),
					 AF_DIR_OK);
		}
		assert_int_equal(
			af_dir_user_remove(f->dir, ACTOR, "bob", NULL, 0),
			AF_DIR_NOT_FOUND);
		assert_bob_gone_then_new_clean(f, client_id, sub);
		state_dir_drop(f, dir);
		assert_true(room < (off_t)64 * 1024);
	}
	assert_true(untouched >= 1);
	/* Mark, sets, sub, policy and its event, app and its event, counters,
	 * the removal's event, the index: each a cut that leaves a mark. */
	assert_true(marked >= 10);
}

/*
 * A user added with the state file cut at every point it can be (as a
 * full disk leaves it): nothing stands and nothing is handed out, or the
 * user stands and is handed out, whatever else failed (so that the admin
 * API clears what an earlier user of the name left), and when its member
 * lists are behind, setting its groups and OUs again brings them in line.
 */
static void
test_af_dir_user_add_cut_anywhere_hands_out_what_stands(void **state)
{
	fixture *f = *state;
	int stood = 0, nothing = 0, done = 0;
	char dir[64];

	/* Steps below the smallest record (57 bytes), so every cut is met. */
	for (off_t room = 0; !done; room += 48) {
		json_t *spec, *out = NULL, *u = NULL;
		struct rlimit old;
		af_dir_status rc;

		state_dir_new(dir);
		reopen_at(f, dir);
		assert_int_equal(
			af_dir_group_add(f->dir, ACTOR, "crew", NULL, NULL, 0),
			AF_DIR_OK);
		assert_int_equal(
			af_dir_ou_add(f->dir, ACTOR, "Europe", NULL, 0),
			AF_DIR_OK);
		spec = parse("{\"username\":\"cora\",\"groups\":[\"crew\"],"
			     "\"ous\":[\"Europe\"]}");
		room_limit(dir, room, &old);
		f->err[0] = '\0';
		rc = af_dir_user_add(f->dir, ACTOR, spec, NULL, &out, f->err,
				     sizeof(f->err));
		room_restore(&old);
		json_decref(spec);
		reopen_at(f, dir); /* a restart sees the same */
		if (rc == AF_DIR_OK) {
			done = 1;
			assert_non_null(out);
		} else if (af_dir_user_get(f->dir, "cora", &u) == AF_DIR_OK) {
			stood++;
			assert_int_equal(rc, AF_DIR_STORE);
			assert_non_null(out);
			assert_string_equal(json_string_value(json_object_get(
						    out, "username")),
					    "cora");
			if (strstr(f->err, "member lists") != NULL)
				assert_non_null(
					strstr(f->err, "set its groups"));
			assert_int_equal(set_user(f, "cora",
						  "{\"groups\":[\"crew\"],"
						  "\"ous\":[\"Europe\"]}"),
					 AF_DIR_OK);
		} else {
			nothing++;
			assert_null(out);
		}
		if (out != NULL) {
			assert_true(members_equal(f, 1, "crew", "[\"cora\"]"));
			assert_true(
				members_equal(f, 0, "Europe", "[\"cora\"]"));
		}
		json_decref(out);
		json_decref(u);
		state_dir_drop(f, dir);
		assert_true(room < (off_t)64 * 1024);
	}
	assert_true(stood >= 1);
	assert_true(nothing >= 1);
}

/*
 * A group removal cut short at every point it can be: the group is still
 * there (a restart keeps that), a second removal finishes it, and a new
 * group of the name has no member, policy or deployment of the old one.
 */
static void
test_af_dir_group_remove_cut_anywhere_finished_by_rerun(void **state)
{
	fixture *f = *state;
	char dir[64], client_id[AF_DIR_CLIENT_ID_BUF];
	char sub[AF_DIR_SUB_LEN + 1];
	json_t *g = NULL, *u, *p = NULL;
	int cut = 0, done = 0;
	af_dir_status rc;

	for (off_t room = 0; !done; room += 48) {
		state_dir_new(dir);
		reopen_at(f, dir);
		seed_bob(f, client_id, sub);
		assert_int_equal(add_policy(f, "{\"name\":\"staffp\","
					       "\"sso\":true,\"assigned\":{"
					       "\"groups\":[\"staff\"]}}"),
				 AF_DIR_OK);
		rc = remove_with_room(f, dir, "staff", room, 1);
		if (rc == AF_DIR_OK) {
			done = 1;
		} else {
			cut++;
			assert_int_equal(rc, AF_DIR_STORE);
			reopen_at(f, dir); /* a restart sees the same */
			assert_int_equal(af_dir_group_get(f->dir, "staff", &g),
					 AF_DIR_OK);
			json_decref(g);
			assert_int_equal(
				af_dir_group_remove(f->dir, ACTOR, "staff"),
				AF_DIR_OK);
		}
		assert_int_equal(af_dir_group_remove(f->dir, ACTOR, "staff"),
				 AF_DIR_NOT_FOUND);
		assert_true(on_trail(f, "group.remove", "staff"));
		/* A new group of the name starts empty. */
		assert_int_equal(
			af_dir_group_add(f->dir, ACTOR, "staff", NULL, NULL, 0),
			AF_DIR_OK);
		assert_true(members_equal(f, 1, "staff", "[]"));
		u = get_user(f, "bob");
		assert_int_equal(json_array_size(json_object_get(u, "groups")),
				 0);
		json_decref(u);
		assert_int_equal(af_dir_policy_get(f->dir, "staffp", &p),
				 AF_DIR_OK);
		assert_int_equal(
			json_array_size(json_object_get(
				json_object_get(p, "assigned"), "groups")),
			0);
		json_decref(p);
		state_dir_drop(f, dir);
		assert_true(room < (off_t)64 * 1024);
	}
	assert_true(cut >= 3);
}

/*
 * What an older version's removal cut short left (the record gone first,
 * the references not yet): a new user of the name is not assigned or
 * deployed to by them, and the trail says they were dropped.
 */
static void test_af_dir_user_add_stale_references_dropped(void **state)
{
	fixture *f = *state;
	char client_id[AF_DIR_CLIENT_ID_BUF], sub[AF_DIR_SUB_LEN + 1];
	json_t *u, *p = NULL, *app = NULL, *list = NULL;

	seed_bob(f, client_id, sub);
	assert_int_equal(store_del(f->store, "user:bob"), STORE_OK);
	assert_int_equal(store_srem(f->store, "users", "bob"), STORE_OK);
	assert_int_equal(add_user(f, "{\"username\":\"bob\"}", "new-bob-pw"),
			 AF_DIR_OK);
	u = get_user(f, "bob");
	assert_int_equal(af_dir_policy_for_user(f->dir, u, &p),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_app_get(f->dir, client_id, &app), AF_DIR_OK);
	assert_int_equal(af_dir_app_deployed_to(app, u), 0);
	assert_int_equal(af_audit_list(f->dir, 5, collect_actions, &list),
			 AF_DIR_OK);
	assert_true(has_forget(list, "policy.unassign", "p"));
	assert_true(has_forget(list, "app.undeploy", client_id));
	json_decref(list);
	json_decref(app);
	json_decref(u);
}

/* A user being removed cannot be changed, named or added again. */
static void test_af_dir_user_removing_refuses_changes(void **state)
{
	fixture *f = *state;
	json_t *u, *spec, *list = NULL;

	add_groups_and_ous(f);
	assert_int_equal(add_user(f, "{\"username\":\"rita\"}", "rita-pw-123"),
			 AF_DIR_OK);
	assert_int_equal(add_policy(f, "{\"name\":\"p\",\"sso\":true}"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_remove_begin(f->dir, "Rita", f->err,
						  sizeof(f->err)),
			 AF_DIR_OK);
	/* Marking twice is no error and changes nothing more. */
	u = get_user(f, "rita");
	assert_int_equal(af_dir_user_remove_begin(f->dir, "rita", f->err,
						  sizeof(f->err)),
			 AF_DIR_OK);
	list = get_user(f, "rita");
	assert_true(json_equal(u, list));
	json_decref(list);
	list = NULL;
	assert_true(af_dir_user_removing(u));
	assert_true(json_is_false(json_object_get(u, "enabled")));
	assert_true(af_dir_user_gen(u) > 0);
	json_decref(u);
	assert_int_equal(af_dir_user_login(f->dir, "rita", "rita-pw-123", NULL),
			 AF_DIR_FORBIDDEN);
	assert_int_equal(set_user(f, "rita", "{\"enabled\":true}"),
			 AF_DIR_REMOVING);
	assert_non_null(strstr(f->err, "being removed"));
	assert_int_equal(af_dir_user_set_password(f->dir, ACTOR, "rita",
						  "x-password", f->err,
						  sizeof(f->err)),
			 AF_DIR_REMOVING);
	assert_int_equal(af_dir_group_add_member(f->dir, ACTOR, "staff", "rita",
						 NULL, f->err, sizeof(f->err)),
			 AF_DIR_REMOVING);
	assert_true(members_equal(f, 1, "staff", "[]"));
	assert_int_equal(af_dir_policy_assign(f->dir, ACTOR, "p",
					      AF_DIR_TARGET_USER, "rita",
					      f->err, sizeof(f->err)),
			 AF_DIR_INVALID);
	assert_int_equal(add_user(f, "{\"username\":\"rita\"}", "pw-123456"),
			 AF_DIR_EXISTS);
	assert_non_null(strstr(f->err, "being removed"));
	/* Listed, so that an administrator sees what is left to finish. */
	assert_int_equal(af_dir_user_list(f->dir, &list), AF_DIR_OK);
	assert_true(af_dir_user_removing(json_array_get(list, 0)));
	json_decref(list);
	spec = parse("{\"username\":\"rita\"}");
	assert_int_equal(af_dir_user_remove(f->dir, ACTOR, "rita", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_add(f->dir, ACTOR, spec, "pw-123456", NULL,
					 NULL, 0),
			 AF_DIR_OK);
	json_decref(spec);
	assert_int_equal(af_dir_user_remove_begin(f->dir, "nobody", f->err,
						  sizeof(f->err)),
			 AF_DIR_NOT_FOUND);
}

/*
 * The audit trail fails after a profile or its new secret was stored: the
 * secret is handed out all the same (it is the only one that works), as
 * AF_DIR_UNAUDITED.
 */
static void test_af_dir_app_secret_stored_audit_fails_secret_kept(void **state)
{
	fixture *f = *state;
	char secret[AF_DIR_SECRET_BUF], old[AF_DIR_SECRET_BUF];
	char client_id[AF_DIR_CLIENT_ID_BUF];
	json_t *app = NULL;

	assert_int_equal(add_app(f,
				 "{\"name\":\"crm\","
				 "\"redirect_uris\":[\"https://c/cb\"]}",
				 &app, old),
			 AF_DIR_OK);
	(void)snprintf(client_id, sizeof(client_id), "%s",
		       json_string_value(json_object_get(app, "client_id")));
	json_decref(app);
	app = NULL;
	/* The trail's counter is damaged: every event fails. */
	assert_int_equal(store_set(f->store, "audit:seq", "x", 1, 0, 0),
			 STORE_OK);
	assert_int_equal(af_dir_app_rotate_secret(f->dir, ACTOR, client_id, 0,
						  secret, sizeof(secret), NULL),
			 AF_DIR_UNAUDITED);
	assert_int_equal(strlen(secret), AF_DIR_SECRET_LEN);
	assert_int_equal(
		af_dir_app_check_secret(f->dir, client_id, secret, NULL, NULL),
		AF_DIR_OK);
	assert_int_equal(
		af_dir_app_check_secret(f->dir, client_id, old, NULL, NULL),
		AF_DIR_FORBIDDEN);

	assert_int_equal(add_app(f,
				 "{\"name\":\"erp\","
				 "\"redirect_uris\":[\"https://e/cb\"]}",
				 &app, secret),
			 AF_DIR_UNAUDITED);
	assert_non_null(strstr(f->err, "audit"));
	assert_non_null(app);
	assert_int_equal(strlen(secret), AF_DIR_SECRET_LEN);
	assert_int_equal(
		af_dir_app_check_secret(
			f->dir,
			json_string_value(json_object_get(app, "client_id")),
			secret, NULL, NULL),
		AF_DIR_OK);
	json_decref(app);
	/* Other changes still say AF_DIR_STORE, as they always did. */
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "g", NULL, f->err,
					  sizeof(f->err)),
			 AF_DIR_STORE);
}

/*
 * With the memory store, a user's lock and failure counts outlive a
 * restart, with the time the lock has left.
 */
static void test_af_throttle_lock_survives_memory_store_restart(void **state)
{
	fixture *f = *state;
	char sk[80];
	char dir[64];
	uint32_t wait = 0;
	store_value v = {NULL, 0};

	state_dir_new(dir);
	reopen_at(f, dir);
	assert_int_equal(add_user(f, "{\"username\":\"lock-me\"}",
				  "a long enough password"),
			 AF_DIR_OK);
	for (int i = 0; i < 10; i++)
		assert_int_equal(
			af_throttle_fail(f->dir, "lock-me", "10.0.0.9", NULL),
			AF_DIR_OK);
	/* A name nobody has: its strikes are not written durable. */
	assert_int_equal(af_throttle_fail(f->dir, "made-up", NULL, NULL),
			 AF_DIR_OK);
	assert_int_equal(store_get(f->store, strikes_key("made-up", sk), &v),
			 STORE_OK);
	store_value_free(&v);
	assert_int_equal(
		af_throttle_check(f->dir, "lock-me", NULL, NULL, &wait),
		AF_DIR_LOCKED);
	reopen_at(f, dir);
	assert_int_equal(af_throttle_is_locked(f->dir, "lock-me"), 1);
	wait = 0;
	assert_int_equal(
		af_throttle_check(f->dir, "lock-me", NULL, NULL, &wait),
		AF_DIR_LOCKED);
	assert_true(wait > 1700 && wait <= 1800);
	/* Counted under the name's hash: never the typed name in clear. */
	assert_int_equal(store_get(f->store, "strikes:user:lock-me", &v),
			 STORE_NOT_FOUND);
	assert_int_equal(store_get(f->store, strikes_key("lock-me", sk), &v),
			 STORE_OK);
	assert_int_equal(v.len, 2);
	assert_memory_equal(v.data, "10", 2);
	store_value_free(&v);
	assert_int_equal(store_get(f->store, strikes_key("made-up", sk), &v),
			 STORE_NOT_FOUND);
	/*
	 * In its place one durable write to the one decoy key, as slow as a
	 * user's strikes: the answer's time does not tell who exists.
	 */
	assert_int_equal(store_get(f->store, "strikes:decoy", &v), STORE_OK);
	assert_memory_equal(v.data, "1", 1);
	store_value_free(&v);
	/* An unlock is written too: it stays unlocked after a restart. */
	assert_int_equal(af_throttle_unlock(f->dir, "lock-me"), AF_DIR_OK);
	reopen_at(f, dir);
	assert_int_equal(af_throttle_is_locked(f->dir, "lock-me"), 0);
	state_dir_drop(f, dir);
}

/* The newest event of action on the trail, or NULL. */
static json_t *newest_of(fixture *f, const char *action)
{
	json_t *list = NULL, *ev, *found = NULL;
	size_t i;

	assert_int_equal(af_audit_list(f->dir, 100, collect_actions, &list),
			 AF_DIR_OK);
	json_array_foreach(list, i, ev)
	{
		if (strcmp(json_string_value(json_object_get(ev, "action")),
			   action) == 0) {
			found = json_incref(ev);
			break;
		}
	}
	json_decref(list);
	return found;
}

/*
 * A rotation may keep the replaced secret working for a while, so that
 * the application can be given the new one without a gap: both work,
 * the old one flagged, until its time is up, a later rotation or an
 * explicit drop ends it; its hash is never handed out.
 */
static void test_af_dir_app_rotate_keeps_previous(void **state)
{
	fixture *f = *state;
	char first[AF_DIR_SECRET_BUF], second[AF_DIR_SECRET_BUF],
		third[AF_DIR_SECRET_BUF];
	json_t *app = NULL, *got = NULL, *list = NULL, *ev;
	const char *id;
	int previous = -1;
	int64_t now = af_now(), until = -1;
	size_t idx;

	assert_int_equal(add_app(f,
				 "{\"name\":\"keep\",\"redirect_uris\":"
				 "[\"https://t.example/cb\"]}",
				 &app, first),
			 AF_DIR_OK);
	id = json_string_value(json_object_get(app, "client_id"));
	assert_int_equal(af_dir_app_rotate_secret(f->dir, ACTOR, id,
						  AF_DIR_SECRET_KEEP_MAX + 1,
						  second, sizeof(second), NULL),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_app_rotate_secret(f->dir, ACTOR, id, -1, second,
						  sizeof(second), NULL),
			 AF_DIR_INVALID);
	assert_int_equal(af_dir_app_drop_previous_secret(f->dir, ACTOR, id),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_app_rotate_secret(f->dir, ACTOR, id, 3600,
						  second, sizeof(second),
						  &until),
			 AF_DIR_OK);
	assert_in_range(until, now + 3600, af_now() + 3600);
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, first, NULL, &previous),
		AF_DIR_OK);
	assert_int_equal(previous, 1);
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, second, NULL, &previous),
		AF_DIR_OK);
	assert_int_equal(previous, 0);
	first[3] ^= 1;
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, first, NULL, &previous),
		AF_DIR_FORBIDDEN);
	first[3] ^= 1;
	/* Shown with its end, never with its hash; so is the event. */
	assert_int_equal(af_dir_app_get(f->dir, id, &got), AF_DIR_OK);
	assert_null(json_object_get(got, "previous_secret_sha256"));
	assert_int_equal(json_integer_value(
				 json_object_get(got, "previous_secret_until")),
			 until);
	json_decref(got);
	assert_int_equal(af_dir_app_list(f->dir, &list), AF_DIR_OK);
	json_array_foreach(list, idx, ev)
	{
		assert_null(json_object_get(ev, "previous_secret_sha256"));
	}
	json_decref(list);
	ev = newest_of(f, "app.rotate_secret");
	assert_non_null(ev);
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(ev, "detail"),
						 "previous_secret_until")),
			 until);
	json_decref(ev);
	/* Not to be set by hand. */
	got = parse("{\"previous_secret_until\":1}");
	assert_int_equal(af_dir_app_set(f->dir, ACTOR, id, got, NULL, f->err,
					sizeof(f->err)),
			 AF_DIR_INVALID);
	json_decref(got);
	/*
	 * A second rotation keeps only the secret it replaces (for two
	 * seconds: one could end before the check).
	 */
	assert_int_equal(af_dir_app_rotate_secret(f->dir, ACTOR, id, 2, third,
						  sizeof(third), NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_check_secret(f->dir, id, first, NULL, NULL),
			 AF_DIR_FORBIDDEN);
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, second, NULL, &previous),
		AF_DIR_OK);
	assert_int_equal(previous, 1);
	/* Past its end it is refused, and shown no more. */
	sleep(2);
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, second, NULL, NULL),
		AF_DIR_FORBIDDEN);
	assert_int_equal(af_dir_app_drop_previous_secret(f->dir, ACTOR, id),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_app_get(f->dir, id, &got), AF_DIR_OK);
	assert_null(json_object_get(got, "previous_secret_until"));
	json_decref(got);
	/* Dropped: the old one stops at once, with an event. */
	assert_int_equal(af_dir_app_rotate_secret(f->dir, ACTOR, id, 600, first,
						  sizeof(first), NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_check_secret(f->dir, id, third, NULL, NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_drop_previous_secret(f->dir, ACTOR, id),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_check_secret(f->dir, id, third, NULL, NULL),
			 AF_DIR_FORBIDDEN);
	assert_int_equal(af_dir_app_check_secret(f->dir, id, first, NULL, NULL),
			 AF_DIR_OK);
	ev = newest_of(f, "app.drop_previous_secret");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "target")),
			    id);
	json_decref(ev);
	/* A rotation without keeping ends a kept one too. */
	assert_int_equal(af_dir_app_rotate_secret(f->dir, ACTOR, id, 600,
						  second, sizeof(second), NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_rotate_secret(f->dir, ACTOR, id, 0, third,
						  sizeof(third), NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_check_secret(f->dir, id, first, NULL, NULL),
			 AF_DIR_FORBIDDEN);
	assert_int_equal(
		af_dir_app_check_secret(f->dir, id, second, NULL, NULL),
		AF_DIR_FORBIDDEN);
	json_decref(app);
}

/*
 * A ring that turns over within a day (someone flooding it to push their
 * own events out) says so on the trail, once every hundred events, and
 * names whose event pushed it over.
 */
static void test_af_audit_fast_turnover_said(void **state)
{
	fixture *f = *state;
	json_t *ev;

	for (int i = 1; i < AF_AUDIT_RING + 100; i++)
		assert_int_equal(
			af_audit_record(f->dir, ACTOR, "test.event", "t", NULL),
			AF_DIR_OK);
	assert_null(newest_of(f, "audit.turnover"));
	assert_int_equal(
		af_audit_record(f->dir, ACTOR, "test.event", "t", NULL),
		AF_DIR_OK);
	ev = newest_of(f, "audit.turnover");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "actor")),
			    "authflow");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(ev, "detail"), "oldest_seq")),
			 101);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(ev, "detail"), "kept")),
			 AF_AUDIT_RING);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(ev, "detail"), "by")),
			    ACTOR);
	assert_int_equal(json_integer_value(json_object_get(ev, "seq")),
			 AF_AUDIT_RING + 101);
	json_decref(ev);
}

/*
 * A known browser's failures add up across locks as a user's do: at
 * AF_THROTTLE_STRIKES_MAX its lock lasts until lifted, which is on the
 * trail, and the user's unlock lifts it.
 */
static void test_af_throttle_known_browser_locked_for_good(void **state)
{
	fixture *f = *state;
	uint32_t wait = 99;
	json_t *ev;

	assert_int_equal(
		add_user(f, "{\"username\":\"bea\"}", "a long enough password"),
		AF_DIR_OK);
	for (int i = 0; i < AF_THROTTLE_STRIKES_MAX; i++)
		assert_int_equal(af_throttle_fail(f->dir, "bea", NULL, "bz"),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "bea", NULL, "bz", &wait),
			 AF_DIR_LOCKED);
	assert_int_equal(wait, 0);
	ev = newest_of(f, "user.lock");
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(ev, "detail"), "lock_s")),
			 0);
	assert_true(json_is_true(json_object_get(json_object_get(ev, "detail"),
						 "known_browser")));
	json_decref(ev);
	/* The user is not locked: other browsers go on. */
	assert_int_equal(af_throttle_check(f->dir, "bea", NULL, NULL, &wait),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_unlock(f->dir, "bea"), AF_DIR_OK);
	assert_int_equal(af_throttle_check(f->dir, "bea", NULL, "bz", &wait),
			 AF_DIR_OK);
}

/*
 * The failure of a request that locks a user: its event says where the
 * request came from, as an administrator's events do.
 */
static void test_af_throttle_lock_event_names_its_request(void **state)
{
	fixture *f = *state;
	uint32_t wait = 0;
	json_t *ev;
	int i;

	assert_int_equal(
		add_user(f, "{\"username\":\"cid\"}", "a long enough password"),
		AF_DIR_OK);
	for (i = 0; i < AF_THROTTLE_STRIKES_MAX &&
		    af_throttle_check(f->dir, "cid", NULL, NULL, &wait) !=
			    AF_DIR_LOCKED;
	     i++)
		assert_int_equal(
			af_throttle_fail_from(f->dir, "cid", "192.0.2.9",
					      "rid-of-the-request", NULL),
			AF_DIR_OK);
	ev = newest_of(f, "user.lock");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "ip")),
			    "192.0.2.9");
	assert_string_equal(
		json_string_value(json_object_get(ev, "request_id")),
		"rid-of-the-request");
	json_decref(ev);
}

/* The client id of a profile handed out (copied into id). */
static void id_of(const json_t *app, char id[AF_DIR_CLIENT_ID_BUF])
{
	snprintf(id, AF_DIR_CLIENT_ID_BUF, "%s",
		 json_string_value(json_object_get(app, "client_id")));
}

static af_dir_status set_app(fixture *f, const char *id, const char *patch)
{
	json_t *p = parse(patch);
	af_dir_status rc;

	f->err[0] = '\0';
	rc = af_dir_app_set(f->dir, ACTOR, id, p, NULL, f->err, sizeof(f->err));
	json_decref(p);
	return rc;
}

/* The deployment of a stored profile, as text with sorted keys. */
static char *deployment_text(fixture *f, const char *id)
{
	json_t *app = NULL;
	char *text;

	assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
	text = json_dumps(json_object_get(app, "deployment"),
			  JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(app);
	assert_non_null(text);
	return text;
}

static void assert_deployment(fixture *f, const char *id, const char *want)
{
	char *got = deployment_text(f, id);

	if (strcmp(got, want) != 0)
		fail_msg("deployment %s, want %s", got, want);
	free(got);
}

/*
 * Names beside mode none or all would be stored and shown nowhere, then
 * handed access by a later deploy: refused on add and on PATCH; chosen
 * with no name is none.
 */
static void test_af_dir_app_deployment_names_only_with_chosen(void **state)
{
	fixture *f = *state;
	char id[AF_DIR_CLIENT_ID_BUF];
	json_t *app = NULL;

	assert_int_equal(add_user(f, "{\"username\":\"bob\"}", NULL),
			 AF_DIR_OK);
	assert_refused(
		f,
		add_app(f,
			"{\"name\":\"latent\",\"redirect_uris\":[\"x:/\"],"
			"\"deployment\":{\"mode\":\"none\","
			"\"users\":[\"bob\"]}}",
			NULL, NULL),
		"deployment");
	assert_non_null(strstr(f->err, "only with mode chosen"));
	assert_refused(
		f,
		add_app(f,
			"{\"name\":\"latent\",\"redirect_uris\":[\"x:/\"],"
			"\"deployment\":{\"mode\":\"all\","
			"\"domains\":[\"example.com\"]}}",
			NULL, NULL),
		"deployment");
	assert_int_equal(
		add_app(f,
			"{\"name\":\"latent\",\"redirect_uris\":[\"x:/\"],"
			"\"deployment\":{\"mode\":\"chosen\",\"users\":[]}}",
			&app, NULL),
		AF_DIR_OK);
	id_of(app, id);
	json_decref(app);
	assert_deployment(f, id,
			  "{\"domains\":[],\"groups\":[],\"mode\":\"none\","
			  "\"ous\":[],\"users\":[]}");
	assert_refused(f,
		       set_app(f, id,
			       "{\"deployment\":{\"mode\":\"none\","
			       "\"users\":[\"bob\"]}}"),
		       "deployment");
	assert_refused(f,
		       set_app(f, id,
			       "{\"deployment\":{\"mode\":\"all\","
			       "\"users\":[\"bob\"]}}"),
		       "deployment");
	assert_deployment(f, id,
			  "{\"domains\":[],\"groups\":[],\"mode\":\"none\","
			  "\"ous\":[],\"users\":[]}");
	assert_int_equal(set_app(f, id,
				 "{\"deployment\":{\"mode\":\"chosen\","
				 "\"users\":[\"bob\"]}}"),
			 AF_DIR_OK);
	assert_deployment(f, id,
			  "{\"domains\":[],\"groups\":[],\"mode\":\"chosen\","
			  "\"ous\":[],\"users\":[\"bob\"]}");
	assert_int_equal(
		set_app(f, id, "{\"deployment\":{\"mode\":\"chosen\"}}"),
		AF_DIR_OK);
	assert_deployment(f, id,
			  "{\"domains\":[],\"groups\":[],\"mode\":\"none\","
			  "\"ous\":[],\"users\":[]}");
}

/* Writes names beside mode none into a stored profile, as an older
 * version could. */
static void plant_latent_names(fixture *f, const char *id)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	json_t *app, *dep;
	char *text;

	snprintf(key, sizeof(key), "app:%s", id);
	assert_int_equal(store_get(f->store, key, &v), STORE_OK);
	app = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_non_null(app);
	dep = json_object_get(app, "deployment");
	assert_int_equal(
		json_object_set_new(dep, "users", json_pack("[s]", "bob")), 0);
	assert_int_equal(
		json_object_set_new(dep, "groups", json_pack("[s]", "sales")),
		0);
	text = json_dumps(app, JSON_COMPACT | JSON_SORT_KEYS);
	assert_int_equal(store_set(f->store, key, text, strlen(text), 0, 0),
			 STORE_OK);
	free(text);
	json_decref(app);
}

/* Names an older version stored beside mode none never gain access. */
static void test_af_dir_app_deploy_to_none_drops_latent_names(void **state)
{
	fixture *f = *state;
	char id[AF_DIR_CLIENT_ID_BUF];
	json_t *app = NULL, *bob, *ev;

	add_groups_and_ous(f);
	assert_int_equal(add_user(f, "{\"username\":\"bob\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"u1\"}", NULL), AF_DIR_OK);
	assert_int_equal(add_app(f,
				 "{\"name\":\"latent\","
				 "\"redirect_uris\":[\"x:/\"]}",
				 &app, NULL),
			 AF_DIR_OK);
	id_of(app, id);
	json_decref(app);
	plant_latent_names(f, id);
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id,
					   AF_DIR_TARGET_USER, "u1", 0, f->err,
					   sizeof(f->err)),
			 AF_DIR_OK);
	assert_deployment(f, id,
			  "{\"domains\":[],\"groups\":[],\"mode\":\"chosen\","
			  "\"ous\":[],\"users\":[\"u1\"]}");
	bob = get_user(f, "bob");
	assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
	assert_int_equal(af_dir_app_deployed_to(app, bob), 0);
	json_decref(app);
	ev = newest_of(f, "app.deploy");
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(ev, "detail"), "users")),
			    "u1");
	json_decref(ev);

	/* Through all and back: the names do not come back either. */
	assert_int_equal(af_dir_app_undeploy(f->dir, ACTOR, id,
					     AF_DIR_TARGET_USER, "u1", 0,
					     f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_string_equal(mode_of(f, id), "none");
	plant_latent_names(f, id);
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id, AF_DIR_TARGET_ALL,
					   NULL, 0, f->err, sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_undeploy(f->dir, ACTOR, id,
					     AF_DIR_TARGET_ALL, NULL, 0, f->err,
					     sizeof(f->err)),
			 AF_DIR_OK);
	assert_deployment(f, id,
			  "{\"domains\":[],\"groups\":[],\"mode\":\"none\","
			  "\"ous\":[],\"users\":[]}");
	assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
	assert_int_equal(af_dir_app_deployed_to(app, bob), 0);
	json_decref(app);
	json_decref(bob);
}

/* 1 when the JSON text of v holds needle. */
static int json_mentions(const json_t *v, const char *needle)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int found;

	assert_non_null(text);
	found = strstr(text, needle) != NULL;
	free(text);
	return found;
}

/* The detail of the newest event of action, checked for its target. */
static json_t *removal_detail(fixture *f, const char *action,
			      const char *target)
{
	json_t *ev = newest_of(f, action), *detail;

	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "target")),
			    target);
	detail = json_incref(json_object_get(ev, "detail"));
	json_decref(ev);
	assert_true(json_is_object(detail));
	return detail;
}

static void assert_member_text(const json_t *obj, const char *key,
			       const char *want)
{
	char *got = json_dumps(json_object_get(obj, key),
			       JSON_COMPACT | JSON_ENCODE_ANY);

	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("%s: %s, want %s", key, got, want);
	free(got);
}

/* Each removal event keeps what was removed, and never a secret. */
/*
 * An app's and a policy's removal events go before their records: with
 * the trail failing nothing is removed, and the error says so.
 */
static void test_af_dir_removal_not_made_unless_recorded(void **state)
{
	fixture *f = *state;
	char id[AF_DIR_CLIENT_ID_BUF];
	store_value seq = {NULL, 0};
	json_t *got = NULL;

	assert_int_equal(add_policy(f, "{\"name\":\"vpn\",\"sso\":true}"),
			 AF_DIR_OK);
	assert_int_equal(add_app_id(f,
				    "{\"name\":\"crm\",\"redirect_uris\":"
				    "[\"https://c/cb\"]}",
				    id),
			 AF_DIR_OK);
	assert_int_equal(store_get(f->store, "audit:seq", &seq), STORE_OK);
	/* The trail's counter is damaged: every event fails. */
	assert_int_equal(store_set(f->store, "audit:seq", "x", 1, 0, 0),
			 STORE_OK);
	assert_int_equal(af_dir_policy_remove(f->dir, ACTOR, "vpn", f->err,
					      sizeof(f->err)),
			 AF_DIR_STORE);
	assert_non_null(strstr(f->err, "nothing was removed"));
	assert_int_equal(
		af_dir_app_remove(f->dir, ACTOR, id, f->err, sizeof(f->err)),
		AF_DIR_STORE);
	assert_non_null(strstr(f->err, "nothing was removed"));
	assert_int_equal(af_dir_policy_get(f->dir, "vpn", &got), AF_DIR_OK);
	json_decref(got);
	assert_int_equal(af_dir_app_get(f->dir, id, &got), AF_DIR_OK);
	json_decref(got);
	assert_int_equal(
		store_set(f->store, "audit:seq", seq.data, seq.len, 0, 0),
		STORE_OK);
	store_value_free(&seq);
	assert_int_equal(af_dir_policy_remove(f->dir, ACTOR, "vpn", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_remove(f->dir, ACTOR, id, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_get(f->dir, "vpn", &got),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(af_dir_app_get(f->dir, id, &got), AF_DIR_NOT_FOUND);
}

static void test_af_dir_removal_events_keep_what_was_removed(void **state)
{
	fixture *f = *state;
	char id[AF_DIR_CLIENT_ID_BUF], secret[AF_DIR_SECRET_BUF], sub[64];
	json_t *app = NULL, *u, *d, *ids;

	add_groups_and_ous(f);
	assert_int_equal(add_user(f,
				  "{\"username\":\"remi\","
				  "\"groups\":[\"staff\",\"sales\"],"
				  "\"ous\":[\"Americas\"]}",
				  "remi-secret-pass"),
			 AF_DIR_OK);
	assert_int_equal(
		add_user(f,
			 "{\"username\":\"sue\",\"groups\":[\"staff\"],"
			 "\"ous\":[\"Americas\"]}",
			 NULL),
		AF_DIR_OK);
	u = get_user(f, "remi");
	snprintf(sub, sizeof(sub), "%s",
		 json_string_value(json_object_get(u, "sub")));
	json_decref(u);

	assert_int_equal(af_dir_group_remove(f->dir, ACTOR, "staff"),
			 AF_DIR_OK);
	d = removal_detail(f, "group.remove", "staff");
	assert_member_text(d, "description", "\"Everyone\"");
	assert_member_text(d, "members", "[\"remi\",\"sue\"]");
	json_decref(d);

	assert_int_equal(af_dir_ou_remove(f->dir, ACTOR, "Americas"),
			 AF_DIR_OK);
	d = removal_detail(f, "ou.remove", "Americas");
	assert_member_text(d, "members", "[\"remi\",\"sue\"]");
	assert_null(json_object_get(d, "description"));
	json_decref(d);

	assert_int_equal(add_policy(f, "{\"name\":\"vpn\",\"sso\":true,"
				       "\"remote_access\":true,"
				       "\"assigned\":{\"users\":[\"sue\"],"
				       "\"groups\":[\"sales\"]}}"),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_remove(f->dir, ACTOR, "vpn", NULL, 0),
			 AF_DIR_OK);
	d = removal_detail(f, "policy.remove", "vpn");
	assert_true(json_is_true(json_object_get(d, "sso")));
	assert_true(json_is_true(json_object_get(d, "remote_access")));
	assert_member_text(d, "assigned",
			   "{\"groups\":[\"sales\"],\"ous\":[],"
			   "\"users\":[\"sue\"]}");
	json_decref(d);

	assert_int_equal(
		add_app(f,
			"{\"name\":\"crm\",\"display_name\":\"The CRM\","
			"\"redirect_uris\":[\"https://c/cb\"],"
			"\"post_logout_uris\":[\"https://c/bye\"],"
			"\"deployment\":{\"mode\":\"chosen\","
			"\"groups\":[\"sales\"]}}",
			&app, secret),
		AF_DIR_OK);
	id_of(app, id);
	json_decref(app);
	assert_int_equal(af_dir_app_remove(f->dir, ACTOR, id, NULL, 0),
			 AF_DIR_OK);
	d = removal_detail(f, "app.remove", id);
	assert_member_text(d, "name", "\"crm\"");
	assert_member_text(d, "display_name", "\"The CRM\"");
	assert_member_text(d, "redirect_uris", "[\"https://c/cb\"]");
	assert_member_text(d, "post_logout_uris", "[\"https://c/bye\"]");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(d, "deployment"), "mode")),
			    "chosen");
	assert_null(json_object_get(d, "secret_sha256"));
	assert_false(json_mentions(d, secret));
	json_decref(d);

	/* A user: the devices noted before they were deleted come too. */
	ids = json_pack("[s]", "dev-one");
	assert_int_equal(af_dir_user_remove_note_devices(f->dir, "remi", ids),
			 AF_DIR_INVALID); /* not being removed */
	assert_int_equal(af_dir_user_remove_begin(f->dir, "remi", NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_remove_note_devices(f->dir, "Remi", ids),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_remove_note_devices(f->dir, "nobody", ids),
			 AF_DIR_NOT_FOUND);
	json_decref(ids);
	assert_int_equal(af_dir_user_remove(f->dir, ACTOR, "remi", NULL, 0),
			 AF_DIR_OK);
	d = removal_detail(f, "user.remove", "remi");
	assert_member_text(d, "username", "\"remi\"");
	assert_string_equal(json_string_value(json_object_get(d, "sub")), sub);
	/* What the user still had when marked (staff went with the group). */
	assert_member_text(d, "groups", "[\"sales\"]");
	assert_member_text(d, "ous", "[]");
	assert_member_text(d, "devices", "[\"dev-one\"]");
	assert_null(json_object_get(d, "password"));
	assert_false(json_mentions(d, "argon2"));
	assert_false(json_mentions(d, "remi-secret-pass"));
	json_decref(d);
	/* The note went with the removal: a later user starts clean. */
	assert_int_equal(add_user(f, "{\"username\":\"remi\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_remove(f->dir, ACTOR, "remi", NULL, 0),
			 AF_DIR_OK);
	d = removal_detail(f, "user.remove", "remi");
	assert_member_text(d, "devices", "[]");
	json_decref(d);
}

/*
 * A removal cut short after its devices were deleted names them in the
 * event of the run that finishes it.
 */
static void test_af_dir_user_remove_rerun_keeps_noted_devices(void **state)
{
	fixture *f = *state;
	json_t *ids, *d;

	assert_int_equal(add_user(f, "{\"username\":\"tom\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_user_remove_begin(f->dir, "tom", NULL, 0),
			 AF_DIR_OK);
	ids = json_pack("[s, s]", "dev-a", "dev-b");
	assert_int_equal(af_dir_user_remove_note_devices(f->dir, "tom", ids),
			 AF_DIR_OK);
	json_decref(ids);
	/* The trail fails: the removal stops before its event. */
	assert_int_equal(store_set(f->store, "audit:seq", "x", 1, 0, 0),
			 STORE_OK);
	assert_int_not_equal(af_dir_user_remove(f->dir, ACTOR, "tom", NULL, 0),
			     AF_DIR_OK);
	assert_int_equal(store_del(f->store, "audit:seq"), STORE_OK);
	/* The second run has no device left to delete, or to note. */
	ids = json_pack("[]");
	assert_int_equal(af_dir_user_remove_note_devices(f->dir, "tom", ids),
			 AF_DIR_OK);
	json_decref(ids);
	assert_int_equal(af_dir_user_remove(f->dir, ACTOR, "tom", NULL, 0),
			 AF_DIR_OK);
	d = removal_detail(f, "user.remove", "tom");
	assert_member_text(d, "devices", "[\"dev-a\",\"dev-b\"]");
	json_decref(d);
}

/* Names of only dots cannot be named in a URL path: refused when made. */
static void test_af_dir_names_of_only_dots_refused(void **state)
{
	static const char *const dots[] = {".", "..", "..."};
	static const char old_group[] =
		"{\"description\":\"\",\"name\":\"..\"}";
	fixture *f = *state;
	char spec[128], id[AF_DIR_CLIENT_ID_BUF];
	json_t *app = NULL, *g = NULL;

	for (size_t i = 0; i < sizeof(dots) / sizeof(dots[0]); i++) {
		snprintf(spec, sizeof(spec), "{\"username\":\"%s\"}", dots[i]);
		assert_refused(f, add_user(f, spec, NULL), "username");
		assert_non_null(strstr(f->err, "only dots"));
		assert_refused(f,
			       af_dir_group_add(f->dir, ACTOR, dots[i], NULL,
						f->err, sizeof(f->err)),
			       "name");
		assert_non_null(strstr(f->err, "only dots"));
		assert_refused(f,
			       af_dir_ou_add(f->dir, ACTOR, dots[i], f->err,
					     sizeof(f->err)),
			       "name");
		snprintf(spec, sizeof(spec), "{\"name\":\"%s\"}", dots[i]);
		assert_refused(f, add_policy(f, spec), "name");
		snprintf(spec, sizeof(spec),
			 "{\"name\":\"%s\",\"redirect_uris\":[\"x:/\"]}",
			 dots[i]);
		assert_refused(f, add_app(f, spec, NULL, NULL), "name");
	}
	/* Dots among other characters are fine. */
	assert_int_equal(add_user(f, "{\"username\":\"a.b\"}", NULL),
			 AF_DIR_OK);
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "..g", NULL, f->err,
					  sizeof(f->err)),
			 AF_DIR_OK);
	assert_int_equal(add_app(f,
				 "{\"name\":\"v1.2\","
				 "\"redirect_uris\":[\"x:/\"]}",
				 &app, NULL),
			 AF_DIR_OK);
	id_of(app, id);
	json_decref(app);
	/* A rename makes a new name: the same rule. */
	assert_refused(f, set_app(f, id, "{\"name\":\"..\"}"), "name");
	/* A group of such a name made earlier keeps working. */
	assert_int_equal(store_set(f->store, "group:..", old_group,
				   strlen(old_group), 0, 0),
			 STORE_OK);
	assert_int_equal(store_sadd(f->store, "groups", ".."), STORE_OK);
	assert_int_equal(af_dir_group_get(f->dir, "..", &g), AF_DIR_OK);
	json_decref(g);
	assert_int_equal(
		add_user(f, "{\"username\":\"dot\",\"groups\":[\"..\"]}", NULL),
		AF_DIR_OK);
	assert_int_equal(af_dir_group_remove(f->dir, ACTOR, ".."), AF_DIR_OK);
}

/* Duplicates go before the URIs are counted, as the docs say. */
static void test_af_dir_app_duplicate_uris_dropped_before_count(void **state)
{
	fixture *f = *state;
	json_t *spec, *uris, *logout, *app = NULL;

	spec = parse("{\"name\":\"dup\"}");
	uris = json_array();
	logout = json_array();
	for (int i = 0; i < 25; i++) {
		json_array_append_new(uris, json_string("https://a/cb"));
		json_array_append_new(logout, json_string("https://a/bye"));
	}
	json_array_append_new(uris, json_string("https://a/cb2"));
	json_object_set_new(spec, "redirect_uris", uris);
	json_object_set_new(spec, "post_logout_uris", logout);
	assert_int_equal(af_dir_app_add(f->dir, ACTOR, spec, &app,
					(char[AF_DIR_SECRET_BUF]){0},
					AF_DIR_SECRET_BUF, f->err,
					sizeof(f->err)),
			 AF_DIR_OK);
	assert_member_text(app, "redirect_uris",
			   "[\"https://a/cb\",\"https://a/cb2\"]");
	assert_member_text(app, "post_logout_uris", "[\"https://a/bye\"]");
	json_decref(app);
	json_decref(spec);
	/* Twenty-one distinct ones are still too many. */
	spec = parse("{\"name\":\"many\"}");
	uris = json_array();
	for (int i = 0; i <= AF_DIR_URIS_MAX; i++) {
		json_array_append_new(uris, json_sprintf("https://a/%d", i));
		json_array_append_new(uris, json_sprintf("https://a/%d", i));
	}
	json_object_set_new(spec, "redirect_uris", uris);
	assert_refused(f,
		       af_dir_app_add(f->dir, ACTOR, spec, NULL,
				      (char[AF_DIR_SECRET_BUF]){0},
				      AF_DIR_SECRET_BUF, f->err,
				      sizeof(f->err)),
		       "redirect_uris");
	assert_non_null(strstr(f->err, "1..20"));
	json_decref(spec);
}

/* The message of a refused description says the rule: 0.., "" is one. */
static void test_af_dir_group_description_message_says_0(void **state)
{
	fixture *f = *state;

	assert_refused(f,
		       af_dir_group_add(f->dir, ACTOR, "g", "   ", f->err,
					sizeof(f->err)),
		       "description");
	assert_string_equal(f->err,
			    "description: must be 0..256 printable UTF-8 "
			    "characters, not only spaces");
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "g", "", f->err,
					  sizeof(f->err)),
			 AF_DIR_OK);
	assert_refused(f,
		       af_dir_group_set(f->dir, ACTOR, "g", "bell\a", f->err,
					sizeof(f->err)),
		       "description");
	assert_non_null(strstr(f->err, "0..256"));
	assert_int_equal(af_dir_group_set(f->dir, ACTOR, "g", "", f->err,
					  sizeof(f->err)),
			 AF_DIR_OK);
}

/* What the throttle holds against a user, as the admin view shows it. */
static void test_af_throttle_info_follows_delay_and_lock(void **state)
{
	fixture *f = *state;
	af_throttle_info t;
	af_dir_options opts;
	af_dir *dir = NULL;
	int i;

	assert_int_equal(af_throttle_info_get(f->dir, "ivy", &t), AF_DIR_OK);
	assert_int_equal(t.failures, 0);
	assert_int_equal(t.locked, 0);
	assert_int_equal(t.lock_left_ms, 0);
	assert_int_equal(t.delay_left_ms, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(af_throttle_fail(f->dir, "ivy", NULL, NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_info_get(f->dir, "IVY", &t), AF_DIR_OK);
	assert_int_equal(t.failures, 4);
	assert_int_equal(t.delay_left_ms, 0);
	/* From the fifth on, a delay runs: 1 s, then 2 s. */
	assert_int_equal(af_throttle_fail(f->dir, "ivy", NULL, NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_fail(f->dir, "ivy", NULL, NULL),
			 AF_DIR_OK);
	assert_int_equal(af_throttle_info_get(f->dir, "ivy", &t), AF_DIR_OK);
	assert_int_equal(t.failures, 6);
	assert_int_equal(t.locked, 0);
	assert_true(t.delay_left_ms > 0 && t.delay_left_ms <= 2000);
	/* The tenth locks for lock_s (1800 s by default). */
	for (i = 6; i < 10; i++)
		assert_int_equal(af_throttle_fail(f->dir, "ivy", NULL, NULL),
				 AF_DIR_OK);
	assert_int_equal(af_throttle_info_get(f->dir, "ivy", &t), AF_DIR_OK);
	assert_int_equal(t.failures, 10);
	assert_int_equal(t.locked, 1);
	assert_true(t.lock_left_ms > 1790000 && t.lock_left_ms <= 1800000);
	assert_int_equal(af_throttle_unlock(f->dir, "ivy"), AF_DIR_OK);
	assert_int_equal(af_throttle_info_get(f->dir, "ivy", &t), AF_DIR_OK);
	assert_int_equal(t.failures, 0);
	assert_int_equal(t.locked, 0);
	assert_int_equal(t.delay_left_ms, 0);
	assert_int_equal(af_throttle_info_get(f->dir, "bad name", &t),
			 AF_DIR_INVALID);

	/* A lock until lifted: locked, with no time left to show. */
	af_dir_options_default(&opts);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	opts.throttle.lock_s = 0;
	opts.throttle.user_lock_after = 1;
	assert_int_equal(af_dir_new(f->store, &opts, &dir, NULL, 0), AF_DIR_OK);
	assert_int_equal(
		add_user(f, "{\"username\":\"jo\"}", "a long enough password"),
		AF_DIR_OK);
	assert_int_equal(af_throttle_fail(dir, "jo", NULL, NULL), AF_DIR_OK);
	assert_int_equal(af_throttle_info_get(dir, "jo", &t), AF_DIR_OK);
	assert_int_equal(t.failures, 1);
	assert_int_equal(t.locked, 1);
	assert_int_equal(t.lock_left_ms, 0);
	af_dir_free(dir);
}

/* --- records and their indexes ------------------------------------------ */

enum kind { K_USER, K_GROUP, K_POLICY, K_APP, K_COUNT };

/* Adds an object of kind k named "x"; the app's client id into id. */
static af_dir_status add_x(fixture *f, enum kind k, char *id)
{
	json_t *app = NULL;
	af_dir_status rc;

	switch (k) {
	case K_USER:
		return add_user(f, "{\"username\":\"x\"}", "x-password");
	case K_GROUP:
		return af_dir_group_add(f->dir, ACTOR, "x", NULL, NULL, 0);
	case K_POLICY:
		return add_policy(f, "{\"name\":\"x\"}");
	default:
		rc = add_app(f,
			     "{\"name\":\"x\",\"redirect_uris\":"
			     "[\"https://rp.example/cb\"]}",
			     &app, NULL);
		if (rc == AF_DIR_OK)
			snprintf(id, AF_DIR_CLIENT_ID_BUF, "%s",
				 json_string_value(
					 json_object_get(app, "client_id")));
		json_decref(app);
		return rc;
	}
}

/* 1 when the listing of kind k holds an object whose field is "x". */
static int listed_x(fixture *f, enum kind k)
{
	static const char *const field[K_COUNT] = {"username", "name", "name",
						   "name"};
	json_t *list = NULL, *o;
	size_t i;
	int found = 0;

	assert_int_equal(k == K_USER	 ? af_dir_user_list(f->dir, &list)
			 : k == K_GROUP	 ? af_dir_group_list(f->dir, &list)
			 : k == K_POLICY ? af_dir_policy_list(f->dir, &list)
					 : af_dir_app_list(f->dir, &list),
			 AF_DIR_OK);
	json_array_foreach(list, i, o)
	{
		const char *v = json_string_value(json_object_get(o, field[k]));

		found += v != NULL && strcmp(v, "x") == 0;
	}
	json_decref(list);
	return found;
}

/* AF_DIR_OK when the object "x" of kind k exists, else NOT_FOUND. */
static af_dir_status get_x(fixture *f, enum kind k)
{
	json_t *o = NULL;
	af_dir_status rc;

	switch (k) {
	case K_USER:
		rc = af_dir_user_get(f->dir, "x", &o);
		break;
	case K_GROUP:
		rc = af_dir_group_members(f->dir, "x", &o);
		break;
	case K_POLICY:
		rc = af_dir_policy_get(f->dir, "x", &o);
		break;
	default:
		rc = af_dir_app_get_by_name(f->dir, "x", &o);
		break;
	}
	json_decref(o);
	return rc;
}

/*
 * A user, group, policy or app made while the state file has room for
 * more and more of its records (as a full disk or a crash at that point
 * leaves it), then a restart: the object is either there and listed, or
 * gone with its name free for the next one. Never there but unlisted,
 * never a name taken by nothing.
 */
static void test_af_dir_add_cut_anywhere_never_unlisted(void **state)
{
	fixture *f = *state;
	char dir[64], id[AF_DIR_CLIENT_ID_BUF];
	int cut[K_COUNT] = {0};
	struct rlimit old;
	af_dir_status rc;

	for (int k = 0; k < K_COUNT; k++) {
		int done = 0;

		for (off_t room = 0; !done; room += 24) {
			state_dir_new(dir);
			reopen_at(f, dir);
			room_limit(dir, room, &old);
			rc = add_x(f, (enum kind)k, id);
			room_restore(&old);
			done = rc == AF_DIR_OK;
			/*
			 * A profile left behind, listed but not by its name,
			 * is named in the refusal, for its removal.
			 */
			if (k == K_APP && !done &&
			    get_x(f, K_APP) == AF_DIR_NOT_FOUND &&
			    listed_x(f, K_APP) == 1)
				assert_non_null(strstr(f->err, "remove it"));
			reopen_at(f, dir);
			if (get_x(f, (enum kind)k) == AF_DIR_OK) {
				assert_int_equal(listed_x(f, (enum kind)k), 1);
			} else {
				/*
				 * A profile written before its name was kept
				 * stays listed, for removal by client id (its
				 * secret never left): the name is free.
				 */
				int left = listed_x(f, (enum kind)k);

				cut[k]++;
				assert_int_equal(left, k == K_APP ? left : 0);
				assert_true(left <= 1);
				assert_int_equal(add_x(f, (enum kind)k, id),
						 AF_DIR_OK);
				assert_int_equal(listed_x(f, (enum kind)k),
						 left + 1);
			}
			state_dir_drop(f, dir);
			assert_true(room < (off_t)64 * 1024);
		}
		assert_true(cut[k] >= 1);
	}
}

/*
 * An app name left mapped by a removal or a rename cut short (the
 * profile gone, or now named otherwise) is taken by the next app of that
 * name; a name being taken (under lease) is not.
 */
static void test_af_dir_app_name_left_behind_taken_over(void **state)
{
	fixture *f = *state;
	char id[AF_DIR_CLIENT_ID_BUF], key[STORE_KEY_MAX], other[64];
	json_t *app = NULL;

	/* Removal cut after the profile went: the mapping names nothing. */
	assert_int_equal(add_x(f, K_APP, id), AF_DIR_OK);
	snprintf(key, sizeof(key), "app:%s", id);
	assert_int_equal(store_del(f->store, key), STORE_OK);
	assert_int_equal(add_x(f, K_APP, other), AF_DIR_OK);
	assert_string_not_equal(id, other);
	assert_int_equal(af_dir_app_get_by_name(f->dir, "x", &app), AF_DIR_OK);
	assert_string_equal(
		json_string_value(json_object_get(app, "client_id")), other);
	json_decref(app);

	/* Rename cut before the old name went: it names an app called x. */
	assert_int_equal(
		store_set(f->store, "app_name:old", other, strlen(other), 0, 0),
		STORE_OK);
	assert_int_equal(af_dir_app_get_by_name(f->dir, "old", &app),
			 AF_DIR_NOT_FOUND);
	assert_int_equal(add_app(f,
				 "{\"name\":\"old\",\"redirect_uris\":"
				 "[\"https://rp.example/cb\"]}",
				 &app, NULL),
			 AF_DIR_OK);
	json_decref(app);
	assert_int_equal(af_dir_app_get_by_name(f->dir, "old", &app),
			 AF_DIR_OK);
	assert_string_not_equal(
		json_string_value(json_object_get(app, "client_id")), other);
	json_decref(app);

	/* Under lease: a create under way. */
	assert_int_equal(store_set(f->store, "app_name:busy", other,
				   strlen(other), 60000, STORE_SET_NX),
			 STORE_OK);
	assert_int_equal(add_app(f,
				 "{\"name\":\"busy\",\"redirect_uris\":"
				 "[\"https://rp.example/cb\"]}",
				 NULL, NULL),
			 AF_DIR_EXISTS);
	assert_non_null(strstr(f->err, "exists"));
}

struct told_names {
	int mended, clashes;
	char holder[AF_DIR_CLIENT_ID_BUF];
};

static void told_name(void *arg, const char *client_id, const char *name,
		      const char *holder)
{
	struct told_names *t = arg;

	(void)client_id;
	(void)name;
	if (holder == NULL) {
		t->mended++;
		return;
	}
	t->clashes++;
	snprintf(t->holder, sizeof(t->holder), "%s", holder);
}

/* The client id the mapping of name holds, or "" when none; *ttl its TTL. */
static void mapping_of(fixture *f, const char *name, char *id, size_t cap,
		       uint64_t *ttl)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};

	snprintf(key, sizeof(key), "app_name:%s", name);
	id[0] = '\0';
	*ttl = 0;
	if (store_get(f->store, key, &v) == STORE_OK) {
		snprintf(id, cap, "%s", (const char *)v.data);
		assert_int_equal(store_ttl(f->store, key, ttl), STORE_OK);
	}
	store_value_free(&v);
}

/*
 * A create killed between the profile and name_keep(): the profile has a
 * name held only under lease, or, once the lease ran out, not at all. The
 * mending pass keeps the name for the app; a name held by another app of
 * the same name is told, not taken; a lease of another app is left alone.
 */
static void test_af_dir_app_names_mend(void **state)
{
	fixture *f = *state;
	char id[AF_DIR_CLIENT_ID_BUF], other[AF_DIR_CLIENT_ID_BUF];
	char got[AF_DIR_CLIENT_ID_BUF], key[STORE_KEY_MAX];
	struct told_names t = {0};
	size_t apps = 0, mended = 0;
	uint64_t ttl = 0;
	json_t *app = NULL;

	assert_int_equal(add_x(f, K_APP, id), AF_DIR_OK);
	assert_int_equal(af_dir_app_names_mend(f->dir, NULL, NULL, told_name,
					       &t, &apps, &mended),
			 AF_DIR_OK);
	assert_int_equal(apps, 1);
	assert_int_equal(mended, 0);
	assert_int_equal(t.mended, 0);

	/* Under its own lease, as name_keep() never ran. */
	assert_int_equal(
		store_set(f->store, "app_name:x", id, strlen(id), 60000, 0),
		STORE_OK);
	assert_int_equal(af_dir_app_names_mend(f->dir, stop_now, NULL,
					       told_name, &t, &apps, &mended),
			 AF_DIR_OK);
	assert_int_equal(apps, 0);
	assert_int_equal(af_dir_app_names_mend(f->dir, NULL, NULL, told_name,
					       &t, &apps, &mended),
			 AF_DIR_OK);
	assert_int_equal(mended, 1);
	assert_int_equal(t.mended, 1);
	mapping_of(f, "x", got, sizeof(got), &ttl);
	assert_string_equal(got, id);
	assert_int_equal(ttl, 0);

	/* The lease ran out: no mapping; the name is free to another app
	 * until the pass takes it back. */
	assert_int_equal(store_del(f->store, "app_name:x"), STORE_OK);
	assert_int_equal(af_dir_app_names_mend(f->dir, NULL, NULL, told_name,
					       &t, &apps, &mended),
			 AF_DIR_OK);
	assert_int_equal(mended, 1);
	mapping_of(f, "x", got, sizeof(got), &ttl);
	assert_string_equal(got, id);
	assert_int_equal(ttl, 0);
	assert_int_equal(add_x(f, K_APP, other), AF_DIR_EXISTS);

	/* Left behind by an app renamed since: taken back. */
	assert_int_equal(add_app_id(f,
				    "{\"name\":\"y\",\"redirect_uris\":"
				    "[\"https://rp.example/cb\"]}",
				    other),
			 AF_DIR_OK);
	assert_int_equal(
		store_set(f->store, "app_name:x", other, strlen(other), 0, 0),
		STORE_OK);
	assert_int_equal(af_dir_app_names_mend(f->dir, NULL, NULL, told_name,
					       &t, &apps, &mended),
			 AF_DIR_OK);
	assert_int_equal(apps, 2);
	assert_int_equal(mended, 1);
	mapping_of(f, "x", got, sizeof(got), &ttl);
	assert_string_equal(got, id);

	/* Another app's lease (a rename under way) is left alone. */
	assert_int_equal(store_set(f->store, "app_name:x", other, strlen(other),
				   60000, 0),
			 STORE_OK);
	assert_int_equal(af_dir_app_names_mend(f->dir, NULL, NULL, told_name,
					       &t, &apps, &mended),
			 AF_DIR_OK);
	assert_int_equal(mended, 0);
	mapping_of(f, "x", got, sizeof(got), &ttl);
	assert_string_equal(got, other);
	assert_true(ttl > 0);

	/* Two apps of one name: told, and the holder keeps it. */
	snprintf(key, sizeof(key), "app:%s", other);
	assert_int_equal(
		store_set(f->store, "app_name:x", other, strlen(other), 0, 0),
		STORE_OK);
	app = NULL;
	assert_int_equal(af_dir_app_get(f->dir, other, &app), AF_DIR_OK);
	assert_int_equal(json_object_set_new(app, "name", json_string("x")), 0);
	assert_int_equal(af_dir__put_json(f->dir, key, app, 0), AF_DIR_OK);
	json_decref(app);
	assert_int_equal(af_dir_app_names_mend(f->dir, NULL, NULL, told_name,
					       &t, &apps, &mended),
			 AF_DIR_OK);
	assert_int_equal(mended, 0);
	assert_int_equal(t.clashes, 1);
	assert_string_equal(t.holder, other);
	mapping_of(f, "x", got, sizeof(got), &ttl);
	assert_string_equal(got, other);
	assert_int_equal(af_dir_app_names_mend(NULL, NULL, NULL, NULL, NULL,
					       &apps, &mended),
			 AF_DIR_INVALID);
}

/*
 * Index and removal racing a new record of the same name: the removal's
 * index step leaves a record written meanwhile listed.
 */
static void test_af_dir_index_drop_keeps_a_new_record(void **state)
{
	fixture *f = *state;
	char id[AF_DIR_CLIENT_ID_BUF];

	assert_int_equal(add_x(f, K_GROUP, id), AF_DIR_OK);
	/* As a removal that deleted the old "x" and then met the new one. */
	af_dir__index_drop(f->dir, "groups", "x", "group:x");
	assert_int_equal(listed_x(f, K_GROUP), 1);
	/* With the record gone, the entry goes. */
	assert_int_equal(store_del(f->store, "group:x"), STORE_OK);
	af_dir__index_drop(f->dir, "groups", "x", "group:x");
	assert_int_equal(listed_x(f, K_GROUP), 0);
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "x", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(listed_x(f, K_GROUP), 1);
}

struct name_race {
	fixture *f;
	char group[16];
	char client_id[AF_DIR_CLIENT_ID_BUF];
	int what; /* 0 assign the policy, 1 deploy the app, 2 a user joins */
	pthread_barrier_t go;
};

static void *name_group(void *arg)
{
	struct name_race *r = arg;
	af_dir_status rc;
	json_t *patch;

	(void)pthread_barrier_wait(&r->go);
	switch (r->what) {
	case 0:
		rc = af_dir_policy_assign(r->f->dir, ACTOR, "p",
					  AF_DIR_TARGET_GROUP, r->group, NULL,
					  0);
		break;
	case 1:
		rc = af_dir_app_deploy(r->f->dir, ACTOR, r->client_id,
				       AF_DIR_TARGET_GROUP, r->group, 0, NULL,
				       0);
		break;
	default:
		patch = json_pack("{s:[s]}", "groups", r->group);
		rc = af_dir_user_set(r->f->dir, ACTOR, "joiner", patch, NULL,
				     NULL, 0);
		json_decref(patch);
		break;
	}
	/* Before the removal, or refused: the group is gone. */
	return rc == AF_DIR_OK || rc == AF_DIR_INVALID ? NULL : arg;
}

/*
 * A group removed while a policy is assigned to it, an app deployed to
 * it or a user joins it: nothing goes on naming it, so a later group of
 * the name inherits nothing.
 */
static void test_af_dir_group_remove_racing_references_leaves_none(void **state)
{
	fixture *f = *state;
	struct name_race r = {.f = f};
	json_t *app = NULL, *p = NULL, *u = NULL;
	void *failed = NULL;
	pthread_t t;

	assert_int_equal(add_policy(f, "{\"name\":\"p\",\"sso\":true}"),
			 AF_DIR_OK);
	assert_int_equal(add_x(f, K_APP, r.client_id), AF_DIR_OK);
	assert_int_equal(add_user(f, "{\"username\":\"joiner\"}", NULL),
			 AF_DIR_OK);
	for (int i = 0; i < 600; i++) {
		r.what = i % 3;
		(void)snprintf(r.group, sizeof(r.group), "g%d", i);
		assert_int_equal(
			af_dir_group_add(f->dir, ACTOR, r.group, NULL, NULL, 0),
			AF_DIR_OK);
		assert_int_equal(pthread_barrier_init(&r.go, NULL, 2), 0);
		assert_int_equal(pthread_create(&t, NULL, name_group, &r), 0);
		(void)pthread_barrier_wait(&r.go);
		assert_int_equal(af_dir_group_remove(f->dir, ACTOR, r.group),
				 AF_DIR_OK);
		assert_int_equal(pthread_join(t, &failed), 0);
		assert_int_equal(pthread_barrier_destroy(&r.go), 0);
		assert_null(failed);
	}
	assert_int_equal(af_dir_policy_get(f->dir, "p", &p), AF_DIR_OK);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(p, "assigned"), "groups")),
			 0);
	assert_int_equal(af_dir_app_get(f->dir, r.client_id, &app), AF_DIR_OK);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(app, "deployment"), "groups")),
			 0);
	u = get_user(f, "joiner");
	assert_int_equal(json_array_size(json_object_get(u, "groups")), 0);
	json_decref(p);
	json_decref(app);
	json_decref(u);
}

/*
 * What a removal cut short left naming a group (the group deleted, its
 * references not yet): a new group of the name starts without them.
 */
static void test_af_dir_group_add_clears_what_names_an_earlier_one(void **state)
{
	fixture *f = *state;
	char id[AF_DIR_CLIENT_ID_BUF];
	json_t *app = NULL, *p = NULL, *u = NULL;

	assert_int_equal(add_policy(f, "{\"name\":\"p\",\"sso\":true}"),
			 AF_DIR_OK);
	assert_int_equal(add_x(f, K_APP, id), AF_DIR_OK);
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "g", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(
		add_user(f, "{\"username\":\"old\",\"groups\":[\"g\"]}", NULL),
		AF_DIR_OK);
	assert_int_equal(af_dir_policy_assign(f->dir, ACTOR, "p",
					      AF_DIR_TARGET_GROUP, "g", NULL,
					      0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_app_deploy(f->dir, ACTOR, id,
					   AF_DIR_TARGET_GROUP, "g", 0, NULL,
					   0),
			 AF_DIR_OK);
	assert_int_equal(store_del(f->store, "group:g"), STORE_OK);
	assert_int_equal(af_dir_group_add(f->dir, ACTOR, "g", NULL, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_policy_get(f->dir, "p", &p), AF_DIR_OK);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(p, "assigned"), "groups")),
			 0);
	assert_int_equal(af_dir_app_get(f->dir, id, &app), AF_DIR_OK);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(app, "deployment"), "groups")),
			 0);
	u = get_user(f, "old");
	assert_int_equal(json_array_size(json_object_get(u, "groups")), 0);
	assert_true(members_equal(f, 1, "g", "[]"));
	json_decref(p);
	json_decref(app);
	json_decref(u);
}

/*
 * A lock of a name no user has (often a password typed as the name) stays
 * off the trail; a user's lock is on it.
 */
static void test_af_throttle_lock_of_no_user_not_on_trail(void **state)
{
	fixture *f = *state;
	uint32_t wait = 0;

	assert_int_equal(add_user(f, "{\"username\":\"ann\"}", "ann-pw-1"),
			 AF_DIR_OK);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(
			af_throttle_fail(f->dir, "hunter2-typed", NULL, NULL),
			AF_DIR_OK);
		assert_int_equal(af_throttle_fail(f->dir, "ann", NULL, NULL),
				 AF_DIR_OK);
	}
	assert_int_equal(
		af_throttle_check(f->dir, "hunter2-typed", NULL, NULL, &wait),
		AF_DIR_LOCKED);
	assert_int_equal(af_throttle_check(f->dir, "ann", NULL, NULL, &wait),
			 AF_DIR_LOCKED);
	assert_false(on_trail(f, "user.lock", "hunter2-typed"));
	assert_true(on_trail(f, "user.lock", "ann"));
}

/* The stored record of name's last sign-in, parsed (NULL: none). */
static json_t *signin_record(fixture *f, const char *name)
{
	char key[96];
	store_value v = {NULL, 0};
	json_t *o;

	snprintf(key, sizeof(key), "signin:%s", name);
	if (store_get(f->store, key, &v) != STORE_OK)
		return NULL;
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	return o;
}

static void test_signin_note_writes_only_what_is_new(void **state)
{
	static const char *const pwd[] = {"pwd"};
	static const char *const mfa[] = {"pwd", "swk", "mfa"};
	fixture *f = *state;
	json_t *user = NULL, *last = NULL, *rec;
	af_dir_signin in;
	int64_t t = 1800000000;

	assert_int_equal(
		add_user(f, "{\"username\": \"Ann\"}", "ann-pass-1234"),
		AF_DIR_OK);
	assert_int_equal(af_dir_user_get(f->dir, "ann", &user), AF_DIR_OK);
	assert_int_equal(af_dir_signin_last(f->dir, user, &last),
			 AF_DIR_NOT_FOUND);
	assert_null(last);
	in = (af_dir_signin){
		.username = "ANN",
		.sub = json_string_value(json_object_get(user, "sub")),
		.time = t,
		.address = "192.0.2.1",
		.client_id = "app-1",
		.amr = pwd,
		.namr = 1,
	};
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_OK);

	/* Within the precision, from the same place: not written again. */
	in.time = t + AF_DIR_SIGNIN_PRECISION_S - 1;
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_OK);
	rec = signin_record(f, "ann");
	assert_int_equal(json_integer_value(json_object_get(rec, "time")), t);
	json_decref(rec);
	/* Another address, app or factors is news at once. */
	in.address = "192.0.2.2";
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_OK);
	rec = signin_record(f, "ann");
	assert_int_equal(json_integer_value(json_object_get(rec, "time")),
			 t + AF_DIR_SIGNIN_PRECISION_S - 1);
	json_decref(rec);
	in.amr = mfa;
	in.namr = 3;
	in.time++;
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_OK);
	/* And so is the time, once the precision has passed. */
	in.time += AF_DIR_SIGNIN_PRECISION_S;
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_OK);
	assert_int_equal(af_dir_signin_last(f->dir, user, &last), AF_DIR_OK);
	assert_int_equal(json_integer_value(json_object_get(last, "time")),
			 in.time);
	assert_string_equal(json_string_value(json_object_get(last, "address")),
			    "192.0.2.2");
	assert_true(json_is_null(json_object_get(last, "browser")));
	assert_string_equal(
		json_string_value(json_object_get(last, "client_id")), "app-1");
	assert_int_equal(json_array_size(json_object_get(last, "amr")), 3);
	json_decref(last);
	last = NULL;
	/* Another browser is news too, and is kept. */
	in.browser = "Firefox on Windows";
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_OK);
	rec = signin_record(f, "ann");
	assert_string_equal(json_string_value(json_object_get(rec, "browser")),
			    "Firefox on Windows");
	json_decref(rec);
	assert_int_equal(af_dir_signin_last(f->dir, user, &last), AF_DIR_OK);
	assert_string_equal(json_string_value(json_object_get(last, "browser")),
			    "Firefox on Windows");
	json_decref(last);
	last = NULL;

	/* An address too long is cut; no sub or client id is refused. */
	in.address = "2001:db8:1111:2222:3333:4444:5555:6666%"
		     "an-interface-name-far-too-long-to-keep";
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_OK);
	rec = signin_record(f, "ann");
	assert_int_equal(
		strlen(json_string_value(json_object_get(rec, "address"))),
		AF_DIR_SIGNIN_ADDRESS_MAX);
	json_decref(rec);
	in.client_id = "";
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_INVALID);
	in.client_id = "app-1";
	in.sub = NULL;
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_INVALID);
	in.username = "not a name";
	in.sub = "x";
	assert_int_equal(af_dir_signin_note(f->dir, &in), AF_DIR_INVALID);

	/* A record of an earlier user of the name is not handed out. */
	json_object_set_new(user, "sub", json_string("someone-else"));
	assert_int_equal(af_dir_signin_last(f->dir, user, &last),
			 AF_DIR_NOT_FOUND);
	/* Removing the user drops the record. */
	assert_int_equal(af_dir_user_remove(f->dir, ACTOR, "ann", NULL, 0),
			 AF_DIR_OK);
	assert_null(signin_record(f, "ann"));
	json_decref(user);
}

static void test_signin_epoch_kept_once(void **state)
{
	fixture *f = *state;
	json_t *user = json_pack("{s:I, s:I, s:I}", "created_at",
				 (json_int_t)50, "enabled_at", (json_int_t)70,
				 "password_set_at", (json_int_t)80);
	int64_t e1 = 0, e2 = 0;

	/* Not marked yet: records are as new as now. */
	assert_int_equal(af_dir_signin_epoch(f->dir, &e1), AF_DIR_OK);
	assert_true(e1 >= af_now() - 1);
	assert_int_equal(store_set(f->store, "signins:since", "1000", 4, 0, 0),
			 STORE_OK);
	/* A start keeps the first mark. */
	assert_int_equal(af_dir_signin_start(f->dir), AF_DIR_OK);
	assert_int_equal(af_dir_signin_epoch(f->dir, &e2), AF_DIR_OK);
	assert_int_equal(e2, 1000);
	/* Damage reads as now: nobody is idle by it. */
	assert_int_equal(store_set(f->store, "signins:since", "x1", 2, 0, 0),
			 STORE_OK);
	assert_int_equal(af_dir_signin_epoch(f->dir, &e2), AF_DIR_OK);
	assert_true(e2 >= e1);
	/* Idle since the latest of the five. */
	assert_int_equal(af_dir_user_idle_since(user, 0, 10), 80);
	json_object_del(user, "password_set_at");
	assert_int_equal(af_dir_user_idle_since(user, 0, 10), 70);
	assert_int_equal(af_dir_user_idle_since(user, 90, 10), 90);
	assert_int_equal(af_dir_user_idle_since(user, 0, 100), 100);
	json_decref(user);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_af_dir_strerror_every_status_has_text),
		T(test_signin_note_writes_only_what_is_new),
		T(test_signin_epoch_kept_once),
		T(test_af_dir_new_bad_options_invalid),
		T(test_af_dir_check_values_bad_refused),
		T(test_af_dir_user_add_full_spec_stored),
		T(test_af_dir_user_add_bad_fields_refused),
		T(test_af_dir_user_add_same_name_any_case_exists),
		T(test_af_dir_user_subs_unique_and_found),
		T(test_af_dir_user_set_memberships_kept_in_step),
		T(test_af_dir_user_set_email_change_unverifies),
		T(test_af_dir_user_set_audit_says_what_was),
		T(test_af_dir_policy_app_set_audit_says_what_was),
		T(test_af_dir_memberships_mend),
		T(test_af_dir_memberships_mend_tells_removing),
		T(test_af_dir_app_names_mend),
		T(test_af_dir_group_remove_drops_from_users),
		T(test_af_dir_user_remove_racing_join_leaves_no_member),
		T(test_af_dir_group_add_bad_or_twice_refused),
		T(test_af_dir_user_remove_clears_references),
		T(test_af_dir_user_list_sorted_without_hashes),
		T(test_af_dir_user_list_skips_a_damaged_record),
		T(test_af_dir_long_list_in_batches),
		T(test_af_dir_policy_changes_seen_at_once),
		T(test_af_dir_policy_index_first_wins),
		T(test_af_dir_policy_index_kept),
		T(test_af_dir_policy_index_made_once),
		T(test_af_dir_damaged_record_named),
		T(test_af_dir_listing_leaves_out_records_naming_another),
		T(test_af_dir_reads_hand_out_own_values),
		T(test_af_dir_policy_for_user_precedence),
		T(test_af_dir_policy_for_user_strictest_wins),
		T(test_af_dir_policy_bad_specs_refused),
		T(test_af_dir_app_add_secret_checks),
		T(test_af_dir_app_rotate_keeps_previous),
		T(test_af_dir_app_ids_unique_names_unique),
		T(test_af_dir_app_add_bad_specs_refused),
		T(test_af_dir_app_deployed_to_modes),
		T(test_af_dir_app_deployed_to_long_lists),
		T(test_af_dir_app_deploy_undeploy_moves_mode),
		T(test_af_dir_app_deploy_as_admin_checked_when_written),
		T(test_af_dir_user_login_right_wrong_unknown),
		T(test_af_dir_user_login_unknown_user_costs_a_hash),
		T(test_af_dir_user_gen_raised_by_what_ends_signins),
		T(test_af_dir_password_min_chars),
		T(test_af_dir_temporary_password),
		T(test_af_dir_password_refused_kinds),
		T(test_af_dir_user_login_old_costs_rehashed),
		T(test_af_dir_user_login_normalised),
		T(test_af_dir_user_names_and_profile_time),
		T(test_af_throttle_counts_at_the_store_cap),
		T(test_af_throttle_user_delays_then_locks),
		T(test_af_throttle_success_clears_user_count),
		T(test_af_throttle_known_browser_answers_for_itself),
		T(test_af_throttle_turn_waits_for_the_first_wave),
		T(test_af_throttle_known_browser_own_turn),
		T(test_af_throttle_outlived_turn_stays_the_next_ones),
		T(test_af_throttle_dead_turn_short_wait),
		T(test_af_audit_fast_turnover_said),
		T(test_af_throttle_known_browser_locked_for_good),
		T(test_af_throttle_lock_event_names_its_request),
		T(test_af_throttle_unknown_name_never_locked_for_good),
		T(test_af_dir_names_cap_counts_distinct),
		T(test_af_throttle_address_spray_delayed),
		T(test_af_throttle_ipv6_counted_by_64),
		T(test_af_throttle_client_auth_by_address),
		T(test_af_throttle_delay_capped_and_expires),
		T(test_af_throttle_lock_runs_out_then_stays),
		T(test_af_throttle_paced_failures_lock_for_good),
		T(test_af_throttle_ip_turn_past_the_limit),
		T(test_af_throttle_new_user_inherits_no_lock),
		T(test_af_audit_list_newest_first),
		T(test_af_audit_record_no_secrets_and_refusals),
		T(test_af_audit_ring_keeps_newest),
		T(test_af_audit_keep_days),
		T(test_af_audit_sweep_lapped_slot),
		T(test_af_audit_keep_refused),
		T(test_af_dir_view_names_the_request),
		T(test_af_dir_member_again_records_nothing),
		T(test_af_dir_user_remove_cut_anywhere_finished_by_rerun),
		T(test_af_dir_group_remove_cut_anywhere_finished_by_rerun),
		T(test_af_dir_user_add_stale_references_dropped),
		T(test_af_dir_user_add_cut_anywhere_hands_out_what_stands),
		T(test_af_dir_user_removing_refuses_changes),
		T(test_af_dir_app_secret_stored_audit_fails_secret_kept),
		T(test_af_throttle_lock_survives_memory_store_restart),
		T(test_af_dir_app_deployment_names_only_with_chosen),
		T(test_af_dir_app_deploy_to_none_drops_latent_names),
		T(test_af_dir_removal_events_keep_what_was_removed),
		T(test_af_dir_removal_not_made_unless_recorded),
		T(test_af_dir_user_remove_rerun_keeps_noted_devices),
		T(test_af_dir_names_of_only_dots_refused),
		T(test_af_dir_app_duplicate_uris_dropped_before_count),
		T(test_af_dir_group_description_message_says_0),
		T(test_af_throttle_info_follows_delay_and_lock),
		T(test_af_dir_add_cut_anywhere_never_unlisted),
		T(test_af_dir_app_name_left_behind_taken_over),
		T(test_af_dir_index_drop_keeps_a_new_record),
		T(test_af_dir_group_remove_racing_references_leaves_none),
		T(test_af_dir_group_add_clears_what_names_an_earlier_one),
		T(test_af_throttle_lock_of_no_user_not_on_trail),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
