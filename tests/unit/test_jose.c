/*
 * Unit tests of the JOSE module: RFC 7638 and OIDC vectors, JWT round
 * trips and refusals, the JWKS, rotation and retirement, concurrent first
 * starts, and the key status. Every test runs on the memory store.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <cjose/header.h>
#include <cjose/jwk.h>
#include <cjose/jws.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/jose.h"
#include "common/store.h"
#include "common/util.h"

#define LIFETIME_DAYS 90
#define ALERT_DAYS    30
#define MAX_TOKEN_S   600
#define DAY_S	      ((int64_t)86400)

struct fixture {
	store_ctx *st;
	af_keyring *kr;
};

static af_keyring_options test_options(void)
{
	af_keyring_options o = {
		.rsa_bits = 2048,
		.lifetime_days = LIFETIME_DAYS,
		.alert_days = ALERT_DAYS,
		.max_token_lifetime_s = MAX_TOKEN_S,
	};

	return o;
}

static store_ctx *memory_store(void)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	store_ctx *st = NULL;
	char err[128];

	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	assert_non_null(st);
	return st;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	af_keyring_options o = test_options();

	if (fx == NULL)
		return -1;
	fx->st = memory_store();
	if (af_keyring_open(fx->st, &o, &fx->kr) != JOSE_OK) {
		store_close(fx->st);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	af_keyring_free(fx->kr);
	store_close(fx->st);
	free(fx);
	return 0;
}

static json_t *test_claims(void)
{
	json_t *c = json_pack("{s:s, s:s, s:[s, s], s:I, s:{s:b}, s:s}", "iss",
			      "https://id.example.com", "sub", "alice", "aud",
			      "app1", "app2", "exp", (json_int_t)2000000000,
			      "extra", "mfa", 1, "name", "Zoë \"Z\" /");

	assert_non_null(c);
	return c;
}

static char *sign_test_token(af_keyring *kr)
{
	json_t *claims = test_claims();
	char *jwt = NULL;

	assert_int_equal(af_jwt_sign(kr, claims, "JWT", &jwt), JOSE_OK);
	assert_non_null(jwt);
	json_decref(claims);
	return jwt;
}

static jose_status verify_text(af_keyring *kr, const char *jwt)
{
	json_t *claims = (json_t *)1;
	jose_status st = af_jwt_verify(kr, jwt, strlen(jwt), &claims);

	if (st != JOSE_OK)
		assert_null(claims);
	json_decref(claims);
	return st;
}

static char *b64url_of(const char *text)
{
	size_t cap = af_b64url_len(strlen(text)) + 1;
	char *out = malloc(cap);

	assert_non_null(out);
	assert_int_equal(af_b64url_encode(text, strlen(text), out, cap), 0);
	return out;
}

/* The JSON of a token's first part. */
static json_t *header_of(const char *jwt)
{
	const char *dot = strchr(jwt, '.');
	uint8_t buf[512];
	size_t n = 0;

	assert_non_null(dot);
	assert_int_equal(af_b64url_decode(jwt, (size_t)(dot - jwt), buf,
					  sizeof(buf), &n),
			 0);
	return json_loadb((const char *)buf, n, 0, NULL);
}

/* A copy of jwt with its header replaced by header_json. */
static char *with_header(const char *jwt, const char *header_json)
{
	char *h = b64url_of(header_json);
	const char *rest = strchr(jwt, '.');
	size_t cap = strlen(h) + strlen(rest) + 1;
	char *out = malloc(cap);

	assert_non_null(out);
	assert_true(snprintf(out, cap, "%s%s", h, rest) > 0);
	free(h);
	return out;
}

static void signing_kid(af_keyring *kr, char *kid)
{
	json_t *s = af_keyring_status(kr);
	const char *k;

	assert_non_null(s);
	k = json_string_value(json_object_get(s, "signing_kid"));
	assert_non_null(k);
	assert_true(strlen(k) <= JOSE_KID_MAX);
	memcpy(kid, k, strlen(k) + 1);
	json_decref(s);
}

static json_t *ring_get(store_ctx *st)
{
	store_value v = {0};
	json_t *ring;

	assert_int_equal(store_get(st, JOSE_RING_STORE_KEY, &v), STORE_OK);
	ring = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_non_null(ring);
	return ring;
}

static void ring_put(store_ctx *st, json_t *ring)
{
	char *text = json_dumps(ring, JSON_COMPACT);

	assert_non_null(text);
	assert_int_equal(
		store_set(st, JOSE_RING_STORE_KEY, text, strlen(text), 0, 0),
		STORE_OK);
	free(text);
}

static size_t ring_size(store_ctx *st)
{
	json_t *ring = ring_get(st);
	size_t n = json_array_size(json_object_get(ring, "keys"));

	json_decref(ring);
	return n;
}

/* Sets the times of the ring entry at index in the store. */
static void ring_set_times(store_ctx *st, size_t index, int64_t expires_at,
			   int64_t retire_after)
{
	json_t *ring = ring_get(st);
	json_t *e = json_array_get(json_object_get(ring, "keys"), index);

	assert_non_null(e);
	assert_int_equal(
		json_object_set_new(e, "expires_at", json_integer(expires_at)),
		0);
	assert_int_equal(json_object_set_new(e, "retire_after",
					     json_integer(retire_after)),
			 0);
	ring_put(st, ring);
	json_decref(ring);
}

/* Expires every key of the ring in the store (still in /jwks). */
static void ring_expire_all(store_ctx *st)
{
	size_t i, n = ring_size(st);

	for (i = 0; i < n; i++)
		ring_set_times(st, i, af_now() - 10, af_now() + MAX_TOKEN_S);
}

static bool jwks_has_kid(const json_t *jwks, const char *kid)
{
	const json_t *keys = json_object_get(jwks, "keys");
	size_t i;

	for (i = 0; i < json_array_size(keys); i++)
		if (strcmp(json_string_value(json_object_get(
				   json_array_get(keys, i), "kid")),
			   kid) == 0)
			return true;
	return false;
}

/* A cjose key made from the private JWK of ring entry index. */
static cjose_jwk_t *ring_private_key(store_ctx *st, size_t index)
{
	json_t *ring = ring_get(st);
	json_t *e = json_array_get(json_object_get(ring, "keys"), index);
	cjose_jwk_t *jwk;
	cjose_err cerr;

	assert_non_null(e);
	jwk = cjose_jwk_import_json(json_object_get(e, "jwk"), &cerr);
	assert_non_null(jwk);
	json_decref(ring);
	return jwk;
}

/* RFC 7638 section 3.1. */
static void test_jwk_thumbprint_rfc7638_example_matches(void **state)
{
	static const char jwk_text[] =
		"{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2"
		"aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
		"ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ"
		"5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvR"
		"L5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3X"
		"PksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":"
		"\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
	json_t *jwk = json_loads(jwk_text, 0, NULL);
	char kid[JOSE_KID_MAX + 1];

	(void)state;
	assert_non_null(jwk);
	assert_int_equal(af_jwk_thumbprint(jwk, kid), JOSE_OK);
	assert_string_equal(kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	json_decref(jwk);
}

static void test_jwk_thumbprint_bad_jwk_refused(void **state)
{
	static const char *const bad[] = {
		"{\"kty\":\"EC\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		"{\"kty\":\"RSA\",\"e\":\"AQAB\"}",
		"{\"kty\":\"RSA\",\"n\":\"ab\\\"c\",\"e\":\"AQAB\"}",
		"{\"kty\":\"RSA\",\"n\":\"ab+/\",\"e\":\"AQAB\"}",
		"{\"kty\":\"RSA\",\"n\":\"\",\"e\":\"AQAB\"}",
		"{\"n\":\"AQAB\",\"e\":\"AQAB\"}",
	};
	char kid[JOSE_KID_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *jwk = json_loads(bad[i], 0, NULL);

		assert_non_null(jwk);
		assert_int_equal(af_jwk_thumbprint(jwk, kid), JOSE_ERR_ARG);
		json_decref(jwk);
	}
	assert_int_equal(af_jwk_thumbprint(NULL, kid), JOSE_ERR_ARG);
}

/*
 * at_hash computed independently (python hashlib and the openssl command)
 * and the c_hash example of OIDC Core appendix A.4.
 */
static void test_oidc_half_hash_known_vectors_match(void **state)
{
	char out[JOSE_HALF_HASH_LEN];
	char small[JOSE_HALF_HASH_LEN - 1];

	(void)state;
	af_oidc_half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNxYbL6GKTYBDJrIkR0U", out,
			  sizeof(out));
	assert_string_equal(out, "14tilyYEn9O7YtI5WNxcYg");
	af_oidc_half_hash(
		"Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk",
		out, sizeof(out));
	assert_string_equal(out, "LDktKdoQak3Pk0cnXxCltA");
	memset(small, 'x', sizeof(small));
	af_oidc_half_hash("abc", small, sizeof(small));
	assert_string_equal(small, "");
	af_oidc_half_hash(NULL, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_strerror_never_null(void **state)
{
	int i;

	(void)state;
	for (i = -20; i <= 1; i++)
		assert_non_null(jose_strerror((jose_status)i));
	assert_string_equal(jose_strerror(JOSE_ERR_UNKNOWN_KID),
			    "JWT signed by an unknown key");
}

static void test_jwt_sign_verify_round_trip_preserves_claims(void **state)
{
	struct fixture *fx = *state;
	json_t *claims = test_claims(), *back = NULL, *hdr;
	char kid[JOSE_KID_MAX + 1];
	char *jwt = NULL;

	assert_int_equal(af_jwt_sign(fx->kr, claims, "JWT", &jwt), JOSE_OK);
	assert_int_equal(af_jwt_verify(fx->kr, jwt, strlen(jwt), &back),
			 JOSE_OK);
	assert_non_null(back);
	assert_true(json_equal(claims, back));

	signing_kid(fx->kr, kid);
	hdr = header_of(jwt);
	assert_non_null(hdr);
	assert_int_equal(json_object_size(hdr), 3);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
			    "RS256");
	assert_string_equal(json_string_value(json_object_get(hdr, "typ")),
			    "JWT");
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")),
			    kid);
	json_decref(hdr);
	json_decref(back);
	json_decref(claims);
	free(jwt);
}

static void test_jwt_sign_access_token_typ_in_header(void **state)
{
	struct fixture *fx = *state;
	json_t *claims = test_claims(), *hdr, *back = (json_t *)1;
	char *jwt = NULL;

	assert_int_equal(af_jwt_sign(fx->kr, claims, "at+jwt", &jwt), JOSE_OK);
	hdr = header_of(jwt);
	assert_string_equal(json_string_value(json_object_get(hdr, "typ")),
			    "at+jwt");
	assert_int_equal(verify_text(fx->kr, jwt), JOSE_OK);
	/* An access token does not pass where an ID token is wanted. */
	assert_int_equal(
		af_jwt_verify_typ(fx->kr, jwt, strlen(jwt), "JWT", &back),
		JOSE_ERR_MALFORMED);
	assert_null(back);
	assert_int_equal(
		af_jwt_verify_typ(fx->kr, jwt, strlen(jwt), "AT+JWT", &back),
		JOSE_OK);
	json_decref(back);
	json_decref(hdr);
	json_decref(claims);
	free(jwt);
}

static void test_jwt_sign_bad_args_refused(void **state)
{
	struct fixture *fx = *state;
	json_t *claims = test_claims(), *arr = json_array();
	char *jwt = (char *)1;

	assert_int_equal(af_jwt_sign(fx->kr, arr, "JWT", &jwt), JOSE_ERR_ARG);
	assert_null(jwt);
	assert_int_equal(af_jwt_sign(fx->kr, claims, "", &jwt), JOSE_ERR_ARG);
	assert_int_equal(af_jwt_sign(fx->kr, claims,
				     "a-very-long-type-name-over-the-cap+jwt",
				     &jwt),
			 JOSE_ERR_ARG);
	assert_int_equal(af_jwt_sign(fx->kr, claims, NULL, &jwt), JOSE_ERR_ARG);
	assert_int_equal(af_jwt_sign(NULL, claims, "JWT", &jwt), JOSE_ERR_ARG);
	assert_int_equal(af_jwt_sign(fx->kr, NULL, "JWT", &jwt), JOSE_ERR_ARG);
	assert_int_equal(af_jwt_sign(fx->kr, claims, "JWT", NULL),
			 JOSE_ERR_ARG);
	json_decref(arr);
	json_decref(claims);
}

static void test_jwt_verify_tampered_payload_refused(void **state)
{
	struct fixture *fx = *state;
	char *jwt = sign_test_token(fx->kr);
	char *forged = b64url_of("{\"sub\":\"mallory\"}");
	const char *p1 = strchr(jwt, '.'), *p2 = strchr(p1 + 1, '.');
	size_t cap = strlen(jwt) + strlen(forged) + 1;
	char *bad = malloc(cap);

	assert_non_null(bad);
	assert_true(snprintf(bad, cap, "%.*s.%s%s", (int)(p1 - jwt), jwt,
			     forged, p2) > 0);
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_SIGNATURE);

	/* One flipped character of the original payload. */
	memcpy(bad, jwt, strlen(jwt) + 1);
	bad[p1 - jwt + 5] = bad[p1 - jwt + 5] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_SIGNATURE);
	free(bad);
	free(forged);
	free(jwt);
}

static void test_jwt_verify_tampered_signature_refused(void **state)
{
	struct fixture *fx = *state;
	char *jwt = sign_test_token(fx->kr);
	const char *sig = strrchr(jwt, '.') + 1;
	size_t at = (size_t)(sig - jwt) + strlen(sig) / 2;

	jwt[at] = jwt[at] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_text(fx->kr, jwt), JOSE_ERR_SIGNATURE);
	free(jwt);
}

static void test_jwt_verify_alg_none_refused(void **state)
{
	struct fixture *fx = *state;
	char *jwt = sign_test_token(fx->kr);
	char kid[JOSE_KID_MAX + 1], hdr[256];
	char *bad;

	signing_kid(fx->kr, kid);
	assert_true(
		snprintf(hdr, sizeof(hdr),
			 "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
			 kid) > 0);
	bad = with_header(jwt, hdr);
	/* With the original signature, and unsigned as "none" wants it. */
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_SIGNATURE);
	*(strrchr(bad, '.') + 1) = '\0';
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_SIGNATURE);
	free(bad);

	bad = with_header(jwt, "{\"alg\":\"none\"}");
	*(strrchr(bad, '.') + 1) = '\0';
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_SIGNATURE);
	free(bad);
	free(jwt);
}

/*
 * The key confusion attack: an HS256 token whose HMAC key is the public
 * modulus as published in /jwks.
 */
static void test_jwt_verify_hs256_header_refused(void **state)
{
	struct fixture *fx = *state;
	char kid[JOSE_KID_MAX + 1], hdr_text[256];
	json_t *jwks = af_keyring_jwks(fx->kr);
	const char *n = json_string_value(json_object_get(
		json_array_get(json_object_get(jwks, "keys"), 0), "n"));
	char *hdr, *payload, *input, sig64[64];
	uint8_t mac[32];
	size_t maclen = 0, cap;
	char *bad;

	assert_non_null(n);
	signing_kid(fx->kr, kid);
	assert_true(
		snprintf(hdr_text, sizeof(hdr_text),
			 "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
			 kid) > 0);
	hdr = b64url_of(hdr_text);
	payload = b64url_of("{\"sub\":\"mallory\"}");
	cap = strlen(hdr) + strlen(payload) + 2;
	input = malloc(cap);
	assert_non_null(input);
	assert_true(snprintf(input, cap, "%s.%s", hdr, payload) > 0);
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, n,
				  strlen(n), (const unsigned char *)input,
				  strlen(input), mac, sizeof(mac), &maclen));
	assert_int_equal(af_b64url_encode(mac, maclen, sig64, sizeof(sig64)),
			 0);
	cap = strlen(input) + strlen(sig64) + 2;
	bad = malloc(cap);
	assert_non_null(bad);
	assert_true(snprintf(bad, cap, "%s.%s", input, sig64) > 0);
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_SIGNATURE);

	free(bad);
	free(input);
	free(payload);
	free(hdr);
	json_decref(jwks);
}

/* A token correctly signed by a ring key, but with another alg named. */
static void test_jwt_verify_other_rsa_alg_refused(void **state)
{
	struct fixture *fx = *state;
	cjose_jwk_t *jwk = ring_private_key(fx->st, 0);
	cjose_header_t *hdr;
	cjose_jws_t *jws;
	const char *compact = NULL;
	char kid[JOSE_KID_MAX + 1];
	cjose_err cerr;

	signing_kid(fx->kr, kid);
	hdr = cjose_header_new(&cerr);
	assert_non_null(hdr);
	assert_true(cjose_header_set(hdr, CJOSE_HDR_ALG, "RS384", &cerr));
	assert_true(cjose_header_set(hdr, CJOSE_HDR_KID, kid, &cerr));
	jws = cjose_jws_sign(jwk, hdr, (const uint8_t *)"{}", 2, &cerr);
	assert_non_null(jws);
	assert_true(cjose_jws_export(jws, &compact, &cerr));
	assert_int_equal(verify_text(fx->kr, compact), JOSE_ERR_SIGNATURE);
	cjose_jws_release(jws);
	cjose_header_release(hdr);
	cjose_jwk_release(jwk);
}

/* A good signature over a payload that is JSON but not an object. */
static void test_jwt_verify_payload_not_object_refused(void **state)
{
	struct fixture *fx = *state;
	static const char *const payloads[] = {"[1,2]", "\"text\"", "{bad",
					       "{\"a\":1,\"a\":2}"};
	cjose_jwk_t *jwk = ring_private_key(fx->st, 0);
	char kid[JOSE_KID_MAX + 1];
	cjose_err cerr;
	size_t i;

	signing_kid(fx->kr, kid);
	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		cjose_header_t *hdr = cjose_header_new(&cerr);
		const char *compact = NULL;
		cjose_jws_t *jws;

		assert_non_null(hdr);
		assert_true(
			cjose_header_set(hdr, CJOSE_HDR_ALG, "RS256", &cerr));
		assert_true(cjose_header_set(hdr, CJOSE_HDR_KID, kid, &cerr));
		jws = cjose_jws_sign(jwk, hdr, (const uint8_t *)payloads[i],
				     strlen(payloads[i]), &cerr);
		assert_non_null(jws);
		assert_true(cjose_jws_export(jws, &compact, &cerr));
		assert_int_equal(verify_text(fx->kr, compact),
				 JOSE_ERR_MALFORMED);
		cjose_jws_release(jws);
		cjose_header_release(hdr);
	}
	cjose_jwk_release(jwk);
}

static void test_jwt_verify_unknown_kid_refused(void **state)
{
	struct fixture *fx = *state;
	store_ctx *other_st = memory_store();
	af_keyring_options o = test_options();
	af_keyring *other = NULL;
	char *jwt;

	assert_int_equal(af_keyring_open(other_st, &o, &other), JOSE_OK);
	jwt = sign_test_token(other);
	assert_int_equal(verify_text(other, jwt), JOSE_OK);
	assert_int_equal(verify_text(fx->kr, jwt), JOSE_ERR_UNKNOWN_KID);
	free(jwt);
	af_keyring_free(other);
	store_close(other_st);
}

static void test_jwt_verify_truncated_refused(void **state)
{
	struct fixture *fx = *state;
	char *jwt = sign_test_token(fx->kr);
	size_t len = strlen(jwt);
	size_t sig_at = (size_t)(strrchr(jwt, '.') - jwt) + 1;
	json_t *claims = NULL;

	/* Cut inside the payload: only one dot left. */
	assert_int_equal(af_jwt_verify(fx->kr, jwt, sig_at / 2, &claims),
			 JOSE_ERR_MALFORMED);
	/* Cut right after the second dot: no signature at all. */
	assert_int_equal(af_jwt_verify(fx->kr, jwt, sig_at, &claims),
			 JOSE_ERR_SIGNATURE);
	/* A signature a few bytes short. */
	assert_int_not_equal(af_jwt_verify(fx->kr, jwt, len - 4, &claims),
			     JOSE_OK);
	assert_int_not_equal(af_jwt_verify(fx->kr, jwt, len - 1, &claims),
			     JOSE_OK);
	assert_int_equal(af_jwt_verify(fx->kr, jwt, 0, &claims),
			 JOSE_ERR_MALFORMED);
	assert_null(claims);
	free(jwt);
}

static void test_jwt_verify_oversize_refused(void **state)
{
	struct fixture *fx = *state;
	char *jwt = sign_test_token(fx->kr);
	char *big = malloc(JOSE_JWT_MAX + 2);
	json_t *claims = NULL;

	assert_non_null(big);
	memset(big, 'A', JOSE_JWT_MAX + 1);
	memcpy(big, jwt, strlen(jwt));
	big[JOSE_JWT_MAX + 1] = '\0';
	assert_int_equal(af_jwt_verify(fx->kr, big, JOSE_JWT_MAX + 1, &claims),
			 JOSE_ERR_TOO_BIG);
	assert_null(claims);
	/* The real token inside the same buffer, length given exactly. */
	assert_int_equal(af_jwt_verify(fx->kr, big, strlen(jwt), &claims),
			 JOSE_OK);
	json_decref(claims);
	free(big);
	free(jwt);
}

static void test_jwt_verify_malformed_refused(void **state)
{
	struct fixture *fx = *state;
	char *jwt = sign_test_token(fx->kr);
	char kid[JOSE_KID_MAX + 1], hdr[256];
	size_t cap = strlen(jwt) + 8;
	char *bad = malloc(cap);

	assert_non_null(bad);
	signing_kid(fx->kr, kid);

	assert_int_equal(verify_text(fx->kr, "abc"), JOSE_ERR_MALFORMED);
	assert_int_equal(verify_text(fx->kr, ".."), JOSE_ERR_MALFORMED);
	assert_true(snprintf(bad, cap, "%s.x", jwt) > 0); /* four parts */
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_MALFORMED);
	memcpy(bad, jwt, strlen(jwt) + 1);
	bad[3] = '+'; /* base64, not base64url */
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_MALFORMED);
	free(bad);

	bad = with_header(jwt, "[1]");
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_MALFORMED);
	free(bad);
	bad = with_header(jwt, "{\"alg\":\"RS256\"}"); /* no kid */
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_MALFORMED);
	free(bad);
	assert_true(snprintf(hdr, sizeof(hdr),
			     "{\"alg\":\"RS256\",\"kid\":\"%s\",\"crit\":"
			     "[\"exp\"],\"exp\":1}",
			     kid) > 0);
	bad = with_header(jwt, hdr);
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_MALFORMED);
	free(bad);
	assert_true(
		snprintf(hdr, sizeof(hdr),
			 "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"%s\"}",
			 kid) > 0);
	bad = with_header(jwt, hdr);
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_MALFORMED);
	free(bad);
	/* An embedded NUL must not pass for "RS256". */
	bad = with_header(jwt, "{\"alg\":\"RS256\\u0000x\",\"kid\":\"k\"}");
	assert_int_not_equal(verify_text(fx->kr, bad), JOSE_OK);
	free(bad);
	bad = with_header(jwt, "{\"alg\":\"RS256\",\"kid\":\"nosuchkey\"}");
	assert_int_equal(verify_text(fx->kr, bad), JOSE_ERR_UNKNOWN_KID);
	free(bad);
	free(jwt);
}

static void check_public_jwk(const json_t *k)
{
	static const char *const private_members[] = {"d",  "p",  "q",
						      "dp", "dq", "qi"};
	char thumb[JOSE_KID_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]);
	     i++)
		assert_null(json_object_get(k, private_members[i]));
	assert_int_equal(json_object_size(k), 6);
	assert_string_equal(json_string_value(json_object_get(k, "kty")),
			    "RSA");
	assert_string_equal(json_string_value(json_object_get(k, "use")),
			    "sig");
	assert_string_equal(json_string_value(json_object_get(k, "alg")),
			    "RS256");
	assert_string_equal(json_string_value(json_object_get(k, "e")), "AQAB");
	assert_int_equal(af_jwk_thumbprint(k, thumb), JOSE_OK);
	assert_string_equal(json_string_value(json_object_get(k, "kid")),
			    thumb);
}

static void test_keyring_jwks_public_only_distinct_kids(void **state)
{
	struct fixture *fx = *state;
	json_t *jwks, *keys;
	char *text;
	size_t i, j;

	assert_int_equal(af_keyring_rotate(fx->kr, NULL), JOSE_OK);
	assert_int_equal(af_keyring_rotate(fx->kr, NULL), JOSE_OK);
	jwks = af_keyring_jwks(fx->kr);
	assert_non_null(jwks);
	assert_int_equal(json_object_size(jwks), 1);
	keys = json_object_get(jwks, "keys");
	assert_int_equal(json_array_size(keys), 3);
	for (i = 0; i < 3; i++) {
		const json_t *k = json_array_get(keys, i);

		check_public_jwk(k);
		for (j = 0; j < i; j++)
			assert_string_not_equal(
				json_string_value(json_object_get(k, "kid")),
				json_string_value(json_object_get(
					json_array_get(keys, j), "kid")));
	}
	text = json_dumps(jwks, JSON_COMPACT);
	assert_non_null(text);
	assert_null(strstr(text, "\"d\""));
	assert_null(strstr(text, "\"qi\""));
	free(text);
	json_decref(jwks);
}

static void test_keyring_rotate_new_kid_signs_old_still_verifies(void **state)
{
	struct fixture *fx = *state;
	char old_kid[JOSE_KID_MAX + 1], new_kid[JOSE_KID_MAX + 1];
	char now_kid[JOSE_KID_MAX + 1];
	char *old_jwt = sign_test_token(fx->kr), *new_jwt;
	json_t *hdr, *jwks, *status, *old_entry;
	int64_t before = af_now();

	signing_kid(fx->kr, old_kid);
	assert_int_equal(af_keyring_rotate(fx->kr, new_kid), JOSE_OK);
	assert_string_not_equal(old_kid, new_kid);
	signing_kid(fx->kr, now_kid);
	assert_string_equal(now_kid, new_kid);

	new_jwt = sign_test_token(fx->kr);
	hdr = header_of(new_jwt);
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")),
			    new_kid);
	assert_int_equal(verify_text(fx->kr, new_jwt), JOSE_OK);
	assert_int_equal(verify_text(fx->kr, old_jwt), JOSE_OK);

	jwks = af_keyring_jwks(fx->kr);
	assert_true(jwks_has_kid(jwks, old_kid));
	assert_true(jwks_has_kid(jwks, new_kid));

	/* The old key stopped signing now and retires after the longest
	 * token it may have signed. */
	status = af_keyring_status(fx->kr);
	old_entry = json_array_get(json_object_get(status, "keys"), 0);
	assert_string_equal(
		json_string_value(json_object_get(old_entry, "kid")), old_kid);
	assert_false(json_is_true(json_object_get(old_entry, "signing")));
	assert_in_range(
		json_integer_value(json_object_get(old_entry, "expires_at")),
		before, af_now());
	assert_in_range(
		json_integer_value(json_object_get(old_entry, "retire_after")),
		before + MAX_TOKEN_S, af_now() + MAX_TOKEN_S);
	assert_int_equal(ring_size(fx->st), 2);

	json_decref(status);
	json_decref(jwks);
	json_decref(hdr);
	free(new_jwt);
	free(old_jwt);
}

static void test_keyring_retired_key_leaves_jwks_then_ring(void **state)
{
	struct fixture *fx = *state;
	char old_kid[JOSE_KID_MAX + 1], new_kid[JOSE_KID_MAX + 1];
	char *old_jwt = sign_test_token(fx->kr);
	json_t *jwks;

	signing_kid(fx->kr, old_kid);
	assert_int_equal(af_keyring_rotate(fx->kr, new_kid), JOSE_OK);

	/* Time passes: every token of the old key has expired. */
	ring_set_times(fx->st, 0, af_now() - 2 * (int64_t)MAX_TOKEN_S,
		       af_now() - MAX_TOKEN_S);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	jwks = af_keyring_jwks(fx->kr);
	assert_false(jwks_has_kid(jwks, old_kid));
	assert_true(jwks_has_kid(jwks, new_kid));
	json_decref(jwks);
	/* Still in the ring until the next rotation: an old hint verifies. */
	assert_int_equal(verify_text(fx->kr, old_jwt), JOSE_OK);

	assert_int_equal(af_keyring_rotate(fx->kr, NULL), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 2);
	assert_int_equal(verify_text(fx->kr, old_jwt), JOSE_ERR_UNKNOWN_KID);
	jwks = af_keyring_jwks(fx->kr);
	assert_false(jwks_has_kid(jwks, old_kid));
	assert_true(jwks_has_kid(jwks, new_kid));
	json_decref(jwks);
	free(old_jwt);
}

/*
 * With a two-second token lifetime, retirement happens by the clock (one
 * second could end between the rotation and the first listing).
 */
static void test_keyring_retire_after_elapses_by_clock(void **state)
{
	store_ctx *st = memory_store();
	af_keyring_options o = test_options();
	char old_kid[JOSE_KID_MAX + 1];
	af_keyring *kr = NULL;
	json_t *jwks;

	(void)state;
	o.max_token_lifetime_s = 2;
	assert_int_equal(af_keyring_open(st, &o, &kr), JOSE_OK);
	signing_kid(kr, old_kid);
	assert_int_equal(af_keyring_rotate(kr, NULL), JOSE_OK);
	jwks = af_keyring_jwks(kr);
	assert_true(jwks_has_kid(jwks, old_kid));
	json_decref(jwks);
	sleep(2);
	jwks = af_keyring_jwks(kr);
	assert_false(jwks_has_kid(jwks, old_kid));
	assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
	json_decref(jwks);
	assert_int_equal(af_keyring_rotate(kr, NULL), JOSE_OK);
	assert_int_equal(ring_size(st), 2);
	af_keyring_free(kr);
	store_close(st);
}

struct opener {
	store_ctx *st;
	af_keyring *kr;
	jose_status rc;
	bool rotate;
};

static void *open_thread(void *arg)
{
	struct opener *op = arg;
	af_keyring_options o = test_options();

	op->rc = af_keyring_open(op->st, &o, &op->kr);
	if (op->rc == JOSE_OK && op->rotate)
		op->rc = af_keyring_rotate(op->kr, NULL);
	return NULL;
}

static void run_pair(struct opener *a, struct opener *b)
{
	pthread_t ta, tb;

	assert_int_equal(pthread_create(&ta, NULL, open_thread, a), 0);
	assert_int_equal(pthread_create(&tb, NULL, open_thread, b), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(a->rc, JOSE_OK);
	assert_int_equal(b->rc, JOSE_OK);
}

static void test_keyring_open_two_nodes_agree_on_first_key(void **state)
{
	store_ctx *st = memory_store();
	struct opener a = {.st = st}, b = {.st = st}, c = {.st = st};
	char ka[JOSE_KID_MAX + 1], kb[JOSE_KID_MAX + 1], kc[JOSE_KID_MAX + 1];
	char *jwt;

	(void)state;
	run_pair(&a, &b);
	signing_kid(a.kr, ka);
	signing_kid(b.kr, kb);
	assert_string_equal(ka, kb);
	assert_int_equal(ring_size(st), 1);

	/* A later start reads the same ring; tokens cross nodes. */
	open_thread(&c);
	assert_int_equal(c.rc, JOSE_OK);
	signing_kid(c.kr, kc);
	assert_string_equal(ka, kc);
	jwt = sign_test_token(a.kr);
	assert_int_equal(verify_text(b.kr, jwt), JOSE_OK);
	assert_int_equal(verify_text(c.kr, jwt), JOSE_OK);
	free(jwt);
	af_keyring_free(a.kr);
	af_keyring_free(b.kr);
	af_keyring_free(c.kr);
	store_close(st);
}

/* Two nodes rotating at once: compare-and-swap keeps both new keys. */
static void test_keyring_rotate_concurrent_keeps_both_keys(void **state)
{
	struct fixture *fx = *state;
	struct opener a = {.st = fx->st, .rotate = true};
	struct opener b = {.st = fx->st, .rotate = true};
	char ka[JOSE_KID_MAX + 1], kb[JOSE_KID_MAX + 1];
	json_t *jwks;

	run_pair(&a, &b);
	assert_int_equal(ring_size(fx->st), 3);
	assert_int_equal(af_keyring_reload(a.kr), JOSE_OK);
	assert_int_equal(af_keyring_reload(b.kr), JOSE_OK);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	signing_kid(a.kr, ka);
	signing_kid(b.kr, kb);
	assert_string_equal(ka, kb);
	jwks = af_keyring_jwks(fx->kr);
	assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 3);
	json_decref(jwks);
	af_keyring_free(a.kr);
	af_keyring_free(b.kr);
}

static void test_keyring_all_expired_sign_fails_until_ensure(void **state)
{
	struct fixture *fx = *state;
	json_t *claims = test_claims(), *status;
	char old_kid[JOSE_KID_MAX + 1], kid[JOSE_KID_MAX + 1];
	char *old_jwt = sign_test_token(fx->kr), *jwt = NULL;
	long days;

	signing_kid(fx->kr, old_kid);
	ring_expire_all(fx->st);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	assert_int_equal(af_jwt_sign(fx->kr, claims, "JWT", &jwt),
			 JOSE_ERR_NO_KEY);
	assert_null(jwt);
	/* An expired key still verifies what it signed. */
	assert_int_equal(verify_text(fx->kr, old_jwt), JOSE_OK);
	assert_true(af_keyring_days_left(fx->kr) < 0);
	status = af_keyring_status(fx->kr);
	assert_true(json_is_null(json_object_get(status, "signing_kid")));
	assert_true(json_is_true(json_object_get(status, "alert")));
	assert_true(json_integer_value(
			    json_object_get(status, "expires_in_days")) < 0);
	json_decref(status);

	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	signing_kid(fx->kr, kid);
	assert_string_not_equal(kid, old_kid);
	assert_int_equal(af_jwt_sign(fx->kr, claims, "JWT", &jwt), JOSE_OK);
	assert_int_equal(verify_text(fx->kr, jwt), JOSE_OK);
	days = af_keyring_days_left(fx->kr);
	assert_in_range(days, LIFETIME_DAYS - 1, LIFETIME_DAYS);
	/* A current key: nothing to do. */
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 2);
	free(jwt);
	free(old_jwt);
	json_decref(claims);
}

/* A node with a stale ring adopts the key another node already made. */
static void test_keyring_ensure_current_no_double_rotation(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	char k1[JOSE_KID_MAX + 1], k2[JOSE_KID_MAX + 1];
	af_keyring *other = NULL;

	assert_int_equal(af_keyring_open(fx->st, &o, &other), JOSE_OK);
	ring_expire_all(fx->st);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	assert_int_equal(af_keyring_reload(other), JOSE_OK);
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 2);
	assert_int_equal(af_keyring_ensure_current(other), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 2);
	signing_kid(fx->kr, k1);
	signing_kid(other, k2);
	assert_string_equal(k1, k2);
	af_keyring_free(other);
}

/*
 * Two nodes on one store: a rotation on one reaches the other's signing,
 * /jwks and verification within refresh_s.
 */
static void test_keyring_refresh_takes_in_another_nodes_rotation(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	char rotated[JOSE_KID_MAX + 1], kid[JOSE_KID_MAX + 1];
	json_t *claims = test_claims(), *back = NULL, *jwks;
	af_keyring *other = NULL;
	char *jwt = NULL, *text;

	o.refresh_s = 1;
	assert_int_equal(af_keyring_open(fx->st, &o, &other), JOSE_OK);
	assert_int_equal(af_keyring_rotate(fx->kr, rotated), JOSE_OK);
	assert_int_equal(af_jwt_sign(fx->kr, claims, "JWT", &jwt), JOSE_OK);
	usleep(1100 * 1000);
	assert_int_equal(af_jwt_verify(other, jwt, strlen(jwt), &back),
			 JOSE_OK);
	json_decref(back);
	jwks = af_keyring_jwks(other);
	text = json_dumps(jwks, 0);
	assert_non_null(text);
	assert_non_null(strstr(text, rotated));
	free(text);
	json_decref(jwks);
	signing_kid(other, kid);
	assert_string_equal(kid, rotated);
	free(jwt);
	json_decref(claims);
	af_keyring_free(other);
}

/* What a keyring told its owner: the last warning, how many notices. */
struct notices {
	int count;
	int warnings;
	char last[256];
};

static void note(void *arg, int warning, const char *msg)
{
	struct notices *n = arg;

	n->count++;
	n->warnings += warning != 0;
	snprintf(n->last, sizeof(n->last), "%s", msg);
}

static bool jwks_has(af_keyring *kr, const char *kid)
{
	json_t *jwks = af_keyring_jwks(kr);
	char *text = json_dumps(jwks, 0);
	bool has = text != NULL && strstr(text, kid) != NULL;

	free(text);
	json_decref(jwks);
	return has;
}

/*
 * A store that lost the ring (a flushed Redis): a rotation carries the
 * keys this node holds, so tokens signed a moment ago still verify.
 */
static void test_keyring_rotate_after_ring_lost_keeps_keys(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	struct notices n = {0};
	char before[JOSE_KID_MAX + 1], rotated[JOSE_KID_MAX + 1];
	json_t *claims = test_claims(), *back = NULL;
	af_keyring *kr = NULL;
	char *jwt = NULL;

	o.notice = note;
	o.notice_arg = &n;
	assert_int_equal(af_keyring_open(fx->st, &o, &kr), JOSE_OK);
	signing_kid(kr, before);
	assert_int_equal(af_jwt_sign(kr, claims, "JWT", &jwt), JOSE_OK);
	assert_int_equal(store_del(fx->st, JOSE_RING_STORE_KEY), STORE_OK);
	assert_int_equal(af_keyring_rotate(kr, rotated), JOSE_OK);
	assert_string_not_equal(before, rotated);
	assert_true(jwks_has(kr, before));
	assert_true(jwks_has(kr, rotated));
	assert_int_equal(af_jwt_verify(kr, jwt, strlen(jwt), &back), JOSE_OK);
	json_decref(back);
	/* What the store holds now is what another node loads. */
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	assert_true(jwks_has(fx->kr, before));
	assert_true(jwks_has(fx->kr, rotated));
	assert_int_equal(n.warnings, 1);
	assert_non_null(strstr(n.last, "missing from the store"));
	free(jwt);
	json_decref(claims);
	af_keyring_free(kr);
}

/*
 * A node that looks at the store and finds the ring gone writes its own
 * back, with no new key, so that a node starting later signs with the
 * same key; a ring made anew meanwhile gets this node's keys added.
 */
static void test_keyring_refresh_writes_back_a_lost_ring(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	struct notices n = {0};
	char kid[JOSE_KID_MAX + 1], later_kid[JOSE_KID_MAX + 1];
	char other_kid[JOSE_KID_MAX + 1];
	json_t *claims = test_claims(), *back = NULL;
	af_keyring *kr = NULL, *later = NULL, *other = NULL;
	store_value v = {0};
	char *jwt = NULL;
	int64_t from = 0;

	o.refresh_s = 1;
	o.notice = note;
	o.notice_arg = &n;
	assert_int_equal(af_keyring_open(fx->st, &o, &kr), JOSE_OK);
	signing_kid(kr, kid);
	assert_int_equal(store_del(fx->st, JOSE_RING_STORE_KEY), STORE_OK);
	usleep(1100 * 1000);
	assert_int_equal(af_jwt_sign(kr, claims, "JWT", &jwt), JOSE_OK);
	assert_int_equal(store_get(fx->st, JOSE_RING_STORE_KEY, &v), STORE_OK);
	store_value_free(&v);
	assert_int_equal(n.warnings, 1);
	assert_non_null(strstr(n.last, "written back"));
	assert_int_equal(af_keyring_open(fx->st, &o, &later), JOSE_OK);
	signing_kid(later, later_kid);
	assert_string_equal(kid, later_kid);
	free(jwt);
	jwt = NULL;

	/* Idle (nothing signs): the periodic look writes it back too. */
	assert_int_equal(store_del(fx->st, JOSE_RING_STORE_KEY), STORE_OK);
	usleep(1100 * 1000);
	af_keyring_look(kr);
	assert_int_equal(store_get(fx->st, JOSE_RING_STORE_KEY, &v), STORE_OK);
	store_value_free(&v);
	assert_int_equal(n.warnings, 2);
	af_keyring_look(NULL);

	/*
	 * Lost again, and another node made a new ring first: this node
	 * adds its keys to that ring, so that the tokens they signed still
	 * verify everywhere, and signs with the new ring's key.
	 */
	assert_int_equal(af_jwt_sign(kr, claims, "JWT", &jwt), JOSE_OK);
	assert_int_equal(store_del(fx->st, JOSE_RING_STORE_KEY), STORE_OK);
	o.notice = NULL;
	assert_int_equal(af_keyring_open(fx->st, &o, &other), JOSE_OK);
	signing_kid(other, other_kid);
	assert_string_not_equal(other_kid, kid);
	usleep(1100 * 1000);
	af_keyring_look(kr);
	assert_int_equal(n.warnings, 3);
	assert_non_null(strstr(n.last, "made anew"));
	signing_kid(kr, later_kid);
	assert_string_equal(later_kid, other_kid);
	assert_int_equal(af_keyring_reload(other), JOSE_OK);
	assert_true(jwks_has(other, kid));
	assert_true(jwks_has(other, other_kid));
	assert_int_equal(af_jwt_verify(other, jwt, strlen(jwt), &back),
			 JOSE_OK);
	json_decref(back);
	/* A node may have signed with kid until the merge: it stays a while. */
	assert_int_equal(af_keyring_retire(other, kid, &from), JOSE_ERR_SOON);
	assert_true(from >= af_now() + 1);
	/* Merged once: a later look changes nothing. */
	usleep(1100 * 1000);
	af_keyring_look(kr);
	assert_int_equal(n.warnings, 3);
	free(jwt);
	json_decref(claims);
	af_keyring_free(other);
	af_keyring_free(later);
	af_keyring_free(kr);
}

/*
 * A key retired while a node was not looking (a leaked key, rotated out
 * and retired at once) is not added back by that node: the ring was
 * changed, not made anew.
 */
static void test_keyring_retired_while_away_stays_retired(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	char old[JOSE_KID_MAX + 1], fresh[JOSE_KID_MAX + 1];
	af_keyring *away = NULL;

	o.refresh_s = 1;
	assert_int_equal(af_keyring_open(fx->st, &o, &away), JOSE_OK);
	signing_kid(away, old);
	assert_int_equal(af_keyring_rotate(fx->kr, fresh), JOSE_OK);
	assert_int_equal(af_keyring_retire(fx->kr, old, NULL), JOSE_OK);
	usleep(1100 * 1000);
	af_keyring_look(away);
	assert_false(jwks_has(away, old));
	assert_true(jwks_has(away, fresh));
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	assert_false(jwks_has(fx->kr, old));
	af_keyring_free(away);
}

static void test_keyring_status_fields_and_alert(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	store_ctx *st = memory_store();
	af_keyring *soon = NULL;
	json_t *s, *k;
	char kid[JOSE_KID_MAX + 1];

	s = af_keyring_status(fx->kr);
	assert_non_null(s);
	signing_kid(fx->kr, kid);
	assert_false(json_is_true(json_object_get(s, "alert")));
	assert_in_range(
		json_integer_value(json_object_get(s, "expires_in_days")),
		LIFETIME_DAYS - 1, LIFETIME_DAYS);
	assert_int_equal(json_array_size(json_object_get(s, "keys")), 1);
	k = json_array_get(json_object_get(s, "keys"), 0);
	assert_string_equal(json_string_value(json_object_get(k, "kid")), kid);
	assert_true(json_is_true(json_object_get(k, "signing")));
	assert_int_equal(
		json_integer_value(json_object_get(k, "expires_at")) -
			json_integer_value(json_object_get(k, "created_at")),
		LIFETIME_DAYS * DAY_S);
	assert_int_equal(
		json_integer_value(json_object_get(k, "retire_after")) -
			json_integer_value(json_object_get(k, "expires_at")),
		MAX_TOKEN_S);
	json_decref(s);

	/* A key that lives fewer days than the alert threshold alerts. */
	o.lifetime_days = 10;
	assert_int_equal(af_keyring_open(st, &o, &soon), JOSE_OK);
	assert_in_range(af_keyring_days_left(soon), 9, 10);
	s = af_keyring_status(soon);
	assert_true(json_is_true(json_object_get(s, "alert")));
	json_decref(s);

	/* Within alert_days alerts, at the threshold too. */
	ring_set_times(st, 0, af_now() + ALERT_DAYS * DAY_S - 10,
		       af_now() + ALERT_DAYS * DAY_S - 10 + MAX_TOKEN_S);
	assert_int_equal(af_keyring_reload(soon), JOSE_OK);
	assert_int_equal(af_keyring_days_left(soon), ALERT_DAYS);
	s = af_keyring_status(soon);
	assert_true(json_is_true(json_object_get(s, "alert")));
	json_decref(s);
	/* Ten seconds more than alert_days: not yet (days round up). */
	ring_set_times(st, 0, af_now() + ALERT_DAYS * DAY_S + 10,
		       af_now() + ALERT_DAYS * DAY_S + 10 + MAX_TOKEN_S);
	assert_int_equal(af_keyring_reload(soon), JOSE_OK);
	assert_int_equal(af_keyring_days_left(soon), ALERT_DAYS + 1);
	s = af_keyring_status(soon);
	assert_false(json_is_true(json_object_get(s, "alert")));
	json_decref(s);

	af_keyring_free(soon);
	store_close(st);
}

static void test_keyring_open_bad_options_refused(void **state)
{
	store_ctx *st = memory_store();
	af_keyring_options o;
	af_keyring *kr = (af_keyring *)1;
	store_value v = {0};

	(void)state;
	o = test_options();
	o.rsa_bits = 1024;
	assert_int_equal(af_keyring_open(st, &o, &kr), JOSE_ERR_ARG);
	assert_null(kr);
	o = test_options();
	o.lifetime_days = 0;
	assert_int_equal(af_keyring_open(st, &o, &kr), JOSE_ERR_ARG);
	o = test_options();
	o.max_token_lifetime_s = 0;
	assert_int_equal(af_keyring_open(st, &o, &kr), JOSE_ERR_ARG);
	o = test_options();
	assert_int_equal(af_keyring_open(NULL, &o, &kr), JOSE_ERR_ARG);
	assert_int_equal(af_keyring_open(st, NULL, &kr), JOSE_ERR_ARG);
	assert_int_equal(af_keyring_open(st, &o, NULL), JOSE_ERR_ARG);
	/* Nothing was written for the refused opens. */
	assert_int_equal(store_get(st, JOSE_RING_STORE_KEY, &v),
			 STORE_NOT_FOUND);
	store_close(st);
}

static void test_keyring_corrupt_ring_refused_memory_kept(void **state)
{
	struct fixture *fx = *state;
	char *jwt = sign_test_token(fx->kr), *again = NULL;
	json_t *ring = ring_get(fx->st), *claims = test_claims();
	json_t *e = json_array_get(json_object_get(ring, "keys"), 0);
	static const char garbage[] = "{\"keys\":[{\"kid\":1}]}";
	af_keyring_options o = test_options();
	af_keyring *other = NULL;

	/* A kid that is not the key's thumbprint. */
	assert_int_equal(json_object_set_new(e, "kid", json_string("forged")),
			 0);
	ring_put(fx->st, ring);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_ERR_CORRUPT);
	assert_int_equal(af_keyring_open(fx->st, &o, &other), JOSE_ERR_CORRUPT);
	assert_null(other);
	assert_int_equal(af_keyring_rotate(fx->kr, NULL), JOSE_ERR_CORRUPT);
	assert_int_equal(store_set(fx->st, JOSE_RING_STORE_KEY, garbage,
				   strlen(garbage), 0, 0),
			 STORE_OK);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_ERR_CORRUPT);
	assert_int_equal(
		store_set(fx->st, JOSE_RING_STORE_KEY, "not json", 8, 0, 0),
		STORE_OK);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_ERR_CORRUPT);
	assert_int_equal(store_del(fx->st, JOSE_RING_STORE_KEY), STORE_OK);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_ERR_STORE);

	/* The ring in memory is untouched by the failed reloads. */
	assert_int_equal(verify_text(fx->kr, jwt), JOSE_OK);
	assert_int_equal(af_jwt_sign(fx->kr, claims, "JWT", &again), JOSE_OK);
	free(again);
	json_decref(claims);
	json_decref(ring);
	free(jwt);
}

static void test_keyring_rotate_cap_refused(void **state)
{
	struct fixture *fx = *state;
	size_t i;

	for (i = 1; i < JOSE_RING_KEYS_MAX; i++)
		assert_int_equal(af_keyring_rotate(fx->kr, NULL), JOSE_OK);
	assert_int_equal(ring_size(fx->st), JOSE_RING_KEYS_MAX);
	assert_int_equal(af_keyring_rotate(fx->kr, NULL), JOSE_ERR_ARG);
	assert_int_equal(ring_size(fx->st), JOSE_RING_KEYS_MAX);
}

/* Sets one time member of the ring entry at index in the store. */
static void ring_set_time(store_ctx *st, size_t index, const char *name,
			  int64_t t)
{
	json_t *ring = ring_get(st);
	json_t *e = json_array_get(json_object_get(ring, "keys"), index);

	assert_non_null(e);
	assert_int_equal(json_object_set_new(e, name, json_integer(t)), 0);
	ring_put(st, ring);
	json_decref(ring);
}

/* The kid in the header of a token signed now. */
static void token_kid(af_keyring *kr, char *kid)
{
	char *jwt = sign_test_token(kr);
	json_t *h = header_of(jwt);
	const char *k = json_string_value(json_object_get(h, "kid"));

	assert_non_null(k);
	assert_true(strlen(k) <= JOSE_KID_MAX);
	memcpy(kid, k, strlen(k) + 1);
	json_decref(h);
	free(jwt);
}

/*
 * The signing key of the fixture with 3 days left: ensure_current
 * publishes its successor, which signs from the signing key's expiry.
 * Returns the successor's kid in next and the signing key's in kid.
 */
static void publish_successor(struct fixture *fx, char *kid, char *next)
{
	int64_t expires = af_now() + 3 * DAY_S;
	char signs[JOSE_KID_MAX + 1];
	json_t *s, *jwks, *k;

	signing_kid(fx->kr, kid);
	ring_set_times(fx->st, 0, expires, expires + MAX_TOKEN_S);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	assert_in_range(af_keyring_days_left(fx->kr), 2, 3);
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 2);

	s = af_keyring_status(fx->kr);
	assert_non_null(s);
	assert_string_equal(
		json_string_value(json_object_get(s, "signing_kid")), kid);
	assert_true(json_is_string(json_object_get(s, "next_kid")));
	memcpy(next, json_string_value(json_object_get(s, "next_kid")),
	       json_string_length(json_object_get(s, "next_kid")) + 1);
	assert_string_not_equal(next, kid);
	assert_int_equal(
		json_integer_value(json_object_get(s, "next_signs_from")),
		expires);
	k = json_array_get(json_object_get(s, "keys"), 1);
	assert_string_equal(json_string_value(json_object_get(k, "kid")), next);
	assert_false(json_is_true(json_object_get(k, "signing")));
	assert_int_equal(json_integer_value(json_object_get(k, "expires_at")),
			 expires + LIFETIME_DAYS * DAY_S);
	/* Signing now runs on into the successor's lifetime: no alert. */
	assert_in_range(
		json_integer_value(json_object_get(s, "expires_in_days")),
		LIFETIME_DAYS + 2, LIFETIME_DAYS + 3);
	assert_false(json_is_true(json_object_get(s, "alert")));
	json_decref(s);

	/* Published before it signs; the old key signs until it expires. */
	jwks = af_keyring_jwks(fx->kr);
	assert_true(jwks_has_kid(jwks, kid));
	assert_true(jwks_has_kid(jwks, next));
	json_decref(jwks);
	token_kid(fx->kr, signs);
	assert_string_equal(signs, kid);
}

/* A week before the signing key expires, its successor is in /jwks. */
static void test_keyring_successor_published_ahead(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	char kid[JOSE_KID_MAX + 1], next[JOSE_KID_MAX + 1];
	af_keyring *other = NULL;

	/* Eight days left: not yet. */
	ring_set_times(fx->st, 0, af_now() + 8 * DAY_S,
		       af_now() + 8 * DAY_S + MAX_TOKEN_S);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 1);

	publish_successor(fx, kid, next);
	/* Once published, neither this node nor another adds a second. */
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	assert_int_equal(af_keyring_open(fx->st, &o, &other), JOSE_OK);
	assert_int_equal(af_keyring_ensure_current(other), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 2);
	af_keyring_free(other);
}

/* Two nodes due at once publish one successor between them. */
static void test_keyring_successor_two_nodes_one_key(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	int64_t expires = af_now() + 2 * DAY_S;
	af_keyring *other = NULL;

	assert_int_equal(af_keyring_open(fx->st, &o, &other), JOSE_OK);
	ring_set_times(fx->st, 0, expires, expires + MAX_TOKEN_S);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	assert_int_equal(af_keyring_reload(other), JOSE_OK);
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	assert_int_equal(af_keyring_ensure_current(other), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 2);
	af_keyring_free(other);
}

/*
 * At the signing key's expiry the successor signs, with no new key made
 * and no moment without a signing key.
 */
static void test_keyring_successor_takes_over_at_expiry(void **state)
{
	struct fixture *fx = *state;
	char kid[JOSE_KID_MAX + 1], next[JOSE_KID_MAX + 1];
	char signs[JOSE_KID_MAX + 1];
	int64_t t = af_now() - 1;

	publish_successor(fx, kid, next);
	/* Move the handover to a second ago. */
	ring_set_times(fx->st, 0, t, t + MAX_TOKEN_S);
	ring_set_time(fx->st, 1, "created_at", t - 3 * DAY_S);
	ring_set_time(fx->st, 1, "signs_from", t);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	token_kid(fx->kr, signs);
	assert_string_equal(signs, next);
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 2);
	signing_kid(fx->kr, signs);
	assert_string_equal(signs, next);
}

/* A rotation drops a successor that never signed, and signs at once. */
static void test_keyring_rotate_drops_unused_successor(void **state)
{
	struct fixture *fx = *state;
	char kid[JOSE_KID_MAX + 1], next[JOSE_KID_MAX + 1];
	char fresh[JOSE_KID_MAX + 1], signs[JOSE_KID_MAX + 1];
	json_t *jwks, *s;

	publish_successor(fx, kid, next);
	assert_int_equal(af_keyring_rotate(fx->kr, fresh), JOSE_OK);
	token_kid(fx->kr, signs);
	assert_string_equal(signs, fresh);
	assert_int_equal(ring_size(fx->st), 2);
	jwks = af_keyring_jwks(fx->kr);
	assert_true(jwks_has_kid(jwks, kid)); /* its tokens still verify */
	assert_true(jwks_has_kid(jwks, fresh));
	assert_false(jwks_has_kid(jwks, next));
	json_decref(jwks);
	s = af_keyring_status(fx->kr);
	assert_true(json_is_null(json_object_get(s, "next_kid")));
	assert_true(json_is_null(json_object_get(s, "next_signs_from")));
	json_decref(s);
}

/*
 * A key that may have leaked is taken out at once: out of /jwks, and its
 * tokens no longer verify, here and on another node. The key that signs
 * now cannot be, so signing never stops; a published successor can.
 */
static void test_keyring_retire_takes_a_key_out_now(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	char old_kid[JOSE_KID_MAX + 1], new_kid[JOSE_KID_MAX + 1];
	char kid[JOSE_KID_MAX + 1], next[JOSE_KID_MAX + 1];
	char *old_jwt = sign_test_token(fx->kr);
	af_keyring *other = NULL;
	json_t *jwks;

	assert_int_equal(af_keyring_open(fx->st, &o, &other), JOSE_OK);
	signing_kid(fx->kr, old_kid);
	assert_int_equal(af_keyring_retire(fx->kr, old_kid, NULL),
			 JOSE_ERR_ARG);
	assert_int_equal(af_keyring_retire(fx->kr, "nokey", NULL),
			 JOSE_ERR_UNKNOWN_KID);
	assert_int_equal(af_keyring_retire(fx->kr, "", NULL),
			 JOSE_ERR_UNKNOWN_KID);
	assert_int_equal(ring_size(fx->st), 1);

	assert_int_equal(af_keyring_rotate(fx->kr, new_kid), JOSE_OK);
	assert_int_equal(verify_text(other, old_jwt), JOSE_OK);
	assert_int_equal(af_keyring_retire(fx->kr, old_kid, NULL), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 1);
	jwks = af_keyring_jwks(fx->kr);
	assert_false(jwks_has_kid(jwks, old_kid));
	assert_true(jwks_has_kid(jwks, new_kid));
	json_decref(jwks);
	assert_int_equal(verify_text(fx->kr, old_jwt), JOSE_ERR_UNKNOWN_KID);
	assert_int_equal(af_keyring_reload(other), JOSE_OK);
	assert_int_equal(verify_text(other, old_jwt), JOSE_ERR_UNKNOWN_KID);
	signing_kid(other, kid);
	assert_string_equal(kid, new_kid);
	assert_int_equal(af_keyring_retire(fx->kr, old_kid, NULL),
			 JOSE_ERR_UNKNOWN_KID);
	af_keyring_free(other);
	free(old_jwt);

	/* A successor published ahead may go; the signing key stays. */
	publish_successor(fx, kid, next);
	assert_int_equal(ring_size(fx->st), 2);
	assert_int_equal(af_keyring_retire(fx->kr, next, NULL), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 1);
	signing_kid(fx->kr, new_kid);
	assert_string_equal(new_kid, kid);
}

/* A key's member of the status, by kid. */
static json_int_t key_time(const json_t *status, const char *kid,
			   const char *member);

/*
 * A rotation made at once signs on every node as soon as it is seen,
 * also on one whose clock runs behind the node that made it (here, the
 * ring as a node 60 s ahead wrote it): else that node would sign with
 * the key it replaced, which a retirement may take out meanwhile.
 */
static void test_keyring_rotation_now_signs_on_a_node_behind(void **state)
{
	struct fixture *fx = *state;
	char old[JOSE_KID_MAX + 1], fresh[JOSE_KID_MAX + 1];
	char kid[JOSE_KID_MAX + 1];
	int64_t ahead = af_now() + 60;
	json_t *ring, *e;
	size_t i;

	signing_kid(fx->kr, old);
	assert_int_equal(af_keyring_rotate(fx->kr, fresh), JOSE_OK);
	ring = ring_get(fx->st);
	json_array_foreach(json_object_get(ring, "keys"), i, e)
	{
		const char *k = json_string_value(json_object_get(e, "kid"));

		if (strcmp(k, fresh) == 0) {
			assert_int_equal(
				json_object_set_new(e, "created_at",
						    json_integer(ahead)),
				0);
			assert_int_equal(
				json_object_set_new(e, "signs_from",
						    json_integer(ahead)),
				0);
		} else if (strcmp(k, old) == 0) {
			assert_int_equal(
				json_object_set_new(e, "expires_at",
						    json_integer(ahead)),
				0);
		}
	}
	ring_put(fx->st, ring);
	json_decref(ring);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	signing_kid(fx->kr, kid);
	assert_string_equal(kid, fresh);
}

/* Moves every time of the stored ring by delta seconds. */
static void ring_shift(store_ctx *st, int64_t delta)
{
	static const char *const times[] = {"created_at", "signs_from",
					    "expires_at", "retire_after"};
	json_t *ring = ring_get(st), *e;
	size_t i, j;

	json_array_foreach(json_object_get(ring, "keys"), i, e)
	{
		for (j = 0; j < sizeof(times) / sizeof(times[0]); j++) {
			json_int_t t = json_integer_value(
				json_object_get(e, times[j]));

			assert_int_equal(
				json_object_set_new(e, times[j],
						    json_integer(t + delta)),
				0);
		}
	}
	ring_put(st, ring);
	json_decref(ring);
}

/*
 * A ring made by a clock 300 s ahead (another node's, or this one's
 * before it was set back): its key signs here at once, none is made, and
 * a rotation here keeps it in /jwks and makes the new key no older than
 * it, so that the new one signs on every node.
 */
static void test_keyring_ring_from_a_clock_ahead_keeps_its_key(void **state)
{
	struct fixture *fx = *state;
	char old[JOSE_KID_MAX + 1], kid[JOSE_KID_MAX + 1];
	char fresh[JOSE_KID_MAX + 1];
	json_t *s, *jwks;

	signing_kid(fx->kr, old);
	ring_shift(fx->st, 300);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	signing_kid(fx->kr, kid);
	assert_string_equal(kid, old);
	assert_int_equal(ring_size(fx->st), 1);

	assert_int_equal(af_keyring_rotate(fx->kr, fresh), JOSE_OK);
	token_kid(fx->kr, kid);
	assert_string_equal(kid, fresh);
	jwks = af_keyring_jwks(fx->kr);
	assert_true(jwks_has_kid(jwks, old));
	assert_true(jwks_has_kid(jwks, fresh));
	json_decref(jwks);
	s = af_keyring_status(fx->kr);
	assert_true(key_time(s, fresh, "created_at") >=
		    key_time(s, old, "created_at"));
	assert_int_equal(key_time(s, fresh, "signs_from"),
			 key_time(s, fresh, "created_at"));
	assert_int_equal(key_time(s, old, "expires_at"),
			 key_time(s, fresh, "signs_from"));
	json_decref(s);
}

/*
 * On a node whose clock runs 300 s behind the one that rotated, the key
 * rotated out still waits for the other nodes to see the rotation: it
 * has signed where it was made, whatever this clock says.
 */
static void test_keyring_retire_on_a_node_behind_waits(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	char old[JOSE_KID_MAX + 1], fresh[JOSE_KID_MAX + 1];
	af_keyring *a = NULL;
	int64_t from = 0;

	o.refresh_s = 1;
	assert_int_equal(af_keyring_open(fx->st, &o, &a), JOSE_OK);
	signing_kid(a, old);
	assert_int_equal(af_keyring_rotate(a, fresh), JOSE_OK);
	ring_shift(fx->st, 300);
	assert_int_equal(af_keyring_reload(a), JOSE_OK);
	assert_int_equal(af_keyring_retire(a, old, &from), JOSE_ERR_SOON);
	assert_true(from > af_now() + 290);
	assert_int_equal(ring_size(fx->st), 2);
	af_keyring_free(a);
}

/*
 * Nodes that share a ring learn of a rotation at their next look (here
 * every second): until then they sign with the key they knew, so it does
 * not leave the ring before they all can have seen it stop, nor does a
 * successor that is about to sign. A rotation planned ahead, which every
 * node knows of, lets the key go as soon as it stopped.
 */
static void test_keyring_retire_waits_for_other_nodes(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	char old[JOSE_KID_MAX + 1], fresh[JOSE_KID_MAX + 1];
	char next[JOSE_KID_MAX + 1], kid[JOSE_KID_MAX + 1];
	af_keyring *a = NULL, *b = NULL;
	int64_t from = 0, t0, stops;
	jose_status st;
	json_t *s;

	o.refresh_s = 1;
	assert_int_equal(af_keyring_open(fx->st, &o, &a), JOSE_OK);
	assert_int_equal(af_keyring_open(fx->st, &o, &b), JOSE_OK);
	signing_kid(a, old);
	t0 = af_now();
	assert_int_equal(af_keyring_rotate(a, fresh), JOSE_OK);
	assert_int_equal(af_keyring_retire(a, old, &from), JOSE_ERR_SOON);
	assert_in_range(from, t0 + 2, af_now() + 2);
	assert_int_equal(ring_size(fx->st), 2);
	/* The key that now signs, as always. */
	assert_int_equal(af_keyring_retire(a, fresh, NULL), JOSE_ERR_ARG);
	while (af_now() < from)
		usleep(100 * 1000);
	assert_int_equal(af_keyring_retire(a, old, &from), JOSE_OK);
	assert_int_equal(from, 0);
	af_keyring_look(b);
	signing_kid(b, kid);
	assert_string_equal(kid, fresh);

	/* A successor that begins to sign within the look's time stays. */
	assert_int_equal(af_keyring_rotate_at(a, 1, next), JOSE_OK);
	assert_int_equal(af_keyring_retire(a, next, NULL), JOSE_ERR_ARG);
	assert_int_equal(ring_size(fx->st), 2);

	/*
	 * Planned ahead: the key stops at its successor's start by each
	 * node's own clock, and goes once a clock that far behind has passed
	 * it too.
	 */
	s = af_keyring_status(a);
	stops = key_time(s, fresh, "expires_at");
	json_decref(s);
	while (af_now() < stops)
		usleep(100 * 1000);
	assert_int_equal(af_keyring_reload(a), JOSE_OK);
	signing_kid(a, kid);
	assert_string_equal(kid, next);
	st = af_keyring_retire(a, fresh, &from);
	if (st == JOSE_ERR_SOON)
		assert_int_equal(from, stops + 2);
	else
		assert_true(af_now() >= stops + 2);
	while (af_now() < stops + 2)
		usleep(100 * 1000);
	assert_int_equal(af_keyring_retire(a, fresh, NULL), JOSE_OK);
	af_keyring_free(b);
	af_keyring_free(a);
}

/*
 * The successor of a rotation planned ahead, retired before it signs:
 * the plan is off, and the signing key, which was to stop when it
 * began, signs for its whole lifetime again (so that no key is made in
 * haste when the cut-short end comes, unknown to relying parties).
 */
static void test_keyring_retired_successor_calls_off_the_rotation(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	char kid[JOSE_KID_MAX + 1], next[JOSE_KID_MAX + 1];
	int64_t full;
	json_t *s;

	signing_kid(fx->kr, kid);
	s = af_keyring_status(fx->kr);
	full = key_time(s, kid, "expires_at");
	json_decref(s);
	assert_int_equal(af_keyring_rotate_at(fx->kr, 600, next), JOSE_OK);
	s = af_keyring_status(fx->kr);
	assert_true(key_time(s, kid, "expires_at") < full);
	json_decref(s);
	assert_int_equal(af_keyring_retire(fx->kr, next, NULL), JOSE_OK);
	s = af_keyring_status(fx->kr);
	assert_int_equal(key_time(s, kid, "expires_at"), full);
	assert_int_equal(key_time(s, kid, "retire_after"),
			 full + (json_int_t)o.max_token_lifetime_s);
	assert_true(json_is_null(json_object_get(s, "next_kid")));
	assert_in_range(
		json_integer_value(json_object_get(s, "expires_in_days")),
		o.lifetime_days - 1, o.lifetime_days);
	json_decref(s);
	/* A plan later than the cut-short end fits again. */
	assert_int_equal(af_keyring_rotate_at(fx->kr, 900, next), JOSE_OK);
}

/*
 * A rotation meets a key planned to sign within the nodes' clock skew:
 * a node whose clock runs ahead may be signing with it already, so it
 * stays in /jwks until what it signed has expired, and signs no more.
 */
static void test_keyring_rotate_keeps_successor_within_skew(void **state)
{
	struct fixture *fx = *state;
	char soon[JOSE_KID_MAX + 1], fresh[JOSE_KID_MAX + 1];
	char signs[JOSE_KID_MAX + 1];
	json_t *jwks, *s;

	assert_int_equal(af_keyring_rotate_at(fx->kr, 60, soon), JOSE_OK);
	assert_int_equal(af_keyring_rotate(fx->kr, fresh), JOSE_OK);
	token_kid(fx->kr, signs);
	assert_string_equal(signs, fresh);
	jwks = af_keyring_jwks(fx->kr);
	assert_true(jwks_has_kid(jwks, soon));
	assert_true(jwks_has_kid(jwks, fresh));
	json_decref(jwks);
	s = af_keyring_status(fx->kr);
	assert_true(key_time(s, soon, "expires_at") <= af_now());
	assert_int_equal(key_time(s, soon, "retire_after"),
			 key_time(s, soon, "expires_at") + MAX_TOKEN_S);
	json_decref(s);
}

static json_int_t key_time(const json_t *status, const char *kid,
			   const char *member)
{
	const json_t *k;
	size_t i;

	json_array_foreach(json_object_get(status, "keys"), i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "kid")), kid) ==
		    0)
			return json_integer_value(json_object_get(k, member));
	}
	fail_msg("no key %s", kid);
	return 0;
}

/*
 * A rotation planned ahead: the new key is in /jwks at once and signs
 * from then on, when the signing key stops; until then the old one signs.
 * Planned again sooner, it replaces the first plan; later than the
 * signing key lasts, it is refused and nothing changes.
 */
static void test_keyring_rotate_ahead_publishes_first(void **state)
{
	struct fixture *fx = *state;
	char old_kid[JOSE_KID_MAX + 1], first[JOSE_KID_MAX + 1];
	char kid[JOSE_KID_MAX + 1], signs[JOSE_KID_MAX + 1];
	int64_t before = af_now();
	json_t *jwks, *s;

	signing_kid(fx->kr, old_kid);
	assert_int_equal(af_keyring_rotate_at(fx->kr, -1, kid), JOSE_ERR_ARG);
	assert_int_equal(
		af_keyring_rotate_at(fx->kr, JOSE_ROTATE_AHEAD_MAX_S + 1, kid),
		JOSE_ERR_ARG);
	assert_int_equal(af_keyring_rotate_at(fx->kr, 600, first), JOSE_OK);
	token_kid(fx->kr, signs);
	assert_string_equal(signs, old_kid);
	jwks = af_keyring_jwks(fx->kr);
	assert_true(jwks_has_kid(jwks, first));
	assert_true(jwks_has_kid(jwks, old_kid));
	json_decref(jwks);
	s = af_keyring_status(fx->kr);
	assert_string_equal(json_string_value(json_object_get(s, "next_kid")),
			    first);
	assert_in_range(key_time(s, first, "signs_from"), before + 600,
			af_now() + 600);
	/* The old key stops when the new one starts, and then retires. */
	assert_int_equal(key_time(s, old_kid, "expires_at"),
			 key_time(s, first, "signs_from"));
	assert_int_equal(key_time(s, old_kid, "retire_after"),
			 key_time(s, old_kid, "expires_at") + MAX_TOKEN_S);
	json_decref(s);

	/* Planned again, sooner: the first plan's key goes. */
	assert_int_equal(af_keyring_rotate_at(fx->kr, 300, kid), JOSE_OK);
	assert_int_equal(ring_size(fx->st), 2);
	jwks = af_keyring_jwks(fx->kr);
	assert_false(jwks_has_kid(jwks, first));
	assert_true(jwks_has_kid(jwks, kid));
	json_decref(jwks);
	/* Later than the signing key now lasts: refused, nothing changes. */
	assert_int_equal(af_keyring_rotate_at(fx->kr, 900, first),
			 JOSE_ERR_LATE);
	assert_int_equal(ring_size(fx->st), 2);
	s = af_keyring_status(fx->kr);
	assert_string_equal(json_string_value(json_object_get(s, "next_kid")),
			    kid);
	json_decref(s);

	/* Once its time has come, the new key signs (times moved back). */
	ring_set_times(fx->st, 0, af_now() - 1, af_now() + MAX_TOKEN_S);
	s = ring_get(fx->st);
	assert_int_equal(json_object_set_new(
				 json_array_get(json_object_get(s, "keys"), 1),
				 "signs_from", json_integer(af_now() - 1)),
			 0);
	assert_int_equal(json_object_set_new(
				 json_array_get(json_object_get(s, "keys"), 1),
				 "created_at", json_integer(af_now() - 2)),
			 0);
	ring_put(fx->st, s);
	json_decref(s);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	token_kid(fx->kr, signs);
	assert_string_equal(signs, kid);
}

/* A ring stored before successors existed loads; a bad signs_from not. */
static void test_keyring_signs_from_optional_and_checked(void **state)
{
	struct fixture *fx = *state;
	json_t *ring = ring_get(fx->st), *e, *s;
	int64_t created;

	e = json_array_get(json_object_get(ring, "keys"), 0);
	created = json_integer_value(json_object_get(e, "created_at"));
	assert_int_equal(json_integer_value(json_object_get(e, "signs_from")),
			 created);
	assert_int_equal(json_object_del(e, "signs_from"), 0);
	ring_put(fx->st, ring);
	json_decref(ring);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	s = af_keyring_status(fx->kr);
	assert_false(json_is_null(json_object_get(s, "signing_kid")));
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(s, "keys"), 0),
				 "signs_from")),
			 created);
	json_decref(s);

	ring_set_time(fx->st, 0, "signs_from", created - 1);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_ERR_CORRUPT);
}

/* A full ring publishes no successor (and makes no key it cannot keep). */
static void test_keyring_full_ring_no_successor(void **state)
{
	struct fixture *fx = *state;
	int64_t expires = af_now() + 2 * DAY_S;
	size_t i;

	for (i = 1; i < JOSE_RING_KEYS_MAX; i++)
		assert_int_equal(af_keyring_rotate(fx->kr, NULL), JOSE_OK);
	ring_set_times(fx->st, JOSE_RING_KEYS_MAX - 1, expires,
		       expires + MAX_TOKEN_S);
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_OK);
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	assert_int_equal(ring_size(fx->st), JOSE_RING_KEYS_MAX);
	assert_in_range(af_keyring_days_left(fx->kr), 1, 2);
}

struct signer {
	af_keyring *kr;
	int failures;
};

static void *sign_verify_thread(void *arg)
{
	struct signer *sg = arg;
	json_t *claims = json_pack("{s:s}", "sub", "alice");
	int i;

	for (i = 0; i < 20; i++) {
		json_t *back = NULL;
		char *jwt = NULL;

		if (af_jwt_sign(sg->kr, claims, "JWT", &jwt) != JOSE_OK ||
		    af_jwt_verify(sg->kr, jwt, strlen(jwt), &back) != JOSE_OK ||
		    !json_equal(claims, back))
			sg->failures++;
		json_decref(back);
		free(jwt);
	}
	json_decref(claims);
	return NULL;
}

/* Signing and verifying go on, unharmed, while the ring rotates. */
static void test_keyring_sign_during_rotation_all_verify(void **state)
{
	struct fixture *fx = *state;
	struct signer sg[4];
	pthread_t t[4];
	size_t i;

	for (i = 0; i < 4; i++) {
		sg[i].kr = fx->kr;
		sg[i].failures = 0;
		assert_int_equal(
			pthread_create(&t[i], NULL, sign_verify_thread, &sg[i]),
			0);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(af_keyring_rotate(fx->kr, NULL), JOSE_OK);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(sg[i].failures, 0);
	}
	assert_int_equal(ring_size(fx->st), 4);
}

/*
 * Replaces the key of ring entry index in the store with jwk (private
 * members included), its kid set to the thumbprint, times kept.
 */
static void ring_set_key(store_ctx *st, size_t index, const cjose_jwk_t *jwk)
{
	json_t *ring = ring_get(st);
	json_t *e = json_array_get(json_object_get(ring, "keys"), index);
	char kid[JOSE_KID_MAX + 1], *text;
	cjose_err cerr;
	json_t *j;

	assert_non_null(e);
	text = cjose_jwk_to_json(jwk, true, &cerr);
	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(j);
	assert_int_equal(af_jwk_thumbprint(j, kid), JOSE_OK);
	assert_int_equal(json_object_set_new(e, "jwk", j), 0);
	assert_int_equal(json_object_set_new(e, "kid", json_string(kid)), 0);
	ring_put(st, ring);
	json_decref(ring);
}

/*
 * Opens a second ring on fx's store: refused, with why naming want; the
 * check of the stored ring (--check-config) says the same.
 */
static void open_refused(store_ctx *st, const char *want)
{
	af_keyring_options o = test_options();
	af_keyring *kr = (af_keyring *)1;
	char why[256], checked[256];

	assert_int_equal(af_keyring_open_why(st, &o, &kr, why, sizeof(why)),
			 JOSE_ERR_CORRUPT);
	assert_null(kr);
	assert_non_null(strstr(why, "key 1 of 1"));
	if (strstr(why, want) == NULL)
		fail_msg("why: %s (wanted %s)", why, want);
	assert_null(strchr(why, '\n'));
	assert_int_equal(af_keyring_check_stored(st, checked, sizeof(checked)),
			 JOSE_ERR_CORRUPT);
	assert_string_equal(checked, why);
}

/*
 * The check of a stored ring changes nothing: no ring passes (a start
 * makes one) and none is made; a good ring passes; one that is not JSON
 * is refused in the words af_keyring_open_why() uses.
 */
static void test_keyring_check_stored(void **state)
{
	struct fixture *fx = *state;
	store_value v = {NULL, 0};
	char why[256];
	json_t *ring = ring_get(fx->st);

	assert_int_equal(af_keyring_check_stored(fx->st, why, sizeof(why)),
			 JOSE_OK);
	assert_string_equal(why, "");
	assert_int_equal(
		store_set(fx->st, JOSE_RING_STORE_KEY, "not json", 8, 0, 0),
		STORE_OK);
	assert_int_equal(af_keyring_check_stored(fx->st, why, sizeof(why)),
			 JOSE_ERR_CORRUPT);
	assert_string_equal(why, "not a JSON object");
	assert_int_equal(store_del(fx->st, JOSE_RING_STORE_KEY), STORE_OK);
	assert_int_equal(af_keyring_check_stored(fx->st, why, sizeof(why)),
			 JOSE_OK);
	assert_int_equal(store_get(fx->st, JOSE_RING_STORE_KEY, &v),
			 STORE_NOT_FOUND);
	assert_int_equal(af_keyring_check_stored(NULL, why, sizeof(why)),
			 JOSE_ERR_ARG);
	ring_put(fx->st, ring);
	json_decref(ring);
}

/*
 * A stored key of a size or exponent this server never makes is refused
 * at start, and the ring is left as it is: no new key is made over it.
 */
static void test_keyring_open_weak_key_refused_ring_kept(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t e3[] = {3};
	static const uint8_t e65537[] = {1, 0, 1};
	af_keyring_options o = test_options();
	af_keyring *kr = NULL;
	cjose_jwk_t *jwk;
	cjose_err cerr;
	json_t *before, *after;

	jwk = cjose_jwk_create_RSA_random(1024, e65537, sizeof(e65537), &cerr);
	assert_non_null(jwk);
	ring_set_key(fx->st, 0, jwk);
	cjose_jwk_release(jwk);
	before = ring_get(fx->st);
	open_refused(fx->st, "an RSA key of 1024 bits, not 2048, 3072 or 4096");
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_ERR_CORRUPT);
	assert_int_equal(af_keyring_rotate(fx->kr, NULL), JOSE_ERR_CORRUPT);
	assert_int_equal(af_keyring_ensure_current(fx->kr), JOSE_OK);
	after = ring_get(fx->st);
	assert_true(json_equal(before, after));
	json_decref(after);
	json_decref(before);

	jwk = cjose_jwk_create_RSA_random(2048, e3, sizeof(e3), &cerr);
	assert_non_null(jwk);
	ring_set_key(fx->st, 0, jwk);
	cjose_jwk_release(jwk);
	open_refused(fx->st, "a public exponent other than 65537");

	/* 3072 bits is one of ours: taken, and it signs. */
	jwk = cjose_jwk_create_RSA_random(3072, e65537, sizeof(e65537), &cerr);
	assert_non_null(jwk);
	ring_set_key(fx->st, 0, jwk);
	cjose_jwk_release(jwk);
	assert_int_equal(af_keyring_open(fx->st, &o, &kr), JOSE_OK);
	free(sign_test_token(kr));
	af_keyring_free(kr);
}

/*
 * A stored private key that does not belong to its public key (damaged,
 * or pasted from another key) would sign tokens nobody can verify: it is
 * refused at start instead.
 */
static void test_keyring_open_mismatched_private_key_refused(void **state)
{
	struct fixture *fx = *state;
	static const char *const parts[] = {"d", "p", "q", "dp", "dq", "qi"};
	af_keyring_options o = test_options();
	json_t *ring = ring_get(fx->st), *other_ring;
	json_t *jwk = json_object_get(
		json_array_get(json_object_get(ring, "keys"), 0), "jwk");
	const json_t *other_jwk;
	store_ctx *st = memory_store();
	af_keyring *other = NULL;
	size_t i;

	assert_int_equal(af_keyring_open(st, &o, &other), JOSE_OK);
	other_ring = ring_get(st);
	other_jwk = json_object_get(
		json_array_get(json_object_get(other_ring, "keys"), 0), "jwk");
	/* The public part and kid stay; the private part is another key's. */
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		assert_int_equal(
			json_object_set(jwk, parts[i],
					json_object_get(other_jwk, parts[i])),
			0);
	ring_put(fx->st, ring);
	open_refused(fx->st, "the private key does not match the public key");
	assert_int_equal(af_keyring_reload(fx->kr), JOSE_ERR_CORRUPT);

	json_decref(other_ring);
	json_decref(ring);
	af_keyring_free(other);
	store_close(st);
}

/* The reason of a refused open names the problem in one line. */
static void test_keyring_open_why_names_the_problem(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	af_keyring *kr = (af_keyring *)1;
	json_t *ring = ring_get(fx->st);
	char why[256];

	assert_int_equal(
		store_set(fx->st, JOSE_RING_STORE_KEY, "{\"keys\":", 8, 0, 0),
		STORE_OK);
	assert_int_equal(af_keyring_open_why(fx->st, &o, &kr, why, sizeof(why)),
			 JOSE_ERR_CORRUPT);
	assert_null(kr);
	assert_string_equal(why, "not a JSON object");
	assert_int_equal(
		json_object_set_new(
			json_array_get(json_object_get(ring, "keys"), 0), "kid",
			json_string("forged")),
		0);
	ring_put(fx->st, ring);
	assert_int_equal(af_keyring_open_why(fx->st, &o, &kr, why, sizeof(why)),
			 JOSE_ERR_CORRUPT);
	assert_non_null(strstr(why, "key 1 of 1: its kid is not the RFC 7638 "
				    "thumbprint of its key"));
	/* Bad options: the status's text. */
	o.rsa_bits = 1000;
	assert_int_equal(af_keyring_open_why(fx->st, &o, &kr, why, sizeof(why)),
			 JOSE_ERR_ARG);
	assert_string_equal(why, "invalid argument");
	assert_int_equal(af_keyring_open_why(fx->st, &o, &kr, NULL, 0),
			 JOSE_ERR_ARG);
	json_decref(ring);
}

/*
 * A key made because none was current is told as a warning: after every
 * key expired, and when the stored ring held no key at all.
 */
static void test_keyring_ensure_current_new_key_told(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	struct notices n = {0};
	char kid[JOSE_KID_MAX + 1];
	static const char empty[] = "{\"keys\":[]}";
	af_keyring *kr = NULL;

	o.notice = note;
	o.notice_arg = &n;
	ring_expire_all(fx->st);
	assert_int_equal(af_keyring_open(fx->st, &o, &kr), JOSE_OK);
	assert_int_equal(n.count, 0);
	assert_int_equal(af_keyring_ensure_current(kr), JOSE_OK);
	signing_kid(kr, kid);
	assert_int_equal(n.warnings, 1);
	assert_non_null(strstr(n.last, "every key of the ring had expired"));
	assert_non_null(strstr(n.last, kid));
	af_keyring_free(kr);
	kr = NULL;

	assert_int_equal(store_set(fx->st, JOSE_RING_STORE_KEY, empty,
				   strlen(empty), 0, 0),
			 STORE_OK);
	assert_int_equal(af_keyring_open(fx->st, &o, &kr), JOSE_OK);
	assert_int_equal(af_keyring_ensure_current(kr), JOSE_OK);
	signing_kid(kr, kid);
	assert_int_equal(n.warnings, 2);
	assert_non_null(strstr(n.last, "held no key"));
	assert_non_null(strstr(n.last, kid));
	af_keyring_free(kr);
}

/*
 * A node that finds the shared ring damaged goes on signing with the
 * keys it holds, says so once per damaged text, and a rotation leaves
 * the damaged ring alone and says why.
 */
static void test_keyring_refresh_damaged_ring_told_once(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	struct notices n = {0};
	json_t *ring = ring_get(fx->st);
	char kid[JOSE_KID_MAX + 1], now_kid[JOSE_KID_MAX + 1];
	af_keyring *kr = NULL;
	char *jwt;

	o.refresh_s = 1;
	o.notice = note;
	o.notice_arg = &n;
	assert_int_equal(af_keyring_open(fx->st, &o, &kr), JOSE_OK);
	signing_kid(kr, kid);
	assert_int_equal(
		json_object_set_new(
			json_array_get(json_object_get(ring, "keys"), 0), "kid",
			json_string("forged")),
		0);
	ring_put(fx->st, ring);
	usleep(1100 * 1000);
	jwt = sign_test_token(kr);
	free(jwt);
	signing_kid(kr, now_kid);
	assert_string_equal(kid, now_kid);
	assert_int_equal(n.warnings, 1);
	assert_non_null(strstr(n.last, "damaged"));
	assert_non_null(strstr(n.last, "its kid is not the RFC 7638"));
	usleep(1100 * 1000);
	af_keyring_look(kr);
	assert_int_equal(n.warnings, 1);

	assert_int_equal(af_keyring_rotate(kr, NULL), JOSE_ERR_CORRUPT);
	assert_int_equal(n.warnings, 2);
	assert_non_null(strstr(n.last, "left as it is"));
	json_decref(ring);
	af_keyring_free(kr);
}

/*
 * /jwks on a shared store reads the stored ring at once: a key another
 * node has just made (and may sign with) is published by every node,
 * however long refresh_s is.
 */
static void test_keyring_jwks_shows_another_nodes_key_at_once(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	char rotated[JOSE_KID_MAX + 1];
	af_keyring *other = NULL;

	o.refresh_s = 60;
	assert_int_equal(af_keyring_open(fx->st, &o, &other), JOSE_OK);
	assert_int_equal(af_keyring_rotate(fx->kr, rotated), JOSE_OK);
	assert_true(jwks_has(other, rotated));
	af_keyring_free(other);
}

/*
 * With no key current and the stored ring damaged, the check made every
 * second fails without making a key over the ring, and says so once.
 */
static void test_keyring_ensure_on_damaged_ring_told_once(void **state)
{
	struct fixture *fx = *state;
	af_keyring_options o = test_options();
	struct notices n = {0};
	json_t *ring, *before, *after;
	af_keyring *kr = NULL;

	o.notice = note;
	o.notice_arg = &n;
	ring_expire_all(fx->st);
	assert_int_equal(af_keyring_open(fx->st, &o, &kr), JOSE_OK);
	ring = ring_get(fx->st);
	assert_int_equal(
		json_object_set_new(
			json_array_get(json_object_get(ring, "keys"), 0), "kid",
			json_string("forged")),
		0);
	ring_put(fx->st, ring);
	before = ring_get(fx->st);
	assert_int_equal(af_keyring_ensure_current(kr), JOSE_ERR_CORRUPT);
	assert_int_equal(af_keyring_ensure_current(kr), JOSE_ERR_CORRUPT);
	assert_int_equal(n.warnings, 1);
	assert_non_null(strstr(n.last, "damaged, left as it is"));
	after = ring_get(fx->st);
	assert_true(json_equal(before, after));
	/* An asked-for rotation is answered in the log each time. */
	assert_int_equal(af_keyring_rotate(kr, NULL), JOSE_ERR_CORRUPT);
	assert_int_equal(n.warnings, 2);
	json_decref(after);
	json_decref(before);
	json_decref(ring);
	af_keyring_free(kr);
}

/* The status says from how many days before expiry it alerts. */
static void test_keyring_status_alert_days(void **state)
{
	struct fixture *fx = *state;
	json_t *s = af_keyring_status(fx->kr);

	assert_non_null(s);
	assert_int_equal(json_integer_value(json_object_get(s, "alert_days")),
			 ALERT_DAYS);
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jwk_thumbprint_rfc7638_example_matches),
		cmocka_unit_test(test_jwk_thumbprint_bad_jwk_refused),
		cmocka_unit_test(test_oidc_half_hash_known_vectors_match),
		cmocka_unit_test(test_strerror_never_null),
		cmocka_unit_test_setup_teardown(
			test_jwt_sign_verify_round_trip_preserves_claims, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_sign_access_token_typ_in_header, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_jwt_sign_bad_args_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_tampered_payload_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_tampered_signature_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_alg_none_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_hs256_header_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_other_rsa_alg_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_payload_not_object_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_unknown_kid_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_truncated_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_oversize_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_jwt_verify_malformed_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_jwks_public_only_distinct_kids, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_rotate_new_kid_signs_old_still_verifies,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_retired_key_leaves_jwks_then_ring, setup,
			teardown),
		cmocka_unit_test(test_keyring_retire_after_elapses_by_clock),
		cmocka_unit_test_setup_teardown(
			test_keyring_retire_waits_for_other_nodes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_rotation_now_signs_on_a_node_behind, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_ring_from_a_clock_ahead_keeps_its_key,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_retire_on_a_node_behind_waits, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_retire_takes_a_key_out_now, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_retired_successor_calls_off_the_rotation,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_rotate_ahead_publishes_first, setup,
			teardown),
		cmocka_unit_test(
			test_keyring_open_two_nodes_agree_on_first_key),
		cmocka_unit_test_setup_teardown(
			test_keyring_rotate_concurrent_keeps_both_keys, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_sign_during_rotation_all_verify, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_all_expired_sign_fails_until_ensure, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_ensure_current_no_double_rotation, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_refresh_takes_in_another_nodes_rotation,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_rotate_after_ring_lost_keeps_keys, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_refresh_writes_back_a_lost_ring, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_retired_while_away_stays_retired, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_status_fields_and_alert, setup, teardown),
		cmocka_unit_test(test_keyring_open_bad_options_refused),
		cmocka_unit_test_setup_teardown(
			test_keyring_corrupt_ring_refused_memory_kept, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_open_weak_key_refused_ring_kept, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_keyring_check_stored,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_open_mismatched_private_key_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_open_why_names_the_problem, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_ensure_current_new_key_told, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_refresh_damaged_ring_told_once, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_jwks_shows_another_nodes_key_at_once,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_ensure_on_damaged_ring_told_once, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_keyring_status_alert_days,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyring_rotate_cap_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_successor_published_ahead, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_successor_two_nodes_one_key, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_successor_takes_over_at_expiry, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_rotate_drops_unused_successor, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_rotate_keeps_successor_within_skew, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_signs_from_optional_and_checked, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_keyring_full_ring_no_successor, setup, teardown),
	};

	return cmocka_run_group_tests_name("jose", tests, NULL, NULL);
}
