/*
 * The configuration file parser. The text is decoded with jansson (duplicate
 * keys refused), then every section is read with strict types and ranges
 * into a private af_config that is copied out only when all of it is valid,
 * so a caller never sees a half-applied file. Each refusal names the key's
 * path, because the person reading the message is editing that file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <openssl/crypto.h>

#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

/*
 * Long enough for the deepest path: "admin.tokens[63].sha256" or
 * "push.fcm.service_account_file".
 */
#define PATH_MAX_BYTES 160
/* Unknown keys come from the file; only this much of one is echoed. */
#define KEY_ECHO_MAX   64
#define ISSUER_MAX     255
/* The file cap as a size_t, for comparisons with lengths. */
#define FILE_MAX       ((size_t)AF_CONFIG_FILE_MAX)

#define SESSION_MIN_S (30u * 60u)
#define SESSION_MAX_S (4u * 24u * 3600u)
#define IDLE_MIN_S    (5u * 60u)
#define IDLE_MAX_S    (24u * 3600u)

#define APNS_ENDPOINT	      "https://api.push.apple.com"
#define APNS_SANDBOX_ENDPOINT "https://api.sandbox.push.apple.com"
#define FCM_ENDPOINT	      "https://fcm.googleapis.com"

#if defined(__GNUC__)
#define CFG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CFG_PRINTF(a, b)
#endif

/* Where refusals are written: the caller's buffer, possibly none. */
struct cfg_err {
	char *buf;
	size_t cap;
	/*
	 * Not NULL: a named file that fails its check does not refuse the
	 * text; the first such failure is written here instead.
	 */
	char *later;
	size_t latercap;
};

static int fail(struct cfg_err *e, const char *path, const char *fmt, ...)
	CFG_PRINTF(3, 4);

/* Writes "path: message" into the caller's buffer and returns -1. */
static int fail(struct cfg_err *e, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->buf == NULL || e->cap == 0)
		return -1;
	n = snprintf(e->buf, e->cap, "%s: ", path);
	if (n < 0 || (size_t)n >= e->cap)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(e->buf + n, e->cap - (size_t)n, fmt, ap);
	va_end(ap);
	/* Values from the file (a path, say) may hold control characters:
	 * the message stays one line. */
	for (; e->buf[n] != '\0'; n++)
		if ((unsigned char)e->buf[n] < 0x20 || e->buf[n] == 0x7f)
			e->buf[n] = '?';
	return -1;
}

/*
 * Joins a parent path and a key ("listen" + "port"). Keys may come from
 * the file itself (unknown keys), so they are cut short and anything that
 * is not printable ASCII is shown as '?', keeping the message one line.
 */
static void join(char *out, size_t cap, const char *parent, const char *key)
{
	char safe[KEY_ECHO_MAX + 1];
	size_t i;
	int n;

	for (i = 0; key[i] != '\0' && i < KEY_ECHO_MAX; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c >= 0x20 && c < 0x7f)
			safe[i] = key[i];
		else
			safe[i] = '?';
	}
	safe[i] = '\0';
	if (parent == NULL || parent[0] == '\0')
		n = snprintf(out, cap, "%s", safe);
	else
		n = snprintf(out, cap, "%s.%s", parent, safe);
	/* A path cut at cap still names the place well enough. */
	if (n < 0 && cap > 0)
		out[0] = '\0';
}

/* Refuses any member of obj whose name is not in the NULL-ended list. */
static int check_keys(json_t *obj, const char *path, const char *const *allowed,
		      struct cfg_err *e)
{
	const char *key;
	json_t *val;
	char kpath[PATH_MAX_BYTES];
	size_t i;
	int known;

	json_object_foreach((json_t *)obj, key, val)
	{
		known = 0;
		for (i = 0; allowed[i] != NULL && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known) {
			join(kpath, sizeof(kpath), path, key);
			return fail(e, kpath, "unknown key");
		}
	}
	return 0;
}

/*
 * Looks up an optional section. Sets *out to NULL when it is absent (not
 * an error), refuses a value that is not an object, and refuses unknown
 * keys inside it.
 */
static int get_section(json_t *obj, const char *parent, const char *key,
		       const char *const *allowed, json_t **out,
		       struct cfg_err *e)
{
	json_t *v = json_object_get(obj, key);
	char path[PATH_MAX_BYTES];

	*out = NULL;
	if (v == NULL)
		return 0;
	join(path, sizeof(path), parent, key);
	if (!json_is_object(v))
		return fail(e, path, "must be an object");
	if (check_keys(v, path, allowed, e) != 0)
		return -1;
	*out = v;
	return 0;
}

/*
 * Copies an optional string member into out (cap bytes with the NUL),
 * leaving out alone when the key is absent. Refuses other types, empty
 * strings and strings that do not fit.
 */
static int has_control(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	}
	return 0;
}

static int get_str(json_t *obj, const char *parent, const char *key, char *out,
		   size_t cap, struct cfg_err *e)
{
	json_t *v = json_object_get(obj, key);
	char path[PATH_MAX_BYTES];
	size_t len;

	if (v == NULL)
		return 0;
	join(path, sizeof(path), parent, key);
	if (!json_is_string(v))
		return fail(e, path, "must be a string");
	len = json_string_length(v);
	if (len == 0)
		return fail(e, path, "must not be empty");
	if (len >= cap)
		return fail(e, path, "must be at most %zu bytes", cap - 1);
	/* jansson refuses \u0000 by default; check anyway, it is cheap. */
	if (memchr(json_string_value(v), '\0', len) != NULL)
		return fail(e, path, "must not contain NUL");
	/* Every value may be quoted in a one-line message or a log line. */
	if (has_control(json_string_value(v), len))
		return fail(e, path, "must not contain control characters");
	memcpy(out, json_string_value(v), len);
	out[len] = '\0';
	return 0;
}

/* Reads an optional integer member within min..max into *out. */
static int get_uint(json_t *obj, const char *parent, const char *key,
		    unsigned long min, unsigned long max, unsigned long *out,
		    struct cfg_err *e)
{
	json_t *v = json_object_get(obj, key);
	char path[PATH_MAX_BYTES];
	json_int_t n;

	if (v == NULL)
		return 0;
	join(path, sizeof(path), parent, key);
	if (!json_is_integer(v))
		return fail(e, path, "must be an integer");
	n = json_integer_value(v);
	if (n < 0 || (unsigned long long)n < min || (unsigned long long)n > max)
		return fail(e, path, "must be %lu..%lu", min, max);
	*out = (unsigned long)n;
	return 0;
}

/* Reads an optional boolean member into *out as 0 or 1. */
static int get_bool(json_t *obj, const char *parent, const char *key, int *out,
		    struct cfg_err *e)
{
	json_t *v = json_object_get(obj, key);
	char path[PATH_MAX_BYTES];

	if (v == NULL)
		return 0;
	join(path, sizeof(path), parent, key);
	if (!json_is_boolean(v))
		return fail(e, path, "must be true or false");
	*out = json_is_true(v) ? 1 : 0;
	return 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Reads a decimal number made only of digits (no sign, no blanks, which
 * strtoul would otherwise accept) from s; *end gets the first non-digit.
 */
static int parse_decimal(const char *s, unsigned long *out, const char **end)
{
	char *e = NULL;
	unsigned long v;

	if (!is_digit(s[0]))
		return -1;
	errno = 0;
	v = strtoul(s, &e, 10);
	if (errno != 0 || e == s)
		return -1;
	*out = v;
	*end = e;
	return 0;
}

int af_duration_parse(const char *text, unsigned *out)
{
	unsigned long v, mult = 1;
	const char *end = NULL;

	if (text == NULL || out == NULL)
		return -1;
	if (strcmp(text, "off") == 0) {
		*out = 0;
		return 0;
	}
	if (parse_decimal(text, &v, &end) != 0 || v > UINT_MAX)
		return -1;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > UINT_MAX / mult)
		return -1;
	*out = (unsigned)(v * mult);
	return 0;
}

void af_config_defaults(af_config *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof(*cfg));
	(void)snprintf(cfg->listen_address, sizeof(cfg->listen_address), "%s",
		       "127.0.0.1");
	cfg->listen_port = 8080;
	cfg->threads = 0;
	(void)snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", "./state");
	cfg->store_backend = STORE_BACKEND_MEMORY;
	(void)snprintf(cfg->store_prefix, sizeof(cfg->store_prefix), "%s",
		       "authflow:");
	cfg->rsa_bits = 2048;
	cfg->key_lifetime_days = 730;
	cfg->key_alert_days = 60;
	cfg->session_timeout_s = 2u * 3600u;
	cfg->feature_sso = 1;
	cfg->feature_remote_access_mfa = 1;
	cfg->argon2_m_kib = 19456;
	cfg->argon2_t = 2;
	cfg->argon2_p = 1;
	cfg->pw_min_length = AF_CONFIG_PW_MIN_LENGTH;
	cfg->pw_temporary_hours = AF_CONFIG_PW_TEMP_HOURS;
	cfg->accounts_inactive_days = 0;
	cfg->audit_keep_days = 0;
	cfg->admin_token_count = 0;
	cfg->log_level = LOG_LEVEL_INFO;
	/* Loopback: a scraper on the host itself, and the tests. */
	(void)af_ipnet_parse("127.0.0.0/8", &cfg->metrics_allow[0]);
	(void)af_ipnet_parse("::1/128", &cfg->metrics_allow[1]);
	cfg->nmetrics_allow = 2;
	cfg->body_max = 65536;
	cfg->request_timeout_s = 30;
	cfg->connections_per_ip = 0;
	cfg->lockout_s = 1800;
	cfg->lockout_after = AF_CONFIG_LOCKOUT_AFTER;
	cfg->known_browser_days = 180;
	cfg->flows_per_ip = 10000;
	cfg->codes_per_user = 120;
	cfg->device_requests_per_minute = 120;
	cfg->push_mode = AF_PUSH_EMBEDDED;
	cfg->push_workers = 0;
	(void)snprintf(cfg->push_listen_address,
		       sizeof(cfg->push_listen_address), "%s", "127.0.0.1");
	cfg->push_listen_port = 9465;
	cfg->push_names = 1;
	(void)snprintf(cfg->apns.endpoint, sizeof(cfg->apns.endpoint), "%s",
		       APNS_ENDPOINT);
	(void)snprintf(cfg->apns.sandbox_endpoint,
		       sizeof(cfg->apns.sandbox_endpoint), "%s",
		       APNS_SANDBOX_ENDPOINT);
	cfg->apns.connections = 1;
	(void)snprintf(cfg->fcm.endpoint, sizeof(cfg->fcm.endpoint), "%s",
		       FCM_ENDPOINT);
	cfg->fcm.connections = 1;
}

/* ---- issuer ---------------------------------------------------------- */

/*
 * Characters an issuer may hold: RFC 3986 unreserved, sub-delims, ':',
 * '/', '@', '%' and the IPv6 brackets. Everything else (blanks, quotes,
 * '<', '\\', non-ASCII) could not round-trip through discovery documents
 * and token "iss" claims byte for byte, so it is refused.
 */
static int url_char(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("-._~!$&'()*+,;=:/@%[]", c) != NULL;
}

/*
 * A host name (RFC 1123 2.1): labels of [A-Za-z0-9-] of 1..63 bytes,
 * neither starting nor ending with '-', joined by single dots; or, when
 * the last label is all digits (no top-level domain is), a dotted-quad
 * IPv4 address, which "256.256.256.256" and "1.2.3" are not.
 */
static int reg_name_ok(const char *h, size_t len)
{
	char v4text[INET_ADDRSTRLEN];
	struct in_addr v4;
	size_t i, label = 0;
	int digits = 1;

	if (len == 0 || h[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return 0;
			label = 0;
			digits = 1;
		} else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   is_digit(c) || c == '-') {
			if ((c == '-' && label == 0) || ++label > 63)
				return 0;
			digits = digits && is_digit(c);
		} else {
			return 0;
		}
	}
	if (h[len - 1] == '-')
		return 0;
	if (!digits)
		return 1;
	if (len >= sizeof(v4text))
		return 0;
	memcpy(v4text, h, len);
	v4text[len] = '\0';
	return inet_pton(AF_INET, v4text, &v4) == 1;
}

/* An optional ":port" after the host: 1..65535, digits only. */
static int port_ok(const char *p, size_t len)
{
	unsigned long v;
	const char *end = NULL;
	char buf[8];

	if (len == 0)
		return 1;
	/* The issuer is compared as text: one way to write each port. */
	if (p[0] != ':' || len < 2 || len - 1 > 5 || p[1] == '0')
		return 0;
	memcpy(buf, p + 1, len - 1);
	buf[len - 1] = '\0';
	if (parse_decimal(buf, &v, &end) != 0 || *end != '\0')
		return 0;
	return v >= 1 && v <= 65535;
}

/*
 * Checks the authority "host[:port]" of the issuer and says whether the
 * host is a loopback address: 127.0.0.0/8, [::1] or localhost.
 */
static int check_authority(const char *a, size_t len, int *loopback,
			   struct cfg_err *e)
{
	char host[INET6_ADDRSTRLEN + 1];
	struct in_addr v4;
	struct in6_addr v6;
	const char *close, *colon;
	size_t hlen;

	*loopback = 0;
	if (memchr(a, '@', len) != NULL)
		return fail(e, "issuer", "must not contain userinfo ('@')");
	if (len == 0)
		return fail(e, "issuer", "must name a host");
	if (a[0] == '[') {
		close = memchr(a, ']', len);
		hlen = close != NULL ? (size_t)(close - a) - 1 : 0;
		if (close == NULL || hlen == 0 || hlen >= sizeof(host))
			return fail(e, "issuer", "bad IPv6 literal host");
		memcpy(host, a + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &v6) != 1)
			return fail(e, "issuer", "bad IPv6 literal host");
		if (!port_ok(close + 1, len - hlen - 2))
			return fail(
				e, "issuer",
				"port must be 1..65535, without leading zeros");
		*loopback = memcmp(&v6, &in6addr_loopback, sizeof(v6)) == 0;
		return 0;
	}
	colon = memchr(a, ':', len);
	hlen = colon != NULL ? (size_t)(colon - a) : len;
	if (!reg_name_ok(a, hlen))
		return fail(e, "issuer", "bad host name");
	if (!port_ok(a + hlen, len - hlen))
		return fail(e, "issuer",
			    "port must be 1..65535, without leading zeros");
	if (hlen == strlen("localhost") &&
	    strncasecmp(a, "localhost", hlen) == 0)
		*loopback = 1;
	else if (hlen < sizeof(host)) {
		memcpy(host, a, hlen);
		host[hlen] = '\0';
		*loopback = inet_pton(AF_INET, host, &v4) == 1 &&
			    (ntohl(v4.s_addr) >> 24) == 127;
	}
	return 0;
}

/* Checks the whole URL: allowed characters and well-formed %XX escapes. */
static int check_url_chars(const char *s, size_t len, struct cfg_err *e)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '?')
			return fail(e, "issuer", "must not have a query ('?')");
		if (c == '#')
			return fail(e, "issuer",
				    "must not have a fragment ('#')");
		if (!url_char(c))
			return fail(e, "issuer",
				    "character %zu is not allowed in a URL",
				    i + 1);
		if (c == '%' && (i + 2 >= len || af_hex_value(s[i + 1]) < 0 ||
				 af_hex_value(s[i + 2]) < 0))
			return fail(e, "issuer", "bad %%-escape");
	}
	return 0;
}

static int parse_issuer(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char https[] = "https://", http[] = "http://";
	char *iss = cfg->issuer;
	const char *auth, *slash;
	size_t len, alen;
	int loopback = 0;

	if (json_object_get(root, "issuer") == NULL)
		return fail(e, "issuer", "required");
	if (get_str(root, "", "issuer", iss, ISSUER_MAX + 1, e) != 0)
		return -1;
	len = strlen(iss);
	if (check_url_chars(iss, len, e) != 0)
		return -1;
	if (strncmp(iss, https, strlen(https)) == 0) {
		cfg->issuer_https = 1;
		auth = iss + strlen(https);
	} else if (strncmp(iss, http, strlen(http)) == 0) {
		cfg->issuer_https = 0;
		auth = iss + strlen(http);
	} else {
		return fail(e, "issuer", "must be an absolute https:// URL");
	}
	slash = strchr(auth, '/');
	alen = slash != NULL ? (size_t)(slash - auth) : strlen(auth);
	if (check_authority(auth, alen, &loopback, e) != 0)
		return -1;
	/*
	 * Scheme and host are case-insensitive (RFC 3986 6.2.2.1), but a
	 * client compares the issuer byte for byte: one form, lower case.
	 */
	for (char *c = iss; c < auth + alen; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if (slash != NULL && strpbrk(slash, "[]") != NULL)
		return fail(e, "issuer",
			    "'[' and ']' belong only around an "
			    "IPv6 host");
	/*
	 * Plain HTTP would hand codes and tokens to anyone on the path; it
	 * is only for a developer's own machine.
	 */
	if (!cfg->issuer_https && !loopback)
		return fail(e, "issuer",
			    "http:// is allowed only on a loopback host "
			    "(127.0.0.0/8, [::1], localhost); use https://");
	/*
	 * OIDC compares issuers byte for byte and clients append
	 * "/.well-known/...", so the canonical form has no trailing slash.
	 */
	if (iss[len - 1] == '/') {
		iss[--len] = '\0';
		if (len > 0 && iss[len - 1] == '/')
			return fail(e, "issuer", "must not end with \"//\"");
	}
	/*
	 * The server answers at the root of its host: every endpoint, page,
	 * form and static file is at "/...". An issuer with a path would
	 * advertise endpoints that answer 404.
	 */
	if (strchr(auth, '/') != NULL)
		return fail(e, "issuer",
			    "must have no path: serve authflow at the root "
			    "of its own host name (https://id.example.com)");
	return 0;
}

/* ---- sections -------------------------------------------------------- */

/*
 * An optional array of addresses or networks, as text (key of obj, at
 * path), into nets (at most max); *n is left alone when the key is absent.
 */
static int get_nets(json_t *obj, const char *key, const char *path,
		    af_ipnet *nets, size_t max, size_t *n, struct cfg_err *e)
{
	json_t *arr = json_object_get(obj, key);
	char epath[PATH_MAX_BYTES];
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return fail(e, path, "must be an array");
	if (json_array_size(arr) > max)
		return fail(e, path, "at most %zu entries", max);
	for (i = 0; i < json_array_size(arr); i++) {
		const char *t = json_string_value(json_array_get(arr, i));

		(void)snprintf(epath, sizeof(epath), "%s[%zu]", path, i);
		if (t == NULL || af_ipnet_parse(t, &nets[i]) != 0)
			return fail(e, epath,
				    "must be an IP address or a network such "
				    "as \"10.0.0.0/8\"");
	}
	*n = i;
	return 0;
}

/* listen.trusted_proxies: addresses or networks, as text. */
static int parse_proxies(json_t *s, af_config *cfg, struct cfg_err *e)
{
	return get_nets(s, "trusted_proxies", "listen.trusted_proxies",
			cfg->trusted_proxies, AF_CONFIG_PROXIES_MAX,
			&cfg->ntrusted_proxies, e);
}

/*
 * 1 after failing when text is no address a server can listen on: an
 * IPv4 or IPv6 literal, and not an IPv4-mapped one ("::ffff:127.0.0.1"),
 * which an IPv6-only socket cannot bind: the IPv4 address it maps is
 * the one to give.
 */
static int bad_listen_address(const char *text, const char *key,
			      struct cfg_err *e)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, text, &a4) == 1)
		return 0;
	if (inet_pton(AF_INET6, text, &a6) != 1) {
		fail(e, key, "must be an IPv4 or IPv6 address literal");
		return 1;
	}
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		fail(e, key,
		     "an IPv4-mapped IPv6 address: give the IPv4 address "
		     "itself");
		return 1;
	}
	return 0;
}

static int parse_listen(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"address", "port", "threads",
					   "trusted_proxies", NULL};
	json_t *s;
	unsigned long v;

	if (get_section(root, "", "listen", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (get_str(s, "listen", "address", cfg->listen_address,
		    sizeof(cfg->listen_address), e) != 0)
		return -1;
	if (bad_listen_address(cfg->listen_address, "listen.address", e))
		return -1;
	v = cfg->listen_port;
	if (get_uint(s, "listen", "port", 1, 65535, &v, e) != 0)
		return -1;
	cfg->listen_port = (uint16_t)v;
	v = cfg->threads;
	if (get_uint(s, "listen", "threads", 0, 256, &v, e) != 0)
		return -1;
	cfg->threads = (unsigned)v;
	return parse_proxies(s, cfg, e);
}

/*
 * Checks that path names a regular file we can open for reading. The file
 * is stat()ed before it is opened so that a device or FIFO named in the
 * file is never opened at all (opening some devices has side effects).
 */
static int check_file(const char *path, const char *name, int key_file,
		      struct cfg_err *e)
{
	struct cfg_err first = {e->later, e->latercap, NULL, 0};
	struct stat sb;
	char why[128];
	int fd;

	if (e->later != NULL) {
		if (e->latercap > 0 && e->later[0] == '\0')
			(void)check_file(path, name, key_file, &first);
		return 0;
	}
	if (stat(path, &sb) != 0) {
		af_errno_text(errno, why, sizeof(why));
		return fail(e, name, "%s: %s", path, why);
	}
	if (!S_ISREG(sb.st_mode))
		return fail(e, name, "%s: not a regular file", path);
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		af_errno_text(errno, why, sizeof(why));
		return fail(e, name, "%s: cannot open: %s", path, why);
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		(void)close(fd);
		return fail(e, name, "%s: not a regular file", path);
	}
	(void)close(fd);
	/*
	 * As OpenSMTPD does, a private key readable by the group or others
	 * is refused outright rather than used with a warning: by the time
	 * anyone reads the warning the key may already be copied.
	 */
	if (key_file && (sb.st_mode & 07177) != 0)
		return fail(e, name,
			    "%s has mode %04o; it must not be wider than 0600 "
			    "(chmod 600 %s)",
			    path, (unsigned)(sb.st_mode & 07777), path);
	return 0;
}

static int parse_tls(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"cert_file", "key_file", NULL};
	json_t *s;

	if (get_section(root, "", "tls", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (json_object_get(s, "cert_file") == NULL)
		return fail(e, "tls.cert_file", "required when tls is set");
	if (json_object_get(s, "key_file") == NULL)
		return fail(e, "tls.key_file", "required when tls is set");
	if (get_str(s, "tls", "cert_file", cfg->tls_cert_file,
		    sizeof(cfg->tls_cert_file), e) != 0 ||
	    get_str(s, "tls", "key_file", cfg->tls_key_file,
		    sizeof(cfg->tls_key_file), e) != 0)
		return -1;
	if (check_file(cfg->tls_cert_file, "tls.cert_file", 0, e) != 0 ||
	    check_file(cfg->tls_key_file, "tls.key_file", 1, e) != 0)
		return -1;
	/*
	 * Served over TLS, every address the server gives out (discovery,
	 * metadata URLs, redirects) must say https, or none of them works.
	 */
	if (!cfg->issuer_https)
		return fail(e, "tls",
			    "needs an https:// issuer: with tls set the "
			    "server speaks only https");
	return 0;
}

static int prefix_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       is_digit(c) || c == ':' || c == '_' || c == '-';
}

static int parse_store(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"backend", "url",	    "prefix",
					   "max_mb",  "timeout_ms", NULL};
	json_t *s, *v;
	char backend[16];
	unsigned long mb, ms;
	size_t i;

	if (get_section(root, "", "store", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	backend[0] = '\0';
	if (get_str(s, "store", "backend", backend, sizeof(backend), e) != 0)
		return -1;
	if (backend[0] == '\0' || strcmp(backend, "memory") == 0)
		cfg->store_backend = STORE_BACKEND_MEMORY;
	else if (strcmp(backend, "redis") == 0)
		cfg->store_backend = STORE_BACKEND_REDIS;
	else
		return fail(e, "store.backend",
			    "must be \"memory\" or \"redis\"");
	if (get_str(s, "store", "url", cfg->store_url, sizeof(cfg->store_url),
		    e) != 0)
		return -1;
	if (cfg->store_url[0] != '\0' &&
	    strncmp(cfg->store_url, "redis://", 8) != 0 &&
	    strncmp(cfg->store_url, "unix:", 5) != 0)
		return fail(e, "store.url",
			    "must start with \"redis://\" or \"unix:\"");
	if (cfg->store_backend == STORE_BACKEND_REDIS &&
	    cfg->store_url[0] == '\0')
		return fail(e, "store.url", "required when backend is redis");
	mb = cfg->store_max_mb;
	if (get_uint(s, "store", "max_mb", 16, 1048576, &mb, e) != 0)
		return -1;
	cfg->store_max_mb = (unsigned)mb;
	if (cfg->store_max_mb != 0 &&
	    cfg->store_backend != STORE_BACKEND_MEMORY)
		return fail(e, "store.max_mb",
			    "only for the memory backend (Redis has its own "
			    "maxmemory)");
	ms = cfg->store_timeout_ms;
	if (get_uint(s, "store", "timeout_ms", 100, 60000, &ms, e) != 0)
		return -1;
	cfg->store_timeout_ms = (unsigned)ms;
	if (cfg->store_timeout_ms != 0 &&
	    cfg->store_backend != STORE_BACKEND_REDIS)
		return fail(e, "store.timeout_ms",
			    "only for the redis backend (the memory backend "
			    "does not wait)");
	/* An empty prefix is allowed: get_str refuses it, so read it here. */
	v = json_object_get(s, "prefix");
	if (v != NULL && json_is_string(v) && json_string_length(v) == 0) {
		cfg->store_prefix[0] = '\0';
		return 0;
	}
	if (get_str(s, "store", "prefix", cfg->store_prefix,
		    sizeof(cfg->store_prefix), e) != 0)
		return -1;
	for (i = 0; cfg->store_prefix[i] != '\0'; i++) {
		if (!prefix_char(cfg->store_prefix[i]))
			return fail(e, "store.prefix",
				    "may hold only A-Z a-z 0-9 : _ -");
	}
	return 0;
}

static int parse_keys(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"algorithm", "rsa_bits",
					   "lifetime_days", "alert_days", NULL};
	json_t *s;
	char alg[16];
	unsigned long v;

	if (get_section(root, "", "keys", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	alg[0] = '\0';
	if (get_str(s, "keys", "algorithm", alg, sizeof(alg), e) != 0)
		return -1;
	if (alg[0] != '\0' && strcmp(alg, "RS256") != 0)
		return fail(e, "keys.algorithm", "must be \"RS256\"");
	v = cfg->rsa_bits;
	/* One message for every wrong value, negative ones too. */
	if (get_uint(s, "keys", "rsa_bits", 0, UINT_MAX, &v, e) != 0 ||
	    (v != 2048 && v != 3072 && v != 4096))
		return fail(e, "keys.rsa_bits", "must be 2048, 3072 or 4096");
	cfg->rsa_bits = (unsigned)v;
	v = cfg->key_lifetime_days;
	/* 2 at least: alert_days (1 at least) must fit below it. */
	if (get_uint(s, "keys", "lifetime_days", 2, 3650, &v, e) != 0)
		return -1;
	cfg->key_lifetime_days = (unsigned)v;
	v = cfg->key_alert_days;
	if (get_uint(s, "keys", "alert_days", 1, 3650, &v, e) != 0)
		return -1;
	cfg->key_alert_days = (unsigned)v;
	if (cfg->key_alert_days >= cfg->key_lifetime_days)
		return fail(e, "keys.alert_days",
			    "must be less than keys.lifetime_days (%u)",
			    cfg->key_lifetime_days);
	return 0;
}

/*
 * session.NAME, a duration: "off" (0) or min..max seconds, which range
 * says; *secs is left as it was when absent. 0 or -1.
 */
static int session_duration(json_t *s, const char *name, unsigned min,
			    unsigned max, const char *range, unsigned *secs,
			    struct cfg_err *e)
{
	char text[32], path[32];
	unsigned v;

	if (s == NULL || json_object_get(s, name) == NULL)
		return 0;
	snprintf(path, sizeof(path), "session.%s", name);
	if (get_str(s, "session", name, text, sizeof(text), e) != 0)
		return -1;
	if (af_duration_parse(text, &v) != 0)
		return fail(e, path,
			    "must be a duration such as \"2h\" or \"off\"");
	if (strcmp(text, "off") != 0 && (v < min || v > max))
		return fail(e, path, "must be \"off\" or %s", range);
	*secs = v;
	return 0;
}

static int parse_session(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"timeout", "idle_timeout", NULL};
	json_t *s;

	if (get_section(root, "", "session", keys, &s, e) != 0 ||
	    session_duration(s, "timeout", SESSION_MIN_S, SESSION_MAX_S,
			     "30m..4d", &cfg->session_timeout_s, e) != 0 ||
	    session_duration(s, "idle_timeout", IDLE_MIN_S, IDLE_MAX_S,
			     "5m..1d", &cfg->session_idle_s, e) != 0)
		return -1;
	if (cfg->session_idle_s > 0 && cfg->session_timeout_s > 0 &&
	    cfg->session_idle_s >= cfg->session_timeout_s)
		return fail(e, "session.idle_timeout",
			    "must be shorter than session.timeout");
	return 0;
}

static int parse_features(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"sso", "remote_access_mfa", NULL};
	json_t *s;

	if (get_section(root, "", "features", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (get_bool(s, "features", "sso", &cfg->feature_sso, e) != 0 ||
	    get_bool(s, "features", "remote_access_mfa",
		     &cfg->feature_remote_access_mfa, e) != 0)
		return -1;
	return 0;
}

static int parse_password_hash(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"argon2id", NULL};
	static const char *const akeys[] = {"m_kib", "t", "p", NULL};
	json_t *s, *a;
	unsigned long m = cfg->argon2_m_kib, t = cfg->argon2_t,
		      p = cfg->argon2_p;

	if (get_section(root, "", "password_hash", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (get_section(s, "password_hash", "argon2id", akeys, &a, e) != 0)
		return -1;
	if (a == NULL)
		return 0;
	if (get_uint(a, "password_hash.argon2id", "m_kib", 8,
		     AF_CONFIG_ARGON2_M_KIB_MAX, &m, e) != 0 ||
	    get_uint(a, "password_hash.argon2id", "t", 1,
		     AF_CONFIG_ARGON2_T_MAX, &t, e) != 0 ||
	    get_uint(a, "password_hash.argon2id", "p", 1,
		     AF_CONFIG_ARGON2_P_MAX, &p, e) != 0)
		return -1;
	/* Argon2 itself refuses less than 8 KiB per lane. */
	if (m < 8 * p)
		return fail(e, "password_hash.argon2id.m_kib",
			    "must be at least 8 * p (%lu)", 8 * p);
	cfg->argon2_m_kib = (uint32_t)m;
	cfg->argon2_t = (uint32_t)t;
	cfg->argon2_p = (uint32_t)p;
	return 0;
}

/* How long the audit trail keeps its events. */
static int parse_audit(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"keep_days", NULL};
	unsigned long days = cfg->audit_keep_days;
	json_t *s;

	if (get_section(root, "", "audit", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (get_uint(s, "audit", "keep_days", 0, AF_CONFIG_AUDIT_DAYS_MAX,
		     &days, e) != 0)
		return -1;
	cfg->audit_keep_days = (unsigned)days;
	return 0;
}

/* What becomes of accounts nobody uses. */
static int parse_accounts(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"inactive_days", NULL};
	unsigned long days = cfg->accounts_inactive_days;
	json_t *s;

	if (get_section(root, "", "accounts", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (get_uint(s, "accounts", "inactive_days", 0,
		     AF_CONFIG_INACTIVE_DAYS_MAX, &days, e) != 0)
		return -1;
	cfg->accounts_inactive_days = (unsigned)days;
	return 0;
}

/* What a password being set must be; passwords already set stay good. */
static int parse_passwords(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"min_length", "blocklist_file",
					   "temporary_hours", NULL};
	unsigned long n = cfg->pw_min_length, hours = cfg->pw_temporary_hours;
	json_t *s;

	if (get_section(root, "", "passwords", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (get_uint(s, "passwords", "min_length", AF_CONFIG_PW_MIN_LENGTH,
		     AF_CONFIG_PW_MIN_LENGTH_MAX, &n, e) != 0 ||
	    get_uint(s, "passwords", "temporary_hours", 1,
		     AF_CONFIG_PW_TEMP_HOURS_MAX, &hours, e) != 0)
		return -1;
	cfg->pw_min_length = (unsigned)n;
	cfg->pw_temporary_hours = (unsigned)hours;
	if (json_object_get(s, "blocklist_file") == NULL)
		return 0;
	if (get_str(s, "passwords", "blocklist_file", cfg->pw_blocklist_file,
		    sizeof(cfg->pw_blocklist_file), e) != 0)
		return -1;
	return check_file(cfg->pw_blocklist_file, "passwords.blocklist_file", 0,
			  e);
}

static int token_name_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      is_digit(*s) || *s == '.' || *s == '_' || *s == '-'))
			return 0;
	}
	return 1;
}

/*
 * The actors the server itself writes into the audit trail and the admin
 * request log. A token named like one of them would make its holder's
 * actions look like the server's own (a lock after failed sign-ins), a
 * phone's or a sign-in page's, or like a request whose token was refused.
 * Compared without regard to case: "AuthFlow" reads as "authflow".
 */
static const struct {
	const char *name;
	int prefix; /* 1: every name that starts with it */
	const char *why;
} reserved_actors[] = {
	{"authflow", 0, "the server's own audit events (user.lock)"},
	{"-", 0, "requests whose token check failed"},
	{"demo", 0, "the audit events of the demo's setup"},
	{"ip:", 1, "sign-in events by address (mfa.code_wrong)"},
	{"user:", 1, "events of users themselves (device.enroll_code)"},
	{"device:", 1, "events of phones (mfa.deny, device.enroll)"},
};

/* The reason name is reserved, or NULL when it may be a token's name. */
static const char *reserved_actor(const char *name)
{
	size_t i, n;

	for (i = 0; i < sizeof(reserved_actors) / sizeof(reserved_actors[0]);
	     i++) {
		n = strlen(reserved_actors[i].name);
		if (reserved_actors[i].prefix
			    ? strncasecmp(name, reserved_actors[i].name, n) == 0
			    : strcasecmp(name, reserved_actors[i].name) == 0)
			return reserved_actors[i].why;
	}
	return NULL;
}

/*
 * SHA-256 of the empty string. No request carries an empty bearer token
 * (the header parser refuses one), so an entry with this hash can never
 * match: it is a hash of nothing, not of the token meant.
 */
static const uint8_t empty_sha256[32] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
	0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
	0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

static int parse_token(json_t *t, const char *path, af_admin_token *tok,
		       struct cfg_err *e)
{
	static const char *const keys[] = {"name", "role", "sha256", NULL};
	static const char *const required[] = {"name", "role", "sha256"};
	char kpath[PATH_MAX_BYTES], role[16], hex[65];
	const char *why;
	size_t i;

	if (!json_is_object(t))
		return fail(e, path, "must be an object");
	if (check_keys(t, path, keys, e) != 0)
		return -1;
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (json_object_get(t, required[i]) == NULL) {
			join(kpath, sizeof(kpath), path, required[i]);
			return fail(e, kpath, "required");
		}
	}
	if (get_str(t, path, "name", tok->name, sizeof(tok->name), e) != 0 ||
	    get_str(t, path, "role", role, sizeof(role), e) != 0 ||
	    get_str(t, path, "sha256", hex, sizeof(hex), e) != 0)
		return -1;
	join(kpath, sizeof(kpath), path, "name");
	if (!token_name_ok(tok->name))
		return fail(e, kpath, "may hold only A-Z a-z 0-9 . _ -");
	why = reserved_actor(tok->name);
	if (why != NULL)
		return fail(e, kpath,
			    "\"%s\" is reserved: the audit trail and logs use "
			    "it for %s",
			    tok->name, why);
	if (strcmp(role, "admin") == 0) {
		tok->role = AF_ROLE_ADMIN;
	} else if (strcmp(role, "superadmin") == 0) {
		tok->role = AF_ROLE_SUPERADMIN;
	} else {
		join(kpath, sizeof(kpath), path, "role");
		return fail(e, kpath, "must be \"admin\" or \"superadmin\"");
	}
	join(kpath, sizeof(kpath), path, "sha256");
	if (strlen(hex) != 64)
		return fail(e, kpath, "must be 64 hex characters");
	for (i = 0; i < 32; i++) {
		int hi = af_hex_value(hex[2 * i]),
		    lo = af_hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return fail(e, kpath, "must be 64 hex characters");
		tok->sha256[i] = (uint8_t)(hi << 4 | lo);
	}
	if (memcmp(tok->sha256, empty_sha256, sizeof(empty_sha256)) == 0)
		return fail(e, kpath,
			    "is the SHA-256 of an empty token, which can never "
			    "match: hash the token itself");
	return 0;
}

static int parse_admin(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"tokens", "allow", NULL};
	json_t *s, *arr;
	char path[PATH_MAX_BYTES], kpath[PATH_MAX_BYTES];
	size_t i, j, n;

	if (get_section(root, "", "admin", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (json_object_get(s, "allow") != NULL) {
		if (get_nets(s, "allow", "admin.allow", cfg->admin_allow,
			     AF_CONFIG_ADMIN_ALLOW_MAX, &cfg->nadmin_allow,
			     e) != 0)
			return -1;
		cfg->admin_allow_set = 1;
	}
	if ((arr = json_object_get(s, "tokens")) == NULL)
		return 0;
	if (!json_is_array(arr))
		return fail(e, "admin.tokens", "must be an array");
	n = json_array_size(arr);
	if (n > AF_CONFIG_ADMIN_TOKENS_MAX)
		return fail(e, "admin.tokens", "at most %d tokens",
			    AF_CONFIG_ADMIN_TOKENS_MAX);
	for (i = 0; i < n; i++) {
		af_admin_token *tok = &cfg->admin_tokens[i];

		(void)snprintf(path, sizeof(path), "admin.tokens[%zu]", i);
		if (parse_token(json_array_get(arr, i), path, tok, e) != 0)
			return -1;
		/*
		 * Names identify tokens in the logs, and two entries with one
		 * hash would make that token's role depend on list order, so
		 * both must be unique. Names in any case: logs and the tools
		 * that read them often fold case.
		 */
		for (j = 0; j < i; j++) {
			if (strcasecmp(cfg->admin_tokens[j].name, tok->name) ==
			    0) {
				join(kpath, sizeof(kpath), path, "name");
				return fail(e, kpath,
					    "duplicate name \"%s\" (token "
					    "names must differ, and in more "
					    "than case)",
					    tok->name);
			}
			if (memcmp(cfg->admin_tokens[j].sha256, tok->sha256,
				   sizeof(tok->sha256)) == 0) {
				join(kpath, sizeof(kpath), path, "sha256");
				return fail(e, kpath,
					    "same token as admin.tokens[%zu]",
					    j);
			}
		}
	}
	cfg->admin_token_count = n;
	return 0;
}

static int parse_log(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"level", NULL};
	static const struct {
		const char *name;
		log_level level;
	} levels[] = {{"error", LOG_LEVEL_ERROR},
		      {"warn", LOG_LEVEL_WARN},
		      {"info", LOG_LEVEL_INFO},
		      {"debug", LOG_LEVEL_DEBUG}};
	json_t *s;
	char name[16];
	size_t i;

	if (get_section(root, "", "log", keys, &s, e) != 0)
		return -1;
	if (s == NULL || json_object_get(s, "level") == NULL)
		return 0;
	if (get_str(s, "log", "level", name, sizeof(name), e) != 0)
		return -1;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(name, levels[i].name) == 0) {
			cfg->log_level = (int)levels[i].level;
			return 0;
		}
	}
	return fail(e, "log.level",
		    "must be \"error\", \"warn\", \"info\" or \"debug\"");
}

/* metrics.allow: who may read /metrics; an empty list, nobody. */
static int parse_metrics(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"allow", NULL};
	json_t *s;

	if (get_section(root, "", "metrics", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	return get_nets(s, "allow", "metrics.allow", cfg->metrics_allow,
			AF_CONFIG_METRICS_ALLOW_MAX, &cfg->nmetrics_allow, e);
}

static int parse_limits(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"body_bytes",
					   "request_timeout_s",
					   "connections_per_ip",
					   "lockout_s",
					   "lockout_after",
					   "flows_per_ip",
					   "codes_per_user",
					   "known_browser_days",
					   "device_requests_per_minute",
					   NULL};
	json_t *s;
	unsigned long v;

	if (get_section(root, "", "limits", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	v = cfg->body_max;
	if (get_uint(s, "limits", "body_bytes", 1024, 1048576, &v, e) != 0)
		return -1;
	cfg->body_max = v;
	v = cfg->request_timeout_s;
	if (get_uint(s, "limits", "request_timeout_s", 1, 300, &v, e) != 0)
		return -1;
	cfg->request_timeout_s = (unsigned)v;
	v = cfg->connections_per_ip;
	if (get_uint(s, "limits", "connections_per_ip", 0, 65535, &v, e) != 0)
		return -1;
	cfg->connections_per_ip = (unsigned)v;
	v = cfg->lockout_s;
	if (get_uint(s, "limits", "lockout_s", 0, 2592000, &v, e) != 0)
		return -1;
	cfg->lockout_s = (unsigned)v;
	v = cfg->lockout_after;
	if (get_uint(s, "limits", "lockout_after", AF_CONFIG_LOCKOUT_AFTER_MIN,
		     AF_CONFIG_LOCKOUT_AFTER_MAX, &v, e) != 0)
		return -1;
	cfg->lockout_after = (unsigned)v;
	v = cfg->flows_per_ip;
	if (get_uint(s, "limits", "flows_per_ip", 0, 1000000, &v, e) != 0)
		return -1;
	cfg->flows_per_ip = (unsigned)v;
	v = cfg->codes_per_user;
	if (get_uint(s, "limits", "codes_per_user", 0, 100000, &v, e) != 0)
		return -1;
	cfg->codes_per_user = (unsigned)v;
	v = cfg->device_requests_per_minute;
	if (get_uint(s, "limits", "device_requests_per_minute", 0, 100000, &v,
		     e) != 0)
		return -1;
	cfg->device_requests_per_minute = (unsigned)v;
	v = cfg->known_browser_days;
	/* Browsers keep a cookie 400 days at most (RFC 6265bis 4.1.2.2). */
	if (get_uint(s, "limits", "known_browser_days", 0, 400, &v, e) != 0)
		return -1;
	cfg->known_browser_days = (unsigned)v;
	return 0;
}

/* ---- push ------------------------------------------------------------ */

int af_config_push_url_ok(const char *url, int path_ok, char *why,
			  size_t whycap)
{
	CURLU *u = curl_url();
	CURLUcode rc;
	char *part = NULL;
	int ok = -1;

	if (u == NULL) {
		(void)snprintf(why, whycap, "out of memory");
		return -1;
	}
	if (strncmp(url, "https://", 8) != 0) {
		(void)snprintf(why, whycap, "must be an https:// URL");
		goto out;
	}
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK) {
		(void)snprintf(why, whycap, "not a URL (%s)",
			       curl_url_strerror(rc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK) {
		(void)snprintf(why, whycap, "must not hold a user name");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK ||
	    part[0] == '\0') {
		(void)snprintf(why, whycap, "names no host");
		goto out;
	}
	curl_free(part);
	part = NULL;
	/* libcurl takes port 0, on which no service answers. */
	if (curl_url_get(u, CURLUPART_PORT, &part, 0) == CURLUE_OK &&
	    strcmp(part, "0") == 0) {
		(void)snprintf(why, whycap, "port must be 1..65535");
		goto out;
	}
	curl_free(part);
	part = NULL;
	if (!path_ok &&
	    (curl_url_get(u, CURLUPART_PATH, &part, 0) != CURLUE_OK ||
	     strcmp(part, "/") != 0)) {
		(void)snprintf(why, whycap,
			       "must be the service's root, https://HOST or "
			       "https://HOST:PORT, without a path");
		goto out;
	}
	ok = 0;
out:
	curl_free(part);
	curl_url_cleanup(u);
	return ok;
}

/*
 * Reads an optional https:// URL of a push service (endpoint, token_uri)
 * into out, dropping one trailing slash. Push credentials travel to these
 * URLs, so plain http:// is refused as for the issuer, and so are blanks,
 * queries and fragments that would make the request URLs ambiguous, and
 * what libcurl would not send to (a port out of range, no host). A
 * service's endpoint is its root, to which the request paths are added;
 * only the OAuth token_uri (path_ok) has a path of its own.
 */
static int get_push_url(json_t *obj, const char *parent, const char *key,
			int path_ok, char *out, size_t cap, struct cfg_err *e)
{
	char path[PATH_MAX_BYTES], why[160];
	size_t i, len;

	if (json_object_get(obj, key) == NULL)
		return 0;
	if (get_str(obj, parent, key, out, cap, e) != 0)
		return -1;
	join(path, sizeof(path), parent, key);
	len = strlen(out);
	if (strncmp(out, "https://", 8) != 0 || len == 8)
		return fail(e, path, "must be an https:// URL");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (!url_char(c) || c == '?' || c == '#')
			return fail(e, path,
				    "character %zu is not allowed here", i + 1);
	}
	if (af_config_push_url_ok(out, path_ok, why, sizeof(why)) != 0)
		return fail(e, path, "%s", why);
	if (out[len - 1] == '/')
		out[len - 1] = '\0';
	return 0;
}

/* Refuses a missing member that a present section needs. */
static int need(json_t *obj, const char *parent, const char *key,
		struct cfg_err *e)
{
	char path[PATH_MAX_BYTES];

	if (json_object_get(obj, key) != NULL)
		return 0;
	join(path, sizeof(path), parent, key);
	return fail(e, path, "required when %s is set", parent);
}

/* Apple's team and key ids: ten characters of A-Z and 0-9. */
static int apns_id_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (!((s[i] >= 'A' && s[i] <= 'Z') || is_digit(s[i])))
			return 0;
	}
	return i == AF_CONFIG_APNS_ID_LEN;
}

/* A bundle id such as com.example.authenticator: printable, no blanks. */
static int topic_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      is_digit(*s) || *s == '.' || *s == '-' || *s == '_'))
			return 0;
	}
	return 1;
}

static int parse_apns(json_t *push, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {
		"endpoint", "sandbox_endpoint", "team_id",
		"key_id",   "key_file",		"topic",
		"ca_file",  "connections",	NULL};
	static const char *const required[] = {"team_id", "key_id", "key_file",
					       "topic", NULL};
	static const char P[] = "push.apns";
	af_apns_config *a = &cfg->apns;
	unsigned long v = a->connections;
	char team[32] = "", kid[32] = "";
	json_t *s;
	size_t i;

	if (get_section(push, "push", "apns", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	for (i = 0; required[i] != NULL; i++) {
		if (need(s, P, required[i], e) != 0)
			return -1;
	}
	if (get_push_url(s, P, "endpoint", 0, a->endpoint, sizeof(a->endpoint),
			 e) != 0 ||
	    get_push_url(s, P, "sandbox_endpoint", 0, a->sandbox_endpoint,
			 sizeof(a->sandbox_endpoint), e) != 0 ||
	    get_str(s, P, "team_id", team, sizeof(team), e) != 0 ||
	    get_str(s, P, "key_id", kid, sizeof(kid), e) != 0)
		return -1;
	/* Read into larger buffers first, to tell "too long" from "bad". */
	if (!apns_id_ok(team))
		return fail(e, "push.apns.team_id",
			    "must be 10 characters of A-Z and 0-9");
	if (!apns_id_ok(kid))
		return fail(e, "push.apns.key_id",
			    "must be 10 characters of A-Z and 0-9");
	memcpy(a->team_id, team, sizeof(a->team_id));
	memcpy(a->key_id, kid, sizeof(a->key_id));
	if (get_str(s, P, "key_file", a->key_file, sizeof(a->key_file), e) !=
		    0 ||
	    check_file(a->key_file, "push.apns.key_file", 1, e) != 0)
		return -1;
	if (get_str(s, P, "topic", a->topic, sizeof(a->topic), e) != 0)
		return -1;
	if (!topic_ok(a->topic))
		return fail(e, "push.apns.topic",
			    "may hold only A-Z a-z 0-9 . - _");
	if (get_str(s, P, "ca_file", a->ca_file, sizeof(a->ca_file), e) != 0 ||
	    (a->ca_file[0] != '\0' &&
	     check_file(a->ca_file, "push.apns.ca_file", 0, e) != 0))
		return -1;
	if (get_uint(s, P, "connections", 1, AF_CONFIG_PUSH_CONNS_MAX, &v, e) !=
	    0)
		return -1;
	a->connections = (unsigned)v;
	cfg->push_apns = 1;
	return 0;
}

static int parse_fcm(json_t *push, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {
		"endpoint", "service_account_file", "token_uri",
		"ca_file",  "connections",	    NULL};
	static const char P[] = "push.fcm";
	af_fcm_config *f = &cfg->fcm;
	unsigned long v = f->connections;
	json_t *s;

	if (get_section(push, "push", "fcm", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (need(s, P, "service_account_file", e) != 0)
		return -1;
	if (get_push_url(s, P, "endpoint", 0, f->endpoint, sizeof(f->endpoint),
			 e) != 0 ||
	    get_push_url(s, P, "token_uri", 1, f->token_uri,
			 sizeof(f->token_uri), e) != 0)
		return -1;
	if (get_str(s, P, "service_account_file", f->service_account_file,
		    sizeof(f->service_account_file), e) != 0 ||
	    check_file(f->service_account_file, "push.fcm.service_account_file",
		       1, e) != 0)
		return -1;
	if (get_str(s, P, "ca_file", f->ca_file, sizeof(f->ca_file), e) != 0 ||
	    (f->ca_file[0] != '\0' &&
	     check_file(f->ca_file, "push.fcm.ca_file", 0, e) != 0))
		return -1;
	if (get_uint(s, P, "connections", 1, AF_CONFIG_PUSH_CONNS_MAX, &v, e) !=
	    0)
		return -1;
	f->connections = (unsigned)v;
	cfg->push_fcm = 1;
	return 0;
}

static int parse_push_listen(json_t *push, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"address", "port", NULL};
	unsigned long v = cfg->push_listen_port;
	json_t *s;

	if (get_section(push, "push", "listen", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	if (get_str(s, "push.listen", "address", cfg->push_listen_address,
		    sizeof(cfg->push_listen_address), e) != 0)
		return -1;
	if (bad_listen_address(cfg->push_listen_address, "push.listen.address",
			       e))
		return -1;
	if (get_uint(s, "push.listen", "port", 1, 65535, &v, e) != 0)
		return -1;
	cfg->push_listen_port = (uint16_t)v;
	return 0;
}

/*
 * The push section. Its mode defaults from the store: with the memory
 * store the jobs live inside the authflow process, so only workers in that
 * process can see them, and "daemon" is refused outright rather than
 * leaving every push queued forever.
 */
static int parse_push(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {"mode", "workers", "names", "listen",
					   "apns", "fcm",     NULL};
	unsigned long v = cfg->push_workers;
	char mode[16];
	json_t *s;

	cfg->push_mode = cfg->store_backend == STORE_BACKEND_REDIS
				 ? AF_PUSH_DAEMON
				 : AF_PUSH_EMBEDDED;
	if (get_section(root, "", "push", keys, &s, e) != 0)
		return -1;
	if (s == NULL)
		return 0;
	mode[0] = '\0';
	if (get_str(s, "push", "mode", mode, sizeof(mode), e) != 0)
		return -1;
	if (strcmp(mode, "embedded") == 0)
		cfg->push_mode = AF_PUSH_EMBEDDED;
	else if (strcmp(mode, "daemon") == 0)
		cfg->push_mode = AF_PUSH_DAEMON;
	else if (mode[0] != '\0')
		return fail(e, "push.mode",
			    "must be \"embedded\" or \"daemon\"");
	if (cfg->push_mode == AF_PUSH_DAEMON &&
	    cfg->store_backend != STORE_BACKEND_REDIS)
		return fail(e, "push.mode",
			    "\"daemon\" needs store.backend \"redis\": with "
			    "the memory store the jobs never leave the "
			    "authflow process");
	if (get_uint(s, "push", "workers", 0, AF_CONFIG_PUSH_WORKERS_MAX, &v,
		     e) != 0)
		return -1;
	cfg->push_workers = (unsigned)v;
	if (get_bool(s, "push", "names", &cfg->push_names, e) != 0)
		return -1;
	if (parse_push_listen(s, cfg, e) != 0 || parse_apns(s, cfg, e) != 0 ||
	    parse_fcm(s, cfg, e) != 0)
		return -1;
	return 0;
}

static int parse_root(json_t *root, af_config *cfg, struct cfg_err *e)
{
	static const char *const keys[] = {
		"issuer",   "listen",  "tls",	   "state_dir",	    "store",
		"keys",	    "session", "features", "password_hash", "passwords",
		"admin",    "log",     "limits",   "push",	    "metrics",
		"accounts", "audit",   NULL};

	if (!json_is_object(root))
		return fail(e, "(top level)", "must be a JSON object");
	if (check_keys(root, "", keys, e) != 0)
		return -1;
	if (parse_issuer(root, cfg, e) != 0 ||
	    parse_listen(root, cfg, e) != 0 || parse_tls(root, cfg, e) != 0 ||
	    get_str(root, "", "state_dir", cfg->state_dir,
		    sizeof(cfg->state_dir), e) != 0 ||
	    parse_store(root, cfg, e) != 0 || parse_keys(root, cfg, e) != 0 ||
	    parse_session(root, cfg, e) != 0 ||
	    parse_features(root, cfg, e) != 0 ||
	    parse_password_hash(root, cfg, e) != 0 ||
	    parse_passwords(root, cfg, e) != 0 ||
	    parse_accounts(root, cfg, e) != 0 ||
	    parse_audit(root, cfg, e) != 0 || parse_admin(root, cfg, e) != 0 ||
	    parse_log(root, cfg, e) != 0 || parse_metrics(root, cfg, e) != 0 ||
	    parse_limits(root, cfg, e) != 0 || parse_push(root, cfg, e) != 0)
		return -1;
	return 0;
}

/*
 * jansson quotes the offending input in its message ("near '...'"), which
 * may hold newlines or bytes that are not UTF-8; the message must stay one
 * printable line, so those become '?'.
 */
static void printable(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
	}
}

/* Whether text[0..len) is only JSON white space (or nothing). */
static int blank(const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (strchr(" \t\r\n", text[i]) == NULL || text[i] == '\0')
			return 0;
	return 1;
}

static int parse_text(const char *text, size_t len, af_config *cfg,
		      struct cfg_err *e)
{
	json_error_t jerr;
	json_t *root = NULL;
	af_config *tmp = NULL;
	int rc = -1;

	if (cfg == NULL || (text == NULL && len > 0))
		return fail(e, "config", "invalid argument");
	af_config_defaults(cfg);
	if (len > FILE_MAX)
		return fail(e, "config", "larger than %zu bytes", FILE_MAX);
	/* Heap, not stack: the struct holds every admin token. */
	tmp = malloc(sizeof(*tmp));
	if (tmp == NULL) {
		fail(e, "config", "out of memory");
		goto out;
	}
	af_config_defaults(tmp);
	/* What jansson would call an "unexpected" or "invalid token". */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		fail(e, "config",
		     "starts with a UTF-8 byte order mark; save it without "
		     "one");
		goto out;
	}
	if (blank(text, len)) {
		fail(e, "config", "empty: a JSON object is needed");
		goto out;
	}
	root = json_loadb(text != NULL ? text : "", len,
			  JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		char why[sizeof(jerr.text)];

		af_json_why(jerr.text, why, sizeof(why));
		printable(why);
		fail(e, "config", "line %d, column %d: %s", jerr.line,
		     jerr.column, why);
		goto out;
	}
	if (parse_root(root, tmp, e) != 0)
		goto out;
	memcpy(cfg, tmp, sizeof(*cfg));
	rc = 0;
out:
	json_decref(root);
	/* It holds what the file holds: the store's password among it. */
	if (tmp != NULL)
		OPENSSL_clear_free(tmp, sizeof(*tmp));
	return rc;
}

int af_config_parse(const char *text, size_t len, af_config *cfg, char *err,
		    size_t errlen)
{
	struct cfg_err e = {err, errlen, NULL, 0};

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return parse_text(text, len, cfg, &e);
}

/* Formats "path: what: errno text" into the caller's buffer. */
static int io_fail(struct cfg_err *e, const char *path, const char *what,
		   int errnum)
{
	char why[128];

	af_errno_text(errnum, why, sizeof(why));
	return fail(e, path, "%s: %s", what, why);
}

/* 1 when url carries a password: "redis://[USER]:PASSWORD@HOST...". */
static int url_has_password(const char *url)
{
	const char *a;

	if (strncmp(url, "redis://", 8) != 0)
		return 0;
	a = url + 8;
	return memchr(a, '@', strcspn(a, "/")) != NULL;
}

static int load_path(const char *path, af_config *cfg, char *err, size_t errlen,
		     char *later, size_t latercap)
{
	struct cfg_err e = {err, errlen, later, latercap};
	char inner[512] = "";
	struct cfg_err ie = {inner, sizeof(inner), later, latercap};
	char *buf = NULL;
	struct stat sb;
	size_t len = 0;
	ssize_t n;
	int fd = -1, rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (later != NULL && latercap > 0)
		later[0] = '\0';
	if (path == NULL || cfg == NULL)
		return fail(&e, "config", "invalid argument");
	af_config_defaults(cfg);
	/* O_NONBLOCK: a FIFO with no writer would hold open() for ever;
	 * opened at once, it is refused below like any other non-file. */
	fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		io_fail(&e, path, "cannot open", errno);
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		io_fail(&e, path, "cannot stat", errno);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		fail(&e, path, "not a regular file");
		goto out;
	}
	/*
	 * The file names the administrators (admin.tokens) and where the
	 * state and keys are: whoever may change it is an administrator at
	 * the next start. Only its owner may write it, and the owner is
	 * root or the user the program runs as.
	 */
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		fail(&e, path,
		     "has mode %04o: its group or others may change it, and "
		     "with it who administers the server (chmod go-w it)",
		     (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
		fail(&e, path,
		     "is owned by user %u, neither root nor the user this "
		     "runs as (%u): that user could change who administers "
		     "the server",
		     (unsigned)sb.st_uid, (unsigned)geteuid());
		goto out;
	}
	if (sb.st_size > (off_t)FILE_MAX) {
		fail(&e, path, "larger than %zu bytes", FILE_MAX);
		goto out;
	}
	/* One spare byte tells a file that grew after fstat() from one that
	 * is exactly at the cap. */
	buf = malloc(FILE_MAX + 1);
	if (buf == NULL) {
		fail(&e, path, "out of memory");
		goto out;
	}
	while (len < FILE_MAX + 1) {
		n = read(fd, buf + len, FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			io_fail(&e, path, "cannot read", errno);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > FILE_MAX) {
		fail(&e, path, "larger than %zu bytes", FILE_MAX);
		goto out;
	}
	if (parse_text(buf, len, cfg, &ie) != 0) {
		fail(&e, path, "%s", inner);
		goto out;
	}
	/*
	 * The store's password in a file others may read is refused, as a
	 * private key file is (the service's group may read it).
	 */
	if (url_has_password(cfg->store_url) && (sb.st_mode & S_IRWXO) != 0) {
		OPENSSL_cleanse(cfg->store_url, sizeof(cfg->store_url));
		fail(&e, path,
		     "has mode %04o and holds the store's password in "
		     "store.url: others must not read it (chmod o-rwx %s)",
		     (unsigned)(sb.st_mode & 07777), path);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		(void)close(fd);
	if (buf != NULL)
		OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

int af_config_load(const char *path, af_config *cfg, char *err, size_t errlen)
{
	return load_path(path, cfg, err, errlen, NULL, 0);
}

int af_config_load_later(const char *path, af_config *cfg, char *err,
			 size_t errlen, char *later, size_t latercap)
{
	return load_path(path, cfg, err, errlen, later, latercap);
}
