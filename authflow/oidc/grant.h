/*
 * Authorization codes, access tokens and refresh tokens, and the grants
 * they stand for in the store.
 *
 * A code is 256 random bits; the store keeps its grant (client_id,
 * username, sub, scope, nonce, auth_time, amr, acr, sid, redirect_uri,
 * code_challenge) under the SHA-256 of the code, and a code is redeemable
 * once (GETDEL).
 *
 * An opaque access or refresh token is "SELECTOR.VERIFIER": the selector
 * (128 bits, base64url) names the store record, the verifier (192 random
 * bits) is the secret, and the record keeps only a hash of it, so the
 * store never holds a usable token. The selectors of the tokens a code
 * produces derive from the code (one per kind: the code's family), so a
 * code presented a second time revokes them without any other record (RFC
 * 6749 4.1.2). A rotated refresh token keeps its family's selector, so an
 * old one presented again revokes the family (refresh token reuse
 * detection), unless the application's grace period lets it through
 * (af_grant_redeem_refresh()).
 * An RFC 9068 JWT access token carries its selector as its jti.
 *
 * Access token records keep what /userinfo, /revoke and /introspect need
 * (client_id, sub, username, scope, exp) and the refresh family of their grant
 * ("fam", the refresh selector a code's family would have): an access token
 * whose family was revoked is refused, however many the family issued. Refresh
 * token records keep the whole grant.
 *
 * Thread-safety: re-entrant; safe from any worker thread.
 */
#ifndef AF_OIDC_GRANT_H
#define AF_OIDC_GRANT_H

#include <jansson.h>

#include "server.h"

#define AF_CODE_TTL_S	  60
#define AF_ACCESS_TTL_S	  600
#define AF_TOKEN_BYTES	  32 /* 256 random bits per code */
#define AF_TOKEN_TEXT_MAX 64
#define AF_GRANT_SEL_LEN  22 /* a selector: 128 bits in base64url */
#define AF_GRANT_SEL_BUF  (AF_GRANT_SEL_LEN + 1)

typedef enum af_grant_kind {
	AF_GRANT_CODE = 0,
	AF_GRANT_ACCESS,
	AF_GRANT_REFRESH,
} af_grant_kind;

/*
 * Stores grant (borrowed) under a new random code, written to out
 * (AF_TOKEN_TEXT_MAX + 1). 0, or -1 when the RNG or the store failed or
 * grant names no client_id. The code is kept under its client's id: only
 * that client finds it, and another one that presents it neither spends
 * it nor revokes what it gave (the code is then unknown to it).
 */
int af_grant_issue_code(af_server *srv, const json_t *grant, char *out,
			size_t outcap);

/*
 * The selector of the tokens of that kind that code produces for the
 * client client_id (the code's own).
 */
void af_grant_family(const char *client_id, const char *code,
		     af_grant_kind kind, char sel[AF_GRANT_SEL_BUF]);

/*
 * The selector of an opaque token made by af_grant_issue(); 0, or -1 when
 * token is not one.
 */
int af_grant_selector(const char *token, char sel[AF_GRANT_SEL_BUF]);

/*
 * Issues an opaque access or refresh token for grant (borrowed) under
 * selector sel (NULL: a new random one), written to out
 * (AF_TOKEN_TEXT_MAX + 1). 0, or -1 when the RNG or the store failed or a
 * token of that kind already lives under sel.
 */
int af_grant_issue(af_server *srv, af_grant_kind kind, const char *sel,
		   const json_t *grant, char *out, size_t outcap);

/*
 * Makes a new random selector for a JWT access token's jti (sel holds
 * AF_GRANT_SEL_BUF bytes). 0 or -1.
 */
int af_grant_new_selector(char sel[AF_GRANT_SEL_BUF]);

/*
 * Stores grant for a JWT access token whose jti is sel and whose exp
 * claim is exp, so it can be revoked and looked up like an opaque one.
 * 0 or -1.
 */
int af_grant_store_jwt(af_server *srv, const char *sel, const char *jwt,
		       const json_t *grant, int64_t exp);

/*
 * Looks an access or refresh token up without consuming it. 0 and *grant
 * (new reference), 1 when unknown, forged or expired, -1 on store failure.
 */
int af_grant_lookup(af_server *srv, af_grant_kind kind, const char *value,
		    json_t **grant);

/*
 * af_grant_lookup() of a refresh token of an application with a grace
 * period of grace_s seconds (0: none, at most AF_GRANT_GRACE_MAX_S): a
 * token rotated out less than that ago is found too.
 */
#define AF_GRANT_GRACE_MAX_S AF_DIR_RT_GRACE_MAX
int af_grant_lookup_refresh(af_server *srv, const char *value, int grace_s,
			    json_t **grant);

/*
 * Consumes a code (of the client client_id; ignored for other kinds) or
 * refresh token: exactly one caller gets 0 and the grant; the others 1.
 * -1 on store failure. A code presented again by its client revokes
 * the tokens of its family; a refresh token whose record holds another
 * verifier (an old, rotated one) revokes its family too. Either way the
 * access tokens noted in the family's refresh token go as well.
 */
int af_grant_redeem(af_server *srv, af_grant_kind kind, const char *client_id,
		    const char *value, json_t **grant);

/*
 * af_grant_redeem() of a code. When the code was redeemed before and the
 * tokens it gave are revoked now, *revoked (when revoked is not NULL) is
 * the record of one of them, for the log and the audit trail (its
 * "username" and "client_id"; a new reference); else NULL.
 */
int af_grant_redeem_code(af_server *srv, const char *client_id,
			 const char *value, json_t **grant, json_t **revoked);

/* What af_grant_redeem_refresh() found the token to be. */
typedef enum {
	AF_GRANT_RT_CURRENT,	  /* the family's current token */
	AF_GRANT_RT_WITHIN_GRACE, /* one rotated out within the grace period */
	AF_GRANT_RT_UNKNOWN,	  /* no such token, or taken at once by
				     another request */
	AF_GRANT_RT_UNSURE,	  /* not known, and the grace list had lost
				     entries: refused, the family left alone */
	AF_GRANT_RT_REUSED, /* not the current one (rotated out, or a made-up
			       secret): its family was revoked */
	AF_GRANT_RT_FAILED  /* the store failed */
} af_grant_rt_seen;

/*
 * af_grant_redeem() of a refresh token of an application with a grace
 * period of grace_s seconds (0: none). Within it, a token rotated out
 * less than grace_s ago is taken as the current one is, and rotates the
 * family again, instead of revoking it: two workers of the application
 * that refresh with the same token at once both get tokens. A refresh
 * that comes while another rotates the family waits for that rotation (a
 * second at most) rather than losing. Past the period, a rotated-out
 * token revokes its family as without one. *seen says which it was (for
 * the log and the audit trail); with AF_GRANT_RT_REUSED, *revoked (when
 * revoked is not NULL) is the record of the family revoked (its
 * "username", "client_id"; a new reference, or NULL when it could not be
 * read).
 */
int af_grant_redeem_refresh(af_server *srv, const char *value, int grace_s,
			    json_t **grant, af_grant_rt_seen *seen,
			    json_t **revoked);

/*
 * 1 when the refresh token grant (a record af_grant_lookup_refresh() or
 * af_grant_redeem_refresh() gave) is past its family's lifetime, its
 * "rt_exp": it must not be redeemed or rotated. 0 otherwise.
 */
int af_grant_refresh_ended(const json_t *grant);

/*
 * 1 when the family of refresh token value (whatever its secret part)
 * belongs to a client other than client_id: such a token must not be
 * redeemed, which would revoke that client's family; 0 otherwise (also
 * when there is no such family, or the store failed).
 */
int af_grant_refresh_foreign(af_server *srv, const char *value,
			     const char *client_id);

/*
 * Ends the family of a refresh token whose rotation failed after
 * af_grant_redeem_refresh() took its record (grant, as it handed out):
 * the family is marked revoked, a record already written again is taken,
 * and the access tokens grant noted are revoked, so that nothing of a
 * grant that cannot go on outlives it.
 */
void af_grant_family_end(af_server *srv, const char *rt_sel,
			 const json_t *grant);

/*
 * Revokes an access or refresh token (a refresh token with its family:
 * the access tokens it noted, and tokens being issued into it right now);
 * 0 (also when unknown), -1 on failure.
 */
int af_grant_revoke(af_server *srv, af_grant_kind kind, const char *value);

/*
 * For /revoke of a refresh token that af_grant_lookup() does not know:
 * one rotated out (its family's record holds a newer verifier) revokes
 * its family when the record is client_id's, as presenting it at the
 * token endpoint would; one without a record may be in the middle of its
 * rotation by a refresh under way, which is then taken back. A wholly
 * unknown token costs a mark that soon expires.
 */
void af_grant_revoke_family(af_server *srv, const char *value,
			    const char *client_id);

/*
 * Called by the issuer after it stored the tokens of a family (access
 * selector at_sel, refresh selector rt_sel): 0 when the family still
 * stands; 1 when it was revoked meanwhile (a code replayed during its
 * first redemption, a refresh token revoked or reused during its
 * rotation), and the tokens just stored were taken back; -1 on store
 * failure.
 */
int af_grant_family_check(af_server *srv, const char *at_sel,
			  const char *rt_sel);

/*
 * Notes in grant, before it is stored for a refresh token, that the access
 * token under selector sel was issued with it (RFC 7009 2.1: revoking the
 * refresh token revokes them too). Notes of access tokens that have
 * expired are dropped, and at most AF_GRANT_NOTED_MAX are kept. 0, or -1
 * when memory ran out.
 */
#define AF_GRANT_NOTED_MAX 16
int af_grant_note_access(json_t *grant, const char *sel);

/* Revokes the access tokens noted in grant, a refresh token's record. */
void af_grant_revoke_noted(af_server *srv, const json_t *grant);

/*
 * Files the refresh family rt_sel under its user ("user_grants:NAME", a
 * volatile set that lives as long as the newest family may), so that
 * af_grant_take_user() can find it; families whose records are gone
 * (expired, revoked) leave the list first. 0, or -1 when the store
 * failed.
 */
int af_grant_file_user(af_server *srv, const char *username,
		       const char *rt_sel);

/*
 * Calls fn with the record of each refresh family filed under the user
 * (a grant's record: client_id, scope, auth_time, amr, gen, rt_exp and
 * the token's hash; lent for the call), in no order: what an
 * administrator is shown of the applications that hold the user's
 * offline access. Families without a record are not listed (and left to
 * af_grant_file_user() to drop: one being refreshed has none for a
 * moment). 0, or -1 when the store failed. Thread-safety: re-entrant.
 */
typedef void (*af_grant_fn)(const json_t *rec, void *arg);
int af_grant_list_user(af_server *srv, const char *username, af_grant_fn fn,
		       void *arg);

/*
 * Takes away the records of the refresh families filed under the user,
 * with the access tokens each noted, and their members of the list: for
 * a user being removed, whose tokens are refused already, so that their
 * records (user name, sub, the application's nonce) do not stay for up
 * to AF_REFRESH_LIFETIME_S. Families of
 * generation keep_gen (the user's own after the change: a sign-in since)
 * stay; -1 takes all. A family filed while this runs is the issuer's to
 * take (it checks the user after filing). 0, or -1 when the store failed
 * (what is left expires).
 */
int af_grant_take_user(af_server *srv, const char *username, int64_t keep_gen);

/*
 * 1 when grant (a code's, a token's record) began in user's current
 * sign-in generation (af_dir_user_gen()): nothing since ended the user's
 * sign-ins. A grant without one began in generation 0.
 */
int af_grant_gen_current(const json_t *grant, const json_t *user);

#endif /* AF_OIDC_GRANT_H */
