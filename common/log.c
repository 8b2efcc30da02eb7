/*
 * JSON-lines logging. Each event is formatted into a stack buffer and
 * written with a single write(2), so concurrent threads never interleave
 * inside a line and no lock is needed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define LINE_MAX_BYTES 4096

struct log_ctx {
	int fd;
	log_level level;
};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

log_ctx *log_new(int fd, log_level level)
{
	log_ctx *lg = calloc(1, sizeof(*lg));

	if (lg == NULL)
		return NULL;
	lg->fd = fd;
	lg->level = level;
	return lg;
}

void log_free(log_ctx *lg)
{
	free(lg);
}

int log_level_parse(const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

int log_enabled(const log_ctx *lg, log_level level)
{
	return lg != NULL && level <= lg->level;
}

/*
 * A line under construction. Every write is all-or-nothing and leaves
 * room for what must close the line, so however long the message or the
 * extra members, the result is still one valid JSON object ending in
 * "}\n": a value that does not fit is cut at a character boundary and
 * keeps its closing quote, and a member whose name does not fit is left
 * out.
 */
struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
	size_t cap; /* bytes usable now, below the reserved tail */
};

/* The "}\n" that ends every line. */
#define LINE_TAIL 2

/* Appends n bytes if they all fit below l->cap; 0, or -1 and no change. */
static int put_raw(struct line *l, const char *s, size_t n)
{
	if (n > l->cap - l->len)
		return -1;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at s (1 to 4), or 0 when the
 * bytes there are not one (stray continuation, overlong form, surrogate,
 * beyond U+10FFFF, or cut short). JSON text must be valid UTF-8, and
 * jansson and most log shippers reject a line that is not.
 */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	/* A NUL stops this loop too, since it is no continuation byte. */
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Appends s as a JSON string, quotes included, escaping as RFC 8259 and
 * writing U+FFFD for bytes that are not UTF-8. Returns 0 when all of s
 * was written, 1 when it was cut short (still closed by its quote), or -1
 * when not even "" fits (nothing written).
 */
static int put_json(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	char esc[6];
	int cut = 0;
	size_t n;

	if (l->cap - l->len < 2)
		return -1;
	/* Hold back room for the closing quote while the body goes in. */
	l->cap--;
	(void)put_raw(l, "\"", 1);
	while (*p != '\0' && !cut) {
		n = utf8_len(p);
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			cut = put_raw(l, esc, 2) != 0;
		} else if (*p < 0x20 || *p == 0x7f) {
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			cut = put_raw(l, esc, 6) != 0;
		} else if (n == 0) {
			cut = put_raw(l, "\\ufffd", 6) != 0;
			n = 1;
		} else {
			cut = put_raw(l, (const char *)p, n) != 0;
		}
		p += n == 0 ? 1 : n;
	}
	l->cap++;
	(void)put_raw(l, "\"", 1);
	return cut;
}

/*
 * Appends ,"key":"value". The member is dropped whole when its name does
 * not fit; its value may be cut short.
 */
static void put_member(struct line *l, const char *key, const char *value)
{
	size_t mark = l->len;

	if (put_raw(l, ",", 1) != 0 || put_json(l, key) != 0 ||
	    put_raw(l, ":", 1) != 0 ||
	    put_json(l, value != NULL ? value : "") < 0)
		l->len = mark;
}

static void put_time(struct line *l)
{
	struct timespec ts;
	struct tm tm;
	char tbuf[40];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (gmtime_r(&ts.tv_sec, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(tbuf + n, sizeof(tbuf) - n, ".%03ldZ",
		 (long)(ts.tv_nsec / 1000000));
	/* The first members always fit: the buffer is far larger. */
	(void)put_raw(l, "{\"ts\":", 6);
	(void)put_json(l, tbuf);
}

/* Writes one line: its head, msg when not NULL, the kv pairs. */
static void write_line(log_ctx *lg, const char *level, const char *rid,
		       const char *event, const char *const *kv,
		       const char *msg)
{
	struct line l;
	ssize_t w;
	size_t off;

	l.len = 0;
	l.cap = sizeof(l.buf) - LINE_TAIL;
	put_time(&l);
	put_member(&l, "level", level);
	if (rid != NULL)
		put_member(&l, "rid", rid);
	put_member(&l, "event", event != NULL ? event : "log");
	if (msg != NULL)
		put_member(&l, "msg", msg);
	for (; kv != NULL && kv[0] != NULL; kv += 2)
		put_member(&l, kv[0], kv[1]);
	memcpy(l.buf + l.len, "}\n", LINE_TAIL);
	l.len += LINE_TAIL;
	for (off = 0; off < l.len; off += (size_t)w) {
		w = write(lg->fd, l.buf + off, l.len - off);
		/* A signal arriving mid-write must not drop the line. */
		if (w < 0 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w <= 0)
			break;
	}
}

void log_write(log_ctx *lg, log_level level, const char *rid, const char *event,
	       const char *const *kv, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	/* An out-of-range level would index past level_names. */
	if (!log_enabled(lg, level) || (unsigned)level > LOG_LEVEL_DEBUG)
		return;
	if (fmt != NULL && fmt[0] != '\0') {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	write_line(lg, level_names[level], rid, event, kv,
		   fmt != NULL && fmt[0] != '\0' ? msg : NULL);
}

void log_record(log_ctx *lg, const char *rid, const char *event,
		const char *const *kv)
{
	if (lg != NULL)
		write_line(lg, "audit",
			   rid != NULL && rid[0] != '\0' ? rid : NULL, event,
			   kv, NULL);
}

static int plain_byte(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || strchr("._-@+:/", ch) != NULL;
}

const char *log_value(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(in != NULL ? in : "");
	size_t i, o = 0;

	if (cap == 0)
		return out;
	for (i = 0; p[i] != '\0' && plain_byte(p[i]); i++)
		;
	if (p[i] == '\0' && i > 0 && i < cap) {
		memcpy(out, p, i + 1);
		return out;
	}
	/* Room kept for the closing quote and the NUL. */
	if (cap < 3) {
		out[0] = '\0';
		return out;
	}
	out[o++] = '"';
	for (i = 0; p[i] != '\0'; i++) {
		char esc[5];
		size_t n = 0;

		if (p[i] == '"' || p[i] == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)p[i];
		} else if (p[i] < 0x20 || p[i] > 0x7e) {
			esc[n++] = '\\';
			esc[n++] = 'x';
			esc[n++] = hex[p[i] >> 4];
			esc[n++] = hex[p[i] & 0xf];
		} else {
			esc[n++] = (char)p[i];
		}
		if (o + n + 2 > cap)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

void log_vdebug_line(log_ctx *lg, const char *event, const char *fmt,
		     va_list ap)
{
	char line[512];
	size_t n;

	if (lg == NULL || !log_enabled(lg, LOG_LEVEL_DEBUG))
		return;
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug(lg, NULL, event, "%s", line);
}
