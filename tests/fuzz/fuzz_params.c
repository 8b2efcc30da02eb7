/*
 * Fuzz target: form and query parsing, form decoding, and the writers.
 * What parses must agree with a simple reference split of the input (so
 * no value was cut short by a hidden NUL), stay within HP_PARAMS_MAX, and
 * read back the same after hp_query_append(); HTML escaping of the input
 * must leave no character that could open a tag or leave an attribute.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decoded length of an escape-checked piece: each %XX is one byte. */
static size_t decoded_len(const char *s, size_t n)
{
	size_t i, pct = 0;

	for (i = 0; i < n; i++)
		pct += s[i] == '%';
	return n - 2 * pct;
}

/* Checks every parameter against a reference split of text. */
static void check_against_split(const af_params *p, const char *text,
				size_t len)
{
	size_t start = 0, stop, i = 0, nlen;
	const char *amp, *eq, *name, *value;

	while (start < len) {
		amp = memchr(text + start, '&', len - start);
		stop = amp != NULL ? (size_t)(amp - text) : len;
		if (stop > start) {
			hp_params_at(p, i++, &name, &value);
			if (name == NULL || value == NULL)
				abort();
			eq = memchr(text + start, '=', stop - start);
			nlen = eq != NULL ? (size_t)(eq - text) - start
					  : stop - start;
			if (strlen(name) != decoded_len(text + start, nlen))
				abort();
			if (strlen(value) !=
			    (eq != NULL ? decoded_len(eq + 1,
						      stop - start - nlen - 1)
					: 0))
				abort();
		}
		start = stop + 1;
	}
	if (i != hp_params_count(p))
		abort();
}

static void check_set(const af_params *p, const char *text, size_t size)
{
	size_t i, j, n = hp_params_count(p);
	const char *name, *value;

	if (n > HP_PARAMS_MAX || size > HP_INPUT_MAX ||
	    memchr(text, '\0', size) != NULL)
		abort();
	for (i = 0; i < n; i++) {
		hp_params_at(p, i, &name, &value);
		if (name[0] == '\0' || hp_params_get(p, name) != value)
			abort();
		for (j = 0; name[j] != '\0'; j++) {
			if ((unsigned char)name[j] < 0x20 || name[j] == 0x7f)
				abort();
		}
	}
	check_against_split(p, text, size);
}

/* Writes the set back with hp_query_append() and parses it again. */
static void check_round_trip(const af_params *p, size_t size)
{
	size_t i, n = hp_params_count(p), cap = 3 * size + 2 * n + 1;
	const char *name, *value, *n2, *v2;
	af_params *q = NULL;
	char *buf = malloc(cap);

	if (buf == NULL)
		return;
	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		hp_params_at(p, i, &name, &value);
		if (hp_query_append(buf, cap, name, value) != HP_OK)
			abort();
	}
	if (strlen(buf) <= HP_INPUT_MAX) {
		if (hp_params_parse(buf, strlen(buf), &q) != HP_OK ||
		    hp_params_count(q) != n)
			abort();
		for (i = 0; i < n; i++) {
			hp_params_at(p, i, &name, &value);
			hp_params_at(q, i, &n2, &v2);
			if (strcmp(name, n2) != 0 || strcmp(value, v2) != 0)
				abort();
		}
	}
	hp_params_free(q);
	free(buf);
}

/* Every '&' must start a reference; nothing may open or close markup. */
static void check_html(const char *text)
{
	size_t cap = strlen(text) * 6 + 1, i;
	char *out = malloc(cap);

	if (out == NULL)
		return;
	if (hp_html_escape(text, out, cap) != HP_OK)
		abort();
	for (i = 0; out[i] != '\0'; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f || strchr("<>\"'`=/", c) != NULL)
			abort();
		if (c == '&' && strncmp(out + i, "&amp;", 5) != 0 &&
		    strncmp(out + i, "&lt;", 4) != 0 &&
		    strncmp(out + i, "&gt;", 4) != 0 &&
		    strncmp(out + i, "&quot;", 6) != 0 &&
		    strncmp(out + i, "&#", 2) != 0)
			abort();
	}
	free(out);
}

static void check_decode(const char *text, size_t size)
{
	char *out = malloc(size + 1);
	size_t n = 0;

	if (out == NULL)
		return;
	if (hp_form_decode(text, size, out, size + 1, &n) == HP_OK) {
		if (strlen(out) != n || n > size)
			abort();
	} else if (out[0] != '\0') {
		abort();
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	af_params *p = NULL;
	char *str;
	hp_status st;

	st = hp_params_parse(text, size, &p);
	if (st == HP_OK) {
		check_set(p, text, size);
		check_round_trip(p, size);
	} else if ((st == HP_ERR_DUPLICATE) != (p != NULL)) {
		abort();
	}
	hp_params_free(p);
	check_decode(text, size);
	str = malloc(size + 1);
	if (str == NULL)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	check_html(str);
	free(str);
	return 0;
}
