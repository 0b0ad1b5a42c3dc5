/*
 * network.c -- network_policy: read the sandbox's egress policy, or merge/replace rules.
 *
 * With no rule arguments the tool only reads the policy. A backend that can read but not
 * change it gets a sentence saying so; rules a backend cannot enforce are refused by the
 * backend itself (never silently dropped).
 */
#include "tools/internal.h"

#include <string.h>

static void
write_policy(struct jsonw *w, const struct net_policy *p)
{
	jsonw_key(w, "default");
	if (p->default_action < 0)
		jsonw_null(w);
	else
		jsonw_str(w, p->default_action ? "allow" : "deny");
	tools_write_strs(w, "allow", p->allow, p->nallow);
	tools_write_strs(w, "deny", p->deny, p->ndeny);
}

static int
net_run(struct tool_ctx *ctx, struct err *e)
{
	const struct backend_ops *ops = ctx->t->be.ops;
	struct net_policy req, out;
	const char *def, *id;
	bool replace, set;
	struct call c;

	memset(&req, 0, sizeof(req));
	memset(&out, 0, sizeof(out));
	req.default_action = -1;
	out.default_action = -1;
	if (tools_arg_str(ctx, "default", &def, e) != 0 ||
	    tools_arg_strs(ctx, "allow", &req.allow, &req.nallow, e) != 0 ||
	    tools_arg_strs(ctx, "deny", &req.deny, &req.ndeny, e) != 0 ||
	    tools_arg_bool(ctx, "replace", false, &replace, e) != 0)
		return e->code;
	if (def != NULL) {
		if (strcmp(def, "allow") != 0 && strcmp(def, "deny") != 0)
			return err_set(e, ERR_INVAL,
			    "argument 'default' must be \"allow\" or \"deny\"");
		req.default_action = strcmp(def, "allow") == 0;
	}
	set = def != NULL || tools_arg(ctx, "allow") != NULL || tools_arg(ctx, "deny") != NULL ||
	    tools_arg(ctx, "replace") != NULL;
	if (set && ops->net_set == NULL)
		return err_set(e, ERR_UNSUPPORTED,
		    "the %s backend cannot change a sandbox's network "
		    "policy after creation; create a sandbox with the network argument instead",
		    ops->name);
	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (set) {
		if (ops->net_set(ctx->t->be.b, id, &req, replace, &out, &c, e) != 0)
			return e->code;
	} else if (ops->net_get(ctx->t->be.b, id, &out, &c, e) != 0) {
		return e->code;
	}
	jsonw_kstr(ctx->out, "sandbox_id", id);
	write_policy(ctx->out, &out);
	if (out.nrecent > 0)
		tools_write_strs(ctx->out, "network_denied", out.recent, out.nrecent);
	if (out.note != NULL)
		jsonw_kstr(ctx->out, "note", out.note);
	return 0;
}

static const char net_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"default\":{\"type\":\"string\",\"enum\":[\"allow\",\"deny\"],\"description\":\"For "
    "traffic no rule matches.\"},"
    "\"allow\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"Hosts, "
    "domains (*.example.com) or CIDRs.\"},"
    "\"deny\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"replace\":{\"type\":\"boolean\",\"description\":\"Replace the policy instead of "
    "merging.\"}},"
    "\"additionalProperties\":false}";

static const char net_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"default\":{\"anyOf\":[{\"type\":\"string\",\"enum\":[\"allow\",\"deny\"]},"
    "{\"type\":\"null\"}]},"
    "\"allow\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"deny\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
    "\"required\":[\"default\",\"allow\",\"deny\"]}";

TOOLS_NEEDS(has_net_get, net_get)

const struct tool_def tools_network_defs[] = {
	{ "network_policy", "Network policy",
	    "Show or change a sandbox's egress (outbound network) policy: default, and allow/"
	    "deny rules merged in unless replace. Without arguments it only reads.",
	    net_in, net_out, TOOL_IDEMPOTENT, false, has_net_get, net_run, NULL },
};
const size_t tools_network_ndefs = sizeof(tools_network_defs) / sizeof(tools_network_defs[0]);
