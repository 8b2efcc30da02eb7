/*
 * The step after the password. The sign-in handler calls
 * af_mfa_after_password() once the password is right and the policy lets
 * the user use the application; it decides whether a second factor is
 * needed and, if so, takes over the browser.
 *
 * Thread-safety: re-entrant.
 */
#ifndef AF_MFA_SEAM_H
#define AF_MFA_SEAM_H

#include <jansson.h>

#include "http/request.h"
#include "mfa/mfa.h"
#include "server.h"

typedef enum af_mfa_result {
	AF_MFA_NOT_NEEDED = 0, /* the password suffices: sign in now */
	AF_MFA_RESPONDED,      /* the MFA step wrote the response */
} af_mfa_result;

/*
 * user and policy are the signed-in user's directory object and effective
 * policy, app the flow's application profile (all borrowed); flow_id and
 * authz the sign-in flow.
 */
af_mfa_result af_mfa_after_password(af_server *srv, af_req *req, af_resp *resp,
				    const char *flow_id, const json_t *authz,
				    const json_t *user, const json_t *policy,
				    const json_t *app);

/*
 * Whether a user's own policy asks for the second step: remote access on
 * (and the feature on). Only then may a password alone enroll the user's
 * first phone (workflow setting enroll_after_password): an application
 * asking for the step (acr_values) does not make it so, or whoever knew
 * the password of a user who signs in with it alone could choose when to
 * set up that user's second factor. _user looks the policy up: 1 or 0,
 * or -1 when the directory failed.
 */
int af_mfa_seam_policy_asks(const af_server *srv, const json_t *policy);
int af_mfa_seam_policy_asks_user(af_server *srv, const char *username);

/*
 * Another challenge for a flow past its password step whose challenge
 * ended unanswered (expired), or which got none (pushes paused or over
 * the limit, no phone that could take one): a new transaction, with a new
 * number, for the user's devices as they are now and under the same push
 * limit; the flow's count of token codes tried stays. user is the flow's
 * user as the directory has them now, policy their policy (NULL: none)
 * and app the flow's application (borrowed), checked by the caller; writes the
 * response (on to the MFA page, which says why no push came, when none did).
 */
void af_mfa_ask_again(af_server *srv, af_req *req, af_resp *resp,
		      const char *flow_id, const json_t *authz,
		      const json_t *user, const json_t *policy,
		      const json_t *app);

/*
 * af_mfa_txn_get() for the server's readers of a txn (the sign-in page,
 * its status, the phone): the read that finds a push unanswered past its
 * expiry counts it (metric outcome "expired") and puts an "mfa.expired"
 * event on the trail, by the server, with the user as target and the
 * txn, app, and where the sign-in came from (signin_ip, signin_browser)
 * as detail: a password that someone else may have typed. Once per txn,
 * whichever reader comes first; rid: the request that read it.
 */
af_mfa_status af_mfa_seam_txn_get(af_server *srv, const char *rid,
				  const char *id, int64_t now, json_t **out);

/*
 * The same for a txn already read (af_mfa_txn_get) by the server's reader,
 * once it has checked who may see it.
 */
void af_mfa_seam_txn_seen(af_server *srv, const char *rid, const char *id,
			  int64_t now, const json_t *txn);

/*
 * Finds the pushes that expired unanswered and nobody read again (the
 * browser closed, a script that typed a password and left) and tells of
 * each as af_mfa_seam_txn_get() would: called by the server about once a
 * second with the same sw (zeroed at start: it begins as far back as
 * records live), it sweeps each second of expiry from sw->cursor up to
 * AF_MFA_SWEEP_LAG_S before now, at most AF_MFA_SWEEP_SLOTS_MAX a call,
 * and moves the cursor on. A second that cannot be swept is tried again
 * at the next call while the store is down, and left (with a warning)
 * after AF_MFA_SWEEP_TRIES tries while it is up. Every node of a cluster
 * may sweep: each push is told of once all the same.
 */
#define AF_MFA_SWEEP_LAG_S     2 /* clocks of nodes a little apart */
#define AF_MFA_SWEEP_SLOTS_MAX 32
#define AF_MFA_SWEEP_TRIES     5
/*
 * Every AF_MFA_TRIM_EVERY_S it also takes old jobs off the push queue
 * (af_mfa_push_trim()). A cursor ahead of now (the clock was set back)
 * goes back to now: the seconds before were swept, and a second swept
 * twice tells of nothing twice.
 */
#define AF_MFA_TRIM_EVERY_S    10

typedef struct af_mfa_sweep {
	int64_t cursor;	    /* the next second to sweep */
	unsigned tries;	    /* failed tries of that second */
	uint64_t trimmed_s; /* monotonic second of the last queue trim */
	int trim_told;	    /* the last trim failed, and that was said */
} af_mfa_sweep;

void af_mfa_seam_sweep(af_server *srv, af_mfa_sweep *sw, int64_t now);

#endif /* AF_MFA_SEAM_H */
