/*
 * The command frame that every authflowctl command group shares
 * (commands.c, mfa.c): option parsing with getopt_long, request paths,
 * sending a request and turning its outcome into the one stderr line and
 * exit status of commands.h, printing answers as "key: value" lines or
 * aligned tables, and dispatching a group's verbs, of which the simple
 * ones are plain data.
 *
 * Every function that returns an int returns an exit status of
 * commands.h and has printed the one failure line when it is not
 * AF_CTL_EXIT_OK.
 *
 * Thread-safety: single-threaded; getopt_long keeps its state in globals
 * of the C library.
 */
#ifndef AUTHFLOW_CTL_COMMON_H
#define AUTHFLOW_CTL_COMMON_H

#include <getopt.h>
#include <stddef.h>

#include <jansson.h>

#include "commands.h"
#include "common/cli.h"
#include "http.h"

#define AF_CTL_OPT_STOP	 AF_CLI_OPT_STOP /* af_ctl_next_opt(): see p->rc */
#define AF_CTL_OPT_JSON	 1000 /* --json after the command, as before it */
#define AF_CTL_PATH_BUF	 (AF_CTL_HTTP_PATH_MAX + 1)
#define AF_CTL_TIME_BUF	 32 /* an ISO 8601 time and its NUL */
#define AF_CTL_NELEMS(a) (sizeof(a) / sizeof((a)[0]))
/* The options every command takes (--help, --json), and the list's end. */
#define AF_CTL_OPT_END                               \
	{"help", no_argument, NULL, 'h'},            \
		{"json", no_argument, NULL,          \
		 AF_CTL_OPT_JSON | AF_CLI_OPT_MANY}, \
	{                                            \
		NULL, 0, NULL, 0                     \
	}

/* Prints the answer of a request that succeeded; the exit status. */
typedef int (*af_ctl_printer)(json_t *answer);

/* A command without options: positional arguments, one request. */
typedef struct af_ctl_simple {
	const char *cmd;
	const char *args; /* what the positional arguments are, or NULL */
	int nargs;	  /* 0..2, the "{}" of tmpl */
	const char *method;
	const char *tmpl;
	af_ctl_printer print;
} af_ctl_simple;

/* One verb of a command group: a function, or a simple command. */
typedef struct af_ctl_verb {
	const char *name;
	af_ctl_command_fn run;	     /* a command with options */
	const af_ctl_simple *simple; /* or one without (run NULL) */
} af_ctl_verb;

/* A listing with "--limit N" (1..max, default def) and no arguments. */
typedef struct af_ctl_limited {
	const char *cmd;
	const char *path; /* "?limit=N" is appended */
	long def;
	long max;
	af_ctl_printer print;
} af_ctl_limited;

/*
 * A command that sends what its options say as one JSON body: option
 * turns each option (its letter and argument) into members of body and
 * returns an exit status; cmd names the command in messages and state is
 * the caller's, handed to every call. With arg set the command takes one
 * positional argument of that name, which fills the "{}" of tmpl.
 * Giving no option at all is a usage error ("nothing to change").
 */
typedef int (*af_ctl_option_fn)(json_t *body, int c, const char *optarg,
				const char *cmd, void *state);

typedef struct af_ctl_patch {
	const char *cmd;
	const struct option *opts;
	const char *arg; /* the positional argument ("NAME"), or NULL */
	const char *method;
	const char *tmpl;
	af_ctl_option_fn option;
	af_ctl_printer print;
} af_ctl_patch;

/* How a table cell is made from a member of a list entry. */
typedef enum af_ctl_cell {
	AF_CTL_CELL_TEXT,   /* a string or number */
	AF_CTL_CELL_BOOL,   /* yes or no */
	AF_CTL_CELL_TIME,   /* a Unix time as ISO 8601 */
	AF_CTL_CELL_LIST,   /* an array of strings, comma-separated */
	AF_CTL_CELL_DEPLOY, /* an app's deployment, summed up */
	AF_CTL_CELL_PUSH,   /* whether a device can take pushes */
	AF_CTL_CELL_JSON    /* any value, as compact JSON */
} af_ctl_cell;

typedef struct af_ctl_column {
	const char *header;
	const char *field; /* "name", or "outer.inner" one level down */
	af_ctl_cell kind;
} af_ctl_column;

/* "out of memory", exit AF_CTL_EXIT_REFUSED. */
int af_ctl_no_memory(void);

/* An answer that is not what the admin API sends: AF_CTL_EXIT_UNREACHABLE. */
int af_ctl_bad_answer(void);

/* af_cli_opt_begin() for authflowctl (argv from the verb on). */
void af_ctl_opt_begin(af_cli_optparse *p, const char *cmd, int argc,
		      char **argv, const struct option *opts);

/*
 * The next option: its value, -1 after the last one, or AF_CTL_OPT_STOP
 * with the exit status in p->rc (--help printed the usage, or a usage
 * error was printed). --json anywhere sets ctl->json.
 */
int af_ctl_next_opt(af_ctl *ctl, af_cli_optparse *p);

/*
 * Checks that the server URL and an admin token are known, before
 * anything is read from the terminal or sent.
 */
int af_ctl_need_token(const af_ctl *ctl);

/* Fills path (AF_CTL_PATH_BUF bytes) from tmpl and up to two names. */
int af_ctl_make_path(const af_ctl *ctl, char *path, const char *tmpl,
		     const char *a, const char *b);

/*
 * Sends one request (body lent, may be NULL). On a 2xx answer holding a
 * JSON object: AF_CTL_EXIT_OK and the answer in *out (a new reference).
 */
int af_ctl_call(af_ctl *ctl, const char *method, const char *path,
		const json_t *body, json_t **out);

/* af_ctl_call(), then the answer printed by print, or as --json. */
int af_ctl_call_print(af_ctl *ctl, const char *method, const char *path,
		      const json_t *body, af_ctl_printer print);

/* af_ctl_call_print() to the path of tmpl and one name. */
int af_ctl_send_named(af_ctl *ctl, const char *method, const char *tmpl,
		      const char *name, const json_t *body,
		      af_ctl_printer print);

/* For answers that only say {"ok": true}: the exit status says it all. */
int af_ctl_print_nothing(json_t *answer);

/*
 * Prints "<prefix><key>: <value>" with both parts made safe for the
 * terminal; a NULL or empty value is shown as "-". The value may be a
 * secret (a client secret, an enrollment code), so every copy is wiped.
 */
int af_ctl_put_line(const char *prefix, const char *key, const char *value);

/* As af_ctl_put_line() with a JSON value (times of known keys as ISO). */
int af_ctl_put_value(const char *prefix, const char *key, const json_t *v);

/*
 * An object's members as "key: value" lines, objects inside as
 * "outer.key: value" (4 deep at most); the exit status.
 */
int af_ctl_print_kv(json_t *answer);

/* A table of answer[member], an array of objects; other entries skipped. */
int af_ctl_print_table(const json_t *answer, const char *member,
		       const af_ctl_column *cols, size_t ncols);

/*
 * The confirmation of a change whose answer is only {"ok": true}, one
 * line on stdout such as "added alice to group finance": the parts
 * around the names are ours, the names (b may be NULL) are the caller's
 * and made safe for the terminal. The exit status.
 */
int af_ctl_confirm(const char *before, const char *a, const char *middle,
		   const char *b);

/*
 * Runs s (one positional argument; its answer only {"ok": true}) and
 * confirms in text mode with "<before><argument>", such as "removed user
 * alice".
 */
int af_ctl_run_confirm_one(af_ctl *ctl, int argc, char **argv,
			   const af_ctl_simple *s, const char *before);

/*
 * Runs s (NAME and USER) and confirms in text mode with "<verb> USER
 * <middle> NAME", such as "added alice to group finance", or, when the
 * server changed nothing, "USER <already> NAME", such as "alice was
 * already in group finance".
 */
int af_ctl_run_confirm_member(af_ctl *ctl, int argc, char **argv,
			      const af_ctl_simple *s, const char *verb,
			      const char *middle, const char *already);

/* Runs a command without options (see af_ctl_simple). */
int af_ctl_run_simple(af_ctl *ctl, int argc, char **argv,
		      const af_ctl_simple *s);

/* Runs a "--limit N" (and, paged, "--before SEQ") listing. */
int af_ctl_run_limited(af_ctl *ctl, int argc, char **argv,
		       const af_ctl_limited *l);

/* Runs a command that sends its options (see af_ctl_patch). */
int af_ctl_run_patch(af_ctl *ctl, int argc, char **argv, const af_ctl_patch *s,
		     void *state);

/* Runs the verb argv[1] of group (argv[0]) from the n verbs. */
int af_ctl_run_verb(af_ctl *ctl, const char *group, const af_ctl_verb *verbs,
		    size_t n, int argc, char **argv);

#endif /* AUTHFLOW_CTL_COMMON_H */
