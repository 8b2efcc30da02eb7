/*
 * Fuzz target: redirect URI shape check. Whatever is accepted must start
 * with "https://" or "http://", hold no backslash, whitespace, control,
 * non-ASCII byte or fragment, carry no userinfo or escape in its
 * authority, and with http name a loopback host.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httpparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int loopback_host(const char *host, size_t n)
{
	if (n == 9 && strncasecmp(host, "localhost", 9) == 0)
		return 1;
	/* A dotted quad in 127.0.0.0/8, not a name that starts alike. */
	if (n > 4 && strncmp(host, "127.", 4) == 0)
		return strspn(host, "0123456789.") >= n;
	return n > 0 && host[0] == '[';
}

static void check_accepted(const char *uri)
{
	size_t len = strlen(uri), i, start, alen, hlen;
	const char *auth, *colon;

	if (len == 0 || len > HP_URI_MAX || strncmp(uri, "//", 2) == 0)
		abort();
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '#')
			abort();
	}
	if (strncasecmp(uri, "https://", 8) == 0)
		start = 8;
	else if (strncasecmp(uri, "http://", 7) == 0)
		start = 7;
	else
		abort();
	auth = uri + start;
	alen = strcspn(auth, "/?");
	if (alen == 0 || memchr(auth, '@', alen) != NULL ||
	    memchr(auth, '%', alen) != NULL)
		abort();
	if (start == 7) {
		colon = auth[0] == '[' ? NULL : memchr(auth, ':', alen);
		hlen = colon != NULL ? (size_t)(colon - auth) : alen;
		if (!loopback_host(auth, hlen))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *uri = malloc(size + 1);

	if (uri == NULL)
		return 0;
	memcpy(uri, data, size);
	uri[size] = '\0';
	if (hp_redirect_uri_check(uri) == HP_OK)
		check_accepted(uri);
	free(uri);
	return 0;
}
