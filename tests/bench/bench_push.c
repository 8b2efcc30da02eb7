/*
 * bench_push: the push delivery benchmark driver (tests/bench/bench_push.sh
 * runs it). It starts no server: it talks to the Redis and the mock_apns
 * given on its command line, and runs libpushd's workers in this process
 * (pushd_ctx_new / pushd_start, the same allocators as the pushd daemon),
 * so that it can read the in-flight count and its own memory directly.
 *
 *   bench_push --print-jwt --p8 FILE --team T --kid K
 *   bench_push --print-payload
 *   bench_push --redis URL --endpoint URL --ca FILE --p8 FILE --team T
 *              --kid K --topic T --mock-log FILE [--count N] [--rate R]
 *              [--seconds S] [--h2load-1 REQ_S] [--h2load-4 REQ_S]
 *              [--curl-1 REQ_S] [--curl-4 REQ_S] [--verbose]
 *
 * The run makes N real devices (af_mfa_device_add, one user each) and,
 * for each measurement, N pending transactions (af_mfa_txn_new) whose jobs
 * af_mfa_push_enqueue puts on the queue, exactly as authflow does. A push
 * counts as delivered when the mock logs it; the mock's "ts_us" and the
 * enqueue time here are both CLOCK_REALTIME microseconds.
 *
 *   throughput: the N jobs are queued first, then the workers start; the
 *     rate is the mock's accepted pushes per second between its first and
 *     last log line (1 worker = 1 connection, then 4 workers = 4).
 *   memory: during the 4-connection drain, peak VmRSS of this process
 *     minus VmRSS before the workers started, over the peak streams.
 *   latency: R jobs per second for S seconds on 1 connection, each one
 *     enqueued on a fixed schedule; enqueue-to-mock p50, p99, max.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjose/util.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/config.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/store.h"
#include "common/util.h"
#include "mfa/mfa.h"
#include "pushd/pushd.h"
#include "pushd_internal.h"

#define EXIT_USAGE	2
#define COUNT_MAX	200000
#define SETUP_THREADS	4
#define P256_BYTES	32
#define TOKEN_HEX	64
#define DRAIN_TIMEOUT_S 60
/*
 * How often the waiting thread looks at the mock's log and the gauges.
 * It shares the cores with pushd, the mock and Redis, so it stays light:
 * lines are only counted while pushes go out, and parsed once they are
 * all there.
 */
#define SAMPLE_EVERY_NS 10000000ull
#define LOG_LINE_MAX	65536
#define CONFIG_TEXT_MAX 4096
#define RSS_LINE_MAX	256
#define WARMUP_PUSHES	20
#define GOAL_RATIO	0.5
#define GOAL_P99_MS	10.0
#define NS_PER_S	1000000000ull
#define US_PER_S	1000000.0
#define BENCH_STR_MAX	512
#define ID_UNSEEN	(-1)
#define PERCENT		100.0
#define KIB		1024.0

typedef struct bench_opts {
	const char *redis, *endpoint, *ca, *p8, *team, *kid, *topic, *log;
	size_t count;
	unsigned rate, seconds;
	double h2load1, h2load4;
	double curl1, curl4; /* curl_ceiling's rates, 0: not measured */
	int verbose;	     /* pushd's log at info: why a push was retried */
} bench_opts;

/* One device of the run: its id, user and token index. */
typedef struct bench_device {
	char id[AF_MFA_ID_BUF];
	char user[32];
	char txn[AF_MFA_ID_BUF];
} bench_device;

typedef struct bench {
	bench_opts o;
	store_ctx *st;
	log_ctx *log;
	json_t *workflow; /* {}: every device with a token is pushable */
	char nonce[9];	  /* the first 8 hex digits of this run's tokens */
	bench_device *dev;
	int64_t *enq_us; /* enqueue time per device, this measurement */
	int64_t *ack_us; /* the mock's time per device, this measurement */
	size_t acked;
	long log_off;  /* the first mock line not parsed yet */
	size_t seen;   /* this run's mock lines counted so far */
	long scan_off; /* the first mock line not counted yet */
} bench;

/* The figures of one measurement. */
typedef struct bench_result {
	size_t pushes, acked;
	double rate;	   /* first to last mock line */
	double wall_rate;  /* workers started to last mock line */
	long peak_streams; /* in flight at once */
	long peak_conns;
	long rss_idle_kib, rss_peak_kib;
	unsigned long sent;
	unsigned long other; /* outcomes other than sent */
	unsigned long retries;
} bench_result;

static int usage(const char *msg)
{
	fprintf(stderr, "bench_push: %s (see the comment at the top)\n", msg);
	return EXIT_USAGE;
}

/* A measured rate given on the command line: 0 .. 10,000,000 per second. */
static int parse_rate(const char *s, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0) || v > 1e7)
		return -1;
	*out = v;
	return 0;
}

static int64_t now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long rss_kib(void)
{
	char line[RSS_LINE_MAX];
	FILE *f = fopen("/proc/self/status", "r");
	long kib = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kib = strtol(line + 6, NULL, 10);
			break;
		}
	}
	(void)fclose(f);
	return kib;
}

/* ---- helper modes ---------------------------------------------------------
 */

static int print_jwt(const bench_opts *o)
{
	char err[256], jwt[PUSHD_JWT_MAX];
	cjose_jwk_t *key = NULL;
	int rc = 1;

	if (o->p8 == NULL || o->team == NULL || o->kid == NULL)
		return usage("--print-jwt needs --p8, --team and --kid");
	if (pushd_apns_key_load(o->p8, &key, err, sizeof(err)) != PUSHD_OK) {
		fprintf(stderr, "bench_push: %s\n", err);
		return 1;
	}
	if (pushd_apns_jwt(key, o->team, o->kid, af_now(), jwt, sizeof(jwt)) ==
	    PUSHD_OK) {
		printf("%s\n", jwt);
		rc = 0;
	}
	OPENSSL_cleanse(jwt, sizeof(jwt));
	cjose_jwk_release(key);
	return rc;
}

/* The payload pushd sends for a typical job (for h2load -d). */
static int print_payload(void)
{
	char out[PUSHD_APNS_PAYLOAD_MAX + 1];
	pushd_job job;
	size_t len = 0;

	memset(&job, 0, sizeof(job));
	(void)snprintf(job.txn, sizeof(job.txn), "%s",
		       "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4");
	(void)snprintf(job.user, sizeof(job.user), "%s", "bench00001");
	(void)snprintf(job.app_name, sizeof(job.app_name), "%s",
		       "Benchmark App");
	job.expires = af_now() + AF_MFA_TXN_TTL_S;
	if (pushd_apns_payload(&job, out, sizeof(out), &len) != PUSHD_OK)
		return 1;
	return fwrite(out, 1, len, stdout) == len ? 0 : 1;
}

/* ---- set-up ------------------------------------------------------------ */

/* A P-256 public key as a JWK, the shape enrolment takes. */
static json_t *device_jwk(void)
{
	uint8_t x[P256_BYTES], y[P256_BYTES];
	char bx[64], by[64];
	BIGNUM *nx = NULL, *ny = NULL;
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	json_t *jwk = NULL;

	if (pk == NULL ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &nx) != 1 ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &ny) != 1 ||
	    BN_bn2binpad(nx, x, sizeof(x)) != P256_BYTES ||
	    BN_bn2binpad(ny, y, sizeof(y)) != P256_BYTES ||
	    af_b64url_encode(x, sizeof(x), bx, sizeof(bx)) != 0 ||
	    af_b64url_encode(y, sizeof(y), by, sizeof(by)) != 0)
		goto out;
	jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
			"x", bx, "y", by);
out:
	BN_free(nx);
	BN_free(ny);
	EVP_PKEY_free(pk);
	return jwk;
}

/* Device i's push token: the run's nonce, zeros, then i in hex. */
static void device_token(const bench *b, size_t i, char *out, size_t cap)
{
	(void)snprintf(out, cap, "%s%048x%08zx", b->nonce, 0u, i);
}

typedef int (*step_fn)(bench *b, size_t i);

typedef struct slice {
	bench *b;
	step_fn fn;
	size_t from, to;
	int failed;
} slice;

static void *run_slice(void *arg)
{
	slice *s = arg;
	size_t i;

	for (i = s->from; i < s->to && !s->failed; i++)
		s->failed = s->fn(s->b, i) != 0;
	return NULL;
}

/* Runs fn for devices [0, n) on SETUP_THREADS threads; 0 or -1. */
static int parallel(bench *b, size_t n, step_fn fn)
{
	pthread_t th[SETUP_THREADS];
	slice sl[SETUP_THREADS];
	size_t t, started = 0;
	int rc = 0;

	for (t = 0; t < SETUP_THREADS; t++) {
		sl[t].b = b;
		sl[t].fn = fn;
		sl[t].from = n * t / SETUP_THREADS;
		sl[t].to = n * (t + 1) / SETUP_THREADS;
		sl[t].failed = 0;
		if (pthread_create(&th[t], NULL, run_slice, &sl[t]) != 0) {
			rc = -1;
			break;
		}
		started++;
	}
	for (t = 0; t < started; t++) {
		(void)pthread_join(th[t], NULL);
		if (sl[t].failed)
			rc = -1;
	}
	return rc;
}

static int add_device(bench *b, size_t i)
{
	char token[TOKEN_HEX + 1], err[256];
	json_t *spec, *out = NULL, *jwk = device_jwk();
	af_mfa_status st;

	/* A key of its own: each key is one device. */
	if (jwk == NULL)
		return -1;
	device_token(b, i, token, sizeof(token));
	(void)snprintf(b->dev[i].user, sizeof(b->dev[i].user), "bench%s%zu",
		       b->nonce, i);
	spec = json_pack("{s:s, s:s, s:b, s:o, s:s, s:s}", "platform", "apns",
			 "push_token", token, "sandbox", 0, "public_key", jwk,
			 "app_version", "1.0", "device_name", "bench");
	st = spec != NULL ? af_mfa_device_add(b->st, b->dev[i].user, spec, &out,
					      err, sizeof(err))
			  : AF_MFA_NOMEM;
	if (st == AF_MFA_OK)
		(void)snprintf(b->dev[i].id, sizeof(b->dev[i].id), "%s",
			       json_string_value(json_object_get(out, "id")));
	else
		fprintf(stderr, "bench_push: device %zu: %s %s\n", i,
			af_mfa_strerror(st), err);
	json_decref(out);
	json_decref(spec);
	return st == AF_MFA_OK ? 0 : -1;
}

static int new_txn(bench *b, size_t i)
{
	json_t *spec, *out = NULL;
	af_mfa_status st;

	spec = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:b}", "user",
			 b->dev[i].user, "app", "bench-client", "app_name",
			 "Benchmark App", "flow", "benchflow", "devices",
			 b->dev[i].id, "number_matching", 0);
	st = spec != NULL ? af_mfa_txn_new(b->st, spec, af_now(), &out)
			  : AF_MFA_NOMEM;
	if (st == AF_MFA_OK)
		(void)snprintf(b->dev[i].txn, sizeof(b->dev[i].txn), "%s",
			       json_string_value(json_object_get(out, "id")));
	else
		fprintf(stderr, "bench_push: txn %zu: %s\n", i,
			af_mfa_strerror(st));
	json_decref(out);
	json_decref(spec);
	return st == AF_MFA_OK ? 0 : -1;
}

/* Queues device i's job as authflow does; records the enqueue time. */
static int enqueue(bench *b, size_t i)
{
	json_t *txn = NULL;
	size_t queued = 0;
	af_mfa_status st;

	st = af_mfa_txn_get(b->st, b->dev[i].txn, af_now(), &txn);
	if (st == AF_MFA_OK) {
		b->enq_us[i] = now_us();
		st = af_mfa_push_enqueue(b->st, txn, NULL, b->workflow,
					 &queued);
	}
	json_decref(txn);
	if (st != AF_MFA_OK || queued != 1) {
		fprintf(stderr, "bench_push: enqueue %zu: %s (queued %zu)\n", i,
			af_mfa_strerror(st), queued);
		return -1;
	}
	return 0;
}

/* ---- the mock's log ------------------------------------------------------ */

static void marks_reset(bench *b)
{
	size_t i;
	FILE *f = fopen(b->o.log, "r");

	for (i = 0; i < b->o.count; i++) {
		b->ack_us[i] = ID_UNSEEN;
		b->enq_us[i] = ID_UNSEEN;
	}
	b->acked = 0;
	b->log_off = 0;
	b->seen = 0;
	if (f != NULL && fseek(f, 0, SEEK_END) == 0)
		b->log_off = ftell(f);
	b->scan_off = b->log_off;
	if (f != NULL)
		(void)fclose(f);
}

/* Records one mock log line when it is a push of this run. */
static void log_line(bench *b, const char *line, size_t len)
{
	json_t *obj = json_loadb(line, len, 0, NULL);
	const char *tok = json_string_value(json_object_get(obj, "token"));
	json_int_t ts = json_integer_value(json_object_get(obj, "ts_us"));
	unsigned long long i;
	char *end = NULL;

	if (tok == NULL || strlen(tok) != TOKEN_HEX ||
	    strncmp(tok, b->nonce, strlen(b->nonce)) != 0)
		goto out;
	i = strtoull(tok + TOKEN_HEX - 8, &end, 16);
	if (end == NULL || *end != '\0' || i >= b->o.count ||
	    b->ack_us[i] != ID_UNSEEN)
		goto out;
	if (ts == 0)
		ts = json_integer_value(json_object_get(obj, "ts")) * 1000;
	b->ack_us[i] = ts;
	b->acked++;
out:
	json_decref(obj);
}

/*
 * Counts the complete lines of this run's pushes that the mock wrote since
 * the last call, without parsing them.
 */
static void log_scan(bench *b)
{
	char *line = NULL, mark[32];
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	(void)snprintf(mark, sizeof(mark), "\"token\":\"%s", b->nonce);
	f = fopen(b->o.log, "r");
	if (f == NULL)
		return;
	if (fseek(f, b->scan_off, SEEK_SET) != 0)
		goto out;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break; /* still being written: counted next time */
		if (strstr(line, mark) != NULL)
			b->seen++;
		b->scan_off += n;
	}
out:
	free(line);
	(void)fclose(f);
}

/* Parses the complete lines the mock wrote since the last call. */
static void log_poll(bench *b)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f = fopen(b->o.log, "r");

	if (f == NULL)
		return;
	if (fseek(f, b->log_off, SEEK_SET) != 0)
		goto out;
	while ((n = getline(&line, &cap, f)) > 0) {
		/* A line still being written is read again next time. */
		if (line[n - 1] != '\n' || n > LOG_LINE_MAX)
			break;
		log_line(b, line, (size_t)n);
		b->log_off += n;
	}
out:
	free(line);
	(void)fclose(f);
}

/* ---- pushd in this process ------------------------------------------------
 */

static af_config *bench_config(const bench *b, unsigned workers, unsigned conns)
{
	char text[CONFIG_TEXT_MAX], err[512];
	af_config *cfg = malloc(sizeof(*cfg));
	int len;

	if (cfg == NULL)
		return NULL;
	len = snprintf(
		text, sizeof(text),
		"{\"issuer\": \"http://127.0.0.1:1\", \"log\": {\"level\": "
		"\"warn\"}, \"store\": {\"backend\": \"redis\", \"url\": "
		"\"%s\", \"prefix\": \"bench:\"}, \"push\": {\"mode\": "
		"\"daemon\", \"workers\": %u, \"apns\": {\"endpoint\": \"%s\", "
		"\"team_id\": \"%s\", \"key_id\": \"%s\", \"key_file\": \"%s\", "
		"\"topic\": \"%s\", \"ca_file\": \"%s\", \"connections\": %u}}}",
		b->o.redis, workers, b->o.endpoint, b->o.team, b->o.kid,
		b->o.p8, b->o.topic, b->o.ca, conns);
	if (len < 0 || (size_t)len >= sizeof(text) ||
	    af_config_parse(text, (size_t)len, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_push: config: %s\n", err);
		free(cfg);
		return NULL;
	}
	return cfg;
}

static pushd_ctx *bench_pushd(const bench *b, unsigned workers, unsigned conns)
{
	char err[512];
	af_config *cfg = bench_config(b, workers, conns);
	pushd_ctx *ctx;

	if (cfg == NULL)
		return NULL;
	ctx = pushd_ctx_new(cfg, b->st, b->log, err, sizeof(err));
	if (ctx == NULL)
		fprintf(stderr, "bench_push: %s\n", err);
	OPENSSL_cleanse(cfg, sizeof(*cfg));
	free(cfg);
	return ctx;
}

/* Waits until want pushes of this measurement reached the mock. */
static void wait_acked(bench *b, size_t want, pushd_ctx *ctx, bench_result *r)
{
	uint64_t deadline = af_mono_ns() + DRAIN_TIMEOUT_S * NS_PER_S;
	const struct timespec pause = {0, (long)SAMPLE_EVERY_NS};
	long v;

	while (b->acked < want && af_mono_ns() < deadline) {
		(void)nanosleep(&pause, NULL);
		log_scan(b);
		/*
		 * A push the mock took twice counts twice here, not when
		 * parsed: so parse once enough are there, and again if some
		 * turned out to be repeats.
		 */
		if (b->seen >= want)
			log_poll(b);
		if (r == NULL)
			continue;
		v = atomic_load(&ctx->metrics.streams[PUSHD_APNS]);
		if (v > r->peak_streams)
			r->peak_streams = v;
		v = atomic_load(&ctx->metrics.conns[PUSHD_APNS].open);
		if (v > r->peak_conns)
			r->peak_conns = v;
		v = rss_kib();
		if (v > r->rss_peak_kib)
			r->rss_peak_kib = v;
	}
	/* On a timeout, what did arrive is still counted. */
	log_poll(b);
}

static void span(const bench *b, size_t n, int64_t *first, int64_t *last)
{
	size_t i;

	*first = INT64_MAX;
	*last = 0;
	for (i = 0; i < n; i++) {
		if (b->ack_us[i] == ID_UNSEEN)
			continue;
		if (b->ack_us[i] < *first)
			*first = b->ack_us[i];
		if (b->ack_us[i] > *last)
			*last = b->ack_us[i];
	}
}

static int throughput(bench *b, unsigned workers, unsigned conns,
		      bench_result *r)
{
	pushd_ctx *ctx = NULL;
	int64_t t0, first, last;
	size_t o;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->pushes = b->o.count;
	marks_reset(b);
	if (parallel(b, b->o.count, new_txn) != 0 ||
	    parallel(b, b->o.count, enqueue) != 0)
		return -1;
	ctx = bench_pushd(b, workers, conns);
	if (ctx == NULL)
		return -1;
	r->rss_idle_kib = rss_kib();
	t0 = now_us();
	if (pushd_start(ctx) != PUSHD_OK)
		goto out;
	wait_acked(b, b->o.count, ctx, r);
	r->acked = b->acked;
	span(b, b->o.count, &first, &last);
	if (r->acked > 1 && last > first)
		r->rate = (double)(r->acked - 1) * US_PER_S /
			  (double)(last - first);
	if (r->acked > 0 && last > t0)
		r->wall_rate =
			(double)r->acked * US_PER_S / (double)(last - t0);
	pushd_stop(ctx, 2);
	r->sent = atomic_load(&ctx->metrics.pushes[PUSHD_APNS][PUSHD_OUT_SENT]);
	for (o = 0; o < PUSHD_OUTCOMES; o++) {
		if (o != PUSHD_OUT_SENT)
			r->other += atomic_load(
				&ctx->metrics.pushes[PUSHD_APNS][o]);
	}
	r->retries = atomic_load(&ctx->metrics.retries[PUSHD_APNS]);
	rc = r->acked == b->o.count ? 0 : -1;
out:
	pushd_ctx_free(ctx);
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double pct_ms(const int64_t *sorted, size_t n, double p)
{
	size_t k = (size_t)(p / PERCENT * (double)(n - 1) + 0.5);

	return (double)sorted[k] / 1000.0;
}

/* The paced run: R/s for S s on one connection. */
static int latency(bench *b, double *p50, double *p99, double *pmax,
		   double *achieved)
{
	size_t n = (size_t)b->o.rate * b->o.seconds, i, got = 0;
	int64_t *lat = NULL, t_first, t_last;
	pushd_ctx *ctx = NULL;
	struct timespec at;
	uint64_t t0;
	int rc = -1;

	if (n + WARMUP_PUSHES > b->o.count || b->o.rate == 0)
		return -1;
	marks_reset(b);
	if (parallel(b, n + WARMUP_PUSHES, new_txn) != 0)
		return -1;
	ctx = bench_pushd(b, 1, 1);
	lat = calloc(n, sizeof(*lat));
	if (ctx == NULL || lat == NULL || pushd_start(ctx) != PUSHD_OK)
		goto out;
	/* The connection and the provider token exist before the clock runs.
	 */
	for (i = n; i < n + WARMUP_PUSHES; i++) {
		if (enqueue(b, i) != 0)
			goto out;
	}
	wait_acked(b, WARMUP_PUSHES, ctx, NULL);
	t0 = af_mono_ns();
	for (i = 0; i < n; i++) {
		uint64_t due = t0 + i * NS_PER_S / b->o.rate;

		at.tv_sec = (time_t)(due / NS_PER_S);
		at.tv_nsec = (long)(due % NS_PER_S);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at,
				       NULL) == EINTR)
			;
		if (enqueue(b, i) != 0)
			goto out;
	}
	*achieved = (double)n * (double)NS_PER_S / (double)(af_mono_ns() - t0);
	wait_acked(b, n + WARMUP_PUSHES, ctx, NULL);
	span(b, n, &t_first, &t_last);
	for (i = 0; i < n; i++) {
		if (b->ack_us[i] != ID_UNSEEN)
			lat[got++] = b->ack_us[i] - b->enq_us[i];
	}
	if (got != n)
		fprintf(stderr, "bench_push: %zu of %zu paced pushes seen\n",
			got, n);
	if (got > 0) {
		qsort(lat, got, sizeof(*lat), cmp_i64);
		*p50 = pct_ms(lat, got, 50.0);
		*p99 = pct_ms(lat, got, 99.0);
		*pmax = (double)lat[got - 1] / 1000.0;
	}
	rc = got == n ? 0 : -1;
out:
	free(lat);
	pushd_ctx_free(ctx);
	return rc;
}

/* ---- the report ----------------------------------------------------------
 */

static void print_result(const char *name, const bench_result *r)
{
	printf("pushd %-13s pushes=%zu acked_by_mock=%zu sent=%lu "
	       "other_outcomes=%lu retries=%lu "
	       "rate=%.0f/s (first..last mock line) wall=%.0f/s "
	       "peak_streams=%ld peak_connections=%ld\n",
	       name, r->pushes, r->acked, r->sent, r->other, r->retries,
	       r->rate, r->wall_rate, r->peak_streams, r->peak_conns);
}

static const char *verdict(int met)
{
	return met ? "MET" : "NOT MET";
}

static int report(const bench *b, const bench_result *one,
		  const bench_result *four, int lat_ok, double p50, double p99,
		  double pmax, double achieved)
{
	double r1 = b->o.h2load1 > 0 ? one->rate / b->o.h2load1 : 0;
	double r4 = b->o.h2load4 > 0 ? four->rate / b->o.h2load4 : 0;
	long grown = four->rss_peak_kib - four->rss_idle_kib;
	double per = four->peak_streams > 0
			     ? (double)grown * KIB / (double)four->peak_streams
			     : 0;

	print_result("1 connection", one);
	print_result("4 connections", four);
	printf("h2load 1 connection  %.0f req/s; pushd/h2load = %.1f%%\n",
	       b->o.h2load1, r1 * PERCENT);
	printf("h2load 4 connections %.0f req/s; pushd/h2load = %.1f%%\n",
	       b->o.h2load4, r4 * PERCENT);
	if (b->o.curl1 > 0 && b->o.curl4 > 0) {
		printf("libcurl alone 1 connection  %.0f req/s; pushd/libcurl "
		       "= %.1f%%\n",
		       b->o.curl1, PERCENT * one->rate / b->o.curl1);
		printf("libcurl alone 4 connections %.0f req/s; pushd/libcurl "
		       "= %.1f%%\n",
		       b->o.curl4, PERCENT * four->rate / b->o.curl4);
	}
	printf("latency at %u/s for %u s (1 connection): enqueue rate %.0f/s, "
	       "enqueue->mock p50=%.2f ms p99=%.2f ms max=%.2f ms%s\n",
	       b->o.rate, b->o.seconds, achieved, p50, p99, pmax,
	       lat_ok ? "" : " (INCOMPLETE)");
	printf("memory (4 workers): VmRSS idle=%ld KiB peak=%ld KiB, "
	       "growth=%ld KiB over %ld streams in flight = %.0f bytes per "
	       "in-flight push (sizeof(pushd_flight)=%zu, reserved per "
	       "worker %zu KiB)\n",
	       four->rss_idle_kib, four->rss_peak_kib, grown,
	       four->peak_streams, per, sizeof(pushd_flight),
	       PUSHD_INFLIGHT_MAX * sizeof(pushd_flight) / 1024);
	printf("goal pushd >= 50%% of h2load (1 connection): %s\n",
	       verdict(r1 >= GOAL_RATIO));
	printf("goal pushd >= 50%% of h2load (4 connections): %s\n",
	       verdict(r4 >= GOAL_RATIO));
	printf("goal p99 < 10 ms at %u/s: %s\n", b->o.rate,
	       verdict(lat_ok && p99 < GOAL_P99_MS));
	printf("goal memory per in-flight push reported: %s\n",
	       verdict(four->peak_streams > 0));
	return 0;
}

static int run(bench *b)
{
	bench_result one, four;
	double p50 = 0, p99 = 0, pmax = 0, achieved = 0;
	uint32_t rnd = 0;
	int lat_ok, rc = 1;
	uint64_t t;

	if (af_random_bytes(&rnd, sizeof(rnd)) != 0)
		return 1;
	(void)snprintf(b->nonce, sizeof(b->nonce), "%08x", rnd);
	b->workflow = json_object();
	b->dev = calloc(b->o.count, sizeof(*b->dev));
	b->enq_us = calloc(b->o.count, sizeof(*b->enq_us));
	b->ack_us = calloc(b->o.count, sizeof(*b->ack_us));
	if (b->workflow == NULL || b->dev == NULL || b->enq_us == NULL ||
	    b->ack_us == NULL)
		goto out;
	t = af_mono_ns();
	if (parallel(b, b->o.count, add_device) != 0)
		goto out;
	fprintf(stderr, "bench_push: %zu devices made in %.1f s\n", b->o.count,
		(double)(af_mono_ns() - t) / (double)NS_PER_S);
	if (throughput(b, 1, 1, &one) != 0)
		fprintf(stderr, "bench_push: 1-connection run incomplete\n");
	if (throughput(b, 4, 1, &four) != 0)
		fprintf(stderr, "bench_push: 4-connection run incomplete\n");
	lat_ok = latency(b, &p50, &p99, &pmax, &achieved) == 0;
	rc = report(b, &one, &four, lat_ok, p50, p99, pmax, achieved);
out:
	free(b->dev);
	free(b->enq_us);
	free(b->ack_us);
	json_decref(b->workflow);
	return rc;
}

enum {
	OPT_JWT = 256,
	OPT_PAYLOAD,
	OPT_H1,
	OPT_H4,
	OPT_C1,
	OPT_C4,
	OPT_VERBOSE
};

static int parse_args(int argc, char **argv, bench_opts *o, int *mode)
{
	static const struct option opts[] = {
		{"print-jwt", no_argument, NULL, OPT_JWT},
		{"print-payload", no_argument, NULL, OPT_PAYLOAD},
		{"redis", required_argument, NULL, 'r'},
		{"endpoint", required_argument, NULL, 'e'},
		{"ca", required_argument, NULL, 'a'},
		{"p8", required_argument, NULL, 'p'},
		{"team", required_argument, NULL, 't'},
		{"kid", required_argument, NULL, 'k'},
		{"topic", required_argument, NULL, 'o'},
		{"mock-log", required_argument, NULL, 'l'},
		{"count", required_argument, NULL, 'n'},
		{"rate", required_argument, NULL, 'R'},
		{"seconds", required_argument, NULL, 's'},
		{"h2load-1", required_argument, NULL, OPT_H1},
		{"h2load-4", required_argument, NULL, OPT_H4},
		{"curl-1", required_argument, NULL, OPT_C1},
		{"curl-4", required_argument, NULL, OPT_C4},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{NULL, 0, NULL, 0},
	};
	unsigned long v = 0;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_JWT:
		case OPT_PAYLOAD:
			*mode = c;
			break;
		case OPT_VERBOSE:
			o->verbose = 1;
			break;
		case 'r':
			o->redis = optarg;
			break;
		case 'e':
			o->endpoint = optarg;
			break;
		case 'a':
			o->ca = optarg;
			break;
		case 'p':
			o->p8 = optarg;
			break;
		case 't':
			o->team = optarg;
			break;
		case 'k':
			o->kid = optarg;
			break;
		case 'o':
			o->topic = optarg;
			break;
		case 'l':
			o->log = optarg;
			break;
		case 'n':
		case 'R':
		case 's':
			if (af_parse_ulong(optarg, 1, COUNT_MAX, &v) != 0)
				return usage("bad number");
			if (c == 'n')
				o->count = v;
			else if (c == 'R')
				o->rate = (unsigned)v;
			else
				o->seconds = (unsigned)v;
			break;
		case OPT_H1:
		case OPT_H4:
		case OPT_C1:
		case OPT_C4:
			if (parse_rate(optarg, c == OPT_H1   ? &o->h2load1
					       : c == OPT_H4 ? &o->h2load4
					       : c == OPT_C1 ? &o->curl1
							     : &o->curl4) != 0)
				return usage("a rate must be a number of "
					     "requests per second");
			break;
		default:
			return usage("unknown option");
		}
	}
	if (optind < argc)
		return usage("unexpected argument");
	return 0;
}

static int bench_main(bench *b)
{
	store_options so;
	char err[512];
	int rc = 1;

	if (b->o.redis == NULL || b->o.endpoint == NULL || b->o.ca == NULL ||
	    b->o.p8 == NULL || b->o.team == NULL || b->o.kid == NULL ||
	    b->o.topic == NULL || b->o.log == NULL)
		return usage("--redis --endpoint --ca --p8 --team --kid "
			     "--topic --mock-log are required");
	memset(&so, 0, sizeof(so));
	so.backend = STORE_BACKEND_REDIS;
	so.url = b->o.redis;
	so.prefix = "bench:";
	if (store_open(&so, &b->st, err, sizeof(err)) != STORE_OK ||
	    store_ping(b->st) != STORE_OK) {
		fprintf(stderr, "bench_push: store: %s\n", err);
		goto out;
	}
	b->log = log_new(STDERR_FILENO,
			 b->o.verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
	if (b->log == NULL)
		goto out;
	rc = run(b);
out:
	log_free(b->log);
	store_close(b->st);
	return rc;
}

int main(int argc, char **argv)
{
	bench b;
	int mode = 0, rc;

	/* The same allocators as the pushd daemon (pushd/main.c). */
	json_set_alloc_funcs(af_secmem_malloc, af_secmem_free);
	cjose_set_alloc_funcs(af_secmem_malloc, af_secmem_realloc,
			      af_secmem_free);
	memset(&b, 0, sizeof(b));
	b.o.count = 20000;
	b.o.rate = 1000;
	b.o.seconds = 5;
	rc = parse_args(argc, argv, &b.o, &mode);
	if (rc != 0)
		return rc;
	if (mode == OPT_JWT)
		return print_jwt(&b.o);
	if (mode == OPT_PAYLOAD)
		return print_payload();
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, af_secmem_malloc,
				 af_secmem_free, af_secmem_realloc,
				 af_secmem_strdup,
				 af_secmem_calloc) != CURLE_OK)
		return 1;
	rc = bench_main(&b);
	curl_global_cleanup();
	return rc;
}
