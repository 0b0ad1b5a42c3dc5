/*
 * helper.c -- opens a path inside a sandbox for the file ops (files.c).
 *
 * A helper is a child of the server that joins the sandbox's locked user and mount
 * namespaces (their fds come from the supervisor), drops supplementary groups, takes the
 * sandbox user's uid and the sandbox's Landlock rules, does one path operation there and
 * passes the result back over a socket (wire.c), with the fd it opened. So `..` and
 * symlinks resolve exactly as for the sandbox's own processes, read-only mounts refuse
 * writes, and Landlock refuses writes outside the writable directories. The child runs in a
 * copy of a multi-threaded process: system calls and stack buffers only.
 */
#include "backends/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/time.h"

#define HELPER_MS 30000

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
 * its Landlock rules. Async-signal-safe (a child of the multi-threaded server). */
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
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    local_landlock_apply(en->write, en->nwrite) < 0) {
		*step = STEP_LANDLOCK;
		return errno != 0 ? errno : EPERM;
	}
	return 0;
}

static void __attribute__((noreturn))
h_main(const struct lh_enter *en, int sock, const struct lh_req *rq, pid_t parent)
{
	static struct lh_rep rp;	/* the child's own copy; too big for a small stack */
	int fd = -1, step = STEP_NONE, err;

	memset(&rp, 0, sizeof(rp));
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(1);
	umask(022);
	err = lh_enter(en, &step);
	if (err != 0) {
		rp.err = err;
		rp.step = step;
	} else if (chdir(LOCAL_WS) < 0) {
		rp.err = errno;
		rp.step = STEP_CHDIR;
	} else {
		lh_do(AT_FDCWD, rq, &rp, &fd);
	}
	wire_send(sock, W_DONE, 0, 0, 0, 0, &rp, sizeof(rp), &fd, fd >= 0 ? 1 : 0);
	_exit(0);
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
	if (rc == 1 && r.h.len == sizeof(*rp)) {
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
		rc = err_set(e, c != NULL && deadline_passed(call_deadline(c)) ? ERR_TIMEOUT :
		    ERR_BACKEND, "the file operation did not finish in time");
	}
	wire_in_reset(&r);
	return rc;
}

/* Runs one path operation inside the sandbox (en->user >= 0) or in-process relative to
 * basefd (isolation none). *fd gets the opened fd or -1. */
int
local_helper(const struct lh_enter *en, int basefd, const struct lh_req *rq,
    struct lh_rep *rp, int *fd, struct call *c, struct err *e)
{
	int sv[2], rc;
	pid_t pid, parent = getpid();

	memset(rp, 0, sizeof(*rp));
	*fd = -1;
	if (en->user < 0) {
		lh_do(basefd, rq, rp, fd);
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(e, ERR_IO, "file operation: socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return err_set(e, ERR_IO, "file operation: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		h_main(en, sv[1], rq, parent);
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
