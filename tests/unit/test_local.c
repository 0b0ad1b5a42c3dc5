/*
 * test_local.c -- the local backend driven through its ops: sandboxes in namespaces,
 * exec (output, exit codes, stdin, env, cwd, timeout and cancel kills), background
 * processes, files (including hostile symlinks), network policy, pause/resume, expiry,
 * persistence across a backend restart, and isolation none.
 *
 * Uses a temporary state root under /var/tmp (visible read-only inside sandboxes, so the
 * test also checks that it is hidden). Namespace tests are skipped where the kernel
 * forbids user namespaces.
 */
#include "backends/local/internal.h"
#include "util/glob.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/cancel.h"
#include "util/time.h"

static struct backend_handle H;
static struct arena *A;
static char root[256];
static char hostport[16];

static struct call
mkcall(void)
{
	struct call c = { A, NULL, DEADLINE_NONE };

	return c;
}

/* ---- exec helpers ------------------------------------------------------------------- */

struct cap {
	struct buf out, err;
	char pid[32];
	int stop_after; /* stop after this many output chunks (0 = never) */
	int chunks;
};

static int
on_ev(void *arg, const struct exec_event *ev)
{
	struct cap *c = arg;

	if (ev->type == EXEC_EV_START) {
		snprintf(c->pid, sizeof(c->pid), "%s", ev->pid != NULL ? ev->pid : "");
		return 0;
	}
	buf_append(ev->type == EXEC_EV_STDOUT ? &c->out : &c->err, ev->data, ev->len, NULL);
	c->chunks++;
	return c->stop_after > 0 && c->chunks >= c->stop_after;
}

static void
cap_fini(struct cap *c)
{
	buf_fini(&c->out);
	buf_fini(&c->err);
	memset(c, 0, sizeof(*c));
}

static const char *
s(const struct buf *b)
{
	return b->p != NULL ? b->p : "";
}

/* Text for a TAP description: newlines shown as \n (one TAP line per test). */
static const char *
esc(const char *t)
{
	static char b[4][256];
	static int k;
	char *o = b[k++ % 4];
	size_t n = 0;

	for (; *t != '\0' && n + 3 < sizeof(b[0]); t++) {
		if (*t == '\n') {
			o[n++] = '\\';
			o[n++] = 'n';
		} else {
			o[n++] = *t;
		}
	}
	o[n] = '\0';
	return o;
}

/* Runs cmd in id; returns the op's code. */
static int
run(const char *id, const char *cmd, struct exec_result *res, struct cap *cap, struct err *e)
{
	struct exec_req r;
	struct call c = mkcall();

	memset(&r, 0, sizeof(r));
	r.command = cmd;
	return H.ops->exec(H.b, id, &r, on_ev, cap, res, &c, e);
}

/* Output of a command that must succeed (empty string on failure). */
static char out_buf[65536];

static const char *
sh(const char *id, const char *cmd)
{
	struct exec_result res;
	struct cap cap;
	struct err e = { 0 };
	int rc;

	memset(&cap, 0, sizeof(cap));
	rc = run(id, cmd, &res, &cap, &e);
	snprintf(out_buf, sizeof(out_buf), "%s", rc == 0 ? s(&cap.out) : "");
	if (rc != 0)
		note("sh(%s): %s", cmd, e.msg);
	cap_fini(&cap);
	return out_buf;
}

static int
sh_code(const char *id, const char *cmd)
{
	struct exec_result res;
	struct cap cap;
	struct err e = { 0 };
	int rc;

	memset(&cap, 0, sizeof(cap));
	rc = run(id, cmd, &res, &cap, &e);
	cap_fini(&cap);
	if (rc != 0) {
		note("sh_code(%s): %s", cmd, e.msg);
		return -1000 - rc;
	}
	return res.exited ? res.exit_code : -1;
}

static char *
chomp(const char *t)
{
	static char b[4096];
	size_t n;

	snprintf(b, sizeof(b), "%s", t);
	n = strlen(b);
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		b[--n] = '\0';
	return b;
}

/* Number of host processes whose command line contains needle. */
static int
count_procs(const char *needle)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char path[300], buf[4096];
		ssize_t k;
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		k = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (k <= 0)
			continue;
		for (ssize_t i = 0; i < k; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[k] = '\0';
		if (strstr(buf, needle) != NULL)
			n++;
	}
	if (d != NULL)
		closedir(d);
	return n;
}

static int
wait_procs_gone(const char *needle, int ms)
{
	int64_t dl = deadline_in_ms(ms);
	int n;

	while ((n = count_procs(needle)) > 0 && !deadline_passed(dl))
		poll(NULL, 0, 20);
	return n;
}

/* Waits until exactly want host processes match (login shells fork briefly while they
 * read /etc/profile, so counts right after a start can be off). */
static int
wait_procs_count(const char *needle, int want, int ms)
{
	int64_t dl = deadline_in_ms(ms);
	int n;

	while ((n = count_procs(needle)) != want && !deadline_passed(dl))
		poll(NULL, 0, 20);
	return n;
}

static bool
host_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int
create_sb(struct sb_create *req, char *id, size_t idlen, struct err *e)
{
	struct sb_create def;
	struct sb_info info;
	struct call c = mkcall();
	int rc;

	if (req == NULL) {
		memset(&def, 0, sizeof(def));
		def.auto_pause = -1;
		def.secure = -1;
		req = &def;
	}
	rc = H.ops->create(H.b, req, &info, &c, e);
	if (rc == 0)
		snprintf(id, idlen, "%s", info.id);
	return rc;
}

static void
rm_rf(const char *path)
{
	local_rmtree(AT_FDCWD, path);
}

/* ---- glob ----------------------------------------------------------------------------- */

static void
test_glob(void)
{
	ok(glob_match("*.c", "a.c") && !glob_match("*.c", "d/a.c"), "glob * stays in a segment");
	ok(glob_match("**/*.c", "a.c") && glob_match("**/*.c", "x/y/a.c"),
	    "glob **/ spans zero or more directories");
	ok(glob_match("src/**", "src/a/b") && !glob_match("src/**", "lib/a"), "glob trailing **");
	ok(glob_match("a?c", "abc") && !glob_match("a?c", "a/c"), "glob ? is one non-slash byte");
	ok(glob_match("[a-c]x", "bx") && !glob_match("[!a-c]x", "bx") &&
	        glob_match("[!a-c]x", "dx"),
	    "glob classes and negation");
	ok(glob_match("\\*", "*") && !glob_match("\\*", "a"), "glob backslash escapes");
	ok(glob_match("[x", "[x"), "glob unclosed [ is literal");
	ok(!glob_match("*a*a*a*a*a*a*a*a*a*b",
	       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	    "glob pathological pattern ends (no match)");
}

/* ---- exec ----------------------------------------------------------------------------- */

static void
test_exec(const char *id)
{
	struct exec_result res;
	struct exec_req r;
	struct cap cap;
	struct err e = { 0 };
	struct call c = mkcall();
	struct kv env[1] = { { "FOO", "bar baz" } };
	int rc;

	memset(&cap, 0, sizeof(cap));
	rc = run(id, "echo hello; echo oops >&2; exit 3", &res, &cap, &e);
	is_int(rc, 0, "exec returns 0");
	ok(res.exited && res.exit_code == 3, "exit code 3 (exited=%d code=%d)", res.exited,
	    res.exit_code);
	is_str(s(&cap.out), "hello\n", "stdout streamed");
	is_str(s(&cap.err), "oops\n", "stderr streamed");
	ok(cap.pid[0] != '\0' && res.pid != NULL && strcmp(cap.pid, res.pid) == 0,
	    "START event carries the pid (%s)", cap.pid);
	cap_fini(&cap);

	memset(&r, 0, sizeof(r));
	r.command = "cat; echo; echo $FOO";
	r.stdin_data = "abc";
	r.stdin_len = 3;
	r.env = env;
	r.nenv = 1;
	memset(&cap, 0, sizeof(cap));
	err_clear(&e);
	rc = H.ops->exec(H.b, id, &r, on_ev, &cap, &res, &c, &e);
	ok(rc == 0 && strcmp(s(&cap.out), "abc\nbar baz\n") == 0,
	    "stdin and env reach the command (%s)", esc(s(&cap.out)));
	cap_fini(&cap);

	is_str(chomp(sh(id, "pwd")), "/workspace", "default cwd is /workspace");
	if (geteuid() == 0)
		is_str(chomp(sh(id, "echo $HOME $USER $(id -u)")), "/home/sandbox sandbox 1000",
		    "HOME=/home/sandbox, uid 1000 inside (never 0)");
	else
		ok(strcmp(chomp(sh(id, "id -u")), "0") != 0, "not uid 0 inside");
	is_str(chomp(sh(id, "echo $CREATED_ENV")), "from-create", "create env is visible");
	is_str(chomp(sh(id, "hostname")), id, "hostname is the sandbox id");
	is_int(sh_code(id, "mkdir -p sub/dir"), 0, "mkdir in the workspace");
	memset(&r, 0, sizeof(r));
	r.command = "pwd";
	r.cwd = "sub/dir";
	memset(&cap, 0, sizeof(cap));
	rc = H.ops->exec(H.b, id, &r, on_ev, &cap, &res, &c, &e);
	ok(rc == 0 && strcmp(s(&cap.out), "/workspace/sub/dir\n") == 0, "relative cwd (%s)",
	    esc(s(&cap.out)));
	cap_fini(&cap);
	r.cwd = "/nope/missing";
	err_clear(&e);
	rc = H.ops->exec(H.b, id, &r, on_ev, &cap, &res, &c, &e);
	ok(rc == ERR_NOTFOUND && strstr(e.msg, "/nope/missing") != NULL,
	    "missing cwd is ERR_NOTFOUND: %s", e.msg);
	if (rc != ERR_NOTFOUND)
		note("missing cwd: rc %d exited %d code %d out %s err %s note %s", rc, res.exited,
		    res.exit_code, esc(s(&cap.out)), esc(s(&cap.err)), res.note ? res.note : "");
	cap_fini(&cap);

	is_int(sh_code(id, "kill -9 $$"), 137, "a signal death reads as 128+N");
	is_int(sh_code(id, "yes | head -c 100000 >/dev/null; exit ${PIPESTATUS[0]}"), 141,
	    "SIGPIPE is default inside (yes dies of it)");
	{
		struct buf big = { 0 };

		memset(&cap, 0, sizeof(cap));
		err_clear(&e);
		rc = run(id, "head -c 1000000 /dev/zero | tr '\\0' x", &res, &cap, &e);
		ok(rc == 0 && cap.out.len == 1000000, "1 MB of output arrives whole (%zu)",
		    cap.out.len);
		cap_fini(&cap);
		buf_fini(&big);
	}

	/* timeout */
	memset(&r, 0, sizeof(r));
	r.command = "echo started; exec sleep 4711";
	r.timeout_ms = 500;
	memset(&cap, 0, sizeof(cap));
	err_clear(&e);
	rc = H.ops->exec(H.b, id, &r, on_ev, &cap, &res, &c, &e);
	ok(rc == 0 && res.timed_out && !res.exited, "timeout: timed_out, not exited (rc=%d %s)", rc,
	    e.msg);
	is_str(s(&cap.out), "started\n", "timeout keeps the partial output");
	ok(res.note != NULL && strstr(res.note, "timeout") != NULL, "timeout note: %s",
	    res.note ? res.note : "");
	is_int(wait_procs_gone("sleep 4711", 3000), 0, "the timed-out process is gone");
	cap_fini(&cap);

	/* cancel from the event callback */
	r.command = "echo go; sleep 4712";
	r.timeout_ms = 0;
	memset(&cap, 0, sizeof(cap));
	cap.stop_after = 1;
	err_clear(&e);
	rc = H.ops->exec(H.b, id, &r, on_ev, &cap, &res, &c, &e);
	is_int(rc, ERR_CANCELLED, "callback stop cancels: %s", e.msg);
	is_int(wait_procs_gone("sleep 4712", 3000), 0, "the stopped process group is gone");
	cap_fini(&cap);
}

struct firer {
	struct cancel *c;
	int ms;
};

static void *
fire_later(void *arg)
{
	struct firer *f = arg;

	poll(NULL, 0, f->ms);
	cancel_fire(f->c);
	return NULL;
}

static void
test_cancel(const char *id)
{
	struct exec_req r;
	struct exec_result res;
	struct cap cap;
	struct err e = { 0 };
	struct call c = mkcall();
	struct firer f;
	pthread_t t;
	int rc;

	memset(&r, 0, sizeof(r));
	r.command = "sleep 4713 & sleep 4713; wait";
	f.c = cancel_new();
	f.ms = 300;
	c.cancel = f.c;
	memset(&cap, 0, sizeof(cap));
	pthread_create(&t, NULL, fire_later, &f);
	rc = H.ops->exec(H.b, id, &r, on_ev, &cap, &res, &c, &e);
	pthread_join(t, NULL);
	is_int(rc, ERR_CANCELLED, "cancel token ends exec: %s", e.msg);
	is_int(wait_procs_gone("sleep 4713", 3000), 0, "cancel kills the whole process group");
	cap_fini(&cap);
	cancel_free(f.c);

	/* call deadline */
	c = mkcall();
	c.deadline = deadline_in_ms(300);
	r.command = "sleep 4714";
	err_clear(&e);
	rc = H.ops->exec(H.b, id, &r, on_ev, &cap, &res, &c, &e);
	is_int(rc, ERR_TIMEOUT, "call deadline ends exec: %s", e.msg);
	is_int(wait_procs_gone("sleep 4714", 3000), 0, "deadline kills the process");
	cap_fini(&cap);
}

/* ---- isolation ------------------------------------------------------------------------- */

static void
test_isolation(const char *id)
{
	char hostfile[PATH_MAX], path[PATH_MAX], cmd[PATH_MAX * 2];
	int fd;

	is_int(sh_code(id, "touch /etc/sbx-should-fail"), 1, "cannot write /etc");
	ok(!host_exists("/etc/sbx-should-fail"), "host /etc unchanged");
	is_int(sh_code(id, "echo x > /usr/sbx-should-fail"), 1, "cannot write /usr");
	is_int(sh_code(id, "echo x > /dev/null && head -c 4 /dev/urandom | wc -c | grep -q 4"), 0,
	    "/dev/null and /dev/urandom work");
	is_int(sh_code(id, "test $(ls /proc | grep -c '^[0-9]') -lt 10"), 0,
	    "host processes are invisible");
	is_int(sh_code(id, "cat /proc/1/environ"), 1, "pid 1 (init) is not readable: non-dumpable");
	is_int(sh_code(id, "! grep -qs s3cr3t-valu[e] /proc/[0-9]*/environ /proc/[0-9]*/cmdline"),
	    0, "no process inside sees sandbox-mcp's environment");
	is_int(sh_code(id, "ls /proc/1/fd /proc/1/root/"), 2, "pid 1's fds and root are closed");
	snprintf(hostfile, sizeof(hostfile), "/tmp/sbx-host-secret-%d", (int)getpid());
	fd = open(hostfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		ssize_t w = write(fd, "secret\n", 7);

		(void)w;
		close(fd);
	}
	snprintf(cmd, sizeof(cmd), "test -e %s", hostfile);
	is_int(sh_code(id, cmd), 1, "the host's /tmp is not visible");
	is_int(sh_code(id, "echo inside > /tmp/made-inside"), 0, "/tmp is writable");
	ok(!host_exists("/tmp/made-inside"), "writes to /tmp stay in the sandbox");
	is_str(chomp(sh(id, "cat /tmp/made-inside")), "inside",
	    "sandbox /tmp is the sandbox's own");
	is_int(sh_code(id, "echo w > /workspace/ws-file"), 0, "workspace writable");
	snprintf(path, sizeof(path), "%s/%s/workspace/ws-file", root, id);
	ok(host_exists(path), "workspace file lands in the sandbox dir");
	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", root);
	is_str(chomp(sh(id, cmd)), "0", "the state root is hidden (empty)");
	is_int(sh_code(id, "echo x > $HOME/.profile-test && test -f ~/.profile-test"), 0,
	    "$HOME is writable");
	is_int(sh_code(id, "test -e /root"), 1, "no /root in the sandbox");
	unlink(hostfile);
}

/* ---- files ------------------------------------------------------------------------------ */

static void
test_files(const char *id)
{
	struct call c = mkcall();
	struct err e = { 0 };
	struct buf b = { 0 };
	struct file_entry fe;
	struct file_list fl;
	struct file_search fs;
	bool flag = false;
	int64_t size = 0;
	int rc;
	char secret[512], cmd[PATH_MAX];
	struct stat st_before, st_after;

	rc = H.ops->file_write(H.b, id, "notes/a/b.txt", "line1\nline2\n", 12, FILE_MODE_DEFAULT,
	    &c, &e);
	is_int(rc, 0, "file_write creates parents: %s", e.msg);
	is_str(chomp(sh(id, "cat /workspace/notes/a/b.txt | tail -1")), "line2",
	    "the sandbox sees the written file");
	rc = H.ops->file_read(H.b, id, "/workspace/notes/a/b.txt", 0, 1 << 20, &b, &size, &c, &e);
	ok(rc == 0 && strcmp(s(&b), "line1\nline2\n") == 0 && size == 12,
	    "file_read absolute path");
	buf_reset(&b);
	rc = H.ops->file_read(H.b, id, "notes/a/b.txt", 6, 3, &b, &size, &c, &e);
	ok(rc == 0 && b.len == 3 && memcmp(b.p, "lin", 3) == 0, "file_read offset and max_bytes");
	buf_reset(&b);
	rc = H.ops->file_read(H.b, id, "/etc/os-release", 0, 1 << 20, &b, &size, &c, &e);
	ok(rc == 0 && strstr(s(&b), "NAME=") != NULL, "host files are readable (/etc/os-release)");
	buf_reset(&b);
	err_clear(&e);
	rc = H.ops->file_read(H.b, id, "missing.txt", 0, 100, &b, &size, &c, &e);
	ok(rc == ERR_NOTFOUND && strstr(e.msg, "/workspace/missing.txt") != NULL,
	    "missing file: %s", e.msg);
	err_clear(&e);
	rc = H.ops->file_read(H.b, id, "notes", 0, 100, &b, &size, &c, &e);
	ok(rc == ERR_INVAL && strstr(e.msg, "directory") != NULL, "reading a directory: %s", e.msg);
	err_clear(&e);
	rc = H.ops->file_write(H.b, id, "/etc/evil", "x", 1, FILE_MODE_DEFAULT, &c, &e);
	ok(rc == ERR_INVAL && strstr(e.msg, "read-only") != NULL,
	    "write outside the workspace refused: %s", e.msg);
	ok(!host_exists("/etc/evil"), "host /etc untouched");
	err_clear(&e);
	rc = H.ops->file_write(H.b, id, "run.sh", "#!/bin/sh\necho ran\n", 19, 0755, &c, &e);
	is_int(rc, 0, "file_write with mode");
	is_str(chomp(sh(id, "./run.sh")), "ran", "mode 0755 makes it executable");

	memset(&fe, 0, sizeof(fe));
	rc = H.ops->file_stat(H.b, id, "run.sh", &fe, &c, &e);
	ok(rc == 0 && fe.type == FILE_T_FILE && fe.size == 19 && fe.mode == 0755 &&
	        strcmp(fe.path, "/workspace/run.sh") == 0 && strcmp(fe.name, "run.sh") == 0,
	    "file_stat (%s %o)", fe.path ? fe.path : "", fe.mode);
	err_clear(&e);
	rc = H.ops->file_stat(H.b, id, "nope", &fe, &c, &e);
	is_int(rc, ERR_NOTFOUND, "file_stat of a missing path is ERR_NOTFOUND");
	rc = H.ops->file_mkdir(H.b, id, "d1/d2", &flag, &c, &e);
	ok(rc == 0 && flag, "file_mkdir creates");
	rc = H.ops->file_mkdir(H.b, id, "d1/d2", &flag, &c, &e);
	ok(rc == 0 && !flag, "file_mkdir on an existing dir: created=false");
	err_clear(&e);
	rc = H.ops->file_mkdir(H.b, id, "run.sh", &flag, &c, &e);
	is_int(rc, ERR_EXISTS, "file_mkdir over a file: %s", e.msg);

	memset(&fl, 0, sizeof(fl));
	rc = H.ops->file_list(H.b, id, "notes", 3, &fl, &c, &e);
	ok(rc == 0 && fl.n == 2 && strcmp(fl.items[0].path, "/workspace/notes/a") == 0 &&
	        fl.items[0].type == FILE_T_DIR &&
	        strcmp(fl.items[1].path, "/workspace/notes/a/b.txt") == 0,
	    "file_list depth 3 (n=%zu)", fl.n);
	rc = H.ops->file_list(H.b, id, "notes", 1, &fl, &c, &e);
	ok(rc == 0 && fl.n == 1, "file_list depth 1");
	err_clear(&e);
	rc = H.ops->file_list(H.b, id, "run.sh", 1, &fl, &c, &e);
	ok(rc == ERR_INVAL && strstr(e.msg, "not a directory") != NULL, "file_list of a file: %s",
	    e.msg);
	rc = H.ops->file_list(H.b, id, "/", 1, &fl, &c, &e);
	{
		bool ws = false;

		for (size_t i = 0; rc == 0 && i < fl.n; i++)
			ws = ws || strcmp(fl.items[i].path, "/workspace") == 0;
		ok(rc == 0 && ws, "file_list / shows the sandbox root");
	}

	rc = H.ops->file_write(H.b, id, "src/x/y/deep.c", "int x;\n", 7, FILE_MODE_DEFAULT, &c, &e);
	rc |= H.ops->file_write(H.b, id, "src/top.c", "int y;\n", 7, FILE_MODE_DEFAULT, &c, &e);
	rc |= H.ops->file_write(H.b, id, "src/top.h", "int z;\n", 7, FILE_MODE_DEFAULT, &c, &e);
	rc = H.ops->file_search(H.b, id, "src", "**/*.c", &fs, &c, &e);
	ok(rc == 0 && fs.n == 2 && strcmp(fs.matches[0], "/workspace/src/top.c") == 0 &&
	        strcmp(fs.matches[1], "/workspace/src/x/y/deep.c") == 0,
	    "file_search **/*.c (n=%zu)", fs.n);
	rc = H.ops->file_search(H.b, id, ".", "*.h", &fs, &c, &e);
	ok(rc == 0 && fs.n == 1 && strcmp(fs.matches[0], "/workspace/src/top.h") == 0,
	    "file_search name pattern at any depth");
	rc = H.ops->file_search(H.b, id, "/workspace", "src/*/y", &fs, &c, &e);
	ok(rc == 0 && fs.n == 1 && strcmp(fs.matches[0], "/workspace/src/x/y") == 0,
	    "file_search path pattern");

	rc = H.ops->file_move(H.b, id, "src/top.h", "inc/top.h", &c, &e);
	ok(rc == 0 && sh_code(id, "test -f inc/top.h && ! test -e src/top.h") == 0,
	    "file_move renames (creating parents)");
	err_clear(&e);
	rc = H.ops->file_move(H.b, id, "inc", "/tmp/inc-moved", &c, &e);
	ok(rc == 0 && sh_code(id, "test -f /tmp/inc-moved/top.h && ! test -e /workspace/inc") == 0,
	    "file_move across mounts copies and removes: %s", e.msg);
	err_clear(&e);
	rc = H.ops->file_move(H.b, id, "/etc/hostname", "stolen", &c, &e);
	ok(rc != 0 && host_exists("/etc/hostname"), "file_move of a read-only file fails: %s",
	    e.msg);
	ok(sh_code(id, "test -e stolen") != 0, "and leaves no copy behind");
	rc = H.ops->file_remove(H.b, id, "src", &flag, &c, &e);
	ok(rc == 0 && flag && sh_code(id, "test -e src") == 1, "file_remove recursive");
	rc = H.ops->file_remove(H.b, id, "src", &flag, &c, &e);
	ok(rc == 0 && !flag, "file_remove of a missing path: removed=false");
	is_int(sh_code(id,
	           "mkdir -p locked/sub && touch locked/sub/f && chmod 000 locked/sub && "
	           "chmod 555 locked"),
	    0, "the sandbox makes directories without permissions");
	rc = H.ops->file_remove(H.b, id, "locked", &flag, &c, &e);
	ok(rc == 0 && flag && sh_code(id, "test -e locked") == 1,
	    "file_remove removes them anyway: %s", e.msg);
	err_clear(&e);
	rc = H.ops->file_remove(H.b, id, "/workspace", &flag, &c, &e);
	ok(rc == ERR_INVAL && sh_code(id, "test -d /workspace") == 0,
	    "cannot remove the workspace mount: %s", e.msg);
	err_clear(&e);
	rc = H.ops->file_remove(H.b, id, "/etc/passwd", &flag, &c, &e);
	ok(rc != 0 && host_exists("/etc/passwd"), "cannot remove host files: %s", e.msg);

	/* Hostile symlinks, made by the sandbox itself. */
	snprintf(secret, sizeof(secret), "%s/host-secret.txt", root);
	{
		int fd = open(secret, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			ssize_t w = write(fd, "top secret\n", 11);

			(void)w;
			close(fd);
		}
	}
	snprintf(cmd, sizeof(cmd),
	    "ln -s / rootlink && ln -s %s secretlink && "
	    "ln -s ../../../../../../../../..%s dotdot && ln -s /tmp tmplink && "
	    "ln -s /etc/passwd passwdlink && mkdir keep && ln -s keep keeplink",
	    secret, secret);
	is_int(sh_code(id, cmd), 0, "sandbox makes hostile symlinks");
	err_clear(&e);
	buf_reset(&b);
	rc = H.ops->file_read(H.b, id, "secretlink", 0, 100, &b, &size, &c, &e);
	ok(rc == ERR_NOTFOUND && b.len == 0,
	    "symlink to a host file in the state root does not resolve: %s", e.msg);
	err_clear(&e);
	rc = H.ops->file_read(H.b, id, "dotdot", 0, 100, &b, &size, &c, &e);
	ok(rc == ERR_NOTFOUND && b.len == 0, "../ chains stop at the sandbox root: %s", e.msg);
	err_clear(&e);
	rc = H.ops->file_read(H.b, id, secret, 0, 100, &b, &size, &c, &e);
	ok(rc == ERR_NOTFOUND && b.len == 0, "the host path itself is hidden");
	snprintf(cmd, sizeof(cmd), "rootlink%s", secret);
	err_clear(&e);
	rc = H.ops->file_read(H.b, id, cmd, 0, 100, &b, &size, &c, &e);
	ok(rc == ERR_NOTFOUND && b.len == 0, "through a link to /, still hidden");
	stat("/etc/passwd", &st_before);
	err_clear(&e);
	rc = H.ops->file_write(H.b, id, "passwdlink", "pwned\n", 6, FILE_MODE_DEFAULT, &c, &e);
	stat("/etc/passwd", &st_after);
	ok(rc != 0 && st_before.st_size == st_after.st_size &&
	        st_before.st_mtime == st_after.st_mtime,
	    "writing through a link to /etc/passwd fails: %s", e.msg);
	err_clear(&e);
	rc = H.ops->file_write(H.b, id, "rootlink/etc/evil2", "x", 1, FILE_MODE_DEFAULT, &c, &e);
	ok(rc != 0 && !host_exists("/etc/evil2"), "writing under a link to / fails");
	rc = H.ops->file_write(H.b, id, "tmplink/via-link", "v", 1, FILE_MODE_DEFAULT, &c, &e);
	ok(rc == 0 && strcmp(chomp(sh(id, "cat /tmp/via-link")), "v") == 0 &&
	        !host_exists("/tmp/via-link"),
	    "a link to /tmp writes the sandbox's tmp, not the host's");
	rc = H.ops->file_remove(H.b, id, "keeplink", &flag, &c, &e);
	ok(rc == 0 && flag && sh_code(id, "test -d keep && ! test -e keeplink") == 0,
	    "removing a link removes the link, not its target");
	rc = H.ops->file_remove(H.b, id, "rootlink", &flag, &c, &e);
	ok(rc == 0 && flag && sh_code(id, "test -d /usr") == 0, "removing a link to / is harmless");
	rc = H.ops->file_stat(H.b, id, "secretlink", &fe, &c, &e);
	ok(rc == 0 && fe.type == FILE_T_SYMLINK && fe.link_target != NULL &&
	        strcmp(fe.link_target, secret) == 0,
	    "file_stat reports a symlink and its target");
	unlink(secret);
	buf_fini(&b);
}

/* ---- background processes -------------------------------------------------------------- */

static int
bg(const char *id, const char *cmd, char *pid, size_t pidlen, struct err *e)
{
	struct exec_req r;
	struct exec_result res;
	struct call c = mkcall();
	struct cap cap;
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&cap, 0, sizeof(cap));
	r.command = cmd;
	r.background = true;
	rc = H.ops->exec(H.b, id, &r, on_ev, &cap, &res, &c, e);
	if (rc == 0)
		snprintf(pid, pidlen, "%s", res.pid);
	cap_fini(&cap);
	return rc;
}

/* Reads output from *off until running stops or text appears (wait up to ms). */
static int
output_until(const char *id, const char *pid, uint64_t *off, struct buf *acc, const char *want,
    int ms, struct proc_output *last)
{
	int64_t dl = deadline_in_ms(ms);

	for (;;) {
		struct call c = mkcall();
		struct err e = { 0 };
		int rc;

		memset(last, 0, sizeof(*last));
		rc = H.ops->proc_output(H.b, id, pid, *off, 500, 0, last, &c, &e);
		if (rc != 0) {
			note("proc_output: %s", e.msg);
			return rc;
		}
		buf_append(acc, last->data.p, last->data.len, NULL);
		*off = last->next_offset;
		buf_fini(&last->data);
		if ((want != NULL && strstr(s(acc), want) != NULL) ||
		    (want == NULL && !last->running) || deadline_passed(dl))
			return 0;
	}
}

static void
test_background(const char *id)
{
	char pid[32], pid2[32], pid3[32];
	struct err e = { 0 };
	struct call c = mkcall();
	struct buf acc = { 0 };
	struct proc_output po;
	struct proc_info *pi;
	size_t n;
	uint64_t off = 0;
	int rc;

	rc = bg(id, "echo one; read x; echo got $x; read y; echo also $y; exit 7", pid, sizeof(pid),
	    &e);
	ok(rc == 0 && atoi(pid) > 1, "background exec returns a pid (%s): %s", pid, e.msg);
	output_until(id, pid, &off, &acc, "one\n", 5000, &po);
	ok(strcmp(s(&acc), "one\n") == 0 && po.running, "process_output from 0 (%s)", esc(s(&acc)));
	rc = H.ops->proc_stdin(H.b, id, pid, "hello\n", 6, false, &c, &e);
	is_int(rc, 0, "process_send_stdin: %s", e.msg);
	output_until(id, pid, &off, &acc, "got hello\n", 5000, &po);
	ok(strstr(s(&acc), "got hello\n") != NULL, "the process read stdin");
	rc = H.ops->proc_stdin(H.b, id, pid, "world\n", 6, false, &c, &e);
	output_until(id, pid, &off, &acc, NULL, 5000, &po);
	is_str(s(&acc), "one\ngot hello\nalso world\n",
	    "stdin stays open between writes; output complete");
	ok(!po.running && po.has_exit && po.exit_code == 7, "exit code recorded (%d)",
	    po.exit_code);
	{
		struct proc_output p2;

		memset(&p2, 0, sizeof(p2));
		rc = H.ops->proc_output(H.b, id, pid, 4, 0, 0, &p2, &c, &e);
		ok(rc == 0 && strcmp(s(&p2.data), "got hello\nalso world\n") == 0 &&
		        p2.next_offset == 25,
		    "process_output from an offset");
		buf_fini(&p2.data);
		memset(&p2, 0, sizeof(p2));
		rc = H.ops->proc_output(H.b, id, pid, 4, 0, 5, &p2, &c, &e);
		ok(rc == 0 && p2.data.len == 5 && p2.next_offset == 9, "process_output max_bytes");
		buf_fini(&p2.data);
		err_clear(&e);
		rc = H.ops->proc_output(H.b, id, pid, 1000, 0, 0, &p2, &c, &e);
		is_int(rc, ERR_INVAL, "an offset past the end is refused");
	}
	err_clear(&e);
	rc = H.ops->proc_stdin(H.b, id, pid, "x", 1, false, &c, &e);
	is_int(rc, ERR_INVAL, "stdin to an exited process: %s", e.msg);
	buf_reset(&acc);

	rc = bg(id, "cat; echo eof", pid2, sizeof(pid2), &e);
	rc |= H.ops->proc_stdin(H.b, id, pid2, "last", 4, true, &c, &e);
	off = 0;
	output_until(id, pid2, &off, &acc, NULL, 5000, &po);
	ok(rc == 0 && strcmp(s(&acc), "lasteof\n") == 0 && po.has_exit && po.exit_code == 0,
	    "closing stdin gives EOF (%s)", esc(s(&acc)));
	buf_reset(&acc);

	rc = bg(id, "trap 'echo term; exit 5' TERM; echo ready; while :; do sleep 0.05; done", pid3,
	    sizeof(pid3), &e);
	off = 0;
	output_until(id, pid3, &off, &acc, "ready", 5000, &po);
	err_clear(&e);
	rc = H.ops->proc_kill(H.b, id, pid3, SIGTERM, &c, &e);
	is_int(rc, 0, "process_kill SIGTERM: %s", e.msg);
	output_until(id, pid3, &off, &acc, NULL, 5000, &po);
	ok(!po.running && po.has_exit, "killed process is not running (code %d)", po.exit_code);
	buf_reset(&acc);

	rc = bg(id, "exec sleep 4716", pid3, sizeof(pid3), &e);
	rc |= H.ops->proc_kill(H.b, id, pid3, SIGKILL, &c, &e);
	memset(&po, 0, sizeof(po));
	rc |= H.ops->proc_output(H.b, id, pid3, 0, 3000, 0, &po, &c, &e);
	ok(rc == 0 && !po.running && po.exit_code == 137, "SIGKILL reads as 137 (%d)",
	    po.exit_code);
	buf_fini(&po.data);
	is_int(wait_procs_gone("sleep 4716", 3000), 0, "and the process is gone");
	err_clear(&e);
	rc = H.ops->proc_kill(H.b, id, pid3, SIGKILL, &c, &e);
	is_int(rc, ERR_NOTFOUND, "killing an exited process: %s", e.msg);

	rc = H.ops->proc_list(H.b, id, &pi, &n, &c, &e);
	{
		bool found = false;

		for (size_t i = 0; rc == 0 && i < n; i++)
			if (strcmp(pi[i].pid, pid) == 0)
				found = !pi[i].running && pi[i].has_exit && pi[i].exit_code == 7 &&
				    pi[i].command != NULL &&
				    strstr(pi[i].command, "exit 7") != NULL;
		ok(rc == 0 && n >= 4 && found, "process_list shows finished processes (n=%zu)", n);
	}

	/* large output stays on disk */
	rc = bg(id, "head -c 300000 /dev/zero | tr '\\0' a; echo", pid3, sizeof(pid3), &e);
	off = 0;
	{
		size_t total = 0;
		int64_t dl = deadline_in_ms(10000);

		for (;;) {
			memset(&po, 0, sizeof(po));
			if (H.ops->proc_output(H.b, id, pid3, off, 200, 65536, &po, &c, &e) != 0)
				break;
			size_t got = po.data.len;

			total += got;
			off = po.next_offset;
			buf_fini(&po.data);
			if ((!po.running && got == 0) || deadline_passed(dl))
				break;
		}
		is_int(total, 300001, "300 kB of background output read in 64 kB pieces");
	}
	err_clear(&e);
	rc = H.ops->proc_output(H.b, id, "99999", 0, 0, 0, &po, &c, &e);
	is_int(rc, ERR_NOTFOUND, "unknown pid: %s", e.msg);
	buf_fini(&acc);
}

/* ---- network ------------------------------------------------------------------------------ */

struct listener {
	int fd;
	int port;
	volatile int stop;
};

static void *
listener_main(void *arg)
{
	struct listener *l = arg;

	while (!l->stop) {
		struct pollfd pf = { l->fd, POLLIN, 0 };

		if (poll(&pf, 1, 100) > 0) {
			int c = accept(l->fd, NULL, NULL);

			if (c >= 0) {
				ssize_t w = write(c, "hi\n", 3);

				(void)w;
				close(c);
			}
		}
	}
	return NULL;
}

static struct listener L_host; /* this machine's service, opened as host.internal */

static int
listener_start(struct listener *l)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	pthread_t t;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->fd = socket(AF_INET, SOCK_STREAM, 0);
	l->stop = 0;
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l->fd, 16) < 0 || getsockname(l->fd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	l->port = ntohs(sa.sin_port);
	if (pthread_create(&t, NULL, listener_main, l) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}

static bool
denied_has(const struct exec_result *res, const char *what)
{
	for (size_t i = 0; i < res->nnetwork_denied; i++)
		if (strstr(res->network_denied[i], what) != NULL)
			return true;
	return false;
}

static void
test_network(const char *allow_id)
{
	char cmd[256], own[256], deny_id[64], what[64];
	struct sb_create req;
	struct net_policy np, eff;
	struct exec_result res;
	struct cap cap;
	struct call c = mkcall();
	struct err e = { 0 };
	const char *hosts[1] = { "example.com" };
	int rc;

	snprintf(cmd, sizeof(cmd), "exec 3<>/dev/tcp/host.internal/%d && head -c 3 <&3",
	    L_host.port);
	snprintf(own, sizeof(own), "exec 3<>/dev/tcp/127.0.0.1/%d && head -c 3 <&3", L_host.port);
	snprintf(what, sizeof(what), "host.internal:%d", L_host.port);
	ok(sh_code(allow_id, own) != 0,
	    "network: 127.0.0.1 inside is the sandbox's own, not this "
	    "machine's");
	is_str(sh(allow_id, cmd), "hi\n",
	    "network allow: host.internal reaches the port the "
	    "operator opened");

	memset(&req, 0, sizeof(req));
	memset(&np, 0, sizeof(np));
	np.default_action = 0;
	req.network = &np;
	req.auto_pause = req.secure = -1;
	rc = create_sb(&req, deny_id, sizeof(deny_id), &e);
	is_int(rc, 0, "create with network deny: %s", e.msg);
	memset(&cap, 0, sizeof(cap));
	rc = run(deny_id, cmd, &res, &cap, &e);
	ok(rc == 0 && res.exit_code != 0 && denied_has(&res, what),
	    "network deny: host.internal is refused, and exec's network_denied says so (%s)",
	    res.nnetwork_denied > 0 ? res.network_denied[0] : "nothing");
	cap_fini(&cap);
	if (access("/usr/bin/ip", X_OK) == 0 || access("/sbin/ip", X_OK) == 0)
		is_str(chomp(sh(deny_id, "ip -o link | wc -l")), "1",
		    "network: only loopback inside");
	memset(&eff, 0, sizeof(eff));
	rc = H.ops->net_get(H.b, deny_id, &eff, &c, &e);
	ok(rc == 0 && eff.default_action == 0 && eff.nrecent > 0 &&
	        strstr(eff.recent[eff.nrecent - 1], what) != NULL,
	    "net_get says deny, with the refusal");
	if (access("/usr/bin/python3", X_OK) == 0) {
		char pid[32];
		struct buf acc = { 0 };
		struct proc_output po;
		uint64_t off = 0;
		char cmd2[256];
		struct sb_url u;

		rc = bg(deny_id,
		    "exec python3 -c \"import socket;s=socket.socket();s.bind(('127.0.0.1',0));"
		    "s.listen();print(s.getsockname()[1],flush=True);"
		    "[(lambda c:(c.send(b'lo\\n'),c.close()))(s.accept()[0]) for _ in range(2)]\"",
		    pid, sizeof(pid), &e);
		output_until(deny_id, pid, &off, &acc, "\n", 10000, &po);
		snprintf(cmd2, sizeof(cmd2), "exec 3<>/dev/tcp/127.0.0.1/%d && head -c 3 <&3",
		    atoi(s(&acc)));
		is_str(sh(deny_id, cmd2), "lo\n",
		    "network deny: loopback between the sandbox's processes works");
		/* Ingress is not egress: sandbox_url forwards into a denied sandbox too. */
		rc = H.ops->url(H.b, deny_id, atoi(s(&acc)), &u, &c, &e);
		ok(rc == 0 && strncmp(u.url, "http://127.0.0.1:", 17) == 0, "sandbox_url: %s",
		    rc == 0 ? u.url : e.msg);
		if (rc == 0) {
			struct sockaddr_in sa;
			char got[8] = "";
			int fd = socket(AF_INET, SOCK_STREAM, 0);

			memset(&sa, 0, sizeof(sa));
			sa.sin_family = AF_INET;
			sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			sa.sin_port = htons((uint16_t)atoi(u.url + 17));
			if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				struct pollfd pf = { fd, POLLIN, 0 };

				if (poll(&pf, 1, 5000) > 0 && read(fd, got, 3) == 3)
					got[3] = '\0';
			}
			if (fd >= 0)
				close(fd);
			is_str(got, "lo\n",
			    "sandbox_url's port on this machine reaches the listener inside");
		}
		buf_fini(&acc);
	} else {
		ok(1, "# SKIP python3 missing for the loopback test");
		ok(1, "# SKIP python3 missing for the sandbox_url test");
		ok(1, "# SKIP python3 missing for the sandbox_url test");
	}
	memset(&np, 0, sizeof(np));
	np.default_action = 1;
	rc = H.ops->net_set(H.b, deny_id, &np, false, &eff, &c, &e);
	ok(rc == 0 && eff.default_action == 1 && eff.note != NULL, "net_set allow (note: %s)",
	    eff.note ? eff.note : "");
	is_str(sh(deny_id, cmd), "hi\n", "after allow, new commands reach host.internal");
	np.default_action = 0;
	rc = H.ops->net_set(H.b, allow_id, &np, false, &eff, &c, &e);
	ok(rc == 0 && eff.default_action == 0 && sh_code(allow_id, cmd) != 0,
	    "net_set deny on a running sandbox blocks new connections");
	np.default_action = -1;
	np.allow = hosts;
	np.nallow = 1;
	err_clear(&e);
	rc = H.ops->net_set(H.b, allow_id, &np, false, &eff, &c, &e);
	ok(rc == 0 && eff.default_action == 0 && eff.nallow == 1 &&
	        strcmp(eff.allow[0], "example.com") == 0,
	    "host rules merge into the policy: %s", e.msg);
	ok(sh_code(allow_id, cmd) != 0, "a name outside the allow list stays refused");
	hosts[0] = "10.0.0.0/8";
	err_clear(&e);
	rc = H.ops->net_set(H.b, allow_id, &np, false, &eff, &c, &e);
	ok(rc == ERR_INVAL && strstr(e.msg, "--local-egress") != NULL,
	    "allowing private addresses "
	    "is refused, naming the flag: %s",
	    e.msg);
	memset(&np, 0, sizeof(np));
	np.default_action = 1;
	rc = H.ops->net_set(H.b, allow_id, &np, true, &eff, &c, &e);
	H.ops->kill(H.b, deny_id, &c, &e);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void
test_pause(const char *id)
{
	char pid[32];
	struct err e = { 0 };
	struct call c = mkcall();
	struct sb_info info;
	struct proc_output po;
	struct buf acc = { 0 };
	uint64_t off = 0, at_pause;
	int rc;

	rc = bg(id, "while :; do echo tick; sleep 0.02; done", pid, sizeof(pid), &e);
	output_until(id, pid, &off, &acc, "tick", 5000, &po);
	rc = H.ops->pause(H.b, id, &c, &e);
	is_int(rc, 0, "pause: %s", e.msg);
	rc = H.ops->info(H.b, id, &info, &c, &e);
	ok(rc == 0 && strcmp(info.state, "paused") == 0, "state is paused");
	output_until(id, pid, &off, &acc, NULL, 100, &po);
	at_pause = off;
	poll(NULL, 0, 400);
	output_until(id, pid, &off, &acc, NULL, 100, &po);
	is_int(off, at_pause, "no output while paused");
	err_clear(&e);
	ok(sh_code(id, "true") == -1000 - ERR_INVAL, "exec is refused while paused");
	rc = H.ops->resume(H.b, id, &c, &e);
	is_int(rc, 0, "resume");
	output_until(id, pid, &off, &acc, NULL, 300, &po);
	ok(off > at_pause, "output flows again after resume");
	H.ops->proc_kill(H.b, id, pid, SIGKILL, &c, &e);
	buf_fini(&acc);
}

static void
test_list_and_expiry(void)
{
	struct sb_create req;
	struct kv ma[1] = { { "team", "alpha" } }, mb[1] = { { "team", "beta" } };
	char a[64], b2[64], x[64], path[PATH_MAX];
	struct sb_list_req lr;
	struct sb_list l;
	struct call c = mkcall();
	struct err e = { 0 };
	struct sb_info info;
	int rc, total = 0, seen_a = 0, seen_b = 0;
	const char *cursor = NULL;
	int64_t exp = 0;

	memset(&req, 0, sizeof(req));
	req.auto_pause = req.secure = -1;
	req.metadata = ma;
	req.nmetadata = 1;
	rc = create_sb(&req, a, sizeof(a), &e);
	req.metadata = mb;
	rc |= create_sb(&req, b2, sizeof(b2), &e);
	is_int(rc, 0, "two more sandboxes");
	memset(&lr, 0, sizeof(lr));
	lr.metadata = ma;
	lr.nmetadata = 1;
	rc = H.ops->list(H.b, &lr, &l, &c, &e);
	ok(rc == 0 && l.n == 1 && strcmp(l.items[0].id, a) == 0 && l.items[0].nmetadata == 1,
	    "list filters by metadata");
	memset(&lr, 0, sizeof(lr));
	lr.limit = 1;
	do {
		lr.cursor = cursor;
		rc = H.ops->list(H.b, &lr, &l, &c, &e);
		if (rc != 0 || l.n > 1)
			break;
		total += (int)l.n;
		for (size_t i = 0; i < l.n; i++) {
			seen_a += strcmp(l.items[i].id, a) == 0;
			seen_b += strcmp(l.items[i].id, b2) == 0;
		}
		cursor = l.next_cursor;
	} while (cursor != NULL && total < 100);
	ok(rc == 0 && seen_a == 1 && seen_b == 1 && total >= 3,
	    "paging with limit 1 visits each once (%d)", total);
	{
		const char *st[1] = { "paused" };

		memset(&lr, 0, sizeof(lr));
		lr.states = st;
		lr.nstates = 1;
		rc = H.ops->list(H.b, &lr, &l, &c, &e);
		ok(rc == 0 && l.n == 0, "state filter");
	}
	lr.states = NULL;
	lr.nstates = 0;
	lr.cursor = "garbage";
	err_clear(&e);
	is_int(H.ops->list(H.b, &lr, &l, &c, &e), ERR_INVAL, "a bad cursor is refused");

	rc = H.ops->set_timeout(H.b, a, 1, &exp, &c, &e);
	ok(rc == 0 && exp > 0, "set_timeout 1 s");
	rc = bg(a, "exec sleep 4717", x, sizeof(x), &e);
	poll(NULL, 0, 1300);
	err_clear(&e);
	rc = H.ops->info(H.b, a, &info, &c, &e);
	ok(rc == ERR_NOTFOUND && strstr(e.msg, "expired") != NULL, "expired sandbox is gone: %s",
	    e.msg);
	snprintf(path, sizeof(path), "%s/%s", root, a);
	ok(!host_exists(path), "and its directory is removed");
	is_int(wait_procs_gone("sleep 4717", 3000), 0, "and its processes are killed");

	rc = bg(b2, "exec sleep 4718", x, sizeof(x), &e);
	ok(rc == 0 && wait_procs_count("sleep 4718", 1, 3000) == 1,
	    "a process runs in a sandbox to kill");
	rc = H.ops->kill(H.b, b2, &c, &e);
	is_int(rc, 0, "sandbox_kill");
	is_int(wait_procs_gone("sleep 4718", 3000), 0, "kill leaves no process");
	snprintf(path, sizeof(path), "%s/%s", root, b2);
	ok(!host_exists(path), "kill removes the directory");
	err_clear(&e);
	is_int(sh_code(b2, "true"), -1000 - ERR_NOTFOUND,
	    "exec in a killed sandbox is ERR_NOTFOUND");
	{
		bool flag = true;

		err_clear(&e);
		rc = H.ops->file_remove(H.b, b2, "x", &flag, &c, &e);
		ok(rc == ERR_NOTFOUND && !flag,
		    "file_remove in a killed sandbox is ERR_NOTFOUND, not removed=false");
	}
	err_clear(&e);
	is_int(H.ops->info(H.b, "sbx-../../etc", &info, &c, &e), ERR_NOTFOUND,
	    "a hostile id is just unknown");
}

struct conc {
	const char *id;
	int t;
	int good;
};

static void *
conc_main(void *arg)
{
	struct conc *k = arg;
	struct arena *a = arena_new(16 << 20);

	for (int j = 0; j < 3; j++) {
		struct exec_req r;
		struct exec_result res;
		struct cap cap;
		struct call c = { a, NULL, DEADLINE_NONE };
		struct err e = { 0 };
		char cmd[64], want[64];

		snprintf(cmd, sizeof(cmd), "sleep 0.1; echo t%d-%d", k->t, j);
		snprintf(want, sizeof(want), "t%d-%d\n", k->t, j);
		memset(&r, 0, sizeof(r));
		memset(&cap, 0, sizeof(cap));
		r.command = cmd;
		if (H.ops->exec(H.b, k->id, &r, on_ev, &cap, &res, &c, &e) == 0 &&
		    strcmp(s(&cap.out), want) == 0)
			k->good++;
		else
			note("concurrent exec %s: %s (out %s)", cmd, e.msg, esc(s(&cap.out)));
		cap_fini(&cap);
	}
	arena_free(a);
	return NULL;
}

static void
test_concurrent(const char *id1, const char *id2)
{
	pthread_t t[6];
	struct conc k[6];
	int good = 0;

	for (int i = 0; i < 6; i++) {
		k[i].id = i % 2 ? id1 : id2;
		k[i].t = i;
		k[i].good = 0;
		pthread_create(&t[i], NULL, conc_main, &k[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		good += k[i].good;
	}
	is_int(good, 18, "18 concurrent execs across two sandboxes all return their own output");
}

static void
test_restart(const struct config *cfg, const char *id)
{
	char pid[32], path[PATH_MAX], buf[8192], *p;
	struct err e = { 0 };
	struct call c;
	struct sb_info info;
	struct proc_info *pi;
	size_t n;
	int rc, fd;
	bool running = false;

	rc = bg(id, "exec sleep 4719", pid, sizeof(pid), &e);
	H.ops->free(H.b);
	rc |= local_backend_new(cfg, &H, &e);
	is_int(rc, 0, "a new backend on the same root");
	c = mkcall();
	rc = H.ops->info(H.b, id, &info, &c, &e);
	ok(rc == 0 && strcmp(info.state, "running") == 0, "it finds the sandbox again");
	rc = H.ops->proc_list(H.b, id, &pi, &n, &c, &e);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (strcmp(pi[i].pid, pid) == 0)
			running = pi[i].running;
	ok(running, "and its background process, still running");
	rc = H.ops->proc_kill(H.b, id, pid, SIGKILL, &c, &e);
	is_int(rc, 0, "which it can kill");

	/* The init process dies (as after a reboot): the next exec starts a new one. */
	snprintf(path, sizeof(path), "%s/%s/sup.json", root, id);
	fd = open(path, O_RDONLY);
	buf[0] = '\0';
	if (fd >= 0) {
		ssize_t k = read(fd, buf, sizeof(buf) - 1);

		buf[k > 0 ? k : 0] = '\0';
		close(fd);
	}
	/* The supervisor and init die (as after a reboot): the next exec starts new ones. */
	for (const char *key = "\"pid\":"; key != NULL;
	     key = strcmp(key, "\"pid\":") == 0 ? "\"init_pid\":" : NULL) {
		p = strstr(buf, key);
		if (p != NULL) {
			pid_t sup = (pid_t)atoi(p + strlen(key));

			kill(sup, SIGKILL);
			while (kill(sup, 0) == 0 && local_pid_start(sup) != 0)
				poll(NULL, 0, 10);
		}
	}
	is_str(chomp(sh(id, "cat /workspace/ws-file")), "w",
	    "after its init died, exec restarts it; files are intact");
}

static void
test_none(void)
{
	char root2[300], id[64], ws[PATH_MAX], pid[32];
	struct config cfg;
	struct backend_handle saved = H;
	struct sb_info info;
	struct sb_create req;
	struct net_policy np;
	struct call c = mkcall();
	struct err e = { 0 };
	int rc;

	snprintf(root2, sizeof(root2), "%s/none-root", root);
	memset(&cfg, 0, sizeof(cfg));
	cfg.local_root = root2;
	cfg.local_isolation = "none";
	rc = local_backend_new(&cfg, &H, &e);
	is_int(rc, 0, "isolation none backend");
	memset(&req, 0, sizeof(req));
	req.auto_pause = req.secure = -1;
	rc = H.ops->create(H.b, &req, &info, &c, &e);
	ok(rc == 0 && info.note != NULL && strstr(info.note, "NO ISOLATION") != NULL,
	    "none says so loudly: %s", info.note ? info.note : e.msg);
	snprintf(id, sizeof(id), "%s", rc == 0 ? info.id : "");
	snprintf(ws, sizeof(ws), "%s/%s/workspace\n", root2, id);
	is_str(sh(id, "pwd"), ws, "none: cwd is the host workspace");
	rc = H.ops->file_write(H.b, id, "f.txt", "n", 1, FILE_MODE_DEFAULT, &c, &e);
	ws[strlen(ws) - 1] = '\0';
	strncat(ws, "/f.txt", sizeof(ws) - strlen(ws) - 1);
	ok(rc == 0 && host_exists(ws), "none: relative file paths are in the workspace");
	rc = bg(id, "exec sleep 4720", pid, sizeof(pid), &e);
	ok(rc == 0 && wait_procs_count("sleep 4720", 1, 3000) == 1, "none: background process");
	rc = H.ops->pause(H.b, id, &c, &e);
	rc |= H.ops->resume(H.b, id, &c, &e);
	is_int(rc, 0, "none: pause and resume");
	memset(&np, 0, sizeof(np));
	np.default_action = 0;
	{
		struct net_policy eff;

		err_clear(&e);
		rc = H.ops->net_set(H.b, id, &np, false, &eff, &c, &e);
		is_int(rc, ERR_UNSUPPORTED, "none: network deny is refused: %s", e.msg);
	}
	rc = H.ops->kill(H.b, id, &c, &e);
	ok(rc == 0 && wait_procs_gone("sleep 4720", 3000) == 0, "none: kill ends its processes");
	H.ops->free(H.b);
	H = saved;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct err e = { 0 };
	struct sb_create req;
	struct kv env[1] = { { "CREATED_ENV", "from-create" } };
	char id[64], id2[64];
	const char *tmpdir = access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp";
	int rc;

	/* Sandbox supervisors are this binary re-executed (/proc/self/exe). */
	if (argc >= 2 && strcmp(argv[1], LOCAL_SUPERVISOR_ARG) == 0)
		return local_supervisor_main(argc, argv);
	signal(SIGPIPE, SIG_DFL);
	setenv("SBX_TEST_SECRET", "s3cr3t-value", 1); /* must never be visible inside */
	A = arena_new(512u << 20);
	snprintf(root, sizeof(root), "%s/sbxmcp-test-XXXXXX", tmpdir);
	if (mkdtemp(root) == NULL) {
		ok(0, "mkdtemp");
		return done_testing();
	}
	test_glob();

	memset(&cfg, 0, sizeof(cfg));
	cfg.local_root = root;
	cfg.local_isolation = "bogus";
	is_int(local_backend_new(&cfg, &H, &e), ERR_INVAL, "unknown isolation is refused: %s",
	    e.msg);
	cfg.local_isolation = NULL;
	err_clear(&e);
	if (listener_start(&L_host) != 0) {
		ok(0, "a listener on this machine's loopback");
		return done_testing();
	}
	snprintf(hostport, sizeof(hostport), "%d", L_host.port);
	cfg.host_ports.v[cfg.host_ports.n++] = hostport;
	rc = local_backend_new(&cfg, &H, &e);
	is_int(rc, 0, "local_backend_new: %s", e.msg);
	if (rc != 0)
		return done_testing();

	memset(&req, 0, sizeof(req));
	req.auto_pause = req.secure = -1;
	req.env = env;
	req.nenv = 1;
	rc = create_sb(&req, id, sizeof(id), &e);
	if (rc == ERR_UNSUPPORTED && strstr(e.msg, "--local-isolation none") != NULL) {
		printf("ok %d - # SKIP namespaces unavailable: %s\n", ++tap_n, e.msg);
	} else {
		struct sb_info info;
		struct call c = mkcall();

		is_int(rc, 0, "create: %s", e.msg);
		ok(strncmp(id, "sbx-", 4) == 0, "id %s", id);
		rc = H.ops->info(H.b, id, &info, &c, &e);
		ok(rc == 0 && strcmp(info.state, "running") == 0 &&
		        info.expires_at > info.created_at && info.note != NULL,
		    "info: running, expires, note");
		memset(&req, 0, sizeof(req));
		req.template_name = "ubuntu:22.04";
		err_clear(&e);
		is_int(create_sb(&req, id2, sizeof(id2), &e), ERR_UNSUPPORTED,
		    "unknown template refused: %s", e.msg);
		err_clear(&e);
		rc = create_sb(NULL, id2, sizeof(id2), &e);
		is_int(rc, 0, "second sandbox");

		test_exec(id);
		test_cancel(id);
		test_isolation(id);
		test_files(id);
		test_background(id);
		test_network(id2);
		test_pause(id);
		test_concurrent(id, id2);
		{
			struct sb_metrics m;

			c = mkcall();
			rc = H.ops->metrics(H.b, id, &m, &c, &e);
			ok(rc == 0 && m.cpu_count >= 1 && m.mem_total_bytes > 0 &&
			        m.disk_used_bytes > 0 && m.cpu_used_pct >= 0,
			    "metrics (cpu %.0f, mem %lld, disk %lld)", m.cpu_count,
			    (long long)m.mem_total_bytes, (long long)m.disk_used_bytes);
		}
		test_restart(&cfg, id);
		test_list_and_expiry();
		sh_code(id,
		    "mkdir -p /workspace/ro/x && chmod 000 /workspace/ro/x && chmod 500 /workspace/ro");
		c = mkcall();
		H.ops->kill(H.b, id, &c, &e);
		H.ops->kill(H.b, id2, &c, &e);
		{
			DIR *d = opendir(root);
			struct dirent *de;
			int left = 0;

			while (d != NULL && (de = readdir(d)) != NULL)
				left += strncmp(de->d_name, "sbx-", 4) == 0 ||
				    strncmp(de->d_name, ".trash-", 7) == 0 ||
				    strncmp(de->d_name, ".new-", 5) == 0;
			if (d != NULL)
				closedir(d);
			is_int(left, 0, "no sandbox or trash directories left after kills");
		}
	}
	test_none();
	H.ops->free(H.b);
	rm_rf(root);
	ok(!host_exists(root), "test root cleaned up");
	arena_free(A);
	return done_testing();
}
