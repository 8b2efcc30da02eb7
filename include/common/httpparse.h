/*
 * Parsers of what browsers and relying parties send: query strings and
 * form bodies, Cookie headers, Authorization headers, redirect URIs,
 * User-Agent headers. They
 * do no I/O, read only the bytes they are given, and refuse anything over
 * their caps; every one has a libFuzzer target under tests/fuzz/.
 *
 * Thread-safety: all functions are re-entrant; an af_params is owned by
 * one thread at a time.
 */
#ifndef COMMON_HTTPPARSE_H
#define COMMON_HTTPPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define HP_STATUS_MAP(XX)                                       \
	XX(OK, 0, "success")                                    \
	XX(ERR_ARG, -1, "invalid argument")                     \
	XX(ERR_NOMEM, -2, "out of memory")                      \
	XX(ERR_TOO_BIG, -3, "input too large")                  \
	XX(ERR_TOO_MANY, -4, "too many parameters")             \
	XX(ERR_ENCODING, -5, "bad percent-encoding")            \
	XX(ERR_DUPLICATE, -6, "parameter given more than once") \
	XX(ERR_SYNTAX, -7, "malformed input")

typedef enum hp_status {
#define HP_XX(name, value, text) HP_##name = (value),
	HP_STATUS_MAP(HP_XX)
#undef HP_XX
} hp_status;

/*
 * A static English text for st; never NULL ("unknown error" for a value
 * outside the list).
 */
const char *hp_strerror(hp_status st);

#define HP_PARAMS_MAX	     256   /* parameters in one query or form */
#define HP_INPUT_MAX	     65536 /* bytes of a query string or form body */
#define HP_COOKIE_HEADER_MAX 8192  /* bytes of a Cookie header */
#define HP_AUTH_HEADER_MAX   4096  /* bytes of an Authorization header */
#define HP_URI_MAX	     2048  /* bytes of a redirect URI */

/*
 * Decodes len bytes of application/x-www-form-urlencoded text ('+' is a
 * space, %XX in either case is a byte) into out and a NUL, and the decoded
 * length into *outlen when outlen is not NULL. out never needs more than
 * len + 1 bytes. Returns HP_OK; HP_ERR_ENCODING for a '%' not followed by
 * two hex digits, a raw NUL or %00; HP_ERR_TOO_BIG when out is too small;
 * HP_ERR_ARG for NULL text (with len > 0) or out, or outcap 0. On failure
 * out holds an empty string and nothing of what was decoded.
 */
hp_status hp_form_decode(const char *text, size_t len, char *out, size_t outcap,
			 size_t *outlen);

/*
 * The same for a part of a URI (RFC 3986), where '+' is itself: only %XX
 * is decoded.
 */
hp_status hp_uri_decode(const char *text, size_t len, char *out, size_t outcap,
			size_t *outlen);

/*
 * A parsed set of name=value parameters (application/x-www-form-urlencoded
 * rules: '+' is a space, %XX decoded, NUL bytes refused). Names and values
 * are NUL-terminated copies.
 */
typedef struct af_params af_params;

/*
 * Parses a query string or form body. A name given twice is refused
 * (HP_ERR_DUPLICATE), as OAuth 2.0 requires for its parameters; the set is
 * still made then, with each name's first value, so that the caller can
 * tell whom to send the error to (RFC 6749 4.1.2.1).
 *
 * Pieces are split on '&' only (';' is data); empty pieces ("a=1&&b=2")
 * are skipped; a piece without '=' is a name with an empty value. Names
 * are compared byte for byte. Refused: len over HP_INPUT_MAX
 * (HP_ERR_TOO_BIG); more than HP_PARAMS_MAX parameters, a name given
 * twice counting twice (HP_ERR_TOO_MANY);
 * bad or truncated escapes, raw NUL or %00 (HP_ERR_ENCODING); an empty
 * name, or a name holding a control character, tab, CR and LF included
 * (HP_ERR_SYNTAX). Values may hold any byte but NUL: the caller validates
 * them further. NULL text is accepted only with len 0.
 *
 * On HP_OK and HP_ERR_DUPLICATE *out owns a new set, to be freed with
 * hp_params_free(); otherwise *out is NULL. HP_ERR_ARG when out is NULL,
 * HP_ERR_NOMEM when memory runs out.
 */
hp_status hp_params_parse(const char *text, size_t len, af_params **out);

/* Makes an empty set, to be filled with hp_params_add(); NULL on ENOMEM. */
af_params *hp_params_new(void);

/*
 * Adds a copy of name and value; HP_ERR_DUPLICATE when name is there.
 * HP_ERR_ARG for NULL arguments, an empty name or one holding a control
 * character (the rule hp_params_parse() applies), HP_ERR_TOO_BIG when
 * name or value is over HP_INPUT_MAX bytes, HP_ERR_TOO_MANY when the set
 * already holds HP_PARAMS_MAX parameters, HP_ERR_NOMEM.
 */
hp_status hp_params_add(af_params *p, const char *name, const char *value);

/* Lends the value of name, or NULL (also for NULL arguments). */
const char *hp_params_get(const af_params *p, const char *name);

/*
 * 1 when name came more than once in what hp_params_parse() read (its
 * later values were dropped), else 0.
 */
int hp_params_repeated(const af_params *p, const char *name);

/* Number of parameters in p (0 for NULL). */
size_t hp_params_count(const af_params *p);

/*
 * Lends the i-th name and value (i < count), in the order they were given.
 * Out of range (or p NULL), both are set to NULL. Either out pointer may
 * be NULL when not wanted.
 */
void hp_params_at(const af_params *p, size_t i, const char **name,
		  const char **value);

/* Frees the set, wiping every value. Accepts NULL. */
void hp_params_free(af_params *p);

/*
 * Finds cookie `name` in a Cookie header ("a=1; b=2"). Writes its value
 * (surrounding quotes removed) into out and returns HP_OK; HP_ERR_ARG when
 * it is absent; HP_ERR_TOO_BIG when it does not fit out or the header is
 * over HP_COOKIE_HEADER_MAX. When a cookie appears twice, the first wins
 * (browsers send the most specific path first).
 *
 * Pairs are split on ';' with optional spaces or tabs around them (RFC
 * 6265 section 4.2.1). A pair whose name is not an RFC 7230 token, that
 * has no '=', or whose value holds anything but cookie-octets (an
 * unbalanced quote, a space, a comma, a backslash, a control character)
 * is skipped, not fatal. Names are compared exactly, case included.
 * HP_ERR_ARG also for NULL arguments, an empty name or outcap 0. out is
 * an empty string whenever the result is not HP_OK.
 */
hp_status hp_cookie_get(const char *header, const char *name, char *out,
			size_t outcap);

/*
 * The name of the next well-formed cookie in a Cookie header, from *pos
 * (start with 0; advanced past the pair): HP_OK with *name (into header,
 * not NUL-terminated) and *nlen; HP_ERR_ARG when there is none left (or
 * for NULL arguments); HP_ERR_TOO_BIG when the header is over
 * HP_COOKIE_HEADER_MAX. Malformed pairs are skipped as hp_cookie_get()
 * skips them; the order is the header's.
 */
hp_status hp_cookie_next(const char *header, size_t *pos, const char **name,
			 size_t *nlen);

/*
 * Decodes strict standard base64 (RFC 4648 section 4): whole quads, '='
 * only as the one or two last characters, and zero unused bits, so each
 * byte string has one accepted encoding. No table lookup is indexed by
 * the text, so it may carry secrets. Writes at most outcap bytes and
 * their number in *outlen. Returns 0, or -1 (also for len 0).
 */
int hp_base64_decode(const char *in, size_t len, uint8_t *out, size_t outcap,
		     size_t *outlen);

/*
 * Parses "Basic base64(user:pass)": user and password are percent-decoded
 * as RFC 6749 section 2.3.1 requires for client credentials.
 *
 * The scheme is matched case-insensitively and followed by one or more
 * spaces, then standard base64 with its padding and nothing after it. The
 * decoded text is split at its first ':'. Returns HP_OK; HP_ERR_TOO_BIG
 * when the header is over HP_AUTH_HEADER_MAX or a part does not fit its
 * buffer; HP_ERR_SYNTAX for another scheme, bad base64, no ':' or an
 * empty user; HP_ERR_ENCODING for a bad escape or a NUL in either part;
 * HP_ERR_ARG for NULL arguments or a zero cap. Whenever the result is not
 * HP_OK, both buffers are wiped whole. The caller wipes pass after use.
 */
hp_status hp_auth_basic(const char *header, char *user, size_t usercap,
			char *pass, size_t passcap);

/*
 * Parses "Bearer TOKEN" (RFC 6750 b64token syntax) into out.
 *
 * The scheme is matched case-insensitively and followed by one or more
 * spaces, then 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 * *"=" and nothing after it. Returns HP_OK; HP_ERR_SYNTAX for anything
 * else; HP_ERR_TOO_BIG when the header is over HP_AUTH_HEADER_MAX or the
 * token does not fit out; HP_ERR_ARG for NULL arguments or outcap 0. out
 * is wiped whole whenever the result is not HP_OK.
 */
hp_status hp_auth_bearer(const char *header, char *out, size_t outcap);

/*
 * Whether header (an Authorization header's value) is of the
 * authentication scheme scheme (lower case): the scheme's name in any
 * case, then a space or the end. 0 for NULL arguments.
 */
int hp_auth_scheme_is(const char *header, const char *scheme);

/*
 * The length of the RFC 6750 b64token at the start of s (n bytes): one or
 * more of ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then any
 * "="s; 0 when s does not start with one. A whole string is a b64token
 * when the length is n.
 */
size_t hp_b64token_len(const char *s, size_t n);

/*
 * Checks a redirect URI as registered by an administrator or sent by a
 * relying party: absolute, scheme https (or http with a loopback host:
 * 127.0.0.1, [::1], localhost), a host, no fragment, no userinfo, no
 * control characters or spaces, at most HP_URI_MAX bytes. HP_OK or
 * HP_ERR_SYNTAX.
 *
 * In detail, it must read scheme "://" host [ ":" port ] [ path-abempty ]
 * [ "?" query ], with only printable ASCII (no space, no byte over 0x7E).
 * The scheme is "https" or "http" in any case. The host is one of: an
 * LDH name (labels of letters, digits and inner '-', 1 to 63 bytes each,
 * no empty label, no trailing dot, no '%' escapes); a canonical dotted
 * quad (a name whose last label looks numeric, "127.1", "0x7f.0.0.1" or
 * "2130706433", is refused, since browsers read those as IPv4); or a
 * bracketed IPv6 literal without zone. The port, when given, is 1 to
 * 65535 without leading zeros. Path and query hold only RFC 3986 pchar,
 * '/' and '?' with well-formed escapes. Backslashes, '#', '@' in the
 * authority and "//" with no scheme are refused. With http the host must
 * be in 127.0.0.0/8, ::1, or "localhost" in any case. Exact matching
 * against the registered URIs is the caller's job. HP_ERR_ARG when uri is
 * NULL.
 */
hp_status hp_redirect_uri_check(const char *uri);

/*
 * Appends percent-encoded name=value to a query or form being built in
 * out (with '&' when out is not empty). Returns HP_OK or HP_ERR_TOO_BIG;
 * out stays NUL-terminated.
 *
 * Every byte but the RFC 3986 unreserved ones (ALPHA DIGIT - . _ ~) is
 * written as %XX in upper case, space as %20, so hp_params_parse() reads
 * back exactly what was given. On HP_ERR_TOO_BIG out is left as it was.
 * HP_ERR_ARG for NULL arguments, an empty name, outcap 0 or an out that
 * holds no NUL within outcap.
 */
hp_status hp_query_append(char *out, size_t outcap, const char *name,
			  const char *value);

/*
 * Escapes text for HTML element content and attribute values (& < > " '
 * and control characters) into out. HP_OK or HP_ERR_TOO_BIG.
 *
 * & < > " ' / ` = ; become character references; tab, LF and CR become
 * &#9; &#10; &#13;; other C0 controls and DEL are dropped (HTML calls a
 * reference to them a parse error). Bytes from 0x80 pass unchanged. On
 * failure out holds an empty string. HP_ERR_ARG for NULL arguments or
 * outcap 0.
 */
hp_status hp_html_escape(const char *text, char *out, size_t outcap);

/*
 * Tells the browser and system a User-Agent header names in a few words
 * ("Firefox on Windows", "Safari on iOS", "Chrome", "a browser on Linux")
 * into out, at most HP_USER_AGENT_DESC_MAX bytes with the NUL. Only the
 * first HP_USER_AGENT_SCAN bytes of ua are read, and only fixed names
 * come out, never text of ua. HP_OK; HP_ERR_SYNTAX (out empty) when ua
 * names no browser or system it knows; HP_ERR_TOO_BIG when out is too
 * small; HP_ERR_ARG for NULL arguments or outcap 0.
 */
#define HP_USER_AGENT_SCAN     1024
#define HP_USER_AGENT_DESC_MAX 48
hp_status hp_user_agent_describe(const char *ua, char *out, size_t outcap);

/*
 * The client's address from an X-Forwarded-For header that a trusted
 * proxy passed on: its entries are read from the right (each proxy
 * appends the address it saw), skipping those within trusted (ntrusted
 * networks); the first that is not is the client, written into out as
 * inet_ntop() writes it (an IPv4-mapped IPv6 address as the IPv4, as the
 * server writes a peer's). HP_OK;
 * HP_ERR_SYNTAX (out empty) when the header cannot vouch for anyone: an
 * entry that is empty, no address or a network, or nothing but proxies;
 * HP_ERR_TOO_BIG when the header is over HP_XFF_SCAN bytes or out too
 * small; HP_ERR_ARG for NULL arguments or outcap 0. The caller then keeps
 * the peer's address: a client may write any X-Forwarded-For, so only
 * what trusted proxies appended is believed.
 */
#define HP_XFF_SCAN    8192
#define HP_XFF_HOP_MAX 64 /* an entry, with its NUL */
hp_status hp_xff_client(const char *xff, const af_ipnet *trusted,
			size_t ntrusted, char *out, size_t outcap);

#endif /* COMMON_HTTPPARSE_H */
