/*
 * The device API's request bodies: parsing and validation as pure
 * functions, so that the fuzzers can drive them without a server. They
 * check what the device could get wrong and name the member in err; the
 * data model (mfa/) checks again on its side.
 *
 * Unknown members are ignored, so that a newer app may send more than this
 * server knows; the members that are known are checked strictly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "device/device.h"

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		err[0] = '\0';
}

af_device_status af_device_body_parse(const char *body, size_t len,
				      json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o;

	if (out == NULL)
		return AF_DEVICE_BAD_REQUEST;
	*out = NULL;
	if (body == NULL || len == 0) {
		errf(err, errlen, "this call needs a JSON object body");
		return AF_DEVICE_BAD_REQUEST;
	}
	if (len > AF_DEVICE_BODY_MAX) {
		errf(err, errlen, "body too large (at most %zu bytes)",
		     AF_DEVICE_BODY_MAX);
		return AF_DEVICE_BAD_REQUEST;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		char why[sizeof(jerr.text)];

		/* The place, never the content: it may be an enrollment code.
		 */
		af_json_why(jerr.text, why, sizeof(why));
		errf(err, errlen, "malformed JSON at line %d column %d: %.80s",
		     jerr.line, jerr.column, why);
		return AF_DEVICE_BAD_REQUEST;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		errf(err, errlen, "the body must be a JSON object");
		return AF_DEVICE_BAD_REQUEST;
	}
	*out = o;
	return AF_DEVICE_OK;
}

/* 1 when s (n bytes) is printable ASCII (no control or 8-bit bytes). */
/* Printable ASCII without spaces. */
static int visible(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	}
	return 1;
}

/*
 * An optional string member of 1..max bytes: 1 with *out (lent, NULL when
 * absent), or 0 with a reason in err: printable ASCII without spaces, or
 * with utf8 any text a person can read.
 */
static int opt_string(const json_t *body, const char *key, size_t max, int utf8,
		      const char **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(body, key);
	size_t n;

	*out = NULL;
	if (v == NULL)
		return 1;
	n = json_string_length(v);
	if (!json_is_string(v) || n == 0 || n > max) {
		errf(err, errlen, "%s: a string of 1 to %zu bytes", key, max);
		return 0;
	}
	/* Device names are typed by people and may hold any script. */
	if (utf8 ? af_utf8_display_chars(json_string_value(v), n) < 0
		 : !visible(json_string_value(v), n)) {
		errf(err, errlen,
		     utf8 ? "%s: holds characters that are not allowed"
			  : "%s: printable ASCII without spaces only",
		     key);
		return 0;
	}
	/* A name that shows nothing cannot tell one phone from another. */
	if (utf8 && af_utf8_blank(json_string_value(v), n)) {
		errf(err, errlen,
		     "%s: shows nothing (only spaces or marks with no "
		     "letter)",
		     key);
		return 0;
	}
	*out = json_string_value(v);
	return 1;
}

/* An optional boolean: 1 with *out (dflt when absent), or 0. */
static int opt_bool(const json_t *body, const char *key, int dflt, int *out,
		    char *err, size_t errlen)
{
	const json_t *v = json_object_get(body, key);

	*out = dflt;
	if (v == NULL)
		return 1;
	if (!json_is_boolean(v)) {
		errf(err, errlen, "%s: true or false", key);
		return 0;
	}
	*out = json_is_true(v);
	return 1;
}

static int platform_known(const char *p)
{
	return strcmp(p, "apns") == 0 || strcmp(p, "fcm") == 0 ||
	       strcmp(p, "none") == 0;
}

/* The platform member: 1 with *out (NULL when absent), or 0. */
static int opt_platform(const json_t *body, const char **out, char *err,
			size_t errlen)
{
	if (!opt_string(body, "platform", 8, 0, out, err, errlen))
		return 0;
	if (*out != NULL && !platform_known(*out)) {
		errf(err, errlen, "platform: one of apns, fcm, none");
		return 0;
	}
	return 1;
}

static int b64url_coord_ok(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t i;

	/* 43 characters of base64url are the 32 bytes of a coordinate. */
	if (s == NULL || json_string_length(v) != 43)
		return 0;
	for (i = 0; i < 43; i++) {
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	}
	return 1;
}

/*
 * The public_key member: its public members only, as a new object into
 * *out. 1, or 0 with a reason (and *out NULL). A key with the private
 * member "d" is refused: the private key must never leave the phone, and
 * storing one would turn the server into a place to steal it from.
 */
static int public_key(const json_t *body, json_t **out, char *err,
		      size_t errlen)
{
	const json_t *jwk = json_object_get(body, "public_key");
	const char *kty, *crv;

	*out = NULL;
	if (!json_is_object(jwk)) {
		errf(err, errlen, "public_key: required, a JWK object");
		return 0;
	}
	if (json_object_get(jwk, "d") != NULL) {
		errf(err, errlen, "public_key: must not hold the private key");
		return 0;
	}
	kty = json_string_value(json_object_get(jwk, "kty"));
	crv = json_string_value(json_object_get(jwk, "crv"));
	if (kty == NULL || strcmp(kty, "EC") != 0 || crv == NULL ||
	    strcmp(crv, "P-256") != 0) {
		errf(err, errlen, "public_key: kty must be EC, crv P-256");
		return 0;
	}
	if (!b64url_coord_ok(json_object_get(jwk, "x")) ||
	    !b64url_coord_ok(json_object_get(jwk, "y"))) {
		errf(err, errlen,
		     "public_key: x and y must be base64url of 32 bytes");
		return 0;
	}
	*out = json_pack("{s:s, s:s, s:O, s:O}", "kty", "EC", "crv", "P-256",
			 "x", json_object_get(jwk, "x"), "y",
			 json_object_get(jwk, "y"));
	if (*out == NULL) {
		errf(err, errlen, "out of memory");
		return 0;
	}
	return 1;
}

/* The code member into code; 1, or 0 with a reason. */
static int enroll_code(const json_t *body, char *code, size_t codecap,
		       char *err, size_t errlen)
{
	const json_t *v = json_object_get(body, "code");
	size_t i, n = json_string_length(v);
	const char *s = json_string_value(v);

	if (s == NULL || n == 0 || n > AF_DEVICE_CODE_MAX || n >= codecap) {
		errf(err, errlen, "code: required, a string of 1 to %d bytes",
		     AF_DEVICE_CODE_MAX);
		return 0;
	}
	/* Codes are base32, grouped by spaces or dashes as people read
	 * them out; never controls. */
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) {
			errf(err, errlen, "code: malformed");
			return 0;
		}
	}
	memcpy(code, s, n);
	code[n] = '\0';
	return 1;
}

/* Fills spec from the body's optional members; 1, or 0 with a reason. */
static int enroll_members(const json_t *body, json_t *spec, char *err,
			  size_t errlen)
{
	const char *platform, *token, *version, *name;
	int sandbox;

	if (!opt_platform(body, &platform, err, errlen) ||
	    !opt_string(body, "push_token", AF_MFA_PUSH_TOKEN_MAX, 0, &token,
			err, errlen) ||
	    !opt_bool(body, "sandbox", 0, &sandbox, err, errlen) ||
	    !opt_string(body, "app_version", AF_MFA_APP_VERSION_MAX, 0,
			&version, err, errlen) ||
	    !opt_string(body, "device_name", AF_MFA_DEVICE_NAME_MAX, 1, &name,
			err, errlen))
		return 0;
	if (platform == NULL) {
		errf(err, errlen, "platform: required, apns, fcm or none");
		return 0;
	}
	if (token == NULL && strcmp(platform, "none") != 0) {
		errf(err, errlen, "push_token: required for %s", platform);
		return 0;
	}
	if (json_object_set_new(spec, "platform", json_string(platform)) != 0 ||
	    json_object_set_new(spec, "sandbox", json_boolean(sandbox)) != 0 ||
	    (token != NULL && json_object_set_new(spec, "push_token",
						  json_string(token)) != 0) ||
	    (version != NULL &&
	     json_object_set_new(spec, "app_version", json_string(version)) !=
		     0) ||
	    (name != NULL && json_object_set_new(spec, "device_name",
						 json_string(name)) != 0)) {
		errf(err, errlen, "out of memory");
		return 0;
	}
	return 1;
}

af_device_status af_device_enroll_check(const json_t *body, char *code,
					size_t codecap, json_t **spec,
					char *err, size_t errlen)
{
	json_t *s = NULL, *jwk = NULL;

	if (spec == NULL)
		return AF_DEVICE_BAD_REQUEST;
	*spec = NULL;
	if (!json_is_object(body) || code == NULL || codecap == 0) {
		errf(err, errlen, "the body must be a JSON object");
		return AF_DEVICE_BAD_REQUEST;
	}
	code[0] = '\0';
	if (!enroll_code(body, code, codecap, err, errlen) ||
	    !public_key(body, &jwk, err, errlen))
		goto bad;
	s = json_object();
	if (s == NULL)
		goto nomem;
	/* set_new takes jwk even when it fails. */
	if (json_object_set_new(s, "public_key", jwk) != 0) {
		jwk = NULL;
		goto nomem;
	}
	jwk = NULL;
	if (!enroll_members(body, s, err, errlen))
		goto bad;
	*spec = s;
	return AF_DEVICE_OK;
nomem:
	json_decref(jwk);
	json_decref(s);
	OPENSSL_cleanse(code, codecap);
	return AF_DEVICE_INTERNAL;
bad:
	json_decref(jwk);
	json_decref(s);
	OPENSSL_cleanse(code, codecap);
	return AF_DEVICE_BAD_REQUEST;
}

/* 1 when s is 1..AF_DEVICE_NUMBER_MAX decimal digits. */
static int digits_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > AF_DEVICE_NUMBER_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return 1;
}

af_device_status af_device_decision_check(const json_t *body,
					  const char **decision,
					  const char **number, char *err,
					  size_t errlen)
{
	const json_t *d, *num;

	if (decision == NULL || number == NULL)
		return AF_DEVICE_BAD_REQUEST;
	*decision = NULL;
	*number = NULL;
	if (!json_is_object(body)) {
		errf(err, errlen, "the body must be a JSON object");
		return AF_DEVICE_BAD_REQUEST;
	}
	d = json_object_get(body, "decision");
	if (!json_is_string(d) ||
	    (strcmp(json_string_value(d), "approve") != 0 &&
	     strcmp(json_string_value(d), "deny") != 0 &&
	     strcmp(json_string_value(d), "report") != 0)) {
		errf(err, errlen,
		     "decision: required, one of approve, deny, report");
		return AF_DEVICE_BAD_REQUEST;
	}
	num = json_object_get(body, "number");
	if (num != NULL &&
	    (!json_is_string(num) ||
	     !digits_ok(json_string_value(num), json_string_length(num)))) {
		errf(err, errlen, "number: a string of 1 to %d digits",
		     AF_DEVICE_NUMBER_MAX);
		return AF_DEVICE_BAD_REQUEST;
	}
	*decision = json_string_value(d);
	*number = json_string_value(num);
	return AF_DEVICE_OK;
}

af_device_status af_device_push_token_check(const json_t *body, json_t **patch,
					    char *err, size_t errlen)
{
	const char *token, *platform, *version;
	json_t *p;
	int sandbox;

	if (patch == NULL)
		return AF_DEVICE_BAD_REQUEST;
	*patch = NULL;
	if (!json_is_object(body)) {
		errf(err, errlen, "the body must be a JSON object");
		return AF_DEVICE_BAD_REQUEST;
	}
	if (!opt_string(body, "push_token", AF_MFA_PUSH_TOKEN_MAX, 0, &token,
			err, errlen) ||
	    !opt_platform(body, &platform, err, errlen) ||
	    !opt_bool(body, "sandbox", -1, &sandbox, err, errlen) ||
	    !opt_string(body, "app_version", AF_MFA_APP_VERSION_MAX, 0,
			&version, err, errlen))
		return AF_DEVICE_BAD_REQUEST;
	/*
	 * A token is needed to move to apns or fcm; to change only the app
	 * version or the sandbox flag, or to go to platform none, the old
	 * token (and whether it is valid) stays.
	 */
	if (token == NULL &&
	    ((platform != NULL && strcmp(platform, "none") != 0) ||
	     (platform == NULL && sandbox < 0 && version == NULL))) {
		errf(err, errlen,
		     "push_token: required%s, a string of 1 to %d bytes",
		     platform != NULL ? " with platform apns or fcm" : "",
		     AF_MFA_PUSH_TOKEN_MAX);
		return AF_DEVICE_BAD_REQUEST;
	}
	p = token != NULL ? json_pack("{s:s, s:b}", "push_token", token,
				      "push_token_valid", 1)
			  : json_object();
	if (p == NULL ||
	    (platform != NULL &&
	     json_object_set_new(p, "platform", json_string(platform)) != 0) ||
	    (sandbox >= 0 &&
	     json_object_set_new(p, "sandbox", json_boolean(sandbox)) != 0) ||
	    (version != NULL &&
	     json_object_set_new(p, "app_version", json_string(version)) !=
		     0)) {
		json_decref(p);
		errf(err, errlen, "out of memory");
		return AF_DEVICE_INTERNAL;
	}
	*patch = p;
	return AF_DEVICE_OK;
}
