/*
 * Prometheus metrics of the server: requests by route and status, a
 * latency histogram, logins, second steps and token requests by outcome,
 * the store's health, and gauges
 * that other modules set. Counters are C11 atomics, so recording takes no
 * lock.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef AF_HTTP_METRICS_H
#define AF_HTTP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http/buf.h"

typedef struct af_metrics af_metrics;

typedef enum af_login_outcome {
	AF_LOGIN_OK = 0,
	AF_LOGIN_BAD_CREDENTIALS,
	AF_LOGIN_LOCKED,
	AF_LOGIN_THROTTLED,
	AF_LOGIN_NOT_ALLOWED,
	AF_LOGIN_MFA_REQUIRED,
	AF_LOGIN_ERROR,
	AF_LOGIN_BUSY,
	AF_LOGIN_OUTCOME_COUNT
} af_login_outcome;

/* Second-step outcomes: push decisions and token codes. */
typedef enum af_mfa_outcome {
	AF_MFA_OUT_APPROVED = 0,
	AF_MFA_OUT_FAILED, /* the wrong number */
	AF_MFA_OUT_DENIED,
	AF_MFA_OUT_REPORTED,
	AF_MFA_OUT_CODE_OK,
	AF_MFA_OUT_CODE_WRONG,
	AF_MFA_OUT_PUSH_LIMITED,  /* a sign-in over the push limit: no push */
	AF_MFA_OUT_EXPIRED,	  /* a push nobody answered in time */
	AF_MFA_OUT_CANCELLED,	  /* the person cancelled at the page */
	AF_MFA_OUT_CODE_REPLAYED, /* a token code used before */
	AF_MFA_OUT_PUSH_PAUSED,	  /* a right password while pushes pause */
	AF_MFA_OUT_COUNT
} af_mfa_outcome;

/* What became of a back-channel logout token (oidc/bclogout.h). */
typedef enum af_bcl_outcome {
	AF_BCL_OUT_DELIVERED = 0,
	AF_BCL_OUT_FAILED,  /* every try failed */
	AF_BCL_OUT_DROPPED, /* never sent: queue full, or the server stopped */
	AF_BCL_OUT_COUNT
} af_bcl_outcome;

/* Why an SSO session ended (session/session.h). */
typedef enum af_session_end {
	AF_SESSION_END_LOGOUT = 0, /* signed out in its own browser */
	AF_SESSION_END_REPLACED,   /* a new sign-in in the same browser */
	/*
	 * ended from elsewhere: an administrator, the user in another
	 * browser, a new password, the user disabled or removed
	 */
	AF_SESSION_END_ENDED,
	AF_SESSION_END_IDLE,	 /* unused for session.idle_timeout */
	AF_SESSION_END_TIMEOUT,	 /* past session.timeout */
	AF_SESSION_END_TOO_MANY, /* the oldest past the user's 64 */
	AF_SESSION_END_COUNT
} af_session_end;

/* The grant a token request asked for ("other": none, or one unknown). */
typedef enum af_token_grant {
	AF_TOKEN_GRANT_CODE = 0,
	AF_TOKEN_GRANT_REFRESH,
	AF_TOKEN_GRANT_OTHER,
	AF_TOKEN_GRANT_COUNT
} af_token_grant;

/*
 * How a token request ended: tokens issued, or the OAuth error it got
 * (RFC 6749 5.2; "unavailable" is temporarily_unavailable, a store that
 * failed), or "reused": a code redeemed before, or a refresh token
 * rotated out, presented again, so what it issued was revoked (a sign
 * of a stolen token), or "throttled": refused unchecked, from an address
 * waiting after failed client authentications (429).
 */
typedef enum af_token_outcome {
	AF_TOKEN_ISSUED = 0,
	AF_TOKEN_INVALID_REQUEST,
	AF_TOKEN_INVALID_CLIENT,
	AF_TOKEN_INVALID_GRANT,
	AF_TOKEN_REUSED,
	AF_TOKEN_UNAUTHORIZED_CLIENT,
	AF_TOKEN_UNSUPPORTED_GRANT_TYPE,
	AF_TOKEN_INVALID_SCOPE,
	AF_TOKEN_UNAVAILABLE,
	AF_TOKEN_THROTTLED,
	AF_TOKEN_OUTCOME_COUNT
} af_token_outcome;

/*
 * The outcome of a token endpoint answer: AF_TOKEN_ISSUED for status 200,
 * else the one named by its OAuth error code (NULL or unknown: invalid
 * request).
 */
af_token_outcome af_token_outcome_of(unsigned status, const char *error);

/*
 * route_name(i) names route i (0 <= i < nroutes) in the metrics; routes
 * that share a name are counted together, under one series.
 */
typedef const char *(*af_route_name_fn)(size_t i);
af_metrics *af_metrics_new(af_route_name_fn route_name, size_t nroutes);
void af_metrics_free(af_metrics *m);

/*
 * Records one finished request under its real status code (100..599);
 * status 0 is a request that got no answer (the client went away, or the
 * connection timed out, before one was sent): status="aborted".
 */
void af_metrics_request(af_metrics *m, int route, unsigned status,
			uint64_t latency_ns);

void af_metrics_login(af_metrics *m, af_login_outcome outcome);

void af_metrics_mfa(af_metrics *m, af_mfa_outcome outcome);
/*
 * A device API request refused for reason, one of the device API's
 * ("headers", "clock", "target", "signature", "stored_key", "nonce",
 * "replay", "device"); any other counts as "other".
 */
void af_metrics_device_refusal(af_metrics *m, const char *reason);
/* Push jobs put on the queue (one per device a sign-in pushes to). */
void af_metrics_push_queued(af_metrics *m, size_t jobs);
void af_metrics_bcl(af_metrics *m, af_bcl_outcome outcome);
/* The outcome's name, as /metrics and the log say it. */
const char *af_metrics_bcl_name(af_bcl_outcome outcome);
/* Counts n sessions ended for why. */
void af_metrics_session_end(af_metrics *m, af_session_end why, unsigned n);
/* The reason's name, as /metrics and the log say it. */
const char *af_metrics_session_end_name(af_session_end why);

void af_metrics_token(af_metrics *m, af_token_grant grant,
		      af_token_outcome outcome);

/*
 * Records one check of the store (http/health.h): authflow_store_up
 * becomes up (1 or 0), and a failed check is counted.
 */
void af_metrics_store(af_metrics *m, int up);
/* The store was found to have lost its data (http/health.h). */
void af_metrics_store_lost(af_metrics *m);
/* Whether the store may evict entries before they expire: 1, 0, or -1
 * when it cannot be told. */
void af_metrics_store_evicts(af_metrics *m, int evicts);
/* The store's clock less this node's, in ms (http/health.h). */
void af_metrics_store_clock(af_metrics *m, int64_t offset_ms);

/* Signing-key gauges, refreshed by the key check. */
void af_metrics_keys(af_metrics *m, long days_left, int alert);

/*
 * The requests received and not yet answered, set before each render:
 * what a stop waits for, and a queue building up before latency shows it.
 */
void af_metrics_in_flight(af_metrics *m, unsigned n);

/* Appends the Prometheus text exposition (format 0.0.4). */
void af_metrics_render(af_metrics *m, af_buf *out);

#endif /* AF_HTTP_METRICS_H */
