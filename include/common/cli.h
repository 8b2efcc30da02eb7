/*
 * Command-line plumbing that authflowctl and idsim share: the exit
 * statuses of their contract, the one error line on stderr, and the text
 * of an option getopt_long() refused.
 *
 * Thread-safety: the option functions use getopt's globals (optind,
 * optopt), so they belong to the thread that parses the command line;
 * the others are re-entrant.
 */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define AF_CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AF_CLI_PRINTF(a, b)
#endif

/* The exit statuses of both programs (their usage texts name them). */
#define AF_CLI_EXIT_OK		0 /* done */
#define AF_CLI_EXIT_REFUSED	1 /* refused by the server, local failure */
#define AF_CLI_EXIT_USAGE	2 /* a malformed command line or input */
#define AF_CLI_EXIT_UNREACHABLE 3 /* no answer of the expected API */

#define AF_CLI_MSG_MAX	1024 /* bytes of one error line's message */
#define AF_CLI_OPT_BUF	64   /* a comfortable size for an option's text */
#define AF_CLI_OPT_STOP (-2) /* af_cli_next_opt(): stop with p->rc */
/*
 * Or'ed into the val of an option that may be given more than once (a
 * list: --group G...); af_cli_next_opt() returns the val without it. Any
 * other option given twice is refused: which one was meant is anyone's
 * guess.
 */
#define AF_CLI_OPT_MANY 0x10000

/*
 * A program: its name for messages and its usage text for --help, with,
 * for a program of command groups, the usage of the group a command is
 * in (cmd "user add": the "user" group's lines; 0, or -1 when it has
 * none). usage_of may be NULL.
 */
typedef struct af_cli_prog {
	const char *name;	  /* "authflowctl" */
	void (*usage)(FILE *out); /* writes the whole usage text */
	int (*usage_of)(FILE *out, const char *cmd);
} af_cli_prog;

/* The getopt_long() state of one command's options. */
typedef struct af_cli_optparse {
	const af_cli_prog *prog;
	const char *cmd; /* "user add", for messages; may be NULL */
	int argc;
	char **argv; /* from the command's name on */
	const struct option *opts;
	int rc;	       /* the exit status once AF_CLI_OPT_STOP is returned */
	uint64_t seen; /* bit i: opts[i] was given */
} af_cli_optparse;

/*
 * Whether code point cp must not reach a terminal as it is: C0 and C1
 * controls and DEL (cursor movement, escape sequences), and the Unicode
 * bidirectional controls that reorder how the text around them reads.
 */
int af_cli_unsafe_code_point(uint32_t cp);

/*
 * Replaces, in place, each character of s that af_cli_unsafe_code_point()
 * names (CR and LF among them), and each byte that is not well-formed
 * UTF-8, with one '?', so that a message made of outside text stays one
 * line and cannot steer the terminal. NULL accepted.
 */
void af_cli_one_line(char *s);

/*
 * Prints "<prog>: <message><hint>" and a newline on stderr, as one line:
 * the message (from fmt and ap, cut to msg_max - 1 bytes, msg_max at
 * most AF_CLI_MSG_MAX) has its control characters replaced as by
 * af_cli_one_line(). hint (may be NULL) is the program's own text and
 * printed as is. Returns code, so that a caller can return its result.
 */
int af_cli_vfail(const char *prog, size_t msg_max, int code, const char *hint,
		 const char *fmt, va_list ap) AF_CLI_PRINTF(5, 0);

/*
 * The option getopt_long() just refused, as "--name" without any
 * "=value" (which could be a mistyped secret), "-x", or "?" when it
 * cannot tell; written into buf (cap bytes, at least 3) and returned.
 */
const char *af_cli_opt_text(int argc, char **argv, char *buf, size_t cap);

/*
 * After getopt_long() with an optstring that starts with ':' returned c:
 * when c is a refusal, writes its reason into msg (cap bytes) and returns
 * 1: "--name needs a value" (c is ':'), "--name takes no value" (a known
 * long option without an argument was given "=value") or "unknown option
 * --name" (any other '?'). Returns 0 for every other c. For programs that
 * take options alone (authflow, pushd): unlike af_cli_next_opt(), it says
 * nothing of values that begin with '-'.
 */
int af_cli_opt_refusal(int c, int argc, char **argv, char *msg, size_t cap);

/*
 * A usage error: prints "<prog>: [<cmd>: ]<message> (see '<prog>
 * --help')" as by af_cli_vfail() and returns AF_CLI_EXIT_USAGE; with a
 * cmd and the prog's usage_of, the hint names the command's group: "(see
 * '<prog> <group> --help')". cmd may be NULL.
 */
int af_cli_usage_fail(const af_cli_prog *prog, const char *cmd, const char *fmt,
		      ...) AF_CLI_PRINTF(3, 4);

/*
 * Whether path, a file or folder name given with option opt ("--config"),
 * fits one line of a message: 1..AF_CLI_PATH_MAX bytes of UTF-8 without
 * what af_cli_one_line() replaces (a name of two lines could pass for
 * another message). 0, or -1 with why in msg.
 */
#define AF_CLI_PATH_MAX 1024
int af_cli_path_check(const char *opt, const char *path, char *msg, size_t cap);

/*
 * For a parser that calls getopt_long() itself: c, the option at opts[at]
 * (at as getopt_long() set it, -1 for a short option), was just given.
 * NULL, with bit at of *seen set unless c carries AF_CLI_OPT_MANY; or
 * the option's long name when it was given before.
 */
const char *af_cli_given_twice(const struct option *opts, int c, int at,
			       uint64_t *seen);

/*
 * Starts parsing the options of cmd (argv from the command's name on;
 * every pointer lent for the parse). Resets getopt's state.
 */
void af_cli_opt_begin(af_cli_optparse *p, const af_cli_prog *prog,
		      const char *cmd, int argc, char **argv,
		      const struct option *opts);

/*
 * The next option, with the optstring ":h": its value (without
 * AF_CLI_OPT_MANY), -1 after the last one, or AF_CLI_OPT_STOP with the
 * exit status in p->rc: AF_CLI_EXIT_OK after --help wrote the usage to
 * stdout, or AF_CLI_EXIT_USAGE after a refusal (see af_cli_opt_refusal(),
 * or "--name given twice") was printed.
 */
int af_cli_next_opt(af_cli_optparse *p);

/*
 * The next of the program's own options before its command, with the
 * optstring "+:h" (getopt_long() stops at the first argument that is not
 * an option): its value; -1 after the last one when a command follows;
 * or AF_CLI_OPT_STOP with the exit status in p->rc: AF_CLI_EXIT_OK after
 * --help wrote the usage to stdout, or AF_CLI_EXIT_USAGE after "--name
 * needs a value", "unknown option --name", "--name given twice" or
 * "missing command" was printed.
 */
int af_cli_next_global(af_cli_optparse *p);

/*
 * The positional arguments after the options: exactly want of them,
 * lent into out (may be NULL) when there are. AF_CLI_EXIT_OK, or
 * AF_CLI_EXIT_USAGE after "missing <what>" or "unexpected argument
 * '<arg>'" was printed.
 */
int af_cli_positionals(const af_cli_optparse *p, int want, const char **out,
		       const char *what);

#endif /* COMMON_CLI_H */
