/*
 * One worker thread: a consumer of the "push" queue's group, with its own
 * curl multi handle per push service, so each worker keeps one HTTP/2
 * connection per service and many streams on it.
 *
 * A job goes through these steps, each chosen so that a crash at any
 * point loses nothing and repeats as little as possible:
 *   1. taken (read, or claimed from a dead consumer);
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
 * The lease "push_lease:<job>" (SET NX, a few seconds, refreshed while
 * the job is held) keeps two live nodes from sending a job at once when
 * one claims a job the other still holds. Another consumer can only
 * claim an entry that has been idle PUSHD_CLAIM_IDLE_MS since it was
 * delivered to us, so a job read fresh from the queue needs no lease
 * while it is younger than that: it takes one only once held
 * LEASE_AFTER_MS (a retry, a slow service), well before anyone could
 * claim it. Claimed jobs take the lease at once. So the common job, sent
 * and answered within a second, costs no lease at all; and a worker that
 * was stalled so long that another took over finds the lease taken and
 * lets the job go unsent and unacknowledged.
 *
 * Store calls are batched (store_batch(): one round trip on redis for
 * any number of calls): the checks of everything one read brought in go
 * in one batch, and the jobs whose outcome became final in one pass of
 * the loop are recorded together in three: the markers and the txns as
 * they are; the outcomes on the txns; the acknowledgements and the
 * leases. The order of step 4 holds for every job, as the batches run
 * one after the other.
 *
 * Thread rules: the multi handles, the easy handles and the flights
 * belong to this thread alone; the context is shared (store, log,
 * metrics and the token caches are thread-safe).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <time.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "pushd_internal.h"

/* Jobs asked for per read: spreads a burst over the workers. */
#define READ_BATCH	  128
/* How long an idle worker blocks in the queue read. */
#define READ_BLOCK_MS	  250
#define CLAIM_EVERY_NS	  1000000000ull
/* How often the first worker removes the consumers of gone nodes. */
#define PRUNE_EVERY_NS	  60000000000ull
/* Longest wait in curl while streams are in flight. */
#define POLL_MAX_MS	  50
/*
 * The wait in curl while streams are in flight and there is room for
 * more jobs: jobs queued meanwhile wait at most this long to be read.
 */
#define QUEUE_POLL_MS	  1
/*
 * While streams are in flight, jobs are read only once this many flights
 * are free, and finished jobs are recorded once this many are done (or
 * the first has waited FLUSH_AGE_MS, or nothing is in flight): a round
 * trip to the store then serves many jobs rather than one or two.
 */
#define READ_MIN	  32
#define FLUSH_MIN	  32
#define FLUSH_AGE_MS	  1
/* A job read fresh takes its lease once held this long. */
#define LEASE_AFTER_MS	  1000u
#define NS_PER_MS	  1000000ull
#define NS_PER_S	  1000000000ull
/* Longest sleep while reads back off: a stop is seen within this long. */
#define NAP_MAX_MS	  100u
/* A run of store failures is logged again after this long. */
#define LOG_EVERY_NS	  ((uint64_t)PUSHD_OUTAGE_LOG_EVERY_S * NS_PER_S)
#define CONSUMER_NAME_MAX 96
/* Store operations one job adds to a batch at most. */
#define OPS_PER_JOB	  4
/* Sockets of the second push service watched in one wait at most. */
#define WAIT_FDS_MAX	  16

struct pushd_worker {
	pushd_ctx *ctx;
	unsigned index;
	char consumer[CONSUMER_NAME_MAX];
	pthread_t thread;
	int started;
	CURLM *multi[PUSHD_PLATFORMS];
	pushd_flight *flights; /* PUSHD_INFLIGHT_MAX */
	size_t busy;	       /* flights not free */
	size_t sending;	       /* flights in PUSHD_F_SENDING */
	size_t done;	       /* flights in PUSHD_F_DONE */
	uint64_t done_ns;      /* when the first of them was done */
	size_t free_hint;      /* where to look for a free flight first */
	uint64_t next_ms;      /* until the next due retry, from tend() */
	size_t *list;	       /* PUSHD_INFLIGHT_MAX: one batch's flights */
	store_op *ops;	       /* PUSHD_INFLIGHT_MAX * OPS_PER_JOB */
	uint64_t next_claim_ns;
	uint64_t next_prune_ns;
	pushd_outage read_out;	/* failed queue reads in a row */
	pushd_outage claim_out; /* failed claims in a row */
	/*
	 * Per service (monotonic): the last HTTP answer, and when the
	 * request went out that timed out last in this pass of drive().
	 * Per service, not platform: APNs' sandbox and production hosts
	 * are two connections on one platform's multi handle, and one may
	 * go silent while the other answers.
	 */
	uint64_t answered_ns[PUSHD_SERVICES];
	uint64_t silent_ns[PUSHD_SERVICES];
};

/* ---- store outages ----------------------------------------------------------
 */

/* A failed call: the wait doubles, and the log hears of it now and then. */
static pushd_outage_log outage_fail(pushd_outage *o, uint64_t now_ns)
{
	pushd_outage_log what = PUSHD_OUTAGE_QUIET;

	if (o->delay_ms == 0) {
		o->delay_ms = PUSHD_OUTAGE_BASE_MS;
		o->since_ns = now_ns;
		o->logged_ns = now_ns;
		what = PUSHD_OUTAGE_FIRST;
	} else {
		o->delay_ms = o->delay_ms < PUSHD_OUTAGE_MAX_MS / 2
				      ? o->delay_ms * 2
				      : PUSHD_OUTAGE_MAX_MS;
		if (now_ns >= o->logged_ns + LOG_EVERY_NS) {
			o->logged_ns = now_ns;
			what = PUSHD_OUTAGE_STILL;
		}
	}
	o->next_ns = now_ns + (uint64_t)o->delay_ms * NS_PER_MS;
	return what;
}

pushd_outage_log pushd_outage_step(pushd_outage *o, int failed, uint64_t now_ns,
				   uint64_t *for_s)
{
	pushd_outage_log what;

	if (o == NULL || for_s == NULL)
		return PUSHD_OUTAGE_QUIET;
	*for_s = 0;
	if (failed)
		what = outage_fail(o, now_ns);
	else
		what = o->delay_ms > 0 ? PUSHD_OUTAGE_OVER : PUSHD_OUTAGE_QUIET;
	if (what != PUSHD_OUTAGE_QUIET && now_ns > o->since_ns)
		*for_s = (now_ns - o->since_ns) / NS_PER_S;
	if (!failed)
		memset(o, 0, sizeof(*o));
	return what;
}

/* ---- store helpers ----------------------------------------------------------
 */

/* An object id as authflow makes them: base64url, 1..AF_MFA_ID_BUF-1. */
static int id_ok(const char *id)
{
	size_t n = strnlen(id, AF_MFA_ID_BUF);

	return n < AF_MFA_ID_BUF && af_b64url_text_ok(id, n);
}

static void flight_keys(pushd_flight *f)
{
	(void)snprintf(f->key_done, sizeof(f->key_done), "push_done:%s",
		       f->job.job);
	(void)snprintf(f->key_lease, sizeof(f->key_lease), "push_lease:%s",
		       f->job.job);
	(void)snprintf(f->key_txn, sizeof(f->key_txn), "txn:%s", f->job.txn);
}

/* Appends an operation on key to the worker's batch of *n. */
static store_op *op_add(struct pushd_worker *w, size_t *n, store_op_kind kind,
			const char *key)
{
	store_op *op = &w->ops[(*n)++];

	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->key = key;
	return op;
}

static void op_ack(struct pushd_worker *w, size_t *n, const pushd_flight *f)
{
	store_op *op = op_add(w, n, STORE_OP_ACK, PUSHD_QUEUE);

	op->group = PUSHD_GROUP;
	op->id = f->entry_id;
}

/* Runs the first n operations; each carries its own answer. */
static void run_batch(struct pushd_worker *w, size_t n)
{
	store_status st;

	if (n == 0)
		return;
	st = store_batch(w->ctx->store, w->ops, n);
	if (st != STORE_OK)
		log_warn(w->ctx->log, NULL, "push_store", "batch of %zu: %s", n,
			 store_strerror(st));
}

static void values_free(struct pushd_worker *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_value_free(&w->ops[i].value);
}

static void ack(struct pushd_worker *w, const char *entry_id)
{
	store_status st = store_queue_ack(w->ctx->store, PUSHD_QUEUE,
					  PUSHD_GROUP, entry_id);

	if (st != STORE_OK)
		log_warn(w->ctx->log, NULL, "push_ack", "entry=%s: %s",
			 entry_id, store_strerror(st));
}

static void lease_drop(struct pushd_worker *w, pushd_flight *f)
{
	store_status st;

	if (!f->leased)
		return;
	f->leased = 0;
	/* Ours only: a stall past its life lets another take it. */
	st = store_del_if(w->ctx->store, f->key_lease, w->consumer,
			  strlen(w->consumer));
	if (st == STORE_CONFLICT || st == STORE_NOT_FOUND)
		st = STORE_OK;
	/* Not fatal: the lease runs out by itself. */
	if (st != STORE_OK)
		log_debug(w->ctx->log, NULL, "push_lease", "job=%s: %s",
			  f->job.job, store_strerror(st));
}

/* 1 when v is this worker's consumer name. */
static int is_ours(const struct pushd_worker *w, const store_value *v)
{
	return v->len == strlen(w->consumer) &&
	       memcmp(v->data, w->consumer, v->len) == 0;
}

/*
 * Takes the lease on a job: 1 taken, 0 another live consumer holds it,
 * -1 the store failed (or the lease ran out between its steps twice:
 * the store did not say).
 */
static int lease_take(struct pushd_worker *w, pushd_flight *f)
{
	store_value v = {NULL, 0};
	store_status st = STORE_NOT_FOUND;
	int tries, rc;

	f->lease_ns = af_mono_ns();
	/* A lease that ran out between the two steps is free: once more. */
	for (tries = 0; tries < 2 && st == STORE_NOT_FOUND; tries++) {
		st = store_set(w->ctx->store, f->key_lease, w->consumer,
			       strlen(w->consumer), PUSHD_LEASE_TTL_MS,
			       STORE_SET_NX);
		if (st == STORE_OK) {
			f->leased = 1;
			return 1;
		}
		if (st != STORE_EXISTS)
			return -1;
		st = store_get(w->ctx->store, f->key_lease, &v);
	}
	if (st != STORE_OK)
		return -1;
	/* Our own lease from before is ours to go on with. */
	rc = is_ours(w, &v);
	store_value_free(&v);
	f->leased = rc;
	f->lost = !rc;
	return rc;
}

/*
 * Extends the lease while it is still ours: 1 held, 0 lost. A worker
 * stalled past the lease's life may find it run out (taken again when
 * nobody else has) or another's: that consumer has the job now, and this
 * one must neither send it nor record it.
 */
static int lease_refresh(struct pushd_worker *w, pushd_flight *f)
{
	size_t n = strlen(w->consumer);
	store_status st;

	st = store_cas(w->ctx->store, f->key_lease, w->consumer, n, w->consumer,
		       n, PUSHD_LEASE_TTL_MS);
	f->lease_ns = af_mono_ns();
	if (st == STORE_NOT_FOUND) {
		f->leased = 0;
		return lease_take(w, f) == 1;
	}
	if (st == STORE_CONFLICT) {
		log_warn(w->ctx->log, NULL, "push_lease",
			 "job=%s: taken over by another consumer", f->job.job);
		f->leased = 0;
		f->lost = 1;
		return 0;
	}
	/* Not fatal: the lease may still hold; the next refresh tells. */
	if (st != STORE_OK)
		log_warn(w->ctx->log, NULL, "push_lease", "job=%s: %s",
			 f->job.job, store_strerror(st));
	return 1;
}

/* 1 when the txn is pending and unexpired, else 0. */
static int txn_obj_live(const json_t *txn, int64_t now)
{
	const char *state = json_string_value(json_object_get(txn, "state"));

	return state != NULL && strcmp(state, "pending") == 0 &&
	       now < json_integer_value(json_object_get(txn, "expires"));
}

/* The same from the txn record's text; -1 when it is not an object. */
static int txn_text_live(const store_value *v, int64_t now)
{
	json_t *txn = json_loadb((const char *)v->data, v->len, 0, NULL);
	int rc = json_is_object(txn) ? txn_obj_live(txn, now) : -1;

	json_decref(txn);
	return rc;
}

/*
 * 1 when the job's txn is pending and unexpired, 0 when not, -1 error;
 * from the answer to a GET of the txn.
 */
static int txn_op_live(const pushd_job *job, const store_op *op, int64_t now)
{
	if (now >= job->expires || !id_ok(job->txn) ||
	    op->status == STORE_NOT_FOUND)
		return 0;
	if (op->status != STORE_OK)
		return -1;
	return txn_text_live(&op->value, now);
}

/* The same, read now (before a retry). */
static int txn_live(struct pushd_worker *w, const pushd_job *job)
{
	int64_t now = af_now();
	json_t *txn = NULL;
	af_mfa_status st;
	int rc;

	if (now >= job->expires)
		return 0;
	st = af_mfa_txn_get(w->ctx->store, job->txn, now, &txn);
	if (st == AF_MFA_NOT_FOUND)
		return 0;
	if (st != AF_MFA_OK)
		return -1;
	rc = txn_obj_live(txn, now);
	json_decref(txn);
	return rc;
}

/*
 * Marks the device's push token dead, unless the phone has sent a new one
 * (or the same one for the other APNs environment) since the job was
 * queued: that one has not been refused.
 */
static void token_invalid(struct pushd_worker *w, const pushd_job *job)
{
	af_mfa_status st;

	st = af_mfa_device_token_refused(w->ctx->store, job->device,
					 pushd_platform_name(job->platform),
					 job->push_token, job->sandbox, NULL);
	if (st != AF_MFA_OK && st != AF_MFA_NOT_FOUND)
		log_warn(w->ctx->log, NULL, "push_token_invalid",
			 "device=%s: %s", job->device, af_mfa_strerror(st));
}

/* ---- flights --------------------------------------------------------------
 */

void pushd_flight_release(pushd_flight *f)
{
	curl_slist_free_all(f->headers);
	f->headers = NULL;
	if (f->body != NULL) {
		OPENSSL_cleanse(f->body, strlen(f->body));
		free(f->body);
	}
	f->body = NULL;
	/* The buffer is clean past the credential: each one is wiped. */
	OPENSSL_cleanse(f->auth, strnlen(f->auth, sizeof(f->auth)));
	free(f->resp);
	f->resp = NULL;
	f->resp_len = 0;
	f->resp_over = 0;
	f->retry_after[0] = '\0';
}

void pushd_flight_cleanup(pushd_flight *f)
{
	pushd_flight_release(f);
	if (f->easy != NULL)
		curl_easy_cleanup(f->easy);
	f->easy = NULL;
}

static void flight_free(struct pushd_worker *w, pushd_flight *f)
{
	pushd_flight_release(f);
	store_value_free(&f->txn_old);
	af_mfa_text_free(f->txn_new);
	f->txn_new = NULL;
	memset(&f->job, 0, sizeof(f->job));
	f->state = PUSHD_F_FREE;
	f->leased = 0;
	w->busy--;
}

/*
 * From enqueue (the job's time, else the stream id's, else when we took
 * it) to the push service's answer; -1 for an outcome no answer gave
 * (dropped, too large, given up before a retry).
 */
static int64_t latency_ms(const pushd_flight *f)
{
	int64_t now = f->answered_ms, since = f->taken_ms;
	char *end = NULL;
	long long ms;

	if (now <= 0)
		return -1;
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
	lease_drop(w, f);
	flight_free(w, f);
}

/*
 * The job's outcome is final (or it is not to be sent: dropped,
 * duplicate): it is recorded and acknowledged with the others of this
 * pass, in flush_done().
 */
static void finish(struct pushd_worker *w, pushd_flight *f, pushd_outcome o)
{
	f->state = PUSHD_F_DONE;
	f->outcome = o;
	if (w->done++ == 0)
		w->done_ns = af_mono_ns();
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
	atomic_fetch_add(&w->ctx->metrics.backoffs[f->job.platform], 1);
	f->state = PUSHD_F_WAIT;
	f->due_ns = af_mono_ns() + wait * NS_PER_MS;
}

/* ---- recording outcomes ----------------------------------------------------
 */

/* Outcomes that get a "push_done" marker and a mark on the txn. */
static int recorded(pushd_outcome o)
{
	return o == PUSHD_OUT_SENT || o == PUSHD_OUT_TOKEN_INVALID ||
	       o == PUSHD_OUT_FAILED;
}

/* Marks a done flight whose outcome could not be recorded: left pending. */
#define OUT_UNRECORDED PUSHD_OUTCOMES

/*
 * The store failed while the outcome went onto the txn: the job is left
 * unacknowledged, its marker undone, so that it is delivered again and
 * the outcome recorded then (a resend carries the same apns-id and
 * collapse id). When even the undo fails, the marker makes the
 * redelivery a duplicate: the outcome stays off the txn, as logged.
 */
static void unrecord(struct pushd_worker *w, pushd_flight *f, const char *why)
{
	store_status st = store_del(w->ctx->store, f->key_done);

	log_error(w->ctx->log, NULL, "push",
		  "job=%s txn=%s: cannot record outcome %s: %s%s", f->job.job,
		  f->job.txn, pushd_outcome_name(f->outcome), why,
		  st == STORE_OK ? "; left for redelivery"
				 : "; its marker stays, it is not resent");
	if (st == STORE_OK)
		f->outcome = OUT_UNRECORDED;
}

/* Phase 1's answers for one flight: the marker, and the txn's text. */
static void mark_answers(struct pushd_worker *w, pushd_flight *f,
			 store_op *mark, store_op *txn)
{
	const char *name = pushd_outcome_name(f->outcome);
	af_mfa_status mst;

	if (mark->status == STORE_EXISTS) {
		f->outcome = PUSHD_OUT_DUPLICATE;
		return;
	}
	if (mark->status != STORE_OK) {
		/* Unrecorded, so unacknowledged: a later claim finishes it. */
		log_error(w->ctx->log, NULL, "push",
			  "job=%s: cannot record outcome %s: %s", f->job.job,
			  name, store_strerror(mark->status));
		f->outcome = OUT_UNRECORDED;
		return;
	}
	if (txn->status != STORE_OK) {
		/* A txn gone (expired) needs no outcome any more. */
		if (txn->status != STORE_NOT_FOUND)
			unrecord(w, f, store_strerror(txn->status));
		return;
	}
	mst = af_mfa_txn_push_mark((const char *)txn->value.data,
				   txn->value.len, f->job.device, name,
				   &f->txn_new);
	if (mst != AF_MFA_OK) {
		log_warn(w->ctx->log, NULL, "push", "job=%s txn=%s: %s",
			 f->job.job, f->job.txn, af_mfa_strerror(mst));
		return;
	}
	/* The text as read is what the compare-and-set expects. */
	f->txn_old = txn->value;
	txn->value.data = NULL;
	txn->value.len = 0;
}

/* Phase 2's answer: a txn changed since it was read is marked anew. */
static void cas_answer(struct pushd_worker *w, pushd_flight *f,
		       const store_op *cas)
{
	af_mfa_status mst = AF_MFA_OK;

	if (cas->status == STORE_CONFLICT)
		mst = af_mfa_txn_push_status(w->ctx->store, f->job.txn,
					     f->job.device,
					     pushd_outcome_name(f->outcome));
	else if (cas->status != STORE_OK && cas->status != STORE_NOT_FOUND)
		mst = AF_MFA_STORE;
	if (mst == AF_MFA_STORE)
		unrecord(w, f, af_mfa_strerror(mst));
	else if (mst != AF_MFA_OK && mst != AF_MFA_NOT_FOUND)
		log_warn(w->ctx->log, NULL, "push", "job=%s txn=%s: %s",
			 f->job.job, f->job.txn, af_mfa_strerror(mst));
}

/*
 * Counts, logs and frees a flight whose entry has been acknowledged. Its
 * attempts are the requests sent: the first, the retries, and the one
 * sent again with a renewed credential; not the waits for a credential or
 * a paused service, which send nothing.
 */
static void complete(struct pushd_worker *w, pushd_flight *f)
{
	pushd_outcome o = f->outcome;
	char shown[LOG_VALUE_BUF];

	if (o == OUT_UNRECORDED) {
		flight_free(w, f);
		return;
	}
	if (!recorded(o)) {
		pushd_metrics_outcome(&w->ctx->metrics, f->job.platform, o, -1);
		log_info(w->ctx->log, NULL, "push",
			 "job=%s txn=%s platform=%s outcome=%s", f->job.job,
			 f->job.txn, pushd_platform_name(f->job.platform),
			 pushd_outcome_name(o));
		flight_free(w, f);
		return;
	}
	pushd_metrics_outcome(&w->ctx->metrics, f->job.platform, o,
			      latency_ms(f));
	if (o != PUSHD_OUT_FAILED) {
		log_info(w->ctx->log, NULL, "push",
			 "job=%s txn=%s device=%s platform=%s outcome=%s "
			 "attempts=%u",
			 f->job.job, f->job.txn, f->job.device,
			 pushd_platform_name(f->job.platform),
			 pushd_outcome_name(o), f->sent);
		flight_free(w, f);
		return;
	}
	/*
	 * A push that failed for good left its user to type a token code:
	 * the line says why, with the service's last answer, for whoever
	 * is asked why no push came.
	 */
	pushd_metrics_failure(&w->ctx->metrics, f->job.platform, f->cause);
	log_warn(w->ctx->log, NULL, "push",
		 "job=%s txn=%s device=%s platform=%s outcome=%s attempts=%u "
		 "cause=%s status=%ld reason=%s",
		 f->job.job, f->job.txn, f->job.device,
		 pushd_platform_name(f->job.platform), pushd_outcome_name(o),
		 f->sent, pushd_cause_name(f->cause), f->last_status,
		 log_value(f->last_reason[0] != '\0' ? f->last_reason : "-",
			   shown, sizeof(shown)));
	flight_free(w, f);
}

/*
 * Records and acknowledges every flight whose outcome became final:
 *   1. "push_done:<job>" SET NX, and the txn read;
 *   2. the outcome compare-and-set on each txn (and a dead token marked
 *      on its device), each txn changed meanwhile marked anew;
 *   3. the acknowledgements, and the leases let go.
 * A job whose marker existed is a duplicate: acknowledged, nothing more
 * recorded. A job whose marker could not be set stays unacknowledged.
 */
static void flush_done(struct pushd_worker *w)
{
	size_t i, n = 0, k = 0, j;

	if (w->done == 0)
		return;
	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++) {
		if (w->flights[i].state == PUSHD_F_DONE)
			w->list[n++] = i;
	}
	w->done = 0;
	for (i = 0; i < n; i++) {
		pushd_flight *f = &w->flights[w->list[i]];
		store_op *op;

		if (!recorded(f->outcome))
			continue;
		op = op_add(w, &k, STORE_OP_SET, f->key_done);
		op->val = pushd_outcome_name(f->outcome);
		op->len = strlen(op->val);
		op->ttl_ms = PUSHD_DONE_TTL_MS;
		op->flags = STORE_SET_NX;
		(void)op_add(w, &k, STORE_OP_GET, f->key_txn);
	}
	run_batch(w, k);
	for (i = 0, j = 0; i < n; i++) {
		pushd_flight *f = &w->flights[w->list[i]];

		if (!recorded(f->outcome))
			continue;
		/* Not an id authflow makes: no txn of ours. */
		if (!id_ok(f->job.txn))
			w->ops[j + 1].status = STORE_NOT_FOUND;
		mark_answers(w, f, &w->ops[j], &w->ops[j + 1]);
		j += 2;
	}
	values_free(w, k);
	k = 0;
	for (i = 0; i < n; i++) {
		pushd_flight *f = &w->flights[w->list[i]];
		store_op *op;

		if (f->txn_new == NULL || !recorded(f->outcome))
			continue;
		op = op_add(w, &k, STORE_OP_CAS, f->key_txn);
		op->expected = f->txn_old.data;
		op->elen = f->txn_old.len;
		op->val = f->txn_new;
		op->len = strlen(f->txn_new);
	}
	run_batch(w, k);
	for (i = 0, j = 0; i < n; i++) {
		pushd_flight *f = &w->flights[w->list[i]];

		if (f->txn_new != NULL && recorded(f->outcome))
			cas_answer(w, f, &w->ops[j++]);
		if (f->outcome == PUSHD_OUT_TOKEN_INVALID)
			token_invalid(w, &f->job);
	}
	k = 0;
	for (i = 0; i < n; i++) {
		pushd_flight *f = &w->flights[w->list[i]];

		if (f->outcome != OUT_UNRECORDED)
			op_ack(w, &k, f);
		if (f->leased) {
			store_op *op =
				op_add(w, &k, STORE_OP_DEL_IF, f->key_lease);

			op->expected = w->consumer;
			op->elen = strlen(w->consumer);
		}
	}
	run_batch(w, k);
	for (i = 0, j = 0; i < n; i++) {
		pushd_flight *f = &w->flights[w->list[i]];

		if (f->outcome != OUT_UNRECORDED &&
		    w->ops[j++].status != STORE_OK)
			log_warn(w->ctx->log, NULL, "push_ack", "entry=%s: %s",
				 f->entry_id,
				 store_strerror(w->ops[j - 1].status));
		/* Not fatal: the lease runs out by itself. */
		if (f->leased)
			j++;
		f->leased = 0;
		complete(w, f);
	}
}

/* ---- transfers -------------------------------------------------------------
 */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	pushd_flight *f = arg;
	size_t len = size * n, keep;

	/*
	 * The first PUSHD_RESPONSE_MAX bytes are kept. An answer longer than
	 * that is cut short there: the transfer ends (CURLE_WRITE_ERROR, the
	 * stream reset, the connection kept) with resp_over set, and on_done()
	 * judges it by its status as a complete one, so that a delivered push
	 * is not made a failed one nor a 503 a final failure. No push service
	 * answers at such length; reading on would let one hold the push,
	 * and the bandwidth, for the whole transfer time.
	 */
	keep = PUSHD_RESPONSE_MAX - f->resp_len;
	if (keep > len)
		keep = len;
	if (f->resp == NULL)
		f->resp = malloc(PUSHD_RESPONSE_MAX + 1);
	if (f->resp == NULL)
		return 0;
	memcpy(f->resp + f->resp_len, data, keep);
	f->resp_len += keep;
	f->resp[f->resp_len] = '\0';
	if (keep < len) {
		f->resp_over = 1;
		return 0;
	}
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

/* Sets up f's easy handle for its job's service, once per service. */
static pushd_status easy_ready(struct pushd_worker *w, pushd_flight *f)
{
	pushd_platform p = f->job.platform;
	pushd_status rc;

	if (f->easy != NULL && f->easy_platform == p)
		return PUSHD_OK;
	if (f->easy == NULL)
		f->easy = curl_easy_init();
	else
		curl_easy_reset(f->easy);
	if (f->easy == NULL)
		return PUSHD_ERR_NOMEM;
	/* Until every option is in place, the next job sets them again. */
	f->easy_platform = PUSHD_PLATFORMS;
	rc = pushd_curl_common(w->ctx, f->easy, p);
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
	f->easy_platform = p;
	return PUSHD_OK;
}

static pushd_status make_request(struct pushd_worker *w, pushd_flight *f)
{
	pushd_status rc = easy_ready(w, f);

	if (rc != PUSHD_OK)
		return rc;
	if (f->job.platform == PUSHD_APNS)
		return pushd_apns_prepare(w->ctx, f);
	return pushd_fcm_prepare(w->ctx, f);
}

/* 1 when the job's "push_done" marker exists (its outcome recorded). */
static int done_elsewhere(struct pushd_worker *w, const pushd_flight *f)
{
	store_value v = {NULL, 0};
	store_status st = store_get(w->ctx->store, f->key_done, &v);

	store_value_free(&v);
	return st == STORE_OK;
}

static void start_send(struct pushd_worker *w, pushd_flight *f)
{
	pushd_status rc;
	int live;

	/*
	 * A retry, or a push held back by a paused service, goes out only
	 * while someone still waits for it, and only when no other consumer
	 * has recorded the job's outcome meanwhile (one that took it over
	 * while this one was stalled). A push sent at once was checked when
	 * it was taken.
	 */
	if (f->attempt > 0 || f->renewed || f->held) {
		if (done_elsewhere(w, f)) {
			flight_free(w, f);
			return;
		}
		live = txn_live(w, &f->job);
		if (live == 0) {
			finish(w, f, PUSHD_OUT_DROPPED);
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
		f->cause = PUSHD_CAUSE_REJECTED;
		finish(w, f, PUSHD_OUT_FAILED);
		return;
	}
	if (rc == PUSHD_OK && curl_multi_add_handle(w->multi[f->job.platform],
						    f->easy) != CURLM_OK)
		rc = PUSHD_ERR_HTTP;
	/*
	 * No FCM access token yet (at start-up, or after FCM refused one):
	 * the controlling thread's pushd_fcm_renew() gets one and logs how
	 * that goes, so each waiting job says so only at debug level.
	 */
	if (rc == PUSHD_ERR_CREDENTIAL) {
		log_debug(w->ctx->log, NULL, "push", "job=%s: %s", f->job.job,
			  pushd_strerror(rc));
		retry(w, f);
		return;
	}
	if (rc != PUSHD_OK) {
		log_warn(w->ctx->log, NULL, "push", "job=%s: %s", f->job.job,
			 pushd_strerror(rc));
		retry(w, f);
		return;
	}
	/* A request sent again, after one that failed: a retry. */
	if (f->sent++ > 0)
		atomic_fetch_add(&w->ctx->metrics.retries[f->job.platform], 1);
	f->state = PUSHD_F_SENDING;
	f->sent_ns = af_mono_ns();
	w->sending++;
	atomic_fetch_add(&w->ctx->metrics.streams[f->job.platform], 1);
}

/* Renews the credential that the service refused, once per job. */
static void renew(struct pushd_worker *w, pushd_flight *f)
{
	char fresh[PUSHD_ACCESS_TOKEN_MAX];
	pushd_status rc;

	f->cause = PUSHD_CAUSE_CREDENTIAL;
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
	/* The credential is refused too soon after its last renewal. */
	if (rc == PUSHD_ERR_STATE) {
		finish(w, f, PUSHD_OUT_FAILED);
		return;
	}
	if (rc != PUSHD_OK) {
		retry(w, f);
		return;
	}
	pushd_flight_release(f);
	f->state = PUSHD_F_WAIT;
	f->due_ns = af_mono_ns();
}

/* Takes a finished transfer off its connection. */
static void unhook(struct pushd_worker *w, pushd_flight *f)
{
	(void)curl_multi_remove_handle(w->multi[f->job.platform], f->easy);
	atomic_fetch_sub(&w->ctx->metrics.streams[f->job.platform], 1);
	w->sending--;
}

/*
 * The service refused as a whole (see pause.c): every worker holds its
 * pushes to it for a while, and the log hears of it now and then.
 */
static void pause_service(struct pushd_worker *w, pushd_flight *f, long status,
			  CURLcode cc)
{
	pushd_service s = pushd_service_of(&f->job);
	uint64_t ra = 0, now = af_mono_ns(), until;
	uint32_t rnd = 0;
	char what[96];
	int tell = 0;

	if (f->retry_after[0] == '\0' ||
	    pushd_retry_after_ms(f->retry_after, af_now(), &ra) != 0)
		ra = 0;
	if (af_random_bytes(&rnd, sizeof(rnd)) != 0)
		rnd = 0;
	until = pushd_pause_note(&w->ctx->pause[s], now, ra, rnd, &tell);
	if (!tell)
		return;
	if (cc == CURLE_OK)
		(void)snprintf(what, sizeof(what), "answered HTTP %ld", status);
	else
		(void)snprintf(what, sizeof(what), "cannot be reached (%s)",
			       curl_easy_strerror(cc));
	log_warn(w->ctx->log, NULL, "push",
		 "%s %s: no pushes go to it for %" PRIu64 " ms",
		 pushd_service_name(s), what,
		 (uint64_t)(until > now ? (until - now) / NS_PER_MS : 0));
}

/*
 * A push due while its service is paused waits for the pause to end, or
 * fails when its txn expires first. 1 when it was held.
 */
static int held(struct pushd_worker *w, pushd_flight *f, uint64_t until,
		uint64_t now)
{
	if (until <= now)
		return 0;
	if (af_now_ms() + (int64_t)((until - now) / NS_PER_MS) >=
	    f->job.expires * 1000) {
		log_info(w->ctx->log, NULL, "push",
			 "job=%s: the txn expires before %s takes pushes "
			 "again",
			 f->job.job,
			 pushd_service_name(pushd_service_of(&f->job)));
		f->cause = PUSHD_CAUSE_PAUSED;
		finish(w, f, PUSHD_OUT_FAILED);
		return 1;
	}
	f->due_ns = until;
	f->held = 1;
	return 1;
}

/*
 * Keeps what a push service answered (its reason the verdict kept), or
 * why it did not, for the line and the metric of a push that fails for
 * good.
 */
static void last_answer(pushd_flight *f, CURLcode cc, long status)
{
	f->cause = pushd_cause_of(cc, status);
	f->last_status = cc == CURLE_OK ? status : 0;
	if (cc != CURLE_OK)
		snprintf(f->last_reason, sizeof(f->last_reason), "%s",
			 curl_easy_strerror(cc));
}

static void on_done(struct pushd_worker *w, pushd_flight *f, CURLcode cc)
{
	pushd_service sv = pushd_service_of(&f->job);
	long status = 0;
	pushd_verdict v;

	unhook(w, f);
	/* An answer cut at the cap (on_body()) is judged as a whole one. */
	if (cc == CURLE_WRITE_ERROR && f->resp_over)
		cc = CURLE_OK;
	if (cc == CURLE_OK) {
		f->answered_ms = af_now_ms();
		w->answered_ns[sv] = af_mono_ns();
	}
	/* Nothing answered on the service since this went out: see drive(). */
	if (cc == CURLE_OPERATION_TIMEDOUT && w->answered_ns[sv] < f->sent_ns &&
	    f->sent_ns > w->silent_ns[sv])
		w->silent_ns[sv] = f->sent_ns;
	(void)curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		v = pushd_classify_curl(cc);
		log_info(w->ctx->log, NULL, "push",
			 "job=%s platform=%s txn=%s: transfer: %s", f->job.job,
			 pushd_platform_name(f->job.platform), f->job.txn,
			 curl_easy_strerror(cc));
	} else if (f->job.platform == PUSHD_APNS) {
		v = pushd_apns_verdict(w->ctx, f, status);
	} else {
		v = pushd_fcm_verdict(w->ctx, f, status);
	}
	if (v != PUSHD_V_SENT)
		last_answer(f, cc, status);
	if (v == PUSHD_V_RETRY &&
	    pushd_service_refused(f->job.platform, status, cc))
		pause_service(w, f, status, cc);
	else if (cc == CURLE_OK)
		pushd_pause_clear(&w->ctx->pause[sv]);
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

static CURLM *new_multi(unsigned connections);

/* The connections per endpoint and worker the configuration asks for. */
static unsigned connections(const pushd_ctx *ctx, pushd_platform p)
{
	return p == PUSHD_APNS ? ctx->cfg.apns.connections
			       : ctx->cfg.fcm.connections;
}

/*
 * Replaces the multi handle of service p, which closes its connections,
 * and retries the requests that were still on them. libcurl 7.88 keeps a
 * multiplexed connection after one of its streams times out, and puts
 * every later request on it: a connection whose peer (or a middlebox on
 * the way) went silent while TCP still stands would make every push to
 * the service time out in turn, for as long as the worker runs.
 */
static void reconnect(struct pushd_worker *w, pushd_platform p)
{
	CURLM *fresh = new_multi(connections(w->ctx, p));
	size_t i, moved = 0;

	if (fresh == NULL) {
		log_warn(w->ctx->log, NULL, "push",
			 "platform=%s: cannot renew the silent connection: %s",
			 pushd_platform_name(p),
			 pushd_strerror(PUSHD_ERR_NOMEM));
		return;
	}
	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++) {
		pushd_flight *f = &w->flights[i];

		if (f->state != PUSHD_F_SENDING || f->job.platform != p)
			continue;
		unhook(w, f);
		retry(w, f);
		moved++;
	}
	curl_multi_cleanup(w->multi[p]);
	w->multi[p] = fresh;
	log_warn(w->ctx->log, NULL, "push",
		 "platform=%s: no answer within %ld ms on the connection: "
		 "connecting again, %zu requests on it retried",
		 pushd_platform_name(p), w->ctx->transfer_timeout_ms, moved);
}

/*
 * 1 when a service of platform p went silent in this pass of drive(): a
 * request to it timed out, and it answered nothing since that went out.
 * Its marks are cleared for the next pass.
 */
static int went_silent(struct pushd_worker *w, pushd_platform p)
{
	int silent = 0;
	size_t sv;

	for (sv = 0; sv < PUSHD_SERVICES; sv++) {
		if (pushd_service_platform((pushd_service)sv) != p)
			continue;
		if (w->silent_ns[sv] != 0 &&
		    w->answered_ns[sv] < w->silent_ns[sv])
			silent = 1;
		w->silent_ns[sv] = 0;
	}
	return silent;
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
		/*
		 * A request timed out and nothing was answered since it went
		 * out, answers read in this pass included: the connection is
		 * taken for dead. A service that is only slow on some streams
		 * keeps answering others, and keeps its connection.
		 */
		if (went_silent(w, (pushd_platform)p))
			reconnect(w, (pushd_platform)p);
	}
}

/* ---- taking jobs -----------------------------------------------------------
 */

static pushd_flight *free_flight(struct pushd_worker *w)
{
	size_t i, at;

	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++) {
		at = (w->free_hint + i) % PUSHD_INFLIGHT_MAX;
		if (w->flights[at].state == PUSHD_F_FREE) {
			w->free_hint = (at + 1) % PUSHD_INFLIGHT_MAX;
			return &w->flights[at];
		}
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

struct take_arg {
	struct pushd_worker *w;
	int claimed;
};

/* Called by the store for each entry read or claimed: parse and hold. */
static int take(const char *id, const char *entry, void *arg)
{
	const struct take_arg *a = arg;
	struct pushd_worker *w = a->w;
	pushd_flight *f = free_flight(w);

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
	f->job.unnamed = !w->ctx->cfg.push_names;
	/* Claimed back from ourselves while we still work on it. */
	if (a->claimed && holding(w, f->job.job)) {
		memset(&f->job, 0, sizeof(f->job));
		return 0;
	}
	w->busy++;
	f->state = PUSHD_F_TAKEN;
	f->claimed = a->claimed;
	f->leased = 0;
	f->lost = 0;
	f->attempt = 0;
	f->sent = 0;
	f->renewed = 0;
	f->held = 0;
	f->cause = PUSHD_CAUSE_UNKNOWN;
	f->last_status = 0;
	f->last_reason[0] = '\0';
	f->taken_ms = af_now_ms();
	f->answered_ms = 0;
	f->lease_ns = af_mono_ns();
	f->due_ns = f->lease_ns;
	flight_keys(f);
	return 0;
}

/*
 * What the store said about one taken job: the lease (claimed jobs
 * only: its SET NX and a GET of the holder), the marker, the txn.
 */
static void taken_answers(struct pushd_worker *w, pushd_flight *f,
			  const store_op *lease, const store_op *done,
			  const store_op *txn, int64_t now)
{
	int live;

	if (lease != NULL) {
		if (lease[0].status == STORE_OK ||
		    (lease[0].status == STORE_EXISTS &&
		     lease[1].status == STORE_OK &&
		     is_ours(w, &lease[1].value))) {
			f->leased = 1;
		} else if ((lease[0].status == STORE_EXISTS &&
			    lease[1].status == STORE_OK) ||
			   lease_take(w, f) != 1) {
			/*
			 * Another live consumer holds it; or the batch did
			 * not say (a lease run out between its steps, a
			 * store fault) and asking again did not give it.
			 */
			flight_free(w, f);
			return;
		}
	}
	if (done->status == STORE_OK) {
		finish(w, f, PUSHD_OUT_DUPLICATE);
		return;
	}
	live = txn_op_live(&f->job, txn, now);
	if (live == 0) {
		finish(w, f, PUSHD_OUT_DROPPED);
	} else if (live < 0) {
		abandon(w, f);
	} else if (!configured(w->ctx, f->job.platform)) {
		log_warn(w->ctx->log, NULL, "push",
			 "job=%s: platform %s is not configured (no push.%s "
			 "section): every node on one store needs the same "
			 "push sections",
			 f->job.job, pushd_platform_name(f->job.platform),
			 pushd_platform_name(f->job.platform));
		f->cause = PUSHD_CAUSE_CONFIG;
		finish(w, f, PUSHD_OUT_FAILED);
	} else {
		f->state = PUSHD_F_WAIT;
	}
}

/*
 * Removes from the group the consumers of nodes gone for good: idle
 * PUSHD_GONE_MS and holding no job (their jobs were claimed long ago).
 */
static void prune_gone(struct pushd_worker *w, uint64_t now)
{
	size_t removed = 0;
	store_status st;

	w->next_prune_ns = now + PRUNE_EVERY_NS;
	st = store_queue_prune(w->ctx->store, PUSHD_QUEUE, PUSHD_GROUP,
			       PUSHD_GONE_MS, &removed);
	if (st != STORE_OK)
		log_warn(w->ctx->log, NULL, "push_prune", "%s",
			 store_strerror(st));
	else if (removed > 0)
		log_info(w->ctx->log, NULL, "push_prune",
			 "removed %zu consumers of gone nodes", removed);
}

/* Checks every job just taken, in one batch. */
static void check_taken(struct pushd_worker *w)
{
	int64_t now = af_now();
	size_t i, n = 0, k = 0, j;

	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++) {
		pushd_flight *f = &w->flights[i];
		store_op *op;

		if (f->state != PUSHD_F_TAKEN)
			continue;
		w->list[n++] = i;
		if (f->claimed) {
			op = op_add(w, &k, STORE_OP_SET, f->key_lease);
			op->val = w->consumer;
			op->len = strlen(w->consumer);
			op->ttl_ms = PUSHD_LEASE_TTL_MS;
			op->flags = STORE_SET_NX;
			(void)op_add(w, &k, STORE_OP_GET, f->key_lease);
		}
		(void)op_add(w, &k, STORE_OP_GET, f->key_done);
		(void)op_add(w, &k, STORE_OP_GET, f->key_txn);
	}
	run_batch(w, k);
	for (i = 0, j = 0; i < n; i++) {
		pushd_flight *f = &w->flights[w->list[i]];
		const store_op *lease = NULL;

		if (f->claimed) {
			lease = &w->ops[j];
			j += 2;
		}
		taken_answers(w, f, lease, &w->ops[j], &w->ops[j + 1], now);
		j += 2;
	}
	values_free(w, k);
}

static size_t room(const struct pushd_worker *w)
{
	size_t r = PUSHD_INFLIGHT_MAX - w->busy;

	return r > READ_BATCH ? READ_BATCH : r;
}

/* Sleeps ms milliseconds (not at all for 0). */
static void sleep_ms(uint64_t ms)
{
	struct timespec pause = {(time_t)(ms / 1000),
				 (long)(ms % 1000) * 1000000L};

	if (ms > 0)
		(void)nanosleep(&pause, NULL);
}

/*
 * While reads back off: sleeps for what is left of the back-off, at most
 * block (0 while streams are in flight: the wait in curl is the pause)
 * and at most NAP_MAX_MS, so the loop still sees a stop promptly.
 */
static void back_off_nap(const struct pushd_worker *w, unsigned block,
			 uint64_t now)
{
	uint64_t left = (w->read_out.next_ns - now + NS_PER_MS - 1) / NS_PER_MS;

	if (left > block)
		left = block;
	if (left > NAP_MAX_MS)
		left = NAP_MAX_MS;
	sleep_ms(left);
}

/*
 * Feeds the answer to a read or a claim into its outage, and logs a run
 * of failures: its start with the reason, a line a minute while it
 * lasts, and its end.
 */
static void store_answered(struct pushd_worker *w, pushd_outage *o,
			   const char *event, store_status st)
{
	char why[PUSHD_WHY_MAX] = "";
	uint64_t for_s = 0;
	pushd_outage_log what;

	what = pushd_outage_step(o, st != STORE_OK, af_mono_ns(), &for_s);
	/*
	 * The line names the cause (the server refused the connection, a
	 * timeout, Redis full...), as the store's check words it, not only
	 * the kind of failure; once a minute at most.
	 */
	if ((what == PUSHD_OUTAGE_FIRST || what == PUSHD_OUTAGE_STILL) &&
	    (store_ping_why(w->ctx->store, why, sizeof(why)) == STORE_OK ||
	     why[0] == '\0'))
		snprintf(why, sizeof(why), "%s", store_strerror(st));
	/* Each worker keeps its own count: the line says whose it is. */
	if (what == PUSHD_OUTAGE_FIRST)
		log_warn(w->ctx->log, NULL, event,
			 "worker %u: %s; retrying with back-off up to %u s",
			 w->index, why, PUSHD_OUTAGE_MAX_MS / 1000u);
	else if (what == PUSHD_OUTAGE_STILL)
		log_warn(w->ctx->log, NULL, event,
			 "worker %u: still failing for %" PRIu64 " s: %s",
			 w->index, for_s, why);
	else if (what == PUSHD_OUTAGE_OVER)
		log_info(w->ctx->log, NULL, event,
			 "worker %u: store answers again after %" PRIu64 " s",
			 w->index, for_s);
}

/*
 * Reads new jobs. A queue or group that is gone (a Redis restarted
 * without its data) is made again here: jobs queued from now on would
 * otherwise wait for a group that nobody makes again.
 */
static store_status read_new(struct pushd_worker *w, unsigned block)
{
	struct take_arg a = {w, 0};
	size_t count = 0;
	store_status st;

	st = store_queue_read(w->ctx->store, PUSHD_QUEUE, PUSHD_GROUP,
			      w->consumer, room(w), block, take, &a, &count);
	if (st != STORE_NOT_FOUND)
		return st;
	st = store_queue_group_create(w->ctx->store, PUSHD_QUEUE, PUSHD_GROUP);
	if (st == STORE_OK)
		log_warn(w->ctx->log, NULL, "push_read",
			 "the queue's consumer group was gone (the store lost "
			 "its data?): made again");
	return st;
}

/* Takes over the jobs of consumers that stopped working on them. */
static store_status claim_idle(struct pushd_worker *w, uint64_t now)
{
	struct take_arg a = {w, 1};
	size_t count = 0;
	store_status st;

	w->next_claim_ns = now + CLAIM_EVERY_NS;
	st = store_queue_claim(w->ctx->store, PUSHD_QUEUE, PUSHD_GROUP,
			       w->consumer, PUSHD_CLAIM_IDLE_MS, room(w), take,
			       &a, &count);
	/* A missing queue or group is the read's to make again. */
	return st == STORE_NOT_FOUND ? STORE_OK : st;
}

static void take_new(struct pushd_worker *w, unsigned block)
{
	uint64_t now = af_mono_ns();
	store_status st;

	if (room(w) == 0) {
		/* Every flight waits for a retry: sleep instead of reading. */
		sleep_ms(block);
		return;
	}
	/* Do not spin (or fill the log) on a store that fails at once. */
	if (now < w->read_out.next_ns) {
		back_off_nap(w, block, now);
		return;
	}
	st = read_new(w, block);
	store_answered(w, &w->read_out, "push_read", st);
	/* Claims, and prunes, only while the store answers reads. */
	if (st == STORE_OK && now >= w->next_claim_ns &&
	    now >= w->claim_out.next_ns && room(w) > 0)
		store_answered(w, &w->claim_out, "push_claim",
			       claim_idle(w, now));
	check_taken(w);
	if (st == STORE_OK && w->index == 0 && now >= w->next_prune_ns)
		prune_gone(w, now);
}

/* ---- the loop
 * ---------------------------------------------------------------- */

/* Keeps the leases a job needs; 0 when another consumer took it over. */
static int tend_lease(struct pushd_worker *w, pushd_flight *f, uint64_t now)
{
	uint64_t held = now - f->lease_ns;

	/*
	 * Taken over while its request was out: an answer that asks for a
	 * retry leaves the job to its new holder, however soon it comes.
	 */
	if (f->lost)
		return 0;
	if (f->leased) {
		if (held >= PUSHD_LEASE_EVERY * NS_PER_MS)
			return lease_refresh(w, f);
		return 1;
	}
	/* lease_ns is when the job was taken, or the last failed attempt. */
	if (held < LEASE_AFTER_MS * NS_PER_MS)
		return 1;
	return lease_take(w, f) != 0;
}

/* Starts due jobs, keeps leases; returns ms until the next due job. */
static uint64_t tend(struct pushd_worker *w, int stopping)
{
	uint64_t now = af_mono_ns(), next = POLL_MAX_MS;
	uint64_t until[PUSHD_SERVICES];
	size_t i;

	for (i = 0; i < PUSHD_SERVICES; i++)
		until[i] = pushd_pause_until(&w->ctx->pause[i], now);

	for (i = 0; i < PUSHD_INFLIGHT_MAX; i++) {
		pushd_flight *f = &w->flights[i];

		if (f->state != PUSHD_F_WAIT && f->state != PUSHD_F_SENDING)
			continue;
		if (f->state == PUSHD_F_WAIT && stopping) {
			abandon(w, f);
			continue;
		}
		if (!tend_lease(w, f, now) && f->state == PUSHD_F_WAIT) {
			/* Not ours to send or to acknowledge any more. */
			flight_free(w, f);
			continue;
		}
		if (f->state != PUSHD_F_WAIT)
			continue;
		if (f->due_ns <= now &&
		    held(w, f, until[pushd_service_of(&f->job)], now) &&
		    f->state != PUSHD_F_WAIT)
			continue;
		if (f->due_ns <= now)
			start_send(w, f);
		else if ((f->due_ns - now) / NS_PER_MS < next)
			next = (f->due_ns - now) / NS_PER_MS;
	}
	w->next_ms = next;
	return next;
}

/*
 * The sockets of multi m as poll descriptors, at most cap of them.
 * curl_multi_fdset() reports only descriptors below FD_SETSIZE; one
 * above it is not watched, and its service waits for the bounded
 * timeout instead.
 */
static unsigned multi_fds(CURLM *m, struct curl_waitfd *out, unsigned cap)
{
	fd_set r, wr, ex;
	int max = -1, fd;
	unsigned n = 0;

	FD_ZERO(&r);
	FD_ZERO(&wr);
	FD_ZERO(&ex);
	if (curl_multi_fdset(m, &r, &wr, &ex, &max) != CURLM_OK)
		return 0;
	for (fd = 0; fd <= max && n < cap; fd++) {
		short ev = 0;

		if (FD_ISSET(fd, &r))
			ev |= CURL_WAIT_POLLIN;
		if (FD_ISSET(fd, &wr))
			ev |= CURL_WAIT_POLLOUT;
		if (FD_ISSET(fd, &ex))
			ev |= CURL_WAIT_POLLPRI;
		if (ev == 0)
			continue;
		out[n].fd = fd;
		out[n].events = ev;
		out[n].revents = 0;
		n++;
	}
	return n;
}

/*
 * Waits for socket activity on the multi handles, or for timeout_ms: one
 * wait for both services, the second one's sockets passed to the first
 * one's poll, so that an answer from either ends the wait at once.
 */
static void wait_io(struct pushd_worker *w, uint64_t timeout_ms)
{
	struct curl_waitfd extra[WAIT_FDS_MAX];
	CURLM *apns = w->multi[PUSHD_APNS], *fcm = w->multi[PUSHD_FCM];
	unsigned n = 0;
	long t = -1;

	if (apns != NULL && fcm != NULL) {
		n = multi_fds(fcm, extra, WAIT_FDS_MAX);
		/* The poll runs the first one's timers, not the second's. */
		if (curl_multi_timeout(fcm, &t) == CURLM_OK && t >= 0 &&
		    (uint64_t)t < timeout_ms)
			timeout_ms = (uint64_t)t;
	}
	if (apns == NULL)
		apns = fcm;
	if (apns != NULL) {
		(void)curl_multi_poll(apns, n > 0 ? extra : NULL, n,
				      (int)timeout_ms, NULL);
	} else {
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

		if (f->state == PUSHD_F_SENDING)
			unhook(w, f);
		if (f->state != PUSHD_F_FREE)
			abandon(w, f);
	}
	w->done = 0;
}

/*
 * How long the queue read may block: not at all while streams are in
 * flight (their answers need tending), until the next retry is due while
 * jobs wait for one, and READ_BLOCK_MS when the worker has nothing.
 */
static unsigned read_block(const struct pushd_worker *w)
{
	if (w->sending > 0)
		return 0;
	if (w->busy == 0)
		return READ_BLOCK_MS;
	return w->next_ms < READ_BLOCK_MS ? (unsigned)w->next_ms
					  : READ_BLOCK_MS;
}

/* Records the finished jobs when enough are done, or have waited enough. */
static void flush_due(struct pushd_worker *w, int stopping)
{
	if (w->done == 0)
		return;
	if (stopping || w->sending == 0 || w->done >= FLUSH_MIN ||
	    af_mono_ns() - w->done_ns >= FLUSH_AGE_MS * NS_PER_MS)
		flush_done(w);
}

/* How long to wait in curl for the streams in flight. */
static uint64_t io_wait_ms(const struct pushd_worker *w, uint64_t next,
			   int stopping)
{
	uint64_t wait = next < POLL_MAX_MS ? next : POLL_MAX_MS;

	if ((!stopping && room(w) >= READ_MIN) || w->done > 0)
		wait = wait < QUEUE_POLL_MS ? wait : QUEUE_POLL_MS;
	return wait;
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
		if (stopping && w->sending == 0)
			break;
		if (stopping && af_mono_ns() >= ctx->grace_deadline_ns)
			break;
		if (!stopping && (w->sending == 0 || room(w) >= READ_MIN))
			take_new(w, read_block(w));
		next = tend(w, stopping);
		drive(w);
		flush_due(w, stopping);
		if (w->sending == 0)
			continue;
		wait_io(w, io_wait_ms(w, next, stopping));
		drive(w);
		flush_due(w, stopping);
	}
	flush_done(w);
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
	/*
	 * Many streams on one connection per service, as Apple asks: as many
	 * as the worker keeps in flight, unless the server allows fewer.
	 * libcurl's own cap is 100; transfers past it wait in its pending
	 * list, and each one that finishes makes it retry every waiting
	 * one's connection set-up, which cost pushd more than the sending.
	 */
	if (curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) !=
		    CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS,
			      (long)connections) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS,
			      (long)PUSHD_INFLIGHT_MAX) != CURLM_OK) {
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
	w->list = calloc(PUSHD_INFLIGHT_MAX, sizeof(*w->list));
	w->ops = calloc((size_t)PUSHD_INFLIGHT_MAX * OPS_PER_JOB,
			sizeof(*w->ops));
	if (w->flights == NULL || w->list == NULL || w->ops == NULL)
		goto fail;
	if (ctx->apns_key != NULL) {
		w->multi[PUSHD_APNS] = new_multi(connections(ctx, PUSHD_APNS));
		if (w->multi[PUSHD_APNS] == NULL)
			goto fail;
	}
	if (ctx->fcm.key != NULL) {
		w->multi[PUSHD_FCM] = new_multi(connections(ctx, PUSHD_FCM));
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
		for (p = 0; p < PUSHD_INFLIGHT_MAX; p++)
			pushd_flight_cleanup(&w->flights[p]);
		OPENSSL_cleanse(w->flights,
				PUSHD_INFLIGHT_MAX * sizeof(*w->flights));
		free(w->flights);
	}
	free(w->list);
	free(w->ops);
	for (p = 0; p < PUSHD_PLATFORMS; p++)
		curl_multi_cleanup(w->multi[p]);
	free(w);
}
