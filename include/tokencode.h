/*
 * libtokencode: one-time codes for authflow.
 *
 * HOTP (RFC 4226) and TOTP (RFC 6238) with SHA-1, SHA-256 and SHA-512,
 * RFC 4648 base32, otpauth:// URIs as authenticator apps read them, and the
 * short random numbers used for push number matching.
 *
 * Every function returns a tc_status: 0 on success, a negative value on
 * error. Nothing here aborts, exits or logs. Secrets handed in are only
 * lent; every internal copy of a secret is wiped before it is freed.
 *
 * Thread-safety: every function is re-entrant; a tc_key may be used by one
 * thread at a time (give each thread its own, or guard it).
 */
#ifndef TOKENCODE_H
#define TOKENCODE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TC_NODISCARD __attribute__((warn_unused_result))
#else
#define TC_NODISCARD
#endif

/* Status codes, names and messages come from this one list. */
#define TC_STATUS_MAP(XX)                                            \
	XX(OK, 0, "success")                                         \
	XX(ERR_ARG, -1, "invalid argument")                          \
	XX(ERR_NOMEM, -2, "out of memory")                           \
	XX(ERR_CRYPTO, -3, "cryptographic library failure")          \
	XX(ERR_RANDOM, -4, "random number generator failure")        \
	XX(ERR_BASE32_CHAR, -5, "invalid base32 character")          \
	XX(ERR_BASE32_LENGTH, -6, "invalid base32 length")           \
	XX(ERR_EMPTY_SECRET, -7, "secret is empty")                  \
	XX(ERR_SECRET_TOO_LONG, -8, "secret is too long")            \
	XX(ERR_DIGITS, -9, "digits must be 6 or 8")                  \
	XX(ERR_ALGO, -10, "unknown algorithm")                       \
	XX(ERR_STEP, -11, "step must be between 1 and 3600 seconds") \
	XX(ERR_TIME, -12, "time is before the epoch of the step")    \
	XX(ERR_WINDOW, -13, "window must be between 0 and 10 steps") \
	XX(ERR_BUFFER, -14, "output buffer too small")               \
	XX(ERR_URI, -15, "malformed otpauth URI")                    \
	XX(ERR_URI_TOO_LONG, -16, "otpauth URI too long")            \
	XX(ERR_CODE_FORMAT, -17,                                     \
	   "code must be all digits of the right length")            \
	XX(ERR_MISMATCH, -18, "code does not match")                 \
	XX(ERR_REPLAY, -19, "code was already used")

typedef enum tc_status {
#define TC_XX(name, value, text) TC_##name = (value),
	TC_STATUS_MAP(TC_XX)
#undef TC_XX
} tc_status;

/* Returns a static, never NULL, English message for a status. */
const char *tc_strerror(tc_status st);

/* Returns the status' name without prefix ("ERR_ARG"), never NULL. */
const char *tc_status_name(tc_status st);

typedef enum tc_algo {
	TC_ALGO_SHA1 = 0,
	TC_ALGO_SHA256,
	TC_ALGO_SHA512,
} tc_algo;

/* Caps on outside input. */
#define TC_SECRET_MAX	  128  /* bytes of decoded secret */
#define TC_BASE32_MAX	  256  /* characters of base32 text, spaces counted */
#define TC_URI_MAX	  2048 /* bytes of an otpauth URI */
#define TC_LABEL_MAX	  256  /* bytes of an issuer or account name */
/*
 * The most bytes (NUL included) tc_uri_build() may need: every label byte
 * percent-encoded (three each, the issuer twice: label and parameter), the
 * secret in base32, and the fixed parts. It can be more than TC_URI_MAX,
 * which is what tc_uri_parse() reads.
 */
#define TC_URI_BUILD_MAX  (9 * TC_LABEL_MAX + 2 * TC_SECRET_MAX + 128)
#define TC_CODE_BUF	  9 /* room for 8 digits and the NUL */
#define TC_STEP_DEFAULT	  30
#define TC_DIGITS_DEFAULT 6
#define TC_WINDOW_DEFAULT 1
#define TC_WINDOW_MAX	  10

/* Parses "sha1", "sha256" or "sha512" (case-insensitive). */
TC_NODISCARD tc_status tc_algo_parse(const char *name, tc_algo *out);

/* Returns "SHA1", "SHA256" or "SHA512" as otpauth URIs spell them. */
const char *tc_algo_name(tc_algo algo);

/*
 * Base32 (RFC 4648, upper-case alphabet).
 *
 * tc_base32_decode() accepts lower or upper case, ignores spaces and
 * hyphens, and accepts the input with or without '=' padding. It writes at
 * most outcap bytes and the decoded length in *outlen. Errors:
 * TC_ERR_BASE32_CHAR (a character outside the alphabet, or padding in the
 * middle), TC_ERR_BASE32_LENGTH (a length no encoder can produce, or
 * non-zero trailing bits), TC_ERR_BUFFER, TC_ERR_ARG (text longer than
 * TC_BASE32_MAX). On error nothing useful is left in out; it is wiped.
 *
 * tc_base32_encode() writes the unpadded encoding and a NUL; outcap must be
 * at least tc_base32_encoded_len(len) + 1.
 */
TC_NODISCARD tc_status tc_base32_decode(const char *text, size_t textlen,
					uint8_t *out, size_t outcap,
					size_t *outlen);
size_t tc_base32_encoded_len(size_t len);
TC_NODISCARD tc_status tc_base32_encode(const uint8_t *data, size_t len,
					char *out, size_t outcap);

/*
 * A keyed one-time-code generator. tc_key_new() copies the secret (1 to
 * TC_SECRET_MAX bytes) into a keyed HMAC context; the copy is wiped at once
 * and the context is wiped by tc_key_free(), which accepts NULL.
 */
typedef struct tc_key tc_key;

TC_NODISCARD tc_status tc_key_new(const uint8_t *secret, size_t len,
				  tc_algo algo, tc_key **out);
void tc_key_free(tc_key *key);

/* The HOTP value of a counter, as an integer below 10^digits. */
TC_NODISCARD tc_status tc_hotp(tc_key *key, uint64_t counter, unsigned digits,
			       uint32_t *code);

/* Formats a code with leading zeros into out (at least TC_CODE_BUF). */
TC_NODISCARD tc_status tc_code_format(uint32_t code, unsigned digits, char *out,
				      size_t outcap);

/* TOTP parameters; tc_totp_params_init() sets the RFC 6238 defaults. */
typedef struct tc_totp_params {
	unsigned digits; /* 6 or 8 */
	unsigned step;	 /* seconds, 1..3600 */
	int64_t t0;	 /* Unix time of step 0 */
} tc_totp_params;

void tc_totp_params_init(tc_totp_params *p);

/* The TOTP step number of a Unix time; TC_ERR_TIME before t0. */
TC_NODISCARD tc_status tc_totp_step(const tc_totp_params *p, int64_t now,
				    uint64_t *step);

/* The TOTP code at a Unix time, formatted into out. */
TC_NODISCARD tc_status tc_totp(tc_key *key, const tc_totp_params *p,
			       int64_t now, char *out, size_t outcap);

/*
 * Verifies a TOTP code against the steps now-window..now+window.
 *
 * Every step of the window is computed and compared in constant time, so
 * the time taken says nothing about which step (if any) matched. When
 * last_step is not NULL, a code whose step is not after *last_step is
 * refused with TC_ERR_REPLAY: the caller stores the returned step and
 * passes it back, so each code is accepted at most once.
 *
 * Returns TC_OK and the matched step in *matched, TC_ERR_MISMATCH,
 * TC_ERR_REPLAY, TC_ERR_CODE_FORMAT (not exactly p->digits digits), or an
 * argument error.
 */
TC_NODISCARD tc_status tc_totp_verify(tc_key *key, const tc_totp_params *p,
				      int64_t now, const char *code,
				      unsigned window,
				      const uint64_t *last_step,
				      uint64_t *matched);

/*
 * Number-matching codes: a uniformly random number with exactly `digits`
 * decimal digits and no leading zero (digits 2 gives 10..99), drawn from
 * OpenSSL's CSPRNG by rejection sampling so that no value is more likely
 * than another. digits is 1..9.
 */
TC_NODISCARD tc_status tc_match_code(unsigned digits, uint32_t *out);

/*
 * otpauth://totp/ URIs (the Key Uri Format read by authenticator apps).
 *
 * tc_uri_build() writes
 *   otpauth://totp/ISSUER:ACCOUNT?secret=B32&issuer=ISSUER&algorithm=A&
 *   digits=D&period=P
 * with the label and the issuer percent-encoded (RFC 3986 unreserved
 * characters are kept). It writes the URI's length without the NUL into
 * *outlen when outlen is not NULL.
 */
typedef struct tc_uri {
	char issuer[TC_LABEL_MAX + 1];
	char account[TC_LABEL_MAX + 1];
	uint8_t secret[TC_SECRET_MAX];
	size_t secret_len;
	tc_algo algo;
	tc_totp_params params;
} tc_uri;

TC_NODISCARD tc_status tc_uri_build(const tc_uri *uri, char *out, size_t outcap,
				    size_t *outlen);

/*
 * Parses an otpauth://totp/ URI into *uri. Unknown parameters are ignored
 * as authenticator apps do; a missing or bad secret, duplicate parameters,
 * an issuer parameter that disagrees with the label's issuer, bad digits,
 * algorithm or period, and bad percent-encoding are refused. The caller
 * wipes uri->secret with tc_uri_cleanup() when done.
 */
TC_NODISCARD tc_status tc_uri_parse(const char *text, size_t len, tc_uri *uri);
void tc_uri_cleanup(tc_uri *uri);

#ifdef __cplusplus
}
#endif

#endif /* TOKENCODE_H */
