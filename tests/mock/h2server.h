/*
 * A small HTTP/2-over-TLS server core for the push service mocks
 * (mock_apns, mock_fcm): one thread, one epoll loop, non-blocking sockets,
 * TLS through OpenSSL with ALPN "h2" only, and an nghttp2 server session
 * per connection. It listens on 127.0.0.1 only, since the mocks exist for
 * tests on one machine and must never be reachable from outside.
 *
 * Each request (headers and body, the body kept up to a cap) is handed to
 * one callback once the client has ended its stream; the callback fills
 * an h2s_response (status, a few headers, a body) and may ask for the
 * answer to be delayed or for the connection to be shut down with GOAWAY
 * after it. The loop runs until SIGTERM or SIGINT.
 *
 * Thread-safety: an h2s_server and everything it hands out belong to the
 * thread that runs it (nghttp2 sessions and SSL objects are not shared).
 * h2s_server_new() blocks SIGINT and SIGTERM in the calling thread, so
 * call it from main() before any other thread starts.
 */
#ifndef MOCK_H2SERVER_H
#define MOCK_H2SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define H2S_STATUS_MAP(XX)                                  \
	XX(OK, 0, "success")                                \
	XX(ERR_ARG, -1, "invalid argument")                 \
	XX(ERR_NOMEM, -2, "out of memory")                  \
	XX(ERR_TLS, -3, "TLS set-up failed")                \
	XX(ERR_SOCKET, -4, "socket set-up failed")          \
	XX(ERR_PORT_FILE, -5, "cannot write the port file") \
	XX(ERR_LOOP, -6, "event loop failure")              \
	XX(ERR_FULL, -7, "no room left")

typedef enum h2s_status {
#define H2S_XX(name, value, text) H2S_##name = (value),
	H2S_STATUS_MAP(H2S_XX)
#undef H2S_XX
} h2s_status;

/* A static, never NULL message. Thread-safety: re-entrant. */
const char *h2s_strerror(h2s_status st);

/* Most request headers kept per stream; more resets the stream. */
#define H2S_REQ_HEADERS_MAX	 64
/* Most bytes of request header names and values per stream. */
#define H2S_REQ_HEADER_BYTES_MAX ((size_t)16 * 1024)
/* Most response headers besides :status. */
#define H2S_RESP_HEADERS_MAX	 8
/* Longest response header name and value. */
#define H2S_RESP_NAME_MAX	 64
#define H2S_RESP_VALUE_MAX	 256
/* Largest response body: a scripted 64 KiB pad and the members around it. */
#define H2S_RESP_BODY_MAX	 ((size_t)65 * 1024)
/* Largest request body cap a server may be configured with. */
#define H2S_BODY_CAP_MAX	 ((size_t)1024 * 1024)
/* Longest delay a response may ask for. */
#define H2S_DELAY_MAX_MS	 60000U
/* Most streams a client may open at once (the configurable setting). */
#define H2S_MAX_STREAMS_MAX	 100000U
/* Most filler bytes streamed after a response body. */
#define H2S_FILL_BODY_MAX	 ((size_t)64 * 1024 * 1024)
/* Most filler response headers, and the longest value of each. */
#define H2S_FILL_HEADERS_MAX	 100000U
#define H2S_FILL_VALUE_MAX	 ((size_t)64 * 1024)
/* Largest header block of filler headers in all. */
#define H2S_FILL_BLOCK_MAX	 ((size_t)16 * 1024 * 1024)

/*
 * What a broken or hostile push service does instead of answering
 * plainly, for tests of how clients survive it.
 */
typedef enum h2s_fault {
	H2S_FAULT_NONE = 0,
	H2S_FAULT_HANG,	 /* the stream is never answered */
	H2S_FAULT_STALL, /* the connection is never read or written again */
	H2S_FAULT_RESET, /* the connection is dropped with a TCP reset */
	H2S_FAULT_RST_STREAM, /* the stream is reset (INTERNAL_ERROR) */
	H2S_FAULT_GOAWAY,     /* GOAWAY leaving this stream unprocessed */
	H2S_FAULT_CUT,	      /* headers and part of the body, then a reset */
	H2S_FAULT_STUCK,      /* headers and part of the body, then nothing */
} h2s_fault;

typedef struct h2s_server h2s_server;
typedef struct h2s_response h2s_response;

typedef struct h2s_header {
	const char *name; /* lower case, as HTTP/2 requires */
	const char *value;
} h2s_header;

/*
 * One complete request, lent to the handler for the duration of the call.
 * Pseudo-headers that the client did not send are "" (never NULL).
 */
typedef struct h2s_request {
	const char *method;
	const char *path;
	const char *scheme;
	const char *authority;
	const h2s_header *headers; /* regular headers, in arrival order */
	size_t nheaders;
	const uint8_t *body; /* NUL-terminated for convenience */
	size_t body_len;     /* bytes kept, at most the configured cap */
	int body_truncated;  /* 1 when the client sent more than the cap */
	uint64_t conn_id;    /* unique per connection within one server */
	int32_t stream_id;
} h2s_request;

/*
 * Fills resp for req. The handler must not keep req or resp. A handler
 * that sets no status makes the server answer 500.
 */
typedef void (*h2s_handler)(void *arg, const h2s_request *req,
			    h2s_response *resp);

typedef struct h2s_options {
	const char *cert_file; /* PEM server certificate (chain) */
	const char *key_file;  /* PEM private key */
	uint16_t port;	       /* 0 picks a free port */
	const char *port_file; /* when not NULL, the port is written here */
	uint32_t max_streams;  /* SETTINGS_MAX_CONCURRENT_STREAMS, >= 1 */
	size_t body_cap;  /* request body bytes kept, 1..H2S_BODY_CAP_MAX */
	int verbose;	  /* one stderr line per request when non-zero */
	const char *name; /* program name for log lines */
	h2s_handler handler;
	void *handler_arg; /* borrowed, passed to handler */
} h2s_options;

/*
 * Loads the certificate and key, binds 127.0.0.1:port, and when
 * port_file is set writes the bound port and a newline there (written to
 * a temporary name and renamed, so readers never see half a file). Blocks
 * SIGINT and SIGTERM (they are read through a signalfd) and ignores
 * SIGPIPE. o is copied; its strings and handler_arg are borrowed and must
 * outlive the server.
 *
 * On success *out is the server (free with h2s_server_free()); otherwise
 * *out is NULL. Returns H2S_OK, H2S_ERR_ARG, H2S_ERR_NOMEM, H2S_ERR_TLS
 * (certificate or key unusable), H2S_ERR_SOCKET or H2S_ERR_PORT_FILE; the
 * reason is printed on stderr.
 *
 * Thread-safety: call from main() before other threads start.
 */
AF_NODISCARD h2s_status h2s_server_new(const h2s_options *o, h2s_server **out);

/*
 * Serves until SIGTERM or SIGINT, then sends GOAWAY to every client,
 * closes every connection and returns H2S_OK; H2S_ERR_LOOP when epoll
 * itself fails. Connection-level failures only close that connection.
 *
 * Thread-safety: one thread.
 */
AF_NODISCARD h2s_status h2s_server_run(h2s_server *s);

/* The bound port. Thread-safety: as the server. */
uint16_t h2s_server_port(const h2s_server *s);

/* Closes everything and frees s. Accepts NULL. */
void h2s_server_free(h2s_server *s);

/*
 * The value of the first request header called name (lower case), or
 * NULL. Thread-safety: re-entrant.
 */
const char *h2s_request_header(const h2s_request *req, const char *name);

/* How many times the header called name appears. */
size_t h2s_request_header_count(const h2s_request *req, const char *name);

/* Sets the status (100..599). H2S_OK or H2S_ERR_ARG. */
AF_NODISCARD h2s_status h2s_response_status(h2s_response *resp, int status);

/*
 * Adds a header (both strings copied). H2S_OK, H2S_ERR_ARG (name not
 * lower case, or either too long) or H2S_ERR_FULL.
 */
AF_NODISCARD h2s_status h2s_response_header(h2s_response *resp,
					    const char *name,
					    const char *value);

/*
 * Sets the body (copied; replaces an earlier one). H2S_OK, H2S_ERR_ARG
 * (longer than H2S_RESP_BODY_MAX) or H2S_ERR_NOMEM.
 */
AF_NODISCARD h2s_status h2s_response_body(h2s_response *resp, const void *data,
					  size_t len);

/* Answers only after ms milliseconds (at most H2S_DELAY_MAX_MS). */
AF_NODISCARD h2s_status h2s_response_delay(h2s_response *resp, unsigned ms);

/*
 * After this answer, sends GOAWAY (NO_ERROR) on the connection; the
 * connection closes once the streams it had accepted are answered.
 */
void h2s_response_goaway(h2s_response *resp);

/*
 * Makes the answer a fault (see h2s_fault), at the time the answer is due
 * (after a delay). H2S_FAULT_GOAWAY sends GOAWAY (NO_ERROR) whose last
 * stream id lies below this stream's, so the client may retry it
 * elsewhere; the connection closes once the earlier streams are answered.
 * H2S_FAULT_CUT sends the headers and at most half of the body (filler
 * included) before the reset; H2S_FAULT_STUCK as much, and then leaves
 * the stream open without another byte. H2S_OK or H2S_ERR_ARG.
 */
AF_NODISCARD h2s_status h2s_response_fault(h2s_response *resp, h2s_fault f);

/*
 * Pads the answer: body_bytes filler bytes ('x') streamed after the body
 * (never held in memory), and headers filler headers "x-fill-N", each
 * with a value of header_bytes bytes. H2S_OK, or H2S_ERR_ARG past
 * H2S_FILL_BODY_MAX, H2S_FILL_HEADERS_MAX, H2S_FILL_VALUE_MAX or
 * H2S_FILL_BLOCK_MAX in all.
 */
AF_NODISCARD h2s_status h2s_response_fill(h2s_response *resp, size_t body_bytes,
					  size_t headers, size_t header_bytes);

/*
 * Parses a decimal number in [min, max] that fills the whole string.
 * Returns 0 and sets *out, or -1. Thread-safety: re-entrant.
 */
AF_NODISCARD int h2s_parse_u64(const char *text, uint64_t min, uint64_t max,
			       uint64_t *out);

/*
 * Reads a whole file of at most cap bytes into a malloc'd, NUL-terminated
 * buffer (*len excludes the NUL; len may be NULL). Returns the buffer, or
 * NULL when the file cannot be read or is larger than cap.
 */
char *h2s_read_file(const char *path, size_t cap, size_t *len);

#endif /* MOCK_H2SERVER_H */
