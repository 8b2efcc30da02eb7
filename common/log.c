/*
 * JSON-lines logging. Each event is formatted into a stack buffer and
 * written with a single write(2), so concurrent threads never interleave
 * inside a line and no lock is needed.
 */
#include <stdarg.h>
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

struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static void put_raw(struct line *l, const char *s, size_t n)
{
	/* Keep room for the closing "}\n". */
	if (n > sizeof(l->buf) - 3 - l->len)
		n = sizeof(l->buf) - 3 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/* Appends s as a JSON string, quotes included, escaping as RFC 8259. */
static void put_json(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6];

	put_raw(l, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put_raw(l, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			put_raw(l, esc, 6);
		} else {
			put_raw(l, (const char *)&c, 1);
		}
	}
	put_raw(l, "\"", 1);
}

static void put_member(struct line *l, const char *key, const char *value)
{
	put_raw(l, ",", 1);
	put_json(l, key);
	put_raw(l, ":", 1);
	put_json(l, value != NULL ? value : "");
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
	put_raw(l, "{\"ts\":", 6);
	put_json(l, tbuf);
}

void log_write(log_ctx *lg, log_level level, const char *rid,
	       const char *event, const char *const *kv, const char *fmt, ...)
{
	struct line l;
	char msg[2048];
	va_list ap;
	ssize_t w;
	size_t off;

	if (!log_enabled(lg, level))
		return;
	l.len = 0;
	put_time(&l);
	put_member(&l, "level", level_names[level]);
	if (rid != NULL)
		put_member(&l, "rid", rid);
	put_member(&l, "event", event != NULL ? event : "log");
	if (fmt != NULL && fmt[0] != '\0') {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		put_member(&l, "msg", msg);
	}
	for (; kv != NULL && kv[0] != NULL; kv += 2)
		put_member(&l, kv[0], kv[1]);
	memcpy(l.buf + l.len, "}\n", 2);
	l.len += 2;
	for (off = 0; off < l.len; off += (size_t)w) {
		w = write(lg->fd, l.buf + off, l.len - off);
		if (w <= 0)
			break;
	}
}
