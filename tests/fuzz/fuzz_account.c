/*
 * Fuzz target: the signed-in user's own pages, /account/password (change
 * the password) and /account/sessions (sign the other browsers out).
 * Each input is up to 4 requests, each ended by a NUL byte: a flags byte
 * (bit 0: the browser brings alice's SSO session cookie; bits 1-2: POST
 * /account/password, POST /account/sessions, or GET of either), then the
 * form or query. In it these stand for what a fuzzer cannot guess:
 *
 *   $C  the form token of alice's session's pages
 *   $P  alice's password             $N  a new password that is allowed
 *
 * alice is signed in twice (this browser and another). Nothing may crash
 * or leak; every answer has a known status and no redirect leaves the
 * server; alice's password stops working only by a POST to
 * /account/password from her session with its form token and that
 * password as the current one; and
 * her other browser is signed out only by a POST from her session with
 * the form token (to /account/sessions, or a password change).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "directory/directory.h"
#include "fuzz_world.h"
#include "session/session.h"
#include "web/account.h"
#include "web/pwchange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS_MAX 4
#define FORM_MAX  ((size_t)16 * 1024)
#define PASSWORD  "alice's long passphrase"
#define NEW_PASS  "a quite different passphrase 7"

struct world {
	fz_world fw;
	char cookie[512], other[512];
	char csrf[128];
};

static void world_open(struct world *w)
{
	const char *headers[] = {"Cookie", w->cookie, NULL};
	json_t *alice = NULL;
	af_resp resp;
	af_req req;
	char *html;

	memset(w, 0, sizeof(*w));
	fz_world_open(&w->fw, 0);
	fz_user(&w->fw, "{\"username\":\"alice\"}", PASSWORD, &alice);
	fz_policy(&w->fw, "{\"name\":\"std\",\"sso\":true,\"assigned\":"
			  "{\"users\":[\"alice\"]}}");
	fz_session(&w->fw, alice, w->cookie, sizeof(w->cookie), NULL);
	fz_session(&w->fw, alice, w->other, sizeof(w->other), NULL);
	json_decref(alice);
	if (fz_request(&req, "GET", "/account/password", "", 0, headers) != 0)
		abort();
	af_resp_init(&resp, 0);
	af_h_account_password_get(&w->fw.srv, &req, &resp);
	fz_request_free(&req);
	html = strndup(resp.body.data != NULL ? resp.body.data : "",
		       resp.body.len);
	if (html == NULL)
		abort();
	fz_copy_after(html, "name=\"csrf\" value=\"", '"', w->csrf,
		      sizeof(w->csrf));
	free(html);
	af_resp_cleanup(&resp);
}

static const struct {
	const char *method, *path;
	void (*handler)(af_server *, af_req *, af_resp *);
} targets[] = {
	{"POST", "/account/password", af_h_account_password_post},
	{"POST", "/account/sessions", af_h_account_sessions_post},
	{"GET", "/account/password", af_h_account_password_get},
	{"GET", "/account/sessions", af_h_account_sessions_get},
};

static void call(void *arg, unsigned flags, const char *text, size_t len)
{
	struct world *w = arg;
	const fz_subst subs[] = {
		{'C', w->csrf}, {'P', PASSWORD}, {'N', NEW_PASS}, {0, NULL}};
	const char *headers[5] = {"Content-Type",
				  "application/x-www-form-urlencoded", NULL};
	unsigned t = (flags >> 1) & 0x03;
	int from_session = (flags & 0x01) && fz_has(text, len, 'C');
	int other_live = fz_session_live(&w->fw, w->other);
	int was_old = fz_password_is(&w->fw, "alice", PASSWORD);
	const char *to, *set;
	af_resp resp;
	af_req req;
	af_buf b;

	memset(&req, 0, sizeof(req));
	if (flags & 0x01) {
		headers[2] = "Cookie";
		headers[3] = w->cookie;
	}
	af_buf_init(&b, FORM_MAX);
	fz_expand(subs, text, len, &b);
	if (!b.failed &&
	    fz_request(&req, targets[t].method, targets[t].path,
		       b.data != NULL ? b.data : "", b.len, headers) == 0) {
		af_resp_init(&resp, 0);
		targets[t].handler(&w->fw.srv, &req, &resp);
		to = fz_header(&resp, "Location");
		if ((resp.status != 200 && resp.status != 302 &&
		     resp.status != 303 && resp.status != 400 &&
		     resp.status != 401 && resp.status != 403 &&
		     resp.status != 429 && resp.status != 503) ||
		    (to != NULL && !fz_own_page(to)))
			abort();
		/* A changed password signs this browser in anew. */
		set = fz_header(&resp, "Set-Cookie");
		if (set != NULL &&
		    strncmp(set, AF_SESSION_COOKIE "=",
			    strlen(AF_SESSION_COOKIE) + 1) == 0 &&
		    set[strlen(AF_SESSION_COOKIE) + 1] != ';')
			fz_copy_after(set, "", ';', w->cookie,
				      sizeof(w->cookie));
		af_resp_cleanup(&resp);
		/* A new password: only from the session, knowing the old. */
		if (was_old && !fz_password_is(&w->fw, "alice", PASSWORD) &&
		    (t != 0 || !from_session || !fz_has(text, len, 'P')))
			abort();
		if (other_live && !fz_session_live(&w->fw, w->other) &&
		    (t > 1 || !from_session))
			abort();
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
	return 0;
}
