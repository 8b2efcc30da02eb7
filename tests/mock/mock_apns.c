/*
 * mock_apns: a stand-in for Apple's push notification service (the
 * HTTP/2 provider API) for authflow's push tests. It checks what Apple
 * checks (method, path, device token, provider token JWT, apns-* headers,
 * payload) and answers as Apple does, then follows the test's script of
 * answers per device token. Accepted pushes and each distinct provider
 * token go to a JSON-lines log. See README.md beside this file.
 */
#include <getopt.h>
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

/* Largest payload Apple accepts for alert pushes. */
#define APNS_PAYLOAD_MAX    4096
#define APNS_TOKEN_HEX_MIN  64
#define APNS_TOKEN_HEX_MAX  200
#define APNS_COLLAPSE_MAX   64
/* Apple refuses provider tokens issued more than an hour ago. */
#define APNS_JWT_LIFETIME_S 3600
/* How far in the future an iat may lie (clock skew) before it is refused. */
#define APNS_IAT_SKEW_S	    300
#define APNS_PATH_PREFIX    "/3/device/"
#define UUID_LEN	    36
/* Largest key file read. */
#define KEY_FILE_MAX	    ((size_t)16 * 1024)
/* Distinct provider tokens remembered (hash slots: twice as many). */
#define SEEN_MAX	    4096
#define SEEN_SLOTS	    ((size_t)2 * SEEN_MAX)
#define DEFAULT_MAX_STREAMS 1000
/* Longest team id, key id and topic accepted on the command line. */
#define ID_MAX		    256

typedef struct seen_jwt {
	uint8_t hash[32];
	int64_t iat;
	int used;
} seen_jwt;

typedef struct apns_ctx {
	const char *team_id;
	const char *key_id;
	const char *topic;
	EVP_PKEY *pub;
	FILE *log;
	json_t *script;
	seen_jwt *seen; /* SEEN_SLOTS slots, open addressing */
	size_t nseen;
	uint64_t min_token_interval_s;
	int64_t last_new_token_s;
} apns_ctx;

typedef struct apns_reply {
	int status;
	const char *reason;
	size_t pad;	/* bytes of "pad" in an error body (script) */
	int no_apns_id; /* answer without apns-id (script) */
} apns_reply;

static const apns_reply REPLY_OK = {200, NULL, 0, 0};

static apns_reply reply(int status, const char *reason)
{
	apns_reply r = {status, reason, 0, 0};

	return r;
}

/* Apple's reason for a status the script gives without one. */
static const char *default_reason(int status)
{
	switch (status) {
	case 400:
		return "BadDeviceToken";
	case 403:
		return "InvalidProviderToken";
	case 404:
		return "BadPath";
	case 405:
		return "MethodNotAllowed";
	case 410:
		return "Unregistered";
	case 413:
		return "PayloadTooLarge";
	case 429:
		return "TooManyRequests";
	case 500:
		return "InternalServerError";
	case 503:
		return "ServiceUnavailable";
	default:
		return "InternalServerError";
	}
}

static int is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	       (ch >= 'A' && ch <= 'F');
}

static int uuid_valid(const char *s)
{
	size_t i;

	if (strlen(s) != UUID_LEN)
		return 0;
	for (i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!is_hex(s[i])) {
			return 0;
		}
	}
	return 1;
}

/* A random (version 4) UUID in upper case, as Apple writes them. */
static void uuid_new(char out[UUID_LEN + 1])
{
	static const char hex[] = "0123456789ABCDEF";
	uint8_t b[16];
	size_t i, o = 0;

	if (af_random_bytes(b, sizeof(b)) != 0)
		memset(b, 0, sizeof(b)); /* still a well-formed id */
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

/* ---- provider tokens ---- */

static seen_jwt *seen_slot(apns_ctx *a, const uint8_t hash[32], int *found)
{
	size_t i = ((size_t)hash[0] << 8 | hash[1]) % SEEN_SLOTS, n;

	for (n = 0; n < SEEN_SLOTS; n++, i = (i + 1) % SEEN_SLOTS) {
		if (!a->seen[i].used) {
			*found = 0;
			return &a->seen[i];
		}
		if (memcmp(a->seen[i].hash, hash, 32) == 0) {
			*found = 1;
			return &a->seen[i];
		}
	}
	*found = 0;
	return NULL;
}

/* Logs a provider token the first time it is used, so tests count renewals. */
static void seen_add(apns_ctx *a, seen_jwt *slot, const uint8_t hash[32],
		     int64_t iat)
{
	json_t *line;

	if (slot != NULL && a->nseen < SEEN_MAX) {
		memcpy(slot->hash, hash, 32);
		slot->iat = iat;
		slot->used = 1;
		a->nseen++;
	}
	line = json_pack("{s:I,s:I}", "jwt_iat", (json_int_t)iat, "first_seen",
			 (json_int_t)af_now_ms());
	if (mock_log_line(a->log, line) != 0)
		fprintf(stderr, "mock_apns: cannot write the log\n");
}

/* Checks a JWT not seen before: signature, kid, iss, iat. */
static apns_reply verify_new_jwt(apns_ctx *a, const char *jwt, int64_t now,
				 int64_t *iat)
{
	json_t *header = NULL, *claims = NULL, *jiat;
	const char *kid, *iss;
	apns_reply r = reply(403, "InvalidProviderToken");

	if (mjwt_verify(jwt, strlen(jwt), MJWT_ES256, a->pub, &header,
			&claims) != MJWT_OK)
		goto out;
	kid = json_string_value(json_object_get(header, "kid"));
	iss = json_string_value(json_object_get(claims, "iss"));
	jiat = json_object_get(claims, "iat");
	if (kid == NULL || strcmp(kid, a->key_id) != 0 || iss == NULL ||
	    strcmp(iss, a->team_id) != 0 || !json_is_integer(jiat) ||
	    json_integer_value(jiat) > now + APNS_IAT_SKEW_S)
		goto out;
	*iat = json_integer_value(jiat);
	r = REPLY_OK;
out:
	json_decref(header);
	json_decref(claims);
	return r;
}

static apns_reply check_auth(apns_ctx *a, const h2s_request *req)
{
	const char *auth = h2s_request_header(req, "authorization"), *jwt;
	uint8_t hash[32];
	int64_t now = af_now(), iat = 0;
	seen_jwt *slot;
	int found = 0;
	apns_reply r;

	if (auth == NULL || *auth == '\0')
		return reply(403, "MissingProviderToken");
	if (strncasecmp(auth, "bearer ", 7) != 0)
		return reply(403, "InvalidProviderToken");
	jwt = auth + 7;
	if (*jwt == '\0')
		return reply(403, "MissingProviderToken");
	af_sha256(jwt, strlen(jwt), hash);
	slot = seen_slot(a, hash, &found);
	if (found) {
		iat = slot->iat;
	} else {
		/* Only tokens that verify are remembered, so the check is
		 * paid once per token, not once per push. */
		r = verify_new_jwt(a, jwt, now, &iat);
		if (r.status != 200)
			return r;
		if (now - iat > APNS_JWT_LIFETIME_S)
			return reply(403, "ExpiredProviderToken");
		if (a->min_token_interval_s > 0 && a->last_new_token_s != 0 &&
		    now - a->last_new_token_s <
			    (int64_t)a->min_token_interval_s)
			return reply(429, "TooManyProviderTokenUpdates");
		a->last_new_token_s = now;
		seen_add(a, slot, hash, iat);
	}
	if (now - iat > APNS_JWT_LIFETIME_S)
		return reply(403, "ExpiredProviderToken");
	return REPLY_OK;
}

/* ---- headers and payload ---- */

static int token_valid(const char *t)
{
	size_t n = 0;

	for (; t[n] != '\0'; n++)
		if (!is_hex(t[n]) || n >= APNS_TOKEN_HEX_MAX)
			return 0;
	return n >= APNS_TOKEN_HEX_MIN;
}

/* The topic suffix Apple requires for a push type ("" when none). */
static int push_type_suffix(const char *type, const char **suffix)
{
	static const char *const types[][2] = {
		{"alert", ""},
		{"background", ""},
		{"location", ".location-query"},
		{"voip", ".voip"},
		{"complication", ".complication"},
		{"fileprovider", ".pushkit.fileprovider"},
		{"mdm", ""},
		{"liveactivity", ".push-type.liveactivity"},
		{"pushtotalk", ".voip-ptt"},
		{"widgets", ".push-type.widgets"},
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(type, types[i][0]) == 0) {
			*suffix = types[i][1];
			return 0;
		}
	}
	return -1;
}

static int topic_matches(const apns_ctx *a, const char *topic,
			 const char *suffix)
{
	size_t tl = strlen(a->topic), sl = strlen(suffix);

	return strlen(topic) == tl + sl && memcmp(topic, a->topic, tl) == 0 &&
	       strcmp(topic + tl, suffix) == 0;
}

static int digits_only(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (s[n] < '0' || s[n] > '9' || n >= max)
			return 0;
	return n > 0;
}

static apns_reply check_headers(const apns_ctx *a, const h2s_request *req)
{
	static const char *const once[] = {
		"authorization",    "apns-id",	     "apns-topic",
		"apns-push-type",   "apns-priority", "apns-expiration",
		"apns-collapse-id",
	};
	const char *topic = h2s_request_header(req, "apns-topic");
	const char *type = h2s_request_header(req, "apns-push-type");
	const char *prio = h2s_request_header(req, "apns-priority");
	const char *exp = h2s_request_header(req, "apns-expiration");
	const char *cid = h2s_request_header(req, "apns-collapse-id");
	const char *suffix = "";
	size_t i;

	for (i = 0; i < sizeof(once) / sizeof(once[0]); i++)
		if (h2s_request_header_count(req, once[i]) > 1)
			return reply(400, "DuplicateHeaders");
	if (topic == NULL || *topic == '\0')
		return reply(400, "MissingTopic");
	if (type != NULL && push_type_suffix(type, &suffix) != 0)
		return reply(400, "InvalidPushType");
	if (!topic_matches(a, topic, suffix))
		return reply(400, "BadTopic");
	if (prio != NULL && strcmp(prio, "10") != 0 && strcmp(prio, "5") != 0 &&
	    strcmp(prio, "1") != 0)
		return reply(400, "BadPriority");
	/* Apple: priority 10 is an error for background pushes. */
	if (prio != NULL && type != NULL && strcmp(type, "background") == 0 &&
	    strcmp(prio, "10") == 0)
		return reply(400, "BadPriority");
	/* A Unix time in seconds: digits only, at most 19 of them. */
	if (exp != NULL && !digits_only(exp, 19))
		return reply(400, "BadExpirationDate");
	if (cid != NULL && strlen(cid) > APNS_COLLAPSE_MAX)
		return reply(400, "BadCollapseId");
	return REPLY_OK;
}

static apns_reply check_request(apns_ctx *a, const h2s_request *req,
				const char **token, json_t **payload)
{
	const char *id = h2s_request_header(req, "apns-id");
	apns_reply r;

	*token = NULL;
	*payload = NULL;
	if (strcmp(req->method, "POST") != 0)
		return reply(405, "MethodNotAllowed");
	if (strncmp(req->path, APNS_PATH_PREFIX, strlen(APNS_PATH_PREFIX)) != 0)
		return reply(404, "BadPath");
	*token = req->path + strlen(APNS_PATH_PREFIX);
	if (**token == '\0')
		return reply(400, "MissingDeviceToken");
	r = check_auth(a, req);
	if (r.status != 200)
		return r;
	if (!token_valid(*token))
		return reply(400, "BadDeviceToken");
	if (id != NULL && !uuid_valid(id))
		return reply(400, "BadMessageId");
	r = check_headers(a, req);
	if (r.status != 200)
		return r;
	if (req->body_truncated || req->body_len > APNS_PAYLOAD_MAX)
		return reply(413, "PayloadTooLarge");
	if (req->body_len == 0)
		return reply(400, "PayloadEmpty");
	/* Apple documents no reason for a payload that is not a JSON
	 * object; this mock refuses one so that sender bugs show. */
	*payload = json_loadb((const char *)req->body, req->body_len, 0, NULL);
	if (!json_is_object(*payload))
		return reply(400, "BadPayload");
	return REPLY_OK;
}

/* ---- answers ---- */

static json_t *opt_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *opt_int(const char *s)
{
	uint64_t v;

	if (s == NULL || h2s_parse_u64(s, 0, INT64_MAX, &v) != 0)
		return json_null();
	return json_integer((json_int_t)v);
}

static void log_push(apns_ctx *a, const h2s_request *req, const char *token,
		     const char *id, json_t *payload)
{
	json_t *line = json_pack(
		"{s:I,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:O}", "ts",
		(json_int_t)af_now_ms(), "token", token, "apns_id", id, "topic",
		opt_str(h2s_request_header(req, "apns-topic")), "collapse_id",
		opt_str(h2s_request_header(req, "apns-collapse-id")),
		"expiration",
		opt_int(h2s_request_header(req, "apns-expiration")),
		"push_type", opt_str(h2s_request_header(req, "apns-push-type")),
		"priority", opt_int(h2s_request_header(req, "apns-priority")),
		"payload", payload);

	if (mock_log_line(a->log, line) != 0)
		fprintf(stderr, "mock_apns: cannot write the log\n");
}

/* Applies a scripted answer to r. */
static void apply_script(const json_t *ans, h2s_response *resp, apns_reply *r)
{
	long long status = mock_answer_int(ans, "status", 200);
	const char *reason = json_string_value(json_object_get(ans, "reason"));

	if (mock_answer_shape(ans, resp) != 0)
		return;
	r->no_apns_id = json_is_true(json_object_get(ans, "no_apns_id"));
	r->status = (int)status;
	r->pad = (size_t)mock_answer_int(ans, "pad", 0);
	r->reason =
		status == 200
			? NULL
			: (reason != NULL ? reason : default_reason(r->status));
}

static void answer(h2s_response *resp, const char *id, apns_reply r,
		   long long retry_after)
{
	char num[24];
	json_t *body = NULL;
	char *text = NULL;

	if (h2s_response_status(resp, r.status) != H2S_OK ||
	    (!r.no_apns_id &&
	     h2s_response_header(resp, "apns-id", id) != H2S_OK))
		goto out;
	if (retry_after >= 0) {
		snprintf(num, sizeof(num), "%lld", retry_after);
		if (h2s_response_header(resp, "retry-after", num) != H2S_OK)
			goto out;
	}
	if (r.status == 200)
		goto out;
	if (r.status == 410)
		body = json_pack("{s:s,s:I}", "reason", r.reason, "timestamp",
				 (json_int_t)af_now_ms());
	else
		body = json_pack("{s:s}", "reason", r.reason);
	if (body != NULL && r.pad > 0) {
		char *pad = malloc(r.pad + 1);

		if (pad != NULL) {
			memset(pad, 'x', r.pad);
			pad[r.pad] = '\0';
			json_object_set_new(body, "pad", json_string(pad));
		}
		free(pad);
	}
	text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	if (text == NULL ||
	    h2s_response_header(resp, "content-type", "application/json") !=
		    H2S_OK ||
	    h2s_response_body(resp, text, strlen(text)) != H2S_OK) {
		/* Without the body the answer would lie: make it a 500. */
		if (h2s_response_status(resp, 500) != H2S_OK)
			goto out;
	}
out:
	free(text);
	json_decref(body);
}

static void handle(void *arg, const h2s_request *req, h2s_response *resp)
{
	apns_ctx *a = arg;
	const char *given = h2s_request_header(req, "apns-id"), *token;
	char id[UUID_LEN + 1];
	json_t *payload = NULL, *scripted = NULL;
	long long retry_after = -1;
	apns_reply r;

	/* Every answer carries apns-id: the client's, or a new one. */
	if (given != NULL && uuid_valid(given))
		memcpy(id, given, UUID_LEN + 1);
	else
		uuid_new(id);
	r = check_request(a, req, &token, &payload);
	if (r.status == 200) {
		scripted = mock_script_next(a->script, token);
		if (scripted != NULL) {
			apply_script(scripted, resp, &r);
			retry_after =
				mock_answer_int(scripted, "retry_after", -1);
		}
	}
	if (r.status == 200)
		log_push(a, req, token, id, payload);
	answer(resp, id, r, retry_after);
	/* Without the scripted body the answer would lie: make it a 500. */
	if (scripted != NULL && mock_answer_override(scripted, resp) != 0 &&
	    h2s_response_status(resp, 500) != H2S_OK)
		fprintf(stderr, "mock_apns: cannot answer\n");
	json_decref(scripted);
	json_decref(payload);
}

/* ---- start-up ---- */

typedef struct apns_args {
	h2s_options o;
	const char *p8_pub, *p8, *log, *script;
} apns_args;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mock_apns --cert PEM --key PEM --team-id ID --key-id ID\n"
		"         --topic TOPIC (--p8-pub PEM | --p8 P8) [--port N|0]\n"
		"         [--port-file F] [--ca PEM] [--max-streams N]\n"
		"         [--log FILE] [--script FILE]\n"
		"         [--min-token-interval SECONDS] [--verbose]\n");
}

static int id_arg(const char *v, const char **out)
{
	if (v == NULL || *v == '\0' || strlen(v) > ID_MAX)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, apns_args *g, apns_ctx *a)
{
	static const struct option opts[] = {
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"ca", required_argument, NULL, 'A'},
		{"port", required_argument, NULL, 'p'},
		{"port-file", required_argument, NULL, 'f'},
		{"team-id", required_argument, NULL, 't'},
		{"key-id", required_argument, NULL, 'i'},
		{"p8-pub", required_argument, NULL, 'P'},
		{"p8", required_argument, NULL, '8'},
		{"topic", required_argument, NULL, 'T'},
		{"max-streams", required_argument, NULL, 'm'},
		{"log", required_argument, NULL, 'l'},
		{"script", required_argument, NULL, 's'},
		{"min-token-interval", required_argument, NULL, 'M'},
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
			break; /* accepted for symmetry; clients bring no certs
				*/
		case 'p':
			bad |= h2s_parse_u64(optarg, 0, 65535, &v);
			g->o.port = (uint16_t)v;
			break;
		case 'f':
			g->o.port_file = optarg;
			break;
		case 't':
			bad |= id_arg(optarg, &a->team_id);
			break;
		case 'i':
			bad |= id_arg(optarg, &a->key_id);
			break;
		case 'P':
			g->p8_pub = optarg;
			break;
		case '8':
			g->p8 = optarg;
			break;
		case 'T':
			bad |= id_arg(optarg, &a->topic);
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
		case 'M':
			bad |= h2s_parse_u64(optarg, 0, 86400, &v);
			a->min_token_interval_s = v;
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
	    g->o.key_file == NULL || a->team_id == NULL || a->key_id == NULL ||
	    a->topic == NULL || (g->p8_pub == NULL) == (g->p8 == NULL))
		return -1;
	return 0;
}

static int load_key(const char *path, apns_ctx *a)
{
	size_t len = 0;
	char *text = h2s_read_file(path, KEY_FILE_MAX, &len);
	mjwt_status st;

	if (text == NULL) {
		fprintf(stderr, "mock_apns: cannot read %s\n", path);
		return -1;
	}
	st = mjwt_key_from_pem(text, len, MJWT_ES256, &a->pub);
	/* The file may hold the private key: wipe our copy of it. */
	OPENSSL_clear_free(text, len + 1);
	if (st != MJWT_OK) {
		fprintf(stderr, "mock_apns: %s: %s (need an EC P-256 key)\n",
			path, mjwt_strerror(st));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	apns_args g;
	apns_ctx a;
	h2s_server *srv = NULL;
	h2s_status st;
	char err[512];
	int rc = 1;

	memset(&g, 0, sizeof(g));
	memset(&a, 0, sizeof(a));
	g.o.max_streams = DEFAULT_MAX_STREAMS;
	g.o.body_cap = APNS_PAYLOAD_MAX;
	g.o.name = "mock_apns";
	g.o.handler = handle;
	g.o.handler_arg = &a;
	if (parse_args(argc, argv, &g, &a) != 0) {
		usage(stderr);
		return 2;
	}
	if (load_key(g.p8_pub != NULL ? g.p8_pub : g.p8, &a) != 0)
		goto out;
	if (g.script != NULL) {
		a.script = mock_script_load(g.script, err, sizeof(err));
		if (a.script == NULL) {
			fprintf(stderr, "mock_apns: %s\n", err);
			goto out;
		}
	}
	if (g.log != NULL) {
		a.log = fopen(g.log, "a");
		if (a.log == NULL) {
			fprintf(stderr, "mock_apns: cannot open %s\n", g.log);
			goto out;
		}
	}
	a.seen = calloc(SEEN_SLOTS, sizeof(*a.seen));
	if (a.seen == NULL)
		goto out;
	st = h2s_server_new(&g.o, &srv);
	if (st != H2S_OK) {
		fprintf(stderr, "mock_apns: %s\n", h2s_strerror(st));
		goto out;
	}
	if (g.o.verbose)
		fprintf(stderr, "mock_apns: listening on 127.0.0.1:%u\n",
			(unsigned)h2s_server_port(srv));
	st = h2s_server_run(srv);
	if (st != H2S_OK) {
		fprintf(stderr, "mock_apns: %s\n", h2s_strerror(st));
		goto out;
	}
	rc = 0;
out:
	h2s_server_free(srv);
	if (a.log != NULL)
		fclose(a.log);
	free(a.seen);
	json_decref(a.script);
	EVP_PKEY_free(a.pub);
	return rc;
}
