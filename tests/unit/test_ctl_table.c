/*
 * Unit tests of authflowctl's table printer (alignment, multibyte text,
 * terminal safety) and of its argument helpers and path building.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>

#include "ctl/args.h"
#include "ctl/http.h"
#include "ctl/table.h"

#define OUT_MAX 4096

/* Prints t into buf (OUT_MAX bytes) through a memory stream. */
static void render(const af_table *t, char *buf)
{
	FILE *f = fmemopen(buf, OUT_MAX, "w");

	assert_non_null(f);
	assert_int_equal(af_table_print(t, f), AF_TABLE_OK);
	assert_int_equal(fclose(f), 0);
}

static af_table *table2(const char *h1, const char *h2)
{
	const char *headers[] = {h1, h2};
	af_table *t = NULL;

	assert_int_equal(af_table_new(headers, 2, &t), AF_TABLE_OK);
	assert_non_null(t);
	return t;
}

static void add2(af_table *t, const char *a, const char *b)
{
	const char *cells[] = {a, b};

	assert_int_equal(af_table_add_row(t, cells), AF_TABLE_OK);
}

static void test_table_print_columns_padded_to_widest(void **state)
{
	char out[OUT_MAX];
	af_table *t = table2("NAME", "DESCRIPTION");

	(void)state;
	add2(t, "admins", "people who administer");
	add2(t, "x", "short");
	render(t, out);
	assert_string_equal(out, "NAME    DESCRIPTION\n"
				 "admins  people who administer\n"
				 "x       short\n");
	assert_int_equal(af_table_rows(t), 2);
	af_table_free(t);
}

static void test_table_print_wide_and_combining_characters(void **state)
{
	af_table *t = table2("NAME", "EMAIL");
	char out[OUT_MAX];

	(void)state;
	/* Three CJK characters take six columns; "e" + U+0301 takes one. */
	add2(t, "\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x98\x8e", "w@x");
	add2(t, "Re\xcc\x81ne", "r@x");
	add2(t, "bob", "b@x");
	render(t, out);
	assert_string_equal(out, "NAME    EMAIL\n"
				 "\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x98\x8e  w@x\n"
				 "Re\xcc\x81ne    r@x\n"
				 "bob     b@x\n");
	af_table_free(t);
}

static void test_table_print_header_only_when_no_rows(void **state)
{
	char out[OUT_MAX];
	af_table *t = table2("SID", "AMR");

	(void)state;
	render(t, out);
	assert_string_equal(out, "SID  AMR\n");
	af_table_free(t);
}

static void test_table_print_multibyte_counted_as_code_points(void **state)
{
	char out[OUT_MAX];
	af_table *t = table2("NAME", "EMAIL");

	(void)state;
	/* "Zoë" is 4 bytes but 3 columns; "Σωκράτης" 16 bytes, 8 columns. */
	add2(t, "Zo\xc3\xab", "zoe@example.org");
	add2(t,
	     "\xce\xa3\xcf\x89\xce\xba\xcf\x81\xce\xac\xcf\x84\xce\xb7\xcf"
	     "\x82",
	     "s@example.org");
	render(t, out);
	assert_string_equal(
		out, "NAME      EMAIL\n"
		     "Zo\xc3\xab       zoe@example.org\n"
		     "\xce\xa3\xcf\x89\xce\xba\xcf\x81\xce\xac\xcf\x84\xce\xb7"
		     "\xcf\x82  s@example.org\n");
	af_table_free(t);
}

static void test_table_print_empty_cells_shown_as_dash(void **state)
{
	char out[OUT_MAX];
	af_table *t = table2("A", "B");

	(void)state;
	add2(t, "", NULL);
	render(t, out);
	assert_string_equal(out, "A  B\n-  -\n");
	af_table_free(t);
}

static void test_table_add_row_control_chars_replaced(void **state)
{
	char out[OUT_MAX];
	af_table *t = table2("USER", "NOTE");

	(void)state;
	/* An escape sequence, a newline and a tab would steer the terminal. */
	add2(t, "ev\x1b[2Jil", "line1\nline2\tx");
	render(t, out);
	assert_string_equal(out, "USER      NOTE\n"
				 "ev?[2Jil  line1?line2?x\n");
	af_table_free(t);
}

static void test_table_clean_bad_utf8_and_bidi_replaced(void **state)
{
	char *s = NULL;
	size_t w = 0;

	(void)state;
	/* A stray continuation byte, an overlong '/', a truncated tail. */
	assert_int_equal(af_table_clean("a\x80z\xc0\xaf\xe2\x82", &s, &w),
			 AF_TABLE_OK);
	assert_string_equal(s, "a?z????");
	assert_int_equal(w, 7);
	free(s);
	/* U+202E RIGHT-TO-LEFT OVERRIDE and a C1 control (U+009B CSI). */
	assert_int_equal(af_table_clean("ab\xe2\x80\xae"
					"cd\xc2\x9b",
					&s, &w),
			 AF_TABLE_OK);
	assert_string_equal(s, "ab?cd?");
	assert_int_equal(w, 6);
	free(s);
	/* A surrogate encoded in UTF-8 is not valid UTF-8. */
	assert_int_equal(af_table_clean("\xed\xa0\x80", &s, &w), AF_TABLE_OK);
	assert_string_equal(s, "???");
	free(s);
	assert_int_equal(af_table_clean("\xf0\x9f\x94\x91 key", &s, &w),
			 AF_TABLE_OK);
	assert_string_equal(s, "\xf0\x9f\x94\x91 key");
	assert_int_equal(w, 5);
	free(s);
}

static void test_table_new_bad_columns_refused(void **state)
{
	const char *headers[AF_TABLE_COLS_MAX + 1] = {NULL};
	af_table *t = NULL;

	(void)state;
	assert_int_equal(af_table_new(headers, 0, &t), AF_TABLE_ERR_ARG);
	assert_int_equal(af_table_new(headers, AF_TABLE_COLS_MAX + 1, &t),
			 AF_TABLE_ERR_ARG);
	assert_null(t);
	assert_int_equal(af_table_new(NULL, 1, &t), AF_TABLE_ERR_ARG);
}

static void test_table_add_row_oversized_cell_leaves_table(void **state)
{
	char out[OUT_MAX];
	af_table *t = table2("A", "B");
	char *big = malloc(AF_TABLE_CELL_MAX + 2);
	const char *cells[2];

	(void)state;
	assert_non_null(big);
	memset(big, 'x', AF_TABLE_CELL_MAX + 1);
	big[AF_TABLE_CELL_MAX + 1] = '\0';
	cells[0] = "wide-but-refused";
	cells[1] = big;
	assert_int_equal(af_table_add_row(t, cells), AF_TABLE_ERR_LIMIT);
	assert_int_equal(af_table_rows(t), 0);
	/* The first cell of the refused row widened nothing. */
	render(t, out);
	assert_string_equal(out, "A  B\n");
	free(big);
	af_table_free(t);
}

static void test_table_add_row_many_rows_grow(void **state)
{
	char out[OUT_MAX];
	af_table *t = table2("N", "V");
	size_t i;

	(void)state;
	for (i = 0; i < 100; i++)
		add2(t, "n", "v");
	add2(t, "last-row", "v");
	assert_int_equal(af_table_rows(t), 101);
	render(t, out);
	assert_memory_equal(out, "N         V\nn         v\n", 24);
	assert_non_null(strstr(out, "last-row  v\n"));
	af_table_free(t);
}

static void test_parse_onoff_strict_only(void **state)
{
	int v = -1;

	(void)state;
	assert_int_equal(af_ctl_parse_onoff("on", &v), AF_CTL_OK);
	assert_int_equal(v, 1);
	assert_int_equal(af_ctl_parse_onoff("off", &v), AF_CTL_OK);
	assert_int_equal(v, 0);
	assert_int_equal(af_ctl_parse_onoff("ON", &v), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_onoff("yes", &v), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_onoff("on ", &v), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_onoff("", &v), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_onoff(NULL, &v), AF_CTL_ERR_ARG);
	assert_int_equal(v, 0);
}

static void test_parse_when_durations_and_utc_dates(void **state)
{
	const long long now = 1796650000; /* 2026-12-07T... UTC */
	long long t = -1;

	(void)state;
	assert_int_equal(af_ctl_parse_when("24h", now, &t), AF_CTL_OK);
	assert_int_equal(t, now - 86400);
	assert_int_equal(af_ctl_parse_when("2026-12-01", now, &t), AF_CTL_OK);
	assert_int_equal(t, 1796083200); /* 2026-12-01T00:00:00Z */
	assert_int_equal(af_ctl_parse_when("2026-12-01T08:30Z", now, &t),
			 AF_CTL_OK);
	assert_int_equal(t, 1796083200 + 8 * 3600 + 30 * 60);
	assert_int_equal(af_ctl_parse_when("2026-12-01T08:30:15Z", now, &t),
			 AF_CTL_OK);
	assert_int_equal(t, 1796083200 + 8 * 3600 + 30 * 60 + 15);
	t = -1;
	/* Now is no start: nothing would be from then on. */
	assert_int_equal(af_ctl_parse_when("0", now, &t), AF_CTL_ERR_ARG);
	/* Dates that do not exist are refused, not moved. */
	assert_int_equal(af_ctl_parse_when("2026-02-30", now, &t),
			 AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_when("2026-13-01", now, &t),
			 AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_when("2026-12-01T25:00Z", now, &t),
			 AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_when("1960-01-01", now, &t),
			 AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_when("2026-12-01 08:30", now, &t),
			 AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_when("2026-12-01Tjunk", now, &t),
			 AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_when("yesterday", now, &t),
			 AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_when("", now, &t), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_when(NULL, now, &t), AF_CTL_ERR_ARG);
	assert_int_equal(t, -1);
}

static void test_parse_long_range_and_junk_refused(void **state)
{
	long v = 0;

	(void)state;
	assert_int_equal(af_ctl_parse_long("50", 1, 1000, &v), AF_CTL_OK);
	assert_int_equal(v, 50);
	assert_int_equal(af_ctl_parse_long("1000", 1, 1000, &v), AF_CTL_OK);
	assert_int_equal(af_ctl_parse_long("0", 1, 1000, &v), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_long("1001", 1, 1000, &v),
			 AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_long("-5", 1, 1000, &v), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_long(" 5", 1, 1000, &v), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_long("+5", 1, 1000, &v), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_long("5x", 1, 1000, &v), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_parse_long("99999999999999999999", 1, 1000, &v),
			 AF_CTL_ERR_ARG);
	assert_int_equal(v, 1000);
}

/* Reads one line from a memory stream holding text (len bytes). */
static af_ctl_status read_from(const char *text, size_t len, char *buf,
			       size_t cap, int *next)
{
	char data[2048];
	af_ctl_status st;
	FILE *f;

	assert_true(len <= sizeof(data));
	memcpy(data, text, len);
	f = fmemopen(data, len, "r");
	assert_non_null(f);
	st = af_ctl_read_line(f, buf, cap);
	*next = getc(f);
	fclose(f);
	return st;
}

static void test_read_line_strips_crlf_and_stops_there(void **state)
{
	char buf[AF_CTL_PASSWORD_MAX + 1];
	int next = 0;

	(void)state;
	assert_int_equal(
		read_from("s3cret pass\r\nrest", 17, buf, sizeof(buf), &next),
		AF_CTL_OK);
	assert_string_equal(buf, "s3cret pass");
	/* The CR ends the line; nothing past it was read. */
	assert_int_equal(next, '\n');
	assert_int_equal(read_from("last", 4, buf, sizeof(buf), &next),
			 AF_CTL_OK);
	assert_string_equal(buf, "last");
	assert_int_equal(next, EOF);
}

static void test_read_line_empty_and_eof_refused(void **state)
{
	char buf[16];
	int next = 0;

	(void)state;
	assert_int_equal(read_from("", 0, buf, sizeof(buf), &next),
			 AF_CTL_ERR_EMPTY);
	assert_int_equal(read_from("\nx", 2, buf, sizeof(buf), &next),
			 AF_CTL_ERR_EMPTY);
	assert_int_equal(read_from("a\0b\n", 4, buf, sizeof(buf), &next),
			 AF_CTL_ERR_ARG);
}

static void test_read_line_over_cap_refused_and_wiped(void **state)
{
	char text[AF_CTL_PASSWORD_MAX + 2];
	char buf[AF_CTL_PASSWORD_MAX + 1];
	size_t i;
	int next = 0;

	(void)state;
	memset(text, 'p', sizeof(text));
	/* Exactly the maximum is fine ... */
	assert_int_equal(
		read_from(text, AF_CTL_PASSWORD_MAX, buf, sizeof(buf), &next),
		AF_CTL_OK);
	assert_int_equal(strlen(buf), AF_CTL_PASSWORD_MAX);
	/* ... one byte more is not, and nothing of it stays in buf. */
	assert_int_equal(read_from(text, AF_CTL_PASSWORD_MAX + 1, buf,
				   sizeof(buf), &next),
			 AF_CTL_ERR_TOO_LONG);
	for (i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
}

static void test_append_repeated_options_build_array(void **state)
{
	json_t *obj = json_object();
	json_t *want = json_pack("{s:[s,s]}", "groups", "staff", "ops team");

	(void)state;
	assert_int_equal(af_ctl_append(obj, "groups", "staff"), AF_CTL_OK);
	assert_int_equal(af_ctl_append(obj, "groups", "ops team"), AF_CTL_OK);
	assert_true(json_equal(obj, want));
	/* Not UTF-8: refused, the array unchanged. */
	assert_int_equal(af_ctl_append(obj, "groups", "bad\xff"),
			 AF_CTL_ERR_ARG);
	assert_true(json_equal(obj, want));
	assert_int_equal(json_object_set_new(obj, "name", json_string("x")), 0);
	assert_int_equal(af_ctl_append(obj, "name", "y"), AF_CTL_ERR_ARG);
	json_decref(obj);
	json_decref(want);
}

static void test_claim_parsed_and_duplicates_refused(void **state)
{
	json_t *claims = json_object();

	(void)state;
	assert_int_equal(af_ctl_claim(claims, "department=domain"), AF_CTL_OK);
	assert_int_equal(af_ctl_claim(claims, "roles=groups"), AF_CTL_OK);
	assert_string_equal(
		json_string_value(json_object_get(claims, "department")),
		"domain");
	assert_string_equal(json_string_value(json_object_get(claims, "roles")),
			    "groups");
	assert_int_equal(af_ctl_claim(claims, "roles=ous"),
			 AF_CTL_ERR_DUPLICATE);
	assert_int_equal(af_ctl_claim(claims, "noequals"), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_claim(claims, "=groups"), AF_CTL_ERR_ARG);
	assert_int_equal(af_ctl_claim(claims, "name="), AF_CTL_ERR_ARG);
	assert_int_equal(json_object_size(claims), 2);
	json_decref(claims);
}

static void test_join_strings_only(void **state)
{
	json_t *arr = json_pack("[s,i,s]", "a", 7, "b c");
	json_t *empty = json_array();
	char *s = NULL;

	(void)state;
	assert_int_equal(af_ctl_join(arr, ",", 64, &s), AF_CTL_OK);
	assert_string_equal(s, "a,b c");
	free(s);
	assert_int_equal(af_ctl_join(empty, ", ", 64, &s), AF_CTL_OK);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(af_ctl_join(NULL, ",", 64, &s), AF_CTL_OK);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(af_ctl_join(json_object_get(arr, "x"), ",", 64, &s),
			 AF_CTL_OK);
	free(s);
	json_decref(arr);
	json_decref(empty);
}

/* A list longer than the room: the first strings, then how many more. */
static void test_join_long_list_summed_up(void **state)
{
	json_t *arr = json_pack("[s,s,s,s]", "alpha", "beta", "gamma", "d");
	char *s = NULL;

	(void)state;
	assert_int_equal(af_ctl_join(arr, ", ", 11, &s), AF_CTL_OK);
	assert_string_equal(s, "alpha, beta, ... (2 more)");
	free(s);
	/* Exactly at the room: all of it. */
	assert_int_equal(af_ctl_join(arr, ",", 18, &s), AF_CTL_OK);
	assert_string_equal(s, "alpha,beta,gamma,d");
	free(s);
	assert_int_equal(af_ctl_join(arr, ",", 3, &s), AF_CTL_OK);
	assert_string_equal(s, "... (4 more)");
	free(s);
	json_decref(arr);
}

static void test_time_iso8601_or_dash(void **state)
{
	json_t *t = json_integer(1795975200);
	json_t *neg = json_integer(-1);
	json_t *str = json_string("1795975200");
	char buf[32];

	(void)state;
	af_ctl_time(t, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-29T18:00:00Z");
	af_ctl_time(neg, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	af_ctl_time(str, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	af_ctl_time(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	json_decref(t);
	json_decref(neg);
	json_decref(str);
}

static void test_http_path_segments_encoded(void **state)
{
	af_ctl_http *h = NULL;
	char path[AF_CTL_HTTP_PATH_MAX + 1];
	const char *two[] = {"ops team", "al/ice"};
	const char *dots[] = {".."};
	const char *query[] = {"a&b=c"};
	const char *empty[] = {""};

	(void)state;
	assert_int_equal(af_ctl_http_new("http://127.0.0.1:8080/", NULL, &h),
			 AF_CTL_HTTP_OK);
	assert_int_equal(af_ctl_http_path(h, path, sizeof(path),
					  "groups/{}/members/{}", two, 2),
			 AF_CTL_HTTP_OK);
	assert_string_equal(path, "groups/ops%20team/members/al%2Fice");
	assert_int_equal(
		af_ctl_http_path(h, path, sizeof(path), "users/{}", dots, 1),
		AF_CTL_HTTP_OK);
	assert_string_equal(path, "users/%2E%2E");
	assert_int_equal(af_ctl_http_path(h, path, sizeof(path),
					  "sessions?user={}", query, 1),
			 AF_CTL_HTTP_OK);
	assert_string_equal(path, "sessions?user=a%26b%3Dc");
	assert_int_equal(
		af_ctl_http_path(h, path, sizeof(path), "users/{}", empty, 1),
		AF_CTL_HTTP_ERR_ARG);
	/* The count of "{}" and of arguments must agree. */
	assert_int_equal(
		af_ctl_http_path(h, path, sizeof(path), "users/{}", two, 2),
		AF_CTL_HTTP_ERR_ARG);
	assert_int_equal(af_ctl_http_path(h, path, sizeof(path),
					  "groups/{}/members/{}", two, 1),
			 AF_CTL_HTTP_ERR_ARG);
	assert_int_equal(af_ctl_http_path(h, path, 12, "users/{}", two, 1),
			 AF_CTL_HTTP_ERR_TOO_LONG);
	af_ctl_http_free(h);
}

static void test_http_new_bad_url_or_token_refused(void **state)
{
	static const char *const bad_urls[] = {
		"ftp://example.org", "example.org",	 "http://",
		"http:///x",	     "http://a b",	 "http://h/?q=1",
		"http://h/#frag",    "http://h\r\nX: y", "",
	};
	af_ctl_http *h = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		assert_int_equal(af_ctl_http_new(bad_urls[i], "t", &h),
				 AF_CTL_HTTP_ERR_URL);
		assert_null(h);
	}
	assert_int_equal(af_ctl_http_new("https://idp.example.org", "a b", &h),
			 AF_CTL_HTTP_ERR_TOKEN);
	assert_int_equal(af_ctl_http_new("https://idp.example.org",
					 "tok\r\nX-Evil: 1", &h),
			 AF_CTL_HTTP_ERR_TOKEN);
	assert_int_equal(af_ctl_http_new("https://idp.example.org", "", &h),
			 AF_CTL_HTTP_ERR_TOKEN);
	/* Only what the server takes as a bearer token (RFC 6750). */
	assert_int_equal(
		af_ctl_http_new("https://idp.example.org", "abc!def", &h),
		AF_CTL_HTTP_ERR_TOKEN);
	assert_int_equal(af_ctl_http_new("https://idp.example.org", "a=b", &h),
			 AF_CTL_HTTP_ERR_TOKEN);
	assert_int_equal(
		af_ctl_http_new("https://idp.example.org", "aZ0-._~+/==", &h),
		AF_CTL_HTTP_OK);
	af_ctl_http_free(h);
	h = NULL;
	assert_int_equal(
		af_ctl_http_new("HTTPS://idp.example.org/prefix", "tok", &h),
		AF_CTL_HTTP_OK);
	af_ctl_http_free(h);
}

static void test_http_new_plain_only_to_this_host(void **state)
{
	static const char *const remote[] = {
		"http://idp.example.org",
		"HTTP://10.0.0.5:8080",
		"http://128.0.0.1",
		"http://[::2]:8080",
		"http://localhost.evil.example",
		"http://[::ffff:10.0.0.1]",
	};
	static const char *const local[] = {
		"http://127.0.0.1:8080",
		"http://127.1.2.3",
		"http://[::1]:8080",
		"http://LOCALHOST:8080/prefix",
		"http://localhost.:8080",
		"http://[::ffff:127.0.0.1]:8080",
		"http://[0:0:0:0:0:0:0:1]:8080",
	};
	af_ctl_http *h = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(remote) / sizeof(remote[0]); i++) {
		assert_int_equal(af_ctl_http_new(remote[i], "tok", &h),
				 AF_CTL_HTTP_ERR_PLAIN);
		assert_null(h);
		/* Without a token nothing secret would be sent. */
		assert_int_equal(af_ctl_http_new(remote[i], NULL, &h),
				 AF_CTL_HTTP_OK);
		af_ctl_http_free(h);
		h = NULL;
	}
	for (i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		assert_int_equal(af_ctl_http_new(local[i], "tok", &h),
				 AF_CTL_HTTP_OK);
		af_ctl_http_free(h);
		h = NULL;
	}
	assert_int_equal(af_ctl_http_new("https://10.0.0.5", "tok", &h),
			 AF_CTL_HTTP_OK);
	af_ctl_http_free(h);
}

static void test_http_request_unreachable_reported(void **state)
{
	char err[AF_CTL_HTTP_ERR_BUF];
	af_ctl_http *h = NULL;
	json_t *answer = NULL;
	long status = -1;

	(void)state;
	/* Port 1 on loopback: nothing listens there, so connect fails. */
	assert_int_equal(
		af_ctl_http_new("http://127.0.0.1:1", "secret-token", &h),
		AF_CTL_HTTP_OK);
	assert_int_equal(af_ctl_http_request(h, "GET", "status", NULL, &status,
					     &answer, err, sizeof(err)),
			 AF_CTL_HTTP_ERR_UNREACHABLE);
	assert_null(answer);
	assert_int_equal(status, 0);
	assert_non_null(strstr(err, "cannot reach the server"));
	assert_null(strstr(err, "secret-token"));
	assert_int_equal(af_ctl_http_request(h, "TRACE", "status", NULL,
					     &status, &answer, err,
					     sizeof(err)),
			 AF_CTL_HTTP_ERR_ARG);
	af_ctl_http_free(h);
}

static void test_mem_allocator_round_trip(void **state)
{
	char *s, *t;
	int *z;

	(void)state;
	s = af_secmem_strdup("password");
	assert_string_equal(s, "password");
	t = af_secmem_realloc(s, 64);
	assert_non_null(t);
	assert_string_equal(t, "password");
	t = af_secmem_realloc(t, 3);
	assert_memory_equal(t, "pas", 3);
	af_secmem_free(t);
	z = af_secmem_calloc(8, sizeof(*z));
	assert_non_null(z);
	assert_int_equal(z[7], 0);
	af_secmem_free(z);
	assert_null(af_secmem_calloc(SIZE_MAX / 2, 4));
	assert_null(af_secmem_malloc(SIZE_MAX));
	af_secmem_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_print_columns_padded_to_widest),
		cmocka_unit_test(test_table_print_header_only_when_no_rows),
		cmocka_unit_test(
			test_table_print_wide_and_combining_characters),
		cmocka_unit_test(
			test_table_print_multibyte_counted_as_code_points),
		cmocka_unit_test(test_table_print_empty_cells_shown_as_dash),
		cmocka_unit_test(test_table_add_row_control_chars_replaced),
		cmocka_unit_test(test_table_clean_bad_utf8_and_bidi_replaced),
		cmocka_unit_test(test_table_new_bad_columns_refused),
		cmocka_unit_test(
			test_table_add_row_oversized_cell_leaves_table),
		cmocka_unit_test(test_table_add_row_many_rows_grow),
		cmocka_unit_test(test_parse_onoff_strict_only),
		cmocka_unit_test(test_parse_when_durations_and_utc_dates),
		cmocka_unit_test(test_parse_long_range_and_junk_refused),
		cmocka_unit_test(test_read_line_strips_crlf_and_stops_there),
		cmocka_unit_test(test_read_line_empty_and_eof_refused),
		cmocka_unit_test(test_read_line_over_cap_refused_and_wiped),
		cmocka_unit_test(test_append_repeated_options_build_array),
		cmocka_unit_test(test_claim_parsed_and_duplicates_refused),
		cmocka_unit_test(test_join_strings_only),
		cmocka_unit_test(test_join_long_list_summed_up),
		cmocka_unit_test(test_time_iso8601_or_dash),
		cmocka_unit_test(test_http_path_segments_encoded),
		cmocka_unit_test(test_http_new_bad_url_or_token_refused),
		cmocka_unit_test(test_http_new_plain_only_to_this_host),
		cmocka_unit_test(test_http_request_unreachable_reported),
		cmocka_unit_test(test_mem_allocator_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
