/*
 * The second stop signal; see stopsig.h.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/stopsig.h"

struct af_stopsig {
	pthread_t thread;
	sigset_t set;
	log_ctx *log;
};

/* Waits for SIGTERM or SIGINT only; other signals stay pending. */
static void *watch_main(void *arg)
{
	const af_stopsig *w = arg;
	int sig = 0;

	while (sigwait(&w->set, &sig) != 0)
		;
	/* Past here, the end of the stop must not cancel the exit. */
	(void)pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	log_warn(w->log, NULL, "shutdown",
		 "signal=%d again: stopping at once, without waiting for "
		 "the work under way",
		 sig);
	_exit(1);
	return NULL;
}

af_stopsig *af_stopsig_watch(log_ctx *log)
{
	af_stopsig *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	sigemptyset(&w->set);
	sigaddset(&w->set, SIGTERM);
	sigaddset(&w->set, SIGINT);
	w->log = log;
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

void af_stopsig_end(af_stopsig *w)
{
	if (w == NULL)
		return;
	(void)pthread_cancel(w->thread);
	(void)pthread_join(w->thread, NULL);
	free(w);
}
