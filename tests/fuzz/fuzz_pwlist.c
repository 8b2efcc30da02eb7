/*
 * Fuzz target: the file of passwords nobody may choose
 * (passwords.blocklist_file), read by af_pwlist_load() at start. The input
 * is the file. Any file loads (no entry count is within reach here), and
 * what it loads keeps the promises of pwlist.h: every line that is a
 * password (1..AF_PW_MAX bytes without a NUL, "\r\n" ending it as "\n"
 * does, not a SHA-1 in hex) is on the list afterwards, and the list holds
 * no more entries than the built-in ones and the file's lines.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "directory/password.h"
#include "directory/pwlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX ((size_t)1024 * 1024)

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* A SHA-1 in hex, optionally with ":COUNT": an entry, not a password. */
static int hash_line(const char *s, size_t len)
{
	size_t i;

	if (len < 40 || (len > 40 && s[40] != ':'))
		return 0;
	for (i = 0; i < 40; i++)
		if (!is_hex(s[i]))
			return 0;
	for (i = 41; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Checks each line of text (size bytes) on l; the number of lines. */
static size_t check_lines(const af_pwlist *l, const char *text, size_t size)
{
	char line[AF_PW_MAX + 1];
	const char *p = text, *end = text + size, *nl;
	size_t len, lines = 0;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)((nl != NULL ? nl : end) - p);
		lines++;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len > 0 && len <= AF_PW_MAX && memchr(p, 0, len) == NULL &&
		    !hash_line(p, len)) {
			memcpy(line, p, len);
			line[len] = '\0';
			if (!af_pwlist_has(l, line))
				abort();
		}
		p = nl != NULL ? nl + 1 : end;
	}
	return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[512] = "";
	af_pwlist *l = NULL, *builtin = NULL;
	size_t lines;
	int fd;

	if (size > INPUT_MAX)
		size = INPUT_MAX;
	fd = memfd_create("pwlist", MFD_CLOEXEC);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (af_pwlist_load(path, &l, err, sizeof(err)) != AF_PWLIST_OK ||
	    af_pwlist_load(NULL, &builtin, NULL, 0) != AF_PWLIST_OK)
		abort();
	lines = check_lines(l, (const char *)data, size);
	if (af_pwlist_count(l) < af_pwlist_count(builtin) ||
	    af_pwlist_count(l) > af_pwlist_count(builtin) + lines)
		abort();
	af_pwlist_free(builtin);
	af_pwlist_free(l);
	close(fd);
	return 0;
}
