/*
 * GET|POST /login: the password step of a sign-in flow. One message for a
 * wrong user name or password, so that nobody learns which user names
 * exist; growing delays and then a lockout per user and per address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/httpparse.h"
#include "common/log.h"
#include "common/util.h"
#include "directory/signins.h"
#include "directory/throttle.h"
#include "mfa/seam.h"
#include "oidc/flow.h"
#include "oidc/oidc.h"
#include "session/known.h"
#include "web/events.h"
#include "web/page.h"
#include "web/pwchange.h"

#define BAD_CREDENTIALS	   "Wrong user name or password."
/* Said in sign-in events from a browser known to the user. */
#define KNOWN		   "known_browser=1"
/* How long no password is checked after a failure could not be counted. */
#define UNCOUNTED_PAUSE_S  10u
#define UNCOUNTED_PAUSE_NS ((uint64_t)UNCOUNTED_PAUSE_S * 1000000000u)
#define BUSY                                                                \
	"Sign-in is very busy just now and your password was not checked. " \
	"Please try again in a moment."
/* Above the form of a sign-in started again (restart_signin()). */
#define RESTARTED                                                         \
	"The sign-in page was open too long, so it was renewed and your " \
	"password was not checked. Please sign in again."

/* The display name of the flow's application, into out. */
/* A display name whole: up to AF_DIR_DISPLAY_MAX characters of UTF-8. */
#define AF_APP_NAME_BUF	   (4 * AF_DIR_DISPLAY_MAX + 1)
/* "unknown:" and 12 hex digits; see logged_name(). */
#define AF_LOGGED_NAME_BUF (AF_DIR_USERNAME_MAX + 1)

static void app_name(af_server *srv, const json_t *authz, char *out,
		     size_t outcap)
{
	json_t *app = NULL;
	const char *name;

	out[0] = '\0';
	if (af_dir_app_get(
		    srv->dir,
		    json_string_value(json_object_get(authz, "client_id")),
		    &app) != AF_DIR_OK)
		return;
	name = json_string_value(json_object_get(app, "display_name"));
	if (name != NULL)
		snprintf(out, outcap, "%s", name);
	/* Never half a character, should a name outgrow out. */
	af_utf8_repair(out);
	json_decref(app);
}

/* The flow's application may be where this page's form leads. */
static void allow_app(af_resp *resp, const json_t *authz)
{
	af_page_allow_form_target(resp, json_string_value(json_object_get(
						authz, "redirect_uri")));
}

static void show_form(af_server *srv, af_resp *resp, unsigned status,
		      const char *flow, const json_t *authz,
		      const char *message, const char *username)
{
	char name[AF_APP_NAME_BUF];
	char *restart = af_authorize_restart_query(authz);

	app_name(srv, authz, name, sizeof(name));
	allow_app(resp, authz);
	af_page_login(resp, status, flow,
		      json_string_value(json_object_get(authz, "csrf")),
		      restart, name, message, username);
	free(restart);
}

void af_login_form(af_server *srv, af_resp *resp, const char *flow,
		   const json_t *authz)
{
	/* Back from the second step ("Start again"): the name is kept. */
	const char *again =
		json_string_value(json_object_get(authz, AF_FLOW_AGAIN_USER));

	if (again == NULL)
		again = json_string_value(
			json_object_get(json_object_get(authz, "mfa"), "user"));
	if (again == NULL)
		again = json_string_value(
			json_object_get(authz, AF_FLOW_TYPED_USER));
	show_form(srv, resp, 200, flow, authz,
		  json_is_true(json_object_get(authz, "restarted")) ? RESTARTED
								    : NULL,
		  again != NULL ? again
				: json_string_value(json_object_get(
					  authz, "login_hint")));
}

void af_h_login_get(af_server *srv, af_req *req, af_resp *resp)
{
	const char *flow = af_req_param(req, "flow");
	json_t *authz = NULL;
	int rc = af_flow_load(srv, req, flow, NULL, &authz);

	if (rc != 0) {
		if (rc == -2)
			af_page_unavailable(resp);
		else
			af_page_flow_expired(resp);
		return;
	}
	af_login_form(srv, resp, flow, authz);
	json_decref(authz);
}

/*
 * Records the sign-in as the user's last (directory/signins.h). The user
 * is signed in whether or not the record could be written: a warning says
 * when it could not.
 */
static void note_signin(af_server *srv, const af_req *req, const json_t *authz,
			const af_session *s)
{
	const char *kv[] = {"user", s->username, NULL};
	const char *amr[AF_AMR_MAX];
	af_dir_signin in;
	af_dir_status st;
	unsigned i;

	for (i = 0; i < s->namr && i < AF_AMR_MAX; i++)
		amr[i] = s->amr[i];
	in = (af_dir_signin){
		.username = s->username,
		.sub = s->sub,
		.time = af_now(),
		.address = req->client_ip,
		.browser = s->browser[0] != '\0' ? s->browser : NULL,
		.client_id =
			json_string_value(json_object_get(authz, "client_id")),
		.amr = amr,
		.namr = i,
	};
	st = af_dir_signin_note(srv->dir, &in);
	if (st != AF_DIR_OK)
		log_write(srv->log, LOG_LEVEL_WARN, req->rid, "signin_record",
			  kv,
			  "the user's last sign-in could not be recorded: %s",
			  af_dir_strerror(st));
}

void af_login_finish(af_server *srv, af_req *req, af_resp *resp,
		     const char *flow, const json_t *authz, const json_t *user,
		     af_session *s, const char *device, const char *known,
		     const char *detail)
{
	char extra[AF_LOGIN_DETAIL_MAX + sizeof(" " KNOWN)];

	/* What the phone that passed gave must end if the phone is removed. */
	if (device != NULL)
		snprintf(s->device, sizeof(s->device), "%s", device);
	snprintf(extra, sizeof(extra), "%s%s%s", detail != NULL ? detail : "",
		 detail != NULL && detail[0] != '\0' && known[0] != '\0' ? " "
									 : "",
		 known[0] != '\0' ? KNOWN : "");
	/* A temporary password is replaced before anything is signed into. */
	if (af_pwchange_needed(user)) {
		af_pwchange_begin(srv, req, resp, flow, authz, s, device,
				  extra);
		return;
	}
	/* Two posts of one form race: one signs in, the other is too late. */
	if (af_flow_claim_page(srv, flow, resp) != 0)
		return;
	if (af_session_begin(srv, req, resp, s) != 0) {
		if (af_flow_unclaim(srv, req, resp, flow, authz) == 0)
			af_page_unavailable(resp);
		else
			af_page_error(resp, 503, "Sign-in is unavailable",
				      "The sign-in service could not store "
				      "your sign-in just now.",
				      "Please start again from the application "
				      "in a moment.");
		return;
	}
	af_known_remember(srv, req, resp,
			  &(af_known_user){s->username, s->sub, s->gen});
	note_signin(srv, req, authz, s);
	af_metrics_login(srv->metrics, AF_LOGIN_OK);
	if (extra[0] != '\0')
		af_event_login(srv->log, LOG_LEVEL_INFO, req, s->username, "ok",
			       "%s", extra);
	else
		af_event_login(srv->log, LOG_LEVEL_INFO, req, s->username, "ok",
			       NULL);
	af_oidc_send_code(srv, req, resp, authz, s);
}

/* Signs the user in with the password alone. */
static void sign_in(af_server *srv, af_req *req, af_resp *resp,
		    const char *flow, const json_t *authz, const json_t *user,
		    const char *known)
{
	af_session s;

	memset(&s, 0, sizeof(s));
	snprintf(s.username, sizeof(s.username), "%s",
		 json_string_value(json_object_get(user, "username")));
	snprintf(s.sub, sizeof(s.sub), "%s",
		 json_string_value(json_object_get(user, "sub")));
	s.auth_time = af_now();
	s.gen = af_dir_user_gen(user);
	memcpy(s.amr[0], "pwd", 4);
	s.namr = 1;
	snprintf(s.acr, sizeof(s.acr), "%s", AF_ACR_PWD);
	af_login_finish(srv, req, resp, flow, authz, user, &s, NULL, known,
			NULL);
}

int af_login_sso_on(af_server *srv, const json_t *user, json_t **policy)
{
	json_t *own = NULL;
	af_dir_status st;
	int on;

	if (policy == NULL)
		policy = &own;
	*policy = NULL;
	st = af_dir_policy_for_user(srv->dir, user, policy);
	if (st == AF_DIR_STORE || st == AF_DIR_NOMEM)
		on = -1;
	else
		on = st == AF_DIR_OK && srv->cfg.feature_sso &&
		     json_is_true(json_object_get(*policy, "sso"));
	json_decref(own);
	return on;
}

int af_login_allowed(af_server *srv, const af_req *req, af_resp *resp,
		     const char *flow, const json_t *authz, const json_t *user,
		     json_t **policy, json_t **app)
{
	af_dir_status st;
	int sso;

	*policy = NULL;
	*app = NULL;
	if (user == NULL || !json_is_true(json_object_get(user, "enabled"))) {
		af_metrics_login(srv->metrics, AF_LOGIN_NOT_ALLOWED);
		af_event_login(
			srv->log, LOG_LEVEL_INFO, req,
			json_string_value(json_object_get(user, "username")),
			"disabled", NULL);
		allow_app(resp, authz);
		af_page_refusal_why(
			resp, 403,
			user == NULL ? "Account removed" : "Account disabled",
			"Sign-in not completed",
			"Your account cannot sign in at the moment.",
			"Contact your administrator if you need it.", flow,
			json_string_value(json_object_get(authz, "csrf")));
		return -1;
	}

	sso = af_login_sso_on(srv, user, policy);
	if (sso < 0) {
		af_page_unavailable(resp);
		return -2;
	}
	if (sso == 0) {
		af_metrics_login(srv->metrics, AF_LOGIN_NOT_ALLOWED);
		af_event_login(
			srv->log, LOG_LEVEL_INFO, req,
			json_string_value(json_object_get(user, "username")),
			"no_sso_policy", NULL);
		allow_app(resp, authz);
		af_page_refusal(
			resp, 403, "Single sign-on is not enabled",
			"Your account is not enabled for single "
			"sign-on.",
			"Contact your administrator if you need it.", flow,
			json_string_value(json_object_get(authz, "csrf")));
		return -1;
	}
	st = af_dir_app_get(
		srv->dir,
		json_string_value(json_object_get(authz, "client_id")), app);
	if (st == AF_DIR_STORE || st == AF_DIR_NOMEM) {
		af_page_unavailable(resp);
		return -2;
	}
	if (st != AF_DIR_OK || !af_dir_app_deployed_to(*app, user)) {
		af_metrics_login(srv->metrics, AF_LOGIN_NOT_ALLOWED);
		af_event_login(
			srv->log, LOG_LEVEL_INFO, req,
			json_string_value(json_object_get(user, "username")),
			"app_not_deployed", NULL);
		allow_app(resp, authz);
		af_page_refusal(
			resp, 403, "Application not available",
			"This application is not available to you.",
			"Contact your administrator if you need it.", flow,
			json_string_value(json_object_get(authz, "csrf")));
		return -1;
	}
	return 0;
}

/*
 * accounts.inactive_days: a user idle for longer (directory/signins.h) is
 * disabled now, by the server (an audit event), and told why. Only after
 * the right password: a guesser learns nothing from it. 0 to go on, -1
 * when resp holds the answer.
 */
static int idle_too_long(af_server *srv, af_req *req, af_resp *resp,
			 const char *flow, const json_t *authz,
			 const json_t *user)
{
	const char *name = json_string_value(json_object_get(user, "username"));
	int64_t days = srv->cfg.accounts_inactive_days, epoch = 0, since;
	json_t *last = NULL, *patch = NULL;
	char err[AF_DIR_ERR_BUF];
	af_dir *view = NULL;
	af_dir_status st;

	if (days == 0 || !json_is_true(json_object_get(user, "enabled")))
		return 0;
	st = af_dir_signin_last(srv->dir, user, &last);
	if (st == AF_DIR_OK || st == AF_DIR_NOT_FOUND)
		st = af_dir_signin_epoch(srv->dir, &epoch);
	since = af_dir_user_idle_since(
		user, json_integer_value(json_object_get(last, "time")), epoch);
	json_decref(last);
	if (st == AF_DIR_OK && af_now() - since <= days * AF_DIR_DAY_S)
		return 0;
	/* Disabled by the server, on the trail with this request's origin. */
	if (st == AF_DIR_OK) {
		view = af_dir_view(srv->dir, req->client_ip, req->rid);
		patch = json_pack("{s:b}", "enabled", 0);
		st = view != NULL && patch != NULL
			     ? af_dir_user_set(view, AF_DIR_ACTOR_SERVER, name,
					       patch, NULL, err, sizeof(err))
			     : AF_DIR_NOMEM;
		json_decref(patch);
		af_dir_free(view);
	}
	if (st != AF_DIR_OK) {
		af_metrics_login(srv->metrics, AF_LOGIN_ERROR);
		af_page_unavailable(resp);
		return -1;
	}
	/* As when an administrator disables a user (the generation went up
	 * too, so nothing left behind signs in). */
	if (af_session_end_signins(srv, name) < 0)
		log_warn(srv->log, req->rid, "inactive",
			 "the sessions of an idle account just disabled could "
			 "not be ended");
	af_metrics_login(srv->metrics, AF_LOGIN_NOT_ALLOWED);
	af_event_login(srv->log, LOG_LEVEL_WARN, req, name, "inactive",
		       "idle_days=%lld",
		       (long long)((af_now() - since) / AF_DIR_DAY_S));
	allow_app(resp, authz);
	af_page_refusal(resp, 403, "Account disabled",
			"Your account was disabled because nobody signed in "
			"with it for a long time.",
			"Ask your administrator or service desk to enable it "
			"again.",
			flow,
			json_string_value(json_object_get(authz, "csrf")));
	return -1;
}

/*
 * Another user proved who they are in this browser: the session it had
 * ends now, whether or not this sign-in goes on to finish (a refusal or an
 * unfinished second step must not leave the browser to the earlier user).
 * 0, or -1 when the store could not tell or end it: the sign-in stops.
 */
static int end_other_session(af_server *srv, const af_req *req, af_resp *resp,
			     const json_t *user)
{
	const char *name = json_string_value(json_object_get(user, "username"));
	af_session cur;
	int failed = 0, rc = 0;

	if (name != NULL && af_session_get(srv, req, &cur, &failed) == 0 &&
	    strcmp(cur.username, name) != 0)
		rc = af_session_end_current(srv, req, resp);
	OPENSSL_cleanse(&cur, sizeof(cur));
	return failed ? -1 : rc;
}

/*
 * The name a failed sign-in is logged under: the user name when a user
 * has it, else "unknown:" and the first 12 hex digits of its HMAC-SHA256
 * under a key of the store's (LOG_NAME_KEY, the same on every node). A
 * name no user has is often a password typed in the wrong field, which
 * must not reach the log, nor a plain digest of it that a guess can be
 * checked against; the MAC still tells repeats of one name apart
 * (spraying, enumeration). "unchecked" when the store cannot say whether
 * a user has the name, or has no key.
 */
#define LOG_NAME_KEY   "log_name_key"
#define LOG_NAME_LABEL "authflow logged name"
#define LOG_NAME_BYTES 6 /* of the MAC, shown as 12 hex digits */
static const char *logged_name(af_server *srv, const char *username,
			       char out[AF_LOGGED_NAME_BUF])
{
	uint8_t key[32], mac[EVP_MAX_MD_SIZE];
	char hex[2 * LOG_NAME_BYTES + 1];
	const char *name;
	json_t *user = NULL;
	af_dir_status st = af_dir_user_get(srv->dir, username, &user);
	EVP_MAC_CTX *ctx = NULL;
	EVP_MAC *hmac = NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end()};
	size_t n = 0;

	/* A user's own spelling: "ALICE" typed is logged as the user. */
	if (st == AF_DIR_OK) {
		name = json_string_value(json_object_get(user, "username"));
		(void)snprintf(out, AF_LOGGED_NAME_BUF, "%s",
			       name != NULL ? name : username);
		json_decref(user);
		return out;
	}
	json_decref(user);
	(void)snprintf(out, AF_LOGGED_NAME_BUF, "unchecked");
	if (st != AF_DIR_NOT_FOUND ||
	    store_secret(srv->store, LOG_NAME_KEY, key, sizeof(key)) !=
		    STORE_OK)
		return out;
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
	/* The label and a NUL, then the name: a MAC of this use only. */
	if (ctx != NULL && EVP_MAC_init(ctx, key, sizeof(key), params) == 1 &&
	    EVP_MAC_update(ctx, (const uint8_t *)LOG_NAME_LABEL,
			   sizeof(LOG_NAME_LABEL)) == 1 &&
	    EVP_MAC_update(ctx, (const uint8_t *)username, strlen(username)) ==
		    1 &&
	    EVP_MAC_final(ctx, mac, &n, sizeof(mac)) == 1 &&
	    n >= LOG_NAME_BYTES) {
		af_hex(mac, LOG_NAME_BYTES, hex);
		(void)snprintf(out, AF_LOGGED_NAME_BUF, "unknown:%s", hex);
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(mac, sizeof(mac));
	return out;
}

/*
 * The user's and the address's limits: 0 to go on, or -1 with the page in
 * resp. With ipturn (the check itself, not its early look), the address's
 * turn is taken too once it is due (af_throttle_ip_begin()); the caller
 * gives it back.
 */
static int check_throttle(af_server *srv, af_req *req, af_resp *resp,
			  const char *flow, const json_t *authz,
			  const char *username, const char *known,
			  af_throttle_turn *ipturn)
{
	char msg[160], shown[AF_LOGGED_NAME_BUF];
	uint32_t wait_s = 0;
	af_dir_status st;

	st = af_throttle_check(srv->dir, username, req->client_ip, known,
			       &wait_s);
	if (st == AF_DIR_OK && ipturn != NULL)
		st = af_throttle_ip_begin(srv->dir, req->client_ip, known,
					  &wait_s, ipturn);
	if (st == AF_DIR_OK)
		return 0;
	if (st == AF_DIR_LOCKED) {
		af_metrics_login(srv->metrics, AF_LOGIN_LOCKED);
		af_event_login(srv->log, LOG_LEVEL_WARN, req,
			       logged_name(srv, username, shown), "locked",
			       known[0] != '\0' ? KNOWN : NULL);
		af_page_locked(wait_s, known[0] != '\0', msg, sizeof(msg));
		show_form(srv, resp, 403, flow, authz, msg, username);
		return -1;
	}
	if (st == AF_DIR_WAIT) {
		af_metrics_login(srv->metrics, AF_LOGIN_THROTTLED);
		af_event_login(srv->log, LOG_LEVEL_INFO, req,
			       logged_name(srv, username, shown), "throttled",
			       "wait_s=%u%s", (unsigned)wait_s,
			       known[0] != '\0' ? " " KNOWN : "");
		af_page_throttled(resp, wait_s, msg, sizeof(msg));
		show_form(srv, resp, 429, flow, authz, msg, username);
		return -1;
	}
	af_page_unavailable(resp);
	return -1;
}

/*
 * A sign-in form posted after its flow is gone (open too long, posted
 * again, opened in another browser) starts the sign-in again from the
 * request the form carries ("restart", see af_authorize_restart_query()):
 * a 303 to /authorize, which checks it as it checks any request, with the
 * user name typed in a cookie (AF_TYPED_COOKIE), so that only the password
 * is typed again; the password posted is not used, and the request asks for a
 * sign-in whatever session the browser has (prompt=login). Only the names
 * /authorize reads are passed on. 0 when resp holds the redirect, -1 when
 * there is nothing to start again from.
 */
static int restart_signin(af_server *srv, af_req *req, af_resp *resp)
{
	static const char *const passed[] = {
		"client_id",	 "redirect_uri",   "response_type",
		"response_mode", "scope",	   "state",
		"nonce",	 "code_challenge", "code_challenge_method",
		"max_age",	 "acr_values",	   AF_FLOW_HINT_SUB,
	};
	const char *text = af_req_param(req, "restart");
	const char *typed = af_req_param(req, "username");
	const char *username, *v;
	char err[128], *url = NULL;
	af_params *p = NULL;
	af_buf b;
	size_t i;
	int rc = -1;

	if (text == NULL || strlen(text) > AF_RESTART_MAX ||
	    hp_params_parse(text, strlen(text), &p) != HP_OK ||
	    hp_params_get(p, "client_id") == NULL ||
	    hp_params_get(p, "redirect_uri") == NULL)
		goto out;
	/*
	 * A name that could be a user's, typed (in a cookie) or else the
	 * request's own hint (in the URL, where the application put it).
	 */
	if (typed != NULL && af_dir_check_username("username", typed, err,
						   sizeof(err)) != AF_DIR_OK)
		typed = NULL;
	username = hp_params_get(p, "login_hint");
	if (username != NULL &&
	    af_dir_check_username("login_hint", username, err, sizeof(err)) !=
		    AF_DIR_OK)
		username = NULL;
	/* Within what the server reads of a request target. */
	af_buf_init(&b, AF_REQ_URI_MAX);
	af_buf_puts(&b, "/authorize?restarted=1");
	for (i = 0; i < sizeof(passed) / sizeof(passed[0]); i++) {
		v = hp_params_get(p, passed[i]);
		if (v == NULL)
			continue;
		af_buf_printf(&b, "&%s=", passed[i]);
		af_buf_urlenc(&b, v);
	}
	af_buf_puts(&b, "&");
	af_authorize_prompt_login(&b, hp_params_get(p, "prompt"));
	/* The name only prefills the form: left out rather than fail. */
	if (username != NULL &&
	    b.len + strlen("&login_hint=") + 3 * strlen(username) <
		    AF_REQ_URI_MAX) {
		af_buf_puts(&b, "&login_hint=");
		af_buf_urlenc(&b, username);
	}
	url = b.failed ? NULL : af_buf_take(&b, NULL);
	af_buf_cleanup(&b);
	if (url == NULL)
		goto out;
	/* No name: whether it is a user's is not looked up here. */
	af_event_login(srv->log, LOG_LEVEL_INFO, req, NULL, "restarted", NULL);
	if (typed != NULL)
		af_resp_cookie(resp, AF_TYPED_COOKIE, typed, AF_COOKIE_SESSION);
	af_resp_redirect(resp, 303, url);
	free(url);
	rc = 0;
out:
	hp_params_free(p);
	return rc;
}

/*
 * The sign-in form's POST up to the password check: 0 with *authz (the
 * flow) and known (the browser's id when it is known to the user, or
 * empty) to go on, 1 when resp holds the answer. Run twice for a slow
 * request: on the HTTP thread (af_h_login_post_early()), then on the
 * work queue.
 */
static int login_prelude(af_server *srv, af_req *req, af_resp *resp,
			 json_t **authz, char known[AF_KNOWN_ID_BUF])
{
	const char *flow = af_req_param(req, "flow");
	const char *csrf = af_req_param(req, "csrf");
	const char *username = af_req_param(req, "username");
	const char *password = af_req_param(req, "password");
	char shown[AF_LOGGED_NAME_BUF];
	int rc;

	if (af_page_refuse_repeated(req, resp))
		return 1;
	/*
	 * A password post may come with the binding from before the flow's
	 * password step, if the browser dropped the first answer to this
	 * form (af_flow_rebind()); a cancel may not.
	 */
	if (req->form == NULL || csrf == NULL)
		rc = -1;
	else if (af_req_param(req, "cancel") != NULL)
		rc = af_flow_load(srv, req, flow, csrf, authz);
	else
		rc = af_flow_load_password_step(srv, req, flow, csrf, authz);
	if (rc != 0) {
		if (rc == -2)
			af_page_unavailable(resp);
		else if (af_req_param(req, "cancel") != NULL ||
			 restart_signin(srv, req, resp) != 0)
			af_page_flow_expired(resp);
		return 1;
	}
	/* Back to the application, told that nobody signed in. */
	if (af_req_param(req, "cancel") != NULL) {
		if (af_flow_claim_page(srv, flow, resp) == 0)
			af_oidc_send_error(srv, resp, *authz, "access_denied",
					   "the sign-in was not completed");
		return 1;
	}
	if (username == NULL || password == NULL || username[0] == '\0' ||
	    password[0] == '\0') {
		show_form(srv, resp, 400, flow, *authz,
			  username != NULL && username[0] != '\0'
				  ? "Enter your password."
				  : "Enter your user name and password.",
			  username);
		return 1;
	}
	if (req->overdue) {
		/* Waited too long behind other password checks: shed it. */
		af_metrics_login(srv->metrics, AF_LOGIN_BUSY);
		af_event_login(srv->log, LOG_LEVEL_WARN, req,
			       logged_name(srv, username, shown), "busy", NULL);
		af_resp_header_set(resp, "Retry-After", "5");
		show_form(srv, resp, 503, flow, *authz, BUSY, username);
		return 1;
	}
	/* Failures cannot be counted just now: no password is checked. */
	if (af_login_uncounted(srv)) {
		af_metrics_login(srv->metrics, AF_LOGIN_ERROR);
		af_page_unavailable(resp);
		return 1;
	}
	/* A browser the user signed in with before answers for itself. */
	(void)af_known_browser(srv, req, username, known);
	return 0;
}

void af_login_uncounted_pause(af_server *srv, const af_req *req,
			      const char *step)
{
	atomic_store(&srv->uncounted_until_ns,
		     af_mono_ns() + UNCOUNTED_PAUSE_NS);
	log_error(srv->log, req->rid, "throttle",
		  "could not count a failed %s: no password or token code "
		  "is checked for %u s",
		  step, UNCOUNTED_PAUSE_S);
}

int af_login_uncounted(af_server *srv)
{
	return af_mono_ns() < atomic_load(&srv->uncounted_until_ns);
}

af_early af_h_login_post_early(af_server *srv, af_req *req, af_resp *resp)
{
	const char *username = af_req_param(req, "username");
	char known[AF_KNOWN_ID_BUF] = "";
	json_t *authz = NULL;
	af_early e = AF_EARLY_ANSWERED;

	/*
	 * A sign-in its delay or lock refuses is answered here, before the
	 * queue: a flood of wrong passwords takes queue room only for the
	 * checks the throttle lets through. The handler checks again.
	 */
	if (login_prelude(srv, req, resp, &authz, known) == 0 &&
	    check_throttle(srv, req, resp, af_req_param(req, "flow"), authz,
			   username, known, NULL) == 0)
		e = known[0] != '\0' ? AF_EARLY_QUEUE_FIRST : AF_EARLY_QUEUE;
	json_decref(authz);
	return e;
}

void af_h_login_post(af_server *srv, af_req *req, af_resp *resp)
{
	const char *flow = af_req_param(req, "flow");
	const char *username = af_req_param(req, "username");
	const char *password = af_req_param(req, "password");
	json_t *authz = NULL, *user = NULL, *policy = NULL, *app = NULL;
	char known[AF_KNOWN_ID_BUF] = "", shown[AF_LOGGED_NAME_BUF];
	af_dir_status st;
	af_throttle_turn turn = {0}, ipturn = {0};
	int rc;

	if (login_prelude(srv, req, resp, &authz, known) != 0)
		goto out;
	/*
	 * This user's limits, password and failure count: one step, once
	 * the user has failed (see af_throttle_begin()). Other checks of
	 * the same user go first, for a few checks' time at most (each is
	 * one password check, or a quick refusal once the delay runs).
	 */
	st = af_throttle_begin(srv->dir, username, known,
			       srv->cfg.request_timeout_s * 1000u, &turn);
	if (st == AF_DIR_CONFLICT) {
		/*
		 * Refused unchecked, as a wait is: counted and logged as one,
		 * since a guesser firing in parallel meets this refusal
		 * rather than the delay.
		 */
		af_metrics_login(srv->metrics, AF_LOGIN_THROTTLED);
		af_event_login(srv->log, LOG_LEVEL_INFO, req,
			       logged_name(srv, username, shown), "throttled",
			       "wait_s=1 why=concurrent_check");
		af_resp_header_set(resp, "Retry-After", "1");
		show_form(srv, resp, 429, flow, authz,
			  "Another sign-in as this user is being checked. "
			  "Try again in a moment.",
			  username);
		goto out;
	}
	if (st != AF_DIR_OK) {
		af_page_unavailable(resp);
		goto out;
	}
	if (check_throttle(srv, req, resp, flow, authz, username, known,
			   &ipturn) != 0)
		goto out;
	st = af_dir_user_login(srv->dir, username, password, &user);
	/* Refused before any hash (a password too long, the store): no
	 * sample of how long one takes. */
	resp->hashed = st != AF_DIR_INVALID && st != AF_DIR_STORE &&
		       st != AF_DIR_NOMEM;
	if (st == AF_DIR_STORE || st == AF_DIR_NOMEM) {
		af_metrics_login(srv->metrics, AF_LOGIN_ERROR);
		af_page_unavailable(resp);
		goto out;
	}
	if (st != AF_DIR_OK) {
		if (af_throttle_fail_from(srv->dir, username, req->client_ip,
					  req->rid, known) != AF_DIR_OK) {
			/*
			 * Fail closed: a wrong password that was not counted
			 * is not told as one (the answer would tell a guesser
			 * that the store takes no more counts), and for a
			 * while no password is checked at all.
			 */
			af_login_uncounted_pause(srv, req, "password");
			af_metrics_login(srv->metrics, AF_LOGIN_ERROR);
			af_page_unavailable(resp);
			goto out;
		}
		af_metrics_login(srv->metrics, AF_LOGIN_BAD_CREDENTIALS);
		af_event_login(srv->log, LOG_LEVEL_INFO, req,
			       logged_name(srv, username, shown),
			       "bad_credentials",
			       known[0] != '\0' ? KNOWN : NULL);
		show_form(srv, resp, 401, flow, authz, BAD_CREDENTIALS,
			  username);
		goto out;
	}
	/* The password is judged: the address's next check may go. */
	af_throttle_ip_end(srv->dir, req->client_ip, &ipturn);
	/* Past the password, the flow is bound to this browser anew. */
	rc = af_flow_rebind(
		srv, req, resp, flow,
		json_string_value(json_object_get(user, "username")), &authz);
	if (rc != 0) {
		if (rc < 0)
			af_page_unavailable(resp);
		else
			af_page_flow_expired(resp);
		goto out;
	}
	if (end_other_session(srv, req, resp, user) != 0) {
		af_metrics_login(srv->metrics, AF_LOGIN_ERROR);
		af_page_unavailable(resp);
		goto out;
	}
	/* Right, but given too long ago: the service desk gives another. */
	if (af_dir_user_password_expired(user, af_now())) {
		af_metrics_login(srv->metrics, AF_LOGIN_NOT_ALLOWED);
		af_event_login(
			srv->log, LOG_LEVEL_INFO, req,
			json_string_value(json_object_get(user, "username")),
			"temporary_password_expired", NULL);
		allow_app(resp, authz);
		af_page_refusal(
			resp, 403, "Temporary password expired",
			"The password you were given to sign in once has "
			"expired.",
			"Ask your administrator or service desk for a new one.",
			flow,
			json_string_value(json_object_get(authz, "csrf")));
		goto out;
	}
	if (idle_too_long(srv, req, resp, flow, authz, user) != 0)
		goto out;
	if (af_login_allowed(srv, req, resp, flow, authz, user, &policy,
			     &app) != 0)
		goto out;
	/*
	 * The failure counts are cleared only by a whole sign-in: a right
	 * password followed by wrong token codes keeps counting towards the
	 * lockout (web/mfa.c clears them once the second step passed).
	 */
	if (af_mfa_after_password(srv, req, resp, flow, authz, user, policy,
				  app) == AF_MFA_RESPONDED) {
		af_metrics_login(srv->metrics, AF_LOGIN_MFA_REQUIRED);
		goto out;
	}
	if (af_throttle_success(srv->dir, username, req->client_ip, known) !=
	    AF_DIR_OK)
		log_warn(srv->log, req->rid, "throttle",
			 "could not clear the failure count");
	sign_in(srv, req, resp, flow, authz, user, known);
out:
	af_throttle_ip_end(srv->dir, req->client_ip, &ipturn);
	af_throttle_end(srv->dir, username, known, &turn);
	json_decref(authz);
	json_decref(user);
	json_decref(policy);
	json_decref(app);
}
