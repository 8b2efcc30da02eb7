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

#endif
