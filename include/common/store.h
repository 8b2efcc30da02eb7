/*
 * The state store: one narrow interface over every piece of runtime state
 * (users, apps, sessions, codes, tokens, counters), with two backends.
 *
 * - memory: in-process hash table with TTLs; when given a folder it keeps
 *   an append-only file there (fsynced on every change, replayed at open,
 *   compacted when it grows past twice the live data), so admin data
 *   survives a restart on one node. Keys with a TTL are kept there only
 *   when written durable (STORE_SET_DURABLE); the others are volatile and
 *   a restart loses them.
 * - redis: hiredis, one connection per calling thread (made on first use,
 *   reconnected with backoff), so many authflow and pushd nodes share
 *   state. One-shot operations are atomic on the server (GETDEL, SET NX,
 *   Lua scripts).
 *
 * Keys and values are byte strings. Keys are at most STORE_KEY_MAX bytes,
 * values at most STORE_VALUE_MAX. Every key gets the configured prefix.
 * TTLs are in milliseconds; 0 means no expiry.
 *
 * Common return codes of every call: STORE_ERR_ARG (NULL or empty key,
 * bad flags, a TTL over STORE_TTL_MAX, or a string operation on a set key
 * and the other way round), STORE_ERR_TOO_BIG (key, member or value over
 * its cap), STORE_ERR_NOMEM, STORE_ERR_IO (memory: the append-only file
 * could not be written; the change was not made), STORE_ERR_UNAVAILABLE
 * (redis: no connection; a thread whose connection broke reconnects on
 * its next call, failed connects back off from 100 ms doubling to 5 s,
 * and calls fail fast meanwhile), STORE_ERR_CONFIG (redis: the user
 * lacks a permission the store needs, NOPERM, or Redis asks for a
 * password, NOAUTH; every connect checks the commands it needs on the key
 * "<prefix>probe", which it never writes) and STORE_ERR_PROTOCOL
 * (redis: a reply of the wrong type). Values handed out are always the
 * caller's to free with store_value_free(), and are empty on any failure.
 *
 * Thread-safety: a store_ctx may be shared by any number of threads; each
 * call is atomic with respect to the others on the same key.
 */
#ifndef COMMON_STORE_H
#define COMMON_STORE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define STORE_NODISCARD __attribute__((warn_unused_result))
#else
#define STORE_NODISCARD
#endif

#define STORE_STATUS_MAP(XX)                                 \
	XX(OK, 0, "success")                                 \
	XX(NOT_FOUND, -1, "no such key")                     \
	XX(EXISTS, -2, "key already exists")                 \
	XX(CONFLICT, -3, "value changed since it was read")  \
	XX(ERR_ARG, -4, "invalid argument")                  \
	XX(ERR_NOMEM, -5, "out of memory")                   \
	XX(ERR_TOO_BIG, -6, "key or value too large")        \
	XX(ERR_IO, -7, "state file input/output error")      \
	XX(ERR_CORRUPT, -8, "state file is corrupt")         \
	XX(ERR_UNAVAILABLE, -9, "store unavailable")         \
	XX(ERR_PROTOCOL, -10, "unexpected reply from store") \
	XX(ERR_CONFIG, -11, "bad store configuration")

typedef enum store_status {
#define STORE_XX(name, value, text) STORE_##name = (value),
	STORE_STATUS_MAP(STORE_XX)
#undef STORE_XX
} store_status;

/* A static, never NULL message. */
const char *store_strerror(store_status st);

#define STORE_KEY_MAX	 512
#define STORE_VALUE_MAX	 1048576 /* 1 MiB */
#define STORE_PREFIX_MAX 64
/* Set members are at most this many bytes. */
#define STORE_MEMBER_MAX STORE_KEY_MAX
/* Longest TTL accepted (about 100 years); longer ones are STORE_ERR_ARG. */
#define STORE_TTL_MAX	 ((uint64_t)100 * 366 * 24 * 3600 * 1000)

typedef struct store_ctx store_ctx;

typedef enum store_backend {
	STORE_BACKEND_MEMORY = 0,
	STORE_BACKEND_REDIS,
} store_backend;

/* How much a store report matters (the level passed to report). */
typedef enum store_report_level {
	STORE_REPORT_INFO = 0,
	STORE_REPORT_WARNING = 1,
	STORE_REPORT_ERROR = 2,
} store_report_level;

typedef struct store_options {
	store_backend backend;
	/* memory: folder for the append-only file, or NULL for none. */
	const char *state_dir;
	/*
	 * redis: "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" (user and
	 * password percent-encoded, sent with AUTH) or "unix:/path/to.sock".
	 */
	const char *url;
	/* Prepended to every key, e.g. "authflow:". May be NULL. */
	const char *prefix;
	/* redis: connect and command timeout in milliseconds (0: 2000). */
	unsigned timeout_ms;
	/*
	 * Told (may be NULL) what an operator should know about the state
	 * file, one line each, with a store_report_level; msg never holds a
	 * key or a value. memory with a state_dir: at open, the file's
	 * absolute path and that it is new or how many records were
	 * replayed (INFO), and a torn tail cut off, with its offset, size
	 * and the side file that keeps its bytes (WARNING); afterwards each
	 * change the file could not take, naming the file and the error
	 * (ERROR; a failed compaction is a WARNING). A failure identical to
	 * the last one reported (same step, same error) within 10 s is only
	 * counted, and the count is told with the next line of that step or
	 * at store_close(). The redis backend reports a WRONGTYPE answer (a key
	 * under the prefix holding another type of value: every request using
	 * it fails) as an ERROR, once in 10 s, without the key. Called from the
	 * thread that made the call, with no lock of the store held, until
	 * store_close() returns.
	 */
	void (*report)(void *arg, int level, const char *msg);
	void *report_arg;
	/*
	 * memory with a state_dir: once the file holds records that no
	 * longer count (a value overwritten or deleted: a removed user's
	 * password hash, an old copy of a device's secret) for this many
	 * milliseconds, a store_ping() rewrites it without them (0: 10
	 * minutes), whatever its size; see mem_ping().
	 */
	uint64_t scrub_after_ms;
	/*
	 * memory: the most bytes of keys, values and set members the store
	 * holds before it refuses writes of short-lived data that would
	 * grow it (a string with an expiry written without
	 * STORE_SET_DURABLE, a member of a set with an expiry), with
	 * STORE_ERR_UNAVAILABLE, as Redis refuses writes past its
	 * maxmemory; 0: no cap. Writes without an expiry, durable writes
	 * and every delete still go through, so that admin data and
	 * lockouts are never refused for want of room. A warning tells the
	 * refusals, at most one every 10 s. The bytes are the store's own
	 * count of its entries (headers included), not the process'
	 * memory, which is somewhat more.
	 */
	uint64_t max_bytes;
} store_options;

/*
 * Opens a store. On failure *out is NULL and, when err is not NULL, a
 * one-line reason goes into err (errlen bytes with the NUL).
 *
 * memory with a state_dir: the folder is made (mode 0700) when missing;
 * state_dir/store.aof is created with mode 0600 and refused with
 * STORE_ERR_CONFIG when its mode is wider or another user owns it, or when
 * another open store already uses it; a corrupt file gives
 * STORE_ERR_CORRUPT (err names the file and the offset of the bad
 * record), an unreadable one STORE_ERR_IO. A torn last record (a crash
 * while appending) is cut off, after its bytes were written and fsynced
 * to state_dir/store.aof.cut-UNIXTIME (mode 0600); when that side file
 * cannot be written the open fails with STORE_ERR_IO and the state file
 * is left as it was.
 * redis: only the URL is checked here (STORE_ERR_CONFIG); each thread
 * connects on its first call, so call store_ping() to check the server.
 * The caller owns *out and frees it with store_close().
 */
STORE_NODISCARD store_status store_open(const store_options *opts,
					store_ctx **out, char *err,
					size_t errlen);

/*
 * Checks opts as store_open() would, without opening anything or
 * reaching a server: the prefix, and the redis URL, or the memory
 * store's state folder (an existing folder this process may write in, or
 * one it may make). STORE_OK, or STORE_ERR_CONFIG / STORE_ERR_IO with a
 * one-line reason in err. For "authflow --check-config".
 */
STORE_NODISCARD store_status store_check(const store_options *opts, char *err,
					 size_t errlen);

/*
 * Reads the memory store's state file, if there is one, as store_open()
 * would replay it, into a copy that is then dropped, and writes nothing:
 * STORE_OK (also for a torn tail, which store_open() cuts off and keeps
 * aside, and for any other backend), STORE_ERR_CORRUPT (what store_open()
 * would refuse: a damaged record with records after it, or not a state
 * file, with its offset in err), STORE_ERR_IO, STORE_ERR_NOMEM. Safe while
 * a server has the file open: what it is appending is a torn tail here.
 * Costs the memory and time of a replay; for "authflow --check-config",
 * after store_check().
 */
STORE_NODISCARD store_status store_check_state(const store_options *opts,
					       char *err, size_t errlen);

/*
 * The state store_check_state() reads, kept for a look at what it holds
 * (the key ring, say): *out is a memory store with the file's data,
 * tied to no file, so that nothing written to it is kept. *out is NULL,
 * with STORE_OK, when there is nothing to read (no state file yet, or
 * another backend). Returns what store_check_state() does; close *out
 * with store_close().
 */
STORE_NODISCARD store_status store_open_state_copy(const store_options *opts,
						   store_ctx **out, char *err,
						   size_t errlen);

/*
 * Closes the store, flushing the append-only file. Accepts NULL.
 * Thread-safety: call it once no other thread uses the store any more
 * (join the worker threads first).
 */
void store_close(store_ctx *st);

/* Which backend the store uses (STORE_BACKEND_MEMORY for NULL). */
store_backend store_get_backend(const store_ctx *st);

/*
 * Called when a value a module reads is not what it wrote there (not the
 * JSON it stores: a damaged store, or a write from elsewhere), with its
 * key (without the prefix), lent for the call: the read fails as a store
 * failure does, and this says which record, for the operator. Must be
 * re-entrant: every thread's reads may call it.
 */
typedef void (*store_damage_fn)(void *arg, const char *key);

/*
 * Sets whom store_damaged() tells (fn NULL: nobody, the default).
 * Thread-safety: set it before other threads use the store.
 */
void store_set_damage_sink(store_ctx *st, store_damage_fn fn, void *arg);

/* Tells the damage sink, if any, that the value at key is damaged. */
void store_damaged(store_ctx *st, const char *key);

/*
 * Checks that the store answers (redis: PING; memory: that its file takes
 * changes, see mem_ping()). STORE_OK, STORE_ERR_UNAVAILABLE, or
 * STORE_ERR_CONFIG when the connect just made was refused for want of a
 * permission or a password (NOPERM, NOAUTH): waiting will not help.
 */
STORE_NODISCARD store_status store_ping(store_ctx *st);

/*
 * The same, and on failure one line on why into why (whylen bytes with the
 * NUL; may be NULL): the server cannot be reached, refused the url's user
 * name or password, refused its database, and so on. Never holds a secret.
 */
STORE_NODISCARD store_status store_ping_why(store_ctx *st, char *why,
					    size_t whylen);

/*
 * Whether the store may drop entries before they expire when it is full:
 * redis with a maxmemory and a maxmemory-policy other than noeviction
 * evicts lockout and throttle counters, replay records and sign-ins under
 * memory pressure, which a flood can make. *evicts 1 or 0 (the memory
 * store never: it refuses new entries instead); policy gets the policy's
 * name ("" for the memory store), cap bytes. STORE_OK; STORE_ERR_CONFIG
 * when redis refused INFO (its ACL), so that it cannot be told; the
 * others as store_ping().
 */
STORE_NODISCARD store_status store_eviction(store_ctx *st, int *evicts,
					    char *policy, size_t cap);

/*
 * The store's own clock, in Unix milliseconds, into *ms: the Redis
 * server's (TIME), by which keys expire and stream ids are made; this
 * process's for the memory store, STORE_ERR_CONFIG (no other clock to
 * compare with). The others as store_ping().
 */
STORE_NODISCARD store_status store_time_ms(store_ctx *st, int64_t *ms);

/* A value handed out by the store; free it with store_value_free(). */
typedef struct store_value {
	uint8_t *data; /* NUL-terminated for convenience; len excludes it */
	size_t len;
} store_value;

/* Wipes and frees the value's bytes (values may hold secrets). */
void store_value_free(store_value *v);

/* Bytes of a secret store_secret() keeps. */
#define STORE_SECRET_MAX 64

/*
 * A random secret of len (1..STORE_SECRET_MAX) bytes shared by every node
 * of the store, kept durable at key as hex: read, or made there when
 * there is none yet (of two nodes making one at once, the first to store
 * it wins). STORE_OK and out, STORE_ERR_PROTOCOL when the stored one is
 * not len bytes of lower-case hex, STORE_ERR_ARG for a bad len,
 * STORE_ERR_UNAVAILABLE when no random bytes could be drawn, or the
 * store's failure; out is wiped unless STORE_OK. Thread-safety:
 * re-entrant, as the store's calls.
 */
STORE_NODISCARD store_status store_secret(store_ctx *st, const char *key,
					  uint8_t *out, size_t len);

/* Flags of store_set(). */
#define STORE_SET_NX	  0x1 /* only when the key does not exist: EXISTS */
#define STORE_SET_XX	  0x2 /* only when the key exists: NOT_FOUND */
/*
 * Durable: the key survives a restart of the memory backend even though
 * it has a TTL. Such a key is written to the state file with its absolute
 * expiry, replayed at open only if it has not expired by then, and kept
 * by compaction; without the flag a key with a TTL is volatile and lost in
 * a restart. redis takes the flag and changes nothing:
 * what Redis keeps across its own restarts is its configuration's affair.
 * A key is durable when its last write asked for it: a store_set() or
 * store_incr() without the flag makes it volatile again (store_cas()
 * keeps what it was). A key without a TTL is kept in any case.
 *
 * Every durable write costs an fsync, as a write without a TTL does: it
 * is for security state whose loss in a restart would reopen an attack
 * (brute-force locks and counters, replay records), not for the sessions,
 * codes and tokens every sign-in makes.
 */
#define STORE_SET_DURABLE 0x4
/*
 * Yield: short-lived data made for a client that has not signed in (a
 * sign-in begun). The memory backend refuses it from STORE_YIELD_PCT of
 * its cap already (store_options.max_bytes), so that a flood of sign-ins
 * nobody finishes leaves room for what the people signing in need next
 * (codes, sessions, tokens). redis takes the flag and changes nothing.
 */
#define STORE_SET_YIELD	  0x8
#define STORE_YIELD_PCT	  90
/*
 * Vital: short-lived and volatile, but never refused for the memory
 * backend's cap: small keys a safety check must be able to write, or it
 * fails closed for everyone (the brute-force throttle's failure counts,
 * delays and turns). What bounds them is what makes them: each follows a
 * password check of a sign-in that could begin. redis takes the flag and
 * changes nothing.
 */
#define STORE_SET_VITAL	  0x10

/* Sets key to value with a TTL (0: none). */
STORE_NODISCARD store_status store_set(store_ctx *st, const char *key,
				       const void *val, size_t len,
				       uint64_t ttl_ms, unsigned flags);

/* Reads a key: STORE_OK and *out, or STORE_NOT_FOUND. */
STORE_NODISCARD store_status store_get(store_ctx *st, const char *key,
				       store_value *out);

/*
 * Reads and deletes a key in one atomic step: of any number of concurrent
 * callers, exactly one gets STORE_OK, the rest STORE_NOT_FOUND.
 */
STORE_NODISCARD store_status store_getdel(store_ctx *st, const char *key,
					  store_value *out);

/* Deletes a key; STORE_OK whether or not it existed. */
STORE_NODISCARD store_status store_del(store_ctx *st, const char *key);

/*
 * Replaces the value of key with newval only if it currently equals
 * expected (compared byte for byte), keeping its TTL when ttl_ms is 0.
 * STORE_OK, STORE_CONFLICT (the value differs) or STORE_NOT_FOUND.
 * Of concurrent callers with the same expected value, exactly one wins.
 */
STORE_NODISCARD store_status store_cas(store_ctx *st, const char *key,
				       const void *expected, size_t elen,
				       const void *newval, size_t nlen,
				       uint64_t ttl_ms);

/*
 * Deletes key only if its value currently equals expected (compared byte
 * for byte): a claim given up by its holder alone, never by one who lost
 * it to another meanwhile. STORE_OK (deleted), STORE_CONFLICT (the value
 * differs) or STORE_NOT_FOUND.
 */
STORE_NODISCARD store_status store_del_if(store_ctx *st, const char *key,
					  const void *expected, size_t elen);

/*
 * Adds delta to the integer at key (a missing key counts as 0) and returns
 * the new value in *out. When the key is new, ttl_ms (if not 0) is set on
 * it; an existing key keeps its TTL. For rate limits and lockouts. The
 * value is kept as decimal text, as Redis does; a value that is not a
 * canonical 64-bit integer, or a sum that overflows, is STORE_ERR_ARG.
 */
STORE_NODISCARD store_status store_incr(store_ctx *st, const char *key,
					int64_t delta, uint64_t ttl_ms,
					int64_t *out);

/*
 * store_incr(), and the key becomes durable (STORE_SET_DURABLE): for
 * counters that must outlive a restart of the memory backend.
 */
STORE_NODISCARD store_status store_incr_durable(store_ctx *st, const char *key,
						int64_t delta, uint64_t ttl_ms,
						int64_t *out);

/*
 * store_incr() of a counter that yields (STORE_SET_YIELD): one that
 * anyone may make without signing in (sign-ins begun per address), so
 * that near the memory backend's cap such counters stop with what they
 * count, and the room left stays for codes and sessions.
 */
STORE_NODISCARD store_status store_incr_yield(store_ctx *st, const char *key,
					      int64_t delta, uint64_t ttl_ms,
					      int64_t *out);

/* store_incr() of a vital counter (STORE_SET_VITAL). */
STORE_NODISCARD store_status store_incr_vital(store_ctx *st, const char *key,
					      int64_t delta, uint64_t ttl_ms,
					      int64_t *out);

/*
 * Remaining TTL in milliseconds (0 when the key has none, at least 1
 * otherwise); STORE_NOT_FOUND when the key does not exist.
 */
STORE_NODISCARD store_status store_ttl(store_ctx *st, const char *key,
				       uint64_t *ttl_ms);

/*
 * Sets: unordered collections of members (for indexes such as "all
 * users" or "sessions of alice"). A set with no members does not exist.
 * Members are NUL-terminated strings of at most STORE_MEMBER_MAX bytes.
 * Adding a present member or removing an absent one is STORE_OK. Sets
 * have no TTL; store_del() removes a whole set.
 */
STORE_NODISCARD store_status store_sadd(store_ctx *st, const char *key,
					const char *member);
STORE_NODISCARD store_status store_srem(store_ctx *st, const char *key,
					const char *member);

/*
 * Adds member to the set at key and makes the whole set expire ttl_ms
 * (> 0) from now, a sliding expiry renewed by every add. Such a set is
 * volatile: like every key with an expiry not written durable, it is never
 * written to the memory backend's state file (for indexes of short-lived
 * things, such as the sessions of a user). A persistent set given a TTL
 * becomes volatile.
 */
STORE_NODISCARD store_status store_sadd_ttl(store_ctx *st, const char *key,
					    const char *member,
					    uint64_t ttl_ms);

/*
 * Calls fn for every member of the set at key, in no set order. fn returns
 * 0 to go on, non-zero to stop. A missing set has no members (STORE_OK).
 * fn is called with no lock held, so it may call the store. memory: fn
 * sees a snapshot taken at the call. redis: the set is walked with SSCAN
 * in small batches, so a member present for the whole walk is reported at
 * least once, and may be reported twice if the set changes meanwhile.
 */
typedef int (*store_member_fn)(const char *member, void *arg);
STORE_NODISCARD store_status store_smembers(store_ctx *st, const char *key,
					    store_member_fn fn, void *arg);

/*
 * Job queues (push jobs): an append-only FIFO of JSON entries. redis: a
 * Stream (XADD, trimmed to about STORE_QUEUE_MAX entries); memory: an
 * in-process FIFO capped at STORE_QUEUE_MAX (the oldest entry is dropped
 * when full). Entries are at most STORE_VALUE_MAX bytes.
 *
 * store_queue_push appends an entry and writes its id (the stream id, or
 * a sequence number in memory) into id (STORE_QUEUE_ID_MAX + 1; may be
 * NULL). store_queue_len counts the entries. store_queue_range calls fn
 * with each entry (NUL-terminated text), oldest first, at most max, without
 * consuming them (for status pages and tests). Queues are volatile in the
 * memory backend: never written to the state file.
 *
 * store_queue_trim removes the entries pushed older_than_ms ago or more
 * (at most STORE_TTL_MAX), oldest first, whether or not a consumer has
 * them: a queue of jobs that are useless after a while keeps no record
 * of them beyond. redis: XTRIM MINID (exact), the age read from the
 * stream ids against the Redis server's clock, which made them; memory:
 * by the monotonic clock. *removed (may be NULL) gets how many
 * went. A missing queue is STORE_OK with none removed.
 */
#define STORE_QUEUE_MAX	   100000
#define STORE_QUEUE_ID_MAX 64

STORE_NODISCARD store_status store_queue_push(store_ctx *st, const char *queue,
					      const char *entry, size_t len,
					      char *id, size_t idcap);
STORE_NODISCARD store_status store_queue_len(store_ctx *st, const char *queue,
					     size_t *out);
STORE_NODISCARD store_status store_queue_range(store_ctx *st, const char *queue,
					       size_t max, store_member_fn fn,
					       void *arg);
STORE_NODISCARD store_status store_queue_trim(store_ctx *st, const char *queue,
					      uint64_t older_than_ms,
					      size_t *removed);

/*
 * Consumer groups over a queue (how pushd nodes share the push jobs):
 * each entry is delivered to one consumer of the group; it stays pending
 * for that consumer until acknowledged; entries left pending longer than
 * min_idle_ms by a consumer that died are claimed by another. Delivery is
 * at least once: consumers recognise a repeat by the entry's id.
 *
 * redis: XGROUP CREATE ... MKSTREAM (from the start, "0"), XREADGROUP
 * (">" with BLOCK block_ms and COUNT max), XACK, XAUTOCLAIM (from "0-0",
 * COUNT max). memory: the same semantics in-process, with a condition
 * variable for the blocking read.
 *
 * store_queue_group_create: creates the group if it does not exist (OK
 * when it does). store_queue_read: new entries for this consumer, calling
 * fn(id, entry, arg) for each (entry NUL-terminated), at most max, waiting
 * at most block_ms for the first (0: do not wait); *count gets how many.
 * store_queue_ack: acknowledges one entry (OK also when already acked).
 * store_queue_claim: takes over entries pending longer than min_idle_ms
 * (of any consumer of the group) for this consumer and calls fn for each,
 * at most max. store_queue_pending: how many entries of the group are
 * delivered but not acknowledged.
 *
 * Bounds: group and consumer names 1..STORE_CONSUMER_MAX printable ASCII
 * bytes, max 1..STORE_QUEUE_BATCH_MAX, block_ms <= STORE_QUEUE_BLOCK_MAX;
 * anything else is STORE_ERR_ARG. Read, claim and pending of a missing
 * queue or group are STORE_NOT_FOUND; ack of an unknown id is STORE_OK.
 * When fn returns non-zero, delivery stops: the entries of that batch it
 * was not given stay pending for this consumer (redis has already made
 * them pending) and come back through store_queue_claim once idle.
 */
#define STORE_CONSUMER_MAX    128
#define STORE_QUEUE_BATCH_MAX 1000
#define STORE_QUEUE_BLOCK_MAX 60000

typedef int (*store_entry_fn)(const char *id, const char *entry, void *arg);

STORE_NODISCARD store_status store_queue_group_create(store_ctx *st,
						      const char *queue,
						      const char *group);
STORE_NODISCARD store_status store_queue_read(store_ctx *st, const char *queue,
					      const char *group,
					      const char *consumer, size_t max,
					      unsigned block_ms,
					      store_entry_fn fn, void *arg,
					      size_t *count);
STORE_NODISCARD store_status store_queue_ack(store_ctx *st, const char *queue,
					     const char *group, const char *id);
STORE_NODISCARD store_status store_queue_claim(store_ctx *st, const char *queue,
					       const char *group,
					       const char *consumer,
					       uint64_t min_idle_ms, size_t max,
					       store_entry_fn fn, void *arg,
					       size_t *count);
STORE_NODISCARD store_status store_queue_pending(store_ctx *st,
						 const char *queue,
						 const char *group,
						 size_t *out);

/*
 * Removes the group's consumers that hold no pending entry and have not
 * read or claimed for at least min_idle_ms (<= STORE_TTL_MAX): the names
 * of consumers gone for good, which would otherwise stay listed in the
 * group forever. Atomic with respect to reads and claims, so a consumer
 * that takes an entry meanwhile is kept. *removed (may be NULL) gets how
 * many went. redis: XINFO CONSUMERS and XGROUP DELCONSUMER in one
 * script. A missing queue or group is STORE_NOT_FOUND.
 */
STORE_NODISCARD store_status store_queue_prune(store_ctx *st, const char *queue,
					       const char *group,
					       uint64_t min_idle_ms,
					       size_t *removed);

/*
 * Batches: many independent operations handed over at once, for callers
 * that would otherwise pay one round trip per operation (pushd taking and
 * finishing a burst of jobs). redis: every command is written first and
 * every reply read after (pipelining), so a batch costs one round trip;
 * memory: the operations one after the other, each under its usual lock.
 *
 * A batch is NOT atomic as a whole: each operation is atomic on its own,
 * exactly as the single call it stands for, and they run in array order,
 * but other callers' operations may run between two of them, and a lost
 * connection or a crash may leave any leading part of the batch done and
 * the rest not. An operation that depends on the outcome of another
 * belongs in a later batch.
 *
 * Each operation has its own arguments and its own answer:
 *   STORE_OP_GET   key; answer as store_get(), the value in value.
 *   STORE_OP_SET   key, val/len, ttl_ms, flags; as store_set().
 *   STORE_OP_DEL   key; as store_del().
 *   STORE_OP_CAS   key, expected/elen, val/len (the new value), ttl_ms;
 *                  as store_cas().
 *   STORE_OP_DEL_IF key, expected/elen; as store_del_if().
 *   STORE_OP_ACK   key (the queue), group, id; as store_queue_ack().
 * An operation with bad arguments gets STORE_ERR_ARG or STORE_ERR_TOO_BIG
 * in its status and is skipped; the others still run.
 */
typedef enum store_op_kind {
	STORE_OP_GET = 1,
	STORE_OP_SET,
	STORE_OP_DEL,
	STORE_OP_CAS,
	STORE_OP_ACK,
	STORE_OP_DEL_IF,
} store_op_kind;

typedef struct store_op {
	/* Set by the caller; the store only reads them. */
	const char *key;
	const void *val;
	size_t len;
	const void *expected;
	size_t elen;
	uint64_t ttl_ms;
	const char *group;
	const char *id;
	store_op_kind kind;
	unsigned flags;
	/* Set by store_batch(). */
	store_status status;
	store_value value; /* STORE_OP_GET: free with store_value_free() */
} store_op;

/* Operations in one batch at most. */
#define STORE_BATCH_MAX 4096

/*
 * Runs the n operations of ops (see above) and writes each one's answer
 * into it. Returns STORE_OK when every operation got its own answer
 * (which may itself be an error), STORE_ERR_ARG (st or ops NULL, n 0 or
 * over STORE_BATCH_MAX: nothing was run), or the failure that cut the
 * batch short (STORE_ERR_UNAVAILABLE, STORE_ERR_NOMEM, STORE_ERR_PROTOCOL),
 * which is then also the status of every operation that got no answer:
 * such an operation may or may not have been carried out.
 */
STORE_NODISCARD store_status store_batch(store_ctx *st, store_op *ops,
					 size_t n);

#endif /* COMMON_STORE_H */
