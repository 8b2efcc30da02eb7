/*
 * SSO sessions. The browser holds a random session cookie (256 bits); the
 * store holds the session under the SHA-256 of that cookie, so a leak of
 * the store does not hand out live cookies. The cookie never carries an
 * Expires or Max-Age: it ends with the browser session, and the server
 * ends it after the configured timeout, or once it has not been used for
 * session.idle_timeout (each read of it is a use; the record notes the
 * time of the last at most every AF_SESSION_USE_PRECISION_S).
 *
 * Each session is filed under the second it can end by itself (the
 * timeout, or the idle timeout from its last use), so that one nobody
 * reads again still ends then, its applications told: see
 * af_session_sweep().
 *
 * Every sign-in step makes a fresh session id (no fixation), and signing
 * in as another user ends the previous user's session in that browser.
 *
 * Thread-safety: functions are re-entrant; an af_session is owned by the
 * caller.
 */
#ifndef AF_SESSION_H
#define AF_SESSION_H

#include <stdint.h>

#include <jansson.h>

#include "common/httpparse.h"
#include "http/request.h"
#include "server.h"

#define AF_SESSION_COOKIE	   "af_sso"
/* A use of a session is noted when the last noted is this old. */
#define AF_SESSION_USE_PRECISION_S 60
#define AF_SID_MAX		   64
#define AF_AMR_MAX		   4
#define AF_SESSION_IP_MAX	   64 /* as the request's client_ip */
#define AF_SESSION_DEVICE_MAX	   48 /* as a device id (AF_MFA_ID_BUF) */

/* A session's store key: "sess:" and 64 hex digits. */
#define AF_SESSION_KEY_BUF 80

typedef struct af_session {
	char username[96];
	char sub[64];
	char sid[AF_SID_MAX]; /* public id, the id_token "sid" claim */
	int64_t auth_time;
	int64_t created;
	int64_t created_ms; /* orders a user's sessions, oldest first */
	int64_t gen;	    /* the user's sign-in generation at sign-in */
	int64_t used;	    /* last use noted; 0: none since created */
	int64_t due;	    /* the second it is filed under; 0: none */
	char amr[AF_AMR_MAX][8];
	unsigned namr;
	char acr[32];
	char ip[AF_SESSION_IP_MAX]; /* the client's address at sign-in */
	/* its browser (hp_user_agent_describe()); "": not known */
	char browser[HP_USER_AGENT_DESC_MAX];
	/*
	 * the phone whose approval or token code was its second factor
	 * (af_session_end_device()); "": none
	 */
	char device[AF_SESSION_DEVICE_MAX];
	/* its store key, once read from the store or made there; else "" */
	char key[AF_SESSION_KEY_BUF];
} af_session;

/*
 * s as a JSON object (new reference; NULL when out of memory): what the
 * store keeps of a session, and what a sign-in keeps of the session it is
 * about to make while a step remains (web/pwchange.c).
 * af_session_from_json() fills *s back from one; members missing or of
 * the wrong type are left empty, strings cut to their fields.
 */
json_t *af_session_json(const af_session *s);

/* When s was last used, as far as its record knows (its making at least). */
int64_t af_session_last_use(const af_session *s);
/*
 * The first second at which s is over unless it is used before (its
 * timeout, a week from its sign-in with the timeout off, or its idle
 * timeout from its last use): what the sweep files it under. *why (may
 * be NULL) says which of the two it is: AF_SESSION_END_IDLE is moved by
 * a use, the timeout not.
 */
int64_t af_session_ends_at(const af_server *srv, const af_session *s,
			   af_session_end *why);
void af_session_from_json(const json_t *o, af_session *s);

/*
 * Reads the session of the request's cookie. 0 and *out when live; -1 when
 * there is none, it ended, or the store failed (*store_failed set then).
 * With session.idle_timeout, a session unused for that long is ended
 * here, and a live one has this use noted.
 */
int af_session_get(af_server *srv, const af_req *req, af_session *out,
		   int *store_failed);

/*
 * Makes a new session for the user (a fresh cookie) and sets the cookie on
 * resp. The session the browser had is taken: the same user signing in
 * again (same sub and sign-in generation, the session not over, and no
 * other phone than this sign-in's as its second factor) renews it, so
 * that s keeps its sid and the applications signed into it, which are
 * not told of an end; any other session ends (AF_SESSION_END_REPLACED,
 * its applications told). s->sid (a new one unless renewed), s->ip (the
 * request's client address) and s->browser (what its User-Agent names)
 * are filled in. 0, or -1 when the store failed.
 */
int af_session_begin(af_server *srv, const af_req *req, af_resp *resp,
		     af_session *s);

/*
 * Whether session s still stands for its user as the directory has them
 * now: 0 and *user (new reference) when the user is there, enabled, with
 * the session's sub and sign-in generation; 1 when the user is gone,
 * disabled or another of the name; 2 when the user's sign-ins were ended
 * since (af_dir_user_gen()); -1 when the store failed. *user is NULL but
 * for 0.
 */
int af_session_user(af_server *srv, const af_session *s, json_t **user);

/*
 * The request's session, for a page only a signed-in user may use: 0 and
 * *s when it is live and still stands for its user (af_session_user());
 * 1 when there is none or it ended; -1 when the store failed.
 */
int af_session_signed_in(af_server *srv, const af_req *req, af_session *s);

/*
 * Ends the request's session and clears its cookie, when it carries one:
 * 0, or -1 when the store failed (the session may live on, and the
 * cookie is left alone).
 */
int af_session_end_current(af_server *srv, const af_req *req, af_resp *resp);

/*
 * Notes that session s is about to give client_id a code: when the
 * session ends, that application is told (back-channel logout,
 * oidc/bclogout.h). 0, or 1 when s (one read from the store, or made
 * there) has ended meanwhile: then no code may go, since its end read the
 * applications to tell before this one was noted. A failure to note is
 * logged, and is 0: the sign-in goes on.
 */
int af_session_note_client(af_server *srv, const af_session *s,
			   const char *client_id);

/*
 * The applications session s signed into, by the member of their profiles
 * named member ("name" for administrators, "display_name" for users), as a
 * sorted JSON array of strings (new reference). One removed since is left
 * out, or named by its client id with gone_as_id. NULL when the store
 * failed or memory ran out.
 */
json_t *af_session_app_names(af_server *srv, const af_session *s,
			     const char *member, int gone_as_id);

/*
 * Where the sweep of sessions that end by themselves has come to: the
 * second it looks at next. Zeroed before the first call.
 */
typedef struct af_session_sweeper {
	int64_t cursor;
	unsigned tries;
} af_session_sweeper;

/*
 * Ends the sessions that ended by themselves by now, as their next use
 * would: past the timeout, or unused for the idle timeout. Their
 * applications are told (back-channel logout), which nothing else would
 * do for a session nobody reads again. Called about once a second; looks
 * at the seconds due up to AF_SESSION_SWEEP_LAG_S ago, at most
 * AF_SESSION_SWEEP_SLOTS_MAX of them a call, so that a start after a
 * pause catches up a little at a time (from AF_SESSION_DUE_KEEP_S back
 * at most). A session used since it was filed is filed again under its
 * new second. While the store is down a second waits for it; one that
 * still fails with the store up is left after AF_SESSION_SWEEP_TRIES
 * tries. Every node of a cluster may sweep: a session ends once. A
 * cursor ahead of now (the clock was set back) goes back to now, so that
 * no second to come is passed over.
 */
#define AF_SESSION_SWEEP_LAG_S	   2
#define AF_SESSION_SWEEP_SLOTS_MAX 300
#define AF_SESSION_SWEEP_TRIES	   5
#define AF_SESSION_DUE_KEEP_S	   3600
void af_session_sweep(af_server *srv, af_session_sweeper *sw, int64_t now);

/* Calls fn for each live session of a user; returns the count or -1. */
int af_session_list(af_server *srv, const char *username,
		    void (*fn)(const af_session *s, void *arg), void *arg);

/* Ends every session of a user; returns how many, or -1. */
int af_session_end_user(af_server *srv, const char *username);

/*
 * Ends what a user is still signed into once the directory has raised
 * their sign-in generation (a new password, the user disabled, sessions
 * ended): their SSO sessions, enrollment codes not yet used (an
 * administrator's too: one is made again after the change), and pushes
 * waiting on their phones. The number of sessions ended, or -1 when the
 * store failed.
 */
int af_session_end_signins(af_server *srv, const char *username);

/*
 * The three below also revoke the enrollment codes the user made (not an
 * administrator's), since which browser made which is not kept: a code a
 * thief's session made must not outlive it.
 *
 * Ends the one session of a user whose public id is sid (the browser it
 * lives in is signed out; what it signed into lives on); returns 1, 0
 * when the user has no such session (no code revoked then), or -1.
 */
int af_session_end_one(af_server *srv, const char *username, const char *sid);

/*
 * Ends every session of a user whose second factor was the phone device
 * (a phone removed, as when lost: what its approvals signed into ends
 * with it); returns how many, or -1.
 */
int af_session_end_device(af_server *srv, const char *username,
			  const char *device);

/*
 * Ends every session of a user but the one whose public id is keep_sid
 * (the browser asking), however many there are; returns how many, or -1.
 */
int af_session_end_others(af_server *srv, const char *username,
			  const char *keep_sid);

#endif /* AF_SESSION_H */
