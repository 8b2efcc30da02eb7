/*
 * The admin API's front door: token check, path decoding, the JSON body,
 * the route table, error answers and the one log line per request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "admin/admin.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/util.h"
#include "directory/throttle.h"

#define PATH_PREFIX	 "/admin/v1/"
#define ALLOW_MAX	 64
/* Digits of the largest number a query parameter takes. */
#define QUERY_DIGITS_MAX 15

static const struct {
	af_admin_status st;
	unsigned http;
	const char *code;
	const char *text;
} statuses[] = {
#define AF_ADMIN_XX(name, value, http, code, text) \
	{AF_ADMIN_##name, (http), (code), (text)},
	AF_ADMIN_STATUS_MAP(AF_ADMIN_XX)
#undef AF_ADMIN_XX
};

#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))

static size_t status_index(af_admin_status st)
{
	size_t i;

	for (i = 0; i < NSTATUSES; i++) {
		if (statuses[i].st == st)
			return i;
	}
	/* Unknown values answer as an internal error, the last entry. */
	return NSTATUSES - 1;
}

const char *af_admin_strerror(af_admin_status st)
{
	return statuses[status_index(st)].text;
}

/*
 * The query parameters a route takes (NULL-terminated lists). Every other
 * parameter, and any parameter given twice, is refused before the handler
 * runs, the same way on every route: a typo such as ?limt=5 must not be
 * ignored, and of a repeated one no value is "the" value.
 */
static const char *const q_user[] = {"user", NULL};
static const char *const q_user_sid[] = {"user", "sid", NULL};
static const char *const q_audit[] = {"limit",	"before", "since",
				      "until",	"actor",  "action",
				      "target", "user",	  NULL};
static const char *const q_limit[] = {"limit", NULL};
static const char *const q_inactive[] = {"inactive_days", NULL};

/* Routes: method, path pattern ('*' is any one segment), audit action. */
typedef struct route {
	const char *method;
	const char *pattern;
	const char *action;
	af_admin_fn fn;
	/*
	 * Set for a call only a superadmin token may make: what it does, for
	 * the 403. Checked before the query and body are read, so that such a
	 * token learns nothing from how they would have been judged.
	 */
	const char *superadmin;
	/* The query parameters it takes; NULL: none. */
	const char *const *query;
} route;

static const route routes[] = {
	{"GET", "status", "status", af_admin__status, NULL, NULL},
	{"GET", "users", "user.list", af_admin__user_list, NULL, q_inactive},
	{"POST", "users", "user.add", af_admin__user_add, NULL, NULL},
	{"GET", "users/*", "user.show", af_admin__user_show, NULL, NULL},
	{"PATCH", "users/*", "user.set", af_admin__user_set, NULL, NULL},
	{"DELETE", "users/*", "user.remove", af_admin__user_remove, NULL, NULL},
	{"PUT", "users/*/password", "user.passwd", af_admin__user_passwd, NULL,
	 NULL},
	{"POST", "users/*/unlock", "user.unlock", af_admin__user_unlock, NULL,
	 NULL},
	{"GET", "groups", "group.list", af_admin__group_list, NULL, NULL},
	{"POST", "groups", "group.add", af_admin__group_add, NULL, NULL},
	{"GET", "groups/*", "group.show", af_admin__group_show, NULL, NULL},
	{"PATCH", "groups/*", "group.set", af_admin__group_set, NULL, NULL},
	{"DELETE", "groups/*", "group.remove", af_admin__group_remove, NULL,
	 NULL},
	{"PUT", "groups/*/members/*", "group.add_member",
	 af_admin__group_member_add, NULL, NULL},
	{"DELETE", "groups/*/members/*", "group.remove_member",
	 af_admin__group_member_remove, NULL, NULL},
	{"GET", "ous", "ou.list", af_admin__ou_list, NULL, NULL},
	{"POST", "ous", "ou.add", af_admin__ou_add, NULL, NULL},
	{"GET", "ous/*", "ou.show", af_admin__ou_show, NULL, NULL},
	{"DELETE", "ous/*", "ou.remove", af_admin__ou_remove, NULL, NULL},
	{"PUT", "ous/*/members/*", "ou.add_member", af_admin__ou_member_add,
	 NULL, NULL},
	{"DELETE", "ous/*/members/*", "ou.remove_member",
	 af_admin__ou_member_remove, NULL, NULL},
	{"GET", "policies", "policy.list", af_admin__policy_list, NULL, NULL},
	/*
	 * What a policy asks for (the push step, number matching) is a
	 * superadmin's decision, as the workflow is: one call could take
	 * it from everyone the policy covers. Whom a policy covers is an
	 * admin's, as a deployment is (assign, unassign).
	 */
	{"POST", "policies", "policy.add", af_admin__policy_add,
	 "creating a policy", NULL},
	{"GET", "policies/*", "policy.show", af_admin__policy_show, NULL, NULL},
	{"PATCH", "policies/*", "policy.set", af_admin__policy_set,
	 "editing a policy", NULL},
	{"DELETE", "policies/*", "policy.remove", af_admin__policy_remove,
	 "removing a policy", NULL},
	{"POST", "policies/*/assign", "policy.assign", af_admin__policy_assign,
	 NULL, NULL},
	{"POST", "policies/*/unassign", "policy.unassign",
	 af_admin__policy_unassign, NULL, NULL},
	{"GET", "apps", "app.list", af_admin__app_list, NULL, NULL},
	{"POST", "apps", "app.add", af_admin__app_add,
	 "creating an application profile", NULL},
	{"GET", "apps/*", "app.show", af_admin__app_show, NULL, NULL},
	{"PATCH", "apps/*", "app.set", af_admin__app_set,
	 "editing an application profile", NULL},
	{"DELETE", "apps/*", "app.remove", af_admin__app_remove,
	 "removing an application profile", NULL},
	{"POST", "apps/*/rotate-secret", "app.rotate_secret",
	 af_admin__app_rotate, "rotating a client secret", NULL},
	{"DELETE", "apps/*/previous-secret", "app.drop_previous_secret",
	 af_admin__app_drop_previous, "ending a replaced client secret", NULL},
	{"POST", "apps/*/deploy", "app.deploy", af_admin__app_deploy, NULL,
	 NULL},
	{"POST", "apps/*/undeploy", "app.undeploy", af_admin__app_undeploy,
	 NULL, NULL},
	{"GET", "keys", "keys.status", af_admin__keys_status, NULL, NULL},
	{"POST", "keys/rotate", "keys.rotate", af_admin__keys_rotate,
	 "rotating the signing key", NULL},
	{"DELETE", "keys/*", "keys.retire", af_admin__keys_retire,
	 "retiring a signing key", NULL},
	{"GET", "sessions", "sessions.list", af_admin__sessions_list, NULL,
	 q_user},
	{"DELETE", "sessions", "sessions.end", af_admin__sessions_end, NULL,
	 q_user_sid},
	{"GET", "grants", "grants.list", af_admin__grants_list, NULL, q_user},
	{"GET", "audit", "audit.list", af_admin__audit, NULL, q_audit},
	{"GET", "workflow", "workflow.show", af_admin__workflow_show, NULL,
	 NULL},
	/*
	 * One call turns push MFA off for everyone (legacy) or number
	 * matching off: as much a superadmin's decision as the branding.
	 */
	{"PATCH", "workflow", "workflow.set", af_admin__workflow_set,
	 "changing the MFA workflow", NULL},
	{"GET", "branding", "branding.show", af_admin__branding_show, NULL,
	 NULL},
	{"PATCH", "branding", "branding.set", af_admin__branding_set,
	 "changing the branding", NULL},
	{"DELETE", "branding", "branding.reset", af_admin__branding_reset,
	 "resetting the branding", NULL},
	{"POST", "users/*/enroll-code", "device.enroll_code",
	 af_admin__enroll_code, NULL, NULL},
	{"DELETE", "users/*/enroll-codes", "device.enroll_codes_revoke",
	 af_admin__enroll_codes_revoke, NULL, NULL},
	{"GET", "users/*/devices", "device.list", af_admin__device_list, NULL,
	 NULL},
	{"GET", "devices/*", "device.show", af_admin__device_show, NULL, NULL},
	{"DELETE", "devices/*", "device.remove", af_admin__device_remove, NULL,
	 NULL},
	{"PATCH", "devices/*", "device.set", af_admin__device_set, NULL, NULL},
	{"GET", "push/queue", "push.queue", af_admin__push_queue, NULL,
	 q_limit},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* ---- responses ---------------------------------------------------- */

void af_admin__json(af_admin_call *c, unsigned status, json_t *obj)
{
	af_resp_json(c->resp, status, obj);
}

/* An error answer; with wait_s > 0, also when to try again. */
static void error_answer(af_admin_call *c, af_admin_status st, const char *msg,
			 uint32_t wait_s)
{
	size_t i = status_index(st);
	char text[AF_ADMIN_MSG_MAX];
	json_t *o;

	if (st == AF_ADMIN_UNAUTHORIZED)
		af_resp_header_set(c->resp, "WWW-Authenticate",
				   "Bearer realm=\"authflow-admin\"");
	/* Quoted input cut at a byte count may end mid-character. */
	snprintf(text, sizeof(text), "%s",
		 msg != NULL && msg[0] != '\0' ? msg : statuses[i].text);
	af_utf8_repair(text);
	o = json_pack("{s:s, s:s}", "error", statuses[i].code, "message", text);
	if (wait_s > 0) {
		af_resp_retry_after(c->resp, wait_s);
		if (o != NULL &&
		    json_object_set_new(o, "retry_after_s",
					json_integer(wait_s)) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	af_resp_json(c->resp, statuses[i].http, o);
}

void af_admin__error(af_admin_call *c, af_admin_status st, const char *msg)
{
	error_answer(c, st, msg, 0);
}

void af_admin__error_wait(af_admin_call *c, af_admin_status st, uint32_t wait_s,
			  const char *msg)
{
	error_answer(c, st, msg, wait_s > 0 ? wait_s : 1);
}

void af_admin__errorf(af_admin_call *c, af_admin_status st, const char *fmt,
		      ...)
{
	char msg[AF_ADMIN_MSG_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	af_admin__error(c, st, n < 0 ? NULL : msg);
}

void af_admin__dir_error(af_admin_call *c, af_dir_status st, const char *err)
{
	af_admin_status as;

	switch (st) {
	case AF_DIR_OK:
		/* Not an error: callers do not get here with OK. */
		as = AF_ADMIN_INTERNAL;
		break;
	case AF_DIR_NOT_FOUND:
		as = AF_ADMIN_NOT_FOUND;
		break;
	case AF_DIR_INVALID:
	case AF_DIR_MISMATCH:
		as = AF_ADMIN_BAD_REQUEST;
		break;
	case AF_DIR_FORBIDDEN:
		as = AF_ADMIN_FORBIDDEN;
		break;
	case AF_DIR_EXISTS:
	case AF_DIR_LIMIT:
	case AF_DIR_CONFLICT:
	case AF_DIR_WAIT:
	case AF_DIR_LOCKED:
	case AF_DIR_REMOVING:
		as = AF_ADMIN_CONFLICT;
		break;
	case AF_DIR_STORE:
	case AF_DIR_UNAUDITED:
		as = AF_ADMIN_UNAVAILABLE;
		break;
	default:
		as = AF_ADMIN_INTERNAL;
		break;
	}
	af_admin__error(c, as,
			err != NULL && err[0] != '\0' ? err
						      : af_dir_strerror(st));
}

void af_admin__unaudited(af_admin_call *c, json_t *answer)
{
	/* The audit sink has logged the event itself, "stored": false. */
	log_warn(c->srv->log, c->req->rid, "admin",
		 "actor=%s action=%s audit=not_stored: the change was made and "
		 "answered as done, but the audit trail could not record it",
		 c->caller.name, c->action);
	/*
	 * Out of memory, the answer goes without the warning: what it
	 * carries (a secret nobody else knows) matters more.
	 */
	if (json_object_set_new(answer, "warning",
				json_string(AF_ADMIN_UNAUDITED_WARNING)) != 0)
		return;
}

void af_admin__ok(af_admin_call *c)
{
	af_admin__json(c, 200, json_pack("{s:b}", "ok", 1));
}

void af_admin__json_secret(af_admin_call *c, unsigned status, json_t *obj,
			   const char *secret_key)
{
	char *text;

	if (obj == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	text = json_dumps(obj, JSON_COMPACT);
	af_secmem_wipe_json_string(json_object_get(obj, secret_key));
	json_decref(obj);
	if (text == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	af_resp_text(c->resp, status, "application/json", text);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
}

int af_admin__need_superadmin(af_admin_call *c, const char *what)
{
	if (c->caller.role == AF_ROLE_SUPERADMIN)
		return 1;
	af_admin__errorf(c, AF_ADMIN_FORBIDDEN, "%s needs a superadmin token",
			 what);
	return 0;
}

json_t *af_admin__need_body(af_admin_call *c)
{
	if (c->body == NULL)
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"this call needs a JSON object body");
	return c->body;
}

json_t *af_admin__need_patch(af_admin_call *c)
{
	json_t *body = af_admin__need_body(c);

	if (body != NULL && json_object_size(body) == 0) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"nothing to change: give at least one field");
		return NULL;
	}
	return body;
}

int af_admin__only_members(af_admin_call *c, json_t *obj,
			   const char *const *allowed)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(obj, k, v)
	{
		for (i = 0; allowed[i] != NULL; i++) {
			if (strcmp(k, allowed[i]) == 0)
				break;
		}
		if (allowed[i] == NULL) {
			af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
					 "%.64s: unknown field", k);
			return 0;
		}
	}
	return 1;
}

int af_admin__body_seconds(af_admin_call *c, const char *name, int64_t max,
			   int64_t *out)
{
	const char *const allowed[] = {name, NULL};
	const json_t *v = json_object_get(c->body, name);

	*out = 0;
	if (c->body == NULL)
		return 1;
	if (!af_admin__only_members(c, c->body, allowed))
		return 0;
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0 ||
			  json_integer_value(v) > max)) {
		af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
				 "%s: must be a number of seconds 0..%lld",
				 name, (long long)max);
		return 0;
	}
	*out = json_integer_value(v);
	return 1;
}

const char *af_admin__need_string(af_admin_call *c, const json_t *obj,
				  const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (v == NULL)
		af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
				 "%s: required, a string", key);
	return v;
}

void af_admin__target(af_admin_call *c, const char *a, const char *b)
{
	int n;

	n = snprintf(c->target, sizeof(c->target), "%s%s%s", a != NULL ? a : "",
		     b != NULL ? "/" : "", b != NULL ? b : "");
	if (n < 0)
		c->target[0] = '\0';
}

/* ---- the request ---------------------------------------------------- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes one path segment of n bytes into out. '+' stays a plus
 * (that rule is for forms, not paths). Control characters, raw or
 * encoded, are refused: no name may hold them, and they must not reach a
 * log line or a store key. 0, or -1 for bad escapes, control characters
 * or a result over AF_ADMIN_SEG_MAX bytes.
 */
static int seg_decode(const char *s, size_t n, char *out)
{
	size_t i, o = 0;
	int hi, lo;
	unsigned char ch;

	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		if (ch == '%') {
			if (i + 2 >= n)
				return -1;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (ch < 0x20 || ch == 0x7f || o == AF_ADMIN_SEG_MAX)
			return -1;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return 0;
}

/*
 * Splits the path after /admin/v1/ into decoded segments. AF_ADMIN_OK,
 * AF_ADMIN_NOT_FOUND (empty path or segment, too many segments) or
 * AF_ADMIN_BAD_REQUEST (bad encoding, too long).
 */
static af_admin_status split_path(af_admin_call *c, const char *path)
{
	const char *p, *slash;
	size_t len, n;

	if (path == NULL ||
	    strncmp(path, PATH_PREFIX, strlen(PATH_PREFIX)) != 0)
		return AF_ADMIN_NOT_FOUND;
	p = path + strlen(PATH_PREFIX);
	len = strnlen(p, AF_ADMIN_PATH_MAX + 1);
	if (len > AF_ADMIN_PATH_MAX)
		return AF_ADMIN_BAD_REQUEST;
	c->nseg = 0;
	while (len > 0) {
		if (c->nseg == AF_ADMIN_SEGS_MAX)
			return AF_ADMIN_NOT_FOUND;
		slash = memchr(p, '/', len);
		n = slash != NULL ? (size_t)(slash - p) : len;
		if (n == 0)
			return AF_ADMIN_NOT_FOUND;
		if (seg_decode(p, n, c->seg[c->nseg]) != 0)
			return AF_ADMIN_BAD_REQUEST;
		c->nseg++;
		p += n;
		len -= n;
		if (slash != NULL) {
			p++;
			len--;
			/* A trailing slash names nothing. */
			if (len == 0)
				return AF_ADMIN_NOT_FOUND;
		}
	}
	return c->nseg > 0 ? AF_ADMIN_OK : AF_ADMIN_NOT_FOUND;
}

static int pattern_matches(const char *pattern, const af_admin_call *c)
{
	const char *p = pattern, *end;
	size_t i = 0, n;

	while (*p != '\0') {
		end = strchr(p, '/');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (i == c->nseg)
			return 0;
		if (!(n == 1 && p[0] == '*') &&
		    (strlen(c->seg[i]) != n || memcmp(c->seg[i], p, n) != 0))
			return 0;
		i++;
		p += n;
		if (*p == '/')
			p++;
	}
	return i == c->nseg;
}

/*
 * The route for the call, or NULL with a 404 or 405 (and its Allow
 * header) already answered.
 */
static const route *find_route(af_admin_call *c)
{
	char allow[ALLOW_MAX];
	size_t i, len = 0;

	allow[0] = '\0';
	for (i = 0; i < NROUTES; i++) {
		if (!pattern_matches(routes[i].pattern, c))
			continue;
		if (af_req_method_is(routes[i].method, c->req->method))
			return &routes[i];
		af_allow_add(allow, sizeof(allow), &len, routes[i].method);
	}
	if (len == 0) {
		af_admin__error(c, AF_ADMIN_NOT_FOUND, NULL);
		return NULL;
	}
	af_resp_header_set(c->resp, "Allow", allow);
	af_admin__errorf(c, AF_ADMIN_METHOD,
			 "%s is not allowed here (allowed: %s)", c->req->method,
			 allow);
	return NULL;
}

/*
 * The target of the log line as the path names it: the segments that
 * pattern's '*' stood for ("alice", "staff/alice"). A literal segment is
 * part of the route, not an object: "keys/rotate" and "push/queue" name
 * none, so their target stays "-" unless the handler sets one (the new
 * key's kid).
 */
static void route_target(af_admin_call *c, const char *pattern)
{
	const char *names[2] = {NULL, NULL};
	const char *p = pattern;
	size_t i, n, k = 0;

	for (i = 0; i < c->nseg && *p != '\0' && k < 2; i++) {
		n = strcspn(p, "/");
		if (n == 1 && p[0] == '*')
			names[k++] = c->seg[i];
		p += n;
		if (*p == '/')
			p++;
	}
	if (names[0] != NULL)
		af_admin__target(c, names[0], names[1]);
}

/*
 * The query parameter name: a decimal number min..max into *out, or
 * *out untouched when absent. 1, or 0 with the 400 made.
 */
int af_admin__query_number(af_admin_call *c, const char *name, int64_t min,
			   int64_t max, int64_t *out)
{
	const char *v = hp_params_get(c->req->query, name);
	size_t i, n;
	int64_t x = 0;

	if (v == NULL)
		return 1;
	n = strnlen(v, QUERY_DIGITS_MAX + 1);
	for (i = 0; i < n && n <= QUERY_DIGITS_MAX; i++) {
		if (v[i] < '0' || v[i] > '9')
			break;
		x = x * 10 + (v[i] - '0');
	}
	if (n == 0 || n > QUERY_DIGITS_MAX || i != n || x < min || x > max) {
		af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
				 "%s: must be a number %lld..%lld", name,
				 (long long)min, (long long)max);
		return 0;
	}
	*out = x;
	return 1;
}

/*
 * Refuses (400) a query parameter not in allowed (NULL: the route takes
 * none) and one given twice, naming it. 1 when the query may go on to
 * the handler.
 */
static int query_allowed(af_admin_call *c, const char *const *allowed)
{
	const af_params *q = c->req->query;
	const char *name;
	size_t i, j;

	for (i = 0; i < hp_params_count(q); i++) {
		hp_params_at(q, i, &name, NULL);
		if (name == NULL)
			continue;
		for (j = 0; allowed != NULL && allowed[j] != NULL; j++) {
			if (strcmp(name, allowed[j]) == 0)
				break;
		}
		if (allowed == NULL || allowed[j] == NULL) {
			af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
					 "%.64s: unknown query parameter",
					 name);
			return 0;
		}
		if (hp_params_repeated(q, name)) {
			af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
					 "%.64s: a query parameter came twice",
					 name);
			return 0;
		}
	}
	return 1;
}

static int is_json_type(const char *ctype)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ctype == NULL || strncasecmp(ctype, want, n) != 0)
		return 0;
	return ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ';
}

/* Parses the body into c->body; 1, or 0 with a 400 answered. */
static int parse_body(af_admin_call *c)
{
	const af_req *req = c->req;
	size_t cap = c->srv->cfg.body_max > 0 ? c->srv->cfg.body_max
					      : (size_t)HP_INPUT_MAX;
	json_error_t jerr;

	if (req->body == NULL || req->body_len == 0)
		return 1;
	if (req->body_len > cap) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST, "body too large");
		return 0;
	}
	if (!is_json_type(af_req_header(req, "Content-Type"))) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"the body must be application/json");
		return 0;
	}
	c->body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES,
			     &jerr);
	if (c->body == NULL) {
		char why[sizeof(jerr.text)];

		/* The place, never the content: it may be a password. */
		af_json_why(jerr.text, why, sizeof(why));
		af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
				 "malformed JSON at line %d column %d: %.80s",
				 jerr.line, jerr.column, why);
		return 0;
	}
	if (!json_is_object(c->body)) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"the body must be a JSON object");
		return 0;
	}
	return 1;
}

/*
 * Checks the caller's token, guarded per address (throttle.h): a token
 * tried from an address in its wait is refused unchecked (429), and a
 * wrong one is counted. 1 when c->caller holds the caller, else 0 with
 * the answer in c->resp and a log line.
 */
static int authenticated(af_admin_call *c)
{
	af_server *srv = c->srv;
	const af_req *req = c->req;
	const char *why = NULL, *reason = "";
	af_admin_status st;
	af_dir_status ds;
	uint32_t wait_s = 0;
	af_throttle_turn turn = {0};

	ds = af_throttle_door_check(srv->dir, AF_THROTTLE_ADMIN, req->client_ip,
				    &wait_s, &turn);
	if (ds == AF_DIR_WAIT) {
		af_resp_retry_after(c->resp, wait_s);
		af_admin__error(c, AF_ADMIN_TOO_MANY, NULL);
		log_warn(srv->log, req->rid, "admin",
			 "actor=- action=auth status=429 ip=%s",
			 req->client_ip);
		return 0;
	}
	if (ds != AF_DIR_OK) {
		af_admin__error(c, AF_ADMIN_UNAVAILABLE, NULL);
		log_warn(srv->log, req->rid, "admin",
			 "actor=- action=auth status=503 ip=%s",
			 req->client_ip);
		return 0;
	}
	st = af_admin_auth(&srv->cfg, &srv->admin_lock, req, &c->caller, &why);
	if (st == AF_ADMIN_OK) {
		af_throttle_door_end(srv->dir, AF_THROTTLE_ADMIN,
				     req->client_ip, &turn);
		return 1;
	}
	if (why != NULL)
		reason = " reason=several_authorization_headers";
	/*
	 * Only a token sent is a guess. One not counted is not told as
	 * wrong: the answer would tell a guesser that the store counts no
	 * more.
	 */
	else if (af_req_header(req, "Authorization") != NULL &&
		 af_throttle_door_fail(srv->dir, AF_THROTTLE_ADMIN,
				       req->client_ip, &turn) != AF_DIR_OK) {
		log_error(srv->log, req->rid, "throttle",
			  "could not count a failed admin authentication");
		af_admin__error(c, AF_ADMIN_UNAVAILABLE, NULL);
		return 0;
	}
	/* A failure counted gave it back already: held is 0 then. */
	af_throttle_door_end(srv->dir, AF_THROTTLE_ADMIN, req->client_ip,
			     &turn);
	af_admin__error(c, st, why);
	log_warn(srv->log, req->rid, "admin",
		 "actor=- action=auth status=401 ip=%s%s", req->client_ip,
		 reason);
	return 0;
}

void af_h_admin(af_server *srv, af_req *req, af_resp *resp)
{
	af_admin_call *c;
	const route *r = NULL;
	af_admin_status st;
	char shown[LOG_VALUE_BUF];

	if (srv == NULL || req == NULL || resp == NULL)
		return;
	if (req->method == NULL || req->path == NULL) {
		af_resp_text(resp, 400, "application/json",
			     "{\"error\":\"bad_request\","
			     "\"message\":\"no method or path\"}");
		return;
	}
	/* Large (the decoded segments): off the MHD thread's stack. */
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		af_resp_text(resp, 500, "application/json",
			     "{\"error\":\"server_error\","
			     "\"message\":\"out of memory\"}");
		return;
	}
	c->srv = srv;
	c->req = req;
	c->resp = resp;
	c->action = "request";
	if (!authenticated(c))
		goto out;
	if (req->malformed) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				af_req_malformed_why(req));
		goto done;
	}
	st = split_path(c, req->path);
	if (st != AF_ADMIN_OK) {
		af_admin__error(c, st,
				st == AF_ADMIN_BAD_REQUEST
					? "malformed or too long path segment"
					: NULL);
		goto done;
	}
	r = find_route(c);
	if (r == NULL)
		goto done;
	c->dir = af_dir_view(srv->dir, req->client_ip, req->rid);
	if (c->dir == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		goto done;
	}
	c->action = r->action;
	route_target(c, r->pattern);
	if (r->superadmin != NULL &&
	    !af_admin__need_superadmin(c, r->superadmin))
		goto done;
	if (!query_allowed(c, r->query) || !parse_body(c))
		goto done;
	r->fn(c);
done:
	/*
	 * A token that tried what its role may not do (403) is a warning:
	 * an operator reaching past their role, or a token in other hands.
	 */
	log_write(srv->log,
		  resp->status == 403 ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
		  req->rid, "admin", NULL,
		  "actor=%s action=%s target=%s status=%u", c->caller.name,
		  c->action,
		  c->target[0] != '\0'
			  ? log_value(c->target, shown, sizeof(shown))
			  : "-",
		  resp->status);
out:
	json_decref(c->body);
	af_dir_free(c->dir);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}
