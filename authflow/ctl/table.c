/*
 * Aligned, terminal-safe text tables for authflowctl. Columns are as
 * wide as the terminal shows their cells: the C library's wcwidth() in a
 * UTF-8 locale says how many columns each character takes (two for CJK,
 * none for a combining accent), so alignment does not depend on the
 * locale the command runs in.
 */
/* wcwidth() is X/Open; this file alone needs it. */
#define _XOPEN_SOURCE 700

#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "common/cli.h"
#include "common/util.h"
#include "table.h"

struct af_table {
	size_t ncols;
	size_t nrows; /* rows below the header */
	size_t cap;   /* rows the cells array has room for */
	char **cells; /* (1 + nrows) * ncols, header first */
};

static const char empty_cell[] = "-";

const char *af_table_strerror(af_table_status st)
{
	switch (st) {
#define AF_TABLE_XX(name, value, text) \
	case AF_TABLE_##name:          \
		return text;
		AF_TABLE_STATUS_MAP(AF_TABLE_XX)
#undef AF_TABLE_XX
	}
	return "unknown table status";
}

/*
 * Terminal columns of a cleaned cell (valid UTF-8): wcwidth() of each code
 * point under the calling thread's locale, one where it has no answer.
 */
static size_t display_width(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, n, w = 0;
	uint32_t cp = 0;
	int cw;

	while (i < len) {
		n = af_utf8_next(u + i, len - i, &cp);
		if (n == 0)
			n = 1;
		cw = wcwidth((wchar_t)cp);
		w += cw < 0 ? 1 : (size_t)cw;
		i += n;
	}
	return w;
}

af_table_status af_table_clean(const char *text, char **out, size_t *width)
{
	const char *s = text != NULL ? text : "";
	size_t len = strlen(s), i, w = 0;
	char *buf;

	if (out == NULL)
		return AF_TABLE_ERR_ARG;
	*out = NULL;
	if (len > AF_TABLE_CELL_MAX)
		return AF_TABLE_ERR_LIMIT;
	buf = malloc(len + 1);
	if (buf == NULL)
		return AF_TABLE_ERR_NOMEM;
	memcpy(buf, s, len + 1);
	af_cli_one_line(buf);
	/* Well-formed now: a character is each byte but a continuation. */
	for (i = 0; buf[i] != '\0'; i++)
		w += ((unsigned char)buf[i] & 0xc0) != 0x80;
	*out = buf;
	if (width != NULL)
		*width = w;
	return AF_TABLE_OK;
}

/* Cleans one cell into *slot, an empty one as "-". */
static af_table_status set_cell(const char *text, char **slot)
{
	if (text == NULL || text[0] == '\0')
		text = empty_cell;
	return af_table_clean(text, slot, NULL);
}

af_table_status af_table_new(const char *const *headers, size_t ncols,
			     af_table **out)
{
	af_table_status st = AF_TABLE_ERR_NOMEM;
	af_table *t;
	size_t i;

	if (out == NULL)
		return AF_TABLE_ERR_ARG;
	*out = NULL;
	if (headers == NULL || ncols == 0 || ncols > AF_TABLE_COLS_MAX)
		return AF_TABLE_ERR_ARG;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return AF_TABLE_ERR_NOMEM;
	t->ncols = ncols;
	t->cap = 16;
	t->cells = calloc(t->cap * ncols, sizeof(*t->cells));
	if (t->cells == NULL)
		goto out;
	for (i = 0; i < ncols; i++) {
		st = set_cell(headers[i], &t->cells[i]);
		if (st != AF_TABLE_OK)
			goto out;
	}
	*out = t;
	t = NULL;
	st = AF_TABLE_OK;
out:
	af_table_free(t);
	return st;
}

void af_table_free(af_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	if (t->cells != NULL) {
		for (i = 0; i < (t->nrows + 1) * t->ncols; i++)
			free(t->cells[i]);
		free(t->cells);
	}
	free(t);
}

/* Makes room for one more row; the cap on rows is checked by the caller. */
static af_table_status grow(af_table *t)
{
	size_t cap;
	char **cells;

	if (t->nrows + 1 < t->cap)
		return AF_TABLE_OK;
	cap = t->cap * 2;
	if (cap > AF_TABLE_ROWS_MAX + 1)
		cap = AF_TABLE_ROWS_MAX + 1;
	cells = realloc(t->cells, cap * t->ncols * sizeof(*cells));
	if (cells == NULL)
		return AF_TABLE_ERR_NOMEM;
	t->cells = cells;
	t->cap = cap;
	return AF_TABLE_OK;
}

af_table_status af_table_add_row(af_table *t, const char *const *cells)
{
	af_table_status st;
	char **row;
	size_t i;

	if (t == NULL || cells == NULL)
		return AF_TABLE_ERR_ARG;
	if (t->nrows >= AF_TABLE_ROWS_MAX)
		return AF_TABLE_ERR_LIMIT;
	st = grow(t);
	if (st != AF_TABLE_OK)
		return st;
	row = t->cells + (t->nrows + 1) * t->ncols;
	for (i = 0; i < t->ncols; i++) {
		row[i] = NULL;
		st = set_cell(cells[i], &row[i]);
		if (st != AF_TABLE_OK)
			break;
	}
	if (st != AF_TABLE_OK) {
		/* Leave the table as it was: no half row. */
		while (i > 0)
			free(row[--i]);
		return st;
	}
	t->nrows++;
	return AF_TABLE_OK;
}

size_t af_table_rows(const af_table *t)
{
	return t == NULL ? 0 : t->nrows;
}

static void pad(FILE *out, size_t n)
{
	while (n-- > 0)
		putc(' ', out);
}

af_table_status af_table_print(const af_table *t, FILE *out)
{
	size_t widths[AF_TABLE_COLS_MAX] = {0}, *cw, r, c, n;
	locale_t utf8, old = (locale_t)0;

	if (t == NULL || out == NULL)
		return AF_TABLE_ERR_ARG;
	n = (t->nrows + 1) * t->ncols;
	cw = calloc(n, sizeof(*cw));
	if (cw == NULL)
		return AF_TABLE_ERR_NOMEM;
	/* Cells are UTF-8 whatever the caller's locale says. */
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (utf8 != (locale_t)0)
		old = uselocale(utf8);
	for (r = 0; r < n; r++) {
		cw[r] = display_width(t->cells[r]);
		if (cw[r] > widths[r % t->ncols])
			widths[r % t->ncols] = cw[r];
	}
	if (utf8 != (locale_t)0) {
		uselocale(old);
		freelocale(utf8);
	}
	for (r = 0; r <= t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			fputs(t->cells[r * t->ncols + c], out);
			if (c + 1 < t->ncols)
				pad(out, widths[c] - cw[r * t->ncols + c] +
						 AF_TABLE_GAP);
		}
		putc('\n', out);
	}
	free(cw);
	return ferror(out) ? AF_TABLE_ERR_IO : AF_TABLE_OK;
}
