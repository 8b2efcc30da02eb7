/*
 * Authorization request headers: "Basic" client credentials (RFC 7617,
 * with the form-encoding of RFC 6749 section 2.3.1) and "Bearer" access
 * tokens (RFC 6750 section 2.1). Both carry secrets, so every buffer that
 * held a decoded byte of them is wiped on the way out, and the base64
 * decoder does no table lookup indexed by secret bytes.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/httpparse.h"

/* Base64 of HP_AUTH_HEADER_MAX bytes decodes to no more than this. */
#define RAW_MAX (HP_AUTH_HEADER_MAX / 4 * 3)

static void wipe(char *buf, size_t cap)
{
	if (buf == NULL || cap == 0)
		return;
	OPENSSL_cleanse(buf, cap);
	buf[0] = '\0';
}

/* ASCII case-insensitive: the locale must not change what matches. */
static int scheme_is(const char *header, size_t hlen, const char *scheme)
{
	size_t i, n = strlen(scheme);

	if (hlen < n)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)header[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)scheme[i])
			return 0;
	}
	return 1;
}

/* The scheme's name, then a space or the end. */
static int scheme_named(const char *header, size_t hlen, const char *scheme)
{
	size_t n = strlen(scheme);

	return scheme_is(header, hlen, scheme) &&
	       (hlen == n || header[n] == ' ');
}

/*
 * Where the credentials start after the scheme and the one or more spaces
 * that follow it (RFC 9110 11.4: 1*SP), or 0 when the header is not of
 * that scheme or holds nothing after it.
 */
static size_t credentials_at(const char *header, size_t hlen,
			     const char *scheme)
{
	size_t n = strlen(scheme), at = n;

	if (!scheme_named(header, hlen, scheme))
		return 0;
	while (at < hlen && header[at] == ' ')
		at++;
	return at > n && at < hlen ? at : 0;
}

int hp_auth_scheme_is(const char *header, const char *scheme)
{
	if (header == NULL || scheme == NULL)
		return 0;
	return scheme_named(header, strnlen(header, HP_AUTH_HEADER_MAX + 1),
			    scheme);
}

/* All ones when lo <= x <= hi (all below 256), else zero; no branch. */
static uint32_t in_range(uint32_t x, uint32_t lo, uint32_t hi)
{
	return 0u - ((((x - lo) | (hi - x)) >> 31) ^ 1u);
}

/* The standard alphabet's value of c; sets *bad when c is outside it. */
static uint32_t sextet(unsigned char c, uint32_t *bad)
{
	uint32_t x = c, v = 0, ok = 0, m;

	m = in_range(x, 'A', 'Z');
	v |= m & (x - 'A');
	ok |= m;
	m = in_range(x, 'a', 'z');
	v |= m & (x - 'a' + 26);
	ok |= m;
	m = in_range(x, '0', '9');
	v |= m & (x - '0' + 52);
	ok |= m;
	m = in_range(x, '+', '+');
	v |= m & 62u;
	ok |= m;
	m = in_range(x, '/', '/');
	v |= m & 63u;
	ok |= m;
	*bad |= ~ok & 1u;
	return v;
}

int hp_base64_decode(const char *in, size_t len, uint8_t *out, size_t outcap,
		     size_t *outlen)
{
	size_t pad = 0, i, j, n = 0, keep;
	uint32_t bad = 0, v;

	if (in == NULL || out == NULL || outlen == NULL || len == 0 ||
	    len % 4 != 0)
		return -1;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	if (len / 4 * 3 - pad > outcap)
		return -1;
	for (i = 0; i < len; i += 4) {
		v = 0;
		for (j = 0; j < 4; j++) {
			v <<= 6;
			/* Padding stands for zero bits in the last quad. */
			if (i + j < len - pad)
				v |= sextet((unsigned char)in[i + j], &bad);
		}
		keep = i + 4 < len ? 3 : 3 - pad;
		out[n++] = (uint8_t)(v >> 16);
		if (keep > 1)
			out[n++] = (uint8_t)(v >> 8);
		if (keep > 2)
			out[n++] = (uint8_t)v;
		if (i + 4 == len && pad > 0)
			bad |= (v & (pad == 1 ? 0xffu : 0xffffu)) != 0;
	}
	*outlen = n;
	return bad != 0 ? -1 : 0;
}

hp_status hp_auth_basic(const char *header, char *user, size_t usercap,
			char *pass, size_t passcap)
{
	uint8_t raw[RAW_MAX];
	size_t hlen, rawlen = 0, ulen, at = 0;
	const uint8_t *colon;
	hp_status st = HP_OK;

	if (header == NULL || user == NULL || pass == NULL || usercap == 0 ||
	    passcap == 0) {
		wipe(user, usercap);
		wipe(pass, passcap);
		return HP_ERR_ARG;
	}
	hlen = strnlen(header, HP_AUTH_HEADER_MAX + 1);
	if (hlen > HP_AUTH_HEADER_MAX) {
		st = HP_ERR_TOO_BIG;
		goto out;
	}
	at = credentials_at(header, hlen, "basic");
	if (at == 0 || hp_base64_decode(header + at, hlen - at, raw,
					sizeof(raw), &rawlen) != 0) {
		st = HP_ERR_SYNTAX;
		goto out;
	}
	colon = memchr(raw, ':', rawlen);
	if (colon == NULL || colon == raw) {
		st = HP_ERR_SYNTAX;
		goto out;
	}
	ulen = (size_t)(colon - raw);
	st = hp_form_decode((const char *)raw, ulen, user, usercap, NULL);
	if (st == HP_OK)
		st = hp_form_decode((const char *)colon + 1, rawlen - ulen - 1,
				    pass, passcap, NULL);
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	if (st != HP_OK) {
		wipe(user, usercap);
		wipe(pass, passcap);
	}
	return st;
}

/* RFC 6750 b64token characters, before the trailing '='s. */
static int b64token_char(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c == '-' || c == '.' || c == '_' || c == '~' || c == '+' ||
	       c == '/';
}

size_t hp_b64token_len(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && b64token_char((unsigned char)s[i]))
		i++;
	if (i == 0)
		return 0;
	while (i < n && s[i] == '=')
		i++;
	return i;
}

hp_status hp_auth_bearer(const char *header, char *out, size_t outcap)
{
	size_t hlen, start, i;
	hp_status st = HP_OK;

	if (header == NULL || out == NULL || outcap == 0) {
		wipe(out, outcap);
		return HP_ERR_ARG;
	}
	hlen = strnlen(header, HP_AUTH_HEADER_MAX + 1);
	if (hlen > HP_AUTH_HEADER_MAX) {
		st = HP_ERR_TOO_BIG;
		goto out;
	}
	/* RFC 6750 asks for one space; some clients send more. */
	start = credentials_at(header, hlen, "bearer");
	if (start == 0) {
		st = HP_ERR_SYNTAX;
		goto out;
	}
	i = start + hp_b64token_len(header + start, hlen - start);
	if (i == start || i != hlen) {
		st = HP_ERR_SYNTAX;
		goto out;
	}
	if (hlen - start >= outcap) {
		st = HP_ERR_TOO_BIG;
		goto out;
	}
	memcpy(out, header + start, hlen - start);
	out[hlen - start] = '\0';
out:
	if (st != HP_OK)
		wipe(out, outcap);
	return st;
}
