/*
 * The memory store's hash tables: chained, nodes embedded in the records
 * they index, buckets a power of two, chosen by SipHash-2-4 under a random
 * key, so that keys chosen by outsiders (user names, client ids) cannot
 * be crafted to pile into one bucket. Not thread-safe: the caller holds
 * its own lock.
 */
#ifndef COMMON_STORE_MEMTABLE_H
#define COMMON_STORE_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

/* A chained hash table node; the key bytes live in the same allocation. */
struct mem_node {
	struct mem_node *next;
	uint64_t hash;
	size_t klen;
	const char *key;
};

struct mem_table {
	struct mem_node **buckets; /* nbuckets, a power of two */
	size_t nbuckets;
	size_t count;
};

/* SipHash-2-4 of data under key. */
uint64_t mem_hash(const uint8_t key[16], const void *data, size_t len);

/* An empty table: 0, or -1 when memory is short. */
int mem_table_init(struct mem_table *t);

/* Finds a node and the link that points to it, for unlinking. */
struct mem_node *mem_table_find(const struct mem_table *t, uint64_t h,
				const char *key, size_t klen,
				struct mem_node ***link);

/* Links n, whose hash, key and klen are set, into t. */
void mem_table_insert(struct mem_table *t, struct mem_node *n);

/* Unlinks the node *link points to (from mem_table_find()). */
void mem_table_unlink(struct mem_table *t, struct mem_node **link);

/*
 * Keeps about one node per bucket: doubles past that, halves below one
 * in eight. Called only where no link into the table is held. When memory
 * for a new bucket array is short the old one stays: chains get longer
 * but nothing is lost.
 */
void mem_table_resize(struct mem_table *t);

#endif /* COMMON_STORE_MEMTABLE_H */
