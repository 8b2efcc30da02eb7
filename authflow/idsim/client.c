/*
 * The device key, the device API v1 request signature, and the signed
 * HTTP client of idsim over one libcurl easy handle.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>

#include "client.h"
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
#define ANSWER_FIRST   4096
/* The fixed lines, a decimal timestamp, a nonce and a hex digest. */
#define SIGNING_MAX    (AF_IDSIM_CLIENT_URL_MAX + AF_IDSIM_CLIENT_TARGET_MAX + 256)

struct af_idsim_client {
	CURL *curl;
	EVP_PKEY *key;	/* our reference */
	char *base;	/* base URL without trailing slashes */
	size_t path_at; /* where the base URL's path prefix starts */
	char *device;	/* NULL before enrollment */
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's last error text */
};

/* The answer as it arrives, up to AF_IDSIM_CLIENT_ANSWER_MAX bytes. */
struct answer {
	char *data;
	size_t len;
	size_t cap;
	int too_big;
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

static void set_err(char *err, size_t errlen, const char *what,
		    const char *detail)
{
	if (err == NULL || errlen == 0)
		return;
	if (detail != NULL && detail[0] != '\0')
		snprintf(err, errlen, "%s: %s", what, detail);
	else
		snprintf(err, errlen, "%s", what);
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

static int is_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static int valid_method(const char *m)
{
	size_t n;

	for (n = 0; m[n] != '\0'; n++) {
		if (n >= METHOD_MAX || m[n] < 'A' || m[n] > 'Z')
			return 0;
	}
	return n > 0;
}

/* Visible ASCII only: no blanks, no CR or LF that could add a line. */
static int visible_ascii(const char *s, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (n >= max || s[n] < 0x21 || s[n] > 0x7e)
			return 0;
	}
	return n > 0;
}

static int valid_nonce(const char *nonce)
{
	size_t n;

	for (n = 0; nonce[n] != '\0'; n++) {
		if (n >= NONCE_MAX || !is_b64url_char(nonce[n]))
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
	    !visible_ascii(target, AF_IDSIM_CLIENT_URL_MAX +
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

/*
 * Checks the base URL and finds its length without trailing slashes and
 * where its path prefix (possibly empty) starts.
 */
static af_idsim_client_status check_url(const char *url, size_t *len,
					size_t *path_at)
{
	const char *slash;
	size_t skip, n;

	if (!visible_ascii(url, AF_IDSIM_CLIENT_URL_MAX))
		return AF_IDSIM_CLIENT_ERR_URL;
	if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else
		return AF_IDSIM_CLIENT_ERR_URL;
	/* The path is ours to append, so no query or fragment may sit there. */
	if (url[skip] == '\0' || url[skip] == '/' || strpbrk(url, "?#") != NULL)
		return AF_IDSIM_CLIENT_ERR_URL;
	n = strlen(url);
	while (n > skip && url[n - 1] == '/')
		n--;
	slash = memchr(url + skip, '/', n - skip);
	*path_at = slash != NULL ? (size_t)(slash - url) : n;
	*len = n;
	return AF_IDSIM_CLIENT_OK;
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
	    !visible_ascii(device_id, AF_IDSIM_CLIENT_DEVICE_MAX))
		return AF_IDSIM_CLIENT_ERR_ARG;
	st = check_url(base_url, &ulen, &path_at);
	if (st != AF_IDSIM_CLIENT_OK)
		return st;
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
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		st = AF_IDSIM_CLIENT_ERR_CURL;
		goto out;
	}
	*out = c;
	c = NULL;
	st = AF_IDSIM_CLIENT_OK;
out:
	af_idsim_client_free(c);
	return st;
}

void af_idsim_client_free(af_idsim_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	EVP_PKEY_free(c->key);
	free(c->base);
	free(c->device);
	free(c);
}

/*
 * libcurl's write callback: keeps the answer up to the cap and stops the
 * transfer past it. The buffer grows by moving to a new block and wiping
 * the old one, since the enrollment answer carries the TOTP secret.
 */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb, cap;
	char *data;

	if (n > AF_IDSIM_CLIENT_ANSWER_MAX - a->len) {
		a->too_big = 1;
		return 0;
	}
	if (a->len + n + 1 > a->cap) {
		cap = a->cap == 0 ? ANSWER_FIRST : a->cap;
		while (cap < a->len + n + 1)
			cap *= 2;
		if (cap > AF_IDSIM_CLIENT_ANSWER_MAX + 1)
			cap = AF_IDSIM_CLIENT_ANSWER_MAX + 1;
		data = malloc(cap);
		if (data == NULL)
			return 0;
		if (a->data != NULL) {
			memcpy(data, a->data, a->len);
			OPENSSL_clear_free(a->data, a->cap);
		}
		a->data = data;
		a->cap = cap;
	}
	memcpy(a->data + a->len, ptr, n);
	a->len += n;
	return n;
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
		if (!is_b64url_char(t[n]) && strchr("./~?=&", t[n]) == NULL)
			return 0;
	}
	/* No "." or ".." segment that a server would fold away. */
	return strstr(t, "/./") == NULL && strstr(t, "/../") == NULL;
}

/* Wipes and frees text from json_dumps() with jansson's own free. */
static void free_body(char *text)
{
	json_free_t jfree = NULL;

	if (text == NULL)
		return;
	OPENSSL_cleanse(text, strlen(text));
	json_get_alloc_funcs(NULL, &jfree);
	if (jfree != NULL)
		jfree(text);
}

/* Serialises body (or "{}") for a method that carries one. */
static char *make_body(const json_t *body)
{
	json_t *empty;
	char *text;

	if (body != NULL)
		return json_dumps(body, JSON_COMPACT);
	empty = json_object();
	if (empty == NULL)
		return NULL;
	text = json_dumps(empty, JSON_COMPACT);
	json_decref(empty);
	return text;
}

/* The header list; every entry is wiped before the list is freed. */
static void free_headers(struct curl_slist *list)
{
	struct curl_slist *it;

	for (it = list; it != NULL; it = it->next)
		OPENSSL_cleanse(it->data, strlen(it->data));
	curl_slist_free_all(list);
}

/* Appends "name: value" (or the line name alone when value is NULL). */
static int add_header(struct curl_slist **list, const char *name,
		      const char *value)
{
	char line[HEADER_MAX];
	struct curl_slist *next;
	int n;

	if (value != NULL)
		n = snprintf(line, sizeof(line), "%s: %s", name, value);
	else
		n = snprintf(line, sizeof(line), "%s", name);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	next = curl_slist_append(*list, line);
	OPENSSL_cleanse(line, sizeof(line));
	if (next == NULL)
		return -1;
	*list = next;
	return 0;
}

/* The signed request as it goes out: URL, headers and body. */
struct signed_req {
	char *url;
	char *body; /* from json_dumps(), or NULL for GET */
	struct curl_slist *headers;
};

static void signed_req_cleanup(struct signed_req *r)
{
	free(r->url);
	free_body(r->body);
	free_headers(r->headers);
	r->url = NULL;
	r->body = NULL;
	r->headers = NULL;
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
		r->body = make_body(body);
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
	/* "Expect:" asks for no 100-continue round trip before the body. */
	ok = add_header(&r->headers, "Accept: application/json", NULL) == 0 &&
	     add_header(&r->headers, "Expect:", NULL) == 0 &&
	     add_header(&r->headers, "X-AF-Timestamp", ts) == 0 &&
	     add_header(&r->headers, "X-AF-Nonce", nonce) == 0 &&
	     add_header(&r->headers, "X-AF-Signature", sig) == 0;
	if (ok && with_body)
		ok = add_header(&r->headers, "Content-Type: application/json",
				NULL) == 0;
	if (ok && c->device != NULL)
		ok = add_header(&r->headers, "X-AF-Device", c->device) == 0;
	return ok ? AF_IDSIM_CLIENT_OK : AF_IDSIM_CLIENT_ERR_NOMEM;
}

/* Options every request gets; the easy handle was reset before. */
static CURLcode set_common(af_idsim_client *c, const struct signed_req *r,
			   struct answer *a)
{
	CURLcode rc;

	rc = curl_easy_setopt(c->curl, CURLOPT_URL, r->url);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR,
				      "http,https");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_PATH_AS_IS, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT,
				      AF_IDSIM_CLIENT_TIMEOUT_S);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_TIMEOUT,
				      AF_IDSIM_CLIENT_TIMEOUT_S);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE,
				      (curl_off_t)AF_IDSIM_CLIENT_ANSWER_MAX);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_USERAGENT, USER_AGENT);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, r->headers);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, a);
	return rc;
}

static CURLcode set_method(af_idsim_client *c, const char *method,
			   const char *body)
{
	CURLcode rc;

	if (body == NULL)
		return curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	rc = curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
				      (long)strlen(body));
	/* Not COPYPOSTFIELDS: no copy of the body that we cannot wipe. */
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	if (rc == CURLE_OK && strcmp(method, "POST") != 0)
		rc = curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	return rc;
}

static af_idsim_client_status transfer_failed(af_idsim_client *c, CURLcode rc,
					      const struct answer *a, char *err,
					      size_t errlen)
{
	const char *detail =
		c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc);

	if (a->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		set_err(err, errlen,
			af_idsim_client_strerror(AF_IDSIM_CLIENT_ERR_TOO_BIG),
			"more than 1 MiB");
		return AF_IDSIM_CLIENT_ERR_TOO_BIG;
	}
	if (rc == CURLE_OUT_OF_MEMORY || rc == CURLE_WRITE_ERROR) {
		set_err(err, errlen,
			af_idsim_client_strerror(AF_IDSIM_CLIENT_ERR_NOMEM),
			NULL);
		return AF_IDSIM_CLIENT_ERR_NOMEM;
	}
	set_err(err, errlen,
		af_idsim_client_strerror(AF_IDSIM_CLIENT_ERR_UNREACHABLE),
		detail);
	return AF_IDSIM_CLIENT_ERR_UNREACHABLE;
}

af_idsim_client_status
af_idsim_client_request(af_idsim_client *c, const char *method,
			const char *target, const json_t *body, long *status,
			json_t **answer, char *err, size_t errlen)
{
	struct signed_req r = {NULL, NULL, NULL};
	struct answer a = {NULL, 0, 0, 0};
	af_idsim_client_status st;
	int with_body;
	CURLcode rc;

	set_err(err, errlen, "", NULL);
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
	with_body = strcmp(method, "GET") != 0;
	st = sign_request(c, method, target, body, with_body, &r);
	if (st != AF_IDSIM_CLIENT_OK) {
		set_err(err, errlen, af_idsim_client_strerror(st), NULL);
		goto out;
	}
	curl_easy_reset(c->curl);
	c->errbuf[0] = '\0';
	rc = set_common(c, &r, &a);
	if (rc == CURLE_OK)
		rc = set_method(c, method, r.body);
	if (rc != CURLE_OK) {
		st = AF_IDSIM_CLIENT_ERR_CURL;
		set_err(err, errlen, af_idsim_client_strerror(st),
			curl_easy_strerror(rc));
		goto out;
	}
	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		st = transfer_failed(c, rc, &a, err, errlen);
		goto out;
	}
	rc = curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	if (rc != CURLE_OK) {
		st = AF_IDSIM_CLIENT_ERR_CURL;
		set_err(err, errlen, af_idsim_client_strerror(st),
			curl_easy_strerror(rc));
		goto out;
	}
	if (a.len > 0)
		*answer = json_loadb(a.data, a.len, 0, NULL);
	st = AF_IDSIM_CLIENT_OK;
out:
	/* Drop libcurl's pointers to what is about to be freed. */
	curl_easy_reset(c->curl);
	signed_req_cleanup(&r);
	if (a.data != NULL)
		OPENSSL_clear_free(a.data, a.cap);
	return st;
}
