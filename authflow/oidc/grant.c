/* Codes and tokens in the store, keyed by their SHA-256. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "oidc/grant.h"

static const char *const prefixes[] = {"code:", "at:", "rt:"};

static void key_of(af_grant_kind kind, const char *value, char *key,
		   size_t keycap)
{
	char hex[65];

	af_sha256_hex(value, strlen(value), hex);
	snprintf(key, keycap, "%s%s", prefixes[kind], hex);
}

static uint64_t ttl_of(af_grant_kind kind, const json_t *grant)
{
	json_int_t exp;

	switch (kind) {
	case AF_GRANT_CODE:
		return (uint64_t)AF_CODE_TTL_S * 1000;
	case AF_GRANT_ACCESS:
		return (uint64_t)AF_ACCESS_TTL_S * 1000;
	case AF_GRANT_REFRESH:
		exp = json_integer_value(json_object_get(grant, "rt_exp"));
		if (exp > af_now())
			return (uint64_t)(exp - af_now()) * 1000;
		return (uint64_t)AF_REFRESH_LIFETIME_S * 1000;
	}
	return 0;
}

int af_grant_store_value(af_server *srv, af_grant_kind kind, const char *value,
			 const json_t *grant)
{
	char key[80], *text;
	store_status st;

	text = json_dumps(grant, JSON_COMPACT);
	if (text == NULL)
		return -1;
	key_of(kind, value, key, sizeof(key));
	st = store_set(srv->store, key, text, strlen(text), ttl_of(kind, grant),
		       STORE_SET_NX);
	free(text);
	return st == STORE_OK ? 0 : -1;
}

int af_grant_issue(af_server *srv, af_grant_kind kind, const json_t *grant,
		   char *out, size_t outcap)
{
	if (af_random_token(AF_TOKEN_BYTES, out, outcap) != 0)
		return -1;
	if (af_grant_store_value(srv, kind, out, grant) != 0) {
		OPENSSL_cleanse(out, outcap);
		return -1;
	}
	return 0;
}

static int parse(const store_value *v, json_t **grant)
{
	*grant = json_loadb((const char *)v->data, v->len, 0, NULL);
	if (!json_is_object(*grant)) {
		json_decref(*grant);
		*grant = NULL;
		return -1;
	}
	return 0;
}

int af_grant_lookup(af_server *srv, af_grant_kind kind, const char *value,
		    json_t **grant)
{
	store_value v = {0};
	store_status st;
	char key[80];
	int rc;

	*grant = NULL;
	if (value == NULL || value[0] == '\0' || strlen(value) > JOSE_JWT_MAX)
		return 1;
	key_of(kind, value, key, sizeof(key));
	st = store_get(srv->store, key, &v);
	if (st == STORE_NOT_FOUND)
		return 1;
	if (st != STORE_OK)
		return -1;
	rc = parse(&v, grant);
	store_value_free(&v);
	return rc;
}

/* A replayed code: revoke what its first redemption issued. */
static void revoke_bound(af_server *srv, const char *code)
{
	char key[80], hex[65];
	store_value v = {0};
	json_t *o;

	af_sha256_hex(code, strlen(code), hex);
	snprintf(key, sizeof(key), "code_used:%s", hex);
	if (store_get(srv->store, key, &v) != STORE_OK)
		return;
	o = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	if (o == NULL)
		return;
	/* The stored values are the token keys' hashes, not the tokens. */
	if (json_is_string(json_object_get(o, "at")))
		(void)!store_del(srv->store,
				 json_string_value(json_object_get(o, "at")));
	if (json_is_string(json_object_get(o, "rt")))
		(void)!store_del(srv->store,
				 json_string_value(json_object_get(o, "rt")));
	json_decref(o);
	log_warn(srv->log, NULL, "code_replay",
		 "authorization code presented twice: tokens revoked");
}

int af_grant_redeem(af_server *srv, af_grant_kind kind, const char *value,
		    json_t **grant)
{
	store_value v = {0};
	store_status st;
	char key[80];
	int rc;

	*grant = NULL;
	if (value == NULL || value[0] == '\0' ||
	    strlen(value) > AF_TOKEN_TEXT_MAX)
		return 1;
	key_of(kind, value, key, sizeof(key));
	st = store_getdel(srv->store, key, &v);
	if (st == STORE_NOT_FOUND) {
		if (kind == AF_GRANT_CODE)
			revoke_bound(srv, value);
		return 1;
	}
	if (st != STORE_OK)
		return -1;
	rc = parse(&v, grant);
	store_value_free(&v);
	return rc;
}

void af_grant_bind(af_server *srv, const char *code, const char *access,
		   const char *refresh)
{
	char key[80], hex[65], at[80], rt[80];
	long ttl_s;
	json_t *o;
	char *text;

	af_sha256_hex(code, strlen(code), hex);
	snprintf(key, sizeof(key), "code_used:%s", hex);
	key_of(AF_GRANT_ACCESS, access, at, sizeof(at));
	o = json_pack("{s:s}", "at", at);
	if (o == NULL)
		return;
	if (refresh != NULL) {
		key_of(AF_GRANT_REFRESH, refresh, rt, sizeof(rt));
		json_object_set_new(o, "rt", json_string(rt));
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return;
	/*
	 * A replayed code revokes what the first redemption issued, for as
	 * long as that lives: the refresh token's lifetime when there is
	 * one, else the access token's.
	 */
	ttl_s = refresh != NULL ? AF_REFRESH_LIFETIME_S : AF_ACCESS_TTL_S;
	if (store_set(srv->store, key, text, strlen(text),
		      (uint64_t)ttl_s * 1000, 0) != STORE_OK)
		log_warn(srv->log, NULL, "code_bind",
			 "could not record the code's tokens");
	free(text);
}

int af_grant_revoke(af_server *srv, af_grant_kind kind, const char *value)
{
	char key[80];

	key_of(kind, value, key, sizeof(key));
	return store_del(srv->store, key) == STORE_OK ? 0 : -1;
}
