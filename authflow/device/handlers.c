/*
 * The device API's handlers: routing under /device/v1/, request
 * authentication (signature headers, clock window, device look-up,
 * signature, nonce replay), and the endpoints enroll, challenges and
 * push-token. The signature code is in sign.c, the body checks in
 * validate.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/secmem.h"
#include "common/util.h"
#include "device/device.h"
#include "directory/audit.h"
#include "directory/directory.h"
#include "directory/throttle.h"
#include "mfa/seam.h"

#define LAST_SEEN_GRAIN_S 60
#define PATH_PREFIX	  "/device/v1/"
#define ALLOW_MAX	  32
#define LOG_EVENT	  "device"
/* A device's request count (within_rate()) starts anew after this. */
#define RATE_WINDOW_MS	  60000
/* "dnonce:" <device or "key-" and a 64-hex key hash> ":" <nonce> */
#define NONCE_KEY_MAX	  (7 + 4 + 64 + 1 + AF_DEVICE_NONCE_MAX + 1)
#define ACTOR_MAX	  (7 + AF_MFA_ID_BUF)
#define USER_MAX	  128

static const struct {
	af_device_status st;
	unsigned http;
	const char *code;
} codes[] = {
#define AF_DEVICE_XX(name, value, http, code, text) \
	{AF_DEVICE_##name, (http), (code)},
	AF_DEVICE_STATUS_MAP(AF_DEVICE_XX)
#undef AF_DEVICE_XX
};

#define NCODES (sizeof(codes) / sizeof(codes[0]))

/* One request as the handlers see it; made on the heap (it is large). */
typedef struct dcall {
	af_server *srv;
	af_req *req;
	af_resp *resp;
	int64_t now;
	af_device_sig sig;
	json_t *device; /* the authenticated device, with its TOTP secret */
	json_t *body;	/* the parsed body, or NULL */
	char txn[AF_MFA_ID_BUF];
	char sigstr[AF_DEVICE_SIG_STRING_MAX];
	size_t sigstr_len;
	char err[AF_DEVICE_ERR_MAX];
} dcall;

typedef void (*dcall_fn)(dcall *c);

/* ---- answers ---------------------------------------------------------- */

static size_t code_index(af_device_status st)
{
	size_t i;

	for (i = 0; i < NCODES; i++) {
		if (codes[i].st == st)
			return i;
	}
	/* Unknown values answer as an internal error, the last entry. */
	return NCODES - 1;
}

/* {"error": code, "message": msg} (msg NULL: the status' own text). */
static void answer_error(dcall *c, af_device_status st, const char *msg)
{
	size_t i = code_index(st);
	char text[AF_DEVICE_ERR_MAX];
	json_t *o;

	/* Quoted input cut at a byte count may end mid-character. */
	snprintf(text, sizeof(text), "%s",
		 msg != NULL && msg[0] != '\0' ? msg : af_device_strerror(st));
	af_utf8_repair(text);
	o = json_pack("{s:s, s:s}", "error", codes[i].code, "message", text);
	af_resp_json(c->resp, codes[i].http, o);
}

/*
 * Refuses an unauthenticated request with st; the reason goes to the log
 * only.
 */
static void refuse_as(dcall *c, af_device_status st, const char *reason)
{
	answer_error(c, st, NULL);
	af_metrics_device_refusal(c->srv->metrics, reason);
	log_warn(c->srv->log, c->req->rid, LOG_EVENT,
		 "action=auth status=401 reason=%s device=%s ip=%s", reason,
		 c->sig.device[0] != '\0' ? c->sig.device : "-",
		 c->req->client_ip);
}

/*
 * The same answer whatever the reason, so that a caller learns nothing
 * about which check failed (the clock aside: see sig_headers()).
 */
static void refuse(dcall *c, const char *reason)
{
	refuse_as(c, AF_DEVICE_UNAUTHORIZED, reason);
}

static void store_failed(dcall *c, const char *what, const char *why)
{
	answer_error(c, AF_DEVICE_UNAVAILABLE, NULL);
	log_error(c->srv->log, c->req->rid, LOG_EVENT, "action=%s error=\"%s\"",
		  what, why);
}

/* Answers an af_mfa status that no caller expects as 503 or 500. */
static void mfa_failed(dcall *c, const char *what, af_mfa_status st)
{
	if (st == AF_MFA_STORE) {
		store_failed(c, what, af_mfa_strerror(st));
		return;
	}
	answer_error(c, AF_DEVICE_INTERNAL, NULL);
	log_error(c->srv->log, c->req->rid, LOG_EVENT, "action=%s error=\"%s\"",
		  what, af_mfa_strerror(st));
}

/* ---- authentication ----------------------------------------------------- */

static int64_t skew(int64_t now, int64_t ts)
{
	return now > ts ? now - ts : ts - now;
}

/*
 * The earliest signed time taken, by the clock that reads now (see
 * nonces_since in server.h): the second of the start, as that clock tells
 * it now, to the millisecond: now's second with the real clock's
 * millisecond (now is the real clock's but for tests), less the time run
 * since. The second before the start is never taken (its requests may
 * have gone to the process before), and a request signed after the start
 * always is, though the second has turned since.
 */
static int64_t signed_since(const af_server *srv, int64_t now)
{
	int64_t up_ms, now_ms;

	if (srv->nonces_since == 0 || srv->nonces_mono_ns == 0)
		return srv->nonces_since;
	up_ms = (int64_t)((af_mono_ns() - srv->nonces_mono_ns) / 1000000u);
	now_ms = now * 1000 + af_now_ms() % 1000;
	return (now_ms - up_ms) / 1000;
}

/* Parses the headers and checks the clock; 1, or 0 with a 401 answered. */
static int sig_headers(dcall *c, int need_device)
{
	static const char *const names[] = {"X-AF-Device", "X-AF-Timestamp",
					    "X-AF-Nonce", "X-AF-Signature"};
	const af_req *req = c->req;
	size_t i;

	/* One of each: a proxy that reads another copy sees another request. */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (af_req_header_count(req, names[i]) > 1) {
			refuse(c, "headers");
			return 0;
		}
	}
	if (af_device_sig_parse(af_req_header(req, "X-AF-Device"),
				af_req_header(req, "X-AF-Timestamp"),
				af_req_header(req, "X-AF-Nonce"),
				af_req_header(req, "X-AF-Signature"),
				need_device, &c->sig) != AF_DEVICE_OK) {
		refuse(c, "headers");
		return 0;
	}
	/*
	 * The one refusal said apart: the time is no secret (every answer
	 * has a Date header), and an app told "unauthorized" after a
	 * restart or with a wrong clock might drop an enrollment that is
	 * good.
	 */
	if (skew(c->now, c->sig.ts) > AF_DEVICE_SKEW_S ||
	    c->sig.ts < signed_since(c->srv, c->now)) {
		refuse_as(c, AF_DEVICE_CLOCK, "clock");
		return 0;
	}
	if (af_device_sig_string(req->method, req->path, req->raw_query,
				 &c->sig, req->body, req->body_len, c->sigstr,
				 sizeof(c->sigstr),
				 &c->sigstr_len) != AF_DEVICE_OK) {
		refuse(c, "target");
		return 0;
	}
	return 1;
}

/*
 * Verifies the signature under jwk; 1, or 0 with the answer made: 401
 * for a wrong signature, 400 for an unusable key when key_is_input (the
 * enroll body's key), else 401.
 */
static int sig_check(dcall *c, const json_t *jwk, int key_is_input)
{
	af_device_status st;

	/*
	 * Only enrolled devices' keys are kept: a key anyone may send with
	 * an enrollment must not push theirs out of the cache.
	 */
	st = af_device_sig_verify(key_is_input ? NULL : c->srv->device_keys,
				  jwk, c->sigstr, c->sig.sig);
	if (st == AF_DEVICE_OK)
		return 1;
	if (st == AF_DEVICE_INTERNAL) {
		answer_error(c, st, NULL);
		log_error(c->srv->log, c->req->rid, LOG_EVENT,
			  "action=verify error=\"%s\"", af_device_strerror(st));
	} else if (st == AF_DEVICE_BAD_KEY && key_is_input) {
		answer_error(c, st, NULL);
	} else {
		refuse(c, st == AF_DEVICE_BAD_KEY ? "stored_key" : "signature");
	}
	return 0;
}

/*
 * Records the nonce under who (a device id, or a key hash for enroll)
 * with SET NX, after the signature verified: a nonce seen in the last
 * AF_DEVICE_NONCE_TTL_MS is a replay. A request is inside the clock
 * window for up to 2 * AF_DEVICE_SKEW_S (+1 s of rounding) after it first
 * arrives (stamped a minute ahead, replayed a minute behind); the nonce
 * lives longer than that, also on a node whose clock runs minutes behind
 * (see device.h), so a request old enough for its nonce to be gone is
 * refused by the clock check. 1, or 0 with the answer made.
 *
 * A restart of a server on the memory store forgets its volatile nonces;
 * the clock check refuses what was stamped before the start (see
 * nonces_since in server.h). A request stamped ahead of its signing (a
 * phone whose clock runs ahead) passes that check, so the nonce of a
 * request that changes what outlives a restart (a device's push token and
 * app version) is written durable; the others act on sign-ins under
 * way and enrollment codes, which a restart ends, so a replay of one
 * finds nothing to act on.
 */
_Static_assert(AF_DEVICE_NONCE_TTL_MS > (2 * AF_DEVICE_SKEW_S + 1) * 1000,
	       "a nonce must outlive the clock window of its request");

/* The key of the request's nonce, signed by who; 0, or -1. */
static int nonce_key(const dcall *c, const char *who, char *key, size_t cap)
{
	int n = snprintf(key, cap, "dnonce:%s:%s", who, c->sig.nonce);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int nonce_record(dcall *c, const char *who, int durable, int *replay)
{
	char key[NONCE_KEY_MAX];
	store_status st;

	if (replay != NULL)
		*replay = 0;
	if (nonce_key(c, who, key, sizeof(key)) != 0) {
		refuse(c, "nonce");
		return 0;
	}
	st = store_set(c->srv->store, key, "1", 1, AF_DEVICE_NONCE_TTL_MS,
		       STORE_SET_NX | (durable ? STORE_SET_DURABLE : 0));
	if (st == STORE_EXISTS) {
		if (replay != NULL)
			*replay = 1;
		refuse(c, "replay");
		return 0;
	}
	if (st != STORE_OK) {
		store_failed(c, "nonce", store_strerror(st));
		return 0;
	}
	return 1;
}

/* Whether the request's nonce, signed by who, is kept: a replay. */
static int nonce_kept(const dcall *c, const char *who)
{
	char key[NONCE_KEY_MAX];
	uint64_t ttl;

	return nonce_key(c, who, key, sizeof(key)) == 0 &&
	       store_ttl(c->srv->store, key, &ttl) == STORE_OK;
}

/* The key of the request count of the key of owner; 0, or -1. */
static int rate_key(const char *owner, char *key, size_t cap)
{
	int n = snprintf(key, cap, "drate:%s", owner);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Takes a replayed request back out of the count within_rate() made. */
static void rate_uncount(dcall *c, const char *owner)
{
	char key[NONCE_KEY_MAX];
	store_status st;
	int64_t n = 0;

	if (c->srv->cfg.device_requests_per_minute == 0 ||
	    rate_key(owner, key, sizeof(key)) != 0)
		return;
	/* Failing, the count is one too high until its window ends. */
	st = store_incr(c->srv->store, key, -1, RATE_WINDOW_MS, &n);
	(void)st;
}

/*
 * Counts a request signed by the key of owner, in a window of a minute
 * from its first (limits.device_requests_per_minute): 1 within the limit;
 * 0 past it, with 429 and Retry-After answered, or with the store's
 * failure answered. Counted once the signature is checked, so that only
 * the device spends its own count, and before the nonce is recorded, so
 * that a flood from one phone stores one counter, not a nonce a request;
 * a replay, which the nonce then refuses, is taken back out
 * (rate_uncount()), so that one captured request spends none of it.
 */
static int within_rate(dcall *c, const char *owner)
{
	unsigned limit = c->srv->cfg.device_requests_per_minute;
	char key[NONCE_KEY_MAX], after[24];
	uint64_t left = RATE_WINDOW_MS;
	store_status st;
	int64_t n = 0;

	if (limit == 0)
		return 1;
	if (rate_key(owner, key, sizeof(key)) != 0) {
		answer_error(c, AF_DEVICE_INTERNAL, NULL);
		return 0;
	}
	st = store_incr(c->srv->store, key, 1, RATE_WINDOW_MS, &n);
	if (st != STORE_OK) {
		store_failed(c, "rate", store_strerror(st));
		return 0;
	}
	if (n <= (int64_t)limit)
		return 1;
	/*
	 * Past the limit, a replay (its nonce kept) is refused as one and
	 * taken back out, so that replays sent at once, which all pass the
	 * count before any nonce is looked at, do not keep the phone out.
	 */
	if (nonce_kept(c, owner)) {
		rate_uncount(c, owner);
		refuse(c, "replay");
		return 0;
	}
	/* Once a window: a flood is one line, not one a request. */
	if (n == (int64_t)limit + 1)
		log_warn(c->srv->log, c->req->rid, LOG_EVENT,
			 "action=rate_limited device=%s limit=%u ip=%s",
			 c->sig.device, limit, c->req->client_ip);
	if (store_ttl(c->srv->store, key, &left) != STORE_OK || left == 0)
		left = RATE_WINDOW_MS;
	(void)snprintf(after, sizeof(after), "%llu",
		       (unsigned long long)((left + 999) / 1000));
	af_resp_header_set(c->resp, "Retry-After", after);
	answer_error(c, AF_DEVICE_BUSY, NULL);
	return 0;
}

/*
 * The owner of a request's nonce: a hash of the public key that signs it
 * (an enroll request has no device yet; a key is what is proven).
 */
static void key_owner(const json_t *jwk, char *out, size_t outcap)
{
	char hex[65];
	int n;

	af_mfa_key_hash(jwk, hex);
	n = snprintf(out, outcap, "key-%s", hex);
	if (n < 0)
		out[0] = '\0';
}

/*
 * Authenticates a request from an enrolled device: headers, clock, the
 * device (unknown or removed: 401), signature, nonce (durable: see
 * nonce_record()); then notes when the device was last seen. 1 with
 * c->device set, or 0 with the answer made.
 */
static int authenticate(dcall *c, int durable)
{
	af_mfa_status ms;
	json_t *patch;
	json_int_t seen;
	char err[AF_DEVICE_ERR_MAX], owner[80];
	int replay;

	if (!sig_headers(c, 1))
		return 0;
	ms = af_mfa_device_get(c->srv->store, c->sig.device, &c->device);
	if (ms == AF_MFA_NOT_FOUND || ms == AF_MFA_INVALID) {
		refuse(c, "device");
		return 0;
	}
	if (ms != AF_MFA_OK) {
		mfa_failed(c, "device_get", ms);
		return 0;
	}
	/*
	 * Nonces are the key's, not the device id's: a request signed for
	 * one device cannot be replayed as another that holds the same key.
	 */
	key_owner(json_object_get(c->device, "public_key"), owner,
		  sizeof(owner));
	if (!sig_check(c, json_object_get(c->device, "public_key"), 0) ||
	    !within_rate(c, owner))
		return 0;
	if (!nonce_record(c, owner, durable, &replay)) {
		if (replay)
			rate_uncount(c, owner);
		return 0;
	}
	/*
	 * last_seen is for administrators, to a minute. Writing it on every
	 * request would rewrite the device record (persistent, so written to
	 * the memory store's file and fsynced) twice per sign-in.
	 */
	seen = c->now -
	       json_integer_value(json_object_get(c->device, "last_seen"));
	if (seen >= 0 && seen < LAST_SEEN_GRAIN_S)
		return 1;
	patch = json_pack("{s:I}", "last_seen", (json_int_t)c->now);
	ms = patch != NULL ? af_mfa_device_update(c->srv->store, c->sig.device,
						  patch, err, sizeof(err))
			   : AF_MFA_NOMEM;
	json_decref(patch);
	/* The request is genuine either way; a stale last_seen harms none. */
	if (ms != AF_MFA_OK)
		log_warn(c->srv->log, c->req->rid, LOG_EVENT,
			 "action=last_seen device=%s error=\"%s\"",
			 c->sig.device, af_mfa_strerror(ms));
	return 1;
}

static int is_json_type(const char *ctype)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ctype == NULL || strncasecmp(ctype, want, n) != 0)
		return 0;
	return ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ';
}

/* Parses the JSON body into c->body; 1, or 0 with a 400 answered. */
static int need_body(dcall *c)
{
	if (c->req->body != NULL && c->req->body_len > 0 &&
	    !is_json_type(af_req_header(c->req, "Content-Type"))) {
		answer_error(c, AF_DEVICE_BAD_REQUEST,
			     "the body must be application/json");
		return 0;
	}
	if (af_device_body_parse(c->req->body, c->req->body_len, &c->body,
				 c->err, sizeof(c->err)) != AF_DEVICE_OK) {
		answer_error(c, AF_DEVICE_BAD_REQUEST, c->err);
		return 0;
	}
	return 1;
}

/* ---- enroll ------------------------------------------------------------- */

/*
 * The 201 answer {device_id, totp: {...}}: the one time the TOTP secret
 * leaves the server. Made before the code is taken, so that a device is
 * never left enrolled without the phone learning of it. The text (NULL
 * when out of memory) is for af_secmem_free(); the answer shares jansson's
 * string with dev, which af_mfa_device_free() wipes.
 */
static char *enrolled_text(const json_t *dev)
{
	json_t *secret = json_object_get(dev, "totp_secret");
	const char *id = json_string_value(json_object_get(dev, "id"));
	json_t *ans = NULL;
	char *text = NULL;

	if (id != NULL && json_is_string(secret))
		ans = json_pack("{s:s, s:{s:O, s:s, s:i, s:i}}", "device_id",
				id, "totp", "secret", secret, "algorithm",
				"SHA1", "digits", 6, "period", 30);
	if (ans != NULL)
		text = json_dumps(ans, JSON_COMPACT);
	json_decref(ans);
	return text;
}

/* The error answer of af_mfa_device_add's refusal. */
static void add_failed(dcall *c, af_mfa_status ms, const char *err)
{
	if (ms == AF_MFA_LIMIT)
		answer_error(c, AF_DEVICE_LIMIT, NULL);
	/* The user was removed meanwhile, and the code with it. */
	else if (ms == AF_MFA_NOT_FOUND)
		answer_error(c, AF_DEVICE_INVALID_CODE, NULL);
	else if (ms == AF_MFA_INVALID)
		answer_error(c, AF_DEVICE_BAD_REQUEST, err);
	else
		mfa_failed(c, "device_add", ms);
}

static void audit_as(af_server *srv, const char *ip, const char *rid,
		     const char *device, const char *action, const char *user,
		     const json_t *detail)
{
	char actor[ACTOR_MAX];
	af_dir_status ds;
	int n;

	n = snprintf(actor, sizeof(actor), "device:%s", device);
	ds = n > 0 && (size_t)n < sizeof(actor)
		     ? af_audit_record_from(srv->dir, ip, rid, actor, action,
					    user, detail)
		     : AF_DIR_INVALID;
	if (ds != AF_DIR_OK)
		log_error(srv->log, rid, LOG_EVENT,
			  "action=audit audit_action=%s device=%s error=\"%s\"",
			  action, device, af_dir_strerror(ds));
}

static void audit(dcall *c, const char *device, const char *action,
		  const char *user, json_t *detail)
{
	audit_as(c->srv, c->req->client_ip, c->req->rid, device, action, user,
		 detail);
}

/*
 * The trail's event of an enrollment: which phone (its name, platform
 * and app version, as the app sent them) and whose code made it, an
 * administrator's or the user's own (after the password, or from a
 * phone already enrolled), so that a phone nobody at the service desk
 * set up stands out.
 */
static void audit_enroll(dcall *c, const char *id, const char *user,
			 const json_t *spec, unsigned flags, const char *code)
{
	const char *by = (flags & AF_MFA_CODE_FIRST_PHONE) != 0 ? "password"
			 : (flags & AF_MFA_CODE_ANOTHER_PHONE) != 0
				 ? "another_phone"
				 : "administrator";
	char code_id[AF_MFA_CODE_ID_BUF];
	json_t *detail;

	af_mfa_enroll_code_id(code, code_id);
	detail = json_pack("{s:O?, s:O?, s:O?, s:s, s:s}", "device_name",
			   json_object_get(spec, "device_name"), "platform",
			   json_object_get(spec, "platform"), "app_version",
			   json_object_get(spec, "app_version"), "code", by,
			   "code_id", code_id);

	audit(c, id, "device.enroll", user, detail);
	json_decref(detail);
}

/*
 * 1 when the user a code was made for still exists and is enabled; 0 with
 * the answer sent otherwise (*ms: why).
 */
static int user_active(dcall *c, const char *user, af_mfa_status *ms)
{
	json_t *u = NULL;
	af_dir_status st = af_dir_user_get(c->srv->dir, user, &u);
	int ok = st == AF_DIR_OK && json_is_true(json_object_get(u, "enabled"));

	json_decref(u);
	if (ok)
		return 1;
	if (st == AF_DIR_OK || st == AF_DIR_NOT_FOUND) {
		*ms = AF_MFA_NOT_FOUND;
		answer_error(c, AF_DEVICE_INVALID_CODE, NULL);
		log_warn(c->srv->log, c->req->rid, LOG_EVENT,
			 "action=enroll status=401 reason=user user=%s", user);
	} else {
		*ms = AF_MFA_STORE;
		mfa_failed(c, "enroll_user", AF_MFA_STORE);
	}
	return 0;
}

/*
 * A code the user made that may no longer be used: used up, with a warning
 * saying why (reason, error), and AF_MFA_NOT_FOUND as for a wrong code.
 */
static af_mfa_status code_spent(dcall *c, const char *code, const char *user,
				const char *reason, const char *error)
{
	char taker[USER_MAX];
	af_mfa_status ms;

	ms = af_mfa_enroll_code_take(c->srv->store, code, taker, sizeof(taker));
	if (ms != AF_MFA_OK && ms != AF_MFA_NOT_FOUND)
		return ms;
	log_warn(c->srv->log, c->req->rid, LOG_EVENT,
		 "action=enroll user=%s reason=%s error=\"%s\"", user, reason,
		 error);
	return AF_MFA_NOT_FOUND;
}

/*
 * A first-phone code (one that a password alone obtained): good while the
 * user has never had a phone, the workflow still offers enrollment after
 * the password and the user's policy still asks for the second step (an
 * administrator who changes either means it for the codes already shown
 * too). Else spent (code_spent()).
 */
static af_mfa_status first_phone_code(dcall *c, const char *code,
				      const char *user)
{
	json_t *wf = NULL;
	af_mfa_status ms;
	int first = 0, offered, asks;

	ms = af_mfa_first_phone(c->srv->store, user, &first);
	if (ms != AF_MFA_OK)
		return ms;
	if (!first)
		return code_spent(c, code, user, "has_phone",
				  "a code from a password-only sign-in, and "
				  "the user has had a phone");
	ms = af_mfa_workflow_get(c->srv->store, &wf);
	offered = json_is_true(json_object_get(wf, "enroll_after_password"));
	json_decref(wf);
	if (ms != AF_MFA_OK)
		return ms;
	if (!offered)
		return code_spent(c, code, user, "not_offered",
				  "a code from a password-only sign-in, and "
				  "the workflow no longer offers enrollment "
				  "after the password");
	asks = af_mfa_seam_policy_asks_user(c->srv, user);
	if (asks < 0)
		return AF_MFA_STORE;
	if (asks)
		return AF_MFA_OK;
	return code_spent(c, code, user, "policy",
			  "a code from a password-only sign-in, and the "
			  "user's policy no longer asks for a second step");
}

/*
 * A code the user made for another phone: good while the user still has
 * one (a lost phone removed is replaced through an administrator's code,
 * not one its finder made). Else spent (code_spent()).
 */
static af_mfa_status another_phone_code(dcall *c, const char *code,
					const char *user)
{
	json_t *list = NULL;
	af_mfa_status ms = af_mfa_device_list(c->srv->store, user, &list);
	size_t n = json_array_size(list);

	json_decref(list);
	if (ms != AF_MFA_OK || n > 0)
		return ms;
	return code_spent(c, code, user, "no_phone",
			  "a code made for another phone, and the user has "
			  "none left");
}

/* AF_MFA_OK when the user's only device is the one just enrolled. */
static af_mfa_status only_device(dcall *c, const char *user)
{
	json_t *list = NULL;
	af_mfa_status ms = af_mfa_device_list(c->srv->store, user, &list);

	if (ms == AF_MFA_OK && json_array_size(list) != 1)
		ms = AF_MFA_NOT_FOUND;
	json_decref(list);
	return ms;
}

/*
 * Records the nonce of an enroll request once its code is looked up (ms:
 * what the look-up said), before anything that changes state: the code
 * taken, a device added. A code that does not exist (wrong, used or
 * expired; codes are random and never made twice) leaves the nonce
 * unused, since such a request can never enroll, now or replayed, and a
 * flood of wrong codes then costs the store nothing. Any other request
 * records it, so that a request turned away for a reason that may pass
 * (a disabled user enabled again, a store that fails) cannot be replayed
 * later to enroll and take the TOTP secret from the answer. 1, or 0 with
 * the answer made.
 */
static int enroll_nonce(dcall *c, af_mfa_status ms, const json_t *jwk)
{
	char owner[80];

	if (ms == AF_MFA_NOT_FOUND || ms == AF_MFA_INVALID)
		return 1;
	key_owner(jwk, owner, sizeof(owner));
	return nonce_record(c, owner, 0, NULL);
}

/*
 * A retry of an enrollment that was made, its answer lost on the way (the
 * app never learnt its device id or TOTP secret): the same code, within
 * its lifetime, signed by the key of the device it enrolled, gets the
 * same answer again; the nonce is recorded, so the retry itself is no
 * replay. 1 answered (201, or a refusal), 0 when it is no such retry.
 */
static int enrolled_again(dcall *c, const char *code, const json_t *spec)
{
	char device[AF_MFA_ID_BUF], mine[65], theirs[65];
	const char *user;
	json_t *dev = NULL;
	char *text = NULL;
	af_mfa_status ms;
	int rc = 0;

	if (af_mfa_enroll_code_spent_by(c->srv->store, code, device,
					sizeof(device)) != AF_MFA_OK ||
	    af_mfa_device_get(c->srv->store, device, &dev) != AF_MFA_OK)
		goto out;
	af_mfa_key_hash(json_object_get(spec, "public_key"), mine);
	af_mfa_key_hash(json_object_get(dev, "public_key"), theirs);
	user = json_string_value(json_object_get(dev, "user"));
	if (strcmp(mine, theirs) != 0 || user == NULL)
		goto out;
	rc = 1;
	if (!enroll_nonce(c, AF_MFA_OK, json_object_get(spec, "public_key")) ||
	    !user_active(c, user, &ms))
		goto out;
	text = enrolled_text(dev);
	if (text == NULL) {
		answer_error(c, AF_DEVICE_INTERNAL, NULL);
		goto out;
	}
	af_resp_text(c->resp, 201, "application/json", text);
	log_info(c->srv->log, c->req->rid, LOG_EVENT,
		 "action=enroll device=%s user=%s status=%u retry=1", device,
		 user, c->resp->status);
out:
	af_secmem_free(text);
	af_mfa_device_free(dev);
	return rc;
}

/*
 * POST /device/v1/enroll. The code is taken (and so used up) only once
 * the body is valid, the signature proves possession of the key in it,
 * and the device store would take the device, so that a malformed,
 * forged or refused request cannot burn a good code. The code is looked
 * up before the nonce is recorded (see enroll_nonce()).
 */
static void h_enroll(dcall *c)
{
	char code[AF_DEVICE_CODE_MAX + 1];
	char user[USER_MAX], taker[USER_MAX], *text = NULL;
	json_t *spec = NULL, *dev = NULL;
	const char *id;
	af_mfa_status ms;
	unsigned flags = 0;

	code[0] = '\0';
	if (!sig_headers(c, 0) || !need_body(c))
		goto out;
	if (af_device_enroll_check(c->body, code, sizeof(code), &spec, c->err,
				   sizeof(c->err)) != AF_DEVICE_OK) {
		answer_error(c, AF_DEVICE_BAD_REQUEST, c->err);
		goto out;
	}
	if (!sig_check(c, json_object_get(spec, "public_key"), 1))
		goto out;
	/*
	 * A refusal that the code's user decides (no room for one more
	 * device, a value the device store takes not) keeps the code: the
	 * device is added first and the code taken after. When another
	 * enrollment took the code meanwhile, this device goes again, so a
	 * code never makes two devices and a 409 never spends it. The device
	 * is kept for good only once the code is spent: one cut short before
	 * (a crash) leaves a device that goes by itself and the code, never a
	 * device that nobody holds beside a code still good for another.
	 */
	ms = af_mfa_enroll_code_peek(c->srv->store, code, user, sizeof(user),
				     &flags);
	if (ms == AF_MFA_NOT_FOUND && enrolled_again(c, code, spec))
		goto out;
	if (!enroll_nonce(c, ms, json_object_get(spec, "public_key")))
		goto out;
	/* A code outlives neither its user nor the user's being enabled. */
	if (ms == AF_MFA_OK && !user_active(c, user, &ms))
		goto out;
	/* A code a password alone obtained is spent once a phone exists. */
	if (ms == AF_MFA_OK && (flags & AF_MFA_CODE_FIRST_PHONE) != 0)
		ms = first_phone_code(c, code, user);
	if (ms == AF_MFA_OK && (flags & AF_MFA_CODE_ANOTHER_PHONE) != 0)
		ms = another_phone_code(c, code, user);
	if (ms == AF_MFA_OK) {
		ms = af_mfa_device_add_pending(c->srv->store, user, spec, &dev,
					       c->err, sizeof(c->err));
		if (ms != AF_MFA_OK) {
			add_failed(c, ms, c->err);
			log_warn(c->srv->log, c->req->rid, LOG_EVENT,
				 "action=enroll user=%s status=%u "
				 "error=\"%s\"",
				 user, c->resp->status, af_mfa_strerror(ms));
			goto out;
		}
		text = enrolled_text(dev);
		ms = text != NULL
			     ? af_mfa_enroll_code_take(c->srv->store, code,
						       taker, sizeof(taker))
			     : AF_MFA_NOMEM;
		if (ms == AF_MFA_OK && strcmp(taker, user) != 0)
			ms = AF_MFA_NOT_FOUND;
		/*
		 * A first phone that is not the only one: another enrollment
		 * won the race. Both may lose it, the safe way to lose it.
		 */
		if (ms == AF_MFA_OK && (flags & AF_MFA_CODE_FIRST_PHONE) != 0)
			ms = only_device(c, user);
		if (ms == AF_MFA_OK)
			ms = af_mfa_device_keep(c->srv->store, dev);
		if (ms != AF_MFA_OK) {
			id = json_string_value(json_object_get(dev, "id"));
			if (id == NULL || af_mfa_device_remove(c->srv->store,
							       id) != AF_MFA_OK)
				log_warn(c->srv->log, c->req->rid, LOG_EVENT,
					 "action=enroll user=%s "
					 "error=\"a device without its code "
					 "could not be removed\"",
					 user);
		}
	}
	if (ms == AF_MFA_NOT_FOUND || ms == AF_MFA_INVALID) {
		answer_error(c, AF_DEVICE_INVALID_CODE, NULL);
		log_warn(c->srv->log, c->req->rid, LOG_EVENT,
			 "action=enroll status=401 reason=code ip=%s",
			 c->req->client_ip);
		goto out;
	}
	if (ms != AF_MFA_OK) {
		mfa_failed(c, "enroll_code_take", ms);
		goto out;
	}
	id = json_string_value(json_object_get(dev, "id"));
	/* A retry whose answer was lost finds it (enrolled_again()). */
	if (id != NULL &&
	    af_mfa_enroll_code_spent_note(c->srv->store, code, id) != AF_MFA_OK)
		log_warn(c->srv->log, c->req->rid, LOG_EVENT,
			 "action=enroll device=%s error=\"could not note the "
			 "code's device: a retry of this enrollment will be "
			 "refused\"",
			 id);
	/* The response keeps (and wipes when freed) a copy of its own. */
	af_resp_text(c->resp, 201, "application/json", text);
	log_info(c->srv->log, c->req->rid, LOG_EVENT,
		 "action=enroll device=%s user=%s platform=%s status=%u",
		 id != NULL ? id : "-", user,
		 json_string_value(json_object_get(spec, "platform")),
		 c->resp->status);
	if (id != NULL)
		audit_enroll(c, id, user, spec, flags, code);
out:
	OPENSSL_cleanse(code, sizeof(code));
	if (c->body != NULL)
		af_secmem_wipe_json_string(json_object_get(c->body, "code"));
	af_secmem_free(text);
	af_mfa_device_free(dev);
	json_decref(spec);
}

/* ---- challenges --------------------------------------------------------- */

/* 1 when the txn lists the device among those that may answer it. */
static int txn_has_device(const json_t *txn, const char *device)
{
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(txn, "devices"), i, v)
	{
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), device) == 0)
			return 1;
	}
	return 0;
}

/*
 * The device's view of a txn (new reference, or NULL): the public view,
 * with the number removed whatever the source held. Elements that are
 * already public views (they have "txn") are copied as they are. The
 * user's full name (display_name) is the one the txn took when it was
 * made, so showing a challenge reads no user record.
 */
static json_t *txn_view(dcall *c, const json_t *txn)
{
	json_t *v;

	if (json_object_get(txn, "txn") != NULL)
		v = json_deep_copy(txn);
	else
		v = af_mfa_txn_public(txn, c->now);
	if (v == NULL)
		return NULL;
	/* Never the number: the phone must get it from the person. */
	if (json_object_get(v, "number") != NULL &&
	    json_object_del(v, "number") != 0) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* GET /device/v1/challenges */
static void h_list(dcall *c)
{
	json_t *pending = NULL, *out = NULL, *e, *v;
	af_mfa_status ms;
	size_t i;

	ms = af_mfa_txn_pending_for_device(c->srv->store, c->sig.device, c->now,
					   &pending);
	if (ms != AF_MFA_OK) {
		mfa_failed(c, "challenges", ms);
		goto out;
	}
	out = json_array();
	if (out == NULL)
		goto nomem;
	json_array_foreach(pending, i, e)
	{
		v = txn_view(c, e);
		if (v == NULL || json_array_append_new(out, v) != 0)
			goto nomem;
	}
	af_resp_json(c->resp, 200, json_pack("{s:O}", "challenges", out));
	log_debug(c->srv->log, c->req->rid, LOG_EVENT,
		  "action=challenges device=%s count=%zu", c->sig.device,
		  json_array_size(out));
	goto out;
nomem:
	answer_error(c, AF_DEVICE_INTERNAL, "out of memory");
out:
	json_decref(out);
	json_decref(pending);
}

/*
 * The txn named in the path, if this device may see it: *out (new
 * reference) and 1, or 0 with a 404 (or a store error) answered.
 */
static int txn_load(dcall *c, json_t **out)
{
	af_mfa_status ms;

	*out = NULL;
	ms = af_mfa_txn_get(c->srv->store, c->txn, c->now, out);
	if (ms == AF_MFA_NOT_FOUND || ms == AF_MFA_INVALID ||
	    (ms == AF_MFA_OK && !txn_has_device(*out, c->sig.device))) {
		json_decref(*out);
		*out = NULL;
		answer_error(c, AF_DEVICE_NOT_FOUND, "no such challenge");
		return 0;
	}
	if (ms != AF_MFA_OK) {
		mfa_failed(c, "txn_get", ms);
		return 0;
	}
	/* Only a phone the push was for tells of its expiry. */
	af_mfa_seam_txn_seen(c->srv, c->req->rid, c->txn, c->now, *out);
	return 1;
}

/* GET /device/v1/challenges/{txn} */
static void h_show(dcall *c)
{
	json_t *txn = NULL, *v;

	if (!txn_load(c, &txn))
		return;
	v = txn_view(c, txn);
	if (v == NULL)
		answer_error(c, AF_DEVICE_INTERNAL, "out of memory");
	else
		af_resp_json(c->resp, 200, v);
	log_debug(c->srv->log, c->req->rid, LOG_EVENT,
		  "action=challenge device=%s txn=%s", c->sig.device, c->txn);
	json_decref(txn);
}

/* The state in af_mfa_txn_decide's answer (a state string or a txn). */
static const char *state_of(const json_t *v)
{
	if (json_is_string(v))
		return json_string_value(v);
	return json_string_value(json_object_get(v, "state"));
}

/* Answers a decision that was not made: 409 with the state, or 410. */
static void answer_not_decided(dcall *c, af_mfa_status ms)
{
	json_t *txn = NULL;
	const char *state = NULL;

	/* An answer too late may be what found the push expired. */
	if ((ms == AF_MFA_DECIDED || ms == AF_MFA_EXPIRED) &&
	    af_mfa_seam_txn_get(c->srv, c->req->rid, c->txn, c->now, &txn) ==
		    AF_MFA_OK)
		state = state_of(txn);
	if (ms == AF_MFA_EXPIRED ||
	    (state != NULL && strcmp(state, "expired") == 0))
		answer_error(c, AF_DEVICE_EXPIRED, NULL);
	else
		af_resp_json(c->resp, 409,
			     json_pack("{s:s, s:s, s:s}", "error", "decided",
				       "message",
				       af_device_strerror(AF_DEVICE_DECIDED),
				       "state", state != NULL ? state : ""));
	json_decref(txn);
}

/*
 * A wrong number is a wrong guess at the second factor by whoever passed
 * the password, as a wrong token code is: one failure toward the user's
 * lockout, counted against the address the sign-in came from (the
 * browser's, which the txn keeps; the phone's is the user's own), or the
 * user alone when the txn has none. A decision is made once
 * (compare-and-set), and only the request that made it comes here, so a
 * wrong number counts once.
 */
static void count_wrong_number(af_server *srv, const char *rid,
			       const char *user, const json_t *after)
{
	const char *ip = json_string_value(json_object_get(after, "ip"));

	if (af_throttle_fail_from(srv->dir, user, ip, rid, NULL) != AF_DIR_OK)
		log_warn(srv->log, rid, LOG_EVENT,
			 "action=throttle user=%s error=\"could not count a "
			 "wrong number\"",
			 user);
}

void af_device_decided(af_server *srv, const char *ip, const char *rid,
		       const char *device, const char *txn, const json_t *after)
{
	static const struct {
		const char *state, *action;
		af_mfa_outcome outcome;
	} kinds[] = {
		/*
		 * An approval is an ordinary sign-in: its log line and the
		 * metric say enough, and the trail (a ring of the newest
		 * events) stays for changes and for what needs a look.
		 */
		{"approved", NULL, AF_MFA_OUT_APPROVED},
		{"failed", "mfa.wrong_number", AF_MFA_OUT_FAILED},
		{"denied", "mfa.deny", AF_MFA_OUT_DENIED},
		{"reported", "mfa.report", AF_MFA_OUT_REPORTED},
	};
	const char *state = state_of(after);
	const char *user = json_string_value(json_object_get(after, "user"));
	json_t *detail;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (state != NULL && strcmp(state, kinds[i].state) == 0)
			break;
	}
	if (i == sizeof(kinds) / sizeof(kinds[0]) || user == NULL)
		return;
	af_metrics_mfa(srv->metrics, kinds[i].outcome);
	if (kinds[i].outcome == AF_MFA_OUT_FAILED)
		count_wrong_number(srv, rid, user, after);
	if (kinds[i].action == NULL)
		return;
	/*
	 * Where the sign-in came from, besides where the phone answered
	 * from (the event's ip): what a report is about.
	 */
	detail = af_mfa_txn_signin_detail(after);
	/* A report's pause, for the service desk that will be asked. */
	if (kinds[i].outcome == AF_MFA_OUT_REPORTED && detail != NULL) {
		int64_t paused = 0;

		if (af_mfa_push_state(srv->store, user, NULL, af_now(), &paused,
				      NULL) == AF_MFA_OK &&
		    paused > 0)
			(void)json_object_set_new(detail, "push_paused_until",
						  json_integer(paused));
	}
	audit_as(srv, ip, rid, device, kinds[i].action, user, detail);
	json_decref(detail);
	if (kinds[i].outcome == AF_MFA_OUT_REPORTED)
		log_warn(srv->log, rid, LOG_EVENT,
			 "action=report device=%s txn=%s user=%s", device, txn,
			 user);
}

af_mfa_status af_device_report_stands(af_server *srv, const char *rid,
				      const char *txn, const char *device,
				      int64_t now, json_t **res)
{
	const char *state, *by;
	af_mfa_status ms;

	*res = NULL;
	if (af_mfa_txn_get(srv->store, txn, now, res) != AF_MFA_OK)
		return AF_MFA_STORE;
	state = state_of(*res);
	by = json_string_value(json_object_get(*res, "decided_by"));
	if (state == NULL || strcmp(state, "reported") != 0 || by == NULL ||
	    strcmp(by, device) != 0 || !txn_has_device(*res, device)) {
		json_decref(*res);
		*res = NULL;
		return AF_MFA_STORE;
	}
	ms = af_mfa_txn_report_follow(srv->store, *res, now);
	if (ms != AF_MFA_OK)
		log_error(srv->log, rid, LOG_EVENT,
			  "action=report_pause txn=%s error=\"%s\"", txn,
			  af_mfa_strerror(ms));
	return AF_MFA_OK;
}

/* POST /device/v1/challenges/{txn} */
static void h_decide(dcall *c)
{
	const char *decision, *number, *user = NULL, *state;
	json_t *res = NULL;
	af_mfa_status ms;

	if (!need_body(c))
		return;
	if (af_device_decision_check(c->body, &decision, &number, c->err,
				     sizeof(c->err)) != AF_DEVICE_OK) {
		answer_error(c, AF_DEVICE_BAD_REQUEST, c->err);
		return;
	}
	/*
	 * One atomic step, which checks the device before the state: another
	 * device's txn is FORBIDDEN (404, like an unknown one), never 409.
	 */
	ms = af_mfa_txn_decide(c->srv->store, c->txn, c->sig.device, decision,
			       number, c->now, &res);
	if (ms == AF_MFA_STORE && strcmp(decision, "report") == 0)
		ms = af_device_report_stands(c->srv, c->req->rid, c->txn,
					     c->sig.device, c->now, &res);
	state = ms == AF_MFA_OK ? state_of(res) : NULL;
	if (ms == AF_MFA_OK)
		user = json_string_value(json_object_get(res, "user"));
	if (user == NULL)
		user = "-";
	if (ms == AF_MFA_OK && state != NULL)
		af_resp_json(c->resp, 200, json_pack("{s:s}", "state", state));
	else if (ms == AF_MFA_OK)
		answer_error(c, AF_DEVICE_INTERNAL, NULL);
	else if (ms == AF_MFA_DECIDED || ms == AF_MFA_EXPIRED)
		answer_not_decided(c, ms);
	else if (ms == AF_MFA_FORBIDDEN || ms == AF_MFA_NOT_FOUND)
		answer_error(c, AF_DEVICE_NOT_FOUND, "no such challenge");
	else if (ms == AF_MFA_INVALID)
		/* The body was checked: an approval that lacks the number,
		 * or one of another length than any number shown. */
		answer_error(c, AF_DEVICE_BAD_REQUEST,
			     "number: the 2 digits the sign-in page shows are "
			     "required to approve this challenge");
	else
		mfa_failed(c, "decide", ms);
	/* One line per decision; the number is never logged. */
	log_info(c->srv->log, c->req->rid, LOG_EVENT,
		 "action=decide device=%s txn=%s user=%s decision=%s state=%s "
		 "status=%u",
		 c->sig.device, c->txn, user, decision,
		 state != NULL ? state : "-", c->resp->status);
	if (state != NULL)
		af_device_decided(c->srv, c->req->client_ip, c->req->rid,
				  c->sig.device, c->txn, res);
	json_decref(res);
}

/* ---- push token --------------------------------------------------------- */

/*
 * 1 when patch sends again the very token APNs or FCM refused for this
 * device (device, as the signature check read it), for the same platform
 * and host: it stays refused, since the service would refuse it again
 * (Apple asks senders to stop using such a token). A new token, or the
 * same one for the other APNs host (a token refused as BadDeviceToken by
 * the wrong one), is worth a try.
 */
static int refused_again(const json_t *device, const json_t *patch)
{
	const char *sent =
		json_string_value(json_object_get(patch, "push_token"));
	const char *had =
		json_string_value(json_object_get(device, "push_token"));
	const json_t *platform = json_object_get(patch, "platform");
	const json_t *sandbox = json_object_get(patch, "sandbox");

	return sent != NULL && had != NULL && strcmp(sent, had) == 0 &&
	       json_is_false(json_object_get(device, "push_token_valid")) &&
	       (platform == NULL ||
		json_equal(platform, json_object_get(device, "platform"))) &&
	       (sandbox == NULL ||
		json_equal(sandbox, json_object_get(device, "sandbox")));
}

/*
 * Whether device (as the signature check read it) has a token pushes may
 * use once patch is made: a platform that takes pushes (a device of
 * platform "none" never gets one, whatever token it holds) and a token it
 * holds, not refused by APNs or FCM since it was sent (a patch without a
 * platform or token keeps the old one as it was).
 */
static int token_usable_after(const json_t *device, const json_t *patch)
{
	const json_t *valid = json_object_get(patch, "push_token_valid");
	const char *token =
		json_string_value(json_object_get(patch, "push_token"));
	const char *platform =
		json_string_value(json_object_get(patch, "platform"));

	if (platform == NULL)
		platform =
			json_string_value(json_object_get(device, "platform"));
	if (platform == NULL ||
	    (strcmp(platform, "apns") != 0 && strcmp(platform, "fcm") != 0))
		return 0;
	if (token == NULL)
		token = json_string_value(
			json_object_get(device, "push_token"));
	if (token == NULL || token[0] == '\0')
		return 0;
	if (valid != NULL)
		return json_is_true(valid);
	return !json_is_false(json_object_get(device, "push_token_valid"));
}

/* PUT /device/v1/push-token */
static void h_push_token(dcall *c)
{
	json_t *patch = NULL;
	af_device_status st;
	af_mfa_status ms;
	int still_refused;

	if (!need_body(c))
		return;
	st = af_device_push_token_check(c->body, &patch, c->err,
					sizeof(c->err));
	if (st != AF_DEVICE_OK) {
		answer_error(c, st, c->err);
		return;
	}
	still_refused = refused_again(c->device, patch);
	if (still_refused &&
	    json_object_set_new(patch, "push_token_valid", json_false()) != 0) {
		answer_error(c, AF_DEVICE_INTERNAL, NULL);
		json_decref(patch);
		return;
	}
	ms = af_mfa_device_update(c->srv->store, c->sig.device, patch, c->err,
				  sizeof(c->err));
	if (ms == AF_MFA_OK)
		af_resp_json(c->resp, 200,
			     json_pack("{s:b, s:b}", "ok", 1,
				       "push_token_valid",
				       token_usable_after(c->device, patch)));
	else if (ms == AF_MFA_INVALID)
		answer_error(c, AF_DEVICE_BAD_REQUEST, c->err);
	else if (ms == AF_MFA_NOT_FOUND)
		/* Removed between the signature check and now. */
		refuse(c, "device");
	else
		mfa_failed(c, "push_token", ms);
	log_info(c->srv->log, c->req->rid, LOG_EVENT,
		 "action=push_token device=%s status=%u", c->sig.device,
		 c->resp->status);
	json_decref(patch);
}

/* ---- routing ------------------------------------------------------------ */

/*
 * Routes: method, the path after /device/v1/, whether a {txn} segment
 * follows it, whether the device must be authenticated first (enroll
 * authenticates by the key in its body), and the handler.
 */
typedef struct route {
	const char *method;
	const char *path;
	int with_txn;
	int need_device;
	int durable_nonce; /* it changes what outlives a restart */
	dcall_fn fn;
} route;

static const route routes[] = {
	{"POST", "enroll", 0, 0, 0, h_enroll},
	{"GET", "challenges", 0, 1, 0, h_list},
	{"GET", "challenges/", 1, 1, 0, h_show},
	{"POST", "challenges/", 1, 1, 0, h_decide},
	{"PUT", "push-token", 0, 1, 1, h_push_token},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/*
 * 1 when rest matches the route's path, with the {txn} segment (1..
 * AF_MFA_ID_BUF - 1 characters of base64url, which is what a txn id is,
 * so no decoding is needed) copied into c->txn.
 */
static int path_matches(const route *r, const char *rest, dcall *c)
{
	size_t n = strlen(r->path), idlen;
	const char *id;

	if (!r->with_txn)
		return strcmp(rest, r->path) == 0;
	if (strncmp(rest, r->path, n) != 0)
		return 0;
	id = rest + n;
	idlen = strnlen(id, AF_MFA_ID_BUF);
	if (idlen == 0 || idlen >= AF_MFA_ID_BUF ||
	    !af_b64url_text_ok(id, idlen))
		return 0;
	memcpy(c->txn, id, idlen);
	c->txn[idlen] = '\0';
	return 1;
}

/* The route, or NULL with a 404 or 405 (and its Allow header) answered. */
static const route *find_route(dcall *c)
{
	const char *rest = c->req->path + strlen(PATH_PREFIX);
	char allow[ALLOW_MAX];
	size_t i, len = 0;

	allow[0] = '\0';
	for (i = 0; i < NROUTES; i++) {
		if (!path_matches(&routes[i], rest, c))
			continue;
		if (af_req_method_is(routes[i].method, c->req->method))
			return &routes[i];
		af_allow_add(allow, sizeof(allow), &len, routes[i].method);
	}
	if (len == 0) {
		answer_error(c, AF_DEVICE_NOT_FOUND, NULL);
		return NULL;
	}
	af_resp_header_set(c->resp, "Allow", allow);
	answer_error(c, AF_DEVICE_METHOD, NULL);
	return NULL;
}

void af_h_device_at(af_server *srv, af_req *req, af_resp *resp, int64_t now)
{
	/* A few KiB (the signing string): on the stack, not worth a calloc. */
	dcall call = {.srv = srv, .req = req, .resp = resp, .now = now};
	dcall *c = &call;
	const route *r;

	if (srv == NULL || req == NULL || resp == NULL)
		return;
	if (req->method == NULL || req->path == NULL ||
	    strncmp(req->path, PATH_PREFIX, strlen(PATH_PREFIX)) != 0) {
		af_resp_text(resp, 404, "application/json",
			     "{\"error\":\"not_found\","
			     "\"message\":\"no such resource\"}");
		return;
	}
	r = find_route(c);
	if (r == NULL)
		goto out;
	if (req->body_len > AF_DEVICE_BODY_MAX) {
		answer_error(c, AF_DEVICE_BAD_REQUEST, "body too large");
		goto out;
	}
	if (r->need_device && !authenticate(c, r->durable_nonce))
		goto out;
	r->fn(c);
out:
	af_mfa_device_free(c->device);
	json_decref(c->body);
	OPENSSL_cleanse(c, sizeof(*c));
}

void af_h_device(af_server *srv, af_req *req, af_resp *resp)
{
	af_h_device_at(srv, req, resp, af_now());
}
