/*
 * Unit tests of the store's health watch (authflow/http/health.h): an
 * outage is logged when it starts, with the reason and never the password
 * of store.url, at most once a minute while it lasts, and when it ends,
 * with how long it lasted; the gauge and the failure count follow.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>

#include "http/health.h"

#define S(n)	 ((uint64_t)(n)*1000000000u)
/* A start far from 0, as a monotonic clock's is. */
#define T0	 S(100000)
#define READ_MAX 65536
#define PASSWORD "hunter2-not-in-any-log"

static const char *one_route(size_t i)
{
	(void)i;
	return "unknown";
}

/* The log on a pipe whose read end does not block; metrics; a watch. */
struct fx {
	int rd, wr;
	log_ctx *log;
	af_metrics *m;
	af_store_watch w;
	store_ctx *store;
	char buf[READ_MAX + 1];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int fds[2];

	assert_non_null(f);
	assert_int_equal(pipe(fds), 0);
	f->rd = fds[0];
	f->wr = fds[1];
	assert_int_equal(fcntl(f->rd, F_SETFL, O_NONBLOCK), 0);
	f->log = log_new(f->wr, LOG_LEVEL_DEBUG);
	assert_non_null(f->log);
	f->m = af_metrics_new(one_route, 1);
	assert_non_null(f->m);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->store);
	af_metrics_free(f->m);
	log_free(f->log);
	(void)close(f->rd);
	(void)close(f->wr);
	free(f);
	return 0;
}

/* What was logged since the last call ("" for nothing). */
static const char *logged(struct fx *f)
{
	ssize_t n = read(f->rd, f->buf, READ_MAX);

	f->buf[n > 0 ? (size_t)n : 0] = '\0';
	return f->buf;
}

/* Asserts that the log got exactly one line, of level and containing msg. */
static void one_line(struct fx *f, const char *level, const char *msg)
{
	const char *text = logged(f);
	json_error_t jerr;
	json_t *o;
	const char *nl = strchr(text, '\n'), *got;

	if (nl == NULL || nl[1] != '\0') {
		print_error("want one line, got: \"%s\"\n", text);
		fail();
		return;
	}
	o = json_loads(text, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "level")),
			    level);
	assert_string_equal(json_string_value(json_object_get(o, "event")),
			    "store");
	got = json_string_value(json_object_get(o, "msg"));
	if (got == NULL || strstr(got, msg) == NULL) {
		print_error("\"%s\" lacks \"%s\"\n", got != NULL ? got : "",
			    msg);
		fail();
	}
	json_decref(o);
}

/* Asserts that the metrics have the line given. */
static void metric_line(struct fx *f, const char *line)
{
	char want[160];
	af_buf b;
	size_t len = 0;
	char *text;

	af_buf_init(&b, (size_t)1024 * 1024);
	af_metrics_render(f->m, &b);
	af_buf_append(&b, "", 1);
	text = af_buf_take(&b, &len);
	assert_non_null(text);
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(text, want) == NULL)
		print_error("no \"%s\" in:\n%s\n", line, text);
	assert_non_null(strstr(text, want));
	free(text);
}

/* Asserts that the metrics have the line "name value". */
static void metric(struct fx *f, const char *name, unsigned long v)
{
	char line[128];

	snprintf(line, sizeof(line), "%s %lu", name, v);
	metric_line(f, line);
}

static void test_step_outage_logged_start_each_minute_end(void **state)
{
	struct fx *f = *state;
	uint64_t for_s = 7;

	assert_int_equal(af_store_watch_step(&f->w, 1, T0, &for_s),
			 AF_STORE_WATCH_QUIET);
	assert_int_equal(for_s, 0);
	assert_int_equal(af_store_watch_step(&f->w, 0, T0 + S(1), &for_s),
			 AF_STORE_WATCH_DOWN);
	assert_int_equal(af_store_watch_step(&f->w, 0, T0 + S(2), &for_s),
			 AF_STORE_WATCH_QUIET);
	assert_int_equal(af_store_watch_step(&f->w, 0, T0 + S(60), &for_s),
			 AF_STORE_WATCH_QUIET);
	assert_int_equal(af_store_watch_step(&f->w, 0, T0 + S(61), &for_s),
			 AF_STORE_WATCH_STILL);
	assert_int_equal(for_s, 60);
	assert_int_equal(af_store_watch_step(&f->w, 0, T0 + S(62), &for_s),
			 AF_STORE_WATCH_QUIET);
	assert_int_equal(af_store_watch_step(&f->w, 0, T0 + S(121), &for_s),
			 AF_STORE_WATCH_STILL);
	assert_int_equal(for_s, 120);
	assert_int_equal(af_store_watch_step(&f->w, 1, T0 + S(131), &for_s),
			 AF_STORE_WATCH_UP);
	assert_int_equal(for_s, 130);
	assert_int_equal(af_store_watch_step(&f->w, 1, T0 + S(132), &for_s),
			 AF_STORE_WATCH_QUIET);
	/* The next outage is a new one, counted from its own start. */
	assert_int_equal(af_store_watch_step(&f->w, 0, T0 + S(500), &for_s),
			 AF_STORE_WATCH_DOWN);
	assert_int_equal(af_store_watch_step(&f->w, 1, T0 + S(503), &for_s),
			 AF_STORE_WATCH_UP);
	assert_int_equal(for_s, 3);
}

/*
 * The store's clock against this node's: the gauge always, a line when
 * they come more than 5 s apart (either way) and when together again.
 */
static void test_clock_note_apart_and_together(void **state)
{
	struct fx *f = *state;

	metric_line(f, "authflow_store_clock_offset_seconds 0.000");
	af_store_clock_note(&f->w, f->log, f->m, 1200);
	assert_string_equal(logged(f), "");
	metric_line(f, "authflow_store_clock_offset_seconds 1.200");
	af_store_clock_note(&f->w, f->log, f->m, -7250);
	one_line(f, "error",
		 "this node's clock is 7.250 s ahead of the "
		 "store's");
	metric_line(f, "authflow_store_clock_offset_seconds -7.250");
	af_store_clock_note(&f->w, f->log, f->m, -7300);
	assert_string_equal(logged(f), "");
	af_store_clock_note(&f->w, f->log, f->m, 300);
	one_line(f, "info", "within 5 s of the store's again");
	metric_line(f, "authflow_store_clock_offset_seconds 0.300");
	af_store_clock_note(&f->w, f->log, f->m, AF_STORE_CLOCK_WARN_MS + 1);
	one_line(f, "error", "5.001 s behind the store's");
}

static void test_note_outage_lines_and_metrics(void **state)
{
	struct fx *f = *state;
	const char *why = "cannot connect to redis: Connection refused";
	int i;

	af_store_watch_note(&f->w, f->log, f->m, 1, NULL, T0);
	assert_string_equal(logged(f), "");
	metric(f, "authflow_store_up", 1);

	af_store_watch_note(&f->w, f->log, f->m, 0, why, T0 + S(1));
	one_line(f, "error",
		 "the store does not answer: cannot connect to "
		 "redis: Connection refused");
	metric(f, "authflow_store_up", 0);
	metric(f, "authflow_store_check_failures_total", 1);
	/* A check a second: quiet for the rest of the minute. */
	for (i = 2; i <= 60; i++)
		af_store_watch_note(&f->w, f->log, f->m, 0, why, T0 + S(i));
	assert_string_equal(logged(f), "");
	af_store_watch_note(&f->w, f->log, f->m, 0, why, T0 + S(61));
	one_line(f, "error",
		 "still does not answer, for 60 s: cannot "
		 "connect");
	metric(f, "authflow_store_check_failures_total", 61);

	af_store_watch_note(&f->w, f->log, f->m, 1, NULL, T0 + S(76));
	one_line(f, "info", "answers again, after 75 s down");
	metric(f, "authflow_store_up", 1);
	metric(f, "authflow_store_check_failures_total", 61);
	af_store_watch_note(&f->w, f->log, f->m, 1, NULL, T0 + S(77));
	assert_string_equal(logged(f), "");
}

/* A loopback port nothing listens on (one just bound, then let go). */
static unsigned closed_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	(void)close(s);
	return ntohs(sa.sin_port);
}

/* A memory store of its own. */
static store_ctx *memory_store(void)
{
	store_options so;
	store_ctx *st = NULL;
	char err[256];

	memset(&so, 0, sizeof(so));
	so.backend = STORE_BACKEND_MEMORY;
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	return st;
}

/* The store holds an id as authflow writes them (22 base64url). */
static void id_is_ours(store_ctx *st)
{
	store_value v = {NULL, 0};

	assert_int_equal(store_get(st, "store_id", &v), STORE_OK);
	assert_int_equal(v.len, 22);
	store_value_free(&v);
}

/* A redis store on a port nothing listens on; userinfo: "" or "u:p@". */
static store_ctx *closed_redis(const char *userinfo)
{
	store_options so;
	store_ctx *st = NULL;
	char url[128], err[256];

	snprintf(url, sizeof(url), "redis://%s127.0.0.1:%u/0", userinfo,
		 closed_port());
	memset(&so, 0, sizeof(so));
	so.backend = STORE_BACKEND_REDIS;
	so.url = url;
	so.prefix = "t:";
	assert_int_equal(store_open(&so, &st, err, sizeof(err)), STORE_OK);
	return st;
}

static void test_tick_redis_unreachable_reason_without_password(void **state)
{
	struct fx *f = *state;
	char err[256];

	f->store = closed_redis("authflow:" PASSWORD "@");
	assert_int_equal(af_health_store(f->store, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "cannot connect"));
	af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m, T0);
	one_line(f, "error", "does not answer: ");
	assert_null(strstr(f->buf, PASSWORD));
	metric(f, "authflow_store_up", 0);
}

/*
 * What /healthz tells: the watch's last check, read without a wait; a
 * zeroed state says up, a failed check down until one succeeds, and a
 * check that has run for AF_HEALTH_HANG_MS down while it goes on.
 */
static void test_health_state_follows_checks_and_hangs(void **state)
{
	struct fx *f = *state;
	af_store_health h;
	uint64_t hang = (uint64_t)AF_HEALTH_HANG_MS * 1000000u;

	memset(&h, 0, sizeof(h));
	assert_int_equal(af_store_health_up(&h, T0), 1);
	f->store = closed_redis("");
	af_store_watch_tick(&f->w, &h, f->store, f->log, f->m, T0);
	assert_int_equal(af_store_health_up(&h, T0 + S(1)), 0);
	assert_int_equal(atomic_load(&h.began_ns), 0);
	store_close(f->store);
	f->store = memory_store();
	af_store_watch_tick(&f->w, &h, f->store, f->log, f->m, T0 + S(2));
	assert_int_equal(af_store_health_up(&h, T0 + S(3)), 1);
	/* Store work under way: up for a while, then down until it ends. */
	af_store_health_begin(&h, T0 + S(4));
	assert_int_equal(af_store_health_up(&h, T0 + S(4) + hang - 1), 1);
	assert_int_equal(af_store_health_up(&h, T0 + S(4) + hang), 0);
	af_store_health_end(&h);
	assert_int_equal(af_store_health_up(&h, T0 + S(9)), 1);
}

static void test_tick_memory_store_always_up(void **state)
{
	struct fx *f = *state;
	int i;

	f->store = memory_store();
	assert_int_equal(af_health_store(f->store, NULL, 0), 1);
	for (i = 0; i < 3; i++)
		af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m,
				    T0 + S(i));
	assert_string_equal(logged(f), "");
	metric(f, "authflow_store_up", 1);
	metric(f, "authflow_store_check_failures_total", 0);
}

/*
 * A store that lost its data: the id the first node wrote is gone, or
 * another node already wrote a new one. Told once, counted, and a new id
 * is taken so that the next loss is told too; compared every
 * AF_STORE_ID_EVERY_S, not every tick.
 */
static void test_tick_store_that_lost_its_data(void **state)
{
	struct fx *f = *state;

	f->store = memory_store();
	af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m, T0);
	assert_string_equal(logged(f), "");
	id_is_ours(f->store);
	metric(f, "authflow_store_data_lost_total", 0);
	/* Flushed: within the next look, one error line. */
	assert_int_equal(store_del(f->store, "store_id"), STORE_OK);
	af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m, T0 + S(1));
	assert_string_equal(logged(f), "");
	af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m,
			    T0 + S(AF_STORE_ID_EVERY_S));
	one_line(f, "error", "the store lost its data");
	metric(f, "authflow_store_data_lost_total", 1);
	af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m,
			    T0 + S(2 * AF_STORE_ID_EVERY_S));
	assert_string_equal(logged(f), "");
	/* Another node found it first and wrote a new id. */
	assert_int_equal(store_set(f->store, "store_id", "another-nodes-id", 16,
				   0, STORE_SET_DURABLE),
			 STORE_OK);
	af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m,
			    T0 + S(3 * AF_STORE_ID_EVERY_S));
	one_line(f, "error", "restore it from a backup");
	metric(f, "authflow_store_data_lost_total", 2);
	/* One damaged by hand: replaced, and told as a loss. */
	assert_int_equal(store_set(f->store, "store_id", "not an id!", 10, 0,
				   STORE_SET_DURABLE),
			 STORE_OK);
	af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m,
			    T0 + S(4 * AF_STORE_ID_EVERY_S));
	one_line(f, "error", "the store lost its data");
	metric(f, "authflow_store_data_lost_total", 3);
	id_is_ours(f->store);
}

/* A node that starts with a damaged id replaces it, with a warning. */
static void test_tick_damaged_store_id_replaced(void **state)
{
	struct fx *f = *state;

	f->store = memory_store();
	assert_int_equal(
		store_set(f->store, "store_id", "", 0, 0, STORE_SET_DURABLE),
		STORE_OK);
	af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m, T0);
	one_line(f, "warn", "was none of authflow's: a new one was written");
	id_is_ours(f->store);
	metric(f, "authflow_store_data_lost_total", 0);
	/* Known from now on: a later loss is told. */
	assert_int_equal(store_del(f->store, "store_id"), STORE_OK);
	af_store_watch_tick(&f->w, NULL, f->store, f->log, f->m,
			    T0 + S(AF_STORE_ID_EVERY_S));
	one_line(f, "error", "the store lost its data");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_step_outage_logged_start_each_minute_end, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_note_outage_lines_and_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_clock_note_apart_and_together, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_tick_redis_unreachable_reason_without_password,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_health_state_follows_checks_and_hangs, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_tick_store_that_lost_its_data, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_tick_damaged_store_id_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_tick_memory_store_always_up, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
