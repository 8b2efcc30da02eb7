/*
 * The branding of the browser pages: the organisation's name, accent
 * colour, logo and help line, kept as one object so that a page never
 * shows half of an old branding and half of a new one.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpparse.h"
#include "common/util.h"
#include "directory/directory.h"

#define BRANDING_KEY "branding"

static const char *const members[] = {
	"name", "color", "help_text", "help_url", "logo", NULL,
};

/* "#rrggbb" in any case, folded to lower case into out[8]. */
static int color_ok(const char *v, char out[8])
{
	size_t i;

	if (strlen(v) != 7 || v[0] != '#')
		return 0;
	out[0] = '#';
	for (i = 1; i < 7; i++) {
		if (!isxdigit((unsigned char)v[i]))
			return 0;
		out[i] = (char)tolower((unsigned char)v[i]);
	}
	out[7] = '\0';
	return 1;
}

/*
 * A help link people may follow from every page: https, mailto: or tel:,
 * printable ASCII without spaces, quotes, angle brackets or backslashes.
 */
static int help_url_ok(const char *v)
{
	static const char *const schemes[] = {
		"https://",
		"mailto:",
		"tel:",
		NULL,
	};
	size_t n = strnlen(v, AF_DIR_BRAND_URL_MAX + 1), i;
	int scheme = 0;

	if (n == 0 || n > AF_DIR_BRAND_URL_MAX)
		return 0;
	for (i = 0; schemes[i] != NULL; i++)
		if (strncmp(v, schemes[i], strlen(schemes[i])) == 0 &&
		    n > strlen(schemes[i]))
			scheme = 1;
	if (!scheme)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= 0x20 || c >= 0x7f || strchr("\"'<>\\`", c) != NULL)
			return 0;
	}
	return 1;
}

/* The image type of a logo from its first bytes, or NULL. SVG is not
 * taken: it may carry script. */
static const char *image_type(const uint8_t *p, size_t n)
{
	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0)
		return "image/jpeg";
	if (n >= 6 &&
	    (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return "image/gif";
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 &&
	    memcmp(p + 8, "WEBP", 4) == 0)
		return "image/webp";
	return NULL;
}

/* The stored form of a logo given as base64 text. */
static af_dir_status logo_of(const char *b64, json_t **out, char *err,
			     size_t errlen)
{
	size_t len = strnlen(b64, AF_DIR_BRAND_LOGO_B64_MAX + 1), n = 0;
	const char *type;
	char hex[65];
	uint8_t *raw;

	*out = NULL;
	if (len > AF_DIR_BRAND_LOGO_B64_MAX)
		goto too_big;
	raw = malloc(len / 4 * 3 + 3);
	if (raw == NULL)
		return AF_DIR_NOMEM;
	if (hp_base64_decode(b64, len, raw, len / 4 * 3 + 3, &n) != 0) {
		free(raw);
		af_dir__err(err, errlen, "logo: not standard base64");
		return AF_DIR_INVALID;
	}
	type = image_type(raw, n);
	af_sha256_hex(raw, n, hex);
	free(raw);
	if (n > AF_DIR_BRAND_LOGO_MAX)
		goto too_big;
	if (type == NULL) {
		af_dir__err(err, errlen,
			    "logo: not a PNG, JPEG, GIF or WebP image");
		return AF_DIR_INVALID;
	}
	*out = json_pack("{s:s, s:I, s:s, s:s}", "type", type, "size",
			 (json_int_t)n, "sha256", hex, "data", b64);
	return *out != NULL ? AF_DIR_OK : AF_DIR_NOMEM;
too_big:
	af_dir__err(err, errlen, "logo: larger than %u bytes",
		    (unsigned)AF_DIR_BRAND_LOGO_MAX);
	return AF_DIR_INVALID;
}

/* Checks one member of a patch and gives its stored value (NULL: the
 * member is cleared). */
static af_dir_status member_of(const char *k, const json_t *v, json_t **out,
			       char *err, size_t errlen)
{
	const char *s = json_string_value(v);
	char color[8];
	size_t i;

	*out = NULL;
	for (i = 0; members[i] != NULL; i++)
		if (strcmp(k, members[i]) == 0)
			break;
	if (members[i] == NULL) {
		af_dir__err(err, errlen, "%.64s: unknown field", k);
		return AF_DIR_INVALID;
	}
	if (json_is_null(v) || (s != NULL && s[0] == '\0'))
		return AF_DIR_OK;
	if (s == NULL) {
		af_dir__err(err, errlen, "%s: must be a string or null", k);
		return AF_DIR_INVALID;
	}
	if (strcmp(k, "logo") == 0)
		return logo_of(s, out, err, errlen);
	if (strcmp(k, "color") == 0) {
		if (!color_ok(s, color)) {
			af_dir__err(err, errlen,
				    "color: must be #rrggbb (hexadecimal)");
			return AF_DIR_INVALID;
		}
		*out = json_string(color);
	} else if (strcmp(k, "help_url") == 0) {
		if (!help_url_ok(s)) {
			af_dir__err(err, errlen,
				    "help_url: must be an https, mailto: or "
				    "tel: link of at most %u bytes",
				    (unsigned)AF_DIR_BRAND_URL_MAX);
			return AF_DIR_INVALID;
		}
		*out = json_string(s);
	} else {
		size_t maxch = strcmp(k, "name") == 0 ? AF_DIR_BRAND_NAME_MAX
						      : AF_DIR_BRAND_HELP_MAX;

		if (af_dir_check_display(k, s, maxch, err, errlen) != AF_DIR_OK)
			return AF_DIR_INVALID;
		*out = json_string(s);
	}
	return *out != NULL ? AF_DIR_OK : AF_DIR_NOMEM;
}

/* The patch checked into its stored values (json null: clear). */
static af_dir_status normalise(const json_t *patch, json_t **out, char *err,
			       size_t errlen)
{
	json_t *norm, *v, *val = NULL;
	const char *k;
	af_dir_status rc = AF_DIR_OK;

	*out = NULL;
	if (!json_is_object(patch) || json_object_size(patch) == 0) {
		af_dir__err(err, errlen,
			    "branding: nothing to change: give at least one of "
			    "name, color, help_text, help_url, logo");
		return AF_DIR_INVALID;
	}
	norm = json_object();
	if (norm == NULL)
		return AF_DIR_NOMEM;
	json_object_foreach(af_dir__iterable(patch), k, v)
	{
		rc = member_of(k, v, &val, err, errlen);
		if (rc == AF_DIR_OK)
			rc = af_dir__set_new(norm, k,
					     val != NULL ? val : json_null());
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

af_dir_status af_dir_branding_check(const json_t *obj, char *err, size_t errlen)
{
	json_t *v, *val = NULL, *logo;
	const char *k;
	af_dir_status rc = AF_DIR_OK;

	if (!json_is_object(obj)) {
		af_dir__err(err, errlen, "branding: not an object");
		return AF_DIR_INVALID;
	}
	json_object_foreach(af_dir__iterable(obj), k, v)
	{
		if (strcmp(k, "updated_at") == 0) {
			if (!json_is_integer(v))
				goto bad;
			continue;
		}
		logo = strcmp(k, "logo") == 0 ? v : NULL;
		if (logo != NULL && !json_is_string(json_object_get(v, "data")))
			goto bad;
		rc = member_of(k, logo != NULL ? json_object_get(v, "data") : v,
			       &val, err, errlen);
		if (rc == AF_DIR_OK &&
		    (val == NULL ||
		     (logo != NULL &&
		      !json_equal(json_object_get(val, "type"),
				  json_object_get(logo, "type")))))
			rc = AF_DIR_INVALID;
		json_decref(val);
		val = NULL;
		if (rc != AF_DIR_OK)
			goto bad;
	}
	return AF_DIR_OK;
bad:
	af_dir__err(err, errlen, "%.64s: malformed", k);
	return AF_DIR_INVALID;
}

static af_dir_status merge_fn(json_t *obj, void *arg)
{
	json_t *norm = arg, *v;
	const char *k;

	json_object_foreach(norm, k, v)
	{
		if (json_is_null(v)) {
			(void)json_object_del(obj, k);
		} else if (json_object_set(obj, k, v) != 0) {
			return AF_DIR_NOMEM;
		}
	}
	return af_dir__set_new(obj, "updated_at", json_integer(af_now()));
}

/* What an object says in the admin API and the audit trail: the logo by
 * its type, size and digest, without its bytes. */
static af_dir_status without_logo_data(json_t *obj)
{
	json_t *logo = json_object_get(obj, "logo");

	if (!json_is_object(logo))
		return AF_DIR_OK;
	logo = json_deep_copy(logo);
	if (logo == NULL)
		return AF_DIR_NOMEM;
	(void)json_object_del(logo, "data");
	return af_dir__set_new(obj, "logo", logo);
}

af_dir_status af_dir_branding_get(af_dir *dir, int with_logo, json_t **out)
{
	af_dir_status rc;

	if (out == NULL)
		return AF_DIR_INVALID;
	rc = af_dir__get_json(dir, BRANDING_KEY, out, NULL);
	if (rc == AF_DIR_NOT_FOUND) {
		*out = json_object();
		return *out != NULL ? AF_DIR_OK : AF_DIR_NOMEM;
	}
	if (rc == AF_DIR_OK && !json_is_object(*out))
		rc = AF_DIR_STORE;
	if (rc == AF_DIR_OK && !with_logo)
		rc = without_logo_data(*out);
	if (rc != AF_DIR_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

af_dir_status af_dir_branding_set(af_dir *dir, const char *actor,
				  const json_t *patch, json_t **out, char *err,
				  size_t errlen)
{
	json_t *norm = NULL, *after = NULL, *empty = NULL;
	af_dir_status rc;

	af_dir__err(err, errlen, "%s", "");
	if (out != NULL)
		*out = NULL;
	if (af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = normalise(patch, &norm, err, errlen);
	if (rc != AF_DIR_OK)
		return rc;
	/* The first change makes the object that later ones update. */
	empty = json_object();
	rc = empty != NULL
		     ? af_dir__put_json(dir, BRANDING_KEY, empty, STORE_SET_NX)
		     : AF_DIR_NOMEM;
	if (rc == AF_DIR_OK || rc == AF_DIR_EXISTS)
		rc = af_dir__update(dir, BRANDING_KEY, merge_fn, norm, &after,
				    NULL);
	if (rc == AF_DIR_OK)
		rc = without_logo_data(norm);
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, "branding.set", NULL, norm, err,
				   errlen);
	if (rc == AF_DIR_OK)
		rc = without_logo_data(after);
	if (rc == AF_DIR_OK && out != NULL) {
		*out = after;
		after = NULL;
	}
	json_decref(empty);
	json_decref(norm);
	json_decref(after);
	return rc;
}

af_dir_status af_dir_branding_reset(af_dir *dir, const char *actor, char *err,
				    size_t errlen)
{
	af_dir_status rc;

	af_dir__err(err, errlen, "%s", "");
	if (af_dir__check_actor(actor) != AF_DIR_OK) {
		af_dir__err(err, errlen, "actor: missing or malformed");
		return AF_DIR_INVALID;
	}
	rc = af_dir__from_store(store_del(af_dir_store(dir), BRANDING_KEY));
	if (rc == AF_DIR_NOT_FOUND)
		rc = AF_DIR_OK;
	if (rc == AF_DIR_OK)
		rc = af_dir__audit(dir, actor, "branding.reset", NULL, NULL,
				   err, errlen);
	return rc;
}
