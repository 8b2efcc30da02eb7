/* Known browsers: a cookie of MACs that exempts a user's own browser
 * from the lock others can run the user into. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/log.h"
#include "common/util.h"
#include "directory/directory.h"
#include "session/known.h"

#define KEY_NAME    "known_browser_key"
#define LABEL	    "authflow known browser 1"
#define TIME_BYTES  8
#define MAC_BYTES   16
#define ENTRY_BYTES (TIME_BYTES + MAC_BYTES)

const char *af_known_strerror(af_known_status st)
{
	switch (st) {
	case AF_KNOWN_OK:
		return "ok";
	case AF_KNOWN_NONE:
		return "not a known browser";
	case AF_KNOWN_INVALID:
		return "invalid argument";
	case AF_KNOWN_STORE:
		return "the known-browser key could not be read or made";
	case AF_KNOWN_CRYPTO:
		return "cryptographic failure";
	}
	return "unknown status";
}

/* A user as entries name it: name, sub and generation. */
typedef struct who {
	char text[AF_DIR_USERNAME_MAX + 1 + AF_KNOWN_SUB_MAX + 1 + 24];
	size_t len;
} who;

/*
 * who for user (folded as the directory keeps it), sub and gen: -1 when
 * the name is malformed or sub empty or too long. Entries made before the
 * user's password was set, sessions ended or account removed then match
 * no more: all raise the generation, and a user made again under the name
 * has a new sub.
 */
static int who_of(const char *user, const char *sub, int64_t gen, who *w)
{
	char name[AF_DIR_USERNAME_MAX + 1];
	size_t slen = sub != NULL ? strnlen(sub, AF_KNOWN_SUB_MAX + 1) : 0;
	int n;

	if (af_dir_user_canonical(user, name, sizeof(name)) != AF_DIR_OK ||
	    slen == 0 || slen > AF_KNOWN_SUB_MAX)
		return -1;
	n = snprintf(w->text, sizeof(w->text), "%s%c%s%c%lld", name, '\0', sub,
		     '\0', (long long)gen);
	if (n < 0 || (size_t)n >= sizeof(w->text))
		return -1;
	w->len = (size_t)n;
	return 0;
}

/*
 * The MAC of an entry issued at t (8 bytes, as in the entry) for the user
 * in text: name, sub and sign-in generation, NUL-separated (who_of()).
 */
static af_known_status mac_of(const uint8_t key[AF_KNOWN_KEY_BYTES],
			      const uint8_t t[TIME_BYTES], const char *text,
			      size_t len, uint8_t out[MAC_BYTES])
{
	uint8_t full[EVP_MAX_MD_SIZE];
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end()};
	size_t outl = 0;
	af_known_status st = AF_KNOWN_CRYPTO;

	/* The label and a NUL, the time, who: no two inputs alike. */
	if (ctx != NULL &&
	    EVP_MAC_init(ctx, key, AF_KNOWN_KEY_BYTES, params) == 1 &&
	    EVP_MAC_update(ctx, (const uint8_t *)LABEL, sizeof(LABEL)) == 1 &&
	    EVP_MAC_update(ctx, t, TIME_BYTES) == 1 &&
	    EVP_MAC_update(ctx, (const uint8_t *)text, len) == 1 &&
	    EVP_MAC_final(ctx, full, &outl, sizeof(full)) == 1 &&
	    outl >= MAC_BYTES) {
		memcpy(out, full, MAC_BYTES);
		st = AF_KNOWN_OK;
	}
	OPENSSL_cleanse(full, sizeof(full));
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return st;
}

static void time_put(int64_t t, uint8_t out[TIME_BYTES])
{
	uint64_t u = (uint64_t)t;

	for (int i = TIME_BYTES - 1; i >= 0; i--) {
		out[i] = (uint8_t)(u & 0xff);
		u >>= 8;
	}
}

static int64_t time_get(const uint8_t in[TIME_BYTES])
{
	uint64_t u = 0;

	for (int i = 0; i < TIME_BYTES; i++)
		u = (u << 8) | in[i];
	return u > (uint64_t)INT64_MAX ? -1 : (int64_t)u;
}

/*
 * The next entry of *value (advanced past it and its '.') decoded into
 * raw: 1 when well formed and issued within the lifetime, 0 when not, -1
 * at the end. A value of more than AF_KNOWN_ENTRIES_MAX entries has the
 * rest ignored by the callers' counts.
 */
static int next_entry(const char **value, int64_t now, int64_t life_s,
		      uint8_t raw[ENTRY_BYTES])
{
	const char *s = *value;
	size_t n = strcspn(s, ".");
	size_t got = 0;
	int64_t t;

	if (*s == '\0')
		return -1;
	*value = s[n] == '.' ? s + n + 1 : s + n;
	if (n != AF_KNOWN_ENTRY_LEN || !af_b64url_text_ok(s, n) ||
	    af_b64url_decode(s, n, raw, ENTRY_BYTES, &got) != 0 ||
	    got != ENTRY_BYTES)
		return 0;
	t = time_get(raw);
	return t >= 0 && t <= now + AF_KNOWN_SKEW_S && now - t < life_s;
}

/* What read_entry() found. */
enum entry_kind {
	ENTRY_END,    /* no entry left */
	ENTRY_BAD,    /* malformed, or outside its lifetime */
	ENTRY_OTHER,  /* another user's, or made under another key */
	ENTRY_MINE,   /* name's; its MAC (the browser id) in want */
	ENTRY_CRYPTO, /* the MAC could not be made */
};

/* The next entry of *value, as next_entry() reads it, for name. */
static enum entry_kind read_entry(const uint8_t key[AF_KNOWN_KEY_BYTES],
				  const char **value, const who *w, int64_t now,
				  int64_t life_s, uint8_t raw[ENTRY_BYTES],
				  uint8_t want[MAC_BYTES])
{
	int r = next_entry(value, now, life_s, raw);

	if (r < 0)
		return ENTRY_END;
	if (r == 0)
		return ENTRY_BAD;
	if (mac_of(key, raw, w->text, w->len, want) != AF_KNOWN_OK)
		return ENTRY_CRYPTO;
	return CRYPTO_memcmp(want, raw + TIME_BYTES, MAC_BYTES) == 0
		       ? ENTRY_MINE
		       : ENTRY_OTHER;
}

af_known_status af_known_match(const uint8_t key[AF_KNOWN_KEY_BYTES],
			       const char *value, const af_known_user *u,
			       int64_t now, int64_t life_s,
			       char id[AF_KNOWN_ID_BUF])
{
	who w;
	uint8_t raw[ENTRY_BYTES], want[MAC_BYTES];
	af_known_status st = AF_KNOWN_NONE;
	enum entry_kind k = ENTRY_BAD;

	if (id != NULL)
		id[0] = '\0';
	if (key == NULL || id == NULL || life_s <= 0)
		return AF_KNOWN_INVALID;
	if (value == NULL || u == NULL ||
	    who_of(u->name, u->sub, u->gen, &w) != 0)
		return AF_KNOWN_NONE;
	for (unsigned i = 0; i < AF_KNOWN_ENTRIES_MAX && k != ENTRY_END &&
			     k != ENTRY_MINE && k != ENTRY_CRYPTO;
	     i++)
		k = read_entry(key, &value, &w, now, life_s, raw, want);
	if (k == ENTRY_MINE) {
		af_hex(want, MAC_BYTES, id);
		st = AF_KNOWN_OK;
	} else if (k == ENTRY_CRYPTO) {
		st = AF_KNOWN_CRYPTO;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(want, sizeof(want));
	return st;
}

/* 1 when the entry at at is among the n already in out, else 0. */
static int kept_already(const char *out, size_t len, const char *at)
{
	for (size_t o = 0; o + AF_KNOWN_ENTRY_LEN <= len;
	     o += AF_KNOWN_ENTRY_LEN + 1) {
		if (memcmp(out + o, at, AF_KNOWN_ENTRY_LEN) == 0)
			return 1;
	}
	return 0;
}

af_known_status af_known_add(const uint8_t key[AF_KNOWN_KEY_BYTES],
			     const char *value, const af_known_user *u,
			     int64_t now, int64_t life_s, char *out,
			     size_t outcap)
{
	who w;
	uint8_t raw[ENTRY_BYTES], want[MAC_BYTES];
	af_known_status st = AF_KNOWN_OK;
	enum entry_kind k = ENTRY_BAD;
	size_t len;
	unsigned kept = 1;

	if (out != NULL && outcap > 0)
		out[0] = '\0';
	if (key == NULL || out == NULL || outcap < AF_KNOWN_VALUE_BUF ||
	    life_s <= 0 || now < 0 || u == NULL ||
	    who_of(u->name, u->sub, u->gen, &w) != 0)
		return AF_KNOWN_INVALID;
	time_put(now, raw);
	if (mac_of(key, raw, w.text, w.len, raw + TIME_BYTES) != AF_KNOWN_OK ||
	    af_b64url_encode(raw, ENTRY_BYTES, out, outcap) != 0) {
		out[0] = '\0';
		return AF_KNOWN_CRYPTO;
	}
	len = AF_KNOWN_ENTRY_LEN;
	/* The others' entries, as they were, after the user's new one. */
	for (unsigned i = 0; value != NULL && i < AF_KNOWN_ENTRIES_MAX &&
			     kept < AF_KNOWN_ENTRIES_MAX && k != ENTRY_END;
	     i++) {
		const char *at = value;

		k = read_entry(key, &value, &w, now, life_s, raw, want);
		if (k == ENTRY_CRYPTO) {
			st = AF_KNOWN_CRYPTO;
			break;
		}
		/* Once each: a copy would take another user's place. */
		if (k != ENTRY_OTHER || kept_already(out, len, at))
			continue;
		out[len++] = '.';
		memcpy(out + len, at, AF_KNOWN_ENTRY_LEN);
		len += AF_KNOWN_ENTRY_LEN;
		out[len] = '\0';
		kept++;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(want, sizeof(want));
	if (st != AF_KNOWN_OK)
		out[0] = '\0';
	return st;
}

af_known_status af_known_key(store_ctx *store, uint8_t key[AF_KNOWN_KEY_BYTES])
{
	if (store == NULL || key == NULL)
		return AF_KNOWN_INVALID;
	return store_secret(store, KEY_NAME, key, AF_KNOWN_KEY_BYTES) ==
			       STORE_OK
		       ? AF_KNOWN_OK
		       : AF_KNOWN_STORE;
}

static int64_t life_of(const af_server *srv)
{
	return (int64_t)srv->cfg.known_browser_days * 86400;
}

af_known_status af_known_browser(af_server *srv, const af_req *req,
				 const char *user, char id[AF_KNOWN_ID_BUF])
{
	char value[AF_KNOWN_VALUE_BUF];
	uint8_t key[AF_KNOWN_KEY_BYTES];
	af_known_user u;
	json_t *rec = NULL;
	af_known_status st;
	af_dir_status dst;

	if (id == NULL)
		return AF_KNOWN_INVALID;
	id[0] = '\0';
	if (srv == NULL || req == NULL || life_of(srv) == 0 ||
	    af_req_cookie(req, AF_KNOWN_COOKIE, value, sizeof(value)) != 0)
		return AF_KNOWN_NONE;
	/* A name nobody has is known to no browser. */
	dst = af_dir_user_get(srv->dir, user, &rec);
	if (dst == AF_DIR_NOT_FOUND || dst == AF_DIR_INVALID) {
		json_decref(rec);
		return AF_KNOWN_NONE;
	}
	u.name = user;
	u.sub = json_string_value(json_object_get(rec, "sub"));
	u.gen = af_dir_user_gen(rec);
	st = dst != AF_DIR_OK ? AF_KNOWN_STORE : af_known_key(srv->store, key);
	if (st == AF_KNOWN_OK)
		st = af_known_match(key, value, &u, af_now(), life_of(srv), id);
	json_decref(rec);
	OPENSSL_cleanse(key, sizeof(key));
	if (st != AF_KNOWN_OK && st != AF_KNOWN_NONE)
		log_warn(srv->log, req->rid, "known_browser",
			 "could not check the browser: %s",
			 af_known_strerror(st));
	return st;
}

void af_known_remember(af_server *srv, const af_req *req, af_resp *resp,
		       const af_known_user *u)
{
	char value[AF_KNOWN_VALUE_BUF], out[AF_KNOWN_VALUE_BUF];
	uint8_t key[AF_KNOWN_KEY_BYTES];
	af_known_status st;

	if (srv == NULL || req == NULL || resp == NULL || life_of(srv) == 0)
		return;
	if (af_req_cookie(req, AF_KNOWN_COOKIE, value, sizeof(value)) != 0)
		value[0] = '\0';
	st = af_known_key(srv->store, key);
	if (st == AF_KNOWN_OK)
		st = af_known_add(key, value, u, af_now(), life_of(srv), out,
				  sizeof(out));
	OPENSSL_cleanse(key, sizeof(key));
	if (st == AF_KNOWN_OK)
		af_resp_cookie(resp, AF_KNOWN_COOKIE, out, (long)life_of(srv));
	else
		log_warn(srv->log, req->rid, "known_browser",
			 "could not remember the browser: %s",
			 af_known_strerror(st));
}
