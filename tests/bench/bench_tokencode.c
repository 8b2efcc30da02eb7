/*
 * Benchmark: TOTP verifications per second against raw HMAC-SHA1
 * computations per second over the same key, measured in one run.
 *
 * The raw rate is the floor of what any verifier must do: one HMAC-SHA1 of
 * an 8-byte counter from an already keyed OpenSSL context. A verification
 * is what authflow does per typed code: key a tc_key from the secret,
 * decode and check the code over a +-1 window (three HMACs), free the key.
 * The figure of merit is verifications/s * 3 / raw HMACs/s.
 *
 *   bench_tokencode [--seconds S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "tokencode.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const uint8_t secret[20] = "12345678901234567890";

/* Raw HMAC-SHA1 per second from one keyed context. */
static double raw_hmac_rate(double seconds)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];
	unsigned char msg[8] = {0}, out[EVP_MAX_MD_SIZE];
	unsigned long n = 0, i;
	size_t outlen;
	double start, elapsed;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     "SHA1", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx == NULL || !EVP_MAC_init(ctx, secret, sizeof(secret), params)) {
		fprintf(stderr, "bench_tokencode: HMAC setup failed\n");
		exit(1);
	}
	start = now_s();
	do {
		for (i = 0; i < 4096; i++, n++) {
			msg[7] = (unsigned char)n;
			msg[6] = (unsigned char)(n >> 8);
			if (!EVP_MAC_init(ctx, NULL, 0, NULL) ||
			    !EVP_MAC_update(ctx, msg, sizeof(msg)) ||
			    !EVP_MAC_final(ctx, out, &outlen, sizeof(out)))
				exit(1);
		}
		elapsed = now_s() - start;
	} while (elapsed < seconds);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return (double)n / elapsed;
}

#define CODES 4096

/* Codes to check, made before the clock starts: a quarter right. */
static void make_codes(char codes[][TC_CODE_BUF], int64_t *times)
{
	tc_totp_params p;
	tc_key *key = NULL;
	unsigned i;

	tc_totp_params_init(&p);
	if (tc_key_new(secret, sizeof(secret), TC_ALGO_SHA1, &key) != TC_OK)
		exit(1);
	for (i = 0; i < CODES; i++) {
		times[i] = 1700000000 + (int64_t)i * 30;
		if (tc_totp(key, &p, times[i], codes[i], TC_CODE_BUF) != TC_OK)
			exit(1);
		if (i % 4 != 0)
			codes[i][0] =
				(char)('0' + (codes[i][0] - '0' + 1) % 10);
	}
	tc_key_free(key);
}

/*
 * Verifications per second over a +-1 window. With rekey set, each one
 * also builds the tc_key from the raw secret and frees it, as a server does
 * when it loads a device's secret for one typed code.
 */
static double verify_rate(double seconds, int rekey, unsigned long *accepted)
{
	static char codes[CODES][TC_CODE_BUF];
	static int64_t times[CODES];
	tc_totp_params p;
	unsigned long n = 0, i;
	double start, elapsed;
	uint64_t matched;
	tc_key *key = NULL;

	make_codes(codes, times);
	tc_totp_params_init(&p);
	*accepted = 0;
	if (!rekey &&
	    tc_key_new(secret, sizeof(secret), TC_ALGO_SHA1, &key) != TC_OK)
		exit(1);
	start = now_s();
	do {
		for (i = 0; i < CODES; i++, n++) {
			if (rekey && tc_key_new(secret, sizeof(secret),
						TC_ALGO_SHA1, &key) != TC_OK)
				exit(1);
			if (tc_totp_verify(key, &p, times[i], codes[i], 1, NULL,
					   &matched) == TC_OK)
				(*accepted)++;
			if (rekey) {
				tc_key_free(key);
				key = NULL;
			}
		}
		elapsed = now_s() - start;
	} while (elapsed < seconds);
	tc_key_free(key);
	return (double)n / elapsed;
}

int main(int argc, char **argv)
{
	double seconds = 3.0, raw, ver, rekeyed, ratio;
	unsigned long accepted, accepted_rekeyed;

	if (argc == 3 && strcmp(argv[1], "--seconds") == 0) {
		char *end = NULL;

		seconds = strtod(argv[2], &end);
		if (end == argv[2] || *end != '\0' || seconds <= 0 ||
		    seconds > 600) {
			fprintf(stderr, "bench_tokencode: bad --seconds\n");
			return 2;
		}
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_tokencode [--seconds S]\n");
		return 2;
	}
	raw = raw_hmac_rate(seconds);
	ver = verify_rate(seconds, 0, &accepted);
	rekeyed = verify_rate(seconds, 1, &accepted_rekeyed);
	ratio = ver * 3.0 / raw;
	printf("raw HMAC-SHA1 (keyed context): %11.0f HMAC/s\n", raw);
	printf("TOTP verify, +-1 window:       %11.0f verify/s "
	       "(%lu accepted)\n",
	       ver, accepted);
	printf("verify HMAC efficiency:        %10.1f%% "
	       "(3 HMACs per verify; goal >= 70%%)\n",
	       ratio * 100.0);
	printf("TOTP verify incl. key setup:   %11.0f verify/s "
	       "(%lu accepted, %.1f%% of raw HMAC rate)\n",
	       rekeyed, accepted_rekeyed, rekeyed * 3.0 / raw * 100.0);
	return 0;
}
