/*
 * Authorization codes, access tokens and refresh tokens. Each is a random
 * value handed to the client; the store keeps the grant it stands for (a
 * JSON object: client_id, username, sub, scope, nonce, auth_time, amr,
 * acr, sid, redirect_uri, code_challenge) under the SHA-256 of the value,
 * so the store never holds a usable token.
 *
 * Codes are redeemable once (GETDEL). A code presented a second time
 * revokes the tokens the first redemption issued (RFC 6749 4.1.2).
 *
 * Thread-safety: re-entrant; safe from any worker thread.
 */
#ifndef AF_OIDC_GRANT_H
#define AF_OIDC_GRANT_H

#include <jansson.h>

#include "server.h"

#define AF_CODE_TTL_S	  60
#define AF_ACCESS_TTL_S	  600
#define AF_TOKEN_BYTES	  32 /* 256 random bits per code and token */
#define AF_TOKEN_TEXT_MAX 64

typedef enum af_grant_kind {
	AF_GRANT_CODE = 0,
	AF_GRANT_ACCESS,
	AF_GRANT_REFRESH,
} af_grant_kind;

/*
 * Stores grant (borrowed) under a new random value, written to out
 * (AF_TOKEN_TEXT_MAX + 1). 0, or -1 when the RNG or the store failed.
 */
int af_grant_issue(af_server *srv, af_grant_kind kind, const json_t *grant,
		   char *out, size_t outcap);

/*
 * Stores grant under a value the caller made (a JWT access token), so it
 * can be revoked and looked up like an opaque one.
 */
int af_grant_store_value(af_server *srv, af_grant_kind kind, const char *value,
			 const json_t *grant);

/*
 * Looks a token up without consuming it. 0 and *grant (new reference), 1
 * when unknown or expired, -1 on store failure.
 */
int af_grant_lookup(af_server *srv, af_grant_kind kind, const char *value,
		    json_t **grant);

/*
 * Consumes a code or refresh token: exactly one caller gets 0 and the
 * grant; the others 1. -1 on store failure. For codes, a second
 * presentation also revokes what the first issued (see af_grant_bind).
 */
int af_grant_redeem(af_server *srv, af_grant_kind kind, const char *value,
		    json_t **grant);

/*
 * Remembers which access and refresh tokens a redeemed code produced, so
 * that a replay of the code revokes them.
 */
void af_grant_bind(af_server *srv, const char *code, const char *access,
		   const char *refresh);

/* Revokes a token of either kind; 0 (also when unknown), -1 on failure. */
int af_grant_revoke(af_server *srv, af_grant_kind kind, const char *value);

#endif /* AF_OIDC_GRANT_H */
