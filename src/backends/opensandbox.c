/*
 * opensandbox.c -- backends/backend.h over Alibaba OpenSandbox: the lifecycle REST API
 * (sandboxes), execd inside each sandbox (commands, code, files, metrics) and the egress
 * sidecar (network policy). BRIEF.md beside the specs is the wire truth; section numbers
 * below ("§3.2") point into it.
 *
 * This file is longer than the house limit because it is one backend against three
 * services that share the request, error and endpoint machinery; the sections are:
 * plumbing (requests, errors, endpoints), lifecycle ops, execd streams (exec, run_code),
 * background commands, files, egress, and the constructor.
 *
 * Choices (also in the report of issue 5):
 *   - The API key goes to the lifecycle server only, never to execd or egress (they run
 *     inside the sandbox, next to untrusted code). The Go SDK copies it into the execd
 *     token in server-proxy mode; we send --access-token instead when one is set.
 *   - Default scheme: https, except for localhost and loopback addresses (the platform's
 *     default domain localhost:8080 is plain http), unless --scheme says otherwise.
 *   - Exit codes come from the final event (§0.5); "-1" (a signal) is reported as "did not
 *     exit". The stream is closed at the final event, so exec never pays the 1 s tail.
 *   - stdin for exec is uploaded to a file that the command opens as fd 0 and unlinks.
 *   - process_list lists the background commands this process started (execd has no list).
 *   - Commands go to execd verbatim, so they run under execd's `bash -c` (sh without bash),
 *     not a login shell as on local and e2b: that is what OpenSandbox's SDKs do, and a
 *     login shell would run /etc/profile, which on Debian-based images resets PATH and
 *     loses the image's ENV PATH (golang, conda, JDK images) and the call's env PATH.
 *   - file_write: the mode travels in the upload's metadata, which execd applies with the
 *     same chmod as /files/permissions; without a mode a new file gets 0644 and an existing
 *     one keeps its mode (stat first, then upload mode 0 = leave it). Mode 0000 cannot be
 *     said to execd (0 means "leave it") and is set with chmod through /command.
 *   - Code contexts: POST /code/context hangs on images without Jupyter (§3.4), so a
 *     POST /code for a context id that cannot exist asks first whether there is one.
 */
#include "backends/opensandbox.h"

#include <ctype.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "json/jsonw.h"
#include "net/http.h"
#include "net/stream.h"
#include "net/url.h"
#include "util/glob.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#define OS_DEFAULT_IMAGE "python:3.11"
#define OS_DEFAULT_TIMEOUT_S 600
#define OS_MIN_TIMEOUT_S 60		/* the server's lower bound (422 below it) */
#define OS_JSON_BODY_MAX (8u << 20)	/* lifecycle and execd JSON answers */
#define OS_ERR_BODY_MAX (64u << 10)	/* what we keep of an error body */
#define OS_EP_TTL_MS (10 * 60 * 1000)	/* as the JS SDK caches endpoints */
#define OS_STATE_POLL_MS 500
#define OS_PING_POLL_MS 200
#define OS_PING_WAIT_MS 30000		/* SDKs wait 30 s for execd */
#define OS_CLEANUP_MS 15000		/* DELETEs sent after a failure or a cancel */
#define OS_KILL_WAIT_MS 3000		/* how long kill waits to see the sandbox gone */
#define OS_STREAM_IDLE_MS 60000		/* transfers: a minute without a byte is dead */
#define OS_EVENTS_IDLE_MS 20000		/* event streams: execd pings every 3 s after init */
#define OS_EVENT_MAX (8u << 20)		/* one execd event (one output line) */
#define OS_SCRATCH_MAX (32u << 20)
#define OS_SCRATCH_RECYCLE (1u << 20)
#define OS_TIMEOUT_GRACE_MS 5000	/* execd kills at `timeout`; we give up this much later */
#define OS_BG_MAX 256			/* background commands remembered for process_list */
#define OS_FILE_LIST_MAX 10000
#define OS_SEARCH_MAX 10000
#define OS_LIST_PAGE_DEFAULT 20
#define OS_LIST_PAGE_MAX 200
#define OS_PROC_WAIT_POLL_MS 250

enum os_svc { OS_LC, OS_EXECD, OS_EGRESS };

/* A resolved endpoint (§2.6): base URL with scheme and path prefix, and the headers to
 * send with every request to it. Heap, owned by the cache; copied out to callers. */
struct os_ep {
	struct os_ep *next;
	char *id;
	int port;
	char *base;
	struct http_header *h;
	size_t nh;
	int64_t at;
};

struct os_bg {
	struct os_bg *next;
	char *sid, *pid, *command;
};

struct backend {
	struct http_client *http;
	char *lc_base;			/* scheme://domain/v1, or --api-url */
	char *scheme;			/* for endpoints without one */
	char *api_key;
	char *access_token;
	bool use_proxy;
	int timeout_ms;
	struct http_header extra[CONFIG_HEADERS_MAX];
	size_t nextra;
	pthread_mutex_t mu;
	struct os_ep *eps;
	struct os_bg *bgs;
	size_t nbg;
};

/* An endpoint copied into the call's arena. */
struct ep {
	const char *base;
	const struct http_header *h;
	size_t nh;
};

static atomic_uint os_seq;

/* Plumbing ------------------------------------------------------------------------ */

/* Deadline of one plain request: the call's, and at most --timeout-s. */
static int64_t
req_deadline(const struct backend *b, const struct call *c)
{
	return deadline_min(call_deadline(c), deadline_in_ms(b->timeout_ms));
}

/* Waits ms, ending early with ERR_CANCELLED / ERR_TIMEOUT. */
static int
os_sleep(struct call *c, int ms, const char *what, struct err *e)
{
	int64_t dl = call_deadline(c);
	int left = deadline_left_ms(dl);
	struct pollfd p = { .fd = cancel_fd(c->cancel), .events = POLLIN };

	if (cancel_fired(c->cancel))
		return err_set(e, ERR_CANCELLED, "%s was cancelled", what);
	if (left == 0)
		return err_set(e, ERR_TIMEOUT, "%s did not finish before the deadline", what);
	if (left > 0 && left < ms)
		ms = left;
	(void)poll(&p, p.fd >= 0 ? 1 : 0, ms);
	if (cancel_fired(c->cancel))
		return err_set(e, ERR_CANCELLED, "%s was cancelled", what);
	if (deadline_passed(dl))
		return err_set(e, ERR_TIMEOUT, "%s did not finish before the deadline", what);
	return 0;
}

struct os_rq {
	const char *method;
	const char *url;
	enum os_svc svc;
	const struct ep *ep;		/* execd / egress: its headers */
	const char *ctype;
	const void *body;
	size_t len;
	http_producer_fn prod;
	void *parg;
	const char *range;
	http_body_fn on_body;
	void *arg;
	size_t body_max;
	int64_t deadline;		/* 0: req_deadline() */
	int idle_ms;
	bool cleanup;			/* not cancellable: runs after a cancel */
};

static int
os_do(struct backend *b, struct call *c, const struct os_rq *r, struct http_response *rs,
    struct err *e)
{
	struct http_header *h;
	struct http_request rq;
	size_t n = 0, cap = b->nextra + 8 + (r->ep ? r->ep->nh : 0);
	char rid[40];

	memset(rs, 0, sizeof(*rs));
	h = arena_alloc(c->a, cap * sizeof(*h));
	if (h == NULL)
		return err_set(e, ERR_TOOBIG, "the request does not fit in memory");
	for (size_t i = 0; i < b->nextra; i++)
		h[n++] = b->extra[i];
	if (r->svc == OS_LC) {
		if (b->api_key != NULL)
			h[n++] = (struct http_header){ "OPEN-SANDBOX-API-KEY", b->api_key };
		snprintf(rid, sizeof(rid), "sandbox-mcp-%" PRIx64 "-%x", time_wall_ms(),
		    atomic_fetch_add(&os_seq, 1));
		h[n++] = (struct http_header){ "X-Request-ID", rid };
	} else if (r->svc == OS_EXECD && b->access_token != NULL) {
		h[n++] = (struct http_header){ "X-EXECD-ACCESS-TOKEN", b->access_token };
	}
	if (r->ep != NULL)
		for (size_t i = 0; i < r->ep->nh; i++)
			h[n++] = r->ep->h[i];
	if (r->ctype != NULL)
		h[n++] = (struct http_header){ "Content-Type", r->ctype };
	if (r->range != NULL)
		h[n++] = (struct http_header){ "Range", r->range };
	h[n++] = (struct http_header){ "Accept", "application/json, text/event-stream, */*" };

	memset(&rq, 0, sizeof(rq));
	rq.method = r->method;
	rq.url = r->url;
	rq.headers = h;
	rq.nheaders = n;
	rq.body = r->body;
	rq.body_len = r->len;
	rq.body_producer = r->prod;
	rq.producer_arg = r->parg;
	rq.deadline = r->deadline != 0 ? r->deadline :
	    (r->cleanup ? deadline_in_ms(OS_CLEANUP_MS) : req_deadline(b, c));
	rq.idle_timeout_ms = r->idle_ms;
	rq.cancel = r->cleanup ? NULL : c->cancel;
	rq.idempotent = strcmp(r->method, "GET") == 0 || strcmp(r->method, "DELETE") == 0 ||
	    strcmp(r->method, "PUT") == 0;
	rq.body_max = r->body_max != 0 ? r->body_max : OS_JSON_BODY_MAX;
	return http_do(b->http, &rq, rs, r->on_body, r->arg, c->a, e);
}

/* The server's own words from an error body: "CODE: message", a 422 detail
 * ("body.timeout: Input should be ..."), execd's {"error"}, or the first line of text. */
static const char *
os_err_detail(const struct http_response *rs, const char *body, size_t len, struct arena *a)
{
	struct err je = { 0 };
	const struct json *j = NULL, *d;
	const char *code, *msg, *ex;

	if (len > 0 && (body[0] == '{' || body[0] == '['))
		j = json_parse(body, len, a, &je);
	if (j != NULL && j->type == JSON_OBJECT) {
		code = json_get_str(j, "code");
		msg = json_get_str(j, "message");
		if (code != NULL || msg != NULL)
			return arena_printf(a, "%s%s%s", code ? code : "", code && msg ? ": " : "",
			    msg ? msg : "");
		if ((msg = json_get_str(j, "error")) != NULL)
			return msg;
		d = json_get(j, "detail");
		if (d != NULL && d->type == JSON_STRING)
			return d->s;
		if (d != NULL && d->type == JSON_ARRAY && d->head != NULL) {
			struct buf loc = { 0 };
			const struct json *l = json_get(d->head, "loc"), *x;
			const char *s;

			for (x = l != NULL ? l->head : NULL; x != NULL; x = x->next) {
				if (loc.len > 0)
					buf_putc(&loc, '.', NULL);
				buf_append(&loc, x->s, x->type == JSON_STRING || x->type == JSON_NUMBER ?
				    x->len : 0, NULL);
			}
			msg = json_get_str(d->head, "msg");
			s = arena_printf(a, "%s%s%s%s", loc.p ? loc.p : "", loc.len ? ": " : "",
			    msg ? msg : "invalid request",
			    d->count > 1 ? " (and more)" : "");
			buf_fini(&loc);
			return s;
		}
	}
	ex = http_body_excerpt(body, len, a);
	if (*ex == '\0')
		return rs->reason != NULL && *rs->reason ? rs->reason : "no details";
	return ex;
}

/* Turns a non-success status into one sentence: what failed, the status with the server's
 * code and message, and what to do. */
static int
os_status_err(struct backend *b, struct call *c, const struct http_response *rs,
    const char *body, size_t len, enum os_svc svc, const char *what, struct err *e)
{
	const char *d = os_err_detail(rs, body, len, c->a);
	int st = rs->status, rc;

	if (d == NULL)
		d = "no details";
	if (st == 401 && svc == OS_LC)
		rc = err_set(e, ERR_BACKEND, "%s: OpenSandbox rejected the API key (401 %s); set "
		    "OPEN_SANDBOX_API_KEY or --api-key", what, d);
	else if (st == 401 && svc == OS_EXECD)
		rc = err_set(e, ERR_BACKEND, "%s: execd refused the request (401 %s); set "
		    "--access-token to the sandbox's execd access token", what, d);
	else if (st == 401)
		rc = err_set(e, ERR_BACKEND, "%s: the egress sidecar refused the request (401 %s)",
		    what, d);
	else if (st == 403)
		rc = err_set(e, ERR_BACKEND, "%s: OpenSandbox does not allow it (403 %s)", what, d);
	else if (st == 404)
		rc = err_set(e, ERR_NOTFOUND, "%s: not found (404 %s)", what, d);
	else if (st == 409)
		rc = err_set(e, ERR_BACKEND, "%s: the sandbox is not in a state that allows it "
		    "(409 %s)", what, d);
	else if (st == 422 || st == 400)
		rc = err_set(e, ERR_INVAL, "%s: OpenSandbox rejected the request (%d %s)", what,
		    st, d);
	else if (st >= 500)
		rc = err_set(e, ERR_BACKEND, "%s: the %s failed (%d %s); try again", what,
		    svc == OS_LC ? "OpenSandbox server" : svc == OS_EXECD ? "sandbox's execd" :
		    "egress sidecar", st, d);
	else
		rc = err_set(e, ERR_HTTP, "%s: unexpected HTTP %d (%s)", what, st, d);
	log_scrub(e->msg);
	(void)b;
	return rc;
}

/* Rewrites a 404 sentence as "<subject> (404 CODE: message); <hint>". */
static int
os_notfound(struct err *e, const char *subject, const char *hint)
{
	char detail[ERR_MSG_MAX] = "";
	const char *p = strstr(e->msg, "(404");

	if (p != NULL)
		snprintf(detail, sizeof(detail), " %s", p);
	err_clear(e);
	err_set(e, ERR_NOTFOUND, "%s%s%s%s", subject ? subject : "not found", detail,
	    hint ? "; " : "", hint ? hint : "");
	log_scrub(e->msg);
	return ERR_NOTFOUND;
}

static int
os_net_err(int rc, const char *what, struct err *e)
{
	err_prefix(e, "%s: ", what);
	log_scrub(e->msg);
	return rc;
}

/* One request with a JSON (or empty) answer. ok_status 0 accepts any 2xx. *out gets the
 * parsed body (NULL when empty); *status the status when non-NULL. */
static int
os_json(struct backend *b, struct call *c, struct os_rq *r, int ok_status,
    const char *what, struct json **out, int *status, struct err *e)
{
	struct http_response rs;
	int rc;

	if (out != NULL)
		*out = NULL;
	rc = os_do(b, c, r, &rs, e);
	if (status != NULL)
		*status = rc == 0 ? rs.status : 0;
	if (rc != 0) {
		http_response_fini(&rs);
		return os_net_err(rc, what, e);
	}
	if (ok_status != 0 ? rs.status != ok_status : (rs.status < 200 || rs.status > 299)) {
		rc = os_status_err(b, c, &rs, rs.body.p, rs.body.len, r->svc, what, e);
		http_response_fini(&rs);
		return rc;
	}
	if (out != NULL && rs.body.len > 0) {
		*out = json_parse(rs.body.p, rs.body.len, c->a, e);
		if (*out == NULL) {
			/* A full arena stays ERR_TOOBIG; anything else is the server's fault. */
			if (e->code != ERR_TOOBIG)
				e->code = ERR_PROTO;
			err_prefix(e, "%s: the server sent invalid JSON: ", what);
			http_response_fini(&rs);
			return e->code;
		}
	}
	http_response_fini(&rs);
	return 0;
}

/* Lifecycle URL: base + path (path already encoded). */
static char *
lc_url(struct backend *b, struct call *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static char *
lc_url(struct backend *b, struct call *c, const char *fmt, ...)
{
	va_list ap;
	char *path;

	va_start(ap, fmt);
	path = arena_vprintf(c->a, fmt, ap);
	va_end(ap);
	return path != NULL ? arena_printf(c->a, "%s%s", b->lc_base, path) : NULL;
}

/* s percent-encoded for one URL part, in the arena; NULL when it does not fit. */
static const char *
pct(struct call *c, const char *s, enum url_part part)
{
	struct buf o = { 0 };
	char *r;

	if (url_encode(&o, s, strlen(s), part, NULL) != 0) {
		buf_fini(&o);
		return NULL;
	}
	r = arena_strdup(c->a, o.p != NULL ? o.p : "");
	buf_fini(&o);
	return r;
}

#define seg(c, s) pct((c), (s), URL_PART_SEGMENT)	/* a path segment */
#define qv(c, s) pct((c), (s), URL_PART_QUERY)		/* a query value */

#define OOM(e) err_set((e), ERR_TOOBIG, "the request does not fit in memory")

/* Finishes a JSON body built with jsonw into the arena. */
static const char *
jsonw_done(struct jsonw *w, struct buf *bf, struct call *c, size_t *len, struct err *e)
{
	char *s;

	if (jsonw_error(w) != 0) {
		err_set(e, jsonw_error(w), "could not build the request: %s", w->err.msg);
		buf_fini(bf);
		return NULL;
	}
	s = arena_strndup(c->a, bf->p != NULL ? bf->p : "", bf->len);
	*len = bf->len;
	buf_fini(bf);
	if (s == NULL)
		OOM(e);
	return s;
}

/* Endpoints (§0.2, §2.6) --------------------------------------------------------- */

static void
ep_free(struct os_ep *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nh; i++) {
		free((char *)p->h[i].name);
		free((char *)p->h[i].value);
	}
	free(p->h);
	free(p->base);
	free(p->id);
	free(p);
}

/* Drops cached endpoints of a sandbox (port 0: all of its ports). */
static void
ep_forget(struct backend *b, const char *id, int port)
{
	struct os_ep **pp, *p;

	pthread_mutex_lock(&b->mu);
	for (pp = &b->eps; (p = *pp) != NULL;) {
		if (strcmp(p->id, id) == 0 && (port == 0 || p->port == port)) {
			*pp = p->next;
			ep_free(p);
		} else {
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&b->mu);
}

static int
ep_copy(struct call *c, const struct os_ep *p, struct ep *out, struct err *e)
{
	struct http_header *h = arena_alloc(c->a, (p->nh + 1) * sizeof(*h));

	out->base = arena_strdup(c->a, p->base);
	if (h == NULL || out->base == NULL)
		return OOM(e);
	for (size_t i = 0; i < p->nh; i++) {
		h[i].name = arena_strdup(c->a, p->h[i].name);
		h[i].value = arena_strdup(c->a, p->h[i].value);
		if (h[i].name == NULL || h[i].value == NULL)
			return OOM(e);
	}
	out->h = h;
	out->nh = p->nh;
	return 0;
}

/* 1 with *out filled from the cache, 0 when not cached (or stale), or an ERR_* code. */
static int
ep_lookup(struct backend *b, struct call *c, const char *id, int port, struct ep *out,
    struct err *e)
{
	struct os_ep *p;
	int found = 0;

	pthread_mutex_lock(&b->mu);
	for (p = b->eps; p != NULL; p = p->next) {
		if (p->port == port && strcmp(p->id, id) == 0 &&
		    time_mono_ms() - p->at < OS_EP_TTL_MS) {
			found = ep_copy(c, p, out, e) == 0 ? 1 : e->code;
			break;
		}
	}
	pthread_mutex_unlock(&b->mu);
	return found;
}

static void
ep_store(struct backend *b, const char *id, int port, const struct ep *ep)
{
	struct os_ep *p = xcalloc(1, sizeof(*p));

	p->id = xstrdup(id);
	p->port = port;
	p->base = xstrdup(ep->base);
	p->h = xcalloc(ep->nh + 1, sizeof(*p->h));
	for (size_t i = 0; i < ep->nh; i++) {
		p->h[i].name = xstrdup(ep->h[i].name);
		p->h[i].value = xstrdup(ep->h[i].value);
	}
	p->nh = ep->nh;
	p->at = time_mono_ms();
	ep_forget(b, id, port);
	pthread_mutex_lock(&b->mu);
	p->next = b->eps;
	b->eps = p;
	pthread_mutex_unlock(&b->mu);
}

/* GET /sandboxes/{id}/endpoints/{port}: the base URL (scheme added when the endpoint has
 * none) and the headers to send. Not cached; see os_endpoint(). */
static int
os_resolve(struct backend *b, struct call *c, const char *id, int port, bool server_proxy,
    struct ep *out, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_LC };
	const struct json *hs, *m;
	struct http_header *h;
	struct json *j;
	const char *what, *ep;
	size_t n = 0;
	int rc;

	what = arena_printf(c->a, "resolving port %d of sandbox %s", port, id);
	r.url = lc_url(b, c, "/sandboxes/%s/endpoints/%d%s", seg(c, id), port,
	    server_proxy ? "?use_server_proxy=true" : "");
	if (what == NULL || r.url == NULL)
		return OOM(e);
	if ((rc = os_json(b, c, &r, 200, what, &j, NULL, e)) != 0) {
		if (rc == ERR_NOTFOUND)
			return os_notfound(e, arena_printf(c->a, "sandbox %s does not exist or has "
			    "no endpoint for port %d yet", id, port), "list sandboxes with sandbox_list");
		return rc;
	}
	ep = j != NULL ? json_get_str(j, "endpoint") : NULL;
	if (ep == NULL || *ep == '\0')
		return err_set(e, ERR_PROTO, "%s: the answer has no endpoint", what);
	out->base = strstr(ep, "://") != NULL ? ep : arena_printf(c->a, "%s://%s", b->scheme, ep);
	hs = json_get(j, "headers");
	h = arena_alloc(c->a, ((hs != NULL ? hs->count : 0) + 1) * sizeof(*h));
	if (out->base == NULL || h == NULL)
		return OOM(e);
	if (hs != NULL && hs->type == JSON_OBJECT)
		for (m = hs->head; m != NULL; m = m->next)
			if (m->type == JSON_STRING && m->key != NULL)
				h[n++] = (struct http_header){ m->key, m->s };
	out->h = h;
	out->nh = n;
	return 0;
}

/* The endpoint of execd or egress for a sandbox, from the cache or resolved. */
static int
os_endpoint(struct backend *b, struct call *c, const char *id, int port, struct ep *out,
    struct err *e)
{
	int rc;

	if ((rc = ep_lookup(b, c, id, port, out, e)) != 0)
		return rc == 1 ? 0 : rc;
	if ((rc = os_resolve(b, c, id, port, b->use_proxy, out, e)) != 0)
		return rc;
	ep_store(b, id, port, out);
	return 0;
}

/* URL of an execd/egress path under an endpoint. */
static const char *
ep_url(struct backend *b, struct call *c, const struct ep *ep, const char *path,
    struct err *e)
{
	char *u = NULL;

	if (url_join(ep->base, path, b->scheme, &u, c->a, e) != 0)
		return NULL;
	return u;
}

/* Lifecycle (§2) ------------------------------------------------------------------ */

static const char *
lower_dup(struct call *c, const char *s)
{
	char *r = arena_strdup(c->a, s);

	for (char *p = r; p != NULL && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

static int64_t
json_time(const struct json *o, const char *key)
{
	const char *s = json_get_str(o, key);
	int64_t ms;

	return s != NULL && time_parse_rfc3339(s, &ms) == 0 ? ms : 0;
}

/* A Sandbox or CreateSandboxResponse object (§2.2) into sb_info. */
static int
sb_from_json(struct call *c, const struct json *j, struct sb_info *out, struct err *e)
{
	const struct json *st = json_get(j, "status"), *md = json_get(j, "metadata"), *m;
	const char *state = st != NULL ? json_get_str(st, "state") : NULL;
	const char *reason, *msg;
	struct kv *kv;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	out->id = json_get_str(j, "id");
	if (out->id == NULL)
		return err_set(e, ERR_PROTO, "OpenSandbox sent a sandbox without an id");
	out->state = lower_dup(c, state != NULL ? state : "unknown");
	if (json_get(j, "image") != NULL)
		out->template_name = json_get_str(json_get(j, "image"), "uri");
	if (out->template_name == NULL)
		out->template_name = json_get_str(j, "snapshotId");
	out->created_at = json_time(j, "createdAt");
	out->expires_at = json_time(j, "expiresAt");
	if (md != NULL && md->type == JSON_OBJECT && md->count > 0) {
		kv = arena_alloc(c->a, md->count * sizeof(*kv));
		if (kv == NULL)
			return OOM(e);
		for (m = md->head; m != NULL; m = m->next)
			if (m->type == JSON_STRING)
				kv[n++] = (struct kv){ m->key, m->s };
		out->metadata = kv;
		out->nmetadata = n;
	}
	if (state != NULL && strcmp(state, "Running") != 0 && st != NULL) {
		reason = json_get_str(st, "reason");
		msg = json_get_str(st, "message");
		if (reason != NULL || msg != NULL)
			out->note = arena_printf(c->a, "%s%s%s", reason ? reason : "",
			    reason && msg ? ": " : "", msg ? msg : "");
	}
	return 0;
}

static int
os_get(struct backend *b, struct call *c, const char *id, struct json **j, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_LC };
	const char *what = arena_printf(c->a, "getting sandbox %s", id);
	int rc;

	r.url = lc_url(b, c, "/sandboxes/%s", seg(c, id));
	if (r.url == NULL || what == NULL)
		return OOM(e);
	rc = os_json(b, c, &r, 200, what, j, NULL, e);
	if (rc == 0 && *j == NULL)
		rc = err_set(e, ERR_PROTO, "%s: the answer is empty", what);
	if (rc == ERR_NOTFOUND)
		rc = os_notfound(e, arena_printf(c->a, "sandbox %s does not exist", id),
		    "list sandboxes with sandbox_list");
	return rc;
}

static const char *
sandbox_state(const struct json *j)
{
	const char *s = json_get_str(json_get(j, "status"), "state");

	return s != NULL ? s : "Unknown";
}

/* Polls GET until the state is `want`; fails on a terminal state. */
static int
os_wait_state(struct backend *b, struct call *c, const char *id, const char *want,
    struct json **last, struct err *e)
{
	struct json *j;
	const char *s;
	int rc, wait = 100;

	for (;; wait = wait * 2 < OS_STATE_POLL_MS ? wait * 2 : OS_STATE_POLL_MS) {
		if ((rc = os_get(b, c, id, &j, e)) != 0)
			return rc;
		s = sandbox_state(j);
		if (last != NULL)
			*last = j;
		if (strcmp(s, want) == 0)
			return 0;
		if (strcmp(s, "Failed") == 0 || strcmp(s, "Terminated") == 0) {
			const struct json *st = json_get(j, "status");
			const char *reason = json_get_str(st, "reason"), *msg = json_get_str(st, "message");

			return err_set(e, ERR_BACKEND, "sandbox %s is %s instead of %s (%s%s%s)", id,
			    s, want, reason ? reason : "no reason given", msg ? ": " : "",
			    msg ? msg : "");
		}
		if ((rc = os_sleep(c, wait, arena_printf(c->a,
		    "waiting for sandbox %s to become %s (it is %s)", id, want, s), e)) != 0)
			return rc;
	}
}

/* Polls execd's GET /ping until 200 (§3.1), at most OS_PING_WAIT_MS. */
static int
os_wait_execd(struct backend *b, struct call *c, const char *id, struct err *e)
{
	int64_t until = deadline_in_ms(OS_PING_WAIT_MS);
	struct os_rq r = { .method = "GET", .svc = OS_EXECD };
	struct ep ep;
	int rc, st = 0;

	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	if ((r.url = ep_url(b, c, &ep, "/ping", e)) == NULL)
		return e->code;
	for (;;) {
		struct err pe = { 0 };

		r.deadline = deadline_min(req_deadline(b, c), deadline_in_ms(5000));
		rc = os_json(b, c, &r, 200, "pinging execd", NULL, &st, &pe);
		if (rc == 0)
			return 0;
		if (rc == ERR_CANCELLED || cancel_fired(c->cancel))
			return err_set(e, ERR_CANCELLED, "waiting for execd in sandbox %s was "
			    "cancelled", id);
		if (st == 401)
			return err_set(e, pe.code, "%s", pe.msg);
		if (deadline_passed(until) || deadline_passed(call_deadline(c)))
			return err_set(e, ERR_TIMEOUT, "execd in sandbox %s did not answer /ping "
			    "within %d s (last error: %s)", id, OS_PING_WAIT_MS / 1000, pe.msg);
		if ((rc = os_sleep(c, OS_PING_POLL_MS, "waiting for execd", e)) != 0)
			return rc;
	}
}

/* DELETE /sandboxes/{id}, not cancellable (it cleans up after failures and cancels). */
static int
os_delete(struct backend *b, struct call *c, const char *id, bool cleanup, int *status,
    struct err *e)
{
	struct os_rq r = { .method = "DELETE", .svc = OS_LC, .cleanup = cleanup };
	const char *what = arena_printf(c->a, "deleting sandbox %s", id);

	r.url = lc_url(b, c, "/sandboxes/%s", seg(c, id));
	if (r.url == NULL || what == NULL)
		return OOM(e);
	ep_forget(b, id, 0);
	return os_json(b, c, &r, 0, what, NULL, status, e);
}

/* §0.11: Kubernetes label rules, checked before anything is sent. */
static bool
label_word(const char *s, size_t n, bool lower_dns)
{
	if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (lower_dns ? !(islower(ch) || isdigit(ch) || ch == '-' || ch == '.') :
		    !(isalnum(ch) || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static int
check_labels(const struct kv *kv, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		const char *k = kv[i].key, *v = kv[i].value, *slash = strrchr(k, '/');
		const char *name = slash ? slash + 1 : k;

		if (str_has_prefix(k, "opensandbox.io/"))
			return err_set(e, ERR_INVAL, "metadata key '%s' uses the reserved prefix "
			    "opensandbox.io/", k);
		if ((slash && (slash - k > 253 || !label_word(k, (size_t)(slash - k), true))) ||
		    strlen(name) > 63 || !label_word(name, strlen(name), false))
			return err_set(e, ERR_INVAL, "metadata key '%s' is not a valid label name: "
			    "use letters, digits, '-', '_' and '.', start and end with a letter or "
			    "digit, at most 63 characters (OpenSandbox stores metadata as "
			    "Kubernetes labels)", k);
		if (strlen(v) > 63 || !label_word(v, strlen(v), false))
			return err_set(e, ERR_INVAL, "metadata value '%.63s' of key '%s' is not a "
			    "valid label value: 1-63 letters, digits, '-', '_' or '.', starting and "
			    "ending with a letter or digit; put free text elsewhere", v, k);
	}
	return 0;
}

static void
write_entrypoint(struct jsonw *w, const char *ep)
{
	const char *p = ep;

	jsonw_key(w, "entrypoint");
	jsonw_arr_begin(w);
	if (ep == NULL || *ep == '\0') {
		jsonw_str(w, "tail");
		jsonw_str(w, "-f");
		jsonw_str(w, "/dev/null");
	} else if (strpbrk(ep, "'\"$|&;<>()`*?~\\\n{}[]=#") != NULL) {
		/* Shell syntax: let a shell read it. */
		jsonw_str(w, "/bin/sh");
		jsonw_str(w, "-c");
		jsonw_str(w, ep);
	} else {
		while (*p) {
			size_t n;

			while (*p == ' ' || *p == '\t')
				p++;
			n = strcspn(p, " \t");
			if (n > 0)
				jsonw_strn(w, p, n);
			p += n;
		}
	}
	jsonw_arr_end(w);
}

static void
write_rules(struct jsonw *w, const struct net_policy *np)
{
	jsonw_key(w, "egress");
	jsonw_arr_begin(w);
	/* Rules are first-match: deny first, so a target in both lists stays blocked. */
	for (size_t i = 0; i < np->ndeny; i++) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "action", "deny");
		jsonw_kstr(w, "target", np->deny[i]);
		jsonw_obj_end(w);
	}
	for (size_t i = 0; i < np->nallow; i++) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "action", "allow");
		jsonw_kstr(w, "target", np->allow[i]);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static const char *
create_body(const struct sb_create *req, struct call *c, size_t *len, struct err *e)
{
	struct buf bf = { 0 };
	struct jsonw w;
	bool own_tag = false;

	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "image");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "uri", req->template_name != NULL && *req->template_name ?
	    req->template_name : OS_DEFAULT_IMAGE);
	jsonw_obj_end(&w);
	write_entrypoint(&w, req->entrypoint);
	jsonw_key(&w, "resourceLimits");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "cpu", req->cpu != NULL ? req->cpu : "1");
	jsonw_kstr(&w, "memory", req->memory != NULL ? req->memory : "2Gi");
	jsonw_obj_end(&w);
	jsonw_kint(&w, "timeout", req->timeout_s > 0 ? req->timeout_s : OS_DEFAULT_TIMEOUT_S);
	jsonw_key(&w, "env");
	jsonw_obj_begin(&w);
	for (size_t i = 0; i < req->nenv; i++)
		jsonw_kstr(&w, req->env[i].key, req->env[i].value);
	jsonw_obj_end(&w);
	jsonw_key(&w, "metadata");
	jsonw_obj_begin(&w);
	for (size_t i = 0; i < req->nmetadata; i++) {
		jsonw_kstr(&w, req->metadata[i].key, req->metadata[i].value);
		own_tag |= strcmp(req->metadata[i].key, "created-by") == 0;
	}
	if (!own_tag)
		jsonw_kstr(&w, "created-by", "sandbox-mcp");
	jsonw_obj_end(&w);
	if (req->network != NULL) {
		/* §0.13: always an explicit defaultAction ({} would mean deny-all). */
		jsonw_key(&w, "networkPolicy");
		jsonw_obj_begin(&w);
		jsonw_kstr(&w, "defaultAction", req->network->default_action == 0 ? "deny" : "allow");
		write_rules(&w, req->network);
		jsonw_obj_end(&w);
	}
	if (req->secure == 1)
		jsonw_kbool(&w, "secureAccess", true);
	jsonw_obj_end(&w);
	return jsonw_done(&w, &bf, c, len, e);
}

/* Everything after the 202: wait for Running, resolve execd (and egress), ping execd. */
static int
create_finish(struct backend *b, struct call *c, const char *id, const struct sb_create *req,
    struct sb_info *out, struct err *e)
{
	struct json *j = NULL;
	struct ep ep;
	int rc;

	if ((rc = os_wait_state(b, c, id, "Running", &j, e)) != 0)
		return rc;
	if ((rc = os_wait_execd(b, c, id, e)) != 0)
		return rc;
	if (req->network != NULL &&
	    (rc = os_endpoint(b, c, id, OPENSANDBOX_EGRESS_PORT, &ep, e)) != 0)
		return rc;
	return sb_from_json(c, j, out, e);
}

static int
os_create(struct backend *b, const struct sb_create *req, struct sb_info *out,
    struct call *c, struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_LC, .ctype = "application/json" };
	struct json *j;
	const char *id;
	int rc;

	if (req->timeout_s > 0 && req->timeout_s < OS_MIN_TIMEOUT_S)
		return err_set(e, ERR_INVAL, "timeout_s must be at least %d on OpenSandbox "
		    "(got %" PRId64 ")", OS_MIN_TIMEOUT_S, req->timeout_s);
	if (req->auto_pause == 1)
		return err_set(e, ERR_UNSUPPORTED, "OpenSandbox has no auto-pause; leave "
		    "auto_pause unset and pause the sandbox with sandbox_pause");
	if ((rc = check_labels(req->metadata, req->nmetadata, e)) != 0)
		return rc;
	if ((r.body = create_body(req, c, &r.len, e)) == NULL)
		return e->code;
	if ((r.url = lc_url(b, c, "/sandboxes")) == NULL)
		return OOM(e);
	if ((rc = os_json(b, c, &r, 0, "creating a sandbox", &j, NULL, e)) != 0)
		return rc;
	if (j == NULL || (id = json_get_str(j, "id")) == NULL)
		return err_set(e, ERR_PROTO, "creating a sandbox: OpenSandbox answered without "
		    "a sandbox id");
	log_msg(LOG_INFO, "opensandbox", "created sandbox %s (state %s)", id, sandbox_state(j));
	rc = create_finish(b, c, id, req, out, e);
	if (rc != 0) {
		struct err de = { 0 };
		int dst = 0;

		/* Whatever went wrong, do not leave a half-made sandbox behind. */
		if (os_delete(b, c, id, true, &dst, &de) != 0 && dst != 404)
			log_msg(LOG_WARN, "opensandbox", "could not delete sandbox %s after a "
			    "failed create: %s", id, de.msg);
		else
			log_msg(LOG_INFO, "opensandbox", "deleted sandbox %s after a failed "
			    "create", id);
		err_prefix(e, "creating sandbox %s failed and it was deleted again: ", id);
		log_scrub(e->msg);
	}
	return rc;
}

static int
os_info(struct backend *b, const char *id, struct sb_info *out, struct call *c, struct err *e)
{
	struct json *j;
	int rc;

	if ((rc = os_get(b, c, id, &j, e)) != 0)
		return rc;
	return sb_from_json(c, j, out, e);
}

/* "running" -> "Running"; "killed" means Terminated. */
static const char *
state_param(struct call *c, const char *s)
{
	char *r;

	if (strcmp(s, "killed") == 0)
		return "Terminated";
	r = arena_strdup(c->a, s);
	if (r != NULL && *r)
		r[0] = (char)toupper((unsigned char)r[0]);
	return r;
}

/* Cursor: "PAGE:SIZE" (opaque to callers). */
static int
parse_cursor(const char *cur, int64_t *page, int64_t *size, struct err *e)
{
	const char *colon = strchr(cur, ':');
	struct str p = { cur, colon ? (size_t)(colon - cur) : strlen(cur) };

	if (!str_to_i64(p, page) || *page < 1 ||
	    (colon != NULL && (!str_to_i64(str_from(colon + 1), size) || *size < 1 ||
	    *size > OS_LIST_PAGE_MAX)))
		return err_set(e, ERR_INVAL, "cursor '%.40s' is not one this server handed out; "
		    "omit it to start from the first page", cur);
	return 0;
}

static int
os_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out, struct call *c,
    struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_LC };
	struct buf q = { 0 }, md = { 0 };
	const struct json *items, *pg, *it;
	int64_t page = 1, size = req->limit > 0 ? req->limit : OS_LIST_PAGE_DEFAULT;
	struct json *j;
	char num[32];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (size > OS_LIST_PAGE_MAX)
		size = OS_LIST_PAGE_MAX;
	if (req->cursor != NULL && (rc = parse_cursor(req->cursor, &page, &size, e)) != 0)
		return rc;
	for (size_t i = 0; i < req->nstates && rc == 0; i++)
		rc = url_query_add(&q, "state", state_param(c, req->states[i]), e);
	/* §2.4: one metadata parameter holding "k=v&k2=v2", encoded once more. */
	for (size_t i = 0; i < req->nmetadata && rc == 0; i++)
		rc = url_query_add(&md, req->metadata[i].key, req->metadata[i].value, e);
	if (rc == 0 && md.len > 0)
		rc = url_query_add(&q, "metadata", md.p, e);
	snprintf(num, sizeof(num), "%" PRId64, page);
	if (rc == 0)
		rc = url_query_add(&q, "page", num, e);
	snprintf(num, sizeof(num), "%" PRId64, size);
	if (rc == 0)
		rc = url_query_add(&q, "pageSize", num, e);
	if (rc == 0 && (r.url = lc_url(b, c, "/sandboxes?%s", q.p)) == NULL)
		rc = OOM(e);
	buf_fini(&q);
	buf_fini(&md);
	if (rc != 0)
		return rc;
	if ((rc = os_json(b, c, &r, 200, "listing sandboxes", &j, NULL, e)) != 0)
		return rc;
	items = json_get(j, "items");
	if (items == NULL || items->type != JSON_ARRAY)
		return err_set(e, ERR_PROTO, "listing sandboxes: the answer has no items array");
	out->items = arena_zalloc(c->a, (items->count + 1) * sizeof(*out->items));
	if (out->items == NULL)
		return OOM(e);
	for (it = items->head; it != NULL; it = it->next)
		if (sb_from_json(c, it, &out->items[out->n], e) == 0)
			out->n++;
		else
			err_clear(e);
	pg = json_get(j, "pagination");
	if (pg != NULL && json_truthy(json_get(pg, "hasNextPage")))
		out->next_cursor = arena_printf(c->a, "%" PRId64 ":%" PRId64, page + 1, size);
	return 0;
}

static int
os_kill(struct backend *b, const char *id, struct call *c, struct err *e)
{
	int64_t until;
	struct json *j;
	int rc, st = 0;

	rc = os_delete(b, c, id, false, &st, e);
	if ((rc == ERR_IO || rc == ERR_PROTO || rc == ERR_TIMEOUT) && !cancel_fired(c->cancel) &&
	    !deadline_passed(call_deadline(c))) {
		/* The answer was lost: ask again; a 404 now means the first one worked. */
		err_clear(e);
		rc = os_delete(b, c, id, false, &st, e);
		if (rc == ERR_NOTFOUND) {
			err_clear(e);
			return 0;
		}
	}
	if (rc == ERR_NOTFOUND)
		return os_notfound(e, arena_printf(c->a, "sandbox %s does not exist (already "
		    "deleted or expired)", id), "list sandboxes with sandbox_list");
	if (rc != 0)
		return rc;
	log_msg(LOG_INFO, "opensandbox", "deleted sandbox %s", id);
	/* Docker removes at once (404); Kubernetes goes Stopping -> Terminated (§2.4). */
	until = deadline_in_ms(OS_KILL_WAIT_MS);
	while (!deadline_passed(until)) {
		struct err ge = { 0 };

		if (os_get(b, c, id, &j, &ge) != 0 || strcmp(sandbox_state(j), "Terminated") == 0)
			break;
		if (os_sleep(c, OS_STATE_POLL_MS, "waiting for the sandbox to go", &ge) != 0)
			break;
	}
	return 0;
}

static int
os_pause_resume(struct backend *b, const char *id, bool pause, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_LC };
	const char *what = arena_printf(c->a, "%s sandbox %s", pause ? "pausing" : "resuming", id);
	int rc;

	r.url = lc_url(b, c, "/sandboxes/%s/%s", seg(c, id), pause ? "pause" : "resume");
	if (r.url == NULL || what == NULL)
		return OOM(e);
	ep_forget(b, id, 0);	/* §2.5: re-resolve endpoints after pause/resume */
	rc = os_json(b, c, &r, 0, what, NULL, NULL, e);
	if (rc == ERR_NOTFOUND)
		return os_notfound(e, arena_printf(c->a, "sandbox %s does not exist", id),
		    "list sandboxes with sandbox_list");
	if (rc != 0)
		return rc;
	if ((rc = os_wait_state(b, c, id, pause ? "Paused" : "Running", NULL, e)) != 0)
		return rc;
	return pause ? 0 : os_wait_execd(b, c, id, e);
}

static int
os_pause(struct backend *b, const char *id, struct call *c, struct err *e)
{
	return os_pause_resume(b, id, true, c, e);
}

static int
os_resume(struct backend *b, const char *id, struct call *c, struct err *e)
{
	return os_pause_resume(b, id, false, c, e);
}

static int
os_set_timeout(struct backend *b, const char *id, int64_t timeout_s, int64_t *expires_at,
    struct call *c, struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_LC, .ctype = "application/json" };
	const char *what = arena_printf(c->a, "renewing sandbox %s", id);
	char ts[40];
	struct json *j;
	int rc;

	if (timeout_s <= 0)
		return err_set(e, ERR_INVAL, "timeout_s must be positive");
	/* §2.5: an absolute time; SDKs compute now + seconds. */
	time_format_rfc3339(time_wall_ms() + timeout_s * 1000, ts, sizeof(ts));
	r.body = arena_printf(c->a, "{\"expiresAt\":\"%s\"}", ts);
	r.url = lc_url(b, c, "/sandboxes/%s/renew-expiration", seg(c, id));
	if (r.url == NULL || r.body == NULL || what == NULL)
		return OOM(e);
	r.len = strlen(r.body);
	rc = os_json(b, c, &r, 0, what, &j, NULL, e);
	if (rc == ERR_NOTFOUND)
		return os_notfound(e, arena_printf(c->a, "sandbox %s does not exist", id),
		    "list sandboxes with sandbox_list");
	if (rc != 0)
		return rc;
	*expires_at = j != NULL ? json_time(j, "expiresAt") : 0;
	if (*expires_at == 0)
		*expires_at = time_wall_ms() + timeout_s * 1000;
	return 0;
}

static int
os_url(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
    struct err *e)
{
	struct ep ep;
	struct kv *kv;
	int rc;

	if (port < 1 || port > 65535)
		return err_set(e, ERR_INVAL, "port must be 1-65535, not %d", port);
	if ((rc = os_resolve(b, c, id, port, b->use_proxy, &ep, e)) != 0)
		return rc;
	out->url = ep.base;
	kv = arena_alloc(c->a, (ep.nh + 1) * sizeof(*kv));
	if (kv == NULL)
		return OOM(e);
	for (size_t i = 0; i < ep.nh; i++)
		kv[i] = (struct kv){ ep.h[i].name, ep.h[i].value };
	out->headers = kv;
	out->nheaders = ep.nh;
	return 0;
}

/* execd streams (§0.3-§0.7, §3.2, §3.4) --------------------------------------------- */

enum os_mode { MODE_CMD, MODE_CODE };

struct os_stream {
	struct call *c;
	struct http_response *rs;
	struct stream_dec dec;
	struct arena *scratch;
	enum os_mode mode;
	bool background;
	exec_event_fn fn;
	void *arg;
	char id[128];			/* init text: command id or context id */
	bool have_id, done, ok, stopped;
	const char *ename, *evalue;	/* in c->a */
	struct buf tb;			/* traceback lines */
	struct buf errbody;		/* a non-200 body */
	struct buf line;
	struct code_result *cr;
	struct kv *res;
	size_t nres, capres;
};

static void
st_init(struct os_stream *st, struct call *c, enum os_mode mode, exec_event_fn fn, void *arg)
{
	memset(st, 0, sizeof(*st));
	st->c = c;
	st->mode = mode;
	st->fn = fn;
	st->arg = arg;
	stream_dec_init(&st->dec, STREAM_EXECD, OS_EVENT_MAX);
	st->scratch = arena_new(OS_SCRATCH_MAX);
	buf_init(&st->errbody, OS_ERR_BODY_MAX);
}

static void
st_fini(struct os_stream *st)
{
	stream_dec_fini(&st->dec);
	arena_free(st->scratch);
	buf_fini(&st->tb);
	buf_fini(&st->errbody);
	buf_fini(&st->line);
}

static int
st_emit(struct os_stream *st, enum exec_event_type type, const char *p, size_t n,
    struct err *e)
{
	struct exec_event ev = { .type = type, .data = p, .len = n };

	if (type == EXEC_EV_START)
		ev.pid = st->id;
	if (st->fn != NULL && st->fn(st->arg, &ev) != 0) {
		st->stopped = true;
		return err_set(e, ERR_CANCELLED, "stopped by the caller");
	}
	return 0;
}

/* stdout/stderr: §0.4 -- commands send one line per event without its terminator (an
 * empty line is "\n"); /code sends raw chunks. */
static int
st_output(struct os_stream *st, const struct json *j, enum exec_event_type type, struct err *e)
{
	const struct json *t = json_get(j, "text");

	if (t == NULL || t->type != JSON_STRING)
		return 0;
	if (st->mode == MODE_CODE || (t->len == 1 && t->s[0] == '\n'))
		return st_emit(st, type, t->s, t->len, e);
	buf_reset(&st->line);
	if (buf_append(&st->line, t->s, t->len, e) != 0 || buf_putc(&st->line, '\n', e) != 0)
		return e->code;
	return st_emit(st, type, st->line.p, st->line.len, e);
}

static int
st_result(struct os_stream *st, const struct json *j, struct err *e)
{
	const struct json *r = json_get(j, "results"), *m;
	struct arena *a = st->c->a;

	if (st->cr == NULL || r == NULL || r->type != JSON_OBJECT)
		return 0;
	for (m = r->head; m != NULL; m = m->next) {
		const char *v;

		if (m->type == JSON_STRING) {
			v = arena_strndup(a, m->s, m->len);
		} else {
			struct buf bf = { 0 };
			struct jsonw w;

			jsonw_init(&w, &bf);
			jsonw_value(&w, m);
			v = arena_strndup(a, bf.p ? bf.p : "null", bf.p ? bf.len : 4);
			buf_fini(&bf);
		}
		if (v == NULL)
			return OOM(e);
		/* execd renames text/plain to "text" (§3.2). */
		if (strcmp(m->key, "text") == 0 || strcmp(m->key, "text/plain") == 0) {
			st->cr->text = v;
			continue;
		}
		if (st->nres == st->capres) {
			size_t cap = st->capres ? st->capres * 2 : 8;
			struct kv *n = arena_alloc(a, cap * sizeof(*n));

			if (n == NULL)
				return OOM(e);
			if (st->nres)
				memcpy(n, st->res, st->nres * sizeof(*n));
			st->res = n;
			st->capres = cap;
		}
		st->res[st->nres++] = (struct kv){ arena_strdup(a, m->key), v };
	}
	st->cr->results = st->res;
	st->cr->nresults = st->nres;
	return 0;
}

static int
st_error(struct os_stream *st, const struct json *j, struct err *e)
{
	const struct json *er = json_get(j, "error"), *tb, *x;
	const char *n = json_get_str(er, "ename"), *v = json_get_str(er, "evalue");

	st->ename = arena_strdup(st->c->a, n ? n : "Error");
	st->evalue = arena_strdup(st->c->a, v ? v : "");
	tb = json_get(er, "traceback");
	for (x = tb != NULL ? tb->head : NULL; x != NULL; x = x->next) {
		if (x->type != JSON_STRING)
			continue;
		if (st->tb.len > 0)
			buf_putc(&st->tb, '\n', NULL);
		buf_append(&st->tb, x->s, x->len, NULL);
	}
	if (st->ename == NULL || st->evalue == NULL)
		return OOM(e);
	st->done = true;
	return HTTP_STOP;
}

static int
st_event(void *arg, const struct stream_event *ev, struct err *e)
{
	struct os_stream *st = arg;
	const char *type;
	struct json *j;

	if (ev->data.len == 0)
		return 0;
	if (arena_used(st->scratch) > OS_SCRATCH_RECYCLE) {
		arena_free(st->scratch);
		st->scratch = arena_new(OS_SCRATCH_MAX);
	}
	j = json_parse(ev->data.p, ev->data.len, st->scratch, e);
	if (j == NULL || j->type != JSON_OBJECT) {
		e->code = ERR_PROTO;
		if (j != NULL)
			err_set(e, ERR_PROTO, "execd sent an event that is not a JSON object");
		else
			err_prefix(e, "execd sent an event that is not JSON: ");
		return ERR_PROTO;
	}
	type = json_get_str(j, "type");
	if (type == NULL) {
		/* A raw {code, message} appended to the stream (§3.3). */
		const char *code = json_get_str(j, "code"), *msg = json_get_str(j, "message");

		return err_set(e, ERR_BACKEND, "execd reported an error in the stream (%s: %s)",
		    code ? code : "?", msg ? msg : "no message");
	}
	if (strcmp(type, "init") == 0) {
		const char *t = json_get_str(j, "text");

		snprintf(st->id, sizeof(st->id), "%s", t != NULL ? t : "");
		st->have_id = st->id[0] != '\0';
		if (st_emit(st, EXEC_EV_START, NULL, 0, e) != 0)
			return e->code;
		if (st->background) {
			st->done = st->ok = true;
			return HTTP_STOP;
		}
		return 0;
	}
	if (strcmp(type, "stdout") == 0)
		return st_output(st, j, EXEC_EV_STDOUT, e);
	if (strcmp(type, "stderr") == 0)
		return st_output(st, j, EXEC_EV_STDERR, e);
	if (strcmp(type, "result") == 0)
		return st_result(st, j, e);
	if (strcmp(type, "execution_count") == 0) {
		int64_t n;

		if (st->cr != NULL && json_int(json_get(j, "execution_count"), &n))
			st->cr->execution_count = n;
		return 0;
	}
	if (strcmp(type, "execution_complete") == 0) {
		st->done = st->ok = true;
		return HTTP_STOP;	/* §0.6: do not wait for the 1 s tail */
	}
	if (strcmp(type, "error") == 0)
		return st_error(st, j, e);
	return 0;			/* ping, status, and types added later */
}

static int
st_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct os_stream *st = arg;

	if (st->rs->status != 200) {
		size_t room = OS_ERR_BODY_MAX - st->errbody.len;

		(void)buf_append(&st->errbody, p, n < room ? n : room, NULL);
		return 0;
	}
	return stream_feed(&st->dec, p, n, st_event, st, e);
}

/* POSTs body and decodes the stream until its final event. *http_status gets a non-200
 * status (already mapped into e), or 0. */
static int
st_run(struct backend *b, struct call *c, struct os_stream *st, const struct ep *ep,
    const char *url, const char *body, size_t len, int64_t deadline, const char *what,
    int *http_status, struct err *e)
{
	struct os_rq r = { .method = "POST", .url = url, .svc = OS_EXECD, .ep = ep,
		.ctype = "application/json", .body = body, .len = len, .on_body = st_body,
		.arg = st, .deadline = deadline, .idle_ms = OS_EVENTS_IDLE_MS };
	struct http_response rs;
	int rc;

	*http_status = 0;
	memset(&rs, 0, sizeof(rs));
	st->rs = &rs;
	rc = os_do(b, c, &r, &rs, e);
	if (rc == 0 && rs.status != 200) {
		*http_status = rs.status;
		rc = os_status_err(b, c, &rs, st->errbody.p, st->errbody.len, OS_EXECD, what, e);
	} else if (rc == 0 && !st->done) {
		rc = stream_feed_end(&st->dec, st_event, st, e);
		if (rc == HTTP_STOP)
			rc = 0;
		if (rc == 0 && !st->done)
			rc = err_set(e, ERR_PROTO, "the execd stream ended before the final event");
	}
	http_response_fini(&rs);
	st->rs = NULL;
	return rc;
}

/* DELETE /command?id= or /code?id= (§3.2): stops a command or interrupts a context. A
 * cleanup call is not cancellable; "not running" then counts as done. */
static int
os_interrupt(struct backend *b, struct call *c, const struct ep *ep, const char *route,
    const char *cid, bool cleanup, struct err *e)
{
	struct os_rq r = { .method = "DELETE", .svc = OS_EXECD, .ep = ep, .cleanup = cleanup };
	const char *path = arena_printf(c->a, "%s?id=%s", route, qv(c, cid));
	const char *what = arena_printf(c->a, "stopping %s", cid);
	int rc, st = 0;

	if (path == NULL || what == NULL)
		return OOM(e);
	if ((r.url = ep_url(b, c, ep, path, e)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 0, what, NULL, &st, e);
	if (rc != 0 && st == 500 && strstr(e->msg, "not running") != NULL) {
		err_clear(e);
		return 0;
	}
	if (rc != 0 && st == 500 && strstr(e->msg, "no such session") != NULL) {
		err_clear(e);
		return err_set(e, ERR_NOTFOUND, "no process or context %s in this sandbox", cid);
	}
	return rc;
}

struct cmd_status {
	bool running, has_exit;
	int exit_code;
	const char *error;
	const char *content;
};

/* GET /command/status/{id} (§3.2). */
static int
os_cmd_status(struct backend *b, struct call *c, const struct ep *ep, const char *cid,
    struct cmd_status *out, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD, .ep = ep };
	const char *path = arena_printf(c->a, "/command/status/%s", seg(c, cid));
	const char *what = arena_printf(c->a, "getting the status of process %s", cid);
	struct json *j;
	int64_t code;
	int rc;

	memset(out, 0, sizeof(*out));
	if (path == NULL || what == NULL)
		return OOM(e);
	if ((r.url = ep_url(b, c, ep, path, e)) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 200, what, &j, NULL, e)) != 0) {
		if (rc == ERR_NOTFOUND)
			return os_notfound(e, arena_printf(c->a, "no process %s in this sandbox",
			    cid), "list background processes with process_list");
		return rc;
	}
	if (j == NULL)
		return err_set(e, ERR_PROTO, "%s: the answer is empty", what);
	out->running = json_truthy(json_get(j, "running"));
	if (!out->running && json_int(json_get(j, "exit_code"), &code) && code >= 0) {
		out->has_exit = true;
		out->exit_code = (int)code;
	}
	out->error = json_get_str(j, "error");
	out->content = json_get_str(j, "content");
	return 0;
}

/* Unique enough for a temporary file name inside one sandbox. */
static void
tmp_name(char *out, size_t n, const char *prefix)
{
	snprintf(out, n, "/tmp/.sandbox-mcp-%s-%" PRIx64 "%04x", prefix, time_wall_ms(),
	    atomic_fetch_add(&os_seq, 1) & 0xffff);
}

static int os_upload(struct backend *b, struct call *c, const struct ep *ep, const char *path,
    const void *data, size_t len, uint32_t mode, struct err *e);

static const char *
exec_body(const struct exec_req *req, const char *command, struct call *c, size_t *len,
    struct err *e)
{
	struct buf bf = { 0 };
	struct jsonw w;

	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "command", command);
	if (req->cwd != NULL && *req->cwd)
		jsonw_kstr(&w, "cwd", req->cwd);
	jsonw_kbool(&w, "background", req->background);
	if (req->timeout_ms > 0)
		jsonw_kint(&w, "timeout", req->timeout_ms);
	if (req->nenv > 0) {
		jsonw_key(&w, "envs");
		jsonw_obj_begin(&w);
		for (size_t i = 0; i < req->nenv; i++)
			jsonw_kstr(&w, req->env[i].key, req->env[i].value);
		jsonw_obj_end(&w);
	}
	jsonw_obj_end(&w);
	return jsonw_done(&w, &bf, c, len, e);
}

static void
bg_add(struct backend *b, const char *sid, const char *pid, const char *command)
{
	struct os_bg *g = xcalloc(1, sizeof(*g)), **pp;

	g->sid = xstrdup(sid);
	g->pid = xstrdup(pid);
	g->command = xstrndup(command, 1024);
	pthread_mutex_lock(&b->mu);
	g->next = b->bgs;
	b->bgs = g;
	if (++b->nbg > OS_BG_MAX) {	/* forget the oldest */
		for (pp = &b->bgs; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		free((*pp)->sid);
		free((*pp)->pid);
		free((*pp)->command);
		free(*pp);
		*pp = NULL;
		b->nbg--;
	}
	pthread_mutex_unlock(&b->mu);
}

static int
signal_of(const char *tb)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "killed", 9 }, { "terminated", 15 }, { "interrupt", 2 }, { "hangup", 1 },
		{ "aborted", 6 }, { "segmentation fault", 11 }, { "broken pipe", 13 },
		{ "quit", 3 }, { "alarm clock", 14 }, { "bus error", 7 },
	};

	for (size_t i = 0; tb != NULL && i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strstr(tb, sigs[i].name) != NULL)
			return sigs[i].sig;
	return 0;
}

/* The final event of a command into res (§0.5). */
static int
exec_outcome(struct os_stream *st, const struct exec_req *req, int64_t elapsed,
    struct exec_result *res, struct call *c, struct err *e)
{
	int64_t code;
	int sig;

	if (st->ok) {
		res->exited = true;
		res->exit_code = 0;
		return 0;
	}
	if (!str_to_i64(str_from(st->evalue), &code) || code < -1 || code > INT32_MAX)
		return err_set(e, ERR_BACKEND, "the command could not start: %s%s%s", st->evalue,
		    st->tb.len ? " -- " : "", st->tb.len ? st->tb.p : "");
	if (code >= 0) {
		res->exited = true;
		res->exit_code = (int)code;
		return 0;
	}
	{
		sig = signal_of(st->tb.p);
		res->exited = false;
		res->exit_code = sig ? 128 + sig : -1;
		res->timed_out = req->timeout_ms > 0 && elapsed >= req->timeout_ms * 9 / 10;
		res->note = res->timed_out ?
		    arena_printf(c->a, "killed after the %" PRId64 " ms timeout", req->timeout_ms) :
		    arena_printf(c->a, "stopped by a signal (%s)", st->tb.p ? st->tb.p : "unknown");
		return 0;
	}
}

/* After a broken stream: the command may still run. Ask execd; if it has finished, report
 * its exit code with a note, else stop it. */
static int
exec_recover(struct backend *b, struct call *c, const struct ep *ep, struct os_stream *st,
    struct exec_result *res, int rc, struct err *e)
{
	struct cmd_status cs;
	struct err se = { 0 };

	if (os_cmd_status(b, c, ep, st->id, &cs, &se) == 0 && !cs.running) {
		char why[ERR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", e->msg);
		err_clear(e);
		res->exited = cs.has_exit;
		res->exit_code = cs.has_exit ? cs.exit_code : -1;
		res->note = arena_printf(c->a, "the output stream from execd broke (%s); output "
		    "may be incomplete", why);
		return 0;
	}
	err_clear(&se);
	if (os_interrupt(b, c, ep, "/command", st->id, true, &se) == 0)
		err_prefix(e, "the command (process %s) was stopped because its output stream "
		    "broke: ", st->id);
	else
		err_prefix(e, "the command (process %s) may still be running; its output stream "
		    "broke: ", st->id);
	log_scrub(e->msg);
	return rc;
}

/* execd of a paused sandbox hangs or answers 502/504 (the container is frozen): say so. */
static int
paused_hint(struct backend *b, struct call *c, const char *id, int rc, struct err *e)
{
	struct call c2 = { .a = c->a, .deadline = deadline_in_ms(5000) };
	struct err ge = { 0 };
	struct json *j;

	if (os_get(b, &c2, id, &j, &ge) != 0 || strcmp(sandbox_state(j), "Running") == 0)
		return rc;
	err_clear(e);
	return err_set(e, ERR_BACKEND, "sandbox %s is %s, so its execd cannot answer; %s", id,
	    lower_dup(c, sandbox_state(j)), strcmp(sandbox_state(j), "Paused") == 0 ?
	    "resume it with sandbox_resume" : "wait until it is running or create a new one");
}

static int
os_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn,
    void *arg, struct exec_result *res, struct call *c, struct err *e)
{
	int64_t t0 = time_mono_ms(), local_dl = DEADLINE_NONE, dl;
	const char *command = req->command, *body, *url;
	struct os_stream st;
	struct ep ep;
	size_t len;
	int rc, hs;

	memset(res, 0, sizeof(*res));
	if (req->command == NULL || *req->command == '\0')
		return err_set(e, ERR_INVAL, "the command is empty");
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	if (req->stdin_data != NULL) {
		/* execd gives commands /dev/null as stdin: upload it and let the command open
		 * the file as fd 0 and unlink it at once. */
		char tmp[96];

		tmp_name(tmp, sizeof(tmp), "stdin");
		if ((rc = os_upload(b, c, &ep, tmp, req->stdin_data, req->stdin_len, 0600, e)) != 0) {
			err_prefix(e, "uploading stdin: ");
			return rc;
		}
		/* $TMPDIR is the fallback for platforms whose files API and commands see /tmp
		 * differently (the test fake). */
		command = arena_printf(c->a, "__sbx_in='%s'; [ -e \"$__sbx_in\" ] || "
		    "__sbx_in=\"${TMPDIR:-/tmp}/%s\"; exec 0<\"$__sbx_in\" || exit 126; "
		    "rm -f \"$__sbx_in\"; unset __sbx_in\n%s", tmp, tmp + 5, req->command);
		if (command == NULL)
			return OOM(e);
	}
	if ((body = exec_body(req, command, c, &len, e)) == NULL)
		return e->code;
	if ((url = ep_url(b, c, &ep, "/command", e)) == NULL)
		return e->code;
	if (req->timeout_ms > 0 && !req->background)
		local_dl = deadline_in_ms(req->timeout_ms + OS_TIMEOUT_GRACE_MS);
	dl = deadline_min(call_deadline(c), local_dl);
	if (req->background)
		dl = req_deadline(b, c);
	st_init(&st, c, MODE_CMD, fn, arg);
	st.background = req->background;
	rc = st_run(b, c, &st, &ep, url, body, len, dl, "running a command", &hs, e);
	if (rc == 0) {
		if (req->background && !st.ok) {
			rc = exec_outcome(&st, req, 0, res, c, e);	/* it did not start */
		} else if (req->background) {
			res->pid = arena_strdup(c->a, st.id);
			if (res->pid == NULL)
				rc = OOM(e);
			else
				bg_add(b, id, st.id, req->command);
		} else {
			rc = exec_outcome(&st, req, time_mono_ms() - t0, res, c, e);
		}
	} else if (hs != 0 || !st.have_id) {
		if (hs == 502 || hs == 504 || hs == 404 || rc == ERR_IO || rc == ERR_TIMEOUT) {
			ep_forget(b, id, OPENSANDBOX_EXECD_PORT);
			rc = paused_hint(b, c, id, rc, e);
		}
	} else if (rc == ERR_CANCELLED || (rc == ERR_TIMEOUT && deadline_passed(call_deadline(c)))) {
		/* §0.7: closing the stream does not stop the command. */
		struct err de = { 0 };
		bool stopped = os_interrupt(b, c, &ep, "/command", st.id, true, &de) == 0;

		err_clear(e);
		err_set(e, rc, "exec %s; the command (process %s) %s",
		    rc == ERR_CANCELLED ? "was cancelled" : "did not finish before the deadline",
		    st.id, stopped ? "was stopped" : "could not be stopped");
	} else if (rc == ERR_TIMEOUT && req->timeout_ms > 0 && deadline_passed(local_dl)) {
		struct err de = { 0 };

		(void)os_interrupt(b, c, &ep, "/command", st.id, true, &de);
		err_clear(e);
		rc = 0;
		res->exited = false;
		res->timed_out = true;
		res->note = arena_printf(c->a, "killed after the %" PRId64 " ms timeout",
		    req->timeout_ms);
	} else {
		rc = exec_recover(b, c, &ep, &st, res, rc, e);
	}
	st_fini(&st);
	return rc;
}

static int
os_run_code(struct backend *b, const char *id, const struct code_req *req, exec_event_fn fn,
    void *arg, struct code_result *out, struct call *c, struct err *e)
{
	const char *lang = req->language != NULL && *req->language ? req->language : "python";
	int64_t dl = call_deadline(c);
	struct buf bf = { 0 };
	struct os_stream st;
	struct jsonw w;
	const char *body, *url;
	struct ep ep;
	size_t len;
	int rc, hs;

	memset(out, 0, sizeof(*out));
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "context");
	jsonw_obj_begin(&w);
	if (req->context_id != NULL)
		jsonw_kstr(&w, "id", req->context_id);
	jsonw_kstr(&w, "language", lang);
	jsonw_obj_end(&w);
	jsonw_kstr(&w, "code", req->code != NULL ? req->code : "");
	jsonw_obj_end(&w);
	if ((body = jsonw_done(&w, &bf, c, &len, e)) == NULL)
		return e->code;
	if ((url = ep_url(b, c, &ep, "/code", e)) == NULL)
		return e->code;
	if (req->timeout_ms > 0)
		dl = deadline_min(dl, deadline_in_ms(req->timeout_ms));
	st_init(&st, c, MODE_CODE, fn, arg);
	st.cr = out;
	rc = st_run(b, c, &st, &ep, url, body, len, dl, "running code", &hs, e);
	if (rc == 0) {
		out->ok = st.ok;
		if (!st.ok) {
			out->error_name = st.ename;
			out->error_value = st.evalue;
			if (st.tb.len > 0 && fn != NULL) {
				struct exec_event ev = { .type = EXEC_EV_STDERR };

				(void)buf_putc(&st.tb, '\n', NULL);
				ev.data = st.tb.p;
				ev.len = st.tb.len;
				(void)fn(arg, &ev);
			}
		}
	} else if (hs == 500 && strstr(e->msg, "not configured") != NULL) {
		struct http_response none = { .status = 500 };
		const char *d = os_err_detail(&none, st.errbody.p, st.errbody.len, c->a);

		err_clear(e);
		rc = err_set(e, ERR_UNSUPPORTED, "sandbox %s has no code interpreter (500 %s); use "
		    "an opensandbox/code-interpreter image, or exec", id,
		    d != NULL ? d : "not configured");
	} else if (hs == 404 && req->context_id != NULL) {
		rc = os_notfound(e, arena_printf(c->a, "code context %s does not exist in sandbox "
		    "%s", req->context_id, id), "omit context_id to use the default context");
	} else if (hs == 0 && (rc == ERR_CANCELLED || rc == ERR_TIMEOUT)) {
		const char *ctx = st.have_id ? st.id : req->context_id;
		struct err de = { 0 };
		bool stopped = ctx != NULL &&
		    os_interrupt(b, c, &ep, "/code", ctx, true, &de) == 0;

		err_clear(e);
		err_set(e, rc, "run_code %s; the execution %s", rc == ERR_CANCELLED ?
		    "was cancelled" : "did not finish in time", stopped ? "was interrupted" :
		    "could not be interrupted");
	}
	st_fini(&st);
	return rc;
}

/* Code contexts (§3.4) -------------------------------------------------------------- */

#define OS_CTX_PROBE_ID "sandbox-mcp-probe"	/* a context id execd never hands out */
#define OS_CTX_PROBE_MS 15000

/* POST /code/context never answers on an image without Jupyter (execd retries without a
 * cap), so ask first with POST /code for a context that cannot exist: without an
 * interpreter execd says "not configured" at once, with one "context not found". */
static int
os_code_probe(struct backend *b, struct call *c, const char *id, const struct ep *ep,
    const char *lang, struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_EXECD, .ep = ep,
		.ctype = "application/json" };
	struct buf bf = { 0 };
	struct jsonw w;
	int rc, st = 0;

	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "context");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "id", OS_CTX_PROBE_ID);
	jsonw_kstr(&w, "language", lang);
	jsonw_obj_end(&w);
	jsonw_kstr(&w, "code", "");
	jsonw_obj_end(&w);
	if ((r.body = jsonw_done(&w, &bf, c, &r.len, e)) == NULL)
		return e->code;
	if ((r.url = ep_url(b, c, ep, "/code", e)) == NULL)
		return e->code;
	r.deadline = deadline_min(req_deadline(b, c), deadline_in_ms(OS_CTX_PROBE_MS));
	rc = os_json(b, c, &r, 0, "checking for a code interpreter", NULL, &st, e);
	if (rc == 0)
		return 0;
	if (st == 500 && strstr(e->msg, "not configured") != NULL) {
		err_clear(e);
		return err_set(e, ERR_UNSUPPORTED, "sandbox %s has no code interpreter (execd: "
		    "language runtime server not configured), so it has no code contexts; use an "
		    "opensandbox/code-interpreter image, or exec", id);
	}
	if (st == 500 && strstr(e->msg, "unknown language") != NULL) {
		err_clear(e);
		return err_set(e, ERR_INVAL, "execd does not know the language '%s'; use python, "
		    "javascript, typescript, java, go or bash", lang);
	}
	if (st == 404 || st == 500) {	/* "context not found": there is an interpreter */
		err_clear(e);
		return 0;
	}
	return rc;
}

static int
os_code_ctx_create(struct backend *b, const char *id, const char *language, const char *cwd,
    struct code_ctx *out, struct call *c, struct err *e)
{
	const char *lang = language != NULL && *language ? language : "python";
	struct os_rq r = { .method = "POST", .svc = OS_EXECD, .ctype = "application/json" };
	const char *what = arena_printf(c->a, "creating a %s code context", lang);
	struct buf bf = { 0 };
	struct jsonw w;
	struct json *j;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	if (what == NULL)
		return OOM(e);
	if (strcmp(lang, "sql") == 0 || strcmp(lang, "command") == 0 ||
	    strcmp(lang, "background-command") == 0)
		return err_set(e, ERR_INVAL, "execd keeps no code context for '%s'; use python, "
		    "javascript, typescript, java, go or bash", lang);
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	if ((rc = os_code_probe(b, c, id, &ep, lang, e)) != 0)
		return rc;
	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "language", lang);
	if (cwd != NULL && *cwd)
		jsonw_kstr(&w, "cwd", cwd);
	jsonw_obj_end(&w);
	if ((r.body = jsonw_done(&w, &bf, c, &r.len, e)) == NULL)
		return e->code;
	r.ep = &ep;
	if ((r.url = ep_url(b, c, &ep, "/code/context", e)) == NULL)
		return e->code;
	/* Starting a kernel takes seconds; a missing kernel makes execd retry for good. */
	r.deadline = call_deadline(c);
	rc = os_json(b, c, &r, 200, what, &j, NULL, e);
	if (rc == ERR_TIMEOUT) {
		err_clear(e);
		return err_set(e, ERR_TIMEOUT, "execd did not create the %s context in time; the "
		    "sandbox's interpreter may have no %s kernel (execd keeps retrying; "
		    "code_context_list shows the context if it appears later)", lang, lang);
	}
	if (rc != 0)
		return rc;
	out->id = j != NULL ? json_get_str(j, "id") : NULL;
	if (out->id == NULL || *out->id == '\0')
		return err_set(e, ERR_PROTO, "%s: execd answered without a context id", what);
	out->language = json_get_str(j, "language");
	if (out->language == NULL || *out->language == '\0')
		out->language = arena_strdup(c->a, lang);
	return 0;
}

static int
os_code_ctx_list(struct backend *b, const char *id, const char *language,
    struct code_ctx **out, size_t *n, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD };
	const struct json *it;
	const char *path;
	struct code_ctx *v;
	struct json *j;
	struct ep ep;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	/* The language filter is optional in execd (the spec says required). */
	path = language != NULL && *language ?
	    arena_printf(c->a, "/code/contexts?language=%s", qv(c, language)) : "/code/contexts";
	if (path == NULL)
		return OOM(e);
	if ((r.url = ep_url(b, c, &ep, path, e)) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 200, arena_printf(c->a, "listing the code contexts of "
	    "sandbox %s", id), &j, NULL, e)) != 0)
		return rc;
	if (j != NULL && j->type == JSON_NULL)
		j = NULL;
	if (j != NULL && j->type != JSON_ARRAY)
		return err_set(e, ERR_PROTO, "listing code contexts: execd did not answer with a "
		    "list");
	if ((v = arena_zalloc(c->a, ((j != NULL ? j->count : 0) + 1) * sizeof(*v))) == NULL)
		return OOM(e);
	for (it = j != NULL ? j->head : NULL; it != NULL; it = it->next) {
		const char *cid = json_get_str(it, "id");
		bool dup = false;

		if (cid == NULL || *cid == '\0')
			continue;
		/* execd lists a language's default context twice. */
		for (size_t k = 0; k < *n && !dup; k++)
			dup = strcmp(v[k].id, cid) == 0;
		if (dup)
			continue;
		v[*n].id = cid;
		v[*n].language = json_get_str(it, "language");
		(*n)++;
	}
	*out = v;
	return 0;
}

static int
os_code_ctx_delete(struct backend *b, const char *id, const char *ctx_id, struct call *c,
    struct err *e)
{
	struct os_rq r = { .method = "DELETE", .svc = OS_EXECD };
	const char *path;
	struct ep ep;
	int rc;

	if (ctx_id == NULL || *ctx_id == '\0')
		return err_set(e, ERR_INVAL, "the code context id is empty");
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	if ((path = arena_printf(c->a, "/code/contexts/%s", seg(c, ctx_id))) == NULL)
		return OOM(e);
	if ((r.url = ep_url(b, c, &ep, path, e)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 0, arena_printf(c->a, "deleting code context %s", ctx_id), NULL,
	    NULL, e);
	if (rc == ERR_NOTFOUND)
		return os_notfound(e, arena_printf(c->a, "code context %s does not exist in "
		    "sandbox %s", ctx_id, id), "list them with code_context_list");
	return rc;
}

/* Background commands (§0.8, §3.2) -------------------------------------------------- */

static int
os_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n,
    struct call *c, struct err *e)
{
	struct proc_info *pi;
	const char **pids, **cmds;
	size_t cnt = 0, k = 0;
	struct os_bg *g;
	struct ep ep;
	int rc;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&b->mu);
	for (g = b->bgs; g != NULL; g = g->next)
		cnt += strcmp(g->sid, id) == 0;
	pids = arena_alloc(c->a, (cnt + 1) * sizeof(*pids));
	cmds = arena_alloc(c->a, (cnt + 1) * sizeof(*cmds));
	for (g = b->bgs; g != NULL && pids != NULL && cmds != NULL; g = g->next)
		if (strcmp(g->sid, id) == 0 && k < cnt) {
			pids[k] = arena_strdup(c->a, g->pid);
			cmds[k++] = arena_strdup(c->a, g->command);
		}
	pthread_mutex_unlock(&b->mu);
	pi = arena_zalloc(c->a, (cnt + 1) * sizeof(*pi));
	if (pids == NULL || cmds == NULL || pi == NULL)
		return OOM(e);
	if (k == 0)
		return 0;
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	for (size_t i = 0; i < k; i++) {
		struct cmd_status cs;
		struct err se = { 0 };

		if (pids[i] == NULL || cmds[i] == NULL)
			return OOM(e);
		if ((rc = os_cmd_status(b, c, &ep, pids[i], &cs, &se)) != 0) {
			if (rc == ERR_NOTFOUND)
				continue;	/* execd restarted or forgot it */
			return err_set(e, rc, "%s", se.msg);
		}
		pi[*n] = (struct proc_info){ .pid = pids[i], .command = cmds[i],
			.running = cs.running, .has_exit = cs.has_exit, .exit_code = cs.exit_code };
		(*n)++;
	}
	*out = pi;
	return 0;
}

struct logs_rd {
	struct buf *out;
	size_t max, got;
	bool cut;
};

static int
logs_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct logs_rd *lr = arg;
	size_t take = lr->max - lr->got < n ? lr->max - lr->got : n;

	if (take > 0 && buf_append(lr->out, p, take, e) != 0)
		return e->code;
	lr->got += take;
	if (take < n) {
		lr->cut = true;
		return HTTP_STOP;
	}
	return 0;
}

/* GET /command/{pid}/logs?cursor= : bytes from offset, at most max. */
static int
os_logs(struct backend *b, struct call *c, const struct ep *ep, const char *pid,
    uint64_t offset, size_t max, struct proc_output *out, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD, .ep = ep, .on_body = logs_body };
	struct logs_rd lr = { .out = &out->data, .max = max };
	const char *path = arena_printf(c->a, "/command/%s/logs?cursor=%" PRIu64, seg(c, pid),
	    offset);
	struct http_response rs;
	const char *tail;
	int64_t end;
	size_t before = out->data.len;
	int rc;

	if (path == NULL)
		return OOM(e);
	if ((r.url = ep_url(b, c, ep, path, e)) == NULL)
		return e->code;
	r.arg = &lr;
	rc = os_do(b, c, &r, &rs, e);
	if (rc != 0) {
		http_response_fini(&rs);
		return os_net_err(rc, "reading process output", e);
	}
	if (rs.status != 200) {
		/* the body went to logs_body: show it from out->data and take it back */
		rc = os_status_err(b, c, &rs, out->data.p + before, out->data.len - before,
		    OS_EXECD, arena_printf(c->a, "reading the output of process %s", pid), e);
		out->data.len = before;
		if (out->data.p != NULL)
			out->data.p[before] = '\0';
		http_response_fini(&rs);
		return rc;
	}
	tail = http_response_header(&rs, "EXECD-COMMANDS-TAIL-CURSOR");
	if (!lr.cut && tail != NULL && str_to_i64(str_trim(str_from(tail)), &end) &&
	    (uint64_t)end >= offset + lr.got)
		out->next_offset = (uint64_t)end;
	else
		out->next_offset = offset + lr.got;
	http_response_fini(&rs);
	return 0;
}

static int
os_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c, struct err *e)
{
	int64_t until = deadline_in_ms(wait_ms > 0 ? wait_ms : 0);
	struct cmd_status cs;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&out->data, 0);
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	for (;;) {
		/* Status first: when it says "finished", the logs read next are complete. */
		if ((rc = os_cmd_status(b, c, &ep, pid, &cs, e)) != 0)
			return rc;
		rc = os_logs(b, c, &ep, pid, offset, max_bytes, out, e);
		if (rc == ERR_INVAL) {
			err_clear(e);
			return err_set(e, ERR_UNSUPPORTED, "process %s ran in the foreground; its "
			    "output was returned by exec and execd keeps no log of it", pid);
		}
		if (rc != 0)
			return rc;
		out->running = cs.running;
		out->has_exit = cs.has_exit;
		out->exit_code = cs.exit_code;
		if (out->data.len > 0 || !cs.running || wait_ms <= 0 || deadline_passed(until))
			return 0;
		{
			int left = deadline_left_ms(until);

			if ((rc = os_sleep(c, left < OS_PROC_WAIT_POLL_MS ? left :
			    OS_PROC_WAIT_POLL_MS, "waiting for process output", e)) != 0) {
				if (rc == ERR_TIMEOUT) {	/* the call's deadline: return what we have */
					err_clear(e);
					return 0;
				}
				return rc;
			}
		}
	}
}

static int
os_proc_kill(struct backend *b, const char *id, const char *pid, int signo, struct call *c,
    struct err *e)
{
	struct ep ep;
	int rc;

	(void)signo;	/* execd sends SIGTERM, then SIGKILL after 3 s (§3.2) */
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	return os_interrupt(b, c, &ep, "/command", pid, false, e);
}

/* Files (§3.5) ----------------------------------------------------------------------- */

/* "mode" is the octal permission digits written as a decimal number (0644 -> 644). */
static int64_t
mode_to_digits(uint32_t mode)
{
	char s[16];

	snprintf(s, sizeof(s), "%o", mode & 07777);
	return strtoll(s, NULL, 10);
}

static uint32_t
mode_from_digits(int64_t v)
{
	uint32_t m = 0, mul = 1;

	for (; v > 0 && mul <= 07777; v /= 10, mul *= 8) {
		if (v % 10 > 7)
			return 0;
		m += (uint32_t)(v % 10) * mul;
	}
	return m & 07777;
}

static enum file_type
ftype(const char *t)
{
	if (t == NULL)
		return FILE_T_OTHER;
	if (strcmp(t, "file") == 0)
		return FILE_T_FILE;
	if (strcmp(t, "directory") == 0)
		return FILE_T_DIR;
	if (strcmp(t, "symlink") == 0)
		return FILE_T_SYMLINK;
	return FILE_T_OTHER;
}

static void
entry_from_json(const struct json *j, const char *fallback_path, struct file_entry *out)
{
	const char *p = json_get_str(j, "path"), *slash;
	int64_t v;

	memset(out, 0, sizeof(*out));
	out->path = p != NULL ? p : fallback_path;
	slash = out->path != NULL ? strrchr(out->path, '/') : NULL;
	out->name = slash != NULL && slash[1] ? slash + 1 : out->path;
	out->type = ftype(json_get_str(j, "type"));
	out->size = json_int(json_get(j, "size"), &v) ? v : 0;
	out->mode = json_int(json_get(j, "mode"), &v) ? mode_from_digits(v) : 0;
	out->modified_at = json_time(j, "modified_at");
}

static const char *
execd_url(struct backend *b, struct call *c, const struct ep *ep, struct err *e,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static const char *
execd_url(struct backend *b, struct call *c, const struct ep *ep, struct err *e,
    const char *fmt, ...)
{
	va_list ap;
	char *path;

	va_start(ap, fmt);
	path = arena_vprintf(c->a, fmt, ap);
	va_end(ap);
	if (path == NULL) {
		OOM(e);
		return NULL;
	}
	return ep_url(b, c, ep, path, e);
}

struct upload {
	const char *head, *tail;
	const char *data;
	size_t len, off;
	int stage;
};

static int
upload_produce(void *arg, struct buf *out, struct err *e)
{
	struct upload *u = arg;
	size_t n;

	switch (u->stage) {
	case 0:
		u->stage = 1;
		return buf_puts(out, u->head, e);
	case 1:
		n = u->len - u->off < (256u << 10) ? u->len - u->off : (256u << 10);
		if (n > 0) {
			u->off += n;
			return buf_append(out, u->data + u->off - n, n, e);
		}
		u->stage = 2;
		/* fall through */
	case 2:
		u->stage = 3;
		return buf_puts(out, u->tail, e);
	default:
		return 0;
	}
}

/* POST /files/upload (§0.9): a metadata part that is a file part, then the file. */
static int
os_upload(struct backend *b, struct call *c, const struct ep *ep, const char *path,
    const void *data, size_t len, uint32_t mode, struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_EXECD, .ep = ep, .prod = upload_produce };
	struct buf mb = { 0 };
	struct upload u = { .data = data, .len = len };
	struct jsonw w;
	char bnd[64], *fname, *f;
	const char *meta, *slash = strrchr(path, '/');
	size_t mlen;

	snprintf(bnd, sizeof(bnd), "sandbox-mcp-%016" PRIx64 "%08x", time_wall_ms(),
	    atomic_fetch_add(&os_seq, 1));
	jsonw_init(&w, &mb);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "path", path);
	jsonw_kint(&w, "mode", mode_to_digits(mode == FILE_MODE_DEFAULT ? 0644 : mode));
	jsonw_obj_end(&w);
	if ((meta = jsonw_done(&w, &mb, c, &mlen, e)) == NULL)
		return e->code;
	fname = arena_strdup(c->a, slash != NULL && slash[1] ? slash + 1 : "file");
	for (f = fname; f != NULL && *f; f++)
		if (*f == '"' || *f == '\\' || (unsigned char)*f < 0x20)
			*f = '_';
	u.head = arena_printf(c->a, "--%s\r\nContent-Disposition: form-data; name=\"metadata\"; "
	    "filename=\"metadata\"\r\nContent-Type: application/json\r\n\r\n%s\r\n--%s\r\n"
	    "Content-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
	    "Content-Type: application/octet-stream\r\n\r\n", bnd, meta, bnd, fname ? fname : "file");
	u.tail = arena_printf(c->a, "\r\n--%s--\r\n", bnd);
	r.ctype = arena_printf(c->a, "multipart/form-data; boundary=%s", bnd);
	r.parg = &u;
	r.deadline = call_deadline(c);	/* big files: bounded by the call and the idle timeout */
	r.idle_ms = OS_STREAM_IDLE_MS;
	r.url = ep_url(b, c, ep, "/files/upload", e);
	if (u.head == NULL || u.tail == NULL || r.ctype == NULL || fname == NULL)
		return OOM(e);
	if (r.url == NULL)
		return e->code;
	return os_json(b, c, &r, 0, arena_printf(c->a, "writing %s", path), NULL, NULL, e);
}

static int os_file_stat(struct backend *b, const char *id, const char *path,
    struct file_entry *out, struct call *c, struct err *e);

/* 'it'\''s' for the shell. */
static const char *
sh_quote(struct call *c, const char *s)
{
	struct buf o = { 0 };
	char *r;

	buf_putc(&o, '\'', NULL);
	for (; *s; s++) {
		if (*s == '\'')
			buf_puts(&o, "'\\''", NULL);
		else
			buf_putc(&o, *s, NULL);
	}
	buf_putc(&o, '\'', NULL);
	r = o.p != NULL ? arena_strndup(c->a, o.p, o.len) : NULL;
	buf_fini(&o);
	return r;
}

struct chmod_out {
	char err[256];
	size_t n;
};

static int
chmod_event(void *arg, const struct exec_event *ev)
{
	struct chmod_out *o = arg;
	size_t take;

	if (ev->type == EXEC_EV_STDERR || ev->type == EXEC_EV_STDOUT) {
		take = sizeof(o->err) - 1 - o->n < ev->len ? sizeof(o->err) - 1 - o->n : ev->len;
		memcpy(o->err + o->n, ev->data, take);
		o->n += take;
		o->err[o->n] = '\0';
	}
	return 0;
}

/* execd reads mode 0 as "leave the mode alone" in uploads and in /files/permissions
 * (§3.5), so mode 0000 is set with chmod, run in the file's directory on its base name. */
static int
os_chmod_zero(struct backend *b, const char *id, const char *path, struct call *c,
    struct err *e)
{
	const char *slash = strrchr(path, '/');
	struct exec_req req = { .timeout_ms = 30000 };
	struct exec_result res;
	struct chmod_out o = { .n = 0 };
	int rc;

	req.cwd = slash == NULL ? NULL : slash == path ? "/" :
	    arena_strndup(c->a, path, (size_t)(slash - path));
	req.command = arena_printf(c->a, "chmod 0 -- %s", sh_quote(c, slash ? slash + 1 : path));
	if (req.command == NULL || (slash != NULL && req.cwd == NULL))
		return OOM(e);
	if ((rc = os_exec(b, id, &req, chmod_event, &o, &res, c, e)) != 0) {
		err_prefix(e, "%s was written, but setting its mode to 0000 failed: ", path);
		return rc;
	}
	if (!res.exited || res.exit_code != 0) {
		struct str t = str_trim(str_from(o.err));

		return err_set(e, ERR_BACKEND, "%s was written, but setting its mode to 0000 failed "
		    "(chmod: %.*s)", path, t.len > 0 ? (int)t.len : 9, t.len > 0 ? t.p : "no output");
	}
	return 0;
}

static int
os_file_write(struct backend *b, const char *id, const char *path, const void *data, size_t len,
    uint32_t mode, struct call *c, struct err *e)
{
	uint32_t m = mode & 07777;
	struct file_entry fe;
	struct ep ep;
	int rc;

	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	if (mode == FILE_MODE_DEFAULT) {
		struct err se = { 0 };

		/* 0644 for a new file; an existing one keeps its mode (upload mode 0 leaves
		 * it alone, as a file is rewritten in place). */
		m = os_file_stat(b, id, path, &fe, c, &se) == 0 ? 0 : 0644;
	}
	rc = os_upload(b, c, &ep, path, data, len, m, e);
	if (rc == ERR_BACKEND && strstr(e->msg, "is a directory") != NULL) {
		err_clear(e);
		rc = err_set(e, ERR_EXISTS, "%s is a directory; choose a file path", path);
	}
	if (rc == 0 && mode != FILE_MODE_DEFAULT && m == 0)
		rc = os_chmod_zero(b, id, path, c, e);
	return rc;
}

static int
os_file_stat(struct backend *b, const char *id, const char *path, struct file_entry *out,
    struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD };
	struct json *j;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	if ((r.url = execd_url(b, c, &ep, e, "/files/info?path=%s", qv(c, path))) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 200, arena_printf(c->a, "stat %s", path), &j, NULL, e);
	if (rc == ERR_NOTFOUND)
		return os_notfound(e, arena_printf(c->a, "%s does not exist", path), NULL);
	if (rc != 0)
		return rc;
	if (j == NULL || j->type != JSON_OBJECT || j->head == NULL)
		return err_set(e, ERR_PROTO, "stat %s: execd answered without file info", path);
	entry_from_json(j->head, path, out);
	return 0;
}

struct dl {
	struct http_response *rs;
	struct buf *out;
	struct buf err;
	uint64_t offset, skip;
	size_t max, got;
	bool started;
};

static int
dl_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct dl *d = arg;
	size_t take;

	if (d->rs->status != 200 && d->rs->status != 206) {
		take = OS_ERR_BODY_MAX - d->err.len < n ? OS_ERR_BODY_MAX - d->err.len : n;
		(void)buf_append(&d->err, p, take, NULL);
		return 0;
	}
	if (!d->started) {
		d->started = true;
		if (d->rs->status == 200)
			d->skip = d->offset;
	}
	if (d->skip > 0) {	/* a server that ignored Range */
		take = d->skip < n ? (size_t)d->skip : n;
		d->skip -= take;
		p += take;
		n -= take;
	}
	take = d->max - d->got < n ? d->max - d->got : n;
	if (take > 0 && buf_append(d->out, p, take, e) != 0)
		return e->code;
	d->got += take;
	return d->got >= d->max ? HTTP_STOP : 0;
}

static int
os_file_read(struct backend *b, const char *id, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD, .on_body = dl_body,
		.idle_ms = OS_STREAM_IDLE_MS };
	struct http_response rs;
	struct dl d = { .out = out, .max = max_bytes, .offset = offset };
	struct file_entry fe;
	const char *what = arena_printf(c->a, "reading %s", path);
	struct ep ep;
	int rc;

	*size = -1;
	if (max_bytes == 0) {
		if ((rc = os_file_stat(b, id, path, &fe, c, e)) != 0)
			return rc;
		*size = fe.size;
		return 0;
	}
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	r.url = execd_url(b, c, &ep, e, "/files/download?path=%s", qv(c, path));
	r.range = arena_printf(c->a, "bytes=%" PRIu64 "-%" PRIu64, offset,
	    offset + (uint64_t)max_bytes - 1);
	if (r.url == NULL)
		return e->code;
	if (r.range == NULL || what == NULL)
		return OOM(e);
	buf_init(&d.err, OS_ERR_BODY_MAX);
	d.rs = &rs;
	r.arg = &d;
	/* The body is capped by dl_body; let http not cap it lower. */
	r.body_max = (size_t)-1 / 2;
	r.deadline = call_deadline(c);
	rc = os_do(b, c, &r, &rs, e);
	if (rc != 0) {
		rc = os_net_err(rc, what, e);
	} else if (rs.status == 206) {
		*size = http_content_range_size(http_response_header(&rs, "Content-Range"));
	} else if (rs.status == 200) {	/* the Range was ignored; dl_body skipped */
		*size = rs.content_length >= 0 ? rs.content_length : -1;
	} else if (rs.status == 416) {
		*size = http_content_range_size(http_response_header(&rs, "Content-Range"));
	} else {
		rc = os_status_err(b, c, &rs, d.err.p, d.err.len, OS_EXECD, what, e);
		if (rc == ERR_NOTFOUND)
			rc = os_notfound(e, arena_printf(c->a, "%s does not exist", path), NULL);
		else if (strstr(e->msg, "is a directory") != NULL) {
			err_clear(e);
			rc = err_set(e, ERR_INVAL, "%s is a directory; list it with file_list", path);
		}
	}
	http_response_fini(&rs);
	buf_fini(&d.err);
	if (rc == 0 && *size < 0) {
		if ((rc = os_file_stat(b, id, path, &fe, c, e)) == 0)
			*size = fe.size;
	}
	return rc;
}

static int
os_file_list(struct backend *b, const char *id, const char *path, int depth,
    struct file_list *out, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD };
	const struct json *it;
	struct json *j;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	r.body_max = 64u << 20;
	if ((r.url = execd_url(b, c, &ep, e, "/directories/list?path=%s&depth=%d", qv(c, path),
	    depth < 1 ? 1 : depth)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 200, arena_printf(c->a, "listing %s", path), &j, NULL, e);
	if (rc == ERR_NOTFOUND)
		return os_notfound(e, arena_printf(c->a, "%s does not exist", path), NULL);
	if (rc != 0)
		return rc;
	if (j == NULL || j->type != JSON_ARRAY)
		return err_set(e, ERR_PROTO, "listing %s: execd did not answer with a list", path);
	out->items = arena_zalloc(c->a, (j->count < OS_FILE_LIST_MAX ? j->count :
	    OS_FILE_LIST_MAX) * sizeof(*out->items) + sizeof(*out->items));
	if (out->items == NULL)
		return OOM(e);
	for (it = j->head; it != NULL; it = it->next) {
		if (out->n == OS_FILE_LIST_MAX) {
			out->truncated = true;
			break;
		}
		entry_from_json(it, NULL, &out->items[out->n]);
		if (out->items[out->n].path != NULL)
			out->n++;
	}
	return 0;
}

static int
os_file_mkdir(struct backend *b, const char *id, const char *path, bool *created,
    struct call *c, struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_EXECD, .ctype = "application/json" };
	struct file_entry fe;
	struct buf bf = { 0 };
	struct jsonw w;
	struct ep ep;
	int rc;

	*created = false;
	rc = os_file_stat(b, id, path, &fe, c, e);
	if (rc == 0 && fe.type == FILE_T_DIR)
		return 0;
	if (rc == 0)
		return err_set(e, ERR_EXISTS, "%s exists and is not a directory", path);
	if (rc != ERR_NOTFOUND)
		return rc;
	err_clear(e);
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_key(&w, path);
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "mode", 755);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if ((r.body = jsonw_done(&w, &bf, c, &r.len, e)) == NULL)
		return e->code;
	r.ep = &ep;
	if ((r.url = ep_url(b, c, &ep, "/directories", e)) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 0, arena_printf(c->a, "creating directory %s", path), NULL,
	    NULL, e)) != 0)
		return rc;
	*created = true;
	return 0;
}

static int
os_file_move(struct backend *b, const char *id, const char *src, const char *dst,
    struct call *c, struct err *e)
{
	struct os_rq r = { .method = "POST", .svc = OS_EXECD, .ctype = "application/json" };
	struct buf bf = { 0 };
	struct jsonw w;
	struct ep ep;
	int rc, st = 0;

	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	jsonw_init(&w, &bf);
	jsonw_arr_begin(&w);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "src", src);
	jsonw_kstr(&w, "dest", dst);
	jsonw_obj_end(&w);
	jsonw_arr_end(&w);
	if ((r.body = jsonw_done(&w, &bf, c, &r.len, e)) == NULL)
		return e->code;
	r.ep = &ep;
	if ((r.url = ep_url(b, c, &ep, "/files/mv", e)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 0, arena_printf(c->a, "moving %s to %s", src, dst), NULL, &st, e);
	if (rc == ERR_NOTFOUND)
		return os_notfound(e, arena_printf(c->a, "%s does not exist", src), NULL);
	if (rc != 0 && st == 500 && strstr(e->msg, "already exists") != NULL) {
		err_clear(e);
		return err_set(e, ERR_EXISTS, "%s already exists (execd: destination path already "
		    "exists); remove it first or choose another destination", dst);
	}
	return rc;
}

static int
os_file_remove(struct backend *b, const char *id, const char *path, bool *removed,
    struct call *c, struct err *e)
{
	struct os_rq r = { .method = "DELETE", .svc = OS_EXECD };
	struct file_entry fe;
	struct ep ep;
	int rc;

	*removed = false;
	rc = os_file_stat(b, id, path, &fe, c, e);
	if (rc == ERR_NOTFOUND) {
		err_clear(e);
		return 0;
	}
	if (rc != 0)
		return rc;
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	/* DELETE /files refuses directories; DELETE /directories is rm -rf (§3.5). */
	if ((r.url = execd_url(b, c, &ep, e, "%s?path=%s", fe.type == FILE_T_DIR ?
	    "/directories" : "/files", qv(c, path))) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 0, arena_printf(c->a, "removing %s", path), NULL, NULL,
	    e)) != 0)
		return rc;
	*removed = true;
	return 0;
}

static int
os_file_search(struct backend *b, const char *id, const char *path, const char *pattern,
    struct file_search *out, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD, .body_max = 64u << 20 };
	const char *last = strrchr(pattern, '/'), *root;
	const struct json *it;
	size_t rl;
	struct json *j;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	/* execd matches base names only (§3.5): ask it for the last segment, then match
	 * the whole pattern against paths relative to `path` here. */
	if ((r.url = execd_url(b, c, &ep, e, "/files/search?path=%s&pattern=%s", qv(c, path),
	    qv(c, last != NULL ? last + 1 : pattern))) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 200, arena_printf(c->a, "searching %s", path), &j, NULL, e);
	if (rc == ERR_NOTFOUND)
		return os_notfound(e, arena_printf(c->a, "%s does not exist", path), NULL);
	if (rc != 0)
		return rc;
	if (j == NULL || j->type != JSON_ARRAY)
		return err_set(e, ERR_PROTO, "searching %s: execd did not answer with a list", path);
	root = path[0] == '/' ? path : arena_printf(c->a, "/%s", path);
	if (root == NULL)
		return OOM(e);
	for (rl = strlen(root); rl > 0 && root[rl - 1] == '/'; rl--)
		;
	out->matches = arena_alloc(c->a, (j->count + 1) * sizeof(*out->matches));
	if (out->matches == NULL)
		return OOM(e);
	for (it = j->head; it != NULL; it = it->next) {
		const char *p = json_get_str(it, "path"), *rel;

		if (p == NULL)
			continue;
		if (last != NULL) {
			rel = strncmp(p, root, rl) == 0 && p[rl] == '/' ? p + rl + 1 : p + (p[0] == '/');
			if (!glob_match(pattern, rel))
				continue;
		}
		if (out->n == OS_SEARCH_MAX) {
			out->truncated = true;
			break;
		}
		out->matches[out->n++] = p;
	}
	return 0;
}

/* Egress sidecar (§4) ----------------------------------------------------------------- */

static int
no_sidecar(struct call *c, const char *id, struct err *e)
{
	err_clear(e);
	(void)c;
	return err_set(e, ERR_UNSUPPORTED, "sandbox %s has no egress sidecar: OpenSandbox "
	    "starts one only when a sandbox is created with a network policy, so its policy "
	    "can only be set at create; create a new sandbox with network {default, allow, "
	    "deny}", id);
}

/* One request to the egress sidecar; 502/503 and refused connections mean "no sidecar". */
static int
egress_call(struct backend *b, struct call *c, const char *id, const char *method,
    const char *body, struct json **out, struct err *e)
{
	struct os_rq r = { .method = method, .svc = OS_EGRESS };
	const char *what = arena_printf(c->a, "%s network policy of sandbox %s",
	    strcmp(method, "GET") == 0 ? "reading the" : "changing the", id);
	struct ep ep;
	int rc, st = 0;

	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EGRESS_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	if (body != NULL) {
		r.body = body;
		r.len = strlen(body);
		r.ctype = "application/json";
	}
	if ((r.url = ep_url(b, c, &ep, "/policy", e)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 200, what, out, &st, e);
	if (rc != 0 && (st == 502 || st == 503 || (st == 0 && rc == ERR_IO))) {
		ep_forget(b, id, OPENSANDBOX_EGRESS_PORT);
		return no_sidecar(c, id, e);
	}
	return rc;
}

static int
policy_from_json(struct call *c, const struct json *pol, struct net_policy *out, struct err *e)
{
	const struct json *rules = json_get(pol, "egress"), *it;
	const char *da = json_get_str(pol, "defaultAction");
	size_t n = rules != NULL && rules->type == JSON_ARRAY ? rules->count : 0;

	memset(out, 0, sizeof(*out));
	out->default_action = da != NULL && strcmp(da, "allow") == 0 ? 1 : 0;
	out->allow = arena_alloc(c->a, (n + 1) * sizeof(*out->allow));
	out->deny = arena_alloc(c->a, (n + 1) * sizeof(*out->deny));
	if (out->allow == NULL || out->deny == NULL)
		return OOM(e);
	for (it = n > 0 ? rules->head : NULL; it != NULL; it = it->next) {
		const char *a = json_get_str(it, "action"), *t = json_get_str(it, "target");

		if (t == NULL)
			continue;
		if (a != NULL && strcmp(a, "allow") == 0)
			out->allow[out->nallow++] = t;
		else
			out->deny[out->ndeny++] = t;
	}
	return 0;
}

static int
os_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c,
    struct err *e)
{
	struct json *j;
	int rc;

	if ((rc = egress_call(b, c, id, "GET", NULL, &j, e)) != 0)
		return rc;
	if (j == NULL || json_get(j, "policy") == NULL)
		return err_set(e, ERR_PROTO, "the egress sidecar of sandbox %s sent no policy", id);
	return policy_from_json(c, json_get(j, "policy"), out, e);
}

static bool
target_in(const struct net_policy *np, const char *t)
{
	for (size_t i = 0; i < np->nallow; i++)
		if (strcasecmp(np->allow[i], t) == 0)
			return true;
	for (size_t i = 0; i < np->ndeny; i++)
		if (strcasecmp(np->deny[i], t) == 0)
			return true;
	return false;
}

static void
write_rule_list(struct jsonw *w, const char *action, const char *const *t, size_t n,
    const struct net_policy *skip)
{
	for (size_t i = 0; i < n; i++) {
		if (skip != NULL && target_in(skip, t[i]))
			continue;
		jsonw_obj_begin(w);
		jsonw_kstr(w, "action", action);
		jsonw_kstr(w, "target", t[i]);
		jsonw_obj_end(w);
	}
}

static int
os_net_set(struct backend *b, const char *id, const struct net_policy *req, bool replace,
    struct net_policy *out, struct call *c, struct err *e)
{
	struct net_policy cur = { .default_action = -1 };
	struct buf bf = { 0 };
	struct jsonw w;
	const char *body;
	size_t len;
	int rc;

	if (!replace && req->default_action < 0) {
		/* PATCH merges rules and keeps defaultAction (§4). */
		if (req->nallow + req->ndeny > 0) {
			jsonw_init(&w, &bf);
			jsonw_arr_begin(&w);
			write_rule_list(&w, "deny", req->deny, req->ndeny, NULL);
			write_rule_list(&w, "allow", req->allow, req->nallow, NULL);
			jsonw_arr_end(&w);
			if ((body = jsonw_done(&w, &bf, c, &len, e)) == NULL)
				return e->code;
			if ((rc = egress_call(b, c, id, "PATCH", body, NULL, e)) != 0)
				return rc;
		}
		return os_net_get(b, id, out, c, e);
	}
	/* A new defaultAction or a replacement: POST the whole policy. */
	if ((rc = os_net_get(b, id, &cur, c, e)) != 0)
		return rc;
	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "defaultAction", (req->default_action >= 0 ? req->default_action :
	    cur.default_action) == 1 ? "allow" : "deny");
	jsonw_key(&w, "egress");
	jsonw_arr_begin(&w);
	write_rule_list(&w, "deny", req->deny, req->ndeny, NULL);
	write_rule_list(&w, "allow", req->allow, req->nallow, NULL);
	if (!replace) {		/* keep the rules the request does not override */
		write_rule_list(&w, "deny", cur.deny, cur.ndeny, req);
		write_rule_list(&w, "allow", cur.allow, cur.nallow, req);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	if ((body = jsonw_done(&w, &bf, c, &len, e)) == NULL)
		return e->code;
	if ((rc = egress_call(b, c, id, "POST", body, NULL, e)) != 0)
		return rc;
	return os_net_get(b, id, out, c, e);
}

static int
os_metrics(struct backend *b, const char *id, struct sb_metrics *out, struct call *c,
    struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD };
	struct json *j;
	struct ep ep;
	double v;
	int64_t t;
	int rc;

	memset(out, 0, sizeof(*out));
	out->cpu_used_pct = -1;
	out->mem_total_bytes = out->mem_used_bytes = -1;
	out->disk_total_bytes = out->disk_used_bytes = -1;
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	if ((r.url = ep_url(b, c, &ep, "/metrics", e)) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 200, arena_printf(c->a, "reading metrics of sandbox %s", id),
	    &j, NULL, e)) != 0)
		return rc;
	if (j == NULL)
		return err_set(e, ERR_PROTO, "execd sent empty metrics");
	if (json_double(json_get(j, "cpu_count"), &v))
		out->cpu_count = v;
	if (json_double(json_get(j, "cpu_used_pct"), &v))
		out->cpu_used_pct = v;
	if (json_double(json_get(j, "mem_total_mib"), &v))
		out->mem_total_bytes = (int64_t)(v * 1048576.0);
	if (json_double(json_get(j, "mem_used_mib"), &v))
		out->mem_used_bytes = (int64_t)(v * 1048576.0);
	out->timestamp = json_int(json_get(j, "timestamp"), &t) ? t : time_wall_ms();
	return 0;
}

/* Constructor ------------------------------------------------------------------------- */

static void
os_free(struct backend *b)
{
	struct os_ep *p, *pn;
	struct os_bg *g, *gn;

	if (b == NULL)
		return;
	http_client_free(b->http);
	for (p = b->eps; p != NULL; p = pn) {
		pn = p->next;
		ep_free(p);
	}
	for (g = b->bgs; g != NULL; g = gn) {
		gn = g->next;
		free(g->sid);
		free(g->pid);
		free(g->command);
		free(g);
	}
	for (size_t i = 0; i < b->nextra; i++) {
		free((char *)b->extra[i].name);
		free((char *)b->extra[i].value);
	}
	pthread_mutex_destroy(&b->mu);
	free(b->lc_base);
	free(b->scheme);
	free(b->api_key);
	free(b->access_token);
	free(b);
}

static const struct backend_ops os_ops = {
	.name = "opensandbox",
	.create = os_create,
	.list = os_list,
	.info = os_info,
	.kill = os_kill,
	.pause = os_pause,
	.resume = os_resume,
	.set_timeout = os_set_timeout,
	.url = os_url,
	.metrics = os_metrics,
	.exec = os_exec,
	.proc_list = os_proc_list,
	.proc_output = os_proc_output,
	.proc_stdin = NULL,		/* execd gives commands /dev/null as stdin */
	.proc_kill = os_proc_kill,
	.run_code = os_run_code,
	.code_ctx_create = os_code_ctx_create,
	.code_ctx_list = os_code_ctx_list,
	.code_ctx_delete = os_code_ctx_delete,
	.file_read = os_file_read,
	.file_write = os_file_write,
	.file_list = os_file_list,
	.file_stat = os_file_stat,
	.file_mkdir = os_file_mkdir,
	.file_move = os_file_move,
	.file_remove = os_file_remove,
	.file_search = os_file_search,
	.net_get = os_net_get,
	.net_set = os_net_set,
	.free = os_free,
};

/* localhost and loopback addresses default to http, everything else to https. */
static bool
is_loopback(const char *domain)
{
	char host[256];
	size_t n;

	if (domain[0] == '[') {
		n = strcspn(domain + 1, "]");
		snprintf(host, sizeof(host), "%.*s", (int)n, domain + 1);
	} else {
		n = strcspn(domain, ":/");
		snprintf(host, sizeof(host), "%.*s", (int)n, domain);
	}
	return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	    strcmp(host, "::1") == 0;
}

int
opensandbox_backend_new(const struct config *cfg, struct backend_handle *out, struct err *e)
{
	struct http_config hc = { 0 };
	struct backend *b = xcalloc(1, sizeof(*b));
	struct arena *a = arena_new(64 * 1024);
	const char *domain = cfg->domain != NULL && *cfg->domain ? cfg->domain :
	    OPENSANDBOX_DEFAULT_DOMAIN;
	struct url u;
	size_t n;
	int rc = 0;

	pthread_mutex_init(&b->mu, NULL);
	if (strstr(domain, "://") != NULL) {
		rc = err_set(e, ERR_INVAL, "--domain takes host[:port] without a scheme (got "
		    "'%.80s'); use --scheme or --api-url", domain);
		goto fail;
	}
	if (cfg->scheme != NULL)
		b->scheme = xstrdup(cfg->scheme);
	else if (cfg->api_url != NULL && strncasecmp(cfg->api_url, "http://", 7) == 0)
		b->scheme = xstrdup("http");
	else
		b->scheme = xstrdup(is_loopback(domain) ? "http" : "https");
	if (cfg->api_url != NULL && *cfg->api_url) {
		b->lc_base = xstrdup(cfg->api_url);
	} else {
		b->lc_base = xmalloc(strlen(b->scheme) + strlen(domain) + 8);
		sprintf(b->lc_base, "%s://%s/v1", b->scheme, domain);
	}
	for (n = strlen(b->lc_base); n > 0 && b->lc_base[n - 1] == '/'; n--)
		b->lc_base[n - 1] = '\0';
	if ((rc = url_parse(b->lc_base, &u, a, e)) != 0) {
		err_prefix(e, "the OpenSandbox lifecycle URL is not valid: ");
		goto fail;
	}
	if (u.query != NULL) {
		rc = err_set(e, ERR_INVAL, "--api-url must not have a query");
		goto fail;
	}
	for (size_t i = 0; i < cfg->nheaders; i++) {
		const char *eq = strchr(cfg->headers[i], '=');

		if (eq == NULL || eq == cfg->headers[i]) {
			rc = err_set(e, ERR_INVAL, "--header wants NAME=VALUE");
			goto fail;
		}
		b->extra[b->nextra].name = xstrndup(cfg->headers[i], (size_t)(eq - cfg->headers[i]));
		b->extra[b->nextra++].value = xstrdup(eq + 1);
	}
	if (cfg->api_key != NULL && *cfg->api_key)
		b->api_key = xstrdup(cfg->api_key);
	if (cfg->access_token != NULL && *cfg->access_token)
		b->access_token = xstrdup(cfg->access_token);
	b->use_proxy = cfg->use_server_proxy;
	b->timeout_ms = cfg->timeout_s > 0 ? cfg->timeout_s * 1000 : 60000;
	hc.ca_file = cfg->ca_file;
	hc.insecure = cfg->insecure;
	hc.user_agent = "sandbox-mcp/" SANDBOX_MCP_VERSION;
	if ((b->http = http_client_new(&hc, e)) == NULL) {
		rc = e->code ? e->code : ERR_INVAL;
		goto fail;
	}
	arena_free(a);
	out->ops = &os_ops;
	out->b = b;
	log_msg(LOG_INFO, "opensandbox", "lifecycle API %s%s", b->lc_base,
	    b->api_key ? " (with API key)" : " (no API key)");
	return 0;
fail:
	arena_free(a);
	os_free(b);
	return rc;
}
