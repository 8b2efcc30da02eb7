/*
 * Fuzz target: the configuration parser over arbitrary bytes. It must
 * refuse or accept without crashing, leaking or reading past the input,
 * always leave a NUL-terminated one-line message on refusal, and give the
 * same answer when run twice (the parser keeps no state between calls).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Two parses of one text agree, and what was accepted is sane. */
static int same(const af_config *a, const af_config *b)
{
	size_t i;

	if (a->issuer[0] == '\0' || a->listen_port == 0 ||
	    a->admin_token_count > AF_CONFIG_ADMIN_TOKENS_MAX ||
	    a->session_timeout_s > 4u * 86400u ||
	    a->argon2_m_kib < 8 * a->argon2_p ||
	    a->key_alert_days >= a->key_lifetime_days)
		return 0;
	if (strcmp(a->issuer, b->issuer) != 0 ||
	    strcmp(a->store_prefix, b->store_prefix) != 0 ||
	    strcmp(a->tls_key_file, b->tls_key_file) != 0 ||
	    a->listen_port != b->listen_port ||
	    a->admin_token_count != b->admin_token_count)
		return 0;
	for (i = 0; i < a->admin_token_count; i++) {
		if (strcmp(a->admin_tokens[i].name, b->admin_tokens[i].name) !=
			    0 ||
		    memcmp(a->admin_tokens[i].sha256, b->admin_tokens[i].sha256,
			   sizeof(a->admin_tokens[i].sha256)) != 0)
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	af_config *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char err[256], err2[256];
	int rc, rc2;

	if (a == NULL || b == NULL)
		goto out;
	memset(err, 'x', sizeof(err));
	rc = af_config_parse((const char *)data, size, a, err, sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (rc != 0 && (err[0] == '\0' || strchr(err, '\n') != NULL))
		abort();
	rc2 = af_config_parse((const char *)data, size, b, err2, sizeof(err2));
	if (rc2 != rc)
		abort();
	if (rc == 0 && !same(a, b))
		abort();
	/* A small error buffer must be cut short, never overrun. */
	(void)af_config_parse((const char *)data, size, b, err2, 8);
out:
	free(a);
	free(b);
	return 0;
}
