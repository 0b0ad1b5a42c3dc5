/*
 * api.c -- the management API of sandbox-manager (BRIEF §3): what is E2B's in a request
 * (the base URL, the API key, the extra headers, kruise's words for a 404 or a 405) and
 * the Sandbox object as struct sb_info. The core (backends/common/rest.h) does the
 * generic part: it sends the request under the deadline, retries only what is
 * idempotent, phrases a status and its ApiError body as one sentence and reads the JSON.
 */
#include "backends/e2b/internal.h"

#include <stdio.h>
#include <string.h>

#include "backends/common/time.h"
#include "net/url.h"

int
e2b_no_api(const struct backend *b, const char *what, struct err *e)
{
	return err_set(e, ERR_UNSUPPORTED,
	    "%s needs the management API, and this session runs "
	    "in runtime-direct mode (no API key); set X_API_KEY or E2B_API_KEY (and the domain "
	    "or --api-url) to manage sandboxes",
	    what);
}

static const struct rest_peer mg_peer = {
	"the E2B API",
	"set X_API_KEY or E2B_API_KEY to a valid key and check --domain / --api-url",
};

/* Sets e to its own sentence, with `more` after it when not NULL, under `code`. */
static int
mg_recode(struct err *e, int code, const char *more)
{
	char was[ERR_MSG_MAX];

	if (e == NULL)
		return code;
	snprintf(was, sizeof(was), "%s", e->msg);
	err_clear(e);
	return err_set(e, code, "%s%s%s", was, more != NULL ? "; " : "", more != NULL ? more : "");
}

/* kruise's words for what the core's sentences cannot know: a 404 about a sandbox means
 * it is gone, any other 404 a wrong base URL (ERR_BACKEND: no route is not a missing
 * object); a 405 an older or another manager. */
static int
mg_reword(const char *what, const char *id, int status, int rc, struct arena *a, struct err *e)
{
	if (status == 404 && id != NULL)
		return rest_notfound(e, arena_printf(a, "sandbox %s does not exist", id),
		    "it was killed or has expired; list sandboxes with sandbox_list");
	if (status == 404) {
		rest_notfound(e, arena_printf(a, "%s: the E2B API has no such route", what),
		    "check --api-url, --domain and --routing");
		return mg_recode(e, ERR_BACKEND, NULL);
	}
	if (status == 405)
		return mg_recode(e, rc,
		    "it is not an OpenKruise/E2B sandbox manager, or an older "
		    "one");
	return rc;
}

int
e2b_mg_do(struct backend *b, const char *method, const char *path, const struct buf *body,
    const char *what, const char *id, struct rest_answer *out, struct call *c, struct err *e)
{
	struct http_header h[CONFIG_HEADERS_MAX + 1];
	struct rest_req r = { .method = method,
		.headers = h,
		.timeout_ms = b->timeout_ms,
		.peer = &mg_peer,
		.what = what };
	char *url = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (b->api_base == NULL)
		return e2b_no_api(b, what, e);
	if ((rc = url_join(b->api_base, path, b->scheme, &url, c->a, e)) != 0)
		return rc;
	r.url = url;
	if (b->api_key != NULL)
		h[r.nheaders++] = (struct http_header){ "X-API-Key", b->api_key };
	for (size_t i = 0; i < b->nextra; i++)
		h[r.nheaders++] = b->extra[i];
	if (body != NULL) {
		r.body = body->p != NULL ? body->p : "";
		r.len = body->len;
	}
	rc = rest_json(b->http, &r, c, out, e);
	if (rc != 0 && out->status != 0)
		rc = mg_reword(what, id, out->status, rc, c->a, e);
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
	out->created_at = btime_json(j, "startedAt");
	out->expires_at = btime_json(j, "endAt");
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
