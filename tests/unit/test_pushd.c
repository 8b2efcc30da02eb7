/*
 * Unit tests of libpushd's pure parts: jobs, payloads, the APNs provider
 * token and the FCM assertion (verified with the public keys), the
 * outcome table, Retry-After, back-off (of pushes and of a failing
 * store), Google's error bodies, and the provider token's reuse through
 * the store.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/config.h"
#include "common/util.h"
#include "pushd_internal.h"

#define TOKEN64 \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char job_json[] =
	"{\"job\":\"j1\",\"txn\":\"t1\",\"device\":\"d1\",\"platform\":"
	"\"apns\",\"push_token\":\"" TOKEN64 "\",\"sandbox\":true,"
	"\"user\":\"alice\",\"app_name\":\"Qlik Sense\",\"expires\":"
	"1900000000}";

struct keys {
	char dir[64];
	char ec[128];
	char rsa[128];
	char sa[128];
	EVP_PKEY *ec_key;
	EVP_PKEY *rsa_key;
};

static void write_pem(const char *path, EVP_PKEY *pk, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL),
			 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* An FCM service-account file around the RSA key. */
static void write_sa(const struct keys *k, mode_t mode)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n;
	json_t *sa;
	FILE *f;

	assert_non_null(b);
	assert_int_equal(PEM_write_bio_PrivateKey(b, k->rsa_key, NULL, NULL, 0,
						  NULL, NULL),
			 1);
	n = BIO_get_mem_data(b, &pem);
	sa = json_pack("{s:s, s:s, s:s%, s:s, s:s}", "type", "service_account",
		       "project_id", "proj-1", "private_key", pem, (size_t)n,
		       "client_email", "pushd@proj-1.iam.example", "token_uri",
		       "https://oauth.example/token");
	assert_non_null(sa);
	f = fopen(k->sa, "w");
	assert_non_null(f);
	assert_int_equal(json_dumpf(sa, f, 0), 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(k->sa, mode), 0);
	json_decref(sa);
	BIO_free(b);
}

static int keys_setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return -1;
	(void)snprintf(k->dir, sizeof(k->dir), "/tmp/af_test_pushd.XXXXXX");
	if (mkdtemp(k->dir) == NULL)
		return -1;
	(void)snprintf(k->ec, sizeof(k->ec), "%s/apns.p8", k->dir);
	(void)snprintf(k->rsa, sizeof(k->rsa), "%s/rsa.pem", k->dir);
	(void)snprintf(k->sa, sizeof(k->sa), "%s/sa.json", k->dir);
	k->ec_key = EVP_EC_gen("P-256");
	k->rsa_key = EVP_RSA_gen(2048);
	if (k->ec_key == NULL || k->rsa_key == NULL)
		return -1;
	write_pem(k->ec, k->ec_key, 0600);
	write_pem(k->rsa, k->rsa_key, 0600);
	write_sa(k, 0600);
	*state = k;
	return 0;
}

static int keys_teardown(void **state)
{
	struct keys *k = *state;

	(void)unlink(k->ec);
	(void)unlink(k->rsa);
	(void)unlink(k->sa);
	(void)rmdir(k->dir);
	EVP_PKEY_free(k->ec_key);
	EVP_PKEY_free(k->rsa_key);
	free(k);
	return 0;
}

/* Decodes one base64url JWT part into a JSON object. */
static json_t *jwt_part(const char *start, size_t len)
{
	uint8_t buf[1024];
	size_t n = 0;

	assert_int_equal(af_b64url_decode(start, len, buf, sizeof(buf), &n), 0);
	return json_loadb((const char *)buf, n, 0, NULL);
}

/* Verifies an ES256 JWS (raw r||s) or RS256 JWS with the public key. */
static int jws_verify(const char *jwt, EVP_PKEY *pk, int es256)
{
	const char *dot2 = strrchr(jwt, '.');
	uint8_t sig[600], der[80];
	unsigned char *p = der;
	size_t siglen = 0;
	ECDSA_SIG *es = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	const uint8_t *use = sig;
	int derlen, ok;

	assert_non_null(dot2);
	assert_int_equal(af_b64url_decode(dot2 + 1, strlen(dot2 + 1), sig,
					  sizeof(sig), &siglen),
			 0);
	if (es256) {
		/* JWS carries r||s; OpenSSL verifies DER. */
		assert_int_equal(siglen, 64);
		es = ECDSA_SIG_new();
		assert_int_equal(ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL),
						BN_bin2bn(sig + 32, 32, NULL)),
				 1);
		derlen = i2d_ECDSA_SIG(es, &p);
		assert_true(derlen > 0);
		use = der;
		siglen = (size_t)derlen;
	}
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
	     EVP_DigestVerify(md, use, siglen, (const unsigned char *)jwt,
			      (size_t)(dot2 - jwt)) == 1;
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return ok;
}

/* ---- jobs and payloads ------------------------------------------------- */

static void test_job_parse_valid_job_all_fields(void **state)
{
	pushd_job j;

	(void)state;
	assert_int_equal(pushd_job_parse(job_json, strlen(job_json), &j),
			 PUSHD_OK);
	assert_string_equal(j.job, "j1");
	assert_string_equal(j.txn, "t1");
	assert_string_equal(j.device, "d1");
	assert_int_equal(j.platform, PUSHD_APNS);
	assert_string_equal(j.push_token, TOKEN64);
	assert_int_equal(j.sandbox, 1);
	assert_string_equal(j.user, "alice");
	assert_string_equal(j.app_name, "Qlik Sense");
	assert_int_equal(j.expires, 1900000000);
}

static void test_job_parse_malformed_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"job\":\"j\"}",
		"{\"job\":\"j\",\"txn\":\"t\",\"device\":\"d\",\"platform\":"
		"\"sms\",\"push_token\":\"x\",\"user\":\"u\",\"app_name\":\"a\","
		"\"expires\":5}",
		"{\"job\":\"j\",\"txn\":\"t\",\"device\":\"d\",\"platform\":"
		"\"fcm\",\"push_token\":\"x\",\"user\":\"u\",\"app_name\":\"a\","
		"\"expires\":\"5\"}",
		"{\"job\":\"j\",\"txn\":\"t\",\"device\":\"d\",\"platform\":"
		"\"fcm\",\"push_token\":\"x\",\"user\":\"u\",\"app_name\":\"a\","
		"\"expires\":5,\"sandbox\":1}",
		"{\"job\":\"\",\"txn\":\"t\",\"device\":\"d\",\"platform\":"
		"\"fcm\",\"push_token\":\"x\",\"user\":\"u\",\"app_name\":\"a\","
		"\"expires\":5}",
		/* A time no txn has, which milliseconds would overflow. */
		"{\"job\":\"j\",\"txn\":\"t\",\"device\":\"d\",\"platform\":"
		"\"fcm\",\"push_token\":\"x\",\"user\":\"u\",\"app_name\":\"a\","
		"\"expires\":9223372036854775807}",
	};
	char big[PUSHD_JOB_MAX + 2];
	pushd_job j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(pushd_job_parse(bad[i], strlen(bad[i]), &j),
				 PUSHD_ERR_PROTOCOL);
	memset(big, ' ', sizeof(big));
	assert_int_equal(pushd_job_parse(big, sizeof(big), &j),
			 PUSHD_ERR_TOO_BIG);
	assert_int_equal(pushd_job_parse(NULL, 0, &j), PUSHD_ERR_ARG);
}

static void test_apns_payload_job_fields_present_without_number(void **state)
{
	char out[PUSHD_APNS_PAYLOAD_MAX + 1];
	size_t len = 0;
	pushd_job j;
	json_t *p, *alert;

	(void)state;
	assert_int_equal(pushd_job_parse(job_json, strlen(job_json), &j),
			 PUSHD_OK);
	assert_int_equal(pushd_apns_payload(&j, out, sizeof(out), &len),
			 PUSHD_OK);
	assert_int_equal(len, strlen(out));
	p = json_loads(out, 0, NULL);
	assert_non_null(p);
	alert = json_object_get(json_object_get(p, "aps"), "alert");
	assert_string_equal(json_string_value(json_object_get(alert, "title")),
			    "Sign-in request");
	assert_string_equal(json_string_value(json_object_get(alert, "body")),
			    "alice is signing in to Qlik Sense");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(p, "aps"), "category")),
			    "AF_SIGNIN");
	assert_string_equal(json_string_value(json_object_get(p, "txn")), "t1");
	assert_string_equal(json_string_value(json_object_get(p, "app")),
			    "Qlik Sense");
	assert_string_equal(json_string_value(json_object_get(p, "user")),
			    "alice");
	assert_int_equal(json_integer_value(json_object_get(p, "exp")),
			 1900000000);
	assert_null(json_object_get(p, "number"));
	json_decref(p);
}

/* The text jansson would make of the payload, for comparison. */
static char *payload_by_jansson(const pushd_job *j)
{
	char body[PUSHD_USER_MAX + PUSHD_APP_MAX + 32];
	json_t *obj;
	char *text;

	(void)snprintf(body, sizeof(body), "%s is signing in to %s", j->user,
		       j->app_name);
	obj = json_pack("{s:{s:{s:s, s:s}, s:s, s:s}, s:s, s:s, s:s, s:I}",
			"aps", "alert", "title", "Sign-in request", "body",
			body, "category", "AF_SIGNIN", "sound", "default",
			"txn", j->txn, "app", j->app_name, "user", j->user,
			"exp", (json_int_t)j->expires);
	assert_non_null(obj);
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return text;
}

/*
 * The hand-written payload is byte for byte what jansson writes, escapes
 * and UTF-8 included; text that is not UTF-8 is refused.
 */
static void test_apns_payload_same_text_as_jansson(void **state)
{
	static const char *const names[] = {
		"Qlik Sense",
		"quote \" backslash \\ slash /",
		"tab\tnewline\nreturn\rback\bfeed\f",
		"\x01\x1f\x7f control",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
		"",
	};
	char out[PUSHD_APNS_PAYLOAD_MAX + 1];
	size_t i, len = 0;
	pushd_job j;
	char *want;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(
			pushd_job_parse(job_json, strlen(job_json), &j),
			PUSHD_OK);
		(void)snprintf(j.app_name, sizeof(j.app_name), "%s", names[i]);
		(void)snprintf(j.user, sizeof(j.user), "u\"%zu", i);
		want = payload_by_jansson(&j);
		assert_int_equal(pushd_apns_payload(&j, out, sizeof(out), &len),
				 PUSHD_OK);
		assert_string_equal(out, want);
		assert_int_equal(len, strlen(want));
		free(want);
	}
	(void)snprintf(j.app_name, sizeof(j.app_name), "%s", "bad \xc3 utf8");
	assert_int_equal(pushd_apns_payload(&j, out, sizeof(out), &len),
			 PUSHD_ERR_ARG);
	(void)snprintf(j.app_name, sizeof(j.app_name), "%s", "\xed\xa0\x80");
	assert_int_equal(pushd_apns_payload(&j, out, sizeof(out), &len),
			 PUSHD_ERR_ARG);
	assert_string_equal(out, "");
}

static void test_apns_payload_over_cap_refused(void **state)
{
	char out[PUSHD_APNS_PAYLOAD_MAX * 4];
	pushd_job j;
	size_t len = 0;

	(void)state;
	assert_int_equal(pushd_job_parse(job_json, strlen(job_json), &j),
			 PUSHD_OK);
	/* Control bytes become \u00XX: six bytes each, twice over. */
	memset(j.app_name, 0x01, PUSHD_APP_MAX);
	j.app_name[PUSHD_APP_MAX] = '\0';
	assert_int_equal(pushd_apns_payload(&j, out, sizeof(out), &len),
			 PUSHD_ERR_TOO_BIG);
	/* A small output buffer is refused the same way. */
	assert_int_equal(pushd_job_parse(job_json, strlen(job_json), &j),
			 PUSHD_OK);
	assert_int_equal(pushd_apns_payload(&j, out, 32, &len),
			 PUSHD_ERR_TOO_BIG);
}

static void test_fcm_message_fields_are_strings(void **state)
{
	char *text = NULL;
	pushd_job j;
	json_t *root, *m, *data, *android;

	(void)state;
	assert_int_equal(pushd_job_parse(job_json, strlen(job_json), &j),
			 PUSHD_OK);
	assert_int_equal(pushd_fcm_message(&j, &text), PUSHD_OK);
	root = json_loads(text, 0, NULL);
	m = json_object_get(root, "message");
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "token")),
			    TOKEN64);
	data = json_object_get(m, "data");
	assert_string_equal(json_string_value(json_object_get(data, "exp")),
			    "1900000000");
	assert_string_equal(json_string_value(json_object_get(data, "txn")),
			    "t1");
	assert_null(json_object_get(data, "number"));
	android = json_object_get(m, "android");
	assert_string_equal(
		json_string_value(json_object_get(android, "priority")),
		"HIGH");
	assert_string_equal(
		json_string_value(json_object_get(android, "collapse_key")),
		"t1");
	free(text);
	json_decref(root);
}

static void test_apns_id_same_job_same_v4_uuid(void **state)
{
	char a[PUSHD_UUID_LEN + 1], b[PUSHD_UUID_LEN + 1],
		c[PUSHD_UUID_LEN + 1];

	(void)state;
	pushd_apns_id("job-1", a);
	pushd_apns_id("job-1", b);
	pushd_apns_id("job-2", c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), PUSHD_UUID_LEN);
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
}

static void test_apns_token_ok_hex_64_to_200(void **state)
{
	char t[202];

	(void)state;
	assert_true(pushd_apns_token_ok(TOKEN64));
	assert_false(pushd_apns_token_ok("abcd"));
	assert_false(pushd_apns_token_ok(TOKEN64 "zz"));
	memset(t, 'a', 200);
	t[200] = '\0';
	assert_true(pushd_apns_token_ok(t));
	t[200] = 'a';
	t[201] = '\0';
	assert_false(pushd_apns_token_ok(t));
	assert_false(pushd_apns_token_ok(NULL));
}

/* ---- the outcome table ------------------------------------------------- */

static void test_classify_apns_every_answer(void **state)
{
	static const struct {
		long status;
		const char *reason;
		pushd_verdict want;
	} t[] = {
		{200, NULL, PUSHD_V_SENT},
		{400, "BadDeviceToken", PUSHD_V_TOKEN_INVALID},
		{400, "BadTopic", PUSHD_V_FAILED},
		{403, "ExpiredProviderToken", PUSHD_V_RENEW},
		{403, "InvalidProviderToken", PUSHD_V_FAILED},
		{410, "Unregistered", PUSHD_V_TOKEN_INVALID},
		{413, "PayloadTooLarge", PUSHD_V_FAILED},
		{429, "TooManyRequests", PUSHD_V_RETRY},
		{429, "TooManyProviderTokenUpdates", PUSHD_V_RETRY},
		{500, "InternalServerError", PUSHD_V_RETRY},
		{503, "ServiceUnavailable", PUSHD_V_RETRY},
		{404, "BadPath", PUSHD_V_FAILED},
		{0, "", PUSHD_V_FAILED},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(pushd_classify_apns(t[i].status, t[i].reason),
				 t[i].want);
}

static void test_classify_fcm_every_answer(void **state)
{
	static const struct {
		long status;
		const char *gstatus, *code;
		pushd_verdict want;
	} t[] = {
		{200, "", "", PUSHD_V_SENT},
		{404, "NOT_FOUND", "UNREGISTERED", PUSHD_V_TOKEN_INVALID},
		{404, "", "UNREGISTERED", PUSHD_V_TOKEN_INVALID},
		{400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", PUSHD_V_FAILED},
		{401, "UNAUTHENTICATED", "", PUSHD_V_RENEW},
		{403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH",
		 PUSHD_V_FAILED},
		{429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", PUSHD_V_RETRY},
		{500, "INTERNAL", "INTERNAL", PUSHD_V_RETRY},
		{503, "UNAVAILABLE", "UNAVAILABLE", PUSHD_V_RETRY},
		{502, "", "", PUSHD_V_FAILED},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(pushd_classify_fcm(t[i].status, t[i].gstatus,
						    t[i].code),
				 t[i].want);
	assert_int_equal(pushd_classify_fcm(404, NULL, NULL), PUSHD_V_FAILED);
	/* A wrong path or project: 404 NOT_FOUND without the FcmError. */
	assert_int_equal(pushd_classify_fcm(404, "NOT_FOUND", NULL),
			 PUSHD_V_FAILED);
}

static void test_classify_curl_connection_errors_retried(void **state)
{
	(void)state;
	assert_int_equal(pushd_classify_curl(CURLE_HTTP2_STREAM),
			 PUSHD_V_RETRY);
	assert_int_equal(pushd_classify_curl(CURLE_COULDNT_CONNECT),
			 PUSHD_V_RETRY);
	assert_int_equal(pushd_classify_curl(CURLE_RECV_ERROR), PUSHD_V_RETRY);
	assert_int_equal(pushd_classify_curl(CURLE_PEER_FAILED_VERIFICATION),
			 PUSHD_V_FAILED);
	assert_int_equal(pushd_classify_curl(CURLE_WRITE_ERROR),
			 PUSHD_V_FAILED);
}

static void test_apns_reason_from_error_body(void **state)
{
	static const char body[] = "{\"reason\":\"Unregistered\","
				   "\"timestamp\":1700000000000}";
	char r[PUSHD_REASON_MAX];

	(void)state;
	pushd_apns_reason(body, strlen(body), r, sizeof(r));
	assert_string_equal(r, "Unregistered");
	pushd_apns_reason("not json", 8, r, sizeof(r));
	assert_string_equal(r, "");
	pushd_apns_reason("{\"reason\":7}", 12, r, sizeof(r));
	assert_string_equal(r, "");
	pushd_apns_reason(NULL, 0, r, sizeof(r));
	assert_string_equal(r, "");
}

static void test_fcm_error_google_body_parsed(void **state)
{
	static const char body[] =
		"{\"error\":{\"code\":404,\"message\":\"Requested entity was "
		"not found.\",\"status\":\"NOT_FOUND\",\"details\":[{\"@type\":"
		"\"type.googleapis.com/google.rpc.BadRequest\"},{\"@type\":"
		"\"type.googleapis.com/google.firebase.fcm.v1.FcmError\","
		"\"errorCode\":\"UNREGISTERED\"}]}}";
	static const char no_details[] =
		"{\"error\":{\"code\":401,\"status\":\"UNAUTHENTICATED\"}}";
	char s[PUSHD_REASON_MAX], c[PUSHD_REASON_MAX];

	(void)state;
	pushd_fcm_error(body, strlen(body), s, sizeof(s), c, sizeof(c));
	assert_string_equal(s, "NOT_FOUND");
	assert_string_equal(c, "UNREGISTERED");
	pushd_fcm_error(no_details, strlen(no_details), s, sizeof(s), c,
			sizeof(c));
	assert_string_equal(s, "UNAUTHENTICATED");
	assert_string_equal(c, "");
	pushd_fcm_error("{\"error\":[]}", 12, s, sizeof(s), c, sizeof(c));
	assert_string_equal(s, "");
	pushd_fcm_error("<html>", 6, s, sizeof(s), c, sizeof(c));
	assert_string_equal(s, "");
	assert_string_equal(c, "");
}

/* ---- retry timing ------------------------------------------------------ */

static void test_retry_after_forms_parsed(void **state)
{
	uint64_t ms = 99;
	/* 1994-11-06T08:49:37Z */
	const int64_t date = 784111777;

	(void)state;
	assert_int_equal(pushd_retry_after_ms("3", 0, &ms), 0);
	assert_int_equal(ms, 3000);
	assert_int_equal(pushd_retry_after_ms(" 10\r\n", 0, &ms), 0);
	assert_int_equal(ms, 10000);
	assert_int_equal(pushd_retry_after_ms("0", 0, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(pushd_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT",
					      date - 7, &ms),
			 0);
	assert_int_equal(ms, 7000);
	/* A date in the past means now. */
	assert_int_equal(pushd_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT",
					      date + 60, &ms),
			 0);
	assert_int_equal(ms, 0);
	assert_int_equal(pushd_retry_after_ms("", 0, &ms), -1);
	assert_int_equal(pushd_retry_after_ms("-1", 0, &ms), -1);
	assert_int_equal(pushd_retry_after_ms("3s", 0, &ms), -1);
	assert_int_equal(pushd_retry_after_ms("86401", 0, &ms), -1);
	assert_int_equal(pushd_retry_after_ms("99999999999999999999", 0, &ms),
			 -1);
	assert_int_equal(pushd_retry_after_ms("tomorrow", 0, &ms), -1);
	assert_int_equal(pushd_retry_after_ms(NULL, 0, &ms), -1);
}

static void test_backoff_bounds_double_to_5s(void **state)
{
	static const uint32_t rnds[] = {0,    1,    199,       200,	  201,
					4999, 5000, 123456789, UINT32_MAX};
	unsigned a;
	size_t i;

	(void)state;
	for (a = 0; a < 40; a++) {
		uint32_t cap = a >= 5 ? 5000 : 200u << a;

		if (cap > 5000)
			cap = 5000;
		for (i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++)
			assert_true(pushd_backoff_ms(a, rnds[i]) <= cap);
		/* The whole range is reachable: jitter, not a fixed wait. */
		assert_int_equal(pushd_backoff_ms(a, cap), cap);
		assert_int_equal(pushd_backoff_ms(a, 0), 0);
	}
	assert_int_equal(pushd_backoff_ms(0, 201), 0);
	assert_int_equal(pushd_backoff_ms(1, 400), 400);
	assert_int_equal(pushd_backoff_ms(4, 3200), 3200);
	assert_int_equal(pushd_backoff_ms(5, 5000), 5000);
}

/* ---- store outages ------------------------------------------------------ */

#define SEC_NS 1000000000ull
/* An arbitrary monotonic start, far from 0. */
#define T0_NS  (1000 * SEC_NS)

static void test_outage_first_failure_logs_warn(void **state)
{
	pushd_outage o = {0};
	uint64_t for_s = 99;

	(void)state;
	assert_int_equal(pushd_outage_step(&o, 1, T0_NS, &for_s),
			 PUSHD_OUTAGE_FIRST);
	assert_int_equal(for_s, 0);
	assert_int_equal(o.delay_ms, PUSHD_OUTAGE_BASE_MS);
	assert_true(o.next_ns == T0_NS + 100 * 1000000ull);
}

static void test_outage_failures_within_60s_quiet_then_still(void **state)
{
	pushd_outage o = {0};
	uint64_t for_s, t = T0_NS;

	(void)state;
	assert_int_equal(pushd_outage_step(&o, 1, t, &for_s),
			 PUSHD_OUTAGE_FIRST);
	/* A failure every 5 s: quiet until a minute has passed. */
	for (t = T0_NS + 5 * SEC_NS; t < T0_NS + 60 * SEC_NS; t += 5 * SEC_NS)
		assert_int_equal(pushd_outage_step(&o, 1, t, &for_s),
				 PUSHD_OUTAGE_QUIET);
	assert_int_equal(pushd_outage_step(&o, 1, T0_NS + 60 * SEC_NS, &for_s),
			 PUSHD_OUTAGE_STILL);
	assert_int_equal(for_s, 60);
	/* The next line is due a minute after that one. */
	assert_int_equal(pushd_outage_step(&o, 1, T0_NS + 119 * SEC_NS, &for_s),
			 PUSHD_OUTAGE_QUIET);
	assert_int_equal(pushd_outage_step(&o, 1, T0_NS + 121 * SEC_NS, &for_s),
			 PUSHD_OUTAGE_STILL);
	assert_int_equal(for_s, 121);
}

static void test_outage_delay_doubles_to_5s_cap(void **state)
{
	static const uint32_t want[] = {100,  200,  400,  800, 1600,
					3200, 5000, 5000, 5000};
	pushd_outage o = {0};
	uint64_t for_s, t = T0_NS;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		(void)pushd_outage_step(&o, 1, t, &for_s);
		assert_int_equal(o.delay_ms, want[i]);
		assert_true(o.next_ns == t + (uint64_t)want[i] * 1000000ull);
		t = o.next_ns;
	}
	/* An outage of a day stays at the cap. */
	for (i = 0; i < 20000; i++)
		(void)pushd_outage_step(&o, 1, t + i * 5 * SEC_NS, &for_s);
	assert_int_equal(o.delay_ms, PUSHD_OUTAGE_MAX_MS);
}

static void test_outage_success_ends_run_and_resets(void **state)
{
	pushd_outage o = {0};
	uint64_t for_s = 99;

	(void)state;
	/* A success with no run going says nothing. */
	assert_int_equal(pushd_outage_step(&o, 0, T0_NS, &for_s),
			 PUSHD_OUTAGE_QUIET);
	assert_int_equal(for_s, 0);
	assert_int_equal(pushd_outage_step(&o, 1, T0_NS, &for_s),
			 PUSHD_OUTAGE_FIRST);
	assert_int_equal(pushd_outage_step(&o, 1, T0_NS + SEC_NS, &for_s),
			 PUSHD_OUTAGE_QUIET);
	assert_int_equal(pushd_outage_step(&o, 0, T0_NS + 42 * SEC_NS, &for_s),
			 PUSHD_OUTAGE_OVER);
	assert_int_equal(for_s, 42);
	assert_int_equal(o.delay_ms, 0);
	assert_true(o.next_ns == 0);
	assert_int_equal(pushd_outage_step(&o, 0, T0_NS + 43 * SEC_NS, &for_s),
			 PUSHD_OUTAGE_QUIET);
	/* The next failure starts a new run: logged, from the base delay. */
	assert_int_equal(pushd_outage_step(&o, 1, T0_NS + 44 * SEC_NS, &for_s),
			 PUSHD_OUTAGE_FIRST);
	assert_int_equal(o.delay_ms, PUSHD_OUTAGE_BASE_MS);
	assert_int_equal(pushd_outage_step(NULL, 1, T0_NS, &for_s),
			 PUSHD_OUTAGE_QUIET);
	assert_int_equal(pushd_outage_step(&o, 1, T0_NS, NULL),
			 PUSHD_OUTAGE_QUIET);
}

/* ---- credentials ------------------------------------------------------- */

static void test_apns_jwt_signed_es256_verifies(void **state)
{
	struct keys *k = *state;
	cjose_jwk_t *jwk = NULL;
	char jwt[PUSHD_JWT_MAX], err[256];
	const char *d1, *d2;
	json_t *h, *c;

	assert_int_equal(pushd_apns_key_load(k->ec, &jwk, err, sizeof(err)),
			 PUSHD_OK);
	assert_int_equal(pushd_apns_jwt(jwk, "ABCDE12345", "KEY1234567",
					1700000000, jwt, sizeof(jwt)),
			 PUSHD_OK);
	d1 = strchr(jwt, '.');
	d2 = strrchr(jwt, '.');
	assert_true(d1 != NULL && d2 != NULL && d1 < d2);
	h = jwt_part(jwt, (size_t)(d1 - jwt));
	c = jwt_part(d1 + 1, (size_t)(d2 - d1 - 1));
	assert_string_equal(json_string_value(json_object_get(h, "alg")),
			    "ES256");
	assert_string_equal(json_string_value(json_object_get(h, "kid")),
			    "KEY1234567");
	assert_string_equal(json_string_value(json_object_get(c, "iss")),
			    "ABCDE12345");
	assert_int_equal(json_integer_value(json_object_get(c, "iat")),
			 1700000000);
	assert_true(jws_verify(jwt, k->ec_key, 1));
	/* A changed claim no longer verifies. */
	jwt[(d1 - jwt) + 3] ^= 1;
	assert_false(jws_verify(jwt, k->ec_key, 1));
	/* Too small an output buffer. */
	assert_int_equal(
		pushd_apns_jwt(jwk, "ABCDE12345", "KEY1234567", 1, jwt, 16),
		PUSHD_ERR_TOO_BIG);
	json_decref(h);
	json_decref(c);
	cjose_jwk_release(jwk);
}

static void test_apns_key_load_bad_files_refused(void **state)
{
	struct keys *k = *state;
	cjose_jwk_t *jwk = NULL;
	char err[256] = "";

	assert_int_equal(pushd_apns_key_load(k->rsa, &jwk, err, sizeof(err)),
			 PUSHD_ERR_CREDENTIAL);
	assert_non_null(strstr(err, "P-256"));
	assert_int_equal(chmod(k->ec, 0644), 0);
	assert_int_equal(pushd_apns_key_load(k->ec, &jwk, err, sizeof(err)),
			 PUSHD_ERR_CREDENTIAL);
	assert_non_null(strstr(err, "0644"));
	assert_int_equal(chmod(k->ec, 0600), 0);
	assert_int_equal(pushd_apns_key_load("/nonexistent/apns.p8", &jwk, err,
					     sizeof(err)),
			 PUSHD_ERR_CREDENTIAL);
	assert_null(jwk);
}

static void test_fcm_assertion_rs256_verifies(void **state)
{
	struct keys *k = *state;
	pushd_fcm_account a;
	char jwt[PUSHD_JWT_MAX], err[256];
	const char *d1, *d2;
	json_t *c;

	assert_int_equal(
		pushd_fcm_account_load(k->sa, NULL, &a, err, sizeof(err)),
		PUSHD_OK);
	assert_string_equal(a.project_id, "proj-1");
	assert_string_equal(a.token_uri, "https://oauth.example/token");
	assert_int_equal(pushd_fcm_assertion(&a, 1700000000, jwt, sizeof(jwt)),
			 PUSHD_OK);
	d1 = strchr(jwt, '.');
	d2 = strrchr(jwt, '.');
	c = jwt_part(d1 + 1, (size_t)(d2 - d1 - 1));
	assert_string_equal(json_string_value(json_object_get(c, "iss")),
			    "pushd@proj-1.iam.example");
	assert_string_equal(json_string_value(json_object_get(c, "aud")),
			    "https://oauth.example/token");
	assert_string_equal(
		json_string_value(json_object_get(c, "scope")),
		"https://www.googleapis.com/auth/firebase.messaging");
	assert_int_equal(json_integer_value(json_object_get(c, "exp")),
			 1700003600);
	assert_true(jws_verify(jwt, k->rsa_key, 0));
	json_decref(c);
	pushd_fcm_account_cleanup(&a);
	/* token_uri from the config wins over the file's. */
	assert_int_equal(pushd_fcm_account_load(k->sa, "https://mock/token", &a,
						err, sizeof(err)),
			 PUSHD_OK);
	assert_string_equal(a.token_uri, "https://mock/token");
	pushd_fcm_account_cleanup(&a);
}

static void test_fcm_account_wide_mode_refused(void **state)
{
	struct keys *k = *state;
	pushd_fcm_account a;
	char err[256] = "";

	write_sa(k, 0640);
	assert_int_equal(
		pushd_fcm_account_load(k->sa, NULL, &a, err, sizeof(err)),
		PUSHD_ERR_CREDENTIAL);
	assert_non_null(strstr(err, "wider than 0600"));
	write_sa(k, 0600);
	/* An EC key where the RSA key belongs. */
	assert_int_equal(chmod(k->ec, 0600), 0);
	assert_int_equal(
		pushd_fcm_account_load(k->ec, NULL, &a, err, sizeof(err)),
		PUSHD_ERR_CREDENTIAL);
}

/* ---- the shared provider token ----------------------------------------- */

static af_config *apns_config(const struct keys *k)
{
	af_config *cfg = malloc(sizeof(*cfg));

	assert_non_null(cfg);
	af_config_defaults(cfg);
	cfg->push_apns = 1;
	(void)snprintf(cfg->apns.team_id, sizeof(cfg->apns.team_id), "%s",
		       "ABCDE12345");
	(void)snprintf(cfg->apns.key_id, sizeof(cfg->apns.key_id), "%s",
		       "KEY1234567");
	(void)snprintf(cfg->apns.key_file, sizeof(cfg->apns.key_file), "%s",
		       k->ec);
	(void)snprintf(cfg->apns.topic, sizeof(cfg->apns.topic), "%s",
		       "com.example.authenticator");
	return cfg;
}

static void test_apns_token_reused_across_contexts_renewed_once(void **state)
{
	struct keys *k = *state;
	store_options so = {.backend = STORE_BACKEND_MEMORY, .prefix = "t:"};
	af_config *cfg = apns_config(k);
	store_ctx *st = NULL;
	log_ctx *lg = log_new(STDERR_FILENO, LOG_LEVEL_ERROR);
	pushd_ctx *a, *b;
	char t1[PUSHD_JWT_MAX], t2[PUSHD_JWT_MAX], t3[PUSHD_JWT_MAX],
		t4[PUSHD_JWT_MAX], err[256];
	store_value v = {NULL, 0};

	assert_non_null(lg);
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	a = pushd_ctx_new(cfg, st, lg, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(pushd_apns_token(a, NULL, t1, sizeof(t1)), PUSHD_OK);
	assert_int_equal(pushd_apns_token(a, NULL, t2, sizeof(t2)), PUSHD_OK);
	assert_string_equal(t1, t2);
	assert_int_equal(atomic_load(&a->metrics.renewals[PUSHD_APNS]), 1);
	assert_int_equal(store_get(st, "apns_jwt:KEY1234567", &v), STORE_OK);
	assert_non_null(strstr((const char *)v.data, t1));
	store_value_free(&v);
	/* A restart (a new context on the same store) mints nothing. */
	b = pushd_ctx_new(cfg, st, lg, err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(pushd_apns_token(b, NULL, t3, sizeof(t3)), PUSHD_OK);
	assert_string_equal(t1, t3);
	assert_int_equal(atomic_load(&b->metrics.renewals[PUSHD_APNS]), 0);
	/* ExpiredProviderToken: one new token, which the other adopts. */
	assert_int_equal(pushd_apns_token(a, t1, t3, sizeof(t3)), PUSHD_OK);
	assert_string_not_equal(t1, t3);
	assert_int_equal(atomic_load(&a->metrics.renewals[PUSHD_APNS]), 2);
	assert_int_equal(pushd_apns_token(b, t1, t4, sizeof(t4)), PUSHD_OK);
	assert_string_equal(t3, t4);
	assert_int_equal(atomic_load(&b->metrics.renewals[PUSHD_APNS]), 0);
	pushd_ctx_free(a);
	pushd_ctx_free(b);
	store_close(st);
	log_free(lg);
	free(cfg);
}

/*
 * A token endpoint that fails: the error is the service's, not the
 * device's (never PUSHD_ERR_PROTOCOL, which marks a device token bad),
 * and the next request waits out a back-off instead of blocking again.
 */
/* A context with FCM on and a token endpoint that is down. */
struct fcm_down {
	af_config *cfg;
	store_ctx *st;
	log_ctx *lg;
	pushd_ctx *ctx;
};

static void fcm_down_open(struct keys *k, struct fcm_down *d)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY, .prefix = "f:"};
	char err[256];

	d->cfg = calloc(1, sizeof(*d->cfg));
	d->st = NULL;
	d->lg = log_new(STDERR_FILENO, LOG_LEVEL_ERROR);
	assert_non_null(d->cfg);
	assert_non_null(d->lg);
	write_sa(k, 0600);
	af_config_defaults(d->cfg);
	d->cfg->push_fcm = 1;
	(void)snprintf(d->cfg->fcm.service_account_file,
		       sizeof(d->cfg->fcm.service_account_file), "%s", k->sa);
	/* Port 1 on loopback: nothing listens, the request fails at once. */
	(void)snprintf(d->cfg->fcm.token_uri, sizeof(d->cfg->fcm.token_uri),
		       "%s", "https://127.0.0.1:1/token");
	assert_int_equal(store_open(&so, &d->st, err, sizeof(err)), STORE_OK);
	d->ctx = pushd_ctx_new(d->cfg, d->st, d->lg, err, sizeof(err));
	assert_non_null(d->ctx);
}

static void fcm_down_close(struct fcm_down *d)
{
	pushd_ctx_free(d->ctx);
	store_close(d->st);
	log_free(d->lg);
	free(d->cfg);
}

static void test_fcm_token_endpoint_down_backs_off(void **state)
{
	struct fcm_down d;
	pushd_ctx *ctx;
	char tok[PUSHD_ACCESS_TOKEN_MAX];
	uint64_t t0;

	fcm_down_open(*state, &d);
	ctx = d.ctx;
	assert_int_equal(pushd_fcm_token(ctx, NULL, tok, sizeof(tok)),
			 PUSHD_ERR_HTTP);
	assert_int_equal(ctx->fcm_token.failures, 1);
	t0 = af_mono_ns();
	assert_int_equal(pushd_fcm_token(ctx, NULL, tok, sizeof(tok)),
			 PUSHD_ERR_HTTP);
	assert_int_equal(ctx->fcm_token.failures, 1);
	assert_true(af_mono_ns() - t0 < 100000000u);
	assert_string_equal(tok, "");
	fcm_down_close(&d);
}

/*
 * Renewing ahead: a token good for longer is left alone (no request); one
 * inside the renewal window is renewed, and when that fails the workers
 * keep the token in hand instead of waiting for the endpoint.
 */
static void test_fcm_renew_ahead_keeps_token_in_hand(void **state)
{
	struct fcm_down d;
	pushd_ctx *ctx;
	char tok[PUSHD_ACCESS_TOKEN_MAX];

	fcm_down_open(*state, &d);
	ctx = d.ctx;
	assert_int_equal(pushd_fcm_renew(NULL), PUSHD_ERR_ARG);

	/* Good for an hour: nothing to do, no request made. */
	(void)snprintf(ctx->fcm_token.token, sizeof(ctx->fcm_token.token), "%s",
		       "held-token");
	ctx->fcm_token.expires_at = af_now() + 3600;
	assert_int_equal(pushd_fcm_renew(ctx), PUSHD_OK);
	assert_int_equal(ctx->fcm_token.failures, 0);

	/* Inside the window: renewed; the endpoint is down, the token kept. */
	ctx->fcm_token.expires_at =
		af_now() + PUSHD_TOKEN_MARGIN_S + PUSHD_TOKEN_AHEAD_S / 2;
	assert_int_equal(pushd_fcm_renew(ctx), PUSHD_OK);
	assert_int_equal(ctx->fcm_token.failures, 1);
	assert_int_equal(pushd_fcm_token(ctx, NULL, tok, sizeof(tok)),
			 PUSHD_OK);
	assert_string_equal(tok, "held-token");
	/* During the back-off a second renewal makes no request either. */
	assert_int_equal(pushd_fcm_renew(ctx), PUSHD_OK);
	assert_int_equal(ctx->fcm_token.failures, 1);

	/* Past the margin the token is not used: no token, no device blame. */
	ctx->fcm_token.expires_at = af_now() + PUSHD_TOKEN_MARGIN_S - 1;
	assert_int_equal(pushd_fcm_token(ctx, NULL, tok, sizeof(tok)),
			 PUSHD_ERR_HTTP);
	assert_string_equal(tok, "");
	fcm_down_close(&d);
}

static void test_strerror_every_status_named(void **state)
{
	(void)state;
#define PUSHD_XX(name, value, text) \
	assert_string_equal(pushd_strerror(PUSHD_##name), text);
	PUSHD_STATUS_MAP(PUSHD_XX)
#undef PUSHD_XX
	assert_non_null(pushd_strerror((pushd_status)-999));
	assert_string_equal(pushd_outcome_name(PUSHD_OUT_TOKEN_INVALID),
			    "token_invalid");
	assert_string_equal(pushd_platform_name(PUSHD_FCM), "fcm");
}

static int collect(const char *text, size_t len, void *arg)
{
	size_t *n = arg;

	(void)text;
	*n += len;
	return 0;
}

static void test_metrics_render_counts_outcomes(void **state)
{
	struct keys *k = *state;
	store_options so = {.backend = STORE_BACKEND_MEMORY, .prefix = "m:"};
	af_config *cfg = apns_config(k);
	store_ctx *st = NULL;
	log_ctx *lg = log_new(STDERR_FILENO, LOG_LEVEL_ERROR);
	pushd_ctx *ctx;
	char err[256];
	size_t n = 0;

	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	ctx = pushd_ctx_new(cfg, st, lg, err, sizeof(err));
	assert_non_null(ctx);
	pushd_metrics_outcome(&ctx->metrics, PUSHD_APNS, PUSHD_OUT_SENT, 40);
	pushd_metrics_outcome(&ctx->metrics, PUSHD_APNS, PUSHD_OUT_SENT, 9000);
	assert_int_equal(
		atomic_load(&ctx->metrics.pushes[PUSHD_APNS][PUSHD_OUT_SENT]),
		2);
	assert_int_equal(atomic_load(&ctx->metrics.lat_count[PUSHD_APNS]), 2);
	assert_int_equal(atomic_load(&ctx->metrics.lat_sum_ms[PUSHD_APNS]),
			 9040);
	/* 40 ms falls in le=0.05; 9 s in le=10. */
	assert_int_equal(atomic_load(&ctx->metrics.lat_hist[PUSHD_APNS][2]), 1);
	assert_int_equal(atomic_load(&ctx->metrics.lat_hist[PUSHD_APNS][9]), 1);
	assert_int_equal(pushd_metrics_render(ctx, collect, &n), PUSHD_OK);
	assert_true(n > 1000);
	assert_int_equal(pushd_metrics_render(ctx, NULL, &n), PUSHD_ERR_ARG);
	assert_int_equal(pushd_healthy(ctx), 0); /* not started */
	pushd_ctx_free(ctx);
	store_close(st);
	log_free(lg);
	free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_parse_valid_job_all_fields),
		cmocka_unit_test(test_job_parse_malformed_refused),
		cmocka_unit_test(
			test_apns_payload_job_fields_present_without_number),
		cmocka_unit_test(test_apns_payload_over_cap_refused),
		cmocka_unit_test(test_apns_payload_same_text_as_jansson),
		cmocka_unit_test(test_fcm_message_fields_are_strings),
		cmocka_unit_test(test_apns_id_same_job_same_v4_uuid),
		cmocka_unit_test(test_apns_token_ok_hex_64_to_200),
		cmocka_unit_test(test_classify_apns_every_answer),
		cmocka_unit_test(test_classify_fcm_every_answer),
		cmocka_unit_test(test_classify_curl_connection_errors_retried),
		cmocka_unit_test(test_apns_reason_from_error_body),
		cmocka_unit_test(test_fcm_error_google_body_parsed),
		cmocka_unit_test(test_retry_after_forms_parsed),
		cmocka_unit_test(test_backoff_bounds_double_to_5s),
		cmocka_unit_test(test_outage_first_failure_logs_warn),
		cmocka_unit_test(
			test_outage_failures_within_60s_quiet_then_still),
		cmocka_unit_test(test_outage_delay_doubles_to_5s_cap),
		cmocka_unit_test(test_outage_success_ends_run_and_resets),
		cmocka_unit_test_setup_teardown(
			test_apns_jwt_signed_es256_verifies, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_apns_key_load_bad_files_refused, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_fcm_assertion_rs256_verifies, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_fcm_account_wide_mode_refused, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_apns_token_reused_across_contexts_renewed_once,
			keys_setup, keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_fcm_token_endpoint_down_backs_off, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_fcm_renew_ahead_keeps_token_in_hand, keys_setup,
			keys_teardown),
		cmocka_unit_test(test_strerror_every_status_named),
		cmocka_unit_test_setup_teardown(
			test_metrics_render_counts_outcomes, keys_setup,
			keys_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
