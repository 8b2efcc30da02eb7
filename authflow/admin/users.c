/* /admin/v1/users: the directory's users, their passwords and locks. */
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "common/secmem.h"
#include "common/util.h"
#include "directory/audit.h"
#include "directory/signins.h"
#include "directory/throttle.h"
#include "mfa/mfa.h"
#include "oidc/grant.h"
#include "session/session.h"

#define INACTIVE_DAYS_MAX 36500 /* ?inactive_days=N: a hundred years */

/*
 * Takes the member "password" out of obj: a malloc'd copy goes to *out
 * (NULL when absent and not required), jansson's own copy is wiped, and
 * the member is deleted, so the password lives in exactly one buffer that
 * the caller wipes with af_free_secret(). 1, or 0 with an answer made.
 */
static int take_password(af_admin_call *c, json_t *obj, int required,
			 char **out)
{
	json_t *v = json_object_get(obj, "password");
	size_t n;
	int ok = 0;

	*out = NULL;
	if (v == NULL) {
		if (required)
			af_admin__error(c, AF_ADMIN_BAD_REQUEST,
					"password: required, a string");
		return !required;
	}
	if (!json_is_string(v)) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"password: must be a string");
		goto out;
	}
	n = json_string_length(v);
	if (n > AF_ADMIN_PASSWORD_MAX) {
		af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
				 "password: at most %d bytes",
				 AF_ADMIN_PASSWORD_MAX);
		goto out;
	}
	*out = malloc(n + 1);
	if (*out == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(*out, json_string_value(v), n + 1);
	ok = 1;
out:
	/*
	 * jansson holds its own copy of the string it parsed and would free
	 * it unwiped: overwrite it before deleting the member.
	 */
	af_secmem_wipe_json_string(v);
	if (json_object_del(obj, "password") != 0 && ok) {
		af_free_secret(*out);
		*out = NULL;
		af_admin__error(c, AF_ADMIN_INTERNAL, "body not changeable");
		ok = 0;
	}
	return ok;
}

/*
 * The name of the app of client_id as it is now, from names (client id ->
 * name or null, filled as apps are read, so that a list reads each app
 * once), or JSON null once the app is gone. NULL when out of memory.
 */
static json_t *app_name_of(af_admin_call *c, json_t *names,
			   const char *client_id)
{
	json_t *app = NULL, *name = json_object_get(names, client_id);

	if (name != NULL)
		return json_incref(name);
	if (af_dir_app_get(c->dir, client_id, &app) == AF_DIR_OK)
		name = json_copy(json_object_get(app, "name"));
	json_decref(app);
	if (!json_is_string(name)) {
		json_decref(name);
		name = json_null();
	}
	if (json_object_set(names, client_id, name) != 0) {
		json_decref(name);
		return NULL;
	}
	return name;
}

/*
 * Adds the user's last sign-in (directory/signins.h) as "last_sign_in",
 * with the name of its app now ("app"), or null when they never signed
 * in. *when is its time, else 0. AF_DIR_OK, or the failure.
 */
static af_dir_status add_last_signin(af_admin_call *c, json_t *user,
				     json_t *names, int64_t *when)
{
	json_t *last = NULL, *app;
	af_dir_status st = af_dir_signin_last(c->dir, user, &last);

	*when = 0;
	if (st == AF_DIR_NOT_FOUND)
		return json_object_set_new(user, "last_sign_in", json_null())
			       ? AF_DIR_NOMEM
			       : AF_DIR_OK;
	if (st != AF_DIR_OK)
		return st;
	*when = json_integer_value(json_object_get(last, "time"));
	app = app_name_of(
		c, names,
		json_string_value(json_object_get(last, "client_id")));
	if (app == NULL || json_object_set_new(last, "app", app) != 0 ||
	    json_object_set_new(user, "last_sign_in", last) != 0) {
		json_decref(last);
		return AF_DIR_NOMEM;
	}
	return AF_DIR_OK;
}

/*
 * Sets the user's "policy": the name of the policy that decides the
 * user's sign-in, or null when none does. AF_DIR_OK, AF_DIR_NOMEM, or the
 * directory's status when the policies could not be read.
 */
static af_dir_status policy_into(af_admin_call *c, json_t *user)
{
	json_t *policy = NULL, *name;
	af_dir_status st = af_dir_policy_for_user(c->dir, user, &policy);

	if (st != AF_DIR_OK && st != AF_DIR_NOT_FOUND)
		return st;
	name = st == AF_DIR_OK ? json_object_get(policy, "name") : NULL;
	name = json_is_string(name) ? json_copy(name) : json_null();
	json_decref(policy);
	return json_object_set_new(user, "policy", name) == 0 ? AF_DIR_OK
							      : AF_DIR_NOMEM;
}

void af_admin__user_list(af_admin_call *c)
{
	json_t *users = NULL, *kept = NULL, *names = NULL, *u;
	int64_t days = 0, last, epoch = 0, cutoff;
	af_dir_status st;
	size_t i;

	if (!af_admin__query_number(c, "inactive_days", 1, INACTIVE_DAYS_MAX,
				    &days))
		return;
	cutoff = af_now() - days * AF_DIR_DAY_S;
	st = af_dir_signin_epoch(c->dir, &epoch);
	if (st == AF_DIR_OK)
		st = af_dir_user_list(c->dir, &users);
	names = json_object();
	kept = json_array();
	if (st == AF_DIR_OK && (names == NULL || kept == NULL))
		st = AF_DIR_NOMEM;
	json_array_foreach(users, i, u)
	{
		if (st != AF_DIR_OK)
			break;
		st = add_last_signin(c, u, names, &last);
		if (st == AF_DIR_OK &&
		    (days == 0 ||
		     af_dir_user_idle_since(u, last, epoch) < cutoff) &&
		    json_array_append(kept, u) != 0)
			st = AF_DIR_NOMEM;
	}
	json_decref(users);
	json_decref(names);
	/*
	 * Who is under which policy, for all at once (one reading of the
	 * policies); left out when they could not be read (a damaged policy
	 * record): the listing an administrator needs most then does not
	 * fail for it.
	 */
	if (st == AF_DIR_OK &&
	    af_dir_policy_names(c->dir, kept) == AF_DIR_NOMEM)
		st = AF_DIR_NOMEM;
	if (st != AF_DIR_OK) {
		json_decref(kept);
		af_admin__dir_error(c, st, NULL);
		return;
	}
	af_admin__json(c, 200, json_pack("{s:o}", "users", kept));
}

static const char *username_of(const json_t *user)
{
	return json_string_value(json_object_get(user, "username"));
}

/*
 * The ids of the devices listed, noted with the directory before any is
 * deleted, so that the user.remove event names them even when this
 * removal is cut short and finished by another. 0, or -1.
 */
static int note_devices(af_server *srv, const char *username,
			const json_t *devices)
{
	json_t *ids = json_array(), *d;
	af_dir_status st = AF_DIR_OK;
	size_t i;
	int rc = ids != NULL ? 0 : -1;

	json_array_foreach(devices, i, d)
	{
		const char *id = json_string_value(json_object_get(d, "id"));

		if (rc == 0 && id != NULL &&
		    json_array_append_new(ids, json_string(id)) != 0)
			rc = -1;
	}
	if (rc == 0)
		st = af_dir_user_remove_note_devices(srv->dir, username, ids);
	/* A user gone meanwhile was removed by a call that wrote its event:
	 * the directory's step says so (404) to this one. */
	if (st != AF_DIR_OK && st != AF_DIR_NOT_FOUND)
		rc = -1;
	json_decref(ids);
	return rc;
}

/*
 * Removes the user's devices and what MFA keeps for the name; removing
 * (the user is being removed) notes their ids for the removal's event.
 */
static int remove_devices(af_server *srv, const char *username, int removing)
{
	json_t *devices = NULL, *d;
	size_t i;
	int rc = 0;

	if (af_mfa_device_list(srv->store, username, &devices) != AF_MFA_OK)
		return -1;
	if (removing && note_devices(srv, username, devices) != 0) {
		json_decref(devices);
		return -1;
	}
	json_array_foreach(devices, i, d)
	{
		if (af_mfa_device_remove(srv->store,
					 json_string_value(json_object_get(
						 d, "id"))) != AF_MFA_OK)
			rc = -1;
	}
	json_decref(devices);
	if (af_mfa_user_forget(srv->store, username) != AF_MFA_OK)
		rc = -1;
	return rc;
}

void af_admin__user_add(af_admin_call *c)
{
	json_t *body = af_admin__need_body(c), *user = NULL;
	char err[AF_DIR_ERR_BUF] = "";
	char *password = NULL;
	af_dir_status st;

	if (body == NULL)
		return;
	af_admin__target(
		c, json_string_value(json_object_get(body, "username")), NULL);
	if (!take_password(c, body, 0, &password))
		return;
	st = af_dir_user_add(c->dir, c->caller.name, body, password, &user, err,
			     sizeof(err));
	af_free_secret(password);
	if (user == NULL) {
		af_admin__dir_error(c, st, err);
		return;
	}
	/*
	 * A new user starts clean even where the removal of an earlier user
	 * of the name was cut short (a crash between its steps): no phone
	 * and no session of theirs carries over. So also a user added with
	 * an error (its member lists not in line), which stands all the same.
	 */
	if (remove_devices(c->srv, username_of(user), 0) != 0 ||
	    af_session_end_user(c->srv, username_of(user)) < 0)
		af_admin__error(c, AF_ADMIN_UNAVAILABLE,
				"user added, but what an earlier user of the "
				"name left could not be cleared: remove and "
				"add the user again");
	else if (st != AF_DIR_OK)
		af_admin__dir_error(c, st, err);
	else {
		af_admin__json(c, 201, user); /* takes user */
		return;
	}
	json_decref(user);
}

/* The user of the path, or NULL with a 404 (or other error) answered. */
static json_t *path_user(af_admin_call *c)
{
	json_t *user = NULL;
	af_dir_status st;

	st = af_dir_user_get(c->dir, c->seg[1], &user);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(
			c, st, st == AF_DIR_NOT_FOUND ? "no such user" : NULL);
		return NULL;
	}
	return user;
}

/* now + ms rounded up to whole seconds, or null for 0 (none). */
static json_t *until_of(int64_t now, uint64_t ms)
{
	json_int_t s = (json_int_t)((ms + 999) / 1000);

	return ms == 0 ? json_null() : json_integer((json_int_t)now + s);
}

/*
 * Adds what the brute-force throttle holds against the user: whether and
 * until when they are locked, the failures counted, and the delay after
 * the last one. Without these a user who gets "too many attempts" looks
 * unlocked, and the help desk cannot tell a delay from a fault. 1, or 0
 * with an error answered.
 */
static int add_throttle(af_admin_call *c, json_t *user, int64_t now)
{
	af_throttle_info t;
	af_dir_status st;

	st = af_throttle_info_get(c->dir, username_of(user), &t);
	if (st != AF_DIR_OK) {
		af_admin__error(c, AF_ADMIN_UNAVAILABLE,
				"the sign-in failures and lock could not be "
				"read");
		return 0;
	}
	if (json_object_set_new(user, "locked", json_boolean(t.locked)) != 0 ||
	    json_object_set_new(user, "locked_until",
				until_of(now, t.lock_left_ms)) != 0 ||
	    json_object_set_new(user, "failed_signins",
				json_integer((json_int_t)t.failures)) != 0 ||
	    json_object_set_new(user, "delayed_until",
				until_of(now, t.delay_left_ms)) != 0 ||
	    json_object_set_new(user, "browsers_locked",
				json_integer((json_int_t)t.browsers_locked)) !=
		    0) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return 0;
	}
	return 1;
}

/*
 * Adds the name of the policy that decides the user's sign-in (assigned
 * to the user, else a group, else an OU: directory.h), or null: with two
 * at one level, which one wins is not for the help desk to work out. 1,
 * or 0 with an error answered.
 */
static int add_policy(af_admin_call *c, json_t *user)
{
	af_dir_status st = policy_into(c, user);

	if (st == AF_DIR_NOMEM) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return 0;
	}
	if (st != AF_DIR_OK) {
		af_admin__error(c, AF_ADMIN_UNAVAILABLE,
				"the user's policy could not be read");
		return 0;
	}
	return 1;
}

void af_admin__user_show(af_admin_call *c)
{
	json_t *user = path_user(c), *names;
	int64_t paused = 0, limited = 0, now = af_now(), last;
	af_dir_status st;

	if (user == NULL)
		return;
	if (!add_throttle(c, user, now)) {
		json_decref(user);
		return;
	}
	/*
	 * Whether pushes to the user's phone are paused after a report or
	 * over the push limit, and until when: what the help desk needs when
	 * someone's phone stopped getting sign-in requests.
	 */
	if (af_mfa_push_state(c->srv->store, username_of(user), NULL, now,
			      &paused, &limited) != AF_MFA_OK) {
		json_decref(user);
		af_admin__error(c, AF_ADMIN_UNAVAILABLE,
				"the push pause and limit could not be read");
		return;
	}
	if (json_object_set_new(user, "push_paused_until",
				paused > 0 ? json_integer(paused)
					   : json_null()) != 0 ||
	    json_object_set_new(user, "push_limited_until",
				limited > 0 ? json_integer(limited)
					    : json_null()) != 0) {
		json_decref(user);
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	if (!add_policy(c, user)) {
		json_decref(user);
		return;
	}
	names = json_object();
	st = names != NULL ? add_last_signin(c, user, names, &last)
			   : AF_DIR_NOMEM;
	json_decref(names);
	if (st != AF_DIR_OK) {
		json_decref(user);
		af_admin__dir_error(c, st, NULL);
		return;
	}
	af_admin__json(c, 200, user);
}

void af_admin__user_set(af_admin_call *c)
{
	json_t *body = af_admin__need_patch(c), *user = NULL;
	char err[AF_DIR_ERR_BUF] = "";
	af_dir_status st;

	if (body == NULL)
		return;
	if (json_object_get(body, "password") != NULL) {
		/* Not echoed, not kept: wiped at once, then refused. */
		af_secmem_wipe_json_string(json_object_get(body, "password"));
		if (json_object_del(body, "password") != 0)
			return;
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"password: set it with PUT "
				"/admin/v1/users/{name}/password");
		return;
	}
	st = af_dir_user_set(c->dir, c->caller.name, c->seg[1], body, &user,
			     err, sizeof(err));
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		return;
	}
	/* A user disabled is signed out of everything, for good. */
	if (json_is_false(json_object_get(body, "enabled")) &&
	    af_session_end_signins(c->srv, username_of(user)) < 0) {
		json_decref(user);
		af_admin__error(c, AF_ADMIN_UNAVAILABLE,
				"user disabled, but their sessions could not "
				"be ended: run sessions end");
		return;
	}
	af_admin__json(c, 200, user);
}

void af_admin__user_passwd(af_admin_call *c)
{
	static const char *const allowed[] = {"password", "temporary", NULL};
	json_t *body = af_admin__need_body(c);
	char err[AF_DIR_ERR_BUF] = "", name[AF_DIR_USERNAME_MAX + 1];
	char *password = NULL;
	const json_t *temporary;
	af_throttle_info t;
	json_t *answer;
	af_dir_status st;

	if (body == NULL || !take_password(c, body, 1, &password))
		return;
	if (!af_admin__only_members(c, body, allowed)) {
		af_free_secret(password);
		return;
	}
	temporary = json_object_get(body, "temporary");
	if (temporary != NULL && !json_is_boolean(temporary)) {
		af_free_secret(password);
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"temporary: must be true or false");
		return;
	}
	/* Temporary: the user signs in with it once, then chooses one. */
	st = json_is_true(temporary)
		     ? af_dir_user_reset_password(c->dir, c->caller.name,
						  c->seg[1], password, err,
						  sizeof(err))
		     : af_dir_user_set_password(c->dir, c->caller.name,
						c->seg[1], password, err,
						sizeof(err));
	af_free_secret(password);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		return;
	}
	/*
	 * A new password is often set because the old one leaked: every
	 * browser signed in with it signs in again, with the new one.
	 */
	if (af_dir_user_canonical(c->seg[1], name, sizeof(name)) != AF_DIR_OK ||
	    af_session_end_signins(c->srv, name) < 0) {
		af_admin__error(c, AF_ADMIN_UNAVAILABLE,
				"password changed, but the user's sessions "
				"could not be ended: run sessions end");
		return;
	}
	/*
	 * A new password lifts no lock: a service desk asked "reset my
	 * password, I am locked out" is told the user is still locked.
	 */
	answer = json_pack("{s:b, s:s}", "ok", 1, "username", name);
	if (answer != NULL &&
	    af_throttle_info_get(c->dir, name, &t) == AF_DIR_OK)
		(void)json_object_set_new(answer, "locked",
					  json_boolean(t.locked));
	af_admin__json(c, 200, answer);
}

/*
 * What an unlock lifts, read before it: under "was", whether the user was
 * locked and until when pushes were paused (after a report) or limited
 * (null: they were not), so the trail tells which of the three a service
 * desk lifted. A member that could not be read is left out. NULL when out
 * of memory.
 */
static json_t *unlock_detail(af_admin_call *c, const char *name)
{
	json_t *was = json_object(), *detail;
	int64_t paused = 0, limited = 0;
	af_throttle_info t;

	if (was == NULL)
		return NULL;
	if (af_throttle_info_get(c->dir, name, &t) == AF_DIR_OK)
		(void)json_object_set_new(was, "locked",
					  json_boolean(t.locked));
	if (af_mfa_push_state(c->srv->store, name, NULL, af_now(), &paused,
			      &limited) == AF_MFA_OK) {
		(void)json_object_set_new(was, "push_paused_until",
					  paused > 0 ? json_integer(paused)
						     : json_null());
		(void)json_object_set_new(was, "push_limited_until",
					  limited > 0 ? json_integer(limited)
						      : json_null());
	}
	detail = json_pack("{s:o}", "was", was);
	return detail;
}

void af_admin__user_unlock(af_admin_call *c)
{
	json_t *user = path_user(c), *detail = NULL;
	af_dir_status st;

	if (user == NULL)
		return;
	detail = unlock_detail(c, username_of(user));
	st = af_throttle_unlock(c->dir, username_of(user));
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, NULL);
		goto out;
	}
	/*
	 * Pushes paused after a report, or over the limit, go again, and
	 * token codes are checked again.
	 */
	if (af_mfa_push_reset(c->srv->store, username_of(user)) != AF_MFA_OK ||
	    af_mfa_code_tries_clear(c->srv->store, username_of(user)) !=
		    AF_MFA_OK) {
		af_admin__dir_error(c, AF_DIR_STORE, NULL);
		goto out;
	}
	st = af_audit_record(c->dir, c->caller.name, "user.unlock",
			     username_of(user), detail);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st,
				    "unlocked, but the audit event could not "
				    "be written");
		goto out;
	}
	af_admin__ok(c);
out:
	json_decref(detail);
	json_decref(user);
}

void af_admin__user_remove(af_admin_call *c)
{
	char name[AF_DIR_USERNAME_MAX + 1], err[AF_DIR_ERR_BUF] = "";
	af_dir_status st;

	if (af_dir_user_canonical(c->seg[1], name, sizeof(name)) != AF_DIR_OK) {
		af_admin__dir_error(c, AF_DIR_NOT_FOUND, "no such user");
		return;
	}
	/*
	 * In steps that can each be cut short and run again: the user is
	 * marked first (disabled, "removing"), so that nothing signs in as
	 * them meanwhile; then what they are signed into ends and their
	 * phones go, so that a new user made later with the same name
	 * inherits no session and no device that can approve sign-ins; the
	 * directory drops the rest and the record last. Until the record
	 * goes, the next DELETE finds the marked user and finishes the job.
	 * A damaged record (it does not parse) is removed all the same.
	 */
	st = af_dir_user_remove_begin(c->dir, name, err, sizeof(err));
	if (st != AF_DIR_OK) {
		af_admin__dir_error(
			c, st, st == AF_DIR_NOT_FOUND ? "no such user" : err);
		return;
	}
	if (af_session_end_signins(c->srv, name) < 0) {
		af_admin__errorf(c, AF_ADMIN_UNAVAILABLE,
				 "the removal of user \"%s\" is incomplete: "
				 "their sessions could not be ended; the user "
				 "can no longer sign in; remove it again to "
				 "finish",
				 name);
		return;
	}
	/*
	 * Their refresh tokens, refused since, go too: the records hold the
	 * user name, sub and the applications' nonces.
	 */
	if (af_grant_take_user(c->srv, name, -1) != 0) {
		af_admin__errorf(
			c, AF_ADMIN_UNAVAILABLE,
			"the removal of user \"%s\" is incomplete: "
			"their refresh tokens could not be taken away; "
			"the user can no longer sign in; remove it "
			"again to finish",
			name);
		return;
	}
	if (remove_devices(c->srv, name, 1) != 0) {
		af_admin__errorf(c, AF_ADMIN_UNAVAILABLE,
				 "the removal of user \"%s\" is incomplete: "
				 "their devices could not be removed; the user "
				 "can no longer sign in; remove it again to "
				 "finish",
				 name);
		return;
	}
	st = af_dir_user_remove(c->dir, c->caller.name, name, err, sizeof(err));
	if (st != AF_DIR_OK) {
		af_admin__dir_error(
			c, st, st == AF_DIR_NOT_FOUND ? "no such user" : err);
		return;
	}
	af_admin__ok(c);
}
