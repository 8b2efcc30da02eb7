/*
 * Unit tests of the directory's memo of parsed records
 * (authflow/directory/memo.h): it answers exactly what a parse of the
 * text given would, hands out copies the caller may change (or, to
 * readers that only read, the value it keeps), follows every
 * change of the text, keeps only the kinds of record it is for, and stays
 * right with many threads reading and changing the same keys.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "directory/memo.h"

#define THREADS 4
#define ROUNDS	20000
#define KEYS	(AF_DIR_MEMO_SLOTS * 2)

static json_t *parse(af_dir_memo *m, const char *key, const char *text)
{
	return af_dir__memo_parse(m, key, text, strlen(text));
}

static void test_same_as_a_parse(void **state)
{
	const char *text = "{\"client_id\":\"a1\",\"redirect_uris\":[\"https://"
			   "rp.example/cb\"],\"n\":3,\"ok\":true,\"x\":null,"
			   "\"f\":1.5}";
	af_dir_memo *m = af_dir__memo_new();
	json_t *want = json_loads(text, 0, NULL), *first, *second;

	(void)state;
	assert_non_null(m);
	first = parse(m, "app:a1", text);
	second = parse(m, "app:a1", text);
	assert_non_null(first);
	assert_non_null(second);
	assert_true(json_equal(first, want));
	assert_true(json_equal(second, want));
	/* Copies, never the kept value itself. */
	assert_ptr_not_equal(first, second);
	json_decref(first);
	json_decref(second);
	json_decref(want);
	af_dir__memo_free(m);
}

static void test_copies_are_the_callers(void **state)
{
	const char *text = "{\"name\":\"p\",\"assigned\":{\"groups\":[\"g\"]}}";
	af_dir_memo *m = af_dir__memo_new();
	json_t *a, *b;

	(void)state;
	a = parse(m, "policy:p", text);
	assert_non_null(a);
	assert_int_equal(json_object_set_new(a, "name", json_string("changed")),
			 0);
	assert_int_equal(json_array_append_new(
				 json_object_get(json_object_get(a, "assigned"),
						 "groups"),
				 json_string("h")),
			 0);
	b = parse(m, "policy:p", text);
	assert_string_equal(json_string_value(json_object_get(b, "name")), "p");
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(b, "assigned"), "groups")),
			 1);
	json_decref(a);
	json_decref(b);
	af_dir__memo_free(m);
}

static json_t *share(af_dir_memo *m, const char *key, const char *text)
{
	return af_dir__memo_share(m, key, text, strlen(text));
}

/*
 * A shared value is the one the memo keeps: the same object for every
 * reader of the same text, equal to a parse, never the copy a parse hands
 * out; and it stays whole for its reader when the text changes (the memo
 * lets go of it) and when the memo is freed.
 */
static void test_shared_values(void **state)
{
	const char *one = "{\"v\":1,\"uris\":[\"https://rp.example/cb\"]}";
	af_dir_memo *m = af_dir__memo_new();
	json_t *want = json_loads(one, 0, NULL), *a, *b, *c, *d;

	(void)state;
	assert_non_null(m);
	a = share(m, "app:a", one);
	b = share(m, "app:a", one);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_true(json_equal(a, want));
	c = parse(m, "app:a", one);
	assert_ptr_not_equal(c, a);
	assert_true(json_equal(c, want));
	/* The text changed: a new value; the old one is still a's. */
	d = share(m, "app:a", "{\"v\":2}");
	assert_ptr_not_equal(d, a);
	assert_int_equal(json_integer_value(json_object_get(d, "v")), 2);
	assert_true(json_equal(a, want));
	json_decref(b);
	json_decref(c);
	json_decref(d);
	af_dir__memo_free(m);
	assert_true(json_equal(a, want));
	json_decref(a);
	/* Without a memo it is a plain parse. */
	a = af_dir__memo_share(NULL, "app:a", one, strlen(one));
	assert_true(json_equal(a, want));
	json_decref(a);
	json_decref(want);
}

/* The value of "v" in what the memo gives for key and text. */
static json_int_t v_of(af_dir_memo *m, const char *key, const char *text)
{
	json_t *o = parse(m, key, text);
	json_int_t v = json_integer_value(json_object_get(o, "v"));

	json_decref(o);
	return v;
}

static void test_follows_every_change(void **state)
{
	af_dir_memo *m = af_dir__memo_new();

	(void)state;
	assert_int_equal(v_of(m, "app:a", "{\"v\":1}"), 1);
	/* Same length, one byte different. */
	assert_int_equal(v_of(m, "app:a", "{\"v\":2}"), 2);
	/* Another key with the old text gets its own value. */
	assert_int_equal(v_of(m, "app:b", "{\"v\":1}"), 1);
	assert_int_equal(v_of(m, "app:a", "{\"v\":2}"), 2);
	af_dir__memo_free(m);
}

static void test_bad_and_big_text(void **state)
{
	af_dir_memo *m = af_dir__memo_new();
	size_t n = AF_DIR_MEMO_TEXT_MAX + 64, i;
	char *big = malloc(n + 1);
	json_t *v, *other;

	(void)state;
	assert_null(parse(m, "app:bad", "{\"v\":"));
	assert_null(parse(m, "app:bad", ""));
	/* Not an object is still what a parse gives; the caller judges. */
	v = parse(m, "app:arr", "[1,2]");
	assert_true(json_is_array(v));
	json_decref(v);
	assert_non_null(big);
	memcpy(big, "{\"s\":\"", 6);
	for (i = 6; i < n - 2; i++)
		big[i] = 'a';
	memcpy(big + n - 2, "\"}", 2);
	big[n] = '\0';
	v = parse(m, "app:big", big);
	assert_int_equal(json_string_length(json_object_get(v, "s")), n - 8);
	json_decref(v);
	v = parse(m, "app:big", big);
	assert_int_equal(json_string_length(json_object_get(v, "s")), n - 8);
	json_decref(v);
	/* Too long to keep: every reader gets a value of its own. */
	v = af_dir__memo_share(m, "app:big", big, n);
	other = af_dir__memo_share(m, "app:big", big, n);
	assert_non_null(v);
	assert_ptr_not_equal(v, other);
	json_decref(v);
	json_decref(other);
	/* Without a memo it simply parses. */
	v = af_dir__memo_parse(NULL, "app:x", "{\"v\":7}", 7);
	assert_int_equal(json_integer_value(json_object_get(v, "v")), 7);
	json_decref(v);
	free(big);
	af_dir__memo_free(m);
}

/*
 * Texts up to AF_DIR_MEMO_TEXT_MAX are kept until they add up to the
 * budget; the ones past it are parsed and handed out all the same.
 */
static void test_budget(void **state)
{
	size_t n = AF_DIR_MEMO_TEXT_MAX - 64, keys = 2 * AF_DIR_MEMO_BUDGET / n;
	size_t i, kept = 0;
	af_dir_memo *m = af_dir__memo_new();
	char *big = malloc(n + 1), key[32];

	(void)state;
	assert_non_null(m);
	assert_non_null(big);
	memcpy(big, "{\"s\":\"", 6);
	memset(big + 6, 'b', n - 8);
	memcpy(big + n - 2, "\"}", 2);
	big[n] = '\0';
	for (i = 0; i < keys; i++) {
		json_t *a, *b;

		snprintf(key, sizeof(key), "policy:p%zu", i);
		a = af_dir__memo_share(m, key, big, n);
		b = af_dir__memo_share(m, key, big, n);
		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(json_string_length(json_object_get(a, "s")),
				 n - 8);
		assert_true(json_equal(a, b));
		kept += a == b;
		json_decref(a);
		json_decref(b);
	}
	/* Some kept (the first one at least), never past the budget. */
	assert_true(kept >= 1);
	assert_true(kept <= AF_DIR_MEMO_BUDGET / n);
	free(big);
	af_dir__memo_free(m);
}

static void test_kinds_kept(void **state)
{
	(void)state;
	assert_true(af_dir__memo_wanted("app:abc"));
	assert_true(af_dir__memo_wanted("policy:default"));
	assert_true(af_dir__memo_wanted("group:nurses"));
	assert_true(af_dir__memo_wanted("ou:ward-3"));
	assert_false(af_dir__memo_wanted("user:alice"));
	assert_false(af_dir__memo_wanted("sub:abc"));
	assert_false(af_dir__memo_wanted("app_name:x"));
	assert_false(af_dir__memo_wanted("apps"));
	assert_false(af_dir__memo_wanted(NULL));
}

typedef struct racer {
	af_dir_memo *m;
	int id;
	int wrong;
} racer;

/*
 * Every thread reads and rewrites keys that collide in the slots (twice
 * as many keys as slots): whatever it reads must be the text it gave.
 */
static void *race(void *arg)
{
	racer *r = arg;
	char key[32], text[64];
	int i;

	for (i = 0; i < ROUNDS; i++) {
		int k = (i * 7 + r->id * 13) % KEYS;
		int v = (i + r->id) % 5;
		json_t *o;

		(void)snprintf(key, sizeof(key), "app:%d", k);
		(void)snprintf(text, sizeof(text), "{\"k\":%d,\"v\":%d}", k, v);
		/* Shared values and copies, of slots being replaced. */
		o = i % 2 == 0 ? share(r->m, key, text)
			       : parse(r->m, key, text);
		if (json_integer_value(json_object_get(o, "k")) != k ||
		    json_integer_value(json_object_get(o, "v")) != v)
			r->wrong++;
		json_decref(o);
	}
	return NULL;
}

static void test_threads(void **state)
{
	af_dir_memo *m = af_dir__memo_new();
	pthread_t t[THREADS];
	racer r[THREADS];
	int i;

	(void)state;
	for (i = 0; i < THREADS; i++) {
		r[i].m = m;
		r[i].id = i;
		r[i].wrong = 0;
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].wrong, 0);
	}
	af_dir__memo_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_a_parse),
		cmocka_unit_test(test_copies_are_the_callers),
		cmocka_unit_test(test_shared_values),
		cmocka_unit_test(test_follows_every_change),
		cmocka_unit_test(test_bad_and_big_text),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_kinds_kept),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
