/*
 * tokencode: one-time codes from the command line, in the manner of
 * oathtool, plus number-matching codes.
 *
 *   tokencode totp   --secret B32 [--time T] [--digits 6|8] [--algo A]
 *                    [--step S]
 *   tokencode hotp   --secret B32 --counter C [--digits 6|8] [--algo A]
 *   tokencode verify --secret B32 --code C [--time T] [--window N] [...]
 *   tokencode match  [--digits N] [--count K]
 *   tokencode uri    --secret B32 --issuer I --account A [...]
 *
 * A secret of "-" is read from the first line of standard input, so that it
 * need not appear in the process list. Exit status: 0 done, 1 a code that
 * does not verify, 2 bad usage or input (one line on stderr).
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/crypto.h>

#include "tokencode.h"

#define EXIT_MISMATCH	1
#define EXIT_USAGE	2
#define MATCH_COUNT_MAX 10000000UL

enum cmd { CMD_TOTP, CMD_HOTP, CMD_VERIFY, CMD_MATCH, CMD_URI };

struct opts {
	enum cmd cmd;
	char secret_text[TC_BASE32_MAX + 2];
	int have_secret;
	uint8_t secret[TC_SECRET_MAX];
	size_t secret_len;
	tc_algo algo;
	tc_totp_params params;
	int64_t now;
	uint64_t counter;
	int have_counter;
	unsigned window;
	const char *code;
	const char *issuer;
	const char *account;
	unsigned match_digits;
	unsigned long count;
	int digits_set;
};

static const char usage_text[] =
	"usage: tokencode totp|hotp|verify|match|uri [options]\n"
	"  totp   --secret B32 [--time UNIX] [--digits 6|8] [--algo A] "
	"[--step S]\n"
	"  hotp   --secret B32 --counter C [--digits 6|8] [--algo A]\n"
	"  verify --secret B32 --code C [--time UNIX] [--window N] "
	"[--digits 6|8] [--algo A] [--step S]\n"
	"  match  [--digits N] [--count K]\n"
	"  uri    --secret B32 --issuer I --account A [--digits 6|8] "
	"[--algo A] [--step S]\n"
	"A: sha1 (default), sha256, sha512. --secret - reads it from stdin.\n"
	"Defaults: --time now, --step 30 (seconds), --digits 6, --window 1 "
	"(steps on either side);\n"
	"match: --digits 2 (1 to 9), --count 1.\n";

static int fail(const char *what, const char *detail)
{
	fprintf(stderr, "tokencode: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The secret's text from arg or stdin: 0, or the exit status on failure. */
static int read_secret(struct opts *o, const char *arg)
{
	char msg[80];
	size_t n;
	int c;

	snprintf(msg, sizeof(msg),
		 "the secret is too long (at most %d base32 characters)",
		 TC_BASE32_MAX);
	if (strcmp(arg, "-") != 0) {
		n = strlen(arg);
		if (n > TC_BASE32_MAX)
			return fail(msg, NULL);
		memcpy(o->secret_text, arg, n + 1);
		return 0;
	}
	if (fgets(o->secret_text, sizeof(o->secret_text), stdin) == NULL)
		return fail("cannot read the secret from standard input", NULL);
	n = strcspn(o->secret_text, "\r\n");
	if (o->secret_text[n] == '\0' && n > TC_BASE32_MAX)
		return fail(msg, NULL);
	o->secret_text[n] = '\0';
	/* A second line may be a second secret, or the first one cut in
	 * two: neither is taken. */
	for (c = getchar(); c != EOF; c = getchar()) {
		if (!isspace(c))
			return fail("standard input holds more than one line "
				    "of secret",
				    NULL);
	}
	return 0;
}

static int set_cmd(struct opts *o, const char *name)
{
	static const char *const names[] = {"totp", "hotp", "verify", "match",
					    "uri"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			o->cmd = (enum cmd)i;
			return 0;
		}
	}
	return -1;
}

static int parse_option(struct opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 's':
		/* Two secrets: which one was meant is anyone's guess. */
		if (o->have_secret)
			return fail("--secret given twice", NULL);
		if (read_secret(o, arg) != 0)
			return EXIT_USAGE;
		o->have_secret = 1;
		return 0;
	case 't':
		if (arg[0] == '-')
			return fail("time must not be negative", arg);
		if (parse_u64(arg, INT64_MAX, &v) != 0)
			return fail("bad --time", arg);
		o->now = (int64_t)v;
		return 0;
	case 'd':
		/* Any number here: the command says which ones it takes. */
		if (parse_u64(arg, UINT_MAX, &v) != 0)
			return fail("bad --digits", arg);
		o->params.digits = (unsigned)v;
		o->match_digits = (unsigned)v;
		o->digits_set = 1;
		return 0;
	case 'a':
		if (tc_algo_parse(arg, &o->algo) != TC_OK)
			return fail("unknown --algo (sha1, sha256, sha512)",
				    arg);
		return 0;
	case 'p':
		if (parse_u64(arg, 3600, &v) != 0 || v == 0)
			return fail("--step must be 1..3600 seconds", arg);
		o->params.step = (unsigned)v;
		return 0;
	case 'c':
		if (parse_u64(arg, UINT64_MAX, &o->counter) != 0)
			return fail("bad --counter", arg);
		o->have_counter = 1;
		return 0;
	case 'w':
		if (parse_u64(arg, TC_WINDOW_MAX, &v) != 0)
			return fail("--window must be 0..10", arg);
		o->window = (unsigned)v;
		return 0;
	case 'C':
		o->code = arg;
		return 0;
	case 'i':
		o->issuer = arg;
		return 0;
	case 'A':
		o->account = arg;
		return 0;
	case 'n':
		if (parse_u64(arg, MATCH_COUNT_MAX, &v) != 0 || v == 0)
			return fail("--count must be 1..10000000", arg);
		o->count = (unsigned long)v;
		return 0;
	default:
		return fail("unknown option; see 'tokencode --help'", NULL);
	}
}

/*
 * The line for an option given without its value: getopt_long sets
 * optopt to the option's letter in longopts, whose name is shown whole
 * even when the user abbreviated it.
 */
static int missing_value(const struct option *longopts)
{
	char msg[64];
	size_t i;

	for (i = 0; longopts[i].name != NULL; i++) {
		if (longopts[i].val == optopt)
			break;
	}
	if (longopts[i].name == NULL)
		return fail("an option needs a value; see 'tokencode --help'",
			    NULL);
	snprintf(msg, sizeof(msg), "--%s needs a value", longopts[i].name);
	return fail(msg, NULL);
}

/*
 * The options each command takes (their letters in longopts), as --help
 * lists them: another is refused rather than ignored, so that "verify
 * --counter 0" does not quietly check the code against the clock.
 */
static const char *const cmd_options[] = {
	[CMD_TOTP] = "stdap", [CMD_HOTP] = "sdac",  [CMD_VERIFY] = "sCtwdap",
	[CMD_MATCH] = "dn",   [CMD_URI] = "siAdap",
};

static const char *const cmd_names[] = {
	[CMD_TOTP] = "totp",   [CMD_HOTP] = "hotp", [CMD_VERIFY] = "verify",
	[CMD_MATCH] = "match", [CMD_URI] = "uri",
};

/* "--NAME does not apply to CMD": the line for an option out of place. */
static int not_for_cmd(const struct opts *o, const struct option *longopts,
		       int c)
{
	char msg[96];
	size_t i;

	for (i = 0; longopts[i].name != NULL && longopts[i].val != c; i++)
		;
	snprintf(msg, sizeof(msg),
		 "--%s does not apply to %s; see 'tokencode --help'",
		 longopts[i].name != NULL ? longopts[i].name : "?",
		 cmd_names[o->cmd]);
	return fail(msg, NULL);
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"secret", required_argument, NULL, 's'},
		{"time", required_argument, NULL, 't'},
		{"digits", required_argument, NULL, 'd'},
		{"algo", required_argument, NULL, 'a'},
		{"step", required_argument, NULL, 'p'},
		{"counter", required_argument, NULL, 'c'},
		{"window", required_argument, NULL, 'w'},
		{"code", required_argument, NULL, 'C'},
		{"issuer", required_argument, NULL, 'i'},
		{"account", required_argument, NULL, 'A'},
		{"count", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	int c, rc;

	if (argc < 2)
		return fail("missing command; see 'tokencode --help'", NULL);
	if (set_cmd(o, argv[1]) != 0)
		return fail("unknown command", argv[1]);
	opterr = 0;
	optind = 2;
	for (;;) {
		/* The leading ':' makes a missing value ':', not '?'. */
		c = getopt_long(argc, argv, ":", longopts, NULL);
		if (c == -1)
			break;
		if (c == ':')
			return missing_value(longopts);
		if (c != '?' && strchr(cmd_options[o->cmd], c) == NULL)
			return not_for_cmd(o, longopts, c);
		rc = parse_option(o, c, optarg);
		if (rc != 0)
			return rc;
	}
	if (optind < argc)
		return fail("unexpected argument", argv[optind]);
	return 0;
}

static int decode_secret(struct opts *o)
{
	char msg[48];
	tc_status st;

	if (!o->have_secret)
		return fail("--secret is required", NULL);
	st = tc_base32_decode(o->secret_text, strlen(o->secret_text), o->secret,
			      sizeof(o->secret), &o->secret_len);
	if (st == TC_ERR_BUFFER || st == TC_ERR_ARG) {
		snprintf(msg, sizeof(msg),
			 "too long (at most %d bytes decoded)", TC_SECRET_MAX);
		return fail("bad secret", msg);
	}
	if (st != TC_OK)
		return fail("bad secret", tc_strerror(st));
	if (o->secret_len == 0)
		return fail("bad secret", tc_strerror(TC_ERR_EMPTY_SECRET));
	return 0;
}

static int check_digits(const struct opts *o)
{
	if (o->params.digits != 6 && o->params.digits != 8)
		return fail(tc_strerror(TC_ERR_DIGITS), NULL);
	return 0;
}

static int run_code(struct opts *o)
{
	char out[TC_CODE_BUF];
	uint32_t code = 0;
	uint64_t matched = 0;
	tc_key *key = NULL;
	tc_status st;
	int rc = EXIT_USAGE;

	st = tc_key_new(o->secret, o->secret_len, o->algo, &key);
	if (st != TC_OK)
		return fail(tc_strerror(st), NULL);
	switch (o->cmd) {
	case CMD_HOTP:
		st = tc_hotp(key, o->counter, o->params.digits, &code);
		if (st == TC_OK)
			st = tc_code_format(code, o->params.digits, out,
					    sizeof(out));
		break;
	case CMD_VERIFY:
		st = tc_totp_verify(key, &o->params, o->now, o->code, o->window,
				    NULL, &matched);
		break;
	default:
		st = tc_totp(key, &o->params, o->now, out, sizeof(out));
		break;
	}
	if (o->cmd == CMD_VERIFY && st == TC_ERR_MISMATCH) {
		rc = EXIT_MISMATCH;
	} else if (st != TC_OK) {
		rc = fail(tc_strerror(st), NULL);
	} else if (o->cmd == CMD_VERIFY) {
		printf("%llu\n", (unsigned long long)matched);
		rc = 0;
	} else {
		printf("%s\n", out);
		rc = 0;
	}
	OPENSSL_cleanse(out, sizeof(out));
	tc_key_free(key);
	return rc;
}

static int run_match(const struct opts *o)
{
	unsigned long i;
	uint32_t v;
	tc_status st;

	if (o->match_digits < 1 || o->match_digits > 9)
		return fail("match takes --digits 1 to 9", NULL);
	for (i = 0; i < o->count; i++) {
		st = tc_match_code(o->match_digits, &v);
		if (st != TC_OK)
			return fail(tc_strerror(st), NULL);
		printf("%lu\n", (unsigned long)v);
	}
	return fflush(stdout) == 0 ? 0 : fail("cannot write output", NULL);
}

static int run_uri(const struct opts *o)
{
	char out[TC_URI_BUILD_MAX];
	tc_uri uri;
	size_t n;
	tc_status st;

	if (o->issuer == NULL || o->account == NULL)
		return fail("--issuer and --account are required", NULL);
	if (strlen(o->issuer) > TC_LABEL_MAX ||
	    strlen(o->account) > TC_LABEL_MAX)
		return fail("issuer or account too long", NULL);
	memset(&uri, 0, sizeof(uri));
	memcpy(uri.issuer, o->issuer, strlen(o->issuer) + 1);
	memcpy(uri.account, o->account, strlen(o->account) + 1);
	memcpy(uri.secret, o->secret, o->secret_len);
	uri.secret_len = o->secret_len;
	uri.algo = o->algo;
	uri.params = o->params;
	st = tc_uri_build(&uri, out, sizeof(out), &n);
	tc_uri_cleanup(&uri);
	if (st == TC_ERR_ARG)
		return fail("issuer and account must be non-empty and "
			    "without ':'",
			    NULL);
	if (st != TC_OK)
		return fail(tc_strerror(st), NULL);
	printf("%s\n", out);
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

static int run(struct opts *o, int argc, char **argv)
{
	int rc;

	/* --help anywhere, as in "tokencode totp --help". */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
	}
	rc = parse_args(o, argc, argv);
	if (rc != 0)
		return rc;
	if (o->cmd == CMD_MATCH)
		return run_match(o);
	rc = decode_secret(o);
	if (rc != 0)
		return rc;
	if (o->cmd == CMD_URI)
		return check_digits(o) != 0 ? EXIT_USAGE : run_uri(o);
	if (check_digits(o) != 0)
		return EXIT_USAGE;
	if (o->cmd == CMD_HOTP && !o->have_counter)
		return fail("--counter is required", NULL);
	if (o->cmd == CMD_VERIFY && o->code == NULL)
		return fail("--code is required", NULL);
	return run_code(o);
}

int main(int argc, char **argv)
{
	/* No core image of the secret it reads (the library stands alone). */
	const struct rlimit no_core = {0, 0};
	struct opts o;
	time_t now = time(NULL);
	int rc;

	(void)setrlimit(RLIMIT_CORE, &no_core);
	memset(&o, 0, sizeof(o));
	o.algo = TC_ALGO_SHA1;
	tc_totp_params_init(&o.params);
	o.now = now < 0 ? 0 : (int64_t)now;
	o.window = TC_WINDOW_DEFAULT;
	o.match_digits = 2;
	o.count = 1;
	rc = run(&o, argc, argv);
	OPENSSL_cleanse(&o, sizeof(o));
	return rc;
}
