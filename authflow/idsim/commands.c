/*
 * The commands of idsim: each loads the state file, sends one signed
 * request to the device API, and prints the answer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "client.h"
#include "commands.h"
#include "common/cli.h"
#include "state.h"
#include "tokencode.h"

#define MSG_MAX	       512  /* bytes of one error line */
#define TARGET_BUF     512  /* bytes of a request target */
#define TEXT_OUT_MAX   1024 /* bytes of one field printed */
#define ENROLL_PATH    "/device/v1/enroll"
#define CHALLENGE_PATH "/device/v1/challenges"
#define PUSH_PATH      "/device/v1/push-token"

/* A command's open resources, released by session_end(). */
struct session {
	af_idsim_state *state;
	af_idsim_client *client;
};

static const char usage_text[] =
	"usage: idsim [--url URL] --state FILE COMMAND ...\n"
	"\n"
	"A command-line phone for authflow: it speaks the signed device API\n"
	"as the authenticator app does. AUTHFLOW_CA_FILE: a PEM file of the\n"
	"CAs to trust for https instead of the system's.\n"
	"\n"
	"  enroll CODE [--platform apns|fcm|none] [--push-token T]\n"
	"         [--app-version V] [--sandbox] [--name N]\n"
	"                         enroll with a one-time code (needs --url;\n"
	"                         spaces in CODE are dropped); writes FILE\n"
	"                         (mode 0600)\n"
	"  pending                list challenges: TXN USER APP "
	"number|nonumber\n"
	"  show TXN               one challenge as key: value lines\n"
	"  approve TXN [--number NN]\n"
	"                         approve, with the number the login page "
	"shows\n"
	"                         (a nonumber challenge takes none)\n"
	"  deny TXN [--report]    deny, or report as suspected fraud\n"
	"  code                   the current six-digit token code\n"
	"  push-token T [--platform P] [--app-version V] [--sandbox]\n"
	"                         send a new push token\n"
	"\n"
	"--url defaults to the URL saved in FILE. Exit status: 0 done, 1\n"
	"refused by the server, 2 bad usage or state file, 3 cannot reach\n"
	"the server.\n";

void af_idsim_usage(FILE *out)
{
	fputs(usage_text, out);
}

static int vfail(int code, const char *fmt, va_list ap) AF_IDSIM_PRINTF(2, 0);

static int vfail(int code, const char *fmt, va_list ap)
{
	return af_cli_vfail("idsim", MSG_MAX, code, NULL, fmt, ap);
}

int af_idsim_fail(int code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(code, fmt, ap);
	va_end(ap);
	return rc;
}

static int no_memory(void)
{
	return af_idsim_fail(AF_IDSIM_EXIT_REFUSED, "out of memory");
}

static int bad_answer(void)
{
	return af_idsim_fail(AF_IDSIM_EXIT_UNREACHABLE,
			     "unexpected answer from the server: is --url an "
			     "authflow server?");
}

/* Prints outside text on stdout, control characters replaced. */
static void print_text(const char *s)
{
	char buf[TEXT_OUT_MAX];

	if (s == NULL || s[0] == '\0') {
		fputs("-", stdout);
		return;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	af_cli_one_line(buf);
	fputs(buf, stdout);
}

/* ---- state and client ---- */

/* The exit status for a state file that cannot be used. */
static int state_failed(const char *path, af_idsim_state_status st,
			const char *err)
{
	int code = st == AF_IDSIM_STATE_ERR_NOMEM ? AF_IDSIM_EXIT_REFUSED
						  : AF_IDSIM_EXIT_USAGE;

	if (st == AF_IDSIM_STATE_ERR_MISSING)
		return af_idsim_fail(code, "%s: %s (run 'idsim enroll' first)",
				     path, err);
	return af_idsim_fail(code, "%s: %s", path, err);
}

static int client_failed(af_idsim_client_status st)
{
	int code = st == AF_IDSIM_CLIENT_ERR_URL ||
				   st == AF_IDSIM_CLIENT_ERR_PLAIN ||
				   st == AF_IDSIM_CLIENT_ERR_CA_FILE
			   ? AF_IDSIM_EXIT_USAGE
			   : AF_IDSIM_EXIT_REFUSED;

	return af_idsim_fail(code, "%s", af_idsim_client_strerror(st));
}

/* Loads the state file and makes the client for its device. */
static int session_begin(const af_idsim_ctx *ctx, struct session *s)
{
	char err[AF_IDSIM_STATE_ERR_BUF];
	af_idsim_state_status st;
	af_idsim_client_status cs;
	const char *url;

	s->state = NULL;
	s->client = NULL;
	st = af_idsim_state_load(ctx->state, &s->state, err, sizeof(err));
	if (st != AF_IDSIM_STATE_OK)
		return state_failed(ctx->state, st, err);
	url = ctx->url != NULL ? ctx->url : af_idsim_state_url(s->state);
	cs = af_idsim_client_new(url, af_idsim_state_key(s->state),
				 af_idsim_state_device_id(s->state),
				 &s->client);
	if (cs != AF_IDSIM_CLIENT_OK)
		return client_failed(cs);
	return AF_IDSIM_EXIT_OK;
}

static void session_end(struct session *s)
{
	af_idsim_client_free(s->client);
	af_idsim_state_free(s->state);
	s->client = NULL;
	s->state = NULL;
}

/*
 * The server's refusal as one line: its message, else its error code,
 * else the HTTP status; with the transaction's state when it gives one
 * (as 409 "decided" does).
 */
static int refused(long status, const json_t *answer)
{
	const char *msg = json_string_value(json_object_get(answer, "message"));
	const char *code = json_string_value(json_object_get(answer, "error"));
	const char *state = json_string_value(json_object_get(answer, "state"));

	if (msg == NULL || msg[0] == '\0')
		msg = code;
	if (msg == NULL || msg[0] == '\0')
		return af_idsim_fail(AF_IDSIM_EXIT_REFUSED,
				     "the server refused (HTTP %ld)", status);
	if (state != NULL)
		return af_idsim_fail(AF_IDSIM_EXIT_REFUSED, "%s (state %s)",
				     msg, state);
	return af_idsim_fail(AF_IDSIM_EXIT_REFUSED, "%s", msg);
}

/*
 * Sends one request and takes the answer apart: the exit status, with
 * the JSON object of a 2xx answer in *answer (a new reference) on
 * AF_IDSIM_EXIT_OK.
 */
static int exchange(af_idsim_client *c, const char *method, const char *target,
		    const json_t *body, json_t **answer)
{
	char err[MSG_MAX];
	af_idsim_client_status st;
	json_t *a = NULL;
	long status = 0;
	int rc;

	*answer = NULL;
	st = af_idsim_client_request(c, method, target, body, &status, &a, err,
				     sizeof(err));
	if (st == AF_IDSIM_CLIENT_ERR_CA_FILE)
		return client_failed(st);
	/* An answer too large is none of the device API's either. */
	if (st == AF_IDSIM_CLIENT_ERR_UNREACHABLE ||
	    st == AF_IDSIM_CLIENT_ERR_TOO_BIG)
		return af_idsim_fail(
			AF_IDSIM_EXIT_UNREACHABLE, "%s",
			err[0] != '\0' ? err : af_idsim_client_strerror(st));
	if (st != AF_IDSIM_CLIENT_OK)
		return af_idsim_fail(
			AF_IDSIM_EXIT_REFUSED, "%s",
			err[0] != '\0' ? err : af_idsim_client_strerror(st));
	if (status >= 400)
		rc = refused(status, a);
	else if (status < 200 || status >= 300 || !json_is_object(a))
		rc = bad_answer();
	else {
		*answer = a;
		a = NULL;
		rc = AF_IDSIM_EXIT_OK;
	}
	json_decref(a);
	return rc;
}

/* "/device/v1/challenges/<txn>"; main.c checked txn's characters. */
static int challenge_target(const char *txn, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", CHALLENGE_PATH, txn);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int finish_output(int rc)
{
	if (fflush(stdout) != 0 && rc == AF_IDSIM_EXIT_OK)
		return af_idsim_fail(AF_IDSIM_EXIT_REFUSED,
				     "cannot write output");
	return rc;
}

/* ---- enroll ---- */

static json_t *enroll_body(const af_idsim_enroll_args *a, EVP_PKEY *key)
{
	json_t *body, *jwk = NULL;

	if (af_idsim_key_to_jwk(key, 0, &jwk) != AF_IDSIM_CLIENT_OK)
		return NULL;
	body = json_pack("{s:s, s:s, s:b, s:o, s:s, s:s}", "code", a->code,
			 "platform", a->platform, "sandbox", a->sandbox,
			 "public_key", jwk, "app_version", a->app_version,
			 "device_name", a->name);
	if (body != NULL && a->push_token != NULL &&
	    json_object_set_new(body, "push_token",
				json_string(a->push_token)) != 0) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* Fills a new state from the enrollment answer and writes it. */
static int save_enrolled(const af_idsim_ctx *ctx, const af_idsim_enroll_args *a,
			 EVP_PKEY *key, const json_t *answer)
{
	const char *device =
		json_string_value(json_object_get(answer, "device_id"));
	char err[AF_IDSIM_STATE_ERR_BUF];
	af_idsim_state *st = NULL;
	af_idsim_state_status s;
	int rc;

	if (device == NULL)
		return bad_answer();
	if (af_idsim_state_new(&st) != AF_IDSIM_STATE_OK)
		return no_memory();
	if (af_idsim_state_set_device_id(st, device) != AF_IDSIM_STATE_OK ||
	    af_idsim_state_set_totp(st, json_object_get(answer, "totp"), NULL,
				    0) != AF_IDSIM_STATE_OK) {
		rc = bad_answer();
		goto out;
	}
	if (af_idsim_state_set_url(st, ctx->url) != AF_IDSIM_STATE_OK ||
	    af_idsim_state_set_key(st, key) != AF_IDSIM_STATE_OK ||
	    af_idsim_state_set_push(st, a->platform, a->push_token) !=
		    AF_IDSIM_STATE_OK) {
		rc = no_memory();
		goto out;
	}
	s = af_idsim_state_save(st, ctx->state, 0, err, sizeof(err));
	if (s != AF_IDSIM_STATE_OK) {
		rc = af_idsim_fail(AF_IDSIM_EXIT_REFUSED,
				   "enrolled %s, but cannot write %s: %s",
				   device, ctx->state, err);
		goto out;
	}
	printf("enrolled %s\n", device);
	rc = AF_IDSIM_EXIT_OK;
out:
	af_idsim_state_free(st);
	return rc;
}

int af_idsim_enroll(const af_idsim_ctx *ctx, const af_idsim_enroll_args *a)
{
	af_idsim_client *c = NULL;
	af_idsim_client_status cs;
	json_t *body = NULL, *answer = NULL;
	EVP_PKEY *key = NULL;
	char err[AF_IDSIM_STATE_ERR_BUF];
	af_idsim_state_status ws;
	int rc;

	if (ctx->url == NULL)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE,
				     "enroll needs --url URL");
	/*
	 * The code can be used once: refuse a taken FILE, or one that could
	 * not be written, before spending it. (Writing never overwrites
	 * either; this is the early answer.)
	 */
	ws = af_idsim_state_writable(ctx->state, err, sizeof(err));
	if (ws == AF_IDSIM_STATE_ERR_EXISTS)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE,
				     "%s already exists; enroll writes a new "
				     "state file",
				     ctx->state);
	if (ws != AF_IDSIM_STATE_OK)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE, "%s", err);
	cs = af_idsim_key_generate(&key);
	if (cs == AF_IDSIM_CLIENT_OK)
		cs = af_idsim_client_new(ctx->url, key, NULL, &c);
	if (cs != AF_IDSIM_CLIENT_OK) {
		rc = client_failed(cs);
		goto out;
	}
	body = enroll_body(a, key);
	if (body == NULL) {
		rc = no_memory();
		goto out;
	}
	rc = exchange(c, "POST", ENROLL_PATH, body, &answer);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = save_enrolled(ctx, a, key, answer);
out:
	json_decref(answer);
	json_decref(body);
	af_idsim_client_free(c);
	EVP_PKEY_free(key);
	return finish_output(rc);
}

/* ---- challenges ---- */

static int print_challenge_line(const json_t *ch)
{
	const char *txn = json_string_value(json_object_get(ch, "txn"));
	const char *user = json_string_value(json_object_get(ch, "user"));
	const char *app = json_string_value(json_object_get(ch, "app"));
	const json_t *num = json_object_get(ch, "number_required");

	if (txn == NULL || txn[0] == '\0' || user == NULL || app == NULL ||
	    (num != NULL && !json_is_boolean(num)))
		return -1;
	print_text(txn);
	fputc(' ', stdout);
	print_text(user);
	fputc(' ', stdout);
	print_text(app);
	fputs(json_is_true(num) ? " number\n" : " nonumber\n", stdout);
	return 0;
}

int af_idsim_pending(const af_idsim_ctx *ctx)
{
	struct session s;
	const json_t *list, *ch;
	json_t *answer = NULL;
	size_t i;
	int rc;

	rc = session_begin(ctx, &s);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = exchange(s.client, "GET", CHALLENGE_PATH, NULL, &answer);
	if (rc != AF_IDSIM_EXIT_OK)
		goto out;
	list = json_object_get(answer, "challenges");
	if (!json_is_array(list)) {
		rc = bad_answer();
		goto out;
	}
	/* Check every entry before printing any, so a failure prints none. */
	json_array_foreach(list, i, ch)
	{
		if (!json_is_string(json_object_get(ch, "txn")) ||
		    !json_is_string(json_object_get(ch, "user")) ||
		    !json_is_string(json_object_get(ch, "app"))) {
			rc = bad_answer();
			goto out;
		}
	}
	json_array_foreach(list, i, ch)
	{
		if (print_challenge_line(ch) != 0) {
			rc = bad_answer();
			goto out;
		}
	}
out:
	json_decref(answer);
	session_end(&s);
	return finish_output(rc);
}

static void print_field(const json_t *ch, const char *name)
{
	const json_t *v = json_object_get(ch, name);

	printf("%s: ", name);
	if (json_is_integer(v))
		printf("%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		printf("%.0f", json_real_value(v));
	else if (json_is_boolean(v))
		fputs(json_is_true(v) ? "true" : "false", stdout);
	else
		print_text(json_string_value(v));
	fputc('\n', stdout);
}

int af_idsim_show(const af_idsim_ctx *ctx, const char *txn)
{
	static const char *const fields[] = {
		"user", "app", "expires_in", "number_required", "state",
	};
	static const char *const context[] = {"browser", "ip"};
	char target[TARGET_BUF];
	struct session s;
	json_t *answer = NULL;
	size_t i;
	int rc;

	if (challenge_target(txn, target, sizeof(target)) != 0)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE,
				     "transaction id too long");
	rc = session_begin(ctx, &s);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = exchange(s.client, "GET", target, NULL, &answer);
	if (rc != AF_IDSIM_EXIT_OK)
		goto out;
	if (!json_is_string(json_object_get(answer, "state"))) {
		rc = bad_answer();
		goto out;
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		print_field(answer, fields[i]);
	/* Where the sign-in came from, when the server says. */
	for (i = 0; i < sizeof(context) / sizeof(context[0]); i++) {
		if (json_is_string(json_object_get(answer, context[i])))
			print_field(answer, context[i]);
	}
out:
	json_decref(answer);
	session_end(&s);
	return finish_output(rc);
}

/* Sends a decision on txn and prints the state the server answers. */
static int decide(const af_idsim_ctx *ctx, const char *txn,
		  const char *decision, const char *number)
{
	char target[TARGET_BUF];
	struct session s;
	json_t *body = NULL, *answer = NULL;
	const char *state;
	int rc;

	if (challenge_target(txn, target, sizeof(target)) != 0)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE,
				     "transaction id too long");
	rc = session_begin(ctx, &s);
	if (rc != AF_IDSIM_EXIT_OK)
		goto out;
	body = json_pack("{s:s}", "decision", decision);
	if (body == NULL ||
	    (number != NULL &&
	     json_object_set_new(body, "number", json_string(number)) != 0)) {
		rc = no_memory();
		goto out;
	}
	rc = exchange(s.client, "POST", target, body, &answer);
	if (rc != AF_IDSIM_EXIT_OK)
		goto out;
	state = json_string_value(json_object_get(answer, "state"));
	if (state == NULL || state[0] == '\0') {
		rc = bad_answer();
		goto out;
	}
	/* An approval the server did not take is refused, as 4xx is. */
	if (strcmp(decision, "approve") == 0 &&
	    strcmp(state, "approved") != 0) {
		rc = af_idsim_fail(AF_IDSIM_EXIT_REFUSED,
				   "the approval was not taken: the challenge "
				   "is now %s%s",
				   state,
				   strcmp(state, "failed") == 0
					   ? " (the number did not match)"
					   : "");
		goto out;
	}
	print_text(state);
	fputc('\n', stdout);
out:
	json_decref(answer);
	json_decref(body);
	session_end(&s);
	return finish_output(rc);
}

int af_idsim_approve(const af_idsim_ctx *ctx, const char *txn,
		     const char *number)
{
	char target[TARGET_BUF];
	struct session s;
	json_t *ch = NULL;
	json_int_t digits;
	int rc, needed, known;

	/*
	 * An approval without the number, or with one of the wrong length
	 * (a typo), would only fail the challenge and the sign-in, and one
	 * with a number the challenge does not ask for is a mistake a phone
	 * cannot make: ask first what the challenge needs.
	 */
	if (challenge_target(txn, target, sizeof(target)) != 0)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE,
				     "transaction id too long");
	rc = session_begin(ctx, &s);
	if (rc == AF_IDSIM_EXIT_OK)
		rc = exchange(s.client, "GET", target, NULL, &ch);
	needed = json_is_true(json_object_get(ch, "number_required"));
	known = json_is_boolean(json_object_get(ch, "number_required"));
	digits = json_integer_value(json_object_get(ch, "number_digits"));
	json_decref(ch);
	session_end(&s);
	if (rc != AF_IDSIM_EXIT_OK)
		return finish_output(rc);
	/* Not a challenge: what it needs is not known. */
	if (!known)
		return bad_answer();
	if (needed && number == NULL)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE,
				     "this challenge needs --number NN, the "
				     "number the sign-in page shows");
	/* A phone shows no number field then: a number is a mistake. */
	if (!needed && number != NULL)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE,
				     "this challenge asks for no number (the "
				     "sign-in page shows none): approve it "
				     "without --number");
	if (needed && digits > 0 && strlen(number) != (size_t)digits)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE,
				     "this challenge's number has %d digits",
				     (int)digits);
	return decide(ctx, txn, "approve", number);
}

int af_idsim_deny(const af_idsim_ctx *ctx, const char *txn, int report)
{
	return decide(ctx, txn, report ? "report" : "deny", NULL);
}

/* ---- token code ---- */

/* The TOTP code of st at now into out (TC_CODE_BUF bytes). */
static tc_status totp_now(const af_idsim_state *st, int64_t now, char *out,
			  size_t cap)
{
	const char *secret = af_idsim_state_totp_secret(st);
	uint8_t seed[TC_SECRET_MAX];
	tc_totp_params p;
	tc_key *key = NULL;
	size_t len = 0;
	tc_algo algo;
	tc_status rc;

	if (secret == NULL)
		return TC_ERR_EMPTY_SECRET;
	rc = tc_algo_parse(af_idsim_state_totp_algorithm(st), &algo);
	if (rc == TC_OK)
		rc = tc_base32_decode(secret, strlen(secret), seed,
				      sizeof(seed), &len);
	if (rc == TC_OK)
		rc = tc_key_new(seed, len, algo, &key);
	OPENSSL_cleanse(seed, sizeof(seed));
	if (rc != TC_OK)
		return rc;
	tc_totp_params_init(&p);
	p.digits = af_idsim_state_totp_digits(st);
	p.step = af_idsim_state_totp_period(st);
	rc = tc_totp(key, &p, now, out, cap);
	tc_key_free(key);
	return rc;
}

int af_idsim_code(const af_idsim_ctx *ctx)
{
	char err[AF_IDSIM_STATE_ERR_BUF], code[TC_CODE_BUF];
	af_idsim_state *st = NULL;
	af_idsim_state_status s;
	tc_status rc;

	s = af_idsim_state_load(ctx->state, &st, err, sizeof(err));
	if (s != AF_IDSIM_STATE_OK)
		return state_failed(ctx->state, s, err);
	rc = totp_now(st, (int64_t)time(NULL), code, sizeof(code));
	af_idsim_state_free(st);
	if (rc != TC_OK)
		return af_idsim_fail(AF_IDSIM_EXIT_USAGE, "%s: totp: %s",
				     ctx->state, tc_strerror(rc));
	printf("%s\n", code);
	OPENSSL_cleanse(code, sizeof(code));
	return finish_output(AF_IDSIM_EXIT_OK);
}

/* ---- push token ---- */

static json_t *push_body(const af_idsim_push_args *a)
{
	json_t *body = json_pack("{s:s}", "push_token", a->push_token);

	if (body == NULL)
		return NULL;
	if ((a->platform != NULL &&
	     json_object_set_new(body, "platform", json_string(a->platform)) !=
		     0) ||
	    (a->app_version != NULL &&
	     json_object_set_new(body, "app_version",
				 json_string(a->app_version)) != 0) ||
	    (a->sandbox >= 0 &&
	     json_object_set_new(body, "sandbox", json_boolean(a->sandbox)) !=
		     0)) {
		json_decref(body);
		return NULL;
	}
	return body;
}

int af_idsim_push_token(const af_idsim_ctx *ctx, const af_idsim_push_args *a)
{
	char err[AF_IDSIM_STATE_ERR_BUF];
	struct session s;
	json_t *body = NULL, *answer = NULL;
	const char *platform;
	int rc, takes_push;

	rc = session_begin(ctx, &s);
	if (rc != AF_IDSIM_EXIT_OK)
		goto out;
	body = push_body(a);
	if (body == NULL) {
		rc = no_memory();
		goto out;
	}
	rc = exchange(s.client, "PUT", PUSH_PATH, body, &answer);
	if (rc != AF_IDSIM_EXIT_OK)
		goto out;
	platform = a->platform != NULL ? a->platform
				       : af_idsim_state_platform(s.state);
	/* A phone of platform none takes no push: false says nothing more. */
	takes_push = platform == NULL || strcmp(platform, "none") != 0;
	if (af_idsim_state_set_push(
		    s.state,
		    platform != NULL ? platform : AF_IDSIM_DEFAULT_PLATFORM,
		    a->push_token) != AF_IDSIM_STATE_OK) {
		rc = no_memory();
		goto out;
	}
	if (af_idsim_state_save(s.state, ctx->state, 1, err, sizeof(err)) !=
	    AF_IDSIM_STATE_OK)
		rc = af_idsim_fail(AF_IDSIM_EXIT_REFUSED,
				   "the server took the token, but %s: %s",
				   ctx->state, err);
	else if (takes_push &&
		 json_is_false(json_object_get(answer, "push_token_valid")))
		fprintf(stderr, "idsim: the push service refused this token "
				"before: no push goes to it until a new one "
				"comes\n");
out:
	json_decref(answer);
	json_decref(body);
	session_end(&s);
	return finish_output(rc);
}
