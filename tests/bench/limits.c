/*
 * The two physical limits of a password sign-in on this machine, measured
 * with every core busy: RS256 signatures per second (each sign-in's
 * id_token needs one) and Argon2id hashes per second at a given cost (each
 * sign-in's password check needs one). A server cannot finish more
 * sign-ins per second than the smaller of the two, so the sign-in
 * benchmark reports its rate against them.
 *
 * RS256: one 2048-bit key; each thread signs a typical JWT signing input
 * (header.payload, about 700 bytes) with EVP_DigestSign, setting up the
 * digest context for every signature as a server does per token.
 * Argon2id: each thread hashes a password with a fresh salt with
 * libargon2 at m/t/p, which is the work argon2id_verify() does too.
 *
 * With --only es256 it measures instead what the device API of an MFA
 * sign-in costs in crypto: ES256 (P-256) signatures per second, which the
 * phone makes for each signed request, and verifications per second,
 * which the server makes for each, over a signing string of a typical
 * request's size. Nothing else measures these.
 *
 *   bench_limits [--seconds S] [--threads N] [--m-kib M] [--t T] [--p P]
 *                [--only rs256|argon2|es256]
 *
 * Threads default to one per online core. The last line is
 * machine-readable:
 *   RESULT limits rs256_per_s=X argon2id_per_s=Y m_kib=M t=T p=P threads=N
 *          cpu_s=C
 * and with --only es256:
 *   RESULT limits es256_sign_per_s=X es256_verify_per_s=Y threads=N
 *          cpu_s=C
 * where cpu_s is the CPU time the measurement took, so that a caller can
 * tell how much of the machine other processes had meanwhile.
 * Exit status: 0 done, 1 a measurement failed, 2 bad usage.
 *
 * Thread-safety: the key is shared read-only by the signing threads, which
 * OpenSSL 3 allows for EVP_PKEY; each thread has its own digest context.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/util.h"

#define LIM_THREADS_MAX 256
#define LIM_SIG_MAX	512 /* an RSA signature of up to 4096 bits */
#define LIM_MSG_LEN	700
#define LIM_DEV_MSG_LEN 200 /* a device API signing string */
#define EXIT_USAGE	2

enum lim_kind { LIM_RS256, LIM_ARGON2, LIM_ES256_SIGN, LIM_ES256_VERIFY };

struct lim_opts {
	double seconds;
	unsigned long threads;
	unsigned long m_kib;
	unsigned long t;
	unsigned long p;
	int rs256;
	int argon2;
	int es256;
};

/* One worker: what it does, for how long, and what it counted. */
struct lim_job {
	const struct lim_opts *o;
	EVP_PKEY *key;
	const unsigned char *sig; /* LIM_ES256_VERIFY: a signature of msg */
	size_t siglen;
	uint64_t deadline;
	unsigned long count;
	enum lim_kind kind;
	int failed;
};

/*
 * Signs (RS256, ES256) or verifies (ES256) a message of the size the kind
 * of job signs, with the digest context set up anew each time, as a
 * server and a phone do per token and per request.
 */
static void *sign_loop(struct lim_job *j)
{
	unsigned char msg[LIM_MSG_LEN], sig[LIM_SIG_MAX];
	size_t msglen = j->kind == LIM_RS256 ? LIM_MSG_LEN : LIM_DEV_MSG_LEN;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen;
	int ok;

	memset(msg, 'e', sizeof(msg));
	if (ctx == NULL) {
		j->failed = 1;
		return NULL;
	}
	do {
		siglen = sizeof(sig);
		if (EVP_MD_CTX_reset(ctx) != 1) {
			j->failed = 1;
			break;
		}
		if (j->kind == LIM_ES256_VERIFY)
			ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
						  j->key) == 1 &&
			     EVP_DigestVerify(ctx, j->sig, j->siglen, msg,
					      msglen) == 1;
		else
			ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
						j->key) == 1 &&
			     EVP_DigestSign(ctx, sig, &siglen, msg, msglen) ==
				     1;
		if (!ok) {
			j->failed = 1;
			break;
		}
		j->count++;
	} while (af_mono_ns() < j->deadline);
	EVP_MD_CTX_free(ctx);
	return NULL;
}

/* One ES256 signature over the device-sized message, for the verifiers. */
static int es256_sample(EVP_PKEY *key, unsigned char *sig, size_t *siglen)
{
	unsigned char msg[LIM_DEV_MSG_LEN];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	memset(msg, 'e', sizeof(msg));
	ok = ctx != NULL &&
	     EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestSign(ctx, sig, siglen, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static void *hash_loop(struct lim_job *j)
{
	static const char password[] = "correct horse battery staple";
	uint8_t salt[16], hash[32];

	do {
		if (af_random_bytes(salt, sizeof(salt)) != 0 ||
		    argon2id_hash_raw((uint32_t)j->o->t, (uint32_t)j->o->m_kib,
				      (uint32_t)j->o->p, password,
				      sizeof(password) - 1, salt, sizeof(salt),
				      hash, sizeof(hash)) != ARGON2_OK) {
			j->failed = 1;
			break;
		}
		j->count++;
	} while (af_mono_ns() < j->deadline);
	OPENSSL_cleanse(hash, sizeof(hash));
	return NULL;
}

static void *worker(void *arg)
{
	struct lim_job *j = arg;

	return j->kind == LIM_ARGON2 ? hash_loop(j) : sign_loop(j);
}

/*
 * Runs o->threads workers of one kind for o->seconds; the rate over the
 * time until the last worker stopped, or -1 on failure.
 */
static double measure(const struct lim_opts *o, enum lim_kind kind,
		      EVP_PKEY *key, const unsigned char *sig, size_t siglen)
{
	struct lim_job jobs[LIM_THREADS_MAX];
	pthread_t tids[LIM_THREADS_MAX];
	unsigned long i, started = 0, total = 0;
	uint64_t t0 = af_mono_ns();
	int failed = 0;

	for (i = 0; i < o->threads; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].kind = kind;
		jobs[i].o = o;
		jobs[i].key = key;
		jobs[i].sig = sig;
		jobs[i].siglen = siglen;
		jobs[i].deadline = t0 + (uint64_t)(o->seconds * 1e9);
		if (pthread_create(&tids[i], NULL, worker, &jobs[i]) != 0) {
			failed = 1;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		(void)pthread_join(tids[i], NULL);
		failed |= jobs[i].failed;
		total += jobs[i].count;
	}
	if (failed || started == 0)
		return -1;
	return (double)total / ((double)(af_mono_ns() - t0) / 1e9);
}

/* CPU time of the whole process (all threads) in seconds. */
static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int usage(const char *msg, const char *arg)
{
	fprintf(stderr, "bench_limits: %s%s%s\n", msg, arg != NULL ? ": " : "",
		arg != NULL ? arg : "");
	return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct lim_opts *o)
{
	static const struct option longopts[] = {
		{"seconds", required_argument, NULL, 's'},
		{"threads", required_argument, NULL, 'n'},
		{"m-kib", required_argument, NULL, 'm'},
		{"t", required_argument, NULL, 't'},
		{"p", required_argument, NULL, 'p'},
		{"only", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	char *end = NULL;
	int c;

	o->seconds = 3;
	o->threads = cores > 0 && cores <= LIM_THREADS_MAX
			     ? (unsigned long)cores
			     : 1;
	o->m_kib = 19456;
	o->t = 2;
	o->p = 1;
	o->rs256 = o->argon2 = 1;
	o->es256 = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			errno = 0;
			o->seconds = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || optarg[0] < '0' ||
			    optarg[0] > '9' || o->seconds <= 0 ||
			    o->seconds > 600)
				return usage("--seconds must be 0..600",
					     optarg);
			break;
		case 'n':
			if (af_parse_ulong(optarg, 1, LIM_THREADS_MAX,
					   &o->threads) != 0)
				return usage("--threads must be 1..256",
					     optarg);
			break;
		case 'm':
			if (af_parse_ulong(optarg, 8, 4194304, &o->m_kib) != 0)
				return usage("--m-kib must be 8..4194304",
					     optarg);
			break;
		case 't':
			if (af_parse_ulong(optarg, 1, 100, &o->t) != 0)
				return usage("--t must be 1..100", optarg);
			break;
		case 'p':
			if (af_parse_ulong(optarg, 1, 64, &o->p) != 0)
				return usage("--p must be 1..64", optarg);
			break;
		case 'o':
			o->rs256 = strcmp(optarg, "rs256") == 0;
			o->argon2 = strcmp(optarg, "argon2") == 0;
			o->es256 = strcmp(optarg, "es256") == 0;
			if (!o->rs256 && !o->argon2 && !o->es256)
				return usage("--only must be rs256, argon2 or "
					     "es256",
					     optarg);
			break;
		case 'h':
			printf("usage: bench_limits [--seconds S] [--threads N] "
			       "[--m-kib M] [--t T] [--p P]\n"
			       "                    [--only "
			       "rs256|argon2|es256]\n");
			exit(0);
		default:
			return usage("unknown option; see --help", NULL);
		}
	}
	if (optind < argc)
		return usage("unexpected argument", argv[optind]);
	if (o->m_kib < 8 * o->p)
		return usage("--m-kib must be at least 8 x --p", NULL);
	return 0;
}

/* --only es256: signatures and verifications per second. */
static int es256(const struct lim_opts *o)
{
	unsigned char sig[LIM_SIG_MAX];
	size_t siglen = sizeof(sig);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	double s, v;
	int rc = 1;

	if (key == NULL || es256_sample(key, sig, &siglen) != 0) {
		fprintf(stderr,
			"bench_limits: P-256 key or signature failed\n");
		goto out;
	}
	s = measure(o, LIM_ES256_SIGN, key, NULL, 0);
	v = measure(o, LIM_ES256_VERIFY, key, sig, siglen);
	if (s < 0 || v < 0) {
		fprintf(stderr, "bench_limits: ES256 failed\n");
		goto out;
	}
	printf("ES256 (P-256, %d-byte message, %lu threads): %.1f "
	       "signatures/s, %.1f verifications/s\n",
	       LIM_DEV_MSG_LEN, o->threads, s, v);
	printf("RESULT limits es256_sign_per_s=%.1f es256_verify_per_s=%.1f "
	       "threads=%lu cpu_s=%.2f\n",
	       s, v, o->threads, cpu_seconds());
	rc = 0;
out:
	EVP_PKEY_free(key);
	return rc;
}

int main(int argc, char **argv)
{
	struct lim_opts o;
	EVP_PKEY *key = NULL;
	double rs = 0, a2 = 0;
	int rc;

	memset(&o, 0, sizeof(o));
	rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc;
	rc = 1;
	if (o.es256) {
		rc = es256(&o);
		goto out;
	}
	if (o.rs256) {
		key = EVP_RSA_gen(2048);
		if (key == NULL) {
			fprintf(stderr, "bench_limits: RSA key generation "
					"failed\n");
			goto out;
		}
		rs = measure(&o, LIM_RS256, key, NULL, 0);
		if (rs < 0) {
			fprintf(stderr, "bench_limits: signing failed\n");
			goto out;
		}
		printf("RS256 (2048-bit, EVP_DigestSign, %lu threads): %.1f "
		       "signatures/s\n",
		       o.threads, rs);
	}
	if (o.argon2) {
		a2 = measure(&o, LIM_ARGON2, NULL, NULL, 0);
		if (a2 < 0) {
			fprintf(stderr, "bench_limits: argon2id failed\n");
			goto out;
		}
		printf("Argon2id (m=%lu KiB, t=%lu, p=%lu, %lu threads): %.1f "
		       "hashes/s\n",
		       o.m_kib, o.t, o.p, o.threads, a2);
	}
	printf("RESULT limits rs256_per_s=%.1f argon2id_per_s=%.1f m_kib=%lu "
	       "t=%lu p=%lu threads=%lu cpu_s=%.2f\n",
	       rs, a2, o.m_kib, o.t, o.p, o.threads, cpu_seconds());
	rc = 0;
out:
	EVP_PKEY_free(key);
	return rc;
}
