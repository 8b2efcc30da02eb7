/*
 * Demo mode: `authflow --demo` seeds a user, a policy and an application
 * in a memory store, and serves a built-in relying party at /demo that
 * runs the real code flow (with PKCE) against this server over HTTP and
 * shows the verified id_token claims.
 *
 * Thread-safety: the handlers are re-entrant.
 */
#ifndef AF_DEMO_H
#define AF_DEMO_H

#include <stdbool.h>

#include "http/request.h"
#include "server.h"

#define AF_DEMO_USER	 "alice"
#define AF_DEMO_PASSWORD "alice-demo-pass"
#define AF_DEMO_APP	 "demo"

/*
 * Seeds the demo data (idempotent: existing entries are kept), gives the
 * demo app a fresh client secret, and writes state_dir/demo.json (mode
 * 0600) with issuer, metadata_url, client_id, client_secret, redirect_uri,
 * admin_token, username and password. 0, or -1 with a reason in err.
 */
int af_demo_setup(af_server *srv, const char *admin_token, char *err,
		  size_t errlen);

/* GET /demo: the demo relying party's page. */
void af_h_demo(af_server *srv, af_req *req, af_resp *resp);

/* GET /demo/login: starts a sign-in at /authorize. */
void af_h_demo_login(af_server *srv, af_req *req, af_resp *resp);

/* GET|POST /demo/callback: finishes it and shows the claims. */
void af_h_demo_callback(af_server *srv, af_req *req, af_resp *resp);

/*
 * GET|POST /demo/phone: alice's demo phone: pending challenges with user
 * and app, approve/deny/report with the number, and the current token
 * code with its countdown.
 */
void af_h_demo_phone(af_server *srv, af_req *req, af_resp *resp);

/* The demo phone page's script, served at /static/phone.js. */
const char *af_demo_phone_js(void);

/*
 * Whether a demo page was asked for at the demo's own address: the Host
 * of the request is the issuer's, or localhost with its port. A page
 * asked for under another name (a site's name rebound to 127.0.0.1, a
 * DNS rebinding attack) answers nothing: the demo phone shows a live
 * token code and answers pushes without a password.
 */
bool af_demo_host_ok(const af_server *srv, const af_req *req);

#endif /* AF_DEMO_H */
