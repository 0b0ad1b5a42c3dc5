/*
 * local_ns.c -- Linux namespaces for the local backend: the per-sandbox supervisor, the
 * processes that run commands inside it, and the helper that opens paths inside it.
 *
 * Every function that runs in a forked child is async-signal-safe: syscalls and stack
 * buffers only, because the parent is multi-threaded (malloc or stdio after fork could
 * deadlock). The parent prepares every string and fd before it forks.
 *
 * Process tree of a sandbox:
 *   P1 (forked, setsid) --clone(NEWUSER|NEWNS|NEWPID|NEWIPC|NEWUTS|NEWNET)--> S
 *   P1 writes S's uid/gid maps, then exits; S builds the new root, pivots into it and
 *   execs `sleep` as pid 1 with SIGCHLD ignored (the kernel reaps orphans for it). S's
 *   memory is then a fresh image: nothing of sandbox-mcp (keys, heap) stays visible inside.
 *   A command: C (forked; joins S's namespaces) forks G (pid N inside, setsid, execs
 *   bash -l -c). C reports G's pids and wait status on a pipe. In the background case C is
 *   detached (double fork) and stays as G's monitor, writing procs/<pid>/exit at the end.
 */
#define LOCAL_INTERNAL
#include "backends/local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MS_REC
#define MS_REC 16384
#endif
#define L_MOUNT_ATTR_RDONLY 0x1ULL
#define L_MOUNT_ATTR_NOSUID 0x2ULL

struct l_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#define SUP_STACK_SIZE (256 * 1024)
#define SUP_START_MS 20000
#define HELPER_MS 30000
#define PLAN_TOP_MAX 64

enum {
	STEP_NONE, STEP_SETGROUPS, STEP_USERNS, STEP_SETUID, STEP_IPCNS, STEP_UTSNS, STEP_NETNS, STEP_PIDNS,
	STEP_MNTNS, STEP_FORK, STEP_CHDIR, STEP_EXEC, STEP_PIPE, STEP_CLONE, STEP_MAP, STEP_PRIVATE, STEP_ROOTFS,
	STEP_DEV, STEP_MASK, STEP_RDONLY, STEP_PROC, STEP_BIND, STEP_PIVOT, STEP_INIT, STEP_OPEN, STEP__MAX
};

_Static_assert((int)STEP_CHDIR == (int)LOCAL_STEP_CHDIR && (int)STEP_EXEC == (int)LOCAL_STEP_EXEC,
    "step numbers");

static const char *const step_names[STEP__MAX] = {
	"", "setgroups", "setns(user)", "setresuid", "setns(ipc)", "setns(uts)", "setns(net)",
	"setns(pid)", "setns(mnt)", "fork", "chdir", "execve", "pipe", "clone",
	"writing the uid/gid map", "making mounts private", "mounting the root tmpfs",
	"mounting /dev", "hiding the state directory", "making the root read-only",
	"mounting /proc", "binding the workspace", "pivot_root", "starting the init process",
	"opening the sandbox directories",
};

const char *
local_step_name(int step)
{
	return step > 0 && step < STEP__MAX ? step_names[step] : "setup";
}

/* ---- async-signal-safe helpers ------------------------------------------------------ */

static size_t
s_len(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	return n;
}

/* out = a + b (+ c); false when it does not fit in PATH_MAX. */
static bool
s_join(char *out, const char *a, const char *b, const char *c)
{
	const char *parts[3] = { a, b, c };
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		const char *p = parts[i];

		if (p == NULL)
			continue;
		while (*p != '\0') {
			if (n + 1 >= PATH_MAX)
				return false;
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return true;
}

static void
s_uint(char *out, unsigned long v)
{
	char t[24];
	int n = 0, i;

	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = t[n - 1 - i];
	out[n] = '\0';
}

static void
rec_write(int fd, int kind, int a, int b)
{
	struct lrec r = { kind, a, b, 0 };
	ssize_t n;

	do
		n = write(fd, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
}

static void
xclose_range(unsigned lo, unsigned hi)
{
	if (lo > hi)
		return;
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return;
	for (unsigned fd = lo; fd <= hi && fd < 4096; fd++)
		close((int)fd);
}

/* Closes every fd >= 3 except the n in keep. */
static void
close_fds_except(const int *keep, int n)
{
	unsigned lo = 3;

	for (;;) {
		unsigned next = ~0u;

		for (int i = 0; i < n; i++)
			if (keep[i] >= 0 && (unsigned)keep[i] >= lo && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next == ~0u) {
			xclose_range(lo, ~0u);
			return;
		}
		if (next > lo)
			xclose_range(lo, next - 1);
		lo = next + 1;
	}
}

static void
reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < 65; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void
stdio_devnull(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

/* Joins the namespaces in ns (user first, mount last). full adds ipc, uts, net, pid.
 * Returns 0 or an errno with *step set. */
static int
join_ns(const struct lns *ns, bool full, int *step)
{
	if (ns == NULL || ns->user < 0)
		return 0;
	if (ns->drop_groups && syscall(SYS_setgroups, 0, NULL) < 0) {
		*step = STEP_SETGROUPS;
		return errno;
	}
	if (setns(ns->user, CLONE_NEWUSER) < 0) {
		*step = STEP_USERNS;
		return errno;
	}
	if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0) {
		*step = STEP_SETUID;
		return errno;
	}
	if (full) {
		if (ns->ipc >= 0 && setns(ns->ipc, CLONE_NEWIPC) < 0) {
			*step = STEP_IPCNS;
			return errno;
		}
		if (ns->uts >= 0 && setns(ns->uts, CLONE_NEWUTS) < 0) {
			*step = STEP_UTSNS;
			return errno;
		}
		if (ns->net >= 0 && setns(ns->net, CLONE_NEWNET) < 0) {
			*step = STEP_NETNS;
			return errno;
		}
		if (ns->pid >= 0 && setns(ns->pid, CLONE_NEWPID) < 0) {
			*step = STEP_PIDNS;
			return errno;
		}
	}
	if (setns(ns->mnt, CLONE_NEWNS) < 0) {
		*step = STEP_MNTNS;
		return errno;
	}
	return 0;
}

/* ---- the supervisor ----------------------------------------------------------------- */

struct plan {
	char nr[PATH_MAX];		/* where the new root is built */
	char ws[PATH_MAX], tmp[PATH_MAX], home[PATH_MAX];
	char mask[2][PATH_MAX];
	int nmask;
	char resolv[PATH_MAX];		/* /run directory holding resolv.conf, or "" */
	char hostname[LOCAL_ID_MAX];
	unsigned long uid, gid;
	bool drop_groups;
	struct {
		char kind;		/* 'd' directory bound read-only, 'l' symlink */
		char name[256];
		char target[256];
	} top[PLAN_TOP_MAX];
	int ntop;
	int res;			/* result pipe, write end (close-on-exec) */
	int go_r, go_w;
	char *stack;
};

static void
remount_ro(const char *path)
{
	struct statvfs sv;
	unsigned long fl = MS_REMOUNT | MS_BIND | MS_RDONLY;

	if (statvfs(path, &sv) == 0) {
		if (sv.f_flag & ST_NOSUID)
			fl |= MS_NOSUID;
		if (sv.f_flag & ST_NODEV)
			fl |= MS_NODEV;
		if (sv.f_flag & ST_NOEXEC)
			fl |= MS_NOEXEC;
		if (sv.f_flag & ST_NOATIME)
			fl |= MS_NOATIME;
		if (sv.f_flag & ST_NODIRATIME)
			fl |= MS_NODIRATIME;
		if (sv.f_flag & ST_RELATIME)
			fl |= MS_RELATIME;
	}
	mount(NULL, path, NULL, fl, NULL);
}

/* Read-only, recursively; mount_setattr where the kernel has it (5.12+). */
static int
make_ro(const char *path, bool recursive)
{
	struct l_mount_attr at;

	memset(&at, 0, sizeof(at));
	at.attr_set = L_MOUNT_ATTR_RDONLY | L_MOUNT_ATTR_NOSUID;
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &at,
	    sizeof(at)) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	remount_ro(path);
	return 0;
}

static void
lo_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

static void
mkdir_p(char *p)
{
	for (size_t i = 1; p[i] != '\0'; i++) {
		if (p[i] == '/') {
			p[i] = '\0';
			mkdir(p, 0755);
			p[i] = '/';
		}
	}
	mkdir(p, 0755);
}

#define TRY(st, expr)                                                                      \
	do {                                                                               \
		if ((expr) < 0) {                                                          \
			*step = (st);                                                      \
			return errno;                                                      \
		}                                                                          \
	} while (0)
#define JOIN(out, a, b, c)                                                                 \
	do {                                                                               \
		if (!s_join((out), (a), (b), (c))) {                                       \
			errno = ENAMETOOLONG;                                              \
			return ENAMETOOLONG;                                               \
		}                                                                          \
	} while (0)

static int
sup_dev(const struct plan *p, int *step)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
		{ "ptmx", "pts/ptmx" },
	};
	char path[PATH_MAX], src[PATH_MAX];

	*step = STEP_DEV;
	JOIN(path, p->nr, "/dev", NULL);
	TRY(STEP_DEV, mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k"));
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		int fd;

		JOIN(path, p->nr, "/dev/", nodes[i]);
		JOIN(src, "/dev/", nodes[i], NULL);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd >= 0)
			close(fd);
		if (mount(src, path, NULL, MS_BIND, NULL) < 0 && i == 0)
			TRY(STEP_DEV, -1);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		JOIN(path, p->nr, "/dev/", links[i][0]);
		symlink(links[i][1], path);
	}
	JOIN(path, p->nr, "/dev/pts", NULL);
	mkdir(path, 0755);
	JOIN(path, p->nr, "/dev/shm", NULL);
	mkdir(path, 01777);
	return 0;
}

static int
sup_setup(struct plan *p, int *step)
{
	static const char *const dirs[] = { "proc", "dev", "sys", "tmp", "workspace", "root", "run" };
	char path[PATH_MAX], src[PATH_MAX], num[24];
	int fds[3], err;
	const char *targets[3] = { "/workspace", "/tmp", "/root" };
	struct stat st;

	/* The sandbox directories may sit under a directory only our host uid can search;
	 * open them before becoming the sandbox's root, and bind them through /proc/self/fd. */
	*step = STEP_OPEN;
	if ((fds[0] = open(p->ws, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (fds[1] = open(p->tmp, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (fds[2] = open(p->home, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno;
	if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0) {
		*step = STEP_SETUID;
		return errno;
	}
	TRY(STEP_PRIVATE, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	TRY(STEP_ROOTFS, mount("tmpfs", p->nr, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));

	/* This machine's top-level directories, bound (read-only below). */
	for (int i = 0; i < p->ntop; i++) {
		JOIN(path, p->nr, "/", p->top[i].name);
		if (p->top[i].kind == 'l') {
			symlink(p->top[i].target, path);
			continue;
		}
		JOIN(src, "/", p->top[i].name, NULL);
		if (mkdir(path, 0755) == 0 && mount(src, path, NULL, MS_BIND | MS_REC, NULL) < 0)
			rmdir(path);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		JOIN(path, p->nr, "/", dirs[i]);
		mkdir(path, 0755);
	}
	JOIN(path, p->nr, "/sys", NULL);
	mount("/sys", path, NULL, MS_BIND | MS_REC, NULL);
	if ((err = sup_dev(p, step)) != 0)
		return err;

	/* Hide the state root (other sandboxes) and the invoking user's home. */
	for (int i = 0; i < p->nmask; i++) {
		JOIN(path, p->nr, p->mask[i], NULL);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			TRY(STEP_MASK, mount("tmpfs", path, "tmpfs",
			    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=4k"));
	}
	TRY(STEP_RDONLY, make_ro(p->nr, true));

	/* Writable and private from here on. */
	JOIN(path, p->nr, "/proc", NULL);
	TRY(STEP_PROC, mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
	for (int i = 0; i < 3; i++) {
		s_uint(num, (unsigned long)fds[i]);
		JOIN(src, "/proc/self/fd/", num, NULL);
		JOIN(path, p->nr, targets[i], NULL);
		TRY(STEP_BIND, mount(src, path, NULL, MS_BIND | MS_REC, NULL));
		close(fds[i]);
	}
	JOIN(path, p->nr, "/run", NULL);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m") == 0 &&
	    p->resolv[0] != '\0') {
		JOIN(path, p->nr, p->resolv, NULL);
		mkdir_p(path);
		if (mount(p->resolv, path, NULL, MS_BIND, NULL) == 0)
			make_ro(path, false);
	}
	JOIN(path, p->nr, "/dev/shm", NULL);
	mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	JOIN(path, p->nr, "/dev/pts", NULL);
	mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");

	TRY(STEP_PIVOT, chdir(p->nr));
	TRY(STEP_PIVOT, syscall(SYS_pivot_root, ".", "."));
	TRY(STEP_PIVOT, umount2(".", MNT_DETACH));
	TRY(STEP_PIVOT, chdir("/"));
	sethostname(p->hostname, s_len(p->hostname));
	lo_up();
	return 0;
}

static int
sup_main(void *arg)
{
	struct plan *p = arg;
	static char *const argv[] = { "sleep", "2147483647", NULL };
	static char *const envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct sigaction sa;
	char c;
	int step = STEP_NONE, err, keep[1];

	close(p->go_w);
	if (read(p->go_r, &c, 1) != 1)
		_exit(1);
	close(p->go_r);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setsid();
	err = sup_setup(p, &step);
	if (err != 0) {
		rec_write(p->res, LREC_ERR, step, err);
		_exit(1);
	}
	stdio_devnull();
	keep[0] = p->res;
	close_fds_except(keep, 1);
	reset_signals();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;	/* pid 1 with SIGCHLD ignored: the kernel reaps orphans */
	sigaction(SIGCHLD, &sa, NULL);
	execve("/usr/bin/sleep", argv, envp);
	execve("/bin/sleep", argv, envp);
	rec_write(p->res, LREC_ERR, STEP_INIT, errno);
	_exit(1);
}

static int
write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64], num[24];
	int fd, rc = 0;
	size_t n = s_len(text);

	s_uint(num, (unsigned long)pid);
	s_join(path, "/proc/", num, "/");
	if (!s_join(path, path, file, NULL))
		return -1;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT && file[0] == 's' ? 0 : -1;	/* setgroups: old kernels */
	if (write(fd, text, n) != (ssize_t)n)
		rc = -1;
	close(fd);
	return rc;
}

static void __attribute__((noreturn))
p1_main(struct plan *p)
{
	int go[2], err;
	pid_t s;
	char line[64], num[24];

	setsid();
	if (p->drop_groups)
		syscall(SYS_setgroups, 0, NULL);
	if (pipe2(go, O_CLOEXEC) < 0) {
		rec_write(p->res, LREC_ERR, STEP_PIPE, errno);
		_exit(1);
	}
	p->go_r = go[0];
	p->go_w = go[1];
	s = clone(sup_main, p->stack + SUP_STACK_SIZE, CLONE_NEWUSER | CLONE_NEWNS |
	    CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | SIGCHLD, p);
	if (s < 0) {
		rec_write(p->res, LREC_ERR, STEP_CLONE, errno);
		_exit(1);
	}
	close(go[0]);
	if (write_proc(s, "setgroups", "deny") < 0)
		goto map_fail;
	s_uint(num, p->uid);
	s_join(line, "0 ", num, " 1\n");
	if (write_proc(s, "uid_map", line) < 0)
		goto map_fail;
	s_uint(num, p->gid);
	s_join(line, "0 ", num, " 1\n");
	if (write_proc(s, "gid_map", line) < 0)
		goto map_fail;
	rec_write(p->res, LREC_PID, s, 0);
	if (write(go[1], "x", 1) != 1)
		_exit(1);
	_exit(0);
map_fail:
	err = errno;
	kill(s, SIGKILL);
	rec_write(p->res, LREC_ERR, STEP_MAP, err);
	_exit(1);
}

static void
plan_top(struct plan *p)
{
	static const char *const skip[] = { "proc", "dev", "sys", "tmp", "run", "root",
		"workspace", "lost+found" };
	DIR *d = opendir("/");
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && p->ntop < PLAN_TOP_MAX) {
		struct stat st;
		char path[PATH_MAX];
		bool skipped = false;
		ssize_t n;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(p->top[0].name))
			continue;
		for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
			skipped = skipped || strcmp(de->d_name, skip[i]) == 0;
		snprintf(path, sizeof(path), "/%s", de->d_name);
		if (skipped || lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			p->top[p->ntop].kind = 'd';
		} else if (S_ISLNK(st.st_mode)) {
			n = readlink(path, p->top[p->ntop].target, sizeof(p->top[0].target) - 1);
			if (n <= 0)
				continue;
			p->top[p->ntop].target[n] = '\0';
			p->top[p->ntop].kind = 'l';
		} else {
			continue;
		}
		memcpy(p->top[p->ntop].name, de->d_name, strlen(de->d_name) + 1);
		p->ntop++;
	}
	closedir(d);
}

static int
sup_error(const struct lsb *sb, int step, int errnum, struct err *e)
{
	bool denied = errnum == EPERM || errnum == EACCES || errnum == EINVAL ||
	    errnum == ENOSPC || errnum == EUSERS || errnum == ENOSYS;

	if (denied && (step == STEP_CLONE || step == STEP_MAP || step == STEP_PRIVATE ||
	    step == STEP_ROOTFS || step == STEP_PROC || step == STEP_SETUID))
		return err_set(e, ERR_UNSUPPORTED, "cannot isolate a local sandbox: the kernel "
		    "refused %s (%s), so user namespaces are unavailable here; enable them, or run "
		    "sandbox-mcp with --local-isolation none (no isolation)",
		    local_step_name(step), strerror(errnum));
	if (step == STEP_INIT)
		return err_set(e, ERR_BACKEND, "could not start sandbox %s: sleep(1) was not "
		    "found at /usr/bin/sleep or /bin/sleep (%s)", sb->id, strerror(errnum));
	return err_set(e, ERR_BACKEND, "could not set up sandbox %s: %s failed (%s)", sb->id,
	    local_step_name(step), strerror(errnum));
}

int
local_sup_start(struct local *L, struct lsb *sb, struct err *e)
{
	struct plan *p = xcalloc(1, sizeof(*p));
	char rp[PATH_MAX];
	int res[2] = { -1, -1 }, step = 0, errnum = 0, rc = 0;
	pid_t p1, spid = 0;
	int64_t dl = deadline_in_ms(SUP_START_MS);
	bool eof = false;

	/* The new root is built on a tmpfs over /tmp of the supervisor's private mount
	 * namespace: reachable after it becomes the sandbox's root (unlike a directory under a
	 * 0700 state root), and the host's /tmp is not part of the sandbox anyway. */
	snprintf(p->nr, sizeof(p->nr), "/tmp");
	local_path(p->ws, sb, "workspace");
	local_path(p->tmp, sb, "tmp");
	local_path(p->home, sb, "home");
	snprintf(p->mask[p->nmask++], PATH_MAX, "%s", L->root);
	if (L->home_mask[0] != '\0')
		snprintf(p->mask[p->nmask++], PATH_MAX, "%s", L->home_mask);
	if (realpath("/etc/resolv.conf", rp) != NULL && strncmp(rp, "/run/", 5) == 0) {
		char *slash = strrchr(rp, '/');

		*slash = '\0';
		snprintf(p->resolv, sizeof(p->resolv), "%s", rp);
	}
	snprintf(p->hostname, sizeof(p->hostname), "%s", sb->id);
	p->uid = L->uid;
	p->gid = L->gid;
	p->drop_groups = L->host_root;
	plan_top(p);
	p->stack = mmap(NULL, SUP_STACK_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p->stack == MAP_FAILED) {
		free(p);
		return err_set(e, ERR_IO, "could not start sandbox %s: out of memory", sb->id);
	}
	if (pipe2(res, O_CLOEXEC) < 0) {
		rc = err_set(e, ERR_IO, "could not start sandbox %s: pipe: %s", sb->id,
		    strerror(errno));
		goto out;
	}
	p1 = fork();
	if (p1 < 0) {
		rc = err_set(e, ERR_IO, "could not start sandbox %s: fork: %s", sb->id,
		    strerror(errno));
		goto out;
	}
	if (p1 == 0) {
		close(res[0]);
		p->res = res[1];
		p1_main(p);
	}
	close(res[1]);
	res[1] = -1;
	while (!eof) {
		struct pollfd pf = { res[0], POLLIN, 0 };
		struct lrec r;
		ssize_t n;
		int pr = poll(&pf, 1, deadline_left_ms(dl));

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			step = STEP_INIT;
			errnum = ETIMEDOUT;
			break;
		}
		n = read(res[0], &r, sizeof(r));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(r)) {
			eof = true;
			break;
		}
		if (r.kind == LREC_PID)
			spid = r.a;
		else if (r.kind == LREC_ERR && errnum == 0) {
			step = r.a;
			errnum = r.b;
		}
	}
	while (waitpid(p1, NULL, 0) < 0 && errno == EINTR)
		;
	if (errnum == 0 && spid <= 0) {
		step = STEP_CLONE;
		errnum = ECHILD;
	}
	if (errnum != 0) {
		if (spid > 0)
			kill(spid, SIGKILL);
		rc = sup_error(sb, step, errnum, e);
		goto out;
	}
	sb->sup_pid = spid;
	sb->sup_start = local_pid_start(spid);
	if (sb->sup_start == 0)
		rc = err_set(e, ERR_BACKEND, "could not start sandbox %s: its init process "
		    "exited at once", sb->id);
out:
	if (res[0] >= 0)
		close(res[0]);
	if (res[1] >= 0)
		close(res[1]);
	munmap(p->stack, SUP_STACK_SIZE);
	free(p);
	return rc;
}

unsigned long long
local_pid_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, field;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL || p[1] == '\0')
		return 0;
	p += 2;
	if (*p == 'Z' || *p == 'X' || *p == 'x')
		return 0;
	for (field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return 0;
		p++;
	}
	return strtoull(p, NULL, 10);
}

bool
local_pid_alive(pid_t pid, unsigned long long start)
{
	return pid > 0 && start != 0 && local_pid_start(pid) == start;
}

int
local_ns_open(pid_t sup, unsigned long long start, bool net, bool drop_groups,
    struct lns *ns, struct err *e)
{
	static const char *const names[] = { "user", "mnt", "pid", "ipc", "uts", "net" };
	int *slots[] = { &ns->user, &ns->mnt, &ns->pid, &ns->ipc, &ns->uts, &ns->net };
	char path[64];

	for (int i = 0; i < 6; i++)
		*slots[i] = -1;
	ns->drop_groups = drop_groups;
	for (int i = 0; i < 6; i++) {
		if (i == 5 && !net)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)sup, names[i]);
		*slots[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (*slots[i] < 0) {
			int errnum = errno;

			local_ns_close(ns);
			return err_set(e, ERR_BACKEND, "could not enter the sandbox: opening %s: %s",
			    path, strerror(errnum));
		}
	}
	if (!local_pid_alive(sup, start)) {
		local_ns_close(ns);
		return err_set(e, ERR_BACKEND, "could not enter the sandbox: its init process "
		    "(pid %d) exited", (int)sup);
	}
	return 0;
}

void
local_ns_close(struct lns *ns)
{
	int *slots[] = { &ns->user, &ns->mnt, &ns->pid, &ns->ipc, &ns->uts, &ns->net };

	for (int i = 0; i < 6; i++) {
		if (*slots[i] >= 0)
			close(*slots[i]);
		*slots[i] = -1;
	}
}

/* ---- commands ------------------------------------------------------------------------ */

static void __attribute__((noreturn))
g_main(const struct lspawn *sp)
{
	int in, out, errfd, st, keep[1];

	setsid();
	if (!sp->background)
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	reset_signals();
	in = fcntl(sp->fd_in, F_DUPFD_CLOEXEC, 10);
	out = fcntl(sp->fd_out, F_DUPFD_CLOEXEC, 10);
	errfd = fcntl(sp->fd_err, F_DUPFD_CLOEXEC, 10);
	st = fcntl(sp->st, F_DUPFD_CLOEXEC, 10);
	if (in < 0 || out < 0 || errfd < 0 || st < 0)
		_exit(127);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
		_exit(127);
	rec_write(st, LREC_NSPID, (int)getpid(), 0);
	if (chdir(sp->cwd) < 0) {
		rec_write(st, LREC_ERR, STEP_CHDIR, errno);
		_exit(127);
	}
	keep[0] = st;
	close_fds_except(keep, 1);
	execve("/bin/bash", sp->argv_bash, sp->envp);
	execve("/usr/bin/bash", sp->argv_bash, sp->envp);
	execve("/bin/sh", sp->argv_sh, sp->envp);
	rec_write(st, LREC_ERR, STEP_EXEC, errno);
	_exit(127);
}

static volatile int mon_keep_fd = -1;

static void
mon_usr1(int sig)
{
	(void)sig;
	if (mon_keep_fd >= 0) {
		close(mon_keep_fd);
		mon_keep_fd = -1;
	}
}

static void __attribute__((noreturn))
mon_main(const struct lspawn *sp, pid_t g)
{
	struct sigaction sa;
	sigset_t none;
	char line[48], num[24];
	int status = 0, fd, keep[2], code = -1, sig = 0;
	size_t n;

	mon_keep_fd = sp->mon_keep;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = mon_usr1;	/* no SA_RESTART: waitpid sees EINTR and goes on */
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	rec_write(sp->st, LREC_MON, (int)getpid(), 0);
	stdio_devnull();
	keep[0] = sp->mon_dir;
	keep[1] = sp->mon_keep;
	close_fds_except(keep, 2);
	while (waitpid(g, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	if (status != -1 && WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (status != -1 && WIFSIGNALED(status)) {
		sig = WTERMSIG(status);
		code = 128 + sig;
	}
	if (code < 0) {
		line[0] = '-';
		line[1] = '1';
		line[2] = '\0';
	} else {
		s_uint(line, (unsigned long)code);
	}
	s_uint(num, (unsigned long)sig);
	s_join(line, line, " ", num);
	n = s_len(line);
	line[n++] = '\n';
	fd = openat(sp->mon_dir, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, n) == (ssize_t)n) {
			close(fd);
			renameat(sp->mon_dir, "exit.tmp", sp->mon_dir, "exit");
		} else {
			close(fd);
		}
	}
	_exit(0);
}

static void __attribute__((noreturn))
c_main(const struct lspawn *sp, pid_t parent)
{
	int step = STEP_NONE, err, status = 0;
	pid_t g;

	int keep[12] = { sp->fd_in, sp->fd_out, sp->fd_err, sp->st, sp->mon_dir, sp->mon_keep,
		-1, -1, -1, -1, -1, -1 };

	/* Drop every fd inherited from the (multi-threaded) parent: another exec's stdin
	 * write end held here would keep that command from ever seeing EOF. */
	if (sp->ns != NULL) {
		keep[6] = sp->ns->user;
		keep[7] = sp->ns->mnt;
		keep[8] = sp->ns->pid;
		keep[9] = sp->ns->ipc;
		keep[10] = sp->ns->uts;
		keep[11] = sp->ns->net;
	}
	close_fds_except(keep, 12);
	if (!sp->background)
		setpgid(0, 0);
	err = join_ns(sp->ns, true, &step);
	if (err != 0) {
		rec_write(sp->st, LREC_ERR, step, err);
		_exit(127);
	}
	if (parent > 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
	}
	g = fork();
	if (g < 0) {
		rec_write(sp->st, LREC_ERR, STEP_FORK, errno);
		_exit(127);
	}
	if (g == 0)
		g_main(sp);
	rec_write(sp->st, LREC_PID, (int)g, 0);
	close(sp->fd_in);
	close(sp->fd_out);
	if (sp->fd_err != sp->fd_out)
		close(sp->fd_err);
	if (sp->background)
		mon_main(sp, g);
	while (waitpid(g, &status, 0) < 0) {
		if (errno != EINTR) {
			status = 0x7f00;	/* unknown: reads as exit 127 */
			break;
		}
	}
	rec_write(sp->st, LREC_STATUS, status, 0);
	_exit(0);
}

pid_t
local_spawn(const struct lspawn *sp, struct err *e)
{
	pid_t parent = getpid(), pid;

	pid = fork();
	if (pid < 0) {
		err_set(e, ERR_IO, "could not start the command: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if (sp->background) {
			pid_t c;

			setsid();
			c = fork();
			if (c < 0) {
				rec_write(sp->st, LREC_ERR, STEP_FORK, errno);
				_exit(127);
			}
			if (c == 0)
				c_main(sp, 0);
			_exit(0);
		}
		c_main(sp, parent);
	}
	return pid;
}

/* ---- the path helper ------------------------------------------------------------------ */

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
	size_t n = s_len(rq->path);
	ssize_t k;

	*fd = -1;
	if (n == 0 || n >= sizeof(p)) {
		rp->err = n == 0 ? ENOENT : ENAMETOOLONG;
		return;
	}
	for (size_t i = 0; i <= n; i++)
		p[i] = rq->path[i];
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

static void __attribute__((noreturn))
h_main(const struct lns *ns, int sock, const struct lh_req *rq, pid_t parent)
{
	static struct lh_rep rp;	/* the child's own copy; too big for a small stack */
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m;
	struct iovec iov;
	int fd = -1, step = STEP_NONE, err;

	memset(&rp, 0, sizeof(rp));
	umask(022);
	err = join_ns(ns, false, &step);
	if (err == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(1);
	}
	if (err != 0) {
		rp.err = err;
		rp.step = step;
	} else if (chdir(LOCAL_WS) < 0) {
		rp.err = errno;
		rp.step = STEP_CHDIR;
	} else {
		lh_do(AT_FDCWD, rq, &rp, &fd);
	}
	memset(&m, 0, sizeof(m));
	iov.iov_base = &rp;
	iov.iov_len = sizeof(rp);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		m.msg_control = u.b;
		m.msg_controllen = sizeof(u.b);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	}
	sendmsg(sock, &m, MSG_NOSIGNAL);
	_exit(0);
}

static int
helper_wait(int sock, pid_t pid, struct lh_rep *rp, int *fd, struct call *c, struct err *e)
{
	int64_t dl = deadline_min(c != NULL ? c->deadline : DEADLINE_NONE,
	    deadline_in_ms(HELPER_MS));
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m;
	struct iovec iov;
	ssize_t n;

	for (;;) {
		struct pollfd pf[2] = { { sock, POLLIN, 0 },
			{ cancel_fd(c != NULL ? c->cancel : NULL), POLLIN, 0 } };
		int pr = poll(pf, pf[1].fd >= 0 ? 2 : 1, deadline_left_ms(dl));

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return err_set(e, c != NULL && deadline_passed(c->deadline) ? ERR_TIMEOUT :
			    ERR_BACKEND, "the file operation did not finish in time");
		if (pr > 0 && (pf[1].revents & POLLIN))
			return err_set(e, ERR_CANCELLED, "the file operation was cancelled");
		if (pr > 0)
			break;
		return err_set(e, ERR_IO, "file operation: poll: %s", strerror(errno));
	}
	memset(&m, 0, sizeof(m));
	memset(&u, 0, sizeof(u));
	iov.iov_base = rp;
	iov.iov_len = sizeof(*rp);
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.b;
	m.msg_controllen = sizeof(u.b);
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); n > 0 && cm != NULL;
	    cm = CMSG_NXTHDR(&m, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(*fd));
	if (n != (ssize_t)sizeof(*rp))
		return err_set(e, ERR_BACKEND, "the sandbox's file helper (pid %d) died", (int)pid);
	return 0;
}

int
local_helper(const struct lns *ns, int basefd, const struct lh_req *rq, struct lh_rep *rp,
    int *fd, struct call *c, struct err *e)
{
	int sv[2], rc;
	pid_t pid, parent = getpid();

	memset(rp, 0, sizeof(*rp));
	*fd = -1;
	if (ns == NULL || ns->user < 0) {
		lh_do(basefd, rq, rp, fd);
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(e, ERR_IO, "file operation: socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return err_set(e, ERR_IO, "file operation: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		h_main(ns, sv[1], rq, parent);
	}
	close(sv[1]);
	rc = helper_wait(sv[0], pid, rp, fd, c, e);
	close(sv[0]);
	if (rc != 0) {
		kill(pid, SIGKILL);
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (rc == 0 && rp->step != STEP_NONE) {
		rc = err_set(e, ERR_BACKEND, "could not enter the sandbox: %s failed (%s)",
		    local_step_name(rp->step), strerror(rp->err));
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	return rc;
}
