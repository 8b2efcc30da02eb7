/*
 * Query strings and form bodies (application/x-www-form-urlencoded) into
 * a small array of name/value copies. At most HP_PARAMS_MAX entries, so a
 * linear lookup is as fast as a hash and has no worst case to attack.
 * The first PARAMS_INLINE entries live inside the af_params itself, which
 * stays small enough for the allocator's per-thread caches; the rare
 * request with more moves them to an array that grows up to the cap.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/httpparse.h"

struct param {
	char *name;   /* start of one allocation holding name and value */
	char *value;  /* inside the same allocation, after name's NUL */
	size_t nlen;  /* bytes of name, for a quick length check on lookup */
	size_t size;  /* bytes allocated, so the wipe covers all of them */
	int repeated; /* the name came again, with a value that was dropped */
};

#define PARAMS_INLINE 12

struct af_params {
	size_t count;
	size_t cap;
	struct param *item; /* inline, or a heap array of cap entries */
	struct param inline_item[PARAMS_INLINE];
};

af_params *hp_params_new(void)
{
	af_params *p = calloc(1, sizeof(af_params));

	if (p == NULL)
		return NULL;
	p->cap = PARAMS_INLINE;
	p->item = p->inline_item;
	return p;
}

/* Frees the heap array of entries, once the inline one is outgrown. */
static void items_free(af_params *p)
{
	if (p->item != p->inline_item)
		OPENSSL_clear_free(p->item, p->cap * sizeof(p->item[0]));
}

void hp_params_free(af_params *p)
{
	size_t i;

	if (p == NULL)
		return;
	/* Values may be passwords or client secrets: wipe, then free. */
	for (i = 0; i < p->count; i++)
		OPENSSL_clear_free(p->item[i].name, p->item[i].size);
	items_free(p);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}

static struct param *find(const af_params *p, const char *name, size_t nlen)
{
	size_t i;

	for (i = 0; i < p->count; i++) {
		if (p->item[i].nlen == nlen &&
		    memcmp(p->item[i].name, name, nlen) == 0)
			return &p->item[i];
	}
	return NULL;
}

/*
 * Names select what the server does, so they hold no control characters
 * (tab, CR and LF included); values are left for the caller to judge.
 */
static int name_ok(const char *name, size_t nlen)
{
	size_t i;

	if (nlen == 0)
		return 0;
	for (i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

/* Makes room for one more entry: HP_ERR_TOO_MANY at the cap. */
static hp_status reserve_one(af_params *p)
{
	struct param *bigger;
	size_t cap;

	if (p->count < p->cap)
		return HP_OK;
	if (p->cap >= HP_PARAMS_MAX)
		return HP_ERR_TOO_MANY;
	cap = p->cap * 2 < HP_PARAMS_MAX ? p->cap * 2 : HP_PARAMS_MAX;
	bigger = calloc(cap, sizeof(*bigger));
	if (bigger == NULL)
		return HP_ERR_NOMEM;
	memcpy(bigger, p->item, p->count * sizeof(*bigger));
	items_free(p);
	p->item = bigger;
	p->cap = cap;
	return HP_OK;
}

/*
 * Copies (decode == 0) or form-decodes (decode == 1) one name and value
 * into a new entry. Lengths are at most HP_INPUT_MAX, so the sum cannot
 * overflow.
 */
static hp_status add_entry(af_params *p, const char *name, size_t nlen,
			   const char *value, size_t vlen, int decode)
{
	size_t size = nlen + vlen + 2, dn = nlen, dv = vlen;
	struct param *e;
	hp_status st = HP_OK;
	char *buf;

	st = reserve_one(p);
	if (st != HP_OK)
		return st;
	buf = malloc(size);
	if (buf == NULL)
		return HP_ERR_NOMEM;
	if (decode) {
		st = hp_form_decode(name, nlen, buf, nlen + 1, &dn);
		if (st == HP_OK)
			st = hp_form_decode(value, vlen, buf + dn + 1,
					    size - dn - 1, &dv);
		if (st != HP_OK)
			goto out;
	} else {
		memcpy(buf, name, nlen);
		buf[nlen] = '\0';
		memcpy(buf + nlen + 1, value, vlen);
		buf[nlen + 1 + vlen] = '\0';
	}
	if (!name_ok(buf, dn)) {
		st = decode ? HP_ERR_SYNTAX : HP_ERR_ARG;
		goto out;
	}
	e = find(p, buf, dn);
	if (e != NULL) {
		e->repeated = 1;
		st = HP_ERR_DUPLICATE;
		goto out;
	}
	e = &p->item[p->count++];
	e->name = buf;
	e->value = buf + dn + 1;
	e->nlen = dn;
	e->size = size;
	buf = NULL;
out:
	if (buf != NULL)
		OPENSSL_clear_free(buf, size);
	return st;
}

hp_status hp_params_add(af_params *p, const char *name, const char *value)
{
	size_t nlen, vlen;

	if (p == NULL || name == NULL || value == NULL)
		return HP_ERR_ARG;
	nlen = strnlen(name, HP_INPUT_MAX + 1);
	vlen = strnlen(value, HP_INPUT_MAX + 1);
	if (nlen > HP_INPUT_MAX || vlen > HP_INPUT_MAX)
		return HP_ERR_TOO_BIG;
	return add_entry(p, name, nlen, value, vlen, 0);
}

/* Adds the piece text[0..len), "name=value" or "name", non-empty. */
static hp_status add_piece(af_params *p, const char *text, size_t len)
{
	const char *eq = memchr(text, '=', len);
	size_t nlen = eq != NULL ? (size_t)(eq - text) : len;

	if (nlen == 0)
		return HP_ERR_SYNTAX;
	if (eq == NULL)
		return add_entry(p, text, len, "", 0, 1);
	return add_entry(p, text, nlen, eq + 1, len - nlen - 1, 1);
}

hp_status hp_params_parse(const char *text, size_t len, af_params **out)
{
	af_params *p = NULL;
	hp_status st = HP_OK, piece;
	size_t start = 0, stop, pieces = 0;
	const char *amp;

	if (out == NULL)
		return HP_ERR_ARG;
	*out = NULL;
	if (text == NULL && len > 0)
		return HP_ERR_ARG;
	if (len > HP_INPUT_MAX)
		return HP_ERR_TOO_BIG;
	p = hp_params_new();
	if (p == NULL)
		return HP_ERR_NOMEM;
	while (start < len) {
		amp = memchr(text + start, '&', len - start);
		stop = amp != NULL ? (size_t)(amp - text) : len;
		/* "a=1&&b=2" and a trailing '&' leave empty pieces: skip. */
		if (stop > start) {
			/* A name given again counts again: its value is read.
			 */
			if (++pieces > HP_PARAMS_MAX) {
				st = HP_ERR_TOO_MANY;
				goto out;
			}
			piece = add_piece(p, text + start, stop - start);
			if (piece == HP_ERR_DUPLICATE)
				st = HP_ERR_DUPLICATE;
			else if (piece != HP_OK) {
				st = piece;
				goto out;
			}
		}
		start = stop + 1;
	}
	*out = p;
	p = NULL;
out:
	hp_params_free(p);
	return st;
}

/* The entry of a NUL-terminated name, or NULL (also for NULL arguments). */
static const struct param *lookup(const af_params *p, const char *name)
{
	size_t nlen;

	if (p == NULL || name == NULL)
		return NULL;
	nlen = strnlen(name, HP_INPUT_MAX + 1);
	return nlen <= HP_INPUT_MAX ? find(p, name, nlen) : NULL;
}

const char *hp_params_get(const af_params *p, const char *name)
{
	const struct param *e = lookup(p, name);

	return e != NULL ? e->value : NULL;
}

int hp_params_repeated(const af_params *p, const char *name)
{
	const struct param *e = lookup(p, name);

	return e != NULL && e->repeated;
}

size_t hp_params_count(const af_params *p)
{
	return p != NULL ? p->count : 0;
}

void hp_params_at(const af_params *p, size_t i, const char **name,
		  const char **value)
{
	int in = p != NULL && i < p->count;

	if (name != NULL)
		*name = in ? p->item[i].name : NULL;
	if (value != NULL)
		*value = in ? p->item[i].value : NULL;
}
