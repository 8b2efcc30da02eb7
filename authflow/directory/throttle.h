/*
 * Brute-force protection of sign-ins, per user name and per client
 * address, and of the doors that take other secrets, per address, with
 * counters in the state store (store_incr with a TTL of the window) so that
 * every node sees the same counts.
 *
 * Keys: "fail:user:<name>", "fail:ip:<addr>" (failures in the window),
 * "wait:user:<name>", "wait:ip:<addr>" (present while a delay runs; its
 * TTL is the delay left), "lock:user:<name>" (its TTL is the lock's
 * lock_s; none past AF_THROTTLE_STRIKES_MAX failures: then only an admin
 * clears it; 30 days for a name no user has), "strikes:user:<name>"
 * (failures since the user's last success, kept 30 days),
 * "turn:user:<name>" (a password check of the user under way);
 * "fail:browser:<id>", "wait:browser:<id>", "lock:browser:<id>",
 * "strikes:browser:<id>" and "turn:browser:<id>" of a browser known to a
 * user (below), and "browsers:user:<name>", the set of the user's browsers
 * that have any of these, which an unlock of the user clears too. All times
 * come from the store's TTLs, never from a clock here, so a test can follow
 * them exactly. The "fail", "lock" and "strikes" keys of users and known
 * browsers are written durable (STORE_SET_DURABLE): a restart of the memory
 * store keeps them, with the time they have left; the strikes of a name no
 * user has stay volatile.
 *
 * Use: af_throttle_begin(), then af_throttle_check() before checking the
 * password; refuse on AF_DIR_LOCKED or AF_DIR_WAIT; then
 * af_throttle_fail() or af_throttle_success(); then af_throttle_end(). Failures
 * are counted for unknown user names too, so that lockouts say nothing about
 * which names exist.
 *
 * user: a user name (folded to lower case); one that is not a valid user
 * name cannot belong to a user, so only its address is counted. ip: the
 * client address as text, 1..AF_THROTTLE_IP_MAX visible ASCII
 * characters, or NULL when not known; one that does not fit is not
 * counted. Malformed input is never a reason to refuse: a sign-in with
 * nothing to count is simply not throttled here.
 *
 * browser: NULL, or the id of a browser the user has signed in with
 * before (session/known.h), 1..AF_THROTTLE_BROWSER_MAX visible ASCII
 * characters. Its sign-ins as that user answer for themselves: the
 * failures in it are counted, delayed and locked for that browser alone,
 * with the user's limits, and the user's delay and lock (and the
 * address' delay) do not apply to it. So someone who knows only a user's
 * name, and runs the user into a lock, keeps out every other browser but
 * not the user's own. Its failures never add to the user's strikes. An
 * unlock of the user lifts the locks of the user's browsers too.
 *
 * Thread-safety: re-entrant; concurrent failures are counted atomically
 * by the store.
 */
#ifndef AUTHFLOW_DIRECTORY_THROTTLE_H
#define AUTHFLOW_DIRECTORY_THROTTLE_H

#include <stdint.h>

#include "directory/directory.h"

#define AF_THROTTLE_IP_MAX	64
#define AF_THROTTLE_BROWSER_MAX 64
/* Failures without a success after which a lock lasts until lifted. */
#define AF_THROTTLE_STRIKES_MAX 100

/* Fills params with the defaults (5, 20, 10, 900 s, 30 s, 1800 s). */
void af_throttle_params_default(af_throttle_params *params);

/* AF_DIR_OK or AF_DIR_INVALID naming the member in err. */
AF_DIR_NODISCARD af_dir_status af_throttle_params_check(
	const af_throttle_params *params, char *err, size_t errlen);

/*
 * May a sign-in be tried now? AF_DIR_OK (*wait_s = 0), AF_DIR_LOCKED (the
 * user is locked, or the known browser is; *wait_s: seconds until the lock runs
 * out, 0 when it lasts until an admin lifts it), AF_DIR_WAIT (*wait_s: seconds
 * to wait, at least 1, the longer of the user's and the address' delays),
 * AF_DIR_INVALID (dir is NULL), AF_DIR_STORE. wait_s may be NULL.
 */
AF_DIR_NODISCARD af_dir_status af_throttle_check(af_dir *dir, const char *user,
						 const char *ip,
						 const char *browser,
						 uint32_t *wait_s);

/*
 * Counts a failed sign-in: starts the next delay once past the limits, and
 * locks the user at the lock limit (the next af_throttle_check() says
 * AF_DIR_LOCKED). AF_DIR_OK, AF_DIR_INVALID, AF_DIR_STORE.
 */
AF_DIR_NODISCARD af_dir_status af_throttle_fail(af_dir *dir, const char *user,
						const char *ip,
						const char *browser);

/*
 * af_throttle_fail() for a request: the user.lock event a failure may make
 * says where it came from, ip and rid (the request id), as the events of
 * an administrator's request do.
 */
AF_DIR_NODISCARD af_dir_status af_throttle_fail_from(af_dir *dir,
						     const char *user,
						     const char *ip,
						     const char *rid,
						     const char *browser);

/*
 * Doors that take a secret other than a user's password, each guarded on
 * its own per client address ("fail:<kind>:<addr>", "wait:<kind>:<addr>",
 * volatile), apart from sign-ins, with the address limits: past
 * ip_delay_after failures within window_s each try from the address waits
 * 1, 2, 4 ... up to max_delay_s seconds, and one made before its wait ran
 * out is refused unchecked. Never counted per client id or token name:
 * whoever saw one (every authorization request shows a client's id) could
 * otherwise keep its owner out. A success clears nothing, so that one
 * good secret does not launder guesses at others from the same address.
 *   AF_THROTTLE_CLIENT: client authentication at the token,
 *     revocation and introspection endpoints (kind "client"; RFC 6749
 *     2.3.1 asks that an endpoint that takes a client's password resist
 *     brute force);
 *   AF_THROTTLE_ADMIN: the admin API's bearer tokens (kind "admin").
 */
typedef enum af_throttle_door {
	AF_THROTTLE_CLIENT = 0,
	AF_THROTTLE_ADMIN,
} af_throttle_door;

#define AF_THROTTLE_MARK_BUF 23 /* 16 random bytes in base64url, and NUL */

/*
 * A turn (af_throttle_door_check(), af_throttle_begin()): whether the
 * caller holds one, and the random mark the turn holds for it, so that a
 * check that outlived its turn cannot give back the turn of the one
 * after it. Given back, held is 0 again.
 */
typedef struct af_throttle_turn {
	int held;
	/* af_throttle_begin(): a check side by side, counted in flight */
	int side;
	char mark[AF_THROTTLE_MARK_BUF];
} af_throttle_turn;

/*
 * May the address try the door now? AF_DIR_OK (*wait_s 0), AF_DIR_WAIT
 * (*wait_s: seconds left, at least 1), AF_DIR_INVALID (dir is NULL),
 * AF_DIR_STORE. wait_s may be NULL.
 *
 * From its ip_delay_after'th failure in the window on, when each further
 * failure makes it wait, the address' tries take turns: one is checked
 * at a time and the others are told to wait a second, so that a burst
 * sent as a wait ends gets one try, not one each. turn->held is then 1:
 * the caller gives the turn back with af_throttle_door_fail() or
 * af_throttle_door_end(); should it die, the turn runs out by itself.
 */
AF_DIR_NODISCARD af_dir_status af_throttle_door_check(af_dir *dir,
						      af_throttle_door door,
						      const char *ip,
						      uint32_t *wait_s,
						      af_throttle_turn *turn);

/*
 * Counts one failure at the door from the address, and gives back turn
 * (may be NULL) when held: AF_DIR_OK (also for an address that is not
 * counted), AF_DIR_INVALID, AF_DIR_STORE.
 */
AF_DIR_NODISCARD af_dir_status af_throttle_door_fail(af_dir *dir,
						     af_throttle_door door,
						     const char *ip,
						     af_throttle_turn *turn);

/* Gives back turn when af_throttle_door_check() gave it (held 1). */
void af_throttle_door_end(af_dir *dir, af_throttle_door door, const char *ip,
			  af_throttle_turn *turn);

/*
 * One password check at a time per user name once the user has a failure
 * in the window, so that the check of the limits, the check of the
 * password and the count of its failure are one step for that user:
 * parallel guesses cannot slip past the delay or the lock between them.
 * A user without failures signs in side by side; those checks are counted
 * while they run (turn->side 1 until af_throttle_end()), and a turn taken
 * after the first failure waits for them to end, so that the first wave
 * (at most as wide as the password-check threads) cannot add failures
 * behind the turns' backs. af_throttle_begin() before af_throttle_check()
 * waits for the user's turn, up to wait_ms and a few password checks'
 * time (the wait holds a thread other sign-ins need): AF_DIR_OK
 * (turn->held 1 when the turn is the caller's, until af_throttle_end()
 * or, should the caller die, 10 s; 0 when no turn was needed),
 * AF_DIR_CONFLICT (other checks of
 * that user held it all that time: ask the client to try again),
 * AF_DIR_STORE. A known browser takes turns with itself, once it has a
 * failure.
 */
AF_DIR_NODISCARD af_dir_status af_throttle_begin(af_dir *dir, const char *user,
						 const char *browser,
						 uint32_t wait_ms,
						 af_throttle_turn *turn);
/*
 * Gives back turn when af_throttle_begin() gave it (held 1), or ends the
 * count of a check side by side (side 1).
 */
void af_throttle_end(af_dir *dir, const char *user, const char *browser,
		     af_throttle_turn *turn);

/*
 * The address's turn at a sign-in check (ip the client's, browser as for
 * af_throttle_check()): once an address has passed ip_delay_after failed
 * sign-ins in the window, its checks of passwords take turns, one at a
 * time across threads and nodes, so that a spray of names sent all at
 * once as the address's wait ends gets one check, not one per thread;
 * the names' own turns (af_throttle_begin()) cannot, as none has failed.
 * AF_DIR_OK (the turn taken when due: give it back with
 * af_throttle_ip_end()), AF_DIR_WAIT with *wait_s (the address's wait,
 * or 1 while another check holds the turn), AF_DIR_STORE. A known
 * browser, or an address not counted, takes no turn.
 */
AF_DIR_NODISCARD af_dir_status af_throttle_ip_begin(af_dir *dir, const char *ip,
						    const char *browser,
						    uint32_t *wait_s,
						    af_throttle_turn *turn);
void af_throttle_ip_end(af_dir *dir, const char *ip, af_throttle_turn *turn);

/*
 * A sign-in succeeded: clears the user's failures, delay and strikes, or
 * in a known browser that browser's only (the user's, run up elsewhere,
 * stay on their way to the lock for good). The address' stay, so that one
 * good account does not launder a spray from one address; a lock stays.
 * AF_DIR_OK, AF_DIR_INVALID, AF_DIR_STORE.
 */
AF_DIR_NODISCARD af_dir_status af_throttle_success(af_dir *dir,
						   const char *user,
						   const char *ip,
						   const char *browser);

/*
 * Clears the lock, failures and delay of a user, and those of the user's
 * known browsers (authflowctl user unlock;
 * also when a user is made, so that a new user of a name inherits none).
 * Not an audited admin mutation by itself: the admin API records it.
 * AF_DIR_OK (also when nothing was locked), AF_DIR_INVALID (not a valid
 * user name), AF_DIR_STORE.
 */
AF_DIR_NODISCARD af_dir_status af_throttle_unlock(af_dir *dir,
						  const char *user);

/* 1 when the user is locked, 0 when not or on error. */
int af_throttle_is_locked(af_dir *dir, const char *user);

/*
 * What the throttle holds against a user now, for an administrator to see
 * (it changes nothing). failures: the user's failures counted in the
 * window (what the delays and the lock are counted from; 0 when none);
 * locked: 1 while the user is locked; lock_left_ms: what is left of a
 * lock that runs out (0 when not locked, or locked until an admin lifts
 * it); delay_left_ms: what is left of the delay after the user's last
 * failure (0 when none runs); browsers_locked: how many of the user's
 * known browsers are locked by their own failures. Times are left, not ends, as
 * everywhere in this module: the caller adds its clock.
 */
typedef struct af_throttle_info {
	int64_t failures;
	int locked;
	uint64_t lock_left_ms;
	uint64_t delay_left_ms;
	int64_t browsers_locked;
} af_throttle_info;

/*
 * Fills out for user. AF_DIR_OK, AF_DIR_INVALID (dir or out NULL, or not a
 * valid user name), AF_DIR_STORE (also for a counter that is not a
 * number).
 */
AF_DIR_NODISCARD af_dir_status af_throttle_info_get(af_dir *dir,
						    const char *user,
						    af_throttle_info *out);

#endif /* AUTHFLOW_DIRECTORY_THROTTLE_H */
