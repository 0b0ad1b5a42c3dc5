/*
 * rest.c -- requests to OpenSandbox's three services (the lifecycle server, execd and the
 * egress sidecar): the headers each one gets, deadlines, non-success answers turned into
 * sentences, lifecycle URLs and JSON bodies.
 *
 * Choices:
 *   - The API key goes to the lifecycle server only, never to execd or egress (they run
 *     inside the sandbox, next to untrusted code). The Go SDK copies it into the execd
 *     token in server-proxy mode; we send --access-token instead when one is set.
 */
#include "backends/opensandbox/internal.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

#define OS_JSON_BODY_MAX (8u << 20)	/* lifecycle and execd JSON answers */
#define OS_CLEANUP_MS 15000		/* DELETEs sent after a failure or a cancel */

atomic_uint os_seq;

int64_t
os_req_deadline(const struct backend *b, const struct call *c)
{
	return deadline_min(call_deadline(c), deadline_in_ms(b->timeout_ms));
}

int
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

int
os_do(struct backend *b, struct call *c, const struct os_rq *r, struct http_response *rs,
    struct err *e)
{
	struct http_header *h;
	struct http_request rq;
	size_t n = 0, cap = b->nextra + 8 + (r->ep != NULL ? r->ep->nh : 0);
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
	    (r->cleanup ? deadline_in_ms(OS_CLEANUP_MS) : os_req_deadline(b, c));
	rq.idle_timeout_ms = r->idle_ms;
	rq.cancel = r->cleanup ? NULL : c->cancel;
	rq.idempotent = strcmp(r->method, "GET") == 0 || strcmp(r->method, "DELETE") == 0 ||
	    strcmp(r->method, "PUT") == 0;
	rq.body_max = r->body_max != 0 ? r->body_max : OS_JSON_BODY_MAX;
	return http_do(b->http, &rq, rs, r->on_body, r->arg, c->a, e);
}

const char *
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
			return arena_printf(a, "%s%s%s", code != NULL ? code : "",
			    code != NULL && msg != NULL ? ": " : "", msg != NULL ? msg : "");
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
			s = arena_printf(a, "%s%s%s%s", loc.p != NULL ? loc.p : "", loc.len > 0 ? ": " : "",
			    msg != NULL ? msg : "invalid request",
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

int
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

int
os_notfound(struct err *e, const char *subject, const char *hint)
{
	char detail[ERR_MSG_MAX] = "";
	const char *p = strstr(e->msg, "(404");

	if (p != NULL)
		snprintf(detail, sizeof(detail), " %s", p);
	err_clear(e);
	err_set(e, ERR_NOTFOUND, "%s%s%s%s", subject != NULL ? subject : "not found", detail,
	    hint != NULL ? "; " : "", hint != NULL ? hint : "");
	log_scrub(e->msg);
	return ERR_NOTFOUND;
}

int
os_net_err(int rc, const char *what, struct err *e)
{
	err_prefix(e, "%s: ", what);
	log_scrub(e->msg);
	return rc;
}

int
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
