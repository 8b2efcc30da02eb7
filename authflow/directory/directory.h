/*
 * The directory of the identity provider: users, groups, organisational
 * units (OUs), user policies, application profiles and their deployment,
 * with passwords (password.h), brute-force counters (throttle.h) and the
 * audit trail (audit.h) beside it. Everything lives in the state store as
 * JSON objects; this module does no HTTP. The admin API and the OIDC
 * endpoints call it.
 *
 * Stored objects (keys get the store's own prefix on top):
 *   "user:<name>"    {username, sub, name, email, email_verified, domain,
 *                     ous, groups, enabled, password, created_at,
 *                     updated_at, removing (true while being removed)};
 *                     index set "users"; "sub:<sub>" holds the user name
 *                     of a subject identifier; the set
 *                     "user_removed_devices:<name>" holds, while a user is
 *                     being removed, the ids of the devices deleted with
 *                     them (af_dir_user_remove_note_devices()).
 *   "group:<name>"   {name, description}; set "groups"; the user names of
 *                     its members in set "group_members:<name>".
 *   "ou:<name>"      {name}; set "ous"; members in "ou_members:<name>".
 *   "policy:<name>"  {name, sso, remote_access, assigned: {users, groups,
 *                     ous}}; set "policies".
 *   "app:<id>"       the application profile (see af_dir_app_add()); set
 *                     "apps"; "app_name:<name>" holds the client id of the
 *                     profile with that admin name.
 *   "branding"       {name, color, help_text, help_url, logo: {type, size,
 *                     sha256, data}, updated_at} (af_dir_branding_set()).
 *
 * Every value is validated on the way in; a refusal is AF_DIR_INVALID with
 * a one-line message naming the field in err ("email: not a valid
 * address"). Functions that take an err buffer accept err == NULL.
 *
 * User names are case-insensitive: they are folded to lower case when a
 * user is made and on every look-up, so "Alice" and "alice" are one
 * account and cannot be told apart in a sign-in. Group, OU, policy and
 * application names are case-sensitive. A new user, group, OU, policy or
 * application name may not be made only of dots (af_dir__check_not_dots()):
 * HTTP clients resolve "." and ".." in a URL path, so the admin API could
 * not be asked about it. Records of such names made before keep working.
 *
 * Objects handed out (json_t **out) are new references owned by the
 * caller. User objects never carry the password hash: they carry
 * "password_set" (bool) instead. Application objects never carry the hash
 * of the client secret.
 *
 * Admin mutations take the acting administrator's name (actor, 1..128
 * bytes, for the audit trail) and record one audit event on success. When
 * the change was made but its audit event could not be written, they
 * return AF_DIR_STORE with a message saying so; only af_dir_app_add() and
 * af_dir_app_rotate_secret() return AF_DIR_UNAUDITED instead, as their
 * caller must then still hand out the secret that now works.
 *
 * Roles: creating, editing, removing an application profile and rotating
 * its secret are for superadmins only; deploying and undeploying it is for
 * superadmins, and for admins when the profile's admins_may_deploy is true
 * (af_dir_app_may_deploy()). The directory does not know who calls it: the
 * admin API checks the role before calling these functions, and has a
 * deployment by an admin checked again as it is written
 * (AF_DIR_DEPLOY_ADMIN).
 *
 * Concurrency: an object is updated by read, change and compare-and-swap,
 * retried a few times, so concurrent changes of one object are not lost
 * (AF_DIR_CONFLICT when the retries run out). Changes that span objects
 * (a user and the member sets, removal of a group from its members) are
 * done one object at a time and are not atomic as a whole.
 *
 * Thread-safety: an af_dir may be shared by any number of threads once
 * made; it holds no mutable state of its own (see store.h for the store).
 */
#ifndef AUTHFLOW_DIRECTORY_H
#define AUTHFLOW_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/store.h"
#include "directory/pwlist.h"

#if defined(__GNUC__)
#define AF_DIR_NODISCARD    __attribute__((warn_unused_result))
#define AF_DIR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AF_DIR_NODISCARD
#define AF_DIR_PRINTF(a, b)
#endif

/* The status of every function of the module (directory, af_pw_,
 * af_throttle_, af_audit_), names and messages from one list. */
#define AF_DIR_STATUS_MAP(XX)                                                \
	XX(OK, 0, "success")                                                 \
	XX(NOT_FOUND, -1, "no such entry")                                   \
	XX(EXISTS, -2, "already exists")                                     \
	XX(INVALID, -3, "invalid input")                                     \
	XX(FORBIDDEN, -4, "not allowed")                                     \
	XX(LIMIT, -5, "limit reached")                                       \
	XX(STORE, -6, "state store failure")                                 \
	XX(NOMEM, -7, "out of memory")                                       \
	XX(CRYPTO, -8, "cryptographic library failure")                      \
	XX(MISMATCH, -9, "wrong user name or password")                      \
	XX(WAIT, -10, "too many failed attempts: wait before trying again")  \
	XX(LOCKED, -11, "account locked after too many failed attempts")     \
	XX(CONFLICT, -12, "changed at the same time by someone else: retry") \
	XX(UNAUDITED, -13,                                                   \
	   "the change was made, but its audit event could not be written")  \
	XX(REMOVING, -14,                                                    \
	   "the user is being removed: remove the user again to finish")

typedef enum af_dir_status {
#define AF_DIR_XX(name, value, text) AF_DIR_##name = (value),
	AF_DIR_STATUS_MAP(AF_DIR_XX)
#undef AF_DIR_XX
} af_dir_status;

/* A static, never NULL, English message for a status. */
const char *af_dir_strerror(af_dir_status st);

/* The status' name without prefix ("NOT_FOUND"), never NULL. */
const char *af_dir_status_name(af_dir_status st);

/* Caps on every value that comes in. */
#define AF_DIR_USERNAME_MAX    64    /* bytes, [A-Za-z0-9._@-] */
#define AF_DIR_NAME_MAX	       64    /* group, OU, policy, app names */
#define AF_DIR_DISPLAY_MAX     128   /* characters of a display name */
#define AF_DIR_DESCRIPTION_MAX 256   /* characters of a description */
#define AF_DIR_EMAIL_MAX       254   /* bytes of an e-mail address */
#define AF_DIR_DOMAIN_MAX      253   /* bytes of a DNS domain name */
#define AF_DIR_ACTOR_MAX       128   /* bytes of an actor name */
#define AF_DIR_MEMBERSHIPS_MAX 256   /* groups or OUs of one user */
#define AF_DIR_ASSIGNED_MAX    1024  /* entries of one assignment list */
#define AF_DIR_URIS_MAX	       20    /* redirect or post-logout URIs */
#define AF_DIR_RT_GRACE_MAX    60    /* seconds of an app's refresh grace */
#define AF_DIR_URI_MAX	       2048  /* bytes of one URI */
#define AF_DIR_CLAIMS_MAX      32    /* extra claims of an app */
#define AF_DIR_CLAIM_NAME_MAX  64    /* bytes of a claim name */
#define AF_DIR_APPS_MAX	       1000  /* application profiles */
#define AF_DIR_POLICIES_MAX    1000  /* user policies */
#define AF_DIR_GROUPS_MAX      10000 /* groups; and as many OUs */
#define AF_DIR_SUB_LEN	       22    /* base64url of 16 random bytes */
#define AF_DIR_CLIENT_ID_LEN   25    /* "af-" and 22 base64url chars */
#define AF_DIR_CLIENT_ID_BUF   (AF_DIR_CLIENT_ID_LEN + 1)
#define AF_DIR_SECRET_LEN      43 /* base64url of 32 random bytes */
#define AF_DIR_SECRET_BUF      (AF_DIR_SECRET_LEN + 1)
#define AF_DIR_SECRET_IN_MAX   256 /* bytes of a client secret presented */
#define AF_DIR_ERR_BUF	       160 /* a comfortable size for err */
/* Seconds a secret replaced by a rotation may be kept working: 30 days. */
#define AF_DIR_SECRET_KEEP_MAX 2592000

/*
 * Argon2id cost. m_kib: memory in KiB (8 * p .. AF_PW_M_KIB_MAX); t:
 * passes (1 .. AF_PW_T_MAX); p: lanes (1 .. AF_PW_P_MAX).
 */
typedef struct af_pw_params {
	uint32_t m_kib;
	uint32_t t;
	uint32_t p;
} af_pw_params;

/*
 * Brute-force limits (throttle.h). Failures are counted per user name and
 * per client address over window_s seconds from the first failure. From
 * the user_delay_after'th failure of a user (ip_delay_after'th of an
 * address) on, each further attempt must wait 1, 2, 4, ... seconds, at
 * most max_delay_s; at the user_lock_after'th failure the account is
 * locked until an admin unlocks it.
 */
typedef struct af_throttle_params {
	uint32_t user_delay_after; /* default 5 */
	uint32_t ip_delay_after;   /* default 20 */
	uint32_t user_lock_after;  /* default 10; 0: never lock */
	uint32_t window_s;	   /* default 900 */
	uint32_t max_delay_s;	   /* default 30 */
	/*
	 * How long a lock lasts, default 1800; 0: until an administrator
	 * lifts it. Past AF_THROTTLE_STRIKES_MAX failures without a
	 * success in between a lock lasts until then in any case.
	 */
	uint32_t lock_s;
} af_throttle_params;

/*
 * Called with every audit event as it is recorded (lent for the call),
 * stored or not, so that the events also reach a log that keeps more
 * than the ring does: with the whole detail, also one the store keeps
 * shortened (see af_audit_record()). Must be re-entrant.
 */
typedef void (*af_dir_audit_sink)(void *arg, const json_t *event, int stored);

/*
 * The fewest characters a password being set may have by default: NIST
 * SP 800-63B's minimum for a password used with a second factor.
 */
#define AF_DIR_PW_MIN_CHARS	8u
#define AF_DIR_PW_MIN_CHARS_MAX 64u
/* How long a temporary password signs in, by default: three days. */
#define AF_DIR_PW_TEMPORARY_S	((int64_t)72 * 3600)

#define AF_DIR_AUDIT_KEEP_S_MAX (3650 * 86400LL) /* ten years */

typedef struct af_dir_options {
	af_pw_params pw;
	unsigned pw_min_chars;	/* characters a password being set needs */
	int64_t pw_temporary_s; /* how long a temporary password signs in */
	/* Passwords none may set (pwlist.h), lent; NULL: none listed. */
	const af_pwlist *pwlist;
	af_throttle_params throttle;
	/*
	 * How long an audit event is kept (seconds, at most
	 * AF_DIR_AUDIT_KEEP_S_MAX); 0: until the ring overwrites it
	 * (directory/audit.h).
	 */
	int64_t audit_keep_s;
	af_dir_audit_sink audit_sink; /* NULL: none */
	void *audit_arg;
} af_dir_options;

/* Fills opts with the defaults (Argon2id m=19456 KiB, t=2, p=1, the
 * throttle defaults above). */
void af_dir_options_default(af_dir_options *opts);

typedef struct af_dir af_dir;

/*
 * Makes a directory over store, which is lent and must outlive it. opts
 * may be NULL for the defaults; they are checked (AF_DIR_INVALID naming
 * the option). Spends one password hash to make the dummy hash that
 * sign-ins of unknown users are checked against. AF_DIR_OK and *out, or
 * AF_DIR_INVALID, AF_DIR_NOMEM, AF_DIR_CRYPTO.
 * Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_new(store_ctx *store,
					  const af_dir_options *opts,
					  af_dir **out, char *err,
					  size_t errlen);

/* Frees the directory (not the store), or a view of one. Accepts NULL. */
void af_dir_free(af_dir *dir);

/* Bytes of a view's origin address and request id, with the NUL. */
#define AF_DIR_ORIGIN_MAX 64

/*
 * A view of dir for one request: the same directory, whose audit events
 * also say where the request came from, as "ip" (the client's address)
 * and "request_id" (its X-Request-Id). ip and rid may be NULL or empty
 * (not said); longer ones are cut at AF_DIR_ORIGIN_MAX - 1 bytes. The
 * view must not outlive dir; free it with af_dir_free(). NULL when
 * memory runs out.
 * Thread-safety: re-entrant; a view belongs to one thread.
 */
af_dir *af_dir_view(const af_dir *dir, const char *ip, const char *rid);

/* The origin of a view: empty strings for a directory itself. */
void af_dir_origin(const af_dir *dir, const char **ip, const char **rid);

/* The store and options the directory was made with (lent). */
store_ctx *af_dir_store(const af_dir *dir);
const af_dir_options *af_dir_options_get(const af_dir *dir);

/*
 * Nanoseconds a password check took at the configured cost when the
 * directory was made: the quickest of a few, about what one costs.
 */
uint64_t af_dir_check_ns(const af_dir *dir);

/*
 * Checks of single values, for callers that validate before calling in.
 * AF_DIR_OK or AF_DIR_INVALID with "<field>: <reason>" in err.
 * Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_check_username(const char *field,
						     const char *v, char *err,
						     size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_check_name(const char *field,
						 const char *v, char *err,
						 size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_check_display(const char *field,
						    const char *v, size_t maxch,
						    char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_check_email(const char *field,
						  const char *v, char *err,
						  size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_check_domain(const char *field,
						   const char *v, char *err,
						   size_t errlen);

/*
 * Users.
 *
 * af_dir_user_add: spec is an object with "username" (required), and
 * optionally "name", "given_name", "family_name" (display strings),
 * "email", "email_verified" (default false),
 * "domain" (folded to lower case), "groups", "ous" (arrays of names
 * that must exist; duplicates dropped), "enabled" (default true). Other
 * members are refused. password (NUL-terminated, lent, 1..1024 bytes) may
 * be NULL: the user then cannot sign in until one is set. A random subject
 * identifier "sub" is made. out (may be NULL) gets the new user, also with
 * an error once the user stands (its member lists or audit event not
 * written): the caller owns it then too, and *out stays NULL otherwise.
 * AF_DIR_OK, AF_DIR_INVALID, AF_DIR_EXISTS, AF_DIR_STORE, AF_DIR_NOMEM,
 * AF_DIR_CRYPTO.
 *
 * af_dir_user_set: patch has any of the optional members above; a string
 * member set to null is removed. Changing "email" resets email_verified
 * to false unless the patch sets it too. AF_DIR_NOT_FOUND when no user.
 *
 * af_dir_user_set_password: password NULL removes it (no sign-in). Either
 * way the user no longer has to choose a new password at sign-in.
 * af_dir_user_reset_password: sets a temporary password: one the user
 * signs in with once and then replaces (af_dir_user_change_password()).
 * Both end what the user is signed into (af_dir_user_gen()).
 *
 * AF_DIR_USER_PW_CHANGE, a member of add's spec and set's patch (true or
 * false; every handed-out user has it): the user must choose a new
 * password at the next sign-in, after its password and second factor,
 * before it is signed in.
 *
 * af_dir_user_change_password: the user's own change of their password,
 * for the user of sub whose sign-in generation is still gen (the caller
 * checked the current password, or a sign-in did) and whose password has
 * not changed since; with temporary, the change of a temporary password
 * at sign-in, allowed only while AF_DIR_USER_PW_CHANGE is true. Anything
 * else, or a disabled or removed user: AF_DIR_CONFLICT. The new password
 * must pass the checks of any password set and differ from the one it
 * replaces (AF_DIR_INVALID, the reason in err). On AF_DIR_OK the mark is
 * gone, the generation raised (whatever the old password signed into
 * ends) and *new_gen holds it. The audit event is the caller's, which
 * knows the request ("user.passwd_change" by "user:NAME"). password:
 * NUL-terminated, lent.
 *
 * af_dir_user_remove: removes a user in steps that can each be cut short
 * (a crash, a store that refuses a write) and run again. First the record
 * is marked: "enabled" false, "removing" true and the sign-in generation
 * raised, so that nothing signs in as the user from then on; a marked
 * user cannot be changed (AF_DIR_REMOVING), assigned, deployed to or made
 * a member, and a new user of the name cannot be added. Then the user is
 * dropped from the member sets (of the marked record, which no change can
 * reach any more), policies and app deployments, the "sub" mapping and the
 * brute-force counters and lock go, the audit event "user.remove" is
 * written (detail: username, sub, groups, ous, and "devices", the ids
 * noted by af_dir_user_remove_note_devices()), and the record goes last. A
 * failure after the mark answers AF_DIR_STORE (or AF_DIR_NOMEM) with a message
 * in err that the removal is incomplete and is to be run again; run again on
 * the marked user, it finishes the job (a removal finished that way may leave
 * two "user.remove" events). A record that does not parse (damaged) cannot be
 * marked; it is removed all the same, with what refers to it by name.
 * AF_DIR_NOT_FOUND when there is no such user.
 * af_dir_user_remove_begin: only the mark, for a caller that has more to
 * end (sessions, devices) before af_dir_user_remove(): AF_DIR_OK also
 * when the user is marked already or the record is damaged.
 * af_dir_user_removing: 1 when a user object (stored or handed out) is
 * marked for removal.
 * af_dir_user_remove_note_devices: notes ids (an array of strings) of
 * devices the caller is about to delete with a user being removed (marked,
 * or with a damaged record), for the "devices" of the user.remove event.
 * Notes are kept until the event is written, so that the event of a
 * removal cut short and run again still names the devices deleted by the
 * first run. AF_DIR_OK, AF_DIR_NOT_FOUND, AF_DIR_INVALID (ids not an
 * array of strings, or the user is not being removed), AF_DIR_STORE.
 *
 * af_dir_user_add of a name that no user has also drops what policies and
 * app deployments still name it (left by a removal of an older version cut
 * short), each an audit event as for a removal, so that the new user
 * starts clean.
 * af_dir_user_canonical: the name a user is kept under (lower case) into
 * out (AF_DIR_USERNAME_MAX + 1 bytes); AF_DIR_INVALID for a malformed one.
 * af_dir_user_get / _get_by_sub: AF_DIR_OK and *out, or AF_DIR_NOT_FOUND
 * (also for a malformed name). af_dir_user_list: every user, sorted by
 * user name.
 *
 * Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_user_add(af_dir *dir, const char *actor,
					       const json_t *spec,
					       const char *password,
					       json_t **out, char *err,
					       size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_user_set(af_dir *dir, const char *actor,
					       const char *username,
					       const json_t *patch,
					       json_t **out, char *err,
					       size_t errlen);
AF_DIR_NODISCARD af_dir_status
af_dir_user_set_password(af_dir *dir, const char *actor, const char *username,
			 const char *password, char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status
af_dir_user_reset_password(af_dir *dir, const char *actor, const char *username,
			   const char *password, char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status
af_dir_user_change_password(af_dir *dir, const char *username, const char *sub,
			    int64_t gen, int temporary, const char *password,
			    int64_t *new_gen, char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_user_remove(af_dir *dir,
						  const char *actor,
						  const char *username,
						  char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_user_remove_begin(af_dir *dir,
							const char *username,
							char *err,
							size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_user_remove_note_devices(
	af_dir *dir, const char *username, const json_t *ids);
int af_dir_user_removing(const json_t *user);
AF_DIR_NODISCARD af_dir_status af_dir_user_canonical(const char *username,
						     char *out, size_t cap);
AF_DIR_NODISCARD af_dir_status af_dir_user_get(af_dir *dir,
					       const char *username,
					       json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_user_get_by_sub(af_dir *dir,
						      const char *sub,
						      json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_user_list(af_dir *dir, json_t **out);

/*
 * The user's sign-in generation (a user's member AF_DIR_USER_GEN; 0 when
 * absent). It goes up whenever everything the user is signed into must
 * end: an administrator sets or clears the password, disables the user,
 * or ends the user's sessions (af_dir_user_end_signins()). Sessions,
 * sign-ins under way, codes and tokens keep the generation they began in,
 * and are refused once the user's has moved past it.
 */
/* The actor of the server's own changes (a lock, a disabled idle user). */
#define AF_DIR_ACTOR_SERVER "authflow"

#define AF_DIR_USER_GEN	      "signin_gen"
#define AF_DIR_USER_PW_CHANGE "password_change_required"

/*
 * A temporary password signs in until AF_DIR_USER_PW_EXPIRES (Unix
 * seconds; set by af_dir_user_reset_password(), gone with any other
 * password): af_dir_user_password_expired() is 1 from then on. A password
 * merely marked for a change (AF_DIR_USER_PW_CHANGE set by add or set) is
 * the user's own and does not expire.
 */
#define AF_DIR_USER_PW_EXPIRES "password_expires_at"
int af_dir_user_password_expired(const json_t *user, int64_t now);

/*
 * When an administrator last enabled a disabled user (Unix seconds;
 * absent until then; read-only): an account enabled again is not idle
 * (directory/signins.h) at once.
 */
#define AF_DIR_USER_ENABLED_AT "enabled_at"
/*
 * When the password was last set, by an administrator or by the user
 * (Unix seconds; absent until then; read-only): a password given to a
 * user back from a long absence makes the account not idle at once.
 */
#define AF_DIR_USER_PW_SET_AT  "password_set_at"
/*
 * When what an application may be told of the user (names, address,
 * domain, groups, OUs) last changed (Unix seconds; absent until it first
 * does, when "created_at" says it; read-only): the "updated_at" claim.
 * Unlike "updated_at", a password or lock does not move it.
 */
#define AF_DIR_USER_PROFILE_AT "profile_updated_at"
int64_t af_dir_user_gen(const json_t *user);

/*
 * Raises the user's sign-in generation. AF_DIR_OK, AF_DIR_NOT_FOUND,
 * AF_DIR_STORE, AF_DIR_NOMEM. Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_user_end_signins(af_dir *dir,
						       const char *username);

/*
 * Checks a sign-in. The order of the checks keeps an attacker from
 * learning which user names exist: an unknown or malformed user name, or
 * a user without a password, costs the same Argon2 work as a real check
 * (against a dummy hash) and gives the same AF_DIR_MISMATCH as a wrong
 * password. Only with the right password does a disabled user get
 * AF_DIR_FORBIDDEN. When the stored hash was made with other costs than
 * the directory's, it is re-hashed and stored (a failure to store it is
 * ignored: the next sign-in tries again). password: NUL-terminated, lent,
 * never copied; more than 1024 bytes, empty, or longer than
 * AF_PW_NORM_MAX bytes in its normal form (NFKC) is AF_DIR_INVALID, with
 * no hash computed, whatever the name.
 * The brute-force checks are the caller's: af_throttle_check() before,
 * af_throttle_fail() or af_throttle_success() after.
 * AF_DIR_OK and *out (the user, may be NULL), AF_DIR_MISMATCH,
 * AF_DIR_FORBIDDEN, AF_DIR_INVALID, AF_DIR_STORE, AF_DIR_NOMEM.
 * Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_user_login(af_dir *dir,
						 const char *username,
						 const char *password,
						 json_t **out);

/*
 * Groups and OUs. description: 0..AF_DIR_DESCRIPTION_MAX printable
 * characters, NULL for none. Removing one removes it from its members,
 * from policies and from app deployments; its audit event ("group.remove",
 * "ou.remove") has the members it had and a group's description. _members gives
 * the sorted user names. _add_member/_remove_member change one user's
 * memberships (AF_DIR_NOT_FOUND for an unknown user or group; adding twice or
 * removing a non-member is AF_DIR_OK, with *changed, when changed is not
 * NULL, 0 then and 1 when the membership changed and was audited).
 * Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_group_add(af_dir *dir, const char *actor,
						const char *name,
						const char *description,
						char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_group_set(af_dir *dir, const char *actor,
						const char *name,
						const char *description,
						char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_group_remove(af_dir *dir,
						   const char *actor,
						   const char *name);
AF_DIR_NODISCARD af_dir_status af_dir_group_get(af_dir *dir, const char *name,
						json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_group_list(af_dir *dir, json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_group_members(af_dir *dir,
						    const char *name,
						    json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_group_add_member(
	af_dir *dir, const char *actor, const char *name, const char *username,
	int *changed, char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_group_remove_member(
	af_dir *dir, const char *actor, const char *name, const char *username,
	int *changed, char *err, size_t errlen);

AF_DIR_NODISCARD af_dir_status af_dir_ou_add(af_dir *dir, const char *actor,
					     const char *name, char *err,
					     size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_ou_remove(af_dir *dir, const char *actor,
						const char *name);
AF_DIR_NODISCARD af_dir_status af_dir_ou_get(af_dir *dir, const char *name,
					     json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_ou_list(af_dir *dir, json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_ou_members(af_dir *dir, const char *name,
						 json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_ou_add_member(
	af_dir *dir, const char *actor, const char *name, const char *username,
	int *changed, char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_ou_remove_member(
	af_dir *dir, const char *actor, const char *name, const char *username,
	int *changed, char *err, size_t errlen);

/*
 * Mends the member sets of groups and OUs after a crash: a user record is
 * written before the sets that list its groups and OUs, so a process
 * killed between the two leaves a record naming a group whose set lacks
 * the user. Access is read from the record, so nothing is granted wrongly
 * meanwhile, but the group's listing misses the user, and its removal,
 * which takes members from the set, would leave the record naming it, to
 * join a later group of the name. This adds every user (not being
 * removed) to the set of each group and OU its record names, whether the
 * group or OU still exists or not (a new one of the name then clears
 * them). It only adds, so it may run beside any other call. stop (may be
 * NULL) is asked between users and ends the pass early when it answers
 * nonzero. removing (may be NULL) is told of each user whose removal
 * did not finish (its record still there, marked): only another removal
 * ends it. *users: records read; *mended: members added. AF_DIR_OK,
 * AF_DIR_INVALID, AF_DIR_STORE, AF_DIR_NOMEM (what was mended stays).
 */
AF_DIR_NODISCARD af_dir_status
af_dir_memberships_mend(af_dir *dir, int (*stop)(void *arg),
			void (*removing)(void *arg, const char *user),
			void *arg, size_t *users, size_t *mended);

/*
 * Told by af_dir_app_names_mend() of each app whose name it mended
 * (holder NULL) and of each app whose name another app of the same name
 * holds (holder: that app's client id), which only an administrator can
 * settle by renaming one of them.
 */
typedef void (*af_dir_name_mend_fn)(void *arg, const char *client_id,
				    const char *name, const char *holder);

/*
 * An app's profile is written while its name is held under a lease (a
 * TTL), which is made permanent once the profile has the name: a process
 * killed between the two leaves a profile whose name runs free a minute
 * later, for another app to take. This makes the mapping of each app's
 * name permanent when it is the app's own lease, missing, or left behind
 * by an app gone or renamed; a lease of another app's create or rename
 * under way is left alone. It may run beside any other call. stop (may
 * be NULL) is asked between apps. *apps: profiles read; *mended: names
 * mended. AF_DIR_OK, AF_DIR_INVALID, AF_DIR_STORE, AF_DIR_NOMEM (what was
 * mended stays).
 */
AF_DIR_NODISCARD af_dir_status af_dir_app_names_mend(
	af_dir *dir, int (*stop)(void *arg), void *arg, af_dir_name_mend_fn fn,
	void *fnarg, size_t *apps, size_t *mended);

/* What an assignment or a deployment names. */
typedef enum af_dir_target {
	AF_DIR_TARGET_ALL = 0, /* every enabled user (deployment only) */
	AF_DIR_TARGET_USER,
	AF_DIR_TARGET_GROUP,
	AF_DIR_TARGET_OU,
	AF_DIR_TARGET_DOMAIN, /* deployment only */
} af_dir_target;

/*
 * Checks a target to deploy an app to (or assign a policy to) as
 * af_dir_app_deploy() would, without changing anything: the name's
 * syntax, and that the user, group or OU exists (a domain need not).
 * AF_DIR_OK, AF_DIR_INVALID with "<field>: no group named ..." in err,
 * AF_DIR_STORE.
 * Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_check_target(af_dir *dir,
						   const char *field,
						   af_dir_target kind,
						   const char *v, char *err,
						   size_t errlen);

/*
 * User policies (policy.c). spec: "name" (required), "sso" and
 * "remote_access" (bools, default false), "assigned" ({"users", "groups",
 * "ous"}: arrays of names that must exist). A patch for _set has any of
 * these but "name". _assign/_unassign add or drop one user, group or OU
 * (other targets are AF_DIR_INVALID). The "policy.remove" event has the
 * removed policy, but its name, as detail.
 *
 * af_dir_policy_for_user: the user's effective policy. A policy assigned
 * to the user directly wins; else one assigned to any of the user's
 * groups; else one assigned to any of the user's OUs; at each level the
 * policy that lets the user do least (SSO off, then remote access with
 * the number, then remote access without it, then the password alone),
 * and between equals the one whose name sorts first. AF_DIR_OK and *out,
 * the policy without
 * its "assigned" lists (a reader may set or drop its members), or
 * AF_DIR_NOT_FOUND when none applies (the user is then not SSO-enabled).
 * af_dir_policy_names: the same for each user object of the array users
 * (as the directory lists them), the policies read once for them all:
 * sets each one's "policy" to its policy's name, or null when none
 * applies. AF_DIR_OK, AF_DIR_NOMEM (some set, some not), or the status
 * of a failed read of the policies (none set).
 * Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_policy_add(af_dir *dir, const char *actor,
						 const json_t *spec, char *err,
						 size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_policy_set(af_dir *dir, const char *actor,
						 const char *name,
						 const json_t *patch, char *err,
						 size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_policy_remove(af_dir *dir,
						    const char *actor,
						    const char *name, char *err,
						    size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_policy_get(af_dir *dir, const char *name,
						 json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_policy_list(af_dir *dir, json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_policy_names(af_dir *dir, json_t *users);
AF_DIR_NODISCARD af_dir_status af_dir_policy_assign(
	af_dir *dir, const char *actor, const char *name, af_dir_target kind,
	const char *member, char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_policy_unassign(
	af_dir *dir, const char *actor, const char *name, af_dir_target kind,
	const char *member, char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_policy_for_user(af_dir *dir,
						      const json_t *user,
						      json_t **out);

/*
 * Application profiles (apps.c). Superadmin only, except deployment (see
 * the top of this file).
 *
 * af_dir_app_add: spec members: "name" (required; admin-only label, unique
 * among apps), "display_name" (shown to users; default the name),
 * "redirect_uris" (required, 1..AF_DIR_URIS_MAX exact strings of at most
 * AF_DIR_URI_MAX bytes; the caller checks them as URIs),
 * "post_logout_uris" (0..AF_DIR_URIS_MAX), "enabled" (default true),
 * "claims" (object: claim name -> one of "username", "name",
 * "given_name", "family_name", "email", "domain", "groups", "ous", "sub";
 * names the OIDC layer sets itself, such
 * as "sub" or "aud", are refused), "access_token_format" ("opaque", the
 * default, or "jwt"), "allow_refresh" (default false),
 * "refresh_grace_seconds" (0..AF_DIR_RT_GRACE_MAX, default 0: how long a
 * refresh token rotated out is still taken), "deployment"
 * ({"mode": "none"|"all"|"chosen", "domains", "ous", "groups", "users"},
 * default mode none; names only with mode chosen, and chosen with no
 * names is stored as none), "admins_may_deploy" (default false).
 * Duplicate URIs are dropped before they are counted. A random
 * client id "af-..." is made, and a client secret (AF_DIR_SECRET_LEN
 * base64url characters) written to secret, which must hold
 * AF_DIR_SECRET_BUF bytes; only its SHA-256 is stored, so this is the one
 * time it can be seen. The caller wipes it (OPENSSL_cleanse). out (may be
 * NULL) gets the new profile.
 *
 * af_dir_app_set: patch has any member above; a new "name" must be free.
 * af_dir_app_rotate_secret: a new secret; the old one goes on working
 * for keep_s seconds more (0..AF_DIR_SECRET_KEEP_MAX; 0: it stops at
 * once), so that the application can be given the new one without a
 * moment when neither works. Its hash then stays beside the new one as
 * "previous_secret_sha256", with "previous_secret_until" (Unix seconds);
 * only one is kept: a secret kept from an earlier rotation stops now.
 * *until (may be NULL) gets that time, as stored, or 0 when nothing was
 * kept.
 * af_dir_app_drop_previous_secret: the kept secret stops now
 * (AF_DIR_NOT_FOUND when none is kept, or it has stopped already).
 * Both _add and _rotate_secret answer AF_DIR_UNAUDITED when the profile
 * or the new secret was stored but the audit event could not be written:
 * the secret is then valid and in secret (and the profile in *out) as
 * with AF_DIR_OK, to be handed out and wiped all the same; err (of _add)
 * says what failed. On any other failure the secret is wiped.
 * af_dir_app_remove: the "app.remove" event has the profile's name,
 * display_name, redirect_uris, post_logout_uris and deployment.
 * af_dir_app_deploy / _undeploy: adds or drops one target; deploying to a
 * target of a profile deployed to nobody (mode "none", whose lists are
 * emptied first, as names stored beside "none" grant nothing) makes its
 * mode "chosen"; deploying to AF_DIR_TARGET_ALL makes it "all";
 * undeploying ALL makes it "chosen" when targets are left, else "none";
 * dropping the last target of a "chosen" profile makes it "none". value is
 * ignored for ALL.
 * af_dir_app_get (and _get_by_name, and _check_secret's *app): the
 * profile without its secrets' hashes, a new object the caller owns and
 * may set or drop members of; what a member holds (a string, the
 * redirect_uris array, ...) is shared with other readers and must not be
 * changed.
 * Lookups of a malformed client id are AF_DIR_NOT_FOUND.
 * Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_app_add(af_dir *dir, const char *actor,
					      const json_t *spec, json_t **out,
					      char *secret, size_t secretcap,
					      char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_app_set(af_dir *dir, const char *actor,
					      const char *client_id,
					      const json_t *patch, json_t **out,
					      char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_app_remove(af_dir *dir, const char *actor,
						 const char *client_id,
						 char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_app_get(af_dir *dir,
					      const char *client_id,
					      json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_app_get_by_name(af_dir *dir,
						      const char *name,
						      json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_app_list(af_dir *dir, json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_app_rotate_secret(
	af_dir *dir, const char *actor, const char *client_id, int64_t keep_s,
	char *secret, size_t secretcap, int64_t *until);
AF_DIR_NODISCARD af_dir_status af_dir_app_drop_previous_secret(
	af_dir *dir, const char *actor, const char *client_id);
/*
 * Flags of af_dir_app_deploy() and _undeploy(): the caller is an admin,
 * not a superadmin, so the change is refused (AF_DIR_FORBIDDEN) unless
 * the profile's admins_may_deploy is true when the change is written,
 * however long ago the caller looked.
 */
#define AF_DIR_DEPLOY_ADMIN 0x1u
AF_DIR_NODISCARD af_dir_status af_dir_app_deploy(af_dir *dir, const char *actor,
						 const char *client_id,
						 af_dir_target kind,
						 const char *value,
						 unsigned flags, char *err,
						 size_t errlen);
AF_DIR_NODISCARD af_dir_status
af_dir_app_undeploy(af_dir *dir, const char *actor, const char *client_id,
		    af_dir_target kind, const char *value, unsigned flags,
		    char *err, size_t errlen);

/*
 * Checks a client secret (NUL-terminated, lent) in constant time over
 * SHA-256 digests. AF_DIR_OK, AF_DIR_FORBIDDEN (wrong secret, or the
 * profile is disabled), AF_DIR_NOT_FOUND, AF_DIR_STORE. The secret a
 * rotation replaced is taken until its "previous_secret_until"; with
 * AF_DIR_OK, *previous (may be NULL) is 1 when that is the one given,
 * else 0. With AF_DIR_OK and a non-NULL app, *app is the profile as
 * af_dir_app_get() gives it (new reference), so the caller need not read
 * it again.
 * Thread-safety: re-entrant.
 */
AF_DIR_NODISCARD af_dir_status af_dir_app_check_secret(af_dir *dir,
						       const char *client_id,
						       const char *secret,
						       json_t **app,
						       int *previous);

/*
 * 1 when the profile app is deployed to user, else 0: never for a
 * disabled profile or a disabled user; mode "all": every enabled user;
 * "chosen": a user named in users, in one of groups or ous, or whose
 * domain is in domains. Both objects are lent.
 * Thread-safety: re-entrant.
 */
int af_dir_app_deployed_to(const json_t *app, const json_t *user);

/*
 * 1 when a caller of the given role may deploy app: a superadmin always,
 * an admin only when the profile's admins_may_deploy is true.
 * Thread-safety: re-entrant.
 */
int af_dir_app_may_deploy(int role_is_superadmin, const json_t *app);

/*
 * Whether removing the group or OU name (kind) would undeploy a profile
 * that only a superadmin may undeploy (admins_may_deploy off): AF_DIR_OK
 * with that profile's name in out when one is deployed to it,
 * AF_DIR_NOT_FOUND when none is, or a store failure.
 */
AF_DIR_NODISCARD af_dir_status af_dir_app_held_by(af_dir *dir,
						  af_dir_target kind,
						  const char *name, char *out,
						  size_t cap);

/*
 * Branding of the browser pages (branding.c), one object for the whole
 * service.
 *
 * af_dir_branding_set: patch has any of "name" (the organisation, 1..
 * AF_DIR_BRAND_NAME_MAX printable characters), "color" (the accent,
 * "#rrggbb", folded to lower case), "help_text" (1..AF_DIR_BRAND_HELP_MAX
 * characters shown at the foot of every page), "help_url" (an https,
 * mailto: or tel: link of at most AF_DIR_BRAND_URL_MAX bytes), "logo"
 * (standard base64 of a PNG, JPEG, GIF or WebP image of at most
 * AF_DIR_BRAND_LOGO_MAX bytes, told by its first bytes; SVG is refused
 * as it may carry script). null or "" clears a member; other members are
 * refused. The logo is stored as {type, size, sha256 (hex), data}.
 * Audit "branding.set" with the checked patch, the logo without its data.
 * af_dir_branding_reset: back to the built-in look; audit
 * "branding.reset".
 * af_dir_branding_get: the stored object, {} when none; with_logo 0
 * leaves out the logo's data. out of _set (may be NULL): the object after
 * the change, without the logo's data.
 * af_dir_branding_check: checks a stored object (with its logo's data) as
 * _set checks a patch, for readers that print it.
 * Thread-safety: re-entrant.
 */
#define AF_DIR_BRAND_NAME_MAX	  64
#define AF_DIR_BRAND_HELP_MAX	  300
#define AF_DIR_BRAND_URL_MAX	  512
#define AF_DIR_BRAND_LOGO_MAX	  32768
#define AF_DIR_BRAND_LOGO_B64_MAX ((size_t)(AF_DIR_BRAND_LOGO_MAX + 2) / 3 * 4)

AF_DIR_NODISCARD af_dir_status af_dir_branding_get(af_dir *dir, int with_logo,
						   json_t **out);
AF_DIR_NODISCARD af_dir_status af_dir_branding_set(af_dir *dir,
						   const char *actor,
						   const json_t *patch,
						   json_t **out, char *err,
						   size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_branding_check(const json_t *obj,
						     char *err, size_t errlen);
AF_DIR_NODISCARD af_dir_status af_dir_branding_reset(af_dir *dir,
						     const char *actor,
						     char *err, size_t errlen);

/*
 * Internal to the directory module (af_dir__): shared by its own .c
 * files, not for other callers.
 */
#define AF_DIR__CAS_TRIES 8

/* json_object_set_new() as a status: AF_DIR_OK, or AF_DIR_NOMEM. The
 * reference to v is stolen either way. */
AF_DIR_NODISCARD af_dir_status af_dir__set_new(json_t *obj, const char *key,
					       json_t *v);

/* Writes a one-line message into err (NULL accepted). */
void af_dir__err(char *err, size_t errlen, const char *fmt, ...)
	AF_DIR_PRINTF(3, 4);

/* Maps a store status to the module's. */
af_dir_status af_dir__from_store(store_status st);

/* "<prefix><name>" into key (STORE_KEY_MAX); AF_DIR_INVALID if too long. */
AF_DIR_NODISCARD af_dir_status af_dir__key(char *key, size_t keycap,
					   const char *prefix,
					   const char *name);

/* Reads and parses the object at key; raw (may be NULL) keeps the bytes
 * for a later af_dir__cas_json(). */
AF_DIR_NODISCARD af_dir_status af_dir__get_json(af_dir *dir, const char *key,
						json_t **out, store_value *raw);

/*
 * As af_dir__get_json() without raw, for readers that only read: the
 * object may be the one the memo keeps (memo.h), shared with every other
 * reader. Change nothing in it; json_decref() it when done.
 */
AF_DIR_NODISCARD af_dir_status af_dir__get_json_shared(af_dir *dir,
						       const char *key,
						       json_t **out);

/* Writes obj at key with store_set() flags. */
AF_DIR_NODISCARD af_dir_status af_dir__put_json(af_dir *dir, const char *key,
						const json_t *obj,
						unsigned flags);
/* af_dir__put_json() with a TTL (store_set()'s ttl_ms; 0: none). */
AF_DIR_NODISCARD af_dir_status af_dir__put_json_ttl(af_dir *dir,
						    const char *key,
						    const json_t *obj,
						    uint64_t ttl_ms,
						    unsigned flags);

/*
 * Read, change, compare-and-swap loop over the object at key: fn changes
 * obj in place and returns AF_DIR_OK to write it, or another status to
 * stop with it. On success, *out (may be NULL) gets the object written and
 * *old (may be NULL) the object it replaced.
 */
typedef af_dir_status (*af_dir__update_fn)(json_t *obj, void *arg);
AF_DIR_NODISCARD af_dir_status af_dir__update(af_dir *dir, const char *key,
					      af_dir__update_fn fn, void *arg,
					      json_t **out, json_t **old);

/* The members of the set at key as a sorted array of strings. */
AF_DIR_NODISCARD af_dir_status af_dir__members(af_dir *dir, const char *key,
					       json_t **out);

/* The objects named by the set at set_key ("<prefix><member>"), sorted by
 * member. Entries that vanished meanwhile are skipped, and so are damaged
 * ones (told to the damage sink). */
AF_DIR_NODISCARD af_dir_status af_dir__list(af_dir *dir, const char *set_key,
					    const char *prefix, json_t **out);

/*
 * af_dir__policies_shared(): the policies as af_dir__list() lists them,
 * for readers that only read: the array and the objects in it shared
 * (af_dir__get_json_shared()), and the array kept in the memo
 * for the readers that come while no policy changes (memo.h); in *index
 * what af_dir__policy_index() makes of it, shared and kept likewise.
 * Every write of a policy or of the "policies" index calls
 * af_dir__policies_changed() once it is done, whether it succeeded or
 * not (a failed write may have changed some of the store).
 */
AF_DIR_NODISCARD af_dir_status af_dir__policies_shared(af_dir *dir,
						       json_t **out,
						       json_t **index);
void af_dir__policies_changed(af_dir *dir);

/*
 * Which policies name whom, for af_dir_policy_for_user(): from a listing
 * of policies, an object with a member per kind of assignment ("users",
 * "groups", "ous"), each mapping a name to the position in the listing
 * of the first policy whose list of that kind holds it. Made once per
 * change of the policies, so that resolving a user's policy costs a few
 * lookups however many users the policies name.
 */
AF_DIR_NODISCARD af_dir_status af_dir__policy_index(const json_t *policies,
						    json_t **out);

/*
 * Before a group, OU or policy of name is made: AF_DIR_EXISTS, with the
 * message in err, when the set index already holds a name that differs
 * from it only in case (noun: "a group"); else AF_DIR_OK, or the store's
 * failure. Names are exact, but "Staff" beside "staff" is a mistake
 * waiting to happen: a policy assigned to the wrong one.
 */
AF_DIR_NODISCARD af_dir_status af_dir__case_twin(af_dir *dir, const char *index,
						 const char *noun,
						 const char *name, char *err,
						 size_t errlen);

/* Number of members of a set, counted up to cap + 1. */
AF_DIR_NODISCARD af_dir_status af_dir__count(af_dir *dir, const char *key,
					     size_t cap, size_t *out);

/*
 * After a write that named the group or OU name (kind; others pass) as a
 * member's, a policy's or a deployment's, and its audit event: the
 * object's removal may have swept the references before this one was
 * written, and a later group of the name would inherit it. When the object
 * is gone by now, the sweep is made again, this reference included, as if
 * the removal had come after the write (each dropped reference an audit
 * event). A removal deletes the object before its last sweep, and writers
 * look after they write, so one of the two sees the other. Best effort:
 * what a failing store leaves, a new group or OU of the name clears.
 */
void af_dir__named_recheck(af_dir *dir, const char *actor, af_dir_target kind,
			   const char *name);

/*
 * A record and its index (the set its listing reads) are kept so that no
 * record is ever left out of the index, whatever step a crash or a failed
 * write cuts short: a record is added to its index before it is written
 * and again after (a removal of the same name may have run between), and
 * taken out of it only after it is deleted, by af_dir__index_drop(),
 * which adds back a record of the name written meanwhile. What an
 * interruption can leave is an index entry without a record: listings
 * skip it, and a later record of the name uses it. So the index step of
 * a removal is best effort: once the record is gone, so is the object.
 */
void af_dir__index_drop(af_dir *dir, const char *index, const char *name,
			const char *key);

/*
 * Checks that s is valid UTF-8 of printable characters (no control
 * characters, no bidirectional overrides) of at most maxbytes bytes.
 * Returns the number of characters, or -1.
 */
long af_dir__utf8_chars(const char *s, size_t maxbytes);

/* Sorts an array of strings (field NULL) or of objects by the string
 * member field, in place. */
AF_DIR_NODISCARD af_dir_status af_dir__sort(json_t *arr, const char *field);

/*
 * jansson's iterators take non-const pointers although iterating changes
 * nothing; this is the one place where the directory drops the const of a
 * value it was lent, and only to iterate over it.
 */
json_t *af_dir__iterable(const json_t *v);

/* The member of an assignment or deployment that lists kind ("users",
 * "groups", "ous", "domains"), or NULL for AF_DIR_TARGET_ALL. */
const char *af_dir__target_field(af_dir_target kind);

/* 1 when the array arr holds the string s. */
int af_dir__array_has(const json_t *arr, const char *s);

/* Drops every copy of s from arr; 1 when one was there. */
int af_dir__array_drop(json_t *arr, const char *s);

/*
 * Records the audit event of a change that was made (af_audit_record());
 * when it cannot be written, AF_DIR_STORE with a message saying that the
 * change was made but not recorded.
 */
AF_DIR_NODISCARD af_dir_status af_dir__audit(af_dir *dir, const char *actor,
					     const char *action,
					     const char *target,
					     const json_t *detail, char *err,
					     size_t errlen);

/* How af_dir__change_detail() reads a member before had not. */
typedef enum af_dir_unset {
	AF_DIR_UNSET_NULL = 0,	 /* null: nothing was there */
	AF_DIR_UNSET_FLAG_FALSE, /* false for a flag, null for the rest */
} af_dir_unset;

/*
 * The detail of a change event: a copy of the fields given (norm, which
 * never holds a secret), and under "was" what each held in before, the
 * record as the change found it, so that the trail shows a setting
 * changed from what to what. A member the change merges key by key (named
 * in by_key, NULL-terminated, or NULL: none; a policy's "assigned", whose
 * lists are replaced one by one) has under "was" the keys it names only;
 * any other member, an object too (an app's "claims"), is replaced whole
 * and has all it held. NULL when out of memory.
 */
json_t *af_dir__change_detail(const json_t *norm, const json_t *before,
			      af_dir_unset unset, const char *const *by_key);

/*
 * Records the audit event of a removal about to be made: the event goes
 * before the record, so that a removal cut short after it (a crash, a
 * store that refuses the delete) is on the trail, and is recorded again
 * when run again, never missing. When it cannot be written, AF_DIR_STORE
 * with a message saying that nothing was removed.
 */
AF_DIR_NODISCARD af_dir_status af_dir__audit_removal(
	af_dir *dir, const char *actor, const char *action, const char *target,
	const json_t *detail, char *err, size_t errlen);

/*
 * Refuses a new name (of a user, group, OU, policy or app) made only of
 * dots, after its syntax check: "field: must not be only dots ...".
 */
AF_DIR_NODISCARD af_dir_status af_dir__check_not_dots(const char *field,
						      const char *v, char *err,
						      size_t errlen);

/*
 * The detail of a removal event: a new object with a copy of each member
 * of obj (may be NULL) named in the NULL-terminated members, when there.
 */
AF_DIR_NODISCARD af_dir_status af_dir__removed_detail(
	const json_t *obj, const char *const *members, json_t **out);

/* Checks that the actor is a bounded printable name. */
AF_DIR_NODISCARD af_dir_status af_dir__check_actor(const char *actor);

/*
 * Checks an array of names at field: a JSON array of at most max strings,
 * each passing the check of kind (USER: user name, folded to lower case;
 * GROUP/OU: name, and must exist; DOMAIN: domain name, folded). The
 * result is a new sorted array without duplicates in *out.
 */
AF_DIR_NODISCARD af_dir_status af_dir__names(af_dir *dir, const char *field,
					     const json_t *arr,
					     af_dir_target kind, size_t max,
					     json_t **out, char *err,
					     size_t errlen);

/* Checks one name of kind as af_dir__names() does, and folds it into
 * out (AF_DIR_DOMAIN_MAX + 1 bytes). */
AF_DIR_NODISCARD af_dir_status af_dir__name_of(af_dir *dir, const char *field,
					       const char *v,
					       af_dir_target kind, char *out,
					       size_t outcap, char *err,
					       size_t errlen);

/*
 * Removes a removed user, group or OU from every policy (policy.c) and
 * every app deployment (apps.c). Each policy or app changed is an audit
 * event by actor, as if the name had been unassigned or undeployed, with
 * "removed": true in its detail.
 */
AF_DIR_NODISCARD af_dir_status af_dir__policies_forget(af_dir *dir,
						       const char *actor,
						       af_dir_target kind,
						       const char *name);
AF_DIR_NODISCARD af_dir_status af_dir__apps_forget(af_dir *dir,
						   const char *actor,
						   af_dir_target kind,
						   const char *name);

/* The audit event of a forget: action on target, {field: name, removed}. */
AF_DIR_NODISCARD af_dir_status
af_dir__forget_audit(af_dir *dir, const char *actor, const char *action,
		     const char *target, const char *field, const char *name);

/* The dummy hash for sign-ins of unknown users (lent). */
const char *af_dir__dummy_phc(const af_dir *dir);

/* Whether c is an ASCII letter or digit. */
int af_dir__is_alnum(char c);

/* Folds the ASCII capitals of s to lower case, in place. */
void af_dir__fold_lower(char *s);

/* AF_DIR_OK when the object prefix+name exists, else NOT_FOUND or an
 * error. */
AF_DIR_NODISCARD af_dir_status af_dir__exists(af_dir *dir, const char *prefix,
					      const char *name);

/*
 * Reads the user record at key as it is: AF_DIR_OK and *user, or AF_DIR_OK
 * and *user NULL when the record is damaged (not a JSON object),
 * AF_DIR_NOT_FOUND, or the store's failure. Unlike af_dir__get_json(), a
 * damaged record is told apart from a store that does not answer, so that
 * it can still be removed.
 */
AF_DIR_NODISCARD af_dir_status af_dir__user_read(af_dir *dir, const char *key,
						 json_t **user);

/*
 * Whether the user name (folded) is there to be named by a policy, a
 * deployment or a group: AF_DIR_OK (a damaged record counts, as it did
 * for af_dir__exists()), AF_DIR_NOT_FOUND, AF_DIR_REMOVING, or the store's
 * failure.
 */
AF_DIR_NODISCARD af_dir_status af_dir__user_present(af_dir *dir,
						    const char *name);

/* The message of a change refused because the user is being removed. */
void af_dir__removing_err(const char *name, char *err, size_t errlen);

/* The record's key of the user username, whose folded name goes into name;
 * AF_DIR_NOT_FOUND when username is not a valid user name. */
AF_DIR_NODISCARD af_dir_status af_dir__user_key(char *key, size_t cap,
						const char *username,
						char *name, size_t namecap);

/* Brings the member sets in step with a user's old and new memberships. */
AF_DIR_NODISCARD af_dir_status af_dir__sync_members(af_dir *dir,
						    const char *user,
						    const json_t *before,
						    const json_t *after);

/*
 * The user's record was written but its member sets were not brought in
 * line with it (sync): the change stands, so its audit event (action on
 * target, detail) is written all the same, and the answer says what
 * brings the sets in line (the writes of memberships add the user to
 * every set its record names, changed or not): running a change again,
 * or for a new user, which cannot be added twice, setting it. rc of the
 * audit event when that fails too, else sync.
 */
AF_DIR_NODISCARD af_dir_status af_dir__unsynced(
	af_dir *dir, const char *actor, const char *action, const char *target,
	const json_t *detail, af_dir_status sync, char *err, size_t errlen);

/*
 * After a user's memberships were written (and audited): a group or OU
 * joined that was removed meanwhile is swept again
 * (af_dir__named_recheck()).
 */
void af_dir__memberships_recheck(af_dir *dir, const char *actor,
				 const json_t *before, const json_t *after);

#endif /* AUTHFLOW_DIRECTORY_H */
