/*
 * Fuzz target: what pushd reads from outside its process. The first byte
 * says what the rest is:
 *   0: a queue entry (a push job), then the APNs payload and the FCM
 *      message made from it when it parses;
 *   1: an APNs answer body, its reason and the verdict for it;
 *   2: a Google error body, its status and code and the verdict for them;
 *   3: a Retry-After header value;
 *   4: an answer of FCM's OAuth token endpoint (the token goes into the
 *      header of every push).
 * Nothing may crash, and what is accepted must keep the promised bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pushd_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first status codes each service answers with. */
static const long statuses[] = {200, 400, 401, 403, 404, 410, 429, 500, 503};

static void job(const char *text, size_t len)
{
	char payload[PUSHD_APNS_PAYLOAD_MAX + 1];
	char *msg = NULL;
	pushd_job j;
	size_t n = 0;

	if (pushd_job_parse(text, len, &j) != PUSHD_OK)
		return;
	if (j.job[0] == '\0' || j.txn[0] == '\0' || j.expires <= 0 ||
	    (j.platform != PUSHD_APNS && j.platform != PUSHD_FCM))
		abort();
	/* As sent, and with push.names off, naming nobody. */
	for (j.unnamed = 0; j.unnamed <= 1; j.unnamed++) {
		if (pushd_apns_payload(&j, payload, sizeof(payload), &n) ==
			    PUSHD_OK &&
		    (n > PUSHD_APNS_PAYLOAD_MAX || strlen(payload) != n))
			abort();
		if (pushd_fcm_message(&j, j.expires - 30, &msg) == PUSHD_OK &&
		    msg == NULL)
			abort();
		free(msg);
		msg = NULL;
	}
}

static void apns(const char *text, size_t len)
{
	char reason[PUSHD_REASON_MAX];
	size_t i;

	pushd_apns_reason(text, len, reason, sizeof(reason));
	if (strlen(reason) >= sizeof(reason))
		abort();
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		(void)pushd_classify_apns(statuses[i], reason);
}

static void fcm(const char *text, size_t len)
{
	char status[PUSHD_REASON_MAX], code[PUSHD_REASON_MAX];
	size_t i;

	pushd_fcm_error(text, len, status, sizeof(status), code, sizeof(code));
	if (strlen(status) >= sizeof(status) || strlen(code) >= sizeof(code))
		abort();
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		(void)pushd_classify_fcm(statuses[i], status, code);
}

static void fcm_token(const char *text, size_t len)
{
	char token[512];
	const char *why = NULL;
	int64_t at = 0;
	size_t i, n;

	if (pushd_fcm_token_answer(text, len, 1700000000, token, sizeof(token),
				   &at, &why) != PUSHD_OK) {
		if (why == NULL || why[0] == '\0' || token[0] != '\0')
			abort();
		return;
	}
	n = strlen(token);
	/* A b64token (RFC 6750): nothing that could end the header. */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)token[i];

		if (c <= 0x20 || c >= 0x7f)
			abort();
	}
	if (n == 0 || n >= sizeof(token) || at <= 1700000000 ||
	    at > 1700000000 + 24 * 3600)
		abort();
}

static void retry_after(const char *text)
{
	uint64_t ms = 0;

	/* Both forms are capped at a day. */
	if (pushd_retry_after_ms(text, 1700000000, &ms) == 0 &&
	    ms > (uint64_t)86400 * 1000)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1 || size > PUSHD_RESPONSE_MAX)
		return 0;
	/* As the worker has them: NUL-terminated copies. */
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 5) {
	case 0:
		job(text, size - 1);
		break;
	case 1:
		apns(text, size - 1);
		break;
	case 2:
		fcm(text, size - 1);
		break;
	case 3:
		retry_after(text);
		break;
	default:
		fcm_token(text, size - 1);
		break;
	}
	free(text);
	return 0;
}
