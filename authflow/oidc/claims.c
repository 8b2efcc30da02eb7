/* The user claims released for a scope, shared by tokens and userinfo. */
#include <string.h>

#include "oidc/oidc.h"

static void copy_claim(json_t *out, const char *name, const json_t *user,
		       const char *attr)
{
	json_t *v = json_object_get(user, attr);

	if (v != NULL && !json_is_null(v))
		json_object_set(out, name, v);
}

json_t *af_oidc_user_claims(const json_t *user, const json_t *app,
			    const char *scope)
{
	json_t *out = json_object(), *map, *attr;
	const char *name;

	if (out == NULL)
		return NULL;
	copy_claim(out, "sub", user, "sub");
	if (af_oidc_has_word(scope, "profile")) {
		copy_claim(out, "name", user, "name");
		copy_claim(out, "given_name", user, "given_name");
		copy_claim(out, "family_name", user, "family_name");
		copy_claim(out, "preferred_username", user, "username");
		/* When the profile last changed (OIDC Core 5.1), or began. */
		copy_claim(out, "updated_at", user, AF_DIR_USER_PROFILE_AT);
		if (json_object_get(out, "updated_at") == NULL)
			copy_claim(out, "updated_at", user, "created_at");
	}
	if (af_oidc_has_word(scope, "email") &&
	    json_is_string(json_object_get(user, "email"))) {
		copy_claim(out, "email", user, "email");
		json_object_set_new(out, "email_verified",
				    json_boolean(json_is_true(json_object_get(
					    user, "email_verified"))));
	}
	if (af_oidc_has_word(scope, "groups")) {
		json_t *g = json_object_get(user, "groups");

		if (json_is_array(g))
			json_object_set(out, "groups", g);
		else
			json_object_set_new(out, "groups", json_array());
	}
	map = json_object_get(app, "claims");
	json_object_foreach(map, name, attr)
	{
		if (json_is_string(attr))
			copy_claim(out, name, user, json_string_value(attr));
	}
	return out;
}
