/*
 * Each user's last sign-in: when, from which address, to which
 * application, with which factors. What a security team asks of an
 * identity provider to find accounts nobody uses any more (PCI DSS 8.2.6:
 * inactive accounts disabled within 90 days) and to answer "when did
 * alice last sign in, and from where".
 *
 * Key: "signin:<name>" (the user name folded to lower case), one JSON
 * object per user, without a TTL, so that the memory store keeps it in its
 * state file: a restart must not make every account look unused. It holds
 * the user's "sub", so that a record left by an earlier user of the same
 * name (a sign-in that finished while that user was removed) is never
 * handed out as the new user's.
 *
 * A sign-in is recorded when it finishes (the password, and the second
 * factor the policy asks for, accepted). Writes are kept few: one that
 * tells nothing new (same address, application and factors, less than
 * AF_DIR_SIGNIN_PRECISION_S after the one recorded) is not made, so the
 * time is exact to that precision and a busy user costs one write a
 * minute at most.
 *
 * Records began when a server of this version first started on the store
 * ("signins:since", written once): a user without a record has not
 * signed in since then, which is all that can be said of them. So a user
 * is idle since the latest of the last sign-in, that start, the user's
 * creation ("created_at"), the last time an administrator enabled the
 * user ("enabled_at") and the last time its password was set
 * ("password_set_at"): an upgrade makes nobody look idle, and an account
 * enabled again, or given a new password, is not idle at once.
 *
 * Thread-safety: re-entrant. Two sign-ins of one user at the same moment
 * may each write; the record is one of them, whole.
 */
#ifndef AUTHFLOW_DIRECTORY_SIGNINS_H
#define AUTHFLOW_DIRECTORY_SIGNINS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "directory/directory.h"

#define AF_DIR_SIGNIN_PRECISION_S 60
#define AF_DIR_DAY_S		  86400
#define AF_DIR_SIGNIN_ADDRESS_MAX 64 /* bytes of the address kept */
#define AF_DIR_SIGNIN_BROWSER_MAX 64 /* bytes of the browser kept */
#define AF_DIR_SIGNIN_AMR_MAX	  8  /* factors kept */

/* One sign-in that finished, as af_dir_signin_note() takes it (all lent). */
typedef struct af_dir_signin {
	const char *username;
	const char *sub;
	int64_t time;		/* Unix seconds */
	const char *address;	/* the client's address; NULL: not known */
	const char *browser;	/* hp_user_agent_describe(); NULL: not known */
	const char *client_id;	/* the application signed into */
	const char *const *amr; /* the factors used ("pwd", "mfa", ...) */
	size_t namr;
} af_dir_signin;

/*
 * Records in as the user's last sign-in, unless the record already says
 * as much (above). AF_DIR_OK, AF_DIR_INVALID (a malformed user name, no
 * sub or client_id, a time before 1970), AF_DIR_NOMEM or AF_DIR_STORE.
 * Members too long are cut, between characters.
 */
AF_DIR_NODISCARD af_dir_status af_dir_signin_note(af_dir *dir,
						  const af_dir_signin *in);

/*
 * The last sign-in of user (a user record as af_dir_user_get() hands
 * out): AF_DIR_OK and *out, a new object {"time", "address", "browser",
 * "client_id", "amr"} ("address" and "browser" null when not known);
 * AF_DIR_NOT_FOUND when the user has not signed in (or the record is an
 * earlier user's); AF_DIR_INVALID, AF_DIR_NOMEM or AF_DIR_STORE.
 */
AF_DIR_NODISCARD af_dir_status af_dir_signin_last(af_dir *dir,
						  const json_t *user,
						  json_t **out);

/*
 * Marks now as when records began, unless a start already did. AF_DIR_OK,
 * AF_DIR_NOMEM or AF_DIR_STORE.
 */
AF_DIR_NODISCARD af_dir_status af_dir_signin_start(af_dir *dir);

/*
 * When records began into *out: the time af_dir_signin_start() kept, or
 * now when none is kept (yet). AF_DIR_OK, AF_DIR_INVALID or AF_DIR_STORE
 * (*out is now then too).
 */
AF_DIR_NODISCARD af_dir_status af_dir_signin_epoch(af_dir *dir, int64_t *out);

/*
 * Since when user (a user record) has been idle, given the time of its
 * last sign-in (0: none recorded) and the epoch of records: the latest of
 * those, created_at, enabled_at and password_set_at.
 */
int64_t af_dir_user_idle_since(const json_t *user, int64_t last, int64_t epoch);

/* Drops the record of username (any user's of that name). AF_DIR_OK
 * (also when there was none), AF_DIR_INVALID or AF_DIR_STORE. */
AF_DIR_NODISCARD af_dir_status af_dir_signin_forget(af_dir *dir,
						    const char *username);

#endif /* AUTHFLOW_DIRECTORY_SIGNINS_H */
