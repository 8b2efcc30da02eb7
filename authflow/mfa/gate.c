/*
 * Push gating: the pause after a report and the push limit (see mfa.h).
 *
 * The records under "push_pause:<user>" and "push_count:<user>" keep when
 * their pause or period began and how long it was set to last then; each
 * is judged against the settings in force now. The key's TTL is the length
 * set when it began: a pause or period ends at the latest then, and the
 * store drops its record by itself.
 */
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "mfa/mfa.h"
#include "mfa/mfa_internal.h"

/* When a setting was lowered, and to what (mfa.h: AF_MFA_PAUSE_CUTS). */
typedef struct length_cuts {
	json_int_t at[AF_MFA__CUTS_MAX];
	json_int_t len[AF_MFA__CUTS_MAX];
	size_t n;
} length_cuts;

/* The report pause and push limit of a workflow. */
typedef struct push_rules {
	json_int_t pause_s;
	json_int_t count;
	json_int_t period_s;
	length_cuts pause_cuts;
	length_cuts period_cuts;
} push_rules;

static void cuts_of(const json_t *wf, const char *name, length_cuts *c)
{
	const json_t *cut;
	size_t i;

	c->n = 0;
	json_array_foreach(json_object_get(wf, name), i, cut)
	{
		if (c->n == AF_MFA__CUTS_MAX)
			break;
		c->at[c->n] = json_integer_value(json_array_get(cut, 0));
		c->len[c->n] = json_integer_value(json_array_get(cut, 1));
		c->n++;
	}
}

static void rules_of(const json_t *wf, push_rules *r)
{
	const json_t *limit = json_object_get(wf, "push_limit");

	r->pause_s = json_integer_value(json_object_get(wf, "report_pause_s"));
	r->count = json_integer_value(json_object_get(limit, "count"));
	r->period_s = json_integer_value(json_object_get(limit, "period_s"));
	cuts_of(wf, AF_MFA_PAUSE_CUTS, &r->pause_cuts);
	cuts_of(wf, AF_MFA_PERIOD_CUTS, &r->period_cuts);
}

static json_int_t min_of(json_int_t a, json_int_t b)
{
	return a < b ? a : b;
}

/*
 * How long a pause or period that began at since lasts, set to len then:
 * no longer than the setting now (is), nor than any it was lowered to
 * while it ran (after the second it began), so that raising the setting
 * again does not bring back a pause or period an administrator ended or
 * shortened.
 */
static json_int_t cut_length(const length_cuts *c, json_int_t since,
			     json_int_t len, json_int_t is)
{
	json_int_t out = min_of(len, is);
	size_t i;

	for (i = 0; i < c->n; i++) {
		if (c->at[i] > since)
			out = min_of(out, c->len[i]);
	}
	return out;
}

/* A record's integer member, or -1 when it is not a whole number >= 0. */
static json_int_t member(const json_t *rec, const char *name)
{
	const json_t *v = json_object_get(rec, name);

	return json_is_integer(v) && json_integer_value(v) >= 0
		       ? json_integer_value(v)
		       : -1;
}

/*
 * When the user's pause ends, judged at now: *until, 0 when there is
 * none. A value that is not a record of this version (an earlier one
 * wrote a word) pauses until the key expires: a pause is never dropped
 * for want of reading it.
 */
static af_mfa_status pause_until(store_ctx *st, const char *user,
				 const push_rules *r, int64_t now,
				 int64_t *until)
{
	char key[AF_MFA__KEY_MAX];
	json_int_t since = -1, pause_s = -1, end;
	json_t *rec = NULL;
	uint64_t ttl = 0;
	af_mfa_status rc;

	*until = 0;
	rc = af_mfa__key(key, sizeof(key), "push_pause:", user);
	if (rc == AF_MFA_OK)
		rc = af_mfa__get_json(st, key, &rec, NULL);
	if (rc == AF_MFA_OK) {
		since = member(rec, "since");
		pause_s = member(rec, "pause_s");
		json_decref(rec);
	}
	if (rc == AF_MFA_NOT_FOUND)
		return AF_MFA_OK;
	/* Switched off: no pause runs, whatever is stored. */
	if (r->pause_s <= 0)
		return rc == AF_MFA_STORE ? AF_MFA_OK : rc;
	if (rc == AF_MFA_OK && since >= 0 && pause_s >= 0) {
		end = since +
		      cut_length(&r->pause_cuts, since, pause_s, r->pause_s);
		*until = end > now ? end : 0;
		return AF_MFA_OK;
	}
	if (rc != AF_MFA_OK &&
	    !(rc == AF_MFA_STORE && af_mfa__key_answers(st, key)))
		return rc;
	rc = af_mfa__from_store(store_ttl(st, key, &ttl));
	if (rc == AF_MFA_OK)
		*until = now + (int64_t)((ttl + 999) / 1000);
	return rc == AF_MFA_NOT_FOUND ? AF_MFA_OK : rc;
}

af_mfa_status af_mfa__pause_pushes(store_ctx *st, const char *user, int64_t now)
{
	char key[AF_MFA__KEY_MAX];
	push_rules r;
	json_t *wf = NULL, *rec;
	char *text = NULL;
	af_mfa_status rc;

	rc = af_mfa_workflow_get(st, &wf);
	if (rc != AF_MFA_OK)
		return rc;
	rules_of(wf, &r);
	json_decref(wf);
	if (r.pause_s <= 0)
		return AF_MFA_OK;
	rc = af_mfa__key(key, sizeof(key), "push_pause:", user);
	if (rc != AF_MFA_OK)
		return rc;
	rec = json_pack("{s:I, s:I}", "since", (json_int_t)now, "pause_s",
			r.pause_s);
	text = rec != NULL ? af_mfa__dump(rec) : NULL;
	/*
	 * Kept across a restart of the memory store (an fsync, once per
	 * report): a fraud report must not be undone by a patch reboot.
	 */
	rc = text == NULL
		     ? AF_MFA_NOMEM
		     : af_mfa__from_store(store_set(st, key, text, strlen(text),
						    (uint64_t)r.pause_s * 1000,
						    STORE_SET_DURABLE));
	af_mfa__dump_free(text);
	json_decref(rec);
	return rc;
}

/* A push-limit period, as stored under "push_count:<user>". */
typedef struct push_window {
	json_int_t since, period_s, n, refused;
} push_window;

/* 0, or -1 when text is not a period this module wrote. */
static int window_parse(const store_value *v, push_window *w)
{
	json_t *rec = json_loadb((const char *)v->data, v->len, 0, NULL);

	w->since = member(rec, "since");
	w->period_s = member(rec, "period_s");
	w->n = member(rec, "n");
	w->refused = member(rec, "refused");
	json_decref(rec);
	return w->since < 0 || w->period_s < 0 || w->n < 0 || w->refused < 0
		       ? -1
		       : 0;
}

/* When the period ends under the rules now in force. */
static int64_t window_end(const push_window *w, const push_rules *r)
{
	return w->since +
	       cut_length(&r->period_cuts, w->since, w->period_s, r->period_s);
}

/*
 * Writes w at key: from old (its exact text) with a compare-and-set, or
 * as a new key when old is NULL. ttl_s 0 keeps the key's TTL. *again on
 * a lost race.
 */
static af_mfa_status window_write(store_ctx *st, const char *key,
				  const store_value *old, const push_window *w,
				  json_int_t ttl_s, bool *again)
{
	json_t *rec =
		json_pack("{s:I, s:I, s:I, s:I}", "since", w->since, "period_s",
			  w->period_s, "n", w->n, "refused", w->refused);
	char *text = rec != NULL ? af_mfa__dump(rec) : NULL;
	store_status sst;

	*again = false;
	json_decref(rec);
	if (text == NULL)
		return AF_MFA_NOMEM;
	if (old == NULL)
		sst = store_set(st, key, text, strlen(text),
				(uint64_t)ttl_s * 1000, STORE_SET_NX);
	else
		sst = store_cas(st, key, old->data, old->len, text,
				strlen(text), (uint64_t)ttl_s * 1000);
	af_mfa__dump_free(text);
	*again = sst == STORE_EXISTS || sst == STORE_CONFLICT ||
		 sst == STORE_NOT_FOUND;
	return *again ? AF_MFA_OK : af_mfa__from_store(sst);
}

/*
 * What a push asked for at now does to a period: delta 1 counts a push
 * (or a refusal, over the limit), -1 gives one back. *w is the period to
 * write, *ttl_s its TTL (0: keep), and v->why set when refused. 0, or 1
 * when nothing is to be written.
 */
static int window_step(push_window *w, bool have, const push_rules *r,
		       int delta, int64_t now, json_int_t *ttl_s,
		       af_mfa_push_verdict *v)
{
	*ttl_s = 0;
	if (!have || now >= window_end(w, r)) {
		/*
		 * A new period. A push given back after its period ended
		 * still leaves one, as long as a period, so that the key
		 * never outlives it.
		 */
		w->since = now;
		w->period_s = r->period_s;
		w->n = delta > 0 ? 1 : 0;
		w->refused = 0;
		*ttl_s = r->period_s;
		return 0;
	}
	if (delta < 0) {
		if (w->n == 0)
			return 1;
		w->n--;
		return 0;
	}
	if (w->n < r->count) {
		w->n++;
		return 0;
	}
	w->refused++;
	v->why = "limit";
	v->until = window_end(w, r);
	v->first = w->refused == 1;
	return 0;
}

/* Counts (delta 1) or gives back (delta -1) one push at now. */
static af_mfa_status window_count(store_ctx *st, const char *user,
				  const push_rules *r, int delta, int64_t now,
				  af_mfa_push_verdict *v)
{
	char key[AF_MFA__KEY_MAX];
	af_mfa_status rc;
	bool again = true;
	int tries;

	rc = af_mfa__key(key, sizeof(key), "push_count:", user);
	for (tries = 0; rc == AF_MFA_OK && again && tries < AF_MFA__CAS_TRIES;
	     tries++) {
		store_value raw = {NULL, 0};
		push_window w = {0, 0, 0, 0};
		json_int_t ttl_s = 0;
		store_status sst = store_get(st, key, &raw);
		/* A count an earlier version kept starts a period anew. */
		bool have = sst == STORE_OK && window_parse(&raw, &w) == 0;

		v->why = NULL;
		v->until = 0;
		v->first = 0;
		if (sst != STORE_OK && sst != STORE_NOT_FOUND)
			rc = af_mfa__from_store(sst);
		else if (window_step(&w, have, r, delta, now, &ttl_s, v) == 0)
			rc = window_write(st, key,
					  sst == STORE_OK ? &raw : NULL, &w,
					  ttl_s, &again);
		else
			again = false;
		store_value_free(&raw);
	}
	if (rc == AF_MFA_OK && again)
		rc = AF_MFA_STORE;
	return rc;
}

/* The workflow given, or the stored one into *own. */
static af_mfa_status workflow_or_stored(store_ctx *st, const json_t *given,
					json_t **own, push_rules *r)
{
	af_mfa_status rc = AF_MFA_OK;

	*own = NULL;
	if (given == NULL) {
		rc = af_mfa_workflow_get(st, own);
		given = *own;
	}
	if (rc == AF_MFA_OK)
		rules_of(given, r);
	return rc;
}

af_mfa_status af_mfa_push_check(store_ctx *st, const char *username,
				const json_t *workflow, int64_t now,
				af_mfa_push_verdict *v)
{
	json_t *own = NULL;
	push_rules r;
	int64_t until = 0;
	af_mfa_status rc;

	if (v == NULL)
		return AF_MFA_INVALID;
	memset(v, 0, sizeof(*v));
	if (st == NULL || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	rc = workflow_or_stored(st, workflow, &own, &r);
	json_decref(own);
	if (rc != AF_MFA_OK)
		return rc;
	if (r.count <= 0 || r.period_s <= 0)
		return AF_MFA_INVALID;
	rc = pause_until(st, username, &r, now, &until);
	if (rc != AF_MFA_OK)
		return rc;
	if (until > 0) {
		v->why = "paused";
		v->until = until;
		return AF_MFA_LIMIT;
	}
	rc = window_count(st, username, &r, 1, now, v);
	if (rc == AF_MFA_OK && v->why != NULL)
		rc = AF_MFA_LIMIT;
	return rc;
}

af_mfa_status af_mfa_push_allowed(store_ctx *st, const char *username,
				  const json_t *workflow, const char **why)
{
	af_mfa_push_verdict v;
	af_mfa_status rc;

	rc = af_mfa_push_check(st, username, workflow, af_now(), &v);
	if (why != NULL)
		*why = v.why;
	return rc;
}

af_mfa_status af_mfa_push_state(store_ctx *st, const char *username,
				const json_t *workflow, int64_t now,
				int64_t *paused_until, int64_t *limited_until)
{
	char key[AF_MFA__KEY_MAX];
	store_value raw = {NULL, 0};
	push_window w = {0, 0, 0, 0};
	json_t *own = NULL;
	push_rules r;
	store_status sst;
	af_mfa_status rc;

	if (paused_until == NULL)
		return AF_MFA_INVALID;
	*paused_until = 0;
	if (limited_until != NULL)
		*limited_until = 0;
	if (st == NULL || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	rc = workflow_or_stored(st, workflow, &own, &r);
	json_decref(own);
	if (rc == AF_MFA_OK)
		rc = pause_until(st, username, &r, now, paused_until);
	if (rc != AF_MFA_OK || limited_until == NULL)
		return rc;
	rc = af_mfa__key(key, sizeof(key), "push_count:", username);
	if (rc != AF_MFA_OK)
		return rc;
	sst = store_get(st, key, &raw);
	if (sst == STORE_OK && window_parse(&raw, &w) == 0 &&
	    now < window_end(&w, &r) && w.n >= r.count)
		*limited_until = window_end(&w, &r);
	store_value_free(&raw);
	return sst == STORE_OK || sst == STORE_NOT_FOUND
		       ? AF_MFA_OK
		       : af_mfa__from_store(sst);
}

af_mfa_status af_mfa_push_reset(store_ctx *st, const char *username)
{
	static const char *const prefixes[] = {"push_pause:", "push_count:"};
	char key[AF_MFA__KEY_MAX];
	af_mfa_status rc = AF_MFA_OK;
	size_t i;

	if (st == NULL || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	for (i = 0;
	     rc == AF_MFA_OK && i < sizeof(prefixes) / sizeof(prefixes[0]);
	     i++) {
		rc = af_mfa__key(key, sizeof(key), prefixes[i], username);
		if (rc == AF_MFA_OK)
			rc = af_mfa__from_store(store_del(st, key));
	}
	return rc;
}

af_mfa_status af_mfa_push_unused(store_ctx *st, const char *username,
				 const json_t *workflow)
{
	af_mfa_push_verdict v;
	push_rules r;

	if (st == NULL || !af_mfa__user_ok(username) || workflow == NULL)
		return AF_MFA_INVALID;
	rules_of(workflow, &r);
	if (r.count <= 0 || r.period_s <= 0)
		return AF_MFA_INVALID;
	return window_count(st, username, &r, -1, af_now(), &v);
}
