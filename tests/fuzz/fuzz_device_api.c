/*
 * Fuzz target: the signed device API (/device/v1/...) as the phone uses
 * it, past the signature: the harness signs each request as a phone
 * would (docs/device-api.md), so that the fuzzer reaches the handlers.
 * Each input is up to 4 requests, each ended by a NUL byte: a flags byte
 *
 *   bits 0-1  the method: GET, POST, PUT, DELETE
 *   bit 2     signed by bob's phone (else alice's)
 *   bit 3     named as the other phone (X-AF-Device) than the key signs
 *   bit 4     a signature over other bytes than the request's
 *   bit 5     signed by a key no phone has, without X-AF-Device (as an
 *             enrollment is)
 *   bit 6     in the first request's alone: alice's phone was removed
 *             before
 *
 * then the path and query up to a newline, then the JSON body. In them
 * these stand for what a fuzzer cannot guess:
 *
 *   $T  the push waiting on alice's phone     $N  its number
 *   $A  alice's phone's device id              $B  bob's
 *   $E  a live enrollment code for alice
 *   $K  the public JWK of the key no phone has (bit 5's)
 *
 * Nothing may crash or leak; every answer is JSON and never holds the
 * number (it is only ever shown on the sign-in page); the push is
 * approved only by a request that alice's phone signed as itself,
 * POSTed to the push with decision "approve" and the right number, and
 * never once that phone is removed, whose requests then all fail; and a
 * phone is enrolled only for alice, by a POST to the enrollment endpoint
 * that carries her code, with the key that signed it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "device/device.h"
#include "fuzz_world.h"
#include "mfa/mfa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS_MAX  4
#define TARGET_MAX ((size_t)1024)
#define BODY_MAX   ((size_t)16 * 1024)

struct phone {
	EVP_PKEY *key;
	char id[AF_MFA_ID_BUF];
};

struct world {
	fz_world fw;
	struct phone alice, bob, fresh;
	char txn[AF_MFA_ID_BUF];
	char number[8];
	char code[AF_MFA_ID_BUF];
	char *fresh_jwk;
	int removed; /* alice's phone is no more */
};

/* What a request was, for the properties (see call()). */
struct sent {
	int may_approve; /* alice's phone approving with the number */
	int may_enroll;	 /* a POST to enroll with alice's code */
	EVP_PKEY *key;	 /* the key that signed it */
};

/* The public JWK of key (new reference). */
static json_t *jwk_of(EVP_PKEY *key)
{
	uint8_t pt[65];
	char x[44], y[44];
	size_t n = 0;

	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt,
					    sizeof(pt), &n) != 1 ||
	    n != 65 || af_b64url_encode(pt + 1, 32, x, sizeof(x)) != 0 ||
	    af_b64url_encode(pt + 33, 32, y, sizeof(y)) != 0)
		abort();
	return json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
			 "x", x, "y", y);
}

/* ES256 of text: base64url of r||s into out. */
static void es256(EVP_PKEY *key, const char *text, char *out, size_t cap)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[80], raw[64];
	const uint8_t *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	size_t dlen = sizeof(der);

	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &dlen, (const uint8_t *)text,
			   strlen(text)) != 1)
		abort();
	EVP_MD_CTX_free(md);
	es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	if (es == NULL)
		abort();
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 ||
	    BN_bn2binpad(s, raw + 32, 32) != 32)
		abort();
	ECDSA_SIG_free(es);
	if (af_b64url_encode(raw, sizeof(raw), out, cap) != 0)
		abort();
}

static void enroll(struct world *w, const char *user, struct phone *ph)
{
	json_t *spec, *dev = NULL;
	char err[128];

	ph->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (ph->key == NULL)
		abort();
	spec = json_pack("{s:s, s:o, s:s, s:s}", "platform", "none",
			 "public_key", jwk_of(ph->key), "app_version", "1.0.0",
			 "device_name", "phone");
	if (spec == NULL || af_mfa_device_add(w->fw.srv.store, user, spec, &dev,
					      err, sizeof(err)) != AF_MFA_OK)
		abort();
	snprintf(ph->id, sizeof(ph->id), "%s",
		 json_string_value(json_object_get(dev, "id")));
	json_decref(dev);
	json_decref(spec);
}

static void world_open(struct world *w)
{
	json_t *spec, *txn = NULL, *jwk;
	int64_t exp = 0;

	memset(w, 0, sizeof(*w));
	fz_world_open(&w->fw, 0);
	fz_user(&w->fw, "{\"username\":\"alice\"}", "correct horse battery",
		NULL);
	fz_user(&w->fw, "{\"username\":\"bob\"}", "correct horse battery",
		NULL);
	enroll(w, "alice", &w->alice);
	enroll(w, "bob", &w->bob);
	w->fresh.key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	jwk = w->fresh.key != NULL ? jwk_of(w->fresh.key) : NULL;
	w->fresh_jwk = jwk != NULL ? json_dumps(jwk, JSON_COMPACT) : NULL;
	json_decref(jwk);
	if (w->fresh_jwk == NULL ||
	    af_mfa_enroll_code_new(w->fw.srv.store, "alice", 0, w->code,
				   sizeof(w->code), &exp) != AF_MFA_OK)
		abort();
	spec = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:b}", "user", "alice",
			 "app", "af-client", "app_name", "CRM", "flow",
			 "flow-1", "devices", w->alice.id, "number_matching",
			 1);
	if (spec == NULL ||
	    af_mfa_txn_new(w->fw.srv.store, spec, af_now(), &txn) != AF_MFA_OK)
		abort();
	snprintf(w->txn, sizeof(w->txn), "%s",
		 json_string_value(json_object_get(txn, "id")));
	snprintf(w->number, sizeof(w->number), "%d",
		 (int)json_integer_value(json_object_get(txn, "number")));
	json_decref(txn);
	json_decref(spec);
}

static void world_close(struct world *w)
{
	EVP_PKEY_free(w->alice.key);
	EVP_PKEY_free(w->bob.key);
	EVP_PKEY_free(w->fresh.key);
	free(w->fresh_jwk);
	fz_world_close(&w->fw);
}

/* v holds no member "number", at any depth. */
static void no_number(json_t *v)
{
	const char *k;
	json_t *m;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, m)
		{
			if (strcmp(k, "number") == 0)
				abort();
			no_number(m);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m) no_number(m);
	}
}

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};

/*
 * 1 when the request is alice's phone, signed as itself, approving the
 * push with its number: the one request that may approve it.
 */
static int approves(const struct world *w, unsigned flags, const char *method,
		    const char *target, const char *body, size_t len)
{
	char path[128];
	json_t *o;
	int ok;

	if ((flags & 0x3c) != 0 || strcmp(method, "POST") != 0)
		return 0;
	snprintf(path, sizeof(path), "/device/v1/challenges/%s", w->txn);
	if (strcmp(target, path) != 0)
		return 0;
	o = json_loadb(body, len, 0, NULL);
	ok = o != NULL && json_is_string(json_object_get(o, "decision")) &&
	     strcmp(json_string_value(json_object_get(o, "decision")),
		    "approve") == 0 &&
	     json_is_string(json_object_get(o, "number")) &&
	     strtol(json_string_value(json_object_get(o, "number")), NULL,
		    10) == strtol(w->number, NULL, 10);
	json_decref(o);
	return ok;
}

static void call(struct world *w, unsigned flags, const char *text, size_t len,
		 struct sent *sent)
{
	const fz_subst subs[] = {{'T', w->txn},	     {'N', w->number},
				 {'A', w->alice.id}, {'B', w->bob.id},
				 {'E', w->code},     {'K', w->fresh_jwk},
				 {0, NULL}};
	const char *method = methods[flags & 0x03], *nl, *body, *q;
	const struct phone *signer = (flags & 0x20)   ? &w->fresh
				     : (flags & 0x04) ? &w->bob
						      : &w->alice;
	const struct phone *named =
		(flags & 0x08) ? (signer == &w->alice ? &w->bob : &w->alice)
			       : signer;
	char ts[24], nonce[48], sig[96], hex[65], sigstr[2048];
	char target[TARGET_MAX + 1], path[TARGET_MAX + 1];
	const char *headers[] = {"X-AF-Device",
				 named->id,
				 "X-AF-Timestamp",
				 ts,
				 "X-AF-Nonce",
				 nonce,
				 "X-AF-Signature",
				 sig,
				 "Content-Type",
				 "application/json",
				 NULL};
	int64_t now = af_now();
	size_t tlen, blen;
	json_t *answer;
	af_resp resp;
	af_req req;
	af_buf b;

	memset(sent, 0, sizeof(*sent));
	memset(&req, 0, sizeof(req));
	af_buf_init(&b, TARGET_MAX + BODY_MAX + 1);
	fz_expand(subs, text, len, &b);
	nl = b.data != NULL ? memchr(b.data, '\n', b.len) : NULL;
	tlen = nl != NULL ? (size_t)(nl - b.data) : b.len;
	if (b.failed || b.data == NULL || tlen == 0 || tlen > TARGET_MAX ||
	    memchr(b.data, '\0', b.len) != NULL) {
		af_buf_cleanup(&b);
		return;
	}
	memcpy(target, b.data, tlen);
	target[tlen] = '\0';
	body = nl != NULL ? nl + 1 : b.data + b.len;
	blen = (size_t)(b.data + b.len - body);
	q = strchr(target, '?');
	snprintf(path, sizeof(path), "%.*s",
		 (int)(q != NULL ? (size_t)(q - target) : tlen), target);
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	if (af_random_token(18, nonce, sizeof(nonce)) != 0)
		abort();
	af_sha256_hex(body, blen, hex);
	snprintf(sigstr, sizeof(sigstr), "AF-DEVICE-V1\n%s\n%s\n%s\n%s\n%s",
		 method, target, ts, nonce, (flags & 0x10) ? "0" : hex);
	es256(signer->key, sigstr, sig, sizeof(sig));
	/* A key no phone has names no device: the header is left out. */
	if (fz_request(&req, "GET", path, q != NULL ? q + 1 : "",
		       q != NULL ? strlen(q + 1) : 0,
		       named == &w->fresh ? headers + 2 : headers) == 0) {
		req.method = method;
		req.raw_query = q != NULL ? q + 1 : NULL;
		req.body = blen > 0 ? body : NULL;
		req.body_len = blen;
		snprintf(req.client_ip, sizeof(req.client_ip), "192.0.2.7");
		af_resp_init(&resp, 0);
		af_h_device_at(&w->fw.srv, &req, &resp, now);
		answer = json_loadb(resp.body.data, resp.body.len, 0, NULL);
		if (answer == NULL)
			abort();
		no_number(answer);
		json_decref(answer);
		/* A removed phone's signature opens nothing. */
		if (w->removed && signer == &w->alice && named == &w->alice &&
		    strcmp(path, "/device/v1/enroll") != 0 &&
		    resp.status >= 200 && resp.status < 300)
			abort();
		af_resp_cleanup(&resp);
		sent->may_approve = !w->removed && approves(w, flags, method,
							    target, body, blen);
		sent->may_enroll = strcmp(method, "POST") == 0 &&
				   strcmp(path, "/device/v1/enroll") == 0 &&
				   fz_has(text, len, 'E');
		sent->key = signer->key;
	}
	fz_request_free(&req);
	af_buf_cleanup(&b);
}

/* The user's phones (new reference). */
static json_t *phones(const struct world *w, const char *user)
{
	json_t *list = NULL;

	if (af_mfa_device_list(w->fw.srv.store, user, &list) != AF_MFA_OK)
		abort();
	return list;
}

/* Whether one of list's phones has the public key of key. */
static int has_key(const json_t *list, EVP_PKEY *key)
{
	json_t *jwk = jwk_of(key), *d;
	size_t i;
	int found = 0;

	json_array_foreach(list, i, d)
	{
		found |= json_equal(
			json_object_get(json_object_get(d, "public_key"), "x"),
			json_object_get(jwk, "x"));
	}
	json_decref(jwk);
	return found;
}

static int approved(const struct world *w)
{
	json_t *txn = NULL;
	int yes;

	if (af_mfa_txn_get(w->fw.srv.store, w->txn, af_now(), &txn) !=
	    AF_MFA_OK)
		return 0;
	yes = json_is_string(json_object_get(txn, "state")) &&
	      strcmp(json_string_value(json_object_get(txn, "state")),
		     "approved") == 0;
	json_decref(txn);
	return yes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *text;
	json_t *alice, *bob, *after;
	struct sent sent;
	struct world w;
	unsigned flags;
	size_t len;
	int calls = 0, allowed = 0;

	world_open(&w);
	alice = phones(&w, "alice");
	bob = phones(&w, "bob");
	while (calls++ < CALLS_MAX && fz_next(&p, end, &flags, &text, &len)) {
		if (calls == 1 && (flags & 0x40)) {
			if (af_mfa_device_remove(w.fw.srv.store, w.alice.id) !=
			    AF_MFA_OK)
				abort();
			w.removed = 1;
			json_decref(alice);
			alice = phones(&w, "alice");
		}
		call(&w, flags, text, len, &sent);
		allowed |= sent.may_approve;
		if (approved(&w) && !allowed)
			abort();
		after = phones(&w, "alice");
		if (json_array_size(after) > json_array_size(alice) &&
		    (!sent.may_enroll || !has_key(after, sent.key)))
			abort();
		json_decref(alice);
		alice = after;
		after = phones(&w, "bob");
		if (json_array_size(after) > json_array_size(bob))
			abort();
		json_decref(after);
	}
	json_decref(alice);
	json_decref(bob);
	world_close(&w);
	return 0;
}
