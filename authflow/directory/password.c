/* Argon2id password hashes as PHC strings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <uninorm.h>
#include <unistr.h>

#include "common/util.h"
#include "directory/password.h"

#define PHC_PREFIX "$argon2id$v=19$"

void af_pw_params_default(af_pw_params *params)
{
	if (params == NULL)
		return;
	params->m_kib = AF_PW_M_KIB_DEFAULT;
	params->t = AF_PW_T_DEFAULT;
	params->p = AF_PW_P_DEFAULT;
}

af_dir_status af_pw_params_check(const af_pw_params *params, char *err,
				 size_t errlen)
{
	if (params == NULL) {
		af_dir__err(err, errlen, "password hashing: no parameters");
		return AF_DIR_INVALID;
	}
	if (params->p < 1 || params->p > AF_PW_P_MAX) {
		af_dir__err(err, errlen, "argon2 p: must be 1..%u",
			    (unsigned)AF_PW_P_MAX);
		return AF_DIR_INVALID;
	}
	if (params->t < 1 || params->t > AF_PW_T_MAX) {
		af_dir__err(err, errlen, "argon2 t: must be 1..%u",
			    (unsigned)AF_PW_T_MAX);
		return AF_DIR_INVALID;
	}
	/* Argon2 needs at least 8 KiB per lane. */
	if (params->m_kib < 8 * params->p || params->m_kib > AF_PW_M_KIB_MAX) {
		af_dir__err(err, errlen, "argon2 m: must be %u..%u KiB",
			    (unsigned)(8 * params->p),
			    (unsigned)AF_PW_M_KIB_MAX);
		return AF_DIR_INVALID;
	}
	return AF_DIR_OK;
}

/* Length of a password within the cap, or 0 when empty, NULL or too long. */
static size_t password_len(const char *password)
{
	size_t n;

	if (password == NULL)
		return 0;
	n = strnlen(password, AF_PW_MAX + 1);
	return n > AF_PW_MAX ? 0 : n;
}

static int ascii_only(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

af_dir_status af_pw_normalize(const char *password, char *out, size_t outcap)
{
	size_t len = password_len(password), n;
	uint8_t *got;

	if (out == NULL || outcap < AF_PW_NORM_MAX + 1)
		return AF_DIR_INVALID;
	out[0] = '\0';
	if (len == 0)
		return AF_DIR_INVALID;
	if (ascii_only(password, len) ||
	    u8_check((const uint8_t *)password, len) != NULL) {
		memcpy(out, password, len + 1);
		return AF_DIR_OK;
	}
	n = AF_PW_NORM_MAX;
	errno = 0;
	got = u8_normalize(UNINORM_NFKC, (const uint8_t *)password, len,
			   (uint8_t *)out, &n);
	if (got != NULL && got != (uint8_t *)out) {
		/* Longer than AF_PW_NORM_MAX: libunistring allocated it. */
		OPENSSL_cleanse(got, n);
		free(got);
	}
	if (got != (uint8_t *)out) {
		/* out may hold the part that fitted. */
		OPENSSL_cleanse(out, outcap);
		out[0] = '\0';
		return got == NULL && errno == ENOMEM ? AF_DIR_NOMEM
						      : AF_DIR_INVALID;
	}
	out[n] = '\0';
	return AF_DIR_OK;
}

af_dir_status af_pw_hash(const af_pw_params *params, const char *password,
			 char *out, size_t outcap)
{
	uint8_t salt[AF_PW_SALT_LEN];
	char norm[AF_PW_NORM_MAX + 1];
	af_dir_status rc;
	int arc;

	if (out == NULL || outcap < AF_PW_PHC_MAX)
		return AF_DIR_INVALID;
	out[0] = '\0';
	if (af_pw_params_check(params, NULL, 0) != AF_DIR_OK)
		return AF_DIR_INVALID;
	rc = af_pw_normalize(password, norm, sizeof(norm));
	if (rc != AF_DIR_OK)
		return rc;
	if (af_random_bytes(salt, sizeof(salt)) != 0) {
		rc = AF_DIR_CRYPTO;
		goto out;
	}
	arc = argon2id_hash_encoded(params->t, params->m_kib, params->p, norm,
				    strlen(norm), salt, sizeof(salt),
				    AF_PW_HASH_LEN, out, outcap);
	rc = arc == ARGON2_OK ? AF_DIR_OK : AF_DIR_CRYPTO;
	if (rc != AF_DIR_OK)
		out[0] = '\0';
out:
	OPENSSL_cleanse(norm, sizeof(norm));
	OPENSSL_cleanse(salt, sizeof(salt));
	return rc;
}

/*
 * Reads a decimal number of at most 10 digits ending at one of the
 * characters in stop; advances *p past the number.
 */
static int parse_u32(const char **p, char stop, uint32_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		if (n >= 10)
			return -1;
		v = v * 10 + (uint64_t)(s[n] - '0');
		n++;
	}
	/* No empty numbers and no leading zeros, as libargon2 writes them. */
	if (n == 0 || (n > 1 && s[0] == '0') || s[n] != stop || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	*p = s + n + 1;
	return 0;
}

/* Skips a non-empty run of base64 characters ending at stop. */
static int b64_field(const char **p, char stop)
{
	const char *s = *p;
	size_t n = 0;

	while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
	       (s[n] >= '0' && s[n] <= '9') || s[n] == '+' || s[n] == '/')
		n++;
	if (n == 0 || s[n] != stop)
		return -1;
	*p = s + n + (stop != '\0');
	return 0;
}

af_dir_status af_pw_parse(const char *phc, af_pw_params *out)
{
	af_pw_params got;
	const char *p;
	size_t len;

	if (phc == NULL || out == NULL)
		return AF_DIR_INVALID;
	len = strnlen(phc, AF_PW_PHC_MAX);
	if (len >= AF_PW_PHC_MAX ||
	    strncmp(phc, PHC_PREFIX, strlen(PHC_PREFIX)) != 0)
		return AF_DIR_INVALID;
	p = phc + strlen(PHC_PREFIX);
	if (strncmp(p, "m=", 2) != 0)
		return AF_DIR_INVALID;
	p += 2;
	if (parse_u32(&p, ',', &got.m_kib) != 0 || strncmp(p, "t=", 2) != 0)
		return AF_DIR_INVALID;
	p += 2;
	if (parse_u32(&p, ',', &got.t) != 0 || strncmp(p, "p=", 2) != 0)
		return AF_DIR_INVALID;
	p += 2;
	if (parse_u32(&p, '$', &got.p) != 0)
		return AF_DIR_INVALID;
	/* The salt and the hash follow, in unpadded standard base64. */
	if (b64_field(&p, '$') != 0 || b64_field(&p, '\0') != 0)
		return AF_DIR_INVALID;
	if (af_pw_params_check(&got, NULL, 0) != AF_DIR_OK)
		return AF_DIR_INVALID;
	*out = got;
	return AF_DIR_OK;
}

/* Checks the len bytes of password against phc, already parsed. */
static af_dir_status verify_as(const char *phc, const char *password,
			       size_t len)
{
	switch (argon2id_verify(phc, password, len)) {
	case ARGON2_OK:
		return AF_DIR_OK;
	case ARGON2_VERIFY_MISMATCH:
		return AF_DIR_MISMATCH;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		return AF_DIR_NOMEM;
	case ARGON2_DECODING_FAIL:
	case ARGON2_DECODING_LENGTH_FAIL:
	case ARGON2_SALT_TOO_SHORT:
	case ARGON2_SALT_TOO_LONG:
	case ARGON2_OUTPUT_TOO_SHORT:
	case ARGON2_OUTPUT_TOO_LONG:
		return AF_DIR_INVALID;
	default:
		return AF_DIR_CRYPTO;
	}
}

af_dir_status af_pw_verify(const char *phc, const char *password, int *stale)
{
	char norm[AF_PW_NORM_MAX + 1];
	af_pw_params got;
	af_dir_status rc;
	size_t len = password_len(password), nlen;

	if (stale != NULL)
		*stale = 0;
	if (len == 0)
		return AF_DIR_INVALID;
	/*
	 * Parse first so that a corrupted or hostile stored hash cannot make
	 * libargon2 allocate more than the cap.
	 */
	if (af_pw_parse(phc, &got) != AF_DIR_OK)
		return AF_DIR_INVALID;
	rc = af_pw_normalize(password, norm, sizeof(norm));
	if (rc != AF_DIR_OK)
		return rc;
	nlen = strlen(norm);
	rc = verify_as(phc, norm, nlen);
	if (rc == AF_DIR_MISMATCH &&
	    (nlen != len || memcmp(norm, password, len) != 0)) {
		/*
		 * A hash of the password as typed, not normalised: one
		 * imported, or set before passwords were. It matches, and
		 * is to be replaced.
		 */
		rc = verify_as(phc, password, len);
		if (rc == AF_DIR_OK && stale != NULL)
			*stale = 1;
	}
	OPENSSL_cleanse(norm, sizeof(norm));
	return rc;
}

int af_pw_needs_rehash(const char *phc, const af_pw_params *params)
{
	af_pw_params got;

	if (params == NULL || af_pw_parse(phc, &got) != AF_DIR_OK)
		return 1;
	return got.m_kib != params->m_kib || got.t != params->t ||
	       got.p != params->p;
}
