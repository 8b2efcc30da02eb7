/*
 * Unit tests of codes and tokens (oidc/grant.c) on a server context built
 * by hand: memory store, a 2048-bit key ring for JWT access tokens.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>

#include "common/util.h"
#include "oidc/grant.h"
#include "server.h"

/* How much later than reckoned a TTL written a moment after may end. */
#define TTL_SLACK_MS 50

struct fx {
	af_server srv;
	store_ctx *keystore;
	int logfd;
	json_t *grant;
};

static int setup(void **state)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_keyring_options ko = {.rsa_bits = 2048,
				 .lifetime_days = 90,
				 .alert_days = 30,
				 .max_token_lifetime_s = 600};
	struct fx *f = calloc(1, sizeof(*f));
	char err[128];

	assert_non_null(f);
	af_config_defaults(&f->srv.cfg);
	snprintf(f->srv.cfg.issuer, sizeof(f->srv.cfg.issuer), "%s",
		 "http://127.0.0.1:8080");
	assert_int_equal(store_open(&so, &f->srv.store, err, sizeof(err)),
			 STORE_OK);
	assert_int_equal(store_open(&so, &f->keystore, err, sizeof(err)),
			 STORE_OK);
	assert_int_equal(af_keyring_open(f->keystore, &ko, &f->srv.keys),
			 JOSE_OK);
	f->logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(f->logfd >= 0);
	f->srv.log = log_new(f->logfd, LOG_LEVEL_DEBUG);
	assert_non_null(f->srv.log);
	f->grant = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:[s], s:s}",
			     "client_id", "af-client", "username", "alice",
			     "sub", "sub-of-alice", "scope", "openid email",
			     "nonce", "n-1", "auth_time", 1700000000, "amr",
			     "pwd", "sid", "sid-1");
	assert_non_null(f->grant);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	json_decref(f->grant);
	log_free(f->srv.log);
	close(f->logfd);
	af_keyring_free(f->srv.keys);
	store_close(f->keystore);
	store_close(f->srv.store);
	free(f);
	return 0;
}

/* 1 when the access token is alive, 0 when not. */
static int at_alive(struct fx *f, const char *at)
{
	json_t *g = NULL;
	int rc = af_grant_lookup(&f->srv, AF_GRANT_ACCESS, at, &g);

	assert_true(rc == 0 || rc == 1);
	json_decref(g);
	return rc == 0;
}

static void code_once(void **state)
{
	struct fx *f = *state;
	char code[AF_TOKEN_TEXT_MAX + 1];
	json_t *g = NULL;

	assert_int_equal(
		af_grant_issue_code(&f->srv, f->grant, code, sizeof(code)), 0);
	assert_true(strlen(code) >= 43); /* 256 bits in base64url */
	/* Another client does not find it, and leaves it for its own. */
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_CODE, "af-other", code, &g),
		1);
	assert_null(g);
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_CODE, "af-client", code, &g),
		0);
	assert_true(json_equal(g, f->grant));
	json_decref(g);
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_CODE, "af-client", code, &g),
		1);
	assert_null(g);
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_CODE, "af-client", "", &g),
		1);
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_CODE, "af-client", NULL, &g),
		1);
}

static void access_token_record(void **state)
{
	struct fx *f = *state;
	char at[AF_TOKEN_TEXT_MAX + 1], sel[AF_GRANT_SEL_BUF], key[64];
	store_value v = {0};
	json_t *g = NULL, *rec;

	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_ACCESS, NULL,
					f->grant, at, sizeof(at)),
			 0);
	assert_int_equal(af_grant_selector(at, sel), 0);
	assert_int_equal(strlen(at), AF_GRANT_SEL_LEN + 1 + 32);
	/* The record: what userinfo and revocation read, and no token. */
	snprintf(key, sizeof(key), "at:%s", sel);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_OK);
	rec = json_loadb((const char *)v.data, v.len, 0, NULL);
	store_value_free(&v);
	assert_non_null(rec);
	assert_int_equal(json_object_size(rec), 6);
	assert_string_equal(json_string_value(json_object_get(rec, "sub")),
			    "sub-of-alice");
	/* Its end, which introspection tells: as long as its TTL. */
	assert_in_range(json_integer_value(json_object_get(rec, "exp")),
			af_now() + AF_ACCESS_TTL_S - 2,
			af_now() + AF_ACCESS_TTL_S);
	assert_string_equal(json_string_value(json_object_get(rec, "username")),
			    "alice");
	assert_null(json_object_get(rec, "nonce"));
	assert_null(strstr(json_string_value(json_object_get(rec, "v")),
			   at + AF_GRANT_SEL_LEN + 1));
	json_decref(rec);
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_ACCESS, at, &g), 0);
	assert_null(json_object_get(g, "v"));
	assert_string_equal(json_string_value(json_object_get(g, "client_id")),
			    "af-client");
	json_decref(g);
	/* Not a refresh token. */
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_REFRESH, at, &g), 1);
}

/*
 * An access token's record keeps the grant's sign-in generation, and a
 * grant is current only in the user's generation (none counts as 0).
 */
static void access_token_keeps_generation(void **state)
{
	struct fx *f = *state;
	char at[AF_TOKEN_TEXT_MAX + 1];
	json_t *g = NULL, *user = json_pack("{s:s}", "sub", "sub-of-alice");

	assert_non_null(user);
	assert_true(af_grant_gen_current(f->grant, user));
	assert_int_equal(json_object_set_new(f->grant, "gen", json_integer(2)),
			 0);
	assert_false(af_grant_gen_current(f->grant, user));
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_ACCESS, NULL,
					f->grant, at, sizeof(at)),
			 0);
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_ACCESS, at, &g), 0);
	assert_int_equal(json_integer_value(json_object_get(g, "gen")), 2);
	assert_int_equal(
		json_object_set_new(user, AF_DIR_USER_GEN, json_integer(2)), 0);
	assert_true(af_grant_gen_current(g, user));
	assert_int_equal(
		json_object_set_new(user, AF_DIR_USER_GEN, json_integer(3)), 0);
	assert_false(af_grant_gen_current(g, user));
	json_decref(g);
	json_decref(user);
}

static void forged_tokens_refused(void **state)
{
	struct fx *f = *state;
	char at[AF_TOKEN_TEXT_MAX + 1], bad[AF_TOKEN_TEXT_MAX + 8];
	char sel[AF_GRANT_SEL_BUF];

	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_ACCESS, NULL,
					f->grant, at, sizeof(at)),
			 0);
	/* The right selector with another secret part. */
	memcpy(bad, at, sizeof(at));
	bad[AF_GRANT_SEL_LEN + 5] =
		bad[AF_GRANT_SEL_LEN + 5] == 'A' ? 'B' : 'A';
	assert_false(at_alive(f, bad));
	/* Malformed: short, long, no dot, bad characters. */
	memcpy(bad, at, sizeof(at));
	bad[strlen(bad) - 1] = '\0';
	assert_int_equal(af_grant_selector(bad, sel), -1);
	assert_false(at_alive(f, bad));
	snprintf(bad, sizeof(bad), "%sA", at);
	assert_false(at_alive(f, bad));
	memcpy(bad, at, sizeof(at));
	bad[AF_GRANT_SEL_LEN] = 'x';
	assert_false(at_alive(f, bad));
	memcpy(bad, at, sizeof(at));
	bad[3] = '+';
	assert_false(at_alive(f, bad));
	assert_false(at_alive(f, ""));
	assert_false(at_alive(f, "a.b.c"));
	/* The real one still works, and revocation ends it. */
	assert_true(at_alive(f, at));
	assert_int_equal(af_grant_revoke(&f->srv, AF_GRANT_ACCESS, bad), 0);
	assert_true(at_alive(f, at));
	assert_int_equal(af_grant_revoke(&f->srv, AF_GRANT_ACCESS, at), 0);
	assert_false(at_alive(f, at));
}

static void code_replay_revokes_family(void **state)
{
	struct fx *f = *state;
	char code[AF_TOKEN_TEXT_MAX + 1], fam[AF_GRANT_SEL_BUF], again[23];
	char rt_fam[AF_GRANT_SEL_BUF];
	char at[AF_TOKEN_TEXT_MAX + 1], rt[AF_TOKEN_TEXT_MAX + 1];
	char other[AF_TOKEN_TEXT_MAX + 1];
	json_t *g = NULL, *revoked = NULL;

	assert_int_equal(
		af_grant_issue_code(&f->srv, f->grant, code, sizeof(code)), 0);
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_CODE, "af-client", code, &g),
		0);
	json_decref(g);
	af_grant_family("af-client", code, AF_GRANT_ACCESS, fam);
	af_grant_family("af-client", code, AF_GRANT_ACCESS, again);
	af_grant_family("af-client", code, AF_GRANT_REFRESH, rt_fam);
	assert_string_equal(fam, again);
	assert_string_not_equal(fam, rt_fam);
	assert_int_equal(strlen(fam), AF_GRANT_SEL_LEN);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_ACCESS, fam, f->grant,
					at, sizeof(at)),
			 0);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, rt_fam,
					f->grant, rt, sizeof(rt)),
			 0);
	/* The access token presented as a refresh token names nothing. */
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_REFRESH, NULL, at, &g), 1);
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_REFRESH, rt, &g), 0);
	json_decref(g);
	/* One token of a kind per selector. */
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_ACCESS, fam, f->grant,
					other, sizeof(other)),
			 -1);
	/* An unrelated token stays. */
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_ACCESS, NULL,
					f->grant, other, sizeof(other)),
			 0);
	assert_true(at_alive(f, at));
	/* Another client's replay is of a code unknown to it: nothing goes. */
	assert_int_equal(
		af_grant_redeem_code(&f->srv, "af-other", code, &g, &revoked),
		1);
	assert_null(g);
	assert_null(revoked);
	assert_true(at_alive(f, at));
	/* The replay says whose tokens it revoked; a third has none left. */
	assert_int_equal(
		af_grant_redeem_code(&f->srv, "af-client", code, &g, &revoked),
		1);
	assert_null(g);
	assert_string_equal(
		json_string_value(json_object_get(revoked, "username")),
		"alice");
	json_decref(revoked);
	assert_false(at_alive(f, at));
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_REFRESH, NULL, rt, &g), 1);
	assert_true(at_alive(f, other));
	assert_int_equal(
		af_grant_redeem_code(&f->srv, "af-client", code, &g, &revoked),
		1);
	assert_null(revoked);
}

static void refresh_rotation_and_reuse(void **state)
{
	struct fx *f = *state;
	char rt1[AF_TOKEN_TEXT_MAX + 1], rt2[AF_TOKEN_TEXT_MAX + 1];
	char fam[AF_GRANT_SEL_BUF], fam2[AF_GRANT_SEL_BUF];
	json_t *g = NULL;

	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL,
					f->grant, rt1, sizeof(rt1)),
			 0);
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_REFRESH, rt1, &g),
			 0);
	assert_true(json_equal(g, f->grant)); /* the whole grant */
	json_decref(g);
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_REFRESH, NULL, rt1, &g), 0);
	json_decref(g);
	/* Rotation: the new one keeps the family's selector. */
	assert_int_equal(af_grant_selector(rt1, fam), 0);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, fam,
					f->grant, rt2, sizeof(rt2)),
			 0);
	assert_int_equal(af_grant_selector(rt2, fam2), 0);
	assert_string_equal(fam, fam2);
	assert_string_not_equal(rt1, rt2);
	/* The old one again: refused, and the current one is revoked. */
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_REFRESH, NULL, rt1, &g), 1);
	assert_null(g);
	assert_int_equal(
		af_grant_redeem(&f->srv, AF_GRANT_REFRESH, NULL, rt2, &g), 1);
}

/* Redeems rt with grace period grace and rotates it into out. */
static int rotate(struct fx *f, const char *rt, int grace, char *out,
		  size_t outcap)
{
	char fam[AF_GRANT_SEL_BUF];
	json_t *g = NULL;
	int rc = af_grant_redeem_refresh(&f->srv, rt, grace, &g, NULL, NULL);

	if (rc == 0) {
		assert_int_equal(af_grant_selector(rt, fam), 0);
		assert_null(json_object_get(g, "v"));
		rc = af_grant_issue(&f->srv, AF_GRANT_REFRESH, fam, g, out,
				    outcap);
	}
	json_decref(g);
	return rc;
}

static void refresh_grace_takes_rotated_out(void **state)
{
	struct fx *f = *state;
	char rt1[AF_TOKEN_TEXT_MAX + 1], rt2[AF_TOKEN_TEXT_MAX + 1];
	char rt3[AF_TOKEN_TEXT_MAX + 1], rt4[AF_TOKEN_TEXT_MAX + 1];
	char rt5[AF_TOKEN_TEXT_MAX + 1], fam[AF_GRANT_SEL_BUF];
	af_grant_rt_seen seen;
	json_t *g = NULL, *revoked = NULL;

	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL,
					f->grant, rt1, sizeof(rt1)),
			 0);
	assert_int_equal(rotate(f, rt1, 30, rt2, sizeof(rt2)), 0);
	/* Rotated out, rt1 is found within the grace period only. */
	assert_int_equal(af_grant_lookup_refresh(&f->srv, rt1, 30, &g), 0);
	assert_string_equal(json_string_value(json_object_get(g, "sub")),
			    "sub-of-alice");
	json_decref(g);
	assert_int_equal(af_grant_lookup_refresh(&f->srv, rt1, 0, &g), 1);
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_REFRESH, rt1, &g),
			 1);
	/* Two workers with rt1: the second one rotates the family again. */
	assert_int_equal(rotate(f, rt1, 30, rt3, sizeof(rt3)), 0);
	/* rt2, the first worker's, was rotated out by that: taken too. */
	assert_int_equal(rotate(f, rt2, 30, rt4, sizeof(rt4)), 0);
	assert_int_equal(af_grant_lookup_refresh(&f->srv, rt4, 30, &g), 0);
	assert_int_equal(json_array_size(json_object_get(g, "rt_prev")), 3);
	json_decref(g);
	/* Each use says which token it was. */
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt4, 30, &g, &seen, NULL), 0);
	assert_int_equal(seen, AF_GRANT_RT_CURRENT);
	assert_int_equal(af_grant_selector(rt4, fam), 0);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, fam, g, rt5,
					sizeof(rt5)),
			 0);
	json_decref(g);
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt4, 30, &g, &seen, NULL), 0);
	assert_int_equal(seen, AF_GRANT_RT_WITHIN_GRACE);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, fam, g, rt5,
					sizeof(rt5)),
			 0);
	json_decref(g);
	/*
	 * Without the grace period, a rotated-out one revokes the family,
	 * and says whose it was.
	 */
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt3, 0, &g, &seen, &revoked),
		1);
	assert_null(g);
	assert_int_equal(seen, AF_GRANT_RT_REUSED);
	assert_string_equal(json_string_value(json_object_get(revoked, "sub")),
			    "sub-of-alice");
	json_decref(revoked);
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt5, 30, &g, &seen, &revoked),
		1);
	assert_int_equal(seen, AF_GRANT_RT_UNKNOWN);
	assert_null(revoked);
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt1, 30, &g, NULL, NULL), 1);
}

static void refresh_grace_ends(void **state)
{
	struct fx *f = *state;
	char rt1[AF_TOKEN_TEXT_MAX + 1], rt2[AF_TOKEN_TEXT_MAX + 1];
	char fam[AF_GRANT_SEL_BUF];
	json_t *g = NULL, *e;
	size_t i;

	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL,
					f->grant, rt1, sizeof(rt1)),
			 0);
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt1, 30, &g, NULL, NULL), 0);
	/* rt1's time is up (as if 30 s went by before the next use). */
	assert_int_equal(json_array_size(json_object_get(g, "rt_prev")), 1);
	json_array_foreach(json_object_get(g, "rt_prev"), i, e)
	{
		assert_int_equal(
			json_array_set_new(e, 1, json_integer(af_now() - 1)),
			0);
	}
	assert_int_equal(af_grant_selector(rt1, fam), 0);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, fam, g, rt2,
					sizeof(rt2)),
			 0);
	json_decref(g);
	assert_int_equal(af_grant_lookup_refresh(&f->srv, rt1, 30, &g), 1);
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt1, 30, &g, NULL, NULL), 1);
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt2, 30, &g, NULL, NULL), 1);
}

static void refresh_grace_many_workers(void **state)
{
	struct fx *f = *state;
	char rt1[AF_TOKEN_TEXT_MAX + 1], cur[AF_TOKEN_TEXT_MAX + 1];
	char next[AF_TOKEN_TEXT_MAX + 1], forged[AF_TOKEN_TEXT_MAX + 1];
	json_t *g = NULL;
	int i;

	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL,
					f->grant, rt1, sizeof(rt1)),
			 0);
	/* Fifty workers with one token, one after another: all served. */
	assert_int_equal(rotate(f, rt1, 30, cur, sizeof(cur)), 0);
	for (i = 1; i < 50; i++)
		assert_int_equal(rotate(f, rt1, 30, cur, sizeof(cur)), 0);
	/*
	 * Past the list's room the oldest entries drop out: rt1 is then
	 * refused, but the family stays, and the current token works.
	 */
	for (i = 0; i < 20; i++) {
		assert_int_equal(rotate(f, cur, 30, next, sizeof(next)), 0);
		memcpy(cur, next, sizeof(cur));
	}
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt1, 30, &g, NULL, NULL), 1);
	assert_null(g);
	assert_int_equal(af_grant_lookup_refresh(&f->srv, cur, 30, &g), 0);
	json_decref(g);
	/* A made-up secret on the family's selector: not one to take. */
	memcpy(forged, cur, sizeof(forged));
	forged[AF_GRANT_SEL_LEN + 1] =
		forged[AF_GRANT_SEL_LEN + 1] == 'A' ? 'B' : 'A';
	assert_int_equal(af_grant_refresh_foreign(&f->srv, forged, "af-other"),
			 1);
	assert_int_equal(af_grant_refresh_foreign(&f->srv, forged, "af-client"),
			 0);
	assert_int_equal(af_grant_refresh_foreign(&f->srv, "nonsense", "x"), 0);
	assert_int_equal(rotate(f, cur, 30, next, sizeof(next)), 0);
}

/*
 * Issues an access token (into at) and a refresh token noting it (into
 * rt) for grant g, as the token endpoint does.
 */
static void issue_with_access(struct fx *f, json_t *g, char *at, char *rt)
{
	char asel[AF_GRANT_SEL_BUF];

	assert_int_equal(af_grant_new_selector(asel), 0);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_ACCESS, asel, g, at,
					AF_TOKEN_TEXT_MAX + 1),
			 0);
	assert_int_equal(af_grant_note_access(g, asel), 0);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL, g, rt,
					AF_TOKEN_TEXT_MAX + 1),
			 0);
}

static void refresh_family_end_takes_access_tokens(void **state)
{
	struct fx *f = *state;
	char rt[AF_TOKEN_TEXT_MAX + 1], at[AF_TOKEN_TEXT_MAX + 1];
	char fam[AF_GRANT_SEL_BUF];
	json_t *g = json_deep_copy(f->grant);

	assert_non_null(g);
	issue_with_access(f, g, at, rt);
	json_decref(g);
	/* Taken for a rotation that then failed: the grant ends whole. */
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt, 30, &g, NULL, NULL), 0);
	assert_true(at_alive(f, at));
	assert_int_equal(af_grant_selector(rt, fam), 0);
	af_grant_family_end(&f->srv, fam, g);
	json_decref(g);
	assert_false(at_alive(f, at));
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt, 30, &g, NULL, NULL), 1);
}

/*
 * A user's refresh families are filed under the user; taking the user's
 * takes their records, the access tokens they noted and the list, and
 * leaves another user's.
 */
static int count_member(const char *member, void *arg)
{
	(void)member;
	++*(int *)arg;
	return 0;
}

/* How many members the set at key has. */
static int members_of(struct fx *f, const char *key)
{
	int n = 0;

	assert_int_equal(store_smembers(f->srv.store, key, count_member, &n),
			 STORE_OK);
	return n;
}

static void user_families_taken(void **state)
{
	struct fx *f = *state;
	char rt[AF_TOKEN_TEXT_MAX + 1], rt2[AF_TOKEN_TEXT_MAX + 1];
	char other[AF_TOKEN_TEXT_MAX + 1], at[AF_TOKEN_TEXT_MAX + 1];
	char sel[AF_GRANT_SEL_BUF], sel2[AF_GRANT_SEL_BUF];
	char osel[AF_GRANT_SEL_BUF], key[80];
	json_t *g = json_deep_copy(f->grant), *got = NULL;
	store_value v = {0};

	assert_non_null(g);
	issue_with_access(f, g, at, rt);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL, g, rt2,
					sizeof(rt2)),
			 0);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL, g,
					other, sizeof(other)),
			 0);
	json_decref(g);
	assert_int_equal(af_grant_selector(rt, sel), 0);
	assert_int_equal(af_grant_selector(rt2, sel2), 0);
	assert_int_equal(af_grant_selector(other, osel), 0);
	assert_int_equal(af_grant_file_user(&f->srv, "alice", sel), 0);
	assert_int_equal(af_grant_file_user(&f->srv, "alice", sel2), 0);
	assert_int_equal(af_grant_file_user(&f->srv, "bob", osel), 0);
	/* Families of the generation kept (a sign-in since) stand. */
	assert_int_equal(af_grant_take_user(&f->srv, "alice",
					    json_integer_value(json_object_get(
						    f->grant, "gen"))),
			 0);
	snprintf(key, sizeof(key), "rt:%s", sel);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_OK);
	store_value_free(&v);
	assert_int_equal(af_grant_take_user(&f->srv, "alice", 99), 0);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_NOT_FOUND);
	snprintf(key, sizeof(key), "rt:%s", sel2);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_NOT_FOUND);
	assert_false(at_alive(f, at));
	assert_int_equal(store_get(f->srv.store, "user_grants:alice", &v),
			 STORE_NOT_FOUND);
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt, 30, &got, NULL, NULL), 1);
	assert_null(got);
	/* Another user's family stands. */
	snprintf(key, sizeof(key), "rt:%s", osel);
	assert_int_equal(store_get(f->srv.store, key, &v), STORE_OK);
	store_value_free(&v);
	/* A user with none, or a list already taken: nothing to do. */
	assert_int_equal(af_grant_take_user(&f->srv, "alice", -1), 0);
	assert_int_equal(af_grant_take_user(&f->srv, "nobody", -1), 0);
	/* A family gone by itself leaves the list when another is filed. */
	assert_int_equal(store_del(f->srv.store, key), STORE_OK);
	assert_int_equal(af_grant_file_user(&f->srv, "bob", sel), 0);
	assert_int_equal(members_of(f, "user_grants:bob"), 1);
}

/* Counts the records listed, and checks each is a grant's record. */
static void count_listed(const json_t *rec, void *arg)
{
	assert_non_null(json_object_get(rec, "client_id"));
	assert_non_null(json_object_get(rec, "v"));
	(*(int *)arg)++;
}

/*
 * af_grant_list_user(): each family filed under the user, not another
 * user's; one whose record is gone is not listed, and stays filed.
 */
static void user_families_listed(void **state)
{
	struct fx *f = *state;
	char rt[AF_TOKEN_TEXT_MAX + 1], rt2[AF_TOKEN_TEXT_MAX + 1];
	char sel[AF_GRANT_SEL_BUF], sel2[AF_GRANT_SEL_BUF], key[80];
	int n = 0;

	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL,
					f->grant, rt, sizeof(rt)),
			 0);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL,
					f->grant, rt2, sizeof(rt2)),
			 0);
	assert_int_equal(af_grant_selector(rt, sel), 0);
	assert_int_equal(af_grant_selector(rt2, sel2), 0);
	assert_int_equal(af_grant_file_user(&f->srv, "alice", sel), 0);
	assert_int_equal(af_grant_file_user(&f->srv, "alice", sel2), 0);
	assert_int_equal(af_grant_list_user(&f->srv, "alice", count_listed, &n),
			 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(af_grant_list_user(&f->srv, "bob", count_listed, &n),
			 0);
	assert_int_equal(n, 0);
	snprintf(key, sizeof(key), "rt:%s", sel);
	assert_int_equal(store_del(f->srv.store, key), STORE_OK);
	assert_int_equal(af_grant_list_user(&f->srv, "alice", count_listed, &n),
			 0);
	assert_int_equal(n, 1);
	/* The listing leaves the list as it is. */
	assert_int_equal(members_of(f, "user_grants:alice"), 2);
	assert_int_equal(af_grant_list_user(&f->srv, "alice", NULL, NULL), -1);
}

static void access_tokens_go_with_their_family(void **state)
{
	struct fx *f = *state;
	char rt[AF_TOKEN_TEXT_MAX + 1], fam[AF_GRANT_SEL_BUF];
	char at[20][AF_TOKEN_TEXT_MAX + 1];
	json_t *g;
	int i;

	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL,
					f->grant, rt, sizeof(rt)),
			 0);
	assert_int_equal(af_grant_selector(rt, fam), 0);
	/* More access tokens than a refresh token's record notes. */
	g = json_deep_copy(f->grant);
	assert_non_null(g);
	assert_int_equal(json_object_set_new(g, "fam", json_string(fam)), 0);
	for (i = 0; i < 20; i++)
		assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_ACCESS, NULL,
						g, at[i], sizeof(at[i])),
				 0);
	json_decref(g);
	assert_true(at_alive(f, at[0]));
	assert_int_equal(af_grant_revoke(&f->srv, AF_GRANT_REFRESH, rt), 0);
	for (i = 0; i < 20; i++)
		assert_false(at_alive(f, at[i]));
}

struct late_rotation {
	struct fx *f;
	json_t *grant;
	char fam[AF_GRANT_SEL_BUF];
	char out[AF_TOKEN_TEXT_MAX + 1];
	int rc;
};

/* A rotation that writes its new record 100 ms after taking the old. */
static void *finish_late(void *arg)
{
	struct late_rotation *l = arg;
	struct timespec t = {0, 100 * 1000000L};

	(void)nanosleep(&t, NULL);
	l->rc = af_grant_issue(&l->f->srv, AF_GRANT_REFRESH, l->fam, l->grant,
			       l->out, sizeof(l->out));
	return NULL;
}

static void refresh_grace_waits_for_rotation(void **state)
{
	struct fx *f = *state;
	char rt1[AF_TOKEN_TEXT_MAX + 1], unknown[AF_TOKEN_TEXT_MAX + 1];
	struct late_rotation l = {.f = f, .rc = -1};
	json_t *g = NULL;
	pthread_t th;
	int64_t t0;

	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL,
					f->grant, rt1, sizeof(rt1)),
			 0);
	/* The first worker takes the record and writes the new one late. */
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt1, 30, &l.grant, NULL, NULL),
		0);
	assert_int_equal(af_grant_selector(rt1, l.fam), 0);
	t0 = af_now_ms();
	assert_int_equal(pthread_create(&th, NULL, finish_late, &l), 0);
	/* The second, meanwhile, waits for it instead of revoking. */
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, rt1, 30, &g, NULL, NULL), 0);
	assert_true(af_now_ms() - t0 >= 50);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(l.rc, 0);
	json_decref(l.grant);
	json_decref(g);
	/*
	 * Taken again, and never written back (the rotation failed): the
	 * next one gives up within the wait's bound, and the family is gone.
	 */
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, l.out, 30, &g, NULL, NULL), 1);
	t0 = af_now_ms();
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, l.out, 30, &g, NULL, NULL), 1);
	assert_true(af_now_ms() - t0 < 1900);
	/* A token nobody is rotating is refused at once. */
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL,
					f->grant, unknown, sizeof(unknown)),
			 0);
	assert_int_equal(af_grant_revoke(&f->srv, AF_GRANT_REFRESH, unknown),
			 0);
	t0 = af_now_ms();
	assert_int_equal(
		af_grant_redeem_refresh(&f->srv, unknown, 30, &g, NULL, NULL),
		1);
	assert_true(af_now_ms() - t0 < 900);
}

static void jwt_access_token(void **state)
{
	struct fx *f = *state;
	char sel[AF_GRANT_SEL_BUF], *jwt = NULL, *forged;
	json_t *claims, *g = NULL;
	size_t n;

	assert_int_equal(af_grant_new_selector(sel), 0);
	claims = json_pack("{s:s, s:s}", "sub", "sub-of-alice", "jti", sel);
	assert_non_null(claims);
	assert_int_equal(af_jwt_sign(f->srv.keys, claims, "at+jwt", &jwt),
			 JOSE_OK);
	json_decref(claims);
	assert_int_equal(
		af_grant_store_jwt(&f->srv, sel, jwt, f->grant, af_now() + 599),
		0);
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_ACCESS, jwt, &g), 0);
	assert_string_equal(json_string_value(json_object_get(g, "sub")),
			    "sub-of-alice");
	/* The end the JWT says, not one of the store's own. */
	assert_in_range(json_integer_value(json_object_get(g, "exp")),
			af_now() + 597, af_now() + 599);
	json_decref(g);
	/* A broken signature is refused before the store is asked. */
	forged = strdup(jwt);
	assert_non_null(forged);
	n = strlen(forged);
	forged[n - 3] = forged[n - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_ACCESS, forged, &g),
			 1);
	free(forged);
	/* Only access tokens may be JWTs. */
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_REFRESH, jwt, &g),
			 1);
	assert_int_equal(af_grant_revoke(&f->srv, AF_GRANT_ACCESS, jwt), 0);
	assert_int_equal(af_grant_lookup(&f->srv, AF_GRANT_ACCESS, jwt, &g), 1);
	free(jwt);
}

/*
 * A refresh token lives no longer than its family's rt_exp: its record's
 * TTL ends there to the millisecond, and a grant past it is neither
 * issued nor rotated, whatever a clock says later.
 */
static void refresh_lifetime_ends(void **state)
{
	struct fx *f = *state;
	char rt[AF_TOKEN_TEXT_MAX + 1], sel[AF_GRANT_SEL_BUF], key[64];
	uint64_t ttl = 0, asked_ms;
	json_t *g = json_deep_copy(f->grant);

	assert_non_null(g);
	/* Without rt_exp (records from before it): the whole lifetime. */
	assert_int_equal(af_grant_refresh_ended(g), 0);
	assert_int_equal(
		json_object_set_new(g, "rt_exp", json_integer(af_now() + 2)),
		0);
	assert_int_equal(af_grant_refresh_ended(g), 0);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL, g, rt,
					sizeof(rt)),
			 0);
	assert_int_equal(af_grant_selector(rt, sel), 0);
	snprintf(key, sizeof(key), "rt:%s", sel);
	/* The clock is read before the store is: the TTL can only be less. */
	asked_ms = (uint64_t)af_now_ms();
	assert_int_equal(store_ttl(f->srv.store, key, &ttl), STORE_OK);
	/*
	 * Not whole seconds from now: up to the end of a second. The TTL is
	 * reckoned a moment before the record is written, so it may end
	 * those milliseconds later (a slow sanitizer build: a few).
	 */
	assert_in_range(
		ttl, 1,
		(uint64_t)json_integer_value(json_object_get(g, "rt_exp")) *
				1000 -
			asked_ms + TTL_SLACK_MS);
	/* Past it: refused, and nothing is written. */
	assert_int_equal(
		json_object_set_new(g, "rt_exp", json_integer(af_now() - 1)),
		0);
	assert_int_equal(af_grant_refresh_ended(g), 1);
	assert_int_equal(af_grant_issue(&f->srv, AF_GRANT_REFRESH, NULL, g, rt,
					sizeof(rt)),
			 -1);
	/* No time at all is no lifetime either. */
	assert_int_equal(
		json_object_set_new(g, "rt_exp", json_string("tomorrow")), 0);
	assert_int_equal(af_grant_refresh_ended(g), 1);
	assert_int_equal(
		json_object_set_new(g, "rt_exp", json_integer(INT64_MAX / 100)),
		0);
	assert_int_equal(af_grant_refresh_ended(g), 1);
	json_decref(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(code_once, setup, teardown),
		cmocka_unit_test_setup_teardown(access_token_record, setup,
						teardown),
		cmocka_unit_test_setup_teardown(access_token_keeps_generation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(forged_tokens_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(code_replay_revokes_family,
						setup, teardown),
		cmocka_unit_test_setup_teardown(refresh_rotation_and_reuse,
						setup, teardown),
		cmocka_unit_test_setup_teardown(refresh_grace_takes_rotated_out,
						setup, teardown),
		cmocka_unit_test_setup_teardown(refresh_grace_ends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(refresh_grace_many_workers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			refresh_family_end_takes_access_tokens, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			access_tokens_go_with_their_family, setup, teardown),
		cmocka_unit_test_setup_teardown(user_families_taken, setup,
						teardown),
		cmocka_unit_test_setup_teardown(user_families_listed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			refresh_grace_waits_for_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(refresh_lifetime_ends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(jwt_access_token, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
