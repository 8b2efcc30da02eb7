/*
 * JOSE for authflow, over Debian's libcjose: the RS256 signing key ring,
 * signed JWTs (id_tokens, JWT access tokens, logout hints), the public
 * JWKS, and verification of our own JWTs (id_token_hint).
 *
 * The key ring lives in the state store under "keys:ring" as JSON: every
 * key with its private JWK, kid (RFC 7638 thumbprint), created_at,
 * expires_at and retire_after (when its public key may leave /jwks: after
 * every token it signed has expired). The newest unexpired key signs.
 *
 * Private key material is wiped (OPENSSL_cleanse) from every buffer this
 * module owns once it is done with it, and is never logged. (The copies
 * that jansson and cjose make inside their own allocations are wiped only
 * when the program installs wiping allocators for them at start-up.)
 *
 * Thread-safety: an af_keyring may be used from many threads; signing
 * takes a read lock, rotation a write lock.
 */
#ifndef COMMON_JOSE_H
#define COMMON_JOSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/store.h"

#define JOSE_STATUS_MAP(XX)                                            \
	XX(OK, 0, "success")                                           \
	XX(ERR_ARG, -1, "invalid argument")                            \
	XX(ERR_NOMEM, -2, "out of memory")                             \
	XX(ERR_CRYPTO, -3, "cryptographic failure")                    \
	XX(ERR_STORE, -4, "state store failure")                       \
	XX(ERR_NO_KEY, -5, "no signing key")                           \
	XX(ERR_MALFORMED, -6, "malformed JWT")                         \
	XX(ERR_SIGNATURE, -7, "bad JWT signature")                     \
	XX(ERR_UNKNOWN_KID, -8, "JWT signed by an unknown key")        \
	XX(ERR_TOO_BIG, -9, "JWT too large")                           \
	XX(ERR_CORRUPT, -10, "the key ring in the store is damaged")   \
	XX(ERR_LATE, -11, "the signing key stops signing before then") \
	XX(ERR_SOON, -12, "other nodes may still sign with the key")

typedef enum jose_status {
#define JOSE_XX(name, value, text) JOSE_##name = (value),
	JOSE_STATUS_MAP(JOSE_XX)
#undef JOSE_XX
} jose_status;

/* A static, never NULL message. Thread-safety: re-entrant. */
const char *jose_strerror(jose_status st);

#define JOSE_JWT_MAX		((size_t)16 * 1024)
#define JOSE_KID_MAX		64
/* Most keys a ring holds; a rotation that would need more is refused. */
#define JOSE_RING_KEYS_MAX	16
/*
 * How many days before the signing key expires its successor is published
 * in /jwks (half the key lifetime instead, when that is shorter): see
 * af_keyring_ensure_current().
 */
#define JOSE_PUBLISH_AHEAD_DAYS 7
/* The longest a rotation may be planned ahead (af_keyring_rotate_at()). */
#define JOSE_ROTATE_AHEAD_MAX_S 86400
/*
 * How long relying parties may keep /jwks (its Cache-Control max-age, in
 * seconds, spelled out for the header): the least a rotation planned
 * ahead should wait, so that they hold the new key before its first token.
 */
#define JOSE_JWKS_MAX_AGE_S	300
#define JOSE_STR_(x)		#x
#define JOSE_STR(x)		JOSE_STR_(x)
#define JOSE_JWKS_MAX_AGE_TEXT	JOSE_STR(JOSE_JWKS_MAX_AGE_S)
/* Longest "typ" header value af_jwt_sign() accepts. */
#define JOSE_TYP_MAX		32
/* Bytes af_oidc_half_hash() writes: 22 characters and a NUL. */
#define JOSE_HALF_HASH_LEN	23
/* The store key of the ring (under the store's prefix). */
#define JOSE_RING_STORE_KEY	"keys:ring"

typedef struct af_keyring af_keyring;

typedef struct af_keyring_options {
	unsigned rsa_bits;	       /* 2048, 3072, 4096 */
	unsigned lifetime_days;	       /* a key signs for this long */
	unsigned alert_days;	       /* alert this long before expiry */
	unsigned max_token_lifetime_s; /* longest-lived token we sign */
	/*
	 * Every this many seconds (0: never), signing, /jwks and the status
	 * look whether another node sharing the store changed the ring, and
	 * take the change in; a token with a kid not in the ring makes the
	 * look at most a second after the last one.
	 */
	unsigned refresh_s;
	/*
	 * Told (may be NULL) what an operator should know, one line each:
	 * warning 0 for a first key made in an empty store; 1 when the ring
	 * went missing from the store while this node held one (it is
	 * written back from memory), the store's ring dropped the key this
	 * node signs with, a key was made because none was current (every
	 * key had expired, or the stored ring held none), or the stored ring
	 * fails the checks of af_keyring_open() (once per damaged text; this
	 * node goes on with the ring it holds). Called from the thread that
	 * noticed, with no lock of the ring held.
	 */
	void (*notice)(void *arg, int warning, const char *msg);
	void *notice_arg;
} af_keyring_options;

/*
 * Loads the key ring from the store, making and storing a first key when
 * there is none (concurrent first starts agree through SET NX). A ring
 * whose keys have all expired is loaded as it is: call
 * af_keyring_ensure_current() at start-up.
 *
 * o (copied) needs rsa_bits 2048, 3072 or 4096, lifetime_days 1..3650,
 * alert_days <= 3650 and max_token_lifetime_s 1..2678400 (31 days).
 * st is borrowed and must outlive the ring. On success *out is the ring
 * (free with af_keyring_free()); on failure *out is NULL.
 *
 * Every key loaded from the store is checked: an RSA key of 2048, 3072 or
 * 4096 bits with public exponent 65537, its kid the RFC 7638 thumbprint,
 * and a private key that makes signatures its public key verifies. A ring
 * that fails any check is refused whole, never replaced: a new key would
 * leave the tokens signed with the old ones unverifiable.
 *
 * Returns JOSE_OK, JOSE_ERR_ARG, JOSE_ERR_NOMEM, JOSE_ERR_CRYPTO (key
 * generation failed), JOSE_ERR_STORE (the store failed) or
 * JOSE_ERR_CORRUPT (the store holds a ring that fails the checks).
 *
 * Thread-safety: makes a new object; safe to call from any thread.
 */
jose_status af_keyring_open(store_ctx *st, const af_keyring_options *o,
			    af_keyring **out);

/*
 * af_keyring_open(), and on failure one line saying why into err (errlen
 * bytes, NUL-terminated when errlen > 0), for example "key 1 of 2: kid
 * ...: an RSA key of 1024 bits, not 2048, 3072 or 4096", or the status's
 * text when the ring is not at fault. The line never holds private key
 * material. err may be NULL when errlen is 0.
 *
 * Thread-safety: as af_keyring_open().
 */
jose_status af_keyring_open_why(store_ctx *st, const af_keyring_options *o,
				af_keyring **out, char *err, size_t errlen);

/*
 * Checks the ring a store holds as af_keyring_open() would, and changes
 * nothing: no ring is JOSE_OK (a start makes one). On failure one line
 * saying why into err (errlen bytes), as af_keyring_open_why() writes it.
 * For "authflow --check-config", on a copy of the state
 * (store_open_state_copy()).
 *
 * Returns JOSE_OK, JOSE_ERR_ARG, JOSE_ERR_NOMEM, JOSE_ERR_STORE or
 * JOSE_ERR_CORRUPT.
 *
 * Thread-safety: safe from any thread.
 */
jose_status af_keyring_check_stored(store_ctx *st, char *err, size_t errlen);

/*
 * Frees the ring, wiping its private keys. Accepts NULL.
 * Thread-safety: no other thread may be using kr.
 */
void af_keyring_free(af_keyring *kr);

/*
 * Looks at the ring in the store, as signing does in passing, once
 * refresh_s has passed since the last look: takes in another node's
 * change, or writes back a ring the store lost. An idle node calls it
 * every second or so, so that a lost ring comes back even when nobody
 * signs (a node started meanwhile would make a new one). Does nothing
 * when refresh_s is 0.
 *
 * Thread-safety: safe from any thread.
 */
void af_keyring_look(af_keyring *kr);

/*
 * Re-reads the ring from the store (after another node rotated) and swaps
 * it in at once (refresh_s does it in passing). On failure the ring in memory
 * stays as it was.
 *
 * Returns JOSE_OK, JOSE_ERR_ARG, JOSE_ERR_NOMEM, JOSE_ERR_STORE (the
 * store failed, or the ring is gone) or JOSE_ERR_CORRUPT (it fails the
 * checks of af_keyring_open()).
 *
 * Thread-safety: safe; takes the write lock only for the swap.
 */
jose_status af_keyring_reload(af_keyring *kr);

/*
 * Adds a new key that signs from now on; older keys stay in /jwks until
 * their retire_after. Keys past retire_after are dropped. The new kid goes
 * into kid_out (JOSE_KID_MAX + 1) when not NULL.
 *
 * Every key that was still signing stops now: its expires_at becomes now
 * and its retire_after now + max_token_lifetime_s. A published successor
 * that has not signed yet is dropped. The ring is rewritten
 * with compare-and-swap against the value read, retried a few times when
 * another node changed it meanwhile.
 *
 * Returns JOSE_OK, JOSE_ERR_ARG (also when the ring already holds
 * JOSE_RING_KEYS_MAX live keys), JOSE_ERR_NOMEM, JOSE_ERR_CRYPTO,
 * JOSE_ERR_STORE (store failure, or lost every retry) or JOSE_ERR_CORRUPT
 * (the stored ring fails the checks of af_keyring_open(); it is left as
 * it is, and the notice callback is told why).
 *
 * Thread-safety: safe; the slow key generation runs without the lock.
 */
jose_status af_keyring_rotate(af_keyring *kr, char *kid_out);

/*
 * af_keyring_rotate() planned delay_s (0..JOSE_ROTATE_AHEAD_MAX_S)
 * seconds ahead: the new key is in /jwks from now on and signs from
 * now + delay_s, when the signing key stops; so relying parties that
 * cache /jwks (authflow says max-age=300) know it before its first token.
 * The notice callback is told. 0 is af_keyring_rotate(). Returns as it
 * does, and JOSE_ERR_LATE when the signing key stops before then (no key
 * signs now, or its lifetime ends first), JOSE_ERR_ARG for a delay out of
 * range.
 */
jose_status af_keyring_rotate_at(af_keyring *kr, int64_t delay_s,
				 char *kid_out);

/*
 * Takes key kid out of the ring at once, before its retire_after: it
 * leaves /jwks, and tokens it signed no longer verify here (an
 * id_token_hint, a JWT access token at /userinfo). For a key that may
 * have leaked: rotate first, so that the key stops signing, then retire
 * it. The key that signs now is refused, so that signing never stops; a
 * published successor may go (another is published when one is due).
 * When the signing key was cut short to hand over to that successor (a
 * rotation planned ahead, af_keyring_rotate_at()), the plan is off: the
 * signing key gets back its lifetime from when it began to sign. The
 * notice callback is told (a warning).
 *
 * With a ring that other nodes share (refresh_s not 0), a node learns of
 * a rotation at its next look and signs with the key it knew until then:
 * a key that stopped signing less than refresh_s + 1 seconds ago, by a
 * rotation made then, is refused with JOSE_ERR_SOON, and so is a
 * successor that begins to sign within that time as one that signs now,
 * so that no node signs with a key that has left the ring.
 *
 * until (may be NULL) gets 0; or, when kid was the successor a planned
 * rotation lined up and the plan is off, the time the signing key now
 * signs until; or, with JOSE_ERR_SOON, the time from which kid may go.
 *
 * Returns JOSE_OK, JOSE_ERR_ARG (kid signs now, or is about to; or kr or
 * kid NULL), JOSE_ERR_SOON, JOSE_ERR_UNKNOWN_KID (no such key in the
 * ring), JOSE_ERR_NOMEM, JOSE_ERR_STORE or JOSE_ERR_CORRUPT (as
 * af_keyring_rotate()).
 *
 * Thread-safety: safe.
 */
jose_status af_keyring_retire(af_keyring *kr, const char *kid, int64_t *until);

/*
 * Makes sure a key is signing, now and when the signing key expires. The
 * server calls it at start-up and every second after.
 *
 * When the signing key has at most JOSE_PUBLISH_AHEAD_DAYS days left (or
 * half the key lifetime, when that is shorter) and no key follows it, it
 * adds a successor whose signs_from is the signing key's expires_at: the
 * successor is in /jwks from now on, so relying parties that cache /jwks
 * know it before it signs, and it takes over at that instant with no gap.
 * The notice callback is told (not a warning) which key was published. A
 * ring of JOSE_RING_KEYS_MAX live keys gets no successor.
 *
 * When no key of the ring is current (every expires_at has passed, or the
 * ring is empty), it rotates, telling the notice callback (a warning)
 * which key it made, rather than leaving nothing to sign with.
 *
 * Either way it re-reads the store first (another node may have done it
 * already): several nodes calling it at once add one key between them,
 * the re-check happening again on each compare-and-swap retry.
 *
 * Returns as af_keyring_rotate().
 *
 * Thread-safety: safe.
 */
jose_status af_keyring_ensure_current(af_keyring *kr);

/*
 * Signs claims (borrowed) as a compact JWS, RS256, header {alg, typ, kid}.
 * typ is "JWT" or, for RFC 9068 access tokens, "at+jwt" (any non-empty
 * string of at most JOSE_TYP_MAX bytes). *out is malloc'd; free() it. The
 * signing key is, of the keys whose signs_from has come and whose
 * expires_at has not, the one that began to sign last.
 *
 * Returns JOSE_OK, JOSE_ERR_ARG (claims not an object, bad typ),
 * JOSE_ERR_NOMEM, JOSE_ERR_NO_KEY (every key has expired: see
 * af_keyring_ensure_current()) or JOSE_ERR_CRYPTO.
 *
 * Thread-safety: safe; holds the read lock while signing.
 */
jose_status af_jwt_sign(af_keyring *kr, const json_t *claims, const char *typ,
			char **out);

/*
 * Verifies a compact JWS made by af_jwt_sign() with any key of the ring
 * (expired ones too: an id_token_hint may be old) and returns its claims
 * (new reference) in *claims. Does not check exp or aud. jwt need not be
 * NUL-terminated; at most JOSE_JWT_MAX bytes are accepted.
 *
 * Returns JOSE_OK, or with *claims NULL: JOSE_ERR_ARG, JOSE_ERR_NOMEM,
 * JOSE_ERR_TOO_BIG (len > JOSE_JWT_MAX), JOSE_ERR_MALFORMED (not three
 * base64url parts, header or payload not a JSON object, no kid, a "crit"
 * header), JOSE_ERR_SIGNATURE (alg other than RS256, "none" and HS256
 * included, or a signature that does not verify) or JOSE_ERR_UNKNOWN_KID.
 *
 * Thread-safety: safe; holds the read lock while verifying.
 */
jose_status af_jwt_verify(af_keyring *kr, const char *jwt, size_t len,
			  json_t **claims);

/*
 * af_jwt_verify(), and the header's "typ" must be typ (compared without
 * regard to case; JOSE_ERR_MALFORMED otherwise): an access token ("at+jwt")
 * cannot pass for an ID token ("JWT"), nor the other way round. typ NULL
 * takes any.
 */
jose_status af_jwt_verify_typ(af_keyring *kr, const char *jwt, size_t len,
			      const char *typ, json_t **claims);

/*
 * The public JWKS document {"keys": [...]} (new reference): for every key
 * not yet past retire_after, {kty, n, e, kid, use: "sig", alg: "RS256"}.
 * Never any private member. NULL on no memory or a NULL kr.
 *
 * When refresh_s is not 0 (a store shared with other nodes) it reads the
 * ring in the store first, every call, and takes in a change: a relying
 * party that fetches /jwks from any node after seeing a token signed with
 * a key another node has just made finds that key. (Parsing happens only
 * when the stored text changed.)
 *
 * Thread-safety: safe (read lock).
 */
json_t *af_keyring_jwks(af_keyring *kr);

/*
 * Status of the signing key for `authflowctl keys status` and metrics:
 * {"keys": [{kid, created_at, signs_from, expires_at, retire_after,
 *  signing}], "signing_kid", "next_kid", "next_signs_from",
 *  "next_expires_at", "expires_in_days", "alert_days", "alert":
 *  true|false}. signing_kid is null when no key is current; next_kid,
 * next_signs_from and next_expires_at name the published successor that
 * signs next, or are null; expires_in_days is af_keyring_days_left();
 * alert_days is the option; alert is true when expires_in_days is <=
 * alert_days. New reference; NULL on no memory or a NULL kr.
 *
 * Thread-safety: safe (read lock).
 */
json_t *af_keyring_status(af_keyring *kr);

/*
 * Days until signing runs out: until the signing key expires, or until
 * its published successor does when one follows it. Rounded up (60 days
 * and an hour count as 61, so that an alert from 60 days before starts no
 * sooner). Negative when no key is current (then counted from the newest
 * expiry in the ring); -1 for an empty ring or a NULL kr.
 *
 * Thread-safety: safe (read lock).
 */
long af_keyring_days_left(af_keyring *kr);

/*
 * The RFC 7638 thumbprint of an RSA public JWK (borrowed; needs kty "RSA"
 * and base64url n and e; other members are ignored): base64url of the
 * SHA-256 of {"e":"...","kty":"RSA","n":"..."}. We use it as the kid.
 * kid_out holds JOSE_KID_MAX + 1 bytes.
 *
 * Returns JOSE_OK, JOSE_ERR_ARG (not an RSA JWK, or n or e not base64url)
 * or JOSE_ERR_NOMEM.
 *
 * Thread-safety: re-entrant.
 */
jose_status af_jwk_thumbprint(const json_t *jwk, char *kid_out);

/*
 * The OIDC left-half hash (at_hash, c_hash) of an ASCII value for RS256:
 * base64url of the left 128 bits of SHA-256. out holds at least 23 bytes
 * (JOSE_HALF_HASH_LEN); with a NULL value or a smaller out, out becomes
 * the empty string (when outcap > 0).
 *
 * Thread-safety: re-entrant.
 */
void af_oidc_half_hash(const char *value, char *out, size_t outcap);

#endif /* COMMON_JOSE_H */
