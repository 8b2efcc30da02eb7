/* /account/sessions: where the signed-in user is signed in. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "http/buf.h"
#include "session/formtoken.h"
#include "session/session.h"
#include "web/account.h"
#include "web/page.h"

#define PAGE_BUF  ((size_t)128 * 1024)
/*
 * Sessions listed at most: a user keeps about 64 (session.c); any past
 * this are counted, not shown. This browser is always shown, first.
 */
#define SHOWN_MAX 100

struct shown {
	af_session s[SHOWN_MAX];
	size_t n;
	size_t more;	/* not shown */
	const char *me; /* this browser's sid */
	int have_me;	/* s[0] is this browser's */
};

static void collect(const af_session *s, void *arg)
{
	struct shown *sh = arg;

	if (!sh->have_me && strcmp(s->sid, sh->me) == 0) {
		/*
		 * This browser goes first, what was there last, into the
		 * room kept for it.
		 */
		if (sh->n > 0)
			sh->s[sh->n++] = sh->s[0];
		else
			sh->n = 1;
		sh->s[0] = *s;
		sh->have_me = 1;
	} else if (sh->n < SHOWN_MAX - (sh->have_me ? 0 : 1)) {
		sh->s[sh->n++] = *s;
	} else {
		sh->more++;
	}
}

/* Most recently used first. */
static int by_last_use(const void *a, const void *b)
{
	int64_t x = af_session_last_use(a), y = af_session_last_use(b);

	return (x < y) - (x > y);
}

/* A time as people read it: "2026-12-02 15:04 UTC". */
static void put_time(af_buf *b, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char out[32];

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, sizeof(out), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(out, sizeof(out), "an unknown time");
	af_buf_html(b, out);
}

/*
 * The applications the session signed into, by the names their users
 * see, as "; signed into A, B"; nothing when none or unknown.
 */
static void put_apps(af_server *srv, af_buf *b, const af_session *s)
{
	json_t *names = af_session_app_names(srv, s, "display_name", 0), *v;
	size_t i;

	json_array_foreach(names, i, v)
	{
		af_buf_puts(b, i == 0 ? "; signed into " : ", ");
		af_buf_html(b, json_string_value(v));
	}
	json_decref(names);
}

/*
 * When the session ends by itself, as "; ends TIME" (its timeout, which a
 * use does not move) or "; ends TIME if left unused" (its idle timeout).
 */
static void put_end(af_server *srv, af_buf *b, const af_session *s)
{
	af_session_end why;
	int64_t ends = af_session_ends_at(srv, s, &why);

	if (ends <= 0)
		return;
	af_buf_puts(b, "; ends ");
	put_time(b, ends);
	if (why == AF_SESSION_END_IDLE)
		af_buf_puts(b, " if left unused");
}

static void put_session(af_server *srv, af_buf *b, const af_session *s,
			int mine)
{
	af_buf_puts(b, "<li><strong>");
	af_buf_html(b, s->browser[0] != '\0' ? s->browser : "A browser");
	af_buf_puts(b, "</strong>");
	if (mine)
		af_buf_puts(b, " (this browser)");
	af_buf_puts(b, ": from ");
	af_buf_html(b, s->ip[0] != '\0' ? s->ip : "an unknown address");
	af_buf_puts(b, ", signed in ");
	put_time(b, s->auth_time);
	af_buf_puts(b, ", last used ");
	put_time(b, af_session_last_use(s));
	put_end(srv, b, s);
	put_apps(srv, b, s);
	af_buf_puts(b, "</li>");
}

/* The page, with notice (may be NULL) said in a status region. */
static void sessions_page(af_server *srv, af_resp *resp, unsigned status,
			  const af_session *me, const char *notice)
{
	struct shown *sh = calloc(1, sizeof(*sh));
	char token[AF_FORM_TOKEN_BUF];
	af_buf b;
	size_t i;

	if (sh != NULL)
		sh->me = me->sid;
	if (sh == NULL || af_session_list(srv, me->username, collect, sh) < 0 ||
	    af_form_token(srv, me, token, sizeof(token)) != 0) {
		free(sh);
		af_page_unavailable(resp);
		return;
	}
	/* This browser (when listed) stays first. */
	if (sh->n > (size_t)sh->have_me)
		qsort(sh->s + sh->have_me, sh->n - (size_t)sh->have_me,
		      sizeof(sh->s[0]), by_last_use);
	af_buf_init(&b, PAGE_BUF);
	af_page_begin(&b, resp, "Where you are signed in");
	af_buf_puts(&b, "<h1>Where you are signed in</h1>");
	if (notice != NULL) {
		af_buf_puts(&b, "<p class=\"msg info\" role=\"status\">");
		af_buf_html(&b, notice);
		af_buf_puts(&b, "</p>");
	}
	af_buf_puts(&b, "<p>The browsers signed in as <strong>");
	af_buf_html(&b, me->username);
	af_buf_puts(&b, "</strong>. If one is not yours, sign the others out, "
			"then <a href=\"/account/password\">change your "
			"password</a>.</p><ul>");
	for (i = 0; i < sh->n; i++)
		put_session(srv, &b, &sh->s[i],
			    strcmp(sh->s[i].sid, me->sid) == 0);
	af_buf_puts(&b, "</ul>");
	if (sh->more > 0)
		af_buf_printf(&b, "<p>And %zu more.</p>", sh->more);
	if (sh->n + sh->more > 1) {
		af_buf_puts(&b,
			    "<form method=\"post\" "
			    "action=\"/account/sessions\">"
			    "<input type=\"hidden\" name=\"csrf\" value=\"");
		af_buf_html(&b, token);
		af_buf_puts(&b, "\"><button type=\"submit\">Sign out the other "
				"browsers</button></form>");
	}
	af_page_account_nav(&b, "/account/sessions");
	af_page_end(&b, resp);
	af_page_send(resp, status, &b);
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(sh, sizeof(*sh));
	free(sh);
}

/* The request's session, standing for its user; -1 with the page made. */
static int signed_in(af_server *srv, const af_req *req, af_resp *resp,
		     af_session *s)
{
	int rc = af_session_signed_in(srv, req, s);

	if (rc != 0)
		af_page_sign_in_first(resp, rc < 0,
				      "This page shows where you are signed "
				      "in, once you are.");
	return rc == 0 ? 0 : -1;
}

void af_h_account_sessions_get(af_server *srv, af_req *req, af_resp *resp)
{
	af_session s;

	if (signed_in(srv, req, resp, &s) == 0)
		sessions_page(srv, resp, 200, &s, NULL);
	OPENSSL_cleanse(&s, sizeof(s));
}

void af_h_account_sessions_post(af_server *srv, af_req *req, af_resp *resp)
{
	char notice[96];
	af_session s;
	int n;

	if (signed_in(srv, req, resp, &s) != 0)
		return;
	/* The token first: another site's post ends nothing. */
	if (af_page_form_token_check(srv, req, resp, &s,
				     "No browser was signed out.") != 0)
		goto out;
	/* The codes the user made go too: this browser's as well. */
	n = af_session_end_others(srv, s.username, s.sid);
	if (n < 0) {
		af_page_unavailable(resp);
		goto out;
	}
	log_info(srv->log, req->rid, "session",
		 "user=%s ended=%d reason=signed_out_by_user", s.username, n);
	snprintf(notice, sizeof(notice),
		 n == 1 ? "%d other browser was signed out."
			: "%d other browsers were signed out.",
		 n);
	sessions_page(srv, resp, 200, &s, notice);
out:
	OPENSSL_cleanse(&s, sizeof(s));
}
