/*
 * The audit trail: who changed what, kept in the state store as a ring of
 * the last AF_AUDIT_RING events. "audit:seq" counts events (store_incr),
 * event n lives at "audit:<n % AF_AUDIT_RING>" as
 *   {"seq": n, "ts": <unix seconds>, "actor": "...", "action": "...",
 *    "target": "...", "detail": {...}, "ip": "...", "request_id": "..."},
 * the last two when the request that caused it is known (af_dir_view()).
 * With the directory's audit_keep_s, an event is also kept no longer
 * than that: it is written with that TTL, and af_audit_sweep() takes out
 * older ones (written before, or under a longer setting).
 *
 * Never put secrets (passwords, client secrets, codes, tokens) into an
 * event: the trail is shown to every admin.
 *
 * Thread-safety: re-entrant. Concurrent writers get distinct sequence
 * numbers from the store; a reader skips a slot that is being rewritten.
 */
#ifndef AUTHFLOW_DIRECTORY_AUDIT_H
#define AUTHFLOW_DIRECTORY_AUDIT_H

#include "common/log.h"
#include <stddef.h>

#include <jansson.h>

#include "directory/directory.h"

#define AF_AUDIT_RING	    10000
#define AF_AUDIT_ACTION_MAX 64	 /* bytes of an action ("user.add") */
#define AF_AUDIT_TARGET_MAX 256	 /* bytes of a target */
#define AF_AUDIT_DETAIL_MAX 8192 /* bytes of the serialised detail */

/*
 * Records an event. actor: 1..AF_DIR_ACTOR_MAX printable bytes; action:
 * 1..AF_AUDIT_ACTION_MAX of [a-z0-9._-]; target: 0..AF_AUDIT_TARGET_MAX
 * printable bytes (NULL for none); detail: an object (lent; NULL for
 * none). A detail over AF_AUDIT_DETAIL_MAX is kept shortened, as
 *   {"shortened": true, "bytes": N, "sha256": "<hex of its compact,
 *    key-sorted JSON>", "members": ["<its member names>", ...]},
 * since the change it describes has already been made; the directory's
 * audit sink still gets it whole. AF_DIR_OK, AF_DIR_INVALID, AF_DIR_STORE,
 * AF_DIR_NOMEM.
 */
AF_DIR_NODISCARD af_dir_status af_audit_record(af_dir *dir, const char *actor,
					       const char *action,
					       const char *target,
					       const json_t *detail);

/*
 * af_audit_record() with the origin given rather than the view's: the
 * client's address (ip) and the request id (rid), each NULL or empty when
 * not known, else 1..AF_DIR_ORIGIN_MAX - 1 printable bytes.
 */
AF_DIR_NODISCARD af_dir_status af_audit_record_from(
	af_dir *dir, const char *ip, const char *rid, const char *actor,
	const char *action, const char *target, const json_t *detail);

/*
 * af_audit_record_from() for an event whose request goes on whatever the
 * trail says (a wrong code, a limit reached): a failure is an error line
 * in log (event "audit", with the action, the target and why as members).
 */
void af_audit_record_or_log(af_dir *dir, log_ctx *log, const char *ip,
			    const char *rid, const char *actor,
			    const char *action, const char *target,
			    const json_t *detail);

/*
 * Called with each event (lent for the call), newest first; returns 0 to
 * go on, non-zero to stop.
 */
typedef int (*af_audit_fn)(const json_t *event, void *arg);

/*
 * Which events a listing gives: each member NULL (or 0) for any. action
 * ending in '.' ("mfa.") is a prefix: every action of that kind.
 */
typedef struct af_audit_filter {
	const char *actor;  /* exactly this actor */
	const char *action; /* this action, or a kind of them */
	const char *target; /* exactly this target */
	int64_t since;	    /* at or after this Unix time */
	int64_t until;	    /* before this Unix time (0: no end) */
	/*
	 * Of this user: the target, or named by the detail as "user" (a
	 * device removed, a group member added) or "users" (a policy
	 * assigned, an app deployed to them).
	 */
	const char *user;
} af_audit_filter;

/*
 * Calls fn for at most limit (1..AF_AUDIT_RING) of the newest events,
 * newest first. af_audit_list_before: of the events older than sequence
 * number before (0: all), for paging back through the ring, and that
 * filter (NULL: every one) keeps; the whole ring is looked through at
 * most. AF_DIR_OK (also when there are none), AF_DIR_INVALID,
 * AF_DIR_STORE.
 */
AF_DIR_NODISCARD af_dir_status
af_audit_list_before(af_dir *dir, int64_t before, size_t limit,
		     const af_audit_filter *filter, af_audit_fn fn, void *arg);
AF_DIR_NODISCARD af_dir_status af_audit_list(af_dir *dir, size_t limit,
					     af_audit_fn fn, void *arg);

/*
 * Where the sweep of events past the directory's audit_keep_s has come
 * to. Zeroed before the first call.
 */
typedef struct af_audit_sweeper {
	int64_t next;	/* the sequence number looked at next */
	int64_t due;	/* when the next pass begins (Unix time) */
	size_t removed; /* events taken out by this pass so far */
	int failing;	/* the last pass failed, and said so */
} af_audit_sweeper;

/*
 * Takes out of the trail the events recorded more than the directory's
 * audit_keep_s before now (nothing when that is 0), oldest first: a pass
 * every AF_AUDIT_SWEEP_EVERY_S, the first at once, looking at
 * AF_AUDIT_SWEEP_SLOTS events a call (called about once a second), until
 * it comes to a younger event or the newest, judged by the earlier of
 * now and the store's own clock (a node whose clock runs ahead takes
 * nothing out early). A slot that a new event takes meanwhile is left to
 * it. A pass that took events out says how
 * many in log (info, "audit_sweep"); one the store failed says so once
 * (warn) and is tried again a minute later. Every node of a cluster may
 * sweep. Thread-safety: one sweeper per thread; the store calls are
 * re-entrant.
 */
#define AF_AUDIT_SWEEP_EVERY_S 3600
#define AF_AUDIT_SWEEP_RETRY_S 60
#define AF_AUDIT_SWEEP_SLOTS   200
void af_audit_sweep(af_dir *dir, log_ctx *log, af_audit_sweeper *sw,
		    int64_t now);

#endif /* AUTHFLOW_DIRECTORY_AUDIT_H */
