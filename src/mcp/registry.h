/*
 * registry.h -- the tools this session lists, their rendering and argument validation.
 *
 * Owns:    struct registry: the selected tool_defs (profile from --tools, filtered by what
 *          the backend can do) and each input schema parsed once into a private arena.
 * Errors:  registry_new fails for an unknown tool name in --tools with a sentence listing
 *          the known ones. registry_validate fills e with a sentence naming the field.
 * Threads: immutable after registry_new; read from any thread.
 */
#ifndef MCP_REGISTRY_H
#define MCP_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "json/json.h"
#include "json/jsonw.h"
#include "tools/tool.h"
#include "util/err.h"

struct registry;

/* profile: NULL/"core"/"all"/"name,name,...". */
struct registry *registry_new(const char *profile, const struct tools *t, struct err *e);
void registry_free(struct registry *r);

size_t registry_count(const struct registry *r);
const struct tool_def *registry_at(const struct registry *r, size_t i);
/* A listed tool by name, or NULL. */
const struct tool_def *registry_find(const struct registry *r, const char *name);

/* Writes one Tool object. `modern_fields`: title + outputSchema (2025-06-18 and later);
 * `annotations`: annotations (2025-03-26 and later). */
void registry_write_tool(struct jsonw *w, const struct tool_def *d, bool modern_fields,
    bool annotations);

/* Checks args (an object) against the tool's input schema: required fields, types,
 * enums, unknown fields. */
int registry_validate(const struct registry *r, const struct tool_def *d,
    const struct json *args, struct err *e);

#endif
