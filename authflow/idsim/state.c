/* The state file of idsim: reading it with care, writing it atomically. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "common/httpc.h"
#include "common/util.h"
#include "state.h"
#include "tokencode.h"

#define PERMITTED_MODE 0600
#define DEFAULT_DIGITS 6
#define DEFAULT_PERIOD 30
#define DEFAULT_ALGO   "SHA1"
#define TMP_RANDOM     9 /* random bytes in a temporary file's name */
#define TMP_SUFFIX     ".tmp-"
#define READ_CHUNK     4096
#define PEM_MAX	       4096 /* bytes of a PEM private key */

struct af_idsim_state {
	char *url;
	char *device_id;
	EVP_PKEY *key;
	char *totp_secret; /* base32: a secret, wiped when freed */
	char totp_algorithm[8];
	unsigned totp_digits;
	unsigned totp_period;
	char *platform;
	char *push_token;
};

const char *af_idsim_state_strerror(af_idsim_state_status st)
{
	switch (st) {
#define AF_IDSIM_STATE_XX(name, value, text) \
	case AF_IDSIM_STATE_##name:          \
		return text;
		AF_IDSIM_STATE_STATUS_MAP(AF_IDSIM_STATE_XX)
#undef AF_IDSIM_STATE_XX
	}
	return "unknown state file status";
}

static af_idsim_state_status fail(af_idsim_state_status st, char *err,
				  size_t errlen, const char *detail)
{
	if (err != NULL && errlen > 0) {
		if (detail != NULL)
			snprintf(err, errlen, "%s: %s",
				 af_idsim_state_strerror(st), detail);
		else
			snprintf(err, errlen, "%s",
				 af_idsim_state_strerror(st));
	}
	return st;
}

af_idsim_state_status af_idsim_state_new(af_idsim_state **out)
{
	af_idsim_state *st;

	if (out == NULL)
		return AF_IDSIM_STATE_ERR_ARG;
	st = calloc(1, sizeof(*st));
	*out = st;
	return st != NULL ? AF_IDSIM_STATE_OK : AF_IDSIM_STATE_ERR_NOMEM;
}

void af_idsim_state_free(af_idsim_state *st)
{
	if (st == NULL)
		return;
	free(st->url);
	free(st->device_id);
	EVP_PKEY_free(st->key);
	af_free_secret(st->totp_secret);
	free(st->platform);
	af_free_secret(st->push_token);
	OPENSSL_cleanse(st, sizeof(*st));
	free(st);
}

/* ---- setters and getters ---- */

static int valid_text(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (n >= AF_IDSIM_STATE_FIELD_MAX || s[n] < 0x21 || s[n] > 0x7e)
			return 0;
	}
	return n > 0;
}

/* Replaces *slot with a copy of value; the old value is wiped. */
static af_idsim_state_status set_text(char **slot, const char *value)
{
	char *copy;

	if (value == NULL || !valid_text(value))
		return AF_IDSIM_STATE_ERR_ARG;
	copy = strdup(value);
	if (copy == NULL)
		return AF_IDSIM_STATE_ERR_NOMEM;
	af_free_secret(*slot);
	*slot = copy;
	return AF_IDSIM_STATE_OK;
}

af_idsim_state_status af_idsim_state_set_url(af_idsim_state *st,
					     const char *url)
{
	if (st == NULL)
		return AF_IDSIM_STATE_ERR_ARG;
	return set_text(&st->url, url);
}

af_idsim_state_status af_idsim_state_set_device_id(af_idsim_state *st,
						   const char *device_id)
{
	if (st == NULL || device_id == NULL ||
	    strlen(device_id) > AF_IDSIM_CLIENT_DEVICE_MAX)
		return AF_IDSIM_STATE_ERR_ARG;
	return set_text(&st->device_id, device_id);
}

af_idsim_state_status af_idsim_state_set_key(af_idsim_state *st, EVP_PKEY *key)
{
	json_t *probe = NULL;

	if (st == NULL || key == NULL)
		return AF_IDSIM_STATE_ERR_ARG;
	/* Exporting the whole pair is the test that it is a P-256 pair. */
	if (af_idsim_key_to_jwk(key, 1, &probe) != AF_IDSIM_CLIENT_OK)
		return AF_IDSIM_STATE_ERR_KEY;
	json_decref(probe);
	if (EVP_PKEY_up_ref(key) != 1)
		return AF_IDSIM_STATE_ERR_NOMEM;
	EVP_PKEY_free(st->key);
	st->key = key;
	return AF_IDSIM_STATE_OK;
}

af_idsim_state_status af_idsim_state_set_push(af_idsim_state *st,
					      const char *platform,
					      const char *push_token)
{
	char *copy = NULL;

	if (st == NULL || platform == NULL || !valid_text(platform) ||
	    (push_token != NULL && !valid_text(push_token)))
		return AF_IDSIM_STATE_ERR_ARG;
	if (push_token != NULL) {
		copy = strdup(push_token);
		if (copy == NULL)
			return AF_IDSIM_STATE_ERR_NOMEM;
	}
	if (set_text(&st->platform, platform) != AF_IDSIM_STATE_OK) {
		af_free_secret(copy);
		return AF_IDSIM_STATE_ERR_NOMEM;
	}
	af_free_secret(st->push_token);
	st->push_token = copy;
	return AF_IDSIM_STATE_OK;
}

/*
 * Base32 (RFC 4648) that decodes to a secret the token codes can use
 * (1..TC_SECRET_MAX bytes): checked when it comes, so that a phone never
 * keeps one that 'code' cannot use.
 */
static int valid_base32(const char *s, size_t len)
{
	uint8_t seed[TC_SECRET_MAX];
	size_t n = 0;
	int ok;

	if (len == 0 || len > AF_IDSIM_STATE_SECRET_MAX)
		return 0;
	ok = tc_base32_decode(s, len, seed, sizeof(seed), &n) == TC_OK && n > 0;
	OPENSSL_cleanse(seed, sizeof(seed));
	return ok;
}

/* An optional integer member in lo..hi, or def when absent. */
static int int_member(const json_t *obj, const char *name, json_int_t def,
		      json_int_t lo, json_int_t hi, unsigned *out)
{
	const json_t *v = json_object_get(obj, name);
	json_int_t n = def;

	if (v != NULL) {
		if (!json_is_integer(v))
			return -1;
		n = json_integer_value(v);
	}
	if (n < lo || n > hi)
		return -1;
	*out = (unsigned)n;
	return 0;
}

af_idsim_state_status af_idsim_state_set_totp(af_idsim_state *st,
					      const json_t *totp, char *err,
					      size_t errlen)
{
	const json_t *secret = json_object_get(totp, "secret");
	const json_t *algo = json_object_get(totp, "algorithm");
	const char *name = DEFAULT_ALGO;
	unsigned digits = 0, period = 0;
	char *copy;

	if (st == NULL || totp == NULL)
		return AF_IDSIM_STATE_ERR_ARG;
	if (!json_is_object(totp))
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'totp' must be an object");
	if (!json_is_string(secret) ||
	    !valid_base32(json_string_value(secret),
			  json_string_length(secret)))
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'totp.secret' must be base32");
	if (algo != NULL) {
		name = json_string_value(algo);
		if (name == NULL || (strcasecmp(name, "SHA1") != 0 &&
				     strcasecmp(name, "SHA256") != 0 &&
				     strcasecmp(name, "SHA512") != 0))
			return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
				    "'totp.algorithm' must be SHA1, SHA256 "
				    "or SHA512");
	}
	if (int_member(totp, "digits", DEFAULT_DIGITS, 6, 8, &digits) != 0 ||
	    digits == 7)
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'totp.digits' must be 6 or 8");
	if (int_member(totp, "period", DEFAULT_PERIOD, 1,
		       AF_IDSIM_STATE_PERIOD_MAX, &period) != 0)
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'totp.period' must be 1 to 3600 seconds");
	copy = strdup(json_string_value(secret));
	if (copy == NULL)
		return fail(AF_IDSIM_STATE_ERR_NOMEM, err, errlen, NULL);
	af_free_secret(st->totp_secret);
	st->totp_secret = copy;
	snprintf(st->totp_algorithm, sizeof(st->totp_algorithm), "%s", name);
	for (copy = st->totp_algorithm; *copy != '\0'; copy++) {
		if (*copy >= 'a' && *copy <= 'z')
			*copy = (char)(*copy - 'a' + 'A');
	}
	st->totp_digits = digits;
	st->totp_period = period;
	return AF_IDSIM_STATE_OK;
}

const char *af_idsim_state_url(const af_idsim_state *st)
{
	return st != NULL ? st->url : NULL;
}

const char *af_idsim_state_device_id(const af_idsim_state *st)
{
	return st != NULL ? st->device_id : NULL;
}

EVP_PKEY *af_idsim_state_key(const af_idsim_state *st)
{
	return st != NULL ? st->key : NULL;
}

const char *af_idsim_state_platform(const af_idsim_state *st)
{
	return st != NULL ? st->platform : NULL;
}

const char *af_idsim_state_push_token(const af_idsim_state *st)
{
	return st != NULL ? st->push_token : NULL;
}

const char *af_idsim_state_totp_secret(const af_idsim_state *st)
{
	return st != NULL ? st->totp_secret : NULL;
}

const char *af_idsim_state_totp_algorithm(const af_idsim_state *st)
{
	return st != NULL && st->totp_secret != NULL ? st->totp_algorithm
						     : NULL;
}

unsigned af_idsim_state_totp_digits(const af_idsim_state *st)
{
	return st != NULL ? st->totp_digits : 0;
}

unsigned af_idsim_state_totp_period(const af_idsim_state *st)
{
	return st != NULL ? st->totp_period : 0;
}

/* ---- reading ---- */

/*
 * Opens path for reading and checks what it is before a byte is read:
 * a regular file (not a link, FIFO or device), ours, and private.
 */
static af_idsim_state_status open_checked(const char *path, int *fdout,
					  size_t *size, char *err,
					  size_t errlen)
{
	char detail[64];
	struct stat sb;
	int fd;

	fd = open(path,
		  O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return fail(AF_IDSIM_STATE_ERR_MISSING, err, errlen,
				    NULL);
		if (errno == ELOOP)
			return fail(AF_IDSIM_STATE_ERR_NOT_FILE, err, errlen,
				    "it is a symbolic link");
		return fail(AF_IDSIM_STATE_ERR_IO, err, errlen,
			    "cannot open it");
	}
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return fail(AF_IDSIM_STATE_ERR_IO, err, errlen, NULL);
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return fail(AF_IDSIM_STATE_ERR_NOT_FILE, err, errlen, NULL);
	}
	if (sb.st_uid != geteuid()) {
		close(fd);
		return fail(AF_IDSIM_STATE_ERR_OWNER, err, errlen, NULL);
	}
	if ((sb.st_mode & 07777 & ~(mode_t)PERMITTED_MODE) != 0) {
		close(fd);
		snprintf(detail, sizeof(detail), "it is %04o (chmod 600 it)",
			 (unsigned)(sb.st_mode & 07777));
		return fail(AF_IDSIM_STATE_ERR_MODE, err, errlen, detail);
	}
	if (sb.st_size < 0 || (uintmax_t)sb.st_size > AF_IDSIM_STATE_FILE_MAX) {
		close(fd);
		return fail(AF_IDSIM_STATE_ERR_TOO_BIG, err, errlen,
			    "more than 64 KiB");
	}
	*size = (size_t)sb.st_size;
	*fdout = fd;
	return AF_IDSIM_STATE_OK;
}

/*
 * Reads the whole file into *out (wiped by the caller). The file may have
 * grown since fstat(), so the cap is checked again while reading.
 */
static af_idsim_state_status read_all(int fd, size_t hint, char **out,
				      size_t *len, size_t *cap)
{
	size_t n = 0, want = hint + READ_CHUNK;
	char *buf;
	ssize_t got;

	if (want > AF_IDSIM_STATE_FILE_MAX + 1)
		want = AF_IDSIM_STATE_FILE_MAX + 1;
	buf = malloc(want);
	if (buf == NULL)
		return AF_IDSIM_STATE_ERR_NOMEM;
	*out = buf;
	*cap = want;
	for (;;) {
		if (n == want)
			return n > AF_IDSIM_STATE_FILE_MAX
				       ? AF_IDSIM_STATE_ERR_TOO_BIG
				       : AF_IDSIM_STATE_ERR_IO;
		got = read(fd, buf + n, want - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return AF_IDSIM_STATE_ERR_IO;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*len = n;
	return AF_IDSIM_STATE_OK;
}

/*
 * A private key given as PEM text (another tool may have written it);
 * af_idsim_state_set_key() checks that it is a P-256 pair.
 */
static af_idsim_state_status key_from_pem(const json_t *pem, EVP_PKEY **out)
{
	BIO *bio;

	if (json_string_length(pem) > PEM_MAX)
		return AF_IDSIM_STATE_ERR_KEY;
	bio = BIO_new_mem_buf(json_string_value(pem),
			      (int)json_string_length(pem));
	if (bio == NULL)
		return AF_IDSIM_STATE_ERR_NOMEM;
	*out = PEM_read_bio_PrivateKey(bio, NULL, af_pem_no_passphrase, NULL);
	BIO_free(bio);
	return *out != NULL ? AF_IDSIM_STATE_OK : AF_IDSIM_STATE_ERR_KEY;
}

/* A required text member of the file. */
static const char *text_member(const json_t *root, const char *name)
{
	const char *v = json_string_value(json_object_get(root, name));

	return v != NULL && valid_text(v) ? v : NULL;
}

/*
 * The first member of root this program does not write, or NULL: a
 * misspelt one ("push-token") would otherwise be passed over in silence.
 */
static const char *unknown_member(json_t *root)
{
	static const char *const known[] = {"url",	  "device_id",
					    "totp",	  "platform",
					    "push_token", "private_key"};
	const char *k;
	json_t *v;

	json_object_foreach(root, k, v)
	{
		size_t i = 0;

		while (i < sizeof(known) / sizeof(known[0]) &&
		       strcmp(k, known[i]) != 0)
			i++;
		if (i == sizeof(known) / sizeof(known[0]))
			return k;
	}
	return NULL;
}

int af_idsim_platform_valid(const char *s)
{
	return strcmp(s, "apns") == 0 || strcmp(s, "fcm") == 0 ||
	       strcmp(s, "none") == 0;
}

/* The platform member: apns or fcm with a push token, or none. */
static int platform_ok(const char *platform, const char *push_token)
{
	return platform != NULL && af_idsim_platform_valid(platform) &&
	       (strcmp(platform, "none") == 0 || push_token != NULL);
}

static af_idsim_state_status from_json(af_idsim_state *st, json_t *root,
				       char *err, size_t errlen)
{
	char what[96];
	const char *platform, *unknown = unknown_member(root);
	const json_t *pk = json_object_get(root, "private_key");
	const json_t *push = json_object_get(root, "push_token");
	af_idsim_state_status rc;
	EVP_PKEY *key = NULL;

	if (!json_is_object(root))
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "not a JSON object");
	if (unknown != NULL) {
		snprintf(what, sizeof(what), "unknown member '%.64s'", unknown);
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen, what);
	}
	if (af_idsim_state_set_url(st, text_member(root, "url")) != 0)
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'url' missing or malformed");
	if (af_idsim_state_set_device_id(st, text_member(root, "device_id")) !=
	    0)
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'device_id' missing or malformed");
	if (push != NULL && !json_is_null(push) &&
	    text_member(root, "push_token") == NULL)
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'push_token' malformed");
	platform = json_object_get(root, "platform") != NULL
			   ? text_member(root, "platform")
			   : "none";
	if (!platform_ok(platform, text_member(root, "push_token")) ||
	    af_idsim_state_set_push(st, platform,
				    text_member(root, "push_token")) != 0)
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'platform' must be apns or fcm with a "
			    "'push_token', or none");
	rc = af_idsim_state_set_totp(st, json_object_get(root, "totp"), err,
				     errlen);
	if (rc == AF_IDSIM_STATE_ERR_ARG)
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'totp' missing");
	if (rc != AF_IDSIM_STATE_OK)
		return rc;
	if (json_is_string(pk))
		rc = key_from_pem(pk, &key);
	else if (json_is_object(pk))
		rc = af_idsim_key_from_jwk(pk, &key) == AF_IDSIM_CLIENT_OK
			     ? AF_IDSIM_STATE_OK
			     : AF_IDSIM_STATE_ERR_KEY;
	else
		return fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen,
			    "'private_key' missing");
	if (rc == AF_IDSIM_STATE_OK)
		rc = af_idsim_state_set_key(st, key);
	EVP_PKEY_free(key);
	return rc == AF_IDSIM_STATE_OK ? rc : fail(rc, err, errlen, NULL);
}

af_idsim_state_status af_idsim_state_load(const char *path,
					  af_idsim_state **out, char *err,
					  size_t errlen)
{
	af_idsim_state_status rc;
	af_idsim_state *st = NULL;
	size_t size = 0, len = 0, cap = 0;
	char *text = NULL, detail[96];
	json_t *root = NULL;
	json_error_t jerr;
	int fd = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || out == NULL || path[0] == '\0')
		return fail(AF_IDSIM_STATE_ERR_ARG, err, errlen, NULL);
	*out = NULL;
	rc = open_checked(path, &fd, &size, err, errlen);
	if (rc != AF_IDSIM_STATE_OK)
		return rc;
	rc = read_all(fd, size, &text, &len, &cap);
	if (rc != AF_IDSIM_STATE_OK) {
		fail(rc, err, errlen, NULL);
		goto out;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson's text may quote the file: give only the place. */
		snprintf(detail, sizeof(detail),
			 "not JSON (line %d, column %d)", jerr.line,
			 jerr.column);
		rc = fail(AF_IDSIM_STATE_ERR_FORMAT, err, errlen, detail);
		goto out;
	}
	rc = af_idsim_state_new(&st);
	if (rc != AF_IDSIM_STATE_OK) {
		fail(rc, err, errlen, NULL);
		goto out;
	}
	rc = from_json(st, root, err, errlen);
	if (rc != AF_IDSIM_STATE_OK)
		goto out;
	*out = st;
	st = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (text != NULL)
		OPENSSL_clear_free(text, cap);
	json_decref(root);
	af_idsim_state_free(st);
	return rc;
}

/* ---- writing ---- */

/* The file's JSON object into *out; "d" travels only inside it. */
static af_idsim_state_status to_json(const af_idsim_state *st, json_t **out)
{
	json_t *root, *jwk = NULL;

	if (af_idsim_key_to_jwk(st->key, 1, &jwk) != AF_IDSIM_CLIENT_OK)
		return AF_IDSIM_STATE_ERR_KEY;
	root = json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:i}, s:s}", "url",
			 st->url, "device_id", st->device_id, "totp", "secret",
			 st->totp_secret, "algorithm", st->totp_algorithm,
			 "digits", (int)st->totp_digits, "period",
			 (int)st->totp_period, "platform",
			 st->platform != NULL ? st->platform : "none");
	if (root == NULL) {
		json_decref(jwk);
		return AF_IDSIM_STATE_ERR_NOMEM;
	}
	/* json_object_set_new() takes the reference even when it fails. */
	if (json_object_set_new(root, "private_key", jwk) != 0 ||
	    (st->push_token != NULL &&
	     json_object_set_new(root, "push_token",
				 json_string(st->push_token)) != 0)) {
		json_decref(root);
		return AF_IDSIM_STATE_ERR_NOMEM;
	}
	*out = root;
	return AF_IDSIM_STATE_OK;
}

/* "<path>.tmp-<random>", a new string. */
static char *temp_name(const char *path)
{
	char rnd[16];
	size_t cap;
	char *name;

	if (af_random_token(TMP_RANDOM, rnd, sizeof(rnd)) != 0)
		return NULL;
	cap = strlen(path) + strlen(TMP_SUFFIX) + strlen(rnd) + 1;
	name = malloc(cap);
	if (name != NULL)
		snprintf(name, cap, "%s%s%s", path, TMP_SUFFIX, rnd);
	return name;
}

/*
 * Writes text and a newline to a new private file beside path. O_EXCL
 * makes the file ours and new (never a link planted there), and 0600
 * applies from its creation, so that the key is never readable by anyone
 * else. *created says whether the file now exists.
 */
static af_idsim_state_status write_temp(const char *tmp, const char *text,
					int *created)
{
	int fd, rc;

	*created = 0;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  PERMITTED_MODE);
	if (fd < 0)
		return AF_IDSIM_STATE_ERR_IO;
	*created = 1;
	rc = af_write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = af_write_all(fd, "\n", 1);
	if (rc == 0)
		rc = fsync(fd);
	if (close(fd) != 0)
		rc = -1;
	return rc == 0 ? AF_IDSIM_STATE_OK : AF_IDSIM_STATE_ERR_IO;
}

/*
 * Makes the entries of path's folder durable (a file just placed there
 * survives a crash): 0 or -1.
 */
static int sync_folder(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int fd, rc;

	if (slash == NULL)
		(void)snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		(void)snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		(void)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
			       path);
	else
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

/*
 * Puts tmp at path: rename to replace, link to never overwrite; then the
 * folder is synced, so that an enrollment the server has taken is not
 * lost to a crash.
 */
static af_idsim_state_status put_in_place(const char *tmp, const char *path,
					  int replace)
{
	if (replace ? rename(tmp, path) != 0 : link(tmp, path) != 0)
		return !replace && errno == EEXIST ? AF_IDSIM_STATE_ERR_EXISTS
						   : AF_IDSIM_STATE_ERR_IO;
	return sync_folder(path) == 0 ? AF_IDSIM_STATE_OK
				      : AF_IDSIM_STATE_ERR_IO;
}

af_idsim_state_status af_idsim_state_writable(const char *path, char *err,
					      size_t errlen)
{
	af_idsim_state_status rc;
	struct stat sb;
	char *tmp;
	int created = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || path[0] == '\0')
		return fail(AF_IDSIM_STATE_ERR_ARG, err, errlen, NULL);
	if (lstat(path, &sb) == 0)
		return fail(AF_IDSIM_STATE_ERR_EXISTS, err, errlen, NULL);
	if (errno != ENOENT)
		return fail(AF_IDSIM_STATE_ERR_IO, err, errlen, path);
	tmp = temp_name(path);
	if (tmp == NULL)
		return fail(AF_IDSIM_STATE_ERR_NOMEM, err, errlen, NULL);
	rc = write_temp(tmp, "", &created);
	if (rc != AF_IDSIM_STATE_OK)
		fail(rc, err, errlen, path);
	if (created)
		unlink(tmp);
	free(tmp);
	return rc;
}

af_idsim_state_status af_idsim_state_save(const af_idsim_state *st,
					  const char *path, int replace,
					  char *err, size_t errlen)
{
	af_idsim_state_status rc;
	json_t *root = NULL;
	char *text = NULL, *tmp = NULL;
	int created = 0, placed = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (st == NULL || path == NULL || path[0] == '\0')
		return fail(AF_IDSIM_STATE_ERR_ARG, err, errlen, NULL);
	if (st->url == NULL || st->device_id == NULL || st->key == NULL ||
	    st->totp_secret == NULL)
		return fail(AF_IDSIM_STATE_ERR_INCOMPLETE, err, errlen, NULL);
	rc = to_json(st, &root);
	if (rc != AF_IDSIM_STATE_OK)
		return fail(rc, err, errlen, NULL);
	rc = AF_IDSIM_STATE_ERR_NOMEM;
	text = json_dumps(root, JSON_INDENT(2));
	tmp = temp_name(path);
	if (text == NULL || tmp == NULL) {
		fail(rc, err, errlen, NULL);
		goto out;
	}
	rc = write_temp(tmp, text, &created);
	if (rc == AF_IDSIM_STATE_OK)
		rc = put_in_place(tmp, path, replace);
	placed = rc == AF_IDSIM_STATE_OK && replace;
	if (rc != AF_IDSIM_STATE_OK)
		fail(rc, err, errlen,
		     rc == AF_IDSIM_STATE_ERR_IO ? path : NULL);
out:
	/* After a link, or a failure, the temporary name goes away. */
	if (created && !placed)
		unlink(tmp);
	free(tmp);
	af_httpc_body_free(text);
	json_decref(root);
	return rc;
}
