/*
 * local.h -- the `local` backend: sandboxes on this machine, isolated with Linux namespaces.
 *
 * A sandbox is a directory <root>/sbx-<hex>/ under the state root (cfg->local_root, else
 * $XDG_STATE_HOME/sandbox-mcp, else ~/.local/state/sandbox-mcp) holding meta.json (JSON:
 * times, env, metadata, network, supervisor pid), workspace/, tmp/, home/, and procs/<pid>/
 * for background processes (out = stdout+stderr interleaved on disk, stdin = a FIFO, exit =
 * the exit code written by a monitor process). Sandboxes outlive sandbox-mcp: a restarted
 * server lists and reattaches to them; they expire at expires_at (killed and removed by the
 * next op that touches them, by sandbox_list, or by a sweeper thread every few seconds).
 *
 * Isolation "namespaces" (default): each sandbox has a supervisor, pid 1 of new user, mount,
 * PID, IPC, UTS and network namespaces (it is `sleep`, exec'd after building the root, with
 * SIGCHLD ignored so orphans are reaped). Commands and file operations join its namespaces.
 * What a process inside sees (and what every path given to a file op means):
 *   /workspace  the sandbox's workspace, writable; the default cwd; relative paths resolve here
 *   /tmp        the sandbox's private tmp, writable
 *   /root       the sandbox's home (HOME=/root), writable; processes run as uid 0 inside
 *   /run, /dev/shm  private tmpfs; /dev a minimal device set; /proc its own (host processes
 *               are invisible)
 *   everything else: this machine's filesystem, read-only; the state root and the invoking
 *               user's home directory are hidden (empty).
 * File ops resolve paths inside the sandbox's mount namespace (a forked helper opens the path
 * there and passes back the fd), so `..` and symlinks resolve exactly as for the sandbox's own
 * processes and can never reach the host outside that view; writes outside the writable
 * directories fail as read-only.
 * User mapping: uid 0 inside is the invoking user outside; when sandbox-mcp runs as root it is
 * nobody (65534), so a sandbox never holds root's file permissions on the host.
 * Network: "allow" (default) shares this machine's network namespace (so sandbox_url is
 * http://127.0.0.1:PORT, and services on this machine's loopback are reachable); "deny"
 * puts commands started afterwards into the sandbox's own network namespace, where only
 * loopback exists (shared by the sandbox's processes). Running processes keep what they
 * started with (net_set says so in its note). Per-host rules are refused (ERR_UNSUPPORTED).
 * Commands: bash -l -c (sh -c without bash) in a new session; pids in results are the pids
 * inside the sandbox. A timeout, cancel or deadline SIGKILLs the command's process group.
 * Processes a foreground command leaves behind keep running in the sandbox; if they hold
 * its output, exec returns 200 ms after the shell exits, with a note.
 * Defaults: timeout 24 h; templates other than "local"/"default"/"base" are refused; cpu and
 * memory limits are recorded but not enforced (the create note says so).
 * Where the kernel forbids user namespaces, sandbox creation fails saying so (no silent
 * fallback). cfg->local_isolation "none" runs commands directly on the host as the invoking
 * user, cwd = <dir>/workspace; absolute file paths are host paths, relative ones are under
 * the workspace; network cannot be denied; every sb_info note says NO ISOLATION.
 *
 * Owns:    the backend state; sandboxes are NOT killed by free() (they persist by design).
 * Errors:  as backend.h; namespace failures name the step and the errno.
 * Threads: every op is thread-safe; per-sandbox changes are serialized with flock(<dir>/lock).
 */
#ifndef BACKENDS_LOCAL_H
#define BACKENDS_LOCAL_H

#include "backends/backend.h"
#include "config.h"
#include "util/err.h"

/* Creates the local backend from cfg (local_root, local_isolation); makes the state root. */
int local_backend_new(const struct config *cfg, struct backend_handle *out, struct err *e);

#ifdef LOCAL_INTERNAL
/* ---- Internal to src/backends/local*.c (and tests/unit/test_local.c). ---------------- */

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define LOCAL_ID_MAX 48
#define LOCAL_WS "/workspace"
#define LOCAL_NOBODY 65534

struct lfg {				/* a running foreground exec */
	char id[LOCAL_ID_MAX];
	pid_t pgid;
	struct lfg *next;
};

struct local {
	char root[PATH_MAX];		/* state root, absolute */
	char home_mask[PATH_MAX];	/* invoking user's home to hide, or "" */
	char user[64];			/* invoking user's name (isolation none) */
	bool isolate;			/* namespaces */
	uid_t uid;			/* host ids of the sandbox's root */
	gid_t gid;
	bool host_root;			/* sandbox-mcp runs as uid 0 */
	pthread_mutex_t mu;		/* fg */
	struct lfg *fg;
	pthread_mutex_t sweep_mu;
	pthread_cond_t sweep_cv;
	pthread_t sweeper;
	bool sweeper_on, stop;
};

/* One sandbox as loaded from meta.json; strings live in the arena given to the loader. */
struct lsb {
	char id[LOCAL_ID_MAX];
	char dir[PATH_MAX];
	bool isolate;
	bool net_allow;
	bool paused;
	int64_t created_at, expires_at;	/* wall ms */
	pid_t sup_pid;			/* supervisor (namespaces), 0 none */
	unsigned long long sup_start;	/* its start time, guards against pid reuse */
	const char *template_name, *cpu, *memory;
	const struct kv *env;
	size_t nenv;
	const struct kv *metadata;
	size_t nmetadata;
};

/* Namespace fds of a sandbox's supervisor; -1 = do not join. */
struct lns {
	int user, mnt, pid, ipc, uts, net;
	bool drop_groups;		/* host root: drop supplementary groups first */
};

/* local.c */
int local_sb_load(struct local *L, const char *id, struct arena *a, struct lsb *sb,
    struct err *e);
/* Ensures the supervisor runs (restarting it after a reboot) and opens its namespaces;
 * for isolation none fills ns with -1. want_net joins the network namespace (deny). */
int local_sb_ns(struct local *L, struct lsb *sb, struct lns *ns, bool want_net, struct err *e);
void local_ns_close(struct lns *ns);
void local_path(char *out, const struct lsb *sb, const char *sub);
void local_fg_add(struct local *L, const char *id, pid_t pgid);
void local_fg_del(struct local *L, pid_t pgid);
/* Runs fn under an fsuid of the sandbox's root (host root only), for host-side file ops. */
int local_fs_enter(const struct local *L);
void local_fs_leave(const struct local *L, int token);

/* local_ns.c: supervisor, spawning, the path helper. Child code is async-signal-safe. */
int local_sup_start(struct local *L, struct lsb *sb, struct err *e);
unsigned long long local_pid_start(pid_t pid);	/* 0 when gone or a zombie */
bool local_pid_alive(pid_t pid, unsigned long long start);
int local_ns_open(pid_t sup, unsigned long long start, bool net, bool drop_groups,
    struct lns *ns, struct err *e);

struct lrec {				/* child -> parent status records */
	int32_t kind, a, b, c;
};
enum { LREC_PID = 1, LREC_NSPID, LREC_STATUS, LREC_ERR, LREC_MON };
/* LREC_ERR steps a caller tells apart (the rest are named by local_step_name()). */
enum { LOCAL_STEP_CHDIR = 10, LOCAL_STEP_EXEC = 11 };

struct lspawn {
	const struct lns *ns;
	const char *cwd;		/* as the process sees it */
	char *const *argv_bash, *const *argv_sh, *const *envp;
	int fd_in, fd_out, fd_err;
	int st;				/* status pipe, write end */
	bool background;
	int mon_dir;			/* background: record directory */
	int mon_keep;			/* background: stdin FIFO kept open until SIGUSR1 */
};
/* Forks the intermediate (foreground) or a detaching parent (background); returns its pid
 * (to waitpid) or -1 with e set. */
pid_t local_spawn(const struct lspawn *sp, struct err *e);
const char *local_step_name(int step);

enum { LH_OPEN = 1, LH_MKDIRP, LH_LSTAT };
struct lh_req {
	int op;
	const char *path;		/* as the sandbox sees it (relative = under the workspace) */
	int flags;
	mode_t mode;
	bool mkparents;
};
struct lh_rep {
	int err;			/* errno, 0 ok */
	int step;			/* non-zero: entering the sandbox failed at this step */
	bool created;
	struct stat st;
	int linklen;
	char link[PATH_MAX];
};
/* Runs one path operation inside the sandbox (ns->user >= 0) or in-process relative to
 * basefd (isolation none). *fd gets the opened fd or -1. */
int local_helper(const struct lns *ns, int basefd, const struct lh_req *rq, struct lh_rep *rp,
    int *fd, struct call *c, struct err *e);

/* local_exec.c */
int local_exec(struct backend *b, const char *id, const struct exec_req *req,
    exec_event_fn fn, void *arg, struct exec_result *res, struct call *c, struct err *e);
int local_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n,
    struct call *c, struct err *e);
int local_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c,
    struct err *e);
int local_proc_stdin(struct backend *b, const char *id, const char *pid, const char *data,
    size_t len, bool close_stdin, struct call *c, struct err *e);
int local_proc_kill(struct backend *b, const char *id, const char *pid, int signo,
    struct call *c, struct err *e);
/* Sessions of the sandbox's running background processes (host pids). */
size_t local_bg_sessions(const struct lsb *sb, pid_t *out, size_t max);

/* local_fs.c */
int local_file_read(struct backend *b, const char *id, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e);
int local_file_write(struct backend *b, const char *id, const char *path, const void *data,
    size_t len, uint32_t mode, struct call *c, struct err *e);
int local_file_list(struct backend *b, const char *id, const char *path, int depth,
    struct file_list *out, struct call *c, struct err *e);
int local_file_stat(struct backend *b, const char *id, const char *path,
    struct file_entry *out, struct call *c, struct err *e);
int local_file_mkdir(struct backend *b, const char *id, const char *path, bool *created,
    struct call *c, struct err *e);
int local_file_move(struct backend *b, const char *id, const char *src, const char *dst,
    struct call *c, struct err *e);
int local_file_remove(struct backend *b, const char *id, const char *path, bool *removed,
    struct call *c, struct err *e);
int local_file_search(struct backend *b, const char *id, const char *path,
    const char *pattern, struct file_search *out, struct call *c, struct err *e);
/* Removes name under dirfd recursively without following symlinks; 0 or an errno. */
int local_rmtree(int dirfd, const char *name);

#endif /* LOCAL_INTERNAL */

#endif
