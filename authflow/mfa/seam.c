/*
 * The MFA decision after a good password. With the remote_access_mfa
 * feature enabled, a user whose policy has remote access on, or whose
 * sign-in the application asked to have the MFA acr (authz "acr_mfa",
 * from acr_values), must pass a second factor:
 *   - no enrolled device: the enrollment page;
 *   - legacy workflow, no device recent enough, or pushes paused or over
 *     the limit: the token-code form only;
 *   - otherwise a transaction (with a number when number matching is on)
 *     that every eligible device can answer, and one push job per device
 *     that can take a push.
 * The flow remembers who passed the password and which transaction is
 * theirs; the browser goes on to /login/mfa. A password step for a flow
 * whose challenge is still pending for the same user keeps that
 * challenge (a second click sends no second push); of two that race,
 * the one that stores its transaction in the flow first wins, and the
 * other's transaction is cancelled before any push is queued. A
 * challenge nobody answered in time can be asked again from the MFA page
 * (af_mfa_ask_again()): a new transaction for the same flow, without the
 * password again, under the same push limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpparse.h"
#include "common/util.h"
#include "directory/audit.h"
#include "mfa/mfa.h"
#include "mfa/mfa_internal.h"
#include "mfa/seam.h"
#include "oidc/flow.h"
#include "web/events.h"
#include "web/mfa_pages.h"
#include "web/page.h"

/* Counts a push found unanswered past its expiry, and tells of it. */
static void tell_expired(af_server *srv, const char *rid, const json_t *noted)
{
	const char *user = json_string_value(json_object_get(noted, "user"));
	json_t *detail;

	af_metrics_mfa(srv->metrics, AF_MFA_OUT_EXPIRED);
	if (user == NULL)
		return;
	detail = af_mfa_txn_signin_detail(noted);
	af_audit_record_or_log(srv->dir, srv->log, NULL, rid,
			       AF_DIR_ACTOR_SERVER, "mfa.expired", user,
			       detail);
	json_decref(detail);
}

void af_mfa_seam_txn_seen(af_server *srv, const char *rid, const char *id,
			  int64_t now, const json_t *txn)
{
	const char *state = json_string_value(json_object_get(txn, "state"));
	json_t *noted = NULL;

	if (state == NULL || strcmp(state, "expired") != 0 ||
	    json_is_true(json_object_get(txn, "expiry_noted")) ||
	    af_mfa_txn_note_expiry(srv->store, id, now, &noted) != AF_MFA_OK)
		return;
	tell_expired(srv, rid, noted);
	json_decref(noted);
}

af_mfa_status af_mfa_seam_txn_get(af_server *srv, const char *rid,
				  const char *id, int64_t now, json_t **out)
{
	af_mfa_status st;

	st = af_mfa_txn_get(srv->store, id, now, out);
	if (st == AF_MFA_OK)
		af_mfa_seam_txn_seen(srv, rid, id, now, *out);
	return st;
}

static void swept(const json_t *txn, void *arg)
{
	tell_expired(arg, NULL, txn);
}

void af_mfa_seam_sweep(af_server *srv, af_mfa_sweep *sw, int64_t now)
{
	int64_t last = now - AF_MFA_SWEEP_LAG_S;
	uint64_t mono_s = af_mono_ns() / 1000000000u;
	unsigned slots = 0;
	size_t trimmed = 0;
	af_mfa_status st;

	if (sw->trimmed_s == 0 ||
	    mono_s - sw->trimmed_s >= AF_MFA_TRIM_EVERY_S) {
		sw->trimmed_s = mono_s > 0 ? mono_s : 1;
		st = af_mfa_push_trim(srv->store, &trimmed);
		/*
		 * Told once until a trim goes through: a store that is
		 * down is told by the store's watch already.
		 */
		if (st != AF_MFA_OK && !sw->trim_told)
			log_warn(srv->log, NULL, "mfa_sweep",
				 "old push jobs could not be taken off the "
				 "queue (%s); they go at a later try",
				 af_mfa_strerror(st));
		sw->trim_told = st != AF_MFA_OK;
		if (st == AF_MFA_OK && trimmed > 0)
			log_debug(srv->log, NULL, "mfa_sweep",
				  "took %zu old push jobs off the queue",
				  trimmed);
	}
	/* Past the records' lifetime there is nothing left to find. */
	if (sw->cursor < now - AF_MFA_TXN_KEEP_S) {
		sw->cursor = now - AF_MFA_TXN_KEEP_S;
		sw->tries = 0;
	}
	/*
	 * A cursor ahead of the clock, which was set back: the seconds
	 * before it were swept, those from now on are still to come.
	 */
	if (sw->cursor > last + 1) {
		sw->cursor = last;
		sw->tries = 0;
	}
	while (sw->cursor <= last && slots++ < AF_MFA_SWEEP_SLOTS_MAX) {
		st = af_mfa_txn_sweep(srv->store, sw->cursor, now, swept, srv);
		/*
		 * The store down: the second waits for it. The store up and
		 * the second still failing (a record that cannot be read):
		 * it is left after a few tries, not to hold up the others.
		 */
		if (st != AF_MFA_OK && (store_ping(srv->store) != STORE_OK ||
					++sw->tries < AF_MFA_SWEEP_TRIES))
			return;
		if (st != AF_MFA_OK)
			log_warn(srv->log, NULL, "mfa_sweep",
				 "the pushes that expired at %lld could not "
				 "all be checked (%s); they are left",
				 (long long)sw->cursor, af_mfa_strerror(st));
		sw->cursor++;
		sw->tries = 0;
	}
}

/*
 * Devices recent enough to answer a challenge (ids, new reference); *old
 * is set when a device was left out for an app below the workflow's
 * minimum version (the page then asks for an update).
 */
static json_t *eligible_devices(const json_t *devices, const json_t *wf,
				int *old)
{
	json_t *out = json_array(), *d;
	size_t i;

	*old = 0;
	json_array_foreach(devices, i, d)
	{
		const char *platform =
			json_string_value(json_object_get(d, "platform"));

		if (af_mfa_device_below_minimum(d, wf)) {
			*old = 1;
			continue;
		}
		/*
		 * A phone whose push token the push service refused gets no
		 * challenge: the page offers the token code at once.
		 */
		if (platform != NULL && strcmp(platform, "none") != 0 &&
		    json_is_false(json_object_get(d, "push_token_valid")))
			continue;
		json_array_append(out, json_object_get(d, "id"));
	}
	return out;
}

/*
 * A sign-in with the right password while pushes to the user pause after
 * a report (until then): the one who was reported may be trying again
 * (the report's own audit event names the user and its address).
 */
static void paused_signin(af_server *srv, const af_req *req,
			  const char *username, int64_t until)
{
	af_metrics_mfa(srv->metrics, AF_MFA_OUT_PUSH_PAUSED);
	af_event_login(srv->log, LOG_LEVEL_WARN, req, username, "push_paused",
		       "resume_in_s=%lld", (long long)(until - af_now()));
}

/*
 * No push for this sign-in: paused after a report, or over the limit.
 * Both are sign-in events (outcome push_paused, push_limited); the
 * limit, a usual sign of someone pushing a phone until it gives in (MFA
 * fatigue), is counted too, and its first refusal in a period is an
 * audit event (one, so that a flood of sign-ins cannot flood the trail).
 */
static void push_refused(af_server *srv, const af_req *req,
			 const char *username, const json_t *wf,
			 const af_mfa_push_verdict *v)
{
	const json_t *limit = json_object_get(wf, "push_limit");
	char actor[AF_DIR_ACTOR_MAX];
	long long left = (long long)(v->until - af_now());
	json_t *detail;

	if (strcmp(v->why, "paused") == 0) {
		paused_signin(srv, req, username, v->until);
		return;
	}
	af_metrics_mfa(srv->metrics, AF_MFA_OUT_PUSH_LIMITED);
	af_event_login(srv->log, LOG_LEVEL_WARN, req, username, "push_limited",
		       "resume_in_s=%lld", left);
	if (!v->first)
		return;
	/* By the address the sign-ins came from, as a wrong code is. */
	snprintf(actor, sizeof(actor), "ip:%s", req->client_ip);
	detail = json_pack("{s:O?, s:O?, s:I}", "count",
			   json_object_get(limit, "count"), "period_s",
			   json_object_get(limit, "period_s"), "until",
			   (json_int_t)v->until);
	af_audit_record_or_log(srv->dir, srv->log, req->client_ip, req->rid,
			       actor, "mfa.push_limited", username, detail);
	json_decref(detail);
}

/*
 * Gives back to the user's push limit the push counted for a challenge
 * that is not sent after all.
 */
static void give_back(af_server *srv, const af_req *req, const char *username,
		      const json_t *wf)
{
	if (af_mfa_push_unused(srv->store, username, wf) != AF_MFA_OK)
		log_warn(srv->log, req->rid, "mfa",
			 "could not give back an unused push");
}

/*
 * Starts a push transaction for the eligible ones of the user's devices
 * and names it in mfa: 0 and *txn (new reference), or -1 (code only)
 * when none is made. Its pushes wait for the flow to take it (see
 * send_pushes()).
 */
static int start_txn(af_server *srv, af_req *req, const json_t *app,
		     const json_t *user, const json_t *policy, const json_t *wf,
		     const json_t *eligible, json_t *mfa, json_t **txn)
{
	/*
	 * The user's policy may say otherwise than the workflow: a policy
	 * for people who cannot transcribe a number (WCAG 2.2, 3.3.8) has
	 * them approve without one.
	 */
	const json_t *nm = json_object_get(policy, "number_matching");
	char browser[HP_USER_AGENT_DESC_MAX];
	const char *name;
	json_t *spec;
	af_mfa_push_verdict v;
	af_mfa_status st;
	const char *username =
		json_string_value(json_object_get(user, "username"));

	st = af_mfa_push_check(srv->store, username, wf, af_now(), &v);
	if (st != AF_MFA_OK) {
		/*
		 * A store that failed sends no push either: the code may, and
		 * the page says the push could not be sent, not that a limit
		 * was reached.
		 */
		if (v.why == NULL)
			v.why = "unavailable";
		json_object_set_new(mfa, "notice", json_string(v.why));
		if (st == AF_MFA_LIMIT)
			push_refused(srv, req, username, wf, &v);
		else
			log_warn(srv->log, req->rid, "mfa",
				 "user=%s push_check=\"%s\"", username,
				 af_mfa_strerror(st));
		return -1;
	}
	/*
	 * The browser's address goes with the txn: a wrong number typed on
	 * the phone counts against it (device/handlers.c), and the phone
	 * shows it, with what the browser is.
	 */
	if (hp_user_agent_describe(af_req_header(req, "User-Agent"), browser,
				   sizeof(browser)) != HP_OK)
		browser[0] = '\0';
	/* The user's full name goes with it, for the phone to show. */
	name = json_string_value(json_object_get(user, "name"));
	spec = json_pack(
		"{s:s, s:O, s:O?, s:O, s:O, s:b, s:s?, s:s?, s:s?}", "user",
		username, "app", json_object_get(app, "client_id"), "app_name",
		json_object_get(app, "display_name"), "flow",
		json_object_get(mfa, "flow"), "devices", eligible,
		"number_matching",
		json_is_boolean(nm)
			? json_is_true(nm)
			: json_is_true(json_object_get(wf, "number_matching")),
		"ip",
		af_mfa__token_ok(req->client_ip, AF_MFA__IP_MAX)
			? req->client_ip
			: NULL,
		"browser", browser[0] != '\0' ? browser : NULL, "display_name",
		name != NULL && name[0] != '\0' ? name : NULL);
	st = spec != NULL ? af_mfa_txn_new(srv->store, spec, af_now(), txn)
			  : AF_MFA_NOMEM;
	json_decref(spec);
	if (st != AF_MFA_OK) {
		/* Only the token code is left: said, so that it is seen. */
		log_warn(srv->log, req->rid, "mfa",
			 "user=%s txn_started=0 why=\"%s\"", username,
			 af_mfa_strerror(st));
		give_back(srv, req, username, wf);
		return -1;
	}
	af_mfa_txn_recheck_devices(srv->store, txn, af_now());
	json_object_set(mfa, "txn", json_object_get(*txn, "id"));
	return 0;
}

/* The flow took txn: one push job per device that can take a push. */
static void send_pushes(af_server *srv, af_req *req, const char *username,
			const json_t *txn, const json_t *devices,
			const json_t *wf)
{
	size_t queued = 0;

	if (af_mfa_push_enqueue(srv->store, txn, devices, wf, &queued) !=
	    AF_MFA_OK)
		log_warn(srv->log, req->rid, "mfa",
			 "could not queue push jobs");
	af_metrics_push_queued(srv->metrics, queued);
	/* The txn joins this line to the push's and the phone's. */
	log_info(srv->log, req->rid, "mfa",
		 "user=%s txn_started=1 txn=%s pushes=%zu", username,
		 json_string_value(json_object_get(txn, "id")), queued);
}

/*
 * 1 when a sign-in of the user was reported while this step made txn:
 * the walk of the report may have missed txn, indexed after it, so txn
 * is cancelled here as the report would have, and sends no push. The
 * report writes its pause before its last walk, so a txn the walk missed
 * sees the pause here. 0 otherwise, also when the store fails to say (the
 * push check just passed); -1 when txn could not be cancelled: it stays
 * answerable, so the step must not go on with it.
 */
static int reported_meanwhile(af_server *srv, const af_req *req,
			      const char *username, const json_t *txn,
			      const json_t *wf)
{
	int64_t paused = 0;
	json_t *out = NULL;
	af_mfa_status st;

	if (af_mfa_push_state(srv->store, username, wf, af_now(), &paused,
			      NULL) != AF_MFA_OK ||
	    paused <= 0)
		return 0;
	log_info(srv->log, req->rid, "mfa",
		 "user=%s txn_started=1 txn=%s pushes=0 why=paused", username,
		 json_string_value(json_object_get(txn, "id")));
	paused_signin(srv, req, username, paused);
	st = af_mfa_txn_cancel(srv->store,
			       json_string_value(json_object_get(txn, "id")),
			       AF_MFA_CANCEL_REPORT, af_now(), &out);
	if (st == AF_MFA_OK)
		json_decref(out);
	/* Decided, expired or gone meanwhile: no longer answerable either. */
	return st == AF_MFA_STORE || st == AF_MFA_NOMEM ? -1 : 1;
}

/* Ends the transaction id unanswered: no sign-in can finish with it. */
static void drop_txn(af_server *srv, const char *id)
{
	json_t *old = NULL;

	if (id != NULL && af_mfa_txn_decide(srv->store, id, NULL, "cancel",
					    NULL, af_now(), &old) == AF_MFA_OK)
		json_decref(old);
}

/*
 * 1 when the flow's transaction from an earlier password step is still
 * pending for this user, checked with the same password (the user's
 * sign-in generation unchanged) and not refused: that challenge stands,
 * and a second click or a re-sent form sends no second push.
 */
static int still_pending(af_server *srv, const json_t *authz,
			 const json_t *user)
{
	const json_t *mfa = json_object_get(authz, "mfa");
	const char *id = json_string_value(json_object_get(mfa, "txn"));
	const char *username =
		json_string_value(json_object_get(user, "username"));
	const char *state, *who;
	json_t *txn = NULL;
	int rc = 0;

	if (id == NULL || username == NULL ||
	    json_is_true(json_object_get(mfa, "refused")) ||
	    json_integer_value(json_object_get(mfa, "gen")) !=
		    af_dir_user_gen(user) ||
	    af_mfa_txn_get(srv->store, id, af_now(), &txn) != AF_MFA_OK)
		return 0;
	state = json_string_value(json_object_get(txn, "state"));
	who = json_string_value(json_object_get(txn, "user"));
	rc = state != NULL && strcmp(state, "pending") == 0 && who != NULL &&
	     strcmp(who, username) == 0;
	json_decref(txn);
	return rc;
}

/*
 * This step made a challenge but another step of the flow stored its
 * own first. When that one has none (it met the push limit just as this
 * one took the last push), this step takes the flow over, once, so that
 * the sign-in keeps the push that fits in the limit. 0 taken, 1 left to
 * the other step, -1 store failure.
 */
static int take_over_bare(af_server *srv, const af_req *req,
			  const char *flow_id, const char *username,
			  json_t *mfa)
{
	json_t *cur = NULL, *mine = NULL;
	const json_t *theirs;
	const char *who;
	/* This step rebound the flow: the request's cookie is the one from
	 * before (af_flow_rebind()). */
	int rc = af_flow_load_password_step(srv, req, flow_id, NULL, &cur);

	if (rc != 0)
		return rc == -2 ? -1 : 1;
	theirs = json_object_get(cur, "mfa");
	who = json_string_value(json_object_get(theirs, "user"));
	rc = 1;
	if (json_object_get(theirs, "txn") == NULL && who != NULL &&
	    strcmp(who, username) == 0) {
		mine = json_deep_copy(cur);
		if (mine != NULL && json_object_set(mine, "mfa", mfa) == 0)
			rc = af_flow_replace(srv, flow_id, cur, mine);
	}
	json_decref(mine);
	json_decref(cur);
	return rc;
}

/*
 * Asks the eligible ones of the user's devices to approve this flow (or
 * notes in mfa why it asks none), stores mfa in the flow in place of
 * authz, queues the pushes once the flow holds the transaction, and sends
 * the browser on to the MFA page (or writes the page of a store failure).
 */
static void ask(af_server *srv, af_req *req, af_resp *resp, const char *flow_id,
		const json_t *authz, const json_t *user, const json_t *policy,
		const json_t *app, const json_t *wf, const json_t *devices,
		json_t *mfa)
{
	const char *username =
		json_string_value(json_object_get(user, "username"));
	json_t *eligible, *saved = NULL, *txn = NULL;
	int old = 0, rc = -1, reported = 0;

	eligible = eligible_devices(devices, wf, &old);
	if (eligible == NULL) {
		af_page_unavailable(resp);
		goto out;
	}
	/*
	 * No device to ask: the page says why, so that a user whose app is
	 * too old learns that an update brings the requests back.
	 */
	if (json_is_true(json_object_get(wf, "legacy")))
		json_object_set_new(mfa, "notice", json_string("legacy"));
	else if (json_array_size(eligible) == 0)
		json_object_set_new(mfa, "notice",
				    json_string(old ? "old_app" : "no_push"));
	else
		(void)start_txn(srv, req, app, user, policy, wf, eligible, mfa,
				&txn);
	/* The flow now carries who passed the password, and their txn. */
	saved = json_deep_copy(authz);
	if (saved == NULL) {
		af_page_unavailable(resp);
		goto out;
	}
	json_object_set(saved, "mfa", mfa);
	rc = af_flow_replace(srv, flow_id, authz, saved);
	if (rc > 0 && txn != NULL)
		rc = take_over_bare(srv, req, flow_id, username, mfa);
	if (rc < 0) {
		af_page_unavailable(resp);
		goto out;
	}
	if (rc > 0) {
		/*
		 * Another step of this flow (a second click) got there
		 * first: its challenge is the one; this one never reaches a
		 * phone, and the browser goes on to the page.
		 */
		log_info(srv->log, req->rid, "mfa", "user=%s txn_superseded=1",
			 username);
	} else if (txn != NULL && (reported = reported_meanwhile(
					   srv, req, username, txn, wf)) != 0) {
		if (reported < 0) {
			/* Dropped below, or left to run out unpushed. */
			rc = -1;
			af_page_unavailable(resp);
			goto out;
		}
		/* Its page says the report cancelled it. */
		give_back(srv, req, username, wf);
	} else if (txn != NULL) {
		send_pushes(srv, req, username, txn, devices, wf);
	}
	af_mfa_to_page(resp, flow_id);
out:
	/* A challenge no flow holds reaches no phone, nor counts as sent. */
	if (txn != NULL && rc != 0) {
		drop_txn(srv, json_string_value(json_object_get(txn, "id")));
		give_back(srv, req, username, wf);
	}
	json_decref(txn);
	json_decref(eligible);
	json_decref(saved);
}

int af_mfa_seam_policy_asks(const af_server *srv, const json_t *policy)
{
	return srv->cfg.feature_remote_access_mfa &&
	       json_is_true(json_object_get(policy, "remote_access"));
}

int af_mfa_seam_policy_asks_user(af_server *srv, const char *username)
{
	json_t *user = NULL, *policy = NULL;
	af_dir_status st;
	int rc = -1;

	st = af_dir_user_get(srv->dir, username, &user);
	if (st == AF_DIR_OK)
		st = af_dir_policy_for_user(srv->dir, user, &policy);
	if (st == AF_DIR_OK)
		rc = af_mfa_seam_policy_asks(srv, policy);
	else if (st == AF_DIR_NOT_FOUND)
		rc = 0;
	json_decref(policy);
	json_decref(user);
	return rc;
}

/*
 * The workflow and the user's devices (new references): 0, or -1 with a
 * page in resp: the enrollment page of the sign-in flow_id (authz) when
 * the user has no device (left), or the page of a store failure. The
 * page offers a code only where a password alone may enroll a first
 * phone: the workflow offers it and the user's own policy (policy) asks
 * for the second step, not only the application's request.
 */
static int devices_of(af_server *srv, af_req *req, af_resp *resp,
		      const char *flow_id, const json_t *authz,
		      const char *username, const json_t *policy, json_t **wf,
		      json_t **devices)
{
	int had = 0, asks = af_mfa_seam_policy_asks(srv, policy);

	*wf = NULL;
	*devices = NULL;
	if (af_mfa_workflow_get(srv->store, wf) != AF_MFA_OK ||
	    af_mfa_device_list(srv->store, username, devices) != AF_MFA_OK) {
		af_page_unavailable(resp);
		return -1;
	}
	if (json_array_size(*devices) > 0)
		return 0;
	if (af_mfa_user_enrolled_before(srv->store, username, &had) !=
	    AF_MFA_OK) {
		af_page_unavailable(resp);
		return -1;
	}
	log_info(srv->log, req->rid, "mfa", "user=%s no_device=1%s%s", username,
		 had ? " removed=1" : "", asks ? "" : " step_up=1");
	af_mfa_enroll_page(srv, req, resp, username,
			   asks && json_is_true(json_object_get(
					   *wf, "enroll_after_password")),
			   had	  ? AF_ENROLL_REPLACED
			   : asks ? AF_ENROLL_NO_DEVICE
				  : AF_ENROLL_STEP_UP,
			   flow_id, authz);
	return -1;
}

af_mfa_result af_mfa_after_password(af_server *srv, af_req *req, af_resp *resp,
				    const char *flow_id, const json_t *authz,
				    const json_t *user, const json_t *policy,
				    const json_t *app)
{
	const char *username =
		json_string_value(json_object_get(user, "username"));
	json_t *wf = NULL, *devices = NULL, *mfa = NULL;

	if (!srv->cfg.feature_remote_access_mfa ||
	    (!json_is_true(json_object_get(policy, "remote_access")) &&
	     !json_is_true(json_object_get(authz, "acr_mfa"))))
		return AF_MFA_NOT_NEEDED;
	if (devices_of(srv, req, resp, flow_id, authz, username, policy, &wf,
		       &devices) != 0)
		goto out;
	if (still_pending(srv, authz, user)) {
		af_mfa_to_page(resp, flow_id);
		goto out;
	}
	/* A new password step replaces the flow's earlier transaction. */
	drop_txn(srv, json_string_value(json_object_get(
			      json_object_get(authz, "mfa"), "txn")));
	mfa = json_pack("{s:s, s:O, s:I, s:s}", "user", username, "sub",
			json_object_get(user, "sub"), "gen",
			(json_int_t)af_dir_user_gen(user), "flow", flow_id);
	if (mfa == NULL)
		af_page_unavailable(resp);
	else
		ask(srv, req, resp, flow_id, authz, user, policy, app, wf,
		    devices, mfa);
out:
	json_decref(wf);
	json_decref(devices);
	json_decref(mfa);
	return AF_MFA_RESPONDED;
}

void af_mfa_ask_again(af_server *srv, af_req *req, af_resp *resp,
		      const char *flow_id, const json_t *authz,
		      const json_t *user, const json_t *policy,
		      const json_t *app)
{
	const char *username =
		json_string_value(json_object_get(user, "username"));
	json_t *wf = NULL, *devices = NULL, *mfa;

	mfa = json_deep_copy(json_object_get(authz, "mfa"));
	if (mfa == NULL) {
		af_page_unavailable(resp);
		return;
	}
	/* Who passed the password and their count of codes tried stay. */
	json_object_del(mfa, "txn");
	json_object_del(mfa, "notice");
	if (devices_of(srv, req, resp, flow_id, authz, username, policy, &wf,
		       &devices) == 0) {
		log_info(srv->log, req->rid, "mfa", "user=%s ask_again=1",
			 username);
		ask(srv, req, resp, flow_id, authz, user, policy, app, wf,
		    devices, mfa);
	}
	json_decref(wf);
	json_decref(devices);
	json_decref(mfa);
}
