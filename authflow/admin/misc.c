/* /admin/v1/status, keys, sessions and audit. */
#include <ctype.h>
#include <string.h>

#include "admin/admin.h"
#include "common/jose.h"
#include "common/util.h"
#include "directory/audit.h"
#include "mfa/mfa.h"
#include "oidc/grant.h"
#include "session/session.h"

#ifndef AF_ADMIN_VERSION
#error "AF_ADMIN_VERSION must be defined by the build (the project version)"
#endif

/* The latest Unix time "since" and "until" take (year 36812). */
#define AUDIT_SINCE_MAX ((int64_t)1 << 40)
/* The largest audit sequence number "before" takes. */
#define AUDIT_SEQ_MAX	999999999999999LL

/* The length of a directory list, or JSON null when it cannot be read. */
static json_t *count_of(af_dir_status (*list)(af_dir *dir, json_t **out),
			af_dir *dir)
{
	json_t *arr = NULL, *n;

	if (list(dir, &arr) != AF_DIR_OK)
		return json_null();
	n = json_integer((json_int_t)json_array_size(arr));
	json_decref(arr);
	return n;
}

void af_admin__status(af_admin_call *c)
{
	af_server *srv = c->srv;
	int store_ok = store_ping(srv->store) == STORE_OK, evicts = 0;
	char policy[64];

	/* Left out when the store cannot tell (down, or INFO refused). */
	if (!store_ok || store_eviction(srv->store, &evicts, policy,
					sizeof(policy)) != STORE_OK)
		evicts = -1;
	af_admin__json(
		c, 200,
		json_pack("{s:s, s:s, s:{s:s, s:b, s:o?}, s:{s:b, s:b}, s:o?, "
			  "s:o?, s:o?}",
			  "issuer", srv->cfg.issuer, "version",
			  AF_ADMIN_VERSION, "store", "backend",
			  store_get_backend(srv->store) == STORE_BACKEND_REDIS
				  ? "redis"
				  : "memory",
			  "ok", store_ok, "evicts",
			  evicts < 0 ? NULL : json_boolean(evicts), "features",
			  "sso", srv->cfg.feature_sso != 0, "remote_access_mfa",
			  srv->cfg.feature_remote_access_mfa != 0, "users",
			  count_of(af_dir_user_list, srv->dir), "apps",
			  count_of(af_dir_app_list, srv->dir), "keys",
			  af_keyring_status(srv->keys)));
}

void af_admin__keys_status(af_admin_call *c)
{
	af_admin__json(c, 200, af_keyring_status(c->srv->keys));
}

/*
 * The refusal of a full ring: when its first key leaves by itself, and
 * how to make room sooner.
 */
static void ring_full(af_admin_call *c)
{
	json_t *status = af_keyring_status(c->srv->keys), *k;
	json_int_t first = 0;
	char when[32] = "";
	size_t i;

	json_array_foreach(json_object_get(status, "keys"), i, k)
	{
		json_int_t t =
			json_integer_value(json_object_get(k, "retire_after"));

		if (!json_is_true(json_object_get(k, "signing")) && t > 0 &&
		    (first == 0 || t < first))
			first = t;
	}
	json_decref(status);
	if (first > 0)
		af_time_iso8601((int64_t)first, when, sizeof(when));
	af_admin__errorf(c, AF_ADMIN_CONFLICT,
			 "the key ring is full (%d keys): the first leaves by "
			 "itself at %s; 'keys retire KID' takes a key that no "
			 "longer signs out now",
			 JOSE_RING_KEYS_MAX, when[0] != '\0' ? when : "-");
}

/* A refusal of the ring's: a damaged ring is left as it is. */
static void ring_error(af_admin_call *c, jose_status js)
{
	af_admin__error(c,
			js == JOSE_ERR_STORE ? AF_ADMIN_UNAVAILABLE
					     : AF_ADMIN_INTERNAL,
			js == JOSE_ERR_CORRUPT
				? "the key ring in the store is damaged (the "
				  "server log says how); nothing was changed"
				: jose_strerror(js));
}

/*
 * The optional body's "after_s": a rotation planned that many seconds
 * ahead (0: now). 1, or 0 with a 400 answered.
 */
static int rotate_after(af_admin_call *c, int64_t *after)
{
	if (!af_admin__body_seconds(c, "after_s", JOSE_ROTATE_AHEAD_MAX_S,
				    after))
		return 0;
	/*
	 * Sooner than relying parties may keep /jwks, the new key could
	 * sign tokens they cannot verify yet: what the plan is for.
	 */
	if (*after > 0 && *after < JOSE_JWKS_MAX_AGE_S) {
		af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
				 "after_s: at least %d, the seconds relying "
				 "parties may keep /jwks (0 rotates now)",
				 JOSE_JWKS_MAX_AGE_S);
		return 0;
	}
	return 1;
}

void af_admin__keys_rotate(af_admin_call *c)
{
	char kid[JOSE_KID_MAX + 1];
	json_t *status, *detail;
	jose_status js;
	af_dir_status st;
	int64_t after;

	kid[0] = '\0';
	if (!rotate_after(c, &after))
		return;
	js = af_keyring_rotate_at(c->srv->keys, after, kid);
	if (js == JOSE_ERR_ARG) {
		ring_full(c);
		return;
	}
	if (js == JOSE_ERR_LATE) {
		af_admin__error(c, AF_ADMIN_CONFLICT,
				"the signing key stops signing before then "
				"(its lifetime ends, or a rotation is planned "
				"sooner): plan it sooner, or rotate now");
		return;
	}
	if (js != JOSE_OK) {
		ring_error(c, js);
		return;
	}
	af_admin__target(c, kid, NULL);
	detail = after > 0 ? json_pack("{s:I}", "after_s", (json_int_t)after)
			   : NULL;
	st = af_audit_record(c->dir, c->caller.name, "keys.rotate", kid,
			     detail);
	json_decref(detail);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st,
				    "rotated, but the audit event could not "
				    "be written");
		return;
	}
	status = af_keyring_status(c->srv->keys);
	if (status == NULL ||
	    json_object_set_new(status, "kid", json_string(kid)) != 0) {
		json_decref(status);
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	af_admin__json(c, 200, status);
}

/*
 * A key that stopped signing a moment ago: the nodes that share the ring
 * may sign with it until they see the rotation, and their tokens would
 * verify nowhere once it left. The key may go from "from" on.
 */
static void retire_soon(af_admin_call *c, int64_t from)
{
	char msg[160];
	int64_t wait = from - af_now();

	wait = wait > 1 ? wait : 1;
	snprintf(msg, sizeof(msg),
		 "this key stopped signing a moment ago, and other nodes may "
		 "still sign with it until they see that: retire it in %lld s",
		 (long long)wait);
	af_admin__error_wait(c, AF_ADMIN_CONFLICT,
			     wait < 86400 ? (uint32_t)wait : 86400, msg);
}

void af_admin__keys_retire(af_admin_call *c)
{
	const char *kid = c->seg[1];
	json_t *status, *detail = NULL;
	int64_t called_off = 0;
	jose_status js;
	af_dir_status st;

	js = af_keyring_retire(c->srv->keys, kid, &called_off);
	if (js == JOSE_ERR_SOON) {
		retire_soon(c, called_off);
		return;
	}
	if (js == JOSE_ERR_UNKNOWN_KID) {
		af_admin__error(c, AF_ADMIN_NOT_FOUND,
				"no such key in the ring");
		return;
	}
	if (js == JOSE_ERR_ARG) {
		af_admin__error(c, AF_ADMIN_CONFLICT,
				"this key signs now, or begins to within "
				"seconds: rotate first ('keys rotate'), then "
				"retire it");
		return;
	}
	if (js != JOSE_OK) {
		ring_error(c, js);
		return;
	}
	/*
	 * The successor a planned rotation lined up: the plan is off, and
	 * the signing key signs for its whole lifetime again. The answer
	 * and the audit event say so, not only the server's log.
	 */
	status = af_keyring_status(c->srv->keys);
	if (called_off > 0) {
		detail = json_pack("{s:b}", "rotation_called_off", 1);
		if (status != NULL &&
		    json_object_set_new(status, "rotation_called_off",
					json_true()) != 0) {
			json_decref(status);
			status = NULL;
		}
	}
	st = af_audit_record(c->dir, c->caller.name, "keys.retire", kid,
			     detail);
	json_decref(detail);
	if (st != AF_DIR_OK) {
		json_decref(status);
		af_admin__dir_error(c, st,
				    "retired, but the audit event could not "
				    "be written");
		return;
	}
	af_admin__json(c, 200, status);
}

/*
 * The "user" query parameter, checked and folded to lower case as the
 * directory folds user names, into out (AF_DIR_USERNAME_MAX + 1 bytes).
 * 1, or 0 with a 400 answered. (Unknown and repeated parameters were
 * refused before the handler.)
 */
static int query_user(af_admin_call *c, char *out)
{
	const char *v = hp_params_get(c->req->query, "user");
	char err[AF_DIR_ERR_BUF] = "";
	size_t i, n;

	if (v == NULL) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"user: required (?user=NAME)");
		return 0;
	}
	if (af_dir_check_username("user", v, err, sizeof(err)) != AF_DIR_OK) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST, err);
		return 0;
	}
	n = strnlen(v, AF_DIR_USERNAME_MAX);
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)v[i]);
	out[n] = '\0';
	af_admin__target(c, out, NULL);
	return 1;
}

struct listed {
	af_server *srv;
	json_t *arr;
};

static void add_session(const af_session *s, void *arg)
{
	struct listed *l = arg;
	json_t *amr = json_array(), *o;
	int64_t ends = af_session_ends_at(l->srv, s, NULL);
	unsigned i;

	for (i = 0; amr != NULL && i < s->namr && i < AF_AMR_MAX; i++)
		json_array_append_new(amr, json_string(s->amr[i]));
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o?, s:o, s:s?, s:s?, s:o?}",
		      "sid", s->sid, "username", s->username, "auth_time",
		      (json_int_t)s->auth_time, "created",
		      (json_int_t)s->created, "last_used",
		      (json_int_t)af_session_last_use(s), "ends_at",
		      ends > 0 ? json_integer(ends) : NULL, "amr", amr, "ip",
		      s->ip[0] != '\0' ? s->ip : NULL, "browser",
		      s->browser[0] != '\0' ? s->browser : NULL, "apps",
		      af_session_app_names(l->srv, s, "name", 1));
	if (o != NULL)
		json_array_append_new(l->arr, o);
}

void af_admin__sessions_list(af_admin_call *c)
{
	char user[AF_DIR_USERNAME_MAX + 1];
	json_t *arr;

	if (!query_user(c, user))
		return;
	arr = json_array();
	if (arr == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	if (af_session_list(c->srv, user, add_session,
			    &(struct listed){c->srv, arr}) < 0) {
		json_decref(arr);
		af_admin__error(c, AF_ADMIN_UNAVAILABLE, NULL);
		return;
	}
	af_admin__json(c, 200, json_pack("{s:o}", "sessions", arr));
}

/* The applications' offline access of one user, for grants_list(). */
struct granted {
	af_server *srv;
	const json_t *user; /* NULL: the user is gone */
	json_t *arr;
};

/*
 * One refresh family as listed: its application (the profile's name, or
 * NULL when the profile is gone), scopes, the sign-in it began with, its
 * end, and whether it is still honoured (a sign-out everywhere, a new
 * password or disabling the user since ends it). Never a token, its hash
 * or the application's nonce.
 */
static void add_grant(const json_t *rec, void *arg)
{
	struct granted *g = arg;
	const char *client_id =
		json_string_value(json_object_get(rec, "client_id"));
	json_t *app = NULL, *o;
	af_dir_status st;

	if (client_id == NULL)
		return;
	st = af_dir_app_get(g->srv->dir, client_id, &app);
	o = json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:b}", "client_id",
		      client_id, "app",
		      st == AF_DIR_OK ? json_object_get(app, "name") : NULL,
		      "scope", json_object_get(rec, "scope"), "auth_time",
		      json_object_get(rec, "auth_time"), "amr",
		      json_object_get(rec, "amr"), "expires_at",
		      json_object_get(rec, "rt_exp"), "current",
		      g->user != NULL && af_grant_gen_current(rec, g->user));
	if (o != NULL)
		json_array_append_new(g->arr, o);
	json_decref(app);
}

/*
 * GET grants?user=U: the applications that hold a refresh token of the
 * user (offline access), one entry per token family.
 */
void af_admin__grants_list(af_admin_call *c)
{
	char user[AF_DIR_USERNAME_MAX + 1];
	struct granted g = {c->srv, NULL, NULL};
	json_t *rec = NULL;
	af_dir_status st;

	if (!query_user(c, user))
		return;
	st = af_dir_user_get(c->dir, user, &rec);
	if (st != AF_DIR_OK && st != AF_DIR_NOT_FOUND) {
		af_admin__dir_error(c, st, NULL);
		return;
	}
	g.user = rec;
	g.arr = json_array();
	if (g.arr == NULL)
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
	else if (af_grant_list_user(c->srv, user, add_grant, &g) < 0)
		af_admin__error(c, AF_ADMIN_UNAVAILABLE, NULL);
	else
		af_admin__json(c, 200, json_pack("{s:O}", "grants", g.arr));
	json_decref(g.arr);
	json_decref(rec);
}

/*
 * The sessions.end event of n sessions of user ended (sid: the one asked
 * for, or NULL for all), and the answer {"ended": n}.
 */
static void sessions_ended(af_admin_call *c, const char *user, int n,
			   const char *sid)
{
	json_t *detail = json_pack("{s:i, s:s?}", "ended", n, "sid", sid);
	af_dir_status st;

	st = detail != NULL ? af_audit_record(c->dir, c->caller.name,
					      "sessions.end", user, detail)
			    : AF_DIR_NOMEM;
	json_decref(detail);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st,
				    "sessions ended, but the audit event could "
				    "not be written");
		return;
	}
	af_admin__json(c, 200, json_pack("{s:i}", "ended", n));
}

/*
 * DELETE sessions?user=U&sid=S: the one session, in the browser it lives
 * in; what it signed into lives on, as after the user's own sign-out. The
 * enrollment codes the user made go with it (which browser made which is
 * not kept), as when the user signs the other browsers out.
 */
static void session_end_one(af_admin_call *c, const char *user, const char *sid)
{
	int n;

	if (strlen(sid) >= AF_SID_MAX) {
		af_admin__error(c, AF_ADMIN_NOT_FOUND, "no such session");
		return;
	}
	n = af_session_end_one(c->srv, user, sid);
	if (n < 0) {
		af_admin__error(c, AF_ADMIN_UNAVAILABLE, NULL);
		return;
	}
	if (n == 0) {
		af_admin__error(c, AF_ADMIN_NOT_FOUND, "no such session");
		return;
	}
	sessions_ended(c, user, n, sid);
}

void af_admin__sessions_end(af_admin_call *c)
{
	char user[AF_DIR_USERNAME_MAX + 1];
	const char *sid = hp_params_get(c->req->query, "sid");
	af_dir_status st;
	int n;

	if (!query_user(c, user))
		return;
	/* An empty sid names no session; it must not end them all. */
	if (sid != NULL && sid[0] == '\0') {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"sid: empty (leave it out to end every session "
				"of the user)");
		return;
	}
	if (sid != NULL) {
		session_end_one(c, user, sid);
		return;
	}
	/*
	 * The user's codes and tokens, and sign-ins half done, end with the
	 * sessions; a user no longer there has only sessions left to end.
	 */
	st = af_dir_user_end_signins(c->dir, user);
	if (st != AF_DIR_OK && st != AF_DIR_NOT_FOUND) {
		af_admin__dir_error(c, st, NULL);
		return;
	}
	n = af_session_end_signins(c->srv, user);
	if (n < 0) {
		af_admin__error(c, AF_ADMIN_UNAVAILABLE, NULL);
		return;
	}
	sessions_ended(c, user, n, NULL);
}

struct events {
	json_t *arr;
	int failed;
};

static int add_event(const json_t *event, void *arg)
{
	struct events *ev = arg;
	json_t *copy = json_deep_copy(event);

	if (copy == NULL || json_array_append_new(ev->arr, copy) != 0) {
		ev->failed = 1;
		return 1;
	}
	return 0;
}

/*
 * The query parameter name, when given: 1..max bytes of printable text
 * (what an event's member can hold) into *out; 1, or 0 with the 400 made.
 */
static int query_text(af_admin_call *c, const char *name, size_t max,
		      const char **out)
{
	const char *v = hp_params_get(c->req->query, name);

	if (v == NULL)
		return 1;
	/* Printable as every name is: what the trail holds, nothing else. */
	if (v[0] == '\0' || af_dir__utf8_chars(v, max) < 0) {
		af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
				 "%s: must be 1..%zu bytes of printable UTF-8",
				 name, max);
		return 0;
	}
	*out = v;
	return 1;
}

void af_admin__audit(af_admin_call *c)
{
	char folded[AF_DIR_USERNAME_MAX + 1];
	struct events ev = {NULL, 0};
	af_audit_filter filter = {0};
	int64_t limit = AF_ADMIN_AUDIT_DEFAULT, before = 0, oldest;
	json_t *answer;
	af_dir_status st;

	if (!af_admin__query_number(c, "limit", 1, AF_ADMIN_AUDIT_MAX,
				    &limit) ||
	    !af_admin__query_number(c, "before", 1, AUDIT_SEQ_MAX, &before) ||
	    !af_admin__query_number(c, "since", 0, AUDIT_SINCE_MAX,
				    &filter.since) ||
	    !af_admin__query_number(c, "until", 1, AUDIT_SINCE_MAX,
				    &filter.until) ||
	    !query_text(c, "actor", AF_DIR_ACTOR_MAX, &filter.actor) ||
	    !query_text(c, "action", AF_AUDIT_ACTION_MAX, &filter.action) ||
	    !query_text(c, "target", AF_AUDIT_TARGET_MAX, &filter.target) ||
	    !query_text(c, "user", AF_AUDIT_TARGET_MAX, &filter.user))
		return;
	/*
	 * User names are kept in lower case: ?user=Alice finds alice's
	 * events, as the rest of the API folds a user's name. One that is
	 * no user name is matched as given (a name an older version kept).
	 */
	if (filter.user != NULL &&
	    af_dir_user_canonical(filter.user, folded, sizeof(folded)) ==
		    AF_DIR_OK)
		filter.user = folded;
	ev.arr = json_array();
	if (ev.arr == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	st = af_audit_list_before(c->dir, before, (size_t)limit, &filter,
				  add_event, &ev);
	if (st != AF_DIR_OK || ev.failed) {
		json_decref(ev.arr);
		if (st != AF_DIR_OK)
			af_admin__dir_error(c, st, NULL);
		else
			af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	/* A full page may have older events behind it: say where to go on. */
	oldest = json_integer_value(json_object_get(
		json_array_get(ev.arr, json_array_size(ev.arr) - 1), "seq"));
	answer = json_pack("{s:o}", "events", ev.arr);
	if (answer != NULL && json_array_size(ev.arr) == (size_t)limit &&
	    oldest > 1)
		json_object_set_new(answer, "next_before",
				    json_integer(oldest));
	af_admin__json(c, 200, answer);
}
