/*
 * Unit tests of the capped buffer (authflow/http/buf.h): it grows as text
 * is appended, refuses to pass its cap and stays refused, escapes HTML and
 * URLs, hands its bytes over, and moves them to another buffer without a
 * copy, under the other's cap.
 */
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "http/buf.h"

static void test_grows_past_first_capacity(void **state)
{
	char chunk[700];
	af_buf b;
	size_t i;

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	af_buf_init(&b, 65536);
	for (i = 0; i < 10; i++)
		af_buf_append(&b, chunk, sizeof(chunk));
	assert_false(b.failed);
	assert_int_equal(b.len, 7000);
	assert_true(b.cap >= 7001);
	assert_int_equal(b.data[6999], 'x');
	assert_int_equal(b.data[7000], '\0');
	af_buf_cleanup(&b);
	assert_null(b.data);
}

static void test_cap_refuses_and_stays_refused(void **state)
{
	af_buf b;

	(void)state;
	af_buf_init(&b, 8);
	af_buf_puts(&b, "12345678");
	assert_false(b.failed);
	af_buf_puts(&b, "9");
	assert_true(b.failed);
	af_buf_puts(&b, "");
	assert_true(b.failed);
	assert_null(af_buf_take(&b, NULL));
	assert_null(b.data);
}

static void test_escapes(void **state)
{
	af_buf b;
	size_t len = 0;
	char *s;

	(void)state;
	af_buf_init(&b, 256);
	af_buf_html(&b, "<a href=\"x\">&'</a>");
	af_buf_puts(&b, " ");
	af_buf_urlenc(&b, "a b/c?d=é");
	s = af_buf_take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s,
			    "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
			    " a%20b%2Fc%3Fd%3D%C3%A9");
	assert_int_equal(len, strlen(s));
	free(s);
}

static void test_take_of_empty_is_empty_string(void **state)
{
	af_buf b;
	size_t len = 1;
	char *s;

	(void)state;
	af_buf_init(&b, 16);
	s = af_buf_take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
}

static void test_move_hands_bytes_over(void **state)
{
	af_buf dst, src;
	const char *bytes;

	(void)state;
	af_buf_init(&dst, 1024);
	af_buf_puts(&dst, "earlier");
	af_buf_init(&src, 4096);
	af_buf_printf(&src, "<p>%d</p>", 42);
	bytes = src.data;
	assert_int_equal(af_buf_move(&dst, &src, 1024), 0);
	/* The very bytes, not a copy; the source is left empty. */
	assert_ptr_equal(dst.data, bytes);
	assert_string_equal(dst.data, "<p>42</p>");
	assert_int_equal(dst.len, 9);
	assert_int_equal(dst.max, 1024);
	assert_null(src.data);
	assert_int_equal(src.len, 0);
	/* dst goes on under its own cap. */
	af_buf_puts(&dst, "!");
	assert_string_equal(dst.data, "<p>42</p>!");
	af_buf_cleanup(&dst);
	af_buf_cleanup(&src);
}

static void test_move_refuses_over_cap_or_failed(void **state)
{
	af_buf dst, src;

	(void)state;
	af_buf_init(&dst, 4);
	af_buf_puts(&dst, "old");
	af_buf_init(&src, 64);
	af_buf_puts(&src, "too long");
	assert_int_equal(af_buf_move(&dst, &src, 4), -1);
	assert_null(dst.data);
	assert_int_equal(dst.len, 0);
	assert_null(src.data);

	af_buf_init(&src, 2);
	af_buf_puts(&src, "abc");
	assert_true(src.failed);
	assert_int_equal(af_buf_move(&dst, &src, 64), -1);
	assert_null(dst.data);
	assert_false(src.failed);
	af_buf_cleanup(&dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_past_first_capacity),
		cmocka_unit_test(test_cap_refuses_and_stays_refused),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_take_of_empty_is_empty_string),
		cmocka_unit_test(test_move_hands_bytes_over),
		cmocka_unit_test(test_move_refuses_over_cap_or_failed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
