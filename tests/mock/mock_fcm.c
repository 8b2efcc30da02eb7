/*
 * mock_fcm: a stand-in for Google's OAuth token endpoint and the Firebase
 * Cloud Messaging HTTP v1 API for authflow's push tests. POST /token
 * checks the service account's RS256 assertion as Google does and issues
 * access tokens; POST /v1/projects/<id>/messages:send checks the bearer
 * token and the message, then follows the test's script of answers per
 * push token. Errors come in Google's shape. See README.md beside this
 * file.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "h2server.h"
#include "mock_common.h"
#include "mock_jwt.h"

#define FCM_BODY_MAX	       ((size_t)64 * 1024)
/* FCM refuses data messages larger than this. */
#define FCM_DATA_MAX	       4096
#define FCM_PUSH_TOKEN_MAX     4096
/* Four weeks: the longest Android TTL FCM accepts. */
#define FCM_TTL_MAX_S	       2419200
/* Google refuses assertions that live longer than an hour. */
#define ASSERTION_LIFETIME_MAX 3600
#define IAT_SKEW_S	       300
/* Access tokens remembered at once. */
#define ISSUED_MAX	       4096
#define ACCESS_TOKEN_BYTES     32
#define ACCESS_TOKEN_PREFIX    "ya29.mock"
#define SA_FILE_MAX	       ((size_t)64 * 1024)
#define DEFAULT_MAX_STREAMS    100
#define DEFAULT_TOKEN_TTL_S    3600
#define SCOPE_FCM	       "https://www.googleapis.com/auth/firebase.messaging"
#define SCOPE_CLOUD	       "https://www.googleapis.com/auth/cloud-platform"
#define SEND_PREFIX	       "/v1/projects/"
#define SEND_SUFFIX	       "/messages:send"
#define GRANT_JWT	       "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define FCM_ERROR_TYPE	       "type.googleapis.com/google.firebase.fcm.v1.FcmError"
#define BAD_REQUEST_TYPE       "type.googleapis.com/google.rpc.BadRequest"
/* The script's key for answers of the token endpoint. */
#define TOKEN_SCRIPT_KEY       "@token"
#define UNAUTH_MESSAGE                                                      \
	"Request had invalid authentication credentials. Expected OAuth 2 " \
	"access token, login cookie or other valid authentication "         \
	"credential. See "                                                  \
	"https://developers.google.com/identity/sign-in/web/devconsole-project."
/* Longest message text of a validation error. */
#define ERR_TEXT_MAX 256
#define URI_MAX	     128

typedef struct fcm_ctx {
	json_t *sa; /* the service account, private_key removed */
	const char *client_email, *project_id, *token_uri, *private_key_id;
	EVP_PKEY *pub;
	json_t *issued; /* access token -> expiry (ms since the epoch) */
	uint64_t ttl_s;
	char self_uri[2][URI_MAX]; /* our own /token, by IP and by name */
	FILE *log;
	json_t *script;
} fcm_ctx;

typedef struct fcm_err {
	const char *code;
	int http;
	const char *status;
	const char *message;
} fcm_err;

static const fcm_err FCM_ERRORS[] = {
	{"UNREGISTERED", 404, "NOT_FOUND", "Requested entity was not found."},
	{"INVALID_ARGUMENT", 400, "INVALID_ARGUMENT",
	 "Request contains an invalid argument."},
	{"SENDER_ID_MISMATCH", 403, "PERMISSION_DENIED", "SenderId mismatch"},
	{"QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED",
	 "Quota exceeded for quota metric 'Send requests' and limit 'Send "
	 "requests per minute' of service 'fcm.googleapis.com'."},
	{"UNAVAILABLE", 503, "UNAVAILABLE",
	 "The service is currently unavailable."},
	{"INTERNAL", 500, "INTERNAL", "Internal error encountered."},
	{"THIRD_PARTY_AUTH_ERROR", 401, "UNAUTHENTICATED",
	 "Auth error from APNS or Web Push Service"},
};

/* A validation failure: a BadRequest field violation, or an FcmError. */
typedef struct verr {
	int fcm; /* 1: FcmError INVALID_ARGUMENT; 0: BadRequest */
	char field[ERR_TEXT_MAX];
	char msg[ERR_TEXT_MAX];
} verr;

static const fcm_err *err_by_code(const char *code)
{
	size_t i;

	for (i = 0;
	     code != NULL && i < sizeof(FCM_ERRORS) / sizeof(*FCM_ERRORS); i++)
		if (strcmp(FCM_ERRORS[i].code, code) == 0)
			return &FCM_ERRORS[i];
	return NULL;
}

static const fcm_err *err_by_http(int http)
{
	size_t i;

	for (i = 0; i < sizeof(FCM_ERRORS) / sizeof(*FCM_ERRORS); i++)
		if (FCM_ERRORS[i].http == http)
			return &FCM_ERRORS[i];
	return NULL;
}

/* ---- answers ---- */

static void send_json(h2s_response *resp, int status, json_t *body,
		      long long retry_after)
{
	char num[24], *text = NULL;

	if (body == NULL)
		goto fail;
	text = json_dumps(body, JSON_COMPACT);
	if (text == NULL || h2s_response_status(resp, status) != H2S_OK ||
	    h2s_response_header(resp, "content-type",
				"application/json; charset=UTF-8") != H2S_OK ||
	    h2s_response_body(resp, text, strlen(text)) != H2S_OK)
		goto fail;
	if (retry_after >= 0) {
		snprintf(num, sizeof(num), "%lld", retry_after);
		if (h2s_response_header(resp, "retry-after", num) != H2S_OK)
			goto fail;
	}
	goto out;
fail:
	/* Leaving the status unset makes the core answer 500. */
	if (h2s_response_status(resp, 500) != H2S_OK)
		goto out;
out:
	free(text);
	json_decref(body);
}

/*
 * Google's error shape. detail is NULL or a details array entry (stolen).
 */
static void google_error(h2s_response *resp, int code, const char *status,
			 const char *message, json_t *detail,
			 long long retry_after)
{
	json_t *err = json_pack("{s:i,s:s,s:s}", "code", code, "message",
				message, "status", status);

	if (err != NULL && detail != NULL &&
	    json_object_set_new(err, "details", json_pack("[o]", detail)) == 0)
		detail = NULL;
	json_decref(detail);
	send_json(resp, code, json_pack("{s:o}", "error", err), retry_after);
}

static json_t *fcm_detail(const char *code)
{
	return json_pack("{s:s,s:s}", "@type", FCM_ERROR_TYPE, "errorCode",
			 code);
}

static void fcm_error(h2s_response *resp, const fcm_err *e, int http,
		      long long retry_after)
{
	google_error(resp, http, e->status, e->message, fcm_detail(e->code),
		     retry_after);
}

static void unauthenticated(h2s_response *resp)
{
	google_error(resp, 401, "UNAUTHENTICATED", UNAUTH_MESSAGE, NULL, -1);
}

static void invalid(h2s_response *resp, const verr *e)
{
	json_t *d;

	if (e->fcm)
		d = fcm_detail("INVALID_ARGUMENT");
	else
		d = json_pack("{s:s,s:[{s:s,s:s}]}", "@type", BAD_REQUEST_TYPE,
			      "fieldViolations", "field", e->field,
			      "description", e->msg);
	google_error(resp, 400, "INVALID_ARGUMENT", e->msg, d, -1);
}

static void oauth_error(h2s_response *resp, const char *error, const char *desc)
{
	send_json(resp, 400,
		  json_pack("{s:s,s:s}", "error", error, "error_description",
			    desc),
		  -1);
}

/* ---- the token endpoint ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Finds name in an x-www-form-urlencoded body and decodes its value into
 * out. 0 when found, 1 when absent, -1 when malformed or too long.
 */
static int form_get(const char *body, size_t len, const char *name, char *out,
		    size_t cap)
{
	size_t nlen = strlen(name), i = 0, o = 0, end = 0;
	const char *amp;
	int hi, lo;

	while (i < len) {
		amp = memchr(body + i, '&', len - i);
		end = amp != NULL ? (size_t)(amp - body) : len;
		if (end - i > nlen && memcmp(body + i, name, nlen) == 0 &&
		    body[i + nlen] == '=')
			break;
		i = end + 1;
	}
	if (i >= len)
		return 1;
	for (i += nlen + 1; i < end; i++) {
		if (o + 1 >= cap)
			return -1;
		if (body[i] == '+') {
			out[o++] = ' ';
		} else if (body[i] == '%') {
			if (end - i < 3)
				return -1;
			hi = hexval(body[i + 1]);
			lo = hexval(body[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = body[i];
		}
	}
	out[o] = '\0';
	return 0;
}

static int scope_ok(const char *scope)
{
	const char *p = scope, *sp;
	size_t n;

	while (*p != '\0') {
		sp = strchr(p, ' ');
		n = sp != NULL ? (size_t)(sp - p) : strlen(p);
		if ((n == strlen(SCOPE_FCM) && memcmp(p, SCOPE_FCM, n) == 0) ||
		    (n == strlen(SCOPE_CLOUD) &&
		     memcmp(p, SCOPE_CLOUD, n) == 0))
			return 1;
		p += n;
		while (*p == ' ')
			p++;
	}
	return 0;
}

static int aud_ok(const fcm_ctx *f, const char *aud)
{
	return aud != NULL &&
	       ((f->token_uri != NULL && strcmp(aud, f->token_uri) == 0) ||
		strcmp(aud, f->self_uri[0]) == 0 ||
		strcmp(aud, f->self_uri[1]) == 0);
}

/*
 * Checks a service account assertion as Google does. Returns NULL when
 * it is good, else the OAuth error code with its description in *desc.
 */
static const char *check_assertion(const fcm_ctx *f, const char *jwt,
				   const char **desc)
{
	json_t *h = NULL, *c = NULL;
	const char *kid, *err = "invalid_grant";
	json_int_t iat, exp, now = af_now();

	*desc = "Invalid JWT Signature.";
	if (mjwt_verify(jwt, strlen(jwt), MJWT_RS256, f->pub, &h, &c) !=
	    MJWT_OK)
		goto out;
	kid = json_string_value(json_object_get(h, "kid"));
	if (kid != NULL && f->private_key_id != NULL &&
	    strcmp(kid, f->private_key_id) != 0)
		goto out;
	*desc = "Invalid email or User ID";
	if (!json_is_string(json_object_get(c, "iss")) ||
	    strcmp(json_string_value(json_object_get(c, "iss")),
		   f->client_email) != 0)
		goto out;
	*desc = "Invalid JWT: Failed audience check.";
	if (!aud_ok(f, json_string_value(json_object_get(c, "aud"))))
		goto out;
	*desc = "Invalid JWT: Token must be a short-lived token (60 minutes) "
		"and in a reasonable timeframe. Check your iat and exp values "
		"in the JWT claim.";
	if (!json_is_integer(json_object_get(c, "iat")) ||
	    !json_is_integer(json_object_get(c, "exp")))
		goto out;
	iat = json_integer_value(json_object_get(c, "iat"));
	exp = json_integer_value(json_object_get(c, "exp"));
	if (exp <= iat || exp - iat > ASSERTION_LIFETIME_MAX ||
	    iat > now + IAT_SKEW_S || exp <= now)
		goto out;
	err = "invalid_scope";
	*desc = "Invalid OAuth scope or ID token audience provided.";
	if (!json_is_string(json_object_get(c, "scope")) ||
	    !scope_ok(json_string_value(json_object_get(c, "scope"))))
		goto out;
	err = NULL;
	*desc = NULL;
out:
	json_decref(h);
	json_decref(c);
	return err;
}

/* Drops expired access tokens. */
static void issued_purge(fcm_ctx *f)
{
	json_int_t now = af_now_ms();
	const char *key;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(f->issued, tmp, key,
				 v) if (json_integer_value(v) <= now)(void)
		json_object_del(f->issued, key);
}

/* announced: the expires_in said to the client (the script's, or ttl). */
static void issue_token(fcm_ctx *f, h2s_response *resp, json_int_t announced)
{
	char rnd[64], tok[96];
	json_int_t now = af_now_ms();

	if (json_object_size(f->issued) >= ISSUED_MAX)
		issued_purge(f);
	if (json_object_size(f->issued) >= ISSUED_MAX ||
	    af_random_token(ACCESS_TOKEN_BYTES, rnd, sizeof(rnd)) != 0) {
		send_json(
			resp, 503,
			json_pack("{s:s}", "error", "temporarily_unavailable"),
			-1);
		return;
	}
	snprintf(tok, sizeof(tok), "%s.%s", ACCESS_TOKEN_PREFIX, rnd);
	if (json_object_set_new(
		    f->issued, tok,
		    json_integer(now + (json_int_t)f->ttl_s * 1000)) != 0)
		return; /* no status: the core answers 500 */
	if (mock_log_line(f->log, json_pack("{s:s,s:I}", "access_token_issued",
					    tok, "ts", now)) != 0)
		fprintf(stderr, "mock_fcm: cannot write the log\n");
	send_json(resp, 200,
		  json_pack("{s:s,s:I,s:s}", "access_token", tok, "expires_in",
			    announced, "token_type", "Bearer"),
		  -1);
}

/*
 * The token endpoint's scripted answer: a token (with the script's
 * expires_in when it has one), or an OAuth error for another status; then
 * the script's body, fault and filler.
 */
static void scripted_token(fcm_ctx *f, const json_t *ans, h2s_response *resp)
{
	long long status = mock_answer_int(ans, "status", 200);
	const char *error = json_string_value(json_object_get(ans, "error"));

	if (mock_answer_shape(ans, resp) != 0)
		return; /* no status: the core answers 500 */
	if (status == 200)
		issue_token(f, resp,
			    (json_int_t)mock_answer_int(ans, "expires_in",
							(long long)f->ttl_s));
	else
		send_json(resp, (int)status,
			  json_pack("{s:s,s:s}", "error",
				    error != NULL ? error : "invalid_grant",
				    "error_description", "Scripted error."),
			  mock_answer_int(ans, "retry_after", -1));
	if (mock_answer_override(ans, resp) != 0 &&
	    h2s_response_status(resp, 500) != H2S_OK)
		fprintf(stderr, "mock_fcm: cannot answer\n");
}

static void handle_token(fcm_ctx *f, const h2s_request *req, h2s_response *resp)
{
	const char *ctype = h2s_request_header(req, "content-type");
	const char *body = (const char *)req->body, *err, *desc;
	char grant[128], assertion[MOCK_JWT_MAX + 1];
	json_t *ans;
	int rc;

	if (strcmp(req->method, "POST") != 0 || req->body_truncated ||
	    ctype == NULL ||
	    strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0) {
		oauth_error(resp, "invalid_request", "Bad Request");
		return;
	}
	rc = form_get(body, req->body_len, "grant_type", grant, sizeof(grant));
	if (rc != 0) {
		oauth_error(resp, "invalid_request",
			    "Missing required parameter: grant_type");
		return;
	}
	if (strcmp(grant, GRANT_JWT) != 0) {
		oauth_error(resp, "unsupported_grant_type",
			    "Invalid grant_type");
		return;
	}
	rc = form_get(body, req->body_len, "assertion", assertion,
		      sizeof(assertion));
	if (rc != 0) {
		oauth_error(resp, rc > 0 ? "invalid_request" : "invalid_grant",
			    rc > 0 ? "Missing required parameter: assertion"
				   : "Invalid JWT Signature.");
		return;
	}
	err = check_assertion(f, assertion, &desc);
	if (err != NULL) {
		oauth_error(resp, err, desc);
		return;
	}
	ans = mock_script_next(f->script, TOKEN_SCRIPT_KEY);
	if (ans != NULL)
		scripted_token(f, ans, resp);
	else
		issue_token(f, resp, (json_int_t)f->ttl_s);
	json_decref(ans);
}

/* ---- messages:send ---- */

/* The bearer token of req when this mock issued it and it is live. */
static const char *bearer(fcm_ctx *f, const h2s_request *req)
{
	const char *auth = h2s_request_header(req, "authorization"), *tok;
	json_t *exp;

	if (auth == NULL || strncasecmp(auth, "bearer ", 7) != 0)
		return NULL;
	tok = auth + 7;
	exp = json_object_get(f->issued, tok);
	if (exp == NULL)
		return NULL;
	if (json_integer_value(exp) <= af_now_ms()) {
		(void)json_object_del(f->issued, tok);
		return NULL;
	}
	return tok;
}

static int fail(verr *e, int fcm, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(verr *e, int fcm, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->fcm = fcm;
	snprintf(e->field, sizeof(e->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Refuses members of obj not in names (a NULL-terminated list). */
static int known_fields(json_t *obj, const char *const *names,
			const char *where, verr *e)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v)
	{
		for (i = 0; names[i] != NULL; i++)
			if (strcmp(key, names[i]) == 0)
				break;
		if (names[i] == NULL)
			return fail(
				e, 0, where,
				"Invalid JSON payload received. Unknown "
				"name \"%.64s\" at '%s': Cannot find field.",
				key, where);
	}
	return 0;
}

static int reserved_key(const char *k)
{
	return strcmp(k, "from") == 0 || strcmp(k, "notification") == 0 ||
	       strcmp(k, "message_type") == 0 ||
	       strncmp(k, "google.", 7) == 0 || strncmp(k, "gcm.", 4) == 0;
}

static int check_data(json_t *data, const char *where, int reserved, verr *e)
{
	const char *key;
	json_t *v;
	size_t i = 0, total = 0;

	if (data == NULL)
		return 0;
	if (!json_is_object(data))
		return fail(e, 0, where,
			    "Invalid value at '%s' (type.googleapis.com/"
			    "google.protobuf.Map), not an object",
			    where);
	json_object_foreach(data, key, v)
	{
		if (!json_is_string(v))
			return fail(e, 0, where,
				    "Invalid value at '%s[%zu].value' "
				    "(TYPE_STRING), not a string",
				    where, i);
		if (reserved && reserved_key(key))
			return fail(e, 1, where,
				    "Invalid data payload key: %.64s", key);
		total += strlen(key) + json_string_length(v);
		i++;
	}
	if (total > FCM_DATA_MAX)
		return fail(e, 1, where, "Android message is too big");
	return 0;
}

/* A protobuf Duration in JSON: digits, up to 9 decimals, then "s". */
static int ttl_ok(const char *t)
{
	uint64_t secs = 0;
	size_t i = 0, frac = 0;

	if (t[0] < '0' || t[0] > '9')
		return 0;
	for (; t[i] >= '0' && t[i] <= '9'; i++) {
		if (secs > FCM_TTL_MAX_S)
			return 0;
		secs = secs * 10 + (uint64_t)(t[i] - '0');
	}
	if (t[i] == '.')
		for (i++; t[i] >= '0' && t[i] <= '9'; i++)
			frac++;
	if (t[i] != 's' || t[i + 1] != '\0' || frac > 9)
		return 0;
	return secs <= FCM_TTL_MAX_S ? 1 : 2;
}

static int check_android(json_t *a, verr *e)
{
	static const char *const names[] = {
		"collapse_key",
		"collapseKey",
		"priority",
		"ttl",
		"restricted_package_name",
		"restrictedPackageName",
		"data",
		"notification",
		"fcm_options",
		"fcmOptions",
		"direct_boot_ok",
		"directBootOk",
		NULL,
	};
	json_t *prio, *ttl, *ck;
	int t;

	if (a == NULL)
		return 0;
	if (!json_is_object(a))
		return fail(e, 0, "message.android",
			    "Invalid value at 'message.android', not an "
			    "object");
	if (known_fields(a, names, "message.android", e) != 0)
		return -1;
	prio = json_object_get(a, "priority");
	if (prio != NULL && (!json_is_string(prio) ||
			     (strcmp(json_string_value(prio), "HIGH") != 0 &&
			      strcmp(json_string_value(prio), "NORMAL") != 0)))
		return fail(e, 0, "message.android.priority",
			    "Invalid value at 'message.android.priority' "
			    "(type.googleapis.com/google.firebase.fcm.v1."
			    "AndroidMessagePriority)");
	ttl = json_object_get(a, "ttl");
	t = ttl == NULL		  ? 1
	    : json_is_string(ttl) ? ttl_ok(json_string_value(ttl))
				  : 0;
	if (t == 0)
		return fail(e, 0, "message.android.ttl",
			    "Invalid value at 'message.android.ttl' "
			    "(type.googleapis.com/google.protobuf.Duration)");
	if (t == 2)
		return fail(e, 1, "message.android.ttl",
			    "TTL must not exceed 4 weeks (2419200s)");
	ck = json_object_get(a, "collapse_key");
	if (ck == NULL)
		ck = json_object_get(a, "collapseKey");
	if (ck != NULL && !json_is_string(ck))
		return fail(e, 0, "message.android.collapse_key",
			    "Invalid value at 'message.android.collapse_key' "
			    "(TYPE_STRING)");
	return check_data(json_object_get(a, "data"), "message.android.data", 0,
			  e);
}

static int push_token_ok(const char *t)
{
	size_t n;

	for (n = 0; t[n] != '\0'; n++) {
		char c = t[n];

		if (n >= FCM_PUSH_TOKEN_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == ':' || c == '.'))
			return 0;
	}
	return n > 0;
}

/* Checks a send request body; *msg lends its "message" member. */
static int check_body(json_t *body, json_t **msg, const char **token,
		      int *validate_only, verr *e)
{
	static const char *const top[] = {"message", "validate_only",
					  "validateOnly", NULL};
	static const char *const names[] = {
		"name",	   "data",  "notification", "android",
		"webpush", "apns",  "fcm_options",  "fcmOptions",
		"token",   "topic", "condition",    NULL,
	};
	json_t *m, *tok, *vo;

	if (!json_is_object(body))
		return fail(e, 0, "", "Invalid JSON payload received.");
	if (known_fields(body, top, "", e) != 0)
		return -1;
	vo = json_object_get(body, "validate_only");
	if (vo == NULL)
		vo = json_object_get(body, "validateOnly");
	*validate_only = json_is_true(vo);
	m = json_object_get(body, "message");
	if (!json_is_object(m))
		return fail(e, 1, "message", "Message must be set.");
	if (known_fields(m, names, "message", e) != 0)
		return -1;
	tok = json_object_get(m, "token");
	if (tok == NULL)
		return fail(e, 1, "message.token",
			    "Recipient of the message is not set.");
	if (!json_is_string(tok))
		return fail(e, 0, "message.token",
			    "Invalid value at 'message.token' (TYPE_STRING)");
	if (!push_token_ok(json_string_value(tok)))
		return fail(e, 1, "message.token",
			    "The registration token is not a valid FCM "
			    "registration token");
	if (json_object_get(m, "topic") != NULL ||
	    json_object_get(m, "condition") != NULL)
		return fail(e, 0, "message",
			    "Invalid JSON payload received. Only one of "
			    "token, topic or condition may be set.");
	if (check_data(json_object_get(m, "data"), "message.data", 1, e) != 0 ||
	    check_android(json_object_get(m, "android"), e) != 0)
		return -1;
	*msg = m;
	*token = json_string_value(tok);
	return 0;
}

/* Answers as the script says; returns 1 when it answered with an error. */
static int scripted_error(fcm_ctx *f, const json_t *ans, const char *access,
			  h2s_response *resp)
{
	long long status = mock_answer_int(ans, "status", 0);
	long long retry_after = mock_answer_int(ans, "retry_after", -1);
	const fcm_err *e =
		err_by_code(json_string_value(json_object_get(ans, "error")));

	if (mock_answer_shape(ans, resp) != 0)
		return 0;
	if ((status == 0 && e == NULL) || status == 200)
		return 0;
	if (status == 401 && e == NULL) {
		/* The access token "expired": it stays refused from now on. */
		(void)json_object_del(f->issued, access);
		unauthenticated(resp);
		return 1;
	}
	if (e == NULL)
		e = err_by_http((int)status);
	if (e == NULL) {
		google_error(resp, (int)status, "UNKNOWN", "Unknown error.",
			     NULL, retry_after);
		return 1;
	}
	fcm_error(resp, e, status != 0 ? (int)status : e->http, retry_after);
	return 1;
}

static void handle_send(fcm_ctx *f, const h2s_request *req, const char *project,
			size_t plen, h2s_response *resp)
{
	json_t *body = NULL, *msg = NULL, *ans = NULL;
	const char *access, *token = NULL;
	char name[512], rnd[32], denied[ERR_TEXT_MAX];
	int validate_only = 0;
	verr e;

	access = bearer(f, req);
	if (access == NULL) {
		unauthenticated(resp);
		return;
	}
	if (plen != strlen(f->project_id) ||
	    memcmp(project, f->project_id, plen) != 0) {
		snprintf(denied, sizeof(denied),
			 "Permission 'cloudmessaging.messages.create' denied "
			 "on resource '//cloudresourcemanager.googleapis.com/"
			 "projects/%.*s' (or it may not exist).",
			 (int)(plen > 64 ? 64 : plen), project);
		google_error(resp, 403, "PERMISSION_DENIED", denied, NULL, -1);
		return;
	}
	memset(&e, 0, sizeof(e));
	if (req->body_truncated) {
		(void)fail(&e, 0, "",
			   "Request payload size exceeds the limit.");
		invalid(resp, &e);
		return;
	}
	body = json_loadb((const char *)req->body, req->body_len,
			  JSON_REJECT_DUPLICATES, NULL);
	if (check_body(body, &msg, &token, &validate_only, &e) != 0) {
		invalid(resp, &e);
		goto out;
	}
	ans = mock_script_next(f->script, token);
	if (ans != NULL && scripted_error(f, ans, access, resp))
		goto out;
	if (validate_only) {
		snprintf(rnd, sizeof(rnd), "fake_message_id");
	} else if (af_random_token(12, rnd, sizeof(rnd)) != 0) {
		goto out; /* no status: the core answers 500 */
	} else if (mock_log_line(f->log,
				 json_pack("{s:I,s:s,s:O}", "ts",
					   (json_int_t)af_now_ms(), "token",
					   token, "message", msg)) != 0) {
		fprintf(stderr, "mock_fcm: cannot write the log\n");
	}
	snprintf(name, sizeof(name), "projects/%s/messages/%s", f->project_id,
		 rnd);
	send_json(resp, 200, json_pack("{s:s}", "name", name), -1);
out:
	/* Without the scripted body the answer would lie: make it a 500. */
	if (ans != NULL && mock_answer_override(ans, resp) != 0 &&
	    h2s_response_status(resp, 500) != H2S_OK)
		fprintf(stderr, "mock_fcm: cannot answer\n");
	json_decref(ans);
	json_decref(body);
}

static void handle(void *arg, const h2s_request *req, h2s_response *resp)
{
	fcm_ctx *f = arg;
	size_t plen = strcspn(req->path, "?"), pre = strlen(SEND_PREFIX);
	size_t suf = strlen(SEND_SUFFIX);

	if (plen == 6 && memcmp(req->path, "/token", 6) == 0) {
		handle_token(f, req, resp);
		return;
	}
	if (strcmp(req->method, "POST") == 0 && plen > pre + suf &&
	    memcmp(req->path, SEND_PREFIX, pre) == 0 &&
	    memcmp(req->path + plen - suf, SEND_SUFFIX, suf) == 0 &&
	    memchr(req->path + pre, '/', plen - pre - suf) == NULL) {
		handle_send(f, req, req->path + pre, plen - pre - suf, resp);
		return;
	}
	google_error(resp, 404, "NOT_FOUND", "Requested entity was not found.",
		     NULL, -1);
}

/* ---- start-up ---- */

static int load_sa(fcm_ctx *f, const char *path)
{
	size_t len = 0;
	char *text = h2s_read_file(path, SA_FILE_MAX, &len);
	const char *pem;
	int rc = -1;

	if (text == NULL) {
		fprintf(stderr, "mock_fcm: cannot read %s\n", path);
		return -1;
	}
	f->sa = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	pem = json_string_value(json_object_get(f->sa, "private_key"));
	f->client_email =
		json_string_value(json_object_get(f->sa, "client_email"));
	f->project_id = json_string_value(json_object_get(f->sa, "project_id"));
	f->token_uri = json_string_value(json_object_get(f->sa, "token_uri"));
	f->private_key_id =
		json_string_value(json_object_get(f->sa, "private_key_id"));
	if (pem == NULL || f->client_email == NULL || f->project_id == NULL ||
	    *f->project_id == '\0') {
		fprintf(stderr,
			"mock_fcm: %s: need private_key, client_email and "
			"project_id\n",
			path);
		goto out;
	}
	if (mjwt_key_from_pem(pem, strlen(pem), MJWT_RS256, &f->pub) !=
	    MJWT_OK) {
		fprintf(stderr,
			"mock_fcm: %s: private_key is not RSA >= 2048\n", path);
		goto out;
	}
	rc = 0;
out:
	/* Only the public half is needed from here on. */
	(void)json_object_del(f->sa, "private_key");
	OPENSSL_clear_free(text, len + 1);
	return rc;
}

typedef struct fcm_args {
	h2s_options o;
	const char *sa, *log, *script;
} fcm_args;

static void usage(FILE *out)
{
	fprintf(out, "usage: mock_fcm --cert PEM --key PEM --sa JSON\n"
		     "         [--port N|0] [--port-file F] [--max-streams N]\n"
		     "         [--log FILE] [--script FILE]\n"
		     "         [--token-ttl SECONDS] [--verbose]\n");
}

static int parse_args(int argc, char **argv, fcm_args *g, fcm_ctx *f)
{
	static const struct option opts[] = {
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"ca", required_argument, NULL, 'A'},
		{"port", required_argument, NULL, 'p'},
		{"port-file", required_argument, NULL, 'f'},
		{"sa", required_argument, NULL, 'S'},
		{"max-streams", required_argument, NULL, 'm'},
		{"log", required_argument, NULL, 'l'},
		{"script", required_argument, NULL, 's'},
		{"token-ttl", required_argument, NULL, 'T'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c, bad = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			g->o.cert_file = optarg;
			break;
		case 'k':
			g->o.key_file = optarg;
			break;
		case 'A':
			break; /* accepted for symmetry with mock_apns */
		case 'p':
			bad |= h2s_parse_u64(optarg, 0, 65535, &v);
			g->o.port = (uint16_t)v;
			break;
		case 'f':
			g->o.port_file = optarg;
			break;
		case 'S':
			g->sa = optarg;
			break;
		case 'm':
			bad |= h2s_parse_u64(optarg, 1, H2S_MAX_STREAMS_MAX,
					     &v);
			g->o.max_streams = (uint32_t)v;
			break;
		case 'l':
			g->log = optarg;
			break;
		case 's':
			g->script = optarg;
			break;
		case 'T':
			bad |= h2s_parse_u64(optarg, 1, 86400, &v);
			f->ttl_s = v;
			break;
		case 'v':
			g->o.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			bad = -1;
		}
	}
	if (bad != 0 || optind != argc || g->o.cert_file == NULL ||
	    g->o.key_file == NULL || g->sa == NULL)
		return -1;
	return 0;
}

/* Scripted "error" names must be ones FCM sends. */
static int check_script_errors(json_t *script)
{
	const char *token, *code;
	json_t *list, *a;
	size_t i;

	json_object_foreach(script, token, list)
	{
		/* The token endpoint's "error" is an OAuth error code. */
		if (strcmp(token, TOKEN_SCRIPT_KEY) == 0)
			continue;
		json_array_foreach(list, i, a)
		{
			code = json_string_value(json_object_get(a, "error"));
			if (code != NULL && err_by_code(code) == NULL) {
				fprintf(stderr,
					"mock_fcm: script: \"%.64s\" answer "
					"%zu: unknown error %.64s\n",
					token, i, code);
				return -1;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	fcm_args g;
	fcm_ctx f;
	h2s_server *srv = NULL;
	h2s_status st;
	char err[512];
	int rc = 1;

	memset(&g, 0, sizeof(g));
	memset(&f, 0, sizeof(f));
	g.o.max_streams = DEFAULT_MAX_STREAMS;
	g.o.body_cap = FCM_BODY_MAX;
	g.o.name = "mock_fcm";
	g.o.handler = handle;
	g.o.handler_arg = &f;
	f.ttl_s = DEFAULT_TOKEN_TTL_S;
	if (parse_args(argc, argv, &g, &f) != 0) {
		usage(stderr);
		return 2;
	}
	if (load_sa(&f, g.sa) != 0)
		goto out;
	if (g.script != NULL) {
		f.script = mock_script_load(g.script, err, sizeof(err));
		if (f.script == NULL) {
			fprintf(stderr, "mock_fcm: %s\n", err);
			goto out;
		}
		if (check_script_errors(f.script) != 0)
			goto out;
	}
	if (g.log != NULL) {
		f.log = fopen(g.log, "a");
		if (f.log == NULL) {
			fprintf(stderr, "mock_fcm: cannot open %s\n", g.log);
			goto out;
		}
	}
	f.issued = json_object();
	if (f.issued == NULL)
		goto out;
	st = h2s_server_new(&g.o, &srv);
	if (st != H2S_OK) {
		fprintf(stderr, "mock_fcm: %s\n", h2s_strerror(st));
		goto out;
	}
	snprintf(f.self_uri[0], URI_MAX, "https://127.0.0.1:%u/token",
		 (unsigned)h2s_server_port(srv));
	snprintf(f.self_uri[1], URI_MAX, "https://localhost:%u/token",
		 (unsigned)h2s_server_port(srv));
	if (g.o.verbose)
		fprintf(stderr, "mock_fcm: listening on 127.0.0.1:%u\n",
			(unsigned)h2s_server_port(srv));
	st = h2s_server_run(srv);
	if (st != H2S_OK) {
		fprintf(stderr, "mock_fcm: %s\n", h2s_strerror(st));
		goto out;
	}
	rc = 0;
out:
	h2s_server_free(srv);
	if (f.log != NULL)
		fclose(f.log);
	json_decref(f.issued);
	json_decref(f.script);
	json_decref(f.sa);
	EVP_PKEY_free(f.pub);
	return rc;
}
