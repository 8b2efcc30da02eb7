/*
 * POST /token: authorization_code (with PKCE) and refresh_token grants.
 * Every answer carries Cache-Control: no-store (set for all responses by
 * the HTTP layer). Codes are consumed atomically; a replayed code revokes
 * what its first redemption issued (see grant.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/secmem.h"
#include "common/util.h"
#include "directory/audit.h"
#include "oidc/grant.h"
#include "oidc/oidc.h"

struct issued {
	char access[JOSE_JWT_MAX + 1];
	char refresh[AF_TOKEN_TEXT_MAX + 1];
	char *id_token;
	int has_refresh;
	char scope[AF_SCOPE_MAX + 1]; /* granted, as the answer says it */
};

static void issued_cleanup(struct issued *t)
{
	OPENSSL_cleanse(t->access, sizeof(t->access));
	OPENSSL_cleanse(t->refresh, sizeof(t->refresh));
	if (t->id_token != NULL) {
		OPENSSL_cleanse(t->id_token, strlen(t->id_token));
		free(t->id_token);
	}
}

/* RFC 7636 S256: BASE64URL(SHA256(verifier)) == challenge. */
static int pkce_ok(const char *verifier, const char *challenge)
{
	uint8_t d[32];
	char enc[64];
	size_t n = strlen(verifier), i;

	if (n < 43 || n > 128)
		return 0;
	for (i = 0; i < n; i++) {
		char c = verifier[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_' || c == '~'))
			return 0;
	}
	af_sha256(verifier, n, d);
	if (af_b64url_encode(d, sizeof(d), enc, sizeof(enc)) != 0)
		return 0;
	return af_ct_streq(enc, challenge);
}

static char *make_id_token(af_server *srv, const json_t *grant,
			   const json_t *user, const json_t *app,
			   const char *access)
{
	static const char *const from_grant[] = {"auth_time", "nonce", "amr",
						 "acr", "sid"};
	json_t *claims, *client = json_object_get(grant, "client_id");
	char at_hash[64], *jwt = NULL;
	int64_t now = af_now();
	const char *scope = json_string_value(json_object_get(grant, "scope"));
	size_t i;
	int bad;

	claims = af_oidc_user_claims(user, app, scope != NULL ? scope : "");
	if (claims == NULL)
		return NULL;
	af_oidc_half_hash(access, at_hash, sizeof(at_hash));
	bad = json_object_set_new(claims, "iss",
				  json_string(srv->cfg.issuer)) != 0 ||
	      json_object_set(claims, "aud", client) != 0 ||
	      json_object_set(claims, "azp", client) != 0 ||
	      json_object_set_new(claims, "iat", json_integer(now)) != 0 ||
	      json_object_set_new(claims, "exp",
				  json_integer(now + AF_ID_TOKEN_LIFETIME_S)) !=
		      0 ||
	      json_object_set_new(claims, "at_hash", json_string(at_hash)) != 0;
	/* Of the grant's own, those it holds (a refresh keeps no nonce). */
	for (i = 0; !bad && i < sizeof(from_grant) / sizeof(from_grant[0]);
	     i++) {
		json_t *v = json_object_get(grant, from_grant[i]);

		if (strcmp(from_grant[i], "nonce") == 0 && !json_is_string(v))
			continue;
		bad = v != NULL &&
		      json_object_set(claims, from_grant[i], v) != 0;
	}
	/* A claim dropped for want of memory is no token. */
	if (bad) {
		json_decref(claims);
		return NULL;
	}
	if (af_jwt_sign(srv->keys, claims, AF_ID_TOKEN_TYP, &jwt) != JOSE_OK)
		jwt = NULL;
	json_decref(claims);
	return jwt;
}

/*
 * An RFC 9068 JWT access token for apps that ask for one, its jti the
 * selector sel (NULL: a new random one).
 */
static int make_jwt_access(af_server *srv, const json_t *grant, const char *sel,
			   char *out, size_t outcap)
{
	char jti[AF_GRANT_SEL_BUF], *jwt = NULL;
	int64_t now = af_now();
	json_t *c;
	int rc = -1;

	if (sel != NULL)
		memcpy(jti, sel, sizeof(jti));
	else if (af_grant_new_selector(jti) != 0)
		return -1;
	c = json_pack("{s:s, s:O, s:O, s:O, s:I, s:I, s:s, s:O, s:O}", "iss",
		      srv->cfg.issuer, "sub", json_object_get(grant, "sub"),
		      "aud", json_object_get(grant, "client_id"), "client_id",
		      json_object_get(grant, "client_id"), "iat",
		      (json_int_t)now, "exp", (json_int_t)now + AF_ACCESS_TTL_S,
		      "jti", jti, "scope", json_object_get(grant, "scope"),
		      "auth_time", json_object_get(grant, "auth_time"));
	if (c == NULL)
		return -1;
	if (af_jwt_sign(srv->keys, c, AF_ACCESS_TOKEN_TYP, &jwt) == JOSE_OK &&
	    strlen(jwt) < outcap) {
		memcpy(out, jwt, strlen(jwt) + 1);
		rc = af_grant_store_jwt(srv, jti, out, grant,
					now + AF_ACCESS_TTL_S);
	}
	af_secmem_free(jwt);
	json_decref(c);
	return rc;
}

/*
 * The next space-separated word of *p: its start, its length in *n (0 at
 * the end); *p moves past it.
 */
static const char *next_word(const char **p, size_t *n)
{
	const char *w = *p;

	while (*w == ' ')
		w++;
	for (*n = 0; w[*n] != '\0' && w[*n] != ' '; (*n)++)
		;
	*p = w + *n;
	return w;
}

/*
 * scope's words, one space apart, without the word drop (NULL: none), as a
 * new JSON string (or NULL).
 */
static json_t *scope_words(const char *scope, const char *drop)
{
	char buf[AF_SCOPE_MAX + 1];
	const char *p = scope, *w;
	size_t len = 0, n;

	for (w = next_word(&p, &n); n > 0; w = next_word(&p, &n)) {
		if (drop != NULL && n == strlen(drop) &&
		    memcmp(w, drop, n) == 0)
			continue;
		if (len + 1 + n >= sizeof(buf))
			return NULL;
		if (len > 0)
			buf[len++] = ' ';
		memcpy(buf + len, w, n);
		len += n;
	}
	buf[len] = '\0';
	return json_string(buf);
}

/*
 * 0 when the grant's user is still the one it was issued to, enabled, in
 * the same generation of sign-ins; 1 when not (gone or being removed,
 * made again, disabled, sign-ins ended); -1 when the store failed.
 */
static int user_unchanged(af_server *srv, const json_t *grant)
{
	json_t *user = NULL;
	af_dir_status st = af_dir_user_get(
		srv->dir, json_string_value(json_object_get(grant, "username")),
		&user);
	int rc = st == AF_DIR_STORE ? -1 : 1;

	if (st == AF_DIR_OK && json_is_true(json_object_get(user, "enabled")) &&
	    json_equal(json_object_get(user, "sub"),
		       json_object_get(grant, "sub")) &&
	    af_grant_gen_current(grant, user))
		rc = 0;
	json_decref(user);
	return rc;
}

/*
 * Issues access token, optional refresh token and id_token for grant, the
 * access token under selector at_sel and the refresh token under rt_sel
 * (NULL: new random ones). The access token and id_token are for now:
 * grant itself, or the same grant with a narrower scope; a refresh token
 * keeps grant's scope (RFC 6749 6). 0, or nonzero with the error in resp
 * (invalid_grant when the family was revoked while they were issued).
 */
static int issue(af_server *srv, af_resp *resp, json_t *grant,
		 const json_t *now, const json_t *user, const json_t *app,
		 const char *at_sel, const char *rt_sel, struct issued *t)
{
	const char *scope = json_string_value(json_object_get(grant, "scope"));
	const char *fmt =
		json_string_value(json_object_get(app, "access_token_format"));
	const char *now_scope =
		json_string_value(json_object_get(now, "scope"));
	int refresh = af_oidc_has_word(scope, "offline_access") &&
		      json_is_true(json_object_get(app, "allow_refresh"));
	char sel[AF_GRANT_SEL_BUF];
	json_t *narrow = NULL;
	int rc = 0;

	/*
	 * What the tokens say is what was granted: without a refresh token,
	 * offline access was not (RFC 6749 5.1), in the answer, in a JWT
	 * access token and for /userinfo alike.
	 */
	if (!refresh && af_oidc_has_word(now_scope, "offline_access")) {
		json_t *words = scope_words(now_scope, "offline_access");

		narrow = words != NULL ? json_deep_copy(now) : NULL;
		if (narrow == NULL ||
		    json_object_set_new(narrow, "scope", words) != 0) {
			if (narrow == NULL)
				json_decref(words);
			json_decref(narrow);
			af_resp_oauth_error(resp, 503,
					    "temporarily_unavailable",
					    "could not issue tokens");
			return -1;
		}
		now = narrow;
		now_scope = json_string_value(json_object_get(now, "scope"));
	}
	snprintf(t->scope, sizeof(t->scope), "%s",
		 now_scope != NULL ? now_scope : "");
	/* The selector is known here, so that the refresh token notes it. */
	if (at_sel == NULL) {
		rc = af_grant_new_selector(sel);
		at_sel = sel;
	}
	if (rc == 0 && fmt != NULL && strcmp(fmt, "jwt") == 0)
		rc = make_jwt_access(srv, now, at_sel, t->access,
				     sizeof(t->access));
	else if (rc == 0)
		rc = af_grant_issue(srv, AF_GRANT_ACCESS, at_sel, now,
				    t->access, sizeof(t->access));
	if (rc == 0 && refresh) {
		if (!json_is_integer(json_object_get(grant, "rt_exp")))
			json_object_set_new(
				grant, "rt_exp",
				json_integer(af_now() + AF_REFRESH_LIFETIME_S));
		rc = af_grant_note_access(grant, at_sel);
		if (rc == 0)
			rc = af_grant_issue(srv, AF_GRANT_REFRESH, rt_sel,
					    grant, t->refresh,
					    sizeof(t->refresh));
		t->has_refresh = rc == 0;
		/*
		 * Unfiled, the family is refused all the same when its user
		 * goes; only its record then stays until it expires.
		 */
		if (rc == 0 && rt_sel != NULL &&
		    af_grant_file_user(srv,
				       json_string_value(json_object_get(
					       grant, "username")),
				       rt_sel) != 0)
			log_warn(srv->log, NULL, "token",
				 "could not file a refresh token under its "
				 "user");
	}
	/* The family may have been revoked while these were written. */
	if (rc == 0 && rt_sel != NULL)
		rc = af_grant_family_check(srv, at_sel, rt_sel);
	/*
	 * Or the user is being removed, which takes the families filed
	 * before (af_grant_take_user()): this one, filed now, is ours. So
	 * are those of sign-ins ended meanwhile (a new password, disabled).
	 */
	if (rc == 0 && t->has_refresh && rt_sel != NULL) {
		rc = user_unchanged(srv, grant);
		if (rc > 0)
			af_grant_family_end(srv, rt_sel, grant);
	}
	if (rc > 0) {
		af_resp_oauth_error(resp, 400, "invalid_grant",
				    "the grant was revoked");
		goto out;
	}
	if (rc == 0) {
		t->id_token = make_id_token(srv, now, user, app, t->access);
		if (t->id_token == NULL)
			rc = -1;
	}
	if (rc != 0)
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "could not issue tokens");
out:
	json_decref(narrow);
	return rc;
}

/*
 * One "token" line: the client, the grant's user (grant may be NULL), the
 * grant type and the outcome, as members; a refusal at warn.
 */
static void log_token(af_server *srv, const af_req *req, const char *client_id,
		      const json_t *grant, const char *grant_type,
		      const char *outcome)
{
	/*
	 * The address the client called from (a secret used from a new one
	 * stands out) and the grant's session, which joins the line to the
	 * sign-in's code_issued and to the session's logout.
	 */
	const char *kv[] = {
		"client",
		client_id,
		"user",
		json_string_value(json_object_get(grant, "username")),
		"sid",
		json_string_value(json_object_get(grant, "sid")),
		"grant",
		grant_type,
		"outcome",
		outcome,
		"ip",
		req->client_ip,
		NULL};

	log_write(srv->log,
		  strcmp(outcome, "ok") == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
		  req->rid, "token", kv, NULL);
}

/*
 * The audit event of a code or refresh token presented again by client
 * client_id, whose grant (revoked, for its user) was revoked for it.
 */
static void audit_reuse(af_server *srv, const af_req *req,
			const char *client_id, const json_t *app,
			const char *action, const json_t *revoked)
{
	char actor[AF_DIR_ACTOR_MAX + 1];
	json_t *detail = json_pack("{s:s, s:O?}", "client_id", client_id, "app",
				   json_object_get(app, "name"));

	snprintf(actor, sizeof(actor), "client:%s", client_id);
	af_audit_record_or_log(
		srv->dir, srv->log, req->client_ip, req->rid, actor, action,
		json_string_value(json_object_get(revoked, "username")),
		detail);
	json_decref(detail);
}

static void send_tokens(af_resp *resp, const struct issued *t)
{
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s}", "access_token",
			      t->access, "token_type", "Bearer", "expires_in",
			      AF_ACCESS_TTL_S, "id_token", t->id_token, "scope",
			      t->scope);

	if (o != NULL && t->has_refresh)
		json_object_set_new(o, "refresh_token",
				    json_string(t->refresh));
	af_resp_json(resp, 200, o);
}

/*
 * Loads the grant's user and checks that they and app, the authenticated
 * client the grant belongs to, are still usable. 0, or -1 with
 * invalid_grant (or a store error) in resp.
 */
static int load_user(af_server *srv, af_resp *resp, const json_t *grant,
		     const json_t *app, json_t **user)
{
	const char *name =
		json_string_value(json_object_get(grant, "username"));
	const char *sub = json_string_value(json_object_get(grant, "sub"));
	const char *why = NULL;
	af_dir_status st;
	int sso;

	st = af_dir_user_get(srv->dir, name, user);
	if (st == AF_DIR_STORE) {
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "try again");
		return -1;
	}
	sso = st == AF_DIR_OK ? af_login_sso_on(srv, *user, NULL) : 0;
	if (sso < 0) {
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "try again");
		return -1;
	}
	/* Said as /userinfo says it, so that the client's log tells why. */
	if (st != AF_DIR_OK ||
	    !json_is_true(json_object_get(*user, "enabled")) || sub == NULL ||
	    !json_equal(json_object_get(*user, "sub"),
			json_object_get(grant, "sub")) ||
	    sso == 0)
		why = "the user is no longer active";
	else if (!af_grant_gen_current(grant, *user))
		why = "the user's sign-ins were ended";
	else if (!af_dir_app_deployed_to(app, *user))
		why = "the application is no longer allowed";
	if (why == NULL)
		return 0;
	af_resp_oauth_error(resp, 400, "invalid_grant", why);
	return -1;
}

/*
 * The authorization_code grant; the answer in resp. 1 when the code was
 * one redeemed before (what it issued was revoked), else 0.
 */
static int code_grant(af_server *srv, af_req *req, af_resp *resp,
		      const char *client_id, const json_t *app)
{
	const char *code = af_oidc_param(req, "code");
	const char *redirect_uri = af_oidc_param(req, "redirect_uri");
	const char *verifier = af_oidc_param(req, "code_verifier");
	json_t *grant = NULL, *user = NULL, *revoked = NULL;
	const char *challenge, *cid, *want_uri;
	char fam[AF_GRANT_SEL_BUF], rt_fam[AF_GRANT_SEL_BUF];
	struct issued t;
	int rc, reused = 0;

	memset(&t, 0, sizeof(t));
	if (code == NULL) {
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "code is required");
		goto out;
	}
	/*
	 * Every authorization request names its redirect URI (the
	 * authorization endpoint requires one), so every token request must
	 * repeat it (RFC 6749 4.1.3); without one the request is malformed,
	 * and the code is left for a request that is not.
	 */
	if (redirect_uri == NULL) {
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "redirect_uri is required");
		goto out;
	}
	rc = af_grant_redeem_code(srv, client_id, code, &grant, &revoked);
	if (rc < 0) {
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "try again");
		goto out;
	}
	if (rc > 0) {
		log_token(srv, req, client_id, revoked, "authorization_code",
			  revoked != NULL ? "code_replayed_tokens_revoked"
					  : "unknown_or_used_code");
		reused = revoked != NULL;
		if (reused)
			audit_reuse(srv, req, client_id, app,
				    "token.code_reuse", revoked);
		af_resp_oauth_error(resp, 400, "invalid_grant",
				    "the code is invalid, expired or used");
		goto out;
	}
	cid = json_string_value(json_object_get(grant, "client_id"));
	challenge = json_string_value(json_object_get(grant, "code_challenge"));
	want_uri = json_string_value(json_object_get(grant, "redirect_uri"));
	if (cid == NULL || strcmp(cid, client_id) != 0 || want_uri == NULL ||
	    strcmp(redirect_uri, want_uri) != 0) {
		/* Said as for any bad code: a client learns nothing of a
		 * code issued to another one. */
		log_token(srv, req, client_id, NULL, "authorization_code",
			  "code_of_another_client_or_uri");
		af_resp_oauth_error(resp, 400, "invalid_grant",
				    "the code is invalid, expired or used");
		goto out;
	}
	if ((challenge != NULL &&
	     (verifier == NULL || !pkce_ok(verifier, challenge))) ||
	    (challenge == NULL && verifier != NULL)) {
		af_resp_oauth_error(resp, 400, "invalid_grant",
				    "PKCE verification failed");
		goto out;
	}
	if (load_user(srv, resp, grant, app, &user) != 0)
		goto out;
	/* The code's family: presenting the code again revokes them. */
	af_grant_family(client_id, code, AF_GRANT_ACCESS, fam);
	af_grant_family(client_id, code, AF_GRANT_REFRESH, rt_fam);
	json_object_del(grant, "code_challenge");
	json_object_del(grant, "redirect_uri");
	/*
	 * With a refresh token, its access tokens go when its family is
	 * revoked (grant.h); without one, presenting the code again takes
	 * the access token by the selector the code gave it.
	 */
	if (af_oidc_has_word(json_string_value(json_object_get(grant, "scope")),
			     "offline_access") &&
	    json_is_true(json_object_get(app, "allow_refresh")) &&
	    json_object_set_new(grant, "fam", json_string(rt_fam)) != 0) {
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "could not issue tokens");
		goto out;
	}
	if (issue(srv, resp, grant, grant, user, app, fam, rt_fam, &t) != 0)
		goto out;
	send_tokens(resp, &t);
	log_token(srv, req, client_id, grant, "authorization_code", "ok");
out:
	issued_cleanup(&t);
	json_decref(grant);
	json_decref(user);
	json_decref(revoked);
	return reused;
}

/* Every word of want must be in have (a refresh may narrow scope). */
static int scope_subset(const char *want, const char *have)
{
	char word[128];
	const char *p = want, *w;
	size_t n;

	for (w = next_word(&p, &n); n > 0; w = next_word(&p, &n)) {
		if (n >= sizeof(word))
			return 0;
		memcpy(word, w, n);
		word[n] = '\0';
		if (!af_oidc_has_word(have, word))
			return 0;
	}
	return 1;
}

/*
 * Whether the refresh token's grant may serve this request: it belongs
 * to the client, and scope (when given) is within its cap and granted, its
 * words the provider supports (af_oidc_scope_granted()), narrows the
 * grant's scope and keeps openid. 0, or -1 with the error in resp.
 */
static int refresh_fits(af_resp *resp, const json_t *grant,
			const char *client_id, const char *scope,
			const char *granted)
{
	const char *cid =
		json_string_value(json_object_get(grant, "client_id"));

	/* Said as of an unknown token: the client learns nothing of it. */
	if (cid == NULL || strcmp(cid, client_id) != 0) {
		af_resp_oauth_error(resp, 400, "invalid_grant",
				    "the refresh token is invalid or used");
		return -1;
	}
	/* Read in its last second, or by a node whose clock is behind. */
	if (af_grant_refresh_ended(grant)) {
		af_resp_oauth_error(resp, 400, "invalid_grant",
				    "the refresh token has expired");
		return -1;
	}
	if (scope != NULL &&
	    (strlen(scope) > AF_SCOPE_MAX ||
	     !scope_subset(granted, json_string_value(json_object_get(
					    grant, "scope"))))) {
		af_resp_oauth_error(resp, 400, "invalid_scope",
				    "scope exceeds the original grant");
		return -1;
	}
	if (scope != NULL && !af_oidc_has_word(granted, "openid")) {
		af_resp_oauth_error(resp, 400, "invalid_scope",
				    "scope must hold openid");
		return -1;
	}
	return 0;
}

/*
 * The "token" line of a refresh token refused at redemption (rc from
 * af_grant_redeem_refresh(), 2 for another client's token), and for one
 * presented again after it was rotated out, the audit event: that is how
 * a stolen refresh token shows (RFC 9700 4.14.2), and its family is
 * revoked.
 */
static int refresh_refused(af_server *srv, const af_req *req,
			   const char *client_id, const json_t *app, int rc,
			   af_grant_rt_seen seen, const json_t *revoked)
{
	const char *outcome = "refused";

	if (rc == 2)
		outcome = "refresh_token_of_another_client";
	else if (seen == AF_GRANT_RT_UNKNOWN)
		outcome = "unknown_or_used_refresh_token";
	else if (seen == AF_GRANT_RT_UNSURE)
		outcome = "unknown_refresh_token_family_kept";
	else if (seen == AF_GRANT_RT_REUSED)
		outcome = "reused_refresh_token_family_revoked";
	else if (seen == AF_GRANT_RT_FAILED)
		outcome = "store_failed";
	log_token(srv, req, client_id, revoked, "refresh_token", outcome);
	if (seen != AF_GRANT_RT_REUSED || rc == 2)
		return 0;
	audit_reuse(srv, req, client_id, app, "token.refresh_reuse", revoked);
	return 1;
}

/* The app's grace period for rotated-out refresh tokens, in seconds. */
static int refresh_grace(const json_t *app)
{
	json_int_t s = json_integer_value(
		json_object_get(app, "refresh_grace_seconds"));

	return s > 0 && s <= AF_GRANT_GRACE_MAX_S ? (int)s : 0;
}

/* The refresh_token grant, as code_grant(). */
static int refresh_grant(af_server *srv, af_req *req, af_resp *resp,
			 const char *client_id, const json_t *app)
{
	const char *rt = af_oidc_param(req, "refresh_token");
	const char *scope = af_oidc_param(req, "scope"), *granted = NULL;
	json_t *grant = NULL, *user = NULL, *now = NULL, *want = NULL;
	json_t *revoked = NULL;
	af_grant_rt_seen seen = AF_GRANT_RT_UNKNOWN;
	char fam[AF_GRANT_SEL_BUF];
	struct issued t;
	int rc, grace = refresh_grace(app), redeemed = 0, reused = 0;

	memset(&t, 0, sizeof(t));
	if (rt == NULL) {
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "refresh_token is required");
		goto out;
	}
	/*
	 * A client the administrator took refresh from may not use the
	 * grant (RFC 6749 5.2): refused before the token is read, which
	 * stays as it was should refresh be allowed again.
	 */
	if (!json_is_true(json_object_get(app, "allow_refresh"))) {
		af_resp_oauth_error(resp, 400, "unauthorized_client",
				    "refresh is not allowed for this client");
		goto out;
	}
	/*
	 * Scopes this provider does not support are ignored here, as they
	 * are at the authorization endpoint.
	 */
	if (scope != NULL) {
		want = af_oidc_scope_granted(scope);
		if (want == NULL) {
			af_resp_oauth_error(resp, 503,
					    "temporarily_unavailable",
					    "could not issue tokens");
			goto out;
		}
		granted = json_string_value(want);
	}
	/*
	 * A request this token cannot serve (another client's, a scope it
	 * does not hold) leaves it as it was: it is read before it is used
	 * up. An unknown or rotated-out token still goes to redeem, which
	 * revokes the family of a rotated-out one (past the app's grace
	 * period).
	 */
	rc = af_grant_lookup_refresh(srv, rt, grace, &grant);
	if (rc == 0 &&
	    refresh_fits(resp, grant, client_id, scope, granted) != 0)
		goto out;
	json_decref(grant);
	grant = NULL;
	/*
	 * A token not current whose family is another client's is said to
	 * be unknown, and left alone: only its own client's use of an old
	 * token revokes a family.
	 */
	if (rc == 1 && af_grant_refresh_foreign(srv, rt, client_id))
		rc = 2;
	if (rc == 0 || rc == 1)
		rc = af_grant_redeem_refresh(srv, rt, grace, &grant, &seen,
					     &revoked);
	if (rc == 0 && af_grant_selector(rt, fam) != 0)
		rc = 1; /* a redeemed refresh token always has one */
	redeemed = rc == 0;
	if (rc != 0) {
		reused = refresh_refused(srv, req, client_id, app, rc, seen,
					 revoked);
		af_resp_oauth_error(resp, rc < 0 ? 503 : 400,
				    rc < 0 ? "temporarily_unavailable"
					   : "invalid_grant",
				    "the refresh token is invalid or used");
		goto out;
	}
	if (refresh_fits(resp, grant, client_id, scope, granted) != 0 ||
	    load_user(srv, resp, grant, app, &user) != 0)
		goto out;
	json_object_del(grant, "nonce");
	/*
	 * A narrower scope is for this access token and id_token only: the
	 * rotated refresh token keeps the original one.
	 */
	now = json_object_set_new(grant, "fam", json_string(fam)) == 0
		      ? (want != NULL ? json_copy(grant) : json_incref(grant))
		      : NULL;
	if (now == NULL ||
	    (want != NULL && json_object_set(now, "scope", want) != 0)) {
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "could not issue tokens");
		goto out;
	}
	/* The rotated refresh token stays in its family; see grant.h. */
	if (issue(srv, resp, grant, now, user, app, NULL, fam, &t) != 0)
		goto out;
	send_tokens(resp, &t);
	/* One rotated out within the grace period is not a reuse. */
	log_token(srv, req, client_id, grant, "refresh_token",
		  seen == AF_GRANT_RT_WITHIN_GRACE ? "ok_within_grace" : "ok");
	redeemed = 0;
out:
	/* Taken and not rotated: the grant cannot go on, and ends whole. */
	if (redeemed)
		af_grant_family_end(srv, fam, grant);
	issued_cleanup(&t);
	json_decref(grant);
	json_decref(user);
	json_decref(now);
	json_decref(want);
	json_decref(revoked);
	return reused;
}

/* The parameters of this endpoint that must not come twice. */
static const char *const token_params[] = {
	"grant_type",	 "code",	  "redirect_uri",
	"code_verifier", "refresh_token", "scope",
	"client_id",	 "client_secret", NULL,
};

void af_h_token(af_server *srv, af_req *req, af_resp *resp)
{
	char client_id[AF_DIR_CLIENT_ID_BUF + 64];
	json_t *app = NULL;
	const char *gt = af_oidc_param(req, "grant_type");
	af_token_grant grant = AF_TOKEN_GRANT_OTHER;
	int reused = 0;

	if (gt != NULL && strcmp(gt, "authorization_code") == 0)
		grant = AF_TOKEN_GRANT_CODE;
	else if (gt != NULL && strcmp(gt, "refresh_token") == 0)
		grant = AF_TOKEN_GRANT_REFRESH;
	if (af_oidc_repeated(req, token_params))
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "a parameter was given more than once");
	else if (req->form == NULL)
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "expected an "
				    "application/x-www-form-urlencoded body");
	else if (af_oidc_client_auth(srv, req, resp, client_id,
				     sizeof(client_id), &app) != 0)
		app = NULL; /* answered: invalid_client */
	else if (gt == NULL)
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "grant_type is required");
	else if (grant == AF_TOKEN_GRANT_CODE)
		reused = code_grant(srv, req, resp, client_id, app);
	else if (grant == AF_TOKEN_GRANT_REFRESH)
		reused = refresh_grant(srv, req, resp, client_id, app);
	else
		af_resp_oauth_error(resp, 400, "unsupported_grant_type",
				    "use authorization_code or refresh_token");
	af_metrics_token(
		srv->metrics, grant,
		reused ? AF_TOKEN_REUSED
		       : af_token_outcome_of(resp->status, resp->oauth_error));
	json_decref(app);
}
