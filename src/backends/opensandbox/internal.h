/*
 * internal.h -- the OpenSandbox backend's private contracts; only src/backends/opensandbox/
 * includes it. backends/backend.h over Alibaba OpenSandbox: the lifecycle REST API
 * (sandboxes), execd inside each sandbox (commands, code, files, metrics) and the egress
 * sidecar (network policy). BRIEF.md beside the specs is the wire truth; section numbers
 * ("§3.2") point into it. The sections below run bottom-up, a file using only the
 * sections above its own, and all on the shared core of the remote backends
 * (backends/common/: rest, policy, search, wait, time), which does the generic part:
 *   rest        requests to the three services (their headers and time limits; the core
 *               sends them and words their errors), URLs and JSON bodies
 *   endpoint    execd and egress endpoints: resolved through the lifecycle API, cached
 *   lifecycle   the sandbox ops (create, list, info, kill, pause, resume, renew, url,
 *               metrics)
 *   exec        execd's event streams, exec, and stopping a command or a context
 *   code        run_code and code contexts
 *   process     the background commands this process started
 *   files       the file ops over execd's files API
 *   network     the egress sidecar's policy
 *   backend     the ops table and the constructor (the top)
 *
 * Owns:    struct backend (one per handle, freed by the ops table's free): the HTTP client,
 *          the endpoint cache and the list of background commands, both under b->mu.
 * Borrows: everything a call makes lives in the call's arena c->a and dies with it.
 * Errors:  int-returning calls give 0 or an ERR_* code with one sentence in *e (first error
 *          wins); functions returning pointers give NULL with e set unless they say
 *          otherwise. A non-success status is worded by rest_status_err() (rest.h) with
 *          the service as the peer (os_peers). Sentences never carry the API key.
 * Waits:   every request is bounded by the call's deadline and at most --timeout-s
 *          (rest_deadline() with timeout_ms = --timeout-s), unless it says otherwise;
 *          cleanup requests are not cancellable and get OS_CLEANUP_MS (rest.c). Sleeps
 *          and polls are wait.h's, so a cancel or the deadline ends them.
 * Threads: any thread; b->mu guards b->eps and b->bgs, and nothing else is shared.
 *
 * The choices made against the platform (where it differs from its spec) are noted at the
 * top of the files they concern: credentials (rest.c), the default scheme (backend.c),
 * exit codes, stdin and the shell (exec.c), code contexts (code.c), process_list
 * (process.c) and file modes (files.c).
 */
#ifndef BACKENDS_OPENSANDBOX_INTERNAL_H
#define BACKENDS_OPENSANDBOX_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/common/rest.h"
#include "backends/opensandbox.h"
#include "json/json.h"
#include "json/jsonw.h"
#include "net/http.h"
#include "net/stream.h"
#include "net/url.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

#define OS_ERR_BODY_MAX (64u << 10) /* what we keep of an error body */

enum os_svc { OS_LC, OS_EXECD, OS_EGRESS };

/* A resolved endpoint (§2.6): base URL with scheme and path prefix, and the headers to
 * send with every request to it. Heap, owned by the cache; copied out to callers. */
struct os_ep {
	struct os_ep *next;
	char *id;
	int port;
	char *base;
	struct http_header *h;
	size_t nh;
	int64_t at;
};

struct os_bg {
	struct os_bg *next;
	char *sid, *pid, *command;
};

struct backend {
	struct http_client *http;
	char *lc_base; /* scheme://domain/v1, or --api-url */
	char *scheme;  /* for endpoints without one */
	char *api_key;
	char *access_token;
	bool use_proxy;
	int timeout_ms;
	struct http_header extra[CONFIG_HEADERS_MAX];
	size_t nextra;
	pthread_mutex_t mu;
	struct os_ep *eps;
	struct os_bg *bgs;
	size_t nbg;
};

/* An endpoint copied into the call's arena. */
struct ep {
	const char *base;
	const struct http_header *h;
	size_t nh;
};

/* A counter for request ids, multipart boundaries and temporary names. */
extern atomic_uint os_seq;

/* ---- rest.c: requests, URLs, JSON bodies (the rest is backends/common/rest.h) -------- */

struct os_rq {
	const char *method;
	const char *url;
	enum os_svc svc;
	const struct ep *ep; /* execd / egress: its headers */
	const char *ctype;   /* NULL: application/json (for a body) */
	const void *body;
	size_t len;
	http_producer_fn producer;
	void *producer_arg;
	const char *range;
	http_body_fn on_body;
	void *arg;
	size_t body_max;    /* 0: REST_BODY_MAX */
	int64_t deadline;   /* 0: the call's, capped by --timeout-s and timeout_ms */
	int64_t timeout_ms; /* a cap below --timeout-s; 0: none */
	int idle_ms;
	bool cleanup; /* not cancellable: runs after a cancel, OS_CLEANUP_MS */
};

#define OOM(e) err_set((e), ERR_TOOBIG, "the request does not fit in memory")

/* Who answers, for the core's sentences, by enum os_svc: the lifecycle server (401: set
 * the API key), execd (401: set --access-token) and the egress sidecar. */
extern const struct rest_peer os_peers[];

/* One request with the service's headers, sent by rest_send(): rs is filled (release it
 * with http_response_fini) whatever the result; a transport error starts with `what`. */
int os_do(struct backend *b, struct call *c, const struct os_rq *r, const char *what,
    struct http_response *rs, struct err *e);
/* One request with a JSON (or empty) answer, read by rest_json(): ok_status 0 accepts any
 * 2xx. *out gets the parsed body (NULL when empty or on error); *status, when non-NULL,
 * the status whenever an answer arrived (also on error), else 0. */
int os_json(struct backend *b, struct call *c, const struct os_rq *r, int ok_status,
    const char *what, const struct json **out, int *status, struct err *e);
/* Lifecycle URL: base + path (path already encoded). NULL when it does not fit. */
char *os_lc_url(struct backend *b, struct call *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* s percent-encoded for one URL part, in the arena; NULL when it does not fit. */
const char *os_pct(struct call *c, const char *s, enum url_part part);
/* Finishes a JSON body built with jsonw into the arena (bf is released either way). */
const char *os_jsonw_done(struct jsonw *w, struct buf *bf, struct call *c, size_t *len,
    struct err *e);

#define seg(c, s) os_pct((c), (s), URL_PART_SEGMENT) /* a path segment */
#define qv(c, s)  os_pct((c), (s), URL_PART_QUERY)   /* a query value */

/* ---- endpoint.c: execd and egress endpoints ------------------------------------------ */

/* Frees one cache entry (NULL: nothing). */
void os_ep_free(struct os_ep *p);
/* Drops cached endpoints of a sandbox (port 0: all of its ports). */
void os_ep_forget(struct backend *b, const char *id, int port);
/* GET /sandboxes/{id}/endpoints/{port}: the base URL (scheme added when the endpoint has
 * none) and the headers to send. Not cached; see os_endpoint(). */
int os_resolve(struct backend *b, struct call *c, const char *id, int port, bool server_proxy,
    struct ep *out, struct err *e);
/* The endpoint of execd or egress for a sandbox, from the cache or resolved. */
int os_endpoint(struct backend *b, struct call *c, const char *id, int port, struct ep *out,
    struct err *e);
/* URL of an execd/egress path under an endpoint; NULL with e set. */
const char *os_ep_url(struct backend *b, struct call *c, const struct ep *ep, const char *path,
    struct err *e);
/* os_ep_url of a printf-formatted path. */
const char *os_execd_url(struct backend *b, struct call *c, const struct ep *ep, struct err *e,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- lifecycle.c: the sandbox ops ---------------------------------------------------- */

/* execd of a paused sandbox hangs or answers 502/504 (the container is frozen): after a
 * failed execd request, when the sandbox is not running, a sentence that says so and what
 * to do; otherwise rc with e unchanged. */
int os_paused_hint(struct backend *b, struct call *c, const char *id, int rc, struct err *e);

int os_create(struct backend *b, const struct sb_create *req, struct sb_info *out, struct call *c,
    struct err *e);
int os_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out, struct call *c,
    struct err *e);
int os_info(struct backend *b, const char *id, struct sb_info *out, struct call *c, struct err *e);
int os_kill(struct backend *b, const char *id, struct call *c, struct err *e);
int os_pause(struct backend *b, const char *id, struct call *c, struct err *e);
int os_resume(struct backend *b, const char *id, struct call *c, struct err *e);
int os_set_timeout(struct backend *b, const char *id, int64_t timeout_s, int64_t *expires_at,
    struct call *c, struct err *e);
int os_url(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
    struct err *e);
int os_metrics(struct backend *b, const char *id, struct sb_metrics *out, struct call *c,
    struct err *e);

/* ---- exec.c: execd streams (§0.3-§0.7, §3.2, §3.4) ----------------------------------- */

enum os_mode { MODE_CMD, MODE_CODE };

/* One POST /command or /code and its event stream. */
struct os_stream {
	struct call *c;
	struct http_response *rs;
	struct stream_dec dec;
	struct arena *scratch;
	enum os_mode mode;
	bool background;
	exec_event_fn fn;
	void *arg;
	char id[128]; /* init text: command id or context id */
	bool have_id, done, ok, stopped;
	const char *ename, *evalue; /* in c->a */
	struct buf tb;              /* traceback lines */
	struct buf errbody;         /* a non-200 body */
	struct buf line;
	struct code_result *cr;
	struct kv *res;
	size_t nres, capres;
};

/* What GET /command/status/{id} says. */
struct cmd_status {
	bool running, has_exit;
	int exit_code;
	const char *error;
	const char *content;
};

/* Events go to fn(arg); os_st_fini releases what os_st_init made. */
void os_st_init(struct os_stream *st, struct call *c, enum os_mode mode, exec_event_fn fn,
    void *arg);
void os_st_fini(struct os_stream *st);
/* POSTs body and decodes the stream until its final event, by `deadline` (0: a plain
 * request's). *http_status gets a non-200 status (already mapped into e), or 0. */
int os_st_run(struct backend *b, struct call *c, struct os_stream *st, const struct ep *ep,
    const char *url, const char *body, size_t len, int64_t deadline, const char *what,
    int *http_status, struct err *e);
/* DELETE /command?id= or /code?id= (§3.2): stops a command or interrupts a context. A
 * cleanup call is not cancellable; "not running" then counts as done. */
int os_interrupt(struct backend *b, struct call *c, const struct ep *ep, const char *route,
    const char *cid, bool cleanup, struct err *e);
/* GET /command/status/{id} (§3.2). */
int os_cmd_status(struct backend *b, struct call *c, const struct ep *ep, const char *cid,
    struct cmd_status *out, struct err *e);

int os_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn,
    void *arg, struct exec_result *res, struct call *c, struct err *e);

/* ---- code.c: run_code and code contexts (§3.4) --------------------------------------- */

int os_run_code(struct backend *b, const char *id, const struct code_req *req, exec_event_fn fn,
    void *arg, struct code_result *out, struct call *c, struct err *e);
int os_code_ctx_create(struct backend *b, const char *id, const char *language, const char *cwd,
    struct code_ctx *out, struct call *c, struct err *e);
int os_code_ctx_list(struct backend *b, const char *id, const char *language, struct code_ctx **out,
    size_t *n, struct call *c, struct err *e);
int os_code_ctx_delete(struct backend *b, const char *id, const char *ctx_id, struct call *c,
    struct err *e);

/* ---- process.c: background commands (§0.8, §3.2) ------------------------------------- */

/* Remembers a background command this process started (the last OS_BG_MAX of them). */
void os_bg_add(struct backend *b, const char *sid, const char *pid, const char *command);

int os_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n,
    struct call *c, struct err *e);
int os_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c, struct err *e);
int os_proc_kill(struct backend *b, const char *id, const char *pid, int signo, struct call *c,
    struct err *e);

/* ---- files.c: files (§3.5) ----------------------------------------------------------- */

/* POST /files/upload (§0.9): a metadata part that is a file part, then the file. */
int os_upload(struct backend *b, struct call *c, const struct ep *ep, const char *path,
    const void *data, size_t len, uint32_t mode, struct err *e);

int os_file_read(struct backend *b, const char *id, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e);
int os_file_write(struct backend *b, const char *id, const char *path, const void *data, size_t len,
    uint32_t mode, struct call *c, struct err *e);
int os_file_list(struct backend *b, const char *id, const char *path, int depth,
    struct file_list *out, struct call *c, struct err *e);
int os_file_stat(struct backend *b, const char *id, const char *path, struct file_entry *out,
    struct call *c, struct err *e);
int os_file_mkdir(struct backend *b, const char *id, const char *path, bool *created,
    struct call *c, struct err *e);
int os_file_move(struct backend *b, const char *id, const char *src, const char *dst,
    struct call *c, struct err *e);
int os_file_remove(struct backend *b, const char *id, const char *path, bool *removed,
    struct call *c, struct err *e);
int os_file_search(struct backend *b, const char *id, const char *path, const char *pattern,
    struct file_search *out, struct call *c, struct err *e);

/* ---- network.c: the egress sidecar (§4) ---------------------------------------------- */

/* The "egress" rules of a policy, deny first (rules are first-match). */
void os_write_rules(struct jsonw *w, const struct net_policy *np);

int os_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c,
    struct err *e);
int os_net_set(struct backend *b, const char *id, const struct net_policy *req, bool replace,
    struct net_policy *out, struct call *c, struct err *e);

#endif
