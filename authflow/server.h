/*
 * The authflow server context: everything a request handler needs hangs
 * off one af_server, made once at start-up. There is no global state.
 *
 * Thread-safety: after af_server_start() the context is read-only except
 * through its members' own thread-safe interfaces (store, keyring,
 * metrics, log); handlers run concurrently on libmicrohttpd's threads.
 */
#ifndef AF_SERVER_H
#define AF_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "common/config.h"
#include "common/jose.h"
#include "common/log.h"
#include "common/store.h"
#include "directory/directory.h"
#include "http/health.h"
#include "http/metrics.h"
#include "http/request.h"

struct MHD_Daemon;
struct af_workq;
struct af_brand_cache;

typedef struct af_server {
	af_config cfg;
	/*
	 * Guards cfg.admin_tokens and cfg.admin_token_count, which a reload
	 * of the configuration (af_server_reload()) replaces while admin
	 * requests read them; the rest of cfg never changes once started.
	 */
	pthread_rwlock_t admin_lock;
	store_ctx *store;
	af_keyring *keys;
	af_dir *dir;
	log_ctx *log;
	af_metrics *metrics;
	/* The branding the pages show (web/brand.h). */
	struct af_brand_cache *brand;
	af_pwlist *pwlist; /* the directory's, see directory/pwlist.h */
	struct MHD_Daemon *mhd;
	/*
	 * The listening socket (-1: none) and the thread that accepts on it
	 * and hands each connection to the daemon's workers in turn.
	 */
	int listen_fd;
	pthread_t acceptor;
	int acceptor_running;
	struct af_workq *slow; /* runs slow requests (http/workq.h) */
	struct af_bcl *bcl;    /* sends logout tokens (oidc/bclogout.h) */
	unsigned threads;
	uint16_t port; /* the port actually bound */
	/* Demo mode: the built-in relying party at /demo. */
	int demo;
	char demo_client_id[64];
	char demo_client_secret[64];
	char demo_device_id[48];
	char demo_phone_csrf[48];
	atomic_int stopping;
	/* Requests begun and not yet completed (a graceful stop waits). */
	atomic_uint inflight;
	/*
	 * Until when (monotonic ns) no password is checked, since a failure
	 * could not be counted (the store refused the write): a guesser
	 * must not get unlimited tries while the throttle cannot see them.
	 */
	atomic_uint_least64_t uncounted_until_ns;
	/* When (monotonic ns) running out of descriptors was last logged. */
	atomic_uint_least64_t no_fds_told_ns;
	/* When (monotonic ns) a damaged record was last logged. */
	atomic_uint_least64_t damage_told_ns;
	/*
	 * Request ids (X-Request-Id, the log's rid): this process's random
	 * prefix, drawn at start, and the count of requests it has begun.
	 */
	char rid_prefix[AF_RID_PREFIX_LEN + 1];
	atomic_uint_least64_t rid_next;
	/* The store's health as the main loop last checked it (/healthz). */
	af_store_health store_health;
	/* The device API's cache of checked device keys; may be NULL. */
	struct af_device_keys *device_keys;
	/*
	 * The earliest signed timestamp the device API takes (Unix seconds):
	 * with the memory store, whose replay records (nonces) end with the
	 * process, when the server started, so that a request seen before a
	 * restart cannot be sent again after it; 0 with redis, where they
	 * live on. Writing each nonce through to the state file would cost an
	 * fsync per device request instead; this costs a phone whose clock is
	 * behind a refusal within its first seconds after a restart. With
	 * nonces_mono_ns (the monotonic clock then) set, the start is told
	 * by the clock of each request instead: the time the monotonic clock
	 * has run since is taken off its now, so that a wall clock set back
	 * after the start (a server started before NTP set it right) does
	 * not refuse every phone until it catches up.
	 */
	int64_t nonces_since;
	uint64_t nonces_mono_ns;
	/*
	 * More metrics for /metrics from a component running in the same
	 * process (the embedded push workers); NULL when none.
	 */
	void (*extra_metrics)(void *arg, af_buf *out);
	void *extra_metrics_arg;
	/*
	 * The bytes of sign-ins begun that one address may have stored in a
	 * flow's lifetime (oidc/flow.h): a share of the memory store's cap;
	 * 0 with redis, whose memory is Redis's to bound.
	 */
	uint64_t flow_bytes_per_ip;
	/* The pass af_server_mend_start() began, joined at cleanup. */
	pthread_t mend_thread;
	int mend_started;
	int admin_lock_made; /* admin_lock was initialised */
} af_server;

/* Connections the server holds at most (libmicrohttpd's limit). */
#define AF_CONNECTIONS_MAX 4096u
/* Descriptors it wants beside them: store, logs, push, state files. */
#define AF_FILES_SPARE	   512u

/* Longest-lived token the server signs (id_token, JWT access token). */
#define AF_TOKEN_LIFETIME_S    600
#define AF_ID_TOKEN_LIFETIME_S 600
/* The "typ" headers of the two kinds of JWT we sign (RFC 9068 for access). */
#define AF_ID_TOKEN_TYP	       "JWT"
#define AF_ACCESS_TOKEN_TYP    "at+jwt"
/* And of logout tokens (OpenID Connect Back-Channel Logout 2.4). */
#define AF_LOGOUT_TOKEN_TYP    "logout+jwt"
#define AF_REFRESH_LIFETIME_S  (30L * 86400)
/* How often a node looks for a key rotation made by another node. */
#define AF_KEYS_REFRESH_S      5

/*
 * Checks what af_server_init() and af_server_start() would need of cfg
 * without opening it: the TLS files (af_tls_files_check()), the store's
 * settings and state folder (store_check()). 0, or -1 with a one-line
 * reason in err.
 */
int af_server_check(const af_config *cfg, char *err, size_t errlen);

/*
 * Reads the memory store's state file as a start would replay it, writing
 * nothing (store_open_state_copy()), and checks the signing key ring it
 * holds as a start would (af_keyring_check_stored()): 0, or -1 with a
 * one-line reason (a corrupt file, with its offset; a damaged ring, in
 * the words a start uses). For --check-config only: a start replays the
 * file anyway, and would do it twice.
 */
int af_server_check_state(const af_config *cfg, char *err, size_t errlen);

/*
 * Opens the store, the key ring and the directory for cfg (copied). On
 * failure returns -1 with a one-line reason in err; af_server_cleanup()
 * must still be called.
 */
int af_server_init(af_server *srv, const af_config *cfg, log_ctx *log,
		   char *err, size_t errlen);

/*
 * Whether the listening address of cfg can be bound now: 0, or -1 with
 * the "listen: cannot listen on ..." line in err. Run before anything is
 * written at start-up, so that a server refused for a port in use leaves
 * no state behind (--check-config does not: the server it checks for may
 * be running).
 */
int af_server_listen_probe(const af_config *cfg, char *err, size_t errlen);

/* Starts listening; -1 with a reason in err. */
int af_server_start(af_server *srv, char *err, size_t errlen);

/*
 * Stops accepting connections, lets in-flight requests finish (at most
 * grace_s seconds), then stops the daemon.
 */
void af_server_stop(af_server *srv, unsigned grace_s);

void af_server_cleanup(af_server *srv);

/*
 * Applies what can change while the server runs from next, a
 * configuration just read again (SIGHUP): the admin tokens, at once for
 * every request that comes after. 1 when they changed, else 0. Called by
 * one thread at a time.
 */
int af_server_reload(af_server *srv, const af_config *next);

/*
 * Begins, on a thread of its own, the pass that mends what a crash may
 * have left half made: the names of apps (af_dir_app_names_mend()) and
 * the member sets of groups and OUs (af_dir_memberships_mend()), and logs
 * what it found. It ends early once the server is stopping; cleanup waits for
 * it. 0, or -1 when no thread could be started (the pass is skipped and
 * so logged).
 */
int af_server_mend_start(af_server *srv);

/* Routes a request to its handler (routes.c). */
void af_dispatch(af_server *srv, af_req *req, af_resp *resp);

/* What the early part of a slow request did (af_dispatch_early()). */
typedef enum {
	AF_EARLY_ANSWERED = 0, /* resp holds the whole answer */
	AF_EARLY_QUEUE,	       /* the handler is to run on the work queue */
	AF_EARLY_QUEUE_FIRST,  /* ... ahead of the others: a known browser */
} af_early;

/*
 * The part of a slow request (af_route_slow()) that needs no slow work,
 * run on the HTTP thread before it is queued: what it can answer at once
 * (a throttled sign-in, say) never waits behind password checks
 * (routes.c).
 */
af_early af_dispatch_early(af_server *srv, af_req *req, af_resp *resp);

/*
 * Answers a request refused before it reached its handler (a body over
 * the cap, header fields over theirs, a framing read two ways) with
 * status and what, in the route's own kind: a page for browser pages,
 * the admin and device APIs' JSON error, an OAuth error elsewhere, and
 * plain text for a request no route matched (routes.c).
 */
void af_route_refuse(int route, af_resp *resp, unsigned status,
		     const char *what);

/* The route index of a method and path, or -1 (routes.c). */
int af_route_find(const char *method, const char *path, int *method_ok);

/*
 * 1 when a request to the route with this method keeps a core busy for
 * long (a password check), so that it runs off the HTTP threads (routes.c).
 */
int af_route_slow(int route, const char *method);

/*
 * Routes for metrics (routes.c): af_route_count() of them, the last for
 * requests no route matched; af_route_name() names one, by its index.
 */
const char *af_route_name(size_t i);
size_t af_route_count(void);

#endif /* AF_SERVER_H */
