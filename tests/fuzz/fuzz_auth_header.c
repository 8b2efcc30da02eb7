/*
 * Fuzz target: Authorization headers. Basic credentials that parse must
 * be non-empty, fit, and parse back the same after re-encoding; Bearer
 * tokens must be b64token text that ends the header. A refusal must
 * leave every output buffer wiped.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/httpparse.h"

#define CAP 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int wiped(const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf[i] != '\0')
			return 0;
	}
	return 1;
}

/* Encodes user and pass again and checks they read back the same. */
static void check_basic_round_trip(const char *user, const char *pass)
{
	static char pair[3 * 2 * CAP + 2], header[HP_AUTH_HEADER_MAX * 2];
	char u2[CAP], p2[CAP], *eq;
	size_t plen;

	pair[0] = '\0';
	if (hp_query_append(pair, sizeof(pair), user, pass) != HP_OK)
		abort();
	/* Both sides are encoded, so the only '=' is the separator. */
	eq = strchr(pair, '=');
	if (eq == NULL || strchr(eq + 1, '=') != NULL)
		abort();
	*eq = ':';
	plen = strlen(pair);
	if (6 + (plen + 2) / 3 * 4 > HP_AUTH_HEADER_MAX)
		return;
	/* The NUL copied here is overwritten by the base64 and its NUL. */
	memcpy(header, "Basic ", 7);
	EVP_EncodeBlock((unsigned char *)header + 6, (unsigned char *)pair,
			(int)plen);
	if (hp_auth_basic(header, u2, sizeof(u2), p2, sizeof(p2)) != HP_OK ||
	    strcmp(user, u2) != 0 || strcmp(pass, p2) != 0)
		abort();
}

static void check_basic(const char *header, size_t ucap)
{
	char user[CAP], pass[CAP];

	memset(user, 'u', sizeof(user));
	memset(pass, 'p', sizeof(pass));
	if (hp_auth_basic(header, user, ucap, pass, sizeof(pass)) != HP_OK) {
		if (!wiped(user, ucap) || !wiped(pass, sizeof(pass)))
			abort();
		return;
	}
	if (strlen(header) > HP_AUTH_HEADER_MAX || user[0] == '\0' ||
	    strlen(user) >= ucap)
		abort();
	check_basic_round_trip(user, pass);
}

static void check_bearer(const char *header, size_t cap)
{
	char out[CAP];
	size_t n, hlen = strlen(header), i;

	memset(out, 't', sizeof(out));
	if (hp_auth_bearer(header, out, cap) != HP_OK) {
		if (!wiped(out, cap))
			abort();
		return;
	}
	n = strlen(out);
	if (n == 0 || n >= cap || n > hlen || hlen > HP_AUTH_HEADER_MAX ||
	    strcmp(header + hlen - n, out) != 0 || out[0] == '=')
		abort();
	for (i = 0; i < n; i++) {
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789-._~+/=",
			   out[i]) == NULL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap;
	char *header;

	if (size < 1)
		return 0;
	cap = (size_t)data[0] % CAP + 1;
	header = malloc(size);
	if (header == NULL)
		return 0;
	memcpy(header, data + 1, size - 1);
	header[size - 1] = '\0';
	check_basic(header, cap);
	check_basic(header, CAP);
	check_bearer(header, cap);
	check_bearer(header, CAP);
	free(header);
	return 0;
}
