/*
 * init.c -- pid 1 of a sandbox: builds the sandbox around itself, then starts commands
 * when its supervisor asks and reports their pids and exit statuses.
 *
 * Setup, in this order (each step fails the whole sandbox, never half of it):
 *   1. wait until the supervisor has written our uid/gid maps and moved us into the
 *      sandbox's cgroups; become non-dumpable, so neither the sandbox nor the host's
 *      unprivileged user can open our /proc files (fds, root, memory);
 *   2. build the root from the allowlist and pivot into it (rootfs.c); check that
 *      everything but the writable set is read-only (fail closed);
 *   3. set the sandbox's rlimits, then enter a second user namespace (and with it a copy of
 *      the mount namespace whose mounts are all locked to us), mapping the sandbox user;
 *   4. NO_NEW_PRIVS and one Landlock domain for the whole sandbox (landlock.c);
 *   5. hand the supervisor the user and mount namespaces (for file operations).
 * Isolation none skips 1 (but for the wait), 2, 3 and 4's Landlock: init is then a child
 * subreaper on the host, so every descendant stays findable and killable.
 *
 * The network namespace is the sandbox's own (loopback only): before the second user
 * namespace init makes the relay's sockets there, and after Landlock installs the
 * filter that hands every connect() to the supervisor (net.c); all go to the supervisor.
 *
 * A command is forked here: it starts a new session, takes its three fds as 0-2 and closes
 * every other, drops every
 * capability set (bounding, ambient, effective, permitted, inheritable; securebits locked),
 * installs the seccomp filter and execs bash -l -c (sh -c without bash). A failure before
 * exec is reported through a close-on-exec pipe, so a start either succeeds or names the
 * step that failed.
 *
 * Init never trusts its sandbox: it reads only from the supervisor's socket, ignores every
 * signal a sandbox process can send it (pid 1 of a PID namespace), and leaves when the
 * supervisor's socket closes, which ends every process of the sandbox.
 */
#include "backends/local/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/mem.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT           47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#define L_SECBIT_NOROOT                      (1 << 0)
#define L_SECBIT_NOROOT_LOCKED               (1 << 1)
#define L_SECBIT_NO_SETUID_FIXUP             (1 << 2)
#define L_SECBIT_NO_SETUID_FIXUP_LOCKED      (1 << 3)
#define L_SECBIT_KEEP_CAPS_LOCKED            (1 << 5)
#define L_SECBIT_NO_CAP_AMBIENT_RAISE        (1 << 6)
#define L_SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)
#define L_CAP_VERSION_3                      0x20080522

#define INIT_KIDS_MAX 4096

struct l_cap_header {
	uint32_t version;
	int pid;
};

struct l_cap_data {
	uint32_t effective, permitted, inheritable;
};

/* A command started for the supervisor: its pid and the tag to report its exit with. */
struct kid {
	pid_t pid;
	uint32_t tag;
};

struct init {
	struct init_conf *c;
	int sfd;               /* signalfd: SIGCHLD */
	int netfd[NETFD__MAX]; /* for the supervisor (I_NET), -1 = none */
	int last_cap;
	int mfds[LOCAL_MOUNTS_MAX];
	struct kid kids[INIT_KIDS_MAX];
	size_t nkids;
};

/* ---- setup ----------------------------------------------------------------------------- */

static void __attribute__((noreturn))
setup_failed(struct init *in, uint32_t tag, int step, int errnum, const char *detail)
{
	const char *d = detail != NULL ? detail : "";

	wire_send(in->c->chan, I_FAILED, tag, step, errnum, 0, d, strlen(d), NULL, 0);
	_exit(1);
}

static int
write_self(const char *file, const char *text)
{
	char path[64];
	int fd, rc = 0;
	size_t n = strlen(text);

	snprintf(path, sizeof(path), "/proc/self/%s", file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (write(fd, text, n) != (ssize_t)n)
		rc = errno != 0 ? errno : EIO;
	close(fd);
	return rc;
}

/* The second user namespace: every mount of the copied mount namespace is locked to it. */
static void
enter_userns2(struct init *in)
{
	char line[64];
	int rc;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		setup_failed(in, 0, STEP_USERNS2, errno, "unshare");
	snprintf(line, sizeof(line), "%u 0 1\n", in->c->fs.in_uid);
	if ((rc = write_self("setgroups", "deny")) != 0 && rc != ENOENT)
		setup_failed(in, 0, STEP_USERNS2, rc, "/proc/self/setgroups");
	if ((rc = write_self("uid_map", line)) != 0)
		setup_failed(in, 0, STEP_USERNS2, rc, "/proc/self/uid_map");
	if ((rc = write_self("gid_map", line)) != 0)
		setup_failed(in, 0, STEP_USERNS2, rc, "/proc/self/gid_map");
}

static int
read_last_cap(void)
{
	char buf[16];
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 63;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 63;
	buf[n] = '\0';
	return atoi(buf) > 0 ? atoi(buf) : 63;
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

/* A listening (or, for UDP, bound) socket on a loopback address of the sandbox's network
 * namespace, non-blocking for the supervisor's loop; -1 when it cannot be made. */
static int
net_listener(int family, int type, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;

		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &in4->sin_addr);
		len = sizeof(*in4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &in6->sin6_addr);
		len = sizeof(*in6);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The sandbox's network namespace (we made it with the user namespace, so hold its
 * capabilities): loopback up, and the relay's sockets, which the supervisor will hold.
 * Before the second user namespace: port 53 takes CAP_NET_BIND_SERVICE of this one. */
static void
net_setup(struct init *in)
{
	int *f = in->netfd;

	lo_up();
	f[NETFD_RELAY4] = net_listener(AF_INET, SOCK_STREAM, "127.0.0.1", 0);
	f[NETFD_RELAY6] = net_listener(AF_INET6, SOCK_STREAM, "::1", 0);
	f[NETFD_DNS_UDP] = net_listener(AF_INET, SOCK_DGRAM, "127.0.0.1", 53);
	f[NETFD_DNS_TCP] = net_listener(AF_INET, SOCK_STREAM, "127.0.0.1", 53);
	f[NETFD_PROXY] = net_listener(AF_INET, SOCK_STREAM, "127.0.0.1", LOCAL_PROXY_PORT);
	f[NETFD_NETNS] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (f[NETFD_RELAY4] < 0 || f[NETFD_DNS_UDP] < 0 || f[NETFD_NETNS] < 0)
		setup_failed(in, 0, STEP_NETNS, errno, "the relay's sockets");
}

/* Hands the network fds to the supervisor (I_NET) and closes ours. */
static void
net_send(struct init *in)
{
	int fds[NETFD__MAX], n = 0, bits = 0;

	for (int i = 0; i < NETFD__MAX; i++) {
		if (in->netfd[i] < 0)
			continue;
		bits |= 1 << i;
		fds[n++] = in->netfd[i];
	}
	if (wire_send(in->c->chan, I_NET, 0, bits, 0, 0, NULL, 0, fds, n) != 0)
		_exit(1);
	for (int i = 0; i < NETFD__MAX; i++)
		if (in->netfd[i] >= 0)
			close(in->netfd[i]);
}

/* Fresh TCP sockets inside, for the supervisor's forwards into the sandbox. */
static void
inside_sockets(struct init *in, int family, int count)
{
	int fds[WIRE_FDS_MAX], n = 0;

	if (count > WIRE_FDS_MAX)
		count = WIRE_FDS_MAX;
	while (n < count && (family == AF_INET || family == AF_INET6)) {
		fds[n] = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fds[n] < 0)
			break;
		n++;
	}
	wire_send(in->c->chan, I_SOCKETS, 0, family, 0, 0, NULL, 0, fds, n);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* Closes every fd from 3 on but a and b (0-2 stay /dev/null, so that no fd of ours can
 * take their numbers and be lost to a command's dup2). */
static void
keep_fds(int a, int b)
{
	for (int fd = 3; fd < 65536; fd++) {
		int next = fd;

		if (fd == a || fd == b)
			continue;
		/* Jump over a and b with close_range where it exists. */
		while (next + 1 < 65536 && next + 1 != a && next + 1 != b)
			next++;
		if (syscall(SYS_close_range, fd, next, 0) < 0)
			for (int k = fd; k <= next; k++)
				close(k);
		fd = next;
	}
}

static void
setup_namespaces(struct init *in)
{
	struct init_conf *c = in->c;
	struct rootfs_err re;
	const char *write[5 + LOCAL_MOUNTS_MAX + 1];
	char home[PATH_MAX];
	int abi, ns[5], rc;

	/* The directories to bind, opened here: a bind's source must be a mount of this
	 * (new) mount namespace, and before setresuid: the state root may be searchable by
	 * the server's own uid only. */
	c->fs.ws_fd = open(c->ws_host, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->fs.ws_fd < 0)
		setup_failed(in, 0, STEP_BIND, errno, LOCAL_WS);
	for (size_t i = 0; i < c->fs.nmounts; i++) {
		in->mfds[i] = open(c->fs.mounts[i].host, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (in->mfds[i] < 0)
			setup_failed(in, 0, STEP_MOUNT, errno, c->fs.mounts[i].host);
	}
	c->fs.mount_fds = in->mfds;
	if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
		setup_failed(in, 0, STEP_SETUID, errno, NULL);
	/* A change of euid (root's uid 0 to the sandbox's) made us non-dumpable, and so
	 * unable to write our own uid_map below: be dumpable again until the end of setup. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* a change of ids clears it too */
	if (rootfs_build(&c->fs, &re) != 0)
		setup_failed(in, 0, re.step, re.errnum, re.detail);
	close(c->fs.ws_fd);
	for (size_t i = 0; i < c->fs.nmounts; i++)
		close(c->fs.mount_fds[i]);
	sethostname(c->fs.hostname, strlen(c->fs.hostname));
	if (rootfs_verify(&c->fs, &re) != 0)
		setup_failed(in, 0, re.step, re.errnum, re.detail);
	/* Before the second user namespace: its RLIMIT_NPROC ceiling is taken from ours. */
	if ((rc = limits_rlimits_apply(&c->lim)) != 0)
		setup_failed(in, 0, STEP_RLIMIT, rc, NULL);
	net_setup(in);
	enter_userns2(in);
	/* From here on nobody, the sandbox included, may open our /proc files; until here
	 * no sandbox process existed, and we had to write our own uid_map. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		setup_failed(in, 0, STEP_LANDLOCK, errno, "no_new_privs");
	abi = local_landlock_apply(write,
	    rootfs_writable(&c->fs, write, sizeof(write) / sizeof(write[0]), home, sizeof(home)));
	if (abi < 0)
		setup_failed(in, 0, STEP_LANDLOCK, -abi, NULL);
	/* Every connect() of ours and our commands' goes to the supervisor first (none of ours
	 * does connect). Without it (an old kernel, a listener above us) only DNS and the
	 * proxy leave the sandbox. */
	in->netfd[NETFD_NOTIF] = local_seccomp_notify_connect();
	ns[0] = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	ns[1] = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	ns[2] = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	ns[3] = open(home, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ns[4] = open("/dev/shm", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < 5; i++)
		if (ns[i] < 0)
			setup_failed(in, 0, STEP_INIT, errno, "/proc/self/ns");
	if (wire_send(c->chan, I_READY, 0, abi, 0, 0, NULL, 0, ns, 5) != 0)
		_exit(1);
	for (int i = 0; i < 5; i++)
		close(ns[i]);
	net_send(in);
}

static void
setup_none(struct init *in)
{
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		setup_failed(in, 0, STEP_INIT, errno, "subreaper");
	if (limits_rlimits_apply(&in->c->lim) != 0)
		setup_failed(in, 0, STEP_RLIMIT, errno, NULL);
	if (wire_send(in->c->chan, I_READY, 0, 0, 0, 0, NULL, 0, NULL, 0) != 0)
		_exit(1);
}

/* ---- commands ------------------------------------------------------------------------ */

struct spawn {
	uint32_t tag;
	int flags;
	const char *cwd, *command;
	char **envp;
	int fds[3];
};

struct child_err {
	int32_t step, errnum;
};

static void
child_report(int fd, int step, int errnum)
{
	struct child_err ce = { step, errnum };

	(void)write(fd, &ce, sizeof(ce));
	_exit(127);
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

static int
drop_caps(int last_cap)
{
	struct l_cap_header h = { L_CAP_VERSION_3, 0 };
	struct l_cap_data d[2];

	if (prctl(PR_SET_SECUREBITS,
	        L_SECBIT_NOROOT | L_SECBIT_NOROOT_LOCKED | L_SECBIT_NO_SETUID_FIXUP |
	            L_SECBIT_NO_SETUID_FIXUP_LOCKED | L_SECBIT_KEEP_CAPS_LOCKED |
	            L_SECBIT_NO_CAP_AMBIENT_RAISE | L_SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
	        0, 0, 0) < 0)
		return errno;
	for (int cap = 0; cap <= last_cap; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return errno;
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return errno;
	return 0;
}

static void __attribute__((noreturn)) child_main(struct init *in, const struct spawn *s, int errfd)
{
	char *argv_bash[] = { "bash", "-l", "-c", (char *)(uintptr_t)s->command, NULL };
	char *argv_sh[] = { "sh", "-c", (char *)(uintptr_t)s->command, NULL };
	int err;

	reset_signals();
	if (setsid() < 0)
		child_report(errfd, STEP_SESSION, errno);
	for (int i = 0; i < 3; i++) {
		int fd = fcntl(s->fds[i], F_DUPFD_CLOEXEC, 10);

		if (fd < 0 || dup2(fd, i) < 0)
			child_report(errfd, STEP_FORK, errno);
	}
	/* Every fd beyond 0-2 goes; the error pipe is close-on-exec and needed until then. */
	if (syscall(SYS_close_range, 3, errfd - 1, 0) < 0 ||
	    syscall(SYS_close_range, errfd + 1, ~0U, 0) < 0) {
		for (int fd = 3; fd < 65536; fd++)
			if (fd != errfd)
				close(fd);
	}
	if (in->c->isolate && (err = drop_caps(in->last_cap)) != 0)
		child_report(errfd, STEP_CAPS, err);
	if ((err = local_seccomp_apply()) != 0)
		child_report(errfd, STEP_SECCOMP, err);
	umask(022);
	if (chdir(s->cwd) < 0)
		child_report(errfd, STEP_CHDIR, errno);
	execve("/bin/bash", argv_bash, s->envp);
	execve("/usr/bin/bash", argv_bash, s->envp);
	execve("/bin/sh", argv_sh, s->envp);
	child_report(errfd, STEP_EXEC, errno);
	_exit(127);
}

/* Parses an I_SPAWN payload: cwd \0 command \0 then c environment strings. */
static bool
spawn_parse(const struct wire_in *r, struct spawn *s)
{
	const char *p = r->payload, *end = r->payload + r->h.len;
	size_t nenv = r->h.c > 0 && r->h.c < 4096 ? (size_t)r->h.c : 0;

	memset(s, 0, sizeof(s[0]));
	s->tag = r->h.tag;
	s->flags = r->h.a;
	if (r->nfds != 3)
		return false;
	s->cwd = p;
	p += strnlen(p, (size_t)(end - p)) + 1;
	if (p >= end)
		return false;
	s->command = p;
	p += strnlen(p, (size_t)(end - p)) + 1;
	s->envp = xcalloc(nenv + 1, sizeof(char *));
	for (size_t i = 0; i < nenv; i++) {
		if (p >= end) {
			free(s->envp);
			s->envp = NULL;
			return false;
		}
		s->envp[i] = (char *)(uintptr_t)p;
		p += strnlen(p, (size_t)(end - p)) + 1;
	}
	for (int i = 0; i < 3; i++)
		s->fds[i] = r->fds[i];
	return true;
}

static void
do_spawn(struct init *in, struct wire_in *r)
{
	struct spawn s;
	struct child_err ce = { 0, 0 };
	int ep[2];
	pid_t pid;
	ssize_t n;

	if (!spawn_parse(r, &s)) {
		wire_send(in->c->chan, I_FAILED, r->h.tag, STEP_INIT, EPROTO, 0, NULL, 0, NULL, 0);
		return;
	}
	if (in->nkids >= INIT_KIDS_MAX || pipe2(ep, O_CLOEXEC) < 0) {
		wire_send(in->c->chan, I_FAILED, s.tag, STEP_FORK, EAGAIN, 0, NULL, 0, NULL, 0);
		free(s.envp);
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(ep[0]);
		child_main(in, &s, ep[1]);
	}
	close(ep[1]);
	if (pid < 0) {
		wire_send(in->c->chan, I_FAILED, s.tag, STEP_FORK, errno, 0, NULL, 0, NULL, 0);
		close(ep[0]);
		free(s.envp);
		return;
	}
	do
		n = read(ep[0], &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	free(s.envp);
	if (n == (ssize_t)sizeof(ce)) {
		/* The child exits at once; its status is reaped (and dropped) below. */
		wire_send(in->c->chan, I_FAILED, s.tag, ce.step, ce.errnum, 0, NULL, 0, NULL, 0);
		return;
	}
	in->kids[in->nkids].pid = pid;
	in->kids[in->nkids].tag = s.tag;
	in->nkids++;
	wire_send(in->c->chan, I_STARTED, s.tag, pid, 0, 0, NULL, 0, NULL, 0);
}

static void
reap(struct init *in)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(in->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < in->nkids; i++) {
			if (in->kids[i].pid != pid)
				continue;
			wire_send(in->c->chan, I_EXITED, in->kids[i].tag, pid, status, 0, NULL, 0,
			    NULL, 0);
			in->kids[i] = in->kids[--in->nkids];
			break;
		}
	}
}

struct killer {
	pid_t self;
	size_t n;
};

static int
kill_one(pid_t pid, void *arg)
{
	struct killer *k = arg;

	if (pid != k->self && kill(pid, SIGKILL) == 0)
		k->n++;
	return 0;
}

/* Isolation none: every descendant (we are their subreaper), until none is left. */
static void __attribute__((noreturn)) none_exit(void)
{
	for (int pass = 0; pass < 100; pass++) {
		struct killer k = { getpid(), 0 };

		limits_tree_walk(getpid(), 65536, kill_one, &k);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (k.n == 0)
			break;
		poll(NULL, 0, 5);
	}
	_exit(0);
}

struct finder {
	pid_t want;
	bool found;
};

static int
find_one(pid_t pid, void *arg)
{
	struct finder *f = arg;

	f->found = f->found || pid == f->want;
	return f->found;
}

static bool
descendant(pid_t pid)
{
	struct finder f = { pid, false };

	if (pid == getpid())
		return false;
	limits_tree_walk(getpid(), 65536, find_one, &f);
	return f.found;
}

static void
handle(struct init *in, struct wire_in *r)
{
	switch (r->h.type) {
	case I_SPAWN:
		do_spawn(in, r);
		break;
	case I_SIGNAL:
		if (r->h.a == 0 || r->h.a == -1 || r->h.b < 0 || r->h.b >= 65)
			break;
		/* Without a PID namespace, a pid may have been reused by a process that is
		 * not ours: signal only our own descendants. */
		if (!in->c->isolate && !descendant(r->h.a < 0 ? -r->h.a : r->h.a))
			break;
		kill(r->h.a, r->h.b);
		break;
	case I_SOCKET:
		if (in->c->isolate)
			inside_sockets(in, r->h.a, r->h.b);
		break;
	default:
		break;
	}
}

int
init_main(void *arg)
{
	static struct init in;
	struct wire_in r;
	sigset_t set;
	char go;

	memset(&in, 0, sizeof(in));
	in.c = arg;
	for (int i = 0; i < NETFD__MAX; i++)
		in.netfd[i] = -1;
	in.last_cap = read_last_cap();
	/* We are a copy of the supervisor: keep only our end of its socket and the go pipe,
	 * or we would hold its end too and never see it close. */
	keep_fds(in.c->chan, in.c->go);
	local_title("sandbox-init");
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (read(in.c->go, &go, 1) != 1)
		_exit(1);
	close(in.c->go);
	setsid();
	if (in.c->isolate)
		setup_namespaces(&in);
	else
		setup_none(&in);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	in.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (in.sfd < 0)
		_exit(1);
	memset(&r, 0, sizeof(r));
	for (;;) {
		struct pollfd pf[2] = { { in.c->chan, POLLIN, 0 }, { in.sfd, POLLIN, 0 } };
		int rc;

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents != 0)
			reap(&in);
		if (pf[0].revents == 0)
			continue;
		while ((rc = wire_read(&r, in.c->chan)) == 1) {
			handle(&in, &r);
			wire_in_reset(&r);
		}
		if (rc != WIRE_MORE)
			break; /* the supervisor is gone: so is the sandbox */
	}
	if (!in.c->isolate)
		none_exit();
	_exit(0);
}
