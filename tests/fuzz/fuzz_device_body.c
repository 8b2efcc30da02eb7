/*
 * Fuzz target: the device API's request bodies. The input is one body; it
 * goes through the JSON parser and then through each validator (enroll,
 * decision, push-token), as the handlers would. Nothing may crash, and
 * what a validator accepts must have the shape it promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "device/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void enroll(const json_t *body)
{
	char code[AF_DEVICE_CODE_MAX + 1], err[AF_DEVICE_ERR_MAX];
	json_t *spec = NULL, *jwk;

	if (af_device_enroll_check(body, code, sizeof(code), &spec, err,
				   sizeof(err)) != AF_DEVICE_OK) {
		if (spec != NULL)
			abort();
		return;
	}
	jwk = json_object_get(spec, "public_key");
	if (strlen(code) == 0 || !json_is_object(jwk) ||
	    json_object_get(jwk, "d") != NULL || json_object_size(jwk) != 4 ||
	    !json_is_string(json_object_get(spec, "platform")))
		abort();
	json_decref(spec);
}

static void decision(const json_t *body)
{
	const char *d = NULL, *n = NULL;
	char err[AF_DEVICE_ERR_MAX];

	if (af_device_decision_check(body, &d, &n, err, sizeof(err)) !=
	    AF_DEVICE_OK)
		return;
	if (d == NULL || (n != NULL && strlen(n) > AF_DEVICE_NUMBER_MAX))
		abort();
}

static void push_token(const json_t *body)
{
	char err[AF_DEVICE_ERR_MAX];
	json_t *patch = NULL;
	const json_t *token;
	const char *platform;

	if (af_device_push_token_check(body, &patch, err, sizeof(err)) !=
	    AF_DEVICE_OK) {
		if (patch != NULL)
			abort();
		return;
	}
	/*
	 * Something changes; a token comes marked valid, and only a token
	 * makes it valid; apns and fcm never go without one.
	 */
	token = json_object_get(patch, "push_token");
	platform = json_string_value(json_object_get(patch, "platform"));
	if (json_object_size(patch) == 0 ||
	    (token != NULL && !json_is_string(token)) ||
	    (token != NULL) !=
		    json_is_true(json_object_get(patch, "push_token_valid")) ||
	    (token == NULL && platform != NULL &&
	     strcmp(platform, "none") != 0))
		abort();
	json_decref(patch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[AF_DEVICE_ERR_MAX];
	json_t *body = NULL;

	if (af_device_body_parse((const char *)data, size, &body, err,
				 sizeof(err)) != AF_DEVICE_OK) {
		if (body != NULL)
			abort();
		return 0;
	}
	if (!json_is_object(body))
		abort();
	enroll(body);
	decision(body);
	push_token(body);
	json_decref(body);
	return 0;
}
