/*
 * backend.h -- the one interface the tools call; every backend implements it.
 *
 * Tools (src/tools/) see only this header: plain C structs, no JSON, no HTTP, no protobuf.
 * A backend is a struct backend_ops table plus its own opaque state. An op left NULL means
 * the backend cannot do it: the tool registry then leaves the tool out of tools/list.
 *
 * Owns:    the backend owns its state; backend_free() releases it (and, for local, any
 *          sandboxes it must clean up is NOT implied: sandboxes outlive the process unless
 *          the caller kills them).
 * Borrows: every output string and array is allocated from call->a (the request arena)
 *          unless a field says otherwise; it dies with the request.
 * Errors:  ops return 0 or an ERR_* code with one sentence in e, already phrased for the
 *          agent ("sandbox sbx-12 does not exist; list sandboxes with sandbox_list").
 *          ERR_NOTFOUND for unknown sandboxes/files/processes, ERR_UNSUPPORTED for what the
 *          backend cannot do, ERR_CANCELLED/ERR_TIMEOUT when call->cancel/deadline ended it.
 * Waits:   every op returns by call->deadline and as soon as call->cancel fires; an exec
 *          that is cancelled or times out kills its process (group) before returning.
 * Threads: ops are called concurrently from worker threads, also on the same sandbox;
 *          each backend does its own locking.
 */
#ifndef BACKENDS_BACKEND_H
#define BACKENDS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "util/err.h"
#include "util/time.h"

struct backend; /* a backend's private state */

/* What every op gets: the request's arena, its cancel token and deadline. */
struct call {
	struct arena *a;
	struct cancel *cancel; /* may be NULL */
	int64_t deadline;      /* absolute monotonic ms, or DEADLINE_NONE */
};

/* The call's deadline for util/time.h (DEADLINE_NONE when it has none). */
static inline int64_t
call_deadline(const struct call *c)
{
	return (c == NULL || c->deadline <= 0) ? DEADLINE_NONE : c->deadline;
}

struct kv {
	const char *key;
	const char *value;
};

/* Network policy. default_action: -1 unset, 0 deny, 1 allow. */
struct net_policy {
	int default_action;
	const char **allow;
	size_t nallow;
	const char **deny;
	size_t ndeny;
	const char *note;    /* output only: a sentence for the agent (e.g. when a change
					 * takes effect), or NULL */
	const char **recent; /* output only: recent refused connections, oldest first */
	size_t nrecent;
};

struct sb_create {
	const char *template_name; /* image / template; NULL = backend default */
	int64_t timeout_s;         /* <= 0 = backend default */
	const struct kv *env;
	size_t nenv;
	const struct kv *metadata;
	size_t nmetadata;
	const char *cpu;                  /* e.g. "1", "500m"; NULL = default */
	const char *memory;               /* e.g. "512Mi"; NULL = default */
	const struct net_policy *network; /* NULL = default (allow) */
	int auto_pause;                   /* -1 unset, 0, 1 */
	int secure;                       /* -1 unset, 0, 1 */
	const char *entrypoint;           /* optional command for images that need one */
	bool ephemeral;                   /* dies with this server process, however it ends (the
					 * session's default sandbox without --keep); backends
					 * that cannot tie a sandbox's life to it ignore this */
};

struct sb_info {
	const char *id;
	const char *state; /* "running", "paused", "pending", "killed", ... */
	const char *template_name;
	int64_t created_at; /* wall ms since epoch, 0 = unknown */
	int64_t expires_at; /* wall ms since epoch, 0 = never/unknown */
	const struct kv *metadata;
	size_t nmetadata;
	const char *note; /* a sentence the agent should see (e.g. "no isolation"), or NULL */
	const char *cpu, *memory; /* as reported, or NULL */
	const struct kv *limits;  /* what the sandbox is held to and by what, e.g. memory ->
					 * "256Mi, enforced by cgroup v2"; may be empty */
	size_t nlimits;
};

struct sb_list_req {
	const char **states; /* filter: any of these states; NULL/0 = all */
	size_t nstates;
	const struct kv *metadata; /* filter: all of these must match */
	size_t nmetadata;
	const char *cursor; /* opaque, from a previous next_cursor */
	int limit;          /* <= 0 = backend default */
};

struct sb_list {
	struct sb_info *items;
	size_t n;
	const char *next_cursor; /* NULL when this is the last page */
};

struct sb_url {
	const char *url;
	const struct kv *headers; /* headers a client must send, if any */
	size_t nheaders;
};

struct sb_metrics {
	double cpu_count;        /* cores available; 0 = unknown */
	double cpu_used_pct;     /* 0..100*cores; < 0 = unknown */
	int64_t mem_total_bytes; /* < 0 = unknown */
	int64_t mem_used_bytes;
	int64_t disk_total_bytes;
	int64_t disk_used_bytes;
	int64_t timestamp; /* wall ms */
};

/* exec ---------------------------------------------------------------------------- */

struct exec_req {
	const char *command; /* run by bash: bash -l -c on local and e2b; OpenSandbox's
					 * execd runs bash -c (sh -c where bash is missing) */
	const char *cwd;     /* NULL = the sandbox's workspace */
	const struct kv *env;
	size_t nenv;
	const char *stdin_data; /* NULL = no stdin (reads see EOF) */
	size_t stdin_len;
	int64_t timeout_ms; /* <= 0 = none (call->deadline still applies) */
	bool background;    /* return at once with a pid */
};

enum exec_event_type {
	EXEC_EV_START, /* pid known */
	EXEC_EV_STDOUT,
	EXEC_EV_STDERR,
};

struct exec_event {
	enum exec_event_type type;
	const char *data; /* output bytes (not NUL-terminated) */
	size_t len;
	const char *pid; /* START */
};

/* Called from the op's thread for every event; return non-zero to stop (the op then
 * kills the process and returns ERR_CANCELLED). */
typedef int (*exec_event_fn)(void *arg, const struct exec_event *ev);

struct exec_result {
	bool exited;   /* false: killed by timeout/cancel, or still running (background) */
	int exit_code; /* valid when exited; 128+N for signal N where the platform says so */
	bool timed_out;
	const char *pid;             /* background (and platforms that have ids) */
	const char *note;            /* optional sentence, e.g. "killed after 30 s timeout" */
	const char **network_denied; /* connections the command tried that were refused,
					 * each "host:port reason" */
	size_t nnetwork_denied;
};

/* Background processes --------------------------------------------------------------- */

struct proc_info {
	const char *pid;
	const char *command;
	bool running;
	bool has_exit;
	int exit_code;
};

struct proc_output {
	struct buf data; /* output bytes since offset (stdout and stderr interleaved);
					 * owned by the caller: buf_fini() it */
	uint64_t next_offset;
	bool running;
	bool has_exit;
	int exit_code;
	const char **network_denied; /* as in exec_result, for this process (so far) */
	size_t nnetwork_denied;
};

/* Code contexts (run_code) -------------------------------------------------------------- */

struct code_req {
	const char *code;
	const char *language;   /* "python" default */
	const char *context_id; /* NULL = the default context of that language */
	int64_t timeout_ms;
};

struct code_result {
	bool ok;
	const char *error_name, *error_value; /* when !ok */
	const char *text;                     /* main result text/plain, or NULL */
	const struct kv *results;             /* mime type -> data (e.g. image/png -> base64) */
	size_t nresults;
	int64_t execution_count;
};

/* A code context: one interpreter (kernel) whose state persists between run_code calls. */
struct code_ctx {
	const char *id; /* pass as code_req.context_id */
	const char *language;
};

/* Files ------------------------------------------------------------------------------- */

enum file_type { FILE_T_FILE, FILE_T_DIR, FILE_T_SYMLINK, FILE_T_OTHER };

struct file_entry {
	const char *name;
	const char *path; /* as the sandbox sees it */
	enum file_type type;
	int64_t size;
	uint32_t mode;           /* permission bits (07777) */
	int64_t modified_at;     /* wall ms, 0 unknown */
	const char *link_target; /* symlinks, when known */
};

struct file_list {
	struct file_entry *items;
	size_t n;
	bool truncated; /* more entries than the backend returns */
};

struct file_search {
	const char **matches;
	size_t n;
	bool truncated;
};

#define FILE_MODE_DEFAULT 0xFFFFFFFFu

/* The ops -------------------------------------------------------------------------------- */

struct backend_ops {
	const char *name; /* "local", "opensandbox", "e2b" */

	int (*create)(struct backend *b, const struct sb_create *req, struct sb_info *out,
	    struct call *c, struct err *e);
	int (*list)(struct backend *b, const struct sb_list_req *req, struct sb_list *out,
	    struct call *c, struct err *e);
	int (*info)(struct backend *b, const char *id, struct sb_info *out, struct call *c,
	    struct err *e);
	int (*kill)(struct backend *b, const char *id, struct call *c, struct err *e);
	int (*pause)(struct backend *b, const char *id, struct call *c, struct err *e);
	int (*resume)(struct backend *b, const char *id, struct call *c, struct err *e);
	int (*set_timeout)(struct backend *b, const char *id, int64_t timeout_s,
	    int64_t *expires_at, struct call *c, struct err *e);
	int (*url)(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
	    struct err *e);
	int (*metrics)(struct backend *b, const char *id, struct sb_metrics *out, struct call *c,
	    struct err *e);

	/* Foreground: streams events to fn and fills res when the process ends.
	 * Background: returns after EXEC_EV_START with res->pid set and res->exited false. */
	int (*exec)(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn,
	    void *arg, struct exec_result *res, struct call *c, struct err *e);
	int (*proc_list)(struct backend *b, const char *id, struct proc_info **out, size_t *n,
	    struct call *c, struct err *e);
	/* Output from byte offset; waits up to wait_ms for new output or exit (0 = no wait). */
	int (*proc_output)(struct backend *b, const char *id, const char *pid, uint64_t offset,
	    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c,
	    struct err *e);
	int (*proc_stdin)(struct backend *b, const char *id, const char *pid, const char *data,
	    size_t len, bool close_stdin, struct call *c, struct err *e);
	int (*proc_kill)(struct backend *b, const char *id, const char *pid, int signo,
	    struct call *c, struct err *e);

	int (*run_code)(struct backend *b, const char *id, const struct code_req *req,
	    exec_event_fn fn, void *arg, struct code_result *out, struct call *c, struct err *e);
	/* Code contexts. create: language NULL = "python", cwd NULL = the default; list:
	 * language NULL = all; delete: ERR_NOTFOUND when the context does not exist. Where
	 * the sandbox has no interpreter: ERR_UNSUPPORTED with a sentence saying so. */
	int (*code_ctx_create)(struct backend *b, const char *id, const char *language,
	    const char *cwd, struct code_ctx *out, struct call *c, struct err *e);
	int (*code_ctx_list)(struct backend *b, const char *id, const char *language,
	    struct code_ctx **out, size_t *n, struct call *c, struct err *e);
	int (*code_ctx_delete)(struct backend *b, const char *id, const char *ctx_id,
	    struct call *c, struct err *e);

	/* Reads up to max_bytes from offset into out (appended); *size gets the file size. */
	int (*file_read)(struct backend *b, const char *id, const char *path, uint64_t offset,
	    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e);
	/* Creates parent directories; mode FILE_MODE_DEFAULT = backend default (0644 for a
	 * new file; an existing file keeps its mode). */
	int (*file_write)(struct backend *b, const char *id, const char *path, const void *data,
	    size_t len, uint32_t mode, struct call *c, struct err *e);
	int (*file_list)(struct backend *b, const char *id, const char *path, int depth,
	    struct file_list *out, struct call *c, struct err *e);
	/* ERR_NOTFOUND when the path does not exist. */
	int (*file_stat)(struct backend *b, const char *id, const char *path,
	    struct file_entry *out, struct call *c, struct err *e);
	/* *created is false when the directory already existed. Creates parents. */
	int (*file_mkdir)(struct backend *b, const char *id, const char *path, bool *created,
	    struct call *c, struct err *e);
	int (*file_move)(struct backend *b, const char *id, const char *src, const char *dst,
	    struct call *c, struct err *e);
	/* Removes files and directories (recursively); *removed false when it did not exist. */
	int (*file_remove)(struct backend *b, const char *id, const char *path, bool *removed,
	    struct call *c, struct err *e);
	/* Glob under path; `**` crosses directories. */
	int (*file_search)(struct backend *b, const char *id, const char *path, const char *pattern,
	    struct file_search *out, struct call *c, struct err *e);

	int (*net_get)(struct backend *b, const char *id, struct net_policy *out, struct call *c,
	    struct err *e);
	/* Merges (replace=false) or replaces the policy; fills the effective one in out. */
	int (*net_set)(struct backend *b, const char *id, const struct net_policy *req,
	    bool replace, struct net_policy *out, struct call *c, struct err *e);

	void (*free)(struct backend *b);
};

/* A backend instance: its ops and state. */
struct backend_handle {
	const struct backend_ops *ops;
	struct backend *b;
};

#endif
