/*
 * process.c -- the background process ops of a local sandbox: list, output, stdin, kill.
 *
 * Reads the records the supervisor keeps under procs/<pid>/ (pid = the process id inside
 * the sandbox): info.json (pid, command, started_at), the output (output.c), stdin (a
 * FIFO the supervisor holds open until process_send_stdin closes it), stdin_closed, and
 * exit ("CODE SIGNAL") once the process ended. Signals and closing stdin go through the
 * supervisor, which alone can reach into the sandbox's PID namespace.
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
#include <unistd.h>

#include "backends/common/wait.h"
#include "json/json.h"
#include "util/time.h"

#define PROC_POLL_MS        25
#define PROC_OUTPUT_DEFAULT (1024 * 1024)
#define PROC_INFO_MAX       65536

static struct local *
LOC(struct backend *b)
{
	return (struct local *)(void *)b;
}

struct lproc {
	int pid;
	const char *command;
	bool running, has_exit;
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

/* out = dir/name; false when it does not fit. */
static bool
sub_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	return n >= 0 && n < PATH_MAX;
}

static bool
read_text(const char *dir, const char *file, char *buf, size_t cap)
{
	char path[PATH_MAX];
	int fd;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

static bool
sup_running(const struct lsb *sb)
{
	return sb->has_sup && local_pid_alive(sb->sup.pid, sb->sup.start);
}

/* Fills running/has_exit/exit_code from the record directory dir. */
static void
proc_status(const struct lsb *sb, const char *dir, struct lproc *p)
{
	char text[64];
	int code, sig;

	p->running = p->has_exit = false;
	if (read_text(dir, "exit", text, sizeof(text)) && sscanf(text, "%d %d", &code, &sig) >= 1) {
		p->has_exit = code >= 0;
		p->exit_code = code;
		return;
	}
	p->running = sup_running(sb); /* a new supervisor means its processes are gone */
}

static int
proc_info_read(const struct lsb *sb, const char *dir, struct arena *a, struct lproc *p)
{
	char *text = arena_alloc(a, PROC_INFO_MAX);
	const struct json *j;
	int64_t v;

	memset(p, 0, sizeof(*p));
	if (text == NULL || !read_text(dir, "info.json", text, PROC_INFO_MAX))
		return -1;
	j = json_parse(text, strlen(text), a, NULL);
	if (j == NULL || j->type != JSON_OBJECT)
		return -1;
	if (json_int(json_get(j, "pid"), &v))
		p->pid = (int)v;
	p->command = json_get_str(j, "command");
	proc_status(sb, dir, p);
	return 0;
}

static int
proc_open(struct local *L, const char *id, const char *pid, struct call *c, struct lsb *sb,
    char *dir, struct lproc *p, struct err *e)
{
	int rc = store_load(L, id, c->a, sb, e);

	if (rc != 0)
		return rc;
	if (!pid_ok(pid) || snprintf(dir, PATH_MAX, "%s/procs/%s", sb->dir, pid) >= PATH_MAX ||
	    proc_info_read(sb, dir, c->a, p) != 0)
		return err_set(e, ERR_NOTFOUND,
		    "process %.20s does not exist in sandbox %s; list "
		    "background processes with process_list",
		    pid != NULL ? pid : "", sb->id);
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
	rc = store_load(L, id, c->a, &sb, e);
	if (rc != 0)
		return rc;
	store_path(procs, &sb, "procs");
	d = opendir(procs);
	while (d != NULL && (de = readdir(d)) != NULL) {
		struct lproc p;

		if (!pid_ok(de->d_name) ||
		    snprintf(dir, sizeof(dir), "%s/%s", procs, de->d_name) >= (int)sizeof(dir) ||
		    proc_info_read(&sb, dir, c->a, &p) != 0)
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

/* The refused connections of the process, from its record (the supervisor writes them). */
static void
proc_denied(const char *dir, struct proc_output *out, struct arena *a)
{
	char path[PATH_MAX], buf[8192];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/network_denied", dir) >= (int)sizeof(path))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n > 0)
		out->network_denied = local_split_lines(buf, (size_t)n, a, &out->nnetwork_denied);
}

int
local_proc_output(struct backend *b, const char *id, const char *pid, uint64_t offset,
    int64_t wait_ms, size_t max_bytes, struct proc_output *out, struct call *c, struct err *e)
{
	struct local *L = LOC(b);
	struct lsb sb;
	struct lproc p;
	char dir[PATH_MAX];
	int64_t dl = deadline_min(c->deadline, wait_ms > 0 ? deadline_in_ms(wait_ms) : 0);
	int rc;

	memset(out, 0, sizeof(*out));
	out->next_offset = offset;
	rc = proc_open(L, id, pid, c, &sb, dir, &p, e);
	if (rc != 0)
		return rc;
	if (max_bytes == 0)
		max_bytes = PROC_OUTPUT_DEFAULT;
	for (;;) {
		bool was_running = p.running;
		int64_t total = outrec_total(dir);

		if (total < 0)
			return err_set(e, ERR_IO, "cannot read the output of process %s: %s", pid,
			    strerror(errno));
		if ((uint64_t)total > offset || !was_running || deadline_passed(dl)) {
			rc = outrec_read(dir, offset, max_bytes, &out->data, &out->next_offset, e);
			break;
		}
		/* A passed deadline is not an error here: the next round returns what there is. */
		if (wait_sleep_until(c->cancel, dl, PROC_POLL_MS, NULL, NULL) == ERR_CANCELLED) {
			rc = err_set(e, ERR_CANCELLED, "the call was cancelled");
			break;
		}
		proc_status(&sb, dir, &p);
	}
	proc_status(&sb, dir, &p);
	out->running = p.running;
	out->has_exit = p.has_exit;
	out->exit_code = p.exit_code;
	if (rc != 0)
		buf_fini(&out->data);
	else
		proc_denied(dir, out, c->a);
	return rc;
}

int
local_proc_stdin(struct backend *b, const char *id, const char *pid, const char *data, size_t len,
    bool close_stdin, struct call *c, struct err *e)
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
	if (!sub_path(path, dir, "stdin_closed") || access(path, F_OK) == 0)
		return err_set(e, ERR_INVAL, "the stdin of process %s was already closed", pid);
	fd = sub_path(path, dir, "stdin")
	    ? open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)
	    : -1;
	if (fd < 0)
		return err_set(e, errno == ENXIO ? ERR_INVAL : ERR_IO,
		    "cannot write to the stdin "
		    "of process %s: %s",
		    pid, strerror(errno));
	while (off < len) {
		ssize_t n = local_write_nosig(fd, data + off, len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf[2] = { { fd, POLLOUT, 0 },
				{ cancel_fd(c->cancel), POLLIN, 0 } };
			int pr = poll(pf, pf[1].fd >= 0 ? 2 : 1, deadline_left_ms(c->deadline));

			if (pr == 0) {
				rc = err_set(e, ERR_TIMEOUT,
				    "process %s did not read its stdin in time "
				    "(%zu of %zu bytes written)",
				    pid, off, len);
				break;
			}
			if (pr > 0 && (pf[1].revents & POLLIN)) {
				rc = err_set(e, ERR_CANCELLED,
				    "the call was cancelled (%zu of %zu "
				    "bytes written)",
				    off, len);
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
	if (rc == 0 && close_stdin)
		rc = spawn_simple(L, &sb, W_STDIN_CLOSE, p.pid, 0, NULL, 0, c, e);
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
	/* Its process group: it started a session of its own, so that is it and its children. */
	rc = spawn_simple(L, &sb, W_SIGNAL, -p.pid, signo, NULL, 0, c, e);
	if (rc != 0)
		return rc;
	if (signo != SIGKILL && signo != SIGTERM && signo != SIGINT && signo != SIGHUP)
		return 0;
	/* Give it a moment, so process_list right after shows the end. */
	dl = deadline_min(c->deadline, deadline_in_ms(1000));
	while (!deadline_passed(dl)) {
		proc_status(&sb, dir, &p);
		if (!p.running)
			break;
		poll(NULL, 0, 10);
	}
	return 0;
}
