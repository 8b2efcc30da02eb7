/*
 * JOSE over libcjose: the RS256 key ring kept in the state store, signing
 * and verifying our own JWTs, the public JWKS, RFC 7638 thumbprints and
 * the OIDC half hashes.
 *
 * Every key of the ring in memory comes from parsing the ring JSON as the
 * store holds it, so a node that rotates and a node that reloads end up
 * with the same keys. Changes go through SET NX (first key) or
 * compare-and-swap against the exact bytes read, so concurrent writers
 * never overwrite each other's keys.
 *
 * Thread rules of the dependencies: a cjose_jwk_t (an OpenSSL RSA key
 * inside) may sign and verify from many threads at once, but its reference
 * count is not atomic, so keys are only retained or released under the
 * write lock or after they left the shared ring. jansson values here are
 * never shared between threads.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjose/error.h>
#include <cjose/header.h>
#include <cjose/jwk.h>
#include <cjose/jws.h>
#include <cjose/util.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/jose.h"
#include "common/store.h"
#include "common/util.h"

/* Compare-and-swap attempts before a ring update gives up. */
#define RING_UPDATE_TRIES    5
/*
 * A successor of the signing key is published in /jwks this long before
 * the signing key expires (or half the key lifetime, when that is
 * shorter), so that relying parties that cache /jwks hold it before the
 * first token it signs reaches them.
 */
#define PUBLISH_AHEAD_S	     ((int64_t)JOSE_PUBLISH_AHEAD_DAYS * 86400)
/* Longest base64url n or e we accept: an 8192-bit modulus. */
#define JWK_B64_MAX	     1400
#define SECONDS_PER_DAY	     86400
#define LIFETIME_DAYS_MAX    3650
#define MAX_TOKEN_LIFETIME_S (31 * SECONDS_PER_DAY)
/* The only algorithm we sign with and the only one we accept. */
#define JWT_ALG		     "RS256"
/* The public exponent of every key we make (65537), as base64url. */
#define RSA_E_65537	     "AQAB"
/* Room for one line saying why a stored ring was refused. */
#define WHY_MAX		     256

const char *jose_strerror(jose_status st)
{
	switch (st) {
#define JOSE_XX(name, value, text) \
	case JOSE_##name:          \
		return text;
		JOSE_STATUS_MAP(JOSE_XX)
#undef JOSE_XX
	}
	return "unknown error";
}

/* One key of the ring, as loaded from the ring JSON. */
struct ring_key {
	char kid[JOSE_KID_MAX + 1];
	char *n;	  /* public modulus, base64url */
	char *e;	  /* public exponent, base64url */
	cjose_jwk_t *jwk; /* the private key */
	int64_t created_at;
	int64_t signs_from; /* created_at, or later for a published successor */
	int64_t expires_at;
	int64_t retire_after;
};

/*
 * A ring's identity: made with the ring, kept by every change of it, so
 * that a node can tell a ring changed by others (a rotation, a key
 * retired) from one made anew (by a node that started while the store
 * had lost its data). "" for a ring stored by a version without it.
 */
#define RING_ID_BYTES 16
#define RING_ID_BUF   32

struct ring {
	struct ring_key *keys; /* oldest first */
	size_t count;
	char id[RING_ID_BUF];
	/* When a node last added its own keys to it (ring_merge()), or 0. */
	int64_t merged_at;
};

struct af_keyring {
	store_ctx *st; /* borrowed */
	af_keyring_options opts;
	pthread_rwlock_t lock; /* guards ring and gen */
	struct ring ring;
	uint64_t gen; /* moved on by each ring installed */
	/*
	 * Looking for another node's rotation: when the store was last read
	 * for it (monotonic milliseconds), and the SHA-256 of the stored ring
	 * text the ring in memory came from, so that an unchanged ring is not
	 * parsed again. One thread looks at a time; others go on.
	 */
	pthread_mutex_t look_lock; /* guards the three below */
	int64_t looked_at;
	char seen_sha[65];
	/* The SHA-256 of the last stored ring text refused, told once. */
	char bad_sha[65];
};

/* How soon maybe_refresh() reads the store again. */
enum look_when {
	LOOK_PERIODIC, /* refresh_s after the last look */
	LOOK_SOON,     /* a second after the last look: an unknown kid */
	LOOK_NOW,      /* at once, waiting for a look under way */
};

/* What ring_update() does with the ring it reads from the store. */
enum update_mode {
	UPDATE_CREATE, /* load it; make a first key only when there is none */
	UPDATE_ENSURE, /* load it; add a key only when none is current */
	UPDATE_AHEAD,  /* load it; publish the signing key's successor when
			* the signing key nears its expiry and none waits */
	UPDATE_ROTATE, /* always add a key that signs from now on */
	UPDATE_MERGE,  /* load it; when it was made anew (another ring id),
			* add this node's live keys it lacks */
};

static const char *const jwk_private_members[] = {"d",	"p",  "q",
						  "dp", "dq", "qi"};

static jose_status cjose_status(const cjose_err *cerr)
{
	return cerr->code == CJOSE_ERR_NO_MEMORY ? JOSE_ERR_NOMEM
						 : JOSE_ERR_CRYPTO;
}

/* Frees text that jansson allocated, wiping it first when it is secret. */
static void json_text_free(char *text, bool secret)
{
	json_malloc_t malloc_fn = NULL;
	json_free_t free_fn = NULL;

	if (text == NULL)
		return;
	if (secret)
		OPENSSL_cleanse(text, strlen(text));
	json_get_alloc_funcs(&malloc_fn, &free_fn);
	free_fn(text);
}

/* Wipes and frees text that cjose allocated (a private JWK as JSON). */
static void cjose_text_free(char *text)
{
	if (text == NULL)
		return;
	OPENSSL_cleanse(text, strlen(text));
	cjose_get_dealloc()(text);
}

/*
 * Wipes the private members of a JWK object in place, just before the
 * last reference to it goes: jansson frees strings without wiping them.
 * The value is about to be freed and nobody else holds it, so writing
 * through the const pointer jansson lends is safe; memcpy drops the
 * qualifier without a cast the compiler would flag.
 */
static void jwk_json_wipe(json_t *jwk)
{
	size_t i;

	for (i = 0;
	     i < sizeof(jwk_private_members) / sizeof(jwk_private_members[0]);
	     i++) {
		json_t *v = json_object_get(jwk, jwk_private_members[i]);
		const char *text = json_string_value(v);
		char *writable = NULL;

		if (text == NULL)
			continue;
		memcpy(&writable, &text, sizeof(writable));
		OPENSSL_cleanse(writable, json_string_length(v));
	}
}

/* Wipes the private key of a ring entry we alone hold and frees it. */
static void entry_free(json_t *entry)
{
	if (entry == NULL)
		return;
	jwk_json_wipe(json_object_get(entry, "jwk"));
	json_decref(entry);
}

/* Wipes every private key of a ring JSON document and frees it. */
static void ring_json_free(json_t *ringj)
{
	json_t *keys = json_object_get(ringj, "keys");
	size_t i;

	if (ringj == NULL)
		return;
	for (i = 0; i < json_array_size(keys); i++)
		jwk_json_wipe(json_object_get(json_array_get(keys, i), "jwk"));
	json_decref(ringj);
}

/*
 * RFC 7638 section 3: the required members of an RSA key in lexicographic
 * order, no whitespace. n and e are checked to be base64url first, so
 * nothing in them needs JSON escaping.
 */
static jose_status thumbprint_of(const char *n, const char *e, char *kid_out)
{
	static const char fmt[] = "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}";
	size_t nlen, elen, cap;
	uint8_t digest[32];
	char *canon;
	int w;

	nlen = strnlen(n, JWK_B64_MAX + 1);
	elen = strnlen(e, JWK_B64_MAX + 1);
	if (nlen > JWK_B64_MAX || elen > JWK_B64_MAX ||
	    !af_b64url_text_ok(n, nlen) || !af_b64url_text_ok(e, elen))
		return JOSE_ERR_ARG;
	cap = nlen + elen + sizeof(fmt);
	canon = malloc(cap);
	if (canon == NULL)
		return JOSE_ERR_NOMEM;
	w = snprintf(canon, cap, fmt, e, n);
	if (w < 0 || (size_t)w >= cap) {
		free(canon);
		return JOSE_ERR_ARG;
	}
	af_sha256(canon, (size_t)w, digest);
	free(canon);
	if (af_b64url_encode(digest, sizeof(digest), kid_out,
			     JOSE_KID_MAX + 1) != 0)
		return JOSE_ERR_ARG;
	return JOSE_OK;
}

jose_status af_jwk_thumbprint(const json_t *jwk, char *kid_out)
{
	const char *kty, *n, *e;

	if (jwk == NULL || kid_out == NULL)
		return JOSE_ERR_ARG;
	kty = json_string_value(json_object_get(jwk, "kty"));
	n = json_string_value(json_object_get(jwk, "n"));
	e = json_string_value(json_object_get(jwk, "e"));
	if (kty == NULL || strcmp(kty, "RSA") != 0 || n == NULL || e == NULL)
		return JOSE_ERR_ARG;
	return thumbprint_of(n, e, kid_out);
}

/* The RSA parameters of a fresh key as big-endian bytes, for cjose. */
enum { RSA_N, RSA_E, RSA_D, RSA_P, RSA_Q, RSA_DP, RSA_DQ, RSA_QI, RSA_PARTS };

struct rsa_parts {
	uint8_t *b[RSA_PARTS];
	size_t len[RSA_PARTS];
};

static const char *const rsa_param_names[RSA_PARTS] = {
	OSSL_PKEY_PARAM_RSA_N,	       OSSL_PKEY_PARAM_RSA_E,
	OSSL_PKEY_PARAM_RSA_D,	       OSSL_PKEY_PARAM_RSA_FACTOR1,
	OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
	OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
};

static void rsa_parts_clear(struct rsa_parts *rp)
{
	size_t i;

	for (i = 0; i < RSA_PARTS; i++) {
		OPENSSL_clear_free(rp->b[i], rp->len[i]);
		rp->b[i] = NULL;
		rp->len[i] = 0;
	}
}

static jose_status rsa_parts_read(const EVP_PKEY *pkey, struct rsa_parts *rp)
{
	size_t i;

	for (i = 0; i < RSA_PARTS; i++) {
		BIGNUM *bn = NULL;
		int n;

		if (EVP_PKEY_get_bn_param(pkey, rsa_param_names[i], &bn) != 1)
			return JOSE_ERR_CRYPTO;
		n = BN_num_bytes(bn);
		if (n <= 0) {
			BN_clear_free(bn);
			return JOSE_ERR_CRYPTO;
		}
		rp->b[i] = OPENSSL_malloc((size_t)n);
		if (rp->b[i] == NULL) {
			BN_clear_free(bn);
			return JOSE_ERR_NOMEM;
		}
		rp->len[i] = (size_t)n;
		if (BN_bn2bin(bn, rp->b[i]) != n) {
			BN_clear_free(bn);
			return JOSE_ERR_CRYPTO;
		}
		BN_clear_free(bn);
	}
	return JOSE_OK;
}

/* The kid of a key from its public parts as raw bytes. */
static jose_status thumbprint_of_parts(const struct rsa_parts *rp,
				       char *kid_out)
{
	size_t ncap = af_b64url_len(rp->len[RSA_N]) + 1;
	size_t ecap = af_b64url_len(rp->len[RSA_E]) + 1;
	char *n = malloc(ncap), *e = malloc(ecap);
	jose_status st = JOSE_ERR_NOMEM;

	if (n == NULL || e == NULL)
		goto out;
	st = JOSE_ERR_CRYPTO;
	if (af_b64url_encode(rp->b[RSA_N], rp->len[RSA_N], n, ncap) != 0 ||
	    af_b64url_encode(rp->b[RSA_E], rp->len[RSA_E], e, ecap) != 0)
		goto out;
	st = thumbprint_of(n, e, kid_out);
out:
	free(n);
	free(e);
	return st;
}

/*
 * Makes a new RSA key with OpenSSL (cjose 0.6 would use the deprecated RSA
 * API) and hands its parameters to cjose. kid_out gets its thumbprint.
 */
static jose_status key_generate(unsigned bits, cjose_jwk_t **out, char *kid_out)
{
	struct rsa_parts rp = {0};
	cjose_jwk_rsa_keyspec spec;
	cjose_jwk_t *jwk = NULL;
	EVP_PKEY *pkey;
	cjose_err cerr = {0};
	jose_status st;

	*out = NULL;
	pkey = EVP_RSA_gen(bits);
	if (pkey == NULL)
		return JOSE_ERR_CRYPTO;
	st = rsa_parts_read(pkey, &rp);
	if (st != JOSE_OK)
		goto out;
	st = thumbprint_of_parts(&rp, kid_out);
	if (st != JOSE_OK)
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.n = rp.b[RSA_N];
	spec.nlen = rp.len[RSA_N];
	spec.e = rp.b[RSA_E];
	spec.elen = rp.len[RSA_E];
	spec.d = rp.b[RSA_D];
	spec.dlen = rp.len[RSA_D];
	spec.p = rp.b[RSA_P];
	spec.plen = rp.len[RSA_P];
	spec.q = rp.b[RSA_Q];
	spec.qlen = rp.len[RSA_Q];
	spec.dp = rp.b[RSA_DP];
	spec.dplen = rp.len[RSA_DP];
	spec.dq = rp.b[RSA_DQ];
	spec.dqlen = rp.len[RSA_DQ];
	spec.qi = rp.b[RSA_QI];
	spec.qilen = rp.len[RSA_QI];
	jwk = cjose_jwk_create_RSA_spec(&spec, &cerr);
	OPENSSL_cleanse(&spec, sizeof(spec));
	if (jwk == NULL) {
		st = cjose_status(&cerr);
		goto out;
	}
	if (!cjose_jwk_set_kid(jwk, kid_out, strlen(kid_out), &cerr)) {
		st = cjose_status(&cerr);
		goto out;
	}
	*out = jwk;
	jwk = NULL;
	st = JOSE_OK;
out:
	if (jwk != NULL)
		cjose_jwk_release(jwk);
	EVP_PKEY_free(pkey);
	rsa_parts_clear(&rp);
	return st;
}

static void ring_key_clear(struct ring_key *k)
{
	if (k->jwk != NULL)
		cjose_jwk_release(k->jwk);
	free(k->n);
	free(k->e);
	memset(k, 0, sizeof(*k));
}

static void ring_clear(struct ring *r)
{
	size_t i;

	for (i = 0; i < r->count; i++)
		ring_key_clear(&r->keys[i]);
	free(r->keys);
	r->keys = NULL;
	r->count = 0;
	r->id[0] = '\0';
}

static bool entry_time(const json_t *entry, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(entry, name);

	if (!json_is_integer(v))
		return false;
	*out = (int64_t)json_integer_value(v);
	return true;
}

/* Writes one line into why (whylen > 0). */
static void why_set(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* The size in bits of the modulus n (base64url), or 0 when it is none. */
static unsigned modulus_bits(const char *n)
{
	uint8_t buf[JWK_B64_MAX];
	size_t len = 0, i = 0;
	unsigned top, bits = 0;

	if (af_b64url_decode(n, strnlen(n, JWK_B64_MAX + 1), buf, sizeof(buf),
			     &len) != 0)
		return 0;
	while (i < len && buf[i] == 0)
		i++;
	if (i == len)
		return 0;
	for (top = buf[i]; top != 0; top >>= 1)
		bits++;
	return (unsigned)((len - i - 1) * 8) + bits;
}

/*
 * Signs a fixed text with the key and checks the signature with the key's
 * public part, as a relying party would. A private key damaged in the
 * store, or one that belongs to another modulus, is caught here, before
 * it signs tokens that nobody can verify. (OpenSSL falls back from a bad
 * CRT part to d on its own; what matters is that the signature verifies.)
 */
static jose_status key_self_test(const cjose_jwk_t *jwk)
{
	static const char text[] = "authflow signing key check";
	cjose_header_t *hdr;
	cjose_jws_t *jws = NULL, *back = NULL;
	const char *compact = NULL;
	cjose_err cerr = {0};
	jose_status st = JOSE_ERR_CORRUPT;

	hdr = cjose_header_new(&cerr);
	if (hdr == NULL)
		return JOSE_ERR_NOMEM;
	if (!cjose_header_set(hdr, CJOSE_HDR_ALG, JWT_ALG, &cerr))
		goto fail;
	jws = cjose_jws_sign(jwk, hdr, (const uint8_t *)text, sizeof(text) - 1,
			     &cerr);
	if (jws == NULL || !cjose_jws_export(jws, &compact, &cerr))
		goto fail;
	back = cjose_jws_import(compact, strlen(compact), &cerr);
	if (back == NULL || !cjose_jws_verify(back, jwk, &cerr))
		goto fail;
	st = JOSE_OK;
	goto out;
fail:
	if (cerr.code == CJOSE_ERR_NO_MEMORY)
		st = JOSE_ERR_NOMEM;
out:
	if (back != NULL)
		cjose_jws_release(back);
	if (jws != NULL)
		cjose_jws_release(jws);
	cjose_header_release(hdr);
	return st;
}

/*
 * Loads one ring entry, checking it as a key this server would have made.
 * The kid must be the thumbprint of the key: that catches a ring edited by
 * hand or damaged in the store before we would sign with one key under
 * another's name. The size and exponent are those of the keys we make, so
 * a weak key slipped into the store is not used. why gets the reason for
 * JOSE_ERR_CORRUPT.
 */
static jose_status ring_key_load(json_t *entry, struct ring_key *k, char *why,
				 size_t whylen)
{
	json_t *jwk = json_object_get(entry, "jwk");
	const json_t *kidj = json_object_get(entry, "kid");
	char thumb[JOSE_KID_MAX + 1];
	cjose_err cerr = {0};
	const char *e;
	unsigned bits;
	jose_status st = JOSE_ERR_CORRUPT;

	memset(k, 0, sizeof(*k));
	if (!json_is_object(jwk) || !json_is_string(kidj) ||
	    !entry_time(entry, "created_at", &k->created_at) ||
	    !entry_time(entry, "expires_at", &k->expires_at) ||
	    !entry_time(entry, "retire_after", &k->retire_after)) {
		why_set(why, whylen,
			"not a key entry (jwk, kid, created_at, expires_at, "
			"retire_after)");
		return JOSE_ERR_CORRUPT;
	}
	/* Rings written before successors were published have none. */
	k->signs_from = k->created_at;
	if (json_object_get(entry, "signs_from") != NULL &&
	    (!entry_time(entry, "signs_from", &k->signs_from) ||
	     k->signs_from < k->created_at)) {
		why_set(why, whylen,
			"signs_from is not a time at or after created_at");
		return JOSE_ERR_CORRUPT;
	}
	if (af_jwk_thumbprint(jwk, thumb) != JOSE_OK) {
		why_set(why, whylen, "not an RSA key");
		return JOSE_ERR_CORRUPT;
	}
	if (strcmp(thumb, json_string_value(kidj)) != 0 ||
	    json_string_length(kidj) != strlen(thumb)) {
		why_set(why, whylen,
			"its kid is not the RFC 7638 thumbprint of its key (%s)",
			thumb);
		return JOSE_ERR_CORRUPT;
	}
	bits = modulus_bits(json_string_value(json_object_get(jwk, "n")));
	if (bits != 2048 && bits != 3072 && bits != 4096) {
		why_set(why, whylen,
			"kid %s: an RSA key of %u bits, not 2048, 3072 or 4096",
			thumb, bits);
		return JOSE_ERR_CORRUPT;
	}
	e = json_string_value(json_object_get(jwk, "e"));
	if (strcmp(e, RSA_E_65537) != 0) {
		why_set(why, whylen,
			"kid %s: a public exponent other than 65537", thumb);
		return JOSE_ERR_CORRUPT;
	}
	/* A ring key must be able to sign: refuse a public-only JWK. */
	if (!json_is_string(json_object_get(jwk, "d"))) {
		why_set(why, whylen, "kid %s: no private key", thumb);
		return JOSE_ERR_CORRUPT;
	}
	memcpy(k->kid, thumb, strlen(thumb) + 1);
	k->n = strdup(json_string_value(json_object_get(jwk, "n")));
	k->e = strdup(e);
	if (k->n == NULL || k->e == NULL) {
		st = JOSE_ERR_NOMEM;
		goto fail;
	}
	k->jwk = cjose_jwk_import_json(jwk, &cerr);
	if (k->jwk == NULL) {
		st = cerr.code == CJOSE_ERR_NO_MEMORY ? JOSE_ERR_NOMEM
						      : JOSE_ERR_CORRUPT;
		why_set(why, whylen, "kid %s: the private key does not load",
			thumb);
		goto fail;
	}
	if (cjose_jwk_get_kty(k->jwk, &cerr) != CJOSE_JWK_KTY_RSA) {
		why_set(why, whylen, "kid %s: not an RSA key", thumb);
		goto fail;
	}
	st = key_self_test(k->jwk);
	if (st == JOSE_ERR_CORRUPT)
		why_set(why, whylen,
			"kid %s: the private key does not match the public key",
			thumb);
	if (st != JOSE_OK)
		goto fail;
	return JOSE_OK;
fail:
	ring_key_clear(k);
	return st;
}

static const struct ring_key *ring_find(const struct ring *r, const char *kid)
{
	size_t i;

	for (i = 0; i < r->count; i++)
		if (strcmp(r->keys[i].kid, kid) == 0)
			return &r->keys[i];
	return NULL;
}

/* The ring document's id, or NULL when it has none that is one. */
static const char *ring_json_id(const json_t *ringj)
{
	const char *id = json_string_value(json_object_get(ringj, "ring_id"));

	return id != NULL && strlen(id) < RING_ID_BUF &&
			       af_b64url_text_ok(id, strlen(id))
		       ? id
		       : NULL;
}

/*
 * Checks and loads a whole ring document into out (empty on failure); why
 * gets the reason for JOSE_ERR_CORRUPT, naming the key it concerns.
 */
static jose_status ring_from_json(json_t *ringj, struct ring *out, char *why,
				  size_t whylen)
{
	json_t *keys = json_object_get(ringj, "keys");
	char key_why[WHY_MAX];
	const char *id;
	size_t i, n;
	jose_status st;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(ringj) || !json_is_array(keys)) {
		why_set(why, whylen, "not a JSON object with a \"keys\" array");
		return JOSE_ERR_CORRUPT;
	}
	/* An id that is not one is no reason to refuse the keys. */
	id = ring_json_id(ringj);
	if (id != NULL)
		memcpy(out->id, id, strlen(id) + 1);
	/* Nor a merge time that is not one: it only delays a retirement. */
	if (!entry_time(ringj, "merged_at", &out->merged_at))
		out->merged_at = 0;
	n = json_array_size(keys);
	if (n > JOSE_RING_KEYS_MAX) {
		why_set(why, whylen, "%zu keys, more than the %d a ring holds",
			n, JOSE_RING_KEYS_MAX);
		return JOSE_ERR_CORRUPT;
	}
	out->keys = calloc(n > 0 ? n : 1, sizeof(*out->keys));
	if (out->keys == NULL)
		return JOSE_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		key_why[0] = '\0';
		st = ring_key_load(json_array_get(keys, i), &out->keys[i],
				   key_why, sizeof(key_why));
		if (st == JOSE_OK && ring_find(out, out->keys[i].kid) != NULL) {
			snprintf(key_why, sizeof(key_why), "kid %s twice",
				 out->keys[i].kid);
			st = JOSE_ERR_CORRUPT;
		}
		if (st != JOSE_OK) {
			if (st == JOSE_ERR_CORRUPT)
				why_set(why, whylen, "key %zu of %zu: %s",
					i + 1, n, key_why);
			ring_key_clear(&out->keys[i]);
			ring_clear(out);
			return st;
		}
		out->count = i + 1;
	}
	return JOSE_OK;
}

/*
 * How far apart the clocks of the nodes sharing a ring may be: a key
 * planned to sign within this of now may be signing on a node whose clock
 * runs ahead. (A key made to sign at once signs everywhere when seen.)
 */
#define RING_SKEW_S 120

/*
 * The signing key: of the keys whose signs_from has come and whose
 * expires_at is still ahead, the one that began to sign last (the latest
 * created, then the later in the ring, on a tie). NULL when none is. A
 * key made to sign at once (a rotation now, or the first key: signs_from
 * is created_at) has signed where it was made, so it signs here as soon
 * as it is seen, however far this node's clock runs behind the one that
 * made it, or was set back since: else this node would go on signing
 * with the key it replaced, which may be retired meanwhile, or find none
 * and make one.
 */
static const struct ring_key *ring_signing(const struct ring *r, int64_t now)
{
	const struct ring_key *best = NULL;
	size_t i;

	for (i = 0; i < r->count; i++) {
		const struct ring_key *k = &r->keys[i];

		if ((k->signs_from != k->created_at && k->signs_from > now) ||
		    k->expires_at <= now)
			continue;
		if (best == NULL || k->signs_from > best->signs_from ||
		    (k->signs_from == best->signs_from &&
		     k->created_at >= best->created_at))
			best = k;
	}
	return best;
}

/*
 * When signing runs out: the end of the signing key's lifetime, carried
 * on by each published key that starts signing by then and lasts longer.
 * Without a signing key, the latest expiry of the ring (INT64_MIN when it
 * is empty).
 */
static int64_t ring_signs_until(const struct ring *r, int64_t now)
{
	const struct ring_key *k = ring_signing(r, now);
	int64_t end = INT64_MIN;
	bool longer = true;
	size_t i;

	if (k == NULL) {
		for (i = 0; i < r->count; i++)
			if (r->keys[i].expires_at > end)
				end = r->keys[i].expires_at;
		return end;
	}
	end = k->expires_at;
	while (longer) {
		longer = false;
		for (i = 0; i < r->count; i++) {
			if (r->keys[i].signs_from <= end &&
			    r->keys[i].expires_at > end) {
				end = r->keys[i].expires_at;
				longer = true;
			}
		}
	}
	return end;
}

/*
 * The signing key when its successor is due to be published: it expires
 * within the publication lead and no key goes on signing after it. NULL
 * otherwise, and when no key signs (see UPDATE_ENSURE).
 */
static const struct ring_key *ring_successor_due(const struct ring *r,
						 int64_t now,
						 const af_keyring_options *o)
{
	const struct ring_key *k = ring_signing(r, now);
	int64_t lead = (int64_t)o->lifetime_days * SECONDS_PER_DAY / 2;
	size_t i, kept = 0;

	if (lead > PUBLISH_AHEAD_S)
		lead = PUBLISH_AHEAD_S;
	if (k == NULL || k->expires_at - now > lead ||
	    ring_signs_until(r, now) > k->expires_at)
		return NULL;
	/* A full ring waits for old keys to leave, rather than making a
	 * key every second that it cannot store. */
	for (i = 0; i < r->count; i++)
		kept += r->keys[i].retire_after > now;
	return kept < JOSE_RING_KEYS_MAX ? k : NULL;
}

/* The published key that signs next, if one waits. */
static const struct ring_key *ring_next(const struct ring *r, int64_t now)
{
	const struct ring_key *next = NULL;
	size_t i;

	for (i = 0; i < r->count; i++)
		if (r->keys[i].signs_from > now &&
		    r->keys[i].signs_from != r->keys[i].created_at &&
		    r->keys[i].expires_at > r->keys[i].signs_from &&
		    (next == NULL || r->keys[i].signs_from < next->signs_from))
			next = &r->keys[i];
	return next;
}

/*
 * Days from now until t, counted as the alert period is: a key with 60
 * days and an hour left is not yet within 60 days, so days ahead round
 * up; days past round away from zero (at least -1 once t has passed).
 */
static long days_until(int64_t t, int64_t now)
{
	int64_t diff = t - now;

	if (diff >= 0)
		return (long)((diff + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY);
	return -(long)((-diff + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY);
}

/* Days until signing runs out (ring_signs_until()); -1 for no key. */
static long ring_days_left(const struct ring *r, int64_t now)
{
	if (r->count == 0)
		return -1;
	return days_until(ring_signs_until(r, now), now);
}

/* Any generation: ring_install_at() installs whatever came meanwhile. */
#define GEN_ANY UINT64_MAX

/* The generation of the ring in memory (ring_install_at()). */
static uint64_t ring_gen(af_keyring *kr)
{
	uint64_t gen = GEN_ANY;

	if (pthread_rwlock_rdlock(&kr->lock) == 0) {
		gen = kr->gen;
		pthread_rwlock_unlock(&kr->lock);
	}
	return gen;
}

/*
 * Swaps a loaded ring in; takes what fresh held, leaving it empty. With
 * expect not GEN_ANY, only while the ring in memory is still of that
 * generation (*installed tells): a ring read before another thread put a
 * newer one in must not take its place.
 */
static jose_status ring_install_at(af_keyring *kr, struct ring *fresh,
				   uint64_t expect, bool *installed)
{
	struct ring old;

	*installed = false;
	if (pthread_rwlock_wrlock(&kr->lock) != 0) {
		ring_clear(fresh);
		return JOSE_ERR_NOMEM;
	}
	if (expect != GEN_ANY && kr->gen != expect) {
		pthread_rwlock_unlock(&kr->lock);
		ring_clear(fresh);
		return JOSE_OK;
	}
	old = kr->ring;
	kr->ring = *fresh;
	kr->gen++;
	pthread_rwlock_unlock(&kr->lock);
	memset(fresh, 0, sizeof(*fresh));
	ring_clear(&old);
	*installed = true;
	return JOSE_OK;
}

/*
 * Reads the ring from the store. *found tells a missing ring from a
 * present one; raw keeps the exact bytes for compare-and-swap. why gets
 * the reason for JOSE_ERR_CORRUPT.
 */
static jose_status ring_read(af_keyring *kr, store_value *raw, json_t **ringj,
			     bool *found, char *why, size_t whylen)
{
	store_status ss;

	*ringj = NULL;
	*found = false;
	ss = store_get(kr->st, JOSE_RING_STORE_KEY, raw);
	if (ss == STORE_NOT_FOUND)
		return JOSE_OK;
	if (ss == STORE_ERR_NOMEM)
		return JOSE_ERR_NOMEM;
	if (ss != STORE_OK)
		return JOSE_ERR_STORE;
	*found = true;
	/* No error text: jansson's would quote bits of the private keys. */
	*ringj = json_loadb((const char *)raw->data, raw->len,
			    JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(*ringj)) {
		json_decref(*ringj);
		*ringj = NULL;
		why_set(why, whylen, "not a JSON object");
		return JOSE_ERR_CORRUPT;
	}
	return JOSE_OK;
}

/* Frees the ring's stored text, wiped first: it holds the private keys. */
static void raw_free(store_value *raw)
{
	if (raw->data != NULL) {
		OPENSSL_cleanse(raw->data, raw->len);
		store_value_free(raw);
	}
	raw->data = NULL;
	raw->len = 0;
}

static int set_time(json_t *entry, const char *name, int64_t t)
{
	return json_object_set_new(entry, name, json_integer((json_int_t)t));
}

/* A ring entry for jwk (private members included) with its times. */
static json_t *entry_of(const cjose_jwk_t *jwk, const char *kid,
			int64_t created, int64_t signs_from, int64_t expires,
			int64_t retire)
{
	cjose_err cerr = {0};
	json_t *entry, *jwkj;
	char *text;

	text = cjose_jwk_to_json(jwk, true, &cerr);
	if (text == NULL)
		return NULL;
	jwkj = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	cjose_text_free(text);
	if (jwkj == NULL)
		return NULL;
	entry = json_object();
	/* json_object_set() rather than _new: on failure we still hold jwkj
	 * and can wipe it. */
	if (entry == NULL || json_object_set(entry, "jwk", jwkj) != 0) {
		jwk_json_wipe(jwkj);
		json_decref(jwkj);
		json_decref(entry);
		return NULL;
	}
	json_decref(jwkj);
	if (json_object_set_new(entry, "kid", json_string(kid)) != 0 ||
	    set_time(entry, "created_at", created) != 0 ||
	    set_time(entry, "signs_from", signs_from) != 0 ||
	    set_time(entry, "expires_at", expires) != 0 ||
	    set_time(entry, "retire_after", retire) != 0) {
		entry_free(entry);
		return NULL;
	}
	return entry;
}

/* A ring entry for a new key made now that signs from signs_from on. */
static json_t *entry_new(const cjose_jwk_t *jwk, const char *kid, int64_t now,
			 int64_t signs_from, const af_keyring_options *o)
{
	int64_t expires =
		signs_from + (int64_t)o->lifetime_days * SECONDS_PER_DAY;

	return entry_of(jwk, kid, now, signs_from, expires,
			expires + (int64_t)o->max_token_lifetime_s);
}

/*
 * The time a change of the ring document is made at: now, or, when a key
 * of the ring was made later than that (by a node whose clock runs
 * ahead, or by this one before its clock was set back), that key's time.
 * A key is then never made before the keys it follows, so it signs after
 * them on every node, and a clock behind does not take a key another
 * node made to sign for one planned that never signed.
 */
static int64_t ring_json_time(const json_t *ringj, int64_t now)
{
	const json_t *e;
	int64_t created;
	size_t i;

	json_array_foreach(json_object_get(ringj, "keys"), i, e)
	{
		if (entry_time(e, "created_at", &created) && created > now)
			now = created;
	}
	return now;
}

/*
 * Adds a new key to a ring document in place, signing from signs_from on.
 * In a rotation, every key still signing stops when the new one starts
 * (now, or at a later signs_from: a rotation planned ahead) and may leave
 * /jwks once the tokens it signed have expired, and a published successor
 * that cannot have signed anywhere (due later than RING_SKEW_S from now)
 * goes at once; otherwise (a successor published ahead of the signing
 * key's expiry) the keys stay as they are. Either way keys past
 * retire_after go.
 */
static jose_status ring_json_add(json_t *ringj, const cjose_jwk_t *fresh,
				 const char *kid, int64_t now,
				 int64_t signs_from, bool rotate,
				 const af_keyring_options *o)
{
	json_t *keys = json_object_get(ringj, "keys");
	int64_t stop = signs_from > now ? signs_from : now;
	int64_t retire = stop + (int64_t)o->max_token_lifetime_s;
	json_t *entry;
	size_t i;

	if (!json_is_array(keys))
		return JOSE_ERR_STORE;
	for (i = json_array_size(keys); i-- > 0;) {
		json_t *e = json_array_get(keys, i);
		int64_t created_at = 0, from = 0, expires_at = 0;
		int64_t retire_after = 0;

		if (!entry_time(e, "created_at", &created_at) ||
		    !entry_time(e, "expires_at", &expires_at) ||
		    !entry_time(e, "retire_after", &retire_after))
			return JOSE_ERR_STORE;
		if (!entry_time(e, "signs_from", &from))
			from = created_at;
		if (rotate && from > now + RING_SKEW_S) {
			retire_after = now; /* published, never signed */
		} else if (rotate && expires_at > stop) {
			if (set_time(e, "expires_at", stop) != 0 ||
			    set_time(e, "retire_after", retire) != 0)
				return JOSE_ERR_NOMEM;
			retire_after = retire;
		}
		if (retire_after <= now) {
			jwk_json_wipe(json_object_get(e, "jwk"));
			if (json_array_remove(keys, i) != 0)
				return JOSE_ERR_NOMEM;
		}
	}
	if (json_array_size(keys) >= JOSE_RING_KEYS_MAX)
		return JOSE_ERR_ARG;
	entry = entry_new(fresh, kid, now, signs_from, o);
	if (entry == NULL)
		return JOSE_ERR_NOMEM;
	if (json_array_append(keys, entry) != 0) {
		entry_free(entry);
		return JOSE_ERR_NOMEM;
	}
	json_decref(entry);
	return JOSE_OK;
}

/* Notes the stored ring text the ring in memory came from. */
static void ring_seen(af_keyring *kr, const void *text, size_t len)
{
	char sha[65];

	af_sha256_hex(text, len, sha);
	if (pthread_mutex_lock(&kr->look_lock) != 0)
		return;
	memcpy(kr->seen_sha, sha, sizeof(sha));
	pthread_mutex_unlock(&kr->look_lock);
}

/*
 * Writes a changed ring: CAS against what was read, or NX when new. The
 * text written goes to *dump (freed by the caller with json_text_free()).
 */
static store_status ring_write(af_keyring *kr, const store_value *raw,
			       bool found, const json_t *ringj, char **dump)
{
	size_t len;

	*dump = json_dumps(ringj, JSON_COMPACT);
	if (*dump == NULL)
		return STORE_ERR_NOMEM;
	len = strlen(*dump);
	if (found)
		return store_cas(kr->st, JOSE_RING_STORE_KEY, raw->data,
				 raw->len, *dump, len, 0);
	return store_set(kr->st, JOSE_RING_STORE_KEY, *dump, len, 0,
			 STORE_SET_NX);
}

static void notice(const af_keyring *kr, int warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Tells the ring's owner one line (see af_keyring_options.notice). */
static void notice(const af_keyring *kr, int warning, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (kr->opts.notice == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kr->opts.notice(kr->opts.notice_arg, warning, msg);
}

/*
 * The ring in memory as the store keeps it, private keys included (new
 * reference; free with ring_json_free()), or NULL out of memory; *signs
 * whether one of its keys signs at now.
 */
static json_t *ring_to_json(af_keyring *kr, int64_t now, bool *signs)
{
	json_t *ringj = json_pack("{s:[]}", "keys");
	json_t *keys = json_object_get(ringj, "keys");
	bool ok = ringj != NULL;
	size_t i;

	*signs = false;
	if (!ok || pthread_rwlock_rdlock(&kr->lock) != 0) {
		json_decref(ringj);
		return NULL;
	}
	/* Under the lock: another thread may install a ring meanwhile. */
	*signs = ring_signing(&kr->ring, now) != NULL;
	for (i = 0; ok && i < kr->ring.count; i++) {
		const struct ring_key *k = &kr->ring.keys[i];
		json_t *entry =
			entry_of(k->jwk, k->kid, k->created_at, k->signs_from,
				 k->expires_at, k->retire_after);

		ok = entry != NULL && json_array_append(keys, entry) == 0;
		/* Appended, the entry is the ring's: keep its key unwiped. */
		if (ok)
			json_decref(entry);
		else
			entry_free(entry);
	}
	if (ok && kr->ring.id[0] != '\0')
		ok = json_object_set_new(ringj, "ring_id",
					 json_string(kr->ring.id)) == 0;
	pthread_rwlock_unlock(&kr->lock);
	if (!ok) {
		ring_json_free(ringj);
		return NULL;
	}
	return ringj;
}

/* Gives ringj a ring id when it has none (a new ring, an older one). */
static jose_status ring_json_give_id(json_t *ringj)
{
	char fresh[RING_ID_BUF];

	if (ring_json_id(ringj) != NULL)
		return JOSE_OK;
	if (af_random_token(RING_ID_BYTES, fresh, sizeof(fresh)) != 0)
		return JOSE_ERR_CRYPTO;
	return json_object_set_new(ringj, "ring_id", json_string(fresh)) == 0
		       ? JOSE_OK
		       : JOSE_ERR_NOMEM;
}

/*
 * Whether other, a ring read from the store, was made anew while this
 * node held another (both have ids, and they differ), and lacks keys of
 * this node that tokens may still be verified with.
 */
static bool ring_made_anew(af_keyring *kr, const struct ring *other,
			   int64_t now)
{
	bool anew = false;
	size_t i;

	if (other->id[0] == '\0' || pthread_rwlock_rdlock(&kr->lock) != 0)
		return false;
	if (kr->ring.id[0] != '\0' && strcmp(kr->ring.id, other->id) != 0) {
		for (i = 0; i < kr->ring.count && !anew; i++)
			anew = kr->ring.keys[i].retire_after > now &&
			       ring_find(other, kr->ring.keys[i].kid) == NULL;
	}
	pthread_rwlock_unlock(&kr->lock);
	return anew;
}

/*
 * Adds to ringj (whose keys are other's) this node's keys that other
 * lacks and that tokens may still be verified with, newest first, while
 * the ring has room: how many, or -1 out of memory.
 */
static long ring_json_add_own(af_keyring *kr, json_t *ringj,
			      const struct ring *other, int64_t now)
{
	json_t *keys = json_object_get(ringj, "keys"), *entry;
	long added = 0;
	size_t i;

	if (pthread_rwlock_rdlock(&kr->lock) != 0)
		return -1;
	for (i = kr->ring.count; i > 0; i--) {
		const struct ring_key *k = &kr->ring.keys[i - 1];

		if (json_array_size(keys) >= JOSE_RING_KEYS_MAX)
			break;
		if (k->retire_after <= now || ring_find(other, k->kid) != NULL)
			continue;
		entry = entry_of(k->jwk, k->kid, k->created_at, k->signs_from,
				 k->expires_at, k->retire_after);
		if (entry == NULL || json_array_append(keys, entry) != 0) {
			entry_free(entry);
			added = -1;
			break;
		}
		/* Appended, the entry is the ring's: keep its key unwiped. */
		json_decref(entry);
		added++;
	}
	pthread_rwlock_unlock(&kr->lock);
	return added;
}

/*
 * Writes the changed ring document ringj (compare-and-swap against raw,
 * or as a new key when !found) and takes it in, unless a ring newer than
 * generation gen (read before raw was) came in meanwhile: that one holds
 * this write or one after it. JOSE_OK with *done false when another
 * writer got there first: the caller reads again.
 */
static jose_status ring_commit(af_keyring *kr, const store_value *raw,
			       bool found, json_t *ringj, uint64_t gen,
			       bool *done, char *why, size_t whylen)
{
	struct ring loaded = {0};
	char *dump = NULL;
	store_status ss = ring_write(kr, raw, found, ringj, &dump);
	bool installed = false;
	jose_status st;

	*done = false;
	if (ss == STORE_CONFLICT || ss == STORE_EXISTS ||
	    ss == STORE_NOT_FOUND) {
		st = JOSE_OK;
		goto out;
	}
	if (ss != STORE_OK) {
		st = ss == STORE_ERR_NOMEM ? JOSE_ERR_NOMEM : JOSE_ERR_STORE;
		goto out;
	}
	st = ring_from_json(ringj, &loaded, why, whylen);
	if (st == JOSE_OK)
		st = ring_install_at(kr, &loaded, gen, &installed);
	/* What was seen goes with what is in memory, never ahead of it. */
	if (st == JOSE_OK && installed)
		ring_seen(kr, dump, strlen(dump));
	*done = st == JOSE_OK;
out:
	ring_clear(&loaded);
	if (dump != NULL)
		json_text_free(dump, true);
	return st;
}

static void signing_kid(af_keyring *kr, char *kid);

/*
 * UPDATE_MERGE of the stored ring loaded (from ringj, read as raw): when
 * it was made anew, this node's live keys it lacks are added, so that
 * tokens they signed still verify on every node; its own keys, id and
 * signing key stay. Otherwise it is taken in as it is.
 */
static jose_status ring_merge(af_keyring *kr, const store_value *raw,
			      json_t *ringj, struct ring *loaded, uint64_t gen,
			      int64_t now, bool *done, char *why, size_t whylen)
{
	bool installed = false;
	char is[JOSE_KID_MAX + 1] = "";
	jose_status st;
	long added = 0;

	if (ring_made_anew(kr, loaded, now))
		added = ring_json_add_own(kr, ringj, loaded, now);
	/* A key may stop signing here: no node retires one for a while. */
	if (added > 0 && set_time(ringj, "merged_at", now) != 0)
		added = -1;
	if (added < 0)
		return JOSE_ERR_NOMEM;
	if (added == 0) {
		st = ring_install_at(kr, loaded, gen, &installed);
		if (st == JOSE_OK && installed)
			ring_seen(kr, raw->data, raw->len);
		*done = st == JOSE_OK;
		return st;
	}
	st = ring_commit(kr, raw, true, ringj, gen, done, why, whylen);
	if (!*done)
		return st;
	signing_kid(kr, is);
	notice(kr, 1,
	       "the key ring in the store was made anew without this node's "
	       "keys (the store lost its data?): %ld of them added back, so "
	       "that tokens they signed still verify; signing with %s",
	       added, is[0] != '\0' ? is : "none");
	return st;
}

/*
 * One read-modify-write of the ring. *done is set when the ring in memory
 * is now the one in the store; a lost race returns JOSE_OK with *done
 * false so that the caller reads again. *fresh holds the new key across
 * attempts, so a retry does not pay for RSA key generation twice. On
 * JOSE_ERR_CORRUPT, why says why and bad_sha (65 bytes) gets the SHA-256
 * of the stored text.
 */
static jose_status ring_update_once(af_keyring *kr, enum update_mode mode,
				    int64_t delay_s, cjose_jwk_t **fresh,
				    char *fresh_kid, bool *done, char *why,
				    size_t whylen, char *bad_sha)
{
	store_value raw = {0};
	struct ring loaded = {0};
	json_t *ringj = NULL;
	bool found = false, lost = false, keep = false, signs = false;
	bool installed = false;
	uint64_t gen;
	size_t had = 0; /* keys of the stored ring, when none was current */
	int64_t now = af_now(), signs_from = now + delay_s;
	char after[JOSE_KID_MAX + 1] = ""; /* the key a successor follows */
	char when[32];
	const struct ring_key *due, *signing;
	jose_status st;

	*done = false;
	/* Read before the store: a ring another thread installs meanwhile
	 * is newer than what is read here. */
	gen = ring_gen(kr);
	st = ring_read(kr, &raw, &ringj, &found, why, whylen);
	if (st != JOSE_OK)
		goto out;
	if (found) {
		/*
		 * Refuse to rewrite a ring we cannot read, and never replace
		 * it: its keys would be lost, and the tokens they signed with
		 * them.
		 */
		st = ring_from_json(ringj, &loaded, why, whylen);
		if (st != JOSE_OK)
			goto out;
		if (mode == UPDATE_MERGE) {
			st = ring_merge(kr, &raw, ringj, &loaded, gen, now,
					done, why, whylen);
			goto out;
		}
		due = ring_successor_due(&loaded, now, &kr->opts);
		if (mode == UPDATE_CREATE ||
		    (mode == UPDATE_ENSURE &&
		     ring_signing(&loaded, now) != NULL) ||
		    (mode == UPDATE_AHEAD && due == NULL &&
		     ring_signing(&loaded, now) != NULL)) {
			st = ring_install_at(kr, &loaded, gen, &installed);
			if (st == JOSE_OK && installed)
				ring_seen(kr, raw.data, raw.len);
			*done = st == JOSE_OK;
			goto out;
		}
		if (mode == UPDATE_AHEAD && due != NULL) {
			signs_from = due->expires_at;
			memcpy(after, due->kid, sizeof(after));
		} else {
			signs_from = ring_json_time(ringj, now) + delay_s;
		}
		/* Planned ahead, the signing key must last until then. */
		signing = ring_signing(&loaded, now);
		if (delay_s > 0 &&
		    (signing == NULL || signing->expires_at < signs_from)) {
			st = JOSE_ERR_LATE;
			goto out;
		}
		had = loaded.count;
		ring_clear(&loaded);
	} else {
		/*
		 * None stored: a first start, or a store that lost the ring
		 * this node holds. Its keys go on: tokens they signed still
		 * verify, and no key is made at start when one still signs.
		 */
		ringj = ring_to_json(kr, now, &signs);
		if (ringj == NULL) {
			st = JOSE_ERR_NOMEM;
			goto out;
		}
		lost = json_array_size(json_object_get(ringj, "keys")) > 0;
		if (lost && mode != UPDATE_ROTATE && signs)
			keep = true;
	}
	if (!keep && *fresh == NULL) {
		st = key_generate(kr->opts.rsa_bits, fresh, fresh_kid);
		if (st != JOSE_OK)
			goto out;
		/* Key generation takes a while: the new times count from
		 * when the key is ready. */
		now = af_now();
		if (after[0] == '\0')
			signs_from = now + delay_s;
	}
	if (!keep) {
		int64_t late = ring_json_time(ringj, now);

		/* Never made, nor to sign, before the keys it follows. */
		if (after[0] == '\0' && signs_from < late + delay_s)
			signs_from = late + delay_s;
		st = ring_json_add(ringj, *fresh, fresh_kid, late, signs_from,
				   mode != UPDATE_AHEAD, &kr->opts);
	}
	if (st == JOSE_OK)
		st = ring_json_give_id(ringj);
	if (st != JOSE_OK)
		goto out;
	st = ring_commit(kr, &raw, found, ringj, gen, done, why, whylen);
	if (*done && lost)
		notice(kr, 1,
		       "the key ring was missing from the store: written back "
		       "from this node's keys%s",
		       keep ? "" : ", with a new signing key");
	else if (*done && !found)
		notice(kr, 0, "no key ring in the store: made signing key %s",
		       fresh_kid);
	else if (*done && after[0] != '\0') {
		af_time_iso8601(signs_from, when, sizeof(when));
		notice(kr, 0,
		       "published signing key %s in /jwks: it signs from %s "
		       "on, when key %s expires",
		       fresh_kid, when, after);
	} else if (*done && mode == UPDATE_ENSURE && had > 0)
		notice(kr, 1,
		       "no signing key was current (every key of the ring had "
		       "expired): made signing key %s",
		       fresh_kid);
	else if (*done && mode == UPDATE_ENSURE)
		notice(kr, 1,
		       "the key ring in the store held no key: made signing "
		       "key %s",
		       fresh_kid);
out:
	if (st == JOSE_ERR_CORRUPT && raw.data != NULL)
		af_sha256_hex(raw.data, raw.len, bad_sha);
	ring_clear(&loaded);
	ring_json_free(ringj);
	raw_free(&raw);
	return st;
}

/*
 * true the first time a damaged stored text (its SHA-256) is to be told,
 * for the notices of the periodic looks and checks.
 */
static bool first_told(af_keyring *kr, const char *bad_sha)
{
	bool first;

	if (bad_sha[0] == '\0' || pthread_mutex_lock(&kr->look_lock) != 0)
		return true;
	first = strcmp(kr->bad_sha, bad_sha) != 0;
	if (first)
		memcpy(kr->bad_sha, bad_sha, sizeof(kr->bad_sha));
	pthread_mutex_unlock(&kr->look_lock);
	return first;
}

/*
 * ring_update_once() until it is done or has lost RING_UPDATE_TRIES races.
 * why (may be NULL when whylen is 0) gets the reason for JOSE_ERR_CORRUPT;
 * without it the notice callback is told.
 */
static jose_status ring_update(af_keyring *kr, enum update_mode mode,
			       int64_t delay_s, char *kid_out, char *why,
			       size_t whylen)
{
	char fresh_kid[JOSE_KID_MAX + 1] = "", own_why[WHY_MAX] = "";
	char bad_sha[65] = "";
	cjose_jwk_t *fresh = NULL;
	jose_status st = JOSE_OK;
	bool done = false;
	int attempt;

	for (attempt = 0; attempt < RING_UPDATE_TRIES && !done; attempt++) {
		st = ring_update_once(kr, mode, delay_s, &fresh, fresh_kid,
				      &done, own_why, sizeof(own_why), bad_sha);
		if (st != JOSE_OK)
			break;
	}
	if (st == JOSE_ERR_CORRUPT && whylen > 0)
		why_set(why, whylen, "%s", own_why);
	/*
	 * A rotation asked for is answered in the log each time; the checks
	 * made every second tell a damaged text once.
	 */
	else if (st == JOSE_ERR_CORRUPT &&
		 (mode == UPDATE_ROTATE || first_told(kr, bad_sha)))
		notice(kr, 1,
		       "the key ring in the store is damaged, left as it is: %s",
		       own_why);
	if (st == JOSE_OK && !done)
		st = JOSE_ERR_STORE; /* lost every race: the store is too busy
				      */
	if (st == JOSE_OK && kid_out != NULL)
		memcpy(kid_out, fresh_kid, sizeof(fresh_kid));
	if (fresh != NULL)
		cjose_jwk_release(fresh);
	return st;
}

static bool options_ok(const af_keyring_options *o)
{
	return (o->rsa_bits == 2048 || o->rsa_bits == 3072 ||
		o->rsa_bits == 4096) &&
	       o->lifetime_days >= 1 && o->lifetime_days <= LIFETIME_DAYS_MAX &&
	       o->alert_days <= LIFETIME_DAYS_MAX &&
	       o->max_token_lifetime_s >= 1 &&
	       o->max_token_lifetime_s <= MAX_TOKEN_LIFETIME_S &&
	       o->refresh_s <= MAX_TOKEN_LIFETIME_S;
}

/* af_keyring_open(), with the reason of a refusal into why. */
static jose_status keyring_open(store_ctx *st, const af_keyring_options *o,
				af_keyring **out, char *why, size_t whylen)
{
	af_keyring *kr;
	jose_status rc;

	if (out == NULL)
		return JOSE_ERR_ARG;
	*out = NULL;
	if (st == NULL || o == NULL || !options_ok(o))
		return JOSE_ERR_ARG;
	kr = calloc(1, sizeof(*kr));
	if (kr == NULL)
		return JOSE_ERR_NOMEM;
	if (pthread_rwlock_init(&kr->lock, NULL) != 0) {
		free(kr);
		return JOSE_ERR_NOMEM;
	}
	if (pthread_mutex_init(&kr->look_lock, NULL) != 0) {
		pthread_rwlock_destroy(&kr->lock);
		free(kr);
		return JOSE_ERR_NOMEM;
	}
	kr->st = st;
	kr->opts = *o;
	kr->looked_at = (int64_t)(af_mono_ns() / 1000000u);
	rc = ring_update(kr, UPDATE_CREATE, 0, NULL, why, whylen);
	if (rc != JOSE_OK) {
		af_keyring_free(kr);
		return rc;
	}
	*out = kr;
	return JOSE_OK;
}

jose_status af_keyring_open(store_ctx *st, const af_keyring_options *o,
			    af_keyring **out)
{
	char why[WHY_MAX];

	return keyring_open(st, o, out, why, sizeof(why));
}

jose_status af_keyring_open_why(store_ctx *st, const af_keyring_options *o,
				af_keyring **out, char *err, size_t errlen)
{
	char why[WHY_MAX] = "";
	jose_status rc = keyring_open(st, o, out, why, sizeof(why));

	if (errlen == 0)
		return rc;
	/* A damaged ring has its own reason; anything else the status. */
	why_set(err, errlen, "%s",
		rc == JOSE_OK		 ? ""
		: rc == JOSE_ERR_CORRUPT ? why
					 : jose_strerror(rc));
	return rc;
}

jose_status af_keyring_check_stored(store_ctx *st, char *err, size_t errlen)
{
	store_value raw = {NULL, 0};
	struct ring ring;
	json_t *ringj = NULL;
	char why[WHY_MAX] = "";
	jose_status rc;
	store_status ss;

	if (errlen > 0)
		err[0] = '\0';
	if (st == NULL)
		return JOSE_ERR_ARG;
	ss = store_get(st, JOSE_RING_STORE_KEY, &raw);
	if (ss == STORE_NOT_FOUND)
		return JOSE_OK;
	if (ss != STORE_OK) {
		rc = ss == STORE_ERR_NOMEM ? JOSE_ERR_NOMEM : JOSE_ERR_STORE;
		why_set(err, errlen, "%s", jose_strerror(rc));
		return rc;
	}
	/* No error text: jansson's would quote bits of the private keys. */
	ringj = json_loadb((const char *)raw.data, raw.len,
			   JSON_REJECT_DUPLICATES, NULL);
	raw_free(&raw);
	if (!json_is_object(ringj)) {
		why_set(why, sizeof(why), "not a JSON object");
		rc = JOSE_ERR_CORRUPT;
	} else {
		rc = ring_from_json(ringj, &ring, why, sizeof(why));
		if (rc == JOSE_OK)
			ring_clear(&ring);
	}
	ring_json_free(ringj);
	if (rc != JOSE_OK)
		why_set(err, errlen, "%s",
			rc == JOSE_ERR_CORRUPT ? why : jose_strerror(rc));
	return rc;
}

void af_keyring_free(af_keyring *kr)
{
	if (kr == NULL)
		return;
	ring_clear(&kr->ring);
	pthread_rwlock_destroy(&kr->lock);
	pthread_mutex_destroy(&kr->look_lock);
	free(kr);
}

jose_status af_keyring_reload(af_keyring *kr)
{
	store_value raw = {0};
	struct ring loaded = {0};
	json_t *ringj = NULL;
	char why[WHY_MAX];
	bool found = false, installed = false;
	uint64_t gen;
	jose_status st;

	if (kr == NULL)
		return JOSE_ERR_ARG;
	gen = ring_gen(kr); /* before the store, as ring_update_once() */
	st = ring_read(kr, &raw, &ringj, &found, why, sizeof(why));
	if (st == JOSE_OK && !found)
		st = JOSE_ERR_STORE;
	if (st == JOSE_OK)
		st = ring_from_json(ringj, &loaded, why, sizeof(why));
	if (st == JOSE_OK)
		st = ring_install_at(kr, &loaded, gen, &installed);
	if (st == JOSE_OK && installed)
		ring_seen(kr, raw.data, raw.len);
	ring_json_free(ringj);
	raw_free(&raw);
	return st;
}

/* The kid this node signs with now into kid (JOSE_KID_MAX + 1), or "". */
static void signing_kid(af_keyring *kr, char *kid)
{
	const struct ring_key *k;

	kid[0] = '\0';
	if (pthread_rwlock_rdlock(&kr->lock) != 0)
		return;
	k = ring_signing(&kr->ring, af_now());
	if (k != NULL)
		memcpy(kid, k->kid, sizeof(k->kid));
	pthread_rwlock_unlock(&kr->lock);
}

/* true when the ring in memory holds kid. */
static bool ring_has(af_keyring *kr, const char *kid)
{
	bool has;

	if (pthread_rwlock_rdlock(&kr->lock) != 0)
		return false;
	has = ring_find(&kr->ring, kid) != NULL;
	pthread_rwlock_unlock(&kr->lock);
	return has;
}

/*
 * Takes in a ring another node changed: at most every refresh_s seconds
 * (LOOK_SOON: at most every second, for a kid this node does not know;
 * LOOK_NOW: every time), one thread reads the ring's text and parses it
 * only when it differs from what it saw last. A failure keeps the ring in
 * memory; a damaged stored ring is told once per text.
 */
static void maybe_refresh(af_keyring *kr, enum look_when when)
{
	store_value raw = {0};
	struct ring loaded = {0};
	json_t *ringj = NULL;
	int64_t now = (int64_t)(af_mono_ns() / 1000000u);
	int64_t every_ms = when == LOOK_NOW ? 0
			   : when == LOOK_SOON
				   ? 1000
				   : (int64_t)kr->opts.refresh_s * 1000;
	char sha[65], was[JOSE_KID_MAX + 1] = "", is[JOSE_KID_MAX + 1] = "";
	char why[WHY_MAX] = "";
	bool missing = false, damaged = false, merge = false, installed = false;
	store_status ss;
	uint64_t gen;
	int locked;

	if (kr->opts.refresh_s == 0)
		return;
	/* A look under way answers for the others, except LOOK_NOW's. */
	locked = when == LOOK_NOW ? pthread_mutex_lock(&kr->look_lock)
				  : pthread_mutex_trylock(&kr->look_lock);
	if (locked != 0)
		return;
	if (now - kr->looked_at < every_ms)
		goto out;
	kr->looked_at = now;
	/* Read before the store, as ring_update_once() does. */
	gen = ring_gen(kr);
	ss = store_get(kr->st, JOSE_RING_STORE_KEY, &raw);
	/* Lost by the store (a flushed Redis): written back below. */
	missing = ss == STORE_NOT_FOUND;
	if (ss != STORE_OK)
		goto out;
	af_sha256_hex(raw.data, raw.len, sha);
	if (strcmp(sha, kr->seen_sha) == 0 || strcmp(sha, kr->bad_sha) == 0)
		goto out;
	/* No error text: jansson's would quote bits of the private keys. */
	ringj = json_loadb((const char *)raw.data, raw.len,
			   JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(ringj)) {
		why_set(why, sizeof(why), "not a JSON object");
		damaged = true;
	} else {
		switch (ring_from_json(ringj, &loaded, why, sizeof(why))) {
		case JOSE_OK:
			/* Made anew by a node that found the store empty. */
			if (ring_made_anew(kr, &loaded, af_now())) {
				merge = true;
				break;
			}
			signing_kid(kr, was);
			if (ring_install_at(kr, &loaded, gen, &installed) ==
				    JOSE_OK &&
			    installed)
				memcpy(kr->seen_sha, sha, sizeof(sha));
			signing_kid(kr, is);
			break;
		case JOSE_ERR_CORRUPT:
			damaged = true;
			break;
		default:
			break; /* out of memory: the next look tries again */
		}
	}
	if (damaged)
		memcpy(kr->bad_sha, sha, sizeof(sha));
out:
	pthread_mutex_unlock(&kr->look_lock);
	ring_clear(&loaded);
	ring_json_free(ringj);
	raw_free(&raw);
	if (damaged)
		notice(kr, 1,
		       "the key ring in the store is damaged; this node goes "
		       "on with the keys it holds: %s",
		       why);
	if (was[0] != '\0' && strcmp(was, is) != 0 && !ring_has(kr, was))
		notice(kr, 1,
		       "the key ring in the store no longer holds signing key "
		       "%s: tokens it signed no longer verify; signing with %s",
		       was, is[0] != '\0' ? is : "none");
	if (missing)
		(void)ring_update(kr, UPDATE_ENSURE, 0, NULL, NULL, 0);
	if (merge)
		(void)ring_update(kr, UPDATE_MERGE, 0, NULL, NULL, 0);
}

void af_keyring_look(af_keyring *kr)
{
	if (kr != NULL)
		maybe_refresh(kr, LOOK_PERIODIC);
}

jose_status af_keyring_rotate(af_keyring *kr, char *kid_out)
{
	return af_keyring_rotate_at(kr, 0, kid_out);
}

jose_status af_keyring_rotate_at(af_keyring *kr, int64_t delay_s, char *kid_out)
{
	char kid[JOSE_KID_MAX + 1] = "", when[32];
	jose_status st;

	if (kr == NULL || delay_s < 0 || delay_s > JOSE_ROTATE_AHEAD_MAX_S)
		return JOSE_ERR_ARG;
	st = ring_update(kr, UPDATE_ROTATE, delay_s, kid, NULL, 0);
	if (st == JOSE_OK && delay_s > 0) {
		af_time_iso8601(af_now() + delay_s, when, sizeof(when));
		notice(kr, 0,
		       "published signing key %s in /jwks: it signs from "
		       "about %s on, when the signing key stops",
		       kid, when);
	}
	if (st == JOSE_OK && kid_out != NULL)
		memcpy(kid_out, kid, sizeof(kid));
	return st;
}

/* The index of kid's entry in the ring document's keys, or -1. */
static long ring_json_find(const json_t *ringj, const char *kid)
{
	const json_t *keys = json_object_get(ringj, "keys");
	size_t i;

	for (i = 0; i < json_array_size(keys); i++) {
		const char *k = json_string_value(
			json_object_get(json_array_get(keys, i), "kid"));

		if (k != NULL && strcmp(k, kid) == 0)
			return (long)i;
	}
	return -1;
}

/*
 * A successor that never signed leaves the ring (entry gone, of the ring
 * document ringj): when the signing key (signing_kid) was cut short to
 * hand over to it, by a rotation planned ahead, it gets back the life it
 * had, from when it began to sign, so that the next successor is
 * published ahead as usual rather than made in haste when the cut-short
 * end comes. Sets *until to the end given back, or leaves it 0.
 */
static jose_status give_back_life(json_t *ringj, const json_t *gone,
				  const char *signing_kid, int64_t now,
				  const af_keyring_options *o, int64_t *until)
{
	json_t *e;
	int64_t handover = 0, from = 0, created = 0, expires = 0, full;
	long at = ring_json_find(ringj, signing_kid);

	*until = 0;
	if (at < 0 || !entry_time(gone, "signs_from", &handover) ||
	    handover <= now)
		return JOSE_OK;
	e = json_array_get(json_object_get(ringj, "keys"), (size_t)at);
	if (!entry_time(e, "created_at", &created) ||
	    !entry_time(e, "expires_at", &expires))
		return JOSE_ERR_STORE;
	if (!entry_time(e, "signs_from", &from))
		from = created;
	full = from + (int64_t)o->lifetime_days * SECONDS_PER_DAY;
	if (expires != handover || full <= expires)
		return JOSE_OK;
	if (set_time(e, "expires_at", full) != 0 ||
	    set_time(e, "retire_after",
		     full + (int64_t)o->max_token_lifetime_s) != 0)
		return JOSE_ERR_NOMEM;
	*until = full;
	return JOSE_OK;
}

/*
 * When key k of ring r may leave it with no node of those sharing it,
 * which look every refresh_s seconds, still signing with it: 0 for at
 * once, or a later time; INT64_MAX for a successor about to sign, which a
 * node may begin with before it sees it gone. A node knows when k stops
 * once it has seen the change that stopped it: a key made since (a
 * rotation), or a merge of the ring, which it sees up to refresh_s, and
 * a second of its look's tick, after it was made; and it stops at k's
 * expiry by its own clock, which may run that much behind.
 */
static int64_t retire_from(const struct ring *r, const struct ring_key *k,
			   unsigned refresh_s, int64_t now)
{
	int64_t margin = (int64_t)refresh_s + 1, seen = 0, stop, late;
	size_t i;

	if (refresh_s == 0)
		return 0;
	/*
	 * A successor planned ahead that has begun on no clock the ring
	 * knows of (a key made to sign at once has signed where it was
	 * made, whatever this clock says), nor on one up to RING_SKEW_S
	 * ahead of that, as a rotation judges it (ring_json_add()).
	 */
	late = now;
	for (i = 0; i < r->count; i++)
		if (r->keys[i].created_at > late)
			late = r->keys[i].created_at;
	if (k->signs_from != k->created_at && k->signs_from > late)
		return k->signs_from - late <= margin + RING_SKEW_S ? INT64_MAX
								    : 0;
	if (r->merged_at > 0)
		seen = r->merged_at + margin;
	for (i = 0; i < r->count; i++)
		if (&r->keys[i] != k && r->keys[i].created_at + margin > seen)
			seen = r->keys[i].created_at + margin;
	/* Not the signing key, though unexpired: another one won the tie. */
	stop = k->expires_at <= now ? k->expires_at + margin : now;
	return seen > stop ? seen : stop;
}

/*
 * One read-modify-write of a retirement: as ring_update_once(), *done set
 * once the ring in memory is the one stored without kid; *until as
 * give_back_life() sets it, or, with JOSE_ERR_SOON, when kid may go.
 */
static jose_status retire_once(af_keyring *kr, const char *kid, bool *done,
			       int64_t *until, char *why, size_t whylen)
{
	store_value raw = {0};
	struct ring loaded = {0};
	const struct ring_key *signing, *key;
	char signing_kid[JOSE_KID_MAX + 1] = "";
	json_t *ringj = NULL, *gone;
	bool found = false;
	jose_status st;
	int64_t now = af_now(), from;
	uint64_t gen;
	long at;

	*done = false;
	gen = ring_gen(kr); /* before the store, as ring_update_once() */
	st = ring_read(kr, &raw, &ringj, &found, why, whylen);
	if (st == JOSE_OK && !found)
		st = JOSE_ERR_UNKNOWN_KID;
	if (st == JOSE_OK)
		st = ring_from_json(ringj, &loaded, why, whylen);
	if (st != JOSE_OK)
		goto out;
	/* Signing never stops: the key that signs now is rotated out first. */
	signing = ring_signing(&loaded, now);
	if (signing != NULL && strcmp(signing->kid, kid) == 0) {
		st = JOSE_ERR_ARG;
		goto out;
	}
	/* Nor does another node sign with a key the ring no longer has. */
	key = ring_find(&loaded, kid);
	from = key != NULL ? retire_from(&loaded, key, kr->opts.refresh_s, now)
			   : 0;
	if (from == INT64_MAX) {
		st = JOSE_ERR_ARG;
		goto out;
	}
	if (from > now) {
		*until = from;
		st = JOSE_ERR_SOON;
		goto out;
	}
	if (signing != NULL)
		memcpy(signing_kid, signing->kid, sizeof(signing_kid));
	ring_clear(&loaded);
	at = ring_json_find(ringj, kid);
	if (at < 0) {
		st = JOSE_ERR_UNKNOWN_KID;
		goto out;
	}
	gone = json_array_get(json_object_get(ringj, "keys"), (size_t)at);
	st = give_back_life(ringj, gone, signing_kid, now, &kr->opts, until);
	if (st != JOSE_OK)
		goto out;
	jwk_json_wipe(json_object_get(gone, "jwk"));
	if (json_array_remove(json_object_get(ringj, "keys"), (size_t)at) !=
	    0) {
		st = JOSE_ERR_NOMEM;
		goto out;
	}
	st = ring_commit(kr, &raw, true, ringj, gen, done, why, whylen);
out:
	ring_clear(&loaded);
	ring_json_free(ringj);
	raw_free(&raw);
	return st;
}

jose_status af_keyring_retire(af_keyring *kr, const char *kid,
			      int64_t *until_out)
{
	char why[WHY_MAX] = "", when[32];
	jose_status st = JOSE_OK;
	bool done = false;
	int64_t until = 0;
	int attempt;

	if (until_out != NULL)
		*until_out = 0;
	if (kr == NULL || kid == NULL)
		return JOSE_ERR_ARG;
	if (kid[0] == '\0' || strlen(kid) > JOSE_KID_MAX)
		return JOSE_ERR_UNKNOWN_KID;
	for (attempt = 0; attempt < RING_UPDATE_TRIES && !done; attempt++) {
		st = retire_once(kr, kid, &done, &until, why, sizeof(why));
		if (st != JOSE_OK)
			break;
	}
	if (st == JOSE_ERR_SOON && until_out != NULL)
		*until_out = until;
	if (st == JOSE_ERR_CORRUPT)
		notice(kr, 1,
		       "the key ring in the store is damaged, left as it is: %s",
		       why);
	else if (st == JOSE_OK && !done)
		st = JOSE_ERR_STORE; /* lost every race */
	else if (st == JOSE_OK)
		notice(kr, 1,
		       "retired key %s: it left /jwks, and tokens it signed no "
		       "longer verify",
		       kid);
	if (st == JOSE_OK && until > 0) {
		af_time_iso8601(until, when, sizeof(when));
		notice(kr, 1,
		       "the rotation planned to key %s is off: the signing key "
		       "signs until %s again, and its successor is published "
		       "ahead as usual",
		       kid, when);
		if (until_out != NULL)
			*until_out = until;
	}
	return st;
}

jose_status af_keyring_ensure_current(af_keyring *kr)
{
	int64_t now = af_now();
	bool current, due;

	if (kr == NULL)
		return JOSE_ERR_ARG;
	if (pthread_rwlock_rdlock(&kr->lock) != 0)
		return JOSE_ERR_NOMEM;
	current = ring_signing(&kr->ring, now) != NULL;
	due = ring_successor_due(&kr->ring, now, &kr->opts) != NULL;
	pthread_rwlock_unlock(&kr->lock);
	if (current && !due)
		return JOSE_OK;
	return ring_update(kr, current ? UPDATE_AHEAD : UPDATE_ENSURE, 0, NULL,
			   NULL, 0);
}

jose_status af_jwt_sign(af_keyring *kr, const json_t *claims, const char *typ,
			char **out)
{
	const struct ring_key *key;
	cjose_header_t *hdr = NULL;
	cjose_jws_t *jws = NULL;
	const char *compact = NULL;
	char *payload = NULL;
	cjose_err cerr = {0};
	bool locked = false;
	jose_status st;
	size_t typlen;

	if (out == NULL)
		return JOSE_ERR_ARG;
	*out = NULL;
	if (kr == NULL || !json_is_object(claims) || typ == NULL)
		return JOSE_ERR_ARG;
	typlen = strnlen(typ, JOSE_TYP_MAX + 1);
	if (typlen == 0 || typlen > JOSE_TYP_MAX)
		return JOSE_ERR_ARG;
	payload = json_dumps(claims, JSON_COMPACT);
	if (payload == NULL)
		return JOSE_ERR_NOMEM;
	maybe_refresh(kr, LOOK_PERIODIC);
	hdr = cjose_header_new(&cerr);
	if (hdr == NULL) {
		st = JOSE_ERR_NOMEM;
		goto out;
	}
	if (!cjose_header_set(hdr, CJOSE_HDR_ALG, JWT_ALG, &cerr) ||
	    !cjose_header_set(hdr, "typ", typ, &cerr)) {
		st = cjose_status(&cerr);
		goto out;
	}
	if (pthread_rwlock_rdlock(&kr->lock) != 0) {
		st = JOSE_ERR_NOMEM;
		goto out;
	}
	locked = true;
	key = ring_signing(&kr->ring, af_now());
	if (key == NULL) {
		st = JOSE_ERR_NO_KEY;
		goto out;
	}
	if (!cjose_header_set(hdr, CJOSE_HDR_KID, key->kid, &cerr)) {
		st = cjose_status(&cerr);
		goto out;
	}
	jws = cjose_jws_sign(key->jwk, hdr, (const uint8_t *)payload,
			     strlen(payload), &cerr);
	if (jws == NULL || !cjose_jws_export(jws, &compact, &cerr)) {
		st = cjose_status(&cerr);
		goto out;
	}
	*out = strdup(compact);
	st = *out != NULL ? JOSE_OK : JOSE_ERR_NOMEM;
out:
	if (locked)
		pthread_rwlock_unlock(&kr->lock);
	if (jws != NULL)
		cjose_jws_release(jws);
	if (hdr != NULL)
		cjose_header_release(hdr);
	json_text_free(payload, false);
	return st;
}

/*
 * Checks the shape and header of a compact JWS ourselves before cjose sees
 * it: exactly three non-empty base64url parts (the signature may be empty
 * only to be refused as unsigned), a JSON object header without
 * duplicates, alg exactly "RS256", no "crit", and a kid we can look up.
 * Refusing other algorithms here is what stops "none" and the HS256 key
 * confusion attack, whatever cjose would do with them.
 */
static jose_status jwt_precheck(const char *jwt, size_t len, char *kid_out)
{
	const char *dot1, *dot2, *end = jwt + len;
	size_t hlen, plen, slen, declen = 0;
	const json_t *alg, *kid;
	json_t *hdr = NULL;
	uint8_t *dec = NULL;
	jose_status st = JOSE_ERR_MALFORMED;

	dot1 = memchr(jwt, '.', len);
	if (dot1 == NULL)
		return JOSE_ERR_MALFORMED;
	dot2 = memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1));
	if (dot2 == NULL ||
	    memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) != NULL)
		return JOSE_ERR_MALFORMED;
	hlen = (size_t)(dot1 - jwt);
	plen = (size_t)(dot2 - dot1 - 1);
	slen = (size_t)(end - dot2 - 1);
	if (!af_b64url_text_ok(jwt, hlen) ||
	    !af_b64url_text_ok(dot1 + 1, plen) ||
	    (slen > 0 && !af_b64url_text_ok(dot2 + 1, slen)))
		return JOSE_ERR_MALFORMED;
	dec = malloc(hlen);
	if (dec == NULL)
		return JOSE_ERR_NOMEM;
	if (af_b64url_decode(jwt, hlen, dec, hlen, &declen) != 0)
		goto out;
	hdr = json_loadb((const char *)dec, declen, JSON_REJECT_DUPLICATES,
			 NULL);
	if (!json_is_object(hdr))
		goto out;
	alg = json_object_get(hdr, "alg");
	if (!json_is_string(alg))
		goto out;
	if (json_string_length(alg) != strlen(JWT_ALG) ||
	    strcmp(json_string_value(alg), JWT_ALG) != 0 || slen == 0) {
		st = JOSE_ERR_SIGNATURE;
		goto out;
	}
	kid = json_object_get(hdr, "kid");
	if (json_object_get(hdr, "crit") != NULL || !json_is_string(kid) ||
	    json_string_length(kid) == 0 ||
	    json_string_length(kid) > JOSE_KID_MAX ||
	    strlen(json_string_value(kid)) != json_string_length(kid))
		goto out;
	memcpy(kid_out, json_string_value(kid), json_string_length(kid) + 1);
	st = JOSE_OK;
out:
	json_decref(hdr);
	free(dec);
	return st;
}

jose_status af_jwt_verify(af_keyring *kr, const char *jwt, size_t len,
			  json_t **claims)
{
	return af_jwt_verify_typ(kr, jwt, len, NULL, claims);
}

jose_status af_jwt_verify_typ(af_keyring *kr, const char *jwt, size_t len,
			      const char *typ, json_t **claims)
{
	char kid[JOSE_KID_MAX + 1];
	const struct ring_key *key;
	cjose_jws_t *jws = NULL;
	const char *alg;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	cjose_err cerr = {0};
	json_t *payload;
	jose_status st;

	if (claims == NULL)
		return JOSE_ERR_ARG;
	*claims = NULL;
	if (kr == NULL || jwt == NULL)
		return JOSE_ERR_ARG;
	if (len > (size_t)JOSE_JWT_MAX)
		return JOSE_ERR_TOO_BIG;
	st = jwt_precheck(jwt, len, kid);
	if (st != JOSE_OK)
		return st;
	jws = cjose_jws_import(jwt, len, &cerr);
	if (jws == NULL)
		return cerr.code == CJOSE_ERR_NO_MEMORY ? JOSE_ERR_NOMEM
							: JOSE_ERR_MALFORMED;
	/* The header cjose acts on must say RS256 too. */
	alg = json_string_value(
		json_object_get(cjose_jws_get_protected(jws), CJOSE_HDR_ALG));
	if (alg == NULL || strcmp(alg, JWT_ALG) != 0) {
		st = JOSE_ERR_SIGNATURE;
		goto out;
	}
	/* Media type names compare without regard to case (RFC 8725 3.11). */
	if (typ != NULL) {
		const char *have = json_string_value(
			json_object_get(cjose_jws_get_protected(jws), "typ"));

		if (have == NULL || strcasecmp(have, typ) != 0) {
			st = JOSE_ERR_MALFORMED;
			goto out;
		}
	}
	if (pthread_rwlock_rdlock(&kr->lock) != 0) {
		st = JOSE_ERR_NOMEM;
		goto out;
	}
	key = ring_find(&kr->ring, kid);
	if (key == NULL) {
		/* Perhaps another node's new key: look, then try once more. */
		pthread_rwlock_unlock(&kr->lock);
		maybe_refresh(kr, LOOK_SOON);
		if (pthread_rwlock_rdlock(&kr->lock) != 0) {
			st = JOSE_ERR_NOMEM;
			goto out;
		}
		key = ring_find(&kr->ring, kid);
	}
	if (key == NULL)
		st = JOSE_ERR_UNKNOWN_KID;
	else if (!cjose_jws_verify(jws, key->jwk, &cerr))
		st = cerr.code == CJOSE_ERR_NO_MEMORY ? JOSE_ERR_NOMEM
						      : JOSE_ERR_SIGNATURE;
	pthread_rwlock_unlock(&kr->lock);
	if (st != JOSE_OK)
		goto out;
	if (!cjose_jws_get_plaintext(jws, &plain, &plain_len, &cerr)) {
		st = JOSE_ERR_MALFORMED;
		goto out;
	}
	payload = json_loadb((const char *)plain, plain_len,
			     JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(payload)) {
		json_decref(payload);
		st = JOSE_ERR_MALFORMED;
		goto out;
	}
	*claims = payload;
out:
	cjose_jws_release(jws);
	return st;
}

json_t *af_keyring_jwks(af_keyring *kr)
{
	json_t *doc, *keys;
	int64_t now = af_now();
	bool ok = true;
	size_t i;

	if (kr == NULL)
		return NULL;
	/* What a relying party fetches after an unknown kid: read it fresh. */
	maybe_refresh(kr, LOOK_NOW);
	keys = json_array();
	doc = json_object();
	if (keys == NULL || doc == NULL ||
	    json_object_set(doc, "keys", keys) != 0 ||
	    pthread_rwlock_rdlock(&kr->lock) != 0) {
		json_decref(keys);
		json_decref(doc);
		return NULL;
	}
	for (i = 0; ok && i < kr->ring.count; i++) {
		const struct ring_key *k = &kr->ring.keys[i];

		if (k->retire_after <= now)
			continue;
		/* Built from the public parts alone: no private member can
		 * slip into /jwks whatever the stored JWK holds. */
		ok = json_array_append_new(
			     keys, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
					     "kty", "RSA", "n", k->n, "e", k->e,
					     "kid", k->kid, "use", "sig", "alg",
					     JWT_ALG)) == 0;
	}
	pthread_rwlock_unlock(&kr->lock);
	json_decref(keys);
	if (!ok) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static json_t *key_status(const struct ring_key *k, bool signing)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:b}", "kid", k->kid,
			 "created_at", (json_int_t)k->created_at, "signs_from",
			 (json_int_t)k->signs_from, "expires_at",
			 (json_int_t)k->expires_at, "retire_after",
			 (json_int_t)k->retire_after, "signing", signing);
}

json_t *af_keyring_status(af_keyring *kr)
{
	const struct ring_key *signing, *next;
	json_t *doc = NULL, *keys;
	int64_t now = af_now();
	bool ok = true;
	long days;
	size_t i;

	if (kr == NULL)
		return NULL;
	maybe_refresh(kr, LOOK_PERIODIC);
	keys = json_array();
	if (keys == NULL || pthread_rwlock_rdlock(&kr->lock) != 0) {
		json_decref(keys);
		return NULL;
	}
	signing = ring_signing(&kr->ring, now);
	next = ring_next(&kr->ring, now);
	for (i = 0; ok && i < kr->ring.count; i++) {
		const struct ring_key *k = &kr->ring.keys[i];

		ok = json_array_append_new(keys, key_status(k, k == signing)) ==
		     0;
	}
	days = ring_days_left(&kr->ring, now);
	if (ok)
		doc = json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:b}",
				"keys", keys, "signing_kid",
				signing != NULL ? json_string(signing->kid)
						: json_null(),
				"next_kid",
				next != NULL ? json_string(next->kid)
					     : json_null(),
				"next_signs_from",
				next != NULL ? json_integer(next->signs_from)
					     : json_null(),
				"next_expires_at",
				next != NULL ? json_integer(next->expires_at)
					     : json_null(),
				"expires_in_days", (json_int_t)days,
				"alert_days", (json_int_t)kr->opts.alert_days,
				"alert", days <= (long)kr->opts.alert_days);
	else
		json_decref(keys);
	pthread_rwlock_unlock(&kr->lock);
	return doc;
}

long af_keyring_days_left(af_keyring *kr)
{
	long days;

	if (kr == NULL || pthread_rwlock_rdlock(&kr->lock) != 0)
		return -1;
	days = ring_days_left(&kr->ring, af_now());
	pthread_rwlock_unlock(&kr->lock);
	return days;
}

void af_oidc_half_hash(const char *value, char *out, size_t outcap)
{
	uint8_t digest[32];

	if (out == NULL || outcap == 0)
		return;
	out[0] = '\0';
	if (value == NULL || outcap < JOSE_HALF_HASH_LEN)
		return;
	/* OIDC Core 3.1.3.6: the left half of the hash named by alg. */
	af_sha256(value, strlen(value), digest);
	if (af_b64url_encode(digest, sizeof(digest) / 2, out, outcap) != 0)
		out[0] = '\0';
}
