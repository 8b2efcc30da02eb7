/*
 * libmicrohttpd glue: one epoll daemon with a thread pool, request bodies
 * collected up to the configured cap, an af_req/af_resp per request, and
 * the headers every answer carries. Handlers run on MHD's worker threads,
 * except those of slow requests (af_route_slow()): their connection is
 * suspended and the handler runs on the work queue, whose threads resume
 * it with the answer ready. libmicrohttpd keeps a connection on one
 * thread, so a password check there would hold up every other
 * connection that thread serves, the phone's among them. A check cheaper
 * than SLOW_CHECK_NS (a low hash cost) is not worth two thread hops: it
 * runs where it arrived, as the token endpoint's RS256 signature does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "common/httpparse.h"
#include "common/secmem.h"
#include "common/util.h"
#include "http/tlsfiles.h"
#include "server.h"
#include "workq.h"

#define DEFAULT_CSP AF_CSP_HEAD AF_CSP_TAIL

/*
 * Bytes of a request's header fields, names and values with ": " and
 * CRLF, past which it is answered 431: what nginx lets through by default
 * (four buffers of 8 KiB), and far more than a browser sends a sign-in
 * server.
 */
#define HEADERS_MAX  32768
/*
 * libmicrohttpd's memory per connection: the request line, header fields
 * up to HEADERS_MAX and a record of each (one filled to the brim is
 * refused, 431 or 414, and closed), and the answer's header. It clears
 * the whole of it after every request on a kept-alive connection, so its
 * size is paid in time on each request and in resident memory on each
 * idle connection: it holds no query parameters (see uri_cb()).
 */
#define CONN_POOL    ((size_t)64 * 1024)
/* Bytes of a request's path in its access log line. */
#define LOG_PATH_MAX 512

/*
 * Native TLS (libmicrohttpd's GnuTLS): TLS 1.2 and 1.3 only, with
 * forward-secret key exchange and AEAD ciphers, as PCI DSS and the usual
 * scanners ask; GnuTLS's default would also take TLS 1.0 and CBC with
 * SHA-1. X25519 first among the groups, as clients send its key share
 * first: another order would cost them a second round trip (a TLS 1.3
 * HelloRetryRequest). The server's order of preference wins. It stands in
 * for the system's crypto policy, which libmicrohttpd would follow.
 */
#define TLS_PRIORITIES                                                 \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:"   \
	"+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:" \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:+GROUP-X25519:"    \
	"+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE"

/* About one RS256 signature with a 2048-bit key. */
#define SLOW_CHECK_NS	250000u
/*
 * The longest wait for a password check worth queueing for: past it a
 * sign-in is answered busy at once (503, Retry-After), rather than after
 * request_timeout_s of waiting behind others (a flood of wrong passwords
 * from many addresses, say).
 */
#define SLOW_WAIT_MAX_S 5u

struct sock_state;

/* Per-request state, kept in MHD's con_cls between calls. */
struct conn_state {
	char *uri;   /* the request target as sent: path and query, raw */
	char *query; /* once handle() cut uri at '?': what came after */
	size_t uri_len;
	int uri_too_long;
	int started;
	char method[32]; /* every method routed fits; a longer one is cut */
	af_buf body;
	int too_big;
	int bad_length;	     /* Content-Length or -Type given twice */
	int headers_too_big; /* over HEADERS_MAX */
	int too_slow;	     /* its body still came at the time limit */
	uint64_t start_ns;
	uint64_t queued_ns; /* when offload() queued it */
	/*
	 * The matched route; until access_cb() has seen the request's
	 * headers (libmicrohttpd may refuse them first) the one for "no
	 * route", so that such a request is not counted as another's.
	 */
	int route;
	unsigned status; /* 0: no answer was sent */
	char rid[AF_RID_LEN + 1];
	/* As client_ip() resolves it, once the headers are in. */
	char client_ip[64];
	/* A request handed to the work queue (offload()). */
	af_server *srv;
	struct MHD_Connection *conn;
	af_resp resp;
	int busy;		 /* the queue was full: answer it busy */
	int ready;		 /* resp holds the answer, to be sent */
	struct sock_state *sock; /* the connection's, or NULL */
};

/*
 * Per-connection state: the request uri_cb() made state for that
 * completed_cb() has not freed yet. libmicrohttpd calls completed_cb()
 * only for requests our handler saw; one it refused before that (headers
 * over its memory limit, say) is freed when its connection closes.
 */
struct sock_state {
	struct conn_state *open;
};

/* The peer's address as text; an IPv4-mapped IPv6 one as the IPv4. */
static void peer_ip(struct MHD_Connection *c, char *out, size_t outcap)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	af_sockaddr_ip(ci != NULL ? ci->client_addr : NULL, out, outcap);
}

/*
 * The client's address: the peer's, or, when the peer is one of
 * listen.trusted_proxies, the address X-Forwarded-For says the nearest
 * untrusted hop had: its entries are read from the right (each proxy
 * appends the address it saw), skipping trusted proxies. Anything the
 * header cannot vouch for (sent twice, an entry that is no address, none
 * but proxies) leaves the peer's address: a client may write any
 * X-Forwarded-For, so only what trusted proxies appended is believed.
 */
static void client_ip(const af_server *srv, struct MHD_Connection *c, char *out,
		      size_t outcap)
{
	char hop[HP_XFF_HOP_MAX];
	const char *xff;

	peer_ip(c, out, outcap);
	if (srv->cfg.ntrusted_proxies == 0 ||
	    !af_ipnet_match(srv->cfg.trusted_proxies, srv->cfg.ntrusted_proxies,
			    out) ||
	    af_conn_header_count(c, "X-Forwarded-For") != 1)
		return;
	xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					  "X-Forwarded-For");
	if (xff != NULL &&
	    hp_xff_client(xff, srv->cfg.trusted_proxies,
			  srv->cfg.ntrusted_proxies, hop,
			  sizeof(hop)) == HP_OK &&
	    strlen(hop) < outcap)
		memcpy(out, hop, strlen(hop) + 1);
}

/*
 * Keeps the request target exactly as the client sent it. libmicrohttpd
 * would otherwise percent-decode the path before the handlers see it, and
 * a name holding an encoded '/' (a group "a/b" in an admin path) would
 * split into two segments. Handlers decode what they need, once.
 */
static void request_free(af_server *srv, struct conn_state *cs)
{
	if (cs->sock != NULL)
		cs->sock->open = NULL;
	af_buf_cleanup(&cs->body);
	/* The target may carry codes or tokens in its query. */
	OPENSSL_cleanse(cs->uri, cs->uri_len);
	free(cs->uri);
	if (cs->started)
		atomic_fetch_sub(&srv->inflight, 1);
	free(cs);
}

/*
 * A target in absolute form ("http://host:port/path?query"), which a
 * server must accept (RFC 9112 3.2.2), is routed by its path: the part
 * from the first '/' or '?' after the authority, *slash set when it needs
 * a leading '/'. Any other target is itself.
 */
static const char *origin_form(const char *uri, int *slash)
{
	const char *p = uri;

	*slash = 0;
	if (strncasecmp(p, "http://", 7) == 0)
		p += 7;
	else if (strncasecmp(p, "https://", 8) == 0)
		p += 8;
	else
		return uri;
	p += strcspn(p, "/?");
	*slash = *p != '/';
	return p;
}

/*
 * A request's id: the server's random prefix, then its count of requests
 * in base64url, unique across restarts and nodes sharing a log without a
 * draw from the CSPRNG per request. It is no secret: X-Request-Id shows it.
 */
static void request_id(af_server *srv, char rid[AF_RID_LEN + 1])
{
	uint64_t n = atomic_fetch_add(&srv->rid_next, 1);
	uint8_t count[6];
	size_t i;

	for (i = 0; i < sizeof(count); i++)
		count[i] = (uint8_t)(n >> (8 * (sizeof(count) - 1 - i)));
	memcpy(rid, srv->rid_prefix, AF_RID_PREFIX_LEN);
	if (af_b64url_encode(count, sizeof(count), rid + AF_RID_PREFIX_LEN,
			     AF_RID_LEN + 1 - AF_RID_PREFIX_LEN) != 0)
		memcpy(rid + AF_RID_PREFIX_LEN, "--------", 9);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
	af_server *srv = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn_state *cs;
	const char *target;
	size_t n;
	int slash;
	char *q;

	cs = calloc(1, sizeof(*cs));
	if (cs == NULL)
		return NULL;
	af_buf_init(&cs->body, srv->cfg.body_max);
	cs->start_ns = af_mono_ns();
	cs->route = (int)af_route_count() - 1;
	request_id(srv, cs->rid);
	target = origin_form(uri, &slash);
	n = strlen(target);
	if (n > AF_REQ_URI_MAX) {
		/*
		 * Answered 414 without a look at it; its path, cut, is kept
		 * for the access line, never the query, which may carry
		 * codes and tokens.
		 */
		cs->uri_too_long = 1;
		n = strcspn(target, "?");
		if (n > LOG_PATH_MAX + 1)
			n = LOG_PATH_MAX + 1;
	}
	cs->uri = malloc(n + (size_t)slash + 1);
	if (cs->uri == NULL) {
		af_buf_cleanup(&cs->body);
		free(cs);
		return NULL;
	}
	cs->uri[0] = '/';
	memcpy(cs->uri + slash, target, n);
	n += (size_t)slash;
	cs->uri[n] = '\0';
	cs->uri_len = n;
	/*
	 * Left alone, libmicrohttpd would next make a record of each query
	 * parameter (about 60 bytes each, so 4096 in a target of AF_REQ_URI_MAX
	 * would not fit in CONN_POOL, and such a request would be neither
	 * answered nor refused until the time limit). authflow never reads
	 * those records: handle() parses the query from cs->uri. The target
	 * given here is libmicrohttpd's own copy of the request line, which
	 * it splits at the '?' after this call: ending it right after the
	 * '?' leaves it an empty query to record.
	 */
	q = strchr(uri, '?');
	if (q != NULL)
		q[1] = '\0';
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	cs->sock = ci != NULL ? ci->socket_context : NULL;
	if (cs->sock != NULL) {
		/* One request at a time per connection: the last is done. */
		if (cs->sock->open != NULL)
			request_free(srv, cs->sock->open);
		cs->sock->open = cs;
	}
	return cs;
}

static void conn_cb(void *cls, struct MHD_Connection *c, void **socket_context,
		    enum MHD_ConnectionNotificationCode toe)
{
	af_server *srv = cls;
	struct sock_state *ss = *socket_context;

	(void)c;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = calloc(1, sizeof(struct sock_state));
		return;
	}
	if (ss == NULL)
		return;
	if (ss->open != NULL)
		request_free(srv, ss->open);
	free(ss);
	*socket_context = NULL;
}

/* 1 when the body is a form: that media type, with parameters or none. */
static int is_form(struct MHD_Connection *c)
{
	static const char form[] = "application/x-www-form-urlencoded";
	const char *ct =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	char next;

	if (ct == NULL || strncasecmp(ct, form, sizeof(form) - 1) != 0)
		return 0;
	next = ct[sizeof(form) - 1];
	return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

static void add_security_headers(af_server *srv, af_resp *resp)
{
	if (af_resp_header_get(resp, "Content-Security-Policy") == NULL)
		af_resp_header_set(resp, "Content-Security-Policy",
				   DEFAULT_CSP);
	af_resp_header_set(resp, "X-Frame-Options", "DENY");
	af_resp_header_set(resp, "Referrer-Policy", "no-referrer");
	af_resp_header_set(resp, "X-Content-Type-Options", "nosniff");
	if (af_resp_header_get(resp, "Cache-Control") == NULL) {
		af_resp_header_set(resp, "Cache-Control", "no-store");
		af_resp_header_set(resp, "Pragma", "no-cache");
	}
	if (srv->cfg.issuer_https)
		af_resp_header_set(resp, "Strict-Transport-Security",
				   "max-age=31536000; includeSubDomains");
}

static enum MHD_Result send_resp(struct MHD_Connection *c, af_resp *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len = 0, i;
	int failed = resp->body.failed;
	char *body = af_buf_take(&resp->body, &len);

	/* A body past its cap (or out of memory): an error, never a
	 * success with nothing in it. */
	if (body == NULL && failed) {
		resp->status = 500;
		memcpy(resp->content_type, "text/plain; charset=utf-8",
		       sizeof("text/plain; charset=utf-8"));
		body = strdup("the answer could not be made\n");
		len = body != NULL ? strlen(body) : 0;
	} else if (body == NULL) {
		body = strdup("");
		len = 0;
	}
	if (body == NULL)
		return MHD_NO;
	/*
	 * Wiped when libmicrohttpd is done with it: answers carry tokens,
	 * client secrets and enrollment codes.
	 */
	r = MHD_create_response_from_buffer_with_free_callback(len, body,
							       af_secmem_free);
	if (r == NULL) {
		af_secmem_free(body);
		return MHD_NO;
	}
	if (resp->content_type[0] != '\0')
		MHD_add_response_header(r, "Content-Type", resp->content_type);
	for (i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(r, resp->headers[i].name,
					resp->headers[i].value);
	ret = MHD_queue_response(c, resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * Reads the request and routes it: to its handler (early 0), or to its
 * early part (af_dispatch_early()), whose answer it returns. A request
 * may be read twice, early on its HTTP thread and then on the work queue.
 */
static af_early handle(af_server *srv, struct MHD_Connection *c,
		       struct conn_state *cs, const char *method, int overdue,
		       int early, af_resp *resp)
{
	char *qmark = cs->query == NULL ? strchr(cs->uri, '?') : NULL;
	af_early e = AF_EARLY_ANSWERED;
	hp_status st;
	af_req req;

	memset(&req, 0, sizeof(req));
	if (qmark != NULL) {
		*qmark = '\0';
		cs->query = qmark + 1;
	}
	req.method = method;
	req.path = cs->uri;
	req.raw_query = cs->query;
	req.conn = c;
	req.https = srv->cfg.issuer_https;
	req.overdue = overdue;
	memcpy(req.rid, cs->rid, sizeof(req.rid));
	memcpy(req.client_ip, cs->client_ip, sizeof(req.client_ip));
	st = cs->query != NULL
		     ? hp_params_parse(cs->query, strlen(cs->query), &req.query)
		     : HP_OK;
	if (st == HP_ERR_DUPLICATE)
		req.duplicate_param = 1;
	else if (st != HP_OK)
		req.malformed = AF_REQ_BAD_QUERY;
	req.too_many_params = st == HP_ERR_TOO_MANY;
	if (req.query == NULL)
		req.query = hp_params_new();
	if (req.query == NULL) {
		af_resp_text(resp, 503, "text/plain", "out of memory\n");
		goto out;
	}
	if (cs->body.len > 0) {
		req.body = cs->body.data;
		req.body_len = cs->body.len;
		st = HP_OK;
		if (is_form(c))
			st = hp_params_parse(req.body, req.body_len, &req.form);
		if (st == HP_ERR_DUPLICATE)
			req.duplicate_param = 1;
		else if (st != HP_OK)
			req.malformed = AF_REQ_BAD_FORM;
		if (st == HP_ERR_TOO_MANY)
			req.too_many_params = 1;
	}
	req.route = cs->route;
	if (early)
		e = af_dispatch_early(srv, &req, resp);
	else
		af_dispatch(srv, &req, resp);
out:
	hp_params_free(req.query);
	hp_params_free(req.form);
	return e;
}

/*
 * Builds the answer to a complete request, with the common headers; with
 * early, only when the request's early part answers it (the return says
 * whether it did, and how the rest is to be queued when not).
 */
static af_early answer(af_server *srv, struct MHD_Connection *c,
		       struct conn_state *cs, const char *method, int overdue,
		       int early, af_resp *resp)
{
	char keep_alive[32];
	af_early e = AF_EARLY_ANSWERED;

	/* A target too long is not looked at, so not routed either. */
	if (cs->uri_too_long)
		af_resp_text(resp, 414, "text/plain; charset=utf-8",
			     "request target too long\n");
	else if (cs->headers_too_big)
		af_route_refuse(cs->route, resp, 431,
				"request header fields too large");
	else if (cs->bad_length)
		af_route_refuse(cs->route, resp, 400,
				"Content-Length or Content-Type given more "
				"than once");
	else if (cs->too_big || cs->body.failed)
		af_route_refuse(cs->route, resp, 413, "request body too large");
	else
		e = handle(srv, c, cs, method, overdue, early, resp);
	if (e != AF_EARLY_ANSWERED)
		return e;
	add_security_headers(srv, resp);
	af_resp_header_set(resp, "X-Request-Id", cs->rid);
	/*
	 * An idle connection is closed after the request time limit. Saying
	 * so lets a client stop reusing it first, rather than send its next
	 * request into a socket the server is closing at that moment.
	 */
	snprintf(keep_alive, sizeof(keep_alive), "timeout=%u",
		 srv->cfg.request_timeout_s);
	af_resp_header_set(resp, "Keep-Alive", keep_alive);
	/* While stopping, each connection closes after its answer. */
	if (atomic_load(&srv->stopping))
		af_resp_header_set(resp, "Connection", "close");
	return e;
}

/*
 * The longest a password check may wait for a thread: SLOW_WAIT_MAX_S, or
 * request_timeout_s, past which a check is not run anyway.
 */
static uint64_t slow_wait_ns(const af_server *srv)
{
	uint64_t wait_s = srv->cfg.request_timeout_s < SLOW_WAIT_MAX_S
				  ? srv->cfg.request_timeout_s
				  : SLOW_WAIT_MAX_S;

	return wait_s * 1000000000u;
}

/*
 * On a work queue thread: the answer, then the connection resumed. One
 * that waited in the queue past the bound (slow_wait_ns()), the queue's
 * estimate having been short, or is past the request time limit, is
 * answered busy without its check.
 */
static int run_slow(void *arg)
{
	struct conn_state *cs = arg;
	struct MHD_Connection *c = cs->conn;
	uint64_t now = af_mono_ns();
	int worked;
	int overdue =
		cs->busy || now - cs->queued_ns > slow_wait_ns(cs->srv) ||
		now - cs->start_ns > (uint64_t)cs->srv->cfg.request_timeout_s *
					     1000000000ull;

	(void)answer(cs->srv, c, cs, cs->method, overdue, 0, &cs->resp);
	worked = !overdue && cs->resp.hashed;
	cs->ready = 1;
	/* From here on the connection and cs are its thread's again. */
	MHD_resume_connection(c);
	return worked;
}

/*
 * Suspends the connection and queues its handler, in the first lane for
 * AF_EARLY_QUEUE_FIRST; libmicrohttpd calls access_cb() again once
 * run_slow() has resumed it. When the task cannot be queued (out of
 * memory, or the server stopping) it runs right here; when it would wait
 * too long, it is answered busy right here.
 */
static void offload(af_server *srv, struct MHD_Connection *c,
		    struct conn_state *cs, af_early lane)
{
	af_workq_status st;

	cs->srv = srv;
	cs->conn = c;
	cs->queued_ns = af_mono_ns();
	af_resp_init(&cs->resp, srv->cfg.issuer_https);
	MHD_suspend_connection(c);
	st = lane == AF_EARLY_QUEUE_FIRST
		     ? af_workq_push_first(srv->slow, run_slow, cs)
		     : af_workq_push(srv->slow, run_slow, cs);
	if (st == AF_WORKQ_ERR_FULL)
		cs->busy = 1;
	if (st != AF_WORKQ_OK)
		run_slow(cs);
}

/* Adds the bytes of one header field, as sent, to *cls. */
static enum MHD_Result header_bytes(void *cls, enum MHD_ValueKind kind,
				    const char *key, const char *value)
{
	size_t *n = cls;

	(void)kind;
	*n += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
	return MHD_YES;
}

/*
 * 1 when the headers alone refuse the request, so that it is answered
 * before any body is read: header fields over HEADERS_MAX (431), a body
 * declared over the cap (413), or a Content-Length or Content-Type given
 * more than once (400: RFC 9112 6.3, a framing or a body two parsers
 * could read two ways).
 */

static int refuse_early(af_server *srv, struct MHD_Connection *c,
			struct conn_state *cs)
{
	const char *cl = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end = NULL;
	unsigned long long len;
	size_t headers = 0;

	(void)MHD_get_connection_values(c, MHD_HEADER_KIND, header_bytes,
					&headers);
	if (headers > HEADERS_MAX) {
		cs->headers_too_big = 1;
		return 1;
	}
	/* One Content-Length, one Content-Type: two may be read two ways. */
	if (af_conn_header_count(c, MHD_HTTP_HEADER_CONTENT_LENGTH) > 1 ||
	    af_conn_header_count(c, MHD_HTTP_HEADER_CONTENT_TYPE) > 1) {
		cs->bad_length = 1;
		return 1;
	}
	if (cl == NULL)
		return 0;
	len = strtoull(cl, &end, 10);
	if (end != cl && *end == '\0' && len > srv->cfg.body_max) {
		cs->too_big = 1;
		return 1;
	}
	return 0;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c,
				 const char *url, const char *method,
				 const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	af_server *srv = cls;
	struct conn_state *cs = *con_cls;
	af_resp resp;
	enum MHD_Result ret;
	int method_ok = 0;

	(void)version;
	(void)url;
	if (cs == NULL)
		return MHD_NO;
	if (!cs->started) {
		char *q = strchr(cs->uri, '?');
		size_t plen =
			q != NULL ? (size_t)(q - cs->uri) : strlen(cs->uri);
		char path[512];

		cs->started = 1;
		/* Under way: a graceful stop waits for it. */
		atomic_fetch_add(&srv->inflight, 1);
		/* A longer one is no method the routes know, and is logged
		 * with a mark that it was cut. */
		if (strlen(method) < sizeof(cs->method))
			memcpy(cs->method, method, strlen(method) + 1);
		else
			snprintf(cs->method, sizeof(cs->method), "%.*s...",
				 (int)sizeof(cs->method) - 4, method);
		client_ip(srv, c, cs->client_ip, sizeof(cs->client_ip));
		if (plen >= sizeof(path))
			plen = sizeof(path) - 1;
		memcpy(path, cs->uri, plen);
		path[plen] = '\0';
		cs->route = af_route_find(method, path, &method_ok);
		if (!refuse_early(srv, c, cs))
			return MHD_YES;
		/* Answered now: no body is read (or asked for with 100). */
		af_resp_init(&resp, srv->cfg.issuer_https);
		(void)answer(srv, c, cs, method, 0, 0, &resp);
		af_resp_header_set(&resp, "Connection", "close");
		cs->status = resp.status;
		ret = send_resp(c, &resp);
		af_resp_cleanup(&resp);
		return ret;
	}
	if (*upload_size > 0) {
		/*
		 * The idle timeout alone lets a body trickle in forever, a
		 * byte at a time: the whole request has the time limit.
		 */
		if (af_mono_ns() - cs->start_ns >
		    (uint64_t)srv->cfg.request_timeout_s * 1000000000ull) {
			cs->too_slow = 1;
			return MHD_NO;
		}
		if (cs->body.len + *upload_size > srv->cfg.body_max)
			cs->too_big = 1;
		else
			af_buf_append(&cs->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}

	if (cs->ready) {
		/* Back from the work queue with the answer. */
		cs->ready = 0;
		cs->status = cs->resp.status;
		ret = send_resp(c, &cs->resp);
		af_resp_cleanup(&cs->resp);
		return ret;
	}
	af_resp_init(&resp, srv->cfg.issuer_https);
	if (srv->slow != NULL && af_route_slow(cs->route, method)) {
		/*
		 * What needs no password check (a throttled or locked
		 * sign-in, an expired form) is answered here, so that only
		 * checks wait in the queue and count towards its bound.
		 */
		af_early e = answer(srv, c, cs, method, 0, 1, &resp);

		if (e != AF_EARLY_ANSWERED) {
			af_resp_cleanup(&resp);
			offload(srv, c, cs, e);
			return MHD_YES;
		}
	} else {
		(void)answer(srv, c, cs, method, 0, 0, &resp);
	}
	cs->status = resp.status;
	ret = send_resp(c, &resp);
	af_resp_cleanup(&resp);
	return ret;
}

/*
 * Why a request that got no answer ended, for its access line: what the
 * client did, or the server, in words a reader of the log understands.
 */
static const char *aborted_why(enum MHD_RequestTerminationCode toe)
{
	switch (toe) {
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
		return "the client was silent past limits.request_timeout_s";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
		return "the server stopped";
	case MHD_REQUEST_TERMINATED_READ_ERROR:
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
		return "the client closed the connection mid-request";
	case MHD_REQUEST_TERMINATED_COMPLETED_OK:
	case MHD_REQUEST_TERMINATED_WITH_ERROR:
	default:
		return "the connection failed before an answer was sent";
	}
}

/*
 * The status a request was answered with: ours, or, for one that
 * libmicrohttpd answered itself (headers too large: 431, a malformed
 * chunked body: 400, ...), the one it queued. 0 when none was sent.
 */
static unsigned sent_status(struct MHD_Connection *c,
			    const struct conn_state *cs)
{
	const union MHD_ConnectionInfo *ci;

	if (cs->status != 0)
		return cs->status;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
	return ci != NULL ? ci->http_status : 0;
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	af_server *srv = cls;
	struct conn_state *cs = *con_cls;
	uint64_t ns;
	char *q;

	if (cs == NULL)
		return;
	if (cs->ready) /* the connection ended before the answer went */
		af_resp_cleanup(&cs->resp);
	ns = af_mono_ns() - cs->start_ns;
	cs->status = sent_status(c, cs);
	af_metrics_request(srv->metrics, cs->route, cs->status, ns);
	/*
	 * One access line per request; the query was cut off the target in
	 * handle(), since it can carry codes and tokens.
	 */
	q = strchr(cs->uri, '?');
	if (q != NULL)
		*q = '\0';
	/*
	 * A request whose headers never came in whole has not had its
	 * X-Forwarded-For read: the peer's address is all there is.
	 */
	if (cs->client_ip[0] == '\0')
		peer_ip(c, cs->client_ip, sizeof(cs->client_ip));
	if (log_enabled(srv->log, LOG_LEVEL_INFO)) {
		char status[16], ms[24], path[LOG_PATH_MAX + 4];
		const char *kv[13];
		size_t n = strlen(cs->uri), k = 0;

		/*
		 * Every path the server knows is far shorter: a longer one
		 * is cut (not inside a UTF-8 character), so that junk
		 * requests cannot make each line kilobytes long.
		 */
		if (n > LOG_PATH_MAX) {
			n = af_utf8_cut(cs->uri, n, LOG_PATH_MAX);
			memcpy(path, cs->uri, n);
			memcpy(path + n, "...", 4);
		} else {
			memcpy(path, cs->uri, n + 1);
		}
		/* No answer: "aborted", and why, rather than a status 0. */
		if (cs->status == 0)
			memcpy(status, "aborted", sizeof("aborted"));
		else
			snprintf(status, sizeof(status), "%u", cs->status);
		snprintf(ms, sizeof(ms), "%.3f", (double)ns / 1e6);
		kv[k++] = "method";
		kv[k++] = cs->method;
		kv[k++] = "path";
		kv[k++] = path;
		kv[k++] = "status";
		kv[k++] = status;
		kv[k++] = "ip";
		kv[k++] = cs->client_ip;
		kv[k++] = "ms";
		kv[k++] = ms;
		if (cs->status == 0) {
			kv[k++] = "aborted";
			kv[k++] = cs->too_slow ? "the request took longer than "
						 "limits.request_timeout_s"
					       : aborted_why(toe);
		}
		kv[k] = NULL;
		log_write(srv->log, LOG_LEVEL_INFO, cs->rid, "http", kv, "%s",
			  "");
	}
	request_free(srv, cs);
	*con_cls = NULL;
}

static int make_addr(const af_config *cfg, struct sockaddr_storage *ss, int *v6)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, cfg->listen_address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(cfg->listen_port);
		*v6 = 0;
		return 0;
	}
	if (inet_pton(AF_INET6, cfg->listen_address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(cfg->listen_port);
		*v6 = 1;
		return 0;
	}
	return -1;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0)
		goto out;
	n = ftell(f);
	if (n < 0 || n > AF_TLS_FILE_MAX || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
out:
	fclose(f);
	return buf;
}

/*
 * libmicrohttpd's own messages (a client that closed mid-request, a
 * malformed header) as JSON lines like every other, at debug level: a
 * client can cause them at will, and each one is answered already.
 */
static void mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* How often running out of descriptors is told while it lasts. */
#define NO_FDS_TOLD_EVERY_NS (60ull * 1000000000u)

/*
 * Out of descriptors, no connection is accepted until some close: new
 * clients wait and time out. An operator is told, once a minute, with the
 * limit to raise; what said so (by) is added.
 */
static void no_fds(af_server *srv, const char *by)
{
	uint64_t now = af_mono_ns(), last = atomic_load(&srv->no_fds_told_ns);
	struct rlimit rl;

	if ((last != 0 && now - last < NO_FDS_TOLD_EVERY_NS) ||
	    !atomic_compare_exchange_strong(&srv->no_fds_told_ns, &last, now))
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_cur = 0;
	log_error(srv->log, NULL, "http_server",
		  "new connections are not accepted: the process is out of "
		  "file descriptors (%llu allowed; raise LimitNOFILE or "
		  "ulimit -n); %s",
		  (unsigned long long)rl.rlim_cur, by);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	af_server *srv = cls;
	char line[256];
	int n;

	/* Out of descriptors (or memory for sockets) for a connection. */
	if (strstr(fmt, "resource limit") == NULL) {
		log_vdebug_line(srv->log, "http_server", fmt, ap);
		return;
	}
	n = snprintf(line, sizeof(line), "libmicrohttpd: ");
	(void)vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	line[strcspn(line, "\r\n")] = '\0';
	no_fds(srv, line);
}

int af_server_listen_probe(const af_config *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char why[128];
	int v6 = 0;

	/* Not an address, or a port the system picks: start says so. */
	if (make_addr(cfg, &ss, &v6) != 0 || cfg->listen_port == 0 ||
	    af_bind_probe(&ss, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen, "listen: cannot listen on %s port %u (%s)",
		 cfg->listen_address, (unsigned)cfg->listen_port, why);
	return -1;
}

/* A descriptor set close-on-exec and non-blocking: 0, or -1. */
static int cloexec_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return -1;
	return 0;
}

/*
 * Accepts connections and hands each to the daemon, which gives it to a
 * worker by its descriptor's number: the connections of a burst spread
 * over the workers. The daemon's own accept, in each worker's event
 * loop, lets whichever wakes first take a run of them, and a connection
 * stays with the worker that took it: a few busy kept-alive connections
 * (a proxy's, a load test's) could all land on one worker and leave the
 * other cores idle. Ends when the socket is shut down (af_server_stop()).
 */
static void *acceptor_main(void *arg)
{
	af_server *srv = arg;
	struct sockaddr_storage peer;
	socklen_t len;
	char why[128];
	int fd, err;

	for (;;) {
		len = sizeof(peer);
		fd = accept(srv->listen_fd, (struct sockaddr *)&peer, &len);
		if (fd >= 0 && cloexec_nonblock(fd) != 0) {
			(void)close(fd);
			continue;
		}
		if (fd >= 0) {
			/* Refused (a limit, memory), it is closed. */
			(void)MHD_add_connection(srv->mhd, fd,
						 (const struct sockaddr *)&peer,
						 len);
			continue;
		}
		err = errno;
		if (atomic_load(&srv->stopping))
			break;
		/* Out of descriptors or memory: a moment, not a busy loop. */
		if (err == EMFILE || err == ENFILE)
			no_fds(srv, "accept: too many open files");
		if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
		    err == ENOMEM) {
			(void)usleep(10 * 1000);
		} else if (err != EINTR && err != ECONNABORTED &&
			   err != EPROTO && err != EPERM) {
			/* Not the client's doing: said, and tried again. */
			af_errno_text(err, why, sizeof(why));
			log_error(srv->log, NULL, "http_server", "accept: %s",
				  why);
			(void)usleep(100 * 1000);
		}
	}
	return NULL;
}

int af_server_start(af_server *srv, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET |
			 MHD_USE_ITC;
	char *cert = NULL, *key = NULL, why[AF_CONFIG_PATH_MAX + 128];
	struct MHD_OptionItem tls_ops[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, NULL},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, NULL},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
		{MHD_OPTION_END, 0, NULL},
	};
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int v6 = 0, rc = -1;
	unsigned ncores;
	long cores;

	srv->listen_fd = -1;

	if (make_addr(&srv->cfg, &ss, &v6) != 0) {
		snprintf(err, errlen, "listen.address: not an IP address");
		return -1;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	/* Slow requests are CPU work: one work queue thread per core. */
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	ncores = cores > 0 ? (unsigned)cores : 2;
	if (af_dir_check_ns(srv->dir) >= SLOW_CHECK_NS) {
		if (af_workq_new(ncores, &srv->slow) != AF_WORKQ_OK) {
			snprintf(err, errlen, "cannot start the work queue");
			return -1;
		}
		af_workq_bound(srv->slow, slow_wait_ns(srv),
			       af_dir_check_ns(srv->dir));
	}
	if (srv->cfg.tls_cert_file[0] != '\0') {
		/* A bad file would otherwise read as a port that is taken. */
		if (af_tls_files_check(srv->cfg.tls_cert_file,
				       srv->cfg.tls_key_file, err, errlen) != 0)
			goto out;
		if (af_tls_cert_dates(srv->cfg.tls_cert_file, time(NULL), why,
				      sizeof(why)) != 0)
			log_warn(srv->log, NULL, "tls", "%s", why);
		cert = read_file(srv->cfg.tls_cert_file);
		key = read_file(srv->cfg.tls_key_file);
		if (cert == NULL || key == NULL) {
			snprintf(err, errlen, "tls: cannot read %s or %s",
				 srv->cfg.tls_cert_file, srv->cfg.tls_key_file);
			goto out;
		}
		flags |= MHD_USE_TLS;
	}
	tls_ops[0].ptr_value = cert;
	tls_ops[1].ptr_value = key;
	/*
	 * The logger first, so that what libmicrohttpd says of the options
	 * after it goes to the log too; one thread is no pool, which it
	 * would warn of.
	 */
	/*
	 * Only SO_REUSEADDR is set (libmicrohttpd's default), never
	 * SO_REUSEPORT: a second server on a port in use must fail here, not
	 * share the port's connections with the first.
	 */
	srv->listen_fd = af_listen_on(&ss, why, sizeof(why));
	if (srv->listen_fd < 0) {
		snprintf(err, errlen,
			 "listen: cannot listen on %s port %u (%s)",
			 srv->cfg.listen_address,
			 (unsigned)srv->cfg.listen_port, why);
		goto out;
	}
	srv->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, access_cb, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
		MHD_OPTION_THREAD_POOL_SIZE,
		srv->threads > 1 ? srv->threads : 0u,
		MHD_OPTION_CONNECTION_TIMEOUT, srv->cfg.request_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_POOL,
		MHD_OPTION_CONNECTION_LIMIT, AF_CONNECTIONS_MAX,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->cfg.connections_per_ip,
		MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv,
		MHD_OPTION_URI_LOG_CALLBACK, uri_cb, srv,
		MHD_OPTION_NOTIFY_CONNECTION, conn_cb, srv, MHD_OPTION_ARRAY,
		cert != NULL ? tls_ops : tls_ops + 3, MHD_OPTION_END);
	if (srv->mhd == NULL) {
		snprintf(err, errlen,
			 "listen: cannot start the HTTP server on %s port %u",
			 srv->cfg.listen_address,
			 (unsigned)srv->cfg.listen_port);
		goto out;
	}
	srv->port = srv->cfg.listen_port;
	if (getsockname(srv->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
		srv->port = ntohs(
			bound.ss_family == AF_INET6
				? ((struct sockaddr_in6 *)&bound)->sin6_port
				: ((struct sockaddr_in *)&bound)->sin_port);
	if (pthread_create(&srv->acceptor, NULL, acceptor_main, srv) != 0) {
		snprintf(err, errlen, "cannot start the accepting thread");
		goto out;
	}
	srv->acceptor_running = 1;
	rc = 0;
out:
	if (rc != 0) {
		if (srv->mhd != NULL)
			MHD_stop_daemon(srv->mhd);
		srv->mhd = NULL;
		if (srv->listen_fd >= 0)
			(void)close(srv->listen_fd);
		srv->listen_fd = -1;
		af_workq_free(srv->slow);
		srv->slow = NULL;
	}
	if (key != NULL) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	free(cert);
	return rc;
}

void af_server_stop(af_server *srv, unsigned grace_s)
{
	unsigned waited_ms = 0;

	if (srv->mhd == NULL)
		return;
	atomic_store(&srv->stopping, 1);
	/*
	 * Stop accepting; requests already begun run to completion. Idle
	 * keep-alive connections are not waited for: browsers keep them for
	 * minutes. They close with the daemon; a request sent on one at
	 * that moment fails as any sent a moment later would. Shut down, the
	 * listening socket refuses a client connecting now at once (and a
	 * proxy tries another node) instead of keeping it in the backlog
	 * for an answer that never comes, and the accepting thread ends.
	 * The socket is closed once that thread is gone: a number closed
	 * while it may still use it could name another file by then.
	 */
	(void)shutdown(srv->listen_fd, SHUT_RDWR);
	if (srv->acceptor_running)
		(void)pthread_join(srv->acceptor, NULL);
	srv->acceptor_running = 0;
	while (waited_ms < grace_s * 1000 && atomic_load(&srv->inflight) > 0) {
		usleep(50 * 1000);
		waited_ms += 50;
	}
	/*
	 * Every queued slow request runs and resumes its connection before
	 * the daemon goes: libmicrohttpd must not stop with one suspended.
	 * A slow request arriving meanwhile runs on its own thread (the
	 * queue refuses it), and the queue is freed only once no handler
	 * can reach it.
	 */
	if (srv->slow != NULL)
		af_workq_stop(srv->slow);
	MHD_stop_daemon(srv->mhd);
	srv->mhd = NULL;
	(void)close(srv->listen_fd);
	srv->listen_fd = -1;
	af_workq_free(srv->slow);
	srv->slow = NULL;
}
