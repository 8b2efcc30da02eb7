/*
 * OAuth request parameters as RFC 6749 3.1 and 3.2 read them: a parameter
 * sent without a value is treated as if it were omitted, a parameter we
 * define must not come twice, and parameters we do not know are ignored,
 * however often they come. And the same-site hop, which sends an
 * endpoint's parameters back to it from a page of ours.
 */
#include <string.h>

#include "oidc/oidc.h"
#include "session/session.h"
#include "web/page.h"

/* Marks a request this server posted to itself (see the hop below). */
#define HOP_PARAM      "same_site"
/* The parameters of any endpoint passed on by a hop, at most. */
#define HOP_PARAMS_MAX ((size_t)24)

const char *af_oidc_param(const af_req *req, const char *name)
{
	const char *v = af_req_param(req, name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

int af_oidc_repeated(const af_req *req, const char *const *names)
{
	size_t i;

	if (!req->duplicate_param)
		return 0;
	for (i = 0; names[i] != NULL; i++) {
		if (af_req_param_repeated(req, names[i]))
			return 1;
	}
	return 0;
}

int af_oidc_same_site_hop(const af_req *req, af_resp *resp,
			  const char *const *names, const char *action,
			  const char *dest)
{
	const char *params[(2 * HOP_PARAMS_MAX) + 3];
	const char *hopped = af_req_param(req, HOP_PARAM);
	char cookie[1024];
	size_t i, n = 0;

	if (strcmp(req->method, "POST") != 0 ||
	    (hopped != NULL && strcmp(hopped, "1") == 0) ||
	    af_req_cookie(req, AF_SESSION_COOKIE, cookie, sizeof(cookie)) == 0)
		return 0;
	for (i = 0; names[i] != NULL && n < 2 * HOP_PARAMS_MAX; i++) {
		params[n++] = names[i];
		params[n++] = af_oidc_param(req, names[i]);
	}
	params[n++] = HOP_PARAM;
	params[n++] = "1";
	params[n] = NULL;
	af_page_auto_post(resp, "Continuing", action, params);
	/*
	 * The answer to the form is a redirect to the application, which
	 * browsers hold to the form's form-action too.
	 */
	if (dest != NULL)
		af_page_allow_form_target(resp, dest);
	return 1;
}
