/*
 * The demo: seeded data and a built-in relying party. The relying party
 * talks to this server over HTTP, exactly as an outside application
 * would: authorize with PKCE, token with client_secret_basic, userinfo,
 * and it checks the id_token's signature, issuer, audience, expiry and
 * nonce before it shows anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "demo/demo.h"
#include "device/device.h"
#include "mfa/mfa.h"
#include "tokencode.h"
#include "web/page.h"

#define DEMO_STATE_TTL_S    600
/* The states this browser began: one cookie each, named by the state. */
#define DEMO_STATE_COOKIE   "af_demo_rp_"
#define DEMO_STATE_NAMED    12 /* characters of the state in the name */
#define DEMO_STATES_KEPT    8  /* sign-ins begun in one browser at once */
#define DEMO_REPLY_MAX	    ((size_t)256 * 1024)
#define QLIK_STYLE_REDIRECT "http://127.0.0.1:9000/login/callback"
#define DEMO_PHONE_NAME	    "Demo phone"

static void cb_url(const af_server *srv, char *out, size_t cap)
{
	snprintf(out, cap, "%s/demo/callback", srv->cfg.issuer);
}

/* A fresh P-256 public key as a JWK: the demo phone answers in-process. */
static json_t *demo_public_jwk(void)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	unsigned char pub[65];
	char x[64], y[64];
	size_t n = 0;
	json_t *jwk = NULL;

	if (pk == NULL)
		return NULL;
	if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pub,
					    sizeof(pub), &n) == 1 &&
	    n == sizeof(pub) &&
	    af_b64url_encode(pub + 1, 32, x, sizeof(x)) == 0 &&
	    af_b64url_encode(pub + 33, 32, y, sizeof(y)) == 0)
		jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv",
				"P-256", "x", x, "y", y);
	EVP_PKEY_free(pk);
	return jwk;
}

/*
 * The demo phone: alice's enrolled device, answered from /demo/phone.
 * On a restart with existing state the phone enrolled before is reused.
 */
static int seed_phone(af_server *srv, char *err, size_t errlen)
{
	json_t *devices = NULL, *d, *spec = NULL, *dev = NULL;
	char derr[160] = "";
	af_mfa_status st;
	size_t i;
	int rc = -1;

	if (af_random_token(24, srv->demo_phone_csrf,
			    sizeof(srv->demo_phone_csrf)) != 0)
		goto out;
	st = af_mfa_device_list(srv->store, AF_DEMO_USER, &devices);
	if (st != AF_MFA_OK)
		goto out;
	json_array_foreach(devices, i, d)
	{
		const char *name =
			json_string_value(json_object_get(d, "device_name"));

		if (name != NULL && strcmp(name, DEMO_PHONE_NAME) == 0) {
			snprintf(srv->demo_device_id,
				 sizeof(srv->demo_device_id), "%s",
				 json_string_value(json_object_get(d, "id")));
			rc = 0;
			goto out;
		}
	}
	spec = json_pack("{s:s, s:o*, s:s, s:s}", "platform", "none",
			 "public_key", demo_public_jwk(), "app_version",
			 "2024.1", "device_name", DEMO_PHONE_NAME);
	if (spec == NULL)
		goto out;
	st = af_mfa_device_add(srv->store, AF_DEMO_USER, spec, &dev, derr,
			       sizeof(derr));
	if (st != AF_MFA_OK)
		goto out;
	snprintf(srv->demo_device_id, sizeof(srv->demo_device_id), "%s",
		 json_string_value(json_object_get(dev, "id")));
	rc = 0;
out:
	if (rc != 0)
		snprintf(err, errlen, "demo phone: %s",
			 derr[0] != '\0' ? derr : "could not enroll");
	json_decref(devices);
	json_decref(spec);
	json_decref(dev);
	return rc;
}

static int seed(af_server *srv, char *err, size_t errlen)
{
	json_t *spec = NULL, *app = NULL;
	char uri[512], back[512], derr[AF_DIR_ERR_BUF] = "";
	char secret[AF_DIR_SECRET_BUF];
	af_dir_status st;
	int rc = -1;

	/*
	 * derr is cleared after each step that may leave a message of a
	 * record already there: a failure names its own step's reason.
	 */
	spec = json_pack("{s:s, s:b, s:b}", "name", "demo-users", "sso", 1,
			 "remote_access", 1);
	st = af_dir_policy_add(srv->dir, "demo", spec, derr, sizeof(derr));
	json_decref(spec);
	if (st != AF_DIR_OK && st != AF_DIR_EXISTS)
		goto fail;
	derr[0] = '\0';
	spec = json_pack("{s:s, s:s, s:s, s:b}", "username", AF_DEMO_USER,
			 "name", "Alice Demo", "email", "alice@example.com",
			 "email_verified", 1);
	st = af_dir_user_add(srv->dir, "demo", spec, AF_DEMO_PASSWORD, NULL,
			     derr, sizeof(derr));
	json_decref(spec);
	if (st != AF_DIR_OK && st != AF_DIR_EXISTS)
		goto fail;
	derr[0] = '\0';
	st = af_dir_policy_assign(srv->dir, "demo", "demo-users",
				  AF_DIR_TARGET_USER, AF_DEMO_USER, derr,
				  sizeof(derr));
	if (st != AF_DIR_OK)
		goto fail;

	cb_url(srv, uri, sizeof(uri));
	snprintf(back, sizeof(back), "%s/demo", srv->cfg.issuer);
	st = af_dir_app_get_by_name(srv->dir, AF_DEMO_APP, &app);
	if (st == AF_DIR_NOT_FOUND) {
		spec = json_pack("{s:s, s:s, s:[s,s], s:[s], s:b, s:{s:s}}",
				 "name", AF_DEMO_APP, "display_name",
				 "authflow demo app", "redirect_uris", uri,
				 QLIK_STYLE_REDIRECT, "post_logout_uris", back,
				 "allow_refresh", 1, "deployment", "mode",
				 "all");
		st = af_dir_app_add(srv->dir, "demo", spec, &app, secret,
				    sizeof(secret), derr, sizeof(derr));
		json_decref(spec);
		OPENSSL_cleanse(secret, sizeof(secret));
	}
	if (st != AF_DIR_OK)
		goto fail;
	/* A demo started again on another port answers at other addresses. */
	spec = json_pack("{s:[s,s], s:[s]}", "redirect_uris", uri,
			 QLIK_STYLE_REDIRECT, "post_logout_uris", back);
	if (spec == NULL) {
		st = AF_DIR_NOMEM;
		goto fail;
	}
	if (!json_equal(json_object_get(app, "redirect_uris"),
			json_object_get(spec, "redirect_uris")) ||
	    !json_equal(json_object_get(app, "post_logout_uris"),
			json_object_get(spec, "post_logout_uris")))
		st = af_dir_app_set(
			srv->dir, "demo",
			json_string_value(json_object_get(app, "client_id")),
			spec, NULL, derr, sizeof(derr));
	json_decref(spec);
	if (st != AF_DIR_OK)
		goto fail;
	snprintf(srv->demo_client_id, sizeof(srv->demo_client_id), "%s",
		 json_string_value(json_object_get(app, "client_id")));
	/* Only a hash of the secret is kept: make a new one to show. */
	st = af_dir_app_rotate_secret(srv->dir, "demo", srv->demo_client_id, 0,
				      srv->demo_client_secret,
				      sizeof(srv->demo_client_secret), NULL);
	if (st != AF_DIR_OK)
		goto fail;
	if (seed_phone(srv, err, errlen) != 0)
		goto out;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "demo data: %s%s%s", af_dir_strerror(st),
		 derr[0] != '\0' ? ": " : "", derr);
out:
	json_decref(app);
	return rc;
}

static int write_demo_json(af_server *srv, const char *admin_token, char *err,
			   size_t errlen)
{
	char path[600], tmp[610], metadata[512], redirect[512], why[128];
	json_t *o;
	char *text = NULL;
	int fd, rc = -1, e;
	bool ok;
	size_t n;

	snprintf(metadata, sizeof(metadata),
		 "%s/.well-known/openid-configuration", srv->cfg.issuer);
	cb_url(srv, redirect, sizeof(redirect));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "issuer",
		      srv->cfg.issuer, "metadata_url", metadata, "client_id",
		      srv->demo_client_id, "client_secret",
		      srv->demo_client_secret, "redirect_uri", redirect,
		      "admin_token", admin_token, "username", AF_DEMO_USER,
		      "password", AF_DEMO_PASSWORD);
	if (o != NULL)
		text = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	if (text == NULL)
		goto out;
	/*
	 * Written beside it and renamed over it: a write that fails (a full
	 * disk) leaves the last demo.json whole, not an empty one.
	 */
	snprintf(path, sizeof(path), "%s/demo.json", srv->cfg.state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	(void)unlink(tmp);
	n = strlen(text);
	errno = 0;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ok = fd >= 0 && af_write_all(fd, text, n) == 0 &&
	     af_write_all(fd, "\n", 1) == 0 && fsync(fd) == 0;
	e = errno;
	if (fd >= 0 && close(fd) != 0 && ok) {
		ok = false;
		e = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		if (fd >= 0)
			(void)unlink(tmp);
		af_errno_text(e != 0 ? e : EIO, why, sizeof(why));
		/* The file in the way is the one beside, when it is. */
		snprintf(err, errlen, "cannot write %s: %s",
			 fd < 0 ? tmp : path, why);
		goto out;
	}
	rc = 0;
out:
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	return rc;
}

int af_demo_setup(af_server *srv, const char *admin_token, char *err,
		  size_t errlen)
{
	if (seed(srv, err, errlen) != 0)
		return -1;
	return write_demo_json(srv, admin_token, err, errlen);
}

/*
 * An authority ("host", "host:port", "[v6]:port") of len bytes into its
 * host (brackets kept) and port (def when it names none): 0, or -1 when
 * it is none.
 */
static int split_authority(const char *a, size_t len, size_t *hlen,
			   unsigned long *port, unsigned long def)
{
	const char *colon, *close;
	size_t i, digits;

	if (len > 0 && a[0] == '[') {
		close = memchr(a, ']', len);
		if (close == NULL)
			return -1;
		*hlen = (size_t)(close - a) + 1;
		colon = *hlen < len ? a + *hlen : NULL;
		if (colon != NULL && *colon != ':')
			return -1;
	} else {
		colon = memchr(a, ':', len);
		*hlen = colon != NULL ? (size_t)(colon - a) : len;
	}
	*port = def;
	if (colon == NULL)
		return *hlen > 0 ? 0 : -1;
	digits = len - *hlen - 1;
	if (*hlen == 0 || digits == 0 || digits > 5)
		return -1;
	*port = 0;
	for (i = 0; i < digits; i++) {
		if (colon[1 + i] < '0' || colon[1 + i] > '9')
			return -1;
		*port = *port * 10 + (unsigned long)(colon[1 + i] - '0');
	}
	return *port >= 1 && *port <= 65535 ? 0 : -1;
}

bool af_demo_host_ok(const af_server *srv, const af_req *req)
{
	const char *host = af_req_header(req, "Host");
	const char *auth = strstr(srv->cfg.issuer, "://");
	unsigned long def, iport, hport;
	size_t alen, ihlen, hhlen;

	if (host == NULL || auth == NULL)
		return false;
	def = strncasecmp(srv->cfg.issuer, "https:", 6) == 0 ? 443 : 80;
	auth += 3;
	alen = strcspn(auth, "/");
	if (split_authority(auth, alen, &ihlen, &iport, def) != 0 ||
	    split_authority(host, strlen(host), &hhlen, &hport, def) != 0 ||
	    hport != iport)
		return false;
	/* The issuer's host, or localhost, on the issuer's port. */
	return (hhlen == ihlen && strncasecmp(host, auth, ihlen) == 0) ||
	       (hhlen == 9 && strncasecmp(host, "localhost", 9) == 0);
}

void af_h_demo(af_server *srv, af_req *req, af_resp *resp)
{
	af_buf b;

	(void)req;
	af_buf_init(&b, 16384);
	af_page_begin(&b, resp, "authflow demo");
	af_buf_puts(&b, "<h1>authflow demo application</h1>"
			"<p>This page is a relying party built into the demo. "
			"It signs you in with OpenID Connect (code flow with "
			"PKCE) and shows what it learns about you.</p>"
			"<p>User name <code>" AF_DEMO_USER "</code>, password "
			"<code>" AF_DEMO_PASSWORD "</code>. After the "
			"password, " AF_DEMO_USER " approves on a phone: "
			"here, <a href=\"/demo/phone\" target=\"_blank\" "
			"rel=\"noopener\">the demo phone</a>, a page to keep "
			"open in another tab.</p>"
			"<p><a href=\"/demo/login\">Sign in with authflow</a>"
			"</p><dl><dt>Metadata URL</dt><dd><code>");
	af_buf_html(&b, srv->cfg.issuer);
	af_buf_puts(&b, "/.well-known/openid-configuration</code></dd>"
			"<dt>Client id</dt><dd><code>");
	af_buf_html(&b, srv->demo_client_id);
	af_buf_puts(&b, "</code></dd></dl>");
	af_page_end(&b, resp);
	af_page_send(resp, 200, &b);
}

/*
 * The cookie that binds state to the browser that began it, named by the
 * state so that sign-ins begun in two tabs do not undo each other.
 */
static void state_cookie_name(const char *state, char *name, size_t cap)
{
	snprintf(name, cap, "%s%.*s", DEMO_STATE_COOKIE, DEMO_STATE_NAMED,
		 state);
}

void af_h_demo_login(af_server *srv, af_req *req, af_resp *resp)
{
	char state[48], nonce[48], verifier[64], challenge[64], key[96];
	char redirect[512], cname[40];
	uint8_t d[32];
	json_t *o;
	char *text = NULL, *url = NULL;
	af_buf b;

	if (af_random_token(24, state, sizeof(state)) != 0 ||
	    af_random_token(24, nonce, sizeof(nonce)) != 0 ||
	    af_random_token(32, verifier, sizeof(verifier)) != 0)
		goto fail;
	af_sha256(verifier, strlen(verifier), d);
	if (af_b64url_encode(d, sizeof(d), challenge, sizeof(challenge)) != 0)
		goto fail;
	o = json_pack("{s:s, s:s}", "nonce", nonce, "verifier", verifier);
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	snprintf(key, sizeof(key), "demo_rp:%s", state);
	if (text == NULL ||
	    store_set(srv->store, key, text, strlen(text),
		      (uint64_t)DEMO_STATE_TTL_S * 1000, 0) != STORE_OK)
		goto fail;
	cb_url(srv, redirect, sizeof(redirect));
	af_buf_init(&b, 4096);
	af_buf_printf(&b, "/authorize?response_type=code&client_id=");
	af_buf_urlenc(&b, srv->demo_client_id);
	af_buf_puts(&b, "&redirect_uri=");
	af_buf_urlenc(&b, redirect);
	af_buf_puts(&b, "&scope=openid%20profile%20email%20groups&state=");
	af_buf_puts(&b, state);
	af_buf_puts(&b, "&nonce=");
	af_buf_puts(&b, nonce);
	af_buf_puts(&b, "&code_challenge=");
	af_buf_puts(&b, challenge);
	af_buf_puts(&b, "&code_challenge_method=S256");
	url = af_buf_take(&b, NULL);
	if (url == NULL)
		goto fail;
	/*
	 * The state is bound to this browser, as a relying party must: a
	 * callback URL another browser started (an attacker's own sign-in)
	 * is refused here instead of signing this browser in as someone
	 * else (login CSRF).
	 */
	state_cookie_name(state, cname, sizeof(cname));
	af_resp_cookies_prune(req, resp, DEMO_STATE_COOKIE, DEMO_STATES_KEPT);
	af_resp_cookie(resp, cname, state, AF_COOKIE_SESSION);
	af_resp_redirect(resp, 302, url);
	free(url);
	free(text);
	return;
fail:
	free(text);
	af_page_error(resp, 503, "Demo unavailable",
		      "The demo application could not start a sign-in.",
		      "Try again in a moment.");
}

struct reply {
	char *data;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;
	char *nd;

	if (n > DEMO_REPLY_MAX - r->len)
		return 0;
	nd = realloc(r->data, r->len + n + 1);
	if (nd == NULL)
		return 0;
	r->data = nd;
	memcpy(r->data + r->len, ptr, n);
	r->len += n;
	r->data[r->len] = '\0';
	return n;
}

/*
 * One HTTP call from the demo relying party to this server. Returns the
 * parsed JSON answer (new reference) or NULL.
 */
static json_t *call(const af_server *srv, const char *path, const char *form,
		    const char *bearer, long *status)
{
	char url[512], auth[4200];
	struct curl_slist *h = NULL;
	struct reply r = {NULL, 0};
	json_t *out = NULL;
	CURL *c;

	*status = 0;
	c = curl_easy_init();
	if (c == NULL)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", srv->cfg.issuer, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	if (form != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, srv->demo_client_id);
		curl_easy_setopt(c, CURLOPT_PASSWORD, srv->demo_client_secret);
	}
	if (bearer != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 bearer);
		h = curl_slist_append(h, auth);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		OPENSSL_cleanse(auth, sizeof(auth));
	}
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		if (r.data != NULL)
			out = json_loadb(r.data, r.len, 0, NULL);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (r.data != NULL) {
		OPENSSL_cleanse(r.data, r.len);
		free(r.data);
	}
	return out;
}

/* Checks the id_token as a relying party must; NULL or the reason. */
static const char *check_id_token(af_server *srv, const char *jwt,
				  const char *nonce, json_t **claims)
{
	json_t *c = NULL;
	const char *aud;

	if (jwt == NULL ||
	    af_jwt_verify(srv->keys, jwt, strlen(jwt), &c) != JOSE_OK)
		return "the id_token signature does not verify";
	*claims = c;
	if (!json_is_string(json_object_get(c, "iss")) ||
	    strcmp(json_string_value(json_object_get(c, "iss")),
		   srv->cfg.issuer) != 0)
		return "the id_token comes from another issuer";
	aud = json_string_value(json_object_get(c, "aud"));
	if (aud == NULL || strcmp(aud, srv->demo_client_id) != 0)
		return "the id_token is for another application";
	if (json_integer_value(json_object_get(c, "exp")) < af_now())
		return "the id_token has expired";
	if (!json_is_string(json_object_get(c, "nonce")) ||
	    !af_ct_streq(json_string_value(json_object_get(c, "nonce")), nonce))
		return "the id_token nonce does not match";
	return NULL;
}

static void claims_list(af_buf *b, json_t *claims)
{
	const char *k;
	json_t *v;

	af_buf_puts(b, "<dl>");
	json_object_foreach(claims, k, v)
	{
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		af_buf_puts(b, "<dt>");
		af_buf_html(b, k);
		af_buf_puts(b, "</dt><dd><code>");
		af_buf_html(b, text != NULL ? text : "?");
		af_buf_puts(b, "</code></dd>");
		free(text);
	}
	af_buf_puts(b, "</dl>");
}

static void show_result(af_server *srv, af_resp *resp, json_t *claims,
			json_t *userinfo, const char *id_token)
{
	af_buf b;

	af_buf_init(&b, 65536);
	af_page_begin(&b, resp, "Signed in");
	af_buf_puts(&b, "<h1>Signed in</h1><p class=\"msg info\">The demo "
			"application verified your id_token.</p>"
			"<h2>id_token claims</h2>");
	claims_list(&b, claims);
	if (userinfo != NULL) {
		af_buf_puts(&b, "<h2>userinfo</h2>");
		claims_list(&b, userinfo);
	}
	/* Posted: an id_token in a link would go to history and logs. */
	af_buf_puts(&b, "<form method=\"post\" action=\"/logout\">"
			"<input type=\"hidden\" "
			"name=\"post_logout_redirect_uri\" value=\"");
	af_buf_html(&b, srv->cfg.issuer);
	af_buf_puts(&b, "/demo\"><input type=\"hidden\" "
			"name=\"id_token_hint\" value=\"");
	af_buf_html(&b, id_token);
	af_buf_puts(&b, "\"><button type=\"submit\">Sign out</button>"
			"</form>");
	af_page_end(&b, resp);
	af_page_send(resp, 200, &b);
}

/* Why the demo sign-in failed, and a link to start it again. */
/* Why the token request failed, as an application would log it. */
static void token_failure(char *out, size_t cap, long status,
			  const json_t *answer)
{
	const char *err = json_string_value(json_object_get(answer, "error"));
	const char *desc =
		json_string_value(json_object_get(answer, "error_description"));

	if (status == 0)
		(void)snprintf(out, cap, "%s",
			       "the token request failed (no answer)");
	else
		(void)snprintf(
			out, cap, "the token request failed (HTTP %ld%s%s%s%s)",
			status, err != NULL ? ": " : "", err != NULL ? err : "",
			desc != NULL ? ", " : "", desc != NULL ? desc : "");
}

static void demo_failed(af_resp *resp, const char *why)
{
	af_buf b;

	af_buf_init(&b, 16384);
	af_page_begin(&b, resp, "Demo sign-in failed");
	af_buf_puts(&b, "<h1>Demo sign-in failed</h1><p class=\"msg\" "
			"role=\"alert\">");
	af_buf_html(&b, why);
	af_buf_puts(&b, "</p><p><a href=\"/demo\">Start again</a></p>");
	af_page_end(&b, resp);
	af_page_send(resp, 400, &b);
}

void af_h_demo_callback(af_server *srv, af_req *req, af_resp *resp)
{
	const char *code = af_req_param(req, "code");
	const char *state = af_req_param(req, "state");
	const char *iss = af_req_param(req, "iss");
	const char *error = af_req_param(req, "error");
	char key[96], redirect[512], bound[80], cname[40];
	json_t *saved = NULL, *tokens = NULL, *claims = NULL, *ui = NULL;
	store_value v = {0};
	const char *why = NULL;
	char failed[256];
	af_buf form;
	char *body = NULL;
	long status = 0;

	af_buf_init(&form, 4096);
	if (error != NULL) {
		why = error;
		goto out;
	}
	if (code == NULL || state == NULL || strlen(state) > 64 ||
	    iss == NULL || strcmp(iss, srv->cfg.issuer) != 0) {
		why = "the answer from the sign-in service is incomplete";
		goto out;
	}
	state_cookie_name(state, cname, sizeof(cname));
	if (af_req_cookie(req, cname, bound, sizeof(bound)) != 0 ||
	    !af_ct_streq(bound, state)) {
		why = "this sign-in was not started in this browser";
		goto out;
	}
	af_resp_cookie(resp, cname, "", AF_COOKIE_CLEAR);
	snprintf(key, sizeof(key), "demo_rp:%s", state);
	if (store_getdel(srv->store, key, &v) != STORE_OK) {
		why = "unknown or reused state";
		goto out;
	}
	saved = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	cb_url(srv, redirect, sizeof(redirect));
	af_buf_puts(&form, "grant_type=authorization_code&code=");
	af_buf_urlenc(&form, code);
	af_buf_puts(&form, "&redirect_uri=");
	af_buf_urlenc(&form, redirect);
	af_buf_puts(&form, "&code_verifier=");
	af_buf_urlenc(&form,
		      json_string_value(json_object_get(saved, "verifier")));
	body = af_buf_take(&form, NULL);
	tokens = body != NULL ? call(srv, "/token", body, NULL, &status) : NULL;
	if (tokens == NULL || status != 200) {
		token_failure(failed, sizeof(failed), status, tokens);
		why = failed;
		goto out;
	}
	why = check_id_token(
		srv, json_string_value(json_object_get(tokens, "id_token")),
		json_string_value(json_object_get(saved, "nonce")), &claims);
	if (why != NULL)
		goto out;
	ui = call(srv, "/userinfo", NULL,
		  json_string_value(json_object_get(tokens, "access_token")),
		  &status);
	show_result(srv, resp, claims, status == 200 ? ui : NULL,
		    json_string_value(json_object_get(tokens, "id_token")));
out:
	if (why != NULL)
		demo_failed(resp, why);
	if (body != NULL) {
		OPENSSL_cleanse(body, strlen(body));
		free(body);
	}
	af_buf_cleanup(&form);
	json_decref(saved);
	json_decref(tokens);
	json_decref(claims);
	json_decref(ui);
}

/* The demo phone's current token code and seconds left in its step. */
static int phone_code(af_server *srv, char *out, size_t cap, int *left)
{
	json_t *dev = NULL;
	uint8_t secret[64];
	size_t n = 0;
	tc_totp_params p;
	tc_key *key = NULL;
	const char *b32;
	int64_t now = af_now();
	int rc = -1;

	if (af_mfa_device_get(srv->store, srv->demo_device_id, &dev) !=
	    AF_MFA_OK)
		return -1;
	b32 = json_string_value(json_object_get(dev, "totp_secret"));
	tc_totp_params_init(&p);
	if (b32 != NULL &&
	    tc_base32_decode(b32, strlen(b32), secret, sizeof(secret), &n) ==
		    TC_OK &&
	    tc_key_new(secret, n, TC_ALGO_SHA1, &key) == TC_OK &&
	    tc_totp(key, &p, now, out, cap) == TC_OK) {
		*left = (int)(p.step - (uint64_t)now % p.step);
		rc = 0;
	}
	tc_key_free(key);
	OPENSSL_cleanse(secret, sizeof(secret));
	af_mfa_device_free(dev);
	return rc;
}

/*
 * The number field of challenge n on the page (ids unique) and, for a tap
 * on a phone, a pad of digits that fills it (shown by /static/phone.js;
 * without script the field takes typing).
 */
static void number_pad(af_buf *b, size_t n)
{
	/*
	 * Required, so that a browser asks for the number when Approve is
	 * tapped first (Deny and Report skip the check: they need none).
	 */
	af_buf_printf(b,
		      "<label for=\"number-%zu\">Number shown on the sign-in "
		      "page</label><input type=\"text\" id=\"number-%zu\" "
		      "name=\"number\" inputmode=\"numeric\" maxlength=\"2\" "
		      "pattern=\"[0-9]{2}\" autocomplete=\"off\" required "
		      "data-number>",
		      n, n);
	af_page_digit_pad(b, "data-phone-digit", "data-phone-clear");
}

/* Where the sign-in came from and with what, as an app shows it. */
static void phone_context(af_buf *b, const json_t *pub)
{
	const char *browser =
		json_string_value(json_object_get(pub, "browser"));
	const char *ip = json_string_value(json_object_get(pub, "ip"));

	if (browser == NULL && ip == NULL)
		return;
	af_buf_puts(b, "<p>From ");
	af_buf_html(b, browser != NULL ? browser : "a browser");
	if (ip != NULL) {
		af_buf_puts(b, " at ");
		af_buf_html(b, ip);
	}
	af_buf_puts(b, ".</p>");
}

static void phone_challenge(af_buf *b, const af_server *srv, json_t *txn,
			    size_t n)
{
	json_t *pub = af_mfa_txn_public(txn, af_now());
	const char *id = json_string_value(json_object_get(txn, "id"));

	af_buf_puts(b, "<section><p><strong>");
	af_buf_html(b, json_string_value(json_object_get(pub, "user")) != NULL
			       ? json_string_value(json_object_get(pub, "user"))
			       : "?");
	af_buf_puts(b, "</strong> is signing in to <strong>");
	af_buf_html(b, json_string_value(json_object_get(pub, "app")) != NULL
			       ? json_string_value(json_object_get(pub, "app"))
			       : "?");
	af_buf_printf(b, "</strong> (<span data-left>%lld</span> s left).</p>",
		      (long long)json_integer_value(
			      json_object_get(pub, "expires_in")));
	phone_context(b, pub);
	af_buf_puts(b, "<form method=\"post\" action=\"/demo/phone\" "
		       "data-challenge><input type=\"hidden\" name=\"txn\" "
		       "value=\"");
	af_buf_html(b, id != NULL ? id : "");
	af_buf_puts(b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
	af_buf_html(b, srv->demo_phone_csrf);
	af_buf_puts(b, "\">");
	if (json_is_true(json_object_get(pub, "number_required")))
		number_pad(b, n);
	af_buf_puts(b, "<div class=\"row\"><button type=\"submit\" "
		       "name=\"decision\" value=\"approve\">Approve</button>"
		       "<button type=\"submit\" class=\"secondary\" "
		       "name=\"decision\" value=\"deny\" formnovalidate>"
		       "Deny</button><button type=\"submit\" "
		       "class=\"secondary\" name=\"decision\" "
		       "value=\"report\" formnovalidate>Not me: report"
		       "</button></div></form></section>");
	json_decref(pub);
}

/*
 * The demo phone's script: the number pad, live countdowns, and a reload
 * when a countdown ends or, with no challenge shown, every 3 s to find a
 * new one; never while a number is being typed.
 */
static const char phone_js[] =
	"(function(){\n"
	"var fields=document.querySelectorAll('[data-number]');\n"
	"function busy(){for(var k=0;k<fields.length;k++)"
	"if(fields[k].value.length>0)return true;return false;}\n"
	"function reload(){if(!busy())window.location.replace('/demo/phone');}\n"
	"var forms=document.querySelectorAll('[data-challenge]');\n"
	"for(var i=0;i<forms.length;i++){(function(form){"
	"var f=form.querySelector('[data-number]');if(!f)return;"
	"var pad=form.querySelectorAll('[data-phone-digit]');"
	"for(var j=0;j<pad.length;j++)pad[j].addEventListener('click',"
	"function(e){if(f.value.length<2)"
	"f.value+=e.target.getAttribute('data-phone-digit');});"
	"var clr=form.querySelector('[data-phone-clear]');"
	"if(clr)clr.addEventListener('click',function(){f.value='';});"
	"})(forms[i]);}\n"
	"var pads=document.querySelectorAll('.pad');\n"
	"for(var p=0;p<pads.length;p++)pads[p].hidden=false;\n"
	"var left=document.querySelectorAll('[data-left]');\n"
	"setInterval(function(){for(var j=0;j<left.length;j++){"
	"var n=parseInt(left[j].textContent,10)-1;"
	"left[j].textContent=n>0?n:0;if(n<=0)reload();}},1000);\n"
	"if(forms.length===0)setInterval(reload,3000);\n"
	"})();\n";

const char *af_demo_phone_js(void)
{
	return phone_js;
}

/*
 * What became of an answer (decision) from the demo phone, in plain
 * words: st and the txn's state after it (NULL unless st is AF_MFA_OK).
 */
static const char *answer_words(af_mfa_status st, const char *decision,
				const char *state)
{
	static const char *const words[][2] = {
		{"approved",
		 "Answer sent: approved. The sign-in goes on in the "
		 "other tab."},
		{"failed", "The number did not match: the sign-in was stopped. "
			   "Start it again at /demo."},
		{"denied", "Answer sent: denied. The sign-in was stopped."},
		{"reported",
		 "Answer sent: reported as not you. The sign-in was "
		 "stopped, and sign-in requests to this phone are "
		 "paused for a while."},
	};
	size_t i;

	switch (st) {
	case AF_MFA_OK:
		break;
	case AF_MFA_INVALID:
		/* Approve without the number: nothing was decided. */
		if (strcmp(decision, "approve") == 0)
			return "Type the number shown on the sign-in page, "
			       "then press Approve.";
		return "The answer could not be recorded. Try again.";
	case AF_MFA_EXPIRED:
		return "This request had run out of time: the sign-in was not "
		       "approved. Start it again at /demo.";
	case AF_MFA_DECIDED:
	case AF_MFA_NOT_FOUND:
		return "This request was already answered or has ended.";
	default:
		return "The answer could not be recorded. Try again.";
	}
	for (i = 0; state != NULL && i < sizeof(words) / sizeof(words[0]);
	     i++) {
		if (strcmp(state, words[i][0]) == 0)
			return words[i][1];
	}
	return "Answer sent.";
}

/* The phone answers as the device API lets a phone answer; no more. */
static int phone_decision_ok(const char *decision)
{
	return strcmp(decision, "approve") == 0 ||
	       strcmp(decision, "deny") == 0 || strcmp(decision, "report") == 0;
}

void af_h_demo_phone(af_server *srv, af_req *req, af_resp *resp)
{
	const char *decision = af_req_param(req, "decision");
	json_t *pending = NULL, *txn, *out = NULL;
	char code[TC_CODE_BUF];
	af_mfa_status st;
	const char *note = NULL;
	int left = 0;
	size_t i;
	af_buf b;

	if (req->form != NULL && decision != NULL) {
		if (!af_ct_streq(af_req_param(req, "csrf"),
				 srv->demo_phone_csrf)) {
			af_page_error(resp, 400, "Demo phone",
				      "The form has expired.",
				      "Open /demo/phone again.");
			return;
		}
		st = !phone_decision_ok(decision)
			     ? AF_MFA_INVALID
			     : af_mfa_txn_decide(srv->store,
						 af_req_param(req, "txn"),
						 srv->demo_device_id, decision,
						 af_req_param(req, "number"),
						 af_now(), &out);
		/* A report whose pause failed stands, as on a real phone. */
		if (st == AF_MFA_STORE && strcmp(decision, "report") == 0)
			st = af_device_report_stands(
				srv, req->rid, af_req_param(req, "txn"),
				srv->demo_device_id, af_now(), &out);
		note = answer_words(
			st, decision,
			json_string_value(json_object_get(out, "state")));
		/* Audited and counted as an answer from a real phone is. */
		if (st == AF_MFA_OK)
			af_device_decided(srv, req->client_ip, req->rid,
					  srv->demo_device_id,
					  af_req_param(req, "txn"), out);
	}
	if (af_mfa_txn_pending_for_device(srv->store, srv->demo_device_id,
					  af_now(), &pending) != AF_MFA_OK) {
		json_decref(pending);
		pending = NULL;
	}
	af_buf_init(&b, 65536);
	af_page_begin(&b, resp, "Demo phone");
	/*
	 * Without script the page looks for new challenges by reloading, but
	 * not while one is shown: a reload would wipe the number being typed.
	 */
	if (json_array_size(pending) == 0)
		af_buf_puts(&b, "<noscript><meta http-equiv=\"refresh\" "
				"content=\"5\"></noscript>");
	af_buf_puts(&b, "<h1>Demo phone</h1><p>This page plays alice's "
			"enrolled phone.</p>");
	if (note != NULL) {
		af_buf_puts(&b, "<p class=\"msg info\" role=\"status\">");
		af_buf_html(&b, note);
		af_buf_puts(&b, "</p>");
	}
	if (json_array_size(pending) > 0) {
		json_array_foreach(pending, i, txn)
		{
			json_t *full = NULL;

			if (af_mfa_txn_get(srv->store,
					   json_string_value(
						   json_object_get(txn, "txn")),
					   af_now(), &full) == AF_MFA_OK)
				phone_challenge(&b, srv, full, i);
			json_decref(full);
		}
	} else {
		af_buf_puts(&b, "<p>No sign-in request is waiting. Sign in at "
				"<a href=\"/demo\">/demo</a> in another tab, "
				"then reload this page.</p>");
	}
	if (phone_code(srv, code, sizeof(code), &left) == 0) {
		af_buf_printf(&b,
			      "<h2>Token code</h2><p class=\"number\">%s</p>"
			      "<p>Valid for <span data-left>%d</span> more "
			      "seconds.</p>",
			      code, left);
		OPENSSL_cleanse(code, sizeof(code));
	}
	af_buf_puts(&b, "<p><a href=\"/demo/phone\">Reload</a></p>"
			"<script src=\"/static/phone.js\"></script>");
	af_page_end(&b, resp);
	af_page_send(resp, 200, &b);
	json_decref(pending);
	json_decref(out);
}
