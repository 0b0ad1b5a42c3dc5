/*
 * tool.h -- the tool catalogue of DESIGN.md §3, backend-neutral.
 *
 * A tool is a struct tool_def: metadata for tools/list (name, title, description, JSON
 * Schemas, annotation hints) and run(), which reads validated arguments from ctx->args,
 * calls the backend through backends/backend.h, and writes structuredContent fields into
 * ctx->out (an object the caller has opened). mcp/ turns that into a CallToolResult; the
 * CLI (`sandbox-mcp call`) prints it. Tools never see JSON-RPC, HTTP or protobuf.
 *
 * Owns:    struct tools holds the session: the backend handle, the config, the default
 *          sandbox (created on first need, killed by tools_free() unless --keep).
 * Borrows: everything in a tool_ctx belongs to the request (its arena).
 * Errors:  run() returns 0 or an ERR_* code with one sentence in e; mcp/ reports it as an
 *          isError result. A run() may also return 0 after setting ctx->is_error (for
 *          results that carry data and still failed, e.g. a command that timed out).
 * Threads: run() is called from worker threads concurrently; struct tools locks itself.
 */
#ifndef TOOLS_TOOL_H
#define TOOLS_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "config.h"
#include "json/json.h"
#include "json/jsonw.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "util/err.h"

struct tools;

enum tool_hint {
	TOOL_READONLY = 1 << 0,
	TOOL_DESTRUCTIVE = 1 << 1,
	TOOL_IDEMPOTENT = 1 << 2,
	TOOL_OPENWORLD = 1 << 3,
};

enum tool_stream { TOOL_STDOUT = 1, TOOL_STDERR = 2 };

struct tool_ctx {
	struct arena *a;
	struct cancel *cancel;
	const struct json *args; /* an object; validated against the input schema */
	struct tools *t;
	/* Live output (exec): MCP turns it into progress notifications, the CLI prints it.
	 * NULL when nobody listens. */
	void (*on_output)(void *arg, enum tool_stream s, const char *p, size_t n);
	/* Progress with a short message (e.g. "waiting for the sandbox"); may be NULL. */
	void (*on_progress)(void *arg, const char *message);
	void *listener;
	/* Result. */
	struct jsonw *out;     /* structuredContent object, opened by the caller */
	struct buf *text;      /* human text; empty = mirror the structured JSON */
	const char *image_b64; /* optional image content block */
	const char *image_mime;
	bool is_error;
};

struct tool_def {
	const char *name;
	const char *title;
	const char *description;
	const char *input_schema;  /* JSON Schema text, type object */
	const char *output_schema; /* JSON Schema text, type object */
	unsigned hints;
	bool core; /* in the `core` profile */
	/* True when the active backend can run this tool. */
	bool (*available)(const struct tools *t);
	int (*run)(struct tool_ctx *ctx, struct err *e);
	/* Top-level string arguments that carry data, not names (file content, stdin): they
	 * may hold any character, U+0000 included, and are passed on with their length.
	 * Every other string argument holding U+0000 is refused. Space-separated; NULL: none. */
	const char *data_args;
};

/* True when p[0..n) holds a control character (U+0000-U+001F, U+007F): what names and ids
 * may not hold. */
bool tools_has_ctl(const char *p, size_t n);

/* The whole catalogue, in a fixed order. */
const struct tool_def *tools_catalogue(size_t *n);
const struct tool_def *tools_find(const char *name);

struct tools *tools_new(const struct config *cfg, struct backend_handle be);
/* Kills the session's default sandbox unless --keep, then frees the backend. */
void tools_free(struct tools *t);
const struct backend_ops *tools_backend_ops(const struct tools *t);

#endif
