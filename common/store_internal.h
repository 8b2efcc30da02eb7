/*
 * Inside the state store: the backend table that store.c dispatches
 * through. store.c checks every argument, applies the size caps and puts
 * the prefix in front of the key before it calls a backend, so a backend
 * only ever sees valid input: a full key of 1..STORE_FULLKEY_MAX bytes
 * with no NUL inside (passed NUL-terminated as well), values of at most
 * STORE_VALUE_MAX bytes, members of at most STORE_MEMBER_MAX bytes, TTLs
 * of at most STORE_TTL_MAX and valid set flags.
 *
 * Thread-safety: every operation may be called from any thread at once;
 * close runs alone.
 */
#ifndef COMMON_STORE_INTERNAL_H
#define COMMON_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/store.h"

/* The longest key a backend sees: prefix and key. */
#define STORE_FULLKEY_MAX (STORE_PREFIX_MAX + STORE_KEY_MAX)

/* Default redis connect and command timeout. */
#define STORE_TIMEOUT_DEFAULT_MS 2000u

/*
 * One operation of a batch as a backend sees it: the full key (NULL when
 * the front refused the operation, whose status is then already set).
 */
typedef struct store_bkey {
	const char *key;
	size_t klen;
} store_bkey;

typedef struct store_ops {
	/* Frees the backend and everything it holds. */
	void (*close)(void *impl);
	store_status (*ping)(void *impl, char *why, size_t whylen);
	/* NULL: the backend never drops an entry before it expires. */
	store_status (*eviction)(void *impl, int *evicts, char *policy,
				 size_t cap);
	/* The server's clock in Unix ms; NULL: none but this process's. */
	store_status (*time_ms)(void *impl, int64_t *ms);
	store_status (*set)(void *impl, const char *key, size_t klen,
			    const void *val, size_t len, uint64_t ttl_ms,
			    unsigned flags);
	store_status (*get)(void *impl, const char *key, size_t klen,
			    store_value *out);
	store_status (*getdel)(void *impl, const char *key, size_t klen,
			       store_value *out);
	store_status (*del)(void *impl, const char *key, size_t klen);
	store_status (*cas)(void *impl, const char *key, size_t klen,
			    const void *expected, size_t elen,
			    const void *newval, size_t nlen, uint64_t ttl_ms);
	store_status (*del_if)(void *impl, const char *key, size_t klen,
			       const void *expected, size_t elen);
	/* flags: 0 or STORE_SET_DURABLE. */
	store_status (*incr)(void *impl, const char *key, size_t klen,
			     int64_t delta, uint64_t ttl_ms, unsigned flags,
			     int64_t *out);
	store_status (*ttl)(void *impl, const char *key, size_t klen,
			    uint64_t *ttl_ms);
	/* ttl_ms 0: a plain add; else the set's sliding expiry. */
	store_status (*sadd)(void *impl, const char *key, size_t klen,
			     const char *member, size_t mlen, uint64_t ttl_ms);
	store_status (*srem)(void *impl, const char *key, size_t klen,
			     const char *member, size_t mlen);
	store_status (*smembers)(void *impl, const char *key, size_t klen,
				 store_member_fn fn, void *arg);
	/*
	 * Queues. The queue name is a full key like any other. Entries are
	 * at most STORE_VALUE_MAX bytes with no NUL inside; id, when not
	 * NULL, has room for STORE_QUEUE_ID_MAX + 1 bytes; max is at least 1.
	 */
	store_status (*queue_push)(void *impl, const char *queue, size_t qlen,
				   const char *entry, size_t len, char *id,
				   size_t idcap);
	store_status (*queue_len)(void *impl, const char *queue, size_t qlen,
				  size_t *out);
	store_status (*queue_range)(void *impl, const char *queue, size_t qlen,
				    size_t max, store_member_fn fn, void *arg);
	/* older_than_ms at most STORE_TTL_MAX; removed not NULL, already 0. */
	store_status (*queue_trim)(void *impl, const char *queue, size_t qlen,
				   uint64_t older_than_ms, size_t *removed);
	/*
	 * Consumer groups. Group and consumer names are NUL-terminated,
	 * 1..STORE_CONSUMER_MAX printable ASCII bytes; max is
	 * 1..STORE_QUEUE_BATCH_MAX, block_ms at most STORE_QUEUE_BLOCK_MAX,
	 * min_idle_ms at most STORE_TTL_MAX; id is 1..STORE_QUEUE_ID_MAX
	 * printable bytes whose syntax the backend checks (STORE_ERR_ARG);
	 * count and out are not NULL and already 0.
	 *
	 * read and claim move every entry they take to the consumer's
	 * pending list before fn sees any. When fn stops the walk, the
	 * entries it was not given stay pending for that consumer and are
	 * not handed out by a later read; they come back through claim once
	 * idle, as a dead consumer's would. *count is how many fn was given,
	 * the one that stopped the walk included. fn is called with no lock
	 * held, so it may call the store (an ack, typically).
	 */
	store_status (*group_create)(void *impl, const char *queue, size_t qlen,
				     const char *group);
	store_status (*group_read)(void *impl, const char *queue, size_t qlen,
				   const char *group, const char *consumer,
				   size_t max, unsigned block_ms,
				   store_entry_fn fn, void *arg, size_t *count);
	store_status (*group_ack)(void *impl, const char *queue, size_t qlen,
				  const char *group, const char *id);
	store_status (*group_claim)(void *impl, const char *queue, size_t qlen,
				    const char *group, const char *consumer,
				    uint64_t min_idle_ms, size_t max,
				    store_entry_fn fn, void *arg,
				    size_t *count);
	store_status (*group_pending)(void *impl, const char *queue,
				      size_t qlen, const char *group,
				      size_t *out);
	store_status (*group_prune)(void *impl, const char *queue, size_t qlen,
				    const char *group, uint64_t min_idle_ms,
				    size_t *removed);
	/*
	 * Runs ops[i] for each i whose keys[i].key is not NULL, writing
	 * ops[i].status (and value); see store_batch(). A backend may set
	 * keys[i].key to NULL for an operation it refuses itself. NULL: the
	 * front runs the operations one by one through the calls above.
	 */
	store_status (*batch)(void *impl, store_op *ops, store_bkey *keys,
			      size_t n);
} store_ops;

/*
 * Backend constructors. Each checks its part of opts, fills *impl with
 * its state (freed by ops->close) and returns its table in *ops. On
 * failure nothing is left allocated and err holds a one-line reason.
 */
store_status store_memory_open(const store_options *opts, const store_ops **ops,
			       void **impl, char *err, size_t errlen);
store_status store_redis_open(const store_options *opts, const store_ops **ops,
			      void **impl, char *err, size_t errlen);

/* The backends' parts of store_check(). */
store_status store_memory_check(const store_options *opts, char *err,
				size_t errlen);
store_status store_redis_check(const store_options *opts, char *err,
			       size_t errlen);
/*
 * The memory backend's store_open_state_copy(): *impl NULL (and
 * STORE_OK) when there is no state file to read.
 */
store_status store_memory_open_copy(const store_options *opts,
				    const store_ops **ops, void **impl,
				    char *err, size_t errlen);

/* Writes a one-line reason into err when err is not NULL. */
void store_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A copy of len bytes plus a NUL as a store value; STORE_ERR_NOMEM when
 * there is no memory (out is then empty).
 */
store_status store_value_dup(const void *data, size_t len, store_value *out);

/*
 * Parses the decimal text of a 64-bit integer the way Redis does: an
 * optional '-', no '+', no leading zeros, no spaces. 0 or -1.
 */
int store_parse_int64(const void *text, size_t len, int64_t *out);

#endif /* COMMON_STORE_INTERNAL_H */
