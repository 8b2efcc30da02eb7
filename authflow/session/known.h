/*
 * Known browsers: a browser in which a user has completed a sign-in
 * carries a cookie that says so, and a failed password or token code
 * there is counted against that browser rather than the user (see
 * directory/throttle.h). Someone who knows only a user's name can then
 * lock the user out of every other browser, but not out of their own.
 *
 * The cookie ("af_known"; "__Host-af_known" on https) holds up to
 * AF_KNOWN_ENTRIES_MAX entries, one per user who signed in with the
 * browser, newest first, joined by '.'. An entry is the base64url of the
 * time it was issued (8 bytes, big-endian Unix seconds) and the first 16
 * bytes of HMAC-SHA256 under the server's key of a label, that time and
 * the user: the folded name, the sub and the sign-in generation, so that
 * a new password, ended sessions, a disabled account or a user removed
 * and made again forget every browser the user had. It names nobody: an entry
 * is found by trying the name typed, and shows nothing to whoever reads the
 * cookie. It signs nobody in either, so it lives for the configured days
 * (limits.known_browser_days), past the browser session; a new sign-in
 * renews its entry. The id of a known browser (what the throttle counts
 * by) is the hex of the entry's MAC.
 *
 * The key is 32 random bytes kept in the store ("known_browser_key",
 * durable, no expiry), made by the first node that needs it: every node
 * of one store knows the same browsers. Deleting it forgets every
 * browser at once.
 *
 * Thread-safety: re-entrant.
 */
#ifndef AF_SESSION_KNOWN_H
#define AF_SESSION_KNOWN_H

#include <stddef.h>
#include <stdint.h>

#include "common/store.h"
#include "http/request.h"
#include "server.h"

#define AF_KNOWN_COOKIE	     "af_known"
#define AF_KNOWN_KEY_BYTES   32
#define AF_KNOWN_ENTRIES_MAX 5
/* An entry: 24 bytes in base64url. */
#define AF_KNOWN_ENTRY_LEN   32
/* A cookie value whole, and its NUL. */
#define AF_KNOWN_VALUE_BUF \
	((size_t)AF_KNOWN_ENTRIES_MAX * (AF_KNOWN_ENTRY_LEN + 1))
/* A browser id: 32 hex characters and a NUL. */
#define AF_KNOWN_ID_BUF 33
/* An entry issued this far ahead of the clock still counts (clock steps). */
#define AF_KNOWN_SKEW_S 300

/* Longest sub an entry takes (subs the directory makes are shorter). */
#define AF_KNOWN_SUB_MAX 128

/* Whom an entry is for. */
typedef struct af_known_user {
	const char *name; /* folded as the directory keeps it */
	const char *sub;  /* 1..AF_KNOWN_SUB_MAX bytes */
	int64_t gen;	  /* af_dir_user_gen() */
} af_known_user;

typedef enum af_known_status {
	AF_KNOWN_OK = 0,
	AF_KNOWN_NONE,	  /* no entry of the cookie is the user's */
	AF_KNOWN_INVALID, /* a bad argument, or a value that cannot fit */
	AF_KNOWN_STORE,	  /* the key could not be read or made */
	AF_KNOWN_CRYPTO	  /* the MAC or the RNG failed */
} af_known_status;

/* A static, human-readable text for st. */
const char *af_known_strerror(af_known_status st);

/*
 * The browser id of value's entry for u, into id: AF_KNOWN_OK,
 * AF_KNOWN_NONE (none is u's, or it is older than life_s, or issued more
 * than AF_KNOWN_SKEW_S ahead of now; value may be NULL or anything a
 * client sent; u's name malformed or its sub empty or too long),
 * AF_KNOWN_INVALID, AF_KNOWN_CRYPTO. id is "" unless AF_KNOWN_OK.
 */
af_known_status af_known_match(const uint8_t key[AF_KNOWN_KEY_BYTES],
			       const char *value, const af_known_user *u,
			       int64_t now, int64_t life_s,
			       char id[AF_KNOWN_ID_BUF]);

/*
 * The cookie value after u signed in at now, into out (outcap >=
 * AF_KNOWN_VALUE_BUF): a new entry for u first, then the entries of value
 * (NULL: none) that are well formed, in their lifetime and not u's, each
 * once, up to AF_KNOWN_ENTRIES_MAX in all. AF_KNOWN_OK, AF_KNOWN_INVALID,
 * AF_KNOWN_CRYPTO.
 */
af_known_status af_known_add(const uint8_t key[AF_KNOWN_KEY_BYTES],
			     const char *value, const af_known_user *u,
			     int64_t now, int64_t life_s, char *out,
			     size_t outcap);

/*
 * The server's key into key, made (32 bytes from the CSPRNG) when the
 * store has none (store_secret()): AF_KNOWN_OK, or AF_KNOWN_STORE (also
 * for a stored key that is not 64 hex characters, or no random bytes).
 * The caller wipes key.
 */
af_known_status af_known_key(store_ctx *store, uint8_t key[AF_KNOWN_KEY_BYTES]);

/*
 * The id of req's browser as known to the user named user (as typed),
 * into id (AF_KNOWN_OK), or AF_KNOWN_NONE (not known, no such user, or
 * known browsers are off), AF_KNOWN_STORE, AF_KNOWN_CRYPTO (id is then "";
 * the caller treats the browser as unknown, which only ever counts more
 * strictly).
 */
af_known_status af_known_browser(af_server *srv, const af_req *req,
				 const char *user, char id[AF_KNOWN_ID_BUF]);

/*
 * After a whole sign-in of u (the session's user, sub and generation):
 * sets the cookie on resp with u's entry renewed. Nothing when known
 * browsers are off; a failure is only logged, since the sign-in stands
 * without it.
 */
void af_known_remember(af_server *srv, const af_req *req, af_resp *resp,
		       const af_known_user *u);

#endif /* AF_SESSION_KNOWN_H */
