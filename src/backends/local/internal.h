/*
 * internal.h -- the local backend's private contracts; only src/backends/local/ (and its
 * unit tests) include it. The sections below run bottom-up, a file using only the sections
 * above its own:
 *   quantity, limits   resource quantities; cgroups, rlimits, the memory watch
 *   seccomp, landlock  the filters every command runs under
 *   policy, dns, httpreq   the egress policy, and the relay's DNS and proxy messages
 *   store       the state root, sandbox records, locks, /proc helpers
 *   wire        messages between server, supervisor and init
 *   rootfs      the sandbox's file system, built from an allowlist and checked
 *   init        pid 1 of a sandbox
 *   output      background output on disk (supervisor writes, server reads)
 *   net         the sandbox's network: capture, DNS, proxy and relay (supervisor; net.c
 *               and its parts, which share net_internal.h)
 *   conf, supervisor   the host-side process of a sandbox
 *   spawn       the server's side of a supervisor
 *   helper, exec, process, files, lifecycle   the ops
 *   backend     the ops table and the constructor (the top)
 *
 * Processes of one sandbox (isolation "namespaces"):
 *
 *   server (any thread) --unix socket <dir>/sup.sock--> SUPERVISOR (host side)
 *                                                          |  socketpair
 *                                                          v
 *                                                        INIT (pid 1 of the sandbox)
 *                                                          |  fork
 *                                                          v
 *                                                        commands
 *
 * The supervisor is this binary re-executed (`sandbox-mcp __local-supervisor FD`) with an
 * empty environment: a fresh image (one thread, plus short-lived DNS resolver threads) that
 * holds nothing of the server (no keys). It lives as long as the sandbox, also after the
 * server exits (--keep): it owns the cgroups, background output (capped on disk), the
 * expiry timer, the memory watch where no memory cgroup exists, and the lifeline of an
 * ephemeral sandbox (the server's end of the start socket: when it closes, SIGKILL
 * included, the sandbox is killed and removed).
 *
 * INIT is cloned by the supervisor into new user (U1), mount, PID, IPC, UTS and network
 * namespaces. Holding every capability of U1, it builds the sandbox's root from an allowlist
 * (rootfs.c), pivots into it, checks that every mount outside the writable set is read-only
 * (failing closed), makes the network's sockets (loopback up; the relay's listeners, DNS on
 * port 53, the proxy), then enters a second user namespace U2 with a second mount
 * namespace: the copy locks every mount (MNT_LOCKED), so nothing in U2 can unmount, remount
 * or move them, and nothing in U2 can configure the network namespace (U1's). INIT then
 * restricts itself with Landlock (one domain for the whole sandbox, so its commands may
 * signal each other but nothing outside), sets NO_NEW_PRIVS, installs the filter that hands
 * every connect() to the supervisor, and stays non-dumpable (its /proc entries are closed
 * to the sandbox and to the unprivileged host user alike). Each command is a child of INIT
 * that drops every capability (bounding, ambient, effective, permitted, inheritable),
 * installs the seccomp filter, starts a new session, closes every inherited fd beyond 0-2
 * and execs bash -l -c. The network namespace has loopback only: every connection out goes
 * through the supervisor's relay (net.c), which judges it by the sandbox's egress policy
 * within the operator's ceiling.
 *
 * FILE HELPERS (helper.c) are children of the server that join U2 and the second mount
 * namespace (fds from the supervisor, W_NS) as the sandbox user with its Landlock rules and
 * no capabilities, and open paths for the file tools; one per sandbox is kept (LH_CACHE),
 * watching its supervisor through a pidfd.
 *
 * Identity: U1 maps 0 to the sandbox's host uid (the server's own uid, or LOCAL_NOBODY when
 * the server is root, so RLIMIT_NPROC and file permissions hold); U2 maps the sandbox user
 * (the server user's uid and name, or 1000 "sandbox" when the server is root) onto U1's 0.
 *
 * Isolation "none" (an explicit opt-out): INIT is a plain child of the supervisor (a child
 * subreaper, so it can find and kill every descendant); commands run on this machine as the
 * server's user in <dir>/workspace, still with NO_NEW_PRIVS and the seccomp filter.
 *
 * A sandbox directory <root>/sbx-<hex>/ (root 0700, never mounted into any sandbox):
 *   meta.json   the server's record (times, env, metadata, network, resources, paused)
 *   sup.json    the supervisor's record (pids, cgroups, what is enforced), written by it
 *   sup.sock    the supervisor's socket (connect to talk to the sandbox)
 *   lock        flock(2)ed around read-modify-write of meta.json and around removal
 *   workspace/  bound in as /workspace (the only host directory a sandbox writes to, with
 *               the operator's read-write --mount directories)
 *   procs/<pid>/  background processes: info.json, out (the first BG_HEAD_MAX bytes), tail
 *               (a ring of the last BG_TAIL_MAX bytes), total, stdin (a FIFO), exit,
 *               network_denied (its refused connections)
 *   oom         count of processes the supervisor's memory watch killed (no memory cgroup)
 *   network.log the last refused connections (the supervisor writes, network_policy reads)
 *   supervisor.log  the supervisor's own log (capped)
 */
#ifndef BACKENDS_LOCAL_INTERNAL_H
#define BACKENDS_LOCAL_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "backends/local.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

#define LOCAL_ID_MAX         48
#define LOCAL_WS             "/workspace"
#define LOCAL_NOBODY         65534 /* host uid of sandboxes when the server is root */
#define LOCAL_ROOT_INNER_UID 1000  /* the sandbox user's uid inside, server as root */
#define LOCAL_USER_MAX       32
#define LOCAL_MOUNTS_MAX     32

/* An operator's --mount HOST:SANDBOX[:ro]. */
struct local_mount {
	char host[PATH_MAX]; /* absolute, resolved */
	char path[PATH_MAX]; /* in the sandbox: absolute, normalized */
	bool ro;
};

/* ---- quantity.c and limits.c: quantities, cgroups, rlimits ----------------------------
 *
 * Enforcement, best first: cgroup v2 where this process's own cgroup is a writable,
 * delegated subtree (systemd user sessions); cgroup v1 controllers where they are writable
 * (the server runs as root); otherwise rlimits (processes, open files, core) and the
 * supervisor's memory watch (limits_tree_memory), which kills the largest process past
 * the limit. Nothing here is async-signal-safe unless it says so.
 */

#define LIMITS_PIDS_DEFAULT 1024
#define LIMITS_NOFILE       8192
#define LIMITS_MEMORY_MIN   (32LL << 20)

/* What a sandbox is held to; 0 = no limit. */
struct lim {
	int64_t memory;    /* bytes (memory + swap + tmpfs pages) */
	int64_t cpu_milli; /* 1000 = one CPU */
	int64_t pids;      /* processes and threads */
};

/* Kubernetes-style quantities. memory: "256Mi", "1Gi", "512M", "1G", "1.5Gi", "1048576"
 * (bytes); at least LIMITS_MEMORY_MIN. cpu: "1", "0.5", "500m"; at least 10m. 0 or
 * ERR_INVAL with a sentence naming resources.memory / resources.cpu. */
int limits_parse_memory(const char *s, int64_t *bytes, struct err *e);
int limits_parse_cpu(const char *s, int64_t *milli, struct err *e);
/* "256Mi", "1.5Gi", "300M"-style text for bytes; "1", "0.5", "250m" for millicpus. */
void limits_format_memory(int64_t bytes, char *out, size_t cap);
void limits_format_cpu(int64_t milli, char *out, size_t cap);
/* MemTotal in bytes, or -1. */
int64_t limits_mem_total(void);

enum lim_cg_mode { LIM_CG_NONE, LIM_CG_V1, LIM_CG_V2 };

/* Where sandboxes' cgroups go on this machine; found once by limits_probe. */
struct lim_host {
	enum lim_cg_mode mode;
	/* v2: memory holds the parent directory of sandbox cgroups (one hierarchy) and the
	 * others are copies of it where the controller is available, "" where it is not.
	 * v1: each holds the parent directory in that controller's hierarchy, or "". */
	char memory[PATH_MAX], pids[PATH_MAX], cpu[PATH_MAX], freezer[PATH_MAX];
	char why[256]; /* mode NONE, or a controller missing: why, a sentence */
};

/* Detects cgroup support for this process. v2: the cgroup from /proc/self/cgroup must be
 * writable with memory and pids in cgroup.controllers; this process then moves into a
 * leaf child "sandbox-mcp-server" of it (the no-internal-processes rule) and enables
 * +memory +pids (+cpu) in its subtree_control. v1: the controllers' directories of this
 * process's cgroups must be writable. Never fails: mode NONE and why say what was missing. */
void limits_probe(struct lim_host *h);
/* "cgroup v2 (memory, pids, cpu)", "cgroup v1 (memory, pids, cpu, freezer)", "none: ..." */
const char *limits_describe(const struct lim_host *h, char *out, size_t cap);

/* One sandbox's cgroups (the directories it owns; "" = not in that controller). */
struct lim_cg {
	enum lim_cg_mode mode;
	char memory[PATH_MAX], pids[PATH_MAX], cpu[PATH_MAX], freezer[PATH_MAX];
};

/* Creates <parent>/<name> per available controller and writes l there: memory limit with
 * no swap beyond it (memory.max + memory.swap.max=0 / memory.limit_in_bytes +
 * memory.memsw.limit_in_bytes when present), pids.max, and the CPU quota (cpu.max /
 * cpu.cfs_quota_us over a 100 ms period). An existing directory of that name is reused.
 * On failure removes what it made and returns ERR_IO with a sentence naming the file. */
int limits_cg_create(const struct lim_host *h, const char *name, const struct lim *l,
    struct lim_cg *cg, struct err *e);
/* Moves pid into every cgroup of cg (its later children follow). */
int limits_cg_attach(const struct lim_cg *cg, pid_t pid, struct err *e);
/* Removes cg's directories; retries for up to wait_ms while processes are still leaving. */
void limits_cg_destroy(const struct lim_cg *cg, int wait_ms);
/* The memory cgroup's OOM-kill count (memory.events / memory.oom_control oom_kill),
 * or -1 when unknown. */
int64_t limits_cg_oom_kills(const struct lim_cg *cg);
/* Memory charged to cg in bytes, CPU time used in microseconds; -1 when unknown. */
int64_t limits_cg_memory(const struct lim_cg *cg);
int64_t limits_cg_cpu_usec(const struct lim_cg *cg);
/* Freezes or thaws cg (cgroup.freeze / freezer.state) and waits until it took effect.
 * ERR_UNSUPPORTED when cg has no freezer. */
int limits_cg_freeze(const struct lim_cg *cg, bool frozen, struct err *e);
/* SIGKILLs every process in cg: cgroup.kill where it exists, else thaw and kill each pid
 * listed in cgroup.procs until none is left (or wait_ms passed). */
void limits_cg_kill(const struct lim_cg *cg, int wait_ms);

/* Sets the calling process's rlimits for a sandbox: RLIMIT_NPROC to l->pids (when non-zero),
 * RLIMIT_NOFILE to LIMITS_NOFILE (never raising a lower hard limit), RLIMIT_CORE to 0;
 * soft and hard alike. Async-signal-safe. 0 or an errno. */
int limits_rlimits_apply(const struct lim *l);

/* Calls fn for root and every descendant of it, found through
 * /proc/PID/task/TID/children (readable even for non-dumpable processes); stops early when
 * fn returns non-zero, and after max processes. Returns the number visited. */
typedef int (*limits_proc_fn)(pid_t pid, void *arg);
size_t limits_tree_walk(pid_t root, size_t max, limits_proc_fn fn, void *arg);
/* A process's own memory in bytes: RssAnon + RssShmem from /proc/PID/status (anonymous and
 * shared-memory pages; file pages are shared and reclaimable), or -1 when it is gone. */
int64_t limits_proc_memory(pid_t pid);

/* The supervisor's memory watch: the anonymous and shared memory of init's descendants
 * (init not counted) plus the files in the n tmpfs mounts (O_PATH fds), against limit.
 * Returns the largest process when the sum is over the limit, else 0; *used, *top and
 * *nprocs get the sum, that process's share and how many processes there were. */
pid_t limits_memory_over(pid_t init, int64_t limit, const int *tmpfs, int n, int64_t *used,
    int64_t *top, size_t *nprocs);

/* ---- seccomp.c: the filter every command runs under -----------------------------------
 *
 * A BPF program written here (no libseccomp): on a foreign architecture (an i386 int 0x80
 * on x86_64) or an x32 system call the process is killed; ENOSYS for clone3 (libc falls
 * back to clone); EPERM for the mount family (mount umount2 pivot_root move_mount open_tree
 * fsopen fsmount fsconfig fspick mount_setattr), setns, unshare and clone with any CLONE_NEW*
 * flag, ptrace, process_vm_readv/writev, pidfd_getfd, kcmp, kexec_load/kexec_file_load, bpf,
 * keyctl add_key request_key, userfaultfd, perf_event_open, io_uring_setup/enter/register,
 * init/finit/delete_module, open_by_handle_at, name_to_handle_at, ioctl TIOCSTI and
 * TIOCLINUX, socket AF_VSOCK and AF_PACKET, and the host-administration calls (reboot,
 * swapon, swapoff, syslog, acct, settimeofday, clock_settime, iopl, ioperm, quotactl,
 * lookup_dcookie, chroot). Everything else is allowed.
 */

/* Sets PR_SET_NO_NEW_PRIVS and installs the filter on the calling thread (inherited by
 * children and across exec). Allocates nothing: async-signal-safe. 0 or an errno. */
int local_seccomp_apply(void);
/* Installs a second filter on the calling thread that hands every connect() (native
 * architecture) to a supervisor; returns its notification fd, or -errno (kernels before
 * 5.0, or a listener already above us). */
int local_seccomp_notify_connect(void);
/* How many instructions the filter has (for doctor and tests); -ENOSYS on an
 * architecture the filter does not know (apply then fails closed). */
int local_seccomp_len(void);

/* ---- landlock.c: the second wall --------------------------------------------------------
 *
 * Best effort by ABI version: file writes confined to a set of directories; abstract unix
 * sockets and signals scoped to the sandbox (ABI 6+). Reading and executing are left to
 * the mount view.
 */

/* The Landlock ABI version of this kernel; 0 when it has none or it is disabled. */
int local_landlock_abi(void);
/* Restricts the calling process and its future children: every write access the ABI
 * knows (write, truncate, make, remove, rename/link across directories, device ioctls) is
 * allowed only beneath the n directories of write (a missing one is skipped); with ABI 6+
 * also LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET and LANDLOCK_SCOPE_SIGNAL. Needs NO_NEW_PRIVS or
 * CAP_SYS_ADMIN in the current user namespace. Returns the ABI applied (> 0), 0 when the
 * kernel has no Landlock (nothing was done), or -errno. Async-signal-safe. */
int local_landlock_apply(const char *const *write, size_t n);
/* What an applied ABI gives, for sandbox_info: "ABI 7: writes confined; abstract unix
 * sockets and signals scoped to the sandbox"; "not available on this kernel" for 0. */
const char *local_landlock_describe(int abi);

/* ---- policy.c: the egress policy and the addresses always refused -------------------------
 *
 * OpenSandbox's egress model: a default (allow or deny) and rules {action, target}, judged
 * first-match. A target is a domain ("pypi.org"), a wildcard ("*.pythonhosted.org": its
 * subdomains, not the name itself), an IPv4 or IPv6 address, or a CIDR. Names compare
 * case-insensitively, without a trailing dot. A name is judged by domain rules first; when
 * none matches, by the address rules against each address it resolves to (net.c).
 *
 * The operator's ceiling (--local-egress) is a policy too: a sandbox's own policy may
 * narrow it, never widen it (npol_within), and a connection must pass both. Addresses
 * of this machine and its networks (loopback, RFC 1918, CGNAT, link-local, cloud metadata,
 * their IPv6 forms, ...) are refused whatever the sandbox's policy says, unless an address
 * rule of the ceiling names them (npol_opened).
 */

#define NPOL_RULES_MAX 4096 /* as OpenSandbox's egress sidecar */
#define NPOL_NAME_MAX  253

enum npol_kind { NPOL_DOMAIN, NPOL_WILDCARD, NPOL_ADDR };

struct npol_rule {
	bool allow;
	uint8_t kind;                   /* enum npol_kind */
	uint8_t family;                 /* NPOL_ADDR: AF_INET or AF_INET6 */
	uint8_t prefix;                 /* NPOL_ADDR: prefix length (32 / 128 for an address) */
	uint8_t addr[16];               /* NPOL_ADDR: network order, host bits cleared */
	char target[NPOL_NAME_MAX + 3]; /* normalized: lower case, no trailing dot */
};

struct npol {
	bool allow;              /* the default */
	struct npol_rule *rules; /* heap; first match wins */
	size_t n;
};

/* Rules live in an arena (a policy is replaced whole, never edited in place). */

/* Parses one target; 0, or -1 with a sentence in why naming it. */
int npol_target_parse(const char *s, bool allow, struct npol_rule *r, char *why, size_t cap);
/* p from a request's lists, deny rules first as OpenSandbox's PATCH writes them; the
 * default is the request's, else allow_default. */
int npol_from_lists(struct npol *p, bool allow_default, const struct net_policy *np,
    struct arena *a, struct err *e);
/* OpenSandbox's merge into *cur: the request's rules first, then the current ones whose
 * target the request does not name; the default changes only when the request has one.
 * replace drops the current rules (the default stays unless the request has one). */
int npol_merge(struct npol *cur, const struct net_policy *req, bool replace, struct arena *a,
    struct err *e);
/* The rules back as lists (strings in a). */
void npol_to_lists(const struct npol *p, struct net_policy *out, struct arena *a);
/* --local-egress: "allow", "deny", or a comma-separated list whose first item may be
 * allow or deny (the default; deny when the list has only targets) and whose targets are
 * allowed. 0, or ERR_INVAL with a sentence naming the flag. */
int npol_parse_flag(const char *spec, struct npol *out, struct arena *a, struct err *e);
/* 0 when req stays within ceiling (it may only narrow it); else a sentence naming the
 * first thing that would widen it and the flag (ERR_INVAL). Allowing an address that is
 * always refused counts as widening unless the ceiling opened it. */
int npol_within(const struct npol *ceiling, const struct npol *req, struct err *e);
/* As JSON {"default":"allow|deny","rules":[{"action","target"}...]} (meta.json, the
 * supervisor's configuration); reading also takes the old "allow"/"deny" string. */
struct jsonw;
struct json;
void npol_write_json(struct jsonw *w, const struct npol *p);
int npol_read_json(const struct json *j, struct npol *p, struct arena *a, struct err *e);
/* The first rule matching a name (NULL: none). */
const struct npol_rule *npol_match_name(const struct npol *p, const char *name);
/* The first address rule matching an address (NULL: none). */
const struct npol_rule *npol_match_addr(const struct npol *p, int family, const uint8_t *addr);
/* Whether an allowing address rule of p covers the address (the operator opened it). */
bool npol_opened(const struct npol *p, int family, const uint8_t *addr);
/* Why an address is always refused ("loopback", "private", "link-local", "cloud metadata",
 * ...), or NULL for a public one. IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms are
 * judged as the IPv4 address they carry. */
const char *npol_addr_class(int family, const uint8_t *addr);
/* Normalizes a name for matching (lower case, no trailing dot) into out; false when it is
 * not a host name (empty, too long, characters outside letters, digits, '-', '_', '.'). */
bool npol_name_norm(const char *name, char *out, size_t cap);
/* Formats an address (and port when > 0) as "1.2.3.4:80" or "[::1]:80". */
void npol_addr_str(int family, const uint8_t *addr, int port, char *out, size_t cap);

/* ---- dns.c: the messages of the sandbox's DNS server (RFC 1035) -------------------------
 *
 * The sandbox's resolver asks the supervisor's DNS server (net.c); these functions parse a
 * query and build its reply, and nothing else: the only compression written is a pointer
 * to the question, and the only records are A.
 */

#define DNS_HDR     12
#define DNS_UDP_MAX 512 /* a reply over UDP without EDNS */
#define DNS_T_A     1
#define DNS_T_AAAA  28
#define DNS_C_IN    1
enum { DNS_NOERROR, DNS_FORMERR, DNS_SERVFAIL, DNS_NXDOMAIN, DNS_NOTIMP, DNS_REFUSED };

struct dns_query {
	uint16_t id;
	uint16_t flags; /* as asked (RD and CD are echoed) */
	uint16_t qtype, qclass;
	int rcode;                    /* DNS_NOERROR: answer it; else reply with this error */
	char name[NPOL_NAME_MAX + 2]; /* lower case, dotted, no trailing dot; "" = the root */
	uint8_t qraw[NPOL_NAME_MAX + 2 + 4]; /* the question as asked (name as sent, case
						 * kept, uncompressed; type; class) */
	size_t qrawlen;                      /* 0 when there is no question to echo */
};

/* Parses a query. 0: q is filled and q->rcode says how to answer (FORMERR for a malformed
 * question, NOTIMP for an opcode other than QUERY or a count of questions other than one,
 * REFUSED for a name that is not a host name); -1: drop it (shorter than a header, or a
 * response). */
int dns_parse(const uint8_t *msg, size_t len, struct dns_query *q);
/* Writes the reply to q into out: its rcode and, for an A question, the IPv4 addresses
 * a4 (network order, 4 bytes each) with ttl. Answers that do not fit in cap are dropped
 * with TC set. Returns the length (0 when cap cannot hold a header). */
size_t dns_reply(const struct dns_query *q, int rcode, const uint8_t (*a4)[4], size_t na4,
    uint32_t ttl, uint8_t *out, size_t cap);

/* ---- httpreq.c: the head of a request to the sandbox's HTTP proxy ------------------------
 *
 * The proxy (net.c) takes CONNECT host:port (any port) and absolute-form http:// requests;
 * nothing else. These functions only parse and rewrite the head.
 */

#define HREQ_HEAD_MAX 16384

struct hreq {
	bool connect;                 /* CONNECT authority-form */
	char host[NPOL_NAME_MAX + 2]; /* lower case; an IPv6 literal without brackets */
	uint16_t port;                /* default 80 for http:// */
	size_t head_len;              /* bytes up to and including the empty line */
	int status;                   /* when malformed: 400, 405 (a method we do not take),
					 * 414, 431, 501 (https:// or other schemes) */
	const char *why;              /* when malformed: a short static sentence */
};

/* Parses the request head in buf (len bytes read so far). 1: a whole head, r filled; 0:
 * more bytes needed (len < HREQ_HEAD_MAX); -1: malformed or too long, r->status and r->why
 * set. */
int hreq_parse(const char *buf, size_t len, struct hreq *r);
/* The head of an absolute-form request rewritten for the origin server: origin-form
 * request target, Host from the URI, Proxy-Connection and Proxy-Authorization dropped,
 * Connection: close (one request per connection, so a second request cannot ride an
 * approved one). Returns the length written to out, or -1 when it does not fit in cap. */
long hreq_rewrite(const char *buf, const struct hreq *r, char *out, size_t cap);

/* ---- store.c: the state root, sandbox records ------------------------------------------ */

/* The supervisor's record, <dir>/sup.json. */
struct lsup {
	pid_t pid;
	unsigned long long start; /* /proc start time, against pid reuse */
	pid_t init_pid;
	unsigned long long init_start;
	struct lim_cg cg;
	int landlock_abi;
	struct lim lim;
	char memory_by[64], pids_by[64], cpu_by[64]; /* what enforces each limit */
};

#define LOCAL_HOST_PORTS_MAX 32
#define LOCAL_PINS_MAX       32
#define LOCAL_PROXY_PORT     3128 /* the relay's HTTP proxy, 127.0.0.1 inside */
#define LOCAL_STR_(x)        #x
#define LOCAL_STR(x)         LOCAL_STR_(x)
#define LOCAL_HOST_NAME      "host.internal" /* this machine's --local-host-port ports */

/* A --local-resolve NAME=ADDR. */
struct local_pin {
	char name[NPOL_NAME_MAX + 1]; /* normalized */
	int family;
	uint8_t addr[16];
};

/* The operator's network flags: the same for every sandbox of a server, and handed to
 * each supervisor (its configuration, and again with every policy change). */
struct local_netcfg {
	struct npol ceiling;                       /* --local-egress; rules in the owner's arena */
	uint16_t host_ports[LOCAL_HOST_PORTS_MAX]; /* --local-host-port */
	size_t nhost_ports;
	struct local_pin pins[LOCAL_PINS_MAX]; /* --local-resolve */
	size_t npins;
};

/* A file helper this server keeps for a sandbox (helper.c); pid 0 = none. */
#define LH_CACHE 8
struct lhelper {
	char id[LOCAL_ID_MAX];
	pid_t sup; /* the supervisor it belongs to */
	unsigned long long sup_start;
	pid_t pid;
	int sock;
	bool busy;     /* a call is using it */
	uint64_t used; /* for eviction, oldest first */
};

struct local {
	char root[PATH_MAX]; /* state root, absolute */
	bool isolate;
	uid_t uid; /* host ids of the sandbox user (U1's 0) */
	gid_t gid;
	unsigned in_uid;           /* its uid inside */
	char user[LOCAL_USER_MAX]; /* its name inside */
	char host_user[64];        /* the server's user (isolation none) */
	bool host_root;            /* the server runs as uid 0 */
	struct local_mount *mounts;
	size_t nmounts;
	struct local_netcfg net;
	struct arena *net_arena; /* the ceiling's rules */
	struct lim_host cg;      /* probed once, on first need (cg_mu) */
	bool cg_probed;
	pthread_mutex_t cg_mu;
	int64_t mem_total;
	pthread_mutex_t mu; /* lifelines */
	struct lline *lifelines;
	pthread_mutex_t sweep_mu;
	pthread_cond_t sweep_cv;
	pthread_t sweeper;
	bool sweeper_on, stop;
	pthread_mutex_t hmu; /* helpers (helper.c) */
	struct lhelper helpers[LH_CACHE];
	uint64_t hclock;
};

/* What this server holds for one sandbox: the server's end of an ephemeral sandbox's start
 * socket, and whether its supervisor has this server's network flags. */
struct lline {
	char id[LOCAL_ID_MAX];
	int fd;    /* -1: none */
	bool told; /* the supervisor has L->net */
	struct lline *next;
};

/* One sandbox as loaded; strings live in the arena given to the loader. */
struct lsb {
	char id[LOCAL_ID_MAX];
	char dir[PATH_MAX];
	bool isolate;    /* as the server is configured: never read from disk */
	struct npol net; /* the sandbox's own egress policy (rules in the arena) */
	bool paused;
	bool ephemeral;
	int64_t created_at, expires_at;           /* wall ms */
	const char *template_name, *cpu, *memory; /* as asked */
	struct lim lim;                           /* as enforced */
	const struct kv *env;
	size_t nenv;
	const struct kv *metadata;
	size_t nmetadata;
	bool has_sup;
	struct lsup sup;  /* from sup.json when has_sup */
	pid_t legacy_pid; /* an older version's init, from meta.json (to kill) */
	unsigned long long legacy_start;
};

bool store_id_ok(const char *id);
int store_notfound(struct err *e, const char *id);
void store_path(char *out, const struct lsb *sb, const char *sub);
/* Loads meta.json and sup.json; an expired sandbox is destroyed (ERR_NOTFOUND). */
int store_load(struct local *L, const char *id, struct arena *a, struct lsb *sb, struct err *e);
int store_meta_write(const struct lsb *sb, struct err *e);
typedef int (*store_fn)(struct local *L, struct lsb *cur, void *arg, struct err *e);
/* Read-modify-write of meta.json under the sandbox's lock; scalars go back to sb. */
int store_modify(struct local *L, struct lsb *sb, store_fn fn, void *arg, struct err *e);
int store_lock(const char *dir);
void store_unlock(int fd);
/* Renames dir to <root>/.trash-<id>-<rnd> under its lock; 0, or -1 when it is gone. */
int store_trash(const char *root, const char *dir, const char *id, char *trash);
int store_sup_read(const char *dir, struct lsup *s);
int store_sup_write(const char *dir, const struct lsup *s);
/* Removes name under dirfd recursively without following symlinks; 0 or an errno. */
int local_rmtree(int dirfd, const char *name);
/* Sorted names in a directory (not . and ..), heap; free with local_names_free. */
char **local_read_names(int dirfd, size_t *n);
void local_names_free(char **v, size_t n);
/* Whether dirfd/name is the root of a mount (never descend into one when removing). */
bool local_is_mount_root(int dirfd, const char *name);
unsigned long long local_pid_start(pid_t pid); /* 0 when gone or a zombie */
/* Fields first .. first+count-1 of /proc/PID/stat (numbered as in proc(5), from 3 on)
 * into out, and the state letter; 0, or -1 when the process is gone. */
int local_proc_stat(pid_t pid, int first, int count, unsigned long long *out, char *state);
/* What ps shows for the supervisor and init (their command line is the server's binary
 * re-executed): local_title_init once with main's argv, then local_title as often. */
void local_title_init(int argc, char **argv);
void local_title(const char *title);
/* Whether path is base or lies beneath it (both absolute and normalized). */
bool local_beneath(const char *path, const char *base);
bool local_pid_alive(pid_t pid, unsigned long long start);
/* Runs host-side file work with the sandbox user's fsuid (server as root only). */
int local_fs_enter(const struct local *L);
void local_fs_leave(const struct local *L, int token);

/* ---- wire.c: messages between server, supervisor and init -----------------------------
 *
 * Over SOCK_STREAM unix sockets: a fixed header, a payload of hdr.len bytes, and up to
 * WIRE_FDS_MAX descriptors sent with the header (SCM_RIGHTS). Readers are incremental so a
 * supervisor's single poll loop never blocks on one peer.
 */

#define WIRE_FDS_MAX     8
#define WIRE_MORE        (-2)
#define WIRE_PAYLOAD_MAX (8u << 20)

enum wire_type {
	/* server -> supervisor */
	W_CONF = 1,    /* payload = struct sup_conf as JSON (the first message) */
	W_EXEC,        /* a = WX_* flags; payload = cwd \0 command \0 env... (c = count);
			 * fds (foreground) = stdin, stdout, stderr */
	W_SIGNAL,      /* a = pid inside (negative: its process group), b = signal */
	W_STDIN_CLOSE, /* a = background pid */
	W_RELOAD,      /* re-read meta.json (expiry, network); payload (may be empty) = the
			 * server's network flags (struct local_netcfg as JSON) */
	W_NS,          /* reply carries the user and mount namespaces of commands */
	W_PAUSE,       /* a = 1 pause, 0 resume */
	W_SHUTDOWN,    /* kill the sandbox; reply once no process of it is left */
	/* supervisor -> server */
	W_STARTED, /* a = pid inside */
	W_FAILED,  /* a = step (STEP_*), b = errno; payload = detail (a path), may be empty */
	W_EXITED,  /* a = wait status; payload = the command's refused connections, one
			 * per line (may be empty) */
	W_DONE,    /* a = request-specific */
	/* supervisor -> init */
	I_SPAWN,  /* tag; a = WX_* flags; payload and fds as W_EXEC */
	I_SIGNAL, /* a = pid (negative: group), b = signal */
	/* init -> supervisor */
	I_READY,   /* a = landlock ABI; fds = user ns, mount ns (of commands), then O_PATH
			 * fds of /tmp, the home and /dev/shm (for the memory watch) */
	I_STARTED, /* tag; a = pid */
	I_FAILED,  /* tag (0: setup); a = step; b = errno; payload = detail */
	I_EXITED,  /* tag; a = pid; b = wait status */
	/* added with the network relay (numbers above stay as they were) */
	W_FORWARD, /* server -> supervisor: a = port inside; W_DONE a = port on 127.0.0.1 */
	I_NET,     /* init -> supervisor, right after I_READY: a = NETFD_* bits of the fds
			 * that follow, in bit order */
	I_SOCKET,  /* supervisor -> init: a = family, b = count (<= WIRE_FDS_MAX) */
	I_SOCKETS, /* init -> supervisor: a = family; fds = new TCP sockets inside */
	W_FILEOP,  /* server -> file helper: tag = mkparents, a = LH_* op, b = open flags,
			 * c = mode; payload = path \0; W_DONE answers with struct lh_rep, fd */
	W__MAX
};

enum {
	WX_BACKGROUND = 1, /* supervisor keeps the output (procs/<pid>/) */
};

/* The network fds init hands its supervisor (I_NET), by bit. */
enum {
	NETFD_NOTIF,   /* seccomp user notification listener (connect) */
	NETFD_RELAY4,  /* relay listener, 127.0.0.1:ephemeral */
	NETFD_RELAY6,  /* relay listener, [::1]:ephemeral */
	NETFD_DNS_UDP, /* 127.0.0.1:53 */
	NETFD_DNS_TCP,
	NETFD_PROXY, /* 127.0.0.1:LOCAL_PROXY_PORT */
	NETFD_NETNS, /* the sandbox's network namespace */
	NETFD__MAX
};

struct wire_hdr {
	uint32_t type, tag;
	int32_t a, b, c;
	uint32_t len; /* payload bytes that follow */
};

/* One message being read; zero-filled = empty. */
struct wire_in {
	struct wire_hdr h;
	size_t got;    /* header + payload bytes read so far */
	char *payload; /* h.len + 1 bytes (NUL-terminated), heap */
	int fds[WIRE_FDS_MAX];
	int nfds;
};

/* Sends one message (blocking; MSG_NOSIGNAL). 0 or an errno. */
int wire_send(int sock, uint32_t type, uint32_t tag, int32_t a, int32_t b, int32_t c,
    const void *payload, size_t len, const int *fds, int nfds);
/* Reads what sock has into r: 1 = a whole message is in r (take it, then wire_in_reset),
 * WIRE_MORE = more bytes are needed, 0 = the peer closed between messages, -1 = an
 * error or a broken message (errno set). Received fds are close-on-exec. */
int wire_read(struct wire_in *r, int sock);
/* Frees r's payload and closes the fds nobody took (set taken ones to -1 first). */
void wire_in_reset(struct wire_in *r);
/* The address of <dir>/sup.sock; a path too long for sun_path goes through
 * /proc/self/fd/<dirfd> (*dirfd is opened then and must be closed after bind/connect,
 * else it is -1). 0 or an errno. */
struct sockaddr_un;
int wire_addr(const char *dir, struct sockaddr_un *sa, socklen_t *len, int *dirfd);

/* Setup steps named in I_FAILED / W_FAILED and in errors. */
enum {
	STEP_NONE,
	STEP_CLONE,
	STEP_MAP,
	STEP_CGROUP,
	STEP_SETUID,
	STEP_PRIVATE,
	STEP_ROOTFS,
	STEP_BIND,
	STEP_ETC,
	STEP_DEV,
	STEP_PROC,
	STEP_SYS,
	STEP_TMPFS,
	STEP_MOUNT,
	STEP_RDONLY,
	STEP_PIVOT,
	STEP_VERIFY,
	STEP_USERNS2,
	STEP_LANDLOCK,
	STEP_RLIMIT,
	STEP_NETNS,
	STEP_SOCKET,
	STEP_INIT,
	STEP_FORK,
	STEP_CHDIR,
	STEP_EXEC,
	STEP_CAPS,
	STEP_SECCOMP,
	STEP_SESSION,
	STEP__MAX
};
const char *local_step_name(int step);

/* ---- rootfs.c: the sandbox's file system ----------------------------------------------- */

struct rootfs_plan {
	const char *hostname; /* the sandbox id */
	const char *user;     /* the sandbox user's name, uid/gid inside */
	unsigned in_uid;
	int ws_fd; /* O_PATH fd of <dir>/workspace, opened by init */
	const struct local_mount *mounts;
	const int *mount_fds; /* O_PATH fds of the mounts' host directories (init) */
	size_t nmounts;
	int64_t tmp_size, home_size, shm_size; /* tmpfs sizes in bytes */
};

struct rootfs_err {
	int step; /* STEP_* */
	int errnum;
	char detail[256]; /* the path involved, or "" */
};

/* Builds the sandbox's root in the caller's (new, private) mount namespace and pivots into
 * it; the caller holds every capability of its user namespace and is in a new PID namespace
 * (the fresh /proc is of it). Layout: a tmpfs /, read-only nosuid nodev binds of /usr and
 * /bin /sbin /lib* (or their usr-merge symlinks), a tmpfs /etc holding generated passwd,
 * group, hostname and hosts plus read-only binds of an allowlist, /workspace, tmpfs /tmp and
 * /home/<user>, a minimal /dev (null zero full random urandom tty, pts, a sized shm), a fresh
 * /proc with the dangerous files masked, /sys read-only, the operator's mounts. Read-only is
 * recursive (mount_setattr, or a remount of every submount where it is missing). Returns 0
 * or an errno with re filled. */
int rootfs_build(const struct rootfs_plan *p, struct rootfs_err *re);
/* Reads /proc/self/mountinfo and fails closed: every mount but /workspace, /tmp,
 * /home/<user>, /dev/shm, /dev/pts, /proc and the read-write operator mounts must be
 * read-only. 0 or EROFS-style failure (EPERM) with re->detail naming the mount. */
int rootfs_verify(const struct rootfs_plan *p, struct rootfs_err *re);
/* The writable directories (for Landlock), NULL-terminated, valid while p is. */
size_t rootfs_writable(const struct rootfs_plan *p, const char **out, size_t cap, char *home,
    size_t homecap);

/* ---- init.c: pid 1 of a sandbox --------------------------------------------------------- */

struct init_conf {
	bool isolate;
	int chan; /* socket to the supervisor */
	int go;   /* read end: one byte once the maps are written */
	struct rootfs_plan fs;
	struct lim lim;
	const char *ws_host; /* <dir>/workspace on this machine */
};

/* The clone entry (isolation namespaces) and the fork entry (none); never returns. */
int init_main(void *conf);

/* ---- output.c: a background process's output on disk ------------------------------------ */

#define BG_HEAD_MAX (8u << 20) /* background output kept from the start */
#define BG_TAIL_MAX (8u << 20) /* and from the end */

#define LOCAL_PIPE_BULK (1 << 20) /* the pipe of a stream that writes a lot */

/* Grows the pipe fd to LOCAL_PIPE_BULK bytes, or a quarter of that, where the kernel lets
 * us; else it keeps its size (quietly: /proc/sys/fs/pipe-max-size, and for an ordinary
 * user the per-user pipe-buffer soft limit, may refuse). Grow only the pipes of streams
 * that proved bulky: the buffers count against the user who made the pipe, and past the
 * soft limit every new pipe of that user gets a single page. Returns the capacity. */
int local_pipe_grow(int fd);
/* The writer's side (the supervisor): the files of one record, and how much was written. */
struct outrec {
	int headfd, tailfd, totalfd;
	uint64_t total;
};

/* Creates out, tail and total in the record directory dirfd. 0 or an errno. */
int outrec_create(int dirfd, struct outrec *o);
/* Appends n bytes of the stream (keeping the first BG_HEAD_MAX and the last BG_TAIL_MAX). */
void outrec_append(struct outrec *o, const char *p, size_t n);
void outrec_close(struct outrec *o);
/* The supervisor's record of a background process. */
struct bgrec {
	pid_t pid; /* inside the sandbox, 0 until started */
	int out;   /* read end of its stdout+stderr pipe, -1 at EOF */
	int keep;  /* our write end of its stdin FIFO, -1 once closed */
	int dirfd; /* its record directory */
	char dir[PATH_MAX];
	struct outrec rec;
	char *command; /* for info.json (heap) */
	bool exited;
	int status; /* wait status, once exited */
	struct bgrec *next;
};

/* A new record <sdir>/procs/new-XXXXXX with its stdin FIFO and output pipe; fds gets the
 * command's stdin, stdout and stderr (close them once handed on). NULL with *err set. */
struct bgrec *bgrec_new(const char *sdir, int fds[3], int *err);
/* The process started as pid: writes info.json and renames the record to procs/<pid>. */
void bgrec_started(struct bgrec *b, const char *sdir, pid_t pid);
/* Moves what the pipe has into the record (bounded per call); closes it at EOF. */
void bgrec_drain(struct bgrec *b);
/* Writes `exit` from b->status. */
void bgrec_exit(struct bgrec *b);
void bgrec_free(struct bgrec *b);
/* The reader's side: how many bytes the stream has had, or -1 when dir holds no record. */
int64_t outrec_total(const char *dir);
/* Appends the stream's bytes [offset, offset + max) to out (what fell out between the head
 * and the ring becomes a one-line marker); *next gets the offset to read from next time.
 * ERR_INVAL past the end. */
int outrec_read(const char *dir, uint64_t offset, size_t max, struct buf *out, uint64_t *next,
    struct err *e);

/* ---- net.c, judge.c, relay.c, dnsd.c, proxy.c: the sandbox's network, from its supervisor
 *
 * A sandbox has its own network namespace with loopback only; init made its listeners
 * (I_NET) and its commands run under a seccomp filter that hands every connect() to us.
 * Here, in the host's namespace: a connect to loopback goes on inside; TCP elsewhere is
 * judged (policy.c: the sandbox's policy within the operator's ceiling, always-refused
 * addresses checked after resolution) and, when allowed, the app's own socket is connected
 * to the relay listener inside while we connect out, then bytes are spliced between the
 * two; refused, connect() fails with EACCES and the refusal is recorded. UDP to port 53
 * goes to our DNS server; other UDP is refused. The DNS server answers A queries with
 * addresses from 198.18.0.0/15 that map back to names (real resolution, on threads, only
 * for names the policy may allow); the HTTP proxy (CONNECT and absolute-form http) is
 * judged the same way. Refusals are attributed to the command whose session made them.
 */

/* Takes init's network fds (I_NET; taken ones are set to -1 in r); chan is init's socket
 * (for I_SOCKET); logf writes the supervisor's log. Without a notification fd only DNS and
 * the proxy work (a kernel before 5.0, or a filter that already has a listener). 0 or an
 * errno. */
int net_start(struct wire_in *r, int chan, const char *dir, const struct local_netcfg *cfg,
    const struct npol *policy, void (*logf)(const char *fmt, ...));
/* The fd to poll (POLLIN) for net_run, and how long poll may sleep for its timers (-1:
 * forever). */
int net_poll_fd(void);
int net_timeout_ms(void);
void net_run(void);
/* A new policy or new flags (W_RELOAD): applies to new connections at once, and open
 * connections it now refuses are closed. cfg may be NULL (unchanged). Copies both. */
void net_reload(const struct local_netcfg *cfg, const struct npol *policy);
/* init's I_SOCKETS. */
void net_sockets(struct wire_in *r);
/* A host port on 127.0.0.1 forwarding to port inside (made once per port); 0 or -errno. */
int net_forward(int port);
/* Moves the refusals of the command whose session is sid (its pid inside) into out, one
 * per line, and forgets them. */
void net_take_denied(pid_t sid, struct buf *out);
/* A background command started: its refusals go to procs/<pid>/network_denied too. */
void net_watch_bg(pid_t pid, int dirfd);
void net_unwatch_bg(pid_t pid);

/* ---- conf.c and supervisor.c: the host side of a sandbox -------------------------------- */

/* What the server hands a new supervisor (JSON over the start socket). */
struct sup_conf {
	char id[LOCAL_ID_MAX];
	char root[PATH_MAX]; /* state root */
	char dir[PATH_MAX];  /* the sandbox directory */
	bool isolate;
	unsigned long host_uid, host_gid; /* U1's 0 */
	unsigned in_uid;                  /* the sandbox user inside */
	char user[LOCAL_USER_MAX];
	struct local_mount mounts[LOCAL_MOUNTS_MAX];
	size_t nmounts;
	struct lim lim;
	struct lim_host cg;
	struct local_netcfg net; /* ceiling rules in net_arena (decode makes it) */
	struct arena *net_arena;
	bool ephemeral; /* killed and removed when the start socket closes */
};

int supconf_encode(const struct sup_conf *c, struct buf *out);
/* The network flags alone (W_RELOAD's payload). */
int netcfg_encode(const struct local_netcfg *n, struct buf *out);
int netcfg_decode(const char *json, size_t len, struct local_netcfg *n, struct arena *a,
    struct err *e);
int supconf_decode(const char *json, size_t len, struct sup_conf *c, struct err *e);

/* ---- spawn.c: the server's side of a supervisor ---------------------------------------- */

/* Starts the sandbox's supervisor (and so its init) and waits until it is ready or failed;
 * fills sb->sup. For an ephemeral sandbox *lifeline gets the server's end of the start
 * socket (keep it open for as long as the sandbox should live), else it is -1. */
int spawn_supervisor(struct local *L, struct lsb *sb, int *lifeline, struct err *e);
/* spawn_supervisor, keeping an ephemeral sandbox's lifeline in L (call with sb's lock). */
int spawn_start(struct local *L, struct lsb *sb, struct err *e);
/* Makes sure the supervisor runs (starting a new one after a reboot or a crash). */
int spawn_ready(struct local *L, struct lsb *sb, struct err *e);
/* Connects to the sandbox's supervisor. Returns the socket or -1 with e set. */
int spawn_connect(struct local *L, struct lsb *sb, struct call *c, struct err *e);
/* Waits for one message on sock until call's deadline/cancel (or wait_ms when >= 0).
 * 1 = message in r, 0 = peer closed; otherwise an ERR_* code with e set. */
int spawn_recv(int sock, struct wire_in *r, struct call *c, int wait_ms, struct err *e);
/* A request with one W_DONE/W_FAILED answer: a W_DONE lands in reply (wire_in_reset it);
 * W_FAILED becomes an error sentence. */
int spawn_request(struct local *L, struct lsb *sb, uint32_t type, int32_t a, int32_t b,
    const void *payload, size_t len, struct wire_in *reply, struct call *c, struct err *e);
/* spawn_request without a payload; fds_out (may be NULL) takes received fds. */
int spawn_simple(struct local *L, struct lsb *sb, uint32_t type, int32_t a, int32_t b, int *fds_out,
    int nfds_out, struct call *c, struct err *e);
/* Whether this machine has what local sandboxes are made of (/usr and a shell); else
 * ERR_UNSUPPORTED with a sentence pointing to the platform backends. */
int spawn_host_ok(struct err *e);
/* An error sentence for a failed setup step (namespaces unavailable and why, and so on). */
int spawn_step_error(struct err *e, const char *id, int step, int errnum, const char *detail);

/* ---- exec.c, process.c, helper.c, files.c, lifecycle.c: the ops ------------------------ */

int local_create(struct backend *b, const struct sb_create *req, struct sb_info *out,
    struct call *c, struct err *e);
int local_list(struct backend *b, const struct sb_list_req *req, struct sb_list *out,
    struct call *c, struct err *e);
int local_info(struct backend *b, const char *id, struct sb_info *out, struct call *c,
    struct err *e);
int local_kill(struct backend *b, const char *id, struct call *c, struct err *e);
int local_pause(struct backend *b, const char *id, struct call *c, struct err *e);
int local_resume(struct backend *b, const char *id, struct call *c, struct err *e);
int local_set_timeout(struct backend *b, const char *id, int64_t timeout_s, int64_t *expires_at,
    struct call *c, struct err *e);
int local_url(struct backend *b, const char *id, int port, struct sb_url *out, struct call *c,
    struct err *e);
int local_metrics(struct backend *b, const char *id, struct sb_metrics *out, struct call *c,
    struct err *e);
int local_net_get(struct backend *b, const char *id, struct net_policy *out, struct call *c,
    struct err *e);
int local_net_set(struct backend *b, const char *id, const struct net_policy *req, bool replace,
    struct net_policy *out, struct call *c, struct err *e);

/* helper.c: path operations inside a sandbox. */
enum { LH_OPEN = 1, LH_MKDIRP, LH_LSTAT };

struct lh_req {
	int op;
	const char *path; /* as the sandbox sees it (relative = under the workspace) */
	int flags;
	mode_t mode;
	bool mkparents;
};

struct lh_rep {
	int err;  /* errno, 0 ok */
	int step; /* non-zero: entering the sandbox failed at this step */
	bool created;
	struct stat st;
	int linklen;
	char link[PATH_MAX];
};

/* Runs rq inside sb (or in-process relative to basefd with isolation none); *fd gets the
 * opened fd or -1; rp->err the errno of the operation. Thread-safe. */
int local_helper(struct local *L, struct lsb *sb, int basefd, const struct lh_req *rq,
    struct lh_rep *rp, int *fd, struct call *c, struct err *e);
/* Ends the helpers this server keeps for sandbox id (NULL: all of them). */
void local_helpers_drop(struct local *L, const char *id);

/* write() that turns SIGPIPE into EPIPE for the calling thread only. */
ssize_t local_write_nosig(int fd, const void *p, size_t n);
/* The non-empty lines of text, as strings in a (NULL-terminated); *n gets their count. */
const char **local_split_lines(const char *text, size_t len, struct arena *a, size_t *n);
int local_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn,
    void *arg, struct exec_result *res, struct call *c, struct err *e);
int local_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n,
    struct call *c, struct err *e);
int local_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c, struct err *e);
int local_proc_stdin(struct backend *b, const char *id, const char *pid, const char *data,
    size_t len, bool close_stdin, struct call *c, struct err *e);
int local_proc_kill(struct backend *b, const char *id, const char *pid, int signo, struct call *c,
    struct err *e);

int local_file_read(struct backend *b, const char *id, const char *path, uint64_t offset,
    size_t max_bytes, struct buf *out, int64_t *size, struct call *c, struct err *e);
int local_file_write(struct backend *b, const char *id, const char *path, const void *data,
    size_t len, uint32_t mode, struct call *c, struct err *e);
int local_file_list(struct backend *b, const char *id, const char *path, int depth,
    struct file_list *out, struct call *c, struct err *e);
int local_file_stat(struct backend *b, const char *id, const char *path, struct file_entry *out,
    struct call *c, struct err *e);
int local_file_mkdir(struct backend *b, const char *id, const char *path, bool *created,
    struct call *c, struct err *e);
int local_file_move(struct backend *b, const char *id, const char *src, const char *dst,
    struct call *c, struct err *e);
int local_file_remove(struct backend *b, const char *id, const char *path, bool *removed,
    struct call *c, struct err *e);
int local_file_search(struct backend *b, const char *id, const char *path, const char *pattern,
    struct file_search *out, struct call *c, struct err *e);

#endif
