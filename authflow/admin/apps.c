/*
 * /admin/v1/apps: application profiles (OIDC clients), their secrets and
 * their deployment. Editing a profile is for superadmins; deploying it is
 * for superadmins, and for admins when the profile allows it.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/admin.h"
#include "common/httpparse.h"

#define METADATA_PATH	 "/.well-known/openid-configuration"
#define METADATA_URL_MAX (sizeof(((af_config *)0)->issuer) + 40)

static void metadata_url(const af_admin_call *c, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s%s", c->srv->cfg.issuer, METADATA_PATH);

	if (n < 0 || (size_t)n >= cap)
		out[0] = '\0';
}

static const char *client_id_of(const json_t *app)
{
	return json_string_value(json_object_get(app, "client_id"));
}

/*
 * The profile the path names, by client id or else by its admin name; NULL
 * with the error answered.
 */
static json_t *path_app(af_admin_call *c)
{
	json_t *app = NULL;
	af_dir_status st;

	st = af_dir_app_get(c->dir, c->seg[1], &app);
	if (st == AF_DIR_NOT_FOUND)
		st = af_dir_app_get_by_name(c->dir, c->seg[1], &app);
	if (st != AF_DIR_OK || client_id_of(app) == NULL) {
		json_decref(app);
		af_admin__dir_error(c, st == AF_DIR_OK ? AF_DIR_NOT_FOUND : st,
				    st == AF_DIR_NOT_FOUND || st == AF_DIR_OK
					    ? "no such application profile"
					    : NULL);
		return NULL;
	}
	return app;
}

/*
 * Checks every URI of the array at field of spec (absent is fine) with
 * hp_redirect_uri_check(). 1, or 0 with a 400 naming the bad one.
 */
static int uri_ok(af_admin_call *c, const char *field, const char *uri)
{
	if (hp_redirect_uri_check(uri) == HP_OK)
		return 1;
	af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
			 "%s: not an acceptable URI (https, or http on a "
			 "loopback host; no fragment or userinfo): %.160s",
			 field, uri);
	return 0;
}

static int check_uris(af_admin_call *c, json_t *spec, const char *field)
{
	json_t *arr = json_object_get(spec, field);
	const char *uri;
	json_t *v;
	size_t i;

	if (arr == NULL)
		return 1;
	if (!json_is_array(arr)) {
		af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
				 "%s: must be an array of URIs", field);
		return 0;
	}
	json_array_foreach(arr, i, v)
	{
		uri = json_string_value(v);
		if (uri == NULL) {
			af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
					 "%s: every entry must be a string",
					 field);
			return 0;
		}
		if (!uri_ok(c, field, uri))
			return 0;
	}
	return 1;
}

/*
 * backchannel_logout_uri, when given as a URI: of the form redirect URIs
 * take ("" removes it, and any other type is the directory's to refuse).
 */
static int check_bcl_uri(af_admin_call *c, json_t *spec)
{
	const char *uri = json_string_value(
		json_object_get(spec, "backchannel_logout_uri"));

	return uri == NULL || uri[0] == '\0' ||
	       uri_ok(c, "backchannel_logout_uri", uri);
}

static int check_all_uris(af_admin_call *c, json_t *spec)
{
	return check_uris(c, spec, "redirect_uris") &&
	       check_uris(c, spec, "post_logout_uris") &&
	       check_bcl_uri(c, spec);
}

void af_admin__app_list(af_admin_call *c)
{
	json_t *arr = NULL;
	af_dir_status st;

	st = af_dir_app_list(c->dir, &arr);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, NULL);
		return;
	}
	af_admin__json(c, 200, json_pack("{s:o}", "apps", arr));
}

void af_admin__app_add(af_admin_call *c)
{
	json_t *body, *app = NULL, *answer;
	char secret[AF_DIR_SECRET_BUF], url[METADATA_URL_MAX];
	char err[AF_DIR_ERR_BUF] = "";
	af_dir_status st;

	secret[0] = '\0';
	body = af_admin__need_body(c);
	if (body == NULL)
		return;
	af_admin__target(c, json_string_value(json_object_get(body, "name")),
			 NULL);
	if (!check_all_uris(c, body))
		return;
	st = af_dir_app_add(c->dir, c->caller.name, body, &app, secret,
			    sizeof(secret), err, sizeof(err));
	/*
	 * Made but not on the audit trail: the profile exists and only this
	 * answer can carry its secret, so it is a success that says so.
	 */
	if (st != AF_DIR_OK && st != AF_DIR_UNAUDITED) {
		af_admin__dir_error(c, st, err);
		goto out;
	}
	af_admin__target(c, client_id_of(app), NULL);
	metadata_url(c, url, sizeof(url));
	answer = json_pack("{s:O, s:O*, s:s, s:s}", "app", app, "client_id",
			   json_object_get(app, "client_id"), "client_secret",
			   secret, "metadata_url", url);
	if (answer != NULL && st == AF_DIR_UNAUDITED)
		af_admin__unaudited(c, answer);
	af_admin__json_secret(c, 201, answer, "client_secret");
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	json_decref(app);
}

void af_admin__app_show(af_admin_call *c)
{
	json_t *app = path_app(c);
	char url[METADATA_URL_MAX];

	if (app == NULL)
		return;
	metadata_url(c, url, sizeof(url));
	if (json_object_set_new(app, "metadata_url", json_string(url)) != 0) {
		json_decref(app);
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	af_admin__json(c, 200, app);
}

void af_admin__app_set(af_admin_call *c)
{
	json_t *body, *app, *out = NULL;
	char err[AF_DIR_ERR_BUF] = "";
	af_dir_status st;

	body = af_admin__need_patch(c);
	if (body == NULL || !check_all_uris(c, body))
		return;
	app = path_app(c);
	if (app == NULL)
		return;
	st = af_dir_app_set(c->dir, c->caller.name, client_id_of(app), body,
			    &out, err, sizeof(err));
	json_decref(app);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		return;
	}
	af_admin__json(c, 200, out);
}

void af_admin__app_remove(af_admin_call *c)
{
	char err[AF_ADMIN_MSG_MAX] = "";
	json_t *app;
	af_dir_status st;

	app = path_app(c);
	if (app == NULL)
		return;
	st = af_dir_app_remove(c->dir, c->caller.name, client_id_of(app), err,
			       sizeof(err));
	json_decref(app);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err[0] != '\0' ? err : NULL);
		return;
	}
	af_admin__ok(c);
}

void af_admin__app_rotate(af_admin_call *c)
{
	char secret[AF_DIR_SECRET_BUF];
	json_t *app, *answer;
	af_dir_status st;
	int64_t keep, until;

	secret[0] = '\0';
	/* For how long the secret being replaced still works. */
	if (!af_admin__body_seconds(c, "keep_previous_s",
				    AF_DIR_SECRET_KEEP_MAX, &keep))
		return;
	app = path_app(c);
	if (app == NULL)
		return;
	st = af_dir_app_rotate_secret(c->dir, c->caller.name, client_id_of(app),
				      keep, secret, sizeof(secret), &until);
	/*
	 * The new secret replaced the old one when it was stored: an error
	 * now would leave the application with no secret anyone knows.
	 */
	if (st != AF_DIR_OK && st != AF_DIR_UNAUDITED) {
		af_admin__dir_error(c, st, NULL);
		goto out;
	}
	answer = json_pack("{s:s, s:s}", "client_id", client_id_of(app),
			   "client_secret", secret);
	if (answer != NULL && until > 0 &&
	    json_object_set_new(answer, "previous_secret_until",
				json_integer(until)) != 0) {
		json_decref(answer);
		answer = NULL;
	}
	if (answer != NULL && st == AF_DIR_UNAUDITED)
		af_admin__unaudited(c, answer);
	af_admin__json_secret(c, 200, answer, "client_secret");
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	json_decref(app);
}

void af_admin__app_drop_previous(af_admin_call *c)
{
	json_t *app, *out = NULL;
	af_dir_status st;

	app = path_app(c);
	if (app == NULL)
		return;
	st = af_dir_app_drop_previous_secret(c->dir, c->caller.name,
					     client_id_of(app));
	if (st == AF_DIR_OK)
		st = af_dir_app_get(c->dir, client_id_of(app), &out);
	json_decref(app);
	if (st == AF_DIR_NOT_FOUND) {
		af_admin__error(c, AF_ADMIN_CONFLICT,
				"no secret replaced by a rotation is kept "
				"for this application");
		return;
	}
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, NULL);
		return;
	}
	af_admin__json(c, 200, out);
}

/* The deployment targets a body may name, in the order they are applied. */
static const struct {
	const char *field;
	af_dir_target kind;
} target_fields[] = {
	{"domains", AF_DIR_TARGET_DOMAIN},
	{"ous", AF_DIR_TARGET_OU},
	{"groups", AF_DIR_TARGET_GROUP},
	{"users", AF_DIR_TARGET_USER},
};

#define NTARGET_FIELDS (sizeof(target_fields) / sizeof(target_fields[0]))

static af_dir_status check_target(const char *field, af_dir_target kind,
				  const char *v, char *err, size_t errlen)
{
	switch (kind) {
	case AF_DIR_TARGET_DOMAIN:
		return af_dir_check_domain(field, v, err, errlen);
	case AF_DIR_TARGET_USER:
		return af_dir_check_username(field, v, err, errlen);
	default:
		return af_dir_check_name(field, v, err, errlen);
	}
}

/*
 * Checks a deploy or undeploy body: {"all": true} alone, or arrays of
 * names in domains, ous, groups, users (at least one name). Every name is
 * checked before anything changes: its syntax, and for a deploy that the
 * user, group or OU exists, so that a bad name leaves the deployment as
 * it was. 1 (*all set when it is the first form), or 0 with an error
 * answered.
 */
/*
 * 1 when the names arr adds to the profile's list field leave it within
 * AF_DIR_ASSIGNED_MAX; else 0 with the 409 made, before anything changed.
 * A name given twice, or in another case, counts twice: near the limit
 * this errs towards refusing, never towards a change half applied.
 */
static int list_room(af_admin_call *c, const json_t *app, const char *field,
		     const json_t *arr)
{
	const json_t *have =
		json_object_get(json_object_get(app, "deployment"), field);
	size_t i, j, n = json_array_size(have);
	const json_t *v, *h;
	int there;

	json_array_foreach(arr, i, v)
	{
		there = 0;
		json_array_foreach(have, j, h)
		{
			if (json_equal(h, v)) {
				there = 1;
				break;
			}
		}
		if (!there && ++n > AF_DIR_ASSIGNED_MAX) {
			af_admin__errorf(c, AF_ADMIN_CONFLICT,
					 "deployment.%s: at most %d", field,
					 AF_DIR_ASSIGNED_MAX);
			return 0;
		}
	}
	return 1;
}

static int check_targets(af_admin_call *c, const json_t *app, json_t *body,
			 int adding, int *all)
{
	static const char *const allowed[] = {"all",	"domains", "ous",
					      "groups", "users",   NULL};
	char err[AF_DIR_ERR_BUF] = "";
	size_t f, i, total = 0;
	af_dir_status st;
	json_t *arr;
	json_t *v;

	if (!af_admin__only_members(c, body, allowed))
		return 0;
	*all = json_object_get(body, "all") != NULL;
	if (*all) {
		if (!json_is_true(json_object_get(body, "all")) ||
		    json_object_size(body) != 1) {
			af_admin__error(c, AF_ADMIN_BAD_REQUEST,
					"all: must be true, and alone");
			return 0;
		}
		return 1;
	}
	for (f = 0; f < NTARGET_FIELDS; f++) {
		arr = json_object_get(body, target_fields[f].field);
		if (arr == NULL)
			continue;
		if (!json_is_array(arr)) {
			af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
					 "%s: must be an array of names",
					 target_fields[f].field);
			return 0;
		}
		if (adding && !list_room(c, app, target_fields[f].field, arr))
			return 0;
		json_array_foreach(arr, i, v)
		{
			if (++total > AF_ADMIN_DEPLOY_MAX) {
				af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
						 "at most %d targets at once",
						 AF_ADMIN_DEPLOY_MAX);
				return 0;
			}
			st = adding ? af_dir_check_target(
					      c->dir, target_fields[f].field,
					      target_fields[f].kind,
					      json_string_value(v), err,
					      sizeof(err))
				    : check_target(target_fields[f].field,
						   target_fields[f].kind,
						   json_string_value(v), err,
						   sizeof(err));
			if (st != AF_DIR_OK) {
				af_admin__dir_error(c, st, err);
				return 0;
			}
		}
	}
	if (total == 0) {
		af_admin__error(c, AF_ADMIN_BAD_REQUEST,
				"nothing named: give all, or some of domains, "
				"ous, groups, users");
		return 0;
	}
	return 1;
}

typedef af_dir_status (*deploy_fn)(af_dir *dir, const char *actor,
				   const char *client_id, af_dir_target kind,
				   const char *value, unsigned flags, char *err,
				   size_t errlen);

/* Applies every target of a checked body; AF_DIR_OK or the first error. */
static af_dir_status apply_targets(af_admin_call *c, const char *client_id,
				   json_t *body, int all, int adding, char *err,
				   size_t errlen)
{
	deploy_fn fn = adding ? af_dir_app_deploy : af_dir_app_undeploy;
	/* Checked again with each name: a superadmin may withdraw it. */
	unsigned flags =
		c->caller.role == AF_ROLE_SUPERADMIN ? 0 : AF_DIR_DEPLOY_ADMIN;
	af_dir_status st = AF_DIR_OK;
	size_t f, i;
	json_t *v;

	if (all)
		return fn(c->dir, c->caller.name, client_id, AF_DIR_TARGET_ALL,
			  NULL, flags, err, errlen);
	for (f = 0; f < NTARGET_FIELDS && st == AF_DIR_OK; f++) {
		json_array_foreach(
			json_object_get(body, target_fields[f].field), i, v)
		{
			st = fn(c->dir, c->caller.name, client_id,
				target_fields[f].kind, json_string_value(v),
				flags, err, errlen);
			if (st != AF_DIR_OK)
				break;
		}
	}
	return st;
}

static void deploy(af_admin_call *c, int adding)
{
	json_t *body, *app, *out = NULL;
	char err[AF_DIR_ERR_BUF] = "";
	af_dir_status st;
	int all = 0;

	app = path_app(c);
	if (app == NULL)
		return;
	if (!af_dir_app_may_deploy(c->caller.role == AF_ROLE_SUPERADMIN, app)) {
		af_admin__errorf(c, AF_ADMIN_FORBIDDEN,
				 "%s this application profile needs a "
				 "superadmin token (admins_may_deploy is off)",
				 adding ? "deploying" : "undeploying");
		goto out;
	}
	body = af_admin__need_body(c);
	if (body == NULL || !check_targets(c, app, body, adding, &all))
		goto out;
	st = apply_targets(c, client_id_of(app), body, all, adding, err,
			   sizeof(err));
	if (st == AF_DIR_OK)
		st = af_dir_app_get(c->dir, client_id_of(app), &out);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		goto out;
	}
	af_admin__json(c, 200, out);
out:
	json_decref(app);
}

void af_admin__app_deploy(af_admin_call *c)
{
	deploy(c, 1);
}

void af_admin__app_undeploy(af_admin_call *c)
{
	deploy(c, 0);
}
