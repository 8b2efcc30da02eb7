/*
 * Fuzz target: Cookie header lookup. The first input byte picks how many
 * of the following bytes name the cookie, the second the output size; the
 * rest is the header. A value found must be made of cookie-octets, fit
 * its buffer, appear in the header, and be found alike with a big buffer.
 * Every name hp_cookie_next() lists lies within the header, in order, and
 * is one hp_cookie_get() finds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const char *header, const char *value)
{
	size_t i;

	for (i = 0; value[i] != '\0'; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' ||
		    c == '\\')
			abort();
	}
	if (strstr(header, value) == NULL)
		abort();
}

static void lookup(const char *header, const char *name, size_t smallcap)
{
	static char big[HP_COOKIE_HEADER_MAX + 1];
	char small[256];
	hp_status sb, ss;

	sb = hp_cookie_get(header, name, big, sizeof(big));
	ss = hp_cookie_get(header, name, small, smallcap);
	if (strlen(header) > HP_COOKIE_HEADER_MAX &&
	    (sb != HP_ERR_TOO_BIG || ss != HP_ERR_TOO_BIG))
		abort();
	if (sb != HP_OK) {
		if (ss != sb || big[0] != '\0' || small[0] != '\0')
			abort();
		return;
	}
	check_value(header, big);
	if (strlen(big) < smallcap) {
		if (ss != HP_OK || strcmp(big, small) != 0)
			abort();
	} else if (ss != HP_ERR_TOO_BIG || small[0] != '\0') {
		abort();
	}
}

static void names(const char *header)
{
	static char value[HP_COOKIE_HEADER_MAX + 1];
	const char *name, *last = header;
	char copy[HP_COOKIE_HEADER_MAX + 1];
	size_t pos = 0, nlen;
	hp_status st;

	while ((st = hp_cookie_next(header, &pos, &name, &nlen)) == HP_OK) {
		if (nlen == 0 || name < last ||
		    name + nlen > header + strlen(header))
			abort();
		last = name + nlen;
		memcpy(copy, name, nlen);
		copy[nlen] = '\0';
		if (hp_cookie_get(header, copy, value, sizeof(value)) != HP_OK)
			abort();
	}
	if (st == HP_ERR_TOO_BIG && strlen(header) <= HP_COOKIE_HEADER_MAX)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[16], *header;
	size_t nlen, smallcap;

	if (size < 2)
		return 0;
	nlen = data[0] % sizeof(name);
	smallcap = (size_t)data[1] % 255 + 1;
	data += 2;
	size -= 2;
	if (nlen > size)
		nlen = size;
	memcpy(name, data, nlen);
	name[nlen] = '\0';
	header = malloc(size - nlen + 1);
	if (header == NULL)
		return 0;
	memcpy(header, data + nlen, size - nlen);
	header[size - nlen] = '\0';
	if (name[0] != '\0')
		lookup(header, name, smallcap);
	lookup(header, "sid", smallcap);
	names(header);
	free(header);
	return 0;
}
