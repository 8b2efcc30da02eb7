/* Capped growable buffer for responses and pages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "http/buf.h"

void af_buf_init(af_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void af_buf_cleanup(af_buf *b)
{
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

static int grow(af_buf *b, size_t need)
{
	size_t ncap;
	char *nd;

	if (b->failed)
		return -1;
	if (need > b->max || need > SIZE_MAX - b->len - 1 ||
	    b->len + need + 1 > b->max + 1) {
		b->failed = 1;
		return -1;
	}
	if (b->len + need + 1 <= b->cap)
		return 0;
	/* A page or a JSON answer fits in the first few steps. */
	ncap = b->cap > 0 ? b->cap : 1024;
	while (ncap < b->len + need + 1)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	nd = malloc(ncap);
	if (nd == NULL) {
		b->failed = 1;
		return -1;
	}
	if (b->data != NULL) {
		memcpy(nd, b->data, b->len + 1);
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	} else {
		nd[0] = '\0';
	}
	b->data = nd;
	b->cap = ncap;
	return 0;
}

void af_buf_append(af_buf *b, const void *data, size_t len)
{
	if (grow(b, len) != 0)
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void af_buf_puts(af_buf *b, const char *s)
{
	af_buf_append(b, s, strlen(s));
}

void af_buf_printf(af_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || grow(b, (size_t)n) != 0) {
		b->failed = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void af_buf_html(af_buf *b, const char *text)
{
	const char *run = text;

	for (; *text != '\0'; text++) {
		const char *rep = NULL;

		switch (*text) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			if ((unsigned char)*text < 0x20 && *text != '\n' &&
			    *text != '\t')
				rep = "";
			break;
		}
		if (rep == NULL)
			continue;
		af_buf_append(b, run, (size_t)(text - run));
		af_buf_puts(b, rep);
		run = text + 1;
	}
	af_buf_append(b, run, (size_t)(text - run));
}

void af_buf_urlenc(af_buf *b, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	char pct[3] = {'%', 0, 0};

	for (; *text != '\0'; text++) {
		unsigned char c = (unsigned char)*text;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			af_buf_append(b, text, 1);
			continue;
		}
		pct[1] = hex[c >> 4];
		pct[2] = hex[c & 15];
		af_buf_append(b, pct, 3);
	}
}

int af_buf_move(af_buf *dst, af_buf *src, size_t max)
{
	af_buf_cleanup(dst);
	af_buf_init(dst, max);
	if (src->failed || src->len > max) {
		af_buf_cleanup(src);
		return -1;
	}
	dst->data = src->data;
	dst->len = src->len;
	dst->cap = src->cap;
	memset(src, 0, sizeof(*src));
	return 0;
}

char *af_buf_take(af_buf *b, size_t *len)
{
	char *d;

	if (b->failed) {
		af_buf_cleanup(b);
		return NULL;
	}
	if (b->data == NULL && grow(b, 0) != 0)
		return NULL;
	d = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}
