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

/* Writes the i-th listed Tool object. `modern_fields`: title + outputSchema (2025-06-18
 * and later); `annotations`: annotations (2025-03-26 and later). The inputSchema is the
 * published one: optional properties accept null (see registry.c). */
void registry_write_tool(const struct registry *r, struct jsonw *w, size_t i, bool modern_fields,
    bool annotations);

/* Checks args (an object) against the tool's published input schema, at every depth:
 * required fields, types and unions, enums, unknown fields; {name, value} arrays also
 * accept the map form {NAME: value}. Strings may not hold U+0000 unless they are one of
 * the tool's data_args, and member names may not hold control characters. */
int registry_validate(const struct registry *r, const struct tool_def *d, const struct json *args,
    struct err *e);

#endif
