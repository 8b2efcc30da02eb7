/* Admin bearer tokens: the token's SHA-256 against the configured ones. */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/admin.h"
#include "common/httpparse.h"
#include "common/util.h"

af_admin_status af_admin_auth(const af_config *cfg, pthread_rwlock_t *lock,
			      const af_req *req, af_admin_caller *out,
			      const char **why)
{
	const char *header;
	char token[HP_AUTH_HEADER_MAX + 1];
	uint8_t digest[32];
	size_t i, found = SIZE_MAX, n;
	af_admin_status rc = AF_ADMIN_UNAUTHORIZED;

	if (why != NULL)
		*why = NULL;
	if (cfg == NULL || req == NULL || out == NULL)
		return AF_ADMIN_UNAUTHORIZED;
	memset(out, 0, sizeof(*out));
	/*
	 * We read the first Authorization header; a proxy or log in front
	 * may read the last. With two, which token acted would depend on who
	 * is asked, so the request is refused like a malformed header.
	 */
	if (af_req_header_count(req, "Authorization") > 1) {
		if (why != NULL)
			*why = "more than one Authorization header: send one";
		return AF_ADMIN_UNAUTHORIZED;
	}
	header = af_req_header(req, "Authorization");
	if (header == NULL)
		return AF_ADMIN_UNAUTHORIZED;
	if (hp_auth_bearer(header, token, sizeof(token)) != HP_OK)
		goto out;
	af_sha256(token, strlen(token), digest);
	if (lock != NULL)
		pthread_rwlock_rdlock(lock);
	/*
	 * Every configured token is compared, whether or not one matched
	 * already, so the time taken says nothing about which one did.
	 */
	n = cfg->admin_token_count;
	if (n > AF_CONFIG_ADMIN_TOKENS_MAX)
		n = AF_CONFIG_ADMIN_TOKENS_MAX;
	for (i = 0; i < n; i++) {
		if (af_ct_equal(digest, sizeof(digest),
				cfg->admin_tokens[i].sha256,
				sizeof(cfg->admin_tokens[i].sha256)) &&
		    found == SIZE_MAX)
			found = i;
	}
	n = found != SIZE_MAX ? strnlen(cfg->admin_tokens[found].name,
					sizeof(cfg->admin_tokens[found].name))
			      : 0;
	/* A token without a name could not be told apart in the audit. */
	if (n > 0 && n < sizeof(out->name)) {
		memcpy(out->name, cfg->admin_tokens[found].name, n);
		out->name[n] = '\0';
		out->role = cfg->admin_tokens[found].role;
		rc = AF_ADMIN_OK;
	}
	if (lock != NULL)
		pthread_rwlock_unlock(lock);
out:
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(digest, sizeof(digest));
	return rc;
}
