/*
 * The pushd context: credentials loaded once, the shared token caches,
 * the metrics, and the worker threads' life cycle.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "pushd_internal.h"

#define NODE_HOST_MAX 40

static void say(char *err, size_t errlen, const char *what, const char *why)
{
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "pushd: %s%s", what, why);
}

/*
 * "<host>-<pid>-<random>": consumer names must differ between the
 * processes that share one Redis (a job's lease is told apart by them),
 * and stay printable whatever the host name holds. Host names and pids
 * alone can repeat: replicas in containers run as pid 1, and a host name
 * longer than the buffer gethostname() is given fails it. The random
 * part (from the CSPRNG, once per process) keeps them apart all the same.
 * -1 when no random part could be made.
 */
static int node_name(char *out, size_t cap)
{
	char host[HOST_NAME_MAX + 1], rnd[16];
	size_t i;

	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[NODE_HOST_MAX] = '\0';
	for (i = 0; host[i] != '\0'; i++) {
		char c = host[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.'))
			host[i] = '_';
	}
	if (af_random_token(6, rnd, sizeof(rnd)) != 0)
		return -1;
	(void)snprintf(out, cap, "%s-%ld-%s", host[0] != '\0' ? host : "pushd",
		       (long)getpid(), rnd);
	return 0;
}

/*
 * A CA file holds at least one certificate: one that holds none (a key,
 * a file cut short) would refuse every push service at its first push.
 */
static pushd_status ca_check(const char *field, const char *path, char *err,
			     size_t errlen)
{
	X509_STORE *store;
	X509_LOOKUP *lookup;
	int n = 0;

	if (path[0] == '\0')
		return PUSHD_OK;
	store = X509_STORE_new();
	lookup = store != NULL
			 ? X509_STORE_add_lookup(store, X509_LOOKUP_file())
			 : NULL;
	if (lookup != NULL)
		n = X509_load_cert_file(lookup, path, X509_FILETYPE_PEM);
	X509_STORE_free(store);
	ERR_clear_error();
	if (n > 0)
		return PUSHD_OK;
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "%s: %s holds no PEM certificate",
			       field, path);
	return PUSHD_ERR_CONFIG;
}

pushd_ctx *pushd_ctx_new(const af_config *cfg, store_ctx *st, log_ctx *log,
			 char *err, size_t errlen)
{
	pushd_ctx *ctx;
	size_t p;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cfg == NULL || st == NULL || log == NULL) {
		say(err, errlen, "invalid argument", "");
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		say(err, errlen, "out of memory", "");
		return NULL;
	}
	memcpy(&ctx->cfg, cfg, sizeof(ctx->cfg));
	ctx->store = st;
	ctx->log = log;
	ctx->transfer_timeout_ms = PUSHD_TRANSFER_TIMEOUT_MS;
	pthread_mutex_init(&ctx->jwt.mu, NULL);
	pthread_mutex_init(&ctx->fcm_token.mu, NULL);
	for (p = 0; p < PUSHD_SERVICES; p++)
		(void)pushd_pause_init(&ctx->pause[p]);
	if (node_name(ctx->node, sizeof(ctx->node)) != 0) {
		say(err, errlen, "no random bytes for the node name", "");
		goto fail;
	}
	if (cfg->push_apns &&
	    pushd_apns_key_load(cfg->apns.key_file, &ctx->apns_key, err,
				errlen) != PUSHD_OK)
		goto fail;
	if (cfg->push_apns &&
	    pushd_apns_shared_name(ctx->apns_key, cfg->apns.team_id,
				   cfg->apns.key_id, ctx->apns_shared,
				   sizeof(ctx->apns_shared)) != PUSHD_OK) {
		say(err, errlen, "push.apns.key_file: ", "unusable EC key");
		goto fail;
	}
	if (cfg->push_fcm &&
	    pushd_fcm_account_load(cfg->fcm.service_account_file,
				   cfg->fcm.token_uri, &ctx->fcm, err,
				   errlen) != PUSHD_OK)
		goto fail;
	if ((cfg->push_apns && ca_check("push.apns.ca_file", cfg->apns.ca_file,
					err, errlen) != PUSHD_OK) ||
	    (cfg->push_fcm && ca_check("push.fcm.ca_file", cfg->fcm.ca_file,
				       err, errlen) != PUSHD_OK))
		goto fail;
	return ctx;
fail:
	pushd_ctx_free(ctx);
	return NULL;
}

pushd_status pushd_check_credentials(const af_config *cfg, char *err,
				     size_t errlen)
{
	pushd_fcm_account fcm;
	cjose_jwk_t *key = NULL;
	pushd_status rc = PUSHD_OK;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cfg == NULL)
		return PUSHD_ERR_ARG;
	memset(&fcm, 0, sizeof(fcm));
	if (cfg->push_apns)
		rc = pushd_apns_key_load(cfg->apns.key_file, &key, err, errlen);
	if (rc == PUSHD_OK && cfg->push_apns)
		rc = ca_check("push.apns.ca_file", cfg->apns.ca_file, err,
			      errlen);
	if (rc == PUSHD_OK && cfg->push_fcm)
		rc = pushd_fcm_account_load(cfg->fcm.service_account_file,
					    cfg->fcm.token_uri, &fcm, err,
					    errlen);
	if (rc == PUSHD_OK && cfg->push_fcm)
		rc = ca_check("push.fcm.ca_file", cfg->fcm.ca_file, err,
			      errlen);
	cjose_jwk_release(key);
	pushd_fcm_account_cleanup(&fcm);
	return rc;
}

pushd_status pushd_check_config(const af_config *cfg, char *err, size_t errlen)
{
	store_options so;
	char why[256];

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (cfg == NULL)
		return PUSHD_ERR_ARG;
	/* A memory store lives inside one process: pushd would see no job. */
	if (cfg->store_backend != STORE_BACKEND_REDIS) {
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen,
				       "store.backend: must be \"redis\": the "
				       "memory store's jobs never leave "
				       "authflow (use push.mode \"embedded\" "
				       "there)");
		return PUSHD_ERR_CONFIG;
	}
	/*
	 * With no provider, every job it took would fail: on a store shared
	 * with nodes that can send, that is a share of every push lost.
	 */
	if (!cfg->push_apns && !cfg->push_fcm) {
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen,
				       "no push.apns or push.fcm section: "
				       "nothing to send pushes with");
		return PUSHD_ERR_CONFIG;
	}
	/* What store_open() refuses at start, in the same words. */
	memset(&so, 0, sizeof(so));
	so.backend = cfg->store_backend;
	so.url = cfg->store_url;
	so.prefix = cfg->store_prefix;
	so.timeout_ms = cfg->store_timeout_ms;
	if (store_check(&so, why, sizeof(why)) != STORE_OK) {
		if (err != NULL && errlen > 0)
			(void)snprintf(err, errlen, "store.url: %s", why);
		/* The reason may quote the URL, password included. */
		OPENSSL_cleanse(why, sizeof(why));
		return PUSHD_ERR_CONFIG;
	}
	return pushd_check_credentials(cfg, err, errlen);
}

static unsigned worker_count(const pushd_ctx *ctx)
{
	long n;

	if (ctx->cfg.push_workers > 0)
		return ctx->cfg.push_workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > AF_CONFIG_PUSH_WORKERS_MAX ? AF_CONFIG_PUSH_WORKERS_MAX
					      : (unsigned)n;
}

pushd_status pushd_start(pushd_ctx *ctx)
{
	unsigned i, n;
	pushd_status rc;

	if (ctx == NULL)
		return PUSHD_ERR_ARG;
	if (ctx->started)
		return PUSHD_ERR_STATE;
	if (store_queue_group_create(ctx->store, PUSHD_QUEUE, PUSHD_GROUP) !=
	    STORE_OK)
		return PUSHD_ERR_STORE;
	n = worker_count(ctx);
	ctx->workers = calloc(n, sizeof(struct pushd_worker *));
	if (ctx->workers == NULL)
		return PUSHD_ERR_NOMEM;
	atomic_store(&ctx->stopping, 0);
	ctx->started = 1;
	for (i = 0; i < n; i++) {
		rc = pushd_worker_new(ctx, i, &ctx->workers[i]);
		ctx->nworkers = i + 1;
		if (rc == PUSHD_OK)
			rc = pushd_worker_start(ctx->workers[i]);
		if (rc != PUSHD_OK) {
			pushd_stop(ctx, 0);
			return rc;
		}
	}
	atomic_store(&ctx->expected, n);
	log_info(ctx->log, NULL, "pushd_start",
		 "workers=%u apns=%s fcm=%s node=%s", n,
		 ctx->apns_key != NULL ? "on" : "off",
		 ctx->fcm.key != NULL ? "on" : "off", ctx->node);
	return PUSHD_OK;
}

void pushd_stop(pushd_ctx *ctx, unsigned grace_s)
{
	unsigned i;

	if (ctx == NULL || !ctx->started)
		return;
	atomic_store(&ctx->expected, 0);
	ctx->grace_deadline_ns =
		af_mono_ns() + (uint64_t)grace_s * 1000000000ull;
	atomic_store(&ctx->stopping, 1);
	for (i = 0; i < ctx->nworkers; i++)
		pushd_worker_free(ctx->workers[i]);
	free(ctx->workers);
	ctx->workers = NULL;
	ctx->nworkers = 0;
	ctx->started = 0;
}

void pushd_ctx_free(pushd_ctx *ctx)
{
	size_t p;

	if (ctx == NULL)
		return;
	pushd_listen_stop(ctx);
	pushd_stop(ctx, PUSHD_GRACE_S);
	if (ctx->apns_key != NULL)
		cjose_jwk_release(ctx->apns_key);
	pushd_fcm_account_cleanup(&ctx->fcm);
	pthread_mutex_destroy(&ctx->jwt.mu);
	pthread_mutex_destroy(&ctx->fcm_token.mu);
	for (p = 0; p < PUSHD_SERVICES; p++)
		pushd_pause_destroy(&ctx->pause[p]);
	OPENSSL_cleanse(ctx, sizeof(*ctx));
	free(ctx);
}

int pushd_healthy(pushd_ctx *ctx)
{
	unsigned want;

	/* Only atomics here: the HTTP thread calls this during start and stop.
	 */
	if (ctx == NULL || atomic_load(&ctx->stopping))
		return 0;
	want = atomic_load(&ctx->expected);
	if (want == 0 || atomic_load(&ctx->alive) != want)
		return 0;
	return store_ping(ctx->store) == STORE_OK;
}

/* ---- curl -------------------------------------------------------------------
 */

/* Counts the connections curl opens and closes, for the metrics. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose,
				 struct curl_sockaddr *addr)
{
	pushd_conn_meter *m = arg;
	curl_socket_t fd;

	(void)purpose;
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC,
		    addr->protocol);
	if (fd != CURL_SOCKET_BAD) {
		atomic_fetch_add(&m->open, 1);
		atomic_fetch_add(&m->opened, 1);
	}
	return fd;
}

static int close_socket(void *arg, curl_socket_t fd)
{
	pushd_conn_meter *m = arg;

	atomic_fetch_sub(&m->open, 1);
	return close(fd);
}

/*
 * libcurl turns on SSL_MODE_RELEASE_BUFFERS, so OpenSSL frees its 16 KiB
 * record buffers whenever they run empty and allocates them again for
 * the next record: on a connection that carries many small streams that
 * is a malloc, a wipe (the wiping allocator) and a free of 16 KiB per TLS
 * record, a large share of the cost of one push. A push connection lives
 * long and is always busy, so it keeps its two buffers; they are wiped
 * and freed with the connection.
 */
static CURLcode keep_tls_buffers(CURL *easy, void *ssl_ctx, void *arg)
{
	(void)easy;
	(void)arg;
	SSL_CTX_clear_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	return CURLE_OK;
}

pushd_status pushd_curl_common(pushd_ctx *ctx, CURL *easy, pushd_platform p)
{
	const char *ca =
		p == PUSHD_APNS ? ctx->cfg.apns.ca_file : ctx->cfg.fcm.ca_file;
	pushd_conn_meter *meter = &ctx->metrics.conns[p];

	/*
	 * HTTP/2 over TLS (ALPN h2), https only, no signals (several
	 * threads), bounded time per exchange, and the long-lived connection
	 * kept while idle, with TCP keep-alive. curl_easy_upkeep() (HTTP/2
	 * PING) is of no use here: in libcurl 7.88 it only tends the private
	 * connection cache of an easy handle used with curl_easy_perform(),
	 * not a multi handle's.
	 */
	if (curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
			     (long)CURL_HTTP_VERSION_2TLS) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https") !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
			     PUSHD_CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
			     ctx->transfer_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_MAXAGE_CONN, PUSHD_IDLE_KEEP_S) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, PUSHD_KEEPIDLE_S) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, PUSHD_KEEPINTVL_S) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, meter) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, meter) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION,
			     keep_tls_buffers) != CURLE_OK)
		return PUSHD_ERR_HTTP;
	if (ca[0] != '\0' &&
	    curl_easy_setopt(easy, CURLOPT_CAINFO, ca) != CURLE_OK)
		return PUSHD_ERR_HTTP;
	return PUSHD_OK;
}
