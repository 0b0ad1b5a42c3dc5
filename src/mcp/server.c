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
#include "util/time.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REQ_ARENA_MAX (256u * 1024 * 1024)
#define RESP_MAX (12u * 1024 * 1024)
#define PROGRESS_HEARTBEAT_MS 10000
#define PROGRESS_OUTPUT_MAX 4096
#define PROGRESS_MIN_INTERVAL_MS 100
#define TOOLS_PAGE_DEFAULT 100
#define SHUTDOWN_GRACE_MS 15000
#define LIST_TTL_MS 3600000

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
	char *id;			/* the id as JSON text */
	char *token;			/* progressToken as JSON text, or NULL */
	struct cancel *cancel;
	pthread_mutex_t lock;		/* orders progress before the response */
	bool done, cancelled;
	int64_t progress;		/* last progress value sent */
	int64_t started, last_sent;
	struct buf pending;		/* output not yet sent as progress */
	size_t pending_dropped;
};

struct server {
	const struct config *cfg;
	struct tools *t;
	struct registry *reg;
	struct rpc_pool *pool;
	pthread_mutex_t lock;		/* guards the fields below */
	struct inflight *inflight;
	char version[16];		/* negotiated legacy version, "" before initialize */
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
	const char *id;			/* JSON text, NULL for notifications */
	const char *method;
	const struct json *params;
	bool modern;
	const char *version;		/* protocol version in force for this request */
	struct inflight *inf;
	struct buf *batch;		/* non-NULL: append the response here instead of sending */
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

/* Sends {"jsonrpc":"2.0","id":ID,"error":{...}}; a NULL id omits the member. */
static void
server_error(struct req *r, const char *id, int code, const char *msg, const char *data_json)
{
	struct buf b;
	struct jsonw w;

	if (r != NULL && r->id == NULL && id == NULL && code != RPC_PARSE_ERROR &&
	    code != RPC_INVALID_REQUEST)
		return;	/* notifications never get replies */
	buf_init(&b, RESP_MAX);
	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kstr(&w, "jsonrpc", "2.0");
	if (id != NULL) {
		jsonw_key(&w, "id");
		jsonw_raw(&w, id, strlen(id));
	}
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
		snprintf(note, sizeof(note), "\n[%zu bytes of output not shown]\n", f->pending_dropped);
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
		struct pollfd_wrap { int fd; short events, revents; } pfd = { s->ticker_pipe[0], 1, 0 };

		if (poll((void *)&pfd, 1, 250) > 0 && read(s->ticker_pipe[0], &c, 1) >= 0)
			break;
		now = time_mono_ms();
		pthread_mutex_lock(&s->lock);
		for (f = s->inflight; f != NULL; f = f->next) {
			pthread_mutex_lock(&f->lock);
			if (f->pending.len && now - f->last_sent >= PROGRESS_MIN_INTERVAL_MS)
				progress_flush_locked(f);
			if (f->token && now - f->last_sent >= PROGRESS_HEARTBEAT_MS) {
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
