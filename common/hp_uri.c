/*
 * Redirect URI shape check. An identity provider that redirects a browser
 * with a code to a place an attacker chose is an open redirector and a
 * code thief, so this accepts one narrow shape that every browser and URL
 * library reads the same way: scheme "://" host [":" port] path-abempty
 * ["?" query], printable ASCII only. Anything where parsers disagree
 * (backslashes, userinfo, escapes or odd numbers in hosts, fragments) is
 * refused rather than normalised.
 */
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/httpparse.h"
#include "common/util.h"

#define HOST_MAX      253 /* bytes of a DNS name without its final dot */
#define LABEL_MAX     63  /* bytes of one DNS label */
#define IPV6_TEXT_MAX 45  /* bytes of the longest IPv6 text form */

static int alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int hexdig(unsigned char c)
{
	return af_hex_value(c) >= 0;
}

/* ASCII case-insensitive equality of s[0..n) and a lower-case word. */
static int word_is(const char *s, size_t n, const char *word)
{
	size_t i;

	if (strlen(word) != n)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)word[i])
			return 0;
	}
	return 1;
}

/*
 * A canonical dotted quad: four decimal parts of 0 to 255 with no leading
 * zero, so that no octal or hex reading can make it another address.
 * Sets *first to the first part. Returns 1 when host[0..n) is one.
 */
static int dotted_quad(const char *host, size_t n, unsigned *first)
{
	size_t i = 0, parts = 0, digits;
	unsigned v;

	while (parts < 4) {
		v = 0;
		for (digits = 0; i < n && digit((unsigned char)host[i]);
		     digits++, i++) {
			if (digits == 3)
				return 0;
			v = v * 10 + (unsigned)(host[i] - '0');
		}
		if (digits == 0 || v > 255 ||
		    (digits > 1 && host[i - digits] == '0'))
			return 0;
		if (parts == 0)
			*first = v;
		parts++;
		if (parts < 4) {
			if (i >= n || host[i] != '.')
				return 0;
			i++;
		}
	}
	return i == n;
}

/*
 * Whether a label reads as a number to the WHATWG URL parser (decimal
 * digits, or "0x" and hex digits). Such a last label makes browsers
 * parse the whole host as IPv4, in forms like "127.1" or "0x7f.1".
 */
static int numeric_label(const char *s, size_t n)
{
	size_t i = 0;

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < n && hexdig((unsigned char)s[i]); i++)
			;
		return i == n;
	}
	for (; i < n && digit((unsigned char)s[i]); i++)
		;
	return n > 0 && i == n;
}

/* An LDH label: letters, digits, inner hyphens, 1 to 63 bytes. */
static int label_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!alpha(c) && !digit(c) && c != '-')
			return 0;
	}
	return 1;
}

/* A DNS name or dotted quad in host[0..n); sets *loopback. */
static int name_ok(const char *host, size_t n, int *loopback)
{
	size_t start = 0, stop;
	const char *dot;
	unsigned first = 0;

	if (n == 0 || n > HOST_MAX)
		return 0;
	for (;;) {
		dot = memchr(host + start, '.', n - start);
		stop = dot != NULL ? (size_t)(dot - host) : n;
		/* An empty label also refuses a trailing dot. */
		if (!label_ok(host + start, stop - start))
			return 0;
		if (dot == NULL)
			break;
		start = stop + 1;
	}
	if (numeric_label(host + start, n - start)) {
		if (!dotted_quad(host, n, &first))
			return 0;
		*loopback = first == 127;
		return 1;
	}
	*loopback = word_is(host, n, "localhost");
	return 1;
}

/* The text between '[' and ']': an IPv6 address, no zone, no IPvFuture. */
static int ipv6_ok(const char *s, size_t n, int *loopback)
{
	static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0,
					0, 0, 0, 0, 0, 0, 0, 1};
	char text[IPV6_TEXT_MAX + 1];
	struct in6_addr addr;
	size_t i;

	if (n < 2 || n > IPV6_TEXT_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!hexdig(c) && c != ':' && c != '.')
			return 0;
	}
	memcpy(text, s, n);
	text[n] = '\0';
	if (inet_pton(AF_INET6, text, &addr) != 1)
		return 0;
	*loopback = memcmp(&addr, one, sizeof(one)) == 0;
	return 1;
}

/* 1 to 65535 in decimal, without leading zeros. */
static int port_ok(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5 || s[0] == '0')
		return 0;
	for (i = 0; i < n; i++) {
		if (!digit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

/* host [":" port], with no userinfo; sets *loopback. */
static int authority_ok(const char *a, size_t n, int *loopback)
{
	const char *end;
	size_t hlen;

	if (memchr(a, '@', n) != NULL || memchr(a, '%', n) != NULL)
		return 0;
	if (n > 0 && a[0] == '[') {
		end = memchr(a, ']', n);
		if (end == NULL)
			return 0;
		hlen = (size_t)(end - a) + 1;
		if (!ipv6_ok(a + 1, hlen - 2, loopback))
			return 0;
	} else {
		end = memchr(a, ':', n);
		hlen = end != NULL ? (size_t)(end - a) : n;
		if (!name_ok(a, hlen, loopback))
			return 0;
	}
	if (hlen == n)
		return 1;
	return a[hlen] == ':' && port_ok(a + hlen + 1, n - hlen - 1);
}

/* RFC 3986 pchar, '/' and '?', with escapes that are whole. */
static int path_query_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (n - i < 3 || !hexdig((unsigned char)s[i + 1]) ||
			    !hexdig((unsigned char)s[i + 2]))
				return 0;
			i += 2;
			continue;
		}
		if (alpha(c) || digit(c) ||
		    strchr("-._~!$&'()*+,;=:@/?", c) != NULL)
			continue;
		return 0;
	}
	return 1;
}

/* Length of the scheme before "://", or 0 when there is none. */
static size_t scheme_len(const char *uri, size_t len)
{
	size_t i;

	if (len == 0 || !alpha((unsigned char)uri[0]))
		return 0;
	for (i = 1; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (!alpha(c) && !digit(c) && c != '+' && c != '-' && c != '.')
			break;
	}
	if (len - i < 3 || memcmp(uri + i, "://", 3) != 0)
		return 0;
	return i;
}

hp_status hp_redirect_uri_check(const char *uri)
{
	size_t len, slen, start, stop, i;
	int https, loopback = 0;

	if (uri == NULL)
		return HP_ERR_ARG;
	len = strnlen(uri, HP_URI_MAX + 1);
	if (len == 0 || len > HP_URI_MAX)
		return HP_ERR_SYNTAX;
	/*
	 * Spaces, controls and non-ASCII are where parsers disagree most
	 * (tabs and newlines are stripped by browsers, Unicode dots fold to
	 * '.'), and a fragment may not appear in a redirect URI at all.
	 */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '#')
			return HP_ERR_SYNTAX;
	}
	slen = scheme_len(uri, len);
	https = word_is(uri, slen, "https");
	if (!https && !word_is(uri, slen, "http"))
		return HP_ERR_SYNTAX;
	start = slen + 3;
	for (stop = start; stop < len && uri[stop] != '/' && uri[stop] != '?';
	     stop++)
		;
	if (!authority_ok(uri + start, stop - start, &loopback) ||
	    !path_query_ok(uri + stop, len - stop))
		return HP_ERR_SYNTAX;
	/* Plain http is only for native apps listening on loopback. */
	if (!https && !loopback)
		return HP_ERR_SYNTAX;
	return HP_OK;
}
