/*
 * network.c -- the egress policy on E2B / OpenKruise: allowOut and denyOut rules with
 * allow_internet_access as the default (kruise stores "deny" as denyOut 0.0.0.0/0).
 * Deny rules take IPs and CIDRs only. A change is PUT /sandboxes/ID/network, which
 * replaces the rules, so a merge reads the current ones first; what we set is remembered
 * (cache.c) because kruise's GET does not tell all of it.
 */
#include "backends/e2b/internal.h"

#include <string.h>

#include "backends/common/policy.h"

int
e2b_net_check(const struct net_policy *np, struct err *e)
{
	return policy_check(np, "E2B/OpenKruise", POLICY_DENY_ADDRS, e);
}

static const char **
json_strv(const struct json *arr, size_t *n, struct arena *a)
{
	const char **v;

	*n = 0;
	if (arr == NULL || arr->type != JSON_ARRAY || !arr->count)
		return NULL;
	v = arena_alloc(a, arr->count * sizeof(*v));
	for (const struct json *it = arr->head; v != NULL && it != NULL; it = it->next)
		if (it->type == JSON_STRING)
			v[(*n)++] = it->s;
	return v;
}

int
e2b_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c,
    struct err *e)
{
	struct rest_answer r;
	const struct json *net;
	struct sbx *s;
	int rc;

	memset(out, 0, sizeof(*out));
	out->default_action = 1; /* E2B sandboxes reach the internet unless told not to */
	rc = e2b_mg_do(b, "GET", e2b_sbx_path(id, "", c->a), NULL,
	    arena_printf(c->a, "reading the network policy of sandbox %s", id), id, &r, c, e);
	if (rc != 0)
		return rc;
	net = json_get(r.j, "network");
	if (net != NULL && net->type == JSON_OBJECT) {
		out->allow = json_strv(json_get(net, "allowOut"), &out->nallow, c->a);
		out->deny = json_strv(json_get(net, "denyOut"), &out->ndeny, c->a);
	}
	if (json_is_bool(json_get(r.j, "allow_internet_access")))
		out->default_action = json_truthy(json_get(r.j, "allow_internet_access"));
	pthread_mutex_lock(&b->mu);
	s = e2b_sbx_get(b, id, false);
	if (s != NULL && s->has_net) {
		/* What we created it with is more than kruise's GET tells. */
		if (s->net_default >= 0)
			out->default_action = s->net_default;
		if (!out->nallow && s->nallow) {
			out->allow = arena_alloc(c->a, s->nallow * sizeof(*out->allow));
			for (size_t i = 0; out->allow != NULL && i < s->nallow; i++)
				out->allow[out->nallow++] = arena_strdup(c->a, s->allow[i]);
		}
		if (!out->ndeny && s->ndeny) {
			out->deny = arena_alloc(c->a, s->ndeny * sizeof(*out->deny));
			for (size_t i = 0; out->deny != NULL && i < s->ndeny; i++)
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

/* PUT /sandboxes/{id}/network (kruise network.go, openapi SandboxNetworkUpdateConfig): it
 * replaces the egress rules, so a merge reads the current ones first; policy_merge()
 * decides (the request's rules override current ones for the same target). */
int
e2b_net_set(struct backend *b, const char *id, const struct net_policy *req, bool replace,
    struct net_policy *out, struct call *c, struct err *e)
{
	/* Replacing without a default means the platform's: internet access on (cur's). */
	struct net_policy cur = { .default_action = 1 };
	const char *what = arena_printf(c->a, "changing the network policy of sandbox %s", id);
	struct policy_merged m;
	struct buf body;
	struct jsonw w;
	struct rest_answer r = { 0 };
	int rc;

	if ((rc = e2b_net_check(req, e)) != 0)
		return rc;
	if (b->api_base == NULL)
		return e2b_no_api(b, "network_policy", e);
	if (!replace && (rc = e2b_net_get(b, id, &cur, c, e)) != 0)
		return rc;
	if ((rc = policy_merge(&cur, req, replace, &m, c->a, e)) != 0)
		return rc;
	buf_init(&body, 0);
	jsonw_init(&w, &body);
	jsonw_obj_begin(&w);
	e2b_jsonw_strs(&w, "allowOut", m.np.allow, m.np.nallow);
	e2b_jsonw_strs(&w, "denyOut", m.np.deny, m.np.ndeny);
	jsonw_kbool(&w, "allow_internet_access", m.np.default_action == 1);
	jsonw_obj_end(&w);
	rc = jsonw_error(&w)
	    ? err_set(e, jsonw_error(&w), "building the network request: %s", w.err.msg)
	    : e2b_mg_do(b, "PUT", e2b_sbx_path(id, "/network", c->a), &body, what, id, &r, c, e);
	buf_fini(&body);
	if (rc == ERR_NOTFOUND || (rc && r.status == 405)) {
		struct sb_info info;
		struct err ge = { 0 };

		/* A sandbox manager from before the network route answers 404 or 405 for it;
		 * the sandbox itself is still there. */
		if (r.status == 405 || e2b_info(b, id, &info, c, &ge) == 0) {
			err_clear(e);
			return err_set(e, ERR_UNSUPPORTED,
			    "this sandbox manager cannot change a "
			    "sandbox's network policy (no PUT /sandboxes/ID/network): set it at "
			    "create, with network in sandbox_create");
		}
	}
	if (rc != 0)
		return rc;
	e2b_net_remember(b, id, &m.np);
	return e2b_net_get(b, id, out, c, e);
}
