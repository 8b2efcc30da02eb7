/*
 * authflowctl's push-MFA commands over the admin API (admin/mfa.c lists
 * the endpoints):
 *
 *   workflow show | workflow set [--number-matching on|off] [--legacy
 *       on|off] [--min-app-version ios=V,android=V|none] [--push-limit
 *       N[/PERIOD]] [--report-pause DURATION|off] [--enroll-after-password
 *       on|off]
 *   device enroll-code USER | device list USER | device show ID |
 *   device remove ID
 *   device rename ID NAME | device revoke-codes USER
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
#include "common.h"
#include "http.h"
#include "qr.h"
#include "table.h"

#define TEXT_BUF	128  /* a formatted setting */
#define QUEUE_LIMIT_MAX 1000 /* jobs one push queue listing shows */
#define QUEUE_LIMIT_DEF 50
/* --push-limit COUNT/PERIOD: the server's ranges (authflow/mfa/mfa.c). */
#define COUNT_MIN	1 /* pushes of one push-limit period */
#define COUNT_MAX	100
#define PERIOD_MIN	10 /* seconds of one push-limit period */
#define PERIOD_MAX	86400
#define PAUSE_MAX	86400 /* seconds of --report-pause */
#define VERSIONS_MAX	256   /* bytes of a --min-app-version argument */
#define VERSION_MAX	32    /* bytes of one app version (the server's cap) */

/* The platforms a minimum app version may name. */
static const char *const platforms[] = {"ios", "android"};

/* ---- durations and versions ---- */

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

	for (i = 0; i < AF_CTL_NELEMS(platforms); i++) {
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

/*
 * "N/PERIOD" of --push-limit into {"count": N, "period_s": S}, or "N"
 * into {"count": N} (the server merges it: the period stays), in the
 * ranges the server takes, so that a value it would refuse never leaves.
 */
static af_ctl_status parse_push_limit(const char *s, json_t **out)
{
	char count[16];
	const char *slash = strchr(s, '/');
	long n = 0, period = 0;
	size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);

	*out = NULL;
	if (len == 0 || len >= sizeof(count))
		return AF_CTL_ERR_ARG;
	memcpy(count, s, len);
	count[len] = '\0';
	if (count[0] < '0' || count[0] > '9' ||
	    af_ctl_parse_long(count, COUNT_MIN, COUNT_MAX, &n) != AF_CTL_OK)
		return AF_CTL_ERR_ARG;
	if (slash == NULL) {
		*out = json_pack("{s:I}", "count", (json_int_t)n);
		return *out != NULL ? AF_CTL_OK : AF_CTL_ERR_NOMEM;
	}
	if (af_ctl_parse_duration(slash + 1, 0, &period) != AF_CTL_OK ||
	    period < PERIOD_MIN || period > PERIOD_MAX)
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

	/* The server always sends every setting, each of its own type. */
	if (!json_is_boolean(json_object_get(answer, "number_matching")) ||
	    !json_is_boolean(json_object_get(answer, "legacy")) ||
	    !json_is_object(json_object_get(answer, "min_app_version")) ||
	    !json_is_object(json_object_get(answer, "push_limit")) ||
	    !json_is_integer(json_object_get(answer, "report_pause_s")) ||
	    !json_is_boolean(json_object_get(answer, "enroll_after_password")))
		return af_ctl_bad_answer();
	for (i = 0; i < AF_CTL_NELEMS(known) && rc == AF_CTL_EXIT_OK; i++) {
		setting_text(known[i][0], json_object_get(answer, known[i][0]),
			     text, sizeof(text));
		rc = af_ctl_put_line("", known[i][1], text);
	}
	json_object_foreach(answer, key, v)
	{
		for (i = 0; i < AF_CTL_NELEMS(known); i++) {
			if (strcmp(key, known[i][0]) == 0)
				break;
		}
		if (i < AF_CTL_NELEMS(known) || rc != AF_CTL_EXIT_OK)
			continue;
		setting_text(key, v, text, sizeof(text));
		rc = af_ctl_put_line("", key, text);
	}
	return rc;
}

/* Sets patch[key] = v (reference stolen); the exit status. */
static int set_new(json_t *patch, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(patch, key, v) != 0)
		return af_ctl_no_memory();
	return AF_CTL_EXIT_OK;
}

/* One option of workflow set into patch; the exit status. */
static int workflow_option(json_t *patch, int c, const char *arg,
			   const char *cmd, void *state)
{
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

	(void)state;
	switch (c) {
	case 'v':
		st = parse_versions(arg, &v);
		if (st == AF_CTL_ERR_NOMEM)
			return af_ctl_no_memory();
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
			return af_ctl_no_memory();
		if (st != AF_CTL_OK)
			return af_ctl_usage_fail(
				"%s: --push-limit takes COUNT/PERIOD such as "
				"3/5m, or COUNT alone (COUNT %d..%d; PERIOD a "
				"number and s, m, h or d, %d..%d seconds), not "
				"'%s'",
				cmd, COUNT_MIN, COUNT_MAX, PERIOD_MIN,
				PERIOD_MAX, arg);
		return set_new(patch, "push_limit", v);
	case 'r':
		if (af_ctl_parse_duration(arg, 1, &secs) != AF_CTL_OK ||
		    secs > PAUSE_MAX)
			return af_ctl_usage_fail(
				"%s: --report-pause takes off or a duration "
				"such as 300s, 15m, 1h (at most a day), not "
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
		AF_CTL_OPT_END,
	};
	static const af_ctl_patch set = {
		"workflow set",	 opts,		NULL, "PATCH", "workflow",
		workflow_option, print_workflow};

	return af_ctl_run_patch(ctl, argc, argv, &set, NULL);
}

/* ---- devices ---- */

/* Draws the enrollment URI as a QR code on stdout. */
static int print_qr(const char *uri)
{
	char *buf = malloc(AF_CTL_QR_BUF);
	af_ctl_qr_status st;
	size_t len = 0;

	if (buf == NULL)
		return af_ctl_no_memory();
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
	char when[AF_CTL_TIME_BUF];
	int rc;

	if (!json_is_string(code) || !json_is_string(uri) ||
	    !json_is_integer(json_object_get(answer, "expires_at")))
		return af_ctl_bad_answer();
	af_ctl_time(json_object_get(answer, "expires_at"), when, sizeof(when));
	rc = af_ctl_put_line("", "code", json_string_value(code));
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_line("", "uri", json_string_value(uri));
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_line("", "expires_at", when);
	/* A QR code only for a person at a terminal, not for a script. */
	if (rc == AF_CTL_EXIT_OK && isatty(STDOUT_FILENO))
		rc = print_qr(json_string_value(uri));
	return rc;
}

/*
 * Marks in the answer the app version of each device below the workflow's
 * minimum (the server's below_min_app_version), which gets no sign-in
 * requests until the app is updated: "2024.1 (below minimum)". 0, or -1
 * when out of memory.
 */
static int mark_old_apps(json_t *answer)
{
	char text[VERSION_MAX + 32];
	json_t *dev;
	size_t i;

	json_array_foreach(json_object_get(answer, "devices"), i, dev)
	{
		const char *v =
			json_string_value(json_object_get(dev, "app_version"));

		if (!json_is_true(
			    json_object_get(dev, "below_min_app_version")))
			continue;
		snprintf(text, sizeof(text), "%.*s (below minimum)",
			 VERSION_MAX, v != NULL ? v : "-");
		if (json_object_set_new(dev, "app_version",
					json_string(text)) != 0)
			return -1;
	}
	return 0;
}

static int print_devices(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"DEVICE-ID", "id", AF_CTL_CELL_TEXT},
		{"NAME", "device_name", AF_CTL_CELL_TEXT},
		{"PLATFORM", "platform", AF_CTL_CELL_TEXT},
		{"PUSH", "push_token_valid", AF_CTL_CELL_PUSH},
		{"APP-VERSION", "app_version", AF_CTL_CELL_TEXT},
		{"CREATED", "created_at", AF_CTL_CELL_TIME},
		{"LAST-SEEN", "last_seen", AF_CTL_CELL_TIME},
	};

	if (mark_old_apps(answer) != 0)
		return af_ctl_no_memory();
	return af_ctl_print_table(answer, "devices", cols, AF_CTL_NELEMS(cols));
}

/* One device (the answer of a rename), as a one-row device list. */
static int print_device(json_t *answer)
{
	json_t *list = json_pack("{s:[O]}", "devices", answer);
	int rc;

	if (list == NULL)
		return af_ctl_no_memory();
	rc = print_devices(list);
	json_decref(list);
	return rc;
}

/* ---- the push queue ---- */

static int print_queue(json_t *answer)
{
	static const af_ctl_column cols[] = {
		{"JOB", "job", AF_CTL_CELL_TEXT},
		{"TXN", "txn", AF_CTL_CELL_TEXT},
		{"DEVICE", "device", AF_CTL_CELL_TEXT},
		{"PLATFORM", "platform", AF_CTL_CELL_TEXT},
		{"USER", "user", AF_CTL_CELL_TEXT},
		{"APP", "app_name", AF_CTL_CELL_TEXT},
	};
	const json_t *len = json_object_get(answer, "length");
	int rc;

	if (!json_is_integer(len))
		return af_ctl_bad_answer();
	rc = af_ctl_print_table(answer, "jobs", cols, AF_CTL_NELEMS(cols));
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_put_value("", "length", len);
	/* A job taken by a push worker and not finished yet. */
	if (rc == AF_CTL_EXIT_OK && json_object_get(answer, "pending") != NULL)
		rc = af_ctl_put_value("", "pending",
				      json_object_get(answer, "pending"));
	return rc;
}

/* ---- the command groups ---- */

int af_ctl_cmd_workflow(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple show = {
		"workflow show", NULL, 0, "GET", "workflow", print_workflow};
	static const af_ctl_verb verbs[] = {
		{"show", NULL, &show},
		{"set", workflow_set, NULL},
	};

	return af_ctl_run_verb(ctl, "workflow", verbs, AF_CTL_NELEMS(verbs),
			       argc, argv);
}

/* device remove ID, confirmed in one line as other removals are. */
static int device_remove(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {
		"device remove", "ID",	       1,
		"DELETE",	 "devices/{}", af_ctl_print_nothing};

	return af_ctl_run_confirm_one(ctl, argc, argv, &s, "removed device ");
}

/*
 * device rename ID NAME: the help desk's name for a phone. Prints the
 * device as device list does (one row).
 */
static int device_rename(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {AF_CTL_OPT_END};
	const char *args[2] = {NULL, NULL};
	af_cli_optparse p;
	json_t *body = NULL;
	int rc;

	af_ctl_opt_begin(&p, "device rename", argc, argv, opts);
	if (af_ctl_next_opt(ctl, &p) == AF_CTL_OPT_STOP)
		return p.rc;
	rc = af_cli_positionals(&p, 2, args, "ID NAME");
	if (rc == AF_CTL_EXIT_OK && args[1][0] == '\0')
		rc = af_ctl_usage_fail("device rename: NAME must not be empty");
	if (rc == AF_CTL_EXIT_OK) {
		body = json_pack("{s:s}", "device_name", args[1]);
		rc = body != NULL
			     ? af_ctl_send_named(ctl, "PATCH", "devices/{}",
						 args[0], body, print_device)
			     : af_ctl_no_memory();
	}
	json_decref(body);
	return rc;
}

/*
 * device revoke-codes USER: the user's enrollment codes not yet used go
 * (a code sent to the wrong person).
 */
static int device_revoke_codes(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple s = {"device revoke-codes",
					"USER",
					1,
					"DELETE",
					"users/{}/enroll-codes",
					af_ctl_print_nothing};

	return af_ctl_run_confirm_one(ctl, argc, argv, &s,
				      "revoked the enrollment codes of ");
}

int af_ctl_cmd_device(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_simple enroll_code = {
		"device enroll-code",	"USER",		  1, "POST",
		"users/{}/enroll-code", print_enroll_code};
	static const af_ctl_simple list = {
		"device list",	    "USER",	  1, "GET",
		"users/{}/devices", print_devices};
	static const af_ctl_simple show = {
		"device show", "ID", 1, "GET", "devices/{}", af_ctl_print_kv};
	static const af_ctl_verb verbs[] = {
		{"enroll-code", NULL, &enroll_code},
		{"list", NULL, &list},
		{"show", NULL, &show},
		{"remove", device_remove, NULL},
		{"rename", device_rename, NULL},
		{"revoke-codes", device_revoke_codes, NULL},
	};

	return af_ctl_run_verb(ctl, "device", verbs, AF_CTL_NELEMS(verbs), argc,
			       argv);
}

static int push_queue(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_limited queue = {"push queue", "push/queue",
					     QUEUE_LIMIT_DEF, QUEUE_LIMIT_MAX,
					     print_queue};

	return af_ctl_run_limited(ctl, argc, argv, &queue);
}

int af_ctl_cmd_push(af_ctl *ctl, int argc, char **argv)
{
	static const af_ctl_verb verbs[] = {
		{"queue", push_queue, NULL},
	};

	return af_ctl_run_verb(ctl, "push", verbs, AF_CTL_NELEMS(verbs), argc,
			       argv);
}
