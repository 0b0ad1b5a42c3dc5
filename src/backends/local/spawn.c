/*
 * spawn.c -- the server's side of a sandbox's supervisor: starting it, finding it again
 * (after a restart of the server, or a new one after a reboot), talking to it, and turning
 * a failed setup step into a sentence that says why and what to do.
 *
 * The supervisor is this binary re-executed through /proc/self/exe in a new session,
 * detached by a double fork, with an empty environment (nothing of the server's, keys
 * included, reaches it) and only fds 0-2 (/dev/null) and 3 (the start socket) open. Code
 * between fork and exec here runs in a copy of a multi-threaded process: system calls only.
 */
#include "backends/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define SPAWN_START_MS 30000

static const char *const step_names[STEP__MAX] = { "setup", "clone", "writing the uid/gid map",
	"joining the cgroup", "setresuid", "making mounts private", "mounting the root tmpfs",
	"binding a system directory", "building /etc", "building /dev", "mounting /proc",
	"binding /sys", "mounting a tmpfs", "binding a --mount directory",
	"making the root read-only", "pivot_root", "checking that the root is read-only",
	"entering the second user namespace", "applying Landlock", "setting rlimits",
	"creating the network namespace", "opening the supervisor's socket", "starting init",
	"fork", "chdir", "execve", "dropping capabilities", "installing the seccomp filter",
	"setsid" };

const char *
local_step_name(int step)
{
	return step > 0 && step < STEP__MAX ? step_names[step] : "setup";
}

/* ---- why namespaces fail ---------------------------------------------------------------- */

static long
read_num(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

static bool
in_container(void)
{
	struct stat st;
	const char *c = getenv("container");

	return stat("/.dockerenv", &st) == 0 || stat("/run/.containerenv", &st) == 0 ||
	    (c != NULL && *c != '\0');
}

/* Why user namespaces are refused here, as a clause with the fix. */
static const char *
userns_why(int errnum)
{
	if (read_num("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
		return "Ubuntu's AppArmor restricts them: allow sandbox-mcp with an AppArmor "
		       "profile (README, Security model) or set "
		       "kernel.apparmor_restrict_unprivileged_userns=0";
	if (read_num("/proc/sys/kernel/unprivileged_userns_clone") == 0)
		return "they are switched off: sysctl -w kernel.unprivileged_userns_clone=1";
	if (read_num("/proc/sys/user/max_user_namespaces") == 0 || errnum == ENOSPC ||
	    errnum == EUSERS)
		return "their limit is 0 or used up: sysctl -w user.max_user_namespaces=15000";
	if (in_container())
		return "this container's seccomp profile forbids them (Docker's default does): "
		       "run the container with --security-opt seccomp=unconfined or a profile that "
		       "allows clone and unshare of user namespaces";
	return "this kernel refuses them to this user";
}

int
spawn_step_error(struct err *e, const char *id, int step, int errnum, const char *detail)
{
	bool denied = errnum == EPERM || errnum == EACCES || errnum == EINVAL || errnum == ENOSPC ||
	    errnum == EUSERS || errnum == ENOSYS;
	const char *d = detail != NULL && *detail != '\0' ? detail : NULL;

	if (denied &&
	    (step == STEP_CLONE || step == STEP_MAP || step == STEP_SETUID ||
	        step == STEP_PRIVATE || step == STEP_ROOTFS || step == STEP_USERNS2))
		return err_set(e, ERR_UNSUPPORTED,
		    "local sandboxes need user namespaces, and %s "
		    "(%s: %s); otherwise use a platform (--backend opensandbox or e2b) or run "
		    "commands unconfined with --local-isolation none",
		    userns_why(errnum), local_step_name(step), strerror(errnum));
	if (step == STEP_BIND && errnum == ENOENT && d != NULL && strcmp(d, "/usr") == 0)
		return err_set(e, ERR_UNSUPPORTED,
		    "local sandboxes need a Linux root file system "
		    "with /usr and a shell, and this machine has none (a FROM scratch image?): "
		    "use --backend opensandbox or e2b with its platform variables");
	if (step == STEP_RDONLY || step == STEP_VERIFY)
		return err_set(e, ERR_BACKEND,
		    "sandbox %s was not started: %s stayed writable "
		    "(%s), and a sandbox runs read-only or not at all",
		    id, d != NULL ? d : "a mount", strerror(errnum));
	if (step == STEP_CGROUP && d != NULL)
		return err_set(e, ERR_BACKEND, "sandbox %s was not started: %s", id, d);
	if (step == STEP_INIT && errnum == ETIMEDOUT)
		return err_set(e, ERR_BACKEND,
		    "sandbox %s was not started: its init did not "
		    "report within %d s",
		    id, SPAWN_START_MS / 1000);
	if (step == STEP_EXEC)
		return err_set(e, ERR_BACKEND, "could not start bash or sh in the sandbox: %s",
		    strerror(errnum));
	return err_set(e, ERR_BACKEND, "could not set up sandbox %s: %s failed%s%s (%s)", id,
	    local_step_name(step), d != NULL ? " for " : "", d != NULL ? d : "", strerror(errnum));
}

int
spawn_host_ok(struct err *e)
{
	struct stat st;

	if (stat("/usr", &st) < 0 ||
	    (stat("/bin/sh", &st) < 0 && stat("/bin/bash", &st) < 0 &&
	        stat("/usr/bin/bash", &st) < 0))
		return err_set(e, ERR_UNSUPPORTED,
		    "local sandboxes need a Linux root file system "
		    "with /usr and a shell, and this machine has none (a FROM scratch image?): use "
		    "a platform instead: --backend opensandbox (OPEN_SANDBOX_DOMAIN, "
		    "OPEN_SANDBOX_API_KEY) or --backend e2b (E2B_DOMAIN, E2B_API_KEY)");
	return 0;
}

/* ---- talking ----------------------------------------------------------------------------- */

int
spawn_recv(int sock, struct wire_in *r, struct call *c, int wait_ms, struct err *e)
{
	int64_t dl = wait_ms >= 0 ? deadline_min(call_deadline(c), deadline_in_ms(wait_ms))
	                          : call_deadline(c);

	for (;;) {
		struct pollfd pf[2] = { { sock, POLLIN, 0 },
			{ cancel_fd(c != NULL ? c->cancel : NULL), POLLIN, 0 } };
		int pr, rc = wire_read(r, sock);

		if (rc == 1)
			return 1;
		if (rc == 0)
			return 0;
		if (rc != WIRE_MORE)
			return err_set(e, ERR_BACKEND,
			    "the sandbox's supervisor broke the connection "
			    "(%s)",
			    strerror(errno));
		pr = poll(pf, pf[1].fd >= 0 ? 2 : 1, deadline_left_ms(dl));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return err_set(e, ERR_IO, "poll: %s", strerror(errno));
		if (pr > 0 && pf[1].fd >= 0 && (pf[1].revents & POLLIN))
			return err_set(e, ERR_CANCELLED, "the call was cancelled");
		if (pr == 0)
			return err_set(e,
			    deadline_passed(call_deadline(c)) ? ERR_TIMEOUT : ERR_BACKEND,
			    "the sandbox's supervisor did not answer in time");
	}
}

static bool told(struct local *L, const char *id, bool set);

/* W_RELOAD with this server's network flags, on a fresh connection to the supervisor. */
static int
tell_flags(struct local *L, struct lsb *sb, int fd, struct call *c, struct err *e)
{
	struct buf cfg = { 0 };
	struct wire_in r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (netcfg_encode(&L->net, &cfg) != 0) {
		buf_fini(&cfg);
		return err_set(e, ERR_TOOBIG, "the network flags are too large");
	}
	rc = wire_send(fd, W_RELOAD, 0, 0, 0, 0, cfg.p, cfg.len, NULL, 0);
	buf_fini(&cfg);
	if (rc != 0)
		return err_set(e, ERR_BACKEND, "cannot talk to the supervisor of sandbox %s: %s",
		    sb->id, strerror(rc));
	rc = spawn_recv(fd, &r, c, -1, e);
	wire_in_reset(&r);
	if (rc == 0)
		return err_set(e, ERR_BACKEND, "the supervisor of sandbox %s closed the connection",
		    sb->id);
	if (rc != 1)
		return rc;
	told(L, sb->id, true);
	return 0;
}

int
spawn_connect(struct local *L, struct lsb *sb, struct call *c, struct err *e)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, dirfd, rc;

	if ((rc = spawn_ready(L, sb, e)) != 0)
		return -1;
	if ((rc = wire_addr(sb->dir, &sa, &len, &dirfd)) != 0) {
		err_set(e, ERR_IO, "cannot reach sandbox %s: %s", sb->id, strerror(rc));
		return -1;
	}
	(void)c;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, len) < 0) {
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	if (fd < 0)
		err_set(e, ERR_BACKEND, "cannot reach the supervisor of sandbox %s: %s", sb->id,
		    strerror(errno));
	if (dirfd >= 0)
		close(dirfd);
	/* A sandbox kept from an earlier server gets this one's network flags first. */
	if (fd >= 0 && sb->isolate && !told(L, sb->id, false) && tell_flags(L, sb, fd, c, e) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
spawn_request(struct local *L, struct lsb *sb, uint32_t type, int32_t a, int32_t b,
    const void *payload, size_t len, struct wire_in *reply, struct call *c, struct err *e)
{
	struct wire_in r;
	int fd, rc;

	memset(&r, 0, sizeof(r));
	fd = spawn_connect(L, sb, c, e);
	if (fd < 0)
		return e->code;
	rc = wire_send(fd, type, 0, a, b, 0, payload, len, NULL, 0);
	if (rc != 0) {
		close(fd);
		return err_set(e, ERR_BACKEND, "cannot talk to the supervisor of sandbox %s: %s",
		    sb->id, strerror(rc));
	}
	rc = spawn_recv(fd, &r, c, -1, e);
	close(fd);
	if (rc == 0)
		return err_set(e, ERR_BACKEND, "the supervisor of sandbox %s closed the connection",
		    sb->id);
	if (rc != 1)
		return rc;
	if (r.h.type == W_FAILED) {
		rc = spawn_step_error(e, sb->id, r.h.a, r.h.b, r.payload);
		wire_in_reset(&r);
		return rc;
	}
	*reply = r;
	return 0;
}

int
spawn_simple(struct local *L, struct lsb *sb, uint32_t type, int32_t a, int32_t b, int *fds_out,
    int nfds_out, struct call *c, struct err *e)
{
	struct wire_in r;
	int rc = spawn_request(L, sb, type, a, b, NULL, 0, &r, c, e);

	for (int i = 0; i < nfds_out; i++) {
		fds_out[i] = rc == 0 && i < r.nfds ? r.fds[i] : -1;
		if (rc == 0 && i < r.nfds)
			r.fds[i] = -1;
	}
	if (rc == 0)
		wire_in_reset(&r);
	return rc;
}

/* ---- starting ------------------------------------------------------------------------------ */

/* The configuration a new supervisor gets. */
static void
conf_fill(struct local *L, const struct lsb *sb, bool ephemeral, struct sup_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", sb->id);
	snprintf(c->root, sizeof(c->root), "%s", L->root);
	snprintf(c->dir, sizeof(c->dir), "%s", sb->dir);
	c->isolate = L->isolate;
	c->host_uid = L->uid;
	c->host_gid = L->gid;
	c->in_uid = L->in_uid;
	snprintf(c->user, sizeof(c->user), "%s", L->user);
	for (size_t i = 0; i < L->nmounts && i < LOCAL_MOUNTS_MAX; i++)
		c->mounts[c->nmounts++] = L->mounts[i];
	c->lim = sb->lim;
	/* Sandboxes made by an older version have no limits on record: the defaults. */
	if (c->lim.pids <= 0)
		c->lim.pids = LIMITS_PIDS_DEFAULT;
	if (c->lim.memory <= 0 && L->mem_total > 0)
		c->lim.memory = L->mem_total / 2;
	pthread_mutex_lock(&L->cg_mu);
	if (!L->cg_probed) {
		limits_probe(&L->cg);
		L->cg_probed = true;
		if (L->cg.mode == LIM_CG_NONE)
			log_msg(LOG_INFO, "local",
			    "no cgroups for sandboxes (%s); limits are "
			    "enforced with rlimits and a memory watch",
			    L->cg.why);
	}
	c->cg = L->cg;
	pthread_mutex_unlock(&L->cg_mu);
	c->net = L->net;
	c->ephemeral = ephemeral;
}

/* The environment a supervisor runs with: nothing of ours but sanitizer settings. */
static void
sup_env(char **envp, size_t cap)
{
	static const char *const keep[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]) && n + 1 < cap; i++) {
		const char *v = getenv(keep[i]);

		if (v != NULL) {
			size_t len = strlen(keep[i]) + strlen(v) + 2;

			envp[n] = xmalloc(len);
			snprintf(envp[n++], len, "%s=%s", keep[i], v);
		}
	}
	envp[n] = NULL;
}

static pid_t
fork_sup(int sock, const char *id, char *const *envp)
{
	/* The id makes the supervisor findable in ps, and leaves room for its title. */
	char *const argv[] = { "sandbox-mcp", LOCAL_SUPERVISOR_ARG, "3", (char *)(uintptr_t)id,
		NULL };
	pid_t p0 = fork();

	if (p0 != 0)
		return p0;
	/* P0: a new session, and the supervisor as its child, so it is nobody's child here. */
	setsid();
	if (fork() != 0)
		_exit(0);
	{
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		if (dup2(sock, 3) < 0)
			_exit(127);
		if (syscall(SYS_close_range, 4, ~0U, 0) < 0)
			for (int fd = 4; fd < 65536; fd++)
				close(fd);
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
}

int
spawn_supervisor(struct local *L, struct lsb *sb, int *lifeline, struct err *e)
{
	struct sup_conf *conf = xcalloc(1, sizeof(*conf));
	struct buf b = { 0 };
	struct wire_in r;
	char *envp[8];
	int sv[2] = { -1, -1 }, rc = 0;
	pid_t p0;

	*lifeline = -1;
	memset(&r, 0, sizeof(r));
	conf_fill(L, sb, sb->ephemeral, conf);
	if (supconf_encode(conf, &b) != 0) {
		rc = err_set(e, ERR_TOOBIG, "the sandbox's configuration is too large");
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = err_set(e, ERR_IO, "could not start sandbox %s: socketpair: %s", sb->id,
		    strerror(errno));
		goto out;
	}
	sup_env(envp, sizeof(envp) / sizeof(envp[0]));
	p0 = fork_sup(sv[1], sb->id, envp);
	for (size_t i = 0; envp[i] != NULL; i++)
		free(envp[i]);
	close(sv[1]);
	sv[1] = -1;
	if (p0 < 0) {
		rc = err_set(e, ERR_IO, "could not start sandbox %s: fork: %s", sb->id,
		    strerror(errno));
		goto out;
	}
	while (waitpid(p0, NULL, 0) < 0 && errno == EINTR)
		;
	if ((rc = wire_send(sv[0], W_CONF, 0, 0, 0, 0, b.p, b.len, NULL, 0)) != 0) {
		rc = err_set(e, ERR_BACKEND,
		    "could not start sandbox %s: its supervisor did not "
		    "start (%s)",
		    sb->id, strerror(rc));
		goto out;
	}
	{
		struct call c = { NULL, NULL, deadline_in_ms(SPAWN_START_MS) };

		rc = spawn_recv(sv[0], &r, &c, -1, e);
	}
	if (rc == 0)
		rc = err_set(e, ERR_BACKEND,
		    "could not start sandbox %s: its supervisor exited "
		    "during setup (see %s/supervisor.log)",
		    sb->id, sb->dir);
	if (rc != 1)
		goto out;
	if (r.h.type == W_FAILED) {
		log_msg(LOG_WARN, "local", "sandbox %s: setup failed: %s (%s) for \"%s\"", sb->id,
		    local_step_name(r.h.a), strerror(r.h.b), r.payload != NULL ? r.payload : "");
		rc = spawn_step_error(e, sb->id, r.h.a, r.h.b, r.payload);
		goto out;
	}
	rc = 0;
	sb->has_sup = store_sup_read(sb->dir, &sb->sup) == 0;
	if (!sb->has_sup) {
		rc = err_set(e, ERR_BACKEND,
		    "could not start sandbox %s: its supervisor left no "
		    "record",
		    sb->id);
		goto out;
	}
	if (sb->ephemeral) {
		*lifeline = sv[0];
		sv[0] = -1;
	}
out:
	if (sv[0] >= 0)
		close(sv[0]);
	wire_in_reset(&r);
	buf_fini(&b);
	free(conf);
	return rc;
}

static bool
sup_alive(const struct lsb *sb)
{
	return sb->has_sup && local_pid_alive(sb->sup.pid, sb->sup.start) &&
	    local_pid_alive(sb->sup.init_pid, sb->sup.init_start);
}

/* The entry of id (made when missing); call with L->mu held. */
static struct lline *
lline_of(struct local *L, const char *id)
{
	struct lline *l;

	for (l = L->lifelines; l != NULL; l = l->next)
		if (strcmp(l->id, id) == 0)
			return l;
	l = xcalloc(1, sizeof(*l));
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->fd = -1;
	l->next = L->lifelines;
	L->lifelines = l;
	return l;
}

/* Whether the supervisor of id already has this server's network flags (set tells it
 * from now on). */
static bool
told(struct local *L, const char *id, bool set)
{
	struct lline *l;
	bool was;

	pthread_mutex_lock(&L->mu);
	l = lline_of(L, id);
	was = l->told;
	l->told = l->told || set;
	pthread_mutex_unlock(&L->mu);
	return was;
}

/* Replaces the lifeline of id (the old one is closed). */
static void
lifeline_set(struct local *L, const char *id, int fd)
{
	struct lline *l;

	pthread_mutex_lock(&L->mu);
	l = lline_of(L, id);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = fd;
	pthread_mutex_unlock(&L->mu);
}

static bool
lifeline_has(struct local *L, const char *id)
{
	bool yes = false;

	pthread_mutex_lock(&L->mu);
	for (struct lline *l = L->lifelines; l != NULL && !yes; l = l->next)
		yes = strcmp(l->id, id) == 0 && l->fd >= 0;
	pthread_mutex_unlock(&L->mu);
	return yes;
}

int
spawn_start(struct local *L, struct lsb *sb, struct err *e)
{
	int lifeline = -1, rc;

	rc = spawn_supervisor(L, sb, &lifeline, e);
	if (rc == 0 && lifeline >= 0)
		lifeline_set(L, sb->id, lifeline);
	if (rc == 0)
		told(L, sb->id, true); /* its configuration had them */
	return rc;
}

int
spawn_ready(struct local *L, struct lsb *sb, struct err *e)
{
	int fd, rc = 0;

	if (sup_alive(sb))
		return 0;
	fd = store_lock(sb->dir);
	if (fd < 0)
		return store_notfound(e, sb->id);
	sb->has_sup = store_sup_read(sb->dir, &sb->sup) == 0;
	if (!sup_alive(sb)) {
		if (local_pid_alive(sb->legacy_pid, sb->legacy_start))
			kill(sb->legacy_pid, SIGKILL); /* an older version's init */
		if (sb->has_sup) {
			log_msg(LOG_NOTICE, "local",
			    "sandbox %s: its supervisor is gone (reboot?); "
			    "starting a new one (its /tmp and home start empty)",
			    sb->id);
			if (local_pid_alive(sb->sup.init_pid, sb->sup.init_start))
				kill(sb->sup.init_pid, SIGKILL);
			if (local_pid_alive(sb->sup.pid, sb->sup.start))
				kill(sb->sup.pid, SIGKILL);
		}
		/* Only the server holding its lifeline restarts an ephemeral sandbox as one. */
		sb->ephemeral = sb->ephemeral && lifeline_has(L, sb->id);
		rc = spawn_start(L, sb, e);
	}
	store_unlock(fd);
	return rc;
}
