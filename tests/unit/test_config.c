/* Unit tests of the configuration parser: defaults, every refusal, files. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka needs these first; keep them in their own block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/log.h"

#ifndef AF_SOURCE_DIR
#error "AF_SOURCE_DIR must name the source tree (set by tests/CMakeLists.txt)"
#endif

#define ISSUER "\"issuer\":\"https://id.example.com\""
#define HASH_A \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HASH_B \
	"3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
/* SHA-256 of the empty string: no token has it. */
#define HASH_EMPTY \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Temporary files for the tls and load tests, removed in teardown. */
struct files {
	char dir[64];
	char cert[128];
	char key[128];
	char extra[128];
};

static af_config *new_cfg(void)
{
	af_config *cfg = malloc(sizeof(*cfg));

	assert_non_null(cfg);
	return cfg;
}

static void parse_ok(const char *json, af_config *cfg)
{
	char err[256] = "";
	int rc = af_config_parse(json, strlen(json), cfg, err, sizeof(err));

	if (rc != 0)
		print_error("unexpected refusal: %s\n", err);
	assert_int_equal(rc, 0);
}

/* Asserts that json is refused with a message containing want. */
static void refused(const char *json, const char *want)
{
	af_config *cfg = new_cfg();
	char err[256] = "";

	assert_int_equal(
		af_config_parse(json, strlen(json), cfg, err, sizeof(err)), -1);
	if (strstr(err, want) == NULL)
		print_error("message \"%s\" lacks \"%s\"\n", err, want);
	assert_non_null(strstr(err, want));
	free(cfg);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static int files_setup(void **state)
{
	struct files *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/af_test_config.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	(void)snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
	(void)snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
	(void)snprintf(f->extra, sizeof(f->extra), "%s/extra", f->dir);
	*state = f;
	return 0;
}

static int files_teardown(void **state)
{
	struct files *f = *state;

	(void)unlink(f->cert);
	(void)unlink(f->key);
	(void)unlink(f->extra);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

/* Builds a config with a tls section naming the two files. */
static void tls_json(const struct files *f, char *out, size_t cap)
{
	int n = snprintf(out, cap,
			 "{" ISSUER ",\"tls\":{\"cert_file\":\"%s\","
			 "\"key_file\":\"%s\"}}",
			 f->cert, f->key);

	assert_true(n > 0 && (size_t)n < cap);
}

static void test_defaults_every_key_set(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER "}", cfg);
	assert_string_equal(cfg->issuer, "https://id.example.com");
	assert_int_equal(cfg->issuer_https, 1);
	assert_string_equal(cfg->listen_address, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 8080);
	assert_int_equal(cfg->threads, 0);
	assert_string_equal(cfg->tls_cert_file, "");
	assert_string_equal(cfg->tls_key_file, "");
	assert_string_equal(cfg->state_dir, "./state");
	assert_int_equal(cfg->store_backend, STORE_BACKEND_MEMORY);
	assert_string_equal(cfg->store_url, "");
	assert_string_equal(cfg->store_prefix, "authflow:");
	assert_int_equal(cfg->rsa_bits, 2048);
	assert_int_equal(cfg->key_lifetime_days, 730);
	assert_int_equal(cfg->key_alert_days, 60);
	assert_int_equal(cfg->session_timeout_s, 7200);
	assert_int_equal(cfg->feature_sso, 1);
	assert_int_equal(cfg->feature_remote_access_mfa, 1);
	assert_int_equal(cfg->argon2_m_kib, 19456);
	assert_int_equal(cfg->argon2_t, 2);
	assert_int_equal(cfg->argon2_p, 1);
	assert_int_equal(cfg->admin_token_count, 0);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->body_max, 65536);
	assert_int_equal(cfg->request_timeout_s, 30);
	free(cfg);
}

static void test_defaults_function_matches_parsed_defaults(void **state)
{
	af_config *a = new_cfg(), *b = new_cfg();

	(void)state;
	af_config_defaults(a);
	assert_string_equal(a->issuer, "");
	parse_ok("{" ISSUER "}", b);
	memset(b->issuer, 0, sizeof(b->issuer));
	b->issuer_https = 0;
	assert_memory_equal(a, b, sizeof(*a));
	af_config_defaults(NULL);
	free(a);
	free(b);
}

static void test_parse_every_key_set_values_read(void **state)
{
	static const char json[] =
		"{\"issuer\":\"https://id.example.com:8443/\","
		"\"listen\":{\"address\":\"::\",\"port\":9443,\"threads\":16},"
		"\"state_dir\":\"/var/lib/authflow\","
		"\"store\":{\"backend\":\"redis\","
		"\"url\":\"redis://10.0.0.5:6379/2\",\"prefix\":\"af-1:x_\"},"
		"\"keys\":{\"algorithm\":\"RS256\",\"rsa_bits\":4096,"
		"\"lifetime_days\":365,\"alert_days\":30},"
		"\"session\":{\"timeout\":\"4d\"},"
		"\"features\":{\"sso\":false,\"remote_access_mfa\":false},"
		"\"password_hash\":{\"argon2id\":{\"m_kib\":65536,\"t\":3,"
		"\"p\":4}},"
		"\"admin\":{\"tokens\":[{\"name\":\"ops\",\"role\":"
		"\"superadmin\",\"sha256\":\"" HASH_A
		"\"},{\"name\":\"h.d-1_x\","
		"\"role\":\"admin\",\"sha256\":\"" HASH_B "\"}]},"
		"\"log\":{\"level\":\"debug\"},"
		"\"limits\":{\"body_bytes\":1048576,\"request_timeout_s\":300}}";
	static const uint8_t want_a[4] = {0xba, 0x78, 0x16, 0xbf};
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok(json, cfg);
	assert_string_equal(cfg->issuer, "https://id.example.com:8443");
	assert_string_equal(cfg->listen_address, "::");
	assert_int_equal(cfg->listen_port, 9443);
	assert_int_equal(cfg->threads, 16);
	assert_string_equal(cfg->state_dir, "/var/lib/authflow");
	assert_int_equal(cfg->store_backend, STORE_BACKEND_REDIS);
	assert_string_equal(cfg->store_url, "redis://10.0.0.5:6379/2");
	assert_string_equal(cfg->store_prefix, "af-1:x_");
	assert_int_equal(cfg->rsa_bits, 4096);
	assert_int_equal(cfg->key_lifetime_days, 365);
	assert_int_equal(cfg->key_alert_days, 30);
	assert_int_equal(cfg->session_timeout_s, 4 * 86400);
	assert_int_equal(cfg->feature_sso, 0);
	assert_int_equal(cfg->feature_remote_access_mfa, 0);
	assert_int_equal(cfg->argon2_m_kib, 65536);
	assert_int_equal(cfg->argon2_t, 3);
	assert_int_equal(cfg->argon2_p, 4);
	assert_int_equal(cfg->admin_token_count, 2);
	assert_string_equal(cfg->admin_tokens[0].name, "ops");
	assert_int_equal(cfg->admin_tokens[0].role, AF_ROLE_SUPERADMIN);
	assert_memory_equal(cfg->admin_tokens[0].sha256, want_a, 4);
	assert_int_equal(cfg->admin_tokens[0].sha256[31], 0xad);
	assert_string_equal(cfg->admin_tokens[1].name, "h.d-1_x");
	assert_int_equal(cfg->admin_tokens[1].role, AF_ROLE_ADMIN);
	assert_int_equal(cfg->admin_tokens[1].sha256[0], 0x3e);
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg->body_max, 1048576);
	assert_int_equal(cfg->request_timeout_s, 300);
	free(cfg);
}

static void test_parse_syntax_error_line_and_column(void **state)
{
	char err[256] = "";
	af_config *cfg = new_cfg();
	static const char json[] = "{\n  \"issuer\": \"https://a.example\",\n"
				   "  \"listen\": {\"port\": 80,}\n}";

	(void)state;
	assert_int_equal(
		af_config_parse(json, strlen(json), cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 3"));
	assert_non_null(strstr(err, "column"));
	refused("", "config: empty: a JSON object is needed");
	refused(" \n\t", "config: empty: a JSON object is needed");
	refused("\xef\xbb\xbf{" ISSUER "}",
		"config: starts with a UTF-8 byte order mark");
	refused("{" ISSUER "} junk", "line 1");
	refused("{\"issuer\":\"https://a.exa\\u0000mple\"}", "line 1");
	/* The input quoted by jansson is made printable: one line. */
	assert_int_equal(
		af_config_parse("{\"a\\\nb\"}", 8, cfg, err, sizeof(err)), -1);
	assert_null(strchr(err, '\n'));
	/* Nor is any of it quoted: it may be the store's password. */
	static const char pw[] =
		"{\"store\": {\"url\" \"redis://:Pw9xS3cret@r\"}}";
	assert_int_equal(af_config_parse(pw, strlen(pw), cfg, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "line 1, column"));
	assert_null(strstr(err, "Pw9x"));
	free(cfg);
}

static void test_parse_top_level_not_object_refused(void **state)
{
	(void)state;
	refused("[]", "top level");
	refused("[{" ISSUER "}]", "top level");
	refused("42", "top level");
	refused("\"https://id.example.com\"", "top level");
	refused("null", "top level");
}

static void test_parse_duplicate_keys_refused(void **state)
{
	(void)state;
	refused("{" ISSUER "," ISSUER "}", "duplicate");
	refused("{" ISSUER ",\"listen\":{\"port\":1,\"port\":2}}", "duplicate");
	refused("{" ISSUER ",\"log\":{\"level\":\"info\"},"
		"\"log\":{\"level\":\"info\"}}",
		"duplicate");
}

static void test_parse_unknown_keys_refused(void **state)
{
	(void)state;
	refused("{" ISSUER ",\"isuser\":1}", "isuser: unknown key");
	refused("{" ISSUER ",\"listen\":{\"prot\":8080}}",
		"listen.prot: unknown key");
	refused("{" ISSUER ",\"tls\":{\"cert\":\"x\"}}",
		"tls.cert: unknown key");
	refused("{" ISSUER ",\"store\":{\"db\":1}}", "store.db: unknown key");
	refused("{" ISSUER ",\"keys\":{\"alg\":\"RS256\"}}",
		"keys.alg: unknown key");
	refused("{" ISSUER ",\"session\":{\"idle\":\"2h\"}}",
		"session.idle: unknown key");
	refused("{" ISSUER ",\"features\":{\"sos\":true}}",
		"features.sos: unknown key");
	refused("{" ISSUER ",\"password_hash\":{\"bcrypt\":{}}}",
		"password_hash.bcrypt: unknown key");
	refused("{" ISSUER ",\"password_hash\":{\"argon2id\":{\"m\":1}}}",
		"password_hash.argon2id.m: unknown key");
	refused("{" ISSUER ",\"admin\":{\"users\":[]}}",
		"admin.users: unknown key");
	refused("{" ISSUER ",\"admin\":{\"tokens\":[{\"name\":\"a\",\"role\":"
		"\"admin\",\"sha256\":\"" HASH_A "\",\"token\":\"x\"}]}}",
		"admin.tokens[0].token: unknown key");
	refused("{" ISSUER ",\"log\":{\"file\":\"x\"}}",
		"log.file: unknown key");
	refused("{" ISSUER ",\"limits\":{\"body\":1}}",
		"limits.body: unknown key");
	/* Control characters from the file never reach the message raw. */
	refused("{" ISSUER ",\"a\\nb\":1}", "a?b: unknown key");
}

static void test_parse_wrong_types_refused(void **state)
{
	(void)state;
	refused("{\"issuer\":42}", "issuer: must be a string");
	refused("{" ISSUER ",\"listen\":[]}", "listen: must be an object");
	refused("{" ISSUER ",\"listen\":{\"port\":\"8080\"}}",
		"listen.port: must be an integer");
	refused("{" ISSUER ",\"listen\":{\"port\":8080.0}}",
		"listen.port: must be an integer");
	refused("{" ISSUER ",\"listen\":{\"address\":127}}",
		"listen.address: must be a string");
	/* An IPv6-only socket cannot bind it: the IPv4 address it maps is
	 * the one to give. */
	refused("{" ISSUER ",\"listen\":{\"address\":\"::ffff:127.0.0.1\"}}",
		"listen.address: an IPv4-mapped IPv6 address");
	refused("{" ISSUER ",\"push\":{\"listen\":{\"address\":"
		"\"::ffff:127.0.0.1\"}}}",
		"push.listen.address: an IPv4-mapped IPv6 address");
	refused("{" ISSUER ",\"state_dir\":true}",
		"state_dir: must be a string");
	refused("{" ISSUER ",\"features\":{\"sso\":1}}",
		"features.sso: must be true or false");
	refused("{" ISSUER ",\"features\":{\"remote_access_mfa\":\"yes\"}}",
		"features.remote_access_mfa: must be true or false");
	refused("{" ISSUER ",\"session\":{\"timeout\":7200}}",
		"session.timeout: must be a string");
	refused("{" ISSUER ",\"admin\":{\"tokens\":{}}}",
		"admin.tokens: must be an array");
	refused("{" ISSUER ",\"admin\":{\"tokens\":[\"x\"]}}",
		"admin.tokens[0]: must be an object");
	refused("{" ISSUER ",\"limits\":{\"body_bytes\":null}}",
		"limits.body_bytes: must be an integer");
}

static void test_issuer_forms_accepted(void **state)
{
	static const struct {
		const char *in, *out;
		int https;
	} v[] = {
		{"https://id.example.com/", "https://id.example.com", 1},
		{"https://id.example.com:8443", "https://id.example.com:8443",
		 1},
		{"https://203.0.113.7/", "https://203.0.113.7", 1},
		{"https://sso-1.a-b.example.com",
		 "https://sso-1.a-b.example.com", 1},
		{"https://3com.example", "https://3com.example", 1},
		{"https://[2001:db8::1]:443", "https://[2001:db8::1]:443", 1},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", 0},
		{"http://127.10.20.30", "http://127.10.20.30", 0},
		{"http://[::1]:9000", "http://[::1]:9000", 0},
		{"http://localhost:8080/", "http://localhost:8080", 0},
		{"http://LocalHost", "http://localhost", 0},
		/* Scheme and host in lower case: clients compare bytes. */
		{"https://ID.Example.COM/", "https://id.example.com", 1},
		{"https://[2001:DB8::A]", "https://[2001:db8::a]", 1},
	};
	af_config *cfg = new_cfg();
	char json[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		(void)snprintf(json, sizeof(json), "{\"issuer\":\"%s\"}",
			       v[i].in);
		parse_ok(json, cfg);
		assert_string_equal(cfg->issuer, v[i].out);
		assert_int_equal(cfg->issuer_https, v[i].https);
	}
	free(cfg);
}

static void test_issuer_bad_forms_refused(void **state)
{
	static const char *const bad[] = {
		"http://id.example.com",
		"http://128.0.0.1",
		"http://10.0.0.1:8080",
		"http://[::2]",
		"http://[::ffff:127.0.0.1]",
		"http://localhost.example.com",
		"http://127.0.0.1.nip.io",
		"https://id.example.com/?a=b",
		"https://id.example.com/#frag",
		"https://user@id.example.com",
		"https://user:pw@id.example.com/",
		"ftp://id.example.com",
		"id.example.com",
		"/relative",
		"https://",
		"https:///path",
		"https://id.example.com:0",
		"https://id.example.com:65536",
		"https://id.example.com:",
		"https://id.example.com:80a",
		"https://id..example.com",
		"https://id.example.com./",
		"https://id_example.com",
		/* RFC 1123: no label begins or ends with '-'; digits alone
		 * after the last dot make an IPv4 address, or nothing. */
		"https://-a.example.com",
		"https://a-.example.com",
		"https://id.example-",
		"https://256.256.256.256",
		"https://1.2.3",
		"https://10.0.0.1.5",
		"https://[zz::1]",
		"https://[::1",
		"https://id.example.com/a b",
		"https://id.example.com/%zz",
		"https://id.example.com/%4",
		"https://id.example.com//",
		"https://id.example.com/[x]",
		"HTTPS://id.example.com",
		"",
		/* Endpoints are at the root of the host. */
		"https://id.example.com/a/b/",
		"https://203.0.113.7/x%2Fy",
		"http://localhost:8080/af",
	};
	char json[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(json, sizeof(json), "{\"issuer\":\"%s\"}",
			       bad[i]);
		refused(json, "issuer: ");
	}
	refused("{\"issuer\":\"https://id.example.com:0443\"}",
		"issuer: port must be 1..65535, without leading zeros");
	refused("{\"issuer\":\"http://id.example.com\"}", "loopback");
	refused("{\"issuer\":\"https://id.example.com/idp\"}", "no path");
	refused("{\"issuer\":\"https://id.example.com/?a=b\"}", "query");
	refused("{\"issuer\":\"https://id.example.com/#f\"}", "fragment");
	refused("{\"issuer\":\"https://u@id.example.com\"}", "userinfo");
	refused("{\"listen\":{}}", "issuer: required");
}

static void test_issuer_length_limit(void **state)
{
	af_config *cfg = new_cfg();
	char json[512], url[300];
	size_t n = strlen("https://");

	(void)state;
	/* A host name of four labels (at most 63 bytes each) to 255 bytes. */
	memcpy(url, "https://", n);
	memset(url + n, 'a', 255 - n);
	url[n + 63] = url[n + 127] = url[n + 191] = '.';
	url[255] = '\0';
	(void)snprintf(json, sizeof(json), "{\"issuer\":\"%s\"}", url);
	parse_ok(json, cfg);
	assert_int_equal(strlen(cfg->issuer), 255);
	url[255] = 'a';
	url[256] = '\0';
	(void)snprintf(json, sizeof(json), "{\"issuer\":\"%s\"}", url);
	refused(json, "issuer: must be at most 255 bytes");
	free(cfg);
}

static void test_listen_values_checked(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER ",\"listen\":{\"address\":\"0.0.0.0\",\"port\":1,"
		 "\"threads\":256}}",
		 cfg);
	assert_string_equal(cfg->listen_address, "0.0.0.0");
	assert_int_equal(cfg->listen_port, 1);
	assert_int_equal(cfg->threads, 256);
	parse_ok("{" ISSUER ",\"listen\":{\"port\":65535,\"threads\":0}}", cfg);
	assert_int_equal(cfg->listen_port, 65535);
	assert_int_equal(cfg->threads, 0);
	refused("{" ISSUER ",\"listen\":{\"port\":0}}", "listen.port: must be");
	refused("{" ISSUER ",\"listen\":{\"port\":65536}}",
		"listen.port: must be 1..65535");
	refused("{" ISSUER ",\"listen\":{\"port\":-1}}", "listen.port");
	refused("{" ISSUER ",\"listen\":{\"threads\":257}}",
		"listen.threads: must be 0..256");
	refused("{" ISSUER ",\"listen\":{\"address\":\"localhost\"}}",
		"listen.address");
	refused("{" ISSUER ",\"listen\":{\"address\":\"1.2.3\"}}",
		"listen.address");
	refused("{" ISSUER ",\"listen\":{\"address\":\"\"}}", "listen.address");
	free(cfg);
}

static void test_tls_files_accepted(void **state)
{
	struct files *f = *state;
	af_config *cfg = new_cfg();
	char json[512];

	write_file(f->cert, "cert\n", 0644);
	write_file(f->key, "key\n", 0600);
	tls_json(f, json, sizeof(json));
	parse_ok(json, cfg);
	assert_string_equal(cfg->tls_cert_file, f->cert);
	assert_string_equal(cfg->tls_key_file, f->key);
	assert_int_equal(chmod(f->key, 0400), 0);
	parse_ok(json, cfg);
	/* Over TLS the addresses given out must say https. */
	(void)snprintf(json, sizeof(json),
		       "{\"issuer\":\"http://127.0.0.1:8443\",\"tls\":{"
		       "\"cert_file\":\"%s\",\"key_file\":\"%s\"}}",
		       f->cert, f->key);
	refused(json, "tls: needs an https:// issuer");
	free(cfg);
}

static void test_tls_key_mode_0644_refused(void **state)
{
	struct files *f = *state;
	char json[512], want[256];

	write_file(f->cert, "cert\n", 0644);
	write_file(f->key, "key\n", 0644);
	tls_json(f, json, sizeof(json));
	(void)snprintf(want, sizeof(want), "tls.key_file: %s has mode 0644",
		       f->key);
	refused(json, want);
	assert_int_equal(chmod(f->key, 0640), 0);
	refused(json, "mode 0640");
	assert_int_equal(chmod(f->key, 0700), 0);
	refused(json, "mode 0700");
}

static void test_tls_missing_or_bad_files_refused(void **state)
{
	struct files *f = *state;
	char json[512];

	(void)snprintf(json, sizeof(json),
		       "{" ISSUER ",\"tls\":{\"cert_file\":\"%s\"}}", f->cert);
	refused(json, "tls.key_file: required");
	(void)snprintf(json, sizeof(json),
		       "{" ISSUER ",\"tls\":{\"key_file\":\"%s\"}}", f->key);
	refused(json, "tls.cert_file: required");
	refused("{" ISSUER ",\"tls\":{}}", "tls.cert_file: required");
	write_file(f->key, "key\n", 0600);
	tls_json(f, json, sizeof(json));
	refused(json, "tls.cert_file: ");
	refused(json, f->cert);
	(void)snprintf(json, sizeof(json),
		       "{" ISSUER ",\"tls\":{\"cert_file\":\"%s\","
		       "\"key_file\":\"%s\"}}",
		       f->key, f->dir);
	refused(json, "tls.key_file: ");
	refused(json, "not a regular file");
}

static void test_state_dir_checked(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER ",\"state_dir\":\"/srv/af\"}", cfg);
	assert_string_equal(cfg->state_dir, "/srv/af");
	refused("{" ISSUER ",\"state_dir\":\"\"}", "state_dir: must not be");
	/* A newline would forge a line of its own in the message. */
	refused("{" ISSUER ",\"state_dir\":\"/srv/a\\nauthflow: ok\"}",
		"state_dir: must not contain control characters");
	refused("{" ISSUER ",\"state_dir\":\"/srv/\\u001b[31m\"}",
		"state_dir: must not contain control characters");
	free(cfg);
}

static void test_store_values_checked(void **state)
{
	af_config *cfg = new_cfg();
	char json[256];

	(void)state;
	parse_ok("{" ISSUER ",\"store\":{\"backend\":\"redis\","
		 "\"url\":\"unix:/run/redis.sock\"}}",
		 cfg);
	assert_int_equal(cfg->store_backend, STORE_BACKEND_REDIS);
	assert_string_equal(cfg->store_url, "unix:/run/redis.sock");
	parse_ok("{" ISSUER ",\"store\":{\"prefix\":\"\"}}", cfg);
	assert_string_equal(cfg->store_prefix, "");
	refused("{" ISSUER ",\"store\":{\"backend\":\"redis\"}}",
		"store.url: required");
	refused("{" ISSUER ",\"store\":{\"backend\":\"redis\","
		"\"url\":\"http://127.0.0.1:6379\"}}",
		"store.url: must start with");
	refused("{" ISSUER ",\"store\":{\"backend\":\"mysql\"}}",
		"store.backend: must be");
	refused("{" ISSUER ",\"store\":{\"prefix\":\"auth flow\"}}",
		"store.prefix: may hold only");
	refused("{" ISSUER ",\"store\":{\"prefix\":\"a/b\"}}", "store.prefix");
	assert_int_equal(cfg->store_max_mb, 0);
	parse_ok("{" ISSUER ",\"store\":{\"max_mb\":2048}}", cfg);
	assert_int_equal(cfg->store_max_mb, 2048);
	refused("{" ISSUER ",\"store\":{\"max_mb\":15}}",
		"store.max_mb: must be 16..1048576");
	refused("{" ISSUER ",\"store\":{\"max_mb\":0}}", "store.max_mb");
	refused("{" ISSUER ",\"store\":{\"backend\":\"redis\","
		"\"url\":\"redis://127.0.0.1\",\"max_mb\":64}}",
		"store.max_mb: only for the memory backend");
	assert_int_equal(cfg->store_timeout_ms, 0);
	parse_ok("{" ISSUER ",\"store\":{\"backend\":\"redis\","
		 "\"url\":\"redis://127.0.0.1\",\"timeout_ms\":500}}",
		 cfg);
	assert_int_equal(cfg->store_timeout_ms, 500);
	refused("{" ISSUER ",\"store\":{\"backend\":\"redis\","
		"\"url\":\"redis://127.0.0.1\",\"timeout_ms\":99}}",
		"store.timeout_ms: must be 100..60000");
	refused("{" ISSUER ",\"store\":{\"backend\":\"redis\","
		"\"url\":\"redis://127.0.0.1\",\"timeout_ms\":60001}}",
		"store.timeout_ms: must be 100..60000");
	refused("{" ISSUER ",\"store\":{\"timeout_ms\":500}}",
		"store.timeout_ms: only for the redis backend");
	refused("{" ISSUER ",\"store\":{\"prefix\":7}}",
		"store.prefix: must be a string");
	(void)snprintf(json, sizeof(json),
		       "{" ISSUER ",\"store\":{\"prefix\":\"%0*d\"}}",
		       STORE_PREFIX_MAX, 0);
	parse_ok(json, cfg);
	assert_int_equal(strlen(cfg->store_prefix), STORE_PREFIX_MAX);
	(void)snprintf(json, sizeof(json),
		       "{" ISSUER ",\"store\":{\"prefix\":\"%0*d\"}}",
		       STORE_PREFIX_MAX + 1, 0);
	refused(json, "store.prefix: must be at most 64 bytes");
	free(cfg);
}

static void test_keys_values_checked(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER ",\"keys\":{\"rsa_bits\":3072,"
		 "\"lifetime_days\":3650,\"alert_days\":3649}}",
		 cfg);
	assert_int_equal(cfg->rsa_bits, 3072);
	assert_int_equal(cfg->key_lifetime_days, 3650);
	assert_int_equal(cfg->key_alert_days, 3649);
	refused("{" ISSUER ",\"keys\":{\"algorithm\":\"ES256\"}}",
		"keys.algorithm: must be \"RS256\"");
	refused("{" ISSUER ",\"keys\":{\"algorithm\":\"rs256\"}}",
		"keys.algorithm");
	refused("{" ISSUER ",\"keys\":{\"rsa_bits\":1024}}",
		"keys.rsa_bits: must be 2048, 3072 or 4096");
	refused("{" ISSUER ",\"keys\":{\"rsa_bits\":2049}}", "keys.rsa_bits");
	refused("{" ISSUER ",\"keys\":{\"rsa_bits\":-1}}",
		"keys.rsa_bits: must be 2048, 3072 or 4096");
	refused("{" ISSUER ",\"keys\":{\"rsa_bits\":\"2048\"}}",
		"keys.rsa_bits: must be 2048, 3072 or 4096");
	refused("{" ISSUER ",\"keys\":{\"lifetime_days\":0}}",
		"keys.lifetime_days: must be 2..3650");
	refused("{" ISSUER ",\"keys\":{\"lifetime_days\":1,"
		"\"alert_days\":1}}",
		"keys.lifetime_days: must be 2..3650");
	refused("{" ISSUER ",\"keys\":{\"lifetime_days\":3651}}",
		"keys.lifetime_days");
	refused("{" ISSUER ",\"keys\":{\"lifetime_days\":30}}",
		"keys.alert_days: must be less than keys.lifetime_days");
	refused("{" ISSUER ",\"keys\":{\"lifetime_days\":90,"
		"\"alert_days\":90}}",
		"keys.alert_days");
	refused("{" ISSUER ",\"keys\":{\"alert_days\":0}}", "keys.alert_days");
	free(cfg);
}

static void test_session_timeout_checked(void **state)
{
	static const struct {
		const char *in;
		unsigned secs;
	} ok[] = {{"off", 0},	   {"30m", 1800},     {"1800", 1800},
		  {"1800s", 1800}, {"2h", 7200},      {"4d", 345600},
		  {"96h", 345600}, {"345600", 345600}};
	static const char *const bad[] = {"29m", "1799", "4d1s",   "5d",
					  "0",	 "0s",	 "345601", "2 h",
					  "2H",	 "",	 "-2h",	   "forever"};
	af_config *cfg = new_cfg();
	char json[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		(void)snprintf(json, sizeof(json),
			       "{" ISSUER ",\"session\":{\"timeout\":\"%s\"}}",
			       ok[i].in);
		parse_ok(json, cfg);
		assert_int_equal(cfg->session_timeout_s, ok[i].secs);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(json, sizeof(json),
			       "{" ISSUER ",\"session\":{\"timeout\":\"%s\"}}",
			       bad[i]);
		refused(json, "session.timeout: ");
	}
	free(cfg);
}

static void test_session_idle_timeout_checked(void **state)
{
	static const struct {
		const char *in;
		unsigned secs;
	} ok[] = {{"off", 0}, {"5m", 300}, {"30m", 1800}, {"7199", 7199}};
	static const char *const bad[] = {"4m", "299", "2h",  "1d1s", "0",
					  "",	"30M", "-5m", "soon"};
	af_config *cfg = new_cfg();
	char json[160];
	size_t i;

	(void)state;
	parse_ok("{" ISSUER "}", cfg);
	assert_int_equal(cfg->session_idle_s, 0);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		(void)snprintf(json, sizeof(json),
			       "{" ISSUER
			       ",\"session\":{\"idle_timeout\":\"%s\"}}",
			       ok[i].in);
		parse_ok(json, cfg);
		assert_int_equal(cfg->session_idle_s, ok[i].secs);
		assert_int_equal(cfg->session_timeout_s, 7200);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void)snprintf(json, sizeof(json),
			       "{" ISSUER
			       ",\"session\":{\"idle_timeout\":\"%s\"}}",
			       bad[i]);
		refused(json, "session.idle_timeout: ");
	}
	/* Up to a day, with an absolute timeout off or longer than it. */
	parse_ok("{" ISSUER ",\"session\":{\"timeout\":\"off\","
		 "\"idle_timeout\":\"1d\"}}",
		 cfg);
	assert_int_equal(cfg->session_idle_s, 86400);
	parse_ok("{" ISSUER ",\"session\":{\"timeout\":\"4d\","
		 "\"idle_timeout\":\"1d\"}}",
		 cfg);
	refused("{" ISSUER ",\"session\":{\"timeout\":\"off\","
		"\"idle_timeout\":\"25h\"}}",
		"session.idle_timeout: must be \"off\" or 5m..1d");
	refused("{" ISSUER ",\"session\":{\"timeout\":\"1h\","
		"\"idle_timeout\":\"1h\"}}",
		"session.idle_timeout: must be shorter than session.timeout");
	refused("{" ISSUER ",\"session\":{\"idle_timeout\":1800}}",
		"session.idle_timeout: must be a string");
	free(cfg);
}

static void test_log_level_values(void **state)
{
	static const struct {
		const char *name;
		int level;
	} v[] = {{"error", LOG_LEVEL_ERROR},
		 {"warn", LOG_LEVEL_WARN},
		 {"info", LOG_LEVEL_INFO},
		 {"debug", LOG_LEVEL_DEBUG}};
	af_config *cfg = new_cfg();
	char json[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		(void)snprintf(json, sizeof(json),
			       "{" ISSUER ",\"log\":{\"level\":\"%s\"}}",
			       v[i].name);
		parse_ok(json, cfg);
		assert_int_equal(cfg->log_level, v[i].level);
	}
	refused("{" ISSUER ",\"log\":{\"level\":\"trace\"}}",
		"log.level: must be");
	refused("{" ISSUER ",\"log\":{\"level\":\"INFO\"}}", "log.level");
	free(cfg);
}

/* A password being set needs passwords.min_length characters, 8..64. */
static void test_password_min_length(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER "}", cfg);
	assert_int_equal(cfg->pw_min_length, 8);
	parse_ok("{" ISSUER ",\"passwords\":{\"min_length\":12}}", cfg);
	assert_int_equal(cfg->pw_min_length, 12);
	refused("{" ISSUER ",\"passwords\":{\"min_length\":7}}",
		"passwords.min_length: must be 8..64");
	refused("{" ISSUER ",\"passwords\":{\"min_length\":65}}",
		"passwords.min_length: must be 8..64");
	refused("{" ISSUER ",\"passwords\":{\"min_length\":\"12\"}}",
		"passwords.min_length: must be an integer");
	refused("{" ISSUER ",\"passwords\":{\"max_length\":12}}",
		"passwords.max_length");
	/* A temporary password signs in for 1..720 hours, 72 by default. */
	assert_int_equal(cfg->pw_temporary_hours, 72);
	parse_ok("{" ISSUER ",\"passwords\":{\"temporary_hours\":24}}", cfg);
	assert_int_equal(cfg->pw_temporary_hours, 24);
	refused("{" ISSUER ",\"passwords\":{\"temporary_hours\":0}}",
		"passwords.temporary_hours: must be 1..720");
	refused("{" ISSUER ",\"passwords\":{\"temporary_hours\":721}}",
		"passwords.temporary_hours: must be 1..720");
	refused("{" ISSUER ",\"passwords\":[]}", "passwords");
	free(cfg);
}

/* audit.keep_days: no age limit (0) by default, at most ten years. */
static void test_audit_keep_days(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER "}", cfg);
	assert_int_equal(cfg->audit_keep_days, 0);
	parse_ok("{" ISSUER ",\"audit\":{\"keep_days\":365}}", cfg);
	assert_int_equal(cfg->audit_keep_days, 365);
	parse_ok("{" ISSUER ",\"audit\":{}}", cfg);
	assert_int_equal(cfg->audit_keep_days, 0);
	refused("{" ISSUER ",\"audit\":{\"keep_days\":3651}}",
		"audit.keep_days: must be 0..3650");
	refused("{" ISSUER ",\"audit\":{\"keep_days\":\"1y\"}}",
		"audit.keep_days");
	refused("{" ISSUER ",\"audit\":{\"days\":1}}", "audit.days");
	refused("{" ISSUER ",\"audit\":30}", "audit");
	free(cfg);
}

/* accounts.inactive_days: off (0) by default, at most ten years. */
static void test_accounts_inactive_days(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER "}", cfg);
	assert_int_equal(cfg->accounts_inactive_days, 0);
	parse_ok("{" ISSUER ",\"accounts\":{\"inactive_days\":90}}", cfg);
	assert_int_equal(cfg->accounts_inactive_days, 90);
	parse_ok("{" ISSUER ",\"accounts\":{}}", cfg);
	refused("{" ISSUER ",\"accounts\":{\"inactive_days\":3651}}",
		"accounts.inactive_days: must be 0..3650");
	refused("{" ISSUER ",\"accounts\":{\"inactive_days\":-1}}",
		"accounts.inactive_days");
	refused("{" ISSUER ",\"accounts\":{\"idle_days\":9}}",
		"accounts.idle_days");
	refused("{" ISSUER ",\"accounts\":90}", "accounts");
	free(cfg);
}

/* passwords.blocklist_file names a readable regular file. */
static void test_password_blocklist_file(void **state)
{
	af_config *cfg = new_cfg();
	char dir[] = "/tmp/af_cfg_list_XXXXXX", path[64], json[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/common.txt", dir);
	parse_ok("{" ISSUER "}", cfg);
	assert_string_equal(cfg->pw_blocklist_file, "");
	(void)snprintf(json, sizeof(json),
		       "{" ISSUER ",\"passwords\":{\"blocklist_file\":\"%s\"}}",
		       path);
	refused(json, "passwords.blocklist_file: ");
	write_file(path, "password1\n", 0644);
	parse_ok(json, cfg);
	assert_string_equal(cfg->pw_blocklist_file, path);
	(void)snprintf(json, sizeof(json),
		       "{" ISSUER ",\"passwords\":{\"blocklist_file\":\"%s\"}}",
		       dir);
	refused(json, "passwords.blocklist_file: ");
	refused("{" ISSUER ",\"passwords\":{\"blocklist_file\":\"\"}}",
		"passwords.blocklist_file: must not be empty");
	refused("{" ISSUER ",\"passwords\":{\"blocklist_file\":7}}",
		"passwords.blocklist_file: must be a string");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(cfg);
}

/* The ceilings are the password module's: what the check takes, a start
 * takes too. */
static void test_argon2_values_checked(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER ",\"password_hash\":{\"argon2id\":{\"m_kib\":512,"
		 "\"t\":64,\"p\":16}}}",
		 cfg);
	assert_int_equal(cfg->argon2_m_kib, 512);
	assert_int_equal(cfg->argon2_t, 64);
	assert_int_equal(cfg->argon2_p, 16);
	parse_ok("{" ISSUER ",\"password_hash\":{\"argon2id\":{\"m_kib\":8}}}",
		 cfg);
	assert_int_equal(cfg->argon2_m_kib, 8);
	parse_ok("{" ISSUER ",\"password_hash\":{\"argon2id\":"
		 "{\"m_kib\":1048576}}}",
		 cfg);
	assert_int_equal(cfg->argon2_m_kib, 1048576);
	refused("{" ISSUER ",\"password_hash\":{\"argon2id\":{\"m_kib\":7}}}",
		"password_hash.argon2id.m_kib: must be 8..1048576");
	refused("{" ISSUER ",\"password_hash\":{\"argon2id\":"
		"{\"m_kib\":1048577}}}",
		"password_hash.argon2id.m_kib");
	refused("{" ISSUER ",\"password_hash\":{\"argon2id\":{\"t\":0}}}",
		"password_hash.argon2id.t: must be 1..64");
	refused("{" ISSUER ",\"password_hash\":{\"argon2id\":{\"t\":65}}}",
		"password_hash.argon2id.t");
	refused("{" ISSUER ",\"password_hash\":{\"argon2id\":{\"p\":0}}}",
		"password_hash.argon2id.p: must be 1..16");
	refused("{" ISSUER ",\"password_hash\":{\"argon2id\":{\"p\":17}}}",
		"password_hash.argon2id.p");
	refused("{" ISSUER ",\"password_hash\":{\"argon2id\":{\"m_kib\":16,"
		"\"p\":4}}}",
		"password_hash.argon2id.m_kib: must be at least 8 * p");
	refused("{" ISSUER ",\"password_hash\":{\"argon2id\":7}}",
		"password_hash.argon2id: must be an object");
	free(cfg);
}

/* Builds a config holding one admin token with the given members. */
static void token_json(char *out, size_t cap, const char *name,
		       const char *role, const char *hash)
{
	int n = snprintf(out, cap,
			 "{" ISSUER ",\"admin\":{\"tokens\":[{\"name\":\"%s\","
			 "\"role\":\"%s\",\"sha256\":\"%s\"}]}}",
			 name, role, hash);

	assert_true(n > 0 && (size_t)n < cap);
}

static void test_admin_tokens_checked(void **state)
{
	af_config *cfg = new_cfg();
	char json[512], name[80];

	(void)state;
	token_json(
		json, sizeof(json), "Ops.Team_1-a", "admin",
		"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
	parse_ok(json, cfg);
	assert_int_equal(cfg->admin_token_count, 1);
	assert_int_equal(cfg->admin_tokens[0].sha256[0], 0xba);
	assert_int_equal(cfg->admin_tokens[0].role, AF_ROLE_ADMIN);
	memset(name, 'n', 63);
	name[63] = '\0';
	token_json(json, sizeof(json), name, "admin", HASH_A);
	parse_ok(json, cfg);
	name[63] = 'n';
	name[64] = '\0';
	token_json(json, sizeof(json), name, "admin", HASH_A);
	refused(json, "admin.tokens[0].name: must be at most 63 bytes");
	token_json(json, sizeof(json), "", "admin", HASH_A);
	refused(json, "admin.tokens[0].name");
	token_json(json, sizeof(json), "ops team", "admin", HASH_A);
	refused(json, "admin.tokens[0].name: may hold only");
	token_json(json, sizeof(json), "ops", "root", HASH_A);
	refused(json, "admin.tokens[0].role: must be");
	token_json(json, sizeof(json), "ops", "admin", "abc");
	refused(json, "admin.tokens[0].sha256: must be 64 hex");
	token_json(
		json, sizeof(json), "ops", "admin",
		"ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	refused(json, "admin.tokens[0].sha256: must be 64 hex");
	token_json(json, sizeof(json), "ops", "admin", HASH_A "00");
	refused(json, "admin.tokens[0].sha256");
	refused("{" ISSUER ",\"admin\":{\"tokens\":[{\"name\":\"a\","
		"\"role\":\"admin\"}]}}",
		"admin.tokens[0].sha256: required");
	refused("{" ISSUER ",\"admin\":{\"tokens\":[{\"role\":\"admin\","
		"\"sha256\":\"" HASH_A "\"}]}}",
		"admin.tokens[0].name: required");
	free(cfg);
}

static void test_admin_tokens_reserved_actor_names_refused(void **state)
{
	static const char *const reserved[] = {"authflow", "AuthFlow", "-",
					       "demo", "DEMO"};
	/* Actors of the server's own events, which names cannot hold. */
	static const char *const colon[] = {"ip:10.0.0.1", "user:alice",
					    "device:abc", "IP:x"};
	/* Near them, but no actor the server writes. */
	static const char *const fine[] = {"authflow-ops", "ip", "user",
					   "device-admin", "--", "demo2"};
	af_config *cfg = new_cfg();
	char json[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		token_json(json, sizeof(json), reserved[i], "admin", HASH_A);
		refused(json, "admin.tokens[0].name: \"");
		refused(json, "\" is reserved: the audit trail and logs use");
	}
	for (i = 0; i < sizeof(colon) / sizeof(colon[0]); i++) {
		token_json(json, sizeof(json), colon[i], "admin", HASH_A);
		refused(json, "admin.tokens[0].name: ");
	}
	for (i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		token_json(json, sizeof(json), fine[i], "admin", HASH_A);
		parse_ok(json, cfg);
	}
	/* The second entry is named in the path, not just the first. */
	refused("{" ISSUER ",\"admin\":{\"tokens\":["
		"{\"name\":\"ops\",\"role\":\"admin\",\"sha256\":\"" HASH_A
		"\"},"
		"{\"name\":\"authflow\",\"role\":\"superadmin\",\"sha256\":"
		"\"" HASH_B "\"}]}}",
		"admin.tokens[1].name: \"authflow\" is reserved");
	free(cfg);
}

static void test_admin_tokens_empty_string_hash_refused(void **state)
{
	char json[512];

	(void)state;
	token_json(json, sizeof(json), "ops", "admin", HASH_EMPTY);
	refused(json, "admin.tokens[0].sha256: is the SHA-256 of an empty "
		      "token, which can never match");
	/* In upper case too: the hex is read, not the text compared. */
	token_json(
		json, sizeof(json), "ops", "admin",
		"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
	refused(json, "admin.tokens[0].sha256: is the SHA-256 of an empty");
}

static void test_admin_tokens_duplicates_refused(void **state)
{
	(void)state;
	refused("{" ISSUER ",\"admin\":{\"tokens\":["
		"{\"name\":\"ops\",\"role\":\"admin\",\"sha256\":\"" HASH_A
		"\"},"
		"{\"name\":\"ops\",\"role\":\"admin\",\"sha256\":\"" HASH_B
		"\"}]}}",
		"admin.tokens[1].name: duplicate name");
	/* Names that differ only in case would read as one in many logs. */
	refused("{" ISSUER ",\"admin\":{\"tokens\":["
		"{\"name\":\"root-ops\",\"role\":\"superadmin\",\"sha256\":"
		"\"" HASH_A "\"},"
		"{\"name\":\"ROOT-OPS\",\"role\":\"admin\",\"sha256\":\"" HASH_B
		"\"}]}}",
		"admin.tokens[1].name: duplicate name \"ROOT-OPS\" (token "
		"names must differ, and in more than case)");
	refused("{" ISSUER ",\"admin\":{\"tokens\":["
		"{\"name\":\"a\",\"role\":\"admin\",\"sha256\":\"" HASH_A "\"},"
		"{\"name\":\"b\",\"role\":\"superadmin\",\"sha256\":\"" HASH_A
		"\"}]}}",
		"admin.tokens[1].sha256: same token as admin.tokens[0]");
}

/* Builds a config with n distinct admin tokens. */
static char *many_tokens_json(size_t n)
{
	size_t cap = 128 + n * 160, len;
	char *json = malloc(cap);
	size_t i;

	assert_non_null(json);
	len = (size_t)snprintf(json, cap,
			       "{" ISSUER ",\"admin\":{\"tokens\":[");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(
			json + len, cap - len,
			"%s{\"name\":\"t%zu\",\"role\":\"admin\",\"sha256\":"
			"\"%064zx\"}",
			i == 0 ? "" : ",", i, i);
	(void)snprintf(json + len, cap - len, "]}}");
	return json;
}

static void test_admin_tokens_count_limit(void **state)
{
	af_config *cfg = new_cfg();
	char *json = many_tokens_json(AF_CONFIG_ADMIN_TOKENS_MAX);

	(void)state;
	parse_ok(json, cfg);
	assert_int_equal(cfg->admin_token_count, AF_CONFIG_ADMIN_TOKENS_MAX);
	assert_string_equal(cfg->admin_tokens[63].name, "t63");
	assert_int_equal(cfg->admin_tokens[63].sha256[31], 63);
	free(json);
	json = many_tokens_json(AF_CONFIG_ADMIN_TOKENS_MAX + 1);
	refused(json, "admin.tokens: at most 64");
	free(json);
	free(cfg);
}

static void test_limits_checked(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	assert_int_equal(cfg->connections_per_ip, 0);
	parse_ok("{" ISSUER ",\"limits\":{\"body_bytes\":1024,"
		 "\"request_timeout_s\":1,\"connections_per_ip\":16}}",
		 cfg);
	assert_int_equal(cfg->body_max, 1024);
	assert_int_equal(cfg->request_timeout_s, 1);
	assert_int_equal(cfg->connections_per_ip, 16);
	assert_int_equal(cfg->lockout_s, 1800);
	assert_int_equal(cfg->ntrusted_proxies, 0);
	assert_int_equal(cfg->flows_per_ip, 10000);
	refused("{" ISSUER ",\"limits\":{\"flows_per_ip\":1000001}}",
		"limits.flows_per_ip: must be 0..1000000");
	assert_int_equal(cfg->codes_per_user, 120);
	refused("{" ISSUER ",\"limits\":{\"codes_per_user\":100001}}",
		"limits.codes_per_user: must be 0..100000");
	parse_ok("{" ISSUER ",\"limits\":{\"codes_per_user\":0}}", cfg);
	assert_int_equal(cfg->codes_per_user, 0);
	assert_int_equal(cfg->device_requests_per_minute, 120);
	refused("{" ISSUER
		",\"limits\":{\"device_requests_per_minute\":100001}}",
		"limits.device_requests_per_minute: must be 0..100000");
	parse_ok("{" ISSUER ",\"limits\":{\"device_requests_per_minute\":0}}",
		 cfg);
	assert_int_equal(cfg->device_requests_per_minute, 0);
	parse_ok("{" ISSUER ",\"listen\":{\"trusted_proxies\":[\"127.0.0.1\","
		 "\"10.0.0.0/8\",\"::1\"]}}",
		 cfg);
	assert_int_equal(cfg->ntrusted_proxies, 3);
	assert_true(af_ipnet_match(cfg->trusted_proxies, 3, "10.9.9.9"));
	refused("{" ISSUER
		",\"listen\":{\"trusted_proxies\":[\"10.1.0.0/8\"]}}",
		"listen.trusted_proxies[0]: must be an IP address or a network");
	refused("{" ISSUER ",\"listen\":{\"trusted_proxies\":\"127.0.0.1\"}}",
		"listen.trusted_proxies: must be an array");
	parse_ok("{" ISSUER ",\"limits\":{\"lockout_s\":0}}", cfg);
	assert_int_equal(cfg->lockout_s, 0);
	refused("{" ISSUER ",\"limits\":{\"lockout_s\":2592001}}",
		"limits.lockout_s: must be 0..2592000");
	assert_int_equal(cfg->lockout_after, 10);
	parse_ok("{" ISSUER ",\"limits\":{\"lockout_after\":3}}", cfg);
	assert_int_equal(cfg->lockout_after, 3);
	refused("{" ISSUER ",\"limits\":{\"lockout_after\":2}}",
		"limits.lockout_after: must be 3..99");
	refused("{" ISSUER ",\"limits\":{\"lockout_after\":100}}",
		"limits.lockout_after: must be 3..99");
	assert_int_equal(cfg->known_browser_days, 180);
	parse_ok("{" ISSUER ",\"limits\":{\"known_browser_days\":0}}", cfg);
	assert_int_equal(cfg->known_browser_days, 0);
	parse_ok("{" ISSUER ",\"limits\":{\"known_browser_days\":400}}", cfg);
	assert_int_equal(cfg->known_browser_days, 400);
	refused("{" ISSUER ",\"limits\":{\"known_browser_days\":401}}",
		"limits.known_browser_days: must be 0..400");
	refused("{" ISSUER ",\"limits\":{\"connections_per_ip\":65536}}",
		"limits.connections_per_ip: must be 0..65535");
	refused("{" ISSUER ",\"limits\":{\"connections_per_ip\":-1}}",
		"limits.connections_per_ip");
	refused("{" ISSUER ",\"limits\":{\"body_bytes\":1023}}",
		"limits.body_bytes: must be 1024..1048576");
	refused("{" ISSUER ",\"limits\":{\"body_bytes\":1048577}}",
		"limits.body_bytes");
	refused("{" ISSUER ",\"limits\":{\"request_timeout_s\":0}}",
		"limits.request_timeout_s: must be 1..300");
	refused("{" ISSUER ",\"limits\":{\"request_timeout_s\":301}}",
		"limits.request_timeout_s");
	/* jansson itself refuses integers beyond 64 bits, by position. */
	refused("{" ISSUER ",\"limits\":{\"body_bytes\":"
		"99999999999999999999999}}",
		"too big integer");
	free(cfg);
}

static void test_metrics_allow_loopback_by_default(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	af_config_defaults(cfg);
	assert_int_equal(cfg->nmetrics_allow, 2);
	parse_ok("{" ISSUER "}", cfg);
	assert_int_equal(cfg->nmetrics_allow, 2);
	assert_true(af_ipnet_match(cfg->metrics_allow, cfg->nmetrics_allow,
				   "127.0.0.1"));
	assert_true(af_ipnet_match(cfg->metrics_allow, cfg->nmetrics_allow,
				   "127.8.9.10"));
	assert_true(
		af_ipnet_match(cfg->metrics_allow, cfg->nmetrics_allow, "::1"));
	assert_false(af_ipnet_match(cfg->metrics_allow, cfg->nmetrics_allow,
				    "203.0.113.7"));
	assert_false(
		af_ipnet_match(cfg->metrics_allow, cfg->nmetrics_allow, "::2"));
	/* An empty section keeps the default. */
	parse_ok("{" ISSUER ",\"metrics\":{}}", cfg);
	assert_int_equal(cfg->nmetrics_allow, 2);
	free(cfg);
}

static void test_metrics_allow_checked(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER ",\"metrics\":{\"allow\":[\"10.1.2.0/24\","
		 "\"2001:db8::/32\",\"192.0.2.9\"]}}",
		 cfg);
	assert_int_equal(cfg->nmetrics_allow, 3);
	assert_true(af_ipnet_match(cfg->metrics_allow, 3, "10.1.2.200"));
	assert_true(af_ipnet_match(cfg->metrics_allow, 3, "2001:db8::5"));
	assert_true(af_ipnet_match(cfg->metrics_allow, 3, "192.0.2.9"));
	/* The list replaces the default: loopback is no longer in it. */
	assert_false(af_ipnet_match(cfg->metrics_allow, 3, "127.0.0.1"));
	/* Empty: nobody may read the metrics. */
	parse_ok("{" ISSUER ",\"metrics\":{\"allow\":[]}}", cfg);
	assert_int_equal(cfg->nmetrics_allow, 0);
	refused("{" ISSUER ",\"metrics\":{\"allow\":\"127.0.0.1\"}}",
		"metrics.allow: must be an array");
	refused("{" ISSUER
		",\"metrics\":{\"allow\":[\"127.0.0.1\",\"10.1.0.0/8\"]}}",
		"metrics.allow[1]: must be an IP address or a network");
	refused("{" ISSUER ",\"metrics\":{\"allow\":[\"127.0.0.1\",7]}}",
		"metrics.allow[1]: must be an IP address or a network");
	refused("{" ISSUER ",\"metrics\":{\"allow\":[\"localhost\"]}}",
		"metrics.allow[0]: must be an IP address or a network");
	refused("{" ISSUER
		",\"metrics\":{\"allow\":[\"1.0.0.1\",\"1.0.0.2\",\"1.0.0.3\","
		"\"1.0.0.4\",\"1.0.0.5\",\"1.0.0.6\",\"1.0.0.7\",\"1.0.0.8\","
		"\"1.0.0.9\",\"1.0.0.10\",\"1.0.0.11\",\"1.0.0.12\","
		"\"1.0.0.13\",\"1.0.0.14\",\"1.0.0.15\",\"1.0.0.16\","
		"\"1.0.0.17\"]}}",
		"metrics.allow: at most 16 entries");
	refused("{" ISSUER ",\"metrics\":{\"alow\":[]}}",
		"metrics.alow: unknown key");
	refused("{" ISSUER ",\"metrics\":[]}", "metrics: must be an object");
	free(cfg);
}

static void test_admin_allow(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	/* Absent: every address may use the admin API. */
	parse_ok("{" ISSUER ",\"admin\":{\"tokens\":[]}}", cfg);
	assert_int_equal(cfg->admin_allow_set, 0);
	parse_ok("{" ISSUER ",\"admin\":{\"allow\":[\"10.9.0.0/16\","
		 "\"::1\"]}}",
		 cfg);
	assert_int_equal(cfg->admin_allow_set, 1);
	assert_int_equal(cfg->nadmin_allow, 2);
	assert_true(af_ipnet_match(cfg->admin_allow, 2, "10.9.200.1"));
	assert_true(af_ipnet_match(cfg->admin_allow, 2, "::1"));
	assert_false(af_ipnet_match(cfg->admin_allow, 2, "127.0.0.1"));
	/* Set and empty: nobody may. */
	parse_ok("{" ISSUER ",\"admin\":{\"allow\":[]}}", cfg);
	assert_int_equal(cfg->admin_allow_set, 1);
	assert_int_equal(cfg->nadmin_allow, 0);
	refused("{" ISSUER ",\"admin\":{\"allow\":\"10.0.0.0/8\"}}",
		"admin.allow: must be an array");
	refused("{" ISSUER ",\"admin\":{\"allow\":[\"10.0.0.0/8\","
		"\"example.com\"]}}",
		"admin.allow[1]: must be an IP address or a network");
	refused("{" ISSUER ",\"admin\":{\"allowed\":[]}}",
		"admin.allowed: unknown key");
	free(cfg);
}

static void test_parse_refusal_leaves_defaults(void **state)
{
	af_config *cfg = new_cfg();
	static const char json[] = "{\"issuer\":\"https://id.example.com\","
				   "\"listen\":{\"port\":9000},"
				   "\"log\":{\"level\":\"loud\"}}";

	(void)state;
	assert_int_equal(af_config_parse(json, strlen(json), cfg, NULL, 0), -1);
	assert_string_equal(cfg->issuer, "");
	assert_int_equal(cfg->listen_port, 8080);
	free(cfg);
}

static void test_parse_bad_arguments_refused(void **state)
{
	af_config *cfg = new_cfg();
	char err[8] = "";
	char *big;

	(void)state;
	assert_int_equal(af_config_parse("{}", 2, NULL, NULL, 0), -1);
	assert_int_equal(af_config_parse(NULL, 2, cfg, NULL, 0), -1);
	assert_int_equal(af_config_parse(NULL, 0, cfg, NULL, 0), -1);
	/* A short error buffer is cut, never overrun. */
	assert_int_equal(af_config_parse("[]", 2, cfg, err, sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	big = calloc(1, (size_t)AF_CONFIG_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', (size_t)AF_CONFIG_FILE_MAX + 1);
	assert_int_equal(af_config_parse(big, (size_t)AF_CONFIG_FILE_MAX + 1,
					 cfg, NULL, 0),
			 -1);
	free(big);
	free(cfg);
}

static void test_duration_parse_values(void **state)
{
	static const struct {
		const char *in;
		unsigned out;
	} ok[] = {{"off", 0},
		  {"0", 0},
		  {"90", 90},
		  {"90s", 90},
		  {"30m", 1800},
		  {"2h", 7200},
		  {"4d", 345600},
		  {"007s", 7},
		  {"4294967295", UINT_MAX},
		  {"49710d", 49710u * 86400u}};
	static const char *const bad[] = {
		"",	      "-1",
		"+1",	      " 1",
		"1 ",	      "1x",
		"1hh",	      "h",
		"1.5h",	      "0x10",
		"4294967296", "49711d",
		"71582789m",  "99999999999999999999999",
		"OFF",	      "off ",
		"1S"};
	unsigned v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 12345;
		assert_int_equal(af_duration_parse(ok[i].in, &v), 0);
		assert_int_equal(v, ok[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (af_duration_parse(bad[i], &v) != -1)
			print_error("accepted \"%s\"\n", bad[i]);
		assert_int_equal(af_duration_parse(bad[i], &v), -1);
	}
	assert_int_equal(af_duration_parse(NULL, &v), -1);
	assert_int_equal(af_duration_parse("2h", NULL), -1);
}

static void test_load_example_files_parse(void **state)
{
	af_config *cfg = new_cfg();
	char err[512] = "";
	int rc;

	(void)state;
	rc = af_config_load(AF_SOURCE_DIR "/deploy/authflow.example.json", cfg,
			    err, sizeof(err));
	if (rc != 0)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->issuer_https, 1);
	assert_int_equal(cfg->store_backend, STORE_BACKEND_REDIS);
	assert_true(cfg->admin_token_count >= 1);
	assert_int_equal(cfg->pw_min_length, 12);
	assert_int_equal(cfg->accounts_inactive_days, 90);
	assert_int_equal(cfg->audit_keep_days, 400);
	assert_int_equal(cfg->session_idle_s, 1800);

	rc = af_config_load(AF_SOURCE_DIR "/deploy/authflow.dev.json", cfg, err,
			    sizeof(err));
	if (rc != 0)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->issuer_https, 0);
	assert_int_equal(cfg->store_backend, STORE_BACKEND_MEMORY);
	assert_string_equal(cfg->state_dir, "./state");
	assert_int_equal(cfg->admin_token_count, 1);
	free(cfg);
}

/*
 * Read again while running: a named file that fails its check does not
 * refuse the file (its admin tokens must apply); the failure is told.
 */
static void test_load_later_defers_named_files(void **state)
{
	struct files *f = *state;
	af_config *cfg = new_cfg();
	char err[512] = "", later[512] = "x", json[1024];

	(void)snprintf(json, sizeof(json),
		       "{" ISSUER ",\"passwords\":{\"blocklist_file\":"
		       "\"%s/gone.txt\"}}",
		       f->dir);
	write_file(f->extra, json, 0600);
	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "passwords.blocklist_file: "));
	assert_int_equal(af_config_load_later(f->extra, cfg, err, sizeof(err),
					      later, sizeof(later)),
			 0);
	/* "key: path: why" */
	assert_int_equal(strncmp(later, "passwords.blocklist_file: ", 26), 0);
	assert_non_null(strstr(later, "/gone.txt: "));
	/* The text itself is still checked. */
	write_file(f->extra, "{" ISSUER ",\"listen\":{\"port\":0}}", 0600);
	assert_int_equal(af_config_load_later(f->extra, cfg, err, sizeof(err),
					      later, sizeof(later)),
			 -1);
	assert_string_equal(later, "");
	/* Nothing to defer: later is empty. */
	write_file(f->extra, "{" ISSUER "}\n", 0600);
	assert_int_equal(af_config_load_later(f->extra, cfg, err, sizeof(err),
					      later, sizeof(later)),
			 0);
	assert_string_equal(later, "");
	free(cfg);
}

static void test_load_io_errors_name_the_path(void **state)
{
	struct files *f = *state;
	af_config *cfg = new_cfg();
	char err[512] = "", fifo[PATH_MAX];
	char *big;
	size_t len;

	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, f->extra, strlen(f->extra)), 0);
	assert_non_null(strstr(err, "cannot open"));

	assert_int_equal(af_config_load(f->dir, cfg, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, f->dir, strlen(f->dir)), 0);

	/* A FIFO nobody writes to is refused at once, not waited on. */
	(void)snprintf(fifo, sizeof(fifo), "%s/fifo.json", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(af_config_load(fifo, cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(unlink(fifo), 0);

	len = (size_t)AF_CONFIG_FILE_MAX + 1;
	big = malloc(len + 1);
	assert_non_null(big);
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	big[len] = '\0';
	write_file(f->extra, big, 0600);
	free(big);
	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, f->extra, strlen(f->extra)), 0);
	assert_non_null(strstr(err, "larger than"));

	write_file(f->extra, "{" ISSUER ",\"listen\":{\"port\":0}}", 0600);
	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, f->extra, strlen(f->extra)), 0);
	assert_non_null(strstr(err, "listen.port: must be 1..65535"));

	write_file(f->extra, "{" ISSUER "}\n", 0600);
	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->issuer, "https://id.example.com");
	assert_int_equal(af_config_load(NULL, cfg, err, sizeof(err)), -1);
	free(cfg);
}

/*
 * A file its group or others may change, or that another user owns,
 * could name new administrators: refused. Read access is the owner's
 * choice (0644 without secrets, 0640 for the service's group).
 */
static void test_load_file_others_may_change_refused(void **state)
{
	static const char json[] = "{" ISSUER "}";
	struct files *f = *state;
	af_config *cfg = new_cfg();
	char err[512] = "";

	write_file(f->extra, json, 0666);
	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has mode 0666"));
	assert_non_null(strstr(err, "chmod go-w"));
	write_file(f->extra, json, 0620);
	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has mode 0620"));
	for (mode_t m = 0600; m <= 0644; m += 044) {
		write_file(f->extra, json, m);
		assert_int_equal(
			af_config_load(f->extra, cfg, err, sizeof(err)), 0);
	}
	/* Owned by another user (only root may give a file away). */
	if (geteuid() == 0) {
		write_file(f->extra, json, 0600);
		assert_int_equal(chown(f->extra, 65534, 65534), 0);
		assert_int_equal(
			af_config_load(f->extra, cfg, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "is owned by user 65534"));
		assert_int_equal(chown(f->extra, 0, 0), 0);
	}
	free(cfg);
}

/* The store's password in a file others may read: refused, unquoted. */
static void test_load_store_password_readable_by_others_refused(void **state)
{
	static const char with_pw[] =
		"{" ISSUER ",\"store\":{\"backend\":\"redis\","
		"\"url\":\"redis://af:Pw9xS3cret@127.0.0.1:6379\"}}";
	static const char without[] =
		"{" ISSUER ",\"store\":{\"backend\":\"redis\","
		"\"url\":\"redis://127.0.0.1:6379/0\"}}";
	struct files *f = *state;
	af_config *cfg = new_cfg();
	char err[512] = "";

	write_file(f->extra, with_pw, 0644);
	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has mode 0644"));
	assert_non_null(strstr(err, "chmod o-rwx"));
	assert_null(strstr(err, "Pw9x"));
	assert_null(strstr(cfg->store_url, "Pw9x"));
	write_file(f->extra, with_pw, 0640);
	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), 0);
	write_file(f->extra, without, 0644);
	assert_int_equal(af_config_load(f->extra, cfg, err, sizeof(err)), 0);
	free(cfg);
}

/* ---- push ------------------------------------------------------------ */

#define REDIS "\"store\":{\"backend\":\"redis\",\"url\":\"redis://r:6379\"}"

static void test_push_defaults_follow_store(void **state)
{
	af_config *cfg = new_cfg();

	(void)state;
	parse_ok("{" ISSUER "}", cfg);
	assert_int_equal(cfg->push_mode, AF_PUSH_EMBEDDED);
	assert_int_equal(cfg->push_workers, 0);
	assert_string_equal(cfg->push_listen_address, "127.0.0.1");
	assert_int_equal(cfg->push_listen_port, 9465);
	assert_int_equal(cfg->push_names, 1);
	assert_int_equal(cfg->push_apns, 0);
	assert_int_equal(cfg->push_fcm, 0);
	assert_string_equal(cfg->apns.endpoint, "https://api.push.apple.com");
	assert_string_equal(cfg->apns.sandbox_endpoint,
			    "https://api.sandbox.push.apple.com");
	assert_string_equal(cfg->fcm.endpoint, "https://fcm.googleapis.com");
	parse_ok("{" ISSUER "," REDIS "}", cfg);
	assert_int_equal(cfg->push_mode, AF_PUSH_DAEMON);
	parse_ok("{" ISSUER "," REDIS ",\"push\":{\"mode\":\"embedded\","
		 "\"workers\":3,\"listen\":{\"address\":\"::1\",\"port\":"
		 "9999}}}",
		 cfg);
	assert_int_equal(cfg->push_mode, AF_PUSH_EMBEDDED);
	assert_int_equal(cfg->push_workers, 3);
	assert_string_equal(cfg->push_listen_address, "::1");
	assert_int_equal(cfg->push_listen_port, 9999);
	parse_ok("{" ISSUER ",\"push\":{\"names\":false}}", cfg);
	assert_int_equal(cfg->push_names, 0);
	free(cfg);
}

static void test_push_daemon_with_memory_store_refused(void **state)
{
	(void)state;
	refused("{" ISSUER ",\"push\":{\"mode\":\"daemon\"}}",
		"push.mode: \"daemon\" needs store.backend \"redis\"");
	refused("{" ISSUER ",\"store\":{\"backend\":\"memory\"},"
		"\"push\":{\"mode\":\"daemon\"}}",
		"push.mode");
}

static void test_push_values_checked(void **state)
{
	(void)state;
	refused("{" ISSUER ",\"push\":{\"mode\":\"both\"}}",
		"push.mode: must be \"embedded\" or \"daemon\"");
	refused("{" ISSUER ",\"push\":{\"workers\":257}}",
		"push.workers: must be 0..256");
	refused("{" ISSUER ",\"push\":{\"names\":\"no\"}}", "push.names: ");
	refused("{" ISSUER ",\"push\":{\"workers\":\"2\"}}",
		"push.workers: must be an integer");
	refused("{" ISSUER ",\"push\":{\"listen\":{\"port\":0}}}",
		"push.listen.port: must be 1..65535");
	refused("{" ISSUER ",\"push\":{\"listen\":{\"address\":\"host\"}}}",
		"push.listen.address");
	refused("{" ISSUER ",\"push\":{\"sms\":{}}}", "push.sms: unknown key");
	refused("{" ISSUER ",\"push\":[]}", "push: must be an object");
	refused("{" ISSUER ",\"push\":{\"apns\":{}}}",
		"push.apns.team_id: required when push.apns is set");
	refused("{" ISSUER ",\"push\":{\"apns\":{\"team_id\":\"ABCDE12345\","
		"\"key_id\":\"KEY1234567\",\"key_file\":\"/x\",\"topic\":\"t\","
		"\"colour\":1}}}",
		"push.apns.colour: unknown key");
	refused("{" ISSUER ",\"push\":{\"fcm\":{\"endpoint\":"
		"\"https://f.example\"}}}",
		"push.fcm.service_account_file: required");
}

/* A complete push section over the fixture's key files. */
static void push_json(const struct files *f, const char *apns_extra, char *out,
		      size_t cap)
{
	int n = snprintf(
		out, cap,
		"{" ISSUER "," REDIS ",\"push\":{\"apns\":{\"team_id\":"
		"\"ABCDE12345\",\"key_id\":\"KEY1234567\",\"key_file\":\"%s\","
		"\"topic\":\"com.example.auth\",\"ca_file\":\"%s\"%s},"
		"\"fcm\":{\"service_account_file\":\"%s\",\"endpoint\":"
		"\"https://127.0.0.1:8443/\",\"token_uri\":"
		"\"https://127.0.0.1:8443/token\",\"connections\":2}}}",
		f->key, f->cert, apns_extra, f->extra);

	assert_true(n > 0 && (size_t)n < cap);
}

static void test_push_sections_read(void **state)
{
	struct files *f = *state;
	af_config *cfg = new_cfg();
	char json[2048];

	write_file(f->cert, "ca\n", 0644);
	write_file(f->key, "p8\n", 0600);
	write_file(f->extra, "{}\n", 0400);
	push_json(f,
		  ",\"endpoint\":\"https://apns.example:8443/\","
		  "\"sandbox_endpoint\":\"https://sandbox.example\"",
		  json, sizeof(json));
	parse_ok(json, cfg);
	assert_int_equal(cfg->push_mode, AF_PUSH_DAEMON);
	assert_int_equal(cfg->push_apns, 1);
	assert_string_equal(cfg->apns.team_id, "ABCDE12345");
	assert_string_equal(cfg->apns.key_id, "KEY1234567");
	assert_string_equal(cfg->apns.key_file, f->key);
	assert_string_equal(cfg->apns.topic, "com.example.auth");
	assert_string_equal(cfg->apns.ca_file, f->cert);
	/* One trailing slash is dropped: paths are appended to it. */
	assert_string_equal(cfg->apns.endpoint, "https://apns.example:8443");
	assert_string_equal(cfg->apns.sandbox_endpoint,
			    "https://sandbox.example");
	assert_int_equal(cfg->apns.connections, 1);
	assert_int_equal(cfg->push_fcm, 1);
	assert_string_equal(cfg->fcm.service_account_file, f->extra);
	assert_string_equal(cfg->fcm.endpoint, "https://127.0.0.1:8443");
	assert_string_equal(cfg->fcm.token_uri, "https://127.0.0.1:8443/token");
	assert_int_equal(cfg->fcm.connections, 2);
	free(cfg);
}

static void test_push_bad_values_refused(void **state)
{
	struct files *f = *state;
	char json[2048], want[256];

	write_file(f->cert, "ca\n", 0644);
	write_file(f->key, "p8\n", 0600);
	write_file(f->extra, "{}\n", 0600);
	push_json(f, ",\"endpoint\":\"http://apns.example\"", json,
		  sizeof(json));
	refused(json, "push.apns.endpoint: must be an https:// URL");
	push_json(f, ",\"endpoint\":\"https://a.example/x y\"", json,
		  sizeof(json));
	refused(json, "push.apns.endpoint: character 20 is not allowed");
	/* What libcurl would not send to, or not where meant. */
	push_json(f, ",\"endpoint\":\"https://127.0.0.1:99999\"", json,
		  sizeof(json));
	refused(json, "push.apns.endpoint: not a URL");
	push_json(f, ",\"endpoint\":\"https://127.0.0.1:8443/path\"", json,
		  sizeof(json));
	refused(json, "push.apns.endpoint: must be the service's root");
	push_json(f, ",\"endpoint\":\"https://apns.example:0\"", json,
		  sizeof(json));
	refused(json, "push.apns.endpoint: port must be 1..65535");
	push_json(f, ",\"sandbox_endpoint\":\"https://me@apns.example\"", json,
		  sizeof(json));
	refused(json, "push.apns.sandbox_endpoint: must not hold a user name");
	push_json(f, ",\"endpoint\":\"https://:8443\"", json, sizeof(json));
	refused(json, "push.apns.endpoint: ");
	push_json(f, ",\"connections\":0", json, sizeof(json));
	refused(json, "push.apns.connections: must be 1..16");
	push_json(f, ",\"team_id\":\"abcde12345\"", json, sizeof(json));
	refused(json, "duplicate");
	/* The key files are refused when others may read them. */
	push_json(f, "", json, sizeof(json));
	assert_int_equal(chmod(f->key, 0640), 0);
	(void)snprintf(want, sizeof(want),
		       "push.apns.key_file: %s has mode 0640", f->key);
	refused(json, want);
	assert_int_equal(chmod(f->key, 0600), 0);
	assert_int_equal(chmod(f->extra, 0644), 0);
	refused(json, "push.fcm.service_account_file");
	assert_int_equal(chmod(f->extra, 0600), 0);
	assert_int_equal(unlink(f->cert), 0);
	refused(json, "push.apns.ca_file");
	/* Ids: ten characters of A-Z and 0-9. */
	refused("{" ISSUER ",\"push\":{\"apns\":{\"team_id\":\"ABCDE1234\","
		"\"key_id\":\"KEY1234567\",\"key_file\":\"/x\",\"topic\":"
		"\"t\"}}}",
		"push.apns.team_id: must be 10 characters");
	refused("{" ISSUER ",\"push\":{\"apns\":{\"team_id\":\"ABCDE12345\","
		"\"key_id\":\"key1234567\",\"key_file\":\"/x\",\"topic\":"
		"\"t\"}}}",
		"push.apns.key_id: must be 10 characters");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_every_key_set),
		cmocka_unit_test(
			test_defaults_function_matches_parsed_defaults),
		cmocka_unit_test(test_parse_every_key_set_values_read),
		cmocka_unit_test(test_parse_syntax_error_line_and_column),
		cmocka_unit_test(test_parse_top_level_not_object_refused),
		cmocka_unit_test(test_parse_duplicate_keys_refused),
		cmocka_unit_test(test_parse_unknown_keys_refused),
		cmocka_unit_test(test_parse_wrong_types_refused),
		cmocka_unit_test(test_issuer_forms_accepted),
		cmocka_unit_test(test_issuer_bad_forms_refused),
		cmocka_unit_test(test_issuer_length_limit),
		cmocka_unit_test(test_listen_values_checked),
		cmocka_unit_test_setup_teardown(test_tls_files_accepted,
						files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(test_tls_key_mode_0644_refused,
						files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(
			test_tls_missing_or_bad_files_refused, files_setup,
			files_teardown),
		cmocka_unit_test(test_state_dir_checked),
		cmocka_unit_test(test_store_values_checked),
		cmocka_unit_test(test_keys_values_checked),
		cmocka_unit_test(test_session_timeout_checked),
		cmocka_unit_test(test_session_idle_timeout_checked),
		cmocka_unit_test(test_log_level_values),
		cmocka_unit_test(test_password_min_length),
		cmocka_unit_test(test_accounts_inactive_days),
		cmocka_unit_test(test_audit_keep_days),
		cmocka_unit_test(test_password_blocklist_file),
		cmocka_unit_test(test_argon2_values_checked),
		cmocka_unit_test(test_admin_tokens_checked),
		cmocka_unit_test(
			test_admin_tokens_reserved_actor_names_refused),
		cmocka_unit_test(test_admin_tokens_empty_string_hash_refused),
		cmocka_unit_test(test_admin_tokens_duplicates_refused),
		cmocka_unit_test(test_admin_tokens_count_limit),
		cmocka_unit_test(test_limits_checked),
		cmocka_unit_test(test_metrics_allow_loopback_by_default),
		cmocka_unit_test(test_metrics_allow_checked),
		cmocka_unit_test(test_admin_allow),
		cmocka_unit_test(test_parse_refusal_leaves_defaults),
		cmocka_unit_test(test_parse_bad_arguments_refused),
		cmocka_unit_test(test_duration_parse_values),
		cmocka_unit_test(test_load_example_files_parse),
		cmocka_unit_test_setup_teardown(
			test_load_io_errors_name_the_path, files_setup,
			files_teardown),
		cmocka_unit_test_setup_teardown(
			test_load_later_defers_named_files, files_setup,
			files_teardown),
		cmocka_unit_test_setup_teardown(
			test_load_store_password_readable_by_others_refused,
			files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(
			test_load_file_others_may_change_refused, files_setup,
			files_teardown),
		cmocka_unit_test(test_push_defaults_follow_store),
		cmocka_unit_test(test_push_daemon_with_memory_store_refused),
		cmocka_unit_test(test_push_values_checked),
		cmocka_unit_test_setup_teardown(test_push_sections_read,
						files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(test_push_bad_values_refused,
						files_setup, files_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
