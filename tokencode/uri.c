/*
 * otpauth://totp/ URIs in the Key Uri Format that authenticator apps read:
 *
 *   otpauth://totp/ISSUER:ACCOUNT?secret=B32&issuer=ISSUER&algorithm=SHA1&
 *   digits=6&period=30
 *
 * The parser reads only as far as TC_URI_MAX and keeps every field within
 * its fixed-size buffer, so a hostile QR code can do no more than fail.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "tokencode.h"

#define SCHEME "otpauth://totp/"

/* RFC 3986 unreserved characters are written as they are. */
static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* A growable-free writer: appends to a fixed buffer, remembers overflow. */
struct writer {
	char *buf;
	size_t cap, len;
	int overflow;
};

static void put(struct writer *w, const char *s, size_t n)
{
	if (w->overflow || n >= w->cap - w->len) {
		w->overflow = 1;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put_str(struct writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_encoded(struct writer *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char pct[3];

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (unreserved(c)) {
			put(w, (const char *)&c, 1);
			continue;
		}
		pct[0] = '%';
		pct[1] = hex[c >> 4];
		pct[2] = hex[c & 15];
		put(w, pct, 3);
	}
}

static void put_uint(struct writer *w, unsigned long v)
{
	char tmp[24];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 && n > 0);
	put(w, tmp + n, sizeof(tmp) - n);
}

static int label_ok(const char *s)
{
	size_t n = strnlen(s, TC_LABEL_MAX + 1);

	/* A colon would make the label's issuer ambiguous. */
	return n > 0 && n <= TC_LABEL_MAX && memchr(s, ':', n) == NULL;
}

tc_status tc_uri_build(const tc_uri *uri, char *out, size_t outcap,
		       size_t *outlen)
{
	char secret[TC_BASE32_MAX + 1];
	struct writer w = {out, outcap, 0, 0};
	tc_status st;

	if (uri == NULL || out == NULL || outcap == 0)
		return TC_ERR_ARG;
	out[0] = '\0';
	if (!label_ok(uri->issuer) || !label_ok(uri->account))
		return TC_ERR_ARG;
	if (uri->secret_len == 0)
		return TC_ERR_EMPTY_SECRET;
	if (uri->secret_len > TC_SECRET_MAX)
		return TC_ERR_SECRET_TOO_LONG;
	if (uri->params.digits != 6 && uri->params.digits != 8)
		return TC_ERR_DIGITS;
	if (uri->params.step < 1 || uri->params.step > 3600)
		return TC_ERR_STEP;
	st = tc_base32_encode(uri->secret, uri->secret_len, secret,
			      sizeof(secret));
	if (st != TC_OK)
		goto out;

	put_str(&w, SCHEME);
	put_encoded(&w, uri->issuer);
	put_str(&w, ":");
	put_encoded(&w, uri->account);
	put_str(&w, "?secret=");
	put_str(&w, secret);
	put_str(&w, "&issuer=");
	put_encoded(&w, uri->issuer);
	put_str(&w, "&algorithm=");
	put_str(&w, tc_algo_name(uri->algo));
	put_str(&w, "&digits=");
	put_uint(&w, uri->params.digits);
	put_str(&w, "&period=");
	put_uint(&w, uri->params.step);
	if (w.overflow) {
		OPENSSL_cleanse(out, outcap);
		out[0] = '\0';
		st = TC_ERR_BUFFER;
		goto out;
	}
	if (outlen != NULL)
		*outlen = w.len;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return st;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes s[0..n) into out (cap bytes with the NUL). '+' stays a
 * plus: URIs are not form bodies. NUL bytes are refused.
 */
static tc_status decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return TC_ERR_URI;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return TC_ERR_URI;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0)
			return TC_ERR_URI;
		if (o + 1 >= cap)
			return TC_ERR_URI_TOO_LONG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return TC_OK;
}

static tc_status parse_uint(const char *s, unsigned long max,
			    unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return TC_ERR_URI;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return TC_ERR_URI;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return TC_ERR_URI;
	}
	*out = v;
	return TC_OK;
}

enum { P_SECRET, P_ISSUER, P_ALGO, P_DIGITS, P_PERIOD, P_COUNT };

struct uri_state {
	char value[TC_BASE32_MAX + TC_LABEL_MAX + 1];
	char issuer_param[TC_LABEL_MAX + 1];
	int seen[P_COUNT];
};

static int param_index(const char *name, size_t n)
{
	static const char *const names[P_COUNT] = {
		"secret", "issuer", "algorithm", "digits", "period",
	};
	int i;

	for (i = 0; i < P_COUNT; i++) {
		if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
			return i;
	}
	return -1;
}

static tc_status apply_param(tc_uri *uri, struct uri_state *us, int idx)
{
	unsigned long v;
	tc_status st = TC_OK;

	switch (idx) {
	case P_SECRET:
		st = tc_base32_decode(us->value, strlen(us->value), uri->secret,
				      sizeof(uri->secret), &uri->secret_len);
		if (st == TC_OK && uri->secret_len == 0)
			st = TC_ERR_EMPTY_SECRET;
		break;
	case P_ISSUER:
		if (strlen(us->value) > TC_LABEL_MAX)
			return TC_ERR_URI_TOO_LONG;
		memcpy(us->issuer_param, us->value, strlen(us->value) + 1);
		break;
	case P_ALGO:
		st = tc_algo_parse(us->value, &uri->algo);
		break;
	case P_DIGITS:
		st = parse_uint(us->value, 8, &v);
		if (st == TC_OK && v != 6 && v != 8)
			st = TC_ERR_DIGITS;
		if (st == TC_OK)
			uri->params.digits = (unsigned)v;
		break;
	case P_PERIOD:
		st = parse_uint(us->value, 3600, &v);
		if (st == TC_OK && v < 1)
			st = TC_ERR_STEP;
		if (st == TC_OK)
			uri->params.step = (unsigned)v;
		break;
	default:
		st = TC_ERR_ARG;
	}
	return st;
}

static tc_status parse_query(tc_uri *uri, struct uri_state *us, const char *q,
			     size_t n)
{
	const char *end = q + n;
	tc_status st;

	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp != NULL ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(stop - q));
		int idx = -1;

		if (eq == NULL && stop != q)
			return TC_ERR_URI;
		if (eq != NULL)
			idx = param_index(q, (size_t)(eq - q));
		q = stop + (amp != NULL ? 1 : 0);
		/* Unknown parameters are ignored, as authenticator apps do. */
		if (idx < 0)
			continue;
		if (us->seen[idx])
			return TC_ERR_URI;
		us->seen[idx] = 1;
		st = decode(eq + 1, (size_t)(stop - eq - 1), us->value,
			    sizeof(us->value));
		if (st == TC_OK)
			st = apply_param(uri, us, idx);
		OPENSSL_cleanse(us->value, sizeof(us->value));
		if (st != TC_OK)
			return st;
	}
	return TC_OK;
}

static tc_status parse_label(tc_uri *uri, const char *s, size_t n)
{
	char label[2 * TC_LABEL_MAX + 2];
	char *colon;
	size_t alen;
	tc_status st;

	st = decode(s, n, label, sizeof(label));
	if (st != TC_OK)
		return st;
	colon = strchr(label, ':');
	if (colon != NULL) {
		size_t ilen = (size_t)(colon - label);

		if (ilen == 0 || ilen > TC_LABEL_MAX)
			return TC_ERR_URI;
		memcpy(uri->issuer, label, ilen);
		uri->issuer[ilen] = '\0';
		colon++;
	} else {
		colon = label;
	}
	/* Apps allow spaces after the colon; they are not the name. */
	while (*colon == ' ')
		colon++;
	alen = strlen(colon);
	if (alen == 0 || alen > TC_LABEL_MAX || strchr(colon, ':') != NULL)
		return TC_ERR_URI;
	memcpy(uri->account, colon, alen + 1);
	return TC_OK;
}

tc_status tc_uri_parse(const char *text, size_t len, tc_uri *uri)
{
	struct uri_state us;
	const char *path, *qmark;
	size_t plen;
	tc_status st;

	if (text == NULL || uri == NULL)
		return TC_ERR_ARG;
	memset(uri, 0, sizeof(*uri));
	uri->algo = TC_ALGO_SHA1;
	tc_totp_params_init(&uri->params);
	if (len > TC_URI_MAX)
		return TC_ERR_URI_TOO_LONG;
	if (len < sizeof(SCHEME) - 1 ||
	    OPENSSL_strncasecmp(text, SCHEME, sizeof(SCHEME) - 1) != 0)
		return TC_ERR_URI;
	if (memchr(text, '\0', len) != NULL)
		return TC_ERR_URI;

	memset(&us, 0, sizeof(us));
	path = text + sizeof(SCHEME) - 1;
	plen = len - (sizeof(SCHEME) - 1);
	qmark = memchr(path, '?', plen);
	if (qmark == NULL) {
		st = TC_ERR_URI;
		goto out;
	}
	st = parse_label(uri, path, (size_t)(qmark - path));
	if (st != TC_OK)
		goto out;
	st = parse_query(uri, &us, qmark + 1,
			 plen - (size_t)(qmark - path) - 1);
	if (st != TC_OK)
		goto out;
	if (!us.seen[P_SECRET]) {
		st = TC_ERR_URI;
		goto out;
	}
	if (us.seen[P_ISSUER]) {
		if (uri->issuer[0] == '\0') {
			memcpy(uri->issuer, us.issuer_param,
			       strlen(us.issuer_param) + 1);
		} else if (strcmp(uri->issuer, us.issuer_param) != 0) {
			st = TC_ERR_URI;
			goto out;
		}
	}
out:
	OPENSSL_cleanse(&us, sizeof(us));
	if (st != TC_OK)
		tc_uri_cleanup(uri);
	return st;
}

void tc_uri_cleanup(tc_uri *uri)
{
	if (uri == NULL)
		return;
	OPENSSL_cleanse(uri->secret, sizeof(uri->secret));
	uri->secret_len = 0;
}
