/* The audit trail: a ring of the newest events in the state store. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "directory/audit.h"

#define SEQ_KEY			"audit:seq"
/*
 * Every AF_AUDIT_TURNOVER_EVERY events, the oldest the ring still keeps
 * is looked at: one younger than AF_AUDIT_TURNOVER_S means the ring turns
 * over faster than a day, as when someone floods it to push their own
 * events out, and an "audit.turnover" event says so (in the trail and
 * the log) at most once per AF_AUDIT_TURNOVER_EVERY events.
 */
#define AF_AUDIT_TURNOVER_EVERY 100
#define AF_AUDIT_TURNOVER_S	86400

/* Printable UTF-8 of min..max bytes (NULL counts as empty). */
static int printable(const char *s, size_t min, size_t max)
{
	if (s == NULL || s[0] == '\0')
		return min == 0;
	return af_dir__utf8_chars(s, max) >= (long)min;
}

static int action_ok(const char *action)
{
	size_t n;

	if (action == NULL)
		return 0;
	n = strnlen(action, AF_AUDIT_ACTION_MAX + 1);
	if (n == 0 || n > AF_AUDIT_ACTION_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = action[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* AF_DIR_OK when detail serialises within AF_AUDIT_DETAIL_MAX. */
static af_dir_status detail_fits(const json_t *detail)
{
	size_t n;

	if (detail == NULL)
		return AF_DIR_OK;
	n = json_dumpb(detail, NULL, 0, JSON_COMPACT);
	if (n == 0)
		return AF_DIR_NOMEM;
	return n <= AF_AUDIT_DETAIL_MAX ? AF_DIR_OK : AF_DIR_LIMIT;
}

/*
 * What an event keeps of a detail too big to keep whole: its size, its
 * SHA-256 (so a copy kept elsewhere can be matched) and its member names.
 * New reference, or NULL when memory ran out.
 */
static json_t *detail_digest(const json_t *detail)
{
	char *text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *names = json_array(), *copy = NULL, *v, *out = NULL;
	const char *name;
	char hex[65];
	size_t n = 0;

	if (text == NULL || names == NULL)
		goto out;
	af_sha256_hex(text, strlen(text), hex);
	/* A copy of our own to walk: the detail is lent read-only. */
	copy = json_loads(text, 0, NULL);
	json_object_foreach(copy, name, v)
	{
		/* Member names are the directory's own, short and few. */
		if (n++ < 64 && strlen(name) <= 64)
			json_array_append_new(names, json_string(name));
	}
	out = json_pack("{s:b, s:I, s:s, s:O}", "shortened", 1, "bytes",
			(json_int_t)strlen(text), "sha256", hex, "members",
			names);
out:
	free(text);
	json_decref(copy);
	json_decref(names);
	return out;
}

/*
 * Hands the event to the directory's audit sink, if it has one, with the
 * whole detail (full, when the store keeps it shortened): the log is
 * where the whole history lives.
 */
static void to_sink(af_dir *dir, json_t *ev, const json_t *full, int stored)
{
	const af_dir_options *o = af_dir_options_get(dir);
	json_t *kept = NULL;

	if (o == NULL || o->audit_sink == NULL)
		return;
	if (full != NULL) {
		kept = json_incref(json_object_get(ev, "detail"));
		/* Out of memory: the shortened detail is what there is. */
		if (json_object_set_new(ev, "detail", json_deep_copy(full)) !=
		    0) {
			json_decref(kept);
			kept = NULL;
		}
	}
	o->audit_sink(o->audit_arg, ev, stored);
	if (kept != NULL)
		(void)json_object_set_new(ev, "detail", kept);
}

static af_dir_status slot_key(char *key, size_t keycap, int64_t seq)
{
	int n = snprintf(key, keycap, "audit:%" PRId64, seq % AF_AUDIT_RING);

	return n < 0 || (size_t)n >= keycap ? AF_DIR_INVALID : AF_DIR_OK;
}

/* The directory's audit_keep_s (0: no age limit). */
static int64_t keep_s(af_dir *dir)
{
	const af_dir_options *o = af_dir_options_get(dir);

	return o != NULL && o->audit_keep_s > 0 ? o->audit_keep_s : 0;
}

/*
 * Writes event ev at key: for the directory's audit_keep_s when it has
 * one, durable all the same (a TTL alone makes a key volatile in the
 * memory store).
 */
static af_dir_status put_event(af_dir *dir, const char *key, const json_t *ev)
{
	int64_t keep = keep_s(dir);

	if (keep == 0)
		return af_dir__put_json(dir, key, ev, 0);
	return af_dir__put_json_ttl(dir, key, ev, (uint64_t)keep * 1000u,
				    STORE_SET_DURABLE);
}

/*
 * After event seq, by actor, was stored: the "audit.turnover" event when
 * the oldest event the ring keeps is less than AF_AUDIT_TURNOVER_S old,
 * naming actor, whose event pushed the ring over (a flood's author, most
 * likely). Not fatal: the event that was recorded stands.
 */
static void check_turnover(af_dir *dir, int64_t seq, int64_t now,
			   const char *actor)
{
	char key[STORE_KEY_MAX];
	json_t *oldest = NULL, *detail;
	af_dir_status st;
	int64_t ts;

	if (seq <= AF_AUDIT_RING || seq % AF_AUDIT_TURNOVER_EVERY != 0 ||
	    slot_key(key, sizeof(key), seq + 1) != AF_DIR_OK ||
	    af_dir__get_json(dir, key, &oldest, NULL) != AF_DIR_OK)
		return;
	ts = json_integer_value(json_object_get(oldest, "ts"));
	if (ts > 0 && now - ts < AF_AUDIT_TURNOVER_S) {
		detail = json_pack(
			"{s:I, s:I, s:I, s:s}", "oldest_seq",
			json_integer_value(json_object_get(oldest, "seq")),
			"oldest_ts", (json_int_t)ts, "kept",
			(json_int_t)AF_AUDIT_RING, "by", actor);
		/* Its own failure is its own: the sink still gets it. */
		st = detail != NULL
			     ? af_audit_record(dir, AF_DIR_ACTOR_SERVER,
					       "audit.turnover", NULL, detail)
			     : AF_DIR_NOMEM;
		(void)st;
		json_decref(detail);
	}
	json_decref(oldest);
}

/* Adds a member for a non-empty text: 0, or -1 when memory runs out. */
static int set_text(json_t *ev, const char *name, const char *text)
{
	return text == NULL || text[0] == '\0'
		       ? 0
		       : json_object_set_new(ev, name, json_string(text));
}

af_dir_status af_audit_record(af_dir *dir, const char *actor,
			      const char *action, const char *target,
			      const json_t *detail)
{
	const char *ip, *rid;

	af_dir_origin(dir, &ip, &rid);
	return af_audit_record_from(dir, ip, rid, actor, action, target,
				    detail);
}

af_dir_status af_audit_record_from(af_dir *dir, const char *ip, const char *rid,
				   const char *actor, const char *action,
				   const char *target, const json_t *detail)
{
	char key[STORE_KEY_MAX];
	json_t *ev = NULL, *small = NULL;
	const json_t *full = NULL;
	af_dir_status rc;
	int64_t seq = 0;

	if (dir == NULL || !printable(actor, 1, AF_DIR_ACTOR_MAX) ||
	    !action_ok(action) || !printable(target, 0, AF_AUDIT_TARGET_MAX) ||
	    !printable(ip, 0, AF_DIR_ORIGIN_MAX - 1) ||
	    !printable(rid, 0, AF_DIR_ORIGIN_MAX - 1) ||
	    (detail != NULL && !json_is_object(detail)))
		return AF_DIR_INVALID;
	/*
	 * The change this event records is already made: a detail too big to
	 * keep is shortened rather than refused, so that no change goes
	 * unrecorded. Sizes are checked before taking a sequence number, so
	 * that a failure leaves no hole in the ring.
	 */
	rc = detail_fits(detail);
	if (rc == AF_DIR_LIMIT) {
		full = detail;
		small = detail_digest(detail);
		detail = small;
		rc = small != NULL ? detail_fits(small) : AF_DIR_NOMEM;
	}
	if (rc != AF_DIR_OK)
		goto out;
	ev = json_pack("{s:s, s:s, s:s, s:I}", "actor", actor, "action", action,
		       "target", target != NULL ? target : "", "ts",
		       (json_int_t)af_now());
	if (ev == NULL || set_text(ev, "ip", ip) != 0 ||
	    set_text(ev, "request_id", rid) != 0) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	if (detail != NULL &&
	    json_object_set_new(ev, "detail", json_deep_copy(detail)) != 0) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	rc = af_dir__from_store(
		store_incr(af_dir_store(dir), SEQ_KEY, 1, 0, &seq));
	if (rc != AF_DIR_OK)
		goto out;
	if (json_object_set_new(ev, "seq", json_integer(seq)) != 0) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	rc = slot_key(key, sizeof(key), seq);
	if (rc == AF_DIR_OK)
		rc = put_event(dir, key, ev);
out:
	if (ev != NULL)
		to_sink(dir, ev, full, rc == AF_DIR_OK);
	json_decref(ev);
	json_decref(small);
	if (rc == AF_DIR_OK)
		check_turnover(dir, seq, af_now(), actor);
	return rc;
}

/* The newest sequence number, or 0 when nothing was recorded. */
static af_dir_status newest_seq(af_dir *dir, int64_t *out)
{
	store_value v = {NULL, 0};
	store_status st;
	int64_t seq = 0;

	*out = 0;
	st = store_get(af_dir_store(dir), SEQ_KEY, &v);
	if (st == STORE_NOT_FOUND)
		return AF_DIR_OK;
	if (st != STORE_OK)
		return af_dir__from_store(st);
	if (v.len == 0 || v.len > 19) {
		store_value_free(&v);
		return AF_DIR_STORE;
	}
	for (size_t i = 0; i < v.len; i++) {
		if (v.data[i] < '0' || v.data[i] > '9') {
			store_value_free(&v);
			return AF_DIR_STORE;
		}
		seq = seq * 10 + (v.data[i] - '0');
	}
	store_value_free(&v);
	*out = seq;
	return AF_DIR_OK;
}

af_dir_status af_audit_list(af_dir *dir, size_t limit, af_audit_fn fn,
			    void *arg)
{
	return af_audit_list_before(dir, 0, limit, NULL, fn, arg);
}

/* Whether event ev's member name is want (NULL: anything). */
static int member_is(const json_t *ev, const char *name, const char *want)
{
	const char *v = json_string_value(json_object_get(ev, name));

	return want == NULL || (v != NULL && strcmp(v, want) == 0);
}

static int kept(const af_audit_filter *f, const json_t *ev)
{
	const char *action = json_string_value(json_object_get(ev, "action"));
	size_t n;

	if (f == NULL)
		return 1;
	if (f->action != NULL) {
		n = strlen(f->action);
		if (action == NULL ||
		    (n > 0 && f->action[n - 1] == '.'
			     ? strncmp(action, f->action, n) != 0
			     : strcmp(action, f->action) != 0))
			return 0;
	}
	if (f->user != NULL && !member_is(ev, "target", f->user) &&
	    !member_is(json_object_get(ev, "detail"), "user", f->user) &&
	    !member_is(json_object_get(ev, "detail"), "users", f->user))
		return 0;
	return member_is(ev, "actor", f->actor) &&
	       member_is(ev, "target", f->target) &&
	       json_integer_value(json_object_get(ev, "ts")) >= f->since &&
	       (f->until <= 0 ||
		json_integer_value(json_object_get(ev, "ts")) < f->until);
}

/*
 * Events are numbered in the order they are recorded, and their times
 * follow but for the clocks of several nodes: a listing "since" stops at
 * the first event older by more than this.
 */
#define CLOCK_SKEW_S 300

af_dir_status af_audit_list_before(af_dir *dir, int64_t before, size_t limit,
				   const af_audit_filter *filter,
				   af_audit_fn fn, void *arg)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;
	int64_t newest, seq;
	size_t seen = 0;

	if (dir == NULL || fn == NULL || limit == 0 || limit > AF_AUDIT_RING ||
	    before < 0)
		return AF_DIR_INVALID;
	rc = newest_seq(dir, &newest);
	if (rc != AF_DIR_OK)
		return rc;
	/* Older than before, and still in the ring. */
	for (seq = before > 0 && before - 1 < newest ? before - 1 : newest;
	     seq > 0 && seen < limit && newest - seq < (int64_t)AF_AUDIT_RING;
	     seq--) {
		json_t *ev = NULL;
		json_t *got;

		rc = slot_key(key, sizeof(key), seq);
		if (rc != AF_DIR_OK)
			return rc;
		rc = af_dir__get_json(dir, key, &ev, NULL);
		if (rc == AF_DIR_NOT_FOUND)
			continue;
		if (rc != AF_DIR_OK)
			return rc;
		/*
		 * A slot whose number differs is being rewritten by a newer
		 * event (or was never written): skip it rather than show an
		 * event out of order.
		 */
		got = json_object_get(ev, "seq");
		if (!json_is_integer(got) || json_integer_value(got) != seq) {
			json_decref(ev);
			continue;
		}
		if (filter != NULL && filter->since > 0 &&
		    json_integer_value(json_object_get(ev, "ts")) <
			    filter->since - CLOCK_SKEW_S) {
			json_decref(ev);
			break;
		}
		if (!kept(filter, ev)) {
			json_decref(ev);
			continue;
		}
		seen++;
		if (fn(ev, arg) != 0) {
			json_decref(ev);
			break;
		}
		json_decref(ev);
	}
	return AF_DIR_OK;
}

void af_audit_record_or_log(af_dir *dir, log_ctx *log, const char *ip,
			    const char *rid, const char *actor,
			    const char *action, const char *target,
			    const json_t *detail)
{
	af_dir_status st = af_audit_record_from(dir, ip, rid, actor, action,
						target, detail);
	const char *kv[] = {"action", action,  "target",
			    target,   "error", af_dir_strerror(st),
			    NULL};

	if (st != AF_DIR_OK)
		log_write(log, LOG_LEVEL_ERROR, rid, "audit", kv, NULL);
}

/*
 * Looks at the slot of the event numbered seq for af_audit_sweep(), with
 * cutoff the oldest time kept: 1 when its event is younger (the pass is
 * over), 0 when it was taken out, was not there, or is not one to judge
 * (damaged, or a newer event's), -1 when the store failed. An older
 * event, left there by a writer that took the number seq but could not
 * write, is taken out when it is old enough, and does not end the pass.
 */
static int sweep_one(af_dir *dir, int64_t seq, int64_t cutoff, size_t *removed)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	json_t *ev = NULL, *got, *ts;
	store_status st;
	int rc = 0;

	if (slot_key(key, sizeof(key), seq) != AF_DIR_OK)
		return -1;
	st = store_get(af_dir_store(dir), key, &v);
	if (st == STORE_NOT_FOUND)
		return 0;
	if (st != STORE_OK)
		return -1;
	ev = json_loadb((const char *)v.data, v.len, JSON_REJECT_DUPLICATES,
			NULL);
	got = json_object_get(ev, "seq");
	ts = json_object_get(ev, "ts");
	if (!json_is_integer(got) || json_integer_value(got) > seq ||
	    !json_is_integer(ts))
		goto out;
	if (json_integer_value(ts) >= cutoff) {
		rc = json_integer_value(got) == seq;
		goto out;
	}
	/* Only the event read: a new one may have taken the slot since. */
	st = store_del_if(af_dir_store(dir), key, v.data, v.len);
	if (st == STORE_OK)
		(*removed)++;
	else if (st != STORE_CONFLICT && st != STORE_NOT_FOUND)
		rc = -1;
out:
	json_decref(ev);
	store_value_free(&v);
	return rc;
}

/*
 * The time the sweep judges by: now, or the store's clock when that is
 * behind, so that a node whose clock runs ahead takes nothing out early
 * (Redis's clock is the one its TTLs keep; the memory store has none of
 * its own). 0, or -1 when the store failed.
 */
static int sweep_time(af_dir *dir, int64_t now, int64_t *out)
{
	int64_t ms = 0;
	store_status st = store_time_ms(af_dir_store(dir), &ms);

	*out = now;
	if (st == STORE_ERR_CONFIG)
		return 0;
	if (st != STORE_OK)
		return -1;
	if (ms / 1000 < now)
		*out = ms / 1000;
	return 0;
}

void af_audit_sweep(af_dir *dir, log_ctx *log, af_audit_sweeper *sw,
		    int64_t now)
{
	int64_t keep = dir != NULL ? keep_s(dir) : 0, newest, oldest, at;
	unsigned looked = 0;
	int rc = 0;

	if (keep == 0 || sw == NULL)
		return;
	/* Due further off than a pass's gap: the clock was set back. */
	if (sw->due > now + AF_AUDIT_SWEEP_EVERY_S)
		sw->due = now;
	if (sw->due > now)
		return;
	if (sweep_time(dir, now, &at) != 0 ||
	    newest_seq(dir, &newest) != AF_DIR_OK)
		goto failed;
	oldest = newest > AF_AUDIT_RING ? newest - AF_AUDIT_RING + 1 : 1;
	/* Behind the ring, or past the newest (the trail began anew). */
	if (sw->next < oldest || sw->next > newest + 1)
		sw->next = oldest;
	while (sw->next <= newest && looked++ < AF_AUDIT_SWEEP_SLOTS) {
		rc = sweep_one(dir, sw->next, at - keep, &sw->removed);
		if (rc != 0)
			break;
		sw->next++;
	}
	if (rc < 0)
		goto failed;
	if (rc == 0 && sw->next <= newest)
		return; /* the rest at the next call */
	if (sw->removed > 0)
		log_info(log, NULL, "audit_sweep",
			 "took out %zu audit event(s) older than %lld s "
			 "(audit.keep_days)",
			 sw->removed, (long long)keep);
	sw->removed = 0;
	sw->failing = 0;
	sw->due = now + AF_AUDIT_SWEEP_EVERY_S;
	return;
failed:
	if (!sw->failing)
		log_warn(log, NULL, "audit_sweep",
			 "the store failed: audit events older than %lld s "
			 "(audit.keep_days) are taken out later",
			 (long long)keep);
	sw->failing = 1;
	sw->due = now + AF_AUDIT_SWEEP_RETRY_S;
}
