/* Unit tests of the list of refused passwords (authflow/directory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "directory/password.h"
#include "directory/pwlist.h"

typedef struct fixture {
	char dir[64];
	char path[96];
	char err[256];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/af_pwlist_XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	(void)snprintf(f->path, sizeof(f->path), "%s/list.txt", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	(void)unlink(f->path);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static void write_file(const fixture *f, const char *text, size_t len)
{
	FILE *fp = fopen(f->path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static af_pwlist *load(fixture *f, const char *text)
{
	af_pwlist *l = NULL;

	write_file(f, text, strlen(text));
	assert_int_equal(af_pwlist_load(f->path, &l, f->err, sizeof(f->err)),
			 AF_PWLIST_OK);
	assert_non_null(l);
	return l;
}

static void test_af_pwlist_builtin_without_file(void **state)
{
	af_pwlist *l = NULL;

	(void)state;
	assert_int_equal(af_pwlist_load(NULL, &l, NULL, 0), AF_PWLIST_OK);
	assert_true(af_pwlist_count(l) > 50);
	assert_int_equal(af_pwlist_skipped(l, NULL), 0);
	assert_int_equal(af_pwlist_has(l, "password1"), 1);
	assert_int_equal(af_pwlist_has(l, "iloveyou"), 1);
	/* The ASCII-lower-case form counts. */
	assert_int_equal(af_pwlist_has(l, "Password1"), 1);
	assert_int_equal(af_pwlist_has(l, "PASSW0RD"), 1);
	assert_int_equal(af_pwlist_has(l, "password1 "), 0);
	assert_int_equal(af_pwlist_has(l, "correct horse battery"), 0);
	assert_int_equal(af_pwlist_has(l, ""), 0);
	assert_int_equal(af_pwlist_has(NULL, "password1"), 0);
	af_pwlist_free(l);
}

static void test_af_pwlist_file_plain_lines(void **state)
{
	fixture *f = *state;
	af_pwlist *l = load(f, "Tr0ub4dor&3\r\nhospital2026\n\nlast line");
	size_t builtin, first = 99;

	assert_int_equal(af_pwlist_has(l, "Tr0ub4dor&3"), 1);
	/* "\r\n" ends a line as "\n" does. */
	assert_int_equal(af_pwlist_has(l, "Tr0ub4dor&3\r"), 0);
	assert_int_equal(af_pwlist_has(l, "hospital2026"), 1);
	assert_int_equal(af_pwlist_has(l, "HOSPITAL2026"), 1);
	/* A last line without its newline is read too. */
	assert_int_equal(af_pwlist_has(l, "last line"), 1);
	/* An empty line is no line skipped. */
	assert_int_equal(af_pwlist_skipped(l, &first), 0);
	assert_int_equal(first, 0);
	/* Folding is to lower case only: an upper-case entry stays exact. */
	assert_int_equal(af_pwlist_has(l, "tr0ub4dor&3"), 0);
	assert_int_equal(af_pwlist_has(l, "password1"), 1);
	af_pwlist_free(l);
	assert_int_equal(af_pwlist_load(NULL, &l, NULL, 0), AF_PWLIST_OK);
	builtin = af_pwlist_count(l);
	af_pwlist_free(l);
	/* Repeats, of the file's or of the built-in ones, count once. */
	l = load(f, "hospital2026\nhospital2026\npassword1\n");
	assert_int_equal(af_pwlist_count(l), builtin + 1);
	af_pwlist_free(l);
}

static void test_af_pwlist_file_sha1_lines(void **state)
{
	fixture *f = *state;
	/* SHA-1("hospital2026") with a count, SHA-1("Winter-Is-Coming"). */
	af_pwlist *l = load(f, "D79F9DAF37795C9981AB7BB68B05E724D3112EDF:12\n"
			       "e1d20548142658a2123d4e6fb027e3196d34ba1f\n"
			       "not40hex:1\n"
			       "0123456789abcdef0123456789abcdef0123456x\n");

	assert_int_equal(af_pwlist_has(l, "hospital2026"), 1);
	assert_int_equal(af_pwlist_has(l, "Winter-Is-Coming"), 1);
	/* Hashes are of the exact password: no folded form was listed. */
	assert_int_equal(af_pwlist_has(l, "winter-is-coming"), 0);
	/* A line that is not a hash in that format is a password. */
	assert_int_equal(af_pwlist_has(l, "not40hex:1"), 1);
	assert_int_equal(
		af_pwlist_has(l, "0123456789abcdef0123456789abcdef0123456x"),
		1);
	/* The hex text itself is not a listed password. */
	assert_int_equal(
		af_pwlist_has(l, "e1d20548142658a2123d4e6fb027e3196d34ba1f"),
		0);
	af_pwlist_free(l);
}

static void test_af_pwlist_file_errors(void **state)
{
	fixture *f = *state;
	af_pwlist *l = (af_pwlist *)f;

	assert_int_equal(af_pwlist_load(f->path, &l, f->err, sizeof(f->err)),
			 AF_PWLIST_ERR_IO);
	assert_null(l);
	assert_non_null(strstr(f->err, f->path));
	assert_non_null(strstr(f->err, "No such file"));
	assert_int_equal(af_pwlist_load(f->dir, &l, f->err, sizeof(f->err)),
			 AF_PWLIST_ERR_IO);
	assert_non_null(strstr(f->err, "not a regular file"));
	assert_int_equal(af_pwlist_load(NULL, NULL, NULL, 0),
			 AF_PWLIST_ERR_ARG);
}

/* A line longer than any password is skipped to its end, not split. */
static void test_af_pwlist_file_long_line_skipped(void **state)
{
	fixture *f = *state;
	size_t n = (size_t)AF_PW_MAX * 3, i, first = 0;
	char *text = malloc(n + 64);
	af_pwlist *l = NULL;

	assert_non_null(text);
	for (i = 0; i < n; i++)
		text[i] = (char)('a' + (i % 26));
	(void)snprintf(text + n, 64, "\nkept-after-it\n");
	write_file(f, text, strlen(text));
	assert_int_equal(af_pwlist_load(f->path, &l, f->err, sizeof(f->err)),
			 AF_PWLIST_OK);
	assert_int_equal(af_pwlist_has(l, "kept-after-it"), 1);
	/* Counted, so that the server can say which line it was. */
	assert_int_equal(af_pwlist_skipped(l, &first), 1);
	assert_int_equal(first, 1);
	/* No piece of the line is on the list: no end, no start of it. */
	text[n] = '\0';
	for (i = 1; i < n; i++)
		assert_int_equal(af_pwlist_has(l, text + i), 0);
	text[AF_PW_MAX] = '\0';
	assert_int_equal(af_pwlist_has(l, text), 0);
	af_pwlist_free(l);
	free(text);
}

/*
 * A line holding a NUL is skipped, and only it: the line after it is
 * read. A line of exactly AF_PW_MAX bytes counts, with "\r\n" too; one
 * byte more does not.
 */
static void test_af_pwlist_file_nul_and_edges(void **state)
{
	static const char head[] = "bad\0line\nread-after-nul\n";
	fixture *f = *state;
	size_t max = AF_PW_MAX, n = 0, first = 0;
	char *text = malloc(3 * max + 64), *longest = malloc(max + 2);
	af_pwlist *l = NULL;

	assert_non_null(text);
	assert_non_null(longest);
	memcpy(text + n, head, sizeof(head) - 1);
	n += sizeof(head) - 1;
	memset(text + n, 'x', max);
	n += max;
	text[n++] = '\r';
	text[n++] = '\n';
	memset(text + n, 'y', max + 1);
	n += max + 1;
	text[n++] = '\n';
	write_file(f, text, n);
	assert_int_equal(af_pwlist_load(f->path, &l, f->err, sizeof(f->err)),
			 AF_PWLIST_OK);
	assert_int_equal(af_pwlist_has(l, "read-after-nul"), 1);
	assert_int_equal(af_pwlist_has(l, "bad"), 0);
	/* Lines 1 (the NUL) and 4 (a byte too long) were skipped. */
	assert_int_equal(af_pwlist_skipped(l, &first), 2);
	assert_int_equal(first, 1);
	assert_int_equal(af_pwlist_skipped(l, NULL), 2);
	memset(longest, 'x', max);
	longest[max] = '\0';
	assert_int_equal(af_pwlist_has(l, longest), 1);
	memset(longest, 'y', max);
	assert_int_equal(af_pwlist_has(l, longest), 0);
	af_pwlist_free(l);
	free(longest);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_af_pwlist_builtin_without_file),
		cmocka_unit_test_setup_teardown(test_af_pwlist_file_plain_lines,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_af_pwlist_file_sha1_lines,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_af_pwlist_file_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_af_pwlist_file_long_line_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_af_pwlist_file_nul_and_edges, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
