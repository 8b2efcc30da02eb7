/*
 * The APNs sender: the provider token (an ES256 JWT made from the team's
 * .p8 key) and the HTTP/2 request of one push.
 *
 * The JWT is signed with cjose (cjose_jws_sign with ES256 gives the raw
 * r||s signature JWS wants), from a JWK built out of the PKCS#8 key that
 * OpenSSL reads. Apple refuses a token older than an hour and refuses new
 * tokens more often than every 20 minutes (TooManyProviderTokenUpdates),
 * so one token per key is shared by every worker of the process (a
 * mutex) and every node (the store: "apns_jwt:<name>", the name from
 * pushd_apns_shared_name()), and is minted only under a store lock
 * ("apns_jwt_lock:<name>", SET NX, 20 minutes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>

#include "common/util.h"
#include "pushd_internal.h"

#define P256_BYTES	32
/* How long a worker waits for another node that holds the mint lock. */
#define LOCK_WAIT_TRIES 20
#define LOCK_WAIT_NS	100000000L
#define JWT_LOCK_TTL_MS ((uint64_t)PUSHD_JWT_MINT_GAP_S * 1000u)
#define JWT_TTL_MS	((uint64_t)PUSHD_JWT_LIFETIME_S * 1000u)

static pushd_status key_fail(char *err, size_t errlen, const char *path,
			     const char *why)
{
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "push.apns.key_file: %s: %s", path,
			       why);
	return PUSHD_ERR_CREDENTIAL;
}

/* The P-256 private scalar and public point of pk as a cjose JWK. */
static cjose_jwk_t *jwk_from_pkey(EVP_PKEY *pk)
{
	uint8_t d[P256_BYTES], x[P256_BYTES], y[P256_BYTES];
	BIGNUM *bd = NULL, *bx = NULL, *by = NULL;
	cjose_jwk_ec_keyspec spec;
	cjose_jwk_t *jwk = NULL;
	cjose_err cerr;

	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &bd) != 1 ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1 ||
	    BN_bn2binpad(bd, d, sizeof(d)) != P256_BYTES ||
	    BN_bn2binpad(bx, x, sizeof(x)) != P256_BYTES ||
	    BN_bn2binpad(by, y, sizeof(y)) != P256_BYTES)
		goto out;
	memset(&spec, 0, sizeof(spec));
	spec.crv = CJOSE_JWK_EC_P_256;
	spec.d = d;
	spec.dlen = sizeof(d);
	spec.x = x;
	spec.xlen = sizeof(x);
	spec.y = y;
	spec.ylen = sizeof(y);
	jwk = cjose_jwk_create_EC_spec(&spec, &cerr);
out:
	OPENSSL_cleanse(d, sizeof(d));
	BN_clear_free(bd);
	BN_free(bx);
	BN_free(by);
	return jwk;
}

pushd_status pushd_apns_shared_name(cjose_jwk_t *key, const char *team_id,
				    const char *key_id, char *out, size_t cap)
{
	char hash[65];
	char *pub;
	cjose_err cerr;
	int n;

	if (key == NULL || team_id == NULL || key_id == NULL || out == NULL)
		return PUSHD_ERR_ARG;
	/* The public members only: x and y name the key. */
	pub = cjose_jwk_to_json(key, false, &cerr);
	if (pub == NULL)
		return PUSHD_ERR_NOMEM;
	af_sha256_hex(pub, strlen(pub), hash);
	free(pub);
	hash[16] = '\0';
	n = snprintf(out, cap, "%s:%s:%s", team_id, key_id, hash);
	return n > 0 && (size_t)n < cap ? PUSHD_OK : PUSHD_ERR_TOO_BIG;
}

pushd_status pushd_apns_key_load(const char *path, cjose_jwk_t **out, char *err,
				 size_t errlen)
{
	char group[32];
	char *pem = NULL;
	size_t len = 0, glen = 0;
	EVP_PKEY *pk = NULL;
	int encrypted = 0;
	pushd_status rc;

	if (path == NULL || out == NULL)
		return PUSHD_ERR_ARG;
	*out = NULL;
	rc = pushd_read_key_file(path, "push.apns.key_file", PUSHD_KEY_FILE_MAX,
				 &pem, &len, err, errlen);
	if (rc != PUSHD_OK)
		return rc;
	pk = pushd_pem_private_key(pem, len, &encrypted);
	if (pk == NULL) {
		rc = key_fail(err, errlen, path,
			      encrypted ? PUSHD_ENCRYPTED_KEY
					: "not a PEM private key");
		goto out;
	}
	if (!EVP_PKEY_is_a(pk, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), &glen) != 1 ||
	    strcmp(group, "prime256v1") != 0) {
		rc = key_fail(err, errlen, path, "not a P-256 (ES256) key");
		goto out;
	}
	*out = jwk_from_pkey(pk);
	rc = *out != NULL ? PUSHD_OK
			  : key_fail(err, errlen, path, "unusable EC key");
out:
	EVP_PKEY_free(pk);
	OPENSSL_clear_free(pem, len + 1);
	return rc;
}

pushd_status pushd_apns_jwt(cjose_jwk_t *key, const char *team_id,
			    const char *key_id, int64_t iat, char *out,
			    size_t cap)
{
	cjose_header_t *hdr = NULL;
	cjose_jws_t *jws = NULL;
	const char *compact = NULL;
	char *claims = NULL;
	json_t *obj = NULL;
	cjose_err cerr;
	pushd_status rc = PUSHD_ERR_CRYPTO;

	if (key == NULL || team_id == NULL || key_id == NULL || out == NULL ||
	    cap == 0)
		return PUSHD_ERR_ARG;
	out[0] = '\0';
	obj = json_pack("{s:s, s:I}", "iss", team_id, "iat", (json_int_t)iat);
	claims = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	hdr = cjose_header_new(&cerr);
	if (claims == NULL || hdr == NULL) {
		rc = PUSHD_ERR_NOMEM;
		goto out;
	}
	if (!cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_ES256, &cerr) ||
	    !cjose_header_set(hdr, CJOSE_HDR_KID, key_id, &cerr))
		goto out;
	jws = cjose_jws_sign(key, hdr, (const uint8_t *)claims, strlen(claims),
			     &cerr);
	if (jws == NULL || !cjose_jws_export(jws, &compact, &cerr))
		goto out;
	if (strlen(compact) >= cap) {
		rc = PUSHD_ERR_TOO_BIG;
		goto out;
	}
	memcpy(out, compact, strlen(compact) + 1);
	rc = PUSHD_OK;
out:
	cjose_jws_release(jws);
	cjose_header_release(hdr);
	free(claims);
	json_decref(obj);
	return rc;
}

/* ---- the shared provider token ------------------------------------------ */

/* Reads the node-shared token; -1 when absent or unreadable. */
static int stored_jwt(pushd_ctx *ctx, char *jwt, size_t cap, int64_t *iat)
{
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	json_t *obj = NULL;
	const char *s;
	int rc = -1;

	(void)snprintf(key, sizeof(key), "apns_jwt:%s", ctx->apns_shared);
	if (store_get(ctx->store, key, &v) != STORE_OK)
		return -1;
	obj = json_loadb((const char *)v.data, v.len, 0, NULL);
	s = json_string_value(json_object_get(obj, "jwt"));
	*iat = json_integer_value(json_object_get(obj, "iat"));
	if (s != NULL && *iat > 0 && strlen(s) < cap) {
		memcpy(jwt, s, strlen(s) + 1);
		rc = 0;
	}
	json_decref(obj);
	store_value_free(&v);
	return rc;
}

/* Publishes a freshly minted token to the other workers and nodes. */
static void store_jwt(pushd_ctx *ctx, const char *jwt, int64_t iat)
{
	char key[STORE_KEY_MAX];
	json_t *obj;
	char *text;
	store_status st = STORE_ERR_NOMEM;

	(void)snprintf(key, sizeof(key), "apns_jwt:%s", ctx->apns_shared);
	obj = json_pack("{s:s, s:I}", "jwt", jwt, "iat", (json_int_t)iat);
	text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	if (text != NULL)
		st = store_set(ctx->store, key, text, strlen(text), JWT_TTL_MS,
			       0);
	if (st != STORE_OK)
		log_warn(ctx->log, NULL, "apns_jwt",
			 "cannot share the provider token: %s",
			 store_strerror(st));
	af_free_secret(text);
	json_decref(obj);
}

/*
 * How far ahead of this clock the iat of a token Apple refused may be
 * before it counts as made by a clock that ran ahead (this one before NTP
 * set it back, or another node's): Apple, whose clock is right, refuses
 * it until then, so it is replaced without the 20 minutes' wait. A token
 * not refused is used whatever its iat: this clock may be the one behind.
 */
#define JWT_AHEAD_S 60

/* 1 when a token of this age may still be handed out instead of failed. */
static int usable(const char *jwt, int64_t iat, int64_t now, int64_t max_age,
		  const char *failed)
{
	if (iat <= 0 || jwt[0] == '\0' || now - iat >= max_age)
		return 0;
	return failed == NULL || strcmp(jwt, failed) != 0;
}

static void adopt(pushd_jwt_cache *c, const char *jwt, int64_t iat)
{
	OPENSSL_cleanse(c->jwt, sizeof(c->jwt));
	memcpy(c->jwt, jwt, strlen(jwt) + 1);
	c->iat = iat;
	c->refusals_told = 0;
}

/*
 * Takes the mint lock. A renewal after ExpiredProviderToken locks on the
 * token that failed, so that of the workers and nodes that saw it fail one
 * mints; the others wait for its token.
 */
static store_status take_lock(pushd_ctx *ctx, const char *failed)
{
	char key[STORE_KEY_MAX], hash[65];

	if (failed == NULL) {
		(void)snprintf(key, sizeof(key), "apns_jwt_lock:%s",
			       ctx->apns_shared);
		return store_set(ctx->store, key, "1", 1, JWT_LOCK_TTL_MS,
				 STORE_SET_NX);
	}
	af_sha256_hex(failed, strlen(failed), hash);
	hash[16] = '\0';
	(void)snprintf(key, sizeof(key), "apns_jwt_lock:%s:%s",
		       ctx->apns_shared, hash);
	return store_set(ctx->store, key, "1", 1, JWT_LOCK_TTL_MS,
			 STORE_SET_NX);
}

/* Restarts the 20-minute clock after a forced renewal. */
static void reset_lock(pushd_ctx *ctx)
{
	char key[STORE_KEY_MAX];
	store_status st;

	(void)snprintf(key, sizeof(key), "apns_jwt_lock:%s", ctx->apns_shared);
	st = store_set(ctx->store, key, "1", 1, JWT_LOCK_TTL_MS, 0);
	if (st != STORE_OK)
		log_warn(ctx->log, NULL, "apns_jwt", "cannot set the lock: %s",
			 store_strerror(st));
}

/* Waits for the node that holds the lock to publish its token. */
static int wait_for_other(pushd_ctx *ctx, const char *failed, char *jwt,
			  size_t cap, int64_t *iat)
{
	const struct timespec pause = {0, LOCK_WAIT_NS};
	int i;

	for (i = 0; i < LOCK_WAIT_TRIES; i++) {
		if (stored_jwt(ctx, jwt, cap, iat) == 0 &&
		    usable(jwt, *iat, af_now(), PUSHD_JWT_LIFETIME_S - 60,
			   failed))
			return 0;
		(void)nanosleep(&pause, NULL);
	}
	return -1;
}

static pushd_status mint(pushd_ctx *ctx, const char *failed, int64_t now)
{
	char jwt[PUSHD_JWT_MAX];
	pushd_status rc;

	rc = pushd_apns_jwt(ctx->apns_key, ctx->cfg.apns.team_id,
			    ctx->cfg.apns.key_id, now, jwt, sizeof(jwt));
	if (rc != PUSHD_OK)
		return rc;
	store_jwt(ctx, jwt, now);
	if (failed != NULL)
		reset_lock(ctx);
	adopt(&ctx->jwt, jwt, now);
	atomic_fetch_add(&ctx->metrics.renewals[PUSHD_APNS], 1);
	log_info(ctx->log, NULL, "apns_jwt", "key_id=%s iat=%lld renewal=%s",
		 ctx->cfg.apns.key_id, (long long)now,
		 failed != NULL ? "forced" : "age");
	OPENSSL_cleanse(jwt, sizeof(jwt));
	return PUSHD_OK;
}

/* The body of pushd_apns_token(), under the cache's mutex. */
static pushd_status token_locked(pushd_ctx *ctx, const char *failed)
{
	pushd_jwt_cache *c = &ctx->jwt;
	char jwt[PUSHD_JWT_MAX] = "";
	int64_t now = af_now(), iat = 0, made;
	pushd_status rc = PUSHD_OK;
	store_status st;

	if (usable(c->jwt, c->iat, now,
		   failed == NULL ? PUSHD_JWT_REUSE_S : PUSHD_JWT_LIFETIME_S,
		   failed))
		return PUSHD_OK;
	if (stored_jwt(ctx, jwt, sizeof(jwt), &iat) == 0 &&
	    usable(jwt, iat, now,
		   failed == NULL ? PUSHD_JWT_REUSE_S : PUSHD_JWT_LIFETIME_S,
		   failed)) {
		adopt(c, jwt, iat);
		goto out;
	}
	/*
	 * Called expired sooner than Apple lets a token be replaced: Apple
	 * would refuse a new one (TooManyProviderTokenUpdates), and the one
	 * it replaced would be lost; a token that young expires only to a
	 * clock that is wrong. The push fails instead of costing a token. A
	 * refused token made ahead of this clock is replaced (JWT_AHEAD_S).
	 */
	made = 0;
	if (failed != NULL && strcmp(c->jwt, failed) == 0)
		made = c->iat;
	else if (failed != NULL && strcmp(jwt, failed) == 0)
		made = iat;
	if (made != 0 && made - now <= JWT_AHEAD_S &&
	    now - made < (int64_t)PUSHD_JWT_MINT_GAP_S) {
		if (!c->refusals_told)
			log_warn(ctx->log, NULL, "apns_jwt",
				 "key_id=%s: APNs calls a provider token made "
				 "%lld s ago expired; Apple refuses a new one "
				 "within %d s of the last, so none is made "
				 "(is the clock right?)",
				 ctx->cfg.apns.key_id, (long long)(now - made),
				 PUSHD_JWT_MINT_GAP_S);
		c->refusals_told = 1;
		rc = PUSHD_ERR_STATE;
		goto out;
	}
	st = take_lock(ctx, failed);
	if (st == STORE_OK) {
		rc = mint(ctx, failed, now);
		goto out;
	}
	if (st == STORE_EXISTS &&
	    wait_for_other(ctx, failed, jwt, sizeof(jwt), &iat) == 0) {
		adopt(c, jwt, iat);
		goto out;
	}
	/*
	 * Another node holds the lock but no token it minted is to be seen,
	 * or the store is down. A token we still hold stays good for its
	 * hour; with none, minting here beats not sending at all.
	 */
	if (usable(c->jwt, c->iat, now, PUSHD_JWT_LIFETIME_S - 60, failed))
		goto out;
	log_warn(ctx->log, NULL, "apns_jwt",
		 "minting without the store lock (%s)", store_strerror(st));
	rc = mint(ctx, failed, now);
out:
	OPENSSL_cleanse(jwt, sizeof(jwt));
	return rc;
}

pushd_status pushd_apns_token(pushd_ctx *ctx, const char *failed, char *out,
			      size_t cap)
{
	pushd_status rc;

	if (ctx == NULL || ctx->apns_key == NULL || out == NULL || cap == 0)
		return PUSHD_ERR_ARG;
	out[0] = '\0';
	pthread_mutex_lock(&ctx->jwt.mu);
	rc = token_locked(ctx, failed);
	if (rc == PUSHD_OK && strlen(ctx->jwt.jwt) >= cap)
		rc = PUSHD_ERR_TOO_BIG;
	if (rc == PUSHD_OK)
		memcpy(out, ctx->jwt.jwt, strlen(ctx->jwt.jwt) + 1);
	pthread_mutex_unlock(&ctx->jwt.mu);
	return rc;
}

/* ---- one request -------------------------------------------------------- */

/* Appends the header "name: value"; -1 on no memory. */
static int add_header(struct curl_slist **list, const char *name,
		      const char *value)
{
	char line[PUSHD_JWT_MAX + 64];
	struct curl_slist *n;
	int len = snprintf(line, sizeof(line), "%s: %s", name, value);

	/* Only what snprintf wrote needs a wipe, not the whole 2 KiB. */
	if (len < 0 || (size_t)len >= sizeof(line)) {
		OPENSSL_cleanse(line, sizeof(line));
		return -1;
	}
	n = curl_slist_append(*list, line);
	OPENSSL_cleanse(line, (size_t)len);
	if (n == NULL)
		return -1;
	*list = n;
	return 0;
}

pushd_status pushd_apns_prepare(pushd_ctx *ctx, pushd_flight *f)
{
	const af_apns_config *a = &ctx->cfg.apns;
	char payload[PUSHD_APNS_PAYLOAD_MAX + 1];
	char url[AF_CONFIG_URL_MAX + AF_MFA_PUSH_TOKEN_MAX + 16];
	char uuid[PUSHD_UUID_LEN + 1], expires[24];
	char bearer[PUSHD_ACCESS_TOKEN_MAX + 16];
	size_t len = 0;
	pushd_status rc;

	if (!pushd_apns_token_ok(f->job.push_token))
		return PUSHD_ERR_PROTOCOL;
	rc = pushd_apns_payload(&f->job, payload, sizeof(payload), &len);
	if (rc != PUSHD_OK)
		return rc;
	rc = pushd_apns_token(ctx, NULL, f->auth, sizeof(f->auth));
	if (rc != PUSHD_OK)
		return rc;
	(void)snprintf(url, sizeof(url), "%s/3/device/%s",
		       f->job.sandbox ? a->sandbox_endpoint : a->endpoint,
		       f->job.push_token);
	pushd_apns_id(f->job.job, uuid);
	(void)snprintf(expires, sizeof(expires), "%lld",
		       (long long)f->job.expires);
	f->body = strdup(payload);
	(void)snprintf(bearer, sizeof(bearer), "bearer %s", f->auth);
	rc = f->body == NULL ||
			     add_header(&f->headers, "authorization", bearer) ||
			     add_header(&f->headers, "apns-topic", a->topic) ||
			     add_header(&f->headers, "apns-push-type",
					"alert") ||
			     add_header(&f->headers, "apns-priority", "10") ||
			     add_header(&f->headers, "apns-expiration",
					expires) ||
			     add_header(&f->headers, "apns-collapse-id",
					f->job.txn) ||
			     add_header(&f->headers, "apns-id", uuid) ||
			     add_header(&f->headers, "content-type",
					"application/json")
		     ? PUSHD_ERR_NOMEM
		     : PUSHD_OK;
	OPENSSL_cleanse(bearer, strnlen(bearer, sizeof(bearer)));
	if (rc != PUSHD_OK)
		return rc;
	if (curl_easy_setopt(f->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers) !=
		    CURLE_OK ||
	    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE, (long)len) !=
		    CURLE_OK ||
	    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, f->body) != CURLE_OK)
		return PUSHD_ERR_HTTP;
	return PUSHD_OK;
}

/*
 * APNs refused the provider token itself, so every push fails alike until
 * an operator acts or time passes: one warning per token says what to
 * look at, rather than an info line per push.
 */
static void provider_refused(pushd_ctx *ctx, long http_status,
			     const char *reason)
{
	pushd_jwt_cache *c = &ctx->jwt;
	const char *what;
	int tell;

	if (http_status == 403 && strcmp(reason, "InvalidProviderToken") == 0)
		what = "the provider token is invalid: check push.apns.team_id, "
		       "key_id and key_file against the key in Apple's "
		       "developer account";
	else if (http_status == 429 &&
		 strcmp(reason, "TooManyProviderTokenUpdates") == 0)
		what = "the provider token was renewed too often (a store "
		       "that lost the shared token, or nodes on different "
		       "stores); pushes fail until it is 20 minutes old, and "
		       "users type the token code meanwhile";
	else
		return;
	if (pthread_mutex_lock(&c->mu) != 0)
		return;
	tell = c->refused_told != c->iat || c->iat == 0;
	c->refused_told = c->iat;
	pthread_mutex_unlock(&c->mu);
	if (tell)
		log_warn(ctx->log, NULL, "apns_jwt", "key_id=%s: APNs %s: %s",
			 ctx->cfg.apns.key_id, reason, what);
}

/*
 * Whether the token a push carried (sent) is the one in hand and was made
 * more than JWT_AHEAD_S ahead of this clock.
 */
static int sent_ahead(pushd_ctx *ctx, const char *sent)
{
	pushd_jwt_cache *c = &ctx->jwt;
	int ahead;

	if (pthread_mutex_lock(&c->mu) != 0)
		return 0;
	ahead = c->jwt[0] != '\0' && strcmp(c->jwt, sent) == 0 &&
		c->iat - af_now() > JWT_AHEAD_S;
	pthread_mutex_unlock(&c->mu);
	return ahead;
}

pushd_verdict pushd_apns_verdict(pushd_ctx *ctx, pushd_flight *f,
				 long http_status)
{
	char *reason = f->last_reason, shown[LOG_VALUE_BUF];
	pushd_verdict v;

	pushd_apns_reason(f->resp, f->resp_len, reason, sizeof(f->last_reason));
	v = pushd_classify_apns(http_status, reason);
	/*
	 * A token made by a clock that ran ahead may be called invalid
	 * rather than expired: it is renewed as an expired one is.
	 */
	if (http_status == 403 && strcmp(reason, "InvalidProviderToken") == 0 &&
	    sent_ahead(ctx, f->auth))
		v = PUSHD_V_RENEW;
	else
		provider_refused(ctx, http_status, reason);
	/*
	 * The reason is the service's text: quoted when it is not a word.
	 * One that fails for good (a wrong topic or key, a bad payload) is
	 * most likely the configuration's, and a warning says which.
	 */
	if (v != PUSHD_V_SENT)
		log_write(ctx->log,
			  v == PUSHD_V_FAILED ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
			  NULL, "apns_answer", NULL,
			  "job=%s txn=%s status=%ld reason=%s", f->job.job,
			  f->job.txn, http_status,
			  log_value(reason[0] != '\0' ? reason : "-", shown,
				    sizeof(shown)));
	return v;
}
