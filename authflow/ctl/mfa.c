/*
 * authflowctl's push-MFA commands over the admin API (admin/mfa.c lists
 * the endpoints):
 *
 *   workflow show | workflow set [--number-matching on|off] [--legacy
 *       on|off] [--min-app-version ios=V,android=V|none] [--push-limit
 *       N/PERIOD] [--report-pause DURATION|off] [--enroll-after-password
 *       on|off]
 *   device enroll-code USER | device list USER | device remove ID
 *   push queue [--limit N]
 *
 * Output and exit statuses follow commands.h: "key: value" lines for one
 * object, aligned tables for lists, --json for the server's JSON, one line
 * on stderr for every failure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "args.h"
#include "commands.h"
#include "http.h"
#include "qr.h"
#include "table.h"

#define OPT_STOP	(-2) /* next_opt(): stop with the status in *rc */
#define OPT_JSON	1000 /* --json after the command, as before it */
#define PATH_BUF	(AF_CTL_HTTP_PATH_MAX + 1)
#define TIME_BUF	32   /* an ISO 8601 time and its NUL */
#define TEXT_BUF	128  /* a formatted setting */
#define QUEUE_LIMIT_MAX 1000 /* jobs one push queue listing shows */
#define QUEUE_LIMIT_DEF 50
#define COUNT_MAX	1000000	       /* pushes of one push-limit period */
#define DURATION_MAX	(366L * 86400) /* a year: longer is a typo */
#define DURATION_DIGITS 9
#define VERSIONS_MAX	256 /* bytes of a --min-app-version argument */
#define VERSION_MAX	32  /* bytes of one app version (the server's cap) */
#define CELL_BUF	32  /* a table cell made of a number or time */
/* The options every command takes, and the end of the list. */
#define OPT_END                                        \
	{"help", no_argument, NULL, 'h'},              \
		{"json", no_argument, NULL, OPT_JSON}, \
	{                                              \
		NULL, 0, NULL, 0                       \
	}

/* The platforms a minimum app version may name. */
static const char *const platforms[] = {"ios", "android"};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the command frame ---- */

static int no_memory(void)
{
	return af_ctl_fail(AF_CTL_EXIT_REFUSED, "out of memory");
}

static int bad_answer(void)
{
	return af_ctl_fail(AF_CTL_EXIT_UNREACHABLE,
			   "unexpected answer from the server: is --url an "
			   "authflow admin API?");
}

static void opt_begin(void)
{
	/* 0, not 1: glibc then forgets all state of an earlier parse. */
	optind = 0;
	opterr = 0;
}

/* The option getopt_long just refused, without any "=value". */
static const char *opt_text(int argc, char **argv, char *buf, size_t cap)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	size_t n;

	if (strncmp(arg, "--", 2) == 0) {
		n = strcspn(arg, "=");
		if (n >= cap)
			n = cap - 1;
		memcpy(buf, arg, n);
		buf[n] = '\0';
	} else if (optopt > 0x20 && optopt < 0x7f) {
		buf[0] = '-';
		buf[1] = (char)optopt;
		buf[2] = '\0';
	} else {
		buf[0] = '?';
		buf[1] = '\0';
	}
	return buf;
}

/*
 * The next option of command cmd: its value, -1 after the last one, or
 * OPT_STOP with the exit status in *rc (--help, or a usage error).
 * --json anywhere sets ctl->json.
 */
static int next_opt(af_ctl *ctl, const char *cmd, int argc, char **argv,
		    const struct option *opts, int *rc)
{
	char buf[64];
	int c;

	for (;;) {
		c = getopt_long(argc, argv, ":h", opts, NULL);
		if (c == OPT_JSON) {
			ctl->json = 1;
			continue;
		}
		if (c == 'h') {
			af_ctl_usage(stdout);
			*rc = AF_CTL_EXIT_OK;
			return OPT_STOP;
		}
		if (c == ':') {
			*rc = af_ctl_usage_fail(
				"%s: %s needs a value", cmd,
				opt_text(argc, argv, buf, sizeof(buf)));
			return OPT_STOP;
		}
		if (c == '?' && optopt != 0 && optind > 0 && optind <= argc &&
		    strncmp(argv[optind - 1], "--", 2) == 0) {
			/* glibc: a known long option was given a value. */
			*rc = af_ctl_usage_fail(
				"%s: %s takes no value", cmd,
				opt_text(argc, argv, buf, sizeof(buf)));
			return OPT_STOP;
		}
		if (c == '?') {
			*rc = af_ctl_usage_fail(
				"%s: unknown option %s", cmd,
				opt_text(argc, argv, buf, sizeof(buf)));
			return OPT_STOP;
		}
		return c;
	}
}

/* Checks that exactly n positional arguments are left (what: names). */
static int want_args(const char *cmd, int argc, char **argv, int n,
		     const char *what)
{
	int have = argc - optind;

	if (have < n)
		return af_ctl_usage_fail("%s: missing %s", cmd, what);
	if (have > n)
		return af_ctl_usage_fail("%s: unexpected argument '%s'", cmd,
					 argv[optind + n]);
	return AF_CTL_EXIT_OK;
}

/*
 * The command line of a command with no options but --json and --help,
 * and nargs positional arguments. The exit status; *go is 1 when the
 * command is to be run (not after --help or an error).
 */
static int no_options(af_ctl *ctl, const char *cmd, int argc, char **argv,
		      int nargs, const char *what, int *go)
{
	static const struct option opts[] = {OPT_END};
	int rc = AF_CTL_EXIT_OK;

	*go = 0;
	opt_begin();
	if (next_opt(ctl, cmd, argc, argv, opts, &rc) == OPT_STOP)
		return rc;
	rc = want_args(cmd, argc, argv, nargs, what);
	*go = rc == AF_CTL_EXIT_OK;
	return rc;
}

/* path from tmpl and one name (or none); the exit status. */
static int make_path(const af_ctl *ctl, char *path, const char *tmpl,
		     const char *name)
{
	const char *args[1] = {name};
	af_ctl_http_status st;

	if (ctl->http == NULL)
		return af_ctl_fail(AF_CTL_EXIT_USAGE, "no server URL");
	st = af_ctl_http_path(ctl->http, path, PATH_BUF, tmpl, args,
			      name != NULL ? 1 : 0);
	if (st == AF_CTL_HTTP_OK)
		return AF_CTL_EXIT_OK;
	if (st == AF_CTL_HTTP_ERR_TOO_LONG)
		return af_ctl_usage_fail("name too long");
	if (st == AF_CTL_HTTP_ERR_ARG)
		return af_ctl_usage_fail("empty name");
	return af_ctl_fail(AF_CTL_EXIT_REFUSED, "%s", af_ctl_http_strerror(st));
}

/*
 * Sends one request. On a 2xx answer holding a JSON object: AF_CTL_EXIT_OK
 * and the answer in *out; otherwise the one line and the exit status.
 */
static int request(af_ctl *ctl, const char *method, const char *path,
		   const json_t *body, json_t **out)
{
	char err[AF_CTL_HTTP_ERR_BUF];
	af_ctl_http_status st;
	json_t *answer = NULL;
	const char *msg;
	long status = 0;
	int rc;

	*out = NULL;
	if (ctl->http == NULL)
		return af_ctl_fail(AF_CTL_EXIT_USAGE, "no server URL");
	if (!ctl->have_token)
		return af_ctl_usage_fail("no admin token: set "
					 "AUTHFLOW_ADMIN_TOKEN or use --token");
	st = af_ctl_http_request(ctl->http, method, path, body, &status,
				 &answer, err, sizeof(err));
	if (st == AF_CTL_HTTP_ERR_NOMEM)
		return no_memory();
	if (st != AF_CTL_HTTP_OK)
		return af_ctl_fail(AF_CTL_EXIT_UNREACHABLE, "%s", err);
	if (status >= 300 && status < 400) {
		json_decref(answer);
		return af_ctl_fail(AF_CTL_EXIT_UNREACHABLE,
				   "the server answered HTTP %ld; redirects "
				   "are not followed: check --url",
				   status);
	}
	if (status < 200 || status >= 300) {
		msg = json_string_value(json_object_get(answer, "message"));
		if (msg != NULL && msg[0] != '\0')
			rc = af_ctl_fail(AF_CTL_EXIT_REFUSED, "%s", msg);
		else
			rc = af_ctl_fail(AF_CTL_EXIT_REFUSED, "HTTP %ld",
					 status);
		json_decref(answer);
		return rc;
	}
	if (!json_is_object(answer)) {
		json_decref(answer);
		return bad_answer();
	}
	*out = answer;
	return AF_CTL_EXIT_OK;
}

static int print_json(const json_t *answer)
{
	if (json_dumpf(answer, stdout, JSON_INDENT(2)) != 0)
		return af_ctl_fail(AF_CTL_EXIT_REFUSED, "cannot write output");
	putchar('\n');
	return AF_CTL_EXIT_OK;
}

/*
 * Prints "key: value" with the value made safe for the terminal; it may
 * be an enrollment code, so the cleaned copy is wiped.
 */
static int put_line(const char *key, const char *value)
{
	char *v = NULL;

	if (af_table_clean(value == NULL || value[0] == '\0' ? "-" : value, &v,
			   NULL) != AF_TABLE_OK)
		return no_memory();
	printf("%s: %s\n", key, v);
	OPENSSL_clear_free(v, strlen(v));
	return AF_CTL_EXIT_OK;
}

/* ---- durations and versions ---- */

/*
 * Parses a duration strictly: 1..DURATION_DIGITS digits and one unit, s,
 * m, h or d ("300s", "5m", "1h"); allow_off also takes "off" as 0.
 * AF_CTL_OK and seconds (0..DURATION_MAX) in *out, or AF_CTL_ERR_ARG.
 */
static af_ctl_status parse_duration(const char *s, int allow_off, long *out)
{
	char digits[DURATION_DIGITS + 1];
	long n = 0, unit;
	size_t len;

	if (allow_off && strcmp(s, "off") == 0) {
		*out = 0;
		return AF_CTL_OK;
	}
	len = strnlen(s, DURATION_DIGITS + 2);
	if (len < 2 || len > DURATION_DIGITS + 1)
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
	    af_ctl_parse_long(digits, 0, DURATION_MAX, &n) != AF_CTL_OK ||
	    n > DURATION_MAX / unit)
		return AF_CTL_ERR_ARG;
	*out = n * unit;
	return AF_CTL_OK;
}

/* Seconds as the largest whole unit: "1h", "15m", "90s". */
static void format_duration(json_int_t s, char *out, size_t cap)
{
	if (s > 0 && s % 86400 == 0)
		snprintf(out, cap, "%" JSON_INTEGER_FORMAT "d", s / 86400);
	else if (s > 0 && s % 3600 == 0)
		snprintf(out, cap, "%" JSON_INTEGER_FORMAT "h", s / 3600);
	else if (s > 0 && s % 60 == 0)
		snprintf(out, cap, "%" JSON_INTEGER_FORMAT "m", s / 60);
	else
		snprintf(out, cap, "%" JSON_INTEGER_FORMAT "s", s);
}

/* A version of dotted numbers ("2023.2.1"), 1..VERSION_MAX bytes. */
static int version_ok(const char *v, size_t n)
{
	size_t i;

	if (n == 0 || n > VERSION_MAX || v[0] == '.' || v[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (v[i] == '.' && v[i + 1] == '.')
			return 0;
		if (v[i] != '.' && (v[i] < '0' || v[i] > '9'))
			return 0;
	}
	return 1;
}

/* The platform named by the n bytes at p, or NULL. */
static const char *platform_of(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < NELEMS(platforms); i++) {
		if (strlen(platforms[i]) == n &&
		    memcmp(platforms[i], p, n) == 0)
			return platforms[i];
	}
	return NULL;
}

/*
 * Parses --min-app-version: "none" (no minimum), or comma-separated
 * PLATFORM=VERSION pairs, each platform once ("ios=2023.2,android=2023.1").
 * AF_CTL_OK and a new object in *out, AF_CTL_ERR_ARG, AF_CTL_ERR_DUPLICATE
 * or AF_CTL_ERR_NOMEM.
 */
static af_ctl_status parse_versions(const char *s, json_t **out)
{
	char version[VERSION_MAX + 1];
	const char *p = s, *end, *eq, *platform;
	af_ctl_status st = AF_CTL_ERR_ARG;
	json_t *obj = json_object();
	size_t n;

	*out = NULL;
	if (obj == NULL)
		return AF_CTL_ERR_NOMEM;
	if (strcmp(s, "none") == 0) {
		*out = obj;
		return AF_CTL_OK;
	}
	if (strnlen(s, VERSIONS_MAX + 1) > VERSIONS_MAX)
		goto out;
	for (;;) {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		eq = memchr(p, '=', n);
		if (eq == NULL)
			goto out;
		platform = platform_of(p, (size_t)(eq - p));
		n -= (size_t)(eq - p) + 1;
		if (platform == NULL || !version_ok(eq + 1, n))
			goto out;
		if (json_object_get(obj, platform) != NULL) {
			st = AF_CTL_ERR_DUPLICATE;
			goto out;
		}
		memcpy(version, eq + 1, n);
		version[n] = '\0';
		if (json_object_set_new(obj, platform, json_string(version)) !=
		    0) {
			st = AF_CTL_ERR_NOMEM;
			goto out;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	*out = obj;
	return AF_CTL_OK;
out:
	json_decref(obj);
	return st;
}

/* "N/PERIOD" of --push-limit into {"count": N, "period_s": S}. */
static af_ctl_status parse_push_limit(const char *s, json_t **out)
{
	char count[16];
	const char *slash = strchr(s, '/');
	long n = 0, period = 0;
	size_t len;

	*out = NULL;
	if (slash == NULL)
		return AF_CTL_ERR_ARG;
	len = (size_t)(slash - s);
	if (len == 0 || len >= sizeof(count))
		return AF_CTL_ERR_ARG;
	memcpy(count, s, len);
	count[len] = '\0';
	if (count[0] < '0' || count[0] > '9' ||
	    af_ctl_parse_long(count, 1, COUNT_MAX, &n) != AF_CTL_OK ||
	    parse_duration(slash + 1, 0, &period) != AF_CTL_OK || period == 0)
		return AF_CTL_ERR_ARG;
	*out = json_pack("{s:I, s:I}", "count", (json_int_t)n, "period_s",
			 (json_int_t)period);
	return *out != NULL ? AF_CTL_OK : AF_CTL_ERR_NOMEM;
}

/* ---- workflow ---- */

/* One workflow setting as text into out (see print_workflow). */
static void setting_text(const char *key, json_t *v, char *out, size_t cap)
{
	const char *k;
	json_t *e;
	size_t o = 0;
	int n;

	out[0] = '\0';
	if (json_is_boolean(v)) {
		snprintf(out, cap, "%s", json_is_true(v) ? "on" : "off");
	} else if (strcmp(key, "report_pause_s") == 0 && json_is_integer(v)) {
		if (json_integer_value(v) == 0)
			snprintf(out, cap, "off");
		else
			format_duration(json_integer_value(v), out, cap);
	} else if (strcmp(key, "push_limit") == 0 && json_is_object(v)) {
		n = snprintf(out, cap, "%" JSON_INTEGER_FORMAT "/",
			     json_integer_value(json_object_get(v, "count")));
		if (n > 0 && (size_t)n < cap)
			format_duration(json_integer_value(
						json_object_get(v, "period_s")),
					out + n, cap - (size_t)n);
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, e)
		{
			n = snprintf(out + o, cap - o, "%s%s=%s",
				     o > 0 ? "," : "", k,
				     json_is_string(e) ? json_string_value(e)
						       : "?");
			if (n < 0 || (size_t)n >= cap - o)
				break;
			o += (size_t)n;
		}
		if (o == 0)
			snprintf(out, cap, "none");
	} else if (json_is_integer(v)) {
		snprintf(out, cap, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
	} else if (json_is_string(v)) {
		snprintf(out, cap, "%s", json_string_value(v));
	}
}

/*
 * The settings as "key: value" lines in the notation of workflow set
 * ("on", "ios=2023.2", "3/5m", "15m"); members this version does not
 * know are printed as they come.
 */
static int print_workflow(json_t *answer)
{
	static const char *const known[][2] = {
		{"number_matching", "number_matching"},
		{"legacy", "legacy"},
		{"min_app_version", "min_app_version"},
		{"push_limit", "push_limit"},
		{"report_pause_s", "report_pause"},
		{"enroll_after_password", "enroll_after_password"},
	};
	char text[TEXT_BUF];
	const char *key;
	json_t *v;
	size_t i;
	int rc = AF_CTL_EXIT_OK;

	for (i = 0; i < NELEMS(known) && rc == AF_CTL_EXIT_OK; i++) {
		setting_text(known[i][0], json_object_get(answer, known[i][0]),
			     text, sizeof(text));
		rc = put_line(known[i][1], text);
	}
	json_object_foreach(answer, key, v)
	{
		for (i = 0; i < NELEMS(known); i++) {
			if (strcmp(key, known[i][0]) == 0)
				break;
		}
		if (i < NELEMS(known) || rc != AF_CTL_EXIT_OK)
			continue;
		setting_text(key, v, text, sizeof(text));
		rc = put_line(key, text);
	}
	return rc;
}

/* Sends a request and prints the answer with print, or as --json. */
static int call_print(af_ctl *ctl, const char *method, const char *path,
		      const json_t *body, int (*print)(json_t *answer))
{
	json_t *answer = NULL;
	int rc;

	rc = request(ctl, method, path, body, &answer);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	rc = ctl->json ? print_json(answer) : print(answer);
	json_decref(answer);
	return rc;
}

static int workflow_show(af_ctl *ctl, int argc, char **argv)
{
	int go = 0;
	int rc = no_options(ctl, "workflow show", argc, argv, 0, "", &go);

	if (!go)
		return rc;
	return call_print(ctl, "GET", "workflow", NULL, print_workflow);
}

/* Sets patch[key] = v (reference stolen); the exit status. */
static int set_new(json_t *patch, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(patch, key, v) != 0)
		return no_memory();
	return AF_CTL_EXIT_OK;
}

/* One option of workflow set into patch; the exit status. */
static int workflow_option(json_t *patch, int c, const char *arg)
{
	static const char cmd[] = "workflow set";
	const char *key = c == 'n'   ? "number_matching"
			  : c == 'l' ? "legacy"
				     : "enroll_after_password";
	const char *opt = c == 'n'   ? "--number-matching"
			  : c == 'l' ? "--legacy"
				     : "--enroll-after-password";
	af_ctl_status st;
	json_t *v = NULL;
	long secs = 0;
	int on = 0;

	switch (c) {
	case 'v':
		st = parse_versions(arg, &v);
		if (st == AF_CTL_ERR_NOMEM)
			return no_memory();
		if (st != AF_CTL_OK)
			return af_ctl_usage_fail(
				"%s: --min-app-version takes none or "
				"ios=VERSION,android=VERSION (dotted numbers, "
				"each platform once), not '%s'",
				cmd, arg);
		return set_new(patch, "min_app_version", v);
	case 'p':
		st = parse_push_limit(arg, &v);
		if (st == AF_CTL_ERR_NOMEM)
			return no_memory();
		if (st != AF_CTL_OK)
			return af_ctl_usage_fail(
				"%s: --push-limit takes COUNT/PERIOD such as "
				"3/5m (COUNT 1..%d, PERIOD a number and s, m, "
				"h or d), not '%s'",
				cmd, COUNT_MAX, arg);
		return set_new(patch, "push_limit", v);
	case 'r':
		if (parse_duration(arg, 1, &secs) != AF_CTL_OK)
			return af_ctl_usage_fail(
				"%s: --report-pause takes off or a duration "
				"such as 300s, 15m, 1h (at most a year), not "
				"'%s'",
				cmd, arg);
		return set_new(patch, "report_pause_s",
			       json_integer((json_int_t)secs));
	default:
		if (af_ctl_parse_onoff(arg, &on) != AF_CTL_OK)
			return af_ctl_usage_fail("%s: %s takes on or off, "
						 "not '%s'",
						 cmd, opt, arg);
		return set_new(patch, key, json_boolean(on));
	}
}

static int workflow_set(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"number-matching", required_argument, NULL, 'n'},
		{"legacy", required_argument, NULL, 'l'},
		{"min-app-version", required_argument, NULL, 'v'},
		{"push-limit", required_argument, NULL, 'p'},
		{"report-pause", required_argument, NULL, 'r'},
		{"enroll-after-password", required_argument, NULL, 'e'},
		OPT_END,
	};
	json_t *patch = json_object();
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (patch == NULL)
		return no_memory();
	opt_begin();
	while (rc == AF_CTL_EXIT_OK) {
		c = next_opt(ctl, "workflow set", argc, argv, opts, &rc);
		if (c == -1 || c == OPT_STOP)
			break;
		rc = workflow_option(patch, c, optarg);
	}
	if (c == OPT_STOP)
		goto out;
	if (rc == AF_CTL_EXIT_OK)
		rc = want_args("workflow set", argc, argv, 0, "");
	if (rc == AF_CTL_EXIT_OK && json_object_size(patch) == 0)
		rc = af_ctl_usage_fail("workflow set: nothing to change");
	if (rc == AF_CTL_EXIT_OK)
		rc = call_print(ctl, "PATCH", "workflow", patch,
				print_workflow);
out:
	json_decref(patch);
	return rc;
}

/* ---- devices ---- */

/* Draws the enrollment URI as a QR code on stdout. */
static int print_qr(const char *uri)
{
	char *buf = malloc(AF_CTL_QR_BUF);
	af_ctl_qr_status st;
	size_t len = 0;

	if (buf == NULL)
		return no_memory();
	st = af_ctl_qr_render(uri, AF_CTL_QR_ANSI, buf, AF_CTL_QR_BUF, &len);
	if (st == AF_CTL_QR_OK) {
		putchar('\n');
		fwrite(buf, 1, len, stdout);
	}
	/* The drawing spells out the one-time code. */
	OPENSSL_clear_free(buf, AF_CTL_QR_BUF);
	if (st != AF_CTL_QR_OK)
		return af_ctl_fail(AF_CTL_EXIT_REFUSED,
				   "cannot draw the QR code: %s",
				   af_ctl_qr_strerror(st));
	return AF_CTL_EXIT_OK;
}

static int print_enroll_code(json_t *answer)
{
	const json_t *code = json_object_get(answer, "code");
	const json_t *uri = json_object_get(answer, "uri");
	char when[TIME_BUF];
	int rc;

	if (!json_is_string(code) || !json_is_string(uri) ||
	    !json_is_integer(json_object_get(answer, "expires_at")))
		return bad_answer();
	af_ctl_time(json_object_get(answer, "expires_at"), when, sizeof(when));
	rc = put_line("code", json_string_value(code));
	if (rc == AF_CTL_EXIT_OK)
		rc = put_line("uri", json_string_value(uri));
	if (rc == AF_CTL_EXIT_OK)
		rc = put_line("expires_at", when);
	/* A QR code only for a person at a terminal, not for a script. */
	if (rc == AF_CTL_EXIT_OK && isatty(STDOUT_FILENO))
		rc = print_qr(json_string_value(uri));
	return rc;
}

static int device_enroll_code(af_ctl *ctl, int argc, char **argv)
{
	char path[PATH_BUF];
	int go = 0;
	int rc = no_options(ctl, "device enroll-code", argc, argv, 1, "USER",
			    &go);

	if (!go)
		return rc;
	rc = make_path(ctl, path, "users/{}/enroll-code", argv[optind]);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	return call_print(ctl, "POST", path, NULL, print_enroll_code);
}

/* How a table cell is made from a member of a list entry. */
enum cell_kind { CELL_TEXT, CELL_TIME, CELL_PUSH };

struct column {
	const char *header;
	const char *field;
	enum cell_kind kind;
};

/*
 * Whether a device can take pushes: "ok" (a valid push token), "invalid"
 * (APNs or FCM refused the token), "none" (no token, or platform none).
 */
static const char *push_text(const json_t *dev)
{
	const char *platform =
		json_string_value(json_object_get(dev, "platform"));

	if (platform == NULL || strcmp(platform, "none") == 0 ||
	    !json_is_string(json_object_get(dev, "push_token")))
		return "none";
	return json_is_true(json_object_get(dev, "push_token_valid"))
		       ? "ok"
		       : "invalid";
}

/*
 * The text of a cell: lent from item, or written into buf (CELL_BUF
 * bytes). NULL (shown as "-") when the member is missing.
 */
static const char *cell_text(const json_t *item, const struct column *col,
			     char *buf)
{
	const json_t *v = json_object_get(item, col->field);

	if (col->kind == CELL_TIME) {
		af_ctl_time(v, buf, CELL_BUF);
		return buf;
	}
	if (col->kind == CELL_PUSH)
		return push_text(item);
	if (json_is_integer(v)) {
		snprintf(buf, CELL_BUF, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		return buf;
	}
	return json_string_value(v);
}

/* A table of answer[member], an array of objects; null entries skipped. */
static int print_table(const json_t *answer, const char *member,
		       const struct column *cols, size_t ncols)
{
	const char *headers[AF_TABLE_COLS_MAX], *row[AF_TABLE_COLS_MAX];
	char bufs[AF_TABLE_COLS_MAX][CELL_BUF];
	const json_t *list = json_object_get(answer, member), *item;
	af_table *t = NULL;
	af_table_status st;
	size_t i, j;

	if (!json_is_array(list) || ncols > AF_TABLE_COLS_MAX)
		return bad_answer();
	for (i = 0; i < ncols; i++)
		headers[i] = cols[i].header;
	st = af_table_new(headers, ncols, &t);
	for (i = 0; st == AF_TABLE_OK && i < json_array_size(list); i++) {
		item = json_array_get(list, i);
		if (!json_is_object(item))
			continue;
		for (j = 0; j < ncols; j++)
			row[j] = cell_text(item, &cols[j], bufs[j]);
		st = af_table_add_row(t, row);
	}
	if (st == AF_TABLE_OK)
		st = af_table_print(t, stdout);
	af_table_free(t);
	if (st == AF_TABLE_ERR_NOMEM)
		return no_memory();
	if (st != AF_TABLE_OK)
		return af_ctl_fail(AF_CTL_EXIT_REFUSED, "%s",
				   af_table_strerror(st));
	return AF_CTL_EXIT_OK;
}

static int print_devices(json_t *answer)
{
	static const struct column cols[] = {
		{"DEVICE-ID", "id", CELL_TEXT},
		{"NAME", "device_name", CELL_TEXT},
		{"PLATFORM", "platform", CELL_TEXT},
		{"PUSH", "push_token_valid", CELL_PUSH},
		{"APP-VERSION", "app_version", CELL_TEXT},
		{"CREATED", "created_at", CELL_TIME},
		{"LAST-SEEN", "last_seen", CELL_TIME},
	};
	return print_table(answer, "devices", cols, NELEMS(cols));
}

static int device_list(af_ctl *ctl, int argc, char **argv)
{
	char path[PATH_BUF];
	int go = 0;
	int rc = no_options(ctl, "device list", argc, argv, 1, "USER", &go);

	if (!go)
		return rc;
	rc = make_path(ctl, path, "users/{}/devices", argv[optind]);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	return call_print(ctl, "GET", path, NULL, print_devices);
}

/* For answers that only say {"ok": true}: the exit status says it all. */
static int print_nothing(json_t *answer)
{
	(void)answer;
	return AF_CTL_EXIT_OK;
}

static int device_remove(af_ctl *ctl, int argc, char **argv)
{
	char path[PATH_BUF];
	int go = 0;
	int rc = no_options(ctl, "device remove", argc, argv, 1, "ID", &go);

	if (!go)
		return rc;
	rc = make_path(ctl, path, "devices/{}", argv[optind]);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	return call_print(ctl, "DELETE", path, NULL, print_nothing);
}

/* ---- the push queue ---- */

static int print_queue(json_t *answer)
{
	static const struct column cols[] = {
		{"JOB", "job", CELL_TEXT},
		{"TXN", "txn", CELL_TEXT},
		{"DEVICE", "device", CELL_TEXT},
		{"PLATFORM", "platform", CELL_TEXT},
		{"USER", "user", CELL_TEXT},
		{"APP", "app_name", CELL_TEXT},
	};
	const json_t *len = json_object_get(answer, "length");
	char text[TEXT_BUF];
	int rc;

	if (!json_is_integer(len))
		return bad_answer();
	rc = print_table(answer, "jobs", cols, NELEMS(cols));
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
		 json_integer_value(len));
	return put_line("length", text);
}

static int push_queue(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"limit", required_argument, NULL, 'n'},
		OPT_END,
	};
	char path[64];
	long limit = QUEUE_LIMIT_DEF;
	int c, rc = AF_CTL_EXIT_OK;

	opt_begin();
	for (;;) {
		c = next_opt(ctl, "push queue", argc, argv, opts, &rc);
		if (c == -1)
			break;
		if (c == OPT_STOP)
			return rc;
		if (af_ctl_parse_long(optarg, 1, QUEUE_LIMIT_MAX, &limit) !=
		    AF_CTL_OK)
			return af_ctl_usage_fail("push queue: --limit must be "
						 "1..%d, not '%s'",
						 QUEUE_LIMIT_MAX, optarg);
	}
	rc = want_args("push queue", argc, argv, 0, "");
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	snprintf(path, sizeof(path), "push/queue?limit=%ld", limit);
	return call_print(ctl, "GET", path, NULL, print_queue);
}

/* ---- the command groups ---- */

struct verb {
	const char *name;
	af_ctl_command_fn run;
};

static int run_verb(af_ctl *ctl, const char *group, const struct verb *verbs,
		    size_t n, int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return af_ctl_usage_fail("%s: missing command", group);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		af_ctl_usage(stdout);
		return AF_CTL_EXIT_OK;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].run(ctl, argc - 1, argv + 1);
	}
	return af_ctl_usage_fail("%s: unknown command '%s'", group, argv[1]);
}

int af_ctl_cmd_workflow(af_ctl *ctl, int argc, char **argv)
{
	static const struct verb verbs[] = {
		{"show", workflow_show},
		{"set", workflow_set},
	};

	return run_verb(ctl, "workflow", verbs, NELEMS(verbs), argc, argv);
}

int af_ctl_cmd_device(af_ctl *ctl, int argc, char **argv)
{
	static const struct verb verbs[] = {
		{"enroll-code", device_enroll_code},
		{"list", device_list},
		{"remove", device_remove},
	};

	return run_verb(ctl, "device", verbs, NELEMS(verbs), argc, argv);
}

int af_ctl_cmd_push(af_ctl *ctl, int argc, char **argv)
{
	static const struct verb verbs[] = {
		{"queue", push_queue},
	};

	return run_verb(ctl, "push", verbs, NELEMS(verbs), argc, argv);
}
