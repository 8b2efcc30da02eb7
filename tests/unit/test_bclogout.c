/*
 * Unit tests of back-channel logout (oidc/bclogout.c): the logout token's
 * claims and header, and the sender against a relying party played by a
 * thread of this test on a loopback port, which answers each POST with
 * the next status of its script.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/util.h"
#include "oidc/bclogout.h"
#include "server.h"

#define REQ_MAX	 8192
#define SEEN_MAX 8
#define WAIT_MS	 10000
#define ISSUER	 "https://id.example.com"
#define FIELD	 "logout_token="

/* The relying party: what it was sent, and how it answers. */
struct rp {
	int fd; /* listening */
	unsigned short port;
	const unsigned *script; /* statuses, one per request, 0-ended */
	pthread_mutex_t mu;
	unsigned seen;
	char paths[SEEN_MAX][64];
	char bodies[SEEN_MAX][2048];
	int form_type[SEEN_MAX]; /* sent as a form */
	pthread_t thread;
};

/* Reads one request from c into buf; its length, or 0. */
static size_t read_request(int c, char *buf)
{
	size_t len = 0;
	char *end;
	long clen;

	for (;;) {
		struct pollfd p = {.fd = c, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, WAIT_MS) <= 0 || len + 1 >= REQ_MAX)
			return 0;
		n = read(c, buf + len, REQ_MAX - 1 - len);
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end == NULL)
			continue;
		clen = 0;
		{
			const char *h = strstr(buf, "\r\nContent-Length:");

			if (h != NULL)
				clen = strtol(h + 17, NULL, 10);
		}
		if ((size_t)(end + 4 - buf) + (size_t)clen <= len)
			return len;
	}
}

static void *rp_main(void *arg)
{
	struct rp *rp = arg;
	static char buf[REQ_MAX];
	char reply[256], loc[96];
	unsigned i;

	for (i = 0; rp->script[i] != 0; i++) {
		int c = accept(rp->fd, NULL, NULL);
		const char *body, *sp;
		size_t n;

		if (c < 0)
			break;
		n = read_request(c, buf);
		if (n > 0) {
			pthread_mutex_lock(&rp->mu);
			if (rp->seen < SEEN_MAX) {
				sp = strchr(buf, ' ');
				snprintf(rp->paths[rp->seen],
					 sizeof(rp->paths[0]), "%.*s",
					 sp != NULL ? (int)strcspn(sp + 1, " ")
						    : 0,
					 sp != NULL ? sp + 1 : "");
				body = strstr(buf, "\r\n\r\n");
				snprintf(rp->bodies[rp->seen],
					 sizeof(rp->bodies[0]), "%s",
					 body != NULL ? body + 4 : "");
				rp->form_type[rp->seen] =
					strstr(buf,
					       "\r\nContent-Type: "
					       "application/"
					       "x-www-form-urlencoded") != NULL;
			}
			rp->seen++;
			pthread_mutex_unlock(&rp->mu);
		}
		/* A redirect to this same party: a request that followed it
		 * would show here with the path /elsewhere. */
		if (rp->script[i] == 302)
			snprintf(loc, sizeof(loc),
				 "Location: http://127.0.0.1:%u/elsewhere\r\n",
				 (unsigned)rp->port);
		else
			loc[0] = '\0';
		snprintf(reply, sizeof(reply),
			 "HTTP/1.1 %u X\r\nContent-Length: 0\r\n%s"
			 "Connection: close\r\n\r\n",
			 rp->script[i], loc);
		(void)!write(c, reply, strlen(reply));
		close(c);
	}
	return NULL;
}

static void rp_start(struct rp *rp, const unsigned *script)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);

	memset(rp, 0, sizeof(*rp));
	rp->script = script;
	pthread_mutex_init(&rp->mu, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rp->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(rp->fd >= 0);
	assert_int_equal(bind(rp->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(rp->fd, 8), 0);
	assert_int_equal(getsockname(rp->fd, (struct sockaddr *)&sa, &sl), 0);
	rp->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&rp->thread, NULL, rp_main, rp), 0);
}

/* Waits until the relying party has seen n requests; how many it saw. */
static unsigned rp_wait(struct rp *rp, unsigned n)
{
	unsigned seen = 0;

	for (int i = 0; i < WAIT_MS / 20; i++) {
		pthread_mutex_lock(&rp->mu);
		seen = rp->seen;
		pthread_mutex_unlock(&rp->mu);
		if (seen >= n)
			break;
		usleep(20000);
	}
	return seen;
}

static void rp_stop(struct rp *rp)
{
	shutdown(rp->fd, SHUT_RDWR);
	close(rp->fd);
	pthread_join(rp->thread, NULL);
	pthread_mutex_destroy(&rp->mu);
}

struct fx {
	af_server srv;
	store_ctx *keystore;
	int logfd;
};

static int setup(void **state)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_keyring_options ko = {.rsa_bits = 2048,
				 .lifetime_days = 90,
				 .alert_days = 30,
				 .max_token_lifetime_s = 600};
	struct fx *f = calloc(1, sizeof(*f));
	char err[128];

	assert_non_null(f);
	af_config_defaults(&f->srv.cfg);
	snprintf(f->srv.cfg.issuer, sizeof(f->srv.cfg.issuer), "%s", ISSUER);
	assert_int_equal(store_open(&so, &f->keystore, err, sizeof(err)),
			 STORE_OK);
	assert_int_equal(af_keyring_open(f->keystore, &ko, &f->srv.keys),
			 JOSE_OK);
	f->logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(f->logfd >= 0);
	f->srv.log = log_new(f->logfd, LOG_LEVEL_DEBUG);
	assert_non_null(f->srv.log);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	log_free(f->srv.log);
	close(f->logfd);
	af_keyring_free(f->srv.keys);
	store_close(f->keystore);
	free(f);
	return 0;
}

/* The logout token: the claims Back-Channel Logout 2.4 asks, signed. */
static void token_claims(void **state)
{
	struct fx *f = *state;
	json_t *c = NULL, *ev;
	char *jwt, *again;
	int64_t iat, now = af_now();

	jwt = af_bcl_token(f->srv.keys, ISSUER, "af-client", "sub-of-alice",
			   "sid-1");
	assert_non_null(jwt);
	/* Taken only as a logout token: not as an ID token. */
	assert_int_equal(af_jwt_verify_typ(f->srv.keys, jwt, strlen(jwt),
					   AF_ID_TOKEN_TYP, &c),
			 JOSE_ERR_MALFORMED);
	assert_int_equal(af_jwt_verify_typ(f->srv.keys, jwt, strlen(jwt),
					   "logout+jwt", &c),
			 JOSE_OK);
	assert_string_equal(json_string_value(json_object_get(c, "iss")),
			    ISSUER);
	assert_string_equal(json_string_value(json_object_get(c, "aud")),
			    "af-client");
	assert_string_equal(json_string_value(json_object_get(c, "sub")),
			    "sub-of-alice");
	assert_string_equal(json_string_value(json_object_get(c, "sid")),
			    "sid-1");
	assert_null(json_object_get(c, "nonce"));
	iat = json_integer_value(json_object_get(c, "iat"));
	assert_true(iat >= now && iat <= now + 5);
	assert_int_equal(json_integer_value(json_object_get(c, "exp")),
			 iat + AF_BCL_TOKEN_LIFETIME_S);
	ev = json_object_get(json_object_get(c, "events"), AF_BCL_EVENT);
	assert_true(json_is_object(ev) && json_object_size(ev) == 0);
	assert_true(json_string_length(json_object_get(c, "jti")) >= 16);
	/* Every token its own jti. */
	again = af_bcl_token(f->srv.keys, ISSUER, "af-client", "sub-of-alice",
			     "sid-1");
	assert_non_null(again);
	assert_string_not_equal(jwt, again);
	json_decref(c);
	free(jwt);
	free(again);
}

/* The logout token a relying party was sent as body: its claims. */
static json_t *sent_claims(struct fx *f, const char *body)
{
	json_t *c = NULL;
	const char *jwt = body + strlen(FIELD);

	assert_int_equal(strncmp(body, FIELD, strlen(FIELD)), 0);
	assert_int_equal(af_jwt_verify_typ(f->srv.keys, jwt, strlen(jwt),
					   "logout+jwt", &c),
			 JOSE_OK);
	return c;
}

static af_bcl *sender(struct fx *f)
{
	af_bcl *b = af_bcl_new(NULL, NULL, f->srv.keys, ISSUER, NULL);

	assert_non_null(b);
	return b;
}

/*
 * A failed try is tried again with the same token, a redirect is not
 * followed, and the body is the form field logout_token.
 */
static void retried_not_redirected(void **state)
{
	static const unsigned script[] = {302, 500, 204, 0};
	struct fx *f = *state;
	struct rp rp;
	char uri[64];
	af_bcl *b = sender(f);
	json_t *c;
	unsigned i;

	rp_start(&rp, script);
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/bcl", rp.port);
	assert_int_equal(af_bcl_send(b, "af-client", uri, "sub-1", "sid-1"),
			 AF_BCL_OK);
	assert_int_equal(rp_wait(&rp, 3), 3);
	for (i = 0; i < 3; i++) {
		assert_string_equal(rp.paths[i], "/bcl");
		assert_string_equal(rp.bodies[i], rp.bodies[0]);
		assert_true(rp.form_type[i]);
	}
	c = sent_claims(f, rp.bodies[0]);
	assert_string_equal(json_string_value(json_object_get(c, "aud")),
			    "af-client");
	assert_string_equal(json_string_value(json_object_get(c, "sub")),
			    "sub-1");
	assert_string_equal(json_string_value(json_object_get(c, "sid")),
			    "sid-1");
	json_decref(c);
	af_bcl_free(b, 0);
	rp_stop(&rp);
}

/*
 * A relying party that hangs: listening on loopback, never accepting, so
 * that connections wait in the backlog. Its URI into uri; its socket.
 */
static int hung_party(char *uri, size_t cap)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(uri, cap, "http://127.0.0.1:%u/bcl",
		 (unsigned)ntohs(sa.sin_port));
	return fd;
}

/* Opens a connection to port on loopback and closes it. */
static void poke(unsigned short port)
{
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(c);
}

/* Three failures and the token is given up: no fourth try. */
static void gives_up(void **state)
{
	static const unsigned script[] = {503, 503, 503, 200, 0};
	struct fx *f = *state;
	struct rp rp;
	char uri[64];
	af_bcl *b = sender(f);

	rp_start(&rp, script);
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/x", rp.port);
	assert_int_equal(af_bcl_send(b, "af-client", uri, "sub-1", "sid-1"),
			 AF_BCL_OK);
	assert_int_equal(rp_wait(&rp, 3), 3);
	/* The next try would come 3 s after the last: wait past it. */
	usleep(3500 * 1000);
	pthread_mutex_lock(&rp.mu);
	assert_int_equal(rp.seen, 3);
	pthread_mutex_unlock(&rp.mu);
	af_bcl_free(b, 0);
	/* The script's last answer was never asked for: let it go. */
	poke(rp.port);
	rp_stop(&rp);
}

/*
 * A relying party that takes connections and never answers holds up its
 * own tokens only: another's goes at once, and a stop does not wait for
 * the hung ones.
 */
static void hung_party_holds_up_its_own(void **state)
{
	static const unsigned script[] = {200, 200, 0};
	struct fx *f = *state;
	struct rp rp;
	char hung_uri[64], uri[64];
	int hung = hung_party(hung_uri, sizeof(hung_uri));
	af_bcl *b = sender(f);
	uint64_t t0;
	unsigned i;

	rp_start(&rp, script);
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/ok", rp.port);
	for (i = 0; i < AF_BCL_INFLIGHT_MAX; i++)
		assert_int_equal(
			af_bcl_send(b, "af-hung", hung_uri, "sub-1", "sid-1"),
			AF_BCL_OK);
	usleep(200 * 1000);
	t0 = af_mono_ns();
	assert_int_equal(af_bcl_send(b, "af-client", uri, "sub-1", "sid-1"),
			 AF_BCL_OK);
	assert_int_equal(rp_wait(&rp, 1), 1);
	assert_true(af_mono_ns() - t0 < 2000000000u);
	assert_string_equal(rp.paths[0], "/ok");
	/*
	 * Nor does it fill the queue for the others: its own waiting tokens
	 * are capped (those under way aside), and another's still go.
	 */
	for (i = AF_BCL_INFLIGHT_MAX; i < AF_BCL_QUEUE_MAX; i++) {
		if (af_bcl_send(b, "af-hung", hung_uri, "sub-1", "sid-1") ==
		    AF_BCL_FULL)
			break;
	}
	assert_true(i >= AF_BCL_QUEUE_PER_URI_MAX);
	assert_true(i <= AF_BCL_QUEUE_PER_URI_MAX + AF_BCL_PER_URI_MAX);
	assert_int_equal(af_bcl_send(b, "af-client", uri, "sub-2", "sid-2"),
			 AF_BCL_OK);
	assert_int_equal(rp_wait(&rp, 2), 2);
	/* A stop with no grace drops the hung tries at once. */
	t0 = af_mono_ns();
	af_bcl_free(b, 0);
	assert_true(af_mono_ns() - t0 < 1000000000u);
	close(hung);
	rp_stop(&rp);
}

static int first_id(const char *member, void *arg)
{
	snprintf(arg, 64, "%s", member);
	return 1;
}

static int count_member(const char *member, void *arg)
{
	(void)member;
	(*(size_t *)arg)++;
	return 0;
}

/* How many records of tokens wait in store, after waiting for n at most. */
static size_t records_settle(store_ctx *store, size_t n)
{
	size_t count = 0;

	for (int i = 0; i < WAIT_MS / 20; i++) {
		count = 0;
		assert_int_equal(store_smembers(store, "bcl:pending",
						count_member, &count),
				 STORE_OK);
		if (count <= n)
			break;
		usleep(20000);
	}
	return count;
}

/* Writes a record as a server named node would, holding it. */
static void put_record(store_ctx *store, const char *id, const char *node,
		       const char *uri, const char *sid)
{
	char key[64], text[4096];

	snprintf(key, sizeof(key), "bcl:job:%s", id);
	snprintf(text, sizeof(text),
		 "{\"client_id\":\"af-client\",\"node\":\"%s\","
		 "\"sid\":\"%s\",\"sub\":\"sub-9\",\"uri\":\"%s\"}",
		 node, sid, uri);
	assert_int_equal(store_set(store, key, text, strlen(text), 3600000, 0),
			 STORE_OK);
	assert_int_equal(store_sadd(store, "bcl:pending", id), STORE_OK);
}

/* The node holding record id. */
static void record_node(store_ctx *store, const char *id, char *node,
			size_t cap)
{
	char key[64];
	store_value v = {NULL, 0};
	json_t *o;

	snprintf(key, sizeof(key), "bcl:job:%s", id);
	assert_int_equal(store_get(store, key, &v), STORE_OK);
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	snprintf(node, cap, "%s",
		 json_string_value(json_object_get(o, "node")));
	json_decref(o);
	store_value_free(&v);
}

/*
 * With a store, a token waits as a record until it is delivered; the
 * records of a server whose heartbeat expired are taken over and sent,
 * those of a live one are not, and a damaged one is dropped.
 */
static void records_taken_over_from_stopped_server(void **state)
{
	static const unsigned script[] = {204, 204, 0};
	struct fx *f = *state;
	struct rp rp;
	char uri[64], node[64];
	af_bcl *b = af_bcl_new(NULL, NULL, f->srv.keys, ISSUER, f->keystore);
	json_t *c;

	assert_non_null(b);
	rp_start(&rp, script);
	snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/bcl", rp.port);
	assert_int_equal(af_bcl_send(b, "af-client", uri, "sub-1", "sid-1"),
			 AF_BCL_OK);
	assert_int_equal(rp_wait(&rp, 1), 1);
	assert_int_equal(records_settle(f->keystore, 0), 0);

	put_record(f->keystore, "gone-1", "stopped-node", uri, "sid-gone");
	put_record(f->keystore, "live-1", "live-node", uri, "sid-live");
	assert_int_equal(
		store_set(f->keystore, "bcl:node:live-node", "1", 1, 30000, 0),
		STORE_OK);
	assert_int_equal(store_set(f->keystore, "bcl:job:bad-1", "{\"x\"", 5,
				   3600000, 0),
			 STORE_OK);
	assert_int_equal(store_sadd(f->keystore, "bcl:pending", "bad-1"),
			 STORE_OK);
	af_bcl_tick(b, af_mono_ns());
	assert_int_equal(rp_wait(&rp, 2), 2);
	c = sent_claims(f, rp.bodies[1]);
	assert_string_equal(json_string_value(json_object_get(c, "sid")),
			    "sid-gone");
	assert_string_equal(json_string_value(json_object_get(c, "sub")),
			    "sub-9");
	json_decref(c);
	/* The live server's record stays its own. */
	assert_int_equal(records_settle(f->keystore, 1), 1);
	record_node(f->keystore, "live-1", node, sizeof(node));
	assert_string_equal(node, "live-node");
	af_bcl_free(b, 0);
	rp_stop(&rp);
}

/*
 * A token not sent when its server stops stays a record; the next
 * server takes it over at once, since the stop ended the heartbeat.
 */
static void stop_leaves_record_for_next_server(void **state)
{
	struct fx *f = *state;
	char hung_uri[64], node[64], next[64];
	int hung = hung_party(hung_uri, sizeof(hung_uri));
	af_bcl *b = af_bcl_new(NULL, NULL, f->srv.keys, ISSUER, f->keystore);
	char id[64] = "";
	size_t count = 0;

	assert_non_null(b);
	assert_int_equal(af_bcl_send(b, "af-hung", hung_uri, "sub-1", "sid-1"),
			 AF_BCL_OK);
	af_bcl_free(b, 0);
	assert_int_equal(store_smembers(f->keystore, "bcl:pending",
					count_member, &count),
			 STORE_OK);
	assert_int_equal(count, 1);
	assert_int_equal(
		store_smembers(f->keystore, "bcl:pending", first_id, id),
		STORE_OK);
	record_node(f->keystore, id, node, sizeof(node));
	b = af_bcl_new(NULL, NULL, f->srv.keys, ISSUER, f->keystore);
	assert_non_null(b);
	af_bcl_tick(b, af_mono_ns());
	record_node(f->keystore, id, next, sizeof(next));
	assert_string_not_equal(next, node);
	af_bcl_free(b, 0);
	close(hung);
}

/*
 * A record taken over with no room to wait here (the party's share of
 * the queue is full) is given back, held by nobody, for the next scan.
 */
static void no_room_record_given_back(void **state)
{
	struct fx *f = *state;
	char hung_uri[64], id[32], node[64];
	int hung = hung_party(hung_uri, sizeof(hung_uri));
	af_bcl *b = af_bcl_new(NULL, NULL, f->srv.keys, ISSUER, f->keystore);
	unsigned i, nobody = 0, stopped = 0;
	const unsigned n = AF_BCL_QUEUE_PER_URI_MAX + AF_BCL_PER_URI_MAX + 8;

	assert_non_null(b);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "rec-%u", i);
		put_record(f->keystore, id, "stopped-node", hung_uri, "sid-1");
	}
	af_bcl_tick(b, af_mono_ns());
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "rec-%u", i);
		record_node(f->keystore, id, node, sizeof(node));
		nobody += strcmp(node, "-") == 0;
		stopped += strcmp(node, "stopped-node") == 0;
	}
	assert_int_equal(stopped, 0);
	assert_true(nobody >= 8 && nobody <= 8 + AF_BCL_PER_URI_MAX);
	af_bcl_free(b, 0);
	close(hung);
}

/*
 * The records looked through are a sample of all: those of a stopped
 * server are all taken over in a few scans, however many a live one
 * holds ahead of them; and a URI as long as an app may have is taken.
 */
static void every_stopped_record_reached(void **state)
{
	static const unsigned script[] = {204, 0};
	struct fx *f = *state;
	char hung_uri[64], id[32], node[64], uri[2100];
	int hung = hung_party(hung_uri, sizeof(hung_uri));
	af_bcl *b = af_bcl_new(NULL, NULL, f->srv.keys, ISSUER, f->keystore);
	uint64_t t = af_mono_ns();
	unsigned i, left = 0;
	struct rp rp;
	int n;

	assert_non_null(b);
	assert_int_equal(store_set(f->keystore, "bcl:node:live-node", "1", 1,
				   3600000, 0),
			 STORE_OK);
	for (i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "live-%u", i);
		put_record(f->keystore, id, "live-node", hung_uri, "sid-1");
	}
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "gone-%u", i);
		put_record(f->keystore, id, "stopped-node", hung_uri, "sid-2");
	}
	for (i = 0; i < 12; i++)
		af_bcl_tick(b, t + (uint64_t)i * 16000000000u);
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "gone-%u", i);
		record_node(f->keystore, id, node, sizeof(node));
		left += strcmp(node, "stopped-node") == 0;
	}
	assert_int_equal(left, 0);

	rp_start(&rp, script);
	n = snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/", rp.port);
	memset(uri + n, 'a', AF_DIR_URI_MAX - (size_t)n);
	uri[AF_DIR_URI_MAX] = '\0';
	put_record(f->keystore, "long-1", "stopped-node", uri, "sid-3");
	/* A sample of 256 of the 321 records: in one of a few scans. */
	for (i = 12; i < 24; i++)
		af_bcl_tick(b, t + (uint64_t)i * 16000000000u);
	assert_int_equal(rp_wait(&rp, 1), 1);
	af_bcl_free(b, 0);
	rp_stop(&rp);
	close(hung);
}

/* A server that stops keeps its heartbeat for as long as the stop. */
static void heartbeat_lasts_the_stop(void **state)
{
	struct fx *f = *state;
	char hung_uri[64], id[64] = "", node[64], key[96];
	int hung = hung_party(hung_uri, sizeof(hung_uri));
	af_bcl *b = af_bcl_new(NULL, NULL, f->srv.keys, ISSUER, f->keystore);
	uint64_t ttl = 0;

	assert_non_null(b);
	assert_int_equal(af_bcl_send(b, "af-hung", hung_uri, "sub-1", "sid-1"),
			 AF_BCL_OK);
	assert_int_equal(
		store_smembers(f->keystore, "bcl:pending", first_id, id),
		STORE_OK);
	record_node(f->keystore, id, node, sizeof(node));
	snprintf(key, sizeof(key), "bcl:node:%s", node);
	assert_int_equal(store_ttl(f->keystore, key, &ttl), STORE_OK);
	assert_true(ttl > 0 && ttl <= 30000);
	af_bcl_stopping(b, 40000);
	assert_int_equal(store_ttl(f->keystore, key, &ttl), STORE_OK);
	assert_true(ttl > 60000 && ttl <= 70000);
	af_bcl_free(b, 0);
	assert_int_equal(store_ttl(f->keystore, key, &ttl), STORE_NOT_FOUND);
	close(hung);
}

/* Only http and https: another scheme fails without a request. */
static void other_schemes_refused(void **state)
{
	struct fx *f = *state;
	af_bcl *b = sender(f);

	assert_int_equal(af_bcl_send(b, "af-client", "file:///etc/passwd",
				     "sub-1", "sid-1"),
			 AF_BCL_OK);
	/* Stopping with a grace of 0: whatever waits is dropped, no hang. */
	af_bcl_free(b, 0);
	af_bcl_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(token_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(retried_not_redirected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(gives_up, setup, teardown),
		cmocka_unit_test_setup_teardown(hung_party_holds_up_its_own,
						setup, teardown),
		cmocka_unit_test_setup_teardown(other_schemes_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			records_taken_over_from_stopped_server, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			stop_leaves_record_for_next_server, setup, teardown),
		cmocka_unit_test_setup_teardown(no_room_record_given_back,
						setup, teardown),
		cmocka_unit_test_setup_teardown(every_stopped_record_reached,
						setup, teardown),
		cmocka_unit_test_setup_teardown(heartbeat_lasts_the_stop, setup,
						teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
