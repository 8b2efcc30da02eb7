/*
 * Unit tests of idsim's device API client and state file: the signing
 * string against vectors computed with the openssl command line, DER to
 * raw r||s conversion against an openssl-made signature, signatures that
 * OpenSSL verifies, JWK import and export, and the state file's mode,
 * owner and format checks.
 */
#include <dirent.h>
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
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/secmem.h"
#include "common/util.h"
#include "idsim/client.h"
#include "idsim/state.h"

#define SIGNING_BUF 1024
#define PATH_BUF    512

/*
 * Vector 1, computed with
 *   printf 'AF-DEVICE-V1\nGET\n/device/v1/challenges\n1700000000\n
 *   AAECAwQFBgcICQoLDA0ODxAR\n<sha256 of "">' | openssl dgst -sha256
 * (the nonce is base64url of the bytes 0..17).
 */
#define V1_NONCE "AAECAwQFBgcICQoLDA0ODxAR"
#define V1_STRING                                                   \
	"AF-DEVICE-V1\nGET\n/device/v1/challenges\n1700000000\n"    \
	"AAECAwQFBgcICQoLDA0ODxAR\n"                                \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7" \
	"852b855"
#define V1_SHA256 \
	"016c8125b2d8974b6398d21564170eaa091f82d6f1ef2934b301221915ed5005"

/* Vector 2: a POST with a body, under a path prefix, same method. */
#define V2_BODY	 "{\"decision\":\"approve\",\"number\":\"42\"}"
#define V2_NONCE "nonce_nonce-nonce_nonce-"
#define V2_STRING                                                   \
	"AF-DEVICE-V1\nPOST\n/idp/device/v1/challenges/txn-123\n"   \
	"1700000042\nnonce_nonce-nonce_nonce-\n"                    \
	"bb531e23b75ade7b028346fcc958cbddcb54b4dd8b4a343b8da2204cc" \
	"a85f464"
#define V2_SHA256 \
	"7c640f36fdd6b2bed7faf3cb0c025f4c5ceec4d846837ef1de27d83ad6ffafde"

/*
 * A P-256 key made with `openssl ecparam -name prime256v1 -genkey`, its
 * coordinates and scalar from `openssl ec -text` in base64url, and a
 * signature over OSSL_MSG from `openssl dgst -sha256 -sign`, with r and s
 * as `openssl asn1parse` shows them (r has a leading 0x00 in DER).
 */
#define OSSL_X	 "MP-eTIKeidNwmVFi0TioiXN0T6eXmBZDXJAxM0D8UFY"
#define OSSL_Y	 "MdXSgmorXiAZtIZIZPbvEnJcsrmYnmJ4ch4fEh00Xuo"
#define OSSL_D	 "qe93ycgD3w2STf-9OzvPaERowmPa-404xvKUTYXguH4"
#define OSSL_MSG "AF-DEVICE-V1 test message"

static const uint8_t ossl_sig_der[] = {
	0x30, 0x45, 0x02, 0x21, 0x00, 0xce, 0x1d, 0x14, 0xc6, 0xaa, 0xcb, 0xc1,
	0x7b, 0xad, 0x7a, 0x86, 0xa7, 0x46, 0xfb, 0xf5, 0x6b, 0xb1, 0x2a, 0x52,
	0xd5, 0x1a, 0x78, 0x7f, 0x8d, 0x81, 0xa1, 0x4a, 0x63, 0x33, 0xe8, 0x17,
	0x5c, 0x02, 0x20, 0x55, 0xb1, 0xc2, 0x5c, 0xe4, 0xd4, 0x9d, 0xc0, 0xc8,
	0x2c, 0x31, 0xd9, 0x62, 0xa6, 0x99, 0xce, 0x25, 0x08, 0xe5, 0x9a, 0x5c,
	0x65, 0x4d, 0x27, 0x0d, 0x6d, 0xfd, 0x6a, 0x70, 0xf3, 0xfb, 0x6f,
};

static const uint8_t ossl_sig_raw[AF_IDSIM_SIG_RAW_LEN] = {
	/* r */
	0xce,
	0x1d,
	0x14,
	0xc6,
	0xaa,
	0xcb,
	0xc1,
	0x7b,
	0xad,
	0x7a,
	0x86,
	0xa7,
	0x46,
	0xfb,
	0xf5,
	0x6b,
	0xb1,
	0x2a,
	0x52,
	0xd5,
	0x1a,
	0x78,
	0x7f,
	0x8d,
	0x81,
	0xa1,
	0x4a,
	0x63,
	0x33,
	0xe8,
	0x17,
	0x5c,
	/* s */
	0x55,
	0xb1,
	0xc2,
	0x5c,
	0xe4,
	0xd4,
	0x9d,
	0xc0,
	0xc8,
	0x2c,
	0x31,
	0xd9,
	0x62,
	0xa6,
	0x99,
	0xce,
	0x25,
	0x08,
	0xe5,
	0x9a,
	0x5c,
	0x65,
	0x4d,
	0x27,
	0x0d,
	0x6d,
	0xfd,
	0x6a,
	0x70,
	0xf3,
	0xfb,
	0x6f,
};

/* A temporary folder per test, for state files. */
struct fixture {
	char dir[64];
	char path[PATH_BUF];
};

static int setup_dir(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/test_idsim.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/phone.json", f->dir);
	*state = f;
	return 0;
}

static int teardown_dir(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_BUF + 16];
	int rc;

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	rc = system(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

/* The raw r||s signature as DER, for OpenSSL's verifier. */
static size_t raw_to_der(const uint8_t raw[AF_IDSIM_SIG_RAW_LEN], uint8_t *der,
			 size_t cap)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL),
	       *s = BN_bin2bn(raw + 32, 32, NULL);
	unsigned char *p = der;
	int n;

	assert_non_null(sig);
	assert_non_null(r);
	assert_non_null(s);
	assert_int_equal(ECDSA_SIG_set0(sig, r, s), 1);
	n = i2d_ECDSA_SIG(sig, NULL);
	assert_true(n > 0 && (size_t)n <= cap);
	assert_int_equal(i2d_ECDSA_SIG(sig, &p), n);
	ECDSA_SIG_free(sig);
	return (size_t)n;
}

/* 1 when OpenSSL verifies the DER signature over msg with key. */
static int openssl_verifies(EVP_PKEY *key, const void *msg, size_t len,
			    const uint8_t *der, size_t derlen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc;

	assert_non_null(md);
	assert_int_equal(
		EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
	rc = EVP_DigestVerify(md, der, derlen, msg, len);
	EVP_MD_CTX_free(md);
	return rc == 1;
}

/* Verifies a base64url raw signature made by af_idsim_sign(). */
static int b64_sig_verifies(EVP_PKEY *key, const char *msg, const char *b64)
{
	uint8_t raw[AF_IDSIM_SIG_RAW_LEN + 4], der[128];
	size_t rawlen = 0, derlen;

	assert_int_equal(
		af_b64url_decode(b64, strlen(b64), raw, sizeof(raw), &rawlen),
		0);
	assert_int_equal(rawlen, AF_IDSIM_SIG_RAW_LEN);
	derlen = raw_to_der(raw, der, sizeof(der));
	return openssl_verifies(key, msg, strlen(msg), der, derlen);
}

static json_t *ossl_jwk(const char *d)
{
	json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv",
				"P-256", "x", OSSL_X, "y", OSSL_Y, "d", d);

	assert_non_null(jwk);
	return jwk;
}

/* ---- the signing string ---- */

static void test_signing_string_get_without_body_matches_openssl(void **state)
{
	char out[SIGNING_BUF], hex[65];
	size_t len = 0;

	(void)state;
	assert_int_equal(af_idsim_signing_string("GET", "/device/v1/challenges",
						 1700000000, V1_NONCE, NULL, 0,
						 out, sizeof(out), &len),
			 AF_IDSIM_CLIENT_OK);
	assert_string_equal(out, V1_STRING);
	assert_int_equal(len, strlen(V1_STRING));
	af_sha256_hex(out, len, hex);
	assert_string_equal(hex, V1_SHA256);
}

static void test_signing_string_post_with_body_matches_openssl(void **state)
{
	char out[SIGNING_BUF], hex[65];
	size_t len = 0;

	(void)state;
	assert_int_equal(af_idsim_signing_string(
				 "POST", "/idp/device/v1/challenges/txn-123",
				 1700000042, V2_NONCE, V2_BODY, strlen(V2_BODY),
				 out, sizeof(out), &len),
			 AF_IDSIM_CLIENT_OK);
	assert_string_equal(out, V2_STRING);
	/* No trailing newline: the digest is the last thing. */
	assert_int_not_equal(out[len - 1], '\n');
	af_sha256_hex(out, len, hex);
	assert_string_equal(hex, V2_SHA256);
}

static void test_signing_string_line_breaking_fields_refused(void **state)
{
	char out[SIGNING_BUF];

	(void)state;
	assert_int_equal(af_idsim_signing_string("GET", "/device/v1/x\nGET", 1,
						 V1_NONCE, NULL, 0, out,
						 sizeof(out), NULL),
			 AF_IDSIM_CLIENT_ERR_ARG);
	assert_int_equal(af_idsim_signing_string("get", "/device/v1/x", 1,
						 V1_NONCE, NULL, 0, out,
						 sizeof(out), NULL),
			 AF_IDSIM_CLIENT_ERR_ARG);
	assert_int_equal(af_idsim_signing_string("GET", "device/v1/x", 1,
						 V1_NONCE, NULL, 0, out,
						 sizeof(out), NULL),
			 AF_IDSIM_CLIENT_ERR_ARG);
	/* 15 characters: one short of the minimum. */
	assert_int_equal(af_idsim_signing_string("GET", "/device/v1/x", 1,
						 "AAECAwQFBgcICQo", NULL, 0,
						 out, sizeof(out), NULL),
			 AF_IDSIM_CLIENT_ERR_ARG);
	assert_int_equal(af_idsim_signing_string("GET", "/device/v1/x", 1,
						 "AAECAwQFBgcICQo+", NULL, 0,
						 out, sizeof(out), NULL),
			 AF_IDSIM_CLIENT_ERR_ARG);
	assert_int_equal(af_idsim_signing_string("GET", "/device/v1/x", -1,
						 V1_NONCE, NULL, 0, out,
						 sizeof(out), NULL),
			 AF_IDSIM_CLIENT_ERR_ARG);
}

static void test_signing_string_small_buffer_too_long(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(af_idsim_signing_string("GET", "/device/v1/challenges",
						 1700000000, V1_NONCE, NULL, 0,
						 out, sizeof(out), NULL),
			 AF_IDSIM_CLIENT_ERR_TOO_LONG);
	assert_string_equal(out, "");
}

/* ---- DER to raw ---- */

static void test_sig_der_to_raw_openssl_signature_gives_r_s(void **state)
{
	uint8_t raw[AF_IDSIM_SIG_RAW_LEN];

	(void)state;
	assert_int_equal(af_idsim_sig_der_to_raw(ossl_sig_der,
						 sizeof(ossl_sig_der), raw),
			 AF_IDSIM_CLIENT_OK);
	assert_memory_equal(raw, ossl_sig_raw, sizeof(raw));
}

static void test_sig_der_to_raw_short_values_left_padded(void **state)
{
	/* SEQUENCE { INTEGER 1, INTEGER 0x0203 } */
	static const uint8_t der[] = {0x30, 0x07, 0x02, 0x01, 0x01,
				      0x02, 0x02, 0x02, 0x03};
	uint8_t raw[AF_IDSIM_SIG_RAW_LEN], want[AF_IDSIM_SIG_RAW_LEN];

	(void)state;
	memset(want, 0, sizeof(want));
	want[31] = 0x01;
	want[62] = 0x02;
	want[63] = 0x03;
	assert_int_equal(af_idsim_sig_der_to_raw(der, sizeof(der), raw),
			 AF_IDSIM_CLIENT_OK);
	assert_memory_equal(raw, want, sizeof(raw));
}

static void test_sig_der_to_raw_malformed_refused(void **state)
{
	uint8_t raw[AF_IDSIM_SIG_RAW_LEN], der[sizeof(ossl_sig_der) + 1];
	uint8_t big[80];
	size_t i;

	(void)state;
	/* Trailing bytes after the SEQUENCE. */
	memcpy(der, ossl_sig_der, sizeof(ossl_sig_der));
	der[sizeof(ossl_sig_der)] = 0x00;
	assert_int_equal(af_idsim_sig_der_to_raw(der, sizeof(der), raw),
			 AF_IDSIM_CLIENT_ERR_SIGNATURE);
	/* Cut short. */
	assert_int_equal(af_idsim_sig_der_to_raw(ossl_sig_der,
						 sizeof(ossl_sig_der) - 1, raw),
			 AF_IDSIM_CLIENT_ERR_SIGNATURE);
	/* r of 33 significant bytes does not fit 32. */
	big[0] = 0x30;
	big[1] = 2 + 33 + 3;
	big[2] = 0x02;
	big[3] = 33;
	for (i = 0; i < 33; i++)
		big[4 + i] = 0x11;
	big[37] = 0x02;
	big[38] = 0x01;
	big[39] = 0x01;
	assert_int_equal(af_idsim_sig_der_to_raw(big, 40, raw),
			 AF_IDSIM_CLIENT_ERR_SIGNATURE);
	assert_int_equal(af_idsim_sig_der_to_raw(NULL, 4, raw),
			 AF_IDSIM_CLIENT_ERR_ARG);
}

/* ---- keys and signatures ---- */

/*
 * The phone's secrets never cross the network in clear text: http:// only
 * to this host, https:// anywhere, and no URL with a user in it.
 */
static void test_client_plain_http_only_to_this_host(void **state)
{
	static const char *const refused[] = {
		"http://0.0.0.0:8080", "http://10.0.0.5", "http://idp.example",
		"http://[2001:db8::1]:8080"};
	static const char *const taken[] = {
		"http://127.0.0.1:8080", "http://[::1]:8080",
		"http://localhost:8080/p", "https://idp.example"};
	af_idsim_client *c = NULL;
	EVP_PKEY *key = NULL;
	size_t i;

	(void)state;
	assert_int_equal(af_idsim_key_generate(&key), AF_IDSIM_CLIENT_OK);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(af_idsim_client_new(refused[i], key, NULL, &c),
				 AF_IDSIM_CLIENT_ERR_PLAIN);
		assert_null(c);
	}
	for (i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		assert_int_equal(af_idsim_client_new(taken[i], key, NULL, &c),
				 AF_IDSIM_CLIENT_OK);
		af_idsim_client_free(c);
		c = NULL;
	}
	assert_int_equal(
		af_idsim_client_new("http://u:p@127.0.0.1:8080", key, NULL, &c),
		AF_IDSIM_CLIENT_ERR_URL);
	EVP_PKEY_free(key);
}

static void test_sign_generated_key_verified_by_openssl(void **state)
{
	char sig[AF_IDSIM_SIG_B64_BUF];
	EVP_PKEY *key = NULL;

	(void)state;
	assert_int_equal(af_idsim_key_generate(&key), AF_IDSIM_CLIENT_OK);
	assert_int_equal(af_idsim_sign(key, V1_STRING, strlen(V1_STRING), sig,
				       sizeof(sig)),
			 AF_IDSIM_CLIENT_OK);
	assert_int_equal(strlen(sig), 86);
	assert_null(strchr(sig, '='));
	assert_true(b64_sig_verifies(key, V1_STRING, sig));
	/* The same signature over another message must fail. */
	assert_false(b64_sig_verifies(key, V2_STRING, sig));
	EVP_PKEY_free(key);
}

static void test_key_from_jwk_openssl_key_verifies_its_signature(void **state)
{
	char sig[AF_IDSIM_SIG_B64_BUF];
	EVP_PKEY *key = NULL;
	json_t *jwk = ossl_jwk(OSSL_D), *back = NULL;

	(void)state;
	assert_int_equal(af_idsim_key_from_jwk(jwk, &key), AF_IDSIM_CLIENT_OK);
	assert_true(openssl_verifies(key, OSSL_MSG, strlen(OSSL_MSG),
				     ossl_sig_der, sizeof(ossl_sig_der)));
	/* Our signature with the imported key verifies too. */
	assert_int_equal(af_idsim_sign(key, OSSL_MSG, strlen(OSSL_MSG), sig,
				       sizeof(sig)),
			 AF_IDSIM_CLIENT_OK);
	assert_true(b64_sig_verifies(key, OSSL_MSG, sig));
	/* Export gives back what was imported. */
	assert_int_equal(af_idsim_key_to_jwk(key, 1, &back),
			 AF_IDSIM_CLIENT_OK);
	assert_true(json_equal(jwk, back));
	json_decref(back);
	assert_int_equal(af_idsim_key_to_jwk(key, 0, &back),
			 AF_IDSIM_CLIENT_OK);
	assert_null(json_object_get(back, "d"));
	assert_string_equal(json_string_value(json_object_get(back, "x")),
			    OSSL_X);
	json_decref(back);
	json_decref(jwk);
	EVP_PKEY_free(key);
}

static void test_key_from_jwk_foreign_d_or_curve_refused(void **state)
{
	EVP_PKEY *key = NULL;
	json_t *jwk;

	(void)state;
	/* A valid scalar that does not belong to the point (d + 1). */
	jwk = ossl_jwk("qe93ycgD3w2STf-9OzvPaERowmPa-404xvKUTYXguH8");
	assert_int_equal(af_idsim_key_from_jwk(jwk, &key),
			 AF_IDSIM_CLIENT_ERR_KEY);
	assert_null(key);
	json_decref(jwk);
	jwk = ossl_jwk(OSSL_D);
	assert_int_equal(json_object_set_new(jwk, "crv", json_string("P-384")),
			 0);
	assert_int_equal(af_idsim_key_from_jwk(jwk, &key),
			 AF_IDSIM_CLIENT_ERR_KEY);
	json_decref(jwk);
	/* A 31-byte d. */
	jwk = ossl_jwk("qe93ycgD3w2STf-9OzvPaERowmPa-404xvKUTYXguA");
	assert_int_equal(af_idsim_key_from_jwk(jwk, &key),
			 AF_IDSIM_CLIENT_ERR_KEY);
	json_decref(jwk);
}

/* ---- the state file ---- */

static af_idsim_state *make_state(EVP_PKEY **key_out)
{
	af_idsim_state *st = NULL;
	EVP_PKEY *key = NULL;
	json_t *totp =
		json_pack("{s:s, s:s, s:i, s:i}", "secret", "JBSWY3DPEHPK3PXP",
			  "algorithm", "SHA1", "digits", 6, "period", 30);

	assert_non_null(totp);
	assert_int_equal(af_idsim_state_new(&st), AF_IDSIM_STATE_OK);
	assert_int_equal(af_idsim_key_generate(&key), AF_IDSIM_CLIENT_OK);
	assert_int_equal(af_idsim_state_set_url(st, "http://127.0.0.1:8080"),
			 AF_IDSIM_STATE_OK);
	assert_int_equal(af_idsim_state_set_device_id(st, "dev-1"),
			 AF_IDSIM_STATE_OK);
	assert_int_equal(af_idsim_state_set_key(st, key), AF_IDSIM_STATE_OK);
	assert_int_equal(af_idsim_state_set_push(st, "apns", "tok-1"),
			 AF_IDSIM_STATE_OK);
	assert_int_equal(af_idsim_state_set_totp(st, totp, NULL, 0),
			 AF_IDSIM_STATE_OK);
	json_decref(totp);
	*key_out = key;
	return st;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/*
 * A token-code secret is kept only when 'code' can use it: base32 that
 * decodes to 1..TC_SECRET_MAX bytes.
 */
static void test_state_totp_secret_must_decode(void **state)
{
	static const char *const bad[] = {"=", "A", "ABC", "JBSWY3DP!", NULL};
	char big[AF_IDSIM_STATE_SECRET_MAX + 1];
	af_idsim_state *st = NULL;
	json_t *totp;
	size_t i;

	(void)state;
	assert_int_equal(af_idsim_state_new(&st), AF_IDSIM_STATE_OK);
	for (i = 0; bad[i] != NULL; i++) {
		totp = json_pack("{s:s}", "secret", bad[i]);
		assert_int_equal(af_idsim_state_set_totp(st, totp, NULL, 0),
				 AF_IDSIM_STATE_ERR_FORMAT);
		json_decref(totp);
	}
	/* Longer than a secret can be, though within the text's bound. */
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	totp = json_pack("{s:s}", "secret", big);
	assert_int_equal(af_idsim_state_set_totp(st, totp, NULL, 0),
			 AF_IDSIM_STATE_ERR_FORMAT);
	json_decref(totp);
	totp = json_pack("{s:s}", "secret", "JBSWY3DPEHPK3PXP");
	assert_int_equal(af_idsim_state_set_totp(st, totp, NULL, 0),
			 AF_IDSIM_STATE_OK);
	json_decref(totp);
	af_idsim_state_free(st);
}

static void test_state_save_load_round_trip_mode_0600(void **state)
{
	struct fixture *f = *state;
	char err[AF_IDSIM_STATE_ERR_BUF], sig[AF_IDSIM_SIG_B64_BUF];
	af_idsim_state *st, *back = NULL;
	EVP_PKEY *key = NULL;
	struct stat sb;

	st = make_state(&key);
	assert_int_equal(af_idsim_state_save(st, f->path, 0, err, sizeof(err)),
			 AF_IDSIM_STATE_OK);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_OK);
	assert_string_equal(af_idsim_state_url(back), "http://127.0.0.1:8080");
	assert_string_equal(af_idsim_state_device_id(back), "dev-1");
	assert_string_equal(af_idsim_state_platform(back), "apns");
	assert_string_equal(af_idsim_state_push_token(back), "tok-1");
	assert_string_equal(af_idsim_state_totp_secret(back),
			    "JBSWY3DPEHPK3PXP");
	assert_string_equal(af_idsim_state_totp_algorithm(back), "SHA1");
	assert_int_equal(af_idsim_state_totp_digits(back), 6);
	assert_int_equal(af_idsim_state_totp_period(back), 30);
	/* The key read back signs for the public key made at first. */
	assert_int_equal(af_idsim_sign(af_idsim_state_key(back), V2_STRING,
				       strlen(V2_STRING), sig, sizeof(sig)),
			 AF_IDSIM_CLIENT_OK);
	assert_true(b64_sig_verifies(key, V2_STRING, sig));
	af_idsim_state_free(back);
	af_idsim_state_free(st);
	EVP_PKEY_free(key);
}

static void test_state_load_mode_0644_refused(void **state)
{
	struct fixture *f = *state;
	char err[AF_IDSIM_STATE_ERR_BUF];
	af_idsim_state *st, *back = NULL;
	EVP_PKEY *key = NULL;

	st = make_state(&key);
	assert_int_equal(af_idsim_state_save(st, f->path, 0, err, sizeof(err)),
			 AF_IDSIM_STATE_OK);
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_MODE);
	assert_null(back);
	assert_non_null(strstr(err, "0644"));
	assert_int_equal(chmod(f->path, 0640), 0);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_MODE);
	assert_int_equal(chmod(f->path, 0700), 0);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_MODE);
	/* 0400 is narrower than 0600, so it is accepted. */
	assert_int_equal(chmod(f->path, 0400), 0);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_OK);
	af_idsim_state_free(back);
	af_idsim_state_free(st);
	EVP_PKEY_free(key);
}

static void test_state_save_existing_without_replace_refused(void **state)
{
	struct fixture *f = *state;
	char err[AF_IDSIM_STATE_ERR_BUF];
	af_idsim_state *st;
	EVP_PKEY *key = NULL;
	struct stat sb;

	write_file(f->path, "keep me", 0600);
	st = make_state(&key);
	assert_int_equal(af_idsim_state_save(st, f->path, 0, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_EXISTS);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_size, 7);
	assert_int_equal(af_idsim_state_save(st, f->path, 1, err, sizeof(err)),
			 AF_IDSIM_STATE_OK);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_true(sb.st_size > 7);
	assert_int_equal(sb.st_mode & 07777, 0600);
	af_idsim_state_free(st);
	EVP_PKEY_free(key);
}

/* The check enroll makes before spending its code leaves nothing. */
static void test_state_writable_probe_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	char err[AF_IDSIM_STATE_ERR_BUF], missing[PATH_BUF + 16];
	struct dirent *e;
	DIR *d;
	int entries = 0;

	assert_int_equal(af_idsim_state_writable(f->path, err, sizeof(err)),
			 AF_IDSIM_STATE_OK);
	d = opendir(f->dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			entries++;
	closedir(d);
	assert_int_equal(entries, 0);
	snprintf(missing, sizeof(missing), "%s/no-such-dir/phone.json", f->dir);
	assert_int_equal(af_idsim_state_writable(missing, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_IO);
	assert_non_null(strstr(err, "no-such-dir"));
	write_file(f->path, "keep me", 0600);
	assert_int_equal(af_idsim_state_writable(f->path, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_EXISTS);
	assert_int_equal(af_idsim_state_writable("", err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_ARG);
}

static void test_state_load_symlink_and_missing_refused(void **state)
{
	struct fixture *f = *state;
	char err[AF_IDSIM_STATE_ERR_BUF], link_path[PATH_BUF + 8];
	af_idsim_state *st, *back = NULL;
	EVP_PKEY *key = NULL;

	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_MISSING);
	st = make_state(&key);
	assert_int_equal(af_idsim_state_save(st, f->path, 0, err, sizeof(err)),
			 AF_IDSIM_STATE_OK);
	snprintf(link_path, sizeof(link_path), "%s/link", f->dir);
	assert_int_equal(symlink(f->path, link_path), 0);
	assert_int_equal(
		af_idsim_state_load(link_path, &back, err, sizeof(err)),
		AF_IDSIM_STATE_ERR_NOT_FILE);
	assert_int_equal(af_idsim_state_load(f->dir, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_NOT_FILE);
	assert_null(back);
	af_idsim_state_free(st);
	EVP_PKEY_free(key);
}

static void test_state_load_malformed_names_member(void **state)
{
	struct fixture *f = *state;
	char err[AF_IDSIM_STATE_ERR_BUF];
	af_idsim_state *back = NULL;

	write_file(f->path, "not json", 0600);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_FORMAT);
	write_file(f->path, "{\"url\":\"http://h\"}", 0600);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_FORMAT);
	assert_non_null(strstr(err, "device_id"));
	write_file(f->path,
		   "{\"url\":\"http://h\",\"device_id\":\"d\",\"totp\":"
		   "{\"secret\":\"JBSWY3DP\",\"digits\":7},"
		   "\"private_key\":{}}",
		   0600);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_FORMAT);
	assert_non_null(strstr(err, "totp.digits"));
	write_file(
		f->path,
		"{\"url\":\"http://h\",\"device_id\":\"d\",\"totp\":"
		"{\"secret\":\"JBSWY3DP\"},\"private_key\":{\"kty\":\"EC\"}}",
		0600);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_KEY);
	assert_null(back);
	/* A misspelt member, or a platform the server has none of. */
	write_file(f->path,
		   "{\"url\":\"http://h\",\"device_id\":\"d\",\"totp\":"
		   "{\"secret\":\"JBSWY3DP\"},\"private_key\":{},"
		   "\"push-token\":\"t\"}",
		   0600);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_FORMAT);
	assert_non_null(strstr(err, "unknown member 'push-token'"));
	write_file(f->path,
		   "{\"url\":\"http://h\",\"device_id\":\"d\",\"totp\":"
		   "{\"secret\":\"JBSWY3DP\"},\"private_key\":{},"
		   "\"platform\":\"bogus\"}",
		   0600);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_FORMAT);
	assert_non_null(strstr(err, "'platform'"));
	write_file(f->path,
		   "{\"url\":\"http://h\",\"device_id\":\"d\",\"totp\":"
		   "{\"secret\":\"JBSWY3DP\"},\"private_key\":{},"
		   "\"platform\":\"apns\"}",
		   0600);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_ERR_FORMAT);
	assert_non_null(strstr(err, "'push_token'"));
	assert_null(back);
}

static void test_state_load_pem_private_key_accepted(void **state)
{
	/* openssl ecparam -name prime256v1 -genkey -noout (the key above) */
	static const char pem[] =
		"-----BEGIN EC PRIVATE KEY-----\\n"
		"MHcCAQEEIKnvd8nIA98Nkk3/vTs7z2hEaMJj2vuNOMbylE2F4Lh+oAoGCCqGSM49\\n"
		"AwEHoUQDQgAEMP+eTIKeidNwmVFi0TioiXN0T6eXmBZDXJAxM0D8UFYx1dKCaite\\n"
		"IBm0hkhk9u8SclyyuZieYnhyHh8SHTRe6g==\\n"
		"-----END EC PRIVATE KEY-----\\n";
	struct fixture *f = *state;
	char err[AF_IDSIM_STATE_ERR_BUF], text[1024];
	af_idsim_state *back = NULL;

	snprintf(text, sizeof(text),
		 "{\"url\":\"http://h\",\"device_id\":\"d\",\"totp\":"
		 "{\"secret\":\"JBSWY3DP\"},\"private_key\":\"%s\"}",
		 pem);
	write_file(f->path, text, 0600);
	assert_int_equal(af_idsim_state_load(f->path, &back, err, sizeof(err)),
			 AF_IDSIM_STATE_OK);
	assert_true(openssl_verifies(af_idsim_state_key(back), OSSL_MSG,
				     strlen(OSSL_MSG), ossl_sig_der,
				     sizeof(ossl_sig_der)));
	assert_string_equal(af_idsim_state_platform(back), "none");
	assert_null(af_idsim_state_push_token(back));
	assert_int_equal(af_idsim_state_totp_digits(back), 6);
	af_idsim_state_free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_plain_http_only_to_this_host),
		cmocka_unit_test(
			test_signing_string_get_without_body_matches_openssl),
		cmocka_unit_test(
			test_signing_string_post_with_body_matches_openssl),
		cmocka_unit_test(
			test_signing_string_line_breaking_fields_refused),
		cmocka_unit_test(test_signing_string_small_buffer_too_long),
		cmocka_unit_test(
			test_sig_der_to_raw_openssl_signature_gives_r_s),
		cmocka_unit_test(test_sig_der_to_raw_short_values_left_padded),
		cmocka_unit_test(test_sig_der_to_raw_malformed_refused),
		cmocka_unit_test(test_sign_generated_key_verified_by_openssl),
		cmocka_unit_test(
			test_key_from_jwk_openssl_key_verifies_its_signature),
		cmocka_unit_test(test_key_from_jwk_foreign_d_or_curve_refused),
		cmocka_unit_test(test_state_totp_secret_must_decode),
		cmocka_unit_test_setup_teardown(
			test_state_save_load_round_trip_mode_0600, setup_dir,
			teardown_dir),
		cmocka_unit_test_setup_teardown(
			test_state_load_mode_0644_refused, setup_dir,
			teardown_dir),
		cmocka_unit_test_setup_teardown(
			test_state_save_existing_without_replace_refused,
			setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
			test_state_writable_probe_leaves_nothing, setup_dir,
			teardown_dir),
		cmocka_unit_test_setup_teardown(
			test_state_load_symlink_and_missing_refused, setup_dir,
			teardown_dir),
		cmocka_unit_test_setup_teardown(
			test_state_load_malformed_names_member, setup_dir,
			teardown_dir),
		cmocka_unit_test_setup_teardown(
			test_state_load_pem_private_key_accepted, setup_dir,
			teardown_dir),
	};

	/* As idsim does: jansson's copies of keys are wiped when freed. */
	json_set_alloc_funcs(af_secmem_malloc, af_secmem_free);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
