/*
 * The branding of the browser pages as the pages use it: an immutable
 * snapshot (af_brand) of the directory's branding object, and a cache
 * that re-reads it from the store at most once a second, so that every
 * page shows the current branding of a cluster without a store read per
 * page.
 *
 * A snapshot is reference-counted: a page takes one at the start of the
 * request (af_brand_cache_get) and releases it at the end, and a refresh
 * meanwhile does not pull it away. NULL stands for the built-in look
 * everywhere a snapshot is taken.
 *
 * Thread-safety: the cache and snapshots may be shared by any number of
 * threads; a snapshot never changes once made.
 */
#ifndef AF_WEB_BRAND_H
#define AF_WEB_BRAND_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "directory/directory.h"
#include "http/buf.h"
#include "http/request.h"

#define AF_BRAND_STATUS_MAP(XX)                      \
	XX(OK, 0, "success")                         \
	XX(INVALID, -1, "malformed stored branding") \
	XX(NOMEM, -2, "out of memory")

typedef enum af_brand_status {
#define AF_BRAND_XX(name, value, text) AF_BRAND_##name = (value),
	AF_BRAND_STATUS_MAP(AF_BRAND_XX)
#undef AF_BRAND_XX
} af_brand_status;

/* A static, never NULL, English message for a status. */
const char *af_brand_strerror(af_brand_status st);

/* The length of a snapshot's version tag (hex). */
#define AF_BRAND_VERSION_LEN 16

typedef struct af_brand af_brand;
typedef struct af_brand_cache af_brand_cache;

/*
 * Makes a snapshot of the branding object obj (as af_dir_branding_get()
 * gives it with its logo; lent), checking what the page will print again:
 * a stored object that was tampered with is AF_BRAND_INVALID, not a
 * broken page. AF_BRAND_OK and *out with one reference.
 * Thread-safety: re-entrant.
 */
af_brand_status af_brand_from_json(const json_t *obj, af_brand **out);

/* Drops a reference; the last one frees the snapshot. Accepts NULL. */
void af_brand_release(af_brand *b);

/*
 * What a snapshot holds (b may be NULL: the built-in look). Strings are
 * lent for the snapshot's life; NULL when not set, except
 * af_brand_version(), which is "0" for the built-in look.
 */
const char *af_brand_name(const af_brand *b);
const char *af_brand_help_text(const af_brand *b);
const char *af_brand_help_url(const af_brand *b);
const char *af_brand_version(const af_brand *b);
/* The logo's bytes and Content-Type; 0, or -1 when there is none. */
int af_brand_logo(const af_brand *b, const uint8_t **data, size_t *len,
		  const char **type);

/*
 * The stylesheet that sets the page's accent colours: --accent, and
 * --on-accent (black or white, whichever contrasts more with the accent
 * by the WCAG formula). Empty for the built-in look.
 */
void af_brand_css(const af_brand *b, af_buf *out);

/*
 * The cache over dir (lent; must outlive the cache). NULL when out of
 * memory. af_brand_cache_get: the current snapshot with a new reference
 * (release it), re-read when the last read is a second old or more; NULL
 * for the built-in look, also while the store cannot be read and nothing
 * was read before. af_brand_cache_forget: the next get re-reads (after a
 * change made through this process).
 */
af_brand_cache *af_brand_cache_new(af_dir *dir);
void af_brand_cache_free(af_brand_cache *c);
af_brand *af_brand_cache_get(af_brand_cache *c);
void af_brand_cache_forget(af_brand_cache *c);

#endif /* AF_WEB_BRAND_H */
