/*
 * output.c -- a background process's output on disk: the supervisor appends, the server
 * reads, and this file is the one place that knows the format.
 *
 * In the process's record directory (procs/<pid>/):
 *   out    stream bytes [0, BG_HEAD_MAX), written once, in order
 *   tail   a ring of BG_TAIL_MAX bytes: stream byte k (k >= BG_HEAD_MAX) lives at
 *          (k - BG_HEAD_MAX) % BG_TAIL_MAX
 *   total  how many bytes the stream had so far, as 20 digits and a newline
 * So a process may write without end and its record never passes BG_HEAD_MAX +
 * BG_TAIL_MAX bytes: it keeps the start and the latest output, and a reader asking for
 * what fell out in between gets a one-line marker instead.
 *
 * The supervisor also keeps, per process, info.json (pid, command, started_at), stdin (a
 * FIFO it holds a write end of until process_send_stdin closes it) and exit ("CODE SIGNAL"
 * once the process ended); the directory is procs/new-XXXXXX until the process started.
 *
 * The writer updates `total` after the bytes it counts are in place, so a reader never
 * reads past what exists; a reader that loses a race with the ring (the writer lapped the
 * part it was reading) notices it from `total` and reads again.
 */
#include "backends/local/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json/jsonw.h"
#include "util/mem.h"
#include "util/time.h"

#define OUT_READ_TRIES   3
#define DRAIN_CHUNK      (256u << 10) /* one read of a background process's output */
#define DRAIN_READS      4            /* reads per wakeup, so other processes get a turn */
#define DRAIN_BULK_AFTER (256u << 10) /* bytes a process writes before its pipe grows */
#define BG_RECORDS_MAX   256 /* background records kept per sandbox (running ones always) */

static int
rec_open(int dirfd, const char *name)
{
	return openat(dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

int
outrec_create(int dirfd, struct outrec *o)
{
	memset(o, 0, sizeof(*o));
	o->headfd = rec_open(dirfd, "out");
	o->tailfd = rec_open(dirfd, "tail");
	o->totalfd = rec_open(dirfd, "total");
	if (o->headfd < 0 || o->tailfd < 0 || o->totalfd < 0) {
		int err = errno;

		outrec_close(o);
		return err;
	}
	return 0;
}

void
outrec_append(struct outrec *o, const char *p, size_t n)
{
	char num[32];
	int len;

	while (n > 0) {
		size_t k;

		if (o->total < BG_HEAD_MAX) {
			k = BG_HEAD_MAX - (size_t)o->total;
			k = k < n ? k : n;
			if (pwrite(o->headfd, p, k, (off_t)o->total) < 0)
				return;
		} else {
			uint64_t at = (o->total - BG_HEAD_MAX) % BG_TAIL_MAX;

			k = BG_TAIL_MAX - (size_t)at;
			k = k < n ? k : n;
			if (pwrite(o->tailfd, p, k, (off_t)at) < 0)
				return;
		}
		o->total += k;
		p += k;
		n -= k;
	}
	len = snprintf(num, sizeof(num), "%020llu\n", (unsigned long long)o->total);
	(void)pwrite(o->totalfd, num, (size_t)len, 0);
}

void
outrec_close(struct outrec *o)
{
	int *fds[] = { &o->headfd, &o->tailfd, &o->totalfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int
local_pipe_grow(int fd)
{
	static const int sizes[] = { LOCAL_PIPE_BULK, LOCAL_PIPE_BULK / 4 };
	int n;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if ((n = fcntl(fd, F_SETPIPE_SZ, sizes[i])) > 0)
			return n;
	n = fcntl(fd, F_GETPIPE_SZ);
	return n > 0 ? n : 65536;
}

/* ---- the supervisor's record of a background process ----------------------------------- */

void
bgrec_drain(struct bgrec *b)
{
	static char chunk[DRAIN_CHUNK];

	for (int i = 0; i < DRAIN_READS && b->out >= 0; i++) {
		uint64_t before = b->rec.total;
		ssize_t n = read(b->out, chunk, sizeof(chunk));

		if (n > 0) {
			outrec_append(&b->rec, chunk, (size_t)n);
			/* A writer this busy gets a bigger pipe, once: it blocks less often and we
			 * wake less often. */
			if (before < DRAIN_BULK_AFTER && b->rec.total >= DRAIN_BULK_AFTER)
				local_pipe_grow(b->out);
			if ((size_t)n < sizeof(chunk))
				return; /* the pipe is empty */
			continue;
		}
		if (n < 0 && (errno == EINTR))
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		close(b->out);
		b->out = -1;
	}
}

void
bgrec_exit(struct bgrec *b)
{
	char line[48];
	int fd, n, code = -1, sig = 0;

	if (WIFEXITED(b->status))
		code = WEXITSTATUS(b->status);
	else if (WIFSIGNALED(b->status)) {
		sig = WTERMSIG(b->status);
		code = 128 + sig;
	}
	n = snprintf(line, sizeof(line), "%d %d\n", code, sig);
	fd = openat(b->dirfd, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) == n)
		renameat(b->dirfd, "exit.tmp", b->dirfd, "exit");
	close(fd);
}

void
bgrec_free(struct bgrec *b)
{
	int *fds[] = { &b->out, &b->keep, &b->dirfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	outrec_close(&b->rec);
	free(b->command);
	free(b);
}

struct exited {
	char name[16];
	time_t when;
};

static int
exited_cmp(const void *a, const void *b)
{
	const struct exited *x = a, *y = b;

	return x->when < y->when ? -1 : x->when > y->when;
}

/* Keeps the record count of procs/ under BG_RECORDS_MAX by removing the records of the
 * processes that ended longest ago (running ones are never touched). */
static void
prune(const char *procs)
{
	int dfd = open(procs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t n = 0, total = 0;
	char **names;
	struct exited *ex;

	if (dfd < 0)
		return;
	names = local_read_names(dfd, &total);
	ex = total >= BG_RECORDS_MAX ? xcalloc(total, sizeof(*ex)) : NULL;
	for (size_t i = 0; ex != NULL && i < total; i++) {
		char path[PATH_MAX];
		struct stat st;

		if (strlen(names[i]) >= sizeof(ex[0].name) ||
		    snprintf(path, sizeof(path), "%s/exit", names[i]) >= (int)sizeof(path) ||
		    fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		snprintf(ex[n].name, sizeof(ex[n].name), "%s", names[i]);
		ex[n++].when = st.st_mtime;
	}
	if (n > 0)
		qsort(ex, n, sizeof(*ex), exited_cmp);
	for (size_t i = 0; i < n && total - i >= BG_RECORDS_MAX; i++)
		local_rmtree(dfd, ex[i].name);
	free(ex);
	local_names_free(names, total);
	close(dfd);
}

struct bgrec *
bgrec_new(const char *sdir, int fds[3], int *err)
{
	char procs[PATH_MAX];
	struct bgrec *b = xcalloc(1, sizeof(*b));
	int p[2] = { -1, -1 }, in = -1;

	b->out = b->keep = b->dirfd = -1;
	b->rec.headfd = b->rec.tailfd = b->rec.totalfd = -1;
	if (snprintf(procs, sizeof(procs), "%s/procs", sdir) >= (int)sizeof(procs))
		goto out;
	mkdir(procs, 0700);
	prune(procs);
	if (snprintf(b->dir, sizeof(b->dir), "%s/new-XXXXXX", procs) >= (int)sizeof(b->dir) ||
	    mkdtemp(b->dir) == NULL)
		goto out;
	b->dirfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->dirfd < 0 || mkfifoat(b->dirfd, "stdin", 0600) < 0 ||
	    (b->keep = openat(b->dirfd, "stdin", O_RDWR | O_CLOEXEC)) < 0 ||
	    (in = openat(b->dirfd, "stdin", O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0 ||
	    fcntl(in, F_SETFL, O_RDONLY) < 0 || (errno = outrec_create(b->dirfd, &b->rec)) != 0 ||
	    pipe2(p, O_CLOEXEC) < 0)
		goto out;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	b->out = p[0];
	fds[0] = in;
	fds[1] = p[1];
	fds[2] = p[1];
	return b;
out:
	*err = errno != 0 ? errno : EIO;
	if (in >= 0)
		close(in);
	if (p[1] >= 0)
		close(p[1]);
	if (b->dir[0] != '\0' && b->dirfd >= 0)
		local_rmtree(AT_FDCWD, b->dir);
	if (b->out < 0 && p[0] >= 0)
		close(p[0]);
	bgrec_free(b);
	return NULL;
}

void
bgrec_started(struct bgrec *b, const char *sdir, pid_t pid)
{
	char final[PATH_MAX], procs[PATH_MAX];
	struct buf j = { 0 };
	struct jsonw w;
	int fd;

	b->pid = pid;
	jsonw_init(&w, &j);
	jsonw_obj_begin(&w);
	jsonw_kint(&w, "pid", pid);
	jsonw_kstr(&w, "command", b->command != NULL ? b->command : "");
	jsonw_kint(&w, "started_at", time_wall_ms());
	jsonw_obj_end(&w);
	buf_putc(&j, '\n', NULL);
	fd = openat(b->dirfd, "info.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd >= 0) {
		(void)write(fd, j.p, j.len);
		close(fd);
	}
	buf_fini(&j);
	if (snprintf(procs, sizeof(procs), "%s/procs", sdir) < (int)sizeof(procs) &&
	    snprintf(final, sizeof(final), "%s/%d", procs, (int)pid) < (int)sizeof(final)) {
		local_rmtree(AT_FDCWD, final); /* an earlier process had the same pid */
		if (rename(b->dir, final) == 0)
			snprintf(b->dir, sizeof(b->dir), "%s", final);
	}
}

/* ---- reading ---------------------------------------------------------------------------- */

static int
open_in(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

	if (n < 0 || n >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

int64_t
outrec_total(const char *dir)
{
	char text[32];
	struct stat st;
	int fd = open_in(dir, "total");
	ssize_t n = -1;

	if (fd >= 0) {
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
	}
	if (n > 0 && isdigit((unsigned char)text[0])) {
		text[n] = '\0';
		return (int64_t)strtoull(text, NULL, 10);
	}
	/* No count yet (or a record of an older version): all of it is in `out`. */
	fd = open_in(dir, "out");
	if (fd < 0)
		return -1;
	n = fstat(fd, &st) == 0 ? (ssize_t)st.st_size : -1;
	close(fd);
	return n;
}

static int
pread_all(int fd, struct buf *out, size_t len, uint64_t at, struct err *e)
{
	char tmp[65536];

	while (len > 0) {
		ssize_t n = pread(fd, tmp, len < sizeof(tmp) ? len : sizeof(tmp), (off_t)at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_append(out, tmp, (size_t)n, e) != 0)
			return e->code;
		len -= (size_t)n;
		at += (uint64_t)n;
	}
	return 0;
}

/* The stream's oldest byte still in the ring, for a stream of total bytes. */
static uint64_t
ring_from(uint64_t total)
{
	return total > BG_HEAD_MAX + BG_TAIL_MAX ? total - BG_TAIL_MAX : BG_HEAD_MAX;
}

/* Reads [pos, total) from the ring into out, at most max bytes; returns the new pos. */
static uint64_t
ring_read(int tail, uint64_t pos, uint64_t total, size_t max, struct buf *out, int *rc,
    struct err *e)
{
	while (*rc == 0 && max > 0 && pos < total) {
		uint64_t at = (pos - BG_HEAD_MAX) % BG_TAIL_MAX;
		size_t k = (size_t)(BG_TAIL_MAX - at);

		k = k < max ? k : max;
		k = (uint64_t)k < total - pos ? k : (size_t)(total - pos);
		*rc = pread_all(tail, out, k, at, e);
		pos += k;
		max -= k;
	}
	return pos;
}

int
outrec_read(const char *dir, uint64_t offset, size_t max, struct buf *out, uint64_t *next,
    struct err *e)
{
	int64_t t = outrec_total(dir);
	uint64_t total = t > 0 ? (uint64_t)t : 0, pos = offset;
	int head, tail = -1, rc = 0;

	*next = offset;
	if (t < 0)
		return err_set(e, ERR_IO, "cannot read the process's output: %s", strerror(errno));
	if (offset > total)
		return err_set(e, ERR_INVAL,
		    "offset %llu is past the end of the output (%llu bytes "
		    "so far)",
		    (unsigned long long)offset, (unsigned long long)total);
	head = open_in(dir, "out");
	if (head < 0)
		return err_set(e, ERR_IO, "cannot read the process's output: %s", strerror(errno));
	if (pos < BG_HEAD_MAX && pos < total) {
		uint64_t end = total < BG_HEAD_MAX ? total : BG_HEAD_MAX;
		size_t k = (size_t)(end - pos) < max ? (size_t)(end - pos) : max;

		rc = pread_all(head, out, k, pos, e);
		pos += k;
		max -= k;
	}
	if (rc == 0 && max > 0 && pos < total && total > BG_HEAD_MAX)
		tail = open_in(dir, "tail");
	for (int try = 0; tail >= 0 && rc == 0 && max > 0 && pos < total; try++) {
		size_t mark = out->len;
		uint64_t from = pos, lost;

		if (pos < ring_from(total)) {
			buf_printf(out, NULL,
			    "\n[... %llu bytes of output dropped: background output "
			    "keeps its first %u MiB and last %u MiB ...]\n",
			    (unsigned long long)(ring_from(total) - pos), BG_HEAD_MAX >> 20,
			    BG_TAIL_MAX >> 20);
			pos = from = ring_from(total);
			mark = out->len;
		}
		pos = ring_read(tail, pos, total, max, out, &rc, e);
		/* Did the writer lap us while we read? Then part of it is newer output. */
		t = outrec_total(dir);
		lost = t > 0 ? ring_from((uint64_t)t) : 0;
		if (lost <= from || try + 1 == OUT_READ_TRIES)
			break;
		out->len = mark;
		out->p[mark] = '\0';
		pos = from;
		total = (uint64_t)t;
	}
	*next = pos;
	if (tail >= 0)
		close(tail);
	close(head);
	return rc;
}
