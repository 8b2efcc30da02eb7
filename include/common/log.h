/*
 * Logging: one JSON object per line on a stream (stderr by default):
 *
 *   {"ts":"2026-11-29T18:00:00.123Z","level":"info","rid":"a1b2c3",
 *    "msg":"login","user":"alice","outcome":"ok"}
 *
 * The level is checked before anything is formatted. Messages are
 * printf-checked. Structured fields are passed as "key=value" pairs in the
 * message; log_kv() adds them as JSON members instead. Never log secrets:
 * passwords, codes, tokens, keys, client secrets.
 *
 * Thread-safety: all functions may be called from any thread; each line is
 * written with one write(2) so lines from threads do not interleave.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>
#include <stdio.h>

typedef enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
} log_level;

typedef struct log_ctx log_ctx;

/* Makes a logger writing to fd at the given level; NULL on no memory. */
log_ctx *log_new(int fd, log_level level);
void log_free(log_ctx *lg);

/* Parses "error", "warn", "info", "debug"; -1 when unknown. */
int log_level_parse(const char *name);

int log_enabled(const log_ctx *lg, log_level level);

#if defined(__GNUC__)
#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOG_PRINTF(a, b)
#endif

/*
 * Writes one line. rid is the request id (NULL when none). event is a
 * short fixed name ("login", "token", "startup"); fmt adds free text as
 * "msg". Extra JSON members come from kv: a NULL-terminated list of
 * key, value string pairs (may be NULL).
 */
void log_write(log_ctx *lg, log_level level, const char *rid, const char *event,
	       const char *const *kv, const char *fmt, ...) LOG_PRINTF(6, 7);

/*
 * A library's own message (fmt and ap, as its logger hands them over;
 * the trailing newline dropped, cut at 511 bytes) as a debug line of
 * event: for the logger of libmicrohttpd, which a client can make speak
 * at will, so that nothing reaches stderr outside the JSON lines.
 */
void log_vdebug_line(log_ctx *lg, const char *event, const char *fmt,
		     va_list ap) LOG_PRINTF(3, 0);

/*
 * Writes a record that is not a diagnostic, such as an audit event: at
 * every level, as a line whose "level" is "audit", with the request id
 * rid (NULL or empty: none) and the kv members (as for log_write).
 */
void log_record(log_ctx *lg, const char *rid, const char *event,
		const char *const *kv);

/*
 * in as one value of a "key=value" message: as it is when it is a plain
 * word (letters, digits and . _ - @ + : /), else in double quotes with
 * the quote, the backslash and bytes outside printable ASCII escaped, so
 * that text from a client cannot pose as other keys. Cut to fit cap
 * (LOG_VALUE_BUF is enough for 64 bytes of any input). Returns out.
 */
#define LOG_VALUE_BUF 264
const char *log_value(const char *in, char *out, size_t cap);

#define log_error(lg, rid, ev, ...) \
	log_write((lg), LOG_LEVEL_ERROR, (rid), (ev), NULL, __VA_ARGS__)
#define log_warn(lg, rid, ev, ...) \
	log_write((lg), LOG_LEVEL_WARN, (rid), (ev), NULL, __VA_ARGS__)
#define log_info(lg, rid, ev, ...) \
	log_write((lg), LOG_LEVEL_INFO, (rid), (ev), NULL, __VA_ARGS__)
#define log_debug(lg, rid, ev, ...) \
	log_write((lg), LOG_LEVEL_DEBUG, (rid), (ev), NULL, __VA_ARGS__)

#endif /* COMMON_LOG_H */
