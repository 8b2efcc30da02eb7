/*
 * The memory backend: a hash table split into shards, each behind its own
 * mutex, so that threads working on different keys rarely wait for each
 * other. Buckets are chosen with SipHash under a random per-store key
 * (store_memtable.c), so keys chosen by outsiders (user names, client ids)
 * cannot be crafted to pile into one bucket.
 *
 * Expired keys are invisible: every lookup removes an expired key it
 * finds, and every write also sweeps a few buckets of its shard, so keys
 * nobody reads again are reclaimed too; a write the cap would refuse
 * first reaps every shard (reap_others()).
 *
 * With a state folder every change is first appended to store.aof as one
 * checksummed record and fsynced, and only then made in memory: a change
 * reported as done survives a crash, and a change whose record could not
 * be written is not made at all. Records hold resulting state (a key's
 * new value with its absolute expiry, a deletion, a member added or
 * removed), so replaying them at open rebuilds the table whatever the
 * operation was. Once the file passes twice the size the live data would
 * need (and 1 MiB), it is rewritten with one record per live key. Keys
 * with an expiry go to the file only when written durable (see
 * persist_set()).
 *
 * Lock order: shard locks in index order, then the file lock. A write
 * holds its shard lock across the file append, so the records of one key
 * are in the file in the order the changes were made.
 *
 * Job queues live beside the table in a module of their own
 * (store_memqueue.c): never written to the file, and their locks never
 * held with a shard or file lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "store_internal.h"
#include "store_memqueue.h"
#include "store_memtable.h"

#define MEM_SHARD_BITS	  4
#define MEM_SHARDS	  (1u << MEM_SHARD_BITS)
/* Buckets of its shard that each write looks at for expired keys. */
#define MEM_SWEEP_BUCKETS 8u
/* Decimal text of any int64_t, sign included. */
#define MEM_INT_TEXT_MAX  21

#define AOF_NAME	"store.aof"
#define AOF_TMP_NAME	"store.aof.tmp"
#define AOF_NEW_NAME	"store.aof.new"
#define AOF_MAGIC	"AFSTORE1"
#define AOF_MAGIC_LEN	8u
/* Record: body length, its complement, SHA-256 of the body, the body. */
#define AOF_HDR_LEN	8u
#define AOF_SUM_LEN	32u
#define AOF_PRE_LEN	(AOF_HDR_LEN + AOF_SUM_LEN)
/* Body: op, expiry (ms since the epoch, 0: none), key, data. */
#define AOF_BODY_FIXED	(1u + 8u + 4u + 4u)
#define AOF_BODY_MAX	(AOF_BODY_FIXED + STORE_FULLKEY_MAX + STORE_VALUE_MAX)
#define AOF_COMPACT_MIN ((uint64_t)1024 * 1024)
#define AOF_WRITE_BUF	((size_t)64 * 1024)

/* Torn tails cut off at open are kept as store.aof.cut-UNIXTIME. */
#define AOF_CUT_NAME	 "store.aof.cut-"
#define AOF_CUT_NAME_MAX 64u

/* One report line at most; a longer one is cut. */
#define MEM_REPORT_MAX	    1024u
/* Report lines waiting for a lock to be let go, at most. */
#define MEM_REPORT_SLOTS    4u
/* A failure like the last one reported within this time is only counted. */
#define MEM_REPORT_QUIET_MS 10000u
/* About what the records of one sign-in begun take, for /healthz. */
#define MEM_SIGNIN_BYTES    4096
/* A full store reaps its expired keys at most this often. */
#define MEM_REAP_QUIET_MS   250u
/* How long records that no longer count may stay in the file. */
#define MEM_SCRUB_AFTER_MS  ((uint64_t)10 * 60 * 1000)

enum aof_op {
	AOF_SET = 1,
	AOF_DEL = 2,
	AOF_SADD = 3,
	AOF_SREM = 4,
};

enum mem_type {
	MEM_STR,
	MEM_SET,
};

/*
 * One key of the table. A string is a single allocation: this header,
 * the key and a NUL, then the value and a NUL (see str_data()). Most keys
 * are short-lived tokens and codes, so one block per key instead of two,
 * and a header without the set's table, is most of what they cost.
 */
struct mem_entry {
	struct mem_node node; /* first, so a node pointer is an entry pointer */
	int64_t expire_ms;    /* 0: never */
	enum mem_type type;
	bool durable; /* MEM_STR: in the file despite its expiry */
	union {
		size_t len;		  /* MEM_STR: bytes of the value */
		struct mem_table members; /* MEM_SET: struct mem_member nodes */
	};
	char keybuf[];
};

struct mem_member {
	struct mem_node node;
	char buf[];
};

struct mem_shard {
	pthread_mutex_t lock;
	struct mem_table table;
	size_t sweep_at;
};

/* The steps of writing the file whose failures are reported. */
enum mem_fail {
	FAIL_APPEND,  /* writing a record */
	FAIL_FSYNC,   /* fsync after a record */
	FAIL_REFUSED, /* a change refused since the file broke */
	FAIL_COMPACT, /* rewriting the file */
	FAIL_KINDS,
};

/* The last reported failure of one step, for the 10 s quiet time. */
struct mem_fail_seen {
	bool seen;
	int err;
	uint64_t at_ms;	    /* monotonic */
	unsigned long more; /* identical failures counted, not told */
};

struct mem_report {
	int level;
	char msg[MEM_REPORT_MAX];
};

struct mem_store {
	struct mem_shard shards[MEM_SHARDS];
	mem_queues *queues;
	uint8_t sipkey[16];
	bool persist; /* a state folder is in use */
	/* What a freshly compacted file would hold, in bytes of records. */
	_Atomic int64_t live_bytes;
	/* Bytes of the keys, values and members held, and their cap (0:
	 * none), past which writes of short-lived data are refused. */
	_Atomic int64_t used_bytes;
	int64_t max_bytes;
	_Atomic uint64_t full_told_ms; /* monotonic; the last "full" report */
	_Atomic uint64_t reaped_ms;    /* monotonic; the last reap_others() */
	/* Set once at open, read-only afterwards. */
	void (*report)(void *arg, int level, const char *msg);
	void *report_arg;
	char dir_path[PATH_MAX]; /* the state folder, absolute if possible */
	char aof_path[PATH_MAX + sizeof(AOF_NAME) + 1];
	/* Lines are queued under aof_lock and told once it is let go. */
	_Atomic bool reports_waiting;
	pthread_mutex_t aof_lock; /* guards everything below */
	int aof_fd;
	int dir_fd;
	uint64_t aof_size;
	uint64_t compact_floor;
	/* Monotonic ms since the file first held records that no longer
	 * count (0: it holds none), and the scrub's settings. */
	uint64_t stale_since_ms;
	uint64_t scrub_after_ms;
	uint64_t scrub_gap_ms; /* after the last rewrite, by its length */
	uint64_t rewrote_at_ms;
	bool aof_broken;
	int broken_err; /* the errno that broke the file */
	/* The last append failed with this errno (0: it did not), wanting
	 * this many bytes; cleared by the next append or room found. */
	int append_err;
	uint64_t append_want;
	struct mem_fail_seen fails[FAIL_KINDS];
	struct mem_report reports[MEM_REPORT_SLOTS];
	size_t nreports;
	unsigned long reports_dropped;
};

/* --- entries and their accounting ------------------------------------ */

static uint64_t rec_size(size_t klen, size_t dlen)
{
	return AOF_PRE_LEN + AOF_BODY_FIXED + (uint64_t)klen + dlen;
}

static void live_add(struct mem_store *ms, int64_t delta)
{
	if (ms->persist)
		atomic_fetch_add(&ms->live_bytes, delta);
}

static void used_add(struct mem_store *ms, int64_t delta)
{
	atomic_fetch_add(&ms->used_bytes, delta);
}

/* Fills the header and the key of a block of at least sizeof + klen + 1. */
static void entry_init(struct mem_entry *e, uint64_t h, const char *key,
		       size_t klen, enum mem_type type)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->keybuf, key, klen);
	e->keybuf[klen] = '\0';
	e->node.key = e->keybuf;
	e->node.klen = klen;
	e->node.hash = h;
	e->type = type;
}

/* Bytes of the block of a string entry. */
static size_t str_size(size_t klen, size_t len)
{
	return sizeof(struct mem_entry) + klen + 1 + len + 1;
}

/* Bytes of a set entry without its members, and of one member. */
static size_t set_head_size(size_t klen)
{
	return sizeof(struct mem_entry) + klen + 1;
}

static size_t member_size(size_t mlen)
{
	return sizeof(struct mem_member) + mlen + 1;
}

/* The value of a string entry: len bytes and a NUL, after the key's NUL. */
static const uint8_t *str_data(const struct mem_entry *e)
{
	return (const uint8_t *)e->keybuf + e->node.klen + 1;
}

/*
 * A string entry with no expiry, key and value copied in, not yet in the
 * table. NULL when memory is short or a size is over its cap: the caps
 * also bound the size arithmetic, and a replayed record's value is
 * otherwise bounded only by the record's length.
 */
static struct mem_entry *str_entry_new(uint64_t h, const char *key, size_t klen,
				       const void *val, size_t len)
{
	struct mem_entry *e;
	uint8_t *data;

	if (klen > STORE_FULLKEY_MAX || len > STORE_VALUE_MAX)
		return NULL;
	e = OPENSSL_malloc(str_size(klen, len));
	if (e == NULL)
		return NULL;
	entry_init(e, h, key, klen, MEM_STR);
	e->len = len;
	data = (uint8_t *)e->keybuf + klen + 1;
	if (len > 0)
		memcpy(data, val, len);
	data[len] = '\0';
	return e;
}

/* An empty set entry, not yet in the table; NULL when memory is short. */
static struct mem_entry *set_entry_new(uint64_t h, const char *key, size_t klen)
{
	struct mem_entry *e = OPENSSL_malloc(sizeof(*e) + klen + 1);

	if (e == NULL)
		return NULL;
	entry_init(e, h, key, klen, MEM_SET);
	if (mem_table_init(&e->members) != 0) {
		OPENSSL_free(e);
		return NULL;
	}
	return e;
}

static struct mem_member *member_new(uint64_t h, const char *m, size_t mlen)
{
	struct mem_member *mm = OPENSSL_zalloc(sizeof(*mm) + mlen + 1);

	if (mm == NULL)
		return NULL;
	memcpy(mm->buf, m, mlen);
	mm->node.key = mm->buf;
	mm->node.klen = mlen;
	mm->node.hash = h;
	return mm;
}

/*
 * Whether the file holds the entry: no expiry, or written durable. Only
 * what the file holds counts in live_bytes, the measure the file's size
 * is held against (compact_due(), note_stale()).
 */
static bool persisted(const struct mem_entry *e)
{
	return e->expire_ms == 0 || e->durable;
}

/* Frees an entry that is not in the table (NULL accepted). */
static void entry_free(struct mem_store *ms, struct mem_entry *e, bool counted)
{
	size_t i;

	if (e == NULL)
		return;
	if (e->type == MEM_STR) {
		if (counted && persisted(e))
			live_add(ms, -(int64_t)rec_size(e->node.klen, e->len));
		if (counted)
			used_add(ms, -(int64_t)str_size(e->node.klen, e->len));
		/* The value is in the block and may be a secret. */
		OPENSSL_clear_free(e, str_size(e->node.klen, e->len));
		return;
	}
	for (i = 0; i < e->members.nbuckets; i++) {
		struct mem_node *n = e->members.buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->next;
			if (counted && persisted(e))
				live_add(ms, -(int64_t)rec_size(e->node.klen,
								n->klen));
			if (counted)
				used_add(ms, -(int64_t)member_size(n->klen));
			OPENSSL_free(n);
		}
	}
	if (counted)
		used_add(ms, -(int64_t)set_head_size(e->node.klen));
	OPENSSL_free(e->members.buckets);
	OPENSSL_free(e);
}

/* The bytes the members of set e take in the file, persisted or not. */
static int64_t set_live_bytes(const struct mem_entry *e)
{
	int64_t n = 0;
	size_t i;

	for (i = 0; i < e->members.nbuckets; i++) {
		const struct mem_node *m;

		for (m = e->members.buckets[i]; m != NULL; m = m->next)
			n += (int64_t)rec_size(e->node.klen, m->klen);
	}
	return n;
}

static bool expired(const struct mem_entry *e, int64_t now)
{
	return e->expire_ms != 0 && e->expire_ms <= now;
}

static uint64_t key_hash(const struct mem_store *ms, const char *key,
			 size_t klen)
{
	return mem_hash(ms->sipkey, key, klen);
}

static struct mem_shard *shard_of(struct mem_store *ms, uint64_t h)
{
	return &ms->shards[h >> (64 - MEM_SHARD_BITS)];
}

/* Looks a key up, removing it when it has expired. */
static struct mem_entry *lookup(struct mem_store *ms, struct mem_shard *sh,
				uint64_t h, const char *key, size_t klen,
				int64_t now, struct mem_node ***link)
{
	struct mem_node **l = NULL;
	struct mem_entry *e = (struct mem_entry *)mem_table_find(&sh->table, h,
								 key, klen, &l);

	if (e == NULL)
		return NULL;
	if (expired(e, now)) {
		mem_table_unlink(&sh->table, l);
		entry_free(ms, e, true);
		return NULL;
	}
	if (link != NULL)
		*link = l;
	return e;
}

/* Reaps the expired keys of bucket b of shard sh. */
static void reap_bucket(struct mem_store *ms, struct mem_shard *sh, size_t b,
			int64_t now)
{
	struct mem_node **l = &sh->table.buckets[b];

	while (*l != NULL) {
		struct mem_entry *e = (struct mem_entry *)*l;

		if (expired(e, now)) {
			mem_table_unlink(&sh->table, l);
			entry_free(ms, e, true);
		} else {
			l = &(*l)->next;
		}
	}
}

/* Reaps expired keys from a few buckets, moving on each time. */
static void sweep(struct mem_store *ms, struct mem_shard *sh, int64_t now)
{
	unsigned i;

	for (i = 0; i < MEM_SWEEP_BUCKETS; i++) {
		sh->sweep_at = (sh->sweep_at + 1) & (sh->table.nbuckets - 1);
		reap_bucket(ms, sh, sh->sweep_at, now);
	}
}

/* Puts a new entry in place of old (which may be NULL). */
static void replace(struct mem_store *ms, struct mem_shard *sh,
		    struct mem_entry *old, struct mem_node **link,
		    struct mem_entry *fresh)
{
	if (old != NULL) {
		mem_table_unlink(&sh->table, link);
		entry_free(ms, old, true);
	}
	mem_table_insert(&sh->table, &fresh->node);
	if (fresh->type == MEM_STR && persisted(fresh))
		live_add(ms, (int64_t)rec_size(fresh->node.klen, fresh->len));
	if (fresh->type == MEM_STR)
		used_add(ms, (int64_t)str_size(fresh->node.klen, fresh->len));
}

static void remove_entry(struct mem_store *ms, struct mem_shard *sh,
			 struct mem_entry *e, struct mem_node **link)
{
	mem_table_unlink(&sh->table, link);
	entry_free(ms, e, true);
}

/* --- reports ----------------------------------------------------------- */

#if defined(__GNUC__)
#define MEM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MEM_PRINTF(a, b)
#endif

static void say(const struct mem_store *ms, int level, const char *fmt, ...)
	MEM_PRINTF(3, 4);
static void report_queue(struct mem_store *ms, int level, const char *fmt, ...)
	MEM_PRINTF(3, 4);

/* Formats one line and tells it at once: only where no lock is held. */
static void say(const struct mem_store *ms, int level, const char *fmt, ...)
{
	char line[MEM_REPORT_MAX];
	va_list ap;

	if (ms->report == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ms->report(ms->report_arg, level, line);
}

/*
 * Queues one line for report_flush(), which tells it once the locks are
 * let go: a callback that logs may wait for its output, and other
 * threads must not wait for it in turn. Called with aof_lock held.
 */
static void report_queue(struct mem_store *ms, int level, const char *fmt, ...)
{
	struct mem_report *r;
	va_list ap;

	if (ms->report == NULL)
		return;
	if (ms->nreports == MEM_REPORT_SLOTS) {
		ms->reports_dropped++;
		return;
	}
	r = &ms->reports[ms->nreports++];
	r->level = level;
	va_start(ap, fmt);
	(void)vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	atomic_store(&ms->reports_waiting, true);
}

/* Tells the queued lines, oldest first. Called with no lock held. */
static void report_flush(struct mem_store *ms)
{
	struct mem_report r;
	unsigned long dropped;

	if (ms->report == NULL || !atomic_load(&ms->reports_waiting))
		return;
	for (;;) {
		pthread_mutex_lock(&ms->aof_lock);
		if (ms->nreports == 0) {
			dropped = ms->reports_dropped;
			ms->reports_dropped = 0;
			atomic_store(&ms->reports_waiting, false);
			pthread_mutex_unlock(&ms->aof_lock);
			break;
		}
		r = ms->reports[0];
		ms->nreports--;
		memmove(&ms->reports[0], &ms->reports[1],
			ms->nreports * sizeof(ms->reports[0]));
		pthread_mutex_unlock(&ms->aof_lock);
		ms->report(ms->report_arg, r.level, r.msg);
	}
	if (dropped > 0)
		say(ms, STORE_REPORT_ERROR,
		    "state file %s: %lu more failures came at once and were "
		    "not told one by one",
		    ms->aof_path, dropped);
}

/*
 * Reaps the expired keys of every shard but held (whose lock the caller
 * has, with pointers into its table), at most every MEM_REAP_QUIET_MS. The
 * sweep of each write walks a few buckets only: after a flood of
 * short-lived keys (codes, sign-ins begun) the expired ones would hold
 * the store at its cap for as many writes as it has buckets. A shard
 * another thread holds is skipped (locks are never waited for while
 * holding one); its own writes sweep it. True when it ran.
 */
static bool reap_others(struct mem_store *ms, const struct mem_shard *held)
{
	uint64_t mono = af_mono_ns() / 1000000u;
	uint64_t last = atomic_load(&ms->reaped_ms);
	int64_t now;
	unsigned i;
	size_t b;

	if ((last != 0 && mono - last < MEM_REAP_QUIET_MS) ||
	    !atomic_compare_exchange_strong(&ms->reaped_ms, &last, mono))
		return false;
	now = af_now_ms();
	for (i = 0; i < MEM_SHARDS; i++) {
		struct mem_shard *sh = &ms->shards[i];

		if (sh == held || pthread_mutex_trylock(&sh->lock) != 0)
			continue;
		for (b = 0; b < sh->table.nbuckets; b++)
			reap_bucket(ms, sh, b, now);
		pthread_mutex_unlock(&sh->lock);
	}
	return true;
}

/*
 * Whether a write of short-lived data that grows the store by add bytes
 * is refused: past the cap, the store takes no more of it until entries
 * expire or go, so that a flood of sign-ins that are never finished
 * cannot take the machine's memory; data that yields (STORE_SET_YIELD:
 * sign-ins begun) is refused from STORE_YIELD_PCT of the cap already.
 * Data without an expiry, or written durable (users, apps, keys,
 * lockouts), is never refused here. Expired keys are reaped before a
 * refusal. Told at most every MEM_REPORT_QUIET_MS. Called with shard sh
 * locked.
 */
static bool over_cap(struct mem_store *ms, const struct mem_shard *sh,
		     bool yield, int64_t add)
{
	int64_t used = atomic_load(&ms->used_bytes);
	int64_t cap =
		yield ? ms->max_bytes / 100 * STORE_YIELD_PCT : ms->max_bytes;
	uint64_t now, last;

	if (ms->max_bytes == 0 || add <= 0 || used + add <= cap)
		return false;
	if (reap_others(ms, sh)) {
		used = atomic_load(&ms->used_bytes);
		if (used + add <= cap)
			return false;
	}
	now = af_mono_ns() / 1000000u;
	last = atomic_load(&ms->full_told_ms);
	if ((last == 0 || now - last >= MEM_REPORT_QUIET_MS) &&
	    atomic_compare_exchange_strong(&ms->full_told_ms, &last, now)) {
		pthread_mutex_lock(&ms->aof_lock);
		report_queue(ms, STORE_REPORT_WARNING,
			     "the store is full: it holds %lld MiB of its "
			     "%lld MiB cap (store.max_mb); %s are refused "
			     "until entries expire",
			     (long long)(used >> 20),
			     (long long)(ms->max_bytes >> 20),
			     yield ? "new sign-ins (past 90% of the cap)"
				   : "short-lived writes (sign-ins, codes, "
				     "sessions, tokens)");
		pthread_mutex_unlock(&ms->aof_lock);
	}
	return true;
}

static const char *const fail_step[FAIL_KINDS] = {
	[FAIL_APPEND] = "appending a record",
	[FAIL_FSYNC] = "fsync",
	[FAIL_REFUSED] = "a change on the read-only store",
	[FAIL_COMPACT] = "compaction",
};

static int fail_level(enum mem_fail kind)
{
	/* A failed compaction loses nothing: the old file stays whole. */
	return kind == FAIL_COMPACT ? STORE_REPORT_WARNING : STORE_REPORT_ERROR;
}

/* Tells how many failures were only counted. Called with aof_lock held. */
static void fail_tell_more(struct mem_store *ms, enum mem_fail kind)
{
	struct mem_fail_seen *fs = &ms->fails[kind];
	char why[128];

	if (fs->more == 0)
		return;
	af_errno_text(fs->err, why, sizeof(why));
	report_queue(ms, fail_level(kind),
		     "state file %s: %s failed %lu more times (%s) since "
		     "the last report",
		     ms->aof_path, fail_step[kind], fs->more, why);
	fs->more = 0;
}

/*
 * Whether a failure of step kind with errno err is to be told. One that
 * repeats the last one told for that step within MEM_REPORT_QUIET_MS is
 * only counted, so that a full disk under load gives one line every 10 s
 * rather than one per request. Called with aof_lock held.
 */
static bool fail_due(struct mem_store *ms, enum mem_fail kind, int err)
{
	struct mem_fail_seen *fs = &ms->fails[kind];
	uint64_t now = af_mono_ns() / 1000000u;

	if (fs->seen && fs->err == err &&
	    now - fs->at_ms < MEM_REPORT_QUIET_MS) {
		fs->more++;
		return false;
	}
	fail_tell_more(ms, kind);
	fs->seen = true;
	fs->err = err;
	fs->at_ms = now;
	return true;
}

/* --- the append-only file --------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v)
{
	unsigned i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Encodes one record into out, which holds rec_size(klen, dlen) bytes. */
static void rec_encode(uint8_t *out, enum aof_op op, const char *key,
		       size_t klen, int64_t expire_ms, const void *data,
		       size_t dlen)
{
	uint8_t *body = out + AOF_PRE_LEN, *p = body;
	uint32_t blen = (uint32_t)(AOF_BODY_FIXED + klen + dlen);
	uint64_t ex = (uint64_t)expire_ms;
	unsigned i;

	put_le32(out, blen);
	put_le32(out + 4, ~blen);
	*p++ = (uint8_t)op;
	for (i = 0; i < 8; i++)
		*p++ = (uint8_t)(ex >> (8 * i));
	put_le32(p, (uint32_t)klen);
	p += 4;
	memcpy(p, key, klen);
	p += klen;
	put_le32(p, (uint32_t)dlen);
	p += 4;
	if (dlen > 0)
		memcpy(p, data, dlen);
	af_sha256(body, blen, out + AOF_HDR_LEN);
}

/*
 * Notes when the file first holds more than the live data would: a
 * record overwritten or deleted since the last rewrite. Called with
 * aof_lock held.
 */
static void note_stale(struct mem_store *ms)
{
	int64_t live = atomic_load(&ms->live_bytes);

	if (ms->stale_since_ms == 0 &&
	    ms->aof_size > AOF_MAGIC_LEN + (uint64_t)(live > 0 ? live : 0))
		ms->stale_since_ms = af_mono_ns() / 1000000u;
}

static bool compact_due(struct mem_store *ms)
{
	int64_t live = atomic_load(&ms->live_bytes);

	return ms->aof_size >= ms->compact_floor &&
	       ms->aof_size > 2 * (uint64_t)(live > 0 ? live : 0);
}

/*
 * Cuts the file back to its last whole record. 0, or the errno of a cut
 * that failed, after which the file can no longer be trusted: the store
 * refuses every change. Called with aof_lock held.
 */
static int cut_back(struct mem_store *ms)
{
	if (ftruncate(ms->aof_fd, (off_t)ms->aof_size) == 0)
		return 0;
	ms->aof_broken = true;
	ms->broken_err = errno;
	return ms->broken_err;
}

/*
 * A record could not be written (a full disk, a file size limit, an I/O
 * error): what part of it went in is cut back off. Called with aof_lock
 * held, right after the failure, so errno is still its.
 */
static void append_failed(struct mem_store *ms, uint64_t n)
{
	int err = errno, terr;
	char why[128], twhy[128];
	bool due;

	due = fail_due(ms, FAIL_APPEND, err);
	af_errno_text(err, why, sizeof(why));
	ms->append_err = err != 0 ? err : EIO;
	ms->append_want = n;
	terr = cut_back(ms);
	if (terr != 0) {
		/* Always told: from here on every change is refused. */
		af_errno_text(terr, twhy, sizeof(twhy));
		report_queue(ms, STORE_REPORT_ERROR,
			     "state file %s: cannot append a record of %llu "
			     "bytes at offset %llu: %s; cutting it back off "
			     "failed too: %s; the store refuses every change "
			     "until it is restarted",
			     ms->aof_path, (unsigned long long)n,
			     (unsigned long long)ms->aof_size, why, twhy);
		return;
	}
	if (due)
		report_queue(ms, STORE_REPORT_ERROR,
			     "state file %s: cannot append a record of %llu "
			     "bytes at offset %llu: %s; the change was refused",
			     ms->aof_path, (unsigned long long)n,
			     (unsigned long long)ms->aof_size, why);
}

/*
 * fsync failed: the kernel may have dropped the written pages, so the
 * file can no longer be trusted. Called with aof_lock held, right after
 * the failure.
 */
static void fsync_failed(struct mem_store *ms)
{
	int err = errno;
	char why[128];

	ms->aof_broken = true;
	ms->broken_err = err;
	if (ftruncate(ms->aof_fd, (off_t)ms->aof_size) == 0)
		(void)fsync(ms->aof_fd);
	if (!fail_due(ms, FAIL_FSYNC, err))
		return;
	af_errno_text(err, why, sizeof(why));
	report_queue(ms, STORE_REPORT_ERROR,
		     "state file %s: fsync failed: %s; the change was refused "
		     "and the store refuses every change until it is "
		     "restarted",
		     ms->aof_path, why);
}

/*
 * The folder could not be synced after a rewrite's rename: as after a
 * failed fsync, every later change is refused. Called with aof_lock held.
 */
static void folder_sync_failed(struct mem_store *ms)
{
	char why[128];

	ms->aof_broken = true;
	ms->broken_err = errno;
	af_errno_text(ms->broken_err, why, sizeof(why));
	report_queue(ms, STORE_REPORT_ERROR,
		     "state file %s: the folder could not be synced after a "
		     "rewrite: %s; the store refuses every change until it is "
		     "restarted",
		     ms->aof_path, why);
}

/*
 * A change refused because the file broke earlier: told again every 10 s
 * while changes keep coming, as the store stays read-only until restarted.
 * Called with aof_lock held.
 */
static void refused(struct mem_store *ms)
{
	char why[128];

	if (!fail_due(ms, FAIL_REFUSED, ms->broken_err))
		return;
	af_errno_text(ms->broken_err, why, sizeof(why));
	report_queue(ms, STORE_REPORT_ERROR,
		     "state file %s: a change was refused: the file failed "
		     "earlier (%s) and the store is read-only until it is "
		     "restarted",
		     ms->aof_path, why);
}

/*
 * Appends one record and fsyncs it. A failed write is cut back off the
 * file, so replay never sees a change that was not made; when even that
 * fails, or fsync fails (after which the kernel may have dropped the
 * pages), the file can no longer be trusted and every later change is
 * refused. Sets *compact once the file has grown: write_done() judges,
 * after the caller has counted what the write made live, whether it has
 * grown enough to rewrite. Failures are queued as reports, told by
 * write_done().
 */
static store_status aof_append(struct mem_store *ms, enum aof_op op,
			       const char *key, size_t klen, int64_t expire_ms,
			       const void *data, size_t dlen, bool *compact)
{
	uint64_t n = rec_size(klen, dlen);
	store_status rc = STORE_ERR_IO;
	uint8_t *rec;

	if (!ms->persist)
		return STORE_OK;
	rec = OPENSSL_malloc(n);
	if (rec == NULL)
		return STORE_ERR_NOMEM;
	rec_encode(rec, op, key, klen, expire_ms, data, dlen);
	pthread_mutex_lock(&ms->aof_lock);
	if (ms->aof_broken) {
		refused(ms);
		goto out;
	}
	if (af_write_all(ms->aof_fd, rec, n) != 0) {
		append_failed(ms, n);
		goto out;
	}
	if (fsync(ms->aof_fd) != 0) {
		fsync_failed(ms);
		goto out;
	}
	ms->aof_size += n;
	ms->append_err = 0;
	*compact = true;
	rc = STORE_OK;
out:
	pthread_mutex_unlock(&ms->aof_lock);
	OPENSSL_clear_free(rec, n);
	return rc;
}

/*
 * Only state without an expiry goes to the file, unless the caller asked
 * for it (STORE_SET_DURABLE). Flows, codes, tokens, sessions and counters
 * all expire within hours; losing them in a restart only asks people to
 * sign in again, whereas an fsync for every sign-in step would bound the
 * whole server by the disk. Durable keys are the few whose loss would
 * undo a defence (a lockout, a replay record): they go in with their
 * absolute expiry, which replay honours. A persisted key that becomes
 * volatile is written as a delete, so replay cannot resurrect it.
 */
static store_status persist_set(struct mem_store *ms, const char *key,
				size_t klen, const struct mem_entry *old,
				int64_t expire_ms, bool durable,
				const void *data, size_t dlen, bool *compact)
{
	if (expire_ms == 0 || durable)
		return aof_append(ms, AOF_SET, key, klen, expire_ms, data, dlen,
				  compact);
	if (old == NULL || !persisted(old))
		return STORE_OK;
	return aof_append(ms, AOF_DEL, key, klen, 0, NULL, 0, compact);
}

static store_status persist_del(struct mem_store *ms, const char *key,
				size_t klen, const struct mem_entry *old,
				bool *compact)
{
	if (old != NULL && !persisted(old))
		return STORE_OK;
	return aof_append(ms, AOF_DEL, key, klen, 0, NULL, 0, compact);
}

/* A buffered writer for the compacted file. */
struct wbuf {
	int fd;
	uint8_t *buf;
	size_t len;
	uint64_t total;
	bool failed;
	int err; /* errno of the failure */
};

static void wbuf_fail(struct wbuf *w, int err)
{
	if (!w->failed)
		w->err = err;
	w->failed = true;
}

static void wbuf_flush(struct wbuf *w)
{
	if (!w->failed && w->len > 0 &&
	    af_write_all(w->fd, w->buf, w->len) != 0)
		wbuf_fail(w, errno);
	w->len = 0;
}

static void wbuf_record(struct wbuf *w, enum aof_op op, const char *key,
			size_t klen, int64_t expire_ms, const void *data,
			size_t dlen)
{
	uint64_t n = rec_size(klen, dlen);
	uint8_t *big;

	w->total += n;
	if (n <= AOF_WRITE_BUF) {
		if (w->len + n > AOF_WRITE_BUF)
			wbuf_flush(w);
		rec_encode(w->buf + w->len, op, key, klen, expire_ms, data,
			   dlen);
		w->len += n;
		return;
	}
	wbuf_flush(w);
	big = OPENSSL_malloc(n);
	if (big == NULL) {
		wbuf_fail(w, ENOMEM);
		return;
	}
	rec_encode(big, op, key, klen, expire_ms, data, dlen);
	if (!w->failed && af_write_all(w->fd, big, n) != 0)
		wbuf_fail(w, errno);
	OPENSSL_clear_free(big, n);
}

/*
 * Once a rewrite at now is in place: the durable keys it left out as
 * expired, but still in the table, count from then on as not in the file,
 * so that reaping them later takes nothing off the live bytes the new
 * file starts with. Called with every lock held.
 */
static void forget_left_out(struct mem_store *ms, int64_t now)
{
	size_t s, i;

	for (s = 0; s < MEM_SHARDS; s++) {
		const struct mem_table *t = &ms->shards[s].table;

		for (i = 0; i < t->nbuckets; i++) {
			struct mem_node *n = t->buckets[i];

			for (; n != NULL; n = n->next) {
				struct mem_entry *e = (struct mem_entry *)n;

				if (expired(e, now))
					e->durable = false;
			}
		}
	}
}

/* Writes one record per live key (one per member for sets). */
static void write_live(struct mem_store *ms, struct wbuf *w, int64_t now)
{
	size_t s, i, j;

	for (s = 0; s < MEM_SHARDS && !w->failed; s++) {
		const struct mem_table *t = &ms->shards[s].table;

		for (i = 0; i < t->nbuckets; i++) {
			const struct mem_node *n = t->buckets[i];

			for (; n != NULL; n = n->next) {
				const struct mem_entry *e =
					(const struct mem_entry *)n;

				/* Volatile keys are never persisted. */
				if (expired(e, now) || !persisted(e))
					continue;
				if (e->type == MEM_STR) {
					wbuf_record(w, AOF_SET, n->key, n->klen,
						    e->expire_ms, str_data(e),
						    e->len);
					continue;
				}
				for (j = 0; j < e->members.nbuckets; j++) {
					const struct mem_node *m =
						e->members.buckets[j];

					for (; m != NULL; m = m->next)
						wbuf_record(w, AOF_SADD, n->key,
							    n->klen, 0, m->key,
							    m->klen);
				}
			}
		}
	}
}

/*
 * Writes the live data to store.aof.tmp, fsyncs it, locks it, renames it
 * over store.aof and fsyncs the folder, so that at every instant one
 * complete file sits under the name. Called with every lock held.
 * Returns 0, or the errno of the step that failed.
 */
static int compact_locked(struct mem_store *ms)
{
	struct wbuf w = {.fd = -1};
	int64_t now = af_now_ms();
	int rc = 0;

	(void)unlinkat(ms->dir_fd, AOF_TMP_NAME, 0);
	w.fd = openat(ms->dir_fd, AOF_TMP_NAME,
		      O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC |
			      O_NOFOLLOW,
		      0600);
	if (w.fd < 0)
		return errno;
	w.buf = OPENSSL_malloc(AOF_WRITE_BUF);
	if (w.buf == NULL) {
		rc = ENOMEM;
		goto out;
	}
	memcpy(w.buf, AOF_MAGIC, AOF_MAGIC_LEN);
	w.len = AOF_MAGIC_LEN;
	write_live(ms, &w, now);
	wbuf_flush(&w);
	if (w.failed) {
		rc = w.err;
		goto out;
	}
	if (fsync(w.fd) != 0 || flock(w.fd, LOCK_EX | LOCK_NB) != 0 ||
	    renameat(ms->dir_fd, AOF_TMP_NAME, ms->dir_fd, AOF_NAME) != 0) {
		rc = errno;
		goto out;
	}
	/*
	 * The rename is done, and a failed folder fsync cannot undo it; but
	 * then it may not outlive a power cut, which would bring the old file
	 * back without the changes acknowledged from now on: none are.
	 */
	if (fsync(ms->dir_fd) != 0)
		folder_sync_failed(ms);
	close(ms->aof_fd);
	ms->aof_fd = w.fd;
	w.fd = -1;
	ms->aof_size = AOF_MAGIC_LEN + w.total;
	atomic_store(&ms->live_bytes, (int64_t)w.total);
	forget_left_out(ms, now);
	ms->stale_since_ms = 0;
	/* A failed rewrite raised the floor; a good one puts it back. */
	ms->compact_floor = AOF_COMPACT_MIN;
out:
	if (w.fd >= 0) {
		close(w.fd);
		(void)unlinkat(ms->dir_fd, AOF_TMP_NAME, 0);
	}
	OPENSSL_clear_free(w.buf, AOF_WRITE_BUF);
	return rc;
}

/*
 * Whether the file has held records that no longer count for the scrub's
 * time, and the last rewrite is far enough behind: each waits at least a
 * thousand times as long as the last one took, so that a large store
 * pauses for its rewrites a thousandth of the time at most. Called with
 * aof_lock held.
 */
static bool scrub_due(struct mem_store *ms, uint64_t now_ms)
{
	return !ms->aof_broken && ms->stale_since_ms != 0 &&
	       now_ms - ms->stale_since_ms >= ms->scrub_after_ms &&
	       now_ms - ms->rewrote_at_ms >= ms->scrub_gap_ms;
}

/*
 * Rewrites the file when it is still due (or, with scrub, when the
 * scrub is). Every shard is locked for the rewrite, so it is a pause; it
 * comes only after the file has doubled, or after records that no longer
 * count have waited scrub_after_ms. When it fails, the next attempt waits
 * until the file doubles again. Called with no lock held.
 */
static void compact(struct mem_store *ms, bool scrub)
{
	uint64_t t0 = af_mono_ns(), took_ms;
	char why[128];
	unsigned s;
	int err;

	for (s = 0; s < MEM_SHARDS; s++)
		pthread_mutex_lock(&ms->shards[s].lock);
	pthread_mutex_lock(&ms->aof_lock);
	if (!ms->aof_broken &&
	    (scrub ? scrub_due(ms, t0 / 1000000u) : compact_due(ms))) {
		err = compact_locked(ms);
		took_ms = (af_mono_ns() - t0) / 1000000u;
		ms->rewrote_at_ms = af_mono_ns() / 1000000u;
		ms->scrub_gap_ms = took_ms * 1000u;
		/* A failed scrub waits its full time again. */
		if (err != 0 && scrub)
			ms->stale_since_ms = ms->rewrote_at_ms;
		if (err != 0)
			ms->compact_floor = ms->aof_size * 2;
		if (err != 0 && fail_due(ms, FAIL_COMPACT, err)) {
			af_errno_text(err, why, sizeof(why));
			report_queue(ms, STORE_REPORT_WARNING,
				     "state file %s: cannot rewrite it through "
				     "%s/" AOF_TMP_NAME
				     ": %s; it is kept as it "
				     "is, next try at %llu bytes",
				     ms->aof_path, ms->dir_path, why,
				     (unsigned long long)ms->compact_floor);
		}
	}
	pthread_mutex_unlock(&ms->aof_lock);
	for (s = MEM_SHARDS; s > 0; s--)
		pthread_mutex_unlock(&ms->shards[s - 1].lock);
	report_flush(ms);
}

/* --- operations --------------------------------------------------------- */

static int64_t expiry_of(int64_t now, uint64_t ttl_ms)
{
	return ttl_ms == 0 ? 0 : now + (int64_t)ttl_ms;
}

/*
 * The end of every write: resize the table, let go of the shard, rewrite
 * the file if due, and tell what went wrong with the file meanwhile.
 */
static void write_done(struct mem_store *ms, struct mem_shard *sh,
		       bool appended)
{
	bool due = false;

	mem_table_resize(&sh->table);
	pthread_mutex_unlock(&sh->lock);
	/*
	 * Judged now that the write's records count as live (or what they
	 * replaced as stale): judged at the append, every new key looked
	 * like a record that no longer counts, and brought a scrub.
	 */
	if (appended) {
		pthread_mutex_lock(&ms->aof_lock);
		note_stale(ms);
		due = compact_due(ms);
		pthread_mutex_unlock(&ms->aof_lock);
	}
	if (due)
		compact(ms, false);
	report_flush(ms);
}

/*
 * Puts the string entry *fresh (from str_entry_new(), for the same key)
 * in place of e (NULL when the key is new) with the given expiry and
 * flags (STORE_SET_DURABLE, STORE_SET_YIELD): it is persisted first, then it
 * replaces e and *fresh is set to NULL. Called with the shard locked; on
 * failure nothing changed and *fresh is still the caller's to free.
 */
static store_status install_str(struct mem_store *ms, struct mem_shard *sh,
				struct mem_entry *e, struct mem_node **link,
				int64_t expire_ms, unsigned flags,
				struct mem_entry **fresh, bool *compact)
{
	struct mem_entry *f = *fresh;
	bool durable = (flags & STORE_SET_DURABLE) != 0;
	store_status rc;

	/* Short-lived: an expiry, neither durable nor vital (over_cap()). */
	if (!durable && expire_ms != 0 && (flags & STORE_SET_VITAL) == 0 &&
	    over_cap(ms, sh, (flags & STORE_SET_YIELD) != 0,
		     (int64_t)str_size(f->node.klen, f->len) -
			     (e != NULL && e->type == MEM_STR
				      ? (int64_t)str_size(e->node.klen, e->len)
				      : 0)))
		return STORE_ERR_UNAVAILABLE;
	rc = persist_set(ms, f->node.key, f->node.klen, e, expire_ms, durable,
			 str_data(f), f->len, compact);
	if (rc != STORE_OK)
		return rc;
	f->expire_ms = expire_ms;
	f->durable = durable;
	replace(ms, sh, e, link, f);
	*fresh = NULL;
	return STORE_OK;
}

static store_status mem_set(void *impl, const char *key, size_t klen,
			    const void *val, size_t len, uint64_t ttl_ms,
			    unsigned flags)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e, *fresh;
	struct mem_node **link = NULL;
	bool compact_now = false;
	int64_t now;
	store_status rc;

	/* Build the whole entry before locking, to keep the lock short. */
	fresh = str_entry_new(h, key, klen, val, len);
	if (fresh == NULL)
		return STORE_ERR_NOMEM;
	pthread_mutex_lock(&sh->lock);
	now = af_now_ms();
	sweep(ms, sh, now);
	e = lookup(ms, sh, h, key, klen, now, &link);
	if ((flags & STORE_SET_NX) != 0 && e != NULL) {
		rc = STORE_EXISTS;
		goto out;
	}
	if ((flags & STORE_SET_XX) != 0 && e == NULL) {
		rc = STORE_NOT_FOUND;
		goto out;
	}
	rc = install_str(ms, sh, e, link, expiry_of(now, ttl_ms), flags, &fresh,
			 &compact_now);
out:
	write_done(ms, sh, compact_now);
	entry_free(ms, fresh, false);
	return rc;
}

static store_status mem_get(void *impl, const char *key, size_t klen,
			    store_value *out)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e;
	store_status rc;

	pthread_mutex_lock(&sh->lock);
	e = lookup(ms, sh, h, key, klen, af_now_ms(), NULL);
	if (e == NULL)
		rc = STORE_NOT_FOUND;
	else if (e->type != MEM_STR)
		rc = STORE_ERR_ARG;
	else
		rc = store_value_dup(str_data(e), e->len, out);
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

/*
 * The live string entry of key, with its link for a removal: NULL and
 * *rc STORE_NOT_FOUND when there is none, STORE_ERR_ARG for a set.
 */
static struct mem_entry *lookup_str(struct mem_store *ms, struct mem_shard *sh,
				    uint64_t h, const char *key, size_t klen,
				    int64_t now, struct mem_node ***link,
				    store_status *rc)
{
	struct mem_entry *e = lookup(ms, sh, h, key, klen, now, link);

	*rc = e == NULL		   ? STORE_NOT_FOUND
	      : e->type != MEM_STR ? STORE_ERR_ARG
				   : STORE_OK;
	return *rc == STORE_OK ? e : NULL;
}

static store_status mem_getdel(void *impl, const char *key, size_t klen,
			       store_value *out)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e;
	struct mem_node **link = NULL;
	bool compact_now = false;
	store_status rc;

	pthread_mutex_lock(&sh->lock);
	e = lookup_str(ms, sh, h, key, klen, af_now_ms(), &link, &rc);
	if (e == NULL)
		goto out;
	/*
	 * The value lives inside the entry, so the caller gets a copy. It is
	 * made first: when memory is short the key stays, unconsumed.
	 */
	rc = store_value_dup(str_data(e), e->len, out);
	if (rc != STORE_OK)
		goto out;
	rc = persist_del(ms, key, klen, e, &compact_now);
	if (rc != STORE_OK) {
		store_value_free(out);
		goto out;
	}
	remove_entry(ms, sh, e, link);
out:
	write_done(ms, sh, compact_now);
	return rc;
}

static store_status mem_del(void *impl, const char *key, size_t klen)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e;
	struct mem_node **link = NULL;
	bool compact_now = false;
	store_status rc = STORE_OK;

	pthread_mutex_lock(&sh->lock);
	e = lookup(ms, sh, h, key, klen, af_now_ms(), &link);
	if (e != NULL) {
		rc = persist_del(ms, key, klen, e, &compact_now);
		if (rc == STORE_OK)
			remove_entry(ms, sh, e, link);
	}
	write_done(ms, sh, compact_now);
	return rc;
}

/*
 * Whether string entry e holds exactly the elen bytes at expected. Values
 * may be secrets: compared without an early exit.
 */
static bool holds(const struct mem_entry *e, const void *expected, size_t elen)
{
	return e->len == elen &&
	       (elen == 0 || CRYPTO_memcmp(str_data(e), expected, elen) == 0);
}

static store_status mem_cas(void *impl, const char *key, size_t klen,
			    const void *expected, size_t elen,
			    const void *newval, size_t nlen, uint64_t ttl_ms)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e, *fresh;
	struct mem_node **link = NULL;
	bool compact_now = false;
	int64_t now;
	store_status rc;

	fresh = str_entry_new(h, key, klen, newval, nlen);
	if (fresh == NULL)
		return STORE_ERR_NOMEM;
	pthread_mutex_lock(&sh->lock);
	now = af_now_ms();
	e = lookup_str(ms, sh, h, key, klen, now, &link, &rc);
	if (e != NULL && !holds(e, expected, elen))
		rc = STORE_CONFLICT;
	if (rc != STORE_OK)
		goto out;
	rc = install_str(ms, sh, e, link,
			 ttl_ms == 0 ? e->expire_ms : expiry_of(now, ttl_ms),
			 e->durable ? STORE_SET_DURABLE : 0, &fresh,
			 &compact_now);
out:
	write_done(ms, sh, compact_now);
	entry_free(ms, fresh, false);
	return rc;
}

static store_status mem_del_if(void *impl, const char *key, size_t klen,
			       const void *expected, size_t elen)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e;
	struct mem_node **link = NULL;
	bool compact_now = false;
	store_status rc;

	pthread_mutex_lock(&sh->lock);
	e = lookup_str(ms, sh, h, key, klen, af_now_ms(), &link, &rc);
	if (e != NULL && !holds(e, expected, elen))
		rc = STORE_CONFLICT;
	if (rc == STORE_OK)
		rc = persist_del(ms, key, klen, e, &compact_now);
	if (rc == STORE_OK)
		remove_entry(ms, sh, e, link);
	write_done(ms, sh, compact_now);
	return rc;
}

static store_status mem_incr(void *impl, const char *key, size_t klen,
			     int64_t delta, uint64_t ttl_ms, unsigned flags,
			     int64_t *out)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e, *fresh = NULL;
	struct mem_node **link = NULL;
	char text[MEM_INT_TEXT_MAX + 1];
	bool compact_now = false;
	int64_t now, cur = 0;
	store_status rc = STORE_ERR_ARG;
	int n;

	pthread_mutex_lock(&sh->lock);
	now = af_now_ms();
	sweep(ms, sh, now);
	e = lookup(ms, sh, h, key, klen, now, &link);
	if (e != NULL && (e->type != MEM_STR ||
			  store_parse_int64(str_data(e), e->len, &cur) != 0))
		goto out;
	if ((delta > 0 && cur > INT64_MAX - delta) ||
	    (delta < 0 && cur < INT64_MIN - delta))
		goto out;
	cur += delta;
	n = snprintf(text, sizeof(text), "%lld", (long long)cur);
	fresh = str_entry_new(h, key, klen, text, (size_t)n);
	if (fresh == NULL) {
		rc = STORE_ERR_NOMEM;
		goto out;
	}
	rc = install_str(ms, sh, e, link,
			 e != NULL ? e->expire_ms : expiry_of(now, ttl_ms),
			 flags, &fresh, &compact_now);
	if (rc != STORE_OK)
		goto out;
	*out = cur;
out:
	write_done(ms, sh, compact_now);
	entry_free(ms, fresh, false);
	return rc;
}

static store_status mem_ttl(void *impl, const char *key, size_t klen,
			    uint64_t *ttl_ms)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e;
	int64_t now;
	store_status rc = STORE_OK;

	pthread_mutex_lock(&sh->lock);
	now = af_now_ms();
	e = lookup(ms, sh, h, key, klen, now, NULL);
	if (e == NULL)
		rc = STORE_NOT_FOUND;
	else if (e->expire_ms != 0)
		*ttl_ms = (uint64_t)(e->expire_ms - now);
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

/*
 * Gives set e the expiry ttl_ms from now, as PEXPIRE would; none when
 * ttl_ms is 0. A listed persistent set turning volatile leaves the file;
 * a fresh one was never in it.
 */
static store_status set_expiry(struct mem_store *ms, struct mem_entry *e,
			       bool listed, const char *key, size_t klen,
			       int64_t now, uint64_t ttl_ms, bool *compact_now)
{
	store_status rc;

	if (ttl_ms == 0)
		return STORE_OK;
	if (listed && e->expire_ms == 0) {
		rc = aof_append(ms, AOF_DEL, key, klen, 0, NULL, 0,
				compact_now);
		if (rc != STORE_OK)
			return rc;
		live_add(ms, -set_live_bytes(e));
	}
	e->expire_ms = expiry_of(now, ttl_ms);
	return STORE_OK;
}

static store_status mem_sadd(void *impl, const char *key, size_t klen,
			     const char *member, size_t mlen, uint64_t ttl_ms)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	uint64_t mh = key_hash(ms, member, mlen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e, *fresh = NULL;
	struct mem_member *mm = NULL;
	bool compact_now = false;
	int64_t now;
	store_status rc = STORE_OK;

	pthread_mutex_lock(&sh->lock);
	now = af_now_ms();
	sweep(ms, sh, now);
	e = lookup(ms, sh, h, key, klen, now, NULL);
	if (e != NULL && e->type != MEM_SET) {
		rc = STORE_ERR_ARG;
		goto out;
	}
	if (e != NULL &&
	    mem_table_find(&e->members, mh, member, mlen, NULL) != NULL) {
		rc = set_expiry(ms, e, true, key, klen, now, ttl_ms,
				&compact_now);
		goto out;
	}
	if (e == NULL) {
		fresh = set_entry_new(h, key, klen);
		e = fresh;
	}
	mm = member_new(mh, member, mlen);
	if (e == NULL || mm == NULL) {
		rc = STORE_ERR_NOMEM;
		goto out;
	}
	/*
	 * A set with an expiry is short-lived; one without is durable. A
	 * refused member leaves the set as it was, its expiry too.
	 */
	if ((ttl_ms > 0 || e->expire_ms != 0) &&
	    over_cap(ms, sh, false,
		     (int64_t)member_size(mlen) +
			     (fresh != NULL ? (int64_t)set_head_size(klen)
					    : 0))) {
		rc = STORE_ERR_UNAVAILABLE;
		goto out;
	}
	rc = set_expiry(ms, e, fresh == NULL, key, klen, now, ttl_ms,
			&compact_now);
	if (rc != STORE_OK)
		goto out;
	if (e->expire_ms == 0)
		rc = aof_append(ms, AOF_SADD, key, klen, 0, member, mlen,
				&compact_now);
	if (rc != STORE_OK)
		goto out;
	mem_table_insert(&e->members, &mm->node);
	mem_table_resize(&e->members);
	if (persisted(e))
		live_add(ms, (int64_t)rec_size(klen, mlen));
	used_add(ms, (int64_t)member_size(mlen));
	mm = NULL;
	if (fresh != NULL) {
		mem_table_insert(&sh->table, &fresh->node);
		used_add(ms, (int64_t)set_head_size(klen));
	}
	fresh = NULL;
out:
	write_done(ms, sh, compact_now);
	OPENSSL_free(mm);
	entry_free(ms, fresh, false);
	return rc;
}

static store_status mem_srem(void *impl, const char *key, size_t klen,
			     const char *member, size_t mlen)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	uint64_t mh = key_hash(ms, member, mlen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e;
	struct mem_node **link = NULL, **mlink = NULL, *m = NULL;
	bool compact_now = false;
	store_status rc = STORE_OK;

	pthread_mutex_lock(&sh->lock);
	e = lookup(ms, sh, h, key, klen, af_now_ms(), &link);
	if (e != NULL && e->type != MEM_SET)
		rc = STORE_ERR_ARG;
	else if (e != NULL)
		m = mem_table_find(&e->members, mh, member, mlen, &mlink);
	if (m != NULL && e->expire_ms == 0)
		rc = aof_append(ms, AOF_SREM, key, klen, 0, member, mlen,
				&compact_now);
	if (m != NULL && rc == STORE_OK) {
		mem_table_unlink(&e->members, mlink);
		if (persisted(e))
			live_add(ms, -(int64_t)rec_size(klen, mlen));
		used_add(ms, -(int64_t)member_size(mlen));
		OPENSSL_free(m);
		/* An empty set does not exist. */
		if (e->members.count == 0)
			remove_entry(ms, sh, e, link);
		else
			mem_table_resize(&e->members);
	}
	write_done(ms, sh, compact_now);
	return rc;
}

/*
 * Copies the members out under the lock as NUL-separated strings, then
 * calls fn with no lock held, so fn may use the store.
 */
static store_status mem_smembers(void *impl, const char *key, size_t klen,
				 store_member_fn fn, void *arg)
{
	struct mem_store *ms = impl;
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_entry *e;
	char *snap = NULL, *p;
	size_t total = 0, i, count = 0;
	store_status rc = STORE_OK;

	pthread_mutex_lock(&sh->lock);
	e = lookup(ms, sh, h, key, klen, af_now_ms(), NULL);
	if (e == NULL || e->type != MEM_SET) {
		rc = e == NULL ? STORE_OK : STORE_ERR_ARG;
		pthread_mutex_unlock(&sh->lock);
		return rc;
	}
	for (i = 0; i < e->members.nbuckets; i++) {
		const struct mem_node *m = e->members.buckets[i];

		for (; m != NULL; m = m->next)
			total += m->klen + 1;
	}
	snap = OPENSSL_malloc(total);
	if (snap == NULL) {
		pthread_mutex_unlock(&sh->lock);
		return STORE_ERR_NOMEM;
	}
	p = snap;
	for (i = 0; i < e->members.nbuckets; i++) {
		const struct mem_node *m = e->members.buckets[i];

		for (; m != NULL; m = m->next) {
			memcpy(p, m->key, m->klen + 1);
			p += m->klen + 1;
			count++;
		}
	}
	pthread_mutex_unlock(&sh->lock);
	for (p = snap; count > 0; count--) {
		if (fn(p, arg) != 0)
			break;
		p += strlen(p) + 1;
	}
	OPENSSL_clear_free(snap, total);
	return rc;
}

/* --- queues: the vtable's entries, on the store's queues ------------- */

static store_status mem_queue_push(void *impl, const char *key, size_t klen,
				   const char *entry, size_t len, char *id,
				   size_t idcap)
{
	struct mem_store *ms = impl;

	return mem_queues_push(ms->queues, key, klen, entry, len, id, idcap);
}

static store_status mem_queue_len(void *impl, const char *key, size_t klen,
				  size_t *out)
{
	struct mem_store *ms = impl;

	return mem_queues_len(ms->queues, key, klen, out);
}

static store_status mem_queue_range(void *impl, const char *key, size_t klen,
				    size_t max, store_member_fn fn, void *arg)
{
	struct mem_store *ms = impl;

	return mem_queues_range(ms->queues, key, klen, max, fn, arg);
}

static store_status mem_queue_trim(void *impl, const char *key, size_t klen,
				   uint64_t older_than_ms, size_t *removed)
{
	struct mem_store *ms = impl;

	*removed = mem_queues_trim(ms->queues, key, klen, older_than_ms);
	return STORE_OK;
}

static store_status mem_group_create(void *impl, const char *key, size_t klen,
				     const char *group)
{
	struct mem_store *ms = impl;

	return mem_queues_group_create(ms->queues, key, klen, group);
}

static store_status mem_group_read(void *impl, const char *key, size_t klen,
				   const char *group, const char *consumer,
				   size_t max, unsigned block_ms,
				   store_entry_fn fn, void *arg, size_t *count)
{
	struct mem_store *ms = impl;

	return mem_queues_group_read(ms->queues, key, klen, group, consumer,
				     max, block_ms, fn, arg, count);
}

static store_status mem_group_claim(void *impl, const char *key, size_t klen,
				    const char *group, const char *consumer,
				    uint64_t min_idle_ms, size_t max,
				    store_entry_fn fn, void *arg, size_t *count)
{
	struct mem_store *ms = impl;

	return mem_queues_group_claim(ms->queues, key, klen, group, consumer,
				      min_idle_ms, max, fn, arg, count);
}

static store_status mem_group_ack(void *impl, const char *key, size_t klen,
				  const char *group, const char *id)
{
	struct mem_store *ms = impl;

	return mem_queues_group_ack(ms->queues, key, klen, group, id);
}

static store_status mem_group_pending(void *impl, const char *key, size_t klen,
				      const char *group, size_t *out)
{
	struct mem_store *ms = impl;

	return mem_queues_group_pending(ms->queues, key, klen, group, out);
}

static store_status mem_group_prune(void *impl, const char *key, size_t klen,
				    const char *group, uint64_t min_idle_ms,
				    size_t *removed)
{
	struct mem_store *ms = impl;

	return mem_queues_group_prune(ms->queues, key, klen, group, min_idle_ms,
				      removed);
}

/*
 * After a record could not be appended (a full disk, a file size limit),
 * whether the file can take one of that size again: the room is taken
 * with posix_fallocate() and given back, so the file is as it was.
 * Returns 0 when it can, else the errno that says why not; where the file
 * system cannot allocate ahead, the failure stays until an append
 * succeeds. Called with aof_lock held, the file not broken.
 */
static int room_back(struct mem_store *ms)
{
	char why[128];
	int err, cut;

	err = posix_fallocate(ms->aof_fd, (off_t)ms->aof_size,
			      (off_t)ms->append_want);
	if (err == EOPNOTSUPP || err == EBADF || err == EINVAL)
		return ms->append_err;
	/*
	 * Given back whatever the answer: a failed posix_fallocate() may
	 * still have grown the file part of the way (ext4 does, a block
	 * group at a time), and the next append would land past the zeros.
	 */
	cut = cut_back(ms);
	if (cut != 0) {
		af_errno_text(cut, why, sizeof(why));
		report_queue(ms, STORE_REPORT_ERROR,
			     "state file %s: cannot give back the room "
			     "taken to test for space: %s; the store refuses "
			     "every change until it is restarted",
			     ms->aof_path, why);
	}
	return err != 0 ? err : cut;
}

/*
 * Whether a sign-in begun now (MEM_SIGNIN_BYTES that yield) would be
 * refused for the cap, once expired keys are reaped. No lock held.
 */
static bool signin_refused(struct mem_store *ms)
{
	int64_t cap = ms->max_bytes / 100 * STORE_YIELD_PCT;

	if (ms->max_bytes == 0 ||
	    atomic_load(&ms->used_bytes) + MEM_SIGNIN_BYTES <= cap)
		return false;
	(void)reap_others(ms, NULL);
	return atomic_load(&ms->used_bytes) + MEM_SIGNIN_BYTES > cap;
}

/*
 * Up unless the file broke, or the last change could not be written to
 * it and a change of that size still could not be: a full disk refuses
 * every change that must reach the file (users, apps, lockouts), so the
 * server is not well, though it answers. Nor while a sign-in begun would
 * be refused for the cap (signin_refused()): no sign-in can start.
 *
 * Also the file's scrub, as the server pings once a second: a removed
 * user's password hash, or an old copy of a device's secret, would
 * otherwise stay in the file until it doubles, which in a small store may
 * be never. Once such records have waited scrub_after_ms, the file is
 * rewritten without them.
 */
static store_status mem_ping(void *impl, char *why, size_t whylen)
{
	struct mem_store *ms = impl;
	char what[128];
	int err = 0;
	bool scrub;

	pthread_mutex_lock(&ms->aof_lock);
	scrub = ms->persist && scrub_due(ms, af_mono_ns() / 1000000u);
	pthread_mutex_unlock(&ms->aof_lock);
	if (scrub)
		compact(ms, true);
	pthread_mutex_lock(&ms->aof_lock);
	if (!ms->aof_broken && ms->append_err != 0) {
		err = room_back(ms);
		ms->append_err = err;
	}
	if (ms->aof_broken)
		store_errf(why, whylen,
			   "the append-only file could not be written");
	else if (err != 0) {
		af_errno_text(err, what, sizeof(what));
		store_errf(why, whylen,
			   "the append-only file cannot take changes: %s",
			   what);
	}
	if (ms->aof_broken || err != 0) {
		pthread_mutex_unlock(&ms->aof_lock);
		report_flush(ms);
		return STORE_ERR_UNAVAILABLE;
	}
	pthread_mutex_unlock(&ms->aof_lock);
	report_flush(ms);
	/*
	 * Full: a sign-in begun now would be refused (expired keys reaped
	 * first). Room for one is room for any other short-lived write.
	 */
	if (signin_refused(ms)) {
		store_errf(why, whylen,
			   "the store is full (store.max_mb): new short-lived "
			   "data is refused");
		return STORE_ERR_UNAVAILABLE;
	}
	return STORE_OK;
}

/* --- replay ------------------------------------------------------------- */

static store_status replay_set(struct mem_store *ms, struct mem_shard *sh,
			       uint64_t h, const char *key, size_t klen,
			       struct mem_entry *e, struct mem_node **link,
			       int64_t expire, const uint8_t *data, size_t dlen)
{
	struct mem_entry *fresh = str_entry_new(h, key, klen, data, dlen);

	if (fresh == NULL)
		return STORE_ERR_NOMEM;
	fresh->expire_ms = expire;
	/* Only durable writes put a record with an expiry in the file. */
	fresh->durable = expire != 0;
	replace(ms, sh, e, link, fresh);
	return STORE_OK;
}

static store_status replay_member(struct mem_store *ms, struct mem_shard *sh,
				  uint64_t h, const char *key, size_t klen,
				  struct mem_entry *e, struct mem_node **link,
				  enum aof_op op, const uint8_t *data,
				  size_t dlen)
{
	const char *member = (const char *)data;
	uint64_t mh = key_hash(ms, member, dlen);
	struct mem_node **mlink = NULL, *m;
	struct mem_member *mm;

	/*
	 * A member record for a key that holds a string can only follow a
	 * clock step back between runs; the later record wins.
	 */
	if (e != NULL && e->type != MEM_SET) {
		remove_entry(ms, sh, e, link);
		e = NULL;
	}
	m = e != NULL ? mem_table_find(&e->members, mh, member, dlen, &mlink)
		      : NULL;
	if (op == AOF_SREM) {
		if (m == NULL)
			return STORE_OK;
		mem_table_unlink(&e->members, mlink);
		live_add(ms, -(int64_t)rec_size(klen, dlen));
		used_add(ms, -(int64_t)member_size(dlen));
		OPENSSL_free(m);
		if (e->members.count == 0)
			remove_entry(ms, sh, e, link);
		return STORE_OK;
	}
	if (m != NULL)
		return STORE_OK;
	if (e == NULL) {
		e = set_entry_new(h, key, klen);
		if (e == NULL)
			return STORE_ERR_NOMEM;
		mem_table_insert(&sh->table, &e->node);
		used_add(ms, (int64_t)set_head_size(klen));
	}
	mm = member_new(mh, member, dlen);
	if (mm == NULL)
		return STORE_ERR_NOMEM;
	mem_table_insert(&e->members, &mm->node);
	mem_table_resize(&e->members);
	live_add(ms, (int64_t)rec_size(klen, dlen));
	used_add(ms, (int64_t)member_size(dlen));
	return STORE_OK;
}

/* Applies one replayed record; the log holds resulting state. */
static store_status replay_apply(struct mem_store *ms, enum aof_op op,
				 const char *key, size_t klen, int64_t expire,
				 const uint8_t *data, size_t dlen, int64_t now)
{
	uint64_t h = key_hash(ms, key, klen);
	struct mem_shard *sh = shard_of(ms, h);
	struct mem_node **link = NULL;
	struct mem_entry *e = lookup(ms, sh, h, key, klen, now, &link);
	store_status rc = STORE_OK;

	if (op == AOF_DEL || (op == AOF_SET && expire != 0 && expire <= now)) {
		/* A SET that has expired since still ends the older value. */
		if (e != NULL)
			remove_entry(ms, sh, e, link);
	} else if (op == AOF_SET) {
		rc = replay_set(ms, sh, h, key, klen, e, link, expire, data,
				dlen);
	} else {
		rc = replay_member(ms, sh, h, key, klen, e, link, op, data,
				   dlen);
	}
	mem_table_resize(&sh->table);
	return rc;
}

/* Decodes and applies one checksummed body; STORE_ERR_CORRUPT if bad. */
static store_status replay_body(struct mem_store *ms, const uint8_t *b,
				size_t blen, int64_t now)
{
	enum aof_op op = (enum aof_op)b[0];
	int64_t expire = (int64_t)get_le64(b + 1);
	size_t klen = get_le32(b + 9), dlen;
	const char *key = (const char *)(b + 13);
	const uint8_t *data;

	if (klen == 0 || klen > STORE_FULLKEY_MAX ||
	    klen > blen - AOF_BODY_FIXED || memchr(key, 0, klen) != NULL)
		return STORE_ERR_CORRUPT;
	dlen = get_le32(b + 13 + klen);
	data = b + 17 + klen;
	if (dlen != blen - AOF_BODY_FIXED - klen || expire < 0)
		return STORE_ERR_CORRUPT;
	switch (op) {
	case AOF_SET:
		if (dlen > STORE_VALUE_MAX)
			return STORE_ERR_CORRUPT;
		break;
	case AOF_DEL:
		if (dlen != 0)
			return STORE_ERR_CORRUPT;
		break;
	case AOF_SADD:
	case AOF_SREM:
		if (dlen > STORE_MEMBER_MAX || memchr(data, 0, dlen) != NULL)
			return STORE_ERR_CORRUPT;
		break;
	default:
		return STORE_ERR_CORRUPT;
	}
	return replay_apply(ms, op, key, klen, expire, data, dlen, now);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

/*
 * The length of p[0..n) up to and including its last byte that is not
 * zero (0 when all are).
 */
static size_t last_nonzero_in(const uint8_t *p, size_t n)
{
	while (n > 0 && p[n - 1] == 0)
		n--;
	return n;
}

/* What replay_map() found. */
struct replay_out {
	size_t valid;	  /* length of the good part */
	size_t records;	  /* records replayed */
	size_t bad_at;	  /* STORE_ERR_CORRUPT: where the bad record starts */
	const char *torn; /* what the tail past valid is; NULL: none */
	char format;	  /* STORE_ERR_CORRUPT at 0: another format's digit */
};

/*
 * Replays the records in map[0..size) into *ro. A crash while appending
 * leaves a short or half-written last record, possibly zero-filled, or a
 * whole last record whose checksum fails because its pages did not all
 * reach the disk; that tail is to be cut off. Damage with good data after
 * it is refused: cutting there would lose changes that were reported as
 * done.
 */
static store_status replay_map(struct mem_store *ms, const uint8_t *map,
			       size_t size, struct replay_out *ro)
{
	int64_t now = af_now_ms();
	uint8_t sum[AOF_SUM_LEN];
	size_t off = AOF_MAGIC_LEN;
	store_status rc;

	memset(ro, 0, sizeof(*ro));
	if (size < AOF_MAGIC_LEN) {
		if (memcmp(map, AOF_MAGIC, size) != 0)
			return STORE_ERR_CORRUPT;
		ro->torn = "a file header cut short";
		return STORE_OK;
	}
	if (memcmp(map, AOF_MAGIC, AOF_MAGIC_LEN) != 0) {
		/* "AFSTORE" and another digit: another version's format. */
		if (memcmp(map, AOF_MAGIC, AOF_MAGIC_LEN - 1) == 0 &&
		    map[AOF_MAGIC_LEN - 1] >= '0' &&
		    map[AOF_MAGIC_LEN - 1] <= '9')
			ro->format = (char)map[AOF_MAGIC_LEN - 1];
		return STORE_ERR_CORRUPT;
	}
	while (off < size) {
		const uint8_t *p = map + off;
		size_t rem = size - off;
		uint32_t blen;

		if (rem < AOF_PRE_LEN) {
			ro->torn = "a record header cut short";
			break;
		}
		blen = get_le32(p);
		if (get_le32(p + 4) != ~blen || blen < AOF_BODY_FIXED ||
		    blen > AOF_BODY_MAX) {
			/*
			 * Zeros from within the length pair on: the write of
			 * the last record stopped in its first bytes (a page
			 * or sector boundary there), the rest zero-filled.
			 * That is one write, no longer than one record: a
			 * longer tail is no torn write. Nor is a zeroed header
			 * with bytes after it, which could be records written
			 * past damage: refused, not cut, so that nothing
			 * acknowledged is dropped.
			 */
			size_t kept = last_nonzero_in(p, AOF_HDR_LEN);

			ro->torn = "a zero-filled tail";
			if (rem <= AOF_PRE_LEN + AOF_BODY_MAX &&
			    all_zero(p + kept, rem - kept))
				break;
			ro->bad_at = off;
			return STORE_ERR_CORRUPT;
		}
		if (rem - AOF_PRE_LEN < blen) {
			ro->torn = "a last record cut short";
			break;
		}
		af_sha256(p + AOF_PRE_LEN, blen, sum);
		if (memcmp(sum, p + AOF_HDR_LEN, AOF_SUM_LEN) != 0) {
			ro->torn = "a last record whose checksum fails";
			if (rem == AOF_PRE_LEN + blen)
				break;
			ro->bad_at = off;
			return STORE_ERR_CORRUPT;
		}
		rc = replay_body(ms, p + AOF_PRE_LEN, blen, now);
		if (rc != STORE_OK) {
			ro->bad_at = off;
			return rc;
		}
		off += AOF_PRE_LEN + blen;
		ro->records++;
	}
	ro->valid = off;
	return STORE_OK;
}

/* Refuses a state file that others could read or that is not ours. */
static store_status check_file(int fd, const char *path, char *err,
			       size_t errlen)
{
	struct stat sb;
	char why[128];

	if (fstat(fd, &sb) != 0) {
		af_errno_text(errno, why, sizeof(why));
		store_errf(err, errlen, "cannot stat %s: %s", path, why);
		return STORE_ERR_IO;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0) {
		store_errf(err, errlen,
			   "%s must be a regular file owned by uid %u with "
			   "mode 0600 (has mode %04o, uid %u)",
			   path, (unsigned)geteuid(),
			   (unsigned)(sb.st_mode & 07777), (unsigned)sb.st_uid);
		return STORE_ERR_CONFIG;
	}
	if ((uint64_t)sb.st_size > SIZE_MAX / 2) {
		store_errf(err, errlen, "%s is too large", path);
		return STORE_ERR_IO;
	}
	return STORE_OK;
}

/*
 * Keeps the n bytes about to be cut from offset off of the file in a new
 * side file in the state folder, named into name (cap bytes), written and
 * fsynced with its folder entry before anything is cut: what the cut
 * takes may be the last change someone made, and bit rot in a last
 * record looks the same as a torn write. When that fails, the open fails
 * and the file stays as it is.
 */
static store_status keep_tail(struct mem_store *ms, const uint8_t *p, size_t n,
			      size_t off, char *name, size_t cap, char *err,
			      size_t errlen)
{
	long long t = (long long)time(NULL);
	char why[128];
	unsigned i;
	int fd = -1, e;

	/* Two cuts in one second (a crash loop) each get their own file. */
	for (i = 0; i < 100 && fd < 0; i++) {
		if (i == 0)
			(void)snprintf(name, cap, AOF_CUT_NAME "%lld", t);
		else
			(void)snprintf(name, cap, AOF_CUT_NAME "%lld.%u", t, i);
		fd = openat(ms->dir_fd, name,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
				    O_NOFOLLOW,
			    0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		e = errno;
		goto fail;
	}
	if (af_write_all(fd, p, n) != 0 || fsync(fd) != 0) {
		e = errno;
		close(fd);
		(void)unlinkat(ms->dir_fd, name, 0);
		goto fail;
	}
	close(fd);
	if (fsync(ms->dir_fd) != 0) {
		e = errno;
		goto fail;
	}
	return STORE_OK;
fail:
	af_errno_text(e, why, sizeof(why));
	store_errf(err, errlen,
		   "cannot keep the torn tail of %s (%zu bytes at offset "
		   "%zu) in %s/%s: %s; refusing to start rather than discard "
		   "it",
		   ms->aof_path, n, off, ms->dir_path, name, why);
	return STORE_ERR_IO;
}

/* The one-line reason for a file replay_map() refused, into err. */
static void replay_refusal(const struct mem_store *ms, store_status rc,
			   const struct replay_out *ro, char *err,
			   size_t errlen)
{
	if (rc != STORE_ERR_CORRUPT) {
		store_errf(err, errlen, "cannot replay %s: %s", ms->aof_path,
			   store_strerror(rc));
		return;
	}
	if (ro->format != '\0') {
		store_errf(err, errlen,
			   "state file %s is in format %c, which another "
			   "version of authflow writes; this one reads format "
			   "%c: run that version (the file holds the state: "
			   "keep it)",
			   ms->aof_path, ro->format,
			   AOF_MAGIC[AOF_MAGIC_LEN - 1]);
		return;
	}
	store_errf(err, errlen,
		   "state file %s is corrupt at byte offset %zu (%s): restore "
		   "the file from a backup, or move it away to start empty",
		   ms->aof_path, ro->bad_at,
		   ro->bad_at == 0 ? "not a state file"
				   : "a damaged record, not the torn end of a "
				     "last write");
}

/* Why the state file at path could not be opened (errno e). */
static store_status open_refusal(const char *path, int e, char *err,
				 size_t errlen)
{
	char why[128];

	if (e == ELOOP) {
		store_errf(err, errlen,
			   "%s is a symbolic link; the state file must be a "
			   "regular file in the state folder (point state_dir "
			   "at the folder that holds it)",
			   path);
		return STORE_ERR_CONFIG;
	}
	af_errno_text(e, why, sizeof(why));
	store_errf(err, errlen, "cannot open %s: %s", path, why);
	return STORE_ERR_IO;
}

/*
 * A state file that was there but holds less than its header has no
 * state in it: a truncation, or a restore gone wrong (a first start
 * writes its header whole: aof_create()). Starting would make a new
 * identity provider (new signing keys, no users) in its place, so it is
 * refused; STORE_OK for a file that holds its header.
 */
static store_status headless_refused(const char *path, off_t size, char *err,
				     size_t errlen)
{
	if (size >= (off_t)AOF_MAGIC_LEN)
		return STORE_OK;
	store_errf(err, errlen,
		   "state file %s holds no state (%lld bytes, not even its "
		   "header); refusing to start as a new, empty server in its "
		   "place: put the state back, or remove the file to start "
		   "empty",
		   path, (long long)size);
	return STORE_ERR_CORRUPT;
}

/*
 * Replays the file on ms->aof_fd into *ro and cuts off a torn tail, kept
 * in a side file first. Called with no lock held.
 */
static store_status replay_file(struct mem_store *ms, struct replay_out *ro,
				char *err, size_t errlen)
{
	char cut[AOF_CUT_NAME_MAX] = "", why[128];
	struct stat sb;
	size_t size, valid;
	void *map;
	store_status rc;

	memset(ro, 0, sizeof(*ro));
	if (fstat(ms->aof_fd, &sb) != 0) {
		af_errno_text(errno, why, sizeof(why));
		store_errf(err, errlen, "cannot stat %s: %s", ms->aof_path,
			   why);
		return STORE_ERR_IO;
	}
	size = (size_t)sb.st_size;
	if (size > 0) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, ms->aof_fd, 0);
		if (map == MAP_FAILED) {
			af_errno_text(errno, why, sizeof(why));
			store_errf(err, errlen, "cannot map %s: %s",
				   ms->aof_path, why);
			return STORE_ERR_IO;
		}
		rc = replay_map(ms, map, size, ro);
		if (rc == STORE_OK && ro->valid < size)
			rc = keep_tail(ms, (const uint8_t *)map + ro->valid,
				       size - ro->valid, ro->valid, cut,
				       sizeof(cut), err, errlen);
		else if (rc != STORE_OK)
			replay_refusal(ms, rc, ro, err, errlen);
		munmap(map, size);
		if (rc != STORE_OK)
			return rc;
	}
	valid = ro->valid;
	if (valid < AOF_MAGIC_LEN) {
		/* New, or torn before its magic was complete: start over. */
		if (ftruncate(ms->aof_fd, 0) != 0 ||
		    af_write_all(ms->aof_fd, (const uint8_t *)AOF_MAGIC,
				 AOF_MAGIC_LEN) != 0)
			goto io;
		valid = AOF_MAGIC_LEN;
	} else if (valid < size && ftruncate(ms->aof_fd, (off_t)valid) != 0) {
		goto io;
	}
	if (valid != size && fsync(ms->aof_fd) != 0)
		goto io;
	ms->aof_size = valid;
	if (cut[0] != '\0')
		say(ms, STORE_REPORT_WARNING,
		    "state file %s: cut %zu bytes at offset %zu (%s, as a "
		    "crash while writing leaves); they are kept in %s/%s",
		    ms->aof_path, size - ro->valid, ro->valid, ro->torn,
		    ms->dir_path, cut);
	return STORE_OK;
io:
	af_errno_text(errno, why, sizeof(why));
	store_errf(err, errlen, "cannot repair %s: %s", ms->aof_path, why);
	return STORE_ERR_IO;
}

/*
 * Refuses a state folder that others could change: it must belong to
 * this user (or to root) and be writable by its owner alone, since
 * whoever may write in it may replace or remove the state file.
 */
static store_status check_dir(const struct stat *sb, const char *dir, char *err,
			      size_t errlen)
{
	if ((sb->st_uid != geteuid() && sb->st_uid != 0) ||
	    (sb->st_mode & 022) != 0) {
		store_errf(err, errlen,
			   "state folder %s must be owned by uid %u and "
			   "writable by its owner alone (has mode %04o, uid "
			   "%u)",
			   dir, (unsigned)geteuid(),
			   (unsigned)(sb->st_mode & 07777),
			   (unsigned)sb->st_uid);
		return STORE_ERR_CONFIG;
	}
	return STORE_OK;
}

/*
 * The state folder's absolute path into dir_out (the name as given when
 * it cannot be resolved) and the state file's into aof_out, for messages
 * an operator can act on whatever the server's working folder was.
 */
static void paths_of(const char *dir, char *dir_out, size_t dircap,
		     char *aof_out, size_t aofcap)
{
	char abs[PATH_MAX];
	size_t n;

	if (realpath(dir, abs) == NULL)
		(void)snprintf(abs, sizeof(abs), "%s", dir);
	(void)snprintf(dir_out, dircap, "%s", abs);
	n = strlen(abs);
	(void)snprintf(aof_out, aofcap, "%s%s%s", abs,
		       n > 0 && abs[n - 1] == '/' ? "" : "/", AOF_NAME);
}

/*
 * Makes the state file of a first start whole: its header is written
 * under another name and renamed into place, so that a store.aof with
 * less than its header can only come from outside (headless_refused()).
 * The folder's sync is aof_open()'s.
 */
static store_status aof_create(struct mem_store *ms, char *err, size_t errlen)
{
	char why[128];
	int fd, ok;

	fd = openat(ms->dir_fd, AOF_NEW_NAME,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return open_refusal(ms->aof_path, errno, err, errlen);
	ok = af_write_all(fd, (const uint8_t *)AOF_MAGIC, AOF_MAGIC_LEN) == 0 &&
	     fsync(fd) == 0;
	if (!ok)
		af_errno_text(errno, why, sizeof(why));
	(void)close(fd);
	if (ok &&
	    renameat(ms->dir_fd, AOF_NEW_NAME, ms->dir_fd, AOF_NAME) != 0) {
		ok = 0;
		af_errno_text(errno, why, sizeof(why));
	}
	if (!ok) {
		(void)unlinkat(ms->dir_fd, AOF_NEW_NAME, 0);
		store_errf(err, errlen, "cannot make %s: %s", ms->aof_path,
			   why);
		return STORE_ERR_IO;
	}
	return STORE_OK;
}

static store_status aof_open(struct mem_store *ms, const char *dir, char *err,
			     size_t errlen)
{
	struct replay_out ro;
	store_status rc;
	struct stat sb;
	char why[128];
	bool existed;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		af_errno_text(errno, why, sizeof(why));
		store_errf(err, errlen, "cannot make state folder %s: %s", dir,
			   why);
		return STORE_ERR_IO;
	}
	ms->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ms->dir_fd < 0 || fstat(ms->dir_fd, &sb) != 0) {
		af_errno_text(errno, why, sizeof(why));
		store_errf(err, errlen, "cannot open state folder %s: %s", dir,
			   why);
		return STORE_ERR_IO;
	}
	rc = check_dir(&sb, dir, err, errlen);
	if (rc != STORE_OK)
		return rc;
	/*
	 * Two stores appending to one file would interleave records. The
	 * lock is on the folder, which compaction never replaces (the file
	 * it does), and is taken before the file is even read.
	 */
	if (flock(ms->dir_fd, LOCK_EX | LOCK_NB) != 0) {
		store_errf(err, errlen,
			   "state folder %s is in use by another store", dir);
		return STORE_ERR_CONFIG;
	}
	paths_of(dir, ms->dir_path, sizeof(ms->dir_path), ms->aof_path,
		 sizeof(ms->aof_path));
	/*
	 * A rewrite cut short by a crash leaves its whole snapshot (keys,
	 * password hashes) under the temporary name; the lock says no
	 * rewrite runs now, so it goes.
	 */
	if (unlinkat(ms->dir_fd, AOF_TMP_NAME, 0) == 0)
		say(ms, STORE_REPORT_WARNING,
		    "state folder %s: removed %s, left by a rewrite that did "
		    "not finish",
		    ms->dir_path, AOF_TMP_NAME);
	existed = fstatat(ms->dir_fd, AOF_NAME, &sb, AT_SYMLINK_NOFOLLOW) == 0;
	if (!existed && errno != ENOENT)
		return open_refusal(ms->aof_path, errno, err, errlen);
	if (!existed) {
		rc = aof_create(ms, err, errlen);
		if (rc != STORE_OK)
			return rc;
	}
	ms->aof_fd = openat(
		ms->dir_fd, AOF_NAME,
		O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ms->aof_fd < 0)
		return open_refusal(ms->aof_path, errno, err, errlen);
	rc = check_file(ms->aof_fd, ms->aof_path, err, errlen);
	if (rc == STORE_OK && existed)
		rc = headless_refused(ms->aof_path, sb.st_size, err, errlen);
	if (rc != STORE_OK)
		return rc;
	rc = replay_file(ms, &ro, err, errlen);
	if (rc != STORE_OK)
		return rc;
	/* Make the file's name durable in case it was just created. */
	if (fsync(ms->dir_fd) != 0) {
		af_errno_text(errno, why, sizeof(why));
		store_errf(err, errlen, "cannot sync state folder %s: %s",
			   ms->dir_path, why);
		return STORE_ERR_IO;
	}
	/*
	 * A new file is an empty start, in which the server makes new
	 * signing keys: worth telling apart from a replayed one.
	 */
	if (!existed)
		say(ms, STORE_REPORT_INFO, "state file %s: new", ms->aof_path);
	else
		say(ms, STORE_REPORT_INFO,
		    "state file %s: %zu records replayed (%zu bytes)",
		    ms->aof_path, ro.records, ro.valid);
	return STORE_OK;
}

/*
 * The folder that holds path ("." or "/" when it has no other), into out.
 * -1 when it does not fit.
 */
static int parent_of(const char *path, char *out, size_t cap)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n == 0)
		return snprintf(out, cap, ".") < (int)cap ? 0 : -1;
	if (n >= cap)
		return -1;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

store_status store_memory_check(const store_options *opts, char *err,
				size_t errlen)
{
	const char *dir = opts->state_dir;
	char parent[PATH_MAX], why[128], abs[PATH_MAX];
	char path[PATH_MAX + sizeof(AOF_NAME) + 1];
	struct stat sb;
	store_status rc;
	int fd, aof, saved;

	if (dir == NULL)
		return STORE_OK;
	if (dir[0] == '\0') {
		store_errf(err, errlen, "empty state folder name");
		return STORE_ERR_CONFIG;
	}
	if (stat(dir, &sb) != 0) {
		if (errno != ENOENT) {
			af_errno_text(errno, why, sizeof(why));
			store_errf(err, errlen,
				   "cannot read state folder %s: %s", dir, why);
			return STORE_ERR_IO;
		}
		/* Missing: store_open() makes it, if its parent lets it. */
		if (parent_of(dir, parent, sizeof(parent)) != 0) {
			store_errf(err, errlen, "state folder name too long");
			return STORE_ERR_CONFIG;
		}
		/*
		 * Made and removed again: only trying tells (access() says
		 * yes to root, and nothing of a file system that takes no
		 * folders, such as /proc).
		 */
		if (access(parent, W_OK | X_OK) != 0 || mkdir(dir, 0700) != 0) {
			af_errno_text(errno, why, sizeof(why));
			store_errf(err, errlen,
				   "cannot make state folder %s: %s", dir, why);
			return STORE_ERR_IO;
		}
		(void)rmdir(dir);
		return STORE_OK;
	}
	if (!S_ISDIR(sb.st_mode)) {
		store_errf(err, errlen, "state folder %s is not a folder", dir);
		return STORE_ERR_CONFIG;
	}
	rc = check_dir(&sb, dir, err, errlen);
	if (rc != STORE_OK)
		return rc;
	if (access(dir, R_OK | W_OK | X_OK) != 0) {
		af_errno_text(errno, why, sizeof(why));
		store_errf(err, errlen, "cannot write in state folder %s: %s",
			   dir, why);
		return STORE_ERR_IO;
	}
	/* A file there already: the checks store_open() makes of it. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	aof = fd >= 0 ? openat(fd, AOF_NAME,
			       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
		      : -1;
	saved = errno;
	rc = STORE_OK;
	paths_of(dir, abs, sizeof(abs), path, sizeof(path));
	if (aof >= 0) {
		rc = check_file(aof, path, err, errlen);
	} else if (fd < 0 || saved != ENOENT) {
		rc = open_refusal(path, saved, err, errlen);
	}
	if (aof >= 0)
		close(aof);
	if (fd >= 0)
		close(fd);
	return rc;
}

store_status store_memory_open_copy(const store_options *opts,
				    const store_ops **ops, void **impl,
				    char *err, size_t errlen)
{
	char abs[PATH_MAX], why[128];
	char path[PATH_MAX + sizeof(AOF_NAME) + 1];
	store_options bare;
	struct replay_out ro;
	void *map;
	struct mem_store *ms;
	struct stat sb;
	store_status rc;
	int fd;

	*ops = NULL;
	*impl = NULL;
	if (opts->state_dir == NULL || opts->state_dir[0] == '\0')
		return STORE_OK;
	paths_of(opts->state_dir, abs, sizeof(abs), path, sizeof(path));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return STORE_OK; /* none yet: a start makes it */
	if (fd < 0 && errno == ELOOP)
		return open_refusal(path, errno, err, errlen);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		af_errno_text(errno, why, sizeof(why));
		store_errf(err, errlen, "cannot read %s: %s", path, why);
		if (fd >= 0)
			close(fd);
		return STORE_ERR_IO;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return STORE_OK; /* check_file() has spoken of the kind */
	}
	if (sb.st_size < (off_t)AOF_MAGIC_LEN) {
		close(fd);
		return headless_refused(path, sb.st_size, err, errlen);
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		af_errno_text(errno, why, sizeof(why));
		store_errf(err, errlen, "cannot map %s: %s", path, why);
		return STORE_ERR_IO;
	}
	/* A store of its own, without a file, takes the replay. */
	memset(&bare, 0, sizeof(bare));
	bare.backend = STORE_BACKEND_MEMORY;
	rc = store_memory_open(&bare, ops, impl, err, errlen);
	if (rc == STORE_OK) {
		ms = *impl;
		(void)snprintf(ms->aof_path, sizeof(ms->aof_path), "%s", path);
		rc = replay_map(ms, map, (size_t)sb.st_size, &ro);
		if (rc != STORE_OK) {
			replay_refusal(ms, rc, &ro, err, errlen);
			(*ops)->close(*impl);
			*ops = NULL;
			*impl = NULL;
		}
	}
	munmap(map, (size_t)sb.st_size);
	return rc;
}

static void mem_close(void *impl)
{
	struct mem_store *ms = impl;
	size_t s, i;

	if (ms == NULL)
		return;
	for (s = 0; s < MEM_SHARDS; s++) {
		struct mem_table *t = &ms->shards[s].table;

		for (i = 0; i < t->nbuckets; i++) {
			struct mem_node *n = t->buckets[i], *next;

			for (; n != NULL; n = next) {
				next = n->next;
				entry_free(ms, (struct mem_entry *)n, false);
			}
		}
		OPENSSL_free(t->buckets);
		pthread_mutex_destroy(&ms->shards[s].lock);
	}
	mem_queues_free(ms->queues);
	/* Failures only counted so far are told before the store goes. */
	pthread_mutex_lock(&ms->aof_lock);
	for (i = 0; i < FAIL_KINDS; i++)
		fail_tell_more(ms, (enum mem_fail)i);
	pthread_mutex_unlock(&ms->aof_lock);
	report_flush(ms);
	/* Every change was fsynced when it was made; closing is enough. */
	if (ms->aof_fd >= 0)
		close(ms->aof_fd);
	if (ms->dir_fd >= 0)
		close(ms->dir_fd);
	pthread_mutex_destroy(&ms->aof_lock);
	OPENSSL_clear_free(ms, sizeof(*ms));
}

static const store_ops mem_ops = {
	.close = mem_close,
	.ping = mem_ping,
	.set = mem_set,
	.get = mem_get,
	.getdel = mem_getdel,
	.del = mem_del,
	.cas = mem_cas,
	.del_if = mem_del_if,
	.incr = mem_incr,
	.ttl = mem_ttl,
	.sadd = mem_sadd,
	.srem = mem_srem,
	.smembers = mem_smembers,
	.queue_push = mem_queue_push,
	.queue_len = mem_queue_len,
	.queue_trim = mem_queue_trim,
	.queue_range = mem_queue_range,
	.group_create = mem_group_create,
	.group_read = mem_group_read,
	.group_ack = mem_group_ack,
	.group_claim = mem_group_claim,
	.group_pending = mem_group_pending,
	.group_prune = mem_group_prune,
};

/* The key of h up to its first ':', printable, into out (cap > 0). */
static void key_head(const struct mem_node *h, char *out, size_t cap)
{
	size_t n = 0;
	unsigned char c = 0;

	while (n < h->klen && n < cap - 1 && c != ':') {
		c = (unsigned char)h->key[n];
		out[n++] = (char)(c > 0x20 && c < 0x7f ? c : '?');
	}
	out[n] = '\0';
}

/*
 * Warns when the file replayed keys but none under the store's prefix:
 * store.prefix changed, most likely, and the server is about to start as
 * a new one (new signing keys, no users) beside its own state. The first
 * key's own prefix, up to its first ':', is named.
 */
static void prefix_check(const struct mem_store *ms, const char *prefix)
{
	size_t plen = prefix != NULL ? strlen(prefix) : 0, keys = 0, i, b;
	char other[64] = "";
	const struct mem_node *h;

	if (plen == 0)
		return;
	for (i = 0; i < MEM_SHARDS; i++) {
		const struct mem_table *t = &ms->shards[i].table;

		for (b = 0; b < t->nbuckets; b++) {
			for (h = t->buckets[b]; h != NULL; h = h->next) {
				if (h->klen >= plen &&
				    memcmp(h->key, prefix, plen) == 0)
					return;
				if (keys++ == 0)
					key_head(h, other, sizeof(other));
			}
		}
	}
	if (keys > 0)
		say(ms, STORE_REPORT_WARNING,
		    "state file %s: none of its %zu keys is under store.prefix "
		    "\"%s\" (they start with \"%s\", for one): started as if "
		    "new; set store.prefix back to use that state",
		    ms->aof_path, keys, prefix, other);
}

store_status store_memory_open(const store_options *opts, const store_ops **ops,
			       void **impl, char *err, size_t errlen)
{
	struct mem_store *ms;
	store_status rc = STORE_ERR_NOMEM;
	size_t s;

	*impl = NULL;
	ms = OPENSSL_zalloc(sizeof(*ms));
	if (ms == NULL) {
		store_errf(err, errlen, "out of memory");
		return STORE_ERR_NOMEM;
	}
	ms->aof_fd = -1;
	ms->dir_fd = -1;
	ms->compact_floor = AOF_COMPACT_MIN;
	ms->scrub_after_ms = opts->scrub_after_ms != 0 ? opts->scrub_after_ms
						       : MEM_SCRUB_AFTER_MS;
	ms->report = opts->report;
	ms->report_arg = opts->report_arg;
	atomic_init(&ms->live_bytes, 0);
	atomic_init(&ms->used_bytes, 0);
	atomic_init(&ms->full_told_ms, 0);
	atomic_init(&ms->reaped_ms, 0);
	ms->max_bytes = opts->max_bytes > (uint64_t)INT64_MAX
				? INT64_MAX
				: (int64_t)opts->max_bytes;
	atomic_init(&ms->reports_waiting, false);
	pthread_mutex_init(&ms->aof_lock, NULL);
	for (s = 0; s < MEM_SHARDS; s++)
		pthread_mutex_init(&ms->shards[s].lock, NULL);
	for (s = 0; s < MEM_SHARDS; s++) {
		if (mem_table_init(&ms->shards[s].table) != 0) {
			store_errf(err, errlen, "out of memory");
			goto out;
		}
	}
	if (af_random_bytes(ms->sipkey, sizeof(ms->sipkey)) != 0) {
		store_errf(err, errlen, "random number generator failed");
		rc = STORE_ERR_CONFIG;
		goto out;
	}
	ms->queues = mem_queues_new(ms->sipkey);
	if (ms->queues == NULL) {
		store_errf(err, errlen, "out of memory");
		goto out;
	}
	if (opts->state_dir != NULL) {
		if (opts->state_dir[0] == '\0') {
			store_errf(err, errlen, "empty state folder name");
			rc = STORE_ERR_CONFIG;
			goto out;
		}
		ms->persist = true;
		rc = aof_open(ms, opts->state_dir, err, errlen);
		if (rc != STORE_OK)
			goto out;
		prefix_check(ms, opts->prefix);
		if (compact_due(ms))
			compact(ms, false);
		/* Records that no longer count from before are scrubbed in
		 * time too. */
		pthread_mutex_lock(&ms->aof_lock);
		note_stale(ms);
		pthread_mutex_unlock(&ms->aof_lock);
	}
	*ops = &mem_ops;
	*impl = ms;
	ms = NULL;
	rc = STORE_OK;
out:
	mem_close(ms);
	return rc;
}
