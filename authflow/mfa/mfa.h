/*
 * Push MFA with number matching and the token-code fallback: the data
 * model. Workflow settings, enrolled devices, enrollment codes, sign-in
 * transactions and push jobs, all in the state store. No HTTP here: the
 * browser pages (web/mfa.c), the device API (device/) and the admin API
 * call these functions.
 *
 * Store keys (the store adds its prefix):
 *   "mfa:workflow"          workflow settings JSON (af_mfa_workflow)
 *   "device:<id>"           a device JSON (see af_mfa_device_*)
 *   "user_devices:<user>"   set of the user's device ids (persistent)
 *   "enroll:<sha256 hex>"   a one-time enrollment code, 10 min TTL
 *   "txn:<id>"              a transaction JSON, TTL 10 minutes
 *   "device_txns:<device>"  volatile set of the device's transactions
 *   "totp_last:<device>"    last TOTP step accepted (replay refusal)
 *   "push_count:<user>"     the current push-limit period: {since,
 *                           period_s, n (pushes), refused}, TTL period_s
 *   "push_pause:<user>"     a pause after a report: {since, pause_s},
 *                           TTL pause_s
 *   queue "push"            push jobs (store_queue_push)
 *
 * Status: af_mfa_status below. Objects handed out are new references.
 * Thread-safety: every function is re-entrant; state is in the store.
 */
#ifndef AF_MFA_H
#define AF_MFA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/store.h"

#define AF_MFA_STATUS_MAP(XX)                                 \
	XX(OK, 0, "success")                                  \
	XX(NOT_FOUND, -1, "no such entry")                    \
	XX(INVALID, -2, "invalid input")                      \
	XX(LIMIT, -3, "limit reached")                        \
	XX(DECIDED, -4, "the transaction is already decided") \
	XX(EXPIRED, -5, "the transaction has expired")        \
	XX(FORBIDDEN, -6, "not allowed")                      \
	XX(MISMATCH, -7, "the code does not match")           \
	XX(REPLAY, -8, "the code was already used")           \
	XX(STORE, -9, "state store failure")                  \
	XX(NOMEM, -10, "out of memory")                       \
	XX(CRYPTO, -11, "cryptographic failure")

typedef enum af_mfa_status {
#define AF_MFA_XX(name, value, text) AF_MFA_##name = (value),
	AF_MFA_STATUS_MAP(AF_MFA_XX)
#undef AF_MFA_XX
} af_mfa_status;

const char *af_mfa_strerror(af_mfa_status st);

#define AF_MFA_DEVICES_MAX     5   /* enrolled devices per user */
#define AF_MFA_TXN_TTL_S       30  /* a transaction may be answered 30 s */
#define AF_MFA_TXN_KEEP_S      600 /* its record outlives its flow */
#define AF_MFA_ENROLL_TTL_S    600 /* an enrollment code lives 10 min */
#define AF_MFA_NUMBER_DIGITS   2   /* 10..99 */
#define AF_MFA_CODE_TRIES      5   /* token codes tried per flow */
#define AF_MFA_CODE_USER_TRIES 10  /* per user, see af_mfa_code_try() */
#define AF_MFA_ID_LEN	       22  /* base64url of 16 random bytes */
#define AF_MFA_ID_BUF	       48
#define AF_MFA_PUSH_TOKEN_MAX  512 /* bytes of an APNs/FCM token */
#define AF_MFA_DEVICE_NAME_MAX 64
#define AF_MFA_APP_VERSION_MAX 32

/*
 * Workflow settings (authflowctl workflow show|set):
 *   number_matching   bool, default true
 *   legacy            bool, default false: no push at all, token code only
 *   min_app_version   {"ios": "2023.2", "android": "2023.1"}, default {}
 *                     (older apps get no push and must type the code;
 *                     versions compare as dotted numbers)
 *   push_limit        {"count": 3, "period_s": 300}
 *   report_pause_s    900
 *   enroll_after_password  bool, default true: a user without a device
 *                     sees an enrollment QR after the password
 * af_mfa_workflow_get: the stored settings merged over the defaults.
 * af_mfa_workflow_set: patch (an object with any of the members above,
 * validated; AF_MFA_INVALID with "field: reason" in err).
 * Both workflows may also hold AF_MFA_PAUSE_CUTS and AF_MFA_PERIOD_CUTS,
 * which are no settings: when report_pause_s (push_limit.period_s) was
 * lowered, [[at, seconds], ...] oldest first, so that a pause (a period)
 * running then stays shortened or ended whatever the setting becomes
 * later. Cuts are dropped once nothing can outlast them, and are not
 * shown to administrators.
 */
#define AF_MFA_PAUSE_CUTS  "report_pause_cuts"
#define AF_MFA_PERIOD_CUTS "push_period_cuts"

af_mfa_status af_mfa_workflow_get(store_ctx *st, json_t **out);
af_mfa_status af_mfa_workflow_set(store_ctx *st, const json_t *patch,
				  json_t **out, char *err, size_t errlen);

/*
 * 1 when app_version (dotted numbers, e.g. "2023.2.1") is at least min
 * ("2023.2"); a missing or malformed version is below any minimum; an
 * empty or NULL min accepts everything.
 */
int af_mfa_version_at_least(const char *app_version, const char *min);

/*
 * 1 when the device (a push platform, apns or fcm) runs an app older than
 * the workflow's min_app_version for its platform (ios for apns, android
 * for fcm), so that it gets no push and no challenge until it is updated;
 * 0 otherwise (platform "none" has no minimum).
 */
int af_mfa_device_below_minimum(const json_t *device, const json_t *workflow);

/*
 * Enrollment codes. af_mfa_enroll_code_new makes a one-time code for a
 * user (16 characters of base32, 80 random bits, stored hashed with a
 * 10-minute TTL) and writes it into code (AF_MFA_ID_BUF); *expires_at
 * gets its expiry; AF_MFA_LIMIT, and no code, when the user already has
 * AF_MFA_DEVICES_MAX devices. af_mfa_enroll_code_take consumes a code
 * atomically (GETDEL): exactly one caller gets AF_MFA_OK and the user
 * name in user (128 bytes); the others AF_MFA_NOT_FOUND.
 * af_mfa_enroll_code_peek: the same answer without using the code up, so that
 * an enrollment can add the device first and take the code only once the device
 * is in (a refused enrollment burns no good code); *flags gets the code's
 * flags. af_mfa_enroll_codes_revoke: removes every code made for the user (a
 * user removed, or made again under the same name, inherits none);
 * af_mfa_enroll_codes_revoke_own: those the user made (either flag below),
 * not an administrator's, as when a phone is removed or the user signs out
 * the other browsers: what a thief's session made must not outlive it.
 */
/* A code that a password alone obtained: good for the first phone only. */
#define AF_MFA_CODE_FIRST_PHONE	  0x1u
/*
 * A code a user made for another phone, signed in with one: good only
 * while the user still has a phone (one lost and removed is replaced
 * through an administrator's code).
 */
#define AF_MFA_CODE_ANOTHER_PHONE 0x2u
af_mfa_status af_mfa_enroll_code_new(store_ctx *st, const char *username,
				     unsigned flags, char *code, size_t codecap,
				     int64_t *expires_at);
af_mfa_status af_mfa_enroll_code_take(store_ctx *st, const char *code,
				      char *user, size_t usercap);

/*
 * An enrollment code's id for the audit trail: the first 12 hex digits
 * of the SHA-256 of the code as made (a typed one is brought to that form
 * first), which tells nothing of the code, so that the event of the code
 * made (device.enroll_code) and that of the phone it enrolled
 * (device.enroll) join up: a code made at the service desk and used from
 * another address, say. "" for what is no code.
 */
#define AF_MFA_CODE_ID_BUF 13
void af_mfa_enroll_code_id(const char *code, char out[AF_MFA_CODE_ID_BUF]);
af_mfa_status af_mfa_enroll_codes_revoke(store_ctx *st, const char *username);
af_mfa_status af_mfa_enroll_codes_revoke_own(store_ctx *st,
					     const char *username);

/*
 * What a spent code enrolled, for a retry of that enrollment whose answer
 * the app never got (a network that dropped it): _note keeps the device
 * id under the code (as typed; stored hashed) for as long as a code
 * lives, _by gives it back (AF_MFA_NOT_FOUND when none, or gone).
 */
af_mfa_status af_mfa_enroll_code_spent_note(store_ctx *st, const char *code,
					    const char *device);
af_mfa_status af_mfa_enroll_code_spent_by(store_ctx *st, const char *code,
					  char *device, size_t cap);

/*
 * Counts one more enrollment code a user asks for themselves (the enroll
 * page, a sign-in without a phone): AF_MFA_OK for the first
 * AF_MFA_OWN_CODES_MAX in a code's lifetime, AF_MFA_LIMIT beyond them
 * (no code is made then, and no audit event written: a signed-in user
 * reloading the page must not be able to flood the store or the audit
 * trail), AF_MFA_STORE or AF_MFA_INVALID. Codes an administrator makes
 * are not counted.
 */
#define AF_MFA_OWN_CODES_MAX 5
af_mfa_status af_mfa_own_code_allowed(store_ctx *st, const char *username);

/*
 * af_mfa_user_enrolled_before: *yes is 1 when the user has had a device
 * since they were made (removing the device does not clear it), so that
 * a password alone is not enough to enroll a phone in place of a removed
 * one. af_mfa_user_forget: revokes the user's enrollment codes and clears
 * that mark, the count of codes they made, the push pause and the push
 * count, for a user being removed.
 */
af_mfa_status af_mfa_user_enrolled_before(store_ctx *st, const char *username,
					  int *yes);
af_mfa_status af_mfa_user_forget(store_ctx *st, const char *username);
af_mfa_status af_mfa_enroll_code_peek(store_ctx *st, const char *code,
				      char *user, size_t usercap,
				      unsigned *flags);
/*
 * af_mfa_first_phone: *yes is 1 when the user has no device and never
 * had one: what a code with AF_MFA_CODE_FIRST_PHONE needs when it is used.
 */
af_mfa_status af_mfa_first_phone(store_ctx *st, const char *username, int *yes);

/*
 * Devices. A device JSON:
 *   {id, user, platform: "apns"|"fcm"|"none", push_token (string or null),
 *    push_token_valid (bool), sandbox (bool), public_key (P-256 JWK, public
 *    members only: kty, crv, x, y), app_version, device_name,
 *    totp_secret (base32, never handed to anyone but the enrolling device
 *    and the server's own checks), created_at, last_seen}
 *
 * af_mfa_device_add: spec holds platform, push_token, sandbox, public_key,
 * app_version, device_name (validated: platform known, push token
 * printable <= AF_MFA_PUSH_TOKEN_MAX and required for apns/fcm, JWK a
 * valid P-256 point, names bounded). Makes the id and a 20-byte TOTP
 * secret; *out gets the new device (with totp_secret). AF_MFA_LIMIT when
 * the user has AF_MFA_DEVICES_MAX devices; AF_MFA_INVALID (with err) when
 * the public key is already another device's: one key, one device;
 * AF_MFA_NOT_FOUND when the device was removed before the add was done
 * (its user removed meanwhile).
 * af_mfa_device_add_pending: the same, but the record stays volatile
 * (it goes by itself within minutes) until af_mfa_device_keep(dev) keeps
 * it for good: an enrollment that spends a code adds the device first,
 * spends the code, and only then keeps it, so that one cut short (a
 * crash) leaves neither a device nobody holds nor a spent code's device.
 * af_mfa_device_keep: AF_MFA_NOT_FOUND when it was removed or went by
 * itself meanwhile.
 * af_mfa_device_get: with totp_secret. af_mfa_device_list: the user's
 * devices, sorted by created_at, WITHOUT totp_secret (for display).
 * af_mfa_device_remove: the device is gone at once (its signatures fail),
 * and the pending transactions that no other enrolled device may answer
 * are cancelled (AF_MFA_CANCEL_DEVICE_REMOVED), so that the sign-in pages
 * waiting on them say so at once instead of counting down to nothing.
 * af_mfa_device_update: patch of push_token, push_token_valid, platform,
 * sandbox, app_version, last_seen, device_name (1..AF_MFA_DEVICE_NAME_MAX
 * bytes without control characters: an administrator's rename).
 */
af_mfa_status af_mfa_device_add(store_ctx *st, const char *username,
				const json_t *spec, json_t **out, char *err,
				size_t errlen);
af_mfa_status af_mfa_device_add_pending(store_ctx *st, const char *username,
					const json_t *spec, json_t **out,
					char *err, size_t errlen);
af_mfa_status af_mfa_device_keep(store_ctx *st, const json_t *dev);
af_mfa_status af_mfa_device_get(store_ctx *st, const char *id, json_t **out);
/*
 * Wipes the TOTP secret of a device record from af_mfa_device_get() or
 * af_mfa_device_add() (a reference held by the caller alone), then drops
 * it. NULL: no-op.
 */
void af_mfa_device_free(json_t *dev);
/*
 * The hex SHA-256 of a P-256 JWK's x and y: what names a key whatever
 * device holds it. "" when the JWK has no string x and y.
 */
void af_mfa_key_hash(const json_t *jwk, char out[65]);
af_mfa_status af_mfa_device_list(store_ctx *st, const char *username,
				 json_t **out);
af_mfa_status af_mfa_device_remove(store_ctx *st, const char *id);
af_mfa_status af_mfa_device_update(store_ctx *st, const char *id,
				   const json_t *patch, char *err,
				   size_t errlen);
/*
 * A push service refused token as the device's (for platform, sandbox or
 * production): marks it dead (push_token_valid false) in one atomic step,
 * only while the device still holds that token for the same platform and
 * environment: a token the phone sent since, or the same one sent for the
 * other environment, has not been refused. *marked (may be NULL) says
 * whether it was marked. AF_MFA_OK (marked or not), AF_MFA_NOT_FOUND,
 * AF_MFA_STORE, AF_MFA_NOMEM.
 */
af_mfa_status af_mfa_device_token_refused(store_ctx *st, const char *id,
					  const char *platform,
					  const char *token, int sandbox,
					  int *marked);

/*
 * Token codes: checks a six-digit code against every device of the user
 * (RFC 6238, SHA-1, 30 s, +-1 step) at time now. Each step is accepted
 * once per device: the device's last accepted step moves forward
 * atomically (compare-and-set), so of two concurrent uses of one code
 * exactly one succeeds. AF_MFA_OK (device id into device_id, AF_MFA_ID_BUF),
 * AF_MFA_MISMATCH, AF_MFA_REPLAY, AF_MFA_NOT_FOUND (no device).
 */
af_mfa_status af_mfa_code_check(store_ctx *st, const char *username,
				const char *code, int64_t now, char *device_id,
				size_t cap);

/*
 * The user's token-code tries since a second factor last passed, counted
 * before each code is checked: counted apart from password failures,
 * which a password alone clears (and from which a browser the user signed
 * in with is kept apart), or a user who signs in with the password only,
 * and whom an application then asks for a second factor (acr_values),
 * could try codes without end. The count lasts window_s from the first
 * try (0: until cleared). *n gets the count with this try;
 * past AF_MFA_CODE_USER_TRIES no code of the user is to be checked, and
 * *left_s (may be NULL) gets how long that lasts (0: until cleared).
 * AF_MFA_OK, AF_MFA_INVALID, AF_MFA_STORE.
 */
af_mfa_status af_mfa_code_try(store_ctx *st, const char *username,
			      uint32_t window_s, int64_t *n, int64_t *left_s);

/*
 * Clears the count of af_mfa_code_try(): a second factor passed, or an
 * administrator unlocked the user. AF_MFA_OK, AF_MFA_INVALID,
 * AF_MFA_STORE.
 */
af_mfa_status af_mfa_code_tries_clear(store_ctx *st, const char *username);

/*
 * Transactions. af_mfa_txn_new makes one for a sign-in: spec holds user,
 * app (client id), app_name (display name), flow (flow id), devices
 * (array of device ids that may answer), number_matching (bool), ip
 * (optional: the client address of the sign-in, 1..64 visible
 * characters, or null) and browser (optional: what the sign-in's browser
 * is, "Firefox on Windows", 1..64 bytes without control characters, or
 * null). The
 * number (10..99 from tc_match_code) is drawn when number_matching is on.
 * created and expires (created + AF_MFA_TXN_TTL_S) come from now. State
 * "pending". Each device's pending index gets the txn. *out: the txn JSON
 * {id, user, app, app_name, flow, devices, number (int or null), state,
 * created, expires, decided_by, push: {device id: "queued"|"sent"|
 * "failed"|"token_invalid"|"not_sent"}, ip and browser (only when given)},
 * and once decided, decided_at (Unix seconds).
 * ip and browser are in the public view (the person on the phone tells
 * their own sign-in from another's by them) but in no push job.
 *
 * af_mfa_txn_get: the txn; a pending txn past its expiry is turned into
 * "expired" (atomically) before it is returned.
 *
 * af_mfa_txn_note_expiry: for an expired txn (or a pending one past its
 * expiry, which it turns "expired"), sets "expiry_noted", atomically, so
 * that of the many that may read an expiry one tells of it: AF_MFA_OK
 * and the noted txn in *out for that one, AF_MFA_DECIDED (noted before,
 * or not expired), AF_MFA_NOT_FOUND, AF_MFA_STORE.
 *
 * af_mfa_txn_sweep: notes the expiry (as af_mfa_txn_note_expiry) of
 * each txn made to expire in the second slot (Unix seconds; now > slot)
 * and calls fn with every txn whose expiry this call noted, so that a
 * push nobody looked at again is told of all the same; then forgets the
 * slot. Each txn is put in its slot when made, and kept there as long as
 * its record (AF_MFA_TXN_KEEP_S). AF_MFA_OK, or an error with the slot
 * kept to be swept again (what was noted stays noted: nothing is told
 * twice).
 *
 * af_mfa_txn_decide: one decision, atomically (CAS from the pending
 * record): decision "approve" (with number: right number -> "approved",
 * wrong -> "failed"; without number matching -> "approved"), "deny" ->
 * "denied", "report" -> "reported", "cancel" -> "cancelled" (device NULL:
 * the browser; its cancel_reason is "user"). device (may be NULL for
 * cancel) must be in the txn's devices. Returns AF_MFA_OK and the new
 * state in *out, AF_MFA_DECIDED (a decision was already made),
 * AF_MFA_EXPIRED (past the expiry: for any decision but a device's
 * report, which an expired txn still takes while its record lasts),
 * AF_MFA_FORBIDDEN (device not in the txn),
 * AF_MFA_NOT_FOUND, or AF_MFA_INVALID: among others for an approval
 * without a number (NULL or "") when the txn needs one, which decides
 * nothing and counts as no attempt: the phone asks for the number. A
 * "reported" decision cancels the user's other pending txns
 * (AF_MFA_CANCEL_REPORT) and pauses pushes to the user (see
 * af_mfa_push_check): af_mfa_txn_report_follow, which may be called again
 * for a report found stored (both steps can be repeated); AF_MFA_OK, or
 * the pause's failure.
 *
 * af_mfa_txn_pending_for_device: pending, unexpired txns the device may
 * answer, as an array (number never included).
 *
 * af_mfa_txn_recheck_devices: for a txn just made. A device removed
 * meanwhile may have looked for the txns it alone answers before this one
 * was indexed, and missed it: when none of the txn's devices is left, it
 * is cancelled (AF_MFA_CANCEL_DEVICE_REMOVED) and *txn becomes the
 * cancelled record. A txn for no device is left as it is.
 */
af_mfa_status af_mfa_txn_new(store_ctx *st, const json_t *spec, int64_t now,
			     json_t **out);
void af_mfa_txn_recheck_devices(store_ctx *st, json_t **txn, int64_t now);
af_mfa_status af_mfa_txn_get(store_ctx *st, const char *id, int64_t now,
			     json_t **out);
af_mfa_status af_mfa_txn_note_expiry(store_ctx *st, const char *id, int64_t now,
				     json_t **out);
typedef void (*af_mfa_txn_expired_fn)(const json_t *txn, void *arg);
af_mfa_status af_mfa_txn_sweep(store_ctx *st, int64_t slot, int64_t now,
			       af_mfa_txn_expired_fn fn, void *arg);
af_mfa_status af_mfa_txn_decide(store_ctx *st, const char *id,
				const char *device, const char *decision,
				const char *number, int64_t now, json_t **out);
af_mfa_status af_mfa_txn_report_follow(store_ctx *st, const json_t *txn,
				       int64_t now);
af_mfa_status af_mfa_txn_pending_for_device(store_ctx *st, const char *device,
					    int64_t now, json_t **out);

/*
 * Why a transaction was cancelled: its "cancel_reason", so that the
 * sign-in page says what happened rather than that the user cancelled.
 * Names and record values from one list.
 */
#define AF_MFA_CANCEL_MAP(XX)                                       \
	XX(NONE, "")	     /* none recorded (an older record) */  \
	XX(USER, "user")     /* the browser: Cancel, or moved on */ \
	XX(ADMIN, "admin")   /* an administrator ended sign-ins */  \
	XX(REPORT, "report") /* another push reported, not yours */ \
	XX(DEVICE_REMOVED, "device_removed") /* its only phone removed */

typedef enum af_mfa_cancel_why {
#define AF_MFA_XX(name, text) AF_MFA_CANCEL_##name,
	AF_MFA_CANCEL_MAP(AF_MFA_XX)
#undef AF_MFA_XX
} af_mfa_cancel_why;

/*
 * Cancels the pending txn id for why (not AF_MFA_CANCEL_NONE) as a
 * "cancel" decision of the browser would, recording why. Returns as
 * af_mfa_txn_decide.
 */
af_mfa_status af_mfa_txn_cancel(store_ctx *st, const char *id,
				af_mfa_cancel_why why, int64_t now,
				json_t **out);

/* Why a cancelled txn was cancelled (AF_MFA_CANCEL_NONE: not recorded). */
af_mfa_cancel_why af_mfa_txn_cancel_why(const json_t *txn);

/*
 * Cancels every pending transaction the user's phones may answer
 * (AF_MFA_CANCEL_ADMIN: an administrator ended the user's sign-ins, and a
 * push still on the phone is no longer one to answer). Best effort for
 * each transaction; AF_MFA_OK, or the error of listing the devices.
 */
af_mfa_status af_mfa_txns_cancel_user(store_ctx *st, const char *username,
				      int64_t now);

/*
 * The detail of an audit event about txn: {txn, app (its client id), and
 * where the sign-in came from, signin_ip and signin_browser, when known}.
 * New reference, or NULL.
 */
json_t *af_mfa_txn_signin_detail(const json_t *txn);

/*
 * Seconds left to answer the txn by the clock that reads now: 0 once its
 * time is over, and never more than AF_MFA_TXN_TTL_S, whatever a clock
 * set back or running behind the node that made it says. A push is over
 * at its expiry, and also while now lies more than AF_MFA_TXN_TTL_S
 * before its making.
 */
int64_t af_mfa_txn_left(const json_t *txn, int64_t now);

/*
 * The public view of a txn for a device: {txn, user, app, created_at,
 * expires_at, expires_in, number_required, number_digits, state, and ip
 * and browser when the txn has them}. Never the number.
 */
json_t *af_mfa_txn_public(const json_t *txn, int64_t now);

/*
 * Push gating. A report pauses pushes to the user for the workflow's
 * report_pause_s from the report; the push limit allows push_limit.count
 * pushes in a period of push_limit.period_s that the first of them
 * starts. Both are judged against the settings in force when a push is
 * asked for, so an administrator's change reaches pauses and periods
 * already running: a shorter (or switched off) report pause ends or
 * shortens them, a shorter period ends sooner, and a higher count lets
 * more through at once. A longer pause or period applies to pauses and
 * periods that start after the change; those running keep their end
 * (their store keys expire then), so a change never brings back a pause
 * that is over.
 *
 * af_mfa_push_check: at now, whether a push may go to the user, counting
 * it when it may: AF_MFA_OK (v->why NULL), or AF_MFA_LIMIT with v->why
 * "paused" or "limit", v->until the time pushes may go again, and
 * v->first 1 for the first push the limit refused in its period (for
 * the one audit event a period gets). workflow NULL: the stored one.
 * af_mfa_push_allowed: af_mfa_push_check at the clock's now, *why only.
 *
 * af_mfa_push_state: the same judgement without counting anything, for
 * administrators and the sign-in pages: *paused_until and *limited_until
 * get the time the pause or limit ends, or 0 when there is none now;
 * limited_until NULL asks for the pause alone (the count is not read).
 *
 * af_mfa_push_enqueue puts one job per device of the
 * txn that can take a push (platform apns/fcm, a valid push token, app
 * version at least the platform's minimum, not legacy) on queue "push":
 * {job (random id), txn, device, platform, push_token, sandbox, user,
 * app_name, expires}; never the number. Devices skipped keep "not_sent"
 * in the txn's push map, queued ones get "queued". *queued: how many.
 * devices (borrowed, may be NULL) is the user's device list as
 * af_mfa_device_list gives it: a device found there is not read again.
 */
typedef struct af_mfa_push_verdict {
	const char *why; /* NULL, "paused" or "limit" (static text) */
	int64_t until;	 /* when pushes may go again; 0 when allowed */
	int first;	 /* the period's first push refused by the limit */
} af_mfa_push_verdict;

af_mfa_status af_mfa_push_check(store_ctx *st, const char *username,
				const json_t *workflow, int64_t now,
				af_mfa_push_verdict *v);
af_mfa_status af_mfa_push_allowed(store_ctx *st, const char *username,
				  const json_t *workflow, const char **why);
af_mfa_status af_mfa_push_state(store_ctx *st, const char *username,
				const json_t *workflow, int64_t now,
				int64_t *paused_until, int64_t *limited_until);
/*
 * Lifts the user's push pause (after a report) and push count: for an
 * administrator who has checked with the user, and for a removed user.
 */
af_mfa_status af_mfa_push_reset(store_ctx *st, const char *username);

/*
 * Gives back the push af_mfa_push_allowed counted when its transaction
 * never went out (another password step of the same sign-in won).
 */
af_mfa_status af_mfa_push_unused(store_ctx *st, const char *username,
				 const json_t *workflow);
af_mfa_status af_mfa_push_enqueue(store_ctx *st, const json_t *txn,
				  const json_t *devices, const json_t *workflow,
				  size_t *queued);

/*
 * Takes the push jobs older than AF_MFA_TXN_KEEP_S off the queue, sent
 * or not: their pushes expired long before, and a job names its user,
 * device, push token and application, which are not kept past their
 * use (a job still queued then was never sent: no sender ran). *removed
 * (may be NULL): how many went.
 */
af_mfa_status af_mfa_push_trim(store_ctx *st, size_t *removed);

/* 1 when the device can get a push under workflow (see above). */
int af_mfa_device_pushable(const json_t *device, const json_t *workflow);

/*
 * Records what became of the push to one device of a txn (for pushd):
 * status is "queued", "sent", "failed", "token_invalid" or "not_sent".
 * AF_MFA_OK, AF_MFA_INVALID (unknown status), AF_MFA_NOT_FOUND (no such
 * txn, or it is gone), AF_MFA_FORBIDDEN (the device is not in the txn),
 * AF_MFA_STORE. The txn's state is not touched.
 */
af_mfa_status af_mfa_txn_push_status(store_ctx *st, const char *txn_id,
				     const char *device, const char *status);

/*
 * The record change of af_mfa_txn_push_status without the store, for a
 * caller that reads and compare-and-sets the record itself (pushd does,
 * many at once, with store_batch()): text (len bytes) is the stored txn
 * record; *out gets the new record text, to write with store_cas() from
 * text, and to free with af_mfa_text_free(). AF_MFA_OK, AF_MFA_INVALID
 * (unknown status, bad device id), AF_MFA_FORBIDDEN (the device is not in
 * the txn), AF_MFA_STORE (text is not a txn record), AF_MFA_NOMEM.
 * Thread-safety: re-entrant (no store, no shared state).
 */
af_mfa_status af_mfa_txn_push_mark(const char *text, size_t len,
				   const char *device, const char *status,
				   char **out);

/* Wipes and frees a record text from af_mfa_txn_push_mark (NULL: no-op). */
void af_mfa_text_free(char *text);

#endif /* AF_MFA_H */
