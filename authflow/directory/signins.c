/* Each user's last sign-in; see signins.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/store.h"
#include "common/util.h"
#include "directory/signins.h"

#define SIGNIN_PREFIX	 "signin:"
/* Not a user's key: user names have no colon. */
#define EPOCH_KEY	 "signins:since"
#define EPOCH_DIGITS_MAX 20

/* "signin:<name>" of username folded to lower case. */
static af_dir_status signin_key(const char *username, char *key, size_t cap)
{
	char name[AF_DIR_USERNAME_MAX + 1];

	if (username == NULL ||
	    af_dir_user_canonical(username, name, sizeof(name)) != AF_DIR_OK)
		return AF_DIR_INVALID;
	return af_dir__key(key, cap, SIGNIN_PREFIX, name);
}

/* s cut to at most max bytes between characters, as a new JSON string. */
static json_t *cut_string(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		return json_null();
	n = af_utf8_cut(s, strlen(s), max);
	return json_stringn(s, n);
}

/* The record's JSON; NULL when out of memory or a member is not text. */
static json_t *record_of(const af_dir_signin *in)
{
	json_t *o, *amr = json_array();
	size_t i;

	for (i = 0; amr != NULL && i < in->namr && i < AF_DIR_SIGNIN_AMR_MAX;
	     i++) {
		if (in->amr[i] == NULL ||
		    json_array_append_new(amr, json_string(in->amr[i])) != 0) {
			json_decref(amr);
			amr = NULL;
		}
	}
	o = json_pack("{s:s, s:I, s:o, s:o, s:s, s:o}", "sub", in->sub, "time",
		      (json_int_t)in->time, "address",
		      cut_string(in->address, AF_DIR_SIGNIN_ADDRESS_MAX),
		      "browser",
		      cut_string(in->browser, AF_DIR_SIGNIN_BROWSER_MAX),
		      "client_id", in->client_id, "amr", amr);
	return o;
}

/* 1 when a and b hold the same member k (both missing counts as same). */
static int same(const json_t *a, const json_t *b, const char *k)
{
	return json_equal(json_object_get(a, k), json_object_get(b, k)) ||
	       (json_object_get(a, k) == NULL && json_object_get(b, k) == NULL);
}

/*
 * 1 when the record kept (raw, its text) already says what rec says: the
 * same user, address, browser, application and factors, and a time no
 * more than
 * AF_DIR_SIGNIN_PRECISION_S before rec's (and not after it).
 */
static int tells_nothing_new(const store_value *raw, const json_t *rec)
{
	json_t *kept = json_loadb((const char *)raw->data, raw->len, 0, NULL);
	json_int_t then = json_integer_value(json_object_get(kept, "time"));
	json_int_t now = json_integer_value(json_object_get(rec, "time"));
	int rc;

	rc = json_is_object(kept) && then <= now &&
	     now - then < AF_DIR_SIGNIN_PRECISION_S && same(kept, rec, "sub") &&
	     same(kept, rec, "address") && same(kept, rec, "browser") &&
	     same(kept, rec, "client_id") && same(kept, rec, "amr");
	json_decref(kept);
	return rc;
}

af_dir_status af_dir_signin_note(af_dir *dir, const af_dir_signin *in)
{
	char key[STORE_KEY_MAX];
	store_value raw = {NULL, 0};
	json_t *rec = NULL;
	char *text = NULL;
	af_dir_status rc;
	store_status st;

	if (dir == NULL || in == NULL || in->sub == NULL ||
	    in->sub[0] == '\0' || in->client_id == NULL ||
	    in->client_id[0] == '\0' || in->time < 0 ||
	    (in->namr > 0 && in->amr == NULL))
		return AF_DIR_INVALID;
	rc = signin_key(in->username, key, sizeof(key));
	if (rc != AF_DIR_OK)
		return rc;
	rec = record_of(in);
	if (rec == NULL)
		return AF_DIR_NOMEM;
	st = store_get(af_dir_store(dir), key, &raw);
	if (st != STORE_OK && st != STORE_NOT_FOUND) {
		rc = af_dir__from_store(st);
		goto out;
	}
	if (st == STORE_OK && tells_nothing_new(&raw, rec))
		goto out;
	text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL) {
		rc = AF_DIR_NOMEM;
		goto out;
	}
	rc = af_dir__from_store(
		store_set(af_dir_store(dir), key, text, strlen(text), 0, 0));
out:
	free(text);
	store_value_free(&raw);
	json_decref(rec);
	return rc;
}

/* o's member k when it is text, else null (borrowed either way). */
static json_t *text_or_null(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? v : json_null();
}

af_dir_status af_dir_signin_last(af_dir *dir, const json_t *user, json_t **out)
{
	char key[STORE_KEY_MAX];
	store_value raw = {NULL, 0};
	const char *sub = json_string_value(json_object_get(user, "sub"));
	json_t *kept = NULL;
	af_dir_status rc;
	store_status st;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = NULL;
	if (dir == NULL || sub == NULL)
		return AF_DIR_INVALID;
	rc = signin_key(json_string_value(json_object_get(user, "username")),
			key, sizeof(key));
	if (rc != AF_DIR_OK)
		return rc;
	st = store_get(af_dir_store(dir), key, &raw);
	if (st != STORE_OK)
		return af_dir__from_store(st);
	kept = json_loadb((const char *)raw.data, raw.len, 0, NULL);
	store_value_free(&raw);
	/* Damage reads as "not signed in", never as someone else's. */
	if (!json_is_object(kept) ||
	    !json_is_integer(json_object_get(kept, "time")) ||
	    !json_is_string(json_object_get(kept, "client_id")) ||
	    !json_is_array(json_object_get(kept, "amr")) ||
	    !json_equal(json_object_get(kept, "sub"),
			json_object_get(user, "sub"))) {
		json_decref(kept);
		return AF_DIR_NOT_FOUND;
	}
	*out = json_pack("{s:O, s:O, s:O, s:O, s:O}", "time",
			 json_object_get(kept, "time"), "address",
			 text_or_null(kept, "address"), "browser",
			 text_or_null(kept, "browser"), "client_id",
			 json_object_get(kept, "client_id"), "amr",
			 json_object_get(kept, "amr"));
	json_decref(kept);
	return *out != NULL ? AF_DIR_OK : AF_DIR_NOMEM;
}

af_dir_status af_dir_signin_forget(af_dir *dir, const char *username)
{
	char key[STORE_KEY_MAX];
	af_dir_status rc;

	if (dir == NULL)
		return AF_DIR_INVALID;
	rc = signin_key(username, key, sizeof(key));
	if (rc != AF_DIR_OK)
		return rc;
	return af_dir__from_store(store_del(af_dir_store(dir), key));
}

af_dir_status af_dir_signin_start(af_dir *dir)
{
	char text[EPOCH_DIGITS_MAX + 1];
	int n;
	store_status st;

	if (dir == NULL)
		return AF_DIR_INVALID;
	n = snprintf(text, sizeof(text), "%lld", (long long)af_now());
	st = store_set(af_dir_store(dir), EPOCH_KEY, text, (size_t)n, 0,
		       STORE_SET_NX);
	return st == STORE_EXISTS ? AF_DIR_OK : af_dir__from_store(st);
}

af_dir_status af_dir_signin_epoch(af_dir *dir, int64_t *out)
{
	char text[EPOCH_DIGITS_MAX + 1];
	store_value v = {NULL, 0};
	unsigned long t;
	store_status st;

	if (out == NULL)
		return AF_DIR_INVALID;
	*out = af_now();
	if (dir == NULL)
		return AF_DIR_INVALID;
	st = store_get(af_dir_store(dir), EPOCH_KEY, &v);
	if (st == STORE_NOT_FOUND)
		return AF_DIR_OK;
	if (st != STORE_OK)
		return af_dir__from_store(st);
	/* Damage makes records as new as now: nobody looks idle. */
	if (v.len < sizeof(text)) {
		memcpy(text, v.data, v.len);
		text[v.len] = '\0';
		if (af_parse_ulong(text, 1, (unsigned long)*out, &t) == 0)
			*out = (int64_t)t;
	}
	store_value_free(&v);
	return AF_DIR_OK;
}

int64_t af_dir_user_idle_since(const json_t *user, int64_t last, int64_t epoch)
{
	static const char *const members[] = {
		"created_at", AF_DIR_USER_ENABLED_AT, AF_DIR_USER_PW_SET_AT};
	int64_t since = last > epoch ? last : epoch;
	json_int_t t;
	size_t i;

	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		t = json_integer_value(json_object_get(user, members[i]));
		if (t > since)
			since = t;
	}
	return since;
}
