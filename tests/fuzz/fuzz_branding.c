/*
 * Fuzz target: the admin API's branding body. The input is one PATCH
 * body; it goes through the JSON parser and af_dir_branding_set() on a
 * memory store, as the admin API would. Nothing may crash, and what the
 * directory accepts must be what the pages accept when they read it back:
 * a checked snapshot, an accent of "#" and six lower-case hex digits, a
 * help link without a quote, a space or an angle bracket, a logo within
 * its limit, and a page that shows the name only escaped.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/store.h"
#include "directory/directory.h"
#include "http/request.h"
#include "web/brand.h"
#include "web/page.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One directory for the whole run: making one costs a password hash. */
static af_dir *directory(void)
{
	static store_ctx *st;
	static af_dir *dir;
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_dir_options opts;

	if (dir != NULL)
		return dir;
	af_dir_options_default(&opts);
	opts.pw.m_kib = 8;
	opts.pw.t = 1;
	if (store_open(&so, &st, NULL, 0) != STORE_OK ||
	    af_dir_new(st, &opts, &dir, NULL, 0) != AF_DIR_OK)
		abort();
	return dir;
}

static int color_ok(const char *c)
{
	size_t i;

	if (c == NULL)
		return 1;
	if (strlen(c) != 7 || c[0] != '#')
		return 0;
	for (i = 1; i < 7; i++)
		if (strchr("0123456789abcdef", c[i]) == NULL)
			return 0;
	return 1;
}

/* The page under b shows the name in its header only escaped. */
static void page(af_brand *b)
{
	const char *name = af_brand_name(b);
	af_resp resp;
	char *html, *raw;
	size_t n;

	af_resp_init(&resp, 0);
	resp.brand = b;
	af_page_error(&resp, 400, "t", "w", NULL);
	html = strndup(resp.body.data != NULL ? resp.body.data : "",
		       resp.body.len);
	n = name != NULL ? strlen(name) + 16 : 0;
	raw = n > 0 ? malloc(n) : NULL;
	if (html == NULL || (n > 0 && raw == NULL))
		abort();
	if (raw != NULL) {
		snprintf(raw, n, "<span>%s</span>", name);
		if (strpbrk(name, "<>&\"") != NULL && strstr(html, raw) != NULL)
			abort();
	}
	free(raw);
	free(html);
	af_resp_cleanup(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	af_dir *dir = directory();
	json_t *patch, *stored = NULL;
	af_brand *b = NULL;
	const char *url;
	json_t *size_v;

	if (af_dir_branding_reset(dir, "fuzz", NULL, 0) != AF_DIR_OK)
		abort();
	patch = json_loadb((const char *)data, size,
			   JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	if (patch == NULL)
		return 0;
	if (af_dir_branding_set(dir, "fuzz", patch, NULL, NULL, 0) !=
	    AF_DIR_OK) {
		json_decref(patch);
		return 0;
	}
	json_decref(patch);
	if (af_dir_branding_get(dir, 1, &stored) != AF_DIR_OK ||
	    af_dir_branding_check(stored, NULL, 0) != AF_DIR_OK ||
	    af_brand_from_json(stored, &b) != AF_BRAND_OK)
		abort();
	url = json_string_value(json_object_get(stored, "help_url"));
	size_v = json_object_get(json_object_get(stored, "logo"), "size");
	if (!color_ok(json_string_value(json_object_get(stored, "color"))) ||
	    (url != NULL && strpbrk(url, "\"'<> \\`") != NULL) ||
	    (size_v != NULL &&
	     (json_integer_value(size_v) < 1 ||
	      json_integer_value(size_v) > AF_DIR_BRAND_LOGO_MAX)))
		abort();
	page(b);
	af_brand_release(b);
	json_decref(stored);
	return 0;
}
