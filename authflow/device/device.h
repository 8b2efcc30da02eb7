/*
 * The signed device API under /device/v1/ that the phone app and idsim
 * speak, as docs/device-api.md describes it for app developers:
 * enrollment, the challenges a device may answer, its decisions, and
 * push-token updates.
 *
 * Every request is signed with the device's P-256 key (ES256 over a
 * signing string bound to method, raw target, timestamp, nonce and body
 * hash). sign.c parses the signature headers, builds the signing string
 * and verifies the signature, with no I/O; handlers.c authenticates each
 * request (device look-up, clock window, signature, nonce replay) and
 * answers it; validate.c holds the pure body parsers and validators, so
 * that they can be fuzzed without a server.
 *
 * Thread-safety: every function is re-entrant; handlers run on the MHD
 * worker threads and keep their state in the request and the store.
 */
#ifndef AF_DEVICE_H
#define AF_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http/request.h"
#include "mfa/mfa.h"
#include "server.h"

#if defined(__GNUC__)
#define AF_DEVICE_NODISCARD __attribute__((warn_unused_result))
#else
#define AF_DEVICE_NODISCARD
#endif

/*
 * The module's statuses: name, value, HTTP status, error code of the JSON
 * answer, and a default message. One list, so they cannot drift apart.
 */
#define AF_DEVICE_STATUS_MAP(XX)                                             \
	XX(OK, 0, 200, "ok", "success")                                      \
	XX(BAD_REQUEST, -1, 400, "bad_request", "malformed request")         \
	XX(BAD_KEY, -2, 400, "bad_request",                                  \
	   "public_key: not a P-256 public key")                             \
	XX(UNAUTHORIZED, -3, 401, "unauthorized",                            \
	   "the request is not signed by an enrolled device")                \
	XX(INVALID_CODE, -4, 401, "invalid_code",                            \
	   "the enrollment code is wrong, used or expired")                  \
	XX(NOT_FOUND, -5, 404, "not_found", "no such resource")              \
	XX(METHOD, -6, 405, "method_not_allowed",                            \
	   "method not allowed on this resource")                            \
	XX(LIMIT, -7, 409, "limit", "the user has the most devices allowed") \
	XX(DECIDED, -8, 409, "decided", "the challenge is already decided")  \
	XX(EXPIRED, -9, 410, "expired", "the challenge has expired")         \
	XX(UNAVAILABLE, -10, 503, "unavailable",                             \
	   "the state store is unavailable")                                 \
	XX(CLOCK, -12, 401, "clock",                                         \
	   "X-AF-Timestamp is not within 60 s of the server's clock (its "   \
	   "Date header), or is from before the server started: sign the "   \
	   "request again with the time now")                                \
	XX(BUSY, -13, 429, "rate_limited",                                   \
	   "this device sent more requests in the last minute than the "     \
	   "server takes from one: wait and try again")                      \
	XX(INTERNAL, -11, 500, "server_error", "internal error")

typedef enum af_device_status {
#define AF_DEVICE_XX(name, value, http, code, text) AF_DEVICE_##name = (value),
	AF_DEVICE_STATUS_MAP(AF_DEVICE_XX)
#undef AF_DEVICE_XX
} af_device_status;

/* A static, never NULL, English message for a status. */
const char *af_device_strerror(af_device_status st);

/* Caps and windows of the protocol. */
#define AF_DEVICE_BODY_MAX	((size_t)16 * 1024) /* bytes of a body */
#define AF_DEVICE_SKEW_S	60 /* |server clock - timestamp| */
/*
 * A nonce is kept this long: more than 2 * AF_DEVICE_SKEW_S + 1 s, and
 * 10 minutes so that it also outlives the clock window of a node whose
 * clock runs behind the others by up to 8 minutes (each node judges the
 * timestamp by its own clock, the nonce lives by the store's).
 */
#define AF_DEVICE_NONCE_TTL_MS	600000
#define AF_DEVICE_NONCE_MIN	16   /* characters of base64url */
#define AF_DEVICE_NONCE_MAX	64   /* characters of base64url */
#define AF_DEVICE_TS_DIGITS_MAX 12   /* decimal digits of a timestamp */
#define AF_DEVICE_SIG_RAW	64   /* bytes of r||s */
#define AF_DEVICE_SIG_B64	86   /* its unpadded base64url length */
#define AF_DEVICE_METHOD_MAX	16   /* bytes of an HTTP method */
#define AF_DEVICE_TARGET_MAX	2048 /* bytes of path '?' query */
#define AF_DEVICE_CODE_MAX	64   /* bytes of an enrollment code */
#define AF_DEVICE_NUMBER_MAX	8    /* digits of a typed number */
#define AF_DEVICE_ERR_MAX	160  /* bytes of an error message */
#define AF_DEVICE_SIG_STRING_MAX                                  \
	(sizeof("AF-DEVICE-V1\n") + AF_DEVICE_METHOD_MAX + 1 +    \
	 AF_DEVICE_TARGET_MAX + 1 + AF_DEVICE_TS_DIGITS_MAX + 1 + \
	 AF_DEVICE_NONCE_MAX + 1 + 64)

/*
 * The four signature headers of a request, checked and copied. device is
 * empty when the request carries none (enroll).
 */
typedef struct af_device_sig {
	char device[AF_MFA_ID_BUF];
	char ts_text[AF_DEVICE_TS_DIGITS_MAX + 1];
	int64_t ts;
	char nonce[AF_DEVICE_NONCE_MAX + 1];
	char sig[AF_DEVICE_SIG_B64 + 1];
} af_device_sig;

/*
 * Parses the headers X-AF-Device (device), X-AF-Timestamp (ts),
 * X-AF-Nonce (nonce) and X-AF-Signature (sig), each a NUL-terminated
 * value or NULL when absent, into *out. device is required when
 * need_device is set, and ignored otherwise. Checks: device 1..
 * AF_MFA_ID_BUF - 1 characters of base64url; ts 1..AF_DEVICE_TS_DIGITS_MAX
 * decimal digits; nonce AF_DEVICE_NONCE_MIN..AF_DEVICE_NONCE_MAX
 * characters of base64url; sig exactly AF_DEVICE_SIG_B64 characters of
 * base64url. AF_DEVICE_OK, or AF_DEVICE_UNAUTHORIZED for any missing or
 * malformed header (*out is then zeroed).
 * Thread-safety: re-entrant.
 */
AF_DEVICE_NODISCARD af_device_status
af_device_sig_parse(const char *device, const char *ts, const char *nonce,
		    const char *sig, int need_device, af_device_sig *out);

/*
 * Builds the signing string of a request into out (outcap bytes, at most
 * AF_DEVICE_SIG_STRING_MAX needed), NUL-terminated, its length in *outlen:
 *   "AF-DEVICE-V1\n<method>\n<target>\n<ts>\n<nonce>\n<sha256 hex of body>"
 * target is the raw path, and '?' and the raw query when raw_query is not
 * NULL. body may be NULL when body_len is 0. method: 1..
 * AF_DEVICE_METHOD_MAX upper-case letters; the target: printable ASCII,
 * at most AF_DEVICE_TARGET_MAX bytes. AF_DEVICE_OK, AF_DEVICE_UNAUTHORIZED
 * (a method or target this API never signs) or AF_DEVICE_BAD_REQUEST (bad
 * arguments, out too small).
 * Thread-safety: re-entrant.
 */
AF_DEVICE_NODISCARD af_device_status af_device_sig_string(
	const char *method, const char *path, const char *raw_query,
	const af_device_sig *sig, const void *body, size_t body_len, char *out,
	size_t outcap, size_t *outlen);

/*
 * A cache of device public keys that passed the public-key check, shared
 * by the server's threads (keycache.c): at most nslots keys (1 ..
 * AF_DEVICE_KEYS_MAX), each in the slot its coordinates choose, so its
 * size is fixed when made. AF_DEVICE_OK, AF_DEVICE_BAD_REQUEST (nslots)
 * or AF_DEVICE_INTERNAL (memory). af_device_keys_free accepts NULL.
 * Thread-safety: the cache takes its own lock.
 */
typedef struct af_device_keys af_device_keys;

#define AF_DEVICE_KEYS_MAX     1048576
#define AF_DEVICE_KEYS_DEFAULT 16384

AF_DEVICE_NODISCARD af_device_status af_device_keys_new(size_t nslots,
							af_device_keys **out);
void af_device_keys_free(af_device_keys *k);

/*
 * Verifies sig_b64url (unpadded base64url of the 64-byte r||s) as an
 * ES256 signature of sigstring under pubkey_jwk (lent: {"kty": "EC",
 * "crv": "P-256", "x", "y"}, base64url coordinates of 32 bytes). A JWK
 * with a private member "d" is refused. keys (may be NULL) caches the
 * decoded and checked key for the next request of the same device.
 * Both forms of a signature, low-S and high-S, verify (see sign.c).
 * AF_DEVICE_OK, AF_DEVICE_BAD_KEY (not a P-256 public key, or a point off
 * the curve), AF_DEVICE_UNAUTHORIZED (a malformed or wrong signature),
 * AF_DEVICE_INTERNAL (OpenSSL failed to allocate).
 * Thread-safety: re-entrant.
 */
AF_DEVICE_NODISCARD af_device_status
af_device_sig_verify(af_device_keys *keys, const json_t *pubkey_jwk,
		     const char *sigstring, const char *sig_b64url);

/*
 * Body parsers and validators (validate.c): pure functions, no I/O, for
 * untrusted bodies. Each writes a one-line reason naming the member into
 * err (errlen bytes; err may be NULL) when it refuses.
 *
 * af_device_body_parse: a JSON object of at most AF_DEVICE_BODY_MAX bytes
 * (duplicate members refused) into *out (new reference). AF_DEVICE_OK or
 * AF_DEVICE_BAD_REQUEST.
 *
 * af_device_enroll_check: the enroll body. Copies the code into code
 * (codecap >= AF_DEVICE_CODE_MAX + 1; the caller wipes it) and makes *spec
 * (new reference) for af_mfa_device_add(): platform, push_token (when
 * given), sandbox, public_key (kty, crv, x, y only), app_version and
 * device_name (when given). AF_DEVICE_OK, AF_DEVICE_BAD_REQUEST,
 * AF_DEVICE_INTERNAL (out of memory).
 *
 * af_device_decision_check: the decision body. *decision and *number are
 * lent from body (*number NULL when absent). AF_DEVICE_OK or
 * AF_DEVICE_BAD_REQUEST.
 *
 * af_device_push_token_check: the push-token body, into *patch (new
 * reference) for af_mfa_device_update(): push_token, push_token_valid
 * (true), and platform, sandbox, app_version when given. AF_DEVICE_OK,
 * AF_DEVICE_BAD_REQUEST, AF_DEVICE_INTERNAL.
 *
 * Thread-safety: re-entrant.
 */
AF_DEVICE_NODISCARD af_device_status af_device_body_parse(
	const char *body, size_t len, json_t **out, char *err, size_t errlen);
AF_DEVICE_NODISCARD af_device_status
af_device_enroll_check(const json_t *body, char *code, size_t codecap,
		       json_t **spec, char *err, size_t errlen);
AF_DEVICE_NODISCARD af_device_status
af_device_decision_check(const json_t *body, const char **decision,
			 const char **number, char *err, size_t errlen);
AF_DEVICE_NODISCARD af_device_status af_device_push_token_check(
	const json_t *body, json_t **patch, char *err, size_t errlen);

/*
 * Answers one device API request: always leaves a complete JSON response
 * in resp (errors as {"error": CODE, "message": TEXT}; a request that
 * fails authentication gets 401 {"error": "unauthorized"} and changes
 * nothing). The router hands it every path starting with /device/v1/.
 * af_h_device uses the wall clock; af_h_device_at takes the time (Unix
 * seconds) from the caller, for tests. srv, req and resp are lent.
 * Thread-safety: re-entrant; runs on MHD worker threads.
 */
void af_h_device(af_server *srv, af_req *req, af_resp *resp);

/*
 * A report whose push pause could not be set is still a report: the
 * decision was stored before the pause. Called when af_mfa_txn_decide()
 * of a report by device on txn failed with AF_MFA_STORE: when the txn
 * shows it reported by that device, the pause (and the cancel of the
 * user's other sign-ins) is tried once more and a pause that failed again
 * is logged (rid), so that the phone gets its answer and the report its
 * audit event (af_device_decided()). Another device's report, met by a
 * store error before the decision (the read, the write), is not this
 * request's to tell. AF_MFA_OK with *res (the txn, new reference), or
 * AF_MFA_STORE with *res NULL.
 */
af_mfa_status af_device_report_stands(af_server *srv, const char *rid,
				      const char *txn, const char *device,
				      int64_t now, json_t **res);

/*
 * Records a decision made on transaction txn (after: the transaction as
 * the decision left it) by device: the metric, an audit event for an
 * outcome that needs a look (mfa.wrong_number, mfa.deny, mfa.report, by
 * "device:<id>" on the user; an approval has none), a warning for a
 * report, and for a wrong number one failure toward the user's lockout
 * (af_throttle_fail(), against the txn's "ip", the address of the
 * sign-in, when it has one). Call it once per decision, by the caller
 * whose af_mfa_txn_decide() made it.
 * ip, rid: the address the decision came from and the request id, for
 * the event and the log, or NULL.
 */
void af_device_decided(af_server *srv, const char *ip, const char *rid,
		       const char *device, const char *txn,
		       const json_t *after);
void af_h_device_at(af_server *srv, af_req *req, af_resp *resp, int64_t now);

#endif /* AF_DEVICE_H */
