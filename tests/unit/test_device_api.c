/*
 * Unit tests of the device API: the signature primitives of sign.c, and
 * af_h_device_at() on a server context built by hand (memory store,
 * directory with a cheap Argon2 cost), called with requests signed by
 * P-256 keys made here, exactly as docs/device-api.md says a phone signs.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "device/device.h"
#include "device/device_internal.h"
#include "directory/audit.h"
#include "directory/directory.h"
#include "mfa/mfa.h"
#include "server.h"

#define NOW	   ((int64_t)1700000000)
#define USER	   "alice"
#define USER_NAME  "Alice Example"
#define ENROLL	   "/device/v1/enroll"
#define LIST	   "/device/v1/challenges"
/* The phone's address, and that of the browser that signed in. */
#define PHONE_IP   "198.51.100.20"
#define BROWSER_IP "203.0.113.7"

struct fx {
	af_server srv;
	int logfd;
	af_resp resp;
	int have_resp;
	json_t *answer; /* the last answer's JSON */
	EVP_PKEY *key;	/* the enrolled device's key */
	EVP_PKEY *other;
	char device[AF_MFA_ID_BUF];
};

/* ---- keys and signatures -------------------------------------------- */

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

/* The public JWK of key (new reference). */
static json_t *jwk_of(EVP_PKEY *key)
{
	uint8_t pt[65];
	char x[44], y[44];
	size_t n = 0;

	assert_int_equal(
		EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY,
						pt, sizeof(pt), &n),
		1);
	assert_int_equal(n, 65);
	assert_int_equal(pt[0], 0x04);
	assert_int_equal(af_b64url_encode(pt + 1, 32, x, sizeof(x)), 0);
	assert_int_equal(af_b64url_encode(pt + 33, 32, y, sizeof(y)), 0);
	return json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
			 "x", x, "y", y);
}

/* ES256 of text: base64url of r||s into out (at least 87 bytes). */
static void es256(EVP_PKEY *key, const char *text, char *out, size_t outcap)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[80], raw[64];
	const uint8_t *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	size_t dlen = sizeof(der);

	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key),
			 1);
	assert_int_equal(EVP_DigestSign(md, der, &dlen, (const uint8_t *)text,
					strlen(text)),
			 1);
	EVP_MD_CTX_free(md);
	es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	assert_non_null(es);
	ECDSA_SIG_get0(es, &r, &s);
	assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
	assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
	ECDSA_SIG_free(es);
	assert_int_equal(af_b64url_encode(raw, sizeof(raw), out, outcap), 0);
}

/* ---- fixture ----------------------------------------------------------- */

static int setup(void **state)
{
	store_options so = {.backend = STORE_BACKEND_MEMORY};
	af_dir_options o;
	struct fx *f = calloc(1, sizeof(*f));
	char err[AF_DIR_ERR_BUF];
	json_t *spec;

	assert_non_null(f);
	af_config_defaults(&f->srv.cfg);
	assert_int_equal(store_open(&so, &f->srv.store, err, sizeof(err)),
			 STORE_OK);
	af_dir_options_default(&o);
	o.pw.m_kib = 64;
	o.pw.t = 1;
	o.pw.p = 1;
	assert_int_equal(
		af_dir_new(f->srv.store, &o, &f->srv.dir, err, sizeof(err)),
		AF_DIR_OK);
	spec = json_pack("{s:s, s:s}", "username", USER, "name", USER_NAME);
	assert_int_equal(af_dir_user_add(f->srv.dir, "test", spec, NULL, NULL,
					 err, sizeof(err)),
			 AF_DIR_OK);
	json_decref(spec);
	f->logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(f->logfd >= 0);
	f->srv.log = log_new(f->logfd, LOG_LEVEL_DEBUG);
	assert_non_null(f->srv.log);
	f->key = new_key();
	f->other = new_key();
	*state = f;
	return 0;
}

static void drop_resp(struct fx *f)
{
	if (f->have_resp)
		af_resp_cleanup(&f->resp);
	f->have_resp = 0;
	json_decref(f->answer);
	f->answer = NULL;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	drop_resp(f);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->other);
	log_free(f->srv.log);
	close(f->logfd);
	af_dir_free(f->srv.dir);
	store_close(f->srv.store);
	free(f);
	return 0;
}

/* ---- requests ---------------------------------------------------------- */

/*
 * One request. What is sent: method, path, query (raw, or NULL), body
 * (or NULL), the device header (NULL: omitted), ts and nonce (NULL: a
 * fresh random one). The sign_* members, when set, replace what goes into
 * the signing string, to make signatures over something else; sig, when
 * set, replaces the signature header; omit names a header not to send.
 */
typedef struct rq {
	const char *method;
	const char *path;
	const char *query;
	const char *body;
	const char *device;
	EVP_PKEY *key;
	int64_t ts;
	const char *nonce;
	const char *sign_method;
	const char *sign_target;
	const char *sign_body;
	const char *sig;
	const char *omit;
	const char *twice; /* a header sent a second time, same value */
} rq;

/* Fails when any member of v, at any depth, is named "number". */
static void assert_no_number(json_t *v)
{
	const char *k;
	json_t *m;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, m)
		{
			assert_string_not_equal(k, "number");
			assert_no_number(m);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m) assert_no_number(m);
	}
}

static unsigned send_rq(struct fx *f, const rq *r)
{
	char ts[24], nonce[48], sig[96], target[1024], body_hex[65];
	char sigstr[2048];
	const char *headers[16] = {NULL};
	const char *sbody;
	size_t nh = 0;
	af_req req;

	drop_resp(f);
	snprintf(ts, sizeof(ts), "%" PRId64, r->ts);
	if (r->nonce != NULL)
		snprintf(nonce, sizeof(nonce), "%s", r->nonce);
	else
		assert_int_equal(af_random_token(18, nonce, sizeof(nonce)), 0);
	if (r->sign_target != NULL)
		snprintf(target, sizeof(target), "%s", r->sign_target);
	else
		snprintf(target, sizeof(target), "%s%s%s", r->path,
			 r->query != NULL ? "?" : "",
			 r->query != NULL ? r->query : "");
	sbody = r->sign_body != NULL ? r->sign_body
				     : (r->body != NULL ? r->body : "");
	af_sha256_hex(sbody, strlen(sbody), body_hex);
	snprintf(sigstr, sizeof(sigstr), "AF-DEVICE-V1\n%s\n%s\n%s\n%s\n%s",
		 r->sign_method != NULL ? r->sign_method : r->method, target,
		 ts, nonce, body_hex);
	es256(r->key != NULL ? r->key : f->key, sigstr, sig, sizeof(sig));
#define HDR(name, value)                                               \
	do {                                                           \
		if (r->omit == NULL || strcmp(r->omit, name) != 0) {   \
			headers[nh++] = (name);                        \
			headers[nh++] = (value);                       \
		}                                                      \
		if (r->twice != NULL && strcmp(r->twice, name) == 0) { \
			headers[nh++] = (name);                        \
			headers[nh++] = (value);                       \
		}                                                      \
	} while (0)
	if (r->device != NULL)
		HDR("X-AF-Device", r->device);
	HDR("X-AF-Timestamp", ts);
	HDR("X-AF-Nonce", nonce);
	HDR("X-AF-Signature", r->sig != NULL ? r->sig : sig);
	if (r->body != NULL)
		HDR("Content-Type", "application/json");
#undef HDR
	memset(&req, 0, sizeof(req));
	req.method = r->method;
	req.path = r->path;
	req.raw_query = r->query;
	if (r->query != NULL)
		assert_int_equal(
			hp_params_parse(r->query, strlen(r->query), &req.query),
			HP_OK);
	else
		req.query = hp_params_new();
	assert_non_null(req.query);
	if (r->body != NULL) {
		req.body = r->body;
		req.body_len = strlen(r->body);
	}
	req.test_headers = headers;
	snprintf(req.rid, sizeof(req.rid), "test");
	snprintf(req.client_ip, sizeof(req.client_ip), "%s", PHONE_IP);
	af_resp_init(&f->resp, 0);
	f->have_resp = 1;
	af_h_device_at(&f->srv, &req, &f->resp, NOW);
	hp_params_free(req.query);
	assert_string_equal(f->resp.content_type, "application/json");
	f->answer = json_loadb(f->resp.body.data, f->resp.body.len, 0, NULL);
	assert_non_null(f->answer);
	/* The number never leaves the server through this API. */
	assert_no_number(f->answer);
	return f->resp.status;
}

static const char *answer_str(const struct fx *f, const char *key)
{
	return json_string_value(json_object_get(f->answer, key));
}

static void assert_error(const struct fx *f, const char *code)
{
	assert_non_null(answer_str(f, "error"));
	assert_string_equal(answer_str(f, "error"), code);
}

/* A fresh enrollment code for USER. */
static void new_code(struct fx *f, char *code, size_t cap)
{
	int64_t exp = 0;

	assert_int_equal(
		af_mfa_enroll_code_new(f->srv.store, USER, 0, code, cap, &exp),
		AF_MFA_OK);
}

/* An enroll body with key's public JWK (text into out). */
static void enroll_body(EVP_PKEY *key, const char *code, char *out, size_t cap)
{
	json_t *b = json_pack("{s:s, s:s, s:s, s:b, s:o, s:s, s:s}", "code",
			      code, "platform", "apns", "push_token",
			      "apns-token-0001", "sandbox", 1, "public_key",
			      jwk_of(key), "app_version", "2024.1",
			      "device_name", "Alice's phone");
	char *text;

	assert_non_null(b);
	text = json_dumps(b, JSON_COMPACT);
	assert_non_null(text);
	snprintf(out, cap, "%s", text);
	free(text);
	json_decref(b);
}

static unsigned enroll_with(struct fx *f, EVP_PKEY *body_key,
			    EVP_PKEY *sign_key, const char *code)
{
	char body[1024];
	rq r = {.method = "POST", .path = ENROLL, .ts = NOW, .key = sign_key};

	enroll_body(body_key, code, body, sizeof(body));
	r.body = body;
	return send_rq(f, &r);
}

/* Enrolls f->key and keeps the device id in f->device. */
static void enroll(struct fx *f)
{
	char code[AF_MFA_ID_BUF];

	new_code(f, code, sizeof(code));
	assert_int_equal(enroll_with(f, f->key, f->key, code), 201);
	snprintf(f->device, sizeof(f->device), "%s",
		 answer_str(f, "device_id"));
}

/* The detail of the newest audit event with the action (a new value). */
struct newest_of {
	const char *action;
	json_t *detail;
};

static int find_newest(const json_t *ev, void *arg)
{
	struct newest_of *n = arg;
	const char *action = json_string_value(json_object_get(ev, "action"));

	if (n->detail != NULL || action == NULL ||
	    strcmp(action, n->action) != 0)
		return 0;
	n->detail = json_deep_copy(json_object_get(ev, "detail"));
	return 0;
}

static json_t *newest_detail(struct fx *f, const char *action)
{
	struct newest_of n = {action, NULL};

	assert_int_equal(af_audit_list(f->srv.dir, 100, find_newest, &n),
			 AF_DIR_OK);
	assert_non_null(n.detail);
	return n.detail;
}

/*
 * A pending txn for the devices given (NULL-terminated), of a sign-in from
 * address ip (NULL: not known); id into out.
 */
static void new_txn_from(struct fx *f, const char *const *devices, int64_t at,
			 const char *ip, char *out, size_t cap, int *number)
{
	json_t *devs = json_array(), *spec, *txn = NULL;
	size_t i;

	for (i = 0; devices[i] != NULL; i++)
		json_array_append_new(devs, json_string(devices[i]));
	/* As the sign-in makes it: with the user's full name. */
	spec = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:s?, s:s}", "user",
			 USER, "app", "af-client", "app_name", "Qlik Sense",
			 "flow", "flow-1", "devices", devs, "number_matching",
			 1, "ip", ip, "display_name", USER_NAME);
	assert_non_null(spec);
	assert_int_equal(af_mfa_txn_new(f->srv.store, spec, at, &txn),
			 AF_MFA_OK);
	snprintf(out, cap, "%s", json_string_value(json_object_get(txn, "id")));
	if (number != NULL)
		*number =
			(int)json_integer_value(json_object_get(txn, "number"));
	json_decref(txn);
	json_decref(spec);
}

static void new_txn_at(struct fx *f, const char *const *devices, int64_t at,
		       char *out, size_t cap, int *number)
{
	new_txn_from(f, devices, at, NULL, out, cap, number);
}

static void new_txn(struct fx *f, char *out, size_t cap, int *number)
{
	const char *devs[] = {f->device, NULL};

	new_txn_at(f, devs, NOW, out, cap, number);
}

/* The txn's stored state (lent from a static buffer). */
static void assert_txn_state(struct fx *f, const char *id, const char *want)
{
	json_t *txn = NULL;

	assert_int_equal(af_mfa_txn_get(f->srv.store, id, NOW, &txn),
			 AF_MFA_OK);
	assert_string_equal(json_string_value(json_object_get(txn, "state")),
			    want);
	json_decref(txn);
}

static json_int_t last_seen(struct fx *f)
{
	json_t *dev = NULL;
	json_int_t v;

	assert_int_equal(af_mfa_device_get(f->srv.store, f->device, &dev),
			 AF_MFA_OK);
	v = json_integer_value(json_object_get(dev, "last_seen"));
	json_decref(dev);
	return v;
}

/* A signed decision on txn; path into pathbuf (kept by the caller). */
static rq decide_rq(struct fx *f, const char *txn, const char *body,
		    char *pathbuf, size_t cap)
{
	rq r = {.method = "POST", .ts = NOW, .body = body};

	snprintf(pathbuf, cap, "/device/v1/challenges/%s", txn);
	r.path = pathbuf;
	r.device = f->device;
	return r;
}

/* The brute-force failures counted for kind ("user", "ip") and name. */
static long failures(struct fx *f, const char *kind, const char *name)
{
	char key[128], hex[65];
	store_value v = {NULL, 0};
	store_status st;
	long n = 0;

	/* A user name is counted under its hash (directory/throttle.c). */
	if (strcmp(kind, "user") == 0) {
		af_sha256_hex(name, strlen(name), hex);
		name = hex;
	}
	snprintf(key, sizeof(key), "fail:%s:%s", kind, name);
	st = store_get(f->srv.store, key, &v);
	assert_true(st == STORE_OK || st == STORE_NOT_FOUND);
	if (st == STORE_OK)
		n = strtol((const char *)v.data, NULL, 10);
	store_value_free(&v);
	return n;
}

/* 1 when the nonce is on record for key (what enroll keeps it under). */
static int nonce_kept(struct fx *f, EVP_PKEY *key, const char *nonce)
{
	json_t *jwk = jwk_of(key);
	char hex[65], name[160];
	store_value v = {NULL, 0};
	store_status st;

	af_mfa_key_hash(jwk, hex);
	json_decref(jwk);
	snprintf(name, sizeof(name), "dnonce:key-%s:%s", hex, nonce);
	st = store_get(f->srv.store, name, &v);
	store_value_free(&v);
	assert_true(st == STORE_OK || st == STORE_NOT_FOUND);
	return st == STORE_OK;
}

/* The number of USER's devices. */
static size_t devices_of_user(struct fx *f)
{
	json_t *list = NULL;
	size_t n;

	assert_int_equal(af_mfa_device_list(f->srv.store, USER, &list),
			 AF_MFA_OK);
	n = json_array_size(list);
	json_decref(list);
	return n;
}

/*
 * The other form of a base64url r||s signature: (r, n - s), which
 * verifies as well as (r, s) does.
 */
static void other_s(const char *sig, char *out, size_t outcap)
{
	/* The order n of the P-256 group. */
	static const char order[] = "FFFFFFFF00000000FFFFFFFFFFFFFFFF"
				    "BCE6FAADA7179E84F3B9CAC2FC632551";
	uint8_t raw[64];
	BIGNUM *n = NULL, *s;
	size_t len = 0;

	assert_int_equal(
		af_b64url_decode(sig, strlen(sig), raw, sizeof(raw), &len), 0);
	assert_int_equal(len, 64);
	assert_true(BN_hex2bn(&n, order) > 0);
	s = BN_bin2bn(raw + 32, 32, NULL);
	assert_non_null(s);
	assert_int_equal(BN_sub(s, n, s), 1);
	assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
	BN_free(s);
	BN_free(n);
	assert_int_equal(af_b64url_encode(raw, sizeof(raw), out, outcap), 0);
}

/* ---- sign.c ------------------------------------------------------------ */

#define SIG86                                                              \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
	"AAAAAAAAAAAAAAAAAAAAAA"

static void test_sig_parse_good_headers_ok(void **state)
{
	af_device_sig s;

	(void)state;
	assert_int_equal(af_device_sig_parse("dev_ID-1", "1700000000",
					     "abcdefghijklmnop", SIG86, 1, &s),
			 AF_DEVICE_OK);
	assert_string_equal(s.device, "dev_ID-1");
	assert_int_equal(s.ts, NOW);
	assert_string_equal(s.ts_text, "1700000000");
	assert_string_equal(s.nonce, "abcdefghijklmnop");
	/* Enroll: no device needed, any given is ignored. */
	assert_int_equal(af_device_sig_parse(NULL, "1", "abcdefghijklmnop",
					     SIG86, 0, &s),
			 AF_DEVICE_OK);
	assert_string_equal(s.device, "");
}

static void test_sig_parse_bad_headers_unauthorized(void **state)
{
	static const char n64[] = "0123456789012345678901234567890123456789"
				  "012345678901234567890123";
	static const char n65[] = "0123456789012345678901234567890123456789"
				  "0123456789012345678901234";
	af_device_sig s;
	const char *N = "abcdefghijklmnop";

	(void)state;
	assert_int_equal(af_device_sig_parse("d", "1", n64, SIG86, 1, &s),
			 AF_DEVICE_OK);
	assert_int_equal(af_device_sig_parse("d", "1", n65, SIG86, 1, &s),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(
		af_device_sig_parse("d", "1", "abcdefghijklmno", SIG86, 1, &s),
		AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(
		af_device_sig_parse("d", "1", "abcdefghijklmno=", SIG86, 1, &s),
		AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_parse(NULL, "1", N, SIG86, 1, &s),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_parse("a:b", "1", N, SIG86, 1, &s),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_parse("d", NULL, N, SIG86, 1, &s),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_parse("d", "-5", N, SIG86, 1, &s),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_parse("d", " 17", N, SIG86, 1, &s),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(
		af_device_sig_parse("d", "1234567890123", N, SIG86, 1, &s),
		AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_parse("d", "1", N, NULL, 1, &s),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_parse("d", "1", N, SIG86 "A", 1, &s),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_parse("d", "1", N, &SIG86[1], 1, &s),
			 AF_DEVICE_UNAUTHORIZED);
	assert_string_equal(s.nonce, "");
}

static void test_sig_string_layout_exact(void **state)
{
	af_device_sig s;
	char out[AF_DEVICE_SIG_STRING_MAX];
	size_t n = 0;

	(void)state;
	assert_int_equal(af_device_sig_parse("d", "1700000000",
					     "abcdefghijklmnop", SIG86, 1, &s),
			 AF_DEVICE_OK);
	assert_int_equal(af_device_sig_string("GET", "/device/v1/challenges",
					      "a=%20b", &s, NULL, 0, out,
					      sizeof(out), &n),
			 AF_DEVICE_OK);
	assert_string_equal(out, "AF-DEVICE-V1\nGET\n/device/v1/challenges?"
				 "a=%20b\n1700000000\nabcdefghijklmnop\n"
				 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649"
				 "b934ca495991b7852b855");
	assert_int_equal(n, strlen(out));
	assert_int_equal(af_device_sig_string("PUT", "/x", NULL, &s, "{}", 2,
					      out, sizeof(out), &n),
			 AF_DEVICE_OK);
	assert_string_equal(out, "AF-DEVICE-V1\nPUT\n/x\n1700000000\n"
				 "abcdefghijklmnop\n44136fa355b3678a1146ad16f"
				 "7e8649e94fb4fc21fe77e8310c060f61caaff8a");
	assert_int_equal(af_device_sig_string("get", "/x", NULL, &s, NULL, 0,
					      out, sizeof(out), &n),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_string("GET", "/x y", NULL, &s, NULL, 0,
					      out, sizeof(out), &n),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_string("GET", "/x", NULL, &s, NULL, 0,
					      out, 10, &n),
			 AF_DEVICE_BAD_REQUEST);
}

static void test_sig_verify_roundtrip_ok_and_tamper_refused(void **state)
{
	struct fx *f = *state;
	json_t *jwk = jwk_of(f->key), *other = jwk_of(f->other);
	char sig[96], bad[96];

	es256(f->key, "hello", sig, sizeof(sig));
	assert_int_equal(af_device_sig_verify(NULL, jwk, "hello", sig),
			 AF_DEVICE_OK);
	assert_int_equal(af_device_sig_verify(NULL, jwk, "hellO", sig),
			 AF_DEVICE_UNAUTHORIZED);
	assert_int_equal(af_device_sig_verify(NULL, other, "hello", sig),
			 AF_DEVICE_UNAUTHORIZED);
	snprintf(bad, sizeof(bad), "%s", sig);
	bad[10] = bad[10] == 'A' ? 'B' : 'A';
	assert_int_equal(af_device_sig_verify(NULL, jwk, "hello", bad),
			 AF_DEVICE_UNAUTHORIZED);
	/* r = 0 and s = 0 never verify. */
	assert_int_equal(af_device_sig_verify(NULL, jwk, "hello", SIG86),
			 AF_DEVICE_UNAUTHORIZED);
	/* Standard base64 characters are not base64url. */
	bad[5] = '+';
	assert_int_equal(af_device_sig_verify(NULL, jwk, "hello", bad),
			 AF_DEVICE_UNAUTHORIZED);
	json_decref(other);
	json_decref(jwk);
}

/* A copy of jwk with the last bit of y flipped: off the curve. */
static json_t *off_curve(const json_t *jwk)
{
	json_t *k = json_deep_copy(jwk);
	uint8_t raw[32];
	char y[44];
	size_t n;

	assert_int_equal(
		af_b64url_decode(json_string_value(json_object_get(jwk, "y")),
				 43, raw, sizeof(raw), &n),
		0);
	raw[31] ^= 1;
	assert_int_equal(af_b64url_encode(raw, 32, y, sizeof(y)), 0);
	json_object_set_new(k, "y", json_string(y));
	return k;
}

static void test_sig_verify_bad_key_refused(void **state)
{
	struct fx *f = *state;
	json_t *jwk = jwk_of(f->key), *k;
	char sig[96];

	es256(f->key, "hello", sig, sizeof(sig));
	/* A private member is refused even though the point is fine. */
	k = json_deep_copy(jwk);
	json_object_set_new(k, "d", json_string("AAAA"));
	assert_int_equal(af_device_sig_verify(NULL, k, "hello", sig),
			 AF_DEVICE_BAD_KEY);
	json_decref(k);
	k = json_deep_copy(jwk);
	json_object_set_new(k, "crv", json_string("P-384"));
	assert_int_equal(af_device_sig_verify(NULL, k, "hello", sig),
			 AF_DEVICE_BAD_KEY);
	json_decref(k);
	k = off_curve(jwk);
	assert_int_equal(af_device_sig_verify(NULL, k, "hello", sig),
			 AF_DEVICE_BAD_KEY);
	json_decref(k);
	assert_int_equal(af_device_sig_verify(NULL, NULL, "hello", sig),
			 AF_DEVICE_BAD_KEY);
	json_decref(jwk);
}

/*
 * With a key cache: the second request of a device finds its key there,
 * and a cached key still refuses what it did not sign; a key off the
 * curve is refused every time, so it never reaches the cache.
 */
static void test_sig_verify_key_cache(void **state)
{
	struct fx *f = *state;
	json_t *jwk = jwk_of(f->key), *other = jwk_of(f->other), *k;
	char sig[96], osig[96];
	af_device_keys *keys = NULL;
	int i;

	assert_int_equal(af_device_keys_new(0, &keys), AF_DEVICE_BAD_REQUEST);
	assert_int_equal(af_device_keys_new(AF_DEVICE_KEYS_MAX + 1, &keys),
			 AF_DEVICE_BAD_REQUEST);
	/* One slot: the two keys take it over from each other. */
	assert_int_equal(af_device_keys_new(1, &keys), AF_DEVICE_OK);
	es256(f->key, "hello", sig, sizeof(sig));
	es256(f->other, "hello", osig, sizeof(osig));
	for (i = 0; i < 3; i++) {
		assert_int_equal(af_device_sig_verify(keys, jwk, "hello", sig),
				 AF_DEVICE_OK);
		assert_int_equal(af_device_sig_verify(keys, jwk, "hellO", sig),
				 AF_DEVICE_UNAUTHORIZED);
		assert_int_equal(
			af_device_sig_verify(keys, other, "hello", sig),
			AF_DEVICE_UNAUTHORIZED);
		assert_int_equal(
			af_device_sig_verify(keys, other, "hello", osig),
			AF_DEVICE_OK);
		assert_int_equal(af_device_sig_verify(keys, jwk, "hello", osig),
				 AF_DEVICE_UNAUTHORIZED);
	}
	k = off_curve(jwk);
	for (i = 0; i < 2; i++)
		assert_int_equal(af_device_sig_verify(keys, k, "hello", sig),
				 AF_DEVICE_BAD_KEY);
	af_device_keys_free(keys);
	af_device_keys_free(NULL);
	json_decref(k);
	json_decref(other);
	json_decref(jwk);
}

/*
 * Either form of s verifies (phones' signers make high-S about every
 * second time), and the other form of a request's signature is the same
 * request: its nonce refuses it as a replay.
 */
static void test_sig_either_s_form_ok_other_form_replayed_401(void **state)
{
	static const char nonce[] = "nonce-other-s-0123456789";
	struct fx *f = *state;
	json_t *jwk = jwk_of(f->key);
	char text[256], sig[96], twin[96], body_hex[65];
	rq r = {.method = "GET", .path = LIST, .ts = NOW, .nonce = nonce};

	enroll(f);
	af_sha256_hex("", 0, body_hex);
	snprintf(text, sizeof(text),
		 "AF-DEVICE-V1\nGET\n%s\n%" PRId64 "\n%s\n%s", LIST, NOW, nonce,
		 body_hex);
	es256(f->key, text, sig, sizeof(sig));
	other_s(sig, twin, sizeof(twin));
	/* n is odd: s and n - s differ, and one of them is above n / 2. */
	assert_string_not_equal(sig, twin);
	assert_int_equal(af_device_sig_verify(NULL, jwk, text, sig),
			 AF_DEVICE_OK);
	assert_int_equal(af_device_sig_verify(NULL, jwk, text, twin),
			 AF_DEVICE_OK);
	r.device = f->device;
	r.sig = twin;
	assert_int_equal(send_rq(f, &r), 200);
	r.sig = sig;
	assert_int_equal(send_rq(f, &r), 401);
	assert_error(f, "unauthorized");
	json_decref(jwk);
}

/*
 * An enrollment whose answer the app never got: the same code, signed by
 * the same key, gets the same device and secret again (no second device);
 * another key gets nothing, a replay of the retry is refused, and once the
 * device is removed the retry enrolls nothing.
 */
static void test_enroll_retry_same_key_same_answer(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], device[AF_MFA_ID_BUF], secret[128];
	char body[1024], nonce[] = "retry-nonce-0001";
	json_t *list = NULL;
	rq r = {.method = "POST", .path = ENROLL, .ts = NOW};

	new_code(f, code, sizeof(code));
	assert_int_equal(enroll_with(f, f->key, f->key, code), 201);
	snprintf(device, sizeof(device), "%s", answer_str(f, "device_id"));
	snprintf(secret, sizeof(secret), "%s",
		 json_string_value(json_object_get(
			 json_object_get(f->answer, "totp"), "secret")));
	assert_true(strlen(secret) > 0);
	enroll_body(f->key, code, body, sizeof(body));
	r.body = body;
	r.key = f->key;
	r.nonce = nonce;
	assert_int_equal(send_rq(f, &r), 201);
	assert_string_equal(answer_str(f, "device_id"), device);
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(f->answer, "totp"), "secret")),
		secret);
	assert_int_equal(af_mfa_device_list(f->srv.store, USER, &list),
			 AF_MFA_OK);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	/* The retry is no replay of the first, but may not be replayed. */
	assert_int_equal(send_rq(f, &r), 401);
	assert_int_equal(enroll_with(f, f->other, f->other, code), 401);
	assert_error(f, "invalid_code");
	assert_int_equal(af_mfa_device_remove(f->srv.store, device), AF_MFA_OK);
	assert_int_equal(enroll_with(f, f->key, f->key, code), 401);
	assert_error(f, "invalid_code");
}

/* ---- enroll ------------------------------------------------------------ */

static void test_enroll_valid_created_code_consumed(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], key[64], code_id[AF_MFA_CODE_ID_BUF];
	const json_t *totp;
	json_t *dev = NULL;
	uint64_t ttl = 1;

	new_code(f, code, sizeof(code));
	assert_int_equal(enroll_with(f, f->key, f->key, code), 201);
	assert_non_null(answer_str(f, "device_id"));
	totp = json_object_get(f->answer, "totp");
	assert_true(json_string_length(json_object_get(totp, "secret")) >= 16);
	assert_string_equal(
		json_string_value(json_object_get(totp, "algorithm")), "SHA1");
	assert_int_equal(json_integer_value(json_object_get(totp, "digits")),
			 6);
	assert_int_equal(json_integer_value(json_object_get(totp, "period")),
			 30);
	assert_int_equal(af_mfa_device_get(f->srv.store,
					   answer_str(f, "device_id"), &dev),
			 AF_MFA_OK);
	assert_string_equal(json_string_value(json_object_get(dev, "user")),
			    USER);
	assert_string_equal(
		json_string_value(json_object_get(dev, "push_token")),
		"apns-token-0001");
	/* Kept for good once the code was spent. */
	snprintf(key, sizeof(key), "device:%s", answer_str(f, "device_id"));
	assert_int_equal(store_ttl(f->srv.store, key, &ttl), STORE_OK);
	assert_int_equal(ttl, 0);
	af_mfa_device_free(dev);
	dev = newest_detail(f, "device.enroll");
	assert_string_equal(json_string_value(json_object_get(dev, "code")),
			    "administrator");
	/* The code's id, as the event of the code made has it. */
	af_mfa_enroll_code_id(code, code_id);
	assert_int_equal(strlen(code_id), 12);
	assert_string_equal(json_string_value(json_object_get(dev, "code_id")),
			    code_id);
	json_decref(dev);
	/*
	 * The same code a second time, for another key: used up (the same
	 * key's retry is test_enroll_retry_same_key_same_answer).
	 */
	assert_int_equal(enroll_with(f, f->other, f->other, code), 401);
	assert_error(f, "invalid_code");
}

static void test_enroll_unknown_code_401(void **state)
{
	struct fx *f = *state;

	assert_int_equal(enroll_with(f, f->key, f->key, "AAAABBBBCCCCDDDD"),
			 401);
	assert_error(f, "invalid_code");
}

/*
 * Only enrolled devices' keys are kept in the key cache: a key sent with
 * an enrollment (anyone may send one) is not, refused or taken.
 */
static void test_enroll_key_not_cached(void **state)
{
	struct fx *f = *state;
	uint8_t point[AF_DEVICE_POINT_LEN];
	size_t n = 0;
	EVP_PKEY *got;
	rq r = {.method = "GET", .path = LIST, .ts = NOW};

	assert_int_equal(af_device_keys_new(8, &f->srv.device_keys),
			 AF_DEVICE_OK);
	assert_int_equal(
		EVP_PKEY_get_octet_string_param(f->key, OSSL_PKEY_PARAM_PUB_KEY,
						point, sizeof(point), &n),
		1);
	assert_int_equal(n, sizeof(point));
	assert_int_equal(enroll_with(f, f->key, f->key, "AAAABBBBCCCCDDDD"),
			 401);
	assert_null(af_device__keys_get(f->srv.device_keys, point));
	enroll(f);
	assert_null(af_device__keys_get(f->srv.device_keys, point));
	/* The enrolled device's own request: its key is kept. */
	r.device = f->device;
	assert_int_equal(send_rq(f, &r), 200);
	got = af_device__keys_get(f->srv.device_keys, point);
	assert_non_null(got);
	EVP_PKEY_free(got);
	af_device_keys_free(f->srv.device_keys);
	f->srv.device_keys = NULL;
}

/*
 * A code that does not exist leaves the nonce unused: that request can
 * never enroll, replayed or not. An enrollment uses its nonce up.
 */
static void test_enroll_unknown_code_nonce_unused(void **state)
{
	static const char nonce[] = "nonce-enroll-0123456789";
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], body[1024];
	rq r = {.method = "POST", .path = ENROLL, .ts = NOW, .nonce = nonce};

	enroll_body(f->key, "AAAABBBBCCCCDDDD", body, sizeof(body));
	r.body = body;
	assert_int_equal(send_rq(f, &r), 401);
	assert_error(f, "invalid_code");
	assert_false(nonce_kept(f, f->key, nonce));
	new_code(f, code, sizeof(code));
	enroll_body(f->key, code, body, sizeof(body));
	assert_int_equal(send_rq(f, &r), 201);
	assert_true(nonce_kept(f, f->key, nonce));
	/* The enrollment again: refused, and nothing more is made. */
	assert_int_equal(send_rq(f, &r), 401);
	assert_int_equal(devices_of_user(f), 1);
}

/*
 * A live code whose user may not enroll now uses the nonce up: the same
 * request, replayed once the user is enabled again, is refused and
 * enrolls nothing (its answer would hold the TOTP secret).
 */
static void test_enroll_user_enabled_again_replay_401(void **state)
{
	static const char nonce[] = "nonce-enroll-disabled-01";
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], body[1024], err[256];
	json_t *off = json_pack("{s:b}", "enabled", 0);
	json_t *on = json_pack("{s:b}", "enabled", 1);
	rq r = {.method = "POST", .path = ENROLL, .ts = NOW, .nonce = nonce};

	new_code(f, code, sizeof(code));
	enroll_body(f->key, code, body, sizeof(body));
	r.body = body;
	assert_int_equal(af_dir_user_set(f->srv.dir, "test", USER, off, NULL,
					 err, sizeof(err)),
			 AF_DIR_OK);
	assert_int_equal(send_rq(f, &r), 401);
	assert_error(f, "invalid_code");
	assert_int_equal(af_dir_user_set(f->srv.dir, "test", USER, on, NULL,
					 err, sizeof(err)),
			 AF_DIR_OK);
	assert_int_equal(send_rq(f, &r), 401);
	assert_error(f, "unauthorized");
	assert_int_equal(devices_of_user(f), 0);
	/* Signed again with a fresh nonce, it enrolls: the code was kept. */
	r.nonce = NULL;
	assert_int_equal(send_rq(f, &r), 201);
	json_decref(off);
	json_decref(on);
}

static void test_enroll_code_of_disabled_or_removed_user_401(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], err[256];
	json_t *patch = json_pack("{s:b}", "enabled", 0);
	json_t *spec = json_pack("{s:s}", "username", USER);

	new_code(f, code, sizeof(code));
	assert_int_equal(af_dir_user_set(f->srv.dir, "test", USER, patch, NULL,
					 err, sizeof(err)),
			 AF_DIR_OK);
	assert_int_equal(enroll_with(f, f->key, f->key, code), 401);
	assert_error(f, "invalid_code");
	/* Removed and made again: the old user's codes are gone. */
	assert_int_equal(af_dir_user_remove(f->srv.dir, "test", USER, NULL, 0),
			 AF_DIR_OK);
	assert_int_equal(af_mfa_enroll_codes_revoke(f->srv.store, USER),
			 AF_MFA_OK);
	assert_int_equal(af_dir_user_add(f->srv.dir, "test", spec, NULL, NULL,
					 err, sizeof(err)),
			 AF_DIR_OK);
	assert_int_equal(enroll_with(f, f->key, f->key, code), 401);
	assert_error(f, "invalid_code");
	/* A new code for the new user works. */
	new_code(f, code, sizeof(code));
	assert_int_equal(enroll_with(f, f->key, f->key, code), 201);
	json_decref(patch);
	json_decref(spec);
}

static void test_enroll_other_key_signature_401_code_kept(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF];

	new_code(f, code, sizeof(code));
	assert_int_equal(enroll_with(f, f->key, f->other, code), 401);
	assert_error(f, "unauthorized");
	/* The code was not burnt: the genuine request still works. */
	assert_int_equal(enroll_with(f, f->key, f->key, code), 201);
}

static void test_enroll_bad_body_400_code_kept(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], body[256];
	rq r = {.method = "POST", .path = ENROLL, .ts = NOW};

	new_code(f, code, sizeof(code));
	snprintf(body, sizeof(body),
		 "{\"code\": \"%s\", \"platform\": \"apns\"}", code);
	r.body = body;
	assert_int_equal(send_rq(f, &r), 400);
	assert_error(f, "bad_request");
	r.body = "[1, 2]";
	assert_int_equal(send_rq(f, &r), 400);
	r.body = "{\"code\": ";
	assert_int_equal(send_rq(f, &r), 400);
	/* Malformed: the place is said, never the code around it. */
	snprintf(body, sizeof(body), "{\"code\": \"%s\\x\"}", code);
	r.body = body;
	assert_int_equal(send_rq(f, &r), 400);
	assert_non_null(strstr(answer_str(f, "message"), "line 1 column"));
	assert_null(strstr(answer_str(f, "message"), code));
	assert_int_equal(enroll_with(f, f->key, f->key, code), 201);
}

/*
 * A device name that reorders itself (U+202E), hides characters, or
 * shows nothing.
 */
static void test_enroll_hidden_characters_in_name_400(void **state)
{
	static const char *const names[] = {
		"Alice\xe2\x80\xae\x65nohp", /* right-to-left override */
		"Alice\xe2\x80\x8b phone",   /* zero-width space */
		"Alice\xc2\x85phone",	     /* C1 next line */
		"Alice\tphone",
		"   ",		     /* nothing but spaces */
		"\xcc\x81\xcc\x81",  /* accents with no letter */
		"\xe3\x80\x80",	     /* an ideographic space */
		"\xe2\xa0\x80",	     /* the Braille blank */
		"Alice\xef\xbf\xbe", /* a noncharacter */
	};
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], body[1024];
	rq r = {.method = "POST", .path = ENROLL, .ts = NOW, .key = f->key};
	json_t *o;
	char *text;
	size_t i;

	new_code(f, code, sizeof(code));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		enroll_body(f->key, code, body, sizeof(body));
		o = json_loads(body, 0, NULL);
		assert_non_null(o);
		assert_int_equal(json_object_set_new(o, "device_name",
						     json_string(names[i])),
				 0);
		text = json_dumps(o, JSON_COMPACT);
		assert_non_null(text);
		r.body = text;
		assert_int_equal(send_rq(f, &r), 400);
		assert_error(f, "bad_request");
		free(text);
		json_decref(o);
	}
	/* Any script is a name. */
	assert_int_equal(enroll_with(f, f->key, f->key, code), 201);
}

static void test_enroll_stale_timestamp_401_code_kept(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], body[1024];
	rq r = {.method = "POST", .path = ENROLL, .ts = NOW - 61};

	new_code(f, code, sizeof(code));
	enroll_body(f->key, code, body, sizeof(body));
	r.body = body;
	assert_int_equal(send_rq(f, &r), 401);
	assert_error(f, "clock");
	assert_int_equal(enroll_with(f, f->key, f->key, code), 201);
}

static void test_enroll_sixth_device_409_limit(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF];
	EVP_PKEY *k;
	int i;

	char first[AF_MFA_ID_BUF] = "", spare[AF_MFA_ID_BUF],
	     none[AF_MFA_ID_BUF];
	int64_t exp = 0;

	/* Made while there was room; no code is made once the user is full. */
	new_code(f, spare, sizeof(spare));
	for (i = 0; i < AF_MFA_DEVICES_MAX; i++) {
		k = new_key();
		new_code(f, code, sizeof(code));
		assert_int_equal(enroll_with(f, k, k, code), 201);
		if (i == 0)
			snprintf(first, sizeof(first), "%s",
				 answer_str(f, "device_id"));
		EVP_PKEY_free(k);
	}
	assert_int_equal(af_mfa_enroll_code_new(f->srv.store, USER, 0, none,
						sizeof(none), &exp),
			 AF_MFA_LIMIT);
	assert_string_equal(none, "");
	memcpy(code, spare, sizeof(spare));
	k = new_key();
	assert_int_equal(enroll_with(f, k, k, code), 409);
	EVP_PKEY_free(k);
	assert_error(f, "limit");
	/* The refusal kept the code: once a device is gone, it enrolls. */
	assert_int_equal(af_mfa_device_remove(f->srv.store, first), AF_MFA_OK);
	assert_int_equal(enroll_with(f, f->key, f->key, code), 201);
}

/* A value the device store refuses is a 400 that keeps the code. */
static void test_enroll_refused_value_400_code_kept(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF], body[1024], grouped[AF_MFA_ID_BUF * 2];
	rq r = {.method = "POST", .path = ENROLL, .ts = NOW, .key = f->key};
	json_t *b;
	char *text;

	new_code(f, code, sizeof(code));
	enroll_body(f->key, code, body, sizeof(body));
	b = json_loads(body, 0, NULL);
	assert_non_null(b);
	assert_int_equal(json_object_set_new(b, "push_token",
					     json_string("apns token 01")),
			 0);
	text = json_dumps(b, JSON_COMPACT);
	assert_non_null(text);
	r.body = text;
	assert_int_equal(send_rq(f, &r), 400);
	assert_error(f, "bad_request");
	assert_non_null(strstr(answer_str(f, "message"), "push_token"));
	free(text);
	json_decref(b);
	/* Read out in groups, as people type it: the same code. */
	snprintf(grouped, sizeof(grouped), "%.4s %.4s-%.4s %.4s", code,
		 code + 4, code + 8, code + 12);
	assert_int_equal(enroll_with(f, f->key, f->key, grouped), 201);
}

/* ---- challenges ---------------------------------------------------------- */

static void test_challenges_list_shows_pending_without_number(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF];
	rq r = {.method = "GET", .path = LIST, .ts = NOW};
	const json_t *list, *c;

	enroll(f);
	new_txn(f, txn, sizeof(txn), NULL);
	r.device = f->device;
	assert_int_equal(send_rq(f, &r), 200);
	list = json_object_get(f->answer, "challenges");
	assert_int_equal(json_array_size(list), 1);
	c = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(c, "txn")), txn);
	assert_string_equal(json_string_value(json_object_get(c, "user")),
			    USER);
	assert_string_equal(json_string_value(json_object_get(c, "state")),
			    "pending");
	assert_true(json_is_true(json_object_get(c, "number_required")));
	assert_non_null(json_object_get(c, "expires_in"));
	assert_non_null(json_object_get(c, "expires_at"));
	assert_non_null(json_object_get(c, "number_digits"));
	assert_non_null(json_object_get(c, "app"));
	assert_string_equal(
		json_string_value(json_object_get(c, "display_name")),
		USER_NAME);
	/* last_seen is kept to the minute, not rewritten on every request. */
	assert_true(last_seen(f) <= NOW && NOW - last_seen(f) < 60);
}

static void test_challenge_get_own_200_other_404(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128];
	const char *devs[] = {"someOtherDevice0000000", NULL};
	rq r = {.method = "GET", .ts = NOW};

	enroll(f);
	new_txn(f, txn, sizeof(txn), NULL);
	snprintf(path, sizeof(path), "/device/v1/challenges/%s", txn);
	r.path = path;
	r.device = f->device;
	assert_int_equal(send_rq(f, &r), 200);
	assert_string_equal(answer_str(f, "txn"), txn);
	assert_string_equal(answer_str(f, "state"), "pending");
	new_txn_at(f, devs, NOW, txn, sizeof(txn), NULL);
	snprintf(path, sizeof(path), "/device/v1/challenges/%s", txn);
	assert_int_equal(send_rq(f, &r), 404);
	assert_error(f, "not_found");
	r.path = "/device/v1/challenges/no-such-txn";
	assert_int_equal(send_rq(f, &r), 404);
	/* Not a txn id at all: 404 before anything else. */
	r.path = "/device/v1/challenges/a%2Fb";
	assert_int_equal(send_rq(f, &r), 404);
}

static void test_decide_right_number_approved_then_409(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128], body[64];
	int number = 0;
	rq r;

	enroll(f);
	new_txn(f, txn, sizeof(txn), &number);
	assert_true(number >= 10 && number <= 99);
	snprintf(body, sizeof(body),
		 "{\"decision\": \"approve\", \"number\": \"%d\"}", number);
	r = decide_rq(f, txn, body, path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 200);
	assert_string_equal(answer_str(f, "state"), "approved");
	assert_txn_state(f, txn, "approved");
	r.body = "{\"decision\": \"deny\"}";
	assert_int_equal(send_rq(f, &r), 409);
	assert_error(f, "decided");
	assert_string_equal(answer_str(f, "state"), "approved");
	assert_txn_state(f, txn, "approved");
}

/*
 * Another device's txn answers 404 like an unknown one, pending or already
 * decided, so a device learns nothing about txns that are not its own;
 * and the txn is left as it was.
 */
static void test_decide_other_device_404(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128];
	const char *devs[] = {"someOtherDevice0000000", NULL};
	json_t *out = NULL;
	rq r;

	enroll(f);
	new_txn_at(f, devs, NOW, txn, sizeof(txn), NULL);
	r = decide_rq(f, txn, "{\"decision\": \"deny\"}", path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 404);
	assert_error(f, "not_found");
	assert_txn_state(f, txn, "pending");
	assert_int_equal(af_mfa_txn_decide(f->srv.store, txn, devs[0], "deny",
					   NULL, NOW, &out),
			 AF_MFA_OK);
	json_decref(out);
	assert_int_equal(send_rq(f, &r), 404);
	assert_error(f, "not_found");
	assert_txn_state(f, txn, "denied");
	r = decide_rq(f, "noSuchTxn0000000000000", "{\"decision\": \"deny\"}",
		      path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 404);
}

static void test_decide_wrong_number_failed(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128], body[64];
	int number = 0;
	rq r;

	enroll(f);
	new_txn(f, txn, sizeof(txn), &number);
	snprintf(body, sizeof(body),
		 "{\"decision\": \"approve\", \"number\": \"%d\"}",
		 number == 99 ? 10 : number + 1);
	r = decide_rq(f, txn, body, path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 200);
	assert_string_equal(answer_str(f, "state"), "failed");
	assert_txn_state(f, txn, "failed");
}

/* A body that approves with a number other than number. */
static void wrong_number_body(int number, char *out, size_t cap)
{
	snprintf(out, cap, "{\"decision\": \"approve\", \"number\": \"%d\"}",
		 number == 99 ? 10 : number + 1);
}

/*
 * A wrong number is one failure toward the lockout, for the user and the
 * browser's address of the sign-in, never the phone's; later answers to
 * the decided txn count nothing more, and a denial counts nothing.
 */
static void test_decide_wrong_number_counts_one_failure(void **state)
{
	struct fx *f = *state;
	const char *devs[] = {NULL, NULL};
	char txn[AF_MFA_ID_BUF], path[128], body[64], right[64];
	int number = 0;
	rq r;

	enroll(f);
	devs[0] = f->device;
	new_txn_from(f, devs, NOW, BROWSER_IP, txn, sizeof(txn), &number);
	wrong_number_body(number, body, sizeof(body));
	r = decide_rq(f, txn, body, path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 200);
	assert_string_equal(answer_str(f, "state"), "failed");
	assert_int_equal(failures(f, "user", USER), 1);
	assert_int_equal(failures(f, "ip", BROWSER_IP), 1);
	assert_int_equal(failures(f, "ip", PHONE_IP), 0);
	/* Decided once: the same answer again, or the right one, is a 409. */
	assert_int_equal(send_rq(f, &r), 409);
	snprintf(right, sizeof(right),
		 "{\"decision\": \"approve\", \"number\": \"%d\"}", number);
	r.body = right;
	assert_int_equal(send_rq(f, &r), 409);
	assert_int_equal(failures(f, "user", USER), 1);
	assert_int_equal(failures(f, "ip", BROWSER_IP), 1);
	new_txn(f, txn, sizeof(txn), NULL);
	r = decide_rq(f, txn, "{\"decision\": \"deny\"}", path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 200);
	assert_int_equal(failures(f, "user", USER), 1);
	/* A txn that does not know the address counts the user alone. */
	new_txn(f, txn, sizeof(txn), &number);
	wrong_number_body(number, body, sizeof(body));
	r = decide_rq(f, txn, body, path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 200);
	assert_string_equal(answer_str(f, "state"), "failed");
	assert_int_equal(failures(f, "user", USER), 2);
	assert_int_equal(failures(f, "ip", BROWSER_IP), 1);
	assert_int_equal(failures(f, "ip", PHONE_IP), 0);
}

static void test_decide_deny_denied(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128];
	rq r;

	enroll(f);
	new_txn(f, txn, sizeof(txn), NULL);
	r = decide_rq(f, txn, "{\"decision\": \"deny\"}", path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 200);
	assert_string_equal(answer_str(f, "state"), "denied");
}

/* Counts the mfa.report events by "device:<device>" about USER. */
struct report_count {
	const char *device;
	int n;
};

static int count_report(const json_t *ev, void *arg)
{
	struct report_count *rc = arg;
	const char *action = json_string_value(json_object_get(ev, "action"));
	const char *actor = json_string_value(json_object_get(ev, "actor"));
	const char *target = json_string_value(json_object_get(ev, "target"));
	char want[80];

	snprintf(want, sizeof(want), "device:%s", rc->device);
	if (action != NULL && strcmp(action, "mfa.report") == 0 &&
	    actor != NULL && strcmp(actor, want) == 0 && target != NULL &&
	    strcmp(target, USER) == 0)
		rc->n++;
	return 0;
}

static void test_decide_report_reported_and_audited(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128];
	struct report_count rc = {NULL, 0};
	json_int_t until;
	json_t *detail;
	rq r;

	enroll(f);
	new_txn(f, txn, sizeof(txn), NULL);
	r = decide_rq(f, txn, "{\"decision\": \"report\"}", path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 200);
	assert_string_equal(answer_str(f, "state"), "reported");
	rc.device = f->device;
	assert_int_equal(af_audit_list(f->srv.dir, 100, count_report, &rc),
			 AF_DIR_OK);
	assert_int_equal(rc.n, 1);
	/* With the pause the report set, for the service desk. */
	detail = newest_detail(f, "mfa.report");
	until = json_integer_value(
		json_object_get(detail, "push_paused_until"));
	/* The pause runs on the server's clock (test_mfa.c). */
	assert_true(until > af_now() + 800 && until <= af_now() + 900);
	json_decref(detail);
}

/*
 * A report whose decide call failed after the decision was stored stands
 * for the device that made it, and for no other; a txn not reported, or
 * not there, is the store's failure still.
 */
static void test_report_stands_for_its_device_only(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], other[AF_MFA_ID_BUF];
	const char *devs[] = {f->device, "other-device-id", NULL};
	json_t *res = (json_t *)1, *out = NULL;

	enroll(f);
	new_txn_at(f, devs, NOW, txn, sizeof(txn), NULL);
	/* Still pending: nothing to stand by. */
	assert_int_equal(af_device_report_stands(&f->srv, "rid", txn, f->device,
						 NOW, &res),
			 AF_MFA_STORE);
	assert_null(res);
	assert_int_equal(af_mfa_txn_decide(f->srv.store, txn, f->device,
					   "report", NULL, NOW, &out),
			 AF_MFA_OK);
	json_decref(out);
	/*
	 * A sign-in of the user made after the report's own walk (as when
	 * its pause or walk failed): standing by the report ends it.
	 */
	new_txn_at(f, devs, NOW, other, sizeof(other), NULL);
	assert_int_equal(af_device_report_stands(&f->srv, "rid", txn,
						 "other-device-id", NOW, &res),
			 AF_MFA_STORE);
	assert_null(res);
	assert_txn_state(f, other, "pending");
	assert_int_equal(af_device_report_stands(&f->srv, "rid", txn, f->device,
						 NOW, &res),
			 AF_MFA_OK);
	assert_string_equal(json_string_value(json_object_get(res, "state")),
			    "reported");
	json_decref(res);
	/* The report followed again: the user's other sign-in is ended. */
	assert_txn_state(f, other, "cancelled");
	assert_int_equal(af_device_report_stands(&f->srv, "rid", "no-such-txn",
						 f->device, NOW, &res),
			 AF_MFA_STORE);
	assert_null(res);
}

static void test_decide_expired_410(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128];
	const char *devs[] = {f->device, NULL};
	rq r;

	enroll(f);
	new_txn_at(f, devs, NOW - AF_MFA_TXN_TTL_S - 1, txn, sizeof(txn), NULL);
	r = decide_rq(f, txn, "{\"decision\": \"deny\"}", path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 410);
	assert_error(f, "expired");
}

static void test_decide_bad_body_400(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128];
	rq r;

	enroll(f);
	new_txn(f, txn, sizeof(txn), NULL);
	r = decide_rq(f, txn, "{\"decision\": \"maybe\"}", path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 400);
	r.body = "{\"decision\": \"approve\", \"number\": 42}";
	assert_int_equal(send_rq(f, &r), 400);
	r.body = "{\"decision\": \"approve\", \"number\": \"4x\"}";
	assert_int_equal(send_rq(f, &r), 400);
	assert_txn_state(f, txn, "pending");
}

/*
 * A number of another length than any shown ("071" for 71, "7") is the
 * app's slip, not a guess: 400, and the challenge can still be approved.
 */
static void test_decide_number_of_other_length_400_pending(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128], body[64];
	int number = 0;
	rq r;

	enroll(f);
	new_txn(f, txn, sizeof(txn), &number);
	snprintf(body, sizeof(body),
		 "{\"decision\": \"approve\", \"number\": \"0%d\"}", number);
	r = decide_rq(f, txn, body, path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 400);
	assert_txn_state(f, txn, "pending");
	snprintf(body, sizeof(body),
		 "{\"decision\": \"approve\", \"number\": \"%d\"}",
		 number % 10);
	r = decide_rq(f, txn, body, path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 400);
	assert_txn_state(f, txn, "pending");
	assert_int_equal(failures(f, "user", USER), 0);
	snprintf(body, sizeof(body),
		 "{\"decision\": \"approve\", \"number\": \"%d\"}", number);
	r = decide_rq(f, txn, body, path, sizeof(path));
	assert_int_equal(send_rq(f, &r), 200);
	assert_string_equal(answer_str(f, "state"), "approved");
}

/* ---- refusals: 401 and nothing changed ------------------------------------
 */

/*
 * Sends r (a signed deny of a fresh pending txn, tampered by mutate) and
 * checks the 401, that the txn is still pending and the device's last
 * seen time unchanged.
 */
/* A 401 with error code want that changed nothing. */
static void refused_as(struct fx *f, rq *r, const char *txn, const char *want)
{
	json_int_t seen = last_seen(f);

	assert_int_equal(send_rq(f, r), 401);
	assert_error(f, want);
	assert_txn_state(f, txn, "pending");
	assert_true(last_seen(f) == seen);
}

static void refused(struct fx *f, rq *r, const char *txn)
{
	refused_as(f, r, txn, "unauthorized");
}

static void test_refusals_each_401_nothing_changed(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128], sig[96];
	const char *body = "{\"decision\": \"deny\"}";
	rq base, r;

	enroll(f);
	new_txn(f, txn, sizeof(txn), NULL);
	base = decide_rq(f, txn, body, path, sizeof(path));
	base.ts = NOW;

	r = base;
	r.key = f->other;
	refused(f, &r, txn);
	r = base;
	r.sign_method = "PUT";
	refused(f, &r, txn);
	r = base;
	r.sign_target = "/device/v1/challenges/otherTxn";
	refused(f, &r, txn);
	r = base;
	r.sign_body = "{\"decision\": \"approve\"}";
	refused(f, &r, txn);
	r = base;
	r.sign_target = path;
	r.query = "x=1";
	refused(f, &r, txn);
	/* The clock alone is said apart: the app signs again. */
	r = base;
	r.ts = NOW - 61;
	refused_as(f, &r, txn, "clock");
	r = base;
	r.ts = NOW + 61;
	refused_as(f, &r, txn, "clock");
	r = base;
	r.device = "unknownDevice000000000";
	refused(f, &r, txn);
	r = base;
	r.omit = "X-AF-Device";
	refused(f, &r, txn);
	r = base;
	r.omit = "X-AF-Timestamp";
	refused(f, &r, txn);
	r = base;
	r.omit = "X-AF-Nonce";
	refused(f, &r, txn);
	r = base;
	r.omit = "X-AF-Signature";
	refused(f, &r, txn);
	r = base;
	r.nonce = "short";
	refused(f, &r, txn);
	/* Malformed base64url: standard-alphabet characters, and one short. */
	memset(sig, '+', 86);
	sig[86] = '\0';
	r = base;
	r.sig = sig;
	refused(f, &r, txn);
	r.sig = &SIG86[1];
	refused(f, &r, txn);
	r.sig = SIG86;
	refused(f, &r, txn);
	/* The genuine request still goes through after all that. */
	assert_int_equal(send_rq(f, &base), 200);
	assert_txn_state(f, txn, "denied");
}

static void test_timestamp_60s_off_accepted(void **state)
{
	struct fx *f = *state;
	rq r = {.method = "GET", .path = LIST};

	enroll(f);
	r.device = f->device;
	r.ts = NOW - 60;
	assert_int_equal(send_rq(f, &r), 200);
	r.ts = NOW + 60;
	assert_int_equal(send_rq(f, &r), 200);
}

/*
 * A memory-store server forgets its nonces when it restarts: what was
 * signed before it started is refused, inside the clock window or not.
 */
static void test_signed_before_start_401(void **state)
{
	struct fx *f = *state;
	rq r = {.method = "GET", .path = LIST};

	enroll(f);
	r.device = f->device;
	f->srv.nonces_since = NOW - 5;
	r.ts = NOW - 6;
	assert_int_equal(send_rq(f, &r), 401);
	assert_error(f, "clock");
	r.ts = NOW - 5;
	assert_int_equal(send_rq(f, &r), 200);
	/*
	 * Started 30 s ago by the monotonic clock, an hour ahead by the wall
	 * clock, since set back: the start is 30 s before now, as the clock
	 * tells it now, not an hour on.
	 */
	f->srv.nonces_since = NOW + 3600 - 30;
	f->srv.nonces_mono_ns = af_mono_ns() - (uint64_t)30 * 1000000000u;
	r.ts = NOW - 29;
	r.nonce = NULL;
	assert_int_equal(send_rq(f, &r), 200);
	r.ts = NOW - 40;
	assert_int_equal(send_rq(f, &r), 401);
	assert_error(f, "clock");
	f->srv.nonces_since = 0;
	f->srv.nonces_mono_ns = 0;
}

static void test_query_signed_in_target_ok(void **state)
{
	struct fx *f = *state;
	rq r = {.method = "GET", .path = LIST, .query = "a=%20b&c", .ts = NOW};

	enroll(f);
	r.device = f->device;
	assert_int_equal(send_rq(f, &r), 200);
	/* A '?' with nothing after it is part of the target too. */
	r.query = "";
	assert_int_equal(send_rq(f, &r), 200);
	r.sign_target = LIST;
	assert_int_equal(send_rq(f, &r), 401);
}

static void test_body_over_cap_400(void **state)
{
	struct fx *f = *state;
	rq r = {.method = "PUT", .path = "/device/v1/push-token", .ts = NOW};
	char *big = malloc(AF_DEVICE_BODY_MAX + 64);
	size_t n;

	assert_non_null(big);
	enroll(f);
	r.device = f->device;
	n = (size_t)snprintf(big, 32, "{\"push_token\": \"");
	memset(big + n, 'a', AF_DEVICE_BODY_MAX);
	snprintf(big + n + AF_DEVICE_BODY_MAX, 8, "\"}");
	r.body = big;
	assert_int_equal(send_rq(f, &r), 400);
	assert_error(f, "bad_request");
	free(big);
}

static void test_nonce_reused_401(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128];
	rq r;

	enroll(f);
	new_txn(f, txn, sizeof(txn), NULL);
	r = decide_rq(f, txn, "{\"decision\": \"deny\"}", path, sizeof(path));
	r.method = "GET";
	r.body = NULL;
	r.nonce = "nonce-0123456789abcdef";
	assert_int_equal(send_rq(f, &r), 200);
	/* The same nonce, even on another request, is a replay. */
	r.method = "POST";
	r.body = "{\"decision\": \"deny\"}";
	refused(f, &r, txn);
	r.path = LIST;
	r.method = "GET";
	r.body = NULL;
	assert_int_equal(send_rq(f, &r), 401);
}

/* A header given twice is refused, even with the same value. */
static void test_signature_header_twice_401(void **state)
{
	static const char *const names[] = {"X-AF-Device", "X-AF-Timestamp",
					    "X-AF-Nonce", "X-AF-Signature"};
	struct fx *f = *state;
	rq r = {.method = "GET", .path = LIST, .ts = NOW};
	size_t i;

	enroll(f);
	r.device = f->device;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		r.twice = names[i];
		assert_int_equal(send_rq(f, &r), 401);
	}
	r.twice = NULL;
	assert_int_equal(send_rq(f, &r), 200);
}

/*
 * A code that a password alone obtained enrolls only a first phone: once
 * the user has a phone it is a 401 invalid_code, and used up.
 */
static void test_enroll_first_phone_code_after_a_phone_401_spent(void **state)
{
	struct fx *f = *state;
	char first[AF_MFA_ID_BUF], user[128];
	int64_t exp = 0;

	assert_int_equal(af_mfa_enroll_code_new(f->srv.store, USER,
						AF_MFA_CODE_FIRST_PHONE, first,
						sizeof(first), &exp),
			 AF_MFA_OK);
	enroll(f);
	assert_int_equal(enroll_with(f, f->other, f->other, first), 401);
	assert_error(f, "invalid_code");
	assert_int_equal(af_mfa_enroll_code_peek(f->srv.store, first, user,
						 sizeof(user), NULL),
			 AF_MFA_NOT_FOUND);
}

/* Puts USER in a policy of their own, with remote access on or off. */
static void user_policy(struct fx *f, int remote_access)
{
	char err[AF_DIR_ERR_BUF];
	json_t *spec = json_pack("{s:s, s:b, s:b, s:{s:[s]}}", "name", "own",
				 "sso", 1, "remote_access", remote_access,
				 "assigned", "users", USER);

	assert_non_null(spec);
	assert_int_equal(
		af_dir_policy_add(f->srv.dir, "test", spec, err, sizeof(err)),
		AF_DIR_OK);
	json_decref(spec);
}

/*
 * While the user has never had a phone and their policy asks for the
 * second step, the same kind of code works.
 */
static void test_enroll_first_phone_code_first_201(void **state)
{
	struct fx *f = *state;
	char first[AF_MFA_ID_BUF];
	int64_t exp = 0;

	json_t *detail;

	user_policy(f, 1);
	assert_int_equal(af_mfa_enroll_code_new(f->srv.store, USER,
						AF_MFA_CODE_FIRST_PHONE, first,
						sizeof(first), &exp),
			 AF_MFA_OK);
	assert_int_equal(enroll_with(f, f->key, f->key, first), 201);
	/* The trail says which phone, and that a password alone set it up. */
	detail = newest_detail(f, "device.enroll");
	assert_string_equal(json_string_value(json_object_get(detail, "code")),
			    "password");
	assert_string_equal(
		json_string_value(json_object_get(detail, "device_name")),
		"Alice's phone");
	assert_string_equal(
		json_string_value(json_object_get(detail, "platform")), "apns");
	assert_string_equal(
		json_string_value(json_object_get(detail, "app_version")),
		"2024.1");
	json_decref(detail);
}

/*
 * Once the user's policy no longer asks for the second step (or when the
 * user has no policy), a code a password alone obtained is spent: an
 * application asking for the step never made it the password's to set
 * up.
 */
static void test_enroll_first_phone_code_policy_off_401_spent(void **state)
{
	struct fx *f = *state;
	char first[AF_MFA_ID_BUF], user[128];
	int64_t exp = 0;
	int i;

	for (i = 0; i < 2; i++) {
		if (i == 1)
			user_policy(f, 0);
		assert_int_equal(af_mfa_enroll_code_new(f->srv.store, USER,
							AF_MFA_CODE_FIRST_PHONE,
							first, sizeof(first),
							&exp),
				 AF_MFA_OK);
		assert_int_equal(enroll_with(f, f->key, f->key, first), 401);
		assert_error(f, "invalid_code");
		assert_int_equal(af_mfa_enroll_code_peek(f->srv.store, first,
							 user, sizeof(user),
							 NULL),
				 AF_MFA_NOT_FOUND);
	}
}

/* A code of a kind the user made for themselves (flags), for USER. */
static void own_code(struct fx *f, unsigned flags, char *code, size_t cap)
{
	int64_t exp = 0;

	assert_int_equal(af_mfa_enroll_code_new(f->srv.store, USER, flags, code,
						cap, &exp),
			 AF_MFA_OK);
}

/* Once the workflow no longer offers enrollment after the password. */
static void test_enroll_first_phone_code_not_offered_401_spent(void **state)
{
	struct fx *f = *state;
	char first[AF_MFA_ID_BUF], user[128], err[128];
	json_t *patch = json_pack("{s:b}", "enroll_after_password", 0);
	json_t *wf = NULL;

	own_code(f, AF_MFA_CODE_FIRST_PHONE, first, sizeof(first));
	assert_int_equal(
		af_mfa_workflow_set(f->srv.store, patch, &wf, err, sizeof(err)),
		AF_MFA_OK);
	json_decref(patch);
	json_decref(wf);
	assert_int_equal(enroll_with(f, f->key, f->key, first), 401);
	assert_error(f, "invalid_code");
	assert_int_equal(af_mfa_enroll_code_peek(f->srv.store, first, user,
						 sizeof(user), NULL),
			 AF_MFA_NOT_FOUND);
}

/*
 * A code made for another phone: good while the user has a phone, spent
 * when the user has none left.
 */
static void test_enroll_another_phone_code_needs_a_phone(void **state)
{
	struct fx *f = *state;
	char another[AF_MFA_ID_BUF], user[128];

	own_code(f, AF_MFA_CODE_ANOTHER_PHONE, another, sizeof(another));
	assert_int_equal(enroll_with(f, f->key, f->key, another), 401);
	assert_error(f, "invalid_code");
	assert_int_equal(af_mfa_enroll_code_peek(f->srv.store, another, user,
						 sizeof(user), NULL),
			 AF_MFA_NOT_FOUND);
	enroll(f);
	own_code(f, AF_MFA_CODE_ANOTHER_PHONE, another, sizeof(another));
	assert_int_equal(enroll_with(f, f->other, f->other, another), 201);
}

/* The codes a user made go; an administrator's stays. */
static void test_enroll_codes_revoke_own_keeps_admin_codes(void **state)
{
	struct fx *f = *state;
	char admin[AF_MFA_ID_BUF], first[AF_MFA_ID_BUF];
	char another[AF_MFA_ID_BUF], user[128];
	unsigned flags = 9;

	new_code(f, admin, sizeof(admin));
	own_code(f, AF_MFA_CODE_FIRST_PHONE, first, sizeof(first));
	own_code(f, AF_MFA_CODE_ANOTHER_PHONE, another, sizeof(another));
	assert_int_equal(af_mfa_enroll_code_peek(f->srv.store, another, user,
						 sizeof(user), &flags),
			 AF_MFA_OK);
	assert_int_equal(flags, AF_MFA_CODE_ANOTHER_PHONE);
	assert_string_equal(user, USER);
	assert_int_equal(af_mfa_enroll_codes_revoke_own(f->srv.store, USER),
			 AF_MFA_OK);
	assert_int_equal(af_mfa_enroll_code_peek(f->srv.store, admin, user,
						 sizeof(user), &flags),
			 AF_MFA_OK);
	assert_int_equal(flags, 0);
	assert_int_equal(af_mfa_enroll_code_peek(f->srv.store, first, user,
						 sizeof(user), NULL),
			 AF_MFA_NOT_FOUND);
	assert_int_equal(af_mfa_enroll_code_peek(f->srv.store, another, user,
						 sizeof(user), NULL),
			 AF_MFA_NOT_FOUND);
}

/*
 * One key, one device: enrolling a key that is already a device's is a
 * 400 that keeps the code, which a new key then takes.
 */
static void test_enroll_same_key_twice_400_code_kept(void **state)
{
	struct fx *f = *state;
	char code[AF_MFA_ID_BUF];

	enroll(f);
	new_code(f, code, sizeof(code));
	assert_int_equal(enroll_with(f, f->key, f->key, code), 400);
	assert_error(f, "bad_request");
	assert_non_null(strstr(answer_str(f, "message"), "public_key"));
	assert_int_equal(enroll_with(f, f->other, f->other, code), 201);
	assert_string_not_equal(answer_str(f, "device_id"), f->device);
}

static void test_nonce_of_failed_request_not_burnt(void **state)
{
	struct fx *f = *state;
	rq r = {.method = "GET", .path = LIST, .ts = NOW};

	enroll(f);
	r.device = f->device;
	r.nonce = "nonce-kept-0123456789";
	r.key = f->other;
	assert_int_equal(send_rq(f, &r), 401);
	r.key = NULL;
	assert_int_equal(send_rq(f, &r), 200);
}

static void test_removed_device_401(void **state)
{
	struct fx *f = *state;
	char txn[AF_MFA_ID_BUF], path[128];
	rq r;

	enroll(f);
	new_txn(f, txn, sizeof(txn), NULL);
	r = decide_rq(f, txn, "{\"decision\": \"deny\"}", path, sizeof(path));
	assert_int_equal(af_mfa_device_remove(f->srv.store, f->device),
			 AF_MFA_OK);
	assert_int_equal(send_rq(f, &r), 401);
	assert_error(f, "unauthorized");
	assert_txn_state(f, txn, "pending");
}

/* ---- push token and routing ---------------------------------------------- */

static void test_push_token_put_updates_device(void **state)
{
	struct fx *f = *state;
	rq r = {.method = "PUT", .path = "/device/v1/push-token", .ts = NOW};
	json_t *dev = NULL;

	enroll(f);
	r.device = f->device;
	r.body = "{\"push_token\": \"new-token-42\", \"app_version\": "
		 "\"2024.2\"}";
	assert_int_equal(send_rq(f, &r), 200);
	assert_true(json_is_true(json_object_get(f->answer, "ok")));
	assert_int_equal(af_mfa_device_get(f->srv.store, f->device, &dev),
			 AF_MFA_OK);
	assert_string_equal(
		json_string_value(json_object_get(dev, "push_token")),
		"new-token-42");
	assert_true(json_is_true(json_object_get(dev, "push_token_valid")));
	assert_string_equal(
		json_string_value(json_object_get(dev, "app_version")),
		"2024.2");
	json_decref(dev);
	r.body = "{\"platform\": \"apns\"}";
	assert_int_equal(send_rq(f, &r), 400);
	r.body = "{}";
	assert_int_equal(send_rq(f, &r), 400);
	/* A space: the message says what a token may hold, nothing else. */
	r.body = "{\"push_token\": \"abc def\"}";
	assert_int_equal(send_rq(f, &r), 400);
	assert_string_equal(answer_str(f, "message"),
			    "push_token: printable ASCII without spaces only");
	/* The app version alone, or platform none: the token stays. */
	r.body = "{\"app_version\": \"2024.3\"}";
	assert_int_equal(send_rq(f, &r), 200);
	r.body = "{\"platform\": \"none\"}";
	assert_int_equal(send_rq(f, &r), 200);
	assert_int_equal(af_mfa_device_get(f->srv.store, f->device, &dev),
			 AF_MFA_OK);
	assert_string_equal(
		json_string_value(json_object_get(dev, "push_token")),
		"new-token-42");
	assert_string_equal(
		json_string_value(json_object_get(dev, "app_version")),
		"2024.3");
	assert_string_equal(json_string_value(json_object_get(dev, "platform")),
			    "none");
	json_decref(dev);
}

/* The device's push_token_valid as the store has it. */
static int token_valid(struct fx *f)
{
	json_t *dev = NULL;
	int valid;

	assert_int_equal(af_mfa_device_get(f->srv.store, f->device, &dev),
			 AF_MFA_OK);
	valid = json_is_true(json_object_get(dev, "push_token_valid"));
	json_decref(dev);
	return valid;
}

/* The push service refused the device's token (as pushd records it). */
static void token_refused(struct fx *f)
{
	json_t *p = json_pack("{s:b}", "push_token_valid", 0);
	char err[256];

	assert_int_equal(af_mfa_device_update(f->srv.store, f->device, p, err,
					      sizeof(err)),
			 AF_MFA_OK);
	json_decref(p);
	assert_false(token_valid(f));
}

/* PUT push-token with body: 200, and the answer's push_token_valid. */
static void put_token(struct fx *f, rq *r, const char *body, int valid)
{
	r->body = body;
	assert_int_equal(send_rq(f, r), 200);
	assert_true(json_is_boolean(
		json_object_get(f->answer, "push_token_valid")));
	assert_int_equal(
		json_is_true(json_object_get(f->answer, "push_token_valid")),
		valid);
}

/*
 * The token the push service refused, sent again for the same host,
 * stays refused (the answer says so); for the other APNs host, or a new
 * token, it is good again.
 */
static void test_push_token_refused_stays_refused(void **state)
{
	struct fx *f = *state;
	rq r = {.method = "PUT", .path = "/device/v1/push-token", .ts = NOW};

	enroll(f);
	r.device = f->device;
	token_refused(f);
	put_token(f, &r, "{\"push_token\": \"apns-token-0001\"}", 0);
	assert_false(token_valid(f));
	put_token(f, &r,
		  "{\"push_token\": \"apns-token-0001\", \"sandbox\": true, "
		  "\"app_version\": \"2024.2\"}",
		  0);
	assert_false(token_valid(f));
	/* The same token for the production host: worth a try. */
	put_token(f, &r,
		  "{\"push_token\": \"apns-token-0001\", \"sandbox\": false}",
		  1);
	assert_true(token_valid(f));
	token_refused(f);
	/*
	 * What leaves the token out keeps it refused, and says so: an app
	 * told "valid" would never send the new one.
	 */
	put_token(f, &r, "{\"app_version\": \"2024.3\"}", 0);
	assert_false(token_valid(f));
	put_token(f, &r, "{\"sandbox\": true}", 0);
	put_token(f, &r, "{\"push_token\": \"apns-token-0002\"}", 1);
	assert_true(token_valid(f));
	put_token(f, &r, "{\"app_version\": \"2024.4\"}", 1);
}

/*
 * A device of platform "none" gets no push, whatever token it holds: the
 * answer never tells its app otherwise.
 */
static void test_push_token_platform_none_not_usable(void **state)
{
	struct fx *f = *state;
	rq r = {.method = "PUT", .path = "/device/v1/push-token", .ts = NOW};

	enroll(f);
	r.device = f->device;
	put_token(f, &r, "{\"app_version\": \"2024.2\"}", 1);
	put_token(f, &r, "{\"platform\": \"none\"}", 0);
	put_token(f, &r, "{\"push_token\": \"apns-token-0003\"}", 0);
	put_token(f, &r, "{\"sandbox\": true}", 0);
	put_token(f, &r,
		  "{\"platform\": \"fcm\", \"push_token\": \"fcm-token-1\"}",
		  1);
	put_token(f, &r, "{\"app_version\": \"2024.3\"}", 1);
}

static void test_routing_unknown_404_wrong_method_405(void **state)
{
	struct fx *f = *state;
	rq r = {.method = "GET", .path = "/device/v1/nothing", .ts = NOW};

	assert_int_equal(send_rq(f, &r), 404);
	assert_error(f, "not_found");
	r.path = ENROLL;
	assert_int_equal(send_rq(f, &r), 405);
	assert_string_equal(af_resp_header_get(&f->resp, "Allow"), "POST");
	r.method = "DELETE";
	r.path = LIST;
	assert_int_equal(send_rq(f, &r), 405);
	assert_string_equal(af_resp_header_get(&f->resp, "Allow"), "GET, HEAD");
}

static void test_body_validators_refuse_bad_members(void **state)
{
	struct fx *f = *state;
	char code[AF_DEVICE_CODE_MAX + 1], err[AF_DEVICE_ERR_MAX];
	json_t *b, *spec = NULL, *jwk = jwk_of(f->key);

	/* apns without a token */
	b = json_pack("{s:s, s:s, s:O}", "code", "ABCD", "platform", "apns",
		      "public_key", jwk);
	assert_int_equal(af_device_enroll_check(b, code, sizeof(code), &spec,
						err, sizeof(err)),
			 AF_DEVICE_BAD_REQUEST);
	assert_null(spec);
	assert_non_null(strstr(err, "push_token"));
	json_decref(b);
	/* none without a token is fine, and "d" never passes */
	b = json_pack("{s:s, s:s, s:O}", "code", "ABCD", "platform", "none",
		      "public_key", jwk);
	assert_int_equal(af_device_enroll_check(b, code, sizeof(code), &spec,
						err, sizeof(err)),
			 AF_DEVICE_OK);
	assert_string_equal(code, "ABCD");
	assert_null(json_object_get(json_object_get(spec, "public_key"), "d"));
	json_decref(spec);
	json_object_set_new(jwk, "d", json_string("secret"));
	json_object_set(b, "public_key", jwk);
	assert_int_equal(af_device_enroll_check(b, code, sizeof(code), &spec,
						err, sizeof(err)),
			 AF_DEVICE_BAD_REQUEST);
	json_decref(b);
	json_decref(jwk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_sig_parse_good_headers_ok),
		T(test_sig_parse_bad_headers_unauthorized),
		T(test_sig_string_layout_exact),
		T(test_sig_verify_roundtrip_ok_and_tamper_refused),
		T(test_sig_verify_bad_key_refused),
		T(test_sig_verify_key_cache),
		T(test_sig_either_s_form_ok_other_form_replayed_401),
		T(test_enroll_valid_created_code_consumed),
		T(test_enroll_retry_same_key_same_answer),
		T(test_enroll_unknown_code_401),
		T(test_enroll_key_not_cached),
		T(test_enroll_unknown_code_nonce_unused),
		T(test_enroll_user_enabled_again_replay_401),
		T(test_enroll_code_of_disabled_or_removed_user_401),
		T(test_enroll_other_key_signature_401_code_kept),
		T(test_enroll_bad_body_400_code_kept),
		T(test_enroll_hidden_characters_in_name_400),
		T(test_signature_header_twice_401),
		T(test_enroll_same_key_twice_400_code_kept),
		T(test_enroll_first_phone_code_after_a_phone_401_spent),
		T(test_enroll_first_phone_code_first_201),
		T(test_enroll_first_phone_code_policy_off_401_spent),
		T(test_enroll_first_phone_code_not_offered_401_spent),
		T(test_enroll_another_phone_code_needs_a_phone),
		T(test_enroll_codes_revoke_own_keeps_admin_codes),
		T(test_enroll_stale_timestamp_401_code_kept),
		T(test_decide_number_of_other_length_400_pending),
		T(test_enroll_sixth_device_409_limit),
		T(test_signed_before_start_401),
		T(test_enroll_refused_value_400_code_kept),
		T(test_challenges_list_shows_pending_without_number),
		T(test_challenge_get_own_200_other_404),
		T(test_decide_right_number_approved_then_409),
		T(test_decide_other_device_404),
		T(test_decide_wrong_number_failed),
		T(test_decide_wrong_number_counts_one_failure),
		T(test_decide_deny_denied),
		T(test_decide_report_reported_and_audited),
		T(test_report_stands_for_its_device_only),
		T(test_decide_expired_410),
		T(test_decide_bad_body_400),
		T(test_refusals_each_401_nothing_changed),
		T(test_timestamp_60s_off_accepted),
		T(test_query_signed_in_target_ok),
		T(test_body_over_cap_400),
		T(test_nonce_reused_401),
		T(test_nonce_of_failed_request_not_burnt),
		T(test_removed_device_401),
		T(test_push_token_put_updates_device),
		T(test_push_token_refused_stays_refused),
		T(test_push_token_platform_none_not_usable),
		T(test_routing_unknown_404_wrong_method_405),
		T(test_body_validators_refuse_bad_members),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
