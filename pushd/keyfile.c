/*
 * Reading push credentials (the APNs .p8 key, the FCM service account).
 * The checks run on the opened descriptor, so the file judged is the file
 * read; a key that the group or others may read is refused outright, as
 * OpenSMTPD does, because by the time a warning is read the key may
 * already have been copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/util.h"
#include "pushd_internal.h"

static pushd_status say(char *err, size_t errlen, const char *name,
			const char *path, const char *why)
{
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "%s: %s: %s", name, path, why);
	return PUSHD_ERR_CREDENTIAL;
}

pushd_status pushd_read_key_file(const char *path, const char *name, size_t max,
				 char **out, size_t *len, char *err,
				 size_t errlen)
{
	char why[128];
	struct stat sb;
	char *buf = NULL;
	size_t n = 0;
	ssize_t r;
	int fd = -1;
	pushd_status rc = PUSHD_ERR_CREDENTIAL;

	if (path == NULL || name == NULL || out == NULL || len == NULL ||
	    max == 0)
		return PUSHD_ERR_ARG;
	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		af_errno_text(errno, why, sizeof(why));
		return say(err, errlen, name, path, why);
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		say(err, errlen, name, path, "not a regular file");
		goto out;
	}
	if ((sb.st_mode & 07177) != 0) {
		(void)snprintf(why, sizeof(why),
			       "mode %04o is wider than 0600 (chmod 600)",
			       (unsigned)(sb.st_mode & 07777));
		say(err, errlen, name, path, why);
		goto out;
	}
	if (sb.st_size < 0 || (size_t)sb.st_size > max) {
		say(err, errlen, name, path, "file too large");
		goto out;
	}
	buf = OPENSSL_malloc(max + 1);
	if (buf == NULL) {
		rc = PUSHD_ERR_NOMEM;
		goto out;
	}
	/* One spare byte tells a file that grew past the cap. */
	while (n < max + 1) {
		r = read(fd, buf + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (n > max || n == 0) {
		say(err, errlen, name, path,
		    n == 0 ? "empty or unreadable" : "file too large");
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = PUSHD_OK;
out:
	if (buf != NULL)
		OPENSSL_clear_free(buf, max + 1);
	(void)close(fd);
	return rc;
}

EVP_PKEY *pushd_pem_private_key(const char *pem, size_t len, int *encrypted)
{
	EVP_PKEY *pk = NULL;
	BIO *bio;
	int asked = 0;

	if (encrypted != NULL)
		*encrypted = 0;
	if (pem == NULL || len == 0 || len > (size_t)INT_MAX)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio != NULL)
		pk = PEM_read_bio_PrivateKey(bio, NULL, af_pem_no_passphrase,
					     &asked);
	BIO_free(bio);
	/* A failed read leaves its reasons on this thread's error queue. */
	if (pk == NULL)
		ERR_clear_error();
	if (encrypted != NULL)
		*encrypted = pk == NULL && asked;
	return pk;
}
