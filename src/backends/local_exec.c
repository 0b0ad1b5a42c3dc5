/*
 * local_exec.c -- commands in a local sandbox: foreground exec with streamed output,
 * and background processes whose output, stdin and exit code live under procs/<pid>/.
 *
 * procs/<pid>/ (pid = the process id inside the sandbox):
 *   info.json  pid, host_pid, monitor_pid, monitor_start, command, started_at
 *   out        stdout and stderr interleaved, appended by the process itself
 *   stdin      a FIFO; the monitor holds a write end until process_send_stdin closes it
 *   exit       "CODE SIGNAL\n", written by the monitor when the process ended
 *   stdin_closed  marker: stdin was closed on request
 */
#define LOCAL_INTERNAL
#include "backends/local.h"

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
#include <time.h>
#include <unistd.h>

#include "json/json.h"
#include "json/jsonw.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/time.h"

#define EXEC_CHUNK 65536
#define EXEC_GRACE_MS 200	/* after the shell exits, for leftovers holding its output */
#define EXEC_KILL_WAIT_MS 2000	/* after a kill, for the last output and the status */
#define EXEC_START_MS 30000	/* a background start must report its pid by then */
#define PROC_POLL_MS 25
#define PROC_OUTPUT_DEFAULT (1024 * 1024)
#define PROC_INFO_MAX 65536

static struct local *
LOC(struct backend *b)
{
	return (struct local *)(void *)b;
}

/* write() that turns SIGPIPE into EPIPE for this thread only. */
static ssize_t
write_nosig(int fd, const void *p, size_t n)
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

/* ---- environment, cwd, argv ---------------------------------------------------------- */

struct envb {
	char **v;
	size_t n, cap;
	struct arena *a;
};

static void
env_put(struct envb *eb, const char *key, const char *value)
{
	size_t kl = strlen(key);
	char *s = arena_printf(eb->a, "%s=%s", key, value != NULL ? value : "");

	if (s == NULL)
		return;
	for (size_t i = 0; i < eb->n; i++) {
		if (strncmp(eb->v[i], key, kl) == 0 && eb->v[i][kl] == '=') {
			eb->v[i] = s;
			return;
		}
	}
	if (eb->n + 1 < eb->cap)
		eb->v[eb->n++] = s;
}

static char **
env_build(const struct local *L, const struct lsb *sb, const struct exec_req *req,
    const char *cwd, struct arena *a)
{
	struct envb eb = { NULL, 0, 0, a };
	char path[PATH_MAX];

	eb.cap = 16 + sb->nenv + req->nenv;
	eb.v = arena_zalloc(a, eb.cap * sizeof(char *));
	if (eb.v == NULL)
		return NULL;
	env_put(&eb, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (sb->isolate) {
		env_put(&eb, "HOME", "/root");
		env_put(&eb, "USER", "root");
		env_put(&eb, "LOGNAME", "root");
		env_put(&eb, "TMPDIR", "/tmp");
	} else {
		local_path(path, sb, "home");
		env_put(&eb, "HOME", path);
		env_put(&eb, "USER", L->user);
		env_put(&eb, "LOGNAME", L->user);
		local_path(path, sb, "tmp");
		env_put(&eb, "TMPDIR", path);
	}
	env_put(&eb, "SHELL", "/bin/bash");
	env_put(&eb, "LANG", "C.UTF-8");
	env_put(&eb, "TERM", "dumb");
	env_put(&eb, "HOSTNAME", sb->id);
	env_put(&eb, "SANDBOX_ID", sb->id);
	env_put(&eb, "PWD", cwd);
	for (size_t i = 0; i < sb->nenv; i++)
		env_put(&eb, sb->env[i].key, sb->env[i].value);
	for (size_t i = 0; i < req->nenv; i++)
		env_put(&eb, req->env[i].key, req->env[i].value);
	eb.v[eb.n] = NULL;
	return eb.v;
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
	local_path(ws, sb, "workspace");
	if (cwd == NULL || cwd[0] == '\0')
		return arena_strdup(a, ws);
	return cwd[0] == '/' ? cwd : arena_printf(a, "%s/%s", ws, cwd);
}

static int
child_error(struct err *e, const struct lrec *r, const char *cwd)
{
	if (r->a == LOCAL_STEP_CHDIR && (r->b == ENOENT || r->b == ENOTDIR))
		return err_set(e, ERR_NOTFOUND, "working directory %s does not exist in the "
		    "sandbox; create it with file_mkdir or omit cwd", cwd);
	if (r->a == LOCAL_STEP_CHDIR)
		return err_set(e, ERR_INVAL, "cannot use working directory %s: %s", cwd,
		    strerror(r->b));
	if (r->a == LOCAL_STEP_EXEC)
		return err_set(e, ERR_BACKEND, "could not start bash or sh in the sandbox: %s",
		    strerror(r->b));
	return err_set(e, ERR_BACKEND, "could not enter the sandbox: %s failed (%s)",
	    local_step_name(r->a), strerror(r->b));
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

static void
reap(pid_t pid, int64_t wait_ms)
{
	int64_t dl = deadline_in_ms(wait_ms);

	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return;
		if (deadline_passed(dl)) {
			kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			return;
		}
		poll(NULL, 0, 5);
	}
}

/* ---- foreground ------------------------------------------------------------------------- */

enum { WHY_NONE, WHY_TIMEOUT, WHY_DEADLINE, WHY_CANCEL, WHY_STOP };

struct fg {
	struct local *L;
	const struct lsb *sb;
	const struct exec_req *req;
	exec_event_fn fn;
	void *arg;
	struct call *c;
	pid_t cpid, gpid;
	int nspid;
	bool have_status, have_err, killed;
	int status;
	struct lrec err;
	int why;
	char pidstr[24];
};

static void
fg_kill(struct fg *f, int why)
{
	if (f->why == WHY_NONE)
		f->why = why;
	f->killed = true;
	if (f->gpid > 0)
		kill(-f->gpid, SIGKILL);
	else if (f->cpid > 0)
		kill(-f->cpid, SIGKILL);	/* C is its own group until G is known */
}

static void
fg_records(struct fg *f, int fd, bool *eof)
{
	struct lrec r[8];
	ssize_t n = read(fd, r, sizeof(r));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		*eof = true;
		return;
	}
	for (size_t i = 0; i < (size_t)n / sizeof(r[0]); i++) {
		switch (r[i].kind) {
		case LREC_PID:
			f->gpid = r[i].a;
			local_fg_add(f->L, f->sb->id, f->gpid);
			if (f->killed)
				kill(-f->gpid, SIGKILL);
			break;
		case LREC_NSPID:
			f->nspid = r[i].a;
			snprintf(f->pidstr, sizeof(f->pidstr), "%d", f->nspid);
			if (f->fn != NULL) {
				struct exec_event ev = { EXEC_EV_START, NULL, 0, f->pidstr };

				if (f->fn(f->arg, &ev) != 0)
					fg_kill(f, WHY_STOP);
			}
			break;
		case LREC_STATUS:
			f->have_status = true;
			f->status = r[i].a;
			break;
		case LREC_ERR:
			if (!f->have_err) {
				f->have_err = true;
				f->err = r[i];
			}
			break;
		default:
			break;
		}
	}
}

/* Reads what fd has; false at EOF. */
static bool
fg_output(struct fg *f, int fd, enum exec_event_type type, char *chunk)
{
	ssize_t n = read(fd, chunk, EXEC_CHUNK);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (f->fn != NULL) {
		struct exec_event ev = { type, chunk, (size_t)n, f->pidstr };

		if (f->fn(f->arg, &ev) != 0 && !f->killed)
			fg_kill(f, WHY_STOP);
	}
	return true;
}

static int
exec_fg(struct local *L, const struct lsb *sb, const struct lns *ns, const struct exec_req *req,
    char *const *argv_bash, char *const *argv_sh, char **envp, const char *cwd,
    exec_event_fn fn, void *arg, struct exec_result *res, struct call *c, struct err *e)
{
	struct fg f;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, st[2] = { -1, -1 }, in[2] = { -1, -1 };
	struct lspawn sp;
	char *chunk = NULL;
	size_t in_off = 0;
	int64_t t0 = time_mono_ms(), tdl, dl, end_by = DEADLINE_NONE;
	bool st_eof = false, out_eof = false, err_eof = false;
	int rc = 0, sig;

	memset(&f, 0, sizeof(f));
	f.L = L;
	f.sb = sb;
	f.req = req;
	f.fn = fn;
	f.arg = arg;
	f.c = c;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0 ||
	    (req->stdin_data != NULL ? pipe2(in, O_CLOEXEC) :
	    (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC))) < 0) {
		rc = err_set(e, ERR_IO, "could not start the command: %s", strerror(errno));
		goto out;
	}
	memset(&sp, 0, sizeof(sp));
	sp.ns = ns;
	sp.cwd = cwd;
	sp.argv_bash = argv_bash;
	sp.argv_sh = argv_sh;
	sp.envp = envp;
	sp.fd_in = in[0];
	sp.fd_out = out[1];
	sp.fd_err = errp[1];
	sp.st = st[1];
	sp.mon_dir = sp.mon_keep = -1;
	f.cpid = local_spawn(&sp, e);
	xclose(&in[0]);
	xclose(&out[1]);
	xclose(&errp[1]);
	xclose(&st[1]);
	if (f.cpid < 0) {
		rc = e->code;
		goto out;
	}
	set_nonblock(out[0]);
	set_nonblock(errp[0]);
	set_nonblock(st[0]);
	if (in[1] >= 0) {
		set_nonblock(in[1]);
		if (req->stdin_len == 0)
			xclose(&in[1]);
	}
	chunk = xmalloc(EXEC_CHUNK);
	tdl = req->timeout_ms > 0 ? t0 + req->timeout_ms : DEADLINE_NONE;
	dl = deadline_min(tdl, c->deadline);

	while (!(st_eof && out_eof && err_eof)) {
		struct pollfd pf[5];
		int np = 0, ic = -1, is = -1, io = -1, ie = -1, ii = -1, pr;
		int64_t wake = f.killed || st_eof ? end_by : dl;

		if (!f.killed && cancel_fd(c->cancel) >= 0) {
			ic = np;
			pf[np++] = (struct pollfd){ cancel_fd(c->cancel), POLLIN, 0 };
		}
		if (!st_eof) {
			is = np;
			pf[np++] = (struct pollfd){ st[0], POLLIN, 0 };
		}
		if (!out_eof) {
			io = np;
			pf[np++] = (struct pollfd){ out[0], POLLIN, 0 };
		}
		if (!err_eof) {
			ie = np;
			pf[np++] = (struct pollfd){ errp[0], POLLIN, 0 };
		}
		if (in[1] >= 0) {
			ii = np;
			pf[np++] = (struct pollfd){ in[1], POLLOUT, 0 };
		}
		pr = poll(pf, (nfds_t)np, deadline_left_ms(wake));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			fg_kill(&f, WHY_CANCEL);
			break;
		}
		if (pr == 0) {
			if (f.killed || st_eof)
				break;	/* grace or kill wait is over */
			fg_kill(&f, deadline_passed(tdl) ? WHY_TIMEOUT : WHY_DEADLINE);
			end_by = deadline_in_ms(EXEC_KILL_WAIT_MS);
			continue;
		}
		if (ic >= 0 && pf[ic].revents != 0) {
			fg_kill(&f, WHY_CANCEL);
			end_by = deadline_in_ms(EXEC_KILL_WAIT_MS);
		}
		if (is >= 0 && pf[is].revents != 0) {
			fg_records(&f, st[0], &st_eof);
			if (st_eof && !f.killed)
				end_by = deadline_in_ms(EXEC_GRACE_MS);
		}
		if (io >= 0 && pf[io].revents != 0 && !fg_output(&f, out[0], EXEC_EV_STDOUT, chunk))
			out_eof = true;
		if (ie >= 0 && pf[ie].revents != 0 && !fg_output(&f, errp[0], EXEC_EV_STDERR, chunk))
			err_eof = true;
		if (ii >= 0 && pf[ii].revents != 0) {
			ssize_t n = write_nosig(in[1], req->stdin_data + in_off,
			    req->stdin_len - in_off);

			if (n > 0)
				in_off += (size_t)n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || in_off >= req->stdin_len)
				xclose(&in[1]);
		}
		if (f.killed && end_by == DEADLINE_NONE)
			end_by = deadline_in_ms(EXEC_KILL_WAIT_MS);
	}
	if (!st_eof && !f.killed)
		fg_kill(&f, WHY_CANCEL);
	reap(f.cpid, EXEC_KILL_WAIT_MS);
	if (f.gpid > 0)
		local_fg_del(L, f.gpid);

	res->pid = f.pidstr[0] != '\0' ? arena_strdup(c->a, f.pidstr) : NULL;
	if (f.have_err) {
		rc = child_error(e, &f.err, cwd);
	} else if (f.why == WHY_TIMEOUT) {
		res->timed_out = true;
		res->note = arena_printf(c->a, "the command was killed after its %lld ms timeout; "
		    "the output it wrote until then is returned", (long long)req->timeout_ms);
	} else if (f.why == WHY_DEADLINE) {
		res->timed_out = true;
		rc = err_set(e, ERR_TIMEOUT, "the request's deadline passed after %lld ms, so the "
		    "command was killed", (long long)(time_mono_ms() - t0));
	} else if (f.why == WHY_CANCEL || f.why == WHY_STOP) {
		rc = err_set(e, ERR_CANCELLED, "the call was cancelled, so the command was killed");
	} else if (f.have_status) {
		res->exited = true;
		res->exit_code = decode_status(f.status, &sig);
		if (sig != 0)
			res->note = arena_printf(c->a, "the command was killed by signal %d", sig);
		else if (!out_eof || !err_eof)
			res->note = "the command left processes running that still hold its output; "
			    "what they write after it exited is not returned (use background: true "
			    "for servers)";
	} else {
		rc = err_set(e, ERR_BACKEND, "the command's monitor process ended without a status");
	}
out:
	free(chunk);
	xclose(&out[0]);
	xclose(&out[1]);
	xclose(&errp[0]);
	xclose(&errp[1]);
	xclose(&st[0]);
	xclose(&st[1]);
	xclose(&in[0]);
	xclose(&in[1]);
	return rc;
}

/* ---- background -------------------------------------------------------------------------- */

struct lproc {
	int pid;
	pid_t host_pid, mon_pid;
	unsigned long long mon_start;
	const char *command;
	bool running, has_exit, lost;
	int exit_code;
};

static bool
pid_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 9)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int
rec_path(char *out, const struct lsb *sb, const char *pid, const char *file)
{
	int n = file != NULL ? snprintf(out, PATH_MAX, "%s/procs/%s/%s", sb->dir, pid, file) :
	    snprintf(out, PATH_MAX, "%s/procs/%s", sb->dir, pid);

	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

static int
sub_path(char *out, const char *dir, const char *file)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, file);

	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

static bool
read_text(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* Fills running/has_exit/exit_code from the record directory dir. */
static void
proc_status(const char *dir, struct lproc *p)
{
	char path[PATH_MAX], text[64];
	int code, sig;

	p->running = p->has_exit = p->lost = false;
	if (snprintf(path, sizeof(path), "%s/exit", dir) < (int)sizeof(path) &&
	    read_text(path, text, sizeof(text)) && sscanf(text, "%d %d", &code, &sig) >= 1) {
		p->has_exit = code >= 0;
		p->exit_code = code;
		return;
	}
	p->running = local_pid_alive(p->mon_pid, p->mon_start);
	p->lost = !p->running;
}

static int
proc_info_read(const char *dir, struct arena *a, struct lproc *p)
{
	char path[PATH_MAX];
	struct buf b = { 0 };
	char tmp[4096];
	const struct json *j;
	int fd;
	ssize_t n;
	int64_t v;

	memset(p, 0, sizeof(*p));
	if (snprintf(path, sizeof(path), "%s/info.json", dir) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0 && b.len < PROC_INFO_MAX)
		buf_append(&b, tmp, (size_t)n, NULL);
	close(fd);
	j = b.p != NULL ? json_parse(b.p, b.len, a, NULL) : NULL;
	buf_fini(&b);
	if (j == NULL || j->type != JSON_OBJECT)
		return -1;
	if (json_int(json_get(j, "pid"), &v))
		p->pid = (int)v;
	if (json_int(json_get(j, "host_pid"), &v))
		p->host_pid = (pid_t)v;
	if (json_int(json_get(j, "monitor_pid"), &v))
		p->mon_pid = (pid_t)v;
	if (json_int(json_get(j, "monitor_start"), &v))
		p->mon_start = (unsigned long long)v;
	p->command = json_get_str(j, "command");
	proc_status(dir, p);
	return 0;
}

size_t
local_bg_sessions(const struct lsb *sb, pid_t *out, size_t max)
{
	char procs[PATH_MAX], dir[PATH_MAX];
	DIR *d;
	struct dirent *de;
	size_t n = 0;
	struct arena *a;

	local_path(procs, sb, "procs");
	d = opendir(procs);
	if (d == NULL)
		return 0;
	a = arena_new(1024 * 1024);
	while ((de = readdir(d)) != NULL && n < max) {
		struct lproc p;

		if (!pid_ok(de->d_name) ||
		    snprintf(dir, sizeof(dir), "%s/%s", procs, de->d_name) >= (int)sizeof(dir))
			continue;
		if (proc_info_read(dir, a, &p) == 0 && p.running && p.host_pid > 0)
			out[n++] = p.host_pid;
	}
	closedir(d);
	arena_free(a);
	return n;
}

static int
write_info(int dirfd, const struct lproc *p, int64_t started_at)
{
	struct buf b = { 0 };
	struct jsonw w;
	int fd, rc = -1;

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "pid", p->pid);
	jsonw_kint(&w, "host_pid", p->host_pid);
	jsonw_kint(&w, "monitor_pid", p->mon_pid);
	jsonw_kint(&w, "monitor_start", (int64_t)p->mon_start);
	jsonw_kstr(&w, "command", p->command);
	jsonw_kint(&w, "started_at", started_at);
	jsonw_obj_end(&w);
	buf_putc(&b, '\n', NULL);
	fd = openat(dirfd, "info.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && jsonw_error(&w) == 0 && write(fd, b.p, b.len) == (ssize_t)b.len)
		rc = 0;
	if (fd >= 0)
		close(fd);
	buf_fini(&b);
	return rc;
}

static int
exec_bg(struct local *L, const struct lsb *sb, const struct lns *ns, const struct exec_req *req,
    char *const *argv_bash, char *const *argv_sh, char **envp, const char *cwd,
    exec_event_fn fn, void *arg, struct exec_result *res, struct call *c, struct err *e)
{
	char procs[PATH_MAX], tmpl[PATH_MAX], final[PATH_MAX];
	int dirfd = -1, keep = -1, infd = -1, outfd = -1, st[2] = { -1, -1 }, rc = 0;
	struct lspawn sp;
	struct lproc p;
	struct lrec err;
	bool have_err = false, eof = false;
	int64_t dl = deadline_min(c->deadline, deadline_in_ms(EXEC_START_MS));
	pid_t c0;

	memset(&p, 0, sizeof(p));
	local_path(procs, sb, "procs");
	mkdir(procs, 0700);
	if (snprintf(tmpl, sizeof(tmpl), "%s/new-XXXXXX", procs) >= (int)sizeof(tmpl) ||
	    mkdtemp(tmpl) == NULL)
		return err_set(e, ERR_IO, "cannot create a process record in %s: %s", procs,
		    strerror(errno));
	if (L->host_root && L->uid != 0 && sb->isolate)
		chown(tmpl, L->uid, L->gid);
	dirfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || mkfifoat(dirfd, "stdin", 0600) < 0 ||
	    (keep = openat(dirfd, "stdin", O_RDWR | O_CLOEXEC)) < 0 ||
	    (infd = openat(dirfd, "stdin", O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0 ||
	    fcntl(infd, F_SETFL, O_RDONLY) < 0 ||
	    (outfd = openat(dirfd, "out", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0 ||
	    pipe2(st, O_CLOEXEC) < 0) {
		rc = err_set(e, ERR_IO, "cannot set up the process record %s: %s", tmpl,
		    strerror(errno));
		goto fail;
	}
	memset(&sp, 0, sizeof(sp));
	sp.ns = ns;
	sp.cwd = cwd;
	sp.argv_bash = argv_bash;
	sp.argv_sh = argv_sh;
	sp.envp = envp;
	sp.fd_in = infd;
	sp.fd_out = outfd;
	sp.fd_err = outfd;
	sp.st = st[1];
	sp.background = true;
	sp.mon_dir = dirfd;
	sp.mon_keep = keep;
	c0 = local_spawn(&sp, e);
	xclose(&infd);
	xclose(&outfd);
	xclose(&keep);
	xclose(&st[1]);
	if (c0 < 0) {
		rc = e->code;
		goto fail;
	}
	while (waitpid(c0, NULL, 0) < 0 && errno == EINTR)
		;
	while (!eof) {
		struct pollfd pf[2] = { { st[0], POLLIN, 0 }, { cancel_fd(c->cancel), POLLIN, 0 } };
		struct lrec r[8];
		ssize_t n;
		int pr = poll(pf, pf[1].fd >= 0 ? 2 : 1, deadline_left_ms(dl));

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0 || (pf[1].revents & POLLIN)) {
			if (p.host_pid > 0)
				kill(-p.host_pid, SIGKILL);
			rc = pr > 0 ? err_set(e, ERR_CANCELLED, "the call was cancelled while the "
			    "process started, so it was killed") :
			    err_set(e, ERR_TIMEOUT, "the background process did not report its start "
			    "in time, so it was killed");
			goto fail;
		}
		n = read(st[0], r, sizeof(r));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = true;
			break;
		}
		for (size_t i = 0; i < (size_t)n / sizeof(r[0]); i++) {
			if (r[i].kind == LREC_PID)
				p.host_pid = r[i].a;
			else if (r[i].kind == LREC_NSPID)
				p.pid = r[i].a;
			else if (r[i].kind == LREC_MON)
				p.mon_pid = r[i].a;
			else if (r[i].kind == LREC_ERR && !have_err) {
				have_err = true;
				err = r[i];
			}
		}
	}
	if (have_err) {
		rc = child_error(e, &err, cwd);
		goto fail;
	}
	if (p.pid <= 0 || p.host_pid <= 0 || p.mon_pid <= 0) {
		rc = err_set(e, ERR_BACKEND, "the background process did not start");
		goto fail;
	}
	p.mon_start = local_pid_start(p.mon_pid);
	p.command = req->command;
	write_info(dirfd, &p, time_wall_ms());
	if (snprintf(final, sizeof(final), "%s/%d", procs, p.pid) >= (int)sizeof(final)) {
		rc = err_set(e, ERR_IO, "process record path too long");
		goto fail;
	}
	local_rmtree(AT_FDCWD, final);	/* a finished process that had the same pid */
	if (rename(tmpl, final) < 0) {
		rc = err_set(e, ERR_IO, "cannot record process %d: %s", p.pid, strerror(errno));
		goto fail;
	}
	xclose(&dirfd);
	xclose(&st[0]);
	res->pid = arena_printf(c->a, "%d", p.pid);
	res->exited = false;
	if (fn != NULL) {
		struct exec_event ev = { EXEC_EV_START, NULL, 0, res->pid };

		fn(arg, &ev);
	}
	return 0;
fail:
	if (p.host_pid > 0 && rc != 0)
		kill(-p.host_pid, SIGKILL);
	xclose(&dirfd);
	xclose(&keep);
	xclose(&infd);
	xclose(&outfd);
	xclose(&st[0]);
	xclose(&st[1]);
	local_rmtree(AT_FDCWD, tmpl);
	return rc;
}

/* ---- exec entry ---------------------------------------------------------------------------- */

int
local_exec(struct backend *b, const char *id, const struct exec_req *req, exec_event_fn fn,
    void *arg, struct exec_result *res, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct lns ns;
	char **envp, *argv_bash[5], *argv_sh[4];
	const char *cwd;
	int rc;

	memset(res, 0, sizeof(*res));
	if (req->command == NULL || req->command[0] == '\0')
		return err_set(e, ERR_INVAL, "command is empty; give a shell command to run");
	for (size_t i = 0; i < req->nenv; i++)
		if (req->env[i].key == NULL || req->env[i].key[0] == '\0' ||
		    strchr(req->env[i].key, '=') != NULL)
			return err_set(e, ERR_INVAL, "environment variable name \"%.40s\" is invalid",
			    req->env[i].key != NULL ? req->env[i].key : "");
	rc = local_sb_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	if (sb.paused)
		return err_set(e, ERR_INVAL, "sandbox %s is paused; resume it with sandbox_resume "
		    "first", sb.id);
	cwd = cwd_of(&sb, req->cwd, c->a);
	envp = env_build(L, &sb, req, cwd != NULL ? cwd : "/", c->a);
	if (cwd == NULL || envp == NULL)
		return err_set(e, ERR_TOOBIG, "the request is too large");
	argv_bash[0] = "bash";
	argv_bash[1] = "-l";
	argv_bash[2] = "-c";
	argv_bash[3] = (char *)(uintptr_t)req->command;
	argv_bash[4] = NULL;
	argv_sh[0] = "sh";
	argv_sh[1] = "-c";
	argv_sh[2] = (char *)(uintptr_t)req->command;
	argv_sh[3] = NULL;
	rc = local_sb_ns(L, &sb, &ns, !sb.net_allow, e);
	if (rc != 0)
		return rc;
	if (req->background)
		rc = exec_bg(L, &sb, &ns, req, argv_bash, argv_sh, envp, cwd, fn, arg, res, c, e);
	else
		rc = exec_fg(L, &sb, &ns, req, argv_bash, argv_sh, envp, cwd, fn, arg, res, c, e);
	local_ns_close(&ns);
	return rc;
}

/* ---- process ops ---------------------------------------------------------------------------- */

static int
proc_open(struct local *L, const char *id, const char *pid, struct call *c, struct lsb *sb,
    char *dir, struct lproc *p, struct err *e)
{
	int rc = local_sb_load(L, id, c->a, sb, e);

	if (rc != 0)
		return rc;
	if (!pid_ok(pid) || rec_path(dir, sb, pid, NULL) != 0 || proc_info_read(dir, c->a, p) != 0)
		return err_set(e, ERR_NOTFOUND, "process %.20s does not exist in sandbox %s; list "
		    "background processes with process_list", pid != NULL ? pid : "", sb->id);
	return 0;
}

static int
pid_cmp(const void *a, const void *b)
{
	const struct proc_info *x = a, *y = b;

	return atoi(x->pid) - atoi(y->pid);
}

int
local_proc_list(struct backend *b, const char *id, struct proc_info **out, size_t *n,
    struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	char procs[PATH_MAX], dir[PATH_MAX];
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = local_sb_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	local_path(procs, &sb, "procs");
	d = opendir(procs);
	while (d != NULL && (de = readdir(d)) != NULL) {
		struct lproc p;

		if (!pid_ok(de->d_name) ||
		    snprintf(dir, sizeof(dir), "%s/%s", procs, de->d_name) >= (int)sizeof(dir) ||
		    proc_info_read(dir, c->a, &p) != 0)
			continue;
		if (*n == cap) {
			struct proc_info *v;

			cap = cap ? cap * 2 : 16;
			v = arena_zalloc(c->a, cap * sizeof(*v));
			if (v == NULL)
				break;
			if (*n > 0)
				memcpy(v, *out, *n * sizeof(*v));
			*out = v;
		}
		(*out)[*n].pid = arena_strdup(c->a, de->d_name);
		(*out)[*n].command = p.command;
		(*out)[*n].running = p.running;
		(*out)[*n].has_exit = p.has_exit;
		(*out)[*n].exit_code = p.exit_code;
		(*n)++;
	}
	if (d != NULL)
		closedir(d);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), pid_cmp);
	return 0;
}

int
local_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct lproc p;
	char dir[PATH_MAX], path[PATH_MAX];
	int64_t dl = deadline_min(c->deadline, wait_ms > 0 ? deadline_in_ms(wait_ms) : 0);
	int fd, rc;
	struct stat st;

	memset(out, 0, sizeof(*out));
	out->next_offset = offset;
	rc = proc_open(L, id, pid, c, &sb, dir, &p, e);
	if (rc != 0)
		return rc;
	if (max_bytes == 0)
		max_bytes = PROC_OUTPUT_DEFAULT;
	fd = sub_path(path, dir, "out") == 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return err_set(e, ERR_IO, "cannot read the output of process %s: %s", pid,
		    strerror(errno));
	for (;;) {
		bool was_running = p.running;

		if (fstat(fd, &st) < 0) {
			rc = err_set(e, ERR_IO, "cannot read the output of process %s: %s", pid,
			    strerror(errno));
			break;
		}
		if ((uint64_t)st.st_size < offset) {
			rc = err_set(e, ERR_INVAL, "offset %llu is past the end of the output of "
			    "process %s (%lld bytes so far)", (unsigned long long)offset, pid,
			    (long long)st.st_size);
			break;
		}
		if ((uint64_t)st.st_size > offset || !was_running || deadline_passed(dl)) {
			size_t want = (size_t)((uint64_t)st.st_size - offset);
			char tmp[65536];

			if (want > max_bytes)
				want = max_bytes;
			while (want > 0) {
				ssize_t n = pread(fd, tmp, want < sizeof(tmp) ? want : sizeof(tmp),
				    (off_t)(offset + out->data.len));

				if (n <= 0)
					break;
				if (buf_append(&out->data, tmp, (size_t)n, e) != 0) {
					rc = e->code;
					break;
				}
				want -= (size_t)n;
			}
			out->next_offset = offset + out->data.len;
			break;
		}
		{
			struct pollfd pf = { cancel_fd(c->cancel), POLLIN, 0 };
			int left = deadline_left_ms(dl);

			if (poll(&pf, pf.fd >= 0 ? 1 : 0, left >= 0 && left < PROC_POLL_MS ? left :
			    PROC_POLL_MS) > 0) {
				rc = err_set(e, ERR_CANCELLED, "the call was cancelled");
				break;
			}
		}
		proc_status(dir, &p);
	}
	close(fd);
	proc_status(dir, &p);
	out->running = p.running;
	out->has_exit = p.has_exit;
	out->exit_code = p.exit_code;
	if (rc != 0)
		buf_fini(&out->data);
	return rc;
}

int
local_proc_stdin(struct backend *b, const char *id, const char *pid, const char *data,
    size_t len, bool close_stdin, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct lproc p;
	char dir[PATH_MAX], path[PATH_MAX];
	size_t off = 0;
	int fd, rc;

	rc = proc_open(L, id, pid, c, &sb, dir, &p, e);
	if (rc != 0)
		return rc;
	if (!p.running)
		return err_set(e, ERR_INVAL, "process %s has exited, so it cannot read stdin", pid);
	if (sub_path(path, dir, "stdin_closed") != 0 || access(path, F_OK) == 0)
		return err_set(e, ERR_INVAL, "the stdin of process %s was already closed", pid);
	fd = sub_path(path, dir, "stdin") == 0 ? open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC) :
	    -1;
	if (fd < 0)
		return err_set(e, errno == ENXIO ? ERR_INVAL : ERR_IO, "cannot write to the stdin "
		    "of process %s: %s", pid, strerror(errno));
	while (off < len) {
		ssize_t n = write_nosig(fd, data + off, len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf[2] = { { fd, POLLOUT, 0 },
				{ cancel_fd(c->cancel), POLLIN, 0 } };
			int pr = poll(pf, pf[1].fd >= 0 ? 2 : 1, deadline_left_ms(c->deadline));

			if (pr == 0) {
				rc = err_set(e, ERR_TIMEOUT, "process %s did not read its stdin in time "
				    "(%zu of %zu bytes written)", pid, off, len);
				break;
			}
			if (pr > 0 && (pf[1].revents & POLLIN)) {
				rc = err_set(e, ERR_CANCELLED, "the call was cancelled (%zu of %zu "
				    "bytes written)", off, len);
				break;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		rc = err_set(e, ERR_INVAL, "cannot write to the stdin of process %s: %s", pid,
		    n < 0 ? strerror(errno) : "short write");
		break;
	}
	close(fd);
	if (rc == 0 && close_stdin) {
		int mfd;

		mfd = sub_path(path, dir, "stdin_closed") == 0 ?
		    open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) : -1;
		if (mfd >= 0)
			close(mfd);
		if (local_pid_alive(p.mon_pid, p.mon_start))
			kill(p.mon_pid, SIGUSR1);
	}
	return rc;
}

int
local_proc_kill(struct backend *b, const char *id, const char *pid, int signo, struct call *c,
    struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct lproc p;
	char dir[PATH_MAX];
	int rc;
	int64_t dl;

	rc = proc_open(L, id, pid, c, &sb, dir, &p, e);
	if (rc != 0)
		return rc;
	if (signo <= 0)
		signo = SIGKILL;
	if (signo >= 65)
		return err_set(e, ERR_INVAL, "signal %d is not a signal number", signo);
	if (!p.running)
		return err_set(e, ERR_NOTFOUND, "process %s already exited%s", pid,
		    p.has_exit ? arena_printf(c->a, " with code %d", p.exit_code) : "");
	if (kill(-p.host_pid, signo) < 0 && kill(p.host_pid, signo) < 0)
		return err_set(e, ERR_IO, "cannot signal process %s: %s", pid, strerror(errno));
	if (signo != SIGKILL && signo != SIGTERM && signo != SIGINT && signo != SIGHUP)
		return 0;
	/* Give it a moment, so process_list right after shows the end. */
	dl = deadline_min(c->deadline, deadline_in_ms(1000));
	while (!deadline_passed(dl)) {
		proc_status(dir, &p);
		if (!p.running)
			break;
		poll(NULL, 0, 10);
	}
	return 0;
}
