/*
 * endpoint.c -- where execd and the egress sidecar of a sandbox answer (§0.2, §2.6): the
 * lifecycle server resolves a port to a base URL and headers, which are cached for
 * OS_EP_TTL_MS (b->eps under b->mu) and dropped when a sandbox is deleted, paused or
 * resumed, or its execd stops answering.
 */
#include "backends/opensandbox/internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/time.h"

#define OS_EP_TTL_MS (10 * 60 * 1000) /* as the JS SDK caches endpoints */

void
os_ep_free(struct os_ep *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nh; i++) {
		free((char *)p->h[i].name);
		free((char *)p->h[i].value);
	}
	free(p->h);
	free(p->base);
	free(p->id);
	free(p);
}

void
os_ep_forget(struct backend *b, const char *id, int port)
{
	struct os_ep **pp, *p;

	pthread_mutex_lock(&b->mu);
	for (pp = &b->eps; (p = *pp) != NULL;) {
		if (strcmp(p->id, id) == 0 && (port == 0 || p->port == port)) {
			*pp = p->next;
			os_ep_free(p);
		} else {
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&b->mu);
}

static int
ep_copy(struct call *c, const struct os_ep *p, struct ep *out, struct err *e)
{
	struct http_header *h = arena_alloc(c->a, (p->nh + 1) * sizeof(*h));

	out->base = arena_strdup(c->a, p->base);
	if (h == NULL || out->base == NULL)
		return OOM(e);
	for (size_t i = 0; i < p->nh; i++) {
		h[i].name = arena_strdup(c->a, p->h[i].name);
		h[i].value = arena_strdup(c->a, p->h[i].value);
		if (h[i].name == NULL || h[i].value == NULL)
			return OOM(e);
	}
	out->h = h;
	out->nh = p->nh;
	return 0;
}

/* 1 with *out filled from the cache, 0 when not cached (or stale), or an ERR_* code. */
static int
ep_lookup(struct backend *b, struct call *c, const char *id, int port, struct ep *out,
    struct err *e)
{
	struct os_ep *p;
	int found = 0;

	pthread_mutex_lock(&b->mu);
	for (p = b->eps; p != NULL; p = p->next) {
		if (p->port == port && strcmp(p->id, id) == 0 &&
		    time_mono_ms() - p->at < OS_EP_TTL_MS) {
			found = ep_copy(c, p, out, e) == 0 ? 1 : e->code;
			break;
		}
	}
	pthread_mutex_unlock(&b->mu);
	return found;
}

static void
ep_store(struct backend *b, const char *id, int port, const struct ep *ep)
{
	struct os_ep *p = xcalloc(1, sizeof(*p));

	p->id = xstrdup(id);
	p->port = port;
	p->base = xstrdup(ep->base);
	p->h = xcalloc(ep->nh + 1, sizeof(*p->h));
	for (size_t i = 0; i < ep->nh; i++) {
		p->h[i].name = xstrdup(ep->h[i].name);
		p->h[i].value = xstrdup(ep->h[i].value);
	}
	p->nh = ep->nh;
	p->at = time_mono_ms();
	os_ep_forget(b, id, port);
	pthread_mutex_lock(&b->mu);
	p->next = b->eps;
	b->eps = p;
	pthread_mutex_unlock(&b->mu);
}

int
os_resolve(struct backend *b, struct call *c, const char *id, int port, bool server_proxy,
    struct ep *out, struct err *e)
{
	struct os_rq r = { .method = "GET", .svc = OS_LC };
	const struct json *hs, *m;
	struct http_header *h;
	const struct json *j;
	const char *what, *ep;
	size_t n = 0;
	int rc;

	what = arena_printf(c->a, "resolving port %d of sandbox %s", port, id);
	r.url = os_lc_url(b, c, "/sandboxes/%s/endpoints/%d%s", seg(c, id), port,
	    server_proxy ? "?use_server_proxy=true" : "");
	if (what == NULL || r.url == NULL)
		return OOM(e);
	if ((rc = os_json(b, c, &r, 200, what, &j, NULL, e)) != 0) {
		if (rc == ERR_NOTFOUND)
			return rest_notfound(e,
			    arena_printf(c->a,
			        "sandbox %s does not exist or has "
			        "no endpoint for port %d yet",
			        id, port),
			    "list sandboxes with sandbox_list");
		return rc;
	}
	ep = j != NULL ? json_get_str(j, "endpoint") : NULL;
	if (ep == NULL || *ep == '\0')
		return err_set(e, ERR_PROTO, "%s: the answer has no endpoint", what);
	out->base = strstr(ep, "://") != NULL ? ep : arena_printf(c->a, "%s://%s", b->scheme, ep);
	hs = json_get(j, "headers");
	h = arena_alloc(c->a, ((hs != NULL ? hs->count : 0) + 1) * sizeof(*h));
	if (out->base == NULL || h == NULL)
		return OOM(e);
	if (hs != NULL && hs->type == JSON_OBJECT)
		for (m = hs->head; m != NULL; m = m->next)
			if (m->type == JSON_STRING && m->key != NULL)
				h[n++] = (struct http_header){ m->key, m->s };
	out->h = h;
	out->nh = n;
	return 0;
}

int
os_endpoint(struct backend *b, struct call *c, const char *id, int port, struct ep *out,
    struct err *e)
{
	int rc;

	if ((rc = ep_lookup(b, c, id, port, out, e)) != 0)
		return rc == 1 ? 0 : rc;
	if ((rc = os_resolve(b, c, id, port, b->use_proxy, out, e)) != 0)
		return rc;
	ep_store(b, id, port, out);
	return 0;
}

const char *
os_ep_url(struct backend *b, struct call *c, const struct ep *ep, const char *path, struct err *e)
{
	char *u = NULL;

	if (url_join(ep->base, path, b->scheme, &u, c->a, e) != 0)
		return NULL;
	return u;
}

const char *
os_execd_url(struct backend *b, struct call *c, const struct ep *ep, struct err *e, const char *fmt,
    ...)
{
	va_list ap;
	char *path;

	va_start(ap, fmt);
	path = arena_vprintf(c->a, fmt, ap);
	va_end(ap);
	if (path == NULL) {
		OOM(e);
		return NULL;
	}
	return os_ep_url(b, c, ep, path, e);
}
