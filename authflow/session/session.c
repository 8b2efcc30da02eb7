/* SSO sessions in the store, keyed by the SHA-256 of the cookie. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/util.h"
#include "directory/directory.h"
#include "mfa/mfa.h"
#include "oidc/bclogout.h"
#include "session/session.h"

#define COOKIE_BYTES	      32
#define COOKIE_MAX	      64
/*
 * With the timeout "off" a session still ends a week after its sign-in,
 * as at a timeout: its applications are told.
 */
#define SESSION_GC_S	      ((int64_t)7 * 86400)
/*
 * A user keeps at most this many sessions (browsers) at once; the oldest
 * end first. The index is pruned every PRUNE_EVERY sign-ins of the user,
 * so its cost is spread thin.
 */
#define SESSIONS_PER_USER_MAX 64
#define PRUNE_EVERY	      32
/* An index member: "<created_ms>.<hex>", the session's key "sess:<hex>". */
#define MEMBER_MAX	      96
/*
 * A session's record outlives its timeout by this much, so that the sweep
 * still finds it (its user, its applications) to end it, as far back as
 * it catches up after a pause; reads refuse it from the timeout on all
 * the same.
 */
#define SWEEP_GRACE_S	      AF_SESSION_DUE_KEEP_S
#define KEY_HEX		      64 /* a session's key: "sess:" and this many */
/* At most this many sessions are read from one second's file at a time. */
#define DUE_BATCH_MAX	      1000
/* A session in use may change under the sweep: it reads it again. */
#define SWEEP_CAS_TRIES	      4

static void key_of(const char *cookie, char *key, size_t keycap)
{
	char hex[65];

	af_sha256_hex(cookie, strlen(cookie), hex);
	snprintf(key, keycap, "sess:%s", hex);
}

static void index_key(const char *username, char *key, size_t keycap)
{
	snprintf(key, keycap, "user_sessions:%s", username);
}

/* The set of the client ids a session gave codes to, by its public id. */
static void clients_key(const char *sid, char *key, size_t keycap)
{
	snprintf(key, keycap, "session_clients:%s", sid);
}

/* How long a session lasts at most from its sign-in, in seconds. */
static int64_t lifetime_s(const af_server *srv)
{
	return srv->cfg.session_timeout_s > 0
		       ? (int64_t)srv->cfg.session_timeout_s
		       : SESSION_GC_S;
}

/* How long a session, and what goes with it, stays in the store. */
static uint64_t session_ttl_ms(const af_server *srv)
{
	return (uint64_t)(lifetime_s(srv) + SWEEP_GRACE_S) * 1000;
}

/* The file of the sessions that can end in the second slot. */
static void due_key(int64_t slot, char *key, size_t keycap)
{
	snprintf(key, keycap, "session_due:%lld", (long long)slot);
}

/*
 * The user's index lists each session as "<created_ms>.<hex>" (hex: the
 * session key's after "sess:"), so that the oldest are found without
 * reading every session. A member of the older form, "<hex>" alone, reads
 * as made at time 0: the oldest of all.
 */
static void member_of(int64_t created_ms, const char *key, char *member,
		      size_t cap)
{
	snprintf(member, cap, "%lld.%s", (long long)created_ms, key + 5);
}

/* The key and the time of making of an index member; -1 when malformed. */
static int member_parse(const char *member, char *key, size_t keycap,
			int64_t *created_ms)
{
	const char *dot = strchr(member, '.');
	const char *hex = dot != NULL ? dot + 1 : member;
	unsigned long long ms = 0;
	const char *p;

	for (p = member; dot != NULL && p < dot; p++) {
		if (*p < '0' || *p > '9' ||
		    ms > (unsigned long long)INT64_MAX / 10)
			return -1;
		ms = ms * 10 + (unsigned long long)(*p - '0');
	}
	if ((dot != NULL && dot == member) ||
	    ms > (unsigned long long)INT64_MAX || *hex == '\0' ||
	    strlen(hex) + 6 > keycap)
		return -1;
	snprintf(key, keycap, "sess:%s", hex);
	*created_ms = (int64_t)ms;
	return 0;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src != NULL ? strlen(src) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void af_session_from_json(const json_t *o, af_session *s)
{
	const json_t *amr, *v;
	size_t i;

	memset(s, 0, sizeof(*s));
	copy_str(s->username, sizeof(s->username),
		 json_string_value(json_object_get(o, "username")));
	copy_str(s->sub, sizeof(s->sub),
		 json_string_value(json_object_get(o, "sub")));
	copy_str(s->sid, sizeof(s->sid),
		 json_string_value(json_object_get(o, "sid")));
	copy_str(s->acr, sizeof(s->acr),
		 json_string_value(json_object_get(o, "acr")));
	/* Sessions made before addresses were kept have none. */
	copy_str(s->ip, sizeof(s->ip),
		 json_string_value(json_object_get(o, "ip")));
	copy_str(s->browser, sizeof(s->browser),
		 json_string_value(json_object_get(o, "browser")));
	copy_str(s->device, sizeof(s->device),
		 json_string_value(json_object_get(o, "device")));
	s->auth_time = json_integer_value(json_object_get(o, "auth_time"));
	s->created = json_integer_value(json_object_get(o, "created"));
	s->created_ms = json_integer_value(json_object_get(o, "created_ms"));
	s->gen = json_integer_value(json_object_get(o, "gen"));
	s->used = json_integer_value(json_object_get(o, "used"));
	s->due = json_integer_value(json_object_get(o, "due"));
	amr = json_object_get(o, "amr");
	json_array_foreach(amr, i, v)
	{
		if (s->namr == AF_AMR_MAX || !json_is_string(v))
			break;
		copy_str(s->amr[s->namr++], sizeof(s->amr[0]),
			 json_string_value(v));
	}
}

static int from_json(const char *text, size_t len, af_session *s)
{
	json_t *o = json_loadb(text, len, 0, NULL);

	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	af_session_from_json(o, s);
	json_decref(o);
	return s->username[0] != '\0' && s->sid[0] != '\0' ? 0 : -1;
}

json_t *af_session_json(const af_session *s)
{
	json_t *amr = json_array();
	unsigned i;

	for (i = 0; amr != NULL && i < s->namr; i++)
		json_array_append_new(amr, json_string(s->amr[i]));
	return json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
		"s:o*, s:s*}",
		"username", s->username, "sub", s->sub, "sid", s->sid, "acr",
		s->acr, "ip", s->ip, "browser", s->browser, "auth_time",
		(json_int_t)s->auth_time, "created", (json_int_t)s->created,
		"created_ms", (json_int_t)s->created_ms, "gen",
		(json_int_t)s->gen, "used", (json_int_t)s->used, "due",
		(json_int_t)s->due, "amr", amr, "device",
		s->device[0] != '\0' ? s->device : NULL);
}

static char *to_json(const af_session *s)
{
	json_t *o = af_session_json(s);
	char *text;

	if (o == NULL)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static int end_by_key(af_server *srv, const char *key, af_session_end why);
static int end_over(af_server *srv, const char *rid, const char *key,
		    const af_session *s, af_session_end why);

int64_t af_session_last_use(const af_session *s)
{
	return s->used > s->created ? s->used : s->created;
}

/*
 * The first second at which s is past session.timeout, or with none a
 * week from its sign-in (*abs), and past session.idle_timeout from its
 * last use (*idle; 0 when not set).
 */
static void deadlines(const af_server *srv, const af_session *s, int64_t *abs,
		      int64_t *idle)
{
	*abs = s->auth_time + lifetime_s(srv) + 1;
	*idle = srv->cfg.session_idle_s > 0
			? af_session_last_use(s) +
				  (int64_t)srv->cfg.session_idle_s
			: 0;
}

/*
 * Whether s has ended by itself by now: 1 and *why (the timeout or the
 * idle timeout), or 0 while it lives.
 */
static int over(const af_server *srv, const af_session *s, int64_t now,
		af_session_end *why)
{
	int64_t abs, idle;

	deadlines(srv, s, &abs, &idle);
	*why = now >= abs ? AF_SESSION_END_TIMEOUT : AF_SESSION_END_IDLE;
	return now >= abs || (idle > 0 && now >= idle);
}

int64_t af_session_ends_at(const af_server *srv, const af_session *s,
			   af_session_end *why)
{
	int64_t abs, idle;

	deadlines(srv, s, &abs, &idle);
	if (why != NULL)
		*why = idle > 0 && idle < abs ? AF_SESSION_END_IDLE
					      : AF_SESSION_END_TIMEOUT;
	return idle > 0 && idle < abs ? idle : abs;
}

/*
 * Files the session under key in the second s->due, for the sweep; the
 * file lasts AF_SESSION_DUE_KEEP_S past it. A failure is logged: the
 * session then ends at its next use only.
 */
static void file_due(af_server *srv, const char *key, const af_session *s,
		     int64_t now)
{
	char due[48];
	int64_t ttl = s->due - now + AF_SESSION_DUE_KEEP_S;

	if (s->due <= 0)
		return;
	due_key(s->due, due, sizeof(due));
	if (store_sadd_ttl(srv->store, due, key + 5,
			   (uint64_t)(ttl > 0 ? ttl : 1) * 1000) != STORE_OK)
		log_warn(srv->log, NULL, "session",
			 "user=%s: could not file the session for its end",
			 s->username);
}

/* Takes the session under key out of its second's file. Best effort. */
static void unfile_due(af_server *srv, const char *key, const af_session *s)
{
	char due[48];

	if (s->due <= 0)
		return;
	due_key(s->due, due, sizeof(due));
	if (store_srem(srv->store, due, key + 5) != STORE_OK)
		log_debug(srv->log, NULL, "session",
			  "could not take an ended session from its file");
}

/*
 * Notes a use of the session under key, read as s, now: written back
 * only while the key still exists (an ended session stays ended), with
 * the time it has left. Best effort: a failure only notes it later.
 */
static void note_use(af_server *srv, const char *key, af_session *s,
		     int64_t now)
{
	uint64_t left = 0;
	char *text;

	s->used = now;
	text = to_json(s);
	if (text != NULL && store_ttl(srv->store, key, &left) == STORE_OK &&
	    left > 0 &&
	    store_set(srv->store, key, text, strlen(text), left,
		      STORE_SET_XX) != STORE_OK)
		log_debug(srv->log, NULL, "session",
			  "could not note a session's use");
	free(text);
}

int af_session_get(af_server *srv, const af_req *req, af_session *out,
		   int *store_failed)
{
	char cookie[COOKIE_MAX + 1], key[80];
	store_value v = {0};
	store_status st;
	int64_t now = af_now();
	af_session_end why;
	int rc = -1;

	*store_failed = 0;
	if (af_req_cookie(req, AF_SESSION_COOKIE, cookie, sizeof(cookie)) != 0)
		return -1;
	key_of(cookie, key, sizeof(key));
	OPENSSL_cleanse(cookie, sizeof(cookie));
	st = store_get(srv->store, key, &v);
	if (st == STORE_NOT_FOUND)
		return -1;
	if (st != STORE_OK) {
		*store_failed = 1;
		return -1;
	}
	rc = from_json((const char *)v.data, v.len, out);
	store_value_free(&v);
	copy_str(out->key, sizeof(out->key), key);
	if (rc == 0 && over(srv, out, now, &why)) {
		(void)end_over(srv, req->rid, key, out, why);
		rc = -1;
	} else if (rc == 0 && srv->cfg.session_idle_s > 0 &&
		   now - af_session_last_use(out) >=
			   AF_SESSION_USE_PRECISION_S) {
		note_use(srv, key, out, now);
	}
	return rc;
}

int af_session_user(af_server *srv, const af_session *s, json_t **user)
{
	af_dir_status st = af_dir_user_get(srv->dir, s->username, user);
	int rc = 0;

	if (st == AF_DIR_STORE || st == AF_DIR_NOMEM)
		rc = -1;
	else if (st != AF_DIR_OK ||
		 !json_is_true(json_object_get(*user, "enabled")) ||
		 !json_is_string(json_object_get(*user, "sub")) ||
		 strcmp(json_string_value(json_object_get(*user, "sub")),
			s->sub) != 0)
		rc = 1;
	else if (af_dir_user_gen(*user) != s->gen)
		rc = 2;
	if (rc != 0) {
		json_decref(*user);
		*user = NULL;
	}
	return rc;
}

static int collect_member(const char *member, void *arg);

/*
 * The client ids of the applications session s gave codes to (a new JSON
 * array, in no order), or NULL when the store failed or memory ran out.
 */
static json_t *clients_of(af_server *srv, const af_session *s)
{
	char key[AF_SID_MAX + 32];
	json_t *clients = json_array();

	clients_key(s->sid, key, sizeof(key));
	if (clients != NULL && store_smembers(srv->store, key, collect_member,
					      clients) != STORE_OK) {
		json_decref(clients);
		clients = NULL;
	}
	return clients;
}

/*
 * Session s, whose record under skey is gone, has ended: it leaves its
 * second's file, the applications it gave codes to are told
 * (oidc/bclogout.h), and its list of them goes.
 */
static void ended(af_server *srv, const char *skey, const af_session *s)
{
	char key[AF_SID_MAX + 32];
	json_t *clients;

	unfile_due(srv, skey, s);
	clients = clients_of(srv, s);

	if (clients == NULL) {
		log_warn(srv->log, NULL, "session",
			 "user=%s: the applications signed into in an ended "
			 "session could not be read, and are not told",
			 s->username);
		return;
	}
	clients_key(s->sid, key, sizeof(key));
	if (json_array_size(clients) > 0) {
		/* Told (their records written) before the list goes. */
		af_bcl_session_ended(srv, s, clients);
		if (store_del(srv->store, key) != STORE_OK)
			log_warn(srv->log, NULL, "session",
				 "could not forget the applications of an "
				 "ended session");
	}
	json_decref(clients);
}

/* Takes session s, whose record under key is gone, out of its index. */
static void unindex(af_server *srv, const char *key, const af_session *s)
{
	char idx[160], member[MEMBER_MAX];

	index_key(s->username, idx, sizeof(idx));
	member_of(s->created_ms, key, member, sizeof(member));
	/*
	 * The index only lists sessions; a stale member (one of the older
	 * form among them) is harmless, and pruned in time.
	 */
	if (store_srem(srv->store, idx, member) != STORE_OK)
		log_warn(srv->log, NULL, "session",
			 "could not update the session index");
}

/*
 * Ends the session under key, for why: 1 when this call did (so that of
 * racing callers one logs and counts it), 0 when it was gone already, -1
 * when the store failed (it may live on: the caller tries again).
 */
static int end_by_key(af_server *srv, const char *key, af_session_end why)
{
	store_value v = {0};
	af_session s;
	store_status st = store_getdel(srv->store, key, &v);

	if (st != STORE_OK)
		return st == STORE_NOT_FOUND ? 0 : -1;
	if (from_json((const char *)v.data, v.len, &s) == 0) {
		ended(srv, key, &s);
		unindex(srv, key, &s);
	}
	store_value_free(&v);
	af_metrics_session_end(srv->metrics, why, 1);
	return 1;
}

/*
 * Whether session old goes on as s, the browser's new sign-in: the same
 * user at the same sign-in generation, old not over, and old's phone
 * (when its second factor was one) the one s used. A sign-in again
 * (prompt=login, max_age, a step-up) then renews the session the
 * applications signed into rather than ending it under them.
 */
static int goes_on_as(const af_server *srv, const af_session *old,
		      const af_session *s, int64_t now)
{
	af_session_end why;

	return strcmp(old->sub, s->sub) == 0 && old->gen == s->gen &&
	       !over(srv, old, now, &why) &&
	       (old->device[0] == '\0' || strcmp(old->device, s->device) == 0);
}

/*
 * The browser's session under key, as s signs in: taken from the store,
 * and renewed when it goes on as s (goes_on_as()): s keeps its public id
 * and with it the applications signed into it, which are not told of an
 * end that did not happen, and the list of them lasts as long as s may.
 * Else it ends (AF_SESSION_END_REPLACED), its applications told. 1
 * renewed, 0 ended or none, -1 when the store failed.
 */
static int renew_or_end(af_server *srv, const char *key, af_session *s)
{
	store_value v = {0};
	af_session old;
	json_t *clients = NULL;
	char ckey[AF_SID_MAX + 32];
	store_status st = store_getdel(srv->store, key, &v);
	int rc = 0;

	if (st != STORE_OK)
		return st == STORE_NOT_FOUND ? 0 : -1;
	if (from_json((const char *)v.data, v.len, &old) != 0) {
		af_metrics_session_end(srv->metrics, AF_SESSION_END_REPLACED,
				       1);
	} else if (!goes_on_as(srv, &old, s, af_now())) {
		ended(srv, key, &old);
		unindex(srv, key, &old);
		af_metrics_session_end(srv->metrics, AF_SESSION_END_REPLACED,
				       1);
	} else {
		unfile_due(srv, key, &old);
		unindex(srv, key, &old);
		memcpy(s->sid, old.sid, sizeof(s->sid));
		clients = clients_of(srv, &old);
		clients_key(s->sid, ckey, sizeof(ckey));
		/* Added again, a member makes the list last as long as s. */
		if (json_array_size(clients) > 0 &&
		    store_sadd_ttl(
			    srv->store, ckey,
			    json_string_value(json_array_get(clients, 0)),
			    session_ttl_ms(srv)) != STORE_OK)
			log_warn(srv->log, NULL, "session",
				 "user=%s: the list of the applications of a "
				 "renewed session could not be kept as long as "
				 "it",
				 s->username);
		json_decref(clients);
		rc = 1;
	}
	store_value_free(&v);
	return rc;
}

/*
 * Ends session s under key, over by itself for why (its next read, or
 * the sweep, found it so), and logs it once. As end_by_key().
 */
static int end_over(af_server *srv, const char *rid, const char *key,
		    const af_session *s, af_session_end why)
{
	int rc = end_by_key(srv, key, why);

	if (rc == 1)
		log_info(srv->log, rid, "session", "user=%s ended=1 reason=%s",
			 s->username, af_metrics_session_end_name(why));
	return rc;
}

struct indexed_session {
	char member[MEMBER_MAX];
	int64_t created;
};

static int by_created(const void *a, const void *b)
{
	const struct indexed_session *x = a, *y = b;

	return (x->created > y->created) - (x->created < y->created);
}

/*
 * Ends the user's oldest sessions beyond SESSIONS_PER_USER_MAX, oldest by
 * the times their index members carry: no session is read. A member whose
 * session has ended already (expired) is among the oldest, and goes; a
 * malformed one goes too.
 */
static void prune_user(af_server *srv, const char *username)
{
	char key[96], idx[160];
	json_t *members = json_array(), *m;
	struct indexed_session *all = NULL;
	size_t i, n = 0, drop, gone = 0;
	af_session s;
	store_value v = {0};
	int64_t created;
	store_status st;

	index_key(username, idx, sizeof(idx));
	if (members == NULL ||
	    store_smembers(srv->store, idx, collect_member, members) !=
		    STORE_OK ||
	    json_array_size(members) <= SESSIONS_PER_USER_MAX)
		goto out;
	all = calloc(json_array_size(members), sizeof(*all));
	if (all == NULL)
		goto out;
	json_array_foreach(members, i, m)
	{
		const char *member = json_string_value(m);

		if (member == NULL)
			continue;
		if (strlen(member) >= sizeof(all[n].member) ||
		    member_parse(member, key, sizeof(key), &created) != 0) {
			if (store_srem(srv->store, idx, member) != STORE_OK)
				goto out;
			continue;
		}
		memcpy(all[n].member, member, strlen(member) + 1);
		all[n++].created = created;
	}
	if (n <= SESSIONS_PER_USER_MAX)
		goto out;
	qsort(all, n, sizeof(*all), by_created);
	for (drop = 0; drop < n - SESSIONS_PER_USER_MAX; drop++) {
		(void)member_parse(all[drop].member, key, sizeof(key),
				   &created);
		st = store_getdel(srv->store, key, &v);
		if (st == STORE_OK &&
		    from_json((const char *)v.data, v.len, &s) == 0)
			ended(srv, key, &s);
		store_value_free(&v);
		if (st != STORE_OK && st != STORE_NOT_FOUND)
			break;
		gone += st == STORE_OK;
		if (store_srem(srv->store, idx, all[drop].member) != STORE_OK)
			break;
	}
	af_metrics_session_end(srv->metrics, AF_SESSION_END_TOO_MANY,
			       (unsigned)gone);
	if (gone > 0)
		log_info(srv->log, NULL, "session",
			 "user=%s ended=%zu reason=too_many_sessions", username,
			 gone);
out:
	free(all);
	json_decref(members);
}

int af_session_signed_in(af_server *srv, const af_req *req, af_session *s)
{
	json_t *user = NULL;
	int failed = 0, rc;

	if (af_session_get(srv, req, s, &failed) != 0)
		return failed ? -1 : 1;
	rc = af_session_user(srv, s, &user);
	json_decref(user);
	return rc == 0 ? 0 : rc < 0 ? -1 : 1;
}

int af_session_begin(af_server *srv, const af_req *req, af_resp *resp,
		     af_session *s)
{
	char cookie[COOKIE_MAX + 1], old[COOKIE_MAX + 1], key[80], idx[160];
	char cnt[160], member[MEMBER_MAX];
	uint64_t ttl_ms;
	int64_t adds = 0;
	char *text = NULL;
	int rc = -1, renewed = 0;

	/*
	 * Whatever session this browser had is taken here, and the new one
	 * has a cookie of its own: no fixation. The same user signing in
	 * again renews it (renew_or_end()); any other's ends. One the store
	 * could not take would live on, its applications never told, behind
	 * a browser that no longer holds it: nothing begins then.
	 */
	if (af_req_cookie(req, AF_SESSION_COOKIE, old, sizeof(old)) == 0) {
		key_of(old, key, sizeof(key));
		OPENSSL_cleanse(old, sizeof(old));
		renewed = renew_or_end(srv, key, s);
		if (renewed < 0)
			goto out;
	}
	if (af_random_token(COOKIE_BYTES, cookie, sizeof(cookie)) != 0 ||
	    (!renewed && af_random_token(16, s->sid, sizeof(s->sid)) != 0))
		goto out;
	s->created_ms = af_now_ms();
	s->created = s->created_ms / 1000;
	s->used = 0;
	s->due = af_session_ends_at(srv, s, NULL);
	copy_str(s->ip, sizeof(s->ip), req->client_ip);
	if (hp_user_agent_describe(af_req_header(req, "User-Agent"), s->browser,
				   sizeof(s->browser)) != HP_OK)
		s->browser[0] = '\0';
	text = to_json(s);
	if (text == NULL)
		goto out;
	key_of(cookie, key, sizeof(key));
	ttl_ms = session_ttl_ms(srv);
	if (store_set(srv->store, key, text, strlen(text), ttl_ms, 0) !=
	    STORE_OK)
		goto out;
	copy_str(s->key, sizeof(s->key), key);
	file_due(srv, key, s, s->created);
	index_key(s->username, idx, sizeof(idx));
	/*
	 * The index lives as long as the newest session in it, and like the
	 * sessions it is never written to the memory store's file.
	 */
	member_of(s->created_ms, key, member, sizeof(member));
	/*
	 * A session the index does not name would be out of reach of "sign
	 * out the other browsers" and of the cap on sessions: none is made.
	 */
	if (store_sadd_ttl(srv->store, idx, member, ttl_ms) != STORE_OK) {
		log_warn(srv->log, req->rid, "session",
			 "could not update the session index: no session "
			 "made");
		/* Should this fail too, the session's TTL ends it unused. */
		if (store_del(srv->store, key) != STORE_OK)
			log_warn(srv->log, req->rid, "session",
				 "could not take back an unindexed session");
		goto out;
	}
	snprintf(cnt, sizeof(cnt), "user_session_adds:%s", s->username);
	if (store_incr(srv->store, cnt, 1, ttl_ms, &adds) == STORE_OK &&
	    adds % PRUNE_EVERY == 0)
		prune_user(srv, s->username);
	af_resp_cookie(resp, AF_SESSION_COOKIE, cookie, AF_COOKIE_SESSION);
	rc = 0;
out:
	if (rc != 0 && renewed > 0) {
		/*
		 * Renewed, then not made: the session is over after all, and
		 * its applications are told.
		 */
		ended(srv, key, s);
		af_metrics_session_end(srv->metrics, AF_SESSION_END_REPLACED,
				       1);
	}
	OPENSSL_cleanse(cookie, sizeof(cookie));
	free(text);
	return rc;
}

int af_session_end_current(af_server *srv, const af_req *req, af_resp *resp)
{
	char cookie[COOKIE_MAX + 1], key[80];

	/*
	 * Only a cookie the request carried is cleared: a request without
	 * one may be another site's cross-site POST (SameSite=Lax keeps the
	 * cookie out of it, but browsers still apply the answer's
	 * Set-Cookie), which must not sign anyone out.
	 */
	if (af_req_cookie(req, AF_SESSION_COOKIE, cookie, sizeof(cookie)) != 0)
		return 0;
	key_of(cookie, key, sizeof(key));
	OPENSSL_cleanse(cookie, sizeof(cookie));
	/* Not ended: the browser keeps the cookie, to try again with it. */
	if (end_by_key(srv, key, AF_SESSION_END_LOGOUT) < 0)
		return -1;
	af_resp_cookie(resp, AF_SESSION_COOKIE, "", AF_COOKIE_CLEAR);
	return 0;
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *af_session_app_names(af_server *srv, const af_session *s,
			     const char *member, int gone_as_id)
{
	json_t *ids = clients_of(srv, s), *names = json_array();
	json_t *out = NULL, *v;
	const char **sorted = NULL;
	size_t i, n;

	if (ids == NULL || names == NULL)
		goto done;
	json_array_foreach(ids, i, v)
	{
		json_t *app = NULL;
		const char *name = NULL;

		if (af_dir_app_get(srv->dir, json_string_value(v), &app) ==
		    AF_DIR_OK)
			name = json_string_value(json_object_get(app, member));
		if (name == NULL && gone_as_id)
			name = json_string_value(v);
		if (name != NULL)
			json_array_append_new(names, json_string(name));
		json_decref(app);
	}
	n = json_array_size(names);
	sorted = calloc(n + 1, sizeof(*sorted));
	if (sorted == NULL)
		goto done;
	for (i = 0; i < n; i++)
		sorted[i] = json_string_value(json_array_get(names, i));
	qsort(sorted, n, sizeof(*sorted), by_text);
	out = json_array();
	for (i = 0; out != NULL && i < n; i++)
		json_array_append_new(out, json_string(sorted[i]));
done:
	free(sorted);
	json_decref(names);
	json_decref(ids);
	return out;
}

int af_session_note_client(af_server *srv, const af_session *s,
			   const char *client_id)
{
	char key[AF_SID_MAX + 32];
	uint64_t ttl = 0;

	if (client_id == NULL)
		return 0;
	clients_key(s->sid, key, sizeof(key));
	/*
	 * The list lives as long as a session can: it outlives the session
	 * when that ends sooner (idle), harmlessly, and goes in time.
	 */
	if (store_sadd_ttl(srv->store, key, client_id, session_ttl_ms(srv)) !=
	    STORE_OK) {
		log_warn(srv->log, NULL, "session",
			 "user=%s client=%s: could not note the application "
			 "in the session: it will not be told when the "
			 "session ends",
			 s->username, client_id);
		return 0;
	}
	/*
	 * An end takes the session, then reads its list: a session still
	 * there now is one whose end, whenever it comes, reads this client.
	 */
	return s->key[0] != '\0' && store_ttl(srv->store, s->key, &ttl) ==
					    STORE_NOT_FOUND
		       ? 1
		       : 0;
}

static int collect_member(const char *member, void *arg)
{
	json_t *arr = arg;

	/* Bounded: a user with thousands of sessions is already abnormal. */
	if (json_array_size(arr) >= 10000)
		return 1;
	json_array_append_new(arr, json_string(member));
	return 0;
}

/*
 * Visits each live session of a user (only the one whose public id is sid,
 * when sid is not NULL; never the one whose id is keep, when keep is not
 * NULL; only those whose second factor was device, when device is not
 * NULL): fn for each, and with end set, ends them. The count, or -1.
 * Members are collected first so that no store call happens inside the
 * set walk.
 */
static int visit_user(af_server *srv, const char *username, const char *sid,
		      const char *keep, const char *device, int end,
		      void (*fn)(const af_session *s, void *arg), void *arg)
{
	char key[96], idx[160];
	int64_t created;
	json_t *members = json_array(), *m;
	store_value v = {0};
	store_status st;
	af_session s;
	int count = 0, ok, failed = 0, ending_failed = 0;
	size_t i;
	af_session_end why;

	if (members == NULL)
		return -1;
	index_key(username, idx, sizeof(idx));
	if (store_smembers(srv->store, idx, collect_member, members) !=
	    STORE_OK) {
		json_decref(members);
		return -1;
	}
	json_array_foreach(members, i, m)
	{
		const char *member = json_string_value(m);

		if (member == NULL)
			continue;
		st = member_parse(member, key, sizeof(key), &created) == 0
			     ? store_get(srv->store, key, &v)
			     : STORE_NOT_FOUND;
		if (st == STORE_NOT_FOUND) {
			/* Expired or damaged: dropped from the index. */
			st = store_srem(srv->store, idx, member);
			(void)st; /* left in, it is dropped next time */
			continue;
		}
		/* Left listed, for the call to be made again. */
		if (st != STORE_OK) {
			failed = 1;
			continue;
		}
		ok = from_json((const char *)v.data, v.len, &s) == 0;
		store_value_free(&v);
		/* One past its timeout or idle timeout is over: not listed. */
		if (ok && over(srv, &s, af_now(), &why)) {
			if (end_by_key(srv, key, why) < 0)
				failed = 1;
			continue;
		}
		if (sid != NULL && (!ok || strcmp(s.sid, sid) != 0))
			continue;
		if (keep != NULL && ok && strcmp(s.sid, keep) == 0)
			continue;
		if (device != NULL && (!ok || strcmp(s.device, device) != 0))
			continue;
		if (ok) {
			count++;
			if (fn != NULL)
				fn(&s, arg);
		}
		/* A damaged session ends with the others. */
		if (end && end_by_key(srv, key, AF_SESSION_END_ENDED) < 0)
			ending_failed = 1;
	}
	json_decref(members);
	/*
	 * The one session asked for was found and ended: what failed with
	 * the others (unread, or over and not ended) is not its failure.
	 */
	if (sid != NULL && count > 0 && !ending_failed)
		return count;
	return failed || ending_failed ? -1 : count;
}

int af_session_list(af_server *srv, const char *username,
		    void (*fn)(const af_session *s, void *arg), void *arg)
{
	return visit_user(srv, username, NULL, NULL, NULL, 0, fn, arg);
}

int af_session_end_user(af_server *srv, const char *username)
{
	return visit_user(srv, username, NULL, NULL, NULL, 1, NULL, NULL);
}

int af_session_end_signins(af_server *srv, const char *username)
{
	int n = af_session_end_user(srv, username);
	int failed = n < 0;

	/* Whatever became of the sessions: a code must not outlive them. */
	failed |= af_mfa_enroll_codes_revoke(srv->store, username) != AF_MFA_OK;
	failed |= af_mfa_txns_cancel_user(srv->store, username, af_now()) !=
		  AF_MFA_OK;
	return failed ? -1 : n;
}

/*
 * After n of a user's sessions were ended (-1: the store failed): the
 * enrollment codes the user made go too, since which browser made which
 * is not kept, so that what a thief's session made does not outlive it.
 * n, or -1.
 */
static int own_codes_too(af_server *srv, const char *username, int n)
{
	if (n < 0 ||
	    af_mfa_enroll_codes_revoke_own(srv->store, username) != AF_MFA_OK)
		return -1;
	return n;
}

int af_session_end_one(af_server *srv, const char *username, const char *sid)
{
	int n = visit_user(srv, username, sid, NULL, NULL, 1, NULL, NULL);

	return n > 0 ? own_codes_too(srv, username, n) : n;
}

int af_session_end_device(af_server *srv, const char *username,
			  const char *device)
{
	if (device == NULL || device[0] == '\0')
		return 0;
	return own_codes_too(
		srv, username,
		visit_user(srv, username, NULL, NULL, device, 1, NULL, NULL));
}

int af_session_end_others(af_server *srv, const char *username,
			  const char *keep_sid)
{
	return own_codes_too(
		srv, username,
		visit_user(srv, username, NULL, keep_sid, NULL, 1, NULL, NULL));
}

/* Whether member is a session's key without its "sess:": hex, as made. */
static int member_is_key(const char *member)
{
	size_t i;

	for (i = 0; i < KEY_HEX; i++)
		if (!((member[i] >= '0' && member[i] <= '9') ||
		      (member[i] >= 'a' && member[i] <= 'f')))
			return 0;
	return member[KEY_HEX] == '\0';
}

static int collect_due(const char *member, void *arg)
{
	json_t *arr = arg;

	if (json_array_size(arr) >= DUE_BATCH_MAX)
		return 1;
	json_array_append_new(arr, json_string(member));
	return 0;
}

/*
 * The session under key, filed in the second slot: ended when it is over
 * by now, filed again under its new second when it was used since. 0; 1
 * when a use was noted meanwhile (read it again); -1 when the store
 * failed.
 */
static int sweep_one(af_server *srv, const char *key, int64_t slot, int64_t now)
{
	store_value v = {0};
	store_status st;
	af_session s;
	af_session_end why;
	char *text = NULL;
	int rc = -1;

	st = store_get(srv->store, key, &v);
	if (st == STORE_NOT_FOUND)
		return 0;
	if (st != STORE_OK)
		return -1;
	if (from_json((const char *)v.data, v.len, &s) != 0) {
		rc = 0; /* damaged: its next read ends it */
		goto out;
	}
	if (over(srv, &s, now, &why)) {
		rc = end_over(srv, NULL, key, &s, why) < 0 ? -1 : 0;
		goto out;
	}
	s.due = af_session_ends_at(srv, &s, NULL);
	if (s.due <= slot)
		s.due = now + 1;
	text = to_json(&s);
	if (text == NULL)
		goto out;
	/* Written back only as it was read (a use noted meanwhile wins). */
	st = store_cas(srv->store, key, v.data, v.len, text, strlen(text), 0);
	if (st == STORE_OK)
		file_due(srv, key, &s, now);
	rc = st == STORE_OK || st == STORE_NOT_FOUND ? 0
	     : st == STORE_CONFLICT		     ? 1
						     : -1;
out:
	store_value_free(&v);
	free(text);
	return rc;
}

/*
 * The sessions filed in the second slot: each ended or filed again, and
 * taken out of it. 0 when the second is done, 1 when more of it is left
 * for the next call, -1 when the store failed.
 */
static int sweep_slot(af_server *srv, int64_t slot, int64_t now)
{
	char due[48], key[80];
	json_t *members = json_array(), *m;
	unsigned tries;
	size_t i;
	int one, rc = -1;

	if (members == NULL)
		return -1;
	due_key(slot, due, sizeof(due));
	if (store_smembers(srv->store, due, collect_due, members) != STORE_OK)
		goto out;
	json_array_foreach(members, i, m)
	{
		const char *member = json_string_value(m);

		if (member == NULL)
			continue;
		if (member_is_key(member)) {
			snprintf(key, sizeof(key), "sess:%s", member);
			tries = 0;
			do
				one = sweep_one(srv, key, slot, now);
			while (one > 0 && ++tries < SWEEP_CAS_TRIES);
			if (one != 0)
				goto out;
		}
		if (store_srem(srv->store, due, member) != STORE_OK)
			goto out;
	}
	rc = json_array_size(members) >= DUE_BATCH_MAX ? 1 : 0;
out:
	json_decref(members);
	return rc;
}

void af_session_sweep(af_server *srv, af_session_sweeper *sw, int64_t now)
{
	unsigned slots = 0;
	int rc;

	/* Past the files' lifetime there is nothing left to find. */
	if (sw->cursor < now - AF_SESSION_DUE_KEEP_S) {
		sw->cursor = now - AF_SESSION_DUE_KEEP_S;
		sw->tries = 0;
	}
	/*
	 * A cursor ahead of the clock, which was set back: the seconds
	 * before it were swept, those from now on are still to come.
	 */
	if (sw->cursor > now - AF_SESSION_SWEEP_LAG_S + 1) {
		sw->cursor = now - AF_SESSION_SWEEP_LAG_S;
		sw->tries = 0;
	}
	while (sw->cursor <= now - AF_SESSION_SWEEP_LAG_S &&
	       slots++ < AF_SESSION_SWEEP_SLOTS_MAX) {
		rc = sweep_slot(srv, sw->cursor, now);
		if (rc > 0)
			return; /* the rest of that second, at the next call */
		/*
		 * The store down: the second waits for it. The store up and
		 * the second still failing: it is left after a few tries,
		 * not to hold up the others.
		 */
		if (rc < 0 && (store_ping(srv->store) != STORE_OK ||
			       ++sw->tries < AF_SESSION_SWEEP_TRIES))
			return;
		if (rc < 0)
			log_warn(srv->log, NULL, "session_sweep",
				 "the sessions due at %lld could not all be "
				 "ended; they end at their next use",
				 (long long)sw->cursor);
		sw->cursor++;
		sw->tries = 0;
	}
}
