/*
 * The state file of idsim: what a phone keeps after enrollment, as one
 * JSON object
 *
 *   {"url": "https://idp.example", "device_id": "...",
 *    "private_key": {"kty":"EC","crv":"P-256","x":..,"y":..,"d":..},
 *    "totp": {"secret": "BASE32", "algorithm": "SHA1", "digits": 6,
 *             "period": 30},
 *    "platform": "none", "push_token": "..."}
 *
 * private_key may also be a PEM string (read, never written). push_token
 * is absent when there is none.
 *
 * The file holds the device's private key and TOTP seed, so:
 * - it is written to a new file made with open(O_CREAT | O_EXCL, 0600)
 *   beside it and then renamed into place (or, for a first save, linked,
 *   which never overwrites another file), so that it is never readable by
 *   others, not even for a moment, and never half-written;
 * - it is refused on reading when it is not a regular file owned by the
 *   effective user, when its mode grants anything beyond 0600, or when it
 *   is larger than AF_IDSIM_STATE_FILE_MAX; symbolic links are not
 *   followed;
 * - every copy of its text, of the TOTP seed and of the private key this
 *   module makes is wiped before it is freed. jansson's own copies are
 *   wiped when the wiping allocator (common/secmem.h) is installed, as
 *   idsim's main() does.
 *
 * Thread-safety: an af_idsim_state belongs to one thread at a time; the
 * functions are otherwise re-entrant.
 */
#ifndef AUTHFLOW_IDSIM_STATE_H
#define AUTHFLOW_IDSIM_STATE_H

#include <stddef.h>

#include <openssl/evp.h>

#include "client.h"

#define AF_IDSIM_STATE_STATUS_MAP(XX)                                 \
	XX(OK, 0, "success")                                          \
	XX(ERR_ARG, -1, "invalid argument")                           \
	XX(ERR_NOMEM, -2, "out of memory")                            \
	XX(ERR_MISSING, -3, "no such state file")                     \
	XX(ERR_IO, -4, "cannot read or write the state file")         \
	XX(ERR_NOT_FILE, -5, "the state file is not a regular file")  \
	XX(ERR_OWNER, -6, "the state file belongs to another user")   \
	XX(ERR_MODE, -7, "the state file's mode is wider than 0600")  \
	XX(ERR_TOO_BIG, -8, "the state file is too large")            \
	XX(ERR_FORMAT, -9, "malformed state file")                    \
	XX(ERR_KEY, -10, "the state file's private key is not P-256") \
	XX(ERR_EXISTS, -11, "the state file already exists")          \
	XX(ERR_INCOMPLETE, -12, "the state is incomplete and cannot be saved")

typedef enum af_idsim_state_status {
#define AF_IDSIM_STATE_XX(name, value, text) AF_IDSIM_STATE_##name = (value),
	AF_IDSIM_STATE_STATUS_MAP(AF_IDSIM_STATE_XX)
#undef AF_IDSIM_STATE_XX
} af_idsim_state_status;

/* A static, never NULL, English message for a status. */
const char *af_idsim_state_strerror(af_idsim_state_status st);

#define AF_IDSIM_STATE_FILE_MAX	  ((size_t)64 * 1024) /* bytes of the file */
#define AF_IDSIM_STATE_FIELD_MAX  2048 /* bytes of a text member */
#define AF_IDSIM_STATE_SECRET_MAX 256  /* base32 characters of the seed */
#define AF_IDSIM_STATE_PERIOD_MAX 3600 /* seconds of a TOTP step */
#define AF_IDSIM_STATE_ERR_BUF	  256  /* a comfortable size for err */

typedef struct af_idsim_state af_idsim_state;

/* An empty state into *out. AF_IDSIM_STATE_OK, _ERR_ARG or _ERR_NOMEM. */
AF_IDSIM_NODISCARD af_idsim_state_status
af_idsim_state_new(af_idsim_state **out);

/* Wipes the seed, drops the key and frees the state. Accepts NULL. */
void af_idsim_state_free(af_idsim_state *st);

/*
 * Reads the state file at path into a new state in *out, after the checks
 * described above. On failure err (may be NULL) holds one line for a
 * human, without any secret: AF_IDSIM_STATE_ERR_MISSING, _ERR_IO,
 * _ERR_NOT_FILE (also a symbolic link), _ERR_OWNER, _ERR_MODE,
 * _ERR_TOO_BIG, _ERR_FORMAT (not JSON, or a member missing or malformed,
 * named in err), _ERR_KEY, _ERR_NOMEM or _ERR_ARG.
 */
AF_IDSIM_NODISCARD af_idsim_state_status af_idsim_state_load(
	const char *path, af_idsim_state **out, char *err, size_t errlen);

/*
 * Writes st to path as described above: replacing the file there when
 * replace is non-zero, refusing with AF_IDSIM_STATE_ERR_EXISTS when it is
 * zero and path exists. The state must have a URL, a device id, a key
 * and TOTP parameters (else AF_IDSIM_STATE_ERR_INCOMPLETE). On failure
 * the file at path is unchanged and err (may be NULL) holds one line:
 * AF_IDSIM_STATE_ERR_IO, _ERR_EXISTS, _ERR_KEY, _ERR_NOMEM or _ERR_ARG.
 */
AF_IDSIM_NODISCARD af_idsim_state_status
af_idsim_state_save(const af_idsim_state *st, const char *path, int replace,
		    char *err, size_t errlen);

/*
 * Checks, before anything is spent, that af_idsim_state_save() can write
 * a new file at path: nothing is there yet and a private file can be
 * made beside it (one is made and removed). AF_IDSIM_STATE_OK,
 * _ERR_EXISTS, _ERR_IO (err holds one line) or _ERR_NOMEM.
 */
AF_IDSIM_NODISCARD af_idsim_state_status
af_idsim_state_writable(const char *path, char *err, size_t errlen);

/*
 * Setters. Each copies its text (1..AF_IDSIM_STATE_FIELD_MAX bytes of
 * visible ASCII, except push_token, which may also be NULL for none) and
 * returns AF_IDSIM_STATE_OK, _ERR_ARG or _ERR_NOMEM; on failure st keeps
 * its earlier value. set_key takes its own reference to key (lent), which
 * must be a P-256 key pair (else AF_IDSIM_STATE_ERR_KEY).
 */
AF_IDSIM_NODISCARD af_idsim_state_status
af_idsim_state_set_url(af_idsim_state *st, const char *url);
AF_IDSIM_NODISCARD af_idsim_state_status
af_idsim_state_set_device_id(af_idsim_state *st, const char *device_id);
AF_IDSIM_NODISCARD af_idsim_state_status
af_idsim_state_set_key(af_idsim_state *st, EVP_PKEY *key);
/* Whether s is a platform the server knows: apns, fcm or none. */
int af_idsim_platform_valid(const char *s);
AF_IDSIM_NODISCARD af_idsim_state_status af_idsim_state_set_push(
	af_idsim_state *st, const char *platform, const char *push_token);

/*
 * Takes the TOTP parameters from a JSON object as the enrollment answer
 * and the state file carry them (lent): "secret" (base32, at most
 * AF_IDSIM_STATE_SECRET_MAX characters, decoding to 1..TC_SECRET_MAX
 * bytes), "algorithm" ("SHA1", "SHA256"
 * or "SHA512", any case; "SHA1" when absent), "digits" (6 or 8; 6 when
 * absent) and "period" (1..AF_IDSIM_STATE_PERIOD_MAX; 30 when absent).
 * AF_IDSIM_STATE_OK, _ERR_FORMAT (err names the member), _ERR_ARG or
 * _ERR_NOMEM.
 */
AF_IDSIM_NODISCARD af_idsim_state_status af_idsim_state_set_totp(
	af_idsim_state *st, const json_t *totp, char *err, size_t errlen);

/*
 * Getters; each lends what st owns, valid until st changes or is freed.
 * Text getters return NULL when the value was never set. The key getter
 * lends the key (take a reference with EVP_PKEY_up_ref() to keep it).
 */
const char *af_idsim_state_url(const af_idsim_state *st);
const char *af_idsim_state_device_id(const af_idsim_state *st);
EVP_PKEY *af_idsim_state_key(const af_idsim_state *st);
const char *af_idsim_state_platform(const af_idsim_state *st);
const char *af_idsim_state_push_token(const af_idsim_state *st);
/* The base32 seed: a secret; never print or log it. */
const char *af_idsim_state_totp_secret(const af_idsim_state *st);
/* "SHA1", "SHA256" or "SHA512" (upper case). */
const char *af_idsim_state_totp_algorithm(const af_idsim_state *st);
unsigned af_idsim_state_totp_digits(const af_idsim_state *st);
unsigned af_idsim_state_totp_period(const af_idsim_state *st);

#endif /* AUTHFLOW_IDSIM_STATE_H */
