/* Command-line and JSON helpers of authflowctl. */
#define _XOPEN_SOURCE 700 /* strptime */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "args.h"
#include "common/util.h"

const char *af_ctl_strerror(af_ctl_status st)
{
	switch (st) {
#define AF_CTL_XX(name, value, text) \
	case AF_CTL_##name:          \
		return text;
		AF_CTL_STATUS_MAP(AF_CTL_XX)
#undef AF_CTL_XX
	}
	return "unknown status";
}

af_ctl_status af_ctl_parse_onoff(const char *s, int *out)
{
	if (s == NULL || out == NULL)
		return AF_CTL_ERR_ARG;
	if (strcmp(s, "on") == 0) {
		*out = 1;
		return AF_CTL_OK;
	}
	if (strcmp(s, "off") == 0) {
		*out = 0;
		return AF_CTL_OK;
	}
	return AF_CTL_ERR_ARG;
}

af_ctl_status af_ctl_parse_long(const char *s, long min, long max, long *out)
{
	const char *digits;
	char *end = NULL;
	long v;

	if (s == NULL || out == NULL || min > max)
		return AF_CTL_ERR_ARG;
	digits = (s[0] == '-' && min < 0) ? s + 1 : s;
	/* strtol would take blanks and a '+' sign; the caller's text may not.
	 */
	if (*digits < '0' || *digits > '9')
		return AF_CTL_ERR_ARG;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return AF_CTL_ERR_ARG;
	*out = v;
	return AF_CTL_OK;
}

af_ctl_status af_ctl_parse_duration(const char *s, int allow_off, long *out)
{
	char digits[AF_CTL_DURATION_DIGITS + 1];
	long n = 0, unit;
	size_t len;

	/* Nothing needs no unit. */
	if ((allow_off && strcmp(s, "off") == 0) || strcmp(s, "0") == 0) {
		*out = 0;
		return AF_CTL_OK;
	}
	len = strnlen(s, AF_CTL_DURATION_DIGITS + 2);
	if (len < 2 || len > AF_CTL_DURATION_DIGITS + 1)
		return AF_CTL_ERR_ARG;
	switch (s[len - 1]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return AF_CTL_ERR_ARG;
	}
	memcpy(digits, s, len - 1);
	digits[len - 1] = '\0';
	/* Digits only: af_ctl_parse_long refuses signs, blanks and the rest. */
	if (digits[0] < '0' || digits[0] > '9' ||
	    af_ctl_parse_long(digits, 0, AF_CTL_DURATION_MAX, &n) !=
		    AF_CTL_OK ||
	    n > AF_CTL_DURATION_MAX / unit)
		return AF_CTL_ERR_ARG;
	*out = n * unit;
	return AF_CTL_OK;
}

af_ctl_status af_ctl_read_line(FILE *in, char *buf, size_t cap)
{
	af_ctl_status st = AF_CTL_OK;
	size_t n = 0;
	int c;

	if (in == NULL || buf == NULL || cap < 2)
		return AF_CTL_ERR_ARG;
	/*
	 * One byte at a time, so that nothing after the line is taken from
	 * the stream and the line is never in a buffer of our own that we
	 * would forget to wipe.
	 */
	for (;;) {
		c = getc(in);
		if (c == EOF || c == '\n' || c == '\r')
			break;
		if (c == '\0') {
			st = AF_CTL_ERR_ARG;
			break;
		}
		if (n + 1 >= cap) {
			st = AF_CTL_ERR_TOO_LONG;
			break;
		}
		buf[n++] = (char)c;
	}
	if (st == AF_CTL_OK && c == EOF && ferror(in))
		st = AF_CTL_ERR_IO;
	if (st == AF_CTL_OK && n == 0)
		st = AF_CTL_ERR_EMPTY;
	if (st != AF_CTL_OK) {
		OPENSSL_cleanse(buf, cap);
		return st;
	}
	buf[n] = '\0';
	return AF_CTL_OK;
}

/*
 * jansson makes no string of text that is not valid UTF-8; that is the
 * caller's text at fault far more often than a lack of memory, so it is
 * reported as a bad argument.
 */
static af_ctl_status append_string(json_t *arr, const char *value)
{
	json_t *v = json_string(value);

	if (v == NULL)
		return AF_CTL_ERR_ARG;
	if (json_array_append_new(arr, v) != 0)
		return AF_CTL_ERR_NOMEM;
	return AF_CTL_OK;
}

af_ctl_status af_ctl_append(json_t *obj, const char *key, const char *value)
{
	json_t *arr;

	if (!json_is_object(obj) || key == NULL || value == NULL)
		return AF_CTL_ERR_ARG;
	arr = json_object_get(obj, key);
	if (arr == NULL) {
		arr = json_array();
		if (arr == NULL || json_object_set_new(obj, key, arr) != 0)
			return AF_CTL_ERR_NOMEM;
	}
	if (!json_is_array(arr))
		return AF_CTL_ERR_ARG;
	return append_string(arr, value);
}

af_ctl_status af_ctl_claim(json_t *claims, const char *spec)
{
	char name[AF_CTL_CLAIM_MAX + 1];
	const char *eq;
	json_t *attr;
	size_t len, nlen;

	if (!json_is_object(claims) || spec == NULL)
		return AF_CTL_ERR_ARG;
	len = strlen(spec);
	eq = strchr(spec, '=');
	if (len > AF_CTL_CLAIM_MAX || eq == NULL || eq == spec || eq[1] == '\0')
		return AF_CTL_ERR_ARG;
	nlen = (size_t)(eq - spec);
	memcpy(name, spec, nlen);
	name[nlen] = '\0';
	if (json_object_get(claims, name) != NULL)
		return AF_CTL_ERR_DUPLICATE;
	/* As in append_string(): no string means text that is not UTF-8. */
	attr = json_string(eq + 1);
	if (attr == NULL)
		return AF_CTL_ERR_ARG;
	if (json_object_set_new(claims, name, attr) != 0)
		return AF_CTL_ERR_ARG;
	return AF_CTL_OK;
}

af_ctl_status af_ctl_join(const json_t *arr, const char *sep, size_t max,
			  char **out)
{
	size_t i, n, len = 0, seplen, slen, need, kept = 0, rest = 0;
	char tail[64];
	const char *s;
	char *buf;

	if (sep == NULL || out == NULL || (arr != NULL && !json_is_array(arr)))
		return AF_CTL_ERR_ARG;
	*out = NULL;
	seplen = strlen(sep);
	n = arr == NULL ? 0 : json_array_size(arr);
	/* The strings that fit in max bytes, in order; the rest counted. */
	for (i = 0; i < n; i++) {
		s = json_string_value(json_array_get(arr, i));
		if (s == NULL)
			continue;
		slen = strlen(s);
		need = slen + (kept > 0 ? seplen : 0);
		if (rest > 0 || slen > max || len + need > max) {
			rest++;
			continue;
		}
		len += need;
		kept++;
	}
	tail[0] = '\0';
	if (rest > 0)
		snprintf(tail, sizeof(tail), "%s... (%zu more)",
			 kept > 0 ? sep : "", rest);
	buf = malloc(len + strlen(tail) + 1);
	if (buf == NULL)
		return AF_CTL_ERR_NOMEM;
	len = 0;
	for (i = 0, n = kept; n > 0; i++) {
		s = json_string_value(json_array_get(arr, i));
		if (s == NULL)
			continue;
		if (n < kept) {
			memcpy(buf + len, sep, seplen);
			len += seplen;
		}
		slen = strlen(s);
		memcpy(buf + len, s, slen);
		len += slen;
		n--;
	}
	memcpy(buf + len, tail, strlen(tail) + 1);
	*out = buf;
	return AF_CTL_OK;
}

void af_ctl_time(const json_t *v, char *out, size_t cap)
{
	json_int_t t;

	if (out == NULL || cap == 0)
		return;
	out[0] = '\0';
	if (cap < 32)
		return;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		out[0] = '-';
		out[1] = '\0';
		return;
	}
	t = json_integer_value(v);
	af_time_iso8601((int64_t)t, out, cap);
	if (out[0] == '\0') {
		/* A year too far out for the calendar functions. */
		out[0] = '-';
		out[1] = '\0';
	}
}

/* s as one of the UTC forms of af_ctl_parse_when(); 0, or -1. */
static int utc_time(const char *s, long long *out)
{
	static const char *const forms[] = {"%Y-%m-%dT%H:%M:%SZ",
					    "%Y-%m-%dT%H:%MZ", "%Y-%m-%d"};
	struct tm tm, want, back;
	const char *end;
	time_t t;
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, forms[i], &tm);
		if (end == NULL || *end != '\0')
			continue;
		/* timegm() normalises tm: the date as written is kept. */
		want = tm;
		t = timegm(&tm);
		/* A date that does not exist (February 30th) comes back
		 * as another: refused, not moved. */
		if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL ||
		    back.tm_mday != want.tm_mday ||
		    back.tm_mon != want.tm_mon || back.tm_year != want.tm_year)
			return -1;
		*out = (long long)t;
		return 0;
	}
	return -1;
}

af_ctl_status af_ctl_parse_when(const char *s, long long now, long long *out)
{
	long long at = 0;
	long ago = 0;

	if (s == NULL || s[0] == '\0')
		return AF_CTL_ERR_ARG;
	if (af_ctl_parse_duration(s, 0, &ago) == AF_CTL_OK) {
		/* "0" ago is now: nothing would be from then on. */
		if (ago == 0 || now - ago <= 0)
			return AF_CTL_ERR_ARG;
		*out = now - ago;
		return AF_CTL_OK;
	}
	/* A UTC time after 1970; *out is left as it was on a refusal. */
	if (strnlen(s, 32) > 20 || utc_time(s, &at) != 0 || at <= 0)
		return AF_CTL_ERR_ARG;
	*out = at;
	return AF_CTL_OK;
}
