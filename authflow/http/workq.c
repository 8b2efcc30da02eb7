/*
 * The work queue: a singly linked FIFO under one mutex, the first lane's
 * tasks at its front, and a condition variable the threads wait on while
 * it is empty. A stop lets the threads empty the queue before they leave,
 * so that every queued task runs: the server's tasks each hold a
 * suspended connection that only the task resumes.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "workq.h"

/*
 * The moving average of run times takes a longer run in at once by half
 * (1/2), a shorter one by an eighth (1/8): it follows a slowdown (the
 * cores shared with a flood's connections) at once and a recovery
 * slowly, so that the bound errs on refusing rather than on waiting.
 */
#define TASK_AVG_UP_SHIFT   1
#define TASK_AVG_DOWN_SHIFT 3

struct task {
	struct task *next;
	af_workq_fn fn;
	void *arg;
	bool first;
};

struct af_workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct task *head, *tail;
	struct task *first_tail;     /* the first lane's last task, or NULL */
	unsigned long waiting;	     /* tasks queued, not yet taken */
	unsigned long waiting_first; /* ... of them in the first lane */
	uint64_t wait_ns;	     /* the bound; 0: none */
	uint64_t task_ns;	     /* what a task takes, on average */
	bool stopping;
	unsigned nthreads; /* started */
	unsigned nrun;	   /* threads that run tasks */
	pthread_t threads[];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Takes the task at the head. Called locked, with one there. */
static struct task *take(af_workq *q)
{
	struct task *t = q->head;

	q->head = t->next;
	if (q->head == NULL)
		q->tail = NULL;
	if (q->first_tail == t)
		q->first_tail = NULL;
	if (t->first)
		q->waiting_first--;
	q->waiting--;
	return t;
}

/* Folds a task's run time into the average. Called locked. */
static void note_run(af_workq *q, uint64_t ns)
{
	if (ns >= q->task_ns)
		q->task_ns += (ns - q->task_ns) >> TASK_AVG_UP_SHIFT;
	else
		q->task_ns -= (q->task_ns - ns) >> TASK_AVG_DOWN_SHIFT;
}

static void *work_main(void *arg)
{
	af_workq *q = arg;
	struct task *t;
	uint64_t began;
	int worked;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->head == NULL)
			break; /* stopping, and nothing left */
		t = take(q);
		pthread_mutex_unlock(&q->mu);
		began = mono_ns();
		worked = t->fn(t->arg);
		free(t);
		pthread_mutex_lock(&q->mu);
		if (worked)
			note_run(q, mono_ns() - began);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

af_workq_status af_workq_new(unsigned nthreads, af_workq **out)
{
	af_workq *q;
	unsigned i;

	*out = NULL;
	if (nthreads == 0)
		nthreads = 1;
	q = calloc(1, sizeof(*q) + nthreads * sizeof(q->threads[0]));
	if (q == NULL)
		return AF_WORKQ_ERR_NOMEM;
	if (pthread_mutex_init(&q->mu, NULL) != 0) {
		free(q);
		return AF_WORKQ_ERR_NOMEM;
	}
	if (pthread_cond_init(&q->cv, NULL) != 0) {
		pthread_mutex_destroy(&q->mu);
		free(q);
		return AF_WORKQ_ERR_NOMEM;
	}
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&q->threads[i], NULL, work_main, q) != 0) {
			af_workq_free(q);
			return AF_WORKQ_ERR_THREAD;
		}
		q->nthreads++;
	}
	q->nrun = q->nthreads;
	*out = q;
	return AF_WORKQ_OK;
}

void af_workq_bound(af_workq *q, uint64_t wait_ns, uint64_t task_ns)
{
	pthread_mutex_lock(&q->mu);
	q->wait_ns = wait_ns;
	q->task_ns = task_ns;
	pthread_mutex_unlock(&q->mu);
}

/* Whether a task behind ahead others would wait past the bound. Locked. */
static bool too_long(const af_workq *q, unsigned long ahead)
{
	return q->wait_ns > 0 && ahead > 0 &&
	       (uint64_t)ahead * q->task_ns / q->nrun > q->wait_ns;
}

/* Puts t at the end of its lane. Called locked. */
static void enqueue(af_workq *q, struct task *t)
{
	struct task *after = t->first ? q->first_tail : q->tail;

	if (after != NULL) {
		t->next = after->next;
		after->next = t;
	} else {
		t->next = q->head;
		q->head = t;
	}
	if (t->next == NULL)
		q->tail = t;
	if (t->first) {
		q->first_tail = t;
		q->waiting_first++;
	}
	q->waiting++;
}

static af_workq_status push(af_workq *q, af_workq_fn fn, void *arg, bool first)
{
	struct task *t = malloc(sizeof(*t));
	af_workq_status st = AF_WORKQ_OK;

	if (t == NULL)
		return AF_WORKQ_ERR_NOMEM;
	t->next = NULL;
	t->fn = fn;
	t->arg = arg;
	t->first = first;
	pthread_mutex_lock(&q->mu);
	if (q->stopping)
		st = AF_WORKQ_ERR_STOPPED;
	else if (too_long(q, first ? q->waiting_first : q->waiting))
		st = AF_WORKQ_ERR_FULL;
	if (st == AF_WORKQ_OK) {
		enqueue(q, t);
		pthread_cond_signal(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	if (st != AF_WORKQ_OK)
		free(t);
	return st;
}

af_workq_status af_workq_push(af_workq *q, af_workq_fn fn, void *arg)
{
	return push(q, fn, arg, false);
}

af_workq_status af_workq_push_first(af_workq *q, af_workq_fn fn, void *arg)
{
	return push(q, fn, arg, true);
}

void af_workq_stop(af_workq *q)
{
	unsigned i, n;

	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	pthread_cond_broadcast(&q->cv);
	n = q->nthreads;
	q->nthreads = 0; /* a second stop has nothing to join */
	pthread_mutex_unlock(&q->mu);
	for (i = 0; i < n; i++)
		pthread_join(q->threads[i], NULL);
}

void af_workq_free(af_workq *q)
{
	if (q == NULL)
		return;
	af_workq_stop(q);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
