/*
 * http.c -- envd's HTTP endpoints (BRIEF §9): GET /files (ranged, streamed into the
 * caller's buf; a server that ignores Range is skipped up to the offset), POST /files
 * (multipart/form-data), GET /metrics (sent by backends/common/rest.h, whose rule makes
 * an answer that is not JSON ERR_PROTO).
 */
#include "backends/e2b/envd/internal.h"

#include <string.h>

#include "backends/common/rest.h"
#include "json/json.h"
#include "net/url.h"
#include "util/time.h"

#define ERR_BODY_MAX 4096

static char *
files_url(const struct envd_target *t, const char *path, struct arena *a, struct err *e)
{
	struct buf q;
	char *url = NULL;

	buf_init(&q, 0);
	if (url_query_add(&q, "path", path, e) != 0 ||
	    (t->user != NULL && *t->user && url_query_add(&q, "username", t->user, e) != 0))
		goto out;
	url = envd_url(t, arena_printf(a, "/files?%s", q.p), a, e);
out:
	buf_fini(&q);
	return url;
}

struct rd {
	struct http_response *rs;
	struct buf *out;
	uint64_t offset; /* where the caller wants to start */
	uint64_t skip;   /* bytes to drop first (server ignored our Range) */
	size_t left;     /* bytes still wanted; SIZE_MAX: all */
	bool first;
	struct buf errbody;
};

static int
rd_on_body(void *arg, const char *p, size_t n, struct err *e)
{
	struct rd *r = arg;
	int rc;

	if (r->first) {
		/* 206: the server honoured Range. 200: it sent the whole file, so the bytes
		 * before the offset are dropped here. */
		r->first = false;
		r->skip = r->rs->status == 200 ? r->offset : 0;
	}
	if (r->rs->status != 200 && r->rs->status != 206) {
		size_t room = ERR_BODY_MAX - r->errbody.len;

		return buf_append(&r->errbody, p, n < room ? n : room, e);
	}
	if (r->skip) {
		size_t k = r->skip < n ? (size_t)r->skip : n;

		r->skip -= k;
		p += k;
		n -= k;
	}
	if (n > r->left)
		n = r->left;
	if (n && (rc = buf_append(r->out, p, n, e)) != 0)
		return rc;
	if (r->left != SIZE_MAX)
		r->left -= n;
	return r->left == 0 ? HTTP_STOP : 0;
}

int
envd_file_read(const struct envd_target *t, const char *path, uint64_t offset, size_t max_bytes,
    struct buf *out, int64_t *size, struct call *c, struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct http_request rq = { 0 };
	struct http_response rs;
	struct rd r = { .rs = &rs, .out = out, .offset = offset, .first = true };
	char *url = files_url(t, path, c->a, e);
	const char *what = arena_printf(c->a, "reading %s", path);
	int rc;

	*size = -1;
	if (url == NULL)
		return e->code;
	r.left = max_bytes ? max_bytes : SIZE_MAX;
	if (offset > 0 || max_bytes > 0) {
		if (max_bytes)
			envd_hdr_add(&h, "Range",
			    arena_printf(c->a, "bytes=%llu-%llu", (unsigned long long)offset,
			        (unsigned long long)(offset + max_bytes - 1)));
		else
			envd_hdr_add(&h, "Range",
			    arena_printf(c->a, "bytes=%llu-", (unsigned long long)offset));
	}
	envd_common_headers(t, &h, c->a);
	buf_init(&r.errbody, ERR_BODY_MAX + 1);
	rq.method = "GET";
	rq.url = url;
	rq.headers = h.h;
	rq.nheaders = h.n;
	rq.deadline = call_deadline(c);
	rq.idle_timeout_ms = t->request_timeout_ms > 0 ? (int)t->request_timeout_ms : 0;
	rq.cancel = c->cancel;
	rq.idempotent = true;
	rc = http_do(t->http, &rq, &rs, rd_on_body, &r, c->a, e);
	if (rc != 0) {
		err_prefix(e, "%s in sandbox %s: ", what, envd_sbx(t));
		goto out;
	}
	if (rs.status == 206) {
		*size = http_content_range_size(http_response_header(&rs, "Content-Range"));
	} else if (rs.status == 200) {
		*size = rs.content_length;
	} else if (rs.status == 416) {
		*size = http_content_range_size(http_response_header(&rs, "Content-Range"));
		if (*size < 0)
			*size = (int64_t)offset;
	} else if (rs.status == 404) {
		rc = err_set(e, ERR_NOTFOUND, "%s does not exist in sandbox %s", path, envd_sbx(t));
	} else {
		rc = envd_http_error(t, what, &rs, r.errbody.p, r.errbody.len, c->a, e);
	}
out:
	http_response_fini(&rs);
	buf_fini(&r.errbody);
	return rc;
}

int
envd_file_write(const struct envd_target *t, const char *path, const void *data, size_t len,
    struct call *c, struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct http_request rq = { 0 };
	struct http_response rs;
	struct http_multipart m;
	struct buf body;
	char *url = files_url(t, path, c->a, e);
	const char *what = arena_printf(c->a, "writing %s", path);
	int rc;

	if (url == NULL)
		return e->code;
	buf_init(&body, 0);
	/* multipart/form-data with the part named "file", as the Go client sends it and
	 * every envd version accepts it (BRIEF §9); the query's path decides the target. */
	if ((rc = http_multipart_begin(&m, &body, e)) != 0 ||
	    (rc = http_multipart_part(&m, "file", path, NULL, data ? data : "", len, e)) != 0 ||
	    (rc = http_multipart_end(&m, e)) != 0) {
		buf_fini(&body);
		return rc;
	}
	envd_hdr_add(&h, "Content-Type", m.content_type);
	envd_common_headers(t, &h, c->a);
	rq.method = "POST";
	rq.url = url;
	rq.headers = h.h;
	rq.nheaders = h.n;
	rq.body = body.p;
	rq.body_len = body.len;
	rq.deadline = call_deadline(c);
	rq.idle_timeout_ms = t->request_timeout_ms > 0 ? (int)t->request_timeout_ms : 0;
	rq.cancel = c->cancel;
	rq.idempotent = true; /* the same bytes to the same path */
	rq.body_max = ERR_BODY_MAX * 16;
	rc = http_do(t->http, &rq, &rs, NULL, NULL, c->a, e);
	if (rc != 0)
		err_prefix(e, "%s in sandbox %s: ", what, envd_sbx(t));
	else if (rs.status != 200 && rs.status != 201)
		rc = envd_http_error(t, what, &rs, rs.body.p, rs.body.len, c->a, e);
	http_response_fini(&rs);
	buf_fini(&body);
	return rc;
}

static int64_t
jint(const struct json *o, const char *k, int64_t dflt)
{
	int64_t v;
	double d;
	const struct json *j = json_get(o, k);

	if (json_int(j, &v))
		return v;
	if (json_double(j, &d))
		return (int64_t)d;
	return dflt;
}

int
envd_metrics(const struct envd_target *t, struct sb_metrics *out, struct call *c, struct err *e)
{
	struct hdrs h = { .n = 0 };
	struct http_response rs;
	struct err je = { 0 };
	const struct json *j;
	struct rest_req r = { .method = "GET",
		.url = envd_url(t, "/metrics", c->a, e),
		.timeout_ms = t->request_timeout_ms,
		.body_max = 64 * 1024,
		.what = arena_printf(c->a, "reading metrics of sandbox %s", envd_sbx(t)) };
	double d;
	int rc;

	if (r.url == NULL)
		return e->code;
	envd_common_headers(t, &h, c->a);
	r.headers = h.h;
	r.nheaders = h.n;
	if ((rc = rest_send(t->http, &r, c, &rs, e)) != 0)
		goto out;
	if (rs.status != 200) {
		rc = envd_http_error(t, "reading metrics", &rs, rs.body.p, rs.body.len, c->a, e);
		goto out;
	}
	/* The core's rule for an answer that is not JSON: the peer's fault (ERR_PROTO),
	 * unless our arena is full. */
	j = json_parse(rs.body.p != NULL ? rs.body.p : "", rs.body.len, c->a, &je);
	if (j == NULL && je.code == ERR_TOOBIG) {
		rc = err_set(e, ERR_TOOBIG, "reading metrics of sandbox %s: %s", envd_sbx(t),
		    je.msg);
		goto out;
	}
	if (j == NULL || j->type != JSON_OBJECT) {
		rc = err_set(e, ERR_PROTO,
		    "envd of sandbox %s sent metrics that are not a JSON "
		    "object",
		    envd_sbx(t));
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->cpu_count = (double)jint(j, "cpu_count", 0);
	out->cpu_used_pct = json_double(json_get(j, "cpu_used_pct"), &d) ? d : -1;
	out->mem_total_bytes = jint(j, "mem_total", -1);
	out->mem_used_bytes = jint(j, "mem_used", -1);
	out->disk_total_bytes = jint(j, "disk_total", -1);
	out->disk_used_bytes = jint(j, "disk_used", -1);
	out->timestamp = jint(j, "ts", 0) * 1000;
	if (out->timestamp == 0)
		out->timestamp = time_wall_ms();
out:
	http_response_fini(&rs);
	return rc;
}
