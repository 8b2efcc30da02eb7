/* Lock-free request, latency and login metrics in Prometheus text. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "http/metrics.h"

/*
 * Requests are counted by their real status code, one slot for each code
 * from 100 to 599: a list of the codes we send would fold any code it
 * missed (one libmicrohttpd sends for us, one a new handler sends) into
 * "other", where nobody sees it. The label set stays bounded all the
 * same, by the range, and only codes that were sent are printed. Slot 0
 * is a request that got no answer; the last slot is a code outside the
 * range, which libmicrohttpd does not send.
 */
#define STATUS_MIN   100u
#define STATUS_MAX   599u
#define SLOT_ABORTED 0u
#define SLOT_OTHER   (STATUS_MAX - STATUS_MIN + 2u)
#define NSTATUS	     ((size_t)SLOT_OTHER + 1u)

/* Latency bucket upper bounds in seconds. */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				 0.1,	0.25,	0.5,   1,    2.5,   5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static const char *const login_names[AF_LOGIN_OUTCOME_COUNT] = {
	"ok",	       "bad_credentials", "locked", "throttled",
	"not_allowed", "mfa_required",	  "error",  "busy",
};

static const char *const mfa_names[AF_MFA_OUT_COUNT] = {
	"approved",  "failed",	      "denied",	      "reported",
	"code_ok",   "code_wrong",    "push_limited", "expired",
	"cancelled", "code_replayed", "push_paused",
};

/* The device API's refusals, as its log lines name them; "other" last. */
static const char *const device_refusal_names[] = {
	"headers", "clock",  "target", "signature", "stored_key",
	"nonce",   "replay", "device", "other",
};
#define NDEVICE_REFUSALS \
	(sizeof(device_refusal_names) / sizeof(device_refusal_names[0]))

static const char *const bcl_names[AF_BCL_OUT_COUNT] = {
	"delivered",
	"failed",
	"dropped",
};

static const char *const session_end_names[AF_SESSION_END_COUNT] = {
	"logout", "replaced", "ended", "idle", "timeout", "too_many",
};

static const char *const grant_names[AF_TOKEN_GRANT_COUNT] = {
	"authorization_code",
	"refresh_token",
	"other",
};

/*
 * Also the OAuth error codes, but for "issued", "reused", "unavailable"
 * and "throttled".
 */
static const char *const token_names[AF_TOKEN_OUTCOME_COUNT] = {
	"issued",
	"invalid_request",
	"invalid_client",
	"invalid_grant",
	"reused",
	"unauthorized_client",
	"unsupported_grant_type",
	"invalid_scope",
	"unavailable",
	"throttled",
};

struct af_metrics {
	af_route_name_fn route_name;
	size_t nroutes;
	size_t *series;		/* nroutes: the first route of the same name */
	atomic_ulong *requests; /* nroutes x NSTATUS */
	/* Per series (route name): nroutes x (NBUCKETS + 1), and the sums. */
	atomic_ulong *hist;
	atomic_ullong *latency_sum_ns;
	atomic_ulong logins[AF_LOGIN_OUTCOME_COUNT];
	atomic_ulong mfa[AF_MFA_OUT_COUNT];
	atomic_ulong device_refusals[NDEVICE_REFUSALS];
	atomic_ulong push_queued;
	atomic_ulong bcl[AF_BCL_OUT_COUNT];
	atomic_ulong session_ends[AF_SESSION_END_COUNT];
	atomic_ulong tokens[AF_TOKEN_GRANT_COUNT][AF_TOKEN_OUTCOME_COUNT];
	atomic_long key_days_left;
	atomic_int key_alert;
	atomic_int store_up;
	atomic_int store_evicts;
	_Atomic int64_t store_clock_ms; /* the store's clock less ours */
	atomic_ulong store_lost;
	atomic_ulong store_check_failures;
	atomic_uint in_flight;
};

af_metrics *af_metrics_new(af_route_name_fn route_name, size_t nroutes)
{
	af_metrics *m = calloc(1, sizeof(*m));
	size_t i, j;

	if (m == NULL)
		return NULL;
	m->requests = calloc(nroutes * NSTATUS, sizeof(*m->requests));
	m->series = calloc(nroutes, sizeof(*m->series));
	m->hist = calloc(nroutes * (NBUCKETS + 1), sizeof(*m->hist));
	m->latency_sum_ns = calloc(nroutes, sizeof(*m->latency_sum_ns));
	if (m->requests == NULL || m->series == NULL || m->hist == NULL ||
	    m->latency_sum_ns == NULL) {
		af_metrics_free(m);
		return NULL;
	}
	for (i = 0; i < nroutes; i++) {
		for (j = 0; j < i && strcmp(route_name(j), route_name(i)) != 0;
		     j++)
			;
		m->series[i] = j;
	}
	m->route_name = route_name;
	m->nroutes = nroutes;
	/* The server starts only once the store has answered. */
	atomic_store(&m->store_up, 1);
	return m;
}

void af_metrics_free(af_metrics *m)
{
	if (m == NULL)
		return;
	free(m->requests);
	free(m->series);
	free(m->hist);
	free(m->latency_sum_ns);
	free(m);
}

static size_t status_slot(unsigned status)
{
	if (status == 0)
		return SLOT_ABORTED;
	if (status < STATUS_MIN || status > STATUS_MAX)
		return SLOT_OTHER;
	return status - STATUS_MIN + 1u;
}

void af_metrics_request(af_metrics *m, int route, unsigned status,
			uint64_t latency_ns)
{
	double s = (double)latency_ns / 1e9;
	size_t i, r;

	if (m == NULL)
		return;
	if (route < 0 || (size_t)route >= m->nroutes)
		return;
	r = m->series[route];
	atomic_fetch_add(&m->requests[r * NSTATUS + status_slot(status)], 1);
	for (i = 0; i < NBUCKETS && s > buckets[i]; i++)
		;
	atomic_fetch_add(&m->hist[r * (NBUCKETS + 1) + i], 1);
	atomic_fetch_add(&m->latency_sum_ns[r], latency_ns);
}

void af_metrics_login(af_metrics *m, af_login_outcome outcome)
{
	if (m != NULL && outcome < AF_LOGIN_OUTCOME_COUNT)
		atomic_fetch_add(&m->logins[outcome], 1);
}

void af_metrics_mfa(af_metrics *m, af_mfa_outcome outcome)
{
	if (m != NULL && outcome < AF_MFA_OUT_COUNT)
		atomic_fetch_add(&m->mfa[outcome], 1);
}

void af_metrics_bcl(af_metrics *m, af_bcl_outcome outcome)
{
	if (m != NULL && outcome < AF_BCL_OUT_COUNT)
		atomic_fetch_add(&m->bcl[outcome], 1);
}

const char *af_metrics_bcl_name(af_bcl_outcome outcome)
{
	return outcome < AF_BCL_OUT_COUNT ? bcl_names[outcome] : "?";
}

void af_metrics_session_end(af_metrics *m, af_session_end why, unsigned n)
{
	if (m != NULL && why < AF_SESSION_END_COUNT && n > 0)
		atomic_fetch_add(&m->session_ends[why], n);
}

const char *af_metrics_session_end_name(af_session_end why)
{
	return why < AF_SESSION_END_COUNT ? session_end_names[why] : "?";
}

af_token_outcome af_token_outcome_of(unsigned status, const char *error)
{
	size_t i;

	if (status == 200)
		return AF_TOKEN_ISSUED;
	if (status == 429)
		return AF_TOKEN_THROTTLED;
	if (error != NULL && strcmp(error, "temporarily_unavailable") == 0)
		return AF_TOKEN_UNAVAILABLE;
	for (i = 0; error != NULL && i < AF_TOKEN_OUTCOME_COUNT; i++)
		if (i != AF_TOKEN_ISSUED && i != AF_TOKEN_REUSED &&
		    i != AF_TOKEN_THROTTLED &&
		    strcmp(error, token_names[i]) == 0)
			return (af_token_outcome)i;
	return AF_TOKEN_INVALID_REQUEST;
}

void af_metrics_token(af_metrics *m, af_token_grant grant,
		      af_token_outcome outcome)
{
	if (m != NULL && grant < AF_TOKEN_GRANT_COUNT &&
	    outcome < AF_TOKEN_OUTCOME_COUNT)
		atomic_fetch_add(&m->tokens[grant][outcome], 1);
}

void af_metrics_store(af_metrics *m, int up)
{
	if (m == NULL)
		return;
	atomic_store(&m->store_up, up ? 1 : 0);
	if (!up)
		atomic_fetch_add(&m->store_check_failures, 1);
}

void af_metrics_device_refusal(af_metrics *m, const char *reason)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i + 1 < NDEVICE_REFUSALS; i++)
		if (reason != NULL &&
		    strcmp(reason, device_refusal_names[i]) == 0)
			break;
	atomic_fetch_add(&m->device_refusals[i], 1);
}

void af_metrics_push_queued(af_metrics *m, size_t jobs)
{
	if (m != NULL && jobs > 0)
		atomic_fetch_add(&m->push_queued, (unsigned long)jobs);
}

void af_metrics_store_lost(af_metrics *m)
{
	if (m != NULL)
		atomic_fetch_add(&m->store_lost, 1);
}

void af_metrics_store_clock(af_metrics *m, int64_t offset_ms)
{
	if (m != NULL)
		atomic_store(&m->store_clock_ms, offset_ms);
}

void af_metrics_store_evicts(af_metrics *m, int evicts)
{
	if (m != NULL)
		atomic_store(&m->store_evicts, evicts < 0 ? -1
					       : evicts	  ? 1
							  : 0);
}

void af_metrics_keys(af_metrics *m, long days_left, int alert)
{
	if (m == NULL)
		return;
	atomic_store(&m->key_days_left, days_left);
	atomic_store(&m->key_alert, alert);
}

void af_metrics_in_flight(af_metrics *m, unsigned n)
{
	atomic_store(&m->in_flight, n);
}

/* One route's latency histogram; none for a route not yet asked. */
static void render_latency(af_metrics *m, size_t r, af_buf *out)
{
	const atomic_ulong *h = &m->hist[r * (NBUCKETS + 1)];
	unsigned long cum = 0, counts[NBUCKETS + 1];
	size_t s;

	if (m->series[r] != r)
		return;
	for (s = 0; s <= NBUCKETS; s++) {
		counts[s] = atomic_load(&h[s]);
		cum += counts[s];
	}
	if (cum == 0)
		return;
	cum = 0;
	for (s = 0; s < NBUCKETS; s++) {
		cum += counts[s];
		af_buf_printf(out,
			      "authflow_http_request_duration_seconds_bucket{"
			      "route=\"%s\",le=\"%g\"} %lu\n",
			      m->route_name(r), buckets[s], cum);
	}
	/* The count is the +Inf bucket itself, so that a scrape during
	 * requests never shows the two apart. */
	cum += counts[NBUCKETS];
	af_buf_printf(out,
		      "authflow_http_request_duration_seconds_bucket{route="
		      "\"%s\",le=\"+Inf\"} %lu\n"
		      "authflow_http_request_duration_seconds_sum{route="
		      "\"%s\"} %.6f\n"
		      "authflow_http_request_duration_seconds_count{route="
		      "\"%s\"} %lu\n",
		      m->route_name(r), cum, m->route_name(r),
		      (double)atomic_load(&m->latency_sum_ns[r]) / 1e9,
		      m->route_name(r), cum);
}

void af_metrics_render(af_metrics *m, af_buf *out)
{
	int64_t clock_ms = atomic_load(&m->store_clock_ms);
	int64_t clock_abs = clock_ms < 0 ? -clock_ms : clock_ms;
	unsigned long v;
	size_t r, s, g;

	af_buf_puts(out, "# HELP authflow_http_requests_total HTTP requests "
			 "by route and status.\n"
			 "# TYPE authflow_http_requests_total counter\n");
	for (r = 0; r < m->nroutes; r++) {
		for (s = 0; s < NSTATUS; s++) {
			v = atomic_load(&m->requests[r * NSTATUS + s]);
			if (v == 0)
				continue;
			if (s == SLOT_ABORTED || s == SLOT_OTHER)
				af_buf_printf(out,
					      "authflow_http_requests_total{"
					      "route=\"%s\",status=\"%s\"} "
					      "%lu\n",
					      m->route_name(r),
					      s == SLOT_ABORTED ? "aborted"
								: "other",
					      v);
			else
				af_buf_printf(out,
					      "authflow_http_requests_total{"
					      "route=\"%s\",status=\"%u\"} "
					      "%lu\n",
					      m->route_name(r),
					      (unsigned)(s - 1 + STATUS_MIN),
					      v);
		}
	}
	af_buf_printf(out,
		      "# HELP authflow_http_requests_in_flight Requests "
		      "received and not yet answered, this one included.\n"
		      "# TYPE authflow_http_requests_in_flight gauge\n"
		      "authflow_http_requests_in_flight %u\n",
		      atomic_load(&m->in_flight));
	af_buf_puts(out, "# HELP authflow_http_request_duration_seconds "
			 "Request latency by route, from the request's headers "
			 "to its answer.\n"
			 "# TYPE authflow_http_request_duration_seconds "
			 "histogram\n");
	for (r = 0; r < m->nroutes; r++)
		render_latency(m, r, out);
	af_buf_puts(out, "# HELP authflow_logins_total Sign-ins by outcome; "
			 "one with a second step counts as mfa_required at its "
			 "password, then as ok (or another outcome) at its "
			 "end.\n# TYPE authflow_logins_total counter\n");
	for (s = 0; s < AF_LOGIN_OUTCOME_COUNT; s++)
		af_buf_printf(out,
			      "authflow_logins_total{outcome=\"%s\"} %lu\n",
			      login_names[s], atomic_load(&m->logins[s]));
	af_buf_puts(out, "# HELP authflow_mfa_total Second sign-in steps by "
			 "outcome: push answers, pushes nobody answered in "
			 "time, token codes, and sign-ins over the push "
			 "limit.\n"
			 "# TYPE authflow_mfa_total counter\n");
	for (s = 0; s < AF_MFA_OUT_COUNT; s++)
		af_buf_printf(out, "authflow_mfa_total{outcome=\"%s\"} %lu\n",
			      mfa_names[s], atomic_load(&m->mfa[s]));
	af_buf_puts(out, "# HELP authflow_device_refusals_total Device API "
			 "requests refused before they were taken, by the "
			 "check that refused them.\n"
			 "# TYPE authflow_device_refusals_total counter\n");
	for (s = 0; s < NDEVICE_REFUSALS; s++)
		af_buf_printf(out,
			      "authflow_device_refusals_total{reason=\"%s\"} "
			      "%lu\n",
			      device_refusal_names[s],
			      atomic_load(&m->device_refusals[s]));
	af_buf_printf(out,
		      "# HELP authflow_push_jobs_queued_total Push jobs this "
		      "node queued, one per phone a sign-in pushes to; each "
		      "ends as one pushd_pushes_total outcome other than "
		      "duplicate.\n"
		      "# TYPE authflow_push_jobs_queued_total counter\n"
		      "authflow_push_jobs_queued_total %lu\n",
		      atomic_load(&m->push_queued));
	af_buf_puts(out, "# HELP authflow_backchannel_logouts_total Logout "
			 "tokens for relying parties (back-channel logout) "
			 "by outcome.\n"
			 "# TYPE authflow_backchannel_logouts_total counter\n");
	for (s = 0; s < AF_BCL_OUT_COUNT; s++)
		af_buf_printf(
			out,
			"authflow_backchannel_logouts_total{outcome=\"%s\"} "
			"%lu\n",
			bcl_names[s], atomic_load(&m->bcl[s]));
	af_buf_puts(out, "# HELP authflow_sessions_ended_total SSO sessions "
			 "ended by this node, by why: signed out in their "
			 "browser (logout), a new sign-in there (replaced), "
			 "ended from elsewhere (ended), the idle timeout, the "
			 "timeout, or pushed out by the user's newer ones "
			 "(too_many).\n"
			 "# TYPE authflow_sessions_ended_total counter\n");
	for (s = 0; s < AF_SESSION_END_COUNT; s++)
		af_buf_printf(out,
			      "authflow_sessions_ended_total{reason=\"%s\"} "
			      "%lu\n",
			      session_end_names[s],
			      atomic_load(&m->session_ends[s]));
	af_buf_puts(out, "# HELP authflow_tokens_total Token requests by "
			 "grant and outcome: issued, the OAuth error, or "
			 "reused (a code or refresh token presented again: "
			 "what it issued was revoked).\n"
			 "# TYPE authflow_tokens_total counter\n");
	for (g = 0; g < AF_TOKEN_GRANT_COUNT; g++)
		for (s = 0; s < AF_TOKEN_OUTCOME_COUNT; s++)
			af_buf_printf(out,
				      "authflow_tokens_total{grant=\"%s\","
				      "outcome=\"%s\"} %lu\n",
				      grant_names[g], token_names[s],
				      atomic_load(&m->tokens[g][s]));
	af_buf_printf(out,
		      "# HELP authflow_signing_key_days_left Days until the "
		      "signing key expires.\n"
		      "# TYPE authflow_signing_key_days_left gauge\n"
		      "authflow_signing_key_days_left %ld\n"
		      "# HELP authflow_signing_key_alert 1 when the signing "
		      "key expires within the alert period.\n"
		      "# TYPE authflow_signing_key_alert gauge\n"
		      "authflow_signing_key_alert %d\n",
		      atomic_load(&m->key_days_left),
		      atomic_load(&m->key_alert));
	af_buf_printf(out,
		      "# HELP authflow_store_up 1 when the store answered its "
		      "last check (once a second), 0 when not.\n"
		      "# TYPE authflow_store_up gauge\n"
		      "authflow_store_up %d\n"
		      "# HELP authflow_store_check_failures_total Checks of "
		      "the store (once a second) that it did not answer.\n"
		      "# TYPE authflow_store_check_failures_total counter\n"
		      "authflow_store_check_failures_total %lu\n"
		      "# HELP authflow_store_evicts 1 when the store may "
		      "evict entries before they expire when full (redis "
		      "maxmemory-policy other than noeviction), 0 when not, "
		      "-1 when it cannot be told (INFO refused).\n"
		      "# TYPE authflow_store_evicts gauge\n"
		      "authflow_store_evicts %d\n"
		      "# HELP authflow_store_data_lost_total Times this node "
		      "found the store had lost its data (its id gone or "
		      "changed).\n"
		      "# TYPE authflow_store_data_lost_total counter\n"
		      "authflow_store_data_lost_total %lu\n"
		      "# HELP authflow_store_clock_offset_seconds The "
		      "store's clock (the Redis server's) less this node's, "
		      "measured once a minute; 0 with the memory store.\n"
		      "# TYPE authflow_store_clock_offset_seconds gauge\n"
		      "authflow_store_clock_offset_seconds %s%lld.%03lld\n",
		      atomic_load(&m->store_up),
		      atomic_load(&m->store_check_failures),
		      atomic_load(&m->store_evicts),
		      atomic_load(&m->store_lost), clock_ms < 0 ? "-" : "",
		      (long long)(clock_abs / 1000),
		      (long long)(clock_abs % 1000));
}
