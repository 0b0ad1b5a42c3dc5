/*
 * helper.c -- opens a path inside a sandbox for the file ops (files.c).
 *
 * A helper is a child of the server that joins the sandbox's locked user and mount
 * namespaces (their fds come from the supervisor), drops supplementary groups, takes the
 * sandbox user's uid and the sandbox's Landlock rules, and then serves path operations
 * there, passing each result back over a socket (wire.c) with the fd it opened. So `..`
 * and symlinks resolve exactly as for the sandbox's own processes, read-only mounts refuse
 * writes, and Landlock refuses writes outside the writable directories.
 *
 * Helpers persist: the server keeps one per sandbox for the last LH_CACHE sandboxes it
 * touched, so a file op costs a socket round trip rather than a fork and four namespace
 * and Landlock steps. A helper holds a pidfd of its sandbox's supervisor and exits when
 * that ends (it would otherwise keep the sandbox's mounts alive); it dies with the server
 * (its socket closes, and PDEATHSIG); it is killed when its sandbox is killed through this
 * server or falls out of the cache. It keeps only its socket and that pidfd (0-2 are
 * /dev/null), is not dumpable, and lives in the server's PID namespace, out of the
 * sandbox's sight. A call finding its sandbox's helper busy with another call, or a kernel
 * without pidfds, gets a one-off helper that does one operation and exits.
 *
 * The child runs in a copy of a multi-threaded process: system calls and static or stack
 * buffers only, before and after entering.
 */
#include "backends/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/time.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define HELPER_MS 30000
#define LH_SOCK   3 /* a serving helper's fds */
#define LH_SUP    4

/* What a helper needs to enter a sandbox; prepared before the fork. */
struct lh_enter {
	int user, mnt;                               /* namespaces of the sandbox's commands */
	unsigned uid;                                /* the sandbox user inside */
	const char *write[5 + LOCAL_MOUNTS_MAX + 1]; /* Landlock's writable directories */
	size_t nwrite;
	char home[PATH_MAX];
};

/* ---- the child ------------------------------------------------------------------------- */

/* mkdir of every ancestor of p (p is edited and restored). */
static void
mkparents(int base, char *p)
{
	for (size_t i = 1; p[i] != '\0'; i++) {
		if (p[i] == '/' && p[i - 1] != '/') {
			p[i] = '\0';
			mkdirat(base, p, 0755);
			p[i] = '/';
		}
	}
}

static void
lh_do(int base, const struct lh_req *rq, struct lh_rep *rp, int *fd)
{
	char p[PATH_MAX];
	size_t n = strlen(rq->path);
	ssize_t k;

	*fd = -1;
	if (n == 0 || n >= sizeof(p)) {
		rp->err = n == 0 ? ENOENT : ENAMETOOLONG;
		return;
	}
	memcpy(p, rq->path, n + 1);
	switch (rq->op) {
	case LH_OPEN:
		if (rq->mkparents)
			mkparents(base, p);
		*fd = openat(base, p, rq->flags | O_CLOEXEC, rq->mode);
		if (*fd < 0)
			rp->err = errno;
		break;
	case LH_MKDIRP:
		while (n > 1 && p[n - 1] == '/')
			p[--n] = '\0';
		mkparents(base, p);
		if (mkdirat(base, p, 0755) == 0)
			rp->created = true;
		else if (errno != EEXIST) {
			rp->err = errno;
			break;
		}
		*fd = openat(base, p, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (*fd < 0)
			rp->err = errno == ENOTDIR ? EEXIST : errno;
		break;
	case LH_LSTAT:
		if (fstatat(base, p, &rp->st, AT_SYMLINK_NOFOLLOW) < 0) {
			rp->err = errno;
			break;
		}
		if (S_ISLNK(rp->st.st_mode)) {
			k = readlinkat(base, p, rp->link, sizeof(rp->link) - 1);
			if (k >= 0) {
				rp->link[k] = '\0';
				rp->linklen = (int)k;
			}
		}
		break;
	default:
		rp->err = EINVAL;
	}
}

/* Enters the sandbox: its user namespace, its (locked) mount namespace, its user's ids,
 * its Landlock rules, its workspace as the working directory. */
static int
lh_enter(const struct lh_enter *en, int *step)
{
	/* Root's supplementary groups would follow us in (as unmapped but real kgids):
	 * drop them while we may. An ordinary user cannot, and has no others to lose. */
	if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM) {
		*step = STEP_SETUID;
		return errno;
	}
	if (setns(en->user, CLONE_NEWUSER) < 0) {
		*step = STEP_USERNS2;
		return errno;
	}
	if (setns(en->mnt, CLONE_NEWNS) < 0) {
		*step = STEP_PRIVATE;
		return errno;
	}
	if (syscall(SYS_setresgid, en->uid, en->uid, en->uid) < 0 ||
	    syscall(SYS_setresuid, en->uid, en->uid, en->uid) < 0) {
		*step = STEP_SETUID;
		return errno;
	}
	/* setns gave us every capability in the sandbox's user namespace, and a uid change
	 * from an unmapped one keeps them: the sandbox's user has none, nor do we. It never
	 * executes anything, so the bounding set does not matter. */
	{
		struct {
			uint32_t version;
			int pid;
		} ch = { 0x20080522, 0 }; /* version 3 */
		uint32_t cd[6] = { 0 };   /* effective, permitted, inheritable x 2 */

		if (syscall(SYS_capset, &ch, cd) < 0) {
			*step = STEP_SETUID;
			return errno;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    local_landlock_apply(en->write, en->nwrite) < 0) {
		*step = STEP_LANDLOCK;
		return errno != 0 ? errno : EPERM;
	}
	if (chdir(LOCAL_WS) < 0) {
		*step = STEP_CHDIR;
		return errno;
	}
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}

/* Keeps sock as LH_SOCK and sup (if any) as LH_SUP, 0-2 on /dev/null, and nothing else
 * (the server's stdio and its other helpers' sockets must not stay open here). */
static int
lh_fds(int sock, int sup)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return -1;
	/* Park both above anything they could collide with first. */
	if ((sock = fcntl(sock, F_DUPFD_CLOEXEC, 16)) < 0 ||
	    (sup >= 0 && (sup = fcntl(sup, F_DUPFD_CLOEXEC, 16)) < 0) || dup2(null, 0) < 0 ||
	    dup2(null, 1) < 0 || dup2(null, 2) < 0 || dup3(sock, LH_SOCK, O_CLOEXEC) < 0 ||
	    (sup >= 0 ? dup3(sup, LH_SUP, O_CLOEXEC) : dup3(null, LH_SUP, O_CLOEXEC)) < 0)
		return -1;
	if (syscall(SYS_close_range, LH_SUP + 1, ~0U, 0) < 0) {
		struct rlimit rl;
		unsigned long top = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		        rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048576
		    ? rl.rlim_cur
		    : 65536;

		for (unsigned long fd = LH_SUP + 1; fd < top; fd++)
			close((int)fd);
	}
	return 0;
}

/* Reads one W_FILEOP into q (path NUL-terminated); false on EOF or a broken message. */
static bool
lh_recv(int sock, struct wire_hdr *h, char *path, size_t cap)
{
	ssize_t n = recv(sock, h, sizeof(*h), MSG_WAITALL);

	if (n != (ssize_t)sizeof(*h) || h->type != W_FILEOP || h->len < 2 || h->len > cap)
		return false;
	n = recv(sock, path, h->len, MSG_WAITALL);
	return n == (ssize_t)h->len && path[h->len - 1] == '\0';
}

static void
lh_reply(int sock, struct lh_rep *rp, int fd)
{
	wire_send(sock, W_DONE, 0, 0, 0, 0, rp, sizeof(*rp), &fd, fd >= 0 ? 1 : 0);
	if (fd >= 0)
		close(fd);
}

/* A helper: enters, then answers W_FILEOPs until its socket closes or, when it watches a
 * supervisor (sup >= 0), that supervisor ends. */
static void __attribute__((noreturn))
h_serve(const struct lh_enter *en, int sock, int sup, pid_t parent)
{
	static struct lh_rep rp; /* too big for a small stack */
	static char path[PATH_MAX];
	struct wire_hdr h;
	int step = STEP_NONE, err;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(1);
	umask(022);
	err = lh_enter(en, &step);
	if (err == 0 && lh_fds(sock, sup) < 0) {
		err = errno;
		step = STEP_NONE;
	}
	if (err != 0) {
		memset(&rp, 0, sizeof(rp));
		rp.err = err;
		rp.step = step != STEP_NONE ? step : STEP_SETUID;
		if (lh_recv(sock, &h, path, sizeof(path)))
			lh_reply(sock, &rp, -1);
		_exit(1);
	}
	for (;;) {
		struct pollfd pf[2] = { { LH_SOCK, POLLIN, 0 },
			{ sup >= 0 ? LH_SUP : -1, POLLIN, 0 } };
		struct lh_req rq;
		int fd;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (pf[1].revents != 0 || !lh_recv(LH_SOCK, &h, path, sizeof(path)))
			_exit(0);
		memset(&rp, 0, sizeof(rp));
		rq.op = h.a;
		rq.flags = h.b;
		rq.mode = (mode_t)h.c;
		rq.mkparents = h.tag != 0;
		rq.path = path;
		lh_do(AT_FDCWD, &rq, &rp, &fd);
		lh_reply(LH_SOCK, &rp, fd);
	}
}

/* ---- the server's side ----------------------------------------------------------------- */

static int
lh_send(int sock, const struct lh_req *rq)
{
	return wire_send(sock, W_FILEOP, rq->mkparents, rq->op, rq->flags, (int32_t)rq->mode,
	    rq->path, strlen(rq->path) + 1, NULL, 0);
}

static int
helper_wait(int sock, pid_t pid, struct lh_rep *rp, int *fd, struct call *c, struct err *e)
{
	struct call hc = { NULL, c != NULL ? c->cancel : NULL,
		deadline_min(call_deadline(c), deadline_in_ms(HELPER_MS)) };
	struct wire_in r;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = spawn_recv(sock, &r, &hc, -1, e);
	if (rc == 1 && r.h.type == W_DONE && r.h.len == sizeof(*rp)) {
		memcpy(rp, r.payload, sizeof(*rp));
		if (r.nfds > 0) {
			*fd = r.fds[0];
			r.fds[0] = -1;
		}
		rc = 0;
	} else if (rc == 1 || rc == 0) {
		rc = err_set(e, ERR_BACKEND, "the sandbox's file helper (pid %d) died", (int)pid);
	} else if (rc == ERR_TIMEOUT || rc == ERR_BACKEND) {
		err_clear(e);
		rc = err_set(e,
		    c != NULL && deadline_passed(call_deadline(c)) ? ERR_TIMEOUT : ERR_BACKEND,
		    "the file operation did not finish in time");
	}
	wire_in_reset(&r);
	return rc;
}

static void
reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* The namespaces and Landlock rules of sb's commands, from its supervisor. */
static int
enter_plan(struct local *L, struct lsb *sb, struct lh_enter *en, struct call *c, struct err *e)
{
	struct rootfs_plan p;
	int ns[2] = { -1, -1 }, rc;

	memset(en, 0, sizeof(*en));
	en->user = en->mnt = -1;
	rc = spawn_simple(L, sb, W_NS, 0, 0, ns, 2, c, e);
	if (rc == 0 && (ns[0] < 0 || ns[1] < 0))
		rc = err_set(e, ERR_BACKEND,
		    "the supervisor of sandbox %s did not hand over its "
		    "namespaces",
		    sb->id);
	if (rc != 0) {
		if (ns[0] >= 0)
			close(ns[0]);
		if (ns[1] >= 0)
			close(ns[1]);
		return rc;
	}
	en->user = ns[0];
	en->mnt = ns[1];
	en->uid = L->in_uid;
	memset(&p, 0, sizeof(p));
	p.user = L->user;
	p.mounts = L->mounts;
	p.nmounts = L->nmounts;
	en->nwrite = rootfs_writable(&p, en->write, sizeof(en->write) / sizeof(en->write[0]),
	    en->home, sizeof(en->home));
	return 0;
}

/* Forks a helper for en: serving (sup >= 0) or for rq alone (sent before it enters). */
static int
helper_fork(const struct lh_enter *en, int sup, pid_t *pid, int *sock, struct err *e)
{
	int sv[2];
	pid_t parent = getpid();

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(e, ERR_IO, "file operation: socketpair: %s", strerror(errno));
	*pid = fork();
	if (*pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return err_set(e, ERR_IO, "file operation: fork: %s", strerror(errno));
	}
	if (*pid == 0) {
		close(sv[0]);
		h_serve(en, sv[1], sup, parent);
	}
	close(sv[1]);
	*sock = sv[0];
	return 0;
}

/* One request on a helper's socket; ERR_* when the helper failed (not the operation). */
static int
helper_ask(int sock, pid_t pid, const struct lh_req *rq, struct lh_rep *rp, int *fd, struct call *c,
    struct err *e)
{
	int rc;

	memset(rp, 0, sizeof(*rp));
	*fd = -1;
	if (lh_send(sock, rq) != 0)
		return err_set(e, ERR_BACKEND, "the sandbox's file helper (pid %d) died", (int)pid);
	rc = helper_wait(sock, pid, rp, fd, c, e);
	if (rc == 0 && rp->step != STEP_NONE) {
		rc = err_set(e, ERR_BACKEND, "could not enter the sandbox: %s failed (%s)",
		    local_step_name(rp->step), strerror(rp->err));
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	return rc;
}

static void
slot_end(struct lhelper *h)
{
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		reap(h->pid);
		if (h->sock >= 0)
			close(h->sock);
	}
	memset(h, 0, sizeof(*h));
	h->sock = -1;
}

/* A pidfd of sb's supervisor, checked against pid reuse; -1 when there is none. */
static int
sup_pidfd(const struct lsb *sb)
{
	int fd;

	if (!sb->has_sup)
		return -1;
	fd = (int)syscall(SYS_pidfd_open, sb->sup.pid, 0);
	if (fd >= 0 && !local_pid_alive(sb->sup.pid, sb->sup.start)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Takes sb's serving helper for this call (*slot), starting one when there is none;
 * NULL when the caller should use a one-off helper. Under L->hmu. */
static struct lhelper *
slot_take(struct local *L, const struct lsb *sb)
{
	struct lhelper *free_slot = NULL, *oldest = NULL;

	for (size_t i = 0; i < LH_CACHE; i++) {
		struct lhelper *h = &L->helpers[i];

		/* One that ended by itself (its supervisor went) is reaped here. */
		if (h->pid > 0 && !h->busy && waitpid(h->pid, NULL, WNOHANG) == h->pid) {
			close(h->sock);
			memset(h, 0, sizeof(*h));
			h->sock = -1;
		}

		if ((h->pid > 0 || h->busy) && strcmp(h->id, sb->id) == 0) {
			if (h->busy)
				return NULL; /* another call has it */
			if (h->sup == sb->sup.pid && h->sup_start == sb->sup.start) {
				h->busy = true;
				h->used = ++L->hclock;
				return h;
			}
			slot_end(h); /* a sandbox of that id from before */
		}
		if (h->pid <= 0 && !h->busy && free_slot == NULL)
			free_slot = h;
		if (h->pid > 0 && !h->busy && (oldest == NULL || h->used < oldest->used))
			oldest = h;
	}
	if (free_slot == NULL && oldest != NULL) {
		slot_end(oldest);
		free_slot = oldest;
	}
	if (free_slot == NULL)
		return NULL;
	free_slot->busy = true; /* pid 0: to be started by the caller */
	snprintf(free_slot->id, sizeof(free_slot->id), "%s", sb->id);
	free_slot->sup = sb->sup.pid;
	free_slot->sup_start = sb->sup.start;
	free_slot->used = ++L->hclock;
	return free_slot;
}

/* Starts the serving helper of slot h (taken, pid 0): 0, an ERR_*, or -1 when this kernel
 * has no pidfds to watch the supervisor with (use a one-off helper). */
static int
slot_start(struct local *L, struct lsb *sb, struct lhelper *h, struct call *c, struct err *e)
{
	struct lh_enter en;
	pid_t pid = 0;
	int sup, sock = -1, rc = enter_plan(L, sb, &en, c, e);

	if (rc != 0)
		return rc;
	sup = sup_pidfd(sb); /* after enter_plan, which may have started the supervisor */
	rc = sup < 0 ? -1 : helper_fork(&en, sup, &pid, &sock, e);
	close(en.user);
	close(en.mnt);
	if (sup >= 0)
		close(sup);
	pthread_mutex_lock(&L->hmu);
	h->pid = pid;
	h->sock = sock;
	h->sup = sb->sup.pid;
	h->sup_start = sb->sup.start;
	pthread_mutex_unlock(&L->hmu);
	return rc;
}

/* A helper for this one request, as before helpers persisted. */
static int
helper_once(struct local *L, struct lsb *sb, const struct lh_req *rq, struct lh_rep *rp, int *fd,
    struct call *c, struct err *e)
{
	struct lh_enter en;
	pid_t pid;
	int sock, rc = enter_plan(L, sb, &en, c, e);

	if (rc != 0)
		return rc;
	rc = helper_fork(&en, -1, &pid, &sock, e);
	close(en.user);
	close(en.mnt);
	if (rc != 0)
		return rc;
	rc = helper_ask(sock, pid, rq, rp, fd, c, e);
	close(sock); /* ends it */
	if (rc != 0)
		kill(pid, SIGKILL);
	reap(pid);
	return rc;
}

int
local_helper(struct local *L, struct lsb *sb, int basefd, const struct lh_req *rq,
    struct lh_rep *rp, int *fd, struct call *c, struct err *e)
{
	struct lhelper *h;
	int rc;

	memset(rp, 0, sizeof(*rp));
	*fd = -1;
	if (!sb->isolate) {
		lh_do(basefd, rq, rp, fd);
		return 0;
	}
	pthread_mutex_lock(&L->hmu);
	h = slot_take(L, sb);
	pthread_mutex_unlock(&L->hmu);
	for (int attempt = 0; h != NULL; attempt++) {
		bool fresh = h->pid <= 0;

		rc = fresh ? slot_start(L, sb, h, c, e) : 0;
		if (rc == 0)
			rc = helper_ask(h->sock, h->pid, rq, rp, fd, c, e);
		pthread_mutex_lock(&L->hmu);
		if (rc == 0) {
			h->busy = false;
			pthread_mutex_unlock(&L->hmu);
			return 0;
		}
		/* A helper that died (its sandbox restarted, someone killed it) is replaced
		 * once; a fresh one failing is the answer. */
		slot_end(h);
		if (rc > 0 && (fresh || attempt > 0 || rc == ERR_TIMEOUT || rc == ERR_CANCELLED)) {
			pthread_mutex_unlock(&L->hmu);
			return rc;
		}
		h = rc > 0 ? slot_take(L, sb) : NULL;
		pthread_mutex_unlock(&L->hmu);
		err_clear(e);
	}
	return helper_once(L, sb, rq, rp, fd, c, e);
}

void
local_helpers_drop(struct local *L, const char *id)
{
	pthread_mutex_lock(&L->hmu);
	for (size_t i = 0; i < LH_CACHE; i++) {
		struct lhelper *h = &L->helpers[i];

		if (h->pid > 0 && (id == NULL || strcmp(h->id, id) == 0)) {
			if (h->busy) {
				kill(h->pid, SIGKILL); /* its caller ends the slot */
				continue;
			}
			slot_end(h);
		}
	}
	pthread_mutex_unlock(&L->hmu);
}
