/*
 * The route table: every endpoint of the interface contract, with the
 * methods it answers and the name it has in metrics.
 */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "demo/demo.h"
#include "device/device.h"
#include "http/health.h"
#include "oidc/oidc.h"
#include "server.h"
#include "web/account.h"
#include "web/brand.h"
#include "web/mfa_pages.h"
#include "web/page.h"
#include "web/pwchange.h"

typedef void (*af_handler)(af_server *srv, af_req *req, af_resp *resp);

enum { M_GET = 1, M_POST = 2, M_ANY = 0xff };

typedef struct af_route {
	const char *name;
	const char *path;
	int prefix; /* path is a prefix (ends with '/') */
	unsigned methods;
	af_handler get;
	af_handler post;
	unsigned flags; /* RF_* */
} af_route;

/* Answers with pages: gets the branding. */
#define RF_PAGE 1u
/*
 * Readable by scripts of any origin (OpenID Connect Core 5.3, Discovery
 * 4): public metadata and keys, and userinfo, which a bearer token alone
 * opens, so that no cookie of this site is ever sent or exposed.
 */
#define RF_CORS 2u

static void not_found(af_server *srv, af_resp *resp);

/* The store as the main loop checks it, once a second: no wait here. */
static void h_healthz(af_server *srv, af_req *req, af_resp *resp)
{
	int ok = af_store_health_up(&srv->store_health, af_mono_ns());

	(void)req;
	af_resp_json(resp, ok ? 200 : 503,
		     json_pack("{s:s, s:s}", "status", ok ? "ok" : "degraded",
			       "store", ok ? "ok" : "unavailable"));
}

/*
 * The counters tell whoever reads them how many sign-ins fail, lock or
 * wait, and when: enough to tune a password-spraying run. Only clients in
 * metrics.allow (their address as listen.trusted_proxies resolves it)
 * read them; the others are answered as for a page that does not exist,
 * so that a scan learns nothing, not even that they are here.
 */
static void h_metrics(af_server *srv, af_req *req, af_resp *resp)
{
	if (!af_ipnet_match(srv->cfg.metrics_allow, srv->cfg.nmetrics_allow,
			    req->client_ip)) {
		not_found(srv, resp);
		return;
	}
	af_metrics_keys(srv->metrics, af_keyring_days_left(srv->keys),
			af_keyring_days_left(srv->keys) <=
				(long)srv->cfg.key_alert_days);
	af_metrics_in_flight(srv->metrics, atomic_load(&srv->inflight));
	resp->status = 200;
	memcpy(resp->content_type, "text/plain; version=0.0.4",
	       sizeof("text/plain; version=0.0.4"));
	af_metrics_render(srv->metrics, &resp->body);
	if (srv->extra_metrics != NULL)
		srv->extra_metrics(srv->extra_metrics_arg, &resp->body);
}

/*
 * The admin API, for clients in admin.allow when it is set (their address
 * as listen.trusted_proxies resolves it); the others are answered as for
 * a page that does not exist, before any token is looked at, as /metrics
 * answers them.
 */
static void h_admin(af_server *srv, af_req *req, af_resp *resp)
{
	if (srv->cfg.admin_allow_set &&
	    !af_ipnet_match(srv->cfg.admin_allow, srv->cfg.nadmin_allow,
			    req->client_ip)) {
		not_found(srv, resp);
		return;
	}
	af_h_admin(srv, req, resp);
}

static void h_css(af_server *srv, af_req *req, af_resp *resp)
{
	(void)srv;
	(void)req;
	af_resp_header_set(resp, "Cache-Control", "public, max-age=3600");
	af_resp_text(resp, 200, "text/css; charset=utf-8", af_page_css());
}

/* Submits the form_post form; external so that the CSP needs no inline. */

static void send_js(af_resp *resp, const char *js)
{
	af_resp_header_set(resp, "Cache-Control", "public, max-age=3600");
	af_resp_text(resp, 200, "text/javascript; charset=utf-8", js);
}

static void h_formpost_js(af_server *srv, af_req *req, af_resp *resp)
{
	(void)srv;
	(void)req;
	send_js(resp, "document.getElementById('fp').submit();\n");
}

static void h_mfa_js(af_server *srv, af_req *req, af_resp *resp)
{
	(void)srv;
	(void)req;
	send_js(resp, af_mfa_js());
}

static void h_phone_js(af_server *srv, af_req *req, af_resp *resp)
{
	(void)srv;
	(void)req;
	send_js(resp, af_demo_phone_js());
}

/*
 * Branding files are named with the branding's version in the query, so a
 * browser may keep one long: a new branding comes under a new name. An
 * old name answers with the current content, briefly cached.
 */
static void brand_cache_header(const af_req *req, af_resp *resp)
{
	const char *v = hp_params_get(req->query, "v");
	const char *now = af_brand_version(resp->brand);

	af_resp_header_set(resp, "Cache-Control",
			   v != NULL && strcmp(v, now) == 0
				   ? "public, max-age=86400, immutable"
				   : "public, max-age=60");
}

static void h_brand_css(af_server *srv, af_req *req, af_resp *resp)
{
	(void)srv;
	brand_cache_header(req, resp);
	resp->status = 200;
	memcpy(resp->content_type, "text/css; charset=utf-8",
	       sizeof("text/css; charset=utf-8"));
	af_brand_css(resp->brand, &resp->body);
}

static void h_brand_logo(af_server *srv, af_req *req, af_resp *resp)
{
	const uint8_t *logo;
	const char *type;
	size_t len;

	(void)srv;
	if (af_brand_logo(resp->brand, &logo, &len, &type) != 0) {
		af_resp_header_set(resp, "Cache-Control", "no-store");
		af_resp_text(resp, 404, "text/plain; charset=utf-8",
			     "no logo\n");
		return;
	}
	brand_cache_header(req, resp);
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
	af_buf_append(&resp->body, logo, len);
}

static void h_root(af_server *srv, af_req *req, af_resp *resp)
{
	(void)req;
	if (srv->demo) {
		af_resp_redirect(resp, 302, "/demo");
		return;
	}
	/* Not found, but nothing went wrong: told, not warned. */
	af_page_info(resp, 404, "authflow",
		     "This is a sign-in service. Open the application you "
		     "want to use; it will bring you here when needed.");
}

static const af_route routes[] = {
	{"discovery", "/.well-known/openid-configuration", 0, M_GET,
	 af_h_discovery, NULL, RF_CORS},
	/* RFC 8414: the same metadata, where OAuth-only clients look. */
	{"discovery", "/.well-known/oauth-authorization-server", 0, M_GET,
	 af_h_discovery, NULL, RF_CORS},
	{"jwks", "/jwks", 0, M_GET, af_h_jwks, NULL, RF_CORS},
	{"authorize", "/authorize", 0, M_GET | M_POST, af_h_authorize,
	 af_h_authorize, RF_PAGE},
	{"token", "/token", 0, M_POST, NULL, af_h_token, 0},
	{"userinfo", "/userinfo", 0, M_GET | M_POST, af_h_userinfo,
	 af_h_userinfo, RF_CORS},
	{"logout", "/logout", 0, M_GET | M_POST, af_h_logout, af_h_logout,
	 RF_PAGE},
	{"revoke", "/revoke", 0, M_POST, NULL, af_h_revoke, 0},
	{"introspect", "/introspect", 0, M_POST, NULL, af_h_introspect, 0},
	{"login", "/login", 0, M_GET | M_POST, af_h_login_get, af_h_login_post,
	 RF_PAGE},
	{"password", "/login/password", 0, M_GET | M_POST, af_h_password_get,
	 af_h_password_post, RF_PAGE},
	{"mfa", "/login/mfa", 0, M_GET, af_h_mfa_page, NULL, RF_PAGE},
	{"account_password", "/account/password", 0, M_GET | M_POST,
	 af_h_account_password_get, af_h_account_password_post, RF_PAGE},
	{"account_sessions", "/account/sessions", 0, M_GET | M_POST,
	 af_h_account_sessions_get, af_h_account_sessions_post, RF_PAGE},
	{"mfa_status", "/login/mfa/status", 0, M_GET, af_h_mfa_status, NULL, 0},
	{"mfa_code", "/login/mfa/code", 0, M_POST, NULL, af_h_mfa_code,
	 RF_PAGE},
	{"mfa_cancel", "/login/mfa/cancel", 0, M_POST, NULL, af_h_mfa_cancel,
	 RF_PAGE},
	{"mfa_push", "/login/mfa/push", 0, M_POST, NULL, af_h_mfa_push,
	 RF_PAGE},
	{"enroll", "/enroll", 0, M_GET | M_POST, af_h_enroll, af_h_enroll_post,
	 RF_PAGE},
	{"device", "/device/v1/", 1, M_ANY, af_h_device, af_h_device, 0},
	{"admin", "/admin/v1/", 1, M_ANY, h_admin, h_admin, 0},
	{"healthz", "/healthz", 0, M_GET, h_healthz, NULL, 0},
	{"metrics", "/metrics", 0, M_GET, h_metrics, NULL, 0},
	{"static", "/static/authflow.css", 0, M_GET, h_css, NULL, 0},
	{"static", "/static/formpost.js", 0, M_GET, h_formpost_js, NULL, 0},
	{"static", "/static/mfa.js", 0, M_GET, h_mfa_js, NULL, 0},
	{"static", "/static/phone.js", 0, M_GET, h_phone_js, NULL, 0},
	{"static", "/static/brand.css", 0, M_GET, h_brand_css, NULL, RF_PAGE},
	{"static", "/static/brand-logo", 0, M_GET, h_brand_logo, NULL, RF_PAGE},
	{"demo", "/demo", 0, M_GET, af_h_demo, NULL, RF_PAGE},
	{"demo", "/demo/login", 0, M_GET, af_h_demo_login, NULL, RF_PAGE},
	{"demo", "/demo/phone", 0, M_GET | M_POST, af_h_demo_phone,
	 af_h_demo_phone, RF_PAGE},
	{"demo", "/demo/callback", 0, M_GET | M_POST, af_h_demo_callback,
	 af_h_demo_callback, RF_PAGE},
	{"root", "/", 0, M_GET, h_root, NULL, RF_PAGE},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

const char *af_route_name(size_t i)
{
	return i < NROUTES ? routes[i].name : "unknown";
}

size_t af_route_count(void)
{
	return NROUTES + 1; /* the last: no route matched */
}

static unsigned method_bit(const char *method)
{
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return M_GET;
	if (strcmp(method, "POST") == 0)
		return M_POST;
	return 4;
}

int af_route_find(const char *method, const char *path, int *method_ok)
{
	size_t i;

	for (i = 0; i < NROUTES; i++) {
		const af_route *r = &routes[i];

		if (r->prefix ? strncmp(path, r->path, strlen(r->path)) != 0
			      : strcmp(path, r->path) != 0)
			continue;
		*method_ok = (r->methods & method_bit(method)) != 0;
		return (int)i;
	}
	*method_ok = 0;
	return (int)NROUTES;
}

af_early af_dispatch_early(af_server *srv, af_req *req, af_resp *resp)
{
	af_early e;

	/*
	 * What af_dispatch() refuses, it refuses on the queue; only the
	 * sign-in form has a part that runs before it.
	 */
	if (!af_route_slow(req->route, req->method) || req->malformed ||
	    routes[req->route].post != af_h_login_post)
		return AF_EARLY_QUEUE;
	resp->brand = af_brand_cache_get(srv->brand);
	e = af_h_login_post_early(srv, req, resp);
	af_brand_release(resp->brand);
	resp->brand = NULL;
	return e;
}

int af_route_slow(int route, const char *method)
{
	/*
	 * The sign-in form's POST checks the password with Argon2id, the
	 * new-password forms' hash one and compare it with the old (and
	 * the account's check the current one first).
	 */
	return route >= 0 && (size_t)route < NROUTES &&
	       (routes[route].post == af_h_login_post ||
		routes[route].post == af_h_password_post ||
		routes[route].post == af_h_account_password_post) &&
	       method_bit(method) == M_POST;
}

/* The "no page here" page, in the service's branding. */
static void not_found(af_server *srv, af_resp *resp)
{
	resp->brand = af_brand_cache_get(srv->brand);
	af_page_error(resp, 404, "Page not found",
		      "There is no page at this address.", NULL);
	af_brand_release(resp->brand);
	resp->brand = NULL;
}

/*
 * A query string or form body that cannot be read, in the route's kind:
 * a page, the admin and device APIs' {"error", "message"}, or an OAuth
 * error.
 */
static void bad_request(const af_req *req, af_resp *resp, const af_route *r)
{
	const char *what = af_req_malformed_why(req);

	if (r->flags & RF_PAGE)
		af_page_error(resp, 400, "Request not understood",
			      "The address or the form sent here could not be "
			      "read.",
			      "Go back to the application and try again.");
	else if (r->methods == M_ANY)
		af_resp_json(resp, 400,
			     json_pack("{s:s, s:s}", "error", "bad_request",
				       "message", what));
	else
		af_resp_oauth_error(resp, 400, "invalid_request", what);
}

void af_route_refuse(int route, af_resp *resp, unsigned status,
		     const char *what)
{
	const af_route *r =
		route >= 0 && (size_t)route < NROUTES ? &routes[route] : NULL;
	char text[128];

	if (r == NULL) {
		snprintf(text, sizeof(text), "%s\n", what);
		af_resp_text(resp, status, "text/plain; charset=utf-8", text);
	} else if (r->flags & RF_PAGE) {
		af_page_error(resp, status, "Request not understood",
			      "What was sent here is too large, or could not "
			      "be read.",
			      "Go back to the application and try again.");
	} else if (r->methods == M_ANY) {
		af_resp_json(resp, status,
			     json_pack("{s:s, s:s}", "error", "bad_request",
				       "message", what));
	} else {
		af_resp_oauth_error(resp, status, "invalid_request", what);
	}
}

/* The methods a route answers, for Allow and CORS preflights. */
static const char *allowed(const af_route *r)
{
	return r->get != NULL && r->post != NULL ? "GET, HEAD, POST"
	       : r->get != NULL			 ? "GET, HEAD"
						 : "POST";
}

/*
 * Every answer of a CORS route may be read by any origin, errors too, so
 * that a script learns why a token was refused; a preflight (OPTIONS)
 * lets it send the Authorization header. No credentials are allowed: a
 * cookie never opens these routes.
 */
static int cors(const af_route *r, const af_req *req, af_resp *resp)
{
	af_resp_header_set(resp, "Access-Control-Allow-Origin", "*");
	af_resp_header_set(resp, "Access-Control-Expose-Headers",
			   "WWW-Authenticate");
	if (strcmp(req->method, "OPTIONS") != 0)
		return 0;
	af_resp_header_set(resp, "Access-Control-Allow-Methods", allowed(r));
	af_resp_header_set(resp, "Access-Control-Allow-Headers",
			   "Authorization, Content-Type");
	af_resp_header_set(resp, "Access-Control-Max-Age", "600");
	af_resp_header_set(resp, "Allow", allowed(r));
	af_resp_text(resp, 204, "", "");
	return 1;
}

void af_dispatch(af_server *srv, af_req *req, af_resp *resp)
{
	const af_route *r;
	af_handler h;

	if (req->route < 0 || (size_t)req->route >= NROUTES) {
		not_found(srv, resp);
		return;
	}
	r = &routes[req->route];
	if ((r->flags & RF_CORS) && cors(r, req, resp))
		return;
	/*
	 * The admin API checks the token first (a request without one is
	 * 401 whatever else is wrong with it, and logged as such), then
	 * refuses what it cannot read itself.
	 */
	if (req->malformed && !(r->flags & RF_PAGE) && r->get != h_admin) {
		bad_request(req, resp, r);
		return;
	}
	if (r->methods == M_ANY) {
		r->get(srv, req, resp);
		return;
	}
	h = method_bit(req->method) == M_POST ? r->post : r->get;
	if (h == NULL || (r->methods & method_bit(req->method)) == 0) {
		/* HEAD is answered wherever GET is. */
		af_resp_header_set(resp, "Allow", allowed(r));
		/*
		 * A page's address opened the wrong way, such as the token
		 * code form's, in the address bar after a wrong code: a
		 * page that says what to do, not a line of text.
		 */
		if (r->flags & RF_PAGE) {
			resp->brand = af_brand_cache_get(srv->brand);
			af_page_error(resp, 405, "Page not available",
				      "This address takes a form sent from "
				      "a sign-in page; it cannot be opened "
				      "on its own.",
				      "Go back to the application and sign "
				      "in again.");
			af_brand_release(resp->brand);
			resp->brand = NULL;
		} else
			af_resp_oauth_error(resp, 405, "invalid_request",
					    "method not allowed");
		return;
	}
	if (!srv->demo && strncmp(r->path, "/demo", 5) == 0) {
		not_found(srv, resp);
		return;
	}
	if (strncmp(r->path, "/demo", 5) == 0 && !af_demo_host_ok(srv, req)) {
		af_page_error(resp, 421, "Wrong address",
			      "The demo answers only at its own address.",
			      "Open the demo at the address it printed when "
			      "it started.");
		return;
	}
	if (r->flags & RF_PAGE)
		resp->brand = af_brand_cache_get(srv->brand);
	if (req->malformed)
		bad_request(req, resp, r);
	else
		h(srv, req, resp);
	af_brand_release(resp->brand);
	resp->brand = NULL;
}
