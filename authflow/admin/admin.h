/*
 * The admin API under /admin/v1/ (JSON over HTTP, bearer tokens with a
 * role) that authflowctl speaks, as docs/admin-api.md describes it for
 * administrators. The route table in admin.c lists every route.
 *
 * af_h_admin() is the one entry point: the router hands it every request
 * whose path starts with /admin/v1/, whatever the method. It checks the
 * token (auth.c), splits and percent-decodes the path, parses the JSON
 * body, finds the handler in a route table (admin.c) and writes one log
 * line per request. The handlers live one file per resource: users.c,
 * groups.c (groups and OUs), policies.c, apps.c, misc.c (status, keys,
 * sessions, audit), mfa.c (workflow, enrollment codes, devices, push
 * queue), branding.c.
 *
 * Everything below af_h_admin() is internal to the module (af_admin_ and
 * af_admin__ names): shared by its own .c files, not for other callers.
 *
 * Thread-safety: every function is re-entrant; a request's af_admin_call
 * belongs to the MHD worker thread that handles it.
 */
#ifndef AF_ADMIN_H
#define AF_ADMIN_H

#include <stddef.h>

#include <jansson.h>

#include "common/config.h"
#include "http/request.h"
#include "server.h"

#if defined(__GNUC__)
#define AF_ADMIN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AF_ADMIN_PRINTF(a, b)
#endif

/*
 * Answers one admin API request: always leaves a complete JSON response in
 * resp (errors as {"error": CODE, "message": TEXT}). srv, req and resp are
 * lent for the call.
 * Thread-safety: re-entrant; runs on MHD worker threads.
 */
void af_h_admin(af_server *srv, af_req *req, af_resp *resp);

/*
 * The module's statuses: name, value, HTTP status, error code of the JSON
 * answer, and a default message. One list, so they cannot drift apart.
 */
#define AF_ADMIN_STATUS_MAP(XX)                                      \
	XX(OK, 0, 200, "ok", "success")                              \
	XX(BAD_REQUEST, -1, 400, "bad_request", "malformed request") \
	XX(UNAUTHORIZED, -2, 401, "unauthorized",                    \
	   "a valid admin bearer token is required")                 \
	XX(FORBIDDEN, -3, 403, "forbidden",                          \
	   "this token's role may not do that")                      \
	XX(NOT_FOUND, -4, 404, "not_found", "no such resource")      \
	XX(METHOD, -5, 405, "method_not_allowed",                    \
	   "method not allowed on this resource")                    \
	XX(CONFLICT, -6, 409, "conflict",                            \
	   "already exists or changed concurrently")                 \
	XX(UNAVAILABLE, -7, 503, "unavailable",                      \
	   "the state store is unavailable")                         \
	XX(INTERNAL, -8, 500, "server_error", "internal error")      \
	XX(TOO_MANY, -9, 429, "too_many_requests",                   \
	   "too many failed authentications from this address: "     \
	   "try again later")

typedef enum af_admin_status {
#define AF_ADMIN_XX(name, value, http, code, text) AF_ADMIN_##name = (value),
	AF_ADMIN_STATUS_MAP(AF_ADMIN_XX)
#undef AF_ADMIN_XX
} af_admin_status;

/* A static, never NULL, English message for a status. */
const char *af_admin_strerror(af_admin_status st);

/* Caps on what comes in through the path, query and body. */
#define AF_ADMIN_SEGS_MAX      5    /* path segments after /admin/v1/ */
#define AF_ADMIN_SEG_MAX       256  /* bytes of one decoded segment */
#define AF_ADMIN_PATH_MAX      2048 /* bytes of the path after /admin/v1/ */
#define AF_ADMIN_PASSWORD_MAX  1024 /* bytes of a password in a body */
#define AF_ADMIN_DEPLOY_MAX    1024 /* targets of one deploy call */
#define AF_ADMIN_MSG_MAX       256  /* bytes of an error message */
#define AF_ADMIN_AUDIT_MAX     1000 /* events one audit call lists */
#define AF_ADMIN_AUDIT_DEFAULT 50

/* Who called: the admin token's name (the audit actor) and its role. */
typedef struct af_admin_caller {
	char name[sizeof(((af_admin_token *)0)->name)];
	af_admin_role role;
} af_admin_caller;

/*
 * Checks the request's "Authorization: Bearer" token against the config's
 * admin tokens (SHA-256, compared in constant time with every one of
 * them). AF_ADMIN_OK and *out, or AF_ADMIN_UNAUTHORIZED (no header, a
 * malformed one, more than one, or an unknown token). *why (why may be
 * NULL) is a static message for the answer when the status' own would
 * mislead (two headers), else NULL. The token is wiped before return and
 * never logged. lock (may be NULL) is held for reading while the tokens
 * are read, so that a reload (af_server_reload()) is seen whole.
 * Thread-safety: re-entrant.
 */
af_admin_status af_admin_auth(const af_config *cfg, pthread_rwlock_t *lock,
			      const af_req *req, af_admin_caller *out,
			      const char **why);

/* One request as the handlers see it. */
typedef struct af_admin_call {
	af_server *srv;
	af_req *req;
	af_resp *resp;
	af_admin_caller caller;
	/* The directory, as a view whose audit events name the request. */
	af_dir *dir;
	/* The decoded path segments after /admin/v1/. */
	char seg[AF_ADMIN_SEGS_MAX][AF_ADMIN_SEG_MAX + 1];
	size_t nseg;
	/* The parsed body: a JSON object, or NULL when there was none. */
	json_t *body;
	/* For the log line: what was done, to what (lent or in target). */
	const char *action;
	char target[AF_ADMIN_SEG_MAX * 2 + 2];
} af_admin_call;

/* A route handler; it leaves a complete response in c->resp. */
typedef void (*af_admin_fn)(af_admin_call *c);

/*
 * Responses. af_admin__error: {"error": code, "message": msg} with the
 * status' HTTP code (msg NULL: the status' own message). af_admin__errorf:
 * the same with a printf message. af_admin__dir_error: maps a directory
 * status (and its err text, which may be empty) to an error answer.
 * af_admin__json: status and obj (reference stolen; NULL gives a 500).
 * af_admin__ok: {"ok": true}.
 */
void af_admin__error(af_admin_call *c, af_admin_status st, const char *msg);
/*
 * af_admin__error() for a refusal that ends by itself in wait_s seconds
 * (at least 1): with a Retry-After header and "retry_after_s" in the
 * answer, which authflowctl takes for "try again later".
 */
void af_admin__error_wait(af_admin_call *c, af_admin_status st, uint32_t wait_s,
			  const char *msg);
void af_admin__errorf(af_admin_call *c, af_admin_status st, const char *fmt,
		      ...) AF_ADMIN_PRINTF(3, 4);
void af_admin__dir_error(af_admin_call *c, af_dir_status st, const char *err);
void af_admin__json(af_admin_call *c, unsigned status, json_t *obj);
void af_admin__ok(af_admin_call *c);

/*
 * Answers obj (reference stolen) and then wipes the string member
 * secret_key of obj, which holds a client secret: the response text is
 * built first, jansson's copy of the secret is wiped before the object is
 * freed, and the transient serialisation is wiped too.
 */
void af_admin__json_secret(af_admin_call *c, unsigned status, json_t *obj,
			   const char *secret_key);

/*
 * A change the directory made but could not put on the audit trail
 * (AF_DIR_UNAUDITED) that is still answered as done, because the answer
 * carries what the change made usable (a client secret): logs a warning
 * and adds the member "warning" (AF_ADMIN_UNAUDITED_WARNING) to answer.
 */
#define AF_ADMIN_UNAUDITED_WARNING                                           \
	"the change was made, but the audit trail could not record it (the " \
	"server log has the event)"
void af_admin__unaudited(af_admin_call *c, json_t *answer);

/* 1 when the caller's token is a superadmin's, else a 403 and 0. */
int af_admin__need_superadmin(af_admin_call *c, const char *what);

/*
 * The body as a JSON object; with none, a 400 naming what is needed and
 * NULL. Lent from c.
 */
json_t *af_admin__need_body(af_admin_call *c);

/*
 * The body of a PATCH: as af_admin__need_body, and an empty object is a
 * 400 too ("nothing to change"), so that no-op calls leave no audit event.
 */
json_t *af_admin__need_patch(af_admin_call *c);

/*
 * Refuses (400, naming the member) any member of obj not in the
 * NULL-terminated list allowed. 1 when all are allowed, else 0.
 */
int af_admin__only_members(af_admin_call *c, json_t *obj,
			   const char *const *allowed);

/*
 * The optional body of a route that takes one member, name, a number of
 * seconds 0..max: *out (0 when there is no body or no such member) and 1,
 * or 0 with a 400 answered (another member, or a bad value).
 */
int af_admin__body_seconds(af_admin_call *c, const char *name, int64_t max,
			   int64_t *out);

/* A string member of obj, or NULL with a 400 naming it (required). */
const char *af_admin__need_string(af_admin_call *c, const json_t *obj,
				  const char *key);

/*
 * The query parameter name: a decimal number min..max into *out, or *out
 * untouched when absent. 1, or 0 with the 400 made.
 */
int af_admin__query_number(af_admin_call *c, const char *name, int64_t min,
			   int64_t max, int64_t *out);

/* Sets c->target from one or two parts ("group/user"). */
void af_admin__target(af_admin_call *c, const char *a, const char *b);

/* The route handlers, by file. */
void af_admin__status(af_admin_call *c);

void af_admin__branding_show(af_admin_call *c);
void af_admin__branding_set(af_admin_call *c);
void af_admin__branding_reset(af_admin_call *c);

void af_admin__user_list(af_admin_call *c);
void af_admin__user_add(af_admin_call *c);
void af_admin__user_show(af_admin_call *c);
void af_admin__user_set(af_admin_call *c);
void af_admin__user_passwd(af_admin_call *c);
void af_admin__user_unlock(af_admin_call *c);
void af_admin__user_remove(af_admin_call *c);

void af_admin__group_list(af_admin_call *c);
void af_admin__group_add(af_admin_call *c);
void af_admin__group_show(af_admin_call *c);
void af_admin__group_set(af_admin_call *c);
void af_admin__group_remove(af_admin_call *c);
void af_admin__group_member_add(af_admin_call *c);
void af_admin__group_member_remove(af_admin_call *c);
void af_admin__ou_list(af_admin_call *c);
void af_admin__ou_add(af_admin_call *c);
void af_admin__ou_show(af_admin_call *c);
void af_admin__ou_remove(af_admin_call *c);
void af_admin__ou_member_add(af_admin_call *c);
void af_admin__ou_member_remove(af_admin_call *c);

void af_admin__policy_list(af_admin_call *c);
void af_admin__policy_add(af_admin_call *c);
void af_admin__policy_show(af_admin_call *c);
void af_admin__policy_set(af_admin_call *c);
void af_admin__policy_remove(af_admin_call *c);
void af_admin__policy_assign(af_admin_call *c);
void af_admin__policy_unassign(af_admin_call *c);

void af_admin__app_list(af_admin_call *c);
void af_admin__app_add(af_admin_call *c);
void af_admin__app_show(af_admin_call *c);
void af_admin__app_set(af_admin_call *c);
void af_admin__app_remove(af_admin_call *c);
void af_admin__app_rotate(af_admin_call *c);
void af_admin__app_drop_previous(af_admin_call *c);
void af_admin__app_deploy(af_admin_call *c);
void af_admin__app_undeploy(af_admin_call *c);

void af_admin__keys_status(af_admin_call *c);
void af_admin__keys_rotate(af_admin_call *c);
void af_admin__keys_retire(af_admin_call *c);
void af_admin__sessions_list(af_admin_call *c);
void af_admin__sessions_end(af_admin_call *c);
void af_admin__grants_list(af_admin_call *c);

void af_admin__audit(af_admin_call *c);

void af_admin__workflow_show(af_admin_call *c);
void af_admin__workflow_set(af_admin_call *c);
void af_admin__enroll_code(af_admin_call *c);
void af_admin__device_list(af_admin_call *c);
void af_admin__device_show(af_admin_call *c);
void af_admin__device_remove(af_admin_call *c);
void af_admin__device_set(af_admin_call *c);
void af_admin__enroll_codes_revoke(af_admin_call *c);
void af_admin__push_queue(af_admin_call *c);

#endif /* AF_ADMIN_H */
