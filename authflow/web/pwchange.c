/*
 * A user's own new password: GET|POST /login/password, a temporary one
 * replaced at sign-in, and GET|POST /account/password, a signed-in user's
 * change; see pwchange.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/log.h"
#include "common/secmem.h"
#include "common/store.h"
#include "common/util.h"
#include "directory/audit.h"
#include "directory/directory.h"
#include "directory/throttle.h"
#include "mfa/mfa.h"
#include "oidc/flow.h"
#include "oidc/oidc.h"
#include "session/formtoken.h"
#include "session/known.h"
#include "web/events.h"
#include "web/page.h"
#include "web/pwchange.h"

/* The member of the flow that holds the sign-in waiting for the change. */
#define PWCHANGE "pwchange"
#define PAGE_BUF ((size_t)64 * 1024)
#define ENDED                                                                 \
	"This sign-in was ended while it waited: your password was changed, " \
	"or your account was."
#define BUSY                                                                \
	"Sign-in is very busy just now and your password was not changed. " \
	"Please try again in a moment."

int af_pwchange_needed(const json_t *user)
{
	return json_is_true(json_object_get(user, AF_DIR_USER_PW_CHANGE));
}

/*
 * The flow's waiting sign-in, or NULL: the session it is to make
 * (af_session_json()), with the step's own members beside (detail,
 * device, tries, refused).
 */
static const json_t *step_of(const json_t *authz)
{
	const json_t *step = json_object_get(authz, PWCHANGE);

	return json_is_object(step) &&
			       json_is_string(
				       json_object_get(step, "username")) &&
			       json_is_string(json_object_get(step, "sub"))
		       ? step
		       : NULL;
}

static const char *step_str(const json_t *step, const char *key)
{
	const char *v = json_string_value(json_object_get(step, key));

	return v != NULL ? v : "";
}

static void to_form(af_resp *resp, const char *flow)
{
	af_buf url;
	char *s;

	af_buf_init(&url, 256);
	af_buf_puts(&url, "/login/password?flow=");
	af_buf_urlenc(&url, flow);
	s = af_buf_take(&url, NULL);
	if (s == NULL) {
		af_page_unavailable(resp);
		return;
	}
	af_resp_redirect(resp, 303, s);
	free(s);
}

void af_pwchange_begin(af_server *srv, const af_req *req, af_resp *resp,
		       const char *flow, const json_t *authz,
		       const af_session *s, const char *device,
		       const char *detail)
{
	json_t *now = json_deep_copy(authz), *step, *own;
	int rc = -1, set = 0;

	/* Kept as they were when the factors were checked: see finish(). */
	step = af_session_json(s);
	own = json_pack("{s:s, s:i, s:s*}", "detail",
			detail != NULL ? detail : "", "tries", 0, "device",
			device);
	if (step == NULL || own == NULL || json_object_update(step, own) != 0) {
		json_decref(step);
		step = NULL;
	}
	json_decref(own);
	/* json_object_set_new() takes step, whether or not it succeeds. */
	if (now != NULL && step != NULL) {
		set = json_object_set_new(now, PWCHANGE, step) == 0;
		step = NULL;
	}
	if (set) {
		/*
		 * The MFA page and its poll race to here: one writes, the
		 * other finds the step made (or the flow changed: 1). A
		 * step of another user, or of an older password, is
		 * replaced.
		 */
		rc = af_ct_streq(step_str(step_of(authz), "sub"), s->sub) &&
				     json_integer_value(json_object_get(
					     step_of(authz), "gen")) == s->gen
			     ? 0
			     : af_flow_replace(srv, flow, authz, now);
	}
	json_decref(step);
	json_decref(now);
	if (rc < 0) {
		af_page_unavailable(resp);
		return;
	}
	af_event_login(srv->log, LOG_LEVEL_INFO, req, s->username,
		       "password_change_required", NULL);
	to_form(resp, flow);
}

/*
 * The field a page's error is about; BAD_NONE: a message about no field
 * (wait, or a server too busy), told as such, with no field marked.
 */
typedef enum bad_field {
	BAD_NEW,
	BAD_CURRENT,
	BAD_CONFIRM,
	BAD_NONE
} bad_field;

/* What a page that asks for a new password shows. */
typedef struct pw_page {
	const char *title;   /* the h1, and the page title */
	const char *intro;   /* a paragraph under it */
	const char *action;  /* where the form posts */
	const char *flow;    /* a sign-in's flow (a hidden field), or NULL */
	const char *csrf;    /* the form's token */
	const char *user;    /* whose password it is */
	int current;	     /* ask for the current password too */
	const char *differ;  /* what the new one must differ from */
	const char *submit;  /* the button's words */
	const char *message; /* an error, or NULL */
	bad_field bad;	     /* the field it is about */
} pw_page;

static void hidden(af_buf *b, const char *name, const char *value)
{
	af_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	af_buf_html(b, value != NULL ? value : "");
	af_buf_puts(b, "\">");
}

/* The attributes that tie a field to the page's error, if it is its. */
static void field_error(af_buf *b, int shown, int ours, const char *more)
{
	if (shown && ours)
		af_buf_printf(
			b,
			" aria-invalid=\"true\" aria-describedby=\"err%s%s\"",
			more != NULL ? " " : "", more != NULL ? more : "");
	else if (more != NULL)
		af_buf_printf(b, " aria-describedby=\"%s\"", more);
}

static void new_password_page(af_server *srv, af_resp *resp, unsigned status,
			      const pw_page *pg)
{
	int shown = pg->message != NULL && pg->message[0] != '\0';
	/* The cursor goes to the field in error, else the first to type. */
	bad_field focus = shown && pg->bad != BAD_NONE ? pg->bad
			  : pg->current		       ? BAD_CURRENT
						       : BAD_NEW;
	char title[96];
	af_buf b;

	/* What the message is about leads the title: the status tells. */
	snprintf(title, sizeof(title), "%s%s",
		 !shown		       ? ""
		 : pg->bad != BAD_NONE ? "Error: "
		 : status == 429       ? "Wait before trying again: "
		 : status == 403       ? "Account locked: "
		 : status == 503       ? "Unavailable: "
				       : "Error: ",
		 pg->title);
	af_buf_init(&b, PAGE_BUF);
	af_page_begin(&b, resp, title);
	af_buf_printf(&b, "<h1>%s</h1><p>%s</p>", pg->title, pg->intro);
	if (shown) {
		af_buf_puts(&b, "<p class=\"msg\" role=\"alert\" id=\"err\">");
		af_buf_html(&b, pg->message);
		af_buf_puts(&b, "</p>");
	}
	af_buf_printf(&b, "<form method=\"post\" action=\"%s\">", pg->action);
	if (pg->flow != NULL)
		hidden(&b, "flow", pg->flow);
	hidden(&b, "csrf", pg->csrf);
	/* Whose password this is, for the person and password managers. */
	af_buf_puts(&b,
		    "<label for=\"username\">User name</label>"
		    "<input type=\"text\" id=\"username\" name=\"username\" "
		    "readonly autocomplete=\"username\" value=\"");
	af_buf_html(&b, pg->user);
	af_buf_puts(&b, "\">");
	if (pg->current) {
		af_buf_printf(&b,
			      "<label for=\"current\">Current password</label>"
			      "<input type=\"password\" id=\"current\" "
			      "name=\"current\" "
			      "autocomplete=\"current-password\" required%s",
			      focus == BAD_CURRENT ? " autofocus" : "");
		field_error(&b, shown, pg->bad == BAD_CURRENT, NULL);
		af_buf_puts(&b, ">");
	}
	af_buf_printf(&b,
		      "<label for=\"password\">New password</label>"
		      "<input type=\"password\" id=\"password\" "
		      "name=\"password\" autocomplete=\"new-password\" "
		      "minlength=\"%u\" required%s",
		      srv->cfg.pw_min_length,
		      focus == BAD_NEW ? " autofocus" : "");
	field_error(&b, shown, pg->bad == BAD_NEW, "rules");
	af_buf_printf(&b,
		      "><p class=\"help\" id=\"rules\">At least %u "
		      "characters. Not your user name, not %s, not one "
		      "character or a few repeated or in a run (aaaaaaaa, "
		      "12345678), and not a common or breached password.</p>"
		      "<label for=\"confirm\">New password again</label>"
		      "<input type=\"password\" id=\"confirm\" "
		      "name=\"confirm\" autocomplete=\"new-password\" "
		      "required%s",
		      srv->cfg.pw_min_length, pg->differ,
		      focus == BAD_CONFIRM ? " autofocus" : "");
	field_error(&b, shown, pg->bad == BAD_CONFIRM, NULL);
	af_buf_printf(&b, "><button type=\"submit\">%s</button></form>",
		      pg->submit);
	if (pg->flow != NULL) {
		af_buf_printf(&b, "<form method=\"post\" action=\"%s\">",
			      pg->action);
		hidden(&b, "flow", pg->flow);
		hidden(&b, "csrf", pg->csrf);
		af_buf_puts(&b, "<button type=\"submit\" name=\"cancel\" "
				"value=\"1\" class=\"secondary\">Cancel sign-in"
				"</button></form>");
	} else {
		/* Signed in: the account's other pages. */
		af_page_account_nav(&b, pg->action);
	}
	af_page_end(&b, resp);
	af_page_send(resp, status, &b);
}

static void show_form(af_server *srv, af_resp *resp, unsigned status,
		      const char *flow, const json_t *authz,
		      const char *message, int confirm)
{
	pw_page pg = {
		.title = "Choose a new password",
		.intro = "The password you signed in with was set for one "
			 "sign-in only. Choose a new one that only you know; "
			 "you will use it from now on.",
		.action = "/login/password",
		.flow = flow,
		.csrf = json_string_value(json_object_get(authz, "csrf")),
		.user = step_str(step_of(authz), "username"),
		.differ = "the password you signed in with",
		.submit = "Change password and continue",
		.message = message,
		.bad = confirm ? BAD_CONFIRM : BAD_NEW,
	};

	/* The form's answer sends the browser on to the application. */
	af_page_allow_form_target(resp, json_string_value(json_object_get(
						authz, "redirect_uri")));
	new_password_page(srv, resp, status, &pg);
}

/*
 * A sign-in whose new password was saved leaves a note under its flow id
 * for a while, naming the user: the same form sent again a moment later
 * (a double click slower than the change) finds the flow gone, and when
 * it carries the password now set, the note says why.
 */
#define SAVED_PREFIX "pwchange_saved:"
#define SAVED_TTL_MS ((uint64_t)2 * 60 * 1000)

static int saved_key(const char *flow, char *key, size_t cap)
{
	size_t n = flow != NULL ? strnlen(flow, AF_FLOW_ID_MAX + 1) : 0;

	if (n == 0 || n > AF_FLOW_ID_MAX || !af_b64url_text_ok(flow, n))
		return -1;
	snprintf(key, cap, "%s%s", SAVED_PREFIX, flow);
	return 0;
}

/*
 * Notes that the flow's new password was saved, with the user and the
 * flow's form token: only a sending of the form the browser was given may
 * learn so (the flow's cookie may be gone by then: the sign-in that ended
 * clears it).
 */
static void note_saved(af_server *srv, const char *flow, const json_t *authz,
		       const char *user)
{
	char key[sizeof(SAVED_PREFIX) + AF_FLOW_ID_MAX], *text = NULL;
	json_t *rec;
	store_status st;

	if (saved_key(flow, key, sizeof(key)) != 0)
		return;
	rec = json_pack("{s:s, s:O?}", "user", user, "csrf",
			json_object_get(authz, "csrf"));
	text = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;
	if (text != NULL) {
		st = store_set(srv->store, key, text, strlen(text),
			       SAVED_TTL_MS, 0);
		(void)st; /* without it, a late second sending says "expired" */
	}
	af_free_secret(text);
	json_decref(rec);
}

/*
 * Whether a sending of the form of a flow that is gone is the other
 * sending of one whose password was saved: with the form's token (which
 * only the page holds, never a URL) and that password. Without the token
 * nobody gets an answer that tells a password right from wrong, so this
 * is no way round the sign-in's limits on guesses.
 */
static int was_saved(af_server *srv, af_resp *resp, const char *flow,
		     const char *csrf, const char *password)
{
	char key[sizeof(SAVED_PREFIX) + AF_FLOW_ID_MAX];
	store_value v = {0};
	json_t *rec = NULL, *u = NULL;
	const char *user;
	int saved = 0;

	if (password == NULL || password[0] == '\0' || csrf == NULL ||
	    saved_key(flow, key, sizeof(key)) != 0)
		return 0;
	if (store_get(srv->store, key, &v) == STORE_OK)
		rec = json_loadb((const char *)v.data, v.len, 0, NULL);
	user = json_string_value(json_object_get(rec, "user"));
	if (user != NULL && af_ct_streq(csrf, json_string_value(json_object_get(
						      rec, "csrf")))) {
		saved = af_dir_user_login(srv->dir, user, password, &u) ==
			AF_DIR_OK;
		resp->hashed = 1;
	}
	json_decref(u);
	json_decref(rec);
	store_value_free(&v);
	return saved;
}

/* The answer to the second sending of a form whose password was saved. */
static void saved_page(af_resp *resp)
{
	af_page_error(resp, 409, "Password changed",
		      "Your new password was saved: the form was sent twice, "
		      "and the other sending goes on.",
		      "If you are asked to sign in, use your new password.");
}

/* The page of a sign-in that ended at this step; it may go back. */
static void refused_page(af_resp *resp, const char *flow, const json_t *authz,
			 const char *what)
{
	af_page_allow_form_target(resp, json_string_value(json_object_get(
						authz, "redirect_uri")));
	af_page_refusal_why(resp, 403, "Refused", "Sign-in not completed", what,
			    "Sign in again, or go back to the application.",
			    flow,
			    json_string_value(json_object_get(authz, "csrf")));
}

/*
 * The flow of the request, when it is waiting for the change (new
 * reference): NULL with the page in resp otherwise. A step that ended
 * shows why; a password step of another user since (the sign-in form
 * posted again in this flow) leaves none.
 */
static json_t *load(af_server *srv, af_req *req, af_resp *resp,
		    const char *csrf)
{
	const char *flow = af_req_param(req, "flow");
	const json_t *step, *mfa;
	json_t *authz = NULL;
	int rc = af_flow_load(srv, req, flow, csrf, &authz);

	step = rc == 0 ? step_of(authz) : NULL;
	mfa = json_object_get(authz, "mfa");
	if (step != NULL && mfa != NULL &&
	    !af_ct_streq(json_string_value(json_object_get(mfa, "user")),
			 step_str(step, "username")))
		step = NULL;
	if (step != NULL && json_is_string(json_object_get(step, "refused"))) {
		refused_page(resp, flow, authz, step_str(step, "refused"));
		json_decref(authz);
		return NULL;
	}
	if (step != NULL)
		return authz;
	json_decref(authz);
	if (rc == -2)
		af_page_unavailable(resp);
	else if (was_saved(srv, resp, flow, csrf,
			   af_req_param(req, "password")))
		saved_page(resp);
	else
		af_page_flow_expired(resp);
	return NULL;
}

/*
 * Ends the step with a refusal page: the sign-in cannot go on, but the
 * browser may still go back to the application (which learns that nobody
 * signed in), and the page says the same if it is loaded again. why names
 * the refusal in the log.
 */
static void refuse(af_server *srv, const af_req *req, af_resp *resp,
		   const char *flow, const json_t *authz, const char *what,
		   const char *why)
{
	json_t *now = json_deep_copy(authz);

	if (now != NULL &&
	    json_object_set_new(json_object_get(now, PWCHANGE), "refused",
				json_string(what)) == 0)
		(void)af_flow_replace(srv, flow, authz, now);
	json_decref(now);
	af_event_login(srv->log, LOG_LEVEL_INFO, req,
		       step_str(step_of(authz), "username"),
		       "password_change_refused", "why=%s", why);
	refused_page(resp, flow, authz, what);
}

/*
 * Counts a wrong try of the form; 1 when it was the last one allowed (the
 * sign-in has ended, its page in resp).
 */
static int count_try(af_server *srv, const af_req *req, af_resp *resp,
		     const char *flow, const json_t *authz)
{
	const json_t *step = step_of(authz);
	json_int_t tries =
		json_integer_value(json_object_get(step, "tries")) + 1;
	json_t *now;

	if (tries >= AF_PWCHANGE_TRIES_MAX) {
		refuse(srv, req, resp, flow, authz,
		       "Too many tries at a new password: sign in again with "
		       "the password you were given.",
		       "too_many_tries");
		return 1;
	}
	now = json_deep_copy(authz);
	if (now != NULL &&
	    json_object_set_new(json_object_get(now, PWCHANGE), "tries",
				json_integer(tries)) == 0)
		(void)af_flow_replace(srv, flow, authz, now);
	json_decref(now);
	return 0;
}

/*
 * What the directory said of a new password, as a sentence that asks for
 * another once ("...: choose another" from the directory is dropped).
 */
static void reason(const char *err, char *out, size_t cap)
{
	static const char field[] = "password: ", again[] = ": choose another";
	size_t n;

	if (strncmp(err, field, sizeof(field) - 1) == 0)
		err += sizeof(field) - 1;
	if (err[0] == '\0')
		err = "is not allowed";
	n = strlen(err);
	if (n >= sizeof(again) - 1 &&
	    strcmp(err + n - (sizeof(again) - 1), again) == 0)
		n -= sizeof(again) - 1;
	snprintf(out, cap, "Choose another password: it %.*s.", (int)n, err);
}

/*
 * After the user's own change (via: "sign_in" or "account"): the audit
 * event, with the request's address, and what the old password signed
 * into or was signing into ended: sessions, enrollment codes, pushes
 * waiting (the new generation refuses them already; this removes them).
 */
static void changed(af_server *srv, const af_req *req, const char *username,
		    const char *via)
{
	char actor[sizeof("user:") + AF_DIR_USERNAME_MAX];
	json_t *detail = json_pack("{s:s}", "via", via);

	snprintf(actor, sizeof(actor), "user:%s", username);
	af_audit_record_or_log(srv->dir, srv->log, req->client_ip, req->rid,
			       actor, "user.passwd_change", username, detail);
	json_decref(detail);
	if (af_session_end_signins(srv, username) < 0)
		log_warn(srv->log, req->rid, "session",
			 "a user changed their password; what the old one "
			 "signed into is refused, but some of it stays listed "
			 "until it expires");
}

/* The sign-in, now with the new password, ends as any other does. */
static void finish(af_server *srv, af_req *req, af_resp *resp, const char *flow,
		   const json_t *authz, const json_t *user, int64_t gen)
{
	const json_t *step = step_of(authz);
	char detail[AF_LOGIN_DETAIL_MAX];
	af_session s;

	af_session_from_json(step, &s);
	s.gen = gen;
	snprintf(detail, sizeof(detail), "%s%spassword_changed=1",
		 step_str(step, "detail"),
		 step_str(step, "detail")[0] != '\0' ? " " : "");
	/* The step's detail says already whether the browser is known. */
	af_login_finish(srv, req, resp, flow, authz, user, &s, NULL, "",
			detail);
}

/*
 * Whether the phone of the step's second factor is gone (removed, say as
 * lost, since it answered): 0 no (or none was used), -1 with the page in
 * resp.
 */
static int phone_gone(af_server *srv, const af_req *req, af_resp *resp,
		      const char *flow, const json_t *authz)
{
	const json_t *step = step_of(authz);
	const char *id = json_string_value(json_object_get(step, "device"));
	json_t *dev = NULL;
	af_mfa_status st;
	int gone;

	if (id == NULL)
		return 0;
	st = af_mfa_device_get(srv->store, id, &dev);
	gone = st != AF_MFA_OK ||
	       !af_ct_streq(json_string_value(json_object_get(dev, "user")),
			    step_str(step, "username"));
	/* Read whole, with the token-code secret it keeps: wiped unused. */
	af_mfa_device_free(dev);
	if (!gone)
		return 0;
	if (st != AF_MFA_OK && st != AF_MFA_NOT_FOUND) {
		af_page_unavailable(resp);
		return -1;
	}
	refuse(srv, req, resp, flow, authz,
	       "This sign-in was ended while it waited: the phone it used "
	       "was removed from your account.",
	       "device_removed");
	return -1;
}

/*
 * A change refused as made meanwhile: when the password now set is the
 * one this request posted, the same form was sent twice (a double click)
 * and the other sending saved it, which the page says (1); else the
 * refusal of title, what and next (0).
 */
static int sent_twice_or(af_server *srv, af_resp *resp, const char *username,
			 const char *sub, const char *password,
			 const char *title, const char *what, const char *next)
{
	json_t *user = NULL;
	af_dir_status st =
		password != NULL
			? af_dir_user_login(srv->dir, username, password, &user)
			: AF_DIR_INVALID;
	int twice = st == AF_DIR_OK &&
		    af_ct_streq(json_string_value(json_object_get(user, "sub")),
				sub);

	/* Refused before any hash: no sample of how long one takes. */
	resp->hashed = st != AF_DIR_INVALID && st != AF_DIR_STORE &&
		       st != AF_DIR_NOMEM;

	json_decref(user);
	if (twice)
		saved_page(resp);
	else if (title != NULL)
		af_page_error(resp, 409, title, what, next);
	return twice;
}

/*
 * The user as the directory has them now, still the one the sign-in
 * checked and still allowed the flow's application: 0 and *user, or -1
 * with the page in resp (the saved-password page when the change was
 * made by this same form, sent twice with password: NULL for a page
 * shown, whose query no password is taken from).
 */
static int still_allowed(af_server *srv, const af_req *req, af_resp *resp,
			 const char *flow, const json_t *authz,
			 const char *password, json_t **user)
{
	const json_t *step = step_of(authz);
	json_t *policy = NULL, *app = NULL;
	af_dir_status st;
	int rc;

	*user = NULL;
	st = af_dir_user_get(srv->dir, step_str(step, "username"), user);
	if (st != AF_DIR_OK && st != AF_DIR_NOT_FOUND) {
		af_page_unavailable(resp);
		return -1;
	}
	if (*user == NULL ||
	    !json_equal(json_object_get(*user, "sub"),
			json_object_get(step, "sub")) ||
	    af_dir_user_gen(*user) !=
		    json_integer_value(json_object_get(step, "gen")) ||
	    !af_pwchange_needed(*user)) {
		json_decref(*user);
		*user = NULL;
		/* Changed by the same form sent twice at once: it says so. */
		if (!sent_twice_or(srv, resp, step_str(step, "username"),
				   step_str(step, "sub"), password, NULL, NULL,
				   NULL))
			refuse(srv, req, resp, flow, authz, ENDED,
			       "user_changed");
		return -1;
	}
	if (phone_gone(srv, req, resp, flow, authz) != 0) {
		json_decref(*user);
		*user = NULL;
		return -1;
	}
	rc = af_login_allowed(srv, req, resp, flow, authz, *user, &policy,
			      &app);
	/* A second factor asked for since the password was checked. */
	if (rc == 0 && srv->cfg.feature_remote_access_mfa &&
	    (json_is_true(json_object_get(policy, "remote_access")) ||
	     json_is_true(json_object_get(authz, "acr_mfa"))) &&
	    strcmp(step_str(step, "acr"), AF_ACR_MFA) != 0) {
		refuse(srv, req, resp, flow, authz,
		       "This sign-in was ended while it waited: your "
		       "administrator now asks for a second factor.",
		       "mfa_now_required");
		rc = -1;
	}
	json_decref(policy);
	json_decref(app);
	if (rc == 0)
		return 0;
	json_decref(*user);
	*user = NULL;
	return -1;
}

void af_h_password_get(af_server *srv, af_req *req, af_resp *resp)
{
	const char *flow = af_req_param(req, "flow");
	json_t *authz = load(srv, req, resp, NULL), *user = NULL;

	/* What the post would refuse is said at once, not after typing. */
	if (authz != NULL &&
	    still_allowed(srv, req, resp, flow, authz, NULL, &user) == 0)
		show_form(srv, resp, 200, flow, authz, NULL, 0);
	json_decref(user);
	json_decref(authz);
}

/*
 * The change was refused as made meanwhile. By the same form sent twice
 * (a double click) with this password, that post signs in: this one says
 * so, and leaves the flow to it. Else the sign-in ends here.
 */
static void twin_or_ended(af_server *srv, const af_req *req, af_resp *resp,
			  const char *flow, const json_t *authz,
			  const char *password)
{
	const json_t *step = step_of(authz);

	if (!sent_twice_or(srv, resp, step_str(step, "username"),
			   step_str(step, "sub"), password, NULL, NULL, NULL))
		refuse(srv, req, resp, flow, authz, ENDED, "changed_meanwhile");
}

void af_h_password_post(af_server *srv, af_req *req, af_resp *resp)
{
	const char *flow = af_req_param(req, "flow");
	const char *csrf = af_req_param(req, "csrf");
	const char *password = af_req_param(req, "password");
	const char *confirm = af_req_param(req, "confirm");
	char err[AF_DIR_ERR_BUF] = "", msg[AF_DIR_ERR_BUF + 64];
	json_t *authz = NULL, *user = NULL;
	const json_t *step;
	int64_t gen = 0;
	af_dir_status st;

	if (af_page_refuse_repeated(req, resp))
		return;
	if (req->form == NULL || csrf == NULL) {
		af_page_flow_expired(resp);
		return;
	}
	authz = load(srv, req, resp, csrf);
	if (authz == NULL)
		return;
	step = step_of(authz);
	/* Back to the application, told that nobody signed in. */
	if (af_req_param(req, "cancel") != NULL) {
		af_event_login(srv->log, LOG_LEVEL_INFO, req,
			       step_str(step, "username"), "cancelled",
			       "at=password_change");
		if (af_flow_claim_page(srv, flow, resp) == 0)
			af_oidc_send_error(srv, resp, authz, "access_denied",
					   "the sign-in was not completed");
		goto out;
	}
	if (req->overdue) {
		/* Waited too long behind password checks: shed it. */
		af_resp_header_set(resp, "Retry-After", "5");
		show_form(srv, resp, 503, flow, authz, BUSY, 0);
		goto out;
	}
	if (password == NULL || confirm == NULL || password[0] == '\0') {
		show_form(srv, resp, 400, flow, authz,
			  "Enter your new password twice.",
			  password != NULL && password[0] != '\0');
		goto out;
	}
	if (!af_ct_streq(password, confirm)) {
		if (count_try(srv, req, resp, flow, authz) == 0)
			show_form(srv, resp, 400, flow, authz,
				  "The two passwords differ: type the same "
				  "new password twice.",
				  1);
		goto out;
	}
	if (still_allowed(srv, req, resp, flow, authz,
			  af_req_param(req, "password"), &user) != 0)
		goto out;
	st = af_dir_user_change_password(
		srv->dir, step_str(step, "username"), step_str(step, "sub"),
		json_integer_value(json_object_get(step, "gen")), 1, password,
		&gen, err, sizeof(err));
	/* A refusal (a weak password, the store) mostly came before the
	 * hash: only a change is sure to have made one. */
	resp->hashed = st == AF_DIR_OK;
	if (st == AF_DIR_INVALID) {
		if (count_try(srv, req, resp, flow, authz) == 0) {
			reason(err, msg, sizeof(msg));
			show_form(srv, resp, 400, flow, authz, msg, 0);
		}
		goto out;
	}
	if (st == AF_DIR_CONFLICT) {
		twin_or_ended(srv, req, resp, flow, authz, password);
		goto out;
	}
	if (st != AF_DIR_OK) {
		af_page_unavailable(resp);
		goto out;
	}
	changed(srv, req, step_str(step, "username"), "sign_in");
	note_saved(srv, flow, authz, step_str(step, "username"));
	/* The record the sign-in ends with: the mark is gone now. */
	json_decref(user);
	user = NULL;
	if (af_dir_user_get(srv->dir, step_str(step, "username"), &user) !=
	    AF_DIR_OK) {
		af_page_unavailable(resp);
		goto out;
	}
	finish(srv, req, resp, flow, authz, user, gen);
out:
	json_decref(user);
	json_decref(authz);
}

/*
 * The session of an /account/password request, still standing for its
 * user: 0 and *s, or -1 with the error page made.
 */
static int account_session(af_server *srv, const af_req *req, af_resp *resp,
			   af_session *s)
{
	int rc = af_session_signed_in(srv, req, s);

	if (rc != 0)
		af_page_sign_in_first(
			resp, rc < 0,
			"Changing your password needs you to be signed in.");
	return rc == 0 ? 0 : -1;
}

static void account_form(af_server *srv, af_resp *resp, unsigned status,
			 const af_session *s, const char *message,
			 bad_field bad)
{
	char token[AF_FORM_TOKEN_BUF];
	pw_page pg = {
		.title = "Change your password",
		.intro = "Other browsers and applications signed in as you "
			 "will ask for the new password; this browser stays "
			 "signed in.",
		.action = "/account/password",
		.csrf = token,
		.user = s->username,
		.current = 1,
		.differ = "your current password",
		.submit = "Change password",
		.message = message,
		.bad = bad,
	};

	if (af_form_token(srv, s, token, sizeof(token)) != 0)
		af_page_unavailable(resp);
	else
		new_password_page(srv, resp, status, &pg);
	OPENSSL_cleanse(token, sizeof(token));
}

void af_h_account_password_get(af_server *srv, af_req *req, af_resp *resp)
{
	af_session s;

	if (account_session(srv, req, resp, &s) == 0)
		account_form(srv, resp, 200, &s, NULL, BAD_NEW);
	OPENSSL_cleanse(&s, sizeof(s));
}

/*
 * Checks the current password of s's user as a sign-in does (the same
 * delays and lock, counted against a known browser when it is one):
 * 0 when right, -1 with the page in resp.
 */
static int current_ok(af_server *srv, const af_req *req, af_resp *resp,
		      const af_session *s, const char *known,
		      const char *current)
{
	char msg[160];
	uint32_t wait_s = 0;
	json_t *user = NULL;
	af_dir_status st;

	st = af_throttle_check(srv->dir, s->username, req->client_ip, known,
			       &wait_s);
	if (st == AF_DIR_LOCKED || st == AF_DIR_WAIT) {
		if (st == AF_DIR_LOCKED) {
			af_event_login(srv->log, LOG_LEVEL_WARN, req,
				       s->username, "locked",
				       "at=account_password");
			af_page_locked(wait_s, known[0] != '\0', msg,
				       sizeof(msg));
		} else {
			af_event_login(srv->log, LOG_LEVEL_INFO, req,
				       s->username, "throttled",
				       "at=account_password wait_s=%u",
				       (unsigned)wait_s);
			af_page_throttled(resp, wait_s, msg, sizeof(msg));
		}
		account_form(srv, resp, st == AF_DIR_LOCKED ? 403 : 429, s, msg,
			     BAD_NONE);
		return -1;
	}
	if (st != AF_DIR_OK) {
		af_page_unavailable(resp);
		return -1;
	}
	st = af_dir_user_login(srv->dir, s->username, current, &user);
	resp->hashed = 1;
	/* Longer than any password: wrong, as at sign-in. */
	if (st == AF_DIR_INVALID)
		st = AF_DIR_MISMATCH;
	if (st == AF_DIR_MISMATCH) {
		/* Not counted: not told either (see web/login.c). */
		if (af_throttle_fail_from(srv->dir, s->username, req->client_ip,
					  req->rid, known) != AF_DIR_OK) {
			af_page_unavailable(resp);
			return -1;
		}
		af_event_login(srv->log, LOG_LEVEL_INFO, req, s->username,
			       "bad_credentials", "at=account_password");
		account_form(srv, resp, 401, s,
			     "Your current password is not right.",
			     BAD_CURRENT);
		return -1;
	}
	if (st == AF_DIR_OK &&
	    (!af_ct_streq(json_string_value(json_object_get(user, "sub")),
			  s->sub) ||
	     af_dir_user_gen(user) != s->gen))
		st = AF_DIR_FORBIDDEN;
	json_decref(user);
	if (st == AF_DIR_FORBIDDEN) {
		af_page_error(resp, 401, "Sign in again",
			      "Your sessions were ended, or your account was "
			      "changed, since you signed in here.",
			      "Sign in to an application, then come back.");
		return -1;
	}
	if (st != AF_DIR_OK) {
		af_page_unavailable(resp);
		return -1;
	}
	if (af_throttle_success(srv->dir, s->username, req->client_ip, known) !=
	    AF_DIR_OK)
		log_warn(srv->log, req->rid, "throttle",
			 "could not clear the failure count");
	return 0;
}

/* The password changed: this browser's session goes on in a new one. */
static void account_changed(af_server *srv, const af_req *req, af_resp *resp,
			    af_session *s, int64_t gen)
{
	af_buf b;

	s->gen = gen;
	if (af_session_begin(srv, req, resp, s) != 0) {
		af_page_error(resp, 503, "Password changed",
			      "Your password was changed, but this browser "
			      "could not stay signed in.",
			      "Sign in again with your new password.");
		return;
	}
	af_known_remember(srv, req, resp,
			  &(af_known_user){s->username, s->sub, s->gen});
	af_buf_init(&b, PAGE_BUF);
	af_page_begin(&b, resp, "Password changed");
	af_buf_puts(&b, "<h1>Password changed</h1>"
			"<p class=\"msg info\" role=\"status\">Your password "
			"was changed. Other browsers and applications "
			"signed in as you will ask for the new one.</p>");
	af_page_account_nav(&b, NULL);
	af_page_end(&b, resp);
	af_page_send(resp, 200, &b);
}

void af_h_account_password_post(af_server *srv, af_req *req, af_resp *resp)
{
	const char *current = af_req_param(req, "current");
	const char *password = af_req_param(req, "password");
	const char *confirm = af_req_param(req, "confirm");
	char err[AF_DIR_ERR_BUF] = "", msg[AF_DIR_ERR_BUF + 64];
	char known[AF_KNOWN_ID_BUF] = "";
	int64_t gen = 0;
	af_dir_status st;
	af_session s;
	af_throttle_turn turn = {0};

	if (account_session(srv, req, resp, &s) != 0)
		return;
	/* The token first: another site's post learns nothing more. */
	if (af_page_form_token_check(srv, req, resp, &s,
				     "Your password was not changed.") != 0)
		goto out;
	if (req->overdue) {
		af_resp_header_set(resp, "Retry-After", "5");
		account_form(srv, resp, 503, &s, BUSY, BAD_NONE);
		goto out;
	}
	if (current == NULL || password == NULL || confirm == NULL ||
	    current[0] == '\0' || password[0] == '\0') {
		account_form(srv, resp, 400, &s,
			     "Enter your current password, then the new one "
			     "twice.",
			     current == NULL || current[0] == '\0' ? BAD_CURRENT
			     : password == NULL || password[0] == '\0'
				     ? BAD_NEW
				     : BAD_CONFIRM);
		goto out;
	}
	if (!af_ct_streq(password, confirm)) {
		account_form(srv, resp, 400, &s,
			     "The two new passwords differ: type the same new "
			     "password twice.",
			     BAD_CONFIRM);
		goto out;
	}
	(void)af_known_browser(srv, req, s.username, known);
	/* One check of this user's password at a time, as at sign-in. */
	st = af_throttle_begin(srv->dir, s.username, known,
			       srv->cfg.request_timeout_s * 1000u, &turn);
	if (st != AF_DIR_OK) {
		af_resp_header_set(resp, "Retry-After", "1");
		account_form(srv, resp, st == AF_DIR_CONFLICT ? 429 : 503, &s,
			     "Another check of your password is under way. "
			     "Try again in a moment.",
			     BAD_NONE);
		goto out;
	}
	if (current_ok(srv, req, resp, &s, known, current) != 0)
		goto out;
	st = af_dir_user_change_password(srv->dir, s.username, s.sub, s.gen, 0,
					 password, &gen, err, sizeof(err));
	resp->hashed = 1;
	if (st == AF_DIR_INVALID) {
		reason(err, msg, sizeof(msg));
		account_form(srv, resp, 400, &s, msg, BAD_NEW);
		goto out;
	}
	if (st == AF_DIR_CONFLICT) {
		sent_twice_or(srv, resp, s.username, s.sub, password,
			      "Password not changed",
			      "Your password or account was changed at the "
			      "same time.",
			      "Sign in again, then come back.");
		goto out;
	}
	if (st != AF_DIR_OK) {
		af_page_unavailable(resp);
		goto out;
	}
	changed(srv, req, s.username, "account");
	af_event_login(srv->log, LOG_LEVEL_INFO, req, s.username,
		       "password_changed", "at=account_password");
	account_changed(srv, req, resp, &s, gen);
out:
	af_throttle_end(srv->dir, s.username, known, &turn);
	OPENSSL_cleanse(&s, sizeof(s));
}
