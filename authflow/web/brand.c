/* Branding snapshots for the pages, and the cache that keeps one. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpparse.h"
#include "common/util.h"
#include "web/brand.h"

/* How long a snapshot is used before the store is read again. */
#define REFRESH_MS 1000

struct af_brand {
	atomic_uint refs;
	char *name;
	char *help_text;
	char *help_url;
	char accent[8];	   /* "#rrggbb", or "" */
	char on_accent[8]; /* "#000000" or "#ffffff" */
	char version[AF_BRAND_VERSION_LEN + 1];
	const char *logo_type; /* static; NULL: no logo */
	uint8_t *logo;
	size_t logo_len;
};

struct af_brand_cache {
	af_dir *dir;
	pthread_mutex_t lock;
	af_brand *current; /* NULL: built-in look */
	int64_t read_ms;   /* when current was read; 0: never */
	int reading;	   /* a thread is reading the store */
	unsigned forgets;  /* af_brand_cache_forget() calls so far */
};

const char *af_brand_strerror(af_brand_status st)
{
	switch (st) {
#define AF_BRAND_XX(name, value, text) \
	case AF_BRAND_##name:          \
		return text;
		AF_BRAND_STATUS_MAP(AF_BRAND_XX)
#undef AF_BRAND_XX
	}
	return "unknown status";
}

static void brand_free(af_brand *b)
{
	free(b->name);
	free(b->help_text);
	free(b->help_url);
	free(b->logo);
	free(b);
}

void af_brand_release(af_brand *b)
{
	if (b != NULL && atomic_fetch_sub(&b->refs, 1) == 1)
		brand_free(b);
}

/* A copy of the string member k of obj, or NULL when there is none. */
static int copy_member(const json_t *obj, const char *k, char **out)
{
	const char *s = json_string_value(json_object_get(obj, k));

	*out = NULL;
	if (s == NULL)
		return 0;
	*out = strdup(s);
	return *out != NULL ? 0 : -1;
}

/* The WCAG relative luminance of one sRGB channel (0..255). */
static double channel(unsigned v)
{
	double c = v / 255.0;

	return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

/* The value of the two hex digits at p (checked when stored). */
static unsigned hex_pair(const char *p)
{
	char two[3] = {p[0], p[1], '\0'};

	return (unsigned)strtoul(two, NULL, 16);
}

/* Black or white text on the accent: whichever contrasts more. */
static void pick_on_accent(af_brand *b)
{
	double lum, on_white, on_black;

	memcpy(b->on_accent, "#ffffff", 8);
	if (strlen(b->accent) != 7)
		return;
	lum = 0.2126 * channel(hex_pair(b->accent + 1)) +
	      0.7152 * channel(hex_pair(b->accent + 3)) +
	      0.0722 * channel(hex_pair(b->accent + 5));
	on_white = 1.05 / (lum + 0.05);
	on_black = (lum + 0.05) / 0.05;
	if (on_black > on_white)
		memcpy(b->on_accent, "#000000", 8);
}

/* The logo's bytes from its checked stored form. */
static af_brand_status take_logo(af_brand *b, const json_t *logo)
{
	const char *data = json_string_value(json_object_get(logo, "data"));
	const char *type = json_string_value(json_object_get(logo, "type"));
	static const char *const types[] = {
		"image/png", "image/jpeg", "image/gif", "image/webp", NULL,
	};
	size_t len, i;

	if (data == NULL || type == NULL)
		return AF_BRAND_OK;
	for (i = 0; types[i] != NULL && strcmp(types[i], type) != 0; i++)
		;
	if (types[i] == NULL)
		return AF_BRAND_INVALID;
	b->logo_type = types[i];
	len = strlen(data);
	b->logo = malloc(len / 4 * 3 + 3);
	if (b->logo == NULL)
		return AF_BRAND_NOMEM;
	if (hp_base64_decode(data, len, b->logo, len / 4 * 3 + 3,
			     &b->logo_len) != 0)
		return AF_BRAND_INVALID;
	return AF_BRAND_OK;
}

af_brand_status af_brand_from_json(const json_t *obj, af_brand **out)
{
	af_brand_status rc = AF_BRAND_NOMEM;
	const char *color;
	uint8_t digest[32];
	char *text = NULL;
	af_brand *b;
	size_t i;

	*out = NULL;
	if (af_dir_branding_check(obj, NULL, 0) != AF_DIR_OK)
		return AF_BRAND_INVALID;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return AF_BRAND_NOMEM;
	atomic_init(&b->refs, 1);
	if (copy_member(obj, "name", &b->name) != 0 ||
	    copy_member(obj, "help_text", &b->help_text) != 0 ||
	    copy_member(obj, "help_url", &b->help_url) != 0)
		goto fail;
	color = json_string_value(json_object_get(obj, "color"));
	if (color != NULL)
		snprintf(b->accent, sizeof(b->accent), "%s", color);
	pick_on_accent(b);
	rc = take_logo(b, json_object_get(obj, "logo"));
	if (rc != AF_BRAND_OK)
		goto fail;
	/* The version names this content in URLs, for browser caches. */
	text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL) {
		rc = AF_BRAND_NOMEM;
		goto fail;
	}
	af_sha256(text, strlen(text), digest);
	free(text);
	for (i = 0; i < AF_BRAND_VERSION_LEN / 2; i++)
		snprintf(b->version + 2 * i, 3, "%02x", digest[i]);
	*out = b;
	return AF_BRAND_OK;
fail:
	brand_free(b);
	return rc;
}

const char *af_brand_name(const af_brand *b)
{
	return b != NULL ? b->name : NULL;
}

const char *af_brand_help_text(const af_brand *b)
{
	return b != NULL ? b->help_text : NULL;
}

const char *af_brand_help_url(const af_brand *b)
{
	return b != NULL ? b->help_url : NULL;
}

const char *af_brand_version(const af_brand *b)
{
	return b != NULL ? b->version : "0";
}

int af_brand_logo(const af_brand *b, const uint8_t **data, size_t *len,
		  const char **type)
{
	if (b == NULL || b->logo_type == NULL)
		return -1;
	*data = b->logo;
	*len = b->logo_len;
	*type = b->logo_type;
	return 0;
}

void af_brand_css(const af_brand *b, af_buf *out)
{
	if (b == NULL || b->accent[0] == '\0')
		return;
	af_buf_printf(out, ":root{--accent:%s;--on-accent:%s}\n", b->accent,
		      b->on_accent);
}

af_brand_cache *af_brand_cache_new(af_dir *dir)
{
	af_brand_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	c->dir = dir;
	return c;
}

void af_brand_cache_free(af_brand_cache *c)
{
	if (c == NULL)
		return;
	af_brand_release(c->current);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/*
 * Reads the branding from the store: 1 and *out (NULL for the built-in
 * look), or 0 when it cannot be read now (the old snapshot stays).
 */
static int read_brand(af_brand_cache *c, af_brand **out)
{
	json_t *obj = NULL;
	af_brand_status st;

	*out = NULL;
	if (af_dir_branding_get(c->dir, 1, &obj) != AF_DIR_OK)
		return 0;
	if (json_object_size(obj) == 0) {
		json_decref(obj);
		return 1;
	}
	st = af_brand_from_json(obj, out);
	json_decref(obj);
	/* A stored object the pages cannot show gives the built-in look. */
	return st != AF_BRAND_NOMEM;
}

af_brand *af_brand_cache_get(af_brand_cache *c)
{
	int64_t now = af_now_ms();
	af_brand *b, *fresh = NULL;
	unsigned forgets;
	int stale, ok;

	if (c == NULL)
		return NULL;
	pthread_mutex_lock(&c->lock);
	stale = !c->reading &&
		(c->read_ms == 0 || now - c->read_ms >= REFRESH_MS ||
		 now < c->read_ms);
	if (stale)
		c->reading = 1;
	forgets = c->forgets;
	b = c->current;
	if (b != NULL && !stale)
		atomic_fetch_add(&b->refs, 1);
	pthread_mutex_unlock(&c->lock);
	if (!stale)
		return b;
	/* One thread reads; the others go on with the snapshot they have. */
	ok = read_brand(c, &fresh);
	pthread_mutex_lock(&c->lock);
	if (ok) {
		af_brand_release(c->current);
		c->current = fresh;
	}
	/*
	 * A store that does not answer is asked again a second later. A
	 * change made while the store was read may be missing from what was
	 * read: then the next page reads again.
	 */
	c->read_ms = c->forgets == forgets ? now : 0;
	c->reading = 0;
	b = c->current;
	if (b != NULL)
		atomic_fetch_add(&b->refs, 1);
	pthread_mutex_unlock(&c->lock);
	return b;
}

void af_brand_cache_forget(af_brand_cache *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->read_ms = 0;
	c->forgets++;
	pthread_mutex_unlock(&c->lock);
}
