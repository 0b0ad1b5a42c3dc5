/*
 * envd.h -- client of envd, the agent inside every E2B / OpenKruise sandbox: the process
 *           and filesystem services over Connect-RPC (binary protobuf via nanopb) and the
 *           HTTP endpoints /files and /metrics (shared/reference/e2b/BRIEF.md §5-§9).
 *
 * Owns:    struct envd_procs, the table of background processes this session started or
 *          attached to: each keeps one Start/Connect stream open on its own thread and the
 *          tail of its output (ENVD_BG_KEEP_BYTES) so process_output can page through it;
 *          release with envd_procs_free(), which stops the streams (not the processes).
 * Borrows: struct envd_target and everything it points to, for the duration of a call.
 *          Outputs go to the call's arena (c->a) unless a parameter says otherwise.
 * Errors:  0 or ERR_* with one sentence naming what to do. Connect error codes map to
 *          ERR_NOTFOUND (not_found), ERR_EXISTS (already_exists), ERR_INVAL
 *          (invalid_argument), ERR_UNSUPPORTED (unimplemented), ERR_TIMEOUT
 *          (deadline_exceeded), ERR_BACKEND (the rest). Non-Connect failures (envd's JSON
 *          401, the gateway's plain-text 502/503) are mapped by HTTP status (§11.5).
 * Waits:   unary calls and /files are bounded by the call deadline and the target's
 *          request timeout; streams only by the call deadline, the connect timeout of the
 *          HTTP client and the target's idle timeout, and they ask envd for keepalive
 *          events (Keepalive-Ping-Interval) so a quiet command is not mistaken for a dead
 *          connection. Every wait ends at once when c->cancel fires.
 * Threads: any function may be called from any thread; envd_procs locks itself.
 *
 * Wire rules this module keeps (BRIEF §11): StartRequest.stdin is always encoded, also
 * when false; EndEvent.exit_code is a zigzag sint32 (-1 when killed); SendSignal uses
 * the enum values 15 (SIGTERM) and 9 (SIGKILL); closing a Start stream does not stop the
 * process, so an exec that is cancelled or times out sends SIGKILL explicitly.
 */
#ifndef BACKENDS_E2B_ENVD_ENVD_H
#define BACKENDS_E2B_ENVD_ENVD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "net/http.h"
#include "util/buf.h"
#include "util/err.h"

#define ENVD_PORT_DEFAULT 49983
/* Largest Connect message we accept from envd (a ListDir of a big tree is the largest). */
#define ENVD_MSG_MAX (16 * 1024 * 1024)
/* Output kept per background process for process_output; older bytes are dropped. */
#define ENVD_BG_KEEP_BYTES (1024 * 1024)
/* Keepalive-Ping-Interval we ask for on streams, and the silence after which a stream is
 * considered dead (several missed keepalives). */
#define ENVD_KEEPALIVE_S    30
#define ENVD_STREAM_IDLE_MS (4 * ENVD_KEEPALIVE_S * 1000)
/* Entries a ListDir may bring back before the listing is cut (file_list truncated). */
#define ENVD_LIST_MAX 20000

/* Where and how to reach one sandbox's envd. */
struct envd_target {
	struct http_client *http;
	const char *base_url;            /* envd base, e.g. "https://49983-<id>.example.com",
					 * "http://gw/kruise/<id>/49983" or a header-mode gateway */
	const char *sandbox_id;          /* sent as e2b-sandbox-id on every request */
	int port;                        /* sent as e2b-sandbox-port (49983) */
	const char *access_token;        /* X-Access-Token, or NULL */
	const char *user;                /* Authorization: Basic <user>: and /files username=, or
					 * NULL for envd's default user */
	const struct http_header *extra; /* --header K=V, sent on every request */
	size_t nextra;
	int64_t request_timeout_ms; /* unary calls and /files; <= 0: none */
	int idle_timeout_ms;        /* streams; 0: ENVD_STREAM_IDLE_MS */
};

/* Process service --------------------------------------------------------------------- */

struct envd_start_req {
	const char *command;     /* run as /bin/bash -l -c <command> ... */
	const char *const *argv; /* ... or, when argv is set, argv[0] with argv[1..] */
	size_t argc;
	const char *cwd; /* NULL: the user's home */
	const struct kv *env;
	size_t nenv;
	bool stdin_open;    /* encoded explicitly either way */
	const char *tag;    /* NULL: none */
	int64_t timeout_ms; /* > 0: sent as Connect-Timeout-Ms (envd kills at it) */
};

enum envd_ev_type {
	ENVD_EV_NONE, /* an empty or unknown event (skip it) */
	ENVD_EV_START,
	ENVD_EV_STDOUT,
	ENVD_EV_STDERR,
	ENVD_EV_PTY,
	ENVD_EV_END,
	ENVD_EV_KEEPALIVE,
};

struct envd_event {
	enum envd_ev_type type;
	uint32_t pid;     /* START */
	const char *data; /* STDOUT/STDERR/PTY bytes, valid during the callback */
	size_t len;
	int exit_code;    /* END: as envd says (-1 when killed by a signal) */
	bool exited;      /* END */
	char status[256]; /* END: "exit status 3", "signal: killed" */
	char error[256];  /* END: empty when absent */
};

/* Receives each stream event; returns 0 to go on, ENVD_STOP to stop reading with success,
 * or an ERR_* code (with *e set) to stop with that error. Stopping closes the stream; the
 * process keeps running. */
typedef int (*envd_event_fn)(void *arg, const struct envd_event *ev, struct err *e);
#define ENVD_STOP HTTP_STOP

/* Start: streams the process's events to fn until its end event. A stream that ends
 * without an end event is ERR_PROTO (or the end-of-stream error, e.g. ERR_TIMEOUT for
 * deadline_exceeded, ERR_INVAL for a missing cwd). */
int envd_start(const struct envd_target *t, const struct envd_start_req *rq, envd_event_fn fn,
    void *arg, struct call *c, struct err *e);
/* Connect: re-attaches to a running process (start{pid} first, then only new output). */
int envd_connect(const struct envd_target *t, uint32_t pid, envd_event_fn fn, void *arg,
    struct call *c, struct err *e);

struct envd_proc {
	uint32_t pid;
	const char *command; /* the -c string for bash -l -c, else cmd + args */
	const char *tag;     /* or NULL */
};
int envd_list(const struct envd_target *t, struct envd_proc **out, size_t *n, struct call *c,
    struct err *e);
int envd_send_input(const struct envd_target *t, uint32_t pid, const void *data, size_t len,
    struct call *c, struct err *e);
/* ERR_UNSUPPORTED on envds older than 0.5.2, which have no CloseStdin. */
int envd_close_stdin(const struct envd_target *t, uint32_t pid, struct call *c, struct err *e);
/* signo must be 15 or 9 (ERR_UNSUPPORTED otherwise: envd knows no other signal). */
int envd_signal(const struct envd_target *t, uint32_t pid, int signo, struct call *c,
    struct err *e);

/* Filesystem service ------------------------------------------------------------------ */

/* ERR_NOTFOUND when the path does not exist. */
int envd_stat(const struct envd_target *t, const char *path, struct file_entry *out, struct call *c,
    struct err *e);
/* mkdir -p; *created is false when the directory already existed. */
int envd_mkdir(const struct envd_target *t, const char *path, bool *created, struct call *c,
    struct err *e);
int envd_move(const struct envd_target *t, const char *src, const char *dst, struct call *c,
    struct err *e);
/* depth >= 1; entries in lexical pre-order; at most max entries (truncated set). */
int envd_list_dir(const struct envd_target *t, const char *path, int depth, size_t max,
    struct file_list *out, struct call *c, struct err *e);
/* rm -rf: a missing path is not an error. */
int envd_remove(const struct envd_target *t, const char *path, struct call *c, struct err *e);

/* HTTP endpoints ------------------------------------------------------------------------ */

/* GET /files: appends up to max_bytes from offset to out (binary-safe, streamed, Range);
 * *size gets the file size when envd tells it, else -1. */
int envd_file_read(const struct envd_target *t, const char *path, uint64_t offset, size_t max_bytes,
    struct buf *out, int64_t *size, struct call *c, struct err *e);
/* POST /files (multipart/form-data, which every envd version accepts): creates parent
 * directories and replaces the file. */
int envd_file_write(const struct envd_target *t, const char *path, const void *data, size_t len,
    struct call *c, struct err *e);
/* GET /metrics; an answer that is not a JSON object is ERR_PROTO. */
int envd_metrics(const struct envd_target *t, struct sb_metrics *out, struct call *c,
    struct err *e);

/* Runs argv[0] with argv[1..] (no shell) in cwd (NULL: home) and waits; *exit_code gets
 * its status. For small helpers such as chmod after a write. */
int envd_run(const struct envd_target *t, const char *const *argv, size_t argc, const char *cwd,
    int *exit_code, struct call *c, struct err *e);

/* Background processes -------------------------------------------------------------------- */

struct envd_procs;

struct envd_procs *envd_procs_new(void);
/* Stops every reader thread and frees the table; the processes keep running. */
void envd_procs_free(struct envd_procs *ps);

/* Starts rq (stdin kept open) and returns once envd reported the pid, which goes to
 * *pid; a thread keeps reading its output. The target is copied. */
int envd_procs_start(struct envd_procs *ps, const struct envd_target *t,
    const struct envd_start_req *rq, uint32_t *pid, struct call *c, struct err *e);
/* Output since offset (stdout and stderr interleaved in arrival order), waiting up to
 * wait_ms for more output or the exit. A process this table does not know yet is
 * attached with Connect (output from then on). ERR_NOTFOUND for an unknown pid. */
int envd_procs_output(struct envd_procs *ps, const struct envd_target *t, uint32_t pid,
    uint64_t offset, int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c,
    struct err *e);
/* Processes of sandbox_id that ended while this table watched them (for process_list). */
int envd_procs_ended(struct envd_procs *ps, const char *sandbox_id, struct proc_info **out,
    size_t *n, struct arena *a);

/* Exit code envd reports -> the one we show: N for "exit status N", 128+S for a process
 * killed by signal S ("signal: killed" = 137); false when envd gave no usable status. */
bool envd_exit_status(const struct envd_event *end, int *code);

/* Wire helpers (the encoders and decoders the calls above use; tests/prog/pbtool.c
 * drives them to prove compatibility with the upstream .proto files) --------------------- */

int envd_pb_start_request(struct buf *out, const struct envd_start_req *rq, struct err *e);
/* SendSignalRequest / CloseStdinRequest / ConnectRequest / SendInputRequest by pid. */
int envd_pb_signal_request(struct buf *out, uint32_t pid, int signal_enum, struct err *e);
int envd_pb_selector_request(struct buf *out, uint32_t pid, struct err *e);
int envd_pb_input_request(struct buf *out, uint32_t pid, const void *data, size_t len,
    struct err *e);
int envd_pb_path_request(struct buf *out, const char *path, struct err *e);
int envd_pb_move_request(struct buf *out, const char *src, const char *dst, struct err *e);
int envd_pb_list_dir_request(struct buf *out, const char *path, uint32_t depth, struct err *e);
/* StartResponse / ConnectResponse payload -> event; data is copied into scratch. */
int envd_pb_event(const void *p, size_t n, struct envd_event *ev, struct buf *scratch,
    struct err *e);
/* StatResponse / MakeDirResponse / MoveResponse payload -> entry (strings in a). */
int envd_pb_entry_response(const void *p, size_t n, struct file_entry *out, struct arena *a,
    struct err *e);
int envd_pb_list_dir_response(const void *p, size_t n, size_t max, struct file_list *out,
    struct arena *a, struct err *e);
int envd_pb_list_response(const void *p, size_t n, struct envd_proc **out, size_t *count,
    struct arena *a, struct err *e);

#endif
