/* HTML pages: layout, error page, sign-in form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/formtoken.h"
#include "web/brand.h"
#include "web/page.h"

#define ORIGIN_MAX 300 /* bytes of scheme://host:port */

#define PAGE_MAX ((size_t)256 * 1024)

static const char css[] =
	"*{box-sizing:border-box}"
	/* Elements hidden until a script shows them stay hidden whatever
	 * their own display. */
	"[hidden]{display:none!important}"
	"body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',"
	"Roboto,sans-serif;background:#f4f6f8;color:#1b1f24}"
	"header{background:var(--accent,#0b3d91);color:var(--on-accent,#fff);"
	"padding:.75rem 1rem;font-weight:600;display:flex;align-items:center;"
	"gap:.6rem}"
	"header img{height:2rem;width:auto;max-width:10rem}"
	"main{max-width:26rem;margin:2rem auto;background:#fff;padding:1.5rem;"
	"border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}"
	"h1{font-size:1.4rem;margin:0 0 1rem}"
	"label{display:block;margin:.75rem 0 .25rem;font-weight:600}"
	/* Field edges at 4.6:1 against white (WCAG 1.4.11 asks 3:1). */
	"input[type=text],input[type=password]{width:100%;padding:.6rem;"
	"font-size:1rem;border:1px solid #6b7580;border-radius:4px}"
	/* A field in error shows it by its width too, not by colour alone. */
	"input[aria-invalid=true]{border:2px solid #a4201a}"
	/* Focus rings at 3:1 or more against white (WCAG 1.4.11). */
	"input:focus{outline:3px solid #0b3d91;outline-offset:0}"
	"button:focus-visible,a:focus-visible{outline:3px solid #1b1f24;"
	"outline-offset:2px}"
	/*
	 * The edge, half black over the button's own colour, keeps 3:1 or
	 * more against the white page for any accent a branding sets, even
	 * white.
	 */
	"button{margin-top:1.25rem;width:100%;padding:.7rem;font-size:1rem;"
	"background:var(--accent,#0b3d91);color:var(--on-accent,#fff);"
	"border:1px solid rgba(0,0,0,.5);border-radius:4px;"
	"cursor:pointer}"
	"button.secondary{background:#e8ecf0;color:#1b1f24}"
	".msg{padding:.75rem;border-radius:4px;background:#fdecea;"
	"color:#7a1c12;margin-bottom:1rem}"
	".info{background:#e8f1fb;color:#0b3d91}"
	".app{color:#4a5560;margin:-.5rem 0 1rem}"
	/* Names of up to 128 characters in one word must not widen pages. */
	"h1,h2,p,li,header span{overflow-wrap:anywhere}"
	/* Two digits large; a six-digit code still fits a 360 px phone. */
	".number{font-size:min(4rem,14vw);font-weight:700;text-align:center;"
	"letter-spacing:.1em;margin:1rem 0}"
	"dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}"
	"dt{font-weight:600}dd{margin:0;word-break:break-all}"
	"code,pre{font-size:.85rem;word-break:break-all;white-space:pre-wrap}"
	/* A code to copy by hand is large enough to read without zoom. */
	".code code{font-size:1.25rem;letter-spacing:.05em}"
	/* Its groups of four wrap between groups, never inside one. */
	".nowrap{white-space:nowrap}"
	"footer{text-align:center;color:#596069;font-size:.8rem;margin:1rem}"
	"footer p{margin:.25rem 0}.help{font-size:.9rem;color:#3b444d}"
	".pad{display:grid;grid-template-columns:repeat(5,1fr);gap:.25rem}"
	".pad button{margin-top:.25rem;padding:.5rem}"
	".row{display:flex;gap:.5rem}.row button{flex:1}"
	"svg{display:block;margin:1rem auto;max-width:100%;height:auto}"
	/* Read by screen readers, not shown. */
	".sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;"
	"overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}";

const char *af_page_css(void)
{
	return css;
}

void af_page_begin(af_buf *b, const af_resp *resp, const char *title)
{
	const af_brand *brand = resp != NULL ? resp->brand : NULL;
	const char *name = af_brand_name(brand);
	const char *version = af_brand_version(brand);
	const uint8_t *logo;
	const char *type;
	size_t len;

	af_buf_puts(b,
		    "<!doctype html>\n<html lang=\"en\"><head>"
		    "<meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width,"
		    "initial-scale=1\">"
		    "<meta name=\"referrer\" content=\"no-referrer\">"
		    "<link rel=\"stylesheet\" href=\"/static/authflow.css\">");
	/* The accent colours come in a stylesheet of their own: the CSP
	 * allows no inline style. */
	if (brand != NULL)
		af_buf_printf(b,
			      "<link rel=\"stylesheet\" "
			      "href=\"/static/brand.css?v=%s\">",
			      version);
	af_buf_puts(b, "<title>");
	af_buf_html(b, title);
	if (name != NULL) {
		af_buf_puts(b, " \xc2\xb7 ");
		af_buf_html(b, name);
	}
	af_buf_puts(b, "</title></head><body><header>");
	/* The name follows as text, so the logo itself needs no alt text. */
	if (af_brand_logo(brand, &logo, &len, &type) == 0)
		af_buf_printf(b,
			      "<img src=\"/static/brand-logo?v=%s\" alt=\"\">",
			      version);
	af_buf_puts(b, "<span>");
	af_buf_html(b, name != NULL ? name : "authflow");
	af_buf_puts(b, "</span></header><main>\n");
}

void af_page_end(af_buf *b, const af_resp *resp)
{
	const af_brand *brand = resp != NULL ? resp->brand : NULL;
	const char *text = af_brand_help_text(brand);
	const char *url = af_brand_help_url(brand);

	af_buf_puts(b, "</main><footer>");
	if (url != NULL) {
		af_buf_puts(b, "<p class=\"help\"><a href=\"");
		af_buf_html(b, url);
		af_buf_puts(b, "\">");
		af_buf_html(b, text != NULL ? text : "Get help");
		af_buf_puts(b, "</a></p>");
	} else if (text != NULL) {
		af_buf_puts(b, "<p class=\"help\">");
		af_buf_html(b, text);
		af_buf_puts(b, "</p>");
	}
	af_buf_puts(b, "<p>Protected by authflow</p></footer></body></html>\n");
}

void af_page_send(af_resp *resp, unsigned status, af_buf *b)
{
	if (af_buf_move(&resp->body, b, AF_RESP_BODY_MAX) != 0) {
		af_resp_text(resp, 500, "text/plain; charset=utf-8",
			     "page too large\n");
		return;
	}
	resp->status = status;
	memcpy(resp->content_type, "text/html; charset=utf-8",
	       sizeof("text/html; charset=utf-8"));
}

void af_page_digit_pad(af_buf *b, const char *attr, const char *clear_attr)
{
	static const char digits[] = "1234567890";
	size_t i;

	/*
	 * Hidden until the page's script shows it: without script the
	 * buttons would do nothing. Out of the tab order: a keyboard types
	 * the digits, and eleven stops between the field and its submit
	 * button are in the way.
	 */
	af_buf_puts(b, "<div class=\"pad\" role=\"group\" "
		       "aria-label=\"Number pad\" hidden>");
	for (i = 0; digits[i] != '\0'; i++)
		af_buf_printf(b,
			      "<button type=\"button\" class=\"secondary\" "
			      "tabindex=\"-1\" %s=\"%c\">%c</button>",
			      attr, digits[i], digits[i]);
	af_buf_printf(b,
		      "<button type=\"button\" class=\"secondary\" "
		      "tabindex=\"-1\" %s>Clear</button></div>",
		      clear_attr);
}

/*
 * The origin of an absolute http(s) URL into out ("https://host:port"),
 * or -1 when it has none or holds a character a CSP source may not.
 */
static int origin_of(const char *url, char *out, size_t cap)
{
	const char *p, *end;
	size_t n;

	if (url == NULL)
		return -1;
	if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return -1;
	end = p + strcspn(p, "/?#");
	if (end == p)
		return -1;
	for (; p < end; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(".-:[]", *p) != NULL))
			return -1;
	}
	n = (size_t)(end - url);
	if (n >= cap)
		return -1;
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

void af_page_allow_form_target(af_resp *resp, const char *target)
{
	char origin[ORIGIN_MAX], csp[ORIGIN_MAX + 256];

	if (origin_of(target, origin, sizeof(origin)) != 0)
		return;
	snprintf(csp, sizeof(csp), "%s %s%s", AF_CSP_HEAD, origin, AF_CSP_TAIL);
	af_resp_header_set(resp, "Content-Security-Policy", csp);
}

void af_page_back_form(af_buf *b, const char *flow, const char *csrf)
{
	af_buf_puts(b, "<form method=\"post\" action=\"/login\">"
		       "<input type=\"hidden\" name=\"flow\" value=\"");
	af_buf_html(b, flow);
	af_buf_puts(b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
	af_buf_html(b, csrf);
	af_buf_puts(b, "\"><button type=\"submit\" name=\"cancel\" "
		       "value=\"1\">Back to the application</button></form>");
}

void af_page_refusal(af_resp *resp, unsigned status, const char *title,
		     const char *what, const char *next, const char *flow,
		     const char *csrf)
{
	af_page_refusal_why(resp, status, NULL, title, what, next, flow, csrf);
}

void af_page_refusal_why(af_resp *resp, unsigned status, const char *cause,
			 const char *title, const char *what, const char *next,
			 const char *flow, const char *csrf)
{
	char full[160];
	af_buf b;

	af_buf_init(&b, PAGE_MAX);
	if (cause != NULL)
		snprintf(full, sizeof(full), "%s: %s", cause, title);
	af_page_begin(&b, resp, cause != NULL ? full : title);
	af_buf_puts(&b, "<h1>");
	af_buf_html(&b, title);
	af_buf_puts(&b, "</h1><p class=\"msg\" role=\"alert\">");
	af_buf_html(&b, what);
	af_buf_puts(&b, "</p>");
	if (next != NULL && next[0] != '\0') {
		af_buf_puts(&b, "<p>");
		af_buf_html(&b, next);
		af_buf_puts(&b, "</p>");
	}
	if (flow != NULL && csrf != NULL)
		af_page_back_form(&b, flow, csrf);
	af_page_end(&b, resp);
	af_page_send(resp, status, &b);
}

void af_page_error(af_resp *resp, unsigned status, const char *title,
		   const char *what, const char *next)
{
	af_page_refusal(resp, status, title, what, next, NULL, NULL);
}

void af_page_account_nav(af_buf *b, const char *here)
{
	static const struct {
		const char *path, *words;
	} pages[] = {
		{"/account/sessions", "Where you are signed in"},
		{"/account/password", "Change your password"},
		{"/enroll", "Add a phone"},
		{"/logout", "Sign out"},
	};
	size_t i;

	af_buf_puts(b, "<nav aria-label=\"Your account\"><ul>");
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		if (here != NULL && strcmp(here, pages[i].path) == 0)
			af_buf_printf(b, "<li aria-current=\"page\">%s</li>",
				      pages[i].words);
		else
			af_buf_printf(b, "<li><a href=\"%s\">%s</a></li>",
				      pages[i].path, pages[i].words);
	}
	af_buf_puts(b, "</ul></nav>");
}

void af_page_info(af_resp *resp, unsigned status, const char *title,
		  const char *text)
{
	af_buf b;

	af_buf_init(&b, PAGE_MAX);
	af_page_begin(&b, resp, title);
	af_buf_puts(&b, "<h1>");
	af_buf_html(&b, title);
	af_buf_puts(&b, "</h1><p>");
	af_buf_html(&b, text);
	af_buf_puts(&b, "</p>");
	af_page_end(&b, resp);
	af_page_send(resp, status, &b);
}

void af_page_sign_in_first(af_resp *resp, int store_failed, const char *why)
{
	/* Whether the visitor is signed in is not known then: not said. */
	if (store_failed)
		af_page_unavailable(resp);
	else
		af_page_error(resp, 401, "Sign in first", why,
			      "Sign in to an application, then come back.");
}

void af_page_flow_expired(af_resp *resp)
{
	af_page_error(resp, 400, "This sign-in page has expired",
		      "The sign-in page was open too long, was used already, "
		      "or was opened in another browser.",
		      "Go back to the application and sign in again.");
}

int af_page_refuse_repeated(const af_req *req, af_resp *resp)
{
	if (!req->duplicate_param)
		return 0;
	af_page_error(resp, 400, "This sign-in form was not sent as made",
		      "A field of the form came more than once.",
		      "Go back to the application and sign in again.");
	return 1;
}

void af_page_unavailable(af_resp *resp)
{
	af_page_error(resp, 503, "Sign-in is unavailable",
		      "The sign-in service cannot reach its data store just "
		      "now.",
		      "Please try again in a moment.");
}

void af_page_throttled(af_resp *resp, uint32_t wait_s, char *msg, size_t msglen)
{
	if (wait_s == 0)
		wait_s = 1;
	af_resp_retry_after(resp, wait_s);
	snprintf(msg, msglen,
		 "Too many failed attempts. Wait %u second%s and try again.",
		 (unsigned)wait_s, wait_s == 1 ? "" : "s");
}

void af_page_auto_post(af_resp *resp, const char *title, const char *action,
		       const char *const *params)
{
	af_buf b;
	size_t i;

	af_buf_init(&b, PAGE_MAX);
	af_page_begin(&b, resp, title);
	af_buf_puts(&b, "<h1>");
	af_buf_html(&b, title);
	af_buf_puts(&b, "</h1><form method=\"post\" id=\"fp\" action=\"");
	af_buf_html(&b, action);
	af_buf_puts(&b, "\">");
	for (i = 0; params[i] != NULL; i += 2) {
		if (params[i + 1] == NULL)
			continue;
		af_buf_puts(&b, "<input type=\"hidden\" name=\"");
		af_buf_html(&b, params[i]);
		af_buf_puts(&b, "\" value=\"");
		af_buf_html(&b, params[i + 1]);
		af_buf_puts(&b, "\">");
	}
	af_buf_puts(&b, "<noscript><p>JavaScript is off: press "
			"Continue.</p></noscript><button "
			"type=\"submit\">Continue</button></form>"
			"<script src=\"/static/formpost.js\"></script>");
	af_page_end(&b, resp);
	af_page_allow_form_target(resp, action);
	af_page_send(resp, 200, &b);
}

void af_page_locked(uint32_t wait_s, int browser, char *msg, size_t msglen)
{
	unsigned min = (unsigned)((wait_s + 59) / 60);
	const char *what = browser ? "Sign-in from this browser is locked "
				     "after too many wrong passwords or codes "
				     "typed in it."
				   : "This account is locked after too many "
				     "failed sign-ins.";

	/* A lock of more than a day reads as one until lifted. */
	if (wait_s > 0 && wait_s <= 86400)
		snprintf(msg, msglen,
			 "%s Try again in %u minute%s, or contact your "
			 "administrator.",
			 what, min, min == 1 ? "" : "s");
	else
		snprintf(msg, msglen, "%s Contact your administrator.", what);
}

/*
 * The attributes that tie a field to the form's message: described by it
 * (read out when the field takes focus, which the alert alone is not on a
 * page load), and marked invalid when the message is about what was typed.
 */
static void field_message(af_buf *b, int message, int invalid)
{
	if (invalid)
		af_buf_puts(b, " aria-invalid=\"true\"");
	if (message)
		af_buf_puts(b, " aria-describedby=\"err\"");
}

void af_page_login(af_resp *resp, unsigned status, const char *flow,
		   const char *csrf, const char *restart, const char *app_name,
		   const char *message, const char *username)
{
	af_buf b;
	int known, shown, invalid;

	shown = message != NULL && message[0] != '\0';
	/* 400: a field left empty; 401: a wrong user name or password. */
	invalid = shown && (status == 400 || status == 401);
	af_buf_init(&b, PAGE_MAX);
	/*
	 * The title is read first: it says at once that something failed,
	 * and what: a lock or a wait is not a typing error.
	 */
	af_page_begin(&b, resp,
		      !shown || status == 200 ? "Sign in"
		      : status == 403	      ? "Account locked: Sign in"
		      : status == 429 ? "Wait before trying again: Sign in"
				      : "Error: Sign in");
	af_buf_puts(&b, "<h1>Sign in</h1>");
	if (app_name != NULL && app_name[0] != '\0') {
		af_buf_puts(&b, "<p class=\"app\">to continue to ");
		af_buf_html(&b, app_name);
		af_buf_puts(&b, "</p>");
	}
	if (shown) {
		af_buf_puts(&b, "<p class=\"msg\" role=\"alert\" id=\"err\">");
		af_buf_html(&b, message);
		af_buf_puts(&b, "</p>");
	}
	af_buf_puts(&b, "<form method=\"post\" action=\"/login\">"
			"<input type=\"hidden\" name=\"flow\" value=\"");
	af_buf_html(&b, flow);
	af_buf_puts(&b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
	af_buf_html(&b, csrf);
	if (restart != NULL) {
		af_buf_puts(&b, "\"><input type=\"hidden\" name=\"restart\" "
				"value=\"");
		af_buf_html(&b, restart);
	}
	/* The cursor goes where the person types next. */
	known = username != NULL && username[0] != '\0';
	af_buf_puts(&b, "\"><label for=\"username\">User name</label>"
			"<input type=\"text\" id=\"username\" name=\"username\""
			" autocomplete=\"username\" autocapitalize=\"none\""
			" spellcheck=\"false\" required");
	/* A name given, only the password left empty: that field alone. */
	field_message(&b, shown, invalid && !(status == 400 && known));
	af_buf_puts(&b, known ? " value=\"" : " autofocus value=\"");
	af_buf_html(&b, known ? username : "");
	af_buf_puts(&b, "\"><label for=\"password\">Password</label>"
			"<input type=\"password\" id=\"password\" "
			"name=\"password\" autocomplete=\"current-password\" "
			"required");
	field_message(&b, shown, invalid);
	af_buf_puts(&b, known ? " autofocus>" : ">");
	af_buf_puts(&b, "<button type=\"submit\">Sign in</button></form>");
	af_page_end(&b, resp);
	af_page_send(resp, status, &b);
}

int af_page_form_token_check(af_server *srv, const af_req *req, af_resp *resp,
			     const af_session *s, const char *undone)
{
	int ok = af_form_token_ok(srv, req, s);

	if (ok < 0)
		af_page_unavailable(resp);
	else if (ok == 0)
		af_page_error(resp, 400, "This form has expired", undone,
			      "Open the page again.");
	return ok > 0 ? 0 : -1;
}
