/*
 * internal.h -- what the tool families (sandbox.c, exec.c, files.c, network.c) share with
 * tools.c. Not for use outside src/tools/.
 *
 * Owns:    struct tools (defined here so the families can reach the backend and config);
 *          only tools.c touches its lock and default-sandbox fields.
 * Borrows: argument helpers return pointers into ctx->args (the request arena).
 * Errors:  helpers return 0 or ERR_INVAL with one sentence naming the argument;
 *          tools_sandbox_id() may also return the backend's create error.
 * Threads: every helper may be called from any worker thread; the default-sandbox state
 *          is guarded by t->lock.
 */
#ifndef TOOLS_INTERNAL_H
#define TOOLS_INTERNAL_H

#include <pthread.h>

#include "tools/tool.h"

/* Deadlines for one tool call: the backend ops honour call->deadline, so these are the
 * outer bounds of a call that the agent did not bound itself. */
#define TOOLS_OP_DEADLINE_MS     (120 * 1000)
#define TOOLS_CREATE_DEADLINE_MS (600 * 1000)

struct tools {
	const struct config *cfg;
	struct backend_handle be;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *default_id;      /* heap; NULL until created (or given via --sandbox) */
	bool default_owned;    /* we created it: tools_free() kills it unless --keep */
	bool creating;         /* a worker is creating the default sandbox right now */
	uint64_t gen;          /* bumped each time a creation attempt ends */
	struct err create_err; /* why the last attempt failed */
};

/* The families' tool tables, concatenated by tools_catalogue() in this order. */
extern const struct tool_def tools_sandbox_defs[];
extern const size_t tools_sandbox_ndefs;
extern const struct tool_def tools_exec_defs[];
extern const size_t tools_exec_ndefs;
extern const struct tool_def tools_files_defs[];
extern const size_t tools_files_ndefs;
extern const struct tool_def tools_network_defs[];
extern const size_t tools_network_ndefs;

/* Schema pieces. Input schemas list optional properties plainly: the registry publishes
 * each as a union with null (OpenAI strict mode's "optional"), and a null argument counts
 * as absent. Every input object is closed (additionalProperties false), every property
 * typed, and string maps are {name, value} arrays, so every schema converts to strict
 * mode. Descriptions are short: every byte here is in the model's context. */

/* The property every sandbox-scoped tool takes. It has no description: sandbox_create's
 * and the server's instructions say what omitting it means, once instead of 22 times. */
#define TOOLS_SANDBOX_ID_PROP "\"sandbox_id\":{\"type\":\"string\"}"
/* A string map as strict mode allows it: [{name, value}] (tools_json_kv also takes the
 * map form {NAME: value}). */
#define TOOLS_KV_MEMBERS                                                     \
	"\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{" \
	"\"name\":{\"type\":\"string\"},\"value\":{\"type\":\"string\"}},"   \
	"\"required\":[\"name\",\"value\"],\"additionalProperties\":false}"
#define TOOLS_KV_SCHEMA(desc) "{" TOOLS_KV_MEMBERS ",\"description\":\"" desc "\"}"
#define TOOLS_KV_PLAIN        "{" TOOLS_KV_MEMBERS "}"
/* Output: members of a schema for a value of type t or null (anyOf, not a type list,
 * which single-type dialects such as Gemini's reject). */
#define TOOLS_OR_NULL(t) "\"anyOf\":[{\"type\":\"" t "\"},{\"type\":\"null\"}]"
/* Output: a string map. */
#define TOOLS_MAP_SCHEMA "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}"

/* Arguments (a JSON null counts as absent, as models often send null for "unset"). */
const struct json *tools_arg(const struct tool_ctx *ctx, const char *key);
/* NULL when absent; ERR_INVAL when present and not a string, or when it holds U+0000
 * (a path, command or name would be cut there). */
int tools_arg_str(const struct tool_ctx *ctx, const char *key, const char **out, struct err *e);
/* As tools_arg_str for ids and names (sandbox_id, pid, context_id, cursor): no control
 * characters at all, since ids end up in URLs and headers. */
int tools_arg_id(const struct tool_ctx *ctx, const char *key, const char **out, struct err *e);
/* A data argument (file content, stdin): any bytes, U+0000 included; *len is its length.
 * NULL when absent. */
int tools_arg_data(const struct tool_ctx *ctx, const char *key, const char **out, size_t *len,
    struct err *e);
/* *out = def when absent; ERR_INVAL when not an integer in [min, max]. */
int tools_arg_int(const struct tool_ctx *ctx, const char *key, int64_t def, int64_t min,
    int64_t max, int64_t *out, struct err *e);
/* As tools_arg_int for any number (seconds may be fractional). */
int tools_arg_num(const struct tool_ctx *ctx, const char *key, double def, double min, double max,
    double *out, struct err *e);
int tools_arg_bool(const struct tool_ctx *ctx, const char *key, bool def, bool *out, struct err *e);
/* A string map -> kv array in the arena; n = 0 when absent. Takes [{name, value}] (what
 * the schemas publish) or {NAME: value}; names are non-empty without control characters,
 * values without U+0000, and a name appears once. */
int tools_arg_kv(const struct tool_ctx *ctx, const char *key, struct kv **out, size_t *n,
    struct err *e);
/* As tools_arg_kv for environment variables: names also without '='. */
int tools_arg_env(const struct tool_ctx *ctx, const char *key, struct kv **out, size_t *n,
    struct err *e);
/* An array of strings -> array in the arena; n = 0 when absent. */
int tools_arg_strs(const struct tool_ctx *ctx, const char *key, const char ***out, size_t *n,
    struct err *e);
int tools_json_kv(struct arena *a, const struct json *v, const char *what, bool env,
    struct kv **out, size_t *n, struct err *e);
int tools_json_strs(struct arena *a, const struct json *v, const char *what, const char ***out,
    size_t *n, struct err *e);

/* The sandbox this call acts on: the sandbox_id argument, else the session default.
 * create = false: fail with ERR_NOTFOUND instead of creating the default one. *id lives
 * in ctx->a. */
int tools_sandbox_id(struct tool_ctx *ctx, bool create, const char **id, struct err *e);
/* A sandbox was killed: if it was the default, the next call creates a new one. */
void tools_forget_default(struct tools *t, const char *id);
/* A sandbox was created explicitly: it becomes the default when there is none yet.
 * Returns true when it did. */
bool tools_adopt_default(struct tools *t, const char *id);
/* The default sandbox's id copied into a, or NULL. */
const char *tools_default_id(struct tools *t, struct arena *a);

/* A call for one backend op: the request's arena and cancel token, deadline ms from now
 * (< 0: none). */
void tools_call_init(const struct tool_ctx *ctx, struct call *c, int64_t deadline_ms);

/* Output helpers. */
/* RFC 3339 string, or null for 0 (unknown). */
void tools_write_time(struct jsonw *w, const char *key, int64_t wall_ms);
void tools_write_kv_obj(struct jsonw *w, const char *key, const struct kv *kv, size_t n);
void tools_write_strs(struct jsonw *w, const char *key, const char *const *s, size_t n);

/* Defines `static bool fn(const struct tools *t)`: true when the backend has op (and
 * always for t == NULL, so the whole catalogue can be listed without a backend). */
#define TOOLS_NEEDS(fn, op)                                                       \
	static bool fn(const struct tools *t)                                     \
	{                                                                         \
		return t == NULL || (t->be.ops != NULL && t->be.ops->op != NULL); \
	}

#endif
