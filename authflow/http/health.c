/* The store's health: the main loop's watch of it, which /healthz tells. */
#include <inttypes.h>
#include <string.h>

#include "common/util.h"
#include "http/health.h"

#define NS_PER_S 1000000000u

int af_health_store(store_ctx *st, char *why, size_t whylen)
{
	return store_ping_why(st, why, whylen) == STORE_OK;
}

af_store_watch_log af_store_watch_step(af_store_watch *w, int up,
				       uint64_t now_ns, uint64_t *for_s)
{
	uint64_t lasted = w->down ? (now_ns - w->since_ns) / NS_PER_S : 0;

	*for_s = 0;
	if (up) {
		if (!w->down)
			return AF_STORE_WATCH_QUIET;
		memset(w, 0, sizeof(*w));
		*for_s = lasted;
		return AF_STORE_WATCH_UP;
	}
	if (!w->down) {
		w->down = 1;
		w->since_ns = now_ns;
		w->logged_ns = now_ns;
		return AF_STORE_WATCH_DOWN;
	}
	/* An hour of outage costs a line a minute, not one a second. */
	if (now_ns - w->logged_ns < (uint64_t)AF_STORE_WATCH_EVERY_S * NS_PER_S)
		return AF_STORE_WATCH_QUIET;
	w->logged_ns = now_ns;
	*for_s = lasted;
	return AF_STORE_WATCH_STILL;
}

void af_store_watch_note(af_store_watch *w, log_ctx *log, af_metrics *m, int up,
			 const char *why, uint64_t now_ns)
{
	uint64_t for_s = 0;

	af_metrics_store(m, up);
	if (why == NULL || why[0] == '\0')
		why = "no reason given";
	switch (af_store_watch_step(w, up, now_ns, &for_s)) {
	case AF_STORE_WATCH_DOWN:
		log_error(log, NULL, "store",
			  "the store does not answer: %s; requests that need "
			  "it fail (503) until it does",
			  why);
		break;
	case AF_STORE_WATCH_STILL:
		log_error(log, NULL, "store",
			  "the store still does not answer, for %" PRIu64
			  " s: %s",
			  for_s, why);
		break;
	case AF_STORE_WATCH_UP:
		log_info(log, NULL, "store",
			 "the store answers again, after %" PRIu64 " s down",
			 for_s);
		break;
	case AF_STORE_WATCH_QUIET:
		break;
	}
}

int af_store_health_up(af_store_health *h, uint64_t now_ns)
{
	uint64_t began = atomic_load(&h->began_ns);

	if (began != 0 && now_ns > began &&
	    now_ns - began >= (uint64_t)AF_HEALTH_HANG_MS * 1000000u)
		return 0;
	return !atomic_load(&h->down);
}

/*
 * A Redis that evicts keys when full drops the lockout and throttle
 * counters and the replay records first among many: guessing and
 * replays go unchecked under a memory pressure that a flood of sign-ins
 * can make. Said when found, and when it ends.
 */
static void eviction_check(af_store_watch *w, store_ctx *st, log_ctx *log,
			   af_metrics *m, uint64_t now_ns)
{
	char policy[64];
	int evicts = 0, was = w->evict_ns != 0 ? w->evicts : 0;
	store_status ss;

	if (w->evict_ns != 0 &&
	    now_ns - w->evict_ns < (uint64_t)AF_STORE_WATCH_EVERY_S * NS_PER_S)
		return;
	w->evict_ns = now_ns != 0 ? now_ns : 1;
	ss = store_eviction(st, &evicts, policy, sizeof(policy));
	if (ss == STORE_ERR_CONFIG) {
		af_metrics_store_evicts(m, -1);
		if (w->evicts != -1)
			log_warn(log, NULL, "store",
				 "cannot tell whether redis evicts keys when "
				 "full: its user may not run INFO; make sure "
				 "its maxmemory-policy is noeviction");
		w->evicts = -1;
		return;
	}
	if (ss != STORE_OK)
		return; /* the next minute tells */
	w->evicts = evicts;
	af_metrics_store_evicts(m, evicts);
	if (evicts && was != 1)
		log_error(log, NULL, "store",
			  "redis evicts keys when it is full "
			  "(maxmemory-policy %s): lockout and throttle "
			  "counters, replay records and sign-ins may vanish "
			  "before they expire, and a flood can make it full; "
			  "set maxmemory-policy noeviction",
			  policy);
	else if (!evicts && was == 1)
		log_info(log, NULL, "store",
			 "redis no longer evicts keys (maxmemory-policy %s)",
			 policy);
}

#define STORE_ID_KEY "store_id"

/*
 * The store's id into out (AF_STORE_ID_BUF); one is written when none.
 * An id that is none of ours (damaged, or written by hand) is replaced,
 * and STORE_ERR_CORRUPT says so, with the new id in out.
 */
static store_status store_id(store_ctx *st, char *out)
{
	char fresh[AF_STORE_ID_BUF];
	store_value v = {NULL, 0};
	store_status ss;
	int attempt, damaged = 0;
	size_t i;

	for (attempt = 0; attempt < 3; attempt++) {
		ss = store_get(st, STORE_ID_KEY, &v);
		if (ss == STORE_OK) {
			for (i = 0; i < v.len && af_b64url_char(v.data[i]); i++)
				;
			if (v.len > 0 && v.len < AF_STORE_ID_BUF &&
			    i == v.len) {
				memcpy(out, v.data, v.len + 1);
				store_value_free(&v);
				return damaged ? STORE_ERR_CORRUPT : STORE_OK;
			}
			/*
			 * Taken away, so that a fresh one goes in below:
			 * only as read, for another node may have replaced
			 * it meanwhile.
			 */
			ss = store_del_if(st, STORE_ID_KEY, v.data, v.len);
			store_value_free(&v);
			if (ss != STORE_OK && ss != STORE_NOT_FOUND &&
			    ss != STORE_CONFLICT)
				return ss;
			damaged = 1;
		} else if (ss != STORE_NOT_FOUND) {
			return ss;
		}
		if (af_random_token(16, fresh, sizeof(fresh)) != 0)
			return STORE_ERR_NOMEM;
		/* Another node's, written first, is the one. */
		ss = store_set(st, STORE_ID_KEY, fresh, strlen(fresh), 0,
			       STORE_SET_NX | STORE_SET_DURABLE);
		if (ss != STORE_OK && ss != STORE_EXISTS)
			return ss;
	}
	return STORE_ERR_UNAVAILABLE;
}

/*
 * A store that lost its data answers like one that never had any: every
 * sign-in fails (no such user, no such application) while each check of
 * it passes. The id the first node wrote tells: gone, or another one.
 */
static void id_check(af_store_watch *w, store_ctx *st, log_ctx *log,
		     af_metrics *m, uint64_t now_ns)
{
	char now_id[AF_STORE_ID_BUF];
	store_status ss;

	if (w->id_ns != 0 &&
	    now_ns - w->id_ns < (uint64_t)AF_STORE_ID_EVERY_S * NS_PER_S)
		return;
	w->id_ns = now_ns != 0 ? now_ns : 1;
	ss = store_id(st, now_id);
	if (ss == STORE_ERR_CORRUPT && w->id[0] == '\0')
		log_warn(log, NULL, "store",
			 "the store's id (store_id) was none of authflow's: "
			 "a new one was written");
	else if (ss != STORE_OK && ss != STORE_ERR_CORRUPT)
		return; /* the next look tells */
	if (w->id[0] != '\0' && strcmp(w->id, now_id) != 0) {
		af_metrics_store_lost(m);
		log_error(log, NULL, "store",
			  "the store lost its data (flushed, or a restart or "
			  "failover without it): users, applications and "
			  "settings are gone from it, and sign-ins fail; "
			  "restore it from a backup");
	}
	memcpy(w->id, now_id, sizeof(now_id));
}

void af_store_health_begin(af_store_health *h, uint64_t now_ns)
{
	atomic_store(&h->began_ns, now_ns != 0 ? now_ns : 1);
}

void af_store_health_end(af_store_health *h)
{
	atomic_store(&h->began_ns, 0);
}

void af_store_clock_note(af_store_watch *w, log_ctx *log, af_metrics *m,
			 int64_t offset_ms)
{
	int apart = offset_ms > AF_STORE_CLOCK_WARN_MS ||
		    offset_ms < -AF_STORE_CLOCK_WARN_MS;
	int64_t abs_ms = offset_ms < 0 ? -offset_ms : offset_ms;

	af_metrics_store_clock(m, offset_ms);
	if (apart && !w->clock_apart)
		log_error(log, NULL, "store",
			  "this node's clock is %lld.%03lld s %s the store's "
			  "(the Redis server's): a push may stay open longer "
			  "or end early, phone requests may be refused, and "
			  "signing keys change at other times than on other "
			  "nodes; keep every node's and Redis's clocks in step "
			  "(NTP)",
			  (long long)(abs_ms / 1000),
			  (long long)(abs_ms % 1000),
			  offset_ms > 0 ? "behind" : "ahead of");
	else if (!apart && w->clock_apart)
		log_info(
			log, NULL, "store",
			"this node's clock is within %d s of the store's again",
			AF_STORE_CLOCK_WARN_MS / 1000);
	w->clock_apart = apart;
}

/*
 * The store's clock against this node's, every AF_STORE_CLOCK_EVERY_S
 * (Redis only: the memory store has none of its own). The node's clock is
 * read on either side of the question and the middle taken; an answer
 * slower than a second says too little and is passed over.
 */
static void clock_check(af_store_watch *w, store_ctx *st, log_ctx *log,
			af_metrics *m, uint64_t now_ns)
{
	int64_t before, after, theirs = 0;

	if (w->clock_ns != 0 &&
	    now_ns - w->clock_ns < (uint64_t)AF_STORE_CLOCK_EVERY_S * NS_PER_S)
		return;
	w->clock_ns = now_ns != 0 ? now_ns : 1;
	before = af_now_ms();
	if (store_time_ms(st, &theirs) != STORE_OK)
		return;
	after = af_now_ms();
	if (after < before || after - before > 1000)
		return;
	af_store_clock_note(w, log, m,
			    theirs - (before + (after - before) / 2));
}

void af_store_watch_tick(af_store_watch *w, af_store_health *h, store_ctx *st,
			 log_ctx *log, af_metrics *m, uint64_t now_ns)
{
	char why[AF_HEALTH_WHY_MAX];
	int up;

	up = af_health_store(st, why, sizeof(why));
	if (h != NULL)
		atomic_store(&h->down, !up);
	af_store_watch_note(w, log, m, up, why, now_ns);
	if (up) {
		eviction_check(w, st, log, m, now_ns);
		id_check(w, st, log, m, now_ns);
		clock_check(w, st, log, m, now_ns);
	}
}
