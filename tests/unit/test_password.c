/* Unit tests of the Argon2id password hashes (authflow/directory). */
#include <stdint.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <argon2.h>

#include "directory/password.h"

/* Small costs keep the tests fast; production uses the defaults. */
static const af_pw_params small = {64, 1, 1};

static void test_af_pw_hash_small_params_verifies(void **state)
{
	char phc[AF_PW_PHC_MAX];

	(void)state;
	assert_int_equal(af_pw_hash(&small, "correct horse", phc, sizeof(phc)),
			 AF_DIR_OK);
	assert_true(strncmp(phc, "$argon2id$v=19$m=64,t=1,p=1$", 28) == 0);
	assert_int_equal(af_pw_verify(phc, "correct horse", NULL), AF_DIR_OK);
	assert_int_equal(af_pw_verify(phc, "correct horsf", NULL),
			 AF_DIR_MISMATCH);
	assert_int_equal(af_pw_verify(phc, "correct hors", NULL),
			 AF_DIR_MISMATCH);
}

static void test_af_pw_hash_same_password_salts_differ(void **state)
{
	char a[AF_PW_PHC_MAX], b[AF_PW_PHC_MAX];

	(void)state;
	assert_int_equal(af_pw_hash(&small, "pw", a, sizeof(a)), AF_DIR_OK);
	assert_int_equal(af_pw_hash(&small, "pw", b, sizeof(b)), AF_DIR_OK);
	assert_string_not_equal(a, b);
	assert_int_equal(af_pw_verify(a, "pw", NULL), AF_DIR_OK);
	assert_int_equal(af_pw_verify(b, "pw", NULL), AF_DIR_OK);
}

static void test_af_pw_hash_bad_password_length_invalid(void **state)
{
	char phc[AF_PW_PHC_MAX], big[AF_PW_MAX + 2];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(af_pw_hash(&small, "", phc, sizeof(phc)),
			 AF_DIR_INVALID);
	assert_string_equal(phc, "");
	assert_int_equal(af_pw_hash(&small, NULL, phc, sizeof(phc)),
			 AF_DIR_INVALID);
	assert_int_equal(af_pw_hash(&small, big, phc, sizeof(phc)),
			 AF_DIR_INVALID);
	big[AF_PW_MAX] = '\0';
	assert_int_equal(af_pw_hash(&small, big, phc, sizeof(phc)), AF_DIR_OK);
	assert_int_equal(af_pw_verify(phc, big, NULL), AF_DIR_OK);
	assert_int_equal(af_pw_hash(&small, "pw", phc, 10), AF_DIR_INVALID);
}

static void test_af_pw_params_check_out_of_range_invalid(void **state)
{
	static const af_pw_params bad[] = {
		{64, 1, 0},
		{64, 0, 1},
		{7, 1, 1},
		{64, 1, 9},
		{64, AF_PW_T_MAX + 1, 1},
		{AF_PW_M_KIB_MAX + 1, 1, 1},
	};
	char err[AF_DIR_ERR_BUF], phc[AF_PW_PHC_MAX];
	af_pw_params def;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(af_pw_params_check(&bad[i], err, sizeof(err)),
				 AF_DIR_INVALID);
		assert_true(strncmp(err, "argon2 ", 7) == 0);
		assert_int_equal(af_pw_hash(&bad[i], "pw", phc, sizeof(phc)),
				 AF_DIR_INVALID);
	}
	af_pw_params_default(&def);
	assert_int_equal(af_pw_params_check(&def, NULL, 0), AF_DIR_OK);
	assert_int_equal(def.m_kib, AF_PW_M_KIB_DEFAULT);
}

static void test_af_pw_verify_malformed_phc_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0",
		/* More memory than the cap: refused before libargon2. */
		"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaA",
	};
	af_pw_params p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(af_pw_verify(bad[i], "pw", NULL),
				 AF_DIR_INVALID);
		assert_int_equal(af_pw_needs_rehash(bad[i], &small), 1);
	}
	assert_int_equal(af_pw_verify(NULL, "pw", NULL), AF_DIR_INVALID);
	assert_int_equal(af_pw_parse(bad[1], &p), AF_DIR_INVALID);
}

static void test_af_pw_parse_own_hash_reads_costs(void **state)
{
	const af_pw_params p3 = {256, 3, 2};
	char phc[AF_PW_PHC_MAX];
	af_pw_params got;

	(void)state;
	assert_int_equal(af_pw_hash(&p3, "pw", phc, sizeof(phc)), AF_DIR_OK);
	assert_int_equal(af_pw_parse(phc, &got), AF_DIR_OK);
	assert_int_equal(got.m_kib, 256);
	assert_int_equal(got.t, 3);
	assert_int_equal(got.p, 2);
}

static void test_af_pw_needs_rehash_other_costs_true(void **state)
{
	const af_pw_params more_m = {128, 1, 1}, more_t = {64, 2, 1},
			   more_p = {64, 1, 2};
	char phc[AF_PW_PHC_MAX];

	(void)state;
	assert_int_equal(af_pw_hash(&small, "pw", phc, sizeof(phc)), AF_DIR_OK);
	assert_int_equal(af_pw_needs_rehash(phc, &small), 0);
	assert_int_equal(af_pw_needs_rehash(phc, &more_m), 1);
	assert_int_equal(af_pw_needs_rehash(phc, &more_t), 1);
	assert_int_equal(af_pw_needs_rehash(phc, &more_p), 1);
	assert_int_equal(af_pw_needs_rehash(phc, NULL), 1);
}

/* "é" precomposed, and "e" with a combining accent. */
#define CAFE_NFC "caf\xc3\xa9"
#define CAFE_NFD "cafe\xcc\x81"

static void test_af_pw_normalize_forms(void **state)
{
	char out[AF_PW_NORM_MAX + 1];

	(void)state;
	assert_int_equal(af_pw_normalize("plain ascii", out, sizeof(out)),
			 AF_DIR_OK);
	assert_string_equal(out, "plain ascii");
	assert_int_equal(af_pw_normalize(CAFE_NFD, out, sizeof(out)),
			 AF_DIR_OK);
	assert_string_equal(out, CAFE_NFC);
	/* Full-width letters and a ligature: their compatibility forms. */
	assert_int_equal(
		af_pw_normalize("\xef\xbd\x90\xef\xbd\x97 \xef\xac\x81", out,
				sizeof(out)),
		AF_DIR_OK);
	assert_string_equal(out, "pw fi");
	/* Bytes that are not UTF-8 stay as they are. */
	assert_int_equal(af_pw_normalize("caf\xe9", out, sizeof(out)),
			 AF_DIR_OK);
	assert_string_equal(out, "caf\xe9");
	assert_int_equal(af_pw_normalize("", out, sizeof(out)), AF_DIR_INVALID);
	assert_int_equal(af_pw_normalize(NULL, out, sizeof(out)),
			 AF_DIR_INVALID);
	assert_int_equal(af_pw_normalize("pw", out, AF_PW_NORM_MAX),
			 AF_DIR_INVALID);
}

/* A password within AF_PW_MAX whose normal form is over the cap. */
static void test_af_pw_normalize_too_long_invalid(void **state)
{
	char pw[AF_PW_MAX + 1], out[AF_PW_NORM_MAX + 1], phc[AF_PW_PHC_MAX];
	size_t i;

	(void)state;
	/* U+FDFA, three bytes, is eighteen letters (33 bytes) in NFKC. */
	for (i = 0; i + 3 <= AF_PW_MAX; i += 3)
		memcpy(pw + i, "\xef\xb7\xba", 3);
	pw[i] = '\0';
	assert_int_equal(af_pw_normalize(pw, out, sizeof(out)), AF_DIR_INVALID);
	assert_string_equal(out, "");
	assert_int_equal(af_pw_hash(&small, pw, phc, sizeof(phc)),
			 AF_DIR_INVALID);
	/* One such character is fine. */
	pw[3] = '\0';
	assert_int_equal(af_pw_normalize(pw, out, sizeof(out)), AF_DIR_OK);
	assert_int_equal(strlen(out), 33);
}

static void test_af_pw_verify_either_composition(void **state)
{
	char phc[AF_PW_PHC_MAX];
	int stale = -1;

	(void)state;
	assert_int_equal(af_pw_hash(&small, CAFE_NFC, phc, sizeof(phc)),
			 AF_DIR_OK);
	assert_int_equal(af_pw_verify(phc, CAFE_NFD, &stale), AF_DIR_OK);
	assert_int_equal(stale, 0);
	assert_int_equal(af_pw_hash(&small, CAFE_NFD, phc, sizeof(phc)),
			 AF_DIR_OK);
	assert_int_equal(af_pw_verify(phc, CAFE_NFC, &stale), AF_DIR_OK);
	assert_int_equal(stale, 0);
	assert_int_equal(af_pw_verify(phc, "cafe", &stale), AF_DIR_MISMATCH);
	assert_int_equal(stale, 0);
}

/* A hash of the password as typed matches it, and says it is stale. */
static void test_af_pw_verify_unnormalised_hash_stale(void **state)
{
	static const uint8_t salt[AF_PW_SALT_LEN] = "sixteen bytes 16";
	char phc[AF_PW_PHC_MAX];
	int stale = 0;

	(void)state;
	assert_int_equal(argon2id_hash_encoded(1, 64, 1, CAFE_NFD,
					       strlen(CAFE_NFD), salt,
					       sizeof(salt), AF_PW_HASH_LEN,
					       phc, sizeof(phc)),
			 ARGON2_OK);
	assert_int_equal(af_pw_verify(phc, CAFE_NFD, &stale), AF_DIR_OK);
	assert_int_equal(stale, 1);
	assert_int_equal(af_pw_verify(phc, CAFE_NFD, NULL), AF_DIR_OK);
	stale = 0;
	assert_int_equal(af_pw_verify(phc, CAFE_NFC, &stale), AF_DIR_MISMATCH);
	assert_int_equal(stale, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_af_pw_hash_small_params_verifies),
		cmocka_unit_test(test_af_pw_hash_same_password_salts_differ),
		cmocka_unit_test(test_af_pw_hash_bad_password_length_invalid),
		cmocka_unit_test(test_af_pw_params_check_out_of_range_invalid),
		cmocka_unit_test(test_af_pw_verify_malformed_phc_invalid),
		cmocka_unit_test(test_af_pw_parse_own_hash_reads_costs),
		cmocka_unit_test(test_af_pw_needs_rehash_other_costs_true),
		cmocka_unit_test(test_af_pw_normalize_forms),
		cmocka_unit_test(test_af_pw_normalize_too_long_invalid),
		cmocka_unit_test(test_af_pw_verify_either_composition),
		cmocka_unit_test(test_af_pw_verify_unnormalised_hash_stale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
