/*
 * The directory's groups and OUs, and the member sets that list each one's
 * users, kept in step with the users' records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "directory/directory.h"

/* How a group and an OU differ in the store and in a user. */
typedef struct member_kind {
	af_dir_target target;
	const char *prefix;  /* "group:" */
	const char *index;   /* "groups" */
	const char *members; /* "group_members:" */
	const char *field;   /* member of a user: "groups" */
	const char *noun;    /* "group" */
	const char *a_noun;  /* "a group", "an OU" */
	const char *act_add; /* audit actions */
	const char *act_set;
	const char *act_remove;
	const char *act_join;
	const char *act_leave;
} member_kind;

static const member_kind group_kind = {
	.target = AF_DIR_TARGET_GROUP,
	.prefix = "group:",
	.index = "groups",
	.members = "group_members:",
	.field = "groups",
	.noun = "group",
	.a_noun = "a group",
	.act_add = "group.add",
	.act_set = "group.set",
	.act_remove = "group.remove",
	.act_join = "group.add_member",
	.act_leave = "group.remove_member",
};

static const member_kind ou_kind = {
	.target = AF_DIR_TARGET_OU,
	.prefix = "ou:",
	.index = "ous",
	.members = "ou_members:",
	.field = "ous",
	.noun = "OU",
	.a_noun = "an OU",
	.act_add = "ou.add",
	.act_set = "ou.set",
	.act_remove = "ou.remove",
	.act_join = "ou.add_member",
	.act_leave = "ou.remove_member",
};

/* Adds (add) or drops user in the member sets of the names in arr. */
static af_dir_status member_sets(af_dir *dir, const char *prefix,
				 const json_t *arr, const json_t *except,
				 const char *user, int add)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc = AF_DIR_OK;
	store_status st;
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		const char *name = json_string_value(v);

		if (name == NULL || af_dir__array_has(except, name))
			continue;
		if (af_dir__key(key, sizeof(key), prefix, name) != AF_DIR_OK)
			continue;
		st = add ? store_sadd(af_dir_store(dir), key, user)
			 : store_srem(af_dir_store(dir), key, user);
		if (st != STORE_OK && st != STORE_NOT_FOUND)
			rc = af_dir__from_store(st);
	}
	return rc;
}

af_dir_status af_dir__sync_members(af_dir *dir, const char *user,
				   const json_t *before, const json_t *after)
{
	static const member_kind *const kinds[] = {&group_kind, &ou_kind};
	af_dir_status rc = AF_DIR_OK, r;

	for (size_t i = 0; i < 2; i++) {
		const json_t *o = json_object_get(before, kinds[i]->field);
		const json_t *n = json_object_get(after, kinds[i]->field);

		r = member_sets(dir, kinds[i]->members, o, n, user, 0);
		if (r != AF_DIR_OK)
			rc = r;
		r = member_sets(dir, kinds[i]->members, n, o, user, 1);
		if (r != AF_DIR_OK)
			rc = r;
	}
	return rc;
}

af_dir_status af_dir__unsynced(af_dir *dir, const char *actor,
			       const char *action, const char *target,
			       const json_t *detail, af_dir_status sync,
			       char *err, size_t errlen)
{
	af_dir_status rc =
		af_dir__audit(dir, actor, action, target, detail, err, errlen);
	int added = strcmp(action, "user.add") == 0;

	/* A store that failed both (a full disk): both are said. */
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen,
			    "%s, but neither its audit event nor the member "
			    "lists of its groups or OUs could be written: %s",
			    added ? "added" : "changed",
			    added ? "set its groups and OUs again"
				  : "run it again");
		return rc;
	}
	if (added)
		af_dir__err(err, errlen,
			    "added, but the member lists of its groups or OUs "
			    "could not be updated: set its groups and OUs "
			    "again");
	else
		af_dir__err(err, errlen,
			    "changed, but the member lists of its groups or "
			    "OUs could not be updated: run it again");
	return sync;
}

void af_dir__memberships_recheck(af_dir *dir, const char *actor,
				 const json_t *before, const json_t *after)
{
	static const member_kind *const kinds[] = {&group_kind, &ou_kind};

	for (size_t i = 0; i < 2; i++) {
		const json_t *o = json_object_get(before, kinds[i]->field);
		size_t j;
		json_t *v;

		json_array_foreach(json_object_get(after, kinds[i]->field), j,
				   v)
		{
			if (!af_dir__array_has(o, json_string_value(v)))
				af_dir__named_recheck(dir, actor,
						      kinds[i]->target,
						      json_string_value(v));
		}
	}
}

static af_dir_status kind_key(const member_kind *mk, char *key, size_t cap,
			      const char *name)
{
	if (af_dir_check_name("name", name, NULL, 0) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	return af_dir__key(key, cap, mk->prefix, name);
}

static af_dir_status check_description(const char *d, char *err, size_t errlen)
{
	if (d == NULL || d[0] == '\0')
		return AF_DIR_OK;
	/* Its own message: af_dir_check_display() says 1.., but "" is a
	 * description too (none). */
	if (af_dir_check_display("description", d, AF_DIR_DESCRIPTION_MAX, NULL,
				 0) != AF_DIR_OK) {
		af_dir__err(err, errlen,
			    "description: must be 0..%d printable UTF-8 "
			    "characters, not only spaces",
			    AF_DIR_DESCRIPTION_MAX);
		return AF_DIR_INVALID;
	}
	return AF_DIR_OK;
}

static af_dir_status refs_sweep(af_dir *dir, const member_kind *mk,
				const char *actor, const char *name);

static af_dir_status kind_add(af_dir *dir, const member_kind *mk,
			      const char *actor, const char *name,
			      const char *description, char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	json_t *obj = NULL;
	af_dir_status rc;
	size_t count = 0;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = af_dir_check_name("name", name, err, errlen);
	if (rc == AF_DIR_OK)
		rc = af_dir__check_not_dots("name", name, err, errlen);
	if (rc == AF_DIR_OK && mk == &group_kind)
		rc = check_description(description, err, errlen);
	if (rc == AF_DIR_OK)
		rc = af_dir__key(key, sizeof(key), mk->prefix, name);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__count(dir, mk->index, AF_DIR_GROUPS_MAX, &count);
	if (rc != AF_DIR_OK)
		return rc;
	if (count >= AF_DIR_GROUPS_MAX) {
		af_dir__err(err, errlen, "%s: at most %d", mk->index,
			    AF_DIR_GROUPS_MAX);
		return AF_DIR_LIMIT;
	}
	rc = af_dir__case_twin(dir, mk->index, mk->a_noun, name, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	obj = json_pack("{s:s}", "name", name);
	if (obj == NULL)
		return AF_DIR_NOMEM;
	if (mk == &group_kind) {
		rc = af_dir__set_new(
			obj, "description",
			json_string(description != NULL ? description : ""));
		if (rc != AF_DIR_OK)
			goto out;
	}
	/*
	 * What still names an earlier one of the name (a removal cut short,
	 * or raced by an assignment) was granted to other people: a new
	 * group or OU starts with exactly what an administrator gives it.
	 */
	rc = af_dir__exists(dir, mk->prefix, name);
	if (rc == AF_DIR_NOT_FOUND)
		rc = refs_sweep(dir, mk, actor, name);
	else if (rc == AF_DIR_OK)
		rc = AF_DIR_EXISTS;
	/* Indexed before and after it is written: af_dir__index_drop(). */
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(
			store_sadd(af_dir_store(dir), mk->index, name));
	if (rc == AF_DIR_OK)
		rc = af_dir__put_json(dir, key, obj, STORE_SET_NX);
	if (rc == AF_DIR_EXISTS)
		af_dir__err(err, errlen, "name: %s named \"%s\" exists",
			    mk->a_noun, name);
	if (rc != AF_DIR_OK)
		goto out;
	rc = af_dir__from_store(store_sadd(af_dir_store(dir), mk->index, name));
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, mk->act_add, name, obj, err,
				   errlen);
out:
	json_decref(obj);
	return rc;
}

af_dir_status af_dir_group_add(af_dir *dir, const char *actor, const char *name,
			       const char *description, char *err,
			       size_t errlen)
{
	return kind_add(dir, &group_kind, actor, name, description, err,
			errlen);
}

af_dir_status af_dir_ou_add(af_dir *dir, const char *actor, const char *name,
			    char *err, size_t errlen)
{
	return kind_add(dir, &ou_kind, actor, name, NULL, err, errlen);
}

static af_dir_status description_fn(json_t *obj, void *arg)
{
	const char *d = *(const char **)arg;

	return af_dir__set_new(obj, "description",
			       json_string(d != NULL ? d : ""));
}

af_dir_status af_dir_group_set(af_dir *dir, const char *actor, const char *name,
			       const char *description, char *err,
			       size_t errlen)
{
	char key[STORE_KEY_MAX];
	json_t *after = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = check_description(description, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = kind_key(&group_kind, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, description_fn, &description,
				    &after, NULL);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "name: no such group");
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, group_kind.act_set, name, after,
				   err, errlen);
	json_decref(after);
	return rc;
}

/* Adds or drops one name in a user's groups or OUs. */
typedef struct membership {
	const char *field;
	const char *name;
	int add;
} membership;

static af_dir_status membership_fn(json_t *user, void *arg)
{
	const membership *m = arg;
	json_t *arr = json_object_get(user, m->field);

	/*
	 * A user being removed joins nothing: its removal cleans the member
	 * sets of the marked record, so the record's groups and OUs may
	 * only shrink from then on (a group removed, say).
	 */
	if (m->add && af_dir_user_removing(user))
		return AF_DIR_REMOVING;
	if (!json_is_array(arr)) {
		arr = json_array();
		if (af_dir__set_new(user, m->field, arr) != AF_DIR_OK)
			return AF_DIR_NOMEM;
	}
	if (m->add) {
		if (af_dir__array_has(arr, m->name))
			return AF_DIR_OK;
		if (json_array_size(arr) >= AF_DIR_MEMBERSHIPS_MAX)
			return AF_DIR_LIMIT;
		if (json_array_append_new(arr, json_string(m->name)) != 0)
			return AF_DIR_NOMEM;
		if (af_dir__sort(arr, NULL) != AF_DIR_OK)
			return AF_DIR_NOMEM;
	} else if (!af_dir__array_has(arr, m->name)) {
		return AF_DIR_OK;
	} else {
		af_dir__array_drop(arr, m->name);
	}
	if (af_dir__set_new(user, AF_DIR_USER_PROFILE_AT,
			    json_integer(af_now())) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	return af_dir__set_new(user, "updated_at", json_integer(af_now()));
}

/* Whether two lists of names (NULL or not an array: empty) are equal. */
static int same_list(const json_t *a, const json_t *b)
{
	size_t na = json_is_array(a) ? json_array_size(a) : 0;
	size_t nb = json_is_array(b) ? json_array_size(b) : 0;

	return na == nb && (na == 0 || json_equal(a, b));
}

static af_dir_status kind_member(af_dir *dir, const member_kind *mk,
				 const char *actor, const char *name,
				 const char *username, int add, int *changed,
				 char *err, size_t errlen)
{
	char uname[AF_DIR_USERNAME_MAX + 1], key[STORE_KEY_MAX];
	membership m = {mk->field, name, add};
	json_t *after = NULL, *before = NULL, *detail = NULL;
	af_dir_status rc, r;

	if (changed != NULL)
		*changed = 0;
	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = kind_key(mk, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__exists(dir, mk->prefix, name);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "name: no such %s", mk->noun);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__user_key(key, sizeof(key), username, uname, sizeof(uname));
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, membership_fn, &m, &after,
				    &before);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "username: no such user");
	if (rc == AF_DIR_REMOVING)
		af_dir__removing_err(uname, err, errlen);
	if (rc == AF_DIR_LIMIT)
		af_dir__err(err, errlen, "%s: at most %d", mk->field,
			    AF_DIR_MEMBERSHIPS_MAX);
	if (rc != AF_DIR_OK)
		return rc;
	/*
	 * Already so (a member added again, a non-member removed): the
	 * answer is the same, but nothing changed, so nothing is recorded;
	 * the set is brought in line all the same, should an earlier call
	 * have changed the record but not the set.
	 */
	if (same_list(json_object_get(before, mk->field),
		      json_object_get(after, mk->field))) {
		json_t *one = json_pack("{s:[s]}", mk->field, name);

		rc = one != NULL ? af_dir__sync_members(dir, uname,
							add ? NULL : one,
							add ? one : NULL)
				 : AF_DIR_NOMEM;
		json_decref(one);
		goto out;
	}
	rc = af_dir__sync_members(dir, uname, before, after);
	if (rc != AF_DIR_OK) {
		detail = json_pack("{s:s}", "user", uname);
		rc = detail != NULL
			     ? af_dir__unsynced(dir, actor,
						add ? mk->act_join
						    : mk->act_leave,
						name, detail, rc, err, errlen)
			     : AF_DIR_NOMEM;
		goto out;
	}
	/*
	 * A user removed meanwhile may have had the member sets cleaned
	 * before this one was added to: undone, so that no ghost stays. A
	 * removal marks the record before it cleans the sets, and this adds
	 * to them before it looks, so a mark not seen here was made after
	 * the add and its cleaning comes after it too.
	 */
	r = add ? af_dir__user_present(dir, uname) : AF_DIR_OK;
	if (r == AF_DIR_NOT_FOUND || r == AF_DIR_REMOVING) {
		if (af_dir__sync_members(dir, uname, after, before) !=
		    AF_DIR_OK)
			af_dir__err(err, errlen, "username: no such user (%s)",
				    "its membership could not be undone");
		else
			af_dir__err(err, errlen, "username: no such user");
		rc = AF_DIR_NOT_FOUND;
		goto out;
	}
	/*
	 * Likewise the group or OU: its removal deletes it before reading
	 * its members, and this checks it after adding to them, so one of
	 * the two sees the other. A member left behind would join a later
	 * one of the same name, and whatever is deployed to it.
	 */
	if (add && af_dir__exists(dir, mk->prefix, name) == AF_DIR_NOT_FOUND) {
		membership undo = {mk->field, name, 0};
		af_dir_status u = af_dir__update(dir, key, membership_fn, &undo,
						 NULL, NULL);

		if ((u != AF_DIR_OK && u != AF_DIR_NOT_FOUND) ||
		    af_dir__sync_members(dir, uname, after, before) !=
			    AF_DIR_OK)
			af_dir__err(err, errlen, "name: no such %s (%s)",
				    mk->noun,
				    "the membership could not be undone");
		else
			af_dir__err(err, errlen, "name: no such %s", mk->noun);
		rc = AF_DIR_NOT_FOUND;
		goto out;
	}
	if (changed != NULL)
		*changed = 1;
	detail = json_pack("{s:s}", "user", uname);
	rc = detail != NULL ? af_dir__audit(dir, actor,
					    add ? mk->act_join : mk->act_leave,
					    name, detail, err, errlen)
			    : AF_DIR_NOMEM;
out:
	json_decref(detail);
	json_decref(after);
	json_decref(before);
	return rc;
}

af_dir_status af_dir_group_add_member(af_dir *dir, const char *actor,
				      const char *name, const char *username,
				      int *changed, char *err, size_t errlen)
{
	return kind_member(dir, &group_kind, actor, name, username, 1, changed,
			   err, errlen);
}

af_dir_status af_dir_group_remove_member(af_dir *dir, const char *actor,
					 const char *name, const char *username,
					 int *changed, char *err, size_t errlen)
{
	return kind_member(dir, &group_kind, actor, name, username, 0, changed,
			   err, errlen);
}

af_dir_status af_dir_ou_add_member(af_dir *dir, const char *actor,
				   const char *name, const char *username,
				   int *changed, char *err, size_t errlen)
{
	return kind_member(dir, &ou_kind, actor, name, username, 1, changed,
			   err, errlen);
}

af_dir_status af_dir_ou_remove_member(af_dir *dir, const char *actor,
				      const char *name, const char *username,
				      int *changed, char *err, size_t errlen)
{
	return kind_member(dir, &ou_kind, actor, name, username, 0, changed,
			   err, errlen);
}

/* Takes every member of the group or OU name out of it. */
static af_dir_status members_forget(af_dir *dir, const member_kind *mk,
				    const char *name)
{
	char key[STORE_KEY_MAX], setkey[STORE_KEY_MAX];
	membership m = {mk->field, name, 0};
	json_t *members = NULL, *v;
	af_dir_status rc, r;
	size_t i;

	rc = af_dir__key(setkey, sizeof(setkey), mk->members, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__members(dir, setkey, &members);
	if (rc != AF_DIR_OK)
		return rc;
	json_array_foreach(members, i, v)
	{
		const char *user = json_string_value(v);

		r = af_dir__key(key, sizeof(key), "user:", user);
		if (r == AF_DIR_OK)
			r = af_dir__update(dir, key, membership_fn, &m, NULL,
					   NULL);
		/* The set keeps a member whose record still names the
		 * object, for the removal run again to find. */
		if (r == AF_DIR_OK || r == AF_DIR_NOT_FOUND)
			r = af_dir__from_store(
				store_srem(af_dir_store(dir), setkey, user));
		if (r != AF_DIR_OK && rc == AF_DIR_OK)
			rc = r;
	}
	json_decref(members);
	return rc;
}

/* Drops every reference to the group or OU name: members, policies, apps. */
static af_dir_status refs_sweep(af_dir *dir, const member_kind *mk,
				const char *actor, const char *name)
{
	af_dir_status rc;

	rc = members_forget(dir, mk, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__policies_forget(dir, actor, mk->target, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__apps_forget(dir, actor, mk->target, name);
	return rc;
}

void af_dir__named_recheck(af_dir *dir, const char *actor, af_dir_target kind,
			   const char *name)
{
	const member_kind *mk = kind == AF_DIR_TARGET_GROUP ? &group_kind
				: kind == AF_DIR_TARGET_OU  ? &ou_kind
							    : NULL;

	if (mk != NULL &&
	    af_dir__exists(dir, mk->prefix, name) == AF_DIR_NOT_FOUND) {
		af_dir_status rc = refs_sweep(dir, mk, actor, name);

		(void)rc; /* what is left, a new one of the name clears */
	}
}

/*
 * The detail of the removal event of a group or OU, read before anything
 * goes: its members and, for a group, its description. A record that
 * does not parse is removed all the same, described by its members.
 */
static af_dir_status kind_removed_detail(af_dir *dir, const member_kind *mk,
					 const char *key, const char *name,
					 json_t **out)
{
	static const char *const group_members[] = {"description", NULL};
	static const char *const ou_members[] = {NULL};
	char setkey[STORE_KEY_MAX];
	json_t *obj = NULL, *members = NULL, *detail = NULL;
	af_dir_status rc;

	*out = NULL;
	rc = af_dir__key(setkey, sizeof(setkey), mk->members, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__members(dir, setkey, &members);
	if (rc == AF_DIR_OK &&
	    af_dir__get_json(dir, key, &obj, NULL) == AF_DIR_NOMEM)
		rc = AF_DIR_NOMEM;
	if (rc == AF_DIR_OK)
		rc = af_dir__removed_detail(
			obj, mk == &group_kind ? group_members : ou_members,
			&detail);
	if (rc == AF_DIR_OK) {
		rc = af_dir__set_new(detail, "members", members);
		members = NULL; /* stolen either way */
	}
	if (rc == AF_DIR_OK) {
		*out = detail;
		detail = NULL;
	}
	json_decref(detail);
	json_decref(members);
	json_decref(obj);
	return rc;
}

/*
 * The references go first and the object last: a removal cut short (a
 * crash, a full disk) leaves the group or OU in place with fewer members,
 * and running it again finishes it. Were the object to go first, its
 * members' records would go on naming it, and a later group of that name
 * would take them in, with whatever its policies and deployments grant.
 * The audit event comes before the object goes, so that a removal done is
 * never missing from the trail. A member, policy assignment or deployment
 * added meanwhile is taken out by a second pass once the object is gone;
 * one added after that pass finds the object gone itself
 * (af_dir__named_recheck()), and a later group or OU of the name starts
 * by clearing whatever an interruption left (kind_add()).
 */
static af_dir_status kind_remove(af_dir *dir, const member_kind *mk,
				 const char *actor, const char *name)
{
	char key[STORE_KEY_MAX];
	json_t *detail = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK)
		return AF_DIR_INVALID;
	rc = kind_key(mk, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__exists(dir, mk->prefix, name);
	if (rc == AF_DIR_OK)
		rc = kind_removed_detail(dir, mk, key, name, &detail);
	if (rc == AF_DIR_OK)
		rc = refs_sweep(dir, mk, actor, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, mk->act_remove, name, detail,
				   NULL, 0);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_del(af_dir_store(dir), key));
	if (rc == AF_DIR_OK)
		rc = refs_sweep(dir, mk, actor, name);
	if (rc == AF_DIR_OK)
		af_dir__index_drop(dir, mk->index, name, key);
	json_decref(detail);
	return rc;
}

af_dir_status af_dir_group_remove(af_dir *dir, const char *actor,
				  const char *name)
{
	return kind_remove(dir, &group_kind, actor, name);
}

af_dir_status af_dir_ou_remove(af_dir *dir, const char *actor, const char *name)
{
	return kind_remove(dir, &ou_kind, actor, name);
}

static af_dir_status kind_get(af_dir *dir, const member_kind *mk,
			      const char *name, json_t **out)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = kind_key(mk, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, out, NULL);
	return rc;
}

af_dir_status af_dir_group_get(af_dir *dir, const char *name, json_t **out)
{
	return kind_get(dir, &group_kind, name, out);
}

af_dir_status af_dir_ou_get(af_dir *dir, const char *name, json_t **out)
{
	return kind_get(dir, &ou_kind, name, out);
}

af_dir_status af_dir_group_list(af_dir *dir, json_t **out)
{
	if (out == NULL || dir == NULL)
		return AF_DIR_INVALID;
	return af_dir__list(dir, group_kind.index, group_kind.prefix, out);
}

af_dir_status af_dir_ou_list(af_dir *dir, json_t **out)
{
	if (out == NULL || dir == NULL)
		return AF_DIR_INVALID;
	return af_dir__list(dir, ou_kind.index, ou_kind.prefix, out);
}

static af_dir_status kind_members(af_dir *dir, const member_kind *mk,
				  const char *name, json_t **out)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = kind_key(mk, key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__exists(dir, mk->prefix, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__key(key, sizeof(key), mk->members, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__members(dir, key, out);
	return rc;
}

af_dir_status af_dir_group_members(af_dir *dir, const char *name, json_t **out)
{
	return kind_members(dir, &group_kind, name, out);
}

af_dir_status af_dir_ou_members(af_dir *dir, const char *name, json_t **out)
{
	return kind_members(dir, &ou_kind, name, out);
}

/*
 * Adds user to the member set at setkey unless sets (set key to an object
 * of its members, read on first use) says it is there: 1 added, 0 it
 * was, or a negative af_dir_status.
 */
static int mend_one(af_dir *dir, json_t *sets, const char *setkey,
		    const char *user)
{
	json_t *have = json_object_get(sets, setkey), *arr = NULL, *v;
	af_dir_status rc;
	size_t i;

	if (have == NULL) {
		rc = af_dir__members(dir, setkey, &arr);
		if (rc != AF_DIR_OK)
			return (int)rc;
		have = json_object();
		if (have == NULL || json_object_set_new(sets, setkey, have)) {
			json_decref(arr);
			return (int)AF_DIR_NOMEM;
		}
		json_array_foreach(arr, i, v)
		{
			if (json_object_set_new(have, json_string_value(v),
						json_true()) != 0) {
				json_decref(arr);
				return (int)AF_DIR_NOMEM;
			}
		}
		json_decref(arr);
	}
	if (json_object_get(have, user) != NULL)
		return 0;
	rc = af_dir__from_store(store_sadd(af_dir_store(dir), setkey, user));
	if (rc == AF_DIR_OK && json_object_set_new(have, user, json_true()))
		rc = AF_DIR_NOMEM;
	return rc == AF_DIR_OK ? 1 : (int)rc;
}

/* Mends the sets of one user's record; adds to *mended. */
static af_dir_status mend_user(af_dir *dir, json_t *sets, const char *user,
			       size_t *mended, int *removing)
{
	static const member_kind *const kinds[] = {&group_kind, &ou_kind};
	char key[STORE_KEY_MAX];
	json_t *rec = NULL, *v;
	af_dir_status rc;
	size_t i, k;
	int r;

	rc = af_dir__key(key, sizeof(key), "user:", user);
	if (rc == AF_DIR_OK)
		rc = af_dir__user_read(dir, key, &rec);
	/* Gone meanwhile, or damaged: nothing to read from it. */
	if (rc == AF_DIR_NOT_FOUND || (rc == AF_DIR_OK && rec == NULL))
		return AF_DIR_OK;
	if (rc != AF_DIR_OK)
		return rc;
	*removing = af_dir_user_removing(rec);
	for (k = 0; k < 2 && !*removing; k++) {
		json_array_foreach(json_object_get(rec, kinds[k]->field), i, v)
		{
			const char *name = json_string_value(v);

			if (name == NULL ||
			    af_dir__key(key, sizeof(key), kinds[k]->members,
					name) != AF_DIR_OK)
				continue;
			r = mend_one(dir, sets, key, user);
			if (r < 0) {
				json_decref(rec);
				return (af_dir_status)r;
			}
			*mended += (size_t)r;
		}
	}
	json_decref(rec);
	return AF_DIR_OK;
}

af_dir_status af_dir_memberships_mend(af_dir *dir, int (*stop)(void *arg),
				      void (*removing)(void *arg,
						       const char *user),
				      void *arg, size_t *users, size_t *mended)
{
	json_t *names = NULL, *sets = NULL, *v;
	af_dir_status rc;
	size_t i;
	int marked;

	if (users == NULL || mended == NULL)
		return AF_DIR_INVALID;
	*users = 0;
	*mended = 0;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__members(dir, "users", &names);
	if (rc != AF_DIR_OK)
		return rc;
	sets = json_object();
	if (sets == NULL)
		rc = AF_DIR_NOMEM;
	json_array_foreach(names, i, v)
	{
		if (rc != AF_DIR_OK || (stop != NULL && stop(arg)))
			break;
		marked = 0;
		rc = mend_user(dir, sets, json_string_value(v), mended,
			       &marked);
		if (rc == AF_DIR_OK)
			(*users)++;
		if (rc == AF_DIR_OK && marked && removing != NULL)
			removing(arg, json_string_value(v));
	}
	json_decref(sets);
	json_decref(names);
	return rc;
}
