/*
 * test_tools.c -- the tool layer against a fake in-memory backend.
 *
 * The fake implements struct backend_ops with a few scripted behaviours (exec commands
 * "echo", "gen", "euro", "sleep", ...; files in a table) so the tests can check what the
 * tools add on top of a backend: the default sandbox, output capping, UTF-8 safety, the
 * file_edit rules, availability and the schemas.
 */
#include "tap.h"

#include "tools/tool.h"
#include "json/json.h"
#include "json/jsonw.h"
#include "util/str.h"
#include "util/time.h"

#include "mcp/registry.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* Fake backend ------------------------------------------------------------------ */

#define FAKE_FILES 32

struct fake_file {
	char *path;
	char *data;
	size_t len;
	uint32_t mode;
};

struct backend {
	pthread_mutex_t lock;
	int creates, kills, frees;
	int next_id;
	char last_killed[64];
	char last_template[64];
	struct fake_file files[FAKE_FILES];
	int reads;
	char ctx_ids[4][32], ctx_langs[4][32]; /* code contexts */
	int nctx;
	char last_ctx_cwd[64];
};

static int
fake_create(struct backend *b, const struct sb_create *req, struct sb_info *out, struct call *c,
    struct err *e)
{
	int id;

	usleep(100 * 1000); /* widen the window for concurrent first calls */
	pthread_mutex_lock(&b->lock);
	b->creates++;
	id = ++b->next_id;
	snprintf(b->last_template, sizeof(b->last_template), "%s",
	    req->template_name ? req->template_name : "");
	pthread_mutex_unlock(&b->lock);
	if (req->template_name != NULL && strcmp(req->template_name, "boom") == 0)
		return err_set(e, ERR_BACKEND, "template boom does not exist");
	out->id = arena_printf(c->a, "sbx-%d", id);
	out->state = "running";
	out->template_name = req->template_name;
	out->expires_at = 1700000000000LL;
	return 0;
}

static int
fake_kill(struct backend *b, const char *id, struct call *c, struct err *e)
{
	pthread_mutex_lock(&b->lock);
	b->kills++;
	snprintf(b->last_killed, sizeof(b->last_killed), "%s", id);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int
fake_info(struct backend *b, const char *id, struct sb_info *out, struct call *c, struct err *e)
{
	if (strcmp(id, "nope") == 0)
		return err_set(e, ERR_NOTFOUND, "sandbox nope does not exist");
	out->id = id;
	out->state = "running";
	return 0;
}

static int
emit(exec_event_fn fn, void *arg, enum exec_event_type t, const char *p, size_t n)
{
	struct exec_event ev = { t, p, n, NULL };

	return fn(arg, &ev);
}

/* What the last exec was given: its stdin length and env as "A=1;B=2;". */
static size_t last_exec_stdin_len;
static char last_exec_env[256];

static int
fake_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn,
    void *arg, struct exec_result *res, struct call *c, struct err *e)
{
	struct exec_event start = { EXEC_EV_START, NULL, 0, "42" };
	long n, m, i;
	char chunk[4096];
	size_t ei, o = 0;

	last_exec_stdin_len = req->stdin_data != NULL ? req->stdin_len : (size_t)-1;
	last_exec_env[0] = '\0';
	for (ei = 0; ei < req->nenv && o < sizeof(last_exec_env); ei++)
		o += (size_t)snprintf(last_exec_env + o, sizeof(last_exec_env) - o, "%s=%s;",
		    req->env[ei].key, req->env[ei].value);
	fn(arg, &start);
	if (req->background) {
		res->pid = "42";
		return 0;
	}
	if (strncmp(req->command, "echo ", 5) == 0) {
		emit(fn, arg, EXEC_EV_STDOUT, req->command + 5, strlen(req->command + 5));
		emit(fn, arg, EXEC_EV_STDOUT, "\n", 1);
	} else if (sscanf(req->command, "gen %ld %ld", &n, &m) == 2) {
		for (i = 0; i < n;) {
			size_t k = 0;

			while (k < sizeof(chunk) && i < n)
				chunk[k++] = (char)('a' + i++ % 26);
			emit(fn, arg, EXEC_EV_STDOUT, chunk, k);
		}
		memset(chunk, 'E', sizeof(chunk));
		for (i = 0; i < m; i += (long)sizeof(chunk))
			emit(fn, arg, EXEC_EV_STDERR, chunk,
			    (size_t)(m - i < (long)sizeof(chunk) ? m - i : (long)sizeof(chunk)));
	} else if (sscanf(req->command, "euro %ld", &n) == 1) {
		/* n euro signs (3 bytes each) in 7-byte events, so events split characters. */
		char *s = malloc((size_t)n * 3);

		for (i = 0; i < n; i++)
			memcpy(s + i * 3, "\xe2\x82\xac", 3);
		for (i = 0; i < n * 3; i += 7)
			emit(fn, arg, EXEC_EV_STDOUT, s + i,
			    (size_t)(n * 3 - i < 7 ? n * 3 - i : 7));
		free(s);
	} else if (strcmp(req->command, "sleep") == 0) {
		emit(fn, arg, EXEC_EV_STDOUT, "partial\n", 8);
		res->timed_out = true;
		res->exited = false;
		return 0;
	} else if (strcmp(req->command, "sleep2") == 0) {
		emit(fn, arg, EXEC_EV_STDERR, "half", 4);
		return err_set(e, ERR_TIMEOUT, "the command ran past its deadline");
	} else if (strcmp(req->command, "fail") == 0) {
		return err_set(e, ERR_BACKEND, "the platform refused the command");
	}
	res->exited = true;
	res->exit_code = strncmp(req->command, "gen", 3) == 0 ? 3 : 0;
	return 0;
}

static int
fake_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c, struct err *e)
{
	static const char data[] = "h\xc3\xa9llo";
	size_t len = sizeof(data) - 1, n;

	if (strcmp(pid, "42") != 0)
		return err_set(e, ERR_NOTFOUND, "no process %s", pid);
	n = offset < len ? len - offset : 0;
	if (n > max_bytes)
		n = max_bytes;
	buf_append(&out->data, data + offset, n, NULL);
	out->next_offset = offset + n;
	out->running = offset + n < len;
	out->has_exit = !out->running;
	out->exit_code = 0;
	return 0;
}

static int
fake_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n, struct call *c,
    struct err *e)
{
	struct proc_info *p = arena_zalloc(c->a, sizeof(*p));

	p->pid = "42";
	p->command = "sleep 100";
	p->running = true;
	*out = p;
	*n = 1;
	return 0;
}

static int
fake_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out, struct call *c,
    struct err *e)
{
	static const struct kv md[] = { { "owner", "me" } };
	struct sb_info *it = arena_zalloc(c->a, 2 * sizeof(*it));

	it[0].id = "sbx-1";
	it[0].state = "running";
	it[0].metadata = md;
	it[0].nmetadata = 1;
	it[1].id = "sbx-9";
	it[1].state = "paused";
	it[1].template_name = "base";
	it[1].expires_at = 1700000000000LL;
	out->items = it;
	out->n = 2;
	out->next_cursor = req->limit == 1 ? "page2" : NULL;
	return 0;
}

static int last_signo;
static char last_stdin[64];
static size_t last_stdin_len;
static bool last_close;

static int
fake_proc_kill(struct backend *b, const char *id, const char *pid, int signo, struct call *c,
    struct err *e)
{
	last_signo = signo;
	return 0;
}

static int
fake_proc_stdin(struct backend *b, const char *id, const char *pid, const char *data, size_t len,
    bool close_stdin, struct call *c, struct err *e)
{
	snprintf(last_stdin, sizeof(last_stdin), "%.*s", (int)len, data);
	last_stdin_len = len;
	last_close = close_stdin;
	return 0;
}

static struct fake_file *
fake_find(struct backend *b, const char *path, bool create)
{
	int i;

	for (i = 0; i < FAKE_FILES; i++) {
		if (b->files[i].path != NULL && strcmp(b->files[i].path, path) == 0)
			return &b->files[i];
	}
	for (i = 0; create && i < FAKE_FILES; i++) {
		if (b->files[i].path == NULL) {
			b->files[i].path = strdup(path);
			b->files[i].mode = 0644;
			return &b->files[i];
		}
	}
	return NULL;
}

/* Returns at most 100000 bytes per call, so the tools must loop over short reads. */
static int
fake_file_read(struct backend *b, const char *id, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e)
{
	struct fake_file *f;
	size_t n;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	b->reads++;
	f = fake_find(b, path, false);
	if (f == NULL) {
		rc = err_set(e, ERR_NOTFOUND, "%s does not exist", path);
		goto out;
	}
	*size = (int64_t)f->len;
	n = offset < f->len ? f->len - offset : 0;
	if (n > max_bytes)
		n = max_bytes;
	if (n > 100000)
		n = 100000;
	rc = buf_append(out, f->data + offset, n, e);
out:
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int
fake_file_write(struct backend *b, const char *id, const char *path, const void *data, size_t len,
    uint32_t mode, struct call *c, struct err *e)
{
	struct fake_file *f;

	pthread_mutex_lock(&b->lock);
	f = fake_find(b, path, true);
	free(f->data);
	f->data = malloc(len + 1);
	memcpy(f->data, data, len);
	f->len = len;
	if (mode != FILE_MODE_DEFAULT)
		f->mode = mode;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int
fake_file_stat(struct backend *b, const char *id, const char *path, struct file_entry *out,
    struct call *c, struct err *e)
{
	struct fake_file *f;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	f = fake_find(b, path, false);
	if (f == NULL) {
		rc = err_set(e, ERR_NOTFOUND, "%s does not exist", path);
	} else {
		out->name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		out->path = path;
		out->type = FILE_T_FILE;
		out->size = (int64_t)f->len;
		out->mode = f->mode;
		out->modified_at = 1700000000000LL;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int
fake_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c,
    struct err *e)
{
	static const char *allow[] = { "example.com" };

	out->default_action = 0;
	out->allow = allow;
	out->nallow = 1;
	return 0;
}

static void
fake_free(struct backend *b)
{
	b->frees++;
}

static int
fake_ctx_create(struct backend *b, const char *id, const char *language, const char *cwd,
    struct code_ctx *out, struct call *c, struct err *e)
{
	if (strcmp(language, "cobol") == 0)
		return err_set(e, ERR_UNSUPPORTED, "no cobol kernel");
	if (b->nctx == 4)
		return err_set(e, ERR_BACKEND, "too many contexts");
	snprintf(b->ctx_ids[b->nctx], sizeof(b->ctx_ids[0]), "ctx-%d", b->nctx + 1);
	snprintf(b->ctx_langs[b->nctx], sizeof(b->ctx_langs[0]), "%s", language);
	snprintf(b->last_ctx_cwd, sizeof(b->last_ctx_cwd), "%s", cwd ? cwd : "(none)");
	out->id = arena_strdup(c->a, b->ctx_ids[b->nctx]);
	out->language = arena_strdup(c->a, language);
	b->nctx++;
	return 0;
}

static int
fake_ctx_list(struct backend *b, const char *id, const char *language, struct code_ctx **out,
    size_t *n, struct call *c, struct err *e)
{
	struct code_ctx *v = arena_zalloc(c->a, 5 * sizeof(*v));

	*n = 0;
	for (int i = 0; i < b->nctx; i++) {
		if (b->ctx_ids[i][0] == '\0' || (language && strcmp(language, b->ctx_langs[i])))
			continue;
		v[*n].id = arena_strdup(c->a, b->ctx_ids[i]);
		v[*n].language = arena_strdup(c->a, b->ctx_langs[i]);
		(*n)++;
	}
	*out = v;
	return 0;
}

static int
fake_ctx_delete(struct backend *b, const char *id, const char *ctx_id, struct call *c,
    struct err *e)
{
	for (int i = 0; i < b->nctx; i++) {
		if (strcmp(b->ctx_ids[i], ctx_id) == 0) {
			b->ctx_ids[i][0] = '\0';
			return 0;
		}
	}
	return err_set(e, ERR_NOTFOUND, "code context %s does not exist", ctx_id);
}

static const struct backend_ops fake_ops = {
	.name = "fake",
	.create = fake_create,
	.list = fake_list,
	.info = fake_info,
	.kill = fake_kill,
	.exec = fake_exec,
	.proc_list = fake_proc_list,
	.proc_kill = fake_proc_kill,
	.proc_stdin = fake_proc_stdin,
	.proc_output = fake_proc_output,
	.file_read = fake_file_read,
	.file_write = fake_file_write,
	.file_stat = fake_file_stat,
	.net_get = fake_net_get,
	.free = fake_free,
};

static void
fake_reset(struct backend *b)
{
	int i;

	for (i = 0; i < FAKE_FILES; i++) {
		free(b->files[i].path);
		free(b->files[i].data);
	}
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
}

/* Running tools ----------------------------------------------------------------- */

struct run {
	struct arena *a;
	struct buf out, text, live;
	const struct json *res; /* parsed structuredContent */
	int rc;
	struct err e;
	bool is_error;
	const char *image_mime;
	int live_chunks_invalid; /* live chunks that were not valid UTF-8 on their own */
};

static void
on_output(void *arg, enum tool_stream s, const char *p, size_t n)
{
	struct run *r = arg;

	if (!str_utf8_valid(p, n))
		r->live_chunks_invalid++;
	buf_append(&r->live, p, n, NULL);
}

/* A small JSON Schema check of a result against its outputSchema: type (string or list),
 * required, properties, items, additionalProperties with a schema, enum of strings.
 * Returns the number of violations, noted with their path. */
static bool
schema_type_ok(const struct json *v, const char *t)
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
	return false;
}

static int
schema_check(const struct json *v, const struct json *sc, const char *where)
{
	const struct json *t = json_get(sc, "type"), *x, *p, *props, *ap, *en;
	int bad = 0;
	bool any;

	if (t != NULL && t->type == JSON_STRING && !schema_type_ok(v, t->s)) {
		note("  %s: %s is not %s", where, json_type_name(v->type), t->s);
		return 1;
	}
	if (t != NULL && t->type == JSON_ARRAY) {
		for (any = false, x = t->head; x != NULL; x = x->next)
			any |= schema_type_ok(v, x->s);
		if (!any) {
			note("  %s: %s matches none of the types", where, json_type_name(v->type));
			return 1;
		}
	}
	if (json_get(sc, "anyOf") != NULL) {
		/* The value must match a branch; the first whose type fits is checked. */
		for (x = json_get(sc, "anyOf")->head; x != NULL; x = x->next) {
			const char *bt = json_get_str(x, "type");

			if (bt == NULL || schema_type_ok(v, bt))
				return schema_check(v, x, where);
		}
		note("  %s: %s matches no branch of anyOf", where, json_type_name(v->type));
		return 1;
	}
	en = json_get(sc, "enum");
	if (en != NULL && v->type == JSON_STRING) {
		for (any = false, x = en->head; x != NULL; x = x->next)
			any |= x->type == JSON_STRING && strcmp(x->s, v->s) == 0;
		if (!any) {
			note("  %s: '%s' not in enum", where, v->s);
			bad++;
		}
	}
	if (v->type == JSON_OBJECT) {
		props = json_get(sc, "properties");
		ap = json_get(sc, "additionalProperties");
		for (x = json_get(sc, "required") ? json_get(sc, "required")->head : NULL; x;
		     x = x->next) {
			if (json_get(v, x->s) == NULL) {
				note("  %s: required %s missing", where, x->s);
				bad++;
			}
		}
		for (x = v->head; x != NULL; x = x->next) {
			p = props != NULL ? json_get(props, x->key) : NULL;
			if (p == NULL && ap != NULL && ap->type == JSON_OBJECT)
				p = ap;
			if (p == NULL && ap != NULL && ap->type == JSON_FALSE) {
				note("  %s: unexpected %s", where, x->key);
				bad++;
			}
			if (p != NULL)
				bad += schema_check(x, p, x->key);
		}
	}
	if (v->type == JSON_ARRAY && json_get(sc, "items") != NULL) {
		for (x = v->head; x != NULL; x = x->next)
			bad += schema_check(x, json_get(sc, "items"), where);
	}
	return bad;
}

static int schema_violations, schema_checked;
static pthread_mutex_t schema_lock = PTHREAD_MUTEX_INITIALIZER;

static int
run_tool(struct tools *t, const char *name, const char *args, struct run *r)
{
	const struct tool_def *d = tools_find(name);
	struct tool_ctx ctx;
	struct jsonw w;
	struct err pe = { 0 };

	memset(r, 0, sizeof(*r));
	r->a = arena_new(64 * 1024 * 1024);
	if (d == NULL) {
		r->rc = err_set(&r->e, ERR_INVAL, "no tool %s", name);
		return r->rc;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.a = r->a;
	ctx.args = json_parse(args, strlen(args), r->a, &pe);
	ctx.t = t;
	ctx.on_output = on_output;
	ctx.listener = r;
	ctx.text = &r->text;
	ctx.out = &w;
	jsonw_init(&w, &r->out);
	jsonw_obj_begin(&w);
	r->rc = d->run(&ctx, &r->e);
	jsonw_obj_end(&w);
	r->is_error = ctx.is_error;
	r->image_mime = ctx.image_mime;
	if (r->rc == 0 && jsonw_error(&w) == 0)
		r->res = json_parse(r->out.p, r->out.len, r->a, &pe);
	if (r->res != NULL) {
		const struct json *sc = json_parse(d->output_schema, strlen(d->output_schema), r->a,
		    &pe);
		int bad = schema_check(r->res, sc, name);

		pthread_mutex_lock(&schema_lock);
		schema_checked++;
		if (bad) {
			note("%s result does not match its outputSchema: %.*s", name,
			    (int)r->out.len, r->out.p);
			schema_violations += bad;
		}
		pthread_mutex_unlock(&schema_lock);
	}
	return r->rc;
}

static void
run_free(struct run *r)
{
	buf_fini(&r->out);
	buf_fini(&r->text);
	buf_fini(&r->live);
	arena_free(r->a);
}

static int64_t
res_int(const struct run *r, const char *key)
{
	int64_t v = -999;

	json_int(json_get(r->res, key), &v);
	return v;
}

static const char *
res_str(const struct run *r, const char *key)
{
	return json_get_str(r->res, key);
}

static bool
res_bool(const struct run *r, const char *key)
{
	return json_truthy(json_get(r->res, key));
}

/* Tests ------------------------------------------------------------------------- */

static void
test_catalogue(void)
{
	const struct tool_def *cat;
	size_t n, i, j, core = 0;
	struct arena *a = arena_new(16 * 1024 * 1024);
	int bad_in = 0, bad_out = 0, bad_req = 0, dup = 0, no_hint_title = 0;

	cat = tools_catalogue(&n);
	ok(n >= 20, "catalogue has %zu tools", n);
	for (i = 0; i < n; i++) {
		struct err e = { 0 };
		const struct json *in = json_parse(cat[i].input_schema, strlen(cat[i].input_schema),
		    a, &e);
		const struct json *out, *props, *req, *x;

		if (in == NULL ||
		    strcmp(json_get_str(in, "type") ? json_get_str(in, "type") : "", "object") !=
		        0 ||
		    json_get(in, "properties") == NULL ||
		    json_get(in, "additionalProperties") == NULL ||
		    json_get(in, "additionalProperties")->type != JSON_FALSE) {
			bad_in++;
			note("input schema of %s: %s", cat[i].name, e.msg);
		}
		err_clear(&e);
		out = cat[i].output_schema
		    ? json_parse(cat[i].output_schema, strlen(cat[i].output_schema), a, &e)
		    : NULL;
		if (out == NULL ||
		    strcmp(json_get_str(out, "type") ? json_get_str(out, "type") : "", "object") !=
		        0) {
			bad_out++;
			note("output schema of %s: %s", cat[i].name, e.msg);
		}
		/* Every required name is a declared property. */
		for (j = 0; j < 2; j++) {
			const struct json *s = j == 0 ? in : out;

			if (s == NULL)
				continue;
			props = json_get(s, "properties");
			req = json_get(s, "required");
			for (x = req ? req->head : NULL; x != NULL; x = x->next) {
				if (json_get(props, x->s) == NULL) {
					bad_req++;
					note("%s requires undeclared %s", cat[i].name, x->s);
				}
			}
		}
		for (j = 0; j < i; j++)
			dup += strcmp(cat[i].name, cat[j].name) == 0;
		if (cat[i].title == NULL || cat[i].description == NULL || cat[i].run == NULL ||
		    cat[i].available == NULL)
			no_hint_title++;
		core += cat[i].core;
	}
	is_int(bad_in, 0,
	    "every input schema is a JSON object schema with additionalProperties false");
	is_int(bad_out, 0, "every output schema parses and is an object schema");
	is_int(bad_req, 0, "required fields are declared properties");
	is_int(dup, 0, "tool names are unique");
	is_int(no_hint_title, 0, "every tool has title, description, run and available");
	ok(core > 0 && core <= 10, "core profile has %zu tools (at most 10)", core);
	ok(tools_find("exec") != NULL && tools_find("exec")->core, "exec is core");
	ok(tools_find("nope") == NULL, "tools_find of an unknown name is NULL");
	ok((tools_find("sandbox_list")->hints & 1) && !(tools_find("exec")->hints & 1),
	    "sandbox_list is read-only, exec is not");
	ok(tools_find("exec")->hints & 8, "exec is open-world");
	arena_free(a);
}

static void
test_available(void)
{
	static struct backend b;
	struct backend_ops ops = fake_ops;
	struct config cfg = { 0 };
	struct tools *t;

	fake_reset(&b);
	ops.file_write = NULL;
	ops.list = NULL;
	t = tools_new(&cfg, (struct backend_handle){ &ops, &b });
	ok(!tools_find("run_code")->available(t), "run_code hidden without the run_code op");
	ok(!tools_find("sandbox_list")->available(t), "sandbox_list hidden without the list op");
	ok(tools_find("file_read")->available(t), "file_read listed with file_read");
	ok(!tools_find("file_edit")->available(t), "file_edit hidden without file_write");
	ok(!tools_find("file_write")->available(t), "file_write hidden without file_write");
	ok(tools_find("exec")->available(t), "exec listed with exec");
	ok(tools_find("run_code")->available(NULL), "with no session every tool is listed");
	ok(tools_backend_ops(t) == &ops, "tools_backend_ops returns the backend's table");
	tools_free(t);
	ok(b.kills == 0 && b.frees == 1, "no default sandbox: nothing killed, backend freed");

	fake_reset(&b);
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	ok(tools_find("file_edit")->available(t), "file_edit listed with read and write");
	tools_free(t);
	fake_reset(&b);
}

struct conc {
	struct tools *t;
	char id[ERR_MSG_MAX];
	int rc;
};

static void *
conc_exec(void *arg)
{
	struct conc *c = arg;
	struct run r;

	c->rc = run_tool(c->t, "exec", "{\"command\":\"echo hi\"}", &r);
	snprintf(c->id, sizeof(c->id), "%s", c->rc == 0 ? "ok" : r.e.msg);
	run_free(&r);
	return NULL;
}

static void
test_default_sandbox(void)
{
	static struct backend b;
	struct config cfg = { 0 };
	struct tools *t;
	struct conc c[8];
	pthread_t th[8];
	struct run r;
	int i, fails = 0;

	fake_reset(&b);
	cfg.template_name = "tmpl-x";
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	for (i = 0; i < 8; i++) {
		c[i].t = t;
		c[i].rc = -1;
		pthread_create(&th[i], NULL, conc_exec, &c[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		fails += c[i].rc != 0;
	}
	is_int(fails, 0, "8 concurrent first calls all succeed");
	is_int(b.creates, 1, "and create exactly one default sandbox");
	is_str(b.last_template, "tmpl-x", "the default sandbox uses the configured template");

	run_tool(t, "sandbox_info", "{}", &r);
	is_str(res_str(&r, "sandbox_id"), "sbx-1", "sandbox_info without id shows the default");
	ok(res_bool(&r, "default"), "and marks it as the default");
	run_free(&r);

	run_tool(t, "sandbox_kill", "{}", &r);
	is_int(r.rc, 0, "sandbox_kill without id kills the default");
	is_str(b.last_killed, "sbx-1", "the killed sandbox is the default");
	is_str(res_str(&r, "state"), "killed", "state is killed");
	run_free(&r);

	run_tool(t, "sandbox_kill", "{}", &r);
	is_int(r.rc, ERR_NOTFOUND, "a second sandbox_kill without id does not create one to kill");
	is_int(b.creates, 1, "no sandbox was created for it");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"echo again\"}", &r);
	is_int(b.creates, 2, "after the default was killed, the next call creates a new one");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"echo x\",\"sandbox_id\":\"other\"}", &r);
	is_int(b.creates, 2, "an explicit sandbox_id creates nothing");
	run_free(&r);

	tools_free(t);
	is_str(b.last_killed, "sbx-2", "tools_free kills the default sandbox");
	is_int(b.kills, 2, "and nothing else");

	/* A failed creation is reported to every call that waited for it. */
	fake_reset(&b);
	cfg.template_name = "boom";
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	for (i = 0; i < 4; i++) {
		c[i].t = t;
		pthread_create(&th[i], NULL, conc_exec, &c[i]);
	}
	for (i = 0, fails = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		fails += c[i].rc == ERR_BACKEND &&
		    strcmp(c[i].id, "template boom does not exist") == 0;
	}
	is_int(fails, 4, "a failed default creation fails every waiting call with its sentence");
	is_int(b.creates, 1, "after one attempt");
	run_tool(t, "exec", "{\"command\":\"echo x\"}", &r);
	is_int(b.creates, 2, "a later call tries again");
	run_free(&r);
	tools_free(t);
	is_int(b.kills, 0, "nothing to kill at exit");
	cfg.template_name = NULL;

	/* --sandbox: attach, never kill. */
	fake_reset(&b);
	cfg.sandbox = "given-1";
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	run_tool(t, "sandbox_info", "{}", &r);
	is_str(res_str(&r, "sandbox_id"), "given-1", "--sandbox is the default sandbox");
	run_free(&r);
	tools_free(t);
	ok(b.creates == 0 && b.kills == 0, "a --sandbox sandbox is neither created nor killed");

	/* --keep. */
	fake_reset(&b);
	cfg.sandbox = NULL;
	cfg.keep = true;
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	run_tool(t, "exec", "{\"command\":\"echo k\"}", &r);
	run_free(&r);
	tools_free(t);
	ok(b.creates == 1 && b.kills == 0, "--keep keeps the default sandbox at exit");

	/* sandbox_create adopts its sandbox as the default when there is none. */
	fake_reset(&b);
	cfg.keep = false;
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	run_tool(t, "sandbox_create", "{\"template\":\"py\",\"timeout_s\":60}", &r);
	is_str(res_str(&r, "sandbox_id"), "sbx-1", "sandbox_create returns the id");
	is_str(res_str(&r, "template"), "py", "and the template");
	is_str(res_str(&r, "expires_at"), "2023-11-14T22:13:20.000Z", "expires_at is RFC 3339");
	ok(res_bool(&r, "default"), "the first created sandbox becomes the default");
	run_free(&r);
	run_tool(t, "exec", "{\"command\":\"echo in-created\"}", &r);
	is_int(b.creates, 1, "exec without id then runs in it");
	run_free(&r);
	run_tool(t, "sandbox_create", "{}", &r);
	ok(!res_bool(&r, "default"), "a second created sandbox does not replace the default");
	run_free(&r);
	tools_free(t);
	is_str(b.last_killed, "sbx-1", "the adopted default is removed at exit");
	fake_reset(&b);
}

static bool
is_pattern(const char *p, size_t n, size_t start)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != (char)('a' + (start + i) % 26))
			return false;
	}
	return true;
}

static void
test_exec_output(void)
{
	static struct backend b;
	struct config cfg = { 0 };
	struct tools *t;
	struct run r;
	const char *out, *mk;
	const struct json *v;

	fake_reset(&b);
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });

	run_tool(t, "exec", "{\"command\":\"gen 100 5\"}", &r);
	is_int(r.rc, 0, "exec runs");
	is_int(res_int(&r, "exit_code"), 3, "exit_code comes through");
	out = res_str(&r, "stdout");
	ok(out && strlen(out) == 100 && is_pattern(out, 100, 0), "short output is complete");
	is_str(res_str(&r, "stderr"), "EEEEE", "stderr is separate");
	ok(!res_bool(&r, "truncated"), "not truncated");
	is_int(res_int(&r, "stdout_bytes"), 100, "stdout_bytes");
	ok(res_int(&r, "duration_ms") >= 0, "duration_ms present");
	ok(!res_bool(&r, "timed_out") && !r.is_error, "not timed out, not an error");
	is_int(r.live.len, 105, "live output forwarded all bytes");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"gen 200000 70000\",\"max_output_bytes\":1000}", &r);
	out = res_str(&r, "stdout");
	ok(res_bool(&r, "truncated"), "long output is truncated");
	is_int(res_int(&r, "stdout_bytes"), 200000, "stdout_bytes counts every byte");
	is_int(res_int(&r, "stderr_bytes"), 70000, "stderr_bytes counts every byte");
	mk = out ? strstr(out, "\n[... 199000 bytes cut ...]\n") : NULL;
	ok(mk != NULL, "marker says how much was cut");
	ok(mk && mk - out == 500 && is_pattern(out, 500, 0), "head is the first 500 bytes");
	ok(mk && strlen(mk + 28) == 500 && is_pattern(mk + 28, 500, 200000 - 500),
	    "tail is the last 500 bytes");
	ok(strstr(res_str(&r, "stderr"), "[... 69000 bytes cut ...]") != NULL,
	    "stderr is capped separately");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"gen 1000 0\",\"max_output_bytes\":1000}", &r);
	ok(!res_bool(&r, "truncated") && strlen(res_str(&r, "stdout")) == 1000 &&
	        is_pattern(res_str(&r, "stdout"), 1000, 0),
	    "output exactly at the cap is whole");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"gen 1001 0\",\"max_output_bytes\":1000}", &r);
	ok(res_bool(&r, "truncated") && strstr(res_str(&r, "stdout"), "[... 1 bytes cut ...]"),
	    "one byte over the cap is cut and counted");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"gen 10 0\",\"max_output_bytes\":0}", &r);
	is_str(res_str(&r, "stdout"), "\n[... 10 bytes cut ...]\n",
	    "max_output_bytes 0 keeps only the marker");
	run_free(&r);

	/* UTF-8: 3-byte characters arriving in 7-byte events, cut at 100 bytes. */
	run_tool(t, "exec", "{\"command\":\"euro 1000\",\"max_output_bytes\":100}", &r);
	ok(r.res != NULL, "result with cut multi-byte output is valid JSON (strict parser)");
	out = res_str(&r, "stdout");
	ok(out && str_utf8_valid(out, strlen(out)), "stdout is valid UTF-8");
	ok(out && strstr(out, "\xef\xbf\xbd") == NULL,
	    "no replacement characters: cuts fall "
	    "between characters");
	ok(out && strstr(out, "[... 2904 bytes cut ...]"),
	    "cut count covers the bytes dropped at "
	    "character edges");
	is_int(r.live_chunks_invalid, 0, "every live chunk is valid UTF-8 on its own");
	is_int(r.live.len, 3000, "live output carries every byte");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"euro 10\"}", &r);
	is_str(res_str(&r, "stdout"), "€€€€€€€€€€", "uncut multi-byte output is intact");
	run_free(&r);

	/* Timeouts. */
	run_tool(t, "exec", "{\"command\":\"sleep\",\"timeout_s\":1}", &r);
	is_int(r.rc, 0, "a timed-out command still returns its data");
	ok(r.is_error, "and is marked as an error");
	ok(res_bool(&r, "timed_out"), "timed_out is true");
	v = json_get(r.res, "exit_code");
	ok(v && v->type == JSON_NULL, "exit_code is null");
	is_str(res_str(&r, "stdout"), "partial\n", "partial output is returned");
	ok(res_str(&r, "note") && strstr(res_str(&r, "note"), "did not finish within 1 s"),
	    "with a clear note");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"sleep2\"}", &r);
	ok(r.rc == ERR_TIMEOUT && !r.is_error,
	    "an early ERR_TIMEOUT (the platform, not the command) stays the backend's error");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"fail\"}", &r);
	is_int(r.rc, ERR_BACKEND, "backend errors pass through");
	is_str(r.e.msg, "the platform refused the command", "with their sentence");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"x\",\"background\":true}", &r);
	is_str(res_str(&r, "pid"), "42", "background exec returns the pid");
	ok(res_bool(&r, "running"), "and running");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"\"}", &r);
	is_int(r.rc, ERR_INVAL, "an empty command is refused");
	run_free(&r);

	run_tool(t, "exec", "{\"command\":\"x\",\"max_output_bytes\":99999999}", &r);
	is_int(r.rc, ERR_INVAL, "max_output_bytes over the cap is refused");
	run_free(&r);

	tools_free(t);
	fake_reset(&b);
}

static void
test_processes(void)
{
	static struct backend b;
	struct config cfg = { 0 };
	struct tools *t;
	struct run r;
	const struct json *p;

	fake_reset(&b);
	cfg.sandbox = "sbx-1";
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	run_tool(t, "process_output", "{\"pid\":\"42\",\"max_bytes\":2}", &r);
	is_str(res_str(&r, "output"), "h", "a character split at max_bytes is held back");
	is_int(res_int(&r, "next_offset"), 1, "next_offset points at the character's start");
	ok(res_bool(&r, "running") && json_get(r.res, "exit_code") == NULL,
	    "running, no exit_code yet");
	run_free(&r);
	run_tool(t, "process_output", "{\"pid\":\"42\",\"offset\":1}", &r);
	is_str(res_str(&r, "output"), "\xc3\xa9llo", "the next call returns the whole character");
	is_int(res_int(&r, "next_offset"), 6, "next_offset at the end");
	ok(!res_bool(&r, "running") && res_int(&r, "exit_code") == 0, "exited with 0");
	run_free(&r);
	run_tool(t, "process_output", "{\"pid\":42}", &r);
	is_int(r.rc, 0, "an integer pid is accepted");
	run_free(&r);
	run_tool(t, "process_output", "{\"pid\":\"7\"}", &r);
	is_int(r.rc, ERR_NOTFOUND, "unknown pid: the backend's error");
	run_free(&r);
	run_tool(t, "process_kill", "{\"pid\":\"42\"}", &r);
	ok(r.rc == 0 && last_signo == SIGTERM, "process_kill sends SIGTERM by default");
	run_free(&r);
	run_tool(t, "process_kill", "{\"pid\":\"42\",\"signal\":\"kill\"}", &r);
	ok(last_signo == SIGKILL && strcmp(res_str(&r, "signal"), "SIGKILL") == 0,
	    "signal names work without SIG and in any case");
	run_free(&r);
	run_tool(t, "process_kill", "{\"pid\":\"42\",\"signal\":2}", &r);
	is_int(last_signo, SIGINT, "signal numbers work");
	run_free(&r);
	run_tool(t, "process_kill", "{\"pid\":\"42\",\"signal\":\"SIGNOPE\"}", &r);
	is_int(r.rc, ERR_INVAL, "an unknown signal is refused");
	run_free(&r);
	run_tool(t, "process_send_stdin", "{\"pid\":\"42\",\"data\":\"yes\\n\",\"close\":true}",
	    &r);
	ok(strcmp(last_stdin, "yes\n") == 0 && last_close,
	    "process_send_stdin passes data and close");
	run_free(&r);
	run_tool(t, "sandbox_list", "{\"limit\":1}", &r);
	ok(json_get(r.res, "sandboxes") && json_get(r.res, "sandboxes")->count == 2,
	    "sandbox_list lists");
	is_str(res_str(&r, "next_cursor"), "page2", "with next_cursor");
	ok(json_truthy(json_get(json_at(json_get(r.res, "sandboxes"), 0), "default")),
	    "and marks the default sandbox");
	run_free(&r);
	run_tool(t, "process_list", "{}", &r);
	p = json_at(json_get(r.res, "processes"), 0);
	ok(p && strcmp(json_get_str(p, "pid"), "42") == 0 && json_truthy(json_get(p, "running")),
	    "process_list lists processes");
	run_free(&r);
	tools_free(t);
	fake_reset(&b);
}

static void
put_file(struct backend *b, const char *path, const char *data, size_t len)
{
	fake_file_write(b, "x", path, data, len, FILE_MODE_DEFAULT, NULL, NULL);
}

static void
test_files(void)
{
	static struct backend b;
	struct config cfg = { 0 };
	struct tools *t;
	struct run r;
	char *big;
	size_t i;

	fake_reset(&b);
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	put_file(&b, "/a.txt", "one two one\nthree\n", 18);

	run_tool(t, "file_edit", "{\"path\":\"/a.txt\",\"old_text\":\"four\",\"new_text\":\"x\"}",
	    &r);
	is_int(r.rc, ERR_NOTFOUND, "file_edit: missing text fails");
	is_str(r.e.msg, "old_text was not found in /a.txt", "with the not-found sentence");
	run_free(&r);

	run_tool(t, "file_edit", "{\"path\":\"/a.txt\",\"old_text\":\"one\",\"new_text\":\"1\"}",
	    &r);
	is_int(r.rc, ERR_INVAL, "file_edit: ambiguous text fails");
	is_str(r.e.msg, "old_text occurs 2 times in /a.txt; add context or set replace_all",
	    "with the ambiguity sentence");
	ok(memcmp(fake_find(&b, "/a.txt", false)->data, "one two one", 11) == 0,
	    "and leaves the file alone");
	run_free(&r);

	run_tool(t, "file_edit",
	    "{\"path\":\"/a.txt\",\"old_text\":\"one\",\"new_text\":\"ONE!\","
	    "\"replace_all\":true}",
	    &r);
	is_int(res_int(&r, "replacements"), 2, "replace_all replaces every occurrence");
	ok(fake_find(&b, "/a.txt", false)->len == 20 &&
	        memcmp(fake_find(&b, "/a.txt", false)->data, "ONE! two ONE!\nthree\n", 20) == 0,
	    "the file has the new text");
	run_free(&r);

	fake_find(&b, "/a.txt", false)->mode = 0755;
	run_tool(t, "file_edit", "{\"path\":\"/a.txt\",\"old_text\":\"three\",\"new_text\":\"3\"}",
	    &r);
	is_int(res_int(&r, "replacements"), 1, "a unique text is replaced once");
	is_int(fake_find(&b, "/a.txt", false)->mode, 0755, "file_edit keeps the permission bits");
	run_free(&r);

	run_tool(t, "file_edit", "{\"path\":\"/a.txt\",\"old_text\":\"\",\"new_text\":\"3\"}", &r);
	is_int(r.rc, ERR_INVAL, "empty old_text is refused");
	run_free(&r);

	run_tool(t, "file_edit", "{\"path\":\"/none\",\"old_text\":\"a\",\"new_text\":\"b\"}", &r);
	is_int(r.rc, ERR_NOTFOUND, "editing a missing file passes the backend's error");
	run_free(&r);

	/* file_read, text by lines. */
	put_file(&b, "/l.txt", "l0\nl1\nl2\nl3\nl4", 14);
	run_tool(t, "file_read", "{\"path\":\"/l.txt\"}", &r);
	is_str(res_str(&r, "content"), "l0\nl1\nl2\nl3\nl4", "file_read returns the whole file");
	ok(!res_bool(&r, "truncated") && res_int(&r, "lines") == 5 && res_int(&r, "size") == 14,
	    "not truncated, 5 lines, size 14");
	is_str(res_str(&r, "encoding"), "text", "encoding text");
	run_free(&r);
	run_tool(t, "file_read", "{\"path\":\"/l.txt\",\"offset\":1,\"limit\":2}", &r);
	is_str(res_str(&r, "content"), "l1\nl2\n", "offset/limit count lines");
	ok(res_bool(&r, "truncated") && res_int(&r, "next_offset") == 3,
	    "truncated with next_offset 3");
	run_free(&r);
	run_tool(t, "file_read", "{\"path\":\"/l.txt\",\"offset\":9}", &r);
	ok(strcmp(res_str(&r, "content"), "") == 0 && res_str(&r, "note") &&
	        strcmp(res_str(&r, "note"), "the file has only 5 lines") == 0,
	    "an offset past the end says how many lines there are");
	run_free(&r);
	run_tool(t, "file_read", "{\"path\":\"/l.txt\",\"offset\":3,\"limit\":2}", &r);
	ok(strcmp(res_str(&r, "content"), "l3\nl4") == 0 && !res_bool(&r, "truncated"),
	    "the last lines, not truncated");
	run_free(&r);

	/* Exactly 1 MiB of text comes back whole in one call (over many backend reads). */
	big = malloc(2400000);
	for (i = 0; i < 1024 * 1024; i++)
		big[i] = i % 64 == 63 ? '\n' : 'y';
	put_file(&b, "/mib.txt", big, 1024 * 1024);
	run_tool(t, "file_read", "{\"path\":\"/mib.txt\"}", &r);
	ok(r.rc == 0 && !res_bool(&r, "truncated") &&
	        strlen(res_str(&r, "content")) == 1024 * 1024 && res_int(&r, "lines") == 16384 &&
	        res_str(&r, "note") == NULL,
	    "a 1 MiB text file comes back whole in one call");
	run_free(&r);

	/* A text file over the cap. */
	for (i = 0; i < 2400000; i++)
		big[i] = i % 10 == 9 ? '\n' : 'x';
	put_file(&b, "/big.txt", big, 2400000);
	run_tool(t, "file_read", "{\"path\":\"/big.txt\"}", &r);
	ok(res_bool(&r, "truncated") && strlen(res_str(&r, "content")) <= 1024 * 1024 &&
	        strlen(res_str(&r, "content")) > 1024 * 1024 - 10,
	    "big text is capped at 1 MiB and truncated");
	ok(strlen(res_str(&r, "content")) % 10 == 0, "cut at a line end");
	is_int(res_int(&r, "next_offset"), (int64_t)strlen(res_str(&r, "content")) / 10,
	    "next_offset continues after the last whole line");
	is_str(res_str(&r, "note"), "output stops at 1 MiB; continue with offset next_offset",
	    "the note names the cap");
	run_free(&r);
	run_tool(t, "file_read", "{\"path\":\"/big.txt\",\"offset\":239990,\"limit\":100}", &r);
	is_int(res_int(&r, "lines"), 10, "a far line offset is reached across reads");
	ok(!res_bool(&r, "truncated"), "the end of the file is not truncated");
	run_free(&r);
	run_tool(t, "file_read",
	    "{\"path\":\"/big.txt\",\"encoding\":\"base64\",\"offset\":10,"
	    "\"limit\":5}",
	    &r);
	is_str(res_str(&r, "content"), "eHh4eHg=", "base64 reads a byte range");
	ok(res_bool(&r, "truncated") && res_int(&r, "next_offset") == 15, "with next_offset");
	run_free(&r);
	free(big);

	/* Images and binaries. */
	put_file(&b, "/p.png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
	run_tool(t, "file_read", "{\"path\":\"/p.png\"}", &r);
	is_str(r.image_mime, "image/png", "a PNG comes back as image content");
	is_str(res_str(&r, "encoding"), "base64", "with base64 content");
	ok(r.text.len > 0 && strstr(r.text.p, "image") != NULL, "and a short text block");
	run_free(&r);
	put_file(&b, "/bin", "ab\0cd", 5);
	run_tool(t, "file_read", "{\"path\":\"/bin\"}", &r);
	is_str(res_str(&r, "encoding"), "base64", "a binary file comes back as base64");
	is_str(res_str(&r, "content"), "YWIAY2Q=", "exactly");
	run_free(&r);
	put_file(&b, "/bad.txt", "ok\xff\n", 4);
	run_tool(t, "file_read", "{\"path\":\"/bad.txt\"}", &r);
	ok(r.res != NULL && res_str(&r, "note") != NULL,
	    "invalid UTF-8 text is valid JSON with a note");
	run_free(&r);

	/* file_write. */
	run_tool(t, "file_write",
	    "{\"path\":\"/w.sh\",\"content\":\"IyEvYmluL3NoCg==\","
	    "\"encoding\":\"base64\",\"mode\":\"0755\"}",
	    &r);
	is_int(res_int(&r, "bytes_written"), 10, "file_write decodes base64");
	ok(fake_find(&b, "/w.sh", false)->len == 10 &&
	        memcmp(fake_find(&b, "/w.sh", false)->data, "#!/bin/sh\n", 10) == 0,
	    "bytes as given");
	is_int(fake_find(&b, "/w.sh", false)->mode, 0755, "mode string is octal");
	run_free(&r);
	run_tool(t, "file_write", "{\"path\":\"/w2\",\"content\":\"x\",\"mode\":600}", &r);
	is_int(fake_find(&b, "/w2", false)->mode, 0600, "an integer mode is read as octal digits");
	run_free(&r);
	run_tool(t, "file_write", "{\"path\":\"/w3\",\"content\":\"x\",\"mode\":\"0999\"}", &r);
	is_int(r.rc, ERR_INVAL, "a non-octal mode is refused");
	run_free(&r);
	run_tool(t, "file_write", "{\"path\":\"/w4\",\"content\":\"!!\",\"encoding\":\"base64\"}",
	    &r);
	is_int(r.rc, ERR_INVAL, "bad base64 is refused");
	run_free(&r);

	/* file_stat. */
	run_tool(t, "file_stat", "{\"path\":\"/missing\"}", &r);
	ok(r.rc == 0 && !res_bool(&r, "exists"), "file_stat of a missing path: exists false");
	run_free(&r);
	run_tool(t, "file_stat", "{\"path\":\"/w.sh\"}", &r);
	ok(res_bool(&r, "exists") && strcmp(res_str(&r, "mode"), "0755") == 0 &&
	        strcmp(res_str(&r, "type"), "file") == 0,
	    "file_stat: exists, type, octal mode");
	run_free(&r);

	/* network_policy get. */
	run_tool(t, "network_policy", "{}", &r);
	ok(strcmp(res_str(&r, "default"), "deny") == 0 && json_at(json_get(r.res, "allow"), 0) &&
	        strcmp(json_at(json_get(r.res, "allow"), 0)->s, "example.com") == 0,
	    "network_policy without rules reads the policy");
	run_free(&r);
	run_tool(t, "network_policy", "{\"default\":\"allow\"}", &r);
	is_int(r.rc, ERR_UNSUPPORTED, "setting it without net_set says the backend cannot");
	run_free(&r);

	tools_free(t);
	fake_reset(&b);
}

static const struct json *
parse(struct arena *a, const char *s)
{
	struct err e = { 0 };

	return json_parse(s, strlen(s), a, &e);
}

/* code_context_*: listed only with the ops; arguments and results. */
static void
test_code_contexts(void)
{
	static struct backend b;
	struct backend_ops ops = fake_ops;
	struct config cfg = { 0 };
	const struct json *l;
	struct tools *t;
	struct run r;

	fake_reset(&b);
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	ok(!tools_find("code_context_create")->available(t) &&
	        !tools_find("code_context_list")->available(t) &&
	        !tools_find("code_context_delete")->available(t),
	    "code_context_* hidden without the code_ctx ops");
	tools_free(t);

	fake_reset(&b);
	ops.code_ctx_create = fake_ctx_create;
	ops.code_ctx_list = fake_ctx_list;
	ops.code_ctx_delete = fake_ctx_delete;
	t = tools_new(&cfg, (struct backend_handle){ &ops, &b });
	ok(tools_find("code_context_create")->available(t) &&
	        tools_find("code_context_list")->available(t) &&
	        tools_find("code_context_delete")->available(t),
	    "code_context_* listed with the ops");
	run_tool(t, "code_context_delete", "{\"context_id\":\"ctx-1\"}", &r);
	is_int(r.rc, ERR_NOTFOUND, "code_context_delete does not create a default sandbox");
	run_free(&r);
	run_tool(t, "code_context_create", "{}", &r);
	ok(r.rc == 0 && strcmp(res_str(&r, "context_id"), "ctx-1") == 0 &&
	        strcmp(res_str(&r, "language"), "python") == 0 &&
	        res_str(&r, "sandbox_id") != NULL && strcmp(b.last_ctx_cwd, "(none)") == 0,
	    "code_context_create: python by default");
	run_free(&r);
	run_tool(t, "code_context_create", "{\"language\":\"javascript\",\"cwd\":\"/w\"}", &r);
	ok(r.rc == 0 && strcmp(res_str(&r, "context_id"), "ctx-2") == 0 &&
	        strcmp(res_str(&r, "language"), "javascript") == 0 &&
	        strcmp(b.last_ctx_cwd, "/w") == 0,
	    "code_context_create: language and cwd");
	run_free(&r);
	run_tool(t, "code_context_create", "{\"language\":\"cobol\"}", &r);
	ok(r.rc == ERR_UNSUPPORTED && strstr(r.e.msg, "cobol") != NULL,
	    "code_context_create passes the backend's sentence on");
	run_free(&r);
	run_tool(t, "code_context_list", "{}", &r);
	l = json_get(r.res, "contexts");
	ok(r.rc == 0 && l && l->count == 2 &&
	        strcmp(json_get_str(json_at(l, 1), "context_id"), "ctx-2") == 0 &&
	        strcmp(json_get_str(json_at(l, 1), "language"), "javascript") == 0,
	    "code_context_list lists them all");
	run_free(&r);
	run_tool(t, "code_context_list", "{\"language\":\"python\"}", &r);
	l = json_get(r.res, "contexts");
	ok(r.rc == 0 && l && l->count == 1 &&
	        strcmp(json_get_str(json_at(l, 0), "context_id"), "ctx-1") == 0,
	    "code_context_list filters by language");
	run_free(&r);
	run_tool(t, "code_context_delete", "{\"context_id\":\"ctx-1\"}", &r);
	ok(r.rc == 0 && res_bool(&r, "deleted") && strcmp(res_str(&r, "context_id"), "ctx-1") == 0,
	    "code_context_delete: deleted true");
	run_free(&r);
	run_tool(t, "code_context_delete", "{\"context_id\":\"ctx-1\"}", &r);
	ok(r.rc == 0 && !res_bool(&r, "deleted") && res_str(&r, "note") != NULL &&
	        strstr(res_str(&r, "note"), "does not exist") != NULL,
	    "deleting it again: deleted false with the reason");
	run_free(&r);
	run_tool(t, "code_context_delete", "{}", &r);
	is_int(r.rc, ERR_INVAL, "code_context_delete needs context_id");
	run_free(&r);
	run_tool(t, "code_context_list", "{}", &r);
	l = json_get(r.res, "contexts");
	ok(r.rc == 0 && l && l->count == 1, "the deleted context is gone from the list");
	run_free(&r);
	tools_free(t);
	fake_reset(&b);
}

/* The lead's registry takes our catalogue and validates arguments with our schemas. */
static void
test_registry(void)
{
	static struct backend b;
	struct config cfg = { 0 };
	struct arena *a = arena_new(1 << 20);
	struct registry *reg;
	struct tools *t;
	struct err e = { 0 };
	const struct json *args;

	fake_reset(&b);
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	reg = registry_new("all", t, &e);
	ok(reg != NULL, "registry accepts every schema (%s)", e.msg);
	ok(reg && registry_find(reg, "exec") && !registry_find(reg, "run_code"),
	    "registry lists what the backend can do");
	args = parse(a, "{\"command\":\"ls\",\"timeout_s\":5,\"env\":{\"A\":\"b\"}}");
	ok(reg && args && registry_validate(reg, tools_find("exec"), args, &e) == 0,
	    "valid exec arguments pass validation");
	args = parse(a, "{\"command\":\"ls\",\"bogus\":1}");
	err_clear(&e);
	ok(reg && args && registry_validate(reg, tools_find("exec"), args, &e) != 0,
	    "unknown arguments are refused (%s)", e.msg);
	args = parse(a, "{\"pid\":\"1\",\"signal\":9}");
	err_clear(&e);
	ok(reg && args && registry_validate(reg, tools_find("process_kill"), args, &e) == 0,
	    "a numeric signal passes validation");
	args = parse(a, "{\"path\":\"x\",\"content\":\"\",\"mode\":755}");
	err_clear(&e);
	ok(reg && args && registry_validate(reg, tools_find("file_write"), args, &e) == 0,
	    "an integer mode passes validation");
	registry_free(reg);
	err_clear(&e);
	reg = registry_new("core", t, &e);
	ok(reg && registry_count(reg) <= 10, "core profile lists %zu tools",
	    reg ? registry_count(reg) : 0);
	registry_free(reg);
	tools_free(t);
	arena_free(a);
	fake_reset(&b);
}

/* Validates args (JSON text) for a tool through the registry; 0 or the error code. */
static int
validate(struct registry *reg, const char *tool, const char *args, struct err *e)
{
	struct arena *a = arena_new(1 << 20);
	struct err pe = { 0 };
	const struct json *v = json_parse(args, strlen(args), a, &pe);
	int rc;

	err_clear(e);
	rc = v == NULL ? err_set(e, ERR_INVAL, "test: %s", pe.msg)
	               : registry_validate(reg, tools_find(tool), v, e);
	arena_free(a);
	return rc;
}

/* What the registry publishes for one tool: its inputSchema text, from tools/list. */
static char *
published(struct registry *reg, const char *tool)
{
	struct buf b;
	struct jsonw w;
	size_t i;

	for (i = 0; i < registry_count(reg); i++)
		if (strcmp(registry_at(reg, i)->name, tool) == 0)
			break;
	buf_init(&b, 0);
	jsonw_init(&w, &b);
	registry_write_tool(reg, &w, i, true, true);
	return buf_steal(&b);
}

/* Arguments: strict-mode schemas (nulls, {name, value} arrays and maps), NULs in names and
 * data, control characters in ids and names, data carried with its length. */
static void
test_arguments(void)
{
	static struct backend b;
	struct config cfg = { 0 };
	struct registry *reg;
	struct tools *t;
	struct err e = { 0 };
	struct run r;
	char *tool;

	fake_reset(&b);
	cfg.sandbox = "sbx-1";
	t = tools_new(&cfg, (struct backend_handle){ &fake_ops, &b });
	reg = registry_new("all", t, &e);

	/* Published schemas: optional properties accept null, required ones do not. */
	tool = published(reg, "file_read");
	ok(strstr(tool,
	       "\"offset\":{\"anyOf\":[{\"type\":\"integer\",\"minimum\":0},"
	       "{\"type\":\"null\"}],\"description\":") != NULL &&
	        strstr(tool, "\"path\":{\"type\":\"string\"") != NULL,
	    "optional properties are published as unions with null, required ones as they are");
	ok(strstr(tool, "\"annotations\":{\"readOnlyHint\":true,\"openWorldHint\":false}") != NULL,
	    "annotations carry only the hints that differ from the defaults: %s",
	    strstr(tool, "annotations") ? strstr(tool, "annotations") : "(none)");
	free(tool);
	tool = published(reg, "process_kill");
	ok(strstr(tool,
	       "\"signal\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"},"
	       "{\"type\":\"null\"}]") != NULL,
	    "a union gains a null branch, not a nested anyOf");
	free(tool);
	tool = published(reg, "exec");
	ok(strstr(tool, "\"annotations\":{}") != NULL, "exec's hints are all the defaults");
	free(tool);

	is_int(validate(reg, "file_read",
	           "{\"path\":\"/a\",\"offset\":null,\"limit\":null,"
	           "\"encoding\":null,\"sandbox_id\":null}",
	           &e),
	    0, "null optional arguments pass");
	is_int(validate(reg, "sandbox_create",
	           "{\"network\":{\"default\":null,\"allow\":[\"a\"],"
	           "\"deny\":null},\"resources\":{\"cpu\":null,\"memory\":\"1Gi\"}}",
	           &e),
	    0, "null optional members of nested objects pass");
	is_int(validate(reg, "sandbox_create", "{\"network\":{\"default\":\"maybe\"}}", &e),
	    ERR_INVAL, "a nested enum is checked");
	ok(strstr(e.msg, "network.default") != NULL, "the sentence names network.default: %s",
	    e.msg);
	is_int(validate(reg, "sandbox_create", "{\"network\":{\"allowed\":[]}}", &e), ERR_INVAL,
	    "an unknown nested member is refused");
	ok(strstr(e.msg, "allowed") != NULL && strstr(e.msg, "network") != NULL,
	    "the sentence names it: %s", e.msg);
	is_int(validate(reg, "process_kill", "{\"pid\":\"1\",\"signal\":true}", &e), ERR_INVAL,
	    "a signal that is neither string nor integer is refused");
	ok(strstr(e.msg, "a string or an integer") != NULL, "the sentence lists the types: %s",
	    e.msg);
	is_int(validate(reg, "file_write", "{\"path\":\"x\",\"content\":\"\",\"mode\":\"0755\"}",
	           &e),
	    0, "a string mode passes");

	/* String maps: the {name, value} array the schema shows, and the map form. */
	is_int(validate(reg, "exec",
	           "{\"command\":\"env\",\"env\":[{\"name\":\"A\",\"value\":"
	           "\"1\"},{\"name\":\"B\",\"value\":\"2\"}]}",
	           &e),
	    0, "env as [{name, value}] passes");
	is_int(validate(reg, "exec", "{\"command\":\"env\",\"env\":{\"A\":\"1\"}}", &e), 0,
	    "env as a map passes");
	is_int(validate(reg, "exec", "{\"command\":\"env\",\"env\":[{\"name\":\"A\"}]}", &e),
	    ERR_INVAL, "an item without value is refused");
	is_int(validate(reg, "exec", "{\"command\":\"env\",\"env\":{\"A\":1}}", &e), ERR_INVAL,
	    "a map value that is not a string is refused");
	is_int(validate(reg, "sandbox_list",
	           "{\"metadata\":[{\"name\":\"k\",\"value\":\"v\","
	           "\"extra\":1}]}",
	           &e),
	    ERR_INVAL, "an item with an extra member is refused");
	run_tool(t, "exec",
	    "{\"command\":\"echo x\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},"
	    "{\"name\":\"B\",\"value\":\"x y\"}]}",
	    &r);
	is_str(last_exec_env, "A=1;B=x y;", "the array form reaches the backend as env");
	run_free(&r);
	run_tool(t, "exec", "{\"command\":\"echo x\",\"env\":{\"C\":\"3\"}}", &r);
	is_str(last_exec_env, "C=3;", "the map form reaches the backend as env");
	run_free(&r);
	run_tool(t, "exec",
	    "{\"command\":\"echo x\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},"
	    "{\"name\":\"A\",\"value\":\"2\"}]}",
	    &r);
	ok(r.rc == ERR_INVAL && strstr(r.e.msg, "twice") != NULL,
	    "a name given twice is refused: %s", r.e.msg);
	run_free(&r);
	run_tool(t, "exec", "{\"command\":\"echo x\",\"env\":[{\"name\":\"A=B\",\"value\":\"1\"}]}",
	    &r);
	ok(r.rc == ERR_INVAL && strstr(r.e.msg, "'='") != NULL,
	    "'=' in an environment name is refused: %s", r.e.msg);
	run_free(&r);
	run_tool(t, "exec", "{\"command\":\"echo x\",\"env\":[{\"name\":\"\",\"value\":\"1\"}]}",
	    &r);
	ok(r.rc == ERR_INVAL && strstr(r.e.msg, "empty name") != NULL, "an empty name is refused");
	run_free(&r);
	run_tool(t, "sandbox_create", "{\"metadata\":{\"a=b\":\"c\"}}", &r);
	is_int(r.rc, 0, "'=' is fine in a metadata name");
	run_free(&r);

	/* U+0000: refused in paths, commands, names and ids; kept in data. */
	is_int(validate(reg, "file_read", "{\"path\":\"/etc/passwd\\u0000/x\"}", &e), ERR_INVAL,
	    "a NUL in a path is refused");
	ok(strstr(e.msg, "'path'") != NULL && strstr(e.msg, "U+0000") != NULL,
	    "the sentence names the argument: %s", e.msg);
	is_int(validate(reg, "exec", "{\"command\":\"ls\",\"cwd\":\"/tmp\\u0000/x\"}", &e),
	    ERR_INVAL, "a NUL in cwd is refused");
	is_int(validate(reg, "exec", "{\"command\":\"ls\\u0000; rm -rf /\"}", &e), ERR_INVAL,
	    "a NUL in a command is refused");
	is_int(validate(reg, "exec",
	           "{\"command\":\"ls\",\"env\":[{\"name\":\"A\\u0000B\","
	           "\"value\":\"1\"}]}",
	           &e),
	    ERR_INVAL, "a NUL in an env name is refused");
	is_int(validate(reg, "exec", "{\"command\":\"ls\",\"env\":{\"A\\u0000B\":\"1\"}}", &e),
	    ERR_INVAL, "a NUL in an env name (map form) is refused");
	is_int(validate(reg, "exec", "{\"command\":\"ls\",\"env\":{\"A\":\"x\\u0000y\"}}", &e),
	    ERR_INVAL, "a NUL in an env value is refused");
	is_int(validate(reg, "exec", "{\"command\":\"ls\",\"env\":{\"A\\nB\":\"1\"}}", &e),
	    ERR_INVAL, "a control character in an env name is refused");
	is_int(validate(reg, "sandbox_info", "{\"sandbox_id\":\"sbx\\u0000-2\"}", &e), ERR_INVAL,
	    "a NUL in a sandbox id is refused");
	is_int(validate(reg, "sandbox_create", "{\"network\":{\"allow\":[\"a.com\\u0000.evil\"]}}",
	           &e),
	    ERR_INVAL, "a NUL in a nested array item is refused");
	ok(strstr(e.msg, "network.allow[0]") != NULL, "the sentence gives its place: %s", e.msg);
	is_int(validate(reg, "file_write", "{\"path\":\"/b\",\"content\":\"a\\u0000b\"}", &e), 0,
	    "a NUL in file content passes");
	is_int(validate(reg, "exec", "{\"command\":\"cat\",\"stdin\":\"a\\u0000b\"}", &e), 0,
	    "a NUL in stdin passes");
	is_int(validate(reg, "file_edit",
	           "{\"path\":\"/b\",\"old_text\":\"\\u0000\","
	           "\"new_text\":\"x\\u0000\"}",
	           &e),
	    0, "NULs in old_text and new_text pass");

	run_tool(t, "exec", "{\"command\":\"echo x\",\"stdin\":\"a\\u0000b\\u0000\"}", &r);
	is_int(last_exec_stdin_len, 4, "stdin reaches the backend whole, NULs included");
	run_free(&r);
	run_tool(t, "process_send_stdin", "{\"pid\":\"42\",\"data\":\"x\\u0000y\"}", &r);
	ok(r.rc == 0 && last_stdin_len == 3 && res_int(&r, "bytes_sent") == 3,
	    "process_send_stdin sends every byte, NUL included");
	run_free(&r);
	run_tool(t, "file_write", "{\"path\":\"/nul.bin\",\"content\":\"a\\u0000b\"}", &r);
	ok(r.rc == 0 && res_int(&r, "bytes_written") == 3 && fake_find(&b, "/nul.bin", false) &&
	        fake_find(&b, "/nul.bin", false)->len == 3,
	    "file_write writes every byte");
	run_free(&r);
	run_tool(t, "file_edit",
	    "{\"path\":\"/nul.bin\",\"old_text\":\"\\u0000\","
	    "\"new_text\":\"-\\u0000-\"}",
	    &r);
	ok(r.rc == 0 && fake_find(&b, "/nul.bin", false)->len == 5 &&
	        memcmp(fake_find(&b, "/nul.bin", false)->data, "a-\0-b", 5) == 0,
	    "file_edit finds and writes NULs");
	run_free(&r);

	/* The tools check too (the CLI and the tests call them without the registry). */
	run_tool(t, "file_read", "{\"path\":\"/etc/passwd\\u0000/x\"}", &r);
	ok(r.rc == ERR_INVAL && strstr(r.e.msg, "'path'") != NULL, "file_read refuses it too");
	run_free(&r);
	run_tool(t, "exec", "{\"command\":\"echo x\",\"cwd\":\"/tmp\\u0000/x\"}", &r);
	ok(r.rc == ERR_INVAL && strstr(r.e.msg, "'cwd'") != NULL, "exec refuses a NUL in cwd");
	run_free(&r);
	run_tool(t, "sandbox_info", "{\"sandbox_id\":\"sbx-1\\r\\nX-Evil: 1\"}", &r);
	ok(r.rc == ERR_INVAL && strstr(r.e.msg, "control character") != NULL,
	    "a control character in a sandbox id is refused (ids reach headers): %s", r.e.msg);
	run_free(&r);
	run_tool(t, "process_kill", "{\"pid\":\"42\\n\"}", &r);
	ok(r.rc == ERR_INVAL && strstr(r.e.msg, "'pid'") != NULL, "and in a pid");
	run_free(&r);

	registry_free(reg);
	tools_free(t);
	fake_reset(&b);
}

int
main(void)
{
	test_catalogue();
	test_available();
	test_default_sandbox();
	test_exec_output();
	test_processes();
	test_files();
	test_code_contexts();
	test_registry();
	test_arguments();
	ok(schema_checked > 50, "%d results were checked against their outputSchema",
	    schema_checked);
	is_int(schema_violations, 0, "every result matches its tool's outputSchema");
	return done_testing();
}
