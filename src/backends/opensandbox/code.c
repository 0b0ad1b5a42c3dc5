/*
 * code.c -- run_code over execd's POST /code stream, and code contexts (§3.4).
 *
 * Choices:
 *   - Code contexts: POST /code/context hangs on images without Jupyter (§3.4), so a
 *     POST /code for a context id that cannot exist asks first whether there is one.
 */
#include "backends/opensandbox/internal.h"

#include <string.h>

#include "util/time.h"

#define OS_CTX_PROBE_ID "sandbox-mcp-probe" /* a context id execd never hands out */
#define OS_CTX_PROBE_MS 15000

int
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
	if ((body = os_jsonw_done(&w, &bf, c, &len, e)) == NULL)
		return e->code;
	if ((url = os_ep_url(b, c, &ep, "/code", e)) == NULL)
		return e->code;
	if (req->timeout_ms > 0)
		dl = deadline_min(dl, deadline_in_ms(req->timeout_ms));
	os_st_init(&st, c, MODE_CODE, fn, arg);
	st.cr = out;
	rc = os_st_run(b, c, &st, &ep, url, body, len, dl, "running code", &hs, e);
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
		const char *d = rest_detail(&none, st.errbody.p, st.errbody.len, c->a);

		err_clear(e);
		rc = err_set(e, ERR_UNSUPPORTED,
		    "sandbox %s has no code interpreter (500: %s); use "
		    "an opensandbox/code-interpreter image, or exec",
		    id, d);
	} else if (hs == 404 && req->context_id != NULL) {
		rc = rest_notfound(e,
		    arena_printf(c->a,
		        "code context %s does not exist in sandbox "
		        "%s",
		        req->context_id, id),
		    "omit context_id to use the default context");
	} else if (hs == 0 && (rc == ERR_CANCELLED || rc == ERR_TIMEOUT)) {
		const char *ctx = st.have_id ? st.id : req->context_id;
		struct err de = { 0 };
		bool stopped = ctx != NULL && os_interrupt(b, c, &ep, "/code", ctx, true, &de) == 0;

		err_clear(e);
		err_set(e, rc, "run_code %s; the execution %s",
		    rc == ERR_CANCELLED ? "was cancelled" : "did not finish in time",
		    stopped ? "was interrupted" : "could not be interrupted");
	}
	os_st_fini(&st);
	return rc;
}

/* ---- code contexts ------------------------------------------------------------------- */

/* POST /code/context never answers on an image without Jupyter (execd retries without a
 * cap), so ask first with POST /code for a context that cannot exist: without an
 * interpreter execd says "not configured" at once, with one "context not found". */
static int
os_code_probe(struct backend *b, struct call *c, const char *id, const struct ep *ep,
    const char *lang, struct err *e)
{
	struct os_rq r = { .method = "POST",
		.svc = OS_EXECD,
		.ep = ep,
		.timeout_ms = OS_CTX_PROBE_MS };
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
	if ((r.body = os_jsonw_done(&w, &bf, c, &r.len, e)) == NULL)
		return e->code;
	if ((r.url = os_ep_url(b, c, ep, "/code", e)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 0, "checking for a code interpreter", NULL, &st, e);
	if (rc == 0)
		return 0;
	if (st == 500 && strstr(e->msg, "not configured") != NULL) {
		err_clear(e);
		return err_set(e, ERR_UNSUPPORTED,
		    "sandbox %s has no code interpreter (execd: "
		    "language runtime server not configured), so it has no code contexts; use an "
		    "opensandbox/code-interpreter image, or exec",
		    id);
	}
	if (st == 500 && strstr(e->msg, "unknown language") != NULL) {
		err_clear(e);
		return err_set(e, ERR_INVAL,
		    "execd does not know the language '%s'; use python, "
		    "javascript, typescript, java, go or bash",
		    lang);
	}
	if (st == 404 || st == 500) { /* "context not found": there is an interpreter */
		err_clear(e);
		return 0;
	}
	return rc;
}

int
os_code_ctx_create(struct backend *b, const char *id, const char *language, const char *cwd,
    struct code_ctx *out, struct call *c, struct err *e)
{
	const char *lang = language != NULL && *language ? language : "python";
	struct os_rq r = { .method = "POST", .svc = OS_EXECD };
	const char *what = arena_printf(c->a, "creating a %s code context", lang);
	struct buf bf = { 0 };
	struct jsonw w;
	const struct json *j;
	struct ep ep;
	int rc;

	memset(out, 0, sizeof(*out));
	if (what == NULL)
		return OOM(e);
	if (strcmp(lang, "sql") == 0 || strcmp(lang, "command") == 0 ||
	    strcmp(lang, "background-command") == 0)
		return err_set(e, ERR_INVAL,
		    "execd keeps no code context for '%s'; use python, "
		    "javascript, typescript, java, go or bash",
		    lang);
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
	if ((r.body = os_jsonw_done(&w, &bf, c, &r.len, e)) == NULL)
		return e->code;
	r.ep = &ep;
	if ((r.url = os_ep_url(b, c, &ep, "/code/context", e)) == NULL)
		return e->code;
	/* Starting a kernel takes seconds; a missing kernel makes execd retry for good. */
	r.deadline = call_deadline(c);
	rc = os_json(b, c, &r, 200, what, &j, NULL, e);
	if (rc == ERR_TIMEOUT) {
		err_clear(e);
		return err_set(e, ERR_TIMEOUT,
		    "execd did not create the %s context in time; the "
		    "sandbox's interpreter may have no %s kernel (execd keeps retrying; "
		    "code_context_list shows the context if it appears later)",
		    lang, lang);
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

int
os_code_ctx_list(struct backend *b, const char *id, const char *language, struct code_ctx **out,
    size_t *n, struct call *c, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_EXECD };
	const struct json *it;
	const char *path;
	struct code_ctx *v;
	const struct json *j;
	struct ep ep;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EXECD_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	/* The language filter is optional in execd (the spec says required). */
	path = language != NULL && *language
	    ? arena_printf(c->a, "/code/contexts?language=%s", qv(c, language))
	    : "/code/contexts";
	if (path == NULL)
		return OOM(e);
	if ((r.url = os_ep_url(b, c, &ep, path, e)) == NULL)
		return e->code;
	if ((rc = os_json(b, c, &r, 200,
	         arena_printf(c->a,
	             "listing the code contexts of "
	             "sandbox %s",
	             id),
	         &j, NULL, e)) != 0)
		return rc;
	if (j != NULL && j->type == JSON_NULL)
		j = NULL;
	if (j != NULL && j->type != JSON_ARRAY)
		return err_set(e, ERR_PROTO,
		    "listing code contexts: execd did not answer with a "
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

int
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
	if ((r.url = os_ep_url(b, c, &ep, path, e)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 0, arena_printf(c->a, "deleting code context %s", ctx_id), NULL,
	    NULL, e);
	if (rc == ERR_NOTFOUND)
		return rest_notfound(e,
		    arena_printf(c->a,
		        "code context %s does not exist in "
		        "sandbox %s",
		        ctx_id, id),
		    "list them with code_context_list");
	return rc;
}
