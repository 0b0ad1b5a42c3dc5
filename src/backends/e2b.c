/*
 * e2b.c -- the E2B / OpenKruise agents backend: management API (sandbox-manager), routing
 * of sandbox traffic (native, private, explicit URLs, header mode), runtime-direct and
 * Kubernetes resolution, and the backend ops on top of backends/envd.
 *
 * Longer than 1,000 lines: besides the ops it carries the Kubernetes lookup with the
 * small kubeconfig (YAML subset) reader it needs, and the glob matcher of file_search;
 * each is used only here.
 */
#include "backends/e2b.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/envd.h"
#include "json/json.h"
#include "json/jsonw.h"
#include "net/http.h"
#include "net/url.h"
#include "util/b64.h"
#include "util/glob.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#define MG_BODY_MAX (8 * 1024 * 1024)
#define SEARCH_MATCH_MAX 1000
#define SEARCH_DEPTH_MAX 32
#define KILL_GRACE_MS 5000	/* bound of the SIGKILL sent after a cancel or timeout */
#define K8S_TIMEOUT_MS 15000
#define KUBECONFIG_MAX (1024 * 1024)

enum routing { R_NATIVE, R_PRIVATE };

/* What we know about one sandbox: its envd token and the policy we created it with. */
struct sbx {
	struct sbx *next;
	char *id;
	char *token;			/* NULL: not known yet; "": the sandbox has none */
	bool has_net;
	int net_default;		/* -1 unset, 0 deny, 1 allow */
	char **allow, **deny;
	size_t nallow, ndeny;
};

struct backend {
	struct http_client *http;
	char *api_key;
	char *api_base;			/* NULL in runtime-direct mode */
	char *scheme;
	char *domain;
	enum routing routing;
	bool routing_explicit;		/* --routing / PROTOCOL given */
	char *sandbox_url;		/* explicit envd base, or NULL */
	bool runtime_direct;
	char *default_id;		/* --sandbox or --k8s */
	char *default_token;
	char *user;
	int envd_port;			/* RuntimePort: 49983 unless configured */
	char *template_name;
	struct http_header *extra;
	size_t nextra;
	int64_t timeout_ms;
	pthread_mutex_t mu;
	struct sbx *sbxs;
	struct envd_procs *procs;
};

/* Small helpers ------------------------------------------------------------------------------ */

static char *
dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

static int64_t
op_deadline(const struct backend *b, const struct call *c)
{
	int64_t dl = (c && c->deadline > 0) ? c->deadline : DEADLINE_NONE;

	if (b->timeout_ms > 0)
		dl = deadline_min(dl, deadline_in_ms(b->timeout_ms));
	return dl;
}

/* The sandbox cache ---------------------------------------------------------------------------- */

/* Called locked. */
static struct sbx *
sbx_get(struct backend *b, const char *id, bool create)
{
	struct sbx *s;

	for (s = b->sbxs; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	if (!create)
		return NULL;
	s = xcalloc(1, sizeof *s);
	s->id = xstrdup(id);
	s->net_default = -1;
	s->next = b->sbxs;
	b->sbxs = s;
	return s;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
sbx_free(struct sbx *s)
{
	free(s->id);
	free(s->token);
	strv_free(s->allow, s->nallow);
	strv_free(s->deny, s->ndeny);
	free(s);
}

static void
token_remember(struct backend *b, const char *id, const char *token)
{
	struct sbx *s;

	log_add_secret(token);	/* envd tokens never reach a log line or a result */
	pthread_mutex_lock(&b->mu);
	s = sbx_get(b, id, true);
	free(s->token);
	s->token = xstrdup(token ? token : "");
	pthread_mutex_unlock(&b->mu);
}

/* The token in the arena, or NULL when unknown. */
static const char *
token_lookup(struct backend *b, const char *id, struct arena *a)
{
	const char *t = NULL;
	struct sbx *s;

	pthread_mutex_lock(&b->mu);
	s = sbx_get(b, id, false);
	if (s && s->token)
		t = arena_strdup(a, s->token);
	pthread_mutex_unlock(&b->mu);
	return t;
}

static void
sbx_forget(struct backend *b, const char *id)
{
	pthread_mutex_lock(&b->mu);
	for (struct sbx **pp = &b->sbxs; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			struct sbx *s = *pp;

			*pp = s->next;
			sbx_free(s);
			break;
		}
	}
	pthread_mutex_unlock(&b->mu);
}

static char **
strv_dup(const char **v, size_t n)
{
	char **out = n ? xcalloc(n, sizeof *out) : NULL;

	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void
net_remember(struct backend *b, const char *id, const struct net_policy *np)
{
	struct sbx *s;

	pthread_mutex_lock(&b->mu);
	s = sbx_get(b, id, true);
	strv_free(s->allow, s->nallow);
	strv_free(s->deny, s->ndeny);
	s->has_net = true;
	s->net_default = np ? np->default_action : -1;
	s->allow = np ? strv_dup(np->allow, np->nallow) : NULL;
	s->nallow = np ? np->nallow : 0;
	s->deny = np ? strv_dup(np->deny, np->ndeny) : NULL;
	s->ndeny = np ? np->ndeny : 0;
	pthread_mutex_unlock(&b->mu);
}

/* Management API --------------------------------------------------------------------------- */

static int
no_api(const struct backend *b, const char *what, struct err *e)
{
	return err_set(e, ERR_UNSUPPORTED, "%s needs the management API, and this session runs "
	    "in runtime-direct mode (no API key); set X_API_KEY or E2B_API_KEY (and the domain "
	    "or --api-url) to manage sandboxes", what);
}

struct mg_resp {
	int status;
	const struct json *j;		/* parsed body, or NULL when empty */
	const char *next_token;		/* x-next-token */
};

static int
mg_error(const struct backend *b, const char *what, const char *id, int status,
    const char *ctype, const char *body, size_t len, struct arena *a, struct err *e)
{
	const char *msg = NULL;

	if (ctype && str_has_prefix(ctype, "application/json") && len) {
		struct err je = { 0 };
		const struct json *j = json_parse(body, len, a, &je);

		msg = j ? json_get_str(j, "message") : NULL;
	}
	if (!msg)
		msg = http_body_excerpt(body, len, a);
	if (!*msg)
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
		if (id)
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

/* One management request: JSON body (or none) in, parsed JSON out. */
static int
mg_do(struct backend *b, const char *method, const char *path, const struct buf *body,
    const char *what, const char *id, struct mg_resp *out, struct call *c, struct err *e)
{
	struct http_header h[CONFIG_HEADERS_MAX + 4];
	size_t nh = 0;
	struct http_request rq = { 0 };
	struct http_response rs;
	char *url = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	if (!b->api_base)
		return no_api(b, what, e);
	if (url_join(b->api_base, path, b->scheme, &url, c->a, e))
		return e->code;
	if (b->api_key)
		h[nh++] = (struct http_header){ "X-API-Key", b->api_key };
	h[nh++] = (struct http_header){ "Accept", "application/json" };
	if (body)
		h[nh++] = (struct http_header){ "Content-Type", "application/json" };
	for (size_t i = 0; i < b->nextra; i++)
		h[nh++] = b->extra[i];
	rq.method = method;
	rq.url = url;
	rq.headers = h;
	rq.nheaders = nh;
	if (body) {
		rq.body = body->p ? body->p : "";
		rq.body_len = body->len;
	}
	rq.deadline = op_deadline(b, c);
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
		if (!out->j) {
			err_prefix(e, "%s: the API answered with ", what);
			rc = e->code;
		}
	}
out:
	http_response_fini(&rs);
	return rc;
}

static const char *
sbx_path(const char *id, const char *suffix, struct arena *a)
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
	if (!s || str_has_prefix(s, "0001-") || time_parse_rfc3339(s, &ms) != 0)
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
	if (!obj || obj->type != JSON_OBJECT || obj->count == 0)
		return 0;
	v = arena_alloc(a, obj->count * sizeof *v);
	if (!v)
		return ERR_TOOBIG;
	for (const struct json *m = obj->head; m; m = m->next) {
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

/* A Sandbox object (BRIEF §3) -> sb_info; remembers its envd token. */
static int
sb_from_json(struct backend *b, const struct json *j, struct sb_info *out, struct arena *a,
    struct err *e)
{
	const struct json *v;
	const char *tok;
	int64_t n;

	memset(out, 0, sizeof *out);
	if (!j || j->type != JSON_OBJECT || !json_get_str(j, "sandboxID"))
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
	if (tok)
		token_remember(b, out->id, tok);
	return 0;
}

/* Routing ----------------------------------------------------------------------------------- */

static char *
replace_all(const char *s, const char *what, const char *with, struct arena *a)
{
	struct buf o;
	const char *p = s, *q;
	char *r;

	buf_init(&o, 0);
	while ((q = strstr(p, what)) != NULL) {
		buf_append(&o, p, (size_t)(q - p), NULL);
		buf_puts(&o, with, NULL);
		p = q + strlen(what);
	}
	buf_puts(&o, p, NULL);
	r = arena_strdup(a, o.p ? o.p : "");
	buf_fini(&o);
	return r;
}

/* Base URL of port `port` of sandbox id (BRIEF §2.1, §2.2, §4); *header_mode when the
 * URL alone does not say which sandbox (the e2b-sandbox-* headers must). */
static char *
sandbox_base(const struct backend *b, const char *id, int port, bool *header_mode,
    struct arena *a)
{
	struct buf seg;
	char *enc, *out;

	*header_mode = false;
	buf_init(&seg, 0);
	url_encode(&seg, id, strlen(id), URL_PART_SEGMENT, NULL);
	enc = arena_strdup(a, seg.p ? seg.p : "");
	buf_fini(&seg);
	if (!enc)
		return NULL;
	if (b->sandbox_url) {
		if (strstr(b->sandbox_url, "{id}") || strstr(b->sandbox_url, "{port}")) {
			out = replace_all(b->sandbox_url, "{id}", enc, a);
			return out ? replace_all(out, "{port}", arena_printf(a, "%d", port), a) : NULL;
		}
		if (b->runtime_direct) {
			*header_mode = true;	/* runtime.Config.SandboxBaseURL */
			return arena_strdup(a, b->sandbox_url);
		}
		/* e2b.ConnectionConfig: <SandboxBaseURL>/<id> */
		return arena_printf(a, "%s%s%s", b->sandbox_url,
		    str_has_suffix(b->sandbox_url, "/") ? "" : "/", enc);
	}
	if (b->routing == R_PRIVATE)
		return arena_printf(a, "%s://%s/kruise/%s/%d", b->scheme, b->domain, enc, port);
	if (b->runtime_direct && !b->api_base && !b->routing_explicit) {
		*header_mode = true;	/* runtime.Config: <scheme>://<domain> */
		return arena_printf(a, "%s://%s", b->scheme, b->domain);
	}
	return arena_printf(a, "%s://%d-%s.%s", b->scheme, port, enc, b->domain);
}

/* The envd of sandbox id, with its token (looked up once through the API when needed). */
static int op_info(struct backend *b, const char *id, struct sb_info *out, struct call *c,
    struct err *e);

static int
target_for(struct backend *b, const char *id, struct envd_target *t, struct call *c,
    struct err *e)
{
	const char *tok;
	bool header_mode;

	memset(t, 0, sizeof *t);
	if (!id || !*id)
		id = b->default_id;
	if (!id)
		return err_set(e, ERR_INVAL, "no sandbox given: pass sandbox_id or start with "
		    "--sandbox ID");
	t->http = b->http;
	t->sandbox_id = id;
	t->port = b->envd_port;
	t->user = b->user;
	t->extra = b->extra;
	t->nextra = b->nextra;
	t->request_timeout_ms = b->timeout_ms;
	t->base_url = sandbox_base(b, id, b->envd_port, &header_mode, c->a);
	if (!t->base_url)
		return err_set(e, ERR_TOOBIG, "the request arena is full");
	tok = token_lookup(b, id, c->a);
	if (!tok && b->default_token && (b->runtime_direct ||
	    (b->default_id && strcmp(b->default_id, id) == 0)))
		tok = b->default_token;
	if (!tok && b->api_base) {
		struct sb_info info;

		/* A sandbox this session did not create: its token comes with its info. */
		if (op_info(b, id, &info, c, e))
			return e->code;
		tok = token_lookup(b, id, c->a);
		if (!tok)
			token_remember(b, id, "");
	}
	t->access_token = tok && *tok ? tok : NULL;
	return 0;
}

/* Lifecycle ops ----------------------------------------------------------------------------- */

static void
jsonw_strs(struct jsonw *w, const char *key, const char **v, size_t n)
{
	jsonw_key(w, key);
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_str(w, v[i]);
	jsonw_arr_end(w);
}

static void
jsonw_kvs(struct jsonw *w, const char *key, const struct kv *kv, size_t n, const char *k2,
    const char *v2)
{
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_kstr(w, kv[i].key, kv[i].value ? kv[i].value : "");
	if (k2)
		jsonw_kstr(w, k2, v2);
	jsonw_obj_end(w);
}

/* An IP address or CIDR block (kruise network.IsCIDROrIP): all a deny rule may be. */
static bool
ip_or_cidr(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned char addr[16];
	char host[64], *end;
	bool v6;
	long bits;

	if (n == 0 || n >= sizeof host)
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	v6 = strchr(host, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1)
		return false;
	if (!slash)
		return true;
	if (!isdigit((unsigned char)slash[1]))
		return false;
	bits = strtol(slash + 1, &end, 10);
	return *end == '\0' && bits >= 0 && bits <= (v6 ? 128 : 32);
}

/* Kruise refuses deny rules that are not IPs or CIDRs (400); say so before asking. */
static int
net_check(const struct net_policy *np, struct err *e)
{
	for (size_t i = 0; np && i < np->ndeny; i++)
		if (!ip_or_cidr(np->deny[i]))
			return err_set(e, ERR_UNSUPPORTED, "E2B/OpenKruise deny rules take IP "
			    "addresses and CIDR blocks only, not '%s'; to keep a sandbox away from a "
			    "domain, set default deny and allow only what it needs", np->deny[i]);
	return 0;
}

static int
op_create(struct backend *b, const struct sb_create *req, struct sb_info *out, struct call *c,
    struct err *e)
{
	struct buf body;
	struct jsonw w;
	struct mg_resp r;
	const char *tmpl = req->template_name ? req->template_name :
	    b->template_name ? b->template_name : E2B_DEFAULT_TEMPLATE;
	const struct net_policy *np = req->network;
	const char *note = NULL;
	int rc;

	if (net_check(np, e))
		return e->code;
	buf_init(&body, 0);
	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "templateID", tmpl);
	/* agents-api always sends timeout (BRIEF §3). */
	jsonw_kint(&w, "timeout", req->timeout_s > 0 ? req->timeout_s : E2B_DEFAULT_TIMEOUT_S);
	if (req->nmetadata || req->cpu)
		/* kruise reads a CPU request from this extension key (models/extensions.go). */
		jsonw_kvs(&w, "metadata", req->metadata, req->nmetadata,
		    req->cpu ? "e2b.agents.kruise.io/cpu-request" : NULL, req->cpu);
	if (req->nenv)
		jsonw_kvs(&w, "envVars", req->env, req->nenv, NULL, NULL);
	if (req->auto_pause >= 0)
		jsonw_kbool(&w, "autoPause", req->auto_pause != 0);
	if (req->secure >= 0)
		jsonw_kbool(&w, "secure", req->secure != 0);
	if (np) {
		/* E2B's network model: allow_internet_access=false is denyOut 0.0.0.0/0, and
		 * allowOut entries win over denied ones (openapi.yml SandboxNetworkConfig). */
		if (np->default_action >= 0)
			jsonw_kbool(&w, "allow_internet_access", np->default_action == 1);
		if (np->nallow || np->ndeny) {
			jsonw_key(&w, "network");
			jsonw_obj_begin(&w);
			if (np->nallow)
				jsonw_strs(&w, "allowOut", np->allow, np->nallow);
			if (np->ndeny)
				jsonw_strs(&w, "denyOut", np->deny, np->ndeny);
			jsonw_obj_end(&w);
		}
	}
	jsonw_obj_end(&w);
	if (jsonw_error(&w)) {
		rc = err_set(e, jsonw_error(&w), "building the create request: %s", w.err.msg);
		goto out;
	}
	rc = mg_do(b, "POST", "/sandboxes", &body, "creating a sandbox", NULL, &r, c, e);
	if (rc == 0)
		rc = sb_from_json(b, r.j, out, c->a, e);
	if (rc)
		goto out;
	if (np)
		net_remember(b, out->id, np);
	if (req->memory)
		note = "resources.memory was not applied: E2B/OpenKruise size memory by template";
	if (req->entrypoint)
		note = note ? arena_printf(c->a, "%s; the entrypoint was ignored (templates define "
		    "it)", note) : "the entrypoint was ignored: templates define it";
	out->note = note;
out:
	buf_fini(&body);
	return rc;
}

static int
op_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out, struct call *c,
    struct err *e)
{
	struct buf q, inner;
	struct mg_resp r;
	const char *path;
	int rc = 0;

	memset(out, 0, sizeof *out);
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
		url_query_add(&q, "limit", arena_printf(c->a, "%d", req->limit > 100 ? 100 :
		    req->limit), e);
	if (req->cursor && *req->cursor)
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
	rc = mg_do(b, "GET", q.p, NULL, "listing sandboxes", NULL, &r, c, e);
	if (rc)
		goto out;
	if (!r.j || r.j->type != JSON_ARRAY) {
		rc = err_set(e, ERR_PROTO, "listing sandboxes: the API did not answer with an array");
		goto out;
	}
	out->items = r.j->count ? arena_zalloc(c->a, r.j->count * sizeof *out->items) : NULL;
	for (const struct json *it = r.j->head; it; it = it->next) {
		if (sb_from_json(b, it, &out->items[out->n], c->a, e)) {
			rc = e->code;
			goto out;
		}
		out->n++;
	}
	if (r.next_token && *r.next_token)
		out->next_cursor = arena_strdup(c->a, r.next_token);
out:
	buf_fini(&q);
	buf_fini(&inner);
	return rc;
}

static int
op_info(struct backend *b, const char *id, struct sb_info *out, struct call *c, struct err *e)
{
	struct mg_resp r;
	int rc = mg_do(b, "GET", sbx_path(id, "", c->a),
	    NULL, arena_printf(c->a, "reading sandbox %s", id), id, &r, c, e);

	return rc ? rc : sb_from_json(b, r.j, out, c->a, e);
}

static int
op_kill(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct mg_resp r;
	int rc = mg_do(b, "DELETE", sbx_path(id, "", c->a), NULL,
	    arena_printf(c->a, "killing sandbox %s", id), id, &r, c, e);

	if (rc == 0)
		sbx_forget(b, id);
	return rc;
}

static int
op_pause(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct mg_resp r;
	int rc = mg_do(b, "POST", sbx_path(id, "/pause", c->a), NULL,
	    arena_printf(c->a, "pausing sandbox %s", id), id, &r, c, e);

	if (rc == ERR_EXISTS) {
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

static int
op_resume(struct backend *b, const char *id, struct call *c, struct err *e)
{
	struct buf body;
	struct mg_resp r;
	struct sb_info info;
	int rc;

	/* Connect resumes a paused sandbox (201) and is harmless on a running one (200). */
	rc = mg_do(b, "POST", sbx_path(id, "/connect", c->a),
	    timeout_body(&body, E2B_DEFAULT_TIMEOUT_S),
	    arena_printf(c->a, "resuming sandbox %s", id), id, &r, c, e);
	if (rc == 0 && r.j)
		rc = sb_from_json(b, r.j, &info, c->a, e);
	buf_fini(&body);
	return rc;
}

static int
op_set_timeout(struct backend *b, const char *id, int64_t timeout_s, int64_t *expires_at,
    struct call *c, struct err *e)
{
	struct buf body;
	struct mg_resp r;
	int rc;

	if (timeout_s < 0)
		return err_set(e, ERR_INVAL, "timeout_s must not be negative");
	rc = mg_do(b, "POST", sbx_path(id, "/timeout", c->a), timeout_body(&body, timeout_s),
	    arena_printf(c->a, "setting the timeout of sandbox %s", id), id, &r, c, e);
	buf_fini(&body);
	if (rc == 0)
		*expires_at = time_wall_ms() + timeout_s * 1000;
	return rc;
}

static int
op_url(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
    struct err *e)
{
	bool header_mode;
	struct kv *h;

	if (port < 1 || port > 65535)
		return err_set(e, ERR_INVAL, "port %d is not a TCP port (1-65535)", port);
	memset(out, 0, sizeof *out);
	out->url = sandbox_base(b, id, port, &header_mode, c->a);
	if (!out->url)
		return err_set(e, ERR_TOOBIG, "the request arena is full");
	if (header_mode) {
		h = arena_alloc(c->a, 2 * sizeof *h);
		if (!h)
			return err_set(e, ERR_TOOBIG, "the request arena is full");
		h[0] = (struct kv){ "e2b-sandbox-id", id };
		h[1] = (struct kv){ "e2b-sandbox-port", arena_printf(c->a, "%d", port) };
		out->headers = h;
		out->nheaders = 2;
	}
	return 0;
}

static int
op_metrics(struct backend *b, const char *id, struct sb_metrics *out, struct call *c,
    struct err *e)
{
	struct envd_target t;

	return target_for(b, id, &t, c, e) ? e->code : envd_metrics(&t, out, c, e);
}

/* exec ----------------------------------------------------------------------------------------- */

struct exec_run {
	struct backend *b;
	const struct envd_target *t;
	const struct exec_req *req;
	exec_event_fn fn;
	void *arg;
	struct exec_result *res;
	struct call *c;
	uint32_t pid;
	bool started, ended, stopped;
	struct envd_event end;
};

static void
kill_quietly(const struct envd_target *t, uint32_t pid, struct arena *a)
{
	struct call kc = { a, NULL, deadline_in_ms(KILL_GRACE_MS) };
	struct err ke = { 0 };

	/* Closing the stream does not stop the process (BRIEF §11.4): kill it. */
	if (envd_signal(t, pid, 9, &kc, &ke) && ke.code != ERR_NOTFOUND)
		log_msg(LOG_WARN, "e2b", "could not kill process %u in sandbox %s: %s", pid,
		    t->sandbox_id, ke.msg);
}

static int
exec_emit(struct exec_run *x, enum exec_event_type type, const char *data, size_t len,
    struct err *e)
{
	struct exec_event ev = { type, data, len, x->res->pid };

	if (!x->fn || x->fn(x->arg, &ev) == 0)
		return 0;
	x->stopped = true;
	return err_set(e, ERR_CANCELLED, "the command was stopped");
}

/* Feeds the request's stdin after the start event, then closes it. */
static int
exec_stdin(struct exec_run *x, struct err *e)
{
	const struct exec_req *req = x->req;
	int rc;

	if (!req->stdin_data)
		return 0;
	rc = req->stdin_len ? envd_send_input(x->t, x->pid, req->stdin_data, req->stdin_len,
	    x->c, e) : 0;
	if (rc == 0 && !req->background)
		rc = envd_close_stdin(x->t, x->pid, x->c, e);
	return rc;
}

static int
exec_event(void *arg, const struct envd_event *ev, struct err *e)
{
	struct exec_run *x = arg;

	switch (ev->type) {
	case ENVD_EV_START:
		if (x->started)
			return 0;	/* a re-attach repeats start{pid} */
		x->started = true;
		x->pid = ev->pid;
		x->res->pid = arena_printf(x->c->a, "%u", ev->pid);
		if (exec_emit(x, EXEC_EV_START, NULL, 0, e))
			return e->code;
		return exec_stdin(x, e);
	case ENVD_EV_STDOUT:
	case ENVD_EV_PTY:
		return exec_emit(x, EXEC_EV_STDOUT, ev->data, ev->len, e);
	case ENVD_EV_STDERR:
		return exec_emit(x, EXEC_EV_STDERR, ev->data, ev->len, e);
	case ENVD_EV_END:
		x->ended = true;
		x->end = *ev;
		return 0;
	default:
		return 0;
	}
}

static bool
transient(int rc)
{
	return rc == ERR_IO || rc == ERR_PROTO || rc == ERR_TLS;
}

static int
exec_foreground(struct exec_run *x, const struct envd_start_req *rq, struct err *e)
{
	const struct exec_req *req = x->req;
	struct exec_result *res = x->res;
	int64_t t0 = time_mono_ms();
	int rc, tries = 0;

	rc = envd_start(x->t, rq, exec_event, x, x->c, e);
	/* A stream that broke while the command runs is re-attached (Connect by pid). */
	while (rc && transient(rc) && x->started && !x->ended && tries++ < 3) {
		log_msg(LOG_INFO, "e2b", "re-attaching to process %u in sandbox %s after: %s",
		    x->pid, x->t->sandbox_id, e->msg);
		err_clear(e);
		rc = envd_connect(x->t, x->pid, exec_event, x, x->c, e);
	}
	if (rc && x->started && !x->ended)
		kill_quietly(x->t, x->pid, x->c->a);
	if (rc == ERR_TIMEOUT && req->timeout_ms > 0 &&
	    time_mono_ms() - t0 >= req->timeout_ms - 100) {
		err_clear(e);
		res->timed_out = true;
		res->exited = false;
		res->note = arena_printf(x->c->a, "killed after the %lld ms timeout",
		    (long long)req->timeout_ms);
		return 0;
	}
	if (rc)
		return rc;
	if (!x->ended)
		return err_set(e, ERR_PROTO, "envd of sandbox %s ended the command stream without "
		    "an exit status", x->t->sandbox_id);
	res->exited = envd_exit_status(&x->end, &res->exit_code);
	if (!x->end.exited)
		res->note = arena_printf(x->c->a, "the process ended by %s", x->end.status);
	return 0;
}

static int
op_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn,
    void *arg, struct exec_result *res, struct call *c, struct err *e)
{
	struct envd_target t;
	struct envd_start_req rq = { 0 };
	struct exec_run x = { b, &t, req, fn, arg, res, c, 0, false, false, false, { 0 } };

	memset(res, 0, sizeof *res);
	if (!req->command || !*req->command)
		return err_set(e, ERR_INVAL, "the command is empty");
	if (target_for(b, id, &t, c, e))
		return e->code;
	rq.command = req->command;
	rq.cwd = req->cwd;
	rq.env = req->env;
	rq.nenv = req->nenv;
	/* Foreground commands see EOF on stdin unless the agent gave input (BRIEF §11.1);
	 * background ones keep it open for process_send_stdin. */
	rq.stdin_open = req->background || req->stdin_data != NULL;
	if (!req->background) {
		rq.timeout_ms = req->timeout_ms;
		return exec_foreground(&x, &rq, e);
	}
	if (envd_procs_start(b->procs, &t, &rq, &x.pid, c, e))
		return e->code;
	res->pid = arena_printf(c->a, "%u", x.pid);
	res->exited = false;
	x.started = true;
	if (exec_emit(&x, EXEC_EV_START, NULL, 0, e))
		return e->code;
	return exec_stdin(&x, e);
}

/* Background processes ------------------------------------------------------------------------ */

static int
parse_pid(const char *s, uint32_t *pid, struct err *e)
{
	int64_t v;

	if (!s || !str_to_i64(str_from(s), &v) || v <= 0 || v > UINT32_MAX)
		return err_set(e, ERR_INVAL, "process id '%s' is not a number; take it from exec "
		    "(background) or process_list", s ? s : "");
	*pid = (uint32_t)v;
	return 0;
}

static int
op_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n,
    struct call *c, struct err *e)
{
	struct envd_target t;
	struct envd_proc *ps;
	struct proc_info *ended, *all;
	size_t np, ne;

	if (target_for(b, id, &t, c, e) || envd_list(&t, &ps, &np, c, e))
		return e->code;
	if (envd_procs_ended(b->procs, t.sandbox_id, &ended, &ne, c->a))
		return err_set(e, ERR_TOOBIG, "the request arena is full");
	all = (np + ne) ? arena_zalloc(c->a, (np + ne) * sizeof *all) : NULL;
	if (np + ne && !all)
		return err_set(e, ERR_TOOBIG, "the request arena is full");
	for (size_t i = 0; i < np; i++) {
		all[i].pid = arena_printf(c->a, "%u", ps[i].pid);
		all[i].command = ps[i].command;
		all[i].running = true;
	}
	for (size_t i = 0; i < ne; i++)
		all[np + i] = ended[i];
	*out = all;
	*n = np + ne;
	return 0;
}

static int
op_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c, struct err *e)
{
	struct envd_target t;
	uint32_t p;

	memset(out, 0, sizeof *out);
	if (parse_pid(pid, &p, e) || target_for(b, id, &t, c, e))
		return e->code;
	return envd_procs_output(b->procs, &t, p, offset, wait_ms, max_bytes, out, c, e);
}

static int
op_proc_stdin(struct backend *b, const char *id, const char *pid, const char *data,
    size_t len, bool close_stdin, struct call *c, struct err *e)
{
	struct envd_target t;
	uint32_t p;

	if (parse_pid(pid, &p, e) || target_for(b, id, &t, c, e))
		return e->code;
	if (len && envd_send_input(&t, p, data, len, c, e))
		return e->code;
	return close_stdin ? envd_close_stdin(&t, p, c, e) : 0;
}

static int
op_proc_kill(struct backend *b, const char *id, const char *pid, int signo, struct call *c,
    struct err *e)
{
	struct envd_target t;
	uint32_t p;
	int rc;

	if (parse_pid(pid, &p, e) || target_for(b, id, &t, c, e))
		return e->code;
	rc = envd_signal(&t, p, signo > 0 ? signo : 15, c, e);
	if (rc == ERR_NOTFOUND) {
		err_clear(e);
		rc = err_set(e, ERR_NOTFOUND, "process %s is not running in sandbox %s", pid,
		    t.sandbox_id);
	}
	return rc;
}

/* Files --------------------------------------------------------------------------------------- */

static int
op_file_read(struct backend *b, const char *id, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e)
{
	struct envd_target t;

	if (target_for(b, id, &t, c, e))
		return e->code;
	return envd_file_read(&t, path, offset, max_bytes, out, size, c, e);
}

static int
op_file_write(struct backend *b, const char *id, const char *path, const void *data,
    size_t len, uint32_t mode, struct call *c, struct err *e)
{
	struct envd_target t;
	int code = 0;

	if (target_for(b, id, &t, c, e) || envd_file_write(&t, path, data, len, c, e))
		return e->code;
	if (mode != FILE_MODE_DEFAULT) {
		/* /files has no mode: set it with chmod, without a shell (no quoting), run in the
		 * file's directory on its base name so only envd resolves the path. */
		const char *slash = strrchr(path, '/');
		const char *dir = !slash ? NULL : slash == path ? "/" :
		    arena_strndup(c->a, path, (size_t)(slash - path));
		const char *argv[] = { "chmod", arena_printf(c->a, "%o", mode & 07777), "--",
		    slash ? slash + 1 : path };

		if (envd_run(&t, argv, 4, dir, &code, c, e))
			return e->code;
		if (code != 0)
			return err_set(e, ERR_BACKEND, "%s was written but chmod %o failed (exit %d)",
			    path, mode & 07777, code);
	}
	return 0;
}

static int
op_file_list(struct backend *b, const char *id, const char *path, int depth,
    struct file_list *out, struct call *c, struct err *e)
{
	struct envd_target t;

	if (target_for(b, id, &t, c, e))
		return e->code;
	return envd_list_dir(&t, path, depth < 1 ? 1 : depth, ENVD_LIST_MAX, out, c, e);
}

static int
op_file_stat(struct backend *b, const char *id, const char *path, struct file_entry *out,
    struct call *c, struct err *e)
{
	struct envd_target t;
	int rc;

	if (target_for(b, id, &t, c, e))
		return e->code;
	rc = envd_stat(&t, path, out, c, e);
	if (rc == ERR_NOTFOUND) {
		err_clear(e);
		rc = err_set(e, ERR_NOTFOUND, "%s does not exist in sandbox %s", path, t.sandbox_id);
	}
	return rc;
}

static int
op_file_mkdir(struct backend *b, const char *id, const char *path, bool *created,
    struct call *c, struct err *e)
{
	struct envd_target t;

	if (target_for(b, id, &t, c, e))
		return e->code;
	return envd_mkdir(&t, path, created, c, e);
}

static int
op_file_move(struct backend *b, const char *id, const char *src, const char *dst,
    struct call *c, struct err *e)
{
	struct envd_target t;

	if (target_for(b, id, &t, c, e))
		return e->code;
	return envd_move(&t, src, dst, c, e);
}

static int
op_file_remove(struct backend *b, const char *id, const char *path, bool *removed,
    struct call *c, struct err *e)
{
	struct envd_target t;
	struct file_entry fe;
	int rc;

	if (target_for(b, id, &t, c, e))
		return e->code;
	/* envd's Remove is rm -rf (a missing path is fine), so ask first. */
	rc = envd_stat(&t, path, &fe, c, e);
	if (rc == ERR_NOTFOUND) {
		err_clear(e);
		*removed = false;
		return 0;
	}
	if (rc)
		return rc;
	rc = envd_remove(&t, path, c, e);
	*removed = rc == 0;
	return rc;
}

static int
op_file_search(struct backend *b, const char *id, const char *path, const char *pattern,
    struct file_search *out, struct call *c, struct err *e)
{
	struct envd_target t;
	struct file_list fl = { 0 };
	int depth = 1;
	size_t rootlen;

	memset(out, 0, sizeof *out);
	if (!pattern || !*pattern || strlen(pattern) > 1024)
		return err_set(e, ERR_INVAL, "the pattern must be 1 to 1024 bytes long");
	if (strstr(pattern, "**"))
		depth = SEARCH_DEPTH_MAX;
	else
		for (const char *q = pattern; *q; q++)
			depth += *q == '/';
	if (target_for(b, id, &t, c, e))
		return e->code;
	if (path[0] != '/') {
		/* Entries carry absolute paths: learn what a relative root resolves to. */
		struct file_entry root;

		if (envd_stat(&t, path, &root, c, e))
			return e->code;
		path = root.path;
	}
	if (envd_list_dir(&t, path, depth, ENVD_LIST_MAX, &fl, c, e))
		return e->code;
	out->matches = fl.n ? arena_alloc(c->a, fl.n * sizeof *out->matches) : NULL;
	out->truncated = fl.truncated;
	rootlen = strlen(path);
	while (rootlen > 1 && path[rootlen - 1] == '/')
		rootlen--;
	for (size_t i = 0; i < fl.n; i++) {
		const char *full = fl.items[i].path, *rel = fl.items[i].name;

		/* envd joins the requested path with the relative one (BRIEF §8). */
		if (rootlen == 1 && full[0] == '/')
			rel = full + 1;
		else if (strncmp(full, path, rootlen) == 0 && full[rootlen] == '/')
			rel = full + rootlen + 1;
		if (!glob_match(pattern, rel))
			continue;
		if (out->n == SEARCH_MATCH_MAX) {
			out->truncated = true;
			break;
		}
		out->matches[out->n++] = full;
	}
	return 0;
}

/* Network policy ------------------------------------------------------------------------------ */

static const char **
json_strv(const struct json *arr, size_t *n, struct arena *a)
{
	const char **v;

	*n = 0;
	if (!arr || arr->type != JSON_ARRAY || !arr->count)
		return NULL;
	v = arena_alloc(a, arr->count * sizeof *v);
	for (const struct json *it = arr->head; v && it; it = it->next)
		if (it->type == JSON_STRING)
			v[(*n)++] = it->s;
	return v;
}

static int
op_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c,
    struct err *e)
{
	struct mg_resp r;
	const struct json *net;
	struct sbx *s;
	int rc;

	memset(out, 0, sizeof *out);
	out->default_action = 1;	/* E2B sandboxes reach the internet unless told not to */
	rc = mg_do(b, "GET", sbx_path(id, "", c->a), NULL,
	    arena_printf(c->a, "reading the network policy of sandbox %s", id), id, &r, c, e);
	if (rc)
		return rc;
	net = json_get(r.j, "network");
	if (net && net->type == JSON_OBJECT) {
		out->allow = json_strv(json_get(net, "allowOut"), &out->nallow, c->a);
		out->deny = json_strv(json_get(net, "denyOut"), &out->ndeny, c->a);
	}
	if (json_is_bool(json_get(r.j, "allow_internet_access")))
		out->default_action = json_truthy(json_get(r.j, "allow_internet_access"));
	pthread_mutex_lock(&b->mu);
	s = sbx_get(b, id, false);
	if (s && s->has_net) {
		/* What we created it with is more than kruise's GET tells. */
		if (s->net_default >= 0)
			out->default_action = s->net_default;
		if (!out->nallow && s->nallow) {
			out->allow = arena_alloc(c->a, s->nallow * sizeof *out->allow);
			for (size_t i = 0; out->allow && i < s->nallow; i++)
				out->allow[out->nallow++] = arena_strdup(c->a, s->allow[i]);
		}
		if (!out->ndeny && s->ndeny) {
			out->deny = arena_alloc(c->a, s->ndeny * sizeof *out->deny);
			for (size_t i = 0; out->deny && i < s->ndeny; i++)
				out->deny[out->ndeny++] = arena_strdup(c->a, s->deny[i]);
		}
	}
	pthread_mutex_unlock(&b->mu);
	for (size_t i = 0; i < out->ndeny; i++)
		if (strcmp(out->deny[i], "0.0.0.0/0") == 0)
			out->default_action = 0;
	if (out->default_action == 0) {
		/* kruise stores "deny by default" as denyOut 0.0.0.0/0: show it as the default. */
		size_t k = 0;

		for (size_t i = 0; i < out->ndeny; i++)
			if (strcmp(out->deny[i], "0.0.0.0/0") != 0)
				out->deny[k++] = out->deny[i];
		out->ndeny = k;
	}
	return 0;
}

static bool
strv_has(const char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Appends the strings of v that are not in dst yet and not in skip1/skip2. */
static void
strv_merge(const char **dst, size_t *n, const char **v, size_t nv, const struct net_policy *skip)
{
	for (size_t i = 0; i < nv; i++) {
		if (strv_has(dst, *n, v[i]) || (skip && (strv_has(skip->allow, skip->nallow, v[i]) ||
		    strv_has(skip->deny, skip->ndeny, v[i]))))
			continue;
		dst[(*n)++] = v[i];
	}
}

/* PUT /sandboxes/{id}/network (kruise network.go, openapi SandboxNetworkUpdateConfig): it
 * replaces the egress rules, so a merge reads the current ones first. The request's rules
 * override current rules for the same target. */
static int
op_net_set(struct backend *b, const char *id, const struct net_policy *req, bool replace,
    struct net_policy *out, struct call *c, struct err *e)
{
	struct net_policy cur = { .default_action = 1 }, np = { .default_action = 1 };
	const char *what = arena_printf(c->a, "changing the network policy of sandbox %s", id);
	struct buf body;
	struct jsonw w;
	struct mg_resp r = { 0 };
	int rc;

	if (net_check(req, e))
		return e->code;
	if (!b->api_base)
		return no_api(b, "network_policy", e);
	if (!replace && (rc = op_net_get(b, id, &cur, c, e)))
		return rc;
	/* Replacing without a default means the platform's: internet access on. */
	np.default_action = req->default_action >= 0 ? req->default_action :
	    replace ? 1 : cur.default_action;
	np.allow = arena_alloc(c->a, (req->nallow + cur.nallow + 1) * sizeof *np.allow);
	np.deny = arena_alloc(c->a, (req->ndeny + cur.ndeny + 1) * sizeof *np.deny);
	if (!np.allow || !np.deny)
		return err_set(e, ERR_TOOBIG, "the request arena is full");
	strv_merge(np.allow, &np.nallow, req->allow, req->nallow, NULL);
	strv_merge(np.deny, &np.ndeny, req->deny, req->ndeny, NULL);
	strv_merge(np.allow, &np.nallow, cur.allow, cur.nallow, req);
	strv_merge(np.deny, &np.ndeny, cur.deny, cur.ndeny, req);
	buf_init(&body, 0);
	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	jsonw_strs(&w, "allowOut", np.allow, np.nallow);
	jsonw_strs(&w, "denyOut", np.deny, np.ndeny);
	jsonw_kbool(&w, "allow_internet_access", np.default_action == 1);
	jsonw_obj_end(&w);
	rc = jsonw_error(&w) ? err_set(e, jsonw_error(&w), "building the network request: %s",
	    w.err.msg) : mg_do(b, "PUT", sbx_path(id, "/network", c->a), &body, what, id, &r, c, e);
	buf_fini(&body);
	if (rc == ERR_NOTFOUND || (rc && r.status == 405)) {
		struct sb_info info;
		struct err ge = { 0 };

		/* A sandbox manager from before the network route answers 404 or 405 for it;
		 * the sandbox itself is still there. */
		if (r.status == 405 || op_info(b, id, &info, c, &ge) == 0) {
			err_clear(e);
			return err_set(e, ERR_UNSUPPORTED, "this sandbox manager cannot change a "
			    "sandbox's network policy (no PUT /sandboxes/ID/network): set it at "
			    "create, with network in sandbox_create");
		}
	}
	if (rc)
		return rc;
	net_remember(b, id, &np);
	return op_net_get(b, id, out, c, e);
}

/* Kubernetes: a kubeconfig reader (the YAML subset kubectl writes) and the Sandbox lookup --- */

enum ykind { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
	enum ykind kind;
	const char *key;		/* member name inside a map */
	const char *val;		/* scalar text */
	struct ynode *child, *last, *next;
};

struct yline {
	int indent;
	char *text;
};

struct yparse {
	struct yline *l;
	size_t n, i;
	struct arena *a;
	int depth;
};

static struct ynode *
ynew(struct arena *a, enum ykind k)
{
	struct ynode *y = arena_zalloc(a, sizeof *y);

	if (y)
		y->kind = k;
	return y;
}

static void
yadd(struct ynode *parent, struct ynode *c)
{
	if (!parent || !c)
		return;
	if (parent->last)
		parent->last->next = c;
	else
		parent->child = c;
	parent->last = c;
}

/* A YAML scalar: 'single' (with '' for '), "double" (common escapes) or plain. */
static const char *
yscalar(const char *s, struct arena *a)
{
	size_t n = strlen(s);
	char *o, *w;

	if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
		o = w = arena_alloc(a, n);
		for (size_t i = 1; o && i + 1 < n; i++) {
			*w++ = s[i];
			if (s[i] == '\'' && s[i + 1] == '\'')
				i++;
		}
		if (o)
			*w = '\0';
		return o;
	}
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		o = w = arena_alloc(a, n);
		for (size_t i = 1; o && i + 1 < n; i++) {
			if (s[i] == '\\' && i + 2 < n) {
				char x = s[++i];

				*w++ = x == 'n' ? '\n' : x == 't' ? '\t' : x == 'r' ? '\r' : x;
			} else {
				*w++ = s[i];
			}
		}
		if (o)
			*w = '\0';
		return o;
	}
	return s;
}

/* Offset of the ':' that ends a mapping key in s, or -1. */
static long
ykey_end(const char *s)
{
	char q = 0;

	for (const char *p = s; *p; p++) {
		if (q) {
			if (*p == q)
				q = 0;
			continue;
		}
		if ((*p == '"' || *p == '\'') && p == s)
			q = *p;
		else if (*p == ':' && (p[1] == ' ' || p[1] == '\0'))
			return p - s;
	}
	return -1;
}

static bool
ydash(const char *s)
{
	return s[0] == '-' && (s[1] == ' ' || s[1] == '\0');
}

static struct ynode *yblock(struct yparse *p, int indent);

static struct ynode *
yvalue(struct yparse *p, const char *rest, int indent)
{
	struct ynode *v;

	if (*rest) {
		if (strcmp(rest, "[]") == 0)
			return ynew(p->a, Y_SEQ);
		if (strcmp(rest, "{}") == 0)
			return ynew(p->a, Y_MAP);
		v = ynew(p->a, Y_SCALAR);
		if (v)
			v->val = yscalar(rest, p->a);
		return v;
	}
	if (p->i < p->n && (p->l[p->i].indent > indent ||
	    (p->l[p->i].indent == indent && ydash(p->l[p->i].text))))
		return yblock(p, p->l[p->i].indent);
	v = ynew(p->a, Y_SCALAR);
	if (v)
		v->val = "";
	return v;
}

static struct ynode *
yblock(struct yparse *p, int indent)
{
	struct ynode *node;

	if (p->i >= p->n || p->l[p->i].indent < indent || ++p->depth > 32)
		return NULL;
	if (ydash(p->l[p->i].text)) {
		node = ynew(p->a, Y_SEQ);
		while (node && p->i < p->n && p->l[p->i].indent == indent &&
		    ydash(p->l[p->i].text)) {
			struct yline *ln = &p->l[p->i];
			char *rest = ln->text + 1;

			while (*rest == ' ')
				rest++;
			if (!*rest) {
				p->i++;
				yadd(node, yvalue(p, "", indent));
			} else if (ykey_end(rest) >= 0) {
				/* "- key: v" starts a map whose keys line up with "key". */
				ln->indent += (int)(rest - ln->text);
				ln->text = rest;
				yadd(node, yblock(p, ln->indent));
			} else {
				p->i++;
				yadd(node, yvalue(p, rest, indent));
			}
		}
	} else {
		node = ynew(p->a, Y_MAP);
		while (node && p->i < p->n && p->l[p->i].indent == indent &&
		    !ydash(p->l[p->i].text)) {
			char *t = p->l[p->i].text, *rest;
			long k = ykey_end(t);
			struct ynode *v;

			p->i++;
			if (k < 0)
				continue;	/* not a mapping line: skip it */
			t[k] = '\0';
			rest = t + k + 1;
			while (*rest == ' ')
				rest++;
			v = yvalue(p, rest, indent);
			if (v) {
				v->key = yscalar(t, p->a);
				yadd(node, v);
			}
		}
	}
	p->depth--;
	return node;
}

static struct ynode *
yaml_parse(char *text, struct arena *a)
{
	struct yparse p = { .a = a };
	size_t cap = 64;
	char *save = NULL;

	p.l = arena_alloc(a, cap * sizeof *p.l);
	for (char *ln = strtok_r(text, "\n", &save); p.l && ln; ln = strtok_r(NULL, "\n", &save)) {
		int ind = 0;
		char q = 0;
		size_t len;

		while (ln[ind] == ' ')
			ind++;
		/* Drop comments (a '#' at the start or after a space, outside quotes). */
		for (char *c = ln + ind; *c; c++) {
			if (q) {
				q = *c == q ? 0 : q;
			} else if (*c == '"' || *c == '\'') {
				q = *c;
			} else if (*c == '#' && (c == ln + ind || c[-1] == ' ')) {
				*c = '\0';
				break;
			}
		}
		len = strlen(ln);
		while (len > 0 && (ln[len - 1] == ' ' || ln[len - 1] == '\r' || ln[len - 1] == '\t'))
			ln[--len] = '\0';
		if (!ln[ind] || strcmp(ln + ind, "---") == 0)
			continue;
		if (p.n == cap) {
			struct yline *nl = arena_alloc(a, 2 * cap * sizeof *nl);

			if (!nl)
				return NULL;
			memcpy(nl, p.l, cap * sizeof *nl);
			p.l = nl;
			cap *= 2;
		}
		p.l[p.n++] = (struct yline){ ind, ln + ind };
	}
	return p.l ? yblock(&p, p.n ? p.l[0].indent : 0) : NULL;
}

static const struct ynode *
yget(const struct ynode *map, const char *key)
{
	if (!map || map->kind != Y_MAP)
		return NULL;
	for (const struct ynode *c = map->child; c; c = c->next)
		if (c->key && strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

static const char *
ystr(const struct ynode *map, const char *key)
{
	const struct ynode *v = yget(map, key);

	return v && v->kind == Y_SCALAR && *v->val ? v->val : NULL;
}

/* The entry of a kubeconfig list (clusters, users, contexts) with that name. */
static const struct ynode *
ynamed(const struct ynode *root, const char *list, const char *name, const char *inner)
{
	const struct ynode *l = yget(root, list);

	for (const struct ynode *it = l && l->kind == Y_SEQ ? l->child : NULL; it; it = it->next) {
		const char *n = ystr(it, "name");

		if (n && name && strcmp(n, name) == 0)
			return yget(it, inner);
	}
	return NULL;
}

struct k8s_conn {
	const char *server;
	const char *auth;		/* Authorization value, or NULL */
	const char *ca_file;		/* or NULL: the system bundle */
	char ca_tmp[64];		/* a temporary file holding certificate-authority-data */
	bool insecure;
	const char *source;		/* for messages: "kubeconfig /x", "in-cluster" */
	/* Client certificate (kubeconfig client-certificate / client-key files, or the
	 * decoded -data forms, which win; the key is wiped before the arena is freed). */
	const char *cert_file, *key_file;
	unsigned char *cert, *key;
	size_t cert_len, key_len;
};

static char *
read_file(const char *path, size_t max, size_t *len, struct arena *a)
{
	FILE *f = fopen(path, "rb");
	char *p;
	size_t n;

	if (!f)
		return NULL;
	p = arena_alloc(a, max + 1);
	n = p ? fread(p, 1, max + 1, f) : 0;
	fclose(f);
	if (!p || n > max)
		return NULL;
	p[n] = '\0';
	if (len)
		*len = n;
	return p;
}

static char *
trim_token(char *s)
{
	size_t n = s ? strlen(s) : 0;

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Relative file names in a kubeconfig are relative to its directory. */
static const char *
kc_path(const char *kcfile, const char *p, struct arena *a)
{
	const char *slash = strrchr(kcfile, '/');

	if (!p || p[0] == '/' || !slash)
		return p;
	return arena_printf(a, "%.*s/%s", (int)(slash - kcfile), kcfile, p);
}

/* The decoded base64 of a kubeconfig *-data field; NULL with *e set when it is not. */
static unsigned char *
kc_data(const char *file, const char *field, const char *v, size_t *len, struct arena *a,
    struct err *e)
{
	size_t n = strlen(v);
	unsigned char *p = arena_alloc(a, b64_decoded_max(n) + 1);
	ssize_t pl = p ? b64_decode(v, n, p) : -1;

	if (pl <= 0) {
		err_set(e, ERR_INVAL, "the kubeconfig %s: %s is not base64", file, field);
		return NULL;
	}
	*len = (size_t)pl;
	return p;
}

/* users[].user's client certificate and key: both or neither (kubectl's rule). */
static int
kubeconfig_cert(const char *file, const struct ynode *us, struct k8s_conn *k, struct arena *a,
    struct err *e)
{
	const char *cd = ystr(us, "client-certificate-data"), *kd = ystr(us, "client-key-data");
	const char *cf = ystr(us, "client-certificate"), *kf = ystr(us, "client-key");

	if (!(cd || cf) && !(kd || kf))
		return 0;
	if (!(cd || cf) || !(kd || kf))
		return err_set(e, ERR_INVAL, "the kubeconfig %s gives a client %s without its %s; "
		    "set both client-certificate(-data) and client-key(-data)", file,
		    cd || cf ? "certificate" : "key", cd || cf ? "key" : "certificate");
	if (cd) {
		if (!(k->cert = kc_data(file, "client-certificate-data", cd, &k->cert_len, a, e)))
			return e->code;
	} else {
		k->cert_file = kc_path(file, cf, a);
	}
	if (kd) {
		if (!(k->key = kc_data(file, "client-key-data", kd, &k->key_len, a, e)))
			return e->code;
	} else {
		k->key_file = kc_path(file, kf, a);
	}
	if (str_has_prefix(k->server, "http://"))
		log_msg(LOG_WARN, "e2b", "the kubeconfig %s gives a client certificate, but its "
		    "server is http://, so the certificate is not used", file);
	return 0;
}

static int
kubeconfig_load(const char *file, struct k8s_conn *k, struct arena *a, struct err *e)
{
	char *text = read_file(file, KUBECONFIG_MAX, NULL, a);
	const struct ynode *root, *ctx, *cl, *us;
	const char *cur, *v;

	if (!text)
		return err_set(e, ERR_IO, "cannot read the kubeconfig %s (or it is over 1 MiB)", file);
	root = yaml_parse(text, a);
	if (!root || root->kind != Y_MAP)
		return err_set(e, ERR_INVAL, "the kubeconfig %s is not a YAML mapping this reader "
		    "understands", file);
	cur = ystr(root, "current-context");
	ctx = ynamed(root, "contexts", cur, "context");
	if (!cur || !ctx)
		return err_set(e, ERR_INVAL, "the kubeconfig %s has no current-context (or it names "
		    "no context); run kubectl config use-context", file);
	cl = ynamed(root, "clusters", ystr(ctx, "cluster"), "cluster");
	us = ynamed(root, "users", ystr(ctx, "user"), "user");
	if (!cl || !(k->server = ystr(cl, "server")))
		return err_set(e, ERR_INVAL, "the kubeconfig %s: cluster %s has no server", file,
		    ystr(ctx, "cluster") ? ystr(ctx, "cluster") : "(none)");
	k->source = arena_printf(a, "kubeconfig %s", file);
	k->insecure = (v = ystr(cl, "insecure-skip-tls-verify")) && strcmp(v, "true") == 0;
	k->ca_file = kc_path(file, ystr(cl, "certificate-authority"), a);
	if ((v = ystr(cl, "certificate-authority-data"))) {
		size_t n = strlen(v);
		unsigned char *pem = arena_alloc(a, b64_decoded_max(n) + 1);
		ssize_t pl = pem ? b64_decode(v, n, pem) : -1;
		int fd;

		if (pl < 0)
			return err_set(e, ERR_INVAL, "the kubeconfig %s: certificate-authority-data is "
			    "not base64", file);
		snprintf(k->ca_tmp, sizeof k->ca_tmp, "%s/sandbox-mcp-k8s-ca-XXXXXX",
		    getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 30 ? getenv("TMPDIR") : "/tmp");
		fd = mkstemp(k->ca_tmp);
		if (fd < 0 || write(fd, pem, (size_t)pl) != pl) {
			if (fd >= 0)
				close(fd);
			return err_set(e, ERR_IO, "cannot write the cluster CA to a temporary file");
		}
		close(fd);
		k->ca_file = k->ca_tmp;
	}
	if (us) {
		if (kubeconfig_cert(file, us, k, a, e))
			return e->code;
		if ((yget(us, "exec") || yget(us, "auth-provider")) && !ystr(us, "token") &&
		    !ystr(us, "tokenFile") && !k->cert && !k->cert_file)
			return err_set(e, ERR_UNSUPPORTED, "the kubeconfig %s authenticates with an "
			    "exec or auth-provider plugin, which sandbox-mcp does not run; use a "
			    "token (kubectl create token ...) or a client certificate", file);
		if ((v = ystr(us, "token")))
			k->auth = arena_printf(a, "Bearer %s", v);
		else if ((v = ystr(us, "tokenFile"))) {
			char *t = read_file(kc_path(file, v, a), 64 * 1024, NULL, a);

			if (!t)
				return err_set(e, ERR_IO, "cannot read the token file %s of kubeconfig %s",
				    v, file);
			k->auth = arena_printf(a, "Bearer %s", trim_token(t));
		} else if (ystr(us, "username") && ystr(us, "password")) {
			const char *up = arena_printf(a, "%s:%s", ystr(us, "username"),
			    ystr(us, "password"));
			char *b64 = arena_alloc(a, b64_encoded_len(strlen(up)) + 1);

			if (b64) {
				b64_encode((const unsigned char *)up, strlen(up), b64);
				k->auth = arena_printf(a, "Basic %s", b64);
			}
		}
	}
	return 0;
}

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

static int
k8s_incluster(struct k8s_conn *k, struct arena *a, struct err *e)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *tok;

	if (!host || !*host)
		return err_set(e, ERR_INVAL, "--k8s needs a Kubernetes API: set KUBECONFIG, create "
		    "~/.kube/config, or run in a pod (KUBERNETES_SERVICE_HOST is not set)");
	tok = read_file(K8S_SA_DIR "/token", 64 * 1024, NULL, a);
	if (!tok)
		return err_set(e, ERR_IO, "cannot read the service account token in " K8S_SA_DIR
		    "; mount one (automountServiceAccountToken) or use a kubeconfig");
	k->auth = arena_printf(a, "Bearer %s", trim_token(tok));
	k->ca_file = K8S_SA_DIR "/ca.crt";
	k->server = arena_printf(a, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
	    port && *port ? port : "443");
	k->source = "the in-cluster service account";
	return 0;
}

/* $KUBECONFIG -> ~/.kube/config -> in-cluster (agents-api runtime/k8s.go). */
static int
k8s_locate(struct k8s_conn *k, struct arena *a, struct err *e)
{
	const char *kc = getenv("KUBECONFIG"), *home = getenv("HOME");
	struct stat st;

	memset(k, 0, sizeof *k);
	if (kc && *kc) {
		/* A list: the first file that exists holds the current context here. */
		char *list = arena_strdup(a, kc), *save = NULL;

		for (char *f = strtok_r(list, ":", &save); f; f = strtok_r(NULL, ":", &save))
			if (stat(f, &st) == 0)
				return kubeconfig_load(f, k, a, e);
	}
	if (home && *home) {
		const char *f = arena_printf(a, "%s/.kube/config", home);

		if (f && stat(f, &st) == 0)
			return kubeconfig_load(f, k, a, e);
	}
	return k8s_incluster(k, a, e);
}

static const char *
jpath_str(const struct json *j, const char *a1, const char *a2, const char *key)
{
	return json_get_str(json_get(json_get(j, a1), a2), key);
}

/* Reads the Sandbox nsname ("NAMESPACE/NAME") and returns its id and token (heap). */
static int
k8s_resolve(const struct config *cfg, const char *nsname, char **id, char **token,
    struct err *e)
{
	struct arena *a = arena_new(8 * 1024 * 1024);
	struct http_config hc = { 0 };
	struct http_client *hcli = NULL;
	struct http_request rq = { 0 };
	struct http_response rs = { 0 };
	struct http_header h[2];
	struct k8s_conn k = { 0 };
	struct buf path;
	const char *slash = strchr(nsname, '/'), *ns, *name, *sid, *tok;
	const struct json *j;
	char *url = NULL;
	int rc, nh = 0;
	bool did = false;

	buf_init(&path, 0);
	*id = *token = NULL;
	if (!a)
		return err_set(e, ERR_TOOBIG, "out of memory");
	if (!slash || slash == nsname || !slash[1] || strchr(slash + 1, '/')) {
		rc = err_set(e, ERR_INVAL, "--k8s needs NAMESPACE/NAME");
		goto out;
	}
	ns = arena_strndup(a, nsname, (size_t)(slash - nsname));
	name = slash + 1;
	rc = k8s_locate(&k, a, e);
	if (rc)
		goto out;
	hc.ca_file = k.ca_file;
	hc.insecure = k.insecure || (cfg && cfg->insecure);
	hc.client_cert_file = k.cert_file;
	hc.client_key_file = k.key_file;
	hc.client_cert = k.cert;
	hc.client_cert_len = k.cert_len;
	hc.client_key = k.key;
	hc.client_key_len = k.key_len;
	hcli = http_client_new(&hc, e);
	if (!hcli) {
		rc = e->code;
		goto out;
	}
	buf_puts(&path, "/apis/agents.kruise.io/v1alpha1/namespaces/", e);
	url_encode(&path, ns, strlen(ns), URL_PART_SEGMENT, e);
	buf_puts(&path, "/sandboxes/", e);
	url_encode(&path, name, strlen(name), URL_PART_SEGMENT, e);
	if (e->code || url_join(k.server, path.p, "https", &url, a, e)) {
		rc = e->code;
		goto out;
	}
	if (k.auth)
		h[nh++] = (struct http_header){ "Authorization", k.auth };
	h[nh++] = (struct http_header){ "Accept", "application/json" };
	rq.method = "GET";
	rq.url = url;
	rq.headers = h;
	rq.nheaders = (size_t)nh;
	rq.deadline = deadline_in_ms(K8S_TIMEOUT_MS);
	rq.body_max = 4 * 1024 * 1024;
	rc = http_do(hcli, &rq, &rs, NULL, NULL, a, e);
	did = true;
	if (rc) {
		/* Messages are short (ERR_MSG_MAX): the source names the server, so drop the
		 * "GET <url>: " that http_do put first. */
		const char *cut = str_has_prefix(e->msg, "GET http") ? strstr(e->msg, ": ") : NULL;

		if (cut)
			memmove(e->msg, cut + 2, strlen(cut + 2) + 1);
		err_prefix(e, "reading Sandbox %s from Kubernetes (%s): ", nsname, k.source);
		goto out;
	}
	j = rs.status == 200 || rs.body.len ? json_parse(rs.body.p ? rs.body.p : "",
	    rs.body.len, a, &(struct err){ 0 }) : NULL;
	if (rs.status == 404) {
		rc = err_set(e, ERR_NOTFOUND, "Kubernetes has no Sandbox %s (404); check the "
		    "namespace and name with kubectl get sandboxes.agents.kruise.io -n %s", nsname, ns);
		goto out;
	}
	if (rs.status != 200) {
		const char *msg = j ? json_get_str(j, "message") : NULL;

		rc = err_set(e, ERR_BACKEND, "Kubernetes refused to read Sandbox %s (%d: %s) using "
		    "%s; it needs get on sandboxes.agents.kruise.io", nsname, rs.status,
		    msg ? msg : http_body_excerpt(rs.body.p ? rs.body.p : "", rs.body.len, a), k.source);
		goto out;
	}
	if (!j || j->type != JSON_OBJECT) {
		rc = err_set(e, ERR_PROTO, "Kubernetes sent a Sandbox %s that is not a JSON object",
		    nsname);
		goto out;
	}
	/* The short-ID label wins; else the legacy NAMESPACE--NAME (BRIEF §2.3). */
	sid = jpath_str(j, "metadata", "labels", "agents.kruise.io/sandbox-id");
	tok = jpath_str(j, "metadata", "annotations", "agents.kruise.io/runtime-access-token");
	*id = sid && *sid ? xstrdup(sid) : NULL;
	if (!*id) {
		size_t n = strlen(ns) + strlen(name) + 3;

		*id = xmalloc(n);
		snprintf(*id, n, "%s--%s", ns, name);
	}
	*token = tok && *tok ? xstrdup(tok) : NULL;
	if (*token)
		log_add_secret(*token);
	log_msg(LOG_INFO, "e2b", "Kubernetes Sandbox %s is sandbox %s (%s token)", nsname, *id,
	    *token ? "with a" : "without a");
out:
	(void)did;
	http_response_fini(&rs);
	http_client_free(hcli);
	if (k.ca_tmp[0])
		unlink(k.ca_tmp);
	if (k.key)
		explicit_bzero(k.key, k.key_len);
	buf_fini(&path);
	arena_free(a);
	return rc;
}

int
e2b_config_k8s(struct config *cfg, struct err *e)
{
	char *id, *tok;

	if (!cfg->k8s || !*cfg->k8s)
		return 0;
	if (k8s_resolve(cfg, cfg->k8s, &id, &tok, e))
		return e->code;
	if (!cfg->sandbox)
		cfg->sandbox = id;
	else
		free(id);
	if (!cfg->access_token && tok)
		cfg->access_token = tok;
	else
		free(tok);
	return 0;
}

/* Construction --------------------------------------------------------------------------------- */

static void
op_free(struct backend *b)
{
	if (!b)
		return;
	envd_procs_free(b->procs);
	http_client_free(b->http);
	while (b->sbxs) {
		struct sbx *s = b->sbxs;

		b->sbxs = s->next;
		sbx_free(s);
	}
	for (size_t i = 0; i < b->nextra; i++) {
		free((char *)b->extra[i].name);
		free((char *)b->extra[i].value);
	}
	free(b->extra);
	free(b->api_key);
	free(b->api_base);
	free(b->scheme);
	free(b->domain);
	free(b->sandbox_url);
	free(b->default_id);
	free(b->default_token);
	free(b->user);
	free(b->template_name);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

static const struct backend_ops e2b_ops = {
	.name = "e2b",
	.create = op_create,
	.list = op_list,
	.info = op_info,
	.kill = op_kill,
	.pause = op_pause,
	.resume = op_resume,
	.set_timeout = op_set_timeout,
	.url = op_url,
	.metrics = op_metrics,
	.exec = op_exec,
	.proc_list = op_proc_list,
	.proc_output = op_proc_output,
	.proc_stdin = op_proc_stdin,
	.proc_kill = op_proc_kill,
	.file_read = op_file_read,
	.file_write = op_file_write,
	.file_list = op_file_list,
	.file_stat = op_file_stat,
	.file_mkdir = op_file_mkdir,
	.file_move = op_file_move,
	.file_remove = op_file_remove,
	.file_search = op_file_search,
	.net_get = op_net_get,
	.net_set = op_net_set,
	.free = op_free,
};

/* Runtime-direct: no management API, so no lifecycle or network tools (BRIEF §2.2). */
static const struct backend_ops e2b_runtime_ops = {
	.name = "e2b",
	.url = op_url,
	.metrics = op_metrics,
	.exec = op_exec,
	.proc_list = op_proc_list,
	.proc_output = op_proc_output,
	.proc_stdin = op_proc_stdin,
	.proc_kill = op_proc_kill,
	.file_read = op_file_read,
	.file_write = op_file_write,
	.file_list = op_file_list,
	.file_stat = op_file_stat,
	.file_mkdir = op_file_mkdir,
	.file_move = op_file_move,
	.file_remove = op_file_remove,
	.file_search = op_file_search,
	.free = op_free,
};

static int
parse_headers(struct backend *b, const struct config *cfg, struct err *e)
{
	b->extra = cfg->nheaders ? xcalloc(cfg->nheaders, sizeof *b->extra) : NULL;
	for (size_t i = 0; i < cfg->nheaders; i++) {
		const char *kv = cfg->headers[i], *eq = strchr(kv, '=');

		if (!eq || eq == kv)
			return err_set(e, ERR_INVAL, "--header needs NAME=VALUE");
		b->extra[i].name = xstrndup(kv, (size_t)(eq - kv));
		b->extra[i].value = xstrdup(eq + 1);
		b->nextra++;
	}
	return 0;
}

static int
check_url(const char *what, const char *u, struct err *e)
{
	struct arena *a = arena_new(64 * 1024);
	struct url pu;
	int rc = url_parse(u, &pu, a, e);

	arena_free(a);
	if (rc)
		err_prefix(e, "%s: ", what);
	return rc;
}

int
e2b_backend_new(const struct config *cfg, struct backend_handle *out, struct err *e)
{
	struct backend *b = xcalloc(1, sizeof *b);
	struct http_config hc = { 0 };
	bool want_k8s = cfg->k8s && *cfg->k8s;

	pthread_mutex_init(&b->mu, NULL);
	b->api_key = dup_or_null(cfg->api_key);
	b->user = dup_or_null(cfg->user);
	b->template_name = dup_or_null(cfg->template_name);
	b->sandbox_url = dup_or_null(cfg->sandbox_url);
	b->routing = cfg->routing && strcmp(cfg->routing, "private") == 0 ? R_PRIVATE : R_NATIVE;
	b->routing_explicit = cfg->routing && *cfg->routing;
	b->runtime_direct = !b->api_key && !(cfg->api_url && *cfg->api_url) &&
	    ((cfg->sandbox && *cfg->sandbox) || want_k8s);
	/* Go: e2b defaults to https, runtime (the runtime-direct client) to http. */
	b->scheme = xstrdup(cfg->scheme && *cfg->scheme ? cfg->scheme :
	    b->runtime_direct ? "http" : "https");
	b->domain = xstrdup(cfg->domain && *cfg->domain ? cfg->domain : E2B_DEFAULT_DOMAIN);
	b->timeout_ms = (cfg->timeout_s > 0 ? cfg->timeout_s : 60) * 1000LL;
	b->envd_port = cfg->envd_port ? cfg->envd_port : E2B_RUNTIME_PORT;
	b->default_id = dup_or_null(cfg->sandbox);
	b->default_token = dup_or_null(cfg->access_token);
	if (parse_headers(b, cfg, e))
		goto fail;
	if (b->envd_port < 1 || b->envd_port > 65535) {
		err_set(e, ERR_INVAL, "the envd port must be between 1 and 65535, not %d (envd "
		    "listens on %d unless the template changes it)", cfg->envd_port,
		    E2B_RUNTIME_PORT);
		goto fail;
	}
	if (b->runtime_direct && !(cfg->domain && *cfg->domain) && !b->sandbox_url) {
		/* Never send a runtime token to a guessed host. */
		err_set(e, ERR_INVAL, "runtime-direct mode (--sandbox without an API key) needs the "
		    "gateway: set --domain (E2B_DOMAIN) or --sandbox-url (E2B_SANDBOX_URL)");
		goto fail;
	}
	if (cfg->api_url && *cfg->api_url) {
		b->api_base = xstrdup(cfg->api_url);
	} else if (!b->runtime_direct) {
		size_t n = strlen(b->scheme) + strlen(b->domain) + 32;

		b->api_base = xmalloc(n);
		snprintf(b->api_base, n, b->routing == R_PRIVATE ? "%s://%s/kruise/api" :
		    "%s://api.%s", b->scheme, b->domain);
	}
	if (b->api_base && check_url("the E2B API URL", b->api_base, e))
		goto fail;
	if (b->sandbox_url && !strstr(b->sandbox_url, "{id}") &&
	    check_url("the E2B sandbox URL", b->sandbox_url, e))
		goto fail;
	if (want_k8s && !(cfg->sandbox && *cfg->sandbox)) {
		/* main.c did not resolve it (e2b_config_k8s): do it here for the token. */
		free(b->default_id);
		b->default_id = NULL;
		if (k8s_resolve(cfg, cfg->k8s, &b->default_id, &b->default_token, e))
			goto fail;
	}
	if (b->default_id && b->default_token)
		token_remember(b, b->default_id, b->default_token);
	hc.ca_file = cfg->ca_file;
	hc.insecure = cfg->insecure;
	b->http = http_client_new(&hc, e);
	if (!b->http)
		goto fail;
	b->procs = envd_procs_new();
	out->ops = b->runtime_direct ? &e2b_runtime_ops : &e2b_ops;
	out->b = b;
	log_msg(LOG_INFO, "e2b", "%s mode, %s routing%s%s", b->runtime_direct ? "runtime-direct" :
	    "management", b->sandbox_url ? "explicit-URL" : b->routing == R_PRIVATE ? "private" :
	    "native", b->api_base ? ", API at " : "", b->api_base ? b->api_base : "");
	return 0;
fail:
	op_free(b);
	return e->code;
}
