/*
 * Unit tests of the MFA data model (authflow/mfa/mfa.h). Every case runs
 * on the memory store, and again on redis when AF_TEST_REDIS_URL is set
 * (tests/tools/with-redis.sh sets it). With AF_TEST_REQUIRE_REDIS=1 a
 * missing redis is a failure, not a skip. Time is injected through the
 * now arguments, so expiry is tested without sleeping.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/store.h"
#include "common/util.h"
#include "mfa/mfa.h"
#include "mfa/mfa_internal.h"
#include "tokencode.h"

#define NTHREADS 8
#define ROUNDS	 10
/* A fixed server time: a whole TOTP step plus 5 s. */
#define T0	 ((int64_t)30 * 56666667 + 5)
#define DRAWS	 2000

struct fixture {
	char prefix[48];
	store_options opts;
	store_ctx *st;
};

/* --- fixtures and helpers ---------------------------------------------------
 */

static int fixture_setup(void **state, bool redis)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char tok[24], err[256];
	store_status rc;

	assert_non_null(f);
	assert_int_equal(af_random_token(9, tok, sizeof(tok)), 0);
	/* A fresh prefix per test, so tests on one redis never meet. */
	(void)snprintf(f->prefix, sizeof(f->prefix), "m%s:", tok);
	f->opts.prefix = f->prefix;
	f->opts.timeout_ms = 2000;
	if (redis) {
		f->opts.backend = STORE_BACKEND_REDIS;
		f->opts.url = getenv("AF_TEST_REDIS_URL");
	}
	rc = store_open(&f->opts, &f->st, err, sizeof(err));
	if (rc != STORE_OK)
		fail_msg("store_open: %s: %s", store_strerror(rc), err);
	*state = f;
	return 0;
}

static int setup_memory(void **state)
{
	return fixture_setup(state, false);
}

static int setup_redis(void **state)
{
	return fixture_setup(state, true);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	free(f);
	return 0;
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (v == NULL)
		fail_msg("bad test JSON: %s", jerr.text);
	return v;
}

static void b64_coord(const EVP_PKEY *pk, const char *param, char *out,
		      size_t cap)
{
	BIGNUM *bn = NULL;
	unsigned char buf[32];

	assert_int_equal(EVP_PKEY_get_bn_param(pk, param, &bn), 1);
	assert_int_equal(BN_bn2binpad(bn, buf, sizeof(buf)), 32);
	assert_int_equal(af_b64url_encode(buf, sizeof(buf), out, cap), 0);
	BN_free(bn);
}

/* A fresh P-256 public JWK, as a phone would send it. */
static json_t *make_jwk(void)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	char x[64], y[64];
	json_t *jwk;

	assert_non_null(pk);
	b64_coord(pk, OSSL_PKEY_PARAM_EC_PUB_X, x, sizeof(x));
	b64_coord(pk, OSSL_PKEY_PARAM_EC_PUB_Y, y, sizeof(y));
	EVP_PKEY_free(pk);
	jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
			"x", x, "y", y);
	assert_non_null(jwk);
	return jwk;
}

static json_t *make_spec(const char *platform, const char *token,
			 const char *version)
{
	json_t *spec =
		json_pack("{s:s, s:o, s:s, s:s, s:b}", "platform", platform,
			  "public_key", make_jwk(), "app_version", version,
			  "device_name", "Test phone", "sandbox", 0);

	assert_non_null(spec);
	if (token != NULL)
		assert_int_equal(json_object_set_new(spec, "push_token",
						     json_string(token)),
				 0);
	return spec;
}

/* Expects user to have n devices listed. */
static void assert_devices(store_ctx *st, const char *user, size_t n)
{
	json_t *list = NULL;

	assert_int_equal(af_mfa_device_list(st, user, &list), AF_MFA_OK);
	assert_int_equal(json_array_size(list), n);
	json_decref(list);
}

/* Enrolls a device and copies its id out; returns the device (owned). */
static json_t *add_device(store_ctx *st, const char *user, const char *platform,
			  const char *token, const char *version,
			  char id[AF_MFA_ID_BUF])
{
	json_t *spec = make_spec(platform, token, version), *dev = NULL;
	char err[128];

	assert_int_equal(
		af_mfa_device_add(st, user, spec, &dev, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(spec);
	assert_non_null(dev);
	(void)snprintf(id, AF_MFA_ID_BUF, "%s",
		       json_string_value(json_object_get(dev, "id")));
	return dev;
}

/* The device's TOTP code at time t. */
static void code_at(const json_t *dev, int64_t t, char code[TC_CODE_BUF])
{
	const char *b32 =
		json_string_value(json_object_get(dev, "totp_secret"));
	uint8_t secret[TC_SECRET_MAX];
	tc_totp_params p;
	tc_key *key = NULL;
	size_t len = 0;

	assert_non_null(b32);
	assert_int_equal(tc_base32_decode(b32, strlen(b32), secret,
					  sizeof(secret), &len),
			 TC_OK);
	assert_int_equal(len, 20);
	assert_int_equal(tc_key_new(secret, len, TC_ALGO_SHA1, &key), TC_OK);
	tc_totp_params_init(&p);
	assert_int_equal(tc_totp(key, &p, t, code, TC_CODE_BUF), TC_OK);
	tc_key_free(key);
}

static json_t *new_txn(store_ctx *st, const char *user, const char *devs,
		       bool number_matching, int64_t now)
{
	json_t *spec, *txn = NULL;

	spec = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}", "user", user, "app",
			 "client-1", "app_name", "Qlik Sense", "flow", "flow-1",
			 "devices", parse(devs), "number_matching",
			 number_matching);
	assert_non_null(spec);
	assert_int_equal(af_mfa_txn_new(st, spec, now, &txn), AF_MFA_OK);
	json_decref(spec);
	assert_non_null(txn);
	return txn;
}

static const char *sget(const json_t *obj, const char *k)
{
	return json_string_value(json_object_get(obj, k));
}

static const char *txn_id(const json_t *txn)
{
	return sget(txn, "id");
}

static void number_text(const json_t *txn, char *out, size_t cap)
{
	(void)snprintf(
		out, cap, "%lld",
		(long long)json_integer_value(json_object_get(txn, "number")));
}

/* --- status and workflow ------------------------------------------------- */

static void test_strerror_every_status_has_text(void **state)
{
	(void)state;
#define AF_MFA_XX(name, value, text) \
	assert_string_equal(af_mfa_strerror(AF_MFA_##name), text);
	AF_MFA_STATUS_MAP(AF_MFA_XX)
#undef AF_MFA_XX
	assert_non_null(af_mfa_strerror((af_mfa_status)-999));
}

static void test_workflow_get_unset_returns_defaults(void **state)
{
	struct fixture *f = *state;
	json_t *wf = NULL, *want;

	assert_int_equal(af_mfa_workflow_get(f->st, &wf), AF_MFA_OK);
	want = parse("{\"number_matching\": true, \"legacy\": false, "
		     "\"min_app_version\": {}, \"push_limit\": {\"count\": 3, "
		     "\"period_s\": 300}, \"report_pause_s\": 900, "
		     "\"enroll_after_password\": true}");
	assert_true(json_equal(wf, want));
	json_decref(want);
	json_decref(wf);
}

static void note_damage(void *arg, const char *key)
{
	(void)snprintf(arg, 64, "%s", key);
}

/*
 * A workflow record changed by hand into something else fails as the
 * store does (no MFA decision on settings not known), and the operator
 * is told which record; so is a damaged device record.
 */
static void test_workflow_damaged_record_named(void **state)
{
	struct fixture *f = *state;
	static const char junk[] = "{\"number_matching\": fal";
	char seen[64] = "", err[128];
	json_t *wf = NULL, *patch = parse("{\"legacy\": true}");

	store_set_damage_sink(f->st, note_damage, seen);
	assert_int_equal(
		store_set(f->st, "mfa:workflow", junk, sizeof(junk) - 1, 0, 0),
		STORE_OK);
	assert_int_equal(af_mfa_workflow_get(f->st, &wf), AF_MFA_STORE);
	assert_null(wf);
	assert_string_equal(seen, "mfa:workflow");
	/* Nor is it patched over: its other settings are not known. */
	seen[0] = '\0';
	assert_int_equal(
		af_mfa_workflow_set(f->st, patch, NULL, err, sizeof(err)),
		AF_MFA_STORE);
	assert_string_equal(seen, "mfa:workflow");
	json_decref(patch);
	assert_int_equal(store_del(f->st, "mfa:workflow"), STORE_OK);
	seen[0] = '\0';
	assert_int_equal(af_mfa_workflow_get(f->st, &wf), AF_MFA_OK);
	json_decref(wf);
	assert_string_equal(seen, "");
	store_set_damage_sink(f->st, NULL, NULL);
}

static void test_workflow_set_patch_merges_and_persists(void **state)
{
	struct fixture *f = *state;
	json_t *patch, *out = NULL, *wf = NULL;
	char err[128];

	patch = parse("{\"legacy\": true, \"push_limit\": {\"count\": 5}, "
		      "\"min_app_version\": {\"ios\": \"2023.2\"}}");
	assert_int_equal(
		af_mfa_workflow_set(f->st, patch, &out, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(patch);
	assert_true(json_is_true(json_object_get(out, "legacy")));
	json_decref(out);

	patch = parse("{\"report_pause_s\": 0}");
	assert_int_equal(
		af_mfa_workflow_set(f->st, patch, NULL, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(patch);

	assert_int_equal(af_mfa_workflow_get(f->st, &wf), AF_MFA_OK);
	assert_true(json_is_true(json_object_get(wf, "legacy")));
	assert_true(json_is_true(json_object_get(wf, "number_matching")));
	/* A partial push_limit keeps the other member. */
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(wf, "push_limit"), "count")),
			 5);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(wf, "push_limit"), "period_s")),
		300);
	assert_string_equal(sget(json_object_get(wf, "min_app_version"), "ios"),
			    "2023.2");
	assert_int_equal(
		json_integer_value(json_object_get(wf, "report_pause_s")), 0);
	json_decref(wf);
}

static void test_workflow_set_bad_values_refused(void **state)
{
	static const struct {
		const char *patch;
		const char *field;
	} bad[] = {
		{"{\"legacy\": 1}", "legacy:"},
		{"{\"number_matching\": \"yes\"}", "number_matching:"},
		{"{\"push_limit\": {\"count\": 0}}", "push_limit.count:"},
		{"{\"push_limit\": {\"count\": 101}}", "push_limit.count:"},
		{"{\"push_limit\": {\"count\": 2.5}}", "push_limit.count:"},
		{"{\"push_limit\": {\"period_s\": 9}}", "push_limit.period_s:"},
		{"{\"push_limit\": {\"period_s\": 86401}}",
		 "push_limit.period_s:"},
		{"{\"push_limit\": {\"burst\": 2}}", "push_limit:"},
		{"{\"push_limit\": 3}", "push_limit:"},
		{"{\"report_pause_s\": -1}", "report_pause_s:"},
		{"{\"report_pause_s\": 86401}", "report_pause_s:"},
		{"{\"min_app_version\": {\"windows\": \"1.0\"}}",
		 "min_app_version:"},
		{"{\"min_app_version\": {\"ios\": \"2023.x\"}}",
		 "min_app_version.ios:"},
		{"{\"min_app_version\": {\"ios\": \"1.2.3.4.5\"}}",
		 "min_app_version.ios:"},
		{"{\"min_app_version\": {\"android\": 2023}}",
		 "min_app_version.android:"},
		{"{\"colour\": \"blue\"}", "colour:"},
		/* A good member first: nothing of a refused patch is kept. */
		{"{\"legacy\": true, \"report_pause_s\": \"x\"}",
		 "report_pause_s:"},
	};
	struct fixture *f = *state;
	json_t *wf = NULL, *defaults = NULL;
	char err[128];
	size_t i;

	assert_int_equal(af_mfa_workflow_get(f->st, &defaults), AF_MFA_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *patch = parse(bad[i].patch), *out = NULL;

		assert_int_equal(af_mfa_workflow_set(f->st, patch, &out, err,
						     sizeof(err)),
				 AF_MFA_INVALID);
		assert_null(out);
		if (strncmp(err, bad[i].field, strlen(bad[i].field)) != 0)
			fail_msg("%s: error \"%s\" does not name %s",
				 bad[i].patch, err, bad[i].field);
		json_decref(patch);
	}
	assert_int_equal(
		af_mfa_workflow_set(f->st, NULL, NULL, err, sizeof(err)),
		AF_MFA_INVALID);
	assert_int_equal(af_mfa_workflow_get(f->st, &wf), AF_MFA_OK);
	assert_true(json_equal(wf, defaults));
	json_decref(wf);
	json_decref(defaults);
}

static void test_version_at_least_table(void **state)
{
	static const struct {
		const char *app;
		const char *min;
		int want;
	} cases[] = {
		{"2023.2", "2023.2", 1},
		{"2023.2.1", "2023.2", 1},
		{"2023.2", "2023.2.0", 1},
		{"2023.10", "2023.9", 1},
		{"2023.1.9", "2023.2", 0},
		{"2024", "2023.99.99.99", 1},
		{"2023", "2023.0.0.1", 0},
		{"1.2.3.4", "1.2.3.4", 1},
		{"999999999", "999999998", 1},
		{"1000000000", "1", 0}, /* ten digits: malformed */
		{"1.2.3.4.5", "1", 0},	/* five parts: malformed */
		{"1..2", "1", 0},
		{".1", "0", 0},
		{"1.", "0", 0},
		{"v2", "1", 0},
		{"2023.2 ", "2023.2", 0},
		{"", "1", 0},
		{NULL, "1", 0},
		{NULL, NULL, 1},
		{"junk", "", 1},
		{"2023.2", "bad", 0}, /* an unreadable minimum lets none by */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = af_mfa_version_at_least(cases[i].app, cases[i].min);

		if (got != cases[i].want)
			fail_msg("version_at_least(%s, %s) = %d, want %d",
				 cases[i].app != NULL ? cases[i].app : "NULL",
				 cases[i].min != NULL ? cases[i].min : "NULL",
				 got, cases[i].want);
	}
}

/* --- enrollment codes ------------------------------------------------------
 */

/* A code's id: the same however the code is typed; none for no code. */
static void test_enroll_code_id_of_typed_code(void **state)
{
	char a[AF_MFA_CODE_ID_BUF], b[AF_MFA_CODE_ID_BUF];
	char hex[65];

	(void)state;
	af_mfa_enroll_code_id("JBSWY3DPEHPK3PXP", a);
	af_sha256_hex("JBSWY3DPEHPK3PXP", 16, hex);
	assert_int_equal(strlen(a), 12);
	assert_memory_equal(a, hex, 12);
	af_mfa_enroll_code_id("jbsw y3dp-ehpk 3pxp", b);
	assert_string_equal(a, b);
	af_mfa_enroll_code_id("JBSWY3DPEHPK3PX", b);
	assert_string_equal(b, "");
	af_mfa_enroll_code_id(NULL, b);
	assert_string_equal(b, "");
}

static void test_enroll_code_take_once_then_not_found(void **state)
{
	struct fixture *f = *state;
	char code[AF_MFA_ID_BUF], typed[64], user[128];
	int64_t expires = 0;
	size_t i, n = 0;

	assert_int_equal(af_mfa_enroll_code_new(f->st, "alice", 0, code,
						sizeof(code), &expires),
			 AF_MFA_OK);
	assert_int_equal(strlen(code), 16);
	for (i = 0; code[i] != '\0'; i++)
		assert_true((code[i] >= 'A' && code[i] <= 'Z') ||
			    (code[i] >= '2' && code[i] <= '7'));
	/* Typed in lower case with a dash, as people read codes out. */
	for (i = 0; code[i] != '\0'; i++) {
		if (i == 8)
			typed[n++] = '-';
		typed[n++] =
			(char)(code[i] >= 'A' ? code[i] - 'A' + 'a' : code[i]);
	}
	typed[n] = '\0';
	assert_int_equal(
		af_mfa_enroll_code_take(f->st, typed, user, sizeof(user)),
		AF_MFA_OK);
	assert_string_equal(user, "alice");
	assert_int_equal(
		af_mfa_enroll_code_take(f->st, code, user, sizeof(user)),
		AF_MFA_NOT_FOUND);
	assert_string_equal(user, "");
	assert_int_equal(af_mfa_enroll_code_take(f->st, "AAAAAAAAAAAAAAAA",
						 user, sizeof(user)),
			 AF_MFA_NOT_FOUND);
	assert_int_equal(
		af_mfa_enroll_code_take(f->st, "short", user, sizeof(user)),
		AF_MFA_NOT_FOUND);
	assert_int_equal(af_mfa_enroll_code_new(f->st, "bad user", 0, code,
						sizeof(code), &expires),
			 AF_MFA_INVALID);
}

/*
 * A first-phone code carries its flag to the enrollment, which takes the
 * user without it; af_mfa_first_phone is yes only before any device.
 */
static void test_enroll_code_first_phone_flag_and_state(void **state)
{
	struct fixture *f = *state;
	char code[AF_MFA_ID_BUF], user[128], id[AF_MFA_ID_BUF];
	int64_t expires = 0;
	unsigned flags = 9;
	int first = 0;
	json_t *dev;

	assert_int_equal(af_mfa_enroll_code_new(f->st, "mona",
						AF_MFA_CODE_FIRST_PHONE, code,
						sizeof(code), &expires),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_enroll_code_peek(f->st, code, user,
						 sizeof(user), &flags),
			 AF_MFA_OK);
	assert_string_equal(user, "mona");
	assert_int_equal(flags, AF_MFA_CODE_FIRST_PHONE);
	assert_int_equal(
		af_mfa_enroll_code_take(f->st, code, user, sizeof(user)),
		AF_MFA_OK);
	assert_string_equal(user, "mona");
	assert_int_equal(af_mfa_enroll_code_new(f->st, "mona", 0, code,
						sizeof(code), &expires),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_enroll_code_peek(f->st, code, user,
						 sizeof(user), &flags),
			 AF_MFA_OK);
	assert_int_equal(flags, 0);

	assert_int_equal(af_mfa_first_phone(f->st, "mona", &first), AF_MFA_OK);
	assert_true(first);
	dev = add_device(f->st, "mona", "none", NULL, "2024.1", id);
	assert_int_equal(af_mfa_first_phone(f->st, "mona", &first), AF_MFA_OK);
	assert_false(first);
	/* Removing the phone does not make the next one a first. */
	assert_int_equal(af_mfa_device_remove(f->st, id), AF_MFA_OK);
	assert_int_equal(af_mfa_first_phone(f->st, "mona", &first), AF_MFA_OK);
	assert_false(first);
	json_decref(dev);
}

/* A user removed takes their push pause and push count along. */
static void test_user_forget_clears_pause_and_count(void **state)
{
	struct fixture *f = *state;
	store_value v = {NULL, 0};
	int64_t n = 0;

	assert_int_equal(store_set(f->st, "push_pause:nora", "1", 1, 60000, 0),
			 STORE_OK);
	assert_int_equal(store_incr(f->st, "push_count:nora", 3, 60000, &n),
			 STORE_OK);
	assert_int_equal(af_mfa_user_forget(f->st, "nora"), AF_MFA_OK);
	assert_int_equal(store_get(f->st, "push_pause:nora", &v),
			 STORE_NOT_FOUND);
	assert_int_equal(store_get(f->st, "push_count:nora", &v),
			 STORE_NOT_FOUND);
	store_value_free(&v);
}

/* A user's own codes: a few per code lifetime, counted afresh for a new
 * user of the name. */
static void test_own_codes_limited_and_forgotten(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < AF_MFA_OWN_CODES_MAX; i++)
		assert_int_equal(af_mfa_own_code_allowed(f->st, "owen"),
				 AF_MFA_OK);
	assert_int_equal(af_mfa_own_code_allowed(f->st, "owen"), AF_MFA_LIMIT);
	assert_int_equal(af_mfa_own_code_allowed(f->st, "owen"), AF_MFA_LIMIT);
	/* Another user is counted apart. */
	assert_int_equal(af_mfa_own_code_allowed(f->st, "olive"), AF_MFA_OK);
	assert_int_equal(af_mfa_own_code_allowed(f->st, "bad\nname"),
			 AF_MFA_INVALID);
	assert_int_equal(af_mfa_user_forget(f->st, "owen"), AF_MFA_OK);
	assert_int_equal(af_mfa_own_code_allowed(f->st, "owen"), AF_MFA_OK);
}

static void test_enroll_code_new_expires_in_ten_minutes(void **state)
{
	struct fixture *f = *state;
	char code[AF_MFA_ID_BUF], hex[65], key[96], user[128];
	int64_t before = af_now(), expires = 0;
	uint64_t ttl = 0;

	assert_int_equal(af_mfa_enroll_code_new(f->st, "alice", 0, code,
						sizeof(code), &expires),
			 AF_MFA_OK);
	assert_true(expires >= before + AF_MFA_ENROLL_TTL_S &&
		    expires <= af_now() + AF_MFA_ENROLL_TTL_S);
	/* Stored hashed, so the store never holds a usable code. */
	af_sha256_hex(code, strlen(code), hex);
	(void)snprintf(key, sizeof(key), "enroll:%s", hex);
	assert_int_equal(store_ttl(f->st, key, &ttl), STORE_OK);
	assert_true(ttl > (uint64_t)(AF_MFA_ENROLL_TTL_S - 5) * 1000 &&
		    ttl <= (uint64_t)AF_MFA_ENROLL_TTL_S * 1000);
	/* A buffer too small for any user name is refused before use. */
	assert_int_equal(af_mfa_enroll_code_take(f->st, code, hex, sizeof(hex)),
			 AF_MFA_INVALID);
	/* Once the store drops it, as it does at the TTL, it is gone. */
	assert_int_equal(store_del(f->st, key), STORE_OK);
	assert_int_equal(
		af_mfa_enroll_code_take(f->st, code, user, sizeof(user)),
		AF_MFA_NOT_FOUND);
}

/* --- races ------------------------------------------------------------------
 */

enum race_op {
	RACE_ENROLL,
	RACE_CODE,
	RACE_DECIDE,
	RACE_KEY,
};

struct race {
	store_ctx *st;
	enum race_op op;
	pthread_barrier_t start;
	pthread_barrier_t done;
	int rounds;
	/* set per round by the main thread */
	char text[AF_MFA_ID_BUF]; /* code, or txn id */
	char number[24];
	int64_t now;
	json_t *spec; /* RACE_KEY: the device every thread enrolls */
	int won;      /* RACE_KEY: rounds one of them won */
	af_mfa_status got[NTHREADS];
	char out[NTHREADS][128];
};

struct racer {
	struct race *r;
	int i;
};

static void race_once(struct race *r, int i)
{
	json_t *txn = NULL;

	switch (r->op) {
	case RACE_ENROLL:
		r->got[i] = af_mfa_enroll_code_take(r->st, r->text, r->out[i],
						    sizeof(r->out[i]));
		break;
	case RACE_CODE:
		r->got[i] = af_mfa_code_check(r->st, "carol", r->text, r->now,
					      r->out[i], sizeof(r->out[i]));
		break;
	case RACE_DECIDE:
		/* Half approve with the right number, half deny. */
		r->got[i] = af_mfa_txn_decide(r->st, r->text, "dev",
					      i % 2 == 0 ? "approve" : "deny",
					      r->number, r->now, &txn);
		(void)snprintf(r->out[i], sizeof(r->out[i]), "%s",
			       txn != NULL ? sget(txn, "state") : "");
		json_decref(txn);
		break;
	case RACE_KEY: {
		char err[128], user[16];

		(void)snprintf(user, sizeof(user), "keyrace%d", i);
		r->got[i] = af_mfa_device_add(r->st, user, r->spec, &txn, err,
					      sizeof(err));
		(void)snprintf(r->out[i], sizeof(r->out[i]), "%s",
			       txn != NULL ? sget(txn, "id") : err);
		json_decref(txn);
		break;
	}
	}
}

static void *racer_main(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	int round;

	for (round = 0; round < r->rounds; round++) {
		(void)pthread_barrier_wait(&r->start);
		race_once(r, me->i);
		(void)pthread_barrier_wait(&r->done);
	}
	return NULL;
}

/* Runs rounds of r->op on NTHREADS threads; prepare and check per round. */
static void race_run(struct race *r, void (*prepare)(struct race *, int),
		     void (*check)(struct race *))
{
	struct racer who[NTHREADS];
	pthread_t th[NTHREADS];
	int i, round;

	assert_int_equal(pthread_barrier_init(&r->start, NULL, NTHREADS + 1),
			 0);
	assert_int_equal(pthread_barrier_init(&r->done, NULL, NTHREADS + 1), 0);
	for (i = 0; i < NTHREADS; i++) {
		who[i] = (struct racer){r, i};
		assert_int_equal(
			pthread_create(&th[i], NULL, racer_main, &who[i]), 0);
	}
	for (round = 0; round < r->rounds; round++) {
		prepare(r, round);
		memset(r->got, 0, sizeof(r->got));
		(void)pthread_barrier_wait(&r->start);
		(void)pthread_barrier_wait(&r->done);
		check(r);
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&r->start);
	pthread_barrier_destroy(&r->done);
}

/* Exactly one thread got AF_MFA_OK; the others got loser. */
static int one_winner(const struct race *r, af_mfa_status loser)
{
	int i, winner = -1;

	for (i = 0; i < NTHREADS; i++) {
		if (r->got[i] == AF_MFA_OK) {
			assert_int_equal(winner, -1);
			winner = i;
		} else if (r->got[i] != loser) {
			fail_msg("thread %d: %s, want %s", i,
				 af_mfa_strerror(r->got[i]),
				 af_mfa_strerror(loser));
		}
	}
	assert_true(winner >= 0);
	return winner;
}

static void prepare_enroll(struct race *r, int round)
{
	int64_t expires;

	(void)round;
	assert_int_equal(af_mfa_enroll_code_new(r->st, "bob", 0, r->text,
						sizeof(r->text), &expires),
			 AF_MFA_OK);
}

static void check_enroll(struct race *r)
{
	assert_string_equal(r->out[one_winner(r, AF_MFA_NOT_FOUND)], "bob");
}

static void test_enroll_code_concurrent_take_one_wins(void **state)
{
	struct fixture *f = *state;
	struct race *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->st = f->st;
	r->op = RACE_ENROLL;
	r->rounds = ROUNDS;
	race_run(r, prepare_enroll, check_enroll);
	free(r);
}

/* --- devices -----------------------------------------------------------------
 */

/* The key index entry of the public key in spec, into key (96 bytes). */
static void key_entry(const json_t *spec, char *key)
{
	char hash[65];

	af_mfa_key_hash(json_object_get(spec, "public_key"), hash);
	assert_true(hash[0] != '\0');
	(void)snprintf(key, 96, "device_key:%s", hash);
}

/* Expects the key index entry of spec's key to name id (NULL: none). */
static void assert_key_entry(store_ctx *st, const json_t *spec, const char *id)
{
	char key[96];
	store_value v = {NULL, 0};

	key_entry(spec, key);
	if (id == NULL) {
		assert_int_equal(store_get(st, key, &v), STORE_NOT_FOUND);
		return;
	}
	assert_int_equal(store_get(st, key, &v), STORE_OK);
	assert_int_equal(v.len, strlen(id));
	assert_memory_equal(v.data, id, v.len);
	store_value_free(&v);
}

/*
 * A removal cut short after the device's record went leaves the key's
 * entry naming a device that is gone: as the record alone makes a device
 * (no signature verifies without it), that entry names nobody.
 */
static void cut_removal_short(store_ctx *st, const char *id)
{
	char key[96];

	(void)snprintf(key, sizeof(key), "device:%s", id);
	assert_int_equal(store_del(st, key), STORE_OK);
}

static void prepare_key(struct race *r, int round)
{
	json_t *d0 = NULL;
	char err[160];

	(void)round;
	json_decref(r->spec);
	r->spec = make_spec("none", NULL, "2024.1");
	assert_int_equal(af_mfa_device_add(r->st, "keyrace", r->spec, &d0, err,
					   sizeof(err)),
			 AF_MFA_OK);
	cut_removal_short(r->st, sget(d0, "id"));
	json_decref(d0);
}

static void check_key(struct race *r)
{
	int i, winner = -1;
	json_t *dev = NULL;

	for (i = 0; i < NTHREADS; i++) {
		if (r->got[i] == AF_MFA_OK) {
			assert_int_equal(winner, -1);
			winner = i;
		} else {
			assert_int_equal(r->got[i], AF_MFA_INVALID);
			assert_non_null(strstr(r->out[i], "already enrolled"));
		}
	}
	/* In a close race all may be refused; never two devices, one key. */
	if (winner < 0)
		return;
	r->won++;
	assert_key_entry(r->st, r->spec, r->out[winner]);
	assert_int_equal(af_mfa_device_get(r->st, r->out[winner], &dev),
			 AF_MFA_OK);
	af_mfa_device_free(dev);
	assert_int_equal(af_mfa_device_remove(r->st, r->out[winner]),
			 AF_MFA_OK);
	assert_key_entry(r->st, r->spec, NULL);
}

static void test_device_add_sixth_refused_limit(void **state)
{
	struct fixture *f = *state;
	char id[AF_MFA_ID_BUF], err[128];
	json_t *dev, *spec;
	int i;

	for (i = 0; i < AF_MFA_DEVICES_MAX; i++) {
		dev = add_device(f->st, "dave", "apns", "tok", "2024.1", id);
		/* The enrolling device gets its secret: 20 bytes, base32. */
		assert_int_equal(strlen(sget(dev, "totp_secret")), 32);
		assert_string_equal(sget(dev, "user"), "dave");
		assert_true(
			json_is_true(json_object_get(dev, "push_token_valid")));
		json_decref(dev);
	}
	spec = make_spec("apns", "tok", "2024.1");
	dev = NULL;
	assert_int_equal(
		af_mfa_device_add(f->st, "dave", spec, &dev, err, sizeof(err)),
		AF_MFA_LIMIT);
	assert_null(dev);
	/* Another user is not affected. */
	dev = add_device(f->st, "erin", "none", NULL, "2024.1", id);
	json_decref(dev);
	json_decref(spec);
	assert_devices(f->st, "dave", AF_MFA_DEVICES_MAX);
}

/* Per store_smembers(): notes whether the id in arg is a member. */
static int member_is(const char *member, void *arg)
{
	const char **want = arg;

	if (strcmp(member, *want) == 0)
		*want = NULL;
	return 0;
}

/*
 * A removal that failed after the device's record went (the store failed
 * on) leaves the id in the user's set: it holds no slot of the device
 * limit, and listing or counting takes it out.
 */
static void test_device_half_removed_frees_its_slot(void **state)
{
	struct fixture *f = *state;
	char gone[AF_MFA_ID_BUF], id[AF_MFA_ID_BUF], key[AF_MFA__KEY_MAX];
	const char *want = gone;
	json_t *dev;
	int i;

	/* Counted for a new device. */
	dev = add_device(f->st, "gail", "none", NULL, "2024.1", gone);
	af_mfa_device_free(dev);
	(void)snprintf(key, sizeof(key), "device:%s", gone);
	assert_int_equal(store_del(f->st, key), STORE_OK);
	for (i = 0; i < AF_MFA_DEVICES_MAX; i++) {
		dev = add_device(f->st, "gail", "none", NULL, "2024.1", id);
		af_mfa_device_free(dev);
	}
	assert_int_equal(
		store_smembers(f->st, "user_devices:gail", member_is, &want),
		STORE_OK);
	assert_non_null(want); /* not a member any more */
	assert_devices(f->st, "gail", AF_MFA_DEVICES_MAX);
	/* Listed. */
	dev = add_device(f->st, "hal", "none", NULL, "2024.1", gone);
	af_mfa_device_free(dev);
	(void)snprintf(key, sizeof(key), "device:%s", gone);
	assert_int_equal(store_del(f->st, key), STORE_OK);
	assert_devices(f->st, "hal", 0);
	want = gone;
	assert_int_equal(
		store_smembers(f->st, "user_devices:hal", member_is, &want),
		STORE_OK);
	assert_non_null(want);
}

static void test_device_add_bad_spec_refused(void **state)
{
	static const struct {
		const char *path; /* member to change; "public_key.x" etc. */
		const char *json; /* its new value, or NULL to remove it */
		const char *field;
	} bad[] = {
		/* A point that is not on the curve. */
		{"public_key.x",
		 "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\"",
		 "public_key:"},
		{"public_key.y",
		 "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\"",
		 "public_key:"},
		{"public_key.x", "\"AQEB\"", "public_key:"},
		{"public_key.x", "\"not base64url!\"", "public_key:"},
		{"public_key.x", NULL, "public_key:"},
		{"public_key.crv", "\"P-384\"", "public_key:"},
		{"public_key.kty", "\"RSA\"", "public_key:"},
		{"public_key", "\"key\"", "public_key:"},
		{"public_key", NULL, "public_key:"},
		{"platform", "\"windows\"", "platform:"},
		{"platform", NULL, "platform:"},
		{"push_token", NULL, "push_token:"},
		{"push_token", "\"has space\"", "push_token:"},
		{"push_token", "\"\"", "push_token:"},
		{"sandbox", "\"yes\"", "sandbox:"},
		{"device_name", "\"line\\nbreak\"", "device_name:"},
		{"app_version", "\"0123456789012345678901234567890123\"",
		 "app_version:"},
	};
	struct fixture *f = *state;
	char err[128], big[AF_MFA_PUSH_TOKEN_MAX + 2];
	json_t *spec, *dev = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *dot = strchr(bad[i].path, '.');
		json_t *obj;
		char member[32];

		spec = make_spec("apns", "tok", "2024.1");
		obj = spec;
		(void)snprintf(member, sizeof(member), "%s", bad[i].path);
		if (dot != NULL) {
			member[dot - bad[i].path] = '\0';
			obj = json_object_get(spec, member);
			(void)snprintf(member, sizeof(member), "%s", dot + 1);
		}
		if (bad[i].json != NULL)
			assert_int_equal(
				json_object_set_new(obj, member,
						    parse(bad[i].json)),
				0);
		else
			assert_int_equal(json_object_del(obj, member), 0);
		assert_int_equal(af_mfa_device_add(f->st, "frank", spec, &dev,
						   err, sizeof(err)),
				 AF_MFA_INVALID);
		assert_null(dev);
		if (strncmp(err, bad[i].field, strlen(bad[i].field)) != 0)
			fail_msg("%s: error \"%s\" does not name %s",
				 bad[i].path, err, bad[i].field);
		json_decref(spec);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	spec = make_spec("fcm", big, "2024.1");
	assert_int_equal(
		af_mfa_device_add(f->st, "frank", spec, &dev, err, sizeof(err)),
		AF_MFA_INVALID);
	json_decref(spec);
	assert_devices(f->st, "frank", 0);
}

/*
 * A device added pending goes by itself unless kept: an enrollment cut
 * short before its code was spent leaves nothing for good; kept, it
 * stays. A device removed meanwhile is not kept back.
 */
static void test_device_add_pending_until_kept(void **state)
{
	struct fixture *f = *state;
	json_t *spec = make_spec("none", NULL, "2024.1"), *dev = NULL;
	char err[128], key[64];
	uint64_t ttl = 0;

	assert_int_equal(af_mfa_device_add_pending(f->st, "gina", spec, &dev,
						   err, sizeof(err)),
			 AF_MFA_OK);
	snprintf(key, sizeof(key), "device:%s", sget(dev, "id"));
	assert_int_equal(store_ttl(f->st, key, &ttl), STORE_OK);
	assert_true(ttl > 0 && ttl <= 600000u);
	assert_int_equal(af_mfa_device_keep(f->st, dev), AF_MFA_OK);
	assert_int_equal(store_ttl(f->st, key, &ttl), STORE_OK);
	assert_int_equal(ttl, 0);
	assert_int_equal(af_mfa_device_remove(f->st, sget(dev, "id")),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_device_keep(f->st, dev), AF_MFA_NOT_FOUND);
	assert_int_equal(store_ttl(f->st, key, &ttl), STORE_NOT_FOUND);
	af_mfa_device_free(dev);
	/* The plain add keeps it at once. */
	dev = NULL;
	assert_int_equal(
		af_mfa_device_add(f->st, "gina", spec, &dev, err, sizeof(err)),
		AF_MFA_OK);
	snprintf(key, sizeof(key), "device:%s", sget(dev, "id"));
	assert_int_equal(store_ttl(f->st, key, &ttl), STORE_OK);
	assert_int_equal(ttl, 0);
	af_mfa_device_free(dev);
	json_decref(spec);
}

static void test_device_add_stores_public_members_only(void **state)
{
	struct fixture *f = *state;
	json_t *spec = make_spec("none", NULL, "2024.1"), *dev = NULL;
	json_t *jwk = json_object_get(spec, "public_key");
	char err[128];

	/* A private part sent by mistake is not kept. */
	assert_int_equal(json_object_set_new(jwk, "d", json_string("secret")),
			 0);
	assert_int_equal(json_object_set_new(jwk, "kid", json_string("k1")), 0);
	assert_int_equal(
		af_mfa_device_add(f->st, "gina", spec, &dev, err, sizeof(err)),
		AF_MFA_OK);
	jwk = json_object_get(dev, "public_key");
	assert_int_equal(json_object_size(jwk), 4);
	assert_string_equal(sget(jwk, "x"),
			    sget(json_object_get(spec, "public_key"), "x"));
	assert_true(json_is_null(json_object_get(dev, "push_token")));
	assert_false(json_is_true(json_object_get(dev, "push_token_valid")));
	json_decref(dev);
	json_decref(spec);
}

static void test_device_list_hides_totp_secret(void **state)
{
	struct fixture *f = *state;
	char id1[AF_MFA_ID_BUF], id2[AF_MFA_ID_BUF];
	json_t *d1, *d2, *list = NULL, *got = NULL, *v;
	size_t i;

	d1 = add_device(f->st, "hank", "apns", "tok1", "2024.1", id1);
	d2 = add_device(f->st, "hank", "fcm", "tok2", "2024.1", id2);
	assert_int_equal(af_mfa_device_list(f->st, "hank", &list), AF_MFA_OK);
	assert_int_equal(json_array_size(list), 2);
	json_array_foreach(list, i, v)
	{
		assert_null(json_object_get(v, "totp_secret"));
		assert_non_null(sget(v, "id"));
		assert_non_null(json_object_get(v, "public_key"));
	}
	/* The server's own look-up still has the secret. */
	assert_int_equal(af_mfa_device_get(f->st, id2, &got), AF_MFA_OK);
	assert_string_equal(sget(got, "totp_secret"), sget(d2, "totp_secret"));
	json_decref(got);
	json_decref(list);
	assert_devices(f->st, "nobody", 0);
	assert_int_equal(af_mfa_device_get(f->st, "no-such-id", &got),
			 AF_MFA_NOT_FOUND);
	assert_int_equal(af_mfa_device_get(f->st, "bad id!", &got),
			 AF_MFA_NOT_FOUND);
	json_decref(d1);
	json_decref(d2);
}

static void test_device_remove_clears_index_and_step(void **state)
{
	struct fixture *f = *state;
	char id[AF_MFA_ID_BUF], key[96], code[TC_CODE_BUF];
	char used[AF_MFA_ID_BUF];
	json_t *dev, *got = NULL;
	store_value v = {NULL, 0};

	dev = add_device(f->st, "ivan", "apns", "tok", "2024.1", id);
	code_at(dev, T0, code);
	assert_int_equal(
		af_mfa_code_check(f->st, "ivan", code, T0, used, sizeof(used)),
		AF_MFA_OK);
	(void)snprintf(key, sizeof(key), "totp_last:%s", id);
	assert_int_equal(store_get(f->st, key, &v), STORE_OK);
	store_value_free(&v);

	assert_int_equal(af_mfa_device_remove(f->st, id), AF_MFA_OK);
	assert_int_equal(af_mfa_device_get(f->st, id, &got), AF_MFA_NOT_FOUND);
	assert_int_equal(store_get(f->st, key, &v), STORE_NOT_FOUND);
	assert_devices(f->st, "ivan", 0);
	/* Its codes are no good any more. */
	code_at(dev, T0 + 60, code);
	assert_int_equal(af_mfa_code_check(f->st, "ivan", code, T0 + 60, used,
					   sizeof(used)),
			 AF_MFA_NOT_FOUND);
	assert_int_equal(af_mfa_device_remove(f->st, id), AF_MFA_NOT_FOUND);
	json_decref(dev);
}

/*
 * One key, one device: a second enrollment with it is refused, for the
 * same user or another, until the first device is removed.
 */
static void test_device_add_same_key_refused_until_removed(void **state)
{
	struct fixture *f = *state;
	json_t *spec = make_spec("none", NULL, "2024.1");
	json_t *d1 = NULL, *d2 = NULL;
	char err[160];
	const char *id;

	assert_int_equal(
		af_mfa_device_add(f->st, "kate", spec, &d1, err, sizeof(err)),
		AF_MFA_OK);
	assert_int_equal(
		af_mfa_device_add(f->st, "kate", spec, &d2, err, sizeof(err)),
		AF_MFA_INVALID);
	assert_null(d2);
	assert_non_null(strstr(err, "public_key"));
	assert_int_equal(
		af_mfa_device_add(f->st, "liam", spec, &d2, err, sizeof(err)),
		AF_MFA_INVALID);
	assert_null(d2);
	/* The refusals left nothing behind. */
	assert_devices(f->st, "kate", 1);
	assert_devices(f->st, "liam", 0);

	id = json_string_value(json_object_get(d1, "id"));
	assert_non_null(id);
	assert_int_equal(af_mfa_device_remove(f->st, id), AF_MFA_OK);
	assert_int_equal(
		af_mfa_device_add(f->st, "liam", spec, &d2, err, sizeof(err)),
		AF_MFA_OK);
	assert_non_null(d2);
	json_decref(d1);
	json_decref(d2);
	json_decref(spec);
}

/*
 * A key whose entry names a device that is gone (its removal cut short)
 * is taken over by the next enrollment with it, and held from then on.
 */
static void test_device_add_stale_key_entry_taken_over(void **state)
{
	struct fixture *f = *state;
	json_t *spec = make_spec("none", NULL, "2024.1");
	json_t *d1 = NULL, *d2 = NULL, *d3 = NULL;
	char err[160], key[96];
	uint64_t ttl = 1;

	assert_int_equal(
		af_mfa_device_add(f->st, "mona", spec, &d1, err, sizeof(err)),
		AF_MFA_OK);
	/* An enrolled device's record is kept for good. */
	(void)snprintf(key, sizeof(key), "device:%s", sget(d1, "id"));
	assert_int_equal(store_ttl(f->st, key, &ttl), STORE_OK);
	assert_int_equal(ttl, 0);
	cut_removal_short(f->st, sget(d1, "id"));
	assert_key_entry(f->st, spec, sget(d1, "id"));
	assert_int_equal(
		af_mfa_device_add(f->st, "nina", spec, &d2, err, sizeof(err)),
		AF_MFA_OK);
	assert_key_entry(f->st, spec, sget(d2, "id"));
	assert_int_equal(
		af_mfa_device_add(f->st, "mona", spec, &d3, err, sizeof(err)),
		AF_MFA_INVALID);
	assert_null(d3);
	assert_non_null(strstr(err, "already enrolled"));
	assert_key_entry(f->st, spec, sget(d2, "id"));

	/* An entry that names no device id at all names nobody either. */
	key_entry(spec, key);
	assert_int_equal(af_mfa_device_remove(f->st, sget(d2, "id")),
			 AF_MFA_OK);
	assert_int_equal(store_set(f->st, key, "not an id!", 10, 0, 0),
			 STORE_OK);
	assert_int_equal(
		af_mfa_device_add(f->st, "nina", spec, &d3, err, sizeof(err)),
		AF_MFA_OK);
	assert_key_entry(f->st, spec, sget(d3, "id"));
	json_decref(d1);
	json_decref(d2);
	json_decref(d3);
	json_decref(spec);
}

/*
 * Enrollments racing for a key whose entry is stale: at most one gets it,
 * and the entry names that one; all are refused only in a close race.
 */
static void test_device_add_stale_key_race_one_device(void **state)
{
	struct fixture *f = *state;
	struct race *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->st = f->st;
	r->op = RACE_KEY;
	r->rounds = ROUNDS;
	race_run(r, prepare_key, check_key);
	assert_true(r->won > 0);
	json_decref(r->spec);
	free(r);
}

/* Reads the device's push_token_valid: 1 true, 0 false, -1 neither. */
static int token_valid(store_ctx *st, const char *id)
{
	json_t *got = NULL, *v;
	int rc;

	assert_int_equal(af_mfa_device_get(st, id, &got), AF_MFA_OK);
	v = json_object_get(got, "push_token_valid");
	rc = json_is_true(v) ? 1 : json_is_false(v) ? 0 : -1;
	af_mfa_device_free(got);
	return rc;
}

/*
 * A push service's refusal marks the token dead only while the device
 * holds that token for the same platform and environment: a new token,
 * or the same one sent for the other environment, stays usable.
 */
static void test_device_token_refused_only_as_queued(void **state)
{
	struct fixture *f = *state;
	char id[AF_MFA_ID_BUF], err[128];
	json_t *dev, *patch;
	int marked = -1;

	dev = add_device(f->st, "jules", "apns", "tok", "2024.1", id);
	json_decref(dev);
	/* Sent for production; the phone moved it to the sandbox since. */
	patch = parse("{\"sandbox\": true, \"push_token_valid\": true}");
	assert_int_equal(
		af_mfa_device_update(f->st, id, patch, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(patch);
	assert_int_equal(af_mfa_device_token_refused(f->st, id, "apns", "tok",
						     0, &marked),
			 AF_MFA_OK);
	assert_int_equal(marked, 0);
	assert_int_equal(token_valid(f->st, id), 1);
	/* Another token, or another platform: not the refused one. */
	assert_int_equal(af_mfa_device_token_refused(f->st, id, "apns", "old",
						     1, &marked),
			 AF_MFA_OK);
	assert_int_equal(marked, 0);
	assert_int_equal(af_mfa_device_token_refused(f->st, id, "fcm", "tok", 1,
						     &marked),
			 AF_MFA_OK);
	assert_int_equal(marked, 0);
	assert_int_equal(token_valid(f->st, id), 1);
	/* The token as it stands: marked, once. */
	assert_int_equal(af_mfa_device_token_refused(f->st, id, "apns", "tok",
						     1, &marked),
			 AF_MFA_OK);
	assert_int_equal(marked, 1);
	assert_int_equal(token_valid(f->st, id), 0);
	assert_int_equal(af_mfa_device_token_refused(f->st, id, "apns", "tok",
						     1, &marked),
			 AF_MFA_OK);
	assert_int_equal(marked, 0);
	assert_int_equal(af_mfa_device_token_refused(f->st, "missing", "apns",
						     "tok", 1, &marked),
			 AF_MFA_NOT_FOUND);
	assert_int_equal(marked, 0);
}

static void test_device_update_patch_applied_and_bad_refused(void **state)
{
	struct fixture *f = *state;
	char id[AF_MFA_ID_BUF], err[128];
	json_t *dev, *patch, *got = NULL;

	dev = add_device(f->st, "judy", "apns", "tok", "2024.1", id);
	json_decref(dev);
	patch = parse("{\"push_token_valid\": false, \"app_version\": "
		      "\"2024.2\", \"last_seen\": 1700000000}");
	assert_int_equal(
		af_mfa_device_update(f->st, id, patch, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(patch);
	assert_int_equal(af_mfa_device_get(f->st, id, &got), AF_MFA_OK);
	assert_false(json_is_true(json_object_get(got, "push_token_valid")));
	assert_string_equal(sget(got, "app_version"), "2024.2");
	assert_int_equal(json_integer_value(json_object_get(got, "last_seen")),
			 1700000000);
	assert_non_null(sget(got, "totp_secret"));
	json_decref(got);

	patch = parse("{\"user\": \"mallory\"}");
	assert_int_equal(
		af_mfa_device_update(f->st, id, patch, err, sizeof(err)),
		AF_MFA_INVALID);
	json_decref(patch);
	patch = parse("{\"push_token\": null}");
	assert_int_equal(
		af_mfa_device_update(f->st, id, patch, err, sizeof(err)),
		AF_MFA_INVALID);
	assert_non_null(strstr(err, "push_token"));
	json_decref(patch);
	patch = parse("{\"push_token\": null, \"platform\": \"none\"}");
	assert_int_equal(
		af_mfa_device_update(f->st, id, patch, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(patch);
	patch = parse("{\"platform\": \"fcm\", \"push_token\": \"new\", "
		      "\"push_token_valid\": true}");
	assert_int_equal(
		af_mfa_device_update(f->st, "missing", patch, err, sizeof(err)),
		AF_MFA_NOT_FOUND);
	json_decref(patch);
	assert_int_equal(af_mfa_device_get(f->st, id, &got), AF_MFA_OK);
	assert_string_equal(sget(got, "platform"), "none");
	assert_string_equal(sget(got, "user"), "judy");
	json_decref(got);
}

/* --- token codes ------------------------------------------------------------
 */

static void test_code_check_right_code_accepted_then_replay(void **state)
{
	struct fixture *f = *state;
	char id1[AF_MFA_ID_BUF], id2[AF_MFA_ID_BUF], used[AF_MFA_ID_BUF];
	char code[TC_CODE_BUF];
	json_t *d1, *d2;

	d1 = add_device(f->st, "kim", "apns", "t1", "2024.1", id1);
	d2 = add_device(f->st, "kim", "fcm", "t2", "2024.1", id2);
	code_at(d2, T0, code);
	assert_int_equal(
		af_mfa_code_check(f->st, "kim", code, T0, used, sizeof(used)),
		AF_MFA_OK);
	assert_string_equal(used, id2);
	assert_int_equal(
		af_mfa_code_check(f->st, "kim", code, T0, used, sizeof(used)),
		AF_MFA_REPLAY);
	/* The next step's code is new. */
	code_at(d2, T0 + 30, code);
	assert_int_equal(af_mfa_code_check(f->st, "kim", code, T0 + 30, used,
					   sizeof(used)),
			 AF_MFA_OK);
	/* The other device keeps its own steps. */
	code_at(d1, T0, code);
	assert_int_equal(
		af_mfa_code_check(f->st, "kim", code, T0, used, sizeof(used)),
		AF_MFA_OK);
	assert_string_equal(used, id1);
	json_decref(d1);
	json_decref(d2);
}

/*
 * The last step a device used is kept without an expiry, so the memory
 * store's state file has it: a restart does not let a code be used again.
 */
static void test_code_check_restarted_memory_store_replay_refused(void **state)
{
	char dir[64], path[96], used[AF_MFA_ID_BUF], id[AF_MFA_ID_BUF];
	char code[TC_CODE_BUF], err[256];
	store_options so;
	store_ctx *st = NULL;
	json_t *dev;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/af-mfa-XXXXXX");
	assert_non_null(mkdtemp(dir));
	memset(&so, 0, sizeof(so));
	so.state_dir = dir;
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	dev = add_device(st, "kim", "none", NULL, "2024.1", id);
	code_at(dev, T0, code);
	assert_int_equal(
		af_mfa_code_check(st, "kim", code, T0, used, sizeof(used)),
		AF_MFA_OK);
	store_close(st);
	st = NULL;
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	assert_int_equal(
		af_mfa_code_check(st, "kim", code, T0, used, sizeof(used)),
		AF_MFA_REPLAY);
	code_at(dev, T0 + 30, code);
	assert_int_equal(
		af_mfa_code_check(st, "kim", code, T0 + 30, used, sizeof(used)),
		AF_MFA_OK);
	store_close(st);
	json_decref(dev);
	(void)snprintf(path, sizeof(path), "%s/store.aof", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_code_check_previous_step_accepted_once(void **state)
{
	struct fixture *f = *state;
	char id[AF_MFA_ID_BUF], used[AF_MFA_ID_BUF], code[TC_CODE_BUF];
	json_t *dev = add_device(f->st, "lee", "apns", "t", "2024.1", id);

	/* The code of the step before, typed just after the turn. */
	code_at(dev, T0 - 30, code);
	assert_int_equal(
		af_mfa_code_check(f->st, "lee", code, T0, used, sizeof(used)),
		AF_MFA_OK);
	assert_int_equal(
		af_mfa_code_check(f->st, "lee", code, T0, used, sizeof(used)),
		AF_MFA_REPLAY);
	/* The current step is still later than the one used. */
	code_at(dev, T0, code);
	assert_int_equal(
		af_mfa_code_check(f->st, "lee", code, T0, used, sizeof(used)),
		AF_MFA_OK);
	/* Two steps back is outside the window. */
	code_at(dev, T0 - 60, code);
	assert_int_equal(af_mfa_code_check(f->st, "lee", code, T0 + 30, used,
					   sizeof(used)),
			 AF_MFA_MISMATCH);
	json_decref(dev);
}

/*
 * A user's token-code tries are counted across sign-ins until a second
 * factor passes: past AF_MFA_CODE_USER_TRIES the count says so, with how
 * long it lasts; cleared, it starts again.
 */
static void test_code_tries_per_user_counted_until_cleared(void **state)
{
	struct fixture *f = *state;
	int64_t n = 0, left = -1;
	int i;

	for (i = 1; i <= AF_MFA_CODE_USER_TRIES; i++) {
		assert_int_equal(af_mfa_code_try(f->st, "nia", 600, &n, &left),
				 AF_MFA_OK);
		assert_int_equal(n, i);
		assert_int_equal(left, 0);
	}
	assert_int_equal(af_mfa_code_try(f->st, "nia", 600, &n, &left),
			 AF_MFA_OK);
	assert_int_equal(n, AF_MFA_CODE_USER_TRIES + 1);
	assert_true(left > 590 && left <= 600);
	/* Another user's tries are its own. */
	assert_int_equal(af_mfa_code_try(f->st, "ole", 600, &n, NULL),
			 AF_MFA_OK);
	assert_int_equal(n, 1);
	assert_int_equal(af_mfa_code_tries_clear(f->st, "nia"), AF_MFA_OK);
	assert_int_equal(af_mfa_code_try(f->st, "nia", 600, &n, &left),
			 AF_MFA_OK);
	assert_int_equal(n, 1);
	/* No window: spent until cleared, which left_s says as 0. */
	for (i = 0; i <= AF_MFA_CODE_USER_TRIES; i++)
		assert_int_equal(af_mfa_code_try(f->st, "pia", 0, &n, &left),
				 AF_MFA_OK);
	assert_int_equal(n, AF_MFA_CODE_USER_TRIES + 1);
	assert_int_equal(left, 0);
	assert_int_equal(af_mfa_code_try(f->st, "bad name!", 600, &n, &left),
			 AF_MFA_INVALID);
}

static void test_code_check_wrong_code_mismatch(void **state)
{
	struct fixture *f = *state;
	char id[AF_MFA_ID_BUF], used[AF_MFA_ID_BUF], code[TC_CODE_BUF];
	json_t *dev;

	assert_int_equal(af_mfa_code_check(f->st, "mia", "123456", T0, used,
					   sizeof(used)),
			 AF_MFA_NOT_FOUND);
	dev = add_device(f->st, "mia", "apns", "t", "2024.1", id);
	code_at(dev, T0, code);
	/* Another first digit: the code is wrong for certain. */
	code[0] = "1234567890"[code[0] - '0'];
	assert_int_equal(
		af_mfa_code_check(f->st, "mia", code, T0, used, sizeof(used)),
		AF_MFA_MISMATCH);
	assert_string_equal(used, "");
	assert_int_equal(af_mfa_code_check(f->st, "mia", "12345", T0, used,
					   sizeof(used)),
			 AF_MFA_MISMATCH);
	assert_int_equal(af_mfa_code_check(f->st, "mia", "abcdef", T0, used,
					   sizeof(used)),
			 AF_MFA_MISMATCH);
	assert_int_equal(
		af_mfa_code_check(f->st, "mia", NULL, T0, used, sizeof(used)),
		AF_MFA_INVALID);
	/* A code far in the future is no good now. */
	code_at(dev, T0 + 3600, code);
	assert_int_equal(
		af_mfa_code_check(f->st, "mia", code, T0, used, sizeof(used)),
		AF_MFA_MISMATCH);
	json_decref(dev);
}

struct code_race {
	struct race r;
	json_t *dev;
};

static void prepare_code(struct race *r, int round)
{
	struct code_race *cr = (struct code_race *)r;
	char code[TC_CODE_BUF];

	r->now = T0 + (int64_t)round * 30;
	code_at(cr->dev, r->now, code);
	(void)snprintf(r->text, sizeof(r->text), "%s", code);
}

static void check_code(struct race *r)
{
	struct code_race *cr = (struct code_race *)r;

	assert_string_equal(r->out[one_winner(r, AF_MFA_REPLAY)],
			    sget(cr->dev, "id"));
}

static void test_code_check_concurrent_use_one_wins(void **state)
{
	struct fixture *f = *state;
	struct code_race *cr = calloc(1, sizeof(*cr));
	char id[AF_MFA_ID_BUF];

	assert_non_null(cr);
	cr->dev = add_device(f->st, "carol", "apns", "t", "2024.1", id);
	cr->r.st = f->st;
	cr->r.op = RACE_CODE;
	cr->r.rounds = ROUNDS;
	race_run(&cr->r, prepare_code, check_code);
	json_decref(cr->dev);
	free(cr);
}

/* --- transactions -----------------------------------------------------------
 */

static void test_txn_new_number_uniform_two_digits(void **state)
{
	struct fixture *f = *state;
	int seen[100] = {0}, i, distinct = 0;
	json_t *txn;

	for (i = 0; i < DRAWS; i++) {
		json_int_t n;

		txn = new_txn(f->st, "nina", "[]", true, T0);
		n = json_integer_value(json_object_get(txn, "number"));
		assert_true(n >= 10 && n <= 99);
		seen[n]++;
		json_decref(txn);
	}
	for (i = 10; i < 100; i++) {
		/*
		 * 2000 draws: about 22 each; a value under 2 means bias (a
		 * fair draw gives one once in a million runs).
		 */
		if (seen[i] > 0)
			distinct++;
		assert_true(seen[i] >= 2);
	}
	assert_int_equal(distinct, 90);

	txn = new_txn(f->st, "nina", "[\"dev\"]", false, T0);
	assert_true(json_is_null(json_object_get(txn, "number")));
	assert_string_equal(sget(txn, "state"), "pending");
	assert_int_equal(json_integer_value(json_object_get(txn, "created")),
			 T0);
	assert_int_equal(json_integer_value(json_object_get(txn, "expires")),
			 T0 + AF_MFA_TXN_TTL_S);
	assert_string_equal(sget(json_object_get(txn, "push"), "dev"),
			    "not_sent");
	json_decref(txn);
}

static void test_txn_new_bad_spec_invalid(void **state)
{
	static const char *const bad[] = {
		"{\"app\": \"a\", \"app_name\": \"A\", \"flow\": \"f\", "
		"\"devices\": []}",
		"{\"user\": \"u\", \"app\": \"a\", \"app_name\": \"A\", "
		"\"flow\": \"f\", \"devices\": \"dev\"}",
		"{\"user\": \"u\", \"app\": \"a\", \"app_name\": \"A\", "
		"\"flow\": \"f\", \"devices\": [\"bad id\"]}",
		"{\"user\": \"u\", \"app\": \"a\", \"app_name\": \"A\", "
		"\"flow\": \"f\", \"devices\": [\"a\",\"b\",\"c\",\"d\",\"e\","
		"\"f\"]}",
		"{\"user\": \"u\", \"app\": \"a\", \"app_name\": \"A\", "
		"\"flow\": \"f\", \"devices\": [], \"number_matching\": 1}",
	};
	struct fixture *f = *state;
	json_t *txn = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *spec = parse(bad[i]);

		assert_int_equal(af_mfa_txn_new(f->st, spec, T0, &txn),
				 AF_MFA_INVALID);
		assert_null(txn);
		json_decref(spec);
	}
}

static void test_txn_decide_approve_right_number_approved(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "olga", "[\"d1\", \"d2\"]", true, T0);
	json_t *out = NULL, *got = NULL;
	char number[24];

	number_text(txn, number, sizeof(number));
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d2", "approve",
					   number, T0 + 5, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "approved");
	assert_string_equal(sget(out, "decided_by"), "d2");
	json_decref(out);
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn), T0 + 100, &got),
			 AF_MFA_OK);
	/* Decided before the expiry: it stays decided after it. */
	assert_string_equal(sget(got, "state"), "approved");
	json_decref(got);
	json_decref(txn);
}

static void test_txn_decide_wrong_number_failed_missing_refused(void **state)
{
	struct fixture *f = *state;
	json_t *txn, *out = NULL;
	char wrong[24];
	json_int_t n;

	txn = new_txn(f->st, "olga", "[\"d1\"]", true, T0);
	n = json_integer_value(json_object_get(txn, "number"));
	(void)snprintf(wrong, sizeof(wrong), "%lld",
		       (long long)(n == 99 ? 10 : n + 1));
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "approve",
					   wrong, T0 + 1, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "failed");
	json_decref(out);
	/* One attempt only: the right number now comes too late. */
	number_text(txn, wrong, sizeof(wrong));
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "approve",
					   wrong, T0 + 2, &out),
			 AF_MFA_DECIDED);
	assert_null(out);
	json_decref(txn);

	/* No number: refused, nothing decided; the txn still waits. */
	txn = new_txn(f->st, "olga", "[\"d1\"]", true, T0);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "approve",
					   NULL, T0 + 1, &out),
			 AF_MFA_INVALID);
	assert_null(out);
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn), T0 + 1, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "pending");
	json_decref(out);
	json_decref(txn);

	/* Without number matching, approve alone approves. */
	txn = new_txn(f->st, "olga", "[\"d1\"]", false, T0);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "approve",
					   NULL, T0 + 1, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "approved");
	json_decref(out);
	json_decref(txn);
}

static void test_txn_decide_deny_then_second_decided(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "pat", "[\"d1\"]", true, T0);
	json_t *out = NULL;

	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "deny",
					   NULL, T0 + 1, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "denied");
	json_decref(out);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "deny",
					   NULL, T0 + 2, &out),
			 AF_MFA_DECIDED);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), NULL, "cancel",
					   NULL, T0 + 2, &out),
			 AF_MFA_DECIDED);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "maybe",
					   NULL, T0 + 2, &out),
			 AF_MFA_INVALID);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), NULL, "approve",
					   NULL, T0 + 2, &out),
			 AF_MFA_INVALID);
	assert_int_equal(af_mfa_txn_decide(f->st, "unknown", "d1", "deny", NULL,
					   T0 + 2, &out),
			 AF_MFA_NOT_FOUND);
	json_decref(txn);
}

/* Device d1's report of txn at the time at is taken: "reported". */
static void report_taken(struct fixture *f, const json_t *txn, int64_t at)
{
	json_t *out = NULL;

	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "report",
					   NULL, at, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "reported");
	json_decref(out);
}

static void test_txn_decide_report_pauses_pushes(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "quinn", "[\"d1\"]", true, T0);
	json_t *other = new_txn(f->st, "quinn", "[\"d1\", \"d2\"]", true, T0);
	json_t *out = NULL;
	const char *why = NULL;
	uint64_t ttl = 0;

	assert_int_equal(af_mfa_push_allowed(f->st, "quinn", NULL, &why),
			 AF_MFA_OK);
	assert_null(why);
	report_taken(f, txn, T0 + 1);
	assert_int_equal(af_mfa_push_allowed(f->st, "quinn", NULL, &why),
			 AF_MFA_LIMIT);
	assert_string_equal(why, "paused");
	assert_int_equal(store_ttl(f->st, "push_pause:quinn", &ttl), STORE_OK);
	assert_true(ttl > 890000 && ttl <= 900000);
	/* Other users are not paused. */
	assert_int_equal(af_mfa_push_allowed(f->st, "rita", NULL, &why),
			 AF_MFA_OK);
	/* The user's other pending sign-in was cancelled with the report. */
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(other), T0 + 2, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "cancelled");
	json_decref(out);
	json_decref(other);
	json_decref(txn);
}

/*
 * The pause goes before the report is stored: when it cannot be set (here
 * the workflow it is read from is damaged) nothing is decided, so the
 * phone's retry reports it again, never a report without its pause. A
 * report the device may not make (another's txn, one decided) pauses
 * nothing.
 */
static void test_txn_report_pause_set_first(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "quinn", "[\"d1\"]", true, T0);
	json_t *done = new_txn(f->st, "quinn", "[\"d1\"]", true, T0);
	json_t *out = NULL;
	const char *why = NULL;

	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(done), "d1", "deny",
					   NULL, T0 + 1, &out),
			 AF_MFA_OK);
	json_decref(out);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(done), "d1", "report",
					   NULL, T0 + 1, &out),
			 AF_MFA_DECIDED);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d9", "report",
					   NULL, T0 + 1, &out),
			 AF_MFA_FORBIDDEN);
	assert_int_equal(af_mfa_push_allowed(f->st, "quinn", NULL, &why),
			 AF_MFA_OK);
	assert_int_equal(store_set(f->st, "mfa:workflow", "{\"x\":", 6, 0, 0),
			 STORE_OK);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "report",
					   NULL, T0 + 1, &out),
			 AF_MFA_STORE);
	assert_null(out);
	assert_int_equal(store_del(f->st, "mfa:workflow"), STORE_OK);
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn), T0 + 2, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "pending");
	json_decref(out);
	report_taken(f, txn, T0 + 2);
	assert_int_equal(af_mfa_push_allowed(f->st, "quinn", NULL, &why),
			 AF_MFA_LIMIT);
	assert_string_equal(why, "paused");
	json_decref(done);
	json_decref(txn);
}

/*
 * A push nobody answered may still be reported while its record lasts,
 * read as expired or not: the pause and the cancel of the user's other
 * sign-ins follow as for any report. Any other late decision is refused
 * as expired, and a report of a decided push as decided.
 */
static void test_txn_report_after_expiry(void **state)
{
	struct fixture *f = *state;
	json_t *read = new_txn(f->st, "vera", "[\"d1\"]", true, T0);
	json_t *unread = new_txn(f->st, "vera", "[\"d1\"]", true, T0);
	json_t *later = new_txn(f->st, "vera", "[\"d1\"]", true,
				T0 + AF_MFA_TXN_TTL_S + 5);
	int64_t late = T0 + AF_MFA_TXN_TTL_S + 10;
	json_t *out = NULL;
	const char *why = NULL;

	assert_int_equal(af_mfa_txn_get(f->st, txn_id(read), late, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "expired");
	json_decref(out);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(read), "d1", "deny",
					   NULL, late, &out),
			 AF_MFA_EXPIRED);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(unread), "d1",
					   "approve", NULL, late, &out),
			 AF_MFA_EXPIRED);
	assert_int_equal(af_mfa_push_allowed(f->st, "vera", NULL, &why),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(read), "d9", "report",
					   NULL, late, &out),
			 AF_MFA_FORBIDDEN);
	report_taken(f, read, late);
	assert_int_equal(af_mfa_push_allowed(f->st, "vera", NULL, &why),
			 AF_MFA_LIMIT);
	assert_string_equal(why, "paused");
	/* The sign-in that went on with another push is cancelled. */
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(later), late, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "cancelled");
	json_decref(out);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(read), "d1", "report",
					   NULL, late, &out),
			 AF_MFA_DECIDED);
	/* Never read as expired: the report finds it so all the same. */
	report_taken(f, unread, late);
	json_decref(read);
	json_decref(unread);
	json_decref(later);
}

/* Ending a user's sign-ins takes back every push on their phones only. */
static void test_txns_cancel_user_cancels_only_theirs(void **state)
{
	struct fixture *f = *state;
	char d1[AF_MFA_ID_BUF], d2[AF_MFA_ID_BUF], devs[128];
	json_t *dev1 = add_device(f->st, "una", "none", NULL, "2024.1", d1);
	json_t *dev2 = add_device(f->st, "vera", "none", NULL, "2024.1", d2);
	json_t *mine, *theirs, *out = NULL;

	(void)snprintf(devs, sizeof(devs), "[\"%s\"]", d1);
	mine = new_txn(f->st, "una", devs, true, T0);
	(void)snprintf(devs, sizeof(devs), "[\"%s\"]", d2);
	theirs = new_txn(f->st, "vera", devs, true, T0);
	assert_int_equal(af_mfa_txns_cancel_user(f->st, "una", T0 + 1),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(mine), T0 + 2, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "cancelled");
	json_decref(out);
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(theirs), T0 + 2, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "pending");
	json_decref(out);
	/* A user without phones, or without a record, has nothing to take. */
	assert_int_equal(af_mfa_txns_cancel_user(f->st, "nobody", T0 + 1),
			 AF_MFA_OK);
	json_decref(theirs);
	json_decref(mine);
	json_decref(dev2);
	json_decref(dev1);
}

static void test_txn_decide_device_not_in_txn_forbidden(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "sam", "[\"d1\"]", true, T0);
	json_t *out = NULL, *got = NULL;
	char number[24];

	number_text(txn, number, sizeof(number));
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d9", "approve",
					   number, T0 + 1, &out),
			 AF_MFA_FORBIDDEN);
	assert_null(out);
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn), T0 + 1, &got),
			 AF_MFA_OK);
	assert_string_equal(sget(got, "state"), "pending");
	json_decref(got);
	json_decref(txn);
}

/*
 * Read by a clock behind the one that made it (another node's, or this
 * one set back since): a push has never more than its 30 s left, and a
 * clock more than 30 s before its making finds it over, not open for
 * as long again as the clock is behind.
 */
static void test_txn_clock_behind_never_longer(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "tom", "[\"d1\"]", true, T0);
	json_t *out = NULL, *got = NULL, *view;
	char number[24];

	number_text(txn, number, sizeof(number));
	assert_int_equal(af_mfa_txn_left(txn, T0 + 10), AF_MFA_TXN_TTL_S - 10);
	assert_int_equal(af_mfa_txn_left(txn, T0 - 20), AF_MFA_TXN_TTL_S);
	view = af_mfa_txn_public(txn, T0 - 20);
	assert_non_null(view);
	assert_int_equal(
		json_integer_value(json_object_get(view, "expires_in")),
		AF_MFA_TXN_TTL_S);
	assert_string_equal(sget(view, "state"), "pending");
	json_decref(view);
	assert_int_equal(af_mfa_txn_left(txn, T0 - AF_MFA_TXN_TTL_S - 1), 0);
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn),
					T0 - AF_MFA_TXN_TTL_S - 1, &got),
			 AF_MFA_OK);
	assert_string_equal(sget(got, "state"), "expired");
	json_decref(got);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "approve",
					   number, T0, &out),
			 AF_MFA_EXPIRED);
	json_decref(txn);
}

static void test_txn_expiry_injected_now_expired(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "tom", "[\"d1\"]", true, T0);
	json_t *out = NULL, *got = NULL;
	char number[24];

	number_text(txn, number, sizeof(number));
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn),
					T0 + AF_MFA_TXN_TTL_S - 1, &got),
			 AF_MFA_OK);
	assert_string_equal(sget(got, "state"), "pending");
	json_decref(got);
	assert_int_equal(
		af_mfa_txn_get(f->st, txn_id(txn), T0 + AF_MFA_TXN_TTL_S, &got),
		AF_MFA_OK);
	assert_string_equal(sget(got, "state"), "expired");
	json_decref(got);
	/* Turned expired in the store, whatever clock reads it next. */
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn), T0, &got),
			 AF_MFA_OK);
	assert_string_equal(sget(got, "state"), "expired");
	json_decref(got);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "approve",
					   number, T0 + 1, &out),
			 AF_MFA_EXPIRED);
	assert_null(out);

	/* A decision after the expiry, with no read in between. */
	json_decref(txn);
	txn = new_txn(f->st, "tom", "[\"d1\"]", true, T0);
	number_text(txn, number, sizeof(number));
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "approve",
					   number, T0 + AF_MFA_TXN_TTL_S + 1,
					   &out),
			 AF_MFA_EXPIRED);
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn), T0, &got),
			 AF_MFA_OK);
	assert_string_equal(sget(got, "state"), "expired");
	json_decref(got);
	json_decref(txn);
}

/* An expiry is noted once, by the first that asks after it. */
static void test_txn_note_expiry_once(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "tom", "[\"d1\"]", true, T0);
	json_t *got = NULL;

	assert_int_equal(af_mfa_txn_note_expiry(f->st, txn_id(txn),
						T0 + AF_MFA_TXN_TTL_S - 1,
						&got),
			 AF_MFA_DECIDED);
	assert_null(got);
	/* Pending past its expiry: turned expired and noted at once. */
	assert_int_equal(af_mfa_txn_note_expiry(f->st, txn_id(txn),
						T0 + AF_MFA_TXN_TTL_S, &got),
			 AF_MFA_OK);
	assert_string_equal(sget(got, "state"), "expired");
	assert_true(json_is_true(json_object_get(got, "expiry_noted")));
	json_decref(got);
	assert_int_equal(af_mfa_txn_note_expiry(f->st, txn_id(txn),
						T0 + AF_MFA_TXN_TTL_S + 5,
						&got),
			 AF_MFA_DECIDED);
	json_decref(txn);
	/* Read expired first, noted after; a decided txn never is. */
	txn = new_txn(f->st, "tom", "[\"d1\"]", true, T0);
	assert_int_equal(
		af_mfa_txn_get(f->st, txn_id(txn), T0 + AF_MFA_TXN_TTL_S, &got),
		AF_MFA_OK);
	assert_null(json_object_get(got, "expiry_noted"));
	json_decref(got);
	assert_int_equal(af_mfa_txn_note_expiry(f->st, txn_id(txn), T0, &got),
			 AF_MFA_OK);
	json_decref(got);
	json_decref(txn);
	txn = new_txn(f->st, "tom", "[\"d1\"]", false, T0);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "deny",
					   NULL, T0 + 1, &got),
			 AF_MFA_OK);
	json_decref(got);
	assert_int_equal(af_mfa_txn_note_expiry(f->st, txn_id(txn),
						T0 + AF_MFA_TXN_TTL_S + 1,
						&got),
			 AF_MFA_DECIDED);
	assert_int_equal(af_mfa_txn_note_expiry(f->st, "nope", T0, &got),
			 AF_MFA_NOT_FOUND);
	json_decref(txn);
}

struct swept {
	char ids[4][AF_MFA_ID_BUF];
	size_t count;
};

static void note_swept(const json_t *txn, void *arg)
{
	struct swept *w = arg;

	assert_true(w->count < 4);
	assert_string_equal(sget(txn, "state"), "expired");
	assert_true(json_is_true(json_object_get(txn, "expiry_noted")));
	(void)snprintf(w->ids[w->count++], AF_MFA_ID_BUF, "%s", txn_id(txn));
}

/*
 * The sweep of a second tells of the txns that expired in it unanswered
 * and not told of yet, each once; answered ones and other seconds' are
 * left alone, and a swept second is forgotten.
 */
static void test_txn_sweep_tells_each_unanswered_once(void **state)
{
	struct fixture *f = *state;
	const int64_t due = T0 + AF_MFA_TXN_TTL_S;
	json_t *left = new_txn(f->st, "tom", "[\"d1\"]", true, T0);
	json_t *seen = new_txn(f->st, "tom", "[\"d1\"]", true, T0);
	json_t *denied = new_txn(f->st, "tom", "[\"d1\"]", false, T0);
	json_t *later = new_txn(f->st, "tom", "[\"d1\"]", true, T0 + 1);
	struct swept w = {0};
	json_t *got = NULL;
	char key[64];

	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(denied), "d1", "deny",
					   NULL, T0 + 1, &got),
			 AF_MFA_OK);
	json_decref(got);
	assert_int_equal(af_mfa_txn_note_expiry(f->st, txn_id(seen), due, &got),
			 AF_MFA_OK);
	json_decref(got);
	/* Not over yet: refused, nothing noted. */
	assert_int_equal(af_mfa_txn_sweep(f->st, due, due, note_swept, &w),
			 AF_MFA_INVALID);
	assert_int_equal(af_mfa_txn_sweep(f->st, due, due + 2, note_swept, &w),
			 AF_MFA_OK);
	assert_int_equal(w.count, 1);
	assert_string_equal(w.ids[0], txn_id(left));
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(left), due + 2, &got),
			 AF_MFA_OK);
	assert_true(json_is_true(json_object_get(got, "expiry_noted")));
	json_decref(got);
	/* Swept again (another node, a retry): nothing more. */
	assert_int_equal(af_mfa_txn_sweep(f->st, due, due + 3, note_swept, &w),
			 AF_MFA_OK);
	assert_int_equal(w.count, 1);
	/* The next second has its own. */
	assert_int_equal(
		af_mfa_txn_sweep(f->st, due + 1, due + 3, note_swept, &w),
		AF_MFA_OK);
	assert_int_equal(w.count, 2);
	assert_string_equal(w.ids[1], txn_id(later));
	assert_int_equal(af_mfa_txn_sweep(f->st, -1, due, note_swept, &w),
			 AF_MFA_INVALID);
	/*
	 * A record that cannot be read keeps its second to be tried again;
	 * the others in it are told of all the same, and only once.
	 */
	json_decref(later);
	later = new_txn(f->st, "tom", "[\"d1\"]", true, T0 + 2);
	(void)snprintf(key, sizeof(key), "txn_due:%lld", (long long)due + 2);
	assert_int_equal(
		store_sadd_ttl(f->st, key, "AAAAAAAAAAAAAAAAAAAAAA", 60000),
		STORE_OK);
	assert_int_equal(store_set(f->st, "txn:AAAAAAAAAAAAAAAAAAAAAA", "{", 1,
				   60000, 0),
			 STORE_OK);
	assert_int_equal(
		af_mfa_txn_sweep(f->st, due + 2, due + 4, note_swept, &w),
		AF_MFA_STORE);
	assert_int_equal(w.count, 3);
	assert_string_equal(w.ids[2], txn_id(later));
	assert_int_equal(
		af_mfa_txn_sweep(f->st, due + 2, due + 4, note_swept, &w),
		AF_MFA_STORE);
	assert_int_equal(w.count, 3);
	json_decref(left);
	json_decref(seen);
	json_decref(denied);
	json_decref(later);
}

static void test_txn_cancel_by_browser_cancelled(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "uma", "[\"d1\"]", true, T0);
	json_t *out = NULL;

	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), NULL, "cancel",
					   NULL, T0 + 3, &out),
			 AF_MFA_OK);
	assert_string_equal(sget(out, "state"), "cancelled");
	assert_true(json_is_null(json_object_get(out, "decided_by")));
	json_decref(out);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(txn), "d1", "deny",
					   NULL, T0 + 4, &out),
			 AF_MFA_DECIDED);
	json_decref(txn);
}

static void prepare_decide(struct race *r, int round)
{
	json_t *txn = new_txn(r->st, "vic", "[\"dev\"]", true, T0);

	(void)round;
	r->now = T0 + 1;
	(void)snprintf(r->text, sizeof(r->text), "%s", txn_id(txn));
	number_text(txn, r->number, sizeof(r->number));
	json_decref(txn);
}

static void check_decide(struct race *r)
{
	int w = one_winner(r, AF_MFA_DECIDED);
	json_t *got = NULL;

	assert_string_equal(r->out[w], w % 2 == 0 ? "approved" : "denied");
	assert_int_equal(af_mfa_txn_get(r->st, r->text, r->now, &got),
			 AF_MFA_OK);
	assert_string_equal(sget(got, "state"), r->out[w]);
	json_decref(got);
}

static void test_txn_decide_concurrent_one_wins(void **state)
{
	struct fixture *f = *state;
	struct race *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->st = f->st;
	r->op = RACE_DECIDE;
	r->rounds = ROUNDS;
	race_run(r, prepare_decide, check_decide);
	free(r);
}

static void test_txn_public_never_has_number(void **state)
{
	struct fixture *f = *state;
	json_t *txn = new_txn(f->st, "wes", "[\"d1\"]", true, T0);
	json_t *view = af_mfa_txn_public(txn, T0 + 10);
	char *text;
	char number[24];

	assert_non_null(view);
	number_text(txn, number, sizeof(number));
	assert_null(json_object_get(view, "number"));
	assert_string_equal(sget(view, "txn"), txn_id(txn));
	assert_string_equal(sget(view, "user"), "wes");
	assert_string_equal(sget(view, "app"), "Qlik Sense");
	assert_string_equal(sget(view, "state"), "pending");
	assert_true(json_is_true(json_object_get(view, "number_required")));
	assert_int_equal(
		json_integer_value(json_object_get(view, "number_digits")), 2);
	assert_int_equal(
		json_integer_value(json_object_get(view, "expires_in")), 20);
	assert_int_equal(
		json_integer_value(json_object_get(view, "expires_at")),
		T0 + AF_MFA_TXN_TTL_S);
	assert_int_equal(
		json_integer_value(json_object_get(view, "created_at")), T0);
	/* Without an address or a browser, neither member. */
	assert_int_equal(json_object_size(view), 9);
	/* Not even as a value of some other member. */
	text = json_dumps(view, JSON_COMPACT);
	assert_non_null(text);
	assert_null(strstr(text, "\"number\""));
	free(text);
	json_decref(view);
	view = af_mfa_txn_public(txn, T0 + 31);
	assert_string_equal(sget(view, "state"), "expired");
	assert_int_equal(
		json_integer_value(json_object_get(view, "expires_in")), 0);
	json_decref(view);
	assert_null(af_mfa_txn_public(NULL, T0));
	json_decref(txn);
}

/*
 * The address of the sign-in and what its browser is stay in the record
 * (a wrong number counts against the address) and go to the phone in the
 * public view, so that a sign-in not one's own shows; values that are no
 * address or no short text are refused.
 */
static void test_txn_new_ip_and_browser_shown_to_phone(void **state)
{
	static const char *const bad[] = {
		"\"ip\": \"203.0.113.7 \"",
		"\"ip\": \"\"",
		"\"ip\": 7",
		"\"ip\": \"0123456789012345678901234567890123456789"
		"01234567890123456789012345\"",
		"\"browser\": \"\"",
		"\"browser\": \"Firefox\\non Windows\"",
		"\"browser\": true",
		"\"browser\": \"0123456789012345678901234567890123456789"
		"01234567890123456789012345\"",
	};
	struct fixture *f = *state;
	json_t *spec, *txn = NULL, *read = NULL, *view;
	char text[512];
	size_t i;

	spec = parse("{\"user\": \"ida\", \"app\": \"a\", \"app_name\": "
		     "\"A\", \"flow\": \"f\", \"devices\": [\"d1\"], "
		     "\"ip\": \"2001:db8::7\", \"browser\": "
		     "\"Firefox on Windows\"}");
	assert_int_equal(af_mfa_txn_new(f->st, spec, T0, &txn), AF_MFA_OK);
	json_decref(spec);
	assert_string_equal(sget(txn, "ip"), "2001:db8::7");
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn), T0, &read),
			 AF_MFA_OK);
	assert_string_equal(sget(read, "ip"), "2001:db8::7");
	assert_string_equal(sget(read, "browser"), "Firefox on Windows");
	view = af_mfa_txn_public(read, T0);
	assert_non_null(view);
	assert_string_equal(sget(view, "ip"), "2001:db8::7");
	assert_string_equal(sget(view, "browser"), "Firefox on Windows");
	assert_null(json_object_get(view, "number"));
	assert_int_equal(json_object_size(view), 11);
	json_decref(view);
	json_decref(read);
	json_decref(txn);
	txn = NULL;
	/* Not known (null): the txn is made without them. */
	spec = parse("{\"user\": \"ida\", \"app\": \"a\", \"app_name\": "
		     "\"A\", \"flow\": \"f\", \"devices\": [], \"ip\": null, "
		     "\"browser\": null}");
	assert_int_equal(af_mfa_txn_new(f->st, spec, T0, &txn), AF_MFA_OK);
	assert_null(json_object_get(txn, "ip"));
	assert_null(json_object_get(txn, "browser"));
	json_decref(spec);
	json_decref(txn);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		txn = NULL;
		snprintf(text, sizeof(text),
			 "{\"user\": \"ida\", \"app\": \"a\", "
			 "\"app_name\": \"A\", \"flow\": \"f\", "
			 "\"devices\": [], %s}",
			 bad[i]);
		spec = parse(text);
		assert_int_equal(af_mfa_txn_new(f->st, spec, T0, &txn),
				 AF_MFA_INVALID);
		assert_null(txn);
		json_decref(spec);
	}
}

static void test_txn_pending_for_device_excludes_decided_expired(void **state)
{
	struct fixture *f = *state;
	json_t *live, *decided, *old, *other, *out = NULL, *list = NULL, *v;
	size_t i;

	old = new_txn(f->st, "xena", "[\"d1\"]", true, T0 - 40);
	decided = new_txn(f->st, "xena", "[\"d1\", \"d2\"]", true, T0);
	live = new_txn(f->st, "xena", "[\"d2\", \"d1\"]", true, T0);
	other = new_txn(f->st, "xena", "[\"d3\"]", true, T0);
	assert_int_equal(af_mfa_txn_decide(f->st, txn_id(decided), "d2", "deny",
					   NULL, T0 + 1, &out),
			 AF_MFA_OK);
	json_decref(out);
	assert_int_equal(
		af_mfa_txn_pending_for_device(f->st, "d1", T0 + 2, &list),
		AF_MFA_OK);
	assert_int_equal(json_array_size(list), 1);
	json_array_foreach(list, i, v)
	{
		assert_string_equal(sget(v, "txn"), txn_id(live));
		assert_null(json_object_get(v, "number"));
		assert_string_equal(sget(v, "state"), "pending");
	}
	json_decref(list);
	/* Once its time is up, the live one is gone from the list too. */
	assert_int_equal(
		af_mfa_txn_pending_for_device(f->st, "d1", T0 + 30, &list),
		AF_MFA_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	assert_int_equal(af_mfa_txn_pending_for_device(f->st, "d4", T0, &list),
			 AF_MFA_OK);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	/* A damaged one does not hide the others from the device. */
	{
		char key[128];

		snprintf(key, sizeof(key), "txn:%s", txn_id(decided));
		assert_int_equal(store_set(f->st, key, "garbage", 7, 0, 0),
				 STORE_OK);
	}
	assert_int_equal(
		af_mfa_txn_pending_for_device(f->st, "d1", T0 + 2, &list),
		AF_MFA_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	json_decref(old);
	json_decref(decided);
	json_decref(live);
	json_decref(other);
}

static int count_member(const char *member, void *arg)
{
	(void)member;
	(*(size_t *)arg)++;
	return 0;
}

/*
 * Challenges that expired unanswered leave the phone's index when the
 * next one comes, so that a phone asked often (each new one renews the
 * index) does not pile up old ones and miss new ones past the list cap.
 */
static void test_txn_index_drops_expired_on_new(void **state)
{
	struct fixture *f = *state;
	json_t *txn, *list = NULL;
	size_t members = 0;
	int i;

	for (i = 0; i < 70; i++) {
		txn = new_txn(f->st, "yuri", "[\"d1\"]", true,
			      T0 + (int64_t)i * 2);
		json_decref(txn);
	}
	/* Long after all of them ended, one more: alone in the index. */
	txn = new_txn(f->st, "yuri", "[\"d1\"]", true, T0 + 200);
	assert_int_equal(
		store_smembers(f->st, "device_txns:d1", count_member, &members),
		STORE_OK);
	assert_int_equal(members, 1);
	assert_int_equal(
		af_mfa_txn_pending_for_device(f->st, "d1", T0 + 201, &list),
		AF_MFA_OK);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(sget(json_array_get(list, 0), "txn"), txn_id(txn));
	json_decref(list);
	json_decref(txn);
}

/* --- pushes ------------------------------------------------------------------
 */

static void test_push_allowed_limit_per_period(void **state)
{
	struct fixture *f = *state;
	json_t *wf =
		parse("{\"push_limit\": {\"count\": 3, \"period_s\": 60}}");
	const char *why = NULL;
	uint64_t ttl = 0;
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(af_mfa_push_allowed(f->st, "yan", wf, &why),
				 AF_MFA_OK);
	assert_int_equal(af_mfa_push_allowed(f->st, "yan", wf, &why),
			 AF_MFA_LIMIT);
	assert_string_equal(why, "limit");
	assert_int_equal(af_mfa_push_allowed(f->st, "yan", wf, &why),
			 AF_MFA_LIMIT);
	/* The period started with the first push and is not extended. */
	assert_int_equal(store_ttl(f->st, "push_count:yan", &ttl), STORE_OK);
	assert_true(ttl > 55000 && ttl <= 60000);
	/* Once the period is over (the store drops the counter), again. */
	assert_int_equal(store_del(f->st, "push_count:yan"), STORE_OK);
	assert_int_equal(af_mfa_push_allowed(f->st, "yan", wf, &why),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_push_allowed(f->st, "zoe", wf, &why),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_push_allowed(f->st, "bad user", wf, &why),
			 AF_MFA_INVALID);
	json_decref(wf);
}

/* A push that never went out is given back, within the same period. */
static void test_push_unused_given_back(void **state)
{
	struct fixture *f = *state;
	json_t *wf =
		parse("{\"push_limit\": {\"count\": 2, \"period_s\": 60}}");
	const char *why = NULL;
	uint64_t ttl = 0;

	assert_int_equal(af_mfa_push_allowed(f->st, "ugo", wf, &why),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_push_allowed(f->st, "ugo", wf, &why),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_push_unused(f->st, "ugo", wf), AF_MFA_OK);
	assert_int_equal(af_mfa_push_allowed(f->st, "ugo", wf, &why),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_push_allowed(f->st, "ugo", wf, &why),
			 AF_MFA_LIMIT);
	/* Given back after the period ended: the new count expires too. */
	assert_int_equal(store_del(f->st, "push_count:ugo"), STORE_OK);
	assert_int_equal(af_mfa_push_unused(f->st, "ugo", wf), AF_MFA_OK);
	assert_int_equal(store_ttl(f->st, "push_count:ugo", &ttl), STORE_OK);
	assert_true(ttl > 55000 && ttl <= 60000);
	assert_int_equal(af_mfa_push_unused(f->st, "bad user", wf),
			 AF_MFA_INVALID);
	assert_int_equal(af_mfa_push_unused(f->st, "ugo", NULL),
			 AF_MFA_INVALID);
	json_decref(wf);
}

struct jobs {
	int count;
	json_t *arr;
};

static int collect_job(const char *entry, void *arg)
{
	struct jobs *j = arg;
	json_t *job = parse(entry);

	j->count++;
	assert_null(json_object_get(job, "number"));
	assert_int_equal(json_object_size(job), 9);
	assert_int_equal(json_array_append_new(j->arr, job), 0);
	return 0;
}

static void test_push_enqueue_skips_unpushable_devices(void **state)
{
	struct fixture *f = *state;
	char ok[AF_MFA_ID_BUF], bad_tok[AF_MFA_ID_BUF], none[AF_MFA_ID_BUF];
	char old_app[AF_MFA_ID_BUF], droid[AF_MFA_ID_BUF], devs[400];
	json_t *wf = NULL, *patch, *txn, *txn2, *got = NULL, *push, *v;
	json_t *list = NULL;
	struct jobs j = {0, json_array()}, j2 = {0, json_array()};
	size_t queued = 99, len = 0, i, listed;
	char err[128];

	json_decref(add_device(f->st, "amy", "apns", "apns-ok", "2024.1", ok));
	json_decref(
		add_device(f->st, "amy", "fcm", "fcm-bad", "2024.1", bad_tok));
	json_decref(add_device(f->st, "amy", "none", NULL, "2024.1", none));
	json_decref(add_device(f->st, "amy", "apns", "apns-old", "2023.1.9",
			       old_app));
	json_decref(add_device(f->st, "amy", "fcm", "fcm-ok", "2023.1", droid));
	patch = parse("{\"push_token_valid\": false}");
	assert_int_equal(
		af_mfa_device_update(f->st, bad_tok, patch, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(patch);
	patch = parse("{\"min_app_version\": {\"ios\": \"2023.2\", "
		      "\"android\": \"2023.1\"}}");
	assert_int_equal(
		af_mfa_workflow_set(f->st, patch, &wf, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(patch);

	(void)snprintf(devs, sizeof(devs),
		       "[\"%s\", \"%s\", \"%s\", \"%s\", \"%s\"]", ok, bad_tok,
		       none, old_app, droid);
	txn = new_txn(f->st, "amy", devs, true, T0);
	assert_int_equal(af_mfa_push_enqueue(f->st, txn, NULL, wf, &queued),
			 AF_MFA_OK);
	assert_int_equal(queued, 2);
	assert_int_equal(store_queue_len(f->st, "push", &len), STORE_OK);
	assert_int_equal(len, 2);
	assert_int_equal(store_queue_range(f->st, "push", 10, collect_job, &j),
			 STORE_OK);
	assert_int_equal(j.count, 2);
	json_array_foreach(j.arr, i, v)
	{
		const char *dev = sget(v, "device");

		assert_true(strcmp(dev, ok) == 0 || strcmp(dev, droid) == 0);
		assert_string_equal(sget(v, "push_token"), strcmp(dev, ok) == 0
								   ? "apns-ok"
								   : "fcm-ok");
		assert_string_equal(sget(v, "txn"), txn_id(txn));
		assert_string_equal(sget(v, "user"), "amy");
		assert_string_equal(sget(v, "app_name"), "Qlik Sense");
		assert_int_equal(
			json_integer_value(json_object_get(v, "expires")),
			T0 + AF_MFA_TXN_TTL_S);
		assert_non_null(sget(v, "job"));
	}
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn), T0 + 1, &got),
			 AF_MFA_OK);
	push = json_object_get(got, "push");
	assert_string_equal(sget(push, ok), "queued");
	assert_string_equal(sget(push, droid), "queued");
	assert_string_equal(sget(push, bad_tok), "not_sent");
	assert_string_equal(sget(push, none), "not_sent");
	assert_string_equal(sget(push, old_app), "not_sent");
	json_decref(got);

	/* pushd reports back. */
	assert_int_equal(af_mfa_txn_push_status(f->st, txn_id(txn), ok, "sent"),
			 AF_MFA_OK);
	assert_int_equal(
		af_mfa_txn_push_status(f->st, txn_id(txn), "elsewhere", "sent"),
		AF_MFA_FORBIDDEN);
	assert_int_equal(af_mfa_txn_push_status(f->st, txn_id(txn), ok, "lost"),
			 AF_MFA_INVALID);
	assert_int_equal(af_mfa_txn_get(f->st, txn_id(txn), T0 + 1, &got),
			 AF_MFA_OK);
	assert_string_equal(sget(json_object_get(got, "push"), ok), "sent");
	assert_string_equal(sget(got, "state"), "pending");
	json_decref(got);

	/* A device list given is used as it is, not read again. */
	assert_int_equal(af_mfa_device_list(f->st, "amy", &list), AF_MFA_OK);
	json_array_foreach(list, i, v)
	{
		if (strcmp(sget(v, "id"), ok) == 0)
			assert_int_equal(
				json_object_set_new(v, "push_token",
						    json_string("apns-listed")),
				0);
	}
	txn2 = new_txn(f->st, "amy", devs, true, T0);
	assert_int_equal(af_mfa_push_enqueue(f->st, txn2, list, wf, &queued),
			 AF_MFA_OK);
	assert_int_equal(queued, 2);
	assert_int_equal(store_queue_range(f->st, "push", 10, collect_job, &j2),
			 STORE_OK);
	assert_int_equal(j2.count, 4);
	listed = 0;
	json_array_foreach(j2.arr, i, v)
	{
		if (strcmp(sget(v, "txn"), txn_id(txn2)) == 0 &&
		    strcmp(sget(v, "device"), ok) == 0) {
			assert_string_equal(sget(v, "push_token"),
					    "apns-listed");
			listed++;
		}
	}
	assert_int_equal(listed, 1);
	json_decref(list);
	json_decref(txn2);

	/* Legacy mode sends no push at all. */
	json_decref(wf);
	patch = parse("{\"legacy\": true}");
	assert_int_equal(
		af_mfa_workflow_set(f->st, patch, &wf, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(patch);
	assert_int_equal(af_mfa_push_enqueue(f->st, txn, NULL, wf, &queued),
			 AF_MFA_OK);
	assert_int_equal(queued, 0);
	assert_int_equal(store_queue_len(f->st, "push", &len), STORE_OK);
	assert_int_equal(len, 4);
	json_decref(wf);
	json_decref(txn);
	json_decref(j.arr);
	json_decref(j2.arr);
}

static void test_device_pushable_rules(void **state)
{
	json_t *dev = parse("{\"platform\": \"apns\", \"push_token\": \"t\", "
			    "\"push_token_valid\": true, \"app_version\": "
			    "\"2023.2\"}");
	json_t *wf = parse("{\"legacy\": false, \"min_app_version\": "
			   "{\"ios\": \"2023.2\", \"android\": \"2030\"}}");

	(void)state;
	assert_int_equal(af_mfa_device_pushable(dev, wf), 1);
	assert_int_equal(af_mfa_device_pushable(dev, NULL), 1);
	assert_int_equal(
		json_object_set_new(dev, "platform", json_string("fcm")), 0);
	/* Android's own minimum applies to an fcm device. */
	assert_int_equal(af_mfa_device_pushable(dev, wf), 0);
	assert_int_equal(json_object_set_new(dev, "app_version",
					     json_string("2030.0.1")),
			 0);
	assert_int_equal(af_mfa_device_pushable(dev, wf), 1);
	assert_int_equal(json_object_set_new(dev, "push_token", json_null()),
			 0);
	assert_int_equal(af_mfa_device_pushable(dev, wf), 0);
	assert_int_equal(af_mfa_device_pushable(NULL, wf), 0);
	json_decref(dev);
	json_decref(wf);
}

static void test_redis_missing_when_required_fails(void **state)
{
	(void)state;
	fail_msg("AF_TEST_REQUIRE_REDIS=1 but AF_TEST_REDIS_URL is not set; "
		 "run under tests/tools/with-redis.sh");
}

/* --- groups
 * ------------------------------------------------------------------- */

/* --- push gating, cancel reasons, device minimums ------------------------ */

/* Enrolls a phone (platform none) for user; its id into id. */
static void add_phone(store_ctx *st, const char *user, char id[AF_MFA_ID_BUF])
{
	json_decref(add_device(st, user, "none", NULL, "2024.1", id));
}

/* A pending txn, with number matching, that devs (JSON array text) answer. */
static json_t *push_txn(store_ctx *st, const char *user, const char *devs,
			int64_t now)
{
	return new_txn(st, user, devs, true, now);
}

static const char *id_of(const json_t *txn)
{
	return json_string_value(json_object_get(txn, "id"));
}

/* The state of txn id at now. */
static void assert_state(store_ctx *st, const char *id, int64_t now,
			 const char *want)
{
	json_t *txn = NULL;

	assert_int_equal(af_mfa_txn_get(st, id, now, &txn), AF_MFA_OK);
	assert_string_equal(json_string_value(json_object_get(txn, "state")),
			    want);
	json_decref(txn);
}

/* Why txn id was cancelled. */
static af_mfa_cancel_why why_of(store_ctx *st, const char *id, int64_t now)
{
	json_t *txn = NULL;
	af_mfa_cancel_why why;

	assert_int_equal(af_mfa_txn_get(st, id, now, &txn), AF_MFA_OK);
	why = af_mfa_txn_cancel_why(txn);
	json_decref(txn);
	return why;
}

static void set_workflow(store_ctx *st, const char *patch)
{
	json_t *p = parse(patch);
	char err[128];

	assert_int_equal(af_mfa_workflow_set(st, p, NULL, err, sizeof(err)),
			 AF_MFA_OK);
	json_decref(p);
}

/* Reports a pending txn of user (device d1): pushes pause from now. */
static void report(store_ctx *st, const char *user, int64_t now)
{
	json_t *txn = push_txn(st, user, "[\"d1\"]", now), *out = NULL;

	assert_int_equal(af_mfa_txn_decide(st, id_of(txn), "d1", "report", NULL,
					   now + 1, &out),
			 AF_MFA_OK);
	json_decref(out);
	json_decref(txn);
}

/* A pause of user that began at since, set to pause_s then. */
static void pause_since(store_ctx *st, const char *user, int64_t since,
			int pause_s)
{
	char key[64], text[64];

	snprintf(key, sizeof(key), "push_pause:%s", user);
	snprintf(text, sizeof(text), "{\"since\": %lld, \"pause_s\": %d}",
		 (long long)since, pause_s);
	assert_int_equal(store_set(st, key, text, strlen(text),
				   (uint64_t)pause_s * 1000, 0),
			 STORE_OK);
}

/* --- the pause and the limit, as administrators see them ------------------ */

static void test_push_state_shows_pause_and_limit_ends(void **state)
{
	struct fixture *f = *state;
	json_t *wf = parse("{\"push_limit\": {\"count\": 2, "
			   "\"period_s\": 600}, \"report_pause_s\": 900}");
	int64_t now = af_now(), paused = -1, limited = -1;
	af_mfa_push_verdict v;
	int i;

	/* Nothing yet: neither. */
	assert_int_equal(
		af_mfa_push_state(f->st, "ann", wf, now, &paused, &limited),
		AF_MFA_OK);
	assert_int_equal(paused, 0);
	assert_int_equal(limited, 0);
	/* Two pushes fit; the third is refused until the period ends. */
	for (i = 0; i < 2; i++) {
		assert_int_equal(af_mfa_push_check(f->st, "ann", wf, now, &v),
				 AF_MFA_OK);
		assert_null(v.why);
	}
	assert_int_equal(
		af_mfa_push_state(f->st, "ann", wf, now + 5, &paused, &limited),
		AF_MFA_OK);
	assert_int_equal(limited, now + 600);
	assert_int_equal(af_mfa_push_check(f->st, "ann", wf, now + 5, &v),
			 AF_MFA_LIMIT);
	assert_string_equal(v.why, "limit");
	assert_int_equal(v.until, now + 600);
	assert_true(v.first);
	/* Only the first refusal of a period is the first. */
	assert_int_equal(af_mfa_push_check(f->st, "ann", wf, now + 6, &v),
			 AF_MFA_LIMIT);
	assert_false(v.first);
	/* The state counts nothing: still two pushes in the period. */
	assert_int_equal(af_mfa_push_state(f->st, "ann", wf, now + 600, &paused,
					   &limited),
			 AF_MFA_OK);
	assert_int_equal(limited, 0);
	/* A report: paused for the report pause from the report. */
	report(f->st, "ann", now);
	assert_int_equal(
		af_mfa_push_state(f->st, "ann", NULL, now, &paused, &limited),
		AF_MFA_OK);
	assert_true(paused >= now + 900 && paused <= af_now() + 900);
	assert_int_equal(af_mfa_push_check(f->st, "ann", wf, now + 10, &v),
			 AF_MFA_LIMIT);
	assert_string_equal(v.why, "paused");
	assert_int_equal(v.until, paused);
	/* An administrator's unlock lifts both. */
	assert_int_equal(af_mfa_push_reset(f->st, "ann"), AF_MFA_OK);
	assert_int_equal(af_mfa_push_state(f->st, "ann", wf, now + 10, &paused,
					   &limited),
			 AF_MFA_OK);
	assert_int_equal(paused, 0);
	assert_int_equal(limited, 0);
	/* Bad arguments. */
	assert_int_equal(af_mfa_push_state(f->st, "bad user", wf, now, &paused,
					   &limited),
			 AF_MFA_INVALID);
	assert_int_equal(
		af_mfa_push_state(f->st, "ann", wf, now, NULL, &limited),
		AF_MFA_INVALID);
	assert_int_equal(af_mfa_push_check(f->st, "ann", wf, now, NULL),
			 AF_MFA_INVALID);
	json_decref(wf);
}

/* A pause set by an earlier version (a word, not a record) still holds. */
static void test_push_state_old_pause_record_holds_until_expiry(void **state)
{
	struct fixture *f = *state;
	int64_t now = af_now(), paused = 0, limited = 0;
	const char *why = NULL;

	assert_int_equal(
		store_set(f->st, "push_pause:bea", "reported", 8, 60000, 0),
		STORE_OK);
	assert_int_equal(
		af_mfa_push_state(f->st, "bea", NULL, now, &paused, &limited),
		AF_MFA_OK);
	assert_true(paused > now + 50 && paused <= now + 61);
	assert_int_equal(af_mfa_push_allowed(f->st, "bea", NULL, &why),
			 AF_MFA_LIMIT);
	assert_string_equal(why, "paused");
}

/* --- workflow changes reach pauses and periods already running ------------ */

static void test_report_pause_off_or_shorter_ends_running_pause(void **state)
{
	struct fixture *f = *state;
	int64_t now = af_now(), paused = 0, limited = 0;
	af_mfa_push_verdict v;
	const char *why = NULL;

	report(f->st, "cai", now);
	assert_int_equal(af_mfa_push_allowed(f->st, "cai", NULL, &why),
			 AF_MFA_LIMIT);
	/* Shorter: the pause ends 60 s after the report, not 900. */
	set_workflow(f->st, "{\"report_pause_s\": 60}");
	assert_int_equal(af_mfa_push_state(f->st, "cai", NULL, now + 30,
					   &paused, &limited),
			 AF_MFA_OK);
	assert_true(paused >= now + 60 && paused <= af_now() + 60);
	assert_int_equal(af_mfa_push_check(f->st, "cai", NULL, now + 70, &v),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_push_reset(f->st, "cai"), AF_MFA_OK);
	/* Off: a running pause ends at once. */
	set_workflow(f->st, "{\"report_pause_s\": 900}");
	report(f->st, "cai", now);
	set_workflow(f->st, "{\"report_pause_s\": 0}");
	assert_int_equal(af_mfa_push_allowed(f->st, "cai", NULL, &why),
			 AF_MFA_OK);
	assert_null(why);
	/*
	 * Longer: a pause that began under 900 s keeps its end (and one
	 * that is over stays over); new reports get the longer pause.
	 */
	set_workflow(f->st, "{\"report_pause_s\": 900}");
	report(f->st, "dan", now);
	set_workflow(f->st, "{\"report_pause_s\": 3600}");
	assert_int_equal(af_mfa_push_state(f->st, "dan", NULL, now + 10,
					   &paused, &limited),
			 AF_MFA_OK);
	assert_true(paused >= now + 900 && paused <= af_now() + 900);
	assert_int_equal(
		af_mfa_push_check(f->st, "dan", NULL, af_now() + 901, &v),
		AF_MFA_OK);
	report(f->st, "eve", now);
	assert_int_equal(
		af_mfa_push_state(f->st, "eve", NULL, now, &paused, &limited),
		AF_MFA_OK);
	assert_true(paused >= now + 3600 && paused <= af_now() + 3600);
}

/*
 * Raised again: a pause that was ended stays ended, and one that was
 * shortened stays short. These pauses began before the changes, which
 * take the clock's time (one begun in the second of a change keeps its
 * length).
 */
static void test_report_pause_raised_again_brings_no_pause_back(void **state)
{
	struct fixture *f = *state;
	int64_t now = af_now(), paused = 0, limited = 0;
	const char *why = NULL;

	pause_since(f->st, "hal", now - 10, 900);
	set_workflow(f->st, "{\"report_pause_s\": 60}");
	set_workflow(f->st, "{\"report_pause_s\": 900}");
	assert_int_equal(
		af_mfa_push_state(f->st, "hal", NULL, now, &paused, &limited),
		AF_MFA_OK);
	assert_int_equal(paused, now - 10 + 60);
	pause_since(f->st, "fay", now - 10, 3600);
	pause_since(f->st, "gus", now - 10, 3600);
	set_workflow(f->st, "{\"report_pause_s\": 60}");
	set_workflow(f->st, "{\"report_pause_s\": 0}");
	set_workflow(f->st, "{\"report_pause_s\": 900}");
	assert_int_equal(
		af_mfa_push_state(f->st, "fay", NULL, now, &paused, &limited),
		AF_MFA_OK);
	assert_int_equal(paused, 0);
	assert_int_equal(af_mfa_push_allowed(f->st, "gus", NULL, &why),
			 AF_MFA_OK);
	/* A report after the changes gets the pause set now. */
	report(f->st, "ida", af_now() + 1);
	assert_int_equal(af_mfa_push_state(f->st, "ida", NULL, af_now() + 2,
					   &paused, &limited),
			 AF_MFA_OK);
	assert_true(paused >= now + 900);
}

static void test_push_limit_change_applies_to_running_period(void **state)
{
	struct fixture *f = *state;
	json_t *day = parse("{\"push_limit\": {\"count\": 2, "
			    "\"period_s\": 86400}, \"report_pause_s\": 900}");
	json_t *more = parse("{\"push_limit\": {\"count\": 3, "
			     "\"period_s\": 86400}, \"report_pause_s\": 900}");
	json_t *short_ = parse("{\"push_limit\": {\"count\": 2, "
			       "\"period_s\": 10}, \"report_pause_s\": 900}");
	int64_t now = af_now();
	af_mfa_push_verdict v;
	const char *why = NULL;
	int i;

	for (i = 0; i < 2; i++)
		assert_int_equal(af_mfa_push_allowed(f->st, "fay", day, &why),
				 AF_MFA_OK);
	/* Refused sign-ins are not pushes: they use up nothing. */
	for (i = 0; i < 3; i++)
		assert_int_equal(af_mfa_push_allowed(f->st, "fay", day, &why),
				 AF_MFA_LIMIT);
	/* A higher count lets the one more through at once, then stops. */
	assert_int_equal(af_mfa_push_allowed(f->st, "fay", more, &why),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_push_allowed(f->st, "fay", more, &why),
			 AF_MFA_LIMIT);
	/* A shorter period ends the day-long one 10 s after it began. */
	assert_int_equal(af_mfa_push_check(f->st, "fay", short_, now + 5, &v),
			 AF_MFA_LIMIT);
	assert_true(v.until >= now + 10 && v.until <= af_now() + 10);
	assert_int_equal(
		af_mfa_push_check(f->st, "fay", short_, af_now() + 11, &v),
		AF_MFA_OK);
	assert_null(v.why);
	json_decref(day);
	json_decref(more);
	json_decref(short_);
}

/*
 * A period shortened by an administrator and lengthened again keeps the
 * shorter end, as a report pause does: the limit that was lifted does
 * not come back.
 */
static void test_push_limit_period_raised_again_keeps_its_end(void **state)
{
	struct fixture *f = *state;
	int64_t now = af_now(), paused = 0, limited = 0;
	char rec[128];

	snprintf(rec, sizeof(rec),
		 "{\"since\": %lld, \"period_s\": 600, \"n\": 3, "
		 "\"refused\": 0}",
		 (long long)(now - 10));
	assert_int_equal(
		store_set(f->st, "push_count:gil", rec, strlen(rec), 600000, 0),
		STORE_OK);
	set_workflow(f->st, "{\"push_limit\": {\"count\": 3, "
			    "\"period_s\": 600}}");
	assert_int_equal(
		af_mfa_push_state(f->st, "gil", NULL, now, &paused, &limited),
		AF_MFA_OK);
	assert_int_equal(limited, now - 10 + 600);
	set_workflow(f->st, "{\"push_limit\": {\"period_s\": 60}}");
	set_workflow(f->st, "{\"push_limit\": {\"period_s\": 600}}");
	assert_int_equal(
		af_mfa_push_state(f->st, "gil", NULL, now, &paused, &limited),
		AF_MFA_OK);
	assert_int_equal(limited, now - 10 + 60);
}

/* --- approvals without the number ----------------------------------------- */

static void test_approve_without_number_decides_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t now = af_now();
	json_t *txn = push_txn(f->st, "gus", "[\"d1\"]", now), *out = NULL;
	char number[16];

	(void)snprintf(
		number, sizeof(number), "%lld",
		(long long)json_integer_value(json_object_get(txn, "number")));
	assert_int_equal(af_mfa_txn_decide(f->st, id_of(txn), "d1", "approve",
					   NULL, now + 1, &out),
			 AF_MFA_INVALID);
	assert_null(out);
	assert_int_equal(af_mfa_txn_decide(f->st, id_of(txn), "d1", "approve",
					   "", now + 1, &out),
			 AF_MFA_INVALID);
	assert_state(f->st, id_of(txn), now + 2, "pending");
	/* The number typed then still approves: no attempt was used. */
	assert_int_equal(af_mfa_txn_decide(f->st, id_of(txn), "d1", "approve",
					   number, now + 3, &out),
			 AF_MFA_OK);
	assert_string_equal(json_string_value(json_object_get(out, "state")),
			    "approved");
	json_decref(out);
	json_decref(txn);
}

/* --- why a transaction was cancelled -------------------------------------- */

static void test_cancel_reason_recorded(void **state)
{
	struct fixture *f = *state;
	char d1[AF_MFA_ID_BUF], devs[64];
	int64_t now = af_now();
	json_t *mine, *admin, *reported, *other, *out = NULL;

	add_phone(f->st, "hal", d1);
	(void)snprintf(devs, sizeof(devs), "[\"%s\"]", d1);
	/* The browser's own Cancel. */
	mine = push_txn(f->st, "hal", devs, now);
	assert_int_equal(af_mfa_txn_decide(f->st, id_of(mine), NULL, "cancel",
					   NULL, now + 1, &out),
			 AF_MFA_OK);
	json_decref(out);
	assert_int_equal(why_of(f->st, id_of(mine), now + 1),
			 AF_MFA_CANCEL_USER);
	/* An administrator ended the user's sign-ins. */
	admin = push_txn(f->st, "hal", devs, now);
	assert_int_equal(af_mfa_txns_cancel_user(f->st, "hal", now + 1),
			 AF_MFA_OK);
	assert_state(f->st, id_of(admin), now + 1, "cancelled");
	assert_int_equal(why_of(f->st, id_of(admin), now + 1),
			 AF_MFA_CANCEL_ADMIN);
	/* Another request was reported: this one stops with it. */
	reported = push_txn(f->st, "hal", devs, now);
	other = push_txn(f->st, "hal", devs, now);
	assert_int_equal(af_mfa_txn_decide(f->st, id_of(reported), d1, "report",
					   NULL, now + 1, &out),
			 AF_MFA_OK);
	json_decref(out);
	assert_int_equal(why_of(f->st, id_of(other), now + 1),
			 AF_MFA_CANCEL_REPORT);
	assert_int_equal(why_of(f->st, id_of(reported), now + 1),
			 AF_MFA_CANCEL_NONE);
	/* A cancel must say why; a decided txn stays decided. */
	assert_int_equal(af_mfa_txn_cancel(f->st, id_of(other),
					   AF_MFA_CANCEL_NONE, now + 1, &out),
			 AF_MFA_INVALID);
	assert_int_equal(af_mfa_txn_cancel(f->st, id_of(other),
					   AF_MFA_CANCEL_ADMIN, now + 1, &out),
			 AF_MFA_DECIDED);
	assert_int_equal(why_of(f->st, id_of(other), now + 1),
			 AF_MFA_CANCEL_REPORT);
	json_decref(mine);
	json_decref(admin);
	json_decref(reported);
	json_decref(other);
}

static void test_device_remove_cancels_txns_it_alone_answers(void **state)
{
	struct fixture *f = *state;
	char d1[AF_MFA_ID_BUF], d2[AF_MFA_ID_BUF], devs[128];
	int64_t now = af_now();
	json_t *alone, *shared, *theirs;

	add_phone(f->st, "ivy", d1);
	add_phone(f->st, "ivy", d2);
	(void)snprintf(devs, sizeof(devs), "[\"%s\"]", d1);
	alone = push_txn(f->st, "ivy", devs, now);
	(void)snprintf(devs, sizeof(devs), "[\"%s\", \"%s\"]", d1, d2);
	shared = push_txn(f->st, "ivy", devs, now);
	(void)snprintf(devs, sizeof(devs), "[\"%s\"]", d2);
	theirs = push_txn(f->st, "ivy", devs, now);
	assert_int_equal(af_mfa_device_remove(f->st, d1), AF_MFA_OK);
	assert_state(f->st, id_of(alone), now + 1, "cancelled");
	assert_int_equal(why_of(f->st, id_of(alone), now + 1),
			 AF_MFA_CANCEL_DEVICE_REMOVED);
	/* d2 may still answer these. */
	assert_state(f->st, id_of(shared), now + 1, "pending");
	assert_state(f->st, id_of(theirs), now + 1, "pending");
	assert_int_equal(af_mfa_device_remove(f->st, d2), AF_MFA_OK);
	assert_int_equal(why_of(f->st, id_of(shared), now + 1),
			 AF_MFA_CANCEL_DEVICE_REMOVED);
	assert_int_equal(why_of(f->st, id_of(theirs), now + 1),
			 AF_MFA_CANCEL_DEVICE_REMOVED);
	json_decref(alone);
	json_decref(shared);
	json_decref(theirs);
}

/*
 * The longest display name a profile may have, of an app or a user: 128
 * four-byte characters.
 */
static void test_txn_new_takes_the_longest_display_name(void **state)
{
	struct fixture *f = *state;
	enum { EMOJI = 4, LONGEST = 128 * EMOJI };
	char name[LONGEST + 2];
	json_t *spec, *txn = NULL, *view;

	for (size_t i = 0; i < LONGEST; i += EMOJI)
		memcpy(name + i, "\xf0\x9f\x98\x80", EMOJI); /* U+1F600 */
	name[LONGEST] = '\0';
	spec = json_pack("{s:s, s:s, s:s, s:s, s:[], s:b}", "user", "kim",
			 "app", "client-1", "app_name", name, "flow", "flow-1",
			 "devices", "number_matching", true);
	assert_non_null(spec);
	assert_int_equal(af_mfa_txn_new(f->st, spec, T0, &txn), AF_MFA_OK);
	assert_string_equal(sget(txn, "app_name"), name);
	json_decref(txn);
	txn = NULL;
	/* The user's full name alike, and the phone's view shows it. */
	assert_int_equal(
		json_object_set_new(spec, "display_name", json_string(name)),
		0);
	assert_int_equal(af_mfa_txn_new(f->st, spec, T0, &txn), AF_MFA_OK);
	view = af_mfa_txn_public(txn, T0);
	assert_string_equal(sget(view, "display_name"), name);
	json_decref(view);
	json_decref(txn);
	txn = NULL;
	/* One byte more is more than a profile can hold. */
	memcpy(name + LONGEST, "x", 2);
	assert_int_equal(
		json_object_set_new(spec, "display_name", json_string(name)),
		0);
	assert_int_equal(af_mfa_txn_new(f->st, spec, T0, &txn), AF_MFA_INVALID);
	assert_int_equal(json_object_del(spec, "display_name"), 0);
	assert_int_equal(
		json_object_set_new(spec, "app_name", json_string(name)), 0);
	assert_int_equal(af_mfa_txn_new(f->st, spec, T0, &txn), AF_MFA_INVALID);
	json_decref(spec);
}

/*
 * A txn made while its only phone was being removed: the removal may have
 * looked for it before it was indexed, so the txn looks again itself.
 */
static void test_txn_recheck_devices_cancels_when_none_left(void **state)
{
	struct fixture *f = *state;
	char d1[AF_MFA_ID_BUF], d2[AF_MFA_ID_BUF], devs[128];
	int64_t now = af_now();
	json_t *txn, *none;

	add_phone(f->st, "jay", d1);
	add_phone(f->st, "jay", d2);
	(void)snprintf(devs, sizeof(devs), "[\"%s\", \"%s\"]", d1, d2);
	txn = push_txn(f->st, "jay", devs, now);
	/* One phone left: it may still answer. */
	assert_int_equal(af_mfa_device_remove(f->st, d1), AF_MFA_OK);
	af_mfa_txn_recheck_devices(f->st, &txn, now);
	assert_string_equal(sget(txn, "state"), "pending");
	/* As if the removal of the last one missed the txn. */
	assert_int_equal(af_mfa_device_remove(f->st, d2), AF_MFA_OK);
	json_decref(txn);
	txn = push_txn(f->st, "jay", devs, now);
	assert_state(f->st, id_of(txn), now + 1, "pending");
	af_mfa_txn_recheck_devices(f->st, &txn, now);
	assert_string_equal(sget(txn, "state"), "cancelled");
	assert_int_equal(why_of(f->st, id_of(txn), now + 1),
			 AF_MFA_CANCEL_DEVICE_REMOVED);
	/* A txn for no device is not the rechecker's. */
	none = push_txn(f->st, "jay", "[]", now);
	af_mfa_txn_recheck_devices(f->st, &none, now);
	assert_state(f->st, id_of(none), now + 1, "pending");
	json_decref(txn);
	json_decref(none);
}

/* --- apps below the minimum version --------------------------------------- */

static void test_device_below_minimum_rules(void **state)
{
	json_t *wf = parse("{\"min_app_version\": {\"ios\": \"2025.1\"}}");
	json_t *ios_old = parse("{\"platform\": \"apns\", \"app_version\": "
				"\"2024.1\"}");
	json_t *ios_new = parse("{\"platform\": \"apns\", \"app_version\": "
				"\"2025.1.1\"}");
	json_t *ios_none = parse("{\"platform\": \"apns\"}");
	json_t *android = parse("{\"platform\": \"fcm\", \"app_version\": "
				"\"1.0\"}");
	json_t *none = parse("{\"platform\": \"none\", \"app_version\": "
			     "\"1.0\"}");

	(void)state;
	assert_int_equal(af_mfa_device_below_minimum(ios_old, wf), 1);
	assert_int_equal(af_mfa_device_below_minimum(ios_new, wf), 0);
	/* A version the app never sent is below any minimum. */
	assert_int_equal(af_mfa_device_below_minimum(ios_none, wf), 1);
	/* No minimum for android; none of them gets pushes at all. */
	assert_int_equal(af_mfa_device_below_minimum(android, wf), 0);
	assert_int_equal(af_mfa_device_below_minimum(none, wf), 0);
	assert_int_equal(af_mfa_device_below_minimum(ios_old, NULL), 0);
	json_decref(wf);
	json_decref(ios_old);
	json_decref(ios_new);
	json_decref(ios_none);
	json_decref(android);
	json_decref(none);
}

#define CASE(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#define STORE_CASES(setup)                                                     \
	CASE(test_workflow_get_unset_returns_defaults, setup),                 \
		CASE(test_workflow_damaged_record_named, setup),               \
		CASE(test_workflow_set_patch_merges_and_persists, setup),      \
		CASE(test_workflow_set_bad_values_refused, setup),             \
		CASE(test_enroll_code_take_once_then_not_found, setup),        \
		CASE(test_enroll_code_new_expires_in_ten_minutes, setup),      \
		CASE(test_enroll_code_first_phone_flag_and_state, setup),      \
		CASE(test_user_forget_clears_pause_and_count, setup),          \
		CASE(test_own_codes_limited_and_forgotten, setup),             \
		CASE(test_enroll_code_concurrent_take_one_wins, setup),        \
		CASE(test_device_add_sixth_refused_limit, setup),              \
		CASE(test_device_add_bad_spec_refused, setup),                 \
		CASE(test_device_half_removed_frees_its_slot, setup),          \
		CASE(test_device_add_stores_public_members_only, setup),       \
		CASE(test_device_add_pending_until_kept, setup),               \
		CASE(test_device_list_hides_totp_secret, setup),               \
		CASE(test_device_remove_clears_index_and_step, setup),         \
		CASE(test_device_add_same_key_refused_until_removed, setup),   \
		CASE(test_device_add_stale_key_entry_taken_over, setup),       \
		CASE(test_device_add_stale_key_race_one_device, setup),        \
		CASE(test_device_update_patch_applied_and_bad_refused, setup), \
		CASE(test_device_token_refused_only_as_queued, setup),         \
		CASE(test_code_check_right_code_accepted_then_replay, setup),  \
		CASE(test_code_check_previous_step_accepted_once, setup),      \
		CASE(test_code_tries_per_user_counted_until_cleared, setup),   \
		CASE(test_code_check_wrong_code_mismatch, setup),              \
		CASE(test_code_check_concurrent_use_one_wins, setup),          \
		CASE(test_txn_new_number_uniform_two_digits, setup),           \
		CASE(test_txn_new_bad_spec_invalid, setup),                    \
		CASE(test_txn_decide_approve_right_number_approved, setup),    \
		CASE(test_txn_decide_wrong_number_failed_missing_refused,      \
		     setup),                                                   \
		CASE(test_txn_decide_deny_then_second_decided, setup),         \
		CASE(test_txn_decide_report_pauses_pushes, setup),             \
		CASE(test_txn_report_pause_set_first, setup),                  \
		CASE(test_txn_report_after_expiry, setup),                     \
		CASE(test_txns_cancel_user_cancels_only_theirs, setup),        \
		CASE(test_txn_decide_device_not_in_txn_forbidden, setup),      \
		CASE(test_txn_clock_behind_never_longer, setup),               \
		CASE(test_txn_expiry_injected_now_expired, setup),             \
		CASE(test_txn_note_expiry_once, setup),                        \
		CASE(test_txn_sweep_tells_each_unanswered_once, setup),        \
		CASE(test_txn_cancel_by_browser_cancelled, setup),             \
		CASE(test_txn_decide_concurrent_one_wins, setup),              \
		CASE(test_txn_public_never_has_number, setup),                 \
		CASE(test_txn_new_ip_and_browser_shown_to_phone, setup),       \
		CASE(test_txn_pending_for_device_excludes_decided_expired,     \
		     setup),                                                   \
		CASE(test_txn_index_drops_expired_on_new, setup),              \
		CASE(test_push_allowed_limit_per_period, setup),               \
		CASE(test_push_unused_given_back, setup),                      \
		CASE(test_push_enqueue_skips_unpushable_devices, setup),       \
		CASE(test_push_state_shows_pause_and_limit_ends, setup),       \
		CASE(test_push_state_old_pause_record_holds_until_expiry,      \
		     setup),                                                   \
		CASE(test_report_pause_off_or_shorter_ends_running_pause,      \
		     setup),                                                   \
		CASE(test_report_pause_raised_again_brings_no_pause_back,      \
		     setup),                                                   \
		CASE(test_push_limit_change_applies_to_running_period, setup), \
		CASE(test_push_limit_period_raised_again_keeps_its_end,        \
		     setup),                                                   \
		CASE(test_approve_without_number_decides_nothing, setup),      \
		CASE(test_cancel_reason_recorded, setup),                      \
		CASE(test_device_remove_cancels_txns_it_alone_answers, setup), \
		CASE(test_txn_recheck_devices_cancels_when_none_left, setup),  \
		CASE(test_txn_new_takes_the_longest_display_name, setup)

/* Per store_smembers(): each member's txn record must be gone. */
static int member_record_gone(const char *member, void *arg)
{
	store_ctx *st = arg;
	store_value v = {NULL, 0};
	char key[AF_MFA__KEY_MAX];

	(void)snprintf(key, sizeof(key), "txn:%s", member);
	assert_int_equal(store_get(st, key, &v), STORE_NOT_FOUND);
	return 0;
}

/*
 * A txn the store took but could not index everywhere (a memory store at
 * its cap, Redis past maxmemory) is taken out again: no flow holds it, so
 * a phone that lists it could answer for nobody. Every cap from too small
 * for the record to big enough for all of it is tried.
 */
static void test_txn_new_half_made_taken_out(void **state)
{
	char a[AF_MFA_ID_BUF], b[AF_MFA_ID_BUF], err[128], key[AF_MFA__KEY_MAX];
	size_t partial = 0;
	uint64_t cap;

	(void)state;
	assert_int_equal(af_mfa__new_id(a), AF_MFA_OK);
	assert_int_equal(af_mfa__new_id(b), AF_MFA_OK);
	for (cap = 64; cap < 16384; cap += 8) {
		store_options so = {.backend = STORE_BACKEND_MEMORY,
				    .max_bytes = cap};
		store_ctx *st = NULL;
		json_t *spec, *txn = NULL;
		af_mfa_status rc;

		assert_int_equal(store_open(&so, &st, err, sizeof(err)),
				 STORE_OK);
		spec = json_pack("{s:s, s:s, s:s, s:s, s:[s,s], s:b}", "user",
				 "alice", "app", "client-1", "app_name",
				 "Qlik Sense", "flow", "flow-1", "devices", a,
				 b, "number_matching", 1);
		assert_non_null(spec);
		rc = af_mfa_txn_new(st, spec, T0, &txn);
		json_decref(spec);
		if (rc == AF_MFA_OK) {
			json_decref(txn);
			store_close(st);
			break;
		}
		assert_null(txn);
		(void)snprintf(key, sizeof(key), "device_txns:%s", a);
		assert_int_equal(
			store_smembers(st, key, member_record_gone, st),
			STORE_OK);
		if (store_ttl(st, key, &(uint64_t){0}) == STORE_OK)
			partial++;
		store_close(st);
	}
	assert_true(cap < 16384);
	/* Some cap let the first device's index in but not the rest. */
	assert_true(partial > 0);
}

/* Ids go on command lines: none may start like an option. */
static void test_new_id_never_starts_with_dash(void **state)
{
	char id[AF_MFA_ID_BUF];
	int i;

	(void)state;
	for (i = 0; i < 2000; i++) {
		assert_int_equal(af_mfa__new_id(id), AF_MFA_OK);
		assert_int_equal(strlen(id), AF_MFA_ID_LEN);
		assert_true(id[0] != '-' && id[0] != '_');
	}
}

/*
 * The record change of a push status alone, on record text: the device's
 * mark changes and nothing else; bad input is refused without output.
 */
static void test_txn_push_mark_text_changes_device_only(void **state)
{
	static const char rec[] =
		"{\"devices\": [\"dev1\", \"dev2\"], \"id\": \"t1\", "
		"\"push\": {\"dev1\": \"queued\", \"dev2\": \"queued\"}, "
		"\"state\": \"pending\"}";
	char *out = (char *)"untouched";
	json_t *got;

	(void)state;
	assert_int_equal(
		af_mfa_txn_push_mark(rec, strlen(rec), "dev1", "sent", &out),
		AF_MFA_OK);
	got = parse(out);
	assert_string_equal(sget(json_object_get(got, "push"), "dev1"), "sent");
	assert_string_equal(sget(json_object_get(got, "push"), "dev2"),
			    "queued");
	assert_string_equal(sget(got, "state"), "pending");
	/* Compact with sorted keys, the text every other writer makes. */
	assert_string_equal(
		out, "{\"devices\":[\"dev1\",\"dev2\"],\"id\":\"t1\",\"push\":"
		     "{\"dev1\":\"sent\",\"dev2\":\"queued\"},\"state\":"
		     "\"pending\"}");
	json_decref(got);
	af_mfa_text_free(out);

	out = (char *)"untouched";
	assert_int_equal(
		af_mfa_txn_push_mark(rec, strlen(rec), "dev3", "sent", &out),
		AF_MFA_FORBIDDEN);
	assert_null(out);
	assert_int_equal(
		af_mfa_txn_push_mark(rec, strlen(rec), "dev1", "lost", &out),
		AF_MFA_INVALID);
	assert_int_equal(
		af_mfa_txn_push_mark(rec, strlen(rec), "de v1", "sent", &out),
		AF_MFA_INVALID);
	assert_int_equal(af_mfa_txn_push_mark("[1]", 3, "dev1", "sent", &out),
			 AF_MFA_STORE);
	assert_int_equal(
		af_mfa_txn_push_mark("{\"id\": 1}", 9, "dev1", "sent", &out),
		AF_MFA_STORE);
	assert_int_equal(af_mfa_txn_push_mark(rec, 10, "dev1", "sent", &out),
			 AF_MFA_STORE);
	assert_null(out);
	assert_int_equal(
		af_mfa_txn_push_mark(rec, strlen(rec), "dev1", "sent", NULL),
		AF_MFA_INVALID);
	af_mfa_text_free(NULL);
}

/*
 * A worker quicker than the marking of its job as queued: "queued" does
 * not overwrite the outcome it recorded.
 */
static void test_txn_push_queued_keeps_outcome(void **state)
{
	static const char rec[] =
		"{\"devices\": [\"dev1\", \"dev2\"], \"id\": \"t1\", "
		"\"push\": {\"dev1\": \"sent\", \"dev2\": \"not_sent\"}, "
		"\"state\": \"pending\"}";
	char *out = NULL, *out2 = NULL;
	json_t *got;

	(void)state;
	assert_int_equal(
		af_mfa_txn_push_mark(rec, strlen(rec), "dev1", "queued", &out),
		AF_MFA_OK);
	assert_int_equal(
		af_mfa_txn_push_mark(out, strlen(out), "dev2", "queued", &out2),
		AF_MFA_OK);
	got = parse(out2);
	assert_string_equal(sget(json_object_get(got, "push"), "dev1"), "sent");
	assert_string_equal(sget(json_object_get(got, "push"), "dev2"),
			    "queued");
	json_decref(got);
	af_mfa_text_free(out);
	af_mfa_text_free(out2);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_strerror_every_status_has_text),
		cmocka_unit_test(test_enroll_code_id_of_typed_code),
		cmocka_unit_test(test_version_at_least_table),
		cmocka_unit_test(test_device_pushable_rules),
		cmocka_unit_test(test_new_id_never_starts_with_dash),
		cmocka_unit_test(test_txn_new_half_made_taken_out),
		cmocka_unit_test(test_txn_push_mark_text_changes_device_only),
		cmocka_unit_test(test_txn_push_queued_keeps_outcome),
		cmocka_unit_test(
			test_code_check_restarted_memory_store_replay_refused),
		cmocka_unit_test(test_device_below_minimum_rules),
	};
	const struct CMUnitTest memory[] = {STORE_CASES(setup_memory)};
	const struct CMUnitTest redis[] = {STORE_CASES(setup_redis)};
	const struct CMUnitTest required[] = {
		cmocka_unit_test(test_redis_missing_when_required_fails),
	};
	const char *url = getenv("AF_TEST_REDIS_URL");
	const char *require = getenv("AF_TEST_REQUIRE_REDIS");
	int failed = 0;

	failed += cmocka_run_group_tests_name("mfa", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("mfa_memory", memory, NULL, NULL);
	if (url != NULL && url[0] != '\0')
		failed += cmocka_run_group_tests_name("mfa_redis", redis, NULL,
						      NULL);
	else if (require != NULL && strcmp(require, "1") == 0)
		failed += cmocka_run_group_tests_name("mfa_redis", required,
						      NULL, NULL);
	else
		(void)fprintf(stderr, "mfa_redis: skipped, "
				      "AF_TEST_REDIS_URL is not set\n");
	return failed != 0;
}
