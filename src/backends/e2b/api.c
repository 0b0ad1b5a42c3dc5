/*
 * api.c -- the management API of sandbox-manager (BRIEF §3): one JSON request with the
 * API key, kruise's status codes and ApiError bodies as one sentence, and the Sandbox
 * object as struct sb_info.
 */
#include "backends/e2b/internal.h"

#include <string.h>

#include "net/url.h"
#include "util/str.h"
#include "util/time.h"

static int64_t
mg_deadline(const struct backend *b, const struct call *c)
{
	int64_t dl = (c != NULL && c->deadline > 0) ? c->deadline : DEADLINE_NONE;

	if (b->timeout_ms > 0)
		dl = deadline_min(dl, deadline_in_ms(b->timeout_ms));
	return dl;
}

int
e2b_no_api(const struct backend *b, const char *what, struct err *e)
{
	return err_set(e, ERR_UNSUPPORTED, "%s needs the management API, and this session runs "
	    "in runtime-direct mode (no API key); set X_API_KEY or E2B_API_KEY (and the domain "
	    "or --api-url) to manage sandboxes", what);
}

static int
mg_error(const struct backend *b, const char *what, const char *id, int status,
    const char *ctype, const char *body, size_t len, struct arena *a, struct err *e)
{
	const char *msg = NULL;

	if (ctype != NULL && str_has_prefix(ctype, "application/json") && len) {
		struct err je = { 0 };
		const struct json *j = json_parse(body, len, a, &je);

		msg = j != NULL ? json_get_str(j, "message") : NULL;
	}
	if (msg == NULL)
		msg = http_body_excerpt(body, len, a);
	if (*msg == '\0')
		msg = "no message";
	switch (status) {
	case 401:
		return err_set(e, ERR_BACKEND, "%s: the E2B API rejected the API key (401: %s); set "
		    "X_API_KEY or E2B_API_KEY to a valid key and check --domain / --api-url", what,
		    msg);
	case 403:
		return err_set(e, ERR_BACKEND, "%s was refused (403: %s): the key may not do this "
		    "or a quota is reached", what, msg);
	case 404:
		if (id != NULL)
			return err_set(e, ERR_NOTFOUND, "sandbox %s does not exist (it was killed or "
			    "has expired): list sandboxes with sandbox_list", id);
		return err_set(e, ERR_BACKEND, "%s: the API has no such route (404: %s); check "
		    "--api-url, --domain and --routing", what, msg);
	case 405:
		return err_set(e, ERR_UNSUPPORTED, "%s: the API does not allow this method (405); "
		    "it is not an OpenKruise/E2B sandbox manager, or an older one", what);
	case 409:
		return err_set(e, ERR_EXISTS, "%s conflicts with the sandbox's state (409: %s)",
		    what, msg);
	case 400:
		return err_set(e, ERR_INVAL, "%s was rejected (400: %s)", what, msg);
	case 429:
		return err_set(e, ERR_BACKEND, "%s was rate limited (429: %s); wait and retry", what,
		    msg);
	default:
		return err_set(e, ERR_BACKEND, "%s failed on the platform (%d: %s)", what, status,
		    msg);
	}
}

int
e2b_mg_do(struct backend *b, const char *method, const char *path, const struct buf *body,
    const char *what, const char *id, struct mg_resp *out, struct call *c, struct err *e)
{
	struct http_header h[CONFIG_HEADERS_MAX + 4];
	size_t nh = 0;
	struct http_request rq = { 0 };
	struct http_response rs;
	char *url = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (b->api_base == NULL)
		return e2b_no_api(b, what, e);
	if ((rc = url_join(b->api_base, path, b->scheme, &url, c->a, e)) != 0)
		return rc;
	if (b->api_key != NULL)
		h[nh++] = (struct http_header){ "X-API-Key", b->api_key };
	h[nh++] = (struct http_header){ "Accept", "application/json" };
	if (body != NULL)
		h[nh++] = (struct http_header){ "Content-Type", "application/json" };
	for (size_t i = 0; i < b->nextra; i++)
		h[nh++] = b->extra[i];
	rq.method = method;
	rq.url = url;
	rq.headers = h;
	rq.nheaders = nh;
	if (body != NULL) {
		rq.body = body->p ? body->p : "";
		rq.body_len = body->len;
	}
	rq.deadline = mg_deadline(b, c);
	rq.cancel = c->cancel;
	rq.idempotent = strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0 ||
	    strcmp(method, "PUT") == 0;
	rq.body_max = MG_BODY_MAX;
	rc = http_do(b->http, &rq, &rs, NULL, NULL, c->a, e);
	if (rc) {
		err_prefix(e, "%s: ", what);
		goto out;
	}
	out->status = rs.status;
	if (rs.status < 200 || rs.status > 299) {
		rc = mg_error(b, what, id, rs.status, http_response_header(&rs, "Content-Type"),
		    rs.body.p ? rs.body.p : "", rs.body.len, c->a, e);
		goto out;
	}
	out->next_token = http_response_header(&rs, "x-next-token");
	if (rs.body.len > 0) {
		out->j = json_parse(rs.body.p, rs.body.len, c->a, e);
		if (out->j == NULL) {
			err_prefix(e, "%s: the API answered with ", what);
			rc = e->code;
		}
	}
out:
	http_response_fini(&rs);
	return rc;
}

const char *
e2b_sbx_path(const char *id, const char *suffix, struct arena *a)
{
	struct buf p;
	char *s;

	buf_init(&p, 0);
	buf_puts(&p, "/sandboxes/", NULL);
	url_encode(&p, id, strlen(id), URL_PART_SEGMENT, NULL);
	buf_puts(&p, suffix, NULL);
	s = arena_strdup(a, p.p ? p.p : "");
	buf_fini(&p);
	return s;
}

static int64_t
json_time(const struct json *j, const char *key)
{
	const char *s = json_get_str(j, key);
	int64_t ms;

	/* "0001-01-01T00:00:00Z" means never; "<unknown>" happens too (BRIEF §3). */
	if (s == NULL || str_has_prefix(s, "0001-") || time_parse_rfc3339(s, &ms) != 0)
		return 0;
	return ms;
}

static int
json_kvs(const struct json *obj, struct kv **out, size_t *n, struct arena *a)
{
	size_t k = 0;
	struct kv *v;

	*out = NULL;
	*n = 0;
	if (obj == NULL || obj->type != JSON_OBJECT || obj->count == 0)
		return 0;
	v = arena_alloc(a, obj->count * sizeof(*v));
	if (v == NULL)
		return ERR_TOOBIG;
	for (const struct json *m = obj->head; m != NULL; m = m->next) {
		if (m->type != JSON_STRING)
			continue;
		v[k].key = arena_strndup(a, m->key, m->key_len);
		v[k].value = m->s;
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}

int
e2b_sb_from_json(struct backend *b, const struct json *j, struct sb_info *out, struct arena *a,
    struct err *e)
{
	const struct json *v;
	const char *tok;
	int64_t n;

	memset(out, 0, sizeof(*out));
	if (j == NULL || j->type != JSON_OBJECT || json_get_str(j, "sandboxID") == NULL)
		return err_set(e, ERR_PROTO, "the E2B API sent a sandbox without a sandboxID");
	out->id = json_get_str(j, "sandboxID");
	out->state = json_get_str(j, "state") ? json_get_str(j, "state") : "running";
	out->template_name = json_get_str(j, "templateID");
	out->created_at = json_time(j, "startedAt");
	out->expires_at = json_time(j, "endAt");
	json_kvs(json_get(j, "metadata"), (struct kv **)&out->metadata, &out->nmetadata, a);
	v = json_get(j, "cpuCount");
	if (json_int(v, &n))
		out->cpu = arena_printf(a, "%lld", (long long)n);
	v = json_get(j, "memoryMB");
	if (json_int(v, &n))
		out->memory = arena_printf(a, "%lldMi", (long long)n);
	tok = json_get_str(j, "envdAccessToken");
	if (tok != NULL)
		e2b_token_remember(b, out->id, tok);
	return 0;
}

void
e2b_jsonw_strs(struct jsonw *w, const char *key, const char **v, size_t n)
{
	jsonw_key(w, key);
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_str(w, v[i]);
	jsonw_arr_end(w);
}

