/*
 * test_local_confine.c -- attacks the local backend's seccomp filter and Landlock rules.
 *
 * Every attack runs in a forked child that installs the confinement and then makes the
 * forbidden call with harmless arguments; the child's exit status carries the errno
 * (or the signal that killed it) back to the parent, which checks it exactly. Each
 * denied system call is also made once without the filter, as a control: its arguments
 * are chosen so the kernel itself answers something other than EPERM (EFAULT, EINVAL,
 * EBADF, ENOENT...), so the test fails when the filter is missing. Where the kernel
 * answers EPERM anyway (an unprivileged uid), a note says that check proves nothing.
 * The controls run unconfined, as root in CI: every argument list below is one the
 * kernel rejects before acting (bad flags, bad fd, NULL or unmapped pointers).
 *
 * Decision: unshare(0) and unshare(CLONE_FS | CLONE_FILES) stay allowed; they create no
 * namespace, and tools (and libc) use them to stop sharing state with a parent.
 *
 * Run as any uid; what the kernel lacks (IA32 emulation, Landlock ABIs, a pty) is
 * reported as "# SKIP".
 */
#include "backends/local/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "tap.h"

#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup    425
#define SYS_io_uring_enter    426
#define SYS_io_uring_register 427
#endif
#ifndef SYS_open_tree
#define SYS_open_tree  428
#define SYS_move_mount 429
#define SYS_fsopen     430
#define SYS_fsconfig   431
#define SYS_fsmount    432
#define SYS_fspick     433
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

#define SETUP_FAILED 200        /* the child could not install what it was to test */
#define SIG_BASE     1000       /* status() of a child killed by signal s is SIG_BASE + s */
#define HIGH         (1L << 32) /* must be ignored: only the low word is compared */
#define P(s)         ((long)(s))

typedef int (*child_fn)(const void *arg);

/* The child's errno-style exit code, or SIG_BASE + the signal that killed it. */
static int
status(int st)
{
	if (st == -1)
		return -1;
	if (WIFSIGNALED(st))
		return SIG_BASE + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/* Runs fn in a child, under the seccomp filter when filter is set, with no core dumps
 * (SIGSYS dumps core by default). Returns status(). */
static int
in_child(bool filter, child_fn fn, const void *arg)
{
	struct rlimit rl = { 0, 0 };
	pid_t pid;
	int st;

	fflush(stdout);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		setrlimit(RLIMIT_CORE, &rl);
		if (filter && local_seccomp_apply() != 0)
			_exit(SETUP_FAILED);
		_exit(fn(arg) & 0xff);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return status(st);
}

static void
skip(const char *desc, const char *why)
{
	ok(1, "%s # SKIP %s", desc, why);
}

/* ---- denied system calls ------------------------------------------------------------ */

struct probe {
	const char *name;
	long nr;
	long a[6];
	int want;
};

static int
do_probe(const void *arg)
{
	const struct probe *p = arg;
	long r;

	r = syscall(p->nr, p->a[0], p->a[1], p->a[2], p->a[3], p->a[4], p->a[5]);
	return r == -1 ? errno : 0;
}

static void
test_denied(void)
{
	const long nothread = CLONE_THREAD;   /* without CLONE_SIGHAND: EINVAL unfiltered */
	const long badunshare = CLONE_PARENT; /* not an unshare flag: EINVAL unfiltered */
	const struct probe probes[] = {
		{ "mount", SYS_mount, { 0, 0, 0, 0, 0 }, EPERM },
		{ "umount2", SYS_umount2, { P(""), 0 }, EPERM },
		{ "pivot_root", SYS_pivot_root, { P(""), P("") }, EPERM },
		{ "move_mount", SYS_move_mount, { -1, P(""), -1, P(""), 0 }, EPERM },
		{ "open_tree", SYS_open_tree, { -1, P(""), 0 }, EPERM },
		{ "fsopen", SYS_fsopen, { 0, 0 }, EPERM },
		{ "fsmount", SYS_fsmount, { -1, 0, 0 }, EPERM },
		{ "fsconfig", SYS_fsconfig, { -1, 0, 0, 0, 0 }, EPERM },
		{ "fspick", SYS_fspick, { -1, P(""), 0 }, EPERM },
		{ "mount_setattr", SYS_mount_setattr, { -1, P(""), 0, 0, 0 }, EPERM },
		{ "setns", SYS_setns, { -1, 0 }, EPERM },
		{ "ptrace", SYS_ptrace, { 2 /* PEEKDATA */, INT_MAX, 0, 0 }, EPERM },
		{ "process_vm_readv", SYS_process_vm_readv, { INT_MAX, 0, 0, 0, 0, 1 }, EPERM },
		{ "process_vm_writev", SYS_process_vm_writev, { INT_MAX, 0, 0, 0, 0, 1 }, EPERM },
		{ "pidfd_getfd", SYS_pidfd_getfd, { -1, 0, 0 }, EPERM },
		{ "kcmp", SYS_kcmp, { INT_MAX, INT_MAX, 0, 0, 0 }, EPERM },
		{ "kexec_load", SYS_kexec_load, { 0, 0, 0, 0x7fff0100 }, EPERM },
		{ "kexec_file_load", SYS_kexec_file_load, { -1, -1, 0, 0, -1 }, EPERM },
		{ "bpf", SYS_bpf, { INT_MAX, 0, 0 }, EPERM },
		{ "keyctl", SYS_keyctl, { INT_MAX, 0, 0, 0, 0 }, EPERM },
		{ "add_key", SYS_add_key, { 0, 0, 0, 0, 0 }, EPERM },
		{ "request_key", SYS_request_key, { 0, 0, 0, 0 }, EPERM },
		{ "userfaultfd", SYS_userfaultfd, { -1 }, EPERM },
		{ "perf_event_open", SYS_perf_event_open, { 0, 0, -1, -1, 0 }, EPERM },
		{ "io_uring_setup", SYS_io_uring_setup, { 0, 0 }, EPERM },
		{ "io_uring_enter", SYS_io_uring_enter, { -1, 0, 0, 0, 0, 0 }, EPERM },
		{ "io_uring_register", SYS_io_uring_register, { -1, 0, 0, 0 }, EPERM },
		{ "init_module", SYS_init_module, { 0, 0, P("") }, EPERM },
		{ "finit_module", SYS_finit_module, { -1, P(""), 0 }, EPERM },
		{ "delete_module", SYS_delete_module, { P("sbx_confine_none"), O_NONBLOCK },
		    EPERM },
		{ "open_by_handle_at", SYS_open_by_handle_at, { -1, 0, 0 }, EPERM },
		{ "name_to_handle_at", SYS_name_to_handle_at, { -1, P(""), 0, 0, 0 }, EPERM },
		{ "reboot", SYS_reboot, { 0, 0, 0, 0 }, EPERM },
		{ "swapon", SYS_swapon, { 0, 0 }, EPERM },
		{ "swapoff", SYS_swapoff, { 0 }, EPERM },
		{ "syslog", SYS_syslog, { INT_MAX, 0, 0 }, EPERM },
		{ "acct", SYS_acct, { 1 /* unmapped */ }, EPERM },
		{ "settimeofday", SYS_settimeofday, { 0, 1 /* unmapped tz */ }, EPERM },
		{ "clock_settime", SYS_clock_settime, { INT_MAX, 0 }, EPERM },
		{ "quotactl", SYS_quotactl, { INT_MAX, 0, 0, 0 }, EPERM },
		{ "lookup_dcookie", SYS_lookup_dcookie, { 0, 0, 0 }, EPERM },
		{ "chroot", SYS_chroot, { P("") }, EPERM },
#ifdef SYS_iopl
		{ "iopl", SYS_iopl, { 4 }, EPERM },
		{ "ioperm", SYS_ioperm, { 0x10000, 1, 0 }, EPERM },
#endif
		{ "clone3", SYS_clone3, { 0, 0 }, ENOSYS },
		{ "unshare NEWNS", SYS_unshare, { CLONE_NEWNS | badunshare }, EPERM },
		{ "unshare NEWCGROUP", SYS_unshare, { CLONE_NEWCGROUP | badunshare }, EPERM },
		{ "unshare NEWUTS", SYS_unshare, { CLONE_NEWUTS | badunshare }, EPERM },
		{ "unshare NEWIPC", SYS_unshare, { CLONE_NEWIPC | badunshare }, EPERM },
		{ "unshare NEWUSER", SYS_unshare, { CLONE_NEWUSER | badunshare }, EPERM },
		{ "unshare NEWPID", SYS_unshare, { CLONE_NEWPID | badunshare }, EPERM },
		{ "unshare NEWNET", SYS_unshare, { CLONE_NEWNET | badunshare }, EPERM },
		{ "unshare NEWTIME", SYS_unshare, { CLONE_NEWTIME | badunshare }, EPERM },
		{ "unshare NEWUSER, high bits set", SYS_unshare,
		    { HIGH | CLONE_NEWUSER | badunshare }, EPERM },
		{ "clone NEWNS", SYS_clone, { CLONE_NEWNS | nothread }, EPERM },
		{ "clone NEWCGROUP", SYS_clone, { CLONE_NEWCGROUP | nothread }, EPERM },
		{ "clone NEWUTS", SYS_clone, { CLONE_NEWUTS | nothread }, EPERM },
		{ "clone NEWIPC", SYS_clone, { CLONE_NEWIPC | nothread }, EPERM },
		{ "clone NEWUSER", SYS_clone, { CLONE_NEWUSER | nothread }, EPERM },
		{ "clone NEWPID", SYS_clone, { CLONE_NEWPID | nothread }, EPERM },
		{ "clone NEWNET", SYS_clone, { CLONE_NEWNET | nothread }, EPERM },
		{ "clone NEWUSER, high bits set", SYS_clone, { HIGH | CLONE_NEWUSER | nothread },
		    EPERM },
		{ "ioctl TIOCSTI", SYS_ioctl, { -1, TIOCSTI, 0 }, EPERM },
		{ "ioctl TIOCLINUX", SYS_ioctl, { -1, TIOCLINUX, 0 }, EPERM },
		{ "ioctl TIOCSTI, high bits set", SYS_ioctl, { -1, HIGH | TIOCSTI, 0 }, EPERM },
		{ "socket AF_VSOCK", SYS_socket, { AF_VSOCK, 15 /* bad type */, 0 }, EPERM },
		{ "socket AF_PACKET", SYS_socket, { AF_PACKET, 15, 0 }, EPERM },
		{ "socket AF_PACKET, high bits set", SYS_socket, { HIGH | AF_PACKET, 15, 0 },
		    EPERM },
	};
	size_t i;
	int got, ctl, blind = 0;

	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		const struct probe *p = &probes[i];

		got = in_child(true, do_probe, p);
		ctl = in_child(false, do_probe, p);
		if (!ok(got == p->want, "%s: %s under the filter (%s without)", p->name,
		        strerror(p->want), ctl >= 0 && ctl < SIG_BASE ? strerror(ctl) : "killed"))
			note("  got %d, want %d; unfiltered %d", got, p->want, ctl);
		else if (ctl == p->want)
			blind++;
	}
	/* Only a uid without the capability gets the kernel's own EPERM; root sees none. */
	if (blind > 0)
		note("%d of these answer EPERM for this uid without the filter too; they "
		     "prove the filter only when run as root",
		    blind);
}

/* ---- killed: foreign architecture, x32 ----------------------------------------------- */

#if defined(__x86_64__)
#define NO_IA32 99 /* int $0x80 faulted: the kernel has no IA32 emulation */

static void
on_segv(int sig)
{
	_exit(NO_IA32);
}

static int
do_int80_getpid(const void *arg)
{
	struct sigaction sa;
	long r = 20; /* getpid in the i386 table */

	/* Our handler, not the sanitizer's, so the parent can tell a fault from a kill. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	__asm__ volatile("int $0x80" : "+a"(r) : : "r8", "r9", "r10", "r11", "memory", "cc");
	return r == getpid() ? 0 : 1;
}

static int
do_x32_getpid(const void *arg)
{
	long r;

	r = syscall(SYS_getpid | 0x40000000L);
	return r == -1 ? errno : 0;
}
#endif

static void
test_killed(void)
{
#if defined(__x86_64__)
	int got, ctl;

	ctl = in_child(false, do_int80_getpid, NULL);
	got = in_child(true, do_int80_getpid, NULL);
	if (ctl == NO_IA32)
		skip("i386 int $0x80 is killed", "this kernel has no IA32 emulation");
	else if (!ok(got == SIG_BASE + SIGSYS, "i386 int $0x80 getpid kills with SIGSYS"))
		note("  got %d, unfiltered %d", got, ctl);

	ctl = in_child(false, do_x32_getpid, NULL);
	got = in_child(true, do_x32_getpid, NULL);
	if (!ok(got == SIG_BASE + SIGSYS && ctl < SIG_BASE,
	        "x32 getpid (nr | 0x40000000) kills with SIGSYS"))
		note("  got %d, unfiltered %d", got, ctl);
#else
	skip("i386 int $0x80 is killed", "not x86_64");
	skip("x32 system calls are killed", "not x86_64");
#endif
}

/* ---- allowed after the filter ------------------------------------------------------ */

static int
do_state(const void *arg)
{
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2)
		return 1;
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 2;
}

/* Forks (plain fork(): clone without CLONE_NEW*); the grandchild runs argv, or exits 7. */
static int
fork_wait(char *const *argv)
{
	pid_t pid;
	int st;

	if ((pid = fork()) == -1)
		return errno;
	if (pid == 0) {
		if (argv != NULL)
			execv(argv[0], argv);
		_exit(argv != NULL ? 127 : 7);
	}
	if (waitpid(pid, &st, 0) == -1)
		return errno;
	return status(st);
}

static int
do_fork(const void *arg)
{
	return fork_wait(NULL) == 7 ? 0 : 1;
}

static int
do_exec(const void *arg)
{
	return fork_wait((char *const *)arg);
}

static void *
thread_main(void *arg)
{
	return arg;
}

/* glibc tries clone3 first: ENOSYS must send it to clone, whose thread flags pass. */
static int
do_thread(const void *arg)
{
	static int token;
	pthread_t t;
	void *r = NULL;

	if ((errno = pthread_create(&t, NULL, thread_main, &token)) != 0)
		return errno;
	if ((errno = pthread_join(t, &r)) != 0)
		return errno;
	return r == &token ? 0 : 1;
}

static int
do_unshare(const void *arg)
{
	if (unshare(0) == -1)
		return errno;
	return unshare(CLONE_FS | CLONE_FILES) == -1 ? errno : 0;
}

static int
do_sockets(const void *arg)
{
	int a, b, sv[2];

	a = socket(AF_INET, SOCK_STREAM, 0);
	b = socket(AF_UNIX, SOCK_STREAM, 0);
	if (a == -1 || b == -1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return errno;
	return 0;
}

static int
do_fionread(const void *arg)
{
	int p[2], n = 0;

	if (pipe(p) == -1 || write(p[1], "abc", 3) != 3)
		return errno;
	if (ioctl(p[0], FIONREAD, &n) == -1)
		return errno;
	if (n != 3)
		return 1;
	/* A neighbour of TIOCSTI is not caught: the fd is what fails. */
	return syscall(SYS_ioctl, -1, TIOCSTI + 1, 0) == -1 && errno == EBADF ? 0 : 2;
}

static int
do_winsz(const void *arg)
{
	const int *fd = arg;
	struct winsize ws;

	if (ioctl(fd[0], TIOCGWINSZ, &ws) == -1 || ioctl(fd[1], TIOCGWINSZ, &ws) == -1)
		return errno;
	return 0;
}

static int
do_mmap(const void *arg)
{
	char *p;

	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	memset(p, 'x', 65536);
	if (mprotect(p, 65536, PROT_READ) == -1 || munmap(p, 65536) == -1)
		return errno;
	return 0;
}

/* Opens a pty pair for TIOCGWINSZ; -1 when this machine has none for us. */
static int
open_pty(int fd[2])
{
	char *name;

	if ((fd[0] = posix_openpt(O_RDWR | O_NOCTTY)) == -1)
		return -1;
	if (grantpt(fd[0]) == -1 || unlockpt(fd[0]) == -1 || (name = ptsname(fd[0])) == NULL ||
	    (fd[1] = open(name, O_RDWR | O_NOCTTY)) == -1) {
		close(fd[0]);
		return -1;
	}
	return 0;
}

static void
test_allowed(const char *self)
{
	char *true_argv[] = { "/bin/true", NULL };
	char *self_argv[] = { (char *)self, "--confine-probe", NULL };
	int pty[2], n;

	n = local_seccomp_len();
	if (!ok(n > 40 && n < 128, "the filter has %d instructions", n))
		note("  local_seccomp_len() = %d", n);
	is_int(in_child(true, do_state, NULL), 0,
	    "after apply: PR_GET_SECCOMP is 2 (filter) and NO_NEW_PRIVS is set");
	is_int(in_child(true, do_fork, NULL), 0, "fork() still works");
	is_int(in_child(true, do_thread, NULL), 0,
	    "pthread_create works (clone3 ENOSYS falls back to clone)");
	is_int(in_child(true, do_unshare, NULL), 0,
	    "unshare(0) and unshare(CLONE_FS|CLONE_FILES) are allowed");
	is_int(in_child(true, do_sockets, NULL), 0, "socket AF_INET, AF_UNIX, socketpair");
	is_int(in_child(true, do_fionread, NULL), 0,
	    "ioctl FIONREAD works, TIOCSTI+1 reaches the kernel");
	if (open_pty(pty) == -1) {
		skip("ioctl TIOCGWINSZ on a pty", "no pty available");
	} else {
		is_int(in_child(true, do_winsz, pty), 0, "ioctl TIOCGWINSZ on a pty");
		close(pty[0]);
		close(pty[1]);
	}
	is_int(in_child(true, do_mmap, NULL), 0, "mmap, mprotect, munmap");
	if (access(true_argv[0], X_OK) == -1)
		skip("execve /bin/true", "no /bin/true");
	else
		is_int(in_child(true, do_exec, true_argv), 0, "fork + execve /bin/true exits 0");
	is_int(in_child(true, do_exec, self_argv), 0,
	    "the filter survives execve (clone3 is still ENOSYS in the new image)");
	is_int(in_child(false, do_exec, self_argv), 1,
	    "control: without the filter the re-executed probe sees no filter");
}

/* main(--confine-probe): run in an image exec'ed under (or without) the filter. */
static int
probe_main(void)
{
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2)
		return 1;
	return syscall(SYS_clone3, 0, 0) == -1 && errno == ENOSYS ? 0 : 2;
}

/* ---- Landlock ---------------------------------------------------------------------- */

enum ll_op {
	LL_APPLY,
	LL_A_CREATE,
	LL_A_TRUNCATE,
	LL_A_RENAME,
	LL_A_MKDIR,
	LL_A_RMDIR,
	LL_A_SYMLINK,
	LL_A_MKFIFO,
	LL_A_UNLINK,
	LL_B_CREATE,
	LL_B_OPENW,
	LL_B_TRUNCATE,
	LL_B_UNLINK,
	LL_B_RENAME,
	LL_B_MKDIR,
	LL_B_RMDIR,
	LL_B_SYMLINK,
	LL_B_MKFIFO,
	LL_A_TO_B,
	LL_B_READ,
	LL_B_LIST,
	LL_UNIX_OUT,
	LL_UNIX_OWN,
	LL_KILL_PARENT,
	LL_KILL_OWN
};

struct ll_case {
	enum ll_op op;
	int min_abi;
	int want;
	const char *desc;
};

static const struct ll_case ll_cases[] = {
	{ LL_APPLY, 1, 0, "apply({missing, A, a file}) returns the ABI" },
	{ LL_A_CREATE, 1, 0, "A: create and write a file" },
	{ LL_A_TRUNCATE, 1, 0, "A: truncate it" },
	{ LL_A_RENAME, 1, 0, "A: rename it" },
	{ LL_A_MKDIR, 1, 0, "A: mkdir" },
	{ LL_A_RMDIR, 1, 0, "A: rmdir" },
	{ LL_A_SYMLINK, 1, 0, "A: symlink" },
	{ LL_A_MKFIFO, 1, 0, "A: mkfifo" },
	{ LL_A_UNLINK, 1, 0, "A: unlink" },
	{ LL_B_CREATE, 1, EACCES, "B: creating a file" },
	{ LL_B_OPENW, 1, EACCES, "B: opening a file for writing" },
	{ LL_B_TRUNCATE, 3, EACCES, "B: truncate(2)" },
	{ LL_B_UNLINK, 1, EACCES, "B: unlink" },
	{ LL_B_RENAME, 1, EACCES, "B: rename within B" },
	{ LL_B_MKDIR, 1, EACCES, "B: mkdir" },
	{ LL_B_RMDIR, 1, EACCES, "B: rmdir" },
	{ LL_B_SYMLINK, 1, EACCES, "B: symlink" },
	{ LL_B_MKFIFO, 1, EACCES, "B: mkfifo" },
	{ LL_A_TO_B, 2, EACCES, "rename from A into B" },
	{ LL_B_READ, 1, 0, "B: reading a file still works" },
	{ LL_B_LIST, 1, 0, "B: listing the directory still works" },
	{ LL_UNIX_OUT, 6, EPERM, "connect to the parent's abstract unix socket" },
	{ LL_UNIX_OWN, 6, 0, "connect to an abstract unix socket of the sandbox" },
	{ LL_KILL_PARENT, 6, EPERM, "kill(parent, 0)" },
	{ LL_KILL_OWN, 6, 0, "kill(own child, 0)" },
};
#define LL_NCASES (sizeof(ll_cases) / sizeof(ll_cases[0]))

static char base[PATH_MAX], dir_a[PATH_MAX], dir_b[PATH_MAX];
static char unix_parent[64], unix_child[64];

static char *
path(char *out, const char *dir, const char *name)
{
	if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		abort(); /* short names under a mkdtemp directory: cannot happen */
	return out;
}

static int
sys(int r)
{
	return r == -1 ? errno : 0;
}

/* An abstract address: sun_path[0] is NUL, the name follows. */
static socklen_t
abstract(struct sockaddr_un *sa, const char *name)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path + 1, name, strlen(name));
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
}

static int
unix_connect(const char *name)
{
	struct sockaddr_un sa;
	socklen_t len = abstract(&sa, name);
	int s, r;

	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return errno;
	r = sys(connect(s, (struct sockaddr *)&sa, len));
	close(s);
	return r;
}

static int
unix_listen(const char *name)
{
	struct sockaddr_un sa;
	socklen_t len = abstract(&sa, name);
	int s;

	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(s, (struct sockaddr *)&sa, len) == -1 || listen(s, 4) == -1) {
		close(s);
		return -1;
	}
	return s;
}

static int
kill_own(void)
{
	pid_t pid;
	int r;

	if ((pid = fork()) == -1)
		return errno;
	if (pid == 0) {
		pause();
		_exit(0);
	}
	r = sys(kill(pid, 0));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return r;
}

static int
ll_do(enum ll_op op, int abi)
{
	const char *dirs[] = { "/nonexistent/sbx-confine", dir_a, NULL };
	char p[PATH_MAX], q[PATH_MAX], buf[8];
	DIR *d;
	int fd, r, ls;

	switch (op) {
	case LL_APPLY:
		path(p, dir_b, "keep"); /* a file: ENOTDIR, skipped */
		dirs[2] = p;
		r = local_landlock_apply(dirs, 3);
		return r == abi ? 0 : r < 0 ? -r : 255;
	case LL_A_CREATE:
		path(p, dir_a, "f");
		if ((fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) == -1)
			return errno;
		r = write(fd, "hello", 5) == 5 ? 0 : errno;
		close(fd);
		return r;
	case LL_A_TRUNCATE:
		return sys(truncate(path(p, dir_a, "f"), 1));
	case LL_A_RENAME:
		path(p, dir_a, "f");
		path(q, dir_a, "g");
		return sys(rename(p, q));
	case LL_A_MKDIR:
		return sys(mkdir(path(p, dir_a, "d"), 0700));
	case LL_A_RMDIR:
		return sys(rmdir(path(p, dir_a, "d")));
	case LL_A_SYMLINK:
		return sys(symlink("g", path(p, dir_a, "s")));
	case LL_A_MKFIFO:
		return sys(mkfifo(path(p, dir_a, "p"), 0600));
	case LL_A_UNLINK:
		return sys(unlink(path(p, dir_a, "g")));
	case LL_B_CREATE:
		path(p, dir_b, "new");
		if ((fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) == -1)
			return errno;
		close(fd);
		return 0;
	case LL_B_OPENW:
		path(p, dir_b, "keep");
		if ((fd = open(p, O_WRONLY | O_CLOEXEC)) == -1)
			return errno;
		close(fd);
		return 0;
	case LL_B_TRUNCATE:
		return sys(truncate(path(p, dir_b, "keep"), 0));
	case LL_B_UNLINK:
		return sys(unlink(path(p, dir_b, "keep")));
	case LL_B_RENAME:
		path(p, dir_b, "keep");
		path(q, dir_b, "moved");
		return sys(rename(p, q));
	case LL_B_MKDIR:
		return sys(mkdir(path(p, dir_b, "d"), 0700));
	case LL_B_RMDIR:
		return sys(rmdir(path(p, dir_b, "sub")));
	case LL_B_SYMLINK:
		return sys(symlink("keep", path(p, dir_b, "s")));
	case LL_B_MKFIFO:
		return sys(mkfifo(path(p, dir_b, "p"), 0600));
	case LL_A_TO_B:
		path(p, dir_a, "old");
		path(q, dir_b, "old");
		return sys(rename(p, q));
	case LL_B_READ:
		path(p, dir_b, "keep");
		if ((fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
			return errno;
		r = read(fd, buf, sizeof(buf)) == 4 && memcmp(buf, "data", 4) == 0 ? 0 : 1;
		close(fd);
		return r;
	case LL_B_LIST:
		if ((d = opendir(dir_b)) == NULL)
			return errno;
		r = readdir(d) != NULL ? 0 : 1;
		closedir(d);
		return r;
	case LL_UNIX_OUT:
		return unix_connect(unix_parent);
	case LL_UNIX_OWN:
		if ((ls = unix_listen(unix_child)) == -1)
			return errno;
		r = unix_connect(unix_child);
		close(ls);
		return r;
	case LL_KILL_PARENT:
		return sys(kill(getppid(), 0));
	case LL_KILL_OWN:
		return kill_own();
	}
	return 255;
}

/* The child: NO_NEW_PRIVS, then every case in order; one int per case down fd. */
static int
ll_child(int fd, int abi)
{
	int res[LL_NCASES];
	size_t i;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return SETUP_FAILED;
	for (i = 0; i < LL_NCASES; i++)
		res[i] = ll_cases[i].min_abi <= abi ? ll_do(ll_cases[i].op, abi) : -1;
	return write(fd, res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : SETUP_FAILED;
}

static int
rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	remove(p);
	return 0;
}

static int
ll_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char p[PATH_MAX];
	int fd;

	snprintf(base, sizeof(base), "%s/sbx-confine-XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(base) == NULL)
		return -1;
	path(dir_a, base, "A");
	path(dir_b, base, "B");
	if (mkdir(dir_a, 0700) == -1 || mkdir(dir_b, 0700) == -1)
		return -1;
	path(p, dir_b, "sub");
	if (mkdir(p, 0700) == -1)
		return -1;
	path(p, dir_a, "old");
	if ((fd = open(p, O_CREAT | O_WRONLY, 0600)) == -1)
		return -1;
	close(fd);
	path(p, dir_b, "keep");
	if ((fd = open(p, O_CREAT | O_WRONLY, 0600)) == -1)
		return -1;
	if (write(fd, "data", 4) != 4) {
		close(fd);
		return -1;
	}
	close(fd);
	snprintf(unix_parent, sizeof(unix_parent), "sbx-confine-%d-parent", (int)getpid());
	snprintf(unix_child, sizeof(unix_child), "sbx-confine-%d-child", (int)getpid());
	return 0;
}

/* Without NO_NEW_PRIVS (and without CAP_SYS_ADMIN) restrict_self must refuse. */
static int
do_no_nnp(const void *arg)
{
	const char *dirs[] = { dir_a };
	int r;

	r = local_landlock_apply(dirs, 1);
	return r == -EPERM ? 0 : r < 0 ? -r : 255;
}

static void
test_landlock_describe(int abi)
{
	char want[16];
	int i;

	is_str(local_landlock_describe(0), "not available on this kernel", "describe(0)");
	is_str(local_landlock_describe(-1), "not available on this kernel", "describe(-1)");
	for (i = 1; i <= 9; i++) {
		snprintf(want, sizeof(want), i <= 7 ? "ABI %d:" : "ABI 8+:", i);
		if (!ok(strncmp(local_landlock_describe(i), want, strlen(want)) == 0,
		        "describe(%d) starts \"%s\"", i, want))
			note("  got \"%s\"", local_landlock_describe(i));
	}
	ok(strstr(local_landlock_describe(6), "abstract unix sockets and signals") != NULL,
	    "describe(6) names the scopes");
	note("this kernel: %s", local_landlock_describe(abi));
}

static void
test_landlock(void)
{
	char p[PATH_MAX];
	int abi, res[LL_NCASES], pfd[2], ls, st, fd;
	size_t i;
	pid_t pid;
	ssize_t got;

	abi = local_landlock_abi();
	note("Landlock ABI %d", abi);
	test_landlock_describe(abi);
	if (abi == 0) {
		for (i = 0; i < LL_NCASES; i++)
			skip(ll_cases[i].desc, "no Landlock on this kernel");
		return;
	}
	if (!ok(ll_setup() == 0, "set up directories A and B under %s", base))
		return;
	if (geteuid() == 0)
		skip("apply without NO_NEW_PRIVS fails with EPERM", "root has CAP_SYS_ADMIN");
	else
		is_int(in_child(false, do_no_nnp, NULL), 0,
		    "apply without NO_NEW_PRIVS fails with EPERM");

	ls = unix_listen(unix_parent);
	if (ls == -1 || pipe(pfd) == -1) {
		ok(0, "abstract listener and pipe: %s", strerror(errno));
		return;
	}
	fflush(stdout);
	if ((pid = fork()) == 0) {
		close(pfd[0]);
		_exit(ll_child(pfd[1], abi));
	}
	close(pfd[1]);
	got = pid == -1 ? -1 : read(pfd[0], res, sizeof(res));
	close(pfd[0]);
	st = 0;
	if (pid != -1)
		waitpid(pid, &st, 0);
	close(ls);
	if (!ok(got == (ssize_t)sizeof(res) && status(st) == 0, "the Landlock child reported"))
		note("  read %zd bytes, child status %d", got, status(st));
	for (i = 0; got == (ssize_t)sizeof(res) && i < LL_NCASES; i++) {
		const struct ll_case *c = &ll_cases[i];

		if (c->min_abi > abi) {
			char why[48];

			snprintf(why, sizeof(why), "needs Landlock ABI %d", c->min_abi);
			skip(c->desc, why);
			continue;
		}
		if (!ok(res[i] == c->want, "%s: %s", c->desc,
		        c->want == 0 ? "works" : strerror(c->want)))
			note("  got %d (%s)", res[i],
			    res[i] > 0 && res[i] < 200 ? strerror(res[i]) : "?");
	}
	/* The parent, unconfined, still writes to B: the refusals above were Landlock's. */
	path(p, dir_b, "parent-can");
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ok(fd != -1, "control: outside the domain B is writable");
	if (fd != -1)
		close(fd);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n;

	if (argc > 1 && strcmp(argv[1], "--confine-probe") == 0)
		_exit(probe_main());
	signal(SIGPIPE, SIG_IGN);
	/* argv[0] may be relative; re-execution must find the same binary. */
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		n = 0;
	self[n] = '\0';
	note("seccomp: denied calls under the filter, each with an unfiltered control");
	test_denied();
	test_killed();
	note("seccomp: what must keep working");
	test_allowed(self);
	note("landlock");
	test_landlock();
	return done_testing();
}
