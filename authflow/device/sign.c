/*
 * Request signatures of the device API: the four headers, the signing
 * string and ES256 verification with OpenSSL 3. No I/O here; the nonce
 * store write and the clock check are the handlers' job.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "common/util.h"
#include "device/device.h"
#include "device/device_internal.h"

#define SIG_PREFIX  "AF-DEVICE-V1"
#define COORD_LEN   32
#define COORD_B64   43 /* unpadded base64url of 32 bytes */
#define POINT_LEN   AF_DEVICE_POINT_LEN
#define DER_SIG_MAX 80 /* DER of two 32-byte integers, with room */

static const struct {
	af_device_status st;
	const char *text;
} statuses[] = {
#define AF_DEVICE_XX(name, value, http, code, text) {AF_DEVICE_##name, (text)},
	AF_DEVICE_STATUS_MAP(AF_DEVICE_XX)
#undef AF_DEVICE_XX
};

#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))

const char *af_device_strerror(af_device_status st)
{
	size_t i;

	for (i = 0; i < NSTATUSES; i++) {
		if (statuses[i].st == st)
			return statuses[i].text;
	}
	return "unknown status";
}

/*
 * Copies s into out when it is min..max characters of base64url (out
 * holds max + 1 bytes). 0, or -1 for NULL, a wrong length or a character
 * outside the alphabet.
 */
static int copy_b64url(const char *s, size_t min, size_t max, char *out)
{
	size_t n;

	if (s == NULL)
		return -1;
	n = strnlen(s, max + 1);
	if (n < min || n > max || !af_b64url_text_ok(s, n))
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* A decimal timestamp of 1..AF_DEVICE_TS_DIGITS_MAX digits; 0 or -1. */
static int parse_ts(const char *s, char *text, int64_t *out)
{
	int64_t v = 0;
	size_t i, n;

	if (s == NULL)
		return -1;
	n = strnlen(s, AF_DEVICE_TS_DIGITS_MAX + 1);
	if (n == 0 || n > AF_DEVICE_TS_DIGITS_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		/* Twelve digits cannot overflow an int64_t. */
		v = v * 10 + (s[i] - '0');
	}
	memcpy(text, s, n);
	text[n] = '\0';
	*out = v;
	return 0;
}

af_device_status af_device_sig_parse(const char *device, const char *ts,
				     const char *nonce, const char *sig,
				     int need_device, af_device_sig *out)
{
	if (out == NULL)
		return AF_DEVICE_BAD_REQUEST;
	memset(out, 0, sizeof(*out));
	if (need_device &&
	    copy_b64url(device, 1, sizeof(out->device) - 1, out->device) != 0)
		goto bad;
	if (parse_ts(ts, out->ts_text, &out->ts) != 0)
		goto bad;
	if (copy_b64url(nonce, AF_DEVICE_NONCE_MIN, AF_DEVICE_NONCE_MAX,
			out->nonce) != 0)
		goto bad;
	if (copy_b64url(sig, AF_DEVICE_SIG_B64, AF_DEVICE_SIG_B64, out->sig) !=
	    0)
		goto bad;
	return AF_DEVICE_OK;
bad:
	memset(out, 0, sizeof(*out));
	return AF_DEVICE_UNAUTHORIZED;
}

static int method_ok(const char *m)
{
	size_t i, n = strnlen(m, AF_DEVICE_METHOD_MAX + 1);

	if (n == 0 || n > AF_DEVICE_METHOD_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (m[i] < 'A' || m[i] > 'Z')
			return 0;
	}
	return 1;
}

/* 1 when s is printable ASCII without spaces (a request target's bytes). */
static int target_part_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	}
	return 1;
}

af_device_status af_device_sig_string(const char *method, const char *path,
				      const char *raw_query,
				      const af_device_sig *sig,
				      const void *body, size_t body_len,
				      char *out, size_t outcap, size_t *outlen)
{
	char body_hex[65];
	size_t plen, qlen = 0;
	int n;

	if (method == NULL || path == NULL || sig == NULL || out == NULL ||
	    outlen == NULL || (body == NULL && body_len > 0) || outcap == 0)
		return AF_DEVICE_BAD_REQUEST;
	out[0] = '\0';
	*outlen = 0;
	if (!method_ok(method))
		return AF_DEVICE_UNAUTHORIZED;
	plen = strnlen(path, AF_DEVICE_TARGET_MAX + 1);
	if (raw_query != NULL)
		qlen = strnlen(raw_query, AF_DEVICE_TARGET_MAX + 1);
	/* Both are at most the cap here, so the sum cannot overflow. */
	if (plen == 0 || plen + 1 + qlen > AF_DEVICE_TARGET_MAX ||
	    !target_part_ok(path, plen) || !target_part_ok(raw_query, qlen))
		return AF_DEVICE_UNAUTHORIZED;
	af_sha256_hex(body_len > 0 ? body : "", body_len, body_hex);
	n = snprintf(out, outcap, "%s\n%s\n%s%s%s\n%s\n%s\n%s", SIG_PREFIX,
		     method, path, raw_query != NULL ? "?" : "",
		     raw_query != NULL ? raw_query : "", sig->ts_text,
		     sig->nonce, body_hex);
	if (n < 0 || (size_t)n >= outcap) {
		out[0] = '\0';
		return AF_DEVICE_BAD_REQUEST;
	}
	*outlen = (size_t)n;
	return AF_DEVICE_OK;
}

/* Decodes one 32-byte JWK coordinate; 0 or -1. */
static int coord(const json_t *jwk, const char *name, uint8_t *out)
{
	const char *s = json_string_value(json_object_get(jwk, name));
	size_t n;

	if (s == NULL ||
	    json_string_length(json_object_get(jwk, name)) != COORD_B64)
		return -1;
	if (af_b64url_decode(s, COORD_B64, out, COORD_LEN, &n) != 0 ||
	    n != COORD_LEN)
		return -1;
	return 0;
}

static int str_member_is(const json_t *o, const char *name, const char *want)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s != NULL && strcmp(s, want) == 0;
}

/*
 * The P-256 public key of a JWK into *out. AF_DEVICE_OK, AF_DEVICE_BAD_KEY
 * (wrong members, or a point that is not on the curve) or
 * AF_DEVICE_INTERNAL.
 */
static af_device_status jwk_to_pkey(af_device_keys *keys, const json_t *jwk,
				    EVP_PKEY **out)
{
	uint8_t point[POINT_LEN];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	af_device_status ret = AF_DEVICE_BAD_KEY;

	*out = NULL;
	if (!json_is_object(jwk) || !str_member_is(jwk, "kty", "EC") ||
	    !str_member_is(jwk, "crv", "P-256") ||
	    json_object_get(jwk, "d") != NULL)
		return AF_DEVICE_BAD_KEY;
	point[0] = 0x04; /* uncompressed: 0x04 || x || y */
	if (coord(jwk, "x", point + 1) != 0 ||
	    coord(jwk, "y", point + 1 + COORD_LEN) != 0)
		return AF_DEVICE_BAD_KEY;
	*out = af_device__keys_get(keys, point);
	if (*out != NULL)
		return AF_DEVICE_OK;
	ret = AF_DEVICE_INTERNAL;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    "P-256", 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					     point, sizeof(point)) != 1)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1)
		goto out;
	/* fromdata refuses a point that does not decode onto the curve. */
	ret = AF_DEVICE_BAD_KEY;
	if (EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	/*
	 * The public-key check: on the curve and not the point at infinity.
	 * P-256 has cofactor 1, so every such point is in the prime-order
	 * group and the full check's extra scalar multiplication (the order
	 * check, as costly as a verification) could never refuse anything
	 * more: the quick check accepts exactly the same keys.
	 */
	check = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
	if (check == NULL) {
		ret = AF_DEVICE_INTERNAL;
		goto out;
	}
	if (EVP_PKEY_public_check_quick(check) != 1)
		goto out;
	af_device__keys_put(keys, point, *out);
	ret = AF_DEVICE_OK;
out:
	if (ret != AF_DEVICE_OK) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return ret;
}

static int all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/*
 * The DER form of a raw r||s signature into der (DER_SIG_MAX bytes).
 * A zero r or s can never verify; it is refused here already (r or s at
 * or above the group order are refused by OpenSSL's verification).
 *
 * An s above half the group order is taken as it is, not refused: the
 * phones' own signers (the Secure Enclave, Android Keystore, OpenSSL in
 * idsim) make plain ECDSA signatures, high-S about every second time,
 * so refusing them would fail every second request. Accepting both
 * (r, s) and (r, n - s) costs nothing here, because nothing keys on a
 * signature's bytes: replays are refused by the nonce inside the signed
 * text, so the other form of a signature is the same request, refused
 * as a replay.
 *
 * AF_DEVICE_OK, AF_DEVICE_UNAUTHORIZED or AF_DEVICE_INTERNAL.
 */
static af_device_status raw_to_der(const uint8_t *raw, uint8_t *der,
				   size_t *derlen)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *p = der;
	af_device_status ret = AF_DEVICE_INTERNAL;
	int n;

	if (all_zero(raw, COORD_LEN) || all_zero(raw + COORD_LEN, COORD_LEN))
		return AF_DEVICE_UNAUTHORIZED;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(raw, COORD_LEN, NULL);
	s = BN_bin2bn(raw + COORD_LEN, COORD_LEN, NULL);
	if (es == NULL || r == NULL || s == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	/* es owns r and s now. */
	r = NULL;
	s = NULL;
	if (i2d_ECDSA_SIG(es, NULL) > DER_SIG_MAX)
		goto out;
	n = i2d_ECDSA_SIG(es, &p);
	if (n <= 0)
		goto out;
	*derlen = (size_t)n;
	ret = AF_DEVICE_OK;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ret;
}

af_device_status af_device_sig_verify(af_device_keys *keys,
				      const json_t *pubkey_jwk,
				      const char *sigstring,
				      const char *sig_b64url)
{
	uint8_t raw[AF_DEVICE_SIG_RAW + 1];
	uint8_t der[DER_SIG_MAX];
	size_t rawlen = 0, derlen = 0, siglen;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	af_device_status ret;
	int rc;

	if (sigstring == NULL || sig_b64url == NULL)
		return AF_DEVICE_UNAUTHORIZED;
	siglen = strnlen(sig_b64url, AF_DEVICE_SIG_B64 + 1);
	if (siglen != AF_DEVICE_SIG_B64 ||
	    af_b64url_decode(sig_b64url, siglen, raw, sizeof(raw), &rawlen) !=
		    0 ||
	    rawlen != AF_DEVICE_SIG_RAW)
		return AF_DEVICE_UNAUTHORIZED;
	ret = jwk_to_pkey(keys, pubkey_jwk, &pkey);
	if (ret != AF_DEVICE_OK)
		return ret;
	ret = raw_to_der(raw, der, &derlen);
	if (ret != AF_DEVICE_OK)
		goto out;
	ret = AF_DEVICE_INTERNAL;
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestVerifyInit(md, NULL, af_sha256_md(), NULL, pkey) != 1)
		goto out;
	rc = EVP_DigestVerify(md, der, derlen, (const unsigned char *)sigstring,
			      strlen(sigstring));
	/* 0 is a wrong signature, a negative value a malformed one. */
	ret = rc == 1 ? AF_DEVICE_OK : AF_DEVICE_UNAUTHORIZED;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	return ret;
}
