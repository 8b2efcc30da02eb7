/*
 * Fuzz target: the redis store's url (store.url), with its percent-encoded
 * user name and password, over arbitrary bytes. Opening a redis store only
 * parses the url (each thread connects on its first call), so nothing here
 * touches the network. It must accept or refuse without crashing, leaking
 * or reading past the input, answer the same way twice, and on refusal
 * leave a one-line message that never repeats the url, which may hold a
 * password.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longer than any url the store takes, so that the cap is reached too. */
#define URL_CAP 1100

static store_status open_once(const char *url, char *err, size_t errlen)
{
	store_options o = {.backend = STORE_BACKEND_REDIS, .url = url};
	store_ctx *st = NULL;
	store_status rc = store_open(&o, &st, err, errlen);

	if ((rc == STORE_OK) != (st != NULL))
		abort();
	store_close(st);
	return rc;
}

/* g..z to h..z then g, likewise upper case; any other byte unchanged. */
static char rotate(char c)
{
	if (c >= 'g' && c <= 'z')
		return (char)(c == 'z' ? 'g' : c + 1);
	if (c >= 'G' && c <= 'Z')
		return (char)(c == 'Z' ? 'G' : c + 1);
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char url[URL_CAP + 1], err[256], err2[256];
	char *tail, *p;
	store_status a, b;

	if (size > URL_CAP)
		size = URL_CAP;
	memcpy(url, data, size);
	url[size] = '\0';
	memset(err, 'x', sizeof(err));
	a = open_once(url, err, sizeof(err));
	b = open_once(url, err2, sizeof(err2));
	if (a != b)
		abort();
	if (a == STORE_OK)
		return 0;
	if (a != STORE_ERR_CONFIG || memchr(err, '\0', sizeof(err)) == NULL ||
	    err[0] == '\0' || strchr(err, '\n') != NULL ||
	    strcmp(err, err2) != 0)
		abort();
	/*
	 * The message does not depend on what follows "://": with the letters
	 * g..z there changed (they stay letters that are not hex digits, so
	 * the url stays as valid or invalid as it was), it is the same.
	 */
	tail = strstr(url, "://");
	if (tail == NULL)
		return 0;
	for (p = tail + 3; *p != '\0'; p++)
		*p = rotate(*p);
	if (open_once(url, err2, sizeof(err2)) != a || strcmp(err, err2) != 0)
		abort();
	return 0;
}
