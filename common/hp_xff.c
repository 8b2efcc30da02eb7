/*
 * The client's address behind reverse proxies, from X-Forwarded-For.
 * Each proxy appends the address it saw, so the header is read from the
 * right: entries that are trusted proxies are skipped, and the first one
 * that is not is the client. Whatever came before it is the client's own
 * text and is never believed.
 */
#include <arpa/inet.h>
#include <string.h>

#include "common/httpparse.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

hp_status hp_xff_client(const char *xff, const af_ipnet *trusted,
			size_t ntrusted, char *out, size_t outcap)
{
	char hop[HP_XFF_HOP_MAX];
	const char *end, *start, *comma;
	af_ipnet net;
	size_t n;

	if (out == NULL || outcap == 0)
		return HP_ERR_ARG;
	out[0] = '\0';
	if (xff == NULL || (trusted == NULL && ntrusted > 0))
		return HP_ERR_ARG;
	end = xff + strnlen(xff, HP_XFF_SCAN + 1);
	if (end - xff > HP_XFF_SCAN)
		return HP_ERR_TOO_BIG;
	for (;;) {
		/* The entry before end, without the blanks around it. */
		comma = end;
		while (comma > xff && comma[-1] != ',')
			comma--;
		start = comma;
		while (start < end && is_blank(*start))
			start++;
		n = (size_t)(end - start);
		while (n > 0 && is_blank(start[n - 1]))
			n--;
		if (n == 0 || n >= sizeof(hop))
			return HP_ERR_SYNTAX;
		memcpy(hop, start, n);
		hop[n] = '\0';
		/* An address, not a network. */
		if (strchr(hop, '/') != NULL || af_ipnet_parse(hop, &net) != 0)
			return HP_ERR_SYNTAX;
		if (!af_ipnet_match(trusted, ntrusted, hop)) {
			/* The nearest hop that is no proxy of ours, as text
			 * of our own making. */
			if (inet_ntop(net.family, net.addr, hop,
				      (socklen_t)sizeof(hop)) == NULL)
				return HP_ERR_SYNTAX;
			if (strlen(hop) >= outcap)
				return HP_ERR_TOO_BIG;
			memcpy(out, hop, strlen(hop) + 1);
			return HP_OK;
		}
		/* Nothing but proxies. */
		if (comma == xff)
			return HP_ERR_SYNTAX;
		end = comma - 1;
	}
}
