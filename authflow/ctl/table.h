/*
 * Aligned text tables for authflowctl: a header row, then one row per
 * entry, each column padded with spaces to its widest cell plus a gap of
 * AF_TABLE_GAP, the last column not padded (no trailing blanks).
 *
 * Cells come from the server, so they are made safe for a terminal before
 * they are stored: C0 and C1 control characters, DEL, Unicode
 * bidirectional overrides and isolates, and bytes that are not valid
 * UTF-8 each become one '?'. A control character could otherwise move the
 * cursor, rewrite earlier lines or change the terminal's state; a bidi
 * override could make one name read like another. Widths are the columns
 * a terminal gives each character (wcwidth() in a UTF-8 locale: two for a
 * wide East Asian character, none for a combining accent), so columns stay
 * straight in any script. An empty or NULL cell is shown as "-", so that
 * every row has the same number of words.
 *
 * Thread-safety: an af_table belongs to one thread at a time; the free
 * functions are re-entrant.
 */
#ifndef AUTHFLOW_CTL_TABLE_H
#define AUTHFLOW_CTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

#if defined(__GNUC__)
#define AF_TABLE_NODISCARD __attribute__((warn_unused_result))
#else
#define AF_TABLE_NODISCARD
#endif

#define AF_TABLE_STATUS_MAP(XX)                      \
	XX(OK, 0, "success")                         \
	XX(ERR_ARG, -1, "invalid argument")          \
	XX(ERR_NOMEM, -2, "out of memory")           \
	XX(ERR_LIMIT, -3, "table or cell too large") \
	XX(ERR_IO, -4, "cannot write the table")

typedef enum af_table_status {
#define AF_TABLE_XX(name, value, text) AF_TABLE_##name = (value),
	AF_TABLE_STATUS_MAP(AF_TABLE_XX)
#undef AF_TABLE_XX
} af_table_status;

#define AF_TABLE_COLS_MAX 16	  /* columns of one table */
#define AF_TABLE_ROWS_MAX 1000000 /* rows below the header */
#define AF_TABLE_CELL_MAX 65536	  /* bytes of one cell as given */
#define AF_TABLE_GAP	  2	  /* spaces between two columns */

/* A static, never NULL, English message for a status. */
const char *af_table_strerror(af_table_status st);

typedef struct af_table af_table;

/*
 * Makes a table of ncols (1..AF_TABLE_COLS_MAX) columns with the given
 * header cells (lent; copied). AF_TABLE_OK and *out (free with
 * af_table_free()), AF_TABLE_ERR_ARG, AF_TABLE_ERR_LIMIT (a header cell
 * over AF_TABLE_CELL_MAX) or AF_TABLE_ERR_NOMEM.
 */
AF_TABLE_NODISCARD af_table_status af_table_new(const char *const *headers,
						size_t ncols, af_table **out);

/* Frees the table and its cells. Accepts NULL. */
void af_table_free(af_table *t);

/*
 * Appends a row of as many cells as the table has columns (lent; copied
 * after cleaning, see the top of this file; NULL cells are allowed).
 * AF_TABLE_OK, AF_TABLE_ERR_ARG, AF_TABLE_ERR_LIMIT (too many rows or a
 * cell over AF_TABLE_CELL_MAX bytes) or AF_TABLE_ERR_NOMEM; on error the
 * table is unchanged.
 */
AF_TABLE_NODISCARD af_table_status af_table_add_row(af_table *t,
						    const char *const *cells);

/* Number of rows below the header (0 for NULL). */
size_t af_table_rows(const af_table *t);

/*
 * Writes the header and every row to out. AF_TABLE_OK, AF_TABLE_ERR_ARG,
 * or AF_TABLE_ERR_IO when a write fails.
 */
AF_TABLE_NODISCARD af_table_status af_table_print(const af_table *t, FILE *out);

/*
 * The cleaned form of text (see the top of this file) as a new string in
 * *out (free()), and its width in code points in *width (may be NULL). A
 * NULL text is taken as "". Used for single values printed outside a
 * table too. AF_TABLE_OK, AF_TABLE_ERR_ARG, AF_TABLE_ERR_LIMIT (more than
 * AF_TABLE_CELL_MAX bytes) or AF_TABLE_ERR_NOMEM.
 */
AF_TABLE_NODISCARD af_table_status af_table_clean(const char *text, char **out,
						  size_t *width);

#endif /* AUTHFLOW_CTL_TABLE_H */
