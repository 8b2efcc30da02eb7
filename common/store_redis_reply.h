/*
 * Inside the redis backend: the checks of its commands' replies. Each
 * function takes a complete reply (hiredis' redisReply, owned and freed
 * by the caller), checks it has the shape Redis gives that command's
 * answer, and maps it: an error reply to the store_status it means
 * (redis_reply_error()), anything not of the expected shape to
 * STORE_ERR_PROTOCOL. Nothing in a reply is used before it is checked:
 * types, element counts, lengths against the store's caps, members and
 * ids without a NUL inside. Callbacks (fn) are called only once the whole
 * reply has been checked, so they see all of it or none of it, and since
 * the reply is complete in memory, they may use the connection.
 *
 * Thread-safety: pure functions of their arguments.
 */
#ifndef COMMON_STORE_REDIS_REPLY_H
#define COMMON_STORE_REDIS_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "store_internal.h"

/* A cursor of SSCAN, as text with its NUL. */
#define REDIS_CURSOR_MAX  24
/* The one field of a queue's stream entries, holding the entry text. */
#define REDIS_QUEUE_FIELD "e"

/* Whether r is a status reply equal to text. */
bool redis_reply_status_is(const redisReply *r, const char *text);

/* What an error reply means (r must be one). */
store_status redis_reply_error(const redisReply *r);
/*
 * Whether an error reply says the server is no primary (READONLY: a
 * replica now; MASTERDOWN), itself or wrapped by a script's call: the
 * link is to be dropped, so that the next connect finds the primary.
 */
bool redis_reply_demoted(const redisReply *r);

/* A value (GET, GETDEL): a string into *out, or nil: STORE_NOT_FOUND. */
store_status redis_reply_value(const redisReply *r, store_value *out);

/*
 * INFO memory: whether Redis may evict keys when it is full (maxmemory set
 * and a maxmemory_policy other than noeviction) into *evicts, and the
 * policy's name into policy (cap bytes, cut to fit, printable ASCII).
 */
#define REDIS_POLICY_MAX 32
store_status redis_reply_eviction(const redisReply *r, int *evicts,
				  char *policy, size_t cap);

/*
 * TIME: [seconds, microseconds] as decimal strings, into Unix
 * milliseconds.
 */
store_status redis_reply_time(const redisReply *r, int64_t *ms);

/* An integer reply into *out. */
store_status redis_reply_integer(const redisReply *r, long long *out);

/* SET: OK, or nil when its NX or XX (flags) condition failed. */
store_status redis_reply_set(const redisReply *r, unsigned flags);

/*
 * The compare-and-set or compare-and-delete script: 1, 0 (STORE_CONFLICT),
 * -1 (NOT_FOUND).
 */
store_status redis_reply_cas(const redisReply *r);

/* The increment script: the new value as decimal text, into *out. */
store_status redis_reply_incr(const redisReply *r, int64_t *out);

/*
 * One SSCAN batch, [cursor, [member...]]: the cursor (decimal text) is
 * copied into cursor (REDIS_CURSOR_MAX bytes); on STORE_OK every member
 * of r->element[1] is a string of at most STORE_MEMBER_MAX bytes with
 * no NUL inside.
 */
store_status redis_reply_scan(const redisReply *r, char *cursor);

/* XADD: the new entry's id, into id (idcap bytes; may be NULL). */
store_status redis_reply_queue_id(const redisReply *r, char *id, size_t idcap);

/*
 * XRANGE of at most max entries: fn with each entry's text, oldest first,
 * until it returns non-zero. An entry without our field, or whose value
 * is not text of ours, reads as "" (see the consumers).
 */
store_status redis_reply_range(const redisReply *r, size_t max,
			       store_member_fn fn, void *arg);

/* An error of a consumer group command: NOGROUP is STORE_NOT_FOUND. */
store_status redis_reply_group_error(const redisReply *r);

/* XGROUP CREATE: OK, or BUSYGROUP (the group exists: STORE_OK too). */
store_status redis_reply_group_create(const redisReply *r);

/*
 * XREADGROUP of stream key (klen bytes), at most max entries: nil
 * (nothing new) or [[key, [entry...]]]; fn(id, text, arg) for each entry
 * until it returns non-zero, and *count increased by each call.
 */
store_status redis_reply_read(const redisReply *r, const char *key, size_t klen,
			      size_t max, store_entry_fn fn, void *arg,
			      size_t *count);

/*
 * XAUTOCLAIM, [next, [entry...], [deleted...]]: the entries delivered as
 * by redis_reply_read() (*stopped set when fn asked to stop), and the
 * next cursor copied into cursor (STORE_QUEUE_ID_MAX + 1 bytes, holding
 * the cursor sent: a cursor that does not move is refused).
 */
store_status redis_reply_claim(const redisReply *r, size_t max,
			       store_entry_fn fn, void *arg, size_t *count,
			       bool *stopped, char *cursor);

/* XACK: 0 or 1 (an ack may repeat). */
store_status redis_reply_ack(const redisReply *r);

/* XPENDING's summary: the number of pending entries into *out. */
store_status redis_reply_pending(const redisReply *r, size_t *out);

/* The prune script: how many consumers it removed, into *removed. */
store_status redis_reply_prune(const redisReply *r, size_t *removed);

/* Redis stream id syntax: MS or MS-SEQ, each a decimal uint64_t. */
bool redis_stream_id_valid(const char *id);

#endif /* COMMON_STORE_REDIS_REPLY_H */
