/*
 * Unit tests of the state store. One suite runs against the memory
 * backend, without and with a state folder, and against redis when
 * AF_TEST_REDIS_URL is set (tests/tools/with-redis.sh sets it). With
 * AF_TEST_REQUIRE_REDIS=1 a missing redis is a failure, not a skip.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "common/store.h"
#include "common/util.h"

#define NTHREADS     8
#define ROUNDS	     40
#define BIG_SET	     1000
/*
 * Increments per thread per round, and members of the big set, with a
 * state file: each change there costs an fsync, so they are fewer.
 */
#define INCRS	     5
#define INCRS_FILE   1
#define BIG_SET_FILE 300

enum kind {
	KIND_MEMORY,
	KIND_AOF,
	KIND_REDIS,
};

#define REPORTS_MAX 16

/* What the store's report callback was told. */
struct reports {
	pthread_mutex_t lock;
	int n;
	int level[REPORTS_MAX];
	char msg[REPORTS_MAX][1100];
};

struct fixture {
	enum kind kind;
	char dir[64];
	char aof[96];
	char prefix[48];
	/* The state file's absolute path, as reports and errors name it. */
	char abs_aof[4200];
	struct reports rep;
	store_options opts;
	store_ctx *st;
};

/* --- helpers ------------------------------------------------------------- */

static void collect_report(void *arg, int level, const char *msg)
{
	struct reports *r = arg;

	pthread_mutex_lock(&r->lock);
	if (r->n < REPORTS_MAX) {
		r->level[r->n] = level;
		(void)snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", msg);
		r->n++;
	}
	pthread_mutex_unlock(&r->lock);
}

static void reports_clear(struct reports *r)
{
	pthread_mutex_lock(&r->lock);
	r->n = 0;
	pthread_mutex_unlock(&r->lock);
}

/* How many reports of level hold every one of the given texts. */
static int reports_with(struct reports *r, int level, const char *a,
			const char *b)
{
	int i, n = 0;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->n; i++) {
		if (r->level[i] == level && strstr(r->msg[i], a) != NULL &&
		    (b == NULL || strstr(r->msg[i], b) != NULL))
			n++;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* Side files with torn tails cut off the state file, by name prefix. */
static int cut_files(const char *dir, char *name, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "store.aof.cut-", 14) != 0)
			continue;
		if (name != NULL) {
			int w = snprintf(name, cap, "%s/%s", dir, de->d_name);

			assert_true(w > 0 && (size_t)w < cap);
		}
		n++;
	}
	closedir(d);
	return n;
}

static void remove_cut_files(const char *dir)
{
	char path[128];

	while (cut_files(dir, path, sizeof(path)) > 0)
		assert_int_equal(unlink(path), 0);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t elapsed_ms(uint64_t start_ns)
{
	return (af_mono_ns() - start_ns) / 1000000u;
}

static store_op batch_op(store_op_kind kind, const char *key)
{
	store_op op;

	memset(&op, 0, sizeof(op));
	op.kind = kind;
	op.key = key;
	return op;
}

static store_ctx *open_or_fail(const store_options *opts)
{
	store_ctx *st = NULL;
	char err[256];
	store_status rc = store_open(opts, &st, err, sizeof(err));

	if (rc != STORE_OK)
		fail_msg("store_open: %s: %s", store_strerror(rc), err);
	return st;
}

static int fixture_setup(void **state, enum kind kind)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char tok[24];

	assert_non_null(f);
	f->kind = kind;
	assert_int_equal(af_random_token(9, tok, sizeof(tok)), 0);
	/* A fresh prefix per test, so tests on one redis never meet. */
	(void)snprintf(f->prefix, sizeof(f->prefix), "t%s:", tok);
	f->opts.prefix = f->prefix;
	f->opts.timeout_ms = 2000;
	if (kind == KIND_AOF) {
		const char *tmp = getenv("TMPDIR");

		(void)snprintf(f->dir, sizeof(f->dir), "%s/af-store-XXXXXX",
			       tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
		assert_non_null(mkdtemp(f->dir));
		(void)snprintf(f->aof, sizeof(f->aof), "%s/store.aof", f->dir);
		f->opts.state_dir = f->dir;
		assert_int_equal(pthread_mutex_init(&f->rep.lock, NULL), 0);
		f->opts.report = collect_report;
		f->opts.report_arg = &f->rep;
		{
			char abs[4096];

			assert_non_null(realpath(f->dir, abs));
			(void)snprintf(f->abs_aof, sizeof(f->abs_aof),
				       "%s/store.aof", abs);
		}
	}
	if (kind == KIND_REDIS) {
		f->opts.backend = STORE_BACKEND_REDIS;
		f->opts.url = getenv("AF_TEST_REDIS_URL");
	}
	f->st = open_or_fail(&f->opts);
	*state = f;
	return 0;
}

static int setup_memory(void **state)
{
	return fixture_setup(state, KIND_MEMORY);
}

static int setup_aof(void **state)
{
	return fixture_setup(state, KIND_AOF);
}

static int setup_redis(void **state)
{
	return fixture_setup(state, KIND_REDIS);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	store_close(f->st);
	if (f->kind == KIND_AOF) {
		(void)unlink(f->aof);
		(void)snprintf(path, sizeof(path), "%s/store.aof.tmp", f->dir);
		(void)unlink(path);
		remove_cut_files(f->dir);
		(void)rmdir(f->dir);
		pthread_mutex_destroy(&f->rep.lock);
	}
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	store_close(f->st);
	f->st = open_or_fail(&f->opts);
}

static void put(store_ctx *st, const char *key, const char *val)
{
	assert_int_equal(store_set(st, key, val, strlen(val), 0, 0), STORE_OK);
}

/* Asserts that key holds exactly the string want. */
static void want_value(store_ctx *st, const char *key, const char *want)
{
	store_value v = {NULL, 0};

	assert_int_equal(store_get(st, key, &v), STORE_OK);
	assert_int_equal(v.len, strlen(want));
	assert_memory_equal(v.data, want, v.len);
	assert_int_equal(v.data[v.len], 0);
	store_value_free(&v);
}

static void want_missing(store_ctx *st, const char *key)
{
	store_value v = {NULL, 0};

	assert_int_equal(store_get(st, key, &v), STORE_NOT_FOUND);
	assert_null(v.data);
	assert_int_equal(v.len, 0);
}

/* Writes n bytes at p to path, opened with flags (O_WRONLY and more). */
static void put_bytes(const char *path, int flags, const void *p, size_t n)
{
	int fd = open(path, flags);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/* Whether the file at path holds the bytes of needle. */
static bool file_holds(const char *path, const char *needle)
{
	char buf[65536];
	size_t n, i, len = strlen(needle);
	FILE *fp = fopen(path, "rb");

	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	for (i = 0; i + len <= n; i++) {
		if (memcmp(buf + i, needle, len) == 0)
			return true;
	}
	return false;
}

/* --- basic operations ---------------------------------------------------- */

static void test_set_new_key_get_returns_value(void **state)
{
	struct fixture *f = *state;

	want_missing(f->st, "k");
	put(f->st, "k", "one");
	want_value(f->st, "k", "one");
	put(f->st, "k", "two");
	want_value(f->st, "k", "two");
	assert_int_equal(store_del(f->st, "k"), STORE_OK);
	want_missing(f->st, "k");
	/* Deleting a missing key is fine. */
	assert_int_equal(store_del(f->st, "k"), STORE_OK);
	assert_int_equal(store_ping(f->st), STORE_OK);
	assert_int_equal(store_get_backend(f->st),
			 f->kind == KIND_REDIS ? STORE_BACKEND_REDIS
					       : STORE_BACKEND_MEMORY);
}

static void test_set_nx_xx_follow_existence(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_set(f->st, "k", "a", 1, 0, STORE_SET_XX),
			 STORE_NOT_FOUND);
	want_missing(f->st, "k");
	assert_int_equal(store_set(f->st, "k", "b", 1, 0, STORE_SET_NX),
			 STORE_OK);
	assert_int_equal(store_set(f->st, "k", "c", 1, 0, STORE_SET_NX),
			 STORE_EXISTS);
	want_value(f->st, "k", "b");
	assert_int_equal(store_set(f->st, "k", "d", 1, 0, STORE_SET_XX),
			 STORE_OK);
	want_value(f->st, "k", "d");
	assert_int_equal(
		store_set(f->st, "k", "e", 1, 0, STORE_SET_NX | STORE_SET_XX),
		STORE_ERR_ARG);
	assert_int_equal(store_set(f->st, "k", "e", 1, 0, 0x20), STORE_ERR_ARG);
}

static void test_set_ttl_elapsed_key_gone(void **state)
{
	struct fixture *f = *state;
	uint64_t ttl = 0;

	assert_int_equal(store_set(f->st, "short", "x", 1, 500, 0), STORE_OK);
	want_value(f->st, "short", "x");
	assert_int_equal(store_ttl(f->st, "short", &ttl), STORE_OK);
	assert_true(ttl > 0 && ttl <= 500);
	assert_int_equal(store_set(f->st, "long", "y", 1, 60000, 0), STORE_OK);
	put(f->st, "forever", "z");
	assert_int_equal(store_ttl(f->st, "long", &ttl), STORE_OK);
	assert_true(ttl > 59000 && ttl <= 60000);
	assert_int_equal(store_ttl(f->st, "forever", &ttl), STORE_OK);
	assert_int_equal(ttl, 0);
	sleep_ms(600);
	want_missing(f->st, "short");
	assert_int_equal(store_ttl(f->st, "short", &ttl), STORE_NOT_FOUND);
	/* An expired key is gone for NX too. */
	assert_int_equal(store_set(f->st, "short", "w", 1, 0, STORE_SET_NX),
			 STORE_OK);
	want_value(f->st, "long", "y");
	want_value(f->st, "forever", "z");
	assert_int_equal(store_ttl(f->st, "nothing", &ttl), STORE_NOT_FOUND);
}

static void test_getdel_present_key_returns_and_removes(void **state)
{
	struct fixture *f = *state;
	store_value v = {NULL, 0};

	put(f->st, "code", "secret");
	assert_int_equal(store_getdel(f->st, "code", &v), STORE_OK);
	assert_int_equal(v.len, 6);
	assert_memory_equal(v.data, "secret", 6);
	store_value_free(&v);
	assert_null(v.data);
	assert_int_equal(store_getdel(f->st, "code", &v), STORE_NOT_FOUND);
	assert_null(v.data);
	want_missing(f->st, "code");
}

static void test_set_binary_value_roundtrips(void **state)
{
	struct fixture *f = *state;
	static const uint8_t bin[] = {0, 1, 0, 0xff, 'a', 0, 0x80, 0};
	store_value v = {NULL, 0};

	assert_int_equal(store_set(f->st, "bin", bin, sizeof(bin), 0, 0),
			 STORE_OK);
	assert_int_equal(store_get(f->st, "bin", &v), STORE_OK);
	assert_int_equal(v.len, sizeof(bin));
	assert_memory_equal(v.data, bin, sizeof(bin));
	store_value_free(&v);
	assert_int_equal(store_cas(f->st, "bin", bin, sizeof(bin), bin, 3, 0),
			 STORE_OK);
	assert_int_equal(store_getdel(f->st, "bin", &v), STORE_OK);
	assert_int_equal(v.len, 3);
	assert_memory_equal(v.data, bin, 3);
	store_value_free(&v);
	/* An empty value is a value. */
	assert_int_equal(store_set(f->st, "empty", NULL, 0, 0, 0), STORE_OK);
	assert_int_equal(store_get(f->st, "empty", &v), STORE_OK);
	assert_int_equal(v.len, 0);
	assert_non_null(v.data);
	assert_int_equal(v.data[0], 0);
	store_value_free(&v);
}

static void test_set_oversized_input_refused(void **state)
{
	struct fixture *f = *state;
	char key[STORE_KEY_MAX + 2];
	uint8_t *big = malloc(STORE_VALUE_MAX + 1);
	store_value v = {NULL, 0};
	int64_t n;

	assert_non_null(big);
	memset(big, 'v', STORE_VALUE_MAX + 1);
	big[17] = 0;
	memset(key, 'k', sizeof(key));
	key[STORE_KEY_MAX + 1] = '\0';
	assert_int_equal(store_set(f->st, key, "x", 1, 0, 0),
			 STORE_ERR_TOO_BIG);
	assert_int_equal(store_get(f->st, key, &v), STORE_ERR_TOO_BIG);
	assert_int_equal(store_sadd(f->st, key, "m"), STORE_ERR_TOO_BIG);
	assert_int_equal(store_sadd(f->st, "s", key), STORE_ERR_TOO_BIG);
	key[STORE_KEY_MAX] = '\0';
	assert_int_equal(store_set(f->st, key, "x", 1, 0, 0), STORE_OK);
	want_value(f->st, key, "x");
	assert_int_equal(store_sadd(f->st, "s", key), STORE_OK);
	assert_int_equal(store_set(f->st, "v", big, STORE_VALUE_MAX + 1, 0, 0),
			 STORE_ERR_TOO_BIG);
	assert_int_equal(
		store_cas(f->st, "v", "a", 1, big, STORE_VALUE_MAX + 1, 0),
		STORE_ERR_TOO_BIG);
	assert_int_equal(store_set(f->st, "v", big, STORE_VALUE_MAX, 0, 0),
			 STORE_OK);
	assert_int_equal(store_get(f->st, "v", &v), STORE_OK);
	assert_int_equal(v.len, STORE_VALUE_MAX);
	assert_memory_equal(v.data, big, STORE_VALUE_MAX);
	store_value_free(&v);
	free(big);
	/* Arguments no caller should pass. */
	assert_int_equal(store_set(f->st, "", "x", 1, 0, 0), STORE_ERR_ARG);
	assert_int_equal(store_set(f->st, NULL, "x", 1, 0, 0), STORE_ERR_ARG);
	assert_int_equal(store_set(f->st, "k", NULL, 1, 0, 0), STORE_ERR_ARG);
	assert_int_equal(store_set(NULL, "k", "x", 1, 0, 0), STORE_ERR_ARG);
	assert_int_equal(store_set(f->st, "k", "x", 1, STORE_TTL_MAX + 1, 0),
			 STORE_ERR_ARG);
	assert_int_equal(store_get(f->st, "k", NULL), STORE_ERR_ARG);
	assert_int_equal(store_incr(f->st, "k", 1, 0, NULL), STORE_ERR_ARG);
	assert_int_equal(store_incr(f->st, "", 1, 0, &n), STORE_ERR_ARG);
	assert_int_equal(store_sadd(f->st, "s", NULL), STORE_ERR_ARG);
	assert_int_equal(store_smembers(f->st, "s", NULL, NULL), STORE_ERR_ARG);
	assert_int_equal(store_ping(NULL), STORE_ERR_ARG);
}

/* --- races -------------------------------------------------------------------
 */

enum race_op {
	RACE_GETDEL,
	RACE_CAS,
	RACE_DEL_IF,
	RACE_INCR,
};

struct race {
	struct fixture *f;
	enum race_op op;
	int incrs;
	pthread_barrier_t start, done;
	store_status got[NTHREADS];
	char seen[NTHREADS][16];
};

struct racer {
	struct race *r;
	int id;
};

static void *racer_main(void *arg)
{
	struct racer *me = arg;
	struct race *r = me->r;
	char mine[16];
	store_value v = {NULL, 0};
	int64_t n = 0;
	int round, i;

	(void)snprintf(mine, sizeof(mine), "t%d", me->id);
	for (round = 0; round < ROUNDS; round++) {
		(void)pthread_barrier_wait(&r->start);
		r->seen[me->id][0] = '\0';
		if (r->op == RACE_GETDEL) {
			r->got[me->id] = store_getdel(r->f->st, "race", &v);
			if (v.data != NULL && v.len < sizeof(r->seen[0]))
				memcpy(r->seen[me->id], v.data, v.len + 1);
			store_value_free(&v);
		} else if (r->op == RACE_CAS) {
			r->got[me->id] = store_cas(r->f->st, "race", "v0", 2,
						   mine, strlen(mine), 0);
		} else if (r->op == RACE_DEL_IF) {
			r->got[me->id] =
				store_del_if(r->f->st, "race", "v0", 2);
		} else {
			for (i = 0; i < r->incrs; i++) {
				r->got[me->id] =
					store_incr(r->f->st, "count", 1, 0, &n);
				if (r->got[me->id] != STORE_OK)
					break;
			}
		}
		(void)pthread_barrier_wait(&r->done);
	}
	return NULL;
}

/* Runs ROUNDS rounds of op on NTHREADS threads; check runs per round. */
static void race_run(struct fixture *f, enum race_op op,
		     void (*prepare)(struct race *),
		     void (*check)(struct race *))
{
	struct race r = {.f = f,
			 .op = op,
			 .incrs = f->kind == KIND_AOF ? INCRS_FILE : INCRS};
	struct racer who[NTHREADS];
	pthread_t th[NTHREADS];
	int i, round;

	assert_int_equal(pthread_barrier_init(&r.start, NULL, NTHREADS + 1), 0);
	assert_int_equal(pthread_barrier_init(&r.done, NULL, NTHREADS + 1), 0);
	for (i = 0; i < NTHREADS; i++) {
		who[i] = (struct racer){&r, i};
		assert_int_equal(
			pthread_create(&th[i], NULL, racer_main, &who[i]), 0);
	}
	for (round = 0; round < ROUNDS; round++) {
		prepare(&r);
		(void)pthread_barrier_wait(&r.start);
		(void)pthread_barrier_wait(&r.done);
		check(&r);
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&r.start);
	pthread_barrier_destroy(&r.done);
}

static void prepare_v0(struct race *r)
{
	put(r->f->st, "race", "v0");
}

static void check_one_getdel(struct race *r)
{
	int i, wins = 0;

	for (i = 0; i < NTHREADS; i++) {
		if (r->got[i] == STORE_OK) {
			wins++;
			assert_string_equal(r->seen[i], "v0");
		} else {
			assert_int_equal(r->got[i], STORE_NOT_FOUND);
		}
	}
	assert_int_equal(wins, 1);
	want_missing(r->f->st, "race");
}

static void check_one_cas(struct race *r)
{
	char want[16];
	int i, winner = -1;

	for (i = 0; i < NTHREADS; i++) {
		if (r->got[i] == STORE_OK) {
			assert_int_equal(winner, -1);
			winner = i;
		} else {
			assert_int_equal(r->got[i], STORE_CONFLICT);
		}
	}
	assert_true(winner >= 0);
	(void)snprintf(want, sizeof(want), "t%d", winner);
	want_value(r->f->st, "race", want);
}

static void check_one_del_if(struct race *r)
{
	int i, wins = 0;

	for (i = 0; i < NTHREADS; i++) {
		if (r->got[i] == STORE_OK)
			wins++;
		else
			assert_int_equal(r->got[i], STORE_NOT_FOUND);
	}
	assert_int_equal(wins, 1);
	want_missing(r->f->st, "race");
}

static void test_getdel_concurrent_callers_one_wins(void **state)
{
	race_run(*state, RACE_GETDEL, prepare_v0, check_one_getdel);
}

static void test_cas_concurrent_callers_one_wins(void **state)
{
	race_run(*state, RACE_CAS, prepare_v0, check_one_cas);
}

static void test_del_if_concurrent_callers_one_wins(void **state)
{
	race_run(*state, RACE_DEL_IF, prepare_v0, check_one_del_if);
}

static void prepare_nothing(struct race *r)
{
	(void)r;
}

static void check_incr_ok(struct race *r)
{
	int i;

	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(r->got[i], STORE_OK);
}

static void test_incr_concurrent_callers_no_lost_update(void **state)
{
	struct fixture *f = *state;
	int64_t n = 0;

	race_run(f, RACE_INCR, prepare_nothing, check_incr_ok);
	assert_int_equal(store_incr(f->st, "count", 0, 0, &n), STORE_OK);
	assert_int_equal(n, (int64_t)ROUNDS * NTHREADS *
				    (f->kind == KIND_AOF ? INCRS_FILE : INCRS));
}

/* --- compare-and-set and counters ------------------------------------------
 */

static void test_cas_mismatch_conflicts(void **state)
{
	struct fixture *f = *state;
	uint64_t ttl = 0;

	assert_int_equal(store_cas(f->st, "c", "a", 1, "b", 1, 0),
			 STORE_NOT_FOUND);
	put(f->st, "c", "a");
	assert_int_equal(store_cas(f->st, "c", "x", 1, "b", 1, 0),
			 STORE_CONFLICT);
	/* A prefix of the value is not the value. */
	put(f->st, "c", "ab");
	assert_int_equal(store_cas(f->st, "c", "a", 1, "b", 1, 0),
			 STORE_CONFLICT);
	want_value(f->st, "c", "ab");
	/* ttl 0 keeps the TTL the key had. */
	assert_int_equal(store_set(f->st, "c", "ab", 2, 60000, 0), STORE_OK);
	assert_int_equal(store_cas(f->st, "c", "ab", 2, "cd", 2, 0), STORE_OK);
	assert_int_equal(store_ttl(f->st, "c", &ttl), STORE_OK);
	assert_true(ttl > 59000 && ttl <= 60000);
	assert_int_equal(store_cas(f->st, "c", "cd", 2, "ef", 2, 50), STORE_OK);
	want_value(f->st, "c", "ef");
	sleep_ms(120);
	want_missing(f->st, "c");
}

static void test_del_if_only_the_expected_value(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_del_if(f->st, "d", "a", 1), STORE_NOT_FOUND);
	put(f->st, "d", "ab");
	assert_int_equal(store_del_if(f->st, "d", "x", 1), STORE_CONFLICT);
	/* A prefix of the value is not the value, nor is a longer one. */
	assert_int_equal(store_del_if(f->st, "d", "a", 1), STORE_CONFLICT);
	assert_int_equal(store_del_if(f->st, "d", "abc", 3), STORE_CONFLICT);
	want_value(f->st, "d", "ab");
	assert_int_equal(store_del_if(f->st, "d", "ab", 2), STORE_OK);
	want_missing(f->st, "d");
	assert_int_equal(store_del_if(f->st, "d", "ab", 2), STORE_NOT_FOUND);
	/* An expired key is no longer there to hold the value. */
	assert_int_equal(store_set(f->st, "d", "ab", 2, 50, 0), STORE_OK);
	sleep_ms(120);
	assert_int_equal(store_del_if(f->st, "d", "ab", 2), STORE_NOT_FOUND);
	/* A set is no string to compare. */
	assert_int_equal(store_sadd(f->st, "s", "m"), STORE_OK);
	assert_int_equal(store_del_if(f->st, "s", "m", 1), STORE_ERR_ARG);
	assert_int_equal(store_del_if(NULL, "d", "ab", 2), STORE_ERR_ARG);
	assert_int_equal(store_del_if(f->st, "", "ab", 2), STORE_ERR_ARG);
}

/*
 * store_secret(): made once (hex, no TTL) and read back the same after;
 * a stored one of the wrong shape is refused, never replaced.
 */
static void test_secret_made_once(void **state)
{
	struct fixture *f = *state;
	uint8_t a[32], b[32], zero[32] = {0};
	uint64_t ttl = 1;

	assert_int_equal(store_secret(f->st, "k", a, sizeof(a)), STORE_OK);
	assert_int_equal(store_ttl(f->st, "k", &ttl), STORE_OK);
	assert_int_equal(ttl, 0);
	assert_int_equal(store_secret(f->st, "k", b, sizeof(b)), STORE_OK);
	assert_memory_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	/* Another key, another secret. */
	assert_int_equal(store_secret(f->st, "k2", b, sizeof(b)), STORE_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	/* 32 bytes asked of a 16-byte one; upper-case hex; not hex. */
	assert_int_equal(store_secret(f->st, "k", b, 16), STORE_ERR_PROTOCOL);
	assert_memory_equal(b, zero, 16);
	put(f->st, "u", "AB");
	assert_int_equal(store_secret(f->st, "u", b, 1), STORE_ERR_PROTOCOL);
	put(f->st, "x", "zz");
	assert_int_equal(store_secret(f->st, "x", b, 1), STORE_ERR_PROTOCOL);
	want_value(f->st, "x", "zz");
	put(f->st, "l", "0aff");
	assert_int_equal(store_secret(f->st, "l", b, 2), STORE_OK);
	assert_int_equal(b[0], 0x0a);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(store_secret(f->st, "k", b, 0), STORE_ERR_ARG);
	assert_int_equal(store_secret(f->st, "k", b, STORE_SECRET_MAX + 1),
			 STORE_ERR_ARG);
	assert_int_equal(store_secret(NULL, "k", b, 1), STORE_ERR_ARG);
}

static void test_incr_new_key_ttl_set_once(void **state)
{
	struct fixture *f = *state;
	uint64_t ttl = 0;
	int64_t n = 0;

	assert_int_equal(store_incr(f->st, "n", 5, 60000, &n), STORE_OK);
	assert_int_equal(n, 5);
	assert_int_equal(store_ttl(f->st, "n", &ttl), STORE_OK);
	assert_true(ttl > 59000 && ttl <= 60000);
	assert_int_equal(store_incr(f->st, "n", -7, 0, &n), STORE_OK);
	assert_int_equal(n, -2);
	want_value(f->st, "n", "-2");
	assert_int_equal(store_ttl(f->st, "n", &ttl), STORE_OK);
	assert_true(ttl > 59000 && ttl <= 60000);

	/* An existing key keeps its (short) TTL, whatever ttl_ms says. */
	assert_int_equal(store_incr(f->st, "s", 1, 1000, &n), STORE_OK);
	sleep_ms(60);
	assert_int_equal(store_incr(f->st, "s", 1, 60000, &n), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_ttl(f->st, "s", &ttl), STORE_OK);
	assert_true(ttl > 0 && ttl <= 950);
	sleep_ms(1100);
	/* Expired: counts from zero again, with a new TTL. */
	assert_int_equal(store_incr(f->st, "s", 1, 60000, &n), STORE_OK);
	assert_int_equal(n, 1);

	/* A key made without a TTL gets none from incr. */
	put(f->st, "plain", "41");
	assert_int_equal(store_incr(f->st, "plain", 1, 500, &n), STORE_OK);
	assert_int_equal(n, 42);
	assert_int_equal(store_ttl(f->st, "plain", &ttl), STORE_OK);
	assert_int_equal(ttl, 0);
}

/* On every backend the durable flag changes nothing a caller can see. */
static void test_set_durable_flag_acts_like_plain_set(void **state)
{
	struct fixture *f = *state;
	uint64_t ttl = 0;
	int64_t n = 0;

	assert_int_equal(store_set(f->st, "d", "a", 1, 60000,
				   STORE_SET_DURABLE | STORE_SET_NX),
			 STORE_OK);
	assert_int_equal(store_set(f->st, "d", "b", 1, 60000,
				   STORE_SET_DURABLE | STORE_SET_NX),
			 STORE_EXISTS);
	assert_int_equal(store_set(f->st, "d", "c", 1, 60000,
				   STORE_SET_DURABLE | STORE_SET_XX),
			 STORE_OK);
	want_value(f->st, "d", "c");
	assert_int_equal(store_ttl(f->st, "d", &ttl), STORE_OK);
	assert_true(ttl > 59000 && ttl <= 60000);
	assert_int_equal(
		store_set(f->st, "d", "e", 1, 0,
			  STORE_SET_DURABLE | STORE_SET_NX | STORE_SET_XX),
		STORE_ERR_ARG);
	assert_int_equal(store_incr_durable(f->st, "c", 2, 60000, &n),
			 STORE_OK);
	assert_int_equal(store_incr_durable(f->st, "c", 3, 60000, &n),
			 STORE_OK);
	assert_int_equal(n, 5);
	assert_int_equal(store_ttl(f->st, "c", &ttl), STORE_OK);
	assert_true(ttl > 59000 && ttl <= 60000);
	assert_int_equal(store_incr_durable(NULL, "c", 1, 0, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_incr_durable(f->st, "c", 1, 0, NULL),
			 STORE_ERR_ARG);
	assert_int_equal(store_del(f->st, "d"), STORE_OK);
	want_missing(f->st, "d");
}

static void test_incr_bad_value_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"abc", "",   " 1",  "+1",
		"01",  "-0", "1.5", "99999999999999999999"};
	int64_t n = 0;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(f->st, "bad", bad[i]);
		assert_int_equal(store_incr(f->st, "bad", 1, 0, &n),
				 STORE_ERR_ARG);
		want_value(f->st, "bad", bad[i]);
	}
	put(f->st, "max", "9223372036854775807");
	assert_int_equal(store_incr(f->st, "max", 1, 0, &n), STORE_ERR_ARG);
	assert_int_equal(store_incr(f->st, "max", -1, 0, &n), STORE_OK);
	assert_int_equal(n, INT64_MAX - 1);
	put(f->st, "min", "-9223372036854775808");
	assert_int_equal(store_incr(f->st, "min", -1, 0, &n), STORE_ERR_ARG);
	assert_int_equal(store_incr(f->st, "min", 0, 0, &n), STORE_OK);
	assert_int_equal(n, INT64_MIN);
}

/* --- sets
 * ---------------------------------------------------------------------- */

struct collect {
	int calls;
	int stop_after; /* 0: never */
	bool seen[BIG_SET];
	int abc; /* bit per member "a", "b", "c" */
	store_ctx *st;
};

static int collect_abc(const char *member, void *arg)
{
	struct collect *c = arg;

	c->calls++;
	if (strlen(member) == 1 && member[0] >= 'a' && member[0] <= 'c')
		c->abc |= 1 << (member[0] - 'a');
	else
		c->abc |= 1 << 8;
	return c->stop_after != 0 && c->calls >= c->stop_after;
}

static void test_sadd_members_iterate_and_remove(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};

	assert_int_equal(store_smembers(f->st, "set", collect_abc, &c),
			 STORE_OK);
	assert_int_equal(c.calls, 0);
	assert_int_equal(store_sadd(f->st, "set", "a"), STORE_OK);
	assert_int_equal(store_sadd(f->st, "set", "b"), STORE_OK);
	assert_int_equal(store_sadd(f->st, "set", "c"), STORE_OK);
	assert_int_equal(store_sadd(f->st, "set", "a"), STORE_OK);
	assert_int_equal(store_smembers(f->st, "set", collect_abc, &c),
			 STORE_OK);
	assert_int_equal(c.calls, 3);
	assert_int_equal(c.abc, 7);

	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(store_smembers(f->st, "set", collect_abc, &c),
			 STORE_OK);
	assert_int_equal(c.calls, 1);

	assert_int_equal(store_srem(f->st, "set", "b"), STORE_OK);
	assert_int_equal(store_srem(f->st, "set", "zz"), STORE_OK);
	assert_int_equal(store_srem(f->st, "none", "zz"), STORE_OK);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_smembers(f->st, "set", collect_abc, &c),
			 STORE_OK);
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.abc, 5);

	/* An empty set does not exist. */
	assert_int_equal(store_srem(f->st, "set", "a"), STORE_OK);
	assert_int_equal(store_srem(f->st, "set", "c"), STORE_OK);
	assert_int_equal(store_set(f->st, "set", "s", 1, 0, STORE_SET_NX),
			 STORE_OK);
}

static int count_member(const char *member, void *arg)
{
	(void)member;
	(*(int *)arg)++;
	return 0;
}

static void test_sadd_ttl_set_expires_and_slides(void **state)
{
	struct fixture *f = *state;
	uint64_t ttl = 0;
	int n = 0;

	assert_int_equal(store_sadd_ttl(f->st, "vs", "a", 1000), STORE_OK);
	assert_int_equal(store_sadd_ttl(f->st, "vs", "b", 1000), STORE_OK);
	assert_int_equal(store_ttl(f->st, "vs", &ttl), STORE_OK);
	assert_true(ttl > 0 && ttl <= 1000);
	sleep_ms(600);
	/* Another add pushes the expiry out again. */
	assert_int_equal(store_sadd_ttl(f->st, "vs", "c", 1000), STORE_OK);
	sleep_ms(600);
	assert_int_equal(store_smembers(f->st, "vs", count_member, &n),
			 STORE_OK);
	assert_int_equal(n, 3);
	sleep_ms(1200);
	n = 0;
	assert_int_equal(store_smembers(f->st, "vs", count_member, &n),
			 STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(store_sadd_ttl(f->st, "vs", "a", 0), STORE_ERR_ARG);
}

static void test_sadd_wrong_type_refused(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};
	store_value v = {NULL, 0};
	int64_t n;

	put(f->st, "str", "x");
	assert_int_equal(store_sadd(f->st, "str", "m"), STORE_ERR_ARG);
	assert_int_equal(store_srem(f->st, "str", "m"), STORE_ERR_ARG);
	assert_int_equal(store_smembers(f->st, "str", collect_abc, &c),
			 STORE_ERR_ARG);
	assert_int_equal(store_sadd(f->st, "set", "m"), STORE_OK);
	assert_int_equal(store_get(f->st, "set", &v), STORE_ERR_ARG);
	assert_int_equal(store_getdel(f->st, "set", &v), STORE_ERR_ARG);
	assert_int_equal(store_incr(f->st, "set", 1, 0, &n), STORE_ERR_ARG);
	assert_int_equal(store_cas(f->st, "set", "m", 1, "n", 1, 0),
			 STORE_ERR_ARG);
	assert_null(v.data);
	/* store_del removes a whole set; store_set replaces one. */
	assert_int_equal(store_del(f->st, "set"), STORE_OK);
	assert_int_equal(store_smembers(f->st, "set", collect_abc, &c),
			 STORE_OK);
	assert_int_equal(c.calls, 0);
	assert_int_equal(store_sadd(f->st, "set2", "m"), STORE_OK);
	put(f->st, "set2", "now a string");
	want_value(f->st, "set2", "now a string");
}

static int collect_numbered(const char *member, void *arg)
{
	struct collect *c = arg;
	int64_t i = 0;
	size_t n = strlen(member);
	store_value v = {NULL, 0};

	c->calls++;
	if (n < 2 || member[0] != 'm')
		return 1;
	for (member++; *member != '\0'; member++)
		i = i * 10 + (*member - '0');
	if (i >= 0 && i < BIG_SET)
		c->seen[i] = true;
	/* The callback may use the store: no lock is held. */
	if (store_get(c->st, "side", &v) != STORE_OK)
		return 1;
	store_value_free(&v);
	return 0;
}

static void test_smembers_large_set_reports_every_member(void **state)
{
	struct fixture *f = *state;
	struct collect *c = calloc(1, sizeof(*c));
	int count = f->kind == KIND_AOF ? BIG_SET_FILE : BIG_SET;
	char m[16];
	int i;

	assert_non_null(c);
	c->st = f->st;
	put(f->st, "side", "1");
	for (i = 0; i < count; i++) {
		(void)snprintf(m, sizeof(m), "m%d", i);
		assert_int_equal(store_sadd(f->st, "big", m), STORE_OK);
	}
	assert_int_equal(store_smembers(f->st, "big", collect_numbered, c),
			 STORE_OK);
	/* SSCAN may repeat a member while a set changes; this one does not. */
	assert_int_equal(c->calls, count);
	for (i = 0; i < count; i++)
		assert_true(c->seen[i]);
	free(c);
}

/* --- job queues ----------------------------------------------------------- */

#define QUEUE_THREAD_PUSHES 50

struct qcollect {
	int calls;
	int stop_after; /* 0: never */
	char seen[8][32];
};

static int collect_entry(const char *entry, void *arg)
{
	struct qcollect *c = arg;

	if (c->calls < 8)
		(void)snprintf(c->seen[c->calls], sizeof(c->seen[0]), "%s",
			       entry);
	c->calls++;
	return c->stop_after != 0 && c->calls >= c->stop_after;
}

static void push_text(store_ctx *st, const char *queue, const char *text,
		      char *id)
{
	assert_int_equal(
		store_queue_push(st, queue, text, strlen(text), id,
				 id != NULL ? STORE_QUEUE_ID_MAX + 1 : 0),
		STORE_OK);
}

static void test_queue_push_entries_ranged_in_order(void **state)
{
	struct fixture *f = *state;
	char id1[STORE_QUEUE_ID_MAX + 1], id2[STORE_QUEUE_ID_MAX + 1];
	struct qcollect c = {0};
	size_t n = 99;

	assert_int_equal(store_queue_len(f->st, "jobs", &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(
		store_queue_range(f->st, "jobs", 10, collect_entry, &c),
		STORE_OK);
	assert_int_equal(c.calls, 0);

	push_text(f->st, "jobs", "{\"n\":1}", id1);
	push_text(f->st, "jobs", "{\"n\":2}", id2);
	push_text(f->st, "jobs", "{\"n\":3}", NULL);
	push_text(f->st, "other", "elsewhere", NULL);
	assert_true(id1[0] != '\0' && id2[0] != '\0');
	assert_string_not_equal(id1, id2);
	assert_int_equal(store_queue_len(f->st, "jobs", &n), STORE_OK);
	assert_int_equal(n, 3);

	assert_int_equal(
		store_queue_range(f->st, "jobs", 10, collect_entry, &c),
		STORE_OK);
	assert_int_equal(c.calls, 3);
	assert_string_equal(c.seen[0], "{\"n\":1}");
	assert_string_equal(c.seen[1], "{\"n\":2}");
	assert_string_equal(c.seen[2], "{\"n\":3}");

	/* At most max entries, oldest first, and nothing is consumed. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_queue_range(f->st, "jobs", 2, collect_entry, &c),
			 STORE_OK);
	assert_int_equal(c.calls, 2);
	assert_string_equal(c.seen[1], "{\"n\":2}");
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(
		store_queue_range(f->st, "jobs", 10, collect_entry, &c),
		STORE_OK);
	assert_int_equal(c.calls, 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_queue_range(f->st, "jobs", 0, collect_entry, &c),
			 STORE_OK);
	assert_int_equal(c.calls, 0);
	assert_int_equal(store_queue_len(f->st, "jobs", &n), STORE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(store_queue_len(f->st, "other", &n), STORE_OK);
	assert_int_equal(n, 1);
}

static void test_queue_push_bad_input_refused(void **state)
{
	struct fixture *f = *state;
	char id[STORE_QUEUE_ID_MAX + 1];
	char *big = calloc(1, STORE_VALUE_MAX + 2);
	size_t n = 99;

	assert_non_null(big);
	/* A NUL inside would cut the entry short for every reader. */
	assert_int_equal(store_queue_push(f->st, "q", "a\0b", 3, NULL, 0),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_push(f->st, "q", "ab", 2, id, 8),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_push(f->st, "q", NULL, 2, NULL, 0),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_push(f->st, "", "ab", 2, NULL, 0),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_push(NULL, "q", "ab", 2, NULL, 0),
			 STORE_ERR_ARG);
	memset(big, 'x', STORE_VALUE_MAX + 1);
	assert_int_equal(
		store_queue_push(f->st, "q", big, STORE_VALUE_MAX + 1, NULL, 0),
		STORE_ERR_TOO_BIG);
	assert_int_equal(store_queue_len(f->st, "q", NULL), STORE_ERR_ARG);
	assert_int_equal(store_queue_range(f->st, "q", 1, NULL, NULL),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_len(f->st, "q", &n), STORE_OK);
	assert_int_equal(n, 0);
	free(big);
}

struct qrace {
	store_ctx *st;
	int failures;
};

static void *queue_pusher(void *arg)
{
	struct qrace *q = arg;
	int i;

	for (i = 0; i < QUEUE_THREAD_PUSHES; i++) {
		if (store_queue_push(q->st, "busy", "job", 3, NULL, 0) !=
		    STORE_OK)
			q->failures++;
	}
	return NULL;
}

static void test_queue_concurrent_pushes_all_kept(void **state)
{
	struct fixture *f = *state;
	struct qrace q[NTHREADS];
	pthread_t th[NTHREADS];
	size_t n = 0;
	int i;

	for (i = 0; i < NTHREADS; i++) {
		q[i] = (struct qrace){f->st, 0};
		assert_int_equal(
			pthread_create(&th[i], NULL, queue_pusher, &q[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(q[i].failures, 0);
	}
	assert_int_equal(store_queue_len(f->st, "busy", &n), STORE_OK);
	assert_int_equal(n, (size_t)NTHREADS * QUEUE_THREAD_PUSHES);
}

static int first_entry(const char *entry, void *arg)
{
	(void)snprintf(arg, 16, "%s", entry);
	return 1;
}

static void test_queue_full_oldest_dropped(void **state)
{
	struct fixture *f = *state;
	char text[16], first[16] = "";
	size_t i, n = 0;

	for (i = 0; i <= STORE_QUEUE_MAX; i++) {
		int len = snprintf(text, sizeof(text), "%zu", i);

		assert_int_equal(store_queue_push(f->st, "full", text,
						  (size_t)len, NULL, 0),
				 STORE_OK);
	}
	assert_int_equal(store_queue_len(f->st, "full", &n), STORE_OK);
	assert_int_equal(n, STORE_QUEUE_MAX);
	assert_int_equal(
		store_queue_range(f->st, "full", 1, first_entry, first),
		STORE_OK);
	assert_string_equal(first, "1");
}

/* --- consumer groups ------------------------------------------------------ */

#define GROUP_MAX_SEEN	    8
#define GROUP_RACE_ENTRIES  200
#define GROUP_RACE_READERS  4
#define GROUP_RACE_BATCH    7
#define GROUP_RACE_DEADLINE 20000u

/* What a read or claim handed out: ids and texts, in order. */
struct gcollect {
	size_t calls;
	size_t stop_after; /* 0: never */
	char id[GROUP_MAX_SEEN][STORE_QUEUE_ID_MAX + 1];
	char text[GROUP_MAX_SEEN][32];
};

static int collect_group(const char *id, const char *entry, void *arg)
{
	struct gcollect *c = arg;

	if (c->calls < GROUP_MAX_SEEN) {
		(void)snprintf(c->id[c->calls], sizeof(c->id[0]), "%s", id);
		(void)snprintf(c->text[c->calls], sizeof(c->text[0]), "%s",
			       entry);
	}
	c->calls++;
	return c->stop_after != 0 && c->calls >= c->stop_after;
}

static size_t pending_of(store_ctx *st, const char *queue, const char *group)
{
	size_t n = 99;

	assert_int_equal(store_queue_pending(st, queue, group, &n), STORE_OK);
	return n;
}

static void read_into(store_ctx *st, const char *consumer, size_t max,
		      struct gcollect *c, size_t want)
{
	size_t n = 99;

	assert_int_equal(store_queue_read(st, "jobs", "pushd", consumer, max, 0,
					  collect_group, c, &n),
			 STORE_OK);
	assert_int_equal(n, want);
	assert_int_equal(c->calls, want);
}

/*
 * A trim takes out the entries older than its age, pending ones too, and
 * keeps the younger; a group reads on after them.
 */
static void test_queue_trim_takes_out_old_entries(void **state)
{
	struct fixture *f = *state;
	struct qcollect c = {0};
	struct gcollect g = {0};
	char id[STORE_QUEUE_ID_MAX + 1];
	size_t n = 99, removed = 99;

	assert_int_equal(store_queue_trim(f->st, "none", 0, &removed),
			 STORE_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	push_text(f->st, "jobs", "old-1", NULL);
	push_text(f->st, "jobs", "old-2", NULL);
	read_into(f->st, "w1", 1, &g, 1);
	usleep(300 * 1000);
	push_text(f->st, "jobs", "young", id);
	/* Nothing is that old yet. */
	assert_int_equal(store_queue_trim(f->st, "jobs", 60000, &removed),
			 STORE_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(store_queue_trim(f->st, "jobs", 150, &removed),
			 STORE_OK);
	assert_int_equal(removed, 2);
	assert_int_equal(store_queue_len(f->st, "jobs", &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(
		store_queue_range(f->st, "jobs", 10, collect_entry, &c),
		STORE_OK);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.seen[0], "young");
	/*
	 * The pending one went with its entry: a claim hands it to nobody
	 * (Redis forgets it there), and the group reads on.
	 */
	memset(&g, 0, sizeof(g));
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "w2", 0, 10,
					   collect_group, &g, &n),
			 STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 0);
	memset(&g, 0, sizeof(g));
	read_into(f->st, "w1", 10, &g, 1);
	assert_string_equal(g.text[0], "young");
	assert_int_equal(store_queue_trim(f->st, "jobs", 0, NULL), STORE_OK);
	assert_int_equal(store_queue_len(f->st, "jobs", &n), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(
		store_queue_trim(f->st, "jobs", STORE_TTL_MAX + 1, &removed),
		STORE_ERR_ARG);
	assert_int_equal(store_queue_trim(NULL, "jobs", 0, &removed),
			 STORE_ERR_ARG);
}

static void test_queue_read_group_entries_delivered_once_in_order(void **state)
{
	struct fixture *f = *state;
	char ids[3][STORE_QUEUE_ID_MAX + 1];
	struct gcollect c = {0};
	size_t i, len = 0;

	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	/* Making it again is fine: every daemon does so at start. */
	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 0);
	push_text(f->st, "jobs", "{\"n\":1}", ids[0]);
	push_text(f->st, "jobs", "{\"n\":2}", ids[1]);
	push_text(f->st, "jobs", "{\"n\":3}", ids[2]);

	read_into(f->st, "A", 10, &c, 3);
	for (i = 0; i < 3; i++) {
		char want[16];

		(void)snprintf(want, sizeof(want), "{\"n\":%zu}", i + 1);
		assert_string_equal(c.id[i], ids[i]);
		assert_string_equal(c.text[i], want);
	}
	/* Delivered means gone from the group's new entries... */
	memset(&c, 0, sizeof(c));
	read_into(f->st, "A", 10, &c, 0);
	memset(&c, 0, sizeof(c));
	read_into(f->st, "B", 10, &c, 0);
	/* ...but pending, and not consumed from the queue itself. */
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 3);
	assert_int_equal(store_queue_len(f->st, "jobs", &len), STORE_OK);
	assert_int_equal(len, 3);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", ids[0]),
			 STORE_OK);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", ids[2]),
			 STORE_OK);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 1);
	/* A repeated ack, or one of an unknown group, changes nothing. */
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", ids[0]),
			 STORE_OK);
	assert_int_equal(store_queue_ack(f->st, "jobs", "nobody", ids[1]),
			 STORE_OK);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 1);
}

static void test_queue_read_max_limits_batch(void **state)
{
	struct fixture *f = *state;
	struct gcollect c = {0};

	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	push_text(f->st, "jobs", "a", NULL);
	push_text(f->st, "jobs", "b", NULL);
	push_text(f->st, "jobs", "c", NULL);
	read_into(f->st, "A", 2, &c, 2);
	assert_string_equal(c.text[1], "b");
	memset(&c, 0, sizeof(c));
	read_into(f->st, "B", 2, &c, 1);
	assert_string_equal(c.text[0], "c");
}

static void test_queue_read_groups_each_get_every_entry(void **state)
{
	struct fixture *f = *state;
	struct gcollect c = {0};
	size_t n = 0;

	push_text(f->st, "jobs", "early", NULL);
	/* A group starts at the queue's beginning, not at its end. */
	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	assert_int_equal(store_queue_group_create(f->st, "jobs", "audit"),
			 STORE_OK);
	push_text(f->st, "jobs", "late", NULL);
	read_into(f->st, "A", 10, &c, 2);
	assert_string_equal(c.text[0], "early");
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_queue_read(f->st, "jobs", "audit", "A", 10, 0,
					  collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(c.text[1], "late");
	assert_int_equal(pending_of(f->st, "jobs", "audit"), 2);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 2);
}

static void test_queue_claim_idle_entries_move_to_claimer(void **state)
{
	struct fixture *f = *state;
	char ids[3][STORE_QUEUE_ID_MAX + 1];
	struct gcollect c = {0};
	size_t n = 99;

	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	push_text(f->st, "jobs", "one", ids[0]);
	push_text(f->st, "jobs", "two", ids[1]);
	push_text(f->st, "jobs", "three", ids[2]);
	read_into(f->st, "A", 10, &c, 3);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", ids[0]),
			 STORE_OK);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", ids[2]),
			 STORE_OK);

	/* Not idle long enough yet: a live consumer may still be at it. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "B", 3600000,
					   10, collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(c.calls, 0);
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "B", 200, 10,
					   collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 0);
	sleep_ms(250);
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "B", 200, 10,
					   collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(c.id[0], ids[1]);
	assert_string_equal(c.text[0], "two");
	/* Claiming restarts the idle clock: B now has it for a while. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "C", 200, 10,
					   collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 0);
	/* With no idle time required everything pending is claimed. */
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "C", 0, 10,
					   collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(c.id[0], ids[1]);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 1);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", ids[1]),
			 STORE_OK);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "C", 0, 10,
					   collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(c.calls, 0);
}

/*
 * When fn stops a read, the entries it was not given were taken all the
 * same: they are pending for that consumer, a later read does not hand
 * them out again, and a claim brings them back.
 */
static void test_queue_read_callback_stops_rest_left_pending(void **state)
{
	struct fixture *f = *state;
	char ids[3][STORE_QUEUE_ID_MAX + 1];
	struct gcollect c = {.stop_after = 1};
	size_t n = 99;

	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	push_text(f->st, "jobs", "one", ids[0]);
	push_text(f->st, "jobs", "two", ids[1]);
	push_text(f->st, "jobs", "three", ids[2]);
	read_into(f->st, "A", 10, &c, 1);
	assert_string_equal(c.id[0], ids[0]);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 3);
	memset(&c, 0, sizeof(c));
	read_into(f->st, "A", 10, &c, 0);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", ids[0]),
			 STORE_OK);

	c = (struct gcollect){.stop_after = 1};
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "B", 0, 10,
					   collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(c.id[0], ids[1]);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "B", 0, 10,
					   collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(c.id[0], ids[1]);
	assert_string_equal(c.id[1], ids[2]);
	assert_string_equal(c.text[1], "three");
}

struct group_race {
	store_ctx *st;
	const char *consumer;
	pthread_mutex_t *lock;
	int *seen;   /* GROUP_RACE_ENTRIES counters, under lock */
	int *total;  /* entries seen by all readers, under lock */
	int bad;     /* unexpected results, this reader's own */
	int entries; /* handed to this reader */
};

static int race_entry(const char *id, const char *entry, void *arg)
{
	struct group_race *r = arg;
	char *end = NULL;
	long n = strtol(entry, &end, 10);

	if (end == entry || *end != '\0' || n < 0 || n >= GROUP_RACE_ENTRIES) {
		r->bad++;
		return 1;
	}
	pthread_mutex_lock(r->lock);
	r->seen[n]++;
	(*r->total)++;
	pthread_mutex_unlock(r->lock);
	r->entries++;
	if (store_queue_ack(r->st, "race", "pushd", id) != STORE_OK)
		r->bad++;
	return 0;
}

static void *race_reader(void *arg)
{
	struct group_race *r = arg;
	uint64_t start = af_mono_ns();
	int total;

	for (;;) {
		size_t n = 0;

		pthread_mutex_lock(r->lock);
		total = *r->total;
		pthread_mutex_unlock(r->lock);
		if (total >= GROUP_RACE_ENTRIES ||
		    elapsed_ms(start) > GROUP_RACE_DEADLINE)
			break;
		if (store_queue_read(r->st, "race", "pushd", r->consumer,
				     GROUP_RACE_BATCH, 100, race_entry, r,
				     &n) != STORE_OK)
			r->bad++;
	}
	return NULL;
}

static void test_queue_read_concurrent_consumers_each_entry_once(void **state)
{
	struct fixture *f = *state;
	struct group_race r[GROUP_RACE_READERS];
	pthread_t th[GROUP_RACE_READERS];
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	int seen[GROUP_RACE_ENTRIES] = {0}, total = 0, i;
	char text[16];

	assert_int_equal(store_queue_group_create(f->st, "race", "pushd"),
			 STORE_OK);
	/* Two consumers, each read by two threads, as two daemons would. */
	for (i = 0; i < GROUP_RACE_READERS; i++) {
		r[i] = (struct group_race){
			f->st, i % 2 == 0 ? "A" : "B", &lock, seen, &total, 0,
			0};
		assert_int_equal(
			pthread_create(&th[i], NULL, race_reader, &r[i]), 0);
	}
	for (i = 0; i < GROUP_RACE_ENTRIES; i++) {
		int len = snprintf(text, sizeof(text), "%d", i);

		assert_int_equal(store_queue_push(f->st, "race", text,
						  (size_t)len, NULL, 0),
				 STORE_OK);
	}
	for (i = 0; i < GROUP_RACE_READERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(r[i].bad, 0);
	}
	for (i = 0; i < GROUP_RACE_ENTRIES; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(total, GROUP_RACE_ENTRIES);
	assert_int_equal(pending_of(f->st, "race", "pushd"), 0);
	pthread_mutex_destroy(&lock);
}

struct late_push {
	store_ctx *st;
	unsigned delay_ms;
	store_status rc;
};

static void *push_later(void *arg)
{
	struct late_push *p = arg;

	sleep_ms(p->delay_ms);
	p->rc = store_queue_push(p->st, "jobs", "late", 4, NULL, 0);
	return NULL;
}

static void test_queue_read_blocking_wakes_on_push(void **state)
{
	struct fixture *f = *state;
	struct late_push p = {f->st, 200, STORE_ERR_ARG};
	struct gcollect c = {0};
	pthread_t th;
	uint64_t start, took;
	size_t n = 0;

	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	start = af_mono_ns();
	assert_int_equal(pthread_create(&th, NULL, push_later, &p), 0);
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 10, 5000,
					  collect_group, &c, &n),
			 STORE_OK);
	took = elapsed_ms(start);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(p.rc, STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(c.text[0], "late");
	assert_true(took >= 150);
	assert_true(took < 2500);
}

static void test_queue_read_blocking_nothing_times_out(void **state)
{
	struct fixture *f = *state;
	struct gcollect c = {0};
	uint64_t start, took;
	size_t n = 99;

	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	start = af_mono_ns();
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 10, 300,
					  collect_group, &c, &n),
			 STORE_OK);
	took = elapsed_ms(start);
	assert_int_equal(n, 0);
	assert_int_equal(c.calls, 0);
	assert_true(took >= 280);
	assert_true(took < 1500);
	/*
	 * Longer than the store's 2 s command timeout: the socket must wait
	 * for the server's answer instead of calling the server dead.
	 */
	start = af_mono_ns();
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 10, 2500,
					  collect_group, &c, &n),
			 STORE_OK);
	took = elapsed_ms(start);
	assert_int_equal(n, 0);
	assert_true(took >= 2400);
	assert_true(took < 4000);
	/* And the connection still answers at the usual pace. */
	push_text(f->st, "jobs", "after", NULL);
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 10, 0,
					  collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 1);
}

static void test_queue_group_bad_input_refused(void **state)
{
	struct fixture *f = *state;
	char name[STORE_CONSUMER_MAX + 2];
	char longid[STORE_QUEUE_ID_MAX + 2];
	struct gcollect c = {0};
	const char *bad_names[] = {"",		name,	"a\nb",
				   "tab\there", "\x7f", "caf\xc3\xa9"};
	size_t i, n = 99;

	memset(name, 'g', STORE_CONSUMER_MAX + 1);
	name[STORE_CONSUMER_MAX + 1] = '\0';
	memset(longid, '1', STORE_QUEUE_ID_MAX + 1);
	longid[STORE_QUEUE_ID_MAX + 1] = '\0';
	push_text(f->st, "jobs", "job", NULL);
	/* Nothing was made for a group never created. */
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 1, 0,
					  collect_group, &c, &n),
			 STORE_NOT_FOUND);
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "A", 0, 1,
					   collect_group, &c, &n),
			 STORE_NOT_FOUND);
	assert_int_equal(store_queue_pending(f->st, "jobs", "pushd", &n),
			 STORE_NOT_FOUND);
	assert_int_equal(store_queue_pending(f->st, "nojobs", "pushd", &n),
			 STORE_NOT_FOUND);
	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);

	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		const char *b = bad_names[i];

		assert_int_equal(store_queue_group_create(f->st, "jobs", b),
				 STORE_ERR_ARG);
		assert_int_equal(store_queue_read(f->st, "jobs", b, "A", 1, 0,
						  collect_group, &c, &n),
				 STORE_ERR_ARG);
		assert_int_equal(store_queue_read(f->st, "jobs", "pushd", b, 1,
						  0, collect_group, &c, &n),
				 STORE_ERR_ARG);
		assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", b, 0,
						   1, collect_group, &c, &n),
				 STORE_ERR_ARG);
		assert_int_equal(store_queue_ack(f->st, "jobs", b, "1"),
				 STORE_ERR_ARG);
		assert_int_equal(store_queue_pending(f->st, "jobs", b, &n),
				 STORE_ERR_ARG);
	}
	/* The longest name is fine. */
	name[STORE_CONSUMER_MAX] = '\0';
	assert_int_equal(store_queue_group_create(f->st, "jobs", name),
			 STORE_OK);

	assert_int_equal(store_queue_group_create(NULL, "jobs", "pushd"),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_group_create(f->st, "", "pushd"),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_group_create(f->st, "jobs", NULL),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", NULL, 1, 0,
					  collect_group, &c, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 0, 0,
					  collect_group, &c, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 1001, 0,
					  collect_group, &c, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 1, 60001,
					  collect_group, &c, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 1, 0,
					  NULL, &c, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_read(f->st, "jobs", "pushd", "A", 1, 0,
					  collect_group, &c, NULL),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "A", 0, 0,
					   collect_group, &c, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "A", 0, 1001,
					   collect_group, &c, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "A",
					   STORE_TTL_MAX + 1, 1, collect_group,
					   &c, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "A", 0, 1,
					   NULL, &c, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", NULL),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", ""),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", longid),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", "abc"),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", "1 2"),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_pending(f->st, "jobs", "pushd", NULL),
			 STORE_ERR_ARG);
	/* None of it delivered or took anything. */
	assert_int_equal(c.calls, 0);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 0);
	read_into(f->st, "A", 1000, &c, 1);
}

/* How many consumers store_queue_prune() removes with this least idle. */
static size_t prune(store_ctx *st, uint64_t min_idle_ms)
{
	size_t n = 99;

	assert_int_equal(
		store_queue_prune(st, "jobs", "pushd", min_idle_ms, &n),
		STORE_OK);
	return n;
}

/*
 * Consumers that hold a pending entry, or read lately, stay; the others
 * go, and the group works on without them.
 */
static void test_queue_prune_idle_consumers_without_pending(void **state)
{
	struct fixture *f = *state;
	struct gcollect a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
	size_t n = 99;

	push_text(f->st, "jobs", "one", NULL);
	push_text(f->st, "jobs", "two", NULL);
	assert_int_equal(store_queue_prune(f->st, "jobs", "pushd", 0, &n),
			 STORE_NOT_FOUND);
	assert_int_equal(n, 0);
	assert_int_equal(store_queue_prune(f->st, "nojobs", "pushd", 0, NULL),
			 STORE_NOT_FOUND);
	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	assert_int_equal(prune(f->st, 0), 0);
	read_into(f->st, "A", 1, &a, 1);
	read_into(f->st, "B", 1, &b, 1);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", b.id[0]),
			 STORE_OK);
	/* Both read just now: a minute's idleness is far off. */
	assert_int_equal(prune(f->st, 60000), 0);
	/* A holds "one": only B goes, once. */
	assert_int_equal(prune(f->st, 0), 1);
	assert_int_equal(prune(f->st, 0), 0);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 1);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", a.id[0]),
			 STORE_OK);
	/*
	 * D took an entry 300 ms ago, E just now (a read that brings nothing
	 * makes no consumer in Redis 7.0, so each takes one and acks it):
	 * only A and D are 150 ms idle.
	 */
	push_text(f->st, "jobs", "d", NULL);
	push_text(f->st, "jobs", "e", NULL);
	read_into(f->st, "D", 1, &d, 1);
	sleep_ms(300);
	read_into(f->st, "E", 1, &e, 1);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", d.id[0]),
			 STORE_OK);
	assert_int_equal(store_queue_ack(f->st, "jobs", "pushd", e.id[0]),
			 STORE_OK);
	assert_int_equal(prune(f->st, 150), 2);
	assert_int_equal(prune(f->st, 0), 1);
	/* The group goes on: a new consumer gets the next entry. */
	push_text(f->st, "jobs", "three", NULL);
	read_into(f->st, "F", 1, &c, 1);
	assert_string_equal(c.text[0], "three");

	assert_int_equal(store_queue_prune(NULL, "jobs", "pushd", 0, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_prune(f->st, "jobs", "", 0, &n),
			 STORE_ERR_ARG);
	assert_int_equal(store_queue_prune(f->st, "jobs", "pushd",
					   STORE_TTL_MAX + 1, &n),
			 STORE_ERR_ARG);
}

/*
 * memory: the cap drops the oldest entry even when it is pending, and
 * takes it off the pending list, as there is nothing left to claim.
 */
static void test_queue_full_pending_oldest_forgotten(void **state)
{
	struct fixture *f = *state;
	struct gcollect c = {0};
	size_t i, n = 99;

	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	for (i = 0; i < STORE_QUEUE_MAX; i++)
		assert_int_equal(
			store_queue_push(f->st, "jobs", "x", 1, NULL, 0),
			STORE_OK);
	read_into(f->st, "A", 2, &c, 2);
	assert_string_equal(c.id[0], "1");
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 2);
	push_text(f->st, "jobs", "y", NULL);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_queue_claim(f->st, "jobs", "pushd", "B", 0, 10,
					   collect_group, &c, &n),
			 STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(c.id[0], "2");
}

/* --- append-only file ------------------------------------------------------
 */

static void test_open_existing_file_replays_state(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};
	store_value v = {NULL, 0};
	int64_t n = 0;

	put(f->st, "a", "alpha");
	put(f->st, "b", "beta");
	assert_int_equal(store_set(f->st, "t", "ttl", 3, 60000, 0), STORE_OK);
	assert_int_equal(store_incr(f->st, "n", 3, 0, &n), STORE_OK);
	assert_int_equal(store_incr(f->st, "n", 4, 0, &n), STORE_OK);
	put(f->st, "cas", "v0");
	assert_int_equal(store_cas(f->st, "cas", "v0", 2, "v1", 2, 0),
			 STORE_OK);
	put(f->st, "dropped", "mine");
	assert_int_equal(store_del_if(f->st, "dropped", "mine", 4), STORE_OK);
	put(f->st, "held", "theirs");
	assert_int_equal(store_del_if(f->st, "held", "mine", 4),
			 STORE_CONFLICT);
	put(f->st, "gone", "x");
	assert_int_equal(store_getdel(f->st, "gone", &v), STORE_OK);
	store_value_free(&v);
	assert_int_equal(store_del(f->st, "b"), STORE_OK);
	assert_int_equal(store_sadd(f->st, "set", "a"), STORE_OK);
	assert_int_equal(store_sadd(f->st, "set", "b"), STORE_OK);
	assert_int_equal(store_sadd(f->st, "set", "c"), STORE_OK);
	assert_int_equal(store_srem(f->st, "set", "b"), STORE_OK);
	assert_int_equal(store_sadd(f->st, "empty", "a"), STORE_OK);
	assert_int_equal(store_srem(f->st, "empty", "a"), STORE_OK);

	reopen(f);
	want_value(f->st, "a", "alpha");
	want_missing(f->st, "b");
	/* Keys with an expiry live in memory only. */
	want_missing(f->st, "t");
	want_value(f->st, "n", "7");
	want_value(f->st, "cas", "v1");
	want_missing(f->st, "dropped");
	want_value(f->st, "held", "theirs");
	want_missing(f->st, "gone");
	assert_int_equal(store_smembers(f->st, "set", collect_abc, &c),
			 STORE_OK);
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.abc, 5);
	assert_int_equal(store_set(f->st, "empty", "x", 1, 0, STORE_SET_NX),
			 STORE_OK);
}

static void test_open_expired_records_not_replayed(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_set(f->st, "short", "x", 1, 50, 0), STORE_OK);
	/* A later value that expired must not bring back the older one. */
	put(f->st, "over", "old");
	assert_int_equal(store_set(f->st, "over", "new", 3, 50, 0), STORE_OK);
	put(f->st, "keep", "k");
	store_close(f->st);
	f->st = NULL;
	sleep_ms(120);
	f->st = open_or_fail(&f->opts);
	want_missing(f->st, "short");
	want_missing(f->st, "over");
	want_value(f->st, "keep", "k");
}

static void test_set_with_ttl_does_not_grow_file(void **state)
{
	struct fixture *f = *state;
	store_value v = {NULL, 0};
	int64_t n = 0;
	off_t before;

	put(f->st, "p", "persistent");
	before = file_size(f->aof);
	assert_int_equal(store_set(f->st, "v", "volatile", 8, 60000, 0),
			 STORE_OK);
	assert_int_equal(store_incr(f->st, "c", 1, 60000, &n), STORE_OK);
	assert_int_equal(store_getdel(f->st, "v", &v), STORE_OK);
	store_value_free(&v);
	assert_int_equal(file_size(f->aof), before);
	/* A persistent key turned volatile is deleted from the file. */
	assert_int_equal(store_set(f->st, "p", "now volatile", 12, 60000, 0),
			 STORE_OK);
	assert_true(file_size(f->aof) > before);
	reopen(f);
	want_missing(f->st, "p");
}

/*
 * Durable keys outlive a restart with their absolute expiry; a later
 * write without the flag, a delete or a getdel takes them back out.
 */
static void test_set_durable_ttl_kept_across_reopen(void **state)
{
	struct fixture *f = *state;
	store_value v = {NULL, 0};
	uint64_t ttl = 0;
	int64_t n = 0;

	assert_int_equal(
		store_set(f->st, "lock", "1", 1, 60000, STORE_SET_DURABLE),
		STORE_OK);
	assert_int_equal(store_incr_durable(f->st, "strikes", 1, 60000, &n),
			 STORE_OK);
	assert_int_equal(store_incr_durable(f->st, "strikes", 1, 60000, &n),
			 STORE_OK);
	/* A plain incr of a volatile counter stays volatile. */
	assert_int_equal(store_incr(f->st, "volatile", 1, 60000, &n), STORE_OK);
	/* A compare-and-set keeps the key durable. */
	assert_int_equal(
		store_set(f->st, "step", "10", 2, 60000, STORE_SET_DURABLE),
		STORE_OK);
	assert_int_equal(store_cas(f->st, "step", "10", 2, "11", 2, 0),
			 STORE_OK);
	/* Written again without the flag: volatile from then on. */
	assert_int_equal(
		store_set(f->st, "undone", "1", 1, 60000, STORE_SET_DURABLE),
		STORE_OK);
	assert_int_equal(store_set(f->st, "undone", "2", 1, 60000, 0),
			 STORE_OK);
	assert_int_equal(
		store_set(f->st, "deleted", "1", 1, 60000, STORE_SET_DURABLE),
		STORE_OK);
	assert_int_equal(store_del(f->st, "deleted"), STORE_OK);
	assert_int_equal(
		store_set(f->st, "taken", "1", 1, 60000, STORE_SET_DURABLE),
		STORE_OK);
	assert_int_equal(store_getdel(f->st, "taken", &v), STORE_OK);
	store_value_free(&v);
	sleep_ms(30);
	reopen(f);
	want_value(f->st, "lock", "1");
	want_value(f->st, "strikes", "2");
	want_value(f->st, "step", "11");
	want_missing(f->st, "volatile");
	want_missing(f->st, "undone");
	want_missing(f->st, "deleted");
	want_missing(f->st, "taken");
	/* The expiry is the one first set, not a new one from the restart. */
	assert_int_equal(store_ttl(f->st, "lock", &ttl), STORE_OK);
	assert_true(ttl > 50000 && ttl <= 60000 - 30);
	assert_int_equal(store_ttl(f->st, "strikes", &ttl), STORE_OK);
	assert_true(ttl > 50000 && ttl <= 60000 - 30);
	/* Still a counter that goes on counting, and still durable. */
	assert_int_equal(store_incr_durable(f->st, "strikes", 1, 60000, &n),
			 STORE_OK);
	assert_int_equal(n, 3);
	reopen(f);
	want_value(f->st, "strikes", "3");
}

static void test_set_durable_expired_not_replayed(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
		store_set(f->st, "short", "x", 1, 50, STORE_SET_DURABLE),
		STORE_OK);
	/* An expired durable value also ends the persistent one before. */
	put(f->st, "over", "old");
	assert_int_equal(
		store_set(f->st, "over", "new", 3, 50, STORE_SET_DURABLE),
		STORE_OK);
	assert_int_equal(
		store_set(f->st, "long", "y", 1, 60000, STORE_SET_DURABLE),
		STORE_OK);
	store_close(f->st);
	f->st = NULL;
	sleep_ms(120);
	f->st = open_or_fail(&f->opts);
	want_missing(f->st, "short");
	want_missing(f->st, "over");
	want_value(f->st, "long", "y");
}

/*
 * Writes n values of len bytes (each filled with the next letter, from
 * 'a') through the one durable key "big", with v as the buffer.
 */
static void churn_big(store_ctx *st, uint8_t *v, size_t len, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		memset(v, 'a' + i % 26, len);
		assert_int_equal(store_set(st, "big", v, len, 0, 0), STORE_OK);
	}
}

/* A compacted file keeps the durable keys alive, and only those. */
static void test_set_durable_kept_by_compaction(void **state)
{
	struct fixture *f = *state;
	enum { CHUNK = 64 * 1024, WRITES = 48 };
	uint8_t *v = malloc(CHUNK);
	uint64_t ttl = 0;
	int64_t n = 0;

	assert_non_null(v);
	assert_int_equal(
		store_set(f->st, "lock", "1", 1, 60000, STORE_SET_DURABLE),
		STORE_OK);
	assert_int_equal(store_incr_durable(f->st, "strikes", 7, 60000, &n),
			 STORE_OK);
	assert_int_equal(
		store_set(f->st, "brief", "1", 1, 50, STORE_SET_DURABLE),
		STORE_OK);
	assert_int_equal(store_set(f->st, "volatile", "1", 1, 60000, 0),
			 STORE_OK);
	sleep_ms(100);
	churn_big(f->st, v, CHUNK, WRITES);
	/* 3 MiB went through the file: it was rewritten at least once. */
	assert_true(file_size(f->aof) < 1024 * 1024 + 2 * CHUNK);
	reopen(f);
	want_value(f->st, "lock", "1");
	want_value(f->st, "strikes", "7");
	want_missing(f->st, "brief");
	want_missing(f->st, "volatile");
	assert_int_equal(store_ttl(f->st, "lock", &ttl), STORE_OK);
	assert_true(ttl > 0 && ttl <= 60000 - 100);
	free(v);
}

static void test_sadd_ttl_not_persisted(void **state)
{
	struct fixture *f = *state;
	off_t before;
	int n = 0;

	before = file_size(f->aof);
	assert_int_equal(store_sadd_ttl(f->st, "idx", "s1", 60000), STORE_OK);
	assert_int_equal(store_sadd_ttl(f->st, "idx", "s2", 60000), STORE_OK);
	assert_int_equal(store_srem(f->st, "idx", "s1"), STORE_OK);
	assert_int_equal(file_size(f->aof), before);
	reopen(f);
	assert_int_equal(store_smembers(f->st, "idx", count_member, &n),
			 STORE_OK);
	assert_int_equal(n, 0);
}

static void test_queue_not_persisted(void **state)
{
	struct fixture *f = *state;
	off_t before;
	size_t n = 0;

	before = file_size(f->aof);
	push_text(f->st, "jobs", "{\"job\":1}", NULL);
	assert_int_equal(file_size(f->aof), before);
	reopen(f);
	assert_int_equal(store_queue_len(f->st, "jobs", &n), STORE_OK);
	assert_int_equal(n, 0);
}

static void test_open_torn_tail_truncated(void **state)
{
	struct fixture *f = *state;
	static const uint8_t zeros[100] = {0};
	off_t good, torn;

	put(f->st, "a", "alpha");
	good = file_size(f->aof);
	put(f->st, "b", "beta");
	store_close(f->st);
	f->st = NULL;
	/* A crash half-way through the record of "b". */
	torn = file_size(f->aof) - 3;
	assert_int_equal(truncate(f->aof, torn), 0);
	f->st = open_or_fail(&f->opts);
	want_value(f->st, "a", "alpha");
	want_missing(f->st, "b");
	assert_int_equal(file_size(f->aof), good);
	/* A crash that left the file zero-filled past its end. */
	put(f->st, "c", "gamma");
	good = file_size(f->aof);
	store_close(f->st);
	f->st = NULL;
	put_bytes(f->aof, O_WRONLY | O_APPEND, zeros, sizeof(zeros));
	f->st = open_or_fail(&f->opts);
	want_value(f->st, "c", "gamma");
	assert_int_equal(file_size(f->aof), good);
	/* Changes after the repair land after the good records. */
	put(f->st, "d", "delta");
	reopen(f);
	want_value(f->st, "a", "alpha");
	want_value(f->st, "d", "delta");
	/* Each cut kept its own side file, even within one second. */
	assert_int_equal(cut_files(f->dir, NULL, 0), 2);
}

/*
 * A crash within the first bytes of the last record's length, the rest
 * of the write zero-filled (a page or sector boundary there), is a torn
 * tail like any other: cut off, not a refusal.
 */
static void test_open_torn_in_length_field_truncated(void **state)
{
	struct fixture *f = *state;
	uint8_t zeros[200] = {0};
	off_t good;
	int keep;

	for (keep = 1; keep < 8; keep++) {
		put(f->st, "a", "alpha");
		good = file_size(f->aof);
		put(f->st, "b", "beta");
		store_close(f->st);
		f->st = NULL;
		/* keep bytes of b's header stay, the rest reads as zeros. */
		assert_int_equal(truncate(f->aof, good + keep), 0);
		put_bytes(f->aof, O_WRONLY | O_APPEND, zeros, sizeof(zeros));
		f->st = open_or_fail(&f->opts);
		want_value(f->st, "a", "alpha");
		want_missing(f->st, "b");
		assert_int_equal(file_size(f->aof), good);
	}
}

/*
 * Zeros longer than any record are no torn write: refused, the file left
 * as it is. Nor is a zeroed header with bytes after it, which could be
 * records written past damage: refused, so that nothing acknowledged is
 * cut off.
 */
static void test_open_torn_tail_bounds(void **state)
{
	struct fixture *f = *state;
	uint8_t zeros[64] = {0};
	char big[4096], err[512] = "";
	store_ctx *st = NULL;
	off_t good, size, end;
	int fd;

	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(f->st, "a", "alpha");
	good = file_size(f->aof);
	store_close(f->st);
	f->st = NULL;
	/* More than a megabyte of zeros past the end: no torn write. */
	size = good + (off_t)2 * 1024 * 1024;
	assert_int_equal(truncate(f->aof, size), 0);
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CORRUPT);
	assert_null(st);
	assert_non_null(strstr(err, "corrupt at byte offset"));
	assert_int_equal(file_size(f->aof), size);
	assert_int_equal(cut_files(f->dir, NULL, 0), 0);
	assert_int_equal(truncate(f->aof, good), 0);
	f->st = open_or_fail(&f->opts);
	put(f->st, "b", big);
	put(f->st, "c", "gamma");
	end = file_size(f->aof);
	store_close(f->st);
	f->st = NULL;
	/* b's header zeroed, c's record after it whole. */
	fd = open(f->aof, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, zeros, sizeof(zeros), good),
			 (ssize_t)sizeof(zeros));
	close(fd);
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CORRUPT);
	assert_null(st);
	assert_int_equal(file_size(f->aof), end);
	assert_int_equal(cut_files(f->dir, NULL, 0), 0);
}

static void le32_at(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * A record whose value is longer than any value the store takes is a
 * damaged file, said with its offset, not "out of memory".
 */
static void test_open_oversize_value_corrupt(void **state)
{
	struct fixture *f = *state;
	char key[80], err[512] = "", want[64];
	size_t klen, dlen = STORE_VALUE_MAX + 1, blen, n;
	store_ctx *st = NULL;
	uint8_t *rec, *b;
	off_t good;

	put(f->st, "a", "alpha");
	good = file_size(f->aof);
	store_close(f->st);
	f->st = NULL;
	klen = (size_t)snprintf(key, sizeof(key), "%sbig", f->prefix);
	blen = 1 + 8 + 4 + klen + 4 + dlen;
	n = 8 + 32 + blen;
	rec = calloc(1, n);
	assert_non_null(rec);
	le32_at(rec, (uint32_t)blen);
	le32_at(rec + 4, ~(uint32_t)blen);
	b = rec + 40;
	b[0] = 1; /* a SET, no expiry */
	le32_at(b + 9, (uint32_t)klen);
	memcpy(b + 13, key, klen);
	le32_at(b + 13 + klen, (uint32_t)dlen);
	memset(b + 17 + klen, 'v', dlen);
	af_sha256(b, blen, rec + 8);
	put_bytes(f->aof, O_WRONLY | O_APPEND, rec, n);
	free(rec);
	put_bytes(f->aof, O_WRONLY | O_APPEND, "junk after", 10);
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CORRUPT);
	assert_null(st);
	(void)snprintf(want, sizeof(want), "corrupt at byte offset %lld",
		       (long long)good);
	assert_non_null(strstr(err, want));
}

/*
 * A new key makes no record that no longer counts: a store that only
 * grows is not rewritten by the scrub; an overwritten key is.
 */
static void test_new_keys_bring_no_scrub(void **state)
{
	struct fixture *f = *state;
	const struct timespec pause = {0, 150 * 1000000L};
	struct stat before, after;

	f->opts.scrub_after_ms = 100;
	reopen(f);
	put(f->st, "a", "alpha");
	put(f->st, "b", "beta");
	assert_int_equal(stat(f->aof, &before), 0);
	nanosleep(&pause, NULL);
	assert_int_equal(store_ping(f->st), STORE_OK);
	assert_int_equal(stat(f->aof, &after), 0);
	assert_true(before.st_ino == after.st_ino);
	put(f->st, "a", "alpha again");
	nanosleep(&pause, NULL);
	assert_int_equal(store_ping(f->st), STORE_OK);
	assert_int_equal(stat(f->aof, &after), 0);
	assert_true(before.st_ino != after.st_ino);
	reopen(f);
	want_value(f->st, "a", "alpha again");
	want_value(f->st, "b", "beta");
}

/*
 * Short-lived data never goes to the file, so it does not count as live
 * data the file is held against: a store full of sign-ins in progress
 * still rewrites its file once it has doubled past its floor, and starts
 * the scrub's clock at the first stale record.
 */
static void test_short_lived_data_not_counted_for_rewrites(void **state)
{
	struct fixture *f = *state;
	enum { CHUNK = 32 * 1024, SHORT = 96, WRITES = 64 };
	const struct timespec pause = {0, 150 * 1000000L};
	uint8_t *v = malloc(CHUNK);
	char key[32];
	int i;

	assert_non_null(v);
	f->opts.scrub_after_ms = 100;
	reopen(f);
	/* 3 MiB of short-lived values and set members, in memory only. */
	memset(v, 's', CHUNK);
	for (i = 0; i < SHORT; i++) {
		(void)snprintf(key, sizeof(key), "flow:%d", i);
		assert_int_equal(store_set(f->st, key, v, CHUNK, 600000, 0),
				 STORE_OK);
		(void)snprintf(key, sizeof(key), "member-%d", i);
		assert_int_equal(store_sadd_ttl(f->st, "pending", key, 600000),
				 STORE_OK);
	}
	/* The first stale record starts the scrub's clock. */
	put(f->st, "pw", "old-secret-hash");
	put(f->st, "pw", "new-secret-hash");
	nanosleep(&pause, NULL);
	assert_int_equal(store_ping(f->st), STORE_OK);
	assert_false(file_holds(f->aof, "old-secret-hash"));
	/* 2 MiB through one durable key: rewritten near the 1 MiB floor. */
	churn_big(f->st, v, CHUNK, WRITES);
	assert_true(file_size(f->aof) < 1024 * 1024 + 2 * CHUNK);
	reopen(f);
	want_value(f->st, "pw", "new-secret-hash");
	free(v);
}

/*
 * A rewrite cut short by a crash leaves its snapshot under the temporary
 * name: the next open removes it, and says so.
 */
static void test_open_removes_leftover_rewrite(void **state)
{
	struct fixture *f = *state;
	char tmp[256];
	int fd;

	put(f->st, "a", "alpha");
	store_close(f->st);
	f->st = NULL;
	(void)snprintf(tmp, sizeof(tmp), "%s/store.aof.tmp", f->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "secret snapshot", 15), 15);
	close(fd);
	reports_clear(&f->rep);
	f->st = open_or_fail(&f->opts);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(reports_with(&f->rep, STORE_REPORT_WARNING,
				      "store.aof.tmp", "did not finish"),
			 1);
	want_value(f->st, "a", "alpha");
}

/* Reads a whole small file into buf; returns its length. */
static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0 && (size_t)n < cap);
	return (size_t)n;
}

static void test_open_flipped_last_record_cut_kept_and_reported(void **state)
{
	struct fixture *f = *state;
	uint8_t before[4096], kept[4096];
	char side[128], at[64];
	size_t n, m;
	struct stat sb;
	off_t good;
	uint8_t b;
	int fd;

	put(f->st, "a", "alpha");
	good = file_size(f->aof);
	put(f->st, "b", "beta");
	store_close(f->st);
	f->st = NULL;
	/* The last record is whole, but one bit of its body went bad. */
	fd = open(f->aof, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, good + 40 + 14), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, good + 40 + 14), 1);
	close(fd);
	n = slurp(f->aof, before, sizeof(before));
	reports_clear(&f->rep);
	f->st = open_or_fail(&f->opts);
	want_value(f->st, "a", "alpha");
	want_missing(f->st, "b");
	assert_int_equal(file_size(f->aof), good);
	/* The cut bytes are kept, exactly, in a private side file. */
	assert_int_equal(cut_files(f->dir, side, sizeof(side)), 1);
	assert_int_equal(stat(side, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	m = slurp(side, kept, sizeof(kept));
	assert_int_equal(m, n - (size_t)good);
	assert_memory_equal(kept, before + good, m);
	/* And the operator is told where, how much and where it went. */
	(void)snprintf(at, sizeof(at), "offset %lld ", (long long)good);
	assert_int_equal(
		reports_with(&f->rep, STORE_REPORT_WARNING, f->abs_aof, at), 1);
	assert_int_equal(reports_with(&f->rep, STORE_REPORT_WARNING,
				      strrchr(side, '/') + 1, NULL),
			 1);
	assert_int_equal(reports_with(&f->rep, STORE_REPORT_INFO, f->abs_aof,
				      ": 1 records replayed"),
			 1);
}

/* A tail that cannot be kept is not cut: the store refuses to start. */
static void test_open_torn_tail_not_kept_refused_file_untouched(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, lim;
	store_ctx *st = NULL;
	char err[512] = "";
	store_status rc;
	off_t torn;

	put(f->st, "a", "alpha");
	put(f->st, "b", "beta");
	store_close(f->st);
	f->st = NULL;
	torn = file_size(f->aof) - 3;
	assert_int_equal(truncate(f->aof, torn), 0);
	/* The side file may not grow past 8 bytes: writing it fails. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 8;
	(void)signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = store_open(&f->opts, &st, err, sizeof(err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	(void)signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, STORE_ERR_IO);
	assert_null(st);
	assert_non_null(strstr(err, f->abs_aof));
	assert_non_null(strstr(err, "refusing to start"));
	assert_int_equal(file_size(f->aof), torn);
	assert_int_equal(cut_files(f->dir, NULL, 0), 0);
	/* Once it can be kept, the tail is cut as usual. */
	f->st = open_or_fail(&f->opts);
	want_value(f->st, "a", "alpha");
	assert_int_equal(cut_files(f->dir, NULL, 0), 1);
}

/*
 * A state file that was there but holds less than its header (emptied,
 * or a restore gone wrong) is refused, by a start and by the check, and
 * left as it is: starting would make a new, empty server in its place.
 */
static void test_open_headless_file_refused(void **state)
{
	struct fixture *f = *state;
	static const size_t sizes[] = {0, 4};
	store_ctx *st = NULL;
	char err[4400] = "";
	size_t i;

	put(f->st, "a", "alpha");
	store_close(f->st);
	f->st = NULL;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		put_bytes(f->aof, O_WRONLY | O_TRUNC, "AFSTORE1", sizes[i]);
		assert_int_equal(store_check_state(&f->opts, err, sizeof(err)),
				 STORE_ERR_CORRUPT);
		assert_non_null(strstr(err, f->abs_aof));
		assert_non_null(strstr(err, "holds no state"));
		assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
				 STORE_ERR_CORRUPT);
		assert_null(st);
		assert_non_null(strstr(err, "remove the file to start empty"));
		assert_int_equal(file_size(f->aof), (off_t)sizes[i]);
	}
	/* Removed, it starts empty, as a first start does. */
	assert_int_equal(unlink(f->aof), 0);
	f->st = open_or_fail(&f->opts);
	assert_int_equal(file_size(f->aof), 8);
}

/*
 * Another version's format is named as such (never "start empty"), and a
 * state file that is a symbolic link is said to be one.
 */
static void test_open_other_format_and_symlink_said(void **state)
{
	struct fixture *f = *state;
	store_ctx *st = NULL;
	char err[4400] = "", moved[4200];

	store_close(f->st);
	f->st = NULL;
	put_bytes(f->aof, O_WRONLY | O_TRUNC, "AFSTORE2\x01\x02", 10);
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CORRUPT);
	assert_non_null(strstr(err, "is in format 2"));
	assert_null(strstr(err, "start empty"));
	assert_int_equal(store_check_state(&f->opts, err, sizeof(err)),
			 STORE_ERR_CORRUPT);
	assert_non_null(strstr(err, "is in format 2"));
	(void)snprintf(moved, sizeof(moved), "%s.real", f->aof);
	assert_int_equal(rename(f->aof, moved), 0);
	assert_int_equal(symlink(moved, f->aof), 0);
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_non_null(strstr(err, "is a symbolic link"));
	assert_int_equal(store_check(&f->opts, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_non_null(strstr(err, "is a symbolic link"));
	assert_int_equal(store_check_state(&f->opts, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_non_null(strstr(err, "is a symbolic link"));
	assert_int_equal(unlink(f->aof), 0);
	assert_int_equal(unlink(moved), 0);
	f->st = open_or_fail(&f->opts);
}

/* A changed store.prefix finds none of the file's keys: said at start. */
static void test_open_other_prefix_warned(void **state)
{
	struct fixture *f = *state;
	char want[256];

	put(f->st, "a", "alpha");
	reopen(f);
	assert_int_equal(reports_with(&f->rep, STORE_REPORT_WARNING,
				      "store.prefix", NULL),
			 0);
	store_close(f->st);
	f->opts.prefix = "authflow-dev:";
	f->st = open_or_fail(&f->opts);
	(void)snprintf(want, sizeof(want),
		       "none of its 1 keys is under store.prefix "
		       "\"authflow-dev:\" (they start with \"%s\", for one)",
		       f->prefix);
	assert_int_equal(
		reports_with(&f->rep, STORE_REPORT_WARNING, want, NULL), 1);
	want_missing(f->st, "a");
	f->opts.prefix = f->prefix;
}

static void test_open_reports_new_then_records_replayed(void **state)
{
	struct fixture *f = *state;
	char want[4300];

	/* The fixture's open made the file. */
	(void)snprintf(want, sizeof(want), "state file %s: new", f->abs_aof);
	assert_int_equal(reports_with(&f->rep, STORE_REPORT_INFO, want, NULL),
			 1);
	put(f->st, "a", "alpha");
	put(f->st, "b", "beta");
	reports_clear(&f->rep);
	reopen(f);
	(void)snprintf(want, sizeof(want), "state file %s: 2 records replayed",
		       f->abs_aof);
	assert_int_equal(reports_with(&f->rep, STORE_REPORT_INFO, want, NULL),
			 1);
	assert_int_equal(
		reports_with(&f->rep, STORE_REPORT_INFO, ": new", NULL), 0);
}

/* Flips one bit inside the state file's first record's body. */
static void flip_first_record_bit(const struct fixture *f)
{
	uint8_t b;
	int fd = open(f->aof, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, 8 + 40 + 14), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, 8 + 40 + 14), 1);
	close(fd);
}

static void test_open_corrupt_middle_refused(void **state)
{
	struct fixture *f = *state;
	store_ctx *st = NULL;
	char err[256] = "";

	put(f->st, "a", "alpha");
	put(f->st, "b", "beta");
	store_close(f->st);
	f->st = NULL;
	flip_first_record_bit(f);
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CORRUPT);
	assert_null(st);
	/* Which file, where in it, and what to do about it. */
	assert_non_null(strstr(err, f->abs_aof));
	assert_non_null(strstr(err, "offset 8 "));
	assert_non_null(strstr(err, "backup"));
	/* Nothing was cut or kept aside. */
	assert_int_equal(cut_files(f->dir, NULL, 0), 0);
	/* A file that is not ours at all. */
	put_bytes(f->aof, O_WRONLY | O_TRUNC, "hello world\n", 12);
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CORRUPT);
	assert_null(st);
}

/*
 * Past max_bytes the memory store refuses writes of short-lived data that
 * would grow it, as Redis past its maxmemory; data without an expiry,
 * durable writes and deletes still go, and room comes back as entries go.
 */
/* The fixture's store opened again with a cap of max_bytes. */
static void reopen_capped(struct fixture *f, uint64_t max_bytes)
{
	store_close(f->st);
	f->opts.max_bytes = max_bytes;
	f->st = open_or_fail(&f->opts);
	reports_clear(&f->rep);
}

/*
 * Writes 1000-byte values with an expiry, at prefix0, prefix1 ... with
 * flags, until the store refuses one (as full); how many it took.
 */
static int fill(store_ctx *st, const char *prefix, unsigned flags)
{
	char key[32], val[1000];
	store_status rc;
	int n;

	memset(val, 'v', sizeof(val));
	for (n = 0;; n++) {
		(void)snprintf(key, sizeof(key), "%s%d", prefix, n);
		rc = store_set(st, key, val, sizeof(val), 600000, flags);
		if (rc != STORE_OK)
			break;
		assert_true(n < 1000);
	}
	assert_int_equal(rc, STORE_ERR_UNAVAILABLE);
	return n;
}

static void test_memory_cap_refuses_short_lived_growth(void **state)
{
	struct fixture *f = *state;
	char key[32], val[1000];
	int64_t n = 0;
	int written, again;

	reopen_capped(f, (uint64_t)64 * 1024);
	memset(val, 'v', sizeof(val));
	assert_int_equal(store_sadd_ttl(f->st, "idx:y", "a", 60000), STORE_OK);
	written = fill(f->st, "flow:", 0);
	/* About 64 KiB of 1 KB values, headers and keys counted too. */
	assert_true(written >= 55 && written <= 64);
	assert_int_equal(reports_with(&f->rep, STORE_REPORT_WARNING,
				      "the store is full", "store.max_mb"),
			 1);
	/* Health says so: no sign-in can start. */
	{
		char why[160] = "";

		assert_int_equal(store_ping_why(f->st, why, sizeof(why)),
				 STORE_ERR_UNAVAILABLE);
		assert_non_null(strstr(why, "the store is full"));
	}
	/* Small ones fill what is left, then are refused as well; data
	 * without an expiry still goes. */
	for (int i = 0;; i++) {
		(void)snprintf(key, sizeof(key), "small:%d", i);
		put(f->st, "x", "y");
		if (store_incr(f->st, key, 1, 600000, &n) != STORE_OK)
			break;
		assert_true(i < 1000);
	}
	assert_int_equal(
		store_set(f->st, "flow:x", val, sizeof(val), 600000, 0),
		STORE_ERR_UNAVAILABLE);
	assert_int_equal(store_incr(f->st, "count:x", 1, 600000, &n),
			 STORE_ERR_UNAVAILABLE);
	assert_int_equal(store_sadd_ttl(f->st, "idx:x", "m", 600000),
			 STORE_ERR_UNAVAILABLE);
	/* A refused member leaves the set's expiry as it was; one already
	 * in the set grows nothing, and its expiry slides. */
	for (int i = 0;; i++) {
		(void)snprintf(key, sizeof(key), "m%d", i);
		if (store_sadd_ttl(f->st, "idx:y", key, 60000) != STORE_OK)
			break;
		assert_true(i < 1000);
	}
	{
		uint64_t ttl = 0;

		assert_int_equal(store_sadd_ttl(f->st, "idx:y", "b", 600000),
				 STORE_ERR_UNAVAILABLE);
		assert_int_equal(store_ttl(f->st, "idx:y", &ttl), STORE_OK);
		assert_true(ttl > 0 && ttl <= 60000);
		assert_int_equal(store_sadd_ttl(f->st, "idx:y", "a", 600000),
				 STORE_OK);
		assert_int_equal(store_ttl(f->st, "idx:y", &ttl), STORE_OK);
		assert_true(ttl > 60000);
	}
	/* Told once in 10 s, however many are refused. */
	assert_int_equal(reports_with(&f->rep, STORE_REPORT_WARNING,
				      "the store is full", NULL),
			 1);
	/* Admin data, durable counters and persistent sets still go. */
	put(f->st, "user:alice", "{}");
	assert_int_equal(store_set(f->st, "lock:user:x", "1", 1, 600000,
				   STORE_SET_DURABLE),
			 STORE_OK);
	assert_int_equal(
		store_incr_durable(f->st, "fail:user:x", 1, 600000, &n),
		STORE_OK);
	assert_int_equal(store_sadd(f->st, "users", "alice"), STORE_OK);
	/* Vital counters and delays go, volatile as they are. */
	assert_int_equal(store_incr_vital(f->st, "fail:ip:x", 1, 600000, &n),
			 STORE_OK);
	assert_int_equal(store_set(f->st, "wait:ip:x", "1", 1, 600000,
				   STORE_SET_VITAL | STORE_SET_NX),
			 STORE_OK);
	/* A value no bigger than the one it replaces goes too. */
	assert_int_equal(store_set(f->st, "flow:0", "small", 5, 600000, 0),
			 STORE_OK);
	/* Room comes back as entries go. */
	for (int i = 1; i < written; i++) {
		(void)snprintf(key, sizeof(key), "flow:%d", i);
		assert_int_equal(store_del(f->st, key), STORE_OK);
	}
	again = fill(f->st, "again:", 0);
	assert_true(again >= written - 3 && again <= written);
}

/*
 * A store filled to its cap with many small keys that then expire has room
 * again at once: the next write, and /healthz's ping, reap them all, not
 * only the few buckets each write sweeps.
 */
static void test_memory_cap_reaps_expired(void **state)
{
	struct fixture *f = *state;
	char key[32], why[160] = "";
	int n, again;

	reopen_capped(f, (uint64_t)64 * 1024);
	for (n = 0;; n++) {
		(void)snprintf(key, sizeof(key), "code:%d", n);
		if (store_set(f->st, key, "12345678", 8, 300, 0) != STORE_OK)
			break;
		assert_true(n < 100000);
	}
	assert_true(n > 300);
	assert_int_equal(store_ping_why(f->st, why, sizeof(why)),
			 STORE_ERR_UNAVAILABLE);
	assert_non_null(strstr(why, "the store is full"));
	usleep(400 * 1000);
	assert_int_equal(store_ping_why(f->st, why, sizeof(why)), STORE_OK);
	again = fill(f->st, "flow:", STORE_SET_NX | STORE_SET_YIELD);
	/* 90% of 64 KiB of 1 KB values, as into an empty store. */
	assert_true(again >= 50 && again <= 58);
}

/* Data that yields stops at STORE_YIELD_PCT of the cap; the rest goes on. */
static void test_memory_cap_yield_stops_first(void **state)
{
	struct fixture *f = *state;
	char key[32];
	int flows, codes, i;
	int64_t n = 0;

	reopen_capped(f, (uint64_t)100 * 1024);
	flows = fill(f->st, "flow:", STORE_SET_NX | STORE_SET_YIELD);
	/* Counters that yield stop with them, once the last bytes are gone;
	 * another counter goes on. */
	for (i = 0; i < 100; i++) {
		(void)snprintf(key, sizeof(key), "flows:ip:%d", i);
		if (store_incr_yield(f->st, key, 1, 600000, &n) != STORE_OK)
			break;
	}
	assert_true(i < 100);
	assert_int_equal(store_incr(f->st, "codes:user:x", 1, 600000, &n),
			 STORE_OK);
	codes = fill(f->st, "code:", 0);
	/* About 90 and 10 of the 1 KB values, headers and keys counted. */
	assert_true(flows >= 80 && flows <= 90);
	assert_true(codes >= 6 && codes <= 12);
}

/*
 * store_check_state() reads the file as a start would replay it, and
 * writes nothing: a torn tail passes, a damaged record with records after
 * it is refused with its offset, as store_open() refuses it.
 */
static void test_check_state_replays_read_only(void **state)
{
	struct fixture *f = *state;
	char err[4400] = "";
	struct stat before, after;

	put(f->st, "a", "alpha");
	put(f->st, "b", "beta");
	assert_int_equal(store_check_state(&f->opts, err, sizeof(err)),
			 STORE_OK);
	store_close(f->st);
	f->st = NULL;
	/* A torn tail: a start cuts it off; the check passes it. */
	put_bytes(f->aof, O_WRONLY | O_APPEND, "\x20\x00", 2);
	assert_int_equal(stat(f->aof, &before), 0);
	assert_int_equal(store_check_state(&f->opts, err, sizeof(err)),
			 STORE_OK);
	flip_first_record_bit(f);
	assert_int_equal(store_check_state(&f->opts, err, sizeof(err)),
			 STORE_ERR_CORRUPT);
	assert_non_null(strstr(err, f->abs_aof));
	assert_non_null(strstr(err, "offset 8 "));
	/* Nothing was written, cut or kept aside. */
	assert_int_equal(stat(f->aof, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(cut_files(f->dir, NULL, 0), 0);
	/* No file yet, or another backend: nothing to read. */
	assert_int_equal(unlink(f->aof), 0);
	assert_int_equal(store_check_state(&f->opts, err, sizeof(err)),
			 STORE_OK);
}

/*
 * store_open_state_copy() gives what the file holds, under the store's
 * prefix, in a store tied to no file: what is written to it is kept
 * nowhere. With no file, there is nothing to give.
 */
static void test_open_state_copy_holds_the_data(void **state)
{
	struct fixture *f = *state;
	store_ctx *copy = NULL;
	char err[4400] = "";
	struct stat before, after;

	put(f->st, "a", "alpha");
	put(f->st, "b", "beta");
	assert_int_equal(stat(f->aof, &before), 0);
	/* Beside the running store, as --check-config is. */
	assert_int_equal(
		store_open_state_copy(&f->opts, &copy, err, sizeof(err)),
		STORE_OK);
	assert_non_null(copy);
	want_value(copy, "a", "alpha");
	want_value(copy, "b", "beta");
	put(copy, "c", "gamma");
	want_value(copy, "c", "gamma");
	store_close(copy);
	copy = NULL;
	assert_int_equal(stat(f->aof, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	reopen(f);
	want_missing(f->st, "c");
	want_value(f->st, "a", "alpha");
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(unlink(f->aof), 0);
	assert_int_equal(
		store_open_state_copy(&f->opts, &copy, err, sizeof(err)),
		STORE_OK);
	assert_null(copy);
}

static void test_open_state_file_mode_0600(void **state)
{
	struct fixture *f = *state;
	store_ctx *st = NULL;
	char err[256] = "";
	struct stat sb;

	assert_int_equal(stat(f->aof, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* One file, one store: a second open would interleave records. */
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_null(st);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(chmod(f->aof, 0644), 0);
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_null(st);
	assert_non_null(strstr(err, "0600"));
	assert_int_equal(chmod(f->aof, 0600), 0);
	f->st = open_or_fail(&f->opts);
}

/* Whoever may write in the state folder may replace the file: refused. */
static void test_open_state_folder_others_may_write_refused(void **state)
{
	struct fixture *f = *state;
	store_ctx *st = NULL;
	char err[256] = "";

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(store_check(&f->opts, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_non_null(strstr(err, "writable by its owner alone"));
	assert_non_null(strstr(err, f->dir));
	err[0] = '\0';
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_null(st);
	assert_non_null(strstr(err, "writable by its owner alone"));
	/* The mode as chmod takes it: the sticky bit of /tmp's kind too. */
	assert_int_equal(chmod(f->dir, 01777), 0);
	assert_int_equal(store_check(&f->opts, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_non_null(strstr(err, "has mode 1777"));
	assert_int_equal(chmod(f->dir, 0750), 0);
	assert_int_equal(store_check(&f->opts, err, sizeof(err)), STORE_OK);
	f->st = open_or_fail(&f->opts);
}

/*
 * Compaction puts a new file in the old one's place: a second store
 * opened after that is refused all the same (the lock is the folder's).
 */
static void test_open_second_store_refused_after_compaction(void **state)
{
	struct fixture *f = *state;
	enum { CHUNK = 64 * 1024, WRITES = 40 };
	uint8_t *v = malloc(CHUNK);
	store_ctx *st = NULL;
	struct stat before, after;
	char err[256] = "";
	int fd;

	assert_non_null(v);
	/*
	 * Held open, the first file keeps its inode number, which the file
	 * system could otherwise give to a later compacted file.
	 */
	fd = open(f->aof, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &before), 0);
	churn_big(f->st, v, CHUNK, WRITES);
	assert_int_equal(stat(f->aof, &after), 0);
	assert_true(before.st_ino != after.st_ino);
	assert_int_equal(store_open(&f->opts, &st, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_null(st);
	assert_non_null(strstr(err, "in use by another store"));
	close(fd);
	free(v);
}

static void test_set_file_grows_compacted_to_live_data(void **state)
{
	struct fixture *f = *state;
	enum { CHUNK = 64 * 1024, WRITES = 48 };
	uint8_t *v = malloc(CHUNK);
	struct collect c = {0};
	char tmp[128];
	int i;

	assert_non_null(v);
	put(f->st, "small", "s");
	put(f->st, "dead", "d");
	assert_int_equal(store_sadd(f->st, "set", "a"), STORE_OK);
	for (i = 0; i < WRITES; i++) {
		memset(v, 'a' + i % 26, CHUNK);
		assert_int_equal(store_set(f->st, "big", v, CHUNK, 0, 0),
				 STORE_OK);
		if (i == WRITES / 2)
			assert_int_equal(store_del(f->st, "dead"), STORE_OK);
	}
	/* 3 MiB went through the file; it keeps at most about 1 MiB. */
	assert_true(file_size(f->aof) < 1024 * 1024 + 2 * CHUNK);
	(void)snprintf(tmp, sizeof(tmp), "%s/store.aof.tmp", f->dir);
	assert_int_equal(access(tmp, F_OK), -1);
	reopen(f);
	want_value(f->st, "small", "s");
	want_missing(f->st, "dead");
	assert_int_equal(store_smembers(f->st, "set", collect_abc, &c),
			 STORE_OK);
	assert_int_equal(c.abc, 1);
	memset(v, 'a' + (WRITES - 1) % 26, CHUNK);
	{
		store_value got = {NULL, 0};

		assert_int_equal(store_get(f->st, "big", &got), STORE_OK);
		assert_int_equal(got.len, CHUNK);
		assert_memory_equal(got.data, v, CHUNK);
		store_value_free(&got);
	}
	free(v);
}

/*
 * A record that does not fit is refused and cut back off; while a record
 * of its size still would not fit the store is not well (ping), and once
 * it would, it is again, without a change being needed to find out.
 */
static void test_set_file_write_fails_change_not_made(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, lim;
	char big[4096], why[256], efbig[128];
	store_status rc, ping;
	off_t before, during;

	memset(big, 'x', sizeof(big));
	put(f->st, "k", "old");
	before = file_size(f->aof);
	/* Let the next record only half fit: write() fails part-way. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)before + 1000;
	(void)signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = store_set(f->st, "k", big, sizeof(big), 0, 0);
	ping = store_ping_why(f->st, why, sizeof(why));
	during = file_size(f->aof);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	(void)signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, STORE_ERR_IO);
	want_value(f->st, "k", "old");
	assert_int_equal(file_size(f->aof), before);
	af_errno_text(EFBIG, efbig, sizeof(efbig));
	assert_int_equal(ping, STORE_ERR_UNAVAILABLE);
	assert_non_null(strstr(why, "cannot take changes"));
	assert_non_null(strstr(why, efbig));
	/* Testing for room left the file as it was. */
	assert_int_equal(during, before);
	/* There is room again: the store is well and goes on working. */
	assert_int_equal(store_ping(f->st), STORE_OK);
	assert_int_equal(file_size(f->aof), before);
	put(f->st, "k", "new");
	reopen(f);
	want_value(f->st, "k", "new");
}

/*
 * A value overwritten or deleted leaves the file once it has waited the
 * scrub's time, at the next ping, though the file is far from doubling;
 * what still counts stays.
 */
static void test_ping_scrubs_old_values_in_time(void **state)
{
	struct fixture *f = *state;
	const struct timespec pause = {1, 100 * 1000000L};

	f->opts.scrub_after_ms = 1000;
	reopen(f);
	put(f->st, "pw", "old-secret-hash");
	put(f->st, "pw", "new-secret-hash");
	put(f->st, "gone", "removed-secret");
	assert_int_equal(store_del(f->st, "gone"), STORE_OK);
	assert_int_equal(store_ping(f->st), STORE_OK);
	assert_true(file_holds(f->aof, "old-secret-hash"));
	assert_true(file_holds(f->aof, "removed-secret"));
	nanosleep(&pause, NULL);
	assert_int_equal(store_ping(f->st), STORE_OK);
	assert_false(file_holds(f->aof, "old-secret-hash"));
	assert_false(file_holds(f->aof, "removed-secret"));
	assert_true(file_holds(f->aof, "new-secret-hash"));
	reopen(f);
	want_value(f->st, "pw", "new-secret-hash");
	want_missing(f->st, "gone");
}

/* A change that reaches the file ends the failure of the last one. */
static void test_set_file_write_fails_then_small_change_well(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, lim;
	char big[4096];
	store_status rc, ping;

	memset(big, 'x', sizeof(big));
	put(f->st, "k", "old");
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)file_size(f->aof) + 1000;
	(void)signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = store_set(f->st, "k", big, sizeof(big), 0, 0);
	/* A small record still fits under the limit. */
	put(f->st, "s", "small");
	ping = store_ping(f->st);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	(void)signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, STORE_ERR_IO);
	assert_int_equal(ping, STORE_OK);
}

/*
 * A failed write is told once, naming the file and the error; the same
 * failure again right after is only counted, and the count is told when
 * the store closes.
 */
static void test_set_file_write_fails_reported_once(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, lim;
	char big[4096], why[128];
	store_status rc[3];
	int i;

	memset(big, 'x', sizeof(big));
	put(f->st, "k", "old");
	reports_clear(&f->rep);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)file_size(f->aof) + 1000;
	(void)signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (i = 0; i < 3; i++)
		rc[i] = store_set(f->st, "k", big, sizeof(big), 0, 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	(void)signal(SIGXFSZ, SIG_DFL);
	for (i = 0; i < 3; i++)
		assert_int_equal(rc[i], STORE_ERR_IO);
	af_errno_text(EFBIG, why, sizeof(why));
	assert_int_equal(f->rep.n, 1);
	assert_int_equal(
		reports_with(&f->rep, STORE_REPORT_ERROR, f->abs_aof, why), 1);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(f->rep.n, 2);
	assert_int_equal(reports_with(&f->rep, STORE_REPORT_ERROR, f->abs_aof,
				      "2 more times"),
			 1);
	f->st = open_or_fail(&f->opts);
	want_value(f->st, "k", "old");
}

/* --- redis only
 * ------------------------------------------------------------------ */

static void test_open_prefixes_isolate_keys(void **state)
{
	struct fixture *f = *state;
	store_options o = f->opts;
	char raw[96];
	store_ctx *other, *bare;

	o.prefix = "other-prefix:";
	other = open_or_fail(&o);
	assert_int_equal(store_del(other, "k"), STORE_OK);
	put(f->st, "k", "mine");
	want_missing(other, "k");
	put(other, "k", "theirs");
	want_value(f->st, "k", "mine");
	want_value(other, "k", "theirs");
	/* The prefix is really on the server's key. */
	o.prefix = NULL;
	bare = open_or_fail(&o);
	(void)snprintf(raw, sizeof(raw), "%sk", f->prefix);
	want_value(bare, raw, "mine");
	assert_int_equal(store_del(other, "k"), STORE_OK);
	store_close(other);
	store_close(bare);
}

/*
 * A hiredis connection to the test server as its default user (open, as
 * with-redis.sh leaves it), for setting up ACL users.
 */
static redisContext *admin_connect(void)
{
	const char *url = getenv("AF_TEST_REDIS_URL");
	const char *colon;
	char host[64];
	long port;
	redisContext *c;

	/* with-redis.sh gives redis://HOST:PORT. */
	if (url == NULL) {
		fail();
		return NULL;
	}
	assert_int_equal(strncmp(url, "redis://", 8), 0);
	colon = strrchr(url, ':');
	assert_non_null(colon);
	assert_true(colon - (url + 8) > 0 && colon - (url + 8) < 64);
	(void)snprintf(host, sizeof(host), "%.*s", (int)(colon - (url + 8)),
		       url + 8);
	port = strtol(colon + 1, NULL, 10);
	assert_true(port > 0 && port < 65536);
	c = redisConnect(host, (int)port);
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	return c;
}

/* Runs an ACL command (argv as redis-cli takes it); true on OK. */
static bool admin_ok(redisContext *c, int argc, const char **argv)
{
	redisReply *r = redisCommandArgv(c, argc, argv, NULL);
	bool ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
		  strcmp(r->str, "OK") == 0;

	freeReplyObject(r);
	return ok;
}

/* An ACL user of one test, and a url that signs in as it. */
struct acl_user {
	char name[64];
	char url[256];
};

/*
 * Makes ACL user "<what>-<the test's prefix without its ':'>" with
 * password pw, the key rule keys and all commands but cmds (may be
 * NULL), and a url for it on the test server. False when the server
 * refuses the rules.
 */
static bool acl_user_new(redisContext *c, const struct fixture *f,
			 const char *what, const char *pw, const char *keys,
			 const char *cmds, struct acl_user *u)
{
	char pass[64];
	const char *argv[] = {"ACL", "SETUSER", u->name, "reset", "on",
			      pass,  keys,	"&*",	 "+@all", cmds};
	const char *hostport = getenv("AF_TEST_REDIS_URL") + 8;

	(void)snprintf(u->name, sizeof(u->name), "%s-%s", what, f->prefix);
	u->name[strlen(u->name) - 1] = '\0'; /* the prefix's ':' */
	(void)snprintf(pass, sizeof(pass), ">%s", pw);
	assert_true(snprintf(u->url, sizeof(u->url), "redis://%s:%s@%s",
			     u->name, pw, hostport) < (int)sizeof(u->url));
	return admin_ok(c, cmds != NULL ? 10 : 9, argv);
}

/* store_ping_why() of a store opened as u, then closed. */
static store_status ping_why_as(const struct fixture *f,
				const struct acl_user *u, char *why, size_t cap)
{
	store_options o = f->opts;
	store_status ping;
	store_ctx *st;

	o.url = u->url;
	st = open_or_fail(&o);
	ping = store_ping_why(st, why, cap);
	store_close(st);
	return ping;
}

static void acl_user_free(redisContext *c, const char *name)
{
	const char *argv[] = {"ACL", "DELUSER", name};
	redisReply *r = redisCommandArgv(c, 3, argv, NULL);

	assert_non_null(r);
	freeReplyObject(r);
}

/*
 * A server that stalls mid-call (here: every client paused): the call
 * fails at the time limit, and the reason says it timed out, not the
 * bare errno of the read.
 */
static void test_stalled_call_says_it_timed_out(void **state)
{
	struct fixture *f = *state;
	store_options o = f->opts;
	char why[256] = "";
	redisContext *c;
	redisReply *r;
	store_ctx *st;

	o.timeout_ms = 200;
	st = open_or_fail(&o);
	assert_int_equal(store_ping(st), STORE_OK);
	c = admin_connect();
	r = redisCommand(c, "CLIENT PAUSE 800 ALL");
	assert_non_null(r);
	freeReplyObject(r);
	assert_int_equal(store_ping_why(st, why, sizeof(why)),
			 STORE_ERR_UNAVAILABLE);
	assert_non_null(strstr(why, "did not answer in time"));
	assert_null(strstr(why, "Resource temporarily unavailable"));
	usleep(900 * 1000);
	assert_int_equal(store_ping(st), STORE_OK);
	redisFree(c);
	store_close(st);
}

/*
 * Redis closes the store's idle connection (as a restart does): the next
 * call connects anew and succeeds, rather than fail on the dead socket,
 * however soon after the close it comes (a request right after another).
 */
static void test_connection_closed_while_idle_made_anew(void **state)
{
	struct fixture *f = *state;
	redisContext *c;
	redisReply *r;

	put(f->st, "idle", "1");
	c = admin_connect();
	r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_true(r->integer >= 1);
	freeReplyObject(r);
	redisFree(c);
	usleep(10 * 1000);
	want_value(f->st, "idle", "1");
}

/* The server's count of connections it has taken since it started. */
static long long connections_received(redisContext *c)
{
	redisReply *r = redisCommand(c, "INFO stats");
	const char *p;
	long long n = -1;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	p = strstr(r->str, "total_connections_received:");
	assert_non_null(p);
	n = strtoll(p + strlen("total_connections_received:"), NULL, 10);
	freeReplyObject(r);
	return n;
}

static void admin_run(redisContext *c, const char *cmd)
{
	redisReply *r = redisCommand(c, cmd);

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STATUS);
	freeReplyObject(r);
}

/*
 * The server becomes a replica while the store's link stands (a
 * failover): a write is refused as unavailable, and the link is dropped,
 * so that the next call connects anew (to whichever server the name
 * gives now) instead of every write failing on the old link.
 */
static void test_demoted_server_link_dropped(void **state)
{
	struct fixture *f = *state;
	char why[256] = "";
	redisContext *c;
	long long before;

	put(f->st, "demoted", "1");
	c = admin_connect();
	/* A primary that is not there: the data stays, writes are refused. */
	admin_run(c, "REPLICAOF 127.0.0.1 1");
	assert_int_equal(store_set(f->st, "demoted", "2", 1, 0, 0),
			 STORE_ERR_UNAVAILABLE);
	/* Connecting again finds the replica, and says so. */
	assert_int_equal(store_ping_why(f->st, why, sizeof(why)),
			 STORE_ERR_UNAVAILABLE);
	assert_non_null(strstr(why, "not the primary"));
	admin_run(c, "REPLICAOF NO ONE");
	/* The next connect waits out the backoff of the failed one. */
	usleep(300 * 1000);
	before = connections_received(c);
	assert_int_equal(store_set(f->st, "demoted", "3", 1, 0, 0), STORE_OK);
	assert_true(connections_received(c) > before);
	want_value(f->st, "demoted", "3");
	redisFree(c);
}

/*
 * The server lost its script cache (SCRIPT FLUSH, a restart behind a
 * proxy): a batch's compare-and-set still runs in its place, before the
 * write that follows it, as the batch is ordered.
 */
static void test_batch_after_script_flush_keeps_order(void **state)
{
	struct fixture *f = *state;
	store_op ops[2];
	redisContext *c;

	put(f->st, "flushed", "a");
	/* The store's scripts loaded before the flush. */
	assert_int_equal(store_cas(f->st, "flushed", "a", 1, "a", 1, 0),
			 STORE_OK);
	c = admin_connect();
	admin_run(c, "SCRIPT FLUSH");
	redisFree(c);
	ops[0] = batch_op(STORE_OP_CAS, "flushed");
	ops[0].expected = "a";
	ops[0].elen = 1;
	ops[0].val = "b";
	ops[0].len = 1;
	ops[1] = batch_op(STORE_OP_SET, "flushed");
	ops[1].val = "c";
	ops[1].len = 1;
	assert_int_equal(store_batch(f->st, ops, 2), STORE_OK);
	assert_int_equal(ops[0].status, STORE_OK);
	assert_int_equal(ops[1].status, STORE_OK);
	want_value(f->st, "flushed", "c");
}

static void test_open_unix_socket_works(void **state)
{
	struct fixture *f = *state;
	const char *sock = getenv("AF_TEST_REDIS_SOCKET");
	store_options o = f->opts;
	char url[160];
	store_ctx *st;

	if (sock == NULL || sock[0] == '\0') {
		skip();
		return;
	}
	(void)snprintf(url, sizeof(url), "unix:%s", sock);
	o.url = url;
	st = open_or_fail(&o);
	assert_int_equal(store_ping(st), STORE_OK);
	put(f->st, "via-tcp", "1");
	want_value(st, "via-tcp", "1");
	store_close(st);
}

/*
 * AF_TEST_REDIS_AUTH_URL names an ACL user with a password that needs
 * percent-encoding (with-redis.sh makes it): the store sends AUTH on
 * connect. With the password changed, Redis refuses it: every call fails
 * as when the server is down, and the reason says so without the secret.
 */
static void test_open_auth_url_authenticates(void **state)
{
	struct fixture *f = *state;
	const char *auth = getenv("AF_TEST_REDIS_AUTH_URL");
	store_options o = f->opts;
	store_value v = {NULL, 0};
	char url[256], why[256];
	const char *at;
	store_ctx *st;

	if (auth == NULL || auth[0] == '\0') {
		skip();
		return;
	}
	o.url = auth;
	st = open_or_fail(&o);
	assert_int_equal(store_ping_why(st, why, sizeof(why)), STORE_OK);
	assert_string_equal(why, "");
	put(f->st, "via-auth", "1");
	want_value(st, "via-auth", "1");
	put(st, "by-auth", "2");
	want_value(f->st, "by-auth", "2");
	store_close(st);

	/* The same user, a wrong password: "redis://aftest:wrong@HOST...". */
	at = strrchr(auth, '@');
	assert_non_null(at);
	assert_true(snprintf(url, sizeof(url), "redis://aftest:wrong%s", at) <
		    (int)sizeof(url));
	o.url = url;
	st = open_or_fail(&o);
	assert_int_equal(store_ping_why(st, why, sizeof(why)),
			 STORE_ERR_UNAVAILABLE);
	assert_non_null(strstr(why, "refused the user name or password"));
	assert_null(strstr(why, "wrong"));
	assert_int_equal(store_get(st, "via-auth", &v), STORE_ERR_UNAVAILABLE);
	assert_null(v.data);
	store_close(st);
}

/*
 * An ACL user without the stream commands: connecting refuses it, and
 * says which command and key, rather than answer PING and leave the
 * queue calls to fail as a broken server would.
 */
static void test_open_user_without_streams_refused(void **state)
{
	struct fixture *f = *state;
	store_options o = f->opts;
	redisContext *c = admin_connect();
	char why[256], want[96];
	struct acl_user u;
	store_status ping, push;
	store_ctx *st;

	assert_true(
		acl_user_new(c, f, "nostream", "nspass", "~*", "-@stream", &u));
	o.url = u.url;
	st = open_or_fail(&o);
	ping = store_ping_why(st, why, sizeof(why));
	push = store_queue_push(st, "push", "{}", 2, NULL, 0);
	store_close(st);
	acl_user_free(c, u.name);
	redisFree(c);
	assert_int_equal(ping, STORE_ERR_CONFIG);
	assert_non_null(strstr(why, "NOPERM"));
	(void)snprintf(want, sizeof(want), "XLEN on %sprobe", f->prefix);
	assert_non_null(strstr(why, want));
	assert_non_null(strstr(why, "stream commands"));
	assert_null(strstr(why, "nspass"));
	assert_int_not_equal(push, STORE_OK);
	assert_int_not_equal(push, STORE_ERR_PROTOCOL);
}

/* An ACL user held to other keys than the prefix: refused, naming both. */
static void test_open_user_held_to_other_keys_refused(void **state)
{
	struct fixture *f = *state;
	store_options o = f->opts;
	redisContext *c = admin_connect();
	char why[256], want[96];
	struct acl_user u;
	store_status ping;
	store_ctx *st;

	assert_true(acl_user_new(c, f, "otherkeys", "okpass", "~authflow:*",
				 NULL, &u));
	ping = ping_why_as(f, &u, why, sizeof(why));
	/* The same user with the prefix it may use connects. */
	o.url = u.url;
	o.prefix = "authflow:";
	st = open_or_fail(&o);
	assert_int_equal(store_ping(st), STORE_OK);
	store_close(st);
	acl_user_free(c, u.name);
	redisFree(c);
	assert_int_equal(ping, STORE_ERR_CONFIG);
	assert_non_null(strstr(why, "NOPERM"));
	(void)snprintf(want, sizeof(want), "EXISTS on %sprobe", f->prefix);
	assert_non_null(strstr(why, want));
	(void)snprintf(want, sizeof(want), "keys %s*", f->prefix);
	assert_non_null(strstr(why, want));
	assert_null(strstr(why, "okpass"));
}

/*
 * A user allowed to read the keys but not to write them (Redis 7):
 * refused too, naming write access.
 */
static void test_open_user_read_only_refused(void **state)
{
	struct fixture *f = *state;
	redisContext *c = admin_connect();
	char why[256];
	struct acl_user u;
	store_status ping;

	/* Read-only key rules ("%R~") came with Redis 7. */
	if (!acl_user_new(c, f, "readonly", "ropass", "%R~*", NULL, &u)) {
		redisFree(c);
		skip();
		return;
	}
	ping = ping_why_as(f, &u, why, sizeof(why));
	acl_user_free(c, u.name);
	redisFree(c);
	assert_int_equal(ping, STORE_ERR_CONFIG);
	assert_non_null(strstr(why, "NOPERM"));
	assert_non_null(strstr(why, "SET on"));
	assert_non_null(strstr(why, "write access"));
}

/* A user without one command the store sends (GETDEL): refused at once. */
static void test_open_user_without_getdel_refused(void **state)
{
	struct fixture *f = *state;
	redisContext *c = admin_connect();
	char why[256];
	struct acl_user u;
	store_status ping;

	assert_true(
		acl_user_new(c, f, "nogetdel", "gdpass", "~*", "-getdel", &u));
	ping = ping_why_as(f, &u, why, sizeof(why));
	acl_user_free(c, u.name);
	redisFree(c);
	assert_int_equal(ping, STORE_ERR_CONFIG);
	assert_non_null(strstr(why, "NOPERM"));
	assert_non_null(strstr(why, "GETDEL on"));
}

/*
 * A permission taken away after the store connected: the calls fail
 * with STORE_ERR_CONFIG, not as an unexpected reply.
 */
static void test_queue_push_permission_revoked_config(void **state)
{
	struct fixture *f = *state;
	store_options o = f->opts;
	redisContext *c = admin_connect();
	struct acl_user u;
	const char *revoke[] = {"ACL", "SETUSER", u.name, "-@stream",
				"-incrby"};
	store_status push, incr;
	store_ctx *st;
	int64_t n = 0;

	assert_true(acl_user_new(c, f, "revoked", "rvpass", "~*", NULL, &u));
	o.url = u.url;
	st = open_or_fail(&o);
	assert_int_equal(store_ping(st), STORE_OK);
	assert_true(admin_ok(c, 5, revoke));
	push = store_queue_push(st, "push", "{}", 2, NULL, 0);
	/* Refused inside a script, which words it differently. */
	incr = store_incr(st, "n", 1, 0, &n);
	store_close(st);
	acl_user_free(c, u.name);
	redisFree(c);
	assert_int_equal(push, STORE_ERR_CONFIG);
	assert_int_equal(incr, STORE_ERR_CONFIG);
}

/*
 * Redis asks for a password (the default user given one) and the url has
 * none: the reason names NOAUTH, and for a unix: url that such a url
 * cannot carry one, rather than blame the scripts.
 */
static void test_open_password_missing_noauth(void **state)
{
	struct fixture *f = *state;
	const char *sock = getenv("AF_TEST_REDIS_SOCKET");
	const char *lock[] = {"ACL", "SETUSER", "default", "resetpass",
			      ">dfpass"};
	const char *unlock[] = {"ACL", "SETUSER", "default", "nopass"};
	store_options o = f->opts;
	redisContext *c = admin_connect();
	char url[160], tcp_why[256], unix_why[256] = "";
	store_status tcp_ping, unix_ping = STORE_ERR_UNAVAILABLE;
	store_ctx *st;
	bool locked = admin_ok(c, 5, lock);

	/* Nothing is asserted before the default user is open again. */
	st = open_or_fail(&o);
	tcp_ping = store_ping_why(st, tcp_why, sizeof(tcp_why));
	store_close(st);
	if (sock != NULL && sock[0] != '\0') {
		(void)snprintf(url, sizeof(url), "unix:%s", sock);
		o.url = url;
		st = open_or_fail(&o);
		unix_ping = store_ping_why(st, unix_why, sizeof(unix_why));
		store_close(st);
	}
	assert_true(admin_ok(c, 4, unlock));
	redisFree(c);
	assert_true(locked);
	assert_int_equal(tcp_ping, STORE_ERR_CONFIG);
	assert_non_null(strstr(tcp_why, "NOAUTH"));
	assert_non_null(strstr(tcp_why, "store.url"));
	assert_null(strstr(tcp_why, "script"));
	assert_null(strstr(tcp_why, "dfpass"));
	if (sock == NULL || sock[0] == '\0')
		return;
	assert_int_equal(unix_ping, STORE_ERR_CONFIG);
	assert_non_null(strstr(unix_why, "NOAUTH"));
	assert_non_null(strstr(unix_why, "unix:"));
	assert_null(strstr(unix_why, "script"));
}

/*
 * A database Redis does not have (store.url ending /99 where it keeps
 * 16): a mistake in the url, which waiting does not mend, and the reason
 * says which database.
 */
static void test_open_database_refused_config(void **state)
{
	struct fixture *f = *state;
	store_options o = f->opts;
	char url[160], why[256];
	store_ctx *st;

	(void)snprintf(url, sizeof(url), "%s/99", f->opts.url);
	o.url = url;
	st = open_or_fail(&o);
	assert_int_equal(store_ping_why(st, why, sizeof(why)),
			 STORE_ERR_CONFIG);
	assert_non_null(strstr(why, "database 99"));
	assert_non_null(strstr(why, "store.url"));
	store_close(st);
}

static void *worker_uses_store(void *arg)
{
	store_ctx *st = arg;
	int64_t n = 0;

	/* Each thread gets and, at exit, frees its own connection. */
	if (store_incr(st, "threads", 1, 0, &n) != STORE_OK)
		return (void *)st;
	return NULL;
}

static void test_open_threads_exit_before_close_clean(void **state)
{
	struct fixture *f = *state;
	pthread_t th[4];
	void *res;
	int64_t n = 0;
	int i;

	for (i = 0; i < 4; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, worker_uses_store, f->st),
			0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &res), 0);
		assert_null(res);
	}
	assert_int_equal(store_incr(f->st, "threads", 0, 0, &n), STORE_OK);
	assert_int_equal(n, 4);
}

/* --- no server needed
 * --------------------------------------------------------- */

/* A loopback port with nothing listening (bound, then released). */
static int closed_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void test_get_closed_port_unavailable_fast(void **state)
{
	store_options o = {.backend = STORE_BACKEND_REDIS, .timeout_ms = 500};
	store_value v = {NULL, 0};
	struct collect c = {0};
	char url[64];
	store_ctx *st;
	uint64_t t0;
	int64_t n;

	(void)state;
	(void)snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0",
		       closed_port());
	o.url = url;
	st = open_or_fail(&o);
	t0 = af_mono_ns();
	assert_int_equal(store_get(st, "k", &v), STORE_ERR_UNAVAILABLE);
	assert_null(v.data);
	assert_true(elapsed_ms(t0) < 1000);
	/* During the back-off every call fails at once. */
	t0 = af_mono_ns();
	assert_int_equal(store_set(st, "k", "v", 1, 0, 0),
			 STORE_ERR_UNAVAILABLE);
	assert_int_equal(store_getdel(st, "k", &v), STORE_ERR_UNAVAILABLE);
	assert_int_equal(store_cas(st, "k", "a", 1, "b", 1, 0),
			 STORE_ERR_UNAVAILABLE);
	assert_int_equal(store_incr(st, "k", 1, 10, &n), STORE_ERR_UNAVAILABLE);
	assert_int_equal(store_sadd(st, "k", "m"), STORE_ERR_UNAVAILABLE);
	assert_int_equal(store_smembers(st, "k", collect_abc, &c),
			 STORE_ERR_UNAVAILABLE);
	assert_int_equal(store_ping(st), STORE_ERR_UNAVAILABLE);
	{
		store_op ops[2] = {batch_op(STORE_OP_GET, "k"),
				   batch_op(STORE_OP_DEL, "k")};

		/* A batch that cannot be sent: every operation says why. */
		assert_int_equal(store_batch(st, ops, 2),
				 STORE_ERR_UNAVAILABLE);
		assert_int_equal(ops[0].status, STORE_ERR_UNAVAILABLE);
		assert_int_equal(ops[1].status, STORE_ERR_UNAVAILABLE);
		assert_null(ops[0].value.data);
	}
	/* At once: well under the 500 ms a connection attempt may take. */
	assert_true(elapsed_ms(t0) < 400);
	assert_int_equal(c.calls, 0);
	/* After the back-off it tries again, and fails again, quickly. */
	sleep_ms(150);
	t0 = af_mono_ns();
	assert_int_equal(store_del(st, "k"), STORE_ERR_UNAVAILABLE);
	assert_true(elapsed_ms(t0) < 1000);
	store_close(st);
}

static void test_get_silent_server_times_out(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	store_options o = {.backend = STORE_BACKEND_REDIS, .timeout_ms = 200};
	store_value v = {NULL, 0};
	char url[64], why[256];
	store_ctx *st;
	uint64_t t0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* Accepts connections (the kernel does) but never answers. */
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	(void)snprintf(url, sizeof(url), "redis://127.0.0.1:%d",
		       ntohs(sa.sin_port));
	o.url = url;
	st = open_or_fail(&o);
	t0 = af_mono_ns();
	assert_int_equal(store_get(st, "k", &v), STORE_ERR_UNAVAILABLE);
	assert_true(elapsed_ms(t0) < 2000);
	store_close(st);
	/* The reason is the silence, not a refusal. */
	st = open_or_fail(&o);
	assert_int_equal(store_ping_why(st, why, sizeof(why)),
			 STORE_ERR_UNAVAILABLE);
	assert_non_null(strstr(why, "did not answer"));
	assert_non_null(strstr(why, "within 200 ms"));
	assert_null(strstr(why, "refused"));
	store_close(st);
	close(fd);
}

static void test_open_bad_config_refused(void **state)
{
	static const char *const bad[] = {
		"http://127.0.0.1:6379",
		"redis://",
		"redis://:6379",
		"redis://host:0",
		"redis://host:65536",
		"redis://host:12x",
		"redis://host:6379/abc",
		"redis://host:6379/1/2",
		"redis://user@host:6379",
		"redis://user:@host:6379",
		"redis://:pw%zz@host",
		"redis://:pw%00@host",
		"redis://:pw@",
		"redis://:pw@:6379",
		"redis://[::1",
		"unix:relative.sock",
		"unix:",
	};
	static const char *const good[] = {
		"redis://127.0.0.1:6379/2",    "redis://[::1]:6379",
		"redis://localhost",	       "redis://cache-1.example:7000/",
		"unix:/run/redis/redis.sock",  "redis://user:pw@host:6379",
		"redis://:p%40w@[::1]:6379/3", "redis://app:p@w:x@host",
	};
	store_options o = {.backend = STORE_BACKEND_REDIS};
	store_ctx *st = NULL;
	char err[256];
	char longp[STORE_PREFIX_MAX + 2], made[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.url = bad[i];
		err[0] = '\0';
		assert_int_equal(store_open(&o, &st, err, sizeof(err)),
				 STORE_ERR_CONFIG);
		assert_null(st);
		assert_true(strlen(err) > 0);
		/* A mistyped url may hold a password: never echo it. */
		assert_null(strstr(err, "pw@"));
		/* store_check() refuses what store_open() refuses. */
		err[0] = '\0';
		assert_int_equal(store_check(&o, err, sizeof(err)),
				 STORE_ERR_CONFIG);
		assert_true(strlen(err) > 0);
		assert_null(strstr(err, "pw@"));
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		o.url = good[i];
		assert_int_equal(store_check(&o, err, sizeof(err)), STORE_OK);
		assert_int_equal(store_open(&o, &st, err, sizeof(err)),
				 STORE_OK);
		assert_int_equal(store_get_backend(st), STORE_BACKEND_REDIS);
		store_close(st);
		st = NULL;
	}
	o.url = NULL;
	assert_int_equal(store_open(&o, &st, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	memset(longp, 'p', sizeof(longp));
	longp[sizeof(longp) - 1] = '\0';
	o = (store_options){.prefix = longp};
	assert_int_equal(store_open(&o, &st, err, sizeof(err)),
			 STORE_ERR_CONFIG);
	assert_int_equal(store_check(&o, err, sizeof(err)), STORE_ERR_CONFIG);
	o = (store_options){.state_dir = "/proc/self/status"};
	assert_int_not_equal(store_open(&o, &st, err, sizeof(err)), STORE_OK);
	assert_null(st);
	assert_int_equal(store_check(&o, err, sizeof(err)), STORE_ERR_CONFIG);
	assert_non_null(strstr(err, "/proc/self/status is not a folder"));
	o = (store_options){.state_dir = "/proc/self/status/sub"};
	assert_int_not_equal(store_check(&o, err, sizeof(err)), STORE_OK);
	assert_non_null(strstr(err, "/proc/self/status/sub"));
	o = (store_options){.state_dir = "/nonexistent-parent/sub"};
	assert_int_equal(store_check(&o, err, sizeof(err)), STORE_ERR_IO);
	assert_non_null(strstr(err, "cannot make state folder"));
	/* A file system that takes no folders, even for root. */
	o = (store_options){.state_dir = "/proc/authflow-check"};
	assert_int_equal(store_check(&o, err, sizeof(err)), STORE_ERR_IO);
	assert_non_null(strstr(err, "cannot make state folder"));
	/* A folder the check could make is not left behind. */
	(void)snprintf(made, sizeof(made), "/tmp/af-check-%ld/",
		       (long)getpid());
	o = (store_options){.state_dir = made};
	assert_int_equal(store_check(&o, err, sizeof(err)), STORE_OK);
	assert_int_equal(access(made, F_OK), -1);
	o = (store_options){.state_dir = ""};
	assert_int_equal(store_check(&o, err, sizeof(err)), STORE_ERR_CONFIG);
	o = (store_options){.state_dir = NULL};
	assert_int_equal(store_check(&o, err, sizeof(err)), STORE_OK);
	assert_int_equal(store_check(NULL, err, sizeof(err)), STORE_ERR_ARG);
	assert_int_equal(store_open(NULL, &st, NULL, 0), STORE_ERR_ARG);
	assert_int_equal(store_open(&o, NULL, NULL, 0), STORE_ERR_ARG);
}

static void test_strerror_every_status_has_text(void **state)
{
	static const store_status all[] = {
#define STORE_XX(name, value, text) STORE_##name,
		STORE_STATUS_MAP(STORE_XX)
#undef STORE_XX
	};
	store_value v = {NULL, 0};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_non_null(store_strerror(all[i]));
		assert_true(strlen(store_strerror(all[i])) > 0);
	}
	assert_non_null(store_strerror((store_status)-999));
	assert_string_equal(store_strerror(STORE_NOT_FOUND), "no such key");
	store_value_free(NULL);
	store_value_free(&v);
	store_close(NULL);
}

static void test_redis_missing_when_required_fails(void **state)
{
	(void)state;
	fail_msg("AF_TEST_REQUIRE_REDIS=1 but AF_TEST_REDIS_URL is not set; "
		 "run under tests/tools/with-redis.sh");
}

/* --- groups
 * -------------------------------------------------------------------- */

/* --- batches ------------------------------------------------------------- */

/*
 * Every kind of operation in one batch, each with its own answer, in
 * array order: a GET after a SET in the same batch sees the new value.
 */
static void test_batch_mixed_ops_each_answered_in_order(void **state)
{
	struct fixture *f = *state;
	char ids[1][STORE_QUEUE_ID_MAX + 1];
	struct gcollect c = {0};
	store_op ops[12];
	store_value v = {NULL, 0};
	uint64_t ttl = 0;
	size_t i;

	assert_int_equal(store_set(f->st, "a", "old", 3, 0, 0), STORE_OK);
	assert_int_equal(store_set(f->st, "gone", "x", 1, 0, 0), STORE_OK);
	assert_int_equal(store_queue_group_create(f->st, "jobs", "pushd"),
			 STORE_OK);
	push_text(f->st, "jobs", "one", ids[0]);
	read_into(f->st, "A", 10, &c, 1);

	ops[0] = batch_op(STORE_OP_GET, "a");
	ops[1] = batch_op(STORE_OP_SET, "a");
	ops[1].val = "new";
	ops[1].len = 3;
	ops[1].flags = STORE_SET_NX;
	ops[2] = batch_op(STORE_OP_SET, "b");
	ops[2].val = "bee";
	ops[2].len = 3;
	ops[2].ttl_ms = 60000;
	ops[2].flags = STORE_SET_NX;
	ops[3] = batch_op(STORE_OP_GET, "b");
	ops[4] = batch_op(STORE_OP_CAS, "a");
	ops[4].expected = "old";
	ops[4].elen = 3;
	ops[4].val = "cas";
	ops[4].len = 3;
	ops[5] = batch_op(STORE_OP_CAS, "a");
	ops[5].expected = "old";
	ops[5].elen = 3;
	ops[5].val = "again";
	ops[5].len = 5;
	ops[6] = batch_op(STORE_OP_CAS, "none");
	ops[6].expected = "x";
	ops[6].elen = 1;
	ops[6].val = "y";
	ops[6].len = 1;
	ops[7] = batch_op(STORE_OP_DEL, "gone");
	ops[8] = batch_op(STORE_OP_GET, "gone");
	ops[9] = batch_op(STORE_OP_ACK, "jobs");
	ops[9].group = "pushd";
	ops[9].id = ids[0];
	ops[10] = batch_op(STORE_OP_DEL_IF, "b");
	ops[10].expected = "be";
	ops[10].elen = 2;
	ops[11] = batch_op(STORE_OP_DEL_IF, "lease");
	ops[11].expected = "mine";
	ops[11].elen = 4;
	assert_int_equal(store_set(f->st, "lease", "mine", 4, 0, 0), STORE_OK);
	assert_int_equal(store_batch(f->st, ops, 12), STORE_OK);

	assert_int_equal(ops[0].status, STORE_OK);
	assert_int_equal(ops[0].value.len, 3);
	assert_memory_equal(ops[0].value.data, "old", 3);
	assert_int_equal(ops[1].status, STORE_EXISTS);
	assert_int_equal(ops[2].status, STORE_OK);
	assert_int_equal(ops[3].status, STORE_OK);
	assert_string_equal((const char *)ops[3].value.data, "bee");
	assert_int_equal(ops[4].status, STORE_OK);
	assert_int_equal(ops[5].status, STORE_CONFLICT);
	assert_int_equal(ops[6].status, STORE_NOT_FOUND);
	assert_int_equal(ops[7].status, STORE_OK);
	assert_int_equal(ops[8].status, STORE_NOT_FOUND);
	assert_null(ops[8].value.data);
	assert_int_equal(ops[9].status, STORE_OK);
	assert_int_equal(ops[10].status, STORE_CONFLICT);
	assert_int_equal(ops[11].status, STORE_OK);
	for (i = 0; i < 12; i++)
		store_value_free(&ops[i].value);
	want_missing(f->st, "lease");

	assert_int_equal(store_get(f->st, "a", &v), STORE_OK);
	assert_string_equal((const char *)v.data, "cas");
	store_value_free(&v);
	assert_int_equal(store_ttl(f->st, "b", &ttl), STORE_OK);
	assert_true(ttl > 0 && ttl <= 60000);
	assert_int_equal(pending_of(f->st, "jobs", "pushd"), 0);
}

/* A bad operation is refused on its own; the rest of the batch runs. */
static void test_batch_bad_op_refused_others_run(void **state)
{
	struct fixture *f = *state;
	char big[STORE_KEY_MAX + 2];
	store_op ops[6];
	store_value v = {NULL, 0};
	size_t i;

	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ops[0] = batch_op(STORE_OP_SET, "");
	ops[0].val = "x";
	ops[0].len = 1;
	ops[1] = batch_op(STORE_OP_SET, "ok");
	ops[1].val = "fine";
	ops[1].len = 4;
	ops[2] = batch_op(STORE_OP_GET, big);
	ops[3] = batch_op(STORE_OP_SET, "flags");
	ops[3].val = "x";
	ops[3].len = 1;
	ops[3].flags = STORE_SET_NX | STORE_SET_XX;
	ops[4] = batch_op(STORE_OP_ACK, "jobs");
	ops[4].group = "pushd";
	ops[4].id = "not an id";
	ops[5] = batch_op((store_op_kind)99, "ok");
	assert_int_equal(store_batch(f->st, ops, 6), STORE_OK);
	assert_int_equal(ops[0].status, STORE_ERR_ARG);
	assert_int_equal(ops[1].status, STORE_OK);
	assert_int_equal(ops[2].status, STORE_ERR_TOO_BIG);
	assert_int_equal(ops[3].status, STORE_ERR_ARG);
	assert_int_equal(ops[4].status, STORE_ERR_ARG);
	assert_int_equal(ops[5].status, STORE_ERR_ARG);
	for (i = 0; i < 6; i++)
		assert_null(ops[i].value.data);
	assert_int_equal(store_get(f->st, "ok", &v), STORE_OK);
	assert_string_equal((const char *)v.data, "fine");
	store_value_free(&v);
	assert_int_equal(store_get(f->st, "flags", &v), STORE_NOT_FOUND);

	assert_int_equal(store_batch(f->st, ops, 0), STORE_ERR_ARG);
	assert_int_equal(store_batch(f->st, NULL, 1), STORE_ERR_ARG);
	assert_int_equal(store_batch(NULL, ops, 1), STORE_ERR_ARG);
	assert_int_equal(store_batch(f->st, ops, STORE_BATCH_MAX + 1),
			 STORE_ERR_ARG);
}

/* Many operations at once (one round trip on redis): all answered. */
static void test_batch_many_ops_all_answered(void **state)
{
	struct fixture *f = *state;
	enum { N = 500 };
	char(*keys)[16] = calloc(N, sizeof(*keys));
	store_op *ops = calloc((size_t)2 * N, sizeof(*ops));
	size_t i;

	assert_non_null(keys);
	assert_non_null(ops);
	for (i = 0; i < N; i++) {
		(void)snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		ops[2 * i] = batch_op(STORE_OP_SET, keys[i]);
		ops[2 * i].val = keys[i];
		ops[2 * i].len = strlen(keys[i]);
		ops[2 * i].ttl_ms = 60000;
		ops[2 * i + 1] = batch_op(STORE_OP_GET, keys[i]);
	}
	assert_int_equal(store_batch(f->st, ops, (size_t)2 * N), STORE_OK);
	for (i = 0; i < N; i++) {
		assert_int_equal(ops[2 * i].status, STORE_OK);
		assert_int_equal(ops[2 * i + 1].status, STORE_OK);
		assert_string_equal((const char *)ops[2 * i + 1].value.data,
				    keys[i]);
		store_value_free(&ops[2 * i + 1].value);
	}
	free(ops);
	free(keys);
}

#define CASE(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)

#define SHARED_CASES(setup)                                                    \
	CASE(test_set_new_key_get_returns_value, setup),                       \
		CASE(test_set_nx_xx_follow_existence, setup),                  \
		CASE(test_set_ttl_elapsed_key_gone, setup),                    \
		CASE(test_getdel_present_key_returns_and_removes, setup),      \
		CASE(test_set_binary_value_roundtrips, setup),                 \
		CASE(test_set_oversized_input_refused, setup),                 \
		CASE(test_getdel_concurrent_callers_one_wins, setup),          \
		CASE(test_cas_concurrent_callers_one_wins, setup),             \
		CASE(test_incr_concurrent_callers_no_lost_update, setup),      \
		CASE(test_cas_mismatch_conflicts, setup),                      \
		CASE(test_del_if_only_the_expected_value, setup),              \
		CASE(test_secret_made_once, setup),                            \
		CASE(test_del_if_concurrent_callers_one_wins, setup),          \
		CASE(test_incr_new_key_ttl_set_once, setup),                   \
		CASE(test_incr_bad_value_refused, setup),                      \
		CASE(test_set_durable_flag_acts_like_plain_set, setup),        \
		CASE(test_sadd_members_iterate_and_remove, setup),             \
		CASE(test_sadd_wrong_type_refused, setup),                     \
		CASE(test_sadd_ttl_set_expires_and_slides, setup),             \
		CASE(test_smembers_large_set_reports_every_member, setup),     \
		CASE(test_queue_push_entries_ranged_in_order, setup),          \
		CASE(test_queue_push_bad_input_refused, setup),                \
		CASE(test_queue_concurrent_pushes_all_kept, setup),            \
		CASE(test_queue_trim_takes_out_old_entries, setup),            \
		CASE(test_queue_read_group_entries_delivered_once_in_order,    \
		     setup),                                                   \
		CASE(test_queue_read_max_limits_batch, setup),                 \
		CASE(test_queue_read_groups_each_get_every_entry, setup),      \
		CASE(test_queue_claim_idle_entries_move_to_claimer, setup),    \
		CASE(test_queue_read_callback_stops_rest_left_pending, setup), \
		CASE(test_queue_read_concurrent_consumers_each_entry_once,     \
		     setup),                                                   \
		CASE(test_queue_read_blocking_wakes_on_push, setup),           \
		CASE(test_queue_read_blocking_nothing_times_out, setup),       \
		CASE(test_queue_group_bad_input_refused, setup),               \
		CASE(test_queue_prune_idle_consumers_without_pending, setup),  \
		CASE(test_batch_mixed_ops_each_answered_in_order, setup),      \
		CASE(test_batch_bad_op_refused_others_run, setup),             \
		CASE(test_batch_many_ops_all_answered, setup)

int main(void)
{
	const struct CMUnitTest memory[] = {
		SHARED_CASES(setup_memory),
		CASE(test_queue_full_oldest_dropped, setup_memory),
		CASE(test_queue_full_pending_oldest_forgotten, setup_memory),
	};
	const struct CMUnitTest aof[] = {
		SHARED_CASES(setup_aof),
		CASE(test_open_existing_file_replays_state, setup_aof),
		CASE(test_open_expired_records_not_replayed, setup_aof),
		CASE(test_set_with_ttl_does_not_grow_file, setup_aof),
		CASE(test_sadd_ttl_not_persisted, setup_aof),
		CASE(test_set_durable_ttl_kept_across_reopen, setup_aof),
		CASE(test_set_durable_expired_not_replayed, setup_aof),
		CASE(test_set_durable_kept_by_compaction, setup_aof),
		CASE(test_queue_not_persisted, setup_aof),
		CASE(test_open_torn_tail_truncated, setup_aof),
		CASE(test_open_headless_file_refused, setup_aof),
		CASE(test_open_other_prefix_warned, setup_aof),
		CASE(test_open_other_format_and_symlink_said, setup_aof),
		CASE(test_open_torn_in_length_field_truncated, setup_aof),
		CASE(test_open_torn_tail_bounds, setup_aof),
		CASE(test_open_oversize_value_corrupt, setup_aof),
		CASE(test_new_keys_bring_no_scrub, setup_aof),
		CASE(test_open_removes_leftover_rewrite, setup_aof),
		CASE(test_short_lived_data_not_counted_for_rewrites, setup_aof),
		CASE(test_open_corrupt_middle_refused, setup_aof),
		CASE(test_check_state_replays_read_only, setup_aof),
		CASE(test_open_state_copy_holds_the_data, setup_aof),
		CASE(test_memory_cap_refuses_short_lived_growth, setup_aof),
		CASE(test_memory_cap_reaps_expired, setup_aof),
		CASE(test_memory_cap_yield_stops_first, setup_aof),
		CASE(test_open_state_file_mode_0600, setup_aof),
		CASE(test_open_state_folder_others_may_write_refused,
		     setup_aof),
		CASE(test_open_second_store_refused_after_compaction,
		     setup_aof),
		CASE(test_set_file_grows_compacted_to_live_data, setup_aof),
		CASE(test_set_file_write_fails_change_not_made, setup_aof),
		CASE(test_ping_scrubs_old_values_in_time, setup_aof),
		CASE(test_set_file_write_fails_then_small_change_well,
		     setup_aof),
		CASE(test_open_flipped_last_record_cut_kept_and_reported,
		     setup_aof),
		CASE(test_open_torn_tail_not_kept_refused_file_untouched,
		     setup_aof),
		CASE(test_open_reports_new_then_records_replayed, setup_aof),
		CASE(test_set_file_write_fails_reported_once, setup_aof),
	};
	const struct CMUnitTest offline[] = {
		cmocka_unit_test(test_get_closed_port_unavailable_fast),
		cmocka_unit_test(test_get_silent_server_times_out),
		cmocka_unit_test(test_open_bad_config_refused),
		cmocka_unit_test(test_strerror_every_status_has_text),
	};
	const struct CMUnitTest redis[] = {
		SHARED_CASES(setup_redis),
		CASE(test_open_prefixes_isolate_keys, setup_redis),
		CASE(test_connection_closed_while_idle_made_anew, setup_redis),
		CASE(test_demoted_server_link_dropped, setup_redis),
		CASE(test_batch_after_script_flush_keeps_order, setup_redis),
		CASE(test_stalled_call_says_it_timed_out, setup_redis),
		CASE(test_open_unix_socket_works, setup_redis),
		CASE(test_open_auth_url_authenticates, setup_redis),
		CASE(test_open_threads_exit_before_close_clean, setup_redis),
		CASE(test_open_user_without_streams_refused, setup_redis),
		CASE(test_open_user_held_to_other_keys_refused, setup_redis),
		CASE(test_open_user_read_only_refused, setup_redis),
		CASE(test_open_user_without_getdel_refused, setup_redis),
		CASE(test_queue_push_permission_revoked_config, setup_redis),
		CASE(test_open_password_missing_noauth, setup_redis),
		CASE(test_open_database_refused_config, setup_redis),
	};
	const struct CMUnitTest required[] = {
		cmocka_unit_test(test_redis_missing_when_required_fails),
	};
	const char *url = getenv("AF_TEST_REDIS_URL");
	const char *require = getenv("AF_TEST_REQUIRE_REDIS");
	int failed = 0;

	failed +=
		cmocka_run_group_tests_name("store_memory", memory, NULL, NULL);
	failed += cmocka_run_group_tests_name("store_memory_aof", aof, NULL,
					      NULL);
	failed += cmocka_run_group_tests_name("store_offline", offline, NULL,
					      NULL);
	if (url != NULL && url[0] != '\0')
		failed += cmocka_run_group_tests_name("store_redis", redis,
						      NULL, NULL);
	else if (require != NULL && strcmp(require, "1") == 0)
		failed += cmocka_run_group_tests_name("store_redis", required,
						      NULL, NULL);
	else
		(void)fprintf(stderr, "store_redis: skipped, "
				      "AF_TEST_REDIS_URL is not set\n");
	return failed != 0;
}
