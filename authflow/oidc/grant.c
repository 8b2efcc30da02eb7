/* Codes and tokens in the store. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/jose.h"
#include "common/util.h"
#include "oidc/grant.h"

#define SEL_BYTES	   16 /* a selector: 128 bits */
#define VER_BYTES	   24 /* a token's secret part: 192 random bits */
#define VER_LEN		   32 /* ... in base64url */
#define OPAQUE_LEN	   (AF_GRANT_SEL_LEN + 1 + VER_LEN)
#define KEY_BUF		   80
/*
 * As long as any access token of the family lives (each carries its
 * family, "fam", and is refused once the family is marked), and so
 * longer than any issuance of tokens takes; see family_mark().
 */
#define FAMILY_MARK_TTL_MS ((uint64_t)AF_ACCESS_TTL_S * 1000)
/*
 * With a grace period, a refresh that finds its family's record taken by
 * a rotation under way waits for the new record: for at most
 * ROTATION_WAIT_MS, looking every ROTATION_POLL_MS, while the rotation's
 * mark (ROTATING_TTL_MS) says one is under way; see redeem_refresh().
 */
#define ROTATION_WAIT_MS   1000
#define ROTATION_POLL_MS   10
#define ROTATING_TTL_MS	   2000
/*
 * Tokens rotated out and still taken within the grace period, at most:
 * past that, the oldest ones drop out, and within their time a token not
 * known is refused without revoking the family ("rt_prev_lost").
 */
#define PREV_MAX	   64

static const char *const prefixes[] = {"code:", "at:", "rt:"};

/*
 * The store TTL of a token of kind in *ms. A refresh token's record ends
 * with its family's lifetime, rt_exp (Unix seconds), to the millisecond,
 * so that no rotation outlives it. 0, or -1 when that lifetime is over
 * (or rt_exp is no time): the token must not be issued.
 */
static int ttl_of(af_grant_kind kind, const json_t *grant, uint64_t *ms)
{
	const json_t *exp;
	json_int_t end;
	int64_t left;

	switch (kind) {
	case AF_GRANT_CODE:
		*ms = (uint64_t)AF_CODE_TTL_S * 1000;
		return 0;
	case AF_GRANT_ACCESS:
		*ms = (uint64_t)AF_ACCESS_TTL_S * 1000;
		return 0;
	case AF_GRANT_REFRESH:
		exp = json_object_get(grant, "rt_exp");
		if (exp == NULL) {
			*ms = (uint64_t)AF_REFRESH_LIFETIME_S * 1000;
			return 0;
		}
		end = json_integer_value(exp);
		if (!json_is_integer(exp) || end <= 0 || end > INT64_MAX / 1000)
			return -1;
		left = (int64_t)end * 1000 - af_now_ms();
		if (left <= 0)
			return -1;
		*ms = (uint64_t)left;
		return 0;
	}
	return -1;
}

int af_grant_refresh_ended(const json_t *grant)
{
	uint64_t ms;

	return ttl_of(AF_GRANT_REFRESH, grant, &ms) != 0;
}

/* Writes rec under key, unless the key exists. 0 or -1. */
static int put(af_server *srv, const char *key, const json_t *rec,
	       uint64_t ttl_ms)
{
	char *text = json_dumps(rec, JSON_COMPACT);
	store_status st;

	if (text == NULL)
		return -1;
	st = store_set(srv->store, key, text, strlen(text), ttl_ms,
		       STORE_SET_NX);
	free(text);
	return st == STORE_OK ? 0 : -1;
}

/*
 * The record kept for a token: what its readers need, and vhash, the hash
 * of its secret part; an access token's also its end, exp (Unix seconds),
 * which /introspect tells (its TTL keeps it). New reference, or NULL.
 */
static json_t *record_of(af_grant_kind kind, const json_t *grant,
			 const char *vhash, int64_t exp)
{
	json_t *rec;

	if (kind == AF_GRANT_ACCESS)
		rec = json_pack(
			"{s:O?, s:O?, s:O*, s:O?, s:O*, s:O*, s:I}",
			"client_id", json_object_get(grant, "client_id"), "sub",
			json_object_get(grant, "sub"), "username",
			json_object_get(grant, "username"), "scope",
			json_object_get(grant, "scope"), "gen",
			json_object_get(grant, "gen"), "fam",
			json_object_get(grant, "fam"), "exp", (json_int_t)exp);
	else
		rec = json_deep_copy(grant);
	/* A refresh record's family is its own selector. */
	if (kind == AF_GRANT_REFRESH)
		json_object_del(rec, "fam");
	if (rec == NULL || json_object_set_new(rec, "v", json_string(vhash))) {
		json_decref(rec);
		return NULL;
	}
	return rec;
}

/*
 * Whether vhash is in the grace list of a refresh token's record
 * ("rt_prev": [[hash, until_ms, rotated_ms], ...], the tokens rotated out
 * within the grace period then) and was rotated out less than grace_s
 * ago, the app's period now (one made shorter applies at once). Every
 * entry is compared.
 */
static int prev_holds(const json_t *rec, const char *vhash, int grace_s)
{
	const json_t *e;
	const char *h;
	json_int_t now = af_now_ms();
	size_t i;
	int hit = 0;

	json_array_foreach(json_object_get(rec, "rt_prev"), i, e)
	{
		h = json_string_value(json_array_get(e, 0));
		if (h != NULL && af_ct_streq(h, vhash) &&
		    json_integer_value(json_array_get(e, 1)) > now &&
		    json_integer_value(json_array_get(e, 2)) +
				    (json_int_t)grace_s * 1000 >
			    now)
			hit = 1;
	}
	return hit;
}

/*
 * Parses a token's record and checks that it holds vhash, or, with a
 * grace period of grace_s seconds (a refresh token's), has it in its
 * grace list. 0 and *grant (with the hash, "v"), 1 when it holds
 * another, -1 when it is corrupt.
 */
static int parse_record(const store_value *v, const char *vhash, int grace_s,
			json_t **grant)
{
	json_t *o = json_loadb((const char *)v->data, v->len, 0, NULL);
	const char *have;

	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	have = json_string_value(json_object_get(o, "v"));
	if (have == NULL || (!af_ct_streq(have, vhash) &&
			     !(grace_s > 0 && prev_holds(o, vhash, grace_s)))) {
		json_decref(o);
		return 1;
	}
	*grant = o;
	return 0;
}

/* parse_record(), and *grant without the hash. */
static int parse_checked(const store_value *v, const char *vhash, int grace_s,
			 json_t **grant)
{
	int rc = parse_record(v, vhash, grace_s, grant);

	if (rc == 0)
		json_object_del(*grant, "v");
	return rc;
}

/* The selector of a JWT access token of ours: its jti. 0 or -1. */
static int jwt_selector(af_server *srv, const char *jwt,
			char sel[AF_GRANT_SEL_BUF])
{
	json_t *claims = NULL;
	const char *jti;
	int rc = -1;

	if (af_jwt_verify_typ(srv->keys, jwt, strnlen(jwt, JOSE_JWT_MAX + 1),
			      AF_ACCESS_TOKEN_TYP, &claims) != JOSE_OK)
		return -1;
	jti = json_string_value(json_object_get(claims, "jti"));
	if (jti != NULL && strlen(jti) == AF_GRANT_SEL_LEN &&
	    af_b64url_text_ok(jti, AF_GRANT_SEL_LEN)) {
		memcpy(sel, jti, AF_GRANT_SEL_BUF);
		rc = 0;
	}
	json_decref(claims);
	return rc;
}

/* The record key of a token of kind under selector sel. */
static void sel_key(af_grant_kind kind, const char *sel, char key[KEY_BUF])
{
	snprintf(key, KEY_BUF, "%s%s", prefixes[kind], sel);
}

/*
 * Stores the record of a token of kind under selector sel, holding vhash,
 * the hash of the token's secret part. 0 or -1.
 */
static int put_token(af_server *srv, af_grant_kind kind, const char *sel,
		     const json_t *grant, const char *vhash, int64_t exp)
{
	char key[KEY_BUF];
	json_t *rec = record_of(kind, grant, vhash, exp);
	uint64_t ttl;
	int rc;

	if (rec == NULL)
		return -1;
	sel_key(kind, sel, key);
	rc = ttl_of(kind, grant, &ttl) == 0 ? put(srv, key, rec, ttl) : -1;
	json_decref(rec);
	return rc;
}

/*
 * The record key of an access or refresh token and the hash of its secret
 * part that the record must hold. 0, or 1 when value is no such token.
 */
static int token_key(af_server *srv, af_grant_kind kind, const char *value,
		     char key[KEY_BUF], char vhash[JOSE_HALF_HASH_LEN])
{
	char sel[AF_GRANT_SEL_BUF];

	if (kind != AF_GRANT_ACCESS && kind != AF_GRANT_REFRESH)
		return 1;
	if (af_grant_selector(value, sel) == 0)
		af_oidc_half_hash(value + AF_GRANT_SEL_LEN + 1, vhash,
				  JOSE_HALF_HASH_LEN);
	else if (kind == AF_GRANT_ACCESS && jwt_selector(srv, value, sel) == 0)
		af_oidc_half_hash(value, vhash, JOSE_HALF_HASH_LEN);
	else
		return 1;
	sel_key(kind, sel, key);
	return 0;
}

/* A code's record key: the code's SHA-256, never the code. */
/*
 * SHA-256 of the client id, a NUL and the code: what names a code, and
 * its family, for that client alone.
 */
static void client_code_hash(const char *client_id, const char *code,
			     uint8_t d[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, af_sha256_md(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, client_id, strlen(client_id) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, code, strlen(code)) != 1 ||
	    EVP_DigestFinal_ex(ctx, d, &n) != 1 || n != 32)
		/* Names nothing any code was stored under. */
		memset(d, 0, 32);
	EVP_MD_CTX_free(ctx);
}

static void code_key(const char *client_id, const char *code, char key[KEY_BUF])
{
	uint8_t d[32];
	char hex[65];

	client_code_hash(client_id, code, d);
	af_hex(d, sizeof(d), hex);
	snprintf(key, KEY_BUF, "%s%s", prefixes[AF_GRANT_CODE], hex);
}

int af_grant_issue_code(af_server *srv, const json_t *grant, char *out,
			size_t outcap)
{
	const char *client_id =
		json_string_value(json_object_get(grant, "client_id"));
	char key[KEY_BUF];
	uint64_t ttl;

	if (client_id == NULL ||
	    af_random_token(AF_TOKEN_BYTES, out, outcap) != 0)
		return -1;
	code_key(client_id, out, key);
	if (ttl_of(AF_GRANT_CODE, grant, &ttl) != 0 ||
	    put(srv, key, grant, ttl) != 0) {
		OPENSSL_cleanse(out, outcap);
		return -1;
	}
	return 0;
}

void af_grant_family(const char *client_id, const char *code,
		     af_grant_kind kind, char sel[AF_GRANT_SEL_BUF])
{
	static const char label[] = "authflow token family ";
	uint8_t buf[sizeof(label) - 1 + 1 + 32], d[32];

	/*
	 * Domain-separated from the code's own store key, and by kind: an
	 * access token presented as a refresh token names no record.
	 */
	memcpy(buf, label, sizeof(label) - 1);
	buf[sizeof(label) - 1] = (uint8_t)kind;
	client_code_hash(client_id, code, buf + sizeof(label));
	af_sha256(buf, sizeof(buf), d);
	if (af_b64url_encode(d, SEL_BYTES, sel, AF_GRANT_SEL_BUF) != 0)
		sel[0] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
}

int af_grant_selector(const char *token, char sel[AF_GRANT_SEL_BUF])
{
	if (token == NULL || strnlen(token, OPAQUE_LEN + 1) != OPAQUE_LEN ||
	    token[AF_GRANT_SEL_LEN] != '.' ||
	    !af_b64url_text_ok(token, AF_GRANT_SEL_LEN) ||
	    !af_b64url_text_ok(token + AF_GRANT_SEL_LEN + 1, VER_LEN))
		return -1;
	memcpy(sel, token, AF_GRANT_SEL_LEN);
	sel[AF_GRANT_SEL_LEN] = '\0';
	return 0;
}

int af_grant_new_selector(char sel[AF_GRANT_SEL_BUF])
{
	return af_random_token(SEL_BYTES, sel, AF_GRANT_SEL_BUF);
}

int af_grant_issue(af_server *srv, af_grant_kind kind, const char *sel,
		   const json_t *grant, char *out, size_t outcap)
{
	char own[AF_GRANT_SEL_BUF], ver[VER_LEN + 1];
	char vhash[JOSE_HALF_HASH_LEN];
	int rc = -1;

	if ((kind != AF_GRANT_ACCESS && kind != AF_GRANT_REFRESH) ||
	    outcap < OPAQUE_LEN + 1)
		return -1;
	if (sel == NULL) {
		if (af_grant_new_selector(own) != 0)
			return -1;
		sel = own;
	}
	if (af_random_token(VER_BYTES, ver, sizeof(ver)) != 0)
		goto out;
	af_oidc_half_hash(ver, vhash, sizeof(vhash));
	if (put_token(srv, kind, sel, grant, vhash,
		      af_now() + AF_ACCESS_TTL_S) != 0)
		goto out;
	snprintf(out, outcap, "%s.%s", sel, ver);
	rc = 0;
out:
	OPENSSL_cleanse(ver, sizeof(ver));
	return rc;
}

int af_grant_store_jwt(af_server *srv, const char *sel, const char *jwt,
		       const json_t *grant, int64_t exp)
{
	char vhash[JOSE_HALF_HASH_LEN];

	af_oidc_half_hash(jwt, vhash, sizeof(vhash));
	return put_token(srv, AF_GRANT_ACCESS, sel, grant, vhash, exp);
}

/*
 * Whether the refresh family an access token's grant names ("fam") was
 * revoked: 1 yes, 0 no (or none named), -1 on store failure. Every
 * access token of a revoked family goes with it, however many there
 * were (the refresh token's record notes only the newest).
 */
static int family_revoked(af_server *srv, const json_t *grant)
{
	const char *fam = json_string_value(json_object_get(grant, "fam"));
	char key[KEY_BUF];
	store_value v = {0};
	store_status st;

	if (fam == NULL || strlen(fam) != AF_GRANT_SEL_LEN ||
	    !af_b64url_text_ok(fam, AF_GRANT_SEL_LEN))
		return 0;
	snprintf(key, KEY_BUF, "rt_revoked:%s", fam);
	st = store_get(srv->store, key, &v);
	store_value_free(&v);
	if (st == STORE_NOT_FOUND)
		return 0;
	return st == STORE_OK ? 1 : -1;
}

static int lookup(af_server *srv, af_grant_kind kind, const char *value,
		  int grace_s, json_t **grant)
{
	char key[KEY_BUF], vhash[JOSE_HALF_HASH_LEN];
	store_value v = {0};
	store_status st;
	int rc;

	*grant = NULL;
	if (value == NULL || token_key(srv, kind, value, key, vhash) != 0)
		return 1;
	st = store_get(srv->store, key, &v);
	if (st == STORE_NOT_FOUND)
		return 1;
	if (st != STORE_OK)
		return -1;
	rc = parse_checked(&v, vhash, grace_s, grant);
	store_value_free(&v);
	if (rc == 0 && kind == AF_GRANT_ACCESS) {
		rc = family_revoked(srv, *grant);
		if (rc != 0) {
			json_decref(*grant);
			*grant = NULL;
		}
		if (rc == 1 && store_del(srv->store, key) != STORE_OK)
			log_warn(srv->log, NULL, "revoke",
				 "could not revoke an access token");
	}
	return rc;
}

int af_grant_lookup(af_server *srv, af_grant_kind kind, const char *value,
		    json_t **grant)
{
	return lookup(srv, kind, value, 0, grant);
}

int af_grant_lookup_refresh(af_server *srv, const char *value, int grace_s,
			    json_t **grant)
{
	return lookup(srv, AF_GRANT_REFRESH, value, grace_s, grant);
}

/*
 * Sets grant's list member to its newest max - 1 entries [text, until,
 * ...] whose until is after now, and entry (taken) after them. *lost
 * (may be NULL) gets the latest until of the entries dropped for room,
 * or 0. 0 or -1.
 */
static int note_until(json_t *grant, const char *member, size_t max,
		      json_t *entry, json_int_t now, json_int_t *lost)
{
	json_t *old = json_object_get(grant, member), *keep, *e;
	json_int_t until;
	size_t i, n, skip;

	if (lost != NULL)
		*lost = 0;
	keep = json_array();
	if (keep == NULL || entry == NULL) {
		json_decref(keep);
		json_decref(entry);
		return -1;
	}
	n = json_array_size(old);
	skip = n >= max ? n - (max - 1) : 0;
	for (i = 0; i < n; i++) {
		e = json_array_get(old, i);
		until = json_integer_value(json_array_get(e, 1));
		if (!json_is_string(json_array_get(e, 0)) || until <= now)
			continue;
		if (i >= skip)
			json_array_append(keep, e);
		else if (lost != NULL && until > *lost)
			*lost = until;
	}
	if (json_array_append_new(keep, entry) != 0) {
		json_decref(keep);
		return -1;
	}
	return json_object_set_new(grant, member, keep) != 0 ? -1 : 0;
}

int af_grant_note_access(json_t *grant, const char *sel)
{
	return note_until(grant, "ats", AF_GRANT_NOTED_MAX,
			  json_pack("[s, I]", sel,
				    (json_int_t)af_now() + AF_ACCESS_TTL_S),
			  af_now(), NULL);
}

void af_grant_revoke_noted(af_server *srv, const json_t *grant)
{
	const json_t *e;
	const char *sel;
	char key[KEY_BUF];
	size_t i;

	json_array_foreach(json_object_get(grant, "ats"), i, e)
	{
		sel = json_string_value(json_array_get(e, 0));
		if (sel == NULL || strlen(sel) != AF_GRANT_SEL_LEN ||
		    !af_b64url_text_ok(sel, AF_GRANT_SEL_LEN))
			continue;
		sel_key(AF_GRANT_ACCESS, sel, key);
		if (store_del(srv->store, key) != STORE_OK)
			log_warn(srv->log, NULL, "revoke",
				 "could not revoke an access token");
	}
}

/* The record of a refresh token that was just taken away: its access
 * tokens go too. */
/* Revokes the access tokens record v noted; returns it parsed (or NULL). */
static json_t *revoke_record(af_server *srv, const store_value *v)
{
	json_t *o = json_loadb((const char *)v->data, v->len, 0, NULL);

	af_grant_revoke_noted(srv, o);
	return o;
}

/*
 * A family is revoked while tokens may be being issued into it (a code's
 * first redemption, a refresh token's rotation: its record is gone until
 * the new one is written). The revoker marks the family first
 * ("rt_revoked:<refresh selector>") and then takes its records away; the
 * issuer writes its records first and then looks for the mark
 * (af_grant_family_check()). Whichever order the two interleave in,
 * either the revoker finds the new records or the issuer finds the mark.
 * The mark only has to outlive an issuance under way.
 */
static void family_mark(af_server *srv, const char *rt_sel)
{
	char key[KEY_BUF];

	snprintf(key, KEY_BUF, "rt_revoked:%s", rt_sel);
	if (store_set(srv->store, key, "1", 1, FAMILY_MARK_TTL_MS, 0) !=
	    STORE_OK)
		log_warn(srv->log, NULL, "revoke",
			 "could not mark a token family revoked");
}

/* Takes away the family's refresh token and the access tokens it noted. */
static void family_take(af_server *srv, const char *rt_sel)
{
	char key[KEY_BUF];
	store_value v = {0};

	sel_key(AF_GRANT_REFRESH, rt_sel, key);
	if (store_getdel(srv->store, key, &v) == STORE_OK)
		json_decref(revoke_record(srv, &v));
	store_value_free(&v);
}

/* The key of the list of a user's refresh families; 0, or -1. */
static int user_key(const char *username, char *key, size_t cap)
{
	int n = snprintf(key, cap, "user_grants:%s", username);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* 1 when member is a refresh selector, as filed. */
static int is_selector(const char *member)
{
	return strlen(member) + 1 == AF_GRANT_SEL_BUF &&
	       af_b64url_text_ok(member, AF_GRANT_SEL_BUF - 1);
}

/* A walk over the families filed under a user. */
struct filed_walk {
	af_server *srv;
	const char *key;  /* the list's */
	int64_t keep_gen; /* take only families of another generation */
	int take;	  /* take them; else drop the members gone */
	int failed;
	af_grant_fn fn; /* not taking: called with each record, or NULL */
	void *arg;
};

static int walk_filed(const char *member, void *arg)
{
	struct filed_walk *w = arg;
	char key[KEY_BUF];
	store_value v = {0};
	store_status st;
	json_t *rec;
	int mine;

	if (!is_selector(member))
		return 0;
	sel_key(AF_GRANT_REFRESH, member, key);
	st = store_get(w->srv->store, key, &v);
	if (st == STORE_OK && w->take) {
		rec = json_loadb((const char *)v.data, v.len, 0, NULL);
		mine = w->keep_gen >= 0 && rec != NULL &&
		       json_integer_value(json_object_get(rec, "gen")) ==
			       w->keep_gen;
		json_decref(rec);
		/* A sign-in since the change: its family stands. */
		if (mine) {
			store_value_free(&v);
			return 0;
		}
		family_mark(w->srv, member);
		family_take(w->srv, member);
		st = STORE_NOT_FOUND;
	} else if (st == STORE_OK && w->fn != NULL) {
		rec = json_loadb((const char *)v.data, v.len, 0, NULL);
		if (json_is_object(rec))
			w->fn(rec, w->arg);
		json_decref(rec);
	}
	store_value_free(&v);
	/*
	 * A listing changes nothing: a family being refreshed has no
	 * record for a moment, and must stay filed.
	 */
	if (st == STORE_NOT_FOUND && w->fn == NULL)
		st = store_srem(w->srv->store, w->key, member);
	if (st == STORE_NOT_FOUND)
		st = STORE_OK;
	if (st != STORE_OK)
		w->failed = 1;
	return 0;
}

/*
 * Walks the families filed under username with w, its list's key into
 * key (KEY_BUF bytes). 0, or -1 when the list could not be read (a
 * failure on one family is w->failed).
 */
static int walk_user(const char *username, struct filed_walk *w, char *key)
{
	if (username == NULL || user_key(username, key, KEY_BUF) != 0)
		return -1;
	w->key = key;
	return store_smembers(w->srv->store, key, walk_filed, w) == STORE_OK
		       ? 0
		       : -1;
}

int af_grant_file_user(af_server *srv, const char *username, const char *rt_sel)
{
	struct filed_walk w = {srv, NULL, -1, 0, 0, NULL, NULL};
	char key[KEY_BUF];

	/* Families gone since (expired, revoked) leave the list first. */
	if (rt_sel == NULL || walk_user(username, &w, key) != 0)
		return -1;
	return store_sadd_ttl(srv->store, key, rt_sel,
			      (uint64_t)AF_REFRESH_LIFETIME_S * 1000u) ==
			       STORE_OK
		       ? 0
		       : -1;
}

int af_grant_list_user(af_server *srv, const char *username, af_grant_fn fn,
		       void *arg)
{
	struct filed_walk w = {srv, NULL, -1, 0, 0, fn, arg};
	char key[KEY_BUF];

	return fn != NULL && walk_user(username, &w, key) == 0 && !w.failed
		       ? 0
		       : -1;
}

int af_grant_take_user(af_server *srv, const char *username, int64_t keep_gen)
{
	struct filed_walk w = {srv, NULL, keep_gen, 1, 0, NULL, NULL};
	char key[KEY_BUF];

	return walk_user(username, &w, key) == 0 && !w.failed ? 0 : -1;
}

int af_grant_family_check(af_server *srv, const char *at_sel,
			  const char *rt_sel)
{
	char key[KEY_BUF];
	store_value v = {0};
	store_status st;

	snprintf(key, KEY_BUF, "rt_revoked:%s", rt_sel);
	st = store_get(srv->store, key, &v);
	store_value_free(&v);
	if (st == STORE_NOT_FOUND)
		return 0;
	if (st != STORE_OK)
		return -1;
	sel_key(AF_GRANT_ACCESS, at_sel, key);
	if (store_del(srv->store, key) != STORE_OK)
		log_warn(srv->log, NULL, "revoke",
			 "could not revoke an access token");
	family_take(srv, rt_sel);
	return 1;
}

/*
 * A replayed code: revokes the tokens of its family. Returns the record
 * of one of them (the grant's, with its "username" and "client_id"; an
 * empty object when it cannot be read), or NULL when there were none.
 */
static json_t *revoke_family(af_server *srv, const char *client_id,
			     const char *code)
{
	char sel[AF_GRANT_SEL_BUF], key[KEY_BUF];
	af_grant_kind kind;
	json_t *found = NULL, *o;

	af_grant_family(client_id, code, AF_GRANT_REFRESH, sel);
	family_mark(srv, sel);
	for (kind = AF_GRANT_ACCESS; kind <= AF_GRANT_REFRESH; kind++) {
		store_value v = {0};

		af_grant_family(client_id, code, kind, sel);
		sel_key(kind, sel, key);
		if (store_getdel(srv->store, key, &v) == STORE_OK) {
			o = kind == AF_GRANT_REFRESH
				    ? revoke_record(srv, &v)
				    : json_loadb((const char *)v.data, v.len, 0,
						 NULL);
			if (found == NULL && json_is_object(o))
				found = json_incref(o);
			json_decref(o);
			if (found == NULL)
				found = json_object();
		}
		store_value_free(&v);
	}
	return found;
}

static int redeem_code(af_server *srv, const char *client_id, const char *code,
		       json_t **grant, json_t **revoked)
{
	char key[KEY_BUF];
	store_value v = {0};
	store_status st;
	json_t *found;

	code_key(client_id, code, key);
	st = store_getdel(srv->store, key, &v);
	if (st == STORE_NOT_FOUND) {
		found = revoke_family(srv, client_id, code);
		if (revoked != NULL)
			*revoked = found;
		else
			json_decref(found);
		return 1;
	}
	if (st != STORE_OK)
		return -1;
	*grant = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	if (!json_is_object(*grant)) {
		json_decref(*grant);
		*grant = NULL;
		return -1;
	}
	return 0;
}

/* Marks a rotation of the family of rt_sel under way; see redeem_refresh(). */
static void rotation_mark(af_server *srv, const char *rt_sel)
{
	char key[KEY_BUF];

	snprintf(key, KEY_BUF, "rt_rotating:%s", rt_sel);
	if (store_set(srv->store, key, "1", 1, ROTATING_TTL_MS, 0) != STORE_OK)
		log_warn(srv->log, NULL, "refresh",
			 "could not mark a refresh token's rotation");
}

/* Whether the store holds key (a failure counts as no). */
static int key_exists(af_server *srv, const char *key)
{
	store_value v = {0};
	store_status st = store_get(srv->store, key, &v);

	store_value_free(&v);
	return st == STORE_OK;
}

/*
 * Whether a refresh that found no record should look again: a rotation
 * of the family is under way (its mark) and it was not revoked.
 */
static int rotation_under_way(af_server *srv, const char *rt_sel)
{
	char key[KEY_BUF];

	snprintf(key, KEY_BUF, "rt_revoked:%s", rt_sel);
	if (key_exists(srv, key))
		return 0;
	snprintf(key, KEY_BUF, "rt_rotating:%s", rt_sel);
	return key_exists(srv, key);
}

static void pause_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

	(void)nanosleep(&t, NULL);
}

/*
 * Takes the refresh token record under key away. With a grace period, a
 * record taken by a rotation under way is waited for: the winner of the
 * record marks its rotation right after taking it, and one that finds
 * neither record nor mark looks once more, a poll later, in case it came
 * between the two. STORE_OK and *v, STORE_NOT_FOUND, or a store failure.
 */
static store_status take_record(af_server *srv, const char *key,
				const char *sel, int grace, store_value *v)
{
	int64_t deadline = af_now_ms() + ROTATION_WAIT_MS;
	int looked_again = 0;
	store_status st;

	for (;;) {
		st = store_getdel(srv->store, key, v);
		if (st == STORE_OK && grace)
			rotation_mark(srv, sel);
		if (st != STORE_NOT_FOUND || !grace)
			return st;
		if (af_now_ms() >= deadline) {
			log_warn(srv->log, NULL, "refresh",
				 "a rotation of a refresh token's family did "
				 "not finish within %d ms: the family is "
				 "revoked",
				 ROTATION_WAIT_MS);
			return st;
		}
		if (!rotation_under_way(srv, sel)) {
			if (looked_again)
				return st;
			looked_again = 1;
		}
		pause_ms(ROTATION_POLL_MS);
	}
}

/*
 * A refresh token record taken away (raw) whose full grace list dropped
 * entries whose time is not up yet: a token it does not know may be one
 * of those, so the record is written back as it was. 1 when it was such a
 * record, else 0 (and it stays taken).
 */
static int put_back_if_lost(af_server *srv, const char *key,
			    const store_value *v)
{
	json_t *o = json_loadb((const char *)v->data, v->len, 0, NULL);
	int lost = json_integer_value(json_object_get(o, "rt_prev_lost")) >
		   af_now_ms();
	uint64_t ttl;

	/* A family past its lifetime stays taken: it is over anyway. */
	if (lost && ttl_of(AF_GRANT_REFRESH, o, &ttl) == 0 &&
	    store_set(srv->store, key, (const char *)v->data, v->len, ttl,
		      STORE_SET_NX) != STORE_OK)
		log_warn(srv->log, NULL, "refresh",
			 "could not put a refresh token record back");
	json_decref(o);
	return lost;
}

/*
 * The grace list of the record a rotation writes (grant): the token
 * rotated out now (have, the record's current one, whichever token was
 * presented) until grace_s from now, with the entries whose time is not
 * up; "rt_prev_lost" the time until which entries dropped for room would
 * have lived. Without a grace period, neither. 0 or -1.
 */
static int note_rotation(json_t *grant, const char *have, int grace_s)
{
	json_int_t now = af_now_ms(), lost = 0,
		   was = json_integer_value(
			   json_object_get(grant, "rt_prev_lost"));

	if (grace_s <= 0) {
		json_object_del(grant, "rt_prev");
		json_object_del(grant, "rt_prev_lost");
		return 0;
	}
	if (note_until(grant, "rt_prev", PREV_MAX,
		       json_pack("[s, I, I]", have,
				 now + (json_int_t)grace_s * 1000, now),
		       now, &lost) != 0)
		return -1;
	if (was > lost)
		lost = was;
	if (lost > now)
		return json_object_set_new(grant, "rt_prev_lost",
					   json_integer(lost)) != 0
			       ? -1
			       : 0;
	json_object_del(grant, "rt_prev_lost");
	return 0;
}

/*
 * Consumes a refresh token. Its record holds the current token's hash
 * ("v") and, with a grace period, those of tokens rotated out less than
 * the period ago, each with its time and when it was rotated out
 * ("rt_prev"). The grant returned carries
 * the list for the record the rotation writes: the token rotated out now
 * (the record's current one, whichever token was presented) until
 * grace_s from now, with the entries whose time is not up; without a
 * grace period, none.
 */
static int redeem_refresh(af_server *srv, const char *value, int grace_s,
			  json_t **grant, af_grant_rt_seen *seen,
			  json_t **revoked)
{
	char key[KEY_BUF], vhash[JOSE_HALF_HASH_LEN], sel[AF_GRANT_SEL_BUF];
	const char *have;
	store_value v = {0};
	store_status st;
	json_t *rec;
	int rc;

	*seen = AF_GRANT_RT_UNKNOWN;
	if (token_key(srv, AF_GRANT_REFRESH, value, key, vhash) != 0 ||
	    af_grant_selector(value, sel) != 0)
		return 1;
	st = take_record(srv, key, sel, grace_s > 0, &v);
	if (st == STORE_NOT_FOUND) {
		/*
		 * No record: unknown, or the same token used at once by
		 * another request, whose rotation is under way. Both lose.
		 */
		family_mark(srv, sel);
		family_take(srv, sel);
		return 1;
	}
	if (st != STORE_OK) {
		*seen = AF_GRANT_RT_FAILED;
		return -1;
	}
	rc = parse_record(&v, vhash, grace_s, grant);
	if (rc == 1 && grace_s > 0 && put_back_if_lost(srv, key, &v)) {
		*seen = AF_GRANT_RT_UNSURE;
	} else if (rc == 1) {
		family_mark(srv, sel);
		rec = revoke_record(srv, &v);
		*seen = AF_GRANT_RT_REUSED;
		if (revoked != NULL)
			*revoked = rec;
		else
			json_decref(rec);
	}
	store_value_free(&v);
	if (rc != 0) {
		if (rc < 0)
			*seen = AF_GRANT_RT_FAILED;
		return rc;
	}
	have = json_string_value(json_object_get(*grant, "v"));
	*seen = af_ct_streq(have, vhash) ? AF_GRANT_RT_CURRENT
					 : AF_GRANT_RT_WITHIN_GRACE;
	rc = note_rotation(*grant, have, grace_s);
	json_object_del(*grant, "v");
	if (rc != 0) {
		*seen = AF_GRANT_RT_FAILED;
		json_decref(*grant);
		*grant = NULL;
	}
	return rc;
}

int af_grant_redeem_refresh(af_server *srv, const char *value, int grace_s,
			    json_t **grant, af_grant_rt_seen *seen,
			    json_t **revoked)
{
	af_grant_rt_seen ignored;

	*grant = NULL;
	if (revoked != NULL)
		*revoked = NULL;
	if (seen == NULL)
		seen = &ignored;
	*seen = AF_GRANT_RT_UNKNOWN;
	if (value == NULL || value[0] == '\0' ||
	    strnlen(value, AF_TOKEN_TEXT_MAX + 1) > AF_TOKEN_TEXT_MAX)
		return 1;
	return redeem_refresh(srv, value, grace_s, grant, seen, revoked);
}

int af_grant_refresh_foreign(af_server *srv, const char *value,
			     const char *client_id)
{
	char key[KEY_BUF], vhash[JOSE_HALF_HASH_LEN];
	store_value v = {0};
	const char *cid;
	json_t *o;
	int rc;

	if (value == NULL || client_id == NULL ||
	    token_key(srv, AF_GRANT_REFRESH, value, key, vhash) != 0 ||
	    store_get(srv->store, key, &v) != STORE_OK)
		return 0;
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	cid = json_string_value(json_object_get(o, "client_id"));
	rc = cid != NULL && strcmp(cid, client_id) != 0;
	json_decref(o);
	return rc;
}

void af_grant_family_end(af_server *srv, const char *rt_sel,
			 const json_t *grant)
{
	family_mark(srv, rt_sel);
	family_take(srv, rt_sel);
	af_grant_revoke_noted(srv, grant);
}

int af_grant_redeem_code(af_server *srv, const char *client_id,
			 const char *value, json_t **grant, json_t **revoked)
{
	*grant = NULL;
	if (revoked != NULL)
		*revoked = NULL;
	if (client_id == NULL || value == NULL || value[0] == '\0' ||
	    strnlen(value, AF_TOKEN_TEXT_MAX + 1) > AF_TOKEN_TEXT_MAX)
		return 1;
	return redeem_code(srv, client_id, value, grant, revoked);
}

int af_grant_redeem(af_server *srv, af_grant_kind kind, const char *client_id,
		    const char *value, json_t **grant)
{
	*grant = NULL;
	if (kind == AF_GRANT_REFRESH)
		return af_grant_redeem_refresh(srv, value, 0, grant, NULL,
					       NULL);
	if (kind != AF_GRANT_CODE)
		return 1;
	return af_grant_redeem_code(srv, client_id, value, grant, NULL);
}

int af_grant_revoke(af_server *srv, af_grant_kind kind, const char *value)
{
	char key[KEY_BUF], vhash[JOSE_HALF_HASH_LEN], sel[AF_GRANT_SEL_BUF];

	if (value == NULL || token_key(srv, kind, value, key, vhash) != 0)
		return 0;
	if (kind == AF_GRANT_ACCESS || af_grant_selector(value, sel) != 0)
		return store_del(srv->store, key) == STORE_OK ? 0 : -1;
	family_mark(srv, sel);
	family_take(srv, sel);
	return 0;
}

void af_grant_revoke_family(af_server *srv, const char *value,
			    const char *client_id)
{
	char key[KEY_BUF], vhash[JOSE_HALF_HASH_LEN], sel[AF_GRANT_SEL_BUF];
	store_value v = {0};
	store_status st;
	json_t *o = NULL;
	int ours;

	if (value == NULL ||
	    token_key(srv, AF_GRANT_REFRESH, value, key, vhash) != 0 ||
	    af_grant_selector(value, sel) != 0)
		return;
	st = store_get(srv->store, key, &v);
	if (st == STORE_OK)
		o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	ours = json_is_string(json_object_get(o, "client_id")) &&
	       strcmp(json_string_value(json_object_get(o, "client_id")),
		      client_id) == 0;
	json_decref(o);
	if (st == STORE_NOT_FOUND || (st == STORE_OK && ours)) {
		family_mark(srv, sel);
		family_take(srv, sel);
	}
}

int af_grant_gen_current(const json_t *grant, const json_t *user)
{
	return json_integer_value(json_object_get(grant, "gen")) ==
	       af_dir_user_gen(user);
}
