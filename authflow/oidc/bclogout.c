/*
 * Back-Channel Logout: the logout tokens of an ended session, and the
 * worker that POSTs them to the relying parties (bclogout.h).
 *
 * The queue is a list in the order tokens are due; the worker takes the
 * first due one, sends it with the lock released, and puts a failed one
 * back with its next due time. It owns its libcurl handle, made when the
 * thread starts, so that a connection to a relying party is kept between
 * tokens.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

struct job {
	struct job *next;
	uint64_t due_ns; /* af_mono_ns() from when it may be tried */
	unsigned tries;	 /* made so far */
	char *client_id;
	char *uri;
	char *body; /* "logout_token=<JWT>" */
};

struct af_bcl {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head; /* by due time */
	size_t waiting;
	int started;  /* the thread runs */
	int stopping; /* af_bcl_free() has begun */
	uint64_t stop_by_ns;
	pthread_t thread;
	log_ctx *log;
	af_metrics *metrics;
};

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->client_id);
	free(j->uri);
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

static struct job *dequeue(af_bcl *b)
{
	struct job *j = b->head;

	b->head = j->next;
	j->next = NULL;
	b->waiting--;
	return j;
}

/* The start of a relying party's answer, kept for the log. */
struct said {
	char text[ANSWER_KEPT + 1];
	size_t len;
};

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

/* One try of j: the HTTP status (0: none came), and why in err. */
static long post(CURL *curl, struct curl_slist *headers, const struct job *j,
		 char err[CURL_ERROR_SIZE])
{
	struct said said = {.len = 0};
	long status = 0;

	err[0] = '\0';
	curl_easy_reset(curl);
	if (curl_easy_setopt(curl, CURLOPT_URL, j->uri) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") !=
		    CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, j->body) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
			     (long)strlen(j->body)) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
			     (long)AF_BCL_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
			     (long)CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_USERAGENT, "authflow") != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_start) !=
		    CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &said) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err) != CURLE_OK) {
		snprintf(err, CURL_ERROR_SIZE, "libcurl refused an option");
		return 0;
	}
	if (curl_easy_perform(curl) != CURLE_OK) {
		if (err[0] == '\0')
			snprintf(err, CURL_ERROR_SIZE, "no answer");
		return 0;
	}
	(void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		snprintf(err, CURL_ERROR_SIZE, "answered HTTP %ld%s%s", status,
			 said.len > 0 ? ": " : "", said.text);
	return status;
}

static void told(af_bcl *b, const struct job *j, const char *outcome,
		 const char *why)
{
	char tries[16];
	const char *kv[] = {"client_id", j->client_id, "outcome", outcome,
			    "tries",	 tries,	       NULL};
	log_level level = strcmp(outcome, "delivered") == 0 ? LOG_LEVEL_INFO
							    : LOG_LEVEL_WARN;

	snprintf(tries, sizeof(tries), "%u", j->tries);
	if (why != NULL && why[0] != '\0')
		log_write(b->log, level, NULL, "backchannel_logout", kv,
			  "uri=%.256s %s", j->uri, why);
	else
		log_write(b->log, level, NULL, "backchannel_logout", kv,
			  "uri=%.256s", j->uri);
	af_metrics_bcl(b->metrics,
		       strcmp(outcome, "delivered") == 0 ? AF_BCL_OUT_DELIVERED
		       : strcmp(outcome, "failed") == 0	 ? AF_BCL_OUT_FAILED
							 : AF_BCL_OUT_DROPPED);
}

/* Waits, with b->mu held, until due_ns (0: until signalled). */
static void wait_until(af_bcl *b, uint64_t due_ns)
{
	struct timespec ts;
	uint64_t now = af_mono_ns(), left;

	if (due_ns == 0) {
		pthread_cond_wait(&b->cv, &b->mu);
		return;
	}
	if (due_ns <= now)
		return;
	left = due_ns - now;
	/* The condition variable runs on CLOCK_MONOTONIC (af_bcl_new()). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(left / 1000000000u);
	ts.tv_nsec += (long)(left % 1000000000u);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(&b->cv, &b->mu, &ts);
}

static void *worker(void *arg)
{
	af_bcl *b = arg;
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	char err[CURL_ERROR_SIZE];
	struct job *j;
	uint64_t now;
	long status;

	headers = curl_slist_append(
		NULL, "Content-Type: application/x-www-form-urlencoded");
	/* No "Expect: 100-continue" wait for a body this small. */
	if (headers != NULL)
		headers = curl_slist_append(headers, "Expect:");
	pthread_mutex_lock(&b->mu);
	for (;;) {
		now = af_mono_ns();
		if (b->stopping && (b->head == NULL || now >= b->stop_by_ns))
			break;
		if (b->head == NULL) {
			wait_until(b, 0);
			continue;
		}
		/* While stopping, what waits goes now: no more retries. */
		if (!b->stopping && b->head->due_ns > now) {
			wait_until(b, b->head->due_ns);
			continue;
		}
		j = dequeue(b);
		pthread_mutex_unlock(&b->mu);
		j->tries++;
		status = curl != NULL && headers != NULL
				 ? post(curl, headers, j, err)
				 : (snprintf(err, sizeof(err), "out of memory"),
				    0);
		pthread_mutex_lock(&b->mu);
		if (status >= 200 && status <= 299) {
			told(b, j, "delivered", NULL);
			job_free(j);
		} else if (j->tries < AF_BCL_TRIES && !b->stopping) {
			j->due_ns = af_mono_ns() +
				    (uint64_t)retry_ms[j->tries - 1] * 1000000u;
			enqueue(b, j);
		} else {
			told(b, j, "failed", err);
			job_free(j);
		}
	}
	while (b->head != NULL) {
		j = dequeue(b);
		told(b, j, "dropped", "the server stopped before it was sent");
		job_free(j);
	}
	pthread_mutex_unlock(&b->mu);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return NULL;
}

af_bcl *af_bcl_new(log_ctx *log, af_metrics *metrics)
{
	af_bcl *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;
	int cv_made = 0;

	if (b == NULL)
		return NULL;
	b->log = log;
	b->metrics = metrics;
	if (pthread_condattr_init(&ca) == 0) {
		cv_made =
			pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
			pthread_cond_init(&b->cv, &ca) == 0;
		pthread_condattr_destroy(&ca);
	}
	if (!cv_made) {
		free(b);
		return NULL;
	}
	if (pthread_mutex_init(&b->mu, NULL) != 0) {
		pthread_cond_destroy(&b->cv);
		free(b);
		return NULL;
	}
	return b;
}

af_bcl_status af_bcl_send(af_bcl *b, const char *client_id, const char *uri,
			  const char *token)
{
	struct job *j;
	size_t n = sizeof(FORM_FIELD) + strlen(token);
	af_bcl_status rc = AF_BCL_OK;

	if (b == NULL)
		return AF_BCL_NOMEM;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return AF_BCL_NOMEM;
	j->client_id = strdup(client_id);
	j->uri = strdup(uri);
	j->body = malloc(n);
	if (j->client_id == NULL || j->uri == NULL || j->body == NULL) {
		job_free(j);
		return AF_BCL_NOMEM;
	}
	/* A JWT is base64url and dots: nothing in it needs escaping. */
	snprintf(j->body, n, "%s%s", FORM_FIELD, token);
	j->due_ns = af_mono_ns();
	pthread_mutex_lock(&b->mu);
	if (b->stopping)
		rc = AF_BCL_STOPPED;
	else if (b->waiting >= AF_BCL_QUEUE_MAX)
		rc = AF_BCL_FULL;
	else if (!b->started) {
		if (pthread_create(&b->thread, NULL, worker, b) == 0)
			b->started = 1;
		else
			rc = AF_BCL_NOMEM;
	}
	if (rc == AF_BCL_OK) {
		enqueue(b, j);
		j = NULL;
		pthread_cond_signal(&b->cv);
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
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	if (started)
		pthread_join(b->thread, NULL);
	while (b->head != NULL) {
		j = dequeue(b);
		job_free(j);
	}
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

char *af_bcl_token(af_server *srv, const af_session *s, const char *client_id)
{
	char jti[32];
	json_t *claims;
	char *jwt = NULL;
	int64_t now = af_now();

	if (af_random_token(16, jti, sizeof(jti)) != 0)
		return NULL;
	/* Section 2.4: no nonce, and an event that no id_token carries. */
	claims = json_pack(
		"{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:{s:{}}}", "iss",
		srv->cfg.issuer, "aud", client_id, "iat", (json_int_t)now,
		"exp", (json_int_t)now + AF_BCL_TOKEN_LIFETIME_S, "jti", jti,
		"sub", s->sub, "sid", s->sid, "events", AF_BCL_EVENT);
	if (claims == NULL || af_jwt_sign(srv->keys, claims,
					  AF_LOGOUT_TOKEN_TYP, &jwt) != JOSE_OK)
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
		char *token = NULL;
		af_bcl_status st = AF_BCL_NOMEM;

		if (id == NULL ||
		    af_dir_app_get(srv->dir, id, &app) != AF_DIR_OK)
			continue;
		uri = json_string_value(
			json_object_get(app, "backchannel_logout_uri"));
		if (uri != NULL && uri[0] != '\0') {
			token = af_bcl_token(srv, s, id);
			if (token != NULL)
				st = af_bcl_send(srv->bcl, id, uri, token);
			if (st != AF_BCL_OK) {
				const char *kv[] = {"client_id", id, "outcome",
						    "dropped", NULL};

				log_write(srv->log, LOG_LEVEL_WARN, NULL,
					  "backchannel_logout", kv, "%s",
					  st == AF_BCL_FULL
						  ? "too many logout tokens "
						    "wait already"
						  : "the logout token could "
						    "not be made or queued");
				af_metrics_bcl(srv->metrics,
					       AF_BCL_OUT_DROPPED);
			}
		}
		if (token != NULL) {
			OPENSSL_cleanse(token, strlen(token));
			free(token);
		}
		json_decref(app);
	}
}
