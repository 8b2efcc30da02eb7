/*
 * The TLS certificate and key files of listen's native TLS, checked as
 * start-up would use them, so that --check-config finds a file that is no
 * certificate, an encrypted key or a key of another certificate, and
 * start-up says which rather than failing to listen.
 *
 * Thread-safety: re-entrant.
 */
#ifndef AF_HTTP_TLSFILES_H
#define AF_HTTP_TLSFILES_H

#include <stddef.h>
#include <time.h>

/* Either file may hold at most this many bytes, as start-up reads it. */
#define AF_TLS_FILE_MAX (1024L * 1024)

/*
 * 0 when cert_file holds a PEM certificate (chain) and key_file an
 * unencrypted PEM private key of that certificate, neither larger than
 * AF_TLS_FILE_MAX; else -1 with one line
 * naming the configuration key and the file in err.
 */
int af_tls_files_check(const char *cert_file, const char *key_file, char *err,
		       size_t errlen);

/* A certificate that ends within this many days is worth a warning. */
#define AF_TLS_WARN_DAYS 30

/*
 * 1 when the first certificate of cert_file (the server's own) is not
 * valid at now (expired, or not yet valid) or ends within
 * AF_TLS_WARN_DAYS, with one line saying so and when into why (cap
 * bytes); else 0. Clients refuse such a certificate, or soon will, but
 * the server still starts with it: it may be the one being renewed.
 */
int af_tls_cert_dates(const char *cert_file, time_t now, char *why, size_t cap);

#endif
