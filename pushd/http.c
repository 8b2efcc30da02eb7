/*
 * pushd's own small HTTP endpoint on push.listen: GET /healthz (200 when
 * every worker runs and the store answers, 503 otherwise) and GET
 * /metrics (to the addresses metrics.allow names, as authflow's own).
 * libmicrohttpd runs it on its internal select thread, so the handler is
 * re-entrant and reads the context only through its thread-safe calls.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "pushd_internal.h"

/* The /metrics text is small; this is far above it. */
#define METRICS_MAX ((size_t)256 * 1024)

/* An idle connection is closed after this; responses say so. */
#define IDLE_TIMEOUT_S	   10u
#define CONNECTIONS_MAX	   64u
/*
 * One address may hold this many of them unless limits.connections_per_ip
 * says otherwise: a scraper and a few probes per host fit, and one client
 * that opens connections and stays silent cannot take every slot.
 */
#define CONNECTIONS_PER_IP 16u
#define IDLE_KEEP_ALIVE	   "timeout=10"
/*
 * libmicrohttpd's memory per connection: the request line and headers
 * (more are answered 431 by libmicrohttpd), and the answer's header. It
 * clears the whole of it after each request on a kept-alive connection.
 * Query parameters take none of it (see drop_query()).
 */
#define CONN_POOL	   ((size_t)32 * 1024)

struct text {
	char *buf;
	size_t len, cap;
};

static int append(const char *data, size_t len, void *arg)
{
	struct text *t = arg;
	size_t cap;
	char *n;

	if (len > METRICS_MAX - t->len)
		return -1;
	if (t->len + len + 1 > t->cap) {
		cap = t->cap == 0 ? 8192 : t->cap * 2;
		while (cap < t->len + len + 1)
			cap *= 2;
		n = realloc(t->buf, cap);
		if (n == NULL)
			return -1;
		t->buf = n;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, data, len);
	t->len += len;
	t->buf[t->len] = '\0';
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *type, char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, "Content-Type", type);
	(void)MHD_add_response_header(r, "Cache-Control", "no-store");
	(void)MHD_add_response_header(r, "Keep-Alive", IDLE_KEEP_ALIVE);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status,
			     const char *text)
{
	char *body = strdup(text);

	if (body == NULL)
		return MHD_NO;
	return reply(c, status, "text/plain; charset=utf-8", body,
		     strlen(body));
}

/*
 * No endpoint reads a query. libmicrohttpd would make a record of each
 * of its parameters in CONN_POOL, and a target full of them would fill
 * it and be left unanswered until the idle timeout. The target given
 * here is its own copy of the request line, which it splits at the '?'
 * after this call: ending it right after the '?' leaves an empty query.
 */
static void *drop_query(void *cls, const char *uri, struct MHD_Connection *c)
{
	char *q = strchr(uri, '?');

	(void)cls;
	(void)c;
	if (q != NULL)
		q[1] = '\0';
	return NULL;
}

/*
 * 1 when the peer may read /metrics: its address is in metrics.allow.
 * Others get the 404 of an unknown path, as from authflow, so a scan
 * learns nothing. pushd has no proxy in front, so the peer is the client.
 */
static int metrics_allowed(const pushd_ctx *ctx, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;
	char ip[INET6_ADDRSTRLEN];

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	af_sockaddr_ip(ci != NULL ? ci->client_addr : NULL, ip, sizeof(ip));
	return af_ipnet_match(ctx->cfg.metrics_allow, ctx->cfg.nmetrics_allow,
			      ip);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	pushd_ctx *ctx = cls;
	struct text t = {NULL, 0, 0};

	(void)version;
	(void)upload;
	(void)con_cls;
	/* No endpoint takes a body; one is never read. */
	if (*upload_size != 0) {
		*upload_size = 0;
		return plain(c, 413, "no body expected\n");
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return plain(c, 405, "method not allowed\n");
	if (strcmp(url, "/healthz") == 0)
		return pushd_healthy(ctx) ? plain(c, 200, "ok\n")
					  : plain(c, 503, "unhealthy\n");
	if (strcmp(url, "/metrics") != 0 || !metrics_allowed(ctx, c))
		return plain(c, 404, "not found\n");
	if (pushd_metrics_render(ctx, append, &t) != PUSHD_OK) {
		free(t.buf);
		return plain(c, 500, "cannot render metrics\n");
	}
	return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf,
		     t.len);
}

/*
 * libmicrohttpd's own messages go to pushd's log as JSON lines at debug
 * level, as authflow's server does, never raw to stderr: a client can
 * cause most of them at will (a malformed request, a connection closed
 * early), each is answered already, and one about a failed start
 * ("Failed to bind to port 0", naming the wrong port) would only precede
 * pushd's own line about it (see pushd_listen()).
 */
static void mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	const pushd_ctx *ctx = cls;

	log_vdebug_line(ctx->log, "http_server", fmt, ap);
}

pushd_status pushd_listen(pushd_ctx *ctx, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char why[128];
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	unsigned per_ip = ctx != NULL && ctx->cfg.connections_per_ip > 0
				  ? ctx->cfg.connections_per_ip
				  : CONNECTIONS_PER_IP;

	if (ctx == NULL)
		return PUSHD_ERR_ARG;
	if (ctx->mhd != NULL)
		return PUSHD_ERR_STATE;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ctx->cfg.push_listen_address, &s4->sin_addr) ==
	    1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(ctx->cfg.push_listen_port);
	} else if (inet_pton(AF_INET6, ctx->cfg.push_listen_address,
			     &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(ctx->cfg.push_listen_port);
		flags |= MHD_USE_IPv6;
	} else {
		return PUSHD_ERR_CONFIG;
	}
	/*
	 * The logger first: libmicrohttpd prints what it says while reading
	 * the options before it with its own logger, to stderr.
	 */
	ctx->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, ctx,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, ctx, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
		IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, CONNECTIONS_MAX,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		per_ip < CONNECTIONS_MAX ? per_ip : CONNECTIONS_MAX,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_POOL,
		MHD_OPTION_URI_LOG_CALLBACK, drop_query, NULL, MHD_OPTION_END);
	if (ctx->mhd == NULL) {
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen,
				       "push.listen: cannot listen on %s port "
				       "%u (%s)",
				       ctx->cfg.push_listen_address,
				       (unsigned)ctx->cfg.push_listen_port,
				       af_bind_why(&ss, why, sizeof(why)));
		return PUSHD_ERR_HTTP;
	}
	return PUSHD_OK;
}

void pushd_listen_stop(pushd_ctx *ctx)
{
	if (ctx == NULL || ctx->mhd == NULL)
		return;
	MHD_stop_daemon(ctx->mhd);
	ctx->mhd = NULL;
}
