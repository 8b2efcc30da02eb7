/*
 * The work queue: a singly linked FIFO under one mutex, and a condition
 * variable the threads wait on while it is empty. A stop lets the threads
 * empty the queue before they leave, so that every queued task runs: the
 * server's tasks each hold a suspended connection that only the task
 * resumes.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "workq.h"

struct task {
	struct task *next;
	af_workq_fn fn;
	void *arg;
};

struct af_workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct task *head, *tail;
	unsigned long waiting; /* tasks queued, not yet taken */
	unsigned long max;     /* of waiting; 0: no limit */
	bool stopping;
	unsigned nthreads; /* started */
	pthread_t threads[];
};

static void *work_main(void *arg)
{
	af_workq *q = arg;
	struct task *t;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		t = q->head;
		if (t == NULL)
			break; /* stopping, and nothing left */
		q->head = t->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->waiting--;
		pthread_mutex_unlock(&q->mu);
		t->fn(t->arg);
		free(t);
		pthread_mutex_lock(&q->mu);
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
	*out = q;
	return AF_WORKQ_OK;
}

void af_workq_limit(af_workq *q, unsigned long max)
{
	pthread_mutex_lock(&q->mu);
	q->max = max;
	pthread_mutex_unlock(&q->mu);
}

af_workq_status af_workq_push(af_workq *q, af_workq_fn fn, void *arg)
{
	struct task *t = malloc(sizeof(*t));

	if (t == NULL)
		return AF_WORKQ_ERR_NOMEM;
	t->next = NULL;
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_lock(&q->mu);
	if (q->stopping || (q->max > 0 && q->waiting >= q->max)) {
		pthread_mutex_unlock(&q->mu);
		free(t);
		return q->stopping ? AF_WORKQ_ERR_STOPPED : AF_WORKQ_ERR_FULL;
	}
	q->waiting++;
	if (q->tail != NULL)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return AF_WORKQ_OK;
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
