/*
 * What the fuzz targets of the server's endpoints share: a server context
 * on a fresh memory store (no HTTP daemon: handlers are called as the
 * router calls them), the directory entries an input needs, requests made
 * by hand, and the placeholders that stand in an input for what a fuzzer
 * cannot guess (a live code, a flow's CSRF token, a password).
 *
 * Every helper aborts when the world cannot be made as asked: that is a
 * broken harness, not a finding.
 */
#ifndef AF_FUZZ_WORLD_H
#define AF_FUZZ_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "directory/throttle.h"
#include "http/buf.h"
#include "http/request.h"
#include "server.h"

#define FZ_ISSUER "http://127.0.0.1:8080"

typedef struct fz_world {
	af_server srv;
	int logfd;
} fz_world;

/*
 * A server on a fresh memory store with a cheap Argon2id cost and the
 * built-in password blocklist, logging to /dev/null; with keys, the key
 * ring of the process (made at the first call: an RSA key costs a good
 * part of a second).
 */
void fz_world_open(fz_world *w, int keys);
void fz_world_close(fz_world *w);

/* A user (new reference to the stored one when out is not NULL). */
void fz_user(fz_world *w, const char *spec_json, const char *password,
	     json_t **out);
void fz_policy(fz_world *w, const char *spec_json);
/* An application profile: its client id (AF_DIR_CLIENT_ID_BUF) and,
 * when secret is not NULL, its secret (AF_DIR_SECRET_BUF). */
void fz_client(fz_world *w, const char *spec_json, char *id, char *secret);

/*
 * An SSO session of user (as the directory has them), signed in with a
 * password now: the Cookie header's "name=value" into cookie (cap
 * bytes), its public id into sid (AF_SID_MAX, may be NULL).
 */
void fz_session(fz_world *w, const json_t *user, char *cookie, size_t cap,
		char *sid);
/* The same, signed in with the phone too when mfa is not 0. */
void fz_session_of(fz_world *w, const json_t *user, int mfa, char *cookie,
		   size_t cap, char *sid);

/*
 * A live authorization code of client for user, for redirect, with PKCE
 * challenge when not NULL (scope "openid profile email offline_access"),
 * into out (AF_TOKEN_TEXT_MAX + 1).
 */
void fz_code(fz_world *w, const char *client, const char *redirect,
	     const json_t *user, const char *challenge, char *out);

/* "Basic base64(id:secret)" into out (cap bytes): client_secret_basic. */
void fz_basic(const char *id, const char *secret, char *out, size_t cap);

/* Whether the SSO session of cookie ("name=value") still stands. */
int fz_session_live(fz_world *w, const char *cookie);

/* Whether password signs username in now (nothing counted). */
int fz_password_is(fz_world *w, const char *username, const char *password);

/*
 * Runs FZ_CLIENT_IP into a wait at door, as failed secrets before would:
 * past the default ip_delay_after of 20 each failure doubles the wait,
 * so the 25 counted leave 16 s or more (no input outlasts it).
 */
void fz_door_held(fz_world *w, af_throttle_door door);

/* The first header name of resp, or NULL. */
const char *fz_header(const af_resp *resp, const char *name);

/* The text after mark in s, up to stop (NUL: the end), into out. */
void fz_copy_after(const char *s, const char *mark, char stop, char *out,
		   size_t cap);

/* A placeholder: "$" key in an input stands for value. */
typedef struct fz_subst {
	char key;
	const char *value;
} fz_subst;

/* Whether text (len bytes) holds placeholder "$" c. */
int fz_has(const char *text, size_t len, char c);

/* text (len bytes) with its placeholders put in (subs ends with key 0). */
void fz_expand(const fz_subst *subs, const char *text, size_t len, af_buf *b);

/*
 * The next request of an input of requests each ended by a NUL byte and
 * led by a flags byte: 1 and its flags and text, or 0 at the end. *p
 * moves on.
 */
int fz_next(const char **p, const char *end, unsigned *flags, const char **text,
	    size_t *len);

/* One request of an input: its flags byte and its text. */
typedef void fz_call_fn(void *arg, unsigned flags, const char *text,
			size_t len);

/* Calls fn on each of the first max requests of data (see fz_next()). */
void fz_each(const uint8_t *data, size_t size, int max, fz_call_fn *fn,
	     void *arg);

/*
 * Makes req a request of method on path with a query or form (text of
 * len bytes, as a browser sends it) and headers (name, value, ..., NULL;
 * lent). 0, or -1 when the parser refuses text (a repeated name is
 * kept, as the server keeps it); fz_request_free() either way. It comes
 * from FZ_CLIENT_IP, so that what is counted per client address (failed
 * sign-ins and client secrets, sign-ins begun) is counted as it is live.
 */
#define FZ_CLIENT_IP "192.0.2.1"
int fz_request(af_req *req, const char *method, const char *path,
	       const char *text, size_t len, const char **headers);
void fz_request_free(af_req *req);

/* Whether url is a page of this server ("/..." and not "//..."). */
int fz_own_page(const char *url);

/*
 * Aborts unless every form of resp's page posts to a page of this server
 * or, when allowed is not NULL, to exactly allowed.
 */
void fz_forms_post_to(const af_resp *resp, const char *allowed);

/*
 * Whether resp signs someone in: a redirect to redirect (the client's
 * registered URI) with a code, or an SSO session cookie. Aborts when it
 * redirects anywhere else than there or a page of this server.
 */
int fz_signed_in(const af_resp *resp, const char *redirect);

/* A sign-in begun as a browser begins one. */
typedef struct fz_signin {
	char flow[128];
	char csrf[128];
	char cookie[512]; /* the flow's binding cookie, "name=value" */
} fz_signin;

/*
 * GET /authorize (no session) for client and its redirect URI (already
 * percent-encoded), which answers with the sign-in form; then the same
 * form at GET /login.
 */
void fz_begin(fz_world *w, const char *client, const char *redirect_enc,
	      fz_signin *s);

#endif /* AF_FUZZ_WORLD_H */
