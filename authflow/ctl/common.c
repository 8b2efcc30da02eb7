/*
 * The command frame of authflowctl (common.h): options, requests, the
 * one failure line, "key: value" lines, tables and verb dispatch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "args.h"
#include "common.h"
#include "common/cli.h"
#include "table.h"

#define VALUE_BUF    32 /* a printed number or time */
#define LIMIT_BUF    64 /* a listing's path with "?limit=N" */
#define KV_DEPTH_MAX 4	/* nesting of objects printed as a.b.c */

/* ---- failures ---- */

int af_ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = af_cli_vfail(af_ctl_prog.name, AF_CLI_MSG_MAX, code, NULL, fmt,
			  ap);
	va_end(ap);
	return rc;
}

int af_ctl_usage_fail(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = af_cli_vfail(af_ctl_prog.name, AF_CLI_MSG_MAX, AF_CTL_EXIT_USAGE,
			  " (see 'authflowctl --help')", fmt, ap);
	va_end(ap);
	return rc;
}

int af_ctl_no_memory(void)
{
	return af_ctl_fail(AF_CTL_EXIT_REFUSED, "out of memory");
}

int af_ctl_bad_answer(void)
{
	return af_ctl_fail(AF_CTL_EXIT_UNREACHABLE,
			   "unexpected answer from the server: is --url an "
			   "authflow admin API?");
}

/* ---- options ---- */

void af_ctl_opt_begin(af_cli_optparse *p, const char *cmd, int argc,
		      char **argv, const struct option *opts)
{
	af_cli_opt_begin(p, &af_ctl_prog, cmd, argc, argv, opts);
}

/*
 * The next option of the command: its value, -1 after the last one, or
 * AF_CTL_OPT_STOP with the exit status in p->rc (--help, or a usage
 * error). --json after the command counts as before it.
 */
int af_ctl_next_opt(af_ctl *ctl, af_cli_optparse *p)
{
	int c;

	for (;;) {
		c = af_cli_next_opt(p);
		if (c != AF_CTL_OPT_JSON)
			return c;
		ctl->json = 1;
	}
}

/* ---- requests ---- */

int af_ctl_need_token(const af_ctl *ctl)
{
	if (ctl->http == NULL)
		return af_ctl_fail(AF_CTL_EXIT_USAGE, "no server URL");
	if (!ctl->have_token)
		return af_ctl_usage_fail("no admin token: set "
					 "AUTHFLOW_ADMIN_TOKEN or use --token");
	return AF_CTL_EXIT_OK;
}

/* Fills path from tmpl and up to two names; the exit status. */
int af_ctl_make_path(const af_ctl *ctl, char *path, const char *tmpl,
		     const char *a, const char *b)
{
	const char *args[2] = {a, b};
	size_t n = a == NULL ? 0 : (b == NULL ? 1 : 2);
	af_ctl_http_status st;

	st = af_ctl_http_path(ctl->http, path, AF_CTL_PATH_BUF, tmpl, args, n);
	if (st == AF_CTL_HTTP_OK)
		return AF_CTL_EXIT_OK;
	if (st == AF_CTL_HTTP_ERR_TOO_LONG)
		return af_ctl_usage_fail("name too long");
	if (st == AF_CTL_HTTP_ERR_ARG)
		return af_ctl_usage_fail("empty name");
	return af_ctl_fail(AF_CTL_EXIT_REFUSED, "%s", af_ctl_http_strerror(st));
}

/* Whether a 503's message is the store's failure alone, or none. */
static int store_failure_only(const char *msg)
{
	static const char *const generic[] = {
		"state store failure",
		"the state store is unavailable",
		"store unavailable",
	};
	size_t i;

	if (msg == NULL || msg[0] == '\0')
		return 1;
	for (i = 0; i < AF_CTL_NELEMS(generic); i++) {
		if (strcmp(msg, generic[i]) == 0)
			return 1;
	}
	return 0;
}

/*
 * The one line for a 503 "unavailable" of the admin API: the server could
 * not use its state store. A change takes several writes, and the store
 * may have failed after the first: so a change is said to be not made or
 * made in part, to be looked at before it is made again. A server that
 * knows what it did says so in its message ("..., but the audit event
 * could not be written"), which is then passed on as it is.
 */
static int store_down(const char *method, const char *msg)
{
	/* Made, in part at least: done again it would be done twice. */
	if (!store_failure_only(msg))
		return af_ctl_fail(AF_CTL_EXIT_REFUSED,
				   "the server could not reach its state "
				   "store: %s",
				   msg);
	return af_ctl_fail(AF_CTL_EXIT_LATER,
			   "the server could not reach its state store (%s)%s",
			   msg != NULL && msg[0] != '\0' ? msg : "HTTP 503",
			   strcmp(method, "GET") == 0
				   ? ": try again, or check the store"
				   : ", so the change was not made, or only in "
				     "part: check the store, look, and try "
				     "again");
}

/*
 * The exit status of a refusal with HTTP status, for a script to branch
 * on: not there, in the way, or not now.
 */
static int refusal_exit(long status)
{
	switch (status) {
	case 404:
		return AF_CTL_EXIT_NOT_FOUND;
	case 409:
		return AF_CTL_EXIT_CONFLICT;
	case 429:
	case 502:
	case 503:
	case 504:
		return AF_CTL_EXIT_LATER;
	default:
		return AF_CTL_EXIT_REFUSED;
	}
}

/*
 * The exit status for an answer outside 2xx, after its one line: a
 * redirect means the URL is wrong, since redirects are not followed, and
 * a 404 without the admin API's message is a route it does not have.
 */
static int refused(const char *method, long status, const json_t *answer)
{
	static const struct {
		long status;
		const char *text;
	} known[] = {
		{401, "the server refused the admin token"},
		{413, "the request is too large for the server"},
		{429, "too many requests: try again later"},
		{502, "a proxy could not reach the server"},
		{503, "the server is unavailable: try again later"},
		{504, "a proxy timed out waiting for the server"},
	};
	const char *msg = json_string_value(json_object_get(answer, "message"));
	const char *code = json_string_value(json_object_get(answer, "error"));
	size_t i;

	if (status < 400)
		return af_ctl_fail(
			AF_CTL_EXIT_UNREACHABLE,
			"the server answered HTTP %ld; redirects are "
			"not followed: check --url",
			status);
	if (status == 503 && code != NULL && strcmp(code, "unavailable") == 0)
		return store_down(method, msg);
	/* The admin API's answer for a route it does not have. */
	if (status == 404 && msg != NULL &&
	    strcmp(msg, "no such resource") == 0)
		return af_ctl_fail(AF_CTL_EXIT_UNREACHABLE,
				   "the server has no such route: is it an "
				   "older authflow? (HTTP 404)");
	/* In the way for now only: it says when to try again. */
	if (msg != NULL && msg[0] != '\0' &&
	    json_is_integer(json_object_get(answer, "retry_after_s")))
		return af_ctl_fail(AF_CTL_EXIT_LATER, "%s", msg);
	if (msg != NULL && msg[0] != '\0')
		return af_ctl_fail(refusal_exit(status), "%s", msg);
	if (status == 404)
		return af_ctl_fail(AF_CTL_EXIT_UNREACHABLE,
				   "no such route: is --url the authflow "
				   "server? (HTTP 404)");
	/* An answer without a message, from the HTTP layer or a proxy. */
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i].status == status)
			return af_ctl_fail(refusal_exit(status),
					   "%s (HTTP %ld)", known[i].text,
					   status);
	}
	return af_ctl_fail(refusal_exit(status), "HTTP %ld", status);
}

/*
 * Sends one request. On success (a 2xx answer holding a JSON object)
 * returns AF_CTL_EXIT_OK with the answer in *out; otherwise prints the
 * one line and returns the exit status.
 */
int af_ctl_call(af_ctl *ctl, const char *method, const char *path,
		const json_t *body, json_t **out)
{
	char err[AF_CTL_HTTP_ERR_BUF];
	af_ctl_http_status st;
	json_t *answer = NULL;
	long status = 0;
	int rc;

	*out = NULL;
	rc = af_ctl_need_token(ctl);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	st = af_ctl_http_request(ctl->http, method, path, body, &status,
				 &answer, err, sizeof(err));
	if (st == AF_CTL_HTTP_ERR_NOMEM)
		return af_ctl_no_memory();
	if (st == AF_CTL_HTTP_ERR_CA_FILE)
		return af_ctl_usage_fail("%s", af_ctl_http_strerror(st));
	if (st != AF_CTL_HTTP_OK)
		return af_ctl_fail(AF_CTL_EXIT_UNREACHABLE, "%s", err);
	if (status < 200 || status >= 300) {
		rc = refused(method, status, answer);
		json_decref(answer);
		return rc;
	}
	if (!json_is_object(answer)) {
		json_decref(answer);
		return af_ctl_bad_answer();
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
int af_ctl_call_print(af_ctl *ctl, const char *method, const char *path,
		      const json_t *body, af_ctl_printer print)
{
	json_t *answer = NULL;
	int rc;

	rc = af_ctl_call(ctl, method, path, body, &answer);
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
		"created_at",
		"updated_at",
		"expires_at",
		"retire_after",
		"signs_from",
		"next_signs_from",
		"auth_time",
		"created",
		"ts",
		"time",
		"push_paused_until",
		"push_limited_until",
		"locked_until",
		"delayed_until",
		"enabled_at",
		"password_expires_at",
		"password_set_at",
		"profile_updated_at",
		"previous_secret_until",
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
	if (json_is_array(v) &&
	    af_ctl_join(v, ", ", AF_CTL_JOIN_MAX, &s) == AF_CTL_OK) {
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
 * Prints "<prefix><key>: <value>" with every part made safe for the
 * terminal. The value may be a secret (a client secret, an enrollment
 * code), so every copy of it is wiped.
 */
int af_ctl_put_line(const char *prefix, const char *key, const char *value)
{
	char *p = NULL, *k = NULL, *v = NULL;
	af_table_status st;
	int rc = AF_CTL_EXIT_OK;

	if (value == NULL || value[0] == '\0')
		value = "-";
	/* The prefix is made of the server's keys too. */
	st = af_table_clean(prefix != NULL ? prefix : "", &p, NULL);
	if (st == AF_TABLE_OK)
		st = af_table_clean(key, &k, NULL);
	if (st == AF_TABLE_OK)
		st = af_table_clean(value, &v, NULL);
	if (st == AF_TABLE_ERR_LIMIT)
		rc = af_ctl_fail(AF_CTL_EXIT_REFUSED,
				 "%s: too long to show here; --json shows it",
				 key);
	else if (st != AF_TABLE_OK)
		rc = af_ctl_no_memory();
	else
		printf("%s%s: %s\n", p, k, v);
	free(p);
	free(k);
	if (v != NULL)
		OPENSSL_clear_free(v, strlen(v));
	return rc;
}

int af_ctl_put_value(const char *prefix, const char *key, const json_t *v)
{
	char *text = value_text(key, v);
	int rc;

	if (text == NULL)
		return af_ctl_no_memory();
	rc = af_ctl_put_line(prefix, key, text);
	OPENSSL_clear_free(text, strlen(text));
	return rc;
}

/* For answers that only say {"ok": true}: the exit status says it all. */
int af_ctl_print_nothing(json_t *answer)
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

/* The text of one cell as a new string; NULL on no memory. */
static char *cell_text(const json_t *item, const af_ctl_column *col)
{
	const json_t *v = field_of(item, col->field);
	char buf[AF_CTL_TIME_BUF];
	char *s = NULL;

	switch (col->kind) {
	case AF_CTL_CELL_BOOL:
		return copy_text(json_is_true(v) ? "yes" : "no");
	case AF_CTL_CELL_TIME:
		af_ctl_time(v, buf, sizeof(buf));
		return copy_text(buf);
	case AF_CTL_CELL_LIST:
		if (af_ctl_join(json_is_array(v) ? v : NULL, ",",
				AF_CTL_CELL_JOIN_MAX, &s) != AF_CTL_OK)
			return NULL;
		return s;
	case AF_CTL_CELL_DEPLOY:
		return deploy_text(v);
	case AF_CTL_CELL_PUSH:
		return copy_text(push_text(item));
	case AF_CTL_CELL_JSON:
		return v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
				 : copy_text("");
	case AF_CTL_CELL_TEXT:
	default:
		if (json_is_string(v) || json_is_number(v))
			return value_text(NULL, v);
		return copy_text("");
	}
}

static int add_item(af_table *t, const json_t *item, const af_ctl_column *cols,
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
				return af_ctl_bad_answer();
			rc = print_kv_at(v, inner, depth + 1);
		} else {
			rc = af_ctl_put_value(prefix, key, v);
		}
		if (rc != AF_CTL_EXIT_OK)
			return rc;
	}
	return AF_CTL_EXIT_OK;
}

int af_ctl_print_kv(json_t *answer)
{
	return print_kv_at(answer, "", 0);
}

/* A table of answer[member], an array of objects; other entries skipped. */
int af_ctl_print_table(const json_t *answer, const char *member,
		       const af_ctl_column *cols, size_t ncols)
{
	const char *headers[AF_TABLE_COLS_MAX];
	const json_t *list = json_object_get(answer, member), *item;
	af_table *t = NULL;
	af_table_status st;
	int rc = AF_CTL_EXIT_OK;
	size_t i;

	if (!json_is_array(list) || ncols > AF_TABLE_COLS_MAX)
		return af_ctl_bad_answer();
	for (i = 0; i < ncols; i++)
		headers[i] = cols[i].header;
	st = af_table_new(headers, ncols, &t);
	if (st != AF_TABLE_OK)
		return af_ctl_no_memory();
	for (i = 0; i < json_array_size(list) && rc == AF_CTL_EXIT_OK; i++) {
		item = json_array_get(list, i);
		if (json_is_object(item))
			rc = add_item(t, item, cols, ncols);
	}
	if (rc == AF_CTL_EXIT_OK && af_table_print(t, stdout) != AF_TABLE_OK)
		rc = af_ctl_fail(AF_CTL_EXIT_REFUSED, "cannot write output");
	af_table_free(t);
	return rc;
}

/* ---- the command frame ---- */

int af_ctl_run_simple(af_ctl *ctl, int argc, char **argv,
		      const af_ctl_simple *s)
{
	static const struct option opts[] = {AF_CTL_OPT_END};
	char path[AF_CTL_PATH_BUF];
	af_cli_optparse p;
	const char *a, *b;
	int rc;

	af_ctl_opt_begin(&p, s->cmd, argc, argv, opts);
	if (af_ctl_next_opt(ctl, &p) == AF_CTL_OPT_STOP)
		return p.rc;
	rc = af_cli_positionals(&p, s->nargs, NULL, s->args);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	a = s->nargs > 0 ? argv[optind] : NULL;
	b = s->nargs > 1 ? argv[optind + 1] : NULL;
	rc = af_ctl_make_path(ctl, path, s->tmpl, a, b);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	return af_ctl_call_print(ctl, s->method, path, NULL, s->print);
}

int af_ctl_run_patch(af_ctl *ctl, int argc, char **argv, const af_ctl_patch *s,
		     void *state)
{
	json_t *body = json_object();
	af_cli_optparse p;
	int c = 0, rc = AF_CTL_EXIT_OK;

	if (body == NULL)
		return af_ctl_no_memory();
	af_ctl_opt_begin(&p, s->cmd, argc, argv, s->opts);
	while (rc == AF_CTL_EXIT_OK) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1 || c == AF_CTL_OPT_STOP)
			break;
		rc = s->option(body, c, optarg, s->cmd, state);
	}
	if (c == AF_CTL_OPT_STOP) {
		rc = p.rc;
		goto out;
	}
	if (rc == AF_CTL_EXIT_OK)
		rc = af_cli_positionals(&p, s->arg != NULL ? 1 : 0, NULL,
					s->arg != NULL ? s->arg : "");
	if (rc == AF_CTL_EXIT_OK && json_object_size(body) == 0)
		rc = af_ctl_usage_fail("%s: nothing to change", s->cmd);
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_send_named(ctl, s->method, s->tmpl,
				       s->arg != NULL ? argv[optind] : NULL,
				       body, s->print);
out:
	json_decref(body);
	return rc;
}

int af_ctl_run_limited(af_ctl *ctl, int argc, char **argv,
		       const af_ctl_limited *l)
{
	static const struct option opts[] = {
		{"limit", required_argument, NULL, 'n'},
		AF_CTL_OPT_END,
	};
	char path[LIMIT_BUF];
	af_cli_optparse p;
	long limit = l->def;
	int c, rc, n;

	af_ctl_opt_begin(&p, l->cmd, argc, argv, opts);
	for (;;) {
		c = af_ctl_next_opt(ctl, &p);
		if (c == -1)
			break;
		if (c == AF_CTL_OPT_STOP)
			return p.rc;
		if (af_ctl_parse_long(optarg, 1, l->max, &limit) != AF_CTL_OK)
			return af_ctl_usage_fail("%s: --limit must be 1..%ld, "
						 "not '%s'",
						 l->cmd, l->max, optarg);
	}
	rc = af_cli_positionals(&p, 0, NULL, "");
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	n = snprintf(path, sizeof(path), "%s?limit=%ld", l->path, limit);
	if (n < 0 || n >= (int)sizeof(path))
		return af_ctl_usage_fail("%s: path too long", l->cmd);
	return af_ctl_call_print(ctl, "GET", path, NULL, l->print);
}

int af_ctl_run_verb(af_ctl *ctl, const char *group, const af_ctl_verb *verbs,
		    size_t n, int argc, char **argv)
{
	size_t i;

	if (argc < 2)
		return af_ctl_usage_fail("%s: missing command", group);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (af_ctl_usage_of(stdout, group) != 0)
			af_ctl_usage(stdout);
		return AF_CTL_EXIT_OK;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(argv[1], verbs[i].name) != 0)
			continue;
		if (verbs[i].simple != NULL)
			return af_ctl_run_simple(ctl, argc - 1, argv + 1,
						 verbs[i].simple);
		return verbs[i].run(ctl, argc - 1, argv + 1);
	}
	return af_ctl_usage_fail("%s: unknown command '%s'", group, argv[1]);
}

/* Sends body to the path of tmpl and one name, then prints. */
int af_ctl_send_named(af_ctl *ctl, const char *method, const char *tmpl,
		      const char *name, const json_t *body,
		      af_ctl_printer print)
{
	char path[AF_CTL_PATH_BUF];
	int rc;

	rc = af_ctl_make_path(ctl, path, tmpl, name, NULL);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	return af_ctl_call_print(ctl, method, path, body, print);
}

int af_ctl_confirm(const char *before, const char *a, const char *middle,
		   const char *b)
{
	char *ca = NULL, *cb = NULL;
	af_table_status st;

	st = af_table_clean(a, &ca, NULL);
	if (st == AF_TABLE_OK && b != NULL)
		st = af_table_clean(b, &cb, NULL);
	if (st == AF_TABLE_OK)
		printf("%s%s%s%s\n", before, ca, middle != NULL ? middle : "",
		       cb != NULL ? cb : "");
	free(ca);
	free(cb);
	if (st == AF_TABLE_ERR_NOMEM)
		return af_ctl_no_memory();
	/* A name that cannot be shown (the path cap keeps it short) was
	 * still acted on. */
	if (st != AF_TABLE_OK)
		printf("done\n");
	return AF_CTL_EXIT_OK;
}

/*
 * As af_ctl_run_simple(), for a command whose answer is only {"ok":
 * true}: with the request made and answered, *args lends its positional
 * arguments (s->nargs of them, at most 2) for the confirmation; after
 * --help, which sends nothing, *args stays NULL. With answer not NULL, in
 * text mode the answer goes there (a new reference) instead of to
 * s->print.
 */
static int run_simple_args(af_ctl *ctl, int argc, char **argv,
			   const af_ctl_simple *s, const char **args,
			   json_t **answer)
{
	static const struct option opts[] = {AF_CTL_OPT_END};
	char path[AF_CTL_PATH_BUF];
	const char *pos[2] = {NULL, NULL};
	af_cli_optparse p;
	int rc;

	args[0] = NULL;
	args[1] = NULL;
	af_ctl_opt_begin(&p, s->cmd, argc, argv, opts);
	if (af_ctl_next_opt(ctl, &p) == AF_CTL_OPT_STOP)
		return p.rc;
	rc = af_cli_positionals(&p, s->nargs, pos, s->args);
	if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_make_path(ctl, path, s->tmpl, pos[0], pos[1]);
	if (rc == AF_CTL_EXIT_OK && answer != NULL && !ctl->json)
		rc = af_ctl_call(ctl, s->method, path, NULL, answer);
	else if (rc == AF_CTL_EXIT_OK)
		rc = af_ctl_call_print(ctl, s->method, path, NULL, s->print);
	if (rc == AF_CTL_EXIT_OK) {
		args[0] = pos[0];
		args[1] = pos[1];
	}
	return rc;
}

int af_ctl_run_confirm_one(af_ctl *ctl, int argc, char **argv,
			   const af_ctl_simple *s, const char *before)
{
	const char *args[2];
	int rc = run_simple_args(ctl, argc, argv, s, args, NULL);

	if (rc != AF_CTL_EXIT_OK || args[0] == NULL || ctl->json)
		return rc;
	return af_ctl_confirm(before, args[0], NULL, NULL);
}

int af_ctl_run_confirm_member(af_ctl *ctl, int argc, char **argv,
			      const af_ctl_simple *s, const char *verb,
			      const char *middle, const char *already)
{
	const char *args[2];
	json_t *answer = NULL;
	int rc = run_simple_args(ctl, argc, argv, s, args, &answer);

	if (rc == AF_CTL_EXIT_OK && args[1] != NULL && !ctl->json)
		rc = json_is_false(json_object_get(answer, "changed"))
			     ? af_ctl_confirm("", args[1], already, args[0])
			     : af_ctl_confirm(verb, args[1], middle, args[0]);
	json_decref(answer);
	return rc;
}
