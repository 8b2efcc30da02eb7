/*
 * Enrolled devices, one-time enrollment codes and the token-code (TOTP)
 * fallback.
 *
 * A device is one JSON record under "device:<id>", listed in the set
 * "user_devices:<user>"; both are persistent. Its TOTP secret is kept
 * base32-encoded in the record because the server must compute codes from
 * it; every decoded copy is wiped as soon as the HMAC key is made, and the
 * record's text is wiped wherever it is serialised.
 *
 * Enrollment codes are kept only as SHA-256 of the code, so the store
 * holds nothing that could be typed into the enroll endpoint. An 80-bit
 * random code needs no slow hash: guessing it is hopeless either way.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/util.h"
#include "mfa/mfa.h"
#include "mfa/mfa_internal.h"
#include "tokencode.h"

#define ENROLL_CODE_BYTES  10 /* 80 bits: 16 base32 characters */
#define ENROLL_CODE_LEN	   16
/* Typed codes may carry spaces and dashes; longer input is not a code. */
#define ENROLL_INPUT_MAX   64
#define TOTP_SECRET_BYTES  20
#define TOTP_WINDOW	   1
#define P256_COORD_BYTES   32
/* base64url of 32 bytes is 43 characters; padding may add one more. */
#define P256_COORD_B64_MAX 48
#define STEP_TEXT_MAX	   24
#define USER_DEVICES_SCAN  ((size_t)AF_MFA_DEVICES_MAX * 4)
/* How long the record of a device being enrolled lives until it is kept. */
#define PENDING_MS	   ((uint64_t)10 * 60 * 1000)

/* --- enrollment codes ------------------------------------------------------
 */

static af_mfa_status count_devices(store_ctx *st, const char *ukey, size_t *n);

static af_mfa_status code_key(char *key, size_t cap, const char *prefix,
			      const char *code)
{
	char hex[65];

	af_sha256_hex(code, strlen(code), hex);
	return af_mfa__key(key, cap, prefix, hex);
}

static af_mfa_status enroll_key(char *key, size_t cap, const char *code)
{
	return code_key(key, cap, "enroll:", code);
}

/*
 * A code's stored value: the user's name, and for a code the user made
 * (AF_MFA_CODE_FIRST_PHONE, AF_MFA_CODE_ANOTHER_PHONE) a line after it
 * saying which (a user name holds no control characters).
 */
#define FIRST_PHONE_MARK   "\nfirst"
#define ANOTHER_PHONE_MARK "\nanother"

/* The mark of a code's flags; "" for an administrator's code. */
static const char *code_mark(unsigned flags)
{
	if ((flags & AF_MFA_CODE_FIRST_PHONE) != 0)
		return FIRST_PHONE_MARK;
	if ((flags & AF_MFA_CODE_ANOTHER_PHONE) != 0)
		return ANOTHER_PHONE_MARK;
	return "";
}

/*
 * The flags of a code's stored value of len bytes, with len cut to the
 * user's name that comes before its mark.
 */
static unsigned code_flags(const void *value, size_t *len)
{
	static const struct {
		const char *mark;
		unsigned flag;
	} marks[] = {
		{FIRST_PHONE_MARK, AF_MFA_CODE_FIRST_PHONE},
		{ANOTHER_PHONE_MARK, AF_MFA_CODE_ANOTHER_PHONE},
	};
	size_t i, n;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		n = strlen(marks[i].mark);
		if (*len > n && memcmp((const char *)value + *len - n,
				       marks[i].mark, n) == 0) {
			*len -= n;
			return marks[i].flag;
		}
	}
	return 0;
}

af_mfa_status af_mfa_enroll_code_new(store_ctx *st, const char *username,
				     unsigned flags, char *code, size_t codecap,
				     int64_t *expires_at)
{
	uint8_t raw[ENROLL_CODE_BYTES];
	char key[AF_MFA__KEY_MAX], ukey[AF_MFA__KEY_MAX];
	char val[AF_MFA__USER_MAX + sizeof(ANOTHER_PHONE_MARK)];
	af_mfa_status rc;
	size_t ndev = 0;
	int n;

	if (code != NULL && codecap > 0)
		code[0] = '\0';
	if (st == NULL || !af_mfa__user_ok(username) || code == NULL ||
	    codecap < ENROLL_CODE_LEN + 1 || expires_at == NULL)
		return AF_MFA_INVALID;
	n = snprintf(val, sizeof(val), "%s%s", username, code_mark(flags));
	if (n < 0 || (size_t)n >= sizeof(val))
		return AF_MFA_INVALID;
	/*
	 * A user at the device limit gets no code: it could only fail on
	 * the phone, after someone scanned it. (A device removed later makes
	 * room; a code made just before another enrollment may still lose
	 * that race, refused at enrollment as ever.)
	 */
	rc = af_mfa__key(ukey, sizeof(ukey), "user_devices:", username);
	if (rc == AF_MFA_OK)
		rc = count_devices(st, ukey, &ndev);
	if (rc == AF_MFA_OK && ndev >= AF_MFA_DEVICES_MAX)
		rc = AF_MFA_LIMIT;
	if (rc != AF_MFA_OK)
		return rc;
	if (af_random_bytes(raw, sizeof(raw)) != 0)
		return AF_MFA_CRYPTO;
	rc = tc_base32_encode(raw, sizeof(raw), code, codecap) == TC_OK
		     ? AF_MFA_OK
		     : AF_MFA_CRYPTO;
	OPENSSL_cleanse(raw, sizeof(raw));
	if (rc == AF_MFA_OK)
		rc = enroll_key(key, sizeof(key), code);
	if (rc == AF_MFA_OK)
		rc = af_mfa__key(ukey, sizeof(ukey), "user_enroll:", username);
	/* The user's index first: a code is never left out of it. */
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_sadd_ttl(
			st, ukey, key, (uint64_t)AF_MFA_ENROLL_TTL_S * 1000));
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_set(
			st, key, val, (size_t)n,
			(uint64_t)AF_MFA_ENROLL_TTL_S * 1000, STORE_SET_NX));
	if (rc != AF_MFA_OK) {
		OPENSSL_cleanse(code, codecap);
		code[0] = '\0';
		return rc;
	}
	*expires_at = af_now() + AF_MFA_ENROLL_TTL_S;
	return AF_MFA_OK;
}

af_mfa_status af_mfa_own_code_allowed(store_ctx *st, const char *username)
{
	char key[AF_MFA__KEY_MAX];
	int64_t made = 0;
	af_mfa_status rc;

	if (st == NULL || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	rc = af_mfa__key(key, sizeof(key), "own_enroll:", username);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_incr(
			st, key, 1, (uint64_t)AF_MFA_ENROLL_TTL_S * 1000,
			&made));
	if (rc == AF_MFA_OK && made > AF_MFA_OWN_CODES_MAX)
		rc = AF_MFA_LIMIT;
	return rc;
}

/*
 * Brings a typed code to the form it was made in: upper case, without the
 * spaces and dashes people add when reading it out. -1 when what is left
 * is not 16 base32 characters.
 */
static int enroll_normalise(const char *in, char out[ENROLL_CODE_LEN + 1])
{
	size_t n = 0;

	if (strnlen(in, ENROLL_INPUT_MAX + 1) > ENROLL_INPUT_MAX)
		return -1;
	for (; *in != '\0'; in++) {
		char c = *in;

		if (c == ' ' || c == '-')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')) ||
		    n == ENROLL_CODE_LEN)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return n == ENROLL_CODE_LEN ? 0 : -1;
}

void af_mfa_enroll_code_id(const char *code, char out[AF_MFA_CODE_ID_BUF])
{
	char norm[ENROLL_CODE_LEN + 1], hex[65];

	out[0] = '\0';
	if (code == NULL || enroll_normalise(code, norm) != 0)
		return;
	af_sha256_hex(norm, strlen(norm), hex);
	memcpy(out, hex, AF_MFA_CODE_ID_BUF - 1);
	out[AF_MFA_CODE_ID_BUF - 1] = '\0';
	OPENSSL_cleanse(norm, sizeof(norm));
}

/*
 * Reads (consume 0) or takes (consume 1) the user of a code. GETDEL: of
 * concurrent takers exactly one gets the user.
 */
static af_mfa_status enroll_code_user(store_ctx *st, const char *code,
				      int consume, char *user, size_t usercap,
				      unsigned *flags)
{
	char norm[ENROLL_CODE_LEN + 1], key[AF_MFA__KEY_MAX];
	store_value v = {NULL, 0};
	af_mfa_status rc;
	unsigned got;
	size_t len;

	if (user != NULL && usercap > 0)
		user[0] = '\0';
	if (flags != NULL)
		*flags = 0;
	if (st == NULL || code == NULL || user == NULL ||
	    usercap < AF_MFA__USER_MAX + 1)
		return AF_MFA_INVALID;
	if (enroll_normalise(code, norm) != 0) {
		rc = AF_MFA_NOT_FOUND;
		goto out;
	}
	rc = enroll_key(key, sizeof(key), norm);
	if (rc != AF_MFA_OK)
		goto out;
	rc = af_mfa__from_store(consume ? store_getdel(st, key, &v)
					: store_get(st, key, &v));
	if (rc != AF_MFA_OK)
		goto out;
	len = v.len;
	got = code_flags(v.data, &len);
	if (flags != NULL)
		*flags = got;
	if (len == 0 || len >= usercap) {
		rc = AF_MFA_STORE;
		goto out;
	}
	memcpy(user, v.data, len);
	user[len] = '\0';
	if (!af_mfa__user_ok(user)) {
		user[0] = '\0';
		rc = AF_MFA_STORE;
	}
out:
	OPENSSL_cleanse(norm, sizeof(norm));
	store_value_free(&v);
	return rc;
}

af_mfa_status af_mfa_enroll_code_take(store_ctx *st, const char *code,
				      char *user, size_t usercap)
{
	return enroll_code_user(st, code, 1, user, usercap, NULL);
}

/* The key of the note of what a code (as typed) enrolled. */
static af_mfa_status spent_key(char *key, size_t cap, const char *code)
{
	char norm[ENROLL_CODE_LEN + 1];
	af_mfa_status rc = AF_MFA_NOT_FOUND;

	if (enroll_normalise(code, norm) == 0)
		rc = code_key(key, cap, "enroll_done:", norm);
	OPENSSL_cleanse(norm, sizeof(norm));
	return rc;
}

af_mfa_status af_mfa_enroll_code_spent_note(store_ctx *st, const char *code,
					    const char *device)
{
	char key[AF_MFA__KEY_MAX];
	af_mfa_status rc;

	if (st == NULL || code == NULL || !af_mfa__id_ok(device))
		return AF_MFA_INVALID;
	rc = spent_key(key, sizeof(key), code);
	if (rc != AF_MFA_OK)
		return rc;
	return af_mfa__from_store(
		store_set(st, key, device, strlen(device),
			  (uint64_t)AF_MFA_ENROLL_TTL_S * 1000, 0));
}

af_mfa_status af_mfa_enroll_code_spent_by(store_ctx *st, const char *code,
					  char *device, size_t cap)
{
	char key[AF_MFA__KEY_MAX];
	store_value v = {NULL, 0};
	af_mfa_status rc;

	if (cap > 0)
		device[0] = '\0';
	if (st == NULL || code == NULL || cap < AF_MFA_ID_BUF)
		return AF_MFA_INVALID;
	rc = spent_key(key, sizeof(key), code);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_get(st, key, &v));
	if (rc == AF_MFA_OK) {
		if (v.len < cap) {
			memcpy(device, v.data, v.len);
			device[v.len] = '\0';
		}
		if (!af_mfa__id_ok(device)) {
			device[0] = '\0';
			rc = AF_MFA_NOT_FOUND;
		}
	}
	store_value_free(&v);
	return rc;
}

struct revoke_walk {
	store_ctx *st;
	bool own_only;	     /* only the codes the user made */
	store_status failed; /* the first failure, or STORE_OK */
};

/*
 * Removes the code at key when the user made it (either kind's mark), not
 * an administrator; one gone already is no failure.
 */
static store_status del_if_own(store_ctx *st, const char *key)
{
	store_value v = {NULL, 0};
	store_status rc = store_get(st, key, &v);
	size_t len = v.len;

	if (rc == STORE_OK && code_flags(v.data, &len) != 0)
		rc = store_del(st, key);
	store_value_free(&v);
	return rc == STORE_NOT_FOUND ? STORE_OK : rc;
}

/* Removes one code of a user's index (member: its store key). */
static int revoke_code(const char *member, void *arg)
{
	struct revoke_walk *w = arg;
	store_status st = w->own_only ? del_if_own(w->st, member)
				      : store_del(w->st, member);

	if (st != STORE_OK && w->failed == STORE_OK)
		w->failed = st;
	return 0;
}

/* The user's codes, or those the user made (own_only), removed. */
static af_mfa_status codes_revoke(store_ctx *st, const char *username,
				  bool own_only)
{
	struct revoke_walk w = {st, own_only, STORE_OK};
	char ukey[AF_MFA__KEY_MAX];
	af_mfa_status rc;

	if (st == NULL || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	rc = af_mfa__key(ukey, sizeof(ukey), "user_enroll:", username);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(
			store_smembers(st, ukey, revoke_code, &w));
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(w.failed);
	/* An administrator's codes stay listed for a later revoke. */
	if (rc == AF_MFA_OK && !own_only)
		rc = af_mfa__from_store(store_del(st, ukey));
	return rc == AF_MFA_NOT_FOUND ? AF_MFA_OK : rc;
}

af_mfa_status af_mfa_enroll_codes_revoke(store_ctx *st, const char *username)
{
	return codes_revoke(st, username, false);
}

af_mfa_status af_mfa_enroll_codes_revoke_own(store_ctx *st,
					     const char *username)
{
	return codes_revoke(st, username, true);
}

af_mfa_status af_mfa_enroll_code_peek(store_ctx *st, const char *code,
				      char *user, size_t usercap,
				      unsigned *flags)
{
	return enroll_code_user(st, code, 0, user, usercap, flags);
}

/* --- device records ---------------------------------------------------------
 */

static af_mfa_status device_key(char *key, size_t cap, const char *id)
{
	if (!af_mfa__id_ok(id))
		return AF_MFA_NOT_FOUND;
	return af_mfa__key(key, cap, "device:", id);
}

void af_mfa_key_hash(const json_t *jwk, char out[65])
{
	const char *x = json_string_value(json_object_get(jwk, "x"));
	const char *y = json_string_value(json_object_get(jwk, "y"));
	char both[2 * 43 + 1];
	int n;

	out[0] = '\0';
	if (x == NULL || y == NULL)
		return;
	n = snprintf(both, sizeof(both), "%s%s", x, y);
	if (n > 0 && (size_t)n < sizeof(both))
		af_sha256_hex(both, (size_t)n, out);
}

/* The key naming the device that holds a public key: one key, one device. */
static af_mfa_status key_index(char *key, size_t cap, const json_t *jwk)
{
	char hash[65];

	af_mfa_key_hash(jwk, hash);
	if (hash[0] == '\0')
		return AF_MFA_INVALID;
	return af_mfa__key(key, cap, "device_key:", hash);
}

/* Gives up the key's index entry kkey when it still names device id. */
static af_mfa_status key_release(store_ctx *st, const char *kkey,
				 const char *id)
{
	store_status ss = store_del_if(st, kkey, id, strlen(id));

	return ss == STORE_CONFLICT || ss == STORE_NOT_FOUND
		       ? AF_MFA_OK
		       : af_mfa__from_store(ss);
}

/* Drops the key's index entry when it still names device id. */
static af_mfa_status key_index_drop(store_ctx *st, const json_t *jwk,
				    const char *id)
{
	char key[AF_MFA__KEY_MAX];

	if (key_index(key, sizeof(key), jwk) != AF_MFA_OK)
		return AF_MFA_OK;
	return key_release(st, key, id);
}

/* Whether the record of device id (len bytes) is in the store. */
static af_mfa_status device_stands(store_ctx *st, const char *id, size_t len,
				   bool *yes)
{
	char key[AF_MFA__KEY_MAX], idz[AF_MFA_ID_BUF];
	store_status ss;
	uint64_t ttl;

	*yes = false;
	/* Only device ids are written there: anything else names nobody. */
	if (len == 0 || len >= sizeof(idz) || !af_b64url_text_ok(id, len))
		return AF_MFA_OK;
	memcpy(idz, id, len);
	idz[len] = '\0';
	if (device_key(key, sizeof(key), idz) != AF_MFA_OK)
		return AF_MFA_OK;
	ss = store_ttl(st, key, &ttl);
	if (ss == STORE_NOT_FOUND)
		return AF_MFA_OK;
	*yes = ss == STORE_OK;
	return af_mfa__from_store(ss);
}

/*
 * Claims the key's index entry kkey for device id, whose record is
 * written; *held when another device holds the key. As every device's
 * record is written before its claim, an entry naming a device with no
 * record names one gone for good (a removal cut short before it freed the
 * key, an enrollment undone): it is taken over.
 */
static af_mfa_status key_claim(store_ctx *st, const char *kkey, const char *id,
			       bool *held)
{
	store_value v = {0};
	store_status ss;
	af_mfa_status rc;

	*held = false;
	ss = store_set(st, kkey, id, strlen(id), 0, STORE_SET_NX);
	if (ss != STORE_EXISTS)
		return af_mfa__from_store(ss);
	ss = store_get(st, kkey, &v);
	if (ss == STORE_NOT_FOUND) {
		/* Freed just now: claimed afresh, if nobody was quicker. */
		ss = store_set(st, kkey, id, strlen(id), 0, STORE_SET_NX);
		*held = ss == STORE_EXISTS;
		return *held ? AF_MFA_OK : af_mfa__from_store(ss);
	}
	rc = af_mfa__from_store(ss);
	if (rc == AF_MFA_OK)
		rc = device_stands(st, (const char *)v.data, v.len, held);
	if (rc == AF_MFA_OK && !*held) {
		ss = store_cas(st, kkey, v.data, v.len, id, strlen(id), 0);
		*held = ss == STORE_CONFLICT || ss == STORE_NOT_FOUND;
		if (!*held)
			rc = af_mfa__from_store(ss);
	}
	store_value_free(&v);
	return rc;
}

/*
 * Wipes the TOTP secret's text inside a parsed record before the record
 * is dropped or shown: jansson would free it without wiping. The string
 * is the object's own copy, so writing over it is safe.
 */
static void forget_secret(json_t *dev)
{
	json_t *s = json_object_get(dev, "totp_secret");
	union {
		const char *c;
		char *m;
	} text;

	if (json_is_string(s)) {
		text.c = json_string_value(s);
		OPENSSL_cleanse(text.m, json_string_length(s));
	}
	(void)json_object_del(dev, "totp_secret");
}

void af_mfa_device_free(json_t *dev)
{
	if (dev != NULL)
		forget_secret(dev);
	json_decref(dev);
}

af_mfa_status af_mfa_device_get(store_ctx *st, const char *id, json_t **out)
{
	char key[AF_MFA__KEY_MAX];
	af_mfa_status rc;

	if (out == NULL)
		return AF_MFA_INVALID;
	*out = NULL;
	if (st == NULL || id == NULL)
		return AF_MFA_INVALID;
	rc = device_key(key, sizeof(key), id);
	if (rc != AF_MFA_OK)
		return rc;
	return af_mfa__get_json(st, key, out, NULL);
}

/* Decodes one coordinate: exactly 32 bytes of base64url. 0 or -1. */
static int coord_decode(const char *text, uint8_t out[P256_COORD_BYTES])
{
	size_t n, len = 0;

	if (text == NULL)
		return -1;
	n = strnlen(text, P256_COORD_B64_MAX);
	if (n == P256_COORD_B64_MAX ||
	    af_b64url_decode(text, n, out, P256_COORD_BYTES, &len) != 0 ||
	    len != P256_COORD_BYTES)
		return -1;
	return 0;
}

/* Validates a P-256 JWK and makes the stored copy: kty, crv, x, y only. */
static af_mfa_status jwk_check(const json_t *jwk, json_t **out, char *err,
			       size_t errlen)
{
	uint8_t point[1 + 2 * P256_COORD_BYTES];
	char group[] = "prime256v1";
	char x64[P256_COORD_B64_MAX], y64[P256_COORD_B64_MAX];
	const char *x = json_string_value(json_object_get(jwk, "x"));
	const char *y = json_string_value(json_object_get(jwk, "y"));
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	EVP_PKEY *pkey = NULL;
	af_mfa_status rc = AF_MFA_INVALID;

	*out = NULL;
	if (!json_is_object(jwk) ||
	    !json_is_string(json_object_get(jwk, "kty")) ||
	    strcmp(json_string_value(json_object_get(jwk, "kty")), "EC") != 0 ||
	    !json_is_string(json_object_get(jwk, "crv")) ||
	    strcmp(json_string_value(json_object_get(jwk, "crv")), "P-256") !=
		    0) {
		af_mfa__errf(err, errlen,
			     "public_key: must be an EC JWK on curve P-256");
		return AF_MFA_INVALID;
	}
	point[0] = 0x04; /* uncompressed: 0x04 || x || y */
	if (coord_decode(x, point + 1) != 0 ||
	    coord_decode(y, point + 1 + P256_COORD_BYTES) != 0) {
		af_mfa__errf(err, errlen,
			     "public_key: x and y must be 32 bytes of "
			     "base64url each");
		return AF_MFA_INVALID;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      point, sizeof(point));
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
		rc = AF_MFA_CRYPTO;
		goto out;
	}
	/* A point off the curve is refused here or by the check below. */
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    (check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(check) != 1) {
		af_mfa__errf(err, errlen,
			     "public_key: not a valid point on P-256");
		goto out;
	}
	/* Stored in canonical form, whatever padding the phone sent. */
	if (af_b64url_encode(point + 1, P256_COORD_BYTES, x64, sizeof(x64)) !=
		    0 ||
	    af_b64url_encode(point + 1 + P256_COORD_BYTES, P256_COORD_BYTES,
			     y64, sizeof(y64)) != 0) {
		rc = AF_MFA_CRYPTO;
		goto out;
	}
	*out = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
			 "x", x64, "y", y64);
	rc = *out != NULL ? AF_MFA_OK : AF_MFA_NOMEM;
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static bool platform_ok(const char *p)
{
	return p != NULL && (strcmp(p, "apns") == 0 || strcmp(p, "fcm") == 0 ||
			     strcmp(p, "none") == 0);
}

static bool platform_pushes(const char *p)
{
	return p != NULL && (strcmp(p, "apns") == 0 || strcmp(p, "fcm") == 0);
}

/* An optional string member: absent or null gives def. */
static af_mfa_status opt_string(const json_t *obj, const char *field,
				const char *def, const char **out, char *err,
				size_t errlen)
{
	const json_t *v = json_object_get(obj, field);

	*out = def;
	if (v == NULL || json_is_null(v))
		return AF_MFA_OK;
	if (!json_is_string(v)) {
		af_mfa__errf(err, errlen, "%s: must be a string", field);
		return AF_MFA_INVALID;
	}
	*out = json_string_value(v);
	return AF_MFA_OK;
}

/* The checked members of an enrollment, pointing into the spec. */
typedef struct device_spec {
	const char *platform;
	const char *push_token; /* NULL: none */
	const char *app_version;
	const char *device_name;
	int sandbox;
	json_t *jwk; /* owned */
} device_spec;

static af_mfa_status spec_check(const json_t *spec, device_spec *ds, char *err,
				size_t errlen)
{
	const json_t *sb = json_object_get(spec, "sandbox");
	af_mfa_status rc;

	rc = opt_string(spec, "platform", NULL, &ds->platform, err, errlen);
	if (rc == AF_MFA_OK && !platform_ok(ds->platform)) {
		af_mfa__errf(err, errlen,
			     "platform: must be apns, fcm or none");
		rc = AF_MFA_INVALID;
	}
	if (rc == AF_MFA_OK)
		rc = opt_string(spec, "push_token", NULL, &ds->push_token, err,
				errlen);
	if (rc == AF_MFA_OK && ds->push_token == NULL &&
	    platform_pushes(ds->platform)) {
		af_mfa__errf(err, errlen, "push_token: required for %s",
			     ds->platform);
		rc = AF_MFA_INVALID;
	}
	if (rc == AF_MFA_OK && ds->push_token != NULL &&
	    !af_mfa__token_ok(ds->push_token, AF_MFA_PUSH_TOKEN_MAX)) {
		af_mfa__errf(err, errlen,
			     "push_token: must be 1 to %d printable characters",
			     AF_MFA_PUSH_TOKEN_MAX);
		rc = AF_MFA_INVALID;
	}
	if (rc == AF_MFA_OK)
		rc = opt_string(spec, "app_version", "", &ds->app_version, err,
				errlen);
	if (rc == AF_MFA_OK && ds->app_version[0] != '\0' &&
	    !af_mfa__token_ok(ds->app_version, AF_MFA_APP_VERSION_MAX)) {
		af_mfa__errf(
			err, errlen,
			"app_version: must be 1 to %d printable characters",
			AF_MFA_APP_VERSION_MAX);
		rc = AF_MFA_INVALID;
	}
	if (rc == AF_MFA_OK)
		rc = opt_string(spec, "device_name", "", &ds->device_name, err,
				errlen);
	if (rc == AF_MFA_OK &&
	    !af_mfa__text_ok(ds->device_name, AF_MFA_DEVICE_NAME_MAX)) {
		af_mfa__errf(err, errlen,
			     "device_name: at most %d bytes, no control "
			     "characters",
			     AF_MFA_DEVICE_NAME_MAX);
		rc = AF_MFA_INVALID;
	}
	if (rc == AF_MFA_OK && sb != NULL && !json_is_boolean(sb)) {
		af_mfa__errf(err, errlen, "sandbox: must be true or false");
		rc = AF_MFA_INVALID;
	}
	ds->sandbox = json_is_true(sb);
	if (rc == AF_MFA_OK)
		rc = jwk_check(json_object_get(spec, "public_key"), &ds->jwk,
			       err, errlen);
	return rc;
}

/* A new 20-byte TOTP secret as base32 (32 characters and a NUL). */
static af_mfa_status new_secret(char *b32, size_t cap)
{
	uint8_t raw[TOTP_SECRET_BYTES];
	af_mfa_status rc = AF_MFA_CRYPTO;

	if (af_random_bytes(raw, sizeof(raw)) == 0 &&
	    tc_base32_encode(raw, sizeof(raw), b32, cap) == TC_OK)
		rc = AF_MFA_OK;
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

static json_t *device_new(const char *id, const char *username,
			  const device_spec *ds, const char *secret)
{
	int64_t now = af_now();

	return json_pack("{s:s, s:s, s:s, s:o, s:b, s:b, s:O, s:s, s:s, "
			 "s:s, s:I, s:I}",
			 "id", id, "user", username, "platform", ds->platform,
			 "push_token",
			 ds->push_token != NULL ? json_string(ds->push_token)
						: json_null(),
			 "push_token_valid", ds->push_token != NULL, "sandbox",
			 ds->sandbox, "public_key", ds->jwk, "app_version",
			 ds->app_version, "device_name", ds->device_name,
			 "totp_secret", secret, "created_at", (json_int_t)now,
			 "last_seen", (json_int_t)now);
}

/*
 * The checks of an enrollment before anything is written: the spec (into
 * ds, whose jwk the caller frees) and room for one more device of the
 * user (ukey gets the key of the user's device set).
 */
static af_mfa_status add_check(store_ctx *st, const char *username,
			       const json_t *spec, device_spec *ds, char *ukey,
			       char *err, size_t errlen)
{
	af_mfa_status rc;
	size_t n = 0;

	rc = spec_check(spec, ds, err, errlen);
	if (rc == AF_MFA_OK)
		rc = af_mfa__key(ukey, AF_MFA__KEY_MAX,
				 "user_devices:", username);
	if (rc == AF_MFA_OK)
		rc = count_devices(st, ukey, &n);
	if (rc == AF_MFA_OK && n >= AF_MFA_DEVICES_MAX) {
		af_mfa__errf(err, errlen, "device: the user has %d devices",
			     AF_MFA_DEVICES_MAX);
		rc = AF_MFA_LIMIT;
	}
	return rc;
}

/* The key marking that a user has had a device. */
static af_mfa_status enrolled_key(char *key, size_t cap, const char *username)
{
	return af_mfa__key(key, cap, "user_enrolled:", username);
}

af_mfa_status af_mfa_user_enrolled_before(store_ctx *st, const char *username,
					  int *yes)
{
	char key[AF_MFA__KEY_MAX];
	store_value v = {0};
	af_mfa_status rc;

	*yes = 0;
	if (st == NULL || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	rc = enrolled_key(key, sizeof(key), username);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_get(st, key, &v));
	store_value_free(&v);
	if (rc == AF_MFA_NOT_FOUND)
		return AF_MFA_OK;
	*yes = rc == AF_MFA_OK;
	return rc;
}

af_mfa_status af_mfa_first_phone(store_ctx *st, const char *username, int *yes)
{
	char ukey[AF_MFA__KEY_MAX];
	af_mfa_status rc;
	size_t n = 0;
	int had = 0;

	*yes = 0;
	rc = af_mfa_user_enrolled_before(st, username, &had);
	if (rc == AF_MFA_OK)
		rc = af_mfa__key(ukey, sizeof(ukey), "user_devices:", username);
	if (rc == AF_MFA_OK)
		rc = count_devices(st, ukey, &n);
	*yes = rc == AF_MFA_OK && !had && n == 0;
	return rc;
}

af_mfa_status af_mfa_user_forget(store_ctx *st, const char *username)
{
	char key[AF_MFA__KEY_MAX];
	af_mfa_status rc = af_mfa_enroll_codes_revoke(st, username);

	if (rc == AF_MFA_OK)
		rc = enrolled_key(key, sizeof(key), username);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_del(st, key));
	if (rc == AF_MFA_OK)
		rc = af_mfa__key(key, sizeof(key), "own_enroll:", username);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_del(st, key));
	/*
	 * A later user of the name inherits no pause, no push count, no
	 * count of codes made and no token-code tries.
	 */
	if (rc == AF_MFA_OK)
		rc = af_mfa_push_reset(st, username);
	if (rc == AF_MFA_OK)
		rc = af_mfa_code_tries_clear(st, username);
	return rc;
}

/*
 * Undoes a device add, every step tried whatever the others do: the
 * record first (no signature verifies from then on), then the key's
 * entry, then the listing (an id listed without a record is dropped when
 * next read). What a store failure leaves is volatile unless the record
 * was already kept for good.
 */
static af_mfa_status add_undo(store_ctx *st, const char *ukey, const char *dkey,
			      const char *kkey, const char *id)
{
	bool failed = store_del(st, dkey) != STORE_OK;

	failed |= key_release(st, kkey, id) != AF_MFA_OK;
	failed |= store_srem(st, ukey, id) != STORE_OK;
	return failed ? AF_MFA_STORE : AF_MFA_OK;
}

/*
 * The record is written first, then the key claimed, then the device
 * listed, and only then is the record kept for good; the count is checked
 * before and again after listing, so concurrent enrollments can never
 * leave a user with more than AF_MFA_DEVICES_MAX devices (in a close race
 * both may be refused, which is the safe way to lose it). The user stays
 * marked as having had a device when the add is undone: a first phone
 * enrolled right after the password is then refused, and an
 * administrator's code is needed, which is the safe way to fail too.
 * Unless keep, the record stays volatile: af_mfa_device_keep() keeps it.
 */
static af_mfa_status add(store_ctx *st, const char *username,
			 const json_t *spec, bool keep, json_t **out, char *err,
			 size_t errlen)
{
	char ekey[AF_MFA__KEY_MAX], kkey[AF_MFA__KEY_MAX];
	char id[AF_MFA_ID_BUF], secret[64];
	char ukey[AF_MFA__KEY_MAX], dkey[AF_MFA__KEY_MAX];
	device_spec ds = {0};
	json_t *dev = NULL;
	char *text = NULL;
	size_t n = 0;
	af_mfa_status rc;
	bool held = false;

	af_mfa__errf(err, errlen, "%s", "");
	if (out != NULL)
		*out = NULL;
	if (st == NULL || out == NULL || !json_is_object(spec) ||
	    !af_mfa__user_ok(username)) {
		af_mfa__errf(err, errlen, "device: bad arguments");
		return AF_MFA_INVALID;
	}
	secret[0] = '\0';
	rc = add_check(st, username, spec, &ds, ukey, err, errlen);
	if (rc == AF_MFA_OK)
		rc = af_mfa__new_id(id);
	if (rc == AF_MFA_OK)
		rc = new_secret(secret, sizeof(secret));
	if (rc == AF_MFA_OK)
		rc = af_mfa__key(dkey, sizeof(dkey), "device:", id);
	if (rc == AF_MFA_OK)
		rc = key_index(kkey, sizeof(kkey), ds.jwk);
	if (rc != AF_MFA_OK)
		goto out;
	dev = device_new(id, username, &ds, secret);
	text = dev != NULL ? af_mfa__dump(dev) : NULL;
	if (text == NULL) {
		rc = AF_MFA_NOMEM;
		goto out;
	}
	/*
	 * The record comes first, volatile until the device is listed: an
	 * enrollment cut short leaves nothing that outlives PENDING_MS.
	 */
	rc = af_mfa__from_store(store_set(st, dkey, text, strlen(text),
					  PENDING_MS,
					  STORE_SET_NX | STORE_SET_VITAL));
	if (rc != AF_MFA_OK)
		goto out;
	/*
	 * Then the key is claimed: two devices holding one key would be one
	 * phone counted twice, each answering for the other.
	 */
	rc = key_claim(st, kkey, id, &held);
	/* Marked before it is listed: a listed device is always marked. */
	if (rc == AF_MFA_OK && !held)
		rc = enrolled_key(ekey, sizeof(ekey), username);
	if (rc == AF_MFA_OK && !held)
		rc = af_mfa__from_store(store_set(st, ekey, "1", 1, 0, 0));
	if (rc == AF_MFA_OK && !held)
		rc = af_mfa__from_store(store_sadd(st, ukey, id));
	if (rc == AF_MFA_OK && !held)
		rc = count_devices(st, ukey, &n);
	if (rc == AF_MFA_OK && n > AF_MFA_DEVICES_MAX) {
		af_mfa__errf(err, errlen, "device: the user has %d devices",
			     AF_MFA_DEVICES_MAX);
		rc = AF_MFA_LIMIT;
	}
	/* Kept from now on; not if it was removed meanwhile. */
	if (rc == AF_MFA_OK && !held && keep)
		rc = af_mfa__from_store(store_set(st, dkey, text, strlen(text),
						  0, STORE_SET_XX));
	if (rc != AF_MFA_OK || held) {
		if (add_undo(st, ukey, dkey, kkey, id) != AF_MFA_OK)
			rc = AF_MFA_STORE;
		goto out;
	}
	*out = dev;
	dev = NULL;
out:
	if (held && rc == AF_MFA_OK) {
		af_mfa__errf(err, errlen,
			     "public_key: the key is already enrolled; a new "
			     "device needs a key of its own");
		rc = AF_MFA_INVALID;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	af_mfa__dump_free(text);
	af_mfa_device_free(dev);
	json_decref(ds.jwk);
	return rc;
}

af_mfa_status af_mfa_device_add(store_ctx *st, const char *username,
				const json_t *spec, json_t **out, char *err,
				size_t errlen)
{
	return add(st, username, spec, true, out, err, errlen);
}

af_mfa_status af_mfa_device_add_pending(store_ctx *st, const char *username,
					const json_t *spec, json_t **out,
					char *err, size_t errlen)
{
	return add(st, username, spec, false, out, err, errlen);
}

af_mfa_status af_mfa_device_keep(store_ctx *st, const json_t *dev)
{
	char dkey[AF_MFA__KEY_MAX];
	const char *id = json_string_value(json_object_get(dev, "id"));
	char *text;
	af_mfa_status rc;

	if (st == NULL || !af_mfa__id_ok(id))
		return AF_MFA_INVALID;
	rc = af_mfa__key(dkey, sizeof(dkey), "device:", id);
	if (rc != AF_MFA_OK)
		return rc;
	text = af_mfa__dump(dev);
	if (text == NULL)
		return AF_MFA_NOMEM;
	/* Not if it was removed meanwhile: it then stays removed. */
	rc = af_mfa__from_store(
		store_set(st, dkey, text, strlen(text), 0, STORE_SET_XX));
	af_mfa__dump_free(text);
	return rc;
}

/* Collects set members (ids) into a JSON array, at most cap of them. */
typedef struct id_list {
	json_t *arr;
	size_t cap;
	bool nomem;
} id_list;

static int collect_id(const char *member, void *arg)
{
	id_list *l = arg;

	if (json_array_size(l->arr) >= l->cap)
		return 1;
	if (json_array_append_new(l->arr, json_string(member)) != 0) {
		l->nomem = true;
		return 1;
	}
	return 0;
}

/* The ids in the device set at key (at most USER_DEVICES_SCAN). */
static af_mfa_status ids_at(store_ctx *st, const char *key, json_t **out)
{
	id_list l = {NULL, USER_DEVICES_SCAN, false};
	af_mfa_status rc;

	*out = NULL;
	l.arr = json_array();
	if (l.arr == NULL)
		return AF_MFA_NOMEM;
	rc = af_mfa__from_store(store_smembers(st, key, collect_id, &l));
	if (rc == AF_MFA_OK && l.nomem)
		rc = AF_MFA_NOMEM;
	if (rc != AF_MFA_OK) {
		json_decref(l.arr);
		return rc;
	}
	*out = l.arr;
	return AF_MFA_OK;
}

static af_mfa_status user_device_ids(store_ctx *st, const char *username,
				     json_t **out)
{
	char key[AF_MFA__KEY_MAX];
	af_mfa_status rc;

	*out = NULL;
	rc = af_mfa__key(key, sizeof(key), "user_devices:", username);
	return rc == AF_MFA_OK ? ids_at(st, key, out) : rc;
}

/*
 * An id in the user's device set at ukey whose record is gone: a removal
 * that failed after the record went (it goes first), or one under way.
 * Taken out of the set, best effort, so that it holds no device slot for
 * good.
 */
static void drop_stale(store_ctx *st, const char *ukey, const char *id)
{
	store_status sst = store_srem(st, ukey, id);

	(void)sst; /* left in, it is dropped next time */
}

/* How many devices the set at ukey lists with their record there. */
static af_mfa_status count_devices(store_ctx *st, const char *ukey, size_t *n)
{
	char dkey[AF_MFA__KEY_MAX];
	json_t *ids = NULL, *idv;
	store_status sst;
	uint64_t ttl;
	af_mfa_status rc;
	size_t i;

	*n = 0;
	rc = ids_at(st, ukey, &ids);
	json_array_foreach(ids, i, idv)
	{
		const char *id = json_string_value(idv);

		rc = device_key(dkey, sizeof(dkey), id);
		if (rc == AF_MFA_NOT_FOUND) {
			drop_stale(st, ukey, id);
			rc = AF_MFA_OK;
			continue;
		}
		if (rc != AF_MFA_OK)
			break;
		sst = store_ttl(st, dkey, &ttl);
		if (sst == STORE_NOT_FOUND)
			drop_stale(st, ukey, id);
		else if (sst == STORE_OK)
			++*n;
		else {
			rc = af_mfa__from_store(sst);
			break;
		}
	}
	json_decref(ids);
	return rc;
}

af_mfa_status af_mfa_device_list(store_ctx *st, const char *username,
				 json_t **out)
{
	char ukey[AF_MFA__KEY_MAX];
	json_t *ids = NULL, *list = NULL, *idv;
	af_mfa_status rc;
	size_t i;

	if (out == NULL)
		return AF_MFA_INVALID;
	*out = NULL;
	if (st == NULL || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	rc = af_mfa__key(ukey, sizeof(ukey), "user_devices:", username);
	if (rc == AF_MFA_OK)
		rc = ids_at(st, ukey, &ids);
	if (rc != AF_MFA_OK)
		return rc;
	list = json_array();
	if (list == NULL) {
		rc = AF_MFA_NOMEM;
		goto out;
	}
	json_array_foreach(ids, i, idv)
	{
		json_t *dev = NULL;

		rc = af_mfa_device_get(st, json_string_value(idv), &dev);
		/* Removed since the set was read: not a device any more. */
		if (rc == AF_MFA_NOT_FOUND) {
			drop_stale(st, ukey, json_string_value(idv));
			continue;
		}
		if (rc != AF_MFA_OK)
			goto out;
		forget_secret(dev);
		if (json_array_append_new(list, dev) != 0) {
			rc = AF_MFA_NOMEM;
			goto out;
		}
	}
	rc = af_mfa__sort(list, "created_at");
	if (rc == AF_MFA_OK) {
		*out = list;
		list = NULL;
	}
out:
	json_decref(ids);
	json_decref(list);
	return rc;
}

af_mfa_status af_mfa_device_remove(store_ctx *st, const char *id)
{
	char key[AF_MFA__KEY_MAX], ukey[AF_MFA__KEY_MAX];
	json_t *dev = NULL;
	af_mfa_status rc;

	if (st == NULL || id == NULL)
		return AF_MFA_INVALID;
	rc = af_mfa_device_get(st, id, &dev);
	if (rc != AF_MFA_OK)
		return rc;
	rc = af_mfa__key(ukey, sizeof(ukey), "user_devices:",
			 json_string_value(json_object_get(dev, "user")));
	if (rc != AF_MFA_OK) {
		af_mfa_device_free(dev);
		return AF_MFA_STORE;
	}
	/* The record goes first: from then on no signature verifies. */
	rc = device_key(key, sizeof(key), id);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_del(st, key));
	/* Then the key is free for a device enrolled anew with it. */
	if (rc == AF_MFA_OK)
		rc = key_index_drop(st, json_object_get(dev, "public_key"), id);
	af_mfa_device_free(dev);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_srem(st, ukey, id));
	if (rc == AF_MFA_OK)
		rc = af_mfa__key(key, sizeof(key), "totp_last:", id);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_del(st, key));
	/*
	 * A sign-in waiting on this phone alone can no longer be answered:
	 * it ends now, saying why, rather than when its time runs out.
	 */
	if (rc == AF_MFA_OK)
		af_mfa__cancel_for_removed(st, id, af_now());
	if (rc == AF_MFA_OK)
		rc = af_mfa__key(key, sizeof(key), "device_txns:", id);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_del(st, key));
	return rc;
}

/* --- device updates ----------------------------------------------------- */

typedef struct update_arg {
	const json_t *patch;
	char *err;
	size_t errlen;
} update_arg;

static af_mfa_status patch_member(json_t *dev, const char *k, json_t *v,
				  char *err, size_t errlen)
{
	if (strcmp(k, "push_token") == 0) {
		if (!json_is_null(v) &&
		    !af_mfa__token_ok(json_string_value(v),
				      AF_MFA_PUSH_TOKEN_MAX)) {
			af_mfa__errf(err, errlen,
				     "push_token: must be null or 1 to %d "
				     "printable characters",
				     AF_MFA_PUSH_TOKEN_MAX);
			return AF_MFA_INVALID;
		}
	} else if (strcmp(k, "push_token_valid") == 0 ||
		   strcmp(k, "sandbox") == 0) {
		if (!json_is_boolean(v)) {
			af_mfa__errf(err, errlen, "%s: must be true or false",
				     k);
			return AF_MFA_INVALID;
		}
	} else if (strcmp(k, "platform") == 0) {
		if (!platform_ok(json_string_value(v))) {
			af_mfa__errf(err, errlen,
				     "platform: must be apns, fcm or none");
			return AF_MFA_INVALID;
		}
	} else if (strcmp(k, "app_version") == 0) {
		if (!af_mfa__token_ok(json_string_value(v),
				      AF_MFA_APP_VERSION_MAX)) {
			af_mfa__errf(err, errlen,
				     "app_version: must be 1 to %d printable "
				     "characters",
				     AF_MFA_APP_VERSION_MAX);
			return AF_MFA_INVALID;
		}
	} else if (strcmp(k, "device_name") == 0) {
		/* An administrator's name for the phone, never empty. */
		if (json_string_length(v) == 0 ||
		    json_string_length(v) != strlen(json_string_value(v)) ||
		    !af_mfa__text_ok(json_string_value(v),
				     AF_MFA_DEVICE_NAME_MAX)) {
			af_mfa__errf(err, errlen,
				     "device_name: 1 to %d bytes, no control "
				     "characters",
				     AF_MFA_DEVICE_NAME_MAX);
			return AF_MFA_INVALID;
		}
	} else if (strcmp(k, "last_seen") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			af_mfa__errf(err, errlen,
				     "last_seen: must be a Unix time");
			return AF_MFA_INVALID;
		}
	} else {
		af_mfa__errf(err, errlen, "%s: cannot be changed", k);
		return AF_MFA_INVALID;
	}
	return json_object_set(dev, k, v) == 0 ? AF_MFA_OK : AF_MFA_NOMEM;
}

static af_mfa_status update_fn(json_t *dev, void *arg, bool *write)
{
	update_arg *a = arg;
	const char *k;
	json_t *v;
	af_mfa_status rc;

	/* An empty patch changes nothing, so it writes nothing. */
	*write = json_object_size(a->patch) > 0;
	json_object_foreach(af_mfa__iterable(a->patch), k, v)
	{
		rc = patch_member(dev, k, v, a->err, a->errlen);
		if (rc != AF_MFA_OK)
			return rc;
	}
	if (platform_pushes(
		    json_string_value(json_object_get(dev, "platform"))) &&
	    !json_is_string(json_object_get(dev, "push_token"))) {
		af_mfa__errf(a->err, a->errlen,
			     "push_token: required for apns and fcm");
		return AF_MFA_INVALID;
	}
	return AF_MFA_OK;
}

af_mfa_status af_mfa_device_update(store_ctx *st, const char *id,
				   const json_t *patch, char *err,
				   size_t errlen)
{
	update_arg a = {patch, err, errlen};
	char key[AF_MFA__KEY_MAX];
	json_t *dev = NULL;
	af_mfa_status rc;

	af_mfa__errf(err, errlen, "%s", "");
	if (st == NULL || id == NULL || !json_is_object(patch)) {
		af_mfa__errf(err, errlen, "device: bad arguments");
		return AF_MFA_INVALID;
	}
	rc = device_key(key, sizeof(key), id);
	if (rc != AF_MFA_OK)
		return rc;
	rc = af_mfa__update(st, key, update_fn, &a, &dev);
	af_mfa_device_free(dev);
	return rc;
}

/* What af_mfa_device_token_refused() marks, and whether it did. */
typedef struct refused_arg {
	const char *platform;
	const char *token;
	int sandbox;
	int marked;
} refused_arg;

static af_mfa_status refused_fn(json_t *dev, void *arg, bool *write)
{
	refused_arg *a = arg;
	const char *tok = json_string_value(json_object_get(dev, "push_token"));
	const char *platform =
		json_string_value(json_object_get(dev, "platform"));

	/* Read again on every compare-and-set round: judged each time. */
	*write = tok != NULL && platform != NULL &&
		 strcmp(platform, a->platform) == 0 &&
		 json_is_true(json_object_get(dev, "sandbox")) ==
			 (a->sandbox != 0) &&
		 !json_is_false(json_object_get(dev, "push_token_valid")) &&
		 af_ct_streq(tok, a->token);
	a->marked = *write;
	if (!*write)
		return AF_MFA_OK;
	return json_object_set_new(dev, "push_token_valid", json_false()) == 0
		       ? AF_MFA_OK
		       : AF_MFA_NOMEM;
}

af_mfa_status af_mfa_device_token_refused(store_ctx *st, const char *id,
					  const char *platform,
					  const char *token, int sandbox,
					  int *marked)
{
	refused_arg a = {platform, token, sandbox, 0};
	char key[AF_MFA__KEY_MAX];
	af_mfa_status rc = AF_MFA_INVALID;

	if (st != NULL && id != NULL && platform != NULL && token != NULL)
		rc = device_key(key, sizeof(key), id);
	if (rc == AF_MFA_OK)
		rc = af_mfa__update(st, key, refused_fn, &a, NULL);
	if (marked != NULL)
		*marked = rc == AF_MFA_OK && a.marked;
	return rc;
}

/* --- token codes ------------------------------------------------------------
 */

/* The device's HMAC key from the base32 secret in its record. */
static af_mfa_status device_totp_key(const json_t *dev, tc_key **key)
{
	uint8_t raw[TC_SECRET_MAX];
	const json_t *s = json_object_get(dev, "totp_secret");
	size_t len = 0;
	af_mfa_status rc = AF_MFA_STORE;

	*key = NULL;
	if (!json_is_string(s))
		return AF_MFA_STORE;
	if (tc_base32_decode(json_string_value(s), json_string_length(s), raw,
			     sizeof(raw), &len) == TC_OK &&
	    len > 0)
		rc = tc_key_new(raw, len, TC_ALGO_SHA1, key) == TC_OK
			     ? AF_MFA_OK
			     : AF_MFA_CRYPTO;
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* Reads a stored step: decimal digits only, as this file writes them. */
static int step_parse(const store_value *v, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (v->len == 0 || v->len > 19)
		return -1;
	for (i = 0; i < v->len; i++) {
		if (v->data[i] < '0' || v->data[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(v->data[i] - '0');
	}
	*out = n;
	return 0;
}

/*
 * One round against one device: read the last accepted step, verify the
 * code after it, and move the step forward with a compare-and-set (or a
 * set-if-absent for the first code). *again on a lost race.
 */
static af_mfa_status code_round(store_ctx *st, tc_key *key, const char *lkey,
				const char *code, int64_t now, bool *again)
{
	tc_totp_params p;
	store_value raw = {NULL, 0};
	char text[STEP_TEXT_MAX];
	uint64_t matched = 0, last = 0;
	bool have_last = false;
	store_status sst;
	af_mfa_status rc;
	tc_status tst;
	int n;

	*again = false;
	tc_totp_params_init(&p);
	sst = store_get(st, lkey, &raw);
	if (sst == STORE_OK) {
		if (step_parse(&raw, &last) != 0) {
			rc = AF_MFA_STORE;
			goto out;
		}
		have_last = true;
	} else if (sst != STORE_NOT_FOUND) {
		rc = af_mfa__from_store(sst);
		goto out;
	}
	tst = tc_totp_verify(key, &p, now, code, TOTP_WINDOW,
			     have_last ? &last : NULL, &matched);
	if (tst == TC_ERR_REPLAY) {
		rc = AF_MFA_REPLAY;
		goto out;
	}
	if (tst != TC_OK) {
		/* A malformed code, or a time before 1970, matches nothing. */
		rc = AF_MFA_MISMATCH;
		goto out;
	}
	n = snprintf(text, sizeof(text), "%llu", (unsigned long long)matched);
	if (have_last)
		sst = store_cas(st, lkey, raw.data, raw.len, text, (size_t)n,
				0);
	else
		sst = store_set(st, lkey, text, (size_t)n, 0, STORE_SET_NX);
	*again = sst == STORE_CONFLICT || sst == STORE_EXISTS ||
		 sst == STORE_NOT_FOUND;
	rc = *again ? AF_MFA_REPLAY : af_mfa__from_store(sst);
out:
	store_value_free(&raw);
	return rc;
}

static af_mfa_status code_device(store_ctx *st, const char *id,
				 const char *code, int64_t now)
{
	char lkey[AF_MFA__KEY_MAX];
	json_t *dev = NULL;
	tc_key *key = NULL;
	bool again = false;
	af_mfa_status rc;
	int tries;

	rc = af_mfa_device_get(st, id, &dev);
	if (rc == AF_MFA_OK)
		rc = device_totp_key(dev, &key);
	af_mfa_device_free(dev);
	if (rc == AF_MFA_OK)
		rc = af_mfa__key(lkey, sizeof(lkey), "totp_last:", id);
	/*
	 * Losing a race re-reads the step: the winner's step may be this
	 * very one (then it is a replay) or an older one (then try again).
	 */
	for (tries = 0; rc == AF_MFA_OK && tries < AF_MFA__CAS_TRIES; tries++) {
		rc = code_round(st, key, lkey, code, now, &again);
		if (!again)
			break;
		rc = AF_MFA_OK;
	}
	if (again)
		rc = AF_MFA_STORE;
	tc_key_free(key);
	return rc;
}

/*
 * Which outcome over several devices tells the user most: a match, then a
 * code already used, then a wrong code, then a failure, then no device.
 */
static int outcome_rank(af_mfa_status rc)
{
	switch (rc) {
	case AF_MFA_OK:
		return 0;
	case AF_MFA_REPLAY:
		return 1;
	case AF_MFA_MISMATCH:
		return 2;
	case AF_MFA_NOT_FOUND:
		return 4;
	default:
		return 3;
	}
}

af_mfa_status af_mfa_code_try(store_ctx *st, const char *username,
			      uint32_t window_s, int64_t *n, int64_t *left_s)
{
	char key[AF_MFA__KEY_MAX];
	uint64_t ttl_ms = 0;
	af_mfa_status rc;
	store_status sst;

	if (left_s != NULL)
		*left_s = 0;
	if (st == NULL || n == NULL || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	rc = af_mfa__key(key, sizeof(key), "code_tries:", username);
	if (rc != AF_MFA_OK)
		return rc;
	/* Durable: a restart gives no one more tries. */
	rc = af_mfa__from_store(
		store_incr_durable(st, key, 1, (uint64_t)window_s * 1000u, n));
	if (rc != AF_MFA_OK || *n <= AF_MFA_CODE_USER_TRIES || left_s == NULL)
		return rc;
	sst = store_ttl(st, key, &ttl_ms);
	if (sst == STORE_OK)
		*left_s = (int64_t)((ttl_ms + 999) / 1000);
	return sst == STORE_OK || sst == STORE_NOT_FOUND
		       ? AF_MFA_OK
		       : af_mfa__from_store(sst);
}

af_mfa_status af_mfa_code_tries_clear(store_ctx *st, const char *username)
{
	char key[AF_MFA__KEY_MAX];
	af_mfa_status rc;

	if (st == NULL || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	rc = af_mfa__key(key, sizeof(key), "code_tries:", username);
	if (rc == AF_MFA_OK)
		rc = af_mfa__from_store(store_del(st, key));
	return rc;
}

af_mfa_status af_mfa_code_check(store_ctx *st, const char *username,
				const char *code, int64_t now, char *device_id,
				size_t cap)
{
	json_t *ids = NULL, *idv;
	af_mfa_status rc, best = AF_MFA_NOT_FOUND;
	size_t i;

	if (device_id != NULL && cap > 0)
		device_id[0] = '\0';
	if (st == NULL || code == NULL || device_id == NULL ||
	    cap < AF_MFA_ID_BUF || !af_mfa__user_ok(username))
		return AF_MFA_INVALID;
	rc = user_device_ids(st, username, &ids);
	if (rc != AF_MFA_OK)
		return rc;
	json_array_foreach(ids, i, idv)
	{
		const char *id = json_string_value(idv);

		rc = code_device(st, id, code, now);
		if (outcome_rank(rc) < outcome_rank(best))
			best = rc;
		if (rc == AF_MFA_OK) {
			(void)snprintf(device_id, cap, "%s", id);
			break;
		}
	}
	json_decref(ids);
	return best;
}

/* --- push eligibility ----------------------------------------------------- */

int af_mfa_device_below_minimum(const json_t *device, const json_t *workflow)
{
	const char *platform =
		json_string_value(json_object_get(device, "platform"));
	const char *min;

	if (!platform_pushes(platform))
		return 0;
	min = json_string_value(json_object_get(
		json_object_get(workflow, "min_app_version"),
		strcmp(platform, "apns") == 0 ? "ios" : "android"));
	return !af_mfa_version_at_least(
		json_string_value(json_object_get(device, "app_version")), min);
}

int af_mfa_device_pushable(const json_t *device, const json_t *workflow)
{
	const char *platform =
		json_string_value(json_object_get(device, "platform"));
	const char *token =
		json_string_value(json_object_get(device, "push_token"));

	if (!platform_pushes(platform) || token == NULL || token[0] == '\0' ||
	    !json_is_true(json_object_get(device, "push_token_valid")))
		return 0;
	if (json_is_true(json_object_get(workflow, "legacy")))
		return 0;
	return !af_mfa_device_below_minimum(device, workflow);
}
