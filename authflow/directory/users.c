/*
 * The directory's users: adding, changing, removing and reading them,
 * their passwords, and the password sign-in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "directory/directory.h"
#include "directory/password.h"
#include "directory/signins.h"
#include "directory/throttle.h"

/* The member that marks a user being removed (af_dir_user_remove()). */
#define USER_REMOVING "removing"

int af_dir_user_removing(const json_t *user)
{
	return json_is_true(json_object_get(user, USER_REMOVING));
}

/* Checks and folds a user name given by a caller into name. */
static af_dir_status user_name(const char *in, char *name, size_t cap)
{
	if (af_dir_check_username("username", in, NULL, 0) != AF_DIR_OK ||
	    af_dir__key(name, cap, "", in) != AF_DIR_OK)
		return AF_DIR_INVALID;
	af_dir__fold_lower(name);
	return AF_DIR_OK;
}

/* Makes u (owned) the user as handed out: without the password hash. */
static json_t *user_strip(json_t *u)
{
	if (u == NULL)
		return NULL;
	if (json_object_set_new(u, "password_set",
				json_boolean(json_is_string(json_object_get(
					u, "password")))) != 0) {
		json_decref(u);
		return NULL;
	}
	if (json_object_set_new(u, AF_DIR_USER_PW_CHANGE,
				json_boolean(json_is_true(json_object_get(
					u, AF_DIR_USER_PW_CHANGE)))) != 0) {
		json_decref(u);
		return NULL;
	}
	/* Deleting a member that is not there is not an error here. */
	if (json_object_del(u, "password") != 0 &&
	    json_object_get(u, "password") != NULL) {
		json_decref(u);
		return NULL;
	}
	return u;
}

/* The user as handed out, a copy of the stored one. */
static json_t *user_public(const json_t *stored)
{
	return user_strip(json_deep_copy(stored));
}

static af_dir_status hand_out_user(const json_t *stored, json_t **out)
{
	if (out == NULL)
		return AF_DIR_OK;
	*out = user_public(stored);
	return *out != NULL ? AF_DIR_OK : AF_DIR_NOMEM;
}

/* As hand_out_user, but *user (just read, owned) becomes *out, uncopied. */
static af_dir_status hand_over_user(json_t **user, json_t **out)
{
	if (out == NULL)
		return AF_DIR_OK;
	*out = user_strip(*user);
	*user = NULL;
	return *out != NULL ? AF_DIR_OK : AF_DIR_NOMEM;
}

static af_dir_status check_password(const char *password, char *err,
				    size_t errlen)
{
	size_t n = password != NULL ? strnlen(password, AF_PW_MAX + 1) : 0;

	if (n == 0 || n > AF_PW_MAX) {
		af_dir__err(err, errlen, "password: must be 1..%d bytes",
			    AF_PW_MAX);
		return AF_DIR_INVALID;
	}
	return AF_DIR_OK;
}

/* 1 when s is a unit of 1..4 bytes repeated ("aaaaaaaa", "abababab"). */
static int repeated(const char *s, size_t len)
{
	size_t unit, i;

	for (unit = 1; unit <= 4 && unit < len; unit++) {
		for (i = unit; i < len && s[i] == s[i - unit]; i++)
			;
		if (i == len)
			return 1;
	}
	return 0;
}

/* 1 when each byte of s is one more, or each one less, than the last. */
static int consecutive(const char *s, size_t len)
{
	size_t i, up = 1, down = 1;

	for (i = 1; i < len; i++) {
		up &= (unsigned char)s[i] == (unsigned char)s[i - 1] + 1u;
		down &= (unsigned char)s[i] + 1u == (unsigned char)s[i - 1];
	}
	return len > 1 && (up || down);
}

/* check_new_password() over the normalised password. */
static af_dir_status check_new_rules(const af_dir *dir, const char *user,
				     const char *password, char *err,
				     size_t errlen)
{
	size_t len = strlen(password);
	long chars;

	/*
	 * A form may post any bytes; the admin API's JSON is UTF-8 only.
	 * Control characters and invisible ones (a tab or line break pasted
	 * with it, a zero-width space, a direction mark) cannot be typed
	 * into a sign-in form alike on every keyboard: such a password would
	 * lock its owner out.
	 */
	chars = af_utf8_display_chars(password, len);
	if (chars < 0) {
		af_dir__err(err, errlen,
			    "password: must be valid UTF-8 text without "
			    "control or invisible characters (tabs, line "
			    "breaks, zero-width spaces, direction marks)");
		return AF_DIR_INVALID;
	}
	if ((unsigned long)chars < af_dir_options_get(dir)->pw_min_chars) {
		af_dir__err(err, errlen,
			    "password: must be at least %u characters",
			    af_dir_options_get(dir)->pw_min_chars);
		return AF_DIR_INVALID;
	}
	if (user != NULL && strcasecmp(password, user) == 0) {
		af_dir__err(err, errlen, "password: must not be the user name");
		return AF_DIR_INVALID;
	}
	if (repeated(password, len)) {
		af_dir__err(err, errlen,
			    "password: must not be a character or a few "
			    "repeated, like aaaaaaaa or abababab");
		return AF_DIR_INVALID;
	}
	if (consecutive(password, len)) {
		af_dir__err(err, errlen,
			    "password: must not be a run of consecutive "
			    "characters, like 12345678 or abcdefgh");
		return AF_DIR_INVALID;
	}
	if (af_pwlist_has(af_dir_options_get(dir)->pwlist, password)) {
		af_dir__err(err, errlen,
			    "password: is on the list of common and breached "
			    "passwords: choose another");
		return AF_DIR_INVALID;
	}
	return AF_DIR_OK;
}

/*
 * A password being set: within the bytes any password may have, and in
 * its normal form (af_pw_normalize(), what is hashed) of at least
 * opts.pw_min_chars characters (code points, as a person counts them:
 * "pässwörd" is eight), and none that NIST SP 800-63B (5.1.1.2) says to
 * refuse: the user's name, repeated or consecutive characters, and a
 * common or breached password (opts.pwlist). A password already set is
 * never judged again: it signs in whatever the rules have become.
 */
static af_dir_status check_new_password(const af_dir *dir, const char *user,
					const char *password, char *err,
					size_t errlen)
{
	char norm[AF_PW_NORM_MAX + 1];
	af_dir_status rc = check_password(password, err, errlen);

	if (rc != AF_DIR_OK)
		return rc;
	/* The rules judge what is hashed: "ｐａｓｓｗｏｒｄ" is "password". */
	rc = af_pw_normalize(password, norm, sizeof(norm));
	if (rc == AF_DIR_INVALID)
		af_dir__err(err, errlen,
			    "password: must be at most %zu bytes in Unicode "
			    "normal form (NFKC)",
			    AF_PW_NORM_MAX);
	if (rc == AF_DIR_OK)
		rc = check_new_rules(dir, user, norm, err, errlen);
	OPENSSL_cleanse(norm, sizeof(norm));
	return rc;
}

/* Checks a string member that may be null (to clear it). */
static af_dir_status user_string(const char *k, const json_t *v, json_t *norm,
				 char *err, size_t errlen)
{
	char buf[AF_DIR_DOMAIN_MAX + 1];
	const char *s = json_string_value(v);
	af_dir_status rc;

	if (json_is_null(v))
		return af_dir__set_new(norm, k, json_null());
	if (s == NULL) {
		af_dir__err(err, errlen, "%s: must be a string or null", k);
		return AF_DIR_INVALID;
	}
	if (strcmp(k, "name") == 0 || strcmp(k, "given_name") == 0 ||
	    strcmp(k, "family_name") == 0)
		rc = af_dir_check_display(k, s, AF_DIR_DISPLAY_MAX, err,
					  errlen);
	else if (strcmp(k, "email") == 0)
		rc = af_dir_check_email(k, s, err, errlen);
	else
		rc = af_dir_check_domain(k, s, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	if (strcmp(k, "domain") == 0) {
		if (af_dir__key(buf, sizeof(buf), "", s) != AF_DIR_OK)
			return AF_DIR_INVALID;
		af_dir__fold_lower(buf);
		s = buf;
	}
	return af_dir__set_new(norm, k, json_string(s));
}

/*
 * Checks the members of a user spec (adding) or patch into a normalised
 * object: names folded, arrays sorted, null for members to remove.
 */
static af_dir_status user_fields(af_dir *dir, const json_t *spec, int adding,
				 json_t **out, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1];
	af_dir_status rc = AF_DIR_OK;
	const char *k;
	json_t *norm, *v;

	*out = NULL;
	if (!json_is_object(spec)) {
		af_dir__err(err, errlen, "user: must be a JSON object");
		return AF_DIR_INVALID;
	}
	norm = json_object();
	if (norm == NULL)
		return AF_DIR_NOMEM;
	json_object_foreach(af_dir__iterable(spec), k, v)
	{
		if (strcmp(k, "username") == 0 && adding) {
			rc = af_dir_check_username(k, json_string_value(v), err,
						   errlen);
			if (rc == AF_DIR_OK)
				rc = af_dir__check_not_dots(
					k, json_string_value(v), err, errlen);
			if (rc == AF_DIR_OK)
				rc = user_name(json_string_value(v), name,
					       sizeof(name));
			if (rc == AF_DIR_OK)
				rc = af_dir__set_new(norm, k,
						     json_string(name));
		} else if (strcmp(k, "name") == 0 || strcmp(k, "email") == 0 ||
			   strcmp(k, "domain") == 0 ||
			   strcmp(k, "given_name") == 0 ||
			   strcmp(k, "family_name") == 0) {
			rc = user_string(k, v, norm, err, errlen);
		} else if (strcmp(k, "email_verified") == 0 ||
			   strcmp(k, "enabled") == 0 ||
			   strcmp(k, AF_DIR_USER_PW_CHANGE) == 0) {
			if (!json_is_boolean(v)) {
				af_dir__err(err, errlen,
					    "%s: must be true or false", k);
				rc = AF_DIR_INVALID;
			} else {
				rc = af_dir__set_new(norm, k, json_incref(v));
			}
		} else if (strcmp(k, "groups") == 0 || strcmp(k, "ous") == 0) {
			json_t *names = NULL;

			rc = af_dir__names(dir, k, v,
					   k[0] == 'g' ? AF_DIR_TARGET_GROUP
						       : AF_DIR_TARGET_OU,
					   AF_DIR_MEMBERSHIPS_MAX, &names, err,
					   errlen);
			if (rc == AF_DIR_OK)
				rc = af_dir__set_new(norm, k, names);
		} else if (strcmp(k, "username") == 0 ||
			   strcmp(k, "sub") == 0 ||
			   strcmp(k, "password") == 0 ||
			   strcmp(k, "password_set") == 0 ||
			   strcmp(k, AF_DIR_USER_GEN) == 0 ||
			   strcmp(k, AF_DIR_USER_PW_EXPIRES) == 0 ||
			   strcmp(k, AF_DIR_USER_ENABLED_AT) == 0 ||
			   strcmp(k, AF_DIR_USER_PW_SET_AT) == 0 ||
			   strcmp(k, AF_DIR_USER_PROFILE_AT) == 0 ||
			   strcmp(k, "created_at") == 0 ||
			   strcmp(k, "updated_at") == 0) {
			af_dir__err(err, errlen, "%s: cannot be set here", k);
			rc = AF_DIR_INVALID;
		} else {
			af_dir__err(err, errlen, "%.64s: unknown field", k);
			rc = AF_DIR_INVALID;
		}
		if (rc != AF_DIR_OK)
			break;
	}
	if (rc == AF_DIR_OK && adding &&
	    json_object_get(norm, "username") == NULL) {
		af_dir__err(err, errlen, "username: required");
		rc = AF_DIR_INVALID;
	}
	if (rc != AF_DIR_OK) {
		json_decref(norm);
		return rc;
	}
	*out = norm;
	return AF_DIR_OK;
}

/* The members of a user released as claims (oidc/claims.c). */
static int released(const char *k)
{
	static const char *const names[] = {
		"name",	  "given_name",	    "family_name", "email",
		"domain", "email_verified", "groups",	   "ous"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(k, names[i]) == 0)
			return 1;
	return 0;
}

/*
 * Merges a normalised patch into a stored user at now (one time for all
 * it stamps: a new user's profile is made when the user is).
 */
static af_dir_status user_merge(json_t *user, const json_t *norm, int64_t now)
{
	const json_t *old_email = json_object_get(user, "email");
	const json_t *new_email = json_object_get(norm, "email");
	const char *k;
	json_t *v;
	int profile = 0;

	/* A new address is not verified just because the old one was. */
	if (new_email != NULL && !json_equal(old_email, new_email) &&
	    json_object_get(norm, "email_verified") == NULL &&
	    af_dir__set_new(user, "email_verified", json_false()) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	/* Enabled again: idle from now on, not since its last sign-in. */
	if (json_is_true(json_object_get(norm, "enabled")) &&
	    !json_is_true(json_object_get(user, "enabled")) &&
	    af_dir__set_new(user, AF_DIR_USER_ENABLED_AT, json_integer(now)) !=
		    AF_DIR_OK)
		return AF_DIR_NOMEM;
	json_object_foreach(af_dir__iterable(norm), k, v)
	{
		profile |=
			released(k) && !json_equal(json_object_get(user, k),
						   json_is_null(v) ? NULL : v);
		if (json_is_null(v)) {
			/* Removing an absent member is fine. */
			if (json_object_del(user, k) != 0 &&
			    json_object_get(user, k) != NULL)
				return AF_DIR_NOMEM;
		} else if (af_dir__set_new(user, k, json_deep_copy(v)) !=
			   AF_DIR_OK) {
			return AF_DIR_NOMEM;
		}
	}
	if (profile && af_dir__set_new(user, AF_DIR_USER_PROFILE_AT,
				       json_integer(now)) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	return af_dir__set_new(user, "updated_at", json_integer(now));
}

/* Claims a fresh subject identifier "sub:<sub>" for user. */
static af_dir_status new_sub(af_dir *dir, const char *user, char *sub,
			     size_t cap)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc = AF_DIR_EXISTS;

	/* 128 random bits do not collide; the loop only makes it certain. */
	for (int tries = 0; tries < 3 && rc == AF_DIR_EXISTS; tries++) {
		if (af_random_token(16, sub, cap) != 0)
			return AF_DIR_CRYPTO;
		rc = af_dir__key(key, sizeof(key), "sub:", sub);
		if (rc != AF_DIR_OK)
			return rc;
		rc = af_dir__from_store(store_set(af_dir_store(dir), key, user,
						  strlen(user), 0,
						  STORE_SET_NX));
	}
	return rc;
}

/*
 * After the store failed to answer the write of a new user's record at
 * key: whether it was written all the same (a reply lost on the way, a
 * command that ran after its timeout). AF_DIR_OK when the record there
 * holds sub, this add's own subject: the add goes on as written.
 * AF_DIR_EXISTS when it holds another's (an add of the same name won).
 * Else AF_DIR_STORE, with *sub_claimed cleared: the write may still land
 * (a command a stalled Redis runs late), and then the "sub:" mapping
 * names the user, while an orphan one names nobody and is harmless.
 */
static af_dir_status add_outcome(af_dir *dir, const char *key, const char *sub,
				 int *sub_claimed)
{
	json_t *user = NULL;
	const char *has;
	af_dir_status rc;

	rc = af_dir__user_read(dir, key, &user);
	if (rc != AF_DIR_OK) {
		*sub_claimed = 0;
		return AF_DIR_STORE;
	}
	has = json_string_value(json_object_get(user, "sub"));
	rc = has != NULL && strcmp(has, sub) == 0 ? AF_DIR_OK : AF_DIR_EXISTS;
	json_decref(user);
	return rc;
}

/*
 * Drops what policies and app deployments still name a user who has no
 * record. Such names are left over from a removal cut short by an older
 * version of authflow, which deleted the record first and the references
 * after it, or by a store that lost writes; this version marks the record
 * and deletes it last, so that its own removals can always be finished by
 * running them again. They were granted to someone else, and a new person
 * given the name must get exactly what an administrator gives them, so
 * they are cleared here, each an audit event of the adding actor with
 * "removed": true, rather than the add refused: with no user there is
 * nothing to remove, so no other call could clear them. The cost is one
 * pass over the policies and profiles (at most AF_DIR_POLICIES_MAX and
 * AF_DIR_APPS_MAX, parsed through the memo), which an admin call can bear.
 * Member sets are left: they grant nothing (a user's groups and OUs are
 * read from the record) and clearing them would mean a pass over every
 * group and OU.
 */
static af_dir_status forget_stale(af_dir *dir, const char *actor,
				  const char *name, char *err, size_t errlen)
{
	af_dir_status rc;

	rc = af_dir__policies_forget(dir, actor, AF_DIR_TARGET_USER, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__apps_forget(dir, actor, AF_DIR_TARGET_USER, name);
	if (rc != AF_DIR_OK)
		af_dir__err(err, errlen,
			    "username: what policies and deployments still "
			    "name an earlier user \"%s\" could not be "
			    "cleared (%s); the user was not added",
			    name, af_dir_strerror(rc));
	return rc;
}

void af_dir__removing_err(const char *name, char *err, size_t errlen)
{
	af_dir__err(err, errlen,
		    "username: user \"%s\" is being removed: remove it "
		    "again to finish",
		    name);
}

af_dir_status af_dir__user_key(char *key, size_t cap, const char *username,
			       char *name, size_t namecap)
{
	if (user_name(username, name, namecap) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	return af_dir__key(key, cap, "user:", name);
}

/*
 * The checks every change of a user begins with: the actor's name, then
 * the user's, whose key goes into key (STORE_KEY_MAX bytes) and name
 * (AF_DIR_USERNAME_MAX + 1). AF_DIR_OK, or the status with err said.
 */
static af_dir_status user_target(af_dir *dir, const char *actor,
				 const char *username, char *key, char *name,
				 char *err, size_t errlen)
{
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = af_dir__user_key(key, STORE_KEY_MAX, username, name,
			      AF_DIR_USERNAME_MAX + 1);
	if (rc != AF_DIR_OK)
		af_dir__err(err, errlen, "username: no such user");
	return rc;
}

/* When a temporary password given now stops signing in (0: never). */
static int64_t temporary_until(const af_dir *dir)
{
	return af_dir_options_get(dir)->pw_temporary_s > 0
		       ? af_now() + af_dir_options_get(dir)->pw_temporary_s
		       : 0;
}

/* Sets (at > 0) or removes the end of a temporary password. */
static af_dir_status expiry_set(json_t *user, int64_t at)
{
	if (at > 0)
		return af_dir__set_new(user, AF_DIR_USER_PW_EXPIRES,
				       json_integer(at));
	if (json_object_del(user, AF_DIR_USER_PW_EXPIRES) != 0 &&
	    json_object_get(user, AF_DIR_USER_PW_EXPIRES) != NULL)
		return AF_DIR_NOMEM;
	return AF_DIR_OK;
}

af_dir_status af_dir_user_add(af_dir *dir, const char *actor,
			      const json_t *spec, const char *password,
			      json_t **out, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char sub[AF_DIR_SUB_LEN + 1], subkey[STORE_KEY_MAX];
	char phc[AF_PW_PHC_MAX] = "";
	json_t *norm = NULL, *user = NULL;
	int sub_claimed = 0;
	af_dir_status rc;
	int64_t now = af_now();

	if (out != NULL)
		*out = NULL;
	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = user_fields(dir, spec, 1, &norm, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	if (password != NULL) {
		rc = check_new_password(
			dir,
			json_string_value(json_object_get(norm, "username")),
			password, err, errlen);
		if (rc != AF_DIR_OK)
			goto out;
	}
	if (af_dir__key(name, sizeof(name), "",
			json_string_value(json_object_get(norm, "username"))) !=
		    AF_DIR_OK ||
	    af_dir__key(key, sizeof(key), "user:", name) != AF_DIR_OK) {
		rc = AF_DIR_INVALID;
		goto out;
	}
	user = json_pack("{s:s, s:b, s:b, s:[], s:[], s:I}", "username", name,
			 "email_verified", 0, "enabled", 1, "groups", "ous",
			 "created_at", (json_int_t)now);
	if (user == NULL) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	rc = user_merge(user, norm, now);
	if (rc != AF_DIR_OK)
		goto out;
	/* As authflowctl says: there is no password to replace. */
	if (password == NULL &&
	    json_is_true(json_object_get(norm, AF_DIR_USER_PW_CHANGE))) {
		af_dir__err(err, errlen,
			    AF_DIR_USER_PW_CHANGE
			    ": a user added without a "
			    "password has none to change");
		rc = AF_DIR_INVALID;
		goto out;
	}
	if (password != NULL) {
		rc = af_pw_hash(&af_dir_options_get(dir)->pw, password, phc,
				sizeof(phc));
		if (rc == AF_DIR_OK)
			rc = af_dir__set_new(user, "password",
					     json_string(phc));
		/* Given to be replaced: temporary, as a reset's. */
		if (rc == AF_DIR_OK &&
		    json_is_true(json_object_get(norm, AF_DIR_USER_PW_CHANGE)))
			rc = expiry_set(user, temporary_until(dir));
		if (rc != AF_DIR_OK)
			goto out;
	}
	rc = af_dir__user_present(dir, name);
	if (rc == AF_DIR_OK || rc == AF_DIR_REMOVING) {
		af_dir__err(err, errlen,
			    rc == AF_DIR_OK
				    ? "username: a user named \"%s\" exists"
				    : "username: a user named \"%s\" is being "
				      "removed: remove it again to finish",
			    name);
		rc = AF_DIR_EXISTS;
		goto out;
	}
	if (rc != AF_DIR_NOT_FOUND)
		goto out;
	/*
	 * Failures and a lock counted against the name before the user
	 * existed (anyone may try any name), and a sign-in an earlier user
	 * of the name finished while being removed, are not the new user's.
	 */
	rc = af_throttle_unlock(dir, name);
	if (rc == AF_DIR_OK)
		rc = af_dir_signin_forget(dir, name);
	if (rc != AF_DIR_OK)
		goto out;
	rc = forget_stale(dir, actor, name, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	rc = new_sub(dir, name, sub, sizeof(sub));
	if (rc != AF_DIR_OK)
		goto out;
	sub_claimed = 1;
	rc = af_dir__set_new(user, "sub", json_string(sub));
	/* Indexed before and after it is written: af_dir__index_drop(). */
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(
			store_sadd(af_dir_store(dir), "users", name));
	if (rc == AF_DIR_OK)
		rc = af_dir__put_json(dir, key, user, STORE_SET_NX);
	if (rc == AF_DIR_STORE)
		rc = add_outcome(dir, key, sub, &sub_claimed);
	if (rc == AF_DIR_EXISTS)
		af_dir__err(err, errlen, "username: a user named \"%s\" exists",
			    name);
	if (rc != AF_DIR_OK)
		goto out;
	sub_claimed = 0;
	rc = af_dir__from_store(store_sadd(af_dir_store(dir), "users", name));
	if (rc == AF_DIR_OK)
		rc = af_dir__sync_members(dir, name, NULL, user);
	json_object_del(norm, "username");
	if (rc != AF_DIR_OK)
		rc = af_dir__unsynced(dir, actor, "user.add", name, norm, rc,
				      err, errlen);
	else
		rc = af_dir__audit(dir, actor, "user.add", name, norm, err,
				   errlen);
	/*
	 * Added, whatever else failed: the caller gets the user, to clear
	 * what an earlier user of the name left (af_dir_user_add()).
	 */
	if (hand_out_user(user, out) != AF_DIR_OK && rc == AF_DIR_OK)
		rc = AF_DIR_NOMEM;
	af_dir__memberships_recheck(dir, actor, NULL, user);
out:
	if (sub_claimed &&
	    af_dir__key(subkey, sizeof(subkey), "sub:", sub) == AF_DIR_OK) {
		/* Best effort: an orphan mapping names no user and is
		 * harmless. */
		store_status st = store_del(af_dir_store(dir), subkey);

		(void)st;
	}
	OPENSSL_cleanse(phc, sizeof(phc));
	json_decref(norm);
	json_decref(user);
	return rc;
}

/* Raises the user's sign-in generation by one (af_dir_user_gen()). */
static af_dir_status gen_raise(json_t *user)
{
	return af_dir__set_new(user, AF_DIR_USER_GEN,
			       json_integer(af_dir_user_gen(user) + 1));
}

static af_dir_status merge_fn(json_t *user, void *arg)
{
	const json_t *norm = arg;
	int disabling = json_is_true(json_object_get(user, "enabled")) &&
			json_is_false(json_object_get(norm, "enabled"));
	af_dir_status rc;

	/* Enabled again or given new groups, it would outlive its removal. */
	if (af_dir_user_removing(user))
		return AF_DIR_REMOVING;
	rc = user_merge(user, norm, af_now());

	/* What the user signed into before being disabled stays ended. */
	if (rc == AF_DIR_OK && disabling)
		rc = gen_raise(user);
	/* No change asked for: a temporary password given is the user's. */
	if (rc == AF_DIR_OK &&
	    json_is_false(json_object_get(norm, AF_DIR_USER_PW_CHANGE)))
		rc = expiry_set(user, 0);
	return rc;
}

static af_dir_status end_signins_fn(json_t *user, void *arg)
{
	(void)arg;
	return gen_raise(user);
}

int64_t af_dir_user_gen(const json_t *user)
{
	json_int_t gen =
		json_integer_value(json_object_get(user, AF_DIR_USER_GEN));

	return gen > 0 ? (int64_t)gen : 0;
}

af_dir_status af_dir_user_end_signins(af_dir *dir, const char *username)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	af_dir_status rc;

	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, end_signins_fn, NULL, NULL, NULL);
	return rc;
}

/*
 * The detail of a change to a user: the fields given (norm, which never
 * holds a password), and under "was" what each replaced (null: nothing;
 * false for a flag not stored),
 * so the trail shows an address changed from what to what. A field the
 * change set without being given it (email_verified, cleared by a new
 * address) is there too, as after has it. NULL when out of memory.
 */
static json_t *change_detail(json_t *norm, const json_t *before,
			     const json_t *after)
{
	/* A flag not stored yet is off (password_change_required of users
	 * made before it existed). */
	json_t *detail = af_dir__change_detail(norm, before,
					       AF_DIR_UNSET_FLAG_FALSE, NULL);
	json_t *was = json_object_get(detail, "was");
	const char *k = "email_verified";
	const json_t *old = json_object_get(before, k);
	const json_t *now = json_object_get(after, k);

	if (detail == NULL || json_object_get(norm, k) != NULL || now == NULL ||
	    json_is_true(old) == json_is_true(now))
		return detail;
	if (json_object_set_new(detail, k, json_deep_copy(now)) != 0 ||
	    json_object_set_new(was, k, json_boolean(json_is_true(old))) != 0) {
		json_decref(detail);
		return NULL;
	}
	return detail;
}

af_dir_status af_dir_user_set(af_dir *dir, const char *actor,
			      const char *username, const json_t *patch,
			      json_t **out, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	json_t *norm = NULL, *after = NULL, *before = NULL, *detail;
	af_dir_status rc;

	if (out != NULL)
		*out = NULL;
	rc = user_target(dir, actor, username, key, name, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = user_fields(dir, patch, 0, &norm, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__update(dir, key, merge_fn, norm, &after, &before);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "username: no user named \"%s\"",
			    name);
	if (rc == AF_DIR_REMOVING)
		af_dir__removing_err(name, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	/* From none: a set an earlier call failed to add to is added to. */
	rc = af_dir__sync_members(dir, name, before, after);
	if (rc == AF_DIR_OK)
		rc = af_dir__sync_members(dir, name, NULL, after);
	detail = change_detail(norm, before, after);
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, "user.set", name,
				   detail != NULL ? detail : norm, err, errlen);
	else
		rc = af_dir__unsynced(dir, actor, "user.set", name,
				      detail != NULL ? detail : norm, rc, err,
				      errlen);
	json_decref(detail);
	if (rc == AF_DIR_OK)
		rc = hand_out_user(after, out);
	af_dir__memberships_recheck(dir, actor, before, after);
out:
	json_decref(norm);
	json_decref(after);
	json_decref(before);
	return rc;
}

/* Replaces the password hash (phc NULL: removes it). */
typedef struct pw_change {
	const char *phc;
	const char *only_if; /* replace only while this hash is stored */
	int temporary;	     /* the user must choose another at sign-in */
	int64_t expires;     /* and it signs in until then (0: ever) */
} pw_change;

int af_dir_user_password_expired(const json_t *user, int64_t now)
{
	json_int_t at = json_integer_value(
		json_object_get(user, AF_DIR_USER_PW_EXPIRES));

	return json_is_true(json_object_get(user, AF_DIR_USER_PW_CHANGE)) &&
	       at > 0 && now >= at;
}

static af_dir_status password_fn(json_t *user, void *arg)
{
	const pw_change *c = arg;

	if (af_dir_user_removing(user))
		return AF_DIR_REMOVING;
	if (c->only_if != NULL &&
	    !af_ct_streq(json_string_value(json_object_get(user, "password")),
			 c->only_if))
		return AF_DIR_MISMATCH; /* changed meanwhile: leave it */
	if (c->phc == NULL) {
		if (json_object_del(user, "password") != 0 &&
		    json_object_get(user, "password") != NULL)
			return AF_DIR_NOMEM;
	} else if (af_dir__set_new(user, "password", json_string(c->phc)) !=
		   AF_DIR_OK) {
		return AF_DIR_NOMEM;
	}
	if (c->only_if != NULL)
		return AF_DIR_OK;
	if (af_dir__set_new(user, AF_DIR_USER_PW_CHANGE,
			    json_boolean(c->temporary && c->phc != NULL)) !=
		    AF_DIR_OK ||
	    expiry_set(user, c->phc != NULL ? c->expires : 0) != AF_DIR_OK ||
	    (c->phc != NULL &&
	     af_dir__set_new(user, AF_DIR_USER_PW_SET_AT,
			     json_integer(af_now())) != AF_DIR_OK))
		return AF_DIR_NOMEM;
	/* Whatever was signed in with the old password ends with it. */
	if (gen_raise(user) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	return af_dir__set_new(user, "updated_at", json_integer(af_now()));
}

static af_dir_status set_password(af_dir *dir, const char *actor,
				  const char *username, const char *password,
				  int temporary, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char phc[AF_PW_PHC_MAX] = "";
	pw_change c = {NULL, NULL, temporary,
		       temporary ? temporary_until(dir) : 0};
	json_t *detail = NULL;
	af_dir_status rc;

	rc = user_target(dir, actor, username, key, name, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	if (password != NULL) {
		rc = check_new_password(dir, name, password, err, errlen);
		if (rc == AF_DIR_OK)
			rc = af_pw_hash(&af_dir_options_get(dir)->pw, password,
					phc, sizeof(phc));
		if (rc != AF_DIR_OK)
			goto out;
		c.phc = phc;
	}
	rc = af_dir__update(dir, key, password_fn, &c, NULL, NULL);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "username: no user named \"%s\"",
			    name);
	if (rc == AF_DIR_REMOVING)
		af_dir__removing_err(name, err, errlen);
	if (rc == AF_DIR_OK && password != NULL) {
		detail = json_pack("{s:b}", "temporary", temporary);
		if (detail == NULL)
			rc = AF_DIR_NOMEM;
	}
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor,
				   password != NULL ? "user.passwd"
						    : "user.passwd_clear",
				   name, detail, err, errlen);
out:
	OPENSSL_cleanse(phc, sizeof(phc));
	json_decref(detail);
	return rc;
}

af_dir_status af_dir_user_set_password(af_dir *dir, const char *actor,
				       const char *username,
				       const char *password, char *err,
				       size_t errlen)
{
	return set_password(dir, actor, username, password, 0, err, errlen);
}

af_dir_status af_dir_user_reset_password(af_dir *dir, const char *actor,
					 const char *username,
					 const char *password, char *err,
					 size_t errlen)
{
	if (password == NULL) {
		af_dir__err(err, errlen, "password: missing");
		return AF_DIR_INVALID;
	}
	return set_password(dir, actor, username, password, 1, err, errlen);
}

/* The user's own change of their password: see the header. */
typedef struct pw_own {
	const char *phc;
	const char *was; /* the hash the new password was compared with */
	const char *sub;
	int64_t gen;
	int temporary;	 /* only while the mark is set */
	int64_t new_gen; /* out */
} pw_own;

static af_dir_status own_password_fn(json_t *user, void *arg)
{
	pw_own *o = arg;

	if (af_dir_user_removing(user) ||
	    !json_is_true(json_object_get(user, "enabled")) ||
	    (o->temporary &&
	     !json_is_true(json_object_get(user, AF_DIR_USER_PW_CHANGE))) ||
	    af_dir_user_gen(user) != o->gen ||
	    !af_ct_streq(json_string_value(json_object_get(user, "sub")),
			 o->sub) ||
	    !af_ct_streq(json_string_value(json_object_get(user, "password")),
			 o->was))
		return AF_DIR_MISMATCH; /* not CONFLICT: that reads again */
	if (af_dir__set_new(user, "password", json_string(o->phc)) !=
		    AF_DIR_OK ||
	    af_dir__set_new(user, AF_DIR_USER_PW_CHANGE, json_false()) !=
		    AF_DIR_OK ||
	    af_dir__set_new(user, AF_DIR_USER_PW_SET_AT,
			    json_integer(af_now())) != AF_DIR_OK ||
	    expiry_set(user, 0) != AF_DIR_OK || gen_raise(user) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	o->new_gen = af_dir_user_gen(user);
	return af_dir__set_new(user, "updated_at", json_integer(af_now()));
}

af_dir_status af_dir_user_change_password(af_dir *dir, const char *username,
					  const char *sub, int64_t gen,
					  int temporary, const char *password,
					  int64_t *new_gen, char *err,
					  size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char phc[AF_PW_PHC_MAX] = "", was[AF_PW_PHC_MAX] = "";
	pw_own o = {phc, was, sub, gen, temporary != 0, 0};
	json_t *user = NULL;
	const char *stored;
	af_dir_status rc;

	if (dir == NULL || sub == NULL || new_gen == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, &user, NULL);
	if (rc == AF_DIR_NOT_FOUND)
		rc = AF_DIR_CONFLICT;
	if (rc != AF_DIR_OK)
		goto out;
	stored = json_string_value(json_object_get(user, "password"));
	if (stored == NULL ||
	    snprintf(was, sizeof(was), "%s", stored) >= (int)sizeof(was)) {
		rc = AF_DIR_CONFLICT;
		goto out;
	}
	rc = check_new_password(dir, name, password, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	/* The one it replaces: the same again is no change. */
	rc = af_pw_verify(was, password, NULL);
	if (rc == AF_DIR_OK) {
		af_dir__err(err, errlen,
			    temporary ? "password: must differ from the one "
					"you signed in with"
				      : "password: must differ from the "
					"current one");
		rc = AF_DIR_INVALID;
		goto out;
	}
	if (rc != AF_DIR_MISMATCH && rc != AF_DIR_INVALID)
		goto out;
	rc = af_pw_hash(&af_dir_options_get(dir)->pw, password, phc,
			sizeof(phc));
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, own_password_fn, &o, NULL, NULL);
	if (rc == AF_DIR_NOT_FOUND || rc == AF_DIR_MISMATCH)
		rc = AF_DIR_CONFLICT;
	if (rc == AF_DIR_OK)
		*new_gen = o.new_gen;
out:
	OPENSSL_cleanse(phc, sizeof(phc));
	OPENSSL_cleanse(was, sizeof(was));
	json_decref(user);
	return rc;
}

af_dir_status af_dir_user_canonical(const char *username, char *out, size_t cap)
{
	return username == NULL || out == NULL ? AF_DIR_INVALID
					       : user_name(username, out, cap);
}

/*
 * Marks a user for removal: disabled, "removing", its sign-in generation
 * raised so that what it is signed into ends. Nothing a marked user has
 * can grow any more (see merge_fn(), membership_fn()), so the marked
 * record is the last version whose references the removal must drop.
 */
static af_dir_status mark_fn(json_t *user, void *arg)
{
	(void)arg;
	if (af_dir_user_removing(user))
		return AF_DIR_EXISTS; /* marked already: nothing to write */
	if (af_dir__set_new(user, "enabled", json_false()) != AF_DIR_OK ||
	    af_dir__set_new(user, USER_REMOVING, json_true()) != AF_DIR_OK ||
	    gen_raise(user) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	return af_dir__set_new(user, "updated_at", json_integer(af_now()));
}

/*
 * Marks the user at key (see mark_fn()) unless it is marked already.
 * AF_DIR_OK and *user, the marked record; AF_DIR_OK and *user NULL for a
 * damaged record, which cannot be marked (nor signed in with);
 * AF_DIR_NOT_FOUND; or a failure, with nothing marked.
 */
static af_dir_status mark_removing(af_dir *dir, const char *key, json_t **user)
{
	af_dir_status rc, r;

	*user = NULL;
	rc = af_dir__update(dir, key, mark_fn, NULL, user, NULL);
	if (rc != AF_DIR_EXISTS && rc != AF_DIR_STORE)
		return rc;
	/* Marked already, damaged, or the store failed: look again. */
	r = af_dir__user_read(dir, key, user);
	if (r != AF_DIR_OK)
		return r;
	if (*user == NULL || af_dir_user_removing(*user))
		return AF_DIR_OK;
	json_decref(*user);
	*user = NULL;
	return rc;
}

af_dir_status af_dir_user_remove_begin(af_dir *dir, const char *username,
				       char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	json_t *user = NULL;
	af_dir_status rc;

	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = mark_removing(dir, key, &user);
	json_decref(user);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "username: no such user");
	else if (rc != AF_DIR_OK)
		af_dir__err(err, errlen,
			    "user \"%s\" could not be marked for removal "
			    "(%s): nothing was removed",
			    name, af_dir_strerror(rc));
	return rc;
}

/*
 * Drops what refers to a user being removed, from the marked record (an
 * empty object for a damaged one): member sets, the "sub" mapping,
 * policies, deployments, brute-force counters. Every step is tried and
 * each can be run again; the first failure is returned.
 */
static af_dir_status drop_references(af_dir *dir, const char *actor,
				     const char *name, const json_t *user)
{
	char subkey[STORE_KEY_MAX];
	af_dir_status rc, r;
	const char *sub;

	rc = af_dir__sync_members(dir, name, user, NULL);
	sub = json_string_value(json_object_get(user, "sub"));
	if (sub != NULL &&
	    af_dir__key(subkey, sizeof(subkey), "sub:", sub) == AF_DIR_OK) {
		r = af_dir__from_store(store_del(af_dir_store(dir), subkey));
		if (rc == AF_DIR_OK)
			rc = r;
	}
	r = af_dir__policies_forget(dir, actor, AF_DIR_TARGET_USER, name);
	if (rc == AF_DIR_OK)
		rc = r;
	r = af_dir__apps_forget(dir, actor, AF_DIR_TARGET_USER, name);
	if (rc == AF_DIR_OK)
		rc = r;
	/* A later user of the same name starts with a clean slate. */
	r = af_throttle_unlock(dir, name);
	if (rc == AF_DIR_OK)
		rc = r;
	r = af_dir_signin_forget(dir, name);
	if (rc == AF_DIR_OK)
		rc = r;
	return rc;
}

/* The set of the ids of the devices deleted with a user being removed. */
static af_dir_status removed_devices_key(char *key, size_t cap,
					 const char *name)
{
	return af_dir__key(key, cap, "user_removed_devices:", name);
}

af_dir_status af_dir_user_remove_note_devices(af_dir *dir, const char *username,
					      const json_t *ids)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	json_t *user = NULL, *v;
	af_dir_status rc;
	size_t i;

	if (dir == NULL || !json_is_array(ids))
		return AF_DIR_INVALID;
	rc = af_dir__user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = af_dir__user_read(dir, key, &user);
	/*
	 * Only for a user whose removal has begun (or whose record is
	 * damaged): the set goes with the removal that reads it, so a note
	 * made for anyone else would be left over for a later removal.
	 */
	if (rc == AF_DIR_OK && user != NULL && !af_dir_user_removing(user))
		rc = AF_DIR_INVALID;
	json_decref(user);
	if (rc == AF_DIR_OK)
		rc = removed_devices_key(key, sizeof(key), name);
	json_array_foreach(ids, i, v)
	{
		if (rc != AF_DIR_OK)
			break;
		rc = json_is_string(v) ? af_dir__from_store(store_sadd(
						 af_dir_store(dir), key,
						 json_string_value(v)))
				       : AF_DIR_INVALID;
	}
	return rc;
}

/*
 * The detail of the user.remove event: who the user was (name, subject
 * identifier, groups, OUs, as the marked record has them; only the name
 * for a damaged record) and the ids of the devices deleted with them.
 * Members are chosen one by one, so that the password hash, or anything
 * added to user records later, never reaches the trail by default.
 */
static af_dir_status user_removed_detail(af_dir *dir, const char *name,
					 const json_t *user, json_t **out)
{
	static const char *const members[] = {"sub", "groups", "ous", NULL};
	char key[STORE_KEY_MAX];
	json_t *devices = NULL, *detail = NULL;
	af_dir_status rc;

	*out = NULL;
	rc = removed_devices_key(key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__members(dir, key, &devices);
	if (rc == AF_DIR_OK)
		rc = af_dir__removed_detail(user, members, &detail);
	if (rc == AF_DIR_OK)
		rc = af_dir__set_new(detail, "username", json_string(name));
	if (rc == AF_DIR_OK) {
		rc = af_dir__set_new(detail, "devices", devices);
		devices = NULL; /* stolen either way */
	}
	if (rc == AF_DIR_OK) {
		*out = detail;
		detail = NULL;
	}
	json_decref(detail);
	json_decref(devices);
	return rc;
}

af_dir_status af_dir_user_remove(af_dir *dir, const char *actor,
				 const char *username, char *err, size_t errlen)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char devkey[STORE_KEY_MAX];
	json_t *user = NULL, *detail = NULL;
	af_dir_status rc;

	rc = user_target(dir, actor, username, key, name, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	/*
	 * The record is marked first and goes last: until it is gone, the
	 * marked user cannot sign in and every reference to it can be found
	 * from it, so a removal cut short anywhere (a crash, a store that
	 * refuses a write) is finished by running it again, and a later user
	 * of the name never meets what was left of this one.
	 */
	rc = mark_removing(dir, key, &user);
	if (rc != AF_DIR_OK) {
		if (rc == AF_DIR_NOT_FOUND)
			af_dir__err(err, errlen, "username: no such user");
		else
			af_dir__err(err, errlen,
				    "user \"%s\" could not be marked for "
				    "removal (%s): nothing was removed",
				    name, af_dir_strerror(rc));
		return rc;
	}
	if (user == NULL) {
		/* Damaged: its groups and sub are unknown, its name is not. */
		user = json_object();
		if (user == NULL)
			return AF_DIR_NOMEM;
	}
	rc = drop_references(dir, actor, name, user);
	if (rc == AF_DIR_OK)
		rc = user_removed_detail(dir, name, user, &detail);
	/*
	 * The event goes before the record: a crash after it leaves a marked
	 * user whose removal runs again (and is recorded twice), never a
	 * removal that nobody can see on the trail. The note of the devices
	 * deleted goes once the event has them.
	 */
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, "user.remove", name, detail,
				   NULL, 0);
	if (rc == AF_DIR_OK)
		rc = removed_devices_key(devkey, sizeof(devkey), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_del(af_dir_store(dir), devkey));
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_del(af_dir_store(dir), key));
	if (rc == AF_DIR_OK)
		af_dir__index_drop(dir, "users", name, key);
	if (rc != AF_DIR_OK)
		af_dir__err(err, errlen,
			    "the removal of user \"%s\" is incomplete (%s): "
			    "the user can no longer sign in; remove it again "
			    "to finish",
			    name, af_dir_strerror(rc));
	json_decref(detail);
	json_decref(user);
	return rc;
}

af_dir_status af_dir_user_get(af_dir *dir, const char *username, json_t **out)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	json_t *user = NULL;
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, &user, NULL);
	if (rc == AF_DIR_OK)
		rc = hand_over_user(&user, out);
	json_decref(user);
	return rc;
}

af_dir_status af_dir_user_get_by_sub(af_dir *dir, const char *sub, json_t **out)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	af_dir_status rc;
	const json_t *got;
	size_t n;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	n = sub != NULL ? strnlen(sub, AF_DIR_SUB_LEN + 1) : 0;
	for (size_t i = 0; i < n; i++) {
		if (!af_dir__is_alnum(sub[i]) && sub[i] != '-' && sub[i] != '_')
			return AF_DIR_NOT_FOUND;
	}
	if (n != AF_DIR_SUB_LEN ||
	    af_dir__key(key, sizeof(key), "sub:", sub) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	rc = af_dir__from_store(store_get(af_dir_store(dir), key, &v));
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir_user_get(dir, (const char *)v.data, out);
	store_value_free(&v);
	if (rc != AF_DIR_OK)
		return rc;
	/* A stale mapping must not hand out another user of the name. */
	got = json_object_get(*out, "sub");
	if (!json_is_string(got) || strcmp(json_string_value(got), sub) != 0) {
		json_decref(*out);
		*out = NULL;
		return AF_DIR_NOT_FOUND;
	}
	return AF_DIR_OK;
}

af_dir_status af_dir_user_list(af_dir *dir, json_t **out)
{
	af_dir_status rc;
	json_t *arr = NULL, *v;
	size_t i;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__list(dir, "users", "user:", &arr);
	if (rc != AF_DIR_OK)
		return rc;
	json_array_foreach(arr, i, v)
	{
		json_t *pub = user_public(v);

		if (pub == NULL || json_array_set_new(arr, i, pub) != 0) {
			json_decref(arr);
			return AF_DIR_NOMEM;
		}
	}
	*out = arr;
	return AF_DIR_OK;
}

/* Spends the cost of one password check, for users that do not exist. */
static void dummy_check(const af_dir *dir, const char *password)
{
	/* The result is always a mismatch; only the time spent matters. */
	af_dir_status rc = af_pw_verify(af_dir__dummy_phc(dir), password, NULL);

	(void)rc;
}

af_dir_status af_dir_user_login(af_dir *dir, const char *username,
				const char *password, json_t **out)
{
	char name[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	char phc[AF_PW_PHC_MAX] = "", norm[AF_PW_NORM_MAX + 1];
	json_t *user = NULL;
	const char *stored;
	af_dir_status rc;
	int stale = 0;

	if (out != NULL)
		*out = NULL;
	if (dir == NULL || check_password(password, NULL, 0) != AF_DIR_OK)
		return AF_DIR_INVALID;
	/*
	 * A password whose normal form is too long is checked against no
	 * hash (af_pw_verify() refuses it first): refused as such for every
	 * name alike, so that the caller counts no hash's time for it.
	 */
	rc = af_pw_normalize(password, norm, sizeof(norm));
	OPENSSL_cleanse(norm, sizeof(norm));
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__user_key(key, sizeof(key), username, name, sizeof(name));
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, &user, NULL);
	if (rc != AF_DIR_OK && rc != AF_DIR_NOT_FOUND)
		goto out;
	stored = json_string_value(json_object_get(user, "password"));
	if (stored == NULL) {
		/* Unknown user, or no password: the same work and answer as
		 * a wrong password. */
		dummy_check(dir, password);
		rc = AF_DIR_MISMATCH;
		goto out;
	}
	rc = af_pw_verify(stored, password, &stale);
	if (rc == AF_DIR_INVALID)
		rc = AF_DIR_MISMATCH; /* a damaged hash matches nothing */
	if (rc != AF_DIR_OK)
		goto out;
	if (!json_is_true(json_object_get(user, "enabled"))) {
		rc = AF_DIR_FORBIDDEN;
		goto out;
	}
	if ((stale ||
	     af_pw_needs_rehash(stored, &af_dir_options_get(dir)->pw)) &&
	    af_pw_hash(&af_dir_options_get(dir)->pw, password, phc,
		       sizeof(phc)) == AF_DIR_OK) {
		/* Only over the hash just checked: a password an admin set
		 * meanwhile wins. A failure is retried at the next sign-in. */
		pw_change c = {phc, stored, 0, 0};
		af_dir_status r =
			af_dir__update(dir, key, password_fn, &c, NULL, NULL);

		(void)r;
	}
	/* stored points into user: it is not used after this. */
	rc = hand_over_user(&user, out);
out:
	OPENSSL_cleanse(phc, sizeof(phc));
	json_decref(user);
	return rc;
}
