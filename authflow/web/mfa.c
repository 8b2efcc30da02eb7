/*
 * The MFA pages. The number is shown only to the browser bound to the
 * flow, and only while the transaction is pending; the sign-in finishes
 * exactly once, whichever of the page, its status poll or the code form
 * gets there first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "directory/audit.h"
#include "directory/throttle.h"
#include "mfa/mfa.h"
#include "mfa/seam.h"
#include "oidc/flow.h"
#include "oidc/oidc.h"
#include "session/formtoken.h"
#include "session/known.h"
#include "web/events.h"
#include "web/mfa_pages.h"
#include "web/page.h"
#include "web/qr.h"

/*
 * The MFA page's script: the digit pad, the countdown, and a poll of the
 * status that goes on once the push is answered. A change of state is
 * shown by loading the page anew with GET (never a reload, which after
 * the code form would post the code again), and, when the push expired
 * unanswered (a code still finishes the sign-in), not while a code is
 * being typed: the page then says so in place and keeps the code.
 *
 * The countdown runs to a deadline taken from the page and moved only
 * when the server's count differs by more than a second, so that it goes
 * down one by one. It is not a live region: screen readers would read
 * every second of it. Once, at ten seconds left, a polite region says how
 * long is left (and is emptied once the push is over); the number's
 * region (role status) speaks when it changes.
 */
static const char mfa_js[] =
	"(function(){\n"
	"var code=document.getElementById('code');\n"
	"var pad=document.querySelectorAll('[data-digit]');\n"
	"for(var i=0;i<pad.length;i++){pad[i].addEventListener('click',"
	"function(e){"
	"if(code&&code.value.length<6)code.value+=e.target.getAttribute('data-digit');"
	"});}\n"
	"var clr=document.querySelectorAll('[data-digit-clear]');\n"
	"for(i=0;i<clr.length;i++)clr[i].addEventListener('click',"
	"function(){if(code)code.value='';});\n"
	"var pads=document.querySelectorAll('.pad');\n"
	"for(i=0;i<pads.length;i++)pads[i].hidden=false;\n"
	"var m=document.getElementById('mfa');if(!m)return;\n"
	"var url=m.getAttribute('data-status');\n"
	"var page=url.replace('/status?','?');\n"
	"var num=m.querySelector('.number');\n"
	"var end=Date.now()+1000*parseInt(m.getAttribute('data-expires-in'),10);\n"
	"var cd=document.getElementById('countdown');\n"
	"var say=document.getElementById('mfa-say');var warned=false;\n"
	"function left(){return Math.max(0,Math.ceil((end-Date.now())/1000));}\n"
	"function tick(){var l=left();"
	"if(cd&&cd.textContent!==String(l))cd.textContent=l;"
	"if(!warned&&l>0&&l<=10){warned=true;if(say)say.textContent="
	"l+' seconds left to answer on your phone.';}}\n"
	"var timer=setInterval(tick,250);\n"
	"function stop(){clearInterval(timer);if(cd)cd.parentNode.hidden=true;"
	"if(say)say.textContent='';}\n"
	"function ended(st){if(st!=='expired'||!code||code.value.length===0){"
	"window.location.replace(page);return;}stop();"
	"document.title='No longer waiting: Confirm on your phone';"
	"m.textContent='The request on your phone is no longer waiting. "
	"Finish with the token code, or ';"
	"var a=document.createElement('a');a.href=page;"
	"a.textContent='see what happened';m.appendChild(a);"
	"m.appendChild(document.createTextNode('.'));}\n"
	"function gone(){stop();document.title='Sign-in ended';"
	"m.textContent='This sign-in has ended, here or in another tab. "
	"Start again from the application.';}\n"
	"function poll(){fetch(url,{credentials:'same-origin',"
	"cache:'no-store'}).then(function(r){return r.json();})"
	".then(function(s){if(s.error==='no_flow'){gone();return;}"
	"if(s.next){window.location.replace(s.next);return;}"
	"if(s.state&&s.state!=='pending'){ended(s.state);return;}"
	"if(num&&typeof s.number==='number'&&num.textContent!==String(s.number))"
	"num.textContent=String(s.number);"
	"if(typeof s.expires_in==='number'&&Math.abs(s.expires_in-left())>1)"
	"end=Date.now()+1000*s.expires_in;"
	"setTimeout(poll,700);}).catch(function(){setTimeout(poll,2000);});}\n"
	"setTimeout(poll,700);\n"
	"})();\n";

const char *af_mfa_js(void)
{
	return mfa_js;
}

/* The flow of a request, with its MFA state; NULL after an error page. */
static void back_at_password(af_resp *resp, const char *flow);

static json_t *load(af_server *srv, af_req *req, af_resp *resp,
		    const char *csrf, int json_errors)
{
	const char *flow = af_req_param(req, "flow");
	json_t *authz = NULL;
	int rc = af_flow_load(srv, req, flow, csrf, &authz);

	if (rc == -2) {
		/* The same answer as a transaction the store failed to give. */
		if (json_errors)
			af_resp_json(resp, 503,
				     json_pack("{s:s}", "error",
					       "temporarily_unavailable"));
		else
			af_page_unavailable(resp);
		return NULL;
	}
	if (rc != 0 || !json_is_object(json_object_get(authz, "mfa"))) {
		json_decref(authz);
		if (json_errors)
			af_resp_json(resp, 404,
				     json_pack("{s:s}", "error", "no_flow"));
		/* The flow is there, back at its password step. */
		else if (rc == 0)
			back_at_password(resp, flow);
		else
			af_page_flow_expired(resp);
		return NULL;
	}
	return authz;
}

static const char *mfa_str(const json_t *authz, const char *key)
{
	return json_string_value(
		json_object_get(json_object_get(authz, "mfa"), key));
}

/* The user's sign-in generation when their password was checked. */
static int64_t mfa_gen(const json_t *authz)
{
	return json_integer_value(
		json_object_get(json_object_get(authz, "mfa"), "gen"));
}

/*
 * Notes in the flow that its end was refused, so that reloading the page
 * after an administrator's next change does not finish it. The flow stays
 * for the refusal page's way back to the application. Only the flow as
 * authz loaded it is marked: a password step in another tab that replaced
 * it meanwhile keeps its own challenge.
 */
static void mark_refused(af_server *srv, const char *flow, const json_t *authz)
{
	json_t *copy = json_deep_copy(authz);
	json_t *mfa = json_object_get(copy, "mfa");

	if (json_is_object(mfa) &&
	    json_object_set_new(mfa, "refused", json_true()) == 0)
		(void)af_flow_replace(srv, flow, authz, copy);
	json_decref(copy);
}

/*
 * The page of a sign-in that will not be completed, with a way back;
 * cause leads its title.
 */
static void not_completed(af_resp *resp, const char *flow, const json_t *authz,
			  const char *cause, const char *why,
			  const char *what_now)
{
	af_page_allow_form_target(resp, json_string_value(json_object_get(
						authz, "redirect_uri")));
	af_page_refusal_why(resp, 403, cause, "Sign-in not completed", why,
			    what_now, flow,
			    json_string_value(json_object_get(authz, "csrf")));
}

/*
 * The flow's user, their policy and the flow's app as they are now (new
 * references) for a step after the password, which took time: the user
 * still there, the same one, their password not changed since it was
 * checked, still allowed the app. 0, or -1 with the page in resp.
 */
static int still_allowed(af_server *srv, const af_req *req, af_resp *resp,
			 const char *flow, const json_t *authz, json_t **user,
			 json_t **policy, json_t **app)
{
	af_dir_status st;
	int rc;

	*user = *policy = *app = NULL;
	/* Refused once, refused for good: a later change admits no one. */
	if (json_is_true(json_object_get(json_object_get(authz, "mfa"),
					 "refused"))) {
		not_completed(resp, flow, authz, "Refused",
			      "This sign-in was refused.",
			      "Sign in again, or contact your administrator.");
		return -1;
	}
	st = af_dir_user_get(srv->dir, mfa_str(authz, "user"), user);
	if (st != AF_DIR_OK && st != AF_DIR_NOT_FOUND) {
		json_decref(*user);
		*user = NULL;
		af_page_unavailable(resp);
		return -1;
	}
	if (*user != NULL &&
	    !json_equal(
		    json_object_get(*user, "sub"),
		    json_object_get(json_object_get(authz, "mfa"), "sub"))) {
		json_decref(*user);
		*user = NULL;
	}
	/*
	 * Nor may a password checked before it was changed (or before the
	 * user's sessions were ended) go on now. (A user disabled meanwhile
	 * is told so below.)
	 */
	if (*user != NULL && json_is_true(json_object_get(*user, "enabled")) &&
	    af_dir_user_gen(*user) != mfa_gen(authz)) {
		json_decref(*user);
		*user = NULL;
		af_metrics_login(srv->metrics, AF_LOGIN_NOT_ALLOWED);
		af_event_login(srv->log, LOG_LEVEL_INFO, req,
			       mfa_str(authz, "user"), "ended", NULL);
		mark_refused(srv, flow, authz);
		not_completed(resp, flow, authz, "Ended while waiting",
			      "This sign-in was ended while it waited: your "
			      "password was changed, or your sessions were "
			      "ended.",
			      "Sign in again.");
		return -1;
	}
	rc = af_login_allowed(srv, req, resp, flow, authz, *user, policy, app);
	if (rc == 0)
		return 0;
	/* A store that failed refused nothing: the page may retry. */
	if (rc == -1)
		mark_refused(srv, flow, authz);
	json_decref(*user);
	json_decref(*policy);
	json_decref(*app);
	*user = *policy = *app = NULL;
	return -1;
}

static int state_ends_flow(const char *state);
static void reset_flow(af_server *srv, const char *flow, json_t *authz);
static void outcome_page(af_server *srv, af_resp *resp, const char *flow,
			 const json_t *authz, const char *state,
			 const json_t *txn);

/*
 * Cancels the flow's push so that a right token code finishes the
 * sign-in: 0 when the code may finish it. A decision the phone made
 * meanwhile that ends the flow (denied, reported, failed) wins over the
 * code: -1 with that outcome's page in resp, as with a store that did not
 * say (the page may then be retried).
 */
static int code_wins(af_server *srv, af_resp *resp, const char *flow,
		     json_t *authz)
{
	const char *id = mfa_str(authz, "txn"), *state;
	json_t *out = NULL, *txn = NULL;
	af_mfa_status st;

	if (id == NULL)
		return 0;
	st = af_mfa_txn_decide(srv->store, id, NULL, "cancel", NULL, af_now(),
			       &out);
	json_decref(out);
	if (st == AF_MFA_DECIDED)
		st = af_mfa_txn_get(srv->store, id, af_now(), &txn);
	else if (st != AF_MFA_STORE && st != AF_MFA_NOMEM)
		return 0;
	if (st == AF_MFA_STORE || st == AF_MFA_NOMEM) {
		json_decref(txn);
		af_page_unavailable(resp);
		return -1;
	}
	state = json_string_value(json_object_get(txn, "state"));
	if (st != AF_MFA_OK || !state_ends_flow(state)) {
		json_decref(txn);
		return 0;
	}
	reset_flow(srv, flow, authz);
	outcome_page(srv, resp, flow, authz, state, txn);
	json_decref(txn);
	return -1;
}

/*
 * Whether the phone that approved the push is still enrolled: one
 * removed while its approval was on the way signs no one in. 0 it
 * stands; -1 with the page in resp (the outcome of a removed phone, or
 * unavailable when the store did not say).
 */
static int approver_stands(af_server *srv, af_resp *resp, const char *flow,
			   json_t *authz, const char *device)
{
	json_t *dev = NULL, *why;
	af_mfa_status st;

	st = device != NULL ? af_mfa_device_get(srv->store, device, &dev)
			    : AF_MFA_NOT_FOUND;
	af_mfa_device_free(dev);
	if (st == AF_MFA_OK)
		return 0;
	if (st != AF_MFA_NOT_FOUND) {
		af_page_unavailable(resp);
		return -1;
	}
	/* As the record of a push cancelled for its phone's removal. */
	why = json_pack("{s:s, s:s, s:s?}", "state", "cancelled",
			"cancel_reason", "device_removed", "user",
			mfa_str(authz, "user"));
	reset_flow(srv, flow, authz);
	if (why == NULL)
		af_page_unavailable(resp);
	else
		outcome_page(srv, resp, flow, authz, "cancelled", why);
	json_decref(why);
	return -1;
}

/*
 * Finishes the sign-in once: af_flow_claim_page() (in af_login_finish())
 * makes sure that of the page, the poll and the code form only one makes
 * a session and a code. factor is "swk" (device: the phone that approved,
 * at: when) or "otp" (device: the phone whose code it was, at: now).
 */
static int refused_locked(af_server *srv, const af_req *req, af_resp *resp,
			  json_t *authz, char known[AF_KNOWN_ID_BUF],
			  const char *step);

static void complete(af_server *srv, af_req *req, af_resp *resp, json_t *authz,
		     const char *factor, const char *device, int64_t at)
{
	const char *flow = af_req_param(req, "flow");
	json_t *user, *policy, *app;
	char known[AF_KNOWN_ID_BUF], detail[AF_LOGIN_DETAIL_MAX];
	af_session s;

	if (still_allowed(srv, req, resp, flow, authz, &user, &policy, &app) !=
	    0)
		return;
	json_decref(policy);
	json_decref(app);
	/*
	 * Nor may an account locked while the request waited (wrong numbers
	 * answered on the phone, failures elsewhere) sign in by approving a
	 * request sent before the lock: only an unlock lets anyone in. A
	 * delay is for guesses, and an approval is none.
	 */
	if (refused_locked(srv, req, resp, authz, known,
			   strcmp(factor, "otp") == 0 ? "code" : "push")) {
		json_decref(user);
		return;
	}
	/*
	 * Only now, with the sign-in allowed, does a right code cancel the
	 * push: a page that failed above leaves it standing for a retry.
	 */
	if (strcmp(factor, "otp") == 0
		    ? code_wins(srv, resp, flow, authz)
		    : approver_stands(srv, resp, flow, authz, device)) {
		json_decref(user);
		return;
	}
	if (strcmp(factor, "otp") == 0)
		af_metrics_mfa(srv->metrics, AF_MFA_OUT_CODE_OK);
	memset(&s, 0, sizeof(s));
	snprintf(s.username, sizeof(s.username), "%s", mfa_str(authz, "user"));
	snprintf(s.sub, sizeof(s.sub), "%s", mfa_str(authz, "sub"));
	/*
	 * When the second factor was given: the phone's approval (the
	 * browser may come for it later), or the code typed now. A
	 * relying party judges max_age by it.
	 */
	s.auth_time = at > 0 && at <= af_now() ? at : af_now();
	s.gen = mfa_gen(authz);
	memcpy(s.amr[0], "pwd", 4);
	snprintf(s.amr[1], sizeof(s.amr[1]), "%s", factor);
	memcpy(s.amr[2], "mfa", 4);
	s.namr = 3;
	snprintf(s.acr, sizeof(s.acr), "%s", AF_ACR_MFA);
	/* Both factors passed: the failures counted so far are forgiven. */
	if (af_throttle_success(srv->dir, s.username, req->client_ip, known) !=
	    AF_DIR_OK)
		log_warn(srv->log, req->rid, "throttle",
			 "could not clear the failure count");
	if (af_mfa_code_tries_clear(srv->store, s.username) != AF_MFA_OK)
		log_warn(srv->log, req->rid, "throttle",
			 "could not clear the token-code tries");
	/*
	 * The txn and the phone join this line to the password step's,
	 * the phone's answer and the push (mfa, device and push lines).
	 */
	snprintf(detail, sizeof(detail), "factor=%s txn=%s device=%s", factor,
		 mfa_str(authz, "txn") != NULL ? mfa_str(authz, "txn") : "-",
		 device != NULL && device[0] != '\0' ? device : "-");
	af_login_finish(srv, req, resp, flow, authz, user, &s, device, known,
			detail);
	json_decref(user);
}

/* How recent a phone sign-in must be to add another phone: 10 minutes. */
#define AF_ENROLL_RECENT_S 600

/* Words of a page built in parts; more is cut, never overrun. */
#define WORDS_MAX	  640
#define OUTCOME_TITLE_MAX 96

/*
 * How long is left, as words for "in ...": "less than a minute", "about
 * 12 minutes", "about 3 hours". A duration, not a clock time: the
 * server's clock and time zone are not the reader's.
 */
static void about(int64_t left_s, char *out, size_t cap)
{
	int64_t minutes = (left_s + 59) / 60;

	if (left_s < 60)
		snprintf(out, cap, "less than a minute");
	else if (minutes < 120)
		snprintf(out, cap, "about %lld minute%s", (long long)minutes,
			 minutes == 1 ? "" : "s");
	else
		snprintf(out, cap, "about %lld hours",
			 (long long)((left_s + 3599) / 3600));
}

/*
 * Seconds left of the user's push pause and push limit now (0: none, or
 * the store did not say: the words then just leave the time out).
 */
static void push_left(af_server *srv, const char *user, int64_t *paused,
		      int64_t *limited)
{
	int64_t now = af_now(), p = 0, l = 0;

	*paused = 0;
	*limited = 0;
	if (user == NULL ||
	    af_mfa_push_state(srv->store, user, NULL, now, &p, &l) != AF_MFA_OK)
		return;
	*paused = p > now ? p - now : 0;
	*limited = l > now ? l - now : 0;
}

/* Appends to words (WORDS_MAX): when a running pause ends, if one does. */
static void pause_words(af_server *srv, const char *user, char *words)
{
	int64_t paused, limited;
	char when[40];
	size_t n = strlen(words);

	push_left(srv, user, &paused, &limited);
	if (paused <= 0)
		return;
	about(paused, when, sizeof(when));
	snprintf(words + n, WORDS_MAX - n,
		 " Sign-in requests to your phone are paused; they start "
		 "again in %s. Your service desk can lift the pause sooner.",
		 when);
}

/*
 * How user name may no longer sign in at all: NULL when they still may
 * (or the store fails), else "disabled" or "removed". Then starting again
 * leads nowhere, and the page says whom to ask instead.
 */
static const char *user_gone(af_server *srv, const char *name)
{
	json_t *user = NULL;
	af_dir_status st;
	const char *gone = NULL;

	if (name == NULL)
		return NULL;
	st = af_dir_user_get(srv->dir, name, &user);
	if (st == AF_DIR_NOT_FOUND)
		gone = "removed";
	else if (st == AF_DIR_OK &&
		 !json_is_true(json_object_get(user, "enabled")))
		gone = "disabled";
	json_decref(user);
	return gone;
}

/* What leads the page title of an account user_gone() says is gone. */
static const char *gone_cause(const char *gone)
{
	return gone != NULL && strcmp(gone, "removed") == 0
		       ? "Account removed"
		       : "Account disabled";
}

/*
 * Why a transaction nobody in this browser cancelled was cancelled, into
 * words; 0, or 1 when starting again cannot help, with *gone what an
 * administrator did to the account ("removed" or "disabled").
 */
static int cancelled_words(af_server *srv, const json_t *txn, char *words,
			   const char **gone)
{
	const char *user = json_string_value(json_object_get(txn, "user"));

	switch (af_mfa_txn_cancel_why(txn)) {
	case AF_MFA_CANCEL_ADMIN:
		*gone = user_gone(srv, user);
		if (*gone != NULL) {
			snprintf(words, WORDS_MAX,
				 "Your sign-in was stopped: an administrator "
				 "%s your account.",
				 *gone);
			return 1;
		}
		snprintf(words, WORDS_MAX,
			 "Your sign-in was stopped by an administrator. Start "
			 "again; if your password was changed, use the new "
			 "one.");
		return 0;
	case AF_MFA_CANCEL_REPORT:
		snprintf(words, WORDS_MAX,
			 "A sign-in request to your phone was reported as not "
			 "yours, so for safety the other requests waiting were "
			 "stopped, this one too.");
		pause_words(srv, user, words);
		return 0;
	case AF_MFA_CANCEL_DEVICE_REMOVED:
		snprintf(words, WORDS_MAX,
			 "The phone this sign-in request was sent to was "
			 "removed from your account. To use a phone again, it "
			 "must be enrolled anew: ask your administrator for an "
			 "enrollment code.");
		return 0;
	case AF_MFA_CANCEL_NONE:
	case AF_MFA_CANCEL_USER:
	default:
		snprintf(words, WORDS_MAX, "The sign-in was cancelled.");
		return 0;
	}
}

/*
 * The outcome of a finished transaction (txn, or NULL for an outcome of
 * this browser's own: its Cancel, too many codes), in words; 0, or 1 when
 * starting again cannot help, with *gone as cancelled_words() sets it.
 */
static int outcome_words(af_server *srv, const char *state, const json_t *txn,
			 char *words, const char **gone)
{
	const char *user = json_string_value(json_object_get(txn, "user"));
	const char *text = "The sign-in did not finish.";

	if (strcmp(state, "cancelled") == 0 && txn != NULL)
		return cancelled_words(srv, txn, words, gone);
	if (strcmp(state, "failed") == 0)
		text = "The number typed on the phone did not match.";
	else if (strcmp(state, "denied") == 0)
		text = "The sign-in was denied on the phone.";
	else if (strcmp(state, "reported") == 0)
		text = "The sign-in was denied and reported as not yours.";
	else if (strcmp(state, "expired") == 0)
		text = "Nobody answered on the phone within 30 seconds.";
	else if (strcmp(state, "cancelled") == 0)
		text = "The sign-in was cancelled.";
	else if (strcmp(state, "too_many") == 0)
		text = "Too many wrong token codes were typed.";
	else if (strcmp(state, "gone") == 0)
		text = "The request to your phone is no longer open.";
	snprintf(words, WORDS_MAX, "%s", text);
	if (strcmp(state, "reported") == 0)
		pause_words(srv, user, words);
	return 0;
}

/*
 * The page title of an outcome: what happened first, so that the title,
 * which is read first and shown in the tab, tells the outcomes apart.
 */
static const char *outcome_title(const char *state, const json_t *txn,
				 char title[OUTCOME_TITLE_MAX])
{
	static const struct {
		const char *state, *what;
	} kinds[] = {
		{"failed", "Number did not match"},
		{"denied", "Denied on your phone"},
		{"reported", "Reported as not you"},
		{"expired", "No answer in time"},
		{"too_many", "Too many wrong codes"},
		{"gone", "Request no longer open"},
	};
	const char *what = NULL;
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(state, kinds[i].state) == 0)
			what = kinds[i].what;
	}
	/* Cancelled here, or elsewhere: by whom or why. */
	if (strcmp(state, "cancelled") == 0 && txn == NULL)
		what = "Cancelled";
	else if (strcmp(state, "cancelled") == 0)
		switch (af_mfa_txn_cancel_why(txn)) {
		case AF_MFA_CANCEL_ADMIN:
			what = "Stopped by an administrator";
			break;
		case AF_MFA_CANCEL_REPORT:
			what = "Stopped after a report";
			break;
		case AF_MFA_CANCEL_DEVICE_REMOVED:
			what = "Phone removed";
			break;
		case AF_MFA_CANCEL_NONE:
		case AF_MFA_CANCEL_USER:
		default:
			what = "Cancelled";
			break;
		}
	if (what == NULL)
		return "Sign-in not completed";
	snprintf(title, OUTCOME_TITLE_MAX, "%s: Sign-in not completed", what);
	return title;
}

/* A link back to the password step of the same sign-in. */
static void again_link(af_buf *b, const char *flow)
{
	af_buf_puts(b, "<p><a href=\"/login?flow=");
	af_buf_urlenc(b, flow);
	af_buf_puts(b, "\">Start again</a></p>");
}

/*
 * The phone step of this sign-in ended (too many codes, a denial, another
 * tab) and it went back to the password: said as such, with the way on,
 * rather than as a page that expired.
 */
static void back_at_password(af_resp *resp, const char *flow)
{
	af_buf b;

	af_buf_init(&b, 4096);
	af_page_begin(&b, resp, "Phone step ended: Sign in again");
	af_buf_puts(&b, "<h1>Sign in again</h1><p class=\"msg\" "
			"role=\"alert\">The phone step of this sign-in has "
			"ended, here or in another tab: it starts again with "
			"the password.</p>");
	again_link(&b, flow);
	af_page_end(&b, resp);
	af_page_send(resp, 409, &b);
}

/*
 * The page of a sign-in that ended (authz its flow): a way to start again
 * where that can help, and the way back to the application, which then
 * learns that the sign-in was refused (access_denied).
 */
static void outcome_page(af_server *srv, af_resp *resp, const char *flow,
			 const json_t *authz, const char *state,
			 const json_t *txn)
{
	char words[WORDS_MAX], title[OUTCOME_TITLE_MAX];
	const char *gone = NULL;
	af_buf b;

	/* Starting again cannot help: the account was stopped. */
	if (outcome_words(srv, state, txn, words, &gone) != 0) {
		not_completed(resp, flow, authz, gone_cause(gone), words,
			      "Contact your service desk.");
		return;
	}
	af_buf_init(&b, 16384);
	af_page_begin(&b, resp, outcome_title(state, txn, title));
	af_buf_puts(&b, "<h1>Sign-in not completed</h1><p class=\"msg\" "
			"role=\"alert\">");
	af_buf_html(&b, words);
	af_buf_puts(&b, "</p>");
	again_link(&b, flow);
	/* Or give up: the application learns so (access_denied). */
	af_page_back_form(&b, flow,
			  json_string_value(json_object_get(authz, "csrf")));
	af_page_allow_form_target(resp, json_string_value(json_object_get(
						authz, "redirect_uri")));
	af_page_end(&b, resp);
	af_page_send(resp, 200, &b);
}

/*
 * Whether a request to user's phone would be held now, by a report pause
 * or the push limit: 1 with what to say in words (WORDS_MAX): when it
 * ends, as a duration, and that the service desk can lift it.
 */
static int push_held(af_server *srv, const char *user, char *words)
{
	int64_t paused, limited;
	char when[40];

	push_left(srv, user, &paused, &limited);
	if (paused > 0) {
		about(paused, when, sizeof(when));
		snprintf(words, WORDS_MAX,
			 "Sign-in requests to your phone are paused after a "
			 "request was reported as not yours; they start again "
			 "in %s. Until then, type the six-digit code from your "
			 "app. Your service desk can lift the pause sooner.",
			 when);
		return 1;
	}
	if (limited > 0) {
		about(limited, when, sizeof(when));
		snprintf(words, WORDS_MAX,
			 "Too many sign-in requests were sent to your phone. "
			 "More can be sent in %s; until then, type the "
			 "six-digit code from your app. Your service desk can "
			 "lift the limit sooner.",
			 when);
		return 1;
	}
	return 0;
}

/*
 * Why the page offers only the token code (the flow's notice), in words
 * (WORDS_MAX); NULL when it has no notice. A pause or limit says when it
 * ends, as a duration, and that the service desk can lift it; *over is
 * set once it has ended, when the page may send a request after all.
 */
static const char *notice_words(af_server *srv, const json_t *authz,
				char *words, int *over)
{
	const char *notice = mfa_str(authz, "notice");

	*over = 0;
	if (notice == NULL)
		return NULL;
	if (strcmp(notice, "legacy") == 0)
		return "Type the six-digit code shown in your authenticator "
		       "app.";
	if (strcmp(notice, "old_app") == 0)
		return "Your authenticator app needs an update to receive "
		       "sign-in requests. Until then, type the six-digit code "
		       "it shows.";
	if (strcmp(notice, "no_push") == 0)
		return "Your phone cannot receive sign-in requests at the "
		       "moment. Type the six-digit code shown in your "
		       "authenticator app.";
	if (strcmp(notice, "unavailable") == 0) {
		*over = 1;
		return "A sign-in request could not be sent to your phone "
		       "just now. Send one again, or type the six-digit code "
		       "from your app.";
	}
	if (strcmp(notice, "paused") != 0 && strcmp(notice, "limit") != 0)
		return NULL;
	if (push_held(srv, mfa_str(authz, "user"), words))
		return words;
	*over = 1;
	if (strcmp(notice, "paused") == 0)
		snprintf(words, WORDS_MAX,
			 "Sign-in requests to your phone were paused after a "
			 "report; the pause is over now. Send a request to "
			 "your phone, or type the six-digit code from your "
			 "app.");
	else
		snprintf(words, WORDS_MAX,
			 "Too many sign-in requests were sent to your phone a "
			 "moment ago; more can be sent now. Send a request to "
			 "your phone, or type the six-digit code from your "
			 "app.");
	return words;
}

/* How the token-code field is shown: what describes it, and its focus. */
typedef struct code_field {
	int notice;  /* a notice (id "code-note") is on the page */
	int message; /* a message (id "code-err") is on the page */
	int invalid; /* the message says the code typed was wrong */
	int focus;   /* the field takes the focus when the page loads */
} code_field;

/* A form of this sign-in that posts to action, with its hidden fields. */
static void form_open(af_buf *b, const char *action, const char *flow,
		      const char *csrf)
{
	af_buf_printf(b,
		      "<form method=\"post\" action=\"%s\"><input "
		      "type=\"hidden\" name=\"flow\" value=\"",
		      action);
	af_buf_html(b, flow);
	af_buf_puts(b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
	af_buf_html(b, csrf);
	af_buf_puts(b, "\">");
}

static void code_form(af_buf *b, const char *flow, const char *csrf,
		      const code_field *f)
{
	form_open(b, "/login/mfa/code", flow, csrf);
	af_buf_puts(b, "<label for=\"code\">Six-digit token code</label>"
		       "<input type=\"text\" id=\"code\" name=\"code\" "
		       "inputmode=\"numeric\" pattern=\" *([0-9] *){6}\" "
		       "title=\"Six digits; spaces do not matter\" "
		       "maxlength=\"16\" autocomplete=\"one-time-code\" "
		       "required");
	if (f->invalid)
		af_buf_puts(b, " aria-invalid=\"true\"");
	/* Read out with the field, as a message shown on load is not. */
	if (f->message || f->notice)
		af_buf_printf(b, " aria-describedby=\"%s%s%s\"",
			      f->message ? "code-err" : "",
			      f->message && f->notice ? " " : "",
			      f->notice ? "code-note" : "");
	af_buf_puts(b, f->focus ? " autofocus>" : ">");
	af_page_digit_pad(b, "data-digit", "data-digit-clear");
	af_buf_puts(b, "<button type=\"submit\">Use this code</button>"
		       "</form>");
}

static void cancel_form(af_buf *b, const char *flow, const char *csrf)
{
	form_open(b, "/login/mfa/cancel", flow, csrf);
	af_buf_puts(b, "<button type=\"submit\" class=\"secondary\">"
		       "Cancel sign-in</button></form>");
}

/* A request to the phone, for a sign-in whose last one got no answer. */
static void ask_form(af_buf *b, const char *flow, const char *csrf,
		     const char *label)
{
	form_open(b, "/login/mfa/push", flow, csrf);
	af_buf_printf(b, "<button type=\"submit\">%s</button></form>", label);
}

/*
 * The push part of the page: the number, in a region (role status) that
 * speaks when the script changes it, and the countdown outside it, with
 * the quiet region the script uses to say once that time is short.
 */
static void push_part(af_buf *b, const char *flow, const json_t *txn)
{
	const char *app = json_string_value(json_object_get(txn, "app_name"));
	json_t *num = json_object_get(txn, "number");
	int64_t left;

	left = af_mfa_txn_left(txn, af_now());
	af_buf_puts(b, "<h1>Confirm on your phone</h1><div id=\"mfa\" "
		       "role=\"status\" data-status=\"/login/mfa/status?flow=");
	af_buf_urlenc(b, flow);
	af_buf_printf(b, "\" data-expires-in=\"%lld\">", (long long)left);
	af_buf_puts(b, "<p class=\"app\">Signing in to ");
	af_buf_html(b, app != NULL ? app : "the application");
	af_buf_puts(b, "</p>");
	if (json_is_integer(num))
		af_buf_printf(b,
			      "<p>Type this number in your authenticator "
			      "app:</p><p class=\"number\">%lld</p>",
			      (long long)json_integer_value(num));
	else
		af_buf_puts(b, "<p>Approve the request in your authenticator "
			       "app.</p>");
	/*
	 * Without script nothing polls: a link goes on once the phone has
	 * answered, read after what it is about. (A timed refresh would
	 * wipe a code being typed below, and restart screen readers.)
	 */
	af_buf_puts(b, "<noscript><p>Once you have answered on your phone, "
		       "<a href=\"/login/mfa?flow=");
	af_buf_urlenc(b, flow);
	af_buf_puts(b, "\">continue</a>.</p></noscript>");
	af_buf_printf(b,
		      "</div><p>The request expires in <strong "
		      "id=\"countdown\">%lld</strong> seconds.</p>"
		      "<p id=\"mfa-say\" class=\"sr\" role=\"status\"></p>",
		      (long long)left);
}

/*
 * The MFA page: the push part while txn (NULL: none) is pending, and the
 * token-code form. again: the flow's request ended unanswered, and the
 * page offers another and a fresh start.
 */
static void show_page(af_server *srv, af_resp *resp, unsigned status,
		      const char *flow, const json_t *authz, const json_t *txn,
		      const char *message, int again)
{
	const char *csrf = json_string_value(json_object_get(authz, "csrf"));
	char words[WORDS_MAX], held[WORDS_MAX];
	int over, ask;
	const char *notice = notice_words(srv, authz, words, &over);

	/*
	 * Another request is offered only when it would go: not while a
	 * report pause or the push limit holds the user's requests, which
	 * the page says instead (the flow's notice may say so already).
	 */
	ask = over;
	if (again) {
		if (!push_held(srv, mfa_str(authz, "user"), held))
			ask = 1;
		else if (notice == NULL)
			notice = held;
	}
	/*
	 * A problem shown on the page is the first word of its title: an
	 * error, or the request that ended unanswered (which is no error of
	 * the person's, and keeps the page's 200).
	 */
	int error = message != NULL && status >= 400;
	int ended = message != NULL && again && !error;
	code_field f = {
		.notice = notice != NULL,
		.message = message != NULL,
		.invalid = message != NULL && status == 401,
		/* Not over the number: there the field waits below it. */
		.focus = txn == NULL || message != NULL,
	};
	af_buf b;

	af_page_allow_form_target(resp, json_string_value(json_object_get(
						authz, "redirect_uri")));
	af_buf_init(&b, 65536);
	if (txn != NULL)
		af_page_begin(&b, resp,
			      error ? "Error: Confirm on your phone"
				    : "Confirm on your phone");
	else
		af_page_begin(&b, resp,
			      error   ? "Error: Enter your token code"
			      : ended ? "Request expired: Enter your token code"
				      : "Enter your token code");
	if (txn != NULL) {
		push_part(&b, flow, txn);
		/* The demo's phone is a page of this server. */
		if (srv->demo)
			af_buf_puts(&b,
				    "<p class=\"help\">In this demo the "
				    "phone is a web page: open <a "
				    "href=\"/demo/phone\" target=\"_blank\" "
				    "rel=\"noopener\">the demo phone</a> in "
				    "another tab and answer there.</p>");
		af_buf_puts(&b, "<h2>Use a token code instead</h2>");
	} else {
		af_buf_puts(&b, "<h1>Enter your token code</h1>");
	}
	if (notice != NULL) {
		af_buf_puts(&b, "<p class=\"msg info\" id=\"code-note\">");
		af_buf_html(&b, notice);
		af_buf_puts(&b, "</p>");
	}
	if (message != NULL) {
		af_buf_puts(&b,
			    "<p class=\"msg\" role=\"alert\" id=\"code-err\">");
		af_buf_html(&b, message);
		af_buf_puts(&b, "</p>");
	}
	if (ask)
		ask_form(&b, flow, csrf != NULL ? csrf : "",
			 again ? "Send another request"
			       : "Send a request to my phone");
	code_form(&b, flow, csrf != NULL ? csrf : "", &f);
	if (again)
		again_link(&b, flow);
	cancel_form(&b, flow, csrf != NULL ? csrf : "");
	af_buf_puts(&b, "<script src=\"/static/mfa.js\"></script>");
	af_page_end(&b, resp);
	af_page_send(resp, status, &b);
}

/*
 * Forgets the flow's MFA state, so that it starts again at the password:
 * the flow as authz loaded it (authz then holds the reset flow). A flow
 * that changed meanwhile (a password step in another tab, with its own
 * challenge and binding) is left as it is.
 */
static void reset_flow(af_server *srv, const char *flow, json_t *authz)
{
	const char *user = mfa_str(authz, "user");
	json_t *was = json_deep_copy(authz);

	/*
	 * Starting again, the person types the password only: the form
	 * keeps the name the password was checked for (failing that, the
	 * application's login_hint).
	 */
	if (user != NULL)
		(void)json_object_set_new(authz, AF_FLOW_AGAIN_USER,
					  json_string(user));
	json_object_del(authz, "mfa");
	if (was == NULL || af_flow_replace(srv, flow, was, authz) < 0)
		log_warn(srv->log, NULL, "mfa", "could not reset a flow");
	json_decref(was);
}

/* What flow_txn() found besides a transaction. */
enum txn_found { TXN_FOUND, TXN_STORE_FAILED, TXN_GONE };

/*
 * The flow's transaction (new reference), or NULL when it has none: then
 * *found says whether the store failed, or whether the flow names one
 * that is no longer kept (TXN_GONE).
 *
 * A transaction's record outlives its flow (AF_MFA_TXN_KEEP_S), so one
 * gone is one the store lost: its decision is not known, and may have
 * been a denial. Such a flow is over, never one that may send again.
 */
_Static_assert(AF_MFA_TXN_KEEP_S >= AF_FLOW_TTL_S,
	       "a transaction's record outlives its flow");
static json_t *flow_txn(af_server *srv, const af_req *req, const json_t *authz,
			enum txn_found *found)
{
	const char *id = mfa_str(authz, "txn");
	json_t *txn = NULL;
	af_mfa_status st;

	*found = TXN_FOUND;
	if (id == NULL)
		return NULL;
	st = af_mfa_seam_txn_get(srv, req->rid, id, af_now(), &txn);
	if (st != AF_MFA_OK) {
		*found = st == AF_MFA_NOT_FOUND ? TXN_GONE : TXN_STORE_FAILED;
		return NULL;
	}
	return txn;
}

/*
 * A sign-in without a push (legacy workflow, pushes paused or limited)
 * has no transaction for a removal or a disabling to cancel: its page
 * looks at the user, rather than offer a code form that cannot succeed.
 * 1 with the refusal made, else 0 (also when the store fails: the code
 * step looks again).
 */
static int user_refused(af_server *srv, const char *flow, const json_t *authz,
			af_resp *resp)
{
	const char *gone = user_gone(srv, mfa_str(authz, "user"));

	if (gone == NULL)
		return 0;
	mark_refused(srv, flow, authz);
	not_completed(resp, flow, authz, gone_cause(gone),
		      "Your account cannot sign in at the moment.",
		      "Contact your administrator if you need it.");
	return 1;
}

/* The MFA page of flow (malloc'd), or NULL when out of memory. */
static char *page_url(const char *flow)
{
	af_buf b;

	af_buf_init(&b, 256);
	af_buf_puts(&b, "/login/mfa?flow=");
	af_buf_urlenc(&b, flow);
	return af_buf_take(&b, NULL);
}

void af_mfa_to_page(af_resp *resp, const char *flow)
{
	char *url = page_url(flow);

	if (url == NULL)
		af_page_unavailable(resp);
	else
		af_resp_redirect(resp, 303, url);
	free(url);
}

void af_h_mfa_page(af_server *srv, af_req *req, af_resp *resp)
{
	const char *flow = af_req_param(req, "flow");
	json_t *authz, *txn = NULL;
	const char *state;
	char words[WORDS_MAX];
	enum txn_found found;

	authz = load(srv, req, resp, NULL, 0);
	if (authz == NULL)
		return;
	txn = flow_txn(srv, req, authz, &found);
	if (found == TXN_STORE_FAILED) {
		af_page_unavailable(resp);
		goto out;
	}
	state = json_string_value(json_object_get(txn, "state"));
	if (found == TXN_GONE) {
		reset_flow(srv, flow, authz);
		outcome_page(srv, resp, flow, authz, "gone", NULL);
	} else if (state != NULL && strcmp(state, "approved") == 0)
		complete(
			srv, req, resp, authz, "swk",
			json_string_value(json_object_get(txn, "decided_by")),
			json_integer_value(json_object_get(txn, "decided_at")));
	else if (state != NULL && strcmp(state, "expired") == 0)
		/* Nobody answered the push: another may be, or a code. */
		show_page(srv, resp, 200, flow, authz, NULL,
			  push_held(srv, mfa_str(authz, "user"), words)
				  ? "Nobody answered on the phone within 30 "
				    "seconds."
				  : "Nobody answered on the phone within 30 "
				    "seconds. Send another request to your "
				    "phone, or type a token code from your "
				    "app instead.",
			  1);
	else if (state != NULL && strcmp(state, "pending") != 0)
		outcome_page(srv, resp, flow, authz, state, txn);
	else if (txn != NULL || !user_refused(srv, flow, authz, resp))
		show_page(srv, resp, 200, flow, authz, txn, NULL, 0);
out:
	json_decref(txn);
	json_decref(authz);
}

void af_h_mfa_status(af_server *srv, af_req *req, af_resp *resp)
{
	const char *flow = af_req_param(req, "flow");
	json_t *authz, *txn = NULL, *o;
	const char *state;
	int64_t left;
	enum txn_found found;

	authz = load(srv, req, resp, NULL, 1);
	if (authz == NULL)
		return;
	txn = flow_txn(srv, req, authz, &found);
	if (found == TXN_STORE_FAILED) {
		af_resp_json(
			resp, 503,
			json_pack("{s:s}", "error", "temporarily_unavailable"));
		goto out;
	}
	if (found == TXN_GONE) {
		/*
		 * Its record lost: the sign-in is over, as for a cancelled
		 * one (a token code no longer finishes it); the page says
		 * the rest.
		 */
		af_resp_json(resp, 200,
			     json_pack("{s:s, s:n, s:i}", "state", "cancelled",
				       "number", "expires_in", 0));
		goto out;
	}
	if (txn == NULL) {
		/*
		 * No push for this sign-in (legacy workflow, no phone that can
		 * take one, pushes paused): it waits for the token code.
		 */
		af_resp_json(resp, 200,
			     json_pack("{s:s, s:n, s:i}", "state", "pending",
				       "number", "expires_in", 0));
		goto out;
	}
	state = json_string_value(json_object_get(txn, "state"));
	left = af_mfa_txn_left(txn, af_now());
	o = json_pack("{s:s, s:I}", "state", state != NULL ? state : "",
		      "expires_in", (json_int_t)left);
	if (o != NULL) {
		/* The number only while it can still be used. */
		if (state != NULL && strcmp(state, "pending") == 0)
			json_object_set(o, "number",
					json_object_get(txn, "number"));
		else
			json_object_set_new(o, "number", json_null());
		if (state != NULL && strcmp(state, "approved") == 0) {
			char *next = page_url(flow);

			if (next != NULL)
				json_object_set_new(o, "next",
						    json_string(next));
			free(next);
		}
	}
	af_resp_json(resp, 200, o);
out:
	json_decref(txn);
	json_decref(authz);
}

/*
 * Ends the flow's transaction if it is still pending (code used, cancel):
 * 1 when this ended it.
 */
static int cancel_txn(af_server *srv, const json_t *authz)
{
	const char *id = mfa_str(authz, "txn");
	json_t *out = NULL;

	if (id == NULL || af_mfa_txn_decide(srv->store, id, NULL, "cancel",
					    NULL, af_now(), &out) != AF_MFA_OK)
		return 0;
	json_decref(out);
	return 1;
}

/*
 * The audit event of a wrong token code: someone who knows the password
 * is guessing, or a phone's clock is off. By "ip:<address>" on the user.
 */
static void audit_wrong_code(af_server *srv, const af_req *req,
			     const char *user, int replayed, int64_t tries)
{
	char actor[AF_DIR_ACTOR_MAX];
	json_t *detail =
		json_pack("{s:s, s:I}", "code", replayed ? "replayed" : "wrong",
			  "tries", (json_int_t)tries);

	snprintf(actor, sizeof(actor), "ip:%s", req->client_ip);
	af_audit_record_or_log(srv->dir, srv->log, req->client_ip, req->rid,
			       actor, "mfa.code_wrong", user, detail);
	json_decref(detail);
}

/* A transaction state after which the sign-in must start again. */
static int state_ends_flow(const char *state)
{
	return state != NULL &&
	       (strcmp(state, "failed") == 0 || strcmp(state, "denied") == 0 ||
		strcmp(state, "reported") == 0 ||
		strcmp(state, "cancelled") == 0);
}

/*
 * Counts one token code try of the flow, atomically (so that parallel
 * posts cannot try more): 0 and *tries, the count with this one, or -1
 * when the store failed. The count is the flow's, not its password
 * step's: typing the password again gives no new tries. It outlives the
 * flow (AF_FLOW_TTL_S from its first try).
 */
static int count_try(af_server *srv, const char *flow, int64_t *tries)
{
	char key[160];

	if ((size_t)snprintf(key, sizeof(key), "mfa_tries:%s", flow) >=
	    sizeof(key))
		return -1;
	return store_incr(srv->store, key, 1, (uint64_t)AF_FLOW_TTL_S * 1000,
			  tries) == STORE_OK
		       ? 0
		       : -1;
}

/*
 * The token code as typed, without the spaces it is often copied with
 * from an authenticator app ("123 456"), into out; NULL when more than
 * cap - 1 characters are left (no code).
 */
static const char *code_digits(const char *typed, char *out, size_t cap)
{
	size_t n = 0;

	if (typed == NULL)
		return NULL;
	for (; *typed != '\0'; typed++) {
		if (*typed == ' ')
			continue;
		if (n + 1 >= cap)
			return NULL;
		out[n++] = *typed;
	}
	out[n] = '\0';
	return out;
}

/*
 * The user (or, for a known browser, this browser) is locked: the sign-in
 * ends, back at the password, and the page says for how long. step names
 * the step that found it, for the log.
 */
static void locked_out(af_server *srv, const af_req *req, af_resp *resp,
		       json_t *authz, const char *known, uint32_t wait_s,
		       const char *step)
{
	const char *flow = af_req_param(req, "flow");
	char msg[160];

	af_metrics_login(srv->metrics, AF_LOGIN_LOCKED);
	af_event_login(srv->log, LOG_LEVEL_WARN, req, mfa_str(authz, "user"),
		       "locked", "step=%s%s", step,
		       known[0] != '\0' ? " known_browser=1" : "");
	(void)cancel_txn(srv, authz);
	reset_flow(srv, flow, authz);
	af_page_locked(wait_s, known[0] != '\0', msg, sizeof(msg));
	af_page_error(resp, 403,
		      known[0] != '\0' ? "Sign-in locked" : "Account locked",
		      msg, NULL);
}

/*
 * For a step that goes on after the password whatever delay runs: the
 * flow's user locked is refused (locked_out()), a store failure too. 1
 * with the answer written, else 0; known gets the browser's known id.
 */
static int refused_locked(af_server *srv, const af_req *req, af_resp *resp,
			  json_t *authz, char known[AF_KNOWN_ID_BUF],
			  const char *step)
{
	uint32_t wait_s = 0;
	af_dir_status dst;

	(void)af_known_browser(srv, req, mfa_str(authz, "user"), known);
	dst = af_throttle_check(srv->dir, mfa_str(authz, "user"),
				req->client_ip, known, &wait_s);
	if (dst == AF_DIR_OK || dst == AF_DIR_WAIT)
		return 0;
	if (dst == AF_DIR_LOCKED)
		locked_out(srv, req, resp, authz, known, wait_s, step);
	else
		af_page_unavailable(resp);
	return 1;
}

/*
 * The flow of a form posted from the MFA page, and its transaction (new
 * references, NULL when none; the caller releases both): 0, or -1 with
 * the answer written: a form without its flow's token, a store failure,
 * or a request that failed, was denied or reported, which ends the
 * sign-in.
 */
static int posted(af_server *srv, af_req *req, af_resp *resp, json_t **authz,
		  json_t **txn)
{
	const char *flow = af_req_param(req, "flow");
	const char *csrf = af_req_param(req, "csrf");
	const char *state;
	enum txn_found found;

	*authz = *txn = NULL;
	if (af_page_refuse_repeated(req, resp))
		return -1;
	if (req->form == NULL || csrf == NULL) {
		af_page_flow_expired(resp);
		return -1;
	}
	*authz = load(srv, req, resp, csrf, 0);
	if (*authz == NULL)
		return -1;
	*txn = flow_txn(srv, req, *authz, &found);
	if (found == TXN_STORE_FAILED) {
		af_page_unavailable(resp);
		return -1;
	}
	state = found == TXN_GONE
			? "gone"
			: json_string_value(json_object_get(*txn, "state"));
	if (found == TXN_GONE || state_ends_flow(state)) {
		reset_flow(srv, flow, *authz);
		outcome_page(srv, resp, flow, *authz, state, *txn);
		return -1;
	}
	return 0;
}

/*
 * Counts a token-code try of the flow's user (af_mfa_code_try()): 0 to
 * check the code, 1 with the page written when the user's tries are
 * spent (the code is not checked: a push, or the end of the count, is
 * the way on) or the store did not count it.
 */
static int user_tries_spent(af_server *srv, const af_req *req, af_resp *resp,
			    const char *flow, json_t *authz, json_t *txn,
			    int unanswered)
{
	const char *user = mfa_str(authz, "user"), *way;
	char words[WORDS_MAX], when[48];
	int64_t n = 0, left_s = 0;

	if (af_mfa_code_try(srv->store, user,
			    af_dir_options_get(srv->dir)->throttle.lock_s, &n,
			    &left_s) != AF_MFA_OK) {
		af_page_unavailable(resp);
		return 1;
	}
	if (n <= AF_MFA_CODE_USER_TRIES)
		return 0;
	af_metrics_login(srv->metrics, AF_LOGIN_THROTTLED);
	af_event_login(srv->log, LOG_LEVEL_WARN, req, user, "throttled",
		       "step=code why=user_code_tries tries=%lld",
		       (long long)n);
	way = txn != NULL  ? "Approve the request on your phone"
	      : unanswered ? "Send another request to your phone"
			   : "Sign in again from the application";
	if (left_s > 0)
		about(left_s, when, sizeof(when));
	snprintf(words, sizeof(words),
		 "Too many wrong token codes were typed for this account. %s, "
		 "%s%s.",
		 way,
		 left_s > 0 ? "or try a code again in "
			    : "or ask your administrator to unlock it",
		 left_s > 0 ? when : "");
	show_page(srv, resp, 429, flow, authz, txn, words, unanswered);
	return 1;
}

void af_h_mfa_code(af_server *srv, af_req *req, af_resp *resp)
{
	const char *flow = af_req_param(req, "flow");
	char typed[16];
	const char *code =
		code_digits(af_req_param(req, "code"), typed, sizeof(typed));
	char device[AF_MFA_ID_BUF], msg[160], said[160];
	char turn_of[AF_DIR_USERNAME_MAX + 1];
	char known[AF_KNOWN_ID_BUF] = "";
	json_t *authz, *txn;
	const char *user, *state;
	int64_t tries = 0;
	uint32_t wait_s = 0;
	af_dir_status dst;
	af_mfa_status st;
	af_throttle_turn turn = {0};
	int unanswered;

	if (posted(srv, req, resp, &authz, &txn) != 0)
		goto out;
	user = mfa_str(authz, "user");
	state = json_string_value(json_object_get(txn, "state"));
	/* A request nobody answered can still be sent again. */
	unanswered = state != NULL && strcmp(state, "expired") == 0;
	if (state != NULL && strcmp(state, "pending") != 0) {
		json_decref(txn);
		txn = NULL;
	}
	/*
	 * The user's limits, the code and the count of its failure are one
	 * step once the user has failed, as for passwords: parallel guesses
	 * in other flows cannot slip past the delay or the lock. A code is
	 * checked in a moment, so a check that finds the turn taken does
	 * not wait on this thread; the person tries again.
	 */
	(void)af_known_browser(srv, req, user, known);
	dst = af_throttle_begin(srv->dir, user, known, 0, &turn);
	/* The flow's copy of the name goes when the flow is reset. */
	snprintf(turn_of, sizeof(turn_of), "%s", user != NULL ? user : "");
	if (dst == AF_DIR_CONFLICT) {
		af_metrics_login(srv->metrics, AF_LOGIN_THROTTLED);
		af_event_login(srv->log, LOG_LEVEL_INFO, req, user, "throttled",
			       "step=code wait_s=1 why=concurrent_check");
		af_resp_header_set(resp, "Retry-After", "1");
		show_page(srv, resp, 429, flow, authz, txn,
			  "Another sign-in as this user is being checked. "
			  "Try again in a moment.",
			  unanswered);
		goto out;
	}
	if (dst == AF_DIR_OK)
		dst = af_throttle_check(srv->dir, user, req->client_ip, known,
					&wait_s);
	if (dst == AF_DIR_LOCKED) {
		locked_out(srv, req, resp, authz, known, wait_s, "code");
		goto out;
	}
	if (dst == AF_DIR_WAIT) {
		af_metrics_login(srv->metrics, AF_LOGIN_THROTTLED);
		af_event_login(srv->log, LOG_LEVEL_INFO, req, user, "throttled",
			       "step=code wait_s=%u", (unsigned)wait_s);
		af_page_throttled(resp, wait_s, msg, sizeof(msg));
		show_page(srv, resp, 429, flow, authz, txn, msg, unanswered);
		goto out;
	}
	/* Failures cannot be counted just now: no code is checked. */
	if (dst == AF_DIR_OK && af_login_uncounted(srv)) {
		af_page_unavailable(resp);
		goto out;
	}
	/* Count the try before checking, so parallel posts cannot exceed. */
	if (dst != AF_DIR_OK || count_try(srv, flow, &tries) != 0) {
		af_page_unavailable(resp);
		goto out;
	}
	/*
	 * The flow's tries are used up (before this password step, or by
	 * posts alongside this one): the code is not checked, so it counts
	 * as no failure; a request on the phone stands.
	 */
	if (tries > AF_MFA_CODE_TRIES) {
		show_page(srv, resp, 429, flow, authz, txn,
			  txn != NULL  ? "Too many wrong token codes were "
					 "typed in this sign-in. Approve the "
					 "request on your phone, or sign in "
					 "again from the application."
			  : unanswered ? "Too many wrong token codes were "
					 "typed in this sign-in. Send another "
					 "request to your phone, or sign in "
					 "again from the application."
				       : "Too many wrong token codes were "
					 "typed in this sign-in. Sign in "
					 "again from the application.",
			  unanswered);
		goto out;
	}
	if (user_tries_spent(srv, req, resp, flow, authz, txn, unanswered))
		goto out;
	st = AF_MFA_MISMATCH;
	if (code != NULL)
		st = af_mfa_code_check(srv->store, user, code, af_now(), device,
				       sizeof(device));
	if (st == AF_MFA_OK) {
		complete(srv, req, resp, authz, "otp", device, af_now());
		goto out;
	}
	if (st == AF_MFA_STORE || st == AF_MFA_NOMEM) {
		af_page_unavailable(resp);
		goto out;
	}
	af_metrics_mfa(srv->metrics, st == AF_MFA_REPLAY
					     ? AF_MFA_OUT_CODE_REPLAYED
					     : AF_MFA_OUT_CODE_WRONG);
	audit_wrong_code(srv, req, user, st == AF_MFA_REPLAY, tries);
	/*
	 * Fail closed, as for a password: a wrong code that was not counted
	 * is not told as one, and for a while no code is checked at all.
	 */
	if (af_throttle_fail_from(srv->dir, user, req->client_ip, req->rid,
				  known) != AF_DIR_OK) {
		af_login_uncounted_pause(srv, req, "token code");
		af_page_unavailable(resp);
		goto out;
	}
	log_info(srv->log, req->rid, "mfa", "user=%s code=%s tries=%lld", user,
		 st == AF_MFA_REPLAY ? "replayed" : "wrong", (long long)tries);
	if (tries >= AF_MFA_CODE_TRIES) {
		(void)cancel_txn(srv, authz);
		reset_flow(srv, flow, authz);
		outcome_page(srv, resp, flow, authz, "too_many", NULL);
		goto out;
	}
	/* How many more may be typed before the sign-in ends (WCAG 3.3.3). */
	snprintf(said, sizeof(said),
		 "%s You have %lld more tr%s before this sign-in ends.",
		 st == AF_MFA_REPLAY
			 ? "That code was already used. Wait for the next one."
			 : "That code is not right.",
		 (long long)(AF_MFA_CODE_TRIES - tries),
		 AF_MFA_CODE_TRIES - tries == 1 ? "y" : "ies");
	show_page(srv, resp, 401, flow, authz, txn, said, unanswered);
out:
	af_throttle_end(srv->dir, turn_of, known, &turn);
	OPENSSL_cleanse(typed, sizeof(typed));
	json_decref(txn);
	json_decref(authz);
}

void af_h_mfa_cancel(af_server *srv, af_req *req, af_resp *resp)
{
	const char *flow = af_req_param(req, "flow");
	const char *csrf = af_req_param(req, "csrf");
	json_t *authz;

	if (af_page_refuse_repeated(req, resp))
		return;
	if (req->form == NULL || csrf == NULL) {
		af_page_flow_expired(resp);
		return;
	}
	authz = load(srv, req, resp, csrf, 0);
	if (authz == NULL)
		return;
	if (cancel_txn(srv, authz))
		af_metrics_mfa(srv->metrics, AF_MFA_OUT_CANCELLED);
	reset_flow(srv, flow, authz);
	outcome_page(srv, resp, flow, authz, "cancelled", NULL);
	json_decref(authz);
}

/* The audit event of an enrollment code a user made for themselves. */
static void audit_own_code(af_server *srv, const af_req *req,
			   const char *username, af_enroll_why why,
			   const char *code)
{
	char actor[AF_DIR_ACTOR_MAX], code_id[AF_MFA_CODE_ID_BUF];
	json_t *detail;

	af_mfa_enroll_code_id(code, code_id);
	detail = json_pack("{s:s, s:s}", "via",
			   why == AF_ENROLL_ANOTHER || why == AF_ENROLL_FIRST
				   ? "enroll_page"
				   : "sign_in",
			   "code_id", code_id);
	snprintf(actor, sizeof(actor), "user:%s", username);
	af_audit_record_or_log(srv->dir, srv->log, req->client_ip, req->rid,
			       actor, "device.enroll_code", username, detail);
	json_decref(detail);
}

/* The first words of the enrollment page: why it is shown. */
static const char *enroll_intro(af_enroll_why why)
{
	switch (why) {
	case AF_ENROLL_REPLACED:
		return "Your account needs a second sign-in step, and its phone "
		       "was removed.";
	case AF_ENROLL_ANOTHER:
	case AF_ENROLL_FIRST:
		return "Add a phone to your account.";
	case AF_ENROLL_STEP_UP:
		return "This application asks for a second sign-in step, and "
		       "no phone is enrolled on your account.";
	case AF_ENROLL_NO_DEVICE:
	default:
		return "Your account needs a second sign-in step, and no phone "
		       "is enrolled for it yet.";
	}
}

/*
 * The enrollment code in groups of four ("UIJQ IO2V MFPX IVXA"), which
 * the app takes as typed: read out, copied, or wrapped on a narrow
 * screen, it keeps its first character with the rest.
 */
static void code_groups(af_buf *b, const char *code)
{
	size_t i, n = strlen(code);

	for (i = 0; i < n; i += 4) {
		char group[5];
		size_t k = n - i < 4 ? n - i : 4;

		memcpy(group, code + i, k);
		group[k] = '\0';
		if (i > 0)
			af_buf_puts(b, " ");
		af_buf_puts(b, "<span class=\"nowrap\">");
		af_buf_html(b, group);
		af_buf_puts(b, "</span>");
		OPENSSL_cleanse(group, sizeof(group));
	}
}

void af_mfa_enroll_page(af_server *srv, const af_req *req, af_resp *resp,
			const char *username, int offer_qr, af_enroll_why why,
			const char *flow, const json_t *authz)
{
	char code[AF_MFA_ID_BUF];
	int64_t expires = 0;
	af_buf b, uri;
	char *text = NULL;
	af_mfa_status allowed = AF_MFA_FORBIDDEN, made = AF_MFA_FORBIDDEN;
	unsigned status = 200;

	if (offer_qr && why != AF_ENROLL_REPLACED)
		allowed = af_mfa_own_code_allowed(srv->store, username);
	if (allowed == AF_MFA_OK)
		made = af_mfa_enroll_code_new(
			srv->store, username,
			why == AF_ENROLL_ANOTHER ? AF_MFA_CODE_ANOTHER_PHONE
						 : AF_MFA_CODE_FIRST_PHONE,
			code, sizeof(code), &expires);
	/* A refusal is the first word of the title, as on error pages. */
	af_buf_init(&b, 131072);
	af_page_begin(&b, resp,
		      allowed == AF_MFA_LIMIT
			      ? "Wait before asking again: Set up your "
				"authenticator"
		      : made == AF_MFA_LIMIT
			      ? "Too many phones: Set up your authenticator"
			      : "Set up your authenticator");
	af_buf_puts(&b, "<h1>Set up your authenticator</h1><p class=\"msg "
			"info\">");
	af_buf_puts(&b, enroll_intro(why));
	af_buf_puts(&b, "</p>");
	if (allowed == AF_MFA_LIMIT) {
		log_info(srv->log, req->rid, "mfa",
			 "user=%s enroll_codes_limited=1", username);
		status = 429;
		af_resp_header_set(resp, "Retry-After", "600");
		af_buf_puts(&b, "<p class=\"msg\" role=\"alert\">You have "
				"asked for several enrollment codes in the "
				"last ten minutes. Use the last one you were "
				"shown, or come back in ten minutes for a new "
				"one.</p>");
		goto send;
	}
	if (made == AF_MFA_LIMIT) {
		status = 409;
		af_buf_printf(&b,
			      "<p class=\"msg\" role=\"alert\">Your account "
			      "already has %d phones, the most it may have. "
			      "Ask your administrator to remove one you no "
			      "longer use, then add this one.</p>",
			      AF_MFA_DEVICES_MAX);
	} else if (made == AF_MFA_OK) {
		audit_own_code(srv, req, username, why, code);
		af_buf_init(&uri, 2048);
		af_buf_puts(&uri, "authflow://enroll?issuer=");
		af_buf_urlenc(&uri, srv->cfg.issuer);
		af_buf_puts(&uri, "&code=");
		af_buf_urlenc(&uri, code);
		af_buf_puts(&uri, "&user=");
		af_buf_urlenc(&uri, username);
		text = af_buf_take(&uri, NULL);
		af_buf_puts(&b, why == AF_ENROLL_ANOTHER
					? "<p>Scan this code with the "
					  "authenticator app on the new phone "
					  "within ten minutes.</p>"
					: "<p>Scan this code with the "
					  "authenticator app within ten "
					  "minutes, then sign in to the "
					  "application again.</p>");
		if (text == NULL || af_qr_svg(&b, text) != 0)
			af_buf_puts(&b, "<p>(The QR code could not be drawn.)"
					"</p>");
		af_buf_puts(&b,
			    "<p class=\"code\">Or type this enrollment code "
			    "in the app: <code>");
		code_groups(&b, code);
		/* What the QR code also holds, for one typed by hand. */
		af_buf_puts(&b, "</code>, with the server <code>");
		af_buf_html(&b, srv->cfg.issuer);
		af_buf_puts(&b, "</code> and your user name <code>");
		af_buf_html(&b, username);
		af_buf_puts(&b, "</code>.</p>");
		/* On the phone itself a QR code cannot be scanned: a link. */
		if (text != NULL) {
			af_buf_puts(&b, "<p>On the phone itself: <a href=\"");
			af_buf_html(&b, text);
			af_buf_puts(&b, "\">open this enrollment in the "
					"authenticator app</a>.</p>");
		}
		OPENSSL_cleanse(code, sizeof(code));
		if (text != NULL) {
			OPENSSL_cleanse(text, strlen(text));
			free(text);
		}
	} else {
		af_buf_puts(&b, "<p>Ask your administrator for an enrollment "
				"code for your phone.</p>");
	}
send:
	if (flow != NULL && authz != NULL) {
		af_page_allow_form_target(
			resp, json_string_value(
				      json_object_get(authz, "redirect_uri")));
		af_page_back_form(
			&b, flow,
			json_string_value(json_object_get(authz, "csrf")));
	} else {
		/* Signed in at /enroll: the account's other pages. */
		af_page_account_nav(&b, "/enroll");
	}
	af_page_end(&b, resp);
	af_page_send(resp, status, &b);
}

/*
 * Whether a session that did not use a phone may set one up: only a
 * user's first phone, and only when the workflow offers enrollment after
 * the password, as the sign-in itself would. Otherwise a password alone
 * would add a phone beside (or in place of) the user's own and pass every
 * later MFA step. 1 yes, 0 no, -1 store failure.
 */
static int first_phone_allowed(af_server *srv, const char *username)
{
	json_t *wf = NULL;
	int first = 0, rc = -1;

	if (af_mfa_first_phone(srv->store, username, &first) != AF_MFA_OK ||
	    af_mfa_workflow_get(srv->store, &wf) != AF_MFA_OK)
		goto out;
	rc = first &&
	     json_is_true(json_object_get(wf, "enroll_after_password"));
out:
	json_decref(wf);
	return rc;
}

/*
 * The session of an /enroll request: 0 and *s, or -1 with the error page
 * made (not signed in, the store failed). A session whose user was
 * disabled, removed or had their sign-ins ended since enrolls nothing.
 */
static int enroll_session(af_server *srv, const af_req *req, af_resp *resp,
			  af_session *s)
{
	int rc = af_session_signed_in(srv, req, s);

	if (rc != 0)
		af_page_sign_in_first(
			resp, rc < 0,
			"Enrolling a phone needs you to be signed in.");
	return rc == 0 ? 0 : -1;
}

/*
 * A session that signed in with a phone may add another: while the user
 * still has one (a phone removed, as when lost, is replaced through an
 * administrator, as at sign-in), and within AF_ENROLL_RECENT_S of that
 * sign-in (a browser left signed in, or its cookie, does not add a
 * second factor days later). 0, or -1 with the page in resp.
 */
static int another_allowed(af_server *srv, af_resp *resp, const af_session *s)
{
	json_t *list = NULL;
	size_t n;

	if (af_mfa_device_list(srv->store, s->username, &list) != AF_MFA_OK) {
		af_page_unavailable(resp);
		return -1;
	}
	n = json_array_size(list);
	json_decref(list);
	if (n == 0) {
		af_page_error(resp, 403, "No phone to add to",
			      "Your phone was removed from your account, so "
			      "a new one cannot be added from this sign-in.",
			      "Ask your administrator for an enrollment code.");
		return -1;
	}
	if (af_now() - s->auth_time > AF_ENROLL_RECENT_S) {
		af_page_error(resp, 403, "Sign in again to add a phone",
			      "Adding a phone needs a sign-in with your phone "
			      "in the last ten minutes.",
			      "Sign out, sign in again, and add the phone "
			      "then.");
		return -1;
	}
	return 0;
}

/*
 * What session s may enroll, as the sign-in would allow: 0 and *why, or
 * -1 with the error page made. Asked again when the form is posted: the
 * workflow or the user's phones may have changed since it was shown.
 */
static int enroll_why(af_server *srv, af_resp *resp, const af_session *s,
		      af_enroll_why *why)
{
	int first, asks = 1;

	*why = AF_ENROLL_ANOTHER;
	if (strcmp(s->acr, AF_ACR_MFA) == 0)
		return another_allowed(srv, resp, s);
	first = first_phone_allowed(srv, s->username);
	/* As after the password: only where the user's policy asks. */
	if (first > 0)
		asks = af_mfa_seam_policy_asks_user(srv, s->username);
	if (first < 0 || asks < 0) {
		af_page_unavailable(resp);
		return -1;
	}
	if (!first) {
		af_page_error(resp, 403, "Sign in with your phone first",
			      "Adding a phone needs a sign-in that used the "
			      "phone you have.",
			      "Ask your administrator for an enrollment code.");
		return -1;
	}
	if (!asks) {
		af_page_error(resp, 403, "No phone needed",
			      "Your account signs in with its password "
			      "alone, so a phone is added to it with an "
			      "enrollment code from your administrator.",
			      "Ask your administrator for an enrollment code.");
		return -1;
	}
	*why = AF_ENROLL_FIRST;
	return 0;
}

/* The page of GET /enroll: a button that posts the form token. */
static void enroll_form_page(af_resp *resp, const af_session *s,
			     af_enroll_why why, const char *token)
{
	af_buf b;

	af_buf_init(&b, 16384);
	af_page_begin(&b, resp, "Set up your authenticator");
	af_buf_puts(&b, "<h1>Set up your authenticator</h1><p class=\"msg "
			"info\">");
	af_buf_puts(&b, enroll_intro(why));
	af_buf_puts(&b, "</p><p>You are signed in as <strong>");
	af_buf_html(&b, s->username);
	af_buf_puts(&b, "</strong>. The enrollment code for the "
			"authenticator app is good for ten minutes.</p>"
			"<form method=\"post\" action=\"/enroll\">"
			"<input type=\"hidden\" name=\"csrf\" value=\"");
	af_buf_html(&b, token);
	af_buf_puts(&b, "\"><button type=\"submit\">Show an enrollment "
			"code</button></form>");
	af_page_end(&b, resp);
	af_page_send(resp, 200, &b);
}

void af_h_enroll(af_server *srv, af_req *req, af_resp *resp)
{
	char token[AF_FORM_TOKEN_BUF];
	af_enroll_why why;
	af_session s;

	if (enroll_session(srv, req, resp, &s) != 0 ||
	    enroll_why(srv, resp, &s, &why) != 0)
		return;
	if (af_form_token(srv, &s, token, sizeof(token)) != 0)
		af_page_unavailable(resp);
	else
		enroll_form_page(resp, &s, why, token);
	OPENSSL_cleanse(token, sizeof(token));
}

void af_h_enroll_post(af_server *srv, af_req *req, af_resp *resp)
{
	af_enroll_why why;
	af_session s;
	int ok;

	if (enroll_session(srv, req, resp, &s) != 0)
		return;
	/* The token first: another site's post learns nothing more. */
	ok = af_form_token_ok(srv, req, &s);
	if (ok < 0) {
		af_page_unavailable(resp);
		return;
	}
	if (!ok) {
		log_warn(srv->log, req->rid, "mfa",
			 "user=%s enroll_form=refused", s.username);
		af_page_error(resp, 400, "Enrollment form expired",
			      "This form is no longer valid, so no enrollment "
			      "code was made.",
			      "Open the enrollment page again.");
		return;
	}
	if (enroll_why(srv, resp, &s, &why) != 0)
		return;
	af_mfa_enroll_page(srv, req, resp, s.username, 1, why, NULL, NULL);
}

/*
 * Another request to the phone, without the password again, for a sign-in
 * whose request expired unanswered or that got none (pushes paused or
 * over the limit, no phone that could take one): the phone step is asked
 * again with the user, their devices and the workflow as they are now.
 * A request still pending or approved stands (the browser goes back to
 * the page, and no second push goes out); one denied, reported or failed
 * ends the sign-in, as the code form finds it.
 */
void af_h_mfa_push(af_server *srv, af_req *req, af_resp *resp)
{
	const char *flow = af_req_param(req, "flow");
	json_t *authz, *txn, *user = NULL, *policy = NULL, *app = NULL;
	char known[AF_KNOWN_ID_BUF] = "";
	const char *state;

	if (posted(srv, req, resp, &authz, &txn) != 0)
		goto out;
	state = json_string_value(json_object_get(txn, "state"));
	if (state != NULL && strcmp(state, "expired") != 0) {
		af_mfa_to_page(resp, flow);
		goto out;
	}
	if (still_allowed(srv, req, resp, flow, authz, &user, &policy, &app) !=
	    0)
		goto out;
	/* A locked account gets no more requests on its phone. */
	if (!refused_locked(srv, req, resp, authz, known, "push"))
		af_mfa_ask_again(srv, req, resp, flow, authz, user, policy,
				 app);
out:
	json_decref(user);
	json_decref(policy);
	json_decref(app);
	json_decref(txn);
	json_decref(authz);
}
