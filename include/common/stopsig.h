/*
 * The second stop signal: while a daemon stops gracefully after SIGTERM
 * or SIGINT (requests or pushes under way get their grace period), a
 * second SIGTERM or SIGINT ends the process at once, as whoever sends it
 * again means.
 *
 *   af_stopsig *w = af_stopsig_watch(log);
 *   ... the graceful stop ...
 *   af_stopsig_end(w);
 *
 * The caller has blocked SIGTERM and SIGINT in every thread (the daemons
 * take their first stop signal with sigwait()), so the watching thread
 * alone takes the second. It logs one line and calls _exit(1): what was
 * under way is left as a crash leaves it, which the state store is made
 * to take (a write is there whole or not at all).
 *
 * Thread-safety: af_stopsig_watch() and af_stopsig_end() are called by
 * the thread that runs the stop, once each.
 */
#ifndef COMMON_STOPSIG_H
#define COMMON_STOPSIG_H

#include "common/log.h"

typedef struct af_stopsig af_stopsig;

/*
 * Starts watching for the second signal. NULL when no thread could be
 * made: the stop then goes on without the shortcut.
 */
af_stopsig *af_stopsig_watch(log_ctx *log);

/* Ends the watch once the stop is over and frees w; NULL is a no-op. */
void af_stopsig_end(af_stopsig *w);

#endif
