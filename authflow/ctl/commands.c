/*
 * The commands of authflowctl over the admin API (/admin/v1/): option
 * parsing per command, request bodies, and the human output (tables for
 * lists, "key: value" lines for one object).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "args.h"
#include "commands.h"
#include "common/util.h"
#include "http.h"
#include "table.h"

#define OPT_STOP	(-2) /* next_opt(): stop with the status in rc */
#define OPT_JSON	1000 /* --json after the command, as before it */
#define PATH_BUF	(AF_CTL_HTTP_PATH_MAX + 1)
#define MSG_MAX		1024 /* bytes of one line on stderr */
#define TIME_BUF	32   /* an ISO 8601 time and its NUL */
#define VALUE_BUF	32   /* a printed number or time */
#define KV_DEPTH_MAX	4    /* nesting of objects printed as a.b.c */
#define AUDIT_LIMIT_MAX 1000 /* events of one audit listing */
#define PASSWORD_BUF	(AF_CTL_PASSWORD_MAX + 1)
#define OPT_HELP                               \
	{                                      \
		"help", no_argument, NULL, 'h' \
	}
#define OPT_JSON_ENTRY                              \
	{                                           \
		"json", no_argument, NULL, OPT_JSON \
	}
#define OPT_END                   \
	OPT_HELP, OPT_JSON_ENTRY, \
	{                         \
		NULL, 0, NULL, 0  \
	}

static const char usage_text[] =
	"usage: authflowctl [--url URL] [--token TOKEN] [--json] COMMAND ...\n"
	"\n"
	"URL and token also come from AUTHFLOW_URL and AUTHFLOW_ADMIN_TOKEN\n"
	"(prefer the variable: a --token is visible to other local users).\n"
	"Default URL: http://127.0.0.1:8080. --json prints the server's JSON.\n"
	"\n"
	"  status\n"
	"  user add NAME [--name N] [--email E] [--email-verified] [--domain "
	"D]\n"
	"           [--ou OU]... [--group G]... [--password-stdin] "
	"[--disabled]\n"
	"  user list | show NAME | remove NAME | unlock NAME\n"
	"  user set NAME [--name N] [--email E] [--email-verified on|off]\n"
	"           [--domain D] [--enabled on|off] [--ou OU]... [--group "
	"G]...\n"
	"  user passwd NAME [--password-stdin]\n"
	"  group add NAME [--description D] | list | show NAME | remove NAME\n"
	"  group add-member NAME USER | remove-member NAME USER\n"
	"  ou add NAME | list | show NAME | remove NAME\n"
	"  ou add-member NAME USER | remove-member NAME USER\n"
	"  policy add NAME --sso on|off --remote-access on|off\n"
	"  policy list | show NAME | remove NAME\n"
	"  policy set NAME [--sso on|off] [--remote-access on|off]\n"
	"  policy assign|unassign NAME --user U | --group G | --ou OU\n"
	"  app add --name N [--display-name D] --redirect-uri URI...\n"
	"          [--post-logout-uri URI]... [--allow-refresh] "
	"[--jwt-access-tokens]\n"
	"          [--admins-may-deploy] [--claim NAME=ATTR]...\n"
	"  app list | show ID | remove ID | rotate-secret ID\n"
	"  app set ID [--display-name D] [--redirect-uri URI]...\n"
	"          [--post-logout-uri URI]... [--enabled on|off]\n"
	"          [--allow-refresh on|off] [--admins-may-deploy on|off]\n"
	"  app deploy|undeploy ID --all | [--domain D]... [--ou OU]...\n"
	"          [--group G]... [--user U]...\n"
	"  workflow show\n"
	"  workflow set [--number-matching on|off] [--legacy on|off]\n"
	"          [--min-app-version ios=V,android=V | none]\n"
	"          [--push-limit COUNT/PERIOD] [--report-pause DURATION | off]\n"
	"          [--enroll-after-password on|off]\n"
	"          (PERIOD, DURATION: a number and s, m, h or d: 300s, 15m, 1h)\n"
	"  device enroll-code USER | list USER | remove ID\n"
	"  push queue [--limit N]       (1..1000, default 50)\n"
	"  keys status | rotate\n"
	"  sessions list USER | end USER\n"
	"  audit [--limit N]            (1..1000, default 50)\n"
	"\n"
	"Exit status: 0 done, 1 refused by the server, 2 bad usage,\n"
	"3 cannot reach the server.\n";

/* The getopt_long state of one command's options. */
struct optparse {
	const char *cmd; /* "user add", for messages */
	int argc;
	char **argv;
	const struct option *opts;
	int rc; /* the exit status when next_opt() says OPT_STOP */
};

/* Prints the answer of a request that succeeded; returns the exit status. */
typedef int (*printer_fn)(json_t *answer);

/* A command without options: positional arguments, one request. */
struct simple {
	const char *cmd;
	const char *args; /* what the positional arguments are, or NULL */
	int nargs;	  /* 0..2, the "{}" of tmpl */
	const char *method;
	const char *tmpl;
	printer_fn print;
};

struct verb {
	const char *name;
	af_ctl_command_fn run;	     /* a command with options, or NULL */
	const struct simple *simple; /* a command without */
};

/* How a table cell is made from a member of a list entry. */
enum cell_kind { CELL_TEXT, CELL_BOOL, CELL_TIME, CELL_LIST, CELL_DEPLOY };

struct column {
	const char *header;
	const char *field; /* "name", or "outer.inner" one level down */
	enum cell_kind kind;
};

void af_ctl_usage(FILE *out)
{
	fputs(usage_text, out);
}

static int vfail(int code, const char *hint, const char *fmt, va_list ap)
	AF_CTL_PRINTF(3, 0);

static int vfail(int code, const char *hint, const char *fmt, va_list ap)
{
	char msg[MSG_MAX];

	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	/* Server messages and arguments are outside text: keep one line. */
	af_ctl_one_line(msg);
	fprintf(stderr, "authflowctl: %s%s\n", msg, hint);
	return code;
}

int af_ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(code, "", fmt, ap);
	va_end(ap);
	return rc;
}

int af_ctl_usage_fail(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(AF_CTL_EXIT_USAGE, " (see 'authflowctl --help')", fmt, ap);
	va_end(ap);
	return rc;
}

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

/* ---- option parsing ---- */

static void opt_begin(struct optparse *p, const char *cmd, int argc,
		      char **argv, const struct option *opts)
{
	p->cmd = cmd;
	p->argc = argc;
	p->argv = argv;
	p->opts = opts;
	p->rc = AF_CTL_EXIT_OK;
	/* 0, not 1: glibc then forgets all state of an earlier parse. */
	optind = 0;
	opterr = 0;
}

/* The option getopt_long just refused, for the message. */
static const char *opt_text(const struct optparse *p, char *buf, size_t cap)
{
	const char *arg = NULL;
	size_t n;

	if (optind > 0 && optind <= p->argc)
		arg = p->argv[optind - 1];
	if (arg != NULL && strncmp(arg, "--", 2) == 0) {
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

/* Whether getopt_long's last refusal was of a "--long" argument. */
static int long_option_given(const struct optparse *p)
{
	return optind > 0 && optind <= p->argc &&
	       strncmp(p->argv[optind - 1], "--", 2) == 0;
}

/*
 * The next option of the command: its value, -1 after the last one, or
 * OPT_STOP with the exit status in p->rc (--help, or a usage error).
 */
static int next_opt(af_ctl *ctl, struct optparse *p)
{
	char buf[64];
	int c;

	for (;;) {
		c = getopt_long(p->argc, p->argv, ":h", p->opts, NULL);
		if (c == OPT_JSON) {
			ctl->json = 1;
			continue;
		}
		if (c == 'h') {
			af_ctl_usage(stdout);
			p->rc = AF_CTL_EXIT_OK;
			return OPT_STOP;
		}
		if (c == ':') {
			p->rc = af_ctl_usage_fail(
				"%s: %s needs a value", p->cmd,
				opt_text(p, buf, sizeof(buf)));
			return OPT_STOP;
		}
		if (c == '?' && optopt != 0 && long_option_given(p)) {
			/* glibc: a known long option was given a value. */
			p->rc = af_ctl_usage_fail(
				"%s: %s takes no value", p->cmd,
				opt_text(p, buf, sizeof(buf)));
			return OPT_STOP;
		}
		if (c == '?') {
			p->rc = af_ctl_usage_fail(
				"%s: unknown option %s", p->cmd,
				opt_text(p, buf, sizeof(buf)));
			return OPT_STOP;
		}
		return c;
	}
}

/* Checks that exactly n positional arguments are left (what: names). */
static int want_args(const struct optparse *p, int n, const char *what)
{
	int have = p->argc - optind;

	if (have < n)
		return af_ctl_usage_fail("%s: missing %s", p->cmd, what);
	if (have > n)
		return af_ctl_usage_fail("%s: unexpected argument '%s'", p->cmd,
					 p->argv[optind + n]);
	return AF_CTL_EXIT_OK;
}

/* Turns a helper's refusal of an option value into the exit status. */
static int opt_value(af_ctl_status st, const char *cmd, const char *opt,
		     const char *value)
{
	if (st == AF_CTL_OK)
		return AF_CTL_EXIT_OK;
	if (st == AF_CTL_ERR_NOMEM)
		return no_memory();
	return af_ctl_usage_fail("%s: bad value for %s: '%s' (%s)", cmd, opt,
				 value, af_ctl_strerror(st));
}

static int set_string(json_t *obj, const char *key, const char *value,
		      const char *cmd, const char *opt)
{
	json_t *v = json_string(value);

	/* jansson refuses text that is not UTF-8 (see args.c). */
	if (v == NULL)
		return opt_value(AF_CTL_ERR_ARG, cmd, opt, value);
	if (json_object_set_new(obj, key, v) != 0)
		return no_memory();
	return AF_CTL_EXIT_OK;
}

static int set_bool(json_t *obj, const char *key, int value)
{
	if (json_object_set_new(obj, key, json_boolean(value)) != 0)
		return no_memory();
	return AF_CTL_EXIT_OK;
}

static int set_onoff(json_t *obj, const char *key, const char *value,
		     const char *cmd, const char *opt)
{
	int on = 0;
	af_ctl_status st = af_ctl_parse_onoff(value, &on);

	if (st != AF_CTL_OK)
		return af_ctl_usage_fail("%s: %s takes on or off, not '%s'",
					 cmd, opt, value);
	return set_bool(obj, key, on);
}

static int append(json_t *obj, const char *key, const char *value,
		  const char *cmd, const char *opt)
{
	return opt_value(af_ctl_append(obj, key, value), cmd, opt, value);
}

/* ---- requests ---- */

static int need_token(const af_ctl *ctl)
{
	if (ctl->http == NULL)
		return af_ctl_fail(AF_CTL_EXIT_USAGE, "no server URL");
	if (!ctl->have_token)
		return af_ctl_usage_fail("no admin token: set "
					 "AUTHFLOW_ADMIN_TOKEN or use --token");
	return AF_CTL_EXIT_OK;
}

/* Fills path from tmpl and up to two names; the exit status. */
static int make_path(const af_ctl *ctl, char *path, const char *tmpl,
		     const char *a, const char *b)
{
	const char *args[2] = {a, b};
	size_t n = a == NULL ? 0 : (b == NULL ? 1 : 2);
	af_ctl_http_status st;

	st = af_ctl_http_path(ctl->http, path, PATH_BUF, tmpl, args, n);
	if (st == AF_CTL_HTTP_OK)
		return AF_CTL_EXIT_OK;
	if (st == AF_CTL_HTTP_ERR_TOO_LONG)
		return af_ctl_usage_fail("name too long");
	if (st == AF_CTL_HTTP_ERR_ARG)
		return af_ctl_usage_fail("empty name");
	return af_ctl_fail(AF_CTL_EXIT_REFUSED, "%s", af_ctl_http_strerror(st));
}

/* The exit status for an answer of 300 or more, after its one line. */
static int refused(long status, const json_t *answer)
{
	const char *msg = json_string_value(json_object_get(answer, "message"));

	if (status < 400)
		return af_ctl_fail(
			AF_CTL_EXIT_UNREACHABLE,
			"the server answered HTTP %ld; redirects are "
			"not followed: check --url",
			status);
	if (msg != NULL && msg[0] != '\0')
		return af_ctl_fail(AF_CTL_EXIT_REFUSED, "%s", msg);
	return af_ctl_fail(AF_CTL_EXIT_REFUSED, "HTTP %ld", status);
}

/*
 * Sends one request. On success (a 2xx answer holding a JSON object)
 * returns AF_CTL_EXIT_OK with the answer in *out; otherwise prints the
 * one line and returns the exit status.
 */
static int call(af_ctl *ctl, const char *method, const char *path,
		const json_t *body, json_t **out)
{
	char err[AF_CTL_HTTP_ERR_BUF];
	af_ctl_http_status st;
	json_t *answer = NULL;
	long status = 0;
	int rc;

	*out = NULL;
	rc = need_token(ctl);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	st = af_ctl_http_request(ctl->http, method, path, body, &status,
				 &answer, err, sizeof(err));
	if (st == AF_CTL_HTTP_ERR_NOMEM)
		return no_memory();
	if (st != AF_CTL_HTTP_OK)
		return af_ctl_fail(AF_CTL_EXIT_UNREACHABLE, "%s", err);
	if (status < 200 || status >= 300) {
		rc = refused(status, answer);
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

/* Sends the request and prints the answer as --json or print says. */
static int call_print(af_ctl *ctl, const char *method, const char *path,
		      const json_t *body, printer_fn print)
{
	json_t *answer = NULL;
	int rc;

	rc = call(ctl, method, path, body, &answer);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	rc = ctl->json ? print_json(answer) : print(answer);
	json_decref(answer);
	return rc;
}

/* ---- human output ---- */

/* Members that hold Unix times, printed as ISO 8601 UTC. */
static int is_time_key(const char *key)
{
	static const char *const keys[] = {
		"created_at", "updated_at", "expires_at", "retire_after",
		"auth_time",  "created",    "ts",	  "time",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i]) == 0)
			return 1;
	}
	return 0;
}

static char *copy_text(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

/* v as compact JSON in a string of our own (NULL on no memory). */
static char *dump_text(const json_t *v)
{
	json_free_t jfree = NULL;
	char *s, *d;

	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s == NULL)
		return NULL;
	d = copy_text(s);
	/* jansson's text goes back to jansson's (maybe wiping) allocator. */
	json_get_alloc_funcs(NULL, &jfree);
	jfree(s);
	return d;
}

/* One value as text (new string; NULL on no memory). */
static char *value_text(const char *key, const json_t *v)
{
	char buf[VALUE_BUF];
	char *s = NULL;

	if (json_is_string(v))
		return copy_text(json_string_value(v));
	if (json_is_boolean(v))
		return copy_text(json_is_true(v) ? "yes" : "no");
	if (json_is_integer(v) && key != NULL && is_time_key(key)) {
		af_ctl_time(v, buf, sizeof(buf));
		return copy_text(buf);
	}
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		return copy_text(buf);
	}
	if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%g", json_real_value(v));
		return copy_text(buf);
	}
	if (json_is_array(v) && af_ctl_join(v, ", ", &s) == AF_CTL_OK) {
		if (s[0] != '\0' || json_array_size(v) == 0)
			return s;
		free(s);
	}
	if (json_is_null(v) || v == NULL)
		return copy_text("-");
	/* Arrays of objects and the like: as compact JSON. */
	return dump_text(v);
}

/*
 * Prints "<prefix><key>: <value>" with both parts made safe for the
 * terminal. The value may be a secret (a client secret), so every copy
 * of it is wiped.
 */
static int put_line(const char *prefix, const char *key, const char *value)
{
	char *k = NULL, *v = NULL;
	int rc = AF_CTL_EXIT_OK;

	if (af_table_clean(key, &k, NULL) != AF_TABLE_OK ||
	    af_table_clean(value[0] == '\0' ? "-" : value, &v, NULL) !=
		    AF_TABLE_OK)
		rc = no_memory();
	else
		printf("%s%s: %s\n", prefix, k, v);
	free(k);
	if (v != NULL)
		OPENSSL_clear_free(v, strlen(v));
	return rc;
}

static int put_value(const char *prefix, const char *key, const json_t *v)
{
	char *text = value_text(key, v);
	int rc;

	if (text == NULL)
		return no_memory();
	rc = put_line(prefix, key, text);
	OPENSSL_clear_free(text, strlen(text));
	return rc;
}

/* "key: value" lines for every member; objects inside as "outer.key". */
static int print_kv_at(json_t *obj, const char *prefix, int depth)
{
	char inner[512];
	const char *key;
	json_t *v;
	int rc;

	json_object_foreach(obj, key, v)
	{
		if (json_is_object(v) && depth < KV_DEPTH_MAX &&
		    json_object_size(v) > 0) {
			if (snprintf(inner, sizeof(inner), "%s%s.", prefix,
				     key) >= (int)sizeof(inner))
				return bad_answer();
			rc = print_kv_at(v, inner, depth + 1);
		} else {
			rc = put_value(prefix, key, v);
		}
		if (rc != AF_CTL_EXIT_OK)
			return rc;
	}
	return AF_CTL_EXIT_OK;
}

static int print_kv(json_t *answer)
{
	return print_kv_at(answer, "", 0);
}

/* For answers that only say {"ok": true}: the exit status says it all. */
static int print_nothing(json_t *answer)
{
	(void)answer;
	return AF_CTL_EXIT_OK;
}

/* obj.field, or obj.outer.inner for "outer.inner". */
static const json_t *field_of(const json_t *obj, const char *field)
{
	char outer[64];
	const char *dot = strchr(field, '.');
	size_t n;

	if (dot == NULL)
		return json_object_get(obj, field);
	n = (size_t)(dot - field);
	if (n >= sizeof(outer))
		return NULL;
	memcpy(outer, field, n);
	outer[n] = '\0';
	return json_object_get(json_object_get(obj, outer), dot + 1);
}

/* "chosen: 2 users, 1 group" from a deployment object. */
static char *deploy_text(const json_t *d)
{
	static const char *const kinds[][2] = {
		{"users", "user"},
		{"groups", "group"},
		{"ous", "OU"},
		{"domains", "domain"},
	};
	const char *mode = json_string_value(json_object_get(d, "mode"));
	char buf[256];
	size_t i, n, len;
	int first = 1;

	if (mode == NULL)
		return copy_text("-");
	if (strcmp(mode, "chosen") != 0)
		return copy_text(mode);
	memcpy(buf, "chosen", sizeof("chosen"));
	len = strlen(buf);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		n = json_array_size(json_object_get(d, kinds[i][0]));
		if (n == 0)
			continue;
		/* Four short parts at most: they always fit. */
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
					"%s %zu %s%s", first ? ":" : ",", n,
					kinds[i][1], n == 1 ? "" : "s");
		first = 0;
	}
	return copy_text(buf);
}

static char *cell_text(const json_t *item, const struct column *col)
{
	const json_t *v = field_of(item, col->field);
	char buf[TIME_BUF];
	char *s = NULL;

	switch (col->kind) {
	case CELL_BOOL:
		return copy_text(json_is_true(v) ? "yes" : "no");
	case CELL_TIME:
		af_ctl_time(v, buf, sizeof(buf));
		return copy_text(buf);
	case CELL_LIST:
		if (af_ctl_join(json_is_array(v) ? v : NULL, ",", &s) !=
		    AF_CTL_OK)
			return NULL;
		return s;
	case CELL_DEPLOY:
		return deploy_text(v);
	case CELL_TEXT:
	default:
		if (json_is_string(v) || json_is_number(v))
			return value_text(NULL, v);
		return copy_text("");
	}
}

static int add_item(af_table *t, const json_t *item, const struct column *cols,
		    size_t ncols)
{
	char *cells[AF_TABLE_COLS_MAX] = {NULL};
	af_table_status st = AF_TABLE_ERR_NOMEM;
	size_t i;

	for (i = 0; i < ncols; i++) {
		cells[i] = cell_text(item, &cols[i]);
		if (cells[i] == NULL)
			goto out;
	}
	st = af_table_add_row(t, (const char *const *)cells);
out:
	for (i = 0; i < ncols; i++)
		free(cells[i]);
	return st == AF_TABLE_OK ? AF_CTL_EXIT_OK
				 : af_ctl_fail(AF_CTL_EXIT_REFUSED, "%s",
					       af_table_strerror(st));
}

/* A table of answer[member], an array of objects. */
static int print_table(const json_t *answer, const char *member,
		       const struct column *cols, size_t ncols)
{
	const char *headers[AF_TABLE_COLS_MAX];
	const json_t *list = json_object_get(answer, member);
	af_table *t = NULL;
	af_table_status st;
	int rc = AF_CTL_EXIT_OK;
	size_t i;

	if (!json_is_array(list))
		return bad_answer();
	for (i = 0; i < ncols; i++)
		headers[i] = cols[i].header;
	st = af_table_new(headers, ncols, &t);
	if (st != AF_TABLE_OK)
		return no_memory();
	for (i = 0; i < json_array_size(list) && rc == AF_CTL_EXIT_OK; i++)
		rc = add_item(t, json_array_get(list, i), cols, ncols);
	if (rc == AF_CTL_EXIT_OK && af_table_print(t, stdout) != AF_TABLE_OK)
		rc = af_ctl_fail(AF_CTL_EXIT_REFUSED, "cannot write output");
	af_table_free(t);
	return rc;
}

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static int print_users(json_t *answer)
{
	static const struct column cols[] = {
		{"USERNAME", "username", CELL_TEXT},
		{"NAME", "name", CELL_TEXT},
		{"EMAIL", "email", CELL_TEXT},
		{"ENABLED", "enabled", CELL_BOOL},
		{"GROUPS", "groups", CELL_LIST},
	};
	return print_table(answer, "users", cols, NCOLS(cols));
}

static int print_groups(json_t *answer)
{
	static const struct column cols[] = {
		{"NAME", "name", CELL_TEXT},
		{"DESCRIPTION", "description", CELL_TEXT},
	};
	return print_table(answer, "groups", cols, NCOLS(cols));
}

static int print_ous(json_t *answer)
{
	static const struct column cols[] = {
		{"NAME", "name", CELL_TEXT},
	};
	return print_table(answer, "ous", cols, NCOLS(cols));
}

static int print_policies(json_t *answer)
{
	static const struct column cols[] = {
		{"NAME", "name", CELL_TEXT},
		{"SSO", "sso", CELL_BOOL},
		{"REMOTE-ACCESS", "remote_access", CELL_BOOL},
		{"USERS", "assigned.users", CELL_LIST},
		{"GROUPS", "assigned.groups", CELL_LIST},
		{"OUS", "assigned.ous", CELL_LIST},
	};
	return print_table(answer, "policies", cols, NCOLS(cols));
}

static int print_apps(json_t *answer)
{
	static const struct column cols[] = {
		{"CLIENT-ID", "client_id", CELL_TEXT},
		{"NAME", "name", CELL_TEXT},
		{"DISPLAY-NAME", "display_name", CELL_TEXT},
		{"ENABLED", "enabled", CELL_BOOL},
		{"DEPLOYMENT", "deployment", CELL_DEPLOY},
	};
	return print_table(answer, "apps", cols, NCOLS(cols));
}

static int print_sessions(json_t *answer)
{
	static const struct column cols[] = {
		{"SID", "sid", CELL_TEXT},
		{"AUTH-TIME", "auth_time", CELL_TIME},
		{"AMR", "amr", CELL_LIST},
	};
	return print_table(answer, "sessions", cols, NCOLS(cols));
}

static int print_audit(json_t *answer)
{
	static const struct column cols[] = {
		{"TIME", "ts", CELL_TIME},
		{"ACTOR", "actor", CELL_TEXT},
		{"ACTION", "action", CELL_TEXT},
		{"TARGET", "target", CELL_TEXT},
	};
	return print_table(answer, "events", cols, NCOLS(cols));
}

/* The signing key of af_keyring_status(): kid, expiry, days, alert. */
static int print_key_status(const json_t *st)
{
	const char *kid = json_string_value(json_object_get(st, "signing_kid"));
	const json_t *keys = json_object_get(st, "keys"), *k, *exp = NULL;
	const json_t *days = json_object_get(st, "expires_in_days");
	char when[TIME_BUF];
	json_int_t n = json_integer_value(days);
	size_t i;
	int rc;

	if (!json_is_object(st) || !json_is_integer(days))
		return bad_answer();
	for (i = 0; kid != NULL && i < json_array_size(keys); i++) {
		k = json_array_get(keys, i);
		if (json_is_true(json_object_get(k, "signing")))
			exp = json_object_get(k, "expires_at");
	}
	af_ctl_time(exp, when, sizeof(when));
	rc = put_line("", "signing_kid", kid != NULL ? kid : "none");
	if (rc == AF_CTL_EXIT_OK)
		rc = put_line("", "expires_at", when);
	if (rc == AF_CTL_EXIT_OK)
		rc = put_value("", "days_left", days);
	if (rc != AF_CTL_EXIT_OK || !json_is_true(json_object_get(st, "alert")))
		return rc;
	if (kid == NULL)
		printf("ALERT: there is no current signing key\n");
	else if (n < 0)
		printf("ALERT: the signing key expired %" JSON_INTEGER_FORMAT
		       " days ago\n",
		       -n);
	else
		printf("ALERT: the signing key expires in %" JSON_INTEGER_FORMAT
		       " days\n",
		       n);
	return AF_CTL_EXIT_OK;
}

static int print_keys(json_t *answer)
{
	return print_key_status(answer);
}

static int print_rotated_key(json_t *answer)
{
	const json_t *kid = json_object_get(answer, "kid");
	int rc;

	if (!json_is_string(kid))
		return bad_answer();
	rc = put_value("", "kid", kid);
	return rc != AF_CTL_EXIT_OK ? rc : print_key_status(answer);
}

static int print_status(json_t *answer)
{
	static const char *const top[] = {"issuer", "version"};
	const json_t *store = json_object_get(answer, "store");
	const char *backend =
		json_string_value(json_object_get(store, "backend"));
	char line[128];
	size_t i;
	int rc = AF_CTL_EXIT_OK;

	for (i = 0; i < NCOLS(top) && rc == AF_CTL_EXIT_OK; i++)
		rc = put_value("", top[i], json_object_get(answer, top[i]));
	snprintf(line, sizeof(line), "%s, %s", backend ? backend : "-",
		 json_is_true(json_object_get(store, "ok")) ? "ok" : "DOWN");
	if (rc == AF_CTL_EXIT_OK)
		rc = put_line("", "store", line);
	if (rc == AF_CTL_EXIT_OK)
		rc = put_value("", "users", json_object_get(answer, "users"));
	if (rc == AF_CTL_EXIT_OK)
		rc = put_value("", "apps", json_object_get(answer, "apps"));
	if (rc == AF_CTL_EXIT_OK)
		rc = print_key_status(json_object_get(answer, "keys"));
	return rc;
}

/* Once only, the warning that goes with a new client secret. */
static void secret_warning(void)
{
	fprintf(stderr, "authflowctl: the client secret is shown only once: "
			"store it safely now\n");
}

/* The three lines of `app add`, then the warning on stderr. */
static int print_new_app(json_t *answer)
{
	static const char *const keys[] = {"client_id", "client_secret",
					   "metadata_url"};
	size_t i;
	int rc = AF_CTL_EXIT_OK;

	for (i = 0; i < NCOLS(keys); i++) {
		if (!json_is_string(json_object_get(answer, keys[i])))
			return bad_answer();
	}
	for (i = 0; i < NCOLS(keys) && rc == AF_CTL_EXIT_OK; i++)
		rc = put_value("", keys[i], json_object_get(answer, keys[i]));
	if (rc == AF_CTL_EXIT_OK)
		secret_warning();
	return rc;
}

static int print_new_secret(json_t *answer)
{
	const json_t *id = json_object_get(answer, "client_id");
	const json_t *secret = json_object_get(answer, "client_secret");
	int rc;

	if (!json_is_string(id) || !json_is_string(secret))
		return bad_answer();
	rc = put_value("", "client_id", id);
	if (rc == AF_CTL_EXIT_OK)
		rc = put_value("", "client_secret", secret);
	if (rc == AF_CTL_EXIT_OK)
		secret_warning();
	return rc;
}

/* ---- the command frame ---- */

static int run_simple(af_ctl *ctl, int argc, char **argv,
		      const struct simple *s)
{
	static const struct option opts[] = {OPT_END};
	char path[PATH_BUF];
	struct optparse p;
	const char *a, *b;
	int rc;

	opt_begin(&p, s->cmd, argc, argv, opts);
	if (next_opt(ctl, &p) == OPT_STOP)
		return p.rc;
	rc = want_args(&p, s->nargs, s->args);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	a = s->nargs > 0 ? argv[optind] : NULL;
	b = s->nargs > 1 ? argv[optind + 1] : NULL;
	rc = make_path(ctl, path, s->tmpl, a, b);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	return call_print(ctl, s->method, path, NULL, s->print);
}

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
		if (strcmp(argv[1], verbs[i].name) != 0)
			continue;
		if (verbs[i].simple != NULL)
			return run_simple(ctl, argc - 1, argv + 1,
					  verbs[i].simple);
		return verbs[i].run(ctl, argc - 1, argv + 1);
	}
	return af_ctl_usage_fail("%s: unknown command '%s'", group, argv[1]);
}

/* Sends body to the path of tmpl and one name, then prints. */
static int send_named(af_ctl *ctl, const char *method, const char *tmpl,
		      const char *name, const json_t *body, printer_fn print)
{
	char path[PATH_BUF];
	int rc;

	rc = make_path(ctl, path, tmpl, name, NULL);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	return call_print(ctl, method, path, body, print);
}

/* ---- passwords ---- */

static int password_status(af_ctl_status st)
{
	switch (st) {
	case AF_CTL_OK:
		return AF_CTL_EXIT_OK;
	case AF_CTL_ERR_EMPTY:
		return af_ctl_fail(AF_CTL_EXIT_USAGE, "no password given");
	case AF_CTL_ERR_TOO_LONG:
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "the password is longer than %d bytes",
				   AF_CTL_PASSWORD_MAX);
	case AF_CTL_ERR_ARG:
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "the password holds a NUL byte");
	default:
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "cannot read the password");
	}
}

/* Reads a line from the terminal with echo off. */
static int read_hidden(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	af_ctl_status st;

	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "cannot turn off echo on the terminal");
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	/* The newline the user types still shows, so the prompt ends. */
	quiet.c_lflag |= ECHONL;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "cannot turn off echo on the terminal");
	st = af_ctl_read_line(stdin, buf, cap);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &old) != 0 && st == AF_CTL_OK) {
		OPENSSL_cleanse(buf, cap);
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "cannot turn echo back on");
	}
	return password_status(st);
}

/*
 * A new password into pw (PASSWORD_BUF bytes): one line of standard input
 * with --password-stdin or when it is not a terminal, else typed twice
 * without echo. pw is wiped on every error; the caller wipes it after use.
 */
static int read_password(int from_stdin, char *pw)
{
	char again[PASSWORD_BUF];
	int rc;

	/* Unbuffered, so no copy of the password stays in stdio's buffer. */
	setvbuf(stdin, NULL, _IONBF, 0);
	if (from_stdin || !isatty(STDIN_FILENO))
		return password_status(
			af_ctl_read_line(stdin, pw, PASSWORD_BUF));
	rc = read_hidden("New password: ", pw, PASSWORD_BUF);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	rc = read_hidden("Again: ", again, sizeof(again));
	if (rc == AF_CTL_EXIT_OK && !af_ct_streq(pw, again))
		rc = af_ctl_fail(AF_CTL_EXIT_USAGE, "the two passwords differ");
	OPENSSL_cleanse(again, sizeof(again));
	if (rc != AF_CTL_EXIT_OK)
		OPENSSL_cleanse(pw, PASSWORD_BUF);
	return rc;
}

/* Reads a password and sets obj["password"]; every copy is wiped. */
static int add_password(json_t *obj, int from_stdin)
{
	char pw[PASSWORD_BUF];
	json_t *v;
	int rc;

	rc = read_password(from_stdin, pw);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	v = json_string(pw);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (v == NULL)
		return af_ctl_fail(AF_CTL_EXIT_USAGE,
				   "the password is not valid UTF-8");
	if (json_object_set_new(obj, "password", v) != 0)
		return no_memory();
	return AF_CTL_EXIT_OK;
}

/* ---- status ---- */

int af_ctl_cmd_status(af_ctl *ctl, int argc, char **argv)
{
	static const struct simple s = {"status", NULL,	    0,
					"GET",	  "status", print_status};

	return run_simple(ctl, argc, argv, &s);
}

/* ---- users ---- */

/* The options user add and user set share; 1 when c was one of them. */
static int user_field(json_t *spec, int c, const char *cmd, int *rc)
{
	switch (c) {
	case 'n':
		*rc = set_string(spec, "name", optarg, cmd, "--name");
		return 1;
	case 'e':
		*rc = set_string(spec, "email", optarg, cmd, "--email");
		return 1;
	case 'd':
		*rc = set_string(spec, "domain", optarg, cmd, "--domain");
		return 1;
	case 'o':
		*rc = append(spec, "ous", optarg, cmd, "--ou");
		return 1;
	case 'g':
		*rc = append(spec, "groups", optarg, cmd, "--group");
		return 1;
	default:
		return 0;
	}
}

static int user_add(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"email", required_argument, NULL, 'e'},
		{"email-verified", no_argument, NULL, 'V'},
		{"domain", required_argument, NULL, 'd'},
		{"ou", required_argument, NULL, 'o'},
		{"group", required_argument, NULL, 'g'},
		{"password-stdin", no_argument, NULL, 'P'},
		{"disabled", no_argument, NULL, 'D'},
		OPT_END,
	};
	json_t *spec = json_object();
	struct optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK, pw_stdin = 0;

	if (spec == NULL)
		return no_memory();
	opt_begin(&p, "user add", argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = next_opt(ctl, &p);
		if (c == -1 || c == OPT_STOP)
			break;
		if (c == 'V')
			rc = set_bool(spec, "email_verified", 1);
		else if (c == 'D')
			rc = set_bool(spec, "enabled", 0);
		else if (c == 'P')
			pw_stdin = 1;
		else if (!user_field(spec, c, p.cmd, &rc))
			rc = af_ctl_usage_fail("user add: bad option");
	}
	if (c == OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = want_args(&p, 1, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = set_string(spec, "username", argv[optind], p.cmd, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = need_token(ctl);
	if (rc == AF_CTL_EXIT_OK && pw_stdin)
		rc = add_password(spec, 1);
	if (rc == AF_CTL_EXIT_OK)
		rc = call_print(ctl, "POST", "users", spec, print_kv);
out:
	json_decref(spec);
	return rc;
}

static int user_set(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"email", required_argument, NULL, 'e'},
		{"email-verified", required_argument, NULL, 'V'},
		{"domain", required_argument, NULL, 'd'},
		{"enabled", required_argument, NULL, 'E'},
		{"ou", required_argument, NULL, 'o'},
		{"group", required_argument, NULL, 'g'},
		OPT_END,
	};
	json_t *patch = json_object();
	struct optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (patch == NULL)
		return no_memory();
	opt_begin(&p, "user set", argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = next_opt(ctl, &p);
		if (c == -1 || c == OPT_STOP)
			break;
		if (c == 'V')
			rc = set_onoff(patch, "email_verified", optarg, p.cmd,
				       "--email-verified");
		else if (c == 'E')
			rc = set_onoff(patch, "enabled", optarg, p.cmd,
				       "--enabled");
		else if (!user_field(patch, c, p.cmd, &rc))
			rc = af_ctl_usage_fail("user set: bad option");
	}
	if (c == OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = want_args(&p, 1, "NAME");
	if (rc == AF_CTL_EXIT_OK && json_object_size(patch) == 0)
		rc = af_ctl_usage_fail("user set: nothing to change");
	if (rc == AF_CTL_EXIT_OK)
		rc = send_named(ctl, "PATCH", "users/{}", argv[optind], patch,
				print_kv);
out:
	json_decref(patch);
	return rc;
}

static int user_passwd(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"password-stdin", no_argument, NULL, 'P'},
		OPT_END,
	};
	char path[PATH_BUF];
	json_t *body = NULL;
	struct optparse p;
	int c, rc, pw_stdin = 0;

	opt_begin(&p, "user passwd", argc, argv, opts);
	for (;;) {
		c = next_opt(ctl, &p);
		if (c == -1)
			break;
		if (c == OPT_STOP)
			return p.rc;
		pw_stdin = 1;
	}
	rc = want_args(&p, 1, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = make_path(ctl, path, "users/{}/password", argv[optind],
			       NULL);
	/* Refuse before the password is typed, not after. */
	if (rc == AF_CTL_EXIT_OK)
		rc = need_token(ctl);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	body = json_object();
	if (body == NULL)
		return no_memory();
	rc = add_password(body, pw_stdin);
	if (rc == AF_CTL_EXIT_OK)
		rc = call_print(ctl, "PUT", path, body, print_nothing);
	json_decref(body);
	return rc;
}

int af_ctl_cmd_user(af_ctl *ctl, int argc, char **argv)
{
	static const struct simple list = {"user list", NULL,	 0,
					   "GET",	"users", print_users};
	static const struct simple show = {"user show", "NAME",	    1,
					   "GET",	"users/{}", print_kv};
	static const struct simple rm = {
		"user remove", "NAME", 1, "DELETE", "users/{}", print_nothing};
	static const struct simple unlock = {
		"user unlock",	   "NAME",	 1, "POST",
		"users/{}/unlock", print_nothing};
	static const struct verb verbs[] = {
		{"add", user_add, NULL},       {"list", NULL, &list},
		{"show", NULL, &show},	       {"remove", NULL, &rm},
		{"unlock", NULL, &unlock},     {"set", user_set, NULL},
		{"passwd", user_passwd, NULL},
	};

	return run_verb(ctl, "user", verbs, NCOLS(verbs), argc, argv);
}

/* ---- groups and OUs ---- */

static int group_add(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"description", required_argument, NULL, 'D'},
		OPT_END,
	};
	json_t *spec = json_object();
	struct optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (spec == NULL)
		return no_memory();
	opt_begin(&p, "group add", argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = next_opt(ctl, &p);
		if (c == -1 || c == OPT_STOP)
			break;
		rc = set_string(spec, "description", optarg, p.cmd,
				"--description");
	}
	if (c == OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = want_args(&p, 1, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = set_string(spec, "name", argv[optind], p.cmd, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = call_print(ctl, "POST", "groups", spec, print_kv);
out:
	json_decref(spec);
	return rc;
}

int af_ctl_cmd_group(af_ctl *ctl, int argc, char **argv)
{
	static const struct simple list = {"group list", NULL,	      0, "GET",
					   "groups",	 print_groups};
	static const struct simple show = {"group show", "NAME",      1,
					   "GET",	 "groups/{}", print_kv};
	static const struct simple rm = {
		"group remove", "NAME",	     1,
		"DELETE",	"groups/{}", print_nothing};
	static const struct simple add_member = {
		"group add-member",	"NAME and USER", 2, "PUT",
		"groups/{}/members/{}", print_nothing};
	static const struct simple remove_member = {
		"group remove-member",	"NAME and USER", 2, "DELETE",
		"groups/{}/members/{}", print_nothing};
	static const struct verb verbs[] = {
		{"add", group_add, NULL},
		{"list", NULL, &list},
		{"show", NULL, &show},
		{"remove", NULL, &rm},
		{"add-member", NULL, &add_member},
		{"remove-member", NULL, &remove_member},
	};

	return run_verb(ctl, "group", verbs, NCOLS(verbs), argc, argv);
}

static int ou_add(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {OPT_END};
	json_t *spec = NULL;
	struct optparse p;
	int rc;

	opt_begin(&p, "ou add", argc, argv, opts);
	if (next_opt(ctl, &p) == OPT_STOP)
		return p.rc;
	rc = want_args(&p, 1, "NAME");
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	spec = json_object();
	if (spec == NULL)
		return no_memory();
	rc = set_string(spec, "name", argv[optind], p.cmd, "NAME");
	if (rc == AF_CTL_EXIT_OK)
		rc = call_print(ctl, "POST", "ous", spec, print_kv);
	json_decref(spec);
	return rc;
}

int af_ctl_cmd_ou(af_ctl *ctl, int argc, char **argv)
{
	static const struct simple list = {"ou list", NULL,  0,
					   "GET",     "ous", print_ous};
	static const struct simple show = {"ou show", "NAME",	1,
					   "GET",     "ous/{}", print_kv};
	static const struct simple rm = {"ou remove", "NAME",	1,
					 "DELETE",    "ous/{}", print_nothing};
	static const struct simple add_member = {
		"ou add-member", "NAME and USER",     2,
		"PUT",		 "ous/{}/members/{}", print_nothing};
	static const struct simple remove_member = {
		"ou remove-member", "NAME and USER",	 2,
		"DELETE",	    "ous/{}/members/{}", print_nothing};
	static const struct verb verbs[] = {
		{"add", ou_add, NULL},
		{"list", NULL, &list},
		{"show", NULL, &show},
		{"remove", NULL, &rm},
		{"add-member", NULL, &add_member},
		{"remove-member", NULL, &remove_member},
	};

	return run_verb(ctl, "ou", verbs, NCOLS(verbs), argc, argv);
}

/* ---- policies ---- */

/* policy add (need_both) and policy set: --sso and --remote-access. */
static int policy_edit(af_ctl *ctl, int argc, char **argv, int is_add)
{
	static const struct option opts[] = {
		{"sso", required_argument, NULL, 's'},
		{"remote-access", required_argument, NULL, 'r'},
		OPT_END,
	};
	const char *cmd = is_add ? "policy add" : "policy set";
	json_t *spec = json_object();
	struct optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (spec == NULL)
		return no_memory();
	opt_begin(&p, cmd, argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = next_opt(ctl, &p);
		if (c == -1 || c == OPT_STOP)
			break;
		if (c == 's')
			rc = set_onoff(spec, "sso", optarg, cmd, "--sso");
		else
			rc = set_onoff(spec, "remote_access", optarg, cmd,
				       "--remote-access");
	}
	if (c == OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = want_args(&p, 1, "NAME");
	if (rc == AF_CTL_EXIT_OK && is_add && json_object_size(spec) != 2)
		rc = af_ctl_usage_fail("%s: --sso and --remote-access are "
				       "required",
				       cmd);
	if (rc == AF_CTL_EXIT_OK && !is_add && json_object_size(spec) == 0)
		rc = af_ctl_usage_fail("%s: nothing to change", cmd);
	if (rc == AF_CTL_EXIT_OK && is_add) {
		rc = set_string(spec, "name", argv[optind], cmd, "NAME");
		if (rc == AF_CTL_EXIT_OK)
			rc = call_print(ctl, "POST", "policies", spec,
					print_kv);
	} else if (rc == AF_CTL_EXIT_OK) {
		rc = send_named(ctl, "PATCH", "policies/{}", argv[optind], spec,
				print_kv);
	}
out:
	json_decref(spec);
	return rc;
}

static int policy_add(af_ctl *ctl, int argc, char **argv)
{
	return policy_edit(ctl, argc, argv, 1);
}

static int policy_set(af_ctl *ctl, int argc, char **argv)
{
	return policy_edit(ctl, argc, argv, 0);
}

/* policy assign / unassign NAME with exactly one of --user --group --ou. */
static int policy_target(af_ctl *ctl, int argc, char **argv, const char *op)
{
	static const struct option opts[] = {
		{"user", required_argument, NULL, 'u'},
		{"group", required_argument, NULL, 'g'},
		{"ou", required_argument, NULL, 'o'},
		OPT_END,
	};
	const char *cmd =
		strcmp(op, "assign") == 0 ? "policy assign" : "policy unassign";
	const char *tmpl = strcmp(op, "assign") == 0 ? "policies/{}/assign"
						     : "policies/{}/unassign";
	json_t *body = json_object();
	struct optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (body == NULL)
		return no_memory();
	opt_begin(&p, cmd, argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = next_opt(ctl, &p);
		if (c == -1 || c == OPT_STOP)
			break;
		if (json_object_size(body) != 0)
			rc = af_ctl_usage_fail("%s: give one of --user, "
					       "--group, --ou",
					       cmd);
		else
			rc = set_string(body,
					c == 'u'   ? "user"
					: c == 'g' ? "group"
						   : "ou",
					optarg, cmd, "--user/--group/--ou");
	}
	if (c == OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = want_args(&p, 1, "NAME");
	if (rc == AF_CTL_EXIT_OK && json_object_size(body) != 1)
		rc = af_ctl_usage_fail("%s: give one of --user, --group, --ou",
				       cmd);
	if (rc == AF_CTL_EXIT_OK)
		rc = send_named(ctl, "POST", tmpl, argv[optind], body,
				print_kv);
out:
	json_decref(body);
	return rc;
}

static int policy_assign(af_ctl *ctl, int argc, char **argv)
{
	return policy_target(ctl, argc, argv, "assign");
}

static int policy_unassign(af_ctl *ctl, int argc, char **argv)
{
	return policy_target(ctl, argc, argv, "unassign");
}

int af_ctl_cmd_policy(af_ctl *ctl, int argc, char **argv)
{
	static const struct simple list = {
		"policy list", NULL, 0, "GET", "policies", print_policies};
	static const struct simple show = {"policy show", "NAME",  1, "GET",
					   "policies/{}", print_kv};
	static const struct simple rm = {
		"policy remove", "NAME",	1,
		"DELETE",	 "policies/{}", print_nothing};
	static const struct verb verbs[] = {
		{"add", policy_add, NULL},
		{"list", NULL, &list},
		{"show", NULL, &show},
		{"set", policy_set, NULL},
		{"remove", NULL, &rm},
		{"assign", policy_assign, NULL},
		{"unassign", policy_unassign, NULL},
	};

	return run_verb(ctl, "policy", verbs, NCOLS(verbs), argc, argv);
}

/* ---- applications ---- */

/* The options app add and app set share; 1 when c was one of them. */
static int app_field(json_t *spec, int c, const char *cmd, int *rc)
{
	switch (c) {
	case 'D':
		*rc = set_string(spec, "display_name", optarg, cmd,
				 "--display-name");
		return 1;
	case 'r':
		*rc = append(spec, "redirect_uris", optarg, cmd,
			     "--redirect-uri");
		return 1;
	case 'l':
		*rc = append(spec, "post_logout_uris", optarg, cmd,
			     "--post-logout-uri");
		return 1;
	default:
		return 0;
	}
}

static int add_claim(json_t *spec, const char *arg)
{
	json_t *claims = json_object_get(spec, "claims");

	if (claims == NULL) {
		claims = json_object();
		if (claims == NULL ||
		    json_object_set_new(spec, "claims", claims) != 0)
			return no_memory();
	}
	return opt_value(af_ctl_claim(claims, arg), "app add", "--claim", arg);
}

static int app_add(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"display-name", required_argument, NULL, 'D'},
		{"redirect-uri", required_argument, NULL, 'r'},
		{"post-logout-uri", required_argument, NULL, 'l'},
		{"allow-refresh", no_argument, NULL, 'R'},
		{"jwt-access-tokens", no_argument, NULL, 'J'},
		{"admins-may-deploy", no_argument, NULL, 'A'},
		{"claim", required_argument, NULL, 'c'},
		OPT_END,
	};
	json_t *spec = json_object();
	struct optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (spec == NULL)
		return no_memory();
	opt_begin(&p, "app add", argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = next_opt(ctl, &p);
		if (c == -1 || c == OPT_STOP)
			break;
		if (c == 'n')
			rc = set_string(spec, "name", optarg, p.cmd, "--name");
		else if (c == 'R')
			rc = set_bool(spec, "allow_refresh", 1);
		else if (c == 'A')
			rc = set_bool(spec, "admins_may_deploy", 1);
		else if (c == 'J')
			rc = set_string(spec, "access_token_format", "jwt",
					p.cmd, "--jwt-access-tokens");
		else if (c == 'c')
			rc = add_claim(spec, optarg);
		else if (!app_field(spec, c, p.cmd, &rc))
			rc = af_ctl_usage_fail("app add: bad option");
	}
	if (c == OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = want_args(&p, 0, "");
	if (rc == AF_CTL_EXIT_OK && json_object_get(spec, "name") == NULL)
		rc = af_ctl_usage_fail("app add: --name is required");
	if (rc == AF_CTL_EXIT_OK &&
	    json_object_get(spec, "redirect_uris") == NULL)
		rc = af_ctl_usage_fail("app add: at least one --redirect-uri "
				       "is required");
	if (rc == AF_CTL_EXIT_OK)
		rc = call_print(ctl, "POST", "apps", spec, print_new_app);
out:
	json_decref(spec);
	return rc;
}

static int app_set(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"display-name", required_argument, NULL, 'D'},
		{"redirect-uri", required_argument, NULL, 'r'},
		{"post-logout-uri", required_argument, NULL, 'l'},
		{"enabled", required_argument, NULL, 'E'},
		{"allow-refresh", required_argument, NULL, 'R'},
		{"admins-may-deploy", required_argument, NULL, 'A'},
		OPT_END,
	};
	json_t *patch = json_object();
	struct optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (patch == NULL)
		return no_memory();
	opt_begin(&p, "app set", argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = next_opt(ctl, &p);
		if (c == -1 || c == OPT_STOP)
			break;
		if (c == 'E')
			rc = set_onoff(patch, "enabled", optarg, p.cmd,
				       "--enabled");
		else if (c == 'R')
			rc = set_onoff(patch, "allow_refresh", optarg, p.cmd,
				       "--allow-refresh");
		else if (c == 'A')
			rc = set_onoff(patch, "admins_may_deploy", optarg,
				       p.cmd, "--admins-may-deploy");
		else if (!app_field(patch, c, p.cmd, &rc))
			rc = af_ctl_usage_fail("app set: bad option");
	}
	if (c == OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = want_args(&p, 1, "ID");
	if (rc == AF_CTL_EXIT_OK && json_object_size(patch) == 0)
		rc = af_ctl_usage_fail("app set: nothing to change");
	if (rc == AF_CTL_EXIT_OK)
		rc = send_named(ctl, "PATCH", "apps/{}", argv[optind], patch,
				print_kv);
out:
	json_decref(patch);
	return rc;
}

/* The body member and the option of a deployment target's option. */
static const char *target_member(int c)
{
	return c == 'd'	  ? "domains"
	       : c == 'o' ? "ous"
	       : c == 'g' ? "groups"
			  : "users";
}

static const char *target_option(int c)
{
	return c == 'd'	  ? "--domain"
	       : c == 'o' ? "--ou"
	       : c == 'g' ? "--group"
			  : "--user";
}

/* The targets of app deploy / undeploy, always all four arrays. */
static json_t *deploy_body(void)
{
	return json_pack("{s:[], s:[], s:[], s:[]}", "domains", "ous", "groups",
			 "users");
}

static int app_target(af_ctl *ctl, int argc, char **argv, const char *op)
{
	static const struct option opts[] = {
		{"all", no_argument, NULL, 'a'},
		{"domain", required_argument, NULL, 'd'},
		{"ou", required_argument, NULL, 'o'},
		{"group", required_argument, NULL, 'g'},
		{"user", required_argument, NULL, 'u'},
		OPT_END,
	};
	const int deploy = strcmp(op, "deploy") == 0;
	const char *cmd = deploy ? "app deploy" : "app undeploy";
	json_t *body = deploy_body();
	struct optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK, all = 0, some = 0;

	if (body == NULL)
		return no_memory();
	opt_begin(&p, cmd, argc, argv, opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = next_opt(ctl, &p);
		if (c == -1 || c == OPT_STOP)
			break;
		if (c == 'a') {
			all = 1;
			continue;
		}
		some = 1;
		rc = append(body, target_member(c), optarg, cmd,
			    target_option(c));
	}
	if (c == OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = want_args(&p, 1, "ID");
	if (rc == AF_CTL_EXIT_OK && all == (some > 0))
		rc = af_ctl_usage_fail("%s: give --all, or one or more of "
				       "--domain, --ou, --group, --user",
				       cmd);
	if (rc == AF_CTL_EXIT_OK && all) {
		json_decref(body);
		body = json_pack("{s:b}", "all", 1);
		if (body == NULL)
			rc = no_memory();
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = send_named(ctl, "POST",
				deploy ? "apps/{}/deploy" : "apps/{}/undeploy",
				argv[optind], body, print_kv);
out:
	json_decref(body);
	return rc;
}

static int app_deploy(af_ctl *ctl, int argc, char **argv)
{
	return app_target(ctl, argc, argv, "deploy");
}

static int app_undeploy(af_ctl *ctl, int argc, char **argv)
{
	return app_target(ctl, argc, argv, "undeploy");
}

int af_ctl_cmd_app(af_ctl *ctl, int argc, char **argv)
{
	static const struct simple list = {"app list", NULL,   0,
					   "GET",      "apps", print_apps};
	static const struct simple show = {"app show", "ID",	  1,
					   "GET",      "apps/{}", print_kv};
	static const struct simple rm = {
		"app remove", "ID", 1, "DELETE", "apps/{}", print_nothing};
	static const struct simple rotate = {
		"app rotate-secret", "ID", 1, "POST", "apps/{}/rotate-secret",
		print_new_secret};
	static const struct verb verbs[] = {
		{"add", app_add, NULL},
		{"list", NULL, &list},
		{"show", NULL, &show},
		{"remove", NULL, &rm},
		{"rotate-secret", NULL, &rotate},
		{"set", app_set, NULL},
		{"deploy", app_deploy, NULL},
		{"undeploy", app_undeploy, NULL},
	};

	return run_verb(ctl, "app", verbs, NCOLS(verbs), argc, argv);
}

/* ---- keys, sessions, audit ---- */

int af_ctl_cmd_keys(af_ctl *ctl, int argc, char **argv)
{
	static const struct simple status = {"keys status", NULL,   0,
					     "GET",	    "keys", print_keys};
	static const struct simple rotate = {
		"keys rotate", NULL,	      0,
		"POST",	       "keys/rotate", print_rotated_key};
	static const struct verb verbs[] = {
		{"status", NULL, &status},
		{"rotate", NULL, &rotate},
	};

	return run_verb(ctl, "keys", verbs, NCOLS(verbs), argc, argv);
}

static int print_ended(json_t *answer)
{
	if (!json_is_integer(json_object_get(answer, "ended")))
		return bad_answer();
	return print_kv(answer);
}

int af_ctl_cmd_sessions(af_ctl *ctl, int argc, char **argv)
{
	static const struct simple list = {
		"sessions list",    "USER",	   1, "GET",
		"sessions?user={}", print_sessions};
	static const struct simple end = {
		"sessions end",	    "USER",	1, "DELETE",
		"sessions?user={}", print_ended};
	static const struct verb verbs[] = {
		{"list", NULL, &list},
		{"end", NULL, &end},
	};

	return run_verb(ctl, "sessions", verbs, NCOLS(verbs), argc, argv);
}

int af_ctl_cmd_audit(af_ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"limit", required_argument, NULL, 'n'},
		OPT_END,
	};
	char path[64];
	struct optparse p;
	long limit = 50;
	int c, rc;

	opt_begin(&p, "audit", argc, argv, opts);
	for (;;) {
		c = next_opt(ctl, &p);
		if (c == -1)
			break;
		if (c == OPT_STOP)
			return p.rc;
		if (af_ctl_parse_long(optarg, 1, AUDIT_LIMIT_MAX, &limit) !=
		    AF_CTL_OK)
			return af_ctl_usage_fail("audit: --limit must be "
						 "1..%d, not '%s'",
						 AUDIT_LIMIT_MAX, optarg);
	}
	rc = want_args(&p, 0, "");
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	snprintf(path, sizeof(path), "audit?limit=%ld", limit);
	return call_print(ctl, "GET", path, NULL, print_audit);
}
