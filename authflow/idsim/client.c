/*
 * The device key, the device API v1 request signature, and the signed
 * HTTP client of idsim over one libcurl easy handle.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>

#include "client.h"
#include "common/httpc.h"
#include "common/util.h"

#define USER_AGENT     "idsim/0.1.0"
#define API_PREFIX     "/device/v1/"
#define CURVE_NAME     "P-256"
#define GROUP_NAME     "prime256v1" /* OpenSSL's name for P-256 */
#define GROUP_NAME_MAX 64
#define COORD_B64_BUF  44  /* base64url of 32 bytes and a NUL */
#define POINT_LEN      65  /* 0x04 || x || y */
#define DER_SIG_MAX    128 /* a P-256 DER signature is at most 72 bytes */
#define METHOD_MAX     16
#define NONCE_MIN      16
#define NONCE_MAX      64
#define NONCE_BUF      (NONCE_MAX + 1)
#define HEADER_MAX     (AF_IDSIM_CLIENT_DEVICE_MAX + 64)
#define SIGNED_HEADERS 4 /* timestamp, nonce, signature, device */
/* The fixed lines, a decimal timestamp, a nonce and a hex digest. */
#define SIGNING_MAX    (AF_IDSIM_CLIENT_URL_MAX + AF_IDSIM_CLIENT_TARGET_MAX + 256)

struct af_idsim_client {
	af_httpc *http;
	EVP_PKEY *key;	/* our reference */
	char *base;	/* base URL without trailing slashes */
	size_t path_at; /* where the base URL's path prefix starts */
	char *device;	/* NULL before enrollment */
};

const char *af_idsim_client_strerror(af_idsim_client_status st)
{
	switch (st) {
#define AF_IDSIM_CLIENT_XX(name, value, text) \
	case AF_IDSIM_CLIENT_##name:          \
		return text;
		AF_IDSIM_CLIENT_STATUS_MAP(AF_IDSIM_CLIENT_XX)
#undef AF_IDSIM_CLIENT_XX
	}
	return "unknown device client status";
}

/* ---- the key ---- */

/* Whether key is an EC key on P-256, the only curve of ES256. */
static int is_p256(const EVP_PKEY *key)
{
	char group[GROUP_NAME_MAX];
	size_t n = 0;

	if (key == NULL || !EVP_PKEY_is_a(key, "EC"))
		return 0;
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), &n) != 1)
		return 0;
	return strcmp(group, GROUP_NAME) == 0;
}

af_idsim_client_status af_idsim_key_generate(EVP_PKEY **out)
{
	EVP_PKEY *key;

	if (out == NULL)
		return AF_IDSIM_CLIENT_ERR_ARG;
	*out = NULL;
	key = EVP_EC_gen(CURVE_NAME);
	if (key == NULL)
		return AF_IDSIM_CLIENT_ERR_CRYPTO;
	*out = key;
	return AF_IDSIM_CLIENT_OK;
}

/*
 * One big-number parameter of key, base64url of its 32-byte big-endian
 * form, into out (COORD_B64_BUF bytes). The bytes are wiped, since one of
 * the parameters is the private scalar.
 */
static af_idsim_client_status bn_param_b64(const EVP_PKEY *key,
					   const char *name, char *out)
{
	uint8_t bytes[AF_IDSIM_COORD_LEN];
	af_idsim_client_status st = AF_IDSIM_CLIENT_ERR_KEY;
	BIGNUM *bn = NULL;

	if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
		return AF_IDSIM_CLIENT_ERR_KEY;
	if (BN_bn2binpad(bn, bytes, sizeof(bytes)) != (int)sizeof(bytes))
		goto out;
	if (af_b64url_encode(bytes, sizeof(bytes), out, COORD_B64_BUF) != 0) {
		st = AF_IDSIM_CLIENT_ERR_CRYPTO;
		goto out;
	}
	st = AF_IDSIM_CLIENT_OK;
out:
	OPENSSL_cleanse(bytes, sizeof(bytes));
	BN_clear_free(bn);
	return st;
}

af_idsim_client_status af_idsim_key_to_jwk(EVP_PKEY *key, int with_private,
					   json_t **out)
{
	char x[COORD_B64_BUF], y[COORD_B64_BUF], d[COORD_B64_BUF];
	af_idsim_client_status st;
	json_t *jwk = NULL;

	if (key == NULL || out == NULL)
		return AF_IDSIM_CLIENT_ERR_ARG;
	*out = NULL;
	d[0] = '\0';
	if (!is_p256(key))
		return AF_IDSIM_CLIENT_ERR_KEY;
	st = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_X, x);
	if (st == AF_IDSIM_CLIENT_OK)
		st = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_Y, y);
	if (st == AF_IDSIM_CLIENT_OK && with_private)
		st = bn_param_b64(key, OSSL_PKEY_PARAM_PRIV_KEY, d);
	if (st != AF_IDSIM_CLIENT_OK)
		goto out;
	st = AF_IDSIM_CLIENT_ERR_NOMEM;
	jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", CURVE_NAME,
			"x", x, "y", y);
	if (jwk == NULL)
		goto out;
	if (with_private && json_object_set_new(jwk, "d", json_string(d)) != 0)
		goto out;
	*out = jwk;
	jwk = NULL;
	st = AF_IDSIM_CLIENT_OK;
out:
	OPENSSL_cleanse(d, sizeof(d));
	json_decref(jwk);
	return st;
}

/* A JWK member: base64url of exactly 32 bytes, decoded into out. */
static int jwk_coord(const json_t *jwk, const char *name,
		     uint8_t out[AF_IDSIM_COORD_LEN])
{
	const json_t *v = json_object_get(jwk, name);
	size_t n = 0;

	if (!json_is_string(v))
		return -1;
	if (af_b64url_decode(json_string_value(v), json_string_length(v), out,
			     AF_IDSIM_COORD_LEN, &n) != 0 ||
	    n != AF_IDSIM_COORD_LEN) {
		OPENSSL_cleanse(out, AF_IDSIM_COORD_LEN);
		return -1;
	}
	return 0;
}

static int jwk_member_is(const json_t *jwk, const char *name, const char *want)
{
	const char *v = json_string_value(json_object_get(jwk, name));

	return v != NULL && strcmp(v, want) == 0;
}

/*
 * Imports the key pair from its parts. The private scalar goes into a
 * secure big number, so that the parameter copy OpenSSL makes of it is
 * cleared when freed as well.
 */
static af_idsim_client_status import_pair(const uint8_t point[POINT_LEN],
					  const uint8_t d[AF_IDSIM_COORD_LEN],
					  EVP_PKEY **out)
{
	af_idsim_client_status st = AF_IDSIM_CLIENT_ERR_NOMEM;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *priv = BN_secure_new();

	if (priv == NULL || BN_bin2bn(d, AF_IDSIM_COORD_LEN, priv) == NULL)
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    GROUP_NAME, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					     point, POINT_LEN) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (params == NULL || ctx == NULL)
		goto out;
	st = AF_IDSIM_CLIENT_ERR_KEY;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	/*
	 * A point that is not on the curve, or one that does not belong to
	 * d, would make signatures the server can never verify: refuse it
	 * here, with a clear message, rather than at the first request.
	 */
	check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (check == NULL || EVP_PKEY_check(check) != 1)
		goto out;
	*out = key;
	key = NULL;
	st = AF_IDSIM_CLIENT_OK;
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(priv);
	return st;
}

af_idsim_client_status af_idsim_key_from_jwk(const json_t *jwk, EVP_PKEY **out)
{
	uint8_t point[POINT_LEN], d[AF_IDSIM_COORD_LEN];
	af_idsim_client_status st = AF_IDSIM_CLIENT_ERR_KEY;

	if (jwk == NULL || out == NULL)
		return AF_IDSIM_CLIENT_ERR_ARG;
	*out = NULL;
	if (!json_is_object(jwk) || !jwk_member_is(jwk, "kty", "EC") ||
	    !jwk_member_is(jwk, "crv", CURVE_NAME))
		return AF_IDSIM_CLIENT_ERR_KEY;
	point[0] = POINT_CONVERSION_UNCOMPRESSED;
	if (jwk_coord(jwk, "x", point + 1) != 0 ||
	    jwk_coord(jwk, "y", point + 1 + AF_IDSIM_COORD_LEN) != 0)
		return AF_IDSIM_CLIENT_ERR_KEY;
	if (jwk_coord(jwk, "d", d) != 0)
		goto out;
	st = import_pair(point, d, out);
out:
	OPENSSL_cleanse(d, sizeof(d));
	return st;
}

/* ---- the signature ---- */

static int valid_method(const char *m)
{
	size_t n;

	for (n = 0; m[n] != '\0'; n++) {
		if (n >= METHOD_MAX || m[n] < 'A' || m[n] > 'Z')
			return 0;
	}
	return n > 0;
}

static int valid_nonce(const char *nonce)
{
	size_t n;

	for (n = 0; nonce[n] != '\0'; n++) {
		if (n >= NONCE_MAX || !af_b64url_char(nonce[n]))
			return 0;
	}
	return n >= NONCE_MIN;
}

af_idsim_client_status
af_idsim_signing_string(const char *method, const char *target,
			int64_t timestamp, const char *nonce, const void *body,
			size_t bodylen, char *out, size_t cap, size_t *outlen)
{
	char digest[65];
	int n;

	if (outlen != NULL)
		*outlen = 0;
	if (method == NULL || target == NULL || nonce == NULL || out == NULL ||
	    cap == 0 || (body == NULL && bodylen > 0) || timestamp < 0)
		return AF_IDSIM_CLIENT_ERR_ARG;
	out[0] = '\0';
	if (!valid_method(method) || target[0] != '/' ||
	    !af_httpc_visible_ascii(target,
				    AF_IDSIM_CLIENT_URL_MAX +
					    AF_IDSIM_CLIENT_TARGET_MAX) ||
	    !valid_nonce(nonce))
		return AF_IDSIM_CLIENT_ERR_ARG;
	af_sha256_hex(body != NULL ? body : "", bodylen, digest);
	n = snprintf(out, cap, "%s\n%s\n%s\n%lld\n%s\n%s",
		     AF_IDSIM_SIGNING_MAGIC, method, target,
		     (long long)timestamp, nonce, digest);
	if (n < 0 || (size_t)n >= cap) {
		out[0] = '\0';
		return AF_IDSIM_CLIENT_ERR_TOO_LONG;
	}
	if (outlen != NULL)
		*outlen = (size_t)n;
	return AF_IDSIM_CLIENT_OK;
}

af_idsim_client_status
af_idsim_sig_der_to_raw(const uint8_t *der, size_t len,
			uint8_t raw[AF_IDSIM_SIG_RAW_LEN])
{
	af_idsim_client_status st = AF_IDSIM_CLIENT_ERR_SIGNATURE;
	const unsigned char *p = der;
	const BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG *sig;

	if (der == NULL || raw == NULL || len == 0)
		return AF_IDSIM_CLIENT_ERR_ARG;
	if (len > DER_SIG_MAX)
		return AF_IDSIM_CLIENT_ERR_SIGNATURE;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (sig == NULL)
		return AF_IDSIM_CLIENT_ERR_SIGNATURE;
	if (p != der + len)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_is_negative(r) || BN_is_negative(s) || BN_is_zero(r) ||
	    BN_is_zero(s))
		goto out;
	if (BN_bn2binpad(r, raw, AF_IDSIM_COORD_LEN) != AF_IDSIM_COORD_LEN ||
	    BN_bn2binpad(s, raw + AF_IDSIM_COORD_LEN, AF_IDSIM_COORD_LEN) !=
		    AF_IDSIM_COORD_LEN) {
		OPENSSL_cleanse(raw, AF_IDSIM_SIG_RAW_LEN);
		goto out;
	}
	st = AF_IDSIM_CLIENT_OK;
out:
	ECDSA_SIG_free(sig);
	return st;
}

af_idsim_client_status af_idsim_sign(EVP_PKEY *key, const void *msg, size_t len,
				     char *out, size_t cap)
{
	uint8_t der[DER_SIG_MAX], raw[AF_IDSIM_SIG_RAW_LEN];
	af_idsim_client_status st = AF_IDSIM_CLIENT_ERR_CRYPTO;
	size_t derlen = sizeof(der);
	EVP_MD_CTX *md;

	if (key == NULL || msg == NULL || out == NULL ||
	    cap < AF_IDSIM_SIG_B64_BUF)
		return AF_IDSIM_CLIENT_ERR_ARG;
	out[0] = '\0';
	if (!is_p256(key))
		return AF_IDSIM_CLIENT_ERR_KEY;
	md = EVP_MD_CTX_new();
	if (md == NULL)
		return AF_IDSIM_CLIENT_ERR_NOMEM;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, msg, len) != 1)
		goto out;
	st = af_idsim_sig_der_to_raw(der, derlen, raw);
	if (st != AF_IDSIM_CLIENT_OK)
		goto out;
	if (af_b64url_encode(raw, sizeof(raw), out, cap) != 0)
		st = AF_IDSIM_CLIENT_ERR_ARG;
out:
	EVP_MD_CTX_free(md);
	return st;
}

/* ---- the client ---- */

/* The status of this module for one of the shared client. */
static af_idsim_client_status from_httpc(af_httpc_status st)
{
	switch (st) {
	case AF_HTTPC_OK:
		return AF_IDSIM_CLIENT_OK;
	case AF_HTTPC_ERR_NOMEM:
		return AF_IDSIM_CLIENT_ERR_NOMEM;
	case AF_HTTPC_ERR_URL:
		return AF_IDSIM_CLIENT_ERR_URL;
	case AF_HTTPC_ERR_UNREACHABLE:
		return AF_IDSIM_CLIENT_ERR_UNREACHABLE;
	case AF_HTTPC_ERR_TOO_BIG:
		return AF_IDSIM_CLIENT_ERR_TOO_BIG;
	case AF_HTTPC_ERR_CURL:
		return AF_IDSIM_CLIENT_ERR_CURL;
	case AF_HTTPC_ERR_CA_FILE:
		return AF_IDSIM_CLIENT_ERR_CA_FILE;
	case AF_HTTPC_ERR_ARG:
	default:
		return AF_IDSIM_CLIENT_ERR_ARG;
	}
}

af_idsim_client_status af_idsim_client_new(const char *base_url, EVP_PKEY *key,
					   const char *device_id,
					   af_idsim_client **out)
{
	af_idsim_client_status st;
	af_idsim_client *c = NULL;
	size_t ulen = 0, path_at = 0;

	if (out == NULL || base_url == NULL || key == NULL)
		return AF_IDSIM_CLIENT_ERR_ARG;
	*out = NULL;
	if (device_id != NULL &&
	    !af_httpc_visible_ascii(device_id, AF_IDSIM_CLIENT_DEVICE_MAX))
		return AF_IDSIM_CLIENT_ERR_ARG;
	st = from_httpc(af_httpc_base_url(base_url, &ulen, &path_at));
	if (st != AF_IDSIM_CLIENT_OK)
		return st;
	if (af_httpc_plain_remote(base_url))
		return AF_IDSIM_CLIENT_ERR_PLAIN;
	st = AF_IDSIM_CLIENT_ERR_NOMEM;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return st;
	c->base = malloc(ulen + 1);
	if (c->base == NULL)
		goto out;
	memcpy(c->base, base_url, ulen);
	c->base[ulen] = '\0';
	c->path_at = path_at;
	if (device_id != NULL) {
		c->device = strdup(device_id);
		if (c->device == NULL)
			goto out;
	}
	if (EVP_PKEY_up_ref(key) != 1) {
		st = AF_IDSIM_CLIENT_ERR_CRYPTO;
		goto out;
	}
	c->key = key;
	st = from_httpc(af_httpc_new(USER_AGENT, &c->http));
	if (st != AF_IDSIM_CLIENT_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	af_idsim_client_free(c);
	return st;
}

void af_idsim_client_free(af_idsim_client *c)
{
	if (c == NULL)
		return;
	af_httpc_free(c->http);
	EVP_PKEY_free(c->key);
	free(c->base);
	free(c->device);
	free(c);
}

/*
 * Characters a request target may hold: RFC 3986 unreserved ones and the
 * delimiters of a path and a simple query. Nothing here is re-encoded by
 * curl or decoded differently by a server, so the target signed is the
 * target received.
 */
static int valid_target(const char *t)
{
	size_t n, plen = strlen(API_PREFIX);

	if (strncmp(t, API_PREFIX, plen) != 0)
		return 0;
	for (n = 0; t[n] != '\0'; n++) {
		if (n >= AF_IDSIM_CLIENT_TARGET_MAX)
			return 0;
		if (!af_b64url_char(t[n]) && strchr("./~?=&", t[n]) == NULL)
			return 0;
	}
	/* No "." or ".." segment that a server would fold away. */
	return strstr(t, "/./") == NULL && strstr(t, "/../") == NULL;
}

/* The signed request as it goes out: URL, body and signed header lines. */
struct signed_req {
	char *url;
	char *body; /* from af_httpc_body_text(), or NULL for GET */
	char lines[SIGNED_HEADERS][HEADER_MAX];
	const char *headers[SIGNED_HEADERS];
	size_t nheaders;
};

static void signed_req_cleanup(struct signed_req *r)
{
	free(r->url);
	af_httpc_body_free(r->body);
	r->url = NULL;
	r->body = NULL;
	/* The lines hold the signature and the device id. */
	OPENSSL_cleanse(r->lines, sizeof(r->lines));
	r->nheaders = 0;
}

/* Adds the header line "name: value". */
static int add_header(struct signed_req *r, const char *name, const char *value)
{
	char *line;
	int n;

	if (r->nheaders >= SIGNED_HEADERS)
		return -1;
	line = r->lines[r->nheaders];
	n = snprintf(line, HEADER_MAX, "%s: %s", name, value);
	if (n < 0 || (size_t)n >= HEADER_MAX)
		return -1;
	r->headers[r->nheaders++] = line;
	return 0;
}

/*
 * Builds the URL, the body and the signed headers. The target signed is
 * the base URL's path prefix followed by target, which is the path the
 * request line carries.
 */
static af_idsim_client_status
sign_request(af_idsim_client *c, const char *method, const char *target,
	     const json_t *body, int with_body, struct signed_req *r)
{
	char nonce[NONCE_BUF], sig[AF_IDSIM_SIG_B64_BUF], ts[24];
	char signing[SIGNING_MAX];
	af_idsim_client_status st;
	size_t blen = 0, ulen = strlen(c->base) + strlen(target) + 1, slen = 0;
	int64_t now;
	int ok;

	r->url = malloc(ulen);
	if (r->url == NULL)
		return AF_IDSIM_CLIENT_ERR_NOMEM;
	/* The size was counted above, so the URL is never cut short. */
	snprintf(r->url, ulen, "%s%s", c->base, target);
	if (with_body) {
		r->body = af_httpc_body_text(body);
		if (r->body == NULL)
			return AF_IDSIM_CLIENT_ERR_NOMEM;
		blen = strlen(r->body);
		if (blen > AF_IDSIM_CLIENT_BODY_MAX)
			return AF_IDSIM_CLIENT_ERR_TOO_LONG;
	}
	if (af_random_token(AF_IDSIM_NONCE_BYTES, nonce, sizeof(nonce)) != 0)
		return AF_IDSIM_CLIENT_ERR_RANDOM;
	/* One reading of the clock, so the header is the value signed. */
	now = (int64_t)time(NULL);
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	st = af_idsim_signing_string(method, r->url + c->path_at, now, nonce,
				     r->body, blen, signing, sizeof(signing),
				     &slen);
	if (st == AF_IDSIM_CLIENT_OK)
		st = af_idsim_sign(c->key, signing, slen, sig, sizeof(sig));
	if (st != AF_IDSIM_CLIENT_OK)
		return st;
	ok = add_header(r, "X-AF-Timestamp", ts) == 0 &&
	     add_header(r, "X-AF-Nonce", nonce) == 0 &&
	     add_header(r, "X-AF-Signature", sig) == 0;
	if (ok && c->device != NULL)
		ok = add_header(r, "X-AF-Device", c->device) == 0;
	return ok ? AF_IDSIM_CLIENT_OK : AF_IDSIM_CLIENT_ERR_NOMEM;
}

af_idsim_client_status
af_idsim_client_request(af_idsim_client *c, const char *method,
			const char *target, const json_t *body, long *status,
			json_t **answer, char *err, size_t errlen)
{
	struct signed_req r = {NULL, NULL, {{0}}, {NULL}, 0};
	af_httpc_request req = {
		method,
		NULL,
		NULL,
		0,
		NULL,
		AF_IDSIM_CLIENT_ANSWER_MAX,
		AF_IDSIM_CLIENT_TIMEOUT_S,
		AF_IDSIM_CLIENT_TIMEOUT_S,
	};
	af_idsim_client_status st;
	int with_body, attempt;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (c == NULL || method == NULL || target == NULL || status == NULL ||
	    answer == NULL)
		return AF_IDSIM_CLIENT_ERR_ARG;
	*status = 0;
	*answer = NULL;
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 &&
	    strcmp(method, "PUT") != 0)
		return AF_IDSIM_CLIENT_ERR_ARG;
	if (strlen(target) > AF_IDSIM_CLIENT_TARGET_MAX)
		return AF_IDSIM_CLIENT_ERR_TOO_LONG;
	if (!valid_target(target))
		return AF_IDSIM_CLIENT_ERR_ARG;
	with_body = af_httpc_method_body(method);
	/*
	 * One 401 proves nothing (a retry's nonce seen before, a clock that
	 * just stepped), and a refused request changed nothing: a device's
	 * request is signed anew and sent once more, as the device API asks
	 * of apps. Enrollment, which no device signs, is not.
	 */
	for (attempt = 0; attempt < 2; attempt++) {
		if (attempt > 0) {
			signed_req_cleanup(&r);
			json_decref(*answer);
			*answer = NULL;
			*status = 0;
		}
		st = sign_request(c, method, target, body, with_body, &r);
		if (st != AF_IDSIM_CLIENT_OK) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "%s",
					 af_idsim_client_strerror(st));
			break;
		}
		req.url = r.url;
		req.body = r.body;
		req.headers = r.headers;
		req.nheaders = r.nheaders;
		st = from_httpc(af_httpc_send(c->http, &req, status, answer,
					      err, errlen));
		if (st != AF_IDSIM_CLIENT_OK || *status != 401 ||
		    c->device == NULL)
			break;
	}
	signed_req_cleanup(&r);
	return st;
}
