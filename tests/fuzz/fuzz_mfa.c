/*
 * Fuzz target: the MFA step of a sign-in, where alice's password was
 * right and a push waits on her phone: the token-code form (POST
 * /login/mfa/code), the cancel and push-again forms, the page and its
 * status. Each input is up to 4 requests, each ended by a NUL byte: a
 * flags byte (bits 0-2 pick the code form, cancel, push again, the page
 * or the status, which are GETs; bit 3: the browser brings the flow's
 * binding cookie; bits 4-6: what alice's phone does first with the push
 * waiting for it, if one does: 1 approves with the page's number, 2
 * denies, 3 reports, 4 types a wrong number, 5 lets it expire; in the
 * first request's alone, bit 7: the browser has typed AF_MFA_CODE_TRIES
 * wrong token codes before), then the form or query. In it these stand
 * for what a fuzzer cannot guess:
 *
 *   $F  the flow             $C  its CSRF token
 *   $K  the phone's token code now, $L the one of 30 s before,
 *   $M  the one of 30 s after (all three accepted, RFC 6238's window)
 *
 * Nothing may crash or leak; every answer has a known status; a redirect
 * goes to a page of this server or the client's registered URI; and the
 * sign-in ends with a code for the client or an SSO session only for a
 * code form whose code is one of the phone's, or once the phone approved;
 * never after it denied, reported or failed a push of the sign-in, and
 * never by a code form once the sign-in's tries are spent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "directory/directory.h"
#include "fuzz_world.h"
#include "mfa/mfa.h"
#include "oidc/oidc.h"
#include "tokencode.h"
#include "web/mfa_pages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REDIRECT  "https://crm.example.com/cb"
#define PASSWORD  "alice's long passphrase"
#define CALLS_MAX 4
#define FORM_MAX  ((size_t)16 * 1024)
/* A P-256 public key (the curve's generator) for alice's phone. */
#define JWK_X	  "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY"
#define JWK_Y	  "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"

struct step {
	fz_signin s;
	char codes[3][TC_CODE_BUF]; /* 30 s before, now, 30 s after */
	char device[AF_MFA_ID_BUF]; /* alice's phone */
	int approved;		    /* the phone approved a push */
	int refused;		    /* it denied, reported or failed one */
	int spent;		    /* the code form's tries are used up */
};

/* The phone's TOTP codes around now, from its secret (base32). */
static void phone_codes(const char *b32, struct step *st)
{
	uint8_t secret[TC_SECRET_MAX];
	tc_totp_params p;
	tc_key *key = NULL;
	size_t len = 0;
	int i;

	if (b32 == NULL ||
	    tc_base32_decode(b32, strlen(b32), secret, sizeof(secret), &len) !=
		    TC_OK ||
	    tc_key_new(secret, len, TC_ALGO_SHA1, &key) != TC_OK)
		abort();
	tc_totp_params_init(&p);
	for (i = 0; i < 3; i++)
		if (tc_totp(key, &p, af_now() + (int64_t)30 * (i - 1),
			    st->codes[i], TC_CODE_BUF) != TC_OK)
			abort();
	tc_key_free(key);
	OPENSSL_cleanse(secret, sizeof(secret));
}

/*
 * The password step, done: the browser is sent to the MFA page, with the
 * flow's binding cookie turned anew.
 */
static void pass_password(fz_world *w, fz_signin *s)
{
	const char *headers[] = {"Cookie", s->cookie, NULL};
	char form[512];
	af_resp resp;
	af_req req;
	const char *to;

	snprintf(form, sizeof(form),
		 "flow=%s&csrf=%s&username=alice&password=%s", s->flow, s->csrf,
		 "alice%27s%20long%20passphrase");
	if (fz_request(&req, "POST", "/login", form, strlen(form), headers) !=
	    0)
		abort();
	af_resp_init(&resp, 0);
	af_h_login_post(&w->srv, &req, &resp);
	to = fz_header(&resp, "Location");
	if (resp.status != 303 || to == NULL ||
	    strncmp(to, "/login/mfa?", 11) != 0)
		abort();
	fz_request_free(&req);
	fz_copy_after(fz_header(&resp, "Set-Cookie"), "", ';', s->cookie,
		      sizeof(s->cookie));
	af_resp_cleanup(&resp);
}

static void world_open(fz_world *w, struct step *st)
{
	char client[AF_DIR_CLIENT_ID_BUF], err[128];
	json_t *spec, *dev = NULL;

	fz_world_open(w, 0);
	fz_user(w, "{\"username\":\"alice\"}", PASSWORD, NULL);
	fz_policy(w, "{\"name\":\"mfa\",\"sso\":true,\"remote_access\":true,"
		     "\"assigned\":{\"users\":[\"alice\"]}}");
	fz_client(w,
		  "{\"name\":\"crm\",\"redirect_uris\":[\"" REDIRECT "\"],"
		  "\"deployment\":{\"mode\":\"all\"}}",
		  client, NULL);
	spec = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:s, s:s}", "platform",
			 "none", "public_key", "kty", "EC", "crv", "P-256", "x",
			 JWK_X, "y", JWK_Y, "app_version", "1.0.0",
			 "device_name", "alice's phone");
	if (spec == NULL || af_mfa_device_add(w->srv.store, "alice", spec, &dev,
					      err, sizeof(err)) != AF_MFA_OK)
		abort();
	phone_codes(json_string_value(json_object_get(dev, "totp_secret")), st);
	snprintf(st->device, sizeof(st->device), "%s",
		 json_string_value(json_object_get(dev, "id")));
	af_mfa_device_free(dev);
	json_decref(spec);
	fz_begin(w, client, "https%3A%2F%2Fcrm.example.com%2Fcb", &st->s);
	pass_password(w, &st->s);
}

/* 1 when the digits of code are one of the phone's codes. */
static int phone_code(const struct step *st, const char *code)
{
	char digits[TC_CODE_BUF];
	size_t n = 0;
	int i;

	for (; code != NULL && *code != '\0'; code++) {
		if (*code < '0' || *code > '9')
			continue;
		if (n + 1 >= sizeof(digits))
			return 0;
		digits[n++] = *code;
	}
	digits[n] = '\0';
	for (i = 0; code != NULL && i < 3; i++)
		if (strcmp(digits, st->codes[i]) == 0)
			return 1;
	return 0;
}

/*
 * What alice's phone does with the push waiting for it (how: 1..5, see
 * above), as the device API would have it decided.
 */
static void phone(fz_world *w, struct step *st, unsigned how)
{
	static const char *const decisions[] = {"approve", "deny", "report",
						"approve"};
	json_t *list = NULL, *txn = NULL, *out = NULL;
	const char *id;
	char number[16] = "";
	int64_t now = af_now();
	af_mfa_status ms;

	if (how == 0 || how > 5 ||
	    af_mfa_txn_pending_for_device(w->srv.store, st->device, now,
					  &list) != AF_MFA_OK)
		goto out;
	id = json_string_value(json_object_get(json_array_get(list, 0), "txn"));
	if (id == NULL ||
	    af_mfa_txn_get(w->srv.store, id, now, &txn) != AF_MFA_OK)
		goto out;
	/* The number the page shows, or one that is not it. */
	snprintf(number, sizeof(number), "%02d",
		 (int)(how == 4 ? 10 + (json_integer_value(json_object_get(
						txn, "number")) -
					9) % 90
				: json_integer_value(
					  json_object_get(txn, "number"))));
	if (how == 5) {
		/* Nobody answers in time: the first read after it says so. */
		json_decref(txn);
		txn = NULL;
		(void)af_mfa_txn_get(w->srv.store, id,
				     now + AF_MFA_TXN_TTL_S + 1, &txn);
		goto out;
	}
	ms = af_mfa_txn_decide(w->srv.store, id, st->device, decisions[how - 1],
			       number, now, &out);
	if (ms == AF_MFA_OK && how == 1)
		st->approved = 1;
	else if (ms == AF_MFA_OK)
		st->refused = 1;
out:
	json_decref(out);
	json_decref(txn);
	json_decref(list);
}

/*
 * The browser types AF_MFA_CODE_TRIES token codes that are none of the
 * phone's: the sign-in's tries are spent.
 */
static void spend_tries(fz_world *w, struct step *st)
{
	const char *headers[] = {"Cookie", st->s.cookie, NULL};
	char form[512], wrong[TC_CODE_BUF] = "000000";
	af_resp resp;
	af_req req;
	int i;

	while (phone_code(st, wrong))
		wrong[5]++;
	for (i = 0; i < AF_MFA_CODE_TRIES; i++) {
		snprintf(form, sizeof(form), "flow=%s&csrf=%s&code=%s",
			 st->s.flow, st->s.csrf, wrong);
		if (fz_request(&req, "POST", "/login/mfa/code", form,
			       strlen(form), headers) != 0)
			abort();
		af_resp_init(&resp, 0);
		af_h_mfa_code(&w->srv, &req, &resp);
		if (fz_signed_in(&resp, REDIRECT))
			abort();
		af_resp_cleanup(&resp);
		fz_request_free(&req);
	}
	st->spent = 1;
}

static void check_answer(const struct step *st, const af_req *req,
			 const af_resp *resp, int code_form)
{
	if (resp->status != 200 && resp->status != 302 && resp->status != 303 &&
	    resp->status != 400 && resp->status != 401 && resp->status != 403 &&
	    resp->status != 404 && resp->status != 409 && resp->status != 429 &&
	    resp->status != 503)
		abort();
	if (fz_signed_in(resp, REDIRECT) &&
	    (st->refused || (code_form && st->spent) ||
	     (!st->approved &&
	      (!code_form || !phone_code(st, af_req_param(req, "code"))))))
		abort();
	/* A form posted with a field twice is refused whole. */
	if (strcmp(req->method, "POST") == 0 && req->duplicate_param &&
	    resp->status != 400)
		abort();
}

static const struct {
	const char *method, *path;
	void (*handler)(af_server *, af_req *, af_resp *);
} targets[] = {
	{"POST", "/login/mfa/code", af_h_mfa_code},
	{"POST", "/login/mfa/cancel", af_h_mfa_cancel},
	{"POST", "/login/mfa/push", af_h_mfa_push},
	{"GET", "/login/mfa", af_h_mfa_page},
	{"GET", "/login/mfa/status", af_h_mfa_status},
};

static void call(fz_world *w, struct step *st, unsigned flags, const char *text,
		 size_t len)
{
	const fz_subst subs[] = {
		{'F', st->s.flow},   {'C', st->s.csrf},	  {'K', st->codes[1]},
		{'L', st->codes[0]}, {'M', st->codes[2]}, {0, NULL},
	};
	const char *headers[5] = {"Content-Type",
				  "application/x-www-form-urlencoded", NULL};
	unsigned t = (flags & 0x07) % (sizeof(targets) / sizeof(targets[0]));
	af_resp resp;
	af_req req;
	af_buf b;

	memset(&req, 0, sizeof(req));
	phone(w, st, (flags >> 4) & 0x07);
	if (flags & 0x08) {
		headers[2] = "Cookie";
		headers[3] = st->s.cookie;
	}
	af_buf_init(&b, FORM_MAX);
	fz_expand(subs, text, len, &b);
	if (!b.failed &&
	    fz_request(&req, targets[t].method, targets[t].path,
		       b.data != NULL ? b.data : "", b.len, headers) == 0) {
		af_resp_init(&resp, 0);
		targets[t].handler(&w->srv, &req, &resp);
		check_answer(st, &req, &resp, t == 0);
		af_resp_cleanup(&resp);
	}
	fz_request_free(&req);
	af_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *text;
	struct step st;
	fz_world w;
	unsigned flags;
	size_t len;
	int calls = 0;

	memset(&st, 0, sizeof(st));
	world_open(&w, &st);
	while (calls++ < CALLS_MAX && fz_next(&p, end, &flags, &text, &len)) {
		if (calls == 1 && (flags & 0x80))
			spend_tries(&w, &st);
		call(&w, &st, flags, text, len);
	}
	fz_world_close(&w);
	OPENSSL_cleanse(&st, sizeof(st));
	return 0;
}
