/*
 * Fuzz target: the sign-in form (POST /login), its early part and its
 * handler, as the server runs them. Each input is up to 3 posts, each
 * ended by a NUL byte: a flags byte (bit 0: the browser brings the flow's
 * binding cookie; in the first post's alone, bit 1: alice's name has
 * failed so often before that she waits, bit 2: that she is locked),
 * then the form body. In it these stand for what a fuzzer cannot guess:
 *
 *   $F  the flow of a sign-in begun at /authorize for client 1
 *   $C  the CSRF token of that flow's form
 *   $P  alice's password        $Q  bob's password
 *
 * Before the posts, the sign-in is begun as a browser would: GET
 * /authorize without a session, then the form at GET /login. alice and
 * bob may sign in (SSO on, no MFA), carol is disabled.
 *
 * Nothing may crash or leak; every answer has a known status; a redirect
 * goes to a page of this server or to client 1's registered redirect
 * URI; nobody is signed in (a code for the client, or an SSO session
 * cookie) by a post whose password is not alice's or bob's, nor with
 * alice's while she waits or is locked (only alice may sign in with it:
 * carol is disabled); a post with a field twice gets a 400.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory/directory.h"
#include "directory/throttle.h"
#include "fuzz_world.h"
#include "oidc/oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REDIRECT   "https://crm.example.com/cb"
#define PASS_ALICE "alice's long passphrase"
#define PASS_BOB   "bob's other passphrase"
#define CALLS_MAX  3
#define FORM_MAX   ((size_t)16 * 1024)
#define HELD_WAITS 0x02 /* first flags: alice waits */
#define HELD_LOCKS 0x04 /* first flags: alice is locked */
/*
 * Failures before the posts: past the default user_delay_after of 5 each
 * one doubles the wait, so 9 leave 8 s or more (no post outlasts it); the
 * default user_lock_after is 10.
 */
#define FAILS_WAIT 9
#define FAILS_LOCK 10

static void world_open(fz_world *w, fz_signin *s)
{
	char client[AF_DIR_CLIENT_ID_BUF];

	fz_world_open(w, 0);
	fz_user(w, "{\"username\":\"alice\"}", PASS_ALICE, NULL);
	fz_user(w, "{\"username\":\"bob\"}", PASS_BOB, NULL);
	fz_user(w, "{\"username\":\"carol\",\"enabled\":false}", PASS_ALICE,
		NULL);
	fz_policy(w, "{\"name\":\"std\",\"sso\":true,\"assigned\":{\"users\":"
		     "[\"alice\",\"bob\",\"carol\"]}}");
	fz_client(w,
		  "{\"name\":\"crm\",\"redirect_uris\":[\"" REDIRECT "\"],"
		  "\"deployment\":{\"mode\":\"all\"}}",
		  client, NULL);
	fz_begin(w, client, "https%3A%2F%2Fcrm.example.com%2Fcb", s);
}

/* Runs alice's name into a wait or a lock, as failures before would. */
static void hold_alice(fz_world *w, unsigned flags)
{
	int i, n = (flags & HELD_LOCKS) ? FAILS_LOCK : FAILS_WAIT;
	uint32_t wait_s = 0;
	af_dir_status st;

	for (i = 0; i < n; i++)
		if (af_throttle_fail(w->srv.dir, "alice", NULL, NULL) !=
		    AF_DIR_OK)
			abort();
	st = af_throttle_check(w->srv.dir, "alice", NULL, NULL, &wait_s);
	if (st != ((flags & HELD_LOCKS) ? AF_DIR_LOCKED : AF_DIR_WAIT))
		abort();
}

static void check_answer(const af_req *req, const af_resp *resp, int held)
{
	const char *password = af_req_param(req, "password");

	if (resp->status != 200 && resp->status != 302 && resp->status != 303 &&
	    resp->status != 400 && resp->status != 401 && resp->status != 403 &&
	    resp->status != 429 && resp->status != 503)
		abort();
	if (fz_signed_in(resp, REDIRECT) &&
	    (password == NULL || (strcmp(password, PASS_ALICE) != 0 &&
				  strcmp(password, PASS_BOB) != 0)))
		abort();
	if (held && fz_signed_in(resp, REDIRECT) && password != NULL &&
	    strcmp(password, PASS_ALICE) == 0)
		abort();
	/* A field twice is refused whole, whatever else the post holds. */
	if (req->duplicate_param && resp->status != 400)
		abort();
}

static void post(fz_world *w, const fz_signin *s, unsigned flags,
		 const char *text, size_t len, int held)
{
	const fz_subst subs[] = {{'F', s->flow},
				 {'C', s->csrf},
				 {'P', PASS_ALICE},
				 {'Q', PASS_BOB},
				 {0, NULL}};
	const char *headers[5] = {"Content-Type",
				  "application/x-www-form-urlencoded", NULL};
	af_resp resp;
	af_req req;
	af_buf b;

	memset(&req, 0, sizeof(req));
	if (flags & 0x01) {
		headers[2] = "Cookie";
		headers[3] = s->cookie;
	}
	af_buf_init(&b, FORM_MAX);
	fz_expand(subs, text, len, &b);
	if (!b.failed &&
	    fz_request(&req, "POST", "/login", b.data != NULL ? b.data : "",
		       b.len, headers) == 0) {
		af_resp_init(&resp, 0);
		if (af_h_login_post_early(&w->srv, &req, &resp) !=
		    AF_EARLY_ANSWERED) {
			af_resp_cleanup(&resp);
			af_resp_init(&resp, 0);
			af_h_login_post(&w->srv, &req, &resp);
		}
		check_answer(&req, &resp, held);
		af_resp_cleanup(&resp);
	}
	fz_request_free(&req);
	af_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *text;
	fz_signin s;
	fz_world w;
	unsigned flags;
	size_t len;
	int calls = 0, held = 0;

	world_open(&w, &s);
	while (calls++ < CALLS_MAX && fz_next(&p, end, &flags, &text, &len)) {
		if (calls == 1 && (flags & (HELD_WAITS | HELD_LOCKS))) {
			hold_alice(&w, flags);
			held = 1;
		}
		post(&w, &s, flags, text, len, held);
	}
	fz_world_close(&w);
	return 0;
}
