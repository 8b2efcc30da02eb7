/*
 * The memory store's job queues (see store_memqueue.h): ring buffers of
 * entries capped at STORE_QUEUE_MAX, in a table of their own, each queue
 * behind its own mutex (the table's lock is let go before a queue's is
 * taken).
 *
 * A queue's consumer groups hang off the queue, under its lock: each
 * keeps the id of the last entry it handed out and a list of the entries
 * handed out but not yet acknowledged, sorted by id. Ids are the push
 * sequence numbers, so an entry's place in the ring follows from its id.
 * A blocking read waits on the queue's condition variable, which every
 * push signals.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "store_memqueue.h"
#include "store_memtable.h"

/* One queue entry: when it was pushed, its text and a NUL. */
struct mem_qentry {
	uint64_t at_ms; /* monotonic clock */
	size_t len;
	char text[];
};

/* A FIFO ring: count entries from head, in a ring of cap slots. */
struct mem_queue {
	struct mem_node node; /* first, so a node pointer is a queue pointer */
	pthread_mutex_t lock; /* guards everything below */
	struct mem_qentry **ring;
	size_t cap;
	size_t head;
	size_t count;
	uint64_t seq;		  /* id of the last entry pushed */
	pthread_cond_t pushed;	  /* broadcast by every push */
	struct mem_group *groups; /* freed only with the queue */
	char keybuf[];
};

/*
 * A consumer of a group, named at its first read or claim and kept until
 * the group goes or store_queue_prune() removes it.
 */
struct mem_consumer {
	struct mem_consumer *next;
	uint64_t seen_ms; /* its last read or claim, monotonic */
	char name[STORE_CONSUMER_MAX + 1];
};

/*
 * An entry handed to a consumer and not yet acknowledged. Owner and
 * delivery count are what Redis keeps per pending entry (XPENDING shows
 * them); they are kept here too so that the two backends hold the same
 * state and a core dump tells which consumer sat on a job.
 */
struct mem_pending {
	uint64_t id;
	uint64_t delivered_ms; /* monotonic clock */
	const struct mem_consumer *owner;
	uint64_t deliveries;
};

struct mem_group {
	struct mem_group *next;
	uint64_t last_id; /* the last entry read; 0: none yet */
	struct mem_consumer *consumers;
	struct mem_pending *pend; /* npend of pcap, sorted by id */
	size_t npend;
	size_t pcap;
	char name[STORE_CONSUMER_MAX + 1];
};

struct mem_queues {
	pthread_mutex_t lock;	/* guards the table, not the queues in it */
	struct mem_table table; /* struct mem_queue nodes */
	uint8_t sipkey[16];	/* of the table's hash: the store's */
};

#define MEM_QUEUE_MIN_CAP 16u

static void qentry_free(struct mem_qentry *qe)
{
	if (qe != NULL)
		OPENSSL_clear_free(qe, sizeof(*qe) + qe->len + 1);
}

static void group_free(struct mem_group *g)
{
	struct mem_consumer *c, *next;

	for (c = g->consumers; c != NULL; c = next) {
		next = c->next;
		OPENSSL_free(c);
	}
	OPENSSL_free(g->pend);
	OPENSSL_free(g);
}

static void queue_free(struct mem_queue *q)
{
	struct mem_group *g, *next;
	size_t i;

	if (q == NULL)
		return;
	for (i = 0; i < q->count; i++)
		qentry_free(q->ring[(q->head + i) % q->cap]);
	for (g = q->groups; g != NULL; g = next) {
		next = g->next;
		group_free(g);
	}
	OPENSSL_free(q->ring);
	pthread_cond_destroy(&q->pushed);
	pthread_mutex_destroy(&q->lock);
	OPENSSL_free(q);
}

/*
 * The condition variable runs on the monotonic clock, so a blocking read
 * waits as long as it was asked to even when the wall clock is set.
 */
static int cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

static struct mem_queue *queue_new(uint64_t h, const char *key, size_t klen)
{
	struct mem_queue *q = OPENSSL_zalloc(sizeof(*q) + klen + 1);

	if (q == NULL)
		return NULL;
	q->ring =
		OPENSSL_zalloc(MEM_QUEUE_MIN_CAP * sizeof(struct mem_qentry *));
	if (q->ring == NULL || cond_init_monotonic(&q->pushed) != 0) {
		OPENSSL_free(q->ring);
		OPENSSL_free(q);
		return NULL;
	}
	pthread_mutex_init(&q->lock, NULL);
	q->cap = MEM_QUEUE_MIN_CAP;
	memcpy(q->keybuf, key, klen);
	q->node.key = q->keybuf;
	q->node.klen = klen;
	q->node.hash = h;
	return q;
}

/* Makes room for one more entry; 0, or -1 when memory is short. */
static int queue_grow(struct mem_queue *q)
{
	struct mem_qentry **ring;
	size_t cap, i;

	if (q->count < q->cap)
		return 0;
	cap = q->cap < MEM_QUEUE_MIN_CAP ? MEM_QUEUE_MIN_CAP : q->cap * 2;
	if (cap > STORE_QUEUE_MAX)
		cap = STORE_QUEUE_MAX;
	ring = OPENSSL_zalloc(cap * sizeof(struct mem_qentry *));
	if (ring == NULL)
		return -1;
	for (i = 0; i < q->count; i++)
		ring[i] = q->ring[(q->head + i) % q->cap];
	OPENSSL_free(q->ring);
	q->ring = ring;
	q->cap = cap;
	q->head = 0;
	return 0;
}

/*
 * Finds a queue, making it when create is set. Queues are only freed at
 * close, so the pointer stays good after the table lock is let go.
 */
static struct mem_queue *queue_get(mem_queues *qs, const char *key, size_t klen,
				   bool create)
{
	uint64_t h = mem_hash(qs->sipkey, key, klen);
	struct mem_queue *q;

	pthread_mutex_lock(&qs->lock);
	q = (struct mem_queue *)mem_table_find(&qs->table, h, key, klen, NULL);
	if (q == NULL && create) {
		q = queue_new(h, key, klen);
		if (q != NULL) {
			mem_table_insert(&qs->table, &q->node);
			mem_table_resize(&qs->table);
		}
	}
	pthread_mutex_unlock(&qs->lock);
	return q;
}

mem_queues *mem_queues_new(const uint8_t sipkey[16])
{
	mem_queues *qs = OPENSSL_zalloc(sizeof(*qs));

	if (qs == NULL)
		return NULL;
	if (mem_table_init(&qs->table) != 0) {
		OPENSSL_free(qs);
		return NULL;
	}
	memcpy(qs->sipkey, sipkey, sizeof(qs->sipkey));
	pthread_mutex_init(&qs->lock, NULL);
	return qs;
}

void mem_queues_free(mem_queues *qs)
{
	size_t i;

	if (qs == NULL)
		return;
	for (i = 0; i < qs->table.nbuckets; i++) {
		struct mem_node *n = qs->table.buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->next;
			queue_free((struct mem_queue *)n);
		}
	}
	OPENSSL_free(qs->table.buckets);
	pthread_mutex_destroy(&qs->lock);
	OPENSSL_clear_free(qs, sizeof(*qs));
}

/* --- consumer groups: state kept under the queue lock ------------------- */

/* Decimal text of any uint64_t. */
#define MEM_ID_TEXT_MAX 20

static struct mem_group *group_find(const struct mem_queue *q, const char *name)
{
	struct mem_group *g;

	for (g = q->groups; g != NULL; g = g->next) {
		if (strcmp(g->name, name) == 0)
			return g;
	}
	return NULL;
}

static uint64_t mono_ms(void)
{
	return af_mono_ns() / 1000000u;
}

/* Finds a consumer of the group, adding it on first use; marks it seen. */
static const struct mem_consumer *consumer_get(struct mem_group *g,
					       const char *name)
{
	struct mem_consumer *c;

	for (c = g->consumers; c != NULL; c = c->next) {
		if (strcmp(c->name, name) == 0)
			break;
	}
	if (c == NULL) {
		c = OPENSSL_zalloc(sizeof(*c));
		if (c == NULL)
			return NULL;
		(void)snprintf(c->name, sizeof(c->name), "%s", name);
		c->next = g->consumers;
		g->consumers = c;
	}
	c->seen_ms = mono_ms();
	return c;
}

/* Makes room for extra more pending entries; 0, or -1 for no memory. */
static int pend_reserve(struct mem_group *g, size_t extra)
{
	struct mem_pending *p;
	size_t cap = g->pcap < MEM_QUEUE_MIN_CAP ? MEM_QUEUE_MIN_CAP : g->pcap;

	if (g->pcap - g->npend >= extra)
		return 0;
	/* Pending entries are entries of the queue: never more than it. */
	while (cap - g->npend < extra)
		cap *= 2;
	p = OPENSSL_realloc(g->pend, cap * sizeof(*p));
	if (p == NULL)
		return -1;
	g->pend = p;
	g->pcap = cap;
	return 0;
}

/* The index of id in the sorted pending list, or -1. */
static ptrdiff_t pend_find(const struct mem_group *g, uint64_t id)
{
	size_t lo = 0, hi = g->npend;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->pend[mid].id == id)
			return (ptrdiff_t)mid;
		if (g->pend[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void pend_remove(struct mem_group *g, size_t at)
{
	memmove(&g->pend[at], &g->pend[at + 1],
		(g->npend - at - 1) * sizeof(g->pend[0]));
	g->npend--;
}

/*
 * The full queue is dropping entry id, its oldest: no group may keep it
 * pending, as there would be nothing left to hand out when it is claimed.
 * Being the oldest, it can only be first in a sorted pending list.
 */
static void groups_forget(struct mem_queue *q, uint64_t id)
{
	struct mem_group *g;

	for (g = q->groups; g != NULL; g = g->next) {
		if (g->npend > 0 && g->pend[0].id == id)
			pend_remove(g, 0);
	}
}

/* Drops the oldest entry (there is one), pending or not, as XTRIM does. */
static void drop_oldest(struct mem_queue *q)
{
	groups_forget(q, q->seq - q->count + 1);
	qentry_free(q->ring[q->head]);
	q->ring[q->head] = NULL;
	q->head = (q->head + 1) % q->cap;
	q->count--;
}

store_status mem_queues_push(mem_queues *qs, const char *key, size_t klen,
			     const char *entry, size_t len, char *id,
			     size_t idcap)
{
	struct mem_qentry *qe;
	struct mem_queue *q;
	store_status rc = STORE_OK;

	/* Copy the entry before locking, to keep the lock short. */
	qe = OPENSSL_malloc(sizeof(*qe) + len + 1);
	if (qe == NULL)
		return STORE_ERR_NOMEM;
	qe->at_ms = mono_ms();
	qe->len = len;
	if (len > 0)
		memcpy(qe->text, entry, len);
	qe->text[len] = '\0';
	q = queue_get(qs, key, klen, true);
	if (q == NULL) {
		qentry_free(qe);
		return STORE_ERR_NOMEM;
	}
	pthread_mutex_lock(&q->lock);
	/* A full queue drops its oldest entry, as a trimmed stream does. */
	if (q->count == STORE_QUEUE_MAX)
		drop_oldest(q);
	if (queue_grow(q) != 0) {
		rc = STORE_ERR_NOMEM;
	} else {
		q->ring[(q->head + q->count) % q->cap] = qe;
		q->count++;
		qe = NULL;
		q->seq++;
		if (id != NULL)
			(void)snprintf(id, idcap, "%llu",
				       (unsigned long long)q->seq);
		/* Every blocked reader of every group may have work now. */
		pthread_cond_broadcast(&q->pushed);
	}
	pthread_mutex_unlock(&q->lock);
	qentry_free(qe);
	return rc;
}

store_status mem_queues_len(mem_queues *qs, const char *key, size_t klen,
			    size_t *out)
{
	struct mem_queue *q = queue_get(qs, key, klen, false);

	*out = 0;
	if (q != NULL) {
		pthread_mutex_lock(&q->lock);
		*out = q->count;
		pthread_mutex_unlock(&q->lock);
	}
	return STORE_OK;
}

/*
 * Copies the first entries out under the lock as NUL-separated strings,
 * then calls fn with no lock held, so fn may use the store.
 */
store_status mem_queues_range(mem_queues *qs, const char *key, size_t klen,
			      size_t max, store_member_fn fn, void *arg)
{
	struct mem_queue *q = queue_get(qs, key, klen, false);
	char *snap = NULL, *p;
	size_t total = 0, i, n;

	if (q == NULL)
		return STORE_OK;
	pthread_mutex_lock(&q->lock);
	n = q->count < max ? q->count : max;
	for (i = 0; i < n; i++)
		total += q->ring[(q->head + i) % q->cap]->len + 1;
	if (n > 0) {
		snap = OPENSSL_malloc(total);
		if (snap == NULL) {
			pthread_mutex_unlock(&q->lock);
			return STORE_ERR_NOMEM;
		}
	}
	p = snap;
	for (i = 0; i < n; i++) {
		const struct mem_qentry *qe = q->ring[(q->head + i) % q->cap];

		memcpy(p, qe->text, qe->len + 1);
		p += qe->len + 1;
	}
	pthread_mutex_unlock(&q->lock);
	for (p = snap, i = 0; i < n; i++) {
		if (fn(p, arg) != 0)
			break;
		p += strlen(p) + 1;
	}
	OPENSSL_clear_free(snap, total);
	return STORE_OK;
}

size_t mem_queues_trim(mem_queues *qs, const char *key, size_t klen,
		       uint64_t older_than_ms)
{
	struct mem_queue *q = queue_get(qs, key, klen, false);
	uint64_t now = mono_ms();
	size_t n = 0;

	if (q == NULL)
		return 0;
	pthread_mutex_lock(&q->lock);
	while (q->count > 0 && now - q->ring[q->head]->at_ms >= older_than_ms) {
		drop_oldest(q);
		n++;
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* --- consumer groups: operations ---------------------------------------- */

/*
 * Entries copied out under the queue lock, each as its id and its text,
 * both NUL-terminated, so fn can be called with no lock held.
 */
struct mem_batch {
	char *buf;
	size_t size;
	size_t used;
	size_t n;
};

/* The entry with this id, which must still be in the queue. */
static const struct mem_qentry *entry_at(const struct mem_queue *q, uint64_t id)
{
	uint64_t first = q->seq - q->count + 1;

	return q->ring[(q->head + (size_t)(id - first)) % q->cap];
}

static void batch_add(struct mem_batch *b, uint64_t id,
		      const struct mem_qentry *qe)
{
	int n = snprintf(b->buf + b->used, b->size - b->used, "%llu",
			 (unsigned long long)id);

	b->used += (size_t)n + 1;
	memcpy(b->buf + b->used, qe->text, qe->len + 1);
	b->used += qe->len + 1;
	b->n++;
}

static int batch_alloc(struct mem_batch *b, size_t size)
{
	b->buf = OPENSSL_malloc(size);
	b->size = size;
	b->used = 0;
	b->n = 0;
	return b->buf != NULL ? 0 : -1;
}

/* Hands the batch to fn until fn asks to stop, then frees it. */
static void batch_deliver(struct mem_batch *b, store_entry_fn fn, void *arg,
			  size_t *count)
{
	const char *p = b->buf;
	size_t i;

	for (i = 0; i < b->n; i++) {
		const char *id = p, *text = id + strlen(id) + 1;

		p = text + strlen(text) + 1;
		(*count)++;
		if (fn(id, text, arg) != 0)
			break;
	}
	OPENSSL_clear_free(b->buf, b->size);
	b->buf = NULL;
}

static bool has_new(const struct mem_queue *q, const struct mem_group *g)
{
	/* The queue holds ids seq - count + 1 .. seq. */
	return q->count > 0 && g->last_id < q->seq;
}

/* Waits until the group has something new or block_ms have passed. */
static void wait_new(struct mem_queue *q, const struct mem_group *g,
		     unsigned block_ms)
{
	struct timespec deadline;

	if (block_ms == 0 || has_new(q, g) ||
	    clock_gettime(CLOCK_MONOTONIC, &deadline) != 0)
		return;
	deadline.tv_sec += (time_t)(block_ms / 1000);
	deadline.tv_nsec += (long)(block_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (!has_new(q, g)) {
		if (pthread_cond_timedwait(&q->pushed, &q->lock, &deadline) ==
		    ETIMEDOUT)
			break;
	}
}

/*
 * Takes up to max entries the group has not seen yet into the consumer's
 * pending list and copies them into b. Everything that can fail is done
 * before anything changes, so a failed read takes nothing.
 */
static store_status take_new(struct mem_queue *q, struct mem_group *g,
			     const struct mem_consumer *c, size_t max,
			     struct mem_batch *b)
{
	uint64_t from = g->last_id + 1, first = q->seq - q->count + 1, now;
	size_t n, i, size = 0;

	if (!has_new(q, g))
		return STORE_OK;
	if (from < first)
		from = first; /* the group's next entries were dropped */
	n = q->seq - from + 1 < max ? (size_t)(q->seq - from + 1) : max;
	for (i = 0; i < n; i++)
		size += MEM_ID_TEXT_MAX + 1 + entry_at(q, from + i)->len + 1;
	if (pend_reserve(g, n) != 0 || batch_alloc(b, size) != 0)
		return STORE_ERR_NOMEM;
	now = mono_ms();
	for (i = 0; i < n; i++) {
		g->pend[g->npend++] = (struct mem_pending){from + i, now, c, 1};
		batch_add(b, from + i, entry_at(q, from + i));
	}
	g->last_id = from + n - 1;
	return STORE_OK;
}

static bool idle_enough(const struct mem_pending *p, uint64_t now,
			uint64_t min_idle_ms)
{
	return now - p->delivered_ms >= min_idle_ms;
}

/*
 * Moves up to max pending entries idle for min_idle_ms to consumer c,
 * oldest id first, and copies them into b; all or nothing, as take_new.
 */
static store_status take_idle(struct mem_queue *q, struct mem_group *g,
			      const struct mem_consumer *c,
			      uint64_t min_idle_ms, size_t max,
			      struct mem_batch *b)
{
	uint64_t now = mono_ms();
	size_t i, n = 0, size = 0;

	for (i = 0; i < g->npend && n < max; i++) {
		if (idle_enough(&g->pend[i], now, min_idle_ms)) {
			size += MEM_ID_TEXT_MAX + 1 +
				entry_at(q, g->pend[i].id)->len + 1;
			n++;
		}
	}
	if (n == 0)
		return STORE_OK;
	if (batch_alloc(b, size) != 0)
		return STORE_ERR_NOMEM;
	for (i = 0; i < g->npend && b->n < n; i++) {
		struct mem_pending *p = &g->pend[i];

		if (!idle_enough(p, now, min_idle_ms))
			continue;
		p->owner = c;
		p->delivered_ms = now;
		p->deliveries++;
		batch_add(b, p->id, entry_at(q, p->id));
	}
	return STORE_OK;
}

store_status mem_queues_group_create(mem_queues *qs, const char *key,
				     size_t klen, const char *group)
{
	struct mem_queue *q = queue_get(qs, key, klen, true);
	struct mem_group *g;
	store_status rc = STORE_OK;

	if (q == NULL)
		return STORE_ERR_NOMEM;
	pthread_mutex_lock(&q->lock);
	if (group_find(q, group) == NULL) {
		g = OPENSSL_zalloc(sizeof(*g));
		if (g == NULL) {
			rc = STORE_ERR_NOMEM;
		} else {
			(void)snprintf(g->name, sizeof(g->name), "%s", group);
			g->next = q->groups;
			q->groups = g;
		}
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Which of read and claim a group call is. */
struct take_req {
	bool claim;
	unsigned block_ms;    /* read */
	uint64_t min_idle_ms; /* claim */
	size_t max;
};

/* Read and claim: take entries under the lock, hand them out after it. */
static store_status group_take(mem_queues *qs, const char *key, size_t klen,
			       const char *group, const char *consumer,
			       const struct take_req *req, store_entry_fn fn,
			       void *arg, size_t *count)
{
	struct mem_queue *q = queue_get(qs, key, klen, false);
	struct mem_batch b = {0};
	const struct mem_consumer *c;
	struct mem_group *g;
	store_status rc;

	if (q == NULL)
		return STORE_NOT_FOUND;
	pthread_mutex_lock(&q->lock);
	g = group_find(q, group);
	if (g == NULL) {
		rc = STORE_NOT_FOUND;
		goto out;
	}
	c = consumer_get(g, consumer);
	if (c == NULL) {
		rc = STORE_ERR_NOMEM;
		goto out;
	}
	if (req->claim) {
		rc = take_idle(q, g, c, req->min_idle_ms, req->max, &b);
	} else {
		wait_new(q, g, req->block_ms);
		rc = take_new(q, g, c, req->max, &b);
	}
out:
	pthread_mutex_unlock(&q->lock);
	if (rc == STORE_OK && b.buf != NULL)
		batch_deliver(&b, fn, arg, count);
	return rc;
}

store_status mem_queues_group_read(mem_queues *qs, const char *key, size_t klen,
				   const char *group, const char *consumer,
				   size_t max, unsigned block_ms,
				   store_entry_fn fn, void *arg, size_t *count)
{
	const struct take_req req = {
		.claim = false, .block_ms = block_ms, .max = max};

	return group_take(qs, key, klen, group, consumer, &req, fn, arg, count);
}

store_status mem_queues_group_claim(mem_queues *qs, const char *key,
				    size_t klen, const char *group,
				    const char *consumer, uint64_t min_idle_ms,
				    size_t max, store_entry_fn fn, void *arg,
				    size_t *count)
{
	const struct take_req req = {
		.claim = true, .min_idle_ms = min_idle_ms, .max = max};

	return group_take(qs, key, klen, group, consumer, &req, fn, arg, count);
}

/*
 * Acknowledging what is not pending (acked before, dropped by the cap,
 * never read, or of a group or queue that does not exist) is OK, as
 * XACK answers 0 for it.
 */
store_status mem_queues_group_ack(mem_queues *qs, const char *key, size_t klen,
				  const char *group, const char *id)
{
	struct mem_queue *q;
	struct mem_group *g;
	int64_t n = 0;
	ptrdiff_t at;

	/* Our ids are the canonical decimal text store_queue_push wrote. */
	if (store_parse_int64(id, strlen(id), &n) != 0 || n <= 0)
		return STORE_ERR_ARG;
	q = queue_get(qs, key, klen, false);
	if (q == NULL)
		return STORE_OK;
	pthread_mutex_lock(&q->lock);
	g = group_find(q, group);
	at = g != NULL ? pend_find(g, (uint64_t)n) : -1;
	if (at >= 0)
		pend_remove(g, (size_t)at);
	pthread_mutex_unlock(&q->lock);
	return STORE_OK;
}

store_status mem_queues_group_pending(mem_queues *qs, const char *key,
				      size_t klen, const char *group,
				      size_t *out)
{
	struct mem_queue *q = queue_get(qs, key, klen, false);
	const struct mem_group *g;

	if (q == NULL)
		return STORE_NOT_FOUND;
	pthread_mutex_lock(&q->lock);
	g = group_find(q, group);
	if (g != NULL)
		*out = g->npend;
	pthread_mutex_unlock(&q->lock);
	return g != NULL ? STORE_OK : STORE_NOT_FOUND;
}

/* 1 when some pending entry of the group belongs to c. */
static int holds_pending(const struct mem_group *g,
			 const struct mem_consumer *c)
{
	size_t i;

	for (i = 0; i < g->npend; i++) {
		if (g->pend[i].owner == c)
			return 1;
	}
	return 0;
}

store_status mem_queues_group_prune(mem_queues *qs, const char *key,
				    size_t klen, const char *group,
				    uint64_t min_idle_ms, size_t *removed)
{
	struct mem_queue *q = queue_get(qs, key, klen, false);
	struct mem_consumer **link, *c;
	struct mem_group *g;
	uint64_t now = mono_ms();

	*removed = 0;
	if (q == NULL)
		return STORE_NOT_FOUND;
	pthread_mutex_lock(&q->lock);
	g = group_find(q, group);
	for (link = g != NULL ? &g->consumers : NULL; link != NULL && *link;) {
		c = *link;
		if (now - c->seen_ms < min_idle_ms || holds_pending(g, c)) {
			link = &c->next;
			continue;
		}
		*link = c->next;
		OPENSSL_free(c);
		(*removed)++;
	}
	pthread_mutex_unlock(&q->lock);
	return g != NULL ? STORE_OK : STORE_NOT_FOUND;
}
