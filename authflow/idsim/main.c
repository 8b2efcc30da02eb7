/*
 * idsim: a command-line phone for authflow, a client of the signed device
 * API (/device/v1/).
 *
 *   idsim [--url URL] --state FILE COMMAND ...
 *
 * This file reads the global options and each command's arguments with
 * getopt_long, checks them all before anything is read or sent, and hands
 * them to the command (commands.c). Exit status: 0 done, 1 refused by the
 * server, 2 bad usage, 3 cannot reach the server; every failure is one
 * line on stderr.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "commands.h"
#include "common/secmem.h"

#define CODE_MAX	256  /* bytes of an enrollment code */
#define TOKEN_MAX	4096 /* bytes of a push token */
#define VERSION_MAX	64   /* bytes of an app version */
#define NAME_MAX_BYTES	128  /* bytes of a device name */
#define TXN_MAX		128  /* bytes of a transaction id */
#define NUMBER_MAX	9    /* digits of a matching number */
#define OPT_BUF		64
#define MSG_BUF		384
#define OPT_PLATFORM	'p'
#define OPT_PUSH_TOKEN	't'
#define OPT_APP_VERSION 'v'
#define OPT_SANDBOX	's'
#define OPT_NAME	'n'
#define OPT_NUMBER	'N'
#define OPT_REPORT	'r'
#define OPT_STOP	(-2)

/* One command's parse: its name, argv from the name on, its options. */
struct optparse {
	const char *cmd;
	int argc;
	char **argv;
	const struct option *opts;
	int rc; /* the exit status once OPT_STOP is returned */
};

typedef int (*command_fn)(const af_idsim_ctx *ctx, int argc, char **argv);

/* ---- checks of argument text ---- */

/* 1..max bytes of visible ASCII: no blanks, no control characters. */
static int visible_ascii(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		if (n >= max || s[n] < 0x21 || s[n] > 0x7e)
			return 0;
	}
	return n > 0;
}

/* 1..max bytes of UTF-8 text without control characters. */
static int printable_text(const char *s, size_t max)
{
	json_t *probe;
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		if (n >= max || (unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return 0;
	}
	if (n == 0)
		return 0;
	/* jansson refuses text that is not UTF-8, as the server would. */
	probe = json_string(s);
	json_decref(probe);
	return probe != NULL;
}

/*
 * A transaction id goes into the request path, which is signed as sent:
 * only characters that no one re-encodes, and not "." or "..".
 */
static int valid_txn(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= TXN_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == '~'))
			return 0;
	}
	return n > 0 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int valid_number(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		if (n >= NUMBER_MAX || s[n] < '0' || s[n] > '9')
			return 0;
	}
	return n > 0;
}

static int valid_platform(const char *s)
{
	return strcmp(s, "apns") == 0 || strcmp(s, "fcm") == 0 ||
	       strcmp(s, "none") == 0;
}

/* ---- option parsing ---- */

static int usage_fail(const char *cmd, const char *fmt, ...)
	AF_IDSIM_PRINTF(2, 3);

/* A usage error: "idsim: [cmd: ]message (see 'idsim --help')", exit 2. */
static int usage_fail(const char *cmd, const char *fmt, ...)
{
	char msg[MSG_BUF];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	return af_idsim_fail(AF_IDSIM_EXIT_USAGE, "%s%s%s (see 'idsim --help')",
			     cmd != NULL ? cmd : "", cmd != NULL ? ": " : "",
			     msg);
}

static void opt_begin(struct optparse *p, const char *cmd, int argc,
		      char **argv, const struct option *opts)
{
	p->cmd = cmd;
	p->argc = argc;
	p->argv = argv;
	p->opts = opts;
	p->rc = AF_IDSIM_EXIT_OK;
	/* 0, not 1: glibc then forgets all state of an earlier parse. */
	optind = 0;
	opterr = 0;
}

/*
 * The option getopt_long just refused, without any "=value" (which could
 * be a mistyped push token).
 */
static const char *opt_text(int argc, char **argv, char *buf, size_t cap)
{
	const char *arg = NULL;
	size_t n;

	if (optind > 0 && optind <= argc)
		arg = argv[optind - 1];
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

/* Whether getopt_long's last refusal was of a "--long=value" argument. */
static int long_with_value(int argc, char **argv)
{
	return optind > 0 && optind <= argc &&
	       strncmp(argv[optind - 1], "--", 2) == 0 &&
	       strchr(argv[optind - 1], '=') != NULL;
}

/*
 * The next option of the command: its value, -1 after the last one, or
 * OPT_STOP with the exit status in p->rc (--help, or a usage error).
 */
static int next_opt(struct optparse *p)
{
	char buf[OPT_BUF];
	int c;

	c = getopt_long(p->argc, p->argv, ":h", p->opts, NULL);
	if (c == 'h') {
		af_idsim_usage(stdout);
		p->rc = AF_IDSIM_EXIT_OK;
		return OPT_STOP;
	}
	if (c == ':') {
		p->rc = usage_fail(
			p->cmd, "%s needs a value",
			opt_text(p->argc, p->argv, buf, sizeof(buf)));
		return OPT_STOP;
	}
	if (c == '?' && optopt != 0 && long_with_value(p->argc, p->argv)) {
		/* glibc: a known long option was given a value. */
		p->rc = usage_fail(
			p->cmd, "%s takes no value",
			opt_text(p->argc, p->argv, buf, sizeof(buf)));
		return OPT_STOP;
	}
	if (c == '?') {
		p->rc = usage_fail(
			p->cmd, "unknown option %s",
			opt_text(p->argc, p->argv, buf, sizeof(buf)));
		return OPT_STOP;
	}
	return c;
}

/*
 * The positional arguments after the options: exactly want of them, put
 * into out. The exit status.
 */
static int positionals(const struct optparse *p, int want, const char **out,
		       const char *what)
{
	int have = p->argc - optind, i;

	if (have < want)
		return usage_fail(p->cmd, "missing %s", what);
	if (have > want)
		return usage_fail(p->cmd, "unexpected argument '%s'",
				  p->argv[optind + want]);
	for (i = 0; i < want; i++)
		out[i] = p->argv[optind + i];
	return AF_IDSIM_EXIT_OK;
}

/*
 * The global options every command needs, checked after the command's
 * own arguments so that "COMMAND --help" works without them.
 */
static int check_ctx(const af_idsim_ctx *ctx)
{
	if (ctx->state == NULL || ctx->state[0] == '\0')
		return usage_fail(NULL, "missing --state FILE");
	if (ctx->url != NULL && ctx->url[0] == '\0')
		return usage_fail(NULL, "--url is empty");
	return AF_IDSIM_EXIT_OK;
}

/* ---- the commands ---- */

/* The enroll options, after the code has been read. */
static int check_enroll(const char *cmd, const af_idsim_enroll_args *a)
{
	if (!visible_ascii(a->code, CODE_MAX))
		return usage_fail(cmd, "the code must be 1 to 256 visible "
				       "characters");
	if (!valid_platform(a->platform))
		return usage_fail(cmd, "--platform must be apns, fcm or none");
	if (a->push_token != NULL && !visible_ascii(a->push_token, TOKEN_MAX))
		return usage_fail(cmd, "--push-token must be 1 to 4096 visible "
				       "characters");
	if (strcmp(a->platform, "none") != 0 && a->push_token == NULL)
		return usage_fail(cmd, "--platform apns and fcm need "
				       "--push-token");
	if (!visible_ascii(a->app_version, VERSION_MAX))
		return usage_fail(cmd, "--app-version must be 1 to 64 visible "
				       "characters");
	if (!printable_text(a->name, NAME_MAX_BYTES))
		return usage_fail(cmd, "--name must be 1 to 128 bytes of "
				       "UTF-8 text");
	return AF_IDSIM_EXIT_OK;
}

static int cmd_enroll(const af_idsim_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"platform", required_argument, NULL, OPT_PLATFORM},
		{"push-token", required_argument, NULL, OPT_PUSH_TOKEN},
		{"app-version", required_argument, NULL, OPT_APP_VERSION},
		{"sandbox", no_argument, NULL, OPT_SANDBOX},
		{"name", required_argument, NULL, OPT_NAME},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	af_idsim_enroll_args a = {
		NULL,
		AF_IDSIM_DEFAULT_PLATFORM,
		NULL,
		AF_IDSIM_DEFAULT_APP_VERSION,
		AF_IDSIM_DEFAULT_NAME,
		0,
	};
	struct optparse p;
	int c, rc;

	opt_begin(&p, "enroll", argc, argv, opts);
	while ((c = next_opt(&p)) != -1) {
		if (c == OPT_STOP)
			return p.rc;
		if (c == OPT_PLATFORM)
			a.platform = optarg;
		else if (c == OPT_PUSH_TOKEN)
			a.push_token = optarg;
		else if (c == OPT_APP_VERSION)
			a.app_version = optarg;
		else if (c == OPT_SANDBOX)
			a.sandbox = 1;
		else if (c == OPT_NAME)
			a.name = optarg;
	}
	rc = positionals(&p, 1, &a.code, "the enrollment CODE");
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_enroll(p.cmd, &a);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	if (rc != AF_IDSIM_EXIT_OK)
		return rc;
	return af_idsim_enroll(ctx, &a);
}

/* A command without options and with nargs positional arguments. */
static int plain_args(struct optparse *p, const char *cmd, int argc,
		      char **argv, int nargs, const char **out,
		      const char *what)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	opt_begin(p, cmd, argc, argv, opts);
	while ((c = next_opt(p)) != -1) {
		if (c == OPT_STOP)
			return p->rc == AF_IDSIM_EXIT_OK ? OPT_STOP : p->rc;
	}
	return positionals(p, nargs, out, what);
}

static int cmd_pending(const af_idsim_ctx *ctx, int argc, char **argv)
{
	struct optparse p;
	int rc = plain_args(&p, "pending", argc, argv, 0, NULL, "");

	if (rc == OPT_STOP)
		return AF_IDSIM_EXIT_OK;
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	return rc != AF_IDSIM_EXIT_OK ? rc : af_idsim_pending(ctx);
}

static int cmd_code(const af_idsim_ctx *ctx, int argc, char **argv)
{
	struct optparse p;
	int rc = plain_args(&p, "code", argc, argv, 0, NULL, "");

	if (rc == OPT_STOP)
		return AF_IDSIM_EXIT_OK;
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	return rc != AF_IDSIM_EXIT_OK ? rc : af_idsim_code(ctx);
}

static int check_txn(const char *cmd, const char *txn)
{
	if (!valid_txn(txn))
		return usage_fail(cmd, "malformed transaction id");
	return AF_IDSIM_EXIT_OK;
}

static int cmd_show(const af_idsim_ctx *ctx, int argc, char **argv)
{
	const char *txn = NULL;
	struct optparse p;
	int rc = plain_args(&p, "show", argc, argv, 1, &txn, "TXN");

	if (rc == OPT_STOP)
		return AF_IDSIM_EXIT_OK;
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_txn(p.cmd, txn);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	return rc != AF_IDSIM_EXIT_OK ? rc : af_idsim_show(ctx, txn);
}

static int cmd_approve(const af_idsim_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"number", required_argument, NULL, OPT_NUMBER},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *txn = NULL, *number = NULL;
	struct optparse p;
	int c, rc;

	opt_begin(&p, "approve", argc, argv, opts);
	while ((c = next_opt(&p)) != -1) {
		if (c == OPT_STOP)
			return p.rc;
		if (c == OPT_NUMBER)
			number = optarg;
	}
	rc = positionals(&p, 1, &txn, "TXN");
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_txn(p.cmd, txn);
	if (rc == AF_IDSIM_EXIT_OK && number != NULL && !valid_number(number))
		rc = usage_fail(p.cmd, "--number must be 1 to 9 digits");
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	return rc != AF_IDSIM_EXIT_OK ? rc : af_idsim_approve(ctx, txn, number);
}

static int cmd_deny(const af_idsim_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"report", no_argument, NULL, OPT_REPORT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *txn = NULL;
	struct optparse p;
	int c, rc, report = 0;

	opt_begin(&p, "deny", argc, argv, opts);
	while ((c = next_opt(&p)) != -1) {
		if (c == OPT_STOP)
			return p.rc;
		if (c == OPT_REPORT)
			report = 1;
	}
	rc = positionals(&p, 1, &txn, "TXN");
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_txn(p.cmd, txn);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	return rc != AF_IDSIM_EXIT_OK ? rc : af_idsim_deny(ctx, txn, report);
}

static int cmd_push_token(const af_idsim_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"platform", required_argument, NULL, OPT_PLATFORM},
		{"app-version", required_argument, NULL, OPT_APP_VERSION},
		{"sandbox", no_argument, NULL, OPT_SANDBOX},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	af_idsim_push_args a = {NULL, NULL, NULL, -1};
	struct optparse p;
	int c, rc;

	opt_begin(&p, "push-token", argc, argv, opts);
	while ((c = next_opt(&p)) != -1) {
		if (c == OPT_STOP)
			return p.rc;
		if (c == OPT_PLATFORM)
			a.platform = optarg;
		else if (c == OPT_APP_VERSION)
			a.app_version = optarg;
		else if (c == OPT_SANDBOX)
			a.sandbox = 1;
	}
	rc = positionals(&p, 1, &a.push_token, "the push token T");
	if (rc == AF_IDSIM_EXIT_OK && !visible_ascii(a.push_token, TOKEN_MAX))
		rc = usage_fail(p.cmd, "the push token must be 1 to 4096 "
				       "visible characters");
	if (rc == AF_IDSIM_EXIT_OK && a.platform != NULL &&
	    !valid_platform(a.platform))
		rc = usage_fail(p.cmd, "--platform must be apns, fcm or none");
	if (rc == AF_IDSIM_EXIT_OK && a.app_version != NULL &&
	    !visible_ascii(a.app_version, VERSION_MAX))
		rc = usage_fail(p.cmd, "--app-version must be 1 to 64 visible "
				       "characters");
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	return rc != AF_IDSIM_EXIT_OK ? rc : af_idsim_push_token(ctx, &a);
}

static const struct command {
	const char *name;
	command_fn run;
} commands[] = {
	{"enroll", cmd_enroll},
	{"pending", cmd_pending},
	{"show", cmd_show},
	{"approve", cmd_approve},
	{"deny", cmd_deny},
	{"code", cmd_code},
	{"push-token", cmd_push_token},
};

/*
 * Reads the options before COMMAND. Returns -1 to go on (optind at the
 * command), or the exit status to stop with.
 */
static int parse_global(af_idsim_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"state", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char buf[OPT_BUF];
	int c;

	/* '+': stop at the command, whose options are its own. */
	optind = 0;
	opterr = 0;
	for (;;) {
		c = getopt_long(argc, argv, "+:h", opts, NULL);
		if (c == -1)
			break;
		if (c == 'u') {
			ctx->url = optarg;
		} else if (c == 'f') {
			ctx->state = optarg;
		} else if (c == 'h') {
			af_idsim_usage(stdout);
			return AF_IDSIM_EXIT_OK;
		} else if (c == ':') {
			return usage_fail(
				NULL, "%s needs a value",
				opt_text(argc, argv, buf, sizeof(buf)));
		} else {
			return usage_fail(
				NULL, "unknown option %s",
				opt_text(argc, argv, buf, sizeof(buf)));
		}
	}
	if (optind >= argc)
		return usage_fail(NULL, "missing command");
	return -1;
}

static int run(int argc, char **argv)
{
	af_idsim_ctx ctx = {NULL, NULL};
	const char *name;
	size_t i;
	int rc;

	rc = parse_global(&ctx, argc, argv);
	if (rc != -1)
		return rc;
	name = argv[optind];
	if (strcmp(name, "help") == 0) {
		af_idsim_usage(stdout);
		return AF_IDSIM_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) != 0)
			continue;
		return commands[i].run(&ctx, argc - optind, argv + optind);
	}
	return usage_fail(NULL, "unknown command '%s'", name);
}

int main(int argc, char **argv)
{
	int rc;

	/*
	 * Before any other call into either library: every block jansson
	 * and libcurl free is wiped first, which covers their copies of the
	 * private key, the TOTP seed and the enrollment code.
	 */
	json_set_alloc_funcs(af_secmem_malloc, af_secmem_free);
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, af_secmem_malloc,
				 af_secmem_free, af_secmem_realloc,
				 af_secmem_strdup,
				 af_secmem_calloc) != CURLE_OK)
		return af_idsim_fail(AF_IDSIM_EXIT_REFUSED,
				     "cannot start the HTTP library");
	rc = run(argc, argv);
	curl_global_cleanup();
	if (fflush(stdout) != 0 && rc == AF_IDSIM_EXIT_OK)
		rc = af_idsim_fail(AF_IDSIM_EXIT_REFUSED,
				   "cannot write output");
	return rc;
}
