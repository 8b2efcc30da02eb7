/*
 * Fuzz target: the device API's request signatures. The input is split on
 * newlines into the fields of a request (the rest after the ninth newline
 * is the body):
 *   need_device ("1" or anything else), X-AF-Device, X-AF-Timestamp,
 *   X-AF-Nonce, X-AF-Signature, method, path, "?query" (no '?': no
 *   query), a JWK (empty: the harness key below), body
 * A field the input does not reach is an absent header. The headers are
 * parsed, the signing string built and the signature verified, and the
 * signature is also verified raw, whatever the parse said: nothing may
 * crash, and a success must be consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "device/device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 9

/*
 * The public half of a P-256 key made for this harness only; the seed
 * corpus holds requests signed with its private half, so that they reach
 * a successful verification.
 */
static const char harness_jwk[] =
	"{\"kty\":\"EC\",\"crv\":\"P-256\","
	"\"x\":\"693rrE0-vjZ_SiGBMO57cYtHggM_XokHDyzGiIcuqGA\","
	"\"y\":\"daKK5vAumB9XfiWdybxfgqYjiigNRjl0RYT87skCjSk\"}";

/* Copies n bytes into a new NUL-terminated string, or NULL. */
static char *dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void run(char *const *f, const char *body, size_t body_len)
{
	char sigstr[AF_DEVICE_SIG_STRING_MAX];
	af_device_sig sig;
	size_t n = 0;
	json_t *jwk;
	af_device_status st;

	jwk = f[8] != NULL && f[8][0] != '\0'
		      ? json_loads(f[8], JSON_REJECT_DUPLICATES, NULL)
		      : json_loads(harness_jwk, 0, NULL);
	/*
	 * The raw verifier takes any string, parsed or not, and answers
	 * with one of its documented statuses.
	 */
	st = af_device_sig_verify(NULL, jwk, f[5] != NULL ? f[5] : "",
				  f[4] != NULL ? f[4] : "");
	if (st != AF_DEVICE_OK && st != AF_DEVICE_UNAUTHORIZED &&
	    st != AF_DEVICE_BAD_KEY && st != AF_DEVICE_INTERNAL)
		abort();
	st = af_device_sig_parse(f[1], f[2], f[3], f[4],
				 f[0] != NULL && strcmp(f[0], "1") == 0, &sig);
	if (st != AF_DEVICE_OK)
		goto out;
	if (f[5] == NULL || f[6] == NULL)
		goto out;
	st = af_device_sig_string(
		f[5], f[6], f[7] != NULL && f[7][0] == '?' ? f[7] + 1 : NULL,
		&sig, body, body_len, sigstr, sizeof(sigstr), &n);
	if (st != AF_DEVICE_OK)
		goto out;
	if (n != strlen(sigstr) || n >= sizeof(sigstr))
		abort();
	st = af_device_sig_verify(NULL, jwk, sigstr, sig.sig);
	/* A verified request must have been parsed with its bounds. */
	if (st == AF_DEVICE_OK && (strlen(sig.sig) != AF_DEVICE_SIG_B64 ||
				   strlen(sig.nonce) < AF_DEVICE_NONCE_MIN))
		abort();
out:
	json_decref(jwk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[NFIELDS] = {NULL};
	const uint8_t *nl;
	size_t i, nf = 0, pos = 0, len;
	int more = 1;

	/* more: the input has not run out (a body, maybe empty, follows). */
	while (nf < NFIELDS && more) {
		nl = memchr(data + pos, '\n', size - pos);
		len = nl != NULL ? (size_t)(nl - (data + pos)) : size - pos;
		f[nf] = dup_n(data + pos, len);
		if (f[nf] == NULL)
			goto out;
		nf++;
		pos += len;
		if (nl == NULL)
			more = 0;
		else
			pos++;
	}
	if (more && pos < size)
		run(f, (const char *)data + pos, size - pos);
	else
		run(f, NULL, 0);
out:
	for (i = 0; i < NFIELDS; i++)
		free(f[i]);
	return 0;
}
