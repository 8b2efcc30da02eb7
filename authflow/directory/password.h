/*
 * Password hashing with Argon2id (RFC 9106), as PHC strings:
 *   $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
 * with a 16-byte salt from RAND_bytes and a 32-byte hash.
 *
 * Passwords are NUL-terminated, 1..AF_PW_MAX bytes, lent and never kept
 * by these functions. What is hashed is the password's Unicode NFKC form
 * (af_pw_normalize()), as NIST SP 800-63B (5.1.1.2) advises: the same
 * password typed where keyboards, input methods or systems make other
 * code points of it (a precomposed "é", or "e" and a combining accent; a
 * full-width digit) checks alike. Memory use is bounded: a stored hash
 * asking for more than AF_PW_M_KIB_MAX is refused before libargon2 sees
 * it.
 *
 * Thread-safety: every function is re-entrant (libargon2 keeps no global
 * state; with p > 1 it starts its own threads and joins them).
 */
#ifndef AUTHFLOW_DIRECTORY_PASSWORD_H
#define AUTHFLOW_DIRECTORY_PASSWORD_H

#include <stddef.h>

#include "common/config.h"
#include "directory/directory.h"

#define AF_PW_MAX	    1024		    /* bytes of a password */
#define AF_PW_NORM_MAX	    ((size_t)4 * AF_PW_MAX) /* bytes, normalised */
#define AF_PW_PHC_MAX	    160 /* bytes of a PHC string with the NUL */
#define AF_PW_SALT_LEN	    16	/* bytes */
#define AF_PW_HASH_LEN	    32	/* bytes */
#define AF_PW_M_KIB_MAX	    AF_CONFIG_ARGON2_M_KIB_MAX
#define AF_PW_T_MAX	    AF_CONFIG_ARGON2_T_MAX
#define AF_PW_P_MAX	    AF_CONFIG_ARGON2_P_MAX
#define AF_PW_M_KIB_DEFAULT 19456 /* OWASP's first choice for Argon2id */
#define AF_PW_T_DEFAULT	    2
#define AF_PW_P_DEFAULT	    1

/* Fills params with the defaults above. */
void af_pw_params_default(af_pw_params *params);

/*
 * Checks the ranges of params. AF_DIR_OK or AF_DIR_INVALID with the
 * offending member in err.
 */
AF_DIR_NODISCARD af_dir_status af_pw_params_check(const af_pw_params *params,
						  char *err, size_t errlen);

/*
 * The form of password that is hashed, into out (outcap >=
 * AF_PW_NORM_MAX + 1, NUL-terminated; the caller wipes it): Unicode
 * NFKC of UTF-8 text; ASCII, and bytes that are not UTF-8, as they are.
 * AF_DIR_OK, AF_DIR_INVALID (length, or a form over AF_PW_NORM_MAX
 * bytes), AF_DIR_NOMEM.
 */
AF_DIR_NODISCARD af_dir_status af_pw_normalize(const char *password, char *out,
					       size_t outcap);

/*
 * Hashes password into out (outcap >= AF_PW_PHC_MAX) as a PHC string.
 * AF_DIR_OK, AF_DIR_INVALID (password length, params, outcap),
 * AF_DIR_CRYPTO (RNG or libargon2 failure, including no memory inside
 * libargon2). On failure out holds an empty string.
 */
AF_DIR_NODISCARD af_dir_status af_pw_hash(const af_pw_params *params,
					  const char *password, char *out,
					  size_t outcap);

/*
 * Checks password against a PHC string in constant time: its normalised
 * form, then, when that differs and does not match, the password as
 * typed (a hash made without normalising: then *stale, when stale is not
 * NULL, is set to 1, and the caller should hash it anew). AF_DIR_OK,
 * AF_DIR_MISMATCH, AF_DIR_INVALID (malformed or out-of-range PHC string,
 * bad password length), AF_DIR_NOMEM, AF_DIR_CRYPTO.
 */
AF_DIR_NODISCARD af_dir_status af_pw_verify(const char *phc,
					    const char *password, int *stale);

/*
 * Reads the costs of an Argon2id v=19 PHC string. AF_DIR_OK and *out, or
 * AF_DIR_INVALID (another algorithm or version, malformed, out of range).
 */
AF_DIR_NODISCARD af_dir_status af_pw_parse(const char *phc, af_pw_params *out);

/*
 * 1 when phc should be re-hashed: it is not Argon2id v=19, is malformed,
 * or its costs differ from params; else 0.
 */
int af_pw_needs_rehash(const char *phc, const af_pw_params *params);

#endif /* AUTHFLOW_DIRECTORY_PASSWORD_H */
