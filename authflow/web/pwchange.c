/*
 * GET|POST /login/password: a temporary password replaced at sign-in; see
 * pwchange.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "directory/directory.h"
#include "oidc/flow.h"
#include "oidc/oidc.h"
#include "web/events.h"
#include "web/page.h"
#include "web/pwchange.h"

/* The member of the flow that holds the sign-in waiting for the change. */
#define PWCHANGE "pwchange"
#define PAGE_BUF ((size_t)64 * 1024)

int af_pwchange_needed(const json_t *user)
{
	return json_is_true(json_object_get(user, AF_DIR_USER_PW_CHANGE));
}

/* The flow's waiting sign-in, or NULL. */
static const json_t *step_of(const json_t *authz)
{
	const json_t *step = json_object_get(authz, PWCHANGE);

	return json_is_object(step) &&
			       json_is_string(json_object_get(step, "user")) &&
			       json_is_string(json_object_get(step, "sub"))
		       ? step
		       : NULL;
}

static const char *step_str(const json_t *step, const char *key)
{
	const char *v = json_string_value(json_object_get(step, key));

	return v != NULL ? v : "";
}

static json_t *amr_array(const af_session *s)
{
	json_t *a = json_array();
	unsigned i;

	for (i = 0; a != NULL && i < s->namr && i < AF_AMR_MAX; i++)
		if (json_array_append_new(a, json_string(s->amr[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
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
		       const af_session *s, const char *detail)
{
	json_t *now = json_deep_copy(authz), *step;
	int rc = -1;

	/* Kept as they were when the factors were checked: see finish(). */
	step = json_pack("{s:s, s:s, s:I, s:I, s:o, s:s, s:s, s:i}", "user",
			 s->username, "sub", s->sub, "gen", (json_int_t)s->gen,
			 "auth_time", (json_int_t)s->auth_time, "amr",
			 amr_array(s), "acr", s->acr, "detail",
			 detail != NULL ? detail : "", "tries", 0);
	if (now != NULL && step != NULL &&
	    json_object_set_new(now, PWCHANGE, step) == 0) {
		step = NULL;
		/*
		 * The MFA page and its poll race to here: one writes, the
		 * other finds the step made (or the flow changed: 1).
		 */
		rc = af_ct_streq(step_str(step_of(authz), "sub"), s->sub)
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

static void show_form(af_server *srv, af_resp *resp, unsigned status,
		      const char *flow, const json_t *authz,
		      const char *message)
{
	const json_t *step = step_of(authz);
	int shown = message != NULL && message[0] != '\0';
	af_buf b;

	af_page_allow_form_target(resp, json_string_value(json_object_get(
						authz, "redirect_uri")));
	af_buf_init(&b, PAGE_BUF);
	af_page_begin(&b, resp,
		      shown ? "Error: Choose a new password"
			    : "Choose a new password");
	af_buf_puts(&b, "<h1>Choose a new password</h1>"
			"<p>The password you signed in with was set for one "
			"sign-in only. Choose a new one that only you know; "
			"you will use it from now on.</p>");
	if (shown) {
		af_buf_puts(&b, "<p class=\"msg\" role=\"alert\" id=\"err\">");
		af_buf_html(&b, message);
		af_buf_puts(&b, "</p>");
	}
	af_buf_puts(&b, "<form method=\"post\" action=\"/login/password\">"
			"<input type=\"hidden\" name=\"flow\" value=\"");
	af_buf_html(&b, flow);
	af_buf_puts(&b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
	af_buf_html(&b, json_string_value(json_object_get(authz, "csrf")));
	/* Whose password this is, for the person and password managers. */
	af_buf_puts(&b,
		    "\"><label for=\"username\">User name</label>"
		    "<input type=\"text\" id=\"username\" name=\"username\" "
		    "readonly autocomplete=\"username\" value=\"");
	af_buf_html(&b, step_str(step, "user"));
	af_buf_printf(
		&b,
		"\"><label for=\"password\">New password</label>"
		"<input type=\"password\" id=\"password\" "
		"name=\"password\" autocomplete=\"new-password\" "
		"minlength=\"%u\" required autofocus "
		"aria-describedby=\"%srules\"%s>"
		"<p class=\"help\" id=\"rules\">At least %u characters. "
		"Not your user name, not the password you signed in "
		"with, and not a common or breached password.</p>"
		"<label for=\"confirm\">New password again</label>"
		"<input type=\"password\" id=\"confirm\" name=\"confirm\" "
		"autocomplete=\"new-password\" required>"
		"<button type=\"submit\">Change password and continue"
		"</button></form>",
		srv->cfg.pw_min_length, shown ? "err " : "",
		shown ? " aria-invalid=\"true\"" : "", srv->cfg.pw_min_length);
	af_buf_puts(&b, "<form method=\"post\" action=\"/login/password\">"
			"<input type=\"hidden\" name=\"flow\" value=\"");
	af_buf_html(&b, flow);
	af_buf_puts(&b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
	af_buf_html(&b, json_string_value(json_object_get(authz, "csrf")));
	af_buf_puts(&b,
		    "\"><button type=\"submit\" name=\"cancel\" value=\"1\" "
		    "class=\"secondary\">Cancel sign-in</button></form>");
	af_page_end(&b, resp);
	af_page_send(resp, status, &b);
}

/*
 * The flow of the request, when it is waiting for the change (new
 * reference): NULL with the page in resp otherwise.
 */
static json_t *load(af_server *srv, af_req *req, af_resp *resp,
		    const char *csrf)
{
	json_t *authz = NULL;
	int rc =
		af_flow_load(srv, req, af_req_param(req, "flow"), csrf, &authz);

	if (rc == 0 && step_of(authz) != NULL)
		return authz;
	json_decref(authz);
	if (rc == -2)
		af_page_unavailable(resp);
	else
		af_page_flow_expired(resp);
	return NULL;
}

void af_h_password_get(af_server *srv, af_req *req, af_resp *resp)
{
	json_t *authz = load(srv, req, resp, NULL);

	if (authz == NULL)
		return;
	show_form(srv, resp, 200, af_req_param(req, "flow"), authz, NULL);
	json_decref(authz);
}

/* Ends the flow with a refusal page: the sign-in cannot go on. */
static void refuse(af_server *srv, af_resp *resp, const char *flow,
		   const char *what, const char *next)
{
	if (af_flow_claim_page(srv, flow, resp) != 0)
		return;
	af_page_error(resp, 403, "Sign-in not completed", what, next);
}

/*
 * Counts a wrong try of the form; 1 when it was the last one allowed (the
 * sign-in has ended, its page in resp).
 */
static int count_try(af_server *srv, af_resp *resp, const char *flow,
		     const json_t *authz)
{
	const json_t *step = step_of(authz);
	json_int_t tries =
		json_integer_value(json_object_get(step, "tries")) + 1;
	json_t *now;

	if (tries >= AF_PWCHANGE_TRIES_MAX) {
		refuse(srv, resp, flow, "Too many tries at a new password.",
		       "Sign in again with the password you were given.");
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

/* What the directory said of a new password, as a sentence. */
static void reason(const char *err, char *out, size_t cap)
{
	static const char field[] = "password: ";

	if (strncmp(err, field, sizeof(field) - 1) == 0)
		err += sizeof(field) - 1;
	if (err[0] == '\0')
		err = "is not allowed";
	snprintf(out, cap, "Choose another password: it %s.", err);
}

/* The sign-in, now with the new password, ends as any other does. */
static void finish(af_server *srv, af_req *req, af_resp *resp, const char *flow,
		   const json_t *authz, const json_t *user, int64_t gen)
{
	const json_t *step = step_of(authz),
		     *amr = json_object_get(step, "amr");
	char detail[AF_LOGIN_DETAIL_MAX];
	af_session s;
	size_t i;

	memset(&s, 0, sizeof(s));
	snprintf(s.username, sizeof(s.username), "%s", step_str(step, "user"));
	snprintf(s.sub, sizeof(s.sub), "%s", step_str(step, "sub"));
	s.auth_time = json_integer_value(json_object_get(step, "auth_time"));
	s.gen = gen;
	for (i = 0; i < json_array_size(amr) && s.namr < AF_AMR_MAX; i++)
		snprintf(s.amr[s.namr++], sizeof(s.amr[0]), "%s",
			 json_string_value(json_array_get(amr, i)) != NULL
				 ? json_string_value(json_array_get(amr, i))
				 : "");
	snprintf(s.acr, sizeof(s.acr), "%s", step_str(step, "acr"));
	snprintf(detail, sizeof(detail), "%s%spassword_changed=1",
		 step_str(step, "detail"),
		 step_str(step, "detail")[0] != '\0' ? " " : "");
	/* The step's detail says already whether the browser is known. */
	af_login_finish(srv, req, resp, flow, authz, user, &s, "", detail);
}

/*
 * The user as the directory has them now, still the one the sign-in
 * checked and still allowed the flow's application: 0 and *user, or -1
 * with the page in resp.
 */
static int still_allowed(af_server *srv, const af_req *req, af_resp *resp,
			 const char *flow, const json_t *authz, json_t **user)
{
	const json_t *step = step_of(authz);
	json_t *policy = NULL, *app = NULL;
	af_dir_status st;
	int rc;

	*user = NULL;
	st = af_dir_user_get(srv->dir, step_str(step, "user"), user);
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
		refuse(srv, resp, flow,
		       "This sign-in was ended while it waited: your "
		       "password was changed, or your account was.",
		       "Sign in again.");
		return -1;
	}
	rc = af_login_allowed(srv, req, resp, flow, authz, *user, &policy,
			      &app);
	json_decref(policy);
	json_decref(app);
	if (rc == 0)
		return 0;
	json_decref(*user);
	*user = NULL;
	return -1;
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
		if (af_flow_claim_page(srv, flow, resp) == 0)
			af_oidc_send_error(srv, resp, authz, "access_denied",
					   "the sign-in was not completed");
		goto out;
	}
	if (req->overdue) {
		/* Waited too long behind password checks: shed it. */
		af_resp_header_set(resp, "Retry-After", "5");
		show_form(srv, resp, 503, flow, authz,
			  "Sign-in is very busy just now and your new password "
			  "was not saved. Please try again in a moment.");
		goto out;
	}
	if (password == NULL || confirm == NULL || password[0] == '\0') {
		show_form(srv, resp, 400, flow, authz,
			  "Enter your new password twice.");
		goto out;
	}
	if (!af_ct_streq(password, confirm)) {
		if (count_try(srv, resp, flow, authz) == 0)
			show_form(srv, resp, 400, flow, authz,
				  "The two passwords differ: type the same "
				  "new password twice.");
		goto out;
	}
	if (still_allowed(srv, req, resp, flow, authz, &user) != 0)
		goto out;
	st = af_dir_user_change_password(
		srv->dir, step_str(step, "user"), step_str(step, "sub"),
		json_integer_value(json_object_get(step, "gen")), password,
		&gen, err, sizeof(err));
	if (st == AF_DIR_INVALID) {
		if (count_try(srv, resp, flow, authz) == 0) {
			reason(err, msg, sizeof(msg));
			show_form(srv, resp, 400, flow, authz, msg);
		}
		goto out;
	}
	if (st == AF_DIR_CONFLICT) {
		refuse(srv, resp, flow,
		       "This sign-in was ended while it waited: your "
		       "password was changed, or your account was.",
		       "Sign in again.");
		goto out;
	}
	if (st == AF_DIR_UNAUDITED)
		log_error(srv->log, req->rid, "audit",
			  "a user changed their password, but the audit "
			  "event could not be written");
	else if (st != AF_DIR_OK) {
		af_page_unavailable(resp);
		goto out;
	}
	/* The record the sign-in ends with: the mark is gone now. */
	json_decref(user);
	user = NULL;
	if (af_dir_user_get(srv->dir, step_str(step, "user"), &user) !=
	    AF_DIR_OK) {
		af_page_unavailable(resp);
		goto out;
	}
	finish(srv, req, resp, flow, authz, user, gen);
out:
	json_decref(user);
	json_decref(authz);
}
