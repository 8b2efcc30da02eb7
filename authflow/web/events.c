/* The sign-in events of the log; see events.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "web/events.h"

/* A user name longer than this is cut in the log (names are 1..128). */
#define USER_SHOWN_MAX 200

void af_event_login(log_ctx *log, log_level level, const af_req *req,
		    const char *user, const char *outcome, const char *fmt, ...)
{
	char shown[USER_SHOWN_MAX + 1], msg[256];
	const char *kv[] = {"user",    shown,	"ip", req->client_ip,
			    "outcome", outcome, NULL};
	va_list ap;
	size_t n;

	if (user == NULL)
		user = "-";
	/* Cut between characters, and marked as cut. */
	n = af_utf8_cut(user, strlen(user), USER_SHOWN_MAX - 3);
	(void)snprintf(shown, sizeof(shown), "%.*s%s", (int)n, user,
		       user[n] != '\0' ? "..." : "");
	if (fmt == NULL) {
		log_write(log, level, req->rid, "login", kv, NULL);
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_write(log, level, req->rid, "login", kv, "%s", msg);
}
