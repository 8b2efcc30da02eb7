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

/* An error reply holding a copy of text in buf (cap bytes). */
static redisReply error_reply(const char *text, char *buf, size_t cap)
{
	redisReply r;

	memset(&r, 0, sizeof(r));
	assert_true(strlen(text) < cap);
	memcpy(buf, text, strlen(text) + 1);
	r.type = REDIS_REPLY_ERROR;
	r.str = buf;
	r.len = strlen(text);
	return r;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_codes_mapped),
		cmocka_unit_test(test_codes_wrapped_by_a_script_mapped),
		cmocka_unit_test(test_lookalikes_not_mapped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
