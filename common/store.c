/*
 * The state store front: status strings, argument and size checks shared
 * by both backends, key prefixing, and dispatch through the backend table.
 * Checking here once means a backend never has to guess what a caller
 * meant by a NULL pointer or an oversized key.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "store_internal.h"

struct store_ctx {
	const store_ops *ops;
	void *impl;
	store_backend backend;
	size_t prefix_len;
	char prefix[STORE_PREFIX_MAX + 1];
	store_damage_fn damage_fn; /* NULL: nobody is told */
	void *damage_arg;
};

/* A prefixed key, NUL-terminated, on the caller's stack. */
typedef struct full_key {
	size_t len;
	char buf[STORE_FULLKEY_MAX + 1];
} full_key;

const char *store_strerror(store_status st)
{
	switch (st) {
#define STORE_XX(name, value, text) \
	case STORE_##name:          \
		return text;
		STORE_STATUS_MAP(STORE_XX)
#undef STORE_XX
	}
	return "unknown store error";
}

void store_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

store_status store_value_dup(const void *data, size_t len, store_value *out)
{
	out->data = NULL;
	out->len = 0;
	if (len > STORE_VALUE_MAX)
		return STORE_ERR_TOO_BIG;
	out->data = OPENSSL_malloc(len + 1);
	if (out->data == NULL)
		return STORE_ERR_NOMEM;
	if (len > 0)
		memcpy(out->data, data, len);
	out->data[len] = '\0';
	out->len = len;
	return STORE_OK;
}

int store_parse_int64(const void *text, size_t len, int64_t *out)
{
	const uint8_t *p = text;
	bool neg = false;
	uint64_t v = 0, limit;
	size_t i = 0;

	if (p == NULL || len == 0 || len > 20)
		return -1;
	if (p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len || p[i] < '0' || p[i] > '9')
		return -1;
	/* "0" alone is fine; "-0" and leading zeros are not, as in Redis. */
	if (p[i] == '0' && (len - i > 1 || neg))
		return -1;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return -1;
		d = (unsigned)(p[i] - '0');
		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

static bool options_valid(const store_options *opts, char *err, size_t errlen)
{
	if (opts->prefix != NULL &&
	    strnlen(opts->prefix, STORE_PREFIX_MAX + 1) > STORE_PREFIX_MAX) {
		store_errf(err, errlen, "store prefix is longer than %d bytes",
			   STORE_PREFIX_MAX);
		return false;
	}
	if (opts->backend != STORE_BACKEND_MEMORY &&
	    opts->backend != STORE_BACKEND_REDIS) {
		store_errf(err, errlen, "unknown store backend %d",
			   (int)opts->backend);
		return false;
	}
	return true;
}

store_status store_check(const store_options *opts, char *err, size_t errlen)
{
	store_errf(err, errlen, "%s", "");
	if (opts == NULL) {
		store_errf(err, errlen, "no store options");
		return STORE_ERR_ARG;
	}
	if (!options_valid(opts, err, errlen))
		return STORE_ERR_CONFIG;
	if (opts->backend == STORE_BACKEND_REDIS)
		return store_redis_check(opts, err, errlen);
	return store_memory_check(opts, err, errlen);
}

/* A context for opts' backend and prefix, its backend not yet opened. */
static store_ctx *ctx_new(const store_options *opts, char *err, size_t errlen)
{
	store_ctx *st = OPENSSL_zalloc(sizeof(*st));

	if (st == NULL) {
		store_errf(err, errlen, "out of memory");
		return NULL;
	}
	st->backend = opts->backend;
	if (opts->prefix != NULL) {
		st->prefix_len = strlen(opts->prefix);
		memcpy(st->prefix, opts->prefix, st->prefix_len);
	}
	return st;
}

store_status store_open_state_copy(const store_options *opts, store_ctx **out,
				   char *err, size_t errlen)
{
	store_ctx *st;
	store_status rc;

	store_errf(err, errlen, "%s", "");
	if (out == NULL)
		return STORE_ERR_ARG;
	*out = NULL;
	if (opts == NULL) {
		store_errf(err, errlen, "no store options");
		return STORE_ERR_ARG;
	}
	if (opts->backend != STORE_BACKEND_MEMORY)
		return STORE_OK;
	if (!options_valid(opts, err, errlen))
		return STORE_ERR_CONFIG;
	st = ctx_new(opts, err, errlen);
	if (st == NULL)
		return STORE_ERR_NOMEM;
	rc = store_memory_open_copy(opts, &st->ops, &st->impl, err, errlen);
	if (rc != STORE_OK || st->impl == NULL) {
		OPENSSL_free(st);
		return rc;
	}
	*out = st;
	return STORE_OK;
}

store_status store_check_state(const store_options *opts, char *err,
			       size_t errlen)
{
	store_ctx *copy = NULL;
	store_status rc = store_open_state_copy(opts, &copy, err, errlen);

	store_close(copy);
	return rc;
}

store_status store_open(const store_options *opts, store_ctx **out, char *err,
			size_t errlen)
{
	store_ctx *st;
	store_status rc;

	store_errf(err, errlen, "%s", "");
	if (out == NULL)
		return STORE_ERR_ARG;
	*out = NULL;
	if (opts == NULL) {
		store_errf(err, errlen, "no store options");
		return STORE_ERR_ARG;
	}
	if (!options_valid(opts, err, errlen))
		return STORE_ERR_CONFIG;
	st = ctx_new(opts, err, errlen);
	if (st == NULL)
		return STORE_ERR_NOMEM;
	if (opts->backend == STORE_BACKEND_REDIS)
		rc = store_redis_open(opts, &st->ops, &st->impl, err, errlen);
	else
		rc = store_memory_open(opts, &st->ops, &st->impl, err, errlen);
	if (rc != STORE_OK) {
		OPENSSL_free(st);
		return rc;
	}
	*out = st;
	return STORE_OK;
}

void store_close(store_ctx *st)
{
	if (st == NULL)
		return;
	st->ops->close(st->impl);
	OPENSSL_free(st);
}

store_backend store_get_backend(const store_ctx *st)
{
	return st != NULL ? st->backend : STORE_BACKEND_MEMORY;
}

void store_set_damage_sink(store_ctx *st, store_damage_fn fn, void *arg)
{
	if (st == NULL)
		return;
	st->damage_fn = fn;
	st->damage_arg = arg;
}

void store_damaged(store_ctx *st, const char *key)
{
	if (st != NULL && st->damage_fn != NULL && key != NULL)
		st->damage_fn(st->damage_arg, key);
}

store_status store_ping(store_ctx *st)
{
	return store_ping_why(st, NULL, 0);
}

store_status store_ping_why(store_ctx *st, char *why, size_t whylen)
{
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (st == NULL)
		return STORE_ERR_ARG;
	return st->ops->ping(st->impl, why, whylen);
}

store_status store_eviction(store_ctx *st, int *evicts, char *policy,
			    size_t cap)
{
	if (st == NULL || evicts == NULL || policy == NULL || cap == 0)
		return STORE_ERR_ARG;
	*evicts = 0;
	policy[0] = '\0';
	if (st->ops->eviction == NULL)
		return STORE_OK;
	return st->ops->eviction(st->impl, evicts, policy, cap);
}

store_status store_time_ms(store_ctx *st, int64_t *ms)
{
	if (st == NULL || ms == NULL)
		return STORE_ERR_ARG;
	*ms = 0;
	if (st->ops->time_ms == NULL)
		return STORE_ERR_CONFIG;
	return st->ops->time_ms(st->impl, ms);
}

void store_value_free(store_value *v)
{
	if (v == NULL)
		return;
	if (v->data != NULL)
		OPENSSL_clear_free(v->data, v->len + 1);
	v->data = NULL;
	v->len = 0;
}

/*
 * Checks a caller's key and writes prefix + key into fk. Keys are
 * NUL-terminated, so they never hold a NUL; an empty key is refused as
 * almost certainly a caller's bug.
 */
static store_status make_key(const store_ctx *st, const char *key, full_key *fk)
{
	size_t len;

	if (key == NULL)
		return STORE_ERR_ARG;
	len = strnlen(key, STORE_KEY_MAX + 1);
	if (len == 0)
		return STORE_ERR_ARG;
	if (len > STORE_KEY_MAX)
		return STORE_ERR_TOO_BIG;
	memcpy(fk->buf, st->prefix, st->prefix_len);
	memcpy(fk->buf + st->prefix_len, key, len);
	fk->len = st->prefix_len + len;
	fk->buf[fk->len] = '\0';
	return STORE_OK;
}

static store_status check_value(const void *val, size_t len)
{
	if (val == NULL && len > 0)
		return STORE_ERR_ARG;
	if (len > STORE_VALUE_MAX)
		return STORE_ERR_TOO_BIG;
	return STORE_OK;
}

static store_status check_set_flags(unsigned flags)
{
	if ((flags &
	     ~(unsigned)(STORE_SET_NX | STORE_SET_XX | STORE_SET_DURABLE |
			 STORE_SET_YIELD | STORE_SET_VITAL)) != 0 ||
	    (flags & (STORE_SET_NX | STORE_SET_XX)) ==
		    (STORE_SET_NX | STORE_SET_XX))
		return STORE_ERR_ARG;
	return STORE_OK;
}

static store_status check_member(const char *member, size_t *mlen)
{
	if (member == NULL)
		return STORE_ERR_ARG;
	*mlen = strnlen(member, STORE_MEMBER_MAX + 1);
	if (*mlen > STORE_MEMBER_MAX)
		return STORE_ERR_TOO_BIG;
	return STORE_OK;
}

static void value_clear(store_value *out)
{
	if (out != NULL) {
		out->data = NULL;
		out->len = 0;
	}
}

store_status store_set(store_ctx *st, const char *key, const void *val,
		       size_t len, uint64_t ttl_ms, unsigned flags)
{
	full_key fk;
	store_status rc;

	if (st == NULL || ttl_ms > STORE_TTL_MAX)
		return STORE_ERR_ARG;
	if (check_set_flags(flags) != STORE_OK)
		return STORE_ERR_ARG;
	rc = check_value(val, len);
	if (rc == STORE_OK)
		rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->set(st->impl, fk.buf, fk.len, val, len, ttl_ms, flags);
}

store_status store_get(store_ctx *st, const char *key, store_value *out)
{
	full_key fk;
	store_status rc;

	value_clear(out);
	if (st == NULL || out == NULL)
		return STORE_ERR_ARG;
	rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->get(st->impl, fk.buf, fk.len, out);
}

store_status store_getdel(store_ctx *st, const char *key, store_value *out)
{
	full_key fk;
	store_status rc;

	value_clear(out);
	if (st == NULL || out == NULL)
		return STORE_ERR_ARG;
	rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->getdel(st->impl, fk.buf, fk.len, out);
}

store_status store_del(store_ctx *st, const char *key)
{
	full_key fk;
	store_status rc;

	if (st == NULL)
		return STORE_ERR_ARG;
	rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->del(st->impl, fk.buf, fk.len);
}

store_status store_cas(store_ctx *st, const char *key, const void *expected,
		       size_t elen, const void *newval, size_t nlen,
		       uint64_t ttl_ms)
{
	full_key fk;
	store_status rc;

	if (st == NULL || ttl_ms > STORE_TTL_MAX)
		return STORE_ERR_ARG;
	rc = check_value(expected, elen);
	if (rc == STORE_OK)
		rc = check_value(newval, nlen);
	if (rc == STORE_OK)
		rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->cas(st->impl, fk.buf, fk.len, expected, elen, newval,
			    nlen, ttl_ms);
}

store_status store_del_if(store_ctx *st, const char *key, const void *expected,
			  size_t elen)
{
	full_key fk;
	store_status rc;

	if (st == NULL)
		return STORE_ERR_ARG;
	rc = check_value(expected, elen);
	if (rc == STORE_OK)
		rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->del_if(st->impl, fk.buf, fk.len, expected, elen);
}

static store_status incr_common(store_ctx *st, const char *key, int64_t delta,
				uint64_t ttl_ms, unsigned flags, int64_t *out)
{
	full_key fk;
	store_status rc;

	if (st == NULL || out == NULL || ttl_ms > STORE_TTL_MAX)
		return STORE_ERR_ARG;
	rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->incr(st->impl, fk.buf, fk.len, delta, ttl_ms, flags,
			     out);
}

store_status store_incr(store_ctx *st, const char *key, int64_t delta,
			uint64_t ttl_ms, int64_t *out)
{
	return incr_common(st, key, delta, ttl_ms, 0, out);
}

store_status store_incr_durable(store_ctx *st, const char *key, int64_t delta,
				uint64_t ttl_ms, int64_t *out)
{
	return incr_common(st, key, delta, ttl_ms, STORE_SET_DURABLE, out);
}

store_status store_incr_yield(store_ctx *st, const char *key, int64_t delta,
			      uint64_t ttl_ms, int64_t *out)
{
	return incr_common(st, key, delta, ttl_ms, STORE_SET_YIELD, out);
}

store_status store_incr_vital(store_ctx *st, const char *key, int64_t delta,
			      uint64_t ttl_ms, int64_t *out)
{
	return incr_common(st, key, delta, ttl_ms, STORE_SET_VITAL, out);
}

store_status store_ttl(store_ctx *st, const char *key, uint64_t *ttl_ms)
{
	full_key fk;
	store_status rc;

	if (st == NULL || ttl_ms == NULL)
		return STORE_ERR_ARG;
	*ttl_ms = 0;
	rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->ttl(st->impl, fk.buf, fk.len, ttl_ms);
}

static store_status sadd_common(store_ctx *st, const char *key,
				const char *member, uint64_t ttl_ms)
{
	full_key fk;
	size_t mlen = 0;
	store_status rc;

	if (st == NULL || ttl_ms > STORE_TTL_MAX)
		return STORE_ERR_ARG;
	rc = check_member(member, &mlen);
	if (rc == STORE_OK)
		rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->sadd(st->impl, fk.buf, fk.len, member, mlen, ttl_ms);
}

store_status store_sadd(store_ctx *st, const char *key, const char *member)
{
	return sadd_common(st, key, member, 0);
}

store_status store_sadd_ttl(store_ctx *st, const char *key, const char *member,
			    uint64_t ttl_ms)
{
	if (ttl_ms == 0)
		return STORE_ERR_ARG;
	return sadd_common(st, key, member, ttl_ms);
}

store_status store_srem(store_ctx *st, const char *key, const char *member)
{
	full_key fk;
	size_t mlen = 0;
	store_status rc;

	if (st == NULL)
		return STORE_ERR_ARG;
	rc = check_member(member, &mlen);
	if (rc == STORE_OK)
		rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->srem(st->impl, fk.buf, fk.len, member, mlen);
}

store_status store_smembers(store_ctx *st, const char *key, store_member_fn fn,
			    void *arg)
{
	full_key fk;
	store_status rc;

	if (st == NULL || fn == NULL)
		return STORE_ERR_ARG;
	rc = make_key(st, key, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->smembers(st->impl, fk.buf, fk.len, fn, arg);
}

/*
 * Queue entries are handed to readers as C strings, so a NUL inside one
 * would silently cut it short: such entries are refused up front.
 */
store_status store_queue_push(store_ctx *st, const char *queue,
			      const char *entry, size_t len, char *id,
			      size_t idcap)
{
	full_key fk;
	store_status rc;

	if (id != NULL && idcap > 0)
		id[0] = '\0';
	if (st == NULL || (id != NULL && idcap < STORE_QUEUE_ID_MAX + 1))
		return STORE_ERR_ARG;
	rc = check_value(entry, len);
	if (rc != STORE_OK)
		return rc;
	if (len > 0 && memchr(entry, '\0', len) != NULL)
		return STORE_ERR_ARG;
	rc = make_key(st, queue, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->queue_push(st->impl, fk.buf, fk.len,
				   entry != NULL ? entry : "", len, id, idcap);
}

store_status store_queue_len(store_ctx *st, const char *queue, size_t *out)
{
	full_key fk;
	store_status rc;

	if (st == NULL || out == NULL)
		return STORE_ERR_ARG;
	*out = 0;
	rc = make_key(st, queue, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->queue_len(st->impl, fk.buf, fk.len, out);
}

store_status store_queue_trim(store_ctx *st, const char *queue,
			      uint64_t older_than_ms, size_t *removed)
{
	full_key fk;
	store_status rc;
	size_t n = 0;

	if (removed != NULL)
		*removed = 0;
	if (st == NULL || older_than_ms > STORE_TTL_MAX)
		return STORE_ERR_ARG;
	rc = make_key(st, queue, &fk);
	if (rc != STORE_OK)
		return rc;
	rc = st->ops->queue_trim(st->impl, fk.buf, fk.len, older_than_ms, &n);
	if (rc == STORE_OK && removed != NULL)
		*removed = n;
	return rc;
}

store_status store_queue_range(store_ctx *st, const char *queue, size_t max,
			       store_member_fn fn, void *arg)
{
	full_key fk;
	store_status rc;

	if (st == NULL || fn == NULL)
		return STORE_ERR_ARG;
	rc = make_key(st, queue, &fk);
	if (rc != STORE_OK)
		return rc;
	/* Asking for nothing is answered without bothering a backend. */
	if (max == 0)
		return STORE_OK;
	return st->ops->queue_range(st->impl, fk.buf, fk.len, max, fn, arg);
}

/*
 * Group and consumer names go to the server as they are and into logs, so
 * only printable ASCII is taken: no control bytes to forge a log line.
 */
static store_status check_name(const char *name)
{
	size_t len, i;

	if (name == NULL)
		return STORE_ERR_ARG;
	len = strnlen(name, STORE_CONSUMER_MAX + 1);
	if (len == 0 || len > STORE_CONSUMER_MAX)
		return STORE_ERR_ARG;
	for (i = 0; i < len; i++) {
		if (name[i] < 0x20 || name[i] > 0x7e)
			return STORE_ERR_ARG;
	}
	return STORE_OK;
}

/* Checks the arguments read and claim share and prefixes the queue. */
static store_status group_call_args(const store_ctx *st, const char *queue,
				    const char *group, const char *consumer,
				    size_t max, store_entry_fn fn,
				    const size_t *count, full_key *fk)
{
	if (st == NULL || fn == NULL || count == NULL || max == 0 ||
	    max > STORE_QUEUE_BATCH_MAX)
		return STORE_ERR_ARG;
	if (check_name(group) != STORE_OK || check_name(consumer) != STORE_OK)
		return STORE_ERR_ARG;
	return make_key(st, queue, fk);
}

store_status store_queue_group_create(store_ctx *st, const char *queue,
				      const char *group)
{
	full_key fk;
	store_status rc;

	if (st == NULL || check_name(group) != STORE_OK)
		return STORE_ERR_ARG;
	rc = make_key(st, queue, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->group_create(st->impl, fk.buf, fk.len, group);
}

store_status store_queue_read(store_ctx *st, const char *queue,
			      const char *group, const char *consumer,
			      size_t max, unsigned block_ms, store_entry_fn fn,
			      void *arg, size_t *count)
{
	full_key fk;
	store_status rc;

	if (count != NULL)
		*count = 0;
	if (block_ms > STORE_QUEUE_BLOCK_MAX)
		return STORE_ERR_ARG;
	rc = group_call_args(st, queue, group, consumer, max, fn, count, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->group_read(st->impl, fk.buf, fk.len, group, consumer,
				   max, block_ms, fn, arg, count);
}

/*
 * Ids are the backend's own text (a stream id, or a sequence number);
 * here only their size and bytes are checked, the backend checks syntax.
 */
static store_status check_id(const char *id)
{
	size_t len, i;

	if (id == NULL)
		return STORE_ERR_ARG;
	len = strnlen(id, STORE_QUEUE_ID_MAX + 1);
	if (len == 0 || len > STORE_QUEUE_ID_MAX)
		return STORE_ERR_ARG;
	for (i = 0; i < len; i++) {
		if (id[i] <= 0x20 || id[i] > 0x7e)
			return STORE_ERR_ARG;
	}
	return STORE_OK;
}

store_status store_queue_ack(store_ctx *st, const char *queue,
			     const char *group, const char *id)
{
	full_key fk;
	store_status rc;

	if (st == NULL || check_id(id) != STORE_OK ||
	    check_name(group) != STORE_OK)
		return STORE_ERR_ARG;
	rc = make_key(st, queue, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->group_ack(st->impl, fk.buf, fk.len, group, id);
}

store_status store_queue_claim(store_ctx *st, const char *queue,
			       const char *group, const char *consumer,
			       uint64_t min_idle_ms, size_t max,
			       store_entry_fn fn, void *arg, size_t *count)
{
	full_key fk;
	store_status rc;

	if (count != NULL)
		*count = 0;
	if (min_idle_ms > STORE_TTL_MAX)
		return STORE_ERR_ARG;
	rc = group_call_args(st, queue, group, consumer, max, fn, count, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->group_claim(st->impl, fk.buf, fk.len, group, consumer,
				    min_idle_ms, max, fn, arg, count);
}

store_status store_queue_pending(store_ctx *st, const char *queue,
				 const char *group, size_t *out)
{
	full_key fk;
	store_status rc;

	if (out != NULL)
		*out = 0;
	if (st == NULL || out == NULL || check_name(group) != STORE_OK)
		return STORE_ERR_ARG;
	rc = make_key(st, queue, &fk);
	if (rc != STORE_OK)
		return rc;
	return st->ops->group_pending(st->impl, fk.buf, fk.len, group, out);
}

store_status store_queue_prune(store_ctx *st, const char *queue,
			       const char *group, uint64_t min_idle_ms,
			       size_t *removed)
{
	full_key fk;
	store_status rc;
	size_t n = 0;

	if (removed != NULL)
		*removed = 0;
	if (st == NULL || check_name(group) != STORE_OK ||
	    min_idle_ms > STORE_TTL_MAX)
		return STORE_ERR_ARG;
	rc = make_key(st, queue, &fk);
	if (rc != STORE_OK)
		return rc;
	rc = st->ops->group_prune(st->impl, fk.buf, fk.len, group, min_idle_ms,
				  &n);
	if (rc == STORE_OK && removed != NULL)
		*removed = n;
	return rc;
}

/* --- batches ------------------------------------------------------------- */

/* The checks of the single call an operation stands for, key aside. */
static store_status op_check(const store_op *op)
{
	store_status rc = STORE_OK;

	switch (op->kind) {
	case STORE_OP_GET:
	case STORE_OP_DEL:
		break;
	case STORE_OP_SET:
		rc = op->ttl_ms > STORE_TTL_MAX ? STORE_ERR_ARG
						: check_set_flags(op->flags);
		if (rc == STORE_OK)
			rc = check_value(op->val, op->len);
		break;
	case STORE_OP_CAS:
		rc = op->ttl_ms > STORE_TTL_MAX ? STORE_ERR_ARG : STORE_OK;
		if (rc == STORE_OK)
			rc = check_value(op->expected, op->elen);
		if (rc == STORE_OK)
			rc = check_value(op->val, op->len);
		break;
	case STORE_OP_DEL_IF:
		rc = check_value(op->expected, op->elen);
		break;
	case STORE_OP_ACK:
		if (check_name(op->group) != STORE_OK ||
		    check_id(op->id) != STORE_OK)
			rc = STORE_ERR_ARG;
		break;
	default:
		rc = STORE_ERR_ARG;
		break;
	}
	return rc;
}

/* Runs one checked operation through the single calls of the backend. */
static store_status op_run(store_ctx *st, store_op *op, const store_bkey *k)
{
	const store_ops *b = st->ops;

	switch (op->kind) {
	case STORE_OP_GET:
		return b->get(st->impl, k->key, k->klen, &op->value);
	case STORE_OP_SET:
		return b->set(st->impl, k->key, k->klen, op->val, op->len,
			      op->ttl_ms, op->flags);
	case STORE_OP_DEL:
		return b->del(st->impl, k->key, k->klen);
	case STORE_OP_CAS:
		return b->cas(st->impl, k->key, k->klen, op->expected, op->elen,
			      op->val, op->len, op->ttl_ms);
	case STORE_OP_DEL_IF:
		return b->del_if(st->impl, k->key, k->klen, op->expected,
				 op->elen);
	case STORE_OP_ACK:
		return b->group_ack(st->impl, k->key, k->klen, op->group,
				    op->id);
	default:
		return STORE_ERR_ARG;
	}
}

/*
 * Checks every operation and lays the prefixed keys out in one buffer
 * (*buf, for the caller to free), so the backend gets them as it gets a
 * single call's. A refused operation gets its status and a NULL key.
 */
static store_status batch_keys(const store_ctx *st, store_op *ops, size_t n,
			       store_bkey *keys, char **buf)
{
	size_t i, len, total = 0, at = 0;
	char *p;

	for (i = 0; i < n; i++) {
		len = ops[i].key != NULL
			      ? strnlen(ops[i].key, STORE_KEY_MAX + 1)
			      : 0;
		total += st->prefix_len + len + 1;
	}
	p = OPENSSL_malloc(total);
	if (p == NULL)
		return STORE_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		store_op *op = &ops[i];

		keys[i].key = NULL;
		keys[i].klen = 0;
		op->status = op_check(op);
		if (op->status != STORE_OK)
			continue;
		len = op->key != NULL ? strnlen(op->key, STORE_KEY_MAX + 1) : 0;
		if (len == 0 || len > STORE_KEY_MAX) {
			op->status =
				len == 0 ? STORE_ERR_ARG : STORE_ERR_TOO_BIG;
			continue;
		}
		memcpy(p + at, st->prefix, st->prefix_len);
		memcpy(p + at + st->prefix_len, op->key, len);
		keys[i].key = p + at;
		keys[i].klen = st->prefix_len + len;
		p[at + keys[i].klen] = '\0';
		at += keys[i].klen + 1;
	}
	*buf = p;
	return STORE_OK;
}

store_status store_batch(store_ctx *st, store_op *ops, size_t n)
{
	store_bkey *keys = NULL;
	char *buf = NULL;
	store_status rc;
	size_t i;

	if (ops != NULL && n <= STORE_BATCH_MAX) {
		for (i = 0; i < n; i++) {
			value_clear(&ops[i].value);
			ops[i].status = STORE_ERR_ARG;
		}
	}
	if (st == NULL || ops == NULL || n == 0 || n > STORE_BATCH_MAX)
		return STORE_ERR_ARG;
	keys = OPENSSL_malloc(n * sizeof(*keys));
	rc = keys != NULL ? batch_keys(st, ops, n, keys, &buf)
			  : STORE_ERR_NOMEM;
	if (rc != STORE_OK) {
		/* Nothing ran: every operation shares the failure. */
		for (i = 0; i < n; i++)
			ops[i].status = rc;
		goto out;
	}
	if (st->ops->batch != NULL) {
		rc = st->ops->batch(st->impl, ops, keys, n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (keys[i].key != NULL)
			ops[i].status = op_run(st, &ops[i], &keys[i]);
	}
out:
	OPENSSL_free(buf);
	OPENSSL_free(keys);
	return rc;
}

/* 2 * len hex digits (lower case) into len bytes; 0 or -1. */
static int from_hex(const store_value *v, uint8_t *out, size_t len)
{
	if (v->len != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = v->data[2 * i], lo = v->data[2 * i + 1];

		if ((hi >= 'A' && hi <= 'F') || (lo >= 'A' && lo <= 'F'))
			return -1;
		hi = af_hex_value(hi);
		lo = af_hex_value(lo);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

store_status store_secret(store_ctx *st, const char *key, uint8_t *out,
			  size_t len)
{
	char hex[2 * STORE_SECRET_MAX + 1];
	store_value v = {NULL, 0};
	store_status rc = STORE_ERR_ARG;

	if (st == NULL || key == NULL || out == NULL || len == 0 ||
	    len > STORE_SECRET_MAX)
		return STORE_ERR_ARG;
	for (int tries = 0; tries < 2; tries++) {
		rc = store_get(st, key, &v);
		if (rc == STORE_OK) {
			if (from_hex(&v, out, len) != 0)
				rc = STORE_ERR_PROTOCOL;
			break;
		}
		if (rc != STORE_NOT_FOUND)
			break;
		if (af_random_bytes(out, len) != 0) {
			rc = STORE_ERR_UNAVAILABLE;
			break;
		}
		af_hex(out, len, hex);
		rc = store_set(st, key, hex, 2 * len, 0,
			       STORE_SET_NX | STORE_SET_DURABLE);
		OPENSSL_cleanse(hex, sizeof(hex));
		if (rc != STORE_EXISTS)
			break;
	}
	store_value_free(&v);
	if (rc != STORE_OK)
		OPENSSL_cleanse(out, len);
	return rc;
}
