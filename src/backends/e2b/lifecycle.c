/*
 * lifecycle.c -- the sandbox ops over the management API (BRIEF §3): create, list, info,
 * kill, pause, resume, set_timeout; and metrics, which envd serves.
 */
#include "backends/e2b/internal.h"

#include <string.h>

#include "net/url.h"
#include "util/str.h"
#include "util/time.h"

static void
jsonw_kvs(struct jsonw *w, const char *key, const struct kv *kv, size_t n, const char *k2,
    const char *v2)
{
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_kstr(w, kv[i].key, kv[i].value ? kv[i].value : "");
	if (k2 != NULL)
		jsonw_kstr(w, k2, v2);
	jsonw_obj_end(w);
}

int
e2b_create(struct backend *b, const struct sb_create *req, struct sb_info *out, struct call *c,
    struct err *e)
{
	struct buf body;
	struct jsonw w;
	struct rest_answer r;
	const char *tmpl = req->template_name ? req->template_name
	    : b->template_name                ? b->template_name
	                                      : E2B_DEFAULT_TEMPLATE;
	const struct net_policy *np = req->network;
	const char *note = NULL;
	int rc;

	if ((rc = e2b_net_check(np, e)) != 0)
		return rc;
	buf_init(&body, 0);
	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "templateID", tmpl);
	/* agents-api always sends timeout (BRIEF §3). */
	jsonw_kint(&w, "timeout", req->timeout_s > 0 ? req->timeout_s : E2B_DEFAULT_TIMEOUT_S);
	if (req->nmetadata || req->cpu != NULL)
		/* kruise reads a CPU request from this extension key (models/extensions.go). */
		jsonw_kvs(&w, "metadata", req->metadata, req->nmetadata,
		    req->cpu ? "e2b.agents.kruise.io/cpu-request" : NULL, req->cpu);
	if (req->nenv)
		jsonw_kvs(&w, "envVars", req->env, req->nenv, NULL, NULL);
	if (req->auto_pause >= 0)
		jsonw_kbool(&w, "autoPause", req->auto_pause != 0);
	if (req->secure >= 0)
		jsonw_kbool(&w, "secure", req->secure != 0);
	if (np != NULL) {
		/* E2B's network model: allow_internet_access=false is denyOut 0.0.0.0/0, and
		 * allowOut entries win over denied ones (openapi.yml SandboxNetworkConfig). */
		if (np->default_action >= 0)
			jsonw_kbool(&w, "allow_internet_access", np->default_action == 1);
		if (np->nallow || np->ndeny) {
			jsonw_key(&w, "network");
			jsonw_obj_begin(&w);
			if (np->nallow)
				e2b_jsonw_strs(&w, "allowOut", np->allow, np->nallow);
			if (np->ndeny)
				e2b_jsonw_strs(&w, "denyOut", np->deny, np->ndeny);
			jsonw_obj_end(&w);
		}
	}
	jsonw_obj_end(&w);
	if (jsonw_error(&w)) {
		rc = err_set(e, jsonw_error(&w), "building the create request: %s", w.err.msg);
		goto out;
	}
	rc = e2b_mg_do(b, "POST", "/sandboxes", &body, "creating a sandbox", NULL, &r, c, e);
	if (rc == 0)
		rc = e2b_sb_from_json(b, r.j, out, c->a, e);
	if (rc != 0)
		goto out;
	if (np != NULL)
		e2b_net_remember(b, out->id, np);
	if (req->memory != NULL)
		note = "resources.memory was not applied: E2B/OpenKruise size memory by template";
	if (req->entrypoint != NULL)
		note = note ? arena_printf(c->a,
		                  "%s; the entrypoint was ignored (templates define "
		                  "it)",
		                  note)
		            : "the entrypoint was ignored: templates define it";
	out->note = note;
out:
	buf_fini(&body);
	return rc;
}

int
e2b_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out, struct call *c,
    struct err *e)
{
	struct buf q, inner;
	struct rest_answer r;
	const char *path, *next;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	buf_init(&q, 0);
	buf_init(&inner, 0);
	buf_puts(&q, "/v2/sandboxes?", e);
	if (req->nstates) {
		struct buf st;

		buf_init(&st, 0);
		for (size_t i = 0; i < req->nstates; i++)
			buf_printf(&st, e, "%s%s", i ? "," : "", req->states[i]);
		url_query_add(&q, "state", st.p ? st.p : "", e);
		buf_fini(&st);
	}
	if (req->limit > 0)
		url_query_add(&q, "limit",
		    arena_printf(c->a, "%d", req->limit > 100 ? 100 : req->limit), e);
	if (req->cursor != NULL && *req->cursor)
		url_query_add(&q, "nextToken", req->cursor, e);
	if (req->nmetadata) {
		/* k=v pairs, each escaped, joined by '&', then escaped again as one value:
		 * the server unescapes twice (BRIEF §3, agents-api sandbox_api.go). */
		for (size_t i = 0; i < req->nmetadata; i++) {
			const char *k = req->metadata[i].key, *v = req->metadata[i].value;

			if (i)
				buf_putc(&inner, '&', e);
			url_encode(&inner, k, strlen(k), URL_PART_QUERY, e);
			buf_putc(&inner, '=', e);
			url_encode(&inner, v ? v : "", v ? strlen(v) : 0, URL_PART_QUERY, e);
		}
		url_query_add(&q, "metadata", inner.p ? inner.p : "", e);
	}
	if (e->code) {
		rc = e->code;
		goto out;
	}
	path = q.p;
	if (str_has_suffix(path, "?"))
		q.p[--q.len] = '\0';
	rc = e2b_mg_do(b, "GET", q.p, NULL, "listing sandboxes", NULL, &r, c, e);
	if (rc != 0)
		goto out;
	if (r.j == NULL || r.j->type != JSON_ARRAY) {
		rc = err_set(e, ERR_PROTO,
		    "listing sandboxes: the API did not answer with an array");
		goto out;
	}
	out->items = r.j->count ? arena_zalloc(c->a, r.j->count * sizeof(*out->items)) : NULL;
	for (const struct json *it = r.j->head; it != NULL; it = it->next) {
		if ((rc = e2b_sb_from_json(b, it, &out->items[out->n], c->a, e)) != 0)
			goto out;
		out->n++;
	}
	next = rest_header(&r, "x-next-token");
	if (next != NULL && *next != '\0')
		out->next_cursor = arena_strdup(c->a, next);
out:
	buf_fini(&q);
	buf_fini(&inner);
	return rc;
}

int
e2b_info(struct backend *b, const char *id, struct sb_info *out, struct call *c, struct err *e)
{
	struct rest_answer r;
	int rc = e2b_mg_do(b, "GET", e2b_sbx_path(id, "", c->a), NULL,
	    arena_printf(c->a, "reading sandbox %s", id), id, &r, c, e);

	return rc != 0 ? rc : e2b_sb_from_json(b, r.j, out, c->a, e);
}

int
e2b_kill(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct rest_answer r;
	int rc = e2b_mg_do(b, "DELETE", e2b_sbx_path(id, "", c->a), NULL,
	    arena_printf(c->a, "killing sandbox %s", id), id, &r, c, e);

	if (rc == 0)
		e2b_sbx_forget(b, id);
	return rc;
}

int
e2b_pause(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct rest_answer r;
	int rc = e2b_mg_do(b, "POST", e2b_sbx_path(id, "/pause", c->a), NULL,
	    arena_printf(c->a, "pausing sandbox %s", id), id, &r, c, e);

	if (rc != 0 && r.status == 409) {
		/* 409: already paused; agents-api treats it as success (BRIEF §3). */
		err_clear(e);
		rc = 0;
	}
	return rc;
}

static struct buf *
timeout_body(struct buf *body, int64_t timeout_s)
{
	buf_init(body, 0);
	buf_printf(body, NULL, "{\"timeout\":%lld}", (long long)timeout_s);
	return body;
}

int
e2b_resume(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct buf body;
	struct rest_answer r;
	struct sb_info info;
	int rc;

	/* Connect resumes a paused sandbox (201) and is harmless on a running one (200). */
	rc = e2b_mg_do(b, "POST", e2b_sbx_path(id, "/connect", c->a),
	    timeout_body(&body, E2B_DEFAULT_TIMEOUT_S),
	    arena_printf(c->a, "resuming sandbox %s", id), id, &r, c, e);
	if (rc == 0 && r.j != NULL)
		rc = e2b_sb_from_json(b, r.j, &info, c->a, e);
	buf_fini(&body);
	return rc;
}

int
e2b_set_timeout(struct backend *b, const char *id, int64_t timeout_s, int64_t *expires_at,
    struct call *c, struct err *e)
{
	struct buf body;
	struct rest_answer r;
	int rc;

	if (timeout_s < 0)
		return err_set(e, ERR_INVAL, "timeout_s must not be negative");
	rc = e2b_mg_do(b, "POST", e2b_sbx_path(id, "/timeout", c->a),
	    timeout_body(&body, timeout_s),
	    arena_printf(c->a, "setting the timeout of sandbox %s", id), id, &r, c, e);
	buf_fini(&body);
	if (rc == 0)
		*expires_at = time_wall_ms() + timeout_s * 1000;
	return rc;
}

int
e2b_metrics(struct backend *b, const char *id, struct sb_metrics *out, struct call *c,
    struct err *e)
{
	struct envd_target t;
	int rc;

	if ((rc = e2b_target_for(b, id, &t, c, e)) != 0)
		return rc;
	return envd_metrics(&t, out, c, e);
}
