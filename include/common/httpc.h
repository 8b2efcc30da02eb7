/*
 * The HTTP client that authflowctl and idsim share: one libcurl easy
 * handle that sends one request with a JSON (or no) body and hands back
 * the HTTP status and the parsed JSON answer. What differs between the
 * two programs (the admin bearer token, the device request signature,
 * the URL layout) stays in their own modules; they pass it in as header
 * lines and a URL.
 *
 * Safety rules kept here, once:
 * - redirects are never followed (a redirect could carry a token to
 *   another host, or change a signed target), only http and https are
 *   spoken, and the path is sent as is, unnormalised, so that what was
 *   signed is what is sent;
 * - connecting and the whole exchange each have a time limit the caller
 *   names in the request;
 * - an answer is read up to the request's answer_max bytes, no further;
 * - every header line and every copy of the answer this module makes is
 *   wiped before it is freed, since they carry tokens, client secrets and
 *   TOTP seeds. The body is sent from the caller's buffer, never copied.
 *
 * Thread-safety: an af_httpc belongs to one thread at a time (as its curl
 * easy handle does). af_httpc_global_init() and af_httpc_global_cleanup()
 * run once in main(), before and after any other thread; the other
 * functions are re-entrant.
 */
#ifndef COMMON_HTTPC_H
#define COMMON_HTTPC_H

#include <stddef.h>

#include <jansson.h>

#if defined(__GNUC__)
#define AF_HTTPC_NODISCARD __attribute__((warn_unused_result))
#else
#define AF_HTTPC_NODISCARD
#endif

#define AF_HTTPC_STATUS_MAP(XX)                                      \
	XX(OK, 0, "success")                                         \
	XX(ERR_ARG, -1, "invalid argument")                          \
	XX(ERR_NOMEM, -2, "out of memory")                           \
	XX(ERR_URL, -3,                                              \
	   "the server URL must be http:// or https:// followed by " \
	   "a host, without spaces, '?' or '#'")                     \
	XX(ERR_UNREACHABLE, -4, "cannot reach the server")           \
	XX(ERR_TOO_BIG, -5, "the server's answer is too large")      \
	XX(ERR_CURL, -6, "HTTP client failure")                      \
	XX(ERR_CA_FILE, -7,                                          \
	   "AUTHFLOW_CA_FILE must name a readable file (PEM "        \
	   "certificates of the CAs to trust)")

typedef enum af_httpc_status {
#define AF_HTTPC_XX(name, value, text) AF_HTTPC_##name = (value),
	AF_HTTPC_STATUS_MAP(AF_HTTPC_XX)
#undef AF_HTTPC_XX
} af_httpc_status;

/* A static, never NULL, English message for a status. */
const char *af_httpc_strerror(af_httpc_status st);

#define AF_HTTPC_URL_MAX     2048 /* bytes of a base URL */
#define AF_HTTPC_HEADERS_MAX 8	  /* extra header lines of one request */
#define AF_HTTPC_ANSWER_MAX  ((size_t)64 * 1024 * 1024) /* largest cap */

/*
 * Installs the wiping allocator of common/secmem.h into jansson and
 * libcurl and starts libcurl, so that every copy either library makes of
 * a password, token, key or secret is wiped when freed. Call it first in
 * main(), before any other call into either library and before threads.
 * AF_HTTPC_OK or AF_HTTPC_ERR_CURL.
 */
AF_HTTPC_NODISCARD af_httpc_status af_httpc_global_init(void);

/* Stops libcurl; once at the end of main(), after every af_httpc_free(). */
void af_httpc_global_cleanup(void);

/*
 * Whether s is 1..max bytes of visible ASCII (0x21..0x7e): no blanks, no
 * CR or LF that could split a header line. 1 or 0; 0 for NULL.
 */
int af_httpc_visible_ascii(const char *s, size_t max);

/*
 * Checks a base URL: "http://" or "https://" (any case), a host, maybe a
 * path prefix, visible ASCII up to AF_HTTPC_URL_MAX bytes, no '?' or '#'
 * (the caller appends its own path), no user or password, and a URL
 * libcurl parses. *len is its
 * length without trailing slashes, *path_at where its path prefix starts (*len
 * when it has none). AF_HTTPC_OK, AF_HTTPC_ERR_ARG or AF_HTTPC_ERR_URL.
 */
AF_HTTPC_NODISCARD af_httpc_status af_httpc_base_url(const char *url,
						     size_t *len,
						     size_t *path_at);

/*
 * Whether url, a valid http(s) URL, is http:// to a host other than this
 * one: 127.0.0.0/8, ::1 (also IPv4-mapped) or localhost, by name, not
 * resolved. Its secrets would cross the network in clear text.
 */
int af_httpc_plain_remote(const char *url);

/*
 * Whether method carries a body: 1 for "POST", "PUT" and "PATCH", 0 for
 * "GET" and "DELETE", -1 for anything else (which af_httpc_send()
 * refuses).
 */
int af_httpc_method_body(const char *method);

/*
 * The body of a request as compact JSON: body (lent), or "{}" when body
 * is NULL. A new string to free with af_httpc_body_free(); NULL on no
 * memory (or text that is not valid JSON).
 */
char *af_httpc_body_text(const json_t *body);

/*
 * Wipes and frees a string from af_httpc_body_text(), or any text from
 * json_dumps(), with jansson's own free (which may be the wiping
 * allocator). Accepts NULL.
 */
void af_httpc_body_free(char *text);

/* One request; every pointer is lent for the call. */
typedef struct af_httpc_request {
	const char *method; /* "GET", "POST", "PUT", "PATCH" or "DELETE" */
	const char *url;    /* the whole URL, checked by libcurl */
	const char *const *headers; /* nheaders lines "Name: value" */
	size_t nheaders;	    /* 0..AF_HTTPC_HEADERS_MAX */
	const char *body;	/* with a method that carries one, else NULL */
	size_t answer_max;	/* 1..AF_HTTPC_ANSWER_MAX bytes */
	long connect_timeout_s; /* 1 or more */
	long timeout_s;		/* 1 or more: the whole exchange */
} af_httpc_request;

typedef struct af_httpc af_httpc;

#define AF_HTTPC_CA_ENV "AUTHFLOW_CA_FILE"

/*
 * Makes a client that sends user_agent (copied; visible ASCII) with
 * every request. AF_HTTPC_OK and *out (free with af_httpc_free()),
 * AF_HTTPC_ERR_ARG, AF_HTTPC_ERR_NOMEM or AF_HTTPC_ERR_CURL.
 * AF_HTTPC_CA_ENV in the environment names a PEM file of the CAs that
 * https servers are checked against instead of the system's (an
 * organisation's own CA). One that is not a regular file this process
 * may read fails each request with AF_HTTPC_ERR_CA_FILE before anything
 * is sent (a FIFO would block it for ever); one whose contents are no
 * certificates fails each https request with libcurl's reason.
 */
AF_HTTPC_NODISCARD af_httpc_status af_httpc_new(const char *user_agent,
						af_httpc **out);

/* Frees the client. Accepts NULL. */
void af_httpc_free(af_httpc *c);

/*
 * Sends req. The request carries "Accept: application/json", an empty
 * "Expect:" (no 100-continue round trip), "Content-Type:
 * application/json" when it has a body, then req->headers in order. On
 * AF_HTTPC_OK, *status is the HTTP status and *answer the parsed JSON
 * answer (a new reference), or NULL when the answer was empty or not
 * JSON. On any other status, err (may be NULL) holds one line for a
 * human that repeats no header: AF_HTTPC_ERR_UNREACHABLE (connect, TLS,
 * timeout or protocol failure), AF_HTTPC_ERR_TOO_BIG (over
 * req->answer_max), AF_HTTPC_ERR_NOMEM, AF_HTTPC_ERR_CURL, or
 * AF_HTTPC_ERR_ARG (a missing field, an unknown method, a body with
 * GET or DELETE or none with the others, a cap out of range), which
 * leaves err empty.
 */
AF_HTTPC_NODISCARD af_httpc_status af_httpc_send(af_httpc *c,
						 const af_httpc_request *req,
						 long *status, json_t **answer,
						 char *err, size_t errlen);

#endif /* COMMON_HTTPC_H */
