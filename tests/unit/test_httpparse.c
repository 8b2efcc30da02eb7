/*
 * Unit tests of the HTTP input parsers: every rule in both directions,
 * every cap exactly at and one past its limit, and a table of
 * open-redirect payloads that the redirect URI check must refuse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "common/httpparse.h"

static af_params *parse_ok(const char *text)
{
	af_params *p = NULL;

	assert_int_equal(hp_params_parse(text, strlen(text), &p), HP_OK);
	assert_non_null(p);
	return p;
}

static hp_status parse_status(const char *text, size_t len)
{
	af_params *p = (af_params *)&p; /* must be reset to NULL on failure */
	hp_status st = hp_params_parse(text, len, &p);

	if (st == HP_OK || st == HP_ERR_DUPLICATE)
		assert_non_null(p);
	else
		assert_null(p);
	hp_params_free(p);
	return st;
}

/* A heap string of n copies of c, so ASan sees any overread. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static int all_zero(const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf[i] != '\0')
			return 0;
	}
	return 1;
}

static void test_strerror_every_status_has_text(void **state)
{
	(void)state;
#define HP_XX(name, value, text) \
	assert_string_equal(hp_strerror(HP_##name), text);
	HP_STATUS_MAP(HP_XX)
#undef HP_XX
	assert_string_equal(hp_strerror((hp_status)42), "unknown error");
}

static void test_form_decode_plus_and_escapes_decoded(void **state)
{
	char out[32];
	size_t n = 0;

	(void)state;
	assert_int_equal(
		hp_form_decode("a+b%2Fc%2fd%7E", 14, out, sizeof(out), &n),
		HP_OK);
	assert_string_equal(out, "a b/c/d~");
	assert_int_equal(n, 8);
	assert_int_equal(hp_form_decode(NULL, 0, out, sizeof(out), NULL),
			 HP_OK);
	assert_string_equal(out, "");
	/* A literal '+' only arrives as %2B. */
	assert_int_equal(hp_form_decode("%2B", 3, out, sizeof(out), NULL),
			 HP_OK);
	assert_string_equal(out, "+");
}

static void test_uri_decode_plus_is_literal(void **state)
{
	char out[32];
	size_t n = 0;

	(void)state;
	assert_int_equal(
		hp_uri_decode("p+w%40d%2Fx%3a", 14, out, sizeof(out), &n),
		HP_OK);
	assert_string_equal(out, "p+w@d/x:");
	assert_int_equal(n, 8);
	/* The same refusals as a form: bad escapes, NUL, no room. */
	assert_int_equal(hp_uri_decode("a%4", 3, out, sizeof(out), NULL),
			 HP_ERR_ENCODING);
	assert_string_equal(out, "");
	assert_int_equal(hp_uri_decode("a%00", 4, out, sizeof(out), NULL),
			 HP_ERR_ENCODING);
	assert_int_equal(hp_uri_decode("abcd", 4, out, 4, NULL),
			 HP_ERR_TOO_BIG);
	assert_string_equal(out, "");
}

static void test_form_decode_bad_input_refused(void **state)
{
	static const char *bad[] = {"%",   "%4",   "a%",   "%G1", "%1G",
				    "%zz", "%%41", "% 41", "%00", "x%00y"};
	char out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(hp_form_decode(bad[i], strlen(bad[i]), out,
						sizeof(out), NULL),
				 HP_ERR_ENCODING);
		assert_string_equal(out, "");
	}
	assert_int_equal(hp_form_decode("a\0b", 3, out, sizeof(out), NULL),
			 HP_ERR_ENCODING);
	/* Four bytes and a NUL need five. */
	assert_int_equal(hp_form_decode("abcd", 4, out, 5, NULL), HP_OK);
	assert_int_equal(hp_form_decode("abcd", 4, out, 4, NULL),
			 HP_ERR_TOO_BIG);
	assert_string_equal(out, "");
	assert_int_equal(hp_form_decode("a", 1, NULL, 4, NULL), HP_ERR_ARG);
	assert_int_equal(hp_form_decode("a", 1, out, 0, NULL), HP_ERR_ARG);
	assert_int_equal(hp_form_decode(NULL, 1, out, 4, NULL), HP_ERR_ARG);
}

static void test_params_parse_pairs_in_order(void **state)
{
	af_params *p = parse_ok("response_type=code&client_id=app&state=xyz");
	const char *name, *value;

	(void)state;
	assert_int_equal(hp_params_count(p), 3);
	assert_string_equal(hp_params_get(p, "response_type"), "code");
	assert_string_equal(hp_params_get(p, "client_id"), "app");
	assert_string_equal(hp_params_get(p, "state"), "xyz");
	assert_null(hp_params_get(p, "nonce"));
	assert_null(hp_params_get(p, "State"));
	hp_params_at(p, 1, &name, &value);
	assert_string_equal(name, "client_id");
	assert_string_equal(value, "app");
	hp_params_at(p, 3, &name, &value);
	assert_null(name);
	assert_null(value);
	hp_params_free(p);
}

static void test_params_parse_semicolon_is_data(void **state)
{
	af_params *p = parse_ok("a=1;b=2");

	(void)state;
	assert_int_equal(hp_params_count(p), 1);
	assert_string_equal(hp_params_get(p, "a"), "1;b=2");
	assert_null(hp_params_get(p, "b"));
	hp_params_free(p);
}

static void test_params_parse_plus_and_escapes_decoded(void **state)
{
	af_params *p = parse_ok(
		"redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid+email"
		"&x%20y=a%3Db%26c&eq=1=2");

	(void)state;
	assert_string_equal(hp_params_get(p, "redirect_uri"),
			    "https://rp.example/cb");
	assert_string_equal(hp_params_get(p, "scope"), "openid email");
	assert_string_equal(hp_params_get(p, "x y"), "a=b&c");
	assert_string_equal(hp_params_get(p, "eq"), "1=2");
	hp_params_free(p);
}

static void test_params_parse_empty_pieces_skipped(void **state)
{
	af_params *p = parse_ok("&a=1&&b=2&");

	(void)state;
	assert_int_equal(hp_params_count(p), 2);
	assert_string_equal(hp_params_get(p, "b"), "2");
	hp_params_free(p);
	p = parse_ok("&&&");
	assert_int_equal(hp_params_count(p), 0);
	hp_params_free(p);
	p = parse_ok("");
	assert_int_equal(hp_params_count(p), 0);
	hp_params_free(p);
	assert_int_equal(hp_params_parse(NULL, 0, &p), HP_OK);
	assert_int_equal(hp_params_count(p), 0);
	hp_params_free(p);
}

static void test_params_parse_name_without_equals_empty_value(void **state)
{
	af_params *p = parse_ok("flag&a=1&b=");

	(void)state;
	assert_int_equal(hp_params_count(p), 3);
	assert_string_equal(hp_params_get(p, "flag"), "");
	assert_string_equal(hp_params_get(p, "b"), "");
	hp_params_free(p);
}

static void test_params_parse_empty_name_refused(void **state)
{
	static const char *bad[] = {"=1", "a=1&=2", "=", "a=1&=&b=2"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_status(bad[i], strlen(bad[i])),
				 HP_ERR_SYNTAX);
}

static void test_params_parse_duplicate_refused(void **state)
{
	static const char *bad[] = {"a=1&a=2",	 "a=1&a=1",   "a&a",
				    "a=1&b=2&a", "a=1&%61=2", "a+b=1&a%20b=2"};
	size_t i;
	af_params *p;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_status(bad[i], strlen(bad[i])),
				 HP_ERR_DUPLICATE);
	/* The set is still made, with each name's first value. */
	p = NULL;
	assert_int_equal(hp_params_parse("client_id=c&state=a&state=b&"
					 "redirect_uri=r",
					 42, &p),
			 HP_ERR_DUPLICATE);
	assert_non_null(p);
	assert_int_equal(hp_params_count(p), 3);
	assert_string_equal(hp_params_get(p, "client_id"), "c");
	assert_string_equal(hp_params_get(p, "state"), "a");
	assert_string_equal(hp_params_get(p, "redirect_uri"), "r");
	hp_params_free(p);
	/* Other errors still give no set. */
	p = (af_params *)&p;
	assert_int_equal(hp_params_parse("a=1&a=2&b=%zz", 13, &p),
			 HP_ERR_ENCODING);
	assert_null(p);
	/* Names differ by case: two parameters. */
	p = parse_ok("a=1&A=2");
	assert_int_equal(hp_params_count(p), 2);
	hp_params_free(p);
}

static void test_params_parse_bad_encoding_refused(void **state)
{
	static const char *bad[] = {"a=%",   "a=%2",	 "a=%G1",   "%zz=1",
				    "a=%00", "%00=1",	 "a=1&b=%", "a=x%",
				    "a%=1",  "a=%%30%30"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_status(bad[i], strlen(bad[i])),
				 HP_ERR_ENCODING);
	/* A raw NUL, in a value and in a name. */
	assert_int_equal(parse_status("a=b\0c", 5), HP_ERR_ENCODING);
	assert_int_equal(parse_status("a\0=1", 4), HP_ERR_ENCODING);
}

static void test_params_parse_controls_only_in_values(void **state)
{
	static const char *bad[] = {"%01=1", "a%09b=1", "a%0A=1",
				    "%0D=1", "%7F=1",	"%1F"};
	af_params *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_status(bad[i], strlen(bad[i])),
				 HP_ERR_SYNTAX);
	p = parse_ok("a=%01%09%0D%0A%7F&b=%FF%FE&%C3%A9=x");
	assert_string_equal(hp_params_get(p, "a"), "\x01\t\r\n\x7f");
	assert_string_equal(hp_params_get(p, "b"), "\xff\xfe");
	assert_string_equal(hp_params_get(p, "\xc3\xa9"), "x");
	hp_params_free(p);
}

/* "p0=v&p1=v&..." with n parameters, on the heap. */
static char *many_params(size_t n)
{
	char *s = malloc(n * 8 + 1);
	size_t i, o = 0;

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		if (i > 0)
			s[o++] = '&';
		s[o++] = 'p';
		s[o++] = (char)('0' + i / 100);
		s[o++] = (char)('0' + i / 10 % 10);
		s[o++] = (char)('0' + i % 10);
		s[o++] = '=';
		s[o++] = 'v';
	}
	s[o] = '\0';
	return s;
}

static void test_params_parse_count_limit_exact(void **state)
{
	char *at = many_params(HP_PARAMS_MAX);
	char *over = many_params(HP_PARAMS_MAX + 1);
	char *again = many_params(HP_PARAMS_MAX - 1);
	af_params *p = parse_ok(at);
	char name[8];
	size_t i;

	(void)state;
	assert_int_equal(hp_params_count(p), HP_PARAMS_MAX);
	/* Every entry survives the moves as the array grows. */
	for (i = 0; i < HP_PARAMS_MAX; i++) {
		snprintf(name, sizeof(name), "p%03zu", i);
		assert_string_equal(hp_params_get(p, name), "v");
	}
	hp_params_free(p);
	assert_int_equal(parse_status(over, strlen(over)), HP_ERR_TOO_MANY);
	/* A name repeated last is found among the moved entries. */
	again = realloc(again, strlen(again) + 8);
	assert_non_null(again);
	memcpy(again + strlen(again), "&p000=w", 8);
	assert_int_equal(parse_status(again, strlen(again)), HP_ERR_DUPLICATE);
	free(at);
	free(over);
	free(again);
}

/* A name given again counts again; empty pieces are no parameters. */
static void test_params_parse_repeats_count(void **state)
{
	const size_t n = (size_t)4 * HP_PARAMS_MAX; /* "x=1&" each */
	char *text = malloc(n + 5);
	size_t i;

	(void)state;
	assert_non_null(text);
	for (i = 0; i < n; i += 4)
		memcpy(text + i, "x=1&", 4);
	text[n - 1] = '\0';
	assert_int_equal(parse_status(text, strlen(text)), HP_ERR_DUPLICATE);
	memcpy(text + n - 1, "&x=1", 5);
	assert_int_equal(parse_status(text, strlen(text)), HP_ERR_TOO_MANY);
	memset(text, '&', n);
	memcpy(text + n, "a=1", 4);
	assert_int_equal(parse_status(text, strlen(text)), HP_OK);
	free(text);
}

static void test_params_parse_size_limit_exact(void **state)
{
	char *text = repeat('v', HP_INPUT_MAX + 1);
	af_params *p = NULL;

	(void)state;
	text[0] = 'a';
	text[1] = '=';
	assert_int_equal(hp_params_parse(text, HP_INPUT_MAX, &p), HP_OK);
	assert_int_equal(strlen(hp_params_get(p, "a")), HP_INPUT_MAX - 2);
	hp_params_free(p);
	assert_int_equal(parse_status(text, HP_INPUT_MAX + 1), HP_ERR_TOO_BIG);
	free(text);
}

static void test_params_parse_bad_args_refused(void **state)
{
	af_params *p = NULL;

	(void)state;
	assert_int_equal(hp_params_parse("a=1", 3, NULL), HP_ERR_ARG);
	assert_int_equal(hp_params_parse(NULL, 3, &p), HP_ERR_ARG);
	assert_null(p);
	/* Only len bytes are read: the rest of the buffer is not a piece. */
	assert_int_equal(hp_params_parse("a=1&a=2", 3, &p), HP_OK);
	assert_string_equal(hp_params_get(p, "a"), "1");
	hp_params_free(p);
}

static void test_params_add_rules(void **state)
{
	af_params *p = hp_params_new();
	char name[8];
	size_t i;

	(void)state;
	assert_non_null(p);
	assert_int_equal(hp_params_count(p), 0);
	assert_int_equal(hp_params_add(p, "code", "abc"), HP_OK);
	assert_int_equal(hp_params_add(p, "code", "def"), HP_ERR_DUPLICATE);
	assert_string_equal(hp_params_get(p, "code"), "abc");
	assert_int_equal(hp_params_add(p, "", "x"), HP_ERR_ARG);
	assert_int_equal(hp_params_add(p, "a\tb", "x"), HP_ERR_ARG);
	assert_int_equal(hp_params_add(p, NULL, "x"), HP_ERR_ARG);
	assert_int_equal(hp_params_add(p, "x", NULL), HP_ERR_ARG);
	assert_int_equal(hp_params_add(NULL, "x", "y"), HP_ERR_ARG);
	assert_int_equal(hp_params_add(p, "ctl", "\x01\n"), HP_OK);
	for (i = 2; i < HP_PARAMS_MAX; i++) {
		name[0] = 'n';
		name[1] = (char)('0' + i / 100);
		name[2] = (char)('0' + i / 10 % 10);
		name[3] = (char)('0' + i % 10);
		name[4] = '\0';
		assert_int_equal(hp_params_add(p, name, "v"), HP_OK);
	}
	assert_int_equal(hp_params_count(p), HP_PARAMS_MAX);
	assert_int_equal(hp_params_add(p, "more", "v"), HP_ERR_TOO_MANY);
	hp_params_free(p);
	hp_params_free(NULL);
	assert_int_equal(hp_params_count(NULL), 0);
	assert_null(hp_params_get(NULL, "a"));
}

static void test_params_add_value_size_limit_exact(void **state)
{
	char *v = repeat('v', HP_INPUT_MAX + 1);
	af_params *p = hp_params_new();

	(void)state;
	assert_int_equal(hp_params_add(p, "big", v), HP_ERR_TOO_BIG);
	v[HP_INPUT_MAX] = '\0';
	assert_int_equal(hp_params_add(p, "big", v), HP_OK);
	hp_params_free(p);
	free(v);
}

static void test_query_append_encodes_all_but_unreserved(void **state)
{
	char out[256] = "";

	(void)state;
	assert_int_equal(
		hp_query_append(out, sizeof(out), "code", "AZaz09-._~"), HP_OK);
	assert_string_equal(out, "code=AZaz09-._~");
	assert_int_equal(
		hp_query_append(out, sizeof(out), "a b", "x&y=z+/?#%\xc3\xa9 "),
		HP_OK);
	assert_string_equal(out,
			    "code=AZaz09-._~&a%20b=x%26y%3Dz%2B%2F%3F%23%25"
			    "%C3%A9%20");
	assert_int_equal(hp_query_append(out, sizeof(out), "e", ""), HP_OK);
	assert_string_equal(out + strlen(out) - 3, "&e=");
}

static void test_query_append_size_limit_exact(void **state)
{
	char out[16];

	(void)state;
	/* "ab=c%20d" is 8 bytes and a NUL. */
	out[0] = '\0';
	assert_int_equal(hp_query_append(out, 9, "ab", "c d"), HP_OK);
	assert_string_equal(out, "ab=c%20d");
	out[0] = '\0';
	assert_int_equal(hp_query_append(out, 8, "ab", "c d"), HP_ERR_TOO_BIG);
	assert_string_equal(out, "");
	/* Appending: "x=1&ab=c%20d" is 12 bytes and a NUL. */
	memcpy(out, "x=1", 4);
	assert_int_equal(hp_query_append(out, 12, "ab", "c d"), HP_ERR_TOO_BIG);
	assert_string_equal(out, "x=1");
	assert_int_equal(hp_query_append(out, 13, "ab", "c d"), HP_OK);
	assert_string_equal(out, "x=1&ab=c%20d");
}

static void test_query_append_bad_args_refused(void **state)
{
	char out[8];

	(void)state;
	memset(out, 'x', sizeof(out));
	/* Not NUL-terminated within outcap: refused, nothing written. */
	assert_int_equal(hp_query_append(out, sizeof(out), "a", "b"),
			 HP_ERR_ARG);
	out[0] = '\0';
	assert_int_equal(hp_query_append(out, sizeof(out), "", "b"),
			 HP_ERR_ARG);
	assert_int_equal(hp_query_append(out, sizeof(out), NULL, "b"),
			 HP_ERR_ARG);
	assert_int_equal(hp_query_append(out, sizeof(out), "a", NULL),
			 HP_ERR_ARG);
	assert_int_equal(hp_query_append(out, 0, "a", "b"), HP_ERR_ARG);
	assert_int_equal(hp_query_append(NULL, 8, "a", "b"), HP_ERR_ARG);
}

/* Every byte but NUL, as name and value, reads back exactly. */
static void test_query_append_round_trips_through_parse(void **state)
{
	char value[256], name[256], out[4096] = "";
	af_params *p;
	size_t i, n = 0;

	(void)state;
	for (i = 1; i < 256; i++)
		value[i - 1] = (char)i;
	value[255] = '\0';
	/* Names may not hold controls: from the space on, less DEL. */
	for (i = 0x20; i < 256; i++) {
		if (i != 0x7f)
			name[n++] = (char)i;
	}
	name[n] = '\0';
	assert_int_equal(hp_query_append(out, sizeof(out), name, value), HP_OK);
	assert_int_equal(hp_query_append(out, sizeof(out), "plus+", "a+b c"),
			 HP_OK);
	assert_int_equal(hp_query_append(out, sizeof(out), "empty", ""), HP_OK);
	p = parse_ok(out);
	assert_int_equal(hp_params_count(p), 3);
	assert_string_equal(hp_params_get(p, name), value);
	assert_string_equal(hp_params_get(p, "plus+"), "a+b c");
	assert_string_equal(hp_params_get(p, "empty"), "");
	hp_params_free(p);
}

static void test_html_escape_specials_escaped(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(hp_html_escape("<a href=\"x\" title='y'>&/`;</a>", out,
					sizeof(out)),
			 HP_OK);
	assert_string_equal(out,
			    "&lt;a href&#61;&quot;x&quot; title&#61;&#39;"
			    "y&#39;&gt;&amp;&#47;&#96;&#59;&lt;&#47;a&gt;");
	assert_int_equal(hp_html_escape("plain text, \xc3\xa9t\xc3\xa9!", out,
					sizeof(out)),
			 HP_OK);
	assert_string_equal(out, "plain text, \xc3\xa9t\xc3\xa9!");
	assert_int_equal(hp_html_escape("", out, sizeof(out)), HP_OK);
	assert_string_equal(out, "");
}

static void test_html_escape_controls_dropped_or_referenced(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(hp_html_escape("a\x01\x08\x0b\x0c\x1b\x1f\x7f"
					"b\tc\nd\re",
					out, sizeof(out)),
			 HP_OK);
	assert_string_equal(out, "ab&#9;c&#10;d&#13;e");
}

static void test_html_escape_size_limit_exact(void **state)
{
	char out[16];

	(void)state;
	/* "a&amp;b" is 7 bytes and a NUL. */
	assert_int_equal(hp_html_escape("a&b", out, 8), HP_OK);
	assert_string_equal(out, "a&amp;b");
	memset(out, 'x', sizeof(out));
	assert_int_equal(hp_html_escape("a&b", out, 7), HP_ERR_TOO_BIG);
	assert_string_equal(out, "");
	assert_int_equal(hp_html_escape("abc", out, 4), HP_OK);
	assert_int_equal(hp_html_escape("abc", out, 3), HP_ERR_TOO_BIG);
	assert_int_equal(hp_html_escape(NULL, out, 3), HP_ERR_ARG);
	assert_int_equal(hp_html_escape("a", NULL, 3), HP_ERR_ARG);
	assert_int_equal(hp_html_escape("a", out, 0), HP_ERR_ARG);
}

static void cookie_is(const char *header, const char *name, const char *want)
{
	char out[64];

	assert_int_equal(hp_cookie_get(header, name, out, sizeof(out)), HP_OK);
	assert_string_equal(out, want);
}

static void cookie_absent(const char *header, const char *name)
{
	char out[64];

	memset(out, 'x', sizeof(out));
	assert_int_equal(hp_cookie_get(header, name, out, sizeof(out)),
			 HP_ERR_ARG);
	assert_string_equal(out, "");
}

static void test_cookie_get_pairs_found(void **state)
{
	(void)state;
	cookie_is("a=1; b=2", "a", "1");
	cookie_is("a=1; b=2", "b", "2");
	cookie_is("a=1;b=2", "b", "2");
	cookie_is("a=1 ;  \tb=2  ", "b", "2");
	cookie_is("  sid=abc", "sid", "abc");
	cookie_is("sid=", "sid", "");
	cookie_is("sid=a=b", "sid", "a=b");
	cookie_is("sidx=1; xsid=2; sid=3", "sid", "3");
	cookie_is("__Host-sid=v!#$%&'()*+-./:<=>?@[]^_`{|}~", "__Host-sid",
		  "v!#$%&'()*+-./:<=>?@[]^_`{|}~");
	cookie_absent("a=1; b=2", "c");
	cookie_absent("", "a");
}

static void test_cookie_get_quotes_removed(void **state)
{
	(void)state;
	cookie_is("sid=\"abc\"", "sid", "abc");
	cookie_is("sid=\"\"; x=1", "sid", "");
	cookie_absent("sid=\"abc", "sid");
	cookie_absent("sid=abc\"", "sid");
	cookie_absent("sid=\"", "sid");
	cookie_absent("sid=\"a\"b\"", "sid");
}

static void test_cookie_get_name_case_sensitive(void **state)
{
	(void)state;
	cookie_absent("SID=1", "sid");
	cookie_is("SID=1; sid=2", "sid", "2");
	cookie_is("SID=1; sid=2", "SID", "1");
}

static void test_cookie_get_first_wins(void **state)
{
	(void)state;
	cookie_is("sid=first; sid=second", "sid", "first");
	cookie_is("sid=\"first\"; sid=second", "sid", "first");
}

static void test_cookie_get_malformed_pairs_skipped(void **state)
{
	(void)state;
	cookie_is("garbage; sid=1", "sid", "1");
	cookie_is("=x; sid=1", "sid", "1");
	cookie_is("a b=1; sid=2", "sid", "2");
	cookie_is("sid=a b; sid=ok", "sid", "ok");
	cookie_is("sid=a,b; sid=ok", "sid", "ok");
	cookie_is("sid=a\\b; sid=ok", "sid", "ok");
	cookie_is("sid=a\x01; sid=ok", "sid", "ok");
	cookie_is("sid=\xc3\xa9; sid=ok", "sid", "ok");
	cookie_is("s(d=1; sid=ok", "sid", "ok");
	cookie_is(";;; sid=ok;;", "sid", "ok");
	cookie_absent("sid =1", "sid");
	cookie_absent("sid= 1x", "sid");
	cookie_absent("sid", "sid");
}

static void test_cookie_get_size_limits_exact(void **state)
{
	char *header = repeat('v', HP_COOKIE_HEADER_MAX + 1);
	char out[8];

	(void)state;
	memcpy(header, "s=", 2);
	header[HP_COOKIE_HEADER_MAX - 4] = ';';
	memcpy(header + HP_COOKIE_HEADER_MAX - 3, "k=1", 3);
	/* Exactly at the cap: read; one byte more: refused. */
	header[HP_COOKIE_HEADER_MAX] = '\0';
	assert_int_equal(hp_cookie_get(header, "k", out, sizeof(out)), HP_OK);
	assert_string_equal(out, "1");
	header[HP_COOKIE_HEADER_MAX] = '1';
	assert_int_equal(hp_cookie_get(header, "k", out, sizeof(out)),
			 HP_ERR_TOO_BIG);
	free(header);
	/* A value of outcap - 1 bytes fits; one more does not. */
	assert_int_equal(hp_cookie_get("k=1234567", "k", out, sizeof(out)),
			 HP_OK);
	assert_string_equal(out, "1234567");
	assert_int_equal(
		hp_cookie_get("k=12345678; k=1", "k", out, sizeof(out)),
		HP_ERR_TOO_BIG);
	assert_string_equal(out, "");
}

static void test_cookie_next_names_in_order_skipping_bad_pairs(void **state)
{
	static const char header[] =
		"a=1; bad pair; \"q\"=2;b=\"x\" ;=3; c=; d=sp ace; e=5";
	static const char *const want[] = {"a", "b", "c", "e"};
	const char *name = NULL;
	char *big;
	size_t pos = 0, nlen = 0, i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(hp_cookie_next(header, &pos, &name, &nlen),
				 HP_OK);
		assert_int_equal(nlen, strlen(want[i]));
		assert_memory_equal(name, want[i], nlen);
	}
	assert_int_equal(hp_cookie_next(header, &pos, &name, &nlen),
			 HP_ERR_ARG);
	assert_int_equal(hp_cookie_next(header, &pos, &name, &nlen),
			 HP_ERR_ARG);
	pos = 0;
	assert_int_equal(hp_cookie_next("", &pos, &name, &nlen), HP_ERR_ARG);
	assert_int_equal(hp_cookie_next(NULL, &pos, &name, &nlen), HP_ERR_ARG);
	big = repeat('v', HP_COOKIE_HEADER_MAX + 1);
	big[0] = 's';
	big[1] = '=';
	pos = 0;
	assert_int_equal(hp_cookie_next(big, &pos, &name, &nlen),
			 HP_ERR_TOO_BIG);
	free(big);
}

static void test_cookie_get_bad_args_refused(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(hp_cookie_get(NULL, "a", out, sizeof(out)),
			 HP_ERR_ARG);
	assert_int_equal(hp_cookie_get("a=1", NULL, out, sizeof(out)),
			 HP_ERR_ARG);
	assert_int_equal(hp_cookie_get("a=1", "", out, sizeof(out)),
			 HP_ERR_ARG);
	assert_int_equal(hp_cookie_get("a=1", "a", NULL, sizeof(out)),
			 HP_ERR_ARG);
	assert_int_equal(hp_cookie_get("a=1", "a", out, 0), HP_ERR_ARG);
}

/* "Basic " and the standard base64 of raw[0..len), on the heap. */
static char *basic_header(const char *raw, size_t len)
{
	char *h = malloc(6 + (len + 2) / 3 * 4 + 1);

	assert_non_null(h);
	/* The NUL copied here is overwritten by the base64 and its NUL. */
	memcpy(h, "Basic ", 7);
	EVP_EncodeBlock((unsigned char *)h + 6, (const unsigned char *)raw,
			(int)len);
	return h;
}

static hp_status basic(const char *raw, size_t len, char *user, char *pass)
{
	char *h = basic_header(raw, len);
	hp_status st = hp_auth_basic(h, user, 64, pass, 64);

	free(h);
	return st;
}

static void test_auth_basic_rfc7617_example_parsed(void **state)
{
	char user[64], pass[64];

	(void)state;
	assert_int_equal(hp_auth_basic("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
				       user, sizeof(user), pass, sizeof(pass)),
			 HP_OK);
	assert_string_equal(user, "Aladdin");
	assert_string_equal(pass, "open sesame");
	assert_int_equal(hp_auth_basic("bAsIc QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
				       user, sizeof(user), pass, sizeof(pass)),
			 HP_OK);
	assert_int_equal(hp_auth_basic("BASIC QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
				       user, sizeof(user), pass, sizeof(pass)),
			 HP_OK);
	/* RFC 9110 11.4: one or more spaces after the scheme. */
	assert_int_equal(hp_auth_basic("Basic   QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
				       user, sizeof(user), pass, sizeof(pass)),
			 HP_OK);
	assert_string_equal(user, "Aladdin");
	assert_string_equal(pass, "open sesame");
}

static void test_auth_basic_parts_percent_decoded(void **state)
{
	char user[64], pass[64];

	(void)state;
	assert_int_equal(basic("my%20client:p%40ss+w%3Ard%25", 28, user, pass),
			 HP_OK);
	assert_string_equal(user, "my client");
	assert_string_equal(pass, "p@ss w:rd%");
	/* Split at the first ':'; later ones belong to the password. */
	assert_int_equal(basic("u:a:b:", 6, user, pass), HP_OK);
	assert_string_equal(user, "u");
	assert_string_equal(pass, "a:b:");
	assert_int_equal(basic("u:", 2, user, pass), HP_OK);
	assert_string_equal(pass, "");
	/* All three padding lengths. */
	assert_int_equal(basic("ab:c", 4, user, pass), HP_OK);
	assert_int_equal(basic("ab:cd", 5, user, pass), HP_OK);
	assert_int_equal(basic("ab:cde", 6, user, pass), HP_OK);
	assert_string_equal(pass, "cde");
}

static void test_auth_basic_bad_credentials_refused(void **state)
{
	char user[64], pass[64];

	(void)state;
	assert_int_equal(basic(":pass", 5, user, pass), HP_ERR_SYNTAX);
	assert_true(all_zero(user, sizeof(user)));
	assert_true(all_zero(pass, sizeof(pass)));
	assert_int_equal(basic("nocolon", 7, user, pass), HP_ERR_SYNTAX);
	assert_int_equal(basic("u%zz:p", 6, user, pass), HP_ERR_ENCODING);
	assert_int_equal(basic("u:p%", 4, user, pass), HP_ERR_ENCODING);
	assert_int_equal(basic("u%00:p", 6, user, pass), HP_ERR_ENCODING);
	assert_int_equal(basic("u:p\0q", 5, user, pass), HP_ERR_ENCODING);
	assert_true(all_zero(user, sizeof(user)));
	assert_int_equal(basic("u\0:p", 4, user, pass), HP_ERR_ENCODING);
}

static void test_auth_basic_bad_header_refused(void **state)
{
	static const char *bad[] = {
		"",
		"Basic",
		"Basic ",
		"Basic   ",
		"BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==",
		"Basic\tQWxhZGRpbjpvcGVuIHNlc2FtZQ==",
		" Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
		"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== ",
		"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ",
		"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=",
		"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ===",
		"Basic QWxhZGRpbjpvcGVu IHNlc2FtZQ==",
		"Basic QWxhZGRpbjpvcGVuIHNlc2FtZR==",
		"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==QQ==",
		"Basic QW=hZGRpbjpvcGVuIHNlc2FtZQ==",
		"Basic dTpw-_8=",
		"Basic dTp*",
		"Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
		"Basi QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
		"Basics QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
	};
	char user[64], pass[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(user, 'u', sizeof(user));
		memset(pass, 'p', sizeof(pass));
		assert_int_equal(hp_auth_basic(bad[i], user, sizeof(user), pass,
					       sizeof(pass)),
				 HP_ERR_SYNTAX);
		assert_true(all_zero(user, sizeof(user)));
		assert_true(all_zero(pass, sizeof(pass)));
	}
}

static void test_auth_basic_caps_exact(void **state)
{
	char user[8], pass[8];
	char *h = basic_header("1234567:abcdefg", 15);

	(void)state;
	assert_int_equal(hp_auth_basic(h, user, 8, pass, 8), HP_OK);
	assert_string_equal(user, "1234567");
	assert_string_equal(pass, "abcdefg");
	assert_int_equal(hp_auth_basic(h, user, 7, pass, 8), HP_ERR_TOO_BIG);
	assert_true(all_zero(user, 7));
	assert_true(all_zero(pass, 8));
	assert_int_equal(hp_auth_basic(h, user, 8, pass, 7), HP_ERR_TOO_BIG);
	assert_true(all_zero(user, 8));
	assert_int_equal(hp_auth_basic(h, NULL, 8, pass, 8), HP_ERR_ARG);
	assert_int_equal(hp_auth_basic(h, user, 0, pass, 8), HP_ERR_ARG);
	assert_int_equal(hp_auth_basic(h, user, 8, NULL, 8), HP_ERR_ARG);
	assert_int_equal(hp_auth_basic(h, user, 8, pass, 0), HP_ERR_ARG);
	assert_int_equal(hp_auth_basic(NULL, user, 8, pass, 8), HP_ERR_ARG);
	free(h);
}

static void test_auth_basic_header_size_limit_exact(void **state)
{
	/* The longest base64 that fits: 6 + 4088 bytes. */
	size_t rawlen = (size_t)(HP_AUTH_HEADER_MAX - 6) / 4 * 3;
	char *raw = repeat('p', rawlen), *h, *longer;
	static char user[8], pass[HP_AUTH_HEADER_MAX];

	(void)state;
	raw[0] = 'u';
	raw[1] = ':';
	h = basic_header(raw, rawlen);
	assert_int_equal(strlen(h), HP_AUTH_HEADER_MAX - 2);
	assert_int_equal(
		hp_auth_basic(h, user, sizeof(user), pass, sizeof(pass)),
		HP_OK);
	assert_int_equal(strlen(pass), rawlen - 2);
	/* At the cap the text is read (and is bad base64); past it, not. */
	longer = repeat('A', HP_AUTH_HEADER_MAX + 1);
	memcpy(longer, h, strlen(h));
	longer[HP_AUTH_HEADER_MAX] = '\0';
	assert_int_equal(
		hp_auth_basic(longer, user, sizeof(user), pass, sizeof(pass)),
		HP_ERR_SYNTAX);
	longer[HP_AUTH_HEADER_MAX] = 'A';
	assert_int_equal(
		hp_auth_basic(longer, user, sizeof(user), pass, sizeof(pass)),
		HP_ERR_TOO_BIG);
	free(longer);
	free(h);
	free(raw);
}

static void test_auth_scheme_named(void **state)
{
	(void)state;
	assert_true(hp_auth_scheme_is("Bearer abc", "bearer"));
	assert_true(hp_auth_scheme_is("bEARER", "bearer"));
	assert_true(hp_auth_scheme_is("Basic  dTpw", "basic"));
	assert_false(hp_auth_scheme_is("Basic dTpw", "bearer"));
	assert_false(hp_auth_scheme_is("Bearerabc", "bearer"));
	assert_false(hp_auth_scheme_is("Bear abc", "bearer"));
	assert_false(hp_auth_scheme_is(" Bearer abc", "bearer"));
	assert_false(hp_auth_scheme_is("", "bearer"));
	assert_false(hp_auth_scheme_is(NULL, "bearer"));
	assert_false(hp_auth_scheme_is("Bearer abc", NULL));
}

static void test_auth_bearer_tokens_parsed(void **state)
{
	static const struct {
		const char *header, *token;
	} ok[] = {
		{"Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"},
		{"bearer abc", "abc"},
		{"BEARER abc", "abc"},
		{"Bearer   abc", "abc"},
		{"Bearer abc==", "abc=="},
		{"Bearer a+/~-._Z9", "a+/~-._Z9"},
		{"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
		 "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"},
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(hp_auth_bearer(ok[i].header, out, sizeof(out)),
				 HP_OK);
		assert_string_equal(out, ok[i].token);
	}
}

static void test_auth_bearer_bad_header_refused(void **state)
{
	static const char *bad[] = {
		"",
		"Bearer",
		"Bearer ",
		"Bearer    ",
		"Bearer =abc",
		"Bearer abc=d",
		"Bearer abc ",
		"Bearer abc def",
		"Bearerabc",
		"Basic abc",
		"Bearer\tabc",
		"Bearer a,b",
		"Bearer a%20",
		"Bearer a\"b",
		" Bearer abc",
		"Bearer abc\t",
		"Bearer ab\xc3\xa9",
		"Bearer a;b",
		"Bearer a\nb",
		"Bear abc",
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(out, 'x', sizeof(out));
		assert_int_equal(hp_auth_bearer(bad[i], out, sizeof(out)),
				 HP_ERR_SYNTAX);
		assert_true(all_zero(out, sizeof(out)));
	}
}

static void test_auth_bearer_size_limits_exact(void **state)
{
	char *h = repeat('t', HP_AUTH_HEADER_MAX + 1);
	char out[8];
	static char big[HP_AUTH_HEADER_MAX];

	(void)state;
	memcpy(h, "Bearer ", 7);
	h[HP_AUTH_HEADER_MAX] = '\0';
	assert_int_equal(hp_auth_bearer(h, big, sizeof(big)), HP_OK);
	assert_int_equal(strlen(big), HP_AUTH_HEADER_MAX - 7);
	h[HP_AUTH_HEADER_MAX] = 't';
	assert_int_equal(hp_auth_bearer(h, big, sizeof(big)), HP_ERR_TOO_BIG);
	assert_true(all_zero(big, sizeof(big)));
	free(h);
	assert_int_equal(hp_auth_bearer("Bearer 1234567", out, sizeof(out)),
			 HP_OK);
	assert_string_equal(out, "1234567");
	assert_int_equal(hp_auth_bearer("Bearer 12345678", out, sizeof(out)),
			 HP_ERR_TOO_BIG);
	assert_true(all_zero(out, sizeof(out)));
	assert_int_equal(hp_auth_bearer(NULL, out, sizeof(out)), HP_ERR_ARG);
	assert_int_equal(hp_auth_bearer("Bearer a", NULL, 8), HP_ERR_ARG);
	assert_int_equal(hp_auth_bearer("Bearer a", out, 0), HP_ERR_ARG);
}

static const char *const good_uris[] = {
	"https://good.com",
	"https://good.com/",
	"https://good.com/cb",
	"HTTPS://GOOD.COM",
	"HtTpS://Good.Com/Cb",
	"https://good.com:8443/cb",
	"https://good.com:1",
	"https://good.com:65535/",
	"https://good.com/cb?x=1&y=2",
	"https://good.com?x=1",
	"https://good.com/a%20b%2F",
	"https://good.com/p;a=1/@x:y!$'()*+,~",
	"https://good.com/?next=@evil.com",
	"https://good.com//evil.com",
	"https://sub.good.com/cb",
	"https://xn--nxasmq6b.com/",
	"https://a-b.c-d.com",
	"https://localhost.evil.com/",
	"https://127.0.0.1.evil.com/",
	"https://1.2.3.com",
	"https://127.0.0.1/cb",
	"https://10.0.0.1",
	"https://0.0.0.0",
	"https://[2001:db8::1]/cb",
	"https://[2001:db8::1]:8443",
	"https://[::ffff:192.0.2.1]/",
	"http://127.0.0.1/cb",
	"http://127.0.0.1:8080/cb",
	"http://127.255.255.254:1",
	"http://localhost",
	"http://LOCALHOST:3000/cb",
	"http://localhost/cb?a=b",
	"http://[::1]/cb",
	"http://[::1]:8080",
	"http://[0:0:0:0:0:0:0:1]",
};

static const char *const bad_uris[] = {
	/* No scheme, or protocol-relative. */
	"//evil.com",
	"///evil.com",
	"////evil.com",
	"/\\evil.com",
	"\\\\evil.com",
	"\\/evil.com",
	"/%09/evil.com",
	"/%5cevil.com",
	"//%2f%2fevil.com",
	"/cb",
	"good.com/cb",
	"://good.com",
	"",
	/* Scheme without "//", or with backslashes. */
	"https:evil.com",
	"https:/evil.com",
	"https:\\\\evil.com",
	"https:/\\evil.com",
	"https:\\/evil.com",
	"https//good.com",
	"https:///evil.com",
	"https:////evil.com",
	"https://\\evil.com",
	"https://good.com/\\evil.com",
	"https://good.com\\evil.com",
	/* Userinfo and its confusions. */
	"https://evil.com\\@good.com",
	"https://good.com\\@evil.com",
	"https://good.com@evil.com",
	"https://user:pass@good.com/",
	"https://@good.com",
	"https://good.com:@evil.com",
	"https://good.com:443@evil.com",
	"http://127.0.0.1@evil.com",
	"http://localhost@evil.com",
	"http://127.0.0.1\\@evil.com",
	/* Escapes in the host. */
	"https://good.com%40evil.com",
	"https://evil.com%2f@good",
	"https://evil.com%2f.good.com",
	"https://good.com%2eevil.com",
	"https://%65vil.com",
	"http://localhost%2eevil.com",
	"http://127.0.0.1%2f.evil.com",
	"https://good.com%00.evil.com",
	/* Loopback look-alikes with http. */
	"http://127.0.0.1.evil.com",
	"http://localhost.evil.com",
	"http://localhost./",
	"http://localhost.",
	"http://localhostevil.com",
	"http://evil.com",
	"http://good.com/cb",
	"http://10.0.0.1",
	"http://[::2]",
	"http://[::ffff:127.0.0.1]",
	"http://[::]",
	/* Numbers that browsers read as other addresses. */
	"http://127.1",
	"http://0x7f.0.0.1",
	"http://0x7f000001",
	"http://0177.0.0.1",
	"http://2130706433",
	"http://017700000001",
	"http://127.000.000.001",
	"https://127.1",
	"https://0x7f000001",
	"https://1.2.3.4.5",
	"https://256.0.0.1",
	"https://1.2.3",
	"https://01.2.3.4",
	"https://1.2.3.4.",
	"https://evil.0x10",
	"https://evil.123",
	/* Bad ports. */
	"http://localhost:0",
	"http://127.0.0.1:65536",
	"http://127.0.0.1:99999",
	"http://127.0.0.1:-1",
	"http://127.0.0.1:80a",
	"http://127.0.0.1:",
	"https://good.com:0443",
	"https://good.com:00",
	"https://good.com:+443",
	"https://good.com:443:443",
	"https://good.com:0x1bb",
	"https://good.com:1000000",
	/* Other schemes. */
	"javascript:alert(1)",
	"javascript://good.com/%0aalert(1)",
	"JaVaScRiPt:alert(1)",
	"javascript://%0aalert(1)",
	"data:text/html,<script>alert(1)</script>",
	"data://good.com",
	"vbscript:msgbox(1)",
	"file:///etc/passwd",
	"file://good.com/x",
	"ftp://good.com/",
	"com.example.app:/cb",
	"myapp://callback",
	"https+x://good.com",
	"httpx://good.com",
	"httpss://good.com",
	"ws://localhost",
	"wss://good.com",
	"1https://good.com",
	/* Whitespace and controls, inside or around. */
	" https://good.com",
	"https://good.com ",
	"https://good .com",
	"https://good.com/a b",
	"https://good.com/\t",
	"https://goo\td.com",
	"\thttps://good.com",
	"https://good.com\n",
	"https://good.com\r\n.evil.com",
	"java\tscript:alert(1)",
	"ht\ntps://good.com",
	"\x01https://good.com",
	"https://good.com\x7f",
	"https://good.com/\x1b",
	/* Fragments. */
	"https://good.com#frag",
	"https://good.com/#",
	"https://good.com/cb#@evil.com",
	"https://evil.com#.good.com",
	"https://evil.com#@good.com",
	/* Unicode dots and look-alikes (raw UTF-8). */
	"https://good\343\200\202com",
	"https://good\357\274\216com",
	"https://evil\357\275\241com",
	"https://good.com\xe2\x80\xae",
	"https://\xe2\x93\x94vil.com",
	"https://good.com/\xc3\xa9",
	"https://g\xc0\xaeood.com",
	/* IPv6 literals not properly bracketed. */
	"https://[::1",
	"https://::1]",
	"https://::1/",
	"https://[::1]evil.com",
	"https://[::1]:",
	"https://[::1]:0",
	"https://[::1%25eth0]",
	"https://[fe80::1%eth0]",
	"https://[v1.fe]",
	"https://[::1]]",
	"https://[[::1]]",
	"https://[1:2:3:4:5:6:7:8:9]",
	"https://[gggg::1]",
	"https://[]",
	"https://[:]",
	"https://[127.0.0.1]",
	"http://[::1].evil.com",
	/* Empty or malformed hosts. */
	"https://",
	"https://:443",
	"https://?x",
	"https:///",
	"https://good..com",
	"https://.good.com",
	"https://good.com.",
	"https://-good.com",
	"https://good-.com",
	"https://good_com.com",
	"https://good.com;evil.com",
	"https://good.com,evil.com",
	"https://good.com!",
	"https://good.com*",
	"https://(good).com",
	"https://good.com~",
	"https://good.com'evil.com",
	"https://good.com&evil.com",
	"https://good.com=evil.com",
	"https://good.com+evil.com",
	"https://good.com$",
	/* Bad characters or escapes in the path and query. */
	"https://good.com/%zz",
	"https://good.com/%",
	"https://good.com/%2",
	"https://good.com/<script>",
	"https://good.com/\"x",
	"https://good.com/{x}",
	"https://good.com/x|y",
	"https://good.com/x^y",
	"https://good.com/`x`",
	"https://good.com/[x]",
	"https://good.com?a=<b>",
};

static void test_redirect_uri_check_good_accepted(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_uris) / sizeof(good_uris[0]); i++) {
		if (hp_redirect_uri_check(good_uris[i]) != HP_OK)
			fail_msg("refused: %s", good_uris[i]);
	}
}

static void test_redirect_uri_check_payloads_refused(void **state)
{
	size_t i, n = sizeof(bad_uris) / sizeof(bad_uris[0]);

	(void)state;
	assert_true(n >= 100);
	for (i = 0; i < n; i++) {
		if (hp_redirect_uri_check(bad_uris[i]) != HP_ERR_SYNTAX)
			fail_msg("accepted: %s", bad_uris[i]);
	}
	assert_int_equal(hp_redirect_uri_check(NULL), HP_ERR_ARG);
}

static void test_redirect_uri_check_size_limits_exact(void **state)
{
	char *uri = repeat('a', HP_URI_MAX + 1);
	char *label;
	char host[300];
	size_t i;

	(void)state;
	memcpy(uri, "https://good.com/", 17);
	uri[HP_URI_MAX] = '\0';
	assert_int_equal(hp_redirect_uri_check(uri), HP_OK);
	uri[HP_URI_MAX] = 'a';
	assert_int_equal(hp_redirect_uri_check(uri), HP_ERR_SYNTAX);
	free(uri);
	/* A label of 63 bytes passes; 64 does not. */
	label = repeat('l', 64);
	memcpy(host, "https://", 8);
	memcpy(host + 8, label, 63);
	memcpy(host + 71, ".com", 5);
	assert_int_equal(hp_redirect_uri_check(host), HP_OK);
	memcpy(host + 8, label, 64);
	memcpy(host + 72, ".com", 5);
	assert_int_equal(hp_redirect_uri_check(host), HP_ERR_SYNTAX);
	free(label);
	/* A host of 253 bytes passes; 254 does not. */
	memcpy(host, "https://", 8);
	for (i = 0; i < 253; i++)
		host[8 + i] = i % 2 == 0 ? 'h' : '.';
	host[8 + 253] = '\0';
	assert_int_equal(hp_redirect_uri_check(host), HP_OK);
	host[8 + 253] = 'h';
	host[8 + 252] = 'h';
	host[8 + 254] = '\0';
	assert_int_equal(hp_redirect_uri_check(host), HP_ERR_SYNTAX);
}

static void test_user_agent_told_in_known_words(void **state)
{
	static const struct {
		const char *ua;
		const char *said; /* NULL: unknown */
	} cases[] = {
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) "
		 "Gecko/20100101 Firefox/128.0",
		 "Firefox on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
		 "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 "
		 "Edg/126.0.0.0",
		 "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
		 "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
		 "Safari/605.1.15",
		 "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
		 "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
		 "Mobile/15E148 Safari/604.1",
		 "Safari on iOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
		 "AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 "
		 "Mobile/15E148 Safari/604.1",
		 "Chrome on iOS"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
		 "(KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
		 "Chrome on Android"},
		{"Mozilla/5.0 (Linux; Android 14; SM-S921B) "
		 "AppleWebKit/537.36 (KHTML, like Gecko) "
		 "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
		 "Samsung Internet on Android"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, "
		 "like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0",
		 "Opera on Linux"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 "
		 "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		 "Chrome on ChromeOS"},
		{"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) "
		 "AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 "
		 "Mobile/15E148 Safari/605.1.15",
		 "Firefox on iPadOS"},
		{"Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
		 "Internet Explorer on Windows"},
		/* A WebKit view without Version/ is no Safari. */
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 "
		 "Safari/605.1.15",
		 "a browser on Linux"},
		{"curl/8.5.0", NULL},
		{"node", NULL},
		{"", NULL},
		/* Markup or quotes in the header never come out. */
		{"<script>alert(1)</script> Firefox/1", "Firefox"},
	};
	char out[HP_USER_AGENT_DESC_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hp_status st =
			hp_user_agent_describe(cases[i].ua, out, sizeof(out));

		if (cases[i].said == NULL) {
			assert_int_equal(st, HP_ERR_SYNTAX);
			assert_string_equal(out, "");
		} else {
			assert_int_equal(st, HP_OK);
			assert_string_equal(out, cases[i].said);
		}
	}
}

static void test_user_agent_bounds(void **state)
{
	char big[HP_USER_AGENT_SCAN + 64], small[8];

	(void)state;
	/* Only the first HP_USER_AGENT_SCAN bytes are read. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + HP_USER_AGENT_SCAN, "Firefox/1", 9);
	assert_int_equal(hp_user_agent_describe(big, small, sizeof(small)),
			 HP_ERR_SYNTAX);
	memcpy(big + HP_USER_AGENT_SCAN - 9, "Firefox/1", 9);
	assert_int_equal(hp_user_agent_describe(big, small, sizeof(small)),
			 HP_OK);
	assert_string_equal(small, "Firefox");
	assert_int_equal(
		hp_user_agent_describe("Edg/1 (Windows)", small, sizeof(small)),
		HP_ERR_TOO_BIG);
	assert_string_equal(small, "");
	assert_int_equal(hp_user_agent_describe(NULL, small, sizeof(small)),
			 HP_ERR_ARG);
	assert_int_equal(hp_user_agent_describe("Firefox/1", NULL, 8),
			 HP_ERR_ARG);
	assert_int_equal(hp_user_agent_describe("Firefox/1", small, 0),
			 HP_ERR_ARG);
}

/* The proxies of the X-Forwarded-For tests: 10.0.0.0/8 and fd00::/8. */
static size_t xff_proxies(af_ipnet nets[2])
{
	assert_int_equal(af_ipnet_parse("10.0.0.0/8", &nets[0]), 0);
	assert_int_equal(af_ipnet_parse("fd00::/8", &nets[1]), 0);
	return 2;
}

/*
 * The client is the nearest entry from the right that is no trusted
 * proxy; what comes before it is the client's own text, never believed.
 */
static void test_xff_nearest_untrusted_hop(void **state)
{
	static const struct {
		const char *header;
		const char *client;
	} cases[] = {
		{"203.0.113.7", "203.0.113.7"},
		{"198.51.100.1, 203.0.113.7, 10.0.0.2", "203.0.113.7"},
		{"not an address, 203.0.113.7", "203.0.113.7"},
		{"\t 203.0.113.7 \t", "203.0.113.7"},
		{"2001:db8::1, fd00::5", "2001:db8::1"},
		{"2001:DB8:0:0::1", "2001:db8::1"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{",203.0.113.7", "203.0.113.7"},
	};
	char out[HP_XFF_HOP_MAX];
	af_ipnet nets[2];
	size_t n = xff_proxies(nets), i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(hp_xff_client(cases[i].header, nets, n, out,
					       sizeof(out)),
				 HP_OK);
		assert_string_equal(out, cases[i].client);
	}
	/* No proxies trusted: the last entry is the client. */
	assert_int_equal(
		hp_xff_client("1.2.3.4, 10.0.0.2", NULL, 0, out, sizeof(out)),
		HP_OK);
	assert_string_equal(out, "10.0.0.2");
}

/* A header that cannot vouch for anyone leaves the peer's address. */
static void test_xff_unusable_refused(void **state)
{
	static const char *const bad[] = {
		"",
		" ",
		"203.0.113.7,",
		"203.0.113.7, junk",
		"203.0.113.7, 10.0.0.0/8",
		"10.0.0.1, 10.0.0.2",
		"fd00::1",
		"203.0.113.7,,10.0.0.1",
		"1.2.3.4.5",
		"[2001:db8::1]",
		"203.0.113.7:443",
	};
	char out[HP_XFF_HOP_MAX], big[HP_XFF_SCAN + 2];
	af_ipnet nets[2];
	size_t n = xff_proxies(nets), i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			hp_xff_client(bad[i], nets, n, out, sizeof(out)),
			HP_ERR_SYNTAX);
		assert_string_equal(out, "");
	}
	/* Bounds: the header, out, and the arguments. */
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + sizeof(big) - 12, "203.0.113.7", 11);
	assert_int_equal(hp_xff_client(big, nets, n, out, sizeof(out)),
			 HP_ERR_TOO_BIG);
	assert_int_equal(hp_xff_client(big + 1, nets, n, out, sizeof(out)),
			 HP_OK);
	assert_string_equal(out, "203.0.113.7");
	assert_int_equal(hp_xff_client("203.0.113.7", nets, n, out, 11),
			 HP_ERR_TOO_BIG);
	assert_int_equal(hp_xff_client("203.0.113.7", nets, n, out, 12), HP_OK);
	assert_int_equal(hp_xff_client(NULL, nets, n, out, sizeof(out)),
			 HP_ERR_ARG);
	assert_int_equal(hp_xff_client("1.2.3.4", NULL, 1, out, sizeof(out)),
			 HP_ERR_ARG);
	assert_int_equal(hp_xff_client("1.2.3.4", nets, n, NULL, 8),
			 HP_ERR_ARG);
	assert_int_equal(hp_xff_client("1.2.3.4", nets, n, out, 0), HP_ERR_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_every_status_has_text),
		cmocka_unit_test(test_form_decode_plus_and_escapes_decoded),
		cmocka_unit_test(test_form_decode_bad_input_refused),
		cmocka_unit_test(test_uri_decode_plus_is_literal),
		cmocka_unit_test(test_params_parse_pairs_in_order),
		cmocka_unit_test(test_params_parse_semicolon_is_data),
		cmocka_unit_test(test_params_parse_plus_and_escapes_decoded),
		cmocka_unit_test(test_params_parse_empty_pieces_skipped),
		cmocka_unit_test(
			test_params_parse_name_without_equals_empty_value),
		cmocka_unit_test(test_params_parse_empty_name_refused),
		cmocka_unit_test(test_params_parse_duplicate_refused),
		cmocka_unit_test(test_params_parse_bad_encoding_refused),
		cmocka_unit_test(test_params_parse_controls_only_in_values),
		cmocka_unit_test(test_params_parse_count_limit_exact),
		cmocka_unit_test(test_params_parse_repeats_count),
		cmocka_unit_test(test_params_parse_size_limit_exact),
		cmocka_unit_test(test_params_parse_bad_args_refused),
		cmocka_unit_test(test_params_add_rules),
		cmocka_unit_test(test_params_add_value_size_limit_exact),
		cmocka_unit_test(test_query_append_encodes_all_but_unreserved),
		cmocka_unit_test(test_query_append_size_limit_exact),
		cmocka_unit_test(test_query_append_bad_args_refused),
		cmocka_unit_test(test_query_append_round_trips_through_parse),
		cmocka_unit_test(test_html_escape_specials_escaped),
		cmocka_unit_test(
			test_html_escape_controls_dropped_or_referenced),
		cmocka_unit_test(test_html_escape_size_limit_exact),
		cmocka_unit_test(test_cookie_get_pairs_found),
		cmocka_unit_test(test_cookie_get_quotes_removed),
		cmocka_unit_test(test_cookie_get_name_case_sensitive),
		cmocka_unit_test(test_cookie_get_first_wins),
		cmocka_unit_test(test_cookie_get_malformed_pairs_skipped),
		cmocka_unit_test(test_cookie_get_size_limits_exact),
		cmocka_unit_test(test_cookie_get_bad_args_refused),
		cmocka_unit_test(
			test_cookie_next_names_in_order_skipping_bad_pairs),
		cmocka_unit_test(test_auth_basic_rfc7617_example_parsed),
		cmocka_unit_test(test_auth_basic_parts_percent_decoded),
		cmocka_unit_test(test_auth_basic_bad_credentials_refused),
		cmocka_unit_test(test_auth_basic_bad_header_refused),
		cmocka_unit_test(test_auth_basic_caps_exact),
		cmocka_unit_test(test_auth_basic_header_size_limit_exact),
		cmocka_unit_test(test_auth_bearer_tokens_parsed),
		cmocka_unit_test(test_auth_bearer_bad_header_refused),
		cmocka_unit_test(test_auth_bearer_size_limits_exact),
		cmocka_unit_test(test_auth_scheme_named),
		cmocka_unit_test(test_redirect_uri_check_good_accepted),
		cmocka_unit_test(test_redirect_uri_check_payloads_refused),
		cmocka_unit_test(test_redirect_uri_check_size_limits_exact),
		cmocka_unit_test(test_user_agent_told_in_known_words),
		cmocka_unit_test(test_user_agent_bounds),
		cmocka_unit_test(test_xff_nearest_untrusted_hop),
		cmocka_unit_test(test_xff_unusable_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
