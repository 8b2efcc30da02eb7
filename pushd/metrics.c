/*
 * Push metrics in Prometheus text: pushes by platform and outcome, the
 * failures by cause, the
 * enqueue-to-answer latency, open connections, streams in flight, token
 * renewals and retries. Counters are C11 atomics: recording takes no
 * lock, and a scrape reads each counter once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "pushd_internal.h"

/* Latency bucket upper bounds in seconds (PUSHD_LAT_BUCKETS of them). */
static const double lat_bounds[PUSHD_LAT_BUCKETS] = {
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30};

/* Longest line rendered at once. */
#define LINE_MAX_BYTES 256

void pushd_metrics_outcome(pushd_metrics *m, pushd_platform p, pushd_outcome o,
			   int64_t latency_ms)
{
	size_t i;

	if (m == NULL || (unsigned)p >= PUSHD_PLATFORMS ||
	    (unsigned)o >= PUSHD_OUTCOMES)
		return;
	atomic_fetch_add(&m->pushes[p][o], 1);
	if (latency_ms < 0)
		return;
	for (i = 0; i < PUSHD_LAT_BUCKETS; i++) {
		if ((double)latency_ms / 1000.0 <= lat_bounds[i])
			break;
	}
	atomic_fetch_add(&m->lat_hist[p][i], 1);
	atomic_fetch_add(&m->lat_sum_ms[p], (unsigned long long)latency_ms);
}

void pushd_metrics_failure(pushd_metrics *m, pushd_platform p, pushd_cause c)
{
	if (m == NULL || (unsigned)p >= PUSHD_PLATFORMS ||
	    (unsigned)c >= PUSHD_CAUSES)
		return;
	atomic_fetch_add(&m->failures[p][c], 1);
}

struct out {
	pushd_write_fn fn;
	void *arg;
	int failed;
};

static void emit(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void emit(struct out *o, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES];
	va_list ap;
	int n;

	if (o->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    o->fn(line, (size_t)n, o->arg) != 0)
		o->failed = 1;
}

static void render_latency(struct out *o, pushd_metrics *m)
{
	unsigned long cum;
	size_t p, i;

	emit(o, "# HELP pushd_push_latency_seconds Time from enqueue to the "
		"final answer of the push service.\n"
		"# TYPE pushd_push_latency_seconds histogram\n");
	for (p = 0; p < PUSHD_PLATFORMS; p++) {
		const char *pn = pushd_platform_name((pushd_platform)p);

		cum = 0;
		for (i = 0; i < PUSHD_LAT_BUCKETS; i++) {
			cum += atomic_load(&m->lat_hist[p][i]);
			emit(o,
			     "pushd_push_latency_seconds_bucket{platform=\"%s\","
			     "le=\"%g\"} %lu\n",
			     pn, lat_bounds[i], cum);
		}
		cum += atomic_load(&m->lat_hist[p][PUSHD_LAT_BUCKETS]);
		emit(o,
		     "pushd_push_latency_seconds_bucket{platform=\"%s\","
		     "le=\"+Inf\"} %lu\n",
		     pn, cum);
		emit(o,
		     "pushd_push_latency_seconds_sum{platform=\"%s\"} %.3f\n",
		     pn, (double)atomic_load(&m->lat_sum_ms[p]) / 1000.0);
		/* The +Inf bucket itself, never apart from it in a scrape. */
		emit(o,
		     "pushd_push_latency_seconds_count{platform=\"%s\"} %lu\n",
		     pn, cum);
	}
}

/* One counter or gauge per platform, of the values vals. */
static void per_platform_values(struct out *o, const char *name,
				const char *type, const char *help,
				const long long vals[PUSHD_PLATFORMS])
{
	size_t p;

	emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (p = 0; p < PUSHD_PLATFORMS; p++)
		emit(o, "%s{platform=\"%s\"} %lld\n", name,
		     pushd_platform_name((pushd_platform)p), vals[p]);
}

/* One counter or gauge per platform, of an array of atomics. */
static void per_platform(struct out *o, const char *name, const char *type,
			 const char *help, void *arr, int is_long)
{
	long long vals[PUSHD_PLATFORMS];
	size_t p;

	for (p = 0; p < PUSHD_PLATFORMS; p++)
		vals[p] = is_long ? (long long)atomic_load(
					    &((atomic_long *)arr)[p])
				  : (long long)atomic_load(
					    &((atomic_ulong *)arr)[p]);
	per_platform_values(o, name, type, help, vals);
}

static void render_connections(struct out *o, pushd_metrics *m)
{
	long long open[PUSHD_PLATFORMS], opened[PUSHD_PLATFORMS];
	size_t p;

	for (p = 0; p < PUSHD_PLATFORMS; p++) {
		open[p] = atomic_load(&m->conns[p].open);
		opened[p] = (long long)atomic_load(&m->conns[p].opened);
	}
	per_platform_values(o, "pushd_connections_open", "gauge",
			    "Connections open to the push service.", open);
	per_platform_values(o, "pushd_connections_opened_total", "counter",
			    "Connections tried to the push service (sockets "
			    "opened, failed attempts included).",
			    opened);
}

/*
 * The pauses of services that refused as a whole (see pause.c), by
 * platform: APNs' two hosts add up, and either paused is a pause.
 */
static void render_pauses(struct out *o, pushd_ctx *ctx)
{
	long long pauses[PUSHD_PLATFORMS] = {0}, paused[PUSHD_PLATFORMS] = {0};
	uint64_t now = af_mono_ns();
	size_t s;

	for (s = 0; s < PUSHD_SERVICES; s++) {
		pushd_platform p = pushd_service_platform((pushd_service)s);

		pauses[p] += (long long)pushd_pause_count(&ctx->pause[s]);
		if (pushd_pause_until(&ctx->pause[s], now) != 0)
			paused[p] = 1;
	}
	per_platform_values(o, "pushd_service_pauses_total", "counter",
			    "Pauses of all pushes to a service that refused "
			    "as a whole.",
			    pauses);
	per_platform_values(o, "pushd_service_paused", "gauge",
			    "1 while pushes to the service wait for a pause "
			    "to end.",
			    paused);
}

pushd_status pushd_metrics_render(pushd_ctx *ctx, pushd_write_fn fn, void *arg)
{
	struct out o = {fn, arg, 0};
	pushd_metrics *m;
	size_t p, i;

	if (ctx == NULL || fn == NULL)
		return PUSHD_ERR_ARG;
	m = &ctx->metrics;
	emit(&o, "# HELP pushd_pushes_total Push jobs by platform and "
		 "outcome.\n# TYPE pushd_pushes_total counter\n");
	for (p = 0; p < PUSHD_PLATFORMS; p++) {
		for (i = 0; i < PUSHD_OUTCOMES; i++)
			emit(&o,
			     "pushd_pushes_total{platform=\"%s\",outcome="
			     "\"%s\"} %lu\n",
			     pushd_platform_name((pushd_platform)p),
			     pushd_outcome_name((pushd_outcome)i),
			     atomic_load(&m->pushes[p][i]));
	}
	emit(&o, "# HELP pushd_push_failures_total Push jobs that failed for "
		 "good, by platform and cause: the last answer's kind, or what "
		 "kept the push from being sent.\n# TYPE "
		 "pushd_push_failures_total counter\n");
	for (p = 0; p < PUSHD_PLATFORMS; p++) {
		for (i = 0; i < PUSHD_CAUSES; i++)
			emit(&o,
			     "pushd_push_failures_total{platform=\"%s\","
			     "cause=\"%s\"} %lu\n",
			     pushd_platform_name((pushd_platform)p),
			     pushd_cause_name((pushd_cause)i),
			     atomic_load(&m->failures[p][i]));
	}
	render_latency(&o, m);
	render_connections(&o, m);
	per_platform(&o, "pushd_streams_in_flight", "gauge",
		     "Requests on the wire.", m->streams, 1);
	per_platform(&o, "pushd_token_renewals_total", "counter",
		     "Provider or access tokens made by this process.",
		     m->renewals, 0);
	per_platform(&o, "pushd_retries_total", "counter",
		     "Push requests sent again after one that failed (a retry, "
		     "or the resend with a renewed credential).",
		     m->retries, 0);
	per_platform(&o, "pushd_backoffs_total", "counter",
		     "Pushes held back for a while before their next request: "
		     "after a failed answer, or waiting for a credential or "
		     "for a paused service.",
		     m->backoffs, 0);
	render_pauses(&o, ctx);
	emit(&o,
	     "# HELP pushd_unparsable_jobs_total Queue entries that were "
	     "not push jobs.\n# TYPE pushd_unparsable_jobs_total counter\n"
	     "pushd_unparsable_jobs_total %lu\n",
	     atomic_load(&m->unparsable));
	emit(&o,
	     "# HELP pushd_workers_alive Worker threads running.\n"
	     "# TYPE pushd_workers_alive gauge\npushd_workers_alive %u\n",
	     atomic_load(&ctx->alive));
	return o.failed ? PUSHD_ERR_NOMEM : PUSHD_OK;
}
