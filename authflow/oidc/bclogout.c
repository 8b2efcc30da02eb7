/*
 * Back-Channel Logout: the logout tokens of an ended session, and the
 * worker that POSTs them to the relying parties (bclogout.h).
 *
 * The queue is a list in the order tokens are due. The worker moves the
 * due ones onto its libcurl multi handle (at most AF_BCL_INFLIGHT_MAX at
 * once, AF_BCL_PER_URI_MAX to one URI), signs each token at its first
 * try, and puts a failed one back with its next due time; it sleeps in
 * curl_multi_poll(), which af_bcl_send() and af_bcl_free() wake.
 *
 * With a store, each token waiting is also a record there, naming the
 * server that holds it, until it is delivered or given up: a server
 * that stops (or dies) before has its records taken over by a live one,
 * which knows the holder is gone when its heartbeat key has expired.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

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

/* The store's records of tokens waiting, and of the servers holding them. */
#define REC_PREFIX  "bcl:job:"
#define PENDING_KEY "bcl:pending"
#define NODE_PREFIX "bcl:node:"
#define ID_BYTES    16
#define ID_BUF	    32
/* A token not delivered within the hour is given up, record and all. */
#define REC_TTL_MS  ((uint64_t)3600 * 1000)
/* A server's heartbeat lasts this long, and is renewed every BEAT_NS. */
#define NODE_TTL_MS 30000u
#define BEAT_NS	    (10ull * 1000 * 1000 * 1000)
/* How often the records are looked through for a stopped server's. */
#define SCAN_NS	    (15ull * 1000 * 1000 * 1000)
/* Records looked at in one scan, chosen at random among all. */
#define SCAN_MAX    256
/* The longest sub or sid a record holds, and a record's longest text. */
#define REC_ID_MAX  255
#define REC_MAX	    (AF_DIR_URI_MAX + AF_DIR_CLIENT_ID_BUF + 2 * REC_ID_MAX + 256)

/* The start of a relying party's answer, kept for the log. */
struct said {
	char text[ANSWER_KEPT + 1];
	size_t len;
};

struct job {
	struct job *next;
	uint64_t due_ns; /* af_mono_ns() from when it may be tried */
	unsigned tries;	 /* begun so far */
	char id[ID_BUF]; /* its record in the store; "": none */
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
	store_ctx *store;    /* NULL: no records */
	char node[ID_BUF];   /* this server, in the records it holds */
	uint64_t beat_at_ns; /* af_bcl_tick(): the next heartbeat, */
	uint64_t scan_at_ns; /* and the next look for stopped servers' */
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

/* The store key of prefix and id into key (cap bytes). */
static void key_of(const char *prefix, const char *id, char *key, size_t cap)
{
	(void)snprintf(key, cap, "%s%s", prefix, id);
}

/* The record of j held by node: what a server taking it over needs. */
static char *record_text(const struct job *j, const char *node)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "client_id",
			      j->client_id, "uri", j->uri, "sub", j->sub, "sid",
			      j->sid, "node", node);
	char *text =
		o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(o);
	return text;
}

/* Drops the record of j (delivered, or given up), if it has one. */
static void forget(af_bcl *b, struct job *j)
{
	char key[sizeof(REC_PREFIX) + ID_BUF];

	if (b->store == NULL || j->id[0] == '\0')
		return;
	key_of(REC_PREFIX, j->id, key, sizeof(key));
	/* One left behind expires; until then it may be sent again, which
	 * a relying party takes as a logout of a session already ended. */
	if (store_del(b->store, key) != STORE_OK ||
	    store_srem(b->store, PENDING_KEY, j->id) != STORE_OK)
		log_warn(b->log, NULL, "backchannel_logout",
			 "the record of a logout token sent could not be "
			 "removed: it may be sent once more");
	j->id[0] = '\0';
}

/*
 * Writes the record of j, held by this server. 0, or -1 when the store
 * failed: the token is then held in memory alone, as without a store.
 */
static int record(af_bcl *b, struct job *j)
{
	char key[sizeof(REC_PREFIX) + ID_BUF], *text;
	int rc = -1;

	if (b->store == NULL)
		return 0;
	if (af_random_token(ID_BYTES, j->id, sizeof(j->id)) != 0) {
		j->id[0] = '\0';
		return -1;
	}
	key_of(REC_PREFIX, j->id, key, sizeof(key));
	text = record_text(j, b->node);
	/* Durable: kept by the memory store's file across a restart. */
	if (text != NULL &&
	    store_set(b->store, key, text, strlen(text), REC_TTL_MS,
		      STORE_SET_DURABLE) == STORE_OK &&
	    store_sadd(b->store, PENDING_KEY, j->id) == STORE_OK)
		rc = 0;
	free(text);
	if (rc != 0)
		forget(b, j);
	return rc;
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
	int again, stopping;

	if (status >= 200 && status <= 299) {
		told(b, j, AF_BCL_OUT_DELIVERED, NULL);
		forget(b, j);
		job_free(j);
		return;
	}
	if (status != 0)
		snprintf(j->err, sizeof(j->err), "answered HTTP %ld%s%s",
			 status, j->said.len > 0 ? ": " : "", j->said.text);
	else if (j->err[0] == '\0')
		snprintf(j->err, sizeof(j->err), "no answer");
	pthread_mutex_lock(&b->mu);
	stopping = b->stopping;
	again = j->tries < AF_BCL_TRIES && !stopping && j->body != NULL;
	if (again) {
		j->due_ns = af_mono_ns() +
			    (uint64_t)retry_ms[j->tries - 1] * 1000000u;
		enqueue(b, j);
	}
	pthread_mutex_unlock(&b->mu);
	if (!again) {
		told(b, j, AF_BCL_OUT_FAILED, j->err);
		/* Given up, unless the server stops: then it waits on. */
		if (!stopping)
			forget(b, j);
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

/* Why j is not sent by this server, which stops. */
static const char *stopped_why(const struct job *j)
{
	return j->id[0] != '\0'
		       ? "the server stopped before it was sent; its record "
			 "in the store waits for another server, or the next "
			 "start"
		       : "the server stopped before it was sent";
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
	/* Stopped: what is under way or waiting is not sent here. */
	for (i = 0; i < nfly; i++) {
		(void)curl_multi_remove_handle(b->multi, fly[i]->easy);
		curl_easy_cleanup(fly[i]->easy);
		told(b, fly[i], AF_BCL_OUT_DROPPED, stopped_why(fly[i]));
		job_free(fly[i]);
	}
	pthread_mutex_lock(&b->mu);
	while ((j = b->head) != NULL) {
		b->head = j->next;
		b->waiting--;
		told(b, j, AF_BCL_OUT_DROPPED, stopped_why(j));
		job_free(j);
	}
	pthread_mutex_unlock(&b->mu);
	curl_slist_free_all(headers);
	return NULL;
}

/*
 * This server's heartbeat, for ttl_ms: while it lasts, no other takes
 * its records.
 */
static void beat_for(af_bcl *b, uint64_t ttl_ms)
{
	char key[sizeof(NODE_PREFIX) + ID_BUF];

	key_of(NODE_PREFIX, b->node, key, sizeof(key));
	if (store_set(b->store, key, "1", 1, ttl_ms, STORE_SET_VITAL) !=
	    STORE_OK)
		log_warn(b->log, NULL, "backchannel_logout",
			 "the heartbeat could not be written: another "
			 "server may send this one's logout tokens too");
}

static void beat(af_bcl *b)
{
	beat_for(b, NODE_TTL_MS);
}

af_bcl *af_bcl_new(log_ctx *log, af_metrics *metrics, af_keyring *keys,
		   const char *issuer, store_ctx *store)
{
	af_bcl *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->log = log;
	b->metrics = metrics;
	b->keys = keys;
	b->store = store;
	b->issuer = strdup(issuer);
	if (b->issuer == NULL ||
	    af_random_token(ID_BYTES, b->node, sizeof(b->node)) != 0 ||
	    pthread_mutex_init(&b->mu, NULL) != 0) {
		free(b->issuer);
		free(b);
		return NULL;
	}
	/* Before the first record: a server without one is taken for
	 * stopped. */
	if (store != NULL)
		beat(b);
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

/* Whether a token for uri may wait, with b->mu held. */
static af_bcl_status room(af_bcl *b, const char *uri)
{
	if (b->stopping)
		return AF_BCL_STOPPED;
	if (b->waiting >= AF_BCL_QUEUE_MAX ||
	    waiting_for(b, uri) >= AF_BCL_QUEUE_PER_URI_MAX)
		return AF_BCL_FULL;
	if (!b->started)
		return start(b);
	return AF_BCL_OK;
}

/* Queues *j (then NULL) when there is room still, and wakes the worker. */
static af_bcl_status hand_over(af_bcl *b, struct job **j)
{
	af_bcl_status rc;

	pthread_mutex_lock(&b->mu);
	rc = room(b, (*j)->uri);
	if (rc == AF_BCL_OK) {
		enqueue(b, *j);
		*j = NULL;
		(void)curl_multi_wakeup(b->multi);
	}
	pthread_mutex_unlock(&b->mu);
	return rc;
}

/* A job of its own copies of the four members; NULL when out of memory. */
static struct job *job_new(const char *client_id, const char *uri,
			   const char *sub, const char *sid)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->client_id = strdup(client_id);
	j->uri = strdup(uri);
	j->sub = strdup(sub);
	j->sid = strdup(sid);
	if (j->client_id == NULL || j->uri == NULL || j->sub == NULL ||
	    j->sid == NULL) {
		job_free(j);
		return NULL;
	}
	return j;
}

af_bcl_status af_bcl_send(af_bcl *b, const char *client_id, const char *uri,
			  const char *sub, const char *sid)
{
	struct job *j;
	af_bcl_status rc = AF_BCL_OK;

	if (b == NULL)
		return AF_BCL_NOMEM;
	j = job_new(client_id, uri, sub, sid);
	if (j == NULL)
		return AF_BCL_NOMEM;
	j->due_ns = af_mono_ns();
	/* Its record first, outside the lock: the store may be slow. */
	pthread_mutex_lock(&b->mu);
	rc = room(b, uri);
	pthread_mutex_unlock(&b->mu);
	if (rc == AF_BCL_OK)
		(void)record(b, j);
	if (rc == AF_BCL_OK)
		rc = hand_over(b, &j);
	if (j != NULL)
		forget(b, j);
	job_free(j);
	return rc;
}

/*
 * The ids of SCAN_MAX records at most, a uniform sample of all (seen of
 * them): the set walks in the same order each time, and the first ones,
 * held by live servers, must not hide the rest for good.
 */
struct ids {
	char v[SCAN_MAX][ID_BUF];
	size_t n, seen;
	int failed;
};

static int collect_id(const char *member, void *arg)
{
	struct ids *ids = arg;
	uint64_t r = 0;
	size_t at;

	if (strlen(member) >= ID_BUF)
		return 0;
	ids->seen++;
	if (ids->n < SCAN_MAX)
		at = ids->n++;
	else {
		/* Kept with chance SCAN_MAX / seen, in the place of one. */
		if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) {
			ids->failed = 1;
			return 1;
		}
		at = (size_t)(r % ids->seen);
		if (at >= SCAN_MAX)
			return 0;
	}
	(void)snprintf(ids->v[at], ID_BUF, "%s", member);
	return 0;
}

/* The string member name of o, when it is one of 1..cap - 1 bytes. */
static const char *member_of(const json_t *o, const char *name, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s != NULL && s[0] != '\0' && strlen(s) < cap ? s : NULL;
}

/*
 * The record id, when a server that stopped holds it: taken over (its
 * holder is this server from now on) into *out. 1 taken, 0 not (held by
 * a live server, gone, or damaged and dropped), -1 the store failed.
 */
static int take_one(af_bcl *b, const char *id, struct job **out)
{
	char key[sizeof(REC_PREFIX) + ID_BUF];
	char nkey[sizeof(NODE_PREFIX) + ID_BUF];
	store_value v = {NULL, 0}, alive = {NULL, 0};
	const char *cid, *uri, *sub, *sid, *node;
	char *text = NULL;
	json_t *o = NULL;
	store_status st;
	int rc = -1;

	*out = NULL;
	key_of(REC_PREFIX, id, key, sizeof(key));
	st = store_get(b->store, key, &v);
	if (st == STORE_NOT_FOUND)
		/* Delivered meanwhile, or expired: its id goes too. */
		return store_srem(b->store, PENDING_KEY, id) == STORE_OK ? 0
									 : -1;
	if (st != STORE_OK)
		return -1;
	o = v.len < REC_MAX ? json_loadb((const char *)v.data, v.len, 0, NULL)
			    : NULL;
	cid = member_of(o, "client_id", AF_DIR_CLIENT_ID_BUF);
	uri = member_of(o, "uri", AF_DIR_URI_MAX + 1);
	sub = member_of(o, "sub", REC_ID_MAX + 1);
	sid = member_of(o, "sid", REC_ID_MAX + 1);
	node = member_of(o, "node", ID_BUF);
	if (cid == NULL || uri == NULL || sub == NULL || sid == NULL ||
	    node == NULL) {
		store_damaged(b->store, key);
		rc = store_del(b->store, key) == STORE_OK &&
				     store_srem(b->store, PENDING_KEY, id) ==
					     STORE_OK
			     ? 0
			     : -1;
		goto out;
	}
	rc = 0;
	if (strcmp(node, b->node) == 0)
		goto out;
	key_of(NODE_PREFIX, node, nkey, sizeof(nkey));
	st = store_get(b->store, nkey, &alive);
	store_value_free(&alive);
	if (st != STORE_NOT_FOUND) {
		rc = st == STORE_OK ? 0 : -1;
		goto out;
	}
	*out = job_new(cid, uri, sub, sid);
	text = *out != NULL ? record_text(*out, b->node) : NULL;
	if (text == NULL) {
		rc = -1;
		goto out;
	}
	/* Of servers taking it at once, one does. */
	st = store_cas(b->store, key, v.data, v.len, text, strlen(text), 0);
	if (st == STORE_OK) {
		(void)snprintf((*out)->id, sizeof((*out)->id), "%s", id);
		(*out)->due_ns = af_mono_ns();
		rc = 1;
	} else
		rc = st == STORE_CONFLICT || st == STORE_NOT_FOUND ? 0 : -1;
out:
	if (rc != 1) {
		job_free(*out);
		*out = NULL;
	}
	free(text);
	json_decref(o);
	store_value_free(&v);
	return rc;
}

/* No server: a record held by none is taken by the next scan. */
#define NOBODY "-"

/*
 * Gives up the record of j, taken over but with no room to wait here:
 * held by nobody, so that the next scan (of any server) takes it, rather
 * than by this server, which does not hold it.
 */
static void release(af_bcl *b, const struct job *j)
{
	char key[sizeof(REC_PREFIX) + ID_BUF];
	char *mine = record_text(j, b->node), *none = record_text(j, NOBODY);

	key_of(REC_PREFIX, j->id, key, sizeof(key));
	if (mine == NULL || none == NULL ||
	    store_cas(b->store, key, mine, strlen(mine), none, strlen(none),
		      0) != STORE_OK)
		log_warn(b->log, NULL, "backchannel_logout",
			 "a logout token taken over could not be given back: "
			 "it waits until this server stops");
	free(mine);
	free(none);
}

/*
 * Takes over the records of servers that stopped before sending them, as
 * long as there is room to queue them; what is left waits for the next
 * scan.
 */
static void take_over(af_bcl *b)
{
	struct ids *ids = calloc(1, sizeof(*ids));
	struct job *j = NULL;
	size_t i, taken = 0;
	int rc = 0;

	if (ids == NULL ||
	    store_smembers(b->store, PENDING_KEY, collect_id, ids) !=
		    STORE_OK ||
	    ids->failed) {
		free(ids);
		return;
	}
	for (i = 0; i < ids->n && rc >= 0; i++) {
		pthread_mutex_lock(&b->mu);
		rc = b->stopping || b->waiting >= AF_BCL_QUEUE_MAX ? -1 : 0;
		pthread_mutex_unlock(&b->mu);
		if (rc == 0)
			rc = take_one(b, ids->v[i], &j);
		if (rc != 1)
			continue;
		if (hand_over(b, &j) == AF_BCL_OK)
			taken++;
		else
			release(b, j);
		job_free(j);
		j = NULL;
	}
	if (taken > 0)
		log_info(b->log, NULL, "backchannel_logout",
			 "%zu logout token(s) taken over from a server that "
			 "stopped before sending them",
			 taken);
	free(ids);
}

void af_bcl_stopping(af_bcl *b, unsigned within_ms)
{
	if (b == NULL || b->store == NULL)
		return;
	beat_for(b, NODE_TTL_MS + within_ms);
}

void af_bcl_tick(af_bcl *b, uint64_t now_ns)
{
	if (b == NULL || b->store == NULL)
		return;
	if (now_ns >= b->beat_at_ns) {
		beat(b);
		b->beat_at_ns = now_ns + BEAT_NS;
	}
	if (now_ns >= b->scan_at_ns) {
		b->scan_at_ns = now_ns + SCAN_NS;
		take_over(b);
	}
}

void af_bcl_free(af_bcl *b, unsigned grace_ms)
{
	char key[sizeof(NODE_PREFIX) + ID_BUF];
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
	/* Its records are for the others to take over at once. */
	key_of(NODE_PREFIX, b->node, key, sizeof(key));
	if (b->store != NULL && store_del(b->store, key) != STORE_OK)
		log_warn(b->log, NULL, "backchannel_logout",
			 "the heartbeat could not be removed: the logout "
			 "tokens not sent wait until it expires");
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
