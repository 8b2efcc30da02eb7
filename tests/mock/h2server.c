/* HTTP/2-over-TLS server core for the push service mocks; see h2server.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "h2server.h"

/* Events taken from one epoll_wait() call. */
#define EPOLL_BATCH	 128
/* Connections accepted per readiness event, so accepting cannot starve. */
#define ACCEPT_BURST	 64
#define LISTEN_BACKLOG	 1024
/* Bytes read from TLS per SSL_read() call. */
#define READ_CHUNK	 16384
/* Bytes gathered from nghttp2 before they are written to TLS. */
#define OUT_CHUNK	 ((size_t)64 * 1024)
/* Longest "<status> <name>" line and path printed in verbose mode. */
#define VERBOSE_PATH_MAX 200
#define NO_OFFSET	 SIZE_MAX
/* How long a finished connection keeps reading what the client still sends. */
#define LINGER_MS	 2000
/* Longest wait in epoll while a connection lingers. */
#define LINGER_TICK_MS	 100
/* Room for one filler header's name, "x-fill-" and a number. */
#define FILL_NAME_MAX	 32

static const char *const h2s_messages[] = {
#define H2S_XX(name, value, text) [-(value)] = (text),
	H2S_STATUS_MAP(H2S_XX)
#undef H2S_XX
};

const char *h2s_strerror(h2s_status st)
{
	size_t i = (size_t)(-(long)st);

	if ((long)st > 0 ||
	    i >= sizeof(h2s_messages) / sizeof(h2s_messages[0]) ||
	    h2s_messages[i] == NULL)
		return "unknown status";
	return h2s_messages[i];
}

struct h2s_response {
	int status;
	size_t nheaders;
	char names[H2S_RESP_HEADERS_MAX][H2S_RESP_NAME_MAX + 1];
	char values[H2S_RESP_HEADERS_MAX][H2S_RESP_VALUE_MAX + 1];
	uint8_t *body;
	size_t body_len;
	unsigned delay_ms;
	int goaway;
	h2s_fault fault;
	size_t fill_body;	  /* filler bytes after the body */
	size_t fill_headers;	  /* filler headers */
	size_t fill_header_bytes; /* bytes of each filler header's value */
};

typedef struct conn conn;

typedef struct stream {
	conn *c;
	int32_t id;
	/* Header names and values, each NUL-terminated, in one buffer. */
	char *hbuf;
	size_t hlen, hcap;
	size_t name_off[H2S_REQ_HEADERS_MAX];
	size_t value_off[H2S_REQ_HEADERS_MAX];
	size_t nhdr;
	size_t method_off, path_off, scheme_off, authority_off;
	uint8_t *body;
	size_t body_len, body_alloc;
	int body_truncated;
	int dispatched;
	h2s_response resp;
	size_t resp_off;
	char status_name[8]; /* ":status", in writable storage for nghttp2 */
	char status_text[4];
	/* A delayed answer waits in the server's list, sorted by due time. */
	int delayed;
	uint64_t due_ms;
	struct stream *dprev, *dnext;
	/* Every stream of a connection, so closing it frees them all. */
	struct stream *prev, *next;
} stream;

struct conn {
	h2s_server *s;
	int fd;
	SSL *ssl;
	nghttp2_session *h2;
	uint64_t id;
	int handshake_done;
	uint32_t events;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	stream *streams;
	uint64_t linger_until; /* 0, or when a lingering close ends */
	int doomed;	       /* to be dropped with a TCP reset */
	int stalled;	       /* never to be read or written again */
	conn *prev, *next;
};

struct h2s_server {
	h2s_options o;
	SSL_CTX *ctx;
	nghttp2_session_callbacks *cbs;
	nghttp2_option *h2opt;
	int lfd, sfd, efd;
	uint16_t port;
	uint64_t next_conn_id;
	conn *conns;
	size_t lingering; /* connections in a lingering close */
	stream *delayed_head;
	/* epoll tags for the two file descriptors that are not connections. */
	int listen_tag, signal_tag;
};

static uint64_t mono_ms(void)
{
	return af_mono_ns() / 1000000U;
}

int h2s_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	if (text == NULL || out == NULL || *text == '\0')
		return -1;
	for (p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

char *h2s_read_file(const char *path, size_t cap, size_t *len)
{
	FILE *f = NULL;
	char *buf = NULL, *ret = NULL;
	size_t n;

	if (path == NULL || cap == 0 || cap > SIZE_MAX - 2)
		return NULL;
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	buf = malloc(cap + 2);
	if (buf == NULL)
		goto out;
	/* Read one byte past the cap to tell "exactly cap" from "more". */
	n = fread(buf, 1, cap + 1, f);
	if (ferror(f) || n > cap)
		goto out;
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	ret = buf;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return ret;
}

/* ---- requests and responses ---- */

const char *h2s_request_header(const h2s_request *req, const char *name)
{
	size_t i;

	if (req == NULL || name == NULL)
		return NULL;
	for (i = 0; i < req->nheaders; i++)
		if (strcmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

size_t h2s_request_header_count(const h2s_request *req, const char *name)
{
	size_t i, n = 0;

	if (req == NULL || name == NULL)
		return 0;
	for (i = 0; i < req->nheaders; i++)
		if (strcmp(req->headers[i].name, name) == 0)
			n++;
	return n;
}

h2s_status h2s_response_status(h2s_response *resp, int status)
{
	if (resp == NULL || status < 100 || status > 599)
		return H2S_ERR_ARG;
	resp->status = status;
	return H2S_OK;
}

h2s_status h2s_response_header(h2s_response *resp, const char *name,
			       const char *value)
{
	size_t nlen, vlen, i;

	if (resp == NULL || name == NULL || value == NULL)
		return H2S_ERR_ARG;
	nlen = strlen(name);
	vlen = strlen(value);
	if (nlen == 0 || nlen > H2S_RESP_NAME_MAX || vlen > H2S_RESP_VALUE_MAX)
		return H2S_ERR_ARG;
	for (i = 0; i < nlen; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			return H2S_ERR_ARG;
	if (resp->nheaders == H2S_RESP_HEADERS_MAX)
		return H2S_ERR_FULL;
	memcpy(resp->names[resp->nheaders], name, nlen + 1);
	memcpy(resp->values[resp->nheaders], value, vlen + 1);
	resp->nheaders++;
	return H2S_OK;
}

h2s_status h2s_response_body(h2s_response *resp, const void *data, size_t len)
{
	uint8_t *copy;

	if (resp == NULL || (data == NULL && len > 0) ||
	    len > H2S_RESP_BODY_MAX)
		return H2S_ERR_ARG;
	copy = malloc(len + 1);
	if (copy == NULL)
		return H2S_ERR_NOMEM;
	if (len > 0)
		memcpy(copy, data, len);
	free(resp->body);
	resp->body = copy;
	resp->body_len = len;
	return H2S_OK;
}

h2s_status h2s_response_delay(h2s_response *resp, unsigned ms)
{
	if (resp == NULL || ms > H2S_DELAY_MAX_MS)
		return H2S_ERR_ARG;
	resp->delay_ms = ms;
	return H2S_OK;
}

void h2s_response_goaway(h2s_response *resp)
{
	if (resp != NULL)
		resp->goaway = 1;
}

h2s_status h2s_response_fault(h2s_response *resp, h2s_fault f)
{
	if (resp == NULL || f < H2S_FAULT_NONE || f > H2S_FAULT_STUCK)
		return H2S_ERR_ARG;
	resp->fault = f;
	return H2S_OK;
}

h2s_status h2s_response_fill(h2s_response *resp, size_t body_bytes,
			     size_t headers, size_t header_bytes)
{
	if (resp == NULL || body_bytes > H2S_FILL_BODY_MAX ||
	    headers > H2S_FILL_HEADERS_MAX ||
	    header_bytes > H2S_FILL_VALUE_MAX ||
	    (header_bytes > 0 && headers > H2S_FILL_BLOCK_MAX / header_bytes))
		return H2S_ERR_ARG;
	resp->fill_body = body_bytes;
	resp->fill_headers = headers;
	resp->fill_header_bytes = header_bytes;
	return H2S_OK;
}

/* ---- streams ---- */

static void delayed_unlink(h2s_server *s, stream *st)
{
	if (!st->delayed)
		return;
	if (st->dprev != NULL)
		st->dprev->dnext = st->dnext;
	else
		s->delayed_head = st->dnext;
	if (st->dnext != NULL)
		st->dnext->dprev = st->dprev;
	st->dprev = st->dnext = NULL;
	st->delayed = 0;
}

static void delayed_insert(h2s_server *s, stream *st)
{
	stream *p = s->delayed_head, *prev = NULL;

	while (p != NULL && p->due_ms <= st->due_ms) {
		prev = p;
		p = p->dnext;
	}
	st->dprev = prev;
	st->dnext = p;
	if (prev != NULL)
		prev->dnext = st;
	else
		s->delayed_head = st;
	if (p != NULL)
		p->dprev = st;
	st->delayed = 1;
}

static stream *stream_new(conn *c, int32_t id)
{
	stream *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->c = c;
	st->id = id;
	st->method_off = st->path_off = NO_OFFSET;
	st->scheme_off = st->authority_off = NO_OFFSET;
	st->next = c->streams;
	if (c->streams != NULL)
		c->streams->prev = st;
	c->streams = st;
	return st;
}

/* c is st's connection, passed so the list update is plain to see. */
static void stream_free(conn *c, stream *st)
{
	delayed_unlink(c->s, st);
	if (c->streams == st)
		c->streams = st->next;
	else if (st->prev != NULL)
		st->prev->next = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	free(st->hbuf);
	free(st->body);
	free(st->resp.body);
	free(st);
}

/* Appends a NUL-terminated copy of (p, len) to the header buffer. */
static int hbuf_add(stream *st, const uint8_t *p, size_t len, size_t *off)
{
	size_t need, cap;
	char *nb;

	if (len > H2S_REQ_HEADER_BYTES_MAX ||
	    st->hlen > H2S_REQ_HEADER_BYTES_MAX - len - 1)
		return -1;
	need = st->hlen + len + 1;
	if (need > st->hcap) {
		cap = st->hcap == 0 ? 512 : st->hcap;
		while (cap < need)
			cap *= 2;
		if (cap > H2S_REQ_HEADER_BYTES_MAX)
			cap = H2S_REQ_HEADER_BYTES_MAX;
		nb = realloc(st->hbuf, cap);
		if (nb == NULL)
			return -1;
		st->hbuf = nb;
		st->hcap = cap;
	}
	if (len > 0)
		memcpy(st->hbuf + st->hlen, p, len);
	st->hbuf[st->hlen + len] = '\0';
	*off = st->hlen;
	st->hlen += len + 1;
	return 0;
}

static int body_add(stream *st, const uint8_t *p, size_t len)
{
	size_t cap = st->c->s->o.body_cap, take, want;
	uint8_t *nb;

	take = len;
	if (st->body_len + take > cap) {
		take = cap - st->body_len;
		st->body_truncated = 1;
	}
	if (take == 0)
		return 0;
	if (st->body_len + take + 1 > st->body_alloc) {
		want = st->body_alloc == 0 ? 1024 : st->body_alloc;
		while (want < st->body_len + take + 1)
			want *= 2;
		if (want > cap + 1)
			want = cap + 1;
		nb = realloc(st->body, want);
		if (nb == NULL)
			return -1;
		st->body = nb;
		st->body_alloc = want;
	}
	memcpy(st->body + st->body_len, p, take);
	st->body_len += take;
	st->body[st->body_len] = '\0';
	return 0;
}

static const char *hstr(const stream *st, size_t off)
{
	return off == NO_OFFSET ? "" : st->hbuf + off;
}

static ssize_t body_read_cb(nghttp2_session *h2, int32_t id, uint8_t *buf,
			    size_t length, uint32_t *flags,
			    nghttp2_data_source *src, void *user)
{
	stream *st = src->ptr;
	const h2s_response *r = &st->resp;
	size_t limit = r->body_len + r->fill_body, n, from_body = 0;

	(void)h2;
	(void)id;
	(void)user;
	/*
	 * A cut answer stops half-way, and its connection is dropped; a stuck
	 * one stops there too and waits for ever.
	 */
	if (r->fault == H2S_FAULT_CUT || r->fault == H2S_FAULT_STUCK)
		limit /= 2;
	n = limit - st->resp_off < length ? limit - st->resp_off : length;
	if (st->resp_off < r->body_len) {
		from_body = r->body_len - st->resp_off < n
				    ? r->body_len - st->resp_off
				    : n;
		memcpy(buf, r->body + st->resp_off, from_body);
	}
	memset(buf + from_body, 'x', n - from_body);
	st->resp_off += n;
	if (st->resp_off < limit)
		return (ssize_t)n;
	if (r->fault != H2S_FAULT_CUT && r->fault != H2S_FAULT_STUCK) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return (ssize_t)n;
	}
	if (r->fault == H2S_FAULT_CUT)
		st->c->doomed = 1;
	return n > 0 ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
}

/* nghttp2 copies the strings and never writes through these pointers. */
static nghttp2_nv make_nv(char *name, char *value)
{
	nghttp2_nv nv;

	nv.name = (uint8_t *)name;
	nv.value = (uint8_t *)value;
	nv.namelen = strlen(name);
	nv.valuelen = strlen(value);
	nv.flags = NGHTTP2_NV_FLAG_NONE;
	return nv;
}

static int stream_submit(stream *st)
{
	nghttp2_nv small[H2S_RESP_HEADERS_MAX + 1], *nva = small;
	nghttp2_data_provider prd;
	h2s_response *r = &st->resp;
	char *names = NULL, *value = NULL;
	size_t i, n = 0;
	int status = r->status, rc = -1;

	/* Filler headers: nghttp2 copies them, so they live for this call. */
	if (r->fill_headers > 0) {
		nva = calloc(1 + r->nheaders + r->fill_headers, sizeof(*nva));
		names = malloc(r->fill_headers * FILL_NAME_MAX);
		value = malloc(r->fill_header_bytes + 1);
		if (nva == NULL || names == NULL || value == NULL)
			goto out;
		memset(value, 'h', r->fill_header_bytes);
		value[r->fill_header_bytes] = '\0';
	}

	st->status_text[0] = (char)('0' + status / 100);
	st->status_text[1] = (char)('0' + status / 10 % 10);
	st->status_text[2] = (char)('0' + status % 10);
	st->status_text[3] = '\0';
	memcpy(st->status_name, ":status", sizeof(":status"));
	nva[n++] = make_nv(st->status_name, st->status_text);
	for (i = 0; i < r->nheaders; i++)
		nva[n++] = make_nv(r->names[i], r->values[i]);
	for (i = 0; i < r->fill_headers; i++) {
		char *name = names + i * FILL_NAME_MAX;

		(void)snprintf(name, FILL_NAME_MAX, "x-fill-%zu", i);
		nva[n++] = make_nv(name, value);
	}
	prd.source.ptr = st;
	prd.read_callback = body_read_cb;
	rc = nghttp2_submit_response(st->c->h2, st->id, nva, n,
				     r->body_len > 0 || r->fill_body > 0 ||
						     r->fault ==
							     H2S_FAULT_CUT ||
						     r->fault == H2S_FAULT_STUCK
					     ? &prd
					     : NULL);
out:
	if (nva != small)
		free(nva);
	free(names);
	free(value);
	return rc;
}

/* Sends st's answer, or does what its fault says instead. */
static void stream_answer(stream *st)
{
	conn *c = st->c;

	switch (st->resp.fault) {
	case H2S_FAULT_HANG:
		return;
	case H2S_FAULT_STALL:
		c->stalled = 1;
		return;
	case H2S_FAULT_RESET:
		c->doomed = 1;
		return;
	case H2S_FAULT_RST_STREAM:
		(void)nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE,
						st->id, NGHTTP2_INTERNAL_ERROR);
		return;
	case H2S_FAULT_GOAWAY:
		/* Client streams are odd: the one before this is id - 2. */
		(void)nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
					    st->id > 2 ? st->id - 2 : 0,
					    NGHTTP2_NO_ERROR, NULL, 0);
		return;
	default:
		break;
	}
	if (stream_submit(st) != 0)
		(void)nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE,
						st->id, NGHTTP2_INTERNAL_ERROR);
}

static void stream_dispatch(stream *st)
{
	h2s_server *s = st->c->s;
	h2s_header hdrs[H2S_REQ_HEADERS_MAX];
	h2s_request req;
	size_t i;

	st->dispatched = 1;
	for (i = 0; i < st->nhdr; i++) {
		hdrs[i].name = st->hbuf + st->name_off[i];
		hdrs[i].value = st->hbuf + st->value_off[i];
	}
	memset(&req, 0, sizeof(req));
	req.method = hstr(st, st->method_off);
	req.path = hstr(st, st->path_off);
	req.scheme = hstr(st, st->scheme_off);
	req.authority = hstr(st, st->authority_off);
	req.headers = hdrs;
	req.nheaders = st->nhdr;
	req.body = st->body != NULL ? st->body : (const uint8_t *)"";
	req.body_len = st->body_len;
	req.body_truncated = st->body_truncated;
	req.conn_id = st->c->id;
	req.stream_id = st->id;
	s->o.handler(s->o.handler_arg, &req, &st->resp);
	if (st->resp.status == 0) {
		/* The handler could not answer (out of memory): say so. */
		st->resp.status = 500;
		st->resp.body_len = 0;
	}
	if (s->o.verbose)
		fprintf(stderr, "%s: conn=%llu stream=%d %s %.*s -> %d%s\n",
			s->o.name, (unsigned long long)st->c->id, st->id,
			req.method, VERBOSE_PATH_MAX, req.path, st->resp.status,
			st->resp.goaway ? " +goaway" : "");
	if (st->resp.delay_ms > 0) {
		st->due_ms = mono_ms() + st->resp.delay_ms;
		delayed_insert(s, st);
		return;
	}
	stream_answer(st);
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame,
			    void *user)
{
	conn *c = user;
	stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = stream_new(c, frame->hd.stream_id);
	if (st == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, st) !=
	    0) {
		stream_free(st->c, st);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame,
		     const uint8_t *name, size_t namelen, const uint8_t *value,
		     size_t valuelen, uint8_t flags, void *user)
{
	stream *st;
	size_t *pseudo = NULL, noff, voff;

	(void)flags;
	(void)user;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers carry nothing the mocks use */
	st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
	if (st == NULL)
		return 0;
	if (namelen > 0 && name[0] == ':') {
		if (namelen == 7 && memcmp(name, ":method", 7) == 0)
			pseudo = &st->method_off;
		else if (namelen == 5 && memcmp(name, ":path", 5) == 0)
			pseudo = &st->path_off;
		else if (namelen == 7 && memcmp(name, ":scheme", 7) == 0)
			pseudo = &st->scheme_off;
		else if (namelen == 10 && memcmp(name, ":authority", 10) == 0)
			pseudo = &st->authority_off;
		if (pseudo == NULL)
			return 0;
		return hbuf_add(st, value, valuelen, pseudo) == 0
			       ? 0
			       : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	/* Too many or too large headers reset the stream, as servers do. */
	if (st->nhdr == H2S_REQ_HEADERS_MAX ||
	    hbuf_add(st, name, namelen, &noff) != 0 ||
	    hbuf_add(st, value, valuelen, &voff) != 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	st->name_off[st->nhdr] = noff;
	st->value_off[st->nhdr] = voff;
	st->nhdr++;
	return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id,
			 const uint8_t *data, size_t len, void *user)
{
	stream *st = nghttp2_session_get_stream_user_data(h2, id);

	(void)flags;
	(void)user;
	if (st == NULL || st->dispatched)
		return 0;
	if (body_add(st, data, len) != 0)
		return nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, id,
						 NGHTTP2_INTERNAL_ERROR) == 0
			       ? 0
			       : NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame,
			 void *user)
{
	stream *st;

	(void)user;
	if ((frame->hd.type != NGHTTP2_HEADERS &&
	     frame->hd.type != NGHTTP2_DATA) ||
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0)
		return 0;
	st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
	if (st != NULL && !st->dispatched)
		stream_dispatch(st);
	return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame,
			 void *user)
{
	stream *st;

	(void)user;
	if ((frame->hd.type != NGHTTP2_HEADERS &&
	     frame->hd.type != NGHTTP2_DATA) ||
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0)
		return 0;
	st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
	if (st == NULL || !st->resp.goaway)
		return 0;
	/*
	 * The answer is out: now tell the client to go elsewhere. Streams it
	 * opened before this point are still answered; the connection ends
	 * when none is left (nghttp2 then wants neither to read nor write).
	 */
	if (nghttp2_submit_goaway(h2, NGHTTP2_FLAG_NONE,
				  nghttp2_session_get_last_proc_stream_id(h2),
				  NGHTTP2_NO_ERROR, NULL, 0) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code,
			   void *user)
{
	stream *st = nghttp2_session_get_stream_user_data(h2, id);

	(void)code;
	(void)user;
	if (st != NULL)
		stream_free(st->c, st);
	return 0;
}

/* ---- connections ---- */

static void conn_close(h2s_server *s, conn *c)
{
	/* nghttp2_session_del() runs no close callbacks: free streams here. */
	while (c->streams != NULL)
		stream_free(c, c->streams);
	nghttp2_session_del(c->h2);
	if (c->linger_until != 0)
		s->lingering--;
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0) {
		(void)epoll_ctl(s->efd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	if (s->conns == c)
		s->conns = c->next;
	else if (c->prev != NULL)
		c->prev->next = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->out);
	free(c);
}

static int conn_set_events(conn *c, uint32_t events)
{
	struct epoll_event ev;

	if (events == c->events)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(c->s->efd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		return -1;
	c->events = events;
	return 0;
}

/* Moves frames from nghttp2 into the output buffer. 0 or -1. */
static int conn_gather(conn *c)
{
	const uint8_t *data;
	ssize_t n;
	size_t cap;
	uint8_t *nb;

	while (c->out_len < OUT_CHUNK) {
		n = nghttp2_session_mem_send(c->h2, &data);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if (c->out_len + (size_t)n > c->out_cap) {
			cap = c->out_cap == 0 ? OUT_CHUNK : c->out_cap;
			while (cap < c->out_len + (size_t)n)
				cap *= 2;
			nb = realloc(c->out, cap);
			if (nb == NULL)
				return -1;
			c->out = nb;
			c->out_cap = cap;
		}
		memcpy(c->out + c->out_len, data, (size_t)n);
		c->out_len += (size_t)n;
	}
	return 0;
}

/*
 * Writes what nghttp2 has to send until TLS would block. Returns 1 when
 * output is still pending, 0 when all is written, -1 on failure.
 */
static int conn_flush(conn *c)
{
	int n, err;

	for (;;) {
		if (c->out_off == c->out_len) {
			c->out_off = c->out_len = 0;
			if (conn_gather(c) != 0)
				return -1;
			if (c->out_len == 0)
				return 0;
		}
		ERR_clear_error();
		n = SSL_write(c->ssl, c->out + c->out_off,
			      (int)(c->out_len - c->out_off));
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
			return 1;
		return -1;
	}
}

/* Feeds everything TLS has for us into nghttp2. 0 or -1 (close). */
static int conn_read(conn *c)
{
	uint8_t buf[READ_CHUNK];
	ssize_t rv;
	int n, err;

	for (;;) {
		ERR_clear_error();
		n = SSL_read(c->ssl, buf, (int)sizeof(buf));
		if (n > 0) {
			rv = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
			if (rv < 0)
				return -1;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			return 0;
		return -1;
	}
}

/*
 * Writes pending output and picks the events to wait for: 0, 1 when the
 * session is over (GOAWAY exchanged, everything answered and written), or
 * -1 on an error.
 */
static int conn_pump(conn *c)
{
	struct linger hard = {1, 0};
	int pending;

	/* A stalled connection is neither written nor read again. */
	if (c->stalled) {
		if (c->events != 0 &&
		    epoll_ctl(c->s->efd, EPOLL_CTL_DEL, c->fd, NULL) == 0)
			c->events = 0;
		return 0;
	}
	pending = conn_flush(c);
	if (c->doomed) {
		/* Closing with SO_LINGER 0 sends a TCP reset. */
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &hard,
				 sizeof(hard));
		return -1;
	}
	if (pending < 0)
		return -1;
	if (!pending && !nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2))
		return 1;
	return conn_set_events(c, EPOLLIN | (pending ? EPOLLOUT : 0U));
}

/*
 * Ends a finished session as web servers do, with a lingering close: the
 * client may still be writing (a request sent before it read the GOAWAY,
 * a RST_STREAM), and closing a socket that holds unread data makes the
 * kernel send a TCP reset, which destroys the answers the client has not
 * read yet. So: TLS close_notify, no more writes, then read and drop what
 * comes until the client closes or LINGER_MS have passed.
 */
static void conn_linger(h2s_server *s, conn *c)
{
	ERR_clear_error();
	(void)SSL_shutdown(c->ssl);
	if (shutdown(c->fd, SHUT_WR) != 0 || conn_set_events(c, EPOLLIN) != 0) {
		conn_close(s, c);
		return;
	}
	c->linger_until = mono_ms() + LINGER_MS;
	s->lingering++;
}

/* Reads and drops what a lingering client sends; closes on its EOF. */
static void conn_drain(h2s_server *s, conn *c)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n > 0)
			continue;
		if (n < 0 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		conn_close(s, c);
		return;
	}
}

/* Acts on what conn_pump() or a step before it returned. */
static void conn_settle(h2s_server *s, conn *c, int rc)
{
	if (rc < 0)
		conn_close(s, c);
	else if (rc > 0)
		conn_linger(s, c);
}

/* Closes the lingering connections whose time is up. */
static void linger_reap(h2s_server *s)
{
	uint64_t now;
	conn *c, *next;

	if (s->lingering == 0)
		return;
	now = mono_ms();
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (c->linger_until != 0 && c->linger_until <= now)
			conn_close(s, c);
	}
}

static int conn_start_h2(conn *c)
{
	h2s_server *s = c->s;
	nghttp2_settings_entry iv[2];
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;

	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0)
		return -1; /* no ALPN at all: HTTP/2 only, as Apple does */
	if (nghttp2_session_server_new2(&c->h2, s->cbs, c, s->h2opt) != 0)
		return -1;
	iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	iv[0].value = s->o.max_streams;
	iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
	iv[1].value = 1U << 20;
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2) != 0)
		return -1;
	/* A large connection window, so many streams can send at once. */
	if (nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
						  1 << 24) != 0)
		return -1;
	c->handshake_done = 1;
	return 0;
}

static int conn_handshake(conn *c)
{
	int n, err;

	ERR_clear_error();
	n = SSL_accept(c->ssl);
	if (n == 1) {
		if (conn_start_h2(c) != 0)
			return -1;
		/* The client preface may already sit in TLS's buffer. */
		if (conn_read(c) != 0)
			return -1;
		return conn_pump(c);
	}
	err = SSL_get_error(c->ssl, n);
	if (err == SSL_ERROR_WANT_READ)
		return conn_set_events(c, EPOLLIN);
	if (err == SSL_ERROR_WANT_WRITE)
		return conn_set_events(c, EPOLLIN | EPOLLOUT);
	return -1;
}

static void conn_event(conn *c, uint32_t events)
{
	int rc = 0;

	if (c->linger_until != 0) {
		conn_drain(c->s, c);
		return;
	}
	if (!c->handshake_done) {
		rc = conn_handshake(c);
	} else {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			rc = conn_read(c);
		if (rc == 0)
			rc = conn_pump(c);
	}
	conn_settle(c->s, c, rc);
}

static void accept_some(h2s_server *s)
{
	struct epoll_event ev;
	int i, fd, one = 1;
	conn *c;

	for (i = 0; i < ACCEPT_BURST; i++) {
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			return; /* EAGAIN, or a transient error: try later */
		c = calloc(1, sizeof(*c));
		if (c == NULL || fcntl(fd, F_SETFL, O_NONBLOCK) != 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
			free(c);
			close(fd);
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
		c->s = s;
		c->fd = fd;
		c->id = ++s->next_conn_id;
		c->events = EPOLLIN;
		c->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = c;
		s->conns = c;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		c->ssl = SSL_new(s->ctx);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1 ||
		    epoll_ctl(s->efd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			c->fd = -1; /* never registered */
			close(fd);
			conn_close(s, c);
			continue;
		}
		SSL_set_accept_state(c->ssl);
	}
}

/* Sends every delayed answer whose time has come. */
static void run_timers(h2s_server *s)
{
	uint64_t now = mono_ms();
	stream *st;
	conn *c;

	while (s->delayed_head != NULL && s->delayed_head->due_ms <= now) {
		st = s->delayed_head;
		c = st->c;
		delayed_unlink(s, st);
		stream_answer(st);
		conn_settle(s, c, conn_pump(c));
	}
}

static int next_timeout(const h2s_server *s)
{
	uint64_t now, due;
	int wait;

	if (s->delayed_head == NULL)
		return s->lingering > 0 ? LINGER_TICK_MS : -1;
	now = mono_ms();
	due = s->delayed_head->due_ms;
	wait = due <= now ? 0 : (int)(due - now);
	if (s->lingering > 0 && wait > LINGER_TICK_MS)
		wait = LINGER_TICK_MS;
	return wait;
}

static void shutdown_all(h2s_server *s)
{
	conn *c;

	while (s->conns != NULL) {
		c = s->conns;
		if (c->h2 != NULL && !c->stalled &&
		    nghttp2_submit_goaway(
			    c->h2, NGHTTP2_FLAG_NONE,
			    nghttp2_session_get_last_proc_stream_id(c->h2),
			    NGHTTP2_NO_ERROR, NULL, 0) == 0) {
			/* Best effort: a blocked socket just loses it. */
			(void)conn_flush(c);
		}
		conn_close(s, c);
	}
}

h2s_status h2s_server_run(h2s_server *s)
{
	struct epoll_event evs[EPOLL_BATCH];
	struct signalfd_siginfo si;
	int n, i;

	if (s == NULL)
		return H2S_ERR_ARG;
	for (;;) {
		n = epoll_wait(s->efd, evs, EPOLL_BATCH, next_timeout(s));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return H2S_ERR_LOOP;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &s->signal_tag) {
				if (read(s->sfd, &si, sizeof(si)) > 0) {
					shutdown_all(s);
					return H2S_OK;
				}
			} else if (evs[i].data.ptr == &s->listen_tag) {
				accept_some(s);
			} else {
				conn_event(evs[i].data.ptr, evs[i].events);
			}
		}
		run_timers(s);
		linger_reap(s);
	}
}

/* ---- set-up ---- */

static int alpn_select(SSL *ssl, const unsigned char **out,
		       unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	unsigned i = 0;

	(void)ssl;
	(void)arg;
	while (i < inlen) {
		unsigned len = in[i];

		if (len > inlen - i - 1)
			break;
		if (len == 2 && memcmp(in + i + 1, "h2", 2) == 0) {
			*out = in + i + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
		i += len + 1;
	}
	/* Only HTTP/2: a client that cannot speak it gets a TLS alert. */
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void tls_errors(const char *name, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		buf[0] = '\0';
	fprintf(stderr, "%s: %s: %s\n", name, what, buf);
	ERR_clear_error();
}

static h2s_status tls_setup(h2s_server *s)
{
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (s->ctx == NULL)
		return H2S_ERR_NOMEM;
	if (SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION) != 1) {
		tls_errors(s->o.name, "TLS versions");
		return H2S_ERR_TLS;
	}
	SSL_CTX_set_options(s->ctx,
			    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(s->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(s->ctx, s->o.cert_file) != 1) {
		tls_errors(s->o.name, s->o.cert_file);
		return H2S_ERR_TLS;
	}
	if (SSL_CTX_use_PrivateKey_file(s->ctx, s->o.key_file,
					SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(s->ctx) != 1) {
		tls_errors(s->o.name, s->o.key_file);
		return H2S_ERR_TLS;
	}
	SSL_CTX_set_alpn_select_cb(s->ctx, alpn_select, NULL);
	return H2S_OK;
}

static h2s_status h2_setup(h2s_server *s)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&s->cbs) != 0 ||
	    nghttp2_option_new(&s->h2opt) != 0)
		return H2S_ERR_NOMEM;
	/* Room for the filler headers of a test's oversized answer. */
	nghttp2_option_set_max_send_header_block_length(
		s->h2opt, H2S_FILL_BLOCK_MAX + (size_t)64 * 1024);
	cb = s->cbs;
	nghttp2_session_callbacks_set_on_begin_headers_callback(
		cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
		cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
							       on_stream_close);
	return H2S_OK;
}

static h2s_status write_port_file(h2s_server *s)
{
	char tmp[4096], line[16];
	int fd, len;
	ssize_t w;

	len = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", s->o.port_file,
		       (long)getpid());
	if (len < 0 || (size_t)len >= sizeof(tmp))
		return H2S_ERR_PORT_FILE;
	len = snprintf(line, sizeof(line), "%u\n", (unsigned)s->port);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return H2S_ERR_PORT_FILE;
	w = write(fd, line, (size_t)len);
	if (close(fd) != 0 || w != len || rename(tmp, s->o.port_file) != 0) {
		(void)unlink(tmp);
		return H2S_ERR_PORT_FILE;
	}
	return H2S_OK;
}

static h2s_status socket_setup(h2s_server *s)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct epoll_event ev;
	int one = 1;

	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->lfd < 0 || fcntl(s->lfd, F_SETFL, O_NONBLOCK) != 0 ||
	    fcntl(s->lfd, F_SETFD, FD_CLOEXEC) != 0)
		return H2S_ERR_SOCKET;
	(void)setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(s->o.port);
	/* Loopback only: the mocks must never be reachable from outside. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(s->lfd, LISTEN_BACKLOG) != 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &salen) != 0) {
		fprintf(stderr,
			"%s: cannot listen on 127.0.0.1:%u (errno %d)\n",
			s->o.name, (unsigned)s->o.port, errno);
		return H2S_ERR_SOCKET;
	}
	s->port = ntohs(sa.sin_port);
	s->efd = epoll_create1(EPOLL_CLOEXEC);
	if (s->efd < 0)
		return H2S_ERR_SOCKET;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &s->listen_tag;
	if (epoll_ctl(s->efd, EPOLL_CTL_ADD, s->lfd, &ev) != 0)
		return H2S_ERR_SOCKET;
	ev.data.ptr = &s->signal_tag;
	if (epoll_ctl(s->efd, EPOLL_CTL_ADD, s->sfd, &ev) != 0)
		return H2S_ERR_SOCKET;
	return H2S_OK;
}

static h2s_status signal_setup(h2s_server *s)
{
	sigset_t set;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	/* A client that hangs up mid-write must not kill the server. */
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return H2S_ERR_SOCKET;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return H2S_ERR_SOCKET;
	s->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return s->sfd < 0 ? H2S_ERR_SOCKET : H2S_OK;
}

h2s_status h2s_server_new(const h2s_options *o, h2s_server **out)
{
	h2s_server *s = NULL;
	h2s_status st = H2S_ERR_ARG;

	if (out == NULL)
		return H2S_ERR_ARG;
	*out = NULL;
	if (o == NULL || o->cert_file == NULL || o->key_file == NULL ||
	    o->handler == NULL || o->max_streams == 0 ||
	    o->max_streams > H2S_MAX_STREAMS_MAX || o->body_cap == 0 ||
	    o->body_cap > H2S_BODY_CAP_MAX)
		return H2S_ERR_ARG;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return H2S_ERR_NOMEM;
	s->o = *o;
	if (s->o.name == NULL)
		s->o.name = "h2server";
	s->lfd = s->sfd = s->efd = -1;
	st = tls_setup(s);
	if (st == H2S_OK)
		st = h2_setup(s);
	if (st == H2S_OK)
		st = signal_setup(s);
	if (st == H2S_OK)
		st = socket_setup(s);
	if (st == H2S_OK && s->o.port_file != NULL)
		st = write_port_file(s);
	if (st != H2S_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	h2s_server_free(s);
	return st;
}

uint16_t h2s_server_port(const h2s_server *s)
{
	return s == NULL ? 0 : s->port;
}

void h2s_server_free(h2s_server *s)
{
	if (s == NULL)
		return;
	while (s->conns != NULL)
		conn_close(s, s->conns);
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->sfd >= 0)
		close(s->sfd);
	if (s->efd >= 0)
		close(s->efd);
	nghttp2_session_callbacks_del(s->cbs);
	nghttp2_option_del(s->h2opt);
	SSL_CTX_free(s->ctx);
	free(s);
}
