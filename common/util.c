/* Shared helpers for secrets, randomness, encodings and clocks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/util.h"

int af_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t ha[32], hb[32];

	if (a == NULL || b == NULL || alen == 0 || blen == 0)
		return 0;
	if (alen == blen)
		return CRYPTO_memcmp(a, b, alen) == 0;
	/*
	 * Different lengths never match, but say so only after work that
	 * depends on neither the contents nor where they differ.
	 */
	af_sha256(a, alen, ha);
	af_sha256(b, blen, hb);
	OPENSSL_cleanse(ha, sizeof(ha));
	OPENSSL_cleanse(hb, sizeof(hb));
	return 0;
}

int af_ct_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return 0;
	return af_ct_equal(a, strlen(a), b, strlen(b));
}

/*
 * Random bytes come from OpenSSL's generator, RANDOM_POOL of them at a time
 * into a buffer of the calling thread's: a draw costs the same few
 * microseconds whatever its size (OpenSSL's locking and its fork check, a
 * getpid() system call), and a sign-in asks for a dozen small tokens.
 * Bytes handed out are wiped from the buffer at once; bytes never handed
 * out protect nothing. A forked child wipes the buffer of the thread that
 * forked, the only one it has, so that parent and child never hand out
 * the same bytes. Requests over RANDOM_POOL_TAKE_MAX go to OpenSSL
 * directly.
 */
#define RANDOM_POOL	     512
#define RANDOM_POOL_TAKE_MAX 64

struct random_pool {
	uint8_t bytes[RANDOM_POOL];
	size_t next; /* bytes before it are used (and zero) */
};

/*
 * Per thread by nature, as OpenSSL's own generators are: no lock, and
 * nothing shared between threads. The fork handler is set up once per
 * process; pool_usable says whether that worked.
 */
static _Thread_local struct random_pool pool = {.next = RANDOM_POOL};
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static int pool_usable;

static void pool_forget(void)
{
	OPENSSL_cleanse(pool.bytes, sizeof(pool.bytes));
	pool.next = RANDOM_POOL;
}

static void pool_watch_forks(void)
{
	pool_usable = pthread_atfork(NULL, NULL, pool_forget) == 0;
}

int af_random_bytes(void *buf, size_t len)
{
	if (buf == NULL || len > INT32_MAX)
		return -1;
	if (len > RANDOM_POOL_TAKE_MAX ||
	    pthread_once(&pool_once, pool_watch_forks) != 0 || !pool_usable)
		return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
	if (RANDOM_POOL - pool.next < len) {
		if (RAND_bytes(pool.bytes, RANDOM_POOL) != 1) {
			pool_forget();
			return -1;
		}
		pool.next = 0;
	}
	memcpy(buf, pool.bytes + pool.next, len);
	OPENSSL_cleanse(pool.bytes + pool.next, len);
	pool.next += len;
	return 0;
}

int af_random_token(size_t nbytes, char *out, size_t outcap)
{
	uint8_t raw[128];
	int rc;

	if (nbytes == 0 || nbytes > sizeof(raw) || out == NULL ||
	    outcap < af_b64url_len(nbytes) + 1)
		return -1;
	if (af_random_bytes(raw, nbytes) != 0)
		return -1;
	rc = af_b64url_encode(raw, nbytes, out, outcap);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t af_b64url_len(size_t len)
{
	return (len / 3) * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

int af_b64url_encode(const void *data, size_t len, char *out, size_t outcap)
{
	const uint8_t *p = data;
	size_t i, o = 0;
	uint32_t v;

	if ((data == NULL && len > 0) || out == NULL ||
	    len > (SIZE_MAX - 1) / 4 || outcap < af_b64url_len(len) + 1)
		return -1;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
	return 0;
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int af_b64url_char(int c)
{
	return c >= 0 && c <= 127 && b64url_value((char)c) >= 0;
}

int af_b64url_text_ok(const char *s, size_t n)
{
	size_t i;

	if (s == NULL || n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (b64url_value(s[i]) < 0)
			return 0;
	}
	return 1;
}

int af_b64url_decode(const char *text, size_t len, uint8_t *out, size_t outcap,
		     size_t *outlen)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i, n = 0;

	if (text == NULL || out == NULL || outlen == NULL)
		return -1;
	while (len > 0 && text[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64url_value(text[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= outcap)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	*outlen = n;
	return 0;
}

/*
 * SHA-256 as fetched from OpenSSL's providers, once per process: with
 * EVP_sha256() every digest looks the implementation up again, under a
 * lock, which costs more than hashing a short string. Fetched once, never
 * changed after.
 */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_fetched;

static void sha256_fetch(void)
{
	sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *af_sha256_md(void)
{
	if (pthread_once(&sha256_once, sha256_fetch) != 0 ||
	    sha256_fetched == NULL)
		return EVP_sha256();
	return sha256_fetched;
}

void af_sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	if (EVP_Digest(data, len, out, &n, af_sha256_md(), NULL) != 1)
		memset(out, 0, 32);
}

void af_hex(const void *data, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *d = data;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * len] = '\0';
}

int af_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void af_sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t d[32];

	af_sha256(data, len, d);
	af_hex(d, sizeof(d), out);
}

int64_t af_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t af_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t af_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int af_parse_ulong(const char *s, unsigned long lo, unsigned long hi,
		   unsigned long *out)
{
	char *end = NULL;
	unsigned long v;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

void af_time_iso8601(int64_t t, char *out, size_t outcap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (out == NULL || outcap == 0)
		return;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outcap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

void af_free_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_clear_free(s, strlen(s));
}

size_t af_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (s[0] < 0x80) {
		len = 1;
		c = s[0];
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07u;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3fu);
	}
	/* Overlong forms, surrogates and code points past Unicode. */
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp != NULL)
		*cp = c;
	return len;
}

/*
 * Control characters, and the invisible characters that reorder or hide
 * text: a name with them could pass for another on a consent or login
 * page, or on a phone's approval screen. Also the noncharacters (U+FDD0
 * to U+FDEF, and the last two code points of every plane), which Unicode
 * keeps for a program's own use, never for text.
 */
static int hidden_char(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x00ad ||
	       (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe ||
	       c == 0x034f || c == 0x061c || c == 0x115f || c == 0x1160 ||
	       c == 0x17b4 || c == 0x17b5 || c == 0x180e ||
	       (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
	       (c >= 0x2060 && c <= 0x206f) || c == 0x3164 || c == 0xfeff ||
	       c == 0xffa0 || (c >= 0xfff9 && c <= 0xfffb) ||
	       (c >= 0x1bca0 && c <= 0x1bca3) ||
	       (c >= 0x1d173 && c <= 0x1d17a) ||
	       (c >= 0xe0000 && c <= 0xe007f) || (c >= 0xe01f0 && c <= 0xe0fff);
}

/*
 * What shows nothing on its own: the space separators (Unicode Zs),
 * however wide, the Braille blank, the variation selectors and the
 * combining marks of the blocks made of them, which only change the
 * character before them (an emoji's U+FE0F, an accent), and the object
 * replacement character, a stand-in for something not there.
 */
static int blank_char(uint32_t c)
{
	return c == 0x20 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x180b && c <= 0x180f) || (c >= 0x2000 && c <= 0x200a) ||
	       c == 0x202f || c == 0x205f || c == 0x2800 || c == 0x3000 ||
	       (c >= 0xfe00 && c <= 0xfe0f) || (c >= 0xe0100 && c <= 0xe01ef) ||
	       (c >= 0x0300 && c <= 0x036f) || (c >= 0x1ab0 && c <= 0x1aff) ||
	       (c >= 0x1dc0 && c <= 0x1dff) || (c >= 0x20d0 && c <= 0x20ff) ||
	       (c >= 0xfe20 && c <= 0xfe2f) || c == 0xfffc;
}

size_t af_utf8_cut(const char *s, size_t n, size_t max)
{
	size_t cut = max;

	if (n <= max)
		return n;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	return cut;
}

void af_utf8_repair(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n, i = 0, len;

	if (s == NULL)
		return;
	n = strlen(s);
	while (i < n) {
		len = af_utf8_next(p + i, n - i, NULL);
		if (len == 0) {
			p[i] = '?';
			len = 1;
		}
		i += len;
	}
}

int af_utf8_blank(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (s != NULL && i < n) {
		uint32_t cp = 0;
		size_t len = af_utf8_next(p + i, n - i, &cp);

		if (len == 0 || !blank_char(cp))
			return 0;
		i += len;
	}
	return 1;
}

long af_utf8_display_chars(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	long chars = 0;

	if (s == NULL)
		return -1;
	while (i < n) {
		uint32_t cp = 0;
		size_t len = af_utf8_next(p + i, n - i, &cp);

		if (len == 0 || hidden_char(cp))
			return -1;
		i += len;
		chars++;
	}
	return chars;
}

int af_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = EIO; /* so that the caller can say why */
		if (w <= 0)
			return -1;
		b += (size_t)w;
		n -= (size_t)w;
	}
	return 0;
}

void af_errno_text(int errnum, char *out, size_t cap)
{
	if (cap == 0)
		return;
	if (strerror_r(errnum, out, cap) != 0)
		(void)snprintf(out, cap, "error %d", errnum);
}

/* A socket bound to ss as the server binds it, or -1 with why. */
static int bound_socket(const struct sockaddr_storage *ss, char *why,
			size_t cap)
{
	int v6 = ss->ss_family == AF_INET6;
	socklen_t len = v6 ? (socklen_t)sizeof(struct sockaddr_in6)
			   : (socklen_t)sizeof(struct sockaddr_in);
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int on = 1;

	(void)snprintf(why, cap, "in use, or not allowed");
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (v6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
				 sizeof(on));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0) {
		af_errno_text(errno, why, cap);
		close(fd);
		return -1;
	}
	return fd;
}

int af_bind_probe(const struct sockaddr_storage *ss, char *why, size_t cap)
{
	int fd = bound_socket(ss, why, cap);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int af_listen_on(const struct sockaddr_storage *ss, char *why, size_t cap)
{
	int fd = bound_socket(ss, why, cap);

	if (fd >= 0 && listen(fd, SOMAXCONN) != 0) {
		af_errno_text(errno, why, cap);
		close(fd);
		fd = -1;
	}
	return fd;
}

const char *af_bind_why(const struct sockaddr_storage *ss, char *why,
			size_t cap)
{
	(void)af_bind_probe(ss, why, cap);
	return why;
}

int af_pem_no_passphrase(char *buf, int size, int rwflag, void *asked)
{
	(void)rwflag;
	if (buf != NULL && size > 0)
		buf[0] = '\0';
	if (asked != NULL)
		*(int *)asked = 1;
	return -1;
}

int af_ip_counted(const char *text, char *out, size_t cap)
{
	char net[INET6_ADDRSTRLEN];
	af_ipnet a;
	int n;

	if (text == NULL || af_ipnet_parse(text, &a) != 0 ||
	    a.bits != 8 * (a.family == AF_INET6 ? 16u : 4u))
		return -1;
	if (a.family == AF_INET6)
		memset(a.addr + 8, 0, 8);
	if (inet_ntop(a.family, a.addr, net, sizeof(net)) == NULL)
		return -1;
	n = snprintf(out, cap, "%s%s", net, a.family == AF_INET6 ? "/64" : "");
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/*
 * The family and bytes of an address literal; 0 when it is none. An
 * IPv4-mapped IPv6 address ("::ffff:192.0.2.1", as a dual-stack proxy
 * writes its IPv4 peers) is the IPv4 address it maps: *mapped says so.
 */
static int ip_of(const char *text, uint8_t addr[16], int *mapped)
{
	*mapped = 0;
	if (inet_pton(AF_INET, text, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, text, addr) != 1)
		return 0;
	if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) != 0)
		return AF_INET6;
	memmove(addr, addr + sizeof(v4_mapped), 4);
	memset(addr + 4, 0, 12);
	*mapped = 1;
	return AF_INET;
}

/* 1 when the first bits of a and b agree. */
static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xffu << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int af_ipnet_parse(const char *text, af_ipnet *out)
{
	char host[64];
	const char *slash;
	unsigned long bits;
	uint8_t net[16];
	size_t n, max, i;
	int mapped;

	if (text == NULL || out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	slash = strchr(text, '/');
	n = slash != NULL ? (size_t)(slash - text) : strlen(text);
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, text, n);
	host[n] = '\0';
	out->family = ip_of(host, out->addr, &mapped);
	if (out->family == 0)
		return -1;
	max = out->family == AF_INET && !mapped ? 32 : 128;
	bits = max;
	if (slash != NULL && af_parse_ulong(slash + 1, 0, max, &bits) != 0)
		return -1;
	if (mapped) {
		/* "::ffff:10.0.0.0/104" is 10.0.0.0/8; a shorter prefix
		 * reaches past the IPv4-mapped block, so it stays IPv6. */
		if (bits >= 96) {
			max = 32;
			bits -= 96;
		} else {
			max = 128;
			out->family = AF_INET6;
			memmove(out->addr + sizeof(v4_mapped), out->addr, 4);
			memcpy(out->addr, v4_mapped, sizeof(v4_mapped));
		}
	}
	out->bits = (unsigned)bits;
	/* Nothing may be set past the prefix: "10.1.0.0/8" is refused. */
	memset(net, 0, sizeof(net));
	for (i = 0; i < bits; i++)
		net[i / 8] |= (uint8_t)(out->addr[i / 8] & (0x80u >> (i % 8)));
	return memcmp(net, out->addr, max / 8) == 0 ? 0 : -1;
}

int af_ipnet_match(const af_ipnet *nets, size_t n, const char *text)
{
	uint8_t addr[16];
	int family, mapped;
	size_t i;

	if (nets == NULL || text == NULL)
		return 0;
	family = ip_of(text, addr, &mapped);
	for (i = 0; family != 0 && i < n; i++)
		if (nets[i].family == family &&
		    prefix_equal(nets[i].addr, addr, nets[i].bits))
			return 1;
	return 0;
}

void af_sockaddr_ip(const struct sockaddr *sa, char *out, size_t outcap)
{
	const struct in6_addr *a6;

	if (out == NULL || outcap == 0)
		return;
	out[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		if (inet_ntop(AF_INET,
			      &((const struct sockaddr_in *)(const void *)sa)
				       ->sin_addr,
			      out, (socklen_t)outcap) == NULL)
			out[0] = '\0';
	} else if (sa->sa_family == AF_INET6) {
		a6 = &((const struct sockaddr_in6 *)(const void *)sa)
			      ->sin6_addr;
		if (inet_ntop(IN6_IS_ADDR_V4MAPPED(a6) ? AF_INET : AF_INET6,
			      IN6_IS_ADDR_V4MAPPED(a6)
				      ? (const void *)&a6->s6_addr[12]
				      : (const void *)a6,
			      out, (socklen_t)outcap) == NULL)
			out[0] = '\0';
	}
}

void af_json_why(const char *text, char *out, size_t cap)
{
	const char *near = text != NULL ? strstr(text, " near ") : NULL;
	size_t n;

	if (cap == 0)
		return;
	if (text == NULL)
		text = "";
	/* jansson names its own flag; the reader needs the rule. */
	if (strstr(text, "JSON_ALLOW_NUL") != NULL) {
		text = "\\u0000 (a NUL character) is not allowed in a string";
		near = NULL;
	}
	n = near != NULL ? (size_t)(near - text) : strlen(text);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, text, n);
	out[n] = '\0';
}
