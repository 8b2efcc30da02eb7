/*
 * /admin/v1/groups and /admin/v1/ous: both are named sets of users with
 * the same calls (an OU has no description), so one set of functions
 * serves both through a table of the directory's functions.
 */
#include <stddef.h>

#include "admin/admin.h"

typedef af_dir_status (*list_fn)(af_dir *dir, json_t **out);
typedef af_dir_status (*get_fn)(af_dir *dir, const char *name, json_t **out);
typedef af_dir_status (*remove_fn)(af_dir *dir, const char *actor,
				   const char *name);
typedef af_dir_status (*member_fn)(af_dir *dir, const char *actor,
				   const char *name, const char *username,
				   int *changed, char *err, size_t errlen);

typedef struct kind {
	const char *noun;
	const char *plural;
	af_dir_target target;
	list_fn list;
	get_fn get;
	get_fn members;
	remove_fn remove;
	member_fn add_member;
	member_fn remove_member;
} kind;

static const kind groups = {
	"group",
	"groups",
	AF_DIR_TARGET_GROUP,
	af_dir_group_list,
	af_dir_group_get,
	af_dir_group_members,
	af_dir_group_remove,
	af_dir_group_add_member,
	af_dir_group_remove_member,
};

static const kind ous = {
	"OU",
	"ous",
	AF_DIR_TARGET_OU,
	af_dir_ou_list,
	af_dir_ou_get,
	af_dir_ou_members,
	af_dir_ou_remove,
	af_dir_ou_add_member,
	af_dir_ou_remove_member,
};

/* A directory error, naming the kind when the object was not found. */
static void fail(af_admin_call *c, const kind *k, af_dir_status st,
		 const char *err)
{
	if (st == AF_DIR_NOT_FOUND && (err == NULL || err[0] == '\0')) {
		af_admin__errorf(c, AF_ADMIN_NOT_FOUND, "no such %s", k->noun);
		return;
	}
	af_admin__dir_error(c, st, err);
}

static void list(af_admin_call *c, const kind *k)
{
	json_t *arr = NULL;
	af_dir_status st;

	st = k->list(c->dir, &arr);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, NULL);
		return;
	}
	af_admin__json(c, 200, json_pack("{s:o}", k->plural, arr));
}

/* Answers the named object with status, or the error of the look-up. */
static void answer(af_admin_call *c, const kind *k, const char *name,
		   unsigned status, int with_members)
{
	json_t *obj = NULL, *members = NULL;
	af_dir_status st;

	st = k->get(c->dir, name, &obj);
	if (st == AF_DIR_OK && with_members)
		st = k->members(c->dir, name, &members);
	if (st != AF_DIR_OK) {
		json_decref(obj);
		fail(c, k, st, NULL);
		return;
	}
	if (with_members && json_object_set_new(obj, "members", members) != 0) {
		json_decref(obj);
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	af_admin__json(c, status, obj);
}

/* The optional "description": 1 and *out (NULL for none), or 0 and 400. */
static int description_of(af_admin_call *c, const json_t *body,
			  const char **out)
{
	const json_t *v = json_object_get(body, "description");

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 1;
	*out = json_string_value(v);
	if (*out == NULL) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"description: must be a string or null");
		return 0;
	}
	return 1;
}

static void add(af_admin_call *c, const kind *k)
{
	static const char *const group_members[] = {"name", "description",
						    NULL};
	static const char *const ou_members[] = {"name", NULL};
	json_t *body = af_admin__need_body(c);
	char err[AF_DIR_ERR_BUF] = "";
	const char *name, *description = NULL;
	af_dir_status st;

	if (body == NULL ||
	    !af_admin__only_members(c, body,
				    k == &groups ? group_members : ou_members))
		return;
	name = af_admin__need_string(c, body, "name");
	if (name == NULL || !description_of(c, body, &description))
		return;
	af_admin__target(c, name, NULL);
	if (k == &groups)
		st = af_dir_group_add(c->dir, c->caller.name, name, description,
				      err, sizeof(err));
	else
		st = af_dir_ou_add(c->dir, c->caller.name, name, err,
				   sizeof(err));
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		return;
	}
	answer(c, k, name, 201, 0);
}

static void remove_one(af_admin_call *c, const kind *k)
{
	char app[AF_DIR_NAME_MAX + 1];
	af_dir_status st = AF_DIR_NOT_FOUND;

	/*
	 * Removing it would undeploy what an admin may not undeploy: a
	 * superadmin's to do, as the undeploy itself is.
	 */
	if (c->caller.role != AF_ROLE_SUPERADMIN)
		st = af_dir_app_held_by(c->dir, k->target, c->seg[1], app,
					sizeof(app));
	if (st == AF_DIR_OK) {
		af_admin__errorf(c, AF_ADMIN_FORBIDDEN,
				 "removing this %s needs a superadmin token: "
				 "the application profile '%s' is deployed "
				 "to it (admins_may_deploy is off)",
				 k->noun, app);
		return;
	}
	if (st != AF_DIR_NOT_FOUND) {
		fail(c, k, st, NULL);
		return;
	}
	st = k->remove(c->dir, c->caller.name, c->seg[1]);
	if (st != AF_DIR_OK) {
		fail(c, k, st, NULL);
		return;
	}
	af_admin__ok(c);
}

static void member(af_admin_call *c, const kind *k, int adding)
{
	char err[AF_DIR_ERR_BUF] = "";
	af_dir_status st;
	int changed = 0;

	st = (adding ? k->add_member
		     : k->remove_member)(c->dir, c->caller.name, c->seg[1],
					 c->seg[3], &changed, err, sizeof(err));
	if (st != AF_DIR_OK) {
		fail(c, k, st, err);
		return;
	}
	/* Already so (added twice, or not a member): said, not audited. */
	af_admin__json(c, 200,
		       json_pack("{s:b, s:b}", "ok", 1, "changed", changed));
}

void af_admin__group_list(af_admin_call *c)
{
	list(c, &groups);
}

void af_admin__group_add(af_admin_call *c)
{
	add(c, &groups);
}

void af_admin__group_show(af_admin_call *c)
{
	answer(c, &groups, c->seg[1], 200, 1);
}

void af_admin__group_set(af_admin_call *c)
{
	static const char *const allowed[] = {"description", NULL};
	json_t *body = af_admin__need_patch(c);
	char err[AF_DIR_ERR_BUF] = "";
	const char *description;
	af_dir_status st;

	/* {} changes nothing, as every PATCH says; description is all
	 * there is to give. */
	if (body == NULL || !af_admin__only_members(c, body, allowed) ||
	    !description_of(c, body, &description))
		return;
	st = af_dir_group_set(c->dir, c->caller.name, c->seg[1], description,
			      err, sizeof(err));
	if (st != AF_DIR_OK) {
		fail(c, &groups, st, err);
		return;
	}
	answer(c, &groups, c->seg[1], 200, 0);
}

void af_admin__group_remove(af_admin_call *c)
{
	remove_one(c, &groups);
}

void af_admin__group_member_add(af_admin_call *c)
{
	member(c, &groups, 1);
}

void af_admin__group_member_remove(af_admin_call *c)
{
	member(c, &groups, 0);
}

void af_admin__ou_list(af_admin_call *c)
{
	list(c, &ous);
}

void af_admin__ou_add(af_admin_call *c)
{
	add(c, &ous);
}

void af_admin__ou_show(af_admin_call *c)
{
	answer(c, &ous, c->seg[1], 200, 1);
}

void af_admin__ou_remove(af_admin_call *c)
{
	remove_one(c, &ous);
}

void af_admin__ou_member_add(af_admin_call *c)
{
	member(c, &ous, 1);
}

void af_admin__ou_member_remove(af_admin_call *c)
{
	member(c, &ous, 0);
}
