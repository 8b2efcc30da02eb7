/*
 * Fuzz target: what the redis backend reads from the server. The input
 * is RESP, the protocol's own text ("*2\r\n$1\r\n0\r\n*0\r\n"), read by
 * hiredis' reader as the backend reads it; each complete reply is given
 * to every check of store_redis_reply.h, as the answer to each command.
 * Nothing may crash, and what a check accepts must keep the bounds it
 * promises: values, members, ids and entry texts within the store's caps
 * and without a NUL inside where they are handed on as C strings.
 *
 * The reader builds replies with functions of our own that refuse an
 * array of more than FUZZ_ELEMENTS_MAX elements: hiredis would allocate
 * whatever count the text declares, which is a fuzzer's out-of-memory,
 * not a finding in the checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include "store_redis_reply.h"

#define FUZZ_ELEMENTS_MAX 64
#define FUZZ_REPLIES_MAX  8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* --- building replies ------------------------------------------------------
 */

static void reply_free(void *obj)
{
	redisReply *r = obj;
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		reply_free(r->element[i]);
	free(r->element);
	free(r->str);
	free(r);
}

/* A new reply of the task's type, put in its parent's array. */
static redisReply *reply_new(const redisReadTask *task, int type)
{
	redisReply *r = calloc(1, sizeof(*r));
	redisReply *parent;

	if (r == NULL)
		return NULL;
	r->type = type;
	if (task->parent != NULL) {
		parent = task->parent->obj;
		if (parent->type != REDIS_REPLY_ARRAY || task->idx < 0 ||
		    (size_t)task->idx >= parent->elements)
			abort();
		parent->element[task->idx] = r;
	}
	return r;
}

static void *make_string(const redisReadTask *task, char *str, size_t len)
{
	redisReply *r;
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return NULL;
	memcpy(copy, str, len);
	copy[len] = '\0';
	r = reply_new(task, task->type);
	if (r == NULL) {
		free(copy);
		return NULL;
	}
	r->str = copy;
	r->len = len;
	return r;
}

static void *make_array(const redisReadTask *task, int elements)
{
	redisReply *r;

	if (elements < 0 || elements > FUZZ_ELEMENTS_MAX)
		return NULL;
	r = reply_new(task, REDIS_REPLY_ARRAY);
	if (r == NULL)
		return NULL;
	if (elements > 0) {
		r->element = calloc((size_t)elements, sizeof(redisReply *));
		if (r->element == NULL) {
			/* Not yet in a parent's array when it is a top one. */
			if (task->parent == NULL)
				free(r);
			return NULL;
		}
	}
	r->elements = (size_t)elements;
	return r;
}

static void *make_integer(const redisReadTask *task, long long value)
{
	redisReply *r = reply_new(task, REDIS_REPLY_INTEGER);

	if (r != NULL)
		r->integer = value;
	return r;
}

static void *make_nil(const redisReadTask *task)
{
	return reply_new(task, REDIS_REPLY_NIL);
}

/* --- the checks ------------------------------------------------------------
 */

static void check_text(const char *text, size_t max)
{
	if (text == NULL || strlen(text) > max)
		abort();
}

static int member_seen(const char *member, void *arg)
{
	(void)arg;
	check_text(member, STORE_VALUE_MAX);
	return 0;
}

/* Takes every entry, or stops after the first (arg non-NULL). */
static int entry_seen(const char *id, const char *text, void *arg)
{
	check_text(id, STORE_QUEUE_ID_MAX);
	check_text(text, STORE_VALUE_MAX);
	if (id[0] == '\0')
		abort();
	return arg != NULL;
}

static void check_scan(const redisReply *r)
{
	char cursor[REDIS_CURSOR_MAX];
	const redisReply *e;
	size_t i;

	if (redis_reply_scan(r, cursor) != STORE_OK)
		return;
	check_text(cursor, REDIS_CURSOR_MAX - 1);
	for (i = 0; i < r->element[1]->elements; i++) {
		e = r->element[1]->element[i];
		if (e->type != REDIS_REPLY_STRING ||
		    e->len > STORE_MEMBER_MAX || strlen(e->str) != e->len)
			abort();
	}
}

static void check_queue(const redisReply *r)
{
	char id[STORE_QUEUE_ID_MAX + 1];
	char cursor[STORE_QUEUE_ID_MAX + 1];
	size_t count = 0, n = 0;
	bool stopped = false;
	int stop = 1;

	if (redis_reply_queue_id(r, id, sizeof(id)) == STORE_OK)
		check_text(id, STORE_QUEUE_ID_MAX);
	(void)redis_reply_queue_id(r, NULL, 0);
	(void)redis_reply_range(r, 1, member_seen, NULL);
	(void)redis_reply_range(r, FUZZ_ELEMENTS_MAX, member_seen, NULL);
	(void)redis_reply_read(r, "q", 1, FUZZ_ELEMENTS_MAX, entry_seen, NULL,
			       &count);
	(void)redis_reply_read(r, "q", 1, 2, entry_seen, &stop, &count);
	if (count > FUZZ_ELEMENTS_MAX + 2)
		abort();
	memcpy(cursor, "0-0", 4);
	if (redis_reply_claim(r, FUZZ_ELEMENTS_MAX, entry_seen, NULL, &n,
			      &stopped, cursor) == STORE_OK &&
	    (!redis_stream_id_valid(cursor) || n > FUZZ_ELEMENTS_MAX))
		abort();
	memcpy(cursor, "1-1", 4);
	(void)redis_reply_claim(r, 1, entry_seen, &stop, &n, &stopped, cursor);
	(void)redis_reply_ack(r);
	(void)redis_reply_pending(r, &n);
	(void)redis_reply_prune(r, &n);
	(void)redis_reply_group_create(r);
	if (r->type == REDIS_REPLY_ERROR)
		(void)redis_reply_group_error(r);
}

/* TIME: a time no earlier than 1970 and of whole milliseconds. */
static void check_time(const redisReply *r)
{
	int64_t ms = -1;

	if (redis_reply_time(r, &ms) == STORE_OK && ms < 0)
		abort();
}

/* INFO memory: the policy is a printable word that fits its buffer. */
static void check_eviction(const redisReply *r)
{
	char policy[REDIS_POLICY_MAX], tiny[2];
	int evicts = -1;
	size_t i;

	if (redis_reply_eviction(r, &evicts, policy, sizeof(policy)) ==
	    STORE_OK) {
		if ((evicts != 0 && evicts != 1) || policy[0] == '\0' ||
		    strlen(policy) >= sizeof(policy))
			abort();
		for (i = 0; policy[i] != '\0'; i++)
			if (policy[i] <= ' ' || policy[i] > '~')
				abort();
	}
	if (redis_reply_eviction(r, &evicts, tiny, sizeof(tiny)) == STORE_OK &&
	    strlen(tiny) > 1)
		abort();
}

static void check_reply(const redisReply *r)
{
	store_value v = {NULL, 0};
	long long n = 0;
	int64_t i = 0;

	(void)redis_reply_status_is(r, "OK");
	if (r->type == REDIS_REPLY_ERROR)
		(void)redis_reply_error(r);
	if (redis_reply_value(r, &v) == STORE_OK) {
		if (v.len > STORE_VALUE_MAX || v.data == NULL)
			abort();
		store_value_free(&v);
	}
	(void)redis_reply_integer(r, &n);
	(void)redis_reply_set(r, 0);
	(void)redis_reply_set(r, STORE_SET_NX);
	(void)redis_reply_cas(r);
	(void)redis_reply_incr(r, &i);
	check_eviction(r);
	check_time(r);
	check_scan(r);
	check_queue(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static redisReplyObjectFunctions fns = {
		make_string, make_array, make_integer, make_nil, reply_free,
	};
	redisReader *rd = redisReaderCreateWithFunctions(&fns);
	void *reply;
	int i;

	if (rd == NULL)
		return 0;
	if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
		for (i = 0; i < FUZZ_REPLIES_MAX; i++) {
			reply = NULL;
			if (redisReaderGetReply(rd, &reply) != REDIS_OK ||
			    reply == NULL)
				break;
			check_reply(reply);
			reply_free(reply);
		}
	}
	redisReaderFree(rd);
	return 0;
}
