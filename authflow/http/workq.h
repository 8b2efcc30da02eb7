/*
 * A fixed set of threads running queued tasks in arrival order: the
 * server's requests that keep a core busy for long (password checks with
 * Argon2id) run here, so that the HTTP threads stay free for the quick
 * ones (the phone's device API, the MFA page's status polls). Tasks of
 * the first lane run before every task of the other lane that waits,
 * in arrival order among themselves.
 *
 * Thread-safety: af_workq_push() may be called from any thread, also
 * during af_workq_stop(); af_workq_free() by the owner once no more
 * pushes can come.
 */
#ifndef AF_HTTP_WORKQ_H
#define AF_HTTP_WORKQ_H

#include <stdint.h>

typedef struct af_workq af_workq;

typedef enum {
	AF_WORKQ_OK = 0,
	AF_WORKQ_ERR_NOMEM,
	AF_WORKQ_ERR_THREAD,
	AF_WORKQ_ERR_STOPPED, /* af_workq_free() has begun */
	AF_WORKQ_ERR_FULL,    /* it would wait past af_workq_bound() */
} af_workq_status;

/*
 * A task: 1 when it did its work, 0 when it ended early (a request shed
 * unchecked after too long a wait). Only the first teach the queue how
 * long tasks take: under a long overload most tasks are shed in no time,
 * and counting them would make it think the queue drains fast.
 */
typedef int (*af_workq_fn)(void *arg);

/* Starts nthreads threads (at least one). */
af_workq_status af_workq_new(unsigned nthreads, af_workq **out);

/*
 * A push is refused when the tasks ahead of it in the queue would keep
 * it waiting longer than wait_ns (0, the default: no bound), so that the
 * caller can answer at once rather than after a wait it can tell is too
 * long. The wait is reckoned from how long tasks that did their work took
 * lately, a moving average that begins at task_ns; one task is always
 * taken.
 */
void af_workq_bound(af_workq *q, uint64_t wait_ns, uint64_t task_ns);

/* Queues fn(arg) to run on one of the threads. */
af_workq_status af_workq_push(af_workq *q, af_workq_fn fn, void *arg);

/*
 * Queues fn(arg) in the first lane: ahead of every task af_workq_push()
 * queued, behind the first lane's others, which alone count towards its
 * bound.
 */
af_workq_status af_workq_push_first(af_workq *q, af_workq_fn fn, void *arg);

/*
 * Runs every task still queued and joins the threads; from its start on,
 * af_workq_push() refuses (AF_WORKQ_ERR_STOPPED) but stays safe to call
 * until af_workq_free(). A second call does nothing.
 */
void af_workq_stop(af_workq *q);

/* Stops the queue (when not done yet) and frees it. NULL is ignored. */
void af_workq_free(af_workq *q);

#endif /* AF_HTTP_WORKQ_H */
