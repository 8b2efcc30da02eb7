/*
 * One worker thread: a consumer of the "push" queue's group, with its own
 * curl multi handle per push service, so each worker keeps one HTTP/2
 * connection per service and many streams on it.
 *
 * A job goes through these steps, each chosen so that a crash at any
 * point loses nothing and repeats as little as possible:
 *   1. taken (read, or claimed from a dead consumer): a lease
 *      "push_lease:<job>" (SET NX, a few seconds, refreshed while the job
 *      is held) keeps two live nodes from sending it at once when one
 *      claims a job the other is still retrying;
 *   2. skipped and acknowledged when "push_done:<job>" exists (its outcome
 *      was final before: a redelivery), or when its txn is no longer
 *      pending or has expired (nobody is waiting for the push any more);
 *   3. sent, and retried on the answers that ask for it while the txn is
 *      pending;
 *   4. on the final outcome: "push_done:<job>" is set (before the
 *      acknowledgement, so a redelivery after a crash here is recognised),
 *      the outcome is recorded on the txn (and a dead token on the
 *      device), then the entry is acknowledged.
 * A crash between the service's answer and step 4 makes the job be sent
 * again; both attempts carry the same apns-id and collapse id, so the
 * phone shows one notification.
 *
 * Thread rules: the multi handles, the easy handles and the flights
 * belong to this thread alone; the context is shared (store, log,
 * metrics and the token caches are thread-safe).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "pushd_internal.h"

/* Jobs asked for per read: spreads a burst over the workers. */
#define READ_BATCH	  16
/* How long an idle worker blocks in the queue read. */
#define READ_BLOCK_MS	  250
#define CLAIM_EVERY_NS	  1000000000ull
/* Longest wait in curl while streams are in flight. */
#define POLL_MAX_MS	  50
#define NS_PER_MS	  1000000ull
#define CONSUMER_NAME_MAX 96

struct pushd_worker {
	pushd_ctx *ctx;
	unsigned index;
	char consumer[CONSUMER_NAME_MAX];
	pthread_t thread;
	int started;
	CURLM *multi[PUSHD_PLATFORMS];
	pushd_flight *flights; /* PUSHD_INFLIGHT_MAX */
	size_t busy;
	uint64_t next_claim_ns;
};

/* ---- store helpers ----------------------------------------------------------
 */

static void job_key(char *out, size_t cap, const char *what, const char *job)
{
	(void)snprintf(out, cap, "%s:%s", what, job);
}

static void ack(struct pushd_worker *w, const char *entry_id)
{
	store_status st = store_queue_ack(w->ctx->store, PUSHD_QUEUE,
					  PUSHD_GROUP, entry_id);

	if (st != STORE_OK)
		log_warn(w->ctx->log, NULL, "push_ack", "entry=%s: %s",
			 entry_id, store_strerror(st));
}

static void lease_drop(struct pushd_worker *w, const char *job)
{
	char key[STORE_KEY_MAX];
	store_status st;

	job_key(key, sizeof(key), "push_lease", job);
	st = store_del(w->ctx->store, key);
	/* Not fatal: the lease runs out by itself. */
	if (st != STORE_OK)
		log_debug(w->ctx->log, NULL, "push_lease", "job=%s: %s", job,
			  store_strerror(st));
}

/*
 * Takes the lease on a job: 1 taken, 0 another live consumer holds it,
 * -1 the store failed.
 */
static int lease_take(struct pushd_worker *w, const char *job)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	store_status st;
	int rc;

	job_key(key, sizeof(key), "push_lease", job);
	st = store_set(w->ctx->store, key, w->consumer, strlen(w->consumer),
		       PUSHD_LEASE_TTL_MS, STORE_SET_NX);
	if (st == STORE_OK)
		return 1;
	if (st != STORE_EXISTS)
		return -1;
	if (store_get(w->ctx->store, key, &v) != STORE_OK)
		return 0;
	/* Our own lease from before is ours to go on with. */
	rc = v.len == strlen(w->consumer) &&
	     memcmp(v.data, w->consumer, v.len) == 0;
	store_value_free(&v);
	return rc;
}

static void lease_refresh(struct pushd_worker *w, pushd_flight *f)
{
	char key[STORE_KEY_MAX];
	store_status st;

	job_key(key, sizeof(key), "push_lease", f->job.job);
	st = store_set(w->ctx->store, key, w->consumer, strlen(w->consumer),
		       PUSHD_LEASE_TTL_MS, 0);
	if (st != STORE_OK)
		log_warn(w->ctx->log, NULL, "push_lease", "job=%s: %s",
			 f->job.job, store_strerror(st));
	f->lease_ns = af_mono_ns();
}

/* 1 when the job's txn is pending and unexpired, 0 when not, -1 error. */
static int txn_live(struct pushd_worker *w, const pushd_job *job)
{
	int64_t now = af_now();
	json_t *txn = NULL;
	const char *state;
	af_mfa_status st;
	int rc;

	if (now >= job->expires)
		return 0;
	st = af_mfa_txn_get(w->ctx->store, job->txn, now, &txn);
	if (st == AF_MFA_NOT_FOUND)
		return 0;
	if (st != AF_MFA_OK)
		return -1;
	state = json_string_value(json_object_get(txn, "state"));
	rc = state != NULL && strcmp(state, "pending") == 0 &&
	     now < json_integer_value(json_object_get(txn, "expires"));
	json_decref(txn);
	return rc;
}

/*
 * Marks the device's push token dead, unless the phone has sent a new one
 * since the job was queued (that one has not been refused).
 */
static void token_invalid(struct pushd_worker *w, const pushd_job *job)
{
	json_t *dev = NULL, *patch = NULL;
	const char *tok;
	char err[128];
	af_mfa_status st;

	st = af_mfa_device_get(w->ctx->store, job->device, &dev);
	if (st != AF_MFA_OK)
		goto out;
	tok = json_string_value(json_object_get(dev, "push_token"));
	if (tok == NULL || !af_ct_streq(tok, job->push_token))
		goto out;
	patch = json_pack("{s:b}", "push_token_valid", 0);
	st = patch != NULL ? af_mfa_device_update(w->ctx->store, job->device,
						  patch, err, sizeof(err))
			   : AF_MFA_NOMEM;
out:
	if (st != AF_MFA_OK)
		log_warn(w->ctx->log, NULL, "push_token_invalid",
			 "device=%s: %s", job->device, af_mfa_strerror(st));
	json_decref(patch);
	json_decref(dev);
}

/* ---- flights --------------------------------------------------------------
 */

void pushd_flight_release(pushd_flight *f)
{
	if (f->easy != NULL)
		curl_easy_cleanup(f->easy);
	f->easy = NULL;
	curl_slist_free_all(f->headers);
	f->headers = NULL;
	if (f->body != NULL) {
		OPENSSL_cleanse(f->body, strlen(f->body));
		free(f->body);
	}
	f->body = NULL;
	f->resp_len = 0;
	f->resp[0] = '\0';
	f->retry_after[0] = '\0';
}

static void flight_free(struct pushd_worker *w, pushd_flight *f)
{
	pushd_flight_release(f);
	OPENSSL_cleanse(f->auth, sizeof(f->auth));
	memset(&f->job, 0, sizeof(f->job));
	f->state = PUSHD_F_FREE;
	w->busy--;
}

/* The job's age: enqueue time from the job, else the stream id, else us. */
static int64_t latency_ms(const pushd_flight *f)
{
	int64_t now = af_now_ms(), since = f->taken_ms;
	char *end = NULL;
	long long ms;

	if (f->job.queued_ms > 0) {
		since = f->job.queued_ms;
	} else {
		ms = strtoll(f->entry_id, &end, 10);
		/* A redis stream id starts with its unix milliseconds. */
		if (end != NULL && *end == '-' && ms > 1000000000000LL)
			since = ms;
	}
	return now > since ? now - since : 0;
}

/* Leaves the job pending for another consumer (stop, store failure). */
static void abandon(struct pushd_worker *w, pushd_flight *f)
{
	lease_drop(w, f->job.job);
	flight_free(w, f);
}

/* The job is not to be sent: acknowledge it and count why. */
static void drop(struct pushd_worker *w, pushd_flight *f, pushd_outcome why)
{
	ack(w, f->entry_id);
	lease_drop(w, f->job.job);
	pushd_metrics_outcome(&w->ctx->metrics, f->job.platform, why, -1);
	log_info(w->ctx->log, NULL, "push", "job=%s txn=%s platform=%s %s",
		 f->job.job, f->job.txn, pushd_platform_name(f->job.platform),
		 why == PUSHD_OUT_DUPLICATE ? "outcome=duplicate"
					    : "outcome=dropped");
	flight_free(w, f);
}

/* The final outcome: marker, record, acknowledgement, in that order. */
static void finish(struct pushd_worker *w, pushd_flight *f, pushd_outcome o)
{
	const char *name = pushd_outcome_name(o);
	char key[STORE_KEY_MAX];
	store_status st;
	af_mfa_status mst;

	job_key(key, sizeof(key), "push_done", f->job.job);
	st = store_set(w->ctx->store, key, name, strlen(name),
		       PUSHD_DONE_TTL_MS, STORE_SET_NX);
	if (st == STORE_EXISTS) {
		drop(w, f, PUSHD_OUT_DUPLICATE);
		return;
	}
	if (st != STORE_OK) {
		/* Unrecorded, so unacknowledged: a later claim finishes it. */
		log_error(w->ctx->log, NULL, "push",
			  "job=%s: cannot record outcome %s: %s", f->job.job,
			  name, store_strerror(st));
		abandon(w, f);
		return;
	}
	mst = af_mfa_txn_push_status(w->ctx->store, f->job.txn, f->job.device,
				     name);
	if (mst != AF_MFA_OK && mst != AF_MFA_NOT_FOUND)
		log_warn(w->ctx->log, NULL, "push", "job=%s txn=%s: %s",
			 f->job.job, f->job.txn, af_mfa_strerror(mst));
	if (o == PUSHD_OUT_TOKEN_INVALID)
		token_invalid(w, &f->job);
	ack(w, f->entry_id);
	lease_drop(w, f->job.job);
	pushd_metrics_outcome(&w->ctx->metrics, f->job.platform, o,
			      latency_ms(f));
	log_info(w->ctx->log, NULL, "push",
		 "job=%s txn=%s device=%s platform=%s outcome=%s attempts=%u",
		 f->job.job, f->job.txn, f->job.device,
		 pushd_platform_name(f->job.platform), name, f->attempt + 1);
	flight_free(w, f);
}

/* Schedules another attempt after the back-off, or gives up. */
static void retry(struct pushd_worker *w, pushd_flight *f)
{
	uint64_t wait = 0, ra = 0;
	uint32_t rnd = 0;

	if (af_random_bytes(&rnd, sizeof(rnd)) != 0)
		rnd = PUSHD_BACKOFF_MAX_MS;
	wait = pushd_backoff_ms(f->attempt, rnd);
	if (f->retry_after[0] != '\0' &&
	    pushd_retry_after_ms(f->retry_after, af_now(), &ra) == 0 &&
	    ra > wait)
		wait = ra;
	if (af_now_ms() + (int64_t)wait >= f->job.expires * 1000) {
		log_info(w->ctx->log, NULL, "push",
			 "job=%s: the txn expires before the next attempt",
			 f->job.job);
		finish(w, f, PUSHD_OUT_FAILED);
		return;
	}
	pushd_flight_release(f);
	f->attempt++;
	atomic_fetch_add(&w->ctx->metrics.retries[f->job.platform], 1);
	f->state = PUSHD_F_WAIT;
	f->due_ns = af_mono_ns() + wait * NS_PER_MS;
}

/* ---- transfers -------------------------------------------------------------
 */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	pushd_flight *f = arg;
	size_t len = size * n;

	/* An answer over the cap aborts the transfer (CURLE_WRITE_ERROR). */
	if (len > sizeof(f->resp) - 1 - f->resp_len)
		return 0;
	memcpy(f->resp + f->resp_len, data, len);
	f->resp_len += len;
	f->resp[f->resp_len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	static const char name[] = "retry-after:";
	pushd_flight *f = arg;
	size_t len = size * n, vlen;

	if (len > strlen(name) && strncasecmp(data, name, strlen(name)) == 0) {
		vlen = len - strlen(name);
		if (vlen < sizeof(f->retry_after)) {
			memcpy(f->retry_after, data + strlen(name), vlen);
			f->retry_after[vlen] = '\0';
		}
	}
	return len;
}

static pushd_status make_request(struct pushd_worker *w, pushd_flight *f)
{
	pushd_ctx *ctx = w->ctx;
	pushd_status rc;

	f->easy = curl_easy_init();
	if (f->easy == NULL)
		return PUSHD_ERR_NOMEM;
	rc = pushd_curl_common(ctx, f->easy, f->job.platform);
	if (rc != PUSHD_OK)
		return rc;
	if (curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f) != CURLE_OK ||
	    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body) !=
		    CURLE_OK ||
	    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f) != CURLE_OK ||
	    curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, on_header) !=
		    CURLE_OK ||
	    curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f) != CURLE_OK ||
	    /* Wait for the one HTTP/2 connection rather than open another. */
	    curl_easy_setopt(f->easy, CURLOPT_PIPEWAIT, 1L) != CURLE_OK)
		return PUSHD_ERR_HTTP;
	if (f->job.platform == PUSHD_APNS)
		return pushd_apns_prepare(ctx, f);
	return pushd_fcm_prepare(ctx, f);
}

static void start_send(struct pushd_worker *w, pushd_flight *f)
{
	pushd_status rc;
	int live;

	/* A retry goes out only while someone still waits for it. */
	if (f->attempt > 0 || f->renewed) {
		live = txn_live(w, &f->job);
		if (live == 0) {
			drop(w, f, PUSHD_OUT_DROPPED);
			return;
		}
		if (live < 0) {
			abandon(w, f);
			return;
		}
	}
	rc = make_request(w, f);
	if (rc == PUSHD_ERR_PROTOCOL) {
		log_info(w->ctx->log, NULL, "push",
			 "job=%s: not a device token for this service",
			 f->job.job);
		finish(w, f, PUSHD_OUT_TOKEN_INVALID);
		return;
	}
	if (rc == PUSHD_ERR_TOO_BIG) {
		log_warn(w->ctx->log, NULL, "push",
			 "job=%s: payload over the service's limit",
			 f->job.job);
		finish(w, f, PUSHD_OUT_FAILED);
		return;
	}
	if (rc == PUSHD_OK && curl_multi_add_handle(w->multi[f->job.platform],
						    f->easy) != CURLM_OK)
		rc = PUSHD_ERR_HTTP;
	if (rc != PUSHD_OK) {
		log_warn(w->ctx->log, NULL, "push", "job=%s: %s", f->job.job,
			 pushd_strerror(rc));
		retry(w, f);
		return;
	}
	f->state = PUSHD_F_SENDING;
	atomic_fetch_add(&w->ctx->metrics.streams[f->job.platform], 1);
}

/* Renews the credential that the service refused, once per job. */
static void renew(struct pushd_worker *w, pushd_flight *f)
{
	char fresh[PUSHD_ACCESS_TOKEN_MAX];
	pushd_status rc;

	if (f->renewed) {
		finish(w, f, PUSHD_OUT_FAILED);
		return;
	}
	f->renewed = 1;
	if (f->job.platform == PUSHD_APNS)
		rc = pushd_apns_token(w->ctx, f->auth, fresh, sizeof(fresh));
	else
		rc = pushd_fcm_token(w->ctx, f->auth, fresh, sizeof(fresh));
	OPENSSL_cleanse(fresh, sizeof(fresh));
	if (rc != PUSHD_OK) {
		retry(w, f);
		return;
	}
	pushd_flight_release(f);
	f->state = PUSHD_F_WAIT;
	f->due_ns = af_mono_ns();
}

static void on_done(struct pushd_worker *w, pushd_flight *f, CURLcode cc)
{
	long status = 0;
	pushd_verdict v;

	(void)curl_multi_remove_handle(w->multi[f->job.platform], f->easy);
	atomic_fetch_sub(&w->ctx->metrics.streams[f->job.platform], 1);
	(void)curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		v = pushd_classify_curl(cc);
		log_info(w->ctx->log, NULL, "push", "job=%s: transfer: %s",
			 f->job.job, curl_easy_strerror(cc));
	} else if (f->job.platform == PUSHD_APNS) {
		v = pushd_apns_verdict(w->ctx, f, status);
	} else {
		v = pushd_fcm_verdict(w->ctx, f, status);
	}
	switch (v) {
	case PUSHD_V_SENT:
		finish(w, f, PUSHD_OUT_SENT);
		break;
	case PUSHD_V_TOKEN_INVALID:
		finish(w, f, PUSHD_OUT_TOKEN_INVALID);
		break;
	case PUSHD_V_RENEW:
		renew(w, f);
		break;
	case PUSHD_V_RETRY:
		retry(w, f);
		break;
	case PUSHD_V_FAILED:
	default:
		finish(w, f, PUSHD_OUT_FAILED);
		break;
	}
}

static void drive(struct pushd_worker *w)
{
	CURLMsg *msg;
	int running, left;
	size_t p;

	for (p = 0; p < PUSHD_PLATFORMS; p++) {
		if (w->multi[p] == NULL)
			continue;
		(void)curl_multi_perform(w->multi[p], &running);
		while ((msg = curl_multi_info_read(w->multi[p], &left)) !=
		       NULL) {
			pushd_flight *f = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(msg->easy_handle,
						CURLINFO_PRIVATE, &f);
			if (f != NULL)
				on_done(w, f, msg->data.result);
		}
	}
}

/* ---- taking jobs -----------------------------------------------------------
 */

static pushd_flight *free_flight(struct pushd_worker *w)
{
	size_t i;

	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++) {
		if (w->flights[i].state == PUSHD_F_FREE)
			return &w->flights[i];
	}
	return NULL;
}

static int holding(const struct pushd_worker *w, const char *job)
{
	size_t i;

	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++) {
		if (w->flights[i].state != PUSHD_F_FREE &&
		    strcmp(w->flights[i].job.job, job) == 0)
			return 1;
	}
	return 0;
}

/* 1 when this node can send to the job's platform. */
static int configured(const pushd_ctx *ctx, pushd_platform p)
{
	return p == PUSHD_APNS ? ctx->apns_key != NULL : ctx->fcm.key != NULL;
}

/* Called by the store for each entry read or claimed. */
static int take(const char *id, const char *entry, void *arg)
{
	struct pushd_worker *w = arg;
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	pushd_flight *f = free_flight(w);
	int r;

	/* Never asked for more than there are free flights. */
	if (f == NULL || strlen(id) >= sizeof(f->entry_id))
		return 0;
	memcpy(f->entry_id, id, strlen(id) + 1);
	if (pushd_job_parse(entry, strlen(entry), &f->job) != PUSHD_OK) {
		log_warn(w->ctx->log, NULL, "push",
			 "entry=%s is not a push job; dropped", id);
		atomic_fetch_add(&w->ctx->metrics.unparsable, 1);
		ack(w, id);
		return 0;
	}
	/* Claimed back from ourselves while we still work on it. */
	if (holding(w, f->job.job))
		return 0;
	r = lease_take(w, f->job.job);
	if (r <= 0)
		return 0;
	w->busy++;
	f->state = PUSHD_F_WAIT;
	f->attempt = 0;
	f->renewed = 0;
	f->taken_ms = af_now_ms();
	f->lease_ns = af_mono_ns();
	f->due_ns = f->lease_ns;
	job_key(key, sizeof(key), "push_done", f->job.job);
	if (store_get(w->ctx->store, key, &v) == STORE_OK) {
		store_value_free(&v);
		drop(w, f, PUSHD_OUT_DUPLICATE);
		return 0;
	}
	r = txn_live(w, &f->job);
	if (r == 0) {
		drop(w, f, PUSHD_OUT_DROPPED);
	} else if (r < 0) {
		abandon(w, f);
	} else if (!configured(w->ctx, f->job.platform)) {
		log_warn(w->ctx->log, NULL, "push",
			 "job=%s: platform %s is not configured (no push.%s "
			 "section)",
			 f->job.job, pushd_platform_name(f->job.platform),
			 pushd_platform_name(f->job.platform));
		finish(w, f, PUSHD_OUT_FAILED);
	}
	return 0;
}

static void take_new(struct pushd_worker *w)
{
	size_t room = PUSHD_INFLIGHT_MAX - w->busy, count = 0;
	unsigned block = w->busy == 0 ? READ_BLOCK_MS : 0;
	uint64_t now = af_mono_ns();
	store_status st;

	if (room > READ_BATCH)
		room = READ_BATCH;
	if (room == 0)
		return;
	st = store_queue_read(w->ctx->store, PUSHD_QUEUE, PUSHD_GROUP,
			      w->consumer, room, block, take, w, &count);
	if (st != STORE_OK) {
		log_warn(w->ctx->log, NULL, "push_read", "%s",
			 store_strerror(st));
		/* Do not spin on a store that is down. */
		if (block == 0 || st == STORE_ERR_UNAVAILABLE) {
			const struct timespec pause = {0, 100000000L};

			(void)nanosleep(&pause, NULL);
		}
	}
	if (now < w->next_claim_ns || w->busy >= PUSHD_INFLIGHT_MAX)
		return;
	w->next_claim_ns = now + CLAIM_EVERY_NS;
	room = PUSHD_INFLIGHT_MAX - w->busy;
	if (room > READ_BATCH)
		room = READ_BATCH;
	st = store_queue_claim(w->ctx->store, PUSHD_QUEUE, PUSHD_GROUP,
			       w->consumer, PUSHD_CLAIM_IDLE_MS, room, take, w,
			       &count);
	if (st != STORE_OK)
		log_warn(w->ctx->log, NULL, "push_claim", "%s",
			 store_strerror(st));
}

/* ---- the loop
 * ---------------------------------------------------------------- */

/* Starts due jobs, refreshes leases; returns ms until the next due job. */
static uint64_t tend(struct pushd_worker *w, int stopping)
{
	uint64_t now = af_mono_ns(), next = POLL_MAX_MS;
	size_t i;

	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++) {
		pushd_flight *f = &w->flights[i];

		if (f->state == PUSHD_F_FREE)
			continue;
		if (f->state == PUSHD_F_WAIT && stopping) {
			abandon(w, f);
			continue;
		}
		if (now - f->lease_ns >= PUSHD_LEASE_EVERY * NS_PER_MS)
			lease_refresh(w, f);
		if (f->state != PUSHD_F_WAIT)
			continue;
		if (f->due_ns <= now)
			start_send(w, f);
		else if ((f->due_ns - now) / NS_PER_MS < next)
			next = (f->due_ns - now) / NS_PER_MS;
	}
	return next;
}

static size_t sending(const struct pushd_worker *w)
{
	size_t i, n = 0;

	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++)
		n += w->flights[i].state == PUSHD_F_SENDING;
	return n;
}

/* Waits for socket activity on the multi handles, or for timeout_ms. */
static void wait_io(struct pushd_worker *w, uint64_t timeout_ms)
{
	int used = 0;
	size_t p;

	for (p = 0; p < PUSHD_PLATFORMS; p++) {
		if (w->multi[p] == NULL)
			continue;
		/* Two services share the wait; each gets half of it. */
		(void)curl_multi_poll(w->multi[p], NULL, 0,
				      (int)(timeout_ms / 2 + 1), NULL);
		used = 1;
	}
	if (!used) {
		struct timespec pause = {0, (long)(timeout_ms * NS_PER_MS)};

		(void)nanosleep(&pause, NULL);
	}
}

/* At the end of the grace time: the streams still open are given up. */
static void abort_all(struct pushd_worker *w)
{
	size_t i;

	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++) {
		pushd_flight *f = &w->flights[i];

		if (f->state == PUSHD_F_SENDING) {
			(void)curl_multi_remove_handle(
				w->multi[f->job.platform], f->easy);
			atomic_fetch_sub(
				&w->ctx->metrics.streams[f->job.platform], 1);
		}
		if (f->state != PUSHD_F_FREE)
			abandon(w, f);
	}
}

static void *worker_main(void *arg)
{
	struct pushd_worker *w = arg;
	pushd_ctx *ctx = w->ctx;
	uint64_t next;
	int stopping;

	atomic_fetch_add(&ctx->alive, 1);
	log_debug(ctx->log, NULL, "push_worker", "consumer=%s started",
		  w->consumer);
	for (;;) {
		stopping = atomic_load(&ctx->stopping);
		if (stopping && sending(w) == 0)
			break;
		if (stopping && af_mono_ns() >= ctx->grace_deadline_ns) {
			abort_all(w);
			break;
		}
		if (!stopping)
			take_new(w);
		next = tend(w, stopping);
		drive(w);
		if (sending(w) > 0 || w->busy > 0)
			wait_io(w, next < POLL_MAX_MS ? next : POLL_MAX_MS);
		drive(w);
	}
	abort_all(w);
	log_debug(ctx->log, NULL, "push_worker", "consumer=%s stopped",
		  w->consumer);
	atomic_fetch_sub(&ctx->alive, 1);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------
 */

static CURLM *new_multi(unsigned connections)
{
	CURLM *m = curl_multi_init();

	if (m == NULL)
		return NULL;
	/* Many streams on one connection per service, as Apple asks. */
	if (curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) !=
		    CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS,
			      (long)connections) != CURLM_OK) {
		curl_multi_cleanup(m);
		return NULL;
	}
	return m;
}

pushd_status pushd_worker_new(pushd_ctx *ctx, unsigned index,
			      struct pushd_worker **out)
{
	struct pushd_worker *w;

	if (ctx == NULL || out == NULL)
		return PUSHD_ERR_ARG;
	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return PUSHD_ERR_NOMEM;
	w->ctx = ctx;
	w->index = index;
	(void)snprintf(w->consumer, sizeof(w->consumer), "%s-w%u", ctx->node,
		       index);
	w->flights = calloc(PUSHD_INFLIGHT_MAX, sizeof(*w->flights));
	if (w->flights == NULL)
		goto fail;
	if (ctx->apns_key != NULL) {
		w->multi[PUSHD_APNS] = new_multi(ctx->cfg.apns.connections);
		if (w->multi[PUSHD_APNS] == NULL)
			goto fail;
	}
	if (ctx->fcm.key != NULL) {
		w->multi[PUSHD_FCM] = new_multi(ctx->cfg.fcm.connections);
		if (w->multi[PUSHD_FCM] == NULL)
			goto fail;
	}
	*out = w;
	return PUSHD_OK;
fail:
	pushd_worker_free(w);
	return PUSHD_ERR_NOMEM;
}

pushd_status pushd_worker_start(struct pushd_worker *w)
{
	if (w == NULL || w->started)
		return PUSHD_ERR_ARG;
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		return PUSHD_ERR_THREAD;
	w->started = 1;
	return PUSHD_OK;
}

void pushd_worker_join(struct pushd_worker *w)
{
	if (w == NULL || !w->started)
		return;
	(void)pthread_join(w->thread, NULL);
	w->started = 0;
}

void pushd_worker_free(struct pushd_worker *w)
{
	size_t p;

	if (w == NULL)
		return;
	pushd_worker_join(w);
	if (w->flights != NULL) {
		OPENSSL_cleanse(w->flights,
				PUSHD_INFLIGHT_MAX * sizeof(*w->flights));
		free(w->flights);
	}
	for (p = 0; p < PUSHD_PLATFORMS; p++)
		curl_multi_cleanup(w->multi[p]);
	free(w);
}
