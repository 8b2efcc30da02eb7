/*
 * Fuzz target: /enroll, where a signed-in user gets a code to enroll a
 * phone. Each input is up to 4 requests, each ended by a NUL byte: a
 * flags byte (bits 0-1: the browser brings alice's, bob's or carol's
 * session cookie, or none; bit 2: POST, else GET), then the form or
 * query. In it these stand for what a fuzzer cannot guess:
 *
 *   $A  the form token of alice's session    $B  bob's    $D  carol's
 *
 * alice signed in with her password and has no phone, and the workflow
 * lets a first phone be enrolled after the password; bob signed in with
 * his password and has a phone; carol signed in with her phone. Nothing
 * may crash or leak; every answer has a known status and no redirect
 * leaves the server; and an enrollment code is shown only for a POST
 * from alice's or carol's browser with that session's own form token.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "fuzz_world.h"
#include "mfa/mfa.h"
#include "session/formtoken.h"
#include "session/session.h"
#include "web/mfa_pages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS_MAX 4
#define FORM_MAX  ((size_t)16 * 1024)
#define PASSWORD  "a long enough passphrase"
/* A P-256 public key (the curve's generator) for bob's phone. */
#define JWK_X	  "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY"
#define JWK_Y	  "T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"
/* What the page of a code made holds, and no other page. */
#define CODE_MADE "authflow://enroll?"

enum { ALICE, BOB, CAROL, NOBODY };

struct world {
	fz_world fw;
	char cookie[3][512];
	char token[3][AF_FORM_TOKEN_BUF];
};

/* The form token of the session behind cookie, as its pages give it. */
static void token_of(struct world *w, const char *cookie, char *out)
{
	const char *headers[] = {"Cookie", cookie, NULL};
	af_session s;
	af_req req;

	if (fz_request(&req, "GET", "/enroll", "", 0, headers) != 0 ||
	    af_session_signed_in(&w->fw.srv, &req, &s) != 0 ||
	    af_form_token(&w->fw.srv, &s, out, AF_FORM_TOKEN_BUF) != 0)
		abort();
	fz_request_free(&req);
}

static void world_open(struct world *w)
{
	static const char *const names[] = {"alice", "bob", "carol"};
	char spec[128], err[128];
	json_t *user = NULL, *phone, *dev = NULL, *wf = NULL, *patch;
	int i;

	memset(w, 0, sizeof(*w));
	fz_world_open(&w->fw, 0);
	for (i = ALICE; i <= CAROL; i++) {
		snprintf(spec, sizeof(spec), "{\"username\":\"%s\"}", names[i]);
		fz_user(&w->fw, spec, PASSWORD, &user);
		fz_session_of(&w->fw, user, i == CAROL, w->cookie[i],
			      sizeof(w->cookie[i]), NULL);
		json_decref(user);
		user = NULL;
	}
	fz_policy(&w->fw, "{\"name\":\"mfa\",\"sso\":true,"
			  "\"remote_access\":true,\"assigned\":{\"users\":"
			  "[\"alice\",\"bob\",\"carol\"]}}");
	phone = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:s, s:s}", "platform",
			  "none", "public_key", "kty", "EC", "crv", "P-256",
			  "x", JWK_X, "y", JWK_Y, "app_version", "1.0.0",
			  "device_name", "bob's phone");
	patch = json_pack("{s:b}", "enroll_after_password", 1);
	if (phone == NULL || patch == NULL ||
	    af_mfa_device_add(w->fw.srv.store, "bob", phone, &dev, err,
			      sizeof(err)) != AF_MFA_OK ||
	    af_mfa_workflow_set(w->fw.srv.store, patch, &wf, err,
				sizeof(err)) != AF_MFA_OK)
		abort();
	af_mfa_device_free(dev);
	json_decref(wf);
	json_decref(patch);
	json_decref(phone);
	for (i = ALICE; i <= CAROL; i++)
		token_of(w, w->cookie[i], w->token[i]);
}

/* Whether resp shows an enrollment code. */
static int code_shown(const af_resp *resp)
{
	size_t n = strlen(CODE_MADE), i;

	for (i = 0; resp->body.data != NULL && i + n <= resp->body.len; i++)
		if (memcmp(resp->body.data + i, CODE_MADE, n) == 0)
			return 1;
	return 0;
}

static void call(void *arg, unsigned flags, const char *text, size_t len)
{
	static const char placeholder[] = {'A', 'B', 'D'};
	struct world *w = arg;
	const fz_subst subs[] = {{'A', w->token[ALICE]},
				 {'B', w->token[BOB]},
				 {'D', w->token[CAROL]},
				 {0, NULL}};
	const char *headers[5] = {"Content-Type",
				  "application/x-www-form-urlencoded", NULL};
	unsigned who = flags & 0x03;
	int post = (flags & 0x04) != 0;
	const char *to;
	af_resp resp;
	af_req req;
	af_buf b;

	memset(&req, 0, sizeof(req));
	if (who != NOBODY) {
		headers[2] = "Cookie";
		headers[3] = w->cookie[who];
	}
	af_buf_init(&b, FORM_MAX);
	fz_expand(subs, text, len, &b);
	if (!b.failed &&
	    fz_request(&req, post ? "POST" : "GET", "/enroll",
		       b.data != NULL ? b.data : "", b.len, headers) == 0) {
		af_resp_init(&resp, 0);
		if (post)
			af_h_enroll_post(&w->fw.srv, &req, &resp);
		else
			af_h_enroll(&w->fw.srv, &req, &resp);
		to = fz_header(&resp, "Location");
		if ((resp.status != 200 && resp.status != 303 &&
		     resp.status != 400 && resp.status != 401 &&
		     resp.status != 403 && resp.status != 409 &&
		     resp.status != 429 && resp.status != 503) ||
		    (to != NULL && !fz_own_page(to)))
			abort();
		/* A code: posted by alice or carol, with their own token. */
		if (code_shown(&resp) &&
		    (!post || (who != ALICE && who != CAROL) ||
		     !fz_has(text, len, placeholder[who])))
			abort();
		af_resp_cleanup(&resp);
	}
	fz_request_free(&req);
	af_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world w;

	world_open(&w);
	fz_each(data, size, CALLS_MAX, call, &w);
	fz_world_close(&w.fw);
	OPENSSL_cleanse(w.token, sizeof(w.token));
	return 0;
}
