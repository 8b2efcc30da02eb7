/* Test scripts and JSON-lines logs for the push mocks; see mock_common.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "h2server.h"
#include "mock_common.h"

static int check_int(const json_t *v, long long min, long long max)
{
	return json_is_integer(v) && json_integer_value(v) >= min &&
	       json_integer_value(v) <= max;
}

static int check_text(const json_t *v, size_t max)
{
	return json_is_string(v) && json_string_length(v) <= max;
}

static const char *const fault_names[] = {
	[H2S_FAULT_HANG] = "hang",     [H2S_FAULT_STALL] = "stall",
	[H2S_FAULT_RESET] = "reset",   [H2S_FAULT_RST_STREAM] = "rst_stream",
	[H2S_FAULT_GOAWAY] = "goaway", [H2S_FAULT_CUT] = "cut",
	[H2S_FAULT_STUCK] = "stuck",
};

/* The fault called name; H2S_FAULT_NONE when there is none by that name. */
static h2s_fault fault_by_name(const char *name)
{
	size_t i;

	for (i = 1;
	     name != NULL && i < sizeof(fault_names) / sizeof(*fault_names);
	     i++)
		if (strcmp(name, fault_names[i]) == 0)
			return (h2s_fault)i;
	return H2S_FAULT_NONE;
}

/* The members of an answer that shape it on the wire (see the header). */
static int check_shape(const char *key, const json_t *v)
{
	if (strcmp(key, "body") == 0)
		return check_text(v, MOCK_BODY_MAX) ? 0 : -1;
	if (strcmp(key, "retry_after_text") == 0)
		return check_text(v, MOCK_HEADER_TEXT_MAX) ? 0 : -1;
	if (strcmp(key, "fill_bytes") == 0)
		return check_int(v, 0, (long long)H2S_FILL_BODY_MAX) ? 0 : -1;
	if (strcmp(key, "fill_headers") == 0)
		return check_int(v, 0, H2S_FILL_HEADERS_MAX) ? 0 : -1;
	if (strcmp(key, "fill_header_bytes") == 0)
		return check_int(v, 0, (long long)H2S_FILL_VALUE_MAX) ? 0 : -1;
	if (strcmp(key, "no_apns_id") == 0)
		return json_is_boolean(v) ? 0 : -1;
	if (strcmp(key, "expires_in") == 0)
		return json_is_integer(v) ? 0 : -1;
	if (strcmp(key, "fault") == 0)
		return fault_by_name(json_string_value(v)) != H2S_FAULT_NONE
			       ? 0
			       : -1;
	return -1;
}

static int check_answer(json_t *a)
{
	const char *key;
	json_t *v;

	if (!json_is_object(a))
		return -1;
	json_object_foreach(a, key, v)
	{
		if (strcmp(key, "status") == 0) {
			if (!check_int(v, 100, 599))
				return -1;
		} else if (strcmp(key, "reason") == 0 ||
			   strcmp(key, "error") == 0) {
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) > MOCK_REASON_MAX)
				return -1;
		} else if (strcmp(key, "pad") == 0) {
			if (!check_int(v, 0, MOCK_PAD_MAX))
				return -1;
		} else if (strcmp(key, "delay_ms") == 0) {
			if (!check_int(v, 0, H2S_DELAY_MAX_MS))
				return -1;
		} else if (strcmp(key, "goaway") == 0) {
			if (!json_is_boolean(v))
				return -1;
		} else if (strcmp(key, "retry_after") == 0) {
			if (!check_int(v, 0, MOCK_RETRY_AFTER_MAX))
				return -1;
		} else if (check_shape(key, v) != 0) {
			return -1;
		}
	}
	/* The filler headers must fit one header block. */
	if (mock_answer_int(a, "fill_headers", 0) *
		    mock_answer_int(a, "fill_header_bytes", 16) >
	    (long long)H2S_FILL_BLOCK_MAX)
		return -1;
	return 0;
}

json_t *mock_script_load(const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0, i;
	json_t *script = NULL, *ret = NULL, *list;
	json_error_t jerr;
	const char *token;

	if (err == NULL || errlen == 0)
		return NULL;
	err[0] = '\0';
	text = h2s_read_file(path, MOCK_SCRIPT_MAX, &len);
	if (text == NULL) {
		snprintf(err, errlen, "cannot read %s (or larger than %zu)",
			 path, MOCK_SCRIPT_MAX);
		goto out;
	}
	script = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(script)) {
		snprintf(err, errlen, "%s: not a JSON object (line %d: %s)",
			 path, jerr.line, jerr.text);
		goto out;
	}
	json_object_foreach(script, token, list)
	{
		if (!json_is_array(list)) {
			snprintf(err, errlen, "%s: \"%.64s\": not a list", path,
				 token);
			goto out;
		}
		for (i = 0; i < json_array_size(list); i++) {
			if (check_answer(json_array_get(list, i)) != 0) {
				snprintf(err, errlen,
					 "%s: \"%.64s\" answer %zu: bad answer",
					 path, token, i);
				goto out;
			}
		}
	}
	ret = script;
	script = NULL;
out:
	json_decref(script);
	free(text);
	return ret;
}

json_t *mock_script_next(json_t *script, const char *token)
{
	json_t *list, *a;

	if (script == NULL || token == NULL)
		return NULL;
	list = json_object_get(script, token);
	if (json_array_size(list) == 0)
		return NULL;
	a = json_incref(json_array_get(list, 0));
	if (json_array_remove(list, 0) != 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

long long mock_answer_int(const json_t *answer, const char *key, long long def)
{
	const json_t *v = json_object_get(answer, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

int mock_answer_shape(const json_t *answer, h2s_response *resp)
{
	const char *fault = json_string_value(json_object_get(answer, "fault"));
	long long headers = mock_answer_int(answer, "fill_headers", 0);

	if (h2s_response_delay(resp, (unsigned)mock_answer_int(
					     answer, "delay_ms", 0)) != H2S_OK)
		return -1;
	if (json_is_true(json_object_get(answer, "goaway")))
		h2s_response_goaway(resp);
	if (fault != NULL &&
	    h2s_response_fault(resp, fault_by_name(fault)) != H2S_OK)
		return -1;
	if (h2s_response_fill(
		    resp, (size_t)mock_answer_int(answer, "fill_bytes", 0),
		    (size_t)headers,
		    headers > 0 ? (size_t)mock_answer_int(
					  answer, "fill_header_bytes", 16)
				: 0) != H2S_OK)
		return -1;
	return 0;
}

int mock_answer_override(const json_t *answer, h2s_response *resp)
{
	const json_t *body = json_object_get(answer, "body");
	const char *ra =
		json_string_value(json_object_get(answer, "retry_after_text"));

	if (json_is_string(body) &&
	    h2s_response_body(resp, json_string_value(body),
			      json_string_length(body)) != H2S_OK)
		return -1;
	if (ra != NULL &&
	    h2s_response_header(resp, "retry-after", ra) != H2S_OK)
		return -1;
	return 0;
}

static json_int_t now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (json_int_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int mock_log_line(FILE *f, json_t *obj)
{
	int rc = -1;

	if (obj == NULL)
		return -1;
	if (f == NULL) {
		rc = 0;
		goto out;
	}
	/*
	 * Every line also carries the wall clock in microseconds ("ts_us",
	 * CLOCK_REALTIME as af_now_ms() uses): the push benchmark measures
	 * enqueue-to-mock times of a few milliseconds, which "ts" (ms) is too
	 * coarse for.
	 */
	if (json_object_set_new(obj, "ts_us", json_integer(now_us())) != 0)
		goto out;
	if (json_dumpf(obj, f, JSON_COMPACT) != 0 || fputc('\n', f) == EOF ||
	    fflush(f) != 0)
		goto out;
	rc = 0;
out:
	json_decref(obj);
	return rc;
}
