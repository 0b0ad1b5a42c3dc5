/*
 * server.c -- MCP dispatch: one line in, at most one line out per request.
 *
 * A line is parsed in its own arena. Cheap methods are answered on the reader thread;
 * tools/call moves the arena to a job on the pool. Every request that runs has an entry
 * in the in-flight table (its id, cancel token and progress state) so that
 * notifications/cancelled can stop it and suppress its response.
 */
#include "mcp/server.h"
#include "mcp/registry.h"
#include "mcp/rpc.h"
#include "json/json.h"
#include "json/jsonw.h"
#include "util/b64.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/str.h"
#include "util/time.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REQ_ARENA_MAX            (256u * 1024 * 1024)
#define RESP_MAX                 (12u * 1024 * 1024)
#define PROGRESS_HEARTBEAT_MS    10000
#define PROGRESS_OUTPUT_MAX      4096
#define PROGRESS_MIN_INTERVAL_MS 100
#define TOOLS_PAGE_DEFAULT       100
#define SHUTDOWN_GRACE_MS        15000
#define LIST_TTL_MS              3600000
#define EOF_GRACE_MS             5000

enum {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
	RPC_UNSUPPORTED_VERSION = -32022,
};

static const char *legacy_versions[] = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" };

struct inflight {
	struct inflight *next;
	char *id;    /* the id as JSON text */
	char *token; /* progressToken as JSON text, or NULL */
	struct cancel *cancel;
	pthread_mutex_t lock; /* orders progress before the response */
	bool done, cancelled;
	int64_t progress; /* last progress value sent */
	int64_t started, last_sent;
	struct buf pending; /* output not yet sent as progress */
	size_t pending_dropped;
};

struct server {
	const struct config *cfg;
	struct tools *t;
	struct registry *reg;
	struct rpc_pool *pool;
	pthread_mutex_t lock; /* guards the fields below */
	struct inflight *inflight;
	char version[16]; /* negotiated legacy version, "" before initialize */
	bool initialized;
	bool stopping;
	int page_size;
	pthread_t ticker;
	bool ticker_started;
	int ticker_pipe[2];
};

/* One request being processed; lives in its arena. */
struct req {
	struct server *s;
	struct arena *a;
	const struct json *msg;
	const char *id; /* JSON text, NULL for notifications */
	const char *method;
	const struct json *params;
	bool modern;
	const char *version; /* protocol version in force for this request */
	struct inflight *inf;
	struct buf *batch; /* non-NULL: append the response here instead of sending */
};

/* Output ------------------------------------------------------------------------ */

static void
server_emit(struct req *r, struct buf *b)
{
	if (r->batch != NULL) {
		if (r->batch->len > 1)
			buf_putc(r->batch, ',', NULL);
		buf_append(r->batch, b->p, b->len, NULL);
		return;
	}
	rpc_send(b->p, b->len);
}

static void
server_meta(struct jsonw *w)
{
	jsonw_key(w, "_meta");
	jsonw_obj_begin(w);
	jsonw_key(w, "io.modelcontextprotocol/serverInfo");
	jsonw_obj_begin(w);
	jsonw_kstr(w, "name", MCP_NAME);
	jsonw_kstr(w, "version", SANDBOX_MCP_VERSION);
	jsonw_obj_end(w);
	jsonw_obj_end(w);
}

/* Sends {"jsonrpc":"2.0","id":ID,"error":{...}}. A NULL id is written as "id": null, which
 * JSON-RPC 2.0 §5 requires when the id could not be read (parse error, invalid request);
 * other errors for a message without an id are not sent (notifications get no reply). */
static void
server_error(struct req *r, const char *id, int code, const char *msg, const char *data_json)
{
	struct buf b;
	struct jsonw w;

	if (r != NULL && r->id == NULL && id == NULL && code != RPC_PARSE_ERROR &&
	    code != RPC_INVALID_REQUEST)
		return; /* notifications never get replies */
	buf_init(&b, RESP_MAX);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "jsonrpc", "2.0");
	jsonw_key(&w, "id");
	if (id != NULL)
		jsonw_raw(&w, id, strlen(id));
	else
		jsonw_null(&w);
	jsonw_key(&w, "error");
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "code", code);
	jsonw_kstr(&w, "message", msg);
	if (data_json != NULL) {
		jsonw_key(&w, "data");
		jsonw_raw(&w, data_json, strlen(data_json));
	}
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (jsonw_error(&w) == 0) {
		if (r != NULL)
			server_emit(r, &b);
		else
			rpc_send(b.p, b.len);
	}
	buf_fini(&b);
}

/* Starts a success response; the caller writes the result members then calls
 * server_result_end(). */
static void
server_result_begin(struct req *r, struct buf *b, struct jsonw *w)
{
	buf_init(b, RESP_MAX);
	jsonw_init(w, b);
	jsonw_obj_begin(w);
	jsonw_kstr(w, "jsonrpc", "2.0");
	jsonw_key(w, "id");
	jsonw_raw(w, r->id, strlen(r->id));
	jsonw_key(w, "result");
	jsonw_obj_begin(w);
	if (r->modern)
		jsonw_kstr(w, "resultType", "complete");
}

static void
server_result_end(struct req *r, struct buf *b, struct jsonw *w)
{
	bool suppress = false;

	if (r->modern)
		server_meta(w);
	jsonw_obj_end(w);
	jsonw_obj_end(w);
	if (jsonw_error(w) != 0) {
		buf_fini(b);
		server_error(r, r->id, RPC_INTERNAL_ERROR,
		    "the response was too large to send; ask for less data (smaller limit)", NULL);
		return;
	}
	if (r->inf != NULL) {
		/* After `done` no progress may follow; a cancelled request gets no response. */
		pthread_mutex_lock(&r->inf->lock);
		r->inf->done = true;
		suppress = r->inf->cancelled;
		pthread_mutex_unlock(&r->inf->lock);
	}
	if (!suppress)
		server_emit(r, b);
	buf_fini(b);
}

static void
server_empty_result(struct req *r)
{
	struct buf b;
	struct jsonw w;

	server_result_begin(r, &b, &w);
	server_result_end(r, &b, &w);
}

/* In-flight table --------------------------------------------------------------- */

static struct inflight *
inflight_add(struct server *s, const char *id, const char *token)
{
	struct inflight *f, *x;

	pthread_mutex_lock(&s->lock);
	for (x = s->inflight; x != NULL; x = x->next) {
		if (strcmp(x->id, id) == 0) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
	}
	f = xcalloc(1, sizeof(*f));
	f->id = xstrdup(id);
	f->token = token ? xstrdup(token) : NULL;
	f->cancel = cancel_new();
	pthread_mutex_init(&f->lock, NULL);
	f->started = f->last_sent = time_mono_ms();
	buf_init(&f->pending, PROGRESS_OUTPUT_MAX);
	f->next = s->inflight;
	s->inflight = f;
	pthread_mutex_unlock(&s->lock);
	return f;
}

static void
inflight_remove(struct server *s, struct inflight *f)
{
	struct inflight **pp;

	if (f == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	for (pp = &s->inflight; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	cancel_free(f->cancel);
	pthread_mutex_destroy(&f->lock);
	buf_fini(&f->pending);
	free(f->id);
	free(f->token);
	free(f);
}

static void
inflight_cancel(struct server *s, const char *id)
{
	struct inflight *f;

	pthread_mutex_lock(&s->lock);
	for (f = s->inflight; f != NULL; f = f->next) {
		if (id == NULL || strcmp(f->id, id) == 0) {
			pthread_mutex_lock(&f->lock);
			f->cancelled = true;
			pthread_mutex_unlock(&f->lock);
			cancel_fire(f->cancel);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* Progress ---------------------------------------------------------------------- */

/* Sends one notifications/progress; caller holds f->lock. */
static void
progress_send_locked(struct inflight *f, const char *msg, size_t len)
{
	struct buf b;
	struct jsonw w;

	if (f->token == NULL || f->done || f->cancelled)
		return;
	buf_init(&b, RESP_MAX);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "jsonrpc", "2.0");
	jsonw_kstr(&w, "method", "notifications/progress");
	jsonw_key(&w, "params");
	jsonw_obj_begin(&w);
	jsonw_key(&w, "progressToken");
	jsonw_raw(&w, f->token, strlen(f->token));
	jsonw_kint(&w, "progress", ++f->progress);
	if (msg != NULL)
		jsonw_kstrn(&w, "message", msg, len);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (jsonw_error(&w) == 0)
		rpc_send(b.p, b.len);
	buf_fini(&b);
	f->last_sent = time_mono_ms();
}

static void
progress_flush_locked(struct inflight *f)
{
	char note[64];

	if (f->pending.len == 0 && f->pending_dropped == 0)
		return;
	if (f->pending_dropped) {
		snprintf(note, sizeof(note), "\n[%zu bytes of output not shown]\n",
		    f->pending_dropped);
		buf_append(&f->pending, note, strlen(note), NULL);
	}
	progress_send_locked(f, f->pending.p, f->pending.len);
	buf_reset(&f->pending);
	f->pending_dropped = 0;
}

/* tool_ctx listener: live output becomes progress messages, at most one per interval. */
static void
progress_on_output(void *arg, enum tool_stream st, const char *p, size_t n)
{
	struct inflight *f = arg;
	size_t room;

	(void)st;
	pthread_mutex_lock(&f->lock);
	room = PROGRESS_OUTPUT_MAX - f->pending.len;
	if (n > room) {
		f->pending_dropped += n - room;
		n = room;
	}
	buf_append(&f->pending, p, n, NULL);
	if (time_mono_ms() - f->last_sent >= PROGRESS_MIN_INTERVAL_MS)
		progress_flush_locked(f);
	pthread_mutex_unlock(&f->lock);
}

static void
progress_on_message(void *arg, const char *message)
{
	struct inflight *f = arg;

	pthread_mutex_lock(&f->lock);
	progress_flush_locked(f);
	progress_send_locked(f, message, strlen(message));
	pthread_mutex_unlock(&f->lock);
}

/* Heartbeats: a call that asked for progress hears from us at least every 10 s, and
 * buffered output is flushed within PROGRESS_MIN_INTERVAL_MS even when the command goes
 * quiet, so clients that reset their timeout on progress keep waiting. */
static void *
server_ticker(void *arg)
{
	struct server *s = arg;
	struct inflight *f;
	char msg[64];
	int64_t now;
	char c;

	for (;;) {
		struct pollfd pfd = { .fd = s->ticker_pipe[0], .events = POLLIN };

		if (poll(&pfd, 1, 250) > 0 && read(s->ticker_pipe[0], &c, 1) >= 0)
			break;
		now = time_mono_ms();
		pthread_mutex_lock(&s->lock);
		for (f = s->inflight; f != NULL; f = f->next) {
			pthread_mutex_lock(&f->lock);
			if (f->pending.len && now - f->last_sent >= PROGRESS_MIN_INTERVAL_MS)
				progress_flush_locked(f);
			if (f->token != NULL && now - f->last_sent >= PROGRESS_HEARTBEAT_MS) {
				snprintf(msg, sizeof(msg), "still running (%llds)",
				    (long long)((now - f->started) / 1000));
				progress_send_locked(f, msg, strlen(msg));
			}
			pthread_mutex_unlock(&f->lock);
		}
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/* Logging --------------------------------------------------------------------------- */

/* log.h hook: after logging/setLevel, log lines at or above the level are also sent to
 * a legacy client as notifications/message (never to modern requests). */
static void
server_log_hook(enum log_level lvl, const char *module, const char *msg, void *arg)
{
	struct buf b;
	struct jsonw w;

	(void)arg;
	buf_init(&b, 64 * 1024);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "jsonrpc", "2.0");
	jsonw_kstr(&w, "method", "notifications/message");
	jsonw_key(&w, "params");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "level", log_level_name(lvl));
	jsonw_kstr(&w, "logger", module);
	jsonw_kstr(&w, "data", msg);
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	if (jsonw_error(&w) == 0)
		rpc_send(b.p, b.len);
	buf_fini(&b);
}

/* Helpers ----------------------------------------------------------------------------- */

static bool
version_known(const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(legacy_versions) / sizeof(legacy_versions[0]); i++)
		if (strcmp(v, legacy_versions[i]) == 0)
			return true;
	return false;
}

/* Protocol versions compare as strings (YYYY-MM-DD). */
static bool
version_at_least(const char *v, const char *min)
{
	return v != NULL && strcmp(v, min) >= 0;
}

/* The request id as JSON text, or NULL when it is not a string or an integer. */
static const char *
id_text(struct arena *a, const struct json *id)
{
	struct buf b;
	struct jsonw w;
	int64_t n;
	char *s;

	if (id->type == JSON_NUMBER)
		return json_int(id, &n) ? arena_printf(a, "%lld", (long long)n) : NULL;
	if (id->type != JSON_STRING)
		return NULL;
	buf_init(&b, 1024 * 1024);
	jsonw_init(&w, &b);
	jsonw_strn(&w, id->s, id->len);
	s = jsonw_error(&w) == 0 ? arena_strndup(a, b.p, b.len) : NULL;
	buf_fini(&b);
	return s;
}

static void
write_capabilities(struct jsonw *w, bool modern)
{
	jsonw_key(w, "capabilities");
	jsonw_obj_begin(w);
	jsonw_key(w, "tools");
	jsonw_obj_begin(w);
	jsonw_kbool(w, "listChanged", false);
	jsonw_obj_end(w);
	if (!modern) {
		jsonw_key(w, "logging");
		jsonw_obj_begin(w);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

static const char server_instructions[] =
    "Tools to run commands and manage files in isolated sandboxes. Every tool takes an "
    "optional sandbox_id; without it the session's default sandbox is used (created on "
    "first use). Use exec for commands (background: true plus process_output for long "
    "ones) and the file_* tools for files.";

/* Methods ----------------------------------------------------------------------------- */

static void
do_initialize(struct req *r)
{
	struct server *s = r->s;
	const char *want = json_get_str(r->params, "protocolVersion");
	const char *v = (want != NULL && version_known(want)) ? want : MCP_LEGACY_LATEST;
	struct buf b;
	struct jsonw w;

	if (want == NULL) {
		server_error(r, r->id, RPC_INVALID_PARAMS,
		    "initialize needs params.protocolVersion (a string such as \"2025-11-25\")",
		    NULL);
		return;
	}
	pthread_mutex_lock(&s->lock);
	snprintf(s->version, sizeof(s->version), "%s", v);
	pthread_mutex_unlock(&s->lock);
	server_result_begin(r, &b, &w);
	jsonw_kstr(&w, "protocolVersion", v);
	write_capabilities(&w, false);
	jsonw_key(&w, "serverInfo");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "name", MCP_NAME);
	if (version_at_least(v, "2025-06-18"))
		jsonw_kstr(&w, "title", "Sandbox MCP");
	jsonw_kstr(&w, "version", SANDBOX_MCP_VERSION);
	jsonw_obj_end(&w);
	jsonw_kstr(&w, "instructions", server_instructions);
	server_result_end(r, &b, &w);
	log_msg(LOG_INFO, "mcp", "client asked for protocol %s, speaking %s", want, v);
}

static void
do_discover(struct req *r)
{
	struct buf b;
	struct jsonw w;

	server_result_begin(r, &b, &w); /* r->modern: handle_msg checked the envelope */
	jsonw_key(&w, "supportedVersions");
	jsonw_arr_begin(&w);
	jsonw_str(&w, MCP_MODERN); /* legacy versions are negotiated through initialize */
	jsonw_arr_end(&w);
	write_capabilities(&w, true);
	jsonw_key(&w, "serverInfo");
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "name", MCP_NAME);
	jsonw_kstr(&w, "version", SANDBOX_MCP_VERSION);
	jsonw_obj_end(&w);
	jsonw_kstr(&w, "instructions", server_instructions);
	jsonw_kint(&w, "ttlMs", LIST_TTL_MS);
	jsonw_kstr(&w, "cacheScope", "public");
	server_result_end(r, &b, &w);
}

/* Cursors are "t<index>" of the first tool on the page. */
static int
str_to_size_cursor(const char *c, size_t *out)
{
	int64_t v;

	if (c[0] != 't' || !str_to_i64((struct str){ c + 1, strlen(c + 1) }, &v) || v < 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

static void
do_tools_list(struct req *r)
{
	struct server *s = r->s;
	const char *cursor = json_get_str(r->params, "cursor");
	size_t start = 0, n = registry_count(s->reg), i, end;
	bool modern_fields = r->modern || version_at_least(r->version, "2025-06-18");
	bool annotations = r->modern || version_at_least(r->version, "2025-03-26");
	struct buf b;
	struct jsonw w;

	if (r->params != NULL && json_get(r->params, "cursor") != NULL &&
	    (cursor == NULL || str_to_size_cursor(cursor, &start) != 0 || start >= n)) {
		server_error(r, r->id, RPC_INVALID_PARAMS,
		    "invalid cursor; pass the nextCursor of the previous tools/list page, or none",
		    NULL);
		return;
	}
	end = start + (size_t)s->page_size < n ? start + (size_t)s->page_size : n;
	server_result_begin(r, &b, &w);
	jsonw_key(&w, "tools");
	jsonw_arr_begin(&w);
	for (i = start; i < end; i++)
		registry_write_tool(s->reg, &w, i, modern_fields, annotations);
	jsonw_arr_end(&w);
	if (end < n)
		jsonw_key(&w, "nextCursor"), jsonw_str(&w, arena_printf(r->a, "t%zu", end));
	if (r->modern) {
		jsonw_kint(&w, "ttlMs", LIST_TTL_MS);
		jsonw_kstr(&w, "cacheScope", "public");
	}
	server_result_end(r, &b, &w);
}

static void
do_set_level(struct req *r)
{
	const char *lvl = json_get_str(r->params, "level");
	enum log_level l;

	if (lvl == NULL || log_level_parse(lvl, &l) != 0) {
		server_error(r, r->id, RPC_INVALID_PARAMS,
		    "unknown log level; use debug, info, notice, warning, error, critical, alert or emergency",
		    NULL);
		return;
	}
	log_set_hook(server_log_hook, r->s, l);
	server_empty_result(r);
}

/* tools/call ----------------------------------------------------------------------------- */

struct call_job {
	struct req r;
	const struct tool_def *d;
	const struct json *args;
};

static void
call_write_content(struct jsonw *w, const char *text, size_t len, const struct tool_ctx *ctx)
{
	jsonw_key(w, "content");
	jsonw_arr_begin(w);
	jsonw_obj_begin(w);
	jsonw_kstr(w, "type", "text");
	jsonw_kstrn(w, "text", text, len);
	jsonw_obj_end(w);
	if (ctx != NULL && ctx->image_b64 != NULL) {
		jsonw_obj_begin(w);
		jsonw_kstr(w, "type", "image");
		jsonw_kstr(w, "data", ctx->image_b64);
		jsonw_kstr(w, "mimeType", ctx->image_mime ? ctx->image_mime : "image/png");
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static void
call_run(void *arg)
{
	struct call_job *j = arg;
	struct req *r = &j->r;
	struct server *s = r->s;
	struct inflight *f = r->inf;
	struct err e = { 0 };
	struct buf sc, text, b;
	struct jsonw scw, w;
	struct tool_ctx ctx = { 0 };
	bool structured = r->modern || version_at_least(r->version, "2025-06-18");
	int rc;

	buf_init(&sc, RESP_MAX);
	buf_init(&text, RESP_MAX);
	jsonw_init(&scw, &sc);
	jsonw_obj_begin(&scw);
	ctx.a = r->a;
	ctx.cancel = f->cancel;
	ctx.args = j->args;
	ctx.t = s->t;
	if (f->token != NULL) {
		ctx.on_output = progress_on_output;
		ctx.on_progress = progress_on_message;
		ctx.listener = f;
	}
	ctx.out = &scw;
	ctx.text = &text;
	rc = registry_validate(s->reg, j->d, j->args, &e);
	if (rc == 0)
		rc = j->d->run(&ctx, &e);
	jsonw_obj_end(&scw);
	if (rc == 0 && jsonw_error(&scw) != 0) {
		rc = ERR_TOOBIG;
		err_set(&e, ERR_TOOBIG,
		    "the result of %s was too large to send; ask for less "
		    "(smaller limit or max_output_bytes)",
		    j->d->name);
	}
	pthread_mutex_lock(&f->lock);
	progress_flush_locked(f);
	pthread_mutex_unlock(&f->lock);

	server_result_begin(r, &b, &w);
	if (rc != 0) {
		if (e.msg[0] == '\0')
			err_set(&e, rc, "%s failed (%s)", j->d->name, err_name(rc));
		log_msg(LOG_INFO, "tools", "%s: %s", j->d->name, e.msg);
		call_write_content(&w, e.msg, strlen(e.msg), NULL);
		jsonw_kbool(&w, "isError", true);
	} else {
		if (text.len > 0)
			call_write_content(&w, text.p, text.len, &ctx);
		else
			call_write_content(&w, sc.p, sc.len, &ctx);
		if (structured) {
			jsonw_key(&w, "structuredContent");
			jsonw_raw(&w, sc.p, sc.len);
		}
		jsonw_kbool(&w, "isError", ctx.is_error);
	}
	buf_fini(&sc);
	buf_fini(&text);
	log_scrub(b.p);
	server_result_end(r, &b, &w);
	inflight_remove(s, f);
	arena_free(r->a);
	free(j);
}

static void
do_tools_call(struct req *r, bool sync)
{
	struct server *s = r->s;
	const char *name = json_get_str(r->params, "name");
	const struct json *args = json_get(r->params, "arguments");
	const struct json *meta = json_get(r->params, "_meta");
	const struct json *tok = json_get(meta, "progressToken");
	const struct tool_def *d;
	struct call_job *j;
	const char *tok_text = NULL;

	if (name == NULL) {
		server_error(r, r->id, RPC_INVALID_PARAMS,
		    "tools/call needs params.name, the tool to call", NULL);
		return;
	}
	d = strlen(name) == json_get(r->params, "name")->len ? registry_find(s->reg, name) : NULL;
	if (d == NULL) {
		server_error(r, r->id, RPC_INVALID_PARAMS,
		    arena_printf(r->a,
		        "unknown tool '%s'; tools/list shows the tools this server offers", name),
		    NULL);
		return;
	}
	if (args != NULL && args->type == JSON_NULL)
		args = NULL;
	if (args != NULL && args->type != JSON_OBJECT) {
		server_error(r, r->id, RPC_INVALID_PARAMS,
		    "tools/call params.arguments must be an object", NULL);
		return;
	}
	if (args == NULL)
		args = json_parse("{}", 2, r->a, NULL);
	if (tok != NULL && (tok->type == JSON_STRING || tok->type == JSON_NUMBER))
		tok_text = id_text(r->a, tok);
	r->inf = inflight_add(s, r->id, tok_text);
	if (r->inf == NULL) {
		server_error(r, r->id, RPC_INVALID_REQUEST,
		    "a request with this id is still running; use a new id for each request", NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->r = *r;
	j->d = d;
	j->args = args;
	if (sync || rpc_pool_submit(s->pool, call_run, j) != 0) {
		if (!sync)
			log_msg(LOG_WARN, "mcp",
			    "worker queue full; running %s on the reader thread", name);
		call_run(j);
	}
}

/* Dispatch ---------------------------------------------------------------------------- */

enum { KEEP_ARENA = 1 };

/* Handles one JSON-RPC message. Returns KEEP_ARENA when a job took over r->a. */
static int
handle_msg(struct server *s, struct arena *a, const struct json *msg, struct buf *batch)
{
	struct req r = { .s = s, .a = a, .msg = msg, .batch = batch };
	const struct json *jv, *idv, *meta, *pv, *caps;
	const char *m;

	if (msg->type != JSON_OBJECT) {
		server_error(&r, NULL, RPC_INVALID_REQUEST, "a JSON-RPC message must be an object",
		    NULL);
		return 0;
	}
	jv = json_get(msg, "jsonrpc");
	idv = json_get(msg, "id");
	m = json_get_str(msg, "method");
	if (idv != NULL) {
		r.id = id_text(a, idv);
		if (r.id == NULL) {
			server_error(&r, NULL, RPC_INVALID_REQUEST,
			    "the request id must be a string or an integer", NULL);
			return 0;
		}
	}
	if (m == NULL && (json_get(msg, "result") != NULL || json_get(msg, "error") != NULL))
		return 0; /* a response to a request we never send: ignore */
	if (jv == NULL || jv->type != JSON_STRING || strcmp(jv->s, "2.0") != 0 || m == NULL) {
		server_error(&r, r.id, RPC_INVALID_REQUEST,
		    "not a JSON-RPC 2.0 request: it needs \"jsonrpc\":\"2.0\" and a \"method\" string",
		    NULL);
		return 0;
	}
	if (strlen(m) != json_get(msg, "method")->len) {
		/* "ping\u0000x" must not run ping: names are compared as C strings. */
		server_error(&r, r.id, RPC_INVALID_REQUEST,
		    "the method name contains U+0000; send the method name alone", NULL);
		return 0;
	}
	r.method = m;
	r.params = json_get(msg, "params");
	if (r.params != NULL && r.params->type == JSON_NULL)
		r.params = NULL;
	if (r.params != NULL && r.params->type != JSON_OBJECT) {
		server_error(&r, r.id, RPC_INVALID_PARAMS, "params must be an object", NULL);
		return 0;
	}

	/* Notifications. */
	if (r.id == NULL) {
		if (strcmp(m, "notifications/cancelled") == 0) {
			const struct json *rid = json_get(r.params, "requestId");
			const char *t = rid ? id_text(a, rid) : NULL;

			if (t != NULL)
				inflight_cancel(s, t);
		} else if (strcmp(m, "notifications/initialized") == 0) {
			pthread_mutex_lock(&s->lock);
			s->initialized = true;
			pthread_mutex_unlock(&s->lock);
		}
		return 0; /* unknown notifications are ignored */
	}

	/* Which era: a request carrying the modern _meta is served statelessly. */
	meta = json_get(r.params, "_meta");
	pv = json_get(meta, "io.modelcontextprotocol/protocolVersion");
	if (pv != NULL) {
		if (pv->type != JSON_STRING || strcmp(pv->s, MCP_MODERN) != 0) {
			const char *req_v = pv->type == JSON_STRING ? pv->s : "";
			struct buf d;
			struct jsonw w;

			buf_init(&d, 4096);
			jsonw_init(&w, &d);
			jsonw_obj_begin(&w);
			jsonw_key(&w, "supported");
			jsonw_arr_begin(&w);
			jsonw_str(&w, MCP_MODERN);
			jsonw_arr_end(&w);
			jsonw_kstr(&w, "requested", req_v);
			jsonw_obj_end(&w);
			server_error(&r, r.id, RPC_UNSUPPORTED_VERSION,
			    arena_printf(a,
			        "unsupported protocol version '%s'; this server supports %s "
			        "per request, or 2024-11-05 to 2025-11-25 through initialize",
			        req_v, MCP_MODERN),
			    d.p);
			buf_fini(&d);
			return 0;
		}
		caps = json_get(meta, "io.modelcontextprotocol/clientCapabilities");
		if (caps == NULL || caps->type != JSON_OBJECT) {
			server_error(&r, r.id, RPC_INVALID_PARAMS,
			    "params._meta must carry io.modelcontextprotocol/clientCapabilities (an object) "
			    "with protocol version " MCP_MODERN,
			    NULL);
			return 0;
		}
		r.modern = true;
		r.version = MCP_MODERN;
		if (strcmp(m, "initialize") == 0 || strcmp(m, "ping") == 0 ||
		    strcmp(m, "logging/setLevel") == 0) {
			server_error(&r, r.id, RPC_METHOD_NOT_FOUND,
			    arena_printf(a, "method '%s' does not exist in protocol version %s", m,
			        MCP_MODERN),
			    NULL);
			return 0;
		}
	} else {
		if (strcmp(m, "server/discover") == 0) {
			/* A 2026-07-28 method: it always needs the per-request envelope. */
			server_error(&r, r.id, RPC_INVALID_PARAMS,
			    meta == NULL
			        ? "server/discover needs params._meta with io.modelcontextprotocol/protocolVersion "
			          "\"" MCP_MODERN
			          "\" and io.modelcontextprotocol/clientCapabilities"
			        : "params._meta must carry io.modelcontextprotocol/protocolVersion (\"" MCP_MODERN
			          "\")",
			    NULL);
			return 0;
		}
		pthread_mutex_lock(&s->lock);
		r.version = s->version[0] ? arena_strdup(a, s->version) : NULL;
		pthread_mutex_unlock(&s->lock);
		if (r.version == NULL && strcmp(m, "initialize") != 0 && strcmp(m, "ping") != 0) {
			server_error(&r, r.id, RPC_INVALID_PARAMS,
			    "call initialize first, or send params._meta with "
			    "io.modelcontextprotocol/protocolVersion \"" MCP_MODERN
			    "\" and clientCapabilities",
			    NULL);
			return 0;
		}
	}

	if (strcmp(m, "initialize") == 0)
		do_initialize(&r);
	else if (strcmp(m, "ping") == 0)
		server_empty_result(&r);
	else if (strcmp(m, "server/discover") == 0)
		do_discover(&r);
	else if (strcmp(m, "tools/list") == 0)
		do_tools_list(&r);
	else if (strcmp(m, "logging/setLevel") == 0)
		do_set_level(&r);
	else if (strcmp(m, "tools/call") == 0) {
		do_tools_call(&r, batch != NULL);
		return r.inf != NULL && batch == NULL ? KEEP_ARENA : 0;
	} else
		server_error(&r, r.id, RPC_METHOD_NOT_FOUND,
		    arena_printf(a, "method '%s' is not supported by this server", m), NULL);
	return 0;
}

/* A message with a duplicate member name (or U+0000 in one) is refused whole: parsers
 * disagree on which duplicate counts (we would take the first, most gateways the last),
 * so acting on any part of it could do what the client's own checks never saw. The reply
 * carries the id only when the message is one object whose id is unique and readable. */
static void
server_names_error(const struct json *msg, struct arena *a, const struct err *e)
{
	const struct json *idv = NULL, *c;
	const char *id = NULL;
	int ids = 0;

	for (c = msg->type == JSON_OBJECT ? msg->head : NULL; c != NULL; c = c->next) {
		if (c->key_len == 2 && memcmp(c->key, "id", 2) == 0) {
			idv = c;
			ids++;
		}
	}
	if (ids == 1)
		id = id_text(a, idv);
	if (e->code == ERR_TOOBIG) {
		server_error(NULL, id, RPC_INVALID_REQUEST,
		    "invalid request: the message is too "
		    "large to check its member names",
		    NULL);
		return;
	}
	server_error(NULL, id, RPC_INVALID_REQUEST,
	    arena_printf(a, "invalid request: %s; %s", e->msg,
	        strstr(e->msg, "duplicate") != NULL ? "send each member once, so that every "
	                                              "JSON parser reads the same request"
	                                            : "member names cannot hold it"),
	    NULL);
}

static bool
blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

static void
handle_line(struct server *s, const char *line, size_t len)
{
	struct arena *a;
	struct err e = { 0 };
	struct json *msg;
	char *copy;

	if (blank(line, len))
		return;
	a = arena_new(REQ_ARENA_MAX);
	copy = arena_strndup(a, line, len);
	msg = copy ? json_parse(copy, len, a, &e) : NULL;
	if (msg == NULL) {
		server_error(NULL, NULL, RPC_PARSE_ERROR,
		    copy ? arena_printf(a, "parse error: %s", e.msg)
		         : "parse error: message too large",
		    NULL);
		arena_free(a);
		return;
	}
	if (json_check_names(msg, a, &e) != 0) {
		server_names_error(msg, a, &e);
		arena_free(a);
		return;
	}
	if (msg->type == JSON_ARRAY) {
		struct buf out;
		bool batches;

		pthread_mutex_lock(&s->lock);
		batches = strcmp(s->version, "2025-03-26") == 0;
		pthread_mutex_unlock(&s->lock);
		if (!batches || msg->count == 0) {
			server_error(NULL, NULL, RPC_INVALID_REQUEST,
			    msg->count == 0
			        ? "an empty batch is not a valid request"
			        : "JSON-RPC batches are only allowed in protocol version 2025-03-26",
			    NULL);
			arena_free(a);
			return;
		}
		buf_init(&out, RESP_MAX);
		buf_putc(&out, '[', NULL);
		for (const struct json *x = msg->head; x != NULL; x = x->next)
			handle_msg(s, a, x, &out);
		if (out.len > 1) {
			buf_putc(&out, ']', NULL);
			rpc_send(out.p, out.len);
		}
		buf_fini(&out);
		arena_free(a);
		return;
	}
	if (handle_msg(s, a, msg, NULL) != KEEP_ARENA)
		arena_free(a);
}

/* Run ----------------------------------------------------------------------------------- */

static int sig_pipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* nothing to do: the pipe is full, so a wakeup is already pending */
	}
	errno = saved;
}

static void *
shutdown_watchdog(void *arg)
{
	(void)arg;
	usleep(SHUTDOWN_GRACE_MS * 1000);
	log_msg(LOG_ERROR, "mcp", "calls did not stop within %d s of shutdown; exiting anyway",
	    SHUTDOWN_GRACE_MS / 1000);
	_exit(1);
	return NULL;
}

int
server_run(const struct config *cfg, struct tools *t, int in_fd, int out_fd)
{
	struct server s = { .cfg = cfg, .t = t };
	struct rpc_reader rd;
	struct err e = { 0 };
	struct sigaction sa = { 0 };
	const char *ps = getenv("SANDBOX_MCP_PAGE_SIZE");
	enum rpc_read_status st;
	pthread_t wd;
	const char *line;
	size_t len;

	s.reg = registry_new(cfg->tools, t, &e);
	if (s.reg == NULL) {
		log_msg(LOG_ERROR, "mcp", "%s", e.msg);
		return 2;
	}
	s.page_size = ps != NULL && atoi(ps) > 0 ? atoi(ps) : TOOLS_PAGE_DEFAULT;
	pthread_mutex_init(&s.lock, NULL);
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || pipe2(s.ticker_pipe, O_CLOEXEC) != 0) {
		log_msg(LOG_ERROR, "mcp", "cannot create a pipe: %s", strerror(errno));
		registry_free(s.reg);
		return 1;
	}
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rpc_out_init(out_fd);
	s.pool = rpc_pool_new(RPC_WORKERS_MAX);
	s.ticker_started = pthread_create(&s.ticker, NULL, server_ticker, &s) == 0;
	log_msg(LOG_INFO, "mcp", "ready on stdio with %zu tools (backend %s)",
	    registry_count(s.reg), tools_backend_ops(t)->name);

	rpc_reader_init(&rd, in_fd, sig_pipe[0]);
	for (;;) {
		st = rpc_reader_next(&rd, &line, &len);
		if (st == RPC_LINE)
			handle_line(&s, line, len);
		else if (st == RPC_LINE_TOOLONG)
			server_error(NULL, NULL, RPC_PARSE_ERROR,
			    "message longer than the 16 MiB line limit was skipped", NULL);
		else
			break;
	}
	if (st == RPC_WAKE)
		log_msg(LOG_INFO, "mcp", "signal received; stopping");
	else if (st == RPC_READ_ERROR)
		log_msg(LOG_WARN, "mcp", "reading stdin failed; stopping");

	/* On EOF, calls already sent still get their answers for a short grace (so
	 * `printf ... | sandbox-mcp` works); on a signal, and after the grace, they are
	 * cancelled. Then wait for the workers and free the session. */
	if (st == RPC_EOF) {
		int64_t until = deadline_in_ms(EOF_GRACE_MS);

		for (;;) {
			bool idle;

			pthread_mutex_lock(&s.lock);
			idle = s.inflight == NULL;
			pthread_mutex_unlock(&s.lock);
			if (idle || deadline_passed(until))
				break;
			usleep(10 * 1000);
		}
	}
	pthread_mutex_lock(&s.lock);
	s.stopping = true;
	pthread_mutex_unlock(&s.lock);
	if (pthread_create(&wd, NULL, shutdown_watchdog, NULL) == 0)
		pthread_detach(wd);
	inflight_cancel(&s, NULL);
	rpc_pool_free(s.pool);
	log_set_hook(NULL, NULL, LOG__MAX);
	if (s.ticker_started) {
		char c = 'q';

		if (write(s.ticker_pipe[1], &c, 1) == 1)
			pthread_join(s.ticker, NULL);
	}
	rpc_reader_fini(&rd);
	registry_free(s.reg);
	close(s.ticker_pipe[0]);
	close(s.ticker_pipe[1]);
	pthread_mutex_destroy(&s.lock);
	return 0;
}
