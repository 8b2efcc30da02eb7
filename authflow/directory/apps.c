/* Application profiles: the relying parties, their client secrets and to
 * whom they are deployed. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "directory/audit.h"
#include "directory/directory.h"

#define CLIENT_ID_PREFIX "af-"
#define CLIENT_ID_RANDOM 16 /* bytes behind the prefix */
#define SECRET_RANDOM	 32 /* bytes of a client secret */

static const char *const deploy_lists[] = {"domains", "ous", "groups", "users"};
static const af_dir_target deploy_kinds[] = {
	AF_DIR_TARGET_DOMAIN, AF_DIR_TARGET_OU, AF_DIR_TARGET_GROUP,
	AF_DIR_TARGET_USER};

#define N_LISTS (sizeof(deploy_lists) / sizeof(deploy_lists[0]))

/* The attributes of a user that an extra claim may carry. */
static const char *const claim_sources[] = {
	"username", "name",   "given_name", "family_name", "email",
	"domain",   "groups", "ous",	    "sub",
};

/* Claims the OIDC layer sets itself; an app may not redefine them. */
static const char *const reserved_claims[] = {
	"iss", "sub", "aud", "exp",	"iat",	     "auth_time", "nonce",
	"acr", "amr", "azp", "at_hash", "c_hash",    "sid",	  "jti",
	"nbf", "typ", "cnf", "scope",	"client_id",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, list[i]) == 0)
			return 1;
	}
	return 0;
}

/* "app:<client_id>" for a well-formed client id, else NOT_FOUND. */
static af_dir_status app_key(char *key, size_t cap, const char *client_id)
{
	size_t n, plen = strlen(CLIENT_ID_PREFIX);

	n = client_id != NULL ? strnlen(client_id, AF_DIR_CLIENT_ID_LEN + 1)
			      : 0;
	if (n != AF_DIR_CLIENT_ID_LEN ||
	    strncmp(client_id, CLIENT_ID_PREFIX, plen) != 0)
		return AF_DIR_NOT_FOUND;
	if (!af_b64url_text_ok(client_id + plen, n - plen))
		return AF_DIR_NOT_FOUND;
	return af_dir__key(key, cap, "app:", client_id);
}

/* Drops member name of obj; AF_DIR_NOMEM when it stays. */
static af_dir_status drop(json_t *obj, const char *name)
{
	if (json_object_del(obj, name) != 0 &&
	    json_object_get(obj, name) != NULL)
		return AF_DIR_NOMEM;
	return AF_DIR_OK;
}

/*
 * A stored profile made fit to be shown: without the hashes of its
 * secrets, and without the end of a kept secret once it has passed.
 */
static af_dir_status strip_secrets(json_t *app, int64_t now)
{
	af_dir_status rc = drop(app, "secret_sha256");

	if (rc == AF_DIR_OK)
		rc = drop(app, "previous_secret_sha256");
	if (rc == AF_DIR_OK && json_integer_value(json_object_get(
				       app, "previous_secret_until")) <= now)
		rc = drop(app, "previous_secret_until");
	return rc;
}

/*
 * The profile as handed out (strip_secrets()): *app (owned, just read)
 * becomes *out, uncopied.
 */
static af_dir_status hand_over(json_t **app_in, json_t **out)
{
	json_t *app = *app_in;

	*app_in = NULL;
	if (out == NULL) {
		json_decref(app);
		return AF_DIR_OK;
	}
	*out = NULL;
	if (app == NULL)
		return AF_DIR_NOMEM;
	if (strip_secrets(app, af_now()) != AF_DIR_OK) {
		json_decref(app);
		return AF_DIR_NOMEM;
	}
	*out = app;
	return AF_DIR_OK;
}

/*
 * As hand_over, for a profile read shared (af_dir__get_json_shared(),
 * which *app_in is, and is released): what goes out is a new object of
 * its own holding the same members, which the secrets are then dropped
 * from. The members themselves stay shared, so a reader may set or drop
 * members of what it gets but must not change what a member holds.
 */
static af_dir_status hand_view(json_t **app_in, json_t **out)
{
	json_t *view = json_copy(*app_in);

	json_decref(*app_in);
	*app_in = NULL;
	return hand_over(&view, out);
}

/* As hand_over, with a copy of a profile kept by the caller. */
static af_dir_status hand_out(const json_t *stored, json_t **out)
{
	json_t *app;

	if (out == NULL)
		return AF_DIR_OK;
	app = json_deep_copy(stored);
	return hand_over(&app, out);
}

/*
 * 1 when s is a URI's text: visible ASCII, at most AF_DIR_URI_MAX bytes,
 * and none only when empty_ok. Redirect URIs are compared as exact
 * strings; only visible ASCII can be compared without surprises.
 */
static int uri_text_ok(const char *s, int empty_ok)
{
	size_t n = s != NULL ? strnlen(s, AF_DIR_URI_MAX + 1) : 0;
	int ok = s != NULL && (n > 0 || empty_ok) && n <= AF_DIR_URI_MAX;

	for (size_t j = 0; ok && j < n; j++)
		ok = s[j] > 0x20 && s[j] < 0x7f;
	return ok;
}

/*
 * Duplicates are dropped before the count is checked, so that a list
 * holding one URI many times (pasted twice, generated) is taken as the
 * docs say. A list that grows past the limit stops at once: the work is
 * bounded by the limit, not by the length of what came in.
 */
static af_dir_status check_uris(const char *field, const json_t *v, size_t min,
				json_t **out, char *err, size_t errlen)
{
	af_dir_status rc = AF_DIR_OK;
	json_t *res, *u;
	int too_many = 0;
	size_t i;

	*out = NULL;
	res = json_array();
	if (res == NULL)
		return AF_DIR_NOMEM;
	/* Nothing to walk when v is not an array: refused below. */
	json_array_foreach(v, i, u)
	{
		const char *s = json_string_value(u);

		if (!uri_text_ok(s, 0)) {
			af_dir__err(err, errlen,
				    "%s: each must be 1..%d visible ASCII "
				    "characters",
				    field, AF_DIR_URI_MAX);
			rc = AF_DIR_INVALID;
			goto out;
		}
		if (af_dir__array_has(res, s))
			continue;
		if (json_array_size(res) >= AF_DIR_URIS_MAX) {
			too_many = 1;
			break;
		}
		if (json_array_append_new(res, json_string(s)) != 0) {
			rc = AF_DIR_NOMEM;
			goto out;
		}
	}
	if (!json_is_array(v) || too_many || json_array_size(res) < min) {
		af_dir__err(err, errlen,
			    "%s: must be an array of %zu..%d distinct URIs",
			    field, min, AF_DIR_URIS_MAX);
		rc = AF_DIR_INVALID;
		goto out;
	}
	*out = res;
	res = NULL;
out:
	json_decref(res);
	return rc;
}

static int claim_name_ok(const char *k)
{
	size_t n = strnlen(k, AF_DIR_CLAIM_NAME_MAX + 1);

	if (n == 0 || n > AF_DIR_CLAIM_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

static af_dir_status check_claims(const json_t *v, char *err, size_t errlen)
{
	const char *k;
	json_t *src;

	if (!json_is_object(v) || json_object_size(v) > AF_DIR_CLAIMS_MAX) {
		af_dir__err(err, errlen,
			    "claims: must be an object of at most %d claims",
			    AF_DIR_CLAIMS_MAX);
		return AF_DIR_INVALID;
	}
	json_object_foreach(af_dir__iterable(v), k, src)
	{
		const char *s = json_string_value(src);

		if (!claim_name_ok(k)) {
			af_dir__err(err, errlen,
				    "claims: names are 1..%d characters of "
				    "A-Z a-z 0-9 _ . : -",
				    AF_DIR_CLAIM_NAME_MAX);
			return AF_DIR_INVALID;
		}
		if (in_list(k, reserved_claims, COUNT(reserved_claims))) {
			af_dir__err(err, errlen,
				    "claims.%s: set by the provider itself", k);
			return AF_DIR_INVALID;
		}
		if (s == NULL ||
		    !in_list(s, claim_sources, COUNT(claim_sources))) {
			char names[256] = "";
			size_t n = 0;

			for (size_t i = 0;
			     i < COUNT(claim_sources) && n < sizeof(names); i++)
				n += (size_t)snprintf(
					names + n, sizeof(names) - n, "%s%s",
					i > 0 ? ", " : "", claim_sources[i]);
			af_dir__err(err, errlen, "claims.%s: must be one of %s",
				    k, names);
			return AF_DIR_INVALID;
		}
	}
	return AF_DIR_OK;
}

/* 1 when a deployment names no domain, OU, group or user. */
static int lists_empty(const json_t *dep)
{
	for (size_t i = 0; i < N_LISTS; i++) {
		if (json_array_size(json_object_get(dep, deploy_lists[i])) > 0)
			return 0;
	}
	return 1;
}

static af_dir_status check_deployment(af_dir *dir, const json_t *v,
				      json_t **out, char *err, size_t errlen)
{
	static const char *const modes[] = {"none", "all", "chosen"};
	char field[32];
	af_dir_status rc = AF_DIR_OK;
	const char *mode, *k;
	json_t *norm, *lv;

	*out = NULL;
	if (!json_is_object(v)) {
		af_dir__err(err, errlen, "deployment: must be an object");
		return AF_DIR_INVALID;
	}
	mode = json_string_value(json_object_get(v, "mode"));
	if (mode == NULL || !in_list(mode, modes, COUNT(modes))) {
		af_dir__err(err, errlen,
			    "deployment.mode: must be none, all or chosen");
		return AF_DIR_INVALID;
	}
	norm = json_pack("{s:s, s:[], s:[], s:[], s:[]}", "mode", mode,
			 "domains", "ous", "groups", "users");
	if (norm == NULL)
		return AF_DIR_NOMEM;
	json_object_foreach(af_dir__iterable(v), k, lv)
	{
		json_t *names = NULL;
		size_t i;

		if (strcmp(k, "mode") == 0)
			continue;
		for (i = 0; i < N_LISTS; i++) {
			if (strcmp(k, deploy_lists[i]) == 0)
				break;
		}
		if (i == N_LISTS) {
			af_dir__err(err, errlen,
				    "deployment.%.32s: unknown field", k);
			rc = AF_DIR_INVALID;
			break;
		}
		rc = af_dir__key(field, sizeof(field), "deployment.", k);
		if (rc == AF_DIR_OK)
			rc = af_dir__names(dir, field, lv, deploy_kinds[i],
					   AF_DIR_ASSIGNED_MAX, &names, err,
					   errlen);
		if (rc == AF_DIR_OK)
			rc = af_dir__set_new(norm, k, names);
		if (rc != AF_DIR_OK)
			break;
	}
	/*
	 * Names are only read in mode chosen. Stored beside none or all they
	 * would grant nothing and show nowhere, until a later deploy turned
	 * the mode to chosen and handed them access unseen (and with an
	 * audit event naming only the new target).
	 */
	if (rc == AF_DIR_OK && strcmp(mode, "chosen") != 0 &&
	    !lists_empty(norm)) {
		af_dir__err(err, errlen,
			    "deployment: domains, ous, groups and users go "
			    "only with mode chosen, not with mode %s",
			    mode);
		rc = AF_DIR_INVALID;
	}
	/* Chosen with no names reaches nobody: that is mode none. */
	if (rc == AF_DIR_OK && strcmp(mode, "chosen") == 0 && lists_empty(norm))
		rc = af_dir__set_new(norm, "mode", json_string("none"));
	if (rc != AF_DIR_OK) {
		json_decref(norm);
		return rc;
	}
	*out = norm;
	return AF_DIR_OK;
}

/*
 * The URI logout tokens go to (oidc/bclogout.h): 1..AF_DIR_URI_MAX visible
 * ASCII characters, or "" for none, kept as null so that an update drops
 * it (the admin API checks the URI's form, as for redirect URIs).
 */
static af_dir_status check_bcl_uri(const char *field, const json_t *v,
				   json_t **out, char *err, size_t errlen)
{
	const char *s = json_string_value(v);

	if (!uri_text_ok(s, 1)) {
		af_dir__err(err, errlen,
			    "%s: must be a URI of at most %d visible ASCII "
			    "characters, or \"\" for none",
			    field, AF_DIR_URI_MAX);
		return AF_DIR_INVALID;
	}
	*out = s[0] == '\0' ? json_null() : json_string(s);
	return *out != NULL ? AF_DIR_OK : AF_DIR_NOMEM;
}

/* Checks one member of an app spec or patch into norm. */
static af_dir_status app_field(af_dir *dir, const char *k, const json_t *v,
			       json_t *norm, char *err, size_t errlen)
{
	json_t *copy = NULL;
	af_dir_status rc;

	if (strcmp(k, "name") == 0) {
		rc = af_dir_check_name(k, json_string_value(v), err, errlen);
		if (rc == AF_DIR_OK)
			rc = af_dir__check_not_dots(k, json_string_value(v),
						    err, errlen);
	} else if (strcmp(k, "display_name") == 0) {
		rc = af_dir_check_display(k, json_string_value(v),
					  AF_DIR_DISPLAY_MAX, err, errlen);
	} else if (strcmp(k, "redirect_uris") == 0 ||
		   strcmp(k, "post_logout_uris") == 0) {
		rc = check_uris(k, v, k[0] == 'r' ? 1 : 0, &copy, err, errlen);
	} else if (strcmp(k, "backchannel_logout_uri") == 0) {
		rc = check_bcl_uri(k, v, &copy, err, errlen);
	} else if (strcmp(k, "enabled") == 0 ||
		   strcmp(k, "allow_refresh") == 0 ||
		   strcmp(k, "admins_may_deploy") == 0) {
		rc = json_is_boolean(v) ? AF_DIR_OK : AF_DIR_INVALID;
		if (rc != AF_DIR_OK)
			af_dir__err(err, errlen, "%s: must be true or false",
				    k);
	} else if (strcmp(k, "refresh_grace_seconds") == 0) {
		rc = json_is_integer(v) && json_integer_value(v) >= 0 &&
				     json_integer_value(v) <=
					     AF_DIR_RT_GRACE_MAX
			     ? AF_DIR_OK
			     : AF_DIR_INVALID;
		if (rc != AF_DIR_OK)
			af_dir__err(err, errlen,
				    "%s: must be a number of seconds 0..%d", k,
				    AF_DIR_RT_GRACE_MAX);
	} else if (strcmp(k, "claims") == 0) {
		rc = check_claims(v, err, errlen);
	} else if (strcmp(k, "access_token_format") == 0) {
		const char *s = json_string_value(v);

		rc = s != NULL && (strcmp(s, "opaque") == 0 ||
				   strcmp(s, "jwt") == 0)
			     ? AF_DIR_OK
			     : AF_DIR_INVALID;
		if (rc != AF_DIR_OK)
			af_dir__err(err, errlen, "%s: must be opaque or jwt",
				    k);
	} else if (strcmp(k, "deployment") == 0) {
		rc = check_deployment(dir, v, &copy, err, errlen);
	} else if (strcmp(k, "client_id") == 0 ||
		   strcmp(k, "secret_sha256") == 0 ||
		   strcmp(k, "client_secret") == 0 ||
		   strcmp(k, "previous_secret_sha256") == 0 ||
		   strcmp(k, "previous_secret_until") == 0 ||
		   strcmp(k, "created_at") == 0 ||
		   strcmp(k, "updated_at") == 0) {
		af_dir__err(err, errlen, "%s: cannot be set here", k);
		rc = AF_DIR_INVALID;
	} else {
		af_dir__err(err, errlen, "%.64s: unknown field", k);
		rc = AF_DIR_INVALID;
	}
	if (rc != AF_DIR_OK)
		return rc;
	if (copy == NULL)
		copy = json_deep_copy(v);
	return af_dir__set_new(norm, k, copy);
}

static af_dir_status app_fields(af_dir *dir, const json_t *spec, int adding,
				json_t **out, char *err, size_t errlen)
{
	af_dir_status rc = AF_DIR_OK;
	json_t *norm, *v;
	const char *k;

	*out = NULL;
	if (!json_is_object(spec)) {
		af_dir__err(err, errlen, "app: must be a JSON object");
		return AF_DIR_INVALID;
	}
	norm = json_object();
	if (norm == NULL)
		return AF_DIR_NOMEM;
	json_object_foreach(af_dir__iterable(spec), k, v)
	{
		rc = app_field(dir, k, v, norm, err, errlen);
		if (rc != AF_DIR_OK)
			break;
	}
	if (rc == AF_DIR_OK && adding) {
		if (json_object_get(norm, "name") == NULL) {
			af_dir__err(err, errlen, "name: required");
			rc = AF_DIR_INVALID;
		} else if (json_object_get(norm, "redirect_uris") == NULL) {
			af_dir__err(err, errlen, "redirect_uris: required");
			rc = AF_DIR_INVALID;
		}
	}
	if (rc != AF_DIR_OK) {
		json_decref(norm);
		return rc;
	}
	*out = norm;
	return AF_DIR_OK;
}

static af_dir_status merge_fn(json_t *app, void *arg)
{
	const json_t *norm = arg;
	json_t *v;
	const char *k;

	json_object_foreach(af_dir__iterable(norm), k, v)
	{
		/* A member set to null is dropped (check_bcl_uri()). */
		if (json_is_null(v))
			json_object_del(app, k);
		else if (af_dir__set_new(app, k, json_deep_copy(v)) !=
			 AF_DIR_OK)
			return AF_DIR_NOMEM;
	}
	return af_dir__set_new(app, "updated_at", json_integer(af_now()));
}

/* A new secret into secret and its SHA-256 in hex into hash. */
static af_dir_status new_secret(char *secret, size_t secretcap, char hash[65])
{
	if (secret == NULL || secretcap < AF_DIR_SECRET_BUF)
		return AF_DIR_INVALID;
	if (af_random_token(SECRET_RANDOM, secret, secretcap) != 0) {
		OPENSSL_cleanse(secret, secretcap);
		return AF_DIR_CRYPTO;
	}
	af_sha256_hex(secret, strlen(secret), hash);
	return AF_DIR_OK;
}

/*
 * App names: "app_name:<name>" holds the client id of the app of that
 * name. A create or a rename first takes the name with a lease (a TTL of
 * NAME_LEASE_MS), writes the profile, then makes the mapping permanent
 * (name_keep()); a removal or a rename lets it go last (release_name()).
 * So a step cut short (a crash, a store that refuses a write) never keeps
 * a name taken for good:
 * - a lease left behind runs out by itself;
 * - a permanent mapping left behind names an app that is gone or that
 *   now has another name: claim_name() takes it over (take_stale()).
 * A mapping under lease belongs to a create or rename under way and is
 * never taken over.
 */
#define NAME_LEASE_MS 60000

static af_dir_status name_key(char *key, size_t cap, const char *name)
{
	return af_dir__key(key, cap, "app_name:", name);
}

/*
 * Takes over the mapping at key (for name) when it is left behind:
 * AF_DIR_OK (taken, under lease, for client_id), AF_DIR_EXISTS (the name
 * is an app's, or being taken), AF_DIR_CONFLICT (it changed meanwhile:
 * try again) or a store failure.
 */
static af_dir_status take_stale(af_dir *dir, const char *key, const char *name,
				const char *client_id)
{
	char appkey[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	json_t *app = NULL;
	uint64_t ttl = 0;
	af_dir_status rc;

	rc = af_dir__from_store(store_ttl(af_dir_store(dir), key, &ttl));
	if (rc == AF_DIR_OK && ttl > 0)
		rc = AF_DIR_EXISTS;
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_get(af_dir_store(dir), key, &v));
	if (rc == AF_DIR_NOT_FOUND) {
		rc = AF_DIR_CONFLICT; /* gone meanwhile */
		goto out;
	}
	if (rc != AF_DIR_OK)
		goto out;
	rc = app_key(appkey, sizeof(appkey), (const char *)v.data);
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, appkey, &app, NULL);
	if (rc == AF_DIR_OK) {
		const char *has =
			json_string_value(json_object_get(app, "name"));

		if (has != NULL && strcmp(has, name) == 0) {
			rc = AF_DIR_EXISTS;
			goto out;
		}
	} else if (rc != AF_DIR_NOT_FOUND) {
		goto out;
	}
	rc = af_dir__from_store(store_cas(af_dir_store(dir), key, v.data, v.len,
					  client_id, strlen(client_id),
					  NAME_LEASE_MS));
	if (rc == AF_DIR_NOT_FOUND)
		rc = AF_DIR_CONFLICT;
out:
	store_value_free(&v);
	json_decref(app);
	return rc;
}

/*
 * AF_DIR_EXISTS (said in err) when another profile than client_id's has a
 * name that differs from name only in case: `app deploy Payroll` and
 * `app deploy payroll` would reach different profiles. Groups, OUs and
 * policies refuse such twins alike (af_dir__case_twin()).
 */
static af_dir_status name_twin(af_dir *dir, const char *name,
			       const char *client_id, char *err, size_t errlen)
{
	json_t *apps = NULL, *a;
	af_dir_status rc;
	size_t i;

	rc = af_dir__list(dir, "apps", "app:", &apps);
	if (rc != AF_DIR_OK)
		return rc;
	json_array_foreach(apps, i, a)
	{
		const char *n = json_string_value(json_object_get(a, "name"));
		const char *id =
			json_string_value(json_object_get(a, "client_id"));

		if (n == NULL || id == NULL || strcmp(id, client_id) == 0 ||
		    strcasecmp(n, name) != 0 || strcmp(n, name) == 0)
			continue;
		af_dir__err(err, errlen,
			    "name: an app named \"%s\" exists; names that "
			    "differ only in case would be mistaken for each "
			    "other",
			    n);
		rc = AF_DIR_EXISTS;
		break;
	}
	json_decref(apps);
	return rc;
}

/*
 * Takes name for client_id, under lease, if it is free. A name shaped
 * like a client id is refused: the admin API and authflowctl take either,
 * client id first, so such a name would reach another app's profile.
 */
static af_dir_status claim_name(af_dir *dir, const char *name,
				const char *client_id, char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;
	int tries;

	if (app_key(key, sizeof(key), name) == AF_DIR_OK) {
		af_dir__err(err, errlen,
			    "name: \"%s\" has the form of a client id; choose "
			    "another name",
			    name);
		return AF_DIR_INVALID;
	}
	rc = name_twin(dir, name, client_id, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = name_key(key, sizeof(key), name);
	for (tries = 0; rc == AF_DIR_OK && tries < AF_DIR__CAS_TRIES; tries++) {
		rc = af_dir__from_store(store_set(af_dir_store(dir), key,
						  client_id, strlen(client_id),
						  NAME_LEASE_MS, STORE_SET_NX));
		if (rc != AF_DIR_EXISTS)
			break;
		rc = take_stale(dir, key, name, client_id);
		if (rc != AF_DIR_CONFLICT)
			break;
		rc = AF_DIR_OK;
	}
	if (rc == AF_DIR_OK && tries == AF_DIR__CAS_TRIES)
		rc = AF_DIR_CONFLICT;
	if (rc == AF_DIR_EXISTS)
		af_dir__err(err, errlen, "name: an app named \"%s\" exists",
			    name);
	return rc;
}

/*
 * Whether the mapping of name names client_id: AF_DIR_OK, AF_DIR_NOT_FOUND
 * (no mapping, or another app's) or a store failure; its key into key.
 */
static af_dir_status names_app(af_dir *dir, const char *name,
			       const char *client_id, char *key, size_t cap)
{
	store_value v = {NULL, 0};
	af_dir_status rc;

	rc = name_key(key, cap, name);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_get(af_dir_store(dir), key, &v));
	if (rc == AF_DIR_OK && (v.len != strlen(client_id) ||
				memcmp(v.data, client_id, v.len) != 0))
		rc = AF_DIR_NOT_FOUND;
	store_value_free(&v);
	return rc;
}

/*
 * Makes the lease on name permanent, once the profile has the name.
 * AF_DIR_CONFLICT when the lease ran out and the name went elsewhere.
 * (Between the read and the write below the lease would have to run
 * out: a minute's stall between two store calls.)
 */
static af_dir_status name_keep(af_dir *dir, const char *name,
			       const char *client_id)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;

	rc = names_app(dir, name, client_id, key, sizeof(key));
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_set(af_dir_store(dir), key,
						  client_id, strlen(client_id),
						  0, STORE_SET_XX));
	return rc == AF_DIR_NOT_FOUND ? AF_DIR_CONFLICT : rc;
}

/*
 * Drops the name mapping, but only while it still names client_id: a
 * lease that ran out may have gone to another create or rename meanwhile
 * (take_stale()).
 */
static af_dir_status release_name(af_dir *dir, const char *name,
				  const char *client_id)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;
	store_status ss;

	if (name == NULL)
		return AF_DIR_OK;
	rc = name_key(key, sizeof(key), name);
	if (rc != AF_DIR_OK)
		return rc;
	ss = store_del_if(af_dir_store(dir), key, client_id, strlen(client_id));
	return ss == STORE_CONFLICT || ss == STORE_NOT_FOUND
		       ? AF_DIR_OK
		       : af_dir__from_store(ss);
}

/*
 * Mends the name mapping of one app against its profile: 1 when the
 * mapping was made to name it for good, 0 when it did already (or the app
 * is gone, or another create or rename holds the name under lease), 2
 * when another app of the same name holds it (told through fn), or a
 * negative af_dir_status.
 */
static int mend_name(af_dir *dir, const char *client_id, af_dir_name_mend_fn fn,
		     void *arg)
{
	char key[STORE_KEY_MAX], nkey[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	json_t *app = NULL, *other = NULL;
	const char *name, *has;
	uint64_t ttl = 0;
	af_dir_status rc;
	int tries, res = 0;

	rc = app_key(key, sizeof(key), client_id);
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, &app, NULL);
	if (rc == AF_DIR_NOT_FOUND || rc == AF_DIR_INVALID)
		return 0; /* gone meanwhile, or not an app's id */
	if (rc != AF_DIR_OK)
		return (int)rc;
	name = json_string_value(json_object_get(app, "name"));
	rc = name != NULL ? name_key(nkey, sizeof(nkey), name) : AF_DIR_INVALID;
	for (tries = 0; rc == AF_DIR_OK && tries < AF_DIR__CAS_TRIES; tries++) {
		store_value_free(&v);
		rc = af_dir__from_store(store_get(af_dir_store(dir), nkey, &v));
		if (rc == AF_DIR_NOT_FOUND) {
			/* A create cut short after its lease ran out. */
			rc = af_dir__from_store(
				store_set(af_dir_store(dir), nkey, client_id,
					  strlen(client_id), 0, STORE_SET_NX));
			if (rc == AF_DIR_EXISTS) {
				rc = AF_DIR_OK;
				continue;
			}
			res = 1;
			break;
		}
		if (rc == AF_DIR_OK)
			rc = af_dir__from_store(
				store_ttl(af_dir_store(dir), nkey, &ttl));
		if (rc == AF_DIR_NOT_FOUND) {
			rc = AF_DIR_OK;
			continue;
		}
		if (rc != AF_DIR_OK)
			break;
		if (v.len == strlen(client_id) &&
		    memcmp(v.data, client_id, v.len) == 0) {
			/*
			 * Its own lease: the profile has the name, so the
			 * create or rename got as far as name_keep(), which
			 * this does for it (a step under way elsewhere
			 * does the same write again).
			 */
			if (ttl == 0)
				break;
			rc = af_dir__from_store(
				store_set(af_dir_store(dir), nkey, client_id,
					  strlen(client_id), 0, STORE_SET_XX));
			if (rc == AF_DIR_NOT_FOUND) {
				rc = AF_DIR_OK;
				continue;
			}
			res = 1;
			break;
		}
		if (ttl > 0)
			break; /* another app's create or rename under way */
		rc = app_key(key, sizeof(key), (const char *)v.data);
		json_decref(other);
		other = NULL;
		if (rc == AF_DIR_OK)
			rc = af_dir__get_json(dir, key, &other, NULL);
		has = json_string_value(json_object_get(other, "name"));
		if (rc == AF_DIR_OK && has != NULL && strcmp(has, name) == 0) {
			if (fn != NULL)
				fn(arg, client_id, name, (const char *)v.data);
			res = 2;
			break;
		}
		if (rc != AF_DIR_OK && rc != AF_DIR_NOT_FOUND &&
		    rc != AF_DIR_INVALID)
			break;
		/* Left behind by an app gone or renamed: it is this one's. */
		rc = af_dir__from_store(store_cas(af_dir_store(dir), nkey,
						  v.data, v.len, client_id,
						  strlen(client_id), 0));
		if (rc == AF_DIR_CONFLICT || rc == AF_DIR_NOT_FOUND) {
			rc = AF_DIR_OK;
			continue;
		}
		res = 1;
		break;
	}
	if (res == 1 && rc == AF_DIR_OK && fn != NULL)
		fn(arg, client_id, name, NULL);
	store_value_free(&v);
	json_decref(other);
	json_decref(app);
	if (rc == AF_DIR_INVALID)
		return 0; /* a profile without a usable name: nothing to keep */
	return rc == AF_DIR_OK ? res : (int)rc;
}

af_dir_status af_dir_app_names_mend(af_dir *dir, int (*stop)(void *arg),
				    void *arg, af_dir_name_mend_fn fn,
				    void *fnarg, size_t *apps, size_t *mended)
{
	json_t *ids = NULL, *v;
	af_dir_status rc;
	size_t i;
	int r;

	if (apps == NULL || mended == NULL)
		return AF_DIR_INVALID;
	*apps = 0;
	*mended = 0;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__members(dir, "apps", &ids);
	json_array_foreach(ids, i, v)
	{
		if (rc != AF_DIR_OK || (stop != NULL && stop(arg)))
			break;
		r = mend_name(dir, json_string_value(v), fn, fnarg);
		if (r < 0) {
			rc = (af_dir_status)r;
			break;
		}
		(*apps)++;
		if (r == 1)
			(*mended)++;
	}
	json_decref(ids);
	return rc;
}

/*
 * The audit event of a change that made a client secret valid: once the
 * hash is stored, the secret is the only way in, and wiping it because the
 * trail failed would lock the application out with nobody knowing the
 * secret that works. So a failed event is AF_DIR_UNAUDITED, on which the
 * caller hands the secret out and says the trail missed it (the event
 * still reaches the log through the audit sink).
 */
static af_dir_status stored_then_audit(af_dir *dir, const char *actor,
				       const char *action, const char *target,
				       const json_t *detail, char *err,
				       size_t errlen)
{
	if (af_dir__audit(dir, actor, action, target, detail, err, errlen) !=
	    AF_DIR_OK)
		return AF_DIR_UNAUDITED;
	return AF_DIR_OK;
}

af_dir_status af_dir_app_add(af_dir *dir, const char *actor, const json_t *spec,
			     json_t **out, char *secret, size_t secretcap,
			     char *err, size_t errlen)
{
	char client_id[AF_DIR_CLIENT_ID_BUF], key[STORE_KEY_MAX], hash[65];
	json_t *norm = NULL, *app = NULL;
	const char *name;
	int name_claimed = 0, written = 0;
	af_dir_status rc;
	size_t count = 0;

	if (out != NULL)
		*out = NULL;
	if (secret == NULL || secretcap < AF_DIR_SECRET_BUF)
		return AF_DIR_INVALID;
	secret[0] = '\0';
	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = app_fields(dir, spec, 1, &norm, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	name = json_string_value(json_object_get(norm, "name"));
	rc = af_dir__count(dir, "apps", AF_DIR_APPS_MAX, &count);
	if (rc != AF_DIR_OK)
		goto out;
	if (count >= AF_DIR_APPS_MAX) {
		af_dir__err(err, errlen, "apps: at most %d", AF_DIR_APPS_MAX);
		rc = AF_DIR_LIMIT;
		goto out;
	}
	memcpy(client_id, CLIENT_ID_PREFIX, strlen(CLIENT_ID_PREFIX));
	if (af_random_token(
		    CLIENT_ID_RANDOM, client_id + strlen(CLIENT_ID_PREFIX),
		    sizeof(client_id) - strlen(CLIENT_ID_PREFIX)) != 0) {
		rc = AF_DIR_CRYPTO;
		goto out;
	}
	rc = app_key(key, sizeof(key), client_id);
	if (rc == AF_DIR_OK)
		rc = new_secret(secret, secretcap, hash);
	if (rc != AF_DIR_OK)
		goto out;
	app = json_pack("{s:s, s:s, s:s, s:[], s:b, s:{}, s:s, s:b, s:i, "
			"s:{s:s, s:[], s:[], s:[], s:[]}, s:b, s:I}",
			"client_id", client_id, "display_name", name,
			"secret_sha256", hash, "post_logout_uris", "enabled", 1,
			"claims", "access_token_format", "opaque",
			"allow_refresh", 0, "refresh_grace_seconds", 0,
			"deployment", "mode", "none", "domains", "ous",
			"groups", "users", "admins_may_deploy", 0, "created_at",
			(json_int_t)af_now());
	if (app == NULL) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	rc = merge_fn(app, norm);
	if (rc != AF_DIR_OK)
		goto out;
	/*
	 * The name under lease, the profile indexed and written, the name
	 * kept: see claim_name() and af_dir__index_drop().
	 */
	rc = claim_name(dir, name, client_id, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	name_claimed = 1;
	rc = af_dir__from_store(
		store_sadd(af_dir_store(dir), "apps", client_id));
	if (rc == AF_DIR_OK)
		rc = af_dir__put_json(dir, key, app, STORE_SET_NX);
	if (rc != AF_DIR_OK)
		goto out;
	written = 1;
	rc = name_keep(dir, name, client_id);
	if (rc == AF_DIR_CONFLICT)
		af_dir__err(err, errlen,
			    "name: \"%s\" was taken meanwhile; try again",
			    name);
	if (rc != AF_DIR_OK)
		goto out;
	name_claimed = 0;
	written = 0;
	rc = stored_then_audit(dir, actor, "app.add", client_id, norm, err,
			       errlen);
	if (rc == AF_DIR_OK || rc == AF_DIR_UNAUDITED) {
		af_dir_status r = hand_out(app, out);

		if (r != AF_DIR_OK)
			rc = r;
	}
out:
	/*
	 * Undone as far as the store lets: the secret is wiped below, so a
	 * profile left behind could never be used, and it stays listed
	 * for removal.
	 */
	if (written && store_del(af_dir_store(dir), key) == STORE_OK)
		af_dir__index_drop(dir, "apps", client_id, key);
	else if (written)
		af_dir__err(err, errlen,
			    "the app was not made, but its profile %s could "
			    "not be taken back out of the store: remove it "
			    "(authflowctl app remove %s)",
			    client_id, client_id);
	if (name_claimed) {
		af_dir_status r = release_name(dir, name, client_id);

		(void)r; /* best effort; the error above is what counts */
	}
	if (rc != AF_DIR_OK && rc != AF_DIR_UNAUDITED && secret != NULL)
		OPENSSL_cleanse(secret, secretcap);
	json_decref(norm);
	json_decref(app);
	return rc;
}

af_dir_status af_dir_app_set(af_dir *dir, const char *actor,
			     const char *client_id, const json_t *patch,
			     json_t **out, char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	json_t *norm = NULL, *before = NULL, *after = NULL, *detail;
	const char *newname, *oldname;
	int claimed = 0;
	af_dir_status rc, kept = AF_DIR_OK;

	if (out != NULL)
		*out = NULL;
	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = app_key(key, sizeof(key), client_id);
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen, "client_id: no such app");
		return rc;
	}
	rc = app_fields(dir, patch, 0, &norm, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__get_json(dir, key, &before, NULL);
	if (rc != AF_DIR_OK)
		goto out;
	newname = json_string_value(json_object_get(norm, "name"));
	oldname = json_string_value(json_object_get(before, "name"));
	if (newname != NULL &&
	    (oldname == NULL || strcmp(newname, oldname) != 0)) {
		rc = claim_name(dir, newname, client_id, err, errlen);
		if (rc != AF_DIR_OK)
			goto out;
		claimed = 1;
	}
	json_decref(before);
	before = NULL;
	rc = af_dir__update(dir, key, merge_fn, norm, &after, &before);
	if (rc != AF_DIR_OK)
		goto out;
	oldname = json_string_value(json_object_get(before, "name"));
	if (claimed) {
		/* The profile has the new name: keep it, whatever comes. */
		kept = name_keep(dir, newname, client_id);
		claimed = 0;
	}
	/* The profile changed: that is recorded, whatever follows. */
	detail = af_dir__change_detail(norm, before, AF_DIR_UNSET_NULL, NULL);
	rc = af_dir__audit(dir, actor, "app.set", client_id,
			   detail != NULL ? detail : norm, err, errlen);
	json_decref(detail);
	if (rc == AF_DIR_OK && kept == AF_DIR_CONFLICT)
		af_dir__err(err, errlen,
			    "name: \"%s\" was taken meanwhile; give the app "
			    "another name",
			    newname);
	if (rc == AF_DIR_OK)
		rc = kept;
	/* Best effort: a mapping left to the old name is taken when stale. */
	if (rc == AF_DIR_OK && newname != NULL && oldname != NULL &&
	    strcmp(newname, oldname) != 0) {
		af_dir_status r = release_name(dir, oldname, client_id);

		(void)r;
	}
	if (rc == AF_DIR_OK)
		rc = hand_out(after, out);
out:
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "client_id: no such app");
	if (claimed) {
		af_dir_status r = release_name(dir, newname, client_id);

		(void)r; /* best effort; the error above is what counts */
	}
	json_decref(norm);
	json_decref(before);
	json_decref(after);
	return rc;
}

/*
 * What the app.remove event keeps of the profile: enough to see what was
 * lost and to set it up again. Chosen member by member, so that the hash
 * of the client secret, or anything added to profiles later, never
 * reaches the trail by default.
 */
static const char *const removed_app_members[] = {
	"name",	      "display_name", "redirect_uris", "post_logout_uris",
	"deployment", NULL,
};

af_dir_status af_dir_app_remove(af_dir *dir, const char *actor,
				const char *client_id, char *err, size_t errlen)
{
	char key[STORE_KEY_MAX];
	json_t *app = NULL, *detail = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK)
		return AF_DIR_INVALID;
	rc = app_key(key, sizeof(key), client_id);
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json(dir, key, &app, NULL);
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__removed_detail(app, removed_app_members, &detail);
	if (rc == AF_DIR_OK)
		rc = af_dir__audit_removal(dir, actor, "app.remove", client_id,
					   detail, err, errlen);
	if (rc != AF_DIR_OK)
		goto out;
	rc = af_dir__from_store(store_del(af_dir_store(dir), key));
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen,
			    "the removal of application \"%s\" is incomplete "
			    "(%s): remove it again to finish",
			    client_id, af_dir_strerror(rc));
		goto out;
	}
	af_dir__index_drop(dir, "apps", client_id, key);
	/* Best effort: a mapping left to the name is taken when stale. */
	if (rc == AF_DIR_OK) {
		af_dir_status r = release_name(
			dir, json_string_value(json_object_get(app, "name")),
			client_id);

		(void)r;
	}
out:
	json_decref(detail);
	json_decref(app);
	return rc;
}

af_dir_status af_dir_app_get(af_dir *dir, const char *client_id, json_t **out)
{
	char key[STORE_KEY_MAX];
	json_t *app = NULL;
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = app_key(key, sizeof(key), client_id);
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json_shared(dir, key, &app);
	if (rc == AF_DIR_OK)
		rc = hand_view(&app, out);
	json_decref(app);
	return rc;
}

af_dir_status af_dir_app_get_by_name(af_dir *dir, const char *name,
				     json_t **out)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	const char *has;
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	if (af_dir_check_name("name", name, NULL, 0) != AF_DIR_OK)
		return AF_DIR_NOT_FOUND;
	rc = name_key(key, sizeof(key), name);
	if (rc == AF_DIR_OK)
		rc = af_dir__from_store(store_get(af_dir_store(dir), key, &v));
	if (rc == AF_DIR_OK)
		rc = af_dir_app_get(dir, (const char *)v.data, out);
	store_value_free(&v);
	/* A mapping left behind by a rename cut short names another app. */
	if (rc == AF_DIR_OK) {
		has = json_string_value(json_object_get(*out, "name"));
		if (has == NULL || strcmp(has, name) != 0) {
			json_decref(*out);
			*out = NULL;
			rc = AF_DIR_NOT_FOUND;
		}
	}
	return rc;
}

af_dir_status af_dir_app_list(af_dir *dir, json_t **out)
{
	int64_t now = af_now();
	json_t *arr = NULL, *v;
	af_dir_status rc;
	size_t i;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__list(dir, "apps", "app:", &arr);
	if (rc == AF_DIR_OK)
		rc = af_dir__sort(arr, "name");
	if (rc != AF_DIR_OK)
		goto out;
	json_array_foreach(arr, i, v)
	{
		rc = strip_secrets(v, now);
		if (rc != AF_DIR_OK)
			goto out;
	}
	*out = arr;
	arr = NULL;
out:
	json_decref(arr);
	return rc;
}

/* A rotation: the new secret's hash, and until when the old one works. */
struct rotation {
	const char *hash;
	int64_t now;
	int64_t until; /* 0: the old one stops at once */
	bool kept;     /* the old one was kept, until then */
};

static af_dir_status secret_fn(json_t *app, void *arg)
{
	struct rotation *r = arg;
	json_t *old = json_object_get(app, "secret_sha256");
	af_dir_status rc = AF_DIR_OK;

	/* Set anew on each try of the update. */
	r->kept = false;
	if (r->until > 0 && json_is_string(old)) {
		rc = af_dir__set_new(app, "previous_secret_sha256",
				     json_copy(old));
		if (rc == AF_DIR_OK)
			rc = af_dir__set_new(app, "previous_secret_until",
					     json_integer(r->until));
		r->kept = rc == AF_DIR_OK;
	} else {
		rc = drop(app, "previous_secret_sha256");
		if (rc == AF_DIR_OK)
			rc = drop(app, "previous_secret_until");
	}
	if (rc == AF_DIR_OK)
		rc = af_dir__set_new(app, "secret_sha256",
				     json_string(r->hash));
	if (rc == AF_DIR_OK)
		rc = af_dir__set_new(app, "updated_at", json_integer(r->now));
	return rc;
}

af_dir_status af_dir_app_rotate_secret(af_dir *dir, const char *actor,
				       const char *client_id, int64_t keep_s,
				       char *secret, size_t secretcap,
				       int64_t *until)
{
	char key[STORE_KEY_MAX], hash[65];
	struct rotation r = {hash, af_now(), 0, false};
	json_t *detail = NULL;
	af_dir_status rc;

	if (until != NULL)
		*until = 0;
	if (secret == NULL || secretcap < AF_DIR_SECRET_BUF)
		return AF_DIR_INVALID;
	secret[0] = '\0';
	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK ||
	    keep_s < 0 || keep_s > AF_DIR_SECRET_KEEP_MAX)
		return AF_DIR_INVALID;
	if (keep_s > 0)
		r.until = r.now + keep_s;
	rc = app_key(key, sizeof(key), client_id);
	if (rc == AF_DIR_OK)
		rc = new_secret(secret, secretcap, hash);
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, secret_fn, &r, NULL, NULL);
	/* What this rotation stored, whatever another one stores next. */
	if (rc == AF_DIR_OK && r.kept) {
		detail = json_pack("{s:I}", "previous_secret_until",
				   (json_int_t)r.until);
		if (until != NULL)
			*until = r.until;
	}
	if (rc == AF_DIR_OK)
		rc = stored_then_audit(dir, actor, "app.rotate_secret",
				       client_id, detail, NULL, 0);
	if (rc != AF_DIR_OK && rc != AF_DIR_UNAUDITED)
		OPENSSL_cleanse(secret, secretcap);
	json_decref(detail);
	return rc;
}

static af_dir_status drop_previous_fn(json_t *app, void *arg)
{
	const int64_t *now = arg;
	af_dir_status rc;

	if (!json_is_string(json_object_get(app, "previous_secret_sha256")) ||
	    json_integer_value(json_object_get(app, "previous_secret_until")) <=
		    *now)
		return AF_DIR_NOT_FOUND;
	rc = drop(app, "previous_secret_sha256");
	if (rc == AF_DIR_OK)
		rc = drop(app, "previous_secret_until");
	if (rc == AF_DIR_OK)
		rc = af_dir__set_new(app, "updated_at", json_integer(*now));
	return rc;
}

af_dir_status af_dir_app_drop_previous_secret(af_dir *dir, const char *actor,
					      const char *client_id)
{
	char key[STORE_KEY_MAX];
	int64_t now = af_now();
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK)
		return AF_DIR_INVALID;
	rc = app_key(key, sizeof(key), client_id);
	if (rc == AF_DIR_OK)
		rc = af_dir__update(dir, key, drop_previous_fn, &now, NULL,
				    NULL);
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, "app.drop_previous_secret",
				   client_id, NULL, NULL, 0);
	return rc;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The 64 hex digits of a stored SHA-256 into out; -1 when malformed. */
static int stored_digest(const char *hex, uint8_t out[32])
{
	if (hex == NULL || strlen(hex) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

af_dir_status af_dir_app_check_secret(af_dir *dir, const char *client_id,
				      const char *secret, json_t **out,
				      int *previous)
{
	char key[STORE_KEY_MAX];
	uint8_t want[32], old[32], got[32];
	json_t *app = NULL;
	af_dir_status rc;
	size_t n;
	int ok = 1, old_ok, kept;

	if (out != NULL)
		*out = NULL;
	if (previous != NULL)
		*previous = 0;
	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = app_key(key, sizeof(key), client_id);
	if (rc == AF_DIR_OK)
		rc = af_dir__get_json_shared(dir, key, &app);
	if (rc != AF_DIR_OK)
		return rc;
	if (stored_digest(
		    json_string_value(json_object_get(app, "secret_sha256")),
		    want) != 0) {
		rc = AF_DIR_STORE;
		goto out;
	}
	/* A secret a rotation replaced, while it is kept. */
	kept = json_integer_value(json_object_get(
		       app, "previous_secret_until")) > af_now() &&
	       stored_digest(json_string_value(json_object_get(
				     app, "previous_secret_sha256")),
			     old) == 0;
	n = secret != NULL ? strnlen(secret, AF_DIR_SECRET_IN_MAX + 1) : 0;
	if (n == 0 || n > AF_DIR_SECRET_IN_MAX)
		ok = 0;
	/* Digests of equal length, so the compare time says nothing about
	 * the secret's length or where it differs; both are compared. */
	af_sha256(ok ? secret : "", ok ? n : 0, got);
	old_ok =
		af_ct_equal(kept ? old : want, sizeof(old), got, sizeof(got)) &&
		kept && ok;
	ok = af_ct_equal(want, sizeof(want), got, sizeof(got)) && ok;
	if ((!ok && !old_ok) || !json_is_true(json_object_get(app, "enabled")))
		rc = AF_DIR_FORBIDDEN;
	else if (out != NULL)
		rc = hand_view(&app, out);
	if (rc == AF_DIR_OK && previous != NULL)
		*previous = !ok;
out:
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(old, sizeof(old));
	json_decref(app);
	return rc;
}

/*
 * Up to this many comparisons (entries of have times entries of list),
 * any_in() compares every pair; past it, it sorts have and looks each
 * entry of list up in it. A user may be in AF_DIR_MEMBERSHIPS_MAX groups
 * and an application deployed to AF_DIR_ASSIGNED_MAX: every pair would be
 * a quarter of a million comparisons, at each of the four checks of a
 * sign-in.
 */
#define ANY_IN_PAIRS_MAX 64

static int by_text(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when one of the strings of have is in list. */
static int any_in(const json_t *list, const json_t *have)
{
	const char *sorted[AF_DIR_MEMBERSHIPS_MAX];
	size_t i, n = 0;
	json_t *v;

	if (json_array_size(have) * json_array_size(list) <= ANY_IN_PAIRS_MAX ||
	    json_array_size(have) > AF_DIR_MEMBERSHIPS_MAX) {
		json_array_foreach(have, i, v)
		{
			if (af_dir__array_has(list, json_string_value(v)))
				return 1;
		}
		return 0;
	}
	json_array_foreach(have, i, v)
	{
		if (json_is_string(v))
			sorted[n++] = json_string_value(v);
	}
	qsort(sorted, n, sizeof(sorted[0]), by_text);
	json_array_foreach(list, i, v)
	{
		const char *name = json_string_value(v);

		if (name != NULL && bsearch(&name, sorted, n, sizeof(sorted[0]),
					    by_text) != NULL)
			return 1;
	}
	return 0;
}

int af_dir_app_deployed_to(const json_t *app, const json_t *user)
{
	const json_t *dep = json_object_get(app, "deployment");
	const char *mode = json_string_value(json_object_get(dep, "mode"));
	const char *domain = json_string_value(json_object_get(user, "domain"));

	if (mode == NULL || !json_is_true(json_object_get(app, "enabled")) ||
	    !json_is_true(json_object_get(user, "enabled")))
		return 0;
	if (strcmp(mode, "all") == 0)
		return 1;
	if (strcmp(mode, "chosen") != 0)
		return 0;
	return af_dir__array_has(
		       json_object_get(dep, "users"),
		       json_string_value(json_object_get(user, "username"))) ||
	       any_in(json_object_get(dep, "groups"),
		      json_object_get(user, "groups")) ||
	       any_in(json_object_get(dep, "ous"),
		      json_object_get(user, "ous")) ||
	       (domain != NULL &&
		af_dir__array_has(json_object_get(dep, "domains"), domain));
}

int af_dir_app_may_deploy(int role_is_superadmin, const json_t *app)
{
	if (role_is_superadmin)
		return 1;
	return json_is_true(json_object_get(app, "admins_may_deploy"));
}

/* One deployment change. */
typedef struct deploy_change {
	const char *field; /* NULL: every enabled user */
	const char *value;
	int add;
	unsigned flags; /* AF_DIR_DEPLOY_* */
} deploy_change;

static af_dir_status deploy_fn(json_t *app, void *arg)
{
	const deploy_change *c = arg;
	json_t *dep = json_object_get(app, "deployment");
	const char *mode;
	json_t *list;

	if (!json_is_object(dep))
		return AF_DIR_STORE;
	/* Read with the change, so a permission withdrawn meanwhile holds. */
	if ((c->flags & AF_DIR_DEPLOY_ADMIN) != 0 &&
	    !af_dir_app_may_deploy(0, app))
		return AF_DIR_FORBIDDEN;
	mode = json_string_value(json_object_get(dep, "mode"));
	if (mode == NULL)
		return AF_DIR_STORE;
	/*
	 * A profile deployed to nobody starts from empty lists: names that
	 * an older version stored beside mode none grant nothing now and
	 * must not start to when this change makes the mode chosen or all.
	 */
	if (c->add && strcmp(mode, "none") == 0) {
		for (size_t i = 0; i < N_LISTS; i++) {
			if (af_dir__set_new(dep, deploy_lists[i],
					    json_array()) != AF_DIR_OK)
				return AF_DIR_NOMEM;
		}
	}
	if (c->field == NULL) {
		/* Deployed to all already, or not: nothing to change. */
		if ((strcmp(mode, "all") == 0) == (c->add != 0))
			return AF_DIR_EXISTS;
		mode = c->add ? "all" : lists_empty(dep) ? "none" : "chosen";
	} else {
		list = json_object_get(dep, c->field);
		if (!json_is_array(list)) {
			list = json_array();
			if (af_dir__set_new(dep, c->field, list) != AF_DIR_OK)
				return AF_DIR_NOMEM;
		}
		if (!c->add) {
			if (!af_dir__array_drop(list, c->value))
				return AF_DIR_NOT_FOUND;
			if (strcmp(mode, "chosen") == 0 && lists_empty(dep))
				mode = "none";
		} else {
			if (af_dir__array_has(list, c->value))
				return AF_DIR_EXISTS;
			if (json_array_size(list) >= AF_DIR_ASSIGNED_MAX)
				return AF_DIR_LIMIT;
			if (json_array_append_new(list,
						  json_string(c->value)) != 0 ||
			    af_dir__sort(list, NULL) != AF_DIR_OK)
				return AF_DIR_NOMEM;
			if (strcmp(mode, "none") == 0)
				mode = "chosen";
		}
	}
	if (af_dir__set_new(dep, "mode", json_string(mode)) != AF_DIR_OK)
		return AF_DIR_NOMEM;
	return af_dir__set_new(app, "updated_at", json_integer(af_now()));
}

static af_dir_status deployment(af_dir *dir, const char *actor,
				const char *client_id, af_dir_target kind,
				const char *value, int add, unsigned flags,
				char *err, size_t errlen)
{
	char key[STORE_KEY_MAX], target[AF_DIR_DOMAIN_MAX + 1];
	deploy_change c = {af_dir__target_field(kind), target, add, flags};
	json_t *detail = NULL;
	af_dir_status rc;

	if (dir == NULL || af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = app_key(key, sizeof(key), client_id);
	if (rc != AF_DIR_OK) {
		af_dir__err(err, errlen, "client_id: no such app");
		return rc;
	}
	if (kind == AF_DIR_TARGET_ALL) {
		target[0] = '\0';
	} else if (add) {
		/* New targets must exist; dropped ones need only be well
		 * formed, so that stale names can still be removed. */
		rc = af_dir__name_of(dir, c.field, value, kind, target,
				     sizeof(target), err, errlen);
	} else {
		rc = kind == AF_DIR_TARGET_USER
			     ? af_dir_check_username(c.field, value, err,
						     errlen)
		     : kind == AF_DIR_TARGET_DOMAIN
			     ? af_dir_check_domain(c.field, value, err, errlen)
			     : af_dir_check_name(c.field, value, err, errlen);
		if (rc == AF_DIR_OK)
			rc = af_dir__key(target, sizeof(target), "", value);
		for (char *p = target;
		     rc == AF_DIR_OK && kind != AF_DIR_TARGET_GROUP &&
		     kind != AF_DIR_TARGET_OU && *p != '\0';
		     p++) {
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		}
	}
	if (rc != AF_DIR_OK)
		return rc;
	rc = af_dir__update(dir, key, deploy_fn, &c, NULL, NULL);
	/* Deploying twice, or undeploying what was not deployed, changes
	 * nothing and is not an error, as long as the app exists. */
	if (rc == AF_DIR_EXISTS)
		return AF_DIR_OK;
	if (rc == AF_DIR_NOT_FOUND && c.field != NULL) {
		store_value v = {NULL, 0};

		rc = af_dir__from_store(store_get(af_dir_store(dir), key, &v));
		store_value_free(&v);
		if (rc == AF_DIR_OK)
			return AF_DIR_OK;
	}
	if (rc == AF_DIR_NOT_FOUND)
		af_dir__err(err, errlen, "client_id: no such app");
	if (rc == AF_DIR_FORBIDDEN)
		af_dir__err(err, errlen,
			    "%s this application profile needs a superadmin "
			    "token (admins_may_deploy is off)",
			    add ? "deploying" : "undeploying");
	if (rc == AF_DIR_LIMIT)
		af_dir__err(err, errlen, "deployment.%s: at most %d", c.field,
			    AF_DIR_ASSIGNED_MAX);
	if (rc != AF_DIR_OK)
		return rc;
	detail = c.field != NULL ? json_pack("{s:s}", c.field, target)
				 : json_pack("{s:b}", "all", 1);
	rc = detail != NULL ? af_dir__audit(dir, actor,
					    add ? "app.deploy" : "app.undeploy",
					    client_id, detail, err, errlen)
			    : AF_DIR_NOMEM;
	json_decref(detail);
	if (add)
		af_dir__named_recheck(dir, actor, kind, target);
	return rc;
}

af_dir_status af_dir_app_deploy(af_dir *dir, const char *actor,
				const char *client_id, af_dir_target kind,
				const char *value, unsigned flags, char *err,
				size_t errlen)
{
	return deployment(dir, actor, client_id, kind, value, 1, flags, err,
			  errlen);
}

af_dir_status af_dir_app_undeploy(af_dir *dir, const char *actor,
				  const char *client_id, af_dir_target kind,
				  const char *value, unsigned flags, char *err,
				  size_t errlen)
{
	return deployment(dir, actor, client_id, kind, value, 0, flags, err,
			  errlen);
}

af_dir_status af_dir_app_held_by(af_dir *dir, af_dir_target kind,
				 const char *name, char *out, size_t cap)
{
	const char *field = af_dir__target_field(kind);
	json_t *apps = NULL, *a;
	af_dir_status rc = AF_DIR_NOT_FOUND;
	size_t i;

	if (dir == NULL || name == NULL || out == NULL || cap == 0 ||
	    field == NULL)
		return AF_DIR_INVALID;
	out[0] = '\0';
	rc = af_dir__list(dir, "apps", "app:", &apps);
	if (rc != AF_DIR_OK)
		return rc;
	rc = AF_DIR_NOT_FOUND;
	json_array_foreach(apps, i, a)
	{
		const json_t *list = json_object_get(
			json_object_get(a, "deployment"), field);

		if (af_dir_app_may_deploy(0, a) ||
		    !af_dir__array_has(list, name))
			continue;
		snprintf(out, cap, "%s",
			 json_string_value(json_object_get(a, "name")) != NULL
				 ? json_string_value(json_object_get(a, "name"))
				 : "");
		rc = AF_DIR_OK;
		break;
	}
	json_decref(apps);
	return rc;
}

af_dir_status af_dir__apps_forget(af_dir *dir, const char *actor,
				  af_dir_target kind, const char *name)
{
	char key[STORE_KEY_MAX];
	deploy_change c = {af_dir__target_field(kind), name, 0, 0};
	json_t *apps = NULL, *a;
	af_dir_status rc = AF_DIR_OK, r;
	size_t i;

	if (c.field == NULL)
		return AF_DIR_OK;
	r = af_dir__list(dir, "apps", "app:", &apps);
	if (r != AF_DIR_OK)
		return r;
	json_array_foreach(apps, i, a)
	{
		const char *id =
			json_string_value(json_object_get(a, "client_id"));
		const json_t *list = json_object_get(
			json_object_get(a, "deployment"), c.field);

		if (id == NULL || !af_dir__array_has(list, name) ||
		    app_key(key, sizeof(key), id) != AF_DIR_OK)
			continue;
		r = af_dir__update(dir, key, deploy_fn, &c, NULL, NULL);
		if (r == AF_DIR_OK)
			r = af_dir__forget_audit(dir, actor, "app.undeploy", id,
						 c.field, name);
		if (r != AF_DIR_OK && r != AF_DIR_NOT_FOUND)
			rc = r;
	}
	json_decref(apps);
	return rc;
}
