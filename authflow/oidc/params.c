/*
 * OAuth request parameters as RFC 6749 3.1 and 3.2 read them: a parameter
 * sent without a value is treated as if it were omitted, a parameter we
 * define must not come twice, and parameters we do not know are ignored,
 * however often they come.
 */
#include "oidc/oidc.h"

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
