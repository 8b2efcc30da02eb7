/*
 * JWT checks for the push mocks: the compact JWS structure, the "alg"
 * header, and the signature (ES256 for APNs provider tokens, RS256 for
 * Google service-account assertions) under a public key given by the test.
 * Claims are handed back as JSON for each mock to judge as its service
 * does. Everything here reads untrusted input and stays inside
 * MOCK_JWT_MAX.
 *
 * Thread-safety: all functions are re-entrant; an EVP_PKEY may be shared
 * for verification by several threads.
 */
#ifndef MOCK_JWT_H
#define MOCK_JWT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/util.h"

#define MJWT_STATUS_MAP(XX)                         \
	XX(OK, 0, "success")                        \
	XX(ERR_ARG, -1, "invalid argument")         \
	XX(ERR_NOMEM, -2, "out of memory")          \
	XX(ERR_TOO_BIG, -3, "JWT too large")        \
	XX(ERR_MALFORMED, -4, "malformed JWT")      \
	XX(ERR_ALG, -5, "unexpected JWT algorithm") \
	XX(ERR_SIGNATURE, -6, "bad JWT signature")  \
	XX(ERR_KEY, -7, "unusable key")

typedef enum mjwt_status {
#define MJWT_XX(name, value, text) MJWT_##name = (value),
	MJWT_STATUS_MAP(MJWT_XX)
#undef MJWT_XX
} mjwt_status;

/* A static, never NULL message. Thread-safety: re-entrant. */
const char *mjwt_strerror(mjwt_status st);

/* Longest JWT looked at; longer ones are refused before any decoding. */
#define MOCK_JWT_MAX ((size_t)8 * 1024)

typedef enum mjwt_alg {
	MJWT_ES256, /* ECDSA P-256 with SHA-256, raw r||s signature */
	MJWT_RS256, /* RSASSA-PKCS1-v1_5 with SHA-256 */
} mjwt_alg;

/*
 * Verifies the compact JWS jwt (len bytes, no NUL needed): three
 * base64url parts, a JSON object header whose "alg" names alg, a JSON
 * object payload, and a signature over "header.payload" by key. On
 * success *header and *claims are new references (json_decref() them);
 * on failure both are NULL.
 *
 * Returns MJWT_OK, MJWT_ERR_ARG, MJWT_ERR_NOMEM, MJWT_ERR_TOO_BIG,
 * MJWT_ERR_MALFORMED, MJWT_ERR_ALG or MJWT_ERR_SIGNATURE.
 */
AF_NODISCARD mjwt_status mjwt_verify(const char *jwt, size_t len, mjwt_alg alg,
				     EVP_PKEY *key, json_t **header,
				     json_t **claims);

/*
 * Reads a public key from PEM text: a SubjectPublicKeyInfo ("PUBLIC
 * KEY"), or a private key (PKCS#8 or traditional) whose public half is
 * kept and whose private half is dropped at once. The key must suit alg
 * (P-256 for ES256, RSA of 2048 bits or more for RS256). On success *out
 * is a public-only key (EVP_PKEY_free() it).
 *
 * Returns MJWT_OK, MJWT_ERR_ARG, MJWT_ERR_NOMEM or MJWT_ERR_KEY.
 */
AF_NODISCARD mjwt_status mjwt_key_from_pem(const char *pem, size_t len,
					   mjwt_alg alg, EVP_PKEY **out);

#endif /* MOCK_JWT_H */
