/*
 * Unit tests of the server's work queue (authflow/http/workq.h): every
 * pushed task runs once, on the queue's own threads and concurrently, a
 * stop first runs what is still queued, and a push after the stop began
 * is refused.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "http/workq.h"

#define TASKS 1000

typedef struct counter {
	atomic_int runs[TASKS];
	atomic_int total;
	pthread_t caller;
	atomic_int on_caller; /* tasks that ran on the pushing thread */
} counter;

typedef struct slot {
	counter *c;
	int i;
} slot;

static int count_task(void *arg)
{
	slot *s = arg;

	atomic_fetch_add(&s->c->runs[s->i], 1);
	atomic_fetch_add(&s->c->total, 1);
	if (pthread_equal(pthread_self(), s->c->caller))
		atomic_fetch_add(&s->c->on_caller, 1);
	return 1;
}

static void test_every_task_runs_once_off_the_caller(void **state)
{
	counter *c = calloc(1, sizeof(*c));
	slot *slots = calloc(TASKS, sizeof(*slots));
	af_workq *q = NULL;
	int i;

	(void)state;
	assert_non_null(c);
	assert_non_null(slots);
	c->caller = pthread_self();
	assert_int_equal(af_workq_new(3, &q), AF_WORKQ_OK);
	for (i = 0; i < TASKS; i++) {
		slots[i].c = c;
		slots[i].i = i;
		assert_int_equal(af_workq_push(q, count_task, &slots[i]),
				 AF_WORKQ_OK);
	}
	/* The stop runs whatever is still queued before it returns. */
	af_workq_free(q);
	assert_int_equal(atomic_load(&c->total), TASKS);
	for (i = 0; i < TASKS; i++)
		assert_int_equal(atomic_load(&c->runs[i]), 1);
	assert_int_equal(atomic_load(&c->on_caller), 0);
	free(slots);
	free(c);
}

/* Two tasks that each wait for the other: they only finish side by side. */
typedef struct meet {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int arrived;
	int met;
} meet;

static int meet_task(void *arg)
{
	meet *m = arg;
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&m->mu);
	m->arrived++;
	pthread_cond_broadcast(&m->cv);
	while (m->arrived < 2 &&
	       pthread_cond_timedwait(&m->cv, &m->mu, &until) == 0)
		;
	if (m->arrived >= 2)
		m->met++;
	pthread_mutex_unlock(&m->mu);
	return 1;
}

static void test_threads_run_tasks_side_by_side(void **state)
{
	meet m;
	af_workq *q = NULL;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(pthread_mutex_init(&m.mu, NULL), 0);
	assert_int_equal(pthread_cond_init(&m.cv, NULL), 0);
	assert_int_equal(af_workq_new(2, &q), AF_WORKQ_OK);
	assert_int_equal(af_workq_push(q, meet_task, &m), AF_WORKQ_OK);
	assert_int_equal(af_workq_push(q, meet_task, &m), AF_WORKQ_OK);
	af_workq_free(q);
	assert_int_equal(m.met, 2);
	pthread_cond_destroy(&m.cv);
	pthread_mutex_destroy(&m.mu);
}

/* A task that keeps pushing others until the queue stops taking them. */
typedef struct late {
	af_workq *q;
	af_workq_status st;
	int pushed;
	atomic_int ran;
} late;

static int nothing(void *arg)
{
	late *l = arg;

	atomic_fetch_add(&l->ran, 1);
	return 1;
}

static int push_late(void *arg)
{
	late *l = arg;
	struct timespec pause = {0, 1000000L};
	int i;

	/* af_workq_free() begins within moments; give it up to 10 s. */
	for (i = 0; i < 10000; i++) {
		l->st = af_workq_push(l->q, nothing, l);
		if (l->st != AF_WORKQ_OK)
			return 1;
		l->pushed++;
		nanosleep(&pause, NULL);
	}
	return 1;
}

static void test_push_after_stop_is_refused(void **state)
{
	late l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(af_workq_new(1, &l.q), AF_WORKQ_OK);
	assert_int_equal(af_workq_push(l.q, push_late, &l), AF_WORKQ_OK);
	af_workq_free(l.q);
	assert_int_equal(l.st, AF_WORKQ_ERR_STOPPED);
	/* What was taken before the stop still ran. */
	assert_int_equal(atomic_load(&l.ran), l.pushed);
}

static void test_stopped_queue_refuses_until_freed(void **state)
{
	late l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(af_workq_new(2, &l.q), AF_WORKQ_OK);
	assert_int_equal(af_workq_push(l.q, nothing, &l), AF_WORKQ_OK);
	af_workq_stop(l.q);
	assert_int_equal(atomic_load(&l.ran), 1);
	assert_int_equal(af_workq_push(l.q, nothing, &l), AF_WORKQ_ERR_STOPPED);
	af_workq_stop(l.q); /* twice is harmless */
	af_workq_free(l.q);
	assert_int_equal(atomic_load(&l.ran), 1);
}

static void test_zero_threads_means_one(void **state)
{
	late l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(af_workq_new(0, &l.q), AF_WORKQ_OK);
	assert_int_equal(af_workq_push(l.q, nothing, &l), AF_WORKQ_OK);
	af_workq_free(l.q);
	assert_int_equal(atomic_load(&l.ran), 1);
	af_workq_free(NULL);
}

typedef struct gate {
	atomic_int open;
	atomic_int started;
	atomic_int ran;
} gate;

/* Holds its thread until the gate opens. */
static int wait_gate(void *arg)
{
	gate *g = arg;
	const struct timespec pause = {0, 1000000};

	atomic_fetch_add(&g->started, 1);
	while (!atomic_load(&g->open))
		nanosleep(&pause, NULL);
	atomic_fetch_add(&g->ran, 1);
	return 1;
}

/* Waits up to two seconds for n tasks of g to have started. */
static void started(gate *g, int n)
{
	const struct timespec pause = {0, 1000000};
	int i;

	for (i = 0; i < 2000 && atomic_load(&g->started) < n; i++)
		nanosleep(&pause, NULL);
	assert_int_equal(atomic_load(&g->started), n);
}

/* Waits up to two seconds for n tasks of g to have run. */
static void ran(gate *g, int n)
{
	const struct timespec pause = {0, 1000000};
	int i;

	for (i = 0; i < 2000 && atomic_load(&g->ran) < n; i++)
		nanosleep(&pause, NULL);
	assert_int_equal(atomic_load(&g->ran), n);
}

/*
 * With a bound, a push that would wait past it behind the tasks ahead is
 * refused at once; the wait is reckoned from how long tasks took lately.
 */
static void test_bound_refuses_a_push_that_would_wait_past_it(void **state)
{
	af_workq *q = NULL;
	gate g, quick;
	int i;

	(void)state;
	memset(&g, 0, sizeof(g));
	memset(&quick, 0, sizeof(quick));
	atomic_store(&quick.open, 1);
	assert_int_equal(af_workq_new(1, &q), AF_WORKQ_OK);
	/* Tasks take a second, as far as it knows: 2.5 s is two waiting. */
	af_workq_bound(q, 2500000000u, 1000000000u);
	/* The first task holds the one thread; wait until it is taken. */
	assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_OK);
	started(&g, 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_OK);
	/* Three wait now: a fourth would wait 3 s. */
	assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_ERR_FULL);
	atomic_store(&g.open, 1);
	ran(&g, 4);
	/* Forty quick tasks teach it that tasks take far less. */
	for (i = 0; i < 40; i++) {
		assert_int_equal(af_workq_push(q, wait_gate, &quick),
				 AF_WORKQ_OK);
		ran(&quick, i + 1);
	}
	memset(&g, 0, sizeof(g));
	assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_OK);
	started(&g, 1);
	for (i = 0; i < 100; i++)
		assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_OK);
	atomic_store(&g.open, 1);
	af_workq_free(q);
	assert_int_equal(atomic_load(&g.ran), 101);
}

/* Ends at once without its work, as a request shed unchecked does. */
static int shed_task(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
	return 0;
}

/* Tasks shed without their work teach the queue nothing of task times. */
static void test_bound_ignores_shed_tasks(void **state)
{
	af_workq *q = NULL;
	atomic_int shed = 0;
	gate g;
	int i;

	(void)state;
	memset(&g, 0, sizeof(g));
	assert_int_equal(af_workq_new(1, &q), AF_WORKQ_OK);
	af_workq_bound(q, 2500000000u, 1000000000u);
	for (i = 0; i < 40; i++) {
		const struct timespec pause = {0, 1000000};
		int k;

		assert_int_equal(af_workq_push(q, shed_task, &shed),
				 AF_WORKQ_OK);
		for (k = 0; k < 2000 && atomic_load(&shed) <= i; k++)
			nanosleep(&pause, NULL);
		assert_int_equal(atomic_load(&shed), i + 1);
	}
	assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_OK);
	started(&g, 1);
	/* Still a second a task: three may wait, a fourth would wait 3 s. */
	for (i = 0; i < 3; i++)
		assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_OK);
	assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_ERR_FULL);
	atomic_store(&g.open, 1);
	af_workq_free(q);
	assert_int_equal(atomic_load(&g.ran), 4);
}

/* Sleeps 200 ms. */
static int slow_task(void *arg)
{
	const struct timespec nap = {0, 200000000};

	(void)arg;
	nanosleep(&nap, NULL);
	return 1;
}

/* One slow run takes the estimate halfway up at once. */
static void test_bound_follows_a_slowdown_at_once(void **state)
{
	af_workq *q = NULL;
	gate g;
	int i;

	(void)state;
	memset(&g, 0, sizeof(g));
	assert_int_equal(af_workq_new(1, &q), AF_WORKQ_OK);
	/* 1 ms a task: 2,500 may wait. */
	af_workq_bound(q, 2500000000u, 1000000u);
	assert_int_equal(af_workq_push(q, slow_task, NULL), AF_WORKQ_OK);
	assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_OK);
	started(&g, 1);
	/* About 100 ms a task now: some 25 wait, not 2,500 (nor 100). */
	for (i = 0; i < 60; i++) {
		if (af_workq_push(q, wait_gate, &g) != AF_WORKQ_OK)
			break;
	}
	/* (A late wake from the 100 ms sleep makes it fewer.) */
	assert_true(i >= 10 && i <= 30);
	atomic_store(&g.open, 1);
	af_workq_free(q);
}

/* Records the order tasks ran in. */
typedef struct {
	atomic_int next;
	int order[8];
} log_order;

typedef struct {
	log_order *log;
	int id;
} tagged;

static int note_order(void *arg)
{
	tagged *t = arg;

	t->log->order[atomic_fetch_add(&t->log->next, 1)] = t->id;
	return 1;
}

/*
 * The first lane runs ahead of every ordinary task waiting, in arrival
 * order; its bound counts its own tasks only.
 */
static void test_first_lane_runs_ahead(void **state)
{
	af_workq *q = NULL;
	log_order lo;
	tagged t[5];
	gate g;
	int i;

	(void)state;
	memset(&g, 0, sizeof(g));
	memset(&lo, 0, sizeof(lo));
	for (i = 0; i < 5; i++) {
		t[i].log = &lo;
		t[i].id = i + 1;
	}
	assert_int_equal(af_workq_new(1, &q), AF_WORKQ_OK);
	af_workq_bound(q, 1500000000u, 1000000000u);
	assert_int_equal(af_workq_push(q, wait_gate, &g), AF_WORKQ_OK);
	started(&g, 1);
	assert_int_equal(af_workq_push(q, note_order, &t[0]), AF_WORKQ_OK);
	assert_int_equal(af_workq_push(q, note_order, &t[1]), AF_WORKQ_OK);
	/* The ordinary lane is full ... */
	assert_int_equal(af_workq_push(q, note_order, &t[4]),
			 AF_WORKQ_ERR_FULL);
	/* ... the first lane is not, and goes ahead of it. */
	assert_int_equal(af_workq_push_first(q, note_order, &t[2]),
			 AF_WORKQ_OK);
	assert_int_equal(af_workq_push_first(q, note_order, &t[3]),
			 AF_WORKQ_OK);
	assert_int_equal(af_workq_push_first(q, note_order, &t[4]),
			 AF_WORKQ_ERR_FULL);
	atomic_store(&g.open, 1);
	af_workq_free(q);
	assert_int_equal(atomic_load(&lo.next), 4);
	assert_int_equal(lo.order[0], 3);
	assert_int_equal(lo.order[1], 4);
	assert_int_equal(lo.order[2], 1);
	assert_int_equal(lo.order[3], 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_task_runs_once_off_the_caller),
		cmocka_unit_test(test_threads_run_tasks_side_by_side),
		cmocka_unit_test(test_push_after_stop_is_refused),
		cmocka_unit_test(test_stopped_queue_refuses_until_freed),
		cmocka_unit_test(test_zero_threads_means_one),
		cmocka_unit_test(
			test_bound_refuses_a_push_that_would_wait_past_it),
		cmocka_unit_test(test_bound_follows_a_slowdown_at_once),
		cmocka_unit_test(test_bound_ignores_shed_tasks),
		cmocka_unit_test(test_first_lane_runs_ahead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
