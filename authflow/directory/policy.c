/* User policies: who is SSO-enabled and who is in the remote-access
 * workflow, and which policy applies to a user. */
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "directory/audit.h"
#include "directory/directory.h"

static const af_dir_target assign_kinds[] = {
	AF_DIR_TARGET_USER,
	AF_DIR_TARGET_GROUP,
	AF_DIR_TARGET_OU,
};

#define N_KINDS (sizeof(assign_kinds) / sizeof(assign_kinds[0]))

static af_dir_status policy_key(char *key, size_t cap, const char *name)
{
	if (af_dir_check_name("name", name, NULL, 0) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	return af_dir__key(key, cap, "policy:", name);
}

/* Checks an "assigned" object into a normalised one with the lists given. */
static af_dir_status assigned_fields(af_dir *dir, const json_t *in,
				     json_t **out, char *err, size_t errlen)
{
	char field[32];
	af_dir_status rc = AF_DIR_OK;
	json_t *norm, *v;
	const char *k;

	*out = NULL;
	if (!json_is_object(in)) {
		af_dir__err(err, errlen,
			    "assigned: must be an object of users, groups, "
			    "ous");
		return AF_DIR_INVALID;
	}
	norm = json_object();
	if (norm == NULL)
		return AF_DIR_NOMEM;
	json_object_foreach(af_dir__iterable(in), k, v)
	{
		af_dir_target kind = AF_DIR_TARGET_ALL;
		json_t *names = NULL;

		for (size_t i = 0; i < N_KINDS; i++) {
			if (strcmp(k, af_dir__target_field(assign_kinds[i])) ==
			    0)
				kind = assign_kinds[i];
		}
		if (kind == AF_DIR_TARGET_ALL) {
			af_dir__err(err, errlen,
				    "assigned.%.32s: unknown field", k);
			rc = AF_DIR_INVALID;
			break;
		}
		if (af_dir__key(field, sizeof(field), "assigned.", k) !=
		    AF_DIR_OK) {
			rc = AF_DIR_INVALID;
			break;
		}
		rc = af_dir__names(dir, field, v, kind, AF_DIR_ASSIGNED_MAX,
				   &names, err, errlen);
		if (rc == AF_DIR_OK)
			rc = af_dir__set_new(norm, k, names);
		if (rc != AF_DIR_OK)
			break;
	}
	if (rc != AF_DIR_OK) {
		json_decref(norm);
		return rc;
	}
	*out = norm;
	return AF_DIR_OK;
}

/* Checks a policy spec (adding) or patch into a normalised object. */
static af_dir_status policy_fields(af_dir *dir, const json_t *spec, int adding,
				   json_t **out, char *err, size_t errlen)
{
	af_dir_status rc = AF_DIR_OK;
	json_t *norm, *v;
	const char *k;

	*out = NULL;
	if (!json_is_object(spec)) {
		af_dir__err(err, errlen, "policy: must be a JSON object");
		return AF_DIR_INVALID;
	}
	norm = json_object();
	if (norm == NULL)
		return AF_DIR_NOMEM;
	json_object_foreach(af_dir__iterable(spec), k, v)
	{
		if (strcmp(k, "name") == 0 && adding) {
			rc = af_dir_check_name(k, json_string_value(v), err,
					       errlen);
			if (rc == AF_DIR_OK)
				rc = af_dir__check_not_dots(
					k, json_string_value(v), err, errlen);
			if (rc == AF_DIR_OK)
				rc = af_dir__set_new(norm, k, json_incref(v));
		} else if (strcmp(k, "sso") == 0 ||
			   strcmp(k, "remote_access") == 0) {
			if (!json_is_boolean(v)) {
				af_dir__err(err, errlen,
					    "%s: must be true or false", k);
				rc = AF_DIR_INVALID;
			} else {
				rc = af_dir__set_new(norm, k, json_incref(v));
			}
		} else if (strcmp(k, "number_matching") == 0) {
			/* null: as the workflow says. */
			if (!json_is_boolean(v) && !json_is_null(v)) {
				af_dir__err(err, errlen,
					    "%s: must be true, false or null",
					    k);
				rc = AF_DIR_INVALID;
			} else {
				rc = af_dir__set_new(norm, k, json_incref(v));
			}
		} else if (strcmp(k, "assigned") == 0) {
			json_t *a = NULL;

			/*
			 * A change merges list by list: {} would change
			 * nothing, yet be recorded as a change.
			 */
			if (!adding && json_is_object(v) &&
			    json_object_size(v) == 0) {
				af_dir__err(err, errlen,
					    "assigned: nothing to change");
				rc = AF_DIR_INVALID;
				break;
			}
			rc = assigned_fields(dir, v, &a, err, errlen);
			if (rc == AF_DIR_OK)
				rc = af_dir__set_new(norm, k, a);
		} else if (strcmp(k, "name") == 0) {
			af_dir__err(err, errlen, "name: cannot be changed");
			rc = AF_DIR_INVALID;
		} else {
			af_dir__err(err, errlen, "%.64s: unknown field", k);
			rc = AF_DIR_INVALID;
		}
		if (rc != AF_DIR_OK)
			break;
	}
	if (rc == AF_DIR_OK && adding &&
	    json_object_get(norm, "name") == NULL) {
		af_dir__err(err, errlen, "name: required");
		rc = AF_DIR_INVALID;
	}
	if (rc != AF_DIR_OK) {
		json_decref(norm);
		return rc;
	}
	*out = norm;
	return AF_DIR_OK;
}

/* Merges a normalised patch into a stored policy. */
static af_dir_status policy_merge(json_t *policy, void *arg)
{
	const json_t *norm = arg;
	json_t *assigned = json_object_get(policy, "assigned");
	json_t *v;
	const char *k;

	if (!json_is_object(assigned)) {
		assigned = json_object();
		if (af_dir__set_new(policy, "assigned", assigned) != AF_DIR_OK)
			return AF_DIR_NOMEM;
	}
	json_object_foreach(af_dir__iterable(norm), k, v)
	{
		json_t *lk;
		const char *lname;

		if (strcmp(k, "assigned") != 0) {
			if (af_dir__set_new(policy, k, json_deep_copy(v)) !=
			    AF_DIR_OK)
				return AF_DIR_NOMEM;
			continue;
		}
		/* Each list given replaces that list; the others stay. */
		json_object_foreach(v, lname, lk)
		{
			if (af_dir__set_new(assigned, lname,
					    json_deep_copy(lk)) != AF_DIR_OK)
				return AF_DIR_NOMEM;
		}
	}
	return af_dir__set_new(policy, "updated_at", json_integer(af_now()));
}

af_dir_status af_dir_policy_add(af_dir *dir, const char *actor,
				const json_t *spec, char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	json_t *norm = NULL, *policy = NULL;
	const char *name;
	af_dir_status rc;
	size_t count = 0;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = policy_fields(dir, spec, 1, &norm, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	name = json_string_value(json_object_get(norm, "name"));
	rc = af_dir__key(key, sizeof(key), "policy:", name);
	if (rc == AF_DIR_OK)
		rc = af_dir__count(dir, "policies", AF_DIR_POLICIES_MAX,
				   &count);
	if (rc != AF_DIR_OK)
		goto out;
	if (count >= AF_DIR_POLICIES_MAX) {
		af_dir__err(err, errlen, "policies: at most %d",
			    AF_DIR_POLICIES_MAX);
		rc = AF_DIR_LIMIT;
		goto out;
	}
	rc = af_dir__case_twin(dir, "policies", "a policy", name, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	policy = json_pack("{s:s, s:b, s:b, s:n, s:{s:[], s:[], s:[]}, s:I}",
			   "name", name, "sso", 0, "remote_access", 0,
			   "number_matching", "assigned", "users", "groups",
			   "ous", "created_at", (json_int_t)af_now());
	if (policy == NULL) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	rc = policy_merge(policy, norm);
	/* Indexed before and after it is written: af_dir__index_drop(). */
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(
			store_sadd(af_dir_store(dir), "policies", name));
	if (rc == AF_DIR_OK)
		rc = af_dir__put_json(dir, key, policy, STORE_SET_NX);
	if (rc == AF_DIR_EXISTS)
		af_dir__err(err, errlen, "name: a policy named \"%s\" exists",
			    name);
	if (rc != AF_DIR_OK)
		goto out;
	rc = af_dir__from_store(
		store_sadd(af_dir_store(dir), "policies", name));
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, "policy.add", name, norm, err,
				   errlen);
out:
	af_dir__policies_changed(dir);
	json_decref(norm);
	json_decref(policy);
	return rc;
}

af_dir_status af_dir_policy_set(af_dir *dir, const char *actor,
				const char *name, const json_t *patch,
				char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	json_t *norm = NULL, *before = NULL, *detail;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = policy_key(key, sizeof(key), name);
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen, "name: no such policy");
		return rc;
	}
	rc = policy_fields(dir, patch, 0, &norm, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__update(dir, key, policy_merge, norm, NULL, &before);
	af_dir__policies_changed(dir);
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "name: no such policy");
	/* What each setting held, so that MFA turned off shows as such. */
	if (rc == AF_DIR_OK) {
		static const char *const by_key[] = {"assigned", NULL};

		detail = af_dir__change_detail(norm, before, AF_DIR_UNSET_NULL,
					       by_key);
		rc = af_dir__audit(dir, actor, "policy.set", name,
				   detail != NULL ? detail : norm, err, errlen);
		json_decref(detail);
	}
	json_decref(before);
	json_decref(norm);
	return rc;
}

/*
 * The detail of the policy.remove event: the policy as it was, settings
 * and assignments, without its name (the event's target). A policy holds
 * no secret. A record that does not parse is removed all the same, with
 * no detail.
 */
static af_dir_status policy_removed_detail(const store_value *v, json_t **out)
{
	json_t *policy;

	*out = NULL;
	policy = json_loadb((const char *)v->data, v->len, 0, NULL);
	if (!json_is_object(policy)) {
		json_decref(policy);
		return AF_DIR_OK;
	}
	if (json_object_del(policy, "name") != 0 &&
	    json_object_get(policy, "name") != NULL) {
		json_decref(policy);
		return AF_DIR_NOMEM;
	}
	*out = policy;
	return AF_DIR_OK;
}

af_dir_status af_dir_policy_remove(af_dir *dir, const char *actor,
				   const char *name, char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	json_t *detail = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK)
		return AF_DIR_INVALID;
	rc = policy_key(key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_get(af_dir_store(dir), key, &v));
	if (rc == AF_DIR_OK)
		rc = policy_removed_detail(&v, &detail);
	store_value_free(&v);
	if (rc == AF_DIR_OK)
		rc = af_dir__audit_removal(dir, actor, "policy.remove", name,
					   detail, err, errlen);
	if (rc == AF_DIR_OK) {
		rc = af_dir__from_store(store_del(af_dir_store(dir), key));
		if (rc == AF_DIR_OK)
			af_dir__index_drop(dir, "policies", name, key);
		else
			af_dir__err(
				err, errlen,
				"the removal of policy \"%s\" is "
				"incomplete (%s): remove it again to finish",
				name, af_dir_strerror(rc));
		af_dir__policies_changed(dir);
	}
	json_decref(detail);
	return rc;
}

af_dir_status af_dir_policy_get(af_dir *dir, const char *name, json_t **out)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = policy_key(key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, out, NULL);
	return rc;
}

af_dir_status af_dir_policy_list(af_dir *dir, json_t **out)
{
	if (out == NULL || dir == NULL)
		return AF_DIR_INVALID;
	return af_dir__list(dir, "policies", "policy:", out);
}

/* Adds or drops one name in one assignment list. */
typedef struct assign_change {
	const char *field;
	const char *name;
	int add;
} assign_change;

static af_dir_status assign_fn(json_t *policy, void *arg)
{
	const assign_change *c = arg;
	json_t *assigned = json_object_get(policy, "assigned");
	json_t *list;

	if (!json_is_object(assigned)) {
		assigned = json_object();
		if (af_dir__set_new(policy, "assigned", assigned) != AF_DIR_OK)
			return AF_DIR_NOMEM;
	}
	list = json_object_get(assigned, c->field);
	if (!json_is_array(list)) {
		list = json_array();
		if (af_dir__set_new(assigned, c->field, list) != AF_DIR_OK)
			return AF_DIR_NOMEM;
	}
	if (!c->add) {
		/* Nothing to write when the name was not there. */
		if (!af_dir__array_drop(list, c->name))
			return AF_DIR_NOT_FOUND;
	} else {
		if (af_dir__array_has(list, c->name))
			return AF_DIR_EXISTS;
		if (json_array_size(list) >= AF_DIR_ASSIGNED_MAX)
			return AF_DIR_LIMIT;
		if (json_array_append_new(list, json_string(c->name)) != 0 ||
		    af_dir__sort(list, NULL) != AF_DIR_OK)
			return AF_DIR_NOMEM;
	}
	return af_dir__set_new(policy, "updated_at", json_integer(af_now()));
}

/* Checks a target name; existence only matters when adding. */
static af_dir_status target_name(af_dir *dir, af_dir_target kind,
				 const char *member, int must_exist, char *out,
				 size_t outcap, char *err, size_t errlen)
{
	const char *field = af_dir__target_field(kind);
	af_dir_status rc;

	if (must_exist || kind == AF_DIR_TARGET_DOMAIN)
		return af_dir__name_of(dir, field, member, kind, out, outcap,
				       err, errlen);
	rc = kind == AF_DIR_TARGET_USER
		     ? af_dir_check_username(field, member, err, errlen)
		     : af_dir_check_name(field, member, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__key(out, outcap, "", member);
	if (rc == AF_DIR_OK && kind == AF_DIR_TARGET_USER) {
		for (char *p = out; *p != '\0'; p++) {
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		}
	}
	return rc;
}

static af_dir_status policy_assignment(af_dir *dir, const char *actor,
				       const char *name, af_dir_target kind,
				       const char *member, int add, char *err,
				       size_t errlen)
{
	char key[STORE_KEY_MAX], target[AF_DIR_DOMAIN_MAX + 1];
	assign_change c = {NULL, target, add};
	json_t *detail = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	if (kind != AF_DIR_TARGET_USER && kind != AF_DIR_TARGET_GROUP &&
	    kind != AF_DIR_TARGET_OU) {
		af_dir__err(err, errlen,
			    "kind: a policy is assigned to users, groups or "
			    "OUs");
		return AF_DIR_INVALID;
	}
	c.field = af_dir__target_field(kind);
	rc = policy_key(key, sizeof(key), name);
	if (rc == AF_DIR_OK) {
		store_value v = {NULL, 0};

		rc = af_dir__from_store(store_get(af_dir_store(dir), key, &v));
		store_value_free(&v);
	}
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "name: no such policy");
	if (rc != AF_DIR_OK)
		return rc;
	rc = target_name(dir, kind, member, add, target, sizeof(target), err,
			 errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__update(dir, key, assign_fn, &c, NULL, NULL);
	af_dir__policies_changed(dir);
	/* Assigning twice, or dropping a name that was not assigned (the
	 * policy was just seen), changes nothing and is not an error. */
	if (rc == AF_DIR_EXISTS || (rc == AF_DIR_NOT_FOUND && !add))
		return AF_DIR_OK;
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "name: no such policy");
	if (rc == AF_DIR_LIMIT)
		af_dir__err(err, errlen, "assigned.%s: at most %d", c.field,
			    AF_DIR_ASSIGNED_MAX);
	if (rc != AF_DIR_OK)
		return rc;
	detail = json_pack("{s:s}", c.field, target);
	rc = detail != NULL
		     ? af_dir__audit(dir, actor,
				     add ? "policy.assign" : "policy.unassign",
				     name, detail, err, errlen)
		     : AF_DIR_NOMEM;
	json_decref(detail);
	if (add)
		af_dir__named_recheck(dir, actor, kind, target);
	return rc;
}

af_dir_status af_dir_policy_assign(af_dir *dir, const char *actor,
				   const char *name, af_dir_target kind,
				   const char *member, char *err, size_t errlen)
{
	return policy_assignment(dir, actor, name, kind, member, 1, err,
				 errlen);
}

af_dir_status af_dir_policy_unassign(af_dir *dir, const char *actor,
				     const char *name, af_dir_target kind,
				     const char *member, char *err,
				     size_t errlen)
{
	return policy_assignment(dir, actor, name, kind, member, 0, err,
				 errlen);
}

/*
 * How little a policy lets its users do, least first: 0, sign in nowhere
 * (SSO off); 1, sign in with the password and the phone, typing the
 * number (remote access on, number matching not switched off); 2, the
 * same without the number; 3, sign in with the password alone. Where
 * several policies reach a user at one level, the one that lets the user
 * do least wins, so that a membership added for another reason never
 * takes a user out of their MFA.
 */
static int strictness(const json_t *p)
{
	if (!json_is_true(json_object_get(p, "sso")))
		return 0;
	if (!json_is_true(json_object_get(p, "remote_access")))
		return 3;
	return json_is_false(json_object_get(p, "number_matching")) ? 2 : 1;
}

/* Whether the policy at pos wins over the one at best (SIZE_MAX: none). */
static int wins_over(const json_t *policies, size_t pos, size_t best)
{
	int a, b;

	if (best == SIZE_MAX)
		return 1;
	a = strictness(json_array_get(policies, pos));
	b = strictness(json_array_get(policies, best));
	/* The listing is sorted by name: an equal one sorting first wins. */
	return a < b || (a == b && pos < best);
}

/* The position map (a member of the index) gives name; SIZE_MAX: none. */
static size_t position_of(const json_t *map, const char *name)
{
	json_t *pos = name != NULL ? json_object_get(map, name) : NULL;

	if (!json_is_integer(pos) || json_integer_value(pos) < 0)
		return SIZE_MAX;
	return (size_t)json_integer_value(pos);
}

af_dir_status af_dir__policy_index(const json_t *policies, json_t **out)
{
	json_t *index = json_object(), *maps[N_KINDS];
	size_t k, pos, i;
	json_t *p, *v;

	*out = NULL;
	if (index == NULL)
		return AF_DIR_NOMEM;
	for (k = 0; k < N_KINDS; k++) {
		maps[k] = json_object();
		if (json_object_set_new(index,
					af_dir__target_field(assign_kinds[k]),
					maps[k]) != 0)
			goto nomem;
	}
	json_array_foreach(policies, pos, p)
	{
		const json_t *assigned = json_object_get(p, "assigned");

		for (k = 0; k < N_KINDS; k++) {
			const json_t *list = json_object_get(
				assigned,
				af_dir__target_field(assign_kinds[k]));

			json_array_foreach(list, i, v)
			{
				const char *name = json_string_value(v);

				if (name == NULL ||
				    !wins_over(policies, pos,
					       position_of(maps[k], name)))
					continue;
				if (json_object_set_new_nocheck(
					    maps[k], name,
					    json_integer((json_int_t)pos)) != 0)
					goto nomem;
			}
		}
	}
	*out = index;
	return AF_DIR_OK;
nomem:
	json_decref(index);
	return AF_DIR_NOMEM;
}

/*
 * The position of the winning policy among those that name one of the
 * names in have in their list field, from the index; SIZE_MAX when none
 * does.
 */
static size_t winner_naming(const json_t *policies, const json_t *index,
			    const char *field, const json_t *have)
{
	const json_t *map = json_object_get(index, field);
	size_t best = SIZE_MAX, i;
	json_t *v;

	json_array_foreach(have, i, v)
	{
		size_t pos = position_of(map, json_string_value(v));

		if (pos < json_array_size(policies) &&
		    wins_over(policies, pos, best))
			best = pos;
	}
	return best;
}

/*
 * What af_dir_policy_for_user() hands out: a new object with the kept
 * policy's members but its assignment lists, which can name a thousand
 * users and which no reader of a user's policy needs. The members left
 * are scalars shared with the kept value: a reader may set or drop them.
 */
static af_dir_status policy_view(json_t *kept, json_t **out)
{
	json_t *view = json_copy(kept);

	if (view == NULL)
		return AF_DIR_NOMEM;
	(void)json_object_del(view, "assigned");
	*out = view;
	return AF_DIR_OK;
}

/*
 * The position of user's policy in the listing (from its index), or
 * SIZE_MAX when none applies: the user's own name first, then its
 * groups, then its OUs.
 */
static size_t policy_of(const json_t *policies, const json_t *index,
			const json_t *user, const char *username)
{
	for (size_t level = 0; level < N_KINDS; level++) {
		const char *field = af_dir__target_field(assign_kinds[level]);
		size_t pos =
			level == 0
				? position_of(json_object_get(index, field),
					      username)
				: winner_naming(policies, index, field,
						json_object_get(user, field));

		if (pos < json_array_size(policies))
			return pos;
	}
	return SIZE_MAX;
}

af_dir_status af_dir_policy_for_user(af_dir *dir, const json_t *user,
				     json_t **out)
{
	json_t *policies = NULL, *index = NULL;
	const char *username;
	af_dir_status rc;
	size_t pos;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	username = json_string_value(json_object_get(user, "username"));
	if (dir == NULL || username == NULL)
		return AF_DIR_INVALID;
	/* The list comes sorted by name, so the first match breaks ties
	 * (wins_over()); read only, so shared, and only the one chosen is
	 * handed out. */
	rc = af_dir__policies_shared(dir, &policies, &index);
	if (rc != AF_DIR_OK)
		return rc;
	pos = policy_of(policies, index, user, username);
	rc = pos < json_array_size(policies)
		     ? policy_view(json_array_get(policies, pos), out)
		     : AF_DIR_NOT_FOUND;
	json_decref(index);
	json_decref(policies);
	return rc;
}

af_dir_status af_dir_policy_names(af_dir *dir, json_t *users)
{
	json_t *policies = NULL, *index = NULL, *u, *name;
	af_dir_status rc;
	size_t i, pos;

	if (dir == NULL || !json_is_array(users))
		return AF_DIR_INVALID;
	/* Read once for them all, as af_dir_policy_for_user() reads it. */
	rc = af_dir__policies_shared(dir, &policies, &index);
	if (rc != AF_DIR_OK)
		return rc;
	json_array_foreach(users, i, u)
	{
		const char *username =
			json_string_value(json_object_get(u, "username"));

		pos = username != NULL ? policy_of(policies, index, u, username)
				       : SIZE_MAX;
		name = pos < json_array_size(policies)
			       ? json_object_get(json_array_get(policies, pos),
						 "name")
			       : NULL;
		name = json_is_string(name) ? json_copy(name) : json_null();
		if (json_object_set_new(u, "policy", name) != 0) {
			rc = AF_DIR_NOMEM;
			break;
		}
	}
	json_decref(index);
	json_decref(policies);
	return rc;
}

af_dir_status af_dir__policies_forget(af_dir *dir, const char *actor,
				      af_dir_target kind, const char *name)
{
	char key[STORE_KEY_MAX];
	assign_change c = {af_dir__target_field(kind), name, 0};
	json_t *policies = NULL, *p;
	af_dir_status rc = AF_DIR_OK, r;
	size_t i;

	if (c.field == NULL || kind == AF_DIR_TARGET_DOMAIN)
		return AF_DIR_OK;
	r = af_dir_policy_list(dir, &policies);
	if (r != AF_DIR_OK)
		return r;
	json_array_foreach(policies, i, p)
	{
		const char *pname =
			json_string_value(json_object_get(p, "name"));
		const json_t *list = json_object_get(
			json_object_get(p, "assigned"), c.field);

		if (pname == NULL || !af_dir__array_has(list, name) ||
		    af_dir__key(key, sizeof(key), "policy:", pname) !=
			    AF_DIR_OK)
			continue;
		r = af_dir__update(dir, key, assign_fn, &c, NULL, NULL);
		af_dir__policies_changed(dir);
		if (r == AF_DIR_OK)
			r = af_dir__forget_audit(dir, actor, "policy.unassign",
						 pname, c.field, name);
		if (r != AF_DIR_OK && r != AF_DIR_NOT_FOUND)
			rc = r;
	}
	json_decref(policies);
	return rc;
}
