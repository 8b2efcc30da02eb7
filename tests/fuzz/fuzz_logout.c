/*
 * Fuzz target: RP-initiated logout (GET and POST /logout). Each input is
 * up to 3 requests, each ended by a NUL byte: a flags byte (bit 0: the
 * browser brings alice's SSO session cookie; bit 1: POST), then the
 * parameters. In them these stand for what a fuzzer cannot guess:
 *
 *   $I  client 1's id (post-logout URI $P)
 *   $J  client 2's id (post-logout URI $Q)
 *   $H  an id_token of client 1 for alice, from her current session
 *   $O  an id_token of client 2 for alice, from another session
 *   $T  the token of the last "Sign out?" question asked
 *
 * Nothing may crash or leak, and logout is no way in or out that it
 * should not be: no answer sends the browser off this server except to
 * a post-logout URI registered for a client the requests named ($P only
 * after $I or $H, $Q only after $J or $O), every form of a page posts to
 * this server, and alice's session ends only by a request that carries
 * her session's own id_token ($H) or the answer to the question ($T): a
 * link on another site cannot sign her out.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/jose.h"
#include "common/util.h"
#include "directory/directory.h"
#include "fuzz_world.h"
#include "oidc/oidc.h"
#include "session/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS_MAX  3
#define PARAMS_MAX ((size_t)16 * 1024)
#define URI_1	   "https://crm.example.com/cb"
#define URI_2	   "https://wiki.example.com/cb"
#define AFTER_1	   "https://crm.example.com/bye"
#define AFTER_2	   "https://wiki.example.com/bye"

struct world {
	fz_world fw;
	char c1[AF_DIR_CLIENT_ID_BUF], c2[AF_DIR_CLIENT_ID_BUF];
	char cookie[512];
	char confirm[128];
	char *hint_own, *hint_other;
	int named_1, named_2; /* a request named client 1, client 2 */
};

/* An id_token of ours for user, audience client, from session sid. */
static char *id_token(const struct world *w, const json_t *user,
		      const char *client, const char *sid)
{
	int64_t now = af_now();
	json_t *claims = json_pack(
		"{s:s, s:O, s:s, s:s, s:I, s:I}", "iss", FZ_ISSUER, "sub",
		json_object_get(user, "sub"), "aud", client, "sid", sid, "iat",
		(json_int_t)now, "exp", (json_int_t)now + 300);
	char *out = NULL;

	if (claims == NULL || af_jwt_sign(w->fw.srv.keys, claims,
					  AF_ID_TOKEN_TYP, &out) != JOSE_OK)
		abort();
	json_decref(claims);
	return out;
}

static void world_open(struct world *w)
{
	char sid[AF_SID_MAX];
	json_t *alice = NULL;

	memset(w, 0, sizeof(*w));
	fz_world_open(&w->fw, 1);
	fz_user(&w->fw, "{\"username\":\"alice\"}", "correct horse battery",
		&alice);
	fz_policy(&w->fw, "{\"name\":\"std\",\"sso\":true,\"assigned\":"
			  "{\"users\":[\"alice\"]}}");
	fz_client(&w->fw,
		  "{\"name\":\"crm\",\"redirect_uris\":[\"" URI_1 "\"],"
		  "\"post_logout_uris\":[\"" AFTER_1 "\"],"
		  "\"backchannel_logout_uri\":\"https://crm.example.com/bcl\","
		  "\"deployment\":{\"mode\":\"all\"}}",
		  w->c1, NULL);
	fz_client(&w->fw,
		  "{\"name\":\"wiki\",\"redirect_uris\":[\"" URI_2 "\"],"
		  "\"post_logout_uris\":[\"" AFTER_2 "\"],"
		  "\"deployment\":{\"mode\":\"all\"}}",
		  w->c2, NULL);
	fz_session(&w->fw, alice, w->cookie, sizeof(w->cookie), sid);
	/*
	 * The session signed into crm, which takes back-channel logouts: a
	 * logout reads the session's applications and asks for crm's token
	 * to be sent (the world has no sender: nothing goes out).
	 */
	{
		af_session s;

		memset(&s, 0, sizeof(s));
		snprintf(s.sid, sizeof(s.sid), "%s", sid);
		af_session_note_client(&w->fw.srv, &s, w->c1);
	}
	w->hint_own = id_token(w, alice, w->c1, sid);
	w->hint_other = id_token(w, alice, w->c2, "another-session-id");
	json_decref(alice);
}

static void world_close(struct world *w)
{
	free(w->hint_own);
	free(w->hint_other);
	fz_world_close(&w->fw);
}

/* 1 when url is dest, alone or with a query after it. */
static int is_dest(const char *url, const char *dest)
{
	size_t n = strlen(dest);

	return strncmp(url, dest, n) == 0 && (url[n] == '\0' || url[n] == '?');
}

static void check_answer(const struct world *w, const af_resp *resp)
{
	const char *to = fz_header(resp, "Location");

	if (resp->status != 200 && resp->status != 302 && resp->status != 303 &&
	    resp->status != 400 && resp->status != 503)
		abort();
	if (to != NULL && !fz_own_page(to) &&
	    !(w->named_1 && is_dest(to, AFTER_1)) &&
	    !(w->named_2 && is_dest(to, AFTER_2)))
		abort();
	fz_forms_post_to(resp, NULL);
}

static void call(void *arg, unsigned flags, const char *text, size_t len)
{
	struct world *w = arg;
	const fz_subst subs[] = {
		{'I', w->c1},	   {'J', w->c2},       {'P', AFTER_1},
		{'Q', AFTER_2},	   {'H', w->hint_own}, {'O', w->hint_other},
		{'T', w->confirm}, {0, NULL},
	};
	const char *headers[3] = {NULL};
	int was_live = fz_session_live(&w->fw, w->cookie), may_end;
	af_resp resp;
	af_req req;
	af_buf b;

	memset(&req, 0, sizeof(req));
	if (flags & 0x01) {
		headers[0] = "Cookie";
		headers[1] = w->cookie;
	}
	w->named_1 |= fz_has(text, len, 'I') || fz_has(text, len, 'H');
	w->named_2 |= fz_has(text, len, 'J') || fz_has(text, len, 'O');
	may_end = fz_has(text, len, 'H') || fz_has(text, len, 'T');
	af_buf_init(&b, PARAMS_MAX);
	fz_expand(subs, text, len, &b);
	if (!b.failed &&
	    fz_request(&req, flags & 0x02 ? "POST" : "GET", "/logout",
		       b.data != NULL ? b.data : "", b.len, headers) == 0) {
		af_resp_init(&resp, 0);
		af_h_logout(&w->fw.srv, &req, &resp);
		check_answer(w, &resp);
		/* The question asked, for a later answer. */
		if (resp.body.data != NULL &&
		    strstr(resp.body.data, "name=\"confirm\" value=\"") != NULL)
			fz_copy_after(resp.body.data,
				      "name=\"confirm\" value=\"", '"',
				      w->confirm, sizeof(w->confirm));
		af_resp_cleanup(&resp);
		if (was_live && !fz_session_live(&w->fw, w->cookie) && !may_end)
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
	world_close(&w);
	return 0;
}
