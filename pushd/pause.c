/*
 * A push service that answered for itself as a whole (overloaded, down,
 * over the project's quota, unreachable) rather than about one device:
 * no request goes to it until the pause it asked for, or a back-off that
 * doubles with each such answer in a row, has passed. Without it, every
 * new sign-in's push would go out at once to a service that just said it
 * cannot take them, and each failing job would only slow down its own
 * retries: Apple and Google both ask senders to back off as a whole, and
 * may block those that do not.
 *
 * One pause per service and process, shared by the workers (each has its
 * own connections to the same service).
 *
 * Thread-safety: every call takes the pause's mutex.
 */
#include <string.h>

#include "pushd_internal.h"

#define NS_PER_MS 1000000ull

int pushd_pause_init(pushd_pause *p)
{
	memset(p, 0, sizeof(*p));
	return pthread_mutex_init(&p->mu, NULL) == 0 ? 0 : -1;
}

void pushd_pause_destroy(pushd_pause *p)
{
	(void)pthread_mutex_destroy(&p->mu);
}

int pushd_service_refused(pushd_platform platform, long http_status,
			  CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		break;
	/* Nothing to talk to: every push would fail the same way. */
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
		return 1;
	default:
		return 0;
	}
	/*
	 * APNs: 500 InternalServerError, 503 ServiceUnavailable and
	 * Shutdown. Its 429 TooManyRequests is about one device token.
	 */
	if (platform == PUSHD_APNS)
		return http_status >= 500 && http_status <= 599;
	/*
	 * FCM: 500 INTERNAL, 503 UNAVAILABLE, the 502 and 504 of Google's
	 * front ends, and 429 QUOTA_EXCEEDED, which for a sender of a few
	 * pushes per device and sign-in is the project's sending rate.
	 */
	return http_status == 429 || (http_status >= 500 && http_status <= 599);
}

uint64_t pushd_pause_note(pushd_pause *p, uint64_t now_ns,
			  uint64_t retry_after_ms, uint32_t rnd, int *tell)
{
	uint64_t cap = PUSHD_BACKOFF_BASE_MS, wait, until;
	unsigned i;

	*tell = 0;
	if (pthread_mutex_lock(&p->mu) != 0)
		return 0;
	for (i = 0; i < p->strikes && cap < PUSHD_BACKOFF_MAX_MS; i++)
		cap *= 2;
	if (cap > PUSHD_BACKOFF_MAX_MS)
		cap = PUSHD_BACKOFF_MAX_MS;
	if (p->strikes < UINT32_MAX)
		p->strikes++;
	/* Half fixed, half jitter: nodes refused together come back apart. */
	wait = cap / 2 + rnd % (cap / 2 + 1);
	if (retry_after_ms > wait)
		wait = retry_after_ms;
	if (wait > PUSHD_PAUSE_MAX_MS)
		wait = PUSHD_PAUSE_MAX_MS;
	until = now_ns + wait * NS_PER_MS;
	if (p->until_ns <= now_ns) {
		p->pauses++;
		if (p->told_ns == 0 ||
		    now_ns - p->told_ns >= PUSHD_PAUSE_TELL_NS) {
			p->told_ns = now_ns;
			*tell = 1;
		}
	}
	if (until > p->until_ns)
		p->until_ns = until;
	until = p->until_ns;
	pthread_mutex_unlock(&p->mu);
	return until;
}

void pushd_pause_clear(pushd_pause *p)
{
	if (pthread_mutex_lock(&p->mu) != 0)
		return;
	p->strikes = 0;
	pthread_mutex_unlock(&p->mu);
}

uint64_t pushd_pause_until(pushd_pause *p, uint64_t now_ns)
{
	uint64_t until = 0;

	if (pthread_mutex_lock(&p->mu) != 0)
		return 0;
	if (p->until_ns > now_ns)
		until = p->until_ns;
	pthread_mutex_unlock(&p->mu);
	return until;
}

unsigned long pushd_pause_count(pushd_pause *p)
{
	unsigned long n = 0;

	if (pthread_mutex_lock(&p->mu) != 0)
		return 0;
	n = p->pauses;
	pthread_mutex_unlock(&p->mu);
	return n;
}
