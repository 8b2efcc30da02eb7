/*
 * The redis backend (hiredis 0.14, synchronous API).
 *
 * A redisContext belongs to one thread at a time, so each calling thread
 * gets its own connection, kept in thread-specific storage under a key
 * made for this store; no lock is held while talking to the server. A
 * thread connects on its first call. When a connection fails it is
 * dropped; a connection that had been working is retried on the next
 * call at once (the server may just have restarted), a connection the
 * server closed while it sat idle is made anew before it is used (so
 * that a restart costs no request an error), and failed attempts
 * back off from 100 ms, doubling to 5 s. Calls never sleep: during a
 * back-off they fail at once with STORE_ERR_UNAVAILABLE, so a dead server
 * costs a request an error, not a stalled thread. A url with a password
 * sends AUTH (with the ACL user when it names one) on every connect; the
 * password lives in the store's memory only, wiped when it closes.
 *
 * Everything that must happen once is one server-side step: GETDEL, SET
 * with NX or XX, and two Lua scripts (compare-and-set, increment with a
 * TTL on create), which are loaded on connect and called by SHA, with a
 * fallback to EVAL when the server has lost its script cache. Keys and
 * values always go through %b, so they may hold any byte.
 *
 * A job queue is a Stream whose entries carry one field, "e", holding the
 * entry text; XADD trims it to about STORE_QUEUE_MAX entries (the "~"
 * lets the server trim whole nodes, which is much cheaper than exact),
 * and store_queue_trim() takes out entries past an age by the server's
 * clock, exactly.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>

#include "common/httpparse.h"
#include "common/util.h"
#include "store_internal.h"
#include "store_redis_reply.h"

#define REDIS_URL_MAX	     1024
#define REDIS_HOST_MAX	     255
/* An ACL user name and a password from the url's userinfo. */
#define REDIS_USER_MAX	     128
#define REDIS_PASS_MAX	     255
/* Why this thread's connection last failed, for store_ping_why(). */
#define REDIS_WHY_MAX	     256
#define REDIS_PORT_DEFAULT   6379ul
#define REDIS_DB_MAX	     1000000ul
#define REDIS_TIMEOUT_MAX_MS 600000u
#define REDIS_BACKOFF_MIN_MS 100u
#define REDIS_IDLE_LOOK_NS   ((uint64_t)1000000) /* closed_while_idle() */
#define REDIS_BACKOFF_MAX_MS 5000u
#define REDIS_SHA_LEN	     40
/* SSCAN batch size: bounds each reply whatever the size of the set. */
#define REDIS_SCAN_COUNT     "256"
#define REDIS_NUM_TEXT	     24
/* What a blocking read's socket waits beyond BLOCK, at the least. */
#define REDIS_BLOCK_SLACK_MS 1000u
/* Most arguments a command of this backend has (XREADGROUP with BLOCK). */
#define REDIS_ARGS_MAX	     11
/*
 * The key the connect-time permission probes name, after the prefix. The
 * probes only read it, or acknowledge an entry no stream can hold, so it
 * need not be reserved: they change nothing whatever it holds.
 */
#define REDIS_PROBE_KEY	     "probe"

enum script_id {
	SCRIPT_CAS,
	SCRIPT_INCR,
	SCRIPT_SADD_TTL,
	SCRIPT_PRUNE,
	SCRIPT_DEL_IF,
	SCRIPT_TRIM,
	SCRIPT_COUNT,
};

/*
 * ARGV: expected, new value, TTL in ms ("0": keep the current TTL).
 * Returns -1 (no key), 0 (value differs) or 1 (replaced).
 */
static const char cas_lua[] =
	"local v = redis.call('GET', KEYS[1])\n"
	"if not v then return -1 end\n"
	"if v ~= ARGV[1] then return 0 end\n"
	"if ARGV[3] == '0' then\n"
	"  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')\n"
	"else\n"
	"  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
	"end\n"
	"return 1\n";

/*
 * ARGV: delta, TTL in ms for a new key, unused. Returns the new value as
 * the stored text: a Lua number is a double and would round values past
 * 2^53.
 */
static const char incr_lua[] = "local existed = redis.call('EXISTS', KEYS[1])\n"
			       "redis.call('INCRBY', KEYS[1], ARGV[1])\n"
			       "if existed == 0 and ARGV[2] ~= '0' then\n"
			       "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
			       "end\n"
			       "return redis.call('GET', KEYS[1])\n";

/* SADD and a sliding PEXPIRE in one step, so no volatile set outlives. */
static const char sadd_ttl_lua[] =
	"redis.call('SADD', KEYS[1], ARGV[1]) "
	"return redis.call('PEXPIRE', KEYS[1], ARGV[2])";

/*
 * ARGV: group, least idle time in ms. Deletes the group's consumers with
 * no pending entry idle at least that long; returns how many, or the
 * error of XINFO (no such key, NOGROUP) as it is.
 */
static const char prune_lua[] =
	"local list = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])\n"
	"if list.err then return list end\n"
	"local least, n = tonumber(ARGV[2]), 0\n"
	"for _, c in ipairs(list) do\n"
	"  local f = {}\n"
	"  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end\n"
	"  if f.pending == 0 and f.idle >= least then\n"
	"    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f.name)\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"return n\n";

/*
 * ARGV: expected, unused, unused. Returns -1 (no key), 0 (value differs)
 * or 1 (deleted), as the compare-and-set script does.
 */
static const char del_if_lua[] = "local v = redis.call('GET', KEYS[1])\n"
				 "if not v then return -1 end\n"
				 "if v ~= ARGV[1] then return 0 end\n"
				 "redis.call('UNLINK', KEYS[1])\n"
				 "return 1\n";

/*
 * ARGV: an age in ms, unused, unused. XTRIM MINID (exact) of the entries
 * that age or older by the server's own clock, which made their ids: a
 * node whose clock runs ahead would take young ones too. Entries of the
 * millisecond that age ago go too. Returns how many went.
 */
static const char trim_lua[] =
	"local t = redis.call('TIME')\n"
	"local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)"
	" - tonumber(ARGV[1])\n"
	"if ms < 0 then return 0 end\n"
	"return redis.call('XTRIM', KEYS[1], 'MINID', '=',"
	" string.format('%.0f-0', ms + 1))\n";

static const char *const scripts[SCRIPT_COUNT] = {
	cas_lua, incr_lua, sadd_ttl_lua, prune_lua, del_if_lua, trim_lua};

struct redis_store;

/* One thread's connection. */
struct redis_conn {
	struct redis_conn *prev, *next;
	struct redis_store *rs;
	redisContext *c;
	char sha[SCRIPT_COUNT][REDIS_SHA_LEN + 1];
	uint64_t retry_ns;  /* monotonic time before which we do not connect */
	uint64_t failed_ns; /* monotonic time of the last failure */
	uint64_t used_ns;   /* monotonic time of the last answer */
	uint64_t backoff_ms;
	bool healthy; /* the last command got an answer */
	char why[REDIS_WHY_MAX];
};

struct redis_store {
	pthread_key_t tkey;
	pthread_mutex_t lock; /* guards conns; never held during I/O */
	struct redis_conn *conns;
	bool unix_sock;
	char host[REDIS_HOST_MAX + 1];
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	int port;
	unsigned db;
	struct timeval tv;
	/* AUTH on connect when pass is set; user "" is Redis's default. */
	char user[REDIS_USER_MAX + 1];
	char pass[REDIS_PASS_MAX + 1];
	/* The store's key prefix, for the permission probes at connect. */
	char prefix[STORE_PREFIX_MAX + 1];
	/*
	 * Monotonic time a thread last got an answer after a failure: a
	 * thread in its back-off tries again as soon as another got through,
	 * so that all come back with Redis rather than each after its own
	 * back-off.
	 */
	_Atomic uint64_t up_ns;
	/* Told of what an operator should know (store_options.report). */
	void (*report)(void *arg, int level, const char *msg);
	void *report_arg;
	/* Monotonic time the last WRONGTYPE answer was told (wrong_type()). */
	_Atomic uint64_t wrongtype_told_ns;
};

/*
 * A command argument. Commands go to hiredis as argument vectors, never
 * as format strings: nothing to parse, one allocation per command, and
 * binary-safe by construction.
 */
struct rarg {
	const void *p;
	size_t n;
};

/* An argument from a string literal, and from a NUL-terminated string. */
#define RLIT(s)	 ((struct rarg){(s), sizeof(s) - 1})
#define RSTR(s)	 ((struct rarg){(s), strlen(s)})
#define RARGS(a) (sizeof(a) / sizeof((a)[0]))

/* Splits argc arguments into the two arrays hiredis wants; 0 or -1. */
static int args_split(const struct rarg *args, size_t argc, const char **argv,
		      size_t *lens)
{
	size_t i;

	if (argc == 0 || argc > REDIS_ARGS_MAX)
		return -1;
	for (i = 0; i < argc; i++) {
		/* hiredis would memcpy from a NULL pointer for "". */
		argv[i] = args[i].p != NULL ? args[i].p : "";
		lens[i] = args[i].n;
	}
	return 0;
}

/* --- connections ---------------------------------------------------------- */

static void conn_failed(struct redis_conn *rc)
{
	if (rc->c != NULL) {
		redisFree(rc->c);
		rc->c = NULL;
	}
	rc->failed_ns = af_mono_ns();
	if (rc->healthy) {
		rc->healthy = false;
		rc->retry_ns = 0;
		rc->backoff_ms = REDIS_BACKOFF_MIN_MS;
		return;
	}
	rc->retry_ns = af_mono_ns() + rc->backoff_ms * 1000000u;
	rc->backoff_ms = rc->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS
				 ? REDIS_BACKOFF_MAX_MS
				 : rc->backoff_ms * 2;
}

/*
 * The server answered that it is no primary (a failover made it a
 * replica while the link stood): the link is dropped, as a failed one is,
 * so that the next call connects again, resolving the host name anew,
 * instead of every write on this thread failing for as long as the link
 * lasts.
 */
static void demoted(struct redis_conn *rc)
{
	snprintf(rc->why, sizeof(rc->why),
		 "redis answered that it is not the primary (a replica now, "
		 "or its primary is down)");
	/*
	 * Connecting again checks that the server takes writes
	 * (probe_and_load()): while the name still gives the replica, the
	 * connects fail and back off as for a server that does not answer.
	 */
	conn_failed(rc);
}

/*
 * A command got its answer. The first after a failure tells the other
 * threads that Redis answers again (a connect alone does not: Redis may
 * take connections while it is too slow to answer commands).
 */
static void answered(struct redis_conn *rc)
{
	if (!rc->healthy)
		atomic_store(&rc->rs->up_ns, af_mono_ns());
	rc->healthy = true;
	rc->backoff_ms = REDIS_BACKOFF_MIN_MS;
}

/* Runs at the exit of a thread that used the store. */
static void conn_destroy(void *p)
{
	struct redis_conn *rc = p;
	struct redis_store *rs = rc->rs;

	pthread_mutex_lock(&rs->lock);
	if (rc->prev != NULL)
		rc->prev->next = rc->next;
	else
		rs->conns = rc->next;
	if (rc->next != NULL)
		rc->next->prev = rc->prev;
	pthread_mutex_unlock(&rs->lock);
	if (rc->c != NULL)
		redisFree(rc->c);
	OPENSSL_free(rc);
}

/* The command timeout in milliseconds, for messages. */
static unsigned timeout_ms(const struct redis_store *rs)
{
	return (unsigned)rs->tv.tv_sec * 1000u +
	       (unsigned)(rs->tv.tv_usec / 1000);
}

/*
 * Says in rc->why why cmd, sent while connecting, got no reply at all. e
 * is errno right after the failed read: hiredis reports a read that ran
 * into the socket timeout as an I/O error with EAGAIN, which is a server
 * that accepts but does not answer, not one that said no.
 */
static bool is_timeout(int e)
{
#if EWOULDBLOCK != EAGAIN
	if (e == EWOULDBLOCK)
		return true;
#endif
	return e == EAGAIN || e == ETIMEDOUT;
}

static store_status no_reply(struct redis_conn *rc, const char *cmd, int e)
{
	const redisContext *c = rc->c;
	bool timed_out = is_timeout(e);

	if (c->err == REDIS_ERR_OOM) {
		snprintf(rc->why, sizeof(rc->why), "out of memory");
		return STORE_ERR_NOMEM;
	}
	if (c->err == REDIS_ERR_IO && timed_out)
		snprintf(rc->why, sizeof(rc->why),
			 "redis did not answer %s within %u ms", cmd,
			 timeout_ms(rc->rs));
	else if (c->err == REDIS_ERR_EOF)
		snprintf(rc->why, sizeof(rc->why),
			 "redis closed the connection at %s", cmd);
	else
		snprintf(rc->why, sizeof(rc->why),
			 "redis connection lost at %s: %s", cmd,
			 c->errstr[0] != '\0' ? c->errstr : "no answer");
	return c->err == REDIS_ERR_PROTOCOL ? STORE_ERR_PROTOCOL
					    : STORE_ERR_UNAVAILABLE;
}

static bool error_is(const redisReply *r, const char *code)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	       strncmp(r->str, code, strlen(code)) == 0;
}

/*
 * Whether r, the reply to cmd while connecting, refuses it for want of a
 * password (NOAUTH) or of a permission (NOPERM); if so rc->why says so
 * and what to change. key is the key cmd named (NULL for none), kind the
 * ACL category of commands to grant, write whether it needs to write.
 * Never names the password, nor echoes the url that may hold one.
 */
static bool refused(struct redis_conn *rc, const redisReply *r, const char *cmd,
		    const char *key, const char *kind, bool write)
{
	const struct redis_store *rs = rc->rs;

	if (error_is(r, "NOAUTH")) {
		if (rs->unix_sock)
			snprintf(rc->why, sizeof(rc->why),
				 "redis asks for a password (NOAUTH) and a "
				 "unix: store.url cannot carry one: use "
				 "redis://[USER]:PASSWORD@HOST[:PORT]");
		else if (rs->pass[0] == '\0')
			snprintf(rc->why, sizeof(rc->why),
				 "redis asks for a password (NOAUTH): put it "
				 "in store.url as "
				 "redis://[USER]:PASSWORD@HOST[:PORT]");
		else
			snprintf(rc->why, sizeof(rc->why),
				 "redis asks for a password (NOAUTH) at %s "
				 "after it took AUTH",
				 cmd);
		return true;
	}
	if (!error_is(r, "NOPERM"))
		return false;
	if (key == NULL)
		snprintf(rc->why, sizeof(rc->why),
			 "redis user lacks permission: %s (NOPERM): grant the "
			 "%s commands",
			 cmd, kind);
	else
		snprintf(rc->why, sizeof(rc->why),
			 "redis user lacks permission: %s on %s (NOPERM): "
			 "grant the %s commands and %skeys %s*",
			 cmd, key, kind, write ? "write access to " : "",
			 rs->prefix);
	return true;
}

/*
 * A command sent at connect to learn early whether the ACL user may do
 * what the store will: it names the probe key and changes nothing.
 */
struct probe {
	const char *name; /* for messages */
	const char *kind; /* the ACL category to grant */
	bool write;
	size_t argc;
	struct rarg args[8];
};

/*
 * Queues the permission probes and the scripts' SCRIPT LOAD in the
 * context's output buffer, so they cost one round trip together: this
 * runs on every (re)connect. REDIS_OK or REDIS_ERR (no memory).
 */
static int append_connect_commands(struct redis_conn *rc,
				   const struct probe *probes, size_t n)
{
	const char *argv[REDIS_ARGS_MAX];
	size_t lens[REDIS_ARGS_MAX], i;

	for (i = 0; i < n; i++) {
		if (args_split(probes[i].args, probes[i].argc, argv, lens) !=
			    0 ||
		    redisAppendCommandArgv(rc->c, (int)probes[i].argc, argv,
					   lens) != REDIS_OK)
			return REDIS_ERR;
	}
	for (i = 0; i < SCRIPT_COUNT; i++) {
		const char *sargv[] = {"SCRIPT", "LOAD", scripts[i]};
		size_t slens[] = {6, 4, strlen(scripts[i])};

		if (redisAppendCommandArgv(rc->c, 3, sargv, slens) != REDIS_OK)
			return REDIS_ERR;
	}
	return REDIS_OK;
}

/* Reads the reply to the next command sent while connecting. */
static store_status connect_reply(struct redis_conn *rc, const char *cmd,
				  redisReply **out)
{
	void *reply = NULL;

	*out = NULL;
	errno = 0;
	if (redisGetReply(rc->c, &reply) != REDIS_OK || reply == NULL)
		return no_reply(rc, cmd, errno);
	*out = reply;
	return STORE_OK;
}

/* Says why SCRIPT LOAD got r rather than a script's hash. */
static store_status script_refused(struct redis_conn *rc, const redisReply *r)
{
	if (refused(rc, r, "SCRIPT LOAD", NULL, "scripting", false))
		return STORE_ERR_CONFIG;
	/* Redis's own words (LOADING, OOM...) hold no secret. */
	snprintf(rc->why, sizeof(rc->why),
		 "redis refused to load authflow's scripts: %.120s",
		 r->type == REDIS_REPLY_ERROR && r->str != NULL
			 ? r->str
			 : "not a script hash");
	return STORE_ERR_UNAVAILABLE;
}

/*
 * Checks, after AUTH and SELECT, that the user may run what the store
 * needs on keys under the prefix, and loads the scripts. Without this a
 * user missing the stream commands, or held to other keys, would connect
 * and answer PING, and only the calls that need them would fail, each
 * with a reply the caller cannot tell from a broken server. The probes
 * touch one key no call uses, and only read it or acknowledge an entry
 * no stream holds. Error replies other than NOPERM and NOAUTH (a key of
 * another type, an older server) are left to the calls themselves.
 */
static store_status probe_and_load(struct redis_conn *rc)
{
	char key[STORE_PREFIX_MAX + sizeof(REDIS_PROBE_KEY)];
	const size_t klen = (size_t)snprintf(key, sizeof(key), "%s%s",
					     rc->rs->prefix, REDIS_PROBE_KEY);
	const struct rarg k = {key, klen};
	/*
	 * Each changes nothing on a key that does not exist: SET only if it
	 * exists, XADD only to a stream that exists, GETDEL, UNLINK and
	 * SREM of nothing; XREADGROUP of a group that does not exist is
	 * answered NOGROUP once the ACL let it through.
	 */
	const struct probe probes[] = {
		{"EXISTS", "keyspace", false, 2, {RLIT("EXISTS"), k}},
		{"GET", "string", false, 2, {RLIT("GET"), k}},
		{"SET",
		 "string",
		 true,
		 4,
		 {RLIT("SET"), k, RLIT("x"), RLIT("XX")}},
		{"GETDEL", "string", true, 2, {RLIT("GETDEL"), k}},
		{"UNLINK", "keyspace", true, 2, {RLIT("UNLINK"), k}},
		{"SSCAN", "set", false, 3, {RLIT("SSCAN"), k, RLIT("0")}},
		{"SREM", "set", true, 3, {RLIT("SREM"), k, RLIT("x")}},
		{"XLEN", "stream", false, 2, {RLIT("XLEN"), k}},
		{"XADD",
		 "stream",
		 true,
		 6,
		 {RLIT("XADD"), k, RLIT("NOMKSTREAM"), RLIT("*"), RLIT("f"),
		  RLIT("v")}},
		{"XTRIM",
		 "stream",
		 true,
		 4,
		 {RLIT("XTRIM"), k, RLIT("MAXLEN"), RLIT("0")}},
		{"XREADGROUP",
		 "stream",
		 true,
		 7,
		 {RLIT("XREADGROUP"), RLIT("GROUP"), RLIT(REDIS_PROBE_KEY),
		  RLIT(REDIS_PROBE_KEY), RLIT("STREAMS"), k, RLIT(">")}},
		{"XACK",
		 "stream",
		 true,
		 4,
		 {RLIT("XACK"), k, RLIT(REDIS_PROBE_KEY), RLIT("0-1")}},
	};
	const size_t n = sizeof(probes) / sizeof(probes[0]);
	redisReply *r = NULL;
	store_status st;
	size_t i;

	if (append_connect_commands(rc, probes, n) != REDIS_OK) {
		snprintf(rc->why, sizeof(rc->why), "out of memory");
		return STORE_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		st = connect_reply(rc, probes[i].name, &r);
		if (st != STORE_OK)
			return st;
		if (refused(rc, r, probes[i].name, key, probes[i].kind,
			    probes[i].write)) {
			freeReplyObject(r);
			return STORE_ERR_CONFIG;
		}
		/*
		 * A replica (the name still gives a server a failover
		 * demoted) is no store: the connect fails, and the next waits
		 * its backoff, as for a server that does not answer.
		 */
		if (r != NULL && redis_reply_demoted(r)) {
			snprintf(rc->why, sizeof(rc->why),
				 "redis is not the primary: %.120s", r->str);
			freeReplyObject(r);
			return STORE_ERR_UNAVAILABLE;
		}
		freeReplyObject(r);
	}
	for (i = 0; i < SCRIPT_COUNT; i++) {
		st = connect_reply(rc, "SCRIPT LOAD", &r);
		if (st != STORE_OK)
			return st;
		if (r->type != REDIS_REPLY_STRING || r->len != REDIS_SHA_LEN) {
			st = script_refused(rc, r);
			freeReplyObject(r);
			return st;
		}
		memcpy(rc->sha[i], r->str, REDIS_SHA_LEN + 1);
		freeReplyObject(r);
	}
	return STORE_OK;
}

/* AUTH with the url's credentials; never says what they were. */
static store_status authenticate(struct redis_store *rs, struct redis_conn *rc)
{
	const char *argv[3] = {"AUTH"};
	size_t lens[3] = {4};
	int argc = 1;
	redisReply *r;
	bool ok;

	if (rs->user[0] != '\0') {
		argv[argc] = rs->user;
		lens[argc++] = strlen(rs->user);
	}
	argv[argc] = rs->pass;
	lens[argc++] = strlen(rs->pass);
	errno = 0;
	r = redisCommandArgv(rc->c, argc, argv, lens);
	if (r == NULL)
		return no_reply(rc, "AUTH", errno);
	ok = redis_reply_status_is(r, "OK");
	if (!ok)
		snprintf(rc->why, sizeof(rc->why),
			 "redis refused the user name or password in "
			 "store.url");
	freeReplyObject(r);
	return ok ? STORE_OK : STORE_ERR_UNAVAILABLE;
}

/*
 * Whether r refuses SELECT for a database the server does not have
 * ("ERR DB index is out of range") or cannot have: a cluster keeps
 * database 0 only ("ERR SELECT is not allowed in cluster mode").
 */
static bool no_such_db(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	       (strstr(r->str, "DB index is out of range") != NULL ||
		strstr(r->str, "not allowed in cluster mode") != NULL);
}

static store_status select_db(struct redis_store *rs, struct redis_conn *rc)
{
	char db[REDIS_NUM_TEXT];
	const char *argv[] = {"SELECT", db};
	size_t lens[] = {6, 0};
	redisReply *r;
	store_status st = STORE_OK;

	lens[1] = (size_t)snprintf(db, sizeof(db), "%u", rs->db);
	errno = 0;
	r = redisCommandArgv(rc->c, 2, argv, lens);
	if (r == NULL)
		return no_reply(rc, "SELECT", errno);
	if (refused(rc, r, "SELECT", NULL, "connection", false)) {
		st = STORE_ERR_CONFIG;
	} else if (no_such_db(r)) {
		/* The url's mistake, which waiting does not mend. */
		snprintf(rc->why, sizeof(rc->why),
			 "redis refused database %u of store.url: %.120s",
			 rs->db, r->str);
		st = STORE_ERR_CONFIG;
	} else if (!redis_reply_status_is(r, "OK")) {
		/* Busy, full of clients, loading: it may take it later. */
		snprintf(rc->why, sizeof(rc->why),
			 "redis refused database %u: %.120s", rs->db,
			 r->type == REDIS_REPLY_ERROR && r->str != NULL
				 ? r->str
				 : "not OK");
		st = STORE_ERR_UNAVAILABLE;
	}
	freeReplyObject(r);
	return st;
}

static store_status conn_connect(struct redis_store *rs, struct redis_conn *rc)
{
	store_status st;

	if (rs->unix_sock)
		rc->c = redisConnectUnixWithTimeout(rs->path, rs->tv);
	else
		rc->c = redisConnectWithTimeout(rs->host, rs->port, rs->tv);
	if (rc->c == NULL) {
		snprintf(rc->why, sizeof(rc->why), "out of memory");
		return STORE_ERR_NOMEM;
	}
	if (rc->c->err != 0 || redisSetTimeout(rc->c, rs->tv) != REDIS_OK ||
	    (!rs->unix_sock && redisEnableKeepAlive(rc->c) != REDIS_OK)) {
		snprintf(
			rc->why, sizeof(rc->why), "cannot connect to redis: %s",
			rc->c->errstr[0] != '\0' ? rc->c->errstr : "no answer");
		return STORE_ERR_UNAVAILABLE;
	}
	if (rs->pass[0] != '\0') {
		st = authenticate(rs, rc);
		if (st != STORE_OK)
			return st;
	}
	if (rs->db != 0) {
		st = select_db(rs, rc);
		if (st != STORE_OK)
			return st;
	}
	return probe_and_load(rc);
}

/*
 * Whether the server closed a connection this thread has not used for a
 * while. Between commands nothing is due from Redis, so a socket that
 * reads as ready holds an end of file or an error. Looked at only after
 * REDIS_IDLE_LOOK_NS idle (one poll() per request at most, under load
 * none): the commands of one request follow each other closer than
 * that, and a connection Redis dropped between two requests (a restart,
 * CLIENT KILL, its idle timeout, a proxy) is made anew before the next
 * request's first command rather than failing it.
 */
static bool closed_while_idle(const struct redis_conn *rc)
{
	struct pollfd pfd;

	if (af_mono_ns() - rc->used_ns < REDIS_IDLE_LOOK_NS)
		return false;
	pfd.fd = rc->c->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, 0) > 0 && pfd.revents != 0;
}

/* This thread's connection, connected; fails fast during a back-off. */
static store_status conn_ready(struct redis_store *rs, struct redis_conn **out)
{
	struct redis_conn *rc = pthread_getspecific(rs->tkey);
	store_status st;

	if (rc == NULL) {
		rc = OPENSSL_zalloc(sizeof(*rc));
		if (rc == NULL)
			return STORE_ERR_NOMEM;
		rc->rs = rs;
		rc->backoff_ms = REDIS_BACKOFF_MIN_MS;
		if (pthread_setspecific(rs->tkey, rc) != 0) {
			OPENSSL_free(rc);
			return STORE_ERR_NOMEM;
		}
		pthread_mutex_lock(&rs->lock);
		rc->next = rs->conns;
		if (rs->conns != NULL)
			rs->conns->prev = rc;
		rs->conns = rc;
		pthread_mutex_unlock(&rs->lock);
	}
	if (rc->c != NULL && closed_while_idle(rc)) {
		/* Redis restarted, or dropped an idle client: connect anew
		 * now rather than fail the command this request brings. */
		redisFree(rc->c);
		rc->c = NULL;
		rc->retry_ns = 0;
	}
	if (rc->c == NULL) {
		if (af_mono_ns() < rc->retry_ns &&
		    atomic_load(&rs->up_ns) <= rc->failed_ns)
			return STORE_ERR_UNAVAILABLE;
		st = conn_connect(rs, rc);
		if (st != STORE_OK) {
			conn_failed(rc);
			return st;
		}
	}
	*out = rc;
	return STORE_OK;
}

/* How long after one WRONGTYPE report the next waits: a flood is one line. */
#define WRONGTYPE_QUIET_NS (10ull * 1000000000ull)

/*
 * Tells the operator, once in WRONGTYPE_QUIET_NS, that Redis answered
 * WRONGTYPE (a script's error wraps it): a key under the prefix holds a
 * value of another type than authflow writes there, and every request
 * that uses it fails. The key is not named: keys hold user names.
 */
static void wrong_type(struct redis_conn *rc, const redisReply *r)
{
	struct redis_store *rs = rc->rs;
	uint64_t now, last;

	if (rs->report == NULL || r->type != REDIS_REPLY_ERROR ||
	    r->str == NULL || strstr(r->str, "WRONGTYPE") == NULL)
		return;
	now = af_mono_ns();
	last = atomic_load(&rs->wrongtype_told_ns);
	if ((last != 0 && now - last < WRONGTYPE_QUIET_NS) ||
	    !atomic_compare_exchange_strong(&rs->wrongtype_told_ns, &last, now))
		return;
	rs->report(rs->report_arg, STORE_REPORT_ERROR,
		   "redis answered WRONGTYPE: a key under store.prefix holds a "
		   "value of another type than authflow writes there (another "
		   "program shares the prefix, or the data was changed by "
		   "hand); requests that use it fail until it is removed");
}

/*
 * Sends one command and reads its reply, which may be an error reply.
 * When the connection fails the context is dropped, as hiredis cannot use
 * it any more.
 */
static store_status run(struct redis_conn *rc, redisReply **out,
			const struct rarg *args, size_t argc)
{
	const char *argv[REDIS_ARGS_MAX];
	size_t lens[REDIS_ARGS_MAX];
	redisReply *r;
	store_status st;

	*out = NULL;
	if (args_split(args, argc, argv, lens) != 0)
		return STORE_ERR_ARG;
	/* Dropped by an earlier answer of the same call (demoted()). */
	if (rc->c == NULL)
		return STORE_ERR_UNAVAILABLE;
	errno = 0;
	r = redisCommandArgv(rc->c, (int)argc, argv, lens);
	if (r == NULL) {
		/* A read that ran into the socket timeout is EAGAIN. */
		int e = errno;

		if (rc->c->err == REDIS_ERR_OOM)
			st = STORE_ERR_NOMEM;
		else if (rc->c->err == REDIS_ERR_PROTOCOL)
			st = STORE_ERR_PROTOCOL;
		else
			st = STORE_ERR_UNAVAILABLE;
		if (rc->c->err == REDIS_ERR_IO && is_timeout(e))
			snprintf(rc->why, sizeof(rc->why),
				 "redis did not answer in time (the "
				 "connection's time limit ran out)");
		else
			snprintf(rc->why, sizeof(rc->why),
				 "redis connection lost: %s",
				 rc->c->errstr[0] != '\0' ? rc->c->errstr
							  : "no answer");
		conn_failed(rc);
		return st;
	}
	rc->used_ns = af_mono_ns();
	if (redis_reply_demoted(r))
		demoted(rc);
	else
		answered(rc);
	wrong_type(rc, r);
	*out = r;
	return STORE_OK;
}

/* Frees a reply, wiping a string payload first: values may be secrets. */
static void reply_free(redisReply *r)
{
	if (r == NULL)
		return;
	if (r->type == REDIS_REPLY_STRING && r->str != NULL)
		OPENSSL_cleanse(r->str, r->len);
	freeReplyObject(r);
}

static store_status run_script(struct redis_conn *rc, enum script_id id,
			       const char *key, size_t klen,
			       const struct rarg a[3], redisReply **out)
{
	redisReply *r = NULL;
	store_status st;

	struct rarg cmd[] = {RLIT("EVALSHA"),
			     RSTR(rc->sha[id]),
			     RLIT("1"),
			     {key, klen},
			     a[0],
			     a[1],
			     a[2]};

	st = run(rc, &r, cmd, RARGS(cmd));
	if (st == STORE_OK && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0) {
		/* The server lost its script cache; EVAL loads it again. */
		freeReplyObject(r);
		cmd[0] = RLIT("EVAL");
		cmd[1] = RSTR(scripts[id]);
		st = run(rc, &r, cmd, RARGS(cmd));
	}
	*out = r;
	return st;
}

/* --- operations ----------------------------------------------------------- */

/*
 * Checks that the server answers, and that it takes writes: a server that
 * answers PING may still refuse every change, full (maxmemory with
 * noeviction: OOM) or a replica (READONLY), and then every sign-in fails
 * while a ping looks well. The write is one the server refuses in those
 * states before it looks at the key, and that changes nothing: SET of the
 * probe key only if it exists, which no call makes.
 */
static store_status redis_ping(void *impl, char *why, size_t whylen)
{
	struct redis_store *rs = impl;
	struct redis_conn *rc;
	redisReply *r;
	store_status st;
	bool pong = false;
	char key[STORE_PREFIX_MAX + sizeof(REDIS_PROBE_KEY)];
	const size_t klen = (size_t)snprintf(key, sizeof(key), "%s%s",
					     rs->prefix, REDIS_PROBE_KEY);
	const struct rarg ping[] = {RLIT("PING")};
	const struct rarg set[] = {
		RLIT("SET"), {key, klen}, RLIT("x"), RLIT("XX")};

	st = conn_ready(rs, &rc);
	if (st == STORE_OK)
		st = run(rc, &r, ping, RARGS(ping));
	if (st == STORE_OK && redis_reply_status_is(r, "PONG")) {
		pong = true;
		freeReplyObject(r);
		st = run(rc, &r, set, RARGS(set));
	}
	if (st != STORE_OK) {
		rc = pthread_getspecific(rs->tkey);
		store_errf(why, whylen, "%s",
			   rc != NULL && rc->why[0] != '\0'
				   ? rc->why
				   : "redis does not answer");
		/* A refusal (NOPERM, NOAUTH) is the config's, not an outage. */
		return st == STORE_ERR_CONFIG ? st : STORE_ERR_UNAVAILABLE;
	}
	if (!pong) {
		store_errf(why, whylen, "redis answered PING with %.120s",
			   r->type == REDIS_REPLY_ERROR && r->str != NULL
				   ? r->str
				   : "something other than PONG");
		st = STORE_ERR_UNAVAILABLE;
	} else if (r->type == REDIS_REPLY_ERROR) {
		store_errf(why, whylen, "redis refuses writes: %.120s",
			   r->str != NULL ? r->str : "an error");
		st = redis_reply_error(r) == STORE_ERR_CONFIG
			     ? STORE_ERR_CONFIG
			     : STORE_ERR_UNAVAILABLE;
	}
	freeReplyObject(r);
	return st;
}

static store_status redis_eviction(void *impl, int *evicts, char *policy,
				   size_t cap)
{
	struct redis_store *rs = impl;
	struct redis_conn *rc;
	redisReply *r = NULL;
	const struct rarg info[] = {RLIT("INFO"), RLIT("memory")};
	store_status st;

	st = conn_ready(rs, &rc);
	if (st == STORE_OK)
		st = run(rc, &r, info, RARGS(info));
	if (st != STORE_OK)
		return st;
	/* NOPERM (an ACL without +info) is STORE_ERR_CONFIG: untold. */
	st = redis_reply_eviction(r, evicts, policy, cap);
	freeReplyObject(r);
	return st;
}

static store_status redis_time_ms(void *impl, int64_t *ms)
{
	struct redis_store *rs = impl;
	struct redis_conn *rc;
	redisReply *r = NULL;
	const struct rarg time[] = {RLIT("TIME")};
	store_status st;

	st = conn_ready(rs, &rc);
	if (st == STORE_OK)
		st = run(rc, &r, time, RARGS(time));
	if (st != STORE_OK)
		return st;
	st = redis_reply_time(r, ms);
	freeReplyObject(r);
	return st;
}

static store_status run_set(struct redis_conn *rc, redisReply **r,
			    const char *key, size_t klen, const void *val,
			    size_t len, const char *ttl, unsigned flags)
{
	struct rarg cmd[6] = {RLIT("SET"), {key, klen}, {val, len}};
	size_t n = 3;

	if (ttl != NULL) {
		cmd[n++] = RLIT("PX");
		cmd[n++] = RSTR(ttl);
	}
	if ((flags & STORE_SET_NX) != 0)
		cmd[n++] = RLIT("NX");
	else if ((flags & STORE_SET_XX) != 0)
		cmd[n++] = RLIT("XX");
	return run(rc, r, cmd, n);
}

/* STORE_SET_DURABLE needs nothing here either (see redis_incr()). */
static store_status redis_set(void *impl, const char *key, size_t klen,
			      const void *val, size_t len, uint64_t ttl_ms,
			      unsigned flags)
{
	struct redis_conn *rc;
	redisReply *r;
	char ttl[REDIS_NUM_TEXT];
	store_status st;

	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	(void)snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms);
	st = run_set(rc, &r, key, klen, val, len, ttl_ms != 0 ? ttl : NULL,
		     flags);
	if (st != STORE_OK)
		return st;
	st = redis_reply_set(r, flags);
	freeReplyObject(r);
	return st;
}

static store_status get_like(void *impl, const char *cmd, const char *key,
			     size_t klen, store_value *out)
{
	struct redis_conn *rc;
	redisReply *r;
	store_status st;

	const struct rarg args[] = {RSTR(cmd), {key, klen}};

	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	st = run(rc, &r, args, RARGS(args));
	if (st != STORE_OK)
		return st;
	st = redis_reply_value(r, out);
	reply_free(r);
	return st;
}

static store_status redis_get(void *impl, const char *key, size_t klen,
			      store_value *out)
{
	return get_like(impl, "GET", key, klen, out);
}

static store_status redis_getdel(void *impl, const char *key, size_t klen,
				 store_value *out)
{
	return get_like(impl, "GETDEL", key, klen, out);
}

/* Runs cmd (UNLINK, PTTL, XLEN) on one key; its integer answer in *n. */
static store_status key_integer(void *impl, const char *cmd, const char *key,
				size_t klen, long long *n)
{
	struct redis_conn *rc;
	redisReply *r;
	store_status st;

	const struct rarg args[] = {RSTR(cmd), {key, klen}};

	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	st = run(rc, &r, args, RARGS(args));
	if (st != STORE_OK)
		return st;
	st = redis_reply_integer(r, n);
	freeReplyObject(r);
	return st;
}

static store_status redis_del(void *impl, const char *key, size_t klen)
{
	long long n;

	/* UNLINK frees a big set on the server's side, off its main loop. */
	return key_integer(impl, "UNLINK", key, klen, &n);
}

/* Runs the compare-and-set or -delete script id with arguments a. */
static store_status run_compare(void *impl, enum script_id id, const char *key,
				size_t klen, const struct rarg a[3])
{
	struct redis_conn *rc;
	redisReply *r;
	store_status st;

	st = conn_ready(impl, &rc);
	if (st == STORE_OK)
		st = run_script(rc, id, key, klen, a, &r);
	if (st != STORE_OK)
		return st;
	st = redis_reply_cas(r);
	freeReplyObject(r);
	return st;
}

static store_status redis_cas(void *impl, const char *key, size_t klen,
			      const void *expected, size_t elen,
			      const void *newval, size_t nlen, uint64_t ttl_ms)
{
	char ttl[REDIS_NUM_TEXT];
	struct rarg a[3];

	a[0] = (struct rarg){expected, elen};
	a[1] = (struct rarg){newval, nlen};
	a[2] = (struct rarg){
		ttl, (size_t)snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms)};
	return run_compare(impl, SCRIPT_CAS, key, klen, a);
}

static store_status redis_del_if(void *impl, const char *key, size_t klen,
				 const void *expected, size_t elen)
{
	struct rarg a[3];

	a[0] = (struct rarg){expected, elen};
	a[1] = RLIT("");
	a[2] = RLIT("");
	return run_compare(impl, SCRIPT_DEL_IF, key, klen, a);
}

/*
 * STORE_SET_DURABLE in flags changes nothing here: Redis keeps a key with a
 * TTL as it keeps any other, as far as its persistence is configured to.
 */
static store_status redis_incr(void *impl, const char *key, size_t klen,
			       int64_t delta, uint64_t ttl_ms, unsigned flags,
			       int64_t *out)
{
	struct redis_conn *rc;
	redisReply *r;
	char d[REDIS_NUM_TEXT], ttl[REDIS_NUM_TEXT];
	struct rarg a[3];
	long long n = 0;
	store_status st;

	(void)flags;
	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	a[0] = (struct rarg){d,
			     (size_t)snprintf(d, sizeof(d), "%" PRId64, delta)};
	if (ttl_ms == 0) {
		/* Without a TTL to set, INCRBY alone is atomic. */
		const struct rarg cmd[] = {RLIT("INCRBY"), {key, klen}, a[0]};

		st = run(rc, &r, cmd, RARGS(cmd));
		if (st != STORE_OK)
			return st;
		st = redis_reply_integer(r, &n);
		if (st == STORE_OK)
			*out = (int64_t)n;
		freeReplyObject(r);
		return st;
	}
	a[1] = (struct rarg){
		ttl, (size_t)snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms)};
	a[2] = (struct rarg){"", 0};
	st = run_script(rc, SCRIPT_INCR, key, klen, a, &r);
	if (st != STORE_OK)
		return st;
	st = redis_reply_incr(r, out);
	freeReplyObject(r);
	return st;
}

static store_status redis_ttl(void *impl, const char *key, size_t klen,
			      uint64_t *ttl_ms)
{
	long long n = 0;
	store_status st;

	st = key_integer(impl, "PTTL", key, klen, &n);
	if (st != STORE_OK)
		return st;
	if (n == -2)
		return STORE_NOT_FOUND;
	if (n == -1)
		*ttl_ms = 0;
	else if (n >= 0)
		*ttl_ms = n == 0 ? 1 : (uint64_t)n; /* 0 would mean no TTL */
	else
		return STORE_ERR_PROTOCOL;
	return STORE_OK;
}

static store_status member_cmd(void *impl, const char *cmd, const char *key,
			       size_t klen, const char *member, size_t mlen)
{
	struct redis_conn *rc;
	redisReply *r;
	long long n;
	store_status st;

	const struct rarg args[] = {RSTR(cmd), {key, klen}, {member, mlen}};

	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	st = run(rc, &r, args, RARGS(args));
	if (st != STORE_OK)
		return st;
	st = redis_reply_integer(r, &n);
	freeReplyObject(r);
	return st;
}

static store_status redis_sadd(void *impl, const char *key, size_t klen,
			       const char *member, size_t mlen, uint64_t ttl_ms)
{
	struct redis_conn *rc;
	redisReply *r;
	char ttl[REDIS_NUM_TEXT];
	struct rarg a[3];
	long long n = 0;
	store_status st;

	if (ttl_ms == 0)
		return member_cmd(impl, "SADD", key, klen, member, mlen);
	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	a[0] = (struct rarg){member, mlen};
	a[1] = (struct rarg){
		ttl, (size_t)snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_ms)};
	a[2] = (struct rarg){"", 0};
	st = run_script(rc, SCRIPT_SADD_TTL, key, klen, a, &r);
	if (st != STORE_OK)
		return st;
	st = redis_reply_integer(r, &n);
	freeReplyObject(r);
	return st;
}

static store_status redis_srem(void *impl, const char *key, size_t klen,
			       const char *member, size_t mlen)
{
	return member_cmd(impl, "SREM", key, klen, member, mlen);
}

static store_status redis_smembers(void *impl, const char *key, size_t klen,
				   store_member_fn fn, void *arg)
{
	struct redis_conn *rc;
	redisReply *r;
	char cursor[REDIS_CURSOR_MAX] = "0";
	bool stop = false;
	store_status st;
	size_t i;

	do {
		/* fn may use the store, so fetch this thread's link anew. */
		st = conn_ready(impl, &rc);
		if (st != STORE_OK)
			return st;
		const struct rarg cmd[] = {RLIT("SSCAN"),
					   {key, klen},
					   RSTR(cursor),
					   RLIT("COUNT"),
					   RLIT(REDIS_SCAN_COUNT)};

		st = run(rc, &r, cmd, RARGS(cmd));
		if (st != STORE_OK)
			return st;
		st = redis_reply_scan(r, cursor);
		for (i = 0;
		     st == STORE_OK && !stop && i < r->element[1]->elements;
		     i++)
			stop = fn(r->element[1]->element[i]->str, arg) != 0;
		freeReplyObject(r);
	} while (st == STORE_OK && !stop && strcmp(cursor, "0") != 0);
	return st;
}

static store_status redis_queue_push(void *impl, const char *key, size_t klen,
				     const char *entry, size_t len, char *id,
				     size_t idcap)
{
	struct redis_conn *rc;
	redisReply *r;
	char max[REDIS_NUM_TEXT];
	store_status st;

	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	struct rarg cmd[] = {RLIT("XADD"),
			     {key, klen},
			     RLIT("MAXLEN"),
			     RLIT("~"),
			     {max, 0},
			     RLIT("*"),
			     RLIT(REDIS_QUEUE_FIELD),
			     {entry, len}};

	cmd[4].n = (size_t)snprintf(max, sizeof(max), "%d", STORE_QUEUE_MAX);
	st = run(rc, &r, cmd, RARGS(cmd));
	if (st != STORE_OK)
		return st;
	st = redis_reply_queue_id(r, id, idcap);
	freeReplyObject(r);
	return st;
}

/*
 * XTRIM MINID, exact: a few entries at a time, and a trim meant to leave
 * no old entry must not stop at a node boundary as "~" may (trim_lua).
 */
static store_status redis_queue_trim(void *impl, const char *key, size_t klen,
				     uint64_t older_than_ms, size_t *removed)
{
	struct redis_conn *rc;
	redisReply *r;
	char age[REDIS_NUM_TEXT];
	long long n = 0;
	store_status st;
	struct rarg a[3] = {{age, 0}, RLIT(""), RLIT("")};

	a[0].n = (size_t)snprintf(age, sizeof(age), "%" PRIu64, older_than_ms);
	st = conn_ready(impl, &rc);
	if (st == STORE_OK)
		st = run_script(rc, SCRIPT_TRIM, key, klen, a, &r);
	if (st != STORE_OK)
		return st;
	st = redis_reply_integer(r, &n);
	freeReplyObject(r);
	if (st == STORE_OK && n < 0)
		st = STORE_ERR_PROTOCOL;
	if (st == STORE_OK)
		*removed = (size_t)n;
	return st;
}

static store_status redis_queue_len(void *impl, const char *key, size_t klen,
				    size_t *out)
{
	long long n = 0;
	store_status st;

	st = key_integer(impl, "XLEN", key, klen, &n);
	if (st == STORE_OK && n < 0)
		st = STORE_ERR_PROTOCOL;
	if (st == STORE_OK)
		*out = (size_t)n;
	return st;
}

static store_status redis_queue_range(void *impl, const char *key, size_t klen,
				      size_t max, store_member_fn fn, void *arg)
{
	struct redis_conn *rc;
	redisReply *r;
	char count[REDIS_NUM_TEXT];
	store_status st;

	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	struct rarg cmd[] = {RLIT("XRANGE"), {key, klen},   RLIT("-"),
			     RLIT("+"),	     RLIT("COUNT"), {count, 0}};

	cmd[5].n = (size_t)snprintf(count, sizeof(count), "%zu", max);
	st = run(rc, &r, cmd, RARGS(cmd));
	if (st != STORE_OK)
		return st;
	/* The reply is complete in memory: fn may use this connection. */
	st = redis_reply_range(r, max, fn, arg);
	freeReplyObject(r);
	return st;
}

/* --- consumer groups ------------------------------------------------------ */

static store_status redis_group_create(void *impl, const char *key, size_t klen,
				       const char *group)
{
	/* From "0": a group made after the first pushes still sees them. */
	const struct rarg cmd[] = {RLIT("XGROUP"), RLIT("CREATE"),
				   {key, klen},	   RSTR(group),
				   RLIT("0"),	   RLIT("MKSTREAM")};
	struct redis_conn *rc;
	redisReply *r;
	store_status st;

	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	st = run(rc, &r, cmd, RARGS(cmd));
	if (st != STORE_OK)
		return st;
	st = redis_reply_group_create(r);
	freeReplyObject(r);
	return st;
}

static struct timeval tv_of_ms(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

/*
 * A blocking read must not trip the command timeout while the server
 * waits on purpose: for that one command the socket waits block_ms plus
 * the usual command timeout, and at least REDIS_BLOCK_SLACK_MS more, for
 * a busy server's answer. The usual timeout is put back afterwards; if
 * that fails the connection is dropped rather than left with a long one.
 */
static store_status run_blocking_read(struct redis_conn *rc, redisReply **r,
				      const char *key, size_t klen,
				      const char *group, const char *consumer,
				      const char *count, unsigned block_ms)
{
	struct redis_store *rs = rc->rs;
	uint64_t extra = (uint64_t)rs->tv.tv_sec * 1000u +
			 (uint64_t)rs->tv.tv_usec / 1000u;
	char block[REDIS_NUM_TEXT];
	struct rarg cmd[] = {RLIT("XREADGROUP"), RLIT("GROUP"), RSTR(group),
			     RSTR(consumer),	 RLIT("COUNT"), RSTR(count),
			     RLIT("BLOCK"),	 {block, 0},	RLIT("STREAMS"),
			     {key, klen},	 RLIT(">")};
	store_status st;

	if (block_ms == 0) {
		/* The same command without its BLOCK argument. */
		memmove(&cmd[6], &cmd[8], 3 * sizeof(cmd[0]));
		return run(rc, r, cmd, RARGS(cmd) - 2);
	}
	cmd[7].n = (size_t)snprintf(block, sizeof(block), "%u", block_ms);
	if (extra < REDIS_BLOCK_SLACK_MS)
		extra = REDIS_BLOCK_SLACK_MS;
	if (redisSetTimeout(rc->c, tv_of_ms(block_ms + extra)) != REDIS_OK) {
		conn_failed(rc);
		return STORE_ERR_UNAVAILABLE;
	}
	st = run(rc, r, cmd, RARGS(cmd));
	/* run() drops a failed connection; there is nothing to reset then. */
	if (rc->c != NULL && redisSetTimeout(rc->c, rs->tv) != REDIS_OK)
		conn_failed(rc);
	return st;
}

static store_status redis_group_read(void *impl, const char *key, size_t klen,
				     const char *group, const char *consumer,
				     size_t max, unsigned block_ms,
				     store_entry_fn fn, void *arg,
				     size_t *count)
{
	struct redis_conn *rc;
	redisReply *r;
	char cnt[REDIS_NUM_TEXT];
	store_status st;

	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	(void)snprintf(cnt, sizeof(cnt), "%zu", max);
	st = run_blocking_read(rc, &r, key, klen, group, consumer, cnt,
			       block_ms);
	if (st != STORE_OK)
		return st;
	st = redis_reply_read(r, key, klen, max, fn, arg, count);
	freeReplyObject(r);
	return st;
}

static store_status redis_group_ack(void *impl, const char *key, size_t klen,
				    const char *group, const char *id)
{
	struct rarg cmd[] = {RLIT("XACK"), {key, klen}, {group, 0}, {id, 0}};
	struct redis_conn *rc;
	redisReply *r;
	store_status st;

	/* The server would refuse it too, but as an unrecognisable error. */
	if (!redis_stream_id_valid(id))
		return STORE_ERR_ARG;
	cmd[2].n = strlen(group);
	cmd[3].n = strlen(id);
	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	st = run(rc, &r, cmd, RARGS(cmd));
	if (st != STORE_OK)
		return st;
	st = redis_reply_ack(r);
	freeReplyObject(r);
	return st;
}

/*
 * XAUTOCLAIM looks at a bounded part of the pending list per call (ten
 * times COUNT), so the walk follows its cursor to the end of the list,
 * or until max entries were claimed or fn asked to stop, the way the
 * memory backend looks at the whole list.
 */
static store_status redis_group_claim(void *impl, const char *key, size_t klen,
				      const char *group, const char *consumer,
				      uint64_t min_idle_ms, size_t max,
				      store_entry_fn fn, void *arg,
				      size_t *count)
{
	struct redis_conn *rc;
	redisReply *r;
	char idle[REDIS_NUM_TEXT], cnt[REDIS_NUM_TEXT];
	char cursor[STORE_QUEUE_ID_MAX + 1] = "0-0";
	bool stopped = false;
	store_status st;

	(void)snprintf(idle, sizeof(idle), "%" PRIu64, min_idle_ms);
	do {
		/* fn may use the store, so fetch this thread's link anew. */
		st = conn_ready(impl, &rc);
		if (st != STORE_OK)
			return st;
		(void)snprintf(cnt, sizeof(cnt), "%zu", max - *count);
		const struct rarg cmd[] = {RLIT("XAUTOCLAIM"), {key, klen},
					   RSTR(group),	       RSTR(consumer),
					   RSTR(idle),	       RSTR(cursor),
					   RLIT("COUNT"),      RSTR(cnt)};

		st = run(rc, &r, cmd, RARGS(cmd));
		if (st != STORE_OK)
			return st;
		st = redis_reply_claim(r, max - *count, fn, arg, count,
				       &stopped, cursor);
		freeReplyObject(r);
	} while (st == STORE_OK && !stopped && *count < max &&
		 strcmp(cursor, "0-0") != 0);
	return st;
}

/* XPENDING's summary: [count, lowest id, highest id, consumers]. */
static store_status redis_group_pending(void *impl, const char *key,
					size_t klen, const char *group,
					size_t *out)
{
	const struct rarg cmd[] = {RLIT("XPENDING"), {key, klen}, RSTR(group)};
	struct redis_conn *rc;
	redisReply *r;
	store_status st;

	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	st = run(rc, &r, cmd, RARGS(cmd));
	if (st != STORE_OK)
		return st;
	st = redis_reply_pending(r, out);
	freeReplyObject(r);
	return st;
}

static store_status redis_group_prune(void *impl, const char *key, size_t klen,
				      const char *group, uint64_t min_idle_ms,
				      size_t *removed)
{
	struct redis_conn *rc;
	redisReply *r;
	char idle[REDIS_NUM_TEXT];
	struct rarg a[3];
	store_status st;

	*removed = 0;
	st = conn_ready(impl, &rc);
	if (st != STORE_OK)
		return st;
	a[0] = (struct rarg){group, strlen(group)};
	a[1] = (struct rarg){idle, (size_t)snprintf(idle, sizeof(idle),
						    "%" PRIu64, min_idle_ms)};
	a[2] = (struct rarg){"", 0};
	st = run_script(rc, SCRIPT_PRUNE, key, klen, a, &r);
	if (st != STORE_OK)
		return st;
	st = redis_reply_prune(r, removed);
	freeReplyObject(r);
	return st;
}

/* --- batches -------------------------------------------------------------- */

/*
 * Queues one operation's command in the context's output buffer (nothing
 * is sent yet). REDIS_OK or REDIS_ERR (no memory).
 */
static int append_op(struct redis_conn *rc, const store_op *op,
		     const store_bkey *k)
{
	struct rarg cmd[7];
	const char *argv[REDIS_ARGS_MAX];
	size_t lens[REDIS_ARGS_MAX], n = 0;
	char ttl[REDIS_NUM_TEXT];

	switch (op->kind) {
	case STORE_OP_GET:
		cmd[n++] = RLIT("GET");
		cmd[n++] = (struct rarg){k->key, k->klen};
		break;
	case STORE_OP_DEL:
		cmd[n++] = RLIT("UNLINK");
		cmd[n++] = (struct rarg){k->key, k->klen};
		break;
	case STORE_OP_CAS:
		cmd[n++] = RLIT("EVAL");
		cmd[n++] = RSTR(scripts[SCRIPT_CAS]);
		cmd[n++] = RLIT("1");
		cmd[n++] = (struct rarg){k->key, k->klen};
		cmd[n++] = (struct rarg){op->expected, op->elen};
		cmd[n++] = (struct rarg){op->val, op->len};
		cmd[n++] = (struct rarg){ttl, (size_t)snprintf(ttl, sizeof(ttl),
							       "%" PRIu64,
							       op->ttl_ms)};
		break;
	case STORE_OP_DEL_IF:
		cmd[n++] = RLIT("EVAL");
		cmd[n++] = RSTR(scripts[SCRIPT_DEL_IF]);
		cmd[n++] = RLIT("1");
		cmd[n++] = (struct rarg){k->key, k->klen};
		cmd[n++] = (struct rarg){op->expected, op->elen};
		cmd[n++] = RLIT("");
		cmd[n++] = RLIT("");
		break;
	case STORE_OP_ACK:
		cmd[n++] = RLIT("XACK");
		cmd[n++] = (struct rarg){k->key, k->klen};
		cmd[n++] = RSTR(op->group);
		cmd[n++] = RSTR(op->id);
		break;
	case STORE_OP_SET:
		cmd[n++] = RLIT("SET");
		cmd[n++] = (struct rarg){k->key, k->klen};
		cmd[n++] = (struct rarg){op->val, op->len};
		if (op->ttl_ms != 0) {
			cmd[n++] = RLIT("PX");
			cmd[n++] = (struct rarg){
				ttl, (size_t)snprintf(ttl, sizeof(ttl),
						      "%" PRIu64, op->ttl_ms)};
		}
		if ((op->flags & STORE_SET_NX) != 0)
			cmd[n++] = RLIT("NX");
		else if ((op->flags & STORE_SET_XX) != 0)
			cmd[n++] = RLIT("XX");
		break;
	default:
		return REDIS_ERR;
	}
	if (args_split(cmd, n, argv, lens) != 0)
		return REDIS_ERR;
	return redisAppendCommandArgv(rc->c, (int)n, argv, lens);
}

/* Maps one operation's reply into op (a GET's value into op->value). */
static store_status op_reply(const redisReply *r, store_op *op)
{
	store_status st;
	long long n = 0;

	switch (op->kind) {
	case STORE_OP_GET:
		return redis_reply_value(r, &op->value);
	case STORE_OP_SET:
		return redis_reply_set(r, op->flags);
	case STORE_OP_DEL:
		st = redis_reply_integer(r, &n);
		return st;
	case STORE_OP_CAS:
	case STORE_OP_DEL_IF:
		return redis_reply_cas(r);
	case STORE_OP_ACK:
		return redis_reply_ack(r);
	default:
		return STORE_ERR_PROTOCOL;
	}
}

/*
 * Pipelining: every command goes into the output buffer, the first
 * redisGetReply() writes them all, and the replies come back in order.
 * A compare-and-set or -delete goes as EVAL with its script, not
 * EVALSHA: a server that lost its script cache answers it in its place
 * in the batch, where a NOSCRIPT would have it run again after the ops
 * that followed it. When the connection fails, the operations still
 * without an answer get the failure, and the connection is dropped as
 * for any command.
 */
static store_status redis_batch(void *impl, store_op *ops, store_bkey *keys,
				size_t n)
{
	struct redis_conn *rc;
	store_status st;
	size_t i;
	bool was_demoted = false;

	for (i = 0; i < n; i++) {
		if (keys[i].key != NULL && ops[i].kind == STORE_OP_ACK &&
		    !redis_stream_id_valid(ops[i].id)) {
			ops[i].status = STORE_ERR_ARG;
			keys[i].key = NULL;
		}
	}
	st = conn_ready(impl, &rc);
	for (i = 0; st == STORE_OK && i < n; i++) {
		/* Nothing has been sent yet: dropping the link undoes all. */
		if (keys[i].key != NULL &&
		    append_op(rc, &ops[i], &keys[i]) != REDIS_OK) {
			conn_failed(rc);
			st = STORE_ERR_NOMEM;
		}
	}
	for (i = 0; st == STORE_OK && i < n; i++) {
		void *reply = NULL;

		if (keys[i].key == NULL)
			continue;
		if (redisGetReply(rc->c, &reply) != REDIS_OK || reply == NULL) {
			st = rc->c->err == REDIS_ERR_OOM ? STORE_ERR_NOMEM
			     : rc->c->err == REDIS_ERR_PROTOCOL
				     ? STORE_ERR_PROTOCOL
				     : STORE_ERR_UNAVAILABLE;
			conn_failed(rc);
			break;
		}
		if (redis_reply_demoted(reply))
			was_demoted = true;
		else
			answered(rc);
		wrong_type(rc, reply);
		ops[i].status = op_reply(reply, &ops[i]);
		reply_free(reply);
	}
	if (st != STORE_OK) {
		for (; i < n; i++) {
			if (keys[i].key != NULL)
				ops[i].status = st;
		}
		return st;
	}
	/* Every reply read: the link may go. */
	if (was_demoted)
		demoted(rc);
	return STORE_OK;
}

/* --- open and close ------------------------------------------------------- */

static bool parse_uint(const char *s, size_t n, unsigned long max,
		       unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 10)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

static bool host_valid(const char *h, size_t n, bool bracketed)
{
	size_t i;

	if (n == 0 || n > REDIS_HOST_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || (bracketed && c == ':'))
			continue;
		return false;
	}
	return true;
}

/*
 * Takes "[USER]:PASSWORD@" off the front of *pp into rs, percent-decoded.
 * The last '@' before the path ends it, so that one left unencoded in the
 * password does no harm; a user without a password is refused.
 */
static store_status parse_userinfo(struct redis_store *rs, const char **pp)
{
	const char *p = *pp, *at = NULL, *colon;
	size_t i, alen = strcspn(p, "/");

	for (i = 0; i < alen; i++)
		if (p[i] == '@')
			at = p + i;
	if (at == NULL)
		return STORE_OK;
	colon = memchr(p, ':', (size_t)(at - p));
	if (colon == NULL || colon + 1 == at)
		return STORE_ERR_CONFIG;
	if (hp_uri_decode(p, (size_t)(colon - p), rs->user, sizeof(rs->user),
			  NULL) != HP_OK ||
	    hp_uri_decode(colon + 1, (size_t)(at - colon - 1), rs->pass,
			  sizeof(rs->pass), NULL) != HP_OK)
		return STORE_ERR_CONFIG;
	*pp = at + 1;
	return STORE_OK;
}

static store_status parse_tcp_url(struct redis_store *rs, const char *p)
{
	unsigned long port = REDIS_PORT_DEFAULT, db = 0;
	const char *host, *end;
	size_t hlen, n;
	bool bracketed;

	if (parse_userinfo(rs, &p) != STORE_OK)
		return STORE_ERR_CONFIG;
	host = p;
	bracketed = *p == '[';

	if (bracketed) {
		end = strchr(p, ']');
		if (end == NULL)
			return STORE_ERR_CONFIG;
		host = p + 1;
		hlen = (size_t)(end - host);
		p = end + 1;
	} else {
		hlen = strcspn(p, ":/");
		p += hlen;
	}
	if (!host_valid(host, hlen, bracketed))
		return STORE_ERR_CONFIG;
	if (*p == ':') {
		n = strcspn(++p, "/");
		if (!parse_uint(p, n, 65535, &port) || port == 0)
			return STORE_ERR_CONFIG;
		p += n;
	}
	if (*p == '/') {
		n = strlen(++p);
		if (n > 0 && !parse_uint(p, n, REDIS_DB_MAX, &db))
			return STORE_ERR_CONFIG;
		p += n;
	}
	if (*p != '\0')
		return STORE_ERR_CONFIG;
	memcpy(rs->host, host, hlen);
	rs->host[hlen] = '\0';
	rs->port = (int)port;
	rs->db = (unsigned)db;
	return STORE_OK;
}

/* Parses "redis://HOST[:PORT][/DB]" or "unix:/path". */
static store_status parse_url(struct redis_store *rs, const char *url,
			      char *err, size_t errlen)
{
	size_t n;

	if (url == NULL || strnlen(url, REDIS_URL_MAX + 1) > REDIS_URL_MAX) {
		store_errf(err, errlen,
			   "redis store needs a url of at most "
			   "%d bytes",
			   REDIS_URL_MAX);
		return STORE_ERR_CONFIG;
	}
	if (strncmp(url, "unix:", 5) == 0) {
		n = strlen(url + 5);
		if (url[5] != '/' || n >= sizeof(rs->path)) {
			store_errf(err, errlen,
				   "redis unix: url needs an absolute socket "
				   "path shorter than %zu bytes",
				   sizeof(rs->path));
			return STORE_ERR_CONFIG;
		}
		memcpy(rs->path, url + 5, n + 1);
		rs->unix_sock = true;
		return STORE_OK;
	}
	/* The url is not echoed: a mistyped one might hold a password. */
	if (strncmp(url, "redis://", 8) != 0 ||
	    parse_tcp_url(rs, url + 8) != STORE_OK) {
		store_errf(err, errlen,
			   "redis url must be "
			   "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
			   "unix:/path");
		return STORE_ERR_CONFIG;
	}
	return STORE_OK;
}

static void redis_close(void *impl)
{
	struct redis_store *rs = impl;
	struct redis_conn *rc, *next;

	if (rs == NULL)
		return;
	/* After this no thread-exit destructor runs for this store. */
	pthread_key_delete(rs->tkey);
	for (rc = rs->conns; rc != NULL; rc = next) {
		next = rc->next;
		if (rc->c != NULL)
			redisFree(rc->c);
		OPENSSL_free(rc);
	}
	pthread_mutex_destroy(&rs->lock);
	OPENSSL_clear_free(rs, sizeof(*rs));
}

static const store_ops redis_ops = {
	.close = redis_close,
	.ping = redis_ping,
	.eviction = redis_eviction,
	.time_ms = redis_time_ms,
	.set = redis_set,
	.get = redis_get,
	.getdel = redis_getdel,
	.del = redis_del,
	.cas = redis_cas,
	.del_if = redis_del_if,
	.incr = redis_incr,
	.ttl = redis_ttl,
	.sadd = redis_sadd,
	.srem = redis_srem,
	.smembers = redis_smembers,
	.queue_push = redis_queue_push,
	.queue_len = redis_queue_len,
	.queue_trim = redis_queue_trim,
	.queue_range = redis_queue_range,
	.group_create = redis_group_create,
	.group_read = redis_group_read,
	.group_ack = redis_group_ack,
	.group_claim = redis_group_claim,
	.group_pending = redis_group_pending,
	.group_prune = redis_group_prune,
	.batch = redis_batch,
};

/*
 * The part of opening that reads opts alone: the timeout (ms, 0 for the
 * default) and the URL, parsed into a new *out (OPENSSL_clear_free()).
 */
static store_status parsed_new(const store_options *opts, unsigned ms,
			       struct redis_store **out, char *err,
			       size_t errlen)
{
	struct redis_store *rs;
	store_status rc;

	*out = NULL;
	if (ms > REDIS_TIMEOUT_MAX_MS) {
		store_errf(err, errlen, "redis timeout over %u ms",
			   REDIS_TIMEOUT_MAX_MS);
		return STORE_ERR_CONFIG;
	}
	rs = OPENSSL_zalloc(sizeof(*rs));
	if (rs == NULL) {
		store_errf(err, errlen, "out of memory");
		return STORE_ERR_NOMEM;
	}
	rc = parse_url(rs, opts->url, err, errlen);
	if (rc != STORE_OK) {
		OPENSSL_clear_free(rs, sizeof(*rs));
		return rc;
	}
	*out = rs;
	return STORE_OK;
}

store_status store_redis_check(const store_options *opts, char *err,
			       size_t errlen)
{
	struct redis_store *rs = NULL;
	store_status rc = parsed_new(opts, opts->timeout_ms, &rs, err, errlen);

	/* The password parsed out of the URL is wiped with it. */
	if (rs != NULL)
		OPENSSL_clear_free(rs, sizeof(*rs));
	return rc;
}

store_status store_redis_open(const store_options *opts, const store_ops **ops,
			      void **impl, char *err, size_t errlen)
{
	struct redis_store *rs;
	unsigned ms = opts->timeout_ms != 0 ? opts->timeout_ms
					    : STORE_TIMEOUT_DEFAULT_MS;
	store_status rc;

	*impl = NULL;
	rc = parsed_new(opts, ms, &rs, err, errlen);
	if (rc != STORE_OK)
		return rc;
	/* store_open() has checked its length. */
	if (opts->prefix != NULL)
		(void)snprintf(rs->prefix, sizeof(rs->prefix), "%s",
			       opts->prefix);
	rs->report = opts->report;
	rs->report_arg = opts->report_arg;
	rs->tv.tv_sec = (time_t)(ms / 1000);
	rs->tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (pthread_key_create(&rs->tkey, conn_destroy) != 0) {
		store_errf(err, errlen, "no thread-specific key left");
		OPENSSL_clear_free(rs, sizeof(*rs));
		return STORE_ERR_NOMEM;
	}
	pthread_mutex_init(&rs->lock, NULL);
	*ops = &redis_ops;
	*impl = rs;
	return STORE_OK;
}
