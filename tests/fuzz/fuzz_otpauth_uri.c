/*
 * Fuzz target: otpauth:// URI parsing. Whatever parses must build back into
 * a URI that parses to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokencode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char built[TC_URI_BUILD_MAX];
	tc_uri a, b;
	size_t n = 0;

	if (tc_uri_parse((const char *)data, size, &a) != TC_OK)
		return 0;
	/* A label without an issuer has nothing to put before the colon. */
	if (a.issuer[0] == '\0' || strchr(a.issuer, ':') != NULL) {
		tc_uri_cleanup(&a);
		return 0;
	}
	if (tc_uri_build(&a, built, sizeof(built), &n) != TC_OK)
		abort();
	/* Percent-encoding can grow a label past what the parser reads. */
	if (n > TC_URI_MAX) {
		tc_uri_cleanup(&a);
		return 0;
	}
	if (tc_uri_parse(built, n, &b) != TC_OK)
		abort();
	if (strcmp(a.issuer, b.issuer) != 0 ||
	    strcmp(a.account, b.account) != 0 || a.secret_len != b.secret_len ||
	    memcmp(a.secret, b.secret, a.secret_len) != 0 || a.algo != b.algo ||
	    a.params.digits != b.params.digits ||
	    a.params.step != b.params.step)
		abort();
	tc_uri_cleanup(&a);
	tc_uri_cleanup(&b);
	return 0;
}
