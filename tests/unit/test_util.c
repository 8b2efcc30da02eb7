/* Unit tests of the shared helpers: compare, tokens, base64url, hashes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/util.h"

#define TOKENS_N    256
#define TOKEN_BYTES 16

static void test_ct_equal_equal_returns_one(void **state)
{
	(void)state;
	assert_int_equal(af_ct_equal("secret", 6, "secret", 6), 1);
	assert_int_equal(af_ct_equal("\0\1\2", 3, "\0\1\2", 3), 1);
	assert_int_equal(af_ct_streq("token", "token"), 1);
}

static void test_ct_equal_different_returns_zero(void **state)
{
	(void)state;
	assert_int_equal(af_ct_equal("secret", 6, "secreT", 6), 0);
	assert_int_equal(af_ct_equal("xecret", 6, "secret", 6), 0);
	assert_int_equal(af_ct_streq("token", "tokem"), 0);
}

static void test_ct_equal_different_lengths_returns_zero(void **state)
{
	(void)state;
	/* A prefix must not match: the lengths differ. */
	assert_int_equal(af_ct_equal("secret", 6, "secret!", 7), 0);
	assert_int_equal(af_ct_equal("secret!", 7, "secret", 6), 0);
	assert_int_equal(af_ct_streq("abc", "abcd"), 0);
}

static void test_ct_equal_null_or_empty_fails_closed(void **state)
{
	(void)state;
	assert_int_equal(af_ct_equal(NULL, 0, NULL, 0), 0);
	assert_int_equal(af_ct_equal(NULL, 3, "abc", 3), 0);
	assert_int_equal(af_ct_equal("abc", 3, NULL, 3), 0);
	assert_int_equal(af_ct_equal("", 0, "", 0), 0);
	assert_int_equal(af_ct_equal("abc", 0, "abc", 0), 0);
	assert_int_equal(af_ct_equal("abc", 3, "", 0), 0);
	assert_int_equal(af_ct_streq(NULL, NULL), 0);
	assert_int_equal(af_ct_streq("", ""), 0);
	assert_int_equal(af_ct_streq(NULL, "a"), 0);
}

/* RFC 4648 section 10, in the URL alphabet without padding. */
static void test_b64url_rfc4648_vectors(void **state)
{
	static const struct {
		const char *plain, *enc;
	} v[] = {{"", ""},
		 {"f", "Zg"},
		 {"fo", "Zm8"},
		 {"foo", "Zm9v"},
		 {"foob", "Zm9vYg"},
		 {"fooba", "Zm9vYmE"},
		 {"foobar", "Zm9vYmFy"}};
	char out[16];
	uint8_t dec[16];
	size_t i, n, len;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		len = strlen(v[i].plain);
		assert_int_equal(af_b64url_len(len), strlen(v[i].enc));
		assert_int_equal(
			af_b64url_encode(v[i].plain, len, out, sizeof(out)), 0);
		assert_string_equal(out, v[i].enc);
		n = 99;
		assert_int_equal(af_b64url_decode(v[i].enc, strlen(v[i].enc),
						  dec, sizeof(dec), &n),
				 0);
		assert_int_equal(n, len);
		assert_memory_equal(dec, v[i].plain, len);
	}
}

static void test_b64url_url_alphabet_and_padding(void **state)
{
	static const uint8_t raw[] = {0xfb, 0xff, 0xbf};
	uint8_t dec[8];
	char out[8];
	size_t n = 0;

	(void)state;
	/* Standard base64 would give "+/+/" here. */
	assert_int_equal(af_b64url_encode(raw, sizeof(raw), out, sizeof(out)),
			 0);
	assert_string_equal(out, "-_-_");
	assert_int_equal(af_b64url_decode("Zg==", 4, dec, sizeof(dec), &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(dec[0], 'f');
	assert_int_equal(af_b64url_decode("Zm8=", 4, dec, sizeof(dec), &n), 0);
	assert_int_equal(n, 2);
}

static void test_b64url_round_trip_every_length(void **state)
{
	uint8_t raw[97], dec[97];
	char enc[140];
	size_t len, n;

	(void)state;
	for (len = 0; len < sizeof(raw); len++)
		raw[len] = (uint8_t)(len * 37 + 11);
	for (len = 0; len <= sizeof(raw); len++) {
		assert_int_equal(af_b64url_encode(raw, len, enc, sizeof(enc)),
				 0);
		assert_int_equal(strlen(enc), af_b64url_len(len));
		assert_int_equal(af_b64url_decode(enc, strlen(enc), dec,
						  sizeof(dec), &n),
				 0);
		assert_int_equal(n, len);
		assert_memory_equal(dec, raw, len);
	}
}

static void test_b64url_decode_bad_input_refused(void **state)
{
	uint8_t dec[16];
	size_t n = 0;

	(void)state;
	assert_int_equal(af_b64url_decode("Zm+v", 4, dec, sizeof(dec), &n), -1);
	assert_int_equal(af_b64url_decode("Zm/v", 4, dec, sizeof(dec), &n), -1);
	assert_int_equal(af_b64url_decode("Zm9 ", 4, dec, sizeof(dec), &n), -1);
	assert_int_equal(af_b64url_decode("Zm=v", 4, dec, sizeof(dec), &n), -1);
	/* One character alone carries only six bits: no whole byte. */
	assert_int_equal(af_b64url_decode("Z", 1, dec, sizeof(dec), &n), -1);
	assert_int_equal(af_b64url_decode("Zm9vY", 5, dec, sizeof(dec), &n),
			 -1);
	/* "Zh": the unused low bits of 'h' are not zero (RFC 4648 3.5). */
	assert_int_equal(af_b64url_decode("Zh", 2, dec, sizeof(dec), &n), -1);
	assert_int_equal(af_b64url_decode("Zm9", 3, dec, sizeof(dec), &n), -1);
	/* Output capacity too small. */
	assert_int_equal(af_b64url_decode("Zm9vYmFy", 8, dec, 5, &n), -1);
	assert_int_equal(af_b64url_decode(NULL, 0, dec, sizeof(dec), &n), -1);
	assert_int_equal(af_b64url_decode("Zg", 2, NULL, 0, &n), -1);
	assert_int_equal(af_b64url_decode("Zg", 2, dec, sizeof(dec), NULL), -1);
}

static void test_b64url_encode_small_buffer_refused(void **state)
{
	char out[16];

	(void)state;
	/* "foobar" needs 8 characters and the NUL. */
	assert_int_equal(af_b64url_encode("foobar", 6, out, 8), -1);
	assert_int_equal(af_b64url_encode("foobar", 6, out, 9), 0);
	assert_string_equal(out, "Zm9vYmFy");
	assert_int_equal(af_b64url_encode(NULL, 3, out, sizeof(out)), -1);
	assert_int_equal(af_b64url_encode("f", 1, NULL, 8), -1);
}

static int in_b64url_alphabet(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* The alphabet checks agree with the reference below on every byte. */
static void test_b64url_text_ok(void **state)
{
	char one[2] = {0, 0};
	int c;

	(void)state;
	for (c = -128; c < 256; c++) {
		one[0] = (char)c;
		assert_int_equal(af_b64url_char(c),
				 c >= 0 && c < 128 &&
					 in_b64url_alphabet((char)c));
		assert_int_equal(af_b64url_text_ok(one, 1),
				 in_b64url_alphabet((char)c));
	}
	assert_int_equal(af_b64url_text_ok("Zm9v-_09", 8), 1);
	assert_int_equal(af_b64url_text_ok("Zm9v+/09", 8), 0);
	assert_int_equal(af_b64url_text_ok("Zm9v=", 5), 0);
	assert_int_equal(af_b64url_text_ok("Zm9v", 0), 0);
	assert_int_equal(af_b64url_text_ok(NULL, 3), 0);
	/* Only the n characters asked about count. */
	assert_int_equal(af_b64url_text_ok("ab!", 2), 1);
}

static void test_random_token_length_alphabet_unique(void **state)
{
	char(*tok)[32] = calloc(TOKENS_N, sizeof(*tok));
	size_t i, j, k;

	(void)state;
	assert_non_null(tok);
	for (i = 0; i < TOKENS_N; i++) {
		assert_int_equal(af_random_token(TOKEN_BYTES, tok[i], 32), 0);
		assert_int_equal(strlen(tok[i]), af_b64url_len(TOKEN_BYTES));
		for (k = 0; tok[i][k] != '\0'; k++)
			assert_true(in_b64url_alphabet(tok[i][k]));
		for (j = 0; j < i; j++)
			assert_string_not_equal(tok[i], tok[j]);
	}
	free(tok);
}

static void test_random_token_bad_arguments_refused(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(af_random_token(0, out, sizeof(out)), -1);
	assert_int_equal(af_random_token(129, out, sizeof(out)), -1);
	assert_int_equal(af_random_token(16, NULL, 64), -1);
	/* 16 bytes need 22 characters and a NUL. */
	assert_int_equal(af_random_token(16, out, 22), -1);
	assert_int_equal(af_random_token(16, out, 23), 0);
	assert_int_equal(strlen(out), 22);
}

static void test_random_bytes_fills_buffer(void **state)
{
	uint8_t a[32] = {0}, b[32] = {0};

	(void)state;
	assert_int_equal(af_random_bytes(a, sizeof(a)), 0);
	assert_int_equal(af_random_bytes(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(af_random_bytes(NULL, 4), -1);
}

/*
 * Bytes are drawn ahead into a per-thread buffer: across its refills, in
 * a forked child and on another thread, no bytes are handed out twice.
 */
static void test_random_bytes_across_refills(void **state)
{
	uint8_t *all = calloc(1, 8192);
	size_t off = 0, n = 1, i, j;

	(void)state;
	assert_non_null(all);
	/* Every size from 1 to 80 (over the buffered size too), in turn. */
	while (off + n <= 8192) {
		assert_int_equal(af_random_bytes(all + off, n), 0);
		off += n;
		n = n % 80 + 1;
	}
	/* No 16-byte run twice: repeats would show where a refill went. */
	for (i = 0; i + 16 <= off; i += 16)
		for (j = i + 16; j + 16 <= off; j += 16)
			assert_memory_not_equal(all + i, all + j, 16);
	free(all);
}

static void test_random_bytes_forked_child_differs(void **state)
{
	uint8_t mine[32], childs[32];
	int fds[2], status = 0;
	pid_t pid;

	(void)state;
	/* Something is buffered before the fork. */
	assert_int_equal(af_random_bytes(mine, 8), 0);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t b[32];

		close(fds[0]);
		_exit(af_random_bytes(b, sizeof(b)) == 0 &&
				      write(fds[1], b, sizeof(b)) ==
					      (ssize_t)sizeof(b)
			      ? 0
			      : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], childs, sizeof(childs)),
			 (ssize_t)sizeof(childs));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(af_random_bytes(mine, sizeof(mine)), 0);
	assert_memory_not_equal(mine, childs, sizeof(mine));
}

static void *draw_on_thread(void *arg)
{
	return af_random_bytes(arg, 32) == 0 ? arg : NULL;
}

static void test_random_bytes_threads_differ(void **state)
{
	uint8_t mine[32], theirs[32];
	pthread_t t;
	void *got = NULL;

	(void)state;
	assert_int_equal(af_random_bytes(mine, 8), 0);
	assert_int_equal(pthread_create(&t, NULL, draw_on_thread, theirs), 0);
	assert_int_equal(pthread_join(t, &got), 0);
	assert_ptr_equal(got, theirs);
	assert_int_equal(af_random_bytes(mine, sizeof(mine)), 0);
	assert_memory_not_equal(mine, theirs, sizeof(mine));
}

/* FIPS 180-2 appendix B.1 and the empty string. */
static void test_sha256_hex_known_vectors(void **state)
{
	char hex[65];
	uint8_t d[32];

	(void)state;
	af_sha256_hex("abc", 3, hex);
	assert_string_equal(
		hex,
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	af_sha256_hex("", 0, hex);
	assert_string_equal(
		hex,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	af_sha256("abc", 3, d);
	assert_int_equal(d[0], 0xba);
	assert_int_equal(d[31], 0xad);
	/* Any bytes, and none. */
	af_hex("\x00\x0f\xf0\xff", 4, hex);
	assert_string_equal(hex, "000ff0ff");
	af_hex("", 0, hex);
	assert_string_equal(hex, "");
}

static void test_time_iso8601_formats_utc(void **state)
{
	char out[32];

	(void)state;
	af_time_iso8601(0, out, sizeof(out));
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	af_time_iso8601(1234567890, out, sizeof(out));
	assert_string_equal(out, "2009-02-13T23:31:30Z");
	af_time_iso8601(951782400, out, sizeof(out));
	assert_string_equal(out, "2000-02-29T00:00:00Z");
	/* Too small: an empty string, never a cut date. */
	af_time_iso8601(0, out, 20);
	assert_string_equal(out, "");
	af_time_iso8601(0, out, 21);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	af_time_iso8601(0, NULL, 0);
}

static void test_clocks_move_forward(void **state)
{
	uint64_t m1, m2;
	int64_t now = af_now(), ms = af_now_ms();

	(void)state;
	/* After 2020-01-01 and consistent with each other. */
	assert_true(now > 1577836800);
	assert_true(ms / 1000 - now <= 1 && ms / 1000 - now >= 0);
	m1 = af_mono_ns();
	m2 = af_mono_ns();
	assert_true(m2 >= m1);
}

static void test_free_secret_accepts_null(void **state)
{
	char *s = malloc(8);

	(void)state;
	assert_non_null(s);
	memcpy(s, "secret", 7);
	af_free_secret(s);
	af_free_secret(NULL);
}

/* Well-formed sequences of every length, and each way one can be bad. */
static void test_utf8_next_accepts_and_refuses(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		uint32_t cp;
	} cases[] = {
		{"A", 1, 0x41},
		{"\xc3\xa9", 2, 0xe9},
		{"\xe2\x82\xac", 3, 0x20ac},
		{"\xf0\x9f\x98\x80", 4, 0x1f600},
		{"\xf4\x8f\xbf\xbf", 4, 0x10ffff},
		{"\x80", 0, 0},		    /* a continuation byte first */
		{"\xc0\xaf", 0, 0},	    /* overlong, bad lead */
		{"\xe0\x80\xaf", 0, 0},	    /* overlong */
		{"\xf0\x80\x80\xaf", 0, 0}, /* overlong */
		{"\xed\xa0\x80", 0, 0},	    /* a UTF-16 surrogate */
		{"\xf4\x90\x80\x80", 0, 0}, /* past U+10FFFF */
		{"\xf5\x80\x80\x80", 0, 0}, /* bad lead */
		{"\xc3\x28", 0, 0},	    /* bad continuation */
		{"\xe2\x82", 0, 0},	    /* cut short */
	};
	size_t i;
	uint32_t cp;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const unsigned char *s = (const unsigned char *)cases[i].s;

		cp = 0;
		assert_int_equal(af_utf8_next(s, strlen(cases[i].s), &cp),
				 cases[i].len);
		if (cases[i].len > 0)
			assert_int_equal(cp, cases[i].cp);
	}
	/* The length counts: a sequence longer than what is left is cut. */
	assert_int_equal(
		af_utf8_next((const unsigned char *)"\xe2\x82\xac", 2, NULL),
		0);
}

static void test_utf8_display_chars_refuses_hidden_text(void **state)
{
	static const char *const hidden[] = {
		"a\x01",
		"a\x7f",
		"a\xc2\x85",
		"a\xe2\x80\x8b",
		"a\xe2\x80\x8f",
		"a\xe2\x80\xa8",
		"a\xe2\x80\xae",
		"a\xe2\x81\xa6",
		"a\xe2\x81\xa9",
		"a\xd8\x9c",
		"a\xef\xbb\xbf",
		"a\xff",
		/* Soft hyphen, Hangul filler, a tag character. */
		"a\xc2\xad",
		"a\xe3\x85\xa4",
		"a\xf3\xa0\x80\x81",
		/* Noncharacters: U+FDD0, U+FFFE, U+1FFFF, U+10FFFF. */
		"a\xef\xb7\x90",
		"a\xef\xbf\xbe",
		"a\xf0\x9f\xbf\xbf",
		"a\xf4\x8f\xbf\xbf",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		assert_int_equal(
			af_utf8_display_chars(hidden[i], strlen(hidden[i])),
			-1);
	/* Characters, not bytes: "Zoë 東京" is six. */
	assert_int_equal(af_utf8_display_chars(
				 "Zo\xc3\xab \xe6\x9d\xb1\xe4\xba\xac", 11),
			 6);
	assert_int_equal(af_utf8_display_chars("", 0), 0);
	assert_int_equal(af_utf8_display_chars(NULL, 0), -1);
}

static void test_utf8_blank_only_spaces(void **state)
{
	(void)state;
	assert_true(af_utf8_blank("", 0));
	assert_true(af_utf8_blank("   ", 3));
	/* No-break and ideographic spaces are blank too. */
	assert_true(af_utf8_blank(" \xc2\xa0\xe3\x80\x80", 6));
	/* Variation selectors and the Braille blank show nothing alone... */
	assert_true(af_utf8_blank("\xef\xb8\x8f\xe2\xa0\x80\xe1\xa0\x8b", 9));
	/* ...but an emoji with its selector is something. */
	assert_false(af_utf8_blank("\xe2\x9d\xa4\xef\xb8\x8f", 6));
	/* Accents with no letter, a stand-in for an object: nothing. */
	assert_true(af_utf8_blank("\xcc\x81\xcc\x81", 4));
	assert_true(af_utf8_blank("\xef\xbf\xbc", 3));
	/* An accent on a letter shows. */
	assert_false(af_utf8_blank("e\xcc\x81", 3));
	assert_false(af_utf8_blank(" a ", 3));
	assert_false(af_utf8_blank("\xe6\x9d\xb1", 3));
	assert_false(af_utf8_blank(" \xff", 2));
}

static void test_utf8_repair_marks_broken_bytes(void **state)
{
	char cut[] = "ab\xc3"; /* a character cut at the end */
	char mid[] = "a\xe2\x82: x\xffy\xc3\xa9"; /* cut inside, a bad byte */
	char fine[] = "Zo\xc3\xab";

	(void)state;
	af_utf8_repair(cut);
	assert_string_equal(cut, "ab?");
	af_utf8_repair(mid);
	assert_string_equal(mid, "a??: x?y\xc3\xa9");
	af_utf8_repair(fine);
	assert_string_equal(fine, "Zo\xc3\xab");
	af_utf8_repair(NULL);
}

static void test_ipnet_parse_and_match(void **state)
{
	af_ipnet nets[3];

	(void)state;
	assert_int_equal(af_ipnet_parse("10.0.0.0/8", &nets[0]), 0);
	assert_int_equal(nets[0].bits, 8);
	assert_int_equal(af_ipnet_parse("192.0.2.1", &nets[1]), 0);
	assert_int_equal(nets[1].bits, 32);
	assert_int_equal(af_ipnet_parse("2001:db8::/32", &nets[2]), 0);
	assert_int_equal(nets[2].bits, 32);
	assert_true(af_ipnet_match(nets, 3, "10.200.3.4"));
	assert_true(af_ipnet_match(nets, 3, "192.0.2.1"));
	assert_true(af_ipnet_match(nets, 3, "2001:db8:ffff::1"));
	assert_false(af_ipnet_match(nets, 3, "11.0.0.1"));
	assert_false(af_ipnet_match(nets, 3, "192.0.2.2"));
	assert_false(af_ipnet_match(nets, 3, "2001:db9::1"));
	assert_false(af_ipnet_match(nets, 3, "not an address"));
	assert_false(af_ipnet_match(nets, 3, "10.0.0.0/8"));
	assert_false(af_ipnet_match(nets, 0, "10.0.0.1"));
	/* A prefix that leaves bits set, or that does not fit, is refused. */
	assert_int_equal(af_ipnet_parse("10.1.0.0/8", &nets[0]), -1);
	assert_int_equal(af_ipnet_parse("10.0.0.0/33", &nets[0]), -1);
	assert_int_equal(af_ipnet_parse("10.0.0.0/", &nets[0]), -1);
	assert_int_equal(af_ipnet_parse("10.0.0.0/+8", &nets[0]), -1);
	assert_int_equal(af_ipnet_parse("/8", &nets[0]), -1);
	assert_int_equal(af_ipnet_parse("example.com", &nets[0]), -1);
	assert_int_equal(af_ipnet_parse("::/0", &nets[0]), 0);
	assert_true(af_ipnet_match(nets, 1, "::1"));
	assert_false(af_ipnet_match(nets, 1, "127.0.0.1"));
}

/* A cut never splits a character: "é" is 2 bytes, "€" 3. */
static void test_utf8_cut(void **state)
{
	(void)state;
	assert_int_equal(af_utf8_cut("abc", 3, 5), 3);
	assert_int_equal(af_utf8_cut("abcdef", 6, 4), 4);
	assert_int_equal(af_utf8_cut("ab\xc3\xa9", 4, 3), 2);
	assert_int_equal(af_utf8_cut("ab\xc3\xa9", 4, 4), 4);
	assert_int_equal(af_utf8_cut("a\xe2\x82\xac!", 5, 3), 1);
	assert_int_equal(af_utf8_cut("a\xe2\x82\xac!", 5, 4), 4);
}

/* jansson's error text loses what it quotes of the input. */
static void test_json_why(void **state)
{
	char out[32], wide[96];

	(void)state;
	af_json_why("invalid token near 'hunter2'", out, sizeof(out));
	assert_string_equal(out, "invalid token");
	af_json_why("':' expected near '\"redis://:pw@h\"'", out, sizeof(out));
	assert_string_equal(out, "':' expected");
	af_json_why("unexpected newline", out, sizeof(out));
	assert_string_equal(out, "unexpected newline");
	af_json_why("premature end of input near 'x'", out, 8);
	assert_string_equal(out, "prematu");
	af_json_why(NULL, out, sizeof(out));
	assert_string_equal(out, "");
	/* jansson's own flag is no help to whoever sent the JSON. */
	af_json_why("\\u0000 is not allowed without JSON_ALLOW_NUL", wide,
		    sizeof(wide));
	assert_string_equal(wide,
			    "\\u0000 (a NUL character) is not allowed in a "
			    "string");
}

/* A dual-stack proxy writes its IPv4 peers as IPv4-mapped IPv6. */
static void test_ipnet_v4_mapped(void **state)
{
	af_ipnet nets[2];

	(void)state;
	assert_int_equal(af_ipnet_parse("10.0.0.0/8", &nets[0]), 0);
	assert_true(af_ipnet_match(nets, 1, "::ffff:10.1.2.3"));
	assert_true(af_ipnet_match(nets, 1, "::FFFF:a01:203"));
	assert_false(af_ipnet_match(nets, 1, "::ffff:11.1.2.3"));
	/* Only the mapped block: not the IPv4-compatible or NAT64 ones. */
	assert_false(af_ipnet_match(nets, 1, "::10.1.2.3"));
	assert_false(af_ipnet_match(nets, 1, "64:ff9b::10.1.2.3"));

	assert_int_equal(af_ipnet_parse("::ffff:192.0.2.0/120", &nets[0]), 0);
	assert_int_equal(nets[0].family, AF_INET);
	assert_int_equal(nets[0].bits, 24);
	assert_true(af_ipnet_match(nets, 1, "192.0.2.77"));
	assert_true(af_ipnet_match(nets, 1, "::ffff:192.0.2.77"));
	assert_false(af_ipnet_match(nets, 1, "192.0.3.1"));
	assert_int_equal(af_ipnet_parse("::ffff:192.0.2.9", &nets[1]), 0);
	assert_int_equal(nets[1].family, AF_INET);
	assert_int_equal(nets[1].bits, 32);
	assert_int_equal(af_ipnet_parse("::ffff:192.0.2.0/118", &nets[0]), -1);
	/* A prefix shorter than the mapped block's stays IPv6. */
	assert_int_equal(af_ipnet_parse("::ffff:0:0/80", &nets[0]), -1);
	assert_int_equal(af_ipnet_parse("::/80", &nets[0]), 0);
	assert_int_equal(nets[0].family, AF_INET6);
	assert_int_equal(af_ipnet_parse("::ffff:0:0/96", &nets[0]), 0);
	assert_int_equal(nets[0].family, AF_INET);
	assert_int_equal(nets[0].bits, 0);
	assert_true(af_ipnet_match(nets, 1, "203.0.113.5"));
	assert_false(af_ipnet_match(nets, 1, "2001:db8::1"));
}

static void test_parse_ulong(void **state)
{
	unsigned long v = 99;

	(void)state;
	assert_int_equal(af_parse_ulong("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(af_parse_ulong("4096", 1, 4096, &v), 0);
	assert_int_equal(v, 4096);
	/* Out of range, signs, blanks, trailing text, overflow, nothing. */
	assert_int_equal(af_parse_ulong("4097", 1, 4096, &v), -1);
	assert_int_equal(af_parse_ulong("0", 1, 4096, &v), -1);
	assert_int_equal(af_parse_ulong("+5", 0, 10, &v), -1);
	assert_int_equal(af_parse_ulong("-5", 0, 10, &v), -1);
	assert_int_equal(af_parse_ulong(" 5", 0, 10, &v), -1);
	assert_int_equal(af_parse_ulong("5x", 0, 10, &v), -1);
	assert_int_equal(af_parse_ulong("99999999999999999999999", 0,
					(unsigned long)-1, &v),
			 -1);
	assert_int_equal(af_parse_ulong("", 0, 10, &v), -1);
	assert_int_equal(af_parse_ulong(NULL, 0, 10, &v), -1);
	assert_int_equal(v, 4096);
}

static void test_ip_counted_v6_by_64(void **state)
{
	char out[AF_IP_COUNTED_MAX];

	(void)state;
	assert_int_equal(af_ip_counted("192.0.2.7", out, sizeof(out)), 0);
	assert_string_equal(out, "192.0.2.7");
	assert_int_equal(af_ip_counted("::ffff:192.0.2.7", out, sizeof(out)),
			 0);
	assert_string_equal(out, "192.0.2.7");
	assert_int_equal(af_ip_counted("2001:db8:1:2:aaaa:bbbb:cccc:dddd", out,
				       sizeof(out)),
			 0);
	assert_string_equal(out, "2001:db8:1:2::/64");
	assert_int_equal(af_ip_counted("2001:db8::/32", out, sizeof(out)), -1);
	assert_int_equal(af_ip_counted("nope", out, sizeof(out)), -1);
	assert_int_equal(af_ip_counted(NULL, out, sizeof(out)), -1);
	assert_int_equal(af_ip_counted("2001:db8:1:2::1", out, 8), -1);
}

/* A peer's address as logs and metrics.allow read it. */
static void test_sockaddr_ip_v4_v6_and_mapped(void **state)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	struct sockaddr un = {.sa_family = AF_UNIX};
	char ip[INET6_ADDRSTRLEN];

	(void)state;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr), 1);
	af_sockaddr_ip((struct sockaddr *)&s4, ip, sizeof(ip));
	assert_string_equal(ip, "192.0.2.7");
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr), 1);
	af_sockaddr_ip((struct sockaddr *)&s6, ip, sizeof(ip));
	assert_string_equal(ip, "2001:db8::1");
	/* A dual-stack listener's IPv4 peer is the IPv4 address. */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6.sin6_addr),
			 1);
	af_sockaddr_ip((struct sockaddr *)&s6, ip, sizeof(ip));
	assert_string_equal(ip, "10.1.2.3");
	/* None, another family, or no room: "". */
	af_sockaddr_ip(NULL, ip, sizeof(ip));
	assert_string_equal(ip, "");
	af_sockaddr_ip(&un, ip, sizeof(ip));
	assert_string_equal(ip, "");
	af_sockaddr_ip((struct sockaddr *)&s4, ip, 4);
	assert_string_equal(ip, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sockaddr_ip_v4_v6_and_mapped),
		cmocka_unit_test(test_ct_equal_equal_returns_one),
		cmocka_unit_test(test_ct_equal_different_returns_zero),
		cmocka_unit_test(test_ct_equal_different_lengths_returns_zero),
		cmocka_unit_test(test_ct_equal_null_or_empty_fails_closed),
		cmocka_unit_test(test_b64url_rfc4648_vectors),
		cmocka_unit_test(test_b64url_url_alphabet_and_padding),
		cmocka_unit_test(test_b64url_round_trip_every_length),
		cmocka_unit_test(test_b64url_decode_bad_input_refused),
		cmocka_unit_test(test_b64url_encode_small_buffer_refused),
		cmocka_unit_test(test_b64url_text_ok),
		cmocka_unit_test(test_random_token_length_alphabet_unique),
		cmocka_unit_test(test_random_token_bad_arguments_refused),
		cmocka_unit_test(test_random_bytes_fills_buffer),
		cmocka_unit_test(test_random_bytes_across_refills),
		cmocka_unit_test(test_random_bytes_forked_child_differs),
		cmocka_unit_test(test_random_bytes_threads_differ),
		cmocka_unit_test(test_sha256_hex_known_vectors),
		cmocka_unit_test(test_time_iso8601_formats_utc),
		cmocka_unit_test(test_clocks_move_forward),
		cmocka_unit_test(test_free_secret_accepts_null),
		cmocka_unit_test(test_utf8_next_accepts_and_refuses),
		cmocka_unit_test(test_utf8_display_chars_refuses_hidden_text),
		cmocka_unit_test(test_utf8_blank_only_spaces),
		cmocka_unit_test(test_ip_counted_v6_by_64),
		cmocka_unit_test(test_utf8_repair_marks_broken_bytes),
		cmocka_unit_test(test_parse_ulong),
		cmocka_unit_test(test_ipnet_parse_and_match),
		cmocka_unit_test(test_ipnet_v4_mapped),
		cmocka_unit_test(test_utf8_cut),
		cmocka_unit_test(test_json_why),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
