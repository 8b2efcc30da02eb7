/*
 * pushd: the push delivery daemon.
 *
 *   pushd --config FILE        the same configuration file as authflow
 *   pushd --check-config FILE  checks it (and the key files) and exits
 *
 * It drains the store's "push" queue with the workers of libpushd and
 * serves /healthz and /metrics on push.listen. SIGTERM or SIGINT stops it
 * gracefully: no new jobs, streams in flight finish (up to 10 seconds);
 * jobs not finished stay pending for another node; a second one ends it
 * at once (see common/stopsig.h). SIGHUP stops nothing:
 * the configuration is read only at start.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjose/util.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/stopsig.h"
#include "common/store.h"
#include "pushd/pushd.h"
#include "pushd_internal.h"

#define EXIT_USAGE 2

static int usage(const char *msg)
{
	fprintf(stderr, "pushd: %s; see 'pushd --help'\n", msg);
	return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, const char **config, int *check)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char msg[AF_CLI_MSG_MAX];
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
		case 'k':
			if (*config != NULL)
				return usage("--config and --check-config "
					     "take one file, once");
			if (af_cli_path_check(c == 'c' ? "--config"
						       : "--check-config",
					      optarg, msg, sizeof(msg)) != 0)
				return usage(msg);
			*config = optarg;
			*check = c == 'k';
			break;
		case 'h':
			printf("usage: pushd --config FILE\n"
			       "       pushd --check-config FILE\n");
			exit(0);
		default:
			if (!af_cli_opt_refusal(c, argc, argv, msg,
						sizeof(msg)))
				snprintf(msg, sizeof(msg), "unknown option");
			return usage(msg);
		}
	}
	if (optind < argc) {
		snprintf(msg, sizeof(msg), "unexpected argument '%s'",
			 argv[optind]);
		af_cli_one_line(msg);
		return usage(msg);
	}
	if (*config == NULL)
		return usage("--config FILE is required");
	return 0;
}

/*
 * What in the configuration keeps pushd from starting, before anything
 * is opened: 0, or 1 with one line on stderr. --check-config and the
 * start ask the same question (pushd_check_config()), so they agree.
 */
static int refused(const char *path, const af_config *cfg)
{
	char err[512];
	int rc = 0;

	if (pushd_check_config(cfg, err, sizeof(err)) != PUSHD_OK) {
		fprintf(stderr, "pushd: %s: %s\n", path, err);
		rc = 1;
	}
	/* The reason may quote store.url, password included. */
	OPENSSL_cleanse(err, sizeof(err));
	return rc;
}

/*
 * Waits up to *tick for a signal of set: the stop signal's number, or -1
 * (errno EAGAIN) when none came. SIGHUP, which operators' tools send to
 * ask for a reload, stops nothing: the configuration is read only at
 * start, and the log says so. Nor do SIGUSR1 and SIGUSR2, which they send
 * after rotating logs: the log goes to stderr.
 */
static int wait_signal(const sigset_t *set, const struct timespec *tick,
		       log_ctx *log)
{
	int sig = sigtimedwait(set, NULL, tick);

	if (sig == SIGHUP)
		log_warn(log, NULL, "signal",
			 "SIGHUP: pushd reads its configuration only at "
			 "start; restart it to apply changes");
	else if (sig == SIGUSR1 || sig == SIGUSR2)
		log_warn(log, NULL, "signal",
			 "%s: pushd takes no action on it (its log goes to "
			 "stderr: there is no file to reopen)",
			 sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
	else
		return sig;
	errno = EINTR;
	return -1;
}

static int run(const char *path, const af_config *cfg, log_ctx *log)
{
	store_options so;
	store_ctx *st = NULL;
	pushd_ctx *ctx = NULL;
	char err[512];
	const struct timespec retry = {1, 0};
	sigset_t set;
	af_stopsig *stopsig;
	int sig = 0, rc = 1;
	store_status sst;
	pushd_status pst;

	if (refused(path, cfg))
		return 1;
	if (cfg->push_mode == AF_PUSH_EMBEDDED)
		log_warn(log, NULL, "startup",
			 "push.mode is \"embedded\": authflow runs push "
			 "workers too; this daemon adds more");
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

	memset(&so, 0, sizeof(so));
	so.backend = cfg->store_backend;
	so.url = cfg->store_url;
	so.prefix = cfg->store_prefix;
	so.timeout_ms = cfg->store_timeout_ms;
	sst = store_open(&so, &st, err, sizeof(err));
	if (sst != STORE_OK) {
		fprintf(stderr, "pushd: %s: store.url: %s\n", path, err);
		goto out;
	}
	ctx = pushd_ctx_new(cfg, st, log, err, sizeof(err));
	if (ctx == NULL) {
		/* A push credential the file names: say which file. */
		fprintf(stderr, "pushd: %s: %s\n", path, err);
		goto out;
	}
	/*
	 * Listening before the store answers: a monitor meanwhile gets
	 * /healthz 503 (no worker runs yet), not a refused connection.
	 */
	if (pushd_listen(ctx, err, sizeof(err)) != PUSHD_OK) {
		fprintf(stderr, "pushd: %s\n", err);
		goto out;
	}
	log_info(log, NULL, "startup", "listen=%s:%u", cfg->push_listen_address,
		 (unsigned)cfg->push_listen_port);
	/*
	 * A store that does not answer yet (started after pushd, restarting)
	 * is waited for, as the workers would wait for it later; a stop
	 * signal meanwhile ends pushd cleanly.
	 */
	sst = store_ping_why(st, err, sizeof(err));
	if (sst == STORE_ERR_CONFIG) {
		/* Refused for want of a permission: waiting will not help. */
		fprintf(stderr, "pushd: %s: store: %s\n", path, err);
		goto out;
	}
	if (sst != STORE_OK) {
		log_warn(log, NULL, "startup",
			 "the store does not answer yet (%s); retrying", err);
		do {
			sig = wait_signal(&set, &retry, log);
			if (sig > 0) {
				log_info(log, NULL, "shutdown", "signal=%d",
					 sig);
				rc = 0;
				goto out;
			}
		} while (store_ping_why(st, err, sizeof(err)) != STORE_OK);
		log_info(log, NULL, "startup", "the store answers");
	}
	pst = pushd_start(ctx);
	if (pst != PUSHD_OK) {
		fprintf(stderr, "pushd: cannot start the workers: %s\n",
			pushd_strerror(pst));
		goto out;
	}
	/* Once a second: the FCM token renewed before the workers need it. */
	do {
		(void)pushd_fcm_renew(ctx);
		sig = wait_signal(&set, &retry, log);
	} while (sig < 0 && (errno == EAGAIN || errno == EINTR));
	if (sig < 0)
		sig = SIGTERM;
	log_info(log, NULL, "shutdown", "signal=%d", sig);
	stopsig = af_stopsig_watch(log);
	pushd_stop(ctx, PUSHD_GRACE_S);
	af_stopsig_end(stopsig);
	rc = 0;
out:
	pushd_ctx_free(ctx);
	store_close(st);
	return rc;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	af_config *cfg = NULL;
	log_ctx *log = NULL;
	char err[512];
	int rc, check = 0;

	/* The wiping allocator first, before any library allocates. */
	json_set_alloc_funcs(af_secmem_malloc, af_secmem_free);
	/* No core image of the keys (lowering a limit cannot fail). */
	(void)af_secmem_no_core();
	cjose_set_alloc_funcs(af_secmem_malloc, af_secmem_realloc,
			      af_secmem_free);
	rc = parse_args(argc, argv, &config, &check);
	if (rc != 0)
		return rc;
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL) {
		fprintf(stderr, "pushd: out of memory\n");
		return 1;
	}
	if (af_config_load(config, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "pushd: %s\n", err);
		OPENSSL_clear_free(cfg, sizeof(*cfg));
		return 1;
	}
	/* What starting would find wrong without a network. */
	if (check) {
		rc = refused(config, cfg);
		if (rc == 0)
			printf("%s: OK\n", config);
		OPENSSL_cleanse(cfg, sizeof(*cfg));
		free(cfg);
		return rc;
	}
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, af_secmem_malloc,
				 af_secmem_free, af_secmem_realloc,
				 af_secmem_strdup,
				 af_secmem_calloc) != CURLE_OK) {
		fprintf(stderr, "pushd: cannot initialise libcurl\n");
		OPENSSL_clear_free(cfg, sizeof(*cfg));
		return 1;
	}
	log = log_new(STDERR_FILENO, (log_level)cfg->log_level);
	if (log == NULL) {
		fprintf(stderr, "pushd: out of memory\n");
		rc = 1;
	} else {
		rc = run(config, cfg, log);
	}
	log_free(log);
	curl_global_cleanup();
	OPENSSL_cleanse(cfg, sizeof(*cfg));
	free(cfg);
	return rc;
}
