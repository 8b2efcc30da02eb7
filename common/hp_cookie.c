/*
 * Cookie request header (RFC 6265 section 4.2): "a=1; b=2". A browser
 * sends every cookie that matches, and other sites' scripts or subdomains
 * can plant badly formed ones; so a malformed pair is skipped rather than
 * failing the whole header, and only the wanted name's value is copied.
 */
#include <string.h>

#include "common/httpparse.h"

/* RFC 7230 tchar: what a cookie name may hold. */
static int tchar(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 6265 cookie-octet: printable ASCII less space, '"', ',', ';', '\'. */
static int cookie_octet(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' &&
	       c != '\\';
}

static int ows(char c)
{
	return c == ' ' || c == '\t';
}

struct pair {
	const char *name, *value;
	size_t nlen, vlen;
};

/* Splits text[0..len) into a well-formed pair; 0 when it is malformed. */
static int pair_parse(const char *text, size_t len, struct pair *pr)
{
	const char *eq;
	size_t i;

	while (len > 0 && ows(text[0])) {
		text++;
		len--;
	}
	while (len > 0 && ows(text[len - 1]))
		len--;
	eq = memchr(text, '=', len);
	if (eq == NULL || eq == text)
		return 0;
	pr->name = text;
	pr->nlen = (size_t)(eq - text);
	pr->value = eq + 1;
	pr->vlen = len - pr->nlen - 1;
	for (i = 0; i < pr->nlen; i++) {
		if (!tchar((unsigned char)pr->name[i]))
			return 0;
	}
	if (pr->vlen > 0 && pr->value[0] == '"') {
		if (pr->vlen < 2 || pr->value[pr->vlen - 1] != '"')
			return 0;
		pr->value++;
		pr->vlen -= 2;
	}
	for (i = 0; i < pr->vlen; i++) {
		if (!cookie_octet((unsigned char)pr->value[i]))
			return 0;
	}
	return 1;
}

hp_status hp_cookie_get(const char *header, const char *name, char *out,
			size_t outcap)
{
	size_t hlen, nlen, start = 0, stop;
	const char *semi;
	struct pair pr;

	if (header == NULL || name == NULL || out == NULL || outcap == 0)
		return HP_ERR_ARG;
	out[0] = '\0';
	nlen = strnlen(name, HP_COOKIE_HEADER_MAX + 1);
	if (nlen == 0)
		return HP_ERR_ARG;
	hlen = strnlen(header, HP_COOKIE_HEADER_MAX + 1);
	if (hlen > HP_COOKIE_HEADER_MAX)
		return HP_ERR_TOO_BIG;
	while (start < hlen) {
		semi = memchr(header + start, ';', hlen - start);
		stop = semi != NULL ? (size_t)(semi - header) : hlen;
		if (pair_parse(header + start, stop - start, &pr) &&
		    pr.nlen == nlen && memcmp(pr.name, name, nlen) == 0) {
			/* The first well-formed one wins, fitting or not. */
			if (pr.vlen >= outcap)
				return HP_ERR_TOO_BIG;
			memcpy(out, pr.value, pr.vlen);
			out[pr.vlen] = '\0';
			return HP_OK;
		}
		start = stop + 1;
	}
	return HP_ERR_ARG;
}

hp_status hp_cookie_next(const char *header, size_t *pos, const char **name,
			 size_t *nlen)
{
	size_t hlen, stop;
	const char *semi;
	struct pair pr;
	int ok;

	if (header == NULL || pos == NULL || name == NULL || nlen == NULL)
		return HP_ERR_ARG;
	hlen = strnlen(header, HP_COOKIE_HEADER_MAX + 1);
	if (hlen > HP_COOKIE_HEADER_MAX)
		return HP_ERR_TOO_BIG;
	while (*pos < hlen) {
		semi = memchr(header + *pos, ';', hlen - *pos);
		stop = semi != NULL ? (size_t)(semi - header) : hlen;
		ok = pair_parse(header + *pos, stop - *pos, &pr);
		*pos = stop + 1;
		if (ok) {
			*name = pr.name;
			*nlen = pr.nlen;
			return HP_OK;
		}
	}
	return HP_ERR_ARG;
}
