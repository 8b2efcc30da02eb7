/*
 * A growable byte buffer with a hard cap, for building responses and
 * pages. Once an append would pass the cap the buffer is marked failed and
 * every later append is a no-op, so callers check once at the end.
 *
 * Thread-safety: an af_buf belongs to one thread at a time.
 */
#ifndef AF_HTTP_BUF_H
#define AF_HTTP_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct af_buf {
	char *data; /* NUL-terminated while not failed */
	size_t len;
	size_t cap;
	size_t max;
	int failed;
} af_buf;

/* Starts an empty buffer that may grow to max bytes. */
void af_buf_init(af_buf *b, size_t max);

/* Frees the bytes (wiping them: pages may hold tokens). */
void af_buf_cleanup(af_buf *b);

void af_buf_append(af_buf *b, const void *data, size_t len);
void af_buf_puts(af_buf *b, const char *s);
void af_buf_printf(af_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends text escaped for HTML content and attribute values. */
void af_buf_html(af_buf *b, const char *text);

/* Appends text percent-encoded (RFC 3986 unreserved kept). */
void af_buf_urlenc(af_buf *b, const char *text);

/*
 * Hands src's bytes to dst, whose earlier bytes are wiped, without a copy;
 * dst may then grow to max. src is left empty. 0, or -1 when src failed
 * or holds more than max bytes (dst and src are then both empty).
 */
int af_buf_move(af_buf *dst, af_buf *src, size_t max);

/* Hands the bytes to the caller (free() them); the buffer is emptied. */
char *af_buf_take(af_buf *b, size_t *len);

#endif /* AF_HTTP_BUF_H */
