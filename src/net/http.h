/*
 * http.h -- HTTP/1.1 client: keep-alive pool, chunked bodies, proxies, TLS.
 *
 * Owns:    struct http_client (the connection pool, the TLS configuration with its CA
 *          bundle and session cache, the proxy settings); release with http_client_free()
 *          after every http_do() on it has returned.
 *          struct http_response.body (heap, struct buf); release with http_response_fini().
 * Borrows: the request (URL, headers, body) for the duration of http_do() only.
 *          Response header names and values, the reason phrase and trailers are copied
 *          into the caller's arena `a` and live as long as it does.
 * Errors:  http_do() returns 0 when a response head arrived, whatever its status (3xx
 *          redirects are returned, never followed; 4xx/5xx are the caller's to map), or an
 *          ERR_* code with one sentence in *e that names the host and what to do:
 *            ERR_INVAL    bad URL, method or header (CR/LF in a value), unsupported proxy
 *            ERR_IO       DNS, connect, send or receive failed ("connection refused")
 *            ERR_TLS      handshake or verification failed ("certificate has expired"),
 *                         or the peer closed without close_notify before the body ended
 *            ERR_PROTO    the server broke HTTP/1.1 (bad status line, bad chunk, short body)
 *            ERR_TOOBIG   response head over HTTP_HEAD_BYTES_MAX, over HTTP_HEADERS_MAX
 *                         fields, or body over the request's body_max
 *            ERR_TIMEOUT  the request deadline or the idle timeout passed
 *            ERR_CANCELLED the request's cancel token fired
 *            anything an on_body / body_producer callback returned.
 *          Messages never contain header values, URL queries or userinfo.
 * Waits:   every wait is one poll() on the socket and the cancel descriptor, bounded by
 *          the request deadline and by the idle timeout (no byte moved for that long);
 *          connecting is also bounded by http_config.connect_timeout_ms.
 * Threads: one http_client is shared by any number of threads; the pool and the TLS
 *          session cache are locked inside. A connection serves one request at a time.
 *          A request and its response belong to the calling thread.
 *
 * Connections are reused per origin (scheme, host, port, proxy): a pooled connection
 * idle for longer than pool_idle_ms, or readable while idle (the server closed it), is
 * dropped before reuse. When a reused connection fails before any response byte
 * arrives, an idempotent request with a replayable body is retried once on a new
 * connection. A connection goes back to the pool only when its response was read to
 * the end; stopping early (on_body returning non-zero), errors, timeouts and cancels
 * close it.
 *
 * Proxies (read once, in http_client_new): HTTPS_PROXY/https_proxy for https URLs,
 * HTTP_PROXY/http_proxy for http URLs, NO_PROXY/no_proxy (comma-separated host names,
 * ".domain" or "domain" suffixes, IP addresses, CIDR blocks, optional ":port", or "*").
 * As in Go's net/http, "localhost" and loopback addresses never use a proxy. https goes
 * through a CONNECT tunnel, http uses absolute-form requests; user:password in the
 * proxy URL becomes Proxy-Authorization: Basic. Only http:// proxy URLs are supported.
 *
 * Request heads: Host and User-Agent are added unless the caller's headers carry them
 * (the caller's win); framing is ours: a caller's Content-Length or Transfer-Encoding is
 * dropped, the body gets Content-Length (also "0" for a POST, PUT or PATCH without one)
 * or, with a body_producer, Transfer-Encoding: chunked. No Accept-Encoding is sent and
 * no content coding is undone. Response bodies of HEAD, 204 and 304 are empty; any other
 * response without Content-Length or chunked framing is read to the end of the stream.
 *
 * Logging: request and response heads go to the debug log with credential header values,
 * credential-like query values and every log_add_secret() string redacted; which headers
 * count as credentials, and how a backend adds its own, is in net/http_log.h. Bodies are
 * never logged here.
 *
 * The code: http.c (the pool, sending and reading), http_proxy.c (proxies, NO_PROXY,
 * CONNECT), http_log.c (net/http_log.h), multipart.c (net/multipart.h, included below
 * for the callers that build upload bodies); http_internal.h is private to http*.c.
 */
#ifndef NET_HTTP_H
#define NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/multipart.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "util/err.h"

/* Caps on what a server may make us buffer for one response head (RFC 9110 §5.4 lets
 * us refuse large heads). Trailers share the field cap and get their own byte cap. */
#define HTTP_STATUS_LINE_BYTES_MAX 1024
#define HTTP_HEAD_BYTES_MAX        (64 * 1024)
#define HTTP_HEADERS_MAX           128
#define HTTP_TRAILER_BYTES_MAX     (16 * 1024)
/* Default cap for a body read into http_response.body (request.body_max == 0). */
#define HTTP_BODY_BYTES_MAX_DEFAULT (64 * 1024 * 1024)

/* Defaults for the zero values in struct http_config and struct http_request. */
#define HTTP_POOL_CONNS_DEFAULT         16
#define HTTP_POOL_IDLE_MS_DEFAULT       50000 /* under the common 60 s server keep-alive */
#define HTTP_CONNECT_TIMEOUT_MS_DEFAULT 30000
#define HTTP_IDLE_TIMEOUT_MS_DEFAULT    300000

struct http_header {
	const char *name;
	const char *value;
};

struct http_config {
	const char *ca_file; /* PEM bundle; NULL: SSL_CERT_FILE, SSL_CERT_DIR, system */
	const char *ca_dir;  /* directory of PEM files; NULL: as above */
	bool insecure;       /* skip certificate checks; logs a warning per connection */
	/* Client certificate for servers that ask for one (mutual TLS, e.g. a Kubernetes
	 * API server): a PEM or DER certificate and its unencrypted private key, both or
	 * neither, each from a file or from memory (memory wins; copied by
	 * http_client_new, the key copy is wiped when the client is freed). Loaded at the
	 * first https request, like the CA bundle; errors are ERR_TLS sentences. */
	const char *client_cert_file;
	const char *client_key_file;
	const void *client_cert;
	size_t client_cert_len;
	const void *client_key;
	size_t client_key_len;
	const char *user_agent; /* NULL: "sandbox-mcp" */
	int pool_conns_max;     /* idle connections kept in all; 0: default, -1: no pool */
	int pool_idle_ms;       /* drop pooled connections idle this long; 0: default */
	int connect_timeout_ms; /* per connection (DNS, TCP, TLS, CONNECT); 0: default */
	int idle_timeout_ms;    /* default for requests that leave theirs 0; -1: none */
	/* Proxies. When ignore_proxy_env is false, unset fields come from the
	 * environment as described above; "" means "none" and stops that lookup. */
	bool ignore_proxy_env;
	const char *https_proxy;
	const char *http_proxy;
	const char *no_proxy;
};

/* Produces the next piece of a chunked upload: appends bytes to out (which arrives
 * empty) and returns 0; leaving out empty ends the body. Any non-zero return aborts
 * the request with that code (set *e). */
typedef int (*http_producer_fn)(void *arg, struct buf *out, struct err *e);

/* Receives response body bytes as they arrive (chunked framing removed). Returning
 * non-zero stops the transfer: http_do() closes the connection and returns that code
 * unless it is HTTP_STOP, which makes http_do() return 0 (a deliberate early stop). */
typedef int (*http_body_fn)(void *arg, const char *p, size_t n, struct err *e);
#define HTTP_STOP (-1)

struct http_request {
	const char *method; /* "GET", "POST", ... (upper-case token) */
	const char *url;    /* absolute http:// or https:// URL */
	const struct http_header *headers;
	size_t nheaders;
	/* Body: either body/body_len (sent with Content-Length; body_len 0 with a NULL
	 * body means none), or body_producer (sent chunked, never retried). */
	const void *body;
	size_t body_len;
	http_producer_fn body_producer;
	void *producer_arg;
	int64_t deadline;    /* absolute monotonic ms (util/time.h); 0 or DEADLINE_NONE: none */
	int idle_timeout_ms; /* max silence while sending or receiving; 0: client default, -1: none */
	struct cancel *cancel; /* may be NULL */
	bool idempotent;       /* may be retried once; GET, HEAD, OPTIONS always are */
	size_t body_max;       /* cap on the in-memory body; 0: HTTP_BODY_BYTES_MAX_DEFAULT */
};

struct http_response {
	int status;                  /* 200, 404, ...; never 1xx */
	int minor_version;           /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
	const char *reason;          /* in the arena */
	struct http_header *headers; /* in the arena, in arrival order */
	size_t nheaders;
	struct http_header *trailers; /* chunked trailer fields, in the arena */
	size_t ntrailers;
	struct buf body;        /* the body, unless http_do() was given on_body */
	int64_t content_length; /* from Content-Length, or -1 */
	bool reused;            /* served over a pooled connection */
};

/* Creates a client. Does no I/O: the CA bundle is loaded at the first https request,
 * so plain-http use works where no bundle exists. Fails only on a bad proxy setting. */
struct http_client *http_client_new(const struct http_config *cfg, struct err *e);
void http_client_free(struct http_client *c);

/* Sends rq and reads the response into *rs (initialised here; call http_response_fini
 * even on error). When on_body is non-NULL the body goes to it in pieces and
 * rs->body stays empty; rs->status and rs->headers are already set at its first call.
 * `a` must not be NULL. Returns 0 or an ERR_* code (see the top of this file). */
int http_do(struct http_client *c, const struct http_request *rq, struct http_response *rs,
    http_body_fn on_body, void *arg, struct arena *a, struct err *e);

void http_response_fini(struct http_response *rs);

/* First header named `name` (case-insensitive), or NULL. Trailers are not searched. */
const char *http_response_header(const struct http_response *rs, const char *name);

/* True when the comma-separated header value contains `token` (case-insensitive),
 * e.g. http_header_has_token("keep-alive, Upgrade", "upgrade"). */
bool http_header_has_token(const char *value, const char *token);

/* A short single-line excerpt of a (error) body for a sentence: up to the first line end
 * or 200 bytes, cut at a UTF-8 boundary, control bytes as spaces; "" when empty. */
const char *http_body_excerpt(const char *body, size_t len, struct arena *a);

/* The size after '/' in a Content-Range value ("bytes a-b/SIZE", "bytes * /SIZE"), or -1. */
int64_t http_content_range_size(const char *value);

/* Closes every pooled connection (for tests and before fork). */
void http_client_flush(struct http_client *c);

#endif
