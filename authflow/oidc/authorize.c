/*
 * GET|POST /authorize: the authorization code flow (OpenID Connect Core
 * 3.1.2). The client and redirect URI are checked first; until both are
 * known good, errors are shown on a page and never redirected, so the
 * endpoint cannot be used as an open redirector. Without a session that
 * answers at once, it begins a flow and shows its sign-in form itself
 * rather than redirecting to GET /login: a round trip less per sign-in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "common/secmem.h"
#include "common/util.h"
#include "oidc/flow.h"
#include "oidc/grant.h"
#include "oidc/oidc.h"
#include "web/page.h"

/* The next space-separated word at *p (length in *n), or NULL at the end. */
static const char *word_next(const char **p, size_t *n)
{
	const char *w = *p, *end;

	while (*w == ' ')
		w++;
	if (*w == '\0')
		return NULL;
	end = w;
	while (*end != '\0' && *end != ' ')
		end++;
	*n = (size_t)(end - w);
	*p = end;
	return w;
}

int af_oidc_has_word(const char *list, const char *word)
{
	size_t n = strlen(word), len;
	const char *p = list, *w;

	if (list == NULL || n == 0)
		return 0;
	while ((w = word_next(&p, &len)) != NULL) {
		if (len == n && memcmp(w, word, n) == 0)
			return 1;
	}
	return 0;
}

/*
 * 1 when prompt holds a value of OpenID Connect's in another case
 * ("LOGIN"), else 0. Values are case-sensitive, and one not understood
 * is ignored (Core 1.0, 3.1.2.1, errata set 2), but a relying party that
 * sends "LOGIN" asks for a sign-in it would silently not get.
 */
static int prompt_miscased(const char *prompt)
{
	static const char *const known[] = {"none", "login", "consent",
					    "select_account", NULL};
	const char *p = prompt, *w;
	size_t len, i;

	while ((w = word_next(&p, &len)) != NULL) {
		for (i = 0; known[i] != NULL; i++) {
			if (strlen(known[i]) == len &&
			    strncasecmp(w, known[i], len) == 0 &&
			    memcmp(w, known[i], len) != 0)
				return 1;
		}
	}
	return 0;
}

const char *const af_oidc_scopes[] = {
	"openid", "profile", "email", "groups", "offline_access", NULL,
};

/* The supported scope w (n bytes, not NUL-terminated), or NULL. */
static const char *scope_supported(const char *w, size_t n)
{
	size_t i;

	for (i = 0; af_oidc_scopes[i] != NULL; i++) {
		if (strlen(af_oidc_scopes[i]) == n &&
		    memcmp(af_oidc_scopes[i], w, n) == 0)
			return af_oidc_scopes[i];
	}
	return NULL;
}

json_t *af_oidc_scope_granted(const char *scope)
{
	/* Room for every supported scope once, one space apart. */
	char buf[64];
	const char *p = scope, *w, *known;
	size_t len = 0, n;

	buf[0] = '\0';
	while (scope != NULL && (w = word_next(&p, &n)) != NULL) {
		known = scope_supported(w, n);
		if (known == NULL || af_oidc_has_word(buf, known))
			continue;
		if (len + 1 + n >= sizeof(buf))
			return NULL;
		if (len > 0)
			buf[len++] = ' ';
		memcpy(buf + len, known, n + 1);
		len += n;
	}
	return json_string(buf);
}

/*
 * Keeps a request parameter in authz: 0, or -1 when it is not UTF-8 text
 * (jansson holds only that) or memory ran out.
 */
static int put_param(json_t *authz, const char *key, const char *value)
{
	json_t *v = json_string(value);

	return v != NULL && json_object_set_new(authz, key, v) == 0 ? 0 : -1;
}

/*
 * 1 when the first of our acr values in a space-separated acr_values list
 * (the client's order of preference) is the MFA one, else 0.
 */
static int acr_mfa_first(const char *list)
{
	const char *p = list, *w;
	size_t len;

	while ((w = word_next(&p, &len)) != NULL) {
		if (len == strlen(AF_ACR_MFA) &&
		    memcmp(w, AF_ACR_MFA, len) == 0)
			return 1;
		if (len == strlen(AF_ACR_PWD) &&
		    memcmp(w, AF_ACR_PWD, len) == 0)
			return 0;
	}
	return 0;
}

static void append_param(af_buf *b, const char *name, const char *value)
{
	af_buf_puts(b, name);
	af_buf_puts(b, "=");
	af_buf_urlenc(b, value);
}

/*
 * Redirects (query, or fragment: only for an error to a request of an
 * implicit or hybrid kind) or auto-posts (form_post) the parameters to
 * the client's redirect URI. params holds name/value pairs.
 */
static void send_to_client(af_server *srv, af_resp *resp, const json_t *authz,
			   const char *const *params)
{
	const char *uri =
		json_string_value(json_object_get(authz, "redirect_uri"));
	const char *mode =
		json_string_value(json_object_get(authz, "response_mode"));
	af_buf b;
	char *url;
	size_t i;

	if (mode != NULL && strcmp(mode, "form_post") == 0) {
		af_page_auto_post(resp, "Signing in", uri, params);
		return;
	}
	af_buf_init(&b, 16384);
	af_buf_puts(&b, uri);
	if (mode != NULL && strcmp(mode, "fragment") == 0)
		af_buf_puts(&b, "#");
	else
		af_buf_puts(&b, strchr(uri, '?') != NULL ? "&" : "?");
	for (i = 0; params[i] != NULL; i += 2) {
		if (params[i + 1] == NULL)
			continue;
		if (i > 0)
			af_buf_puts(&b, "&");
		append_param(&b, params[i], params[i + 1]);
	}
	url = af_buf_take(&b, NULL);
	if (url == NULL) {
		af_page_error(resp, 500, "Sign-in failed",
			      "The answer to the application was too long.",
			      NULL);
		return;
	}
	af_resp_redirect(resp, 302, url);
	/* It carries the code. */
	af_secmem_free(url);
	(void)srv;
}

/*
 * Sends the browser back to the client with an error and state as the
 * request carried it (NULL: it had none). RFC 6749 4.1.2.1 asks for the
 * state exactly as received, also when the state itself is what was
 * refused; the request's size caps bound it.
 */
static void send_error_state(af_server *srv, af_resp *resp, const json_t *authz,
			     const char *state, const char *error,
			     const char *desc)
{
	const char *params[] = {
		"error", error, "error_description", desc, "state",
		state,	 "iss", srv->cfg.issuer,     NULL, NULL,
	};

	send_to_client(srv, resp, authz, params);
}

void af_oidc_send_error(af_server *srv, af_resp *resp, const json_t *authz,
			const char *error, const char *desc)
{
	send_error_state(srv, resp, authz,
			 json_string_value(json_object_get(authz, "state")),
			 error, desc);
}

/*
 * Counts a code issued to the user sub: 0 while within
 * limits.codes_per_user in a code's lifetime, 1 past it, -1 on store
 * failure. A signed-in user's browser (or whoever holds its cookie) can
 * ask for codes as fast as it can send requests; each is stored for
 * AF_CODE_TTL_S, and this bounds what one user can fill the store with.
 */
static int codes_over_limit(af_server *srv, const af_req *req, const char *sub,
			    const char *username)
{
	char key[160];
	int64_t n = 0;

	if (srv->cfg.codes_per_user == 0)
		return 0;
	if (snprintf(key, sizeof(key), "codes:user:%s", sub) >=
	    (int)sizeof(key))
		return -1;
	if (store_incr(srv->store, key, 1, (uint64_t)AF_CODE_TTL_S * 1000,
		       &n) != STORE_OK)
		return -1;
	if (n == (int64_t)srv->cfg.codes_per_user + 1) {
		const char *kv[] = {"user", username, "outcome",
				    "too_many_codes", NULL};

		log_write(srv->log, LOG_LEVEL_WARN, req->rid, "authorize", kv,
			  "limit=%u", srv->cfg.codes_per_user);
	}
	return n > (int64_t)srv->cfg.codes_per_user;
}

/*
 * Issues a code to the user of session s and sends the browser back with
 * it, within the user's limit (codes_over_limit()) and, for a code issued
 * at once on a session (at_once), the address' (af_flow_over_limit()),
 * counted in that order: a user past the limit adds no counter of the
 * address, however many addresses the user's cookie is sent from. 0 with
 * the answer in resp, or 1 with nothing answered when s ended meanwhile.
 */
static int issue_code(af_server *srv, const af_req *req, af_resp *resp,
		      const json_t *authz, const af_session *s, int at_once)
{
	char code[AF_TOKEN_TEXT_MAX + 1];
	json_t *grant, *amr;
	unsigned i;
	int rc = codes_over_limit(srv, req, s->sub, s->username);

	if (rc > 0) {
		/* RFC 6749 4.1.2.1: the application may try again later. */
		af_oidc_send_error(srv, resp, authz, "temporarily_unavailable",
				   "too many sign-ins to applications by this "
				   "user in the last minute");
		return 0;
	}
	if (rc == 0 && at_once)
		rc = af_flow_over_limit(srv, req);
	if (rc > 0) {
		af_oidc_send_error(srv, resp, authz, "temporarily_unavailable",
				   "too many sign-ins from this network in "
				   "the last few minutes");
		return 0;
	}
	if (rc < 0) {
		af_page_unavailable(resp);
		return 0;
	}
	/* Noted first: the session's end, if it comes, tells this client. */
	if (af_session_note_client(srv, s,
				   json_string_value(json_object_get(
					   authz, "client_id"))) != 0)
		return 1;
	amr = json_array();
	for (i = 0; amr != NULL && i < s->namr; i++)
		json_array_append_new(amr, json_string(s->amr[i]));
	grant = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:s, s:s, s:I, s:o, "
			  "s:s, s:s, s:I}",
			  "client_id", json_object_get(authz, "client_id"),
			  "redirect_uri",
			  json_object_get(authz, "redirect_uri"), "scope",
			  json_object_get(authz, "scope"), "nonce",
			  json_object_get(authz, "nonce"), "code_challenge",
			  json_object_get(authz, "code_challenge"), "username",
			  s->username, "sub", s->sub, "auth_time",
			  (json_int_t)s->auth_time, "amr", amr, "acr", s->acr,
			  "sid", s->sid, "gen", (json_int_t)s->gen);
	if (grant == NULL ||
	    af_grant_issue_code(srv, grant, code, sizeof(code)) != 0) {
		json_decref(grant);
		af_page_error(resp, 503, "Sign-in is unavailable",
			      "The sign-in service could not finish your "
			      "sign-in just now.",
			      "Please try again in a moment.");
		return 0;
	}
	json_decref(grant);
	{
		const char *params[] = {
			"code",
			code,
			"state",
			json_string_value(json_object_get(authz, "state")),
			"iss",
			srv->cfg.issuer,
			NULL,
			NULL,
		};

		send_to_client(srv, resp, authz, params);
	}
	{
		/*
		 * The session (its sid, as in the id_token and the logout
		 * line) and the address it was used from: a session cookie
		 * used from another address than its sign-in's shows here,
		 * with sso 1 for a code issued on the session alone.
		 */
		const char *kv[] = {
			"user",
			s->username,
			"client",
			json_string_value(json_object_get(authz, "client_id")),
			"sid",
			s->sid,
			"sso",
			at_once ? "1" : "0",
			"ip",
			req->client_ip,
			NULL,
		};

		log_write(srv->log, LOG_LEVEL_INFO, req->rid, "code_issued", kv,
			  NULL);
	}
	OPENSSL_cleanse(code, sizeof(code));
	return 0;
}

void af_oidc_send_code(af_server *srv, const af_req *req, af_resp *resp,
		       const json_t *authz, const af_session *s)
{
	const char *hint_sub =
		json_string_value(json_object_get(authz, AF_FLOW_HINT_SUB));

	/*
	 * The application named the user it wants (id_token_hint); another
	 * one signed in, and keeps the session, but the application gets no
	 * code for them (OpenID Connect Core 3.1.2.1).
	 */
	if (hint_sub != NULL && strcmp(hint_sub, s->sub) != 0) {
		log_info(
			srv->log, req->rid, "hint_mismatch",
			"user=%s client=%s", s->username,
			json_string_value(json_object_get(authz, "client_id")));
		af_oidc_send_error(srv, resp, authz, "login_required",
				   "the user who signed in is not the one "
				   "id_token_hint names");
		return;
	}
	if (issue_code(srv, req, resp, authz, s, 0) != 0)
		af_page_error(resp, 409, "Sign-in ended",
			      "This sign-in was ended as it finished: signed "
			      "out elsewhere, or by an administrator.",
			      "Start again from the application.");
}

/* A PKCE code challenge: 43..128 characters of the unreserved set. */
static int challenge_ok(const char *c)
{
	size_t n = strlen(c), i;

	if (n < 43 || n > 128)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = c[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		      ch == '_' || ch == '~'))
			return 0;
	}
	return 1;
}

static int uri_registered(const json_t *app, const char *uri)
{
	const json_t *uris = json_object_get(app, "redirect_uris"), *u;
	size_t i;

	json_array_foreach(uris, i, u)
	{
		if (json_is_string(u) && strcmp(json_string_value(u), uri) == 0)
			return 1;
	}
	return 0;
}

static const char *refuse(const char **desc, const char *why, const char *code)
{
	*desc = why;
	return code;
}

/* The parameters of this endpoint that must not come twice. */
static const char *const authorize_params[] = {
	"client_id",
	"redirect_uri",
	"response_type",
	"scope",
	"state",
	"nonce",
	"response_mode",
	"code_challenge",
	"code_challenge_method",
	"prompt",
	"max_age",
	"login_hint",
	"id_token_hint",
	"acr_values",
	"request",
	"request_uri",
	NULL,
};

/* The largest max_age kept; any larger one means the same (no limit). */
#define MAX_AGE_CAP 1000000000000ULL

/* max_age: digits only, any number of them. 0 with *out, or -1. */
static int parse_max_age(const char *s, json_int_t *out)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > MAX_AGE_CAP)
			v = MAX_AGE_CAP;
	}
	*out = (json_int_t)v;
	return 0;
}

/*
 * Checks the request past client and redirect URI. Returns NULL when
 * good, or the OAuth error code with *desc.
 */
static const char *check_request(af_server *srv, const af_req *req,
				 json_t *authz, const char **desc)
{
	const char *rt = af_oidc_param(req, "response_type");
	const char *scope = af_oidc_param(req, "scope");
	const char *mode = af_oidc_param(req, "response_mode");
	const char *cc = af_oidc_param(req, "code_challenge");
	const char *ccm = af_oidc_param(req, "code_challenge_method");
	const char *prompt = af_oidc_param(req, "prompt");
	const char *max_age = af_oidc_param(req, "max_age");
	const char *nonce = af_oidc_param(req, "nonce");
	const char *hint = af_oidc_param(req, "login_hint");
	const char *acr = af_oidc_param(req, "acr_values");
	char err[AF_DIR_ERR_BUF];
	json_int_t ma = 0;

	(void)srv;
	if (af_oidc_repeated(req, authorize_params))
		return refuse(desc, "a parameter was given more than once",
			      "invalid_request");
	if (af_oidc_param(req, "request") != NULL)
		return refuse(desc, "request objects are not supported",
			      "request_not_supported");
	if (af_oidc_param(req, "request_uri") != NULL)
		return refuse(desc, "request_uri is not supported",
			      "request_uri_not_supported");
	if (mode != NULL && strcmp(mode, "query") != 0 &&
	    strcmp(mode, "form_post") != 0)
		return refuse(desc, "response_mode must be query or form_post",
			      "invalid_request");
	if (rt == NULL)
		return refuse(desc, "response_type is required",
			      "invalid_request");
	if (strcmp(rt, "code") != 0)
		return refuse(desc, "only the code flow is supported",
			      "unsupported_response_type");
	if (scope != NULL && strlen(scope) > AF_SCOPE_MAX)
		return refuse(desc, "scope too long", "invalid_scope");
	if (scope == NULL || !af_oidc_has_word(scope, "openid"))
		return refuse(desc, "scope must include openid",
			      "invalid_scope");
	if (ccm != NULL && cc == NULL)
		return refuse(desc,
			      "code_challenge_method without code_challenge",
			      "invalid_request");
	if (cc != NULL && (ccm == NULL || strcmp(ccm, "S256") != 0))
		return refuse(desc, "code_challenge_method must be S256",
			      "invalid_request");
	if (cc != NULL && !challenge_ok(cc))
		return refuse(desc, "malformed code_challenge",
			      "invalid_request");
	if (nonce != NULL && strlen(nonce) > AF_NONCE_MAX)
		return refuse(desc, "nonce too long", "invalid_request");
	if (acr != NULL && strlen(acr) > AF_ACR_VALUES_MAX)
		return refuse(desc, "acr_values too long", "invalid_request");
	if (prompt != NULL && strlen(prompt) > AF_PROMPT_MAX)
		return refuse(desc, "prompt too long", "invalid_request");
	if (prompt != NULL && af_oidc_has_word(prompt, "none") &&
	    strcmp(prompt, "none") != 0)
		return refuse(desc, "prompt=none cannot be combined",
			      "invalid_request");
	if (prompt != NULL && prompt_miscased(prompt))
		return refuse(desc,
			      "prompt values are lower case (none, login, "
			      "consent, select_account)",
			      "invalid_request");
	if (max_age != NULL) {
		if (parse_max_age(max_age, &ma) != 0)
			return refuse(desc,
				      "max_age must be a number of seconds",
				      "invalid_request");
		if (json_object_set_new(authz, "max_age", json_integer(ma)) !=
		    0)
			return refuse(desc, "out of memory", "server_error");
	}
	/*
	 * What is kept must be text: a value dropped would fail open. Of the
	 * scope, only what is granted is kept (RFC 6749 3.3), so that the
	 * token answer, a refresh and /userinfo all go by the same scope.
	 */
	if (put_param(authz, "response_type", rt) != 0 ||
	    json_object_set_new(authz, "scope", af_oidc_scope_granted(scope)) !=
		    0 ||
	    (nonce != NULL && put_param(authz, "nonce", nonce) != 0) ||
	    (cc != NULL && put_param(authz, "code_challenge", cc) != 0) ||
	    (prompt != NULL && put_param(authz, "prompt", prompt) != 0))
		return refuse(desc, "parameters must be UTF-8 text",
			      "invalid_request");
	/*
	 * acr_values (Core 3.1.2.1) in the client's order of preference:
	 * when the first of ours it names is the MFA one, this sign-in takes
	 * the second factor whatever the user's policy says (step-up); the
	 * password one first, or neither, leaves it to the policy. Values
	 * of other providers are ignored, as a voluntary request allows.
	 */
	if (acr != NULL && acr_mfa_first(acr) &&
	    json_object_set_new(authz, "acr_mfa", json_true()) != 0)
		return refuse(desc, "out of memory", "server_error");
	/*
	 * login_hint only fills in the user name field, and only when it
	 * could be one of ours; any other hint (a phone number, say) is
	 * ignored rather than refused, as OpenID Connect Core 3.1.2.1 lets
	 * a provider do.
	 */
	if (hint != NULL && af_dir_check_username("login_hint", hint, err,
						  sizeof(err)) == AF_DIR_OK)
		json_object_set_new(authz, "login_hint", json_string(hint));
	return NULL;
}

/*
 * The user name typed in the form the sign-in was started again from
 * (AF_TYPED_COOKIE) into typed ("" when none, or none that could be a
 * user's). The cookie is cleared by every answer of /authorize, whatever
 * it is: it may hold a password typed in the name field.
 */
static void typed_take(const af_req *req, af_resp *resp, char *typed,
		       size_t cap)
{
	char err[AF_DIR_ERR_BUF];

	typed[0] = '\0';
	if (af_req_cookie(req, AF_TYPED_COOKIE, typed, cap) != 0)
		return;
	af_resp_cookie(resp, AF_TYPED_COOKIE, NULL, AF_COOKIE_CLEAR);
	if (af_dir_check_username("login_hint", typed, err, sizeof(err)) !=
	    AF_DIR_OK)
		OPENSSL_cleanse(typed, cap);
}

/*
 * The subject of an id_token_hint, into sub; -1 when the hint is not one
 * of our id_tokens.
 */
static int hint_subject(af_server *srv, const char *hint, char *sub,
			size_t subcap)
{
	json_t *claims = NULL;
	const char *s, *iss;
	int rc = -1;

	if (af_jwt_verify_typ(srv->keys, hint, strlen(hint), AF_ID_TOKEN_TYP,
			      &claims) != JOSE_OK)
		return -1;
	s = json_string_value(json_object_get(claims, "sub"));
	iss = json_string_value(json_object_get(claims, "iss"));
	if (s != NULL && iss != NULL && strcmp(iss, srv->cfg.issuer) == 0 &&
	    strlen(s) < subcap) {
		memcpy(sub, s, strlen(s) + 1);
		rc = 0;
	}
	json_decref(claims);
	return rc;
}

/* 1 when the session may answer this request without a new sign-in. */
static int session_fits(af_server *srv, const json_t *authz,
			const af_session *s, const char *hint_sub)
{
	const char *prompt =
		json_string_value(json_object_get(authz, "prompt"));
	json_t *ma = json_object_get(authz, "max_age");

	if (!srv->cfg.feature_sso)
		return 0;
	/*
	 * select_account: the sign-in form is where another account is
	 * chosen (a shared computer's "use another account"). consent needs
	 * nothing more: an application is only offered to the people an
	 * administrator deployed it to, which is the consent.
	 */
	if (prompt != NULL && (af_oidc_has_word(prompt, "login") ||
			       af_oidc_has_word(prompt, "select_account")))
		return 0;
	/* max_age=0 asks for a sign-in now, as prompt=login does. */
	if (json_is_integer(ma) &&
	    (json_integer_value(ma) == 0 ||
	     af_now() - s->auth_time >= (int64_t)json_integer_value(ma)))
		return 0;
	if (hint_sub != NULL && strcmp(hint_sub, s->sub) != 0)
		return 0;
	return 1;
}

static int session_has_amr(const af_session *s, const char *method)
{
	unsigned i;

	for (i = 0; i < s->namr && i < AF_AMR_MAX; i++) {
		if (strcmp(s->amr[i], method) == 0)
			return 1;
	}
	return 0;
}

/*
 * Whether the user of a live session may use the app now: 0 yes, 1 the
 * app is not deployed to them or they lost SSO, 2 their policy or the
 * request (authz's "acr_mfa") asks for a second factor the session was
 * made without, 3 the user's sign-ins were ended since (the session is
 * over), -1 store failure.
 */
static int session_user_allowed(af_server *srv, const af_session *s,
				const json_t *app, const json_t *authz)
{
	json_t *user = NULL, *policy = NULL;
	af_dir_status st;
	int rc;

	rc = af_session_user(srv, s, &user);
	if (rc != 0)
		return rc == 2 ? 3 : rc;
	rc = 1;
	st = af_dir_policy_for_user(srv->dir, user, &policy);
	if (st == AF_DIR_STORE) {
		rc = -1;
		goto out;
	}
	if (st != AF_DIR_OK || !json_is_true(json_object_get(policy, "sso")))
		goto out;
	if (!af_dir_app_deployed_to(app, user))
		goto out;
	rc = srv->cfg.feature_remote_access_mfa &&
			     (json_is_true(json_object_get(policy,
							   "remote_access")) ||
			      json_is_true(
				      json_object_get(authz, "acr_mfa"))) &&
			     !session_has_amr(s, "mfa")
		     ? 2
		     : 0;
out:
	json_decref(user);
	json_decref(policy);
	return rc;
}

static void start_login(af_server *srv, af_req *req, af_resp *resp,
			json_t *authz)
{
	char id[AF_FLOW_ID_MAX + 1];
	int rc = af_flow_begin(srv, req, authz, resp, id, sizeof(id));

	if (rc == 1) {
		af_resp_header_set(resp, "Retry-After", "60");
		af_page_error(resp, 429, "Too many sign-ins",
			      "Too many sign-ins were started from your "
			      "network in the last few minutes.",
			      "Please try again in a few minutes.");
		return;
	}
	if (rc != 0) {
		af_page_error(resp, 503, "Sign-in is unavailable",
			      "The sign-in service cannot start a sign-in "
			      "just now.",
			      "Please try again in a moment.");
		return;
	}
	af_login_form(srv, resp, id, authz);
}

void af_authorize_prompt_login(af_buf *b, const char *prompt)
{
	af_buf_puts(b, "prompt=");
	if (prompt != NULL && af_oidc_has_word(prompt, "login")) {
		af_buf_urlenc(b, prompt);
		return;
	}
	if (prompt != NULL && prompt[0] != '\0') {
		af_buf_urlenc(b, prompt);
		af_buf_puts(b, "%20");
	}
	af_buf_puts(b, "login");
}

char *af_authorize_restart_query(const json_t *authz)
{
	static const char *const kept[] = {
		"client_id",	 "redirect_uri",   "response_type",
		"response_mode", "scope",	   "state",
		"nonce",	 "code_challenge", "login_hint",
	};
	const char *v;
	const char *prompt =
		json_string_value(json_object_get(authz, "prompt"));
	json_t *ma = json_object_get(authz, "max_age");
	af_buf b;
	size_t i;

	af_buf_init(&b, AF_RESTART_MAX + 1);
	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		v = json_string_value(json_object_get(authz, kept[i]));
		if (v == NULL)
			continue;
		append_param(&b, kept[i], v);
		af_buf_puts(&b, "&");
	}
	if (json_object_get(authz, "code_challenge") != NULL)
		af_buf_puts(&b, "code_challenge_method=S256&");
	af_authorize_prompt_login(&b, prompt);
	af_buf_puts(&b, "&");
	if (json_is_integer(ma))
		af_buf_printf(&b, "max_age=%" JSON_INTEGER_FORMAT "&",
			      json_integer_value(ma));
	if (json_is_true(json_object_get(authz, "acr_mfa"))) {
		append_param(&b, "acr_values", AF_ACR_MFA);
		af_buf_puts(&b, "&");
	}
	v = json_string_value(json_object_get(authz, AF_FLOW_HINT_SUB));
	if (v != NULL) {
		append_param(&b, AF_FLOW_HINT_SUB, v);
		af_buf_puts(&b, "&");
	}
	af_buf_puts(&b, "restarted=1");
	if (b.failed || b.len > AF_RESTART_MAX) {
		af_buf_cleanup(&b);
		return NULL;
	}
	return af_buf_take(&b, NULL);
}

/*
 * The subject a restart carries (AF_FLOW_HINT_SUB), into sub: 1 when the
 * request is a restart, which asks for a sign-in (prompt=login: no
 * session answers it, so the subject tells nothing of the browser's),
 * with one that could be a subject; else 0.
 */
static int restart_hint(const af_req *req, char *sub, size_t subcap)
{
	const char *v = af_oidc_param(req, AF_FLOW_HINT_SUB);
	const char *prompt = af_oidc_param(req, "prompt");
	size_t n;

	if (af_oidc_param(req, "restarted") == NULL || v == NULL ||
	    prompt == NULL || !af_oidc_has_word(prompt, "login"))
		return 0;
	n = strlen(v);
	if (n == 0 || n >= subcap || !af_b64url_text_ok(v, n))
		return 0;
	memcpy(sub, v, n + 1);
	return 1;
}

/*
 * The response mode of a request's answers: form_post when asked for;
 * else the default of its response type (OAuth 2.0 Multiple Response
 * Types 5): the fragment for one that would carry a token or an ID token
 * (refused, but an application that asked for one reads its answer
 * there), the query for the rest.
 */
static const char *response_mode_of(const af_req *req)
{
	const char *mode = af_oidc_param(req, "response_mode");
	const char *rt = af_oidc_param(req, "response_type");

	if (mode != NULL)
		return strcmp(mode, "form_post") == 0 ? "form_post" : "query";
	if (rt != NULL &&
	    (af_oidc_has_word(rt, "token") || af_oidc_has_word(rt, "id_token")))
		return "fragment";
	return "query";
}

void af_h_authorize(af_server *srv, af_req *req, af_resp *resp)
{
	const char *client_id = af_oidc_param(req, "client_id");
	const char *redirect_uri = af_oidc_param(req, "redirect_uri");
	const char *state = af_oidc_param(req, "state");
	const char *hint = af_oidc_param(req, "id_token_hint");
	const char *err, *desc = NULL, *prompt;
	char hint_sub[128], typed[AF_DIR_USERNAME_MAX + 1];
	json_t *app = NULL, *authz = NULL;
	af_session s;
	af_dir_status dst;
	int failed = 0, rc;

	typed_take(req, resp, typed, sizeof(typed));
	dst = client_id != NULL ? af_dir_app_get(srv->dir, client_id, &app)
				: AF_DIR_NOT_FOUND;
	if (dst == AF_DIR_STORE) {
		af_page_unavailable(resp);
		goto out;
	}
	if (dst != AF_DIR_OK ||
	    !json_is_true(json_object_get(app, "enabled"))) {
		af_page_error(resp, 400, "Unknown application",
			      "The application that sent you here is not "
			      "known to this sign-in service.",
			      "Go back to the application and try again, or "
			      "tell its administrator.");
		goto out;
	}
	/* RFC 6749 4.1.2.1: a repeated redirect URI is not one to trust. */
	if (redirect_uri == NULL || !uri_registered(app, redirect_uri) ||
	    af_req_param_repeated(req, "client_id") ||
	    af_req_param_repeated(req, "redirect_uri")) {
		af_page_error(resp, 400, "Sign-in request refused",
			      "The application's request did not name one "
			      "address registered for it to return to.",
			      "Tell the application's administrator.");
		goto out;
	}
	authz = json_pack("{s:s, s:s, s:s}", "client_id", client_id,
			  "redirect_uri", redirect_uri, "response_mode",
			  response_mode_of(req));
	if (authz == NULL)
		goto out;
	if (state != NULL) {
		/*
		 * A state too long to send back at all (a POST body may hold
		 * kilobytes of it) gets an error page: a redirect without
		 * it would be a different answer than the one asked for.
		 */
		if (strlen(state) > AF_STATE_ECHO_MAX) {
			af_page_error(resp, 400, "Sign-in request refused",
				      "The application's state parameter is "
				      "too long.",
				      NULL);
			goto out;
		}
		if (strlen(state) > AF_STATE_MAX) {
			send_error_state(srv, resp, authz, state,
					 "invalid_request", "state too long");
			goto out;
		}
		if (put_param(authz, "state", state) != 0) {
			send_error_state(srv, resp, authz, state,
					 "invalid_request",
					 "state must be UTF-8 text");
			goto out;
		}
	}
	err = check_request(srv, req, authz, &desc);
	if (err != NULL) {
		af_oidc_send_error(srv, resp, authz, err, desc);
		goto out;
	}
	/* Started again from a sign-in form whose flow was gone. */
	if (af_oidc_param(req, "restarted") != NULL) {
		json_object_set_new(authz, "restarted", json_true());
		/* The name typed fills in the form, in place of login_hint. */
		if (typed[0] != '\0')
			json_object_set_new(authz, AF_FLOW_TYPED_USER,
					    json_string(typed));
	}
	if (hint != NULL &&
	    hint_subject(srv, hint, hint_sub, sizeof(hint_sub)) != 0) {
		af_oidc_send_error(srv, resp, authz, "invalid_request",
				   "id_token_hint is not valid");
		goto out;
	}
	if (hint == NULL && restart_hint(req, hint_sub, sizeof(hint_sub)))
		hint = hint_sub;
	if (hint != NULL && json_object_set_new(authz, AF_FLOW_HINT_SUB,
						json_string(hint_sub)) != 0)
		goto out;
	/* A POST from the application's site comes without the cookie. */
	if (af_oidc_same_site_hop(req, resp, authorize_params, "/authorize",
				  redirect_uri))
		goto out;
	prompt = json_string_value(json_object_get(authz, "prompt"));
	if (af_session_get(srv, req, &s, &failed) == 0 &&
	    session_fits(srv, authz, &s, hint != NULL ? hint_sub : NULL)) {
		rc = session_user_allowed(srv, &s, app, authz);
		/* A code at once counts as a sign-in begun here. */
		/* A session that ended meanwhile is none. */
		if (rc == 0 && issue_code(srv, req, resp, authz, &s, 1) == 0)
			goto out;
		/* rc 2: a new sign-in, with the second factor, follows. */
		if (rc == 1 && prompt != NULL && strcmp(prompt, "none") == 0) {
			af_oidc_send_error(srv, resp, authz, "access_denied",
					   "the application is not available "
					   "to this user");
			goto out;
		}
		if (rc < 0)
			failed = 1;
	}
	if (failed) {
		af_page_error(resp, 503, "Sign-in is unavailable",
			      "The sign-in service cannot reach its data "
			      "store just now.",
			      "Please try again in a moment.");
		goto out;
	}
	if (prompt != NULL && strcmp(prompt, "none") == 0) {
		af_oidc_send_error(srv, resp, authz, "login_required",
				   "no usable session");
		goto out;
	}
	start_login(srv, req, resp, authz);
out:
	OPENSSL_cleanse(typed, sizeof(typed));
	json_decref(app);
	json_decref(authz);
}
