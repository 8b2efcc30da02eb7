/* /admin/v1/policies: user policies (SSO, remote-access MFA) and who has
 * them. */
#include <stddef.h>

#include "admin/admin.h"

/* Answers the named policy with status, or the look-up's error. */
static void answer(af_admin_call *c, const char *name, unsigned status)
{
	json_t *policy = NULL;
	af_dir_status st;

	st = af_dir_policy_get(c->dir, name, &policy);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st,
				    st == AF_DIR_NOT_FOUND ? "no such policy"
							   : NULL);
		return;
	}
	af_admin__json(c, status, policy);
}

void af_admin__policy_list(af_admin_call *c)
{
	json_t *arr = NULL;
	af_dir_status st;

	st = af_dir_policy_list(c->dir, &arr);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, NULL);
		return;
	}
	af_admin__json(c, 200, json_pack("{s:o}", "policies", arr));
}

void af_admin__policy_add(af_admin_call *c)
{
	json_t *body = af_admin__need_body(c);
	char err[AF_DIR_ERR_BUF] = "";
	const char *name;
	af_dir_status st;

	if (body == NULL)
		return;
	name = af_admin__need_string(c, body, "name");
	if (name == NULL)
		return;
	af_admin__target(c, name, NULL);
	st = af_dir_policy_add(c->dir, c->caller.name, body, err, sizeof(err));
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		return;
	}
	answer(c, name, 201);
}

void af_admin__policy_show(af_admin_call *c)
{
	answer(c, c->seg[1], 200);
}

void af_admin__policy_set(af_admin_call *c)
{
	json_t *body = af_admin__need_patch(c);
	char err[AF_DIR_ERR_BUF] = "";
	af_dir_status st;

	if (body == NULL)
		return;
	st = af_dir_policy_set(c->dir, c->caller.name, c->seg[1], body, err,
			       sizeof(err));
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		return;
	}
	answer(c, c->seg[1], 200);
}

void af_admin__policy_remove(af_admin_call *c)
{
	char err[AF_ADMIN_MSG_MAX] = "";
	af_dir_status st;

	st = af_dir_policy_remove(c->dir, c->caller.name, c->seg[1], err,
				  sizeof(err));
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st,
				    st == AF_DIR_NOT_FOUND ? "no such policy"
				    : err[0] != '\0'	   ? err
							   : NULL);
		return;
	}
	af_admin__ok(c);
}

/*
 * The one target of an assign or unassign body: {"user": U}, {"group": G}
 * or {"ou": O}. 1 with *kind and *name, or 0 with a 400 answered.
 */
static int target_of(af_admin_call *c, af_dir_target *kind, const char **name)
{
	static const char *const allowed[] = {"user", "group", "ou", NULL};
	static const af_dir_target kinds[] = {
		AF_DIR_TARGET_USER, AF_DIR_TARGET_GROUP, AF_DIR_TARGET_OU};
	json_t *body = af_admin__need_body(c);
	size_t i;

	if (body == NULL || !af_admin__only_members(c, body, allowed))
		return 0;
	if (json_object_size(body) != 1) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"give exactly one of user, group, ou");
		return 0;
	}
	for (i = 0; allowed[i] != NULL; i++) {
		if (json_object_get(body, allowed[i]) == NULL)
			continue;
		*kind = kinds[i];
		*name = af_admin__need_string(c, body, allowed[i]);
		if (*name == NULL)
			return 0;
		af_admin__target(c, c->seg[1], *name);
		return 1;
	}
	/* Not reached: the one member is one of the allowed. */
	af_admin__error(c, AF_ADMIN_BAD_REQUEST,
			"give exactly one of user, group, ou");
	return 0;
}

static void assign(af_admin_call *c, int adding)
{
	char err[AF_DIR_ERR_BUF] = "";
	af_dir_target kind = AF_DIR_TARGET_USER;
	const char *name = NULL;
	af_dir_status st;

	if (!target_of(c, &kind, &name))
		return;
	if (adding)
		st = af_dir_policy_assign(c->dir, c->caller.name, c->seg[1],
					  kind, name, err, sizeof(err));
	else
		st = af_dir_policy_unassign(c->dir, c->caller.name, c->seg[1],
					    kind, name, err, sizeof(err));
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		return;
	}
	answer(c, c->seg[1], 200);
}

void af_admin__policy_assign(af_admin_call *c)
{
	assign(c, 1);
}

void af_admin__policy_unassign(af_admin_call *c)
{
	assign(c, 0);
}
