/* Unit tests of session/known.c: the known-browser cookie and its key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/store.h"
#include "common/util.h"
#include "session/known.h"

#define NOW  1800000000
#define LIFE ((int64_t)180 * 86400)

/* A user as the directory would have them: name, sub, generation. */
#define U(name) (&(af_known_user){(name), "0f3c-sub", 1})

static const uint8_t key1[AF_KNOWN_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t key2[AF_KNOWN_KEY_BYTES] = {8, 7, 6, 5, 4, 3, 2, 1};

static void add(const char *value, const char *user, int64_t now, char *out)
{
	assert_int_equal(af_known_add(key1, value, U(user), now, LIFE, out,
				      AF_KNOWN_VALUE_BUF),
			 AF_KNOWN_OK);
}

static void test_af_known_add_then_match(void **state)
{
	char v[AF_KNOWN_VALUE_BUF], id[AF_KNOWN_ID_BUF], id2[AF_KNOWN_ID_BUF];

	(void)state;
	add(NULL, "Alice", NOW, v);
	assert_int_equal(strlen(v), AF_KNOWN_ENTRY_LEN);
	assert_true(af_b64url_text_ok(v, strlen(v)));
	/* The name is folded as the throttle folds it. */
	assert_int_equal(
		af_known_match(key1, v, U("alice"), NOW + 60, LIFE, id),
		AF_KNOWN_OK);
	assert_int_equal(strlen(id), 32);
	assert_int_equal(af_known_match(key1, v, U("ALICE"), NOW, LIFE, id2),
			 AF_KNOWN_OK);
	assert_string_equal(id, id2);
	/* Another name, another key: not known. */
	assert_int_equal(af_known_match(key1, v, U("alicf"), NOW, LIFE, id),
			 AF_KNOWN_NONE);
	assert_string_equal(id, "");
	assert_int_equal(af_known_match(key2, v, U("alice"), NOW, LIFE, id),
			 AF_KNOWN_NONE);
	/* A new entry for the same user is a new browser id. */
	add(NULL, "alice", NOW + 1, v);
	assert_int_equal(
		af_known_match(key1, v, U("alice"), NOW + 1, LIFE, id2),
		AF_KNOWN_OK);
	assert_string_not_equal(id, id2);
}

/*
 * An entry is for one user as they are now: a new password, ended
 * sessions or a disabled account (a new generation), or a user removed and
 * made again under the name (a new sub) forget it.
 */
static void test_af_known_bound_to_sub_and_generation(void **state)
{
	char v[AF_KNOWN_VALUE_BUF], id[AF_KNOWN_ID_BUF];
	const af_known_user before = {"erin", "sub-a", 3};
	const af_known_user next_gen = {"erin", "sub-a", 4};
	const af_known_user made_again = {"erin", "sub-b", 3};
	const af_known_user no_sub = {"erin", "", 3};

	(void)state;
	assert_int_equal(
		af_known_add(key1, NULL, &before, NOW, LIFE, v, sizeof(v)),
		AF_KNOWN_OK);
	assert_int_equal(af_known_match(key1, v, &before, NOW, LIFE, id),
			 AF_KNOWN_OK);
	assert_int_equal(af_known_match(key1, v, &next_gen, NOW, LIFE, id),
			 AF_KNOWN_NONE);
	assert_int_equal(af_known_match(key1, v, &made_again, NOW, LIFE, id),
			 AF_KNOWN_NONE);
	assert_int_equal(af_known_match(key1, v, &no_sub, NOW, LIFE, id),
			 AF_KNOWN_NONE);
	assert_int_equal(
		af_known_add(key1, NULL, &no_sub, NOW, LIFE, v, sizeof(v)),
		AF_KNOWN_INVALID);
}

static void test_af_known_lifetime_and_clock(void **state)
{
	char v[AF_KNOWN_VALUE_BUF], id[AF_KNOWN_ID_BUF];

	(void)state;
	add(NULL, "bob", NOW, v);
	assert_int_equal(
		af_known_match(key1, v, U("bob"), NOW + LIFE - 1, LIFE, id),
		AF_KNOWN_OK);
	assert_int_equal(
		af_known_match(key1, v, U("bob"), NOW + LIFE, LIFE, id),
		AF_KNOWN_NONE);
	/* A shorter setting ends older entries at once. */
	assert_int_equal(
		af_known_match(key1, v, U("bob"), NOW + 86400, 86400, id),
		AF_KNOWN_NONE);
	/* Issued ahead of the clock: a small step is taken, more is not. */
	assert_int_equal(af_known_match(key1, v, U("bob"),
					NOW - AF_KNOWN_SKEW_S, LIFE, id),
			 AF_KNOWN_OK);
	assert_int_equal(af_known_match(key1, v, U("bob"),
					NOW - AF_KNOWN_SKEW_S - 1, LIFE, id),
			 AF_KNOWN_NONE);
}

/* Every byte of an entry counts: a changed time or MAC is not known. */
static void test_af_known_tampered(void **state)
{
	char v[AF_KNOWN_VALUE_BUF], t[AF_KNOWN_VALUE_BUF], id[AF_KNOWN_ID_BUF];

	(void)state;
	add(NULL, "carol", NOW, v);
	for (size_t i = 0; i < AF_KNOWN_ENTRY_LEN; i++) {
		memcpy(t, v, sizeof(t));
		/* 'A' and 'Q' differ in their high bits. */
		if (t[i] == 'A')
			t[i] = 'Q';
		else
			t[i] = 'A';
		assert_int_equal(
			af_known_match(key1, t, U("carol"), NOW, LIFE, id),
			AF_KNOWN_NONE);
	}
}

/* Whatever a client sends is read as no entry, never more. */
static void test_af_known_garbage(void **state)
{
	static const char *const values[] = {
		"",
		".",
		"....",
		"a.b.c",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"////////////////////////////////",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
		 "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
		 "\xff\xff"),
		"__________________________________"};
	char v[AF_KNOWN_VALUE_BUF], id[AF_KNOWN_ID_BUF];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		assert_int_equal(af_known_match(key1, values[i], U("dave"), NOW,
						LIFE, id),
				 AF_KNOWN_NONE);
		/* Adding drops what is not an entry. */
		add(values[i], "dave", NOW, v);
		assert_int_equal(strlen(v), AF_KNOWN_ENTRY_LEN);
	}
	assert_int_equal(af_known_match(key1, NULL, U("dave"), NOW, LIFE, id),
			 AF_KNOWN_NONE);
	assert_int_equal(af_known_match(key1, "x", U(""), NOW, LIFE, id),
			 AF_KNOWN_NONE);
	assert_int_equal(af_known_match(NULL, "x", U("dave"), NOW, LIFE, id),
			 AF_KNOWN_INVALID);
	assert_int_equal(af_known_add(key1, NULL, U("dave"), NOW, LIFE, v, 10),
			 AF_KNOWN_INVALID);
	assert_int_equal(
		af_known_add(key1, NULL, U(""), NOW, LIFE, v, sizeof(v)),
		AF_KNOWN_INVALID);
}

/*
 * Users share a browser (a ward's workstation): each keeps an entry, the
 * newest first, the user's own renewed rather than doubled, and the
 * oldest dropped past AF_KNOWN_ENTRIES_MAX.
 */
static void test_af_known_shared_browser(void **state)
{
	char v[AF_KNOWN_VALUE_BUF], w[AF_KNOWN_VALUE_BUF];
	char id[AF_KNOWN_ID_BUF], before[AF_KNOWN_ID_BUF];
	char name[16];

	(void)state;
	add(NULL, "u0", NOW, v);
	for (int i = 1; i < AF_KNOWN_ENTRIES_MAX; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		add(v, name, NOW + i, w);
		memcpy(v, w, sizeof(v));
	}
	assert_int_equal(strlen(v),
			 AF_KNOWN_ENTRIES_MAX * (AF_KNOWN_ENTRY_LEN + 1) - 1);
	for (int i = 0; i < AF_KNOWN_ENTRIES_MAX; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(
			af_known_match(key1, v, U(name), NOW + 10, LIFE, id),
			AF_KNOWN_OK);
	}
	/* u2 again: renewed in front, nobody dropped. */
	assert_int_equal(
		af_known_match(key1, v, U("u2"), NOW + 10, LIFE, before),
		AF_KNOWN_OK);
	add(v, "u2", NOW + 10, w);
	assert_int_equal(strlen(w), strlen(v));
	assert_int_equal(af_known_match(key1, w, U("u2"), NOW + 10, LIFE, id),
			 AF_KNOWN_OK);
	assert_string_not_equal(id, before);
	assert_int_equal(af_known_match(key1, w, U("u0"), NOW + 10, LIFE, id),
			 AF_KNOWN_OK);
	/* A sixth user: the oldest entry (u0, last in line) goes. */
	add(w, "u9", NOW + 11, v);
	assert_int_equal(strlen(v), strlen(w));
	assert_int_equal(af_known_match(key1, v, U("u9"), NOW + 11, LIFE, id),
			 AF_KNOWN_OK);
	assert_int_equal(af_known_match(key1, v, U("u0"), NOW + 11, LIFE, id),
			 AF_KNOWN_NONE);
	assert_int_equal(af_known_match(key1, v, U("u1"), NOW + 11, LIFE, id),
			 AF_KNOWN_OK);
	/* A copied entry takes no second place. */
	memcpy(w, v, AF_KNOWN_ENTRY_LEN);
	w[AF_KNOWN_ENTRY_LEN] = '.';
	memcpy(w + AF_KNOWN_ENTRY_LEN + 1, v, AF_KNOWN_ENTRY_LEN);
	w[2 * AF_KNOWN_ENTRY_LEN + 1] = '\0';
	add(w, "zed", NOW + 12, v);
	assert_int_equal(strlen(v), 2 * AF_KNOWN_ENTRY_LEN + 1);
	/* Entries past their lifetime are dropped when one is added. */
	add(v, "u9", NOW + LIFE + 20, w);
	assert_int_equal(strlen(w), AF_KNOWN_ENTRY_LEN);
}

static store_ctx *memory_store(void)
{
	store_options so;
	store_ctx *st = NULL;

	memset(&so, 0, sizeof(so));
	so.backend = STORE_BACKEND_MEMORY;
	assert_int_equal(store_open(&so, &st, NULL, 0), STORE_OK);
	return st;
}

/* The key is made once and then read back; a damaged one is refused. */
static void test_af_known_key(void **state)
{
	store_ctx *st = memory_store();
	uint8_t a[AF_KNOWN_KEY_BYTES], b[AF_KNOWN_KEY_BYTES];
	static const uint8_t zero[AF_KNOWN_KEY_BYTES];
	store_value v = {NULL, 0};

	(void)state;
	assert_int_equal(af_known_key(st, a), AF_KNOWN_OK);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(af_known_key(st, b), AF_KNOWN_OK);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(store_get(st, "known_browser_key", &v), STORE_OK);
	assert_int_equal(v.len, 64);
	store_value_free(&v);
	assert_int_equal(store_set(st, "known_browser_key", "00ZZ", 4, 0, 0),
			 STORE_OK);
	assert_int_equal(af_known_key(st, b), AF_KNOWN_STORE);
	assert_memory_equal(b, zero, sizeof(b));
	assert_int_equal(af_known_key(NULL, b), AF_KNOWN_INVALID);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_af_known_add_then_match),
		cmocka_unit_test(test_af_known_bound_to_sub_and_generation),
		cmocka_unit_test(test_af_known_lifetime_and_clock),
		cmocka_unit_test(test_af_known_tampered),
		cmocka_unit_test(test_af_known_garbage),
		cmocka_unit_test(test_af_known_shared_browser),
		cmocka_unit_test(test_af_known_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
