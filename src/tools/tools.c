/*
 * tools.c -- the catalogue, the session (struct tools) and its default sandbox, and the
 * argument/output helpers the tool families share.
 *
 * The default sandbox is created by the first call that needs it. Concurrent first calls
 * must not create one each: the first caller creates it outside the lock (creation can take
 * seconds and must not block calls on other sandboxes) while the others wait on t->cond.
 * A failed attempt is reported to the calls that waited for it, except a cancelled one,
 * after which a waiter simply tries again on its own behalf.
 */
#include "tools/internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <stdlib.h>
#include <string.h>

#define CATALOGUE_MAX 64
#define WAIT_SLICE_MS 100

/* Catalogue --------------------------------------------------------------------- */

static struct tool_def catalogue[CATALOGUE_MAX];
static size_t catalogue_n;
static pthread_once_t catalogue_once = PTHREAD_ONCE_INIT;

static void
catalogue_add(const struct tool_def *defs, size_t n)
{
	size_t i;

	for (i = 0; i < n && catalogue_n < CATALOGUE_MAX; i++)
		catalogue[catalogue_n++] = defs[i];
}

static void
catalogue_build(void)
{
	catalogue_add(tools_sandbox_defs, tools_sandbox_ndefs);
	catalogue_add(tools_exec_defs, tools_exec_ndefs);
	catalogue_add(tools_files_defs, tools_files_ndefs);
	catalogue_add(tools_network_defs, tools_network_ndefs);
}

const struct tool_def *
tools_catalogue(size_t *n)
{
	pthread_once(&catalogue_once, catalogue_build);
	*n = catalogue_n;
	return catalogue;
}

const struct tool_def *
tools_find(const char *name)
{
	size_t n, i;
	const struct tool_def *c = tools_catalogue(&n);

	for (i = 0; name != NULL && i < n; i++) {
		if (strcmp(c[i].name, name) == 0)
			return &c[i];
	}
	return NULL;
}

/* Session ----------------------------------------------------------------------- */

struct tools *
tools_new(const struct config *cfg, struct backend_handle be)
{
	struct tools *t = xcalloc(1, sizeof(*t));

	t->cfg = cfg;
	t->be = be;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (cfg != NULL && cfg->sandbox != NULL && *cfg->sandbox)
		t->default_id = xstrdup(cfg->sandbox);
	return t;
}

void
tools_free(struct tools *t)
{
	if (t == NULL)
		return;
	if (t->default_id != NULL && t->default_owned && !(t->cfg != NULL && t->cfg->keep) &&
	    t->be.ops != NULL && t->be.ops->kill != NULL) {
		struct arena *a = arena_new(1024 * 1024);
		struct call c = { a, NULL, deadline_in_ms(30 * 1000) };
		struct err e = { 0 };

		if (t->be.ops->kill(t->be.b, t->default_id, &c, &e) != 0)
			log_msg(LOG_WARN, "tools", "could not remove the default sandbox %s: %s",
			    t->default_id, e.msg);
		else
			log_msg(LOG_INFO, "tools", "removed the default sandbox %s", t->default_id);
		arena_free(a);
	} else if (t->default_id != NULL && t->default_owned) {
		log_msg(LOG_INFO, "tools", "keeping the default sandbox %s (--keep)",
		    t->default_id);
	}
	if (t->be.ops != NULL && t->be.ops->free != NULL)
		t->be.ops->free(t->be.b);
	free(t->default_id);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

const struct backend_ops *
tools_backend_ops(const struct tools *t)
{
	return t != NULL ? t->be.ops : NULL;
}

/* Default sandbox --------------------------------------------------------------- */

/* Creates the default sandbox; called without the lock by the one creating worker. */
static int
default_create(struct tool_ctx *ctx, char **id, struct err *e)
{
	struct tools *t = ctx->t;
	struct sb_create req;
	struct sb_info info;
	struct call c;

	if (t->be.ops->create == NULL)
		return err_set(e, ERR_UNSUPPORTED,
		    "the %s backend cannot create sandboxes; "
		    "attach to one with --sandbox ID or pass sandbox_id",
		    t->be.ops->name);
	memset(&req, 0, sizeof(req));
	memset(&info, 0, sizeof(info));
	req.template_name = t->cfg != NULL ? t->cfg->template_name : NULL;
	req.auto_pause = -1;
	req.secure = -1;
	req.ephemeral = !(t->cfg != NULL && t->cfg->keep);
	if (ctx->on_progress != NULL)
		ctx->on_progress(ctx->listener, "creating this session's default sandbox");
	tools_call_init(ctx, &c, TOOLS_CREATE_DEADLINE_MS);
	if (t->be.ops->create(t->be.b, &req, &info, &c, e) != 0)
		return e->code;
	if (info.id == NULL || *info.id == '\0')
		return err_set(e, ERR_BACKEND, "the %s backend created a sandbox without an id",
		    t->be.ops->name);
	*id = xstrdup(info.id);
	log_msg(LOG_INFO, "tools", "created the default sandbox %s", info.id);
	return 0;
}

/* Waits (locked) until the creation in progress ends or the call is cancelled. */
static int
default_wait(struct tool_ctx *ctx, struct err *e)
{
	struct tools *t = ctx->t;
	uint64_t gen = t->gen;

	while (t->creating && t->gen == gen) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		if (cancel_fired(ctx->cancel))
			return err_set(e, ERR_CANCELLED,
			    "the call was cancelled while the default "
			    "sandbox was being created");
	}
	if (t->gen != gen && t->default_id == NULL && t->create_err.code != ERR_CANCELLED) {
		err_set(e, t->create_err.code, "%s", t->create_err.msg);
		return e->code;
	}
	return 0;
}

int
tools_sandbox_id(struct tool_ctx *ctx, bool create, const char **id, struct err *e)
{
	struct tools *t = ctx->t;
	const char *s;
	char *made = NULL;
	int rc;

	if (tools_arg_id(ctx, "sandbox_id", &s, e) != 0)
		return e->code;
	if (s != NULL && *s) {
		*id = s;
		return 0;
	}
	pthread_mutex_lock(&t->lock);
	for (;;) {
		if (t->default_id != NULL) {
			*id = arena_strdup(ctx->a, t->default_id);
			pthread_mutex_unlock(&t->lock);
			return *id != NULL ? 0 : err_set(e, ERR_TOOBIG, "out of request memory");
		}
		if (!create) {
			pthread_mutex_unlock(&t->lock);
			return err_set(e, ERR_NOTFOUND,
			    "this session has no default sandbox; pass "
			    "sandbox_id (sandbox_list shows the sandboxes)");
		}
		if (!t->creating)
			break;
		if (default_wait(ctx, e) != 0) {
			pthread_mutex_unlock(&t->lock);
			return e->code;
		}
	}
	t->creating = true;
	pthread_mutex_unlock(&t->lock);

	rc = default_create(ctx, &made, e);

	pthread_mutex_lock(&t->lock);
	t->creating = false;
	t->gen++;
	err_clear(&t->create_err);
	if (rc == 0) {
		t->default_id = made;
		t->default_owned = true;
		*id = arena_strdup(ctx->a, made);
	} else {
		err_set(&t->create_err, e->code, "%s", e->msg);
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (rc == 0 && *id == NULL)
		return err_set(e, ERR_TOOBIG, "out of request memory");
	return rc;
}

void
tools_forget_default(struct tools *t, const char *id)
{
	pthread_mutex_lock(&t->lock);
	if (t->default_id != NULL && id != NULL && strcmp(t->default_id, id) == 0) {
		free(t->default_id);
		t->default_id = NULL;
		t->default_owned = false;
	}
	pthread_mutex_unlock(&t->lock);
}

bool
tools_adopt_default(struct tools *t, const char *id)
{
	bool adopted = false;

	pthread_mutex_lock(&t->lock);
	if (t->default_id == NULL && !t->creating && id != NULL && *id) {
		t->default_id = xstrdup(id);
		t->default_owned = true;
		adopted = true;
	}
	pthread_mutex_unlock(&t->lock);
	return adopted;
}

const char *
tools_default_id(struct tools *t, struct arena *a)
{
	const char *id = NULL;

	pthread_mutex_lock(&t->lock);
	if (t->default_id != NULL)
		id = arena_strdup(a, t->default_id);
	pthread_mutex_unlock(&t->lock);
	return id;
}

void
tools_call_init(const struct tool_ctx *ctx, struct call *c, int64_t deadline_ms)
{
	int64_t ms = deadline_ms;
	int64_t cfg_ms = ctx->t != NULL && ctx->t->cfg != NULL
	    ? (int64_t)ctx->t->cfg->timeout_s * 1000
	    : 0;

	/* A configured per-request timeout longer than ours widens the outer bound. */
	if (ms >= 0 && cfg_ms > ms)
		ms = cfg_ms;
	c->a = ctx->a;
	c->cancel = ctx->cancel;
	c->deadline = ms < 0 ? DEADLINE_NONE : deadline_in_ms(ms);
}

/* Arguments --------------------------------------------------------------------- */

const struct json *
tools_arg(const struct tool_ctx *ctx, const char *key)
{
	const struct json *v = json_get(ctx->args, key);

	return v != NULL && v->type != JSON_NULL ? v : NULL;
}

int
tools_arg_str(const struct tool_ctx *ctx, const char *key, const char **out, struct err *e)
{
	const char *s;
	size_t len;

	*out = NULL;
	if (tools_arg_data(ctx, key, &s, &len, e) != 0)
		return e->code;
	if (s != NULL && memchr(s, '\0', len) != NULL)
		return err_set(e, ERR_INVAL,
		    "argument '%s' contains U+0000 (NUL); paths, commands, "
		    "names and ids cannot hold it",
		    key);
	*out = s;
	return 0;
}

bool
tools_has_ctl(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7F)
			return true;
	return false;
}

int
tools_arg_id(const struct tool_ctx *ctx, const char *key, const char **out, struct err *e)
{
	if (tools_arg_str(ctx, key, out, e) != 0)
		return e->code;
	if (*out != NULL && tools_has_ctl(*out, strlen(*out))) {
		*out = NULL;
		return err_set(e, ERR_INVAL,
		    "argument '%s' contains a control character; ids and "
		    "names are printable text",
		    key);
	}
	return 0;
}

int
tools_arg_data(const struct tool_ctx *ctx, const char *key, const char **out, size_t *len,
    struct err *e)
{
	const struct json *v = tools_arg(ctx, key);

	*out = NULL;
	*len = 0;
	if (v == NULL)
		return 0;
	if (v->type != JSON_STRING)
		return err_set(e, ERR_INVAL, "argument '%s' must be a string", key);
	*out = v->s;
	*len = v->len;
	return 0;
}

int
tools_arg_int(const struct tool_ctx *ctx, const char *key, int64_t def, int64_t min, int64_t max,
    int64_t *out, struct err *e)
{
	const struct json *v = tools_arg(ctx, key);
	int64_t x;

	*out = def;
	if (v == NULL)
		return 0;
	if (v->type != JSON_NUMBER || !json_int(v, &x))
		return err_set(e, ERR_INVAL, "argument '%s' must be an integer", key);
	if (x < min || x > max)
		return err_set(e, ERR_INVAL,
		    "argument '%s' must be between %lld and %lld, not %lld", key, (long long)min,
		    (long long)max, (long long)x);
	*out = x;
	return 0;
}

int
tools_arg_num(const struct tool_ctx *ctx, const char *key, double def, double min, double max,
    double *out, struct err *e)
{
	const struct json *v = tools_arg(ctx, key);
	double x;

	*out = def;
	if (v == NULL)
		return 0;
	if (v->type != JSON_NUMBER || !json_double(v, &x))
		return err_set(e, ERR_INVAL, "argument '%s' must be a number", key);
	if (!(x >= min && x <= max))
		return err_set(e, ERR_INVAL, "argument '%s' must be between %g and %g", key, min,
		    max);
	*out = x;
	return 0;
}

int
tools_arg_bool(const struct tool_ctx *ctx, const char *key, bool def, bool *out, struct err *e)
{
	const struct json *v = tools_arg(ctx, key);

	*out = def;
	if (v == NULL)
		return 0;
	if (!json_is_bool(v))
		return err_set(e, ERR_INVAL, "argument '%s' must be true or false", key);
	*out = json_truthy(v);
	return 0;
}

/* One name and value of a string map; what names the map in sentences. */
static int
kv_check(const char *what, bool env, const struct json *name, const struct json *value,
    struct err *e)
{
	if (name->len == 0)
		return err_set(e, ERR_INVAL, "'%s' has an empty name", what);
	if (tools_has_ctl(name->s, name->len))
		return err_set(e, ERR_INVAL,
		    "the name '%.64s' in '%s' contains a control "
		    "character; names are printable text",
		    name->s, what);
	if (env && memchr(name->s, '=', name->len) != NULL)
		return err_set(e, ERR_INVAL,
		    "the name '%.64s' in '%s' contains '='; an "
		    "environment variable's name cannot",
		    name->s, what);
	if (value->type != JSON_STRING)
		return err_set(e, ERR_INVAL,
		    "every value in '%s' must be a string ('%.64s' is "
		    "not)",
		    what, name->s);
	if (memchr(value->s, '\0', value->len) != NULL)
		return err_set(e, ERR_INVAL,
		    "the value of '%.64s' in '%s' contains U+0000 (NUL), "
		    "which it cannot carry",
		    name->s, what);
	return 0;
}

static int
kv_cmp(const void *x, const void *y)
{
	return strcmp(((const struct kv *)x)->key, ((const struct kv *)y)->key);
}

int
tools_json_kv(struct arena *a, const struct json *v, const char *what, bool env, struct kv **out,
    size_t *n, struct err *e)
{
	const struct json *x, *name, *value;
	struct kv *kv, *sorted;
	size_t i = 0;

	*out = NULL;
	*n = 0;
	if (v == NULL || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_OBJECT && v->type != JSON_ARRAY)
		return err_set(e, ERR_INVAL, "'%s' must be an array of {name, value} objects",
		    what);
	if (v->count == 0)
		return 0;
	kv = arena_zalloc(a, v->count * sizeof(*kv));
	sorted = arena_zalloc(a, v->count * sizeof(*sorted));
	if (kv == NULL || sorted == NULL)
		return err_set(e, ERR_TOOBIG, "'%s' is too large", what);
	for (x = v->head; x != NULL; x = x->next) {
		struct json key = { .type = JSON_STRING, .s = x->key, .len = x->key_len };

		name = v->type == JSON_OBJECT ? &key : json_get(x, "name");
		value = v->type == JSON_OBJECT ? x : json_get(x, "value");
		if (name == NULL || name->type != JSON_STRING || value == NULL)
			return err_set(e, ERR_INVAL,
			    "every item of '%s' must be an object with a "
			    "string name and value",
			    what);
		if (kv_check(what, env, name, value, e) != 0)
			return e->code;
		kv[i].key = name->s;
		kv[i].value = value->s;
		i++;
	}
	/* A name given twice is ambiguous (which value wins?): refuse it. */
	memcpy(sorted, kv, i * sizeof(*kv));
	qsort(sorted, i, sizeof(*sorted), kv_cmp);
	for (size_t k = 1; k < i; k++)
		if (strcmp(sorted[k - 1].key, sorted[k].key) == 0)
			return err_set(e, ERR_INVAL,
			    "'%s' names '%.64s' twice; give each name once", what, sorted[k].key);
	*out = kv;
	*n = i;
	return 0;
}

int
tools_json_strs(struct arena *a, const struct json *v, const char *what, const char ***out,
    size_t *n, struct err *e)
{
	const struct json *x;
	const char **s;
	size_t i = 0;

	*out = NULL;
	*n = 0;
	if (v == NULL || v->type == JSON_NULL)
		return 0;
	if (v->type != JSON_ARRAY)
		return err_set(e, ERR_INVAL, "'%s' must be an array of strings", what);
	if (v->count == 0)
		return 0;
	s = arena_zalloc(a, v->count * sizeof(*s));
	if (s == NULL)
		return err_set(e, ERR_TOOBIG, "'%s' is too large", what);
	for (x = v->head; x != NULL; x = x->next) {
		if (x->type != JSON_STRING)
			return err_set(e, ERR_INVAL, "every item of '%s' must be a string", what);
		if (memchr(x->s, '\0', x->len) != NULL)
			return err_set(e, ERR_INVAL,
			    "an item of '%s' contains U+0000 (NUL), which it "
			    "cannot carry",
			    what);
		s[i++] = x->s;
	}
	*out = s;
	*n = i;
	return 0;
}

int
tools_arg_kv(const struct tool_ctx *ctx, const char *key, struct kv **out, size_t *n, struct err *e)
{
	return tools_json_kv(ctx->a, tools_arg(ctx, key), key, false, out, n, e);
}

int
tools_arg_env(const struct tool_ctx *ctx, const char *key, struct kv **out, size_t *n,
    struct err *e)
{
	return tools_json_kv(ctx->a, tools_arg(ctx, key), key, true, out, n, e);
}

int
tools_arg_strs(const struct tool_ctx *ctx, const char *key, const char ***out, size_t *n,
    struct err *e)
{
	return tools_json_strs(ctx->a, tools_arg(ctx, key), key, out, n, e);
}

/* Output ------------------------------------------------------------------------ */

void
tools_write_time(struct jsonw *w, const char *key, int64_t wall_ms)
{
	char ts[40];

	if (wall_ms <= 0) {
		jsonw_knull(w, key);
		return;
	}
	time_format_rfc3339(wall_ms, ts, sizeof(ts));
	jsonw_kstr(w, key, ts);
}

void
tools_write_kv_obj(struct jsonw *w, const char *key, const struct kv *kv, size_t n)
{
	size_t i;

	jsonw_key(w, key);
	jsonw_obj_begin(w);
	for (i = 0; i < n; i++) {
		if (kv[i].key == NULL)
			continue;
		jsonw_kstr(w, kv[i].key, kv[i].value != NULL ? kv[i].value : "");
	}
	jsonw_obj_end(w);
}

void
tools_write_strs(struct jsonw *w, const char *key, const char *const *s, size_t n)
{
	size_t i;

	jsonw_key(w, key);
	jsonw_arr_begin(w);
	for (i = 0; i < n; i++)
		jsonw_str(w, s[i] != NULL ? s[i] : "");
	jsonw_arr_end(w);
}
