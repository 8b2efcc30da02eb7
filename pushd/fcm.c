/*
 * The FCM HTTP v1 sender: the service account, its OAuth 2.0 access token
 * (RFC 7523 JWT bearer grant), and the request of one push.
 *
 * The assertion is RS256, signed here with EVP_DigestSign: the PKCS#1 v1.5
 * signature OpenSSL makes is already the bytes JWS wants, and this avoids
 * converting the PEM key into a cjose JWK member by member. The access
 * token lives an hour; it is cached in the context (shared by the
 * workers, behind a mutex) and in the store ("fcm_token:<project>",
 * shared by the nodes) until 5 minutes before it expires, or until FCM
 * refuses it. Only pushd_fcm_renew(), on the controlling thread, asks the
 * token endpoint for a new one; the workers never wait for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "common/config.h"
#include "common/httpparse.h"
#include "common/util.h"
#include "pushd_internal.h"

#define FCM_SCOPE	 "https://www.googleapis.com/auth/firebase.messaging"
#define GRANT		 "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
/* An access token shorter-lived than this is refused as nonsense. */
#define TOKEN_MIN_LIFE_S (PUSHD_TOKEN_MARGIN_S + PUSHD_TOKEN_AHEAD_S + 60)
#define TOKEN_MAX_LIFE_S (24LL * 3600)

static pushd_status acct_fail(char *err, size_t errlen, const char *path,
			      const char *why)
{
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen,
			       "push.fcm.service_account_file: %s: %s", path,
			       why);
	return PUSHD_ERR_CREDENTIAL;
}

/*
 * A Google Cloud project id goes into the path of every send request
 * (/v1/projects/ID/messages:send) and into a store key, so only its own
 * characters pass: today's ids (6 to 30 of a-z 0-9 -, beginning with a
 * letter) and the older domain-scoped ones ("example.com:my-project").
 * Nothing that could end the path segment, start a query, or break the
 * request line ('/', '?', '#', '%', spaces, CR, LF) gets through.
 */
static int project_id_ok(const char *id)
{
	size_t i, n = id != NULL ? strlen(id) : 0;

	if (n == 0 || n > PUSHD_PROJECT_ID_MAX)
		return 0;
	if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9')))
		return 0;
	for (i = 1; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

static int copy_member(const json_t *obj, const char *key, char *out,
		       size_t cap)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (s == NULL || s[0] == '\0' || strlen(s) >= cap)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

pushd_status pushd_fcm_account_load(const char *path, const char *token_uri,
				    pushd_fcm_account *acct, char *err,
				    size_t errlen)
{
	const char *pem;
	char *text = NULL, why[200], text_why[JSON_ERROR_TEXT_LENGTH];
	size_t len = 0;
	json_t *root = NULL;
	const json_t *type;
	json_error_t jerr;
	int encrypted = 0;
	pushd_status rc;

	if (path == NULL || acct == NULL)
		return PUSHD_ERR_ARG;
	memset(acct, 0, sizeof(*acct));
	rc = pushd_read_key_file(path, "push.fcm.service_account_file",
				 PUSHD_ACCOUNT_MAX, &text, &len, err, errlen);
	if (rc != PUSHD_OK)
		return rc;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/*
		 * As the config file's: where, and what jansson saw, without
		 * the input it quotes (the file holds a private key).
		 */
		af_json_why(jerr.text, text_why, sizeof(text_why));
		(void)snprintf(why, sizeof(why), "line %d, column %d: %s",
			       jerr.line, jerr.column, text_why);
		rc = acct_fail(err, errlen, path, why);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = acct_fail(err, errlen, path, "not a JSON object");
		goto out;
	}
	/* Another kind of Google key (a user's, say) cannot sign for FCM. */
	type = json_object_get(root, "type");
	if (type != NULL &&
	    (!json_is_string(type) ||
	     strcmp(json_string_value(type), "service_account") != 0)) {
		rc = acct_fail(err, errlen, path,
			       "type must be \"service_account\" (download "
			       "a service account's key from the Firebase "
			       "console)");
		goto out;
	}
	if (copy_member(root, "client_email", acct->client_email,
			sizeof(acct->client_email)) != 0 ||
	    json_string_value(json_object_get(root, "project_id")) == NULL) {
		rc = acct_fail(err, errlen, path,
			       "needs client_email and project_id");
		goto out;
	}
	if (strchr(acct->client_email, '@') == NULL ||
	    strpbrk(acct->client_email, " \t\r\n\"") != NULL) {
		rc = acct_fail(err, errlen, path,
			       "client_email is not an address");
		goto out;
	}
	if (!project_id_ok(
		    json_string_value(json_object_get(root, "project_id"))) ||
	    copy_member(root, "project_id", acct->project_id,
			sizeof(acct->project_id)) != 0) {
		rc = acct_fail(err, errlen, path,
			       "project_id must be 1..128 characters of a-z "
			       "0-9 . : - beginning with a letter or digit");
		goto out;
	}
	if (token_uri != NULL && token_uri[0] != '\0')
		(void)snprintf(acct->token_uri, sizeof(acct->token_uri), "%s",
			       token_uri);
	else if (copy_member(root, "token_uri", acct->token_uri,
			     sizeof(acct->token_uri)) != 0) {
		rc = acct_fail(err, errlen, path,
			       "needs an https:// token_uri");
		goto out;
	} else if (af_config_push_url_ok(acct->token_uri, 1, why,
					 sizeof(why)) != 0) {
		char msg[sizeof(why) + 16];

		(void)snprintf(msg, sizeof(msg), "token_uri: %s", why);
		rc = acct_fail(err, errlen, path, msg);
		goto out;
	}
	pem = json_string_value(json_object_get(root, "private_key"));
	acct->key = pem != NULL ? pushd_pem_private_key(pem, strlen(pem),
							&encrypted)
				: NULL;
	if (encrypted) {
		rc = acct_fail(err, errlen, path,
			       "private_key: " PUSHD_ENCRYPTED_KEY);
		goto out;
	}
	if (acct->key == NULL || !EVP_PKEY_is_a(acct->key, "RSA")) {
		rc = acct_fail(err, errlen, path,
			       "private_key is not a PEM RSA key");
		goto out;
	}
	rc = PUSHD_OK;
out:
	if (rc != PUSHD_OK)
		pushd_fcm_account_cleanup(acct);
	json_decref(root);
	OPENSSL_clear_free(text, len + 1);
	return rc;
}

void pushd_fcm_account_cleanup(pushd_fcm_account *acct)
{
	if (acct == NULL)
		return;
	EVP_PKEY_free(acct->key);
	OPENSSL_cleanse(acct, sizeof(*acct));
}

/* base64url of a JSON object's compact text into out. */
static int b64_json(json_t *obj, char *out, size_t cap)
{
	char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	int rc = -1;

	if (text != NULL)
		rc = af_b64url_encode(text, strlen(text), out, cap);
	free(text);
	return rc;
}

pushd_status pushd_fcm_assertion(const pushd_fcm_account *a, int64_t iat,
				 char *out, size_t cap)
{
	unsigned char sig[1024];
	size_t n, siglen = sizeof(sig);
	EVP_MD_CTX *md = NULL;
	json_t *hdr = NULL, *claims = NULL;
	pushd_status rc = PUSHD_ERR_CRYPTO;

	if (a == NULL || a->key == NULL || out == NULL || cap == 0)
		return PUSHD_ERR_ARG;
	out[0] = '\0';
	hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", a->client_email,
			   "scope", FCM_SCOPE, "aud", a->token_uri, "iat",
			   (json_int_t)iat, "exp", (json_int_t)iat + 3600);
	if (hdr == NULL || claims == NULL) {
		rc = PUSHD_ERR_NOMEM;
		goto out;
	}
	if (b64_json(hdr, out, cap) != 0) {
		rc = PUSHD_ERR_TOO_BIG;
		goto out;
	}
	n = strlen(out);
	if (n + 2 >= cap || b64_json(claims, out + n + 1, cap - n - 1) != 0) {
		rc = PUSHD_ERR_TOO_BIG;
		goto out;
	}
	out[n] = '.';
	n = strlen(out);
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, a->key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out, n) !=
		    1)
		goto out;
	if (n + 2 >= cap ||
	    af_b64url_encode(sig, siglen, out + n + 1, cap - n - 1) != 0) {
		rc = PUSHD_ERR_TOO_BIG;
		goto out;
	}
	out[n] = '.';
	rc = PUSHD_OK;
out:
	if (rc != PUSHD_OK)
		OPENSSL_cleanse(out, cap);
	EVP_MD_CTX_free(md);
	json_decref(hdr);
	json_decref(claims);
	return rc;
}

/* ---- the access token ------------------------------------------------------
 */

struct capped {
	char buf[PUSHD_RESPONSE_MAX];
	size_t len;
	int over; /* the answer went past the cap */
};

static size_t capped_write(char *data, size_t size, size_t n, void *arg)
{
	struct capped *c = arg;
	size_t len = size * n;

	/* A longer answer than the cap is cut short: the transfer fails. */
	if (len > sizeof(c->buf) - 1 - c->len) {
		c->over = 1;
		return 0;
	}
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return len;
}

pushd_status pushd_fcm_token_answer(const char *body, size_t len, int64_t now,
				    char *token, size_t cap,
				    int64_t *expires_at, const char **why)
{
	const json_t *life;
	const char *tok;
	json_t *root;
	pushd_status rc = PUSHD_ERR_PROTOCOL;

	if (why != NULL)
		*why = "";
	if (body == NULL || token == NULL || cap == 0 || expires_at == NULL ||
	    why == NULL)
		return PUSHD_ERR_ARG;
	token[0] = '\0';
	root = json_loadb(body, len, 0, NULL);
	tok = json_string_value(json_object_get(root, "access_token"));
	life = json_object_get(root, "expires_in");
	if (!json_is_object(root))
		*why = "not a JSON object";
	else if (tok == NULL || tok[0] == '\0')
		*why = "no access_token";
	else if (strlen(tok) >= cap)
		*why = "access_token too long";
	/*
	 * The token goes into the authorization header of every push, where
	 * a CR or LF would start a header of the token endpoint's choosing.
	 */
	else if (hp_b64token_len(tok, strlen(tok)) != strlen(tok))
		*why = "access_token holds characters a token may not";
	else if (!json_is_integer(life))
		*why = "no integer expires_in";
	else if (json_integer_value(life) < TOKEN_MIN_LIFE_S ||
		 json_integer_value(life) > TOKEN_MAX_LIFE_S)
		*why = "expires_in out of range";
	else
		rc = PUSHD_OK;
	if (rc == PUSHD_OK) {
		memcpy(token, tok, strlen(tok) + 1);
		*expires_at = now + json_integer_value(life);
	}
	json_decref(root);
	return rc;
}

/*
 * Says why the token endpoint refused: its OAuth error and description
 * (RFC 6749 5.2), so that a refused key ("invalid_grant") reads as such.
 */
static void token_refused(pushd_ctx *ctx, long status, const char *body,
			  size_t len)
{
	char err[LOG_VALUE_BUF], desc[LOG_VALUE_BUF];
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *e = json_string_value(json_object_get(root, "error"));
	const char *d =
		json_string_value(json_object_get(root, "error_description"));

	log_warn(ctx->log, NULL, "fcm_token",
		 "%s: HTTP %ld error=%s description=%s%s",
		 status >= 500 ? "the token endpoint failed (a fault on its "
				 "side: asked again after a back-off)"
			       : "the token endpoint refused the service "
				 "account",
		 status, log_value(e != NULL ? e : "-", err, sizeof(err)),
		 log_value(d != NULL ? d : "-", desc, sizeof(desc)),
		 status < 500 && e != NULL && strcmp(e, "invalid_grant") == 0
			 ? " (is the key in service_account_file still valid?)"
			 : "");
	json_decref(root);
}

/*
 * POSTs the JWT bearer grant to token_uri (blocking, with no lock held)
 * and puts the answer in *got.
 */
static pushd_status fetch_token(pushd_ctx *ctx, int64_t now,
				pushd_token_cache *got)
{
	char assertion[PUSHD_JWT_MAX];
	char form[PUSHD_JWT_MAX + 128];
	struct capped *resp = NULL;
	const char *why = "";
	CURL *easy = NULL;
	long status = 0;
	CURLcode cc;
	pushd_status rc;

	rc = pushd_fcm_assertion(&ctx->fcm, now, assertion, sizeof(assertion));
	if (rc != PUSHD_OK)
		return rc;
	(void)snprintf(form, sizeof(form), "grant_type=%s&assertion=%s", GRANT,
		       assertion);
	resp = calloc(1, sizeof(*resp));
	easy = curl_easy_init();
	if (resp == NULL || easy == NULL) {
		rc = PUSHD_ERR_NOMEM;
		goto out;
	}
	rc = pushd_curl_common(ctx, easy, PUSHD_FCM);
	if (rc != PUSHD_OK)
		goto out;
	if (curl_easy_setopt(easy, CURLOPT_URL, ctx->fcm.token_uri) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, form) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, capped_write) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEDATA, resp) != CURLE_OK) {
		rc = PUSHD_ERR_HTTP;
		goto out;
	}
	cc = curl_easy_perform(easy);
	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		if (resp->over)
			log_warn(ctx->log, NULL, "fcm_token",
				 "token request failed: HTTP %ld, an answer "
				 "over %d bytes",
				 status, PUSHD_RESPONSE_MAX - 1);
		else
			log_warn(ctx->log, NULL, "fcm_token",
				 "token request failed: %s",
				 curl_easy_strerror(cc));
		rc = PUSHD_ERR_HTTP;
		goto out;
	}
	if (status != 200) {
		token_refused(ctx, status, resp->buf, resp->len);
		rc = PUSHD_ERR_HTTP;
		goto out;
	}
	rc = pushd_fcm_token_answer(resp->buf, resp->len, af_now(), got->token,
				    sizeof(got->token), &got->expires_at, &why);
	if (rc == PUSHD_OK) {
		atomic_fetch_add(&ctx->metrics.renewals[PUSHD_FCM], 1);
		log_info(ctx->log, NULL, "fcm_token",
			 "project=%s expires_at=%lld", ctx->fcm.project_id,
			 (long long)got->expires_at);
	} else {
		log_warn(ctx->log, NULL, "fcm_token",
			 "the token endpoint's answer holds no usable token: "
			 "%s",
			 why);
	}
out:
	curl_easy_cleanup(easy);
	if (resp != NULL)
		OPENSSL_clear_free(resp, sizeof(*resp));
	OPENSSL_cleanse(assertion, sizeof(assertion));
	OPENSSL_cleanse(form, sizeof(form));
	return rc;
}

static void store_key(const pushd_ctx *ctx, char *key, size_t cap)
{
	(void)snprintf(key, cap, "fcm_token:%s", ctx->fcm.project_id);
}

/* 1 when tok is the token FCM refused last. */
static int is_refused(const pushd_token_cache *c, const char *tok)
{
	uint8_t h[32];

	if (!c->has_refused)
		return 0;
	af_sha256(tok, strlen(tok), h);
	return CRYPTO_memcmp(h, c->refused, sizeof(h)) == 0;
}

/*
 * Remembers a token FCM refused, and drops it from the cache when it is
 * still the one there (another worker may have replaced it already).
 */
static void refuse(pushd_token_cache *c, const char *failed)
{
	af_sha256(failed, strlen(failed), c->refused);
	c->has_refused = 1;
	if (af_ct_streq(c->token, failed)) {
		OPENSSL_cleanse(c->token, sizeof(c->token));
		c->expires_at = 0;
	}
}

/* Adopts the node-shared token when it is good and not a refused one. */
static int from_store(pushd_ctx *ctx, int64_t now)
{
	pushd_token_cache *c = &ctx->fcm_token;
	char key[STORE_KEY_MAX];
	store_value v = {NULL, 0};
	const char *tok;
	json_int_t exp;
	json_t *obj;
	int rc = -1;

	store_key(ctx, key, sizeof(key));
	if (store_get(ctx->store, key, &v) != STORE_OK)
		return -1;
	obj = json_loadb((const char *)v.data, v.len, 0, NULL);
	tok = json_string_value(json_object_get(obj, "token"));
	exp = json_integer_value(json_object_get(obj, "expires_at"));
	if (tok != NULL && tok[0] != '\0' && strlen(tok) < sizeof(c->token) &&
	    exp - PUSHD_TOKEN_MARGIN_S > now && !is_refused(c, tok)) {
		memcpy(c->token, tok, strlen(tok) + 1);
		c->expires_at = exp;
		rc = 0;
	}
	json_decref(obj);
	store_value_free(&v);
	return rc;
}

static void to_store(pushd_ctx *ctx, int64_t now)
{
	pushd_token_cache *c = &ctx->fcm_token;
	char key[STORE_KEY_MAX];
	json_t *obj;
	char *text;
	int64_t ttl = c->expires_at - PUSHD_TOKEN_MARGIN_S - now;
	store_status st = STORE_ERR_NOMEM;

	if (ttl <= 0)
		return;
	store_key(ctx, key, sizeof(key));
	obj = json_pack("{s:s, s:I}", "token", c->token, "expires_at",
			(json_int_t)c->expires_at);
	text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	if (text != NULL)
		st = store_set(ctx->store, key, text, strlen(text),
			       (uint64_t)ttl * 1000u, 0);
	if (st != STORE_OK)
		log_warn(ctx->log, NULL, "fcm_token",
			 "cannot share the access token: %s",
			 store_strerror(st));
	af_free_secret(text);
	json_decref(obj);
}

/* 1 when the cached token is good until now plus the margin. */
static int cache_good(const pushd_token_cache *c, int64_t now)
{
	return c->token[0] != '\0' &&
	       c->expires_at - PUSHD_TOKEN_MARGIN_S > now;
}

/* Copies the cached token into out; PUSHD_ERR_TOO_BIG when it cannot. */
static pushd_status cache_copy(const pushd_token_cache *c, char *out,
			       size_t cap)
{
	size_t n = strlen(c->token);

	if (n >= cap)
		return PUSHD_ERR_TOO_BIG;
	memcpy(out, c->token, n + 1);
	return PUSHD_OK;
}

pushd_status pushd_fcm_token(pushd_ctx *ctx, const char *failed, char *out,
			     size_t cap)
{
	pushd_token_cache *c;
	int64_t now = af_now();
	pushd_status rc = PUSHD_ERR_HTTP;

	if (ctx == NULL || ctx->fcm.key == NULL || out == NULL || cap == 0)
		return PUSHD_ERR_ARG;
	c = &ctx->fcm_token;
	out[0] = '\0';
	pthread_mutex_lock(&c->mu);
	if (failed != NULL && failed[0] != '\0')
		refuse(c, failed);
	if (cache_good(c, now) || from_store(ctx, now) == 0)
		rc = cache_copy(c, out, cap);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/*
 * Makes sure of a token good for ahead_s seconds more than the margin:
 * the cached one, the one another node shared, or a new one from the
 * token endpoint. The request is made with no lock held, by one thread at
 * a time, and not again before the back-off that follows a failed one
 * (1 s doubling to a minute). Only this asks the endpoint: the workers
 * take what is cached (pushd_fcm_token()), so a token endpoint that is
 * slow or silent holds up no push, and one whose tokens FCM refuses is
 * asked at most as often as this is called.
 */
static pushd_status renew_token(pushd_ctx *ctx, int64_t ahead_s)
{
	pushd_token_cache *c = &ctx->fcm_token, got;
	int64_t now = af_now();
	uint64_t wait_s;
	pushd_status rc;

	pthread_mutex_lock(&c->mu);
	if (cache_good(c, now + ahead_s) ||
	    from_store(ctx, now + ahead_s) == 0) {
		pthread_mutex_unlock(&c->mu);
		return PUSHD_OK;
	}
	if (c->fetching || af_mono_ns() < c->next_ns) {
		rc = cache_good(c, now) ? PUSHD_OK : PUSHD_ERR_HTTP;
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	c->fetching = 1;
	pthread_mutex_unlock(&c->mu);

	memset(&got, 0, sizeof(got));
	rc = fetch_token(ctx, now, &got);

	pthread_mutex_lock(&c->mu);
	c->fetching = 0;
	if (rc == PUSHD_OK && is_refused(c, got.token)) {
		log_warn(ctx->log, NULL, "fcm_token",
			 "the token endpoint gave back the token FCM refused");
		rc = PUSHD_ERR_PROTOCOL;
	}
	if (rc == PUSHD_OK) {
		OPENSSL_cleanse(c->token, sizeof(c->token));
		memcpy(c->token, got.token, sizeof(c->token));
		c->expires_at = got.expires_at;
		c->failures = 0;
		c->next_ns = 0;
		to_store(ctx, now);
	} else {
		wait_s = c->failures < 6 ? 1u << c->failures : 60u;
		c->failures++;
		c->next_ns = af_mono_ns() + wait_s * 1000000000ull;
		/* Renewing early failed: the token in hand still serves. */
		if (cache_good(c, af_now()))
			rc = PUSHD_OK;
	}
	pthread_mutex_unlock(&c->mu);
	OPENSSL_cleanse(&got, sizeof(got));
	return rc;
}

pushd_status pushd_fcm_renew(pushd_ctx *ctx)
{
	if (ctx == NULL)
		return PUSHD_ERR_ARG;
	if (ctx->fcm.key == NULL)
		return PUSHD_OK;
	return renew_token(ctx, PUSHD_TOKEN_AHEAD_S);
}

/* ---- one request -------------------------------------------------------- */

pushd_status pushd_fcm_prepare(pushd_ctx *ctx, pushd_flight *f)
{
	char url[AF_CONFIG_URL_MAX + 256];
	char line[PUSHD_ACCESS_TOKEN_MAX + 32];
	struct curl_slist *n;
	pushd_status rc;
	int len;

	rc = pushd_fcm_message(&f->job, af_now(), &f->body);
	if (rc != PUSHD_OK)
		return rc;
	rc = pushd_fcm_token(ctx, NULL, f->auth, sizeof(f->auth));
	/* The service's credential, not the device's token: try later. */
	if (rc != PUSHD_OK)
		return rc == PUSHD_ERR_NOMEM ? rc : PUSHD_ERR_CREDENTIAL;
	(void)snprintf(url, sizeof(url), "%s/v1/projects/%s/messages:send",
		       ctx->cfg.fcm.endpoint, ctx->fcm.project_id);
	len = snprintf(line, sizeof(line), "authorization: Bearer %s", f->auth);
	if (len < 0 || (size_t)len >= sizeof(line))
		return PUSHD_ERR_TOO_BIG;
	n = curl_slist_append(f->headers, line);
	OPENSSL_cleanse(line, sizeof(line));
	if (n == NULL)
		return PUSHD_ERR_NOMEM;
	f->headers = n;
	n = curl_slist_append(f->headers, "content-type: application/json");
	if (n == NULL)
		return PUSHD_ERR_NOMEM;
	f->headers = n;
	if (curl_easy_setopt(f->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers) !=
		    CURLE_OK ||
	    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, f->body) != CURLE_OK)
		return PUSHD_ERR_HTTP;
	return PUSHD_OK;
}

pushd_verdict pushd_fcm_verdict(pushd_ctx *ctx, pushd_flight *f,
				long http_status)
{
	char status[PUSHD_REASON_MAX], code[PUSHD_REASON_MAX];
	char shown_status[LOG_VALUE_BUF], shown_code[LOG_VALUE_BUF];
	pushd_verdict v;

	pushd_fcm_error(f->resp, f->resp_len, status, sizeof(status), code,
			sizeof(code));
	v = pushd_classify_fcm(http_status, status, code);
	/*
	 * Both are the service's text: quoted when they are not words. One
	 * that fails for good (PERMISSION_DENIED: a service account of
	 * another project; INVALID_ARGUMENT) is most likely the
	 * configuration's, and a warning says which.
	 */
	if (v != PUSHD_V_SENT)
		log_write(ctx->log,
			  v == PUSHD_V_FAILED ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
			  NULL, "fcm_answer", NULL,
			  "job=%s txn=%s status=%ld error=%s code=%s%s",
			  f->job.job, f->job.txn, http_status,
			  log_value(status[0] != '\0' ? status : "-",
				    shown_status, sizeof(shown_status)),
			  log_value(code[0] != '\0' ? code : "-", shown_code,
				    sizeof(shown_code)),
			  strcmp(code, "THIRD_PARTY_AUTH_ERROR") == 0
				  ? ": FCM could not hand the push to APNs or "
				    "web push: upload the APNs authentication "
				    "key (or the web push certificate) to the "
				    "Firebase project; push.fcm's service "
				    "account is not at fault"
				  : "");
	/* Google's code says more than its status, when it has one. */
	snprintf(f->last_reason, sizeof(f->last_reason), "%s",
		 code[0] != '\0' ? code : status);
	return v;
}
