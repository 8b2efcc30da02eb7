/*
 * The memo of parsed directory records; see memo.h.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "memo.h"

struct slot {
	pthread_mutex_t mu;
	char *key;  /* NULL: empty */
	char *text; /* the text val was parsed from */
	size_t len;
	json_t *val; /* never changed: replaced whole, shared read-only */
};

/* The policies as listed under a generation: see memo.h. */
struct listing {
	pthread_mutex_t read_mu;       /* held by the one reader listing anew */
	pthread_mutex_t mu;	       /* guards what follows */
	char gen[AF_DIR_MEMO_GEN_MAX]; /* "" with list NULL: none kept */
	uint64_t read_ns;
	json_t *list;  /* never changed: replaced whole, shared read-only */
	json_t *index; /* made from list, kept and replaced with it */
};

struct af_dir_memo {
	struct slot slots[AF_DIR_MEMO_SLOTS];
	atomic_size_t kept; /* bytes of the texts kept, at most the budget */
	struct listing listing;
};

/* The kinds of record kept: few, and read by nearly every request. */
static const char *const kept[] = {"app:", "policy:", "group:", "ou:"};

static void slot_clear(char *key, char *text, size_t len, json_t *val)
{
	free(key);
	if (text != NULL)
		OPENSSL_clear_free(text, len);
	json_decref(val);
}

af_dir_memo *af_dir__memo_new(void)
{
	af_dir_memo *m = calloc(1, sizeof(*m));
	size_t i;

	if (m == NULL)
		return NULL;
	atomic_init(&m->kept, 0);
	if (pthread_mutex_init(&m->listing.mu, NULL) != 0) {
		free(m);
		return NULL;
	}
	if (pthread_mutex_init(&m->listing.read_mu, NULL) != 0) {
		(void)pthread_mutex_destroy(&m->listing.mu);
		free(m);
		return NULL;
	}
	for (i = 0; i < AF_DIR_MEMO_SLOTS; i++) {
		if (pthread_mutex_init(&m->slots[i].mu, NULL) != 0) {
			while (i-- > 0)
				(void)pthread_mutex_destroy(&m->slots[i].mu);
			(void)pthread_mutex_destroy(&m->listing.mu);
			(void)pthread_mutex_destroy(&m->listing.read_mu);
			free(m);
			return NULL;
		}
	}
	return m;
}

void af_dir__memo_free(af_dir_memo *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < AF_DIR_MEMO_SLOTS; i++) {
		struct slot *s = &m->slots[i];

		slot_clear(s->key, s->text, s->len, s->val);
		(void)pthread_mutex_destroy(&s->mu);
	}
	json_decref(m->listing.list);
	json_decref(m->listing.index);
	(void)pthread_mutex_destroy(&m->listing.mu);
	(void)pthread_mutex_destroy(&m->listing.read_mu);
	free(m);
}

int af_dir__memo_wanted(const char *key)
{
	size_t i;

	for (i = 0; key != NULL && i < sizeof(kept) / sizeof(kept[0]); i++)
		if (strncmp(key, kept[i], strlen(kept[i])) == 0)
			return 1;
	return 0;
}

/* FNV-1a: keys only pick a slot, and a collision only costs a parse. */
static size_t slot_of(const char *key)
{
	uint32_t h = 2166136261u;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 16777619u;
	}
	return h % AF_DIR_MEMO_SLOTS;
}

/*
 * Takes the bytes of a text of len that replaces one of old_len in a slot
 * (its lock held) out of the budget: 0, or -1 when they would go over it.
 */
static int budget_take(af_dir_memo *m, size_t old_len, size_t len)
{
	size_t have = atomic_load(&m->kept), want;

	do {
		want = have - old_len;
		if (len > AF_DIR_MEMO_BUDGET - want)
			return -1;
		want += len;
	} while (!atomic_compare_exchange_weak(&m->kept, &have, want));
	return 0;
}

/*
 * The value of text under key: the kept one when the slot holds key with
 * this very text, else text parsed and kept. share 0: a deep copy the
 * caller owns; 1: the kept value itself, shared (see af_dir__memo_share()).
 */
static json_t *lookup(af_dir_memo *m, const char *key, const char *text,
		      size_t len, int share)
{
	struct slot *s;
	json_t *val, *out = NULL, *old_val;
	char *k = NULL, *t = NULL, *old_key, *old_text;
	size_t klen, old_len;

	if (m == NULL || key == NULL || len > AF_DIR_MEMO_TEXT_MAX)
		return json_loadb(text, len, 0, NULL);
	s = &m->slots[slot_of(key)];
	(void)pthread_mutex_lock(&s->mu);
	if (s->key != NULL && s->len == len && strcmp(s->key, key) == 0 &&
	    memcmp(s->text, text, len) == 0)
		out = share ? json_incref(s->val) : json_deep_copy(s->val);
	(void)pthread_mutex_unlock(&s->mu);
	if (out != NULL)
		return out;
	/* Parsed outside the lock: other readers of the slot go on. */
	val = json_loadb(text, len, 0, NULL);
	if (val == NULL)
		return NULL;
	klen = strlen(key);
	out = share ? json_incref(val) : json_deep_copy(val);
	k = malloc(klen + 1);
	t = malloc(len > 0 ? len : 1);
	if (out == NULL || k == NULL || t == NULL) {
		/* Not kept; the caller still gets its value. */
		json_decref(out);
		free(k);
		free(t);
		return val;
	}
	memcpy(k, key, klen + 1);
	memcpy(t, text, len);
	(void)pthread_mutex_lock(&s->mu);
	if (budget_take(m, s->key != NULL ? s->len : 0, len) != 0) {
		/* Over the budget: not kept, what the slot holds stays. */
		(void)pthread_mutex_unlock(&s->mu);
		json_decref(out);
		slot_clear(k, t, len, NULL);
		return val;
	}
	old_key = s->key;
	old_text = s->text;
	old_len = s->len;
	old_val = s->val;
	s->key = k;
	s->text = t;
	s->len = len;
	s->val = val;
	(void)pthread_mutex_unlock(&s->mu);
	slot_clear(old_key, old_text, old_len, old_val);
	return out;
}

json_t *af_dir__memo_parse(af_dir_memo *m, const char *key, const char *text,
			   size_t len)
{
	return lookup(m, key, text, len, 0);
}

json_t *af_dir__memo_share(af_dir_memo *m, const char *key, const char *text,
			   size_t len)
{
	return lookup(m, key, text, len, 1);
}

json_t *af_dir__memo_listing(af_dir_memo *m, const char *gen, uint64_t now_ns,
			     json_t **index)
{
	struct listing *l;
	json_t *out = NULL;

	*index = NULL;
	if (m == NULL || gen == NULL)
		return NULL;
	l = &m->listing;
	(void)pthread_mutex_lock(&l->mu);
	if (l->list != NULL && strcmp(l->gen, gen) == 0 &&
	    now_ns - l->read_ns < AF_DIR_MEMO_LISTING_NS) {
		out = json_incref(l->list);
		*index = json_incref(l->index);
	}
	(void)pthread_mutex_unlock(&l->mu);
	return out;
}

json_t *af_dir__memo_listing_last(af_dir_memo *m, json_t **index)
{
	json_t *out = NULL;

	*index = NULL;
	if (m == NULL)
		return NULL;
	(void)pthread_mutex_lock(&m->listing.mu);
	out = json_incref(m->listing.list);
	*index = json_incref(m->listing.index);
	(void)pthread_mutex_unlock(&m->listing.mu);
	return out;
}

void af_dir__memo_keep_listing(af_dir_memo *m, const char *gen, json_t *list,
			       json_t *index, uint64_t now_ns)
{
	struct listing *l;
	json_t *old, *old_index;

	if (m == NULL || gen == NULL || list == NULL || index == NULL ||
	    strlen(gen) >= sizeof(m->listing.gen))
		return;
	l = &m->listing;
	(void)pthread_mutex_lock(&l->mu);
	old = l->list;
	old_index = l->index;
	l->list = json_incref(list);
	l->index = json_incref(index);
	memcpy(l->gen, gen, strlen(gen) + 1);
	l->read_ns = now_ns;
	(void)pthread_mutex_unlock(&l->mu);
	json_decref(old);
	json_decref(old_index);
}

void af_dir__memo_listing_lock(af_dir_memo *m)
{
	if (m != NULL)
		(void)pthread_mutex_lock(&m->listing.read_mu);
}

void af_dir__memo_listing_unlock(af_dir_memo *m)
{
	if (m != NULL)
		(void)pthread_mutex_unlock(&m->listing.read_mu);
}
