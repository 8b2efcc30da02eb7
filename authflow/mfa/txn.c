/*
 * Sign-in transactions and push jobs (push gating is in gate.c).
 *
 * A transaction is one JSON record under "txn:<id>" that lives
 * AF_MFA_TXN_KEEP_S, so the login page can still read the outcome after
 * the AF_MFA_TXN_TTL_S answering window. Every state change is a
 * compare-and-set from the exact text that was read, so a decision is
 * made once: of concurrent answers one wins, and the others read the
 * decided record when they retry. Expiry is judged by the caller's clock
 * (now), never by the store's TTL, so all nodes agree with the clock
 * that made the record, and tests can move time.
 *
 * The number lives only in the record: the public view for phones and the
 * push jobs never carry it, because the point of number matching is that
 * the number is seen only on the login page.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "mfa/mfa.h"
#include "mfa/mfa_internal.h"
#include "tokencode.h"

#define PUSH_QUEUE	 "push"
/* Transactions listed from one device's index at most. */
#define DEVICE_TXNS_SCAN 64
/* A typed number: AF_MFA_NUMBER_DIGITS digits; more is wrong anyway. */
#define NUMBER_TEXT_MAX	 16
#define STATE_PENDING	 "pending"
#define STATE_EXPIRED	 "expired"
#define STATE_CANCELLED	 "cancelled"

static af_mfa_status txn_key(char *key, size_t cap, const char *id)
{
	if (!af_mfa__id_ok(id))
		return AF_MFA_NOT_FOUND;
	return af_mfa__key(key, cap, "txn:", id);
}

static const char *txn_state(const json_t *txn)
{
	const char *s = json_string_value(json_object_get(txn, "state"));

	return s != NULL ? s : "";
}

static json_int_t txn_expires(const json_t *txn)
{
	return json_integer_value(json_object_get(txn, "expires"));
}

/*
 * Whether the time to answer is over by the clock that reads now: at its
 * expiry, and also while now lies more than AF_MFA_TXN_TTL_S before its
 * making. That clock was set back since, or runs behind the node that
 * made it by more than the push's whole time; judged by expiry alone the
 * push would stay open 30 s longer for each second of that.
 */
static bool txn_over(const json_t *txn, int64_t now)
{
	return now >= txn_expires(txn) ||
	       now < json_integer_value(json_object_get(txn, "created")) -
			       AF_MFA_TXN_TTL_S;
}

int64_t af_mfa_txn_left(const json_t *txn, int64_t now)
{
	int64_t left = (int64_t)txn_expires(txn) - now;

	if (txn_over(txn, now) || left < 0)
		return 0;
	return left < AF_MFA_TXN_TTL_S ? left : AF_MFA_TXN_TTL_S;
}

static bool pending_expired(const json_t *txn, int64_t now)
{
	return strcmp(txn_state(txn), STATE_PENDING) == 0 && txn_over(txn, now);
}

/* --- making a transaction ------------------------------------------------- */

typedef struct txn_spec {
	const char *user;
	const char *app;
	const char *app_name;
	const char *flow;
	const char *ip;		  /* NULL when not known */
	const char *browser;	  /* NULL when not known */
	const char *display_name; /* the user's full name; NULL: none */
	const json_t *devices;
	bool number_matching;
} txn_spec;

/* A spec's "ip": absent, null, or 1..AF_MFA__IP_MAX visible characters. */
static bool ip_ok(const json_t *ip)
{
	if (ip == NULL || json_is_null(ip))
		return true;
	return af_mfa__token_ok(json_string_value(ip), AF_MFA__IP_MAX);
}

/* A spec's "browser": absent, null, or 1..AF_MFA__UA_MAX of text. */
static bool browser_ok(const json_t *b)
{
	const char *s = json_string_value(b);

	if (b == NULL || json_is_null(b))
		return true;
	return s != NULL && s[0] != '\0' && af_mfa__text_ok(s, AF_MFA__UA_MAX);
}

/* A spec's "display_name": absent, null, or 1..AF_MFA__NAME_MAX of text. */
static bool display_ok(const json_t *n)
{
	const char *s = json_string_value(n);

	if (n == NULL || json_is_null(n))
		return true;
	return s != NULL && s[0] != '\0' &&
	       af_mfa__text_ok(s, AF_MFA__NAME_MAX);
}

static af_mfa_status spec_check(const json_t *spec, txn_spec *ts)
{
	const json_t *nm = json_object_get(spec, "number_matching");
	const json_t *v;
	size_t i;

	ts->user = json_string_value(json_object_get(spec, "user"));
	ts->app = json_string_value(json_object_get(spec, "app"));
	ts->app_name = json_string_value(json_object_get(spec, "app_name"));
	ts->flow = json_string_value(json_object_get(spec, "flow"));
	ts->ip = json_string_value(json_object_get(spec, "ip"));
	ts->browser = json_string_value(json_object_get(spec, "browser"));
	ts->display_name =
		json_string_value(json_object_get(spec, "display_name"));
	ts->devices = json_object_get(spec, "devices");
	if (!af_mfa__user_ok(ts->user) ||
	    !af_mfa__text_ok(ts->app, AF_MFA__APP_MAX) ||
	    !af_mfa__text_ok(ts->app_name, AF_MFA__APP_MAX) ||
	    !af_mfa__text_ok(ts->flow, AF_MFA__FLOW_MAX) ||
	    !ip_ok(json_object_get(spec, "ip")) ||
	    !browser_ok(json_object_get(spec, "browser")) ||
	    !display_ok(json_object_get(spec, "display_name")) ||
	    !json_is_array(ts->devices) ||
	    json_array_size(ts->devices) > AF_MFA_DEVICES_MAX ||
	    (nm != NULL && !json_is_boolean(nm)))
		return AF_MFA_INVALID;
	json_array_foreach(ts->devices, i, v)
	{
		if (!af_mfa__id_ok(json_string_value(v)))
			return AF_MFA_INVALID;
	}
	/* Number matching is the safe default when nobody says otherwise. */
	ts->number_matching = nm == NULL || json_is_true(nm);
	return AF_MFA_OK;
}

static json_t *txn_record(const char *id, const txn_spec *ts, uint32_t number,
			  int64_t now)
{
	json_t *push = json_object(), *v, *txn;
	size_t i;

	json_array_foreach(ts->devices, i, v)
	{
		if (push != NULL &&
		    json_object_set_new(push, json_string_value(v),
					json_string("not_sent")) != 0) {
			json_decref(push);
			push = NULL;
		}
	}
	if (push == NULL)
		return NULL;
	txn = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:I, s:I, "
		"s:n, s:o}",
		"id", id, "user", ts->user, "app", ts->app, "app_name",
		ts->app_name, "flow", ts->flow, "devices",
		json_deep_copy(ts->devices), "number",
		ts->number_matching ? json_integer(number) : json_null(),
		"state", STATE_PENDING, "created", (json_int_t)now, "expires",
		(json_int_t)now + AF_MFA_TXN_TTL_S, "decided_by", "push", push);
	/*
	 * Where the sign-in came from and with what: for the brute-force
	 * count of a wrong number, and for the phone to show.
	 */
	if (txn != NULL &&
	    ((ts->ip != NULL &&
	      json_object_set_new(txn, "ip", json_string(ts->ip)) != 0) ||
	     (ts->browser != NULL &&
	      json_object_set_new(txn, "browser", json_string(ts->browser)) !=
		      0) ||
	     (ts->display_name != NULL &&
	      json_object_set_new(txn, "display_name",
				  json_string(ts->display_name)) != 0))) {
		json_decref(txn);
		txn = NULL;
	}
	return txn;
}

static void prune_index(store_ctx *st, const char *key, int64_t now);

/* The set of the txns that expire in the second slot (Unix seconds). */
static af_mfa_status due_key(char *key, size_t cap, int64_t slot)
{
	char name[24];

	if (slot < 0)
		return AF_MFA_INVALID;
	(void)snprintf(name, sizeof(name), "%lld", (long long)slot);
	return af_mfa__key(key, cap, "txn_due:", name);
}

/*
 * Puts the txn in the set of those that expire when it does, where the
 * sweep (af_mfa_txn_sweep) finds it should nobody read it again.
 */
static af_mfa_status due_txn(store_ctx *st, const char *id, int64_t expires)
{
	char key[AF_MFA__KEY_MAX];
	af_mfa_status rc;

	rc = due_key(key, sizeof(key), expires);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_sadd_ttl(
			st, key, id, (uint64_t)AF_MFA_TXN_KEEP_S * 1000));
	return rc;
}

/*
 * Adds the txn to each device's volatile index of what it may answer,
 * first dropping from it the txns no longer waiting (expired unanswered,
 * say): each new txn renews the index's lifetime, so without that a
 * phone asked often enough would keep every old one.
 */
static af_mfa_status index_txn(store_ctx *st, const json_t *devices,
			       const char *id, int64_t now)
{
	char key[AF_MFA__KEY_MAX];
	const json_t *v;
	af_mfa_status rc = AF_MFA_OK;
	size_t i;

	json_array_foreach(devices, i, v)
	{
		rc = af_mfa__key(key, sizeof(key),
				 "device_txns:", json_string_value(v));
		if (rc == AF_MFA_OK)
			prune_index(st, key, now);
		if (rc == AF_MFA_OK)
			rc = af_mfa__from_store(store_sadd_ttl(
				st, key, id,
				(uint64_t)AF_MFA_TXN_KEEP_S * 1000));
		if (rc != AF_MFA_OK)
			break;
	}
	return rc;
}

af_mfa_status af_mfa_txn_new(store_ctx *st, const json_t *spec, int64_t now,
			     json_t **out)
{
	char id[AF_MFA_ID_BUF], key[AF_MFA__KEY_MAX];
	txn_spec ts;
	json_t *txn = NULL;
	char *text = NULL;
	uint32_t number = 0;
	store_status sst;
	af_mfa_status rc;

	if (out == NULL)
		return AF_MFA_INVALID;
	*out = NULL;
	if (st == NULL || !json_is_object(spec) || now < 0)
		return AF_MFA_INVALID;
	rc = spec_check(spec, &ts);
	if (rc == AF_MFA_OK)
		rc = af_mfa__new_id(id);
	if (rc == AF_MFA_OK && ts.number_matching &&
	    tc_match_code(AF_MFA_NUMBER_DIGITS, &number) != TC_OK)
		rc = AF_MFA_CRYPTO;
	if (rc == AF_MFA_OK)
		rc = txn_key(key, sizeof(key), id);
	if (rc != AF_MFA_OK)
		return rc;
	txn = txn_record(id, &ts, number, now);
	text = txn != NULL ? af_mfa__dump(txn) : NULL;
	if (text == NULL) {
		rc = AF_MFA_NOMEM;
		goto out;
	}
	rc = af_mfa__from_store(store_set(st, key, text, strlen(text),
					  (uint64_t)AF_MFA_TXN_KEEP_S * 1000,
					  STORE_SET_NX));
	if (rc != AF_MFA_OK)
		goto out;
	rc = index_txn(st, ts.devices, id, now);
	if (rc == AF_MFA_OK)
		rc = due_txn(st, id, now + AF_MFA_TXN_TTL_S);
	if (rc == AF_MFA_OK) {
		*out = txn;
		txn = NULL;
	} else {
		/*
		 * Half made, and no flow will hold it: nobody may answer it.
		 * Left in (the store failing on), it expires unanswered.
		 */
		sst = store_del(st, key);
		(void)sst;
	}
out:
	af_mfa__dump_free(text);
	json_decref(txn);
	OPENSSL_cleanse(&number, sizeof(number));
	return rc;
}

/* --- reading ------------------------------------------------------------- */

typedef struct expire_arg {
	int64_t now;
} expire_arg;

static af_mfa_status expire_fn(json_t *txn, void *arg, bool *write)
{
	const expire_arg *a = arg;

	if (!pending_expired(txn, a->now)) {
		*write = false;
		return AF_MFA_OK;
	}
	return json_object_set_new(txn, "state", json_string(STATE_EXPIRED)) ==
			       0
		       ? AF_MFA_OK
		       : AF_MFA_NOMEM;
}

/* af_mfa__update() of txn id with fn, given the time now. */
static af_mfa_status update_at(store_ctx *st, const char *id, int64_t now,
			       af_mfa__update_fn fn, json_t **out)
{
	char key[AF_MFA__KEY_MAX];
	expire_arg a = {now};
	af_mfa_status rc;

	if (out == NULL)
		return AF_MFA_INVALID;
	*out = NULL;
	if (st == NULL || id == NULL)
		return AF_MFA_INVALID;
	rc = txn_key(key, sizeof(key), id);
	if (rc != AF_MFA_OK)
		return rc;
	return af_mfa__update(st, key, fn, &a, out);
}

af_mfa_status af_mfa_txn_get(store_ctx *st, const char *id, int64_t now,
			     json_t **out)
{
	return update_at(st, id, now, expire_fn, out);
}

/*
 * Marks an expired txn's expiry as noted ("expiry_noted"): AF_MFA_OK for
 * the one call that does, AF_MFA_DECIDED when it was noted before or the
 * txn is not expired.
 */
static af_mfa_status note_fn(json_t *txn, void *arg, bool *write)
{
	const expire_arg *a = arg;

	if (json_is_true(json_object_get(txn, "expiry_noted")) ||
	    (strcmp(txn_state(txn), STATE_EXPIRED) != 0 &&
	     !pending_expired(txn, a->now))) {
		*write = false;
		return AF_MFA_DECIDED;
	}
	if (json_object_set_new(txn, "state", json_string(STATE_EXPIRED)) !=
		    0 ||
	    json_object_set_new(txn, "expiry_noted", json_true()) != 0)
		return AF_MFA_NOMEM;
	return AF_MFA_OK;
}

af_mfa_status af_mfa_txn_note_expiry(store_ctx *st, const char *id, int64_t now,
				     json_t **out)
{
	return update_at(st, id, now, note_fn, out);
}

typedef struct sweep_arg {
	store_ctx *st;
	int64_t now;
	af_mfa_txn_expired_fn fn;
	void *arg;
	af_mfa_status rc;
} sweep_arg;

static int sweep_one(const char *member, void *arg)
{
	sweep_arg *a = arg;
	json_t *noted = NULL;
	af_mfa_status rc;

	if (!af_mfa__id_ok(member))
		return 0;
	rc = af_mfa_txn_note_expiry(a->st, member, a->now, &noted);
	if (rc == AF_MFA_OK)
		a->fn(noted, a->arg);
	json_decref(noted);
	/* Answered, or gone: nothing to tell. Anything else: try again. */
	if (rc != AF_MFA_OK && rc != AF_MFA_DECIDED && rc != AF_MFA_NOT_FOUND)
		a->rc = rc;
	return 0;
}

af_mfa_status af_mfa_txn_sweep(store_ctx *st, int64_t slot, int64_t now,
			       af_mfa_txn_expired_fn fn, void *arg)
{
	char key[AF_MFA__KEY_MAX];
	sweep_arg a = {st, now, fn, arg, AF_MFA_OK};
	af_mfa_status rc;

	if (st == NULL || fn == NULL || now <= slot)
		return AF_MFA_INVALID;
	rc = due_key(key, sizeof(key), slot);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_smembers(st, key, sweep_one, &a));
	if (rc == AF_MFA_OK)
		rc = a.rc;
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_del(st, key));
	return rc;
}

json_t *af_mfa_txn_signin_detail(const json_t *txn)
{
	const char *app = json_string_value(json_object_get(txn, "app"));

	return json_pack("{s:s?, s:s, s:s*, s:s*}", "txn",
			 json_string_value(json_object_get(txn, "id")), "app",
			 app != NULL ? app : "", "signin_ip",
			 json_string_value(json_object_get(txn, "ip")),
			 "signin_browser",
			 json_string_value(json_object_get(txn, "browser")));
}

/* Copies from's string member name into to, when from has one. 0 or -1. */
static int copy_text(json_t *to, const json_t *from, const char *name)
{
	json_t *v = json_object_get(from, name);

	return json_is_string(v) ? json_object_set(to, name, v) : 0;
}

json_t *af_mfa_txn_public(const json_t *txn, int64_t now)
{
	const char *id = json_string_value(json_object_get(txn, "id"));
	const char *user = json_string_value(json_object_get(txn, "user"));
	const char *app = json_string_value(json_object_get(txn, "app_name"));
	json_int_t expires = txn_expires(txn);
	bool required = json_is_integer(json_object_get(txn, "number"));
	json_t *v;

	if (id == NULL || user == NULL)
		return NULL;
	/* The phone shows the name people know, not the client id. */
	if (app == NULL || app[0] == '\0')
		app = json_string_value(json_object_get(txn, "app"));
	v = json_pack(
		"{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:i, s:s}", "txn", id,
		"user", user, "app", app != NULL ? app : "", "created_at",
		json_integer_value(json_object_get(txn, "created")),
		"expires_at", expires, "expires_in",
		(json_int_t)af_mfa_txn_left(txn, now), "number_required",
		required, "number_digits", required ? AF_MFA_NUMBER_DIGITS : 0,
		"state",
		pending_expired(txn, now) ? STATE_EXPIRED : txn_state(txn));
	/* Where from and with what, so that a sign-in not one's own shows. */
	if (v != NULL && (copy_text(v, txn, "ip") != 0 ||
			  copy_text(v, txn, "browser") != 0 ||
			  copy_text(v, txn, "display_name") != 0)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

/* --- deciding ------------------------------------------------------------ */

typedef struct decide_arg {
	const char *device;
	const char *state; /* the state a valid answer leads to */
	const char *number;
	const char *reason; /* a cancel's cancel_reason */
	int64_t now;
	af_mfa_status result;
} decide_arg;

static const char *const cancel_names[] = {
#define AF_MFA_XX(name, text) text,
	AF_MFA_CANCEL_MAP(AF_MFA_XX)
#undef AF_MFA_XX
};

#define NCANCEL (sizeof(cancel_names) / sizeof(cancel_names[0]))

af_mfa_cancel_why af_mfa_txn_cancel_why(const json_t *txn)
{
	const char *r =
		json_string_value(json_object_get(txn, "cancel_reason"));
	size_t i;

	for (i = 1; r != NULL && i < NCANCEL; i++) {
		if (strcmp(r, cancel_names[i]) == 0)
			return (af_mfa_cancel_why)i;
	}
	return AF_MFA_CANCEL_NONE;
}

static const char *decision_state(const char *decision)
{
	static const char *const map[][2] = {
		{"approve", "approved"},
		{"deny", "denied"},
		{"report", "reported"},
		{"cancel", "cancelled"},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(decision, map[i][0]) == 0)
			return map[i][1];
	}
	return NULL;
}

/*
 * The number typed on the phone against the one on the page, in constant
 * time. Anything but the right digits is wrong: one attempt only.
 */
static bool number_right(const json_t *txn, const char *typed)
{
	char want[NUMBER_TEXT_MAX];
	bool ok;

	if (typed == NULL || strnlen(typed, NUMBER_TEXT_MAX) == NUMBER_TEXT_MAX)
		return false;
	(void)snprintf(
		want, sizeof(want), "%lld",
		(long long)json_integer_value(json_object_get(txn, "number")));
	ok = af_ct_streq(want, typed) == 1;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

static af_mfa_status decide_fn(json_t *txn, void *arg, bool *write)
{
	decide_arg *a = arg;
	const char *state = txn_state(txn);
	const char *next = a->state;

	a->result = AF_MFA_OK;
	if (a->device != NULL &&
	    !af_mfa__array_has(json_object_get(txn, "devices"), a->device))
		return AF_MFA_FORBIDDEN;
	/*
	 * A report is taken past the expiry too, while the record lasts:
	 * whoever sees the push late can still say it was not them, and so
	 * stop the pushes of a sign-in that goes on ("send another").
	 */
	if (a->device != NULL && strcmp(next, "reported") == 0 &&
	    strcmp(state, STATE_EXPIRED) == 0)
		state = STATE_PENDING;
	else if (strcmp(state, STATE_EXPIRED) == 0)
		return AF_MFA_EXPIRED;
	if (strcmp(state, STATE_PENDING) != 0)
		return AF_MFA_DECIDED;
	if (txn_over(txn, a->now) &&
	    (a->device == NULL || strcmp(next, "reported") != 0)) {
		/* Record the expiry, then report it. */
		a->result = AF_MFA_EXPIRED;
		next = STATE_EXPIRED;
	} else if (strcmp(next, "approved") == 0 &&
		   json_is_integer(json_object_get(txn, "number"))) {
		/*
		 * An approval without a number is a tap on Approve before the
		 * number was typed, not a guess: refused, and nothing is
		 * decided or counted, so the person can still type it. A
		 * wrong number is a guess, and ends the txn.
		 */
		if (a->number == NULL || a->number[0] == '\0')
			return AF_MFA_INVALID;
		/*
		 * Nor is a number of another length ("071" for 71): no
		 * number shown has it, so it is a slip of the app's, not a
		 * guess, and the person can still answer.
		 */
		if (strlen(a->number) != AF_MFA_NUMBER_DIGITS)
			return AF_MFA_INVALID;
		if (!number_right(txn, a->number))
			next = "failed";
	}
	*write = true; /* from here on the record always changes */
	if (json_object_set_new(txn, "state", json_string(next)) != 0)
		return AF_MFA_NOMEM;
	if (strcmp(next, STATE_CANCELLED) == 0 && a->reason != NULL &&
	    json_object_set_new(txn, "cancel_reason", json_string(a->reason)) !=
		    0)
		return AF_MFA_NOMEM;
	if (a->result == AF_MFA_OK &&
	    json_object_set_new(txn, "decided_by",
				a->device != NULL ? json_string(a->device)
						  : json_null()) != 0)
		return AF_MFA_NOMEM;
	/* When it was decided: an approval's is the sign-in's auth_time. */
	if (a->result == AF_MFA_OK &&
	    json_object_set_new(txn, "decided_at",
				json_integer((json_int_t)a->now)) != 0)
		return AF_MFA_NOMEM;
	return AF_MFA_OK;
}

/* Drops a decided txn from its devices' indexes; stale ones are harmless. */
static void unindex_txn(store_ctx *st, const json_t *txn)
{
	const char *id = json_string_value(json_object_get(txn, "id"));
	char key[AF_MFA__KEY_MAX];
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(txn, "devices"), i, v)
	{
		store_status sst = STORE_OK;

		if (id != NULL &&
		    af_mfa__key(key, sizeof(key), "device_txns:",
				json_string_value(v)) == AF_MFA_OK)
			sst = store_srem(st, key, id);
		/* The listing filters by state, so a leftover only costs a
		 * read. */
		(void)sst;
	}
}

/* --- cancelling many ------------------------------------------------------ */

typedef struct txn_ids {
	char ids[DEVICE_TXNS_SCAN][AF_MFA_ID_BUF];
	size_t count;
} txn_ids;

static int collect_txn(const char *member, void *arg)
{
	txn_ids *t = arg;

	if (!af_mfa__id_ok(member))
		return 0;
	(void)snprintf(t->ids[t->count], AF_MFA_ID_BUF, "%s", member);
	return ++t->count == DEVICE_TXNS_SCAN;
}

/*
 * Drops from the device index at key (up to DEVICE_TXNS_SCAN of) the
 * txns whose record is gone or no longer waiting for an answer. Best
 * effort: what is left only costs a read when the phone lists.
 */
static void prune_index(store_ctx *st, const char *key, int64_t now)
{
	char tkey[AF_MFA__KEY_MAX];
	store_status sst;
	af_mfa_status rc;
	json_t *txn;
	txn_ids *t;
	size_t i;

	t = OPENSSL_zalloc(sizeof(*t));
	if (t == NULL)
		return;
	if (store_smembers(st, key, collect_txn, t) != STORE_OK)
		t->count = 0;
	for (i = 0; i < t->count; i++) {
		txn = NULL;
		rc = txn_key(tkey, sizeof(tkey), t->ids[i]);
		if (rc == AF_MFA_OK)
			rc = af_mfa__get_json(st, tkey, &txn, NULL);
		if (rc == AF_MFA_NOT_FOUND ||
		    (rc == AF_MFA_OK &&
		     (strcmp(txn_state(txn), STATE_PENDING) != 0 ||
		      txn_over(txn, now)))) {
			sst = store_srem(st, key, t->ids[i]);
			/* Left in, it is dropped next time. */
			(void)sst;
		}
		json_decref(txn);
	}
	OPENSSL_free(t);
}

/*
 * Cancels, as the browser would but for why, the pending transactions
 * that each of devices (an array of device ids) may answer, but except
 * (NULL: none). Best effort: a transaction that cannot be cancelled
 * expires within AF_MFA_TXN_TTL_S.
 */
static void cancel_for_devices(store_ctx *st, const json_t *devices,
			       const char *except, af_mfa_cancel_why why,
			       int64_t now)
{
	char key[AF_MFA__KEY_MAX];
	json_t *d, *other;
	txn_ids *t;
	size_t i, j;

	t = OPENSSL_zalloc(sizeof(*t));
	if (t == NULL)
		return;
	json_array_foreach(devices, i, d)
	{
		t->count = 0;
		if (af_mfa__key(key, sizeof(key), "device_txns:",
				json_string_value(d)) != AF_MFA_OK ||
		    store_smembers(st, key, collect_txn, t) != STORE_OK)
			continue;
		for (j = 0; j < t->count; j++) {
			other = NULL;
			if ((except == NULL ||
			     strcmp(t->ids[j], except) != 0) &&
			    af_mfa_txn_cancel(st, t->ids[j], why, now,
					      &other) == AF_MFA_OK)
				json_decref(other);
		}
	}
	OPENSSL_free(t);
}

/*
 * After a report, no other push of the user's waits for an answer on
 * their phones (the devices of txn): one of them may be the attacker's
 * too.
 */
static void cancel_others(store_ctx *st, const json_t *txn, int64_t now)
{
	const char *self = json_string_value(json_object_get(txn, "id"));

	if (self != NULL)
		cancel_for_devices(st, json_object_get(txn, "devices"), self,
				   AF_MFA_CANCEL_REPORT, now);
}

af_mfa_status af_mfa_txns_cancel_user(store_ctx *st, const char *username,
				      int64_t now)
{
	json_t *devices = NULL, *ids = json_array(), *d;
	af_mfa_status rc;
	size_t i;

	if (ids == NULL)
		return AF_MFA_NOMEM;
	rc = af_mfa_device_list(st, username, &devices);
	json_array_foreach(devices, i, d)
	{
		if (rc == AF_MFA_OK &&
		    json_array_append(ids, json_object_get(d, "id")) != 0)
			rc = AF_MFA_NOMEM;
	}
	if (rc == AF_MFA_OK)
		cancel_for_devices(st, ids, NULL, AF_MFA_CANCEL_ADMIN, now);
	json_decref(devices);
	json_decref(ids);
	return rc;
}

/*
 * 1 when no device of txn but gone (being removed; NULL: none) is still
 * enrolled:
 * then nobody can answer it. A device that cannot be read counts as
 * enrolled, so that a store hiccup cancels nothing.
 */
static bool only_device(store_ctx *st, const json_t *txn, const char *gone)
{
	const json_t *v;
	json_t *dev;
	size_t i;

	json_array_foreach(json_object_get(txn, "devices"), i, v)
	{
		const char *id = json_string_value(v);

		if (id == NULL || (gone != NULL && strcmp(id, gone) == 0))
			continue;
		dev = NULL;
		if (af_mfa_device_get(st, id, &dev) != AF_MFA_NOT_FOUND) {
			af_mfa_device_free(dev);
			return false;
		}
	}
	return true;
}

void af_mfa__cancel_for_removed(store_ctx *st, const char *device, int64_t now)
{
	char key[AF_MFA__KEY_MAX];
	json_t *txn, *out;
	txn_ids *t;
	size_t i;

	if (af_mfa__key(key, sizeof(key), "device_txns:", device) !=
		    AF_MFA_OK ||
	    (t = OPENSSL_zalloc(sizeof(*t))) == NULL)
		return;
	if (store_smembers(st, key, collect_txn, t) != STORE_OK)
		t->count = 0;
	for (i = 0; i < t->count; i++) {
		txn = NULL;
		out = NULL;
		/* One already over needs nothing: it says so itself. */
		if (txn_key(key, sizeof(key), t->ids[i]) != AF_MFA_OK ||
		    af_mfa__get_json(st, key, &txn, NULL) != AF_MFA_OK ||
		    strcmp(txn_state(txn), STATE_PENDING) != 0 ||
		    txn_over(txn, now) || !only_device(st, txn, device)) {
			json_decref(txn);
			continue;
		}
		if (af_mfa_txn_cancel(st, t->ids[i],
				      AF_MFA_CANCEL_DEVICE_REMOVED, now,
				      &out) == AF_MFA_OK)
			json_decref(out);
		json_decref(txn);
	}
	OPENSSL_free(t);
}

void af_mfa_txn_recheck_devices(store_ctx *st, json_t **txn, int64_t now)
{
	const char *id = json_string_value(json_object_get(*txn, "id"));
	json_t *out = NULL;

	if (id == NULL ||
	    json_array_size(json_object_get(*txn, "devices")) == 0 ||
	    !only_device(st, *txn, NULL))
		return;
	if (af_mfa_txn_cancel(st, id, AF_MFA_CANCEL_DEVICE_REMOVED, now,
			      &out) != AF_MFA_OK)
		return;
	json_decref(*txn);
	*txn = out;
}

/*
 * Whether txn holds the decision a makes: the state it leads to (or, for
 * an approval, the "failed" of a wrong number), by a's device, or for a
 * cancel, for a's reason.
 */
static bool decided_as(const json_t *txn, const decide_arg *a)
{
	const char *state = txn_state(txn);
	const char *by = json_string_value(json_object_get(txn, "decided_by"));
	const char *why =
		json_string_value(json_object_get(txn, "cancel_reason"));

	if (strcmp(state, a->state) != 0 &&
	    !(strcmp(a->state, "approved") == 0 &&
	      strcmp(state, "failed") == 0))
		return false;
	if (a->device == NULL)
		return by == NULL && why != NULL && a->reason != NULL &&
		       strcmp(why, a->reason) == 0;
	return by != NULL && strcmp(by, a->device) == 0;
}

/*
 * After the store failed to answer the write of a's decision at key: the
 * record as it is, in *txn, when it holds that decision (decided_as()),
 * written by this call with its answer lost (a dropped connection, a
 * command run after its timeout) or by the same device's own retry: the
 * decision stands, and what follows from it must follow. Else
 * AF_MFA_STORE.
 */
static af_mfa_status decision_stands(store_ctx *st, const char *key,
				     const decide_arg *a, json_t **txn)
{
	if (af_mfa__get_json(st, key, txn, NULL) != AF_MFA_OK)
		return AF_MFA_STORE;
	if (decided_as(*txn, a))
		return AF_MFA_OK;
	json_decref(*txn);
	*txn = NULL;
	return AF_MFA_STORE;
}

/*
 * A report pauses the user's pushes before it is stored: one cut short
 * between the two (a crash) leaves the pause, never a stored report whose
 * pause nobody set (the report's own answer then refuses it again). Only
 * for a txn the device may still report (pending, or expired unanswered);
 * when another answer decides it first meanwhile, the pause stands: the
 * safe way to lose that race.
 */
static af_mfa_status pause_first(store_ctx *st, const char *key,
				 const decide_arg *a)
{
	json_t *txn = NULL;
	af_mfa_status rc;

	rc = af_mfa__get_json(st, key, &txn, NULL);
	if (rc == AF_MFA_NOT_FOUND)
		return AF_MFA_OK; /* the decision says so */
	if (rc == AF_MFA_OK &&
	    af_mfa__array_has(json_object_get(txn, "devices"), a->device) &&
	    (strcmp(txn_state(txn), STATE_PENDING) == 0 ||
	     strcmp(txn_state(txn), STATE_EXPIRED) == 0))
		rc = af_mfa__pause_pushes(
			st, json_string_value(json_object_get(txn, "user")),
			af_now());
	json_decref(txn);
	return rc;
}

/*
 * The decision of a: the record changed once, then what follows from
 * it. AF_MFA_OK and *out, or as af_mfa_txn_decide.
 */
static af_mfa_status decide(store_ctx *st, const char *id, decide_arg *a,
			    json_t **out)
{
	char key[AF_MFA__KEY_MAX];
	json_t *txn = NULL;
	af_mfa_status rc;

	rc = txn_key(key, sizeof(key), id);
	if (rc == AF_MFA_OK && a->device != NULL &&
	    strcmp(a->state, "reported") == 0)
		rc = pause_first(st, key, a);
	if (rc != AF_MFA_OK)
		return rc;
	rc = af_mfa__update(st, key, decide_fn, a, &txn);
	if (rc == AF_MFA_STORE && a->result == AF_MFA_OK)
		rc = decision_stands(st, key, a, &txn);
	if (rc != AF_MFA_OK)
		return rc;
	/* Decided or expired: no phone needs to see it any more. */
	unindex_txn(st, txn);
	if (a->result != AF_MFA_OK) {
		json_decref(txn);
		return a->result;
	}
	if (strcmp(txn_state(txn), "reported") == 0) {
		rc = af_mfa_txn_report_follow(st, txn, a->now);
		if (rc != AF_MFA_OK) {
			/* The report stands; the caller learns the pause
			 * failed. */
			json_decref(txn);
			return rc;
		}
	}
	*out = txn;
	return AF_MFA_OK;
}

af_mfa_status af_mfa_txn_report_follow(store_ctx *st, const json_t *txn,
				       int64_t now)
{
	af_mfa_status rc;

	if (st == NULL || txn == NULL)
		return AF_MFA_INVALID;
	/*
	 * A report stops the user's other sign-ins waiting too: at once, as
	 * the push being reported may be one of a flood. The pause runs from
	 * the time of the report by the clock that later sign-ins judge it
	 * with (af_mfa_push_check). The walk is made again once it is
	 * written: a sign-in whose challenge both walks miss, made just
	 * after the second, finds the pause before its pushes go (see
	 * af_mfa_push_state()).
	 */
	cancel_others(st, txn, now);
	rc = af_mfa__pause_pushes(
		st, json_string_value(json_object_get(txn, "user")), af_now());
	cancel_others(st, txn, now);
	return rc;
}

af_mfa_status af_mfa_txn_decide(store_ctx *st, const char *id,
				const char *device, const char *decision,
				const char *number, int64_t now, json_t **out)
{
	decide_arg a = {device, NULL, number, NULL, now, AF_MFA_OK};

	if (out == NULL)
		return AF_MFA_INVALID;
	*out = NULL;
	if (st == NULL || id == NULL || decision == NULL)
		return AF_MFA_INVALID;
	a.state = decision_state(decision);
	/* Only the browser may answer without being a device: by cancelling. */
	if (a.state == NULL ||
	    (device == NULL && strcmp(a.state, STATE_CANCELLED) != 0))
		return AF_MFA_INVALID;
	a.reason = cancel_names[AF_MFA_CANCEL_USER];
	return decide(st, id, &a, out);
}

af_mfa_status af_mfa_txn_cancel(store_ctx *st, const char *id,
				af_mfa_cancel_why why, int64_t now,
				json_t **out)
{
	decide_arg a = {NULL, STATE_CANCELLED, NULL, NULL, now, AF_MFA_OK};

	if (out == NULL)
		return AF_MFA_INVALID;
	*out = NULL;
	if (st == NULL || id == NULL || why == AF_MFA_CANCEL_NONE ||
	    (size_t)why >= NCANCEL)
		return AF_MFA_INVALID;
	a.reason = cancel_names[why];
	return decide(st, id, &a, out);
}

af_mfa_status af_mfa_txn_pending_for_device(store_ctx *st, const char *device,
					    int64_t now, json_t **out)
{
	char key[AF_MFA__KEY_MAX];
	txn_ids *t = NULL;
	json_t *list = NULL;
	af_mfa_status rc;
	size_t i;

	if (out == NULL)
		return AF_MFA_INVALID;
	*out = NULL;
	if (st == NULL || !af_mfa__id_ok(device))
		return AF_MFA_INVALID;
	rc = af_mfa__key(key, sizeof(key), "device_txns:", device);
	if (rc != AF_MFA_OK)
		return rc;
	t = OPENSSL_zalloc(sizeof(*t));
	list = json_array();
	if (t == NULL || list == NULL) {
		rc = AF_MFA_NOMEM;
		goto out;
	}
	rc = af_mfa__from_store(store_smembers(st, key, collect_txn, t));
	for (i = 0; rc == AF_MFA_OK && i < t->count; i++) {
		char tkey[AF_MFA__KEY_MAX];
		json_t *txn = NULL, *view;

		rc = txn_key(tkey, sizeof(tkey), t->ids[i]);
		if (rc == AF_MFA_OK)
			rc = af_mfa__get_json(st, tkey, &txn, NULL);
		/* Gone, or damaged: the device still sees the others. */
		if (rc == AF_MFA_NOT_FOUND ||
		    (rc == AF_MFA_STORE && af_mfa__key_answers(st, tkey))) {
			rc = AF_MFA_OK;
			continue;
		}
		if (rc != AF_MFA_OK)
			break;
		if (strcmp(txn_state(txn), STATE_PENDING) == 0 &&
		    !txn_over(txn, now) &&
		    af_mfa__array_has(json_object_get(txn, "devices"),
				      device)) {
			view = af_mfa_txn_public(txn, now);
			if (view == NULL ||
			    json_array_append_new(list, view) != 0)
				rc = AF_MFA_NOMEM;
		}
		json_decref(txn);
	}
	if (rc == AF_MFA_OK)
		rc = af_mfa__sort(list, "expires_at");
	if (rc == AF_MFA_OK) {
		*out = list;
		list = NULL;
	}
out:
	OPENSSL_free(t);
	json_decref(list);
	return rc;
}

/* --- push jobs ------------------------------------------------------------ */

typedef struct push_arg {
	const json_t *marks; /* {device: status} */
} push_arg;

static af_mfa_status push_fn(json_t *txn, void *arg, bool *write)
{
	const push_arg *a = arg;
	json_t *push = json_object_get(txn, "push");
	const char *k;
	json_t *v;

	*write = true;
	if (!json_is_object(push))
		return AF_MFA_STORE;
	json_object_foreach(af_mfa__iterable(a->marks), k, v)
	{
		const char *was = json_string_value(json_object_get(push, k));

		if (!af_mfa__array_has(json_object_get(txn, "devices"), k))
			return AF_MFA_FORBIDDEN;
		/*
		 * Jobs are queued before they are marked so: a worker that
		 * was quicker has recorded the outcome, which "queued" must
		 * not overwrite.
		 */
		if (strcmp(json_string_value(v), "queued") == 0 &&
		    was != NULL && strcmp(was, "not_sent") != 0 &&
		    strcmp(was, "queued") != 0)
			continue;
		if (json_object_set(push, k, v) != 0)
			return AF_MFA_NOMEM;
	}
	return AF_MFA_OK;
}

static af_mfa_status mark_push(store_ctx *st, const char *txn_id,
			       const json_t *marks)
{
	char key[AF_MFA__KEY_MAX];
	push_arg a = {marks};
	af_mfa_status rc;

	rc = txn_key(key, sizeof(key), txn_id);
	if (rc == AF_MFA_OK)
		rc = af_mfa__update(st, key, push_fn, &a, NULL);
	return rc;
}

/* One job for one device; the number is deliberately not in it. */
static af_mfa_status enqueue_job(store_ctx *st, const json_t *txn,
				 const json_t *dev)
{
	char job[AF_MFA_ID_BUF];
	json_t *obj;
	char *text = NULL;
	af_mfa_status rc;

	rc = af_mfa__new_id(job);
	if (rc != AF_MFA_OK)
		return rc;
	obj = json_pack("{s:s, s:O, s:O, s:O, s:O, s:b, s:O, s:O, s:O}", "job",
			job, "txn", json_object_get(txn, "id"), "device",
			json_object_get(dev, "id"), "platform",
			json_object_get(dev, "platform"), "push_token",
			json_object_get(dev, "push_token"), "sandbox",
			json_is_true(json_object_get(dev, "sandbox")), "user",
			json_object_get(txn, "user"), "app_name",
			json_object_get(txn, "app_name"), "expires",
			json_object_get(txn, "expires"));
	text = obj != NULL ? af_mfa__dump(obj) : NULL;
	if (text == NULL)
		rc = AF_MFA_NOMEM;
	else
		rc = af_mfa__from_store(store_queue_push(
			st, PUSH_QUEUE, text, strlen(text), NULL, 0));
	af_mfa__dump_free(text);
	json_decref(obj);
	return rc;
}

/* The device of devices (a list, may be NULL) with that id, or NULL. */
static const json_t *device_in(const json_t *devices, const char *id)
{
	const json_t *d;
	size_t i;

	json_array_foreach(devices, i, d)
	{
		const char *v = json_string_value(json_object_get(d, "id"));

		if (v != NULL && id != NULL && strcmp(v, id) == 0)
			return d;
	}
	return NULL;
}

af_mfa_status af_mfa_push_trim(store_ctx *st, size_t *removed)
{
	return af_mfa__from_store(store_queue_trim(
		st, PUSH_QUEUE, (uint64_t)AF_MFA_TXN_KEEP_S * 1000u, removed));
}

af_mfa_status af_mfa_push_enqueue(store_ctx *st, const json_t *txn,
				  const json_t *devices, const json_t *workflow,
				  size_t *queued)
{
	const char *id = json_string_value(json_object_get(txn, "id"));
	const json_t *v;
	json_t *marks = NULL, *own = NULL;
	af_mfa_status rc = AF_MFA_OK, first = AF_MFA_OK;
	size_t i;

	if (queued != NULL)
		*queued = 0;
	if (st == NULL || queued == NULL || !af_mfa__id_ok(id) ||
	    !json_is_string(json_object_get(txn, "user")) ||
	    !json_is_array(json_object_get(txn, "devices")))
		return AF_MFA_INVALID;
	if (workflow == NULL) {
		rc = af_mfa_workflow_get(st, &own);
		if (rc != AF_MFA_OK)
			return rc;
		workflow = own;
	}
	marks = json_object();
	if (marks == NULL) {
		rc = AF_MFA_NOMEM;
		goto out;
	}
	json_array_foreach(json_object_get(txn, "devices"), i, v)
	{
		const char *dev_id = json_string_value(v);
		const json_t *dev = device_in(devices, dev_id);
		json_t *read = NULL;

		rc = AF_MFA_OK;
		if (dev == NULL) {
			rc = af_mfa_device_get(st, dev_id, &read);
			dev = read;
		}
		if (rc == AF_MFA_OK && af_mfa_device_pushable(dev, workflow)) {
			rc = enqueue_job(st, txn, dev);
			if (rc == AF_MFA_OK) {
				++*queued;
				if (json_object_set_new(marks, dev_id,
							json_string("queued")))
					rc = AF_MFA_NOMEM;
			}
		}
		af_mfa_device_free(read);
		/* A device removed meanwhile is skipped; other errors kept. */
		if (rc != AF_MFA_OK && rc != AF_MFA_NOT_FOUND &&
		    first == AF_MFA_OK)
			first = rc;
	}
	/* Every device starts as "not_sent": only queued ones change. */
	rc = json_object_size(marks) > 0 ? mark_push(st, id, marks) : AF_MFA_OK;
	if (rc == AF_MFA_OK)
		rc = first;
out:
	json_decref(marks);
	json_decref(own);
	return rc;
}

static bool push_status_known(const char *status)
{
	static const char *const known[] = {"queued", "sent", "failed",
					    "token_invalid", "not_sent"};
	size_t i;

	if (status == NULL)
		return false;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(status, known[i]) == 0)
			return true;
	}
	return false;
}

af_mfa_status af_mfa_txn_push_mark(const char *text, size_t len,
				   const char *device, const char *status,
				   char **out)
{
	json_t *txn = NULL, *marks = NULL;
	push_arg a = {NULL};
	bool write = true;
	af_mfa_status rc;

	if (out == NULL)
		return AF_MFA_INVALID;
	*out = NULL;
	if (text == NULL || !af_mfa__id_ok(device) ||
	    !push_status_known(status))
		return AF_MFA_INVALID;
	txn = json_loadb(text, len, 0, NULL);
	if (!json_is_object(txn)) {
		rc = AF_MFA_STORE;
		goto out;
	}
	marks = json_pack("{s:s}", device, status);
	if (marks == NULL) {
		rc = AF_MFA_NOMEM;
		goto out;
	}
	a.marks = marks;
	rc = push_fn(txn, &a, &write);
	if (rc != AF_MFA_OK)
		goto out;
	/* The same text af_mfa__update() writes, so later CAS match it. */
	*out = af_mfa__dump(txn);
	if (*out == NULL)
		rc = AF_MFA_NOMEM;
out:
	json_decref(marks);
	json_decref(txn);
	return rc;
}

void af_mfa_text_free(char *text)
{
	af_mfa__dump_free(text);
}

af_mfa_status af_mfa_txn_push_status(store_ctx *st, const char *txn_id,
				     const char *device, const char *status)
{
	json_t *marks;
	af_mfa_status rc;

	if (st == NULL || txn_id == NULL || !af_mfa__id_ok(device) ||
	    !push_status_known(status))
		return AF_MFA_INVALID;
	marks = json_pack("{s:s}", device, status);
	if (marks == NULL)
		return AF_MFA_NOMEM;
	rc = mark_push(st, txn_id, marks);
	json_decref(marks);
	return rc;
}
