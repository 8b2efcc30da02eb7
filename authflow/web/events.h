/*
 * The sign-in events of the log: one line per outcome of a password or
 * second-factor step, with the user, the client's address and the outcome
 * as JSON members of their own ("user", "ip", "outcome"), so that a
 * collector matches on fields, and a user name crafted to look like
 * "outcome=ok" stays a user name. Details ("wait_s=3") go in "msg".
 *
 * Thread-safety: as the log (common/log.h).
 */
#ifndef AF_WEB_EVENTS_H
#define AF_WEB_EVENTS_H

#include "common/log.h"
#include "http/request.h"

/*
 * Logs the event "login" at level for user (NULL: "-"; cut to what a log
 * value holds) from req's client address. fmt (may be NULL) adds "msg".
 */
void af_event_login(log_ctx *log, log_level level, const af_req *req,
		    const char *user, const char *outcome, const char *fmt, ...)
	LOG_PRINTF(6, 7);

#endif
