/*
 * Fuzz target: the sign-in step where a user with a temporary password
 * chooses a new one (GET and POST /login/password). alice's password is
 * temporary; her sign-in is begun at /authorize and her temporary
 * password posted at /login, which sends the browser to the step. Each
 * input is up to 4 requests, each ended by a NUL byte: a flags byte (bit
 * 0: the browser brings the flow's binding cookie; bit 1: GET the form
 * rather than POST it), then the form or query. In it these stand for
 * what a fuzzer cannot guess:
 *
 *   $F  the flow      $C  its CSRF token
 *   $P  the temporary password      $N  an allowed new one
 *
 * Nothing may crash or leak; every answer has a known status and
 * redirects only to this server's pages or the client's registered URI;
 * the temporary password is replaced only by a POST with the binding
 * cookie, the flow and its token; and the sign-in ends with a code for
 * the client, or an SSO session, only once it is replaced: a temporary
 * password never signs in on its own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "directory/directory.h"
#include "fuzz_world.h"
#include "oidc/oidc.h"
#include "web/pwchange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS_MAX 4
#define FORM_MAX  ((size_t)16 * 1024)
#define REDIRECT  "https://crm.example.com/cb"
#define TEMPORARY "a temporary passphrase 42"
#define NEW_PASS  "alice's own new passphrase"

struct world {
	fz_world fw;
	fz_signin s;
};

/* The temporary password at /login: the browser is sent to the step. */
static void pass_password(struct world *w)
{
	const char *headers[] = {"Cookie", w->s.cookie, NULL};
	char form[512];
	const char *to;
	af_resp resp;
	af_req req;

	snprintf(form, sizeof(form),
		 "flow=%s&csrf=%s&username=alice&password=%s", w->s.flow,
		 w->s.csrf, "a%20temporary%20passphrase%2042");
	if (fz_request(&req, "POST", "/login", form, strlen(form), headers) !=
	    0)
		abort();
	af_resp_init(&resp, 0);
	af_h_login_post(&w->fw.srv, &req, &resp);
	fz_request_free(&req);
	to = fz_header(&resp, "Location");
	if (resp.status != 303 || to == NULL ||
	    strncmp(to, "/login/password?", 16) != 0)
		abort();
	if (fz_header(&resp, "Set-Cookie") != NULL)
		fz_copy_after(fz_header(&resp, "Set-Cookie"), "", ';',
			      w->s.cookie, sizeof(w->s.cookie));
	af_resp_cleanup(&resp);
}

static void world_open(struct world *w)
{
	char client[AF_DIR_CLIENT_ID_BUF];

	memset(w, 0, sizeof(*w));
	fz_world_open(&w->fw, 0);
	fz_user(&w->fw,
		"{\"username\":\"alice\",\"" AF_DIR_USER_PW_CHANGE "\":true}",
		TEMPORARY, NULL);
	fz_policy(&w->fw, "{\"name\":\"std\",\"sso\":true,\"assigned\":"
			  "{\"users\":[\"alice\"]}}");
	fz_client(&w->fw,
		  "{\"name\":\"crm\",\"redirect_uris\":[\"" REDIRECT "\"],"
		  "\"deployment\":{\"mode\":\"all\"}}",
		  client, NULL);
	fz_begin(&w->fw, client, "https%3A%2F%2Fcrm.example.com%2Fcb", &w->s);
	pass_password(w);
}

static void call(void *arg, unsigned flags, const char *text, size_t len)
{
	struct world *w = arg;
	const fz_subst subs[] = {{'F', w->s.flow},
				 {'C', w->s.csrf},
				 {'P', TEMPORARY},
				 {'N', NEW_PASS},
				 {0, NULL}};
	const char *headers[5] = {"Content-Type",
				  "application/x-www-form-urlencoded", NULL};
	int get = (flags & 0x02) != 0,
	    was_temporary = fz_password_is(&w->fw, "alice", TEMPORARY);
	int rightful = (flags & 0x01) && !get && fz_has(text, len, 'F') &&
		       fz_has(text, len, 'C');
	af_resp resp;
	af_req req;
	af_buf b;

	memset(&req, 0, sizeof(req));
	if (flags & 0x01) {
		headers[2] = "Cookie";
		headers[3] = w->s.cookie;
	}
	af_buf_init(&b, FORM_MAX);
	fz_expand(subs, text, len, &b);
	if (!b.failed &&
	    fz_request(&req, get ? "GET" : "POST", "/login/password",
		       b.data != NULL ? b.data : "", b.len, headers) == 0) {
		af_resp_init(&resp, 0);
		if (get)
			af_h_password_get(&w->fw.srv, &req, &resp);
		else
			af_h_password_post(&w->fw.srv, &req, &resp);
		if (resp.status != 200 && resp.status != 302 &&
		    resp.status != 303 && resp.status != 400 &&
		    resp.status != 403 && resp.status != 409 &&
		    resp.status != 503)
			abort();
		if (fz_signed_in(&resp, REDIRECT) &&
		    fz_password_is(&w->fw, "alice", TEMPORARY))
			abort();
		/* A form posted with a field twice is refused whole. */
		if (!get && req.duplicate_param && resp.status != 400)
			abort();
		af_resp_cleanup(&resp);
		if (was_temporary &&
		    !fz_password_is(&w->fw, "alice", TEMPORARY) && !rightful)
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
