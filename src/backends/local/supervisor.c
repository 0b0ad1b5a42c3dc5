/*
 * supervisor.c -- the host side of one sandbox, for as long as the sandbox lives.
 *
 * The server starts it as `sandbox-mcp __local-supervisor FD` (spawn.c) with an empty
 * environment; FD is the start socket, over which the server sends the configuration
 * (W_CONF) and gets W_DONE or W_FAILED back. The supervisor then:
 *   - creates the sandbox's cgroups (limits.c) and clones init (init.c) into new user,
 *     mount, PID, IPC, UTS and network namespaces, writes its uid/gid maps and moves it into the
 *     cgroups before letting it build the sandbox;
 *   - serves <dir>/sup.sock: exec requests (a foreground command's three fds pass straight
 *     through to init; a background command's output is drained here into procs/<pid>/,
 *     capped at BG_HEAD_MAX + BG_TAIL_MAX bytes), signals, stdin close, pause, namespaces
 *     for file operations, shutdown;
 *   - runs the sandbox's network (net.c): the relay every connection out goes through, its
 *     DNS server and HTTP proxy, and sandbox_url's forwards in;
 *   - kills the sandbox when it expires (it removes the directory too), when the start
 *     socket of an ephemeral sandbox closes (the server died, SIGKILL included), or on
 *     W_SHUTDOWN; and on its own, without cgroups, kills the largest process when the
 *     sandbox's memory passes its limit (counted in <dir>/oom).
 * A foreground command whose requester disconnects is killed (the server went away).
 *
 * One thread (the network's resolution, judge.c, adds short-lived threads that only run
 * getaddrinfo), one poll loop; every socket is non-blocking on the read side and messages
 * are parsed incrementally (wire.c), so no peer can stall the others.
 */
#include "backends/local/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json/json.h"
#include "json/jsonw.h"
#include "util/mem.h"
#include "util/time.h"

#define SUP_READY_MS     20000
#define SUP_TICK_MS      100  /* memory watch of a sandbox with processes */
#define SUP_IDLE_TICK_MS 1000 /* ... and of an idle one */
#define SUP_CLIENTS_MAX  256
#define SUP_LOG_MAX      (1024 * 1024)

struct client {
	int fd;
	struct wire_in rd;
	struct client *next;
};

/* A request in flight at init, by tag. */
struct pending {
	uint32_t tag;
	struct client *cl; /* NULL once the requester left */
	struct bgrec *bg;  /* background: its record */
	pid_t pid;         /* once started */
	bool fg;
	struct pending *next;
};

struct sup {
	struct sup_conf c;
	int start; /* the start socket (lifeline of an ephemeral sandbox) */
	int lsock;
	int chan; /* to init */
	int sfd;  /* signalfd */
	int logfd;
	pid_t init;
	struct wire_in ird;
	struct wire_in netmsg; /* init's I_NET, until net_start takes it */
	struct client *clients;
	size_t nclients;
	struct pending *pend;
	struct bgrec *bgs;
	uint32_t next_tag;
	int nsfd[2];  /* user and mount namespace of commands */
	int memfd[3]; /* /tmp, home, /dev/shm of the sandbox (O_PATH) */
	struct lsup rec;
	int64_t expires_at;
	bool mem_watch;
	int tick_ms;
	int64_t watched; /* when the memory watch last ran (monotonic ms) */
	int64_t oom_count;
};

static struct sup S;

/* ---- log ------------------------------------------------------------------------------- */

static void __attribute__((format(printf, 1, 2))) slog(const char *fmt, ...)
{
	char line[512], when[40];
	va_list ap;
	int n;

	if (S.logfd < 0)
		return;
	time_format_rfc3339(time_wall_ms(), when, sizeof(when));
	n = snprintf(line, sizeof(line), "%s ", when);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)write(S.logfd, line, (size_t)n);
}

static void
log_open(void)
{
	char path[PATH_MAX];
	struct stat st;

	S.logfd = -1;
	if (snprintf(path, sizeof(path), "%s/supervisor.log", S.c.dir) >= (int)sizeof(path))
		return;
	S.logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (S.logfd >= 0 && fstat(S.logfd, &st) == 0 && st.st_size > SUP_LOG_MAX)
		(void)ftruncate(S.logfd, 0);
}

/* ---- background records ------------------------------------------------------------ */

/* Unlinks b from the list when it is done: exited and its output drained. */
static void
bg_gc(void)
{
	struct bgrec **pp = &S.bgs, *b;

	while ((b = *pp) != NULL) {
		if (b->exited && b->out < 0) {
			*pp = b->next;
			net_unwatch_bg(b->pid);
			bgrec_free(b);
		} else {
			pp = &b->next;
		}
	}
}

static struct bgrec *
bg_find(pid_t pid)
{
	for (struct bgrec *b = S.bgs; b != NULL; b = b->next)
		if (b->pid == pid && pid > 0)
			return b;
	return NULL;
}

/* ---- clients and requests ------------------------------------------------------------- */

static void
reply(struct client *cl, uint32_t type, int32_t a, int32_t b, const char *detail, const int *fds,
    int nfds)
{
	size_t len = detail != NULL ? strlen(detail) : 0;

	if (cl != NULL && cl->fd >= 0 &&
	    wire_send(cl->fd, type, 0, a, b, 0, detail, len, fds, nfds) != 0)
		slog("a client did not take a reply: %s", strerror(errno));
}

static struct pending *
pend_add(struct client *cl, bool fg, struct bgrec *b)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->tag = ++S.next_tag;
	if (p->tag == 0)
		p->tag = ++S.next_tag;
	p->cl = cl;
	p->fg = fg;
	p->bg = b;
	p->next = S.pend;
	S.pend = p;
	return p;
}

static struct pending *
pend_find(uint32_t tag)
{
	for (struct pending *p = S.pend; p != NULL; p = p->next)
		if (p->tag == tag)
			return p;
	return NULL;
}

static void
pend_del(struct pending *x)
{
	for (struct pending **pp = &S.pend; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			free(x);
			return;
		}
	}
}

/* The payload's command (cwd \0 command \0 ...), for info.json. */
static const char *
payload_command(const struct wire_in *r)
{
	size_t n = strnlen(r->payload, r->h.len);

	return n + 1 < r->h.len ? r->payload + n + 1 : "";
}

static void
do_exec(struct client *cl, struct wire_in *r)
{
	bool bgr = (r->h.a & WX_BACKGROUND) != 0;
	struct pending *p;
	struct bgrec *b = NULL;
	int fds[3], err = 0;

	if (bgr) {
		b = bgrec_new(S.c.dir, fds, &err);
		if (b == NULL) {
			reply(cl, W_FAILED, STEP_INIT, err, "procs", NULL, 0);
			return;
		}
	} else {
		if (r->nfds != 3) {
			reply(cl, W_FAILED, STEP_INIT, EPROTO, NULL, NULL, 0);
			return;
		}
		memcpy(fds, r->fds, sizeof(fds));
	}
	p = pend_add(cl, !bgr, b);
	if (wire_send(S.chan, I_SPAWN, p->tag, r->h.a, 0, r->h.c, r->payload, r->h.len, fds, 3) !=
	    0) {
		reply(cl, W_FAILED, STEP_INIT, errno, "init", NULL, 0);
		pend_del(p);
		if (b != NULL) {
			local_rmtree(AT_FDCWD, b->dir);
			bgrec_free(b);
		}
	} else if (b != NULL) {
		const char *cmd = payload_command(r);

		b->command = xstrndup(cmd, strnlen(cmd, 4096));
		b->next = S.bgs;
		S.bgs = b;
	}
	if (bgr) {
		close(fds[0]);
		close(fds[1]);
	}
}

static void do_pause(struct client *cl, bool on);
static void read_meta(const char *netcfg, size_t len);
static void sandbox_kill(void);

static void
handle_client(struct client *cl, struct wire_in *r)
{
	struct bgrec *b;

	switch (r->h.type) {
	case W_EXEC:
		do_exec(cl, r);
		break;
	case W_SIGNAL:
		wire_send(S.chan, I_SIGNAL, 0, r->h.a, r->h.b, 0, NULL, 0, NULL, 0);
		reply(cl, W_DONE, 0, 0, NULL, NULL, 0);
		break;
	case W_STDIN_CLOSE:
		b = bg_find(r->h.a);
		if (b != NULL && b->keep >= 0) {
			int fd = openat(b->dirfd, "stdin_closed", O_WRONLY | O_CREAT | O_CLOEXEC,
			    0600);

			if (fd >= 0)
				close(fd);
			close(b->keep);
			b->keep = -1;
		}
		reply(cl, W_DONE, b != NULL, 0, NULL, NULL, 0);
		break;
	case W_RELOAD:
		read_meta(r->h.len > 0 ? r->payload : NULL, r->h.len);
		reply(cl, W_DONE, 0, 0, NULL, NULL, 0);
		break;
	case W_FORWARD:
		reply(cl, W_DONE,
		    S.c.isolate && r->h.a > 0 && r->h.a < 65536 ? net_forward(r->h.a) : -EINVAL, 0,
		    NULL, NULL, 0);
		break;
	case W_NS:
		reply(cl, W_DONE, 0, 0, NULL, S.nsfd, S.nsfd[0] >= 0 ? 2 : 0);
		break;
	case W_PAUSE:
		do_pause(cl, r->h.a != 0);
		break;
	case W_SHUTDOWN:
		slog("shutting down on request");
		sandbox_kill();
		reply(cl, W_DONE, 0, 0, NULL, NULL, 0);
		limits_cg_destroy(&S.rec.cg, 2000);
		_exit(0);
	default:
		reply(cl, W_FAILED, STEP_NONE, EPROTO, NULL, NULL, 0);
		break;
	}
}

static void
client_close(struct client *cl)
{
	struct client **pp;

	/* Its foreground commands go with it: the server that wanted them is gone. */
	for (struct pending *p = S.pend; p != NULL; p = p->next) {
		if (p->cl != cl)
			continue;
		if (p->fg && p->pid > 0)
			wire_send(S.chan, I_SIGNAL, 0, -p->pid, SIGKILL, 0, NULL, 0, NULL, 0);
		p->cl = NULL;
	}
	for (pp = &S.clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	wire_in_reset(&cl->rd);
	close(cl->fd);
	free(cl);
	S.nclients--;
}

static void
client_read(struct client *cl)
{
	int rc;

	while ((rc = wire_read(&cl->rd, cl->fd)) == 1) {
		handle_client(cl, &cl->rd);
		wire_in_reset(&cl->rd);
	}
	if (rc != WIRE_MORE)
		client_close(cl);
}

static void
accept_clients(void)
{
	for (;;) {
		struct ucred cr;
		socklen_t len = sizeof(cr);
		struct client *cl;
		int fd = accept4(S.lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			return;
		/* The socket sits in a 0700 directory; check the peer anyway. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
		    (cr.uid != 0 && cr.uid != getuid()) || S.nclients >= SUP_CLIENTS_MAX) {
			close(fd);
			continue;
		}
		cl = xcalloc(1, sizeof(*cl));
		cl->fd = fd;
		cl->next = S.clients;
		S.clients = cl;
		S.nclients++;
	}
}

/* ---- init's reports ------------------------------------------------------------------ */

static void
handle_init(struct wire_in *r)
{
	struct pending *p;

	if (r->h.type == I_SOCKETS) {
		net_sockets(r);
		return;
	}
	if ((p = pend_find(r->h.tag)) == NULL)
		return;
	switch (r->h.type) {
	case I_STARTED:
		p->pid = r->h.a;
		S.tick_ms = SUP_TICK_MS; /* watch a new command closely from its start */
		if (p->bg != NULL) {
			bgrec_started(p->bg, S.c.dir, r->h.a);
			net_watch_bg(r->h.a, p->bg->dirfd);
		}
		reply(p->cl, W_STARTED, r->h.a, 0, NULL, NULL, 0);
		break;
	case I_FAILED:
		reply(p->cl, W_FAILED, r->h.a, r->h.b, r->payload, NULL, 0);
		if (p->bg != NULL) {
			struct bgrec *b = p->bg;

			for (struct bgrec **pp = &S.bgs; *pp != NULL; pp = &(*pp)->next) {
				if (*pp == b) {
					*pp = b->next;
					break;
				}
			}
			local_rmtree(AT_FDCWD, b->dir);
			bgrec_free(b);
		}
		pend_del(p);
		break;
	case I_EXITED:
		if (p->bg != NULL) {
			p->bg->exited = true;
			p->bg->status = r->h.b;
			bgrec_drain(p->bg);
			bgrec_exit(p->bg);
			if (p->bg->keep >= 0) {
				close(p->bg->keep);
				p->bg->keep = -1;
			}
		} else {
			struct buf denied = { 0 };

			/* What the command tried and was refused goes back with its status. */
			net_take_denied(r->h.a, &denied);
			buf_putc(&denied, '\0', NULL);
			reply(p->cl, W_EXITED, r->h.b, 0, denied.p, NULL, 0);
			buf_fini(&denied);
		}
		pend_del(p); /* a finished record is freed by the loop, after its poll set */
		break;
	default:
		break;
	}
}

/* ---- pause, memory watch, kill ------------------------------------------------------- */

struct sig_walk {
	int sig;
	pid_t skip;
	size_t sent;
};

static int
sig_one(pid_t pid, void *arg)
{
	struct sig_walk *w = arg;

	if (pid != w->skip && kill(pid, w->sig) == 0)
		w->sent++;
	return 0;
}

static void
do_pause(struct client *cl, bool on)
{
	struct err e = { 0 };

	if (S.rec.cg.freezer[0] != '\0' || (S.rec.cg.mode == LIM_CG_V2 && S.rec.cg.memory[0])) {
		if (limits_cg_freeze(&S.rec.cg, on, &e) == 0) {
			reply(cl, W_DONE, 1, 0, NULL, NULL, 0);
			return;
		}
		slog("freezer: %s; stopping processes instead", e.msg);
	}
	/* Several passes: a process may fork while we stop its siblings. */
	for (int pass = 0; pass < (on ? 8 : 1); pass++) {
		struct sig_walk w = { on ? SIGSTOP : SIGCONT, S.init, 0 };

		limits_tree_walk(S.init, 65536, sig_one, &w);
		if (w.sent == 0)
			break;
		poll(NULL, 0, 10);
	}
	reply(cl, W_DONE, 0, 0, NULL, NULL, 0);
}

/* Without a memory cgroup: past the limit, the largest process is killed, as the kernel's
 * OOM killer would in a cgroup, and counted in <dir>/oom for exec's note. */
static void
mem_watch(void)
{
	char num[32], path[PATH_MAX];
	int64_t used, top;
	size_t nprocs;
	pid_t victim = limits_memory_over(S.init, S.c.lim.memory, S.memfd, 3, &used, &top, &nprocs);
	int fd, n;

	/* An idle sandbox (init alone) is looked at once a second, a busy one ten times. */
	S.tick_ms = nprocs > 0 ? SUP_TICK_MS : SUP_IDLE_TICK_MS;
	if (victim <= 0 || kill(victim, SIGKILL) < 0)
		return;
	S.oom_count++;
	slog("memory %lld > limit %lld: killed process %d (%lld bytes)", (long long)used,
	    (long long)S.c.lim.memory, (int)victim, (long long)top);
	if (snprintf(path, sizeof(path), "%s/oom", S.c.dir) >= (int)sizeof(path))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	n = snprintf(num, sizeof(num), "%lld\n", (long long)S.oom_count);
	(void)write(fd, num, (size_t)n);
	close(fd);
}

/* Kills every process of the sandbox and waits for init (the PID namespace dies with it). */
static void
sandbox_kill(void)
{
	int64_t dl = deadline_in_ms(5000);

	if (S.rec.cg.freezer[0] != '\0' || S.rec.cg.mode == LIM_CG_V2) {
		struct err e = { 0 };

		limits_cg_freeze(&S.rec.cg, false, &e);
	}
	if (!S.c.isolate && S.init > 0) {
		/* No PID namespace to end: init, a subreaper, kills its descendants when its
		 * socket closes (init.c); only then may it go, or they would lose their reaper. */
		close(S.chan);
		S.chan = -1;
		while (!deadline_passed(dl)) {
			pid_t r = waitpid(S.init, NULL, WNOHANG);

			if (r == S.init || (r < 0 && errno == ECHILD)) {
				S.init = 0; /* reaped: its pid may belong to another now */
				break;
			}
			poll(NULL, 0, 5);
		}
		if (S.init > 0) {
			struct sig_walk w = { SIGKILL, 0, 0 };

			limits_tree_walk(S.init, 65536, sig_one, &w);
		}
	}
	if (S.init > 0)
		kill(S.init, SIGKILL);
	limits_cg_kill(&S.rec.cg, 2000);
	while (S.init > 0 && !deadline_passed(dl)) {
		pid_t r = waitpid(S.init, NULL, WNOHANG);

		if (r == S.init || (r < 0 && errno == ECHILD)) {
			S.init = 0;
			break;
		}
		poll(NULL, 0, 5);
	}
}

/* The sandbox is over (expired, or its ephemeral server died): kill and remove it. */
static void __attribute__((noreturn)) sandbox_end(const char *why)
{
	char trash[PATH_MAX];
	bool moved;

	slog("ending the sandbox: %s", why);
	moved = store_trash(S.c.root, S.c.dir, S.c.id, trash) == 0;
	sandbox_kill();
	limits_cg_destroy(&S.rec.cg, 2000);
	if (moved)
		local_rmtree(AT_FDCWD, trash);
	_exit(0);
}

/* ---- start ----------------------------------------------------------------------------- */

static int
listen_sock(void)
{
	struct sockaddr_un sa;
	socklen_t len;
	int dirfd, fd, rc;

	if ((rc = wire_addr(S.c.dir, &sa, &len, &dirfd)) != 0)
		return -rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		rc = errno;
	else {
		unlink(sa.sun_path);
		if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 64) < 0) {
			rc = errno;
			close(fd);
			fd = -1;
		}
	}
	if (dirfd >= 0)
		close(dirfd);
	return fd >= 0 ? fd : -rc;
}

static int
write_map(pid_t pid, const char *file, const char *text)
{
	char path[64];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT && file[0] == 's' ? 0 : errno; /* setgroups: old kernels */
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		rc = errno != 0 ? errno : EIO;
	close(fd);
	return rc;
}

static void
describe_limits(void)
{
	const struct lim *l = &S.c.lim;
	const struct lim_cg *cg = &S.rec.cg;
	const char *ver = cg->mode == LIM_CG_V2 ? "cgroup v2" : "cgroup v1";

	S.rec.lim = *l;
	if (cg->memory[0] != '\0')
		snprintf(S.rec.memory_by, sizeof(S.rec.memory_by), "%s", ver);
	else if (l->memory > 0)
		snprintf(S.rec.memory_by, sizeof(S.rec.memory_by), "the supervisor's memory watch");
	if (cg->pids[0] != '\0')
		snprintf(S.rec.pids_by, sizeof(S.rec.pids_by), "%s", ver);
	else if (l->pids > 0)
		snprintf(S.rec.pids_by, sizeof(S.rec.pids_by), "RLIMIT_NPROC");
	if (cg->cpu[0] != '\0')
		snprintf(S.rec.cpu_by, sizeof(S.rec.cpu_by), "%s", ver);
	else if (l->cpu_milli > 0)
		snprintf(S.rec.cpu_by, sizeof(S.rec.cpu_by), "not enforced (no cpu cgroup)");
	S.mem_watch = l->memory > 0 && cg->memory[0] == '\0';
}

/* One whole message from init into r, waiting until dl; 0 or an errno. */
static int
init_msg(struct wire_in *r, int64_t dl)
{
	for (;;) {
		struct pollfd pf = { S.chan, POLLIN, 0 };
		int pr = poll(&pf, 1, deadline_left_ms(dl)), rc;

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return ETIMEDOUT;
		rc = wire_read(r, S.chan);
		if (rc == WIRE_MORE)
			continue;
		return rc == 1 ? 0 : ECHILD;
	}
}

/* Starts init (in new namespaces unless isolation is none) and waits until it is ready. */
static int
start_init(struct init_conf *ic, int *step, int *errnum, char *detail, size_t dcap)
{
	int chan[2], go[2], rc;
	char line[64];
	int64_t dl = deadline_in_ms(SUP_READY_MS);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) < 0 ||
	    pipe2(go, O_CLOEXEC) < 0) {
		*step = STEP_SOCKET;
		*errnum = errno;
		return -1;
	}
	ic->chan = chan[1];
	ic->go = go[0];
	S.chan = chan[0];
	/* A raw clone with no stack of its own, as fork() is and as bubblewrap does: init
	 * continues on a copy of our stack, so nothing (sanitizers included) sees a thread
	 * running on memory it does not know as a stack. */
	S.init = (pid_t)syscall(SYS_clone,
	    (unsigned long)(ic->isolate ? CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID |
	                CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET
	                                : 0) |
	        SIGCHLD,
	    NULL, NULL, NULL, NULL);
	if (S.init == 0) {
		close(chan[0]);
		close(go[1]);
		init_main(ic);
		_exit(1);
	}
	if (S.init < 0) {
		*step = STEP_CLONE;
		*errnum = errno;
		return -1;
	}
	close(chan[1]);
	close(go[0]);
	/* Only now: init is a copy of us and must stay dumpable until it wrote its maps. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (ic->isolate) {
		snprintf(line, sizeof(line), "0 %lu 1\n", S.c.host_uid);
		rc = write_map(S.init, "setgroups", "deny");
		if (rc == 0)
			rc = write_map(S.init, "uid_map", line);
		snprintf(line, sizeof(line), "0 %lu 1\n", S.c.host_gid);
		if (rc == 0)
			rc = write_map(S.init, "gid_map", line);
		if (rc != 0) {
			*step = STEP_MAP;
			*errnum = rc;
			return -1;
		}
	}
	if (S.rec.cg.mode != LIM_CG_NONE) {
		struct err e = { 0 };

		if (limits_cg_attach(&S.rec.cg, S.init, &e) != 0) {
			*step = STEP_CGROUP;
			*errnum = EIO;
			snprintf(detail, dcap, "%s", e.msg);
			return -1;
		}
	}
	if (write(go[1], "g", 1) != 1) {
		*step = STEP_INIT;
		*errnum = errno;
		return -1;
	}
	close(go[1]);
	fcntl(S.chan, F_SETFL, O_NONBLOCK);
	if ((rc = init_msg(&S.ird, dl)) != 0) {
		*step = STEP_INIT;
		*errnum = rc;
		return -1;
	}
	if (S.ird.h.type == I_FAILED) {
		*step = S.ird.h.a;
		*errnum = S.ird.h.b;
		snprintf(detail, dcap, "%s", S.ird.payload != NULL ? S.ird.payload : "");
		wire_in_reset(&S.ird);
		return -1;
	}
	S.rec.landlock_abi = S.ird.h.a;
	for (int i = 0; i < S.ird.nfds && i < 5; i++) {
		if (i < 2)
			S.nsfd[i] = S.ird.fds[i];
		else
			S.memfd[i - 2] = S.ird.fds[i];
		S.ird.fds[i] = -1;
	}
	wire_in_reset(&S.ird);
	/* Then the network's fds (isolation namespaces). */
	if (ic->isolate) {
		if ((rc = init_msg(&S.netmsg, dl)) != 0 || S.netmsg.h.type != I_NET) {
			*step = STEP_NETNS;
			*errnum = rc != 0 ? rc : EPROTO;
			return -1;
		}
	}
	return 0;
}

static int
start(int *step, int *errnum, char *detail, size_t dcap)
{
	static struct init_conf ic;
	static char ws[PATH_MAX];
	char name[LOCAL_ID_MAX + 8];

	memset(&ic, 0, sizeof(ic));
	if (getuid() == 0 && syscall(SYS_setgroups, 0, NULL) < 0)
		slog("could not drop supplementary groups: %s", strerror(errno));
	if (S.c.cg.mode != LIM_CG_NONE) {
		struct err e = { 0 };

		snprintf(name, sizeof(name), "%s", S.c.id);
		if (limits_cg_create(&S.c.cg, name, &S.c.lim, &S.rec.cg, &e) != 0) {
			slog("cgroups unavailable, using rlimits and the memory watch: %s", e.msg);
			memset(&S.rec.cg, 0, sizeof(S.rec.cg));
		}
	}
	describe_limits();
	if (snprintf(ws, sizeof(ws), "%s/workspace", S.c.dir) >= (int)sizeof(ws)) {
		*step = STEP_BIND;
		*errnum = ENAMETOOLONG;
		return -1;
	}
	S.lsock = listen_sock();
	if (S.lsock < 0) {
		*step = STEP_SOCKET;
		*errnum = -S.lsock;
		return -1;
	}
	ic.isolate = S.c.isolate;
	ic.ws_host = ws;
	ic.fs.hostname = S.c.id;
	ic.fs.user = S.c.user;
	ic.fs.in_uid = S.c.in_uid;
	ic.fs.ws_fd = -1;
	ic.fs.mounts = S.c.mounts;
	ic.fs.nmounts = S.c.nmounts;
	ic.fs.tmp_size = S.c.lim.memory;
	ic.fs.home_size = S.c.lim.memory;
	ic.fs.shm_size = S.c.lim.memory > 0 ? S.c.lim.memory / 2 : 0;
	ic.lim = S.c.lim;
	return start_init(&ic, step, errnum, detail, dcap);
}

/* Re-reads meta.json (expiry, network policy); netcfg, when given, is the server's
 * network flags. */
static void
read_meta(const char *netcfg, size_t len)
{
	struct arena *a = arena_new(8 * 1024 * 1024);
	struct local L;
	struct lsb sb;
	struct local_netcfg cfg;
	struct err e = { 0 };
	bool have_cfg = netcfg != NULL && netcfg_decode(netcfg, len, &cfg, a, &e) == 0;

	if (netcfg != NULL && !have_cfg)
		slog("the server's network flags are damaged: %s", e.msg);
	memset(&L, 0, sizeof(L));
	snprintf(L.root, sizeof(L.root), "%s", S.c.root);
	L.isolate = S.c.isolate;
	if (store_load(&L, S.c.id, a, &sb, &e) == 0) {
		S.expires_at = sb.expires_at;
		if (S.c.isolate)
			net_reload(have_cfg ? &cfg : NULL, &sb.net);
	} else if (S.c.isolate) {
		/* A policy we cannot read allows nothing. */
		struct npol none = { false, NULL, 0 };

		slog("cannot read the sandbox's record (%s); egress is denied until it can be",
		    e.msg);
		net_reload(have_cfg ? &cfg : NULL, &none);
	}
	arena_free(a);
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void
on_signal(void)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(S.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			slog("stopping on signal %d", (int)si.ssi_signo);
			sandbox_kill();
			limits_cg_destroy(&S.rec.cg, 2000);
			_exit(0);
		}
		if (si.ssi_signo == SIGHUP)
			read_meta(NULL, 0);
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == S.init) {
			slog("init ended (status %d); the sandbox is gone", status);
			S.init = 0;
			limits_cg_kill(&S.rec.cg, 2000);
			limits_cg_destroy(&S.rec.cg, 2000);
			_exit(0);
		}
	}
}

static void __attribute__((noreturn)) loop(void)
{
	struct pollfd *pf = xcalloc(5 + SUP_CLIENTS_MAX + 1024, sizeof(*pf));

	for (;;) {
		struct client *cls[SUP_CLIENTS_MAX];
		struct bgrec *bgs[1024];
		size_t n = 0, nc = 0, nb = 0;
		int64_t now = time_wall_ms(), wait = -1;
		int rc, nt = net_timeout_ms();

		pf[n++] = (struct pollfd){ S.sfd, POLLIN, 0 };
		pf[n++] = (struct pollfd){ S.chan, POLLIN, 0 };
		pf[n++] = (struct pollfd){ S.lsock, POLLIN, 0 };
		pf[n++] = (struct pollfd){ S.c.ephemeral ? S.start : -1, POLLIN, 0 };
		pf[n++] = (struct pollfd){ net_poll_fd(), POLLIN, 0 };
		for (struct client *cl = S.clients; cl != NULL && nc < SUP_CLIENTS_MAX;
		     cl = cl->next) {
			cls[nc++] = cl;
			pf[n++] = (struct pollfd){ cl->fd, POLLIN, 0 };
		}
		for (struct bgrec *b = S.bgs; b != NULL && nb < 1024; b = b->next) {
			bgs[nb++] = b;
			pf[n++] = (struct pollfd){ b->out, POLLIN, 0 };
		}
		/* Asleep until something happens: the memory watch's tick (without a memory
		 * cgroup), the expiry, or a timer of the network. */
		if (S.mem_watch) {
			wait = S.watched + (S.tick_ms > 0 ? S.tick_ms : SUP_TICK_MS) -
			    time_mono_ms();
			wait = wait > 0 ? wait : 0;
		}
		if (S.expires_at > 0 && (wait < 0 || S.expires_at - now < wait))
			wait = S.expires_at - now > 0 ? S.expires_at - now : 0;
		if (nt >= 0 && (wait < 0 || nt < wait))
			wait = nt;
		rc = poll(pf, (nfds_t)n, wait > INT32_MAX ? INT32_MAX : (int)wait);
		if (rc < 0 && errno != EINTR)
			_exit(1);
		if (S.expires_at > 0 && time_wall_ms() >= S.expires_at)
			sandbox_end("it expired");
		/* On its tick, not on every wakeup: a busy background writer wakes us often. */
		if (S.mem_watch &&
		    time_mono_ms() - S.watched >= (S.tick_ms > 0 ? S.tick_ms : SUP_TICK_MS)) {
			S.watched = time_mono_ms();
			mem_watch();
		}
		net_run(); /* its timers too */
		if (rc <= 0)
			continue;
		if (pf[0].revents != 0)
			on_signal();
		if (pf[1].revents != 0) {
			while ((rc = wire_read(&S.ird, S.chan)) == 1) {
				handle_init(&S.ird);
				wire_in_reset(&S.ird);
			}
			if (rc != WIRE_MORE) {
				slog("init's socket closed");
				sandbox_kill();
				limits_cg_destroy(&S.rec.cg, 2000);
				_exit(0);
			}
		}
		if (pf[2].revents != 0)
			accept_clients();
		if (pf[3].revents != 0) {
			char c;

			if (read(S.start, &c, 1) <= 0)
				sandbox_end("its server exited");
		}
		for (size_t i = 0; i < nc; i++)
			if (pf[5 + i].revents != 0)
				client_read(cls[i]);
		for (size_t i = 0; i < nb; i++)
			if (pf[5 + nc + i].revents != 0)
				bgrec_drain(bgs[i]);
		bg_gc();
	}
}

static int
read_conf(struct err *e)
{
	struct wire_in r;
	int rc;

	memset(&r, 0, sizeof(r));
	for (;;) {
		struct pollfd pf = { S.start, POLLIN, 0 };

		if (poll(&pf, 1, SUP_READY_MS) <= 0)
			return err_set(e, ERR_TIMEOUT, "no configuration arrived");
		rc = wire_read(&r, S.start);
		if (rc == WIRE_MORE)
			continue;
		if (rc != 1 || r.h.type != W_CONF) {
			wire_in_reset(&r);
			return err_set(e, ERR_PROTO, "no configuration arrived");
		}
		break;
	}
	rc = supconf_decode(r.payload, r.h.len, &S.c, e);
	wire_in_reset(&r);
	return rc;
}

int
local_supervisor_main(int argc, char **argv)
{
	struct err e = { 0 };
	sigset_t set;
	char detail[ERR_MSG_MAX] = "";
	int step = STEP_NONE, errnum = 0, devnull;

	if (argc < 3)
		return 2;
	memset(&S, 0, sizeof(S));
	S.start = atoi(argv[2]);
	local_title_init(argc, argv);
	S.logfd = S.lsock = S.chan = -1;
	S.nsfd[0] = S.nsfd[1] = -1;
	S.memfd[0] = S.memfd[1] = S.memfd[2] = -1;
	signal(SIGPIPE, SIG_IGN);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	fcntl(S.start, F_SETFD, FD_CLOEXEC);
	fcntl(S.start, F_SETFL, O_NONBLOCK);
	if (read_conf(&e) != 0)
		return 1;
	{
		char title[96];

		snprintf(title, sizeof(title), "sandbox-mcp supervisor %s", S.c.id);
		local_title(title);
	}
	log_open();
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	S.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (start(&step, &errnum, detail, sizeof(detail)) != 0) {
		slog("setup failed at %s: %s (%s)", local_step_name(step), strerror(errnum),
		    detail);
		wire_send(S.start, W_FAILED, 0, step, errnum, 0, detail, strlen(detail), NULL, 0);
		if (S.init > 0)
			kill(S.init, SIGKILL);
		limits_cg_destroy(&S.rec.cg, 1000);
		return 1;
	}
	S.rec.pid = getpid();
	S.rec.start = local_pid_start(S.rec.pid);
	S.rec.init_pid = S.init;
	S.rec.init_start = local_pid_start(S.init);
	if (store_sup_write(S.c.dir, &S.rec) != 0) {
		wire_send(S.start, W_FAILED, 0, STEP_INIT, EIO, 0, "sup.json", 8, NULL, 0);
		sandbox_kill();
		limits_cg_destroy(&S.rec.cg, 1000);
		return 1;
	}
	read_meta(NULL, 0);
	if (S.c.isolate) {
		struct npol none = { false, NULL, 0 };
		int rc = net_start(&S.netmsg, S.chan, S.c.dir, &S.c.net, &none, slog);

		wire_in_reset(&S.netmsg);
		if (rc != 0)
			slog("the network relay did not start: %s", strerror(rc));
		read_meta(NULL, 0); /* the policy, now that the relay has started */
	}
	slog("sandbox %s ready (init %d, landlock %d, memory by %s)", S.c.id, (int)S.init,
	    S.rec.landlock_abi, S.rec.memory_by[0] ? S.rec.memory_by : "nothing");
	wire_send(S.start, W_DONE, 0, S.init, 0, 0, NULL, 0, NULL, 0);
	if (!S.c.ephemeral) {
		close(S.start);
		S.start = -1;
	}
	loop();
}
