/*
 * /admin/v1/branding: the organisation's name, accent colour, logo and
 * help line on every sign-in page.
 *
 * GET    /admin/v1/branding
 *        → the branding (af_dir_branding_get), the logo as {type, size,
 *          sha256} without its bytes; {} for the built-in look.
 * PATCH  /admin/v1/branding {name?, color?, help_text?, help_url?, logo?}
 *        → the branding after the change. logo: standard base64 of the
 *          image. Superadmin only: what every user sees before signing in
 *          is the service's, not one administrator's.
 * DELETE /admin/v1/branding
 *        → {"ok": true}: back to the built-in look. Superadmin only.
 *
 * A change shows on this server's next page at once, and on the other
 * servers of a cluster within a second (web/brand.h).
 */
#include "admin/admin.h"
#include "web/brand.h"

void af_admin__branding_show(af_admin_call *c)
{
	json_t *obj = NULL;
	af_dir_status st;

	st = af_dir_branding_get(c->dir, 0, &obj);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, NULL);
		return;
	}
	af_admin__json(c, 200, obj);
}

void af_admin__branding_set(af_admin_call *c)
{
	json_t *body, *obj = NULL;
	char err[AF_DIR_ERR_BUF] = "";
	af_dir_status st;

	body = af_admin__need_body(c);
	if (body == NULL)
		return;
	st = af_dir_branding_set(c->dir, c->caller.name, body, &obj, err,
				 sizeof(err));
	/* Even a failed change may have been made (but not audited):
	 * the next page reads the branding again. */
	af_brand_cache_forget(c->srv->brand);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		return;
	}
	af_admin__json(c, 200, obj);
}

void af_admin__branding_reset(af_admin_call *c)
{
	char err[AF_DIR_ERR_BUF] = "";
	af_dir_status st;

	st = af_dir_branding_reset(c->dir, c->caller.name, err, sizeof(err));
	af_brand_cache_forget(c->srv->brand);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(c, st, err);
		return;
	}
	af_admin__ok(c);
}
