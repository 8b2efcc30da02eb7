/*
 * Fuzz target: base32 decoding of untrusted text (secrets typed by people or
 * read from QR codes), checked by a round trip through the encoder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokencode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[TC_SECRET_MAX], again[TC_SECRET_MAX];
	char text[TC_BASE32_MAX + 1];
	size_t n = 0, m = 0;

	if (tc_base32_decode((const char *)data, size, out, sizeof(out), &n) !=
	    TC_OK)
		return 0;
	if (tc_base32_encode(out, n, text, sizeof(text)) != TC_OK)
		abort();
	if (tc_base32_decode(text, strlen(text), again, sizeof(again), &m) !=
		    TC_OK ||
	    m != n || memcmp(out, again, n) != 0)
		abort();
	return 0;
}
