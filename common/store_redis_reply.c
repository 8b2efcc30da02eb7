/*
 * The redis backend's reading of replies: each command's answer checked
 * against the shape Redis gives it and mapped to a store_status, before
 * anything in it is used. A reply of another shape (a server that is not
 * Redis, a proxy in between, a newer version) is STORE_ERR_PROTOCOL, never
 * a read out of bounds; see store_redis_reply.h.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "store_redis_reply.h"

/* Expects a status reply equal to text. */
bool redis_reply_status_is(const redisReply *r, const char *text)
{
	return r != NULL && r->type == REDIS_REPLY_STATUS && r->str != NULL &&
	       strcmp(r->str, text) == 0;
}

/*
 * Whether error text is the error code, as the reply's own ("OOM command
 * not allowed ...") or wrapped by a script's call, as Redis 6.2 words it
 * ("ERR Error running script ...: -OOM command not allowed ...").
 */
static bool error_has(const char *text, const char *code)
{
	size_t n = strlen(code);
	const char *p;

	if (strncmp(text, code, n) == 0 && (text[n] == ' ' || text[n] == '\0'))
		return true;
	for (p = strstr(text, code); p != NULL; p = strstr(p + 1, code)) {
		if (p > text && p[-1] == '-' && (p[n] == ' ' || p[n] == '\0'))
			return true;
	}
	return false;
}

/*
 * Maps an error reply. A user without a permission (NOPERM) or a password
 * (NOAUTH) is the store's configuration, not a server that misbehaves or
 * is busy: retrying will not help, and the reason must not read as an
 * unexpected reply. Connecting checks for both (see probe_and_load()), so
 * here they mean the ACL changed since, or a command it does not probe.
 */
store_status redis_reply_error(const redisReply *r)
{
	static const char *const unavailable[] = {
		"LOADING",  "BUSY",	   "MASTERDOWN", "READONLY",
		"TRYAGAIN", "CLUSTERDOWN", "OOM",
	};
	size_t i;

	if (r->str == NULL)
		return STORE_ERR_PROTOCOL;
	/*
	 * A script's call may wrap the NOPERM, so search for it; Redis 7.0
	 * words a call the ACL refuses inside a script without the code.
	 */
	if (strstr(r->str, "NOPERM") != NULL ||
	    strstr(r->str, "user executing the script can't") != NULL ||
	    strncmp(r->str, "NOAUTH", 6) == 0)
		return STORE_ERR_CONFIG;
	/* Script errors wrap the inner error, so search, not prefix. */
	if (strstr(r->str, "WRONGTYPE") != NULL ||
	    strstr(r->str, "not an integer") != NULL ||
	    strstr(r->str, "overflow") != NULL)
		return STORE_ERR_ARG;
	for (i = 0; i < sizeof(unavailable) / sizeof(unavailable[0]); i++) {
		if (error_has(r->str, unavailable[i]))
			return STORE_ERR_UNAVAILABLE;
	}
	return STORE_ERR_PROTOCOL;
}

bool redis_reply_demoted(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	       (error_has(r->str, "READONLY") ||
		error_has(r->str, "MASTERDOWN"));
}

/* Maps a reply that carries a value: a string, or nil for no key. */
store_status redis_reply_value(const redisReply *r, store_value *out)
{
	switch (r->type) {
	case REDIS_REPLY_STRING:
		if (r->len > STORE_VALUE_MAX)
			return STORE_ERR_TOO_BIG;
		return store_value_dup(r->str, r->len, out);
	case REDIS_REPLY_NIL:
		return STORE_NOT_FOUND;
	case REDIS_REPLY_ERROR:
		return redis_reply_error(r);
	default:
		return STORE_ERR_PROTOCOL;
	}
}

/*
 * The value of field name in INFO's text (lines "name:value\r\n"): its
 * start, with its length in *len; NULL when absent.
 */
static const char *info_field(const char *text, size_t len, const char *name,
			      size_t *vlen)
{
	size_t n = strlen(name), i = 0, end;

	while (i < len) {
		end = i;
		while (end < len && text[end] != '\n')
			end++;
		if (end - i > n && memcmp(text + i, name, n) == 0 &&
		    text[i + n] == ':') {
			*vlen = end - (i + n + 1);
			if (*vlen > 0 && text[i + n + 1 + *vlen - 1] == '\r')
				(*vlen)--;
			return text + i + n + 1;
		}
		i = end + 1;
	}
	return NULL;
}

store_status redis_reply_eviction(const redisReply *r, int *evicts,
				  char *policy, size_t cap)
{
	const char *max, *pol;
	size_t mlen = 0, plen = 0, i;
	bool limited = false;

	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(r);
	if (r->type != REDIS_REPLY_STRING || r->str == NULL || cap == 0)
		return STORE_ERR_PROTOCOL;
	max = info_field(r->str, r->len, "maxmemory", &mlen);
	pol = info_field(r->str, r->len, "maxmemory_policy", &plen);
	if (max == NULL || pol == NULL || mlen == 0 || plen == 0)
		return STORE_ERR_PROTOCOL;
	for (i = 0; i < mlen; i++) {
		if (max[i] < '0' || max[i] > '9')
			return STORE_ERR_PROTOCOL;
		if (max[i] != '0')
			limited = true;
	}
	for (i = 0; i < plen && i + 1 < cap; i++) {
		if (pol[i] <= ' ' || pol[i] > '~')
			return STORE_ERR_PROTOCOL;
		policy[i] = pol[i];
	}
	policy[i] = '\0';
	*evicts =
		limited && !(plen == 10 && memcmp(pol, "noeviction", 10) == 0);
	return STORE_OK;
}

/* Up to 18 decimal digits of s (n bytes) into *out; -1 when none or more. */
static int decimal(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (n == 0 || n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

store_status redis_reply_time(const redisReply *r, int64_t *ms)
{
	int64_t sec, usec;

	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(r);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    decimal(r->element[0]->str, r->element[0]->len, &sec) != 0 ||
	    decimal(r->element[1]->str, r->element[1]->len, &usec) != 0 ||
	    usec >= 1000000 || sec > INT64_MAX / 1000 - 1)
		return STORE_ERR_PROTOCOL;
	*ms = sec * 1000 + usec / 1000;
	return STORE_OK;
}

/* Maps a reply that must be an integer. */
store_status redis_reply_integer(const redisReply *r, long long *out)
{
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(r);
	if (r->type != REDIS_REPLY_INTEGER)
		return STORE_ERR_PROTOCOL;
	*out = r->integer;
	return STORE_OK;
}

/* Maps the reply of a SET: nil is the NX or XX condition failing. */
store_status redis_reply_set(const redisReply *r, unsigned flags)
{
	if (redis_reply_status_is(r, "OK"))
		return STORE_OK;
	if (r->type == REDIS_REPLY_NIL)
		return (flags & STORE_SET_NX) != 0 ? STORE_EXISTS
						   : STORE_NOT_FOUND;
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(r);
	return STORE_ERR_PROTOCOL;
}

/* Maps the answer of the compare-and-set or -delete script: 1, 0, -1. */
store_status redis_reply_cas(const redisReply *r)
{
	long long n = 0;
	store_status st = redis_reply_integer(r, &n);

	if (st != STORE_OK)
		return st;
	if (n == 1)
		return STORE_OK;
	if (n == 0)
		return STORE_CONFLICT;
	return n == -1 ? STORE_NOT_FOUND : STORE_ERR_PROTOCOL;
}

/*
 * Checks one SSCAN reply, [cursor, [member...]], and copies the cursor
 * out so the reply can be freed before the next batch.
 */
store_status redis_reply_scan(const redisReply *r, char *cursor)
{
	const redisReply *c, *m;
	size_t i;

	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(r);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		return STORE_ERR_PROTOCOL;
	c = r->element[0];
	m = r->element[1];
	if (c->type != REDIS_REPLY_STRING || c->len == 0 ||
	    c->len >= REDIS_CURSOR_MAX || m->type != REDIS_REPLY_ARRAY)
		return STORE_ERR_PROTOCOL;
	for (i = 0; i < c->len; i++) {
		if (c->str[i] < '0' || c->str[i] > '9')
			return STORE_ERR_PROTOCOL;
	}
	for (i = 0; i < m->elements; i++) {
		const redisReply *e = m->element[i];

		/* Our members are C strings; anything else is not ours. */
		if (e->type != REDIS_REPLY_STRING ||
		    e->len > STORE_MEMBER_MAX ||
		    memchr(e->str, 0, e->len) != NULL)
			return STORE_ERR_PROTOCOL;
	}
	memcpy(cursor, c->str, c->len + 1);
	return STORE_OK;
}

/*
 * Finds the text of one XRANGE item, [id, [field, value, ...]]: the value
 * of field "e", which must be a string without a NUL, as our entries are.
 * An entry written by something else (no such field, or a value that is
 * not such a string) reads as empty text, which no consumer takes for a
 * job: it is dropped and acknowledged on its own, rather than failing the
 * whole read and holding back the entries read with it, again at every
 * claim.
 */
static store_status queue_item_text(const redisReply *item, const char **text)
{
	const redisReply *fields;
	size_t i;

	if (item->type != REDIS_REPLY_ARRAY || item->elements != 2 ||
	    item->element[1]->type != REDIS_REPLY_ARRAY)
		return STORE_ERR_PROTOCOL;
	fields = item->element[1];
	for (i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *f = fields->element[i];
		const redisReply *v = fields->element[i + 1];

		if (f->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			return STORE_ERR_PROTOCOL;
		if (f->len != 1 || f->str[0] != REDIS_QUEUE_FIELD[0])
			continue;
		*text = v->len > STORE_VALUE_MAX ||
					memchr(v->str, '\0', v->len) != NULL
				? ""
				: v->str;
		return STORE_OK;
	}
	*text = "";
	return STORE_OK;
}

/*
 * Group errors: NOGROUP (no such queue or group) is STORE_NOT_FOUND, the
 * rest as for any command.
 */
store_status redis_reply_group_error(const redisReply *r)
{
	if (r->str != NULL && strncmp(r->str, "NOGROUP", 7) == 0)
		return STORE_NOT_FOUND;
	return redis_reply_error(r);
}

/*
 * Checks one entry of an XREADGROUP or XAUTOCLAIM reply, [id, [field,
 * value, ...]], and finds its id and text. Ids are handed to callers as C
 * strings of at most STORE_QUEUE_ID_MAX bytes, so anything else is not an
 * id of ours.
 */
static store_status group_item(const redisReply *item, const char **id,
			       const char **text)
{
	const redisReply *idr;
	store_status st = queue_item_text(item, text);

	if (st != STORE_OK)
		return st;
	idr = item->element[0];
	if (idr->type != REDIS_REPLY_STRING || idr->len == 0 ||
	    idr->len > STORE_QUEUE_ID_MAX ||
	    memchr(idr->str, '\0', idr->len) != NULL)
		return STORE_ERR_PROTOCOL;
	*id = idr->str;
	return STORE_OK;
}

/*
 * Checks every item of an entry array first, so fn sees all of a reply or
 * none of it; nil items (entries deleted while pending, which an older
 * XAUTOCLAIM still lists) are skipped. Then calls fn for each entry until
 * it asks to stop (*stopped). The reply is complete in memory, so fn may
 * use this thread's connection.
 */
static store_status deliver_items(const redisReply *items, size_t max,
				  store_entry_fn fn, void *arg, size_t *count,
				  bool *stopped)
{
	const char *id = NULL, *text = NULL;
	size_t i;
	store_status st = STORE_OK;

	if (items->type != REDIS_REPLY_ARRAY || items->elements > max)
		return STORE_ERR_PROTOCOL;
	for (i = 0; st == STORE_OK && i < items->elements; i++) {
		if (items->element[i]->type != REDIS_REPLY_NIL)
			st = group_item(items->element[i], &id, &text);
	}
	for (i = 0; st == STORE_OK && !*stopped && i < items->elements; i++) {
		if (items->element[i]->type == REDIS_REPLY_NIL ||
		    group_item(items->element[i], &id, &text) != STORE_OK)
			continue;
		(*count)++;
		*stopped = fn(id, text, arg) != 0;
	}
	return st;
}

/*
 * Checks an XREADGROUP reply: nil when there was nothing, else
 * [[stream, [entry, ...]]] with exactly our one stream.
 */
store_status redis_reply_read(const redisReply *r, const char *key, size_t klen,
			      size_t max, store_entry_fn fn, void *arg,
			      size_t *count)
{
	const redisReply *s;
	bool stopped = false;

	if (r->type == REDIS_REPLY_NIL)
		return STORE_OK;
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_group_error(r);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 1)
		return STORE_ERR_PROTOCOL;
	s = r->element[0];
	if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
	    s->element[0]->type != REDIS_REPLY_STRING ||
	    s->element[0]->len != klen ||
	    memcmp(s->element[0]->str, key, klen) != 0)
		return STORE_ERR_PROTOCOL;
	return deliver_items(s->element[1], max, fn, arg, count, &stopped);
}

/* Redis stream id syntax: MS or MS-SEQ, each a decimal uint64_t. */
bool redis_stream_id_valid(const char *id)
{
	bool seq = false;
	uint64_t v = 0;
	size_t digits = 0;
	const char *p;

	for (p = id;; p++) {
		if (*p >= '0' && *p <= '9') {
			unsigned d = (unsigned)(*p - '0');

			if (v > (UINT64_MAX - d) / 10)
				return false;
			v = v * 10 + d;
			digits++;
			continue;
		}
		if (digits == 0 || (*p != '\0' && (*p != '-' || seq)))
			return false;
		if (*p == '\0')
			return true;
		seq = true;
		v = 0;
		digits = 0;
	}
}

store_status redis_reply_ack(const redisReply *r)
{
	long long n = 0;
	store_status st;

	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_group_error(r);
	st = redis_reply_integer(r, &n);
	/* 0 (not pending any more) is fine: acks may repeat. */
	if (st == STORE_OK && n != 0 && n != 1)
		st = STORE_ERR_PROTOCOL;
	return st;
}

/*
 * Checks an XAUTOCLAIM reply, [next-id, [entry, ...], [deleted-id, ...]]
 * (Redis 7; 6.2 leaves out the third part), delivers its entries and
 * copies the cursor out for the next round. Each call looks at one entry
 * at least, so a cursor that does not move is not the server's.
 */
store_status redis_reply_claim(const redisReply *r, size_t max,
			       store_entry_fn fn, void *arg, size_t *count,
			       bool *stopped, char *cursor)
{
	const redisReply *next;

	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_group_error(r);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->elements > 3 ||
	    (r->elements == 3 && r->element[2]->type != REDIS_REPLY_ARRAY))
		return STORE_ERR_PROTOCOL;
	next = r->element[0];
	if (next->type != REDIS_REPLY_STRING || next->len == 0 ||
	    next->len > STORE_QUEUE_ID_MAX ||
	    !redis_stream_id_valid(next->str) ||
	    (strcmp(next->str, cursor) == 0 && strcmp(cursor, "0-0") != 0))
		return STORE_ERR_PROTOCOL;
	memcpy(cursor, next->str, next->len + 1);
	return deliver_items(r->element[1], max, fn, arg, count, stopped);
}

/* Maps the increment script's answer: the new value as decimal text. */
store_status redis_reply_incr(const redisReply *r, int64_t *out)
{
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(r);
	if (r->type != REDIS_REPLY_STRING ||
	    store_parse_int64(r->str, r->len, out) != 0)
		return STORE_ERR_PROTOCOL;
	return STORE_OK;
}

store_status redis_reply_queue_id(const redisReply *r, char *id, size_t idcap)
{
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(r);
	if (r->type != REDIS_REPLY_STRING || r->len == 0 ||
	    r->len > STORE_QUEUE_ID_MAX || !redis_stream_id_valid(r->str))
		return STORE_ERR_PROTOCOL;
	if (id != NULL)
		(void)snprintf(id, idcap, "%s", r->str);
	return STORE_OK;
}

store_status redis_reply_range(const redisReply *r, size_t max,
			       store_member_fn fn, void *arg)
{
	const char *text = NULL;
	store_status st = STORE_OK;
	size_t i;

	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(r);
	if (r->type != REDIS_REPLY_ARRAY || r->elements > max)
		return STORE_ERR_PROTOCOL;
	/* Check every item first, so fn sees all of a reply or none of it. */
	for (i = 0; st == STORE_OK && i < r->elements; i++)
		st = queue_item_text(r->element[i], &text);
	for (i = 0; st == STORE_OK && i < r->elements; i++) {
		if (queue_item_text(r->element[i], &text) != STORE_OK ||
		    fn(text, arg) != 0)
			break;
	}
	return st;
}

store_status redis_reply_group_create(const redisReply *r)
{
	/* BUSYGROUP: it exists already, which is all we want. */
	if (r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	    strncmp(r->str, "BUSYGROUP", 9) == 0)
		return STORE_OK;
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_error(r);
	return redis_reply_status_is(r, "OK") ? STORE_OK : STORE_ERR_PROTOCOL;
}

/* XPENDING's summary: [count, lowest id, highest id, consumers]. */
store_status redis_reply_pending(const redisReply *r, size_t *out)
{
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_group_error(r);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[0]->integer < 0)
		return STORE_ERR_PROTOCOL;
	*out = (size_t)r->element[0]->integer;
	return STORE_OK;
}

store_status redis_reply_prune(const redisReply *r, size_t *removed)
{
	if (r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	    strstr(r->str, "no such key") != NULL)
		return STORE_NOT_FOUND;
	if (r->type == REDIS_REPLY_ERROR)
		return redis_reply_group_error(r);
	if (r->type != REDIS_REPLY_INTEGER || r->integer < 0)
		return STORE_ERR_PROTOCOL;
	*removed = (size_t)r->integer;
	return STORE_OK;
}
