/*
 * authflow: the identity provider daemon.
 *
 *   authflow --config FILE           run with a configuration file
 *   authflow --check-config FILE     check a configuration file (and the
 *                                    state folder, store URL and push
 *                                    credentials it names) and exit
 *   authflow --demo [--port N] [--state-dir DIR]
 *                                    run the demo on loopback
 *
 * SIGTERM or SIGINT stops it gracefully: no new connections, in-flight
 * requests finish (up to 10 seconds); a second one ends it at once (see
 * common/stopsig.h).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjose/util.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "common/cli.h"
#include "common/secmem.h"
#include "common/stopsig.h"
#include "common/util.h"
#include "demo/demo.h"
#include "device/device.h"
#include "directory/audit.h"
#include "http/health.h"
#include "http/tlsfiles.h"
#include "mfa/seam.h"
#include "oidc/bclogout.h"
#include "pushd/pushd.h"
#include "server.h"
#include "session/session.h"

#define EXIT_USAGE	   2
#define GRACE_S		   10
/*
 * While the signing key is within keys.alert_days, the alert is logged
 * this often (and when that period starts).
 */
#define KEY_ALERT_EVERY_MS ((int64_t)24 * 3600 * 1000)
/* A failing attempt to make a signing key is logged at most this often. */
#define KEY_FAIL_EVERY_MS  ((int64_t)60 * 1000)

struct args {
	const char *config;
	const char *check;
	int demo;
	unsigned long port;
	const char *state_dir;
};

/* One line, whatever arg (from the command line) holds. */
static int usage_error(const char *msg, const char *arg)
{
	char line[AF_CLI_MSG_MAX];

	snprintf(line, sizeof(line), "%s%s%s", msg, arg != NULL ? ": " : "",
		 arg != NULL ? arg : "");
	af_cli_one_line(line);
	fprintf(stderr, "authflow: %s\n", line);
	return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", required_argument, NULL, 'k'},
		{"demo", no_argument, NULL, 'd'},
		{"port", required_argument, NULL, 'p'},
		{"state-dir", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char *end = NULL, msg[AF_CLI_MSG_MAX];
	const char *twice;
	uint64_t seen = 0;
	int c, at;

	opterr = 0;
	for (;;) {
		at = -1;
		c = getopt_long(argc, argv, ":h", opts, &at);
		if (c == -1)
			break;
		/* Given twice, which one was meant is anyone's guess. */
		twice = af_cli_given_twice(opts, c, at, &seen);
		if (twice != NULL) {
			snprintf(msg, sizeof(msg), "--%s given twice", twice);
			return usage_error(msg, NULL);
		}
		if ((c == 'c' || c == 'k' || c == 's') &&
		    af_cli_path_check(c == 'c'	 ? "--config"
				      : c == 'k' ? "--check-config"
						 : "--state-dir",
				      optarg, msg, sizeof(msg)) != 0)
			return usage_error(msg, NULL);
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case 'k':
			a->check = optarg;
			break;
		case 'd':
			a->demo = 1;
			break;
		case 'p':
			errno = 0;
			a->port = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] < '0' ||
			    optarg[0] > '9' || a->port < 1 || a->port > 65535)
				return usage_error("--port must be 1..65535",
						   optarg);
			break;
		case 's':
			a->state_dir = optarg;
			break;
		case 'h':
			printf("usage: authflow --config FILE\n"
			       "       authflow --check-config FILE\n"
			       "       authflow --demo [--port N] "
			       "[--state-dir DIR]\n"
			       "(the demo: port 8080, state in ./demo-state "
			       "unless given; see deploy/config.md for FILE)\n");
			exit(0);
		default:
			if (!af_cli_opt_refusal(c, argc, argv, msg,
						sizeof(msg)))
				snprintf(msg, sizeof(msg), "unknown option");
			fprintf(stderr, "authflow: %s; see 'authflow --help'\n",
				msg);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	/* Said first: without --demo, they are what is wrong. */
	if (!a->demo && (a->port != 0 || a->state_dir != NULL))
		return usage_error("--port and --state-dir go with --demo",
				   NULL);
	if ((a->config != NULL) + (a->check != NULL) + a->demo != 1)
		return usage_error("give exactly one of --config, "
				   "--check-config, --demo",
				   NULL);
	return 0;
}

/* The demo's configuration: loopback, memory store, a fresh admin token. */
static int demo_config(const struct args *a, af_config *cfg, char *token,
		       size_t tokencap)
{
	const char *dir = a->state_dir != NULL ? a->state_dir : "demo-state";
	unsigned port = a->port != 0 ? (unsigned)a->port : 8080;

	af_config_defaults(cfg);
	snprintf(cfg->issuer, sizeof(cfg->issuer), "http://127.0.0.1:%u", port);
	cfg->issuer_https = 0;
	snprintf(cfg->listen_address, sizeof(cfg->listen_address), "127.0.0.1");
	cfg->listen_port = (uint16_t)port;
	if (strlen(dir) >= sizeof(cfg->state_dir))
		return usage_error("--state-dir too long", NULL);
	memcpy(cfg->state_dir, dir, strlen(dir) + 1);
	cfg->store_backend = STORE_BACKEND_MEMORY;
	/* The demo's relying party calls back into the server. */
	cfg->threads = 4;
	if (af_random_token(32, token, tokencap) != 0)
		return 1;
	snprintf(cfg->admin_tokens[0].name, sizeof(cfg->admin_tokens[0].name),
		 "demo-admin");
	cfg->admin_tokens[0].role = AF_ROLE_SUPERADMIN;
	af_sha256(token, strlen(token), cfg->admin_tokens[0].sha256);
	cfg->admin_token_count = 1;
	return 0;
}

/*
 * Makes the demo's state folder, once its port is known to be free, so
 * that a refused start leaves nothing behind. 0, or 1 with the line said.
 */
static int demo_state_dir(const af_config *cfg)
{
	char why[128];

	if (mkdir(cfg->state_dir, 0700) == 0 || errno == EEXIST)
		return 0;
	af_errno_text(errno, why, sizeof(why));
	fprintf(stderr, "authflow: --state-dir: cannot make %s: %s\n",
		cfg->state_dir, why);
	return 1;
}

/*
 * The folder of this program, into dir (PATH_MAX), for the demo to name
 * authflowctl beside it; "" when /proc cannot say.
 */
static void own_folder(char *dir)
{
	ssize_t n = readlink("/proc/self/exe", dir, PATH_MAX - 1);
	char *slash;

	dir[n > 0 ? n : 0] = '\0';
	slash = strrchr(dir, '/');
	if (slash != NULL)
		slash[1] = '\0';
	else
		dir[0] = '\0';
}

/*
 * What the demo offers, with paths that work from any folder: the state
 * folder and authflowctl as absolute paths (as given, failing that).
 */
static void print_demo(const af_server *srv, const char *token)
{
	char state[PATH_MAX], bin[PATH_MAX];

	if (realpath(srv->cfg.state_dir, state) == NULL)
		snprintf(state, sizeof(state), "%s", srv->cfg.state_dir);
	own_folder(bin);
	printf("authflow demo is running.\n\n"
	       "  Open:          %s/demo  (user %s, password %s)\n"
	       "  Demo phone:    %s/demo/phone  (in another tab: approve "
	       "there)\n"
	       "  Metadata URL:  %s/.well-known/openid-configuration\n"
	       "  Client id:     %s\n"
	       "  Client secret: %s\n"
	       "  Redirect URIs: %s/demo/callback, "
	       "http://127.0.0.1:9000/login/callback\n"
	       "  Admin token:   %s\n"
	       "  Written to:    %s/demo.json\n\n"
	       "  Try: AUTHFLOW_URL=%s AUTHFLOW_ADMIN_TOKEN=%s "
	       "%sauthflowctl status\n"
	       "Stop with Ctrl-C.\n",
	       srv->cfg.issuer, AF_DEMO_USER, AF_DEMO_PASSWORD, srv->cfg.issuer,
	       srv->cfg.issuer, srv->demo_client_id, srv->demo_client_secret,
	       srv->cfg.issuer, token, state, srv->cfg.issuer, token, bin);
	fflush(stdout);
}

static int append_metrics(const char *text, size_t len, void *arg)
{
	af_buf_append(arg, text, len);
	return ((af_buf *)arg)->failed ? -1 : 0;
}

/* The embedded push workers' metrics, after the server's own. */
static void push_metrics(void *arg, af_buf *out)
{
	if (pushd_metrics_render(arg, append_metrics, out) != PUSHD_OK)
		af_buf_puts(out, "# push metrics unavailable\n");
}

/* What keys_watch() logged last (monotonic milliseconds; 0: never). */
struct key_watch {
	int64_t alert_ms;
	int64_t fail_ms;
};

/*
 * At start and once a second: the key ring looked after (see jose.h); the
 * signing key's successor published in /jwks a week before the signing
 * key expires, to take over at that instant, and a new signing key made
 * should none be current all the same, rather than leaving /token with
 * nothing to sign with (old keys stay in /jwks until their tokens have
 * expired); and the key alert logged when signing runs out within
 * keys.alert_days, then once a day, so that a server that runs for
 * months still says it.
 */
static void keys_watch(af_server *srv, struct key_watch *w)
{
	int64_t now = (int64_t)(af_mono_ns() / 1000000u);
	jose_status st;
	long days;

	af_keyring_look(srv->keys);
	st = af_keyring_ensure_current(srv->keys);
	days = af_keyring_days_left(srv->keys);
	if (st != JOSE_OK &&
	    (w->fail_ms == 0 || now - w->fail_ms >= KEY_FAIL_EVERY_MS)) {
		w->fail_ms = now;
		if (days < 0)
			log_error(srv->log, NULL, "key_alert",
				  "no signing key is current and none could "
				  "be made (%s): tokens cannot be issued",
				  jose_strerror(st));
		else
			log_error(srv->log, NULL, "key_alert",
				  "the successor of the signing key could not "
				  "be published (%s); it is tried again each "
				  "second",
				  jose_strerror(st));
	}
	if (days > (long)srv->cfg.key_alert_days) {
		w->alert_ms = 0;
		return;
	}
	if (w->alert_ms != 0 && now - w->alert_ms < KEY_ALERT_EVERY_MS)
		return;
	w->alert_ms = now;
	if (days < 0)
		log_warn(srv->log, NULL, "key_alert",
			 "no signing key is current: run 'authflowctl keys "
			 "rotate'");
	else
		log_warn(srv->log, NULL, "key_alert",
			 "the signing key expires in %ld days: run "
			 "'authflowctl keys rotate', or its successor is "
			 "published in /jwks %d days before and signs from "
			 "then",
			 days, JOSE_PUBLISH_AHEAD_DAYS);
}

/*
 * A refusal at start, in one line naming the program and the file, as
 * the configuration's own refusals do: "authflow: FILE: store: ...".
 */
static void refused(const struct args *a, const char *err)
{
	if (a->config != NULL)
		fprintf(stderr, "authflow: %s: %s\n", a->config, err);
	else if (a->demo && strncmp(err, "listen:", 7) == 0)
		fprintf(stderr, "authflow: %s; another port: --port N\n", err);
	else
		fprintf(stderr, "authflow: %s\n", err);
}

/*
 * About how many connections a limit of max open files leaves: what is
 * not open yet, less the descriptors its threads and the store will open
 * (a few dozen; AF_FILES_SPARE is what the server asks for them).
 */
static rlim_t connections_left(rlim_t max)
{
	const rlim_t later = 48;
	rlim_t open_now = 0;
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			open_now++;
	}
	if (d != NULL)
		closedir(d);
	return max > open_now + later ? max - open_now - later : 0;
}

#define CLEAR_TEXT_WARNING                                                   \
	"listen.address: plain http on an address other machines can "       \
	"reach: passwords, codes, tokens and the admin API's bearer tokens " \
	"cross the network in clear text unless only a TLS proxy on this "   \
	"host can reach it; listen on 127.0.0.1, or set tls"

#define NO_PUSH_WARNING                                                       \
	"push: no push.apns or push.fcm section: no sign-in request reaches " \
	"a phone by push; phones see them only when their app asks, and "     \
	"users may type the token code"

#define TRUST_ALL_WARNING                                                   \
	"listen.trusted_proxies: a network of every address (0.0.0.0/0 or " \
	"::/0) is trusted: any client can name itself any address in "      \
	"X-Forwarded-For and step round the limits kept per address; list " \
	"the proxies' own addresses"

/* 1 when listen.trusted_proxies trusts every address of a family. */
static int trusts_everyone(const af_config *cfg)
{
	for (size_t i = 0; i < cfg->ntrusted_proxies; i++) {
		if (cfg->trusted_proxies[i].bits == 0)
			return 1;
	}
	return 0;
}

/*
 * 1 when push MFA is on but nothing can send a push: no provider section
 * (the demo's phone asks for its requests, so the demo is left out).
 */
static int no_push_provider(const af_config *cfg, int demo)
{
	return !demo && cfg->feature_remote_access_mfa && !cfg->push_apns &&
	       !cfg->push_fcm;
}

/*
 * 1 when the server speaks plain http (an http:// issuer, which is on
 * loopback) but listens beyond loopback: the issuer rule keeps clients
 * on this host, but the port is open to others.
 */
static int clear_text_off_loopback(const af_config *cfg)
{
	const char *a = cfg->listen_address;

	return !cfg->issuer_https && cfg->tls_cert_file[0] == '\0' &&
	       strncmp(a, "127.", 4) != 0 && strcmp(a, "::1") != 0 &&
	       strcmp(a, "localhost") != 0;
}

/*
 * Raises the soft limit on open files towards what the server may use
 * (AF_CONNECTIONS_MAX connections and AF_FILES_SPARE more), up to the hard
 * limit, as the systemd unit's LimitNOFILE does: a server started by hand
 * under the usual 1024 would stop accepting connections at about a
 * thousand. Warns when the hard limit is lower.
 */
static void open_files_raise(log_ctx *log)
{
	const rlim_t want = AF_CONNECTIONS_MAX + AF_FILES_SPARE;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 &&
		    getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return;
	}
	if (rl.rlim_cur < want)
		log_warn(log, NULL, "startup",
			 "the process may open %llu files, fewer than the "
			 "%u connections the server holds at most and their "
			 "files: past about %llu connections new ones wait; "
			 "raise the hard limit (LimitNOFILE, ulimit -Hn) to "
			 "%llu",
			 (unsigned long long)rl.rlim_cur, AF_CONNECTIONS_MAX,
			 (unsigned long long)connections_left(rl.rlim_cur),
			 (unsigned long long)want);
}

/*
 * The settings of the file at path but its admin tokens, as JSON (NULL
 * when it does not load): what a reload compares to tell the changes
 * that wait for a restart. The store's URL, which may hold its password
 * and is kept for the whole run, is kept as its SHA-256.
 */
static json_t *settings_of(const char *path)
{
	json_t *root = json_load_file(path, 0, NULL);
	json_t *store = json_object_get(root, "store");
	json_t *url = json_object_get(store, "url");
	char hex[65];

	if (json_is_object(json_object_get(root, "admin")))
		(void)json_object_del(json_object_get(root, "admin"), "tokens");
	if (json_is_string(url)) {
		af_sha256_hex(json_string_value(url), json_string_length(url),
			      hex);
		/* Freed through the wiping allocator (main()). */
		if (json_object_set_new(store, "url", json_string(hex)) != 0) {
			json_decref(root);
			root = NULL;
		}
	}
	return root;
}

/*
 * Appends to out (cap bytes, ", " between) the top-level keys of a that b
 * lacks, and with all set, those whose values differ in b.
 */
static void keys_differing(json_t *a, const json_t *b, int all, char *out,
			   size_t cap)
{
	const char *key;
	json_t *v;
	size_t n;

	json_object_foreach(a, key, v)
	{
		if (all ? json_equal(v, json_object_get(b, key))
			: json_object_get(b, key) != NULL)
			continue;
		n = strlen(out);
		(void)snprintf(out + n, cap - n, "%s%s", n > 0 ? ", " : "",
			       key);
	}
}

/* Names the kinds of file cfg names, read at start only, into out. */
static void start_only_files(const af_config *cfg, char *out, size_t cap)
{
	const char *kind[3];
	size_t n = 0, i, len = 0;

	if (cfg->tls_cert_file[0] != '\0')
		kind[n++] = "the TLS certificate and key";
	if (cfg->pw_blocklist_file[0] != '\0')
		kind[n++] = "the password blocklist";
	if (cfg->push_apns || cfg->push_fcm)
		kind[n++] = "the push credentials";
	out[0] = '\0';
	for (i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s",
					i > 0 ? ", " : "", kind[i]);
}

/*
 * SIGHUP: the configuration file is read again and checked as at start;
 * the admin tokens it names apply at once (a token that leaked is
 * revoked without a restart). A file that does not load changes nothing;
 * one that loads but names a file that fails its check (read at start
 * only) still has its tokens applied, with an error line.
 * Other changes (from started, the settings at start) wait for a
 * restart, and the log says so.
 */
static void reload(const struct args *a, af_server *srv, json_t *started,
		   log_ctx *log)
{
	char err[512], later[512], keys[256] = "", files[128];
	af_config *next;
	json_t *now = NULL;

	if (a->demo) {
		log_warn(log, NULL, "reload",
			 "SIGHUP: the demo has no configuration file to read "
			 "again");
		return;
	}
	next = calloc(1, sizeof(*next));
	if (next == NULL) {
		log_error(log, NULL, "reload", "SIGHUP: out of memory");
		return;
	}
	/*
	 * A file it names that fails its check (a blocklist moved away, a
	 * key file's mode) matters at the next start only: it must not keep
	 * a leaked admin token alive. It is told below.
	 */
	if (af_config_load_later(a->config, next, err, sizeof(err), later,
				 sizeof(later)) != 0) {
		/* err names the file. */
		log_error(log, NULL, "reload",
			  "SIGHUP: %s; the configuration in use stays as it "
			  "was",
			  err);
		goto out;
	}
	log_info(log, NULL, "reload", "SIGHUP: %s: %s", a->config,
		 af_server_reload(srv, next) ? "applied admin.tokens"
					     : "nothing to apply now");
	start_only_files(next, files, sizeof(files));
	if (files[0] != '\0')
		log_info(log, NULL, "reload",
			 "SIGHUP: the files the configuration names (%s) are "
			 "read at start only: restart to take a changed one",
			 files);
	if (later[0] != '\0')
		log_error(log, NULL, "reload",
			  "SIGHUP: %s: %s; a restart would refuse the "
			  "configuration",
			  a->config, later);
	now = settings_of(a->config);
	if (started != NULL && now != NULL) {
		keys_differing(started, now, 1, keys, sizeof(keys));
		keys_differing(now, started, 0, keys, sizeof(keys));
	}
	if (keys[0] != '\0')
		log_warn(log, NULL, "reload",
			 "SIGHUP: %s: settings other than admin.tokens "
			 "changed (%s); they take effect at the next restart",
			 a->config, keys);
out:
	json_decref(now);
	OPENSSL_cleanse(next, sizeof(*next));
	free(next);
}

static int run(const struct args *a, af_config *cfg, log_ctx *log)
{
	struct key_watch watch = {0, 0};
	af_store_watch store_watch = {0};
	af_mfa_sweep sweep = {0, 0, 0, 0};
	af_session_sweeper sessions = {0, 0};
	af_audit_sweeper audit = {0, 0, 0, 0};
	af_stopsig *stopsig;
	char err[512], token[64];
	pushd_ctx *push = NULL;
	json_t *started = NULL;
	af_server srv;
	sigset_t set;
	int sig = 0, rc = 1;
	const struct timespec tick = {1, 0};

	token[0] = '\0';
	/* Every way out goes through af_server_cleanup(), refusals too. */
	memset(&srv, 0, sizeof(srv));
	if (!a->demo)
		started = settings_of(a->config);
	if (a->demo) {
		rc = demo_config(a, cfg, token, sizeof(token));
		if (rc != 0)
			return rc;
		rc = 1;
	}
	/*
	 * Block the stop signals before any thread starts, so that every
	 * thread inherits the mask and only sigwait() below sees them.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (ulimit -f) fails the write with EFBIG, which
	 * the store reports, instead of killing the server. */
	signal(SIGXFSZ, SIG_IGN);

	if (af_server_listen_probe(cfg, err, sizeof(err)) != 0) {
		refused(a, err);
		goto out;
	}
	if (a->demo && demo_state_dir(cfg) != 0)
		goto out;
	if (af_server_init(&srv, cfg, log, err, sizeof(err)) != 0) {
		refused(a, err);
		goto out;
	}
	if (af_device_keys_new(AF_DEVICE_KEYS_DEFAULT, &srv.device_keys) !=
	    AF_DEVICE_OK) {
		fprintf(stderr, "authflow: out of memory\n");
		goto out;
	}
	srv.demo = a->demo;
	if (a->demo && af_demo_setup(&srv, token, err, sizeof(err)) != 0) {
		refused(a, err);
		goto out;
	}
	open_files_raise(log);
	/*
	 * push.mode "embedded": the push workers run in this process (the
	 * only way with the memory store, whose queue lives here). Their
	 * metrics are hooked in before the server starts, since its threads
	 * read the hook from then on; the workers start after it.
	 */
	if (srv.cfg.push_mode == AF_PUSH_EMBEDDED) {
		push = pushd_ctx_new(&srv.cfg, srv.store, log, err,
				     sizeof(err));
		if (push == NULL) {
			fprintf(stderr, "authflow: %s\n", err);
			goto out;
		}
		srv.extra_metrics_arg = push;
		srv.extra_metrics = push_metrics;
	}
	if (af_server_start(&srv, err, sizeof(err)) != 0) {
		refused(a, err);
		goto out;
	}
	if (push != NULL) {
		if (pushd_start(push) != PUSHD_OK) {
			fprintf(stderr,
				"authflow: cannot start push workers\n");
			af_server_stop(&srv, 0);
			goto out;
		}
		/* The FCM token before the first push, not a second after. */
		(void)pushd_fcm_renew(push);
	}
	log_info(log, NULL, "startup", "issuer=%s listen=%s:%u threads=%u",
		 srv.cfg.issuer, srv.cfg.listen_address, (unsigned)srv.port,
		 srv.threads);
	if (clear_text_off_loopback(&srv.cfg))
		log_warn(log, NULL, "startup", "%s", CLEAR_TEXT_WARNING);
	if (no_push_provider(&srv.cfg, a->demo))
		log_warn(log, NULL, "startup", "%s", NO_PUSH_WARNING);
	if (trusts_everyone(&srv.cfg))
		log_warn(log, NULL, "startup", "%s", TRUST_ALL_WARNING);
	keys_watch(&srv, &watch);
	(void)af_server_mend_start(&srv);
	if (a->demo)
		print_demo(&srv, token);
	/*
	 * Between signals, the signing keys are looked after, the store
	 * checked (an outage is logged: http/health.h), the pushes that
	 * expired unanswered told of (mfa/seam.h), sessions past their time
	 * ended, audit events past audit.keep_days taken out, and the
	 * embedded push workers' FCM token renewed before they need it.
	 */
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		/*
		 * Operators' tools send SIGHUP to ask for a reload, and
		 * SIGUSR1 or SIGUSR2 after rotating logs: the log goes to
		 * stderr, so none of them stops the server, as their default
		 * action would.
		 */
		if (sig == SIGHUP) {
			reload(a, &srv, started, log);
			continue;
		}
		if (sig == SIGUSR1 || sig == SIGUSR2) {
			log_warn(log, NULL, "signal",
				 "%s: authflow takes no action on it (its log "
				 "goes to stderr: there is no file to reopen)",
				 sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
			continue;
		}
		if (sig > 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			sig = SIGTERM;
			break;
		}
		/* /healthz says so when any of these hangs on the store. */
		af_store_health_begin(&srv.store_health, af_mono_ns());
		keys_watch(&srv, &watch);
		af_store_watch_tick(&store_watch, &srv.store_health, srv.store,
				    log, srv.metrics, af_mono_ns());
		af_mfa_seam_sweep(&srv, &sweep, af_now());
		af_session_sweep(&srv, &sessions, af_now());
		af_audit_sweep(srv.dir, log, &audit, af_now());
		af_bcl_tick(srv.bcl, af_mono_ns());
		af_store_health_end(&srv.store_health);
		if (push != NULL)
			(void)pushd_fcm_renew(push);
	}
	log_info(log, NULL, "shutdown", "signal=%d", sig);
	stopsig = af_stopsig_watch(log);
	/* The stops below, and the back-channel sender's own grace. */
	af_bcl_stopping(srv.bcl, (2 * GRACE_S + 10) * 1000);
	af_server_stop(&srv, GRACE_S);
	pushd_stop(push, GRACE_S);
	af_stopsig_end(stopsig);
	rc = 0;
out:
	/* The workers use the store: they go before af_server_cleanup(). */
	pushd_ctx_free(push);
	json_decref(started);
	OPENSSL_cleanse(token, sizeof(token));
	af_device_keys_free(srv.device_keys);
	srv.device_keys = NULL;
	af_server_cleanup(&srv);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a;
	af_config cfg;
	char err[512];
	log_ctx *log = NULL;
	int rc;

	/*
	 * Libraries keep their own copies of passwords, tokens and keys;
	 * with the wiping allocator those are wiped when freed too. This
	 * comes first, before the libraries allocate anything.
	 */
	json_set_alloc_funcs(af_secmem_malloc, af_secmem_free);
	cjose_set_alloc_funcs(af_secmem_malloc, af_secmem_realloc,
			      af_secmem_free);
	/* Lowering a limit cannot fail for want of privilege. */
	(void)af_secmem_no_core();
	memset(&a, 0, sizeof(a));
	af_config_defaults(&cfg);
	rc = parse_args(argc, argv, &a);
	if (rc != 0)
		return rc;
	if (a.check != NULL || a.config != NULL) {
		if (af_config_load(a.check != NULL ? a.check : a.config, &cfg,
				   err, sizeof(err)) != 0) {
			fprintf(stderr, "authflow: %s\n", err);
			return 1;
		}
		/*
		 * What starting would find wrong without a network: checked
		 * before a start too, so that nothing is written (a store, a
		 * signing key) by a start that is then refused, and the
		 * message names the file as the check's does. The check also
		 * reads the push credentials, which the file shares with
		 * pushd; a start needs them only to send pushes itself.
		 */
		if (af_server_check(&cfg, err, sizeof(err)) != 0 ||
		    ((a.check != NULL || cfg.push_mode == AF_PUSH_EMBEDDED) &&
		     pushd_check_credentials(&cfg, err, sizeof(err)) !=
			     PUSHD_OK)) {
			fprintf(stderr, "authflow: %s: %s\n",
				a.check != NULL ? a.check : a.config, err);
			OPENSSL_cleanse(&cfg, sizeof(cfg));
			return 1;
		}
		if (a.check != NULL &&
		    af_server_check_state(&cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "authflow: %s: %s\n", a.check, err);
			OPENSSL_cleanse(&cfg, sizeof(cfg));
			return 1;
		}
		if (a.check != NULL) {
			/* Still OK: a start would serve it, and says so too. */
			if (cfg.tls_cert_file[0] != '\0' &&
			    af_tls_cert_dates(cfg.tls_cert_file, time(NULL),
					      err, sizeof(err)) != 0)
				fprintf(stderr, "authflow: %s: warning: %s\n",
					a.check, err);
			if (clear_text_off_loopback(&cfg))
				fprintf(stderr, "authflow: %s: warning: %s\n",
					a.check, CLEAR_TEXT_WARNING);
			if (no_push_provider(&cfg, 0))
				fprintf(stderr, "authflow: %s: warning: %s\n",
					a.check, NO_PUSH_WARNING);
			if (trusts_everyone(&cfg))
				fprintf(stderr, "authflow: %s: warning: %s\n",
					a.check, TRUST_ALL_WARNING);
			printf("%s: OK\n", a.check);
			OPENSSL_cleanse(&cfg, sizeof(cfg));
			return 0;
		}
	}
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, af_secmem_malloc,
				 af_secmem_free, af_secmem_realloc,
				 af_secmem_strdup,
				 af_secmem_calloc) != CURLE_OK) {
		fprintf(stderr, "authflow: cannot initialise libcurl\n");
		OPENSSL_cleanse(&cfg, sizeof(cfg));
		return 1;
	}
	log = log_new(STDERR_FILENO,
		      a.demo ? LOG_LEVEL_WARN : (log_level)cfg.log_level);
	if (log == NULL) {
		fprintf(stderr, "authflow: out of memory\n");
		curl_global_cleanup();
		OPENSSL_cleanse(&cfg, sizeof(cfg));
		return 1;
	}
	rc = run(&a, &cfg, log);
	log_free(log);
	curl_global_cleanup();
	OPENSSL_cleanse(&cfg, sizeof(cfg));
	return rc;
}
