/*
 * http_internal.h -- private to http.c and http_proxy.c (mbedTLS's *_internal.h manner):
 * the client, its pooled connections, its proxies and the state of one http_do() call,
 * and the proxy functions http.c calls. Nothing outside src/net/http*.c includes it;
 * the public contract is net/http.h.
 *
 * Owns:    nothing of its own; struct http_client owns its proxies (http_proxy_free) and
 *          pooled connections, struct http_req lives on http_do()'s stack.
 * Errors:  as net/http.h: ERR_* codes with one sentence that never holds userinfo.
 * Threads: struct http_client's pool is guarded by its lock; a struct http_req and the
 *          connection it uses belong to the thread in http_do().
 */
#ifndef NET_HTTP_INTERNAL_H
#define NET_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/http.h"
#include "net/url.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

struct http_conn {
	struct http_conn *next; /* in the pool */
	int fd;
	struct tls_conn *tls;
	char *key; /* origin (+ proxy) it serves */
	int64_t idle_since;
	struct buf in; /* bytes read: in.p[off..len) are unread */
	size_t off;
};

struct http_proxy {
	char *host;
	int port;
	bool ipv6;
	char *auth;      /* "Basic ..." or NULL */
	const char *var; /* "HTTPS_PROXY", for messages */
};

struct http_client {
	char *user_agent;
	int pool_max; /* -1: no pool */
	int pool_idle_ms;
	int connect_timeout_ms;
	int idle_timeout_ms; /* -1: none */
	struct tls_ctx *tls;
	struct http_proxy *https_proxy, *http_proxy;
	char *no_proxy;
	pthread_mutex_t lock;   /* the pool */
	struct http_conn *idle; /* most recently used first */
	int nidle;
};

/* One http_do() call. */
struct http_req {
	struct http_client *c;
	const struct http_request *rq;
	struct http_response *rs;
	http_body_fn on_body;
	void *arg;
	struct arena *a;
	struct url u;
	const struct http_proxy *proxy;
	char *key;
	char *what;       /* "GET https://host/path" for messages */
	int64_t deadline; /* DEADLINE_NONE for none */
	int idle_ms;      /* -1: none */
	bool head_req;
	bool retryable;
	bool got_bytes; /* some response byte arrived on this attempt */
	bool stopped;   /* on_body stopped the transfer */
	size_t body_max;
	struct buf head; /* the request head */
};

/* ---- http_proxy.c ----------------------------------------------------------------- */

void http_proxy_free(struct http_proxy *p);

/* Parses a proxy URL ("http://user:pw@host:port", scheme optional) from the setting
 * named var; *out stays NULL for "". Userinfo becomes the Proxy-Authorization value and
 * is registered with log_add_secret(). ERR_INVAL for a non-http scheme or a bad URL. */
int http_proxy_parse(const char *s, const char *var, struct http_proxy **out, struct err *e);

/* The upper-case environment variable, else the lower-case one, else NULL. */
const char *http_env2(const char *upper, const char *lower);

/* True when host:port bypasses the proxies: loopback, or a match in c->no_proxy. */
bool http_no_proxy(const struct http_client *c, const char *host, int port);

/* Opens a CONNECT tunnel to r's origin through r->proxy on k->fd by deadline dl;
 * k->in is empty afterwards. ERR_IO when the proxy refuses or closes, ERR_PROTO when it
 * sends data after the 2xx. */
int http_connect_tunnel(struct http_req *r, struct http_conn *k, int64_t dl, struct err *e);

#endif
