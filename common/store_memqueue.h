/*
 * The memory store's job queues and their consumer groups, as Redis
 * Streams hold them for the redis backend: what store_queue_*() and
 * store_group_*() do on the memory store (see store.h for what each
 * does, and store_internal.h for what the front has checked). They are
 * never written to the state file: a push job is only worth sending
 * within seconds of being made, so replaying one after a restart would
 * only notify a phone about a sign-in that is long over. Being a separate
 * namespace, a queue name does not collide with a key of the same name.
 *
 * Thread-safe: every call takes the locks it needs, and none is held
 * while a callback runs.
 */
#ifndef COMMON_STORE_MEMQUEUE_H
#define COMMON_STORE_MEMQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "store_internal.h"

typedef struct mem_queues mem_queues;

/* No queues yet, hashed under sipkey (the store's random key, copied);
 * NULL when memory is short. */
mem_queues *mem_queues_new(const uint8_t sipkey[16]);
void mem_queues_free(mem_queues *qs);

STORE_NODISCARD store_status mem_queues_push(mem_queues *qs, const char *key,
					     size_t klen, const char *entry,
					     size_t len, char *id,
					     size_t idcap);
STORE_NODISCARD store_status mem_queues_len(mem_queues *qs, const char *key,
					    size_t klen, size_t *out);
STORE_NODISCARD store_status mem_queues_range(mem_queues *qs, const char *key,
					      size_t klen, size_t max,
					      store_member_fn fn, void *arg);
/* Drops the entries pushed older_than_ms ago or more; how many went. */
size_t mem_queues_trim(mem_queues *qs, const char *key, size_t klen,
		       uint64_t older_than_ms);
STORE_NODISCARD store_status mem_queues_group_create(mem_queues *qs,
						     const char *key,
						     size_t klen,
						     const char *group);
STORE_NODISCARD store_status mem_queues_group_read(
	mem_queues *qs, const char *key, size_t klen, const char *group,
	const char *consumer, size_t max, unsigned block_ms, store_entry_fn fn,
	void *arg, size_t *count);
STORE_NODISCARD store_status mem_queues_group_claim(
	mem_queues *qs, const char *key, size_t klen, const char *group,
	const char *consumer, uint64_t min_idle_ms, size_t max,
	store_entry_fn fn, void *arg, size_t *count);
STORE_NODISCARD store_status mem_queues_group_ack(mem_queues *qs,
						  const char *key, size_t klen,
						  const char *group,
						  const char *id);
STORE_NODISCARD store_status mem_queues_group_pending(mem_queues *qs,
						      const char *key,
						      size_t klen,
						      const char *group,
						      size_t *out);
STORE_NODISCARD store_status mem_queues_group_prune(
	mem_queues *qs, const char *key, size_t klen, const char *group,
	uint64_t min_idle_ms, size_t *removed);

#endif /* COMMON_STORE_MEMQUEUE_H */
