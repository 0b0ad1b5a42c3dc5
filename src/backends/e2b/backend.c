/*
 * backend.c -- the E2B / OpenKruise backend's ops tables and constructor: the mode
 * (management API, or runtime-direct on one sandbox), the routing, and --k8s, which reads
 * an agents.kruise.io Sandbox through k8s/kube.h for the sandbox id and envd token.
 */
#include "backends/e2b/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/kube.h"
#include "net/url.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"

static char *
dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

static const char *
jpath_str(const struct json *j, const char *a1, const char *a2, const char *key)
{
	return json_get_str(json_get(json_get(j, a1), a2), key);
}

/* Reads the Sandbox nsname ("NAMESPACE/NAME") and returns its id and token (heap). */
static int
k8s_resolve(const struct config *cfg, const char *nsname, char **id, char **token, struct err *e)
{
	struct arena *a = arena_new(8 * 1024 * 1024);
	struct kube_conn k = { 0 };
	struct kube_resp r;
	struct buf path;
	const char *slash = strchr(nsname, '/'), *ns, *name, *sid, *tok;
	int rc;

	buf_init(&path, 0);
	*id = *token = NULL;
	if (a == NULL)
		return err_set(e, ERR_TOOBIG, "out of memory");
	if (slash == NULL || slash == nsname || !slash[1] || strchr(slash + 1, '/') != NULL) {
		rc = err_set(e, ERR_INVAL, "--k8s needs NAMESPACE/NAME");
		goto out;
	}
	ns = arena_strndup(a, nsname, (size_t)(slash - nsname));
	name = slash + 1;
	if ((rc = kube_locate(&k, a, e)) != 0)
		goto out;
	buf_puts(&path, "/apis/agents.kruise.io/v1alpha1/namespaces/", e);
	url_encode(&path, ns, strlen(ns), URL_PART_SEGMENT, e);
	buf_puts(&path, "/sandboxes/", e);
	url_encode(&path, name, strlen(name), URL_PART_SEGMENT, e);
	if (e->code) {
		rc = e->code;
		goto out;
	}
	rc = kube_get(&k, cfg != NULL && cfg->insecure, path.p,
	    arena_printf(a, "reading Sandbox %s from Kubernetes", nsname), &r, a, e);
	if (rc != 0)
		goto out;
	if (r.status == 404) {
		rc = err_set(e, ERR_NOTFOUND,
		    "Kubernetes has no Sandbox %s (404); check the "
		    "namespace and name with kubectl get sandboxes.agents.kruise.io -n %s",
		    nsname, ns);
		goto out;
	}
	if (r.status != 200) {
		rc = err_set(e, ERR_BACKEND,
		    "Kubernetes refused to read Sandbox %s (%d: %s) using "
		    "%s; it needs get on sandboxes.agents.kruise.io",
		    nsname, r.status, r.message, k.source);
		goto out;
	}
	if (r.j == NULL || r.j->type != JSON_OBJECT) {
		rc = err_set(e, ERR_PROTO, "Kubernetes sent a Sandbox %s that is not a JSON object",
		    nsname);
		goto out;
	}
	/* The short-ID label wins; else the legacy NAMESPACE--NAME (BRIEF §2.3). */
	sid = jpath_str(r.j, "metadata", "labels", "agents.kruise.io/sandbox-id");
	tok = jpath_str(r.j, "metadata", "annotations", "agents.kruise.io/runtime-access-token");
	*id = sid != NULL && *sid ? xstrdup(sid) : NULL;
	if (*id == NULL) {
		size_t n = strlen(ns) + strlen(name) + 3;

		*id = xmalloc(n);
		snprintf(*id, n, "%s--%s", ns, name);
	}
	*token = tok != NULL && *tok ? xstrdup(tok) : NULL;
	if (*token != NULL)
		log_add_secret(*token);
	log_msg(LOG_INFO, "e2b", "Kubernetes Sandbox %s is sandbox %s (%s token)", nsname, *id,
	    *token != NULL ? "with a" : "without a");
out:
	kube_conn_fini(&k);
	buf_fini(&path);
	arena_free(a);
	return rc;
}

int
e2b_config_k8s(struct config *cfg, struct err *e)
{
	char *id, *tok;
	int rc;

	if (cfg->k8s == NULL || *cfg->k8s == '\0')
		return 0;
	if ((rc = k8s_resolve(cfg, cfg->k8s, &id, &tok, e)) != 0)
		return rc;
	if (cfg->sandbox == NULL)
		cfg->sandbox = id;
	else
		free(id);
	if (cfg->access_token == NULL && tok != NULL)
		cfg->access_token = tok;
	else
		free(tok);
	return 0;
}

/* Construction --------------------------------------------------------------------------------- */

static void
e2b_free(struct backend *b)
{
	if (b == NULL)
		return;
	envd_procs_free(b->procs);
	http_client_free(b->http);
	while (b->sbxs != NULL) {
		struct sbx *s = b->sbxs;

		b->sbxs = s->next;
		e2b_sbx_free(s);
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
	.create = e2b_create,
	.list = e2b_list,
	.info = e2b_info,
	.kill = e2b_kill,
	.pause = e2b_pause,
	.resume = e2b_resume,
	.set_timeout = e2b_set_timeout,
	.url = e2b_url,
	.metrics = e2b_metrics,
	.exec = e2b_exec,
	.proc_list = e2b_proc_list,
	.proc_output = e2b_proc_output,
	.proc_stdin = e2b_proc_stdin,
	.proc_kill = e2b_proc_kill,
	.file_read = e2b_file_read,
	.file_write = e2b_file_write,
	.file_list = e2b_file_list,
	.file_stat = e2b_file_stat,
	.file_mkdir = e2b_file_mkdir,
	.file_move = e2b_file_move,
	.file_remove = e2b_file_remove,
	.file_search = e2b_file_search,
	.net_get = e2b_net_get,
	.net_set = e2b_net_set,
	.free = e2b_free,
};

/* Runtime-direct: no management API, so no lifecycle or network tools (BRIEF §2.2). */
static const struct backend_ops e2b_runtime_ops = {
	.name = "e2b",
	.url = e2b_url,
	.metrics = e2b_metrics,
	.exec = e2b_exec,
	.proc_list = e2b_proc_list,
	.proc_output = e2b_proc_output,
	.proc_stdin = e2b_proc_stdin,
	.proc_kill = e2b_proc_kill,
	.file_read = e2b_file_read,
	.file_write = e2b_file_write,
	.file_list = e2b_file_list,
	.file_stat = e2b_file_stat,
	.file_mkdir = e2b_file_mkdir,
	.file_move = e2b_file_move,
	.file_remove = e2b_file_remove,
	.file_search = e2b_file_search,
	.free = e2b_free,
};

static int
parse_headers(struct backend *b, const struct config *cfg, struct err *e)
{
	b->extra = cfg->nheaders ? xcalloc(cfg->nheaders, sizeof(*b->extra)) : NULL;
	for (size_t i = 0; i < cfg->nheaders; i++) {
		const char *kv = cfg->headers[i], *eq = strchr(kv, '=');

		if (eq == NULL || eq == kv)
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
	if (rc != 0)
		err_prefix(e, "%s: ", what);
	return rc;
}

int
e2b_backend_new(const struct config *cfg, struct backend_handle *out, struct err *e)
{
	struct backend *b = xcalloc(1, sizeof(*b));
	struct http_config hc = { 0 };
	bool want_k8s = cfg->k8s != NULL && *cfg->k8s;

	pthread_mutex_init(&b->mu, NULL);
	b->api_key = dup_or_null(cfg->api_key);
	b->user = dup_or_null(cfg->user);
	b->template_name = dup_or_null(cfg->template_name);
	b->sandbox_url = dup_or_null(cfg->sandbox_url);
	b->routing = cfg->routing != NULL && strcmp(cfg->routing, "private") == 0 ? R_PRIVATE
	                                                                          : R_NATIVE;
	b->routing_explicit = cfg->routing != NULL && *cfg->routing;
	b->runtime_direct = b->api_key == NULL && !(cfg->api_url != NULL && *cfg->api_url) &&
	    ((cfg->sandbox != NULL && *cfg->sandbox) || want_k8s);
	/* Go: e2b defaults to https, runtime (the runtime-direct client) to http. */
	b->scheme = xstrdup(cfg->scheme && *cfg->scheme ? cfg->scheme
	        : b->runtime_direct                     ? "http"
	                                                : "https");
	b->domain = xstrdup(cfg->domain && *cfg->domain ? cfg->domain : E2B_DEFAULT_DOMAIN);
	b->timeout_ms = (cfg->timeout_s > 0 ? cfg->timeout_s : 60) * 1000LL;
	b->envd_port = cfg->envd_port ? cfg->envd_port : E2B_RUNTIME_PORT;
	b->default_id = dup_or_null(cfg->sandbox);
	b->default_token = dup_or_null(cfg->access_token);
	if (parse_headers(b, cfg, e) != 0)
		goto out;
	if (b->envd_port < 1 || b->envd_port > 65535) {
		err_set(e, ERR_INVAL,
		    "the envd port must be between 1 and 65535, not %d (envd "
		    "listens on %d unless the template changes it)",
		    cfg->envd_port, E2B_RUNTIME_PORT);
		goto out;
	}
	if (b->runtime_direct && !(cfg->domain != NULL && *cfg->domain) && b->sandbox_url == NULL) {
		/* Never send a runtime token to a guessed host. */
		err_set(e, ERR_INVAL,
		    "runtime-direct mode (--sandbox without an API key) needs the "
		    "gateway: set --domain (E2B_DOMAIN) or --sandbox-url (E2B_SANDBOX_URL)");
		goto out;
	}
	if (cfg->api_url != NULL && *cfg->api_url) {
		b->api_base = xstrdup(cfg->api_url);
	} else if (!b->runtime_direct) {
		size_t n = strlen(b->scheme) + strlen(b->domain) + 32;

		b->api_base = xmalloc(n);
		snprintf(b->api_base, n,
		    b->routing == R_PRIVATE ? "%s://%s/kruise/api" : "%s://api.%s", b->scheme,
		    b->domain);
	}
	if (b->api_base != NULL && check_url("the E2B API URL", b->api_base, e) != 0)
		goto out;
	if (b->sandbox_url != NULL && strstr(b->sandbox_url, "{id}") == NULL &&
	    check_url("the E2B sandbox URL", b->sandbox_url, e) != 0)
		goto out;
	if (want_k8s && !(cfg->sandbox != NULL && *cfg->sandbox)) {
		/* main.c did not resolve it (e2b_config_k8s): do it here for the token. */
		free(b->default_id);
		b->default_id = NULL;
		if (k8s_resolve(cfg, cfg->k8s, &b->default_id, &b->default_token, e) != 0)
			goto out;
	}
	if (b->default_id != NULL && b->default_token != NULL)
		e2b_token_remember(b, b->default_id, b->default_token);
	hc.ca_file = cfg->ca_file;
	hc.insecure = cfg->insecure;
	b->http = http_client_new(&hc, e);
	if (b->http == NULL)
		goto out;
	b->procs = envd_procs_new();
	out->ops = b->runtime_direct ? &e2b_runtime_ops : &e2b_ops;
	out->b = b;
	log_msg(LOG_INFO, "e2b", "%s mode, %s routing%s%s",
	    b->runtime_direct ? "runtime-direct" : "management",
	    b->sandbox_url                ? "explicit-URL"
	        : b->routing == R_PRIVATE ? "private"
	                                  : "native",
	    b->api_base ? ", API at " : "", b->api_base ? b->api_base : "");
	return 0;
out:
	e2b_free(b);
	return e->code;
}
