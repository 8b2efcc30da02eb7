/*
 * Unit tests of the shared HTTP client (common/httpc.h) in the parts that
 * need no server: statuses and their texts, base URL and header checks,
 * methods and bodies, the refusal of malformed requests, and the error
 * line for a server that cannot be reached (a closed loopback port).
 * The exchanges with a real server are covered by the end-to-end tests
 * of authflowctl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <jansson.h>

#include "common/httpc.h"

#define ERR_BUF 384

static const af_httpc_status all_statuses[] = {
#define AF_HTTPC_XX(name, value, text) AF_HTTPC_##name,
	AF_HTTPC_STATUS_MAP(AF_HTTPC_XX)
#undef AF_HTTPC_XX
};

/* A GET request with sane caps, for the tests to bend one field of. */
static af_httpc_request get_request(const char *url)
{
	af_httpc_request req = {"GET", url, NULL, 0, NULL, 4096, 2, 5};

	return req;
}

static void test_strerror_every_status_has_own_text(void **state)
{
	size_t i, j, n = sizeof(all_statuses) / sizeof(all_statuses[0]);

	(void)state;
	for (i = 0; i < n; i++) {
		assert_non_null(af_httpc_strerror(all_statuses[i]));
		for (j = 0; j < i; j++)
			assert_string_not_equal(
				af_httpc_strerror(all_statuses[i]),
				af_httpc_strerror(all_statuses[j]));
	}
	assert_string_equal(af_httpc_strerror((af_httpc_status)-99),
			    "unknown HTTP client status");
	/* authflowctl and idsim print these texts: they are a contract. */
	assert_string_equal(af_httpc_strerror(AF_HTTPC_ERR_UNREACHABLE),
			    "cannot reach the server");
	assert_string_equal(af_httpc_strerror(AF_HTTPC_ERR_TOO_BIG),
			    "the server's answer is too large");
}

static void test_visible_ascii_blanks_controls_and_cap_refused(void **state)
{
	(void)state;
	assert_true(af_httpc_visible_ascii("abc!~", 5));
	assert_false(af_httpc_visible_ascii("abcdef", 5));
	assert_false(af_httpc_visible_ascii("", 5));
	assert_false(af_httpc_visible_ascii(NULL, 5));
	assert_false(af_httpc_visible_ascii("a b", 5));
	assert_false(af_httpc_visible_ascii("a\r\nb", 5));
	assert_false(af_httpc_visible_ascii("a\x7f", 5));
	assert_false(af_httpc_visible_ascii("\xc3\xa9", 5));
}

static void test_base_url_trailing_slashes_and_prefix(void **state)
{
	size_t len = 0, at = 0;

	(void)state;
	assert_int_equal(af_httpc_base_url("http://h:8080", &len, &at),
			 AF_HTTPC_OK);
	assert_int_equal(len, 13);
	assert_int_equal(at, 13);
	assert_int_equal(af_httpc_base_url("HTTPS://h/idp/v1//", &len, &at),
			 AF_HTTPC_OK);
	assert_int_equal(len, strlen("HTTPS://h/idp/v1"));
	assert_int_equal(at, strlen("HTTPS://h"));
	assert_int_equal(af_httpc_base_url("http://h///", &len, &at),
			 AF_HTTPC_OK);
	assert_int_equal(len, 8);
	assert_int_equal(at, 8);
}

static void test_base_url_bad_forms_refused(void **state)
{
	static const char *const bad[] = {
		"ftp://h",
		"http://",
		"http:///p",
		"http://h?q=1",
		"http://h/#f",
		"http://h /p",
		"h:8080",
		"",
		"file:///etc",
		"http://h\n",
		"javascript:x",
		/* Shapes only libcurl's parser tells apart. */
		"http://[::1",
		"http://127.0.0.1:47300:80",
		"http://h:99999",
		/* Credentials libcurl would send as Basic, in clear text. */
		"http://user:pw@127.0.0.1:8080",
		"https://user@h",
		"http://:pw@h",
	};
	char *longer = malloc(AF_HTTPC_URL_MAX + 2);
	size_t len = 0, at = 0, i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(af_httpc_base_url(bad[i], &len, &at),
				 AF_HTTPC_ERR_URL);
	assert_non_null(longer);
	memcpy(longer, "http://", 7);
	memset(longer + 7, 'a', AF_HTTPC_URL_MAX - 6);
	longer[AF_HTTPC_URL_MAX + 1] = '\0';
	assert_int_equal(af_httpc_base_url(longer, &len, &at),
			 AF_HTTPC_ERR_URL);
	longer[AF_HTTPC_URL_MAX] = '\0';
	assert_int_equal(af_httpc_base_url(longer, &len, &at), AF_HTTPC_OK);
	free(longer);
	assert_int_equal(af_httpc_base_url(NULL, &len, &at), AF_HTTPC_ERR_ARG);
	assert_int_equal(af_httpc_base_url("http://h", NULL, &at),
			 AF_HTTPC_ERR_ARG);
}

static void test_method_body_known_methods_only(void **state)
{
	(void)state;
	assert_int_equal(af_httpc_method_body("GET"), 0);
	assert_int_equal(af_httpc_method_body("DELETE"), 0);
	assert_int_equal(af_httpc_method_body("POST"), 1);
	assert_int_equal(af_httpc_method_body("PUT"), 1);
	assert_int_equal(af_httpc_method_body("PATCH"), 1);
	assert_int_equal(af_httpc_method_body("get"), -1);
	assert_int_equal(af_httpc_method_body("TRACE"), -1);
	assert_int_equal(af_httpc_method_body(NULL), -1);
}

static void test_body_text_null_is_empty_object(void **state)
{
	json_t *obj = json_pack("{s:s, s:i}", "a", "b", "n", 1);
	char *text;

	(void)state;
	text = af_httpc_body_text(NULL);
	assert_non_null(text);
	assert_string_equal(text, "{}");
	af_httpc_body_free(text);
	assert_non_null(obj);
	text = af_httpc_body_text(obj);
	assert_non_null(text);
	assert_string_equal(text, "{\"a\":\"b\",\"n\":1}");
	af_httpc_body_free(text);
	af_httpc_body_free(NULL);
	json_decref(obj);
}

static void test_new_user_agent_checked(void **state)
{
	af_httpc *c = NULL;

	(void)state;
	assert_int_equal(af_httpc_new(NULL, &c), AF_HTTPC_ERR_ARG);
	assert_null(c);
	assert_int_equal(af_httpc_new("bad agent", &c), AF_HTTPC_ERR_ARG);
	assert_int_equal(af_httpc_new("test/1", NULL), AF_HTTPC_ERR_ARG);
	assert_int_equal(af_httpc_new("test/1", &c), AF_HTTPC_OK);
	assert_non_null(c);
	af_httpc_free(c);
	af_httpc_free(NULL);
}

static void test_send_malformed_requests_refused(void **state)
{
	static const char *const hdrs[AF_HTTPC_HEADERS_MAX + 1] = {
		"A: 1", "A: 2", "A: 3", "A: 4", "A: 5",
		"A: 6", "A: 7", "A: 8", "A: 9",
	};
	const char *url = "http://127.0.0.1:1/x";
	af_httpc_request req;
	af_httpc *c = NULL;
	char err[ERR_BUF];
	json_t *answer = NULL;
	long status = 1;
	size_t i;
	af_httpc_request bad[8];

	(void)state;
	assert_int_equal(af_httpc_new("test/1", &c), AF_HTTPC_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad[i] = get_request(url);
	bad[0].body = "{}";	 /* GET carries no body */
	bad[1].method = "POST";	 /* POST needs one */
	bad[2].method = "TRACE"; /* not a method of ours */
	bad[3].answer_max = 0;	 /* no answer could be read */
	bad[4].answer_max = AF_HTTPC_ANSWER_MAX + 1;
	bad[5].nheaders = AF_HTTPC_HEADERS_MAX + 1;
	bad[5].headers = hdrs;
	bad[6].timeout_s = 0; /* libcurl's "no limit" */
	bad[7].url = NULL;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(err, sizeof(err), "stale");
		assert_int_equal(af_httpc_send(c, &bad[i], &status, &answer,
					       err, sizeof(err)),
				 AF_HTTPC_ERR_ARG);
		assert_string_equal(err, "");
		assert_int_equal(status, 0);
		assert_null(answer);
	}
	req = get_request(url);
	assert_int_equal(af_httpc_send(NULL, &req, &status, &answer, NULL, 0),
			 AF_HTTPC_ERR_ARG);
	assert_int_equal(af_httpc_send(c, NULL, &status, &answer, NULL, 0),
			 AF_HTTPC_ERR_ARG);
	af_httpc_free(c);
}

static void test_send_closed_port_unreachable_with_reason(void **state)
{
	static const char *const hdrs[] = {"Authorization: Bearer s3cret"};
	af_httpc_request req = get_request("http://127.0.0.1:1/x");
	af_httpc *c = NULL;
	char err[ERR_BUF];
	json_t *answer = NULL;
	long status = 0;

	(void)state;
	req.method = "PUT";
	req.body = "{}";
	req.headers = hdrs;
	req.nheaders = 1;
	assert_int_equal(af_httpc_new("test/1", &c), AF_HTTPC_OK);
	assert_int_equal(
		af_httpc_send(c, &req, &status, &answer, err, sizeof(err)),
		AF_HTTPC_ERR_UNREACHABLE);
	assert_null(answer);
	assert_int_equal(status, 0);
	assert_int_equal(strncmp(err, "cannot reach the server: ", 25), 0);
	assert_true(strlen(err) > 25);
	/* No header (a token travels in one) is ever put into the text. */
	assert_null(strstr(err, "s3cret"));
	af_httpc_free(c);
}

static void test_send_non_http_scheme_refused_by_curl(void **state)
{
	af_httpc_request req = get_request("file:///etc/passwd");
	af_httpc *c = NULL;
	char err[ERR_BUF];
	json_t *answer = NULL;
	long status = 0;

	(void)state;
	assert_int_equal(af_httpc_new("test/1", &c), AF_HTTPC_OK);
	/* Only http and https are spoken, whatever URL comes in. */
	assert_int_equal(
		af_httpc_send(c, &req, &status, &answer, err, sizeof(err)),
		AF_HTTPC_ERR_UNREACHABLE);
	assert_null(answer);
	assert_int_equal(strncmp(err, "cannot reach the server", 23), 0);
	af_httpc_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_every_status_has_own_text),
		cmocka_unit_test(
			test_visible_ascii_blanks_controls_and_cap_refused),
		cmocka_unit_test(test_base_url_trailing_slashes_and_prefix),
		cmocka_unit_test(test_base_url_bad_forms_refused),
		cmocka_unit_test(test_method_body_known_methods_only),
		cmocka_unit_test(test_body_text_null_is_empty_object),
		cmocka_unit_test(test_new_user_agent_checked),
		cmocka_unit_test(test_send_malformed_requests_refused),
		cmocka_unit_test(test_send_closed_port_unreachable_with_reason),
		cmocka_unit_test(test_send_non_http_scheme_refused_by_curl),
	};
	int rc;

	if (af_httpc_global_init() != AF_HTTPC_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	af_httpc_global_cleanup();
	return rc;
}
