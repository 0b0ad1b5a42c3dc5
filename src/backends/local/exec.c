/*
 * exec.c -- commands in a local sandbox, from the server's side: the request (cwd and
 * environment), foreground exec with streamed output, and starting background processes
 * (their records and ops are in process.c).
 *
 * A foreground command's stdin, stdout and stderr are pipes of ours handed to init through
 * the supervisor, so output never passes through another process. The connection to the
 * supervisor stays open for the command's life: closing it (this thread gives up, or the
 * server dies) kills the command.
 *
 * Bulk output: a stream that has written EXEC_BULK_AFTER bytes gets a bigger pipe
 * (local_pipe_grow) and is read EXEC_CHUNK at a time; after emptying it, this thread leaves
 * it alone for as long as its writer, at the rate it just had, takes to fill half of it
 * (at most EXEC_NAP_MS). So a command writing 4 KiB at a time does not wake us for every
 * write (measured: about 20 times fewer context switches and a quarter less CPU for
 * 100 MB), while a writer that fills the pipe faster is read without pause. Short
 * streams (interactive output) are forwarded as soon as they are written.
 */
#include "backends/local/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json/json.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#define EXEC_CHUNK        (256u << 10) /* one read */
#define EXEC_BULK_AFTER   (256u << 10) /* bytes a stream writes before its pipe grows */
#define EXEC_DRAIN_READS  4            /* reads of one pipe per wakeup, so the others get a turn */
#define EXEC_NAP_MS       1            /* the longest pause between drains of a bulk stream */
#define EXEC_GRACE_MS     200          /* after the shell exits, for leftovers holding its output */
#define EXEC_KILL_WAIT_MS 2000         /* after a kill, for the last output and the status */

static struct local *
LOC(struct backend *b)
{
	return (struct local *)(void *)b;
}

ssize_t
local_write_nosig(int fd, const void *p, size_t n)
{
	sigset_t set, old, pending;
	struct timespec zero = { 0, 0 };
	ssize_t r;
	int saved;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	r = write(fd, p, n);
	saved = errno;
	if (r < 0 && saved == EPIPE && !sigismember(&old, SIGPIPE)) {
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE))
			sigtimedwait(&set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return r;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void
xclose(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- the request: cwd, environment -------------------------------------------------------- */

static void
env_put(struct buf *b, size_t *n, const char *key, const char *value)
{
	buf_printf(b, NULL, "%s=%s", key, value != NULL ? value : "");
	buf_putc(b, '\0', NULL);
	(*n)++;
}

/* Later entries win in getenv() of most programs, but not all: drop overridden keys. */
static bool
overridden(const char *key, const struct kv *a, size_t na, const struct kv *b, size_t nb)
{
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].key, key) == 0)
			return true;
	for (size_t i = 0; i < nb; i++)
		if (strcmp(b[i].key, key) == 0)
			return true;
	return false;
}

/* payload = cwd \0 command \0 env... ; returns the number of environment strings. */
static size_t
payload_build(const struct local *L, const struct lsb *sb, const struct exec_req *req,
    const char *cwd, struct buf *b)
{
	const struct kv *se = sb->env, *re = req->env;
	size_t ns = sb->nenv, nr = req->nenv, n = 0;
	char home[PATH_MAX], tmp[PATH_MAX];
	static const char proxy[] = "http://127.0.0.1:" LOCAL_STR(LOCAL_PROXY_PORT);
	static const char *const proxy_vars[] = { "http_proxy", "https_proxy", "all_proxy",
		"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY" };
	struct kv base[24];
	size_t nb = 0;

	if (sb->isolate) {
		snprintf(home, sizeof(home), "/home/%s", L->user);
		snprintf(tmp, sizeof(tmp), "/tmp");
		base[nb++] = (struct kv){ "USER", L->user };
		base[nb++] = (struct kv){ "LOGNAME", L->user };
		/* For tools that prefer a proxy; the others are captured anyway. */
		for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++)
			base[nb++] = (struct kv){ proxy_vars[i], proxy };
		base[nb++] = (struct kv){ "no_proxy", "localhost,127.0.0.1,::1" };
		base[nb++] = (struct kv){ "NO_PROXY", "localhost,127.0.0.1,::1" };
	} else {
		store_path(home, sb, "home");
		snprintf(tmp, sizeof(tmp), "%s", "/tmp");
		base[nb++] = (struct kv){ "USER", L->host_user };
		base[nb++] = (struct kv){ "LOGNAME", L->host_user };
	}
	base[nb++] = (struct kv){ "PATH",
		"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
	base[nb++] = (struct kv){ "HOME", home };
	base[nb++] = (struct kv){ "TMPDIR", tmp };
	base[nb++] = (struct kv){ "SHELL", "/bin/bash" };
	base[nb++] = (struct kv){ "LANG", "C.UTF-8" };
	base[nb++] = (struct kv){ "TERM", "dumb" };
	base[nb++] = (struct kv){ "HOSTNAME", sb->id };
	base[nb++] = (struct kv){ "SANDBOX_ID", sb->id };
	base[nb++] = (struct kv){ "PWD", cwd };
	buf_puts(b, cwd, NULL);
	buf_putc(b, '\0', NULL);
	buf_puts(b, req->command, NULL);
	buf_putc(b, '\0', NULL);
	for (size_t i = 0; i < nb; i++)
		if (!overridden(base[i].key, se, ns, re, nr))
			env_put(b, &n, base[i].key, base[i].value);
	for (size_t i = 0; i < ns; i++)
		if (!overridden(se[i].key, NULL, 0, re, nr))
			env_put(b, &n, se[i].key, se[i].value);
	for (size_t i = 0; i < nr; i++)
		env_put(b, &n, re[i].key, re[i].value);
	return n;
}

static const char *
cwd_of(const struct lsb *sb, const char *cwd, struct arena *a)
{
	char ws[PATH_MAX];

	if (sb->isolate) {
		if (cwd == NULL || cwd[0] == '\0')
			return LOCAL_WS;
		return cwd[0] == '/' ? cwd : arena_printf(a, "%s/%s", LOCAL_WS, cwd);
	}
	store_path(ws, sb, "workspace");
	if (cwd == NULL || cwd[0] == '\0')
		return arena_strdup(a, ws);
	return cwd[0] == '/' ? cwd : arena_printf(a, "%s/%s", ws, cwd);
}

static int
start_error(struct err *e, const struct lsb *sb, int step, int errnum, const char *cwd,
    const char *detail)
{
	if (step == STEP_CHDIR && (errnum == ENOENT || errnum == ENOTDIR))
		return err_set(e, ERR_NOTFOUND,
		    "working directory %s does not exist in the "
		    "sandbox; create it with file_mkdir or omit cwd",
		    cwd);
	if (step == STEP_CHDIR)
		return err_set(e, ERR_INVAL, "cannot use working directory %s: %s", cwd,
		    strerror(errnum));
	if (step == STEP_FORK && errnum == EAGAIN)
		return err_set(e, ERR_BACKEND,
		    "sandbox %s is at its process limit (%lld), so the "
		    "command could not start; end some processes (process_list, process_kill)",
		    sb->id, (long long)sb->lim.pids);
	return spawn_step_error(e, sb->id, step, errnum, detail);
}

/* OOM kills so far in the sandbox: its memory cgroup's count, else the supervisor's. */
static int64_t
oom_count(const struct lsb *sb)
{
	char path[PATH_MAX], buf[32];
	int64_t n = sb->has_sup ? limits_cg_oom_kills(&sb->sup.cg) : -1;
	ssize_t k;
	int fd;

	if (n >= 0)
		return n;
	store_path(path, sb, "oom");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	k = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (k <= 0)
		return 0;
	buf[k] = '\0';
	return strtoll(buf, NULL, 10);
}

static const char *
oom_note(const struct lsb *sb, struct arena *a)
{
	char mem[32];

	limits_format_memory(sb->lim.memory, mem, sizeof(mem));
	return arena_printf(a,
	    "killed: out of memory (limit %s); ask for more with "
	    "sandbox_create resources.memory",
	    mem);
}

const char **
local_split_lines(const char *text, size_t len, struct arena *a, size_t *n)
{
	size_t cap = 1;
	const char **v;

	*n = 0;
	for (size_t i = 0; i < len; i++)
		cap += text[i] == '\n';
	v = arena_zalloc(a, (cap + 1) * sizeof(*v));
	for (size_t i = 0; v != NULL && i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t l = nl != NULL ? (size_t)(nl - (text + i)) : len - i;

		if (l > 0 && *n < cap)
			v[(*n)++] = arena_strndup(a, text + i, l);
		i += l + 1;
	}
	return v;
}

/* ---- foreground ------------------------------------------------------------------------- */

enum { WHY_NONE, WHY_TIMEOUT, WHY_DEADLINE, WHY_CANCEL, WHY_STOP };

/* One output pipe of a foreground command. */
struct fg_pipe {
	int fd; /* read end, non-blocking */
	enum exec_event_type type;
	bool eof, grown;
	size_t cap; /* the pipe's capacity once grown */
	uint64_t total;
	int64_t drained_us; /* when it was last drained (monotonic) */
};

struct fg {
	const struct lsb *sb;
	exec_event_fn fn;
	void *arg;
	int sock;
	struct wire_in rd;
	pid_t pid; /* inside, once started */
	bool started, have_status, failed, killed, sock_eof;
	int status;
	int fstep, ferr;
	char fdetail[128];
	int why;
	char pidstr[24];
	char *denied; /* W_EXITED's refused connections (heap), or NULL */
	size_t ndenied;
	struct fg_pipe pipe[2]; /* stdout, stderr */
	int in;                 /* write end of the stdin pipe, -1 once closed */
	size_t in_off;
	int64_t tdl, dl, end_by; /* the command's timeout, the call's, the wait's */
	int64_t nap_us;          /* > 0: leave the pipes alone this long (bulk output) */
	char *chunk;             /* EXEC_CHUNK bytes */
};

static void
fg_kill(struct fg *f, int why)
{
	if (f->why == WHY_NONE)
		f->why = why;
	if (f->killed)
		return;
	f->killed = true;
	if (f->pid > 0)
		wire_send(f->sock, W_SIGNAL, 0, -f->pid, SIGKILL, 0, NULL, 0, NULL, 0);
}

/* Takes what the supervisor said; false once the connection ended. */
static bool
fg_messages(struct fg *f)
{
	int rc;

	while ((rc = wire_read(&f->rd, f->sock)) == 1) {
		switch (f->rd.h.type) {
		case W_STARTED:
			f->started = true;
			f->pid = f->rd.h.a;
			snprintf(f->pidstr, sizeof(f->pidstr), "%d", (int)f->pid);
			if (f->killed)
				wire_send(f->sock, W_SIGNAL, 0, -f->pid, SIGKILL, 0, NULL, 0, NULL,
				    0);
			if (f->fn != NULL) {
				struct exec_event ev = { EXEC_EV_START, NULL, 0, f->pidstr };

				if (f->fn(f->arg, &ev) != 0)
					fg_kill(f, WHY_STOP);
			}
			break;
		case W_EXITED:
			f->have_status = true;
			f->status = f->rd.h.a;
			if (f->rd.h.len > 0 && f->denied == NULL) {
				f->denied = f->rd.payload; /* NUL-terminated */
				f->ndenied = f->rd.h.len;
				f->rd.payload = NULL;
			}
			break;
		case W_FAILED:
			f->failed = true;
			f->fstep = f->rd.h.a;
			f->ferr = f->rd.h.b;
			snprintf(f->fdetail, sizeof(f->fdetail), "%s", f->rd.payload);
			break;
		default:
			break;
		}
		wire_in_reset(&f->rd);
	}
	return rc == WIRE_MORE;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reads what p's pipe holds (at most EXEC_DRAIN_READS chunks) and hands it on; sets p->eof
 * at end of file. Returns how long the pipe may be left alone now, in microseconds: for a
 * bulk stream that had less than half its pipe, the time its writer takes to fill half of
 * it at the rate it just had (at most EXEC_NAP_MS); else 0. */
static int64_t
fg_drain(struct fg *f, struct fg_pipe *p)
{
	size_t got = 0;
	bool empty = false;
	int64_t now, nap;

	for (int i = 0; i < EXEC_DRAIN_READS; i++) {
		ssize_t n = read(p->fd, f->chunk, EXEC_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			empty = true;
			break;
		}
		if (n <= 0) {
			p->eof = true;
			break;
		}
		got += (size_t)n;
		p->total += (uint64_t)n;
		if (f->fn != NULL) {
			struct exec_event ev = { p->type, f->chunk, (size_t)n, f->pidstr };

			if (f->fn(f->arg, &ev) != 0 && !f->killed)
				fg_kill(f, WHY_STOP);
		}
		if ((size_t)n < EXEC_CHUNK) {
			empty = true;
			break;
		}
	}
	if (!p->grown && p->total >= EXEC_BULK_AFTER) {
		p->grown = true;
		p->cap = (size_t)local_pipe_grow(p->fd);
		p->drained_us = mono_us();
		return 0;
	}
	if (!p->grown || p->eof)
		return 0;
	now = mono_us();
	nap = 0;
	if (got > 0 && empty && got < p->cap / 2)
		nap = (now - p->drained_us) * (int64_t)(p->cap / 2) / (int64_t)got;
	p->drained_us = now;
	return nap < EXEC_NAP_MS * 1000 ? nap : EXEC_NAP_MS * 1000;
}

static int
decode_status(int status, int *sig)
{
	*sig = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status)) {
		*sig = WTERMSIG(status);
		return 128 + *sig;
	}
	return -1;
}

static int
fg_result(struct fg *f, const struct exec_req *req, const char *cwd, int64_t t0, int64_t oom0,
    bool out_eof, bool err_eof, struct exec_result *res, struct call *c, struct err *e)
{
	int sig;

	res->pid = f->pidstr[0] != '\0' ? arena_strdup(c->a, f->pidstr) : NULL;
	if (f->failed)
		return start_error(e, f->sb, f->fstep, f->ferr, cwd, f->fdetail);
	if (f->why == WHY_TIMEOUT) {
		res->timed_out = true;
		res->note = arena_printf(c->a,
		    "the command was killed after its %lld ms timeout; "
		    "the output it wrote until then is returned",
		    (long long)req->timeout_ms);
		return 0;
	}
	if (f->why == WHY_DEADLINE) {
		res->timed_out = true;
		return err_set(e, ERR_TIMEOUT,
		    "the request's deadline passed after %lld ms, so the "
		    "command was killed",
		    (long long)(time_mono_ms() - t0));
	}
	if (f->why == WHY_CANCEL || f->why == WHY_STOP)
		return err_set(e, ERR_CANCELLED,
		    "the call was cancelled, so the command was killed");
	if (!f->have_status)
		return err_set(e, ERR_BACKEND,
		    "the sandbox's supervisor ended before the command "
		    "did (the sandbox was killed or expired)");
	res->exited = true;
	res->exit_code = decode_status(f->status, &sig);
	if (sig == SIGKILL && oom_count(f->sb) > oom0)
		res->note = oom_note(f->sb, c->a);
	else if (sig != 0)
		res->note = arena_printf(c->a, "the command was killed by signal %d", sig);
	else if (!out_eof || !err_eof)
		res->note = "the command left processes running that still hold its output; "
		            "what they write after it exited is not returned (use background: true "
		            "for servers)";
	return 0;
}

static bool
fg_ended(const struct fg *f)
{
	return f->have_status || f->failed || f->sock_eof;
}

static void
fg_stdin(struct fg *f, const struct exec_req *req)
{
	ssize_t n = local_write_nosig(f->in, req->stdin_data + f->in_off,
	    req->stdin_len - f->in_off);

	if (n > 0)
		f->in_off += (size_t)n;
	if ((n < 0 && errno != EAGAIN && errno != EINTR) || f->in_off >= req->stdin_len)
		xclose(&f->in);
}

/* How long the next wait may last: until wake, or the nap when that is sooner; NULL for
 * no limit. */
static struct timespec *
fg_timeout(const struct fg *f, int64_t wake, struct timespec *ts)
{
	int64_t left = deadline_left_ms(wake);

	if (f->nap_us > 0 && (left < 0 || left * 1000 > f->nap_us))
		left = f->nap_us;
	else if (left >= 0)
		left *= 1000;
	if (left < 0)
		return NULL;
	*ts = (struct timespec){ (time_t)(left / 1000000), (long)(left % 1000000) * 1000 };
	return ts;
}

/* One wait and what came of it; false once the loop is over (the grace after the exit or
 * the wait after a kill ran out, or poll failed). A deadline is judged before the wait, so
 * a stream that never pauses cannot keep it from being noticed. */
static bool
fg_round(struct fg *f, const struct exec_req *req, struct call *c)
{
	struct pollfd pf[5];
	int np = 0, ic = -1, is = -1, ip[2] = { -1, -1 }, ii = -1, pr;
	bool ended = fg_ended(f), napping = f->nap_us > 0;
	int64_t wake = f->killed || ended ? f->end_by : f->dl, nap = -1;
	struct timespec ts;

	if (deadline_passed(wake)) {
		if (f->killed || ended)
			return false;
		fg_kill(f, deadline_passed(f->tdl) ? WHY_TIMEOUT : WHY_DEADLINE);
		f->end_by = deadline_in_ms(EXEC_KILL_WAIT_MS);
		return true;
	}
	if (!f->killed && cancel_fd(c->cancel) >= 0) {
		ic = np;
		pf[np++] = (struct pollfd){ cancel_fd(c->cancel), POLLIN, 0 };
	}
	if (!f->sock_eof) {
		is = np;
		pf[np++] = (struct pollfd){ f->sock, POLLIN, 0 };
	}
	for (int k = 0; k < 2 && !napping; k++) {
		if (!f->pipe[k].eof) {
			ip[k] = np;
			pf[np++] = (struct pollfd){ f->pipe[k].fd, POLLIN, 0 };
		}
	}
	if (f->in >= 0 && f->started) {
		ii = np;
		pf[np++] = (struct pollfd){ f->in, POLLOUT, 0 };
	}
	pr = ppoll(pf, (nfds_t)np, fg_timeout(f, wake, &ts), NULL);
	f->nap_us = 0;
	if (pr < 0 && errno == EINTR)
		return true;
	if (pr < 0) {
		fg_kill(f, WHY_CANCEL);
		return false;
	}
	if (ic >= 0 && pf[ic].revents != 0) {
		fg_kill(f, WHY_CANCEL);
		f->end_by = deadline_in_ms(EXEC_KILL_WAIT_MS);
	}
	if (is >= 0 && pf[is].revents != 0) {
		if (!fg_messages(f))
			f->sock_eof = true;
		if (!ended && fg_ended(f) && !f->killed)
			f->end_by = deadline_in_ms(EXEC_GRACE_MS);
		if (f->failed)
			f->pipe[0].eof = f->pipe[1].eof = true;
	}
	for (int k = 0; k < 2; k++) {
		int64_t n;

		if (ip[k] < 0 || pf[ip[k]].revents == 0)
			continue;
		n = fg_drain(f, &f->pipe[k]);
		nap = nap < 0 || n < nap ? n : nap; /* every stream read must allow it */
	}
	if (nap > 0 && !fg_ended(f) && !f->killed)
		f->nap_us = nap;
	if (ii >= 0 && pf[ii].revents != 0)
		fg_stdin(f, req);
	if (f->killed && f->end_by == DEADLINE_NONE)
		f->end_by = deadline_in_ms(EXEC_KILL_WAIT_MS);
	return true;
}

static int
exec_fg(struct local *L, struct lsb *sb, const struct exec_req *req, const char *cwd,
    const struct buf *payload, size_t nenv, exec_event_fn fn, void *arg, struct exec_result *res,
    struct call *c, struct err *e)
{
	struct fg f;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, in[2] = { -1, -1 }, fds[3];
	int64_t t0 = time_mono_ms(), oom0;
	int rc = 0, flags = 0;

	memset(&f, 0, sizeof(f));
	f.sb = sb;
	f.fn = fn;
	f.arg = arg;
	f.sock = -1;
	f.in = -1;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    (req->stdin_data != NULL ? pipe2(in, O_CLOEXEC)
	                             : (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC))) < 0) {
		rc = err_set(e, ERR_IO, "could not start the command: %s", strerror(errno));
		goto out;
	}
	oom0 = oom_count(sb);
	f.sock = spawn_connect(L, sb, c, e);
	if (f.sock < 0) {
		rc = e->code;
		goto out;
	}
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = errp[1];
	if ((rc = wire_send(f.sock, W_EXEC, 0, flags, 0, (int32_t)nenv, payload->p, payload->len,
	         fds, 3)) != 0) {
		rc = err_set(e, ERR_BACKEND,
		    "could not start the command: the sandbox's "
		    "supervisor did not take it (%s)",
		    strerror(rc));
		goto out;
	}
	xclose(&in[0]);
	xclose(&out[1]);
	xclose(&errp[1]);
	set_nonblock(f.sock);
	set_nonblock(out[0]);
	set_nonblock(errp[0]);
	f.pipe[0] = (struct fg_pipe){ .fd = out[0], .type = EXEC_EV_STDOUT };
	f.pipe[1] = (struct fg_pipe){ .fd = errp[0], .type = EXEC_EV_STDERR };
	f.in = in[1];
	in[1] = -1;
	if (f.in >= 0) {
		set_nonblock(f.in);
		if (req->stdin_len == 0)
			xclose(&f.in);
	}
	f.chunk = xmalloc(EXEC_CHUNK);
	f.tdl = req->timeout_ms > 0 ? t0 + req->timeout_ms : DEADLINE_NONE;
	f.dl = deadline_min(f.tdl, c->deadline);
	f.end_by = DEADLINE_NONE;

	/* Until the status is in and both pipes are drained (or the grace after exit ends). */
	while (!(fg_ended(&f) && f.pipe[0].eof && f.pipe[1].eof))
		if (!fg_round(&f, req, c))
			break;
	if (!(f.have_status || f.failed) && !f.killed)
		fg_kill(&f, WHY_CANCEL);
	rc = fg_result(&f, req, cwd, t0, oom0, f.pipe[0].eof, f.pipe[1].eof, res, c, e);
	if (f.denied != NULL)
		res->network_denied = local_split_lines(f.denied, f.ndenied, c->a,
		    &res->nnetwork_denied);
out:
	free(f.denied);
	free(f.chunk);
	wire_in_reset(&f.rd);
	xclose(&f.sock); /* a command still running dies with this connection */
	xclose(&out[0]);
	xclose(&out[1]);
	xclose(&errp[0]);
	xclose(&errp[1]);
	xclose(&in[0]);
	xclose(&in[1]);
	xclose(&f.in);
	return rc;
}

/* ---- background -------------------------------------------------------------------------- */

static int
exec_bg(struct local *L, struct lsb *sb, const char *cwd, const struct buf *payload, size_t nenv,
    exec_event_fn fn, void *arg, struct exec_result *res, struct call *c, struct err *e)
{
	struct wire_in r;
	int sock, rc, flags = WX_BACKGROUND;

	memset(&r, 0, sizeof(r));
	sock = spawn_connect(L, sb, c, e);
	if (sock < 0)
		return e->code;
	rc = wire_send(sock, W_EXEC, 0, flags, 0, (int32_t)nenv, payload->p, payload->len, NULL, 0);
	if (rc != 0) {
		close(sock);
		return err_set(e, ERR_BACKEND,
		    "could not start the command: the sandbox's "
		    "supervisor did not take it (%s)",
		    strerror(rc));
	}
	rc = spawn_recv(sock, &r, c, -1, e);
	close(sock);
	if (rc == 0)
		rc = err_set(e, ERR_BACKEND, "the supervisor of sandbox %s closed the connection",
		    sb->id);
	if (rc != 1) {
		wire_in_reset(&r);
		return rc;
	}
	if (r.h.type == W_FAILED) {
		rc = start_error(e, sb, r.h.a, r.h.b, cwd, r.payload);
		wire_in_reset(&r);
		return rc;
	}
	res->pid = arena_printf(c->a, "%d", (int)r.h.a);
	res->exited = false;
	wire_in_reset(&r);
	if (fn != NULL) {
		struct exec_event ev = { EXEC_EV_START, NULL, 0, res->pid };

		fn(arg, &ev);
	}
	return 0;
}

/* ---- exec entry ---------------------------------------------------------------------------- */

int
local_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn,
    void *arg, struct exec_result *res, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct buf payload = { 0 };
	const char *cwd;
	size_t nenv;
	int rc;

	memset(res, 0, sizeof(*res));
	if (req->command == NULL || req->command[0] == '\0')
		return err_set(e, ERR_INVAL, "command is empty; give a shell command to run");
	for (size_t i = 0; i < req->nenv; i++)
		if (req->env[i].key == NULL || req->env[i].key[0] == '\0' ||
		    strchr(req->env[i].key, '=') != NULL)
			return err_set(e, ERR_INVAL,
			    "environment variable name \"%.40s\" is invalid",
			    req->env[i].key != NULL ? req->env[i].key : "");
	rc = store_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	if (sb.paused)
		return err_set(e, ERR_INVAL,
		    "sandbox %s is paused; resume it with sandbox_resume "
		    "first",
		    sb.id);
	cwd = cwd_of(&sb, req->cwd, c->a);
	if (cwd == NULL)
		return err_set(e, ERR_TOOBIG, "the request is too large");
	buf_init(&payload, WIRE_PAYLOAD_MAX);
	nenv = payload_build(L, &sb, req, cwd, &payload);
	if (payload.len >= WIRE_PAYLOAD_MAX) {
		buf_fini(&payload);
		return err_set(e, ERR_TOOBIG, "the command and its environment are over %u MiB",
		    WIRE_PAYLOAD_MAX >> 20);
	}
	if (req->background)
		rc = exec_bg(L, &sb, cwd, &payload, nenv, fn, arg, res, c, e);
	else
		rc = exec_fg(L, &sb, req, cwd, &payload, nenv, fn, arg, res, c, e);
	buf_fini(&payload);
	return rc;
}
