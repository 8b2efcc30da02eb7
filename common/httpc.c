/* The shared HTTP client of authflowctl and idsim over one easy handle. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "common/httpc.h"
#include "common/secmem.h"

#define ANSWER_FIRST   4096 /* first allocation for an answer */
#define USER_AGENT_MAX 128
#define MIB	       ((size_t)1024 * 1024)
#define METHOD_BODY    1u /* the method carries a body */
#define METHOD_CUSTOM  2u /* the method needs CURLOPT_CUSTOMREQUEST */

struct af_httpc {
	CURL *curl;
	char *agent;		      /* the User-Agent value */
	char *ca_file;		      /* AF_HTTPC_CA_ENV, or NULL */
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's last error text */
};

/* The answer as it arrives, up to max bytes. */
struct answer {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
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

const char *af_httpc_strerror(af_httpc_status st)
{
	switch (st) {
#define AF_HTTPC_XX(name, value, text) \
	case AF_HTTPC_##name:          \
		return text;
		AF_HTTPC_STATUS_MAP(AF_HTTPC_XX)
#undef AF_HTTPC_XX
	}
	return "unknown HTTP client status";
}

af_httpc_status af_httpc_global_init(void)
{
	json_set_alloc_funcs(af_secmem_malloc, af_secmem_free);
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, af_secmem_malloc,
				 af_secmem_free, af_secmem_realloc,
				 af_secmem_strdup,
				 af_secmem_calloc) != CURLE_OK)
		return AF_HTTPC_ERR_CURL;
	return AF_HTTPC_OK;
}

void af_httpc_global_cleanup(void)
{
	curl_global_cleanup();
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

int af_httpc_visible_ascii(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		if (n >= max || s[n] < 0x21 || s[n] > 0x7e)
			return 0;
	}
	return n > 0;
}

/*
 * Whether libcurl's own parser takes url (a bad host or port, say), and
 * it names no user or password: libcurl would send them as Basic
 * credentials, in clear text over http://, and a state file would keep
 * them.
 */
static int curl_parses(const char *url)
{
	CURLU *h = curl_url();
	char *user = NULL, *pass = NULL;
	int ok = h != NULL &&
		 curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
		 curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
		 curl_url_get(h, CURLUPART_PASSWORD, &pass, 0) ==
			 CURLUE_NO_PASSWORD;

	curl_free(user);
	curl_free(pass);
	curl_url_cleanup(h);
	return ok;
}

/* Whether host, as libcurl gives it ("[::1]" bracketed), is loopback. */
static int loopback_host(const char *host)
{
	struct in6_addr v6;
	struct in_addr v4;
	char inner[INET6_ADDRSTRLEN + 1];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0 ||
	    strcasecmp(host, "localhost.") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (n < 3 || n - 2 >= sizeof(inner) || host[0] != '[' ||
	    host[n - 1] != ']')
		return 0;
	memcpy(inner, host + 1, n - 2);
	inner[n - 2] = '\0';
	if (inet_pton(AF_INET6, inner, &v6) != 1)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&v6))
		return 1;
	/* ::ffff:127.0.0.1 and the like. */
	return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

int af_httpc_plain_remote(const char *url)
{
	CURLU *u;
	char *host = NULL;
	int remote = 1;

	if (strncasecmp(url, "http://", 7) != 0)
		return 0;
	u = curl_url();
	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	remote = !loopback_host(host);
out:
	curl_free(host);
	curl_url_cleanup(u);
	return remote;
}

af_httpc_status af_httpc_base_url(const char *url, size_t *len, size_t *path_at)
{
	const char *slash;
	size_t skip, n;

	if (url == NULL || len == NULL || path_at == NULL)
		return AF_HTTPC_ERR_ARG;
	if (!af_httpc_visible_ascii(url, AF_HTTPC_URL_MAX))
		return AF_HTTPC_ERR_URL;
	if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else
		return AF_HTTPC_ERR_URL;
	/* The path is the caller's to append: no query or fragment there. */
	if (url[skip] == '\0' || url[skip] == '/' || strpbrk(url, "?#") != NULL)
		return AF_HTTPC_ERR_URL;
	if (!curl_parses(url))
		return AF_HTTPC_ERR_URL;
	n = strlen(url);
	while (n > skip && url[n - 1] == '/')
		n--;
	slash = memchr(url + skip, '/', n - skip);
	*path_at = slash != NULL ? (size_t)(slash - url) : n;
	*len = n;
	return AF_HTTPC_OK;
}

static const struct method *find_method(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	}
	return NULL;
}

int af_httpc_method_body(const char *method)
{
	const struct method *m = find_method(method);

	if (m == NULL)
		return -1;
	return (m->flags & METHOD_BODY) != 0;
}

char *af_httpc_body_text(const json_t *body)
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

void af_httpc_body_free(char *text)
{
	json_free_t jfree = NULL;

	if (text == NULL)
		return;
	OPENSSL_cleanse(text, strlen(text));
	/* The text came from json_dumps(): back to jansson's allocator. */
	json_get_alloc_funcs(NULL, &jfree);
	if (jfree != NULL)
		jfree(text);
}

/* Whether path is a regular file this process may read, by stat(2) alone:
 * opening a FIFO to find out would wait for a writer. */
static int readable_file(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	       access(path, R_OK) == 0;
}

af_httpc_status af_httpc_new(const char *user_agent, af_httpc **out)
{
	af_httpc_status st = AF_HTTPC_ERR_NOMEM;
	const char *ca;
	af_httpc *c;

	if (out == NULL)
		return AF_HTTPC_ERR_ARG;
	*out = NULL;
	if (!af_httpc_visible_ascii(user_agent, USER_AGENT_MAX))
		return AF_HTTPC_ERR_ARG;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return st;
	c->agent = strdup(user_agent);
	if (c->agent == NULL)
		goto out;
	ca = getenv(AF_HTTPC_CA_ENV);
	if (ca != NULL && ca[0] != '\0') {
		c->ca_file = strdup(ca);
		if (c->ca_file == NULL)
			goto out;
	}
	c->curl = curl_easy_init();
	if (c->curl == NULL) {
		st = AF_HTTPC_ERR_CURL;
		goto out;
	}
	*out = c;
	c = NULL;
	st = AF_HTTPC_OK;
out:
	af_httpc_free(c);
	return st;
}

void af_httpc_free(af_httpc *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	free(c->agent);
	free(c->ca_file);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/*
 * libcurl's write callback: keeps the answer up to its cap and stops the
 * transfer past it. The buffer grows by moving to a new block and wiping
 * the old one, since answers can carry client secrets and TOTP seeds.
 */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb, cap;
	char *data;

	if (n > a->max - a->len) {
		a->too_big = 1;
		return 0;
	}
	if (a->len + n + 1 > a->cap) {
		cap = a->cap == 0 ? ANSWER_FIRST : a->cap;
		while (cap < a->len + n + 1)
			cap *= 2;
		if (cap > a->max + 1)
			cap = a->max + 1;
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

/* The header list; every entry is wiped before the list is freed. */
static void free_headers(struct curl_slist *list)
{
	struct curl_slist *it;

	for (it = list; it != NULL; it = it->next)
		OPENSSL_cleanse(it->data, strlen(it->data));
	curl_slist_free_all(list);
}

static struct curl_slist *make_headers(const af_httpc_request *req)
{
	const char *hdrs[AF_HTTPC_HEADERS_MAX + 3];
	struct curl_slist *list = NULL, *next;
	size_t n = 0, i;

	hdrs[n++] = "Accept: application/json";
	/* Ask for no 100-continue round trip before a small body. */
	hdrs[n++] = "Expect:";
	if (req->body != NULL)
		hdrs[n++] = "Content-Type: application/json";
	for (i = 0; i < req->nheaders; i++)
		hdrs[n++] = req->headers[i];
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
static CURLcode set_common(af_httpc *c, const af_httpc_request *req,
			   struct curl_slist *headers, struct answer *a)
{
	CURLcode rc;

	rc = curl_easy_setopt(c->curl, CURLOPT_URL, req->url);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR,
				      "http,https");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_PATH_AS_IS, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT,
				      req->connect_timeout_s);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, req->timeout_s);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE,
				      (curl_off_t)req->answer_max);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_USERAGENT, c->agent);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, a);
	/*
	 * The CA file alone: libcurl would also search its built-in CA
	 * folder (Debian's: /etc/ssl/certs, every public CA) beside it.
	 */
	if (rc == CURLE_OK && c->ca_file != NULL)
		rc = curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file);
	if (rc == CURLE_OK && c->ca_file != NULL)
		rc = curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL);
	/*
	 * Plain http is for a server on this host (authflowctl sends its
	 * token over it only to loopback): never through a proxy, which
	 * would read the token in clear text, whatever http_proxy says.
	 */
	if (rc == CURLE_OK && strncasecmp(req->url, "http://", 7) == 0)
		rc = curl_easy_setopt(c->curl, CURLOPT_PROXY, "");
	return rc;
}

static CURLcode set_method(af_httpc *c, const struct method *m,
			   const char *body)
{
	CURLcode rc;

	if (m->flags & METHOD_BODY) {
		rc = curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
					      (long)strlen(body));
		/* Not COPYPOSTFIELDS: no copy of the body we cannot wipe. */
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS,
					      body);
	} else {
		rc = curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	}
	if (rc == CURLE_OK && (m->flags & METHOD_CUSTOM))
		rc = curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, m->name);
	return rc;
}

/*
 * The environment variable naming the proxy libcurl takes for the
 * transfer's URL, as libcurl reads them, or NULL when none is set or the
 * URL is http:// (never proxied, see set_common()). no_proxy is not
 * weighed: this only words a failure, whose address may be the proxy's.
 */
static const char *proxy_var(af_httpc *c)
{
	static const char *const vars[] = {"https_proxy", "HTTPS_PROXY",
					   "all_proxy", "ALL_PROXY", NULL};
	char *url = NULL;
	const char *v;
	size_t i;

	if (curl_easy_getinfo(c->curl, CURLINFO_EFFECTIVE_URL, &url) !=
		    CURLE_OK ||
	    url == NULL || strncasecmp(url, "https://", 8) != 0)
		return NULL;
	for (i = 0; vars[i] != NULL; i++) {
		v = getenv(vars[i]);
		if (v != NULL && v[0] != '\0')
			return vars[i];
	}
	return NULL;
}

static af_httpc_status transfer_failed(af_httpc *c, CURLcode rc,
				       const struct answer *a, char *err,
				       size_t errlen)
{
	const char *detail =
		c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc);
	const char *proxy;
	char cap[48], text[CURL_ERROR_SIZE + 128];

	if (a->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		if (a->max % MIB == 0)
			snprintf(cap, sizeof(cap), "more than %zu MiB",
				 a->max / MIB);
		else
			snprintf(cap, sizeof(cap), "more than %zu bytes",
				 a->max);
		set_err(err, errlen, af_httpc_strerror(AF_HTTPC_ERR_TOO_BIG),
			cap);
		return AF_HTTPC_ERR_TOO_BIG;
	}
	if (rc == CURLE_URL_MALFORMAT) {
		set_err(err, errlen, af_httpc_strerror(AF_HTTPC_ERR_URL),
			detail);
		return AF_HTTPC_ERR_URL;
	}
	if (rc == CURLE_OUT_OF_MEMORY || rc == CURLE_WRITE_ERROR) {
		set_err(err, errlen, af_httpc_strerror(AF_HTTPC_ERR_NOMEM),
			NULL);
		return AF_HTTPC_ERR_NOMEM;
	}
	/* The address libcurl names may be a proxy's: say which one. */
	proxy = rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT
			? proxy_var(c)
			: NULL;
	if (proxy != NULL) {
		snprintf(text, sizeof(text),
			 "%s (%s names a proxy: the address may be the "
			 "proxy's; no_proxy=HOST reaches a server directly)",
			 detail, proxy);
		detail = text;
	}
	set_err(err, errlen, af_httpc_strerror(AF_HTTPC_ERR_UNREACHABLE),
		detail);
	return AF_HTTPC_ERR_UNREACHABLE;
}

/* The request's fields against the rules of af_httpc_send(). */
static const struct method *check_request(const af_httpc_request *req)
{
	const struct method *m = find_method(req->method);

	if (m == NULL || req->url == NULL ||
	    req->nheaders > AF_HTTPC_HEADERS_MAX ||
	    (req->headers == NULL && req->nheaders > 0) ||
	    req->answer_max == 0 || req->answer_max > AF_HTTPC_ANSWER_MAX ||
	    req->connect_timeout_s < 1 || req->timeout_s < 1)
		return NULL;
	if (((m->flags & METHOD_BODY) != 0) != (req->body != NULL))
		return NULL;
	return m;
}

af_httpc_status af_httpc_send(af_httpc *c, const af_httpc_request *req,
			      long *status, json_t **answer, char *err,
			      size_t errlen)
{
	af_httpc_status st = AF_HTTPC_ERR_NOMEM;
	struct answer a = {NULL, 0, 0, 0, 0};
	struct curl_slist *headers = NULL;
	const struct method *m;
	CURLcode rc;

	set_err(err, errlen, "", NULL);
	if (c == NULL || req == NULL || status == NULL || answer == NULL)
		return AF_HTTPC_ERR_ARG;
	*status = 0;
	*answer = NULL;
	m = check_request(req);
	if (m == NULL)
		return AF_HTTPC_ERR_ARG;
	if (c->ca_file != NULL && !readable_file(c->ca_file)) {
		set_err(err, errlen, af_httpc_strerror(AF_HTTPC_ERR_CA_FILE),
			NULL);
		return AF_HTTPC_ERR_CA_FILE;
	}
	a.max = req->answer_max;
	headers = make_headers(req);
	if (headers == NULL) {
		set_err(err, errlen, af_httpc_strerror(st), NULL);
		goto out;
	}
	curl_easy_reset(c->curl);
	c->errbuf[0] = '\0';
	rc = set_common(c, req, headers, &a);
	if (rc == CURLE_OK)
		rc = set_method(c, m, req->body);
	if (rc != CURLE_OK) {
		st = AF_HTTPC_ERR_CURL;
		set_err(err, errlen, af_httpc_strerror(st),
			curl_easy_strerror(rc));
		goto out;
	}
	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		st = transfer_failed(c, rc, &a, err, errlen);
		goto out;
	}
	rc = curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	if (rc != CURLE_OK) {
		st = AF_HTTPC_ERR_CURL;
		set_err(err, errlen, af_httpc_strerror(st),
			curl_easy_strerror(rc));
		goto out;
	}
	if (a.len > 0)
		*answer = json_loadb(a.data, a.len, 0, NULL);
	st = AF_HTTPC_OK;
out:
	/* Drop libcurl's pointers to what is about to be freed. */
	curl_easy_reset(c->curl);
	free_headers(headers);
	if (a.data != NULL)
		OPENSSL_clear_free(a.data, a.cap);
	return st;
}
