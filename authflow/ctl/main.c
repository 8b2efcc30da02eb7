/*
 * authflowctl: the administrators' command-line tool for authflow, a
 * client of the admin API (/admin/v1/).
 *
 *   authflowctl [--url URL] [--token TOKEN] [--json] COMMAND ...
 *
 * URL and token also come from AUTHFLOW_URL and AUTHFLOW_ADMIN_TOKEN
 * (the options win). Exit status: 0 done, 1 refused by the server, 2 bad
 * usage, 3 cannot reach the server, 4 not found, 5 already there or in
 * the way, 6 try again later (commands.h); every failure is one line on
 * stderr.
 * This file reads the global options and hands the rest of the command
 * line to the command group named (commands.c).
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
#include "http.h"

#define DEFAULT_URL "http://127.0.0.1:8080"
#define ENV_URL	    "AUTHFLOW_URL"
#define ENV_TOKEN   "AUTHFLOW_ADMIN_TOKEN"

struct global_opts {
	const char *url;
	char *token; /* points into argv or the environment */
	int token_from_argv;
};

static const struct command {
	const char *name;
	af_ctl_command_fn run;
} commands[] = {
	{"status", af_ctl_cmd_status},	   {"user", af_ctl_cmd_user},
	{"group", af_ctl_cmd_group},	   {"ou", af_ctl_cmd_ou},
	{"policy", af_ctl_cmd_policy},	   {"app", af_ctl_cmd_app},
	{"keys", af_ctl_cmd_keys},	   {"sessions", af_ctl_cmd_sessions},
	{"audit", af_ctl_cmd_audit},	   {"workflow", af_ctl_cmd_workflow},
	{"branding", af_ctl_cmd_branding}, {"device", af_ctl_cmd_device},
	{"push", af_ctl_cmd_push},
};

/* An environment variable, with "" taken as not set. */
static char *env(const char *name)
{
	char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/*
 * Reads the options before COMMAND. Returns -1 to go on (optind at the
 * command), or the exit status to stop with.
 */
static int parse_global(af_ctl *ctl, struct global_opts *g, int argc,
			char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"token", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j' | AF_CLI_OPT_MANY},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	af_cli_optparse p;
	int c;

	af_cli_opt_begin(&p, &af_ctl_prog, NULL, argc, argv, opts);
	for (;;) {
		c = af_cli_next_global(&p);
		if (c == -1)
			return -1;
		if (c == AF_CLI_OPT_STOP)
			return p.rc;
		if (c == 'V') {
			/* What a support request quotes: no server needed. */
			printf("authflowctl %s\n", AF_CTL_VERSION);
			return AF_CTL_EXIT_OK;
		}
		if (c == 'u') {
			g->url = optarg;
		} else if (c == 't') {
			/* Given twice: the first leaves the command line too.
			 */
			if (g->token_from_argv)
				OPENSSL_cleanse(g->token, strlen(g->token));
			g->token = optarg;
			g->token_from_argv = 1;
		} else {
			ctl->json = 1;
		}
	}
}

/* Makes the HTTP client; the exit status. */
static int connect_ctl(af_ctl *ctl, struct global_opts *g)
{
	af_ctl_http_status st;

	if (g->url == NULL)
		g->url = env(ENV_URL);
	if (g->url == NULL)
		g->url = DEFAULT_URL;
	if (g->token == NULL)
		g->token = env(ENV_TOKEN);
	st = af_ctl_http_new(g->url, g->token, &ctl->http);
	/*
	 * The client has its own copy now. The one on the command line is
	 * wiped so that it leaves this process's memory (and its
	 * /proc/PID/cmdline); the environment is the C library's to keep.
	 */
	if (g->token_from_argv)
		OPENSSL_cleanse(g->token, strlen(g->token));
	if (st == AF_CTL_HTTP_ERR_URL || st == AF_CTL_HTTP_ERR_PORT ||
	    st == AF_CTL_HTTP_ERR_PLAIN || st == AF_CTL_HTTP_ERR_TOKEN ||
	    st == AF_CTL_HTTP_ERR_TOKEN_LONG)
		return af_ctl_usage_fail("%s", af_ctl_http_strerror(st));
	if (st != AF_CTL_HTTP_OK)
		return af_ctl_fail(AF_CTL_EXIT_REFUSED, "%s",
				   af_ctl_http_strerror(st));
	ctl->have_token = g->token != NULL;
	return AF_CTL_EXIT_OK;
}

/*
 * "help [COMMAND]", and "COMMAND ... --help" (-h) before any "--":
 * prints the usage, all of it or the command group's, and returns the
 * exit status; -1 when the command line asks for no help.
 */
static int help(const char *name, int argc, char **argv)
{
	int i;

	if (strcmp(name, "help") == 0) {
		if (argc > 2)
			return af_ctl_usage_fail("help: unexpected argument "
						 "'%s'",
						 argv[2]);
		if (argc == 1) {
			af_ctl_usage(stdout);
			return AF_CTL_EXIT_OK;
		}
		if (af_ctl_usage_of(stdout, argv[1]) != 0)
			return af_ctl_usage_fail("help: unknown command '%s'",
						 argv[1]);
		return AF_CTL_EXIT_OK;
	}
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") != 0 &&
		    strcmp(argv[i], "-h") != 0)
			continue;
		if (af_ctl_usage_of(stdout, name) != 0)
			return af_ctl_usage_fail("unknown command '%s'", name);
		return AF_CTL_EXIT_OK;
	}
	return -1;
}

static int run(af_ctl *ctl, int argc, char **argv)
{
	struct global_opts g = {NULL, NULL, 0};
	const char *name;
	size_t i;
	int rc;

	rc = parse_global(ctl, &g, argc, argv);
	if (rc != -1) {
		if (g.token_from_argv)
			OPENSSL_cleanse(g.token, strlen(g.token));
		return rc;
	}
	/* Help needs no server: a bad URL or token in the environment
	 * must not keep it from being read. */
	name = argv[optind];
	rc = help(name, argc - optind, argv + optind);
	if (rc != -1) {
		if (g.token_from_argv)
			OPENSSL_cleanse(g.token, strlen(g.token));
		return rc;
	}
	rc = connect_ctl(ctl, &g);
	if (rc != AF_CTL_EXIT_OK)
		return rc;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].run(ctl, argc - optind,
					       argv + optind);
	}
	return af_ctl_usage_fail("unknown command '%s'", name);
}

int main(int argc, char **argv)
{
	af_ctl ctl = {NULL, 0, 0};
	int rc;

	/*
	 * Before any other call into either library: every block jansson
	 * and libcurl free is wiped first (see http.h), which covers their
	 * copies of the token, passwords and client secrets.
	 */
	if (af_httpc_global_init() != AF_HTTPC_OK)
		return af_ctl_fail(AF_CTL_EXIT_REFUSED,
				   "cannot start the HTTP library");
	/* No core image of them (lowering a limit cannot fail). */
	(void)af_secmem_no_core();
	rc = run(&ctl, argc, argv);
	af_ctl_http_free(ctl.http);
	af_httpc_global_cleanup();
	if (fflush(stdout) != 0 && rc == AF_CTL_EXIT_OK)
		rc = af_ctl_fail(AF_CTL_EXIT_REFUSED, "cannot write output");
	return rc;
}
