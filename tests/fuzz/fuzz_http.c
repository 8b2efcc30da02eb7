/*
 * Fuzz target: the server as a client meets it, through libmicrohttpd.
 * Each input is raw bytes sent on one TCP connection to the daemon that
 * af_server_start() runs on a loopback port: a request line, header
 * fields and a body, or several requests one after the other (kept
 * alive, pipelined). What the daemon's threads do with them (uri_cb(),
 * access_cb() and the early refusals, the body collected up to its cap,
 * the routes and their handlers, the password checks on the work queue,
 * the access line at completion) runs under the sanitizers.
 *
 * The server is made once per process, on a memory store: alice may sign
 * in (SSO on, no MFA) to clients "crm" and "web", whose ids and secrets,
 * like the other values below, are drawn at random. In an input these
 * stand for what a fuzzer cannot guess ($U, $F, $C, $W and $K made anew
 * for each input that holds them):
 *
 *   $I  crm's client id       $S  its secret
 *   $B  "Basic ..." of the id and secret (client_secret_basic)
 *   $U  the Cookie header's "name=value" of an SSO session of alice
 *   $F  the flow of a sign-in begun at /authorize for web
 *   $C  the CSRF token of that flow's form
 *   $W  that flow's binding cookie, "name=value"
 *   $K  a live authorization code of crm for alice
 *
 * No input names web, so none can remove it (the admin API takes the
 * superadmin token, ADMIN_TOKEN) and leave $F without a sign-in to begin.
 * Each value has a fixed length, so that a seed's Content-Length can
 * count it. alice's password is written out (PASS_ALICE).
 *
 * Once the input is sent and answered (or a moment has passed without an
 * answer), the connection is closed for writing, and the answers are read
 * until the server closes it or a few seconds pass (exchange()). Whatever
 * comes back must start as an HTTP/1.x answer does.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/crypto.h>

#include "common/util.h"
#include "directory/directory.h"
#include "fuzz_world.h"
#include "http/metrics.h"
#include "oidc/bclogout.h"
#include "oidc/grant.h"
#include "server.h"
#include "web/brand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REDIRECT     "https://crm.example.com/cb"
#define REDIRECT_ENC "https%3A%2F%2Fcrm.example.com%2Fcb"
#define PASS_ALICE   "alice's long passphrase"
#define ADMIN_TOKEN  "fuzz-superadmin-token-5e1d"

/*
 * Longer inputs are skipped: every cap of the server (target, header
 * fields, body) is reached well before.
 */
#define INPUT_MAX    ((size_t)64 * 1024)
/* The input with its placeholders put in. */
#define SENT_MAX     ((size_t)128 * 1024)
/* The longest an input's exchange may take, connect to close. */
#define EXCHANGE_MS  3000
/* How long an unanswered input waits before its end is sent (exchange()). */
#define SHUT_WAIT_MS 10
/* Connects tried, 10 ms apart, while no local port is free (dial()). */
#define DIAL_TRIES   300
/* The server's limits, low so that the inputs reach them. */
#define BODY_MAX     4096u
#define TIMEOUT_S    2u
#define THREADS	     2u
/*
 * A password check worth queueing costs SLOW_CHECK_NS (http/server.c);
 * the hash cost is raised until the directory's check takes this long.
 */
#define CHECK_NS_MIN 400000u
#define HASH_KIB_MAX 65536u

static struct {
	fz_world w;
	json_t *alice;
	char client[AF_DIR_CLIENT_ID_BUF];
	char secret[AF_DIR_SECRET_BUF];
	char web[AF_DIR_CLIENT_ID_BUF];
	char basic[256];
	int open;
} http;

/*
 * The directory again, with a hash cost high enough that the daemon
 * runs password checks on its work queue (af_server_start() makes one
 * only then), yet as low as that allows.
 */
static void dir_slow(fz_world *w)
{
	af_dir_options o;
	uint32_t kib;

	af_dir_free(w->srv.dir);
	w->srv.dir = NULL;
	for (kib = 256; kib <= HASH_KIB_MAX; kib *= 2) {
		af_dir_options_default(&o);
		o.pw.m_kib = kib;
		o.pw.t = 1;
		o.pw.p = 1;
		o.pwlist = w->srv.pwlist;
		if (af_dir_new(w->srv.store, &o, &w->srv.dir, NULL, 0) !=
		    AF_DIR_OK)
			abort();
		if (af_dir_check_ns(w->srv.dir) >= CHECK_NS_MIN)
			return;
		af_dir_free(w->srv.dir);
		w->srv.dir = NULL;
	}
	abort();
}

/*
 * What af_server_init() adds to a server that the world does not make:
 * metrics, the branding cache, the back-channel logout sender, the
 * request ids' prefix, and the settings of the daemon.
 */
static void server_fill(af_server *srv)
{
	af_admin_token *t;

	srv->cfg.listen_port = 0; /* the system picks a free one */
	srv->cfg.request_timeout_s = TIMEOUT_S;
	srv->cfg.body_max = BODY_MAX;
	/* The peer's X-Forwarded-For is read, as behind a proxy. */
	if (af_ipnet_parse("127.0.0.1/32", &srv->cfg.trusted_proxies[0]) != 0)
		abort();
	srv->cfg.ntrusted_proxies = 1;
	/*
	 * Sign-ins begun for $F are counted against one address: far more
	 * than a long run begins, so that none is refused.
	 */
	srv->cfg.flows_per_ip = 1000000;
	t = &srv->cfg.admin_tokens[srv->cfg.admin_token_count++];
	snprintf(t->name, sizeof(t->name), "%s", "root");
	t->role = AF_ROLE_SUPERADMIN;
	af_sha256(ADMIN_TOKEN, strlen(ADMIN_TOKEN), t->sha256);
	srv->threads = THREADS;
	if (af_random_token(6, srv->rid_prefix, sizeof(srv->rid_prefix)) != 0)
		abort();
	srv->metrics = af_metrics_new(af_route_name, af_route_count());
	srv->brand = af_brand_cache_new(srv->dir);
	srv->bcl = af_bcl_new(srv->log, srv->metrics, srv->keys,
			      srv->cfg.issuer, NULL);
	if (srv->metrics == NULL || srv->brand == NULL || srv->bcl == NULL)
		abort();
}

/* At exit: the daemon stopped, then everything the server holds freed. */
static void server_close(void)
{
	af_server *srv = &http.w.srv;

	af_server_stop(srv, 0);
	af_bcl_free(srv->bcl, 0);
	af_brand_cache_free(srv->brand);
	af_metrics_free(srv->metrics);
	json_decref(http.alice);
	OPENSSL_cleanse(http.secret, sizeof(http.secret));
	OPENSSL_cleanse(http.basic, sizeof(http.basic));
	fz_world_close(&http.w);
}

static void server_open(void)
{
	fz_world *w = &http.w;
	char err[256];

	fz_world_open(w, 1);
	/* Everything the daemon logs is formatted, to /dev/null. */
	log_free(w->srv.log);
	w->srv.log = log_new(w->logfd, LOG_LEVEL_DEBUG);
	if (w->srv.log == NULL)
		abort();
	dir_slow(w);
	fz_user(w, "{\"username\":\"alice\"}", PASS_ALICE, &http.alice);
	fz_policy(w, "{\"name\":\"std\",\"sso\":true,\"assigned\":{\"users\":"
		     "[\"alice\"]}}");
	fz_client(w,
		  "{\"name\":\"crm\",\"redirect_uris\":[\"" REDIRECT "\"],"
		  "\"deployment\":{\"mode\":\"all\"}}",
		  http.client, http.secret);
	fz_client(w,
		  "{\"name\":\"web\",\"redirect_uris\":[\"" REDIRECT "\"],"
		  "\"deployment\":{\"mode\":\"all\"}}",
		  http.web, NULL);
	fz_basic(http.client, http.secret, http.basic, sizeof(http.basic));
	server_fill(&w->srv);
	if (af_server_start(&w->srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	if (w->srv.slow == NULL) {
		fprintf(stderr, "fuzz_http: no work queue\n");
		abort();
	}
	http.open = 1;
	atexit(server_close);
}

/* The input with its placeholders put in, into b. */
static void expand(const char *text, size_t len, af_buf *b)
{
	char cookie[512] = "", code[AF_TOKEN_TEXT_MAX + 1] = "";
	fz_signin s;
	fz_subst subs[] = {
		{'I', http.client}, {'S', http.secret}, {'B', http.basic},
		{'U', cookie},	    {'F', s.flow},	{'C', s.csrf},
		{'W', s.cookie},    {'K', code},	{0, NULL}};

	memset(&s, 0, sizeof(s));
	if (fz_has(text, len, 'F') || fz_has(text, len, 'C') ||
	    fz_has(text, len, 'W'))
		fz_begin(&http.w, http.web, REDIRECT_ENC, &s);
	if (fz_has(text, len, 'U'))
		fz_session(&http.w, http.alice, cookie, sizeof(cookie), NULL);
	if (fz_has(text, len, 'K'))
		fz_code(&http.w, http.client, REDIRECT, http.alice, NULL, code);
	fz_expand(subs, text, len, b);
	OPENSSL_cleanse(code, sizeof(code));
	OPENSSL_cleanse(cookie, sizeof(cookie));
	OPENSSL_cleanse(&s, sizeof(s));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		abort();
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * A connection under way to the daemon. Ports all taken by connections
 * closed a moment ago (TIME_WAIT, at hundreds of inputs a second) are
 * waited for; a refusal means that nothing listens: the daemon is gone.
 */
static int dial(uint16_t port)
{
	struct sockaddr_in sa;
	char why[128];
	int fd, tries, err = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (tries = 0; tries < DIAL_TRIES; tries++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0);
		if (fd < 0)
			abort();
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
		    errno == EINPROGRESS)
			return fd;
		err = errno;
		close(fd);
		if (err != EADDRNOTAVAIL)
			break;
		(void)usleep(10 * 1000);
	}
	af_errno_text(err, why, sizeof(why));
	fprintf(stderr, "fuzz_http: connect: %s\n", why);
	abort();
}

/* Keeps the first bytes of an answer in head (cap bytes); *got counts all. */
static void keep(char *head, size_t cap, size_t *got, const char *buf, size_t n)
{
	if (*got < cap)
		memcpy(head + *got, buf, n < cap - *got ? n : cap - *got);
	*got += n;
}

/*
 * Sends data on a new connection and reads until the server closes it or
 * EXCHANGE_MS pass. Writes and reads interleave: a server that answers
 * before reading the whole input (a body refused by its length) must not
 * block the writes.
 *
 * The connection is closed for writing once the server has answered, or
 * SHUT_WAIT_MS after the last byte went when it has not. libmicrohttpd
 * (epoll, edge-triggered) takes a short read as the end of what is
 * there, so an end of input that came in with the input's last bytes
 * would go unseen until the connection's time limit; sent apart, it
 * comes as an event of its own.
 */
static void exchange(const char *data, size_t len, char *head, size_t cap,
		     size_t *got)
{
	uint64_t deadline = now_ms() + EXCHANGE_MS, now, sent_at = 0;
	int fd = dial(http.w.srv.port), wr_open = 1, timeout;
	size_t sent = 0;
	struct pollfd p;
	char buf[16384];
	ssize_t n;

	*got = 0;
	while ((now = now_ms()) < deadline) {
		if (sent == len && sent_at == 0)
			sent_at = now;
		if (wr_open && sent == len &&
		    (*got > 0 || now - sent_at >= SHUT_WAIT_MS)) {
			(void)shutdown(fd, SHUT_WR);
			wr_open = 0;
		}
		p.fd = fd;
		p.events =
			(short)(POLLIN | (wr_open && sent < len ? POLLOUT : 0));
		p.revents = 0;
		timeout = (int)(deadline - now);
		if (wr_open && sent == len && timeout > SHUT_WAIT_MS)
			timeout = SHUT_WAIT_MS;
		if (poll(&p, 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		if (wr_open && sent < len &&
		    (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
			if (n > 0) {
				sent += (size_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* The server closed: the rest is moot. */
				sent = len;
				wr_open = 0;
			}
		}
		if (!(p.revents & (POLLIN | POLLERR | POLLHUP)))
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0)
			keep(head, cap, got, buf, (size_t)n);
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			break;
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char http1[] = "HTTP/1.";
	char head[sizeof(http1) - 1];
	size_t got, n;
	af_buf b;

	if (size > INPUT_MAX)
		return 0;
	if (!http.open)
		server_open();
	af_buf_init(&b, SENT_MAX);
	expand((const char *)data, size, &b);
	if (!b.failed) {
		exchange(b.data != NULL ? b.data : "", b.len, head,
			 sizeof(head), &got);
		/* What came back starts as an HTTP/1.x answer does. */
		n = got < sizeof(head) ? got : sizeof(head);
		if (memcmp(head, http1, n) != 0) {
			fprintf(stderr, "fuzz_http: answer begins \"%.*s\"\n",
				(int)n, head);
			abort();
		}
	}
	af_buf_cleanup(&b);
	return 0;
}
