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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "commands.h"
#include "common/cli.h"
#include "common/httpc.h"
#include "common/secmem.h"
#include "state.h"

#define CODE_MAX	256 /* bytes of an enrollment code */
/* The device API's own limits (docs/device-api.md), caught here first. */
#define TOKEN_MAX	512 /* bytes of a push token */
#define VERSION_MAX	32  /* bytes of an app version */
#define NAME_MAX_BYTES	64  /* bytes of a device name */
#define TXN_MAX		128 /* bytes of a transaction id */
#define NUMBER_MAX	8   /* digits of a matching number, as the server */
#define OPT_PLATFORM	'p'
#define OPT_PUSH_TOKEN	't'
#define OPT_APP_VERSION 'v'
#define OPT_SANDBOX	's'
#define OPT_NAME	'n'
#define OPT_NUMBER	'N'
#define OPT_REPORT	'r'

typedef int (*command_fn)(const af_idsim_ctx *ctx, int argc, char **argv);

/* ---- checks of argument text ---- */

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

/* ---- option parsing ---- */

/* For messages and --help; usage errors read "idsim: [cmd: ]message (see
 * 'idsim --help')" and exit 2. */
static const af_cli_prog prog = {"idsim", af_idsim_usage, NULL};

/*
 * The global options every command needs, checked after the command's
 * own arguments so that "COMMAND --help" works without them.
 */
static int check_ctx(const af_idsim_ctx *ctx)
{
	if (ctx->state == NULL || ctx->state[0] == '\0')
		return af_cli_usage_fail(&prog, NULL, "missing --state FILE");
	if (ctx->url != NULL && ctx->url[0] == '\0')
		return af_cli_usage_fail(&prog, NULL, "--url is empty");
	return AF_IDSIM_EXIT_OK;
}

/* ---- the commands ---- */

/*
 * The code as pages show it, in groups of four with spaces between, is
 * the code: *code (a string of argv) becomes it without the spaces, in buf
 * (CODE_MAX + 1 bytes), and the argument is wiped.
 */
static int take_code(const af_cli_optparse *p, char *buf, const char **code)
{
	char *arg = NULL;
	const char *s = *code;
	size_t n = 0;
	int i, rc = AF_IDSIM_EXIT_OK;

	for (i = 0; i < p->argc && arg == NULL; i++) {
		if (p->argv[i] == *code)
			arg = p->argv[i];
	}

	for (; *s != '\0'; s++) {
		if (*s == ' ')
			continue;
		if (n == CODE_MAX) {
			rc = af_cli_usage_fail(&prog, p->cmd,
					       "the code must be 1 to 256 "
					       "visible characters");
			break;
		}
		buf[n++] = *s;
	}
	buf[n] = '\0';
	if (arg != NULL)
		OPENSSL_cleanse(arg, strlen(arg));
	*code = buf;
	return rc;
}

/* The enroll options, after the code has been read. */
static int check_enroll(const char *cmd, const af_idsim_enroll_args *a)
{
	if (!af_httpc_visible_ascii(a->code, CODE_MAX))
		return af_cli_usage_fail(&prog, cmd,
					 "the code must be 1 to 256 visible "
					 "characters");
	if (!af_idsim_platform_valid(a->platform))
		return af_cli_usage_fail(
			&prog, cmd, "--platform must be apns, fcm or none");
	if (a->push_token != NULL &&
	    !af_httpc_visible_ascii(a->push_token, TOKEN_MAX))
		return af_cli_usage_fail(
			&prog, cmd,
			"--push-token must be 1 to 512 visible "
			"characters");
	if (strcmp(a->platform, "none") != 0 && a->push_token == NULL)
		return af_cli_usage_fail(&prog, cmd,
					 "--platform apns and fcm need "
					 "--push-token");
	if (!af_httpc_visible_ascii(a->app_version, VERSION_MAX))
		return af_cli_usage_fail(
			&prog, cmd,
			"--app-version must be 1 to 32 visible "
			"characters");
	if (!printable_text(a->name, NAME_MAX_BYTES))
		return af_cli_usage_fail(&prog, cmd,
					 "--name must be 1 to 64 bytes of "
					 "UTF-8 text without control "
					 "characters (a line break, a tab)");
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
	char code[CODE_MAX + 1];
	af_cli_optparse p;
	int c, rc;

	af_cli_opt_begin(&p, &prog, "enroll", argc, argv, opts);
	while ((c = af_cli_next_opt(&p)) != -1) {
		if (c == AF_CLI_OPT_STOP)
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
	rc = af_cli_positionals(&p, 1, &a.code, "the enrollment CODE");
	/*
	 * Copied, then wiped from the command line, which other users of
	 * the machine can read in /proc while the enrollment runs.
	 */
	if (rc == AF_IDSIM_EXIT_OK)
		rc = take_code(&p, code, &a.code);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_enroll(p.cmd, &a);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = af_idsim_enroll(ctx, &a);
	OPENSSL_cleanse(code, sizeof(code));
	return rc;
}

/* A command without options and with nargs positional arguments. */
static int plain_args(af_cli_optparse *p, const char *cmd, int argc,
		      char **argv, int nargs, const char **out,
		      const char *what)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	af_cli_opt_begin(p, &prog, cmd, argc, argv, opts);
	while ((c = af_cli_next_opt(p)) != -1) {
		if (c == AF_CLI_OPT_STOP)
			return p->rc == AF_IDSIM_EXIT_OK ? AF_CLI_OPT_STOP
							 : p->rc;
	}
	return af_cli_positionals(p, nargs, out, what);
}

static int cmd_pending(const af_idsim_ctx *ctx, int argc, char **argv)
{
	af_cli_optparse p;
	int rc = plain_args(&p, "pending", argc, argv, 0, NULL, "");

	if (rc == AF_CLI_OPT_STOP)
		return AF_IDSIM_EXIT_OK;
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	return rc != AF_IDSIM_EXIT_OK ? rc : af_idsim_pending(ctx);
}

static int cmd_code(const af_idsim_ctx *ctx, int argc, char **argv)
{
	af_cli_optparse p;
	int rc = plain_args(&p, "code", argc, argv, 0, NULL, "");

	if (rc == AF_CLI_OPT_STOP)
		return AF_IDSIM_EXIT_OK;
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_ctx(ctx);
	return rc != AF_IDSIM_EXIT_OK ? rc : af_idsim_code(ctx);
}

static int check_txn(const char *cmd, const char *txn)
{
	if (!valid_txn(txn))
		return af_cli_usage_fail(&prog, cmd,
					 "malformed transaction id");
	return AF_IDSIM_EXIT_OK;
}

static int cmd_show(const af_idsim_ctx *ctx, int argc, char **argv)
{
	const char *txn = NULL;
	af_cli_optparse p;
	int rc = plain_args(&p, "show", argc, argv, 1, &txn, "TXN");

	if (rc == AF_CLI_OPT_STOP)
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
	af_cli_optparse p;
	int c, rc;

	af_cli_opt_begin(&p, &prog, "approve", argc, argv, opts);
	while ((c = af_cli_next_opt(&p)) != -1) {
		if (c == AF_CLI_OPT_STOP)
			return p.rc;
		if (c == OPT_NUMBER)
			number = optarg;
	}
	rc = af_cli_positionals(&p, 1, &txn, "TXN");
	if (rc == AF_IDSIM_EXIT_OK)
		rc = check_txn(p.cmd, txn);
	if (rc == AF_IDSIM_EXIT_OK && number != NULL && !valid_number(number))
		rc = af_cli_usage_fail(&prog, p.cmd,
				       "--number must be 1 to 8 digits");
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
	af_cli_optparse p;
	int c, rc, report = 0;

	af_cli_opt_begin(&p, &prog, "deny", argc, argv, opts);
	while ((c = af_cli_next_opt(&p)) != -1) {
		if (c == AF_CLI_OPT_STOP)
			return p.rc;
		if (c == OPT_REPORT)
			report = 1;
	}
	rc = af_cli_positionals(&p, 1, &txn, "TXN");
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
	af_cli_optparse p;
	int c, rc;

	af_cli_opt_begin(&p, &prog, "push-token", argc, argv, opts);
	while ((c = af_cli_next_opt(&p)) != -1) {
		if (c == AF_CLI_OPT_STOP)
			return p.rc;
		if (c == OPT_PLATFORM)
			a.platform = optarg;
		else if (c == OPT_APP_VERSION)
			a.app_version = optarg;
		else if (c == OPT_SANDBOX)
			a.sandbox = 1;
	}
	rc = af_cli_positionals(&p, 1, &a.push_token, "the push token T");
	if (rc == AF_IDSIM_EXIT_OK &&
	    !af_httpc_visible_ascii(a.push_token, TOKEN_MAX))
		rc = af_cli_usage_fail(&prog, p.cmd,
				       "the push token must be 1 to 512 "
				       "visible characters");
	if (rc == AF_IDSIM_EXIT_OK && a.platform != NULL &&
	    !af_idsim_platform_valid(a.platform))
		rc = af_cli_usage_fail(&prog, p.cmd,
				       "--platform must be apns, fcm or none");
	if (rc == AF_IDSIM_EXIT_OK && a.app_version != NULL &&
	    !af_httpc_visible_ascii(a.app_version, VERSION_MAX))
		rc = af_cli_usage_fail(&prog, p.cmd,
				       "--app-version must be 1 to 32 visible "
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
	af_cli_optparse p;
	int c;

	af_cli_opt_begin(&p, &prog, NULL, argc, argv, opts);
	for (;;) {
		c = af_cli_next_global(&p);
		if (c == -1)
			return -1;
		if (c == AF_CLI_OPT_STOP)
			return p.rc;
		/* "--url --state F" would take "--state" for the URL. */
		if (c == 'u' && optarg[0] == '-')
			return af_cli_usage_fail(&prog, NULL,
						 "--url needs a value");
		if (c == 'u')
			ctx->url = optarg;
		else
			ctx->state = optarg;
	}
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
	return af_cli_usage_fail(&prog, NULL, "unknown command '%s'", name);
}

int main(int argc, char **argv)
{
	int rc;

	/*
	 * Before any other call into either library: every block jansson
	 * and libcurl free is wiped first, which covers their copies of the
	 * private key, the TOTP seed and the enrollment code.
	 */
	if (af_httpc_global_init() != AF_HTTPC_OK)
		return af_idsim_fail(AF_IDSIM_EXIT_REFUSED,
				     "cannot start the HTTP library");
	/* No core image of them (lowering a limit cannot fail). */
	(void)af_secmem_no_core();
	rc = run(argc, argv);
	af_httpc_global_cleanup();
	if (fflush(stdout) != 0 && rc == AF_IDSIM_EXIT_OK)
		rc = af_idsim_fail(AF_IDSIM_EXIT_REFUSED,
				   "cannot write output");
	return rc;
}
