/*
 * OpenID Connect Back-Channel Logout 1.0. When an SSO session ends (a
 * logout, a new sign-in in the same browser, an administrator ending it,
 * a new password, the user disabled), each application given a code in
 * that session whose profile has a backchannel_logout_uri is sent a
 * logout token: a JWT signed as id_tokens are, naming the session (sid)
 * and the user (sub), POSTed as the form field logout_token. A worker
 * thread of its own sends them, so that a slow or unreachable relying
 * party never holds up the request that ended the session.
 *
 * Delivery: at most AF_BCL_QUEUE_MAX tokens wait, and at most
 * AF_BCL_QUEUE_PER_URI_MAX of them for one URI (retries put back aside;
 * more are dropped, with a log line); AF_BCL_INFLIGHT_MAX are sent at
 * once, at most AF_BCL_PER_URI_MAX of them to one URI, so that a relying
 * party that hangs delays only its own, and takes an eighth of the
 * queue at most. Each token is signed
 * when it is first tried (fresh however long it waited) and tried up to
 * AF_BCL_TRIES times, again after 1 s and 3 s, each try bounded to
 * AF_BCL_TIMEOUT_MS; a redirect is a failure, never followed. Every outcome is
 * a log event
 * ("backchannel_logout") and a count in /metrics.
 *
 * Thread-safety: every function may be called from any thread but
 * af_bcl_free(), called once nothing else uses the sender.
 */
#ifndef AF_OIDC_BCLOGOUT_H
#define AF_OIDC_BCLOGOUT_H

#include <jansson.h>

#include "common/jose.h"
#include "common/log.h"
#include "common/store.h"
#include "http/metrics.h"
#include "server.h"
#include "session/session.h"

#define AF_BCL_QUEUE_MAX	 1024
#define AF_BCL_QUEUE_PER_URI_MAX 128
#define AF_BCL_INFLIGHT_MAX	 16
#define AF_BCL_PER_URI_MAX	 4
#define AF_BCL_TRIES		 3
#define AF_BCL_TIMEOUT_MS	 5000
/* How long a logout token is good for (its exp is iat plus this). */
#define AF_BCL_TOKEN_LIFETIME_S	 120
/* The event of a logout token (OpenID Connect Back-Channel Logout 2.4). */
#define AF_BCL_EVENT		 "http://schemas.openid.net/event/backchannel-logout"

typedef struct af_bcl af_bcl;

typedef enum af_bcl_status {
	AF_BCL_OK = 0,
	AF_BCL_FULL,	/* AF_BCL_QUEUE_MAX tokens wait already, or
			   AF_BCL_QUEUE_PER_URI_MAX for this URI */
	AF_BCL_NOMEM,	/* out of memory, or no thread could be started */
	AF_BCL_STOPPED, /* af_bcl_free() has begun */
} af_bcl_status;

/*
 * A sender that logs to log, counts in metrics and signs with keys as
 * issuer (all borrowed, and outliving it; issuer is copied). Its thread
 * starts with the first token. NULL when out of memory.
 *
 * With a store (borrowed; may be NULL), every token waiting is also a
 * record there until it is delivered or given up (at most an hour), kept
 * by the memory store's file too: tokens not sent when a server stops,
 * or dies, are sent by another server, or by the next start, instead of
 * being lost. A server's records name it, and it keeps a heartbeat key
 * alive (af_bcl_tick()); another takes over the records of a server whose
 * heartbeat has expired (30 s) or that stopped (af_bcl_free() ends its
 * heartbeat). Delivery is then at least once: a relying party may be told
 * twice of one session's end, which the second time ends nothing.
 */
af_bcl *af_bcl_new(log_ctx *log, af_metrics *metrics, af_keyring *keys,
		   const char *issuer, store_ctx *store);

/*
 * With a store, keeps this server's heartbeat alive and, every 15 s,
 * takes over the records of servers that stopped. Call it about every
 * second, from one thread at a time; now_ns is af_mono_ns(). b may be
 * NULL.
 */
void af_bcl_tick(af_bcl *b, uint64_t now_ns);

/*
 * The server begins to stop and will be done within within_ms: its
 * heartbeat is made to last until then, so that no other server takes
 * over the tokens it still sends meanwhile. b may be NULL.
 */
void af_bcl_stopping(af_bcl *b, unsigned within_ms);

/*
 * Queues the logout token of the session sid of the user sub for
 * client_id, to be POSTed to uri; all are copied.
 */
af_bcl_status af_bcl_send(af_bcl *b, const char *client_id, const char *uri,
			  const char *sub, const char *sid);

/*
 * Stops the sender: tokens still waiting are sent as they can within
 * grace_ms (no more retries); what is under way or waiting then is
 * dropped here (and logged), its record left for another server or the
 * next start, and the thread ends. b may be NULL.
 */
void af_bcl_free(af_bcl *b, unsigned grace_ms);

/*
 * The logout token of the session sid of the user sub for client_id,
 * signed with keys as issuer (malloc'd; free() it), or NULL when out of
 * memory or no key can sign.
 */
char *af_bcl_token(af_keyring *keys, const char *issuer, const char *client_id,
		   const char *sub, const char *sid);

/*
 * Session s has ended: queues a logout token for each of client_ids (a
 * JSON array of the client ids given codes in it) whose application has a
 * backchannel_logout_uri now. Never fails: what cannot be queued is
 * logged.
 */
void af_bcl_session_ended(af_server *srv, const af_session *s,
			  const json_t *client_ids);

#endif /* AF_OIDC_BCLOGOUT_H */
