/*
 * libpushd internals shared by its files: the context, the job, the pure
 * protocol helpers (payloads, JWTs, answer classification, back-off) that
 * the unit tests call directly, and the per-worker senders.
 *
 * Thread-safety: the pure helpers are re-entrant; the token caches take
 * their own mutex; a sender (and its curl handles) belongs to one worker.
 */
#ifndef PUSHD_INTERNAL_H
#define PUSHD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjose/jwk.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "common/config.h"
#include "common/log.h"
#include "common/store.h"
#include "mfa/mfa.h"
#include "pushd/pushd.h"

/* Caps on everything that comes from outside. */
#define PUSHD_JOB_MAX	       8192  /* bytes of one queue entry */
#define PUSHD_USER_MAX	       128   /* bytes of a user name in a job */
#define PUSHD_APP_MAX	       512   /* bytes of an app display name */
#define PUSHD_APNS_PAYLOAD_MAX 4096  /* Apple's limit for alerts */
#define PUSHD_RESPONSE_MAX     16384 /* bytes of a push service answer */
#define PUSHD_JWT_MAX	       2048  /* a provider token or assertion */
#define PUSHD_ACCESS_TOKEN_MAX 4096  /* an OAuth access token */
#define PUSHD_ACCOUNT_MAX      65536 /* bytes of a service-account file */
#define PUSHD_KEY_FILE_MAX     8192  /* bytes of an APNs .p8 file */
#define PUSHD_WHY_MAX	       256   /* a line on why the store failed */
#define PUSHD_REASON_MAX       64    /* an error reason or code */
#define PUSHD_RETRY_AFTER_MAX  64    /* bytes of a Retry-After value */
#define PUSHD_UUID_LEN	       36

/*
 * Jobs one worker holds at once (sending, waiting to retry, or waiting
 * for their outcome to be recorded): enough streams to keep an HTTP/2
 * connection busy (APNs allows 1000 per connection) between two rounds
 * of store calls, few enough that a worker's flights stay a few MiB.
 */
#define PUSHD_INFLIGHT_MAX 256

/* Retry back-off: 200 ms doubling, full jitter, at most 5 s. */
#define PUSHD_BACKOFF_BASE_MS 200u
#define PUSHD_BACKOFF_MAX_MS  5000u

/*
 * A service that refused as a whole is paused for at most this long, what
 * ever its Retry-After says (a sign-in's push lives 30 s), and the log
 * hears of a new pause at most this often.
 */
#define PUSHD_PAUSE_MAX_MS  60000u
#define PUSHD_PAUSE_TELL_NS (60ull * 1000000000ull)

/*
 * A consumer of the group that has neither read nor claimed for this long
 * and holds no job belongs to a node gone for good (a live worker reads
 * at least every few seconds): its name is removed from the group.
 */
#define PUSHD_GONE_MS ((uint64_t)3600 * 1000)

/*
 * The "push_done:<job>" marker lives 5 minutes, ten times a transaction's
 * 30 s to answer: a job delivered again after that is past its expiry,
 * and its transaction no longer pending or gone, so it is dropped unsent
 * anyway.
 */
#define PUSHD_DONE_TTL_MS  ((uint64_t)300 * 1000)
/* A node's lease on a job it is working on, refreshed while it works. */
#define PUSHD_LEASE_TTL_MS 8000u
#define PUSHD_LEASE_EVERY  2000u

/*
 * APNs provider tokens: reused below 50 min, minted at most every 20; a
 * token APNs calls expired is replaced at once, but by one node at most
 * once a minute, so that a service that calls every token expired does
 * not get a new one for every push.
 */
#define PUSHD_JWT_REUSE_S    (50 * 60)
#define PUSHD_JWT_LIFETIME_S (60 * 60)
#define PUSHD_JWT_MINT_GAP_S (20 * 60)
/*
 * FCM access tokens are used until 5 minutes before they expire, and
 * renewed (pushd_fcm_renew()) 5 minutes before that.
 */
#define PUSHD_TOKEN_MARGIN_S 300
#define PUSHD_TOKEN_AHEAD_S  300

/*
 * How long one HTTP exchange may take (the context's transfer_timeout_ms
 * starts at PUSHD_TRANSFER_TIMEOUT_MS; tests shorten it).
 */
#define PUSHD_EXPIRES_MAX	  253402300799LL /* 9999-12-31T23:59:59Z */
#define PUSHD_CONNECT_TIMEOUT_MS  5000L
#define PUSHD_TRANSFER_TIMEOUT_MS 10000L
/*
 * How long an idle connection is kept for the next push (libcurl's own
 * default, 118 s, would close a quiet node's connection between two
 * sign-ins, so that each push paid a new TLS handshake), and the TCP
 * keep-alive that holds middleboxes open meanwhile and finds a peer that
 * went away without a word.
 */
#define PUSHD_IDLE_KEEP_S	  3600L
#define PUSHD_KEEPIDLE_S	  60L
#define PUSHD_KEEPINTVL_S	  15L

typedef enum pushd_platform {
	PUSHD_APNS = 0,
	PUSHD_FCM,
	PUSHD_PLATFORMS
} pushd_platform;

/*
 * The services pushes go to, each paused on its own (pause.c): APNs'
 * production and sandbox hosts are two services, so that a developer's
 * sandbox phone meeting a sandbox outage holds no production push.
 */
typedef enum pushd_service {
	PUSHD_SVC_APNS = 0,
	PUSHD_SVC_APNS_SANDBOX,
	PUSHD_SVC_FCM,
	PUSHD_SERVICES
} pushd_service;

/* What became of a job; the names are the metric label values. */
typedef enum pushd_outcome {
	PUSHD_OUT_SENT = 0,
	PUSHD_OUT_TOKEN_INVALID,
	PUSHD_OUT_FAILED,
	PUSHD_OUT_DROPPED,   /* txn no longer pending, or a bad job */
	PUSHD_OUT_DUPLICATE, /* redelivered after its outcome was final */
	PUSHD_OUTCOMES
} pushd_outcome;

/*
 * Why a push failed for good (pushd_push_failures_total's cause): its
 * last answer's kind, or what kept it from being sent.
 */
typedef enum pushd_cause {
	PUSHD_CAUSE_UNKNOWN = 0,
	PUSHD_CAUSE_TIMEOUT,	/* no answer in time */
	PUSHD_CAUSE_CONNECTION, /* no answer: the transfer failed */
	PUSHD_CAUSE_THROTTLED,	/* 429 */
	PUSHD_CAUSE_SERVICE,	/* 5xx */
	PUSHD_CAUSE_CREDENTIAL, /* 401, 403, or no credential to be had */
	PUSHD_CAUSE_REJECTED,	/* another 4xx, or a payload too large */
	PUSHD_CAUSE_PAUSED,	/* the service was paused until too late */
	PUSHD_CAUSE_CONFIG,	/* the platform is not configured here */
	PUSHD_CAUSES
} pushd_cause;

/* What to do after one answer of a push service. */
typedef enum pushd_verdict {
	PUSHD_V_SENT = 0,
	PUSHD_V_TOKEN_INVALID,
	PUSHD_V_FAILED,
	PUSHD_V_RENEW, /* renew the credential once and retry once */
	PUSHD_V_RETRY, /* retry with back-off while the txn is pending */
} pushd_verdict;

/* One push job as authflow queued it (authflow/mfa/txn.c). */
typedef struct pushd_job {
	char job[AF_MFA_ID_BUF];
	char txn[AF_MFA_ID_BUF];
	char device[AF_MFA_ID_BUF];
	pushd_platform platform;
	char push_token[AF_MFA_PUSH_TOKEN_MAX + 1];
	int sandbox;
	char user[PUSHD_USER_MAX + 1];
	char app_name[PUSHD_APP_MAX + 1];
	int64_t expires;   /* unix seconds */
	int64_t queued_ms; /* unix ms, 0 when the job does not say */
	/*
	 * Set by the sender, not read from the job (push.names false): the
	 * payloads leave out the user and the application.
	 */
	int unnamed;
} pushd_job;

/* ---- pure helpers (job.c) --------------------------------------------- */

const char *pushd_platform_name(pushd_platform p);
/* The service a job goes to, its name in the log, and its platform. */
pushd_service pushd_service_of(const pushd_job *job);
const char *pushd_service_name(pushd_service s);
pushd_platform pushd_service_platform(pushd_service s);
const char *pushd_outcome_name(pushd_outcome o);
const char *pushd_cause_name(pushd_cause c);
/* The cause of a failure whose last exchange ended with cc and status. */
pushd_cause pushd_cause_of(CURLcode cc, long http_status);

/* Parses one queue entry; PUSHD_OK or PUSHD_ERR_PROTOCOL/ERR_TOO_BIG. */
PUSHD_NODISCARD pushd_status pushd_job_parse(const char *text, size_t len,
					     pushd_job *out);

/*
 * The APNs alert payload of a job into out (cap bytes with the NUL);
 * PUSHD_ERR_TOO_BIG when it would exceed PUSHD_APNS_PAYLOAD_MAX bytes.
 * Of an unnamed job, an alert that names nobody, and no "user" or "app".
 */
PUSHD_NODISCARD pushd_status pushd_apns_payload(const pushd_job *job, char *out,
						size_t cap, size_t *len);

/*
 * The FCM v1 messages:send body of a job at now (unix seconds: its "ttl"
 * is what is left of the job's life); *out is malloc'd (free()). Of an
 * unnamed job, the data has no "user" or "app".
 */
PUSHD_NODISCARD pushd_status pushd_fcm_message(const pushd_job *job,
					       int64_t now, char **out);

/*
 * The apns-id of a job: a UUID in version 4 form made from a hash of the
 * job id, so that every attempt of one job carries the same apns-id.
 * out holds PUSHD_UUID_LEN + 1 bytes.
 */
void pushd_apns_id(const char *job_id, char *out);

/* 1 when token is 64..200 hex characters (an APNs device token). */
int pushd_apns_token_ok(const char *token);

/*
 * The "reason" of an APNs error body into out; "" when there is none, cut
 * to cap - 1 bytes when longer (no reason Apple sends is that long, so a
 * cut one never matches one). A body that is not whole JSON (one cut
 * short at PUSHD_RESPONSE_MAX) still gives a reason that opens it, as
 * Apple's bodies do: {"reason":"Word", ...}.
 */
void pushd_apns_reason(const char *body, size_t len, char *out, size_t cap);

/*
 * Google's error body: error.status ("NOT_FOUND") and the FcmError
 * details' errorCode ("UNREGISTERED") into status and code ("" when
 * absent, cut as pushd_apns_reason() cuts).
 */
void pushd_fcm_error(const char *body, size_t len, char *status, size_t scap,
		     char *code, size_t ccap);

/* The outcome table of push_spec.md. */
pushd_verdict pushd_classify_apns(long http_status, const char *reason);
pushd_verdict pushd_classify_fcm(long http_status, const char *status,
				 const char *code);
/* A transfer that got no HTTP answer: retry or give up. */
pushd_verdict pushd_classify_curl(CURLcode rc);

/*
 * Parses a Retry-After value (delta seconds, or an HTTP-date relative to
 * now, unix seconds) into milliseconds; 0 or -1 when malformed.
 */
int pushd_retry_after_ms(const char *value, int64_t now, uint64_t *out);

/*
 * The wait before retry number attempt (0 for the first retry): a
 * uniformly random time in [0, min(base * 2^attempt, max)], from rnd.
 */
uint32_t pushd_backoff_ms(unsigned attempt, uint32_t rnd);

/* ---- credentials (keyfile.c, apns.c, fcm.c) -------------------------------
 */

/*
 * Reads a credential file into a new NUL-terminated buffer (*out; wipe and
 * free it with OPENSSL_clear_free(*out, *len + 1)). The file must be a
 * regular file of at most max bytes whose mode is 0600 or narrower. name
 * prefixes the reason in err.
 */
PUSHD_NODISCARD pushd_status pushd_read_key_file(const char *path,
						 const char *name, size_t max,
						 char **out, size_t *len,
						 char *err, size_t errlen);

/*
 * What in cfg keeps the pushd daemon from starting, found without a
 * network, for both "pushd --check-config" and its start: a store other
 * than redis, no push.apns nor push.fcm section, a store.url that
 * store_open() would refuse (store_check()), and the credentials
 * (pushd_check_credentials()). PUSHD_OK, or PUSHD_ERR_CONFIG (or the
 * credentials' error) with a one-line reason in err, which the caller
 * prefixes with the file's name. Thread-safety: re-entrant.
 */
PUSHD_NODISCARD pushd_status pushd_check_config(const af_config *cfg, char *err,
						size_t errlen);

/*
 * Reads the first PEM private key of the len bytes at pem, never asking
 * for a passphrase (an encrypted key is refused, not prompted for).
 * Returns the key (free it with EVP_PKEY_free()), or NULL with *encrypted
 * (when not NULL) set to 1 when the key is there but encrypted, 0 when
 * there is none. Leaves nothing on OpenSSL's error queue. Thread-safety:
 * re-entrant.
 */
EVP_PKEY *pushd_pem_private_key(const char *pem, size_t len, int *encrypted);

/* The reason given for an encrypted key, after its file and field. */
#define PUSHD_ENCRYPTED_KEY \
	"an encrypted private key; give an unencrypted PKCS#8 key"

/*
 * Loads an APNs .p8 key (PKCS#8 PEM, P-256) into a cjose JWK; refuses a
 * file whose mode is wider than 0600. PUSHD_OK, ERR_CREDENTIAL (reason in
 * err).
 */
PUSHD_NODISCARD pushd_status pushd_apns_key_load(const char *path,
						 cjose_jwk_t **out, char *err,
						 size_t errlen);

/* Bytes of the name the shared provider token goes by (with its NUL). */
#define PUSHD_APNS_SHARED_MAX 48

/*
 * The name of the provider token made with key for team_id and key_id, as
 * every node knows it in the store: "<team_id>:<key_id>:<16 hex digits of
 * the SHA-256 of the public key>". A token made with another team id or
 * another key is never taken for it, so a corrected push.apns section
 * takes effect at the restart, not when the old token runs out.
 */
PUSHD_NODISCARD pushd_status pushd_apns_shared_name(cjose_jwk_t *key,
						    const char *team_id,
						    const char *key_id,
						    char *out, size_t cap);

/* Signs an APNs provider token (ES256) into out (cap bytes). */
PUSHD_NODISCARD pushd_status pushd_apns_jwt(cjose_jwk_t *key,
					    const char *team_id,
					    const char *key_id, int64_t iat,
					    char *out, size_t cap);

/* Bytes of an FCM project id (see project_id_ok() in fcm.c). */
#define PUSHD_PROJECT_ID_MAX 128

/* An FCM service account (from its JSON file). */
typedef struct pushd_fcm_account {
	char client_email[256];
	char project_id[PUSHD_PROJECT_ID_MAX + 1];
	char token_uri[AF_CONFIG_URL_MAX];
	EVP_PKEY *key; /* RSA private key */
} pushd_fcm_account;

/*
 * Loads a service-account JSON file (refused when wider than 0600) into
 * *acct; token_uri overrides the file's when not empty. Its project_id
 * must be 1..PUSHD_PROJECT_ID_MAX bytes of a-z 0-9 . : - beginning with a
 * letter or digit, and its private_key an unencrypted PEM RSA key.
 * Release with pushd_fcm_account_cleanup().
 */
PUSHD_NODISCARD pushd_status pushd_fcm_account_load(const char *path,
						    const char *token_uri,
						    pushd_fcm_account *acct,
						    char *err, size_t errlen);
void pushd_fcm_account_cleanup(pushd_fcm_account *acct);

/* Signs the RS256 assertion for the token request into out (cap bytes). */
PUSHD_NODISCARD pushd_status pushd_fcm_assertion(const pushd_fcm_account *a,
						 int64_t iat, char *out,
						 size_t cap);

/*
 * Parses the token endpoint's answer (len bytes of body): access_token
 * (an RFC 6750 b64token of less than cap bytes, which goes into a request
 * header) into token, and now + expires_in into *expires_at.
 * PUSHD_OK, or PUSHD_ERR_PROTOCOL with a static reason in *why.
 */
PUSHD_NODISCARD pushd_status pushd_fcm_token_answer(const char *body,
						    size_t len, int64_t now,
						    char *token, size_t cap,
						    int64_t *expires_at,
						    const char **why);

/* ---- one job in a worker's hands ------------------------------------------
 */

typedef enum pushd_flight_state {
	PUSHD_F_FREE = 0,
	PUSHD_F_TAKEN,	 /* read or claimed; not yet checked in the store */
	PUSHD_F_WAIT,	 /* waiting for its (re)send time */
	PUSHD_F_SENDING, /* its request is on a connection */
	PUSHD_F_DONE,	 /* outcome known, to be recorded and acknowledged */
} pushd_flight_state;

/* "push_lease:", "push_done:" or "txn:" and an id. */
#define PUSHD_KEY_BUF (16 + AF_MFA_ID_BUF)

typedef struct pushd_flight {
	pushd_flight_state state;
	pushd_job job;
	char entry_id[STORE_QUEUE_ID_MAX + 1];
	unsigned attempt; /* waits so far: the back-off's exponent */
	unsigned sent;	  /* requests put on the wire for this job */
	int renewed;	  /* the credential was renewed for this job */
	int held;	  /* held back by a paused service (held()) */
	int claimed;	  /* taken over from another consumer */
	int leased;	  /* this worker holds "push_lease:<job>" */
	int lost;	  /* another consumer holds that lease now */
	uint64_t due_ns;  /* monotonic: when to send (PUSHD_F_WAIT) */
	uint64_t lease_ns;
	int64_t taken_ms;      /* when this node took the job (unix ms) */
	int64_t answered_ms;   /* the push service's last answer, or 0 */
	pushd_outcome outcome; /* PUSHD_F_DONE */
	/* Of a failure: why, and the service's last answer (0 and ""). */
	pushd_cause cause;
	long last_status;
	char last_reason[PUSHD_REASON_MAX];
	char key_done[PUSHD_KEY_BUF];
	char key_txn[PUSHD_KEY_BUF];
	char key_lease[PUSHD_KEY_BUF];
	/* Recording the outcome: the txn as read, and as it is to be. */
	store_value txn_old;
	char *txn_new;
	/* Kept from job to job; set up again when the platform changes. */
	CURL *easy;
	pushd_platform easy_platform;
	struct curl_slist *headers;
	char *body;
	/* The credential the request carried: a renewal replaces exactly it. */
	char auth[PUSHD_ACCESS_TOKEN_MAX];
	uint64_t sent_ns; /* monotonic: when the request went on a connection */
	/*
	 * The answer's body: NULL until a byte arrives (an APNs success has
	 * none), then PUSHD_RESPONSE_MAX + 1 bytes; freed with the request.
	 * resp_over: the body went past PUSHD_RESPONSE_MAX and the transfer
	 * was cut there.
	 */
	char *resp;
	size_t resp_len;
	int resp_over;
	char retry_after[PUSHD_RETRY_AFTER_MAX + 1];
} pushd_flight;

/*
 * Releases the request of f (headers, body, answer), keeping its easy
 * handle for the next request; pushd_flight_cleanup() frees that too.
 */
void pushd_flight_release(pushd_flight *f);
void pushd_flight_cleanup(pushd_flight *f);

/* ---- the context -----------------------------------------------------------
 */

/* Latency histogram bucket bounds (seconds), enqueue to final answer. */
#define PUSHD_LAT_BUCKETS 12

/* The connections to one push service: open now, and made in all. */
typedef struct pushd_conn_meter {
	atomic_long open;
	atomic_ulong opened;
} pushd_conn_meter;

typedef struct pushd_metrics {
	atomic_ulong pushes[PUSHD_PLATFORMS][PUSHD_OUTCOMES];
	atomic_ulong failures[PUSHD_PLATFORMS][PUSHD_CAUSES];
	atomic_ulong lat_hist[PUSHD_PLATFORMS][PUSHD_LAT_BUCKETS + 1];
	atomic_ullong lat_sum_ms[PUSHD_PLATFORMS];
	pushd_conn_meter conns[PUSHD_PLATFORMS];
	atomic_long streams[PUSHD_PLATFORMS];
	atomic_ulong renewals[PUSHD_PLATFORMS];
	atomic_ulong retries[PUSHD_PLATFORMS]; /* requests sent again */
	/* pushes held back: a failed answer, no credential, a pause */
	atomic_ulong backoffs[PUSHD_PLATFORMS];
	atomic_ulong unparsable; /* queue entries that were not jobs */
} pushd_metrics;

void pushd_metrics_outcome(pushd_metrics *m, pushd_platform p, pushd_outcome o,
			   int64_t latency_ms);
void pushd_metrics_failure(pushd_metrics *m, pushd_platform p, pushd_cause c);

struct pushd_worker;
struct MHD_Daemon;

/* The APNs provider token shared by the workers (and through the store). */
typedef struct pushd_jwt_cache {
	pthread_mutex_t mu;
	char jwt[PUSHD_JWT_MAX];
	int64_t iat;	      /* 0: none */
	int refusals_told;    /* the log heard of refusals of this token */
	int64_t refused_told; /* iat of the token whose refusal (invalid, or
				 renewed too often) the log heard of */
} pushd_jwt_cache;

/*
 * The FCM access token shared by the workers (and through the store), and
 * the SHA-256 of the last one FCM refused, which is used no more from
 * here or from the store.
 */
typedef struct pushd_token_cache {
	pthread_mutex_t mu;
	char token[PUSHD_ACCESS_TOKEN_MAX];
	int64_t expires_at; /* unix seconds; 0: none */
	int fetching;	    /* a thread is asking the token endpoint */
	unsigned failures;  /* token requests failed in a row */
	uint64_t next_ns;   /* after failures: no request before (mono) */
	uint8_t refused[32];
	int has_refused;
} pushd_token_cache;

/* A push service paused after it refused as a whole: see pause.c. */
typedef struct pushd_pause {
	pthread_mutex_t mu;
	uint64_t until_ns;    /* monotonic; no request before it */
	unsigned strikes;     /* such refusals in a row */
	unsigned long pauses; /* pauses begun, for the metrics */
	uint64_t told_ns;     /* when the log last heard of one */
} pushd_pause;

int pushd_pause_init(pushd_pause *p);
void pushd_pause_destroy(pushd_pause *p);

/*
 * 1 when an answer of the service (http_status, or a transfer that got
 * none: cc) speaks for the service as a whole, not for one device: APNs
 * 5xx; FCM 429, 500 and 503; a service that cannot be reached.
 */
int pushd_service_refused(pushd_platform platform, long http_status,
			  CURLcode cc);

/*
 * Notes such a refusal at now_ns (monotonic): the pause lasts the longer
 * of retry_after_ms and a back-off that doubles with each refusal in a
 * row from PUSHD_BACKOFF_BASE_MS to PUSHD_BACKOFF_MAX_MS (half of it
 * jitter, from rnd), at most PUSHD_PAUSE_MAX_MS, and never ends sooner
 * than one in force. Returns its end; *tell is 1 when a pause begins and
 * the log has not heard of one for PUSHD_PAUSE_TELL_NS.
 */
uint64_t pushd_pause_note(pushd_pause *p, uint64_t now_ns,
			  uint64_t retry_after_ms, uint32_t rnd, int *tell);
/* Any other answer: the refusals in a row start over (a pause stays). */
void pushd_pause_clear(pushd_pause *p);
/* The end of the pause in force (monotonic), or 0. */
uint64_t pushd_pause_until(pushd_pause *p, uint64_t now_ns);
/* Pauses begun so far. */
unsigned long pushd_pause_count(pushd_pause *p);

struct pushd_ctx {
	af_config cfg;
	store_ctx *store;
	log_ctx *log;
	cjose_jwk_t *apns_key; /* NULL without an apns section */
	char apns_shared[PUSHD_APNS_SHARED_MAX]; /* pushd_apns_shared_name */
	pushd_jwt_cache jwt;
	pushd_fcm_account fcm; /* key NULL without an fcm section */
	pushd_token_cache fcm_token;
	pushd_metrics metrics;
	pushd_pause pause[PUSHD_SERVICES];
	struct pushd_worker **workers;
	unsigned nworkers;
	atomic_int stopping;
	atomic_uint alive;	    /* workers running now */
	atomic_uint expected;	    /* workers started; 0 when stopped */
	uint64_t grace_deadline_ns; /* set before stopping becomes 1 */
	long transfer_timeout_ms;   /* PUSHD_TRANSFER_TIMEOUT_MS */
	int started;
	char node[64]; /* host, process id and a random part: consumer names */
	struct MHD_Daemon *mhd;
};

/*
 * The current APNs provider token into out: reused from the context or
 * the store while younger than PUSHD_JWT_REUSE_S, minted at most once per
 * PUSHD_JWT_MINT_GAP_S across every node (store lock). With failed (the
 * token Apple called expired) a new one is made unless another worker or
 * node already replaced it, or the refused one is younger than
 * PUSHD_JWT_MINT_GAP_S (PUSHD_ERR_STATE): Apple refuses a new token that
 * soon, so the clock must be wrong, and a new token would not help. PUSHD_OK,
 * ERR_CRYPTO, ERR_STATE, ERR_ARG.
 */
PUSHD_NODISCARD pushd_status pushd_apns_token(pushd_ctx *ctx,
					      const char *failed, char *out,
					      size_t cap);

/*
 * The current FCM access token into out: the context's or the store's,
 * valid for 5 more minutes. Never asks the token endpoint, which only
 * pushd_fcm_renew() does, so that no worker (and none of its other
 * pushes) waits for it: PUSHD_ERR_HTTP when there is no such token yet.
 * failed (not NULL) is a token Google refused: it is used no more, and
 * the next pushd_fcm_renew() asks for a new one.
 */
PUSHD_NODISCARD pushd_status pushd_fcm_token(pushd_ctx *ctx, const char *failed,
					     char *out, size_t cap);

/*
 * Sets the curl options every request to platform p shares: TLS (the
 * section's ca_file), HTTP/2, time-outs, https only, and the connection
 * counting socket callbacks. PUSHD_OK or PUSHD_ERR_HTTP.
 */
PUSHD_NODISCARD pushd_status pushd_curl_common(pushd_ctx *ctx, CURL *easy,
					       pushd_platform p);

/*
 * Fills f->easy (already made with the common options) with the request
 * for f->job: URL, headers with a current credential (copied to f->auth),
 * body. PUSHD_OK; PUSHD_ERR_TOO_BIG (payload over the cap) and
 * PUSHD_ERR_PROTOCOL (a token the service could never take) are final
 * failures of the job; others are retried.
 */
PUSHD_NODISCARD pushd_status pushd_apns_prepare(pushd_ctx *ctx,
						pushd_flight *f);
PUSHD_NODISCARD pushd_status pushd_fcm_prepare(pushd_ctx *ctx, pushd_flight *f);

/*
 * The verdict on a finished exchange with an HTTP status; the service's
 * reason goes to f->last_reason (APNs' reason, Google's error code or
 * else its status; "" for none).
 */
pushd_verdict pushd_apns_verdict(pushd_ctx *ctx, pushd_flight *f,
				 long http_status);
pushd_verdict pushd_fcm_verdict(pushd_ctx *ctx, pushd_flight *f,
				long http_status);

/* ---- workers (worker.c) ---------------------------------------------------
 */

/*
 * A run of failed queue reads (or claims) of one worker: the wait before
 * the next try, 100 ms doubling up to 5 s, and when the run was last
 * written to the log, so that a store that is down for an hour costs a
 * line a minute rather than ten a second.
 *
 * Thread-safety: belongs to one worker.
 */
#define PUSHD_OUTAGE_BASE_MS	 100u
#define PUSHD_OUTAGE_MAX_MS	 5000u
#define PUSHD_OUTAGE_LOG_EVERY_S 60u

typedef struct pushd_outage {
	uint32_t delay_ms;  /* 0: the store answered the last call */
	uint64_t since_ns;  /* monotonic: the run's first failure */
	uint64_t logged_ns; /* monotonic: the run's last log line */
	uint64_t next_ns;   /* monotonic: no call before this */
} pushd_outage;

/* What pushd_outage_step() asks the caller to log. */
typedef enum pushd_outage_log {
	PUSHD_OUTAGE_QUIET = 0,
	PUSHD_OUTAGE_FIRST, /* a run of failures starts: warn, with why */
	PUSHD_OUTAGE_STILL, /* PUSHD_OUTAGE_LOG_EVERY_S since the last line */
	PUSHD_OUTAGE_OVER,  /* the store answers again after a run */
} pushd_outage_log;

/*
 * Records the outcome of one call at now_ns (monotonic; failed non-zero
 * when the store did not answer) in *o: sets o->next_ns and returns what
 * to log. *for_s gets how long the run has lasted (whole seconds), for
 * PUSHD_OUTAGE_STILL and PUSHD_OUTAGE_OVER; 0 otherwise. A success ends
 * the run and zeroes *o.
 */
pushd_outage_log pushd_outage_step(pushd_outage *o, int failed, uint64_t now_ns,
				   uint64_t *for_s);

PUSHD_NODISCARD pushd_status pushd_worker_new(pushd_ctx *ctx, unsigned index,
					      struct pushd_worker **out);
PUSHD_NODISCARD pushd_status pushd_worker_start(struct pushd_worker *w);
void pushd_worker_join(struct pushd_worker *w);
void pushd_worker_free(struct pushd_worker *w);

#endif /* PUSHD_INTERNAL_H */
