/*
 * Back-Channel Logout: the logout tokens of an ended session, and the
 * worker that POSTs them to the relying parties (bclogout.h).
 *
 * The queue is a list in the order tokens are due. The worker moves the
 * due ones onto its libcurl multi handle (at most AF_BCL_INFLIGHT_MAX at
 * once, AF_BCL_PER_URI_MAX to one URI), signs each token at its first
 * try, and puts a failed one back with its next due time; it sleeps in
 * curl_multi_poll(), which af_bcl_send() and af_bcl_free() wake.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "common/jose.h"
#include "common/util.h"
#include "directory/directory.h"
#include "oidc/bclogout.h"

/* After a failed try the next waits this long (ms), by try number. */
static const unsigned retry_ms[AF_BCL_TRIES] = {1000, 3000, 0};

#define CONNECT_TIMEOUT_MS 2000
#define FORM_FIELD	   "logout_token="
/* Bytes of an answer the log shows of a failed try. */
#define ANSWER_KEPT	   96
/* The longest the worker sleeps without looking at its queue (ms). */
#define IDLE_POLL_MS	   1000

/* The start of a relying party's answer, kept for the log. */
struct said {
	char text[ANSWER_KEPT + 1];
	size_t len;
};

struct job {
	struct job *next;
	uint64_t due_ns; /* af_mono_ns() from when it may be tried */
	unsigned tries;	 /* begun so far */
	char *client_id;
	char *uri;
	char *sub;
	char *sid;
	char *body; /* "logout_token=<JWT>", made at the first try */
	/* While a try is under way: */
	CURL *easy;
	struct said said;
	char err[CURL_ERROR_SIZE];
};

struct af_bcl {
	pthread_mutex_t mu;
	struct job *head; /* waiting, by due time */
	size_t waiting;
	int started;  /* the thread runs */
	int stopping; /* af_bcl_free() has begun */
	uint64_t stop_by_ns;
	CURLM *multi; /* made with the thread; woken by af_bcl_send() */
	pthread_t thread;
	log_ctx *log;
	af_metrics *metrics;
	af_keyring *keys;
	char *issuer;
};

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->client_id);
	free(j->uri);
	free(j->sub);
	free(j->sid);
	if (j->body != NULL) {
		OPENSSL_cleanse(j->body, strlen(j->body));
		free(j->body);
	}
	free(j);
}

/* Puts j in the queue after every job due no later than it. */
static void enqueue(af_bcl *b, struct job *j)
{
	struct job **at = &b->head;

	while (*at != NULL && (*at)->due_ns <= j->due_ns)
		at = &(*at)->next;
	j->next = *at;
	*at = j;
	b->waiting++;
}

/* How many tokens wait for uri (the caller holds b->mu). */
static size_t waiting_for(const af_bcl *b, const char *uri)
{
	const struct job *j;
	size_t n = 0;

	for (j = b->head; j != NULL; j = j->next)
		n += strcmp(j->uri, uri) == 0;
	return n;
}

static size_t keep_start(char *data, size_t size, size_t nmemb, void *userp)
{
	struct said *a = userp;
	size_t n = size * nmemb, take = ANSWER_KEPT - a->len, i;

	if (take > n)
		take = n;
	memcpy(a->text + a->len, data, take);
	/* Visible ASCII only: it goes into a log line. */
	for (i = a->len; i < a->len + take; i++)
		if (a->text[i] < 0x20 || a->text[i] > 0x7e)
			a->text[i] = '.';
	a->len += take;
	a->text[a->len] = '\0';
	return n;
}

static void told(af_bcl *b, const struct job *j, af_bcl_outcome outcome,
		 const char *why)
{
	char tries[16];
	const char *kv[] = {"client_id", j->client_id,
			    "outcome",	 af_metrics_bcl_name(outcome),
			    "tries",	 tries,
			    NULL};

	snprintf(tries, sizeof(tries), "%u", j->tries);
	log_write(b->log,
		  outcome == AF_BCL_OUT_DELIVERED ? LOG_LEVEL_INFO
						  : LOG_LEVEL_WARN,
		  NULL, "backchannel_logout", kv, "uri=%.256s%s%s", j->uri,
		  why != NULL && why[0] != '\0' ? " " : "",
		  why != NULL ? why : "");
	af_metrics_bcl(b->metrics, outcome);
}

/*
 * Begins a try of j on multi: the token is signed at its first try, so
 * that it is fresh however long it waited. 0, or -1 with j->err said.
 */
static int begin_try(af_bcl *b, CURLM *multi, struct curl_slist *headers,
		     struct job *j)
{
	char *jwt;
	size_t n;

	j->tries++;
	j->err[0] = '\0';
	memset(&j->said, 0, sizeof(j->said));
	if (j->body == NULL) {
		jwt = af_bcl_token(b->keys, b->issuer, j->client_id, j->sub,
				   j->sid);
		n = jwt != NULL ? sizeof(FORM_FIELD) + strlen(jwt) : 0;
		j->body = jwt != NULL ? malloc(n) : NULL;
		/* A JWT is base64url and dots: nothing needs escaping. */
		if (j->body != NULL)
			snprintf(j->body, n, "%s%s", FORM_FIELD, jwt);
		if (jwt != NULL) {
			OPENSSL_cleanse(jwt, strlen(jwt));
			free(jwt);
		}
		if (j->body == NULL) {
			snprintf(j->err, sizeof(j->err),
				 "the logout token could not be signed");
			return -1;
		}
	}
	j->easy = curl_easy_init();
	if (j->easy == NULL ||
	    curl_easy_setopt(j->easy, CURLOPT_URL, j->uri) != CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https") !=
		    CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->body) !=
		    CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE,
			     (long)strlen(j->body)) != CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, headers) !=
		    CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS,
			     (long)AF_BCL_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS,
			     (long)CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_USERAGENT, "authflow") !=
		    CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, keep_start) !=
		    CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, &j->said) !=
		    CURLE_OK ||
	    curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->err) !=
		    CURLE_OK ||
	    curl_multi_add_handle(multi, j->easy) != CURLM_OK) {
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
		snprintf(j->err, sizeof(j->err), "libcurl could not begin");
		return -1;
	}
	return 0;
}

/*
 * A try of j ended with status (0: no answer): delivered, tried again
 * later, or given up.
 */
static void settle(af_bcl *b, struct job *j, long status)
{
	int again;

	if (status >= 200 && status <= 299) {
		told(b, j, AF_BCL_OUT_DELIVERED, NULL);
		job_free(j);
		return;
	}
	if (status != 0)
		snprintf(j->err, sizeof(j->err), "answered HTTP %ld%s%s",
			 status, j->said.len > 0 ? ": " : "", j->said.text);
	else if (j->err[0] == '\0')
		snprintf(j->err, sizeof(j->err), "no answer");
	pthread_mutex_lock(&b->mu);
	again = j->tries < AF_BCL_TRIES && !b->stopping && j->body != NULL;
	if (again) {
		j->due_ns = af_mono_ns() +
			    (uint64_t)retry_ms[j->tries - 1] * 1000000u;
		enqueue(b, j);
	}
	pthread_mutex_unlock(&b->mu);
	if (!again) {
		told(b, j, AF_BCL_OUT_FAILED, j->err);
		job_free(j);
	}
}

/* How many of the n jobs in fly go to uri. */
static size_t to_uri(struct job *const *fly, size_t n, const char *uri)
{
	size_t i, count = 0;

	for (i = 0; i < n; i++)
		count += strcmp(fly[i]->uri, uri) == 0;
	return count;
}

/*
 * Moves the jobs due by now (all of them while stopping) from the queue to
 * fly, as long as there is room, and no more than AF_BCL_PER_URI_MAX to one
 * URI at once: one relying party that hangs holds up its own tokens only.
 * With b->mu held. The ns until the first job left is due (UINT64_MAX:
 * none).
 */
static uint64_t take_due(af_bcl *b, struct job **fly, size_t *nfly,
			 uint64_t now)
{
	struct job **at = &b->head, *j;
	uint64_t wait = UINT64_MAX;

	while ((j = *at) != NULL) {
		if (j->due_ns > now && !b->stopping) {
			wait = j->due_ns - now;
			break;
		}
		if (*nfly < AF_BCL_INFLIGHT_MAX &&
		    to_uri(fly, *nfly, j->uri) < AF_BCL_PER_URI_MAX) {
			*at = j->next;
			j->next = NULL;
			b->waiting--;
			fly[(*nfly)++] = j;
		} else {
			at = &j->next;
		}
	}
	return wait;
}

/* Ends the try of the job whose handle is easy; drops it from fly. */
static void try_done(af_bcl *b, CURLM *multi, struct job **fly, size_t *nfly,
		     CURL *easy, CURLcode res)
{
	struct job *j = NULL;
	long status = 0;
	size_t i;

	for (i = 0; i < *nfly && j == NULL; i++)
		if (fly[i]->easy == easy) {
			j = fly[i];
			fly[i] = fly[--(*nfly)];
		}
	(void)curl_multi_remove_handle(multi, easy);
	if (res == CURLE_OK)
		(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(easy);
	if (j == NULL)
		return;
	j->easy = NULL;
	settle(b, j, status);
}

static void *worker(void *arg)
{
	af_bcl *b = arg;
	struct job *fly[AF_BCL_INFLIGHT_MAX], *j;
	struct curl_slist *headers;
	size_t nfly = 0, i;
	uint64_t now, wait;
	CURLMsg *m;
	int running, left, stop_now, ended;
	long timeout_ms;

	headers = curl_slist_append(
		NULL, "Content-Type: application/x-www-form-urlencoded");
	/* No "Expect: 100-continue" wait for a body this small. */
	if (headers != NULL)
		headers = curl_slist_append(headers, "Expect:");
	for (;;) {
		now = af_mono_ns();
		pthread_mutex_lock(&b->mu);
		stop_now = b->stopping && (now >= b->stop_by_ns ||
					   (b->head == NULL && nfly == 0));
		wait = stop_now ? 0 : take_due(b, fly, &nfly, now);
		/* While stopping, no later than the end of the grace. */
		if (b->stopping && !stop_now && wait > b->stop_by_ns - now)
			wait = b->stop_by_ns - now;
		pthread_mutex_unlock(&b->mu);
		if (stop_now)
			break;
		/* Tries not yet begun (taken just now) begin. */
		for (i = 0; i < nfly;) {
			j = fly[i];
			if (j->easy != NULL) {
				i++;
				continue;
			}
			if (headers != NULL &&
			    begin_try(b, b->multi, headers, j) == 0) {
				i++;
				continue;
			}
			if (headers == NULL)
				snprintf(j->err, sizeof(j->err),
					 "out of memory");
			fly[i] = fly[--nfly];
			settle(b, j, 0);
		}
		(void)curl_multi_perform(b->multi, &running);
		ended = 0;
		while ((m = curl_multi_info_read(b->multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE) {
				try_done(b, b->multi, fly, &nfly,
					 m->easy_handle, m->data.result);
				ended++;
			}
		/* A try that ended may be due again: the queue comes first. */
		if (ended > 0)
			continue;
		timeout_ms = wait == UINT64_MAX ? IDLE_POLL_MS
						: (long)(wait / 1000000u);
		if (timeout_ms > IDLE_POLL_MS)
			timeout_ms = IDLE_POLL_MS;
		/* libcurl's own timers shorten the wait as they need. */
		(void)curl_multi_poll(b->multi, NULL, 0, (int)timeout_ms, NULL);
	}
	/* Stopped: what is under way or waiting is not sent. */
	for (i = 0; i < nfly; i++) {
		(void)curl_multi_remove_handle(b->multi, fly[i]->easy);
		curl_easy_cleanup(fly[i]->easy);
		told(b, fly[i], AF_BCL_OUT_DROPPED,
		     "the server stopped before it was sent");
		job_free(fly[i]);
	}
	pthread_mutex_lock(&b->mu);
	while ((j = b->head) != NULL) {
		b->head = j->next;
		b->waiting--;
		told(b, j, AF_BCL_OUT_DROPPED,
		     "the server stopped before it was sent");
		job_free(j);
	}
	pthread_mutex_unlock(&b->mu);
	curl_slist_free_all(headers);
	return NULL;
}

af_bcl *af_bcl_new(log_ctx *log, af_metrics *metrics, af_keyring *keys,
		   const char *issuer)
{
	af_bcl *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->log = log;
	b->metrics = metrics;
	b->keys = keys;
	b->issuer = strdup(issuer);
	if (b->issuer == NULL || pthread_mutex_init(&b->mu, NULL) != 0) {
		free(b->issuer);
		free(b);
		return NULL;
	}
	return b;
}

/* Starts the worker, with b->mu held: AF_BCL_OK or AF_BCL_NOMEM. */
static af_bcl_status start(af_bcl *b)
{
	b->multi = curl_multi_init();
	if (b->multi != NULL &&
	    pthread_create(&b->thread, NULL, worker, b) == 0) {
		b->started = 1;
		return AF_BCL_OK;
	}
	curl_multi_cleanup(b->multi);
	b->multi = NULL;
	return AF_BCL_NOMEM;
}

af_bcl_status af_bcl_send(af_bcl *b, const char *client_id, const char *uri,
			  const char *sub, const char *sid)
{
	struct job *j;
	af_bcl_status rc = AF_BCL_OK;

	if (b == NULL)
		return AF_BCL_NOMEM;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return AF_BCL_NOMEM;
	j->client_id = strdup(client_id);
	j->uri = strdup(uri);
	j->sub = strdup(sub);
	j->sid = strdup(sid);
	if (j->client_id == NULL || j->uri == NULL || j->sub == NULL ||
	    j->sid == NULL) {
		job_free(j);
		return AF_BCL_NOMEM;
	}
	j->due_ns = af_mono_ns();
	pthread_mutex_lock(&b->mu);
	if (b->stopping)
		rc = AF_BCL_STOPPED;
	else if (b->waiting >= AF_BCL_QUEUE_MAX ||
		 waiting_for(b, uri) >= AF_BCL_QUEUE_PER_URI_MAX)
		rc = AF_BCL_FULL;
	else if (!b->started)
		rc = start(b);
	if (rc == AF_BCL_OK) {
		enqueue(b, j);
		j = NULL;
		(void)curl_multi_wakeup(b->multi);
	}
	pthread_mutex_unlock(&b->mu);
	job_free(j);
	return rc;
}

void af_bcl_free(af_bcl *b, unsigned grace_ms)
{
	struct job *j;
	int started;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->stopping = 1;
	b->stop_by_ns = af_mono_ns() + (uint64_t)grace_ms * 1000000u;
	started = b->started;
	if (started)
		(void)curl_multi_wakeup(b->multi);
	pthread_mutex_unlock(&b->mu);
	if (started)
		pthread_join(b->thread, NULL);
	while ((j = b->head) != NULL) {
		b->head = j->next;
		job_free(j);
	}
	curl_multi_cleanup(b->multi);
	pthread_mutex_destroy(&b->mu);
	free(b->issuer);
	free(b);
}

char *af_bcl_token(af_keyring *keys, const char *issuer, const char *client_id,
		   const char *sub, const char *sid)
{
	char jti[32];
	json_t *claims;
	char *jwt = NULL;
	int64_t now = af_now();

	if (af_random_token(16, jti, sizeof(jti)) != 0)
		return NULL;
	/* Section 2.4: no nonce, and an event that no id_token carries. */
	claims = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:{s:{}}}",
			   "iss", issuer, "aud", client_id, "iat",
			   (json_int_t)now, "exp",
			   (json_int_t)now + AF_BCL_TOKEN_LIFETIME_S, "jti",
			   jti, "sub", sub, "sid", sid, "events", AF_BCL_EVENT);
	if (claims == NULL ||
	    af_jwt_sign(keys, claims, AF_LOGOUT_TOKEN_TYP, &jwt) != JOSE_OK)
		jwt = NULL;
	json_decref(claims);
	return jwt;
}

void af_bcl_session_ended(af_server *srv, const af_session *s,
			  const json_t *client_ids)
{
	const json_t *v;
	size_t i;

	json_array_foreach(client_ids, i, v)
	{
		const char *id = json_string_value(v), *uri;
		json_t *app = NULL;
		af_bcl_status st;

		if (id == NULL ||
		    af_dir_app_get(srv->dir, id, &app) != AF_DIR_OK)
			continue;
		uri = json_string_value(
			json_object_get(app, "backchannel_logout_uri"));
		if (uri != NULL && uri[0] != '\0') {
			st = af_bcl_send(srv->bcl, id, uri, s->sub, s->sid);
			if (st != AF_BCL_OK) {
				const char *kv[] = {"client_id", id, "outcome",
						    "dropped", NULL};

				log_write(srv->log, LOG_LEVEL_WARN, NULL,
					  "backchannel_logout", kv, "%s",
					  st == AF_BCL_FULL
						  ? "too many logout tokens "
						    "wait already"
						  : "the logout token could "
						    "not be queued");
				af_metrics_bcl(srv->metrics,
					       AF_BCL_OUT_DROPPED);
			}
		}
		json_decref(app);
	}
}
