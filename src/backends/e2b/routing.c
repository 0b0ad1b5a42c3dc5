/*
 * routing.c -- where a sandbox's ports are (BRIEF §2.1, §2.2, §4): native
 * (PORT-ID.DOMAIN), private (DOMAIN/kruise/ID/PORT), an explicit URL (with {id} and
 * {port}, or the Go clients' SandboxBaseURL forms) and header mode (one gateway, the
 * e2b-sandbox-id / e2b-sandbox-port headers say which sandbox); and the envd target of a
 * sandbox, with its token.
 */
#include "backends/e2b/internal.h"

#include <string.h>

#include "net/url.h"
#include "util/str.h"

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
sandbox_base(const struct backend *b, const char *id, int port, bool *header_mode, struct arena *a)
{
	struct buf seg;
	char *enc, *out;

	*header_mode = false;
	buf_init(&seg, 0);
	url_encode(&seg, id, strlen(id), URL_PART_SEGMENT, NULL);
	enc = arena_strdup(a, seg.p ? seg.p : "");
	buf_fini(&seg);
	if (enc == NULL)
		return NULL;
	if (b->sandbox_url != NULL) {
		if (strstr(b->sandbox_url, "{id}") != NULL ||
		    strstr(b->sandbox_url, "{port}") != NULL) {
			out = replace_all(b->sandbox_url, "{id}", enc, a);
			return out ? replace_all(out, "{port}", arena_printf(a, "%d", port), a)
			           : NULL;
		}
		if (b->runtime_direct) {
			*header_mode = true; /* runtime.Config.SandboxBaseURL */
			return arena_strdup(a, b->sandbox_url);
		}
		/* e2b.ConnectionConfig: <SandboxBaseURL>/<id> */
		return arena_printf(a, "%s%s%s", b->sandbox_url,
		    str_has_suffix(b->sandbox_url, "/") ? "" : "/", enc);
	}
	if (b->routing == R_PRIVATE)
		return arena_printf(a, "%s://%s/kruise/%s/%d", b->scheme, b->domain, enc, port);
	if (b->runtime_direct && b->api_base == NULL && !b->routing_explicit) {
		*header_mode = true; /* runtime.Config: <scheme>://<domain> */
		return arena_printf(a, "%s://%s", b->scheme, b->domain);
	}
	return arena_printf(a, "%s://%d-%s.%s", b->scheme, port, enc, b->domain);
}

int
e2b_target_for(struct backend *b, const char *id, struct envd_target *t, struct call *c,
    struct err *e)
{
	const char *tok;
	bool header_mode;
	int rc;

	memset(t, 0, sizeof(*t));
	if (id == NULL || *id == '\0')
		id = b->default_id;
	if (id == NULL)
		return err_set(e, ERR_INVAL,
		    "no sandbox given: pass sandbox_id or start with "
		    "--sandbox ID");
	t->http = b->http;
	t->sandbox_id = id;
	t->port = b->envd_port;
	t->user = b->user;
	t->extra = b->extra;
	t->nextra = b->nextra;
	t->request_timeout_ms = b->timeout_ms;
	t->base_url = sandbox_base(b, id, b->envd_port, &header_mode, c->a);
	if (t->base_url == NULL)
		return err_set(e, ERR_TOOBIG, "the request arena is full");
	tok = e2b_token_lookup(b, id, c->a);
	if (tok == NULL && b->default_token != NULL &&
	    (b->runtime_direct || (b->default_id != NULL && strcmp(b->default_id, id) == 0)))
		tok = b->default_token;
	if (tok == NULL && b->api_base != NULL) {
		struct sb_info info;

		/* A sandbox this session did not create: its token comes with its info. */
		if ((rc = e2b_info(b, id, &info, c, e)) != 0)
			return rc;
		tok = e2b_token_lookup(b, id, c->a);
		if (tok == NULL)
			e2b_token_remember(b, id, "");
	}
	t->access_token = tok != NULL && *tok ? tok : NULL;
	return 0;
}

int
e2b_url(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
    struct err *e)
{
	bool header_mode;
	struct kv *h;

	if (port < 1 || port > 65535)
		return err_set(e, ERR_INVAL, "port %d is not a TCP port (1-65535)", port);
	memset(out, 0, sizeof(*out));
	out->url = sandbox_base(b, id, port, &header_mode, c->a);
	if (out->url == NULL)
		return err_set(e, ERR_TOOBIG, "the request arena is full");
	if (header_mode) {
		h = arena_alloc(c->a, 2 * sizeof(*h));
		if (h == NULL)
			return err_set(e, ERR_TOOBIG, "the request arena is full");
		h[0] = (struct kv){ "e2b-sandbox-id", id };
		h[1] = (struct kv){ "e2b-sandbox-port", arena_printf(c->a, "%d", port) };
		out->headers = h;
		out->nheaders = 2;
	}
	return 0;
}
