/*
 * sandbox.c -- sandbox_create/list/info/kill/pause/resume/set_timeout/url/metrics.
 *
 * sandbox_create's sandbox becomes the session's default when there is none yet, so an
 * agent that creates one and then omits sandbox_id keeps working in it (the result says
 * so in `default`). sandbox_kill of the default sandbox makes the next call create a new
 * one, and it never creates a sandbox just to kill it.
 */
#include "tools/internal.h"
#include "util/time.h"

#include <string.h>

#define LIST_LIMIT_MAX 1000

/* Schemas ----------------------------------------------------------------------- */

#define SB_ONLY_ID_SCHEMA                                                  \
	"{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP "}," \
	"\"additionalProperties\":false}"

static const char create_in[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"template\":{\"type\":\"string\",\"description\":\"Template or image.\"},"
    "\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Lifetime in "
    "seconds.\"},"
    "\"env\":" TOOLS_KV_PLAIN ","
    "\"metadata\":" TOOLS_KV_SCHEMA(
        "Labels.") ","
                   "\"resources\":{\"type\":\"object\",\"properties\":{"
                   "\"cpu\":{\"type\":\"string\"},\"memory\":{\"type\":\"string\"}},"
                   "\"additionalProperties\":false,\"description\":\"e.g. cpu 500m, memory 512Mi\"},"
                   "\"network\":{\"type\":\"object\",\"properties\":{"
                   "\"default\":{\"type\":\"string\",\"enum\":[\"allow\",\"deny\"]},"
                   "\"allow\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
                   "\"deny\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
                   "\"additionalProperties\":false,\"description\":\"Egress; allow/deny: hosts, domains, "
                   "CIDRs.\"},"
                   "\"auto_pause\":{\"type\":\"boolean\",\"description\":\"Pause, not remove, at "
                   "timeout.\"},"
                   "\"secure\":{\"type\":\"boolean\",\"description\":\"Runtime API needs a "
                   "token.\"}},"
                   "\"additionalProperties\":false}";

static const char create_out[] =
    "{\"type\":\"object\",\"properties\":{\"sandbox_id\":{\"type\":\"string\"},"
    "\"state\":{\"type\":\"string\"},\"template\":{" TOOLS_OR_NULL(
        "string") "},"
                  "\"expires_at\":{" TOOLS_OR_NULL(
                      "string") "}},"
                                "\"required\":[\"sandbox_id\",\"state\",\"template\",\"expires_at\"]}";

static const char list_in[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"state\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"e.g. "
    "running, paused\"},"
    "\"metadata\":" TOOLS_KV_SCHEMA(
        "Labels to match.") ","
                            "\"cursor\":{\"type\":\"string\"},"
                            "\"limit\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}},"
                            "\"additionalProperties\":false}";

static const char list_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"sandboxes\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"sandbox_id\":{\"type\":\"string\"},\"state\":{\"type\":\"string\"},"
    "\"template\":{" TOOLS_OR_NULL(
        "string") "},\"metadata\":" TOOLS_MAP_SCHEMA ","
                  "\"expires_at\":{" TOOLS_OR_NULL(
                      "string") "}}}},"
                                "\"next_cursor\":{" TOOLS_OR_NULL(
                                    "string") "}},"
                                              "\"required\":[\"sandboxes\"]}";

static const char info_out[] =
    "{\"type\":\"object\",\"properties\":{\"sandbox_id\":{\"type\":\"string\"},"
    "\"state\":{\"type\":\"string\"},\"template\":{" TOOLS_OR_NULL(
        "string") "},"
                  "\"created_at\":{" TOOLS_OR_NULL(
                      "string") "},"
                                "\"expires_at\":{" TOOLS_OR_NULL(
                                    "string") "},"
                                              "\"metadata\":" TOOLS_MAP_SCHEMA
                                              ",\"limits\":" TOOLS_MAP_SCHEMA "},"
                                              "\"required\":[\"sandbox_id\",\"state\"]}";

static const char state_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"sandbox_id\":{\"type\":\"string\"},\"state\":{\"type\":\"string\"}},"
    "\"required\":[\"sandbox_id\",\"state\"]}";

static const char set_timeout_in[] =
    "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
    "\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Seconds from "
    "now.\"}},"
    "\"required\":[\"timeout_s\"],\"additionalProperties\":false}";

static const char set_timeout_out[] = "{\"type\":\"object\",\"properties\":{"
                                      "\"sandbox_id\":{\"type\":\"string\"},"
                                      "\"expires_at\":{" TOOLS_OR_NULL(
                                          "string") "}},"
                                                    "\"required\":[\"sandbox_id\",\"expires_at\"]}";

static const char url_in[] = "{\"type\":\"object\",\"properties\":{" TOOLS_SANDBOX_ID_PROP ","
                             "\"port\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":65535}},"
                             "\"required\":[\"port\"],\"additionalProperties\":false}";

static const char url_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"sandbox_id\":{\"type\":\"string\"},\"port\":{\"type\":\"integer\"},"
    "\"url\":{\"type\":\"string\"},"
    "\"headers\":" TOOLS_MAP_SCHEMA "},"
    "\"required\":[\"url\"]}";

#define SB_NUM_OR_NULL(name, t) "\"" name "\":{" TOOLS_OR_NULL(t) "}"

static const char metrics_out[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"sandbox_id\":{\"type\":\"string\"}," SB_NUM_OR_NULL("cpu_count",
        "number") "," SB_NUM_OR_NULL("cpu_used_pct", "number") "," SB_NUM_OR_NULL("mem_total_bytes",
        "integer") "," SB_NUM_OR_NULL("mem_used_bytes",
        "integer") "," SB_NUM_OR_NULL("disk_total_bytes",
        "integer") "," SB_NUM_OR_NULL("disk_used_bytes",
        "integer") "},"
                   "\"required\":[\"sandbox_id\"]}";

/* Helpers ----------------------------------------------------------------------- */

static void
write_info(struct jsonw *w, const struct sb_info *in, const char *default_id)
{
	jsonw_kstr(w, "sandbox_id", in->id != NULL ? in->id : "");
	jsonw_kstr(w, "state", in->state != NULL ? in->state : "unknown");
	jsonw_kstr(w, "template", in->template_name);
	tools_write_time(w, "created_at", in->created_at);
	tools_write_time(w, "expires_at", in->expires_at);
	tools_write_kv_obj(w, "metadata", in->metadata, in->nmetadata);
	if (in->cpu != NULL)
		jsonw_kstr(w, "cpu", in->cpu);
	if (in->memory != NULL)
		jsonw_kstr(w, "memory", in->memory);
	if (in->nlimits > 0)
		tools_write_kv_obj(w, "limits", in->limits, in->nlimits);
	if (in->note != NULL)
		jsonw_kstr(w, "note", in->note);
	if (default_id != NULL)
		jsonw_kbool(w, "default", in->id != NULL && strcmp(in->id, default_id) == 0);
}

static int
sb_parse_network(struct tool_ctx *ctx, struct net_policy *np, bool *set, struct err *e)
{
	const struct json *net = tools_arg(ctx, "network");
	const char *def;

	memset(np, 0, sizeof(*np));
	np->default_action = -1;
	*set = false;
	if (net == NULL)
		return 0;
	if (net->type != JSON_OBJECT)
		return err_set(e, ERR_INVAL, "argument 'network' must be an object");
	def = json_get_str(net, "default");
	if (def != NULL) {
		if (strcmp(def, "allow") != 0 && strcmp(def, "deny") != 0)
			return err_set(e, ERR_INVAL,
			    "network.default must be \"allow\" or \"deny\"");
		np->default_action = strcmp(def, "allow") == 0;
	}
	if (tools_json_strs(ctx->a, json_get(net, "allow"), "network.allow", &np->allow,
	        &np->nallow, e) != 0 ||
	    tools_json_strs(ctx->a, json_get(net, "deny"), "network.deny", &np->deny, &np->ndeny,
	        e) != 0)
		return e->code;
	*set = true;
	return 0;
}

static int
sb_parse_create(struct tool_ctx *ctx, struct sb_create *req, struct net_policy *np, struct err *e)
{
	const struct json *res = tools_arg(ctx, "resources");
	struct kv *env, *md;
	int64_t timeout;
	bool b, netset;

	memset(req, 0, sizeof(*req));
	req->auto_pause = -1;
	req->secure = -1;
	if (tools_arg_str(ctx, "template", &req->template_name, e) != 0 ||
	    tools_arg_int(ctx, "timeout_s", 0, 1, INT32_MAX, &timeout, e) != 0 ||
	    tools_arg_env(ctx, "env", &env, &req->nenv, e) != 0 ||
	    tools_arg_kv(ctx, "metadata", &md, &req->nmetadata, e) != 0 ||
	    sb_parse_network(ctx, np, &netset, e) != 0)
		return e->code;
	if (req->template_name == NULL && ctx->t->cfg != NULL)
		req->template_name = ctx->t->cfg->template_name;
	req->timeout_s = timeout;
	req->env = env;
	req->metadata = md;
	req->network = netset ? np : NULL;
	if (res != NULL) {
		if (res->type != JSON_OBJECT)
			return err_set(e, ERR_INVAL, "argument 'resources' must be an object");
		req->cpu = json_get_str(res, "cpu");
		req->memory = json_get_str(res, "memory");
	}
	if (tools_arg(ctx, "auto_pause") != NULL) {
		if (tools_arg_bool(ctx, "auto_pause", false, &b, e) != 0)
			return e->code;
		req->auto_pause = b;
	}
	if (tools_arg(ctx, "secure") != NULL) {
		if (tools_arg_bool(ctx, "secure", false, &b, e) != 0)
			return e->code;
		req->secure = b;
	}
	return 0;
}

/* Tools ------------------------------------------------------------------------- */

static int
sb_create_run(struct tool_ctx *ctx, struct err *e)
{
	const struct backend_ops *ops = ctx->t->be.ops;
	struct sb_create req;
	struct net_policy np;
	struct sb_info info;
	struct call c;
	bool adopted;

	if (sb_parse_create(ctx, &req, &np, e) != 0)
		return e->code;
	memset(&info, 0, sizeof(info));
	if (ctx->on_progress != NULL)
		ctx->on_progress(ctx->listener, "creating the sandbox");
	tools_call_init(ctx, &c, TOOLS_CREATE_DEADLINE_MS);
	if (ops->create(ctx->t->be.b, &req, &info, &c, e) != 0)
		return e->code;
	if (info.template_name == NULL)
		info.template_name = req.template_name;
	adopted = tools_adopt_default(ctx->t, info.id);
	write_info(ctx->out, &info, NULL);
	jsonw_kbool(ctx->out, "default", adopted);
	return 0;
}

static int
sb_list_run(struct tool_ctx *ctx, struct err *e)
{
	const struct backend_ops *ops = ctx->t->be.ops;
	struct sb_list_req req;
	struct sb_list out;
	struct kv *md;
	int64_t limit;
	struct call c;
	const char *def;
	size_t i;

	memset(&req, 0, sizeof(req));
	memset(&out, 0, sizeof(out));
	if (tools_arg_strs(ctx, "state", &req.states, &req.nstates, e) != 0 ||
	    tools_arg_kv(ctx, "metadata", &md, &req.nmetadata, e) != 0 ||
	    tools_arg_id(ctx, "cursor", &req.cursor, e) != 0 ||
	    tools_arg_int(ctx, "limit", 0, 1, LIST_LIMIT_MAX, &limit, e) != 0)
		return e->code;
	req.metadata = md;
	req.limit = (int)limit;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ops->list(ctx->t->be.b, &req, &out, &c, e) != 0)
		return e->code;
	def = tools_default_id(ctx->t, ctx->a);
	jsonw_key(ctx->out, "sandboxes");
	jsonw_arr_begin(ctx->out);
	for (i = 0; i < out.n; i++) {
		jsonw_obj_begin(ctx->out);
		write_info(ctx->out, &out.items[i], def != NULL ? def : "");
		jsonw_obj_end(ctx->out);
	}
	jsonw_arr_end(ctx->out);
	jsonw_kstr(ctx->out, "next_cursor", out.next_cursor);
	return 0;
}

static int
sb_info_run(struct tool_ctx *ctx, struct err *e)
{
	struct sb_info info;
	const char *id, *def;
	struct call c;

	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	memset(&info, 0, sizeof(info));
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->info(ctx->t->be.b, id, &info, &c, e) != 0)
		return e->code;
	if (info.id == NULL)
		info.id = id;
	def = tools_default_id(ctx->t, ctx->a);
	write_info(ctx->out, &info, def != NULL ? def : "");
	return 0;
}

static int
sb_kill_run(struct tool_ctx *ctx, struct err *e)
{
	const char *id;
	struct call c;

	if (tools_sandbox_id(ctx, false, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->kill(ctx->t->be.b, id, &c, e) != 0)
		return e->code;
	tools_forget_default(ctx->t, id);
	jsonw_kstr(ctx->out, "sandbox_id", id);
	jsonw_kstr(ctx->out, "state", "killed");
	return 0;
}

static int
sb_pause_resume(struct tool_ctx *ctx, bool pause, struct err *e)
{
	const struct backend_ops *ops = ctx->t->be.ops;
	const char *id;
	struct call c;
	int rc;

	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	rc = pause ? ops->pause(ctx->t->be.b, id, &c, e) : ops->resume(ctx->t->be.b, id, &c, e);
	if (rc != 0)
		return rc;
	jsonw_kstr(ctx->out, "sandbox_id", id);
	jsonw_kstr(ctx->out, "state", pause ? "paused" : "running");
	return 0;
}

static int
sb_pause_run(struct tool_ctx *ctx, struct err *e)
{
	return sb_pause_resume(ctx, true, e);
}

static int
sb_resume_run(struct tool_ctx *ctx, struct err *e)
{
	return sb_pause_resume(ctx, false, e);
}

static int
sb_set_timeout_run(struct tool_ctx *ctx, struct err *e)
{
	int64_t timeout, expires = 0;
	const char *id;
	struct call c;

	if (tools_arg_int(ctx, "timeout_s", -1, 1, INT32_MAX, &timeout, e) != 0)
		return e->code;
	if (timeout < 0)
		return err_set(e, ERR_INVAL, "argument 'timeout_s' is required");
	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->set_timeout(ctx->t->be.b, id, timeout, &expires, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "sandbox_id", id);
	tools_write_time(ctx->out, "expires_at", expires);
	return 0;
}

static int
sb_url_run(struct tool_ctx *ctx, struct err *e)
{
	struct sb_url out;
	const char *id;
	int64_t port;
	struct call c;

	if (tools_arg_int(ctx, "port", -1, 1, 65535, &port, e) != 0)
		return e->code;
	if (port < 0)
		return err_set(e, ERR_INVAL, "argument 'port' is required");
	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	memset(&out, 0, sizeof(out));
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->url(ctx->t->be.b, id, (int)port, &out, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "sandbox_id", id);
	jsonw_kint(ctx->out, "port", port);
	jsonw_kstr(ctx->out, "url", out.url != NULL ? out.url : "");
	tools_write_kv_obj(ctx->out, "headers", out.headers, out.nheaders);
	return 0;
}

static void
write_bytes_or_null(struct jsonw *w, const char *key, int64_t v)
{
	if (v < 0)
		jsonw_knull(w, key);
	else
		jsonw_kint(w, key, v);
}

static int
sb_metrics_run(struct tool_ctx *ctx, struct err *e)
{
	struct sb_metrics m;
	const char *id;
	struct call c;

	if (tools_sandbox_id(ctx, true, &id, e) != 0)
		return e->code;
	memset(&m, 0, sizeof(m));
	m.cpu_used_pct = -1;
	m.mem_total_bytes = m.mem_used_bytes = m.disk_total_bytes = m.disk_used_bytes = -1;
	tools_call_init(ctx, &c, TOOLS_OP_DEADLINE_MS);
	if (ctx->t->be.ops->metrics(ctx->t->be.b, id, &m, &c, e) != 0)
		return e->code;
	jsonw_kstr(ctx->out, "sandbox_id", id);
	jsonw_key(ctx->out, "cpu_count");
	if (m.cpu_count > 0)
		jsonw_double(ctx->out, m.cpu_count);
	else
		jsonw_null(ctx->out);
	jsonw_key(ctx->out, "cpu_used_pct");
	if (m.cpu_used_pct >= 0)
		jsonw_double(ctx->out, m.cpu_used_pct);
	else
		jsonw_null(ctx->out);
	write_bytes_or_null(ctx->out, "mem_total_bytes", m.mem_total_bytes);
	write_bytes_or_null(ctx->out, "mem_used_bytes", m.mem_used_bytes);
	write_bytes_or_null(ctx->out, "disk_total_bytes", m.disk_total_bytes);
	write_bytes_or_null(ctx->out, "disk_used_bytes", m.disk_used_bytes);
	tools_write_time(ctx->out, "timestamp", m.timestamp);
	return 0;
}

/* Table ------------------------------------------------------------------------- */

TOOLS_NEEDS(has_create, create)
TOOLS_NEEDS(has_list, list)
TOOLS_NEEDS(has_info, info)
TOOLS_NEEDS(has_kill, kill)
TOOLS_NEEDS(has_pause, pause)
TOOLS_NEEDS(has_resume, resume)
TOOLS_NEEDS(has_set_timeout, set_timeout)
TOOLS_NEEDS(has_url, url)
TOOLS_NEEDS(has_metrics, metrics)

const struct tool_def tools_sandbox_defs[] = {
	{ "sandbox_create", "Create sandbox",
	    "Create a sandbox (isolated Linux machine). Rarely needed: without sandbox_id, tools "
	    "use the session's default one (the first created, else made on first use).",
	    create_in, create_out, 0, true, has_create, sb_create_run, NULL },
	{ "sandbox_list", "List sandboxes",
	    "List sandboxes, filtered by state and metadata; page with cursor (next_cursor).",
	    list_in, list_out, TOOL_READONLY | TOOL_IDEMPOTENT, true, has_list, sb_list_run, NULL },
	{ "sandbox_info", "Sandbox info",
	    "Show a sandbox's state, template, times, metadata, resources and limits.",
	    SB_ONLY_ID_SCHEMA, info_out, TOOL_READONLY | TOOL_IDEMPOTENT, false, has_info,
	    sb_info_run, NULL },
	{ "sandbox_kill", "Kill sandbox",
	    "Destroy a sandbox and all in it (default: the session's, remade on next use).",
	    SB_ONLY_ID_SCHEMA, state_out, TOOL_DESTRUCTIVE | TOOL_IDEMPOTENT, true, has_kill,
	    sb_kill_run, NULL },
	{ "sandbox_pause", "Pause sandbox",
	    "Pause a sandbox; its processes keep their state until sandbox_resume.",
	    SB_ONLY_ID_SCHEMA, state_out, TOOL_IDEMPOTENT, false, has_pause, sb_pause_run, NULL },
	{ "sandbox_resume", "Resume sandbox", "Resume a paused sandbox.", SB_ONLY_ID_SCHEMA,
	    state_out, TOOL_IDEMPOTENT, false, has_resume, sb_resume_run, NULL },
	{ "sandbox_set_timeout", "Set sandbox timeout",
	    "Set how long a sandbox lives from now; it is removed when the time is up.",
	    set_timeout_in, set_timeout_out, TOOL_IDEMPOTENT, false, has_set_timeout,
	    sb_set_timeout_run, NULL },
	{ "sandbox_url", "Sandbox URL",
	    "Get a URL (and any headers to send) that reaches a port in the sandbox, such as a "
	    "web server's.",
	    url_in, url_out, TOOL_READONLY | TOOL_IDEMPOTENT, false, has_url, sb_url_run, NULL },
	{ "sandbox_metrics", "Sandbox metrics",
	    "Show CPU, memory and disk usage (null: not reported by the backend).",
	    SB_ONLY_ID_SCHEMA, metrics_out, TOOL_READONLY, false, has_metrics, sb_metrics_run,
	    NULL },
};
const size_t tools_sandbox_ndefs = sizeof(tools_sandbox_defs) / sizeof(tools_sandbox_defs[0]);
