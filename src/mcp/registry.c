/* registry.c -- tool selection, Tool rendering, input validation against the schemas. */
#include "mcp/registry.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_ARENA_MAX (4 * 1024 * 1024)
#define CORE_MAX 10

struct registry {
	const struct tool_def **defs;
	const struct json **schemas;	/* parsed input schemas, same index as defs */
	size_t n;
	struct arena *a;
};

static bool
registry_in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len && *p == ' ') {
			p++;
			len--;
		}
		while (len && p[len - 1] == ' ')
			len--;
		if (len == n && memcmp(p, name, n) == 0)
			return true;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

/* Checks every name in an explicit list exists in the catalogue. */
static int
registry_check_names(const char *list, struct err *e)
{
	char *copy = xstrdup(list), *save = NULL, *tok;
	int rc = 0;

	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (*tok && tools_find(tok) == NULL) {
			rc = err_set(e, ERR_INVAL,
			    "--tools: unknown tool '%s'; run `sandbox-mcp tools` to see the names, "
			    "or use core or all", tok);
			break;
		}
	}
	free(copy);
	return rc;
}

struct registry *
registry_new(const char *profile, const struct tools *t, struct err *e)
{
	const struct tool_def *cat;
	struct registry *r;
	size_t ncat, i;
	bool all = false, core = true;

	if (profile != NULL && strcmp(profile, "all") == 0) {
		all = true;
		core = false;
	} else if (profile != NULL && *profile && strcmp(profile, "core") != 0) {
		core = false;
		if (registry_check_names(profile, e) != 0)
			return NULL;
	}
	cat = tools_catalogue(&ncat);
	r = xcalloc(1, sizeof(*r));
	r->defs = xcalloc(ncat, sizeof(*r->defs));
	r->schemas = xcalloc(ncat, sizeof(*r->schemas));
	r->a = arena_new(REGISTRY_ARENA_MAX);
	for (i = 0; i < ncat; i++) {
		const struct tool_def *d = &cat[i];
		struct err pe = { 0 };

		if (d->available != NULL && !d->available(t))
			continue;
		if (core && !d->core)
			continue;
		if (!all && !core && !registry_in_list(profile, d->name))
			continue;
		r->schemas[r->n] = json_parse(d->input_schema, strlen(d->input_schema), r->a, &pe);
		/* The schemas are ours; a broken one is a bug caught by the tests. */
		if (r->schemas[r->n] == NULL) {
			err_set(e, ERR_INVAL, "internal: input schema of %s: %s", d->name, pe.msg);
			registry_free(r);
			return NULL;
		}
		r->defs[r->n++] = d;
	}
	return r;
}

void
registry_free(struct registry *r)
{
	if (r == NULL)
		return;
	arena_free(r->a);
	free(r->defs);
	free(r->schemas);
	free(r);
}

size_t
registry_count(const struct registry *r)
{
	return r->n;
}

const struct tool_def *
registry_at(const struct registry *r, size_t i)
{
	return i < r->n ? r->defs[i] : NULL;
}

static size_t
registry_index(const struct registry *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (strcmp(r->defs[i]->name, name) == 0)
			return i;
	}
	return (size_t)-1;
}

const struct tool_def *
registry_find(const struct registry *r, const char *name)
{
	size_t i = registry_index(r, name);

	return i == (size_t)-1 ? NULL : r->defs[i];
}

void
registry_write_tool(struct jsonw *w, const struct tool_def *d, bool modern_fields,
    bool annotations)
{
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", d->name);
	if (modern_fields)
		jsonw_kstr(w, "title", d->title);
	jsonw_kstr(w, "description", d->description);
	jsonw_key(w, "inputSchema");
	jsonw_raw(w, d->input_schema, strlen(d->input_schema));
	if (modern_fields && d->output_schema != NULL) {
		jsonw_key(w, "outputSchema");
		jsonw_raw(w, d->output_schema, strlen(d->output_schema));
	}
	if (annotations) {
		jsonw_key(w, "annotations");
		jsonw_obj_begin(w);
		jsonw_kstr(w, "title", d->title);
		jsonw_kbool(w, "readOnlyHint", d->hints & TOOL_READONLY);
		if (!(d->hints & TOOL_READONLY))
			jsonw_kbool(w, "destructiveHint", d->hints & TOOL_DESTRUCTIVE);
		jsonw_kbool(w, "idempotentHint", d->hints & TOOL_IDEMPOTENT);
		jsonw_kbool(w, "openWorldHint", d->hints & TOOL_OPENWORLD);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

/* Does value v match JSON Schema type name t? */
static bool
registry_type_ok(const struct json *v, const char *t)
{
	int64_t i;

	if (strcmp(t, "string") == 0)
		return v->type == JSON_STRING;
	if (strcmp(t, "integer") == 0)
		return v->type == JSON_NUMBER && json_int(v, &i);
	if (strcmp(t, "number") == 0)
		return v->type == JSON_NUMBER;
	if (strcmp(t, "boolean") == 0)
		return v->type == JSON_TRUE || v->type == JSON_FALSE;
	if (strcmp(t, "object") == 0)
		return v->type == JSON_OBJECT;
	if (strcmp(t, "array") == 0)
		return v->type == JSON_ARRAY;
	if (strcmp(t, "null") == 0)
		return v->type == JSON_NULL;
	return true;
}

static int
registry_check_value(const char *tool, const char *field, const struct json *v,
    const struct json *schema, struct err *e)
{
	const char *t = json_get_str(schema, "type");
	const struct json *en = json_get(schema, "enum"), *items, *x;

	if (t != NULL && !registry_type_ok(v, t))
		return err_set(e, ERR_INVAL, "%s: argument '%s' must be %s %s, not %s", tool, field,
		    strcmp(t, "integer") == 0 || strcmp(t, "array") == 0 ||
		    strcmp(t, "object") == 0 ? "an" : "a", t, json_type_name(v->type));
	if (en != NULL && en->type == JSON_ARRAY && v->type == JSON_STRING) {
		for (x = en->head; x != NULL; x = x->next) {
			if (x->type == JSON_STRING && strcmp(x->s, v->s) == 0)
				break;
		}
		if (x == NULL)
			return err_set(e, ERR_INVAL, "%s: argument '%s' must be one of the allowed "
			    "values (see the tool's inputSchema), not '%.64s'", tool, field, v->s);
	}
	items = json_get(schema, "items");
	if (v->type == JSON_ARRAY && items != NULL) {
		const char *it = json_get_str(items, "type");

		for (x = v->head; x != NULL; x = x->next) {
			if (it != NULL && !registry_type_ok(x, it))
				return err_set(e, ERR_INVAL, "%s: every item of '%s' must be a %s",
				    tool, field, it);
		}
	}
	if (v->type == JSON_OBJECT) {
		const struct json *ap = json_get(schema, "additionalProperties");
		const char *at = ap != NULL ? json_get_str(ap, "type") : NULL;

		for (x = v->head; at != NULL && x != NULL; x = x->next) {
			if (!registry_type_ok(x, at))
				return err_set(e, ERR_INVAL, "%s: every value in '%s' must be a %s "
				    "('%.64s' is not)", tool, field, at, x->key);
		}
	}
	return 0;
}

int
registry_validate(const struct registry *r, const struct tool_def *d, const struct json *args,
    struct err *e)
{
	size_t i = registry_index(r, d->name);
	const struct json *schema, *props, *req, *x, *p;

	if (i == (size_t)-1)
		return err_set(e, ERR_INVAL, "unknown tool '%s'", d->name);
	schema = r->schemas[i];
	props = json_get(schema, "properties");
	req = json_get(schema, "required");
	if (args->type != JSON_OBJECT)
		return err_set(e, ERR_INVAL, "%s: arguments must be an object", d->name);
	for (x = req != NULL ? req->head : NULL; x != NULL; x = x->next) {
		if (x->type == JSON_STRING && json_get(args, x->s) == NULL) {
			p = props != NULL ? json_get(props, x->s) : NULL;
			return err_set(e, ERR_INVAL, "%s: argument '%s' is required%s%s%s", d->name,
			    x->s, p && json_get_str(p, "type") ? " (" : "",
			    p && json_get_str(p, "type") ? json_get_str(p, "type") : "",
			    p && json_get_str(p, "type") ? ")" : "");
		}
	}
	for (x = args->head; x != NULL; x = x->next) {
		p = props != NULL ? json_get(props, x->key) : NULL;
		if (p == NULL) {
			return err_set(e, ERR_INVAL, "%s: unknown argument '%.64s'; the tool takes "
			    "only the properties in its inputSchema", d->name, x->key);
		}
		/* Models often send null for an optional argument: treat it as absent. */
		if (x->type == JSON_NULL)
			continue;
		if (registry_check_value(d->name, x->key, x, p, e) != 0)
			return e->code;
	}
	return 0;
}
