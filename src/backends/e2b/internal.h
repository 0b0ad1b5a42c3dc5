/*
 * internal.h -- the E2B / OpenKruise backend's private contracts; only src/backends/e2b/
 * includes it (backends/e2b.h is what the rest of the program sees). Its files:
 *   cache.c      what we know about each sandbox: its envd token, the policy we set
 *   api.c        the management API (sandbox-manager): its requests over the core's
 *                backends/common/rest.h, kruise's words for 404 and 405, Sandbox objects
 *                to sb_info
 *   routing.c    which URL reaches a sandbox's port (native, private, explicit URL,
 *                header mode) and the envd target of a sandbox; the url op
 *   lifecycle.c  create, list, info, kill, pause, resume, set_timeout, metrics
 *   exec.c       exec (foreground over a Start stream, background through envd/)
 *   process.c    background processes: list, output, stdin, kill
 *   files.c      the file ops over envd's filesystem service and /files
 *   network.c    the egress policy (E2B's allowOut / denyOut / allow_internet_access)
 *   backend.c    the ops tables, the constructor, and --k8s (the Sandbox lookup)
 *   envd/        the client of envd, the agent inside each sandbox (envd/envd.h)
 *
 * Owns:    struct backend and its cache (freed by the free op in backend.c).
 * Borrows: as backends/backend.h: outputs go to the call's arena.
 * Errors:  as backends/backend.h; management API failures are phrased by the core
 *          (backends/common/rest.h: one sentence per status, bad JSON ERR_PROTO), which
 *          e2b_mg_do() calls and rewords for a missing sandbox, route or method.
 * Threads: any op from any thread; b->mu guards the sandbox cache (cache.c locks it
 *          itself, network.c takes it to read a sandbox's policy).
 */
#ifndef BACKENDS_E2B_INTERNAL_H
#define BACKENDS_E2B_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/common/rest.h"
#include "backends/e2b.h"
#include "backends/e2b/envd/envd.h"
#include "json/json.h"
#include "json/jsonw.h"
#include "net/http.h"
#include "util/buf.h"

enum routing { R_NATIVE, R_PRIVATE };

/* What we know about one sandbox: its envd token and the policy we created it with. */
struct sbx {
	struct sbx *next;
	char *id;
	char *token; /* NULL: not known yet; "": the sandbox has none */
	bool has_net;
	int net_default; /* -1 unset, 0 deny, 1 allow */
	char **allow, **deny;
	size_t nallow, ndeny;
};

struct backend {
	struct http_client *http;
	char *api_key;
	char *api_base; /* NULL in runtime-direct mode */
	char *scheme;
	char *domain;
	enum routing routing;
	bool routing_explicit; /* --routing / PROTOCOL given */
	char *sandbox_url;     /* explicit envd base, or NULL */
	bool runtime_direct;
	char *default_id; /* --sandbox or --k8s */
	char *default_token;
	char *user;
	int envd_port; /* RuntimePort: 49983 unless configured */
	char *template_name;
	struct http_header *extra;
	size_t nextra;
	int64_t timeout_ms;
	pthread_mutex_t mu;
	struct sbx *sbxs;
	struct envd_procs *procs;
};

/* cache.c ---------------------------------------------------------------------------------- */

/* The entry of id, created when create is set (else NULL when unknown). Called locked. */
struct sbx *e2b_sbx_get(struct backend *b, const char *id, bool create);
void e2b_sbx_free(struct sbx *s);
/* Drops what we know about id (it was killed). */
void e2b_sbx_forget(struct backend *b, const char *id);
/* Remembers id's envd token (NULL: it has none) and registers it as a log secret. */
void e2b_token_remember(struct backend *b, const char *id, const char *token);
/* The token in the arena: "" when the sandbox has none, NULL when unknown. */
const char *e2b_token_lookup(struct backend *b, const char *id, struct arena *a);
/* Remembers the policy id was given (np NULL: none). */
void e2b_net_remember(struct backend *b, const char *id, const struct net_policy *np);

/* api.c ------------------------------------------------------------------------------------ */

/* ERR_UNSUPPORTED: `what` needs the management API, which runtime-direct mode has not. */
int e2b_no_api(const struct backend *b, const char *what, struct err *e);
/* One management request through rest_json(): JSON body (or none) in, parsed JSON out,
 * bounded by b->timeout_ms. A non-2xx status becomes the core's sentence about `what`;
 * a 404 becomes "sandbox ID does not exist" (ERR_NOTFOUND) when id names the sandbox,
 * else "no such route" (ERR_BACKEND). out->status is set whenever an answer arrived,
 * also on error (e2b_pause takes a 409 as success); the next-page token is
 * rest_header(out, "x-next-token"). */
int e2b_mg_do(struct backend *b, const char *method, const char *path, const struct buf *body,
    const char *what, const char *id, struct rest_answer *out, struct call *c, struct err *e);
/* "/sandboxes/<id escaped><suffix>" in the arena. */
const char *e2b_sbx_path(const char *id, const char *suffix, struct arena *a);
/* A Sandbox object (BRIEF §3) -> sb_info; remembers its envd token. */
int e2b_sb_from_json(struct backend *b, const struct json *j, struct sb_info *out, struct arena *a,
    struct err *e);
/* "key": [v...] */
void e2b_jsonw_strs(struct jsonw *w, const char *key, const char **v, size_t n);

/* routing.c -------------------------------------------------------------------------------- */

/* The envd of sandbox id (NULL or "": the session's default), with its token (looked up
 * once through the API when needed). */
int e2b_target_for(struct backend *b, const char *id, struct envd_target *t, struct call *c,
    struct err *e);

/* The ops (backends/backend.h), by file ---------------------------------------------------- */

int e2b_url(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
    struct err *e);

int e2b_create(struct backend *b, const struct sb_create *req, struct sb_info *out, struct call *c,
    struct err *e);
int e2b_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out, struct call *c,
    struct err *e);
int e2b_info(struct backend *b, const char *id, struct sb_info *out, struct call *c, struct err *e);
int e2b_kill(struct backend *b, const char *id, struct call *c, struct err *e);
int e2b_pause(struct backend *b, const char *id, struct call *c, struct err *e);
int e2b_resume(struct backend *b, const char *id, struct call *c, struct err *e);
int e2b_set_timeout(struct backend *b, const char *id, int64_t timeout_s, int64_t *expires_at,
    struct call *c, struct err *e);
int e2b_metrics(struct backend *b, const char *id, struct sb_metrics *out, struct call *c,
    struct err *e);

int e2b_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn,
    void *arg, struct exec_result *res, struct call *c, struct err *e);

int e2b_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n,
    struct call *c, struct err *e);
int e2b_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c, struct err *e);
int e2b_proc_stdin(struct backend *b, const char *id, const char *pid, const char *data, size_t len,
    bool close_stdin, struct call *c, struct err *e);
int e2b_proc_kill(struct backend *b, const char *id, const char *pid, int signo, struct call *c,
    struct err *e);

int e2b_file_read(struct backend *b, const char *id, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e);
int e2b_file_write(struct backend *b, const char *id, const char *path, const void *data,
    size_t len, uint32_t mode, struct call *c, struct err *e);
int e2b_file_list(struct backend *b, const char *id, const char *path, int depth,
    struct file_list *out, struct call *c, struct err *e);
int e2b_file_stat(struct backend *b, const char *id, const char *path, struct file_entry *out,
    struct call *c, struct err *e);
int e2b_file_mkdir(struct backend *b, const char *id, const char *path, bool *created,
    struct call *c, struct err *e);
int e2b_file_move(struct backend *b, const char *id, const char *src, const char *dst,
    struct call *c, struct err *e);
int e2b_file_remove(struct backend *b, const char *id, const char *path, bool *removed,
    struct call *c, struct err *e);
int e2b_file_search(struct backend *b, const char *id, const char *path, const char *pattern,
    struct file_search *out, struct call *c, struct err *e);

/* policy_check() with E2B's rule: kruise refuses deny rules that are not IPs or CIDRs
 * (400), so they are ERR_UNSUPPORTED here first. */
int e2b_net_check(const struct net_policy *np, struct err *e);
int e2b_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c,
    struct err *e);
int e2b_net_set(struct backend *b, const char *id, const struct net_policy *req, bool replace,
    struct net_policy *out, struct call *c, struct err *e);

#endif
