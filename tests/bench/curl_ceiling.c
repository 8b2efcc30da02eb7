/*
 * curl_ceiling: how many APNs requests per second libcurl itself can make
 * to the mock, with nothing else to do. tests/bench/bench_push.sh runs it
 * beside h2load: h2load is the ceiling of the connection and the mock,
 * this is the ceiling of the HTTP/2 client pushd is built on (libcurl
 * multi with nghttp2), so that pushd's own share of the cost shows.
 *
 *   curl_ceiling --endpoint URL --ca FILE --jwt JWT --topic T
 *                --payload FILE [--connections C] [--streams S]
 *                [--count N]
 *
 * Each of C threads owns one multi handle, so one HTTP/2 connection, and
 * keeps S requests in flight on it (at most S streams, as pushd asks),
 * N / C requests in all. Every request is the one h2load sends: POST
 * /3/device/<64 hex> with pushd's headers and payload. Easy handles are
 * reused and their options set once, so the figure is libcurl's cost per
 * request and nothing more.
 *
 * Prints one line:
 *   RESULT curl_ceiling connections=C streams=S requests=N ok=K
 *          seconds=T rate=R
 * where R counts the requests answered 200.
 * Exit status: 0 done, 1 the run failed, 2 bad usage.
 *
 * Thread-safety: each thread touches only its own multi and easy handles.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "common/util.h"

#define EXIT_USAGE	2
#define CONNECTIONS_MAX 16
#define STREAMS_MAX	1000
#define COUNT_MAX	10000000ul
#define PAYLOAD_MAX	4096
#define JWT_MAX		2048
#define HEADER_MAX	(JWT_MAX + 64)
#define URL_MAX		1024
#define POLL_MS		100
#define STALL_NS	30000000000ull

struct opts {
	const char *endpoint;
	const char *ca;
	const char *jwt;
	const char *topic;
	const char *payload_file;
	unsigned long connections;
	unsigned long streams;
	unsigned long count;
};

struct shared {
	const struct opts *o;
	char url[URL_MAX];
	char payload[PAYLOAD_MAX + 1];
	struct curl_slist *headers;
};

struct runner {
	const struct shared *sh;
	pthread_t thread;
	unsigned long share;
	unsigned long ok;
	unsigned long failed;
	int started;
	int broken;
	/* The start of the last answer body, read as a sender would. */
	char body[256];
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct runner *r = arg;
	size_t len = size * n;

	memcpy(r->body, data, len < sizeof(r->body) ? len : sizeof(r->body));
	return len;
}

static CURL *easy_new(struct runner *r)
{
	const struct shared *sh = r->sh;
	CURL *e = curl_easy_init();

	if (e == NULL)
		return NULL;
	if (curl_easy_setopt(e, CURLOPT_URL, sh->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CAINFO, sh->o->ca) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
			     (long)CURL_HTTP_VERSION_2TLS) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, sh->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, sh->payload) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK) {
		curl_easy_cleanup(e);
		return NULL;
	}
	return e;
}

/* Counts the finished transfers and starts the next ones on their handles. */
static void reap(struct runner *r, CURLM *m, unsigned long *started)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m, &left)) != NULL) {
		CURL *e = msg->easy_handle;
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (msg->data.result == CURLE_OK && code == 200)
			r->ok++;
		else
			r->failed++;
		(void)curl_multi_remove_handle(m, e);
		if (*started < r->share &&
		    curl_multi_add_handle(m, e) == CURLM_OK)
			(*started)++;
	}
}

static void *run(void *arg)
{
	struct runner *r = arg;
	const struct opts *o = r->sh->o;
	CURLM *m = curl_multi_init();
	CURL **easy = calloc(o->streams, sizeof(*easy));
	unsigned long i, started = 0, last_done = 0;
	uint64_t last_ns = af_mono_ns();

	if (m == NULL || easy == NULL ||
	    curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) !=
		    CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L) !=
		    CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS,
			      (long)o->streams) != CURLM_OK) {
		r->broken = 1;
		goto out;
	}
	for (i = 0; i < o->streams && started < r->share; i++) {
		easy[i] = easy_new(r);
		if (easy[i] == NULL ||
		    curl_multi_add_handle(m, easy[i]) != CURLM_OK) {
			r->broken = 1;
			goto out;
		}
		started++;
	}
	while (r->ok + r->failed < r->share) {
		int running = 0;

		if (curl_multi_perform(m, &running) != CURLM_OK) {
			r->broken = 1;
			break;
		}
		reap(r, m, &started);
		if (r->ok + r->failed != last_done) {
			last_done = r->ok + r->failed;
			last_ns = af_mono_ns();
		} else if (af_mono_ns() - last_ns > STALL_NS) {
			r->broken = 1;
			break;
		}
		if (r->ok + r->failed < r->share &&
		    curl_multi_poll(m, NULL, 0, POLL_MS, NULL) != CURLM_OK) {
			r->broken = 1;
			break;
		}
	}
out:
	for (i = 0; easy != NULL && i < o->streams; i++) {
		if (easy[i] == NULL)
			continue;
		if (m != NULL)
			(void)curl_multi_remove_handle(m, easy[i]);
		curl_easy_cleanup(easy[i]);
	}
	free(easy);
	if (m != NULL)
		(void)curl_multi_cleanup(m);
	return NULL;
}

static int usage(const char *msg, const char *arg)
{
	fprintf(stderr, "curl_ceiling: %s%s%s\n", msg, arg != NULL ? ": " : "",
		arg != NULL ? arg : "");
	return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"endpoint", required_argument, NULL, 'e'},
		{"ca", required_argument, NULL, 'c'},
		{"jwt", required_argument, NULL, 'j'},
		{"topic", required_argument, NULL, 't'},
		{"payload", required_argument, NULL, 'p'},
		{"connections", required_argument, NULL, 'C'},
		{"streams", required_argument, NULL, 'S'},
		{"count", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	int c;

	o->connections = 1;
	o->streams = 256;
	o->count = 20000;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			o->endpoint = optarg;
			break;
		case 'c':
			o->ca = optarg;
			break;
		case 'j':
			o->jwt = optarg;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'p':
			o->payload_file = optarg;
			break;
		case 'C':
			if (af_parse_ulong(optarg, 1, CONNECTIONS_MAX,
					   &o->connections) != 0)
				return usage("--connections must be 1..16",
					     optarg);
			break;
		case 'S':
			if (af_parse_ulong(optarg, 1, STREAMS_MAX,
					   &o->streams) != 0)
				return usage("--streams must be 1..1000",
					     optarg);
			break;
		case 'n':
			if (af_parse_ulong(optarg, 1, COUNT_MAX, &o->count) !=
			    0)
				return usage("--count must be 1..10000000",
					     optarg);
			break;
		default:
			return usage("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage("unexpected argument", argv[optind]);
	if (o->endpoint == NULL || o->ca == NULL || o->jwt == NULL ||
	    o->topic == NULL || o->payload_file == NULL)
		return usage("--endpoint, --ca, --jwt, --topic and --payload "
			     "are needed",
			     NULL);
	if (strlen(o->jwt) > JWT_MAX || strchr(o->jwt, '\n') != NULL ||
	    strlen(o->topic) > 255 || strchr(o->topic, '\n') != NULL)
		return usage("--jwt or --topic is too long or has a newline",
			     NULL);
	if (o->count < o->connections)
		return usage("--count must be at least --connections", NULL);
	return 0;
}

static int read_payload(struct shared *sh)
{
	FILE *f = fopen(sh->o->payload_file, "rb");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "curl_ceiling: %s: cannot read it\n",
			sh->o->payload_file);
		return -1;
	}
	n = fread(sh->payload, 1, PAYLOAD_MAX + 1, f);
	(void)fclose(f);
	if (n == 0 || n > PAYLOAD_MAX || memchr(sh->payload, '\0', n)) {
		fprintf(stderr,
			"curl_ceiling: %s: empty, over 4096 bytes, or "
			"not text\n",
			sh->o->payload_file);
		return -1;
	}
	sh->payload[n] = '\0';
	return 0;
}

static int add_header(struct shared *sh, const char *name, const char *value)
{
	char line[HEADER_MAX];
	struct curl_slist *l;

	if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, value) >=
	    sizeof(line))
		return -1;
	l = curl_slist_append(sh->headers, line);
	if (l == NULL)
		return -1;
	sh->headers = l;
	return 0;
}

/* The request h2load sends in bench_push.sh, header for header. */
static int request_init(struct shared *sh)
{
	char bearer[JWT_MAX + 8], exp[24], token[65];

	/* The device token of bench_push.sh: 64 hex digits, all 'a'. */
	memset(token, 'a', 64);
	token[64] = '\0';
	if ((size_t)snprintf(sh->url, sizeof(sh->url), "%s/3/device/%s",
			     sh->o->endpoint, token) >= sizeof(sh->url))
		return -1;
	(void)snprintf(bearer, sizeof(bearer), "bearer %s", sh->o->jwt);
	(void)snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + 60);
	if (add_header(sh, "authorization", bearer) != 0 ||
	    add_header(sh, "apns-topic", sh->o->topic) != 0 ||
	    add_header(sh, "apns-push-type", "alert") != 0 ||
	    add_header(sh, "apns-priority", "10") != 0 ||
	    add_header(sh, "apns-expiration", exp) != 0 ||
	    add_header(sh, "apns-collapse-id",
		       "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4") != 0 ||
	    add_header(sh, "apns-id", "123e4567-e89b-42d3-a456-426614174000") !=
		    0 ||
	    add_header(sh, "content-type", "application/json") != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct shared sh;
	struct runner r[CONNECTIONS_MAX];
	unsigned long i, ok = 0, failed = 0;
	uint64_t t0, t1;
	double secs;
	int rc, broken = 0;

	memset(&o, 0, sizeof(o));
	memset(&sh, 0, sizeof(sh));
	memset(r, 0, sizeof(r));
	rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc;
	sh.o = &o;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "curl_ceiling: cannot initialise libcurl\n");
		return 1;
	}
	rc = 1;
	if (read_payload(&sh) != 0)
		goto out;
	if (request_init(&sh) != 0) {
		fprintf(stderr, "curl_ceiling: cannot build the request\n");
		goto out;
	}
	t0 = af_mono_ns();
	for (i = 0; i < o.connections; i++) {
		r[i].sh = &sh;
		r[i].share = o.count / o.connections +
			     (i < o.count % o.connections ? 1 : 0);
		if (pthread_create(&r[i].thread, NULL, run, &r[i]) != 0) {
			broken = 1;
			break;
		}
		r[i].started = 1;
	}
	for (i = 0; i < o.connections; i++) {
		if (!r[i].started)
			continue;
		(void)pthread_join(r[i].thread, NULL);
		ok += r[i].ok;
		failed += r[i].failed;
		broken |= r[i].broken;
	}
	t1 = af_mono_ns();
	if (broken) {
		fprintf(stderr,
			"curl_ceiling: a connection failed or stalled "
			"(%lu answered 200, %lu failed)\n",
			ok, failed);
		goto out;
	}
	secs = (double)(t1 - t0) / 1e9;
	printf("RESULT curl_ceiling connections=%lu streams=%lu requests=%lu "
	       "ok=%lu seconds=%.3f rate=%.0f\n",
	       o.connections, o.streams, o.count, ok, secs,
	       secs > 0 ? (double)ok / secs : 0.0);
	rc = ok > 0 ? 0 : 1;
out:
	curl_slist_free_all(sh.headers);
	curl_global_cleanup();
	return rc;
}
