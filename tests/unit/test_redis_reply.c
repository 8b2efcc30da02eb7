/*
 * Unit tests of how Redis error replies map to store statuses
 * (common/store_redis_reply.h): the code as the reply's own or wrapped
 * by a script's call, as Redis 6.2 words it, and which errors say the
 * server is no primary, so that the link to it is dropped.
 */
#include <stdbool.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "store_redis_reply.h"

/* A reply of type holding a copy of text in buf (cap bytes). */
static redisReply reply_of(int type, const char *text, char *buf, size_t cap)
{
	redisReply r;

	memset(&r, 0, sizeof(r));
	assert_true(strlen(text) < cap);
	memcpy(buf, text, strlen(text) + 1);
	r.type = type;
	r.str = buf;
	r.len = strlen(text);
	return r;
}

static redisReply error_reply(const char *text, char *buf, size_t cap)
{
	return reply_of(REDIS_REPLY_ERROR, text, buf, cap);
}

static void expect(const char *text, store_status st, bool demoted)
{
	char buf[256];
	redisReply r = error_reply(text, buf, sizeof(buf));

	assert_int_equal(redis_reply_error(&r), st);
	assert_int_equal(redis_reply_demoted(&r), demoted);
}

static void test_own_codes_mapped(void **state)
{
	(void)state;
	expect("READONLY You can't write against a read only replica.",
	       STORE_ERR_UNAVAILABLE, true);
	expect("MASTERDOWN Link with MASTER is down and "
	       "replica-serve-stale-data is set to 'no'.",
	       STORE_ERR_UNAVAILABLE, true);
	expect("OOM command not allowed when used memory > 'maxmemory'.",
	       STORE_ERR_UNAVAILABLE, false);
	expect("LOADING Redis is loading the dataset in memory",
	       STORE_ERR_UNAVAILABLE, false);
	expect("BUSY Redis is busy running a script.", STORE_ERR_UNAVAILABLE,
	       false);
	expect("WRONGTYPE Operation against a key holding the wrong kind of "
	       "value",
	       STORE_ERR_ARG, false);
	expect("NOPERM this user has no permissions to run the 'eval' command",
	       STORE_ERR_CONFIG, false);
	expect("ERR unknown command 'FOO'", STORE_ERR_PROTOCOL, false);
}

/* Redis 6.2 wraps the error of a script's call in its own. */
static void test_codes_wrapped_by_a_script_mapped(void **state)
{
	(void)state;
	expect("ERR Error running script (call to f_0123): @user_script:1: "
	       "@user_script: 1: -READONLY You can't write against a read "
	       "only replica.",
	       STORE_ERR_UNAVAILABLE, true);
	expect("ERR Error running script (call to f_0123): @user_script:1: "
	       "@user_script: 1: -OOM command not allowed when used memory "
	       "> 'maxmemory'.",
	       STORE_ERR_UNAVAILABLE, false);
}

/* A code's letters inside other words are not the code. */
static void test_lookalikes_not_mapped(void **state)
{
	char buf[64];
	redisReply r = error_reply("READONLY", buf, sizeof(buf));

	(void)state;
	expect("ERR a value named -READONLYX", STORE_ERR_PROTOCOL, false);
	expect("ERR BOOM", STORE_ERR_PROTOCOL, false);
	expect("READONLYX", STORE_ERR_PROTOCOL, false);
	/* Only error replies say anything of the server. */
	assert_true(redis_reply_demoted(&r));
	r.type = REDIS_REPLY_STATUS;
	assert_false(redis_reply_demoted(&r));
	assert_false(redis_reply_demoted(NULL));
}

/*
 * INFO memory: Redis evicts only with a maxmemory and a policy other than
 * noeviction; a reply without either field, or with a bad one, is none
 * Redis gives.
 */
static void test_eviction_from_info_memory(void **state)
{
	static const struct {
		const char *text;
		store_status st;
		int evicts;
		const char *policy;
	} cases[] = {
		{"# Memory\r\nused_memory:1\r\nmaxmemory:0\r\n"
		 "maxmemory_human:0B\r\nmaxmemory_policy:allkeys-lru\r\n",
		 STORE_OK, 0, "allkeys-lru"},
		{"# Memory\r\nmaxmemory:104857600\r\n"
		 "maxmemory_policy:noeviction\r\n",
		 STORE_OK, 0, "noeviction"},
		{"# Memory\r\nmaxmemory:104857600\r\n"
		 "maxmemory_policy:volatile-lru\r\nmem_allocator:jemalloc\r\n",
		 STORE_OK, 1, "volatile-lru"},
		{"maxmemory_policy:allkeys-lfu\nmaxmemory:5\n", STORE_OK, 1,
		 "allkeys-lfu"},
		{"# Memory\r\nmaxmemory:104857600\r\n", STORE_ERR_PROTOCOL, 0,
		 ""},
		{"maxmemory:1x\r\nmaxmemory_policy:noeviction\r\n",
		 STORE_ERR_PROTOCOL, 0, ""},
		{"maxmemory:1\r\nmaxmemory_policy:\x1b[2J\r\n",
		 STORE_ERR_PROTOCOL, 0, ""},
		{"maxmemory_human:1\r\nmaxmemory_policy:noeviction\r\n",
		 STORE_ERR_PROTOCOL, 0, ""},
	};
	char policy[REDIS_POLICY_MAX], buf[256];
	redisReply r;
	size_t i;
	int evicts;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = reply_of(REDIS_REPLY_STRING, cases[i].text, buf,
			     sizeof(buf));
		evicts = -1;
		policy[0] = '\0';
		assert_int_equal(redis_reply_eviction(&r, &evicts, policy,
						      sizeof(policy)),
				 cases[i].st);
		if (cases[i].st != STORE_OK)
			continue;
		assert_int_equal(evicts, cases[i].evicts);
		assert_string_equal(policy, cases[i].policy);
	}
	r = error_reply("NOPERM this user has no permissions to run the "
			"'info' command",
			buf, sizeof(buf));
	assert_int_equal(
		redis_reply_eviction(&r, &evicts, policy, sizeof(policy)),
		STORE_ERR_CONFIG);
}

/* TIME: two decimal strings, seconds and microseconds, and nothing else. */
static void test_time_two_decimals(void **state)
{
	static const struct {
		const char *sec, *usec;
		store_status st;
		int64_t ms;
	} cases[] = {
		{"1796674723", "247685", STORE_OK, 1796674723247},
		{"0", "0", STORE_OK, 0},
		{"1796674723", "999999", STORE_OK, 1796674723999},
		{"1796674723", "1000000", STORE_ERR_PROTOCOL, 0},
		{"-5", "0", STORE_ERR_PROTOCOL, 0},
		{"", "0", STORE_ERR_PROTOCOL, 0},
		{"12a", "0", STORE_ERR_PROTOCOL, 0},
		{"9999999999999999999", "0", STORE_ERR_PROTOCOL, 0},
	};
	char b0[32], b1[32], buf[64];
	redisReply r, e0, e1, *el[2] = {&e0, &e1};
	size_t i;
	int64_t ms;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e0 = reply_of(REDIS_REPLY_STRING, cases[i].sec, b0, sizeof(b0));
		e1 = reply_of(REDIS_REPLY_STRING, cases[i].usec, b1,
			      sizeof(b1));
		memset(&r, 0, sizeof(r));
		r.type = REDIS_REPLY_ARRAY;
		r.elements = 2;
		r.element = el;
		ms = -1;
		assert_int_equal(redis_reply_time(&r, &ms), cases[i].st);
		if (cases[i].st == STORE_OK)
			assert_int_equal(ms, cases[i].ms);
	}
	/* One element, an integer, a string: none is TIME's answer. */
	r.elements = 1;
	assert_int_equal(redis_reply_time(&r, &ms), STORE_ERR_PROTOCOL);
	e1.type = REDIS_REPLY_INTEGER;
	r.elements = 2;
	assert_int_equal(redis_reply_time(&r, &ms), STORE_ERR_PROTOCOL);
	r = reply_of(REDIS_REPLY_STRING, "1796674723", buf, sizeof(buf));
	assert_int_equal(redis_reply_time(&r, &ms), STORE_ERR_PROTOCOL);
	r = error_reply("NOPERM this user has no permissions to run the "
			"'time' command",
			buf, sizeof(buf));
	assert_int_equal(redis_reply_time(&r, &ms), STORE_ERR_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_codes_mapped),
		cmocka_unit_test(test_codes_wrapped_by_a_script_mapped),
		cmocka_unit_test(test_lookalikes_not_mapped),
		cmocka_unit_test(test_eviction_from_info_memory),
		cmocka_unit_test(test_time_two_decimals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
