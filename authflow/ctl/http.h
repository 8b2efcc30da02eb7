/*
 * The HTTP client of authflowctl: sends a request to the admin API
 * (<base URL>/admin/v1/<path>) with the bearer token and an optional JSON
 * body through the shared client of common/httpc.h, and hands back the
 * status and the parsed JSON answer.
 *
 * The shared client keeps the safety rules (no redirects, only http and
 * https, time limits, a capped answer, wiped copies); this module adds
 * the admin API's part:
 * - connecting may take AF_CTL_HTTP_CONNECT_TIMEOUT_S seconds and the
 *   whole exchange AF_CTL_HTTP_TIMEOUT_S;
 * - an answer is read up to AF_CTL_HTTP_BODY_MAX bytes, no further;
 * - the token is never printed or put into an error message, and every
 *   copy of it and of the request body that this module makes is wiped
 *   before it is freed.
 *
 * The af_secmem_* functions are a wiping allocator (each block is wiped
 * with OPENSSL_cleanse before it goes back to the C library). main()
 * installs them once, before anything else runs, with
 * af_httpc_global_init(), so that the copies jansson and libcurl make of
 * passwords, tokens and client secrets are wiped as well.
 *
 * Thread-safety: an af_ctl_http belongs to one thread at a time (as the
 * curl easy handle of its af_httpc does). The af_secmem_* functions are
 * re-entrant.
 */
#ifndef AUTHFLOW_CTL_HTTP_H
#define AUTHFLOW_CTL_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "common/httpc.h"

#if defined(__GNUC__)
#define AF_CTL_HTTP_NODISCARD __attribute__((warn_unused_result))
#else
#define AF_CTL_HTTP_NODISCARD
#endif

/* AF_CTL_HTTP_TOKEN_MAX (below) as a string literal, for its message. */
#define AF_CTL_HTTP_STR_(x)    #x
#define AF_CTL_HTTP_STR(x)     AF_CTL_HTTP_STR_(x)
#define AF_CTL_HTTP_TOKEN_TEXT AF_CTL_HTTP_STR(AF_CTL_HTTP_TOKEN_MAX)

#define AF_CTL_HTTP_STATUS_MAP(XX)                                         \
	XX(OK, 0, "success")                                               \
	XX(ERR_ARG, -1, "invalid argument")                                \
	XX(ERR_NOMEM, -2, "out of memory")                                 \
	XX(ERR_URL, -3,                                                    \
	   "the server URL must be http:// or https:// "                   \
	   "followed by a host, without a user, spaces, '?' or '#'")       \
	XX(ERR_TOKEN, -4,                                                  \
	   "the admin token must be a bearer token: letters, digits and "  \
	   "-._~+/ then any '='s")                                         \
	XX(ERR_TOO_LONG, -5, "request path too long")                      \
	XX(ERR_UNREACHABLE, -6, "cannot reach the server")                 \
	XX(ERR_TOO_BIG, -7, "the server's answer is too large")            \
	XX(ERR_CURL, -8, "HTTP client failure")                            \
	XX(ERR_PORT, -9,                                                   \
	   "the server URL's port must be a number from 1 to "             \
	   "65535")                                                        \
	XX(ERR_TOKEN_LONG, -10,                                            \
	   "the admin token is too long (at most " AF_CTL_HTTP_TOKEN_TEXT  \
	   " bytes)")                                                      \
	XX(ERR_PLAIN, -11,                                                 \
	   "http:// would send the admin token in clear text to another "  \
	   "host: use https:// (http:// only to this host: 127.0.0.1, "    \
	   "[::1] or localhost)")                                          \
	XX(ERR_CA_FILE, -12,                                               \
	   "AUTHFLOW_CA_FILE must name a readable file (PEM certificates " \
	   "of the CAs to trust)")

typedef enum af_ctl_http_status {
#define AF_CTL_HTTP_XX(name, value, text) AF_CTL_HTTP_##name = (value),
	AF_CTL_HTTP_STATUS_MAP(AF_CTL_HTTP_XX)
#undef AF_CTL_HTTP_XX
} af_ctl_http_status;

/* A static, never NULL, English message for a status. */
const char *af_ctl_http_strerror(af_ctl_http_status st);

#define AF_CTL_HTTP_URL_MAX	      AF_HTTPC_URL_MAX /* bytes of the base URL */
/* Bytes of the admin token; a plain number, as a message spells it out. */
#define AF_CTL_HTTP_TOKEN_MAX	      4096
#define AF_CTL_HTTP_PATH_MAX	      8192 /* bytes of a path after /admin/v1/ */
#define AF_CTL_HTTP_BODY_MAX	      ((size_t)32 * 1024 * 1024) /* answer bytes */
#define AF_CTL_HTTP_CONNECT_TIMEOUT_S 10L
#define AF_CTL_HTTP_TIMEOUT_S	      30L
#define AF_CTL_HTTP_ERR_BUF	      384 /* a comfortable size for err */

typedef struct af_ctl_http af_ctl_http;

/*
 * Makes a client for the server at base_url ("http://host:port" or
 * "https://...", optionally with a path prefix; trailing slashes are
 * dropped) that sends token (NULL: no Authorization header). Both are
 * lent and copied; the caller may wipe its own copy of the token at once.
 * The token must be 1..AF_CTL_HTTP_TOKEN_MAX bytes of visible ASCII,
 * which also keeps it from splitting the header it travels in.
 * AF_CTL_HTTP_OK and *out (free with af_ctl_http_free()),
 * AF_CTL_HTTP_ERR_ARG, AF_CTL_HTTP_ERR_URL, AF_CTL_HTTP_ERR_PORT (an
 * http(s) URL whose port is not 1..65535), AF_CTL_HTTP_ERR_PLAIN (a
 * token for an http:// URL whose host is not loopback), AF_CTL_HTTP_ERR_TOKEN,
 * AF_CTL_HTTP_ERR_TOKEN_LONG, AF_CTL_HTTP_ERR_NOMEM or
 * AF_CTL_HTTP_ERR_CURL.
 */
AF_CTL_HTTP_NODISCARD af_ctl_http_status af_ctl_http_new(const char *base_url,
							 const char *token,
							 af_ctl_http **out);

/* Wipes the token and frees the client. Accepts NULL. */
void af_ctl_http_free(af_ctl_http *h);

/*
 * Builds a request path from tmpl, in which each "{}" is replaced by the
 * next of the nargs strings of args, percent-encoded with
 * curl_easy_escape() (so "/", "?", "#", "%" and spaces in a name stay
 * inside its segment); a name of only dots is encoded as "%2E"s so that
 * it is not taken as "." or "..". The number of "{}" must equal nargs and
 * no argument may be empty. Writes the NUL-terminated path into out.
 * AF_CTL_HTTP_OK, AF_CTL_HTTP_ERR_ARG, AF_CTL_HTTP_ERR_TOO_LONG (more
 * than cap - 1 or AF_CTL_HTTP_PATH_MAX bytes) or AF_CTL_HTTP_ERR_NOMEM.
 */
AF_CTL_HTTP_NODISCARD af_ctl_http_status
af_ctl_http_path(af_ctl_http *h, char *out, size_t cap, const char *tmpl,
		 const char *const *args, size_t nargs);

/*
 * Appends "&name=value" (or "?name=value" when path has no query yet) to
 * the NUL-terminated path in out (cap bytes), value percent-encoded with
 * curl_easy_escape(). AF_CTL_HTTP_OK, AF_CTL_HTTP_ERR_ARG (an empty
 * value), AF_CTL_HTTP_ERR_TOO_LONG or AF_CTL_HTTP_ERR_NOMEM; out is left
 * as it was on failure.
 */
AF_CTL_HTTP_NODISCARD af_ctl_http_status af_ctl_http_query_add(
	char *out, size_t cap, const char *name, const char *value);

/*
 * Sends method ("GET", "POST", "PUT", "PATCH" or "DELETE") to
 * <base URL>/admin/v1/<path> (path from af_ctl_http_path(), without a
 * leading '/'). body (lent; may be NULL) is sent as compact JSON with
 * POST, PUT and PATCH, which send "{}" when it is NULL; GET and DELETE
 * send no body. On AF_CTL_HTTP_OK, *status is the HTTP status and
 * *answer the parsed JSON answer (a new reference), or NULL when the
 * answer was empty or not JSON. On any other status, err (may be NULL)
 * holds one line for a human without the token:
 * AF_CTL_HTTP_ERR_UNREACHABLE (connect, TLS, timeout or protocol
 * failure), AF_CTL_HTTP_ERR_TOO_BIG (over AF_CTL_HTTP_BODY_MAX),
 * AF_CTL_HTTP_ERR_ARG, AF_CTL_HTTP_ERR_TOO_LONG, AF_CTL_HTTP_ERR_NOMEM or
 * AF_CTL_HTTP_ERR_CURL.
 */
AF_CTL_HTTP_NODISCARD af_ctl_http_status
af_ctl_http_request(af_ctl_http *h, const char *method, const char *path,
		    const json_t *body, long *status, json_t **answer,
		    char *err, size_t errlen);

/* The wiping allocator lives in common/secmem.h. */
#include "common/secmem.h"

#endif /* AUTHFLOW_CTL_HTTP_H */
