/*
 * Unit tests of libpushd: jobs, payloads, the APNs provider token and the
 * FCM assertion (verified with the public keys), the outcome table,
 * Retry-After, back-off (of pushes and of a failing store), Google's
 * error bodies and token answers, what the log makes of a service's
 * text, the provider token's reuse through the store, the FCM token
 * cache, and the workers against a mock APNs (tests/mock) that goes
 * silent or answers at length.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/config.h"
#include "common/util.h"
#include "mfa/mfa.h"
#include "pushd_internal.h"

extern char **environ;

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

/* The passphrase of the encrypted keys the tests write. */
#define KEY_PASS "abc"

/*
 * An FCM service-account file around the RSA key, for project, with the
 * key encrypted (PKCS#8, passphrase KEY_PASS) when encrypted is set.
 */
static void write_sa_as(const struct keys *k, mode_t mode, const char *project,
			int encrypted)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n;
	json_t *sa;
	FILE *f;

	assert_non_null(b);
	assert_int_equal(
		PEM_write_bio_PrivateKey(
			b, k->rsa_key, encrypted ? EVP_aes_256_cbc() : NULL,
			encrypted ? (const unsigned char *)KEY_PASS : NULL,
			encrypted ? (int)strlen(KEY_PASS) : 0, NULL, NULL),
		1);
	n = BIO_get_mem_data(b, &pem);
	sa = json_pack("{s:s, s:s, s:s%, s:s, s:s}", "type", "service_account",
		       "project_id", project, "private_key", pem, (size_t)n,
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

/* An FCM service-account file around the RSA key. */
static void write_sa(const struct keys *k, mode_t mode)
{
	write_sa_as(k, mode, "proj-1", 0);
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

/*
 * push.names off: neither payload names the user or the application
 * (they would reach Apple or Google, and an iPhone's lock screen); the
 * phone learns them from the challenge.
 */
static void test_unnamed_payloads_name_nobody(void **state)
{
	char out[PUSHD_APNS_PAYLOAD_MAX + 1], *text = NULL;
	size_t len = 0;
	pushd_job j;
	json_t *p, *alert, *data;

	(void)state;
	assert_int_equal(pushd_job_parse(job_json, strlen(job_json), &j),
			 PUSHD_OK);
	j.unnamed = 1;
	assert_int_equal(pushd_apns_payload(&j, out, sizeof(out), &len),
			 PUSHD_OK);
	assert_null(strstr(out, "alice"));
	assert_null(strstr(out, "Qlik"));
	p = json_loads(out, 0, NULL);
	assert_non_null(p);
	alert = json_object_get(json_object_get(p, "aps"), "alert");
	assert_string_equal(json_string_value(json_object_get(alert, "title")),
			    "Sign-in request");
	assert_string_equal(json_string_value(json_object_get(alert, "body")),
			    "Open the app to answer it");
	assert_string_equal(json_string_value(json_object_get(p, "txn")), "t1");
	assert_null(json_object_get(p, "user"));
	assert_null(json_object_get(p, "app"));
	json_decref(p);
	assert_int_equal(pushd_fcm_message(&j, 1900000000 - 12, &text),
			 PUSHD_OK);
	assert_null(strstr(text, "alice"));
	assert_null(strstr(text, "Qlik"));
	p = json_loads(text, 0, NULL);
	data = json_object_get(json_object_get(p, "message"), "data");
	assert_string_equal(json_string_value(json_object_get(data, "txn")),
			    "t1");
	assert_string_equal(json_string_value(json_object_get(data, "exp")),
			    "1900000000");
	assert_int_equal(json_object_size(data), 2);
	json_decref(p);
	free(text);
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

/* The android ttl of j's FCM message made at now is want. */
static void fcm_ttl_is(const pushd_job *j, int64_t now, const char *want)
{
	char *text = NULL;
	json_t *root, *android;

	assert_int_equal(pushd_fcm_message(j, now, &text), PUSHD_OK);
	root = json_loads(text, 0, NULL);
	android = json_object_get(json_object_get(root, "message"), "android");
	assert_string_equal(json_string_value(json_object_get(android, "ttl")),
			    want);
	free(text);
	json_decref(root);
}

static void test_fcm_message_fields_are_strings(void **state)
{
	char *text = NULL;
	pushd_job j;
	json_t *root, *m, *data, *android;

	(void)state;
	assert_int_equal(pushd_job_parse(job_json, strlen(job_json), &j),
			 PUSHD_OK);
	assert_int_equal(pushd_fcm_message(&j, 1900000000 - 12, &text),
			 PUSHD_OK);
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
	/* Kept for an offline phone only while the challenge lives. */
	fcm_ttl_is(&j, 1900000000 - 12, "12s");
	/* A far expiry: no more than the 28 days FCM takes. */
	fcm_ttl_is(&j, 1900000000 - 365 * 86400, "2419200s");
	/* Sent as it expires (a late retry): the least FCM takes. */
	fcm_ttl_is(&j, 1900000000, "1s");
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
		/* Refused for every push until the token is older. */
		{429, "TooManyProviderTokenUpdates", PUSHD_V_FAILED},
		{400, "DeviceTokenNotForTopic", PUSHD_V_TOKEN_INVALID},
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
		/* The Firebase project's APNs key: no renewal mends that. */
		{401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR",
		 PUSHD_V_FAILED},
		{403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH",
		 PUSHD_V_TOKEN_INVALID},
		{403, "PERMISSION_DENIED", "", PUSHD_V_FAILED},
		{429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", PUSHD_V_RETRY},
		{500, "INTERNAL", "INTERNAL", PUSHD_V_RETRY},
		{503, "UNAVAILABLE", "UNAVAILABLE", PUSHD_V_RETRY},
		/* Google's front ends, before FCM itself answers. */
		{502, "", "", PUSHD_V_RETRY},
		{504, "", "", PUSHD_V_RETRY},
		{501, "", "", PUSHD_V_RETRY},
		{410, "", "", PUSHD_V_FAILED},
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

/* The cause a failed push is counted under: a small, fixed set. */
static void test_failure_cause_of_last_answer(void **state)
{
	static const struct {
		CURLcode cc;
		long status;
		const char *cause;
	} cases[] = {
		{CURLE_OPERATION_TIMEDOUT, 0, "timeout"},
		{CURLE_COULDNT_CONNECT, 0, "connection"},
		{CURLE_PEER_FAILED_VERIFICATION, 0, "connection"},
		{CURLE_OK, 429, "throttled"},
		{CURLE_OK, 500, "service"},
		{CURLE_OK, 503, "service"},
		{CURLE_OK, 401, "credential"},
		{CURLE_OK, 403, "credential"},
		{CURLE_OK, 400, "rejected"},
		{CURLE_OK, 413, "rejected"},
		{CURLE_OK, 200, "unknown"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(pushd_cause_name(pushd_cause_of(
					    cases[i].cc, cases[i].status)),
				    cases[i].cause);
	assert_string_equal(pushd_cause_name(PUSHD_CAUSE_PAUSED), "paused");
	assert_string_equal(pushd_cause_name(PUSHD_CAUSE_CONFIG), "config");
	assert_string_equal(pushd_cause_name(PUSHD_CAUSES), "unknown");
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
	/* Cut short (an answer past what pushd keeps): the reason opens it. */
	pushd_apns_reason("{ \"reason\" : \"BadDeviceToken\", \"pad\": \"xx",
			  41, r, sizeof(r));
	assert_string_equal(r, "BadDeviceToken");
	pushd_apns_reason("{\"pad\": \"x\", \"reason\": \"BadDeviceToken\"", 39,
			  r, sizeof(r));
	assert_string_equal(r, "");
	pushd_apns_reason("{\"reason\":\"Bad Token\", \"x", 25, r, sizeof(r));
	assert_string_equal(r, "");
	pushd_apns_reason("{\"reason\":\"BadDevic", 19, r, sizeof(r));
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

/* Answers about the service as a whole, not about one device. */
static void test_service_refused_by_platform(void **state)
{
	(void)state;
	assert_true(pushd_service_refused(PUSHD_APNS, 503, CURLE_OK));
	assert_true(pushd_service_refused(PUSHD_APNS, 500, CURLE_OK));
	/* Apple's 429: too many pushes to one device token. */
	assert_false(pushd_service_refused(PUSHD_APNS, 429, CURLE_OK));
	assert_false(pushd_service_refused(PUSHD_APNS, 410, CURLE_OK));
	assert_false(pushd_service_refused(PUSHD_APNS, 200, CURLE_OK));
	assert_true(pushd_service_refused(PUSHD_FCM, 429, CURLE_OK));
	assert_true(pushd_service_refused(PUSHD_FCM, 503, CURLE_OK));
	assert_true(pushd_service_refused(PUSHD_FCM, 500, CURLE_OK));
	assert_true(pushd_service_refused(PUSHD_FCM, 502, CURLE_OK));
	assert_true(pushd_service_refused(PUSHD_FCM, 504, CURLE_OK));
	assert_false(pushd_service_refused(PUSHD_FCM, 400, CURLE_OK));
	assert_false(pushd_service_refused(PUSHD_FCM, 404, CURLE_OK));
	assert_true(pushd_service_refused(PUSHD_FCM, 0, CURLE_COULDNT_CONNECT));
	assert_true(
		pushd_service_refused(PUSHD_APNS, 0, CURLE_SSL_CONNECT_ERROR));
	/* A stream that timed out or was reset: that stream's business. */
	assert_false(
		pushd_service_refused(PUSHD_APNS, 0, CURLE_OPERATION_TIMEDOUT));
	assert_false(pushd_service_refused(PUSHD_APNS, 0, CURLE_HTTP2_STREAM));
}

#define MS_NS 1000000ull

/*
 * The pause doubles with each refusal in a row (half of it jitter), takes
 * a longer Retry-After, is capped, never shrinks, and starts over after
 * another answer; the log hears of a new pause once a minute.
 */
static void test_pause_doubles_honours_retry_after_and_caps(void **state)
{
	pushd_pause p;
	uint64_t t0 = 1000000 * MS_NS, u;
	int tell = 0;

	(void)state;
	assert_int_equal(pushd_pause_init(&p), 0);
	assert_int_equal(pushd_pause_until(&p, t0), 0);
	u = pushd_pause_note(&p, t0, 0, 0, &tell);
	assert_int_equal(u, t0 + 100 * MS_NS); /* 200 ms, no jitter */
	assert_true(tell);
	assert_int_equal(pushd_pause_until(&p, t0), u);
	assert_int_equal(pushd_pause_until(&p, u), 0);
	/* The next refusal in a row, after the pause: 400 ms, full jitter. */
	u = pushd_pause_note(&p, t0 + 200 * MS_NS, 0, 200, &tell);
	assert_int_equal(u, t0 + 600 * MS_NS);
	assert_false(tell); /* within the minute */
	assert_int_equal(pushd_pause_count(&p), 2);
	/* Retry-After wins when longer. */
	u = pushd_pause_note(&p, t0 + 1000 * MS_NS, 7000, 0, &tell);
	assert_int_equal(u, t0 + 8000 * MS_NS);
	/* While paused, a shorter wait leaves the end as it is. */
	assert_int_equal(pushd_pause_note(&p, t0 + 1500 * MS_NS, 0, 0, &tell),
			 u);
	assert_int_equal(pushd_pause_count(&p), 3);
	/* A Retry-After of a day pauses for PUSHD_PAUSE_MAX_MS. */
	u = pushd_pause_note(&p, t0 + 9000 * MS_NS, 86400000, 0, &tell);
	assert_int_equal(u, t0 + 9000 * MS_NS +
				    (uint64_t)PUSHD_PAUSE_MAX_MS * MS_NS);
	/* Another answer: the back-off starts over; a minute on, told. */
	pushd_pause_clear(&p);
	u = pushd_pause_note(&p, t0 + 100000 * MS_NS, 0, 0, &tell);
	assert_int_equal(u, t0 + 100100 * MS_NS);
	assert_true(tell);
	assert_int_equal(pushd_pause_count(&p), 5);
	/* It grows no further than PUSHD_BACKOFF_MAX_MS. */
	for (int i = 0; i < 40; i++)
		u = pushd_pause_note(&p, u, 0, UINT32_MAX, &tell);
	assert_int_equal(
		pushd_pause_note(&p, u, 0, PUSHD_BACKOFF_MAX_MS / 2, &tell) - u,
		(uint64_t)PUSHD_BACKOFF_MAX_MS * MS_NS);
	pushd_pause_destroy(&p);
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

/* Writes text as the service-account file; loading it fails with want. */
static void sa_refused(const struct keys *k, const char *text, const char *want)
{
	pushd_fcm_account a;
	char err[256] = "";
	FILE *f = fopen(k->sa, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(k->sa, 0600), 0);
	assert_int_equal(
		pushd_fcm_account_load(k->sa, NULL, &a, err, sizeof(err)),
		PUSHD_ERR_CREDENTIAL);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", err, want);
}

/*
 * A file cut short, a token_uri with no host, a key of another kind or
 * an address that is none: refused, saying where and why.
 */
static void test_fcm_account_damaged_says_where(void **state)
{
	struct keys *k = *state;

	sa_refused(k, "{\"type\": \"service_account\",\n\"project_id\"",
		   "line 2, column");
	sa_refused(k,
		   "{\"client_email\": \"a@b.example\", \"project_id\": "
		   "\"proj-1\", \"token_uri\": \"https://:8443/token\"}",
		   "token_uri: ");
	sa_refused(k, "{\"type\": \"authorized_user\"}", "service_account");
	sa_refused(k,
		   "{\"client_email\": \"not-an-email\", \"project_id\": "
		   "\"proj-1\"}",
		   "client_email is not an address");
}

/*
 * Runs fn(arg) with stderr going to a temporary file: what it wrote there
 * (malloc'd, NUL-terminated; "" when nothing).
 */
static char *stderr_of(void (*fn)(void *), void *arg)
{
	char path[] = "/tmp/af_test_pushd_err.XXXXXX";
	char *text = calloc(1, 4096);
	int fd = mkstemp(path), saved;
	ssize_t n;

	assert_non_null(text);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	(void)fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	fn(arg);
	(void)fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	(void)close(saved);
	n = pread(fd, text, 4095, 0);
	assert_true(n >= 0);
	(void)close(fd);
	return text;
}

struct key_load {
	const char *path;
	int fcm;
	pushd_status rc;
	char err[512];
};

static void key_load(void *arg)
{
	struct key_load *l = arg;
	cjose_jwk_t *jwk = NULL;
	pushd_fcm_account a;

	if (l->fcm) {
		l->rc = pushd_fcm_account_load(l->path, NULL, &a, l->err,
					       sizeof(l->err));
		if (l->rc == PUSHD_OK)
			pushd_fcm_account_cleanup(&a);
	} else {
		l->rc = pushd_apns_key_load(l->path, &jwk, l->err,
					    sizeof(l->err));
		cjose_jwk_release(jwk);
	}
}

/* Loads the APNs key (fcm 0) or service account (fcm 1) at path. */
static void load_quietly(struct key_load *l, const char *path, int fcm)
{
	char *said;

	memset(l, 0, sizeof(*l));
	l->path = path;
	l->fcm = fcm;
	said = stderr_of(key_load, l);
	/* No passphrase prompt, nor any other line of OpenSSL's own. */
	assert_string_equal(said, "");
	free(said);
}

/*
 * An encrypted key (PKCS#8 or OpenSSL's traditional form) is refused in
 * one line that says so, without OpenSSL asking for its passphrase.
 */
static void test_apns_key_load_encrypted_refused_without_prompt(void **state)
{
	struct keys *k = *state;
	struct key_load l;
	FILE *f;
	BIO *b;

	write_pem(k->ec, k->ec_key, 0600);
	load_quietly(&l, k->ec, 0);
	assert_int_equal(l.rc, PUSHD_OK);
	f = fopen(k->ec, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k->ec_key, EVP_aes_256_cbc(),
					      (const unsigned char *)KEY_PASS,
					      (int)strlen(KEY_PASS), NULL,
					      NULL),
			 1);
	assert_int_equal(fclose(f), 0);
	load_quietly(&l, k->ec, 0);
	assert_int_equal(l.rc, PUSHD_ERR_CREDENTIAL);
	assert_non_null(strstr(l.err, "push.apns.key_file: "));
	assert_non_null(strstr(l.err, k->ec));
	assert_non_null(strstr(l.err, ": an encrypted private key; give an "
				      "unencrypted PKCS#8 key"));
	b = BIO_new_file(k->ec, "w");
	assert_non_null(b);
	assert_int_equal(PEM_write_bio_PrivateKey_traditional(
				 b, k->ec_key, EVP_aes_256_cbc(),
				 (const unsigned char *)KEY_PASS,
				 (int)strlen(KEY_PASS), NULL, NULL),
			 1);
	BIO_free(b);
	load_quietly(&l, k->ec, 0);
	assert_int_equal(l.rc, PUSHD_ERR_CREDENTIAL);
	assert_non_null(strstr(l.err, "an encrypted private key"));
	/* A file that holds no key at all is still called that. */
	f = fopen(k->ec, "w");
	assert_non_null(f);
	assert_int_equal(fputs("not a key\n", f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	load_quietly(&l, k->ec, 0);
	assert_int_equal(l.rc, PUSHD_ERR_CREDENTIAL);
	assert_non_null(strstr(l.err, "not a PEM private key"));
	write_pem(k->ec, k->ec_key, 0600);
}

static void test_fcm_account_encrypted_key_refused_without_prompt(void **state)
{
	struct keys *k = *state;
	struct key_load l;

	write_sa_as(k, 0600, "proj-1", 1);
	load_quietly(&l, k->sa, 1);
	assert_int_equal(l.rc, PUSHD_ERR_CREDENTIAL);
	assert_non_null(strstr(l.err, "push.fcm.service_account_file: "));
	assert_non_null(strstr(l.err, k->sa));
	assert_non_null(strstr(l.err, "private_key: an encrypted private key; "
				      "give an unencrypted PKCS#8 key"));
	write_sa(k, 0600);
	load_quietly(&l, k->sa, 1);
	assert_int_equal(l.rc, PUSHD_OK);
}

/*
 * The project id goes into the send URL's path: only Google's own forms
 * pass (a-z 0-9 - and the older "domain:project"), nothing that could
 * leave the path segment or the request line.
 */
static void test_fcm_account_project_id_checked(void **state)
{
	static const char *const bad[] = {
		"a b/../x?y#z\r\nX-Evil: 1",
		"proj/../other",
		"proj?x=1",
		"proj#x",
		"proj%2f",
		"Proj-1",
		"-proj",
		".proj",
		":proj",
		"proj 1",
		"proj\n",
		"",
	};
	static const char *const good[] = {
		"proj-1",
		"my-project-123456",
		"example.com:my-project",
		"1proj",
		"a",
	};
	struct keys *k = *state;
	char id[PUSHD_PROJECT_ID_MAX + 2];
	pushd_fcm_account a;
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_sa_as(k, 0600, bad[i], 0);
		assert_int_equal(pushd_fcm_account_load(k->sa, NULL, &a, err,
							sizeof(err)),
				 PUSHD_ERR_CREDENTIAL);
		assert_non_null(strstr(err, k->sa));
		assert_non_null(strstr(err, "project_id must be"));
		/* One line, with nothing of the id in it. */
		assert_null(strchr(err, '\n'));
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		write_sa_as(k, 0600, good[i], 0);
		assert_int_equal(pushd_fcm_account_load(k->sa, NULL, &a, err,
							sizeof(err)),
				 PUSHD_OK);
		assert_string_equal(a.project_id, good[i]);
		pushd_fcm_account_cleanup(&a);
	}
	/* 128 bytes pass, 129 do not. */
	memset(id, 'a', sizeof(id));
	id[PUSHD_PROJECT_ID_MAX] = '\0';
	write_sa_as(k, 0600, id, 0);
	assert_int_equal(
		pushd_fcm_account_load(k->sa, NULL, &a, err, sizeof(err)),
		PUSHD_OK);
	assert_string_equal(a.project_id, id);
	pushd_fcm_account_cleanup(&a);
	id[PUSHD_PROJECT_ID_MAX] = 'a';
	id[PUSHD_PROJECT_ID_MAX + 1] = '\0';
	write_sa_as(k, 0600, id, 0);
	assert_int_equal(
		pushd_fcm_account_load(k->sa, NULL, &a, err, sizeof(err)),
		PUSHD_ERR_CREDENTIAL);
	assert_non_null(strstr(err, "project_id must be"));
	write_sa(k, 0600);
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
		t4[PUSHD_JWT_MAX], err[256], name[STORE_KEY_MAX];
	store_value v = {NULL, 0};

	assert_non_null(lg);
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	a = pushd_ctx_new(cfg, st, lg, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(pushd_apns_token(a, NULL, t1, sizeof(t1)), PUSHD_OK);
	assert_int_equal(pushd_apns_token(a, NULL, t2, sizeof(t2)), PUSHD_OK);
	assert_string_equal(t1, t2);
	assert_int_equal(atomic_load(&a->metrics.renewals[PUSHD_APNS]), 1);
	/* Named by team, key id and key. */
	assert_int_equal(strncmp(a->apns_shared, "ABCDE12345:KEY1234567:", 22),
			 0);
	assert_int_equal(strlen(a->apns_shared), 22 + 16);
	(void)snprintf(name, sizeof(name), "apns_jwt:%s", a->apns_shared);
	assert_int_equal(store_get(st, name, &v), STORE_OK);
	assert_non_null(strstr((const char *)v.data, t1));
	store_value_free(&v);
	/* A restart (a new context on the same store) mints nothing. */
	b = pushd_ctx_new(cfg, st, lg, err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(pushd_apns_token(b, NULL, t3, sizeof(t3)), PUSHD_OK);
	assert_string_equal(t1, t3);
	assert_int_equal(atomic_load(&b->metrics.renewals[PUSHD_APNS]), 0);
	/* ExpiredProviderToken for one old enough to replace: one new
	 * token, which the other adopts. */
	a->jwt.iat -= (int64_t)PUSHD_JWT_MINT_GAP_S;
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

/* Moves the iat of the provider token the store shares by delta. */
static void shared_jwt_shift(store_ctx *st, const char *name, int64_t delta)
{
	store_value v = {NULL, 0};
	json_t *o;
	char *text;

	assert_int_equal(store_get(st, name, &v), STORE_OK);
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_non_null(o);
	assert_int_equal(
		json_object_set_new(
			o, "iat",
			json_integer(
				json_integer_value(json_object_get(o, "iat")) +
				delta)),
		0);
	text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	assert_int_equal(store_set(st, name, text, strlen(text), 60000, 0),
			 STORE_OK);
	free(text);
	json_decref(o);
}

/*
 * A restart with a corrected team id does not take the token made for the
 * wrong one: Apple refused that token, so a new one is made at once.
 */
static void test_apns_token_of_another_team_not_reused(void **state)
{
	struct keys *k = *state;
	store_options so = {.backend = STORE_BACKEND_MEMORY, .prefix = "m:"};
	af_config *cfg = apns_config(k);
	store_ctx *st = NULL;
	log_ctx *lg = log_new(STDERR_FILENO, LOG_LEVEL_ERROR);
	pushd_ctx *a, *b;
	char t1[PUSHD_JWT_MAX], t2[PUSHD_JWT_MAX], err[256], claims[256];
	const char *dot, *end;
	size_t n = 0;

	assert_non_null(lg);
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	a = pushd_ctx_new(cfg, st, lg, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(pushd_apns_token(a, NULL, t1, sizeof(t1)), PUSHD_OK);
	(void)snprintf(cfg->apns.team_id, sizeof(cfg->apns.team_id), "%s",
		       "FGHIJ67890");
	b = pushd_ctx_new(cfg, st, lg, err, sizeof(err));
	assert_non_null(b);
	/*
	 * One host and one pid (as replicas running as pid 1 have), two
	 * nodes: their consumer names, which tell leases apart, differ.
	 */
	assert_string_not_equal(a->node, b->node);
	assert_int_equal(strncmp(a->node, b->node, strlen(a->node) - 8), 0);
	assert_string_not_equal(a->apns_shared, b->apns_shared);
	assert_int_equal(pushd_apns_token(b, NULL, t2, sizeof(t2)), PUSHD_OK);
	assert_string_not_equal(t1, t2);
	assert_int_equal(atomic_load(&b->metrics.renewals[PUSHD_APNS]), 1);
	/* The new token names the new team. */
	dot = strchr(t2, '.');
	assert_non_null(dot);
	end = strchr(dot + 1, '.');
	assert_non_null(end);
	assert_int_equal(af_b64url_decode(dot + 1, (size_t)(end - dot - 1),
					  (uint8_t *)claims, sizeof(claims) - 1,
					  &n),
			 0);
	claims[n] = '\0';
	assert_non_null(strstr(claims, "\"iss\":\"FGHIJ67890\""));
	pushd_ctx_free(a);
	pushd_ctx_free(b);
	store_close(st);
	log_free(lg);
	free(cfg);
}

/*
 * APNs calls a token expired sooner than Apple lets one be replaced (20
 * minutes): no new token is made, since Apple would refuse it
 * (TooManyProviderTokenUpdates) and a token that young expires only to a
 * wrong clock; one old enough is replaced, once.
 */
static void test_apns_token_refused_young_not_replaced(void **state)
{
	struct keys *k = *state;
	store_options so = {.backend = STORE_BACKEND_MEMORY, .prefix = "r:"};
	af_config *cfg = apns_config(k);
	store_ctx *st = NULL;
	log_ctx *lg = log_new(STDERR_FILENO, LOG_LEVEL_ERROR);
	pushd_ctx *a;
	char t1[PUSHD_JWT_MAX], t2[PUSHD_JWT_MAX], t3[PUSHD_JWT_MAX], err[256];
	char name[STORE_KEY_MAX];

	assert_non_null(lg);
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	a = pushd_ctx_new(cfg, st, lg, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(pushd_apns_token(a, NULL, t1, sizeof(t1)), PUSHD_OK);
	assert_int_equal(pushd_apns_token(a, t1, t2, sizeof(t2)),
			 PUSHD_ERR_STATE);
	assert_int_equal(pushd_apns_token(a, t1, t2, sizeof(t2)),
			 PUSHD_ERR_STATE);
	assert_int_equal(atomic_load(&a->metrics.renewals[PUSHD_APNS]), 1);
	/* The token in hand is still what the pushes carry. */
	assert_int_equal(pushd_apns_token(a, NULL, t2, sizeof(t2)), PUSHD_OK);
	assert_string_equal(t1, t2);
	/* Twenty minutes on, a refusal gets a new token. */
	a->jwt.iat -= (int64_t)PUSHD_JWT_MINT_GAP_S;
	assert_int_equal(pushd_apns_token(a, t1, t2, sizeof(t2)), PUSHD_OK);
	assert_string_not_equal(t1, t2);
	assert_int_equal(atomic_load(&a->metrics.renewals[PUSHD_APNS]), 2);
	/* And that one, refused at once, is not replaced either. */
	assert_int_equal(pushd_apns_token(a, t2, t3, sizeof(t3)),
			 PUSHD_ERR_STATE);
	assert_int_equal(atomic_load(&a->metrics.renewals[PUSHD_APNS]), 2);
	/*
	 * Unless it was made while the clock ran an hour ahead, which NTP
	 * then set back: used until Apple refuses it (this clock may be the
	 * one behind, and a new token would be refused), then replaced at
	 * once, as Apple refuses it for that hour.
	 */
	(void)snprintf(name, sizeof(name), "apns_jwt:%s", a->apns_shared);
	a->jwt.iat += 3600;
	shared_jwt_shift(st, name, 3600);
	assert_int_equal(pushd_apns_token(a, NULL, t3, sizeof(t3)), PUSHD_OK);
	assert_string_equal(t2, t3);
	assert_int_equal(pushd_apns_token(a, t2, t3, sizeof(t3)), PUSHD_OK);
	assert_string_not_equal(t2, t3);
	assert_int_equal(atomic_load(&a->metrics.renewals[PUSHD_APNS]), 3);
	assert_true(a->jwt.iat <= af_now());
	pushd_ctx_free(a);
	store_close(st);
	log_free(lg);
	free(cfg);
}

/* A CA file without a certificate (here: the key) is refused up front. */
static void test_check_credentials_ca_file_needs_a_certificate(void **state)
{
	struct keys *k = *state;
	af_config *cfg = apns_config(k);
	char err[256];

	assert_int_equal(pushd_check_credentials(cfg, err, sizeof(err)),
			 PUSHD_OK);
	(void)snprintf(cfg->apns.ca_file, sizeof(cfg->apns.ca_file), "%s",
		       k->ec);
	assert_int_equal(pushd_check_credentials(cfg, err, sizeof(err)),
			 PUSHD_ERR_CONFIG);
	assert_non_null(strstr(err, "push.apns.ca_file"));
	assert_non_null(strstr(err, "holds no PEM certificate"));
	free(cfg);
}

/*
 * "pushd --check-config" refuses what the start refuses, store.url's form
 * included (store_open() refuses a redis URL with port 0).
 */
static void test_check_config_store_url_form_refused(void **state)
{
	struct keys *k = *state;
	af_config *cfg = apns_config(k);
	char err[512];

	cfg->store_backend = STORE_BACKEND_REDIS;
	(void)snprintf(cfg->store_url, sizeof(cfg->store_url), "%s",
		       "redis://127.0.0.1:6379/0");
	assert_int_equal(pushd_check_config(cfg, err, sizeof(err)), PUSHD_OK);
	(void)snprintf(cfg->store_url, sizeof(cfg->store_url), "%s",
		       "redis://127.0.0.1:0");
	assert_int_equal(pushd_check_config(cfg, err, sizeof(err)),
			 PUSHD_ERR_CONFIG);
	assert_non_null(strstr(err, "store.url: "));
	(void)snprintf(cfg->store_url, sizeof(cfg->store_url), "%s",
		       "http://127.0.0.1:6379");
	assert_int_equal(pushd_check_config(cfg, err, sizeof(err)),
			 PUSHD_ERR_CONFIG);
	assert_non_null(strstr(err, "store.url: "));
	/* The other refusals of the start, as before. */
	cfg->store_backend = STORE_BACKEND_MEMORY;
	assert_int_equal(pushd_check_config(cfg, err, sizeof(err)),
			 PUSHD_ERR_CONFIG);
	assert_non_null(strstr(err, "store.backend: must be \"redis\""));
	cfg->store_backend = STORE_BACKEND_REDIS;
	(void)snprintf(cfg->store_url, sizeof(cfg->store_url), "%s",
		       "redis://127.0.0.1:6379/0");
	cfg->push_apns = 0;
	assert_int_equal(pushd_check_config(cfg, err, sizeof(err)),
			 PUSHD_ERR_CONFIG);
	assert_string_equal(err, "no push.apns or push.fcm section: nothing "
				 "to send pushes with");
	cfg->push_apns = 1;
	assert_int_equal(chmod(k->ec, 0644), 0);
	assert_int_equal(pushd_check_config(cfg, err, sizeof(err)),
			 PUSHD_ERR_CREDENTIAL);
	assert_non_null(strstr(err, "push.apns.key_file"));
	assert_int_equal(chmod(k->ec, 0600), 0);
	free(cfg);
}

struct listen_try {
	pushd_ctx *ctx;
	pushd_status rc;
	char err[256];
};

static void listen_try(void *arg)
{
	struct listen_try *t = arg;

	t->rc = pushd_listen(t->ctx, t->err, sizeof(t->err));
}

/*
 * push.listen on a port in use: pushd_listen() fails with its own reason,
 * and libmicrohttpd's message ("Failed to bind to port ...") goes to the
 * log as a JSON line at debug level, never raw to stderr.
 */
static void test_listen_port_in_use_mhd_quiet_on_stderr(void **state)
{
	struct keys *k = *state;
	store_options so = {.backend = STORE_BACKEND_MEMORY, .prefix = "l:"};
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	af_config *cfg = apns_config(k);
	struct listen_try t;
	store_ctx *st = NULL;
	log_ctx *lg;
	char path[] = "/tmp/af_test_pushd_log.XXXXXX", port[16], why[128];
	char *said, *logged = calloc(1, 65536);
	int fd = socket(AF_INET, SOCK_STREAM, 0), lfd = mkstemp(path);

	assert_non_null(logged);
	assert_true(fd >= 0);
	assert_true(lfd >= 0);
	assert_int_equal(unlink(path), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	(void)snprintf(cfg->push_listen_address,
		       sizeof(cfg->push_listen_address), "%s", "127.0.0.1");
	cfg->push_listen_port = ntohs(sin.sin_port);
	lg = log_new(lfd, LOG_LEVEL_DEBUG);
	assert_non_null(lg);
	assert_int_equal(store_open(&so, &st, t.err, sizeof(t.err)), STORE_OK);
	memset(&t, 0, sizeof(t));
	t.ctx = pushd_ctx_new(cfg, st, lg, t.err, sizeof(t.err));
	assert_non_null(t.ctx);
	said = stderr_of(listen_try, &t);
	assert_int_equal(t.rc, PUSHD_ERR_HTTP);
	assert_string_equal(said, "");
	(void)snprintf(port, sizeof(port), "port %u",
		       (unsigned)cfg->push_listen_port);
	assert_non_null(strstr(t.err, "push.listen: "));
	assert_non_null(strstr(t.err, port));
	af_errno_text(EADDRINUSE, why, sizeof(why));
	assert_non_null(strstr(t.err, why));
	assert_true(pread(lfd, logged, 65535, 0) > 0);
	assert_non_null(strstr(logged, "\"http_server\""));
	/* Set first, the logger hears all of it (libmicrohttpd says so). */
	assert_null(strstr(logged, "not the first option"));
	pushd_ctx_free(t.ctx);
	store_close(st);
	log_free(lg);
	free(said);
	free(logged);
	(void)close(lfd);
	(void)close(fd);
	free(cfg);
}

/* A context with FCM on and a token endpoint that is down. */
struct fcm_down {
	af_config *cfg;
	store_ctx *st;
	log_ctx *lg;
	pushd_ctx *ctx;
};

/* The same with the token endpoint at uri. */
static void fcm_ctx_open(struct keys *k, struct fcm_down *d, const char *uri)
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
	(void)snprintf(d->cfg->fcm.token_uri, sizeof(d->cfg->fcm.token_uri),
		       "%s", uri);
	assert_int_equal(store_open(&so, &d->st, err, sizeof(err)), STORE_OK);
	d->ctx = pushd_ctx_new(d->cfg, d->st, d->lg, err, sizeof(err));
	assert_non_null(d->ctx);
}

static void fcm_down_open(struct keys *k, struct fcm_down *d)
{
	/* Port 1 on loopback: nothing listens, the request fails at once. */
	fcm_ctx_open(k, d, "https://127.0.0.1:1/token");
}

static void fcm_down_close(struct fcm_down *d)
{
	pushd_ctx_free(d->ctx);
	store_close(d->st);
	log_free(d->lg);
	free(d->cfg);
}

/*
 * A token endpoint that fails: the error is the service's, not the
 * device's (never PUSHD_ERR_PROTOCOL, which marks a device token bad),
 * and the next request waits out a back-off instead of blocking again.
 */
static void test_fcm_token_endpoint_down_backs_off(void **state)
{
	struct fcm_down d;
	pushd_ctx *ctx;
	char tok[PUSHD_ACCESS_TOKEN_MAX];
	uint64_t t0;

	fcm_down_open(*state, &d);
	ctx = d.ctx;
	assert_int_equal(pushd_fcm_renew(ctx), PUSHD_ERR_HTTP);
	assert_int_equal(ctx->fcm_token.failures, 1);
	t0 = af_mono_ns();
	assert_int_equal(pushd_fcm_renew(ctx), PUSHD_ERR_HTTP);
	assert_int_equal(ctx->fcm_token.failures, 1);
	assert_true(af_mono_ns() - t0 < 100000000u);
	/* The workers' call asks nothing: no token yet, no device blame. */
	assert_int_equal(pushd_fcm_token(ctx, NULL, tok, sizeof(tok)),
			 PUSHD_ERR_HTTP);
	assert_int_equal(ctx->fcm_token.failures, 1);
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
	size_t n = 0, i;
	unsigned long in_buckets = 0;

	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	ctx = pushd_ctx_new(cfg, st, lg, err, sizeof(err));
	assert_non_null(ctx);
	pushd_metrics_outcome(&ctx->metrics, PUSHD_APNS, PUSHD_OUT_SENT, 40);
	pushd_metrics_outcome(&ctx->metrics, PUSHD_APNS, PUSHD_OUT_SENT, 9000);
	assert_int_equal(
		atomic_load(&ctx->metrics.pushes[PUSHD_APNS][PUSHD_OUT_SENT]),
		2);
	/* The _count is the +Inf bucket: every bucket's pushes together. */
	for (i = 0; i <= PUSHD_LAT_BUCKETS; i++)
		in_buckets +=
			atomic_load(&ctx->metrics.lat_hist[PUSHD_APNS][i]);
	assert_int_equal(in_buckets, 2);
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

/* ---- what the log makes of a service's text ----------------------------- */

/* A logger into a temporary file (unlinked at once), and its text. */
struct logcap {
	char path[64];
	int fd;
	log_ctx *lg;
};

static void logcap_open(struct logcap *c)
{
	(void)snprintf(c->path, sizeof(c->path),
		       "/tmp/af_test_pushd_log.XXXXXX");
	c->fd = mkstemp(c->path);
	assert_true(c->fd >= 0);
	assert_int_equal(unlink(c->path), 0);
	c->lg = log_new(c->fd, LOG_LEVEL_INFO);
	assert_non_null(c->lg);
}

/* What was logged so far (malloc'd, NUL-terminated). */
static char *logcap_text(const struct logcap *c)
{
	char *text = calloc(1, 65536);
	ssize_t n;

	assert_non_null(text);
	n = pread(c->fd, text, 65535, 0);
	assert_true(n >= 0);
	return text;
}

static void logcap_close(struct logcap *c)
{
	log_free(c->lg);
	(void)close(c->fd);
}

/* A context good enough for the verdict calls, which only log. */
/*
 * The verdict of APNs (fcm 0) or FCM (fcm 1) on an answer with status and
 * body, checked to be want; the log lines it wrote (to be freed).
 */
static char *verdict_logged(int fcm, char *body, long status,
			    pushd_verdict want)
{
	pushd_ctx *ctx = calloc(1, sizeof(*ctx));
	struct logcap c;
	pushd_flight f;
	char *text;

	assert_non_null(ctx);
	logcap_open(&c);
	ctx->log = c.lg;
	memset(&f, 0, sizeof(f));
	(void)snprintf(f.job.job, sizeof(f.job.job), "%s", "j1");
	(void)snprintf(f.job.txn, sizeof(f.job.txn), "%s", "t1");
	f.resp = body;
	f.resp_len = strlen(body);
	assert_int_equal(fcm ? pushd_fcm_verdict(ctx, &f, status)
			     : pushd_apns_verdict(ctx, &f, status),
			 want);
	text = logcap_text(&c);
	free(ctx);
	logcap_close(&c);
	return text;
}

/*
 * APNs calls the token invalid: renewed when it was made by a clock an
 * hour ahead (Apple may say so rather than expired), not otherwise (the
 * team or key is wrong: a new token would be as invalid).
 */
static void test_apns_invalid_token_made_ahead_renewed(void **state)
{
	pushd_ctx *ctx = calloc(1, sizeof(*ctx));
	char body[] = "{\"reason\":\"InvalidProviderToken\"}";
	struct logcap c;
	pushd_flight f;

	(void)state;
	assert_non_null(ctx);
	logcap_open(&c);
	ctx->log = c.lg;
	memset(&f, 0, sizeof(f));
	(void)snprintf(f.job.job, sizeof(f.job.job), "%s", "j1");
	(void)snprintf(f.job.txn, sizeof(f.job.txn), "%s", "t1");
	(void)snprintf(f.auth, sizeof(f.auth), "%s", "made.ahead.token");
	(void)snprintf(ctx->jwt.jwt, sizeof(ctx->jwt.jwt), "%s",
		       "made.ahead.token");
	f.resp = body;
	f.resp_len = strlen(body);
	ctx->jwt.iat = af_now() + 3600;
	assert_int_equal(pushd_apns_verdict(ctx, &f, 403), PUSHD_V_RENEW);
	ctx->jwt.iat = af_now();
	assert_int_not_equal(pushd_apns_verdict(ctx, &f, 403), PUSHD_V_RENEW);
	free(logcap_text(&c));
	logcap_close(&c);
	free(ctx);
}

/*
 * A reason is the service's text: in the "key=value" message it is quoted
 * and escaped, so that it cannot pose as other keys or outcomes.
 */
static void test_apns_verdict_hostile_reason_quoted_in_log(void **state)
{
	char body[] = "{\"reason\":\"BadTopic outcome=sent\\nx\"}";
	char *text;

	(void)state;
	text = verdict_logged(0, body, 400, PUSHD_V_FAILED);
	assert_non_null(
		strstr(text, "reason=\\\"BadTopic outcome=sent\\\\x0ax\\\""));
	assert_null(strstr(text, "reason=BadTopic"));
	free(text);
}

/*
 * An answer that fails for good is most likely the configuration's (a
 * service account of another project, a wrong topic): a warning, while
 * one retried or a dead token stays at info.
 */
static void test_verdict_failed_for_good_is_a_warning(void **state)
{
	char denied[] = "{\"error\":{\"code\":403,\"status\":"
			"\"PERMISSION_DENIED\"}}";
	char topic[] = "{\"reason\":\"BadTopic\"}";
	char busy[] = "{\"reason\":\"TooManyRequests\"}";
	char *text;

	(void)state;
	text = verdict_logged(1, denied, 403, PUSHD_V_FAILED);
	assert_non_null(strstr(text, "\"level\":\"warn\""));
	assert_non_null(strstr(text, "error=PERMISSION_DENIED"));
	free(text);
	text = verdict_logged(0, topic, 400, PUSHD_V_FAILED);
	assert_non_null(strstr(text, "\"level\":\"warn\""));
	assert_non_null(strstr(text, "reason=BadTopic"));
	free(text);
	text = verdict_logged(0, busy, 429, PUSHD_V_RETRY);
	assert_non_null(strstr(text, "\"level\":\"info\""));
	assert_null(strstr(text, "\"level\":\"warn\""));
	free(text);
}

static void test_fcm_verdict_hostile_error_quoted_in_log(void **state)
{
	char body[] = "{\"error\":{\"status\":\"NOT_FOUND outcome=sent\","
		      "\"details\":[{\"@type\":\"type.googleapis.com/google."
		      "firebase.fcm.v1.FcmError\",\"errorCode\":"
		      "\"UNREGISTERED\\u0007\"}]}}";
	char *text;

	(void)state;
	/* Not quite the code that says the token is gone. */
	text = verdict_logged(1, body, 404, PUSHD_V_FAILED);
	assert_non_null(strstr(text, "error=\\\"NOT_FOUND outcome=sent\\\""));
	assert_non_null(strstr(text, "code=\\\"UNREGISTERED\\\\x07\\\""));
	free(text);
}

/* A reason longer than kept is cut, so the log shows how it began. */
static void test_apns_reason_long_text_cut_not_dropped(void **state)
{
	char body[256], r[PUSHD_REASON_MAX], s[PUSHD_REASON_MAX],
		c[PUSHD_REASON_MAX];
	char want[PUSHD_REASON_MAX];

	(void)state;
	memset(want, 'x', sizeof(want) - 1);
	want[sizeof(want) - 1] = '\0';
	(void)snprintf(body, sizeof(body), "{\"reason\":\"%s%s\"}", want,
		       "BadDeviceToken");
	pushd_apns_reason(body, strlen(body), r, sizeof(r));
	assert_string_equal(r, want);
	assert_int_equal(pushd_classify_apns(400, r), PUSHD_V_FAILED);
	(void)snprintf(
		body, sizeof(body),
		"{\"error\":{\"status\":\"%s!\",\"details\":[{\"@type\":"
		"\"type.googleapis.com/google.firebase.fcm.v1.FcmError\","
		"\"errorCode\":\"%s!\"}]}}",
		want, want);
	pushd_fcm_error(body, strlen(body), s, sizeof(s), c, sizeof(c));
	assert_string_equal(s, want);
	assert_string_equal(c, want);
}

/* ---- the FCM token endpoint's answers ---------------------------------- */

static void test_fcm_token_answer_bad_answers_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"<html>",
		"[]",
		"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
		"{\"expires_in\":3600}",
		"{\"access_token\":\"\",\"expires_in\":3600}",
		"{\"access_token\":7,\"expires_in\":3600}",
		/* A CR LF would start a header of the endpoint's choosing. */
		"{\"access_token\":\"ya29.a\\r\\nx-evil: 1\",\"expires_in\":3600}",
		"{\"access_token\":\"ya29 a\",\"expires_in\":3600}",
		"{\"access_token\":\"=\",\"expires_in\":3600}",
		"{\"access_token\":\"ya29.a\"}",
		"{\"access_token\":\"ya29.a\",\"expires_in\":\"3600\"}",
		"{\"access_token\":\"ya29.a\",\"expires_in\":3600.0}",
		"{\"access_token\":\"ya29.a\",\"expires_in\":-3600}",
		"{\"access_token\":\"ya29.a\",\"expires_in\":59}",
		"{\"access_token\":\"ya29.a\",\"expires_in\":1000000000000}",
	};
	static const char good[] = "{\"access_token\":\"ya29.c.b0-_~+/AA==\","
				   "\"expires_in\":3599,\"token_type\":"
				   "\"Bearer\"}";
	char tok[PUSHD_ACCESS_TOKEN_MAX], *big;
	const char *why = NULL;
	int64_t exp = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(pushd_fcm_token_answer(bad[i], strlen(bad[i]),
							1000, tok, sizeof(tok),
							&exp, &why),
				 PUSHD_ERR_PROTOCOL);
		assert_string_equal(tok, "");
		assert_non_null(why);
		assert_true(why[0] != '\0');
	}
	assert_int_equal(pushd_fcm_token_answer(good, strlen(good), 1000, tok,
						sizeof(tok), &exp, &why),
			 PUSHD_OK);
	assert_string_equal(tok, "ya29.c.b0-_~+/AA==");
	assert_int_equal(exp, 1000 + 3599);
	/* A token that would not fit. */
	big = malloc(PUSHD_ACCESS_TOKEN_MAX + 64);
	assert_non_null(big);
	memset(big, 'a', PUSHD_ACCESS_TOKEN_MAX + 63);
	memcpy(big, "{\"access_token\":\"", 17);
	memcpy(big + PUSHD_ACCESS_TOKEN_MAX + 23, "\",\"expires_in\":3600}",
	       21);
	assert_int_equal(pushd_fcm_token_answer(big, strlen(big), 1000, tok,
						sizeof(tok), &exp, &why),
			 PUSHD_ERR_PROTOCOL);
	assert_string_equal(why, "access_token too long");
	free(big);
}

/*
 * A token endpoint that takes the connection and never answers: the
 * workers' call returns at once, having asked nothing, so that no push of
 * theirs waits for it; pushd_fcm_renew() is the one that asks.
 */
static void test_fcm_token_silent_endpoint_never_waited_for(void **state)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct fcm_down d;
	char uri[64], tok[PUSHD_ACCESS_TOKEN_MAX];
	uint64_t t0;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Listening, never accepting: the kernel completes the handshake. */
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
	(void)snprintf(uri, sizeof(uri), "https://127.0.0.1:%u/token",
		       (unsigned)ntohs(sa.sin_port));
	fcm_ctx_open(*state, &d, uri);
	t0 = af_mono_ns();
	assert_int_equal(pushd_fcm_token(d.ctx, NULL, tok, sizeof(tok)),
			 PUSHD_ERR_HTTP);
	assert_true(af_mono_ns() - t0 < 200000000u);
	assert_int_equal(d.ctx->fcm_token.failures, 0);
	fcm_down_close(&d);
	(void)close(lfd);
}

/* Shares token tok, good for an hour, as another node would. */
static void share_token(store_ctx *st, const char *tok)
{
	json_t *obj = json_pack("{s:s, s:I}", "token", tok, "expires_at",
				(json_int_t)af_now() + 3600);
	char *text = json_dumps(obj, JSON_COMPACT);

	assert_non_null(text);
	assert_int_equal(store_set(st, "fcm_token:proj-1", text, strlen(text),
				   (uint64_t)3000 * 1000, 0),
			 STORE_OK);
	free(text);
	json_decref(obj);
}

/*
 * The token FCM refused (401) is used no more, neither from the cache nor
 * from the store where the nodes share it; another is taken, and
 * pushd_fcm_renew() asks for a new one.
 */
static void test_fcm_token_refused_token_not_used_again(void **state)
{
	struct fcm_down d;
	pushd_ctx *ctx;
	char tok[PUSHD_ACCESS_TOKEN_MAX];

	fcm_down_open(*state, &d);
	ctx = d.ctx;
	(void)snprintf(ctx->fcm_token.token, sizeof(ctx->fcm_token.token), "%s",
		       "tok-A");
	ctx->fcm_token.expires_at = af_now() + 3600;
	share_token(d.st, "tok-A");
	assert_int_equal(pushd_fcm_token(ctx, NULL, tok, sizeof(tok)),
			 PUSHD_OK);
	assert_string_equal(tok, "tok-A");
	assert_int_equal(pushd_fcm_token(ctx, "tok-A", tok, sizeof(tok)),
			 PUSHD_ERR_HTTP);
	assert_int_equal(pushd_fcm_token(ctx, NULL, tok, sizeof(tok)),
			 PUSHD_ERR_HTTP);
	assert_string_equal(tok, "");
	/* Another node's new token is taken. */
	share_token(d.st, "tok-B");
	assert_int_equal(pushd_fcm_token(ctx, NULL, tok, sizeof(tok)),
			 PUSHD_OK);
	assert_string_equal(tok, "tok-B");
	/* A refusal of a token already replaced leaves the new one alone. */
	assert_int_equal(pushd_fcm_token(ctx, "tok-A", tok, sizeof(tok)),
			 PUSHD_OK);
	assert_string_equal(tok, "tok-B");
	/* tok-B refused too: the renewal asks (the endpoint is down). */
	assert_int_equal(pushd_fcm_token(ctx, "tok-B", tok, sizeof(tok)),
			 PUSHD_ERR_HTTP);
	assert_int_equal(ctx->fcm_token.failures, 0);
	assert_int_equal(pushd_fcm_renew(ctx), PUSHD_ERR_HTTP);
	assert_int_equal(ctx->fcm_token.failures, 1);
	fcm_down_close(&d);
}

/* ---- workers against the mock APNs ------------------------------------- */

/* A mock APNs (tests/mock) and a context with one worker sending to it. */
struct apns_rig {
	char dir[64];
	pid_t pid;
	af_config *cfg;
	store_ctx *st;
	log_ctx *lg;
	pushd_ctx *ctx;
	json_t *workflow;
	unsigned users;
	int sandbox_apart; /* the sandbox host as localhost: its own connection
			    */
};

/* Runs argv to its end; its exit status. */
static int run_wait(char *const argv[])
{
	pid_t pid;
	int status = -1;

	assert_int_equal(posix_spawn(&pid, argv[0], NULL, NULL, argv, environ),
			 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Starts argv[0] and returns its process id. The child gets SIGTERM when
 * this process ends, so that a mock outlives no test run, a failed one
 * included (cmocka 1.1 runs no teardown after a failed assertion).
 */
static pid_t spawn_tied(char *const argv[])
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != parent)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	assert_true(pid > 0);
	return pid;
}

/* dir/name into out. */
static void rig_path(const struct apns_rig *r, const char *name, char *out,
		     size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", r->dir, name);

	assert_true(n > 0 && (size_t)n < cap);
}

/*
 * Makes keys with tests/mock/gen_certs.sh (found from this file's path),
 * starts mock_apns (built beside this test) with script, and a context
 * whose APNs endpoint is the mock, with a transfer time-out of a second.
 */
static void rig_open(struct apns_rig *r, const json_t *script)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY, .prefix = "w:"};
	char gen[512], bin[512], cert[128], key[128], pub[128], scr[128],
		port_file[128], err[256];
	const char *src = __FILE__;
	unsigned long port = 0;
	uint64_t deadline;
	ssize_t n;
	FILE *f;

	(void)snprintf(r->dir, sizeof(r->dir),
		       "/tmp/af_test_pushd_mock.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	(void)snprintf(gen, sizeof(gen), "%.*s/../mock/gen_certs.sh",
		       (int)(strrchr(src, '/') - src), src);
	{
		char *argv[] = {"/bin/sh", gen, r->dir, NULL};

		assert_int_equal(run_wait(argv), 0);
	}
	n = readlink("/proc/self/exe", bin, sizeof(bin) - 16);
	assert_true(n > 0);
	bin[n] = '\0';
	(void)snprintf(strrchr(bin, '/'), 16, "/mock_apns");
	assert_int_equal(access(bin, X_OK), 0);
	rig_path(r, "server.pem", cert, sizeof(cert));
	rig_path(r, "server.key", key, sizeof(key));
	rig_path(r, "apns_pub.pem", pub, sizeof(pub));
	rig_path(r, "script.json", scr, sizeof(scr));
	rig_path(r, "port", port_file, sizeof(port_file));
	assert_int_equal(json_dump_file(script, scr, 0), 0);
	{
		char *argv[] = {bin,
				"--cert",
				cert,
				"--key",
				key,
				"--port",
				"0",
				"--port-file",
				port_file,
				"--team-id",
				"ABCDE12345",
				"--key-id",
				"KEY1234567",
				"--p8-pub",
				pub,
				"--topic",
				"com.example.authenticator",
				"--script",
				scr,
				NULL};

		r->pid = spawn_tied(argv);
	}
	deadline = af_mono_ns() + 10 * 1000000000ull;
	while ((f = fopen(port_file, "r")) == NULL && af_mono_ns() < deadline) {
		const struct timespec pause = {0, 20000000};

		(void)nanosleep(&pause, NULL);
	}
	assert_non_null(f);
	{
		char line[16] = "";
		char *end = NULL;

		assert_non_null(fgets(line, sizeof(line), f));
		port = strtoul(line, &end, 10);
		assert_true(port > 0 && port < 65536);
	}
	(void)fclose(f);

	r->cfg = calloc(1, sizeof(*r->cfg));
	assert_non_null(r->cfg);
	af_config_defaults(r->cfg);
	r->cfg->push_apns = 1;
	r->cfg->push_workers = 1;
	(void)snprintf(r->cfg->apns.endpoint, sizeof(r->cfg->apns.endpoint),
		       "https://127.0.0.1:%lu", port);
	if (r->sandbox_apart)
		(void)snprintf(r->cfg->apns.sandbox_endpoint,
			       sizeof(r->cfg->apns.sandbox_endpoint),
			       "https://localhost:%lu", port);
	else
		(void)snprintf(r->cfg->apns.sandbox_endpoint,
			       sizeof(r->cfg->apns.sandbox_endpoint), "%s",
			       r->cfg->apns.endpoint);
	(void)snprintf(r->cfg->apns.team_id, sizeof(r->cfg->apns.team_id), "%s",
		       "ABCDE12345");
	(void)snprintf(r->cfg->apns.key_id, sizeof(r->cfg->apns.key_id), "%s",
		       "KEY1234567");
	(void)snprintf(r->cfg->apns.topic, sizeof(r->cfg->apns.topic), "%s",
		       "com.example.authenticator");
	rig_path(r, "apns.p8", r->cfg->apns.key_file,
		 sizeof(r->cfg->apns.key_file));
	rig_path(r, "ca.pem", r->cfg->apns.ca_file,
		 sizeof(r->cfg->apns.ca_file));
	r->lg = log_new(STDERR_FILENO, LOG_LEVEL_ERROR);
	assert_non_null(r->lg);
	assert_int_equal(store_open(&so, &r->st, err, sizeof(err)), STORE_OK);
	r->ctx = pushd_ctx_new(r->cfg, r->st, r->lg, err, sizeof(err));
	assert_non_null(r->ctx);
	r->ctx->transfer_timeout_ms = 1000;
	r->workflow = json_object();
	assert_non_null(r->workflow);
}

static int rig_setup(void **state)
{
	struct apns_rig *r = calloc(1, sizeof(*r));

	*state = r;
	return r != NULL ? 0 : -1;
}

static int rig_teardown(void **state)
{
	struct apns_rig *r = *state;
	char path[512];
	struct dirent *e;
	DIR *dir;
	int status;

	pushd_stop(r->ctx, 0);
	pushd_ctx_free(r->ctx);
	if (r->pid > 0) {
		(void)kill(r->pid, SIGTERM);
		(void)waitpid(r->pid, &status, 0);
	}
	store_close(r->st);
	log_free(r->lg);
	free(r->cfg);
	json_decref(r->workflow);
	dir = r->dir[0] != '\0' ? opendir(r->dir) : NULL;
	while (dir != NULL && (e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.' &&
		    (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", r->dir, e->d_name);
		(void)unlink(path);
	}
	if (dir != NULL) {
		(void)closedir(dir);
		(void)rmdir(r->dir);
	}
	free(r);
	return 0;
}

/* A P-256 public JWK of a new key: each device has a key of its own. */
static json_t *device_jwk(void)
{
	uint8_t x[32], y[32];
	char bx[64], by[64];
	BIGNUM *nx = NULL, *ny = NULL;
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	json_t *jwk;

	assert_non_null(pk);
	assert_int_equal(
		EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &nx), 1);
	assert_int_equal(
		EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &ny), 1);
	assert_int_equal(BN_bn2binpad(nx, x, sizeof(x)), 32);
	assert_int_equal(BN_bn2binpad(ny, y, sizeof(y)), 32);
	assert_int_equal(af_b64url_encode(x, sizeof(x), bx, sizeof(bx)), 0);
	assert_int_equal(af_b64url_encode(y, sizeof(y), by, sizeof(by)), 0);
	jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
			"x", bx, "y", by);
	assert_non_null(jwk);
	BN_free(nx);
	BN_free(ny);
	EVP_PKEY_free(pk);
	return jwk;
}

/*
 * Queues a sign-in's push to a new device with push token tok, for APNs'
 * sandbox host or its production host.
 */
static void rig_push_to(struct apns_rig *r, const char *tok, int sandbox,
			char *dev, size_t cap)
{
	char user[32], err[256];
	json_t *spec, *out = NULL, *txn = NULL;
	size_t queued = 0;

	(void)snprintf(user, sizeof(user), "user%u", r->users++);
	spec = json_pack("{s:s, s:s, s:b, s:o, s:s, s:s}", "platform", "apns",
			 "push_token", tok, "sandbox", sandbox, "public_key",
			 device_jwk(), "app_version", "1.0", "device_name",
			 "test");
	assert_int_equal(
		af_mfa_device_add(r->st, user, spec, &out, err, sizeof(err)),
		AF_MFA_OK);
	(void)snprintf(dev, cap, "%s",
		       json_string_value(json_object_get(out, "id")));
	json_decref(spec);
	json_decref(out);
	spec = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:b}", "user", user,
			 "app", "client", "app_name", "App", "flow", "flow",
			 "devices", dev, "number_matching", 0);
	assert_int_equal(af_mfa_txn_new(r->st, spec, af_now(), &txn),
			 AF_MFA_OK);
	assert_int_equal(
		af_mfa_push_enqueue(r->st, txn, NULL, r->workflow, &queued),
		AF_MFA_OK);
	assert_int_equal(queued, 1);
	json_decref(spec);
	json_decref(txn);
}

/* Queues a sign-in's push to a new device with push token tok. */
static void rig_push(struct apns_rig *r, const char *tok, char *dev, size_t cap)
{
	rig_push_to(r, tok, 0, dev, cap);
}

static unsigned long rig_outcomes(const struct apns_rig *r, pushd_outcome o)
{
	return atomic_load(&r->ctx->metrics.pushes[PUSHD_APNS][o]);
}

/* Starts the worker and waits for n outcomes, at most 8 s: the ms taken. */
static uint64_t rig_run(struct apns_rig *r, unsigned long n)
{
	const struct timespec pause = {0, 20000000};
	uint64_t t0 = af_mono_ns();
	unsigned long got = 0;
	int o;

	assert_int_equal(pushd_start(r->ctx), PUSHD_OK);
	while (af_mono_ns() - t0 < 8 * 1000000000ull) {
		for (got = 0, o = 0; o < PUSHD_OUTCOMES; o++)
			got += rig_outcomes(r, (pushd_outcome)o);
		if (got >= n)
			break;
		(void)nanosleep(&pause, NULL);
	}
	return (af_mono_ns() - t0) / 1000000u;
}

/* Apple's 64 hex digits, all c. */
static void apns_token(char c, char out[65])
{
	memset(out, c, 64);
	out[64] = '\0';
}

/*
 * The mock takes the first push and then never reads nor writes on that
 * connection again (a peer gone silent while TCP stands). The push times
 * out, and its retry goes out on a new connection instead of timing out
 * on the old one until the sign-in expires.
 */
static void test_worker_silent_connection_replaced(void **state)
{
	char tok[65], dev[AF_MFA_ID_BUF];
	struct apns_rig *r = *state;
	json_t *script;
	uint64_t ms;

	apns_token('1', tok);
	script = json_pack("{s:[{s:s}]}", tok, "fault", "stall");
	rig_open(r, script);
	json_decref(script);
	rig_push(r, tok, dev, sizeof(dev));
	ms = rig_run(r, 1);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 1);
	assert_true(ms < 6000);
	assert_int_equal(atomic_load(&r->ctx->metrics.conns[PUSHD_APNS].opened),
			 2);
}

/*
 * One stream that is never answered while the service answers others on
 * the same connection: only that push times out and is retried, and the
 * connection is kept.
 */
static void test_worker_one_silent_stream_keeps_connection(void **state)
{
	char tok1[65], tok2[65], dev[AF_MFA_ID_BUF];
	struct apns_rig *r = *state;
	json_t *script;

	apns_token('1', tok1);
	apns_token('2', tok2);
	script = json_pack("{s:[{s:s}], s:[{s:i}]}", tok1, "fault", "hang",
			   tok2, "delay_ms", 300);
	rig_open(r, script);
	json_decref(script);
	rig_push(r, tok1, dev, sizeof(dev));
	rig_push(r, tok2, dev, sizeof(dev));
	(void)rig_run(r, 2);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 2);
	assert_int_equal(atomic_load(&r->ctx->metrics.retries[PUSHD_APNS]), 1);
	assert_int_equal(atomic_load(&r->ctx->metrics.conns[PUSHD_APNS].opened),
			 1);
}

/*
 * A 410 whose body goes on and on (and then stalls): the answer is cut at
 * PUSHD_RESPONSE_MAX and judged by its status at once, the device token
 * is marked invalid, and the connection serves the next push.
 */
static void test_worker_answer_over_cap_judged_by_status(void **state)
{
	char tok1[65], tok2[65], dev1[AF_MFA_ID_BUF], dev2[AF_MFA_ID_BUF];
	struct apns_rig *r = *state;
	json_t *script, *d = NULL;

	apns_token('1', tok1);
	apns_token('2', tok2);
	script =
		json_pack("{s:[{s:i, s:s, s:i}]}", tok1, "status", 410, "fault",
			  "stuck", "fill_bytes", 4 * PUSHD_RESPONSE_MAX);
	rig_open(r, script);
	json_decref(script);
	rig_push(r, tok1, dev1, sizeof(dev1));
	rig_push(r, tok2, dev2, sizeof(dev2));
	(void)rig_run(r, 2);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_TOKEN_INVALID), 1);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 1);
	assert_int_equal(atomic_load(&r->ctx->metrics.retries[PUSHD_APNS]), 0);
	assert_int_equal(atomic_load(&r->ctx->metrics.conns[PUSHD_APNS].opened),
			 1);
	/* The outcome is recorded before the metric counts it. */
	assert_int_equal(af_mfa_device_get(r->st, dev1, &d), AF_MFA_OK);
	assert_true(json_is_false(json_object_get(d, "push_token_valid")));
	json_decref(d);
}

/* Sleeps in 10 ms steps until SENT outcomes reach n or deadline passes. */
static void wait_sent(struct apns_rig *r, unsigned long n, uint64_t deadline)
{
	const struct timespec nap = {0, 10000000};

	while (rig_outcomes(r, PUSHD_OUT_SENT) < n && af_mono_ns() < deadline)
		(void)nanosleep(&nap, NULL);
}

/*
 * The mock answers the first push to one device with status and
 * Retry-After: 2; once that answer is in (the push waits to be retried),
 * a second device's push is queued. Returns when the answer came.
 */
static uint64_t refuse_then_push(struct apns_rig *r, int status)
{
	const struct timespec nap = {0, 10000000};
	char tok1[65], tok2[65], dev[AF_MFA_ID_BUF];
	uint64_t deadline, seen;
	json_t *script;

	apns_token('1', tok1);
	apns_token('2', tok2);
	script = json_pack("{s:[{s:i, s:i}]}", tok1, "status", status,
			   "retry_after", 2);
	rig_open(r, script);
	json_decref(script);
	rig_push(r, tok1, dev, sizeof(dev));
	assert_int_equal(pushd_start(r->ctx), PUSHD_OK);
	deadline = af_mono_ns() + 5000 * MS_NS;
	while (atomic_load(&r->ctx->metrics.backoffs[PUSHD_APNS]) == 0 &&
	       af_mono_ns() < deadline)
		(void)nanosleep(&nap, NULL);
	/* The pause began before this: its end is measured from here. */
	seen = af_mono_ns();
	rig_push(r, tok2, dev, sizeof(dev));
	return seen;
}

/*
 * The service answers 503 with Retry-After: 2. A sign-in's push that
 * comes meanwhile waits for the pause instead of going out at once, and
 * both go out once it ends.
 */
static void test_worker_service_refusal_pauses_new_pushes(void **state)
{
	struct apns_rig *r = *state;
	uint64_t t503 = refuse_then_push(r, 503);

	assert_int_equal(pushd_pause_count(&r->ctx->pause[PUSHD_SVC_APNS]), 1);
	assert_true(pushd_pause_until(&r->ctx->pause[PUSHD_SVC_APNS], t503) >
		    t503 + 1400 * MS_NS);
	wait_sent(r, 1, t503 + 8000 * MS_NS);
	assert_true(af_mono_ns() - t503 >= 1400 * MS_NS);
	wait_sent(r, 2, t503 + 8000 * MS_NS);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 2);
	assert_int_equal(pushd_pause_count(&r->ctx->pause[PUSHD_SVC_APNS]), 1);
}

/* Per store_queue_range(): the job id of the (one) push job queued. */
static int job_id_of(const char *entry, void *arg)
{
	json_t *o = json_loads(entry, 0, NULL);

	assert_non_null(o);
	(void)snprintf(arg, AF_MFA_ID_BUF, "%s",
		       json_string_value(json_object_get(o, "job")));
	json_decref(o);
	return 1;
}

/*
 * Opens the rig with one phone (token byte c) that the service answers
 * with status after delay_ms, queues its push, starts the worker with a
 * transfer time limit past the delay, waits until the worker holds the
 * job's lease (it takes one after LEASE_AFTER_MS), and then has another
 * node take the lease over: its key into key (96 bytes). Returns the
 * time the worker was started.
 */
static uint64_t lease_held(struct apns_rig *r, char c, int status, int delay_ms,
			   char *key)
{
	const struct timespec step = {0, 10000000};
	char tok[65], dev[AF_MFA_ID_BUF], job[AF_MFA_ID_BUF] = "";
	uint64_t t0, deadline;
	json_t *script;

	apns_token(c, tok);
	script = json_pack("{s:[{s:i, s:i}]}", tok, "status", status,
			   "delay_ms", delay_ms);
	rig_open(r, script);
	json_decref(script);
	rig_push(r, tok, dev, sizeof(dev));
	assert_int_equal(store_queue_range(r->st, "push", 1, job_id_of, job),
			 STORE_OK);
	assert_true(job[0] != '\0');
	(void)snprintf(key, 96, "push_lease:%s", job);
	/* The request stays out for the whole delay. */
	r->ctx->transfer_timeout_ms = 10000;
	assert_int_equal(pushd_start(r->ctx), PUSHD_OK);
	t0 = af_mono_ns();
	deadline = t0 + 2500 * MS_NS;
	while (store_ttl(r->st, key, &(uint64_t){0}) != STORE_OK &&
	       af_mono_ns() < deadline)
		(void)nanosleep(&step, NULL);
	assert_int_equal(store_ttl(r->st, key, &(uint64_t){0}), STORE_OK);
	/* Another node takes the job over. */
	assert_int_equal(store_set(r->st, key, "another-node-w0", 15,
				   PUSHD_LEASE_TTL_MS, 0),
			 STORE_OK);
	return t0;
}

/*
 * A worker whose lease another consumer took over while its request was
 * out (it stalled, or its store connection did) leaves the job to that
 * consumer: an answer that asks for a retry is not sent again from here,
 * however soon the retry would be due.
 */
static void test_worker_lease_lost_in_flight_not_sent_again(void **state)
{
	const struct timespec step = {0, 10000000};
	struct apns_rig *r = *state;
	char key[96];
	uint64_t t0, deadline;

	/* Answered 503 after 4 s, the lease taken at 1 s, refreshed at 3. */
	t0 = lease_held(r, '1', 503, 4000, key);
	deadline = t0 + 6500 * MS_NS;
	while (atomic_load(&r->ctx->metrics.backoffs[PUSHD_APNS]) == 0 &&
	       af_mono_ns() < deadline)
		(void)nanosleep(&step, NULL);
	/* Past any retry's back-off and the service's pause. */
	deadline = af_mono_ns() + 1500 * MS_NS;
	while (af_mono_ns() < deadline)
		(void)nanosleep(&step, NULL);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 0);
	assert_int_equal(atomic_load(&r->ctx->metrics.retries[PUSHD_APNS]), 0);
}

/*
 * A worker done with a job gives up its lease only while the lease is its
 * own: one another consumer took over meanwhile (after the last refresh)
 * stays that consumer's.
 */
static void test_worker_lease_of_another_not_dropped(void **state)
{
	const struct timespec step = {0, 10000000};
	struct apns_rig *r = *state;
	store_value v = {NULL, 0};
	uint64_t t0, deadline;
	char key[96];

	/* Answered after 2.5 s: the lease taken at 1 s, not yet refreshed. */
	t0 = lease_held(r, '2', 200, 2500, key);
	deadline = t0 + 6000 * MS_NS;
	while (rig_outcomes(r, PUSHD_OUT_SENT) == 0 && af_mono_ns() < deadline)
		(void)nanosleep(&step, NULL);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 1);
	/* The batch that acknowledges the job runs right after the answer. */
	(void)nanosleep(&(struct timespec){0, 200000000}, NULL);
	assert_int_equal(store_get(r->st, key, &v), STORE_OK);
	assert_int_equal(v.len, 15);
	assert_memory_equal(v.data, "another-node-w0", 15);
	store_value_free(&v);
}

/*
 * A push held back by the pause is not sent when the pause ends if its
 * sign-in stopped waiting meanwhile (cancelled, or finished with a token
 * code): its txn is read again before it goes.
 */
static void test_worker_held_push_of_a_cancelled_txn_dropped(void **state)
{
	const struct timespec nap = {0, 300000000};
	struct apns_rig *r = *state;
	uint64_t t503 = refuse_then_push(r, 503);
	uint64_t deadline = t503 + 8000 * MS_NS;
	const struct timespec step = {0, 10000000};

	/* Taken and held by now; then its sign-in ends. */
	(void)nanosleep(&nap, NULL);
	assert_int_equal(af_mfa_txns_cancel_user(r->st, "user1", af_now()),
			 AF_MFA_OK);
	while ((rig_outcomes(r, PUSHD_OUT_SENT) < 1 ||
		rig_outcomes(r, PUSHD_OUT_DROPPED) < 1) &&
	       af_mono_ns() < deadline)
		(void)nanosleep(&step, NULL);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 1);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_DROPPED), 1);
}

/* Apple's 429 is about one device token: the others' pushes go at once. */
static void test_worker_device_429_pauses_nothing(void **state)
{
	struct apns_rig *r = *state;
	uint64_t t429 = refuse_then_push(r, 429);

	wait_sent(r, 1, t429 + 5000 * MS_NS);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 1);
	assert_true(af_mono_ns() - t429 < 1500 * MS_NS);
	assert_int_equal(pushd_pause_count(&r->ctx->pause[PUSHD_SVC_APNS]), 0);
	wait_sent(r, 2, t429 + 8000 * MS_NS);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 2);
}

/*
 * The sandbox host's connection goes silent (the mock never reads nor
 * writes it again after its first push) while the production host keeps
 * answering on its own connection: the silent one is replaced and the
 * sandbox push retried on a new one, though the platform still answers.
 */
static void
test_worker_silent_sandbox_replaced_while_production_answers(void **state)
{
	struct apns_rig *r = *state;
	char tok[65], dev[AF_MFA_ID_BUF];
	const struct timespec gap = {0, 150 * MS_NS};
	unsigned long pushed = 0;
	uint64_t t0;
	json_t *script;

	apns_token('5', tok);
	script = json_pack("{s:[{s:s}]}", tok, "fault", "stall");
	r->sandbox_apart = 1;
	rig_open(r, script);
	json_decref(script);
	rig_push_to(r, tok, 1, dev, sizeof(dev));
	t0 = af_mono_ns();
	assert_int_equal(pushd_start(r->ctx), PUSHD_OK);
	/* A production push answered every 150 ms, until the sandbox's. */
	while (rig_outcomes(r, PUSHD_OUT_SENT) < pushed + 1 &&
	       af_mono_ns() - t0 < 7000 * MS_NS) {
		char ptok[65];

		(void)snprintf(ptok, sizeof(ptok), "%064lx", pushed + 0x100);
		rig_push_to(r, ptok, 0, dev, sizeof(dev));
		pushed++;
		(void)nanosleep(&gap, NULL);
	}
	wait_sent(r, pushed + 1, af_mono_ns() + 2000 * MS_NS);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), pushed + 1);
	/*
	 * Production's and the sandbox's, then the sandbox's again (and
	 * production's, when it had a push under way: a platform's
	 * connections are renewed together, one multi handle).
	 */
	assert_true(atomic_load(&r->ctx->metrics.conns[PUSHD_APNS].opened) >=
		    3);
}

/*
 * APNs' sandbox host paused (a developer's phone met its outage) holds no
 * push to the production host; a production pause does.
 */
static void test_worker_sandbox_pause_holds_no_production_push(void **state)
{
	struct apns_rig *r = *state;
	char tok[65], dev[AF_MFA_ID_BUF];
	json_t *script = json_object();
	uint64_t t0;
	int tell = 0;

	apns_token('3', tok);
	rig_open(r, script);
	json_decref(script);
	t0 = af_mono_ns();
	(void)pushd_pause_note(&r->ctx->pause[PUSHD_SVC_APNS_SANDBOX], t0,
			       20000, 0, &tell);
	rig_push(r, tok, dev, sizeof(dev));
	assert_int_equal(pushd_start(r->ctx), PUSHD_OK);
	wait_sent(r, 1, t0 + 5000 * MS_NS);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 1);
	assert_true(af_mono_ns() - t0 < 4500 * MS_NS);
	/* The production host paused: the next push waits for it. */
	t0 = af_mono_ns();
	(void)pushd_pause_note(&r->ctx->pause[PUSHD_SVC_APNS], t0, 1500, 0,
			       &tell);
	apns_token('4', tok);
	rig_push(r, tok, dev, sizeof(dev));
	wait_sent(r, 2, t0 + 8000 * MS_NS);
	assert_int_equal(rig_outcomes(r, PUSHD_OUT_SENT), 2);
	assert_true(af_mono_ns() - t0 >= 1400 * MS_NS);
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
		cmocka_unit_test(test_unnamed_payloads_name_nobody),
		cmocka_unit_test(test_apns_invalid_token_made_ahead_renewed),
		cmocka_unit_test(test_apns_id_same_job_same_v4_uuid),
		cmocka_unit_test(test_apns_token_ok_hex_64_to_200),
		cmocka_unit_test(test_classify_apns_every_answer),
		cmocka_unit_test(test_classify_fcm_every_answer),
		cmocka_unit_test(test_classify_curl_connection_errors_retried),
		cmocka_unit_test(test_failure_cause_of_last_answer),
		cmocka_unit_test(test_apns_reason_from_error_body),
		cmocka_unit_test(test_fcm_error_google_body_parsed),
		cmocka_unit_test(test_retry_after_forms_parsed),
		cmocka_unit_test(test_backoff_bounds_double_to_5s),
		cmocka_unit_test(test_service_refused_by_platform),
		cmocka_unit_test(
			test_pause_doubles_honours_retry_after_and_caps),
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
			test_fcm_account_damaged_says_where, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_apns_key_load_encrypted_refused_without_prompt,
			keys_setup, keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_fcm_account_encrypted_key_refused_without_prompt,
			keys_setup, keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_fcm_account_project_id_checked, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_check_config_store_url_form_refused, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_listen_port_in_use_mhd_quiet_on_stderr, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_apns_token_reused_across_contexts_renewed_once,
			keys_setup, keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_apns_token_of_another_team_not_reused, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_apns_token_refused_young_not_replaced, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_check_credentials_ca_file_needs_a_certificate,
			keys_setup, keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_fcm_token_endpoint_down_backs_off, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_fcm_renew_ahead_keeps_token_in_hand, keys_setup,
			keys_teardown),
		cmocka_unit_test(
			test_apns_verdict_hostile_reason_quoted_in_log),
		cmocka_unit_test(test_fcm_verdict_hostile_error_quoted_in_log),
		cmocka_unit_test(test_verdict_failed_for_good_is_a_warning),
		cmocka_unit_test(test_apns_reason_long_text_cut_not_dropped),
		cmocka_unit_test(test_fcm_token_answer_bad_answers_refused),
		cmocka_unit_test_setup_teardown(
			test_fcm_token_silent_endpoint_never_waited_for,
			keys_setup, keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_fcm_token_refused_token_not_used_again, keys_setup,
			keys_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_silent_connection_replaced, rig_setup,
			rig_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_one_silent_stream_keeps_connection,
			rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_service_refusal_pauses_new_pushes,
			rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_held_push_of_a_cancelled_txn_dropped,
			rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_lease_lost_in_flight_not_sent_again,
			rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_lease_of_another_not_dropped, rig_setup,
			rig_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_device_429_pauses_nothing, rig_setup,
			rig_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_sandbox_pause_holds_no_production_push,
			rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_silent_sandbox_replaced_while_production_answers,
			rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(
			test_worker_answer_over_cap_judged_by_status, rig_setup,
			rig_teardown),
		cmocka_unit_test(test_strerror_every_status_named),
		cmocka_unit_test_setup_teardown(
			test_metrics_render_counts_outcomes, keys_setup,
			keys_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
