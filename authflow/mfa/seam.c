/*
 * The MFA decision after a good password. A user whose policy has remote
 * access on, with the remote_access_mfa feature enabled, must pass a
 * second factor. This server build has no second-factor method to offer
 * yet, so such a sign-in is refused (failing closed) rather than let
 * through on the password alone.
 */
#include "mfa/seam.h"
#include "web/page.h"

af_mfa_result af_mfa_after_password(af_server *srv, af_req *req, af_resp *resp,
				    const char *flow_id, const json_t *authz,
				    const json_t *user, const json_t *policy)
{
	(void)flow_id;
	(void)authz;
	(void)user;
	if (!srv->cfg.feature_remote_access_mfa ||
	    !json_is_true(json_object_get(policy, "remote_access")))
		return AF_MFA_NOT_NEEDED;
	log_warn(srv->log, req->rid, "mfa_unavailable",
		 "policy requires MFA but no method is available");
	af_page_error(resp, 403, "Second factor required",
		      "Your account needs a second sign-in step, which this "
		      "service cannot offer at the moment.",
		      "Contact your administrator.");
	return AF_MFA_RESPONDED;
}
