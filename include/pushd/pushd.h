/*
 * libpushd: delivers the push jobs that authflow puts on the store's "push"
 * queue to Apple (APNs) and Google (FCM HTTP v1) over HTTP/2.
 *
 * A pushd_ctx owns a set of worker threads. Each worker is one consumer of
 * the queue's consumer group "pushd" and owns its own libcurl multi handles
 * (one per push service credential), so one HTTP/2 connection per service
 * carries many concurrent streams. Delivery is at least once: a job stays
 * pending in the group until its outcome is final and recorded, and jobs
 * left pending by a worker that died are claimed by another after
 * PUSHD_CLAIM_IDLE_MS. A job is never sent again once its outcome is final
 * (a "push_done:<job>" marker, SET NX, checked before sending), never
 * twice concurrently by two nodes (a "push_lease:<job>" lease), and never
 * for a transaction that is no longer pending.
 *
 * The same library runs in the pushd daemon and, with push.mode
 * "embedded", inside authflow.
 *
 * Thread-safety: pushd_ctx_new, pushd_start, pushd_stop and pushd_ctx_free
 * are called by one controlling thread, in that order; the read-only calls
 * (pushd_metrics_render, pushd_healthy) may be made from any thread while
 * the workers run.
 */
#ifndef PUSHD_PUSHD_H
#define PUSHD_PUSHD_H

#include <stddef.h>

#include "common/config.h"
#include "common/log.h"
#include "common/store.h"

#if defined(__GNUC__)
#define PUSHD_NODISCARD __attribute__((warn_unused_result))
#else
#define PUSHD_NODISCARD
#endif

#define PUSHD_STATUS_MAP(XX)                                          \
	XX(OK, 0, "success")                                          \
	XX(ERR_ARG, -1, "invalid argument")                           \
	XX(ERR_NOMEM, -2, "out of memory")                            \
	XX(ERR_CONFIG, -3, "bad push configuration")                  \
	XX(ERR_CREDENTIAL, -4, "cannot load a push credential")       \
	XX(ERR_CRYPTO, -5, "cryptographic failure")                   \
	XX(ERR_STORE, -6, "state store failure")                      \
	XX(ERR_THREAD, -7, "cannot start a thread")                   \
	XX(ERR_HTTP, -8, "HTTP transfer failure")                     \
	XX(ERR_PROTOCOL, -9, "unexpected answer from a push service") \
	XX(ERR_TOO_BIG, -10, "input or answer too large")             \
	XX(ERR_STATE, -11, "call not allowed in this state")

typedef enum pushd_status {
#define PUSHD_XX(name, value, text) PUSHD_##name = (value),
	PUSHD_STATUS_MAP(PUSHD_XX)
#undef PUSHD_XX
} pushd_status;

/* A static, never NULL message. Thread-safety: re-entrant. */
const char *pushd_strerror(pushd_status st);

/* The queue, its consumer group, and when an orphaned job is claimed. */
#define PUSHD_QUEUE	    "push"
#define PUSHD_GROUP	    "pushd"
#define PUSHD_CLAIM_IDLE_MS 5000
/* How long pushd_stop() waits for streams in flight by default. */
#define PUSHD_GRACE_S	    10

typedef struct pushd_ctx pushd_ctx;

/*
 * Makes a context for cfg's push section: loads the APNs key and the FCM
 * service account (refused when their mode is wider than 0600). Needs no
 * answer from the store. cfg is copied; st and log are borrowed and must
 * outlive the context. Starts no thread.
 *
 * Returns the context (free it with pushd_ctx_free()), or NULL with a
 * one-line reason in err (errlen bytes with the NUL; err may be NULL).
 * Thread-safety: makes a new object; call from one thread.
 */
pushd_ctx *pushd_ctx_new(const af_config *cfg, store_ctx *st, log_ctx *log,
			 char *err, size_t errlen);

/*
 * Loads and drops the credentials of cfg's push section (the APNs key,
 * the FCM service account) as pushd_ctx_new() would, without a store or
 * any network: PUSHD_OK, or an error with a one-line reason in err. For
 * "authflow --check-config".
 */
PUSHD_NODISCARD pushd_status pushd_check_credentials(const af_config *cfg,
						     char *err, size_t errlen);

/*
 * Makes the queue's consumer group (when it is not there yet) and starts
 * the worker threads (cfg push.workers, 0: the number of cores). Returns
 * PUSHD_OK, PUSHD_ERR_ARG, PUSHD_ERR_STATE (already started),
 * PUSHD_ERR_STORE (the group could not be made) or PUSHD_ERR_THREAD (the
 * threads that did start are stopped again).
 * Thread-safety: controlling thread only.
 */
PUSHD_NODISCARD pushd_status pushd_start(pushd_ctx *ctx);

/*
 * Stops taking new jobs, lets the streams in flight finish for at most
 * grace_s seconds, then joins the workers. Jobs not finished by then stay
 * pending in the group and another node claims them. Harmless when not
 * started or already stopped. Thread-safety: controlling thread only.
 */
void pushd_stop(pushd_ctx *ctx, unsigned grace_s);

/*
 * Frees the context, stopping the workers first (with PUSHD_GRACE_S) when
 * they still run, and wiping the keys and cached tokens. Accepts NULL.
 * Thread-safety: controlling thread only.
 */
void pushd_ctx_free(pushd_ctx *ctx);

/*
 * Renews the FCM access token ahead of need: when neither this node nor
 * the store holds one good for 10 more minutes (or FCM refused the one
 * in hand), asks the token endpoint. This is the only call that does:
 * the workers never wait for the endpoint, so it must be called
 * regularly while FCM is on (the first token included). Blocking (one
 * HTTP request, at most the transfer time-out). PUSHD_OK when the token
 * is good (or FCM is off), else the failure (already logged), after which
 * the next request waits out a back-off (1 s doubling to a minute); the
 * token in hand serves meanwhile. Thread-safety: any thread; pushd and
 * authflow call it once a second from their controlling thread.
 */
pushd_status pushd_fcm_renew(pushd_ctx *ctx);

/*
 * 1 when every worker started is still running and the store answers, 0
 * otherwise (for /healthz). Thread-safety: any thread.
 */
int pushd_healthy(pushd_ctx *ctx);

/*
 * Writes the Prometheus text exposition (format 0.0.4) of the push
 * metrics through fn, which returns 0 to go on and non-zero to stop
 * (PUSHD_ERR_NOMEM is then returned). Returns PUSHD_OK or PUSHD_ERR_ARG.
 * Thread-safety: any thread; counters are read without a lock.
 */
typedef int (*pushd_write_fn)(const char *text, size_t len, void *arg);
PUSHD_NODISCARD pushd_status pushd_metrics_render(pushd_ctx *ctx,
						  pushd_write_fn fn, void *arg);

/*
 * Serves GET /healthz and GET /metrics on cfg push.listen with
 * libmicrohttpd (its own select thread). pushd_listen_stop() stops it
 * (also done by pushd_ctx_free()). Returns PUSHD_OK, PUSHD_ERR_STATE
 * (already listening) or PUSHD_ERR_HTTP (cannot bind: reason in err).
 * Thread-safety: controlling thread only.
 */
PUSHD_NODISCARD pushd_status pushd_listen(pushd_ctx *ctx, char *err,
					  size_t errlen);
void pushd_listen_stop(pushd_ctx *ctx);

#endif /* PUSHD_PUSHD_H */
