/* The admin API client of authflowctl over the shared HTTP client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "common/httpc.h"
#include "common/httpparse.h"
#include "http.h"

#define API_PREFIX  "/admin/v1/"
#define AUTH_PREFIX "Authorization: Bearer "
#define USER_AGENT  "authflowctl/0.1.0"
#define PLACEHOLDER "{}"

struct af_ctl_http {
	af_httpc *client;
	char *base; /* base URL without trailing slashes */
	char *auth; /* "Authorization: Bearer <token>" */
};

const char *af_ctl_http_strerror(af_ctl_http_status st)
{
	switch (st) {
#define AF_CTL_HTTP_XX(name, value, text) \
	case AF_CTL_HTTP_##name:          \
		return text;
		AF_CTL_HTTP_STATUS_MAP(AF_CTL_HTTP_XX)
#undef AF_CTL_HTTP_XX
	}
	return "unknown HTTP client status";
}

/* The status of this module for one of the shared client. */
static af_ctl_http_status from_httpc(af_httpc_status st)
{
	switch (st) {
	case AF_HTTPC_OK:
		return AF_CTL_HTTP_OK;
	case AF_HTTPC_ERR_NOMEM:
		return AF_CTL_HTTP_ERR_NOMEM;
	case AF_HTTPC_ERR_URL:
		return AF_CTL_HTTP_ERR_URL;
	case AF_HTTPC_ERR_UNREACHABLE:
		return AF_CTL_HTTP_ERR_UNREACHABLE;
	case AF_HTTPC_ERR_TOO_BIG:
		return AF_CTL_HTTP_ERR_TOO_BIG;
	case AF_HTTPC_ERR_CURL:
		return AF_CTL_HTTP_ERR_CURL;
	case AF_HTTPC_ERR_CA_FILE:
		return AF_CTL_HTTP_ERR_CA_FILE;
	case AF_HTTPC_ERR_ARG:
	default:
		return AF_CTL_HTTP_ERR_ARG;
	}
}

/*
 * Whether url, an http(s) URL of visible ASCII, names a port outside
 * 1..65535 (or one that is not a number), so that the message can say so
 * rather than call the whole URL malformed. libcurl refuses ports above
 * 65535 and takes port 0, which nothing listens on.
 */
static int bad_port(const char *url)
{
	CURLU *u;
	CURLUcode rc;
	char *port = NULL;
	int bad = 0;

	/* Blanks and control characters make the whole URL the problem. */
	if (!af_httpc_visible_ascii(url, AF_CTL_HTTP_URL_MAX) ||
	    (strncasecmp(url, "http://", 7) != 0 &&
	     strncasecmp(url, "https://", 8) != 0))
		return 0;
	u = curl_url();
	if (u == NULL)
		return 0;
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc == CURLUE_BAD_PORT_NUMBER)
		bad = 1;
	else if (rc == CURLUE_OK &&
		 curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
		bad = strspn(port, "0") == strlen(port);
	curl_free(port);
	curl_url_cleanup(u);
	return bad;
}

af_ctl_http_status af_ctl_http_new(const char *base_url, const char *token,
				   af_ctl_http **out)
{
	af_ctl_http_status st;
	af_ctl_http *h = NULL;
	size_t ulen = 0, path_at = 0, tlen, plen = strlen(AUTH_PREFIX);

	if (out == NULL || base_url == NULL)
		return AF_CTL_HTTP_ERR_ARG;
	*out = NULL;
	st = from_httpc(af_httpc_base_url(base_url, &ulen, &path_at));
	if ((st == AF_CTL_HTTP_OK || st == AF_CTL_HTTP_ERR_URL) &&
	    bad_port(base_url))
		return AF_CTL_HTTP_ERR_PORT;
	if (st != AF_CTL_HTTP_OK)
		return st;
	if (token != NULL && af_httpc_plain_remote(base_url))
		return AF_CTL_HTTP_ERR_PLAIN;
	if (token != NULL &&
	    strnlen(token, AF_CTL_HTTP_TOKEN_MAX + 1) > AF_CTL_HTTP_TOKEN_MAX)
		return AF_CTL_HTTP_ERR_TOKEN_LONG;
	/*
	 * What the server parses as a bearer token (RFC 6750 b64token): any
	 * other would only be refused there, and count against this
	 * address's limit of bad tokens.
	 */
	if (token != NULL &&
	    (token[0] == '\0' ||
	     hp_b64token_len(token, strlen(token)) != strlen(token)))
		return AF_CTL_HTTP_ERR_TOKEN;
	st = AF_CTL_HTTP_ERR_NOMEM;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return st;
	h->base = malloc(ulen + 1);
	if (h->base == NULL)
		goto out;
	memcpy(h->base, base_url, ulen);
	h->base[ulen] = '\0';
	if (token != NULL) {
		tlen = strlen(token);
		h->auth = malloc(plen + tlen + 1);
		if (h->auth == NULL)
			goto out;
		memcpy(h->auth, AUTH_PREFIX, plen);
		memcpy(h->auth + plen, token, tlen + 1);
	}
	st = from_httpc(af_httpc_new(USER_AGENT, &h->client));
	if (st != AF_CTL_HTTP_OK)
		goto out;
	*out = h;
	h = NULL;
out:
	af_ctl_http_free(h);
	return st;
}

void af_ctl_http_free(af_ctl_http *h)
{
	if (h == NULL)
		return;
	af_httpc_free(h->client);
	if (h->auth != NULL)
		OPENSSL_clear_free(h->auth, strlen(h->auth));
	free(h->base);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

/* Appends n bytes to out at *len, keeping room for the NUL. */
static int put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (n >= cap - *len)
		return -1;
	memcpy(out + *len, s, n);
	*len += n;
	return 0;
}

/* Appends one path segment, percent-encoded. */
static af_ctl_http_status put_segment(char *out, size_t cap, size_t *len,
				      const char *arg)
{
	size_t n = strlen(arg), i;
	char *esc;
	int rc;

	if (n == 0)
		return AF_CTL_HTTP_ERR_ARG;
	if (n >= cap)
		return AF_CTL_HTTP_ERR_TOO_LONG;
	if (strspn(arg, ".") == n) {
		/* "." and ".." would be read as steps up the path. */
		for (i = 0; i < n; i++) {
			if (put(out, cap, len, "%2E", 3) != 0)
				return AF_CTL_HTTP_ERR_TOO_LONG;
		}
		return AF_CTL_HTTP_OK;
	}
	/* libcurl ignores the handle of curl_easy_escape() since 7.82. */
	esc = curl_easy_escape(NULL, arg, (int)n);
	if (esc == NULL)
		return AF_CTL_HTTP_ERR_NOMEM;
	rc = put(out, cap, len, esc, strlen(esc));
	curl_free(esc);
	return rc == 0 ? AF_CTL_HTTP_OK : AF_CTL_HTTP_ERR_TOO_LONG;
}

af_ctl_http_status af_ctl_http_query_add(char *out, size_t cap,
					 const char *name, const char *value)
{
	size_t len, was;
	char *esc;
	int rc;

	if (out == NULL || name == NULL || value == NULL || value[0] == '\0')
		return AF_CTL_HTTP_ERR_ARG;
	len = was = strnlen(out, cap);
	if (len >= cap)
		return AF_CTL_HTTP_ERR_ARG;
	esc = curl_easy_escape(NULL, value, (int)strlen(value));
	if (esc == NULL)
		return AF_CTL_HTTP_ERR_NOMEM;
	rc = put(out, cap, &len, strchr(out, '?') != NULL ? "&" : "?", 1) ||
	     put(out, cap, &len, name, strlen(name)) ||
	     put(out, cap, &len, "=", 1) ||
	     put(out, cap, &len, esc, strlen(esc));
	curl_free(esc);
	out[rc == 0 ? len : was] = '\0';
	return rc == 0 ? AF_CTL_HTTP_OK : AF_CTL_HTTP_ERR_TOO_LONG;
}

af_ctl_http_status af_ctl_http_path(af_ctl_http *h, char *out, size_t cap,
				    const char *tmpl, const char *const *args,
				    size_t nargs)
{
	af_ctl_http_status st;
	const char *p, *hole;
	size_t len = 0, used = 0;

	if (h == NULL || out == NULL || cap == 0 || tmpl == NULL ||
	    (args == NULL && nargs > 0))
		return AF_CTL_HTTP_ERR_ARG;
	out[0] = '\0';
	if (cap > AF_CTL_HTTP_PATH_MAX + 1)
		cap = AF_CTL_HTTP_PATH_MAX + 1;
	for (p = tmpl;; p = hole + strlen(PLACEHOLDER)) {
		hole = strstr(p, PLACEHOLDER);
		if (hole == NULL)
			break;
		if (used >= nargs || args[used] == NULL)
			return AF_CTL_HTTP_ERR_ARG;
		if (put(out, cap, &len, p, (size_t)(hole - p)) != 0)
			return AF_CTL_HTTP_ERR_TOO_LONG;
		st = put_segment(out, cap, &len, args[used++]);
		if (st != AF_CTL_HTTP_OK) {
			out[0] = '\0';
			return st;
		}
	}
	if (used != nargs)
		return AF_CTL_HTTP_ERR_ARG;
	if (put(out, cap, &len, p, strlen(p)) != 0) {
		out[0] = '\0';
		return AF_CTL_HTTP_ERR_TOO_LONG;
	}
	out[len] = '\0';
	return AF_CTL_HTTP_OK;
}

/* "<base>/admin/v1/<path>" as a new string. */
static char *make_url(const af_ctl_http *h, const char *path)
{
	size_t cap = strlen(h->base) + strlen(API_PREFIX) + strlen(path) + 1;
	char *url;

	url = malloc(cap);
	if (url == NULL)
		return NULL;
	/* The size was counted above, so the URL is never cut short. */
	snprintf(url, cap, "%s%s%s", h->base, API_PREFIX, path);
	return url;
}

af_ctl_http_status af_ctl_http_request(af_ctl_http *h, const char *method,
				       const char *path, const json_t *body,
				       long *status, json_t **answer, char *err,
				       size_t errlen)
{
	af_httpc_request req = {
		method,
		NULL,
		NULL,
		0,
		NULL,
		AF_CTL_HTTP_BODY_MAX,
		AF_CTL_HTTP_CONNECT_TIMEOUT_S,
		AF_CTL_HTTP_TIMEOUT_S,
	};
	af_ctl_http_status st = AF_CTL_HTTP_ERR_NOMEM;
	char *url = NULL, *text = NULL;
	int with_body;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (h == NULL || method == NULL || path == NULL || status == NULL ||
	    answer == NULL)
		return AF_CTL_HTTP_ERR_ARG;
	*status = 0;
	*answer = NULL;
	with_body = af_httpc_method_body(method);
	if (with_body < 0)
		return AF_CTL_HTTP_ERR_ARG;
	if (strlen(path) > AF_CTL_HTTP_PATH_MAX)
		return AF_CTL_HTTP_ERR_TOO_LONG;
	url = make_url(h, path);
	if (with_body)
		text = af_httpc_body_text(body);
	if (url == NULL || (with_body && text == NULL)) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", af_ctl_http_strerror(st));
		goto out;
	}
	req.url = url;
	req.body = text;
	/* The token travels as the one header of our own. */
	if (h->auth != NULL) {
		req.headers = (const char *const *)&h->auth;
		req.nheaders = 1;
	}
	st = from_httpc(
		af_httpc_send(h->client, &req, status, answer, err, errlen));
out:
	af_httpc_body_free(text);
	free(url);
	return st;
}
