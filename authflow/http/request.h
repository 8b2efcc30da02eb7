/*
 * One HTTP request and its response, as the handlers see them. The MHD
 * glue (http/server.c) fills an af_req, calls the handler, then sends the
 * af_resp with the security headers every page carries.
 *
 * Thread-safety: a request and its response belong to the MHD worker
 * thread that handles the request.
 */
#ifndef AF_HTTP_REQUEST_H
#define AF_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/httpparse.h"
#include "http/buf.h"

struct MHD_Connection;
struct af_brand;

#define AF_RESP_HEADERS_MAX 32
/*
 * An answer's body: the admin API's lists of users, applications and
 * audit events are the largest (about 240 bytes a user: 100,000 users).
 */
#define AF_RESP_BODY_MAX    ((size_t)32 * 1024 * 1024)
#define AF_RID_LEN	    16
#define AF_RID_PREFIX_LEN   8 /* 6 random bytes in base64url */
/* Bytes of a request target the server reads (longer: 414). */
#define AF_REQ_URI_MAX	    8192

#define AF_REQ_BAD_QUERY 1
#define AF_REQ_BAD_FORM	 2

typedef struct af_req {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* without the query string */
	af_params *query;   /* never NULL */
	af_params *form;    /* urlencoded POST body, or NULL */
	const char *body;   /* raw body (NUL-terminated), or NULL */
	size_t body_len;
	/*
	 * The query string exactly as sent (after the '?', not decoded), or
	 * NULL when the target had no '?': the device API signs the raw
	 * request target.
	 */
	const char *raw_query;
	struct MHD_Connection *conn;
	char rid[AF_RID_LEN + 1];
	char client_ip[64];
	int https;	     /* the browser talks to us over https */
	int route;	     /* index of the matched route, for metrics */
	int duplicate_param; /* a query or form parameter came twice */
	/*
	 * The query string (AF_REQ_BAD_QUERY) or the form body
	 * (AF_REQ_BAD_FORM) could not be parsed; af_dispatch() answers in
	 * the route's own kind (a page, or a JSON error), with
	 * af_req_malformed_why(); too_many_params: because it held more than
	 * HP_PARAMS_MAX parameters.
	 */
	int malformed;
	int too_many_params;
	/*
	 * A slow request (af_route_slow()) that waited for a work queue
	 * thread longer than limits.request_timeout_s since it arrived: its
	 * handler answers "busy, try again" instead of doing the work.
	 */
	int overdue;
	/*
	 * Unit tests only: with conn NULL, af_req_header() reads the request
	 * headers from this NULL-terminated list of name, value pairs.
	 */
	const char *const *test_headers;
} af_req;

typedef struct af_resp_header {
	char *name;
	char *value;
} af_resp_header;

typedef struct af_resp {
	unsigned status;
	char content_type[80];
	af_buf body;
	af_resp_header headers[AF_RESP_HEADERS_MAX];
	size_t nheaders;
	int https;
	/*
	 * The branding the page shows (web/brand.h), lent by the router for
	 * the handler's call; NULL for the built-in look.
	 */
	struct af_brand *brand;
	/* The error code af_resp_oauth_error() sent (a literal), or NULL. */
	const char *oauth_error;
	/*
	 * Set by a slow handler (af_route_slow()) that hashed a password for
	 * this answer: only such runs teach the work queue how long its
	 * tasks take, not the forms refused before any hashing.
	 */
	int hashed;
} af_resp;

/*
 * A request header (case-insensitive name), or NULL. Without a
 * connection (conn NULL: unit tests) it comes from test_headers.
 */
const char *af_req_header(const af_req *req, const char *name);

/*
 * How many times the request carries header name (case-insensitive):
 * af_req_header() reads the first, a proxy in front may read the last.
 */
unsigned af_req_header_count(const af_req *req, const char *name);

/* The same of a libmicrohttpd connection (struct MHD_Connection *). */
unsigned af_conn_header_count(void *conn, const char *name);

/*
 * A cookie of the request into out. On https the name gets the "__Host-"
 * prefix, so the browser guarantees it was set by this host, Secure, for
 * path "/". Returns 0, or -1 when absent or too long.
 */
int af_req_cookie(const af_req *req, const char *name, char *out,
		  size_t outcap);

/*
 * A parameter from the query (GET, HEAD) or the form body (POST), or
 * NULL. Of a parameter given twice (req->duplicate_param), the first
 * value.
 */
const char *af_req_param(const af_req *req, const char *name);

/* Why req->malformed: a short English message, never NULL. */
const char *af_req_malformed_why(const af_req *req);

/* 1 when the parameter af_req_param() reads was given more than once. */
int af_req_param_repeated(const af_req *req, const char *name);

void af_resp_init(af_resp *resp, int https);
void af_resp_cleanup(af_resp *resp);

/* Adds (or replaces, for the same name) a header; copies both. */
void af_resp_header_set(af_resp *resp, const char *name, const char *value);

/*
 * 1 when a request with method is one for a route of method want: HEAD
 * is a GET without a body (libmicrohttpd drops it), so it is served
 * wherever GET is.
 */
int af_req_method_is(const char *want, const char *method);

/*
 * Adds method, and HEAD after GET, to the Allow header's value being
 * built in allow (cap bytes, *len of them used; "" to begin with).
 */
void af_allow_add(char *allow, size_t cap, size_t *len, const char *method);

/* Sets Retry-After to a wait in seconds (at least 1). */
void af_resp_retry_after(af_resp *resp, uint32_t wait_s);

/* Lends a header set so far, or NULL. */
const char *af_resp_header_get(const af_resp *resp, const char *name);

/* Sets status, content type and a copy of the body. */
void af_resp_text(af_resp *resp, unsigned status, const char *ctype,
		  const char *text);

/* Sets status and a JSON body; steals the reference to obj. */
void af_resp_json(af_resp *resp, unsigned status, json_t *obj);

/*
 * An RFC 6749 error: {"error": code, "error_description": desc} with the
 * status; 401 answers carry WWW-Authenticate (Basic for the token
 * endpoint's client auth, Bearer otherwise) as the RFCs ask. code must
 * be a string literal: resp keeps it (oauth_error) for the metrics.
 */
void af_resp_oauth_error(af_resp *resp, unsigned status, const char *code,
			 const char *desc);

/* A 302 (or 303 after a POST) redirect to url. */
void af_resp_redirect(af_resp *resp, unsigned status, const char *url);

/*
 * The Content-Security-Policy of every answer that sets none: its part up
 * to form-action's sources, and the rest. af_page_allow_form_target()
 * puts one more source between them.
 */
#define AF_CSP_HEAD                                                 \
	"default-src 'none'; style-src 'self'; script-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; form-action 'self'"
#define AF_CSP_TAIL "; frame-ancestors 'none'; base-uri 'none'"

/* af_resp_cookie() lifetimes besides a number of seconds. */
#define AF_COOKIE_SESSION                                               \
	(-1L)		   /* no Max-Age: dies with the browser session \
			    */
#define AF_COOKIE_CLEAR 0L /* Max-Age=0: deletes it */

/*
 * Sets a cookie: HttpOnly, SameSite=Lax, Path=/, and on https Secure and
 * the "__Host-" prefix; max_age_s seconds, AF_COOKIE_SESSION or
 * AF_COOKIE_CLEAR (the value is then left out).
 */
void af_resp_cookie(af_resp *resp, const char *name, const char *value,
		    long max_age_s);

/*
 * Before a cookie named prefix... is set: clears the oldest of those the
 * request carries (browsers send them first), a few at a time, so that
 * with the new one at most kept remain. A browser keeps some 180 cookies
 * per site and drops the oldest beyond, which could be the session's.
 */
void af_resp_cookies_prune(const af_req *req, af_resp *resp, const char *prefix,
			   size_t kept);

#endif /* AF_HTTP_REQUEST_H */
