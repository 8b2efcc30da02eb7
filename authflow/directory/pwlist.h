/*
 * The passwords nobody may choose (NIST SP 800-63B, 5.1.1.2): those that
 * are commonly used or known from breaches. A list is a short built-in
 * one, plus, when the configuration names one (passwords.blocklist_file),
 * a file of one entry per line:
 *
 *   - a password, as it is typed (a list of common passwords), or
 *   - the SHA-1 of one as 40 hex digits, optionally followed by ":COUNT"
 *     (the format of the Pwned Passwords downloads).
 *
 * Each entry is kept as the first 64 bits of its SHA-1, sorted: 8 bytes an
 * entry, looked up by binary search. Empty lines, lines longer than any
 * password can be (AF_PW_MAX bytes) and lines holding a NUL byte are
 * skipped, the latter two counted (af_pwlist_skipped()); "\r\n" ends a
 * line as "\n" does.
 *
 * A password is on the list when it, or its ASCII-lower-case form, is: a
 * list of "password1" also holds "Password1".
 *
 * Thread-safety: a list is read-only once made; af_pwlist_has() may be
 * called from any number of threads at once.
 */
#ifndef AUTHFLOW_DIRECTORY_PWLIST_H
#define AUTHFLOW_DIRECTORY_PWLIST_H

#include <stddef.h>

/* Entries a file may hold: 512 MiB of memory. */
#define AF_PWLIST_MAX ((size_t)64 * 1024 * 1024)

typedef enum af_pwlist_status {
	AF_PWLIST_OK = 0,
	AF_PWLIST_ERR_ARG,
	AF_PWLIST_ERR_IO,      /* the file cannot be opened or read */
	AF_PWLIST_ERR_TOO_BIG, /* more than AF_PWLIST_MAX entries */
	AF_PWLIST_ERR_NOMEM,
	AF_PWLIST_ERR_CRYPTO, /* OpenSSL has no SHA-1 */
} af_pwlist_status;

typedef struct af_pwlist af_pwlist;

/*
 * Makes the list: the built-in entries, and those of the file at path
 * when path is not NULL. On failure err says why (naming the path) and
 * *out is NULL.
 */
af_pwlist_status af_pwlist_load(const char *path, af_pwlist **out, char *err,
				size_t errlen);

/* 1 when password (NUL-terminated) is on the list, else 0. */
int af_pwlist_has(const af_pwlist *list, const char *password);

/* Entries on the list (distinct ones: the built-in ones included). */
size_t af_pwlist_count(const af_pwlist *list);

/*
 * Lines of the file skipped as no password can be (longer than AF_PW_MAX
 * bytes, or holding a NUL byte; empty lines are not counted), and into
 * *first_line (when not NULL) the number of the first, counted from 1;
 * 0 and 0 when none was.
 */
size_t af_pwlist_skipped(const af_pwlist *list, size_t *first_line);

/* Accepts NULL. */
void af_pwlist_free(af_pwlist *list);

const char *af_pwlist_strerror(af_pwlist_status st);

#endif /* AUTHFLOW_DIRECTORY_PWLIST_H */
