/*
 * Helpers of authflowctl that turn command-line arguments and standard
 * input into JSON request bodies, and JSON answers into printable text.
 * They do no I/O on the network, so the unit tests can drive them alone.
 *
 * Thread-safety: every function is re-entrant; objects passed in belong
 * to the calling thread for the call.
 */
#ifndef AUTHFLOW_CTL_ARGS_H
#define AUTHFLOW_CTL_ARGS_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#if defined(__GNUC__)
#define AF_CTL_NODISCARD __attribute__((warn_unused_result))
#else
#define AF_CTL_NODISCARD
#endif

#define AF_CTL_STATUS_MAP(XX)                  \
	XX(OK, 0, "success")                   \
	XX(ERR_ARG, -1, "invalid argument")    \
	XX(ERR_NOMEM, -2, "out of memory")     \
	XX(ERR_TOO_LONG, -3, "input too long") \
	XX(ERR_EMPTY, -4, "no input")          \
	XX(ERR_IO, -5, "cannot read input")    \
	XX(ERR_DUPLICATE, -6, "given twice")

typedef enum af_ctl_status {
#define AF_CTL_XX(name, value, text) AF_CTL_##name = (value),
	AF_CTL_STATUS_MAP(AF_CTL_XX)
#undef AF_CTL_XX
} af_ctl_status;

/* A static, never NULL, English message for a status. */
const char *af_ctl_strerror(af_ctl_status st);

#define AF_CTL_DURATION_MAX    (366L * 86400) /* a year: longer is a typo */
#define AF_CTL_DURATION_DIGITS 9

/*
 * Parses a duration strictly: 1..AF_CTL_DURATION_DIGITS digits and one
 * unit, s, m, h or d ("300s", "5m", "1h"), or "0"; allow_off also takes
 * "off" as 0. AF_CTL_OK and seconds (0..AF_CTL_DURATION_MAX) in *out, or
 * AF_CTL_ERR_ARG.
 */
AF_CTL_NODISCARD af_ctl_status af_ctl_parse_duration(const char *s,
						     int allow_off, long *out);

/*
 * Parses a point in time: a duration ago from now (as
 * af_ctl_parse_duration(), not "0": "24h", "7d"), or a UTC date
 * ("2026-12-01", its midnight) or date and time ("2026-12-01T08:30Z",
 * "2026-12-01T08:30:15Z"). AF_CTL_OK and Unix seconds in *out, or
 * AF_CTL_ERR_ARG (a date that does not exist, one before 1970).
 */
AF_CTL_NODISCARD af_ctl_status af_ctl_parse_when(const char *s, long long now,
						 long long *out);

#define AF_CTL_PASSWORD_MAX  1024  /* bytes of a password read from input */
#define AF_CTL_JOIN_MAX	     16384 /* bytes of a list shown on one line */
#define AF_CTL_CELL_JOIN_MAX 1024  /* bytes of a list in a table cell */
#define AF_CTL_CLAIM_MAX     256   /* bytes of one --claim NAME=ATTR */

/*
 * Parses an on|off switch strictly: exactly "on" gives 1, exactly "off"
 * gives 0 in *out; anything else (other case, "yes", "1", "") is
 * AF_CTL_ERR_ARG.
 */
AF_CTL_NODISCARD af_ctl_status af_ctl_parse_onoff(const char *s, int *out);

/*
 * Parses a decimal integer in min..max strictly: digits only (an optional
 * leading '-' when min < 0), no blanks, no trailing characters, no
 * overflow. AF_CTL_OK and *out, or AF_CTL_ERR_ARG.
 */
AF_CTL_NODISCARD af_ctl_status af_ctl_parse_long(const char *s, long min,
						 long max, long *out);

/*
 * Reads one line from in into buf: the bytes up to the first CR or LF
 * (a CR LF pair and a last line without an end are fine), at most
 * cap - 1 of them, NUL-terminated. Reads nothing past the line's end.
 * Used for passwords: buf is wiped on every error, and the caller wipes
 * it after use. AF_CTL_OK; AF_CTL_ERR_EMPTY (end of input at once, or an
 * empty line); AF_CTL_ERR_TOO_LONG (more than cap - 1 bytes);
 * AF_CTL_ERR_ARG (a NUL byte in the line, or bad arguments);
 * AF_CTL_ERR_IO (a read error).
 */
AF_CTL_NODISCARD af_ctl_status af_ctl_read_line(FILE *in, char *buf,
						size_t cap);

/*
 * Appends the string value to the array at obj[key], making the array
 * when it is not there yet; for options given again and again (--group
 * G --group H). AF_CTL_OK, AF_CTL_ERR_ARG (obj[key] is not an array, or
 * value is not valid UTF-8) or AF_CTL_ERR_NOMEM.
 */
AF_CTL_NODISCARD af_ctl_status af_ctl_append(json_t *obj, const char *key,
					     const char *value);

/*
 * Adds a --claim argument "NAME=ATTR" to the object claims: claims[NAME]
 * = ATTR. Both parts non-empty, at most AF_CTL_CLAIM_MAX bytes in all;
 * the server checks the names and attributes themselves.
 * AF_CTL_OK, AF_CTL_ERR_ARG (no '=', an empty part, too long, not valid
 * UTF-8), AF_CTL_ERR_DUPLICATE (NAME given before) or AF_CTL_ERR_NOMEM.
 */
AF_CTL_NODISCARD af_ctl_status af_ctl_claim(json_t *claims, const char *spec);

/*
 * Joins the strings of the array arr with sep into a new string in *out
 * (free()), for display: members that are not strings are left out, an
 * empty or missing (NULL) array gives "". The strings that fit in max
 * bytes come in order; the others are summed up as "... (N more)", so a
 * long list never makes an unprintable line. AF_CTL_OK, AF_CTL_ERR_ARG or
 * AF_CTL_ERR_NOMEM.
 */
AF_CTL_NODISCARD af_ctl_status af_ctl_join(const json_t *arr, const char *sep,
					   size_t max, char **out);

/*
 * Formats a JSON integer Unix time as ISO 8601 UTC into out (at least 32
 * bytes: shorter buffers get ""), or "-" when v is NULL, not an integer
 * or negative.
 */
void af_ctl_time(const json_t *v, char *out, size_t cap);

#endif /* AUTHFLOW_CTL_ARGS_H */
