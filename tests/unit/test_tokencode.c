/* Unit tests of libtokencode: RFC vectors, edges, refusals. */
#include <stdint.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "tokencode.h"

static const char seed20[] = "12345678901234567890";
static const char seed32[] = "12345678901234567890123456789012";
static const char seed64[] =
	"1234567890123456789012345678901234567890123456789012345678901234";

static tc_key *key_of(const char *seed, tc_algo algo)
{
	tc_key *key = NULL;

	assert_int_equal(
		tc_key_new((const uint8_t *)seed, strlen(seed), algo, &key),
		TC_OK);
	assert_non_null(key);
	return key;
}

/* RFC 4226 appendix D. */
static void test_hotp_rfc4226_vectors_match(void **state)
{
	static const uint32_t want[] = {755224, 287082, 359152, 969429, 338314,
					254676, 287922, 162583, 399871, 520489};
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	uint32_t code;
	uint64_t c;

	(void)state;
	for (c = 0; c < 10; c++) {
		assert_int_equal(tc_hotp(key, c, 6, &code), TC_OK);
		assert_int_equal(code, want[c]);
	}
	tc_key_free(key);
}

/* RFC 6238 appendix B, every time and hash. */
static void test_totp_rfc6238_vectors_match(void **state)
{
	static const struct {
		int64_t t;
		const char *sha1, *sha256, *sha512;
	} v[] = {
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	};
	tc_key *k1 = key_of(seed20, TC_ALGO_SHA1);
	tc_key *k256 = key_of(seed32, TC_ALGO_SHA256);
	tc_key *k512 = key_of(seed64, TC_ALGO_SHA512);
	tc_totp_params p;
	char out[TC_CODE_BUF];
	size_t i;

	(void)state;
	tc_totp_params_init(&p);
	p.digits = 8;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(tc_totp(k1, &p, v[i].t, out, sizeof(out)),
				 TC_OK);
		assert_string_equal(out, v[i].sha1);
		assert_int_equal(tc_totp(k256, &p, v[i].t, out, sizeof(out)),
				 TC_OK);
		assert_string_equal(out, v[i].sha256);
		assert_int_equal(tc_totp(k512, &p, v[i].t, out, sizeof(out)),
				 TC_OK);
		assert_string_equal(out, v[i].sha512);
	}
	tc_key_free(k1);
	tc_key_free(k256);
	tc_key_free(k512);
}

static void test_totp_six_digits_is_suffix_of_eight(void **state)
{
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	tc_totp_params p;
	char out[TC_CODE_BUF];

	(void)state;
	tc_totp_params_init(&p);
	assert_int_equal(tc_totp(key, &p, 1111111109, out, sizeof(out)), TC_OK);
	assert_string_equal(out, "081804");
	tc_key_free(key);
}

static void test_key_new_bad_input_refused(void **state)
{
	uint8_t big[TC_SECRET_MAX + 1] = {1};
	tc_key *key = (tc_key *)1;

	(void)state;
	assert_int_equal(tc_key_new(NULL, 0, TC_ALGO_SHA1, &key),
			 TC_ERR_EMPTY_SECRET);
	assert_null(key);
	assert_int_equal(tc_key_new(big, sizeof(big), TC_ALGO_SHA1, &key),
			 TC_ERR_SECRET_TOO_LONG);
	assert_int_equal(tc_key_new(big, 4, (tc_algo)42, &key), TC_ERR_ALGO);
	assert_int_equal(tc_key_new(big, 4, TC_ALGO_SHA1, NULL), TC_ERR_ARG);
	tc_key_free(NULL);
}

static void test_hotp_bad_digits_refused(void **state)
{
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	uint32_t code;

	(void)state;
	assert_int_equal(tc_hotp(key, 0, 7, &code), TC_ERR_DIGITS);
	assert_int_equal(tc_hotp(key, 0, 0, &code), TC_ERR_DIGITS);
	assert_int_equal(tc_hotp(NULL, 0, 6, &code), TC_ERR_ARG);
	tc_key_free(key);
}

static void test_totp_time_before_t0_refused(void **state)
{
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	tc_totp_params p;
	char out[TC_CODE_BUF];
	uint64_t step;

	(void)state;
	tc_totp_params_init(&p);
	assert_int_equal(tc_totp(key, &p, -1, out, sizeof(out)), TC_ERR_TIME);
	p.t0 = 100;
	assert_int_equal(tc_totp_step(&p, 99, &step), TC_ERR_TIME);
	assert_int_equal(tc_totp_step(&p, 130, &step), TC_OK);
	assert_int_equal(step, 1);
	p.step = 0;
	assert_int_equal(tc_totp_step(&p, 130, &step), TC_ERR_STEP);
	p.step = 3601;
	assert_int_equal(tc_totp_step(&p, 130, &step), TC_ERR_STEP);
	tc_key_free(key);
}

/* Code at step s of the RFC seed, six digits. */
static void code_at(tc_key *key, uint64_t s, char *out)
{
	uint32_t v;

	assert_int_equal(tc_hotp(key, s, 6, &v), TC_OK);
	assert_int_equal(tc_code_format(v, 6, out, TC_CODE_BUF), TC_OK);
}

static void test_verify_window_edges_accepted_and_beyond_refused(void **s)
{
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	tc_totp_params p;
	char code[TC_CODE_BUF];
	const int64_t now = (int64_t)1000 * 30 + 15; /* step 1000 */
	uint64_t m;

	(void)s;
	tc_totp_params_init(&p);
	code_at(key, 999, code);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 1, NULL, &m),
			 TC_OK);
	assert_int_equal(m, 999);
	code_at(key, 1001, code);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 1, NULL, &m),
			 TC_OK);
	assert_int_equal(m, 1001);
	code_at(key, 998, code);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 1, NULL, &m),
			 TC_ERR_MISMATCH);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 2, NULL, &m),
			 TC_OK);
	assert_int_equal(m, 998);
	code_at(key, 1002, code);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 1, NULL, &m),
			 TC_ERR_MISMATCH);
	code_at(key, 1000, code);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 0, NULL, &m),
			 TC_OK);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 11, NULL, &m),
			 TC_ERR_WINDOW);
	tc_key_free(key);
}

/*
 * At the top of the step counter's range (t0 far in the past, one-second
 * steps) the window ends there: verification ends, and the last step is
 * found.
 */
static void test_verify_window_at_counter_top(void **state)
{
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	tc_totp_params p;
	char code[TC_CODE_BUF];
	uint32_t v = 0;
	uint64_t m = 0;

	(void)state;
	tc_totp_params_init(&p);
	p.step = 1;
	p.t0 = INT64_MIN;
	assert_int_equal(tc_hotp(key, UINT64_MAX, 6, &v), TC_OK);
	assert_int_equal(tc_code_format(v, 6, code, TC_CODE_BUF), TC_OK);
	assert_int_equal(tc_totp_verify(key, &p, INT64_MAX, code, 1, NULL, &m),
			 TC_OK);
	assert_true(m == UINT64_MAX);
	assert_int_equal(tc_hotp(key, UINT64_MAX - 1, 6, &v), TC_OK);
	assert_int_equal(tc_code_format(v, 6, code, TC_CODE_BUF), TC_OK);
	assert_int_equal(tc_totp_verify(key, &p, INT64_MAX, code, 1, NULL, &m),
			 TC_OK);
	assert_true(m == UINT64_MAX - 1);
	tc_key_free(key);
}

static void test_verify_step_boundary_exact(void **state)
{
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	tc_totp_params p;
	char code[TC_CODE_BUF];
	uint64_t m;

	(void)state;
	tc_totp_params_init(&p);
	code_at(key, 1000, code);
	/* 30029 is the last second of step 1000, 30030 the first of 1001. */
	assert_int_equal(tc_totp_verify(key, &p, 30029, code, 0, NULL, &m),
			 TC_OK);
	assert_int_equal(tc_totp_verify(key, &p, 30030, code, 0, NULL, &m),
			 TC_ERR_MISMATCH);
	assert_int_equal(tc_totp_verify(key, &p, 30030, code, 1, NULL, &m),
			 TC_OK);
	assert_int_equal(m, 1000);
	tc_key_free(key);
}

static void test_verify_window_at_step_zero_no_underflow(void **state)
{
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	tc_totp_params p;
	char code[TC_CODE_BUF];
	uint64_t m;

	(void)state;
	tc_totp_params_init(&p);
	code_at(key, 0, code);
	assert_int_equal(tc_totp_verify(key, &p, 5, code, 3, NULL, &m), TC_OK);
	assert_int_equal(m, 0);
	tc_key_free(key);
}

static void test_verify_replay_of_used_step_refused(void **state)
{
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	tc_totp_params p;
	char code[TC_CODE_BUF];
	const int64_t now = (int64_t)1000 * 30;
	uint64_t m, last;

	(void)state;
	tc_totp_params_init(&p);
	code_at(key, 1000, code);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 1, NULL, &m),
			 TC_OK);
	last = m;
	assert_int_equal(tc_totp_verify(key, &p, now, code, 1, &last, &m),
			 TC_ERR_REPLAY);
	/* An older code inside the window is also refused once used. */
	code_at(key, 999, code);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 1, &last, &m),
			 TC_ERR_REPLAY);
	code_at(key, 1001, code);
	assert_int_equal(tc_totp_verify(key, &p, now, code, 1, &last, &m),
			 TC_OK);
	assert_int_equal(m, 1001);
	tc_key_free(key);
}

static void test_verify_malformed_code_refused(void **state)
{
	static const char *const bad[] = {"",	    "12345",  "1234567",
					  "12345a", " 12345", "123456 ",
					  "-12345", "+12345", "12345678"};
	tc_key *key = key_of(seed20, TC_ALGO_SHA1);
	tc_totp_params p;
	uint64_t m;
	size_t i;

	(void)state;
	tc_totp_params_init(&p);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
			tc_totp_verify(key, &p, 59, bad[i], 1, NULL, &m),
			TC_ERR_CODE_FORMAT);
	assert_int_equal(tc_totp_verify(key, &p, 59, NULL, 1, NULL, &m),
			 TC_ERR_ARG);
	tc_key_free(key);
}

static void test_base32_rfc4648_vectors_round_trip(void **state)
{
	static const struct {
		const char *plain, *padded;
	} v[] = {
		{"", ""},
		{"f", "MY======"},
		{"fo", "MZXQ===="},
		{"foo", "MZXW6==="},
		{"foob", "MZXW6YQ="},
		{"fooba", "MZXW6YTB"},
		{"foobar", "MZXW6YTBOI======"},
	};
	uint8_t out[16];
	char text[32];
	size_t i, n, plen;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		plen = strlen(v[i].plain);
		assert_int_equal(tc_base32_decode(v[i].padded,
						  strlen(v[i].padded), out,
						  sizeof(out), &n),
				 TC_OK);
		assert_int_equal(n, plen);
		assert_memory_equal(out, v[i].plain, plen);
		assert_int_equal(tc_base32_encode((const uint8_t *)v[i].plain,
						  plen, text, sizeof(text)),
				 TC_OK);
		assert_int_equal(strncmp(text, v[i].padded, strlen(text)), 0);
		assert_int_equal(strlen(text), tc_base32_encoded_len(plen));
		/* Without padding the same bytes come back. */
		assert_int_equal(tc_base32_decode(text, strlen(text), out,
						  sizeof(out), &n),
				 TC_OK);
		assert_int_equal(n, plen);
	}
}

static void test_base32_lenient_case_and_spaces_accepted(void **state)
{
	uint8_t out[16];
	size_t n;

	(void)state;
	assert_int_equal(
		tc_base32_decode("mzxw 6ytb-oi", 12, out, sizeof(out), &n),
		TC_OK);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "foobar", 6);
}

static void test_base32_bad_input_refused(void **state)
{
	uint8_t out[4];
	size_t n;
	char longtext[TC_BASE32_MAX + 2];

	(void)state;
	assert_int_equal(tc_base32_decode("MZ1Q", 4, out, sizeof(out), &n),
			 TC_ERR_BASE32_CHAR);
	assert_int_equal(tc_base32_decode("MZ8Q", 4, out, sizeof(out), &n),
			 TC_ERR_BASE32_CHAR);
	assert_int_equal(tc_base32_decode("MY=A", 4, out, sizeof(out), &n),
			 TC_ERR_BASE32_CHAR);
	assert_int_equal(tc_base32_decode("M", 1, out, sizeof(out), &n),
			 TC_ERR_BASE32_LENGTH);
	assert_int_equal(tc_base32_decode("MZX", 3, out, sizeof(out), &n),
			 TC_ERR_BASE32_LENGTH);
	/* "MZ" decodes to 'f' only if its last two bits are zero. */
	assert_int_equal(tc_base32_decode("MZ", 2, out, sizeof(out), &n),
			 TC_ERR_BASE32_LENGTH);
	assert_int_equal(tc_base32_decode("MZXW6YTB", 8, out, 4, &n),
			 TC_ERR_BUFFER);
	memset(longtext, 'A', sizeof(longtext));
	assert_int_equal(tc_base32_decode(longtext, sizeof(longtext), out,
					  sizeof(out), &n),
			 TC_ERR_ARG);
	assert_int_equal(tc_base32_decode("\xff\xfe", 2, out, sizeof(out), &n),
			 TC_ERR_BASE32_CHAR);
}

static void test_base32_random_round_trips(void **state)
{
	uint8_t data[TC_SECRET_MAX], back[TC_SECRET_MAX];
	char text[TC_BASE32_MAX + 1];
	size_t len, n;
	uint32_t r;
	int i;

	(void)state;
	for (i = 0; i < 500; i++) {
		assert_int_equal(tc_match_code(9, &r), TC_OK);
		len = r % (TC_BASE32_MAX * 5 / 8 < TC_SECRET_MAX
				   ? TC_BASE32_MAX * 5 / 8
				   : TC_SECRET_MAX);
		memset(data, (int)(r >> 8), len);
		if (len > 0)
			data[len - 1] ^= (uint8_t)r;
		assert_int_equal(
			tc_base32_encode(data, len, text, sizeof(text)), TC_OK);
		assert_int_equal(tc_base32_decode(text, strlen(text), back,
						  sizeof(back), &n),
				 TC_OK);
		assert_int_equal(n, len);
		assert_memory_equal(back, data, len);
	}
}

static void test_match_code_two_digits_uniform_chi_square(void **state)
{
	enum { BINS = 90, DRAWS = 90000 };
	unsigned long counts[BINS] = {0};
	double expected = (double)DRAWS / BINS, chi2 = 0;
	uint32_t v;
	int i;

	(void)state;
	for (i = 0; i < DRAWS; i++) {
		assert_int_equal(tc_match_code(2, &v), TC_OK);
		assert_in_range(v, 10, 99);
		counts[v - 10]++;
	}
	for (i = 0; i < BINS; i++) {
		double d = (double)counts[i] - expected;

		chi2 += d * d / expected;
	}
	/*
	 * 89 degrees of freedom: a fair source exceeds 150 with probability
	 * about 4e-5, while a modulo bias of 256 % 90 on bytes gives > 2000.
	 */
	assert_true(chi2 < 150.0);
	assert_true(chi2 > 40.0); /* suspiciously perfect is wrong too */
}

static void test_match_code_digit_ranges(void **state)
{
	uint32_t v;
	unsigned d;
	int i;

	(void)state;
	for (d = 1; d <= 9; d++) {
		uint32_t low = 1, high;

		for (i = 1; i < (int)d; i++)
			low *= 10;
		high = low * 10 - 1;
		if (d == 1)
			low = 0;
		for (i = 0; i < 200; i++) {
			assert_int_equal(tc_match_code(d, &v), TC_OK);
			assert_in_range(v, low, high);
		}
	}
	assert_int_equal(tc_match_code(0, &v), TC_ERR_ARG);
	assert_int_equal(tc_match_code(10, &v), TC_ERR_ARG);
}

static void fill_uri(tc_uri *u, const char *issuer, const char *account)
{
	memset(u, 0, sizeof(*u));
	strncat(u->issuer, issuer, TC_LABEL_MAX);
	strncat(u->account, account, TC_LABEL_MAX);
	memcpy(u->secret, seed20, 20);
	u->secret_len = 20;
	u->algo = TC_ALGO_SHA256;
	tc_totp_params_init(&u->params);
	u->params.digits = 8;
	u->params.step = 60;
}

static void test_uri_build_percent_encodes_and_parses_back(void **state)
{
	char out[TC_URI_MAX];
	tc_uri u, back;
	size_t n;

	(void)state;
	fill_uri(&u, "Acme Bank & Co", "alice@example.com");
	assert_int_equal(tc_uri_build(&u, out, sizeof(out), &n), TC_OK);
	assert_string_equal(
		out, "otpauth://totp/Acme%20Bank%20%26%20Co:alice%40example.com"
		     "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
		     "&issuer=Acme%20Bank%20%26%20Co&algorithm=SHA256"
		     "&digits=8&period=60");
	assert_int_equal(n, strlen(out));
	assert_int_equal(tc_uri_parse(out, n, &back), TC_OK);
	assert_string_equal(back.issuer, "Acme Bank & Co");
	assert_string_equal(back.account, "alice@example.com");
	assert_int_equal(back.secret_len, 20);
	assert_memory_equal(back.secret, seed20, 20);
	assert_int_equal(back.algo, TC_ALGO_SHA256);
	assert_int_equal(back.params.digits, 8);
	assert_int_equal(back.params.step, 60);
	tc_uri_cleanup(&back);
	assert_int_equal(back.secret_len, 0);
}

/* The longest labels, every byte escaped, and the longest secret fit. */
static void test_uri_build_worst_case_fits(void **state)
{
	static char out[TC_URI_BUILD_MAX];
	tc_uri u;
	size_t n = 0;

	(void)state;
	memset(&u, 0, sizeof(u));
	memset(u.issuer, '&', TC_LABEL_MAX);
	memset(u.account, '%', TC_LABEL_MAX);
	memset(u.secret, 0xA5, TC_SECRET_MAX);
	u.secret_len = TC_SECRET_MAX;
	u.algo = TC_ALGO_SHA512;
	u.params.digits = 8;
	u.params.step = 3600;
	assert_int_equal(tc_uri_build(&u, out, sizeof(out), &n), TC_OK);
	assert_true(n > TC_URI_MAX);
	assert_int_equal(n, strlen(out));
}

static void test_uri_build_small_buffer_refused(void **state)
{
	char out[32];
	tc_uri u;

	(void)state;
	fill_uri(&u, "Acme", "alice");
	assert_int_equal(tc_uri_build(&u, out, sizeof(out), NULL),
			 TC_ERR_BUFFER);
	assert_string_equal(out, "");
	fill_uri(&u, "Ac:me", "alice");
	assert_int_equal(tc_uri_build(&u, out, sizeof(out), NULL), TC_ERR_ARG);
}

static void test_uri_parse_defaults_and_unknown_params(void **state)
{
	const char *s = "otpauth://totp/alice?secret=MZXW6YTBOI&foo=bar&"
			"image=x&issuer=Acme";
	tc_uri u;

	(void)state;
	assert_int_equal(tc_uri_parse(s, strlen(s), &u), TC_OK);
	assert_string_equal(u.issuer, "Acme");
	assert_string_equal(u.account, "alice");
	assert_int_equal(u.algo, TC_ALGO_SHA1);
	assert_int_equal(u.params.digits, 6);
	assert_int_equal(u.params.step, 30);
	assert_memory_equal(u.secret, "foobar", 6);
	tc_uri_cleanup(&u);
}

static void test_uri_parse_bad_input_refused(void **state)
{
	static const char *const bad[] = {
		"otpauth://hotp/a?secret=MZXW6YTBOI",
		"http://totp/a?secret=MZXW6YTBOI",
		"otpauth://totp/a",
		"otpauth://totp/a?issuer=x",
		"otpauth://totp/a?secret=",
		"otpauth://totp/a?secret=MZ1W",
		"otpauth://totp/a?secret=MZXW6YTBOI&secret=MZXW6YTBOI",
		"otpauth://totp/a?secret=MZXW6YTBOI&digits=7",
		"otpauth://totp/a?secret=MZXW6YTBOI&digits=",
		"otpauth://totp/a?secret=MZXW6YTBOI&digits=6x",
		"otpauth://totp/a?secret=MZXW6YTBOI&period=0",
		"otpauth://totp/a?secret=MZXW6YTBOI&period=99999999999999999",
		"otpauth://totp/a?secret=MZXW6YTBOI&algorithm=MD5",
		"otpauth://totp/A:a?secret=MZXW6YTBOI&issuer=B",
		"otpauth://totp/:a?secret=MZXW6YTBOI",
		"otpauth://totp/A:?secret=MZXW6YTBOI",
		"otpauth://totp/A:a:b?secret=MZXW6YTBOI",
		"otpauth://totp/a%2?secret=MZXW6YTBOI",
		"otpauth://totp/a%00b?secret=MZXW6YTBOI",
		"otpauth://totp/a?secret=MZXW6YTBOI&bare",
		"",
	};
	tc_uri u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tc_status st = tc_uri_parse(bad[i], strlen(bad[i]), &u);

		if (st == TC_OK)
			fail_msg("accepted: %s", bad[i]);
		assert_int_equal(u.secret_len, 0);
	}
}

static void test_uri_parse_oversize_refused(void **state)
{
	static const char scheme[] = "otpauth://totp/";
	static char big[TC_URI_MAX + 64];
	tc_uri u;

	(void)state;
	memset(big, 'a', sizeof(big));
	memcpy(big, scheme, sizeof(scheme) - 1); /* no NUL: a prefix */
	assert_int_equal(tc_uri_parse(big, sizeof(big), &u),
			 TC_ERR_URI_TOO_LONG);
}

static void test_strerror_never_null(void **state)
{
	int i;

	(void)state;
	for (i = -40; i <= 1; i++) {
		assert_non_null(tc_strerror((tc_status)i));
		assert_non_null(tc_status_name((tc_status)i));
	}
	assert_string_equal(tc_status_name(TC_ERR_REPLAY), "ERR_REPLAY");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hotp_rfc4226_vectors_match),
		cmocka_unit_test(test_verify_window_at_counter_top),
		cmocka_unit_test(test_uri_build_worst_case_fits),
		cmocka_unit_test(test_totp_rfc6238_vectors_match),
		cmocka_unit_test(test_totp_six_digits_is_suffix_of_eight),
		cmocka_unit_test(test_key_new_bad_input_refused),
		cmocka_unit_test(test_hotp_bad_digits_refused),
		cmocka_unit_test(test_totp_time_before_t0_refused),
		cmocka_unit_test(
			test_verify_window_edges_accepted_and_beyond_refused),
		cmocka_unit_test(test_verify_step_boundary_exact),
		cmocka_unit_test(test_verify_window_at_step_zero_no_underflow),
		cmocka_unit_test(test_verify_replay_of_used_step_refused),
		cmocka_unit_test(test_verify_malformed_code_refused),
		cmocka_unit_test(test_base32_rfc4648_vectors_round_trip),
		cmocka_unit_test(test_base32_lenient_case_and_spaces_accepted),
		cmocka_unit_test(test_base32_bad_input_refused),
		cmocka_unit_test(test_base32_random_round_trips),
		cmocka_unit_test(test_match_code_two_digits_uniform_chi_square),
		cmocka_unit_test(test_match_code_digit_ranges),
		cmocka_unit_test(
			test_uri_build_percent_encodes_and_parses_back),
		cmocka_unit_test(test_uri_build_small_buffer_refused),
		cmocka_unit_test(test_uri_parse_defaults_and_unknown_params),
		cmocka_unit_test(test_uri_parse_bad_input_refused),
		cmocka_unit_test(test_uri_parse_oversize_refused),
		cmocka_unit_test(test_strerror_never_null),
	};

	return cmocka_run_group_tests_name("tokencode", tests, NULL, NULL);
}
