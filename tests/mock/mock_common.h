/*
 * What mock_apns and mock_fcm share besides the HTTP/2 core: the test
 * script (scripted answers per push token) and the JSON-lines log.
 *
 * A script is a JSON object mapping a push token to a list of answers,
 * used one per accepted request for that token, in order; once a list is
 * used up the mock answers normally again. An answer is an object with
 * any of: "status" (100..599), "reason" (APNs) or "error" (FCM) text,
 * "delay_ms" (0..60000), "goaway" (true: GOAWAY after the answer) and
 * "retry_after" (seconds, 0..86400, sent as Retry-After).
 *
 * And, to play a broken or hostile service: "body" (text sent as the
 * body instead of the service's own), "fill_bytes" (filler bytes after
 * the body), "fill_headers" and "fill_header_bytes" (filler headers and
 * the size of each), "retry_after_text" (a Retry-After sent as it is),
 * "no_apns_id" (true: APNs answers without apns-id), "expires_in" (the
 * FCM token endpoint announces this lifetime, any integer) and "fault"
 * ("hang", "stall", "reset", "rst_stream", "goaway", "cut" or "stuck",
 * as h2s_fault).
 *
 * Thread-safety: none; everything belongs to the mock's one thread.
 */
#ifndef MOCK_COMMON_H
#define MOCK_COMMON_H

#include <stdio.h>

#include <jansson.h>

#include "common/util.h"
#include "h2server.h"

/* Largest script file. */
#define MOCK_SCRIPT_MAX	     ((size_t)1024 * 1024)
/* Longest "body" and "retry_after_text" of an answer. */
#define MOCK_BODY_MAX	     ((size_t)64 * 1024)
#define MOCK_HEADER_TEXT_MAX H2S_RESP_VALUE_MAX
/* Longest "reason" or "error" text in a script. */
#define MOCK_REASON_MAX	     128
#define MOCK_PAD_MAX	     65536 /* bytes of "pad" in an APNs error body */
/* Longest Retry-After a script may ask for, in seconds. */
#define MOCK_RETRY_AFTER_MAX 86400

/*
 * Loads and checks the script at path. Returns a new reference, or NULL
 * with a message naming the faulty token and answer in err.
 */
json_t *mock_script_load(const char *path, char *err, size_t errlen);

/*
 * Takes the next scripted answer for token out of script: a new reference
 * (json_decref() it), or NULL when there is none (answer normally).
 * script may be NULL.
 */
json_t *mock_script_next(json_t *script, const char *token);

/* Member key of answer as an integer, or def when absent. */
long long mock_answer_int(const json_t *answer, const char *key, long long def);

/*
 * Applies the delay, GOAWAY, fault and filler of answer to resp. 0, or -1
 * when resp refuses one of them.
 */
int mock_answer_shape(const json_t *answer, h2s_response *resp);

/*
 * Replaces the body of resp with answer's "body", and adds its
 * "retry_after_text", when answer has them. 0 or -1.
 */
int mock_answer_override(const json_t *answer, h2s_response *resp);

/*
 * Writes obj (stolen) as one compact JSON line and flushes, so tests read
 * every line as soon as the answer is out. f may be NULL (no log): obj is
 * still released. Returns 0 or -1.
 */
int mock_log_line(FILE *f, json_t *obj);

#endif /* MOCK_COMMON_H */
