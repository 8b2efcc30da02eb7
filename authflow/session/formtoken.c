/*
 * The form token of a browser session; see formtoken.h.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/store.h"
#include "common/util.h"
#include "session/formtoken.h"

#define KEY_PREFIX "form:"

static void form_key(const af_session *s, char *key, size_t cap)
{
	snprintf(key, cap, "%s%s", KEY_PREFIX, s->sid);
}

/* The token at key into token: STORE_OK, STORE_NOT_FOUND or a failure. */
static store_status form_token_get(af_server *srv, const char *key, char *token,
				   size_t cap)
{
	store_value v = {0};
	store_status st;

	st = store_get(srv->store, key, &v);
	if (st == STORE_OK) {
		/* Not one this server wrote: as good as none. */
		if (v.len >= cap ||
		    !af_b64url_text_ok((const char *)v.data, v.len)) {
			st = STORE_NOT_FOUND;
		} else {
			memcpy(token, v.data, v.len);
			token[v.len] = '\0';
		}
	}
	store_value_free(&v);
	return st;
}

/*
 * The form token of session s into token (AF_FORM_TOKEN_BUF bytes): the one
 * it has, kept another AF_FORM_TOKEN_TTL_MS, or a new one. 0, or -1 when the
 * store or the RNG failed.
 */
int af_form_token(af_server *srv, const af_session *s, char *token, size_t cap)
{
	char key[sizeof(KEY_PREFIX) + AF_SID_MAX];
	store_status st;

	form_key(s, key, sizeof(key));
	st = form_token_get(srv, key, token, cap);
	if (st == STORE_OK)
		return store_set(srv->store, key, token, strlen(token),
				 AF_FORM_TOKEN_TTL_MS, 0) == STORE_OK
			       ? 0
			       : -1;
	if (st != STORE_NOT_FOUND ||
	    af_random_token(AF_FORM_TOKEN_BYTES, token, cap) != 0)
		return -1;
	st = store_set(srv->store, key, token, strlen(token),
		       AF_FORM_TOKEN_TTL_MS, STORE_SET_NX);
	/* Another page of the session made one meanwhile: that one counts. */
	if (st == STORE_EXISTS)
		st = form_token_get(srv, key, token, cap);
	return st == STORE_OK ? 0 : -1;
}

/*
 * Whether the request posts session s's form token: 1 yes, 0 no, -1 when
 * the store failed.
 */
int af_form_token_ok(af_server *srv, const af_req *req, const af_session *s)
{
	const char *posted = af_req_param(req, "csrf");
	char key[sizeof(KEY_PREFIX) + AF_SID_MAX], token[AF_FORM_TOKEN_BUF];
	store_status st;
	int ok;

	if (req->form == NULL || posted == NULL ||
	    af_req_param_repeated(req, "csrf"))
		return 0;
	form_key(s, key, sizeof(key));
	st = form_token_get(srv, key, token, sizeof(token));
	if (st == STORE_NOT_FOUND)
		return 0;
	if (st != STORE_OK)
		return -1;
	ok = af_ct_streq(posted, token);
	OPENSSL_cleanse(token, sizeof(token));
	return ok;
}
