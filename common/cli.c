/* Command-line plumbing shared by authflowctl and idsim. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/cli.h"
#include "common/util.h"

int af_cli_unsafe_code_point(uint32_t cp)
{
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
		return 1;
	if (cp == 0x061c || cp == 0x200e || cp == 0x200f)
		return 1;
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void af_cli_one_line(char *s)
{
	unsigned char *u = (unsigned char *)s;
	size_t len, i = 0, o = 0, n;
	uint32_t cp = 0;

	if (s == NULL)
		return;
	len = strlen(s);
	/* Every replacement is one byte for at least one byte taken. */
	while (i < len) {
		n = af_utf8_next(u + i, len - i, &cp);
		if (n == 0 || af_cli_unsafe_code_point(cp)) {
			u[o++] = '?';
			i += n == 0 ? 1 : n;
		} else {
			memmove(u + o, u + i, n);
			o += n;
			i += n;
		}
	}
	u[o] = '\0';
}

int af_cli_vfail(const char *prog, size_t msg_max, int code, const char *hint,
		 const char *fmt, va_list ap)
{
	char msg[AF_CLI_MSG_MAX];

	if (msg_max == 0 || msg_max > sizeof(msg))
		msg_max = sizeof(msg);
	if (fmt == NULL || vsnprintf(msg, msg_max, fmt, ap) < 0)
		msg[0] = '\0';
	/* Server messages and arguments are outside text: keep one line. */
	af_cli_one_line(msg);
	fprintf(stderr, "%s: %s%s\n", prog != NULL ? prog : "", msg,
		hint != NULL ? hint : "");
	return code;
}

/* The argument getopt_long() looked at last, or NULL. */
static const char *last_arg(int argc, char **argv)
{
	if (argv == NULL || optind <= 0 || optind > argc)
		return NULL;
	return argv[optind - 1];
}

/*
 * After an unknown short option: names and ids may begin with '-' (a
 * session id, a device id), and only "--" tells them from options.
 */
static const char *dash_hint(const char *opt)
{
	return opt[0] == '-' && opt[1] != '-'
		       ? " (a value that begins with '-' goes after --)"
		       : "";
}

const char *af_cli_opt_text(int argc, char **argv, char *buf, size_t cap)
{
	const char *arg = last_arg(argc, argv);
	size_t n;

	if (buf == NULL || cap < 3)
		return "?";
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

/* af_cli_opt_refusal(), with the hint about "--" when hint is set. */
static int refusal(int c, int argc, char **argv, char *msg, size_t cap,
		   int hint)
{
	char opt[AF_CLI_OPT_BUF];
	const char *arg = last_arg(argc, argv);

	if (c != ':' && c != '?')
		return 0;
	af_cli_opt_text(argc, argv, opt, sizeof(opt));
	if (msg == NULL || cap == 0)
		return 1;
	if (c == ':')
		snprintf(msg, cap, "%s needs a value", opt);
	else if (optopt != 0 && arg != NULL && strncmp(arg, "--", 2) == 0)
		/* glibc: a known long option was given a value. */
		snprintf(msg, cap, "%s takes no value", opt);
	else if (snprintf(msg, cap, "unknown option %s%s", opt,
			  hint ? dash_hint(opt) : "") < 0)
		msg[0] = '\0'; /* cannot happen: no wide characters */
	return 1;
}

int af_cli_opt_refusal(int c, int argc, char **argv, char *msg, size_t cap)
{
	/* Programs that take options alone: no value goes after "--". */
	return refusal(c, argc, argv, msg, cap, 0);
}

int af_cli_usage_fail(const af_cli_prog *prog, const char *cmd, const char *fmt,
		      ...)
{
	char msg[AF_CLI_MSG_MAX];
	va_list ap;
	int group;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	af_cli_one_line(msg);
	/* The group's own usage is the shorter read. */
	group = cmd != NULL && prog->usage_of != NULL ? (int)strcspn(cmd, " ")
						      : 0;
	fprintf(stderr, "%s: %s%s%s (see '%s%s%.*s --help')\n", prog->name,
		cmd != NULL ? cmd : "", cmd != NULL ? ": " : "", msg,
		prog->name, group > 0 ? " " : "", group, group > 0 ? cmd : "");
	return AF_CLI_EXIT_USAGE;
}

int af_cli_path_check(const char *opt, const char *path, char *msg, size_t cap)
{
	size_t n = strnlen(path, AF_CLI_PATH_MAX + 1);
	char shown[AF_CLI_PATH_MAX + 1];

	if (n == 0 || n > AF_CLI_PATH_MAX) {
		snprintf(msg, cap, "%s needs a name of 1..%d bytes", opt,
			 AF_CLI_PATH_MAX);
		return -1;
	}
	/* What af_cli_one_line() would change cannot be told as it is. */
	memcpy(shown, path, n + 1);
	af_cli_one_line(shown);
	if (strcmp(shown, path) != 0) {
		snprintf(msg, cap,
			 "%s: the name holds a control character or is not "
			 "UTF-8",
			 opt);
		return -1;
	}
	return 0;
}

void af_cli_opt_begin(af_cli_optparse *p, const af_cli_prog *prog,
		      const char *cmd, int argc, char **argv,
		      const struct option *opts)
{
	p->prog = prog;
	p->cmd = cmd;
	p->argc = argc;
	p->argv = argv;
	p->opts = opts;
	p->rc = AF_CLI_EXIT_OK;
	p->seen = 0;
	/* 0, not 1: glibc then forgets all state of an earlier parse. */
	optind = 0;
	opterr = 0;
}

const char *af_cli_given_twice(const struct option *opts, int c, int at,
			       uint64_t *seen)
{
	uint64_t bit;

	if (c < 0 || at < 0 || at >= 64 || (c & AF_CLI_OPT_MANY) != 0)
		return NULL;
	bit = (uint64_t)1 << at;
	if ((*seen & bit) != 0)
		return opts[at].name;
	*seen |= bit;
	return NULL;
}

/*
 * c, the option at p->opts[at] (at -1 for a short one), without
 * AF_CLI_OPT_MANY; or AF_CLI_OPT_STOP after "--name given twice".
 */
static int once(af_cli_optparse *p, int c, int at)
{
	const char *twice = af_cli_given_twice(p->opts, c, at, &p->seen);

	if (twice != NULL) {
		p->rc = af_cli_usage_fail(p->prog, p->cmd, "--%s given twice",
					  twice);
		return AF_CLI_OPT_STOP;
	}
	return c < 0 ? c : c & ~AF_CLI_OPT_MANY;
}

int af_cli_next_opt(af_cli_optparse *p)
{
	char msg[AF_CLI_OPT_BUF + 32];
	int c, at = -1;

	c = getopt_long(p->argc, p->argv, ":h", p->opts, &at);
	if (c == 'h') {
		if (p->cmd == NULL || p->prog->usage_of == NULL ||
		    p->prog->usage_of(stdout, p->cmd) != 0)
			p->prog->usage(stdout);
		p->rc = AF_CLI_EXIT_OK;
		return AF_CLI_OPT_STOP;
	}
	if (refusal(c, p->argc, p->argv, msg, sizeof(msg), 1)) {
		p->rc = af_cli_usage_fail(p->prog, p->cmd, "%s", msg);
		return AF_CLI_OPT_STOP;
	}
	return once(p, c, at);
}

int af_cli_next_global(af_cli_optparse *p)
{
	char opt[AF_CLI_OPT_BUF];
	int c, at = -1;

	c = getopt_long(p->argc, p->argv, "+:h", p->opts, &at);
	if (c == 'h') {
		p->prog->usage(stdout);
		p->rc = AF_CLI_EXIT_OK;
		return AF_CLI_OPT_STOP;
	}
	if (c == ':' || c == '?') {
		af_cli_opt_text(p->argc, p->argv, opt, sizeof(opt));
		p->rc = af_cli_usage_fail(p->prog, NULL,
					  c == ':' ? "%s needs a value%s"
						   : "unknown option %s%s",
					  opt, c == ':' ? "" : dash_hint(opt));
		return AF_CLI_OPT_STOP;
	}
	if (c == -1 && optind >= p->argc) {
		p->rc = af_cli_usage_fail(p->prog, NULL, "missing command");
		return AF_CLI_OPT_STOP;
	}
	return once(p, c, at);
}

int af_cli_positionals(const af_cli_optparse *p, int want, const char **out,
		       const char *what)
{
	int have = p->argc - optind, i;
	const char *second = what != NULL ? strstr(what, " and ") : NULL;

	/* "USER and SID" with USER given: only SID is missing. */
	if (want == 2 && have == 1 && second != NULL)
		return af_cli_usage_fail(p->prog, p->cmd, "missing %s",
					 second + 5);
	if (have < want)
		return af_cli_usage_fail(p->prog, p->cmd, "missing %s", what);
	if (have > want)
		return af_cli_usage_fail(p->prog, p->cmd,
					 "unexpected argument '%s'",
					 p->argv[optind + want]);
	for (i = 0; out != NULL && i < want; i++)
		out[i] = p->argv[optind + i];
	return AF_CLI_EXIT_OK;
}
