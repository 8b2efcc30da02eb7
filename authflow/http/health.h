/*
 * The store's health: the one check that /healthz answers with, and the
 * watch the main loop keeps with it once a second, so that an outage of
 * the store (Redis gone, or refusing us) is in the server's own log and
 * metrics, not only in the answers of a probe that someone may not run.
 *
 * An outage is logged when it starts (error, with the reason), at most
 * once every AF_STORE_WATCH_EVERY_S seconds while it lasts (error, with
 * how long), and when the store answers again (info, with how long it was
 * down); authflow_store_up and authflow_store_check_failures_total follow
 * each check of the watch.
 *
 * Thread-safety: af_health_store() may be called from any thread, as the
 * store may; an af_store_watch belongs to one thread (the main loop's);
 * an af_store_health is read by any (see there).
 */
#ifndef AF_HTTP_HEALTH_H
#define AF_HTTP_HEALTH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"
#include "common/store.h"
#include "http/metrics.h"

#define AF_STORE_WATCH_EVERY_S 60u
/* How often the store's id is compared (af_store_watch_tick()). */
#define AF_STORE_ID_EVERY_S    5u
/*
 * How often this node's clock is compared with the store's, and how far
 * apart they may be before it is an error: pushes, phone requests,
 * sessions and signing keys are judged by each node's clock, their
 * records live by the store's.
 */
#define AF_STORE_CLOCK_EVERY_S 60u
#define AF_STORE_CLOCK_WARN_MS 5000
/* The store's id: 128 random bits, base64url, and its NUL. */
#define AF_STORE_ID_BUF	       32
/* Room for the reason of a failed check. */
#define AF_HEALTH_WHY_MAX      256

/*
 * 1 when the store answers a ping, else 0 with a one-line reason in why
 * (whylen bytes with the NUL; may be NULL) that never holds a secret
 * (not the password in store.url). The memory store answers unless its
 * append-only file broke, or cannot take the change it last refused (a
 * full disk).
 */
int af_health_store(store_ctx *st, char *why, size_t whylen);

/* An outage of the store as the watch sees it; zero it to begin. */
typedef struct af_store_watch {
	int down;	    /* the last check failed */
	uint64_t since_ns;  /* monotonic: the outage's first failed check */
	uint64_t logged_ns; /* monotonic: its last log line */
	/* The eviction check (af_store_watch_tick()): its last outcome. */
	int evicts;	   /* 1, 0, or -1: cannot be told */
	uint64_t evict_ns; /* monotonic: when it ran; 0: not yet */
	/* The store's id as this node knows it ("": not yet read). */
	char id[AF_STORE_ID_BUF];
	uint64_t id_ns; /* monotonic: when it was last compared */
	/* The clock check: when it ran, and whether the clocks were apart. */
	uint64_t clock_ns;
	int clock_apart;
} af_store_watch;

/*
 * Notes the store's clock less this node's, offset_ms, measured at
 * now_ns (monotonic): the metric, and a line when the two come apart by
 * more than AF_STORE_CLOCK_WARN_MS, and when they are together again.
 */
void af_store_clock_note(af_store_watch *w, log_ctx *log, af_metrics *m,
			 int64_t offset_ms);

/* What af_store_watch_step() asks the caller to log. */
typedef enum af_store_watch_log {
	AF_STORE_WATCH_QUIET = 0,
	AF_STORE_WATCH_DOWN,  /* the first failed check of an outage */
	AF_STORE_WATCH_STILL, /* AF_STORE_WATCH_EVERY_S since the last line */
	AF_STORE_WATCH_UP,    /* the store answers again after an outage */
} af_store_watch_log;

/*
 * Records the outcome of one check at now_ns (monotonic) in *w and says
 * what to log; *for_s gets how long the outage has lasted, in whole
 * seconds, for AF_STORE_WATCH_STILL and AF_STORE_WATCH_UP (0 otherwise).
 */
af_store_watch_log af_store_watch_step(af_store_watch *w, int up,
				       uint64_t now_ns, uint64_t *for_s);

/*
 * Records the outcome of one check made at now_ns: the metrics (m may be
 * NULL), then the log line af_store_watch_step() asks for; why is the
 * reason of a failed check.
 */
void af_store_watch_note(af_store_watch *w, log_ctx *log, af_metrics *m, int up,
			 const char *why, uint64_t now_ns);

/*
 * The store's health as /healthz tells it, from the watch's checks, so
 * that a probe never waits on the store on an HTTP thread: the last
 * check's outcome; and while the watch's thread is at its store work
 * (af_store_health_begin() .. _end(): the check, and whatever else it
 * asks the store, any of which may wait out store.timeout_ms), work
 * under way for AF_HEALTH_HANG_MS or more counts as failed, so that a
 * store that hangs is told within seconds, not after the time limit.
 * Zeroed, it says up. Any thread may read it; the watch's thread writes
 * it.
 */
#define AF_HEALTH_HANG_MS 2000u
typedef struct af_store_health {
	atomic_int down;		/* the last check failed */
	atomic_uint_least64_t began_ns; /* monotonic: store work under way */
} af_store_health;

/* 1 when the store is up as h last saw it, at now_ns (monotonic). */
int af_store_health_up(af_store_health *h, uint64_t now_ns);

/* The watch's thread begins (at now_ns) and ends its store work. */
void af_store_health_begin(af_store_health *h, uint64_t now_ns);
void af_store_health_end(af_store_health *h);

/*
 * Checks the store (af_health_store()) at now_ns and notes the outcome,
 * in h too (may be NULL). While the store answers, it also asks it, at
 * the first tick and every AF_STORE_WATCH_EVERY_S, whether it may evict
 * entries before they expire (store_eviction()): an error line when it
 * starts to (or is found to at the first check), an info line when it
 * stops, and authflow_store_evicts. And every AF_STORE_ID_EVERY_S it
 * compares the store's id (a random value the first node wrote, kept
 * durable) with the one it read first: an id gone or changed is a store
 * that lost its data (flushed, or a failover or restart without it),
 * whose users, applications and settings are gone with it. That is an
 * error line and authflow_store_data_lost_total; a new id is written, so
 * that the next loss is told too.
 */
void af_store_watch_tick(af_store_watch *w, af_store_health *h, store_ctx *st,
			 log_ctx *log, af_metrics *m, uint64_t now_ns);

#endif /* AF_HTTP_HEALTH_H */
