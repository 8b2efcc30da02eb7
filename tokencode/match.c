/*
 * Number-matching codes. The login page shows the number and the user types
 * it on the phone, so a guess succeeds with probability 1/90 for two
 * digits; that only holds if every number is equally likely. Values are
 * drawn from RAND_bytes and those that would bias the reduction are thrown
 * away (rejection sampling) instead of being folded in with a modulo.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "tokencode.h"

tc_status tc_match_code(unsigned digits, uint32_t *out)
{
	uint32_t low, span, limit, r = 0;
	unsigned i;

	if (out == NULL || digits < 1 || digits > 9)
		return TC_ERR_ARG;

	/* One digit keeps 0..9; more digits take low = 10^(d-1). */
	low = 1;
	for (i = 1; i < digits; i++)
		low *= 10;
	if (digits == 1)
		low = 0;
	span = (digits == 1 ? 10u : low * 10u) - low;
	/* The largest multiple of span that fits below 2^32. */
	limit = UINT32_MAX - (uint32_t)(((uint64_t)UINT32_MAX + 1) % span);

	do {
		if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
			return TC_ERR_RANDOM;
	} while (r > limit);
	*out = low + r % span;
	OPENSSL_cleanse(&r, sizeof(r));
	return TC_OK;
}
