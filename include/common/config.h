/*
 * The configuration file: one JSON object, parsed once into an immutable,
 * validated af_config. Unknown keys and bad values are refused with the
 * key's path ("listen.port: must be 1..65535"). deploy/config.md documents
 * every key; deploy/authflow.example.json is a complete example.
 *
 *   {
 *     "issuer": "https://id.example.com",
 *     "listen": {"address": "127.0.0.1", "port": 8443, "threads": 0},
 *     "tls": {"cert_file": "...", "key_file": "..."},
 *     "state_dir": "/var/lib/authflow",
 *     "store": {"backend": "memory", "url": "redis://127.0.0.1:6379",
 *               "prefix": "authflow:"},
 *     "keys": {"algorithm": "RS256", "rsa_bits": 2048,
 *              "lifetime_days": 730, "alert_days": 60},
 *     "session": {"timeout": "2h"},
 *     "features": {"sso": true, "remote_access_mfa": true},
 *     "password_hash": {"argon2id": {"m_kib": 19456, "t": 2, "p": 1}},
 *     "passwords": {"min_length": 8, "blocklist_file": "...",
 *                   "temporary_hours": 72},
 *     "accounts": {"inactive_days": 90},
 *     "admin": {"tokens": [{"name": "ops", "role": "superadmin",
 *                           "sha256": "<64 hex>"}]},
 *     "log": {"level": "info"},
 *     "metrics": {"allow": ["127.0.0.0/8", "::1/128"]},
 *     "limits": {"body_bytes": 65536, "request_timeout_s": 30,
 *                "connections_per_ip": 0, "lockout_s": 1800,
 *                "lockout_after": 10,
 *                "flows_per_ip": 10000, "codes_per_user": 120,
 *                "device_requests_per_minute": 120,
 *                "known_browser_days": 180},
 *     "push": {"mode": "daemon", "workers": 0,
 *              "listen": {"address": "127.0.0.1", "port": 9465},
 *              "apns": {"team_id": "ABCDE12345", "key_id": "KEY1234567",
 *                       "key_file": "/etc/authflow/apns.p8",
 *                       "topic": "com.example.authenticator"},
 *              "fcm": {"service_account_file": "/etc/authflow/fcm.json"}}
 *   }
 *
 * Thread-safety: a parsed af_config is read-only and may be shared.
 */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/store.h"
#include "common/util.h"

#define AF_CONFIG_ADMIN_TOKENS_MAX  64
#define AF_CONFIG_PROXIES_MAX	    16
#define AF_CONFIG_METRICS_ALLOW_MAX 16
#define AF_CONFIG_ADMIN_ALLOW_MAX   16
#define AF_CONFIG_FILE_MAX	    (256 * 1024)
/* The Argon2id cost's ceilings, which the password module enforces too. */
#define AF_CONFIG_ARGON2_M_KIB_MAX  1048576 /* 1 GiB */
#define AF_CONFIG_ARGON2_T_MAX	    64
#define AF_CONFIG_ARGON2_P_MAX	    16
/* Characters a password being set needs: 8 by default (NIST SP 800-63B
 * with a second factor), up to 64. */
#define AF_CONFIG_PW_MIN_LENGTH	    8
#define AF_CONFIG_PW_MIN_LENGTH_MAX 64
/* How long a temporary password signs in: 3 days; 30 at most. */
#define AF_CONFIG_PW_TEMP_HOURS	    72
#define AF_CONFIG_PW_TEMP_HOURS_MAX 720
/* Days without a sign-in after which an account is disabled: 0 (never,
 * the default) or up to ten years. */
#define AF_CONFIG_INACTIVE_DAYS_MAX 3650
/* Days the audit trail keeps an event: 0 (until the ring overwrites it,
 * the default) or up to ten years. */
#define AF_CONFIG_AUDIT_DAYS_MAX    3650
/*
 * Failed sign-ins that lock a user: at least 3, and fewer than the 100
 * failures after which a lock lasts until an administrator lifts it.
 */
#define AF_CONFIG_LOCKOUT_AFTER	    10
#define AF_CONFIG_LOCKOUT_AFTER_MIN 3
#define AF_CONFIG_LOCKOUT_AFTER_MAX 99

typedef enum af_admin_role {
	AF_ROLE_ADMIN = 0,
	AF_ROLE_SUPERADMIN,
} af_admin_role;

typedef struct af_admin_token {
	char name[64];
	af_admin_role role;
	uint8_t sha256[32]; /* SHA-256 of the bearer token */
} af_admin_token;

/* Where the push workers run (push.mode). */
typedef enum af_push_mode {
	AF_PUSH_EMBEDDED = 0, /* inside authflow */
	AF_PUSH_DAEMON,	      /* in separate pushd processes */
} af_push_mode;

#define AF_CONFIG_URL_MAX	   256
#define AF_CONFIG_PATH_MAX	   512
#define AF_CONFIG_APNS_ID_LEN	   10 /* Apple team and key ids */
#define AF_CONFIG_TOPIC_MAX	   255
#define AF_CONFIG_PUSH_CONNS_MAX   16
#define AF_CONFIG_PUSH_WORKERS_MAX 256

/* APNs provider settings (push.apns); used only when push_apns is 1. */
typedef struct af_apns_config {
	char endpoint[AF_CONFIG_URL_MAX]; /* no trailing slash */
	char sandbox_endpoint[AF_CONFIG_URL_MAX];
	char team_id[AF_CONFIG_APNS_ID_LEN + 1];
	char key_id[AF_CONFIG_APNS_ID_LEN + 1];
	char key_file[AF_CONFIG_PATH_MAX]; /* PKCS#8 PEM, mode 0600 */
	char topic[AF_CONFIG_TOPIC_MAX + 1];
	char ca_file[AF_CONFIG_PATH_MAX]; /* empty: the system's CAs */
	unsigned connections;		  /* per endpoint and worker */
} af_apns_config;

/* FCM HTTP v1 settings (push.fcm); used only when push_fcm is 1. */
typedef struct af_fcm_config {
	char endpoint[AF_CONFIG_URL_MAX];	       /* no trailing slash */
	char service_account_file[AF_CONFIG_PATH_MAX]; /* mode 0600 */
	char token_uri[AF_CONFIG_URL_MAX]; /* empty: the file's token_uri */
	char ca_file[AF_CONFIG_PATH_MAX];
	unsigned connections;
} af_fcm_config;

typedef struct af_config {
	char issuer[256]; /* no trailing slash */
	int issuer_https; /* 1 when the issuer is https:// */
	char listen_address[64];
	uint16_t listen_port;
	unsigned threads; /* 0 in the file: the number of cores */
	/* Reverse proxies whose X-Forwarded-For names the client. */
	af_ipnet trusted_proxies[AF_CONFIG_PROXIES_MAX];
	size_t ntrusted_proxies;
	char tls_cert_file[512]; /* empty: plain HTTP (loopback or proxy) */
	char tls_key_file[512];
	char state_dir[512];
	store_backend store_backend;
	char store_url[256];
	char store_prefix[STORE_PREFIX_MAX + 1];
	/* memory: the store's cap in MiB; 0: half the machine's memory */
	unsigned store_max_mb;
	/* redis: connect and command timeout in ms; 0: the store's (2000) */
	unsigned store_timeout_ms;
	unsigned rsa_bits; /* 2048, 3072 or 4096 */
	unsigned key_lifetime_days;
	unsigned key_alert_days;
	unsigned session_timeout_s; /* 0: "off" (no absolute timeout) */
	unsigned session_idle_s;    /* 0: "off" (no idle timeout) */
	int feature_sso;
	int feature_remote_access_mfa;
	uint32_t argon2_m_kib;
	uint32_t argon2_t;
	uint32_t argon2_p;
	unsigned pw_min_length;			    /* passwords.min_length */
	char pw_blocklist_file[AF_CONFIG_PATH_MAX]; /* empty: none */
	unsigned pw_temporary_hours;	 /* passwords.temporary_hours */
	unsigned accounts_inactive_days; /* accounts.inactive_days; 0: off */
	unsigned audit_keep_days;	 /* audit.keep_days; 0: no age limit */
	af_admin_token admin_tokens[AF_CONFIG_ADMIN_TOKENS_MAX];
	size_t admin_token_count;
	/*
	 * Networks whose clients may use the admin API (after
	 * trusted_proxies) when admin_allow_set; else every address may.
	 * Set and none: nobody may.
	 */
	af_ipnet admin_allow[AF_CONFIG_ADMIN_ALLOW_MAX];
	size_t nadmin_allow;
	int admin_allow_set;
	int log_level; /* a log_level value */
	/*
	 * Networks whose clients may read /metrics (after trusted_proxies);
	 * by default loopback only. None: nobody may.
	 */
	af_ipnet metrics_allow[AF_CONFIG_METRICS_ALLOW_MAX];
	size_t nmetrics_allow;
	size_t body_max;
	unsigned request_timeout_s;
	unsigned connections_per_ip; /* 0: no limit */
	unsigned lockout_s;	     /* 0: until an admin lifts it */
	unsigned lockout_after;	     /* failed sign-ins that lock a user */
	unsigned flows_per_ip;	 /* sign-ins begun per 10 min; 0: no limit */
	unsigned codes_per_user; /* codes issued per minute; 0: no limit */
	/* Signed requests of one phone per minute; 0: no limit */
	unsigned device_requests_per_minute;
	/* How long a browser stays known to a user (session/known.h); 0: off */
	unsigned known_browser_days;
	af_push_mode push_mode; /* default: embedded (memory), daemon (redis) */
	unsigned push_workers;	/* 0 in the file: the number of cores */
	/* 1: pushes name the user and the application (push.names) */
	int push_names;
	char push_listen_address[64];
	uint16_t push_listen_port;
	int push_apns; /* 1 when the apns section is set */
	af_apns_config apns;
	int push_fcm; /* 1 when the fcm section is set */
	af_fcm_config fcm;
} af_config;

/* Sets every default (issuer empty: required in a file). */
void af_config_defaults(af_config *cfg);

/*
 * Parses and validates a JSON config text into *cfg (defaults first).
 * Returns 0, or -1 with a one-line message naming the key path in err.
 */
int af_config_parse(const char *text, size_t len, af_config *cfg, char *err,
		    size_t errlen);

/* Reads a file (at most AF_CONFIG_FILE_MAX bytes) and parses it. */
int af_config_load(const char *path, af_config *cfg, char *err, size_t errlen);

/*
 * As af_config_load(), for a file read again while running: a file it
 * names (TLS, push keys, the password blocklist, read only at start)
 * that fails its check does not refuse the configuration; the first such
 * failure, "key: path: why", goes to later ("" when there is none).
 */
int af_config_load_later(const char *path, af_config *cfg, char *err,
			 size_t errlen, char *later, size_t latercap);

/*
 * Whether url is an https:// URL of a push service as libcurl will read
 * it when it sends: a host, a port in range, no user name, and a path
 * only with path_ok (an OAuth token_uri; a service's endpoint is its
 * root). 0, or -1 with the reason in why.
 */
int af_config_push_url_ok(const char *url, int path_ok, char *why,
			  size_t whycap);

/*
 * Parses a duration: "90s", "30m", "2h", "4d", a bare number of seconds,
 * or "off" (0). Returns 0 and the seconds in *out, or -1.
 */
int af_duration_parse(const char *text, unsigned *out);

#endif /* COMMON_CONFIG_H */
