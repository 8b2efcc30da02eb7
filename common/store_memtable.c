/*
 * The memory store's hash tables: chained, with SipHash-2-4 under a key
 * of the caller's (see store_memtable.h).
 */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store_memtable.h"

#define MEM_MIN_BUCKETS 16u

static uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl64(v[1], 13) ^ v[0];
	v[0] = rotl64(v[0], 32);
	v[2] += v[3];
	v[3] = rotl64(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl64(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl64(v[1], 17) ^ v[2];
	v[2] = rotl64(v[2], 32);
}

uint64_t mem_hash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
			 k0 ^ 0x6c7967656e657261ull,
			 k1 ^ 0x7465646279746573ull};
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, tail = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = load_le64(p + i);
		v[3] ^= m;
		sip_round(v);
		sip_round(v);
		v[0] ^= m;
	}
	for (; tail > 0; tail--)
		b |= (uint64_t)p[i + tail - 1] << (8 * (tail - 1));
	v[3] ^= b;
	sip_round(v);
	sip_round(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	for (i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

int mem_table_init(struct mem_table *t)
{
	t->buckets =
		OPENSSL_zalloc(MEM_MIN_BUCKETS * sizeof(struct mem_node *));
	if (t->buckets == NULL)
		return -1;
	t->nbuckets = MEM_MIN_BUCKETS;
	t->count = 0;
	return 0;
}

struct mem_node *mem_table_find(const struct mem_table *t, uint64_t h,
				const char *key, size_t klen,
				struct mem_node ***link)
{
	struct mem_node **l = &t->buckets[h & (t->nbuckets - 1)];

	for (; *l != NULL; l = &(*l)->next) {
		struct mem_node *n = *l;

		if (n->hash == h && n->klen == klen &&
		    memcmp(n->key, key, klen) == 0) {
			if (link != NULL)
				*link = l;
			return n;
		}
	}
	return NULL;
}

void mem_table_insert(struct mem_table *t, struct mem_node *n)
{
	struct mem_node **b = &t->buckets[n->hash & (t->nbuckets - 1)];

	n->next = *b;
	*b = n;
	t->count++;
}

void mem_table_unlink(struct mem_table *t, struct mem_node **link)
{
	*link = (*link)->next;
	t->count--;
}

void mem_table_resize(struct mem_table *t)
{
	struct mem_node **nb;
	size_t n, i;

	if (t->count > t->nbuckets && t->nbuckets <= SIZE_MAX / 4 / 2)
		n = t->nbuckets * 2;
	else if (t->nbuckets > MEM_MIN_BUCKETS && t->count < t->nbuckets / 8)
		n = t->nbuckets / 2;
	else
		return;
	nb = OPENSSL_zalloc(n * sizeof(struct mem_node *));
	if (nb == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++) {
		struct mem_node *node = t->buckets[i], *next;

		for (; node != NULL; node = next) {
			next = node->next;
			node->next = nb[node->hash & (n - 1)];
			nb[node->hash & (n - 1)] = node;
		}
	}
	OPENSSL_free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}
