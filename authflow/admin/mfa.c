/*
 * /admin/v1/ push-MFA administration: the workflow settings, enrollment
 * codes, enrolled devices and the push queue, over the data model of
 * mfa/mfa.h. Same bearer tokens, error answers and audit trail as the rest
 * of the admin API (admin.h); either role may call every one of these but
 * PATCH workflow, which the route table keeps to superadmin tokens.
 *
 * GET    /admin/v1/workflow
 *        → the workflow settings (af_mfa_workflow_get): {number_matching,
 *          legacy, min_app_version: {ios, android}, push_limit: {count,
 *          period_s}, report_pause_s, enroll_after_password}
 * PATCH  /admin/v1/workflow {number_matching?, legacy?, min_app_version?,
 *                            push_limit?, report_pause_s?,
 *                            enroll_after_password?}
 *        → the settings after the change; 400 with af_mfa_workflow_set's
 *          "field: reason" when a value is refused, or for any other
 *          member; 400 "nothing to change" for {} and for a push_limit
 *          of {} (it merges, so {} changes nothing). Audit
 *          "workflow.set", detail: the patch, and under "was" what
 *          each setting it names held before. Superadmin only.
 * POST   /admin/v1/users/{name}/enroll-code
 *        → 201 {code, uri, expires_at}: a one-time enrollment code for the
 *          user (404 when there is no such user, 409 when the user is
 *          disabled or being removed), and the URI the phone
 *          scans: authflow://enroll?issuer=<pct issuer>&code=<code>
 *          &user=<pct user>. Audit "device.enroll_code" (never the code).
 * GET    /admin/v1/users/{name}/devices
 *        → {"devices": [...]} (af_mfa_device_list: no TOTP secrets; each
 *          push token cut to its first 8 characters, as in the queue;
 *          below_min_app_version true for a phone whose app is older
 *          than the workflow's min_app_version for its platform, which
 *          gets no sign-in requests), 404 when there is no such user.
 * GET    /admin/v1/devices/{id}
 *        → the device, whose "user" says whose it is, as in the list
 *          (for an id a log line names); 404 for an unknown device.
 * DELETE /admin/v1/devices/{id}
 *        → {"ok": true}; 404 for an unknown device. Audit "device.remove"
 *          with the device's user, name and platform. Sign-ins waiting on
 *          this phone alone end at once (af_mfa_device_remove).
 * DELETE /admin/v1/users/{name}/enroll-codes
 *        → {"ok": true}: every code of the user's not yet used is
 *          revoked (an administrator's and the user's own); 404 for an
 *          unknown user. Audit "device.enroll_codes_revoke".
 * PATCH  /admin/v1/devices/{id}  {"device_name": NAME}
 *        → the device as listed; 400 for a name that is empty, longer than
 *          64 bytes or holds control characters, 404 for an unknown
 *          device. Audit "device.set" with the user, the new name and
 *          under "was" the old one.
 * GET    /admin/v1/push/queue?limit=N   (1..1000, default 50)
 *        → {"length": N, "pending": P, "jobs": [...oldest first]}:
 *          P jobs taken by a push worker and not yet finished (sent,
 *          refused or given up); the jobs the store
 *          keeps on queue "push" (taken or not: the queue is trimmed, not
 *          emptied, at about STORE_QUEUE_MAX), as af_mfa_push_enqueue
 *          wrote them (they never hold the matching number), each push
 *          token cut to its first 8 characters.
 *
 * MFA statuses map to answers as directory statuses do: NOT_FOUND 404,
 * INVALID/MISMATCH/REPLAY 400, FORBIDDEN 403, LIMIT/DECIDED/EXPIRED 409,
 * STORE 503, NOMEM/CRYPTO 500.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/admin.h"
#include "common/secmem.h"
#include "directory/audit.h"
#include "mfa/mfa.h"
#include "pushd/pushd.h"
#include "session/session.h"

#define PUSH_QUEUE	  PUSHD_QUEUE
#define QUEUE_LIMIT_MAX	  1000 /* jobs one queue call lists */
#define PUSH_TOKEN_SHOWN  8    /* characters of a push token listed */
#define QUEUE_LIMIT_DEF	  50
#define ENROLL_URI_MAX	  2048 /* bytes of an enrollment URI */
#define MFA_ERR_BUF	  256
#define ENROLL_URI_SCHEME "authflow://enroll?issuer="

/* ---- answers ------------------------------------------------------ */

/* Maps an MFA status to an error answer (msg NULL or "": its own text). */
static void mfa_error(af_admin_call *c, af_mfa_status st, const char *msg)
{
	af_admin_status as;

	switch (st) {
	case AF_MFA_NOT_FOUND:
		as = AF_ADMIN_NOT_FOUND;
		break;
	case AF_MFA_INVALID:
	case AF_MFA_MISMATCH:
	case AF_MFA_REPLAY:
		as = AF_ADMIN_BAD_REQUEST;
		break;
	case AF_MFA_FORBIDDEN:
		as = AF_ADMIN_FORBIDDEN;
		break;
	case AF_MFA_LIMIT:
	case AF_MFA_DECIDED:
	case AF_MFA_EXPIRED:
		as = AF_ADMIN_CONFLICT;
		break;
	case AF_MFA_STORE:
		as = AF_ADMIN_UNAVAILABLE;
		break;
	default:
		/* OK does not come here; NOMEM, CRYPTO and unknown values do.
		 */
		as = AF_ADMIN_INTERNAL;
		break;
	}
	af_admin__error(c, as,
			msg != NULL && msg[0] != '\0' ? msg
						      : af_mfa_strerror(st));
}

/*
 * Records an audit event of the caller after a change that is already
 * made. 1, or 0 with an error answer that says the change was made.
 */
static int audit(af_admin_call *c, const char *action, const char *target,
		 const json_t *detail, const char *done)
{
	af_dir_status st;

	st = af_audit_record(c->dir, c->caller.name, action, target, detail);
	if (st == AF_DIR_OK)
		return 1;
	af_admin__errorf(c,
			 st == AF_DIR_STORE ? AF_ADMIN_UNAVAILABLE
					    : AF_ADMIN_INTERNAL,
			 "%s, but the audit event could not be written (%s)",
			 done, af_dir_strerror(st));
	return 0;
}

/* ---- workflow ----------------------------------------------------- */

/* The settings of a workflow, without what it keeps for itself. */
static json_t *settings_of(json_t *wf)
{
	(void)json_object_del(wf, AF_MFA_PAUSE_CUTS);
	(void)json_object_del(wf, AF_MFA_PERIOD_CUTS);
	return wf;
}

void af_admin__workflow_show(af_admin_call *c)
{
	json_t *wf = NULL;
	af_mfa_status st;

	st = af_mfa_workflow_get(c->srv->store, &wf);
	if (st != AF_MFA_OK) {
		mfa_error(c, st, NULL);
		return;
	}
	af_admin__json(c, 200, settings_of(wf));
}

/*
 * A member that is merged into the settings (push_limit: {"count": 5}
 * keeps the period) changes nothing when it is {}. Refused like a PATCH
 * of {} (af_admin__need_patch()), so that a no-op leaves no audit event.
 * min_app_version is not one: it replaces the whole map, and {} removes
 * every minimum. 1 when every merged member holds something.
 */
static int merged_members_change(af_admin_call *c, const json_t *body)
{
	static const char *const merged[] = {"push_limit"};
	const json_t *v;
	size_t i;

	for (i = 0; i < sizeof(merged) / sizeof(merged[0]); i++) {
		v = json_object_get(body, merged[i]);
		if (json_is_object(v) && json_object_size(v) == 0) {
			af_admin__errorf(c, AF_ADMIN_BAD_REQUEST,
					 "%s: nothing to change: give at "
					 "least one field",
					 merged[i]);
			return 0;
		}
	}
	return 1;
}

/*
 * The detail of a change of the workflow: the patch (settings only, no
 * secrets), and under "was" what each setting it names held before, as
 * read just before the change (a change made at the same moment by
 * another administrator has its own event). NULL when the settings
 * could not be read: the patch alone is then the detail.
 */
static json_t *change_detail(af_admin_call *c, json_t *patch)
{
	json_t *wf = NULL, *detail;

	if (af_mfa_workflow_get(c->srv->store, &wf) != AF_MFA_OK)
		return NULL;
	/* Each setting is replaced whole, push_limit too. */
	detail = af_dir__change_detail(patch, wf, AF_DIR_UNSET_NULL, NULL);
	json_decref(wf);
	return detail;
}

void af_admin__workflow_set(af_admin_call *c)
{
	static const char *const allowed[] = {
		"number_matching",
		"legacy",
		"min_app_version",
		"push_limit",
		"report_pause_s",
		"enroll_after_password",
		NULL,
	};
	json_t *body = af_admin__need_patch(c), *wf = NULL, *detail;
	char err[MFA_ERR_BUF] = "";
	af_mfa_status st;

	if (body == NULL || !af_admin__only_members(c, body, allowed) ||
	    !merged_members_change(c, body))
		return;
	detail = change_detail(c, body);
	st = af_mfa_workflow_set(c->srv->store, body, &wf, err, sizeof(err));
	if (st != AF_MFA_OK) {
		mfa_error(c, st, err);
		json_decref(detail);
		return;
	}
	if (!audit(c, "workflow.set", NULL, detail != NULL ? detail : body,
		   "settings changed")) {
		json_decref(detail);
		json_decref(wf);
		return;
	}
	json_decref(detail);
	af_admin__json(c, 200, settings_of(wf));
}

/* ---- enrollment codes ----------------------------------------------- */

/*
 * The canonical name of the path's user (as the directory stores it) into
 * out (AF_DIR_USERNAME_MAX + 1 bytes). With need_enabled, the user must
 * be enabled too: a phone enrolling with a code of a disabled user (or of
 * one being removed) is refused, so such a code is never made.
 * 1, or 0 with a 404, a 409 (or another error) answered.
 */
static int path_username(af_admin_call *c, char *out, int need_enabled)
{
	json_t *user = NULL;
	const char *name;
	af_dir_status st;
	size_t n;
	int rc = 0;

	st = af_dir_user_get(c->dir, c->seg[1], &user);
	if (st != AF_DIR_OK) {
		af_admin__dir_error(
			c, st, st == AF_DIR_NOT_FOUND ? "no such user" : NULL);
		return 0;
	}
	name = json_string_value(json_object_get(user, "username"));
	n = name != NULL ? strnlen(name, AF_DIR_USERNAME_MAX + 1) : 0;
	if (n == 0 || n > AF_DIR_USERNAME_MAX) {
		af_admin__error(c, AF_ADMIN_INTERNAL,
				"stored user has no name");
		goto out;
	}
	if (need_enabled && af_dir_user_removing(user)) {
		af_admin__errorf(c, AF_ADMIN_CONFLICT,
				 "user \"%s\" is being removed: remove the "
				 "user again to finish",
				 name);
		goto out;
	}
	if (need_enabled && !json_is_true(json_object_get(user, "enabled"))) {
		af_admin__errorf(c, AF_ADMIN_CONFLICT,
				 "user \"%s\" is disabled: a phone could not "
				 "enroll with a code; enable the user first",
				 name);
		goto out;
	}
	memcpy(out, name, n);
	out[n] = '\0';
	rc = 1;
out:
	json_decref(user);
	return rc;
}

/*
 * Appends s percent-encoded (everything but RFC 3986 unreserved
 * characters) to out, which holds *len bytes of cap. 0, or -1 when it
 * does not fit; out stays NUL-terminated.
 */
static int pct_append(char *out, size_t cap, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = *len;

	for (; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~') {
			if (cap - o < 2)
				return -1;
			out[o++] = (char)*p;
			continue;
		}
		if (cap - o < 4)
			return -1;
		out[o++] = '%';
		out[o++] = hex[*p >> 4];
		out[o++] = hex[*p & 0x0f];
	}
	out[o] = '\0';
	*len = o;
	return 0;
}

static int raw_append(char *out, size_t cap, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (cap - *len <= n)
		return -1;
	memcpy(out + *len, s, n + 1);
	*len += n;
	return 0;
}

/* The enrollment URI of docs/device-api.md into out (ENROLL_URI_MAX
 * bytes). */
static int enroll_uri(char *out, const char *issuer, const char *code,
		      const char *user)
{
	size_t len = 0;

	out[0] = '\0';
	if (raw_append(out, ENROLL_URI_MAX, &len, ENROLL_URI_SCHEME) != 0 ||
	    pct_append(out, ENROLL_URI_MAX, &len, issuer) != 0 ||
	    raw_append(out, ENROLL_URI_MAX, &len, "&code=") != 0 ||
	    pct_append(out, ENROLL_URI_MAX, &len, code) != 0 ||
	    raw_append(out, ENROLL_URI_MAX, &len, "&user=") != 0 ||
	    pct_append(out, ENROLL_URI_MAX, &len, user) != 0)
		return -1;
	return 0;
}

/*
 * Answers obj (reference stolen), whose members code and uri carry the
 * one-time code: the text is made first, then jansson's copies and the
 * text are wiped before they are freed.
 */
static void answer_code(af_admin_call *c, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	af_secmem_wipe_json_string(json_object_get(obj, "code"));
	af_secmem_wipe_json_string(json_object_get(obj, "uri"));
	json_decref(obj);
	if (text == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	af_resp_text(c->resp, 201, "application/json", text);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
}

void af_admin__enroll_code(af_admin_call *c)
{
	char user[AF_DIR_USERNAME_MAX + 1];
	char code[AF_MFA_ID_BUF], code_id[AF_MFA_CODE_ID_BUF];
	char taken[128]; /* what af_mfa_enroll_code_take() needs */
	char uri[ENROLL_URI_MAX];
	json_t *detail = NULL, *obj;
	int64_t expires_at = 0;
	af_dir_status ds;
	af_mfa_status st;

	code[0] = '\0';
	uri[0] = '\0';
	if (!path_username(c, user, 1))
		return;
	af_admin__target(c, user, NULL);
	st = af_mfa_enroll_code_new(c->srv->store, user, 0, code, sizeof(code),
				    &expires_at);
	if (st != AF_MFA_OK) {
		mfa_error(c, st,
			  st == AF_MFA_LIMIT
				  ? "the user already has the most devices "
				    "allowed: remove one first (device "
				    "remove ID)"
				  : NULL);
		goto out;
	}
	if (enroll_uri(uri, c->srv->cfg.issuer, code, user) != 0) {
		af_admin__error(c, AF_ADMIN_INTERNAL,
				"the enrollment URI is too long");
		goto out;
	}
	af_mfa_enroll_code_id(code, code_id);
	detail = json_pack("{s:I, s:s}", "expires_at", (json_int_t)expires_at,
			   "code_id", code_id);
	if (detail == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		goto out;
	}
	/*
	 * A code the trail does not hold is not handed out, and is taken
	 * back (on a full disk that may fail too: it then runs out unused).
	 */
	ds = af_audit_record(c->dir, c->caller.name, "device.enroll_code", user,
			     detail);
	if (ds != AF_DIR_OK) {
		af_admin__errorf(
			c,
			ds == AF_DIR_STORE ? AF_ADMIN_UNAVAILABLE
					   : AF_ADMIN_INTERNAL,
			"no code was given: the audit event could not be "
			"written (%s), and the code made %s",
			af_dir_strerror(ds),
			af_mfa_enroll_code_take(c->srv->store, code, taken,
						sizeof(taken)) == AF_MFA_OK
				? "was taken back"
				: "runs out unused in 10 minutes");
		goto out;
	}
	obj = json_pack("{s:s, s:s, s:I}", "code", code, "uri", uri,
			"expires_at", (json_int_t)expires_at);
	if (obj == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		goto out;
	}
	answer_code(c, obj);
out:
	json_decref(detail);
	OPENSSL_cleanse(code, sizeof(code));
	OPENSSL_cleanse(uri, sizeof(uri));
}

/*
 * The push token of obj (a device or a push job) cut to its first
 * PUSH_TOKEN_SHOWN characters and "...": enough to tell devices apart,
 * not a token to push to, in every listing of the admin API. 0, or -1
 * when out of memory.
 */
static int shorten_push_token(json_t *obj)
{
	const char *token =
		json_string_value(json_object_get(obj, "push_token"));
	char cut[PUSH_TOKEN_SHOWN + 4];

	if (token == NULL || strlen(token) <= PUSH_TOKEN_SHOWN)
		return 0;
	snprintf(cut, sizeof(cut), "%.*s...", PUSH_TOKEN_SHOWN, token);
	return json_object_set_new(obj, "push_token", json_string(cut));
}

/* ---- devices ---------------------------------------------------------- */

/*
 * DELETE users/{name}/enroll-codes: every enrollment code of the user's
 * not yet used, an administrator's and the user's own: a code sent to
 * the wrong person, or one the user no longer needs, goes without
 * signing the user out. The user may be disabled (its codes go all the
 * same).
 */
void af_admin__enroll_codes_revoke(af_admin_call *c)
{
	char user[AF_DIR_USERNAME_MAX + 1];
	af_mfa_status st;

	if (!path_username(c, user, 0))
		return;
	st = af_mfa_enroll_codes_revoke(c->srv->store, user);
	if (st != AF_MFA_OK) {
		mfa_error(c, st, NULL);
		return;
	}
	if (!audit(c, "device.enroll_codes_revoke", user, NULL,
		   "codes revoked"))
		return;
	af_admin__ok(c);
}

/*
 * A device (without its TOTP secret) as the admin API shows it: the push
 * token cut short, since a whole token would let its reader push to the
 * phone, and whether its app is below the workflow's minimum (wf), which
 * gets it no sign-in requests: the help desk sees which one. 0, or -1
 * when out of memory.
 */
static int show_device(json_t *dev, const json_t *wf)
{
	return shorten_push_token(dev) != 0 ||
			       json_object_set_new(
				       dev, "below_min_app_version",
				       json_boolean(af_mfa_device_below_minimum(
					       dev, wf))) != 0
		       ? -1
		       : 0;
}

/* A new value: dev as show_device() makes it; NULL when out of memory. */
static json_t *shown_device(af_admin_call *c, json_t *dev)
{
	json_t *shown = json_copy(dev), *wf = NULL;

	if (shown == NULL)
		return NULL;
	/* Left in dev, whose freeing wipes it. */
	(void)json_object_del(shown, "totp_secret");
	/* Without the workflow, judged against no minimum. */
	(void)af_mfa_workflow_get(c->srv->store, &wf);
	if (show_device(shown, wf) != 0) {
		json_decref(shown);
		shown = NULL;
	}
	json_decref(wf);
	return shown;
}

void af_admin__device_list(af_admin_call *c)
{
	char user[AF_DIR_USERNAME_MAX + 1];
	json_t *devices = NULL, *wf = NULL, *dev;
	af_mfa_status st;
	size_t i;

	if (!path_username(c, user, 0))
		return;
	st = af_mfa_device_list(c->srv->store, user, &devices);
	if (st == AF_MFA_OK)
		st = af_mfa_workflow_get(c->srv->store, &wf);
	if (st != AF_MFA_OK) {
		json_decref(devices);
		mfa_error(c, st, NULL);
		return;
	}
	json_array_foreach(devices, i, dev)
	{
		if (show_device(dev, wf) != 0) {
			json_decref(devices);
			json_decref(wf);
			af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
			return;
		}
	}
	json_decref(wf);
	af_admin__json(c, 200, json_pack("{s:o}", "devices", devices));
}

/*
 * Device ids are base64url (AF_MFA_ID_LEN characters). Anything else is
 * no device of ours and never reaches a store key.
 */
static int device_id_ok(const char *id)
{
	size_t i, n = strnlen(id, AF_MFA_ID_BUF);

	if (n == 0 || n >= AF_MFA_ID_BUF)
		return 0;
	for (i = 0; i < n; i++) {
		if (!((id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-' ||
		      id[i] == '_'))
			return 0;
	}
	return 1;
}

/*
 * The device the path names (with its TOTP secret: af_mfa_device_free()
 * it), or NULL with 404 (an unknown or malformed id) or another error
 * answered.
 */
static json_t *path_device(af_admin_call *c)
{
	json_t *dev = NULL;
	af_mfa_status st;

	if (!device_id_ok(c->seg[1])) {
		af_admin__error(c, AF_ADMIN_NOT_FOUND, "no such device");
		return NULL;
	}
	st = af_mfa_device_get(c->srv->store, c->seg[1], &dev);
	if (st != AF_MFA_OK)
		mfa_error(c, st,
			  st == AF_MFA_NOT_FOUND ? "no such device" : NULL);
	return st == AF_MFA_OK ? dev : NULL;
}

/*
 * What a removed device of user gave ends with it: the sessions whose
 * second factor it was, and the enrollment codes the user made (one made
 * by whoever holds a lost phone would add theirs anew). 0, or -1 when the
 * store failed part way. Its log line says how many sessions ended.
 */
static int device_gone(af_admin_call *c, const char *user, const char *id)
{
	int n;

	/* A damaged record names no user: nothing of its can be found. */
	if (user == NULL)
		return 0;
	n = af_session_end_device(c->srv, user, id);
	if (n > 0)
		log_info(c->srv->log, c->req->rid, "session",
			 "user=%s ended=%d reason=device_removed device=%s",
			 user, n, id);
	return n < 0 ? -1 : 0;
}

void af_admin__device_remove(af_admin_call *c)
{
	const char *id = c->seg[1], *user;
	json_t *dev = NULL, *detail = NULL;
	af_mfa_status st;
	af_dir_status ast;
	int ended = 0;

	dev = path_device(c);
	if (dev == NULL)
		return;
	/*
	 * The audit detail says whose device went; it is built before the
	 * removal so that a failure here changes nothing.
	 */
	detail = json_pack("{s:O?, s:O?, s:O?}", "user",
			   json_object_get(dev, "user"), "device_name",
			   json_object_get(dev, "device_name"), "platform",
			   json_object_get(dev, "platform"));
	/* The record holds the TOTP secret: wiped before it is freed. */
	af_mfa_device_free(dev);
	if (detail == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	user = json_string_value(json_object_get(detail, "user"));
	/*
	 * The record goes last, after what it gave and the audit event: a
	 * removal cut short (a crash, a store that refuses a write) leaves
	 * the device listed, for a retry to finish, never a removal nobody
	 * can see on the trail or a session of a device no longer listed.
	 * What it signed in while the record went is ended once more after.
	 */
	if (device_gone(c, user, id) != 0) {
		af_admin__error(c, AF_ADMIN_UNAVAILABLE,
				"the sessions the device signed in or the "
				"enrollment codes the user made could not all "
				"be ended: the device was not removed; remove "
				"it again");
		goto out;
	}
	ast = af_audit_record(c->dir, c->caller.name, "device.remove", id,
			      detail);
	if (ast != AF_DIR_OK) {
		af_admin__errorf(c,
				 ast == AF_DIR_STORE ? AF_ADMIN_UNAVAILABLE
						     : AF_ADMIN_INTERNAL,
				 "the audit event could not be written (%s): "
				 "the device was not removed",
				 af_dir_strerror(ast));
		goto out;
	}
	st = af_mfa_device_remove(c->srv->store, id);
	/* Also when a step after the record failed: it went. */
	if (st != AF_MFA_NOT_FOUND && st != AF_MFA_INVALID)
		ended = device_gone(c, user, id);
	if (st != AF_MFA_OK)
		mfa_error(c, st,
			  st == AF_MFA_NOT_FOUND ? "no such device" : NULL);
	else if (ended == 0)
		af_admin__ok(c);
	else
		af_admin__error(c, AF_ADMIN_UNAVAILABLE,
				"device removed, but the sessions it signed "
				"in or the enrollment codes the user made "
				"could not all be ended: end the user's "
				"sessions (authflowctl sessions end USER)");
out:
	json_decref(detail);
}

/*
 * One device by its id, as a log line or the device API names it: whose
 * it is, and as device list shows it.
 */
void af_admin__device_show(af_admin_call *c)
{
	json_t *dev = path_device(c), *shown;

	if (dev == NULL)
		return;
	shown = shown_device(c, dev);
	af_mfa_device_free(dev);
	if (shown == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	af_admin__json(c, 200, shown);
}

/*
 * PATCH devices/{id} {"device_name": NAME}: a name of the help desk's for
 * a phone, as the app's own ("iPhone") tells four of one user apart
 * badly. The answer is the device as device list shows it; the audit
 * detail its user, the new name and under "was" the old one.
 */
void af_admin__device_set(af_admin_call *c)
{
	static const char *const allowed[] = {"device_name", NULL};
	const char *id = c->seg[1];
	json_t *body, *dev = NULL, *detail = NULL, *shown = NULL;
	char err[MFA_ERR_BUF] = "";
	af_mfa_status st;

	body = af_admin__need_patch(c);
	if (body == NULL || !af_admin__only_members(c, body, allowed))
		return;
	dev = path_device(c);
	if (dev == NULL)
		return;
	detail = json_pack("{s:O?, s:O, s:{s:O?}}", "user",
			   json_object_get(dev, "user"), "device_name",
			   json_object_get(body, "device_name"), "was",
			   "device_name", json_object_get(dev, "device_name"));
	if (detail == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		goto out;
	}
	st = af_mfa_device_update(c->srv->store, id, body, err, sizeof(err));
	if (st != AF_MFA_OK) {
		mfa_error(c, st,
			  st == AF_MFA_NOT_FOUND ? "no such device" : err);
		goto out;
	}
	if (!audit(c, "device.set", id, detail, "device renamed"))
		goto out;
	/* The device as read, with the name it has now. */
	shown = shown_device(c, dev);
	if (shown == NULL ||
	    json_object_set(shown, "device_name",
			    json_object_get(body, "device_name")) != 0) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		goto out;
	}
	af_admin__json(c, 200, json_incref(shown));
out:
	json_decref(shown);
	af_mfa_device_free(dev);
	json_decref(detail);
}

/* ---- the push queue ----------------------------------------------------- */

struct jobs {
	json_t *arr;
	int failed;
};

/*
 * One queue entry. An entry that is not a JSON object (which pushd would
 * drop as well) is shown as null, so that the list still matches the
 * queue's order.
 */
static int add_job(const char *entry, void *arg)
{
	struct jobs *jobs = arg;
	json_t *job = json_loads(entry, JSON_REJECT_DUPLICATES, NULL);

	if (job != NULL && !json_is_object(job)) {
		json_decref(job);
		job = NULL;
	}
	if (job != NULL && shorten_push_token(job) != 0) {
		json_decref(job);
		jobs->failed = 1;
		return 1;
	}
	if (job == NULL)
		job = json_null();
	if (json_array_append_new(jobs->arr, job) != 0) {
		jobs->failed = 1;
		return 1;
	}
	return 0;
}

static void store_error(af_admin_call *c, store_status st)
{
	af_admin__error(c,
			st == STORE_ERR_NOMEM ? AF_ADMIN_INTERNAL
					      : AF_ADMIN_UNAVAILABLE,
			store_strerror(st));
}

void af_admin__push_queue(af_admin_call *c)
{
	struct jobs jobs = {NULL, 0};
	store_status st;
	size_t len = 0, pending = 0;
	int64_t limit = QUEUE_LIMIT_DEF;

	if (!af_admin__query_number(c, "limit", 1, QUEUE_LIMIT_MAX, &limit))
		return;
	st = store_queue_len(c->srv->store, PUSH_QUEUE, &len);
	/* No group yet: no push worker has ever started, none holds a job. */
	if (st == STORE_OK) {
		st = store_queue_pending(c->srv->store, PUSH_QUEUE, PUSHD_GROUP,
					 &pending);
		if (st == STORE_NOT_FOUND)
			st = STORE_OK;
	}
	if (st != STORE_OK) {
		store_error(c, st);
		return;
	}
	jobs.arr = json_array();
	if (jobs.arr == NULL) {
		af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	st = store_queue_range(c->srv->store, PUSH_QUEUE, (size_t)limit,
			       add_job, &jobs);
	if (st != STORE_OK || jobs.failed) {
		json_decref(jobs.arr);
		if (st != STORE_OK)
			store_error(c, st);
		else
			af_admin__error(c, AF_ADMIN_INTERNAL, "out of memory");
		return;
	}
	af_admin__json(c, 200,
		       json_pack("{s:I, s:I, s:o}", "length", (json_int_t)len,
				 "pending", (json_int_t)pending, "jobs",
				 jobs.arr));
}
