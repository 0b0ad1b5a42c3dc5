/*
 * network.c -- a sandbox's network policy through its egress sidecar (§4), which exists
 * only when the sandbox was created with a policy, and the policy's rules in a create
 * request (§0.13).
 */
#include "backends/opensandbox/internal.h"

#include <string.h>

#include "backends/common/policy.h"

/* One "action"/"target" rule per target. */
static void
write_rule_list(struct jsonw *w, const char *action, const char *const *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "action", action);
		jsonw_kstr(w, "target", t[i]);
		jsonw_obj_end(w);
	}
}

void
os_write_rules(struct jsonw *w, const struct net_policy *np)
{
	jsonw_key(w, "egress");
	jsonw_arr_begin(w);
	/* Rules are first-match: deny first, so a target in both lists stays blocked. */
	write_rule_list(w, "deny", np->deny, np->ndeny);
	write_rule_list(w, "allow", np->allow, np->nallow);
	jsonw_arr_end(w);
}

static int
no_sidecar(struct call *c, const char *id, struct err *e)
{
	err_clear(e);
	(void)c;
	return err_set(e, ERR_UNSUPPORTED,
	    "sandbox %s has no egress sidecar: OpenSandbox "
	    "starts one only when a sandbox is created with a network policy, so its policy "
	    "can only be set at create; create a new sandbox with network {default, allow, "
	    "deny}",
	    id);
}

/* One request to the egress sidecar; 502/503 and refused connections mean "no sidecar". */
static int
egress_call(struct backend *b, struct call *c, const char *id, const char *method, const char *body,
    const struct json **out, struct err *e)
{
	struct os_rq r = { .method = method, .svc = OS_EGRESS };
	const char *what = arena_printf(c->a, "%s network policy of sandbox %s",
	    strcmp(method, "GET") == 0 ? "reading the" : "changing the", id);
	struct ep ep;
	int rc, st = 0;

	if ((rc = os_endpoint(b, c, id, OPENSANDBOX_EGRESS_PORT, &ep, e)) != 0)
		return rc;
	r.ep = &ep;
	if (body != NULL) {
		r.body = body;
		r.len = strlen(body);
	}
	if ((r.url = os_ep_url(b, c, &ep, "/policy", e)) == NULL)
		return e->code;
	rc = os_json(b, c, &r, 200, what, out, &st, e);
	if (rc != 0 && (st == 502 || st == 503 || (st == 0 && rc == ERR_IO))) {
		os_ep_forget(b, id, OPENSANDBOX_EGRESS_PORT);
		return no_sidecar(c, id, e);
	}
	return rc;
}

static int
policy_from_json(struct call *c, const struct json *pol, struct net_policy *out, struct err *e)
{
	const struct json *rules = json_get(pol, "egress"), *it;
	const char *da = json_get_str(pol, "defaultAction");
	size_t n = rules != NULL && rules->type == JSON_ARRAY ? rules->count : 0;

	memset(out, 0, sizeof(*out));
	out->default_action = da != NULL && strcmp(da, "allow") == 0 ? 1 : 0;
	out->allow = arena_alloc(c->a, (n + 1) * sizeof(*out->allow));
	out->deny = arena_alloc(c->a, (n + 1) * sizeof(*out->deny));
	if (out->allow == NULL || out->deny == NULL)
		return OOM(e);
	for (it = n > 0 ? rules->head : NULL; it != NULL; it = it->next) {
		const char *a = json_get_str(it, "action"), *t = json_get_str(it, "target");

		if (t == NULL)
			continue;
		if (a != NULL && strcmp(a, "allow") == 0)
			out->allow[out->nallow++] = t;
		else
			out->deny[out->ndeny++] = t;
	}
	return 0;
}

int
os_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c, struct err *e)
{
	const struct json *j;
	int rc;

	if ((rc = egress_call(b, c, id, "GET", NULL, &j, e)) != 0)
		return rc;
	if (j == NULL || json_get(j, "policy") == NULL)
		return err_set(e, ERR_PROTO, "the egress sidecar of sandbox %s sent no policy", id);
	return policy_from_json(c, json_get(j, "policy"), out, e);
}

int
os_net_set(struct backend *b, const char *id, const struct net_policy *req, bool replace,
    struct net_policy *out, struct call *c, struct err *e)
{
	struct net_policy cur = { .default_action = -1 };
	struct policy_merged m;
	struct buf bf = { 0 };
	struct jsonw w;
	const char *body;
	size_t len;
	int rc;

	if (!replace && req->default_action < 0) {
		/* PATCH merges rules and keeps defaultAction (§4). */
		if (req->nallow + req->ndeny > 0) {
			jsonw_init(&w, &bf);
			jsonw_arr_begin(&w);
			write_rule_list(&w, "deny", req->deny, req->ndeny);
			write_rule_list(&w, "allow", req->allow, req->nallow);
			jsonw_arr_end(&w);
			if ((body = os_jsonw_done(&w, &bf, c, &len, e)) == NULL)
				return e->code;
			if ((rc = egress_call(b, c, id, "PATCH", body, NULL, e)) != 0)
				return rc;
		}
		return os_net_get(b, id, out, c, e);
	}
	/* A new defaultAction or a replacement: POST the whole policy. */
	if ((rc = os_net_get(b, id, &cur, c, e)) != 0)
		return rc;
	if ((rc = policy_merge(&cur, req, replace, &m, c->a, e)) != 0)
		return rc;
	jsonw_init(&w, &bf);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "defaultAction", m.np.default_action == 1 ? "allow" : "deny");
	jsonw_key(&w, "egress");
	jsonw_arr_begin(&w);
	/* The request's rules first, deny before allow, then the kept ones likewise. */
	write_rule_list(&w, "deny", m.np.deny, m.ndeny_req);
	write_rule_list(&w, "allow", m.np.allow, m.nallow_req);
	write_rule_list(&w, "deny", m.np.deny + m.ndeny_req, m.np.ndeny - m.ndeny_req);
	write_rule_list(&w, "allow", m.np.allow + m.nallow_req, m.np.nallow - m.nallow_req);
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
	if ((body = os_jsonw_done(&w, &bf, c, &len, e)) == NULL)
		return e->code;
	if ((rc = egress_call(b, c, id, "POST", body, NULL, e)) != 0)
		return rc;
	return os_net_get(b, id, out, c, e);
}
