/*
 * The commands of idsim, the command-line phone. main.c reads and checks
 * the command line; each function here takes the checked arguments, loads
 * the state file, sends the signed request through the device client,
 * prints the answer, and returns the exit status:
 *
 *   AF_IDSIM_EXIT_OK           done
 *   AF_IDSIM_EXIT_REFUSED      the server answered 4xx or 5xx (its message
 *                              is on stderr), or a local failure (out of
 *                              memory, the state file cannot be written)
 *   AF_IDSIM_EXIT_USAGE        a malformed command line, or a state file
 *                              that is missing, unsafe or malformed
 *   AF_IDSIM_EXIT_UNREACHABLE  no device API answer from the server
 *
 * Every failure prints exactly one line on stderr, "idsim: ...", and
 * nothing on stdout.
 *
 * Thread-safety: single-threaded (a command runs alone in the process).
 */
#ifndef AUTHFLOW_IDSIM_COMMANDS_H
#define AUTHFLOW_IDSIM_COMMANDS_H

#include <stdio.h>

#include "common/cli.h"

#if defined(__GNUC__)
#define AF_IDSIM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AF_IDSIM_PRINTF(a, b)
#endif

/* The exit statuses shared with authflowctl (common/cli.h). */
#define AF_IDSIM_EXIT_OK	  AF_CLI_EXIT_OK
#define AF_IDSIM_EXIT_REFUSED	  AF_CLI_EXIT_REFUSED
#define AF_IDSIM_EXIT_USAGE	  AF_CLI_EXIT_USAGE
#define AF_IDSIM_EXIT_UNREACHABLE AF_CLI_EXIT_UNREACHABLE

#define AF_IDSIM_DEFAULT_PLATFORM    "none"
#define AF_IDSIM_DEFAULT_APP_VERSION "2024.1"
#define AF_IDSIM_DEFAULT_NAME	     "idsim"

/* The global options; every pointer lends a command-line argument. */
typedef struct af_idsim_ctx {
	const char *url;   /* --url, or NULL for the state file's */
	const char *state; /* --state FILE */
} af_idsim_ctx;

/* enroll CODE [--platform P] [--push-token T] [--app-version V]
 * [--sandbox] [--name N]; main.c has filled in the defaults. */
typedef struct af_idsim_enroll_args {
	const char *code;
	const char *platform;
	const char *push_token; /* NULL: none */
	const char *app_version;
	const char *name;
	int sandbox;
} af_idsim_enroll_args;

/* push-token T [--platform P] [--app-version V] [--sandbox]. */
typedef struct af_idsim_push_args {
	const char *push_token;
	const char *platform;	 /* NULL: unchanged */
	const char *app_version; /* NULL: unchanged */
	int sandbox;		 /* -1: unchanged, else 0 or 1 */
} af_idsim_push_args;

/*
 * Enrolls a new device with the one-time code: makes a P-256 key pair,
 * proves possession by signing the request with it, and writes the state
 * file (which must not exist yet). Prints "enrolled DEVICE_ID".
 */
int af_idsim_enroll(const af_idsim_ctx *ctx, const af_idsim_enroll_args *a);

/* Prints "TXN USER APP number|nonumber" per pending challenge. */
int af_idsim_pending(const af_idsim_ctx *ctx);

/* Prints user, app, expires_in, number_required and state of txn. */
int af_idsim_show(const af_idsim_ctx *ctx, const char *txn);

/* Approves txn (with number, or NULL) and prints the new state. */
int af_idsim_approve(const af_idsim_ctx *ctx, const char *txn,
		     const char *number);

/* Denies txn, as suspected fraud when report is non-zero; prints the
 * new state. */
int af_idsim_deny(const af_idsim_ctx *ctx, const char *txn, int report);

/* Prints the current token code (TOTP) of the device. */
int af_idsim_code(const af_idsim_ctx *ctx);

/* Sends a new push token and keeps it in the state file. */
int af_idsim_push_token(const af_idsim_ctx *ctx, const af_idsim_push_args *a);

/* Writes the usage text (every command and option) to out. */
void af_idsim_usage(FILE *out);

/*
 * Prints "idsim: <message>" as one line on stderr (control characters in
 * the message become '?') and returns code.
 */
int af_idsim_fail(int code, const char *fmt, ...) AF_IDSIM_PRINTF(2, 3);

#endif /* AUTHFLOW_IDSIM_COMMANDS_H */
