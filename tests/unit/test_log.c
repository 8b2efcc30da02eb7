/*
 * Unit tests of the JSON-lines logger: every line it writes must parse as
 * one JSON object, whatever the message holds and however long it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>

#include "common/log.h"

/* Larger than any line the logger may write (4096 bytes). */
#define READ_MAX   16384
#define LINE_LIMIT ((size_t)4096)

/* A pipe whose read end does not block, so "nothing written" is testable. */
struct pipe_fixture {
	int rd, wr;
	char buf[READ_MAX + 1];
	size_t len;
};

static int pipe_setup(void **state)
{
	struct pipe_fixture *p = calloc(1, sizeof(*p));
	int fds[2];

	if (p == NULL)
		return -1;
	if (pipe(fds) != 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0) {
		free(p);
		return -1;
	}
	p->rd = fds[0];
	p->wr = fds[1];
	*state = p;
	return 0;
}

static int pipe_teardown(void **state)
{
	struct pipe_fixture *p = *state;

	(void)close(p->rd);
	(void)close(p->wr);
	free(p);
	return 0;
}

/* Reads what is waiting in the pipe; returns its length (0: nothing). */
static size_t drain(struct pipe_fixture *p)
{
	ssize_t n;

	p->len = 0;
	for (;;) {
		n = read(p->rd, p->buf + p->len, READ_MAX - p->len);
		if (n <= 0)
			break;
		p->len += (size_t)n;
	}
	assert_true(n == 0 || errno == EAGAIN || errno == EWOULDBLOCK);
	p->buf[p->len] = '\0';
	return p->len;
}

/*
 * Reads exactly one line from the pipe and parses it. The line must end
 * in "}\n", hold no other newline, and be one valid JSON object.
 */
static json_t *read_line(struct pipe_fixture *p)
{
	json_error_t jerr;
	json_t *obj;

	assert_true(drain(p) > 2);
	assert_true(p->len <= LINE_LIMIT);
	assert_memory_equal(p->buf + p->len - 2, "}\n", 2);
	assert_ptr_equal(strchr(p->buf, '\n'), p->buf + p->len - 1);
	obj = json_loadb(p->buf, p->len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL)
		print_error("invalid JSON (%s at %d): %s\n", jerr.text,
			    jerr.position, p->buf);
	assert_non_null(obj);
	assert_true(json_is_object(obj));
	return obj;
}

static const char *member(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_write_line_has_every_member(void **state)
{
	struct pipe_fixture *p = *state;
	static const char *const kv[] = {"user", "alice", "outcome", "ok",
					 NULL};
	log_ctx *lg = log_new(p->wr, LOG_LEVEL_INFO);
	json_t *obj;
	const char *ts;

	assert_non_null(lg);
	log_write(lg, LOG_LEVEL_INFO, "a1b2c3", "login", kv,
		  "user %s took %d ms", "alice", 42);
	obj = read_line(p);
	ts = member(obj, "ts");
	assert_non_null(ts);
	/* "2026-11-29T18:00:00.123Z" */
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	assert_string_equal(member(obj, "level"), "info");
	assert_string_equal(member(obj, "rid"), "a1b2c3");
	assert_string_equal(member(obj, "event"), "login");
	assert_string_equal(member(obj, "msg"), "user alice took 42 ms");
	assert_string_equal(member(obj, "user"), "alice");
	assert_string_equal(member(obj, "outcome"), "ok");
	assert_int_equal(json_object_size(obj), 7);
	json_decref(obj);
	log_free(lg);
}

static void test_write_optional_members_left_out(void **state)
{
	struct pipe_fixture *p = *state;
	static const char *const kv[] = {"k", NULL, NULL};
	log_ctx *lg = log_new(p->wr, LOG_LEVEL_DEBUG);
	json_t *obj;

	assert_non_null(lg);
	log_write(lg, LOG_LEVEL_DEBUG, NULL, NULL, kv, NULL);
	obj = read_line(p);
	assert_null(json_object_get(obj, "rid"));
	assert_null(json_object_get(obj, "msg"));
	assert_string_equal(member(obj, "event"), "log");
	assert_string_equal(member(obj, "level"), "debug");
	assert_string_equal(member(obj, "k"), "");
	json_decref(obj);
	log_free(lg);
}

static void test_write_control_chars_and_quotes_escaped(void **state)
{
	struct pipe_fixture *p = *state;
	static const char nasty[] =
		"say \"hi\" \\ back\nslash\r\ttab\x01\x1f\x7f end";
	static const char *const kv[] = {"q\"k\n", nasty, NULL};
	log_ctx *lg = log_new(p->wr, LOG_LEVEL_INFO);
	json_t *obj;

	assert_non_null(lg);
	log_info(lg, "r\"1", "ev\n", "%s", nasty);
	obj = read_line(p);
	/* Escaped on the wire, so no raw control byte is in the line. */
	assert_null(strchr(p->buf, '\r'));
	assert_null(strchr(p->buf, '\t'));
	assert_null(memchr(p->buf, 0x01, p->len));
	assert_string_equal(member(obj, "msg"), nasty);
	assert_string_equal(member(obj, "rid"), "r\"1");
	assert_string_equal(member(obj, "event"), "ev\n");
	json_decref(obj);

	log_write(lg, LOG_LEVEL_WARN, NULL, "x", kv, NULL);
	obj = read_line(p);
	assert_string_equal(member(obj, "q\"k\n"), nasty);
	json_decref(obj);
	log_free(lg);
}

static void test_write_bad_utf8_still_valid_json(void **state)
{
	struct pipe_fixture *p = *state;
	log_ctx *lg = log_new(p->wr, LOG_LEVEL_INFO);
	json_t *obj;

	assert_non_null(lg);
	/* Stray continuation, overlong '/', a surrogate, a cut sequence. */
	log_info(lg, NULL, "x",
		 "a\x80"
		 "b\xc0\xaf"
		 "c\xed\xa0\x80"
		 "d\xe2\x82");
	obj = read_line(p);
	assert_non_null(member(obj, "msg"));
	assert_int_equal(member(obj, "msg")[0], 'a');
	json_decref(obj);
	/* Well-formed UTF-8 passes through unchanged. */
	log_info(lg, NULL, "x", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
	obj = read_line(p);
	assert_string_equal(member(obj, "msg"),
			    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
	json_decref(obj);
	log_free(lg);
}

static void test_write_level_filtering(void **state)
{
	struct pipe_fixture *p = *state;
	log_ctx *lg = log_new(p->wr, LOG_LEVEL_WARN);
	json_t *obj;

	assert_non_null(lg);
	assert_true(log_enabled(lg, LOG_LEVEL_ERROR));
	assert_true(log_enabled(lg, LOG_LEVEL_WARN));
	assert_false(log_enabled(lg, LOG_LEVEL_INFO));
	assert_false(log_enabled(lg, LOG_LEVEL_DEBUG));
	assert_false(log_enabled(NULL, LOG_LEVEL_ERROR));
	log_info(lg, NULL, "x", "dropped");
	log_debug(lg, NULL, "x", "dropped");
	assert_int_equal(drain(p), 0);
	log_warn(lg, NULL, "x", "kept");
	obj = read_line(p);
	assert_string_equal(member(obj, "level"), "warn");
	json_decref(obj);
	log_error(lg, NULL, "x", "kept");
	obj = read_line(p);
	assert_string_equal(member(obj, "level"), "error");
	json_decref(obj);
	/* Out-of-range levels and a NULL logger write nothing. */
	log_write(lg, (log_level)-1, NULL, "x", NULL, "bad");
	log_write(NULL, LOG_LEVEL_ERROR, NULL, "x", NULL, "none");
	assert_int_equal(drain(p), 0);
	log_free(lg);
	log_free(NULL);
}

/* A record is written at every level, as level "audit", without msg. */
static void test_record_written_at_every_level(void **state)
{
	struct pipe_fixture *p = *state;
	log_ctx *lg = log_new(p->wr, LOG_LEVEL_ERROR);
	const char *kv[] = {"action", "user.add", "target", "bob", NULL};
	json_t *obj;

	assert_non_null(lg);
	log_record(lg, NULL, "audit", kv);
	obj = read_line(p);
	assert_string_equal(member(obj, "level"), "audit");
	assert_string_equal(member(obj, "event"), "audit");
	assert_string_equal(member(obj, "action"), "user.add");
	assert_string_equal(member(obj, "target"), "bob");
	assert_null(json_object_get(obj, "msg"));
	json_decref(obj);
	log_record(NULL, NULL, "audit", kv);
	assert_int_equal(drain(p), 0);
	log_free(lg);
}

static void test_write_long_message_truncated_valid(void **state)
{
	struct pipe_fixture *p = *state;
	log_ctx *lg = log_new(p->wr, LOG_LEVEL_INFO);
	char *big = malloc(LINE_LIMIT * 2);
	const char *kv[] = {"extra", NULL, "after", "x", NULL};
	json_t *obj;
	const char *msg;

	assert_non_null(lg);
	assert_non_null(big);
	memset(big, 'a', LINE_LIMIT * 2 - 1);
	big[LINE_LIMIT * 2 - 1] = '\0';
	kv[1] = big;
	log_write(lg, LOG_LEVEL_INFO, "rid", "big", kv, "%s", big);
	obj = read_line(p);
	msg = member(obj, "msg");
	assert_non_null(msg);
	assert_true(strlen(msg) > 1000);
	/* What was kept is a prefix of what was sent. */
	assert_memory_equal(msg, big, strlen(msg));
	assert_string_equal(member(obj, "rid"), "rid");
	json_decref(obj);
	free(big);
	log_free(lg);
}

/*
 * Messages of escapes (2 and 6 bytes on the wire) and multi-byte UTF-8,
 * at every alignment, so that the cut falls inside each kind of unit.
 */
static void test_write_cut_at_every_alignment_valid(void **state)
{
	static const char *const units[] = {"\"", "\x01", "\xc3\xa9",
					    "\xe2\x82\xac", "\xf0\x9f\x94\x91"};
	struct pipe_fixture *p = *state;
	log_ctx *lg = log_new(p->wr, LOG_LEVEL_INFO);
	char *text = malloc(LINE_LIMIT * 2);
	const char *kv[] = {"value", NULL, NULL};
	size_t u, pad, len, ulen;
	json_t *obj;

	assert_non_null(lg);
	assert_non_null(text);
	for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		ulen = strlen(units[u]);
		for (pad = 0; pad < 8; pad++) {
			memset(text, 'p', pad);
			for (len = pad; len + ulen < LINE_LIMIT * 2;
			     len += ulen)
				memcpy(text + len, units[u], ulen);
			text[len] = '\0';
			kv[1] = text;
			log_write(lg, LOG_LEVEL_INFO, NULL, "cut", kv, "%s",
				  text);
			obj = read_line(p);
			assert_non_null(member(obj, "msg"));
			json_decref(obj);
		}
	}
	free(text);
	log_free(lg);
}

static void test_write_long_key_dropped_valid(void **state)
{
	struct pipe_fixture *p = *state;
	log_ctx *lg = log_new(p->wr, LOG_LEVEL_INFO);
	char *key = malloc(LINE_LIMIT * 2);
	const char *kv[] = {NULL, "v", "short", "s", NULL};
	json_t *obj;

	assert_non_null(lg);
	assert_non_null(key);
	memset(key, 'k', LINE_LIMIT * 2 - 1);
	key[LINE_LIMIT * 2 - 1] = '\0';
	kv[0] = key;
	log_write(lg, LOG_LEVEL_INFO, NULL, "x", kv, "m");
	obj = read_line(p);
	assert_null(json_object_get(obj, key));
	assert_string_equal(member(obj, "short"), "s");
	json_decref(obj);
	free(key);
	log_free(lg);
}

static void test_value_words_kept_other_text_quoted(void **state)
{
	char out[LOG_VALUE_BUF], small[8];
	char long_in[400];

	(void)state;
	assert_string_equal(log_value("alice.b-c@ex:1/2", out, sizeof(out)),
			    "alice.b-c@ex:1/2");
	/* Text that would pose as more keys stays one quoted value. */
	assert_string_equal(
		log_value("admin outcome=ok ip=10.9.9.9", out, sizeof(out)),
		"\"admin outcome=ok ip=10.9.9.9\"");
	assert_string_equal(log_value("a\"b\\c", out, sizeof(out)),
			    "\"a\\\"b\\\\c\"");
	assert_string_equal(log_value("a\nb\xc3\xa9", out, sizeof(out)),
			    "\"a\\x0ab\\xc3\\xa9\"");
	assert_string_equal(log_value("", out, sizeof(out)), "\"\"");
	assert_string_equal(log_value(NULL, out, sizeof(out)), "\"\"");
	/* Cut to fit, still closed, never half an escape. */
	assert_string_equal(log_value("abcdefgh", small, sizeof(small)),
			    "\"abcde\"");
	assert_string_equal(log_value("a\001bcdef", small, sizeof(small)),
			    "\"a\\x01\"");
	assert_string_equal(log_value("ab\001cdef", small, sizeof(small)),
			    "\"ab\"");
	memset(long_in, '\n', sizeof(long_in) - 1);
	long_in[sizeof(long_in) - 1] = '\0';
	log_value(long_in, out, sizeof(out));
	assert_true(strlen(out) < sizeof(out));
	assert_int_equal(out[strlen(out) - 1], '"');
	assert_true(strlen(out) >= 2 + 64 * 4);
}

static void test_level_parse_names(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERROR);
	assert_int_equal(log_level_parse("warn"), LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("info"), LOG_LEVEL_INFO);
	assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("Info"), -1);
	assert_int_equal(log_level_parse("trace"), -1);
	assert_int_equal(log_level_parse(""), -1);
	assert_int_equal(log_level_parse(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_write_line_has_every_member, pipe_setup,
			pipe_teardown),
		cmocka_unit_test_setup_teardown(
			test_write_optional_members_left_out, pipe_setup,
			pipe_teardown),
		cmocka_unit_test_setup_teardown(
			test_write_control_chars_and_quotes_escaped, pipe_setup,
			pipe_teardown),
		cmocka_unit_test_setup_teardown(
			test_write_bad_utf8_still_valid_json, pipe_setup,
			pipe_teardown),
		cmocka_unit_test_setup_teardown(test_write_level_filtering,
						pipe_setup, pipe_teardown),
		cmocka_unit_test_setup_teardown(
			test_record_written_at_every_level, pipe_setup,
			pipe_teardown),
		cmocka_unit_test_setup_teardown(
			test_write_long_message_truncated_valid, pipe_setup,
			pipe_teardown),
		cmocka_unit_test_setup_teardown(
			test_write_cut_at_every_alignment_valid, pipe_setup,
			pipe_teardown),
		cmocka_unit_test_setup_teardown(
			test_write_long_key_dropped_valid, pipe_setup,
			pipe_teardown),
		cmocka_unit_test(test_value_words_kept_other_text_quoted),
		cmocka_unit_test(test_level_parse_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
