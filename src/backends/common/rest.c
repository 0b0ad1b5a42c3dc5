/* rest.c -- JSON over HTTP for the remote backends (contract in rest.h). */
#include "backends/common/rest.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"

static const char *
peer_name(const struct rest_peer *peer)
{
	return peer != NULL && peer->name != NULL ? peer->name : "the server";
}

static const char *
what_or(const char *what)
{
	return what != NULL ? what : "the request";
}

bool
rest_idempotent(const char *method)
{
	static const char *const idem[] = { "GET", "HEAD", "OPTIONS", "PUT", "DELETE" };

	for (size_t i = 0; i < sizeof(idem) / sizeof(idem[0]); i++)
		if (strcmp(method, idem[i]) == 0)
			return true;
	return false;
}

int64_t
rest_deadline(const struct rest_req *r, const struct call *c)
{
	int64_t cap = r->timeout_ms > 0 ? deadline_in_ms(r->timeout_ms) : DEADLINE_NONE;

	if (r->deadline > 0)
		return r->deadline;
	if (r->cleanup)
		return cap;
	return deadline_min(call_deadline(c), cap);
}

static bool
has_header(const struct rest_req *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return true;
	return false;
}

int
rest_prepare(const struct rest_req *r, const struct call *c, struct http_request *rq, struct err *e)
{
	struct http_header *h;
	size_t n = 0;

	memset(rq, 0, sizeof(*rq));
	h = arena_alloc(c->a, (r->nheaders + 2) * sizeof(*h));
	if (h == NULL)
		return err_set(e, ERR_TOOBIG, "%s: the request does not fit in memory",
		    what_or(r->what));
	for (size_t i = 0; i < r->nheaders; i++)
		h[n++] = r->headers[i];
	if ((r->body != NULL || r->producer != NULL) && !has_header(r, "Content-Type"))
		h[n++] = (struct http_header){ "Content-Type",
			r->ctype != NULL ? r->ctype : "application/json" };
	if (!has_header(r, "Accept"))
		h[n++] = (struct http_header){ "Accept", "application/json" };
	rq->method = r->method;
	rq->url = r->url;
	rq->headers = h;
	rq->nheaders = n;
	rq->body = r->body;
	rq->body_len = r->body != NULL ? r->len : 0;
	rq->body_producer = r->producer;
	rq->producer_arg = r->producer_arg;
	rq->deadline = rest_deadline(r, c);
	rq->idle_timeout_ms = r->idle_ms;
	rq->cancel = r->cleanup ? NULL : c->cancel;
	rq->idempotent = r->idempotent || rest_idempotent(r->method);
	rq->body_max = r->body_max != 0 ? r->body_max : REST_BODY_MAX;
	return 0;
}

int
rest_send(struct http_client *http, const struct rest_req *r, const struct call *c,
    struct http_response *rs, struct err *e)
{
	struct http_request rq;
	int rc;

	memset(rs, 0, sizeof(*rs));
	if ((rc = rest_prepare(r, c, &rq, e)) != 0)
		return rc;
	if ((rc = http_do(http, &rq, rs, r->on_body, r->arg, c->a, e)) != 0 && e != NULL) {
		err_prefix(e, "%s: ", what_or(r->what));
		log_scrub(e->msg);
	}
	return rc;
}

/* FastAPI's 422 detail: [{"loc": ["body", "timeout"], "msg": "..."}, ...]. */
static const char *
detail_list(const struct json *d, struct arena *a)
{
	const struct json *l = json_get(d->head, "loc"), *x;
	const char *msg = json_get_str(d->head, "msg"), *s;
	struct buf loc = { 0 };

	for (x = l != NULL ? l->head : NULL; x != NULL; x = x->next) {
		if (x->type != JSON_STRING && x->type != JSON_NUMBER)
			continue;
		if (loc.len > 0)
			buf_putc(&loc, '.', NULL);
		buf_append(&loc, x->s, x->len, NULL);
	}
	s = arena_printf(a, "%s%s%s%s", loc.p != NULL ? loc.p : "", loc.len > 0 ? ": " : "",
	    msg != NULL ? msg : "invalid request", d->count > 1 ? " (and more)" : "");
	buf_fini(&loc);
	return s;
}

/* The words of a JSON error object, or NULL when it has none we know. */
static const char *
detail_json(const struct json *j, struct arena *a)
{
	const char *code = json_get_str(j, "code"), *msg = json_get_str(j, "message");
	const struct json *d;

	if (code != NULL || msg != NULL)
		return arena_printf(a, "%s%s%s", code != NULL ? code : "",
		    code != NULL && msg != NULL ? ": " : "", msg != NULL ? msg : "");
	d = json_get(j, "error");
	if (d != NULL && d->type == JSON_STRING)
		return d->s;
	if (d != NULL && d->type == JSON_OBJECT && json_get_str(d, "message") != NULL)
		return json_get_str(d, "message");
	d = json_get(j, "detail");
	if (d != NULL && d->type == JSON_STRING)
		return d->s;
	if (d != NULL && d->type == JSON_ARRAY && d->head != NULL)
		return detail_list(d, a);
	return NULL;
}

/* The first non-blank line of a text body, trimmed, cut as http_body_excerpt cuts. */
static const char *
detail_text(const char *body, size_t len, struct arena *a)
{
	struct str t;
	size_t n = 0;

	while (len > 0 && (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n')) {
		body++;
		len--;
	}
	while (n < len && body[n] != '\n' && body[n] != '\r')
		n++;
	t = str_trim((struct str){ body, n });
	return t.len > 0 ? http_body_excerpt(t.p, t.len, a) : "";
}

const char *
rest_detail(const struct http_response *rs, const char *body, size_t len, struct arena *a)
{
	const struct json *j = NULL;
	const char *d = NULL;

	if (body == NULL)
		len = 0;
	if (len > 0 && (body[0] == '{' || body[0] == '[')) {
		struct err je = { 0 };

		j = json_parse(body, len, a, &je);
	}
	if (j != NULL && j->type == JSON_OBJECT)
		d = detail_json(j, a);
	if (d == NULL || *d == '\0')
		d = detail_text(body, len, a);
	if (d == NULL || *d == '\0')
		d = rs != NULL && rs->reason != NULL && *rs->reason != '\0' ? rs->reason
		                                                            : "no details";
	return d;
}

int
rest_status_err(const struct rest_peer *peer, const char *what, const struct http_response *rs,
    const char *body, size_t len, struct arena *a, struct err *e)
{
	const char *d = rest_detail(rs, body, len, a), *who = peer_name(peer);
	const char *hint = peer != NULL ? peer->auth_hint : NULL;
	int st = rs->status, rc;

	what = what_or(what);
	if (st == 400 || st == 422)
		rc = err_set(e, ERR_INVAL, "%s: %s rejected the request (%d: %s)", what, who, st,
		    d);
	else if (st == 401)
		rc = err_set(e, ERR_BACKEND, "%s: %s rejected the credentials (401: %s)%s%s", what,
		    who, d, hint != NULL ? "; " : "", hint != NULL ? hint : "");
	else if (st == 403)
		rc = err_set(e, ERR_BACKEND,
		    "%s: %s does not allow it (403: %s); check the key's "
		    "permissions and quotas",
		    what, who, d);
	else if (st == 404)
		rc = err_set(e, ERR_NOTFOUND, "%s: not found (404: %s)", what, d);
	else if (st == 405)
		rc = err_set(e, ERR_UNSUPPORTED, "%s: %s does not allow this method (405: %s)",
		    what, who, d);
	else if (st == 409)
		rc = err_set(e, ERR_BACKEND, "%s: %s refused it in the current state (409: %s)",
		    what, who, d);
	else if (st == 413)
		rc = err_set(e, ERR_TOOBIG, "%s: %s refused it as too large (413: %s)", what, who,
		    d);
	else if (st == 429)
		rc = err_set(e, ERR_BACKEND,
		    "%s: %s is limiting the request rate (429: %s); wait "
		    "and try again",
		    what, who, d);
	else if (st == 501)
		rc = err_set(e, ERR_UNSUPPORTED, "%s: %s does not implement it (501: %s)", what,
		    who, d);
	else if (st >= 500)
		rc = err_set(e, ERR_BACKEND, "%s: %s failed (%d: %s); try again", what, who, st, d);
	else
		rc = err_set(e, ERR_HTTP, "%s: %s answered with an unexpected status (%d: %s)",
		    what, who, st, d);
	if (e != NULL)
		log_scrub(e->msg);
	return rc;
}

int
rest_notfound(struct err *e, const char *subject, const char *hint)
{
	char detail[ERR_MSG_MAX] = "";
	const char *p = e != NULL ? strstr(e->msg, "(404") : NULL;

	if (p != NULL)
		snprintf(detail, sizeof(detail), " %s", p);
	err_clear(e);
	err_set(e, ERR_NOTFOUND, "%s%s%s%s", subject != NULL ? subject : "not found", detail,
	    hint != NULL ? "; " : "", hint != NULL ? hint : "");
	if (e != NULL)
		log_scrub(e->msg);
	return ERR_NOTFOUND;
}

static bool
status_ok(int want, int st)
{
	return want != 0 ? st == want : st >= 200 && st <= 299;
}

int
rest_json(struct http_client *http, const struct rest_req *r, const struct call *c,
    struct rest_answer *out, struct err *e)
{
	struct http_response rs;
	struct err je = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = rest_send(http, r, c, &rs, e)) != 0)
		goto out;
	out->status = rs.status;
	out->headers = rs.headers;
	out->nheaders = rs.nheaders;
	if (!status_ok(r->want_status, rs.status)) {
		rc = rest_status_err(r->peer, r->what, &rs, rs.body.p, rs.body.len, c->a, e);
		goto out;
	}
	if (rs.body.len == 0)
		goto out;
	out->j = json_parse(rs.body.p, rs.body.len, c->a, &je);
	if (out->j == NULL) {
		/* A full arena stays ERR_TOOBIG; anything else is the platform's fault. */
		rc = err_set(e, je.code == ERR_TOOBIG ? ERR_TOOBIG : ERR_PROTO,
		    "%s: %s sent invalid JSON: %s", what_or(r->what), peer_name(r->peer), je.msg);
	}
out:
	http_response_fini(&rs);
	return rc;
}

const char *
rest_header(const struct rest_answer *ans, const char *name)
{
	for (size_t i = 0; i < ans->nheaders; i++)
		if (strcasecmp(ans->headers[i].name, name) == 0)
			return ans->headers[i].value;
	return NULL;
}
