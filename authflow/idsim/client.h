/*
 * The signed device API client of idsim, the command-line phone: the
 * device key (a P-256 key pair, kept as a JWK), the request signature of
 * the device API v1, and the client that sends signed JSON requests to
 * <base URL>/device/v1/... through the shared client of common/httpc.h.
 *
 * Every request carries X-AF-Timestamp, X-AF-Nonce and X-AF-Signature (and
 * X-AF-Device once the device is enrolled). The signature is ES256 (as in
 * JWS: the raw 64-byte r||s, base64url without padding) over the signing
 * string
 *
 *   AF-DEVICE-V1\n<METHOD>\n<target>\n<timestamp>\n<nonce>\n<hex sha256 body>
 *
 * where the target is the path and query exactly as sent.
 *
 * Safety rules (the shared client keeps the first):
 * - redirects are never followed (a redirect would change the signed
 *   target and could carry the request elsewhere); only http and https
 *   are spoken, and curl sends the path as is, unnormalised, so that what
 *   was signed is what is sent;
 * - connecting and the whole exchange take at most
 *   AF_IDSIM_CLIENT_TIMEOUT_S seconds each;
 * - an answer is read up to AF_IDSIM_CLIENT_ANSWER_MAX bytes, no further;
 * - every copy of the private key this module makes is wiped before it is
 *   freed.
 *
 * Thread-safety: an af_idsim_client belongs to one thread at a time (as
 * the curl easy handle of its af_httpc does). The other functions are
 * re-entrant.
 */
#ifndef AUTHFLOW_IDSIM_CLIENT_H
#define AUTHFLOW_IDSIM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/httpc.h"

#if defined(__GNUC__)
#define AF_IDSIM_NODISCARD __attribute__((warn_unused_result))
#else
#define AF_IDSIM_NODISCARD
#endif

#define AF_IDSIM_CLIENT_STATUS_MAP(XX)                               \
	XX(OK, 0, "success")                                         \
	XX(ERR_ARG, -1, "invalid argument")                          \
	XX(ERR_NOMEM, -2, "out of memory")                           \
	XX(ERR_CRYPTO, -3, "cryptographic library failure")          \
	XX(ERR_RANDOM, -4, "random number generator failure")        \
	XX(ERR_KEY, -5, "the device key is not a valid P-256 key")   \
	XX(ERR_SIGNATURE, -6, "malformed ECDSA P-256 signature")     \
	XX(ERR_URL, -7,                                              \
	   "the server URL must be http:// or https:// followed by " \
	   "a host, without a user, spaces, '?' or '#'")             \
	XX(ERR_TOO_LONG, -8, "request too long")                     \
	XX(ERR_UNREACHABLE, -9, "cannot reach the server")           \
	XX(ERR_TOO_BIG, -10, "the server's answer is too large")     \
	XX(ERR_CURL, -11, "HTTP client failure")                     \
	XX(ERR_PLAIN, -12,                                           \
	   "http:// would send the enrollment code and the phone's " \
	   "secrets in clear text to another host: use https:// "    \
	   "(http:// only to this host: 127.0.0.1, [::1] or "        \
	   "localhost)")                                             \
	XX(ERR_CA_FILE, -13,                                         \
	   "AUTHFLOW_CA_FILE must name a readable file (PEM "        \
	   "certificates of the CAs to trust)")

typedef enum af_idsim_client_status {
#define AF_IDSIM_CLIENT_XX(name, value, text) AF_IDSIM_CLIENT_##name = (value),
	AF_IDSIM_CLIENT_STATUS_MAP(AF_IDSIM_CLIENT_XX)
#undef AF_IDSIM_CLIENT_XX
} af_idsim_client_status;

/* A static, never NULL, English message for a status. */
const char *af_idsim_client_strerror(af_idsim_client_status st);

#define AF_IDSIM_CLIENT_URL_MAX	   AF_HTTPC_URL_MAX /* bytes of the base URL */
#define AF_IDSIM_CLIENT_TARGET_MAX 4096 /* bytes of a request target */
#define AF_IDSIM_CLIENT_BODY_MAX   ((size_t)16 * 1024)	 /* request body */
#define AF_IDSIM_CLIENT_ANSWER_MAX ((size_t)1024 * 1024) /* answer bytes */
#define AF_IDSIM_CLIENT_DEVICE_MAX 256 /* bytes of a device id */
#define AF_IDSIM_CLIENT_TIMEOUT_S  10L
#define AF_IDSIM_NONCE_BYTES	   18 /* random bytes of a nonce */
#define AF_IDSIM_SIG_RAW_LEN	   64 /* r||s, 32 bytes each */
#define AF_IDSIM_SIG_B64_BUF	   87 /* base64url of 64 bytes and a NUL */
#define AF_IDSIM_COORD_LEN	   32 /* bytes of a P-256 coordinate */
#define AF_IDSIM_SIGNING_MAGIC	   "AF-DEVICE-V1"

/*
 * Makes a new P-256 key pair (EVP_EC_gen("P-256")) into *out; the caller
 * frees it with EVP_PKEY_free(), which wipes the private scalar.
 * AF_IDSIM_CLIENT_OK, AF_IDSIM_CLIENT_ERR_ARG or AF_IDSIM_CLIENT_ERR_CRYPTO.
 */
AF_IDSIM_NODISCARD af_idsim_client_status af_idsim_key_generate(EVP_PKEY **out);

/*
 * The key as a JWK object {"kty":"EC","crv":"P-256","x":..,"y":..} with
 * "d" as well when with_private is non-zero; a new reference in *out.
 * The caller owns that object; jansson's copy of "d" is wiped when it is
 * freed only under the wiping allocator (common/secmem.h), which idsim's
 * main() installs. AF_IDSIM_CLIENT_OK, AF_IDSIM_CLIENT_ERR_ARG,
 * AF_IDSIM_CLIENT_ERR_KEY (not a P-256 key, or no private part asked
 * for), AF_IDSIM_CLIENT_ERR_NOMEM or AF_IDSIM_CLIENT_ERR_CRYPTO.
 */
AF_IDSIM_NODISCARD af_idsim_client_status af_idsim_key_to_jwk(EVP_PKEY *key,
							      int with_private,
							      json_t **out);

/*
 * A P-256 key pair from a private JWK (lent; "kty" "EC", "crv" "P-256",
 * "x", "y" and "d", each 32 bytes of base64url). The public point must
 * belong to d. *out is freed with EVP_PKEY_free(). The decoded private
 * bytes are wiped before returning. AF_IDSIM_CLIENT_OK,
 * AF_IDSIM_CLIENT_ERR_ARG, AF_IDSIM_CLIENT_ERR_KEY or
 * AF_IDSIM_CLIENT_ERR_NOMEM.
 */
AF_IDSIM_NODISCARD af_idsim_client_status
af_idsim_key_from_jwk(const json_t *jwk, EVP_PKEY **out);

/*
 * Writes the signing string of a request into out (cap bytes, NUL
 * included) and its length, without the NUL, into *outlen (may be NULL).
 * method is upper-case letters; target starts with '/' and is visible
 * ASCII; nonce is 16..64 base64url characters; body (may be NULL when
 * bodylen is 0) is hashed with SHA-256. AF_IDSIM_CLIENT_OK,
 * AF_IDSIM_CLIENT_ERR_ARG (a field that could break the line structure)
 * or AF_IDSIM_CLIENT_ERR_TOO_LONG (out too small).
 */
AF_IDSIM_NODISCARD af_idsim_client_status
af_idsim_signing_string(const char *method, const char *target,
			int64_t timestamp, const char *nonce, const void *body,
			size_t bodylen, char *out, size_t cap, size_t *outlen);

/*
 * Converts a DER ECDSA signature to the raw form r||s, each value
 * big-endian and left-padded to 32 bytes. AF_IDSIM_CLIENT_OK,
 * AF_IDSIM_CLIENT_ERR_ARG or AF_IDSIM_CLIENT_ERR_SIGNATURE (not DER, bytes
 * left over, or a value longer than 32 bytes).
 */
AF_IDSIM_NODISCARD af_idsim_client_status af_idsim_sig_der_to_raw(
	const uint8_t *der, size_t len, uint8_t raw[AF_IDSIM_SIG_RAW_LEN]);

/*
 * Signs msg with ECDSA P-256 over SHA-256 and writes the raw r||s,
 * base64url without padding, and a NUL into out (AF_IDSIM_SIG_B64_BUF
 * bytes or more). AF_IDSIM_CLIENT_OK, AF_IDSIM_CLIENT_ERR_ARG,
 * AF_IDSIM_CLIENT_ERR_KEY, AF_IDSIM_CLIENT_ERR_CRYPTO or
 * AF_IDSIM_CLIENT_ERR_SIGNATURE.
 */
AF_IDSIM_NODISCARD af_idsim_client_status af_idsim_sign(EVP_PKEY *key,
							const void *msg,
							size_t len, char *out,
							size_t cap);

typedef struct af_idsim_client af_idsim_client;

/*
 * Makes a client for the server at base_url ("http://host:port" or
 * "https://...", optionally with a path prefix; trailing slashes are
 * dropped) that signs with key (lent: the client takes its own reference
 * and drops it in af_idsim_client_free()). device_id (may be NULL before
 * enrollment, then no X-AF-Device is sent) is copied; it must be 1 to
 * AF_IDSIM_CLIENT_DEVICE_MAX bytes of visible ASCII. AF_IDSIM_CLIENT_OK and
 * *out, AF_IDSIM_CLIENT_ERR_ARG, AF_IDSIM_CLIENT_ERR_URL,
 * AF_IDSIM_CLIENT_ERR_PLAIN (http:// to another host),
 * AF_IDSIM_CLIENT_ERR_NOMEM or AF_IDSIM_CLIENT_ERR_CURL.
 */
AF_IDSIM_NODISCARD af_idsim_client_status
af_idsim_client_new(const char *base_url, EVP_PKEY *key, const char *device_id,
		    af_idsim_client **out);

/* Drops the key reference and frees the client. Accepts NULL. */
void af_idsim_client_free(af_idsim_client *c);

/*
 * Sends a signed request: method ("GET", "POST" or "PUT") to
 * <base URL><target>, where target starts with "/device/v1/" and holds
 * only RFC 3986 unreserved characters, '/', '?', '=' and '&' (nothing
 * that curl or a server would re-encode). body (lent; may be NULL) is
 * sent as compact JSON with POST and PUT, which send "{}" when it is
 * NULL; GET sends none. A device's request answered 401 is signed anew
 * and sent once more (a refused request changes nothing on the server).
 * On AF_IDSIM_CLIENT_OK, *status is the HTTP status
 * and *answer the parsed JSON answer (a new reference), or NULL when it
 * was empty or not JSON. Otherwise err (may be NULL) holds one line for a
 * human: AF_IDSIM_CLIENT_ERR_UNREACHABLE (connect, TLS, timeout or
 * protocol failure), AF_IDSIM_CLIENT_ERR_TOO_BIG,
 * AF_IDSIM_CLIENT_ERR_TOO_LONG (target or body over its cap),
 * AF_IDSIM_CLIENT_ERR_ARG, AF_IDSIM_CLIENT_ERR_NOMEM,
 * AF_IDSIM_CLIENT_ERR_RANDOM, AF_IDSIM_CLIENT_ERR_CRYPTO or
 * AF_IDSIM_CLIENT_ERR_CURL.
 */
AF_IDSIM_NODISCARD af_idsim_client_status
af_idsim_client_request(af_idsim_client *c, const char *method,
			const char *target, const json_t *body, long *status,
			json_t **answer, char *err, size_t errlen);

#endif /* AUTHFLOW_IDSIM_CLIENT_H */
