/* The TLS certificate and key files; see tlsfiles.h. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "common/util.h"
#include "http/tlsfiles.h"

/* -1 with the reason in err when the file at path is over the cap. */
static int too_big(const char *what, const char *path, char *err, size_t errlen)
{
	struct stat sb;
	char why[128];

	if (stat(path, &sb) != 0) {
		af_errno_text(errno, why, sizeof(why));
		snprintf(err, errlen, "%s: %s: %s", what, path, why);
		return -1;
	}
	if (sb.st_size > AF_TLS_FILE_MAX) {
		snprintf(err, errlen, "%s: %s is larger than %ld bytes", what,
			 path, AF_TLS_FILE_MAX);
		return -1;
	}
	return 0;
}

int af_tls_files_check(const char *cert_file, const char *key_file, char *err,
		       size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	int rc = -1, asked = 0;

	if (ctx == NULL) {
		snprintf(err, errlen, "tls: cannot set up TLS (out of memory)");
		goto out;
	}
	if (too_big("tls.cert_file", cert_file, err, errlen) != 0 ||
	    too_big("tls.key_file", key_file, err, errlen) != 0)
		goto out;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		snprintf(err, errlen,
			 "tls.cert_file: %s holds no PEM certificate",
			 cert_file);
		goto out;
	}
	/* Read alone first, so that a key that is none is told apart from
	 * the key of another certificate. */
	bio = BIO_new_file(key_file, "r");
	key = bio != NULL ? PEM_read_bio_PrivateKey(
				    bio, NULL, af_pem_no_passphrase, &asked)
			  : NULL;
	if (key == NULL && asked) {
		snprintf(err, errlen,
			 "tls.key_file: %s is an encrypted private key; give "
			 "an unencrypted one",
			 key_file);
		goto out;
	}
	if (key == NULL) {
		snprintf(
			err, errlen,
			"tls.key_file: %s holds no unencrypted PEM private key",
			key_file);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(
			err, errlen,
			"tls.key_file: %s is not the key of the certificate in "
			"tls.cert_file",
			key_file);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return rc;
}

/* "2026-12-01T16:00:00Z" for an ASN1_TIME, or "?" */
static void asn1_iso(const ASN1_TIME *t, char *out, size_t cap)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, cap, "?");
}

int af_tls_cert_dates(const char *cert_file, time_t now, char *why, size_t cap)
{
	time_t soon = now + (time_t)AF_TLS_WARN_DAYS * 86400;
	BIO *bio = BIO_new_file(cert_file, "r");
	X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	char when[32];
	int rc = 0;

	if (x == NULL)
		goto out;
	if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0) {
		asn1_iso(X509_get0_notBefore(x), when, sizeof(when));
		(void)snprintf(why, cap,
			       "tls.cert_file: %s is not valid until %s: "
			       "clients refuse it until then",
			       cert_file, when);
		rc = 1;
	} else if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0) {
		asn1_iso(X509_get0_notAfter(x), when, sizeof(when));
		(void)snprintf(why, cap,
			       "tls.cert_file: %s expired on %s: clients "
			       "refuse it",
			       cert_file, when);
		rc = 1;
	} else if (X509_cmp_time(X509_get0_notAfter(x), &soon) < 0) {
		asn1_iso(X509_get0_notAfter(x), when, sizeof(when));
		(void)snprintf(why, cap,
			       "tls.cert_file: %s expires on %s: renew it",
			       cert_file, when);
		rc = 1;
	}
out:
	ERR_clear_error();
	X509_free(x);
	BIO_free(bio);
	return rc;
}
