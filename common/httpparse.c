/*
 * Status texts and the application/x-www-form-urlencoded decoder that the
 * form, query and Basic credential parsers share.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "common/httpparse.h"
#include "common/util.h"

const char *hp_strerror(hp_status st)
{
	switch (st) {
#define HP_XX(name, value, text) \
	case HP_##name:          \
		return text;
		HP_STATUS_MAP(HP_XX)
#undef HP_XX
	}
	return "unknown error";
}

/*
 * Decodes one byte at text[*i], moving *i past it; -1 on a bad escape.
 * form: '+' stands for a space, as in form bodies and queries.
 */
static int decode_byte(const char *text, size_t len, size_t *i, int form)
{
	unsigned char c = (unsigned char)text[*i];
	int hi, lo;

	if (form && c == '+') {
		(*i)++;
		return ' ';
	}
	if (c != '%') {
		(*i)++;
		return c;
	}
	/* A truncated escape is refused, not passed on as a literal '%'. */
	if (len - *i < 3)
		return -1;
	hi = af_hex_value((unsigned char)text[*i + 1]);
	lo = af_hex_value((unsigned char)text[*i + 2]);
	if (hi < 0 || lo < 0)
		return -1;
	*i += 3;
	return hi << 4 | lo;
}

static hp_status decode(const char *text, size_t len, char *out, size_t outcap,
			size_t *outlen, int form)
{
	size_t i = 0, n = 0;
	hp_status st = HP_OK;
	int c;

	if ((text == NULL && len > 0) || out == NULL || outcap == 0)
		return HP_ERR_ARG;
	while (i < len) {
		c = decode_byte(text, len, &i, form);
		/* NUL would cut the C string short of what was checked. */
		if (c <= 0) {
			st = HP_ERR_ENCODING;
			goto out;
		}
		if (n + 1 >= outcap) {
			st = HP_ERR_TOO_BIG;
			goto out;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
	if (outlen != NULL)
		*outlen = n;
out:
	if (st != HP_OK) {
		/* The text may be a password: leave none of it behind. */
		OPENSSL_cleanse(out, n);
		out[0] = '\0';
	}
	return st;
}

hp_status hp_form_decode(const char *text, size_t len, char *out, size_t outcap,
			 size_t *outlen)
{
	return decode(text, len, out, outcap, outlen, 1);
}

hp_status hp_uri_decode(const char *text, size_t len, char *out, size_t outcap,
			size_t *outlen)
{
	return decode(text, len, out, outcap, outlen, 0);
}
