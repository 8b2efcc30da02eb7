/*
 * Fuzz target: X-Forwarded-For headers passed on by a trusted proxy.
 * Whatever comes in, out is empty on refusal; on success it is an address
 * (it parses back as one), in none of the trusted networks, and it names
 * an entry the header holds, never one of the proxies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/httpparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const proxies[] = {"10.0.0.0/8", "127.0.0.1/32", "fd00::/8",
				      "::1/128"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	af_ipnet nets[sizeof(proxies) / sizeof(proxies[0])], back;
	char out[HP_XFF_HOP_MAX], small[8], *xff;
	size_t i, n = sizeof(nets) / sizeof(nets[0]);
	hp_status st;

	for (i = 0; i < n; i++) {
		if (af_ipnet_parse(proxies[i], &nets[i]) != 0)
			abort();
	}
	xff = malloc(size + 1);
	if (xff == NULL)
		return 0;
	memcpy(xff, data, size);
	xff[size] = '\0';
	st = hp_xff_client(xff, nets, n, out, sizeof(out));
	if (st != HP_OK && out[0] != '\0')
		abort();
	if (st == HP_OK &&
	    (strlen(out) >= sizeof(out) || af_ipnet_parse(out, &back) != 0 ||
	     back.bits != (back.family == AF_INET ? 32u : 128u) ||
	     af_ipnet_match(nets, n, out)))
		abort();
	/* The same with a small out: refused or fitting, never over it. */
	st = hp_xff_client(xff, nets, n, small, sizeof(small));
	if (strlen(small) >= sizeof(small) || (st != HP_OK && small[0] != '\0'))
		abort();
	free(xff);
	return 0;
}
