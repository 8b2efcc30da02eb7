/* JWT structure and signature checks for the push mocks; see mock_jwt.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mock_jwt.h"

/* The raw ES256 signature: r and s, 32 bytes each. */
#define ES256_SIG_LEN 64
/* Largest RS256 signature looked at (RSA 8192). */
#define RS256_SIG_MAX 1024
/* Smallest RSA key accepted for RS256, as Google issues. */
#define RSA_BITS_MIN  2048
/* Largest PEM text read for a key. */
#define KEY_PEM_MAX   ((size_t)16 * 1024)

static const char *const mjwt_messages[] = {
#define MJWT_XX(name, value, text) [-(value)] = (text),
	MJWT_STATUS_MAP(MJWT_XX)
#undef MJWT_XX
};

const char *mjwt_strerror(mjwt_status st)
{
	size_t i = (size_t)(-(long)st);

	if ((long)st > 0 ||
	    i >= sizeof(mjwt_messages) / sizeof(mjwt_messages[0]) ||
	    mjwt_messages[i] == NULL)
		return "unknown status";
	return mjwt_messages[i];
}

/* Decodes one base64url part as a JSON object; NULL when it is not one. */
static json_t *part_json(const char *p, size_t len)
{
	uint8_t buf[MOCK_JWT_MAX];
	size_t n = 0;
	json_t *j;

	if (len == 0 || af_b64url_decode(p, len, buf, sizeof(buf), &n) != 0)
		return NULL;
	j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Re-encodes a raw r||s signature as the DER that OpenSSL verifies. */
static int es256_der(const uint8_t *raw, unsigned char **der, int *derlen)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, ES256_SIG_LEN / 2, NULL);
	BIGNUM *s = BN_bin2bn(raw + ES256_SIG_LEN / 2, ES256_SIG_LEN / 2, NULL);
	int rc = -1;

	*der = NULL;
	if (sig == NULL || r == NULL || s == NULL ||
	    ECDSA_SIG_set0(sig, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by sig now */
	*derlen = i2d_ECDSA_SIG(sig, der);
	if (*derlen > 0)
		rc = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

static mjwt_status check_sig(const char *input, size_t inlen,
			     const uint8_t *sig, size_t siglen, mjwt_alg alg,
			     EVP_PKEY *key)
{
	EVP_MD_CTX *md = NULL;
	unsigned char *der = NULL;
	const unsigned char *v = sig;
	size_t vlen = siglen;
	int derlen = 0;
	mjwt_status st = MJWT_ERR_SIGNATURE;

	if (alg == MJWT_ES256) {
		if (siglen != ES256_SIG_LEN)
			return MJWT_ERR_SIGNATURE;
		if (es256_der(sig, &der, &derlen) != 0)
			return MJWT_ERR_NOMEM;
		v = der;
		vlen = (size_t)derlen;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL) {
		st = MJWT_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(md, v, vlen, (const unsigned char *)input,
			     inlen) == 1)
		st = MJWT_OK;
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return st;
}

static mjwt_status check_alg(const json_t *header, mjwt_alg alg)
{
	const char *want = alg == MJWT_ES256 ? "ES256" : "RS256";
	const char *got = json_string_value(json_object_get(header, "alg"));

	return got != NULL && strcmp(got, want) == 0 ? MJWT_OK : MJWT_ERR_ALG;
}

mjwt_status mjwt_verify(const char *jwt, size_t len, mjwt_alg alg,
			EVP_PKEY *key, json_t **header, json_t **claims)
{
	uint8_t sig[RS256_SIG_MAX];
	const char *d1, *d2;
	size_t siglen = 0;
	json_t *h = NULL, *c = NULL;
	mjwt_status st = MJWT_ERR_MALFORMED;

	if (header == NULL || claims == NULL)
		return MJWT_ERR_ARG;
	*header = *claims = NULL;
	if (jwt == NULL || key == NULL ||
	    (alg != MJWT_ES256 && alg != MJWT_RS256))
		return MJWT_ERR_ARG;
	if (len > MOCK_JWT_MAX)
		return MJWT_ERR_TOO_BIG;
	d1 = memchr(jwt, '.', len);
	if (d1 == NULL)
		return MJWT_ERR_MALFORMED;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt));
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)))
		return MJWT_ERR_MALFORMED;
	h = part_json(jwt, (size_t)(d1 - jwt));
	c = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (h == NULL || c == NULL)
		goto out;
	st = check_alg(h, alg);
	if (st != MJWT_OK)
		goto out;
	if (af_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jwt), sig,
			     sizeof(sig), &siglen) != 0 ||
	    siglen == 0) {
		st = MJWT_ERR_SIGNATURE;
		goto out;
	}
	st = check_sig(jwt, (size_t)(d2 - jwt), sig, siglen, alg, key);
	if (st != MJWT_OK)
		goto out;
	*header = h;
	*claims = c;
	h = c = NULL;
out:
	json_decref(h);
	json_decref(c);
	return st;
}

static int key_suits(EVP_PKEY *k, mjwt_alg alg)
{
	char group[64];
	size_t glen = 0;

	if (alg == MJWT_RS256)
		return EVP_PKEY_is_a(k, "RSA") &&
		       EVP_PKEY_get_bits(k) >= RSA_BITS_MIN;
	if (!EVP_PKEY_is_a(k, "EC") ||
	    EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) != 1)
		return 0;
	return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

/* Keeps only the public half of k, so no private key stays in memory. */
static EVP_PKEY *public_only(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int n = i2d_PUBKEY(k, &der);

	if (n <= 0)
		return NULL;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, n);
	OPENSSL_free(der);
	return pub;
}

mjwt_status mjwt_key_from_pem(const char *pem, size_t len, mjwt_alg alg,
			      EVP_PKEY **out)
{
	BIO *bio = NULL;
	EVP_PKEY *k = NULL, *pub = NULL;
	mjwt_status st = MJWT_ERR_KEY;

	if (out == NULL)
		return MJWT_ERR_ARG;
	*out = NULL;
	if (pem == NULL || len == 0 || len > KEY_PEM_MAX)
		return MJWT_ERR_ARG;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return MJWT_ERR_NOMEM;
	k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (k == NULL) {
		/* Not a public key: read the same text as a private key. */
		BIO_free(bio);
		bio = BIO_new_mem_buf(pem, (int)len);
		if (bio == NULL) {
			st = MJWT_ERR_NOMEM;
			goto out;
		}
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	}
	if (k == NULL || !key_suits(k, alg))
		goto out;
	pub = public_only(k);
	if (pub == NULL)
		goto out;
	*out = pub;
	st = MJWT_OK;
out:
	/* A failed PEM attempt leaves errors queued: do not leak them on. */
	ERR_clear_error();
	EVP_PKEY_free(k);
	BIO_free(bio);
	return st;
}
