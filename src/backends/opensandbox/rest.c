/*
 * rest.c -- requests to OpenSandbox's three services (the lifecycle server, execd and the
 * egress sidecar): the headers and the time limit each request gets, then the shared core
 * (backends/common/rest.h) sends it, retries by its rule and turns a non-success answer
 * or bad JSON into a sentence; plus lifecycle URLs and JSON bodies.
 *
 * Choices:
 *   - The API key goes to the lifecycle server only, never to execd or egress (they run
 *     inside the sandbox, next to untrusted code). The Go SDK copies it into the execd
 *     token in server-proxy mode; we send --access-token instead when one is set.
 */
#include "backends/opensandbox/internal.h"

#include <inttypes.h>
#include <string.h>

#include "util/time.h"

#define OS_CLEANUP_MS 15000 /* DELETEs sent after a failure or a cancel */

atomic_uint os_seq;

const struct rest_peer os_peers[] = {
	[OS_LC] = { "the OpenSandbox server", "set OPEN_SANDBOX_API_KEY or --api-key" },
	[OS_EXECD] = { "the sandbox's execd",
	    "set --access-token to the sandbox's execd access token" },
	[OS_EGRESS] = { "the egress sidecar", NULL },
};

/* r as the core's request: OpenSandbox's headers (in c->a), its peer and its time limit. */
static int
os_rest_req(struct backend *b, struct call *c, const struct os_rq *r, const char *what,
    struct rest_req *rr, struct err *e)
{
	struct http_header *h;
	size_t n = 0, cap = b->nextra + 5 + (r->ep != NULL ? r->ep->nh : 0);
	char *rid;

	h = arena_alloc(c->a, cap * sizeof(*h));
	if (h == NULL)
		return OOM(e);
	for (size_t i = 0; i < b->nextra; i++)
		h[n++] = b->extra[i];
	if (r->svc == OS_LC) {
		if (b->api_key != NULL)
			h[n++] = (struct http_header){ "OPEN-SANDBOX-API-KEY", b->api_key };
		rid = arena_printf(c->a, "sandbox-mcp-%" PRIx64 "-%x", time_wall_ms(),
		    atomic_fetch_add(&os_seq, 1));
		if (rid == NULL)
			return OOM(e);
		h[n++] = (struct http_header){ "X-Request-ID", rid };
	} else if (r->svc == OS_EXECD && b->access_token != NULL) {
		h[n++] = (struct http_header){ "X-EXECD-ACCESS-TOKEN", b->access_token };
	}
	if (r->ep != NULL)
		for (size_t i = 0; i < r->ep->nh; i++)
			h[n++] = r->ep->h[i];
	if (r->range != NULL)
		h[n++] = (struct http_header){ "Range", r->range };
	h[n++] = (struct http_header){ "Accept", "application/json, text/event-stream, */*" };

	*rr = (struct rest_req){ .method = r->method,
		.url = r->url,
		.headers = h,
		.nheaders = n,
		.body = r->body,
		.len = r->len,
		.ctype = r->ctype,
		.producer = r->producer,
		.producer_arg = r->producer_arg,
		.on_body = r->on_body,
		.arg = r->arg,
		.cleanup = r->cleanup,
		.deadline = r->deadline,
		.timeout_ms = b->timeout_ms,
		.idle_ms = r->idle_ms,
		.body_max = r->body_max,
		.peer = &os_peers[r->svc],
		.what = what };
	if (r->timeout_ms > 0 && (rr->timeout_ms <= 0 || r->timeout_ms < rr->timeout_ms))
		rr->timeout_ms = r->timeout_ms;
	if (r->cleanup)
		rr->timeout_ms = OS_CLEANUP_MS;
	return 0;
}

int
os_do(struct backend *b, struct call *c, const struct os_rq *r, const char *what,
    struct http_response *rs, struct err *e)
{
	struct rest_req rr;
	int rc;

	memset(rs, 0, sizeof(*rs));
	if ((rc = os_rest_req(b, c, r, what, &rr, e)) != 0)
		return rc;
	return rest_send(b->http, &rr, c, rs, e);
}

int
os_json(struct backend *b, struct call *c, const struct os_rq *r, int ok_status, const char *what,
    const struct json **out, int *status, struct err *e)
{
	struct rest_answer ans = { 0 };
	struct rest_req rr;
	int rc;

	if ((rc = os_rest_req(b, c, r, what, &rr, e)) == 0) {
		rr.want_status = ok_status;
		rc = rest_json(b->http, &rr, c, &ans, e);
	}
	if (out != NULL)
		*out = ans.j;
	if (status != NULL)
		*status = ans.status;
	return rc;
}

char *
os_lc_url(struct backend *b, struct call *c, const char *fmt, ...)
{
	va_list ap;
	char *path;

	va_start(ap, fmt);
	path = arena_vprintf(c->a, fmt, ap);
	va_end(ap);
	return path != NULL ? arena_printf(c->a, "%s%s", b->lc_base, path) : NULL;
}

const char *
os_pct(struct call *c, const char *s, enum url_part part)
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

const char *
os_jsonw_done(struct jsonw *w, struct buf *bf, struct call *c, size_t *len, struct err *e)
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
