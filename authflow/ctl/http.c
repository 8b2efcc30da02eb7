/* The admin API client of authflowctl over one libcurl easy handle. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "common/secmem.h"
#include "http.h"

#define API_PREFIX    "/admin/v1/"
#define AUTH_PREFIX   "Authorization: Bearer "
#define USER_AGENT    "authflowctl/0.1.0"
#define ANSWER_FIRST  4096 /* first allocation for an answer */
#define PLACEHOLDER   "{}"
#define METHOD_BODY   1 /* the method carries a body */
#define METHOD_CUSTOM 2 /* the method needs CURLOPT_CUSTOMREQUEST */

struct af_ctl_http {
	CURL *curl;
	char *base;		      /* base URL without trailing slashes */
	char *auth;		      /* "Authorization: Bearer <token>" */
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's last error text */
};

/* The answer as it arrives, up to AF_CTL_HTTP_BODY_MAX bytes. */
struct answer {
	char *data;
	size_t len;
	size_t cap;
	int too_big;
};

static const struct method {
	const char *name;
	unsigned flags;
} methods[] = {
	{"GET", 0},
	{"POST", METHOD_BODY},
	{"PUT", METHOD_BODY | METHOD_CUSTOM},
	{"PATCH", METHOD_BODY | METHOD_CUSTOM},
	{"DELETE", METHOD_CUSTOM},
};

/* The block header of the wiping allocator: the size, kept aligned. */

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

static void set_err(char *err, size_t errlen, const char *what,
		    const char *detail)
{
	if (err == NULL || errlen == 0)
		return;
	if (detail != NULL && detail[0] != '\0')
		snprintf(err, errlen, "%s: %s", what, detail);
	else
		snprintf(err, errlen, "%s", what);
}

/* Visible ASCII only: no blanks, no CR or LF that could end the header. */
static int visible_ascii(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		if (n >= max || s[n] < 0x21 || s[n] > 0x7e)
			return 0;
	}
	return n > 0;
}

static af_ctl_http_status check_url(const char *url, size_t *len)
{
	size_t skip, n;

	if (!visible_ascii(url, AF_CTL_HTTP_URL_MAX))
		return AF_CTL_HTTP_ERR_URL;
	if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else
		return AF_CTL_HTTP_ERR_URL;
	/* The path is ours to append, so no query or fragment may sit there. */
	if (url[skip] == '\0' || url[skip] == '/' || strpbrk(url, "?#") != NULL)
		return AF_CTL_HTTP_ERR_URL;
	n = strlen(url);
	while (n > skip && url[n - 1] == '/')
		n--;
	*len = n;
	return AF_CTL_HTTP_OK;
}

af_ctl_http_status af_ctl_http_new(const char *base_url, const char *token,
				   af_ctl_http **out)
{
	af_ctl_http_status st;
	af_ctl_http *h = NULL;
	size_t ulen = 0, tlen, plen = strlen(AUTH_PREFIX);

	if (out == NULL || base_url == NULL)
		return AF_CTL_HTTP_ERR_ARG;
	*out = NULL;
	st = check_url(base_url, &ulen);
	if (st != AF_CTL_HTTP_OK)
		return st;
	if (token != NULL && !visible_ascii(token, AF_CTL_HTTP_TOKEN_MAX))
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
	h->curl = curl_easy_init();
	if (h->curl == NULL) {
		st = AF_CTL_HTTP_ERR_CURL;
		goto out;
	}
	*out = h;
	h = NULL;
	st = AF_CTL_HTTP_OK;
out:
	af_ctl_http_free(h);
	return st;
}

void af_ctl_http_free(af_ctl_http *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
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
static af_ctl_http_status put_segment(af_ctl_http *h, char *out, size_t cap,
				      size_t *len, const char *arg)
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
	esc = curl_easy_escape(h->curl, arg, (int)n);
	if (esc == NULL)
		return AF_CTL_HTTP_ERR_NOMEM;
	rc = put(out, cap, len, esc, strlen(esc));
	curl_free(esc);
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
		st = put_segment(h, out, cap, &len, args[used++]);
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

/*
 * libcurl's write callback: keeps the answer up to the cap and stops the
 * transfer past it. The buffer grows by moving to a new block and wiping
 * the old one, since answers can carry client secrets.
 */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb, cap;
	char *data;

	if (n > AF_CTL_HTTP_BODY_MAX - a->len) {
		a->too_big = 1;
		return 0;
	}
	if (a->len + n + 1 > a->cap) {
		cap = a->cap == 0 ? ANSWER_FIRST : a->cap;
		while (cap < a->len + n + 1)
			cap *= 2;
		if (cap > AF_CTL_HTTP_BODY_MAX + 1)
			cap = AF_CTL_HTTP_BODY_MAX + 1;
		data = malloc(cap);
		if (data == NULL)
			return 0;
		if (a->data != NULL) {
			memcpy(data, a->data, a->len);
			OPENSSL_clear_free(a->data, a->cap);
		}
		a->data = data;
		a->cap = cap;
	}
	memcpy(a->data + a->len, ptr, n);
	a->len += n;
	return n;
}

static const struct method *find_method(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	}
	return NULL;
}

/* The header list; every entry is wiped before the list is freed. */
static void free_headers(struct curl_slist *list)
{
	struct curl_slist *it;

	for (it = list; it != NULL; it = it->next)
		OPENSSL_cleanse(it->data, strlen(it->data));
	curl_slist_free_all(list);
}

static struct curl_slist *make_headers(const af_ctl_http *h, int with_body)
{
	struct curl_slist *list = NULL, *next;
	const char *hdrs[4];
	size_t n = 0, i;

	hdrs[n++] = "Accept: application/json";
	/* Ask for no 100-continue round trip before a small body. */
	hdrs[n++] = "Expect:";
	if (with_body)
		hdrs[n++] = "Content-Type: application/json";
	if (h->auth != NULL)
		hdrs[n++] = h->auth;
	for (i = 0; i < n; i++) {
		next = curl_slist_append(list, hdrs[i]);
		if (next == NULL) {
			free_headers(list);
			return NULL;
		}
		list = next;
	}
	return list;
}

/* Options every request gets; the easy handle was reset before. */
static CURLcode set_common(af_ctl_http *h, const char *url,
			   struct curl_slist *headers, struct answer *a)
{
	CURLcode rc;

	rc = curl_easy_setopt(h->curl, CURLOPT_URL, url);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR,
				      "http,https");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_PATH_AS_IS, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT,
				      AF_CTL_HTTP_CONNECT_TIMEOUT_S);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_TIMEOUT,
				      AF_CTL_HTTP_TIMEOUT_S);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_MAXFILESIZE_LARGE,
				      (curl_off_t)AF_CTL_HTTP_BODY_MAX);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_USERAGENT, USER_AGENT);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, headers);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, a);
	return rc;
}

static CURLcode set_method(af_ctl_http *h, const struct method *m,
			   const char *body)
{
	CURLcode rc = CURLE_OK;

	if (m->flags & METHOD_BODY) {
		rc = curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE,
					      (long)strlen(body));
		/* Not COPYPOSTFIELDS: no copy of the body we cannot wipe. */
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS,
					      body);
	} else {
		rc = curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
	}
	if (rc == CURLE_OK && (m->flags & METHOD_CUSTOM))
		rc = curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, m->name);
	return rc;
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

/* Serialises body (or "{}") for a method that carries one. */
static char *make_body(const json_t *body)
{
	json_t *empty;
	char *text;

	if (body != NULL)
		return json_dumps(body, JSON_COMPACT);
	empty = json_object();
	if (empty == NULL)
		return NULL;
	text = json_dumps(empty, JSON_COMPACT);
	json_decref(empty);
	return text;
}

/* Wipes and frees text from json_dumps() with jansson's own free. */
static void free_body(char *text)
{
	json_free_t jfree = NULL;

	if (text == NULL)
		return;
	OPENSSL_cleanse(text, strlen(text));
	json_get_alloc_funcs(NULL, &jfree);
	if (jfree != NULL)
		jfree(text);
}

static af_ctl_http_status transfer_failed(af_ctl_http *h, CURLcode rc,
					  const struct answer *a, char *err,
					  size_t errlen)
{
	const char *detail =
		h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(rc);

	if (a->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		set_err(err, errlen,
			af_ctl_http_strerror(AF_CTL_HTTP_ERR_TOO_BIG),
			"more than 4 MiB");
		return AF_CTL_HTTP_ERR_TOO_BIG;
	}
	if (rc == CURLE_OUT_OF_MEMORY || rc == CURLE_WRITE_ERROR) {
		set_err(err, errlen,
			af_ctl_http_strerror(AF_CTL_HTTP_ERR_NOMEM), NULL);
		return AF_CTL_HTTP_ERR_NOMEM;
	}
	set_err(err, errlen, af_ctl_http_strerror(AF_CTL_HTTP_ERR_UNREACHABLE),
		detail);
	return AF_CTL_HTTP_ERR_UNREACHABLE;
}

af_ctl_http_status af_ctl_http_request(af_ctl_http *h, const char *method,
				       const char *path, const json_t *body,
				       long *status, json_t **answer, char *err,
				       size_t errlen)
{
	af_ctl_http_status st = AF_CTL_HTTP_ERR_NOMEM;
	struct answer a = {NULL, 0, 0, 0};
	struct curl_slist *headers = NULL;
	const struct method *m;
	char *url = NULL, *text = NULL;
	CURLcode rc;

	set_err(err, errlen, "", NULL);
	if (h == NULL || method == NULL || path == NULL || status == NULL ||
	    answer == NULL)
		return AF_CTL_HTTP_ERR_ARG;
	*status = 0;
	*answer = NULL;
	m = find_method(method);
	if (m == NULL)
		return AF_CTL_HTTP_ERR_ARG;
	if (strlen(path) > AF_CTL_HTTP_PATH_MAX)
		return AF_CTL_HTTP_ERR_TOO_LONG;
	url = make_url(h, path);
	headers = make_headers(h, (m->flags & METHOD_BODY) != 0);
	if ((m->flags & METHOD_BODY) != 0)
		text = make_body(body);
	if (url == NULL || headers == NULL ||
	    ((m->flags & METHOD_BODY) != 0 && text == NULL)) {
		set_err(err, errlen, af_ctl_http_strerror(st), NULL);
		goto out;
	}
	curl_easy_reset(h->curl);
	h->errbuf[0] = '\0';
	rc = set_common(h, url, headers, &a);
	if (rc == CURLE_OK)
		rc = set_method(h, m, text);
	if (rc != CURLE_OK) {
		st = AF_CTL_HTTP_ERR_CURL;
		set_err(err, errlen, af_ctl_http_strerror(st),
			curl_easy_strerror(rc));
		goto out;
	}
	rc = curl_easy_perform(h->curl);
	if (rc != CURLE_OK) {
		st = transfer_failed(h, rc, &a, err, errlen);
		goto out;
	}
	rc = curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
	if (rc != CURLE_OK) {
		st = AF_CTL_HTTP_ERR_CURL;
		set_err(err, errlen, af_ctl_http_strerror(st),
			curl_easy_strerror(rc));
		goto out;
	}
	if (a.len > 0)
		*answer = json_loadb(a.data, a.len, 0, NULL);
	st = AF_CTL_HTTP_OK;
out:
	/* Drop libcurl's pointers to what is about to be freed. */
	curl_easy_reset(h->curl);
	free_headers(headers);
	free_body(text);
	free(url);
	if (a.data != NULL)
		OPENSSL_clear_free(a.data, a.cap);
	return st;
}
