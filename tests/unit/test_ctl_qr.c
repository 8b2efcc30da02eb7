/*
 * Unit tests of authflowctl's QR drawing (ctl/qr.c): the shape of the
 * text, its four characters, the quiet zone, the ANSI frame, and a
 * module-by-module comparison with libqrencode's own matrix.
 */
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <qrencode.h>

#include "ctl/qr.h"

#define URI                                                            \
	"authflow://enroll?issuer=http%3A%2F%2F127.0.0.1%3A8080&code=" \
	"K7QW2XMBJ4RTD5YH&user=alice"
#define FULL	  "\u2588"
#define UPPER	  "\u2580"
#define LOWER	  "\u2584"
#define LINES_MAX 128

/* The characters of one line, each as its glyph's index (0..3). */
struct line {
	int cell[AF_CTL_QR_WIDTH_MAX + 2 * AF_CTL_QR_QUIET];
	size_t n;
};

/*
 * Splits a drawing without ANSI escapes into lines of cells: 0 " ",
 * 1 "▀", 2 "▄", 3 "█". Fails the test on any other character. Returns
 * the number of lines.
 */
static size_t parse(const char *text, struct line *lines)
{
	static const char *const glyphs[] = {" ", UPPER, LOWER, FULL};
	const char *p = text;
	size_t nl = 0, g, len;

	while (*p != '\0') {
		assert_true(nl < LINES_MAX);
		lines[nl].n = 0;
		while (*p != '\n') {
			for (g = 0; g < 4; g++) {
				len = strlen(glyphs[g]);
				if (strncmp(p, glyphs[g], len) == 0)
					break;
			}
			assert_true(g < 4);
			assert_true(lines[nl].n <
				    sizeof(lines[nl].cell) / sizeof(int));
			lines[nl].cell[lines[nl].n++] = (int)g;
			p += len;
		}
		p++;
		nl++;
	}
	return nl;
}

/* Whether the drawing shows module (x, y) of the padded grid as dark. */
static int shown_dark(const struct line *lines, size_t x, size_t y)
{
	int g = lines[y / 2].cell[x];

	/* Bit 0 of the glyph index: upper light; bit 1: lower light. */
	if (y % 2 == 0)
		return g == 0 || g == 2;
	return g == 0 || g == 1;
}

static void test_qr_render_uri_matches_libqrencode_matrix(void **state)
{
	static struct line lines[LINES_MAX];
	char *buf = malloc(AF_CTL_QR_BUF);
	QRcode *qr = QRcode_encodeString(URI, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	size_t len = 0, nl, side, w, x, y;
	int want;

	(void)state;
	assert_non_null(buf);
	assert_non_null(qr);
	w = (size_t)qr->width;
	side = w + 2 * AF_CTL_QR_QUIET;
	assert_int_equal(af_ctl_qr_render(URI, 0, buf, AF_CTL_QR_BUF, &len),
			 AF_CTL_QR_OK);
	assert_int_equal(len, strlen(buf));
	nl = parse(buf, lines);
	/* Two module rows per line; the side is odd, so one half is left. */
	assert_int_equal(nl, (side + 1) / 2);
	for (y = 0; y < nl; y++)
		assert_int_equal(lines[y].n, side);
	for (y = 0; y < side; y++) {
		for (x = 0; x < side; x++) {
			want = x >= AF_CTL_QR_QUIET && y >= AF_CTL_QR_QUIET &&
			       x < w + AF_CTL_QR_QUIET &&
			       y < w + AF_CTL_QR_QUIET &&
			       (qr->data[(y - AF_CTL_QR_QUIET) * w + x -
					 AF_CTL_QR_QUIET] &
				1);
			assert_int_equal(shown_dark(lines, x, y), want);
		}
	}
	/* The half row below the grid is drawn light, like the quiet zone. */
	for (x = 0; x < side; x++)
		assert_int_equal(shown_dark(lines, x, side), 0);
	QRcode_free(qr);
	free(buf);
}

static void test_qr_draw_one_module_exact_text(void **state)
{
	static const unsigned char dark = 1;
	char buf[256];
	size_t len = 0;

	(void)state;
	assert_int_equal(af_ctl_qr_draw(&dark, 1, 0, buf, sizeof(buf), &len),
			 AF_CTL_QR_OK);
	assert_string_equal(buf, FULL FULL FULL FULL FULL
			    "\n" FULL FULL LOWER FULL FULL
			    "\n" FULL FULL FULL FULL FULL "\n");
	assert_int_equal(len, strlen(buf));
}

static void test_qr_draw_two_rows_use_upper_and_space(void **state)
{
	/* A 2x2 symbol: left column light over dark, right all dark. */
	static const unsigned char m[] = {0, 1, 1, 1};
	char buf[512];
	const char *line;

	(void)state;
	assert_int_equal(af_ctl_qr_draw(m, 2, 0, buf, sizeof(buf), NULL),
			 AF_CTL_QR_OK);
	/* Line 1 holds module rows 2 and 3: the symbol's two rows. */
	line = strchr(buf, '\n');
	assert_non_null(line);
	assert_memory_equal(line + 1, FULL FULL UPPER " " FULL FULL "\n",
			    strlen(FULL FULL UPPER " " FULL FULL "\n"));
}

static void test_qr_draw_ansi_frames_every_line(void **state)
{
	static const unsigned char dark = 1;
	const char *p;
	char buf[512];
	int lines = 0;

	(void)state;
	assert_int_equal(af_ctl_qr_draw(&dark, 1, AF_CTL_QR_ANSI, buf,
					sizeof(buf), NULL),
			 AF_CTL_QR_OK);
	for (p = buf; *p != '\0'; lines++) {
		assert_memory_equal(p, "\033[40;37m", 8);
		p = strchr(p, '\n');
		assert_non_null(p);
		assert_memory_equal(p - 4, "\033[0m", 4);
		p++;
	}
	assert_int_equal(lines, 3);
}

static void test_qr_draw_small_buffer_too_small_and_empty(void **state)
{
	static const unsigned char dark = 1;
	char buf[20];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(af_ctl_qr_draw(&dark, 1, 0, buf, sizeof(buf), NULL),
			 AF_CTL_QR_ERR_TOO_SMALL);
	assert_string_equal(buf, "");
}

static void test_qr_render_largest_text_fits_buffer(void **state)
{
	char *text = malloc(AF_CTL_QR_TEXT_MAX + 1);
	char *buf = malloc(AF_CTL_QR_BUF);

	(void)state;
	assert_non_null(text);
	assert_non_null(buf);
	memset(text, 'a', AF_CTL_QR_TEXT_MAX);
	text[AF_CTL_QR_TEXT_MAX] = '\0';
	assert_int_equal(af_ctl_qr_render(text, AF_CTL_QR_ANSI, buf,
					  AF_CTL_QR_BUF, NULL),
			 AF_CTL_QR_OK);
	free(text);
	free(buf);
}

static void test_qr_render_bad_input_refused(void **state)
{
	static const unsigned char dark = 1;
	char *text = malloc(AF_CTL_QR_TEXT_MAX + 2);
	char buf[64];

	(void)state;
	assert_non_null(text);
	memset(text, 'a', AF_CTL_QR_TEXT_MAX + 1);
	text[AF_CTL_QR_TEXT_MAX + 1] = '\0';
	assert_int_equal(af_ctl_qr_render(text, 0, buf, sizeof(buf), NULL),
			 AF_CTL_QR_ERR_TOO_LONG);
	assert_int_equal(af_ctl_qr_render("", 0, buf, sizeof(buf), NULL),
			 AF_CTL_QR_ERR_ARG);
	assert_int_equal(af_ctl_qr_render(NULL, 0, buf, sizeof(buf), NULL),
			 AF_CTL_QR_ERR_ARG);
	assert_int_equal(af_ctl_qr_render(URI, 0, NULL, 0, NULL),
			 AF_CTL_QR_ERR_ARG);
	assert_int_equal(af_ctl_qr_draw(&dark, 0, 0, buf, sizeof(buf), NULL),
			 AF_CTL_QR_ERR_ARG);
	assert_int_equal(af_ctl_qr_draw(&dark, 1, 0x80, buf, sizeof(buf), NULL),
			 AF_CTL_QR_ERR_ARG);
	assert_int_equal(af_ctl_qr_draw(&dark, AF_CTL_QR_WIDTH_MAX + 1, 0, buf,
					sizeof(buf), NULL),
			 AF_CTL_QR_ERR_ARG);
	assert_non_null(af_ctl_qr_strerror(AF_CTL_QR_ERR_ENCODE));
	assert_non_null(af_ctl_qr_strerror((af_ctl_qr_status)-99));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qr_render_uri_matches_libqrencode_matrix),
		cmocka_unit_test(test_qr_draw_one_module_exact_text),
		cmocka_unit_test(test_qr_draw_two_rows_use_upper_and_space),
		cmocka_unit_test(test_qr_draw_ansi_frames_every_line),
		cmocka_unit_test(test_qr_draw_small_buffer_too_small_and_empty),
		cmocka_unit_test(test_qr_render_largest_text_fits_buffer),
		cmocka_unit_test(test_qr_render_bad_input_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
