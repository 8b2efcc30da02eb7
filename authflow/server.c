/* Making and tearing down the server context. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "directory/audit.h"
#include "directory/password.h"
#include "directory/signins.h"
#include "directory/throttle.h"
#include "http/tlsfiles.h"
#include "oidc/bclogout.h"
#include "oidc/flow.h"
#include "server.h"
#include "web/brand.h"

/* Details up to this size go into an audit log line whole. */
#define AUDIT_LOG_DETAIL_MAX 2048
/*
 * Bytes of a longer one's part: escaped twice at worst (a quote of the
 * JSON text is \" there, then \\\" in the line), it still fits a line.
 */
#define AUDIT_LOG_PART_MAX   1024
/* How long a stop waits for logout tokens still to be sent (ms). */
#define BCL_STOP_GRACE_MS    3000

/* What the key ring tells an operator: one log line. */
static void keys_to_log(void *arg, int warning, const char *msg)
{
	af_server *srv = arg;

	if (warning)
		log_warn(srv->log, NULL, "keys", "%s", msg);
	else
		log_info(srv->log, NULL, "keys", "%s", msg);
}

/* The length of the part of detail (len bytes) that begins at off. */
static size_t part_len(const char *detail, size_t off, size_t len)
{
	size_t cut = af_utf8_cut(detail + off, len - off, AUDIT_LOG_PART_MAX);

	/* Not valid UTF-8 (jansson writes it): cut anyway, and go on. */
	return cut > 0 ? cut : AUDIT_LOG_PART_MAX;
}

/*
 * The detail of an audit event too long for one line, in parts of at most
 * AUDIT_LOG_PART_MAX bytes (cut between UTF-8 characters), one line
 * each after the n members of kv: "detail_part" ("2/5"), "detail_chunk"
 * (that part of the compact JSON text), and the whole text's
 * "detail_bytes" and "detail_sha256" to check the joined parts against.
 */
static void audit_parts(af_server *srv, const char *rid, const char **kv,
			size_t n, const char *detail, size_t len)
{
	char part[24], bytes[24], hex[65], chunk[AUDIT_LOG_PART_MAX + 1];
	size_t off, total = 0, i, cut;

	af_sha256_hex(detail, len, hex);
	snprintf(bytes, sizeof(bytes), "%zu", len);
	for (off = 0; off < len; off += part_len(detail, off, len))
		total++;
	kv[n] = "detail_part";
	kv[n + 1] = part;
	kv[n + 2] = "detail_chunk";
	kv[n + 3] = chunk;
	kv[n + 4] = "detail_bytes";
	kv[n + 5] = bytes;
	kv[n + 6] = "detail_sha256";
	kv[n + 7] = hex;
	kv[n + 8] = NULL;
	for (off = 0, i = 1; off < len; off += cut, i++) {
		cut = part_len(detail, off, len);
		memcpy(chunk, detail + off, cut);
		chunk[cut] = '\0';
		snprintf(part, sizeof(part), "%zu/%zu", i, total);
		log_record(srv->log, rid, "audit", kv);
	}
}

/*
 * Every audit event also goes to the log, where a collector keeps it for
 * as long as it likes: the store keeps only the newest AF_AUDIT_RING, and
 * shortens a large detail. A detail too long for one line goes whole, in
 * parts on lines of their own (audit_parts()).
 */
static void audit_to_log(void *arg, const json_t *ev, int stored)
{
	af_server *srv = arg;
	char seq[24];
	char *detail = NULL;
	const char *rid = json_string_value(json_object_get(ev, "request_id"));
	const char *kv[23];
	size_t n = 0, len;

	kv[n++] = "actor";
	kv[n++] = json_string_value(json_object_get(ev, "actor"));
	kv[n++] = "action";
	kv[n++] = json_string_value(json_object_get(ev, "action"));
	kv[n++] = "target";
	kv[n++] = json_string_value(json_object_get(ev, "target"));
	snprintf(seq, sizeof(seq), "%lld",
		 (long long)json_integer_value(json_object_get(ev, "seq")));
	kv[n++] = "seq";
	kv[n++] = seq;
	kv[n++] = "stored";
	kv[n++] = stored ? "true" : "false";
	if (json_object_get(ev, "ip") != NULL) {
		kv[n++] = "ip";
		kv[n++] = json_string_value(json_object_get(ev, "ip"));
	}
	if (json_object_get(ev, "detail") != NULL)
		detail = json_dumps(json_object_get(ev, "detail"),
				    JSON_COMPACT | JSON_SORT_KEYS);
	len = detail != NULL ? strlen(detail) : 0;
	if (detail != NULL && len <= AUDIT_LOG_DETAIL_MAX) {
		kv[n++] = "detail";
		kv[n++] = detail;
	}
	kv[n] = NULL;
	for (size_t i = 1; i < n; i += 2)
		if (kv[i] == NULL)
			kv[i] = "";
	if (detail != NULL && len > AUDIT_LOG_DETAIL_MAX)
		audit_parts(srv, rid, kv, n, detail, len);
	else
		log_record(srv->log, rid, "audit", kv);
	free(detail);
}

/*
 * Makes the directory, which times the password check. At the top of
 * the ranges that takes minutes, and the caller has the stop signals
 * blocked for its sigwait: they are let through to this thread
 * meanwhile, so that SIGTERM or SIGINT ends the start at once by their
 * default action. Nothing is served yet, no other thread runs, and the
 * timing writes nothing.
 */
static af_dir_status dir_timed(af_server *srv, const af_dir_options *dopt,
			       char *err, size_t errlen)
{
	sigset_t stop, was;
	af_dir_status st;
	int masked;

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	masked = pthread_sigmask(SIG_UNBLOCK, &stop, &was) == 0;
	st = af_dir_new(srv->store, dopt, &srv->dir, err, errlen);
	if (masked)
		(void)pthread_sigmask(SIG_SETMASK, &was, NULL);
	return st;
}

/* A password check over this keeps each sign-in waiting noticeably. */
#define SLOW_CHECK_WARN_NS (1000ull * 1000 * 1000)

/* Tells what one password check takes, with a warning when it is slow. */
static void slow_check_told(af_server *srv)
{
	uint64_t ns = af_dir_check_ns(srv->dir);
	unsigned long long ms = (unsigned long long)(ns / 1000000u);

	if (ns < SLOW_CHECK_WARN_NS) {
		log_info(srv->log, NULL, "passwords",
			 "a password check takes %llu ms", ms);
		return;
	}
	log_warn(srv->log, NULL, "passwords",
		 "a password check takes %llu ms: every sign-in waits that "
		 "long, and one core checks one password at a time; lower "
		 "password_hash.argon2id (m_kib, t) to keep it under a second",
		 ms);
}

/* A damaged record is told at most this often: while a policy or the
 * MFA workflow is, every sign-in reads it. */
#define DAMAGE_TOLD_EVERY_NS (10ull * 1000 * 1000 * 1000)

/* A record that is not what its module wrote (store_damaged()). */
static void damage_to_log(void *arg, const char *key)
{
	af_server *srv = arg;
	uint64_t now = af_mono_ns(), last = atomic_load(&srv->damage_told_ns);

	if ((last != 0 && now - last < DAMAGE_TOLD_EVERY_NS) ||
	    !atomic_compare_exchange_strong(&srv->damage_told_ns, &last, now))
		return;
	log_error(srv->log, NULL, "store",
		  "record %s is damaged (not the JSON object written there, or "
		  "not naming itself as its key does): listings leave it out, "
		  "and requests that need it (every sign-in, for a policy or "
		  "the MFA workflow) fail (503) until it is restored or "
		  "removed",
		  key);
}

/* What the store tells an operator (its state file): one log line. */
static void store_to_log(void *arg, int level, const char *msg)
{
	af_server *srv = arg;

	if (level >= STORE_REPORT_ERROR)
		log_error(srv->log, NULL, "store", "%s", msg);
	else if (level == STORE_REPORT_WARNING)
		log_warn(srv->log, NULL, "store", "%s", msg);
	else
		log_info(srv->log, NULL, "store", "%s", msg);
}

/*
 * The memory store's cap: store.max_mb, or half the machine's memory, so
 * that sign-ins nobody finishes cannot take it all.
 */
static uint64_t store_cap_of(const af_config *cfg)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	if (cfg->store_backend != STORE_BACKEND_MEMORY)
		return 0;
	if (cfg->store_max_mb != 0)
		return (uint64_t)cfg->store_max_mb << 20;
	if (pages <= 0 || size <= 0)
		return 0;
	return (uint64_t)pages * (uint64_t)size / 2;
}

/* The store options of a configuration. */
static void store_options_of(const af_config *cfg, store_options *so)
{
	memset(so, 0, sizeof(*so));
	so->backend = cfg->store_backend;
	so->state_dir = cfg->state_dir;
	so->url = cfg->store_url;
	so->prefix = cfg->store_prefix;
	so->max_bytes = store_cap_of(cfg);
	so->timeout_ms = cfg->store_timeout_ms;
}

int af_server_check(const af_config *cfg, char *err, size_t errlen)
{
	store_options so;
	char serr[256];

	if (cfg->tls_cert_file[0] != '\0' &&
	    af_tls_files_check(cfg->tls_cert_file, cfg->tls_key_file, err,
			       errlen) != 0)
		return -1;
	store_options_of(cfg, &so);
	if (store_check(&so, serr, sizeof(serr)) != STORE_OK) {
		/* What store_check() looks at: the url, or the state folder. */
		snprintf(err, errlen, "%s: %s",
			 cfg->store_backend == STORE_BACKEND_REDIS
				 ? "store.url"
				 : "state_dir",
			 serr);
		OPENSSL_cleanse(serr, sizeof(serr));
		return -1;
	}
	return 0;
}

/* The line a start says of a damaged key ring, why the ring's reason. */
static void ring_damaged(char *err, size_t errlen, const char *why)
{
	/*
	 * Not made anew: the tokens its keys signed would no longer verify,
	 * and a node still holding them would be told its keys are gone.
	 */
	snprintf(err, errlen,
		 "signing keys: the key ring in the store is damaged (%s): "
		 "restore the store from a backup",
		 why);
}

int af_server_check_state(const af_config *cfg, char *err, size_t errlen)
{
	store_options so;
	store_ctx *copy = NULL;
	char serr[512];
	jose_status jst;

	store_options_of(cfg, &so);
	if (store_open_state_copy(&so, &copy, serr, sizeof(serr)) != STORE_OK) {
		snprintf(err, errlen, "state_dir: %s", serr);
		return -1;
	}
	/* What a start would refuse of what the state holds: the keys. */
	jst = copy != NULL ? af_keyring_check_stored(copy, serr, sizeof(serr))
			   : JOSE_OK;
	store_close(copy);
	if (jst == JOSE_ERR_CORRUPT)
		ring_damaged(err, errlen, serr);
	else if (jst != JOSE_OK)
		snprintf(err, errlen, "signing keys: %s", serr);
	return jst == JOSE_OK ? 0 : -1;
}

int af_server_init(af_server *srv, const af_config *cfg, log_ctx *log,
		   char *err, size_t errlen)
{
	store_options so;
	af_keyring_options ko;
	af_dir_options dopt;
	char serr[256];
	long cores;
	store_status sst;
	jose_status jst;
	af_dir_status dst;
	af_pwlist_status pst;
	size_t skipped, first_skipped;

	memset(srv, 0, sizeof(*srv));
	srv->cfg = *cfg;
	srv->log = log;
	if (pthread_rwlock_init(&srv->admin_lock, NULL) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->admin_lock_made = 1;
	if (af_random_token(6, srv->rid_prefix, sizeof(srv->rid_prefix)) != 0) {
		snprintf(err, errlen, "could not draw random bytes");
		return -1;
	}
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	/*
	 * Password checks run on the work queue (http/server.c), but the
	 * other handlers still sign tokens (RSA) and read the store on these
	 * threads, and libmicrohttpd keeps each connection on the thread it
	 * was given to (in turn, http/server.c): with one thread per core
	 * two busy keep-alive connections on one thread leave a core idle.
	 * Four threads per core make that rarer; the kernel still shares
	 * the cores fairly.
	 */
	if (cfg->threads > 0)
		srv->threads = cfg->threads;
	else
		srv->threads = cores > 0 ? 4 * (unsigned)cores : 8;
	srv->metrics = af_metrics_new(af_route_name, af_route_count());
	if (srv->metrics == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}

	store_options_of(cfg, &so);
	so.report = store_to_log;
	so.report_arg = srv;
	sst = store_open(&so, &srv->store, serr, sizeof(serr));
	if (sst == STORE_OK)
		sst = store_ping_why(srv->store, serr, sizeof(serr));
	if (sst != STORE_OK) {
		/* Redis down or refusing the url's credentials, say. */
		snprintf(err, errlen, "store: %s", serr);
		return -1;
	}
	store_set_damage_sink(srv->store, damage_to_log, srv);
	if (store_get_backend(srv->store) == STORE_BACKEND_MEMORY) {
		srv->nonces_since = af_now();
		srv->nonces_mono_ns = af_mono_ns();
	}
	if (cfg->flows_per_ip != 0)
		srv->flow_bytes_per_ip =
			so.max_bytes / 100 * AF_FLOW_IP_SHARE_PCT;

	memset(&ko, 0, sizeof(ko));
	ko.rsa_bits = cfg->rsa_bits;
	ko.lifetime_days = cfg->key_lifetime_days;
	ko.alert_days = cfg->key_alert_days;
	/*
	 * Signed tokens live 10 minutes, but an id_token may come back as a
	 * logout or login hint long after: keep retired keys a day.
	 */
	ko.max_token_lifetime_s = 86400;
	/* Nodes sharing a Redis store take in each other's rotations. */
	ko.refresh_s = cfg->store_backend == STORE_BACKEND_REDIS
			       ? AF_KEYS_REFRESH_S
			       : 0;
	ko.notice = keys_to_log;
	ko.notice_arg = srv;
	jst = af_keyring_open_why(srv->store, &ko, &srv->keys, serr,
				  sizeof(serr));
	if (jst == JOSE_ERR_CORRUPT) {
		ring_damaged(err, errlen, serr);
		return -1;
	}
	if (jst != JOSE_OK) {
		snprintf(err, errlen, "signing keys: %s", serr);
		return -1;
	}
	jst = af_keyring_ensure_current(srv->keys);
	if (jst != JOSE_OK) {
		snprintf(err, errlen, "signing keys: %s", jose_strerror(jst));
		return -1;
	}

	pst = af_pwlist_load(cfg->pw_blocklist_file[0] != '\0'
				     ? cfg->pw_blocklist_file
				     : NULL,
			     &srv->pwlist, serr, sizeof(serr));
	if (pst != AF_PWLIST_OK) {
		snprintf(err, errlen, "passwords.blocklist_file: %s", serr);
		return -1;
	}
	log_info(srv->log, NULL, "passwords",
		 "%zu common and breached passwords are refused when set%s",
		 af_pwlist_count(srv->pwlist),
		 cfg->pw_blocklist_file[0] != '\0'
			 ? " (the built-in list and passwords.blocklist_file)"
			 : " (the built-in list)");
	skipped = af_pwlist_skipped(srv->pwlist, &first_skipped);
	if (skipped > 0)
		log_warn(srv->log, NULL, "passwords",
			 "passwords.blocklist_file: %zu line(s) skipped, the "
			 "first at line %zu: longer than any password (%d "
			 "bytes) or holding a NUL byte",
			 skipped, first_skipped, AF_PW_MAX);

	af_dir_options_default(&dopt);
	dopt.pw.m_kib = cfg->argon2_m_kib;
	dopt.pw.t = cfg->argon2_t;
	dopt.pw.p = cfg->argon2_p;
	_Static_assert(AF_CONFIG_PW_MIN_LENGTH_MAX <= AF_DIR_PW_MIN_CHARS_MAX,
		       "the directory takes any minimum the config allows");
	dopt.pw_min_chars = cfg->pw_min_length;
	dopt.pw_temporary_s = (int64_t)cfg->pw_temporary_hours * 3600;
	dopt.pwlist = srv->pwlist;
	dopt.throttle.lock_s = cfg->lockout_s;
	_Static_assert(AF_CONFIG_LOCKOUT_AFTER_MAX < AF_THROTTLE_STRIKES_MAX,
		       "a lock comes before the one that lasts");
	dopt.throttle.user_lock_after = cfg->lockout_after;
	dopt.audit_keep_s = (int64_t)cfg->audit_keep_days * 86400;
	dopt.audit_sink = audit_to_log;
	dopt.audit_arg = srv;
	/* At the top of the ranges a check takes minutes: say why it waits. */
	log_info(srv->log, NULL, "passwords",
		 "timing the password check (argon2id m_kib=%u t=%u p=%u)",
		 dopt.pw.m_kib, dopt.pw.t, dopt.pw.p);
	dst = dir_timed(srv, &dopt, serr, sizeof(serr));
	if (dst != AF_DIR_OK) {
		snprintf(err, errlen, "directory: %s", serr);
		return -1;
	}
	slow_check_told(srv);
	/* Unmarked, nobody is idle yet; the next start marks it. */
	dst = af_dir_signin_start(srv->dir);
	if (dst != AF_DIR_OK)
		log_warn(srv->log, NULL, "start",
			 "when sign-in records began could not be noted: %s",
			 af_dir_strerror(dst));
	srv->bcl = af_bcl_new(srv->log, srv->metrics, srv->keys,
			      srv->cfg.issuer, srv->store);
	if (srv->bcl == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->brand = af_brand_cache_new(srv->dir);
	if (srv->brand == NULL) {
		snprintf(err, errlen, "branding: out of memory");
		return -1;
	}
	return 0;
}

static int mend_stop(void *arg)
{
	af_server *srv = arg;

	return atomic_load(&srv->stopping);
}

/*
 * A user marked as being removed: a removal under way (here or on another
 * node), or one a stop cut short, which stays disabled until removed.
 */
static void told_removing(void *arg, const char *user)
{
	af_server *srv = arg;

	log_warn(srv->log, NULL, "directory",
		 "user %s is marked as being removed: a removal under way, or "
		 "one a stop cut short; if it stays so, remove the user again "
		 "(authflowctl user remove %s)",
		 user, user);
}

static void told_name(void *arg, const char *client_id, const char *name,
		      const char *holder)
{
	af_server *srv = arg;

	if (holder == NULL)
		log_warn(srv->log, NULL, "directory",
			 "app %s: its name \"%s\" was not yet kept for it (a "
			 "change cut short); it now is",
			 client_id, name);
	else
		log_error(srv->log, NULL, "directory",
			  "apps %s and %s are both named \"%s\" (a change "
			  "cut short); rename one of them (authflowctl app "
			  "set %s --name NEW), or remove it when no relying "
			  "party uses it, as one a create that was refused "
			  "left behind (authflowctl app remove %s)",
			  holder, client_id, name, client_id, client_id);
}

static void mend_app_names(af_server *srv)
{
	size_t apps = 0, mended = 0;
	af_dir_status st;

	st = af_dir_app_names_mend(srv->dir, mend_stop, srv, told_name, srv,
				   &apps, &mended);
	if (st != AF_DIR_OK)
		log_error(srv->log, NULL, "directory",
			  "the names of apps could not be checked (%s) after "
			  "%zu apps; the next start checks them again",
			  af_dir_strerror(st), apps);
	else
		log_info(srv->log, NULL, "directory",
			 "the names of %zu apps were checked: %zu mended", apps,
			 mended);
}

static void *mend_main(void *arg)
{
	af_server *srv = arg;
	size_t users = 0, mended = 0;
	af_dir_status st;

	mend_app_names(srv);

	st = af_dir_memberships_mend(srv->dir, mend_stop, told_removing, srv,
				     &users, &mended);
	if (st != AF_DIR_OK)
		log_error(srv->log, NULL, "directory",
			  "the member sets of groups and OUs could not be "
			  "checked (%s) after %zu users; the next start "
			  "checks them again",
			  af_dir_strerror(st), users);
	else if (mended > 0)
		log_warn(srv->log, NULL, "directory",
			 "%zu memberships named by user records were missing "
			 "from the member sets of their groups or OUs (a "
			 "change cut short) and were added",
			 mended);
	else
		log_info(srv->log, NULL, "directory",
			 "the member sets of groups and OUs were checked "
			 "against %zu user records: nothing was missing",
			 users);
	return NULL;
}

int af_server_mend_start(af_server *srv)
{
	if (pthread_create(&srv->mend_thread, NULL, mend_main, srv) != 0) {
		log_error(srv->log, NULL, "directory",
			  "cannot start the check of the names of apps and "
			  "of the member sets of groups and OUs");
		return -1;
	}
	srv->mend_started = 1;
	return 0;
}

void af_server_cleanup(af_server *srv)
{
	if (srv->mhd != NULL)
		af_server_stop(srv, 0);
	if (srv->mend_started) {
		/* It ends at the next user once stopping is set. */
		atomic_store(&srv->stopping, 1);
		pthread_join(srv->mend_thread, NULL);
		srv->mend_started = 0;
	}
	/* Logout tokens still waiting get one try, briefly. */
	af_bcl_free(srv->bcl, BCL_STOP_GRACE_MS);
	af_brand_cache_free(srv->brand);
	af_dir_free(srv->dir);
	af_pwlist_free(srv->pwlist);
	af_keyring_free(srv->keys);
	store_close(srv->store);
	af_metrics_free(srv->metrics);
	OPENSSL_cleanse(srv->demo_client_secret,
			sizeof(srv->demo_client_secret));
	if (srv->admin_lock_made)
		pthread_rwlock_destroy(&srv->admin_lock);
	memset(srv, 0, sizeof(*srv));
}

/* 1 when a and b hold the same admin tokens, in the same order. */
static int same_tokens(const af_config *a, const af_config *b)
{
	return a->admin_token_count == b->admin_token_count &&
	       memcmp(a->admin_tokens, b->admin_tokens,
		      sizeof(a->admin_tokens[0]) * a->admin_token_count) == 0;
}

static const char *role_name(af_admin_role role)
{
	return role == AF_ROLE_SUPERADMIN ? "superadmin" : "admin";
}

static const af_admin_token *token_named(const af_config *cfg, const char *name)
{
	unsigned i;

	for (i = 0; i < cfg->admin_token_count; i++) {
		if (strcmp(cfg->admin_tokens[i].name, name) == 0)
			return &cfg->admin_tokens[i];
	}
	return NULL;
}

/* One audit event of a token added, changed or removed by a reload. */
static void token_event(af_server *srv, const char *action,
			const af_admin_token *t, const af_admin_token *was)
{
	json_t *detail = json_pack("{s:s}", "role", role_name(t->role));
	af_dir_status st;

	if (detail != NULL && was != NULL) {
		(void)json_object_set_new(detail, "was_role",
					  json_string(role_name(was->role)));
		(void)json_object_set_new(
			detail, "new_token",
			json_boolean(memcmp(t->sha256, was->sha256,
					    sizeof(t->sha256)) != 0));
	}
	/* Not stored: its log line, written all the same, says so. */
	st = af_audit_record(srv->dir, AF_DIR_ACTOR_SERVER, action, t->name,
			     detail);
	(void)st;
	json_decref(detail);
}

/*
 * The audit trail of what a reload changes in who administers the
 * server: each token added, changed (its role or its secret) or removed.
 */
static void audit_tokens(af_server *srv, const af_config *next)
{
	const af_admin_token *t, *was;
	unsigned i;

	for (i = 0; i < next->admin_token_count; i++) {
		t = &next->admin_tokens[i];
		was = token_named(&srv->cfg, t->name);
		if (was == NULL)
			token_event(srv, "admin_token.add", t, NULL);
		else if (memcmp(t, was, sizeof(*t)) != 0)
			token_event(srv, "admin_token.change", t, was);
	}
	for (i = 0; i < srv->cfg.admin_token_count; i++) {
		t = &srv->cfg.admin_tokens[i];
		if (token_named(next, t->name) == NULL)
			token_event(srv, "admin_token.remove", t, NULL);
	}
}

int af_server_reload(af_server *srv, const af_config *next)
{
	if (same_tokens(&srv->cfg, next))
		return 0;
	audit_tokens(srv, next);
	pthread_rwlock_wrlock(&srv->admin_lock);
	memcpy(srv->cfg.admin_tokens, next->admin_tokens,
	       sizeof(srv->cfg.admin_tokens));
	srv->cfg.admin_token_count = next->admin_token_count;
	pthread_rwlock_unlock(&srv->admin_lock);
	return 1;
}
