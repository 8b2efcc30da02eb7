/*
 * Small shared helpers: constant-time comparison, CSPRNG tokens,
 * base64url, SHA-256 hex, clocks. Everything that touches secrets is here
 * once so that there is one place to get it right.
 *
 * Thread-safety: all functions are re-entrant.
 */
#ifndef COMMON_UTIL_H
#define COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#if defined(__GNUC__)
#define AF_NODISCARD __attribute__((warn_unused_result))
#else
#define AF_NODISCARD
#endif

/*
 * Constant-time equality of two byte strings. Returns 1 when equal, 0
 * otherwise, and 0 (fail closed) when either is NULL or empty. When the
 * lengths differ it compares SHA-256 digests of both instead, so the time
 * does not depend on where they differ.
 */
int af_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* As af_ct_equal() over two NUL-terminated strings. */
int af_ct_streq(const char *a, const char *b);

/*
 * Writes a random token of nbytes random bytes (from RAND_bytes),
 * base64url-encoded without padding, and a NUL into out. out must hold
 * af_b64url_len(nbytes) + 1 bytes. Returns 0, or -1 when the RNG fails or
 * out is too small.
 */
AF_NODISCARD int af_random_token(size_t nbytes, char *out, size_t outcap);

/* Fills buf with len random bytes; 0 or -1. */
AF_NODISCARD int af_random_bytes(void *buf, size_t len);

/* Length of the unpadded base64url encoding of len bytes. */
size_t af_b64url_len(size_t len);

/* 1 when c is in the base64url alphabet (A-Z a-z 0-9 - _), else 0. */
int af_b64url_char(int c);

/* 1 when s holds n >= 1 characters, all base64url, else 0. */
int af_b64url_text_ok(const char *s, size_t n);

/* Unpadded base64url; outcap >= af_b64url_len(len) + 1. 0 or -1. */
AF_NODISCARD int af_b64url_encode(const void *data, size_t len, char *out,
				  size_t outcap);

/*
 * Decodes base64url (padding optional; '+' and '/' refused). Writes at
 * most outcap bytes and the length in *outlen. 0 or -1.
 */
AF_NODISCARD int af_b64url_decode(const char *text, size_t len, uint8_t *out,
				  size_t outcap, size_t *outlen);

/* len bytes as 2 * len lower-case hex characters and a NUL into out. */
void af_hex(const void *data, size_t len, char *out);

/* The value of hex digit c of either case (0..15), or -1. */
int af_hex_value(int c);

/* SHA-256 of data as 64 lower-case hex characters and a NUL (out[65]). */
void af_sha256_hex(const void *data, size_t len, char out[65]);

/* SHA-256 of data into out[32]. */
void af_sha256(const void *data, size_t len, uint8_t out[32]);

/*
 * OpenSSL's SHA-256, fetched once per process, for EVP digest calls of
 * one's own: EVP_sha256() looks it up again on every use.
 */
const EVP_MD *af_sha256_md(void);

/* Wall clock in seconds and milliseconds since the epoch. */
int64_t af_now(void);
int64_t af_now_ms(void);

/* Monotonic clock in nanoseconds, for durations. */
uint64_t af_mono_ns(void);

/*
 * A command-line number: decimal digits only (no sign, no blanks, which
 * strtoul would accept), lo..hi. 0 with *out set, or -1.
 */
int af_parse_ulong(const char *s, unsigned long lo, unsigned long hi,
		   unsigned long *out);

/*
 * An IP network: an address and a prefix length. family is AF_INET (4
 * bytes of addr used, bits 0..32) or AF_INET6 (16 bytes, bits 0..128).
 */
typedef struct af_ipnet {
	int family;
	uint8_t addr[16];
	unsigned bits;
} af_ipnet;

/*
 * Parses "192.0.2.1", "10.0.0.0/8", "2001:db8::1" or "2001:db8::/32"
 * (a lone address has every bit); host bits set past the prefix are
 * refused, since they would suggest a network other than the one meant.
 * An IPv4-mapped IPv6 address or network ("::ffff:10.0.0.0/104") is read
 * as the IPv4 one it maps. 0 with *out set, or -1.
 */
int af_ipnet_parse(const char *text, af_ipnet *out);

/*
 * 1 when the address text (an IPv4 or IPv6 literal; an IPv4-mapped one
 * counts as the IPv4 address) lies in one of the n networks, 0 when not
 * or when text is not an address.
 */
int af_ipnet_match(const af_ipnet *nets, size_t n, const char *text);

struct sockaddr;

/*
 * A connection's peer address (sa may be NULL) as text into out: an IPv4
 * or IPv6 literal, an IPv4-mapped IPv6 one as the IPv4 address, as logs
 * and af_ipnet_match() take it; "" when there is none.
 */
void af_sockaddr_ip(const struct sockaddr *sa, char *out, size_t outcap);

/*
 * An OpenSSL passphrase callback (pem_password_cb) that gives none, ever:
 * the programs run unattended or from scripts, so an encrypted key is
 * one they cannot use, and OpenSSL must not ask for one on a terminal.
 * asked, when not NULL, is an int set to 1 once OpenSSL asks, which is
 * what tells an encrypted key from no key.
 */
int af_pem_no_passphrase(char *buf, int size, int rwflag, void *asked);

/* Room for af_ip_counted()'s text: an IPv6 address, "/64" and the NUL. */
#define AF_IP_COUNTED_MAX (46 + 3 + 1)

/*
 * The address text (an IPv4 or IPv6 literal) as limits count it: an IPv4
 * address as itself (also one that an IPv6 address maps), an IPv6
 * address by its /64 ("2001:db8:1:2::/64"), what one host is usually
 * given, so that one host cannot take a new address for each try. 0 with
 * the text in out (cap bytes, AF_IP_COUNTED_MAX is enough), or -1 when
 * text is not an address.
 */
int af_ip_counted(const char *text, char *out, size_t cap);

/*
 * Formats a Unix time as "2026-11-29T18:00:00Z" (UTC) into out (at least
 * 21 bytes). Uses gmtime_r.
 */
void af_time_iso8601(int64_t t, char *out, size_t outcap);

/*
 * The text of an errno value into out (cap bytes), through the
 * thread-safe strerror_r(); "error N" when it has none.
 */
void af_errno_text(int errnum, char *out, size_t cap);

/*
 * Writes all n bytes of p to fd, again after EINTR and short writes: 0,
 * or -1 with errno set (EIO for a write that took nothing).
 */
int af_write_all(int fd, const void *p, size_t n);

struct sockaddr_storage;

/*
 * Why a server could not listen on ss (IPv4 or IPv6) when the HTTP
 * library it uses does not say: the errno text of a bind() made as
 * libmicrohttpd makes it (SO_REUSEADDR; IPv6 only), such as "Address
 * already in use" or "Cannot assign requested address", into why (cap
 * bytes), which it returns; "in use, or not allowed" when that bind()
 * succeeds or cannot be tried.
 */
const char *af_bind_why(const struct sockaddr_storage *ss, char *why,
			size_t cap);

/*
 * Tries that bind() on ss and lets the socket go: 0 when it could bind,
 * -1 with the reason in why (as af_bind_why()) when it could not. For a
 * refusal before anything else is done at start-up; a port taken after
 * the probe is still refused when the server listens.
 */
int af_bind_probe(const struct sockaddr_storage *ss, char *why, size_t cap);

/*
 * A socket bound to ss as af_bind_probe() binds it, listening (backlog
 * SOMAXCONN), blocking, close-on-exec: its descriptor, or -1 with the
 * reason in why.
 */
int af_listen_on(const struct sockaddr_storage *ss, char *why, size_t cap);

/* Wipes and frees a string (NULL accepted). */
void af_free_secret(char *s);

/*
 * Decodes the UTF-8 sequence at s (n >= 1 bytes left) into *cp (may be
 * NULL) and returns its length, or 0 when it is not well-formed: a bad
 * lead or continuation byte, a cut sequence, an overlong form, a UTF-16
 * surrogate or a code point past U+10FFFF.
 */
size_t af_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/*
 * How many of the n bytes of s to keep, at most max, without splitting a
 * UTF-8 character: n when it fits, else max less the bytes of a character
 * that max would cut.
 */
size_t af_utf8_cut(const char *s, size_t n, size_t max);

/*
 * jansson's error text without the input it quotes: "invalid token near
 * 'secret...'" becomes "invalid token". What a parse error quotes is
 * whatever was being read, which in a config file, a password change or
 * an enrollment is a secret; the line and column say where it is. Copies
 * into out (cap bytes, at least 1).
 */
void af_json_why(const char *text, char *out, size_t cap);

/*
 * Makes the NUL-terminated s valid UTF-8 in place: each byte that does not
 * begin a well-formed sequence becomes '?'. For messages that quote input
 * cut at a byte count, which may split a character.
 */
void af_utf8_repair(char *s);

/*
 * The number of characters in s (n bytes) when it is text fit to show a
 * person as a name: well-formed UTF-8 without control characters (C0, DEL,
 * C1) and without the invisible characters that reorder or hide text
 * (zero-width, line and paragraph separators, bidirectional marks,
 * embeddings, overrides and isolates, word joiners, BOM, soft hyphen,
 * fillers, tags and the other format characters of that kind). -1
 * otherwise.
 */
long af_utf8_display_chars(const char *s, size_t n);

/*
 * 1 when s (n bytes) shows nothing: empty, or only space separators (the
 * ASCII space, no-break and ideographic spaces, and the like), the
 * Braille blank, variation selectors, combining marks (with no letter to
 * mark) and the object replacement character.
 */
int af_utf8_blank(const char *s, size_t n);

#endif /* COMMON_UTIL_H */
