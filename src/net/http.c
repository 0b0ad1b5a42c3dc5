/*
 * http.c -- HTTP/1.1 client over net/sock and net/tls (contract in http.h): connections
 * and the pool, sending a request, reading a response, http_do. Proxies are in
 * http_proxy.c, head logging in http_log.c, multipart bodies in multipart.c; the structs
 * they share are in http_internal.h. At about 1,080 lines it passes the 1,000-line mark
 * of STYLE.md B11: the response framing rules (RFC 9112 §6.3), the retry rule and the
 * pool share the per-request state (struct http_req) and the connection's read buffer,
 * and splitting them further would only spread that state over more files.
 */
#include "net/http.h"
#include "net/http_internal.h"
#include "net/http_log.h"
#include "net/http_parse.h"
#include "net/sock.h"
#include "net/tls.h"
#include "net/url.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HTTP_READ_CHUNK    (64 * 1024) /* one read; also what a head read may overshoot */
#define HTTP_WRITE_PIECE   (64 * 1024) /* one write, so the idle timeout sees progress */
#define HTTP_COALESCE_MAX  (16 * 1024) /* a body this small goes out with the head */
#define HTTP_IN_MAX        (HTTP_HEAD_BYTES_MAX + HTTP_READ_CHUNK)
#define HTTP_WHAT_PATH_MAX 64 /* path bytes quoted in messages */
#define HTTP_METHOD_MAX    32

/* ---- small helpers ------------------------------------------------------------ */

static bool
http_is_tchar(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
http_token_ok(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		if (i >= max || !http_is_tchar((unsigned char)s[i]))
			return false;
	}
	return i > 0;
}

bool
http_header_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);
	const char *p = value;

	if (value == NULL)
		return false;
	while (*p) {
		const char *end = strchr(p, ',');
		struct str s = { p, end ? (size_t)(end - p) : strlen(p) };

		s = str_trim(s);
		if (s.len == tl && strncasecmp(s.p, token, tl) == 0)
			return true;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

const char *
http_response_header(const struct http_response *rs, const char *name)
{
	size_t i;

	for (i = 0; i < rs->nheaders; i++) {
		if (strcasecmp(rs->headers[i].name, name) == 0)
			return rs->headers[i].value;
	}
	return NULL;
}

void
http_response_fini(struct http_response *rs)
{
	if (rs != NULL)
		buf_fini(&rs->body);
}

/* "64 MiB", "16 KiB" or "1000 bytes". */
static void
http_size_str(size_t n, char *out, size_t outlen)
{
	if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
		snprintf(out, outlen, "%zu MiB", n / (1024 * 1024));
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(out, outlen, "%zu KiB", n / 1024);
	else
		snprintf(out, outlen, "%zu bytes", n);
}

/* ---- connections and the pool --------------------------------------------------- */

static void
http_conn_close(struct http_conn *k)
{
	if (k == NULL)
		return;
	tls_conn_free(k->tls);
	if (k->fd >= 0)
		close(k->fd);
	buf_fini(&k->in);
	free(k->key);
	free(k);
}

static size_t
http_in_avail(const struct http_conn *k)
{
	return k->in.len - k->off;
}

static const char *
http_in_ptr(const struct http_conn *k)
{
	return k->in.p + k->off;
}

static void
http_in_consume(struct http_conn *k, size_t n)
{
	k->off += n;
	if (k->off == k->in.len)
		k->off = k->in.len = 0;
}

static bool
http_conn_alive(struct http_conn *k)
{
	if (http_in_avail(k) > 0)
		return false; /* bytes nobody asked for */
	return k->tls ? tls_idle_alive(k->tls) : sock_idle_alive(k->fd);
}

/* Takes an idle connection for key out of the pool, dropping the expired and dead. */
static struct http_conn *
http_pool_get(struct http_client *c, const char *key)
{
	struct http_conn *k, **pp, *dead = NULL, *found = NULL;
	int64_t now = time_mono_ms();

	for (;;) {
		pthread_mutex_lock(&c->lock);
		for (pp = &c->idle; (k = *pp) != NULL;) {
			if (now - k->idle_since > c->pool_idle_ms) {
				*pp = k->next;
				c->nidle--;
				k->next = dead;
				dead = k;
				continue;
			}
			if (found == NULL && strcmp(k->key, key) == 0) {
				*pp = k->next;
				c->nidle--;
				found = k;
				continue;
			}
			pp = &k->next;
		}
		pthread_mutex_unlock(&c->lock);
		while (dead != NULL) {
			k = dead->next;
			http_conn_close(dead);
			dead = k;
		}
		if (found == NULL || http_conn_alive(found))
			return found;
		log_msg(LOG_DEBUG, "http",
		    "%s: dropping a pooled connection the server "
		    "closed",
		    key);
		http_conn_close(found);
		found = NULL;
	}
}

static void
http_pool_put(struct http_client *c, struct http_conn *k)
{
	struct http_conn *old = NULL, **pp;

	if (c->pool_max <= 0) {
		http_conn_close(k);
		return;
	}
	k->idle_since = time_mono_ms();
	k->off = k->in.len = 0;
	pthread_mutex_lock(&c->lock);
	k->next = c->idle;
	c->idle = k;
	if (++c->nidle > c->pool_max) {
		for (pp = &c->idle; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		old = *pp;
		*pp = NULL;
		c->nidle--;
	}
	pthread_mutex_unlock(&c->lock);
	http_conn_close(old);
}

void
http_client_flush(struct http_client *c)
{
	struct http_conn *k, *next;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	k = c->idle;
	c->idle = NULL;
	c->nidle = 0;
	pthread_mutex_unlock(&c->lock);
	for (; k != NULL; k = next) {
		next = k->next;
		http_conn_close(k);
	}
}

/* ---- the client ---------------------------------------------------------------------- */

struct http_client *
http_client_new(const struct http_config *cfg, struct err *e)
{
	static const struct http_config zero;
	struct http_client *c;
	struct tls_options to = { 0 };
	const char *hp, *p, *np;

	if (cfg == NULL)
		cfg = &zero;
	c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->user_agent = xstrdup(cfg->user_agent ? cfg->user_agent : "sandbox-mcp");
	c->pool_max = cfg->pool_conns_max == 0 ? HTTP_POOL_CONNS_DEFAULT
	    : cfg->pool_conns_max < 0          ? -1
	                                       : cfg->pool_conns_max;
	c->pool_idle_ms = cfg->pool_idle_ms > 0 ? cfg->pool_idle_ms : HTTP_POOL_IDLE_MS_DEFAULT;
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms
	                                                    : HTTP_CONNECT_TIMEOUT_MS_DEFAULT;
	c->idle_timeout_ms = cfg->idle_timeout_ms == 0 ? HTTP_IDLE_TIMEOUT_MS_DEFAULT
	    : cfg->idle_timeout_ms < 0                 ? -1
	                                               : cfg->idle_timeout_ms;
	to.ca_file = cfg->ca_file;
	to.ca_dir = cfg->ca_dir;
	to.insecure = cfg->insecure;
	to.client_cert_file = cfg->client_cert_file;
	to.client_key_file = cfg->client_key_file;
	to.client_cert = cfg->client_cert;
	to.client_cert_len = cfg->client_cert_len;
	to.client_key = cfg->client_key;
	to.client_key_len = cfg->client_key_len;
	c->tls = tls_ctx_new(&to);
	hp = cfg->https_proxy;
	p = cfg->http_proxy;
	np = cfg->no_proxy;
	if (!cfg->ignore_proxy_env) {
		if (hp == NULL)
			hp = http_env2("HTTPS_PROXY", "https_proxy");
		if (p == NULL)
			p = http_env2("HTTP_PROXY", "http_proxy");
		if (np == NULL)
			np = http_env2("NO_PROXY", "no_proxy");
	}
	if ((hp != NULL && http_proxy_parse(hp, "HTTPS_PROXY", &c->https_proxy, e) != 0) ||
	    (p != NULL && http_proxy_parse(p, "HTTP_PROXY", &c->http_proxy, e) != 0)) {
		http_client_free(c);
		return NULL;
	}
	c->no_proxy = np != NULL && np[0] ? xstrdup(np) : NULL;
	return c;
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	http_client_flush(c);
	tls_ctx_free(c->tls);
	http_proxy_free(c->https_proxy);
	http_proxy_free(c->http_proxy);
	free(c->no_proxy);
	free(c->user_agent);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- I/O with the request's deadline, idle timeout and cancel token -------------------- */

static int64_t
http_io_deadline(const struct http_req *r)
{
	if (r->idle_ms < 0)
		return r->deadline;
	return deadline_min(r->deadline, deadline_in_ms(r->idle_ms));
}

/* Turns a bare sock/tls error into the request's sentence. */
static int
http_io_err(struct http_req *r, int rc, const struct err *we, const char *doing, struct err *e)
{
	if (rc == ERR_TIMEOUT && deadline_passed(r->deadline))
		return err_set(e, ERR_TIMEOUT,
		    "%s: timed out while %s (the request's deadline passed; see --timeout-s)",
		    r->what, doing);
	if (rc == ERR_TIMEOUT)
		return err_set(e, ERR_TIMEOUT,
		    "%s: nothing moved for %d s while %s (idle "
		    "timeout): the server may be stuck",
		    r->what, (r->idle_ms + 999) / 1000, doing);
	if (rc == ERR_CANCELLED)
		return err_set(e, ERR_CANCELLED, "%s: cancelled", r->what);
	return err_set(e, rc, "%s: %s: %s", r->what, doing, we->msg);
}

/* Reads more bytes into k->in (compacting it first); *got 0 at the end of stream. */
static int
http_fill(struct http_req *r, struct http_conn *k, size_t *got, const char *doing, struct err *e)
{
	struct err we = { 0 };
	size_t room;
	int rc;

	if (k->off > 0) {
		memmove(k->in.p, k->in.p + k->off, k->in.len - k->off);
		k->in.len -= k->off;
		k->off = 0;
	}
	room = k->in.max - k->in.len;
	if (room > HTTP_READ_CHUNK)
		room = HTTP_READ_CHUNK;
	if (room == 0 || buf_reserve(&k->in, room, &we) != 0)
		return err_set(e, ERR_TOOBIG,
		    "%s: the response does not fit in the read "
		    "buffer",
		    r->what);
	if (k->tls != NULL)
		rc = tls_read(k->tls, k->in.p + k->in.len, room, got, http_io_deadline(r),
		    r->rq->cancel, &we);
	else
		rc = sock_read(k->fd, k->in.p + k->in.len, room, got, http_io_deadline(r),
		    r->rq->cancel, &we);
	if (rc != 0)
		return http_io_err(r, rc, &we, doing, e);
	k->in.len += *got;
	k->in.p[k->in.len] = '\0';
	if (*got > 0)
		r->got_bytes = true;
	return 0;
}

static int
http_write(struct http_req *r, struct http_conn *k, const void *p, size_t n, struct err *e)
{
	const char *c = p;
	struct err we = { 0 };
	int rc;

	while (n > 0) {
		size_t piece = n < HTTP_WRITE_PIECE ? n : HTTP_WRITE_PIECE;

		if (k->tls != NULL)
			rc = tls_write_all(k->tls, c, piece, http_io_deadline(r), r->rq->cancel,
			    &we);
		else
			rc = sock_write_all(k->fd, c, piece, http_io_deadline(r), r->rq->cancel,
			    &we);
		if (rc != 0)
			return http_io_err(r, rc, &we, "sending the request", e);
		c += piece;
		n -= piece;
	}
	return 0;
}

/* ---- connecting ------------------------------------------------------------------------ */

static int
http_conn_open(struct http_req *r, struct http_conn **out, struct err *e)
{
	struct http_client *c = r->c;
	const struct http_proxy *px = r->proxy;
	int64_t dl = deadline_min(r->deadline, deadline_in_ms(c->connect_timeout_ms));
	struct http_conn *k;
	struct err we = { 0 };
	bool https = strcmp(r->u.scheme, "https") == 0;
	int fd, rc;

	*out = NULL;
	rc = sock_connect(px ? px->host : r->u.host, px ? px->port : r->u.port, dl, r->rq->cancel,
	    &fd, &we);
	if (rc != 0) {
		if (rc == ERR_CANCELLED)
			return err_set(e, rc, "%s: cancelled", r->what);
		return err_set(e, rc, "%s: %s%s", r->what, px ? "proxy: " : "", we.msg);
	}
	k = xcalloc(1, sizeof(*k));
	k->fd = fd;
	k->key = xstrdup(r->key);
	buf_init(&k->in, HTTP_IN_MAX);
	if (px != NULL && https) {
		rc = http_connect_tunnel(r, k, dl, e);
		if (rc != 0)
			goto out;
	}
	if (https) {
		rc = tls_conn_new(c->tls, fd, r->u.host, r->u.port, dl, r->rq->cancel, &k->tls,
		    &we);
		if (rc != 0) {
			if (rc == ERR_CANCELLED)
				err_set(e, rc, "%s: cancelled", r->what);
			else if (rc == ERR_TIMEOUT)
				err_set(e, rc,
				    "%s: %s: check the host and port, or raise the "
				    "timeout",
				    r->what, we.msg);
			else
				err_set(e, rc, "%s: %s", r->what, we.msg);
			goto out;
		}
	}
	*out = k;
	return 0;
out:
	http_conn_close(k);
	return rc;
}

/* ---- sending ------------------------------------------------------------------------------ */

static bool
http_caller_has(const struct http_request *rq, const char *name)
{
	size_t i;

	for (i = 0; i < rq->nheaders; i++) {
		if (strcasecmp(rq->headers[i].name, name) == 0)
			return true;
	}
	return false;
}

/* Builds the request head into r->head; checks the caller's method and headers. */
static int
http_build_head(struct http_req *r, struct err *e)
{
	const struct http_request *rq = r->rq;
	const char *target, *hosth;
	bool has_body = rq->body != NULL || rq->body_len > 0;
	size_t i;
	int rc = 0;

	if (r->proxy != NULL && strcmp(r->u.scheme, "http") == 0)
		target = url_format(&r->u, r->a); /* absolute-form (RFC 9112 §3.2.2) */
	else
		target = url_request_target(&r->u, r->a);
	hosth = url_host_header(&r->u, r->a);
	if (target == NULL || hosth == NULL)
		return err_set(e, ERR_TOOBIG, "%s: the URL does not fit in the request memory",
		    r->what);
	buf_init(&r->head, 0);
	rc = buf_printf(&r->head, e, "%s %s HTTP/1.1\r\n", rq->method, target);
	if (rc == 0 && !http_caller_has(rq, "Host"))
		rc = buf_printf(&r->head, e, "Host: %s\r\n", hosth);
	if (rc == 0 && !http_caller_has(rq, "User-Agent"))
		rc = buf_printf(&r->head, e, "User-Agent: %s\r\n", r->c->user_agent);
	for (i = 0; rc == 0 && i < rq->nheaders; i++) {
		const struct http_header *h = &rq->headers[i];

		/* Framing is ours: a caller's length could only contradict the body. */
		if (strcasecmp(h->name, "Content-Length") == 0 ||
		    strcasecmp(h->name, "Transfer-Encoding") == 0)
			continue;
		rc = buf_printf(&r->head, e, "%s: %s\r\n", h->name, h->value);
	}
	if (rc == 0 && rq->body_producer != NULL)
		rc = buf_puts(&r->head, "Transfer-Encoding: chunked\r\n", e);
	else if (rc == 0 &&
	    (has_body || strcmp(rq->method, "POST") == 0 || strcmp(rq->method, "PUT") == 0 ||
	        strcmp(rq->method, "PATCH") == 0))
		rc = buf_printf(&r->head, e, "Content-Length: %zu\r\n", rq->body_len);
	if (rc == 0 && r->proxy != NULL && r->proxy->auth != NULL &&
	    strcmp(r->u.scheme, "http") == 0)
		rc = buf_printf(&r->head, e, "Proxy-Authorization: %s\r\n", r->proxy->auth);
	if (rc == 0 && r->c->pool_max <= 0 && !http_caller_has(rq, "Connection"))
		rc = buf_puts(&r->head, "Connection: close\r\n", e);
	if (rc == 0)
		rc = buf_puts(&r->head, "\r\n", e);
	return rc;
}

static int
http_send_chunked(struct http_req *r, struct http_conn *k, struct err *e)
{
	struct buf piece, frame;
	char hdr[32];
	int rc;

	buf_init(&piece, 0);
	buf_init(&frame, 0);
	for (;;) {
		buf_reset(&piece);
		rc = r->rq->body_producer(r->rq->producer_arg, &piece, e);
		if (rc != 0) {
			err_set(e, rc, "%s: the request body producer failed", r->what);
			break;
		}
		buf_reset(&frame);
		if (piece.len == 0) {
			rc = buf_puts(&frame, "0\r\n\r\n", e);
		} else {
			snprintf(hdr, sizeof(hdr), "%zx\r\n", piece.len);
			rc = buf_reserve(&frame, strlen(hdr) + piece.len + 2, e);
			if (rc == 0)
				rc = buf_puts(&frame, hdr, e);
			if (rc == 0)
				rc = buf_append(&frame, piece.p, piece.len, e);
			if (rc == 0)
				rc = buf_puts(&frame, "\r\n", e);
		}
		if (rc == 0)
			rc = http_write(r, k, frame.p, frame.len, e);
		if (rc || piece.len == 0)
			break;
	}
	buf_fini(&piece);
	buf_fini(&frame);
	return rc;
}

static int
http_send(struct http_req *r, struct http_conn *k, struct err *e)
{
	const struct http_request *rq = r->rq;
	struct buf one;
	int rc;

	if (rq->body_producer != NULL) {
		rc = http_write(r, k, r->head.p, r->head.len, e);
		return rc != 0 ? rc : http_send_chunked(r, k, e);
	}
	if (rq->body_len > 0 && rq->body_len <= HTTP_COALESCE_MAX) {
		buf_init(&one, 0);
		rc = buf_reserve(&one, r->head.len + rq->body_len, e);
		if (rc == 0)
			rc = buf_append(&one, r->head.p, r->head.len, e);
		if (rc == 0)
			rc = buf_append(&one, rq->body, rq->body_len, e);
		if (rc == 0)
			rc = http_write(r, k, one.p, one.len, e);
		buf_fini(&one);
		return rc;
	}
	rc = http_write(r, k, r->head.p, r->head.len, e);
	if (rc == 0 && rq->body_len > 0)
		rc = http_write(r, k, rq->body, rq->body_len, e);
	return rc;
}

/* ---- reading the response ------------------------------------------------------------------ */

/* Reads and parses one response head; leaves the body bytes in k->in. */
static int
http_read_head(struct http_req *r, struct http_conn *k, struct http_head *h,
    struct http_field *fields, struct err *e)
{
	struct err pe = { 0 };
	ssize_t n;
	size_t got;
	int rc;

	for (;;) {
		if (http_in_avail(k) > 0) {
			h->fields = fields;
			h->nfields = HTTP_HEADERS_MAX;
			n = http_parse_response(k->in.p + k->off, http_in_avail(k), h, &pe);
			if (n > 0) {
				http_log_head("<", http_in_ptr(k), (size_t)n);
				http_in_consume(k, (size_t)n);
				return 0;
			}
			if (n == HTTP_PARSE_ERR)
				return err_set(e, pe.code, "%s: the server sent %s", r->what,
				    pe.msg);
		}
		rc = http_fill(r, k, &got, "waiting for the response", e);
		if (rc != 0)
			return rc;
		if (got == 0) {
			if (http_in_avail(k) == 0)
				return err_set(e, ERR_IO,
				    "%s: the server closed the connection "
				    "without answering",
				    r->what);
			return err_set(e, ERR_PROTO,
			    "%s: the server closed the connection in "
			    "the middle of the response head",
			    r->what);
		}
	}
}

static int
http_copy_fields(struct http_req *r, const struct http_field *f, size_t n, struct http_header **out,
    size_t *nout, struct err *e)
{
	struct http_header *hs = NULL;
	size_t i;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return 0;
	hs = arena_alloc(r->a, n * sizeof(*hs));
	if (hs == NULL)
		goto full;
	for (i = 0; i < n; i++) {
		hs[i].name = arena_strndup(r->a, f[i].name.p, f[i].name.len);
		hs[i].value = arena_strndup(r->a, f[i].value.p, f[i].value.len);
		if (hs[i].name == NULL || hs[i].value == NULL)
			goto full;
	}
	*out = hs;
	*nout = n;
	return 0;
full:
	return err_set(e, ERR_TOOBIG,
	    "%s: the response headers do not fit in the request "
	    "memory",
	    r->what);
}

static int
http_deliver(struct http_req *r, const char *p, size_t n, struct err *e)
{
	char sz[32];
	int rc;

	if (n == 0)
		return 0;
	if (r->on_body != NULL) {
		rc = r->on_body(r->arg, p, n, e);
		if (rc != 0) {
			r->stopped = true;
			if (rc != HTTP_STOP)
				err_set(e, rc, "%s: the response body handler stopped", r->what);
		}
		return rc;
	}
	if (n > r->body_max - r->rs->body.len) {
		http_size_str(r->body_max, sz, sizeof(sz));
		return err_set(e, ERR_TOOBIG, "%s: the response body is over %s", r->what, sz);
	}
	return buf_append(&r->rs->body, p, n, e);
}

/* The end of stream came before the body did. */
static int
http_short_body(struct http_req *r, struct http_conn *k, const char *what_got, struct err *e)
{
	if (k->tls != NULL && !tls_conn_eof_clean(k->tls))
		return err_set(e, ERR_TLS,
		    "%s: the server closed the TLS connection without "
		    "close_notify %s: the body is truncated",
		    r->what, what_got);
	return err_set(e, ERR_PROTO,
	    "%s: the server closed the connection %s: the body is "
	    "truncated",
	    r->what, what_got);
}

static int
http_body_length(struct http_req *r, struct http_conn *k, uint64_t left, struct err *e)
{
	uint64_t total = left;
	size_t n, got;
	char what[96];
	int rc;

	for (;;) {
		n = http_in_avail(k);
		if ((uint64_t)n > left)
			n = (size_t)left;
		rc = http_deliver(r, http_in_ptr(k), n, e);
		if (rc != 0)
			return rc;
		http_in_consume(k, n);
		left -= n;
		if (left == 0)
			return 0;
		rc = http_fill(r, k, &got, "reading the response body", e);
		if (rc != 0)
			return rc;
		if (got == 0) {
			snprintf(what, sizeof(what), "after %llu of %llu body bytes",
			    (unsigned long long)(total - left), (unsigned long long)total);
			return http_short_body(r, k, what, e);
		}
	}
}

static int
http_body_close(struct http_req *r, struct http_conn *k, struct err *e)
{
	size_t got;
	int rc;

	for (;;) {
		rc = http_deliver(r, http_in_ptr(k), http_in_avail(k), e);
		if (rc != 0)
			return rc;
		http_in_consume(k, http_in_avail(k));
		rc = http_fill(r, k, &got, "reading the response body", e);
		if (rc != 0)
			return rc;
		if (got == 0)
			break;
	}
	/* Only close_notify tells a complete body from a cut one over TLS. */
	if (k->tls != NULL && !tls_conn_eof_clean(k->tls))
		return http_short_body(r, k, "at the end of a body without a length", e);
	return 0;
}

static int
http_body_chunked(struct http_req *r, struct http_conn *k, bool *clean_end, struct err *e)
{
	struct http_field tf[HTTP_HEADERS_MAX];
	struct http_chunked d = { 0 };
	struct err pe = { 0 };
	struct str data;
	size_t ntf, got;
	ssize_t n;
	int rc;

	*clean_end = true;
	for (;;) {
		while (http_in_avail(k) > 0 && !http_chunked_in_trailers(&d)) {
			n = http_chunked_decode(&d, http_in_ptr(k), http_in_avail(k), &data, &pe);
			if (n < 0)
				return err_set(e, pe.code, "%s: the server sent %s", r->what,
				    pe.msg);
			rc = http_deliver(r, data.p, data.len, e);
			if (rc != 0)
				return rc;
			http_in_consume(k, (size_t)n);
		}
		if (http_chunked_in_trailers(&d) && http_in_avail(k) > 0) {
			ntf = HTTP_HEADERS_MAX;
			n = http_parse_fields(k->in.p + k->off, http_in_avail(k), tf, &ntf,
			    HTTP_TRAILER_BYTES_MAX, &pe);
			if (n == HTTP_PARSE_ERR)
				return err_set(e, pe.code, "%s: the server sent %s", r->what,
				    pe.msg);
			if (n > 0) {
				rc = http_copy_fields(r, tf, ntf, &r->rs->trailers,
				    &r->rs->ntrailers, e);
				if (rc != 0)
					return rc;
				http_in_consume(k, (size_t)n);
				http_chunked_end(&d);
				return 0;
			}
		}
		rc = http_fill(r, k, &got, "reading the response body", e);
		if (rc != 0)
			return rc;
		if (got == 0) {
			/* Lenient: the last chunk came but not the CRLF that ends the
			 * (empty) trailer section. The body is whole; the connection is not. */
			if (http_chunked_in_trailers(&d) && http_in_avail(k) == 0) {
				*clean_end = false;
				return 0;
			}
			return http_short_body(r, k, "in the middle of a chunked body", e);
		}
	}
}

/* Content-Length, checked as RFC 9110 §8.6 and RFC 9112 §6.3 say. -1 when absent. */
static int
http_content_length(struct http_req *r, const struct http_response *rs, int64_t *out, struct err *e)
{
	int64_t v = -1, x;
	size_t i;

	for (i = 0; i < rs->nheaders; i++) {
		const char *p;

		if (strcasecmp(rs->headers[i].name, "Content-Length") != 0)
			continue;
		/* "42, 42" is one value repeated, which a recipient may accept. */
		for (p = rs->headers[i].value;;) {
			const char *end = strchr(p, ',');
			struct str s = { p, end ? (size_t)(end - p) : strlen(p) };
			size_t j;

			s = str_trim(s);
			for (j = 0; j < s.len; j++) {
				if (!isdigit((unsigned char)s.p[j]))
					break;
			}
			if (s.len == 0 || j != s.len || !str_to_i64(s, &x) || x < 0 ||
			    (v >= 0 && x != v))
				return err_set(e, ERR_PROTO,
				    "%s: the server sent an invalid "
				    "Content-Length",
				    r->what);
			v = x;
			if (end == NULL)
				break;
			p = end + 1;
		}
	}
	*out = v;
	return 0;
}

/* Reads the body as the head says; *keep tells whether the connection can be reused. */
static int
http_read_body(struct http_req *r, struct http_conn *k, int minor, bool *keep, struct err *e)
{
	struct http_response *rs = r->rs;
	const char *conn = NULL, *te = NULL;
	bool chunked = false, clean = true;
	size_t i;
	int rc;

	rc = http_content_length(r, rs, &rs->content_length, e);
	if (rc != 0)
		return rc;
	for (i = 0; i < rs->nheaders; i++) {
		const char *n = rs->headers[i].name;

		if (strcasecmp(n, "Connection") == 0 &&
		    http_header_has_token(rs->headers[i].value, "close"))
			conn = "close";
		else if (strcasecmp(n, "Connection") == 0 &&
		    http_header_has_token(rs->headers[i].value, "keep-alive") && conn == NULL)
			conn = "keep-alive";
		else if (strcasecmp(n, "Transfer-Encoding") == 0)
			te = rs->headers[i].value; /* the last one ends the list */
	}
	*keep = minor >= 1 ? conn == NULL || strcmp(conn, "close") != 0
	                   : conn != NULL && strcmp(conn, "keep-alive") == 0;
	if (r->head_req || rs->status == 204 || rs->status == 304)
		return 0;
	if (te != NULL) {
		const char *last = strrchr(te, ',');
		struct str s = str_trim(str_from(last ? last + 1 : te));

		chunked = str_ieq(s, "chunked");
		/* With both, Transfer-Encoding wins and the connection is suspect. */
		if (rs->content_length >= 0)
			*keep = false;
	}
	if (chunked) {
		rc = http_body_chunked(r, k, &clean, e);
		if (!clean)
			*keep = false;
	} else if (te == NULL && rs->content_length >= 0) {
		rc = http_body_length(r, k, (uint64_t)rs->content_length, e);
	} else {
		*keep = false;
		rc = http_body_close(r, k, e);
	}
	return rc;
}

/* One attempt on one connection: send, skip 1xx, read head and body. */
static int
http_exchange(struct http_req *r, struct http_conn *k, bool *keep, struct err *e)
{
	struct http_field fields[HTTP_HEADERS_MAX];
	struct http_response *rs = r->rs;
	struct http_head h;
	int rc;

	rc = http_send(r, k, e);
	if (rc != 0)
		return rc;
	for (;;) {
		rc = http_read_head(r, k, &h, fields, e);
		if (rc != 0)
			return rc;
		if (h.status >= 200)
			break;
		if (h.status == 101)
			return err_set(e, ERR_PROTO,
			    "%s: the server switched protocols (101) "
			    "without being asked",
			    r->what);
		/* 100 Continue, 102, 103 Early Hints: informational, skipped. */
	}
	rs->status = h.status;
	rs->minor_version = h.minor_version;
	rs->reason = arena_strndup(r->a, h.reason.p, h.reason.len);
	if (rs->reason == NULL)
		return err_set(e, ERR_TOOBIG,
		    "%s: the response does not fit in the request "
		    "memory",
		    r->what);
	rc = http_copy_fields(r, fields, h.nfields, &rs->headers, &rs->nheaders, e);
	if (rc != 0)
		return rc;
	rc = http_read_body(r, k, h.minor_version, keep, e);
	if (rc == 0 && http_in_avail(k) > 0)
		*keep = false; /* bytes after the response: not a clean stream */
	return rc;
}

/* ---- http_do ------------------------------------------------------------------------------------ */

static int
http_check_request(const struct http_request *rq, struct err *e)
{
	size_t i, j;

	if (rq->method == NULL || !http_token_ok(rq->method, HTTP_METHOD_MAX))
		return err_set(e, ERR_INVAL, "HTTP method is not a valid token");
	if (rq->url == NULL)
		return err_set(e, ERR_INVAL, "HTTP request has no URL");
	if (rq->body_producer != NULL && rq->body_len > 0)
		return err_set(e, ERR_INVAL, "HTTP request has both a body and a body producer");
	for (i = 0; i < rq->nheaders; i++) {
		const struct http_header *h = &rq->headers[i];

		if (h->name == NULL || !http_token_ok(h->name, 256))
			return err_set(e, ERR_INVAL,
			    "HTTP header name \"%.32s\" is not a valid "
			    "token",
			    h->name ? h->name : "(null)");
		if (h->value == NULL)
			return err_set(e, ERR_INVAL, "HTTP header %s has no value", h->name);
		for (j = 0; h->value[j]; j++) {
			unsigned char c = (unsigned char)h->value[j];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return err_set(e, ERR_INVAL,
				    "HTTP header %s has a control "
				    "character (CR, LF, ...) in its value",
				    h->name);
		}
	}
	return 0;
}

static int
http_prepare(struct http_req *r, struct err *e)
{
	const struct http_request *rq = r->rq;
	struct http_client *c = r->c;
	const char *m = rq->method, *hh;
	struct err ue = { 0 };
	size_t pl;
	int rc;

	rc = http_check_request(rq, e);
	if (rc != 0)
		return rc;
	rc = url_parse(rq->url, &r->u, r->a, &ue);
	if (rc != 0)
		return err_set(e, rc, "%s %s", m, ue.msg);
	/* Messages name the origin and the start of the path, never the query. */
	pl = strlen(r->u.path);
	hh = url_host_header(&r->u, r->a);
	r->what = arena_printf(r->a, "%s %s://%s%.*s%s", m, r->u.scheme, hh ? hh : r->u.host,
	    (int)(pl > HTTP_WHAT_PATH_MAX ? HTTP_WHAT_PATH_MAX : pl), r->u.path,
	    pl > HTTP_WHAT_PATH_MAX ? "..." : "");
	if (r->what == NULL)
		return err_set(e, ERR_TOOBIG, "%s %s: out of request memory", m, r->u.host);
	if (!http_no_proxy(c, r->u.host, r->u.port))
		r->proxy = strcmp(r->u.scheme, "https") == 0 ? c->https_proxy : c->http_proxy;
	r->key = r->proxy ? arena_printf(r->a, "%s://%s|%s:%d", r->u.scheme,
	                        url_hostport(&r->u, r->a), r->proxy->host, r->proxy->port)
	                  : arena_printf(r->a, "%s://%s", r->u.scheme, url_hostport(&r->u, r->a));
	if (r->key == NULL)
		return err_set(e, ERR_TOOBIG, "%s: out of request memory", r->what);
	r->deadline = rq->deadline == 0 ? DEADLINE_NONE : rq->deadline;
	r->idle_ms = rq->idle_timeout_ms == 0 ? c->idle_timeout_ms
	    : rq->idle_timeout_ms < 0         ? -1
	                                      : rq->idle_timeout_ms;
	r->head_req = strcmp(m, "HEAD") == 0;
	r->retryable = rq->body_producer == NULL &&
	    (rq->idempotent || strcmp(m, "GET") == 0 || r->head_req || strcmp(m, "OPTIONS") == 0);
	r->body_max = rq->body_max ? rq->body_max : HTTP_BODY_BYTES_MAX_DEFAULT;
	return http_build_head(r, e);
}

int
http_do(struct http_client *c, const struct http_request *rq, struct http_response *rs,
    http_body_fn on_body, void *arg, struct arena *a, struct err *e)
{
	struct http_req r;
	struct http_conn *k = NULL;
	struct err ae;
	bool keep = false;
	int rc, attempt;

	memset(rs, 0, sizeof(*rs));
	rs->content_length = -1;
	memset(&r, 0, sizeof(r));
	r.c = c;
	r.rq = rq;
	r.rs = rs;
	r.on_body = on_body;
	r.arg = arg;
	r.a = a;
	rc = http_prepare(&r, e);
	if (rc != 0)
		goto out;
	http_log_head(">", r.head.p, r.head.len);
	for (attempt = 0; attempt < 2; attempt++) {
		err_clear(&ae);
		if (cancel_fired(rq->cancel)) {
			rc = err_set(e, ERR_CANCELLED, "%s: cancelled", r.what);
			goto out;
		}
		k = attempt == 0 ? http_pool_get(c, r.key) : NULL;
		rs->reused = k != NULL;
		if (k == NULL) {
			rc = http_conn_open(&r, &k, e);
			if (rc != 0)
				goto out;
		}
		r.got_bytes = false;
		keep = false;
		rc = http_exchange(&r, k, &keep, &ae);
		if (rc == 0 || r.stopped)
			break;
		/* A pooled connection the server closed just as we reused it: once more
		 * on a new one, when repeating the request cannot do harm. */
		if (rs->reused && !r.got_bytes && r.retryable &&
		    (rc == ERR_IO || rc == ERR_TLS || rc == ERR_PROTO)) {
			log_msg(LOG_DEBUG, "http",
			    "%s: a reused connection failed (%s); "
			    "retrying on a new one",
			    r.what, ae.msg);
			http_conn_close(k);
			k = NULL;
			continue;
		}
		break;
	}
	if (rc != 0 && !(r.stopped && rc == HTTP_STOP)) {
		if (rs->reused && !r.got_bytes && !r.retryable &&
		    (rc == ERR_IO || rc == ERR_TLS || rc == ERR_PROTO))
			err_prefix(&ae,
			    "(on a reused connection; the request was not repeated "
			    "because it may not be idempotent) ");
		err_set(e, rc, "%s", ae.msg);
		goto out;
	}
	if (r.stopped) {
		rc = 0; /* HTTP_STOP: a deliberate early end */
		keep = false;
	}
	if (keep) {
		http_pool_put(c, k);
		k = NULL;
	}
out:
	http_conn_close(k);
	buf_fini(&r.head);
	return rc;
}

const char *
http_body_excerpt(const char *body, size_t len, struct arena *a)
{
	size_t n = 0;
	char *s;

	while (n < len && n < 200 && body[n] != '\n' && body[n] != '\r')
		n++;
	n = str_utf8_safe_len(body, n);
	s = arena_strndup(a, body, n);
	if (s == NULL)
		return "";
	for (char *q = s; *q; q++)
		if ((unsigned char)*q < 0x20)
			*q = ' ';
	return s;
}

int64_t
http_content_range_size(const char *value)
{
	const char *slash = value != NULL ? strrchr(value, '/') : NULL;
	int64_t n;

	return slash != NULL && str_to_i64(str_trim(str_from(slash + 1)), &n) ? n : -1;
}
