/*
 * The protocol core of pushd without I/O: parsing a queued job, building
 * the APNs and FCM request bodies, reading the services' error bodies,
 * and deciding what an answer means (push_spec.md's outcome table), so
 * that all of it can be unit-tested and fuzzed without a network.
 */
/* strptime() is an X/Open interface. */
#define _XOPEN_SOURCE 700

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/util.h"
#include "pushd_internal.h"

static const char *const platform_names[PUSHD_PLATFORMS] = {"apns", "fcm"};
static const char *const outcome_names[PUSHD_OUTCOMES] = {
	"sent", "token_invalid", "failed", "dropped", "duplicate"};

const char *pushd_strerror(pushd_status st)
{
	switch (st) {
#define PUSHD_XX(name, value, text) \
	case PUSHD_##name:          \
		return text;
		PUSHD_STATUS_MAP(PUSHD_XX)
#undef PUSHD_XX
	}
	return "unknown pushd status";
}

const char *pushd_platform_name(pushd_platform p)
{
	return (unsigned)p < PUSHD_PLATFORMS ? platform_names[p] : "unknown";
}

pushd_service pushd_service_of(const pushd_job *job)
{
	if (job->platform == PUSHD_FCM)
		return PUSHD_SVC_FCM;
	return job->sandbox ? PUSHD_SVC_APNS_SANDBOX : PUSHD_SVC_APNS;
}

const char *pushd_service_name(pushd_service s)
{
	static const char *const names[PUSHD_SERVICES] = {
		"apns", "apns sandbox", "fcm"};

	return (unsigned)s < PUSHD_SERVICES ? names[s] : "unknown";
}

pushd_platform pushd_service_platform(pushd_service s)
{
	return s == PUSHD_SVC_FCM ? PUSHD_FCM : PUSHD_APNS;
}

const char *pushd_outcome_name(pushd_outcome o)
{
	return (unsigned)o < PUSHD_OUTCOMES ? outcome_names[o] : "unknown";
}

const char *pushd_cause_name(pushd_cause c)
{
	static const char *const names[PUSHD_CAUSES] = {
		"unknown",    "timeout",  "connection", "throttled", "service",
		"credential", "rejected", "paused",	"config"};

	return (unsigned)c < PUSHD_CAUSES ? names[c] : "unknown";
}

pushd_cause pushd_cause_of(CURLcode cc, long http_status)
{
	if (cc == CURLE_OPERATION_TIMEDOUT)
		return PUSHD_CAUSE_TIMEOUT;
	if (cc != CURLE_OK)
		return PUSHD_CAUSE_CONNECTION;
	if (http_status == 429)
		return PUSHD_CAUSE_THROTTLED;
	if (http_status >= 500 && http_status <= 599)
		return PUSHD_CAUSE_SERVICE;
	if (http_status == 401 || http_status == 403)
		return PUSHD_CAUSE_CREDENTIAL;
	if (http_status >= 400 && http_status <= 499)
		return PUSHD_CAUSE_REJECTED;
	return PUSHD_CAUSE_UNKNOWN;
}

/* Copies a required string member into out; -1 when absent or too long. */
static int copy_str(const json_t *obj, const char *key, char *out, size_t cap)
{
	const json_t *v = json_object_get(obj, key);
	size_t len;

	if (!json_is_string(v))
		return -1;
	len = json_string_length(v);
	if (len == 0 || len >= cap ||
	    memchr(json_string_value(v), '\0', len) != NULL)
		return -1;
	memcpy(out, json_string_value(v), len + 1);
	return 0;
}

pushd_status pushd_job_parse(const char *text, size_t len, pushd_job *out)
{
	const json_t *v;
	const char *platform;
	json_t *root;
	pushd_status rc = PUSHD_ERR_PROTOCOL;

	if (text == NULL || out == NULL)
		return PUSHD_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (len > PUSHD_JOB_MAX)
		return PUSHD_ERR_TOO_BIG;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		goto out;
	if (copy_str(root, "job", out->job, sizeof(out->job)) != 0 ||
	    copy_str(root, "txn", out->txn, sizeof(out->txn)) != 0 ||
	    copy_str(root, "device", out->device, sizeof(out->device)) != 0 ||
	    copy_str(root, "push_token", out->push_token,
		     sizeof(out->push_token)) != 0 ||
	    copy_str(root, "user", out->user, sizeof(out->user)) != 0 ||
	    copy_str(root, "app_name", out->app_name, sizeof(out->app_name)) !=
		    0)
		goto out;
	platform = json_string_value(json_object_get(root, "platform"));
	if (platform != NULL && strcmp(platform, "apns") == 0)
		out->platform = PUSHD_APNS;
	else if (platform != NULL && strcmp(platform, "fcm") == 0)
		out->platform = PUSHD_FCM;
	else
		goto out;
	v = json_object_get(root, "sandbox");
	if (v != NULL && !json_is_boolean(v))
		goto out;
	out->sandbox = json_is_true(v);
	/* Unix seconds; past year 9999 is no time a txn can have. */
	v = json_object_get(root, "expires");
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) > PUSHD_EXPIRES_MAX)
		goto out;
	out->expires = json_integer_value(v);
	v = json_object_get(root, "queued_ms");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		out->queued_ms = json_integer_value(v);
	rc = PUSHD_OK;
out:
	json_decref(root);
	if (rc != PUSHD_OK)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

/* A bounded writer of JSON text into a caller's buffer. */
typedef struct jout {
	char *buf;
	size_t len, max; /* max: bytes allowed, the NUL aside */
	int over;	 /* something did not fit */
} jout;

static void put(jout *o, const char *s, size_t n)
{
	if (o->over || n > o->max - o->len) {
		o->over = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* Writes a string literal (its length known at compile time). */
#define put_lit(o, lit) put((o), (lit), sizeof(lit) - 1)

/*
 * A JSON string of s, quoted and escaped as jansson's compact dump does
 * (the short escapes, \u00XX for other control bytes, UTF-8 as it is).
 * -1 when s is not UTF-8.
 */
static int put_str(jout *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, run;
	char esc[6] = {'\\', 'u', '0', '0', 0, 0};

	put(o, "\"", 1);
	while (i < n) {
		for (run = i; run < n && p[run] >= 0x20 && p[run] < 0x80 &&
			      p[run] != '"' && p[run] != '\\';
		     run++)
			;
		put(o, s + i, run - i);
		i = run;
		if (i == n)
			break;
		if (p[i] >= 0x80) {
			run = af_utf8_next(p + i, n - i, NULL);
			if (run == 0)
				return -1;
			put(o, s + i, run);
			i += run;
			continue;
		}
		switch (p[i]) {
		case '"':
			put(o, "\\\"", 2);
			break;
		case '\\':
			put(o, "\\\\", 2);
			break;
		case '\b':
			put(o, "\\b", 2);
			break;
		case '\f':
			put(o, "\\f", 2);
			break;
		case '\n':
			put(o, "\\n", 2);
			break;
		case '\r':
			put(o, "\\r", 2);
			break;
		case '\t':
			put(o, "\\t", 2);
			break;
		default:
			esc[4] = hex[p[i] >> 4];
			esc[5] = hex[p[i] & 0x0f];
			put(o, esc, sizeof(esc));
			break;
		}
		i++;
	}
	put(o, "\"", 1);
	return 0;
}

/*
 * Written out by hand rather than packed and dumped with jansson: it is
 * made for every push, and the text is the same jansson would write.
 */
pushd_status pushd_apns_payload(const pushd_job *job, char *out, size_t cap,
				size_t *len)
{
	char body[PUSHD_USER_MAX + PUSHD_APP_MAX + 32], exp[24];
	jout o;
	int bad = 0;

	if (job == NULL || out == NULL || cap == 0)
		return PUSHD_ERR_ARG;
	out[0] = '\0';
	o.buf = out;
	o.len = 0;
	o.max = cap - 1 < PUSHD_APNS_PAYLOAD_MAX ? cap - 1
						 : PUSHD_APNS_PAYLOAD_MAX;
	o.over = 0;
	if (job->unnamed)
		(void)snprintf(body, sizeof(body), "%s",
			       "Open the app to answer it");
	else
		(void)snprintf(body, sizeof(body), "%s is signing in to %s",
			       job->user, job->app_name);
	(void)snprintf(exp, sizeof(exp), "%lld", (long long)job->expires);
	/*
	 * The payload names the user and the application so that the phone
	 * can show them before fetching the challenge, unless push.names is
	 * off (the names would reach Apple, and a lock screen); the number is
	 * never here, because it must be read off the login page.
	 */
	put_lit(&o,
		"{\"aps\":{\"alert\":{\"title\":\"Sign-in request\",\"body\":");
	bad |= put_str(&o, body);
	put_lit(&o,
		"},\"category\":\"AF_SIGNIN\",\"sound\":\"default\"},\"txn\":");
	bad |= put_str(&o, job->txn);
	if (!job->unnamed) {
		put_lit(&o, ",\"app\":");
		bad |= put_str(&o, job->app_name);
		put_lit(&o, ",\"user\":");
		bad |= put_str(&o, job->user);
	}
	put_lit(&o, ",\"exp\":");
	put(&o, exp, strlen(exp));
	put_lit(&o, "}");
	if (bad) {
		out[0] = '\0';
		return PUSHD_ERR_ARG;
	}
	if (o.over) {
		out[0] = '\0';
		return PUSHD_ERR_TOO_BIG;
	}
	out[o.len] = '\0';
	if (len != NULL)
		*len = o.len;
	return PUSHD_OK;
}

/* The longest ttl FCM takes: 28 days. */
#define PUSHD_FCM_TTL_MAX_S ((int64_t)28 * 86400)

pushd_status pushd_fcm_message(const pushd_job *job, int64_t now, char **out)
{
	char exp[24], ttl[24];
	int64_t left;
	json_t *obj;

	if (job == NULL || out == NULL)
		return PUSHD_ERR_ARG;
	*out = NULL;
	(void)snprintf(exp, sizeof(exp), "%lld", (long long)job->expires);
	/*
	 * FCM keeps the message for a phone that is offline no longer than
	 * the challenge lives (as apns-expiration does): at least a second,
	 * the least it takes.
	 */
	left = job->expires > now ? job->expires - now : 1;
	if (left > PUSHD_FCM_TTL_MAX_S)
		left = PUSHD_FCM_TTL_MAX_S;
	(void)snprintf(ttl, sizeof(ttl), "%llds", (long long)left);
	/* FCM data values must all be strings. */
	if (job->unnamed)
		obj = json_pack("{s:{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}}}",
				"message", "token", job->push_token, "data",
				"txn", job->txn, "exp", exp, "android",
				"priority", "HIGH", "ttl", ttl, "collapse_key",
				job->txn);
	else
		obj = json_pack(
			"{s:{s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s}}}",
			"message", "token", job->push_token, "data", "txn",
			job->txn, "app", job->app_name, "user", job->user,
			"exp", exp, "android", "priority", "HIGH", "ttl", ttl,
			"collapse_key", job->txn);
	if (obj == NULL)
		return PUSHD_ERR_NOMEM;
	*out = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return *out != NULL ? PUSHD_OK : PUSHD_ERR_NOMEM;
}

void pushd_apns_id(const char *job_id, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[32];
	size_t i, o = 0;

	af_sha256(job_id, job_id != NULL ? strlen(job_id) : 0, h);
	/* RFC 9562 version 4 and variant bits over the hash's first bytes. */
	h[6] = (uint8_t)((h[6] & 0x0f) | 0x40);
	h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[h[i] >> 4];
		out[o++] = hex[h[i] & 0x0f];
	}
	out[o] = '\0';
}

int pushd_apns_token_ok(const char *token)
{
	size_t i;

	if (token == NULL)
		return 0;
	for (i = 0; token[i] != '\0'; i++) {
		if (!isxdigit((unsigned char)token[i]) || i >= 200)
			return 0;
	}
	return i >= 64;
}

/*
 * A string member of obj copied into out: "" when absent, its first
 * cap - 1 bytes when longer, so that the log can still show what an
 * unexpected one began with.
 */
static void member_str(const json_t *obj, const char *key, char *out,
		       size_t cap)
{
	const json_t *v = json_object_get(obj, key);
	size_t n;

	out[0] = '\0';
	if (!json_is_string(v))
		return;
	n = json_string_length(v);
	if (n > cap - 1)
		n = cap - 1;
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
}

/* Skips JSON white space from p, not past end. */
static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/*
 * The reason of a body cut short: {"reason":"Word" at its start, the word
 * of letters only (every reason Apple defines is one); "" otherwise.
 */
static void leading_reason(const char *body, size_t len, char *out, size_t cap)
{
	static const char key[] = "\"reason\"";
	const char *p = body, *end = body + len, *w;

	p = skip_ws(p, end);
	if (p == end || *p++ != '{')
		return;
	p = skip_ws(p, end);
	if ((size_t)(end - p) < sizeof(key) - 1 ||
	    memcmp(p, key, sizeof(key) - 1) != 0)
		return;
	p = skip_ws(p + sizeof(key) - 1, end);
	if (p == end || *p++ != ':')
		return;
	p = skip_ws(p, end);
	if (p == end || *p++ != '"')
		return;
	for (w = p;
	     w < end && ((*w >= 'A' && *w <= 'Z') || (*w >= 'a' && *w <= 'z'));
	     w++)
		;
	if (w == end || *w != '"' || w == p || (size_t)(w - p) >= cap)
		return;
	memcpy(out, p, (size_t)(w - p));
	out[w - p] = '\0';
}

void pushd_apns_reason(const char *body, size_t len, char *out, size_t cap)
{
	json_t *root;

	if (out == NULL || cap == 0)
		return;
	out[0] = '\0';
	if (body == NULL || len == 0 || len > PUSHD_RESPONSE_MAX)
		return;
	root = json_loadb(body, len, 0, NULL);
	if (json_is_object(root))
		member_str(root, "reason", out, cap);
	else if (root == NULL)
		leading_reason(body, len, out, cap);
	json_decref(root);
}

void pushd_fcm_error(const char *body, size_t len, char *status, size_t scap,
		     char *code, size_t ccap)
{
	const json_t *err, *d;
	json_t *root;
	size_t i;

	if (status == NULL || scap == 0 || code == NULL || ccap == 0)
		return;
	status[0] = '\0';
	code[0] = '\0';
	if (body == NULL || len == 0 || len > PUSHD_RESPONSE_MAX)
		return;
	root = json_loadb(body, len, 0, NULL);
	err = json_object_get(root, "error");
	if (!json_is_object(err))
		goto out;
	member_str(err, "status", status, scap);
	json_array_foreach(json_object_get(err, "details"), i, d)
	{
		const char *type =
			json_string_value(json_object_get(d, "@type"));

		if (type != NULL &&
		    strcmp(type, "type.googleapis.com/google.firebase.fcm.v1."
				 "FcmError") == 0) {
			member_str(d, "errorCode", code, ccap);
			break;
		}
	}
out:
	json_decref(root);
}

pushd_verdict pushd_classify_apns(long http_status, const char *reason)
{
	const char *r = reason != NULL ? reason : "";

	if (http_status == 200)
		return PUSHD_V_SENT;
	/* A token for another app (topic) is as dead for this one. */
	if ((http_status == 400 &&
	     (strcmp(r, "BadDeviceToken") == 0 ||
	      strcmp(r, "DeviceTokenNotForTopic") == 0)) ||
	    http_status == 410)
		return PUSHD_V_TOKEN_INVALID;
	if (http_status == 403 && strcmp(r, "ExpiredProviderToken") == 0)
		return PUSHD_V_RENEW;
	/*
	 * The provider token was renewed too often: Apple refuses it for
	 * every push until it is 20 minutes old, so retrying within a
	 * sign-in's 30 s only adds load (the log says why: see apns.c).
	 */
	if (http_status == 429 && strcmp(r, "TooManyProviderTokenUpdates") == 0)
		return PUSHD_V_FAILED;
	if (http_status == 429 || (http_status >= 500 && http_status <= 599))
		return PUSHD_V_RETRY;
	return PUSHD_V_FAILED;
}

pushd_verdict pushd_classify_fcm(long http_status, const char *status,
				 const char *code)
{
	const char *c = code != NULL ? code : "";

	(void)status;
	if (http_status == 200)
		return PUSHD_V_SENT;
	/*
	 * Only the FcmError code says the token is gone: a bare 404
	 * NOT_FOUND is also what a wrong endpoint or project id gets, and must
	 * not invalidate every device's token.
	 */
	if (http_status == 404 && strcmp(c, "UNREGISTERED") == 0)
		return PUSHD_V_TOKEN_INVALID;
	/* A token of another sender (Firebase project) never works here. */
	if (http_status == 403 && strcmp(c, "SENDER_ID_MISMATCH") == 0)
		return PUSHD_V_TOKEN_INVALID;
	/*
	 * FCM could not pass the push on: the Firebase project's APNs key
	 * or web push certificate is missing or wrong. pushd's own access
	 * token is good, and renewing it (refusing it for every push) would
	 * only hold up the pushes that do go through.
	 */
	if (http_status == 401 && strcmp(c, "THIRD_PARTY_AUTH_ERROR") == 0)
		return PUSHD_V_FAILED;
	if (http_status == 401)
		return PUSHD_V_RENEW;
	/*
	 * 429 QUOTA_EXCEEDED, 500 INTERNAL, 503 UNAVAILABLE, and the 502 and
	 * 504 of Google's front ends between pushd and FCM: all pass.
	 */
	if (http_status == 429 || (http_status >= 500 && http_status <= 599))
		return PUSHD_V_RETRY;
	return PUSHD_V_FAILED;
}

pushd_verdict pushd_classify_curl(CURLcode rc)
{
	switch (rc) {
	/*
	 * Lost or refused connections (a GOAWAY, a reset, a server that
	 * restarts) and time-outs: curl opens a new connection for the next
	 * attempt, so these are retried while the txn is pending.
	 */
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
		return PUSHD_V_RETRY;
	default:
		/* Certificate and usage errors do not heal by retrying. */
		return PUSHD_V_FAILED;
	}
}

/* Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") to unix time. */
static int http_date(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t;
	return 0;
}

int pushd_retry_after_ms(const char *value, int64_t now, uint64_t *out)
{
	char buf[PUSHD_RETRY_AFTER_MAX + 1];
	unsigned long long v;
	size_t len, b = 0, e;
	int64_t when;
	char *end = NULL;

	if (value == NULL || out == NULL)
		return -1;
	len = strlen(value);
	e = len;
	while (b < len && (value[b] == ' ' || value[b] == '\t'))
		b++;
	while (e > b && (value[e - 1] == ' ' || value[e - 1] == '\t' ||
			 value[e - 1] == '\r' || value[e - 1] == '\n'))
		e--;
	if (e == b || e - b > PUSHD_RETRY_AFTER_MAX)
		return -1;
	memcpy(buf, value + b, e - b);
	buf[e - b] = '\0';
	if (isdigit((unsigned char)buf[0])) {
		errno = 0;
		v = strtoull(buf, &end, 10);
		/* A day is far beyond any transaction's life: cap there. */
		if (errno != 0 || *end != '\0' || v > 86400)
			return -1;
		*out = (uint64_t)v * 1000u;
		return 0;
	}
	if (http_date(buf, &when) != 0)
		return -1;
	*out = when > now && when - now <= 86400
		       ? (uint64_t)(when - now) * 1000u
		       : 0;
	return 0;
}

uint32_t pushd_backoff_ms(unsigned attempt, uint32_t rnd)
{
	uint32_t cap = PUSHD_BACKOFF_BASE_MS;
	unsigned i;

	for (i = 0; i < attempt && cap < PUSHD_BACKOFF_MAX_MS; i++)
		cap *= 2;
	if (cap > PUSHD_BACKOFF_MAX_MS)
		cap = PUSHD_BACKOFF_MAX_MS;
	/*
	 * Full jitter: nodes that failed together do not retry together.
	 * The modulo bias over 2^32 is far below anything that matters
	 * for a retry delay.
	 */
	return rnd % (cap + 1);
}
