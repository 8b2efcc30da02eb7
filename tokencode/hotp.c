/*
 * HOTP (RFC 4226) and TOTP (RFC 6238) over a keyed OpenSSL HMAC context.
 *
 * The key is absorbed once in tc_key_new(); each code afterwards only
 * re-initialises the context from its saved keyed state, so verifying a
 * window of three steps costs three HMACs and little else.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "tokencode.h"

struct tc_key {
	EVP_MAC_CTX *mac;
	size_t maclen;
};

static const uint32_t powers10[] = {
	1u,	 10u,	   100u,      1000u,	  10000u,
	100000u, 1000000u, 10000000u, 100000000u, 1000000000u,
};

static const char *digest_name(tc_algo algo)
{
	switch (algo) {
	case TC_ALGO_SHA1:
		return "SHA1";
	case TC_ALGO_SHA256:
		return "SHA256";
	case TC_ALGO_SHA512:
		return "SHA512";
	}
	return NULL;
}

const char *tc_algo_name(tc_algo algo)
{
	const char *name = digest_name(algo);

	return name != NULL ? name : "SHA1";
}

tc_status tc_algo_parse(const char *name, tc_algo *out)
{
	static const struct {
		const char *name;
		tc_algo algo;
	} names[] = {
		{"sha1", TC_ALGO_SHA1},
		{"sha256", TC_ALGO_SHA256},
		{"sha512", TC_ALGO_SHA512},
	};
	size_t i;

	if (name == NULL || out == NULL)
		return TC_ERR_ARG;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (OPENSSL_strcasecmp(name, names[i].name) == 0) {
			*out = names[i].algo;
			return TC_OK;
		}
	}
	return TC_ERR_ALGO;
}

tc_status tc_key_new(const uint8_t *secret, size_t len, tc_algo algo,
		     tc_key **out)
{
	EVP_MAC *hmac = NULL;
	tc_key *key = NULL;
	OSSL_PARAM params[2];
	const char *md = digest_name(algo);
	char mdname[8];
	tc_status st = TC_ERR_CRYPTO;

	if (out == NULL)
		return TC_ERR_ARG;
	*out = NULL;
	if (md == NULL)
		return TC_ERR_ALGO;
	if (secret == NULL || len == 0)
		return TC_ERR_EMPTY_SECRET;
	if (len > TC_SECRET_MAX)
		return TC_ERR_SECRET_TOO_LONG;

	key = OPENSSL_zalloc(sizeof(*key));
	if (key == NULL)
		return TC_ERR_NOMEM;
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (hmac == NULL)
		goto out;
	key->mac = EVP_MAC_CTX_new(hmac);
	if (key->mac == NULL)
		goto out;
	/* OSSL_PARAM wants a mutable string; it only reads it. */
	memcpy(mdname, md, strlen(md) + 1);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     mdname, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(key->mac, secret, len, params))
		goto out;
	key->maclen = EVP_MAC_CTX_get_mac_size(key->mac);
	if (key->maclen < 20 || key->maclen > EVP_MAX_MD_SIZE)
		goto out;
	*out = key;
	key = NULL;
	st = TC_OK;
out:
	EVP_MAC_free(hmac);
	tc_key_free(key);
	return st;
}

void tc_key_free(tc_key *key)
{
	if (key == NULL)
		return;
	/* EVP_MAC_CTX_free() cleanses the HMAC key schedule. */
	EVP_MAC_CTX_free(key->mac);
	OPENSSL_free(key);
}

tc_status tc_hotp(tc_key *key, uint64_t counter, unsigned digits,
		  uint32_t *code)
{
	unsigned char msg[8], mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0, off;
	uint32_t bin;
	int i;
	tc_status st = TC_ERR_CRYPTO;

	if (key == NULL || code == NULL)
		return TC_ERR_ARG;
	if (digits != 6 && digits != 8)
		return TC_ERR_DIGITS;

	for (i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(counter & 0xff);
		counter >>= 8;
	}
	/* A NULL key re-initialises from the saved keyed state. */
	if (!EVP_MAC_init(key->mac, NULL, 0, NULL) ||
	    !EVP_MAC_update(key->mac, msg, sizeof(msg)) ||
	    !EVP_MAC_final(key->mac, mac, &maclen, sizeof(mac)) ||
	    maclen != key->maclen)
		goto out;

	/* Dynamic truncation, RFC 4226 section 5.3. */
	off = mac[maclen - 1] & 0x0f;
	bin = ((uint32_t)(mac[off] & 0x7f) << 24) |
	      ((uint32_t)mac[off + 1] << 16) | ((uint32_t)mac[off + 2] << 8) |
	      (uint32_t)mac[off + 3];
	*code = bin % powers10[digits];
	st = TC_OK;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return st;
}

tc_status tc_code_format(uint32_t code, unsigned digits, char *out,
			 size_t outcap)
{
	unsigned i;

	if (out == NULL)
		return TC_ERR_ARG;
	if (digits < 1 || digits > 8)
		return TC_ERR_DIGITS;
	if (outcap < (size_t)digits + 1)
		return TC_ERR_BUFFER;
	if (code >= powers10[digits])
		return TC_ERR_ARG;
	out[digits] = '\0';
	for (i = digits; i > 0; i--) {
		out[i - 1] = (char)('0' + code % 10);
		code /= 10;
	}
	return TC_OK;
}

void tc_totp_params_init(tc_totp_params *p)
{
	if (p == NULL)
		return;
	p->digits = TC_DIGITS_DEFAULT;
	p->step = TC_STEP_DEFAULT;
	p->t0 = 0;
}

static tc_status check_params(const tc_totp_params *p)
{
	if (p == NULL)
		return TC_ERR_ARG;
	if (p->digits != 6 && p->digits != 8)
		return TC_ERR_DIGITS;
	if (p->step < 1 || p->step > 3600)
		return TC_ERR_STEP;
	return TC_OK;
}

tc_status tc_totp_step(const tc_totp_params *p, int64_t now, uint64_t *step)
{
	tc_status st = check_params(p);

	if (st != TC_OK)
		return st;
	if (step == NULL)
		return TC_ERR_ARG;
	if (now < p->t0)
		return TC_ERR_TIME;
	/* now >= t0, so the difference fits an unsigned 64-bit value. */
	*step = ((uint64_t)now - (uint64_t)p->t0) / p->step;
	return TC_OK;
}

tc_status tc_totp(tc_key *key, const tc_totp_params *p, int64_t now, char *out,
		  size_t outcap)
{
	uint64_t step;
	uint32_t code;
	tc_status st;

	st = tc_totp_step(p, now, &step);
	if (st != TC_OK)
		return st;
	st = tc_hotp(key, step, p->digits, &code);
	if (st != TC_OK)
		return st;
	st = tc_code_format(code, p->digits, out, outcap);
	code = 0;
	return st;
}

/* Parses exactly `digits` ASCII digits; the value goes to *value. */
static tc_status parse_code(const char *code, unsigned digits, uint32_t *value)
{
	uint32_t v = 0;
	unsigned i;

	for (i = 0; i < digits; i++) {
		if (code[i] < '0' || code[i] > '9')
			return TC_ERR_CODE_FORMAT;
		v = v * 10 + (uint32_t)(code[i] - '0');
	}
	if (code[digits] != '\0')
		return TC_ERR_CODE_FORMAT;
	*value = v;
	return TC_OK;
}

tc_status tc_totp_verify(tc_key *key, const tc_totp_params *p, int64_t now,
			 const char *code, unsigned window,
			 const uint64_t *last_step, uint64_t *matched)
{
	uint64_t center, first, last, s, n, found = 0;
	uint32_t want = 0, got = 0;
	int any = 0, fresh = 0;
	tc_status st;

	if (key == NULL || code == NULL || matched == NULL)
		return TC_ERR_ARG;
	if (window > TC_WINDOW_MAX)
		return TC_ERR_WINDOW;
	st = tc_totp_step(p, now, &center);
	if (st != TC_OK)
		return st;
	if (strnlen(code, TC_CODE_BUF) != p->digits)
		return TC_ERR_CODE_FORMAT;
	st = parse_code(code, p->digits, &want);
	if (st != TC_OK)
		return st;

	first = center >= window ? center - window : 0;
	/* At the top of the counter's range the window ends there. */
	last = center <= UINT64_MAX - window ? center + window : UINT64_MAX;
	/*
	 * Every step is computed and compared, with no early exit, so the
	 * time taken does not tell which step matched. Counted by n, not by
	 * s <= last, which a last of UINT64_MAX would never end.
	 */
	for (n = 0, s = first; n <= last - first; n++, s++) {
		int eq, usable;

		st = tc_hotp(key, s, p->digits, &got);
		if (st != TC_OK)
			goto out;
		eq = CRYPTO_memcmp(&got, &want, sizeof(got)) == 0;
		usable = last_step == NULL || s > *last_step;
		any |= eq;
		if (eq && usable && !fresh) {
			fresh = 1;
			found = s;
		}
	}
	if (fresh) {
		*matched = found;
		st = TC_OK;
	} else {
		st = any ? TC_ERR_REPLAY : TC_ERR_MISMATCH;
	}
out:
	want = got = 0;
	return st;
}
