/*
 * backend.c -- the OpenSandbox backend's ops table and constructor: the lifecycle URL,
 * the scheme for endpoints, credentials, extra headers and the HTTP client.
 *
 * Choices:
 *   - Default scheme: https, except for localhost and loopback addresses (the platform's
 *     default domain localhost:8080 is plain http), unless --scheme says otherwise.
 */
#include "backends/opensandbox/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"
#include "util/mem.h"

static void
os_free(struct backend *b)
{
	struct os_ep *p, *pn;
	struct os_bg *g, *gn;

	if (b == NULL)
		return;
	http_client_free(b->http);
	for (p = b->eps; p != NULL; p = pn) {
		pn = p->next;
		os_ep_free(p);
	}
	for (g = b->bgs; g != NULL; g = gn) {
		gn = g->next;
		free(g->sid);
		free(g->pid);
		free(g->command);
		free(g);
	}
	for (size_t i = 0; i < b->nextra; i++) {
		free((char *)b->extra[i].name);
		free((char *)b->extra[i].value);
	}
	pthread_mutex_destroy(&b->mu);
	free(b->lc_base);
	free(b->scheme);
	free(b->api_key);
	free(b->access_token);
	free(b);
}

static const struct backend_ops os_ops = {
	.name = "opensandbox",
	.create = os_create,
	.list = os_list,
	.info = os_info,
	.kill = os_kill,
	.pause = os_pause,
	.resume = os_resume,
	.set_timeout = os_set_timeout,
	.url = os_url,
	.metrics = os_metrics,
	.exec = os_exec,
	.proc_list = os_proc_list,
	.proc_output = os_proc_output,
	.proc_stdin = NULL, /* execd gives commands /dev/null as stdin */
	.proc_kill = os_proc_kill,
	.run_code = os_run_code,
	.code_ctx_create = os_code_ctx_create,
	.code_ctx_list = os_code_ctx_list,
	.code_ctx_delete = os_code_ctx_delete,
	.file_read = os_file_read,
	.file_write = os_file_write,
	.file_list = os_file_list,
	.file_stat = os_file_stat,
	.file_mkdir = os_file_mkdir,
	.file_move = os_file_move,
	.file_remove = os_file_remove,
	.file_search = os_file_search,
	.net_get = os_net_get,
	.net_set = os_net_set,
	.free = os_free,
};

/* localhost and loopback addresses default to http, everything else to https. */
static bool
is_loopback(const char *domain)
{
	char host[256];
	size_t n;

	if (domain[0] == '[') {
		n = strcspn(domain + 1, "]");
		snprintf(host, sizeof(host), "%.*s", (int)n, domain + 1);
	} else {
		n = strcspn(domain, ":/");
		snprintf(host, sizeof(host), "%.*s", (int)n, domain);
	}
	return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	    strcmp(host, "::1") == 0;
}

int
opensandbox_backend_new(const struct config *cfg, struct backend_handle *out, struct err *e)
{
	struct http_config hc = { 0 };
	struct backend *b = xcalloc(1, sizeof(*b));
	struct arena *a = arena_new(64 * 1024);
	const char *domain = cfg->domain != NULL && *cfg->domain ? cfg->domain
	                                                         : OPENSANDBOX_DEFAULT_DOMAIN;
	struct url u;
	size_t n;
	int rc = 0;

	pthread_mutex_init(&b->mu, NULL);
	if (strstr(domain, "://") != NULL) {
		rc = err_set(e, ERR_INVAL,
		    "--domain takes host[:port] without a scheme (got "
		    "'%.80s'); use --scheme or --api-url",
		    domain);
		goto out;
	}
	if (cfg->scheme != NULL)
		b->scheme = xstrdup(cfg->scheme);
	else if (cfg->api_url != NULL && strncasecmp(cfg->api_url, "http://", 7) == 0)
		b->scheme = xstrdup("http");
	else
		b->scheme = xstrdup(is_loopback(domain) ? "http" : "https");
	if (cfg->api_url != NULL && *cfg->api_url) {
		b->lc_base = xstrdup(cfg->api_url);
	} else {
		b->lc_base = xmalloc(strlen(b->scheme) + strlen(domain) + 8);
		sprintf(b->lc_base, "%s://%s/v1", b->scheme, domain);
	}
	for (n = strlen(b->lc_base); n > 0 && b->lc_base[n - 1] == '/'; n--)
		b->lc_base[n - 1] = '\0';
	if ((rc = url_parse(b->lc_base, &u, a, e)) != 0) {
		err_prefix(e, "the OpenSandbox lifecycle URL is not valid: ");
		goto out;
	}
	if (u.query != NULL) {
		rc = err_set(e, ERR_INVAL, "--api-url must not have a query");
		goto out;
	}
	for (size_t i = 0; i < cfg->nheaders; i++) {
		const char *eq = strchr(cfg->headers[i], '=');

		if (eq == NULL || eq == cfg->headers[i]) {
			rc = err_set(e, ERR_INVAL, "--header wants NAME=VALUE");
			goto out;
		}
		b->extra[b->nextra].name = xstrndup(cfg->headers[i],
		    (size_t)(eq - cfg->headers[i]));
		b->extra[b->nextra++].value = xstrdup(eq + 1);
	}
	if (cfg->api_key != NULL && *cfg->api_key)
		b->api_key = xstrdup(cfg->api_key);
	if (cfg->access_token != NULL && *cfg->access_token)
		b->access_token = xstrdup(cfg->access_token);
	b->use_proxy = cfg->use_server_proxy;
	b->timeout_ms = cfg->timeout_s > 0 ? cfg->timeout_s * 1000 : 60000;
	hc.ca_file = cfg->ca_file;
	hc.insecure = cfg->insecure;
	hc.user_agent = "sandbox-mcp/" SANDBOX_MCP_VERSION;
	if ((b->http = http_client_new(&hc, e)) == NULL) {
		rc = e->code != 0 ? e->code : ERR_INVAL;
		goto out;
	}
	out->ops = &os_ops;
	out->b = b;
	log_msg(LOG_INFO, "opensandbox", "lifecycle API %s%s", b->lc_base,
	    b->api_key != NULL ? " (with API key)" : " (no API key)");
out:
	arena_free(a);
	if (rc != 0)
		os_free(b);
	return rc;
}
