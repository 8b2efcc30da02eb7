/* Request accessors and response building. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "common/httpparse.h"
#include "common/secmem.h"
#include "http/request.h"

const char *af_req_header(const af_req *req, const char *name)
{
	size_t i;

	if (req == NULL || name == NULL)
		return NULL;
	if (req->conn != NULL)
		return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						   name);
	for (i = 0; req->test_headers != NULL && req->test_headers[i] != NULL &&
		    req->test_headers[i + 1] != NULL;
	     i += 2) {
		if (strcasecmp(req->test_headers[i], name) == 0)
			return req->test_headers[i + 1];
	}
	return NULL;
}

struct header_count {
	const char *name;
	unsigned n;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind,
				    const char *key, const char *value)
{
	struct header_count *hc = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, hc->name) == 0)
		hc->n++;
	return MHD_YES;
}

unsigned af_conn_header_count(void *conn, const char *name)
{
	struct header_count hc = {name, 0};

	if (conn == NULL || name == NULL)
		return 0;
	(void)MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header,
					&hc);
	return hc.n;
}

unsigned af_req_header_count(const af_req *req, const char *name)
{
	unsigned n = 0;
	size_t i;

	if (req == NULL || name == NULL)
		return 0;
	if (req->conn != NULL)
		return af_conn_header_count(req->conn, name);
	for (i = 0; req->test_headers != NULL && req->test_headers[i] != NULL &&
		    req->test_headers[i + 1] != NULL;
	     i += 2) {
		if (strcasecmp(req->test_headers[i], name) == 0)
			n++;
	}
	return n;
}

int af_req_cookie(const af_req *req, const char *name, char *out, size_t outcap)
{
	const char *header = af_req_header(req, "Cookie");
	char full[96];
	int n;

	if (header == NULL)
		return -1;
	n = snprintf(full, sizeof(full), "%s%s", req->https ? "__Host-" : "",
		     name);
	if (n < 0 || (size_t)n >= sizeof(full))
		return -1;
	return hp_cookie_get(header, full, out, outcap) == HP_OK ? 0 : -1;
}

/*
 * The value af_req_param() gives for name, and in *set the parameters it
 * came from: the form body, else (GET, and HEAD, which is GET without
 * the body) the query.
 */
static const char *find_param(const af_req *req, const char *name,
			      const af_params **set)
{
	const char *v = NULL;

	*set = NULL;
	if (req->form != NULL) {
		v = hp_params_get(req->form, name);
		*set = req->form;
	}
	if (v == NULL && (strcmp(req->method, "GET") == 0 ||
			  strcmp(req->method, "HEAD") == 0)) {
		v = hp_params_get(req->query, name);
		*set = req->query;
	}
	return v;
}

_Static_assert(HP_PARAMS_MAX == 256, "the messages below say 256");

const char *af_req_malformed_why(const af_req *req)
{
	int form = req->malformed == AF_REQ_BAD_FORM;

	if (req->too_many_params)
		return form ? "more than 256 parameters in the form body"
			    : "more than 256 parameters in the query string";
	return form ? "malformed form body" : "malformed query string";
}

const char *af_req_param(const af_req *req, const char *name)
{
	const af_params *set;

	return find_param(req, name, &set);
}

int af_req_param_repeated(const af_req *req, const char *name)
{
	const af_params *set;

	return find_param(req, name, &set) != NULL &&
	       hp_params_repeated(set, name);
}

void af_resp_init(af_resp *resp, int https)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 500;
	resp->https = https;
	af_buf_init(&resp->body, AF_RESP_BODY_MAX);
}

void af_resp_cleanup(af_resp *resp)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		/* Set-Cookie and Location values can carry secrets. */
		OPENSSL_cleanse(resp->headers[i].value,
				strlen(resp->headers[i].value));
		free(resp->headers[i].value);
	}
	af_buf_cleanup(&resp->body);
	resp->nheaders = 0;
}

void af_resp_header_set(af_resp *resp, const char *name, const char *value)
{
	size_t i;
	char *v;

	v = strdup(value);
	if (v == NULL)
		return;
	/* Set-Cookie may repeat; every other header is replaced. */
	for (i = 0; i < resp->nheaders; i++) {
		if (strcasecmp(name, "Set-Cookie") != 0 &&
		    strcasecmp(resp->headers[i].name, name) == 0) {
			/* A Location may carry a code. */
			af_free_secret(resp->headers[i].value);
			resp->headers[i].value = v;
			return;
		}
	}
	if (resp->nheaders == AF_RESP_HEADERS_MAX) {
		af_free_secret(v); /* a Set-Cookie with a session id, say */
		return;
	}
	resp->headers[resp->nheaders].name = strdup(name);
	if (resp->headers[resp->nheaders].name == NULL) {
		af_free_secret(v);
		return;
	}
	resp->headers[resp->nheaders++].value = v;
}

int af_req_method_is(const char *want, const char *method)
{
	if (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0)
		return 1;
	return strcmp(want, method) == 0;
}

void af_allow_add(char *allow, size_t cap, size_t *len, const char *method)
{
	int n;

	if (*len >= cap)
		return;
	n = snprintf(allow + *len, cap - *len, "%s%s%s", *len > 0 ? ", " : "",
		     method, strcmp(method, "GET") == 0 ? ", HEAD" : "");
	if (n > 0 && (size_t)n < cap - *len)
		*len += (size_t)n;
	else
		allow[*len] = '\0';
}

void af_resp_retry_after(af_resp *resp, uint32_t wait_s)
{
	char secs[16];

	(void)snprintf(secs, sizeof(secs), "%u",
		       (unsigned)(wait_s > 0 ? wait_s : 1));
	af_resp_header_set(resp, "Retry-After", secs);
}

const char *af_resp_header_get(const af_resp *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	}
	return NULL;
}

static void set_type(af_resp *resp, const char *ctype)
{
	size_t n = strlen(ctype);

	if (n >= sizeof(resp->content_type))
		n = sizeof(resp->content_type) - 1;
	memcpy(resp->content_type, ctype, n);
	resp->content_type[n] = '\0';
}

void af_resp_text(af_resp *resp, unsigned status, const char *ctype,
		  const char *text)
{
	resp->status = status;
	set_type(resp, ctype);
	af_buf_cleanup(&resp->body);
	af_buf_init(&resp->body, AF_RESP_BODY_MAX);
	af_buf_puts(&resp->body, text);
	/* Past the cap: an error, never a success with nothing in it. */
	if (resp->body.failed) {
		af_buf_cleanup(&resp->body);
		af_buf_init(&resp->body, AF_RESP_BODY_MAX);
		resp->status = 500;
		set_type(resp, "text/plain; charset=utf-8");
		af_buf_puts(&resp->body, "the answer is too large to send\n");
	}
}

void af_resp_json(af_resp *resp, unsigned status, json_t *obj)
{
	char *text;

	if (obj == NULL) {
		af_resp_text(resp, 500, "application/json",
			     "{\"error\":\"server_error\"}");
		return;
	}
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text == NULL) {
		af_resp_text(resp, 500, "application/json",
			     "{\"error\":\"server_error\"}");
		return;
	}
	af_resp_text(resp, status, "application/json", text);
	/* JSON answers may carry tokens: wipe the transient copy. */
	af_secmem_free(text);
}

void af_resp_oauth_error(af_resp *resp, unsigned status, const char *code,
			 const char *desc)
{
	json_t *o = json_pack("{s:s}", "error", code);
	char challenge[128];

	resp->oauth_error = code;
	if (o != NULL && desc != NULL)
		json_object_set_new(o, "error_description", json_string(desc));
	/* A challenge the handler set (RFC 6750 3) is kept as it is. */
	if (status == 401 &&
	    af_resp_header_get(resp, "WWW-Authenticate") == NULL) {
		if (strcmp(code, "invalid_client") == 0)
			(void)snprintf(challenge, sizeof(challenge), "%s",
				       "Basic realm=\"authflow\"");
		else
			(void)snprintf(
				challenge, sizeof(challenge),
				"Bearer realm=\"authflow\", error=\"%s\"",
				code);
		af_resp_header_set(resp, "WWW-Authenticate", challenge);
	}
	af_resp_json(resp, status, o);
}

void af_resp_redirect(af_resp *resp, unsigned status, const char *url)
{
	resp->status = status;
	af_resp_header_set(resp, "Location", url);
	set_type(resp, "text/plain; charset=utf-8");
	af_buf_cleanup(&resp->body);
	af_buf_init(&resp->body, AF_RESP_BODY_MAX);
}

/*
 * A cookie set twice in one answer (cleared, then set anew, say) is sent
 * once, as last set: replaces an earlier Set-Cookie of the same name with
 * line. 1 when one was replaced.
 */
static int cookie_replaced(af_resp *resp, const char *line)
{
	size_t i, n = strcspn(line, "=") + 1;
	char *v;

	for (i = 0; i < resp->nheaders; i++) {
		if (strcasecmp(resp->headers[i].name, "Set-Cookie") != 0 ||
		    strncmp(resp->headers[i].value, line, n) != 0)
			continue;
		v = strdup(line);
		if (v == NULL)
			return 0;
		OPENSSL_cleanse(resp->headers[i].value,
				strlen(resp->headers[i].value));
		free(resp->headers[i].value);
		resp->headers[i].value = v;
		return 1;
	}
	return 0;
}

void af_resp_cookie(af_resp *resp, const char *name, const char *value,
		    long max_age_s)
{
	af_buf b;
	char *line;

	af_buf_init(&b, 4096);
	af_buf_printf(&b, "%s%s=%s; Path=/; HttpOnly; SameSite=Lax%s",
		      resp->https ? "__Host-" : "", name,
		      max_age_s == AF_COOKIE_CLEAR ? "" : value,
		      resp->https ? "; Secure" : "");
	if (max_age_s >= 0)
		af_buf_printf(&b, "; Max-Age=%ld", max_age_s);
	line = af_buf_take(&b, NULL);
	if (line != NULL && !cookie_replaced(resp, line))
		af_resp_header_set(resp, "Set-Cookie", line);
	if (line != NULL) {
		/* The line holds a session secret. */
		OPENSSL_cleanse(line, strlen(line));
		free(line);
	}
}

/* At most this many cleared by one answer, of the first this many seen. */
#define PRUNE_MAX 4
#define SEEN_MAX  64

void af_resp_cookies_prune(const af_req *req, af_resp *resp, const char *prefix,
			   size_t kept)
{
	const char *header = af_req_header(req, "Cookie");
	const char *found[SEEN_MAX], *nm;
	size_t lens[SEEN_MAX], pos = 0, n = 0, nlen, plen, skip, excess, i;
	char full[64], name[64];

	if (header == NULL || kept == 0)
		return;
	skip = req->https ? strlen("__Host-") : 0;
	plen = (size_t)snprintf(full, sizeof(full), "%s%s",
				req->https ? "__Host-" : "", prefix);
	if (plen >= sizeof(full))
		return;
	while (n < SEEN_MAX &&
	       hp_cookie_next(header, &pos, &nm, &nlen) == HP_OK) {
		if (nlen > plen && nlen - skip < sizeof(name) &&
		    memcmp(nm, full, plen) == 0) {
			found[n] = nm;
			lens[n++] = nlen;
		}
	}
	/* The new cookie makes one more: n + 1 - kept too many. */
	excess = n >= kept ? n + 1 - kept : 0;
	for (i = 0; i < excess && i < PRUNE_MAX && i < n; i++) {
		memcpy(name, found[i] + skip, lens[i] - skip);
		name[lens[i] - skip] = '\0';
		af_resp_cookie(resp, name, "", AF_COOKIE_CLEAR);
	}
}
