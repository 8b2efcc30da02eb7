/*
 * Client authentication (RFC 6749 2.3.1): client_secret_basic or
 * client_secret_post, never both in one request. Secrets are checked in
 * constant time by the directory against their stored SHA-256. A secret
 * a rotation replaced and keeps for a while is taken with a warning in
 * the log, so that an operator sees which applications still use it.
 * Failed authentications are counted per client address (throttle.h):
 * past the address limit each try from it waits, and one that comes
 * before its wait is over is answered 429 without its secret checked.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "directory/throttle.h"
#include "oidc/oidc.h"

/*
 * Logs a refused client id (one the caller chose: the log keeps 64
 * bytes), the address it came from and why (NULL: not said): a refusal
 * at info, an address held in its wait (someone guessing) at warn.
 */
static void refused(af_server *srv, const af_req *req, const char *client,
		    const char *outcome, const char *why)
{
	char shown[65];
	const char *kv[9] = {"client", shown, "outcome",
			     outcome,  "ip",  req->client_ip};

	if (why != NULL) {
		kv[6] = "why";
		kv[7] = why;
	}
	(void)snprintf(shown, sizeof(shown), "%.64s", client);
	log_write(srv->log,
		  strcmp(outcome, "throttled") == 0 ? LOG_LEVEL_WARN
						    : LOG_LEVEL_INFO,
		  req->rid, "client_auth", kv, NULL);
}

/*
 * 0 when the client's address may try to authenticate now; else -1 with
 * the answer in resp: 429 while its delay runs, 503 when the store
 * cannot say (failing closed, as sign-ins do).
 */
static int throttled(af_server *srv, const af_req *req, af_resp *resp,
		     const char *client, af_throttle_turn *turn)
{
	uint32_t wait_s = 0;
	af_dir_status st;

	st = af_throttle_door_check(srv->dir, AF_THROTTLE_CLIENT,
				    req->client_ip, &wait_s, turn);
	if (st == AF_DIR_OK)
		return 0;
	if (st != AF_DIR_WAIT) {
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "try again");
		return -1;
	}
	refused(srv, req, client, "throttled", NULL);
	af_resp_retry_after(resp, wait_s);
	af_resp_oauth_error(resp, 429, "temporarily_unavailable",
			    "too many failed client authentications from "
			    "this address: try again later");
	return -1;
}

int af_oidc_client_auth(af_server *srv, const af_req *req, af_resp *resp,
			char *client_id, size_t cap, json_t **app)
{
	const char *header = af_req_header(req, "Authorization");
	const char *post_id = af_oidc_param(req, "client_id");
	const char *post_secret = af_oidc_param(req, "client_secret");
	char user[AF_DIR_CLIENT_ID_BUF + 64];
	char secret[AF_DIR_SECRET_IN_MAX + 1];
	af_dir_status st;
	af_throttle_turn turn = {0};
	int rc = -1, previous = 0;

	secret[0] = '\0';
	/*
	 * Authorization is one header (RFC 9110 11.6.2): of two, a proxy in
	 * front may have read the other.
	 */
	if (af_req_header_count(req, "Authorization") > 1) {
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "more than one Authorization header");
		return -1;
	}
	if (header != NULL && post_secret != NULL) {
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "use one client authentication method");
		return -1;
	}
	if (header != NULL) {
		if (hp_auth_basic(header, user, sizeof(user), secret,
				  sizeof(secret)) != HP_OK) {
			af_resp_oauth_error(resp, 401, "invalid_client",
					    "malformed Basic credentials");
			goto out;
		}
		if (post_id != NULL && strcmp(post_id, user) != 0) {
			af_resp_oauth_error(resp, 400, "invalid_request",
					    "client_id disagrees with the "
					    "Authorization header");
			goto out;
		}
	} else if (post_id != NULL && post_secret != NULL &&
		   strlen(post_id) < sizeof(user) &&
		   strlen(post_secret) < sizeof(secret)) {
		memcpy(user, post_id, strlen(post_id) + 1);
		memcpy(secret, post_secret, strlen(post_secret) + 1);
	} else {
		af_resp_oauth_error(resp, 401, "invalid_client",
				    "client authentication is required");
		goto out;
	}
	if (throttled(srv, req, resp, user, &turn) != 0)
		goto out;
	st = strlen(user) < cap
		     ? af_dir_app_check_secret(srv->dir, user, secret, app,
					       &previous)
		     : AF_DIR_NOT_FOUND;
	if (st == AF_DIR_STORE) {
		af_resp_oauth_error(resp, 503, "temporarily_unavailable",
				    "try again");
		goto out;
	}
	if (st != AF_DIR_OK) {
		refused(srv, req, user, "refused",
			st == AF_DIR_NOT_FOUND ? "no_such_client"
					       : "wrong_secret_or_disabled");
		/*
		 * A failure that was not counted is not told as one: the
		 * answer would tell a guesser that the store counts no more.
		 */
		if (af_throttle_door_fail(srv->dir, AF_THROTTLE_CLIENT,
					  req->client_ip, &turn) != AF_DIR_OK) {
			log_error(srv->log, req->rid, "throttle",
				  "could not count a failed client "
				  "authentication");
			af_resp_oauth_error(resp, 503,
					    "temporarily_unavailable",
					    "try again");
			goto out;
		}
		af_resp_oauth_error(resp, 401, "invalid_client",
				    "client authentication failed");
		goto out;
	}
	if (previous) {
		const char *kv[] = {
			"client", user,		  "outcome", "previous_secret",
			"ip",	  req->client_ip, NULL};

		log_write(srv->log, LOG_LEVEL_WARN, req->rid, "client_auth", kv,
			  "the client authenticated with the secret a "
			  "rotation replaced; it stops working when kept "
			  "no longer");
	}
	memcpy(client_id, user, strlen(user) + 1);
	rc = 0;
out:
	/* A failure gave it back as it was counted: held is 0 then. */
	af_throttle_door_end(srv->dir, AF_THROTTLE_CLIENT, req->client_ip,
			     &turn);
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* The parameters of a token's endpoint that must not come twice. */
static const char *const token_params[] = {
	"token", "token_type_hint", "client_id", "client_secret", NULL,
};

int af_oidc_token_call(af_server *srv, const af_req *req, af_resp *resp,
		       char *client_id, size_t cap, const char **token)
{
	*token = NULL;
	if (req->form == NULL) {
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "expected a form body");
		return -1;
	}
	if (af_oidc_repeated(req, token_params)) {
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "a parameter was given more than once");
		return -1;
	}
	if (af_oidc_client_auth(srv, req, resp, client_id, cap, NULL) != 0)
		return -1;
	*token = af_oidc_param(req, "token");
	if (*token == NULL) {
		af_resp_oauth_error(resp, 400, "invalid_request",
				    "token is required");
		return -1;
	}
	return 0;
}
