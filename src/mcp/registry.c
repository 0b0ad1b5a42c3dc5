/*
 * registry.c -- tool selection, Tool rendering, input validation against the schemas.
 *
 * The input schemas in src/tools/ list optional properties plainly. Each is published
 * once, at registry_new, with every optional property (one not in its object's
 * `required`) written as `anyOf: [schema, {type: null}]`: OpenAI's strict mode makes every
 * property required, so null is how a model says "not given" there, and a null is treated
 * as absent everywhere. Arguments are then validated against the published schema, so
 * what a client reads is exactly what is enforced.
 */
#include "mcp/registry.h"
#include "util/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_ARENA_MAX (4 * 1024 * 1024)
#define CORE_MAX           10

struct registry {
	const struct tool_def **defs;
	const char **published;      /* input schemas as listed, same index as defs */
	const struct json **schemas; /* the published schemas, parsed */
	size_t n;
	struct arena *a;
};

/* One argument check: the tool and where in its arguments the value is. */
struct vctx {
	const struct tool_def *d;
	char path[128];
};

static void schema_publish(struct jsonw *w, const struct json *s, bool nullable);

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
			    "or use core or all",
			    tok);
			break;
		}
	}
	free(copy);
	return rc;
}

/* Renders d's input schema for tools/list into r->published[r->n] and parses it back
 * into r->schemas[r->n]. */
static int
registry_publish(struct registry *r, const struct tool_def *d, struct err *e)
{
	const struct json *src = json_parse(d->input_schema, strlen(d->input_schema), r->a, e);
	struct buf b;
	struct jsonw w;
	char *text;

	if (src == NULL)
		return e->code;
	buf_init(&b, REGISTRY_ARENA_MAX);
	jsonw_init(&w, &b);
	schema_publish(&w, src, false);
	if (jsonw_error(&w) != 0) {
		buf_fini(&b);
		return err_set(e, ERR_TOOBIG, "%s", w.err.msg);
	}
	text = arena_strndup(r->a, b.p, b.len);
	buf_fini(&b);
	if (text == NULL)
		return err_set(e, ERR_TOOBIG, "out of registry memory");
	r->published[r->n] = text;
	r->schemas[r->n] = json_parse(text, strlen(text), r->a, e);
	return r->schemas[r->n] != NULL ? 0 : e->code;
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
	r->published = xcalloc(ncat, sizeof(*r->published));
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
		/* The schemas are ours; a broken one is a bug caught by the tests. */
		if (registry_publish(r, d, &pe) != 0) {
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
	free(r->published);
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

/* Publishing ------------------------------------------------------------------- */

static bool
schema_is(const struct json *s, const char *type)
{
	const char *t = json_get_str(s, "type");

	return t != NULL && strcmp(t, type) == 0;
}

/* Does schema s accept null already (type null, or a null branch of anyOf)? */
static bool
schema_has_null(const struct json *s)
{
	const struct json *x, *any = json_get(s, "anyOf");

	if (schema_is(s, "null"))
		return true;
	for (x = any != NULL && any->type == JSON_ARRAY ? any->head : NULL; x != NULL; x = x->next)
		if (schema_is(x, "null"))
			return true;
	return false;
}

static bool
schema_required(const struct json *obj, const char *name, size_t len)
{
	const struct json *req = json_get(obj, "required"), *x;

	for (x = req != NULL && req->type == JSON_ARRAY ? req->head : NULL; x != NULL; x = x->next)
		if (x->type == JSON_STRING && x->len == len && memcmp(x->s, name, len) == 0)
			return true;
	return false;
}

/* Writes s's members; `skip_desc` leaves out the description (it moves outside anyOf),
 * `add_null` appends {type: null} to an anyOf s already has. */
static void
schema_members(struct jsonw *w, const struct json *s, bool skip_desc, bool add_null)
{
	const struct json *m, *x;

	for (m = s->head; m != NULL; m = m->next) {
		if (skip_desc && strcmp(m->key, "description") == 0)
			continue;
		jsonw_keyn(w, m->key, m->key_len);
		if (strcmp(m->key, "properties") == 0 && m->type == JSON_OBJECT) {
			jsonw_obj_begin(w);
			for (x = m->head; x != NULL; x = x->next) {
				jsonw_keyn(w, x->key, x->key_len);
				schema_publish(w, x, !schema_required(s, x->key, x->key_len));
			}
			jsonw_obj_end(w);
		} else if (strcmp(m->key, "items") == 0 && m->type == JSON_OBJECT) {
			schema_publish(w, m, false);
		} else if (strcmp(m->key, "anyOf") == 0 && m->type == JSON_ARRAY) {
			jsonw_arr_begin(w);
			for (x = m->head; x != NULL; x = x->next)
				schema_publish(w, x, false);
			if (add_null)
				jsonw_raw(w, "{\"type\":\"null\"}", 15);
			jsonw_arr_end(w);
		} else {
			jsonw_value(w, m);
		}
	}
}

/* Writes schema s; nullable: an optional property, published as a union with null. */
static void
schema_publish(struct jsonw *w, const struct json *s, bool nullable)
{
	const struct json *desc = json_get(s, "description");

	if (s->type != JSON_OBJECT || !nullable || schema_has_null(s)) {
		if (s->type != JSON_OBJECT) {
			jsonw_value(w, s);
			return;
		}
		jsonw_obj_begin(w);
		schema_members(w, s, false, false);
		jsonw_obj_end(w);
		return;
	}
	jsonw_obj_begin(w);
	if (json_get(s, "anyOf") != NULL) {
		schema_members(w, s, false, true);
		jsonw_obj_end(w);
		return;
	}
	jsonw_key(w, "anyOf");
	jsonw_arr_begin(w);
	jsonw_obj_begin(w);
	schema_members(w, s, true, false);
	jsonw_obj_end(w);
	jsonw_raw(w, "{\"type\":\"null\"}", 15);
	jsonw_arr_end(w);
	if (desc != NULL) {
		jsonw_key(w, "description");
		jsonw_value(w, desc);
	}
	jsonw_obj_end(w);
}

/* Listing ------------------------------------------------------------------------- */

void
registry_write_tool(const struct registry *r, struct jsonw *w, size_t i, bool modern_fields,
    bool annotations)
{
	const struct tool_def *d = registry_at(r, i);
	unsigned h;

	if (d == NULL)
		return;
	h = d->hints;
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", d->name);
	if (modern_fields)
		jsonw_kstr(w, "title", d->title);
	jsonw_kstr(w, "description", d->description);
	jsonw_key(w, "inputSchema");
	jsonw_raw(w, r->published[i], strlen(r->published[i]));
	if (modern_fields && d->output_schema != NULL) {
		jsonw_key(w, "outputSchema");
		jsonw_raw(w, d->output_schema, strlen(d->output_schema));
	}
	if (annotations) {
		/* Only the hints that differ from the spec's defaults (readOnly false,
		 * destructive true, idempotent false, openWorld true): the same meaning in
		 * fewer tokens. The title is here only where Tool has no title of its own. */
		jsonw_key(w, "annotations");
		jsonw_obj_begin(w);
		if (!modern_fields)
			jsonw_kstr(w, "title", d->title);
		if (h & TOOL_READONLY) {
			jsonw_kbool(w, "readOnlyHint", true);
		} else {
			if (!(h & TOOL_DESTRUCTIVE))
				jsonw_kbool(w, "destructiveHint", false);
			if (h & TOOL_IDEMPOTENT)
				jsonw_kbool(w, "idempotentHint", true);
		}
		if (!(h & TOOL_OPENWORLD))
			jsonw_kbool(w, "openWorldHint", false);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

/* Validation ---------------------------------------------------------------------- */

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

static const char *
article(const char *t)
{
	return strcmp(t, "integer") == 0 || strcmp(t, "array") == 0 || strcmp(t, "object") == 0
	    ? "an"
	    : "a";
}

/* An array of {name, value} objects: the strict-mode spelling of a string map. */
static bool
schema_is_kv(const struct json *s)
{
	const struct json *props = json_get(json_get(s, "items"), "properties");

	return schema_is(s, "array") && props != NULL && props->count == 2 &&
	    json_get(props, "name") != NULL && json_get(props, "value") != NULL;
}

/* Is the top-level argument at c->path one that carries data (may hold U+0000)? */
static bool
is_data_arg(const struct vctx *c)
{
	const char *p = c->d->data_args;
	size_t n = strlen(c->path);

	while (p != NULL && *p) {
		size_t len = strcspn(p, " ");

		if (len == n && memcmp(p, c->path, n) == 0)
			return true;
		p += len;
		p += strspn(p, " ");
	}
	return false;
}

static int check_value(struct vctx *c, const struct json *v, const struct json *s, struct err *e);

/* Appends ".key" or "[i]" to c->path for the duration of one check. */
static int
check_child(struct vctx *c, const struct json *v, const struct json *s, const char *key, size_t i,
    struct err *e)
{
	size_t len = strlen(c->path);
	int rc;

	if (key != NULL)
		snprintf(c->path + len, sizeof(c->path) - len, "%s%s", len ? "." : "", key);
	else
		snprintf(c->path + len, sizeof(c->path) - len, "[%zu]", i);
	rc = check_value(c, v, s, e);
	c->path[len] = '\0';
	return rc;
}

/* The map form {NAME: value} of a {name, value} array: every value a string. */
static int
check_kv_map(struct vctx *c, const struct json *v, struct err *e)
{
	const struct json *x;

	for (x = v->head; x != NULL; x = x->next) {
		if (tools_has_ctl(x->key, x->key_len))
			return err_set(e, ERR_INVAL,
			    "%s: the name '%.64s' in '%s' contains a control "
			    "character; names cannot hold one",
			    c->d->name, x->key, c->path);
		if (x->type != JSON_STRING)
			return err_set(e, ERR_INVAL,
			    "%s: every value in '%s' must be a string "
			    "('%.64s' is not)",
			    c->d->name, c->path, x->key);
		if (memchr(x->s, '\0', x->len) != NULL)
			return err_set(e, ERR_INVAL,
			    "%s: the value of '%.64s' in '%s' contains "
			    "U+0000 (NUL), which it cannot carry",
			    c->d->name, x->key, c->path);
	}
	return 0;
}

static int
check_any_of(struct vctx *c, const struct json *v, const struct json *any, struct err *e)
{
	const struct json *x;
	char types[96] = "";
	size_t n = 0;

	for (x = any->head; x != NULL; x = x->next) {
		const char *t = json_get_str(x, "type");

		if (t == NULL || registry_type_ok(v, t))
			return check_value(c, v, x, e);
		if (v->type == JSON_OBJECT && schema_is_kv(x))
			return check_kv_map(c, v, e);
		if (strcmp(t, "null") != 0 && n < sizeof(types))
			n += (size_t)snprintf(types + n, sizeof(types) - n, "%s%s %s",
			    n ? " or " : "", article(t), t);
	}
	return err_set(e, ERR_INVAL, "%s: argument '%s' must be %s, not %s", c->d->name, c->path,
	    types, json_type_name(v->type));
}

static int
check_object(struct vctx *c, const struct json *v, const struct json *s, struct err *e)
{
	const struct json *props = json_get(s, "properties"), *req = json_get(s, "required");
	const struct json *ap = json_get(s, "additionalProperties"), *x, *p;
	const char *ty;
	bool top = c->path[0] == '\0';

	for (x = req != NULL ? req->head : NULL; x != NULL; x = x->next) {
		if (x->type != JSON_STRING || json_get(v, x->s) != NULL)
			continue;
		p = json_get(props, x->s);
		ty = p != NULL ? json_get_str(p, "type") : NULL;
		return err_set(e, ERR_INVAL, "%s: argument '%s%s%s' is required%s%s%s", c->d->name,
		    c->path, top ? "" : ".", x->s, ty != NULL ? " (" : "", ty != NULL ? ty : "",
		    ty != NULL ? ")" : "");
	}
	for (x = v->head; x != NULL; x = x->next) {
		if (tools_has_ctl(x->key, x->key_len))
			return err_set(e, ERR_INVAL,
			    "%s: the name '%.64s' in '%s' contains a control "
			    "character; names cannot hold one",
			    c->d->name, x->key, top ? "arguments" : c->path);
		p = props != NULL ? json_get(props, x->key) : NULL;
		if (p == NULL && ap != NULL && ap->type == JSON_OBJECT)
			p = ap;
		if (p == NULL) {
			if (top)
				return err_set(e, ERR_INVAL,
				    "%s: unknown argument '%.64s'; the tool "
				    "takes only the properties in its inputSchema",
				    c->d->name, x->key);
			return err_set(e, ERR_INVAL,
			    "%s: '%s' has no member '%.64s'; see the tool's "
			    "inputSchema",
			    c->d->name, c->path, x->key);
		}
		/* Models often send null for an optional argument: treat it as absent. */
		if (top && x->type == JSON_NULL)
			continue;
		if (check_child(c, x, p, x->key, 0, e) != 0)
			return e->code;
	}
	return 0;
}

static int
check_value(struct vctx *c, const struct json *v, const struct json *s, struct err *e)
{
	const char *t = json_get_str(s, "type");
	const struct json *en = json_get(s, "enum"), *any = json_get(s, "anyOf"), *x;
	size_t i = 0;

	if (any != NULL && any->type == JSON_ARRAY)
		return check_any_of(c, v, any, e);
	if (t != NULL && !registry_type_ok(v, t)) {
		if (v->type == JSON_OBJECT && schema_is_kv(s))
			return check_kv_map(c, v, e);
		return err_set(e, ERR_INVAL, "%s: argument '%s' must be %s %s, not %s", c->d->name,
		    c->path, article(t), t, json_type_name(v->type));
	}
	switch (v->type) {
	case JSON_STRING:
		if (!is_data_arg(c) && memchr(v->s, '\0', v->len) != NULL)
			return err_set(e, ERR_INVAL,
			    "%s: argument '%s' contains U+0000 (NUL); paths, "
			    "commands, names and ids cannot hold it",
			    c->d->name, c->path);
		for (x = en != NULL && en->type == JSON_ARRAY ? en->head : NULL; x != NULL;
		     x = x->next)
			if (x->type == JSON_STRING && x->len == v->len &&
			    memcmp(x->s, v->s, v->len) == 0)
				break;
		if (en != NULL && x == NULL)
			return err_set(e, ERR_INVAL,
			    "%s: argument '%s' must be one of the allowed "
			    "values (see the tool's inputSchema), not '%.64s'",
			    c->d->name, c->path, v->s);
		return 0;
	case JSON_ARRAY:
		for (x = v->head; x != NULL && json_get(s, "items") != NULL; x = x->next, i++)
			if (check_child(c, x, json_get(s, "items"), NULL, i, e) != 0)
				return e->code;
		return 0;
	case JSON_OBJECT:
		return check_object(c, v, s, e);
	default:
		return 0;
	}
}

int
registry_validate(const struct registry *r, const struct tool_def *d, const struct json *args,
    struct err *e)
{
	size_t i = registry_index(r, d->name);
	struct vctx c;

	if (i == (size_t)-1)
		return err_set(e, ERR_INVAL, "unknown tool '%s'", d->name);
	if (args->type != JSON_OBJECT)
		return err_set(e, ERR_INVAL, "%s: arguments must be an object", d->name);
	memset(&c, 0, sizeof(c));
	c.d = d;
	return check_object(&c, args, r->schemas[i], e);
}
