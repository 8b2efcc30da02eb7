/*
 * GET|POST /logout: RP-initiated logout (OpenID Connect RP-Initiated
 * Logout 1.0).
 *
 * The client is the audience of a valid id_token_hint, or client_id when
 * there is no hint; the browser goes back to post_logout_redirect_uri
 * (with state) only when that URI is registered for that client. A hint
 * that does not verify, or a parameter given twice, names no client.
 *
 * The session ends at once only when the hint was issued in the browser's
 * current session (its "sid"): the request then comes from an application
 * the user signed in to in this browser session. Otherwise (no hint, a
 * hint from another session or user, a hint that does not verify) the
 * user is asked first, as section 2 of the specification requires, so
 * that a link on any site cannot sign people out. The question is a form
 * that posts back a one-time token; the store keeps, under that token,
 * the session the question was shown in and where to go afterwards, so
 * the answer counts only in that browser session and only once.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "oidc/oidc.h"
#include "web/page.h"

#define CONFIRM_KEY_PREFIX "logout:"
#define CONFIRM_BYTES	   32 /* 256 random bits */
#define CONFIRM_BUF	   64 /* its base64url text and NUL */
#define CONFIRM_TTL_MS	   ((uint64_t)10 * 60 * 1000)
#define DEST_MAX	   8192 /* the URL to return to, with state */

/* What a sign-out request asks for, once checked. */
struct request {
	const char *client; /* the client it names, or NULL */
	const char *sid;    /* the hint's session, or NULL */
	const char *dest;   /* where to go afterwards, or NULL */
	char *dest_buf;	    /* dest when it was made here */
	const char *note;   /* why there is nowhere to go, or NULL */
};

/* The store failed: nothing was ended, try again. */
static void unavailable(af_resp *resp)
{
	af_page_error(resp, 503, "Sign-out is unavailable",
		      "The sign-in service cannot sign you out right now.",
		      "Try again in a minute.");
}

static void signed_out_page(af_resp *resp, const char *note)
{
	af_buf b;

	af_buf_init(&b, 16384);
	af_page_begin(&b, resp, "Signed out");
	af_buf_puts(&b, "<h1>You are signed out</h1><p class=\"msg info\">"
			"You have been signed out of the sign-in service.</p>");
	if (note != NULL) {
		af_buf_puts(&b, "<p>");
		af_buf_html(&b, note);
		af_buf_puts(&b, "</p>");
	}
	af_page_end(&b, resp);
	af_page_send(resp, 200, &b);
}

/* Where the user ends up: dest, or the signed-out page with note. */
/*
 * One "logout" line: the client (NULL: none named), the outcome, and
 * whose session it is about (s).
 */
static void log_outcome(af_server *srv, const af_req *req, log_level level,
			const char *client, const af_session *s,
			const char *outcome)
{
	const char *kv[] = {"client",  client != NULL ? client : "-",
			    "user",    s->username,
			    "sid",     s->sid,
			    "outcome", outcome,
			    NULL};

	log_write(srv->log, level, req->rid, "logout", kv, NULL);
}

static void finish(af_resp *resp, const struct request *r)
{
	if (r->dest != NULL)
		af_resp_redirect(resp, 302, r->dest);
	else
		signed_out_page(resp, r->note);
}

static int post_logout_ok(const json_t *app, const char *uri)
{
	const json_t *uris = json_object_get(app, "post_logout_uris"), *u;
	size_t i;

	json_array_foreach(uris, i, u)
	{
		if (json_is_string(u) && strcmp(json_string_value(u), uri) == 0)
			return 1;
	}
	return 0;
}

/* The client named by the hint's aud (or azp); NULL when none. */
static const char *hint_client(const json_t *claims)
{
	const json_t *aud = json_object_get(claims, "aud");

	if (json_is_string(aud))
		return json_string_value(aud);
	if (json_is_array(aud) && json_array_size(aud) == 1)
		return json_string_value(json_array_get(aud, 0));
	return json_string_value(json_object_get(claims, "azp"));
}

/*
 * Reads the request's parameters into r: the client, the hint's session
 * and the destination. *claims gets the verified hint's claims (or
 * NULL), which r's strings point into.
 */
/* The parameters of this endpoint that must not come twice. */
static const char *const logout_params[] = {
	"id_token_hint", "post_logout_redirect_uri",
	"state",	 "client_id",
	"logout_hint",	 "ui_locales",
	"confirm",	 NULL,
};

static void read_request(af_server *srv, const af_req *req, json_t **claims,
			 struct request *r)
{
	const char *hint = af_oidc_param(req, "id_token_hint");
	const char *uri = af_oidc_param(req, "post_logout_redirect_uri");
	const char *state = af_oidc_param(req, "state");
	const char *client_id = af_oidc_param(req, "client_id");
	const char *iss;
	json_t *app = NULL;
	af_buf b;

	memset(r, 0, sizeof(*r));
	*claims = NULL;
	if (af_oidc_repeated(req, logout_params)) {
		r->note = "The sign-out request was malformed, so you were not "
			  "sent back to the application.";
		return;
	}
	if (hint != NULL) {
		if (af_jwt_verify_typ(srv->keys, hint, strlen(hint),
				      AF_ID_TOKEN_TYP, claims) != JOSE_OK) {
			*claims = NULL;
		} else {
			iss = json_string_value(
				json_object_get(*claims, "iss"));
			if (iss == NULL || strcmp(iss, srv->cfg.issuer) != 0) {
				json_decref(*claims);
				*claims = NULL;
			}
		}
		if (*claims == NULL) {
			r->note = "The application's sign-out request could "
				  "not be verified, so you were not sent "
				  "back to it.";
			return;
		}
		r->client = hint_client(*claims);
		r->sid = json_string_value(json_object_get(*claims, "sid"));
		/*
		 * A client_id other than the hint's audience makes the
		 * request invalid (RP-Initiated Logout 2): it names no
		 * client, and ends nothing without asking.
		 */
		if (r->client != NULL && client_id != NULL &&
		    strcmp(r->client, client_id) != 0) {
			r->client = NULL;
			r->sid = NULL;
		}
	} else {
		r->client = client_id;
	}
	if (uri == NULL)
		return;
	if (r->client == NULL) {
		r->note = "The sign-out request did not name the application, "
			  "so you were not sent back to it.";
		return;
	}
	if (af_dir_app_get(srv->dir, r->client, &app) != AF_DIR_OK ||
	    !post_logout_ok(app, uri)) {
		r->note = "The address to return to is not registered for the "
			  "application, so you stay here.";
		json_decref(app);
		return;
	}
	json_decref(app);
	af_buf_init(&b, DEST_MAX);
	af_buf_puts(&b, uri);
	if (state != NULL) {
		af_buf_puts(&b,
			    strchr(uri, '?') != NULL ? "&state=" : "?state=");
		af_buf_urlenc(&b, state);
	}
	r->dest_buf = af_buf_take(&b, NULL);
	r->dest = r->dest_buf;
	if (r->dest == NULL)
		r->note = "The address to return to is too long, so you stay "
			  "here.";
}

/*
 * Asks the user of session s whether to sign out. The answer's token is
 * stored with s's public id and the destination.
 */
static void ask(af_server *srv, af_resp *resp, const af_session *s,
		const struct request *r)
{
	char token[CONFIRM_BUF], key[sizeof(CONFIRM_KEY_PREFIX) + CONFIRM_BUF];
	json_t *rec;
	char *text = NULL;
	store_status st = STORE_ERR_IO;
	af_buf b;

	rec = json_pack("{s:s, s:s?}", "sid", s->sid, "dest", r->dest);
	if (rec != NULL)
		text = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	if (text != NULL &&
	    af_random_token(CONFIRM_BYTES, token, sizeof(token)) == 0) {
		snprintf(key, sizeof(key), "%s%s", CONFIRM_KEY_PREFIX, token);
		st = store_set(srv->store, key, text, strlen(text),
			       CONFIRM_TTL_MS, STORE_SET_NX);
	}
	free(text);
	if (st != STORE_OK) {
		unavailable(resp);
		return;
	}
	/* The answer to the form goes on to the application. */
	af_page_allow_form_target(resp, r->dest);
	af_buf_init(&b, 16384);
	af_page_begin(&b, resp, "Sign out?");
	af_buf_puts(&b, "<h1>Sign out?</h1><p>An application asked to sign "
			"you out of the sign-in service. You are signed in as "
			"<strong>");
	af_buf_html(&b, s->username);
	af_buf_puts(&b, "</strong>.</p>");
	if (r->note != NULL) {
		af_buf_puts(&b, "<p class=\"msg info\">");
		af_buf_html(&b, r->note);
		af_buf_puts(&b, "</p>");
	}
	af_buf_puts(&b, "<form method=\"post\" action=\"/logout\">"
			"<input type=\"hidden\" name=\"confirm\" value=\"");
	af_buf_html(&b, token);
	af_buf_puts(&b, "\"><button type=\"submit\">Sign out</button></form>"
			"<p>If you did not ask to sign out, close this page: "
			"you stay signed in.</p>");
	af_page_end(&b, resp);
	af_page_send(resp, 200, &b);
	OPENSSL_cleanse(token, sizeof(token));
}

/* POST /logout with the answer to ask()'s question. */
static void confirmed(af_server *srv, const af_req *req, af_resp *resp,
		      const char *token)
{
	char key[sizeof(CONFIRM_KEY_PREFIX) + CONFIRM_BUF];
	store_value v = {0};
	json_t *rec = NULL;
	struct request r;
	af_session s;
	const char *sid;
	int failed = 0, have;
	store_status st;

	memset(&r, 0, sizeof(r));
	if (strlen(token) >= CONFIRM_BUF ||
	    !af_b64url_text_ok(token, strlen(token)))
		st = STORE_NOT_FOUND;
	else {
		snprintf(key, sizeof(key), "%s%s", CONFIRM_KEY_PREFIX, token);
		st = store_getdel(srv->store, key, &v);
	}
	if (st == STORE_OK)
		rec = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	have = af_session_get(srv, req, &s, &failed) == 0;
	if (failed || (st != STORE_OK && st != STORE_NOT_FOUND)) {
		unavailable(resp);
		goto out;
	}
	sid = json_string_value(json_object_get(rec, "sid"));
	if (!have) {
		/* Signed out meanwhile: nothing is left to do. */
		signed_out_page(resp, NULL);
		goto out;
	}
	if (sid == NULL || strcmp(sid, s.sid) != 0) {
		log_outcome(srv, req, LOG_LEVEL_WARN, NULL, &s,
			    "stale_confirmation");
		af_page_error(resp, 400, "Sign-out form expired",
			      "This sign-out form is no longer valid, so you "
			      "are still signed in.",
			      "Go back to the application and sign out again.");
		goto out;
	}
	r.dest = json_string_value(json_object_get(rec, "dest"));
	if (af_session_end_current(srv, req, resp) != 0) {
		unavailable(resp);
		goto out;
	}
	log_outcome(srv, req, LOG_LEVEL_INFO, NULL, &s, "confirmed");
	finish(resp, &r);
out:
	json_decref(rec);
}

void af_h_logout(af_server *srv, af_req *req, af_resp *resp)
{
	const char *token = af_oidc_param(req, "confirm");
	json_t *claims = NULL;
	struct request r;
	af_session s;
	int failed = 0;

	if (token != NULL && strcmp(req->method, "POST") == 0 &&
	    !af_oidc_repeated(req, logout_params)) {
		confirmed(srv, req, resp, token);
		return;
	}
	read_request(srv, req, &claims, &r);
	/*
	 * A POST from the application's site comes without the session
	 * cookie: without this step the session would live on while the
	 * application is told the user signed out. Read first, so that the
	 * step may lead on to where the request goes.
	 */
	if (af_oidc_same_site_hop(req, resp, logout_params, "/logout", r.dest))
		goto out;
	if (af_session_get(srv, req, &s, &failed) != 0) {
		if (failed) {
			unavailable(resp);
			goto out;
		}
		/* No session here: nothing to end, nothing to ask. */
		if (af_session_end_current(srv, req, resp) != 0)
			unavailable(resp);
		else
			finish(resp, &r);
	} else if (r.sid != NULL && strcmp(r.sid, s.sid) == 0) {
		if (af_session_end_current(srv, req, resp) != 0) {
			unavailable(resp);
			goto out;
		}
		log_outcome(srv, req, LOG_LEVEL_INFO, r.client, &s, "ended");
		finish(resp, &r);
	} else {
		log_outcome(srv, req, LOG_LEVEL_INFO, r.client, &s, "asked");
		ask(srv, resp, &s, &r);
	}
out:
	free(r.dest_buf);
	json_decref(claims);
}
