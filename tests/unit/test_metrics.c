/*
 * Unit tests of the server's metrics (authflow/http/metrics.h): each
 * request is counted under the status it was really answered with, one
 * that got no answer as "aborted", the store's health has its gauge and
 * counter, and the text stays valid Prometheus exposition.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "http/metrics.h"

#define RENDER_MAX ((size_t)1024 * 1024)

/* Routes as routes.c names them; two share a name, as "static" do. */
static const char *const names[] = {"discovery", "token",  "admin",  "device",
				    "static",	 "static", "unknown"};
#define NNAMES	(sizeof(names) / sizeof(names[0]))
#define R_DISC	0
#define R_TOKEN 1
#define R_ADMIN 2
#define R_DEV	3
#define R_ST1	4
#define R_ST2	5
#define R_UNK	6

static const char *route_name(size_t i)
{
	return i < NNAMES ? names[i] : "unknown";
}

static int setup(void **state)
{
	af_metrics *m = af_metrics_new(route_name, NNAMES);

	*state = m;
	return m != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	af_metrics_free(*state);
	return 0;
}

/* The exposition text, NUL-terminated; the caller frees it. */
static char *render(af_metrics *m)
{
	af_buf b;
	size_t len = 0;
	char *text;

	af_buf_init(&b, RENDER_MAX);
	af_metrics_render(m, &b);
	assert_false(b.failed);
	af_buf_append(&b, "", 1);
	text = af_buf_take(&b, &len);
	assert_non_null(text);
	return text;
}

/* Asserts that text has the line "series value". */
static void has_line(const char *text, const char *series, unsigned long v)
{
	char line[256];
	const char *p;
	size_t n;

	n = (size_t)snprintf(line, sizeof(line), "%s %lu\n", series, v);
	assert_true(n < sizeof(line));
	for (p = text; (p = strstr(p, line)) != NULL; p++) {
		if (p == text || p[-1] == '\n')
			return;
	}
	print_error("no line \"%s %lu\" in:\n%s\n", series, v, text);
	fail();
}

static void test_request_status_real_code_counted(void **state)
{
	af_metrics *m = *state;
	char *text;

	/* Created (admin, device enrollment), gone, and what MHD sends. */
	af_metrics_request(m, R_ADMIN, 201, 1000);
	af_metrics_request(m, R_ADMIN, 201, 1000);
	af_metrics_request(m, R_DEV, 201, 1000);
	af_metrics_request(m, R_DEV, 410, 1000);
	af_metrics_request(m, R_UNK, 414, 1000);
	af_metrics_request(m, R_UNK, 431, 1000);
	af_metrics_request(m, R_UNK, 505, 1000);
	af_metrics_request(m, R_TOKEN, 400, 1000);
	text = render(m);
	has_line(text,
		 "authflow_http_requests_total{route=\"admin\",status=\"201\"}",
		 2);
	has_line(
		text,
		"authflow_http_requests_total{route=\"device\",status=\"201\"}",
		1);
	has_line(
		text,
		"authflow_http_requests_total{route=\"device\",status=\"410\"}",
		1);
	has_line(text,
		 "authflow_http_requests_total{route=\"unknown\",status="
		 "\"414\"}",
		 1);
	has_line(text,
		 "authflow_http_requests_total{route=\"unknown\",status="
		 "\"431\"}",
		 1);
	has_line(text,
		 "authflow_http_requests_total{route=\"unknown\",status="
		 "\"505\"}",
		 1);
	has_line(text,
		 "authflow_http_requests_total{route=\"token\",status=\"400\"}",
		 1);
	assert_null(strstr(text, "status=\"other\""));
	/* Nothing was counted against a route nobody asked for. */
	assert_null(strstr(text, "route=\"discovery\""));
	free(text);
}

static void test_request_no_answer_counted_as_aborted(void **state)
{
	af_metrics *m = *state;
	char *text;

	af_metrics_request(m, R_UNK, 0, 1000);
	af_metrics_request(m, R_TOKEN, 0, 1000);
	text = render(m);
	has_line(text,
		 "authflow_http_requests_total{route=\"unknown\",status="
		 "\"aborted\"}",
		 1);
	has_line(text,
		 "authflow_http_requests_total{route=\"token\",status="
		 "\"aborted\"}",
		 1);
	assert_null(strstr(text, "status=\"0\""));
	free(text);
}

static void test_request_code_out_of_range_other(void **state)
{
	af_metrics *m = *state;
	char *text;

	af_metrics_request(m, R_UNK, 99, 1000);
	af_metrics_request(m, R_UNK, 600, 1000);
	af_metrics_request(m, R_UNK, 100, 1000);
	af_metrics_request(m, R_UNK, 599, 1000);
	text = render(m);
	has_line(text,
		 "authflow_http_requests_total{route=\"unknown\",status="
		 "\"other\"}",
		 2);
	has_line(text,
		 "authflow_http_requests_total{route=\"unknown\",status="
		 "\"100\"}",
		 1);
	has_line(text,
		 "authflow_http_requests_total{route=\"unknown\",status="
		 "\"599\"}",
		 1);
	free(text);
}

static void test_request_same_name_one_series(void **state)
{
	af_metrics *m = *state;
	char *text;
	const char *series =
		"authflow_http_requests_total{route=\"static\",status=\"200\"}";

	af_metrics_request(m, R_ST1, 200, 1000);
	af_metrics_request(m, R_ST2, 200, 1000);
	text = render(m);
	has_line(text, series, 2);
	assert_null(strstr(strstr(text, series) + 1, series));
	free(text);
}

/* Back-channel logout tokens by outcome; an outcome out of range is not. */
static void test_bcl_outcomes(void **state)
{
	af_metrics *m = *state;
	char *text;

	af_metrics_bcl(m, AF_BCL_OUT_DELIVERED);
	af_metrics_bcl(m, AF_BCL_OUT_DELIVERED);
	af_metrics_bcl(m, AF_BCL_OUT_DROPPED);
	af_metrics_bcl(m, AF_BCL_OUT_COUNT);
	text = render(m);
	has_line(text,
		 "authflow_backchannel_logouts_total{outcome=\"delivered\"}",
		 2);
	has_line(text, "authflow_backchannel_logouts_total{outcome=\"failed\"}",
		 0);
	has_line(text,
		 "authflow_backchannel_logouts_total{outcome=\"dropped\"}", 1);
	free(text);
	assert_string_equal(af_metrics_bcl_name(AF_BCL_OUT_FAILED), "failed");
	assert_string_equal(af_metrics_bcl_name(AF_BCL_OUT_COUNT), "?");
}

/* Sessions ended by why, n at a time; a reason out of range is not. */
static void test_session_ends(void **state)
{
	af_metrics *m = *state;
	char *text;

	af_metrics_session_end(m, AF_SESSION_END_IDLE, 1);
	af_metrics_session_end(m, AF_SESSION_END_TOO_MANY, 3);
	af_metrics_session_end(m, AF_SESSION_END_TOO_MANY, 0);
	af_metrics_session_end(m, AF_SESSION_END_COUNT, 1);
	text = render(m);
	has_line(text, "authflow_sessions_ended_total{reason=\"idle\"}", 1);
	has_line(text, "authflow_sessions_ended_total{reason=\"too_many\"}", 3);
	has_line(text, "authflow_sessions_ended_total{reason=\"timeout\"}", 0);
	has_line(text, "authflow_sessions_ended_total{reason=\"logout\"}", 0);
	free(text);
	assert_string_equal(
		af_metrics_session_end_name(AF_SESSION_END_REPLACED),
		"replaced");
	assert_string_equal(af_metrics_session_end_name(AF_SESSION_END_COUNT),
			    "?");
}

static void test_store_gauge_follows_checks(void **state)
{
	af_metrics *m = *state;
	char *text;

	/* The server starts only once the store has answered. */
	text = render(m);
	has_line(text, "authflow_store_up", 1);
	has_line(text, "authflow_store_check_failures_total", 0);
	free(text);
	af_metrics_store(m, 0);
	af_metrics_store(m, 0);
	text = render(m);
	has_line(text, "authflow_store_up", 0);
	has_line(text, "authflow_store_check_failures_total", 2);
	free(text);
	af_metrics_store(m, 1);
	text = render(m);
	has_line(text, "authflow_store_up", 1);
	has_line(text, "authflow_store_check_failures_total", 2);
	free(text);
}

/* The requests under way, as the server sets them before a scrape. */
static void test_in_flight_gauge_set(void **state)
{
	af_metrics *m = *state;
	char *text;

	text = render(m);
	has_line(text, "authflow_http_requests_in_flight", 0);
	free(text);
	af_metrics_in_flight(m, 9);
	text = render(m);
	has_line(text, "authflow_http_requests_in_flight", 9);
	free(text);
}

/*
 * 1 when the sample named name (n bytes) belongs to family fam of type:
 * its own name, or a histogram's with _bucket, _sum or _count after it.
 */
static int belongs(const char *name, size_t n, const char *fam,
		   const char *type)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	size_t f = strlen(fam), i;

	if (n == f && strncmp(name, fam, f) == 0)
		return 1;
	if (strcmp(type, "histogram") != 0 || n <= f ||
	    strncmp(name, fam, f) != 0)
		return 0;
	for (i = 0; i < 3; i++) {
		if (n - f == strlen(suffixes[i]) &&
		    strncmp(name + f, suffixes[i], n - f) == 0)
			return 1;
	}
	return 0;
}

static void test_render_every_family_typed_and_whole(void **state)
{
	af_metrics *m = *state;
	char *text, fam[128] = "", type[32] = "", typed[4096] = " ";
	const char *line, *eol;
	size_t used = 1;

	af_metrics_request(m, R_UNK, 431, 1000);
	af_metrics_request(m, R_TOKEN, 0, 1000);
	af_metrics_store(m, 0);
	text = render(m);
	for (line = text; *line != '\0'; line = eol + 1) {
		size_t n, len;

		eol = strchr(line, '\n');
		assert_non_null(eol); /* every line ends with a newline */
		len = (size_t)(eol - line);
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char tag[160];

			n = strcspn(line + 7, " ");
			assert_true(n < sizeof(fam));
			memcpy(fam, line + 7, n);
			fam[n] = '\0';
			snprintf(type, sizeof(type), "%.*s", (int)(len - 8 - n),
				 line + 8 + n);
			/* A family is typed once: its samples sit together. */
			snprintf(tag, sizeof(tag), " %s ", fam);
			assert_null(strstr(typed, tag));
			n = (size_t)snprintf(typed + used, sizeof(typed) - used,
					     "%s ", fam);
			assert_true(n < sizeof(typed) - used);
			used += n;
			continue;
		}
		n = strcspn(line, "{ ");
		if (!belongs(line, n, fam, type))
			print_error("sample \"%.*s\" under TYPE %s %s\n",
				    (int)len, line, fam, type);
		assert_true(belongs(line, n, fam, type));
	}
	assert_non_null(strstr(typed, " authflow_store_up "));
	assert_non_null(strstr(typed, " authflow_store_check_failures_total "));
	free(text);
}

/* The value of the line that begins with series and a space; -1 if none. */
static long long value_of(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p;

	for (p = text; (p = strstr(p, series)) != NULL; p++) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	}
	return -1;
}

struct writer {
	af_metrics *m;
	atomic_int *stop;
};

static void *write_requests(void *arg)
{
	struct writer *w = arg;
	uint64_t ns = 1000;

	while (!atomic_load(w->stop)) {
		af_metrics_request(w->m, R_TOKEN, 200, ns);
		ns = ns * 7 % 3000000000u + 1000;
	}
	return NULL;
}

/*
 * Scraped while requests are counted, the histogram's +Inf bucket and its
 * count are one and the same number, as Prometheus expects.
 */
static void test_histogram_count_is_inf_bucket_under_load(void **state)
{
	af_metrics *m = *state;
	atomic_int stop = 0;
	struct writer w = {m, &stop};
	pthread_t t[2];
	long long inf, count;
	int i, apart = 0;
	char *text;

	/* A route has its histogram from its first request on. */
	af_metrics_request(m, R_TOKEN, 200, 1000);
	for (i = 0; i < 2; i++)
		assert_int_equal(
			pthread_create(&t[i], NULL, write_requests, &w), 0);
	for (i = 0; i < 300; i++) {
		text = render(m);
		inf = value_of(text, "authflow_http_request_duration_seconds_"
				     "bucket{route=\"token\",le=\"+Inf\"}");
		count = value_of(text, "authflow_http_request_duration_seconds_"
				       "count{route=\"token\"}");
		assert_true(inf >= 0);
		if (inf != count)
			apart++;
		free(text);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(apart, 0);
}

/*
 * Latency by route: each route name its own histogram (two routes of one
 * name share it), none for a route not asked yet, the buckets cumulative
 * and the count the +Inf bucket.
 */
static void test_latency_by_route(void **state)
{
	af_metrics *m = *state;
	char *text;

	af_metrics_request(m, R_TOKEN, 200, 3000000);	 /* 3 ms */
	af_metrics_request(m, R_TOKEN, 400, 2000000000); /* 2 s */
	af_metrics_request(m, R_ST1, 200, 100000);
	af_metrics_request(m, R_ST2, 304, 100000);
	af_metrics_request(m, -1, 200, 100000); /* no route: not counted */
	text = render(m);
	assert_int_equal(value_of(text, "authflow_http_request_duration_"
					"seconds_count{route=\"token\"}"),
			 2);
	assert_int_equal(value_of(text, "authflow_http_request_duration_"
					"seconds_bucket{route=\"token\","
					"le=\"0.005\"}"),
			 1);
	assert_int_equal(value_of(text, "authflow_http_request_duration_"
					"seconds_bucket{route=\"token\","
					"le=\"+Inf\"}"),
			 2);
	assert_int_equal(value_of(text, "authflow_http_request_duration_"
					"seconds_count{route=\"static\"}"),
			 2);
	assert_null(strstr(text, "seconds_count{route=\"admin\"}"));
	assert_null(strstr(text, "authflow_http_request_duration_seconds_"
				 "count "));
	free(text);
}

/* Token requests by grant and outcome; the OAuth error names the outcome. */
static void test_token_outcomes(void **state)
{
	af_metrics *m = *state;
	char *text;

	assert_int_equal(af_token_outcome_of(200, NULL), AF_TOKEN_ISSUED);
	assert_int_equal(af_token_outcome_of(401, "invalid_client"),
			 AF_TOKEN_INVALID_CLIENT);
	assert_int_equal(af_token_outcome_of(400, "invalid_grant"),
			 AF_TOKEN_INVALID_GRANT);
	assert_int_equal(af_token_outcome_of(400, "invalid_scope"),
			 AF_TOKEN_INVALID_SCOPE);
	assert_int_equal(af_token_outcome_of(400, "unauthorized_client"),
			 AF_TOKEN_UNAUTHORIZED_CLIENT);
	assert_int_equal(af_token_outcome_of(400, "unsupported_grant_type"),
			 AF_TOKEN_UNSUPPORTED_GRANT_TYPE);
	assert_int_equal(af_token_outcome_of(503, "temporarily_unavailable"),
			 AF_TOKEN_UNAVAILABLE);
	/* A wait after failed client authentications is not a store down. */
	assert_int_equal(af_token_outcome_of(429, "temporarily_unavailable"),
			 AF_TOKEN_THROTTLED);
	/* Only the endpoint says a reuse; an unknown code is malformed. */
	assert_int_equal(af_token_outcome_of(400, "reused"),
			 AF_TOKEN_INVALID_REQUEST);
	assert_int_equal(af_token_outcome_of(400, "throttled"),
			 AF_TOKEN_INVALID_REQUEST);
	assert_int_equal(af_token_outcome_of(400, "issued"),
			 AF_TOKEN_INVALID_REQUEST);
	assert_int_equal(af_token_outcome_of(500, NULL),
			 AF_TOKEN_INVALID_REQUEST);

	af_metrics_token(m, AF_TOKEN_GRANT_CODE, AF_TOKEN_ISSUED);
	af_metrics_token(m, AF_TOKEN_GRANT_CODE, AF_TOKEN_ISSUED);
	af_metrics_token(m, AF_TOKEN_GRANT_CODE, AF_TOKEN_REUSED);
	af_metrics_token(m, AF_TOKEN_GRANT_REFRESH, AF_TOKEN_INVALID_CLIENT);
	af_metrics_token(m, AF_TOKEN_GRANT_OTHER,
			 AF_TOKEN_UNSUPPORTED_GRANT_TYPE);
	af_metrics_token(m, AF_TOKEN_GRANT_CODE, AF_TOKEN_THROTTLED);
	/* Out of range: not counted, not a crash. */
	af_metrics_token(m, AF_TOKEN_GRANT_COUNT, AF_TOKEN_ISSUED);
	af_metrics_token(m, AF_TOKEN_GRANT_CODE, AF_TOKEN_OUTCOME_COUNT);
	text = render(m);
	has_line(text,
		 "authflow_tokens_total{grant=\"authorization_code\","
		 "outcome=\"issued\"}",
		 2);
	has_line(text,
		 "authflow_tokens_total{grant=\"authorization_code\","
		 "outcome=\"reused\"}",
		 1);
	has_line(text,
		 "authflow_tokens_total{grant=\"refresh_token\","
		 "outcome=\"invalid_client\"}",
		 1);
	has_line(text,
		 "authflow_tokens_total{grant=\"other\","
		 "outcome=\"unsupported_grant_type\"}",
		 1);
	has_line(text,
		 "authflow_tokens_total{grant=\"authorization_code\","
		 "outcome=\"throttled\"}",
		 1);
	has_line(text,
		 "authflow_tokens_total{grant=\"refresh_token\","
		 "outcome=\"issued\"}",
		 0);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_request_status_real_code_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_request_no_answer_counted_as_aborted, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_request_code_out_of_range_other, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_request_same_name_one_series, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_flight_gauge_set, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_gauge_follows_checks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_render_every_family_typed_and_whole, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_latency_by_route, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_histogram_count_is_inf_bucket_under_load, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_bcl_outcomes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session_ends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_token_outcomes, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
