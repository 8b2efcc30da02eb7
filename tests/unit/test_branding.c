/*
 * Unit tests of the branding: the directory's checks and storage, the
 * snapshots and their cache, and the pages that show them, over the
 * memory store.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/store.h"
#include "directory/audit.h"
#include "directory/directory.h"
#include "http/buf.h"
#include "http/request.h"
#include "web/brand.h"
#include "web/page.h"

#define ACTOR "root"
#define PNG   "\x89PNG\r\n\x1a\n"

typedef struct fixture {
	store_ctx *store;
	af_dir *dir;
	char err[AF_DIR_ERR_BUF];
} fixture;

static int setup(void **state)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_dir_options opts;
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	assert_int_equal(store_open(&so, &f->store, NULL, 0), STORE_OK);
	af_dir_options_default(&opts);
	opts.pw.m_kib = 64;
	opts.pw.t = 1;
	assert_int_equal(af_dir_new(f->store, &opts, &f->dir, NULL, 0),
			 AF_DIR_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	af_dir_free(f->dir);
	store_close(f->store);
	free(f);
	return 0;
}

/* Standard base64 of len bytes of data, to free. */
static char *b64(const void *data, size_t len)
{
	char *out = malloc(len / 3 * 4 + 5);

	assert_non_null(out);
	assert_true(EVP_EncodeBlock((unsigned char *)out, data, (int)len) >= 0);
	return out;
}

/* A PNG-looking logo of len bytes, base64. */
static char *png_b64(size_t len)
{
	unsigned char *raw = calloc(1, len);
	char *out;

	assert_non_null(raw);
	memcpy(raw, PNG, sizeof(PNG) - 1);
	out = b64(raw, len);
	free(raw);
	return out;
}

/* Applies a patch given as JSON text; err in f->err. */
static af_dir_status patch(fixture *f, const char *text, json_t **out)
{
	json_t *p = json_loads(text, 0, NULL);
	af_dir_status rc;

	assert_non_null(p);
	f->err[0] = '\0';
	rc = af_dir_branding_set(f->dir, ACTOR, p, out, f->err, sizeof(f->err));
	json_decref(p);
	return rc;
}

static const char *str(const json_t *obj, const char *k)
{
	return json_string_value(json_object_get(obj, k));
}

static void test_branding_set_stores_checked_values(void **state)
{
	fixture *f = *state;
	json_t *out = NULL, *full = NULL;
	char body[512], *logo = png_b64(100);

	snprintf(body, sizeof(body),
		 "{\"name\": \"Acme Health\", \"color\": \"#0B3D91\", "
		 "\"help_text\": \"Call the service desk\", "
		 "\"help_url\": \"https://help.example.com/sign-in\", "
		 "\"logo\": \"%s\"}",
		 logo);
	/* A logo of 100 bytes fits the buffer with room to spare. */
	assert_true(strlen(body) < sizeof(body));
	assert_int_equal(patch(f, body, &out), AF_DIR_OK);
	assert_string_equal(str(out, "name"), "Acme Health");
	assert_string_equal(str(out, "color"), "#0b3d91");
	assert_string_equal(str(json_object_get(out, "logo"), "type"),
			    "image/png");
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(out, "logo"), "size")),
			 100);
	assert_null(json_object_get(json_object_get(out, "logo"), "data"));
	json_decref(out);

	/* The admin view leaves out the bytes; the pages' view has them. */
	assert_int_equal(af_dir_branding_get(f->dir, 0, &out), AF_DIR_OK);
	assert_null(json_object_get(json_object_get(out, "logo"), "data"));
	assert_int_equal(af_dir_branding_get(f->dir, 1, &full), AF_DIR_OK);
	assert_string_equal(str(json_object_get(full, "logo"), "data"), logo);
	assert_int_equal(af_dir_branding_check(full, NULL, 0), AF_DIR_OK);
	json_decref(out);
	json_decref(full);

	/* null and "" clear a member; the others stay. */
	assert_int_equal(
		patch(f, "{\"logo\": null, \"help_text\": \"\"}", &out),
		AF_DIR_OK);
	assert_null(json_object_get(out, "logo"));
	assert_null(json_object_get(out, "help_text"));
	assert_string_equal(str(out, "name"), "Acme Health");
	json_decref(out);
	free(logo);
}

static void test_branding_bad_values_refused_unchanged(void **state)
{
	static const struct {
		const char *patch;
		const char *field;
	} bad[] = {
		{"{\"color\": \"red\"}", "color"},
		{"{\"color\": \"#12345g\"}", "color"},
		{"{\"color\": 7}", "color"},
		{"{\"help_url\": \"javascript:alert(1)\"}", "help_url"},
		{"{\"help_url\": \"http://help.example.com\"}", "help_url"},
		{"{\"help_url\": \"https://x.example/\\\"onclick\"}",
		 "help_url"},
		{"{\"help_url\": \"https://\"}", "help_url"},
		{"{\"name\": \"tab\\there\"}", "name"},
		{"{\"name\": \"x\\u202ey\"}", "name"},
		{"{\"help_text\": \"line\\nbreak\"}", "help_text"},
		{"{\"logo\": \"not base64!\"}", "logo"},
		{"{\"logo\": \"PHN2Zz48L3N2Zz4=\"}", "logo"}, /* <svg></svg> */
		{"{\"logo\": \"iVBORw0KGgo\"}", "logo"},      /* no padding */
		{"{\"theme\": \"dark\"}", "theme"},
		{"{}", "branding"},
	};
	fixture *f = *state;
	json_t *out = NULL;
	char name[AF_DIR_BRAND_NAME_MAX + 32];
	char *big = png_b64(AF_DIR_BRAND_LOGO_MAX + 1), *body;
	size_t i;

	assert_int_equal(patch(f, "{\"name\": \"Acme\"}", NULL), AF_DIR_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(patch(f, bad[i].patch, NULL), AF_DIR_INVALID);
		if (strncmp(f->err, bad[i].field, strlen(bad[i].field)) != 0)
			fail_msg("%s: message \"%s\" does not name %s",
				 bad[i].patch, f->err, bad[i].field);
	}
	snprintf(name, sizeof(name), "{\"name\": \"%0*d\"}",
		 AF_DIR_BRAND_NAME_MAX + 1, 7);
	assert_int_equal(patch(f, name, NULL), AF_DIR_INVALID);
	body = malloc(strlen(big) + 16);
	assert_non_null(body);
	snprintf(body, strlen(big) + 16, "{\"logo\": \"%s\"}", big);
	assert_int_equal(patch(f, body, NULL), AF_DIR_INVALID);
	assert_non_null(strstr(f->err, "larger"));
	free(body);
	free(big);
	/* Refusals leave the stored branding as it was. */
	assert_int_equal(af_dir_branding_get(f->dir, 0, &out), AF_DIR_OK);
	assert_string_equal(str(out, "name"), "Acme");
	assert_int_equal(json_object_size(out), 2); /* name, updated_at */
	json_decref(out);
}

static int last_event(const json_t *ev, void *arg)
{
	*(json_t **)arg = json_deep_copy(ev);
	return 1;
}

static void test_branding_reset_and_audit_without_logo_bytes(void **state)
{
	fixture *f = *state;
	json_t *out = NULL, *ev = NULL, *logo;
	char body[128], *data = png_b64(24);

	snprintf(body, sizeof(body), "{\"logo\": \"%s\"}", data);
	assert_int_equal(patch(f, body, NULL), AF_DIR_OK);
	assert_int_equal(af_audit_list(f->dir, 1, last_event, &ev), AF_DIR_OK);
	assert_string_equal(str(ev, "action"), "branding.set");
	logo = json_object_get(json_object_get(ev, "detail"), "logo");
	assert_string_equal(str(logo, "type"), "image/png");
	assert_null(json_object_get(logo, "data"));
	json_decref(ev);

	assert_int_equal(af_dir_branding_reset(f->dir, ACTOR, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_branding_get(f->dir, 1, &out), AF_DIR_OK);
	assert_int_equal(json_object_size(out), 0);
	json_decref(out);
	assert_int_equal(af_audit_list(f->dir, 1, last_event, &ev), AF_DIR_OK);
	assert_string_equal(str(ev, "action"), "branding.reset");
	json_decref(ev);
	/* Resetting the built-in look is no error. */
	assert_int_equal(af_dir_branding_reset(f->dir, ACTOR, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_dir_branding_reset(f->dir, "", NULL, 0),
			 AF_DIR_INVALID);
	free(data);
}

static void test_brand_snapshot_contrast_css_and_version(void **state)
{
	fixture *f = *state;
	json_t *obj = NULL;
	af_brand *dark = NULL, *light = NULL;
	const uint8_t *logo;
	const char *type;
	char body[128], *data = png_b64(20);
	size_t len;
	af_buf css;

	snprintf(body, sizeof(body),
		 "{\"color\": \"#0b3d91\", \"logo\": \"%s\"}", data);
	assert_int_equal(patch(f, body, NULL), AF_DIR_OK);
	assert_int_equal(af_dir_branding_get(f->dir, 1, &obj), AF_DIR_OK);
	assert_int_equal(af_brand_from_json(obj, &dark), AF_BRAND_OK);
	json_decref(obj);
	assert_int_equal(patch(f, "{\"color\": \"#FFCC00\"}", NULL), AF_DIR_OK);
	assert_int_equal(af_dir_branding_get(f->dir, 1, &obj), AF_DIR_OK);
	assert_int_equal(af_brand_from_json(obj, &light), AF_BRAND_OK);
	json_decref(obj);

	af_buf_init(&css, 4096);
	af_brand_css(dark, &css);
	af_buf_puts(&css, "|");
	af_brand_css(light, &css);
	af_buf_puts(&css, "|");
	af_brand_css(NULL, &css);
	af_buf_append(&css, "", 1);
	assert_string_equal(css.data,
			    ":root{--accent:#0b3d91;--on-accent:#ffffff}\n|"
			    ":root{--accent:#ffcc00;--on-accent:#000000}\n|");
	af_buf_cleanup(&css);

	assert_int_equal(strlen(af_brand_version(dark)), AF_BRAND_VERSION_LEN);
	assert_string_not_equal(af_brand_version(dark),
				af_brand_version(light));
	assert_string_equal(af_brand_version(NULL), "0");
	assert_int_equal(af_brand_logo(light, &logo, &len, &type), 0);
	assert_int_equal(len, 20);
	assert_memory_equal(logo, PNG, 8);
	assert_string_equal(type, "image/png");
	assert_int_equal(af_brand_logo(NULL, &logo, &len, &type), -1);
	af_brand_release(dark);
	af_brand_release(light);
	free(data);
}

static void test_brand_tampered_store_gives_builtin_look(void **state)
{
	static const char *const stored[] = {
		"{\"color\": \"red\"}",
		"{\"help_url\": \"javascript:alert(1)\"}",
		"{\"logo\": {\"type\": \"image/svg+xml\", \"data\": "
		"\"PHN2Zz48L3N2Zz4=\"}}",
		"{\"logo\": {\"type\": \"image/gif\", \"data\": "
		"\"iVBORw0KGgoAAAAA\"}}",
		"{\"script\": \"x\"}",
		"[1]",
	};
	fixture *f = *state;
	af_brand_cache *c = af_brand_cache_new(f->dir);
	af_brand *b = NULL;
	json_t *obj;
	size_t i;

	assert_non_null(c);
	for (i = 0; i < sizeof(stored) / sizeof(stored[0]); i++) {
		obj = json_loads(stored[i], JSON_DECODE_ANY, NULL);
		assert_non_null(obj);
		assert_int_equal(af_brand_from_json(obj, &b), AF_BRAND_INVALID);
		assert_null(b);
		json_decref(obj);
		assert_int_equal(store_set(f->store, "branding", stored[i],
					   strlen(stored[i]), 0, 0),
				 STORE_OK);
		af_brand_cache_forget(c);
		assert_null(af_brand_cache_get(c));
	}
	af_brand_cache_free(c);
}

static void test_brand_cache_forget_shows_change(void **state)
{
	fixture *f = *state;
	af_brand_cache *c = af_brand_cache_new(f->dir);
	af_brand *first, *again, *second;

	assert_non_null(c);
	assert_null(af_brand_cache_get(c));
	assert_int_equal(patch(f, "{\"name\": \"One\"}", NULL), AF_DIR_OK);
	/* Within the second, the cache answers what it read. */
	assert_null(af_brand_cache_get(c));
	af_brand_cache_forget(c);
	first = af_brand_cache_get(c);
	assert_non_null(first);
	assert_string_equal(af_brand_name(first), "One");
	again = af_brand_cache_get(c);
	assert_ptr_equal(first, again);
	af_brand_release(again);

	assert_int_equal(patch(f, "{\"name\": \"Two\"}", NULL), AF_DIR_OK);
	af_brand_cache_forget(c);
	second = af_brand_cache_get(c);
	assert_non_null(second);
	assert_string_equal(af_brand_name(second), "Two");
	/* A snapshot taken before the change outlives the refresh. */
	assert_string_equal(af_brand_name(first), "One");
	af_brand_release(first);
	af_brand_release(second);
	af_brand_cache_free(c);
}

/*
 * The words of a lock: a time for one that runs out within a day, and the
 * administrator for one until lifted or longer, so that a made-up name's
 * 30-day lock reads as a user's lock for good.
 */
static void test_page_locked_words(void **state)
{
	char msg[200];

	(void)state;
	af_page_locked(90, 0, msg, sizeof(msg));
	assert_non_null(strstr(msg, "Try again in 2 minutes"));
	af_page_locked(86400, 0, msg, sizeof(msg));
	assert_non_null(strstr(msg, "Try again in 1440 minutes"));
	af_page_locked(0, 0, msg, sizeof(msg));
	assert_string_equal(msg, "This account is locked after too many failed "
				 "sign-ins. Contact your administrator.");
	af_page_locked(30 * 86400, 0, msg, sizeof(msg));
	assert_string_equal(msg, "This account is locked after too many failed "
				 "sign-ins. Contact your administrator.");
	/* A known browser locked by its own failures: said of the browser. */
	af_page_locked(1800, 1, msg, sizeof(msg));
	assert_string_equal(msg, "Sign-in from this browser is locked after "
				 "too many wrong passwords or codes typed in "
				 "it. Try again in 30 minutes, or contact your "
				 "administrator.");
}

/* The page af_page_error() makes under brand, as a string to free. */
static char *error_page(af_brand *brand)
{
	af_resp resp;
	char *html;

	af_resp_init(&resp, 0);
	resp.brand = brand;
	af_page_error(&resp, 400, "Oops", "Something happened.", NULL);
	html = strndup(resp.body.data, resp.body.len);
	assert_non_null(html);
	af_resp_cleanup(&resp);
	return html;
}

static void test_page_shows_brand_escaped(void **state)
{
	fixture *f = *state;
	json_t *obj = NULL;
	af_brand *b = NULL;
	char body[256], want[128], *data = png_b64(16), *html;

	snprintf(body, sizeof(body),
		 "{\"name\": \"Acme <b>&</b>\", \"color\": \"#123456\", "
		 "\"help_text\": \"Help & support\", \"help_url\": "
		 "\"mailto:it@example.com?subject=Sign-in&x=1\", "
		 "\"logo\": \"%s\"}",
		 data);
	assert_int_equal(patch(f, body, NULL), AF_DIR_OK);
	assert_int_equal(af_dir_branding_get(f->dir, 1, &obj), AF_DIR_OK);
	assert_int_equal(af_brand_from_json(obj, &b), AF_BRAND_OK);
	json_decref(obj);

	html = error_page(b);
	assert_non_null(
		strstr(html, "<span>Acme &lt;b&gt;&amp;&lt;/b&gt;</span>"));
	assert_non_null(strstr(html, "<title>Oops \xc2\xb7 Acme &lt;b&gt;"));
	assert_null(strstr(html, "<b>"));
	assert_non_null(strstr(html, "<a href=\"mailto:it@example.com?"
				     "subject=Sign-in&amp;x=1\">Help &amp; "
				     "support</a>"));
	snprintf(want, sizeof(want), "href=\"/static/brand.css?v=%s\"",
		 af_brand_version(b));
	assert_non_null(strstr(html, want));
	snprintf(want, sizeof(want), "<img src=\"/static/brand-logo?v=%s\"",
		 af_brand_version(b));
	assert_non_null(strstr(html, want));
	free(html);

	/* The built-in look: no brand stylesheet, no logo, no help line. */
	html = error_page(NULL);
	assert_non_null(strstr(html, "<span>authflow</span>"));
	assert_null(strstr(html, "brand.css"));
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "class=\"help\""));
	assert_non_null(strstr(html, "Protected by authflow"));
	free(html);
	af_brand_release(b);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_branding_set_stores_checked_values),
		T(test_branding_bad_values_refused_unchanged),
		T(test_branding_reset_and_audit_without_logo_bytes),
		T(test_brand_snapshot_contrast_css_and_version),
		T(test_brand_tampered_store_gives_builtin_look),
		T(test_brand_cache_forget_shows_change),
		T(test_page_shows_brand_escaped),
#undef T
		cmocka_unit_test(test_page_locked_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
