/* Sign-in flows bound to a browser and protected by a CSRF token. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/util.h"
#include "oidc/flow.h"
#include "web/page.h"

/* The flow's secret for its binding after a password step (never sent). */
#define REKEY		"rekey"
/* When it was last rebound (Unix milliseconds), and for whom. */
#define REBOUND_AT	"rebound_at"
#define REBOUND_BY	"rebound_by"
#define REBOUND_BUF	64
/*
 * For this long after a password step, a post of the password form may
 * still come with the binding from before it: the same form sent twice
 * (a double click, a resubmit), whose first answer the browser dropped.
 */
#define REBIND_GRACE_MS 5000

/*
 * Each flow has its own binding cookie, named after the start of its id,
 * so sign-ins started in two tabs do not disturb each other.
 */
static void cookie_name(const char *id, char *name, size_t namecap)
{
	snprintf(name, namecap, "%s_%.12s", AF_FLOW_COOKIE, id);
}

static int key_of(const char *id, char *key, size_t keycap)
{
	size_t n = strlen(id);

	if (n > AF_FLOW_ID_MAX || !af_b64url_text_ok(id, n))
		return -1;
	snprintf(key, keycap, "flow:%s", id);
	return 0;
}

/*
 * A browser keeps the binding cookies of this many unfinished sign-ins
 * (tabs left open, applications that always ask for a new sign-in); each
 * new sign-in clears up to FLOW_PRUNE_MAX of the older ones. Without it
 * they would pile up for the whole browser session, until the Cookie
 * header grew too large to read and no sign-in worked.
 */
#define FLOW_COOKIES_KEPT 8

/* Logs, once, that the address net reached a limit. */
static void limit_reached(af_server *srv, const af_req *req, const char *net,
			  const char *what, uint64_t limit)
{
	const char *kv[] = {"ip", net, "outcome", "too_many_flows", NULL};

	log_write(srv->log, LOG_LEVEL_WARN, req->rid, "authorize", kv,
		  "limit=%" PRIu64 "%s", limit, what);
}

/*
 * Counts a sign-in begun from the request's address, storing bytes (0: a
 * code issued at once, not counted in bytes): 0 within the limits, 1 past
 * one, -1 on store failure. See af_flow_over_limit(). The counters of a
 * flow yield, as the flow does: anyone may make them, from as many
 * addresses as they have, and near the memory store's cap they stop with
 * the flows rather than take the room kept for codes and sessions.
 */
static int over_limit(af_server *srv, const af_req *req, size_t bytes)
{
	store_status (*incr)(store_ctx *, const char *, int64_t, uint64_t,
			     int64_t *) =
		bytes > 0 ? store_incr_yield : store_incr;
	char key[128], net[AF_IP_COUNTED_MAX];
	int64_t n = 0;

	if (af_ip_counted(req->client_ip, net, sizeof(net)) != 0)
		return 0;
	if (srv->cfg.flows_per_ip != 0) {
		(void)snprintf(key, sizeof(key), "flows:ip:%s", net);
		if (incr(srv->store, key, 1, (uint64_t)AF_FLOW_TTL_S * 1000,
			 &n) != STORE_OK)
			return -1;
		/* One line when an address reaches it, not one per refusal. */
		if (n == (int64_t)srv->cfg.flows_per_ip + 1)
			limit_reached(srv, req, net, "", srv->cfg.flows_per_ip);
		if (n > (int64_t)srv->cfg.flows_per_ip)
			return 1;
	}
	if (srv->flow_bytes_per_ip == 0 || bytes == 0)
		return 0;
	(void)snprintf(key, sizeof(key), "flowbytes:ip:%s", net);
	if (store_incr_yield(srv->store, key, (int64_t)bytes,
			     (uint64_t)AF_FLOW_TTL_S * 1000, &n) != STORE_OK)
		return -1;
	if (n > (int64_t)srv->flow_bytes_per_ip &&
	    n - (int64_t)bytes <= (int64_t)srv->flow_bytes_per_ip)
		limit_reached(srv, req, net, " bytes (of the store's cap)",
			      srv->flow_bytes_per_ip);
	return n > (int64_t)srv->flow_bytes_per_ip;
}

int af_flow_over_limit(af_server *srv, const af_req *req)
{
	return over_limit(srv, req, 0);
}

int af_flow_begin(af_server *srv, const af_req *req, json_t *authz,
		  af_resp *resp, char *id, size_t idcap)
{
	char csrf[64], bind[64], bind_hash[65], rekey[64], key[96], name[40];
	char *text = NULL;
	int rc = -1;

	if (af_random_token(24, id, idcap) != 0 ||
	    af_random_token(24, csrf, sizeof(csrf)) != 0 ||
	    af_random_token(24, bind, sizeof(bind)) != 0 ||
	    af_random_token(32, rekey, sizeof(rekey)) != 0)
		goto out;
	af_sha256_hex(bind, strlen(bind), bind_hash);
	json_object_set_new(authz, "csrf", json_string(csrf));
	json_object_set_new(authz, "bind", json_string(bind_hash));
	json_object_set_new(authz, REKEY, json_string(rekey));
	json_object_set_new(authz, "created", json_integer(af_now()));
	text = json_dumps(authz, JSON_COMPACT);
	if (text == NULL || key_of(id, key, sizeof(key)) != 0)
		goto out;
	rc = over_limit(srv, req, strlen(key) + strlen(text));
	if (rc != 0)
		goto out;
	rc = -1;
	/* Yields: near the memory store's cap, sign-ins begun stop first. */
	if (store_set(srv->store, key, text, strlen(text),
		      (uint64_t)AF_FLOW_TTL_S * 1000,
		      STORE_SET_NX | STORE_SET_YIELD) != STORE_OK)
		goto out;
	af_resp_cookies_prune(req, resp, AF_FLOW_COOKIE "_", FLOW_COOKIES_KEPT);
	cookie_name(id, name, sizeof(name));
	/*
	 * A session cookie, so that it never outlives the browser session
	 * (a shared computer's next user); af_resp_cookies_prune() bounds how
	 * many pile up within one.
	 */
	af_resp_cookie(resp, name, bind, AF_COOKIE_SESSION);
	rc = 0;
out:
	OPENSSL_cleanse(bind, sizeof(bind));
	OPENSSL_cleanse(csrf, sizeof(csrf));
	OPENSSL_cleanse(rekey, sizeof(rekey));
	af_free_secret(text); /* the flow's csrf token and rekey secret */
	return rc;
}

/*
 * The binding cookie that follows cookie after a password step of the
 * flow whose secret is rekey: HMAC-SHA256, base64url, into out. 0 or -1.
 */
static int rebound_value(const char *rekey, const char *cookie,
			 char out[REBOUND_BUF])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int rc;

	if (rekey == NULL || HMAC(EVP_sha256(), rekey, (int)strlen(rekey),
				  (const unsigned char *)cookie, strlen(cookie),
				  mac, &len) == NULL)
		return -1;
	rc = af_b64url_encode(mac, len, out, REBOUND_BUF);
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/*
 * Loads the flow id with the request's binding cookie: as it is, or, with
 * rebound, as what it became at a password step less than REBIND_GRACE_MS
 * ago. See af_flow_load().
 */
static int load_bound(af_server *srv, const af_req *req, const char *id,
		      const char *csrf, int rebound, json_t **authz)
{
	char key[96], bind[128], next[REBOUND_BUF], bind_hash[65], name[40];
	store_value v = {0};
	store_status st;
	json_t *o = NULL;
	int rc = -1;

	*authz = NULL;
	if (id == NULL || key_of(id, key, sizeof(key)) != 0)
		return -1;
	cookie_name(id, name, sizeof(name));
	if (af_req_cookie(req, name, bind, sizeof(bind)) != 0)
		return -1;
	st = store_get(srv->store, key, &v);
	if (st != STORE_OK) {
		OPENSSL_cleanse(bind, sizeof(bind));
		return st == STORE_NOT_FOUND ? -1 : -2;
	}
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	if (!json_is_object(o))
		goto out;
	if (rebound &&
	    (af_now_ms() - json_integer_value(json_object_get(o, REBOUND_AT)) >
		     REBIND_GRACE_MS ||
	     rebound_value(json_string_value(json_object_get(o, REKEY)), bind,
			   next) != 0))
		goto out;
	if (rebound)
		af_sha256_hex(next, strlen(next), bind_hash);
	else
		af_sha256_hex(bind, strlen(bind), bind_hash);
	if (!af_ct_streq(bind_hash,
			 json_string_value(json_object_get(o, "bind"))))
		goto out;
	if (csrf != NULL &&
	    !af_ct_streq(csrf, json_string_value(json_object_get(o, "csrf"))))
		goto out;
	*authz = o;
	o = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(bind, sizeof(bind));
	OPENSSL_cleanse(next, sizeof(next));
	json_decref(o);
	return rc;
}

int af_flow_load(af_server *srv, const af_req *req, const char *id,
		 const char *csrf, json_t **authz)
{
	return load_bound(srv, req, id, csrf, 0, authz);
}

int af_flow_load_password_step(af_server *srv, const af_req *req,
			       const char *id, const char *csrf, json_t **authz)
{
	int rc = load_bound(srv, req, id, csrf, 0, authz);

	return rc == -1 ? load_bound(srv, req, id, csrf, 1, authz) : rc;
}

/*
 * Whether the flow, found already rebound, was rebound for user: a second
 * post of the form goes on only as the user whose password the first
 * checked, or any right password within the grace period would hand its
 * sender the binding of another's sign-in (a copy of the old cookie
 * taken or planted, then a password of the sender's own).
 */
static int rebound_for(const json_t *authz, const char *user)
{
	const char *by = json_string_value(json_object_get(authz, REBOUND_BY));

	return by != NULL && user != NULL && strcmp(by, user) == 0;
}

int af_flow_rebind(af_server *srv, const af_req *req, af_resp *resp,
		   const char *id, const char *user, json_t **authz)
{
	char bind[128], next[REBOUND_BUF], next_hash[65], name[40];
	json_t *now = NULL, *again = NULL;
	int rc = -1;

	cookie_name(id, name, sizeof(name));
	/* A flow begun before flows had the secret keeps its binding. */
	if (json_object_get(*authz, REKEY) == NULL)
		return 0;
	if (af_req_cookie(req, name, bind, sizeof(bind)) != 0 ||
	    rebound_value(json_string_value(json_object_get(*authz, REKEY)),
			  bind, next) != 0)
		goto out;
	af_sha256_hex(next, strlen(next), next_hash);
	/* Loaded as rebound already (a second post of the same form). */
	if (af_ct_streq(next_hash,
			json_string_value(json_object_get(*authz, "bind")))) {
		rc = rebound_for(*authz, user) ? 0 : 1;
		if (rc == 0)
			goto send;
		goto out;
	}
	now = json_deep_copy(*authz);
	if (now == NULL || user == NULL ||
	    json_object_set_new(now, "bind", json_string(next_hash)) != 0 ||
	    json_object_set_new(now, REBOUND_AT, json_integer(af_now_ms())) !=
		    0 ||
	    json_object_set_new(now, REBOUND_BY, json_string(user)) != 0)
		goto out;
	rc = af_flow_replace(srv, id, *authz, now);
	if (rc == 0) {
		json_decref(*authz);
		*authz = now;
		now = NULL;
		goto send;
	}
	if (rc < 0)
		goto out;
	/*
	 * The flow changed meanwhile: by another post of this form from this
	 * browser (rebound as this one would have been: go on with it), or
	 * by something else (1: the caller starts again).
	 */
	rc = load_bound(srv, req, id, NULL, 1, &again);
	if (rc == 0 && !rebound_for(again, user))
		rc = 1;
	if (rc != 0)
		goto out;
	json_decref(*authz);
	*authz = again;
	again = NULL;
send:
	af_resp_cookie(resp, name, next, AF_COOKIE_SESSION);
out:
	OPENSSL_cleanse(bind, sizeof(bind));
	OPENSSL_cleanse(next, sizeof(next));
	json_decref(again);
	json_decref(now);
	return rc;
}

int af_flow_replace(af_server *srv, const char *id, const json_t *was,
		    const json_t *now)
{
	char key[96], *old = NULL, *text = NULL;
	store_status st = STORE_ERR_NOMEM;

	if (key_of(id, key, sizeof(key)) != 0)
		return 1;
	/* Stored and loaded as JSON_COMPACT text: dumped again byte for byte.
	 */
	old = json_dumps(was, JSON_COMPACT);
	text = json_dumps(now, JSON_COMPACT);
	if (old != NULL && text != NULL)
		st = store_cas(srv->store, key, old, strlen(old), text,
			       strlen(text), 0);
	af_free_secret(old);
	af_free_secret(text);
	if (st == STORE_OK)
		return 0;
	return st == STORE_CONFLICT || st == STORE_NOT_FOUND ? 1 : -1;
}

/* 0 the flow is this request's to end, 1 another's ended it, -1 error. */
static int flow_claim(af_server *srv, const char *id)
{
	char key[96];
	store_value v = {0};
	store_status st;

	if (key_of(id, key, sizeof(key)) != 0)
		return 1;
	/* Taking the record ends the flow: one taker only, nothing left. */
	st = store_getdel(srv->store, key, &v);
	store_value_free(&v);
	if (st == STORE_NOT_FOUND)
		return 1;
	return st == STORE_OK ? 0 : -1;
}

int af_flow_claim_page(af_server *srv, const char *id, af_resp *resp)
{
	char name[40];
	int rc = flow_claim(srv, id);

	if (rc > 0)
		af_page_flow_expired(resp);
	else if (rc < 0)
		af_page_unavailable(resp);
	if (rc != 0)
		return -1;
	cookie_name(id, name, sizeof(name));
	af_resp_cookie(resp, name, "", AF_COOKIE_CLEAR);
	return 0;
}

int af_flow_unclaim(af_server *srv, const af_req *req, af_resp *resp,
		    const char *id, const json_t *authz)
{
	char key[96], name[40], bind[128];
	const json_t *created = json_object_get(authz, "created");
	int64_t left;
	store_status st;
	char *text;

	if (!json_is_integer(created) || key_of(id, key, sizeof(key)) != 0)
		return -1;
	left = (int64_t)json_integer_value(created) + AF_FLOW_TTL_S - af_now();
	cookie_name(id, name, sizeof(name));
	if (left <= 0 || af_req_cookie(req, name, bind, sizeof(bind)) != 0)
		return -1;
	text = json_dumps(authz, JSON_COMPACT);
	st = text != NULL ? store_set(srv->store, key, text, strlen(text),
				      (uint64_t)left * 1000, STORE_SET_NX)
			  : STORE_ERR_NOMEM;
	af_free_secret(text);
	if (st == STORE_OK)
		af_resp_cookie(resp, name, bind, AF_COOKIE_SESSION);
	OPENSSL_cleanse(bind, sizeof(bind));
	return st == STORE_OK ? 0 : -1;
}
