/*
 * The list of passwords nobody may choose: see pwlist.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "directory/password.h"
#include "directory/pwlist.h"

#define SHA1_HEX 40

struct af_pwlist {
	uint64_t *v; /* sorted, distinct */
	size_t n, cap;
	size_t skipped, first_skipped; /* lines of the file, see pwlist.h */
	EVP_MD *sha1;
};

/*
 * Passwords of eight characters or more (the least any minimum allows)
 * that lead every published list of common ones, in lower case. Runs
 * and repeats ("12345678", "aaaaaaaa", "abcabcab") are refused by rule
 * in users.c, not listed here.
 */
static const char *const builtin[] = {
	"password",    "password1",   "password12",   "password123",
	"password1!",  "passw0rd",    "p@ssw0rd",     "p@ssword",
	"p@55w0rd",    "pa55word",    "passwort",     "motdepasse",
	"contraseña",  "123456789a",  "12345678a",    "a12345678",
	"1234qwer",    "qwer1234",    "qwerty123",    "qwerty12",
	"qwertyui",    "qwertyuiop",  "qwerty1234",   "1q2w3e4r",
	"1q2w3e4r5t",  "1qaz2wsx",    "zaq12wsx",     "zaq1zaq1",
	"asdf1234",    "asdfghjk",    "asdfghjkl",    "zxcvbnm1",
	"zxcvbnm123",  "iloveyou",    "iloveyou1",    "iloveyou2",
	"sunshine",    "sunshine1",   "princess",     "princess1",
	"football",    "football1",   "baseball",     "basketball",
	"superman",    "starwars",    "whatever",     "trustno1",
	"letmein1",    "letmein123",  "welcome1",     "welcome123",
	"welcome!",    "admin123",    "admin1234",    "administrator",
	"changeme",    "changeme1",   "abc12345",     "abcd1234",
	"aa123456",    "computer",    "internet",     "michelle",
	"jennifer",    "jordan23",    "dragon12",     "monkey12",
	"master12",    "shadow12",    "liverpool",    "chelsea1",
	"mustang1",    "blink182",    "samsung1",     "google123",
	"hello123",    "secret123",   "test1234",     "testing123",
	"1password",   "mypassword",  "newpassword",  "default1",
	"access14",    "freedom1",    "charlie1",     "q1w2e3r4",
	"q1w2e3r4t5",  "1qazxsw2",    "!qaz2wsx",     "!qaz@wsx",
	"qazwsxedc",   "azertyuiop",  "azerty123",    "qwertz123",
	"spring2024",  "summer2024",  "autumn2024",   "winter2024",
	"spring2025",  "summer2025",  "autumn2025",   "winter2025",
	"spring2026",  "summer2026",  "autumn2026",   "winter2026",
	"january2026", "welcome2026", "password2026", "company123",
};

const char *af_pwlist_strerror(af_pwlist_status st)
{
	switch (st) {
	case AF_PWLIST_OK:
		return "ok";
	case AF_PWLIST_ERR_ARG:
		return "bad argument";
	case AF_PWLIST_ERR_IO:
		return "cannot read the file";
	case AF_PWLIST_ERR_TOO_BIG:
		return "too many entries";
	case AF_PWLIST_ERR_NOMEM:
		return "out of memory";
	case AF_PWLIST_ERR_CRYPTO:
		return "SHA-1 is not available";
	}
	return "unknown error";
}

static uint64_t first64(const unsigned char *b)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

static int sha1_64(const af_pwlist *l, const char *s, size_t len, uint64_t *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(s, len, md, &mdlen, l->sha1, NULL) != 1 || mdlen < 8)
		return -1;
	*out = first64(md);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

/* 1 and *out when line is a SHA-1 in hex, with an optional ":COUNT". */
static int hash_line(const char *line, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;
	int h;

	if (len < SHA1_HEX || (len > SHA1_HEX && line[SHA1_HEX] != ':'))
		return 0;
	for (i = 0; i < SHA1_HEX; i++) {
		h = af_hex_value(line[i]);
		if (h < 0)
			return 0;
		if (i < 16)
			v = (v << 4) | (uint64_t)h;
	}
	for (i = SHA1_HEX + 1; i < len; i++)
		if (line[i] < '0' || line[i] > '9')
			return 0;
	*out = v;
	return 1;
}

static af_pwlist_status add(af_pwlist *l, uint64_t v)
{
	uint64_t *n;
	size_t cap;

	if (l->n == l->cap) {
		if (l->cap >= AF_PWLIST_MAX)
			return AF_PWLIST_ERR_TOO_BIG;
		cap = l->cap == 0 ? 256 : l->cap * 2;
		if (cap > AF_PWLIST_MAX)
			cap = AF_PWLIST_MAX;
		n = realloc(l->v, cap * sizeof(*n));
		if (n == NULL)
			return AF_PWLIST_ERR_NOMEM;
		l->v = n;
		l->cap = cap;
	}
	l->v[l->n++] = v;
	return AF_PWLIST_OK;
}

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Sorts the entries, drops repeats and gives back the room left over. */
static void settle(af_pwlist *l)
{
	size_t i, k = 0;
	uint64_t *n;

	qsort(l->v, l->n, sizeof(*l->v), cmp64);
	for (i = 0; i < l->n; i++)
		if (k == 0 || l->v[i] != l->v[k - 1])
			l->v[k++] = l->v[i];
	l->n = k;
	n = k > 0 ? realloc(l->v, k * sizeof(*n)) : NULL;
	if (n != NULL) {
		l->v = n;
		l->cap = k;
	}
}

/*
 * The next line of fp into buf (cap bytes, NUL-terminated, without its
 * "\n"), its length into *len: 1, or 0 at the end of the file. A line
 * that does not fit, or that holds a NUL (no password does), is read to
 * its end and its length given as cap, so that it is skipped whole.
 */
static int next_line(FILE *fp, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	int c, bad = 0, any = 0;

	while ((c = getc_unlocked(fp)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (c == '\0' || n + 1 >= cap)
			bad = 1;
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	*len = bad ? cap : n;
	return any;
}

/* Reads the file's lines into l. */
static af_pwlist_status read_file(af_pwlist *l, FILE *fp, const char *path,
				  char *err, size_t errlen)
{
	char buf[AF_PW_MAX + 2];
	af_pwlist_status st = AF_PWLIST_OK;
	size_t len, lineno = 0;
	uint64_t v;

	while (next_line(fp, buf, sizeof(buf), &len)) {
		lineno++;
		if (len <= AF_PW_MAX + 1 && len > 0 && buf[len - 1] == '\r')
			buf[--len] = '\0';
		if (len == 0)
			continue;
		if (len > AF_PW_MAX) {
			if (l->skipped++ == 0)
				l->first_skipped = lineno;
			continue;
		}
		if (!hash_line(buf, len, &v) && sha1_64(l, buf, len, &v) != 0) {
			st = AF_PWLIST_ERR_CRYPTO;
			break;
		}
		st = add(l, v);
		if (st != AF_PWLIST_OK)
			break;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (st == AF_PWLIST_OK && ferror(fp))
		st = AF_PWLIST_ERR_IO;
	if (st == AF_PWLIST_ERR_TOO_BIG)
		af_dir__err(err, errlen, "%s: more than %zu entries (line %zu)",
			    path, AF_PWLIST_MAX, lineno);
	else if (st != AF_PWLIST_OK)
		af_dir__err(err, errlen, "%s: %s", path,
			    af_pwlist_strerror(st));
	return st;
}

static af_pwlist_status load_file(af_pwlist *l, const char *path, char *err,
				  size_t errlen)
{
	struct stat sb;
	char why[128];
	af_pwlist_status st;
	FILE *fp;

	fp = fopen(path, "re");
	if (fp == NULL) {
		af_errno_text(errno, why, sizeof(why));
		af_dir__err(err, errlen, "%s: %s", path, why);
		return AF_PWLIST_ERR_IO;
	}
	if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		(void)fclose(fp);
		af_dir__err(err, errlen, "%s: not a regular file", path);
		return AF_PWLIST_ERR_IO;
	}
	st = read_file(l, fp, path, err, errlen);
	(void)fclose(fp);
	return st;
}

af_pwlist_status af_pwlist_load(const char *path, af_pwlist **out, char *err,
				size_t errlen)
{
	af_pwlist *l;
	af_pwlist_status st = AF_PWLIST_OK;
	uint64_t v;
	size_t i;

	if (out == NULL)
		return AF_PWLIST_ERR_ARG;
	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		af_dir__err(err, errlen, "%s",
			    af_pwlist_strerror(AF_PWLIST_ERR_NOMEM));
		return AF_PWLIST_ERR_NOMEM;
	}
	l->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	if (l->sha1 == NULL)
		st = AF_PWLIST_ERR_CRYPTO;
	for (i = 0;
	     st == AF_PWLIST_OK && i < sizeof(builtin) / sizeof(*builtin);
	     i++) {
		st = sha1_64(l, builtin[i], strlen(builtin[i]), &v) == 0
			     ? add(l, v)
			     : AF_PWLIST_ERR_CRYPTO;
	}
	if (st != AF_PWLIST_OK)
		af_dir__err(err, errlen, "%s", af_pwlist_strerror(st));
	else if (path != NULL)
		st = load_file(l, path, err, errlen);
	if (st != AF_PWLIST_OK) {
		af_pwlist_free(l);
		return st;
	}
	settle(l);
	*out = l;
	return AF_PWLIST_OK;
}

static int listed(const af_pwlist *l, const char *s, size_t len)
{
	uint64_t v;
	size_t lo = 0, hi = l->n, mid;

	if (sha1_64(l, s, len, &v) != 0)
		return 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (l->v[mid] == v)
			return 1;
		if (l->v[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int af_pwlist_has(const af_pwlist *list, const char *password)
{
	char lower[AF_PW_MAX + 1];
	size_t len, i;
	int hit, folded = 0;

	if (list == NULL || password == NULL)
		return 0;
	len = strnlen(password, AF_PW_MAX + 1);
	if (len > AF_PW_MAX)
		return 0;
	hit = listed(list, password, len);
	for (i = 0; !hit && i < len; i++) {
		lower[i] = password[i];
		if (lower[i] >= 'A' && lower[i] <= 'Z') {
			lower[i] = (char)(lower[i] - 'A' + 'a');
			folded = 1;
		}
	}
	if (!hit && folded)
		hit = listed(list, lower, len);
	OPENSSL_cleanse(lower, sizeof(lower));
	return hit;
}

size_t af_pwlist_skipped(const af_pwlist *list, size_t *first_line)
{
	if (first_line != NULL)
		*first_line = list != NULL ? list->first_skipped : 0;
	return list != NULL ? list->skipped : 0;
}

size_t af_pwlist_count(const af_pwlist *list)
{
	return list != NULL ? list->n : 0;
}

void af_pwlist_free(af_pwlist *list)
{
	if (list == NULL)
		return;
	free(list->v);
	EVP_MD_free(list->sha1);
	free(list);
}
