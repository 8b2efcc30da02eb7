/*
 * Writers: percent-encoded query parameters for redirects, and HTML
 * escaping for the pages we serve. Both measure first and write only when
 * the whole result fits, so a too-small buffer never holds half a value.
 */
#include <stdint.h>
#include <string.h>

#include "common/httpparse.h"

static const char hex[] = "0123456789ABCDEF";

/* RFC 3986 unreserved characters are written as they are. */
static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* Bytes that s takes once percent-encoded, or SIZE_MAX past max. */
static size_t encoded_len(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		n += unreserved((unsigned char)*s) ? 1 : 3;
		if (n > max)
			return SIZE_MAX;
	}
	return n;
}

static size_t put_encoded(char *out, const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (unreserved(c)) {
			out[n++] = (char)c;
			continue;
		}
		out[n++] = '%';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 15];
	}
	return n;
}

hp_status hp_query_append(char *out, size_t outcap, const char *name,
			  const char *value)
{
	size_t used, room, nlen, vlen, n;

	if (out == NULL || outcap == 0 || name == NULL || value == NULL ||
	    name[0] == '\0')
		return HP_ERR_ARG;
	used = strnlen(out, outcap);
	if (used == outcap)
		return HP_ERR_ARG;
	/* Room for the text, leaving one byte for the NUL. */
	room = outcap - used - 1;
	nlen = encoded_len(name, room);
	vlen = encoded_len(value, room);
	if (nlen == SIZE_MAX || vlen == SIZE_MAX ||
	    (used > 0 ? 1 : 0) + nlen + 1 + vlen > room)
		return HP_ERR_TOO_BIG;
	n = used;
	if (used > 0)
		out[n++] = '&';
	n += put_encoded(out + n, name);
	out[n++] = '=';
	n += put_encoded(out + n, value);
	out[n] = '\0';
	return HP_OK;
}

/* The reference for c, NULL when c is written as it is, "" to drop it. */
static const char *html_ref(unsigned char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	/* These end or start attribute values and URLs when unquoted. */
	case '/':
		return "&#47;";
	case '`':
		return "&#96;";
	case '=':
		return "&#61;";
	case ';':
		return "&#59;";
	case '\t':
		return "&#9;";
	case '\n':
		return "&#10;";
	case '\r':
		return "&#13;";
	default:
		break;
	}
	/* HTML calls a reference to other controls a parse error: drop. */
	if (c < 0x20 || c == 0x7f)
		return "";
	return NULL;
}

hp_status hp_html_escape(const char *text, char *out, size_t outcap)
{
	const char *ref;
	size_t n = 0, rlen;

	if (text == NULL || out == NULL || outcap == 0)
		return HP_ERR_ARG;
	for (; *text != '\0'; text++) {
		ref = html_ref((unsigned char)*text);
		rlen = ref != NULL ? strlen(ref) : 1;
		if (rlen >= outcap - n) {
			out[0] = '\0';
			return HP_ERR_TOO_BIG;
		}
		if (ref != NULL)
			memcpy(out + n, ref, rlen);
		else
			out[n] = *text;
		n += rlen;
	}
	out[n] = '\0';
	return HP_OK;
}
