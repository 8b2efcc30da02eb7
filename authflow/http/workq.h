/*
 * A fixed set of threads running queued tasks in arrival order: the
 * server's requests that keep a core busy for long (password checks with
 * Argon2id) run here, so that the HTTP threads stay free for the quick
 * ones (the phone's device API, the MFA page's status polls).
 *
 * Thread-safety: af_workq_push() may be called from any thread, also
 * during af_workq_stop(); af_workq_free() by the owner once no more
 * pushes can come.
 */
#ifndef AF_HTTP_WORKQ_H
#define AF_HTTP_WORKQ_H

typedef struct af_workq af_workq;

typedef enum {
	AF_WORKQ_OK = 0,
	AF_WORKQ_ERR_NOMEM,
	AF_WORKQ_ERR_THREAD,
	AF_WORKQ_ERR_STOPPED, /* af_workq_free() has begun */
	AF_WORKQ_ERR_FULL,    /* as many tasks wait as af_workq_limit() */
} af_workq_status;

typedef void (*af_workq_fn)(void *arg);

/* Starts nthreads threads (at least one). */
af_workq_status af_workq_new(unsigned nthreads, af_workq **out);

/*
 * At most max tasks wait for a thread (0, the default: no limit); a push
 * past it is refused, so that the caller can answer at once rather than
 * after a wait it can tell is too long. Call before the first push.
 */
void af_workq_limit(af_workq *q, unsigned long max);

/* Queues fn(arg) to run on one of the threads. */
af_workq_status af_workq_push(af_workq *q, af_workq_fn fn, void *arg);

/*
 * Runs every task still queued and joins the threads; from its start on,
 * af_workq_push() refuses (AF_WORKQ_ERR_STOPPED) but stays safe to call
 * until af_workq_free(). A second call does nothing.
 */
void af_workq_stop(af_workq *q);

/* Stops the queue (when not done yet) and frees it. NULL is ignored. */
void af_workq_free(af_workq *q);

#endif /* AF_HTTP_WORKQ_H */
