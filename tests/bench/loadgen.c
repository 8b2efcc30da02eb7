/*
 * Load generator: complete password sign-ins against an OpenID Connect
 * provider, driven by many concurrent virtual browsers on one libcurl
 * multi event loop, with flows per second and latency percentiles.
 *
 * A flow is what a person and a relying party do together: GET the
 * authorization endpoint, follow redirects, submit the one form each page
 * shows (filling the user name and password fields, keeping hidden
 * fields), until the provider redirects to the redirect URI with a code;
 * then POST the code to the token endpoint (client_secret_basic, PKCE
 * S256) and GET the userinfo endpoint with the access token. Because the
 * client behaves like a browser instead of knowing any URL but the
 * issuer's, the same binary drives authflow (/authorize, /login) and node
 * oidc-provider's development interactions (/auth, /interaction/UID,
 * consent).
 *
 * Each virtual client owns one easy handle with its own in-memory cookie
 * engine, which is emptied between flows so that every flow signs in with
 * the password (an SSO session would skip the login page). A flow that
 * reaches the code without posting a password counts as an error.
 *
 * With --users FILE every client signs in as its own users instead of
 * --username: FILE is a JSON list of {user, password, device_id,
 * private_key} (the device members only with --mfa), at least one entry
 * per client; client i takes entries i, i + N, i + 2N, ... in turn (N the
 * concurrency), so no two clients ever share a user and per-user limits
 * count one client's sign-ins only.
 *
 * With --mfa (and --devices FILE, the same as --users) the users need a
 * second factor, and each client is also the user's phone: after the
 * password the browser is sent to /login/mfa?flow=ID, and at once the
 * browser reads the number off that page while the phone asks GET
 * /device/v1/challenges, signed with the device's ES256 key as the device
 * API requires (again every LG_POLL_MS until the challenge is there);
 * then the phone approves it with the number, the browser asks
 * /login/mfa/status for the next URL and follows it to the code. Besides
 * the flow figures it reports how long it took from sending the password
 * to the device seeing its challenge.
 *
 * With --revoke each sign-in ends as a relying party's sign-out does:
 * the access token is revoked at the revocation endpoint (RFC 7009,
 * client_secret_basic) once the userinfo answer is in, so that a run
 * leaves nothing behind in the provider that lives on (a long run then
 * shows whether the provider's memory stays flat).
 *
 * With --token-only K it first collects K codes (each with its PKCE
 * verifier) and then measures POST /token alone, as fast as the clients
 * can redeem them. Codes expire (authflow: 60 s), so K should be what the
 * token phase finishes within that time.
 *
 *   bench_loadgen --url ISSUER --client-id ID --client-secret SECRET
 *                 --redirect-uri URI --username U --password P
 *                 [--concurrency N] [--flows N | --seconds S] [--warmup N]
 *                 [--token-only K] [--scope S] [--label NAME]
 *                 [--max-errors N] [--timeout S]
 *                 [--users FILE | --mfa --devices FILE] [--rate R]
 *                 [--revoke]
 *
 * --rate R makes the run open-loop: a sign-in starts every 1/R seconds
 * whether or not the earlier ones have finished (on an idle client; one
 * that finds no idle client starts late, and the late ones are counted),
 * so that latencies are measured at a known offered load rather than at
 * whatever the clients' round trips make it.
 *
 * --flows N runs N sign-ins after the --warmup ones; --seconds S starts
 * sign-ins for S seconds. The first --warmup sign-ins that finish are left
 * out of every figure, and the rate is over the time from the last of them
 * to the last sign-in that finished. --timeout S (default 600) stops a run
 * that takes too long, as failed; --max-errors N (default 100) stops one
 * that fails too often.
 *
 * The last line printed is machine-readable:
 *   RESULT label=L mode=flow|token count=N errors=E seconds=T rate=R
 *          p50_ms=A p99_ms=B max_ms=C concurrency=N cpu_s=U
 *          requests_per_flow=Q
 * and with --mfa (mode=mfa) also, for password sent -> challenge seen by
 * the device: vis_p50_ms=A vis_p99_ms=B vis_max_ms=C, and the device's
 * challenge list requests per sign-in polls_per_flow=P.
 * --samples FILE also writes every measured latency in milliseconds, one
 * per line: "lat MS" for each sign-in (or token request) and, with --mfa,
 * "vis MS" for each password sent -> challenge seen, so that the figures
 * of several runs can be merged exactly.
 * Exit status: 0 done, 1 the run failed (too many errors, timeout, no
 * discovery), 2 bad usage.
 *
 * Thread-safety: one thread; every easy handle belongs to the event loop.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/httpparse.h"
#include "common/util.h"
#include "idsim/client.h"

#define LG_URL_MAX	     4096   /* a URL we build or follow */
#define LG_RATE_MAX	     100000 /* --rate, sign-ins per second */
#define LG_LATE_NS	     1000000u
#define LG_BODY_MAX	     262144 /* a response body we keep */
#define LG_FORM_BODY_MAX     16384  /* a form submission we build */
#define LG_FIELDS_MAX	     16	    /* inputs in one form */
#define LG_NAME_MAX	     64	    /* an attribute or input name */
#define LG_VALUE_MAX	     2048   /* an attribute value, decoded */
#define LG_TYPE_MAX	     16	    /* an input type */
#define LG_HOPS_MAX	     16	    /* browser requests in one sign-in */
#define LG_CLIENTS_MAX	     4096
#define LG_FDS_MAX	     (1u << 20) /* descriptors on_socket() follows */
#define LG_SAMPLES_MAX	     (20UL * 1000 * 1000)
#define LG_CODE_MAX	     512  /* an authorization code */
#define LG_SECRET_MAX	     512  /* the client secret, user name, password */
#define LG_TOKEN_MAX	     8192 /* an access token */
#define LG_PARSE_EVERY	     16	  /* token answers per full JSON parse */
#define LG_ERRORS_SHOWN	     5
#define LG_ACCOUNTS_MAX	     65536		/* entries of --users */
#define LG_ACCOUNTS_FILE_MAX ((size_t)64 << 20) /* bytes of --users */
#define LG_DEVICE_MAX	     AF_IDSIM_CLIENT_DEVICE_MAX
#define LG_TXN_MAX	     128 /* a transaction id */
#define LG_NUMBER_MAX	     16	 /* the number on the MFA page, digits */
#define LG_SEEN_MAX	     8	 /* challenges a client remembers answering */
#define LG_POLL_MS	     2	 /* between challenge list requests */
#define LG_VISIBLE_MAX_NS    ((uint64_t)10 * 1000 * 1000 * 1000)
#define LG_SIGNING_MAX	     (LG_URL_MAX + 256) /* a device signing string */
#define EXIT_USAGE	     2

struct opts {
	const char *url;
	const char *client_id;
	const char *client_secret;
	const char *redirect_uri;
	const char *username;
	const char *password;
	const char *scope;
	const char *label;
	unsigned long concurrency;
	unsigned long flows;
	unsigned long warmup;
	unsigned long token_only;
	unsigned long max_errors;
	const char *users_file;
	const char *samples_file; /* --samples: every measured latency */
	int mfa;
	int revoke; /* --revoke: each flow ends by revoking its access token */
	double seconds;
	double timeout;
	double rate; /* --rate: sign-ins started per second, 0: closed loop */
};

/* One user of --users: who signs in, and with --mfa their phone. */
struct account {
	char user[LG_SECRET_MAX + 1];
	char password[LG_SECRET_MAX + 1];
	char device[LG_DEVICE_MAX + 1];
	EVP_PKEY *key; /* NULL without --mfa */
};

/* Latencies in seconds, up to LG_SAMPLES_MAX of them. */
struct samples {
	double *v;
	size_t n;
	size_t cap;
};

/* A growable byte buffer with a hard cap, always NUL-terminated. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
	int overflow;
};

/* One input of a form, or the attributes of a <form> or <input> tag. */
struct tag {
	char type[LG_TYPE_MAX];
	char name[LG_NAME_MAX];
	char value[LG_VALUE_MAX];
	char action[LG_VALUE_MAX];
	char method[LG_TYPE_MAX];
};

struct field {
	char type[LG_TYPE_MAX];
	char name[LG_NAME_MAX];
	char value[LG_VALUE_MAX];
};

struct form {
	char action[LG_VALUE_MAX];
	size_t n;
	struct field f[LG_FIELDS_MAX];
};

/* A code waiting for the token phase of --token-only. */
struct code {
	char code[LG_CODE_MAX];
	char verifier[64];
};

enum step {
	ST_BROWSE,
	ST_MFA_PAGE,
	ST_MFA_STATUS,
	ST_TOKEN,
	ST_USERINFO,
	ST_REVOKE
};

/* What the phone of a client is doing in an MFA sign-in. */
enum pstep { PS_POLL, PS_ANSWER };

enum phase { PH_FLOWS, PH_COLLECT, PH_TOKENS };

struct lg;

struct client {
	struct lg *lg;
	CURL *easy;
	enum step step;
	int busy;
	unsigned hops;
	int password_posted;
	int idle; /* --rate: waiting for its next start time */
	uint64_t t0;
	struct buf body;
	char url[LG_URL_MAX];
	char verifier[64];
	char state[32];
	char nonce[32];
	char code[LG_CODE_MAX];
	struct curl_slist *bearer;
	char access[LG_TOKEN_MAX]; /* with --revoke, until it is revoked */
	/* The user of this flow, and the next of ours with --users. */
	const struct account *acct;
	size_t acct_next;
	/* The phone, with --mfa: its own handle, as a separate device. */
	CURL *phone;
	enum pstep pstep;
	int phone_busy;
	struct buf pbody;
	char purl[LG_URL_MAX];
	struct curl_slist *psign;
	uint64_t t_password; /* when the password was sent */
	uint64_t poll_at;    /* when to ask for challenges again, or 0 */
	double visible_s;    /* password sent -> challenge seen */
	unsigned long polls;
	unsigned long requests; /* HTTP requests of this flow, both handles */
	int mfa_passed;
	int page_read;
	int answered;
	char mfa_url[LG_URL_MAX];
	char number[LG_NUMBER_MAX];
	char txn[LG_TXN_MAX];
	char seen[LG_SEEN_MAX][LG_TXN_MAX];
	size_t nseen;
};

struct lg {
	struct opts o;
	enum phase phase;
	CURLM *multi;
	struct client *clients;
	char token_ep[LG_URL_MAX];
	char userinfo_ep[LG_URL_MAX];
	char revoke_ep[LG_URL_MAX];
	char *authorize_prefix; /* the authorization URL up to the state */
	char *token_prefix;	/* grant_type and redirect_uri, encoded */
	struct curl_slist *plain_headers;
	struct curl_slist *token_headers;
	struct form form; /* scratch for the page being read */
	unsigned long target;
	unsigned long started;
	unsigned long finished;
	unsigned long errors;
	unsigned long shown;
	unsigned long token_answers;
	int aborted;
	uint64_t t_window;
	uint64_t t_last;
	uint64_t deadline;
	uint64_t hard_deadline;
	struct samples lat;
	struct samples visible; /* password sent -> challenge seen */
	unsigned long polls;	/* challenge list requests, measured flows */
	unsigned long requests; /* HTTP requests, measured flows */
	struct account *accounts;
	size_t naccounts;
	char challenges_url[LG_URL_MAX];
	unsigned long waiting; /* clients waiting to poll again */
	struct code *codes;
	size_t ncodes;
	size_t next_code;
	int epfd;
	unsigned char *reg; /* per descriptor: see on_socket() */
	size_t nreg;
	unsigned long busy;	/* clients with a transfer under way */
	unsigned long idle;	/* --rate: clients waiting for a start time */
	uint64_t next_start;	/* --rate: when the next sign-in is due */
	unsigned long late;	/* --rate: sign-ins started over 1 ms late */
	unsigned long start_rr; /* --rate: the client to look at first */
	uint64_t timer_at;	/* when libcurl wants its timeout, or 0 */
};

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* ---- small helpers ---- */

static void buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void buf_reset(struct buf *b)
{
	b->len = 0;
	b->overflow = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Room for n more bytes and a NUL; -1 (and overflow set) past max. */
static int buf_reserve(struct buf *b, size_t n)
{
	size_t want;
	char *p;

	if (b->overflow || n > b->max - b->len) {
		b->overflow = 1;
		return -1;
	}
	want = b->len + n + 1;
	if (want > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 4096;

		while (cap < want)
			cap *= 2;
		p = realloc(b->data, cap);
		if (p == NULL) {
			b->overflow = 1;
			return -1;
		}
		if (b->data == NULL)
			p[0] = '\0';
		b->data = p;
		b->cap = cap;
	}
	return 0;
}

static int buf_add(struct buf *b, const char *data, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int buf_puts(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* Appends s percent-encoded as a form value. */
static int buf_esc(struct buf *b, CURL *easy, const char *s)
{
	char *e = curl_easy_escape(easy, s, (int)strlen(s));
	int rc;

	if (e == NULL)
		return -1;
	rc = buf_puts(b, e);
	curl_free(e);
	return rc;
}

/*
 * Appends name=value to a form body, percent-encoded as curl_easy_escape()
 * would (RFC 3986 unreserved kept), with '&' after what is there. One
 * pass over the text: curl_easy_escape() grows its result a byte at a
 * time, a cost the load generator would otherwise pay on every sign-in.
 */
static int buf_param(struct buf *b, const char *name, const char *value)
{
	size_t most = 1 + 3 * strlen(name) + 1 + 3 * strlen(value);

	if (buf_reserve(b, most) != 0)
		return -1;
	if (hp_query_append(b->data, b->len + most + 1, name, value) != HP_OK) {
		b->overflow = 1;
		return -1;
	}
	b->len += strlen(b->data + b->len);
	return 0;
}

/* Frees a header list whose lines carry credentials, wiping them first. */
static void slist_wipe_free(struct curl_slist *list)
{
	struct curl_slist *p;

	for (p = list; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(list);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct buf *b = userp;

	/* Returning less than given makes libcurl fail the transfer. */
	if (buf_add(b, data, size * nmemb) != 0)
		return 0;
	return size * nmemb;
}

static int parse_secs(const char *s, double *out)
{
	char *end = NULL;
	double v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || v <= 0 || v > 86400)
		return -1;
	*out = v;
	return 0;
}

/* ---- the bounded HTML form scanner ---- */

/* Appends one decoded character reference at *p to out, or '&' itself. */
static const char *entity(const char *p, const char *end, char *out, size_t *n,
			  size_t cap)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp;", '&'},  {"lt;", '<'},    {"gt;", '>'},
		     {"quot;", '"'}, {"apos;", '\''}, {"#39;", '\''},
		     {"#34;", '"'},  {"#x2F;", '/'},  {"#47;", '/'}};
	size_t i, len;

	if (*n + 1 >= cap)
		return NULL;
	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		len = strlen(named[i].name);
		if ((size_t)(end - p) > len &&
		    strncasecmp(p + 1, named[i].name, len) == 0) {
			out[(*n)++] = named[i].c;
			return p + 1 + len;
		}
	}
	out[(*n)++] = '&';
	return p + 1;
}

/*
 * Reads one attribute value (quoted or not) at p, decoded into out when
 * out is not NULL. Returns the position after it, or NULL when it is
 * unterminated or longer than cap.
 */
static const char *attr_value(const char *p, const char *end, char *out,
			      size_t cap)
{
	char quote = 0, scratch[2];
	size_t n = 0;

	if (out == NULL) {
		out = scratch;
		cap = 0;
	}
	if (p < end && (*p == '"' || *p == '\''))
		quote = *p++;
	while (p < end) {
		if (quote ? *p == quote
			  : (*p == ' ' || *p == '\t' || *p == '\n' ||
			     *p == '\r' || *p == '>'))
			break;
		if (cap == 0) {
			p++;
			continue;
		}
		if (*p == '&') {
			p = entity(p, end, out, &n, cap);
			if (p == NULL)
				return NULL;
			continue;
		}
		if (n + 1 >= cap)
			return NULL;
		out[n++] = *p++;
	}
	if (quote) {
		if (p >= end)
			return NULL;
		p++;
	}
	if (cap > 0)
		out[n] = '\0';
	return p;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Where attribute name (len n) goes in t, with its size; NULL to skip. */
static char *attr_slot(struct tag *t, const char *name, size_t n, size_t *cap)
{
	static const char *const names[] = {"type", "name", "value", "action",
					    "method"};
	char *const slots[] = {t->type, t->name, t->value, t->action,
			       t->method};
	const size_t caps[] = {sizeof(t->type), sizeof(t->name),
			       sizeof(t->value), sizeof(t->action),
			       sizeof(t->method)};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == n &&
		    strncasecmp(name, names[i], n) == 0) {
			*cap = caps[i];
			return slots[i];
		}
	}
	return NULL;
}

/*
 * Reads the attributes of the tag whose name ends at p into t. Returns
 * the position after the closing '>', or NULL when the tag is malformed
 * or a value we keep is longer than its buffer.
 */
static const char *tag_attrs(const char *p, const char *end, struct tag *t)
{
	t->type[0] = t->name[0] = t->value[0] = '\0';
	t->action[0] = t->method[0] = '\0';
	while (p < end) {
		const char *name;
		char *slot;
		size_t cap = 0;

		while (p < end && (is_space(*p) || *p == '/'))
			p++;
		if (p >= end)
			return NULL;
		if (*p == '>')
			return p + 1;
		name = p;
		while (p < end && !is_space(*p) && *p != '=' && *p != '>' &&
		       *p != '/')
			p++;
		slot = attr_slot(t, name, (size_t)(p - name), &cap);
		while (p < end && is_space(*p))
			p++;
		if (p < end && *p == '=') {
			p++;
			while (p < end && is_space(*p))
				p++;
			p = attr_value(p, end, slot, cap);
			if (p == NULL)
				return NULL;
		}
	}
	return NULL;
}

/* 1 when p starts the tag name (case-insensitive) followed by a break. */
static int tag_is(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);

	return (size_t)(end - p) > n && strncasecmp(p, name, n) == 0 &&
	       (is_space(p[n]) || p[n] == '>' || p[n] == '/');
}

/*
 * Finds the first <form> of html and its <input> elements, up to
 * LG_FIELDS_MAX of them. Returns 0, or -1 when there is no form or it is
 * malformed.
 */
static int form_parse(const char *html, size_t len, struct form *f, int *post)
{
	const char *p = html, *end = html + len;
	struct tag t;
	int in_form = 0;

	f->n = 0;
	f->action[0] = '\0';
	*post = 0;
	while (p < end) {
		p = memchr(p, '<', (size_t)(end - p));
		if (p == NULL)
			break;
		p++;
		if (!in_form && tag_is(p, end, "form")) {
			p = tag_attrs(p + 4, end, &t);
			if (p == NULL)
				return -1;
			memcpy(f->action, t.action, strlen(t.action) + 1);
			*post = strcasecmp(t.method, "post") == 0;
			in_form = 1;
		} else if (in_form && tag_is(p, end, "/form")) {
			return 0;
		} else if (in_form && tag_is(p, end, "input")) {
			p = tag_attrs(p + 5, end, &t);
			if (p == NULL || f->n == LG_FIELDS_MAX)
				return -1;
			if (t.name[0] == '\0')
				continue;
			memcpy(f->f[f->n].type, t.type, strlen(t.type) + 1);
			memcpy(f->f[f->n].name, t.name, strlen(t.name) + 1);
			memcpy(f->f[f->n].value, t.value, strlen(t.value) + 1);
			f->n++;
		}
	}
	return in_form ? 0 : -1;
}

static int is_user_field(const char *name)
{
	return strcasecmp(name, "username") == 0 ||
	       strcasecmp(name, "login") == 0 ||
	       strcasecmp(name, "email") == 0 || strcasecmp(name, "user") == 0;
}

/*
 * The form's submission as a browser sends it after a person typed the
 * user name and password: hidden and filled fields, no buttons. Sets
 * *has_password when a password field was filled.
 */
static int form_body(const struct client *c, const struct form *f,
		     struct buf *out, int *has_password)
{
	const struct opts *o = &c->lg->o;
	const char *user = c->acct != NULL ? c->acct->user : o->username;
	const char *password =
		c->acct != NULL ? c->acct->password : o->password;
	size_t i;

	*has_password = 0;
	for (i = 0; i < f->n; i++) {
		const struct field *fd = &f->f[i];
		const char *type = fd->type[0] != '\0' ? fd->type : "text";
		const char *value;

		if (strcasecmp(type, "password") == 0) {
			value = password;
			*has_password = 1;
		} else if ((strcasecmp(type, "text") == 0 ||
			    strcasecmp(type, "email") == 0) &&
			   is_user_field(fd->name)) {
			value = user;
		} else if (strcasecmp(type, "hidden") == 0 ||
			   strcasecmp(type, "text") == 0 ||
			   strcasecmp(type, "email") == 0) {
			value = fd->value;
		} else {
			continue;
		}
		if (buf_param(out, fd->name, value) != 0)
			return -1;
	}
	return 0;
}

/* ---- requests ---- */

static void sample_add(struct samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap > 0 ? s->cap * 2 : 65536;
		double *p;

		if (cap > LG_SAMPLES_MAX)
			cap = LG_SAMPLES_MAX;
		if (cap == s->cap)
			return;
		p = realloc(s->v, cap * sizeof(*p));
		if (p == NULL)
			return;
		s->v = p;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

/* Counts a finished flow of c; 1 when it is measured (past the warm-up). */
static int record(struct lg *lg, struct client *c)
{
	uint64_t now = af_mono_ns();
	unsigned long requests = c->requests;

	c->requests = 0;
	lg->finished++;
	if (lg->finished <= lg->o.warmup) {
		lg->t_window = now;
		return 0;
	}
	lg->t_last = now;
	lg->requests += requests;
	sample_add(&lg->lat, secs(now - c->t0));
	if (lg->o.mfa) {
		sample_add(&lg->visible, c->visible_s);
		lg->polls += c->polls;
	}
	return 1;
}

static int submit(struct client *c)
{
	if (curl_multi_add_handle(c->lg->multi, c->easy) != CURLM_OK)
		return -1;
	c->requests++;
	c->busy = 1;
	c->lg->busy++;
	return 0;
}

static int get(struct client *c, const char *url,
	       const struct curl_slist *headers)
{
	size_t n = strlen(url);

	if (n >= sizeof(c->url))
		return -1;
	memmove(c->url, url, n + 1);
	buf_reset(&c->body);
	if (curl_easy_setopt(c->easy, CURLOPT_URL, c->url) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
		return -1;
	return submit(c);
}

static int post(struct client *c, const char *url, const char *body,
		const struct curl_slist *headers)
{
	size_t n = strlen(url);

	if (n >= sizeof(c->url))
		return -1;
	memmove(c->url, url, n + 1);
	buf_reset(&c->body);
	/* The size first: COPYPOSTFIELDS copies as many bytes as it says. */
	if (curl_easy_setopt(c->easy, CURLOPT_URL, c->url) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE,
			     (long)strlen(body)) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_COPYPOSTFIELDS, body) !=
		    CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
		return -1;
	return submit(c);
}

static int more_work(const struct lg *lg)
{
	if (lg->aborted)
		return 0;
	if (lg->phase == PH_TOKENS)
		return lg->next_code < lg->ncodes;
	if (lg->deadline != 0 && af_mono_ns() >= lg->deadline)
		return 0;
	return lg->target == 0 || lg->started < lg->target;
}

/* Starts a new sign-in: fresh cookies, PKCE, state and nonce. */
static int flow_start(struct client *c)
{
	struct lg *lg = c->lg;
	uint8_t digest[32];
	char challenge[64];
	struct buf url;
	int rc = -1;

	if (curl_easy_setopt(c->easy, CURLOPT_COOKIELIST, "ALL") != CURLE_OK ||
	    af_random_token(32, c->verifier, sizeof(c->verifier)) != 0 ||
	    af_random_token(16, c->state, sizeof(c->state)) != 0 ||
	    af_random_token(16, c->nonce, sizeof(c->nonce)) != 0)
		return -1;
	af_sha256(c->verifier, strlen(c->verifier), digest);
	if (af_b64url_encode(digest, sizeof(digest), challenge,
			     sizeof(challenge)) != 0)
		return -1;
	buf_init(&url, LG_URL_MAX - 1);
	if (buf_puts(&url, lg->authorize_prefix) != 0 ||
	    buf_puts(&url, "&state=") != 0 || buf_puts(&url, c->state) != 0 ||
	    buf_puts(&url, "&nonce=") != 0 || buf_puts(&url, c->nonce) != 0 ||
	    buf_puts(&url, "&code_challenge=") != 0 ||
	    buf_puts(&url, challenge) != 0 ||
	    buf_puts(&url, "&code_challenge_method=S256") != 0)
		goto out;
	if (lg->naccounts > 0) {
		c->acct = &lg->accounts[c->acct_next];
		c->acct_next += lg->o.concurrency;
		if (c->acct_next >= lg->naccounts)
			c->acct_next = (size_t)(c - lg->clients);
	}
	c->step = ST_BROWSE;
	c->hops = 0;
	c->password_posted = 0;
	c->mfa_passed = 0;
	c->page_read = 0;
	c->answered = 0;
	c->txn[0] = '\0';
	c->number[0] = '\0';
	c->polls = 0;
	c->requests = 0;
	c->visible_s = 0;
	OPENSSL_cleanse(c->access, sizeof(c->access));
	c->t0 = af_mono_ns();
	lg->started++;
	rc = get(c, url.data, lg->plain_headers);
out:
	buf_free(&url);
	return rc;
}

static int token_request(struct client *c, const char *code,
			 const char *verifier)
{
	struct lg *lg = c->lg;
	struct buf body;
	int rc = -1;

	buf_init(&body, LG_FORM_BODY_MAX);
	if (buf_puts(&body, lg->token_prefix) != 0 ||
	    buf_param(&body, "code", code) != 0 ||
	    buf_param(&body, "code_verifier", verifier) != 0)
		goto out;
	c->step = ST_TOKEN;
	rc = post(c, lg->token_ep, body.data, lg->token_headers);
out:
	OPENSSL_cleanse(body.data, body.len);
	buf_free(&body);
	return rc;
}

/* Gives an idle client its next piece of work, if any is left. */
static int next_work(struct client *c)
{
	struct lg *lg = c->lg;
	struct code *k;

	if (!more_work(lg))
		return 0;
	if (lg->phase != PH_TOKENS && lg->o.rate > 0) {
		uint64_t now = af_mono_ns();

		/* Open loop: a sign-in starts at its time, not when a
		 * client is free; a client early for it waits idle. */
		if (now < lg->next_start) {
			c->idle = 1;
			lg->idle++;
			return 0;
		}
		if (now - lg->next_start > LG_LATE_NS)
			lg->late++;
		lg->next_start += (uint64_t)(1e9 / lg->o.rate);
	}
	if (lg->phase != PH_TOKENS)
		return flow_start(c);
	k = &lg->codes[lg->next_code++];
	c->t0 = af_mono_ns();
	c->requests = 0;
	lg->started++;
	return token_request(c, k->code, k->verifier);
}

static const char *step_name(enum step s)
{
	static const char *const names[] = {"browse", "mfa page", "mfa status",
					    "token",  "userinfo", "revoke"};

	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/*
 * Counts a failed flow, says why for the first few (with the step, the
 * status and the path of the request of handle easy to url), and moves
 * on.
 */
static void fail_at(struct client *c, CURL *easy, const char *url,
		    const char *step, const char *why)
{
	struct lg *lg = c->lg;
	long status = 0;
	size_t pathlen;
	const char *path = strstr(url, "://");

	lg->errors++;
	if (lg->shown < LG_ERRORS_SHOWN) {
		(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		path = path != NULL ? strchr(path + 3, '/') : NULL;
		path = path != NULL ? path : "/";
		/* The path only: queries carry codes and state. */
		pathlen = strcspn(path, "?#");
		fprintf(stderr,
			"bench_loadgen: %s: flow failed at %s (HTTP %ld, "
			"%.*s): %s\n",
			lg->o.label, step, status, (int)pathlen, path, why);
		lg->shown++;
	}
	if (lg->errors > lg->o.max_errors && !lg->aborted) {
		fprintf(stderr,
			"bench_loadgen: %s: more than %lu errors, stopping\n",
			lg->o.label, lg->o.max_errors);
		lg->aborted = 1;
	}
}

static void fail(struct client *c, const char *why)
{
	fail_at(c, c->easy, c->url, step_name(c->step), why);
}

static void fail_phone(struct client *c, const char *why)
{
	fail_at(c, c->phone, c->purl,
		c->pstep == PS_POLL ? "device challenges" : "device answer",
		why);
}

/*
 * The value of query parameter name in the query of url, decoded, into
 * out. 0, or -1 when absent or too long.
 */
static int query_param(CURL *easy, const char *url, const char *name, char *out,
		       size_t cap)
{
	const char *p = strchr(url, '?');
	size_t n = strlen(name);

	if (p == NULL)
		return -1;
	p++;
	while (*p != '\0' && *p != '#') {
		size_t len = strcspn(p, "&#");

		if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			int outlen = 0;
			char *v = curl_easy_unescape(
				easy, p + n + 1, (int)(len - n - 1), &outlen);
			int rc = -1;

			if (v != NULL && (size_t)outlen < cap) {
				memcpy(out, v, (size_t)outlen);
				out[outlen] = '\0';
				rc = 0;
			}
			if (v != NULL) {
				OPENSSL_cleanse(v, (size_t)outlen);
				curl_free(v);
			}
			return rc;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return -1;
}

/* The redirect reached the client: check state, keep the code. */
static int at_callback(struct client *c, const char *location)
{
	struct lg *lg = c->lg;
	char state[sizeof(c->state) + 1];

	if (!c->password_posted) {
		fail(c, "signed in without a password: cookies were not "
			"reset");
		return -1;
	}
	if (lg->o.mfa && !c->mfa_passed) {
		fail(c, "signed in without the second factor: is the user's "
			"policy without remote access?");
		return -1;
	}
	if (query_param(c->easy, location, "state", state, sizeof(state)) !=
		    0 ||
	    strcmp(state, c->state) != 0) {
		fail(c, "the callback's state is missing or wrong");
		return -1;
	}
	if (query_param(c->easy, location, "code", c->code, sizeof(c->code)) !=
	    0) {
		fail(c, "the callback carries no code (an error answer)");
		return -1;
	}
	if (lg->phase == PH_COLLECT) {
		struct code *k = &lg->codes[lg->ncodes++];

		memcpy(k->code, c->code, sizeof(k->code));
		memcpy(k->verifier, c->verifier, sizeof(k->verifier));
		(void)record(lg, c);
		return 1;
	}
	if (token_request(c, c->code, c->verifier) != 0) {
		fail(c, "could not ask the token endpoint");
		return -1;
	}
	return 0;
}

static int starts_with_uri(const char *url, const char *uri)
{
	size_t n = strlen(uri);

	return strncmp(url, uri, n) == 0 &&
	       (url[n] == '?' || url[n] == '#' || url[n] == '\0');
}

/*
 * Resolves a form action or a next URL against the page's URL. A path
 * from the root ("/login"), what authflow's pages hold, is joined to the
 * page's scheme and authority here (RFC 3986 5.2.2, with no dot segment
 * to remove and no fragment to keep); anything else goes to libcurl's URL
 * parser, which costs it three parses of a URL on every sign-in.
 */
static int resolve(const char *base, const char *ref, char *out, size_t cap)
{
	const char *scheme_end = strstr(base, "://");
	CURLU *u;
	char *text = NULL;
	int rc = -1;

	if (ref[0] == '/' && ref[1] != '/' && strstr(ref, "/.") == NULL &&
	    strchr(ref, '#') == NULL && scheme_end != NULL) {
		size_t origin = (size_t)(scheme_end + 3 - base) +
				strcspn(scheme_end + 3, "/?#");

		if (origin + strlen(ref) >= cap)
			return -1;
		memcpy(out, base, origin);
		memcpy(out + origin, ref, strlen(ref) + 1);
		return 0;
	}
	u = curl_url();
	if (u == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    (ref[0] != '\0' &&
	     curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK) ||
	    curl_url_get(u, CURLUPART_URL, &text, 0) != CURLUE_OK)
		goto out;
	if (strlen(text) < cap) {
		memcpy(out, text, strlen(text) + 1);
		rc = 0;
	}
out:
	curl_free(text);
	curl_url_cleanup(u);
	return rc;
}

/* ---- the second factor (--mfa) ---- */

/* The path and query of url: what a device signature covers. */
static const char *request_target(const char *url)
{
	const char *p = strstr(url, "://");

	p = p != NULL ? strchr(p + 3, '/') : NULL;
	return p != NULL ? p : "/";
}

static int header_add(struct curl_slist **list, const char *name,
		      const char *value)
{
	char line[LG_URL_MAX];
	struct curl_slist *l;

	if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, value) >=
	    sizeof(line))
		return -1;
	l = curl_slist_append(*list, line);
	if (l == NULL)
		return -1;
	*list = l;
	return 0;
}

/*
 * Sends a device API request from the client's phone, signed as the
 * device API wants: ES256 over the method, the target, the time, a fresh
 * nonce (the server refuses one it saw) and the body's digest.
 */
static int phone_request(struct client *c, const char *method, const char *url,
			 const char *body)
{
	struct lg *lg = c->lg;
	char signing[LG_SIGNING_MAX], nonce[64], sig[AF_IDSIM_SIG_B64_BUF];
	char ts[24];
	size_t n = strlen(url), len = 0;
	size_t bodylen = body != NULL ? strlen(body) : 0;
	int64_t now = af_now();

	if (n >= sizeof(c->purl) ||
	    af_random_token(AF_IDSIM_NONCE_BYTES, nonce, sizeof(nonce)) != 0)
		return -1;
	memmove(c->purl, url, n + 1);
	(void)snprintf(ts, sizeof(ts), "%lld", (long long)now);
	if (af_idsim_signing_string(method, request_target(c->purl), now, nonce,
				    body, bodylen, signing, sizeof(signing),
				    &len) != AF_IDSIM_CLIENT_OK ||
	    af_idsim_sign(c->acct->key, signing, len, sig, sizeof(sig)) !=
		    AF_IDSIM_CLIENT_OK)
		return -1;
	curl_slist_free_all(c->psign);
	/* "Expect:" keeps libcurl from waiting for 100-continue. */
	c->psign = curl_slist_append(NULL, "Expect:");
	if (c->psign == NULL ||
	    header_add(&c->psign, "X-AF-Device", c->acct->device) != 0 ||
	    header_add(&c->psign, "X-AF-Timestamp", ts) != 0 ||
	    header_add(&c->psign, "X-AF-Nonce", nonce) != 0 ||
	    header_add(&c->psign, "X-AF-Signature", sig) != 0 ||
	    (body != NULL &&
	     header_add(&c->psign, "Content-Type", "application/json") != 0))
		return -1;
	buf_reset(&c->pbody);
	if (curl_easy_setopt(c->phone, CURLOPT_URL, c->purl) != CURLE_OK ||
	    curl_easy_setopt(c->phone, CURLOPT_HTTPHEADER, c->psign) !=
		    CURLE_OK)
		return -1;
	if (body == NULL) {
		if (curl_easy_setopt(c->phone, CURLOPT_HTTPGET, 1L) != CURLE_OK)
			return -1;
	} else if (curl_easy_setopt(c->phone, CURLOPT_POSTFIELDSIZE,
				    (long)bodylen) != CURLE_OK ||
		   curl_easy_setopt(c->phone, CURLOPT_COPYPOSTFIELDS, body) !=
			   CURLE_OK) {
		return -1;
	}
	if (curl_multi_add_handle(lg->multi, c->phone) != CURLM_OK)
		return -1;
	c->requests++;
	c->phone_busy = 1;
	lg->busy++;
	return 0;
}

static int phone_poll(struct client *c)
{
	c->pstep = PS_POLL;
	c->polls++;
	return phone_request(c, "GET", c->lg->challenges_url, NULL);
}

/* 1 when txn is a usable id this client has not answered yet. */
static int txn_is_new(const struct client *c, const char *txn)
{
	size_t i, n = strlen(txn);

	if (n >= LG_TXN_MAX || !af_b64url_text_ok(txn, n))
		return 0;
	for (i = 0; i < c->nseen && i < LG_SEEN_MAX; i++)
		if (strcmp(c->seen[i], txn) == 0)
			return 0;
	return 1;
}

/*
 * Once the browser has the number and the phone has the challenge, the
 * phone approves it with that number, as the person would type it.
 * 0 (under way, or still waiting for the other half), -1 on failure.
 */
static int mfa_answer_if_ready(struct client *c)
{
	struct lg *lg = c->lg;
	char url[LG_URL_MAX];
	json_t *o;
	char *body = NULL;
	int rc = -1;

	if (!c->page_read || c->txn[0] == '\0' || c->answered)
		return 0;
	o = c->number[0] != '\0' ? json_pack("{s:s, s:s}", "decision",
					     "approve", "number", c->number)
				 : json_pack("{s:s}", "decision", "approve");
	body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	if (body == NULL ||
	    (size_t)snprintf(url, sizeof(url), "%s/%s", lg->challenges_url,
			     c->txn) >= sizeof(url))
		goto out;
	c->pstep = PS_ANSWER;
	c->answered = 1;
	if (phone_request(c, "POST", url, body) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fail_phone(c, "could not answer the challenge");
	free(body);
	json_decref(o);
	return rc;
}

/* The phone's challenge list came: take ours, or ask again shortly. */
static int phone_poll_done(struct client *c, long status)
{
	struct lg *lg = c->lg;
	const char *best = NULL;
	json_int_t best_exp = 0;
	json_t *o, *list, *e;
	size_t i;
	int rc = -1;

	if (status != 200) {
		fail_phone(c, "the device API refused the challenge list");
		return -1;
	}
	o = json_loadb(c->pbody.data, c->pbody.len, 0, NULL);
	list = json_object_get(o, "challenges");
	if (!json_is_array(list)) {
		fail_phone(c, "the answer has no challenges list");
		goto out;
	}
	/* A challenge left from a failed flow is older: take the newest. */
	json_array_foreach(list, i, e)
	{
		const char *txn = json_string_value(json_object_get(e, "txn"));
		json_int_t exp =
			json_integer_value(json_object_get(e, "expires_at"));

		if (txn == NULL || !txn_is_new(c, txn))
			continue;
		if (best == NULL || exp >= best_exp) {
			best = txn;
			best_exp = exp;
		}
	}
	if (best == NULL) {
		if (af_mono_ns() - c->t_password > LG_VISIBLE_MAX_NS) {
			fail_phone(c, "the challenge never reached the device");
			goto out;
		}
		c->poll_at = af_mono_ns() + (uint64_t)LG_POLL_MS * 1000000u;
		lg->waiting++;
		rc = 0;
		goto out;
	}
	c->visible_s = secs(af_mono_ns() - c->t_password);
	memcpy(c->txn, best, strlen(best) + 1);
	memcpy(c->seen[c->nseen % LG_SEEN_MAX], best, strlen(best) + 1);
	c->nseen++;
	rc = mfa_answer_if_ready(c);
out:
	json_decref(o);
	return rc;
}

/* The phone's answer was taken: the browser asks for the next step. */
static int phone_answer_done(struct client *c, long status)
{
	char url[LG_URL_MAX];
	const char *q = strchr(c->mfa_url, '?');
	const char *state;
	json_t *o;
	int ok;

	o = json_loadb(c->pbody.data, c->pbody.len, 0, NULL);
	state = json_string_value(json_object_get(o, "state"));
	ok = status == 200 && state != NULL && strcmp(state, "approved") == 0;
	json_decref(o);
	if (!ok) {
		fail_phone(c, "the approval was not taken");
		return -1;
	}
	c->mfa_passed = 1;
	c->step = ST_MFA_STATUS;
	if (q == NULL ||
	    (size_t)snprintf(url, sizeof(url), "%.*s/status%s",
			     (int)(q - c->mfa_url), c->mfa_url,
			     q) >= sizeof(url) ||
	    get(c, url, c->lg->plain_headers) != 0) {
		fail(c, "could not ask for the sign-in's status");
		return -1;
	}
	return 0;
}

/*
 * The browser's MFA page came: read the number off it (there is none
 * when number matching is off).
 */
static int mfa_page_done(struct client *c, long status)
{
	const char *p, *end;
	size_t n = 0;

	if (status != 200 || c->body.data == NULL) {
		fail(c, "the MFA page did not come");
		return -1;
	}
	/* Without a challenge the page offers the token code only. */
	if (strstr(c->body.data, "id=\"mfa\"") == NULL) {
		fail(c, "no challenge on the MFA page (push limit reached, "
			"or legacy workflow?)");
		return -1;
	}
	p = strstr(c->body.data, "class=\"number\"");
	if (p != NULL) {
		p = strchr(p, '>');
		end = p != NULL ? strchr(p, '<') : NULL;
		if (end == NULL) {
			fail(c, "a malformed number on the MFA page");
			return -1;
		}
		for (p++; p < end; p++) {
			if (*p < '0' || *p > '9')
				continue;
			if (n + 1 >= sizeof(c->number)) {
				fail(c, "the MFA page's number is too long");
				return -1;
			}
			c->number[n++] = *p;
		}
	}
	c->number[n] = '\0';
	c->page_read = 1;
	return mfa_answer_if_ready(c);
}

/* The status after the approval: its next URL leads to the code. */
static int mfa_status_done(struct client *c, long status)
{
	char next[LG_URL_MAX];
	const char *v;
	json_t *o;
	int rc = -1;

	o = json_loadb(c->body.data, c->body.len, 0, NULL);
	v = json_string_value(json_object_get(o, "next"));
	if (status != 200 || v == NULL) {
		fail(c, "the status after the approval has no next URL");
		goto out;
	}
	c->step = ST_BROWSE;
	if (resolve(c->url, v, next, sizeof(next)) != 0 ||
	    get(c, next, c->lg->plain_headers) != 0) {
		fail(c, "could not follow the next URL");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	return rc;
}

static int is_mfa_page(const char *url)
{
	return strstr(request_target(url), "/login/mfa?") != NULL;
}

/*
 * The password was taken and the browser is sent to the MFA page: the
 * browser opens it while the phone asks for its challenges, in parallel
 * as a person with the phone in hand would.
 */
static int mfa_begin(struct client *c, const char *location)
{
	size_t n = strlen(location);

	if (n >= sizeof(c->mfa_url)) {
		fail(c, "the MFA page's URL is too long");
		return -1;
	}
	memcpy(c->mfa_url, location, n + 1);
	c->step = ST_MFA_PAGE;
	if (get(c, c->mfa_url, c->lg->plain_headers) != 0) {
		fail(c, "could not open the MFA page");
		return -1;
	}
	if (phone_poll(c) != 0) {
		fail_phone(c, "could not ask for the challenges");
		return -1;
	}
	return 0;
}

/*
 * A browser step finished: follow a redirect, stop at the client's
 * callback, or submit the page's form. Returns 1 when the flow ended
 * (collected code), 0 when a request is under way, -1 on failure (already
 * counted).
 */
static int browse_done(struct client *c, long status)
{
	struct lg *lg = c->lg;
	char *location = NULL, action[LG_URL_MAX];
	struct buf body;
	uint64_t sent;
	int has_password = 0, is_post = 0, rc = -1;

	if (++c->hops > LG_HOPS_MAX) {
		fail(c, "too many steps without reaching the client");
		return -1;
	}
	if (status >= 300 && status < 400) {
		if (curl_easy_getinfo(c->easy, CURLINFO_REDIRECT_URL,
				      &location) != CURLE_OK ||
		    location == NULL) {
			fail(c, "a redirect without a usable Location");
			return -1;
		}
		if (starts_with_uri(location, lg->o.redirect_uri))
			return at_callback(c, location);
		if (lg->o.mfa && c->password_posted && !c->mfa_passed &&
		    is_mfa_page(location))
			return mfa_begin(c, location);
		if (get(c, location, lg->plain_headers) != 0) {
			fail(c, "could not follow the redirect");
			return -1;
		}
		return 0;
	}
	if (status != 200 || c->body.data == NULL ||
	    form_parse(c->body.data, c->body.len, &lg->form, &is_post) != 0 ||
	    !is_post) {
		fail(c, "expected a redirect or a page with a POST form");
		return -1;
	}
	buf_init(&body, LG_FORM_BODY_MAX);
	sent = af_mono_ns();
	if (resolve(c->url, lg->form.action, action, sizeof(action)) != 0 ||
	    form_body(c, &lg->form, &body, &has_password) != 0 ||
	    post(c, action, body.data != NULL ? body.data : "",
		 lg->plain_headers) != 0) {
		fail(c, "could not submit the form");
		goto out;
	}
	if (has_password)
		c->t_password = sent;
	c->password_posted |= has_password;
	rc = 0;
out:
	if (body.data != NULL)
		OPENSSL_cleanse(body.data, body.len);
	buf_free(&body);
	return rc;
}

/* 1 when the n bytes at s are all visible ASCII (a header value). */
static int visible(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	}
	return 1;
}

/*
 * The plain string value of the member NAME of a JSON object written the
 * way token endpoints write it ("NAME":"value", the value without escapes),
 * as a pointer into BODY and its length; NULL when it is not found so.
 * A bounded scan, not a parse: see token_fields.
 */
static const char *scan_member(const struct buf *body, const char *name,
			       size_t *len)
{
	const char *p = body->data, *end = body->data + body->len, *v;
	size_t n = strlen(name);

	while (p != NULL && (size_t)(end - p) > n + 3) {
		p = memchr(p, '"', (size_t)(end - p) - n - 3);
		if (p == NULL)
			break;
		if (memcmp(p + 1, name, n) != 0 || p[n + 1] != '"' ||
		    p[n + 2] != ':') {
			p++;
			continue;
		}
		v = p + n + 3;
		while (v < end && (*v == ' ' || *v == '\t' || *v == '\n'))
			v++;
		if (v >= end || *v != '"')
			return NULL;
		v++;
		p = memchr(v, '"', (size_t)(end - v));
		if (p == NULL || memchr(v, '\\', (size_t)(p - v)) != NULL)
			return NULL;
		*len = (size_t)(p - v);
		return v;
	}
	return NULL;
}

/*
 * Checks a token answer (access_token, token_type Bearer, id_token) and
 * copies the access token into ACCESS; 0 or -1. Most answers are checked
 * by scan_member: a full JSON parse of each costs the load generator about
 * a quarter of its CPU in the token-only run, CPU that the server under
 * test, on the same cores, would otherwise have. One answer in
 * LG_PARSE_EVERY, and every one the scan cannot read, is parsed in full.
 */
static int token_fields(struct lg *lg, const struct buf *body, char *access,
			size_t access_max)
{
	json_t *o;
	const char *a, *t, *id;
	size_t alen = 0, tlen = 0, idlen = 0;
	int rc = -1;

	if (lg->token_answers++ % LG_PARSE_EVERY != 0) {
		a = scan_member(body, "access_token", &alen);
		t = scan_member(body, "token_type", &tlen);
		id = scan_member(body, "id_token", &idlen);
		if (a != NULL && t != NULL && id != NULL) {
			if (alen == 0 || alen >= access_max || tlen != 6 ||
			    strncasecmp(t, "Bearer", 6) != 0 || idlen == 0 ||
			    !visible(a, alen))
				return -1;
			memcpy(access, a, alen);
			access[alen] = '\0';
			return 0;
		}
	}
	o = json_loadb(body->data, body->len, 0, NULL);
	a = json_string_value(json_object_get(o, "access_token"));
	t = json_string_value(json_object_get(o, "token_type"));
	if (a != NULL && t != NULL && strcasecmp(t, "Bearer") == 0 &&
	    json_is_string(json_object_get(o, "id_token")) && a[0] != '\0' &&
	    strlen(a) < access_max && visible(a, strlen(a))) {
		memcpy(access, a, strlen(a) + 1);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

static int token_done(struct client *c, long status)
{
	struct lg *lg = c->lg;
	char access[LG_TOKEN_MAX];
	char header[LG_TOKEN_MAX + 32];
	int rc = -1;

	if (status != 200) {
		fail(c, "the token endpoint refused the code");
		return -1;
	}
	if (token_fields(lg, &c->body, access, sizeof(access)) != 0) {
		fail(c, "the token answer lacks access_token or id_token");
		goto out;
	}
	if (lg->phase == PH_TOKENS) {
		(void)record(lg, c);
		rc = 1;
		goto out;
	}
	if ((size_t)snprintf(header, sizeof(header), "Authorization: Bearer %s",
			     access) >= sizeof(header)) {
		fail(c, "the access token is too long");
		goto out;
	}
	slist_wipe_free(c->bearer);
	c->bearer = curl_slist_append(NULL, header);
	OPENSSL_cleanse(header, sizeof(header));
	if (lg->o.revoke)
		memcpy(c->access, access, sizeof(c->access));
	c->step = ST_USERINFO;
	if (c->bearer == NULL || get(c, lg->userinfo_ep, c->bearer) != 0) {
		fail(c, "could not ask the userinfo endpoint");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(access, sizeof(access));
	return rc;
}

static int revoke_request(struct client *c)
{
	struct lg *lg = c->lg;
	struct buf body;
	int rc = -1;

	buf_init(&body, LG_FORM_BODY_MAX);
	if (buf_puts(&body, "token_type_hint=access_token") != 0 ||
	    buf_param(&body, "token", c->access) != 0)
		goto out;
	c->step = ST_REVOKE;
	rc = post(c, lg->revoke_ep, body.data, lg->token_headers);
out:
	OPENSSL_cleanse(c->access, sizeof(c->access));
	OPENSSL_cleanse(body.data, body.len);
	buf_free(&body);
	if (rc != 0)
		fail(c, "could not ask the revocation endpoint");
	return rc;
}

static int userinfo_done(struct client *c, long status)
{
	json_t *o;
	int ok;

	if (status != 200) {
		fail(c, "the userinfo endpoint refused the token");
		return -1;
	}
	o = json_loadb(c->body.data, c->body.len, 0, NULL);
	ok = json_is_string(json_object_get(o, "sub"));
	json_decref(o);
	if (!ok) {
		fail(c, "the userinfo answer has no sub");
		return -1;
	}
	if (c->lg->o.revoke)
		return revoke_request(c);
	(void)record(c->lg, c);
	return 1;
}

/* RFC 7009: the access token is revoked as a relying party does at
 * sign-out, so that the flow leaves no state behind in the provider. */
static int revoke_done(struct client *c, long status)
{
	if (status != 200) {
		fail(c, "the revocation endpoint refused the request");
		return -1;
	}
	(void)record(c->lg, c);
	return 1;
}

/*
 * Ends the client's flow (done or failed): stops the transfer of its other
 * handle and its poll timer, and starts its next flow.
 */
static void flow_end(struct client *c)
{
	struct lg *lg = c->lg;

	if (c->busy) {
		(void)curl_multi_remove_handle(lg->multi, c->easy);
		c->busy = 0;
		lg->busy--;
	}
	if (c->phone_busy) {
		(void)curl_multi_remove_handle(lg->multi, c->phone);
		c->phone_busy = 0;
		lg->busy--;
	}
	if (c->poll_at != 0) {
		c->poll_at = 0;
		lg->waiting--;
	}
	if (next_work(c) != 0)
		fail(c, "could not start the next flow");
}

static int browser_done(struct client *c, CURLcode res)
{
	long status = 0;

	c->busy = 0;
	c->lg->busy--;
	if (res != CURLE_OK) {
		fail(c, curl_easy_strerror(res));
		return -1;
	}
	(void)curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	switch (c->step) {
	case ST_BROWSE:
		return browse_done(c, status);
	case ST_MFA_PAGE:
		return mfa_page_done(c, status);
	case ST_MFA_STATUS:
		return mfa_status_done(c, status);
	case ST_TOKEN:
		return token_done(c, status);
	case ST_REVOKE:
		return revoke_done(c, status);
	case ST_USERINFO:
	default:
		return userinfo_done(c, status);
	}
}

static int phone_done(struct client *c, CURLcode res)
{
	long status = 0;

	c->phone_busy = 0;
	c->lg->busy--;
	if (res != CURLE_OK) {
		fail_phone(c, curl_easy_strerror(res));
		return -1;
	}
	(void)curl_easy_getinfo(c->phone, CURLINFO_RESPONSE_CODE, &status);
	return c->pstep == PS_POLL ? phone_poll_done(c, status)
				   : phone_answer_done(c, status);
}

/* One transfer of client c, on its handle easy, completed with res. */
static void on_done(struct client *c, CURL *easy, CURLcode res)
{
	int rc = easy == c->phone ? phone_done(c, res) : browser_done(c, res);

	if (rc != 0)
		flow_end(c);
}

/*
 * Sends the challenge list requests whose time has come. Returns when the
 * next one is due, or 0 when no client waits.
 */
static uint64_t fire_polls(struct lg *lg)
{
	uint64_t now = af_mono_ns(), next = 0;
	unsigned long i;

	if (lg->waiting == 0)
		return 0;
	for (i = 0; i < lg->o.concurrency; i++) {
		struct client *c = &lg->clients[i];

		if (c->poll_at == 0)
			continue;
		if (c->poll_at > now) {
			if (next == 0 || c->poll_at < next)
				next = c->poll_at;
			continue;
		}
		c->poll_at = 0;
		lg->waiting--;
		if (phone_poll(c) != 0) {
			fail_phone(c, "could not ask for the challenges");
			flow_end(c);
		}
	}
	return next;
}

/* ---- the event loop ---- */

/*
 * --rate: starts the sign-ins that are due on idle clients; returns when
 * the next one is due (0: none is waiting to start).
 */
static uint64_t fire_starts(struct lg *lg)
{
	unsigned long i;

	/* Round robin, so that every client's users take turns. */
	for (i = 0; i < lg->o.concurrency && lg->idle > 0; i++) {
		struct client *c =
			&lg->clients[(lg->start_rr + i) % lg->o.concurrency];

		if (!c->idle)
			continue;
		if (!more_work(lg))
			return 0;
		if (af_mono_ns() < lg->next_start)
			return lg->next_start;
		c->idle = 0;
		lg->idle--;
		lg->start_rr = (unsigned long)(c - lg->clients) + 1;
		if (next_work(c) != 0)
			fail(c, "could not start a flow");
	}
	return lg->idle > 0 && more_work(lg) ? lg->next_start : 0;
}

/* Hands finished transfers to their clients. */
static void drain(struct lg *lg)
{
	CURLMsg *msg;
	int left = 0;

	while ((msg = curl_multi_info_read(lg->multi, &left)) != NULL) {
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					&priv);
		(void)curl_multi_remove_handle(lg->multi, msg->easy_handle);
		if (priv != NULL)
			on_done((struct client *)(void *)priv, msg->easy_handle,
				msg->data.result);
	}
}

/*
 * libcurl says which events it wants on a socket: mirror it in epoll,
 * lazily. lg->reg[s] is what s is registered for (REG_ON and the events),
 * and a call that asks for that again costs nothing. A socket libcurl no
 * longer watches (a connection back in its cache) stays registered, marked
 * REG_IDLE: the next request on it mostly asks for the very same events,
 * so that a kept-alive connection costs no system call per request here.
 * Should an idle socket be ready all the same (the server closed it), the
 * event loop drops it from the set then (stray()); and a socket libcurl
 * closes leaves the set with it (on_close()).
 */
#define REG_ON	 0x1u
#define REG_IN	 0x2u
#define REG_OUT	 0x4u
#define REG_IDLE 0x8u

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp,
		     void *socketp)
{
	struct lg *lg = userp;
	struct epoll_event ev;
	unsigned char want, *reg;

	(void)easy;
	(void)socketp;
	if (s < 0 || (size_t)s >= lg->nreg)
		return -1;
	reg = &lg->reg[s];
	if (what == CURL_POLL_REMOVE) {
		if (*reg != 0)
			*reg |= REG_IDLE;
		return 0;
	}
	want = (unsigned char)(REG_ON |
			       ((what & CURL_POLL_IN) != 0 ? REG_IN : 0) |
			       ((what & CURL_POLL_OUT) != 0 ? REG_OUT : 0));
	if ((*reg & ~REG_IDLE) == want) {
		*reg = want;
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = ((want & REG_IN) != 0 ? EPOLLIN : 0) |
		    ((want & REG_OUT) != 0 ? EPOLLOUT : 0);
	ev.data.fd = s;
	/*
	 * A socket libcurl closed other than through on_close() (its
	 * resolver's, say) left the set without this knowing: the other
	 * call then does.
	 */
	if (epoll_ctl(lg->epfd, *reg != 0 ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s,
		      &ev) != 0 &&
	    epoll_ctl(lg->epfd, *reg != 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s,
		      &ev) != 0)
		return -1;
	*reg = want;
	return 0;
}

/* A ready socket that libcurl no longer watches: out of the set it goes. */
static int stray(struct lg *lg, int fd)
{
	if (fd < 0 || (size_t)fd >= lg->nreg || (lg->reg[fd] & REG_IDLE) == 0)
		return 0;
	(void)epoll_ctl(lg->epfd, EPOLL_CTL_DEL, fd, NULL);
	lg->reg[fd] = 0;
	return 1;
}

/* libcurl closes a socket: closing takes it out of the epoll set too. */
static int on_close(void *clientp, curl_socket_t s)
{
	struct lg *lg = clientp;

	if (s >= 0 && (size_t)s < lg->nreg)
		lg->reg[s] = 0;
	return close(s);
}

/* libcurl's single timer: when it next wants to be called, or never. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct lg *lg = userp;

	(void)multi;
	lg->timer_at = timeout_ms < 0
			       ? 0
			       : af_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	return 0;
}

/*
 * Milliseconds to wait for events: until libcurl's timer or the next
 * challenge poll (poll_at, 0 for none), at most 100.
 */
static int wait_ms(const struct lg *lg, uint64_t poll_at)
{
	uint64_t now = af_mono_ns();
	int ms = 100;

	if (lg->timer_at != 0) {
		if (lg->timer_at <= now)
			return 0;
		if (lg->timer_at - now < 100000000u)
			ms = (int)((lg->timer_at - now) / 1000000u);
	}
	if (poll_at != 0) {
		/* Rounded up: waking early would only spin. */
		uint64_t left = poll_at > now ? poll_at - now : 0;
		int pms = (int)((left + 999999u) / 1000000u);

		if (pms < ms)
			ms = pms;
	}
	return ms;
}

/* ---- set-up ---- */

/*
 * The options the browser's and the phone's handles share. No proxy: the
 * server under test is on this host, and libcurl would otherwise read the
 * proxy variables of the environment again for every request.
 */
static int handle_init(struct client *c, CURL *easy, struct buf *body)
{
	if (curl_easy_setopt(easy, CURLOPT_PRIVATE, c) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEDATA, body) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, c->lg) != CURLE_OK)
		return -1;
	return 0;
}

static int client_init(struct lg *lg, struct client *c)
{
	c->lg = lg;
	c->acct_next = (size_t)(c - lg->clients);
	buf_init(&c->body, LG_BODY_MAX);
	buf_init(&c->pbody, LG_BODY_MAX);
	c->easy = curl_easy_init();
	if (c->easy == NULL)
		return -1;
	/* An empty file name turns the cookie engine on without a file. */
	if (curl_easy_setopt(c->easy, CURLOPT_COOKIEFILE, "") != CURLE_OK ||
	    handle_init(c, c->easy, &c->body) != 0)
		return -1;
	if (!lg->o.mfa)
		return 0;
	c->phone = curl_easy_init();
	if (c->phone == NULL || handle_init(c, c->phone, &c->pbody) != 0)
		return -1;
	return 0;
}

static void client_cleanup(struct client *c)
{
	if (c->easy != NULL) {
		if (c->busy)
			(void)curl_multi_remove_handle(c->lg->multi, c->easy);
		curl_easy_cleanup(c->easy);
	}
	if (c->phone != NULL) {
		if (c->phone_busy)
			(void)curl_multi_remove_handle(c->lg->multi, c->phone);
		curl_easy_cleanup(c->phone);
	}
	slist_wipe_free(c->bearer);
	curl_slist_free_all(c->psign);
	buf_free(&c->body);
	buf_free(&c->pbody);
	OPENSSL_cleanse(c, sizeof(*c));
}

static int copy_endpoint(const json_t *d, const char *key, char *out,
			 size_t cap)
{
	const char *v = json_string_value(json_object_get(d, key));

	if (v == NULL || strlen(v) >= cap)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* Reads the provider's discovery document for its endpoint URLs. */
static int discover(struct lg *lg, char *authorize, size_t cap)
{
	struct buf body, url;
	CURL *easy = curl_easy_init();
	json_t *d = NULL;
	long status = 0;
	int rc = -1;

	buf_init(&body, LG_BODY_MAX);
	buf_init(&url, LG_URL_MAX - 1);
	if (easy == NULL || buf_puts(&url, lg->o.url) != 0 ||
	    buf_puts(&url, "/.well-known/openid-configuration") != 0)
		goto out;
	if (curl_easy_setopt(easy, CURLOPT_URL, url.data) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body) !=
		    CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 10L) != CURLE_OK ||
	    curl_easy_perform(easy) != CURLE_OK ||
	    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) !=
		    CURLE_OK ||
	    status != 200)
		goto out;
	d = json_loadb(body.data, body.len, 0, NULL);
	if (copy_endpoint(d, "authorization_endpoint", authorize, cap) != 0 ||
	    copy_endpoint(d, "token_endpoint", lg->token_ep,
			  sizeof(lg->token_ep)) != 0 ||
	    copy_endpoint(d, "userinfo_endpoint", lg->userinfo_ep,
			  sizeof(lg->userinfo_ep)) != 0 ||
	    (lg->o.revoke &&
	     copy_endpoint(d, "revocation_endpoint", lg->revoke_ep,
			   sizeof(lg->revoke_ep)) != 0))
		goto out;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr,
			"bench_loadgen: %s: no usable discovery document at "
			"%s (HTTP %ld)\n",
			lg->o.label, url.data != NULL ? url.data : "", status);
	json_decref(d);
	buf_free(&body);
	buf_free(&url);
	curl_easy_cleanup(easy);
	return rc;
}

/*
 * "Authorization: Basic ..." for client_secret_basic: RFC 6749 2.3.1
 * form-encodes id and secret before they are joined and base64-encoded.
 */
static int basic_header(struct lg *lg, CURL *easy)
{
	struct buf cred, hdr;
	unsigned char *b64 = NULL;
	size_t n;
	int rc = -1;

	buf_init(&cred, LG_FORM_BODY_MAX);
	buf_init(&hdr, LG_FORM_BODY_MAX);
	if (buf_esc(&cred, easy, lg->o.client_id) != 0 ||
	    buf_puts(&cred, ":") != 0 ||
	    buf_esc(&cred, easy, lg->o.client_secret) != 0)
		goto out;
	n = 4 * ((cred.len + 2) / 3) + 1;
	b64 = malloc(n);
	if (b64 == NULL)
		goto out;
	EVP_EncodeBlock(b64, (const unsigned char *)cred.data, (int)cred.len);
	if (buf_puts(&hdr, "Authorization: Basic ") != 0 ||
	    buf_puts(&hdr, (const char *)b64) != 0)
		goto out;
	lg->token_headers = curl_slist_append(lg->token_headers, hdr.data);
	rc = lg->token_headers != NULL ? 0 : -1;
out:
	if (b64 != NULL)
		OPENSSL_clear_free(b64, n);
	if (cred.data != NULL)
		OPENSSL_cleanse(cred.data, cred.len);
	if (hdr.data != NULL)
		OPENSSL_cleanse(hdr.data, hdr.len);
	buf_free(&cred);
	buf_free(&hdr);
	return rc;
}

/* The constant parts of every authorization URL and token request. */
static int prefixes(struct lg *lg, CURL *easy, const char *authorize)
{
	struct buf a, t;

	buf_init(&a, LG_URL_MAX / 2);
	buf_init(&t, LG_FORM_BODY_MAX);
	if (buf_puts(&a, authorize) != 0 ||
	    buf_puts(&a, strchr(authorize, '?') != NULL ? "&" : "?") != 0 ||
	    buf_puts(&a, "response_type=code&client_id=") != 0 ||
	    buf_esc(&a, easy, lg->o.client_id) != 0 ||
	    buf_puts(&a, "&redirect_uri=") != 0 ||
	    buf_esc(&a, easy, lg->o.redirect_uri) != 0 ||
	    buf_puts(&a, "&scope=") != 0 ||
	    buf_esc(&a, easy, lg->o.scope) != 0 ||
	    buf_puts(&t, "grant_type=authorization_code&redirect_uri=") != 0 ||
	    buf_esc(&t, easy, lg->o.redirect_uri) != 0) {
		buf_free(&a);
		buf_free(&t);
		return -1;
	}
	lg->authorize_prefix = a.data;
	lg->token_prefix = t.data;
	return 0;
}

/* Copies string member key of o into out (cap bytes); 0 or -1. */
static int copy_member(const json_t *o, const char *key, char *out, size_t cap)
{
	const char *v = json_string_value(json_object_get(o, key));

	if (v == NULL || v[0] == '\0' || strlen(v) >= cap)
		return -1;
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* One entry of --users: the user, and with --mfa their device and key. */
static int account_from(const struct lg *lg, const json_t *e, struct account *a)
{
	if (copy_member(e, "user", a->user, sizeof(a->user)) != 0 ||
	    copy_member(e, "password", a->password, sizeof(a->password)) != 0)
		return -1;
	if (!lg->o.mfa)
		return 0;
	if (copy_member(e, "device_id", a->device, sizeof(a->device)) != 0 ||
	    af_idsim_key_from_jwk(json_object_get(e, "private_key"), &a->key) !=
		    AF_IDSIM_CLIENT_OK)
		return -1;
	return 0;
}

/* Reads --users FILE, a JSON list of at least one user per client. */
static int accounts_load(struct lg *lg)
{
	const char *path = lg->o.users_file;
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	struct buf text;
	json_t *list = NULL, *e;
	const char *why = "cannot read it";
	size_t i, n;
	int rc = -1;

	buf_init(&text, LG_ACCOUNTS_FILE_MAX);
	if (f == NULL)
		goto out;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&text, chunk, n) != 0) {
			why = "it is too big";
			goto out;
		}
	if (ferror(f) || text.data == NULL)
		goto out;
	list = json_loadb(text.data, text.len, 0, NULL);
	why = "not a JSON list of one entry per client or more";
	if (!json_is_array(list) || json_array_size(list) < lg->o.concurrency ||
	    json_array_size(list) > LG_ACCOUNTS_MAX)
		goto out;
	lg->accounts = calloc(json_array_size(list), sizeof(*lg->accounts));
	if (lg->accounts == NULL)
		goto out;
	why = lg->o.mfa ? "an entry lacks user, password, device_id or a "
			  "P-256 private_key JWK"
			: "an entry lacks user or password";
	json_array_foreach(list, i, e)
	{
		lg->naccounts++;
		if (account_from(lg, e, &lg->accounts[i]) != 0)
			goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "bench_loadgen: %s: %s\n", path, why);
	if (f != NULL)
		(void)fclose(f);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (text.data != NULL)
		OPENSSL_cleanse(text.data, text.len);
	buf_free(&text);
	json_decref(list);
	return rc;
}

static int setup(struct lg *lg)
{
	char authorize[LG_URL_MAX];
	CURL *easy = curl_easy_init();
	struct rlimit nofile;
	unsigned long i;
	int rc = -1;

	if (easy == NULL || discover(lg, authorize, sizeof(authorize)) != 0)
		goto out;
	if (lg->o.users_file != NULL && accounts_load(lg) != 0)
		goto out;
	if ((size_t)snprintf(lg->challenges_url, sizeof(lg->challenges_url),
			     "%s/device/v1/challenges",
			     lg->o.url) >= sizeof(lg->challenges_url))
		goto out;
	/* "Expect:" keeps libcurl from waiting for 100-continue. */
	lg->plain_headers = curl_slist_append(NULL, "Expect:");
	lg->token_headers = curl_slist_append(NULL, "Expect:");
	if (lg->plain_headers == NULL || lg->token_headers == NULL ||
	    basic_header(lg, easy) != 0 || prefixes(lg, easy, authorize) != 0)
		goto out;
	lg->multi = curl_multi_init();
	lg->clients = calloc(lg->o.concurrency, sizeof(*lg->clients));
	lg->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (getrlimit(RLIMIT_NOFILE, &nofile) != 0)
		goto out;
	lg->nreg = nofile.rlim_cur < LG_FDS_MAX ? (size_t)nofile.rlim_cur
						: LG_FDS_MAX;
	lg->reg = calloc(lg->nreg, 1);
	if (lg->multi == NULL || lg->clients == NULL || lg->epfd < 0 ||
	    lg->reg == NULL ||
	    curl_multi_setopt(lg->multi, CURLMOPT_SOCKETFUNCTION, on_socket) !=
		    CURLM_OK ||
	    curl_multi_setopt(lg->multi, CURLMOPT_SOCKETDATA, lg) != CURLM_OK ||
	    curl_multi_setopt(lg->multi, CURLMOPT_TIMERFUNCTION, on_timer) !=
		    CURLM_OK ||
	    curl_multi_setopt(lg->multi, CURLMOPT_TIMERDATA, lg) != CURLM_OK)
		goto out;
	for (i = 0; i < lg->o.concurrency; i++)
		if (client_init(lg, &lg->clients[i]) != 0)
			goto out;
	rc = 0;
out:
	curl_easy_cleanup(easy);
	return rc;
}

static void teardown(struct lg *lg)
{
	size_t i;

	if (lg->clients != NULL)
		for (i = 0; i < lg->o.concurrency; i++)
			client_cleanup(&lg->clients[i]);
	free(lg->clients);
	if (lg->multi != NULL)
		curl_multi_cleanup(lg->multi); /* closes through on_close() */
	free(lg->reg);
	if (lg->epfd >= 0)
		close(lg->epfd);
	curl_slist_free_all(lg->plain_headers);
	slist_wipe_free(lg->token_headers);
	free(lg->authorize_prefix);
	free(lg->token_prefix);
	free(lg->lat.v);
	free(lg->visible.v);
	for (i = 0; i < lg->naccounts; i++)
		EVP_PKEY_free(lg->accounts[i].key);
	if (lg->accounts != NULL)
		OPENSSL_clear_free(lg->accounts,
				   lg->naccounts * sizeof(*lg->accounts));
	if (lg->codes != NULL)
		OPENSSL_clear_free(lg->codes,
				   lg->o.token_only * sizeof(*lg->codes));
}

/*
 * Runs until every client is idle. libcurl's socket interface with epoll
 * costs per event, not per transfer in flight, so the load generator
 * takes as little of the machine's CPU from the server as it can.
 * 0, or -1 when stopped early.
 */
static int run_phase(struct lg *lg)
{
	struct epoll_event ev[64];
	unsigned long i;
	int running = 0, n, k;

	lg->t_window = af_mono_ns();
	lg->t_last = lg->t_window;
	lg->next_start = lg->t_window;
	for (i = 0; i < lg->o.concurrency; i++)
		if (next_work(&lg->clients[i]) != 0)
			fail(&lg->clients[i], "could not start a flow");
	while (lg->busy > 0 || lg->waiting > 0 ||
	       (lg->idle > 0 && more_work(lg))) {
		uint64_t poll_at = fire_polls(lg), start_at = fire_starts(lg);

		if (start_at != 0 && (poll_at == 0 || start_at < poll_at))
			poll_at = start_at;

		if (af_mono_ns() > lg->hard_deadline) {
			fprintf(stderr, "bench_loadgen: %s: timed out\n",
				lg->o.label);
			return -1;
		}
		n = epoll_wait(lg->epfd, ev, 64, wait_ms(lg, poll_at));
		if (n < 0 && errno != EINTR)
			return -1;
		for (k = 0; k < n; k++) {
			int flags = 0;

			if (stray(lg, ev[k].data.fd))
				continue;
			if ((ev[k].events & EPOLLIN) != 0)
				flags |= CURL_CSELECT_IN;
			if ((ev[k].events & EPOLLOUT) != 0)
				flags |= CURL_CSELECT_OUT;
			if ((ev[k].events & (EPOLLERR | EPOLLHUP)) != 0)
				flags |= CURL_CSELECT_ERR;
			if (curl_multi_socket_action(lg->multi, ev[k].data.fd,
						     flags,
						     &running) != CURLM_OK)
				return -1;
		}
		if (lg->timer_at != 0 && af_mono_ns() >= lg->timer_at) {
			lg->timer_at = 0;
			if (curl_multi_socket_action(lg->multi,
						     CURL_SOCKET_TIMEOUT, 0,
						     &running) != CURLM_OK)
				return -1;
		}
		drain(lg);
	}
	return lg->aborted ? -1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted samples, in milliseconds. */
static double pct_ms(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)n + 0.999999);
	i = i > 0 ? i - 1 : 0;
	return v[i < n ? i : n - 1] * 1e3;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void report(struct lg *lg, const char *mode, double cpu)
{
	const struct samples *l = &lg->lat, *v = &lg->visible;
	/* No measured flow (all were warm-up): no window either. */
	double t = l->n > 0 ? secs(lg->t_last - lg->t_window) : 0;
	double rate = t > 0 ? (double)l->n / t : 0;
	double polls = v->n > 0 ? (double)lg->polls / (double)v->n : 0;
	double reqs = l->n > 0 ? (double)lg->requests / (double)l->n : 0;
	const char *what = strcmp(mode, "token") == 0 ? "token requests"
			   : strcmp(mode, "mfa") == 0 ? "MFA sign-ins"
						      : "sign-ins";

	if (l->n > 0)
		qsort(l->v, l->n, sizeof(double), cmp_double);
	if (v->n > 0)
		qsort(v->v, v->n, sizeof(double), cmp_double);
	if (lg->o.rate > 0)
		printf("%s: open loop, %.1f sign-ins started per second "
		       "(%lu started over 1 ms late)\n",
		       lg->o.label, lg->o.rate, lg->late);
	printf("%s: %zu %s in %.2f s with %lu clients: %.1f/s, p50 %.1f ms, "
	       "p99 %.1f ms, max %.1f ms, %lu errors, load generator CPU "
	       "%.1f s, %.2f HTTP requests each\n",
	       lg->o.label, l->n, what, t, lg->o.concurrency, rate,
	       pct_ms(l->v, l->n, 0.50), pct_ms(l->v, l->n, 0.99),
	       pct_ms(l->v, l->n, 1.0), lg->errors, cpu, reqs);
	if (lg->o.mfa)
		printf("%s: password sent -> challenge seen by the device: "
		       "p50 %.2f ms, p99 %.2f ms, max %.2f ms; %.2f challenge "
		       "list requests per sign-in\n",
		       lg->o.label, pct_ms(v->v, v->n, 0.50),
		       pct_ms(v->v, v->n, 0.99), pct_ms(v->v, v->n, 1.0),
		       polls);
	printf("RESULT label=%s mode=%s count=%zu errors=%lu seconds=%.3f "
	       "rate=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f concurrency=%lu "
	       "cpu_s=%.2f requests_per_flow=%.2f",
	       lg->o.label, mode, l->n, lg->errors, t, rate,
	       pct_ms(l->v, l->n, 0.50), pct_ms(l->v, l->n, 0.99),
	       pct_ms(l->v, l->n, 1.0), lg->o.concurrency, cpu, reqs);
	if (lg->o.rate > 0)
		printf(" offered=%.1f late=%lu", lg->o.rate, lg->late);
	if (lg->o.mfa)
		printf(" vis_p50_ms=%.2f vis_p99_ms=%.2f vis_max_ms=%.2f "
		       "polls_per_flow=%.2f",
		       pct_ms(v->v, v->n, 0.50), pct_ms(v->v, v->n, 0.99),
		       pct_ms(v->v, v->n, 1.0), polls);
	printf("\n");
	fflush(stdout);
}

/* Writes --samples FILE: every measured latency, in milliseconds. */
static int samples_save(const struct lg *lg)
{
	const struct samples *l = &lg->lat, *v = &lg->visible;
	FILE *f;
	size_t i;
	int bad;

	if (lg->o.samples_file == NULL)
		return 0;
	f = fopen(lg->o.samples_file, "w");
	if (f == NULL) {
		fprintf(stderr, "bench_loadgen: %s: cannot write it\n",
			lg->o.samples_file);
		return -1;
	}
	for (i = 0; i < l->n; i++)
		(void)fprintf(f, "lat %.3f\n", l->v[i] * 1000.0);
	for (i = 0; lg->o.mfa && i < v->n; i++)
		(void)fprintf(f, "vis %.3f\n", v->v[i] * 1000.0);
	bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		fprintf(stderr, "bench_loadgen: %s: cannot write it\n",
			lg->o.samples_file);
		return -1;
	}
	return 0;
}

/* Starts a measured phase with fresh counters. */
static void phase_reset(struct lg *lg, enum phase ph, unsigned long target)
{
	lg->phase = ph;
	lg->target = target;
	lg->started = 0;
	lg->finished = 0;
	lg->errors = 0;
	lg->shown = 0;
	lg->lat.n = 0;
	lg->visible.n = 0;
	lg->polls = 0;
	lg->requests = 0;
	lg->late = 0;
}

static int run(struct lg *lg)
{
	double cpu0;
	int rc;

	lg->hard_deadline = af_mono_ns() + (uint64_t)(lg->o.timeout * 1e9);
	if (lg->o.token_only == 0) {
		phase_reset(lg, PH_FLOWS,
			    lg->o.flows > 0 ? lg->o.flows + lg->o.warmup : 0);
		if (lg->o.seconds > 0)
			lg->deadline =
				af_mono_ns() + (uint64_t)(lg->o.seconds * 1e9);
		cpu0 = cpu_seconds();
		rc = run_phase(lg);
		report(lg, lg->o.mfa ? "mfa" : "flow", cpu_seconds() - cpu0);
		return samples_save(lg) != 0 ? -1 : rc;
	}
	lg->codes = calloc(lg->o.token_only, sizeof(*lg->codes));
	if (lg->codes == NULL)
		return -1;
	/* Warm-up flows are not wanted here: every code is used. */
	lg->o.warmup = 0;
	phase_reset(lg, PH_COLLECT, lg->o.token_only);
	rc = run_phase(lg);
	printf("%s: collected %zu codes at %.1f sign-ins/s (up to the code, "
	       "%lu errors)\n",
	       lg->o.label, lg->ncodes,
	       lg->t_last > lg->t_window
		       ? (double)lg->lat.n / secs(lg->t_last - lg->t_window)
		       : 0.0,
	       lg->errors);
	if (rc != 0 || lg->ncodes == 0)
		return -1;
	phase_reset(lg, PH_TOKENS, 0);
	cpu0 = cpu_seconds();
	rc = run_phase(lg);
	report(lg, "token", cpu_seconds() - cpu0);
	return samples_save(lg) != 0 ? -1 : rc;
}

/* ---- arguments ---- */

static int usage(const char *msg, const char *arg)
{
	fprintf(stderr, "bench_loadgen: %s%s%s\n", msg, arg != NULL ? ": " : "",
		arg != NULL ? arg : "");
	return EXIT_USAGE;
}

static int check_text(const char *name, const char *v)
{
	if (v == NULL)
		return usage("missing option", name);
	if (v[0] == '\0' || strlen(v) > LG_SECRET_MAX)
		return usage("empty or too long", name);
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"url", required_argument, NULL, 'u'},
		{"client-id", required_argument, NULL, 'i'},
		{"client-secret", required_argument, NULL, 's'},
		{"redirect-uri", required_argument, NULL, 'r'},
		{"username", required_argument, NULL, 'n'},
		{"password", required_argument, NULL, 'p'},
		{"scope", required_argument, NULL, 'S'},
		{"label", required_argument, NULL, 'l'},
		{"concurrency", required_argument, NULL, 'c'},
		{"flows", required_argument, NULL, 'f'},
		{"seconds", required_argument, NULL, 't'},
		{"warmup", required_argument, NULL, 'w'},
		{"token-only", required_argument, NULL, 'k'},
		{"max-errors", required_argument, NULL, 'e'},
		{"timeout", required_argument, NULL, 'T'},
		{"users", required_argument, NULL, 'U'},
		{"devices", required_argument, NULL, 'D'},
		{"mfa", no_argument, NULL, 'M'},
		{"rate", required_argument, NULL, 'R'},
		{"samples", required_argument, NULL, 'O'},
		{"revoke", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, rc;

	o->scope = "openid profile email";
	o->label = "provider";
	o->concurrency = 32;
	o->max_errors = 100;
	o->timeout = 600;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o->url = optarg;
			break;
		case 'i':
			o->client_id = optarg;
			break;
		case 's':
			o->client_secret = optarg;
			break;
		case 'r':
			o->redirect_uri = optarg;
			break;
		case 'n':
			o->username = optarg;
			break;
		case 'p':
			o->password = optarg;
			break;
		case 'S':
			o->scope = optarg;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'c':
			if (af_parse_ulong(optarg, 1, LG_CLIENTS_MAX,
					   &o->concurrency) != 0)
				return usage("--concurrency must be 1..4096",
					     optarg);
			break;
		case 'f':
			if (af_parse_ulong(optarg, 1, LG_SAMPLES_MAX,
					   &o->flows) != 0)
				return usage("--flows must be 1..20000000",
					     optarg);
			break;
		case 't':
			if (parse_secs(optarg, &o->seconds) != 0)
				return usage("--seconds must be a positive "
					     "number",
					     optarg);
			break;
		case 'R':
			if (parse_secs(optarg, &o->rate) != 0 ||
			    o->rate > LG_RATE_MAX)
				return usage("--rate must be a positive number "
					     "up to 100000",
					     optarg);
			break;
		case 'w':
			if (af_parse_ulong(optarg, 0, LG_SAMPLES_MAX,
					   &o->warmup) != 0)
				return usage("--warmup must be 0..20000000",
					     optarg);
			break;
		case 'k':
			if (af_parse_ulong(optarg, 1, 1000000,
					   &o->token_only) != 0)
				return usage("--token-only must be 1..1000000",
					     optarg);
			break;
		case 'e':
			if (af_parse_ulong(optarg, 0, LG_SAMPLES_MAX,
					   &o->max_errors) != 0)
				return usage("--max-errors must be a number",
					     optarg);
			break;
		case 'T':
			if (parse_secs(optarg, &o->timeout) != 0)
				return usage("--timeout must be a positive "
					     "number",
					     optarg);
			break;
		case 'U':
		case 'D':
			o->users_file = optarg;
			break;
		case 'M':
			o->mfa = 1;
			break;
		case 'O':
			o->samples_file = optarg;
			break;
		case 'V':
			o->revoke = 1;
			break;
		case 'h':
			printf("usage: bench_loadgen --url ISSUER --client-id ID "
			       "--client-secret S --redirect-uri URI\n"
			       "         --username U --password P "
			       "[--concurrency N] [--flows N | --seconds S]\n"
			       "         [--warmup N] [--token-only K] "
			       "[--scope S] [--label NAME]\n"
			       "         [--max-errors N] [--timeout S]\n"
			       "         [--users FILE | --mfa --devices "
			       "FILE] (instead of --username and --password)\n"
			       "         [--rate R] (open loop: R sign-ins "
			       "started per second)\n"
			       "         [--samples FILE] (every measured "
			       "latency, one per line)\n"
			       "         [--revoke] (each sign-in ends by "
			       "revoking its access token)\n");
			exit(0);
		default:
			return usage("unknown option; see --help", NULL);
		}
	}
	if (optind < argc)
		return usage("unexpected argument", argv[optind]);
	if ((rc = check_text("--url", o->url)) != 0 ||
	    (rc = check_text("--client-id", o->client_id)) != 0 ||
	    (rc = check_text("--client-secret", o->client_secret)) != 0 ||
	    (rc = check_text("--redirect-uri", o->redirect_uri)) != 0 ||
	    (rc = check_text("--scope", o->scope)) != 0)
		return rc;
	if (o->users_file == NULL &&
	    ((rc = check_text("--username", o->username)) != 0 ||
	     (rc = check_text("--password", o->password)) != 0))
		return rc;
	if (o->mfa && o->users_file == NULL)
		return usage("--mfa needs --devices FILE", NULL);
	if (o->mfa && o->token_only > 0)
		return usage("--mfa goes without --token-only", NULL);
	if (o->revoke && o->token_only > 0)
		return usage("--revoke goes without --token-only", NULL);
	if (o->rate > 0 && o->token_only > 0)
		return usage("--rate goes without --token-only", NULL);
	if (o->token_only > 0 && (o->flows > 0 || o->seconds > 0))
		return usage("--token-only goes without --flows and --seconds",
			     NULL);
	if (o->token_only == 0 && (o->flows > 0) == (o->seconds > 0))
		return usage("give exactly one of --flows and --seconds", NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct lg lg;
	int rc;

	memset(&lg, 0, sizeof(lg));
	lg.epfd = -1;
	rc = parse_args(argc, argv, &lg.o);
	if (rc != 0)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "bench_loadgen: cannot initialise libcurl\n");
		return 1;
	}
	rc = setup(&lg) == 0 && run(&lg) == 0 ? 0 : 1;
	teardown(&lg);
	curl_global_cleanup();
	return rc;
}
