/* Brute-force counters, delays and lockouts in the state store. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "directory/audit.h"
#include "directory/throttle.h"

#define MAX_SHIFT      30 /* 2^30 s is past every allowed maximum delay */
/* Failures since a user's last success are kept this long. */
#define STRIKES_TTL_MS ((uint64_t)30 * 86400 * 1000)
/*
 * The set of a user's known browsers that have failures, a delay or a
 * lock ("browsers:user:<hash>"), so that an unlock of the user reaches
 * them: persistent, since a browser's lock is durable. A browser leaves
 * it at its next success there, or at the unlock; it holds only ids of
 * cookies the server issued to the user, so it stays as small as the
 * user's browsers.
 */
#define BROWSERS       "browsers"

void af_throttle_params_default(af_throttle_params *params)
{
	if (params == NULL)
		return;
	params->user_delay_after = 5;
	params->ip_delay_after = 20;
	params->user_lock_after = 10;
	params->window_s = 900;
	params->max_delay_s = 30;
	params->lock_s = 1800;
}

af_dir_status af_throttle_params_check(const af_throttle_params *params,
				       char *err, size_t errlen)
{
	if (params == NULL) {
		af_dir__err(err, errlen, "throttle: no parameters");
		return AF_DIR_INVALID;
	}
	if (params->user_delay_after < 1 || params->user_delay_after > 1000) {
		af_dir__err(err, errlen, "throttle user_delay_after: 1..1000");
		return AF_DIR_INVALID;
	}
	if (params->ip_delay_after < 1 || params->ip_delay_after > 100000) {
		af_dir__err(err, errlen, "throttle ip_delay_after: 1..100000");
		return AF_DIR_INVALID;
	}
	if (params->user_lock_after > 1000) {
		af_dir__err(err, errlen,
			    "throttle user_lock_after: 0 (never) or 1..1000");
		return AF_DIR_INVALID;
	}
	if (params->window_s < 1 || params->window_s > 86400) {
		af_dir__err(err, errlen, "throttle window_s: 1..86400");
		return AF_DIR_INVALID;
	}
	if (params->max_delay_s < 1 || params->max_delay_s > 3600) {
		af_dir__err(err, errlen, "throttle max_delay_s: 1..3600");
		return AF_DIR_INVALID;
	}
	if (params->lock_s > 30 * 86400) {
		af_dir__err(
			err, errlen,
			"throttle lock_s: 0 (until lifted) or up to 30 days");
		return AF_DIR_INVALID;
	}
	return AF_DIR_OK;
}

/*
 * The subjects of one call: a folded user name (name) and an address,
 * each empty when unusable, and the name as its keys hold it (user): the
 * hex SHA-256 of the folded name, so that a name typed at the sign-in
 * form, often a password typed in the wrong field, is not kept in clear
 * in the store (nor in its file) for as long as its count lasts. browser:
 * the id of a browser known to the user, empty when there is none.
 */
typedef struct subjects {
	char name[AF_DIR_USERNAME_MAX + 1];
	char user[64 + 1];
	char ip[AF_THROTTLE_IP_MAX + 1];
	char browser[AF_THROTTLE_BROWSER_MAX + 1];
} subjects;

/* 1 when s is 1..max visible ASCII characters, else 0. */
static int visible(const char *s, size_t max)
{
	size_t n = s != NULL ? strnlen(s, max + 1) : 0;

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
	}
	return 1;
}

/*
 * An address as limits count it into out (AF_THROTTLE_IP_MAX + 1 bytes):
 * an IPv6 one by its /64, so that a host cannot take a new address for
 * each try; else any visible ASCII will do, the address being only part
 * of a key. "" for an address that does not fit: it is not counted.
 */
static void counted_ip(const char *ip, char *out)
{
	if (af_ip_counted(ip, out, AF_THROTTLE_IP_MAX + 1) == 0)
		return;
	out[0] = '\0';
	if (visible(ip, AF_THROTTLE_IP_MAX))
		memcpy(out, ip, strlen(ip) + 1);
}

static void subjects_of(const char *user, const char *ip, const char *browser,
			subjects *s)
{
	size_t n;

	s->name[0] = '\0';
	s->user[0] = '\0';
	s->browser[0] = '\0';
	counted_ip(ip, s->ip);
	/* A name no user can have is counted by its address only. */
	if (af_dir_check_username("username", user, NULL, 0) == AF_DIR_OK) {
		n = strlen(user);
		memcpy(s->name, user, n + 1);
		for (size_t i = 0; i < n; i++) {
			if (s->name[i] >= 'A' && s->name[i] <= 'Z')
				s->name[i] = (char)(s->name[i] - 'A' + 'a');
		}
		af_sha256_hex(s->name, n, s->user);
		/* A browser is known to a user, never to a name alone. */
		if (browser != NULL &&
		    visible(browser, AF_THROTTLE_BROWSER_MAX))
			memcpy(s->browser, browser, strlen(browser) + 1);
	}
}

/*
 * Whose failures a check counts, delays and locks: the known browser's
 * when there is one, else the user's.
 */
static const char *kind_of(const subjects *s)
{
	return s->browser[0] != '\0' ? "browser" : "user";
}

static const char *name_of(const subjects *s)
{
	return s->browser[0] != '\0' ? s->browser : s->user;
}

static af_dir_status key_of(char *key, size_t cap, const char *what,
			    const char *kind, const char *name)
{
	int n = snprintf(key, cap, "%s:%s:%s", what, kind, name);

	return n < 0 || (size_t)n >= cap ? AF_DIR_INVALID : AF_DIR_OK;
}

/*
 * Milliseconds left of what:<kind>:<name> (a delay, a lock), 0 when it is
 * not there or has no end.
 */
static af_dir_status time_left(af_dir *dir, const char *what, const char *kind,
			       const char *name, uint64_t *ms)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;
	store_status st;

	*ms = 0;
	if (name[0] == '\0')
		return AF_DIR_OK;
	rc = key_of(key, sizeof(key), what, kind, name);
	if (rc != AF_DIR_OK)
		return rc;
	st = store_ttl(af_dir_store(dir), key, ms);
	if (st == STORE_NOT_FOUND) {
		*ms = 0;
		return AF_DIR_OK;
	}
	return af_dir__from_store(st);
}

/* *out 1 when the key what:<kind>:<name> is in the store, else 0. */
static af_dir_status key_set(af_dir *dir, const char *what, const char *kind,
			     const char *name, int *out)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	af_dir_status rc;
	store_status st;

	*out = 0;
	if (name[0] == '\0')
		return AF_DIR_OK;
	rc = key_of(key, sizeof(key), what, kind, name);
	if (rc != AF_DIR_OK)
		return rc;
	st = store_get(af_dir_store(dir), key, &v);
	store_value_free(&v);
	if (st == STORE_NOT_FOUND)
		return AF_DIR_OK;
	if (st != STORE_OK)
		return af_dir__from_store(st);
	*out = 1;
	return AF_DIR_OK;
}

af_dir_status af_throttle_check(af_dir *dir, const char *user, const char *ip,
				const char *browser, uint32_t *wait_s)
{
	uint64_t ms_user = 0, ms_ip = 0, ms;
	af_dir_status rc;
	subjects s;
	int is_locked = 0;

	if (wait_s != NULL)
		*wait_s = 0;
	if (dir == NULL)
		return AF_DIR_INVALID;
	subjects_of(user, ip, browser, &s);
	/*
	 * A browser the user signed in with before answers for itself:
	 * its own failures, delay and lock, not the user's nor the
	 * address' (which others, knowing only the name, may have run up).
	 */
	rc = key_set(dir, "lock", kind_of(&s), name_of(&s), &is_locked);
	if (rc != AF_DIR_OK)
		return rc;
	if (is_locked) {
		/* The time left of a lock that runs out, or 0. */
		if (time_left(dir, "lock", kind_of(&s), name_of(&s), &ms) ==
			    AF_DIR_OK &&
		    wait_s != NULL)
			*wait_s = (uint32_t)((ms + 999) / 1000);
		return AF_DIR_LOCKED;
	}
	rc = time_left(dir, "wait", kind_of(&s), name_of(&s), &ms_user);
	if (rc == AF_DIR_OK && s.browser[0] == '\0')
		rc = time_left(dir, "wait", "ip", s.ip, &ms_ip);
	if (rc != AF_DIR_OK)
		return rc;
	ms = ms_user > ms_ip ? ms_user : ms_ip;
	if (ms == 0)
		return AF_DIR_OK;
	if (wait_s != NULL)
		*wait_s = (uint32_t)((ms + 999) / 1000);
	return AF_DIR_WAIT;
}

/*
 * Adds one to a counter. A user's counters and lock are written durable
 * (STORE_SET_DURABLE), so that they outlive a restart of the memory store:
 * the failures in the window that lead to a lock, the lock, and the
 * strikes that make it permanent. Were they lost, every restart (a crash
 * an attacker may be able to cause, a routine upgrade) would hand each
 * user name a fresh set of guesses and reset the count towards the lock
 * that only an administrator lifts. Each durable write costs the memory
 * store an fsync, but only on a failed sign-in, which has already cost a
 * full password hash. A known browser's are durable for the same reasons.
 * The per-address counters, the delays (seconds long) and the turns stay
 * volatile: they slow a spray from one address, and a
 * restart loses at most one window of them. None is refused for the
 * memory store's cap (STORE_SET_VITAL): a failure not counted stops
 * every password check for a while. (The strikes of a name no user has,
 * kept a month, are the exception: see af_throttle_fail().)
 */
static store_status count_up(af_dir *dir, const char *key, int durable,
			     uint64_t ttl_ms, int64_t *n)
{
	if (durable)
		return store_incr_durable(af_dir_store(dir), key, 1, ttl_ms, n);
	return store_incr_vital(af_dir_store(dir), key, 1, ttl_ms, n);
}

/* Counts one failure of kind:name and starts its delay when due; *count
 * gets the failures in the window. */
static af_dir_status count_failure(af_dir *dir, const char *kind,
				   const char *name, uint32_t delay_after,
				   int64_t *count)
{
	const af_throttle_params *p = &af_dir_options_get(dir)->throttle;
	char key[STORE_KEY_MAX];
	uint64_t delay_s;
	af_dir_status rc;
	int64_t n = 0, over;

	*count = 0;
	rc = key_of(key, sizeof(key), "fail", kind, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(
			count_up(dir, key,
				 strcmp(kind, "user") == 0 ||
					 strcmp(kind, "browser") == 0,
				 (uint64_t)p->window_s * 1000, &n));
	if (rc != AF_DIR_OK)
		return rc;
	*count = n;
	if (n < (int64_t)delay_after)
		return AF_DIR_OK;
	/* 1, 2, 4, ... seconds from the limit on, up to the maximum. */
	over = n - (int64_t)delay_after;
	delay_s = over >= MAX_SHIFT ? p->max_delay_s : (uint64_t)1 << over;
	if (delay_s > p->max_delay_s)
		delay_s = p->max_delay_s;
	rc = key_of(key, sizeof(key), "wait", kind, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_set(af_dir_store(dir), key, "1",
						  1, delay_s * 1000,
						  STORE_SET_VITAL));
	return rc;
}

/* The kind of the counters of a door: its keys' middle part. */
static const char *door_kind(af_throttle_door door)
{
	return door == AF_THROTTLE_ADMIN ? "admin" : "client";
}

#define COUNTER_DIGITS_MAX 18 /* fits an int64_t whatever the digits */

/*
 * The count kept under what:<kind>:<name> (store_incr()'s decimal text)
 * in *n, 0 when there is none; anything else there is damage
 * (AF_DIR_STORE).
 */
static af_dir_status counter(af_dir *dir, const char *what, const char *kind,
			     const char *name, int64_t *n)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	af_dir_status rc;
	store_status st;
	char text[COUNTER_DIGITS_MAX + 1];
	unsigned long count;

	*n = 0;
	rc = key_of(key, sizeof(key), what, kind, name);
	if (rc != AF_DIR_OK)
		return rc;
	st = store_get(af_dir_store(dir), key, &v);
	if (st == STORE_NOT_FOUND)
		return AF_DIR_OK;
	if (st != STORE_OK)
		return af_dir__from_store(st);
	rc = AF_DIR_STORE;
	if (v.len < sizeof(text)) {
		memcpy(text, v.data, v.len);
		text[v.len] = '\0';
		if (af_parse_ulong(text, 0, ULONG_MAX, &count) == 0) {
			*n = (int64_t)count;
			rc = AF_DIR_OK;
		}
	}
	store_value_free(&v);
	return rc;
}

/*
 * The one key a failed sign-in of a name nobody has writes durable in
 * the place of the strikes a user's writes (af_throttle_fail()).
 */
#define DECOY_KEY "strikes:decoy"

/*
 * A door's turn, and an address's at sign-in (given back once the
 * password is judged), last one check of a secret and a few store calls.
 */
#define DOOR_TURN_MS 1000u

/*
 * Takes the turn at key for ttl_ms with a new random mark: STORE_OK with
 * turn->held 1, STORE_EXISTS when another holds it, or a store error.
 */
static store_status turn_take(af_dir *dir, const char *key, uint64_t ttl_ms,
			      af_throttle_turn *turn)
{
	store_status ss;

	if (af_random_token(16, turn->mark, sizeof(turn->mark)) != 0)
		return STORE_ERR_NOMEM;
	ss = store_set(af_dir_store(dir), key, turn->mark, strlen(turn->mark),
		       ttl_ms, STORE_SET_NX | STORE_SET_VITAL);
	turn->held = ss == STORE_OK;
	return ss;
}

/*
 * Gives back the turn at key when turn holds it, and only while it still
 * holds turn's mark: a turn another took after this one ran out stays
 * theirs. Not fatal when the store fails: the turn runs out by itself.
 */
static void turn_give_back(af_dir *dir, const char *key, af_throttle_turn *turn)
{
	store_status st;

	if (turn == NULL || !turn->held)
		return;
	turn->held = 0;
	st = store_del_if(af_dir_store(dir), key, turn->mark,
			  strlen(turn->mark));
	(void)st;
}

/*
 * The wait or turn of kind at a counted address: AF_DIR_WAIT (with
 * *wait_s) while its wait runs, or once past the limit while another
 * check holds its turn; else AF_DIR_OK, with the turn taken past the
 * limit, so that a burst sent as a wait ends gets one check, not one per
 * thread and node.
 */
static af_dir_status address_turn(af_dir *dir, const char *kind,
				  const char *addr, uint32_t *wait_s,
				  af_throttle_turn *turn)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;
	store_status st;
	uint64_t ms = 0;
	int64_t n = 0;

	rc = time_left(dir, "wait", kind, addr, &ms);
	if (rc != AF_DIR_OK)
		return rc;
	if (ms == 0)
		rc = counter(dir, "fail", kind, addr, &n);
	if (rc != AF_DIR_OK ||
	    (ms == 0 &&
	     n < (int64_t)af_dir_options_get(dir)->throttle.ip_delay_after))
		return rc;
	if (ms == 0) {
		rc = key_of(key, sizeof(key), "turn", kind, addr);
		if (rc != AF_DIR_OK)
			return rc;
		st = turn_take(dir, key, DOOR_TURN_MS, turn);
		if (st != STORE_EXISTS)
			return af_dir__from_store(st);
		ms = 1;
	}
	if (wait_s != NULL)
		*wait_s = (uint32_t)((ms + 999) / 1000);
	return AF_DIR_WAIT;
}

static void address_turn_end(af_dir *dir, const char *kind, const char *addr,
			     af_throttle_turn *turn)
{
	char key[STORE_KEY_MAX];

	if (addr[0] != '\0' &&
	    key_of(key, sizeof(key), "turn", kind, addr) == AF_DIR_OK)
		turn_give_back(dir, key, turn);
	turn->held = 0;
}

/* address_turn() at ip's counted address, with the outputs cleared. */
static af_dir_status address_begin(af_dir *dir, const char *kind,
				   const char *ip, uint32_t *wait_s,
				   af_throttle_turn *turn)
{
	char addr[AF_THROTTLE_IP_MAX + 1];

	if (dir == NULL || turn == NULL)
		return AF_DIR_INVALID;
	counted_ip(ip, addr);
	if (addr[0] == '\0')
		return AF_DIR_OK; /* not counted either */
	return address_turn(dir, kind, addr, wait_s, turn);
}

static void address_end(af_dir *dir, const char *kind, const char *ip,
			af_throttle_turn *turn)
{
	char addr[AF_THROTTLE_IP_MAX + 1];

	if (dir == NULL || turn == NULL || !turn->held)
		return;
	counted_ip(ip, addr);
	address_turn_end(dir, kind, addr, turn);
}

af_dir_status af_throttle_door_check(af_dir *dir, af_throttle_door door,
				     const char *ip, uint32_t *wait_s,
				     af_throttle_turn *turn)
{
	if (wait_s != NULL)
		*wait_s = 0;
	if (turn != NULL)
		turn->held = 0;
	return address_begin(dir, door_kind(door), ip, wait_s, turn);
}

void af_throttle_door_end(af_dir *dir, af_throttle_door door, const char *ip,
			  af_throttle_turn *turn)
{
	address_end(dir, door_kind(door), ip, turn);
}

af_dir_status af_throttle_ip_begin(af_dir *dir, const char *ip,
				   const char *browser, uint32_t *wait_s,
				   af_throttle_turn *turn)
{
	if (wait_s != NULL)
		*wait_s = 0;
	if (turn != NULL)
		turn->held = 0;
	/* A known browser answers for itself, as af_throttle_check() has it. */
	if (dir != NULL && turn != NULL && browser != NULL &&
	    browser[0] != '\0')
		return AF_DIR_OK;
	return address_begin(dir, "ip", ip, wait_s, turn);
}

void af_throttle_ip_end(af_dir *dir, const char *ip, af_throttle_turn *turn)
{
	address_end(dir, "ip", ip, turn);
}

af_dir_status af_throttle_door_fail(af_dir *dir, af_throttle_door door,
				    const char *ip, af_throttle_turn *turn)
{
	char addr[AF_THROTTLE_IP_MAX + 1];
	int64_t ignored = 0;
	af_dir_status rc;

	if (dir == NULL)
		return AF_DIR_INVALID;
	counted_ip(ip, addr);
	if (addr[0] == '\0')
		return AF_DIR_OK;
	rc = count_failure(dir, door_kind(door), addr,
			   af_dir_options_get(dir)->throttle.ip_delay_after,
			   &ignored);
	/* Its wait set, the next try of the address may have the turn. */
	af_throttle_door_end(dir, door, ip, turn);
	return rc;
}

/* 1 when a user has the name, 0 when none has, -1 when the store cannot say. */
static int user_known(af_dir *dir, const char *name)
{
	json_t *u = NULL;
	af_dir_status rc = af_dir_user_get(dir, name, &u);

	json_decref(u);
	return rc == AF_DIR_OK ? 1 : rc == AF_DIR_NOT_FOUND ? 0 : -1;
}

/*
 * The audit event of a lock, for a user that exists. A name no user has
 * is locked all the same (so that a lock says nothing of who exists), but
 * is kept off the trail: a name typed at the sign-in form is often a
 * password typed in the wrong field. So is one the store could not look
 * up: the trail (or, when it cannot be written, the log) would show it.
 */
static af_dir_status locked_event(af_dir *dir, const subjects *s,
				  const char *ip, int64_t failures,
				  uint64_t lock_s)
{
	const char *user = s->name;
	json_t *detail;
	af_dir_status rc;

	if (user_known(dir, user) != 1)
		return AF_DIR_OK;
	detail = json_pack("{s:I, s:s, s:I, s:b}", "failures",
			   (json_int_t)failures, "ip", ip != NULL ? ip : "",
			   "lock_s", (json_int_t)lock_s, "known_browser",
			   s->browser[0] != '\0');
	if (detail == NULL)
		return AF_DIR_NOMEM;
	rc = af_audit_record(dir, AF_DIR_ACTOR_SERVER, "user.lock", user,
			     detail);
	json_decref(detail);
	return rc;
}

/*
 * A turn lasts one password check and the store calls around it (each
 * may take the store's time limit), so it runs out by itself only after
 * TURN_TTL_MS: a node that dies holding it keeps that user's checks
 * refused a while. Another check of the user waits for the turn on a
 * work queue thread that every sign-in needs: for TURN_WAIT_CHECKS
 * checks' time and TURN_WAIT_BASE_MS at most, and is then refused "try
 * again", so that such a turn never holds up other users.
 */
#define TURN_TTL_MS	  10000u
#define TURN_WAIT_CHECKS  4u
#define TURN_WAIT_BASE_MS 200u
#define TURN_POLL_NS	  2000000L

static uint64_t turn_wait_ms(const af_dir *dir, uint32_t wait_ms)
{
	uint64_t ms = af_dir_check_ns(dir) / 1000000u * TURN_WAIT_CHECKS +
		      TURN_WAIT_BASE_MS;

	return ms < wait_ms ? ms : wait_ms;
}

/* Ends the count of a check side by side under key (turn->side). */
static void side_end(af_dir *dir, const char *key, af_throttle_turn *turn)
{
	char zero[24];
	store_status st;
	int64_t n = 0;

	if (!turn->side)
		return;
	turn->side = 0;
	/*
	 * Gone at 0, so that the next first wave counts under a fresh
	 * TTL. Not fatal when the store fails: the count runs out with it.
	 */
	if (store_incr_vital(af_dir_store(dir), key, -1, TURN_TTL_MS, &n) ==
		    STORE_OK &&
	    n <= 0) {
		(void)snprintf(zero, sizeof(zero), "%lld", (long long)n);
		st = store_del_if(af_dir_store(dir), key, zero, strlen(zero));
		(void)st;
	}
}

/* Whether checks side by side are under way at key: 1, 0, -1 error. */
static int sides_running(af_dir *dir, const char *key)
{
	store_value v = {NULL, 0};
	store_status st = store_get(af_dir_store(dir), key, &v);
	int rc = st == STORE_NOT_FOUND ? 0 : -1;

	if (st == STORE_OK)
		rc = v.len > 0 && v.data[0] != '0' && v.data[0] != '-';
	store_value_free(&v);
	return rc;
}

af_dir_status af_throttle_begin(af_dir *dir, const char *user,
				const char *browser, uint32_t wait_ms,
				af_throttle_turn *turn)
{
	const struct timespec pause = {0, TURN_POLL_NS};
	char key[STORE_KEY_MAX], side[STORE_KEY_MAX];
	uint64_t until;
	store_status st;
	af_dir_status rc;
	subjects s;
	int64_t n = 0;
	int failed = 0, running;

	if (turn != NULL) {
		turn->held = 0;
		turn->side = 0;
	}
	if (dir == NULL || turn == NULL)
		return AF_DIR_INVALID;
	subjects_of(user, NULL, browser, &s);
	if (name_of(&s)[0] == '\0' ||
	    key_of(key, sizeof(key), "turn", kind_of(&s), name_of(&s)) !=
		    AF_DIR_OK ||
	    key_of(side, sizeof(side), "checking", kind_of(&s), name_of(&s)) !=
		    AF_DIR_OK)
		return AF_DIR_OK;
	/*
	 * A user with no failure in the window signs in side by side (a
	 * shared account at a shift change); from the first failure on,
	 * checks of that user take turns. A known browser takes turns with
	 * itself only, not with others' guesses at the name. The check is
	 * counted in flight before the failures are looked at: a turn taken
	 * once a failure is counted then waits for every check that found
	 * none, whichever came first. A store that takes no writes counts
	 * no failure either, and the check's own failure to count one stops
	 * the checks (af_login_uncounted_pause()); it goes uncounted here.
	 */
	if (store_incr_vital(af_dir_store(dir), side, 1, TURN_TTL_MS, &n) ==
	    STORE_OK)
		turn->side = 1;
	rc = key_set(dir, "fail", kind_of(&s), name_of(&s), &failed);
	if (rc == AF_DIR_OK && !failed)
		return AF_DIR_OK;
	side_end(dir, side, turn);
	if (rc != AF_DIR_OK)
		return rc;
	until = af_mono_ns() + turn_wait_ms(dir, wait_ms) * 1000000ull;
	for (;;) {
		st = turn_take(dir, key, TURN_TTL_MS, turn);
		if (st == STORE_OK)
			break;
		if (st != STORE_EXISTS)
			return af_dir__from_store(st);
		if (af_mono_ns() >= until)
			return AF_DIR_CONFLICT;
		(void)nanosleep(&pause, NULL);
	}
	/* The turn is held while the first wave ends. */
	while ((running = sides_running(dir, side)) > 0 && af_mono_ns() < until)
		(void)nanosleep(&pause, NULL);
	if (running == 0)
		return AF_DIR_OK;
	turn_give_back(dir, key, turn);
	return running < 0 ? AF_DIR_STORE : AF_DIR_CONFLICT;
}

void af_throttle_end(af_dir *dir, const char *user, const char *browser,
		     af_throttle_turn *turn)
{
	char key[STORE_KEY_MAX];
	subjects s;

	if (dir == NULL || turn == NULL || (!turn->held && !turn->side))
		return;
	subjects_of(user, NULL, browser, &s);
	if (turn->side && key_of(key, sizeof(key), "checking", kind_of(&s),
				 name_of(&s)) == AF_DIR_OK)
		side_end(dir, key, turn);
	if (turn->held && s.user[0] != '\0' &&
	    key_of(key, sizeof(key), "turn", kind_of(&s), name_of(&s)) ==
		    AF_DIR_OK)
		turn_give_back(dir, key, turn);
	turn->held = 0;
	turn->side = 0;
}

/*
 * Locks kind:name once its failures in the window (n) reach the lock
 * limit. A lock runs out after lock_s, so that someone who only knows a
 * user's name cannot keep the user out for good; the failures still add
 * up (strikes), and past AF_THROTTLE_STRIKES_MAX of them the lock stays
 * until an administrator lifts it (forever_s: 0, or for a name no user
 * has, as long as strikes are kept), whether or not the window's count
 * ever reached the limit: guesses paced to stay under it each window
 * lock as surely. The failure that locked, and the one that made the
 * lock last, are on the trail.
 */
static af_dir_status lock_if_due(af_dir *dir, const subjects *s, const char *ip,
				 const char *kind, const char *name, int64_t n,
				 int64_t strikes, uint64_t lock_s,
				 uint64_t forever_s)
{
	const af_throttle_params *p = &af_dir_options_get(dir)->throttle;
	char key[STORE_KEY_MAX];
	af_dir_status rc;

	if (p->user_lock_after == 0 || (n < (int64_t)p->user_lock_after &&
					strikes < AF_THROTTLE_STRIKES_MAX))
		return AF_DIR_OK;
	if (strikes >= AF_THROTTLE_STRIKES_MAX)
		lock_s = forever_s;
	rc = key_of(key, sizeof(key), "lock", kind, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_set(af_dir_store(dir), key, "1",
						  1, lock_s * 1000,
						  STORE_SET_DURABLE));
	if (rc == AF_DIR_OK && (n == (int64_t)p->user_lock_after ||
				strikes == AF_THROTTLE_STRIKES_MAX))
		rc = locked_event(dir, s, ip, n, lock_s);
	return rc;
}

/*
 * A failure in a browser known to the user: counted, delayed and locked
 * for that browser alone, never as the user's strikes; the browser joins
 * the user's set, through which an unlock of the user reaches it.
 */
static af_dir_status fail_browser(af_dir *dir, const subjects *s,
				  const char *ip)
{
	const af_throttle_params *p = &af_dir_options_get(dir)->throttle;
	char key[STORE_KEY_MAX];
	af_dir_status rc;
	int64_t n = 0, strikes = 0;

	rc = key_of(key, sizeof(key), BROWSERS, "user", s->user);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(
			store_sadd(af_dir_store(dir), key, s->browser));
	if (rc == AF_DIR_OK)
		rc = count_failure(dir, "browser", s->browser,
				   p->user_delay_after, &n);
	/* The browser's failures since its last success, as a user's. */
	if (rc == AF_DIR_OK)
		rc = key_of(key, sizeof(key), "strikes", "browser", s->browser);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(
			count_up(dir, key, 1, STRIKES_TTL_MS, &strikes));
	if (rc != AF_DIR_OK)
		return rc;
	return lock_if_due(dir, s, ip, "browser", s->browser, n, strikes,
			   p->lock_s, 0);
}

af_dir_status af_throttle_fail(af_dir *dir, const char *user, const char *ip,
			       const char *browser)
{
	const af_throttle_params *p;
	char key[STORE_KEY_MAX];
	af_dir_status rc;
	int64_t n = 0, ignored = 0, strikes = 0;
	uint64_t forever_s;
	subjects s;
	int exists;

	if (dir == NULL)
		return AF_DIR_INVALID;
	p = &af_dir_options_get(dir)->throttle;
	subjects_of(user, ip, browser, &s);
	if (s.ip[0] != '\0') {
		rc = count_failure(dir, "ip", s.ip, p->ip_delay_after,
				   &ignored);
		if (rc != AF_DIR_OK)
			return rc;
	}
	if (s.user[0] == '\0')
		return AF_DIR_OK;
	if (s.browser[0] != '\0')
		return fail_browser(dir, &s, ip);
	rc = count_failure(dir, "user", s.user, p->user_delay_after, &n);
	/*
	 * Every failure since the last success, across windows and locks.
	 * Kept 30 days, so written durable only for a user: names nobody
	 * has, which a spray may make at the pace of password checks, stay
	 * volatile (and within the memory store's cap).
	 */
	exists = user_known(dir, s.name) != 0; /* durable when unsure */
	if (rc == AF_DIR_OK)
		rc = key_of(key, sizeof(key), "strikes", "user", s.user);
	if (rc == AF_DIR_OK && exists)
		rc = af_dir__from_store(
			count_up(dir, key, 1, STRIKES_TTL_MS, &strikes));
	/*
	 * Not vital, unlike the rest: a month of a spray's names would grow
	 * past any cap. At the cap they are not kept, and the name's window
	 * count, delays and lock go on as before; the store answered the
	 * count just made, so a refusal here is for room.
	 */
	else if (rc == AF_DIR_OK &&
		 store_incr(af_dir_store(dir), key, 1, STRIKES_TTL_MS,
			    &strikes) != STORE_OK)
		strikes = 0;
	/*
	 * The memory store syncs its file for a durable write, and writes a
	 * volatile one in memory alone: a durable write to a single key in
	 * the place of the user's keeps a failure for a made-up name as slow
	 * as for a user's, so that the time of the answer does not tell who
	 * exists. (To Redis either is one round trip.)
	 */
	if (rc == AF_DIR_OK && !exists &&
	    store_get_backend(af_dir_store(dir)) == STORE_BACKEND_MEMORY) {
		int64_t ignored_n = 0;

		(void)count_up(dir, DECOY_KEY, 1, STRIKES_TTL_MS, &ignored_n);
	}
	if (rc != AF_DIR_OK)
		return rc;
	/*
	 * A name no user has is never locked for good, only for as long as
	 * strikes are kept: its lock would otherwise stay in the store for
	 * ever. The pages say the same of a lock that long as of one for
	 * good (af_page_locked()), so neither tells who exists.
	 */
	forever_s = exists ? 0 : STRIKES_TTL_MS / 1000;
	return lock_if_due(dir, &s, ip, "user", s.user, n, strikes,
			   p->lock_s != 0 ? p->lock_s : forever_s, forever_s);
}

/* Deletes what:<kind>:<name> for each what in whats. */
static af_dir_status clear_keys(af_dir *dir, const char *kind, const char *name,
				const char *const *whats, size_t n)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc = AF_DIR_OK, r;

	for (size_t i = 0; i < n; i++) {
		r = key_of(key, sizeof(key), whats[i], kind, name);
		if (r == AF_DIR_OK)
			r = af_dir__from_store(
				store_del(af_dir_store(dir), key));
		if (r != AF_DIR_OK)
			rc = r;
	}
	return rc;
}

af_dir_status af_throttle_fail_from(af_dir *dir, const char *user,
				    const char *ip, const char *rid,
				    const char *browser)
{
	af_dir *view = af_dir_view(dir, ip, rid);
	af_dir_status rc;

	/* Without memory for the view, the failure still counts. */
	rc = af_throttle_fail(view != NULL ? view : dir, user, ip, browser);
	af_dir_free(view);
	return rc;
}

af_dir_status af_throttle_success(af_dir *dir, const char *user, const char *ip,
				  const char *browser)
{
	static const char *const whats[] = {"fail", "wait", "strikes"};
	char key[STORE_KEY_MAX];
	af_dir_status rc;
	subjects s;

	if (dir == NULL)
		return AF_DIR_INVALID;
	subjects_of(user, ip, browser, &s);
	if (s.user[0] == '\0')
		return AF_DIR_OK;
	/*
	 * A sign-in in a known browser clears that browser's counts only:
	 * the user's, run up elsewhere, stay until they run out, towards the
	 * lock for good, whoever may be guessing there.
	 */
	if (s.browser[0] == '\0')
		return clear_keys(dir, "user", s.user, whats, 3);
	rc = clear_keys(dir, "browser", s.browser, whats, 3);
	if (rc == AF_DIR_OK)
		rc = key_of(key, sizeof(key), BROWSERS, "user", s.user);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(
			store_srem(af_dir_store(dir), key, s.browser));
	return rc;
}

/* A walk over the set of a user's browsers with failures. */
typedef struct browser_walk {
	af_dir *dir;
	int clear;	/* 1: clears each browser's lock, failures, delay */
	int64_t locked; /* browsers found locked */
	af_dir_status rc;
} browser_walk;

static int browser_fn(const char *id, void *arg)
{
	static const char *const whats[] = {"lock", "fail", "wait", "strikes"};
	browser_walk *w = arg;
	int is_locked = 0;

	if (w->clear) {
		w->rc = clear_keys(w->dir, "browser", id, whats, 4);
	} else {
		w->rc = key_set(w->dir, "lock", "browser", id, &is_locked);
		w->locked += is_locked;
	}
	return w->rc != AF_DIR_OK;
}

/*
 * Counts the user's locked browsers into *locked (may be NULL), or with
 * clear 1 lifts their locks, failures and delays and drops the set.
 */
static af_dir_status walk_browsers(af_dir *dir, const char *user, int clear,
				   int64_t *locked)
{
	char key[STORE_KEY_MAX];
	browser_walk w = {dir, clear, 0, AF_DIR_OK};
	af_dir_status rc = key_of(key, sizeof(key), BROWSERS, "user", user);

	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(
			store_smembers(af_dir_store(dir), key, browser_fn, &w));
	if (rc == AF_DIR_OK)
		rc = w.rc;
	if (rc == AF_DIR_OK && clear)
		rc = af_dir__from_store(store_del(af_dir_store(dir), key));
	if (locked != NULL)
		*locked = w.locked;
	return rc;
}

af_dir_status af_throttle_unlock(af_dir *dir, const char *user)
{
	static const char *const whats[] = {"lock", "fail", "wait", "strikes"};
	af_dir_status rc;
	subjects s;

	if (dir == NULL)
		return AF_DIR_INVALID;
	subjects_of(user, NULL, NULL, &s);
	if (s.user[0] == '\0')
		return AF_DIR_INVALID;
	/* The user's known browsers first: the set is their only index. */
	rc = walk_browsers(dir, s.user, 1, NULL);
	if (rc != AF_DIR_OK)
		return rc;
	return clear_keys(dir, "user", s.user, whats, 4);
}

int af_throttle_is_locked(af_dir *dir, const char *user)
{
	subjects s;
	int out = 0;

	if (dir == NULL)
		return 0;
	subjects_of(user, NULL, NULL, &s);
	if (key_set(dir, "lock", "user", s.user, &out) != AF_DIR_OK)
		return 0;
	return out;
}

af_dir_status af_throttle_info_get(af_dir *dir, const char *user,
				   af_throttle_info *out)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;
	store_status st;
	subjects s;

	if (out == NULL)
		return AF_DIR_INVALID;
	memset(out, 0, sizeof(*out));
	if (dir == NULL)
		return AF_DIR_INVALID;
	subjects_of(user, NULL, NULL, &s);
	if (s.user[0] == '\0')
		return AF_DIR_INVALID;
	rc = counter(dir, "fail", "user", s.user, &out->failures);
	/*
	 * One read of the lock's TTL tells both whether it is there and
	 * when it ends (no TTL: until lifted), so the two cannot disagree.
	 */
	if (rc == AF_DIR_OK)
		rc = key_of(key, sizeof(key), "lock", "user", s.user);
	if (rc != AF_DIR_OK)
		return rc;
	st = store_ttl(af_dir_store(dir), key, &out->lock_left_ms);
	if (st == STORE_NOT_FOUND)
		out->lock_left_ms = 0;
	else if (st != STORE_OK)
		return af_dir__from_store(st);
	else
		out->locked = 1;
	rc = walk_browsers(dir, s.user, 0, &out->browsers_locked);
	if (rc != AF_DIR_OK)
		return rc;
	return time_left(dir, "wait", "user", s.user, &out->delay_left_ms);
}
