/*
 * Unit tests of the command-line plumbing that authflowctl and idsim
 * share: the one error line, option refusals, positional arguments and
 * the program options before a command. stderr and stdout are caught in
 * temporary files so that the exact lines can be checked.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/cli.h"

#define OUT_MAX 2048

/* What a test caught on a stream. */
struct capture {
	FILE *file;
	int saved; /* the stream's own descriptor, restored afterwards */
	int fd;	   /* STDERR_FILENO or STDOUT_FILENO */
};

static void capture_begin(struct capture *c, FILE *stream, int fd)
{
	fflush(stream);
	c->fd = fd;
	c->file = tmpfile();
	assert_non_null(c->file);
	c->saved = dup(fd);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->file), fd) >= 0);
}

/* Restores the stream and reads what it caught into out (OUT_MAX). */
static void capture_end(struct capture *c, FILE *stream, char *out)
{
	size_t n;

	fflush(stream);
	assert_true(dup2(c->saved, c->fd) >= 0);
	close(c->saved);
	rewind(c->file);
	n = fread(out, 1, OUT_MAX - 1, c->file);
	out[n] = '\0';
	fclose(c->file);
}

static void fake_usage(FILE *out)
{
	fputs("usage: prog\n", out);
}

static const af_cli_prog prog = {"prog", fake_usage, NULL};

static int call_vfail(size_t msg_max, const char *hint, const char *fmt, ...)
	AF_CLI_PRINTF(3, 4);

static int call_vfail(size_t msg_max, const char *hint, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = af_cli_vfail("prog", msg_max, 7, hint, fmt, ap);
	va_end(ap);
	return rc;
}

static void test_one_line_controls_replaced(void **state)
{
	char msg[] = "bad\r\nname\x1b]0;x\x07!\x7f";
	/* C1 CSI, a right-to-left override, a stray byte; é and ü stay. */
	char wide[] = "a\xc2\x9b"
		      "31m b\xe2\x80\xae"
		      "evil c\xff d\xc3\xa9\xc3\xbc";

	(void)state;
	af_cli_one_line(msg);
	assert_string_equal(msg, "bad??name?]0;x?!?");
	af_cli_one_line(wide);
	assert_string_equal(wide, "a?31m b?evil c? d\xc3\xa9\xc3\xbc");
	af_cli_one_line(NULL);
}

static void test_vfail_one_line_with_hint_returns_code(void **state)
{
	struct capture c;
	char out[OUT_MAX];
	int rc;

	(void)state;
	capture_begin(&c, stderr, STDERR_FILENO);
	rc = call_vfail(AF_CLI_MSG_MAX, " (hint)", "server said %s", "a\nb");
	capture_end(&c, stderr, out);
	assert_int_equal(rc, 7);
	assert_string_equal(out, "prog: server said a?b (hint)\n");
}

static void test_vfail_long_message_cut_at_msg_max(void **state)
{
	struct capture c;
	char out[OUT_MAX];

	(void)state;
	capture_begin(&c, stderr, STDERR_FILENO);
	(void)call_vfail(8, NULL, "%s", "0123456789");
	capture_end(&c, stderr, out);
	assert_string_equal(out, "prog: 0123456\n");
}

static void test_usage_fail_with_and_without_cmd(void **state)
{
	struct capture c;
	char out[OUT_MAX];
	int rc;

	(void)state;
	capture_begin(&c, stderr, STDERR_FILENO);
	rc = af_cli_usage_fail(&prog, "user add", "missing %s", "NAME");
	assert_int_equal(rc, AF_CLI_EXIT_USAGE);
	rc = af_cli_usage_fail(&prog, NULL, "missing command");
	capture_end(&c, stderr, out);
	assert_int_equal(rc, AF_CLI_EXIT_USAGE);
	assert_string_equal(out,
			    "prog: user add: missing NAME (see 'prog --help')\n"
			    "prog: missing command (see 'prog --help')\n");
}

static const struct option cmd_opts[] = {
	{"name", required_argument, NULL, 'n'},
	{"flag", no_argument, NULL, 'f'},
	{"item", required_argument, NULL, 'i' | AF_CLI_OPT_MANY},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Parses argv as the command "cmd"; the last af_cli_next_opt() value. */
static int parse(int argc, char **argv, af_cli_optparse *p, char *err)
{
	struct capture c;
	int v;

	capture_begin(&c, stderr, STDERR_FILENO);
	af_cli_opt_begin(p, &prog, "cmd", argc, argv, cmd_opts);
	do {
		v = af_cli_next_opt(p);
	} while (v != -1 && v != AF_CLI_OPT_STOP);
	capture_end(&c, stderr, err);
	return v;
}

static void test_next_opt_missing_value_refused(void **state)
{
	char a0[] = "cmd", a1[] = "--name";
	char *argv[] = {a0, a1, NULL};
	af_cli_optparse p;
	char err[OUT_MAX];

	(void)state;
	assert_int_equal(parse(2, argv, &p, err), AF_CLI_OPT_STOP);
	assert_int_equal(p.rc, AF_CLI_EXIT_USAGE);
	assert_string_equal(
		err, "prog: cmd: --name needs a value (see 'prog --help')\n");
}

static void test_next_opt_twice_refused_unless_many(void **state)
{
	char a0[] = "cmd", a1[] = "--item", a2[] = "x", a3[] = "--item=y",
	     a4[] = "--flag", a5[] = "--name", a6[] = "n", a7[] = "--flag";
	char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, NULL};
	af_cli_optparse p;
	char err[OUT_MAX];
	int v, items = 0;

	(void)state;
	/* A list option comes back without the flag, each time. */
	af_cli_opt_begin(&p, &prog, "cmd", 7, argv, cmd_opts);
	while ((v = af_cli_next_opt(&p)) != -1) {
		assert_int_not_equal(v, AF_CLI_OPT_STOP);
		if (v == 'i')
			items++;
	}
	assert_int_equal(items, 2);
	/* Any other option given a second time is refused, named. */
	assert_int_equal(parse(8, argv, &p, err), AF_CLI_OPT_STOP);
	assert_int_equal(p.rc, AF_CLI_EXIT_USAGE);
	assert_string_equal(
		err, "prog: cmd: --flag given twice (see 'prog --help')\n");
}

static void test_path_check_one_line(void **state)
{
	char msg[128], longest[AF_CLI_PATH_MAX + 2];

	(void)state;
	assert_int_equal(
		af_cli_path_check("--config", "/etc/a.json", msg, sizeof(msg)),
		0);
	assert_int_equal(af_cli_path_check("--config", "a\nauthflow: OK", msg,
					   sizeof(msg)),
			 -1);
	assert_string_equal(msg, "--config: the name holds a control character "
				 "or is not UTF-8");
	/* A bidirectional override would reorder the line around it. */
	assert_int_equal(af_cli_path_check("--config", "a\xe2\x80\xaejson.x",
					   msg, sizeof(msg)),
			 -1);
	assert_int_equal(af_cli_path_check("--config", "/etc/caf\xc3\xa9.json",
					   msg, sizeof(msg)),
			 0);
	assert_int_equal(af_cli_path_check("--config", "", msg, sizeof(msg)),
			 -1);
	memset(longest, 'a', AF_CLI_PATH_MAX);
	longest[AF_CLI_PATH_MAX] = '\0';
	assert_int_equal(
		af_cli_path_check("--config", longest, msg, sizeof(msg)), 0);
	longest[AF_CLI_PATH_MAX] = 'a';
	longest[AF_CLI_PATH_MAX + 1] = '\0';
	assert_int_equal(
		af_cli_path_check("--config", longest, msg, sizeof(msg)), -1);
	assert_string_equal(msg, "--config needs a name of 1..1024 bytes");
}

static void test_next_opt_value_on_flag_refused_without_value(void **state)
{
	char a0[] = "cmd", a1[] = "--flag=secret";
	char *argv[] = {a0, a1, NULL};
	af_cli_optparse p;
	char err[OUT_MAX];

	(void)state;
	assert_int_equal(parse(2, argv, &p, err), AF_CLI_OPT_STOP);
	assert_int_equal(p.rc, AF_CLI_EXIT_USAGE);
	/* The value could be a mistyped secret: it is never echoed. */
	assert_null(strstr(err, "secret"));
	assert_string_equal(
		err, "prog: cmd: --flag takes no value (see 'prog --help')\n");
}

static void test_next_opt_unknown_options_named(void **state)
{
	char a0[] = "cmd", a1[] = "--nope=x", b1[] = "-z";
	char *argv[] = {a0, a1, NULL};
	char *argv2[] = {a0, b1, NULL};
	af_cli_optparse p;
	char err[OUT_MAX];

	(void)state;
	assert_int_equal(parse(2, argv, &p, err), AF_CLI_OPT_STOP);
	assert_string_equal(
		err, "prog: cmd: unknown option --nope (see 'prog --help')\n");
	assert_int_equal(parse(2, argv2, &p, err), AF_CLI_OPT_STOP);
	assert_string_equal(
		err,
		"prog: cmd: unknown option -z (a value that begins with '-' goes after --) (see 'prog --help')\n");
}

static void test_next_opt_help_prints_usage_ok(void **state)
{
	char a0[] = "cmd", a1[] = "--help";
	char *argv[] = {a0, a1, NULL};
	struct capture c;
	af_cli_optparse p;
	char err[OUT_MAX], out[OUT_MAX];

	(void)state;
	capture_begin(&c, stdout, STDOUT_FILENO);
	assert_int_equal(parse(2, argv, &p, err), AF_CLI_OPT_STOP);
	capture_end(&c, stdout, out);
	assert_int_equal(p.rc, AF_CLI_EXIT_OK);
	assert_string_equal(out, "usage: prog\n");
	assert_string_equal(err, "");
}

/* A program of command groups: "user" has its own usage, "app" none. */
static int fake_usage_of(FILE *out, const char *cmd)
{
	if (strncmp(cmd, "user", 4) != 0 || (cmd[4] != '\0' && cmd[4] != ' '))
		return -1;
	fputs("usage: prog user\n", out);
	return 0;
}

static const af_cli_prog grouped = {"prog", fake_usage, fake_usage_of};

static void test_group_usage_and_hint(void **state)
{
	char a0[] = "add", a1[] = "--help";
	char *argv[] = {a0, a1, NULL};
	struct capture c;
	af_cli_optparse p;
	char out[OUT_MAX];

	(void)state;
	capture_begin(&c, stdout, STDOUT_FILENO);
	af_cli_opt_begin(&p, &grouped, "user add", 2, argv, cmd_opts);
	assert_int_equal(af_cli_next_opt(&p), AF_CLI_OPT_STOP);
	/* A group without a usage of its own: the whole one. */
	af_cli_opt_begin(&p, &grouped, "app add", 2, argv, cmd_opts);
	assert_int_equal(af_cli_next_opt(&p), AF_CLI_OPT_STOP);
	capture_end(&c, stdout, out);
	assert_int_equal(p.rc, AF_CLI_EXIT_OK);
	assert_string_equal(out, "usage: prog user\nusage: prog\n");

	capture_begin(&c, stderr, STDERR_FILENO);
	(void)af_cli_usage_fail(&grouped, "user add", "missing NAME");
	(void)af_cli_usage_fail(&grouped, "status", "unexpected argument");
	(void)af_cli_usage_fail(&grouped, NULL, "missing command");
	capture_end(&c, stderr, out);
	assert_string_equal(
		out, "prog: user add: missing NAME (see 'prog user --help')\n"
		     "prog: status: unexpected argument (see 'prog status "
		     "--help')\n"
		     "prog: missing command (see 'prog --help')\n");
}

static void test_positionals_exact_count_lent(void **state)
{
	char a0[] = "cmd", a1[] = "--flag", a2[] = "one", a3[] = "two";
	char *argv[] = {a0, a1, a2, a3, NULL};
	const char *got[2] = {NULL, NULL};
	struct capture c;
	af_cli_optparse p;
	char err[OUT_MAX];
	int rc;

	(void)state;
	assert_int_equal(parse(4, argv, &p, err), -1);
	assert_int_equal(af_cli_positionals(&p, 2, got, "A and B"),
			 AF_CLI_EXIT_OK);
	assert_ptr_equal(got[0], a2);
	assert_ptr_equal(got[1], a3);
	capture_begin(&c, stderr, STDERR_FILENO);
	rc = af_cli_positionals(&p, 1, NULL, "A");
	assert_int_equal(rc, AF_CLI_EXIT_USAGE);
	rc = af_cli_positionals(&p, 3, NULL, "A, B and C");
	capture_end(&c, stderr, err);
	assert_int_equal(rc, AF_CLI_EXIT_USAGE);
	assert_string_equal(err,
			    "prog: cmd: unexpected argument 'two' (see 'prog "
			    "--help')\n"
			    "prog: cmd: missing A, B and C (see 'prog "
			    "--help')\n");
}

static const struct option global_opts[] = {
	{"url", required_argument, NULL, 'u'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Runs af_cli_next_global() over argv; the last value, url in *url. */
static int parse_global(int argc, char **argv, af_cli_optparse *p,
			const char **url, char *err)
{
	struct capture c;
	int v;

	*url = NULL;
	capture_begin(&c, stderr, STDERR_FILENO);
	af_cli_opt_begin(p, &prog, NULL, argc, argv, global_opts);
	for (;;) {
		v = af_cli_next_global(p);
		if (v != 'u')
			break;
		*url = optarg;
	}
	capture_end(&c, stderr, err);
	return v;
}

static void test_next_global_stops_at_command(void **state)
{
	char a0[] = "prog", a1[] = "--url", a2[] = "http://x", a3[] = "status",
	     a4[] = "--url";
	char *argv[] = {a0, a1, a2, a3, a4, NULL};
	const char *url;
	af_cli_optparse p;
	char err[OUT_MAX];

	(void)state;
	/* The second --url belongs to the command, so it is not read. */
	assert_int_equal(parse_global(5, argv, &p, &url, err), -1);
	assert_string_equal(url, "http://x");
	assert_int_equal(optind, 3);
	assert_string_equal(err, "");
}

static void test_next_global_missing_command_and_value(void **state)
{
	char a0[] = "prog", a1[] = "--url", a2[] = "--url=x", a3[] = "--json";
	char *argv[] = {a0, a1, NULL};
	char *argv2[] = {a0, a2, NULL};
	char *argv3[] = {a0, a3, NULL};
	const char *url;
	af_cli_optparse p;
	char err[OUT_MAX];

	(void)state;
	assert_int_equal(parse_global(2, argv, &p, &url, err), AF_CLI_OPT_STOP);
	assert_int_equal(p.rc, AF_CLI_EXIT_USAGE);
	assert_string_equal(err,
			    "prog: --url needs a value (see 'prog --help')\n");
	assert_int_equal(parse_global(2, argv2, &p, &url, err),
			 AF_CLI_OPT_STOP);
	assert_string_equal(err, "prog: missing command (see 'prog --help')\n");
	assert_int_equal(parse_global(2, argv3, &p, &url, err),
			 AF_CLI_OPT_STOP);
	assert_string_equal(
		err, "prog: unknown option --json (see 'prog --help')\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_line_controls_replaced),
		cmocka_unit_test(test_vfail_one_line_with_hint_returns_code),
		cmocka_unit_test(test_vfail_long_message_cut_at_msg_max),
		cmocka_unit_test(test_usage_fail_with_and_without_cmd),
		cmocka_unit_test(test_next_opt_missing_value_refused),
		cmocka_unit_test(
			test_next_opt_value_on_flag_refused_without_value),
		cmocka_unit_test(test_next_opt_unknown_options_named),
		cmocka_unit_test(test_next_opt_twice_refused_unless_many),
		cmocka_unit_test(test_path_check_one_line),
		cmocka_unit_test(test_next_opt_help_prints_usage_ok),
		cmocka_unit_test(test_group_usage_and_hint),
		cmocka_unit_test(test_positionals_exact_count_lent),
		cmocka_unit_test(test_next_global_stops_at_command),
		cmocka_unit_test(test_next_global_missing_command_and_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
