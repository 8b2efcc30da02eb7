/*
 * The commands of authflowctl, one function per command group. Each takes
 * the command line from the group's name on (argv[0] is "user", "app",
 * ...), parses it with getopt_long, sends the request through the
 * context's HTTP client, prints the answer, and returns the exit status:
 *
 *   AF_CTL_EXIT_OK           done
 *   AF_CTL_EXIT_REFUSED      the server refused (4xx or 5xx not below);
 *                            its message is on stderr
 *   AF_CTL_EXIT_USAGE        a malformed command line or input
 *   AF_CTL_EXIT_UNREACHABLE  no admin API answer from the server
 *   AF_CTL_EXIT_NOT_FOUND    what the command names is not there (404)
 *   AF_CTL_EXIT_CONFLICT     it is already there, or in the way (409)
 *   AF_CTL_EXIT_LATER        the server cannot now: try again (429, 502,
 *                            503, 504, or any refusal that says when:
 *                            "retry_after_s")
 *
 * Every failure prints exactly one line on stderr, "authflowctl: ...",
 * and nothing on stdout.
 *
 * Thread-safety: single-threaded; getopt_long keeps its state in
 * globals of the C library.
 */
#ifndef AUTHFLOW_CTL_COMMANDS_H
#define AUTHFLOW_CTL_COMMANDS_H

#include <stdio.h>

#include "common/cli.h"
#include "http.h"

#if defined(__GNUC__)
#define AF_CTL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AF_CTL_PRINTF(a, b)
#endif

/* The exit statuses shared with idsim (common/cli.h). */
#define AF_CTL_EXIT_OK		AF_CLI_EXIT_OK
#define AF_CTL_EXIT_REFUSED	AF_CLI_EXIT_REFUSED
#define AF_CTL_EXIT_USAGE	AF_CLI_EXIT_USAGE
#define AF_CTL_EXIT_UNREACHABLE AF_CLI_EXIT_UNREACHABLE
/* authflowctl's own: what a script branches on (idsim says 1 for all). */
#define AF_CTL_EXIT_NOT_FOUND	4
#define AF_CTL_EXIT_CONFLICT	5
#define AF_CTL_EXIT_LATER	6

/* What every command needs; made and owned by main(). */
typedef struct af_ctl {
	af_ctl_http *http; /* lent; NULL until the URL is known */
	int json;	   /* --json: print the server's JSON as it came */
	int have_token;	   /* an admin token was given */
} af_ctl;

/* One command group: the exit status (see above). */
typedef int (*af_ctl_command_fn)(af_ctl *ctl, int argc, char **argv);

int af_ctl_cmd_status(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_user(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_group(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_ou(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_policy(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_app(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_keys(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_sessions(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_audit(af_ctl *ctl, int argc, char **argv);
/* The push-MFA command groups, in mfa.c. */
int af_ctl_cmd_workflow(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_device(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_push(af_ctl *ctl, int argc, char **argv);
int af_ctl_cmd_branding(af_ctl *ctl, int argc, char **argv);

/* Writes the usage text (every command and option) to out. */
void af_ctl_usage(FILE *out);

/*
 * Writes the usage of one command group to out: group is its name, or a
 * command in it ("user add"). 0, or -1 (nothing written) for a name that
 * is no group.
 */
int af_ctl_usage_of(FILE *out, const char *group);

/* authflowctl for the shared option helpers: its name and af_ctl_usage. */
extern const af_cli_prog af_ctl_prog;

/*
 * Prints "authflowctl: <message>" as one line on stderr (control
 * characters in the message become '?') and returns code.
 */
int af_ctl_fail(int code, const char *fmt, ...) AF_CTL_PRINTF(2, 3);

/* As af_ctl_fail() with AF_CTL_EXIT_USAGE and a pointer to --help. */
int af_ctl_usage_fail(const char *fmt, ...) AF_CTL_PRINTF(1, 2);

#endif /* AUTHFLOW_CTL_COMMANDS_H */
