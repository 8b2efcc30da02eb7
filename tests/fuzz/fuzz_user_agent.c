/*
 * Fuzz target: User-Agent headers told in a few words. Whatever comes in,
 * what comes out is empty on refusal, else fits, and holds only letters
 * and spaces (the fixed names), never a byte copied from the header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[HP_USER_AGENT_DESC_MAX], *ua;
	hp_status st;
	size_t i, n;

	ua = malloc(size + 1);
	if (ua == NULL)
		return 0;
	memcpy(ua, data, size);
	ua[size] = '\0';
	st = hp_user_agent_describe(ua, out, sizeof(out));
	n = strlen(out);
	if (st != HP_OK && n != 0)
		abort();
	if (st == HP_OK && (n == 0 || n >= sizeof(out)))
		abort();
	for (i = 0; i < n; i++) {
		if (!((out[i] >= 'A' && out[i] <= 'Z') ||
		      (out[i] >= 'a' && out[i] <= 'z') || out[i] == ' '))
			abort();
	}
	free(ua);
	return 0;
}
