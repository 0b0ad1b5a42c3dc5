/*
 * test_local_output.c -- a background process's output record (src/backends/local/output.c):
 * what the supervisor appends and what process_output reads back, at every boundary of
 * the head and the ring, with the dropped middle marked, and the record count capped;
 * bulk writers' pipes grow where the kernel lets them and keep working where it does not.
 */
#include "backends/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

/* Byte k of the test stream: a pattern that differs at every offset mod 251. */
static char
at(uint64_t k)
{
	return (char)('a' + (k * 7 + k / 251) % 26);
}

static void
append_stream(struct outrec *o, uint64_t from, uint64_t to)
{
	static char chunk[1 << 16];

	while (from < to) {
		size_t n = to - from < sizeof(chunk) ? (size_t)(to - from) : sizeof(chunk);

		for (size_t i = 0; i < n; i++)
			chunk[i] = at(from + i);
		outrec_append(o, chunk, n);
		from += n;
	}
}

/* Whether buf[0..len) is the stream from offset on. */
static bool
is_stream(const char *buf, size_t len, uint64_t offset)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != at(offset + i))
			return false;
	return true;
}

static char dir[256];

static void
test_head_only(void)
{
	struct outrec o;
	struct buf b = { 0 };
	struct err e = { 0 };
	uint64_t next;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	is_int(outrec_create(dfd, &o), 0, "create a record");
	append_stream(&o, 0, 1000);
	is_int(outrec_total(dir), 1000, "total counts what was appended");
	ok(outrec_read(dir, 0, 1 << 20, &b, &next, &e) == 0 && b.len == 1000 && next == 1000 &&
	        is_stream(b.p, b.len, 0),
	    "the whole short stream reads back");
	buf_reset(&b);
	ok(outrec_read(dir, 990, 5, &b, &next, &e) == 0 && b.len == 5 && next == 995 &&
	        is_stream(b.p, b.len, 990),
	    "a slice from an offset, capped at max");
	buf_reset(&b);
	ok(outrec_read(dir, 1000, 10, &b, &next, &e) == 0 && b.len == 0 && next == 1000,
	    "reading at the end gives nothing and stays there");
	is_int(outrec_read(dir, 1001, 10, &b, &next, &e), ERR_INVAL, "past the end: %s", e.msg);
	outrec_close(&o);
	buf_fini(&b);
	close(dfd);
}

static void
test_ring(void)
{
	struct outrec o;
	struct buf b = { 0 };
	struct err e = { 0 };
	uint64_t next, total = (uint64_t)BG_HEAD_MAX + 3 * (uint64_t)BG_TAIL_MAX + 12345;
	uint64_t tail_from = total - BG_TAIL_MAX;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct stat st;
	char path[512];
	const char *nl;

	unlink("out");
	outrec_create(dfd, &o);
	o.total = 0;
	ftruncate(o.headfd, 0);
	append_stream(&o, 0, total);
	is_int(outrec_total(dir), (long long)total, "total counts every byte ever written");
	snprintf(path, sizeof(path), "%s/tail", dir);
	ok(stat(path, &st) == 0 && st.st_size <= BG_TAIL_MAX, "the ring file stays at %u bytes",
	    BG_TAIL_MAX);
	snprintf(path, sizeof(path), "%s/out", dir);
	ok(stat(path, &st) == 0 && st.st_size == BG_HEAD_MAX, "the head file stops at %u bytes",
	    BG_HEAD_MAX);
	ok(outrec_read(dir, BG_HEAD_MAX - 10, 10, &b, &next, &e) == 0 && b.len == 10 &&
	        next == BG_HEAD_MAX && is_stream(b.p, 10, BG_HEAD_MAX - 10),
	    "the head's last bytes");
	buf_reset(&b);
	ok(outrec_read(dir, BG_HEAD_MAX - 10, 30, &b, &next, &e) == 0 &&
	        is_stream(b.p, 10, BG_HEAD_MAX - 10) && strstr(b.p, "bytes of output dropped") &&
	        next == tail_from + 20,
	    "across the gap: head, a marker, the ring's first bytes");
	nl = b.p != NULL ? strrchr(b.p, '\n') : NULL;
	ok(nl != NULL && is_stream(nl + 1, 20, tail_from), "... and those are the right bytes");
	buf_reset(&b);
	ok(outrec_read(dir, tail_from, 100, &b, &next, &e) == 0 && b.len == 100 &&
	        is_stream(b.p, 100, tail_from),
	    "the ring's oldest byte");
	buf_reset(&b);
	ok(outrec_read(dir, total - 70000, 1 << 20, &b, &next, &e) == 0 && b.len == 70000 &&
	        next == total && is_stream(b.p, b.len, total - 70000),
	    "the newest bytes, across the ring's wrap point");
	buf_reset(&b);
	/* Every split of the ring's wrap into two reads. */
	{
		uint64_t wrap = BG_HEAD_MAX + ((total - BG_HEAD_MAX) / BG_TAIL_MAX) * BG_TAIL_MAX;
		bool good = true;

		for (uint64_t off = wrap - 3; off <= wrap + 3 && good; off++) {
			buf_reset(&b);
			good = outrec_read(dir, off, 7, &b, &next, &e) == 0 && b.len == 7 &&
			    is_stream(b.p, 7, off) && next == off + 7;
		}
		ok(good, "reads at and around the ring's wrap point");
	}
	outrec_close(&o);
	buf_fini(&b);
	close(dfd);
}

static void
test_prune(void)
{
	char sdir[300], procs[400], path[512];
	int fds[3], err = 0, kept = 0, running = 0;
	struct bgrec *keep = NULL;

	snprintf(sdir, sizeof(sdir), "%s/sbx", dir);
	mkdir(sdir, 0700);
	/* 300 records: one still running, the rest ended (an exit file). */
	for (int i = 1; i <= 300; i++) {
		struct bgrec *b = bgrec_new(sdir, fds, &err);

		if (b == NULL)
			break;
		close(fds[0]);
		close(fds[1]);
		bgrec_started(b, sdir, i);
		if (i == 1) {
			keep = b;
			continue;
		}
		b->status = 0;
		b->exited = true;
		bgrec_exit(b);
		bgrec_free(b);
	}
	snprintf(procs, sizeof(procs), "%s/procs", sdir);
	for (int i = 1; i <= 300; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%d", procs, i);
		if (stat(path, &st) == 0) {
			kept++;
			running += i == 1;
		}
	}
	ok(kept <= 256 && kept >= 250, "records are capped near 256 (%d kept)", kept);
	ok(running == 1, "the running process's record is never pruned");
	snprintf(path, sizeof(path), "%s/300", procs);
	ok(access(path, F_OK) == 0, "the newest record stays");
	if (keep != NULL)
		bgrec_free(keep);
}

/* A fresh pipe grows to LOCAL_PIPE_BULK where this user may have one that big, and says
 * what it has; data still flows. */
static void
test_pipe_grow(void)
{
	int p[2], n, got;
	long max = 0;
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");

	if (f != NULL) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 0;
		fclose(f);
	}
	if (pipe(p) < 0) {
		ok(0, "pipe: %s", strerror(errno));
		return;
	}
	n = local_pipe_grow(p[0]);
	got = fcntl(p[0], F_GETPIPE_SZ);
	is_int(n, got, "the capacity it returns is the pipe's own");
	if (geteuid() == 0 || max >= LOCAL_PIPE_BULK)
		ok(n >= LOCAL_PIPE_BULK, "the pipe holds %d bytes now (pipe-max-size %ld)", n, max);
	ok(write(p[1], "abc", 3) == 3 && read(p[0], (char[4]){ 0 }, 4) == 3,
	    "and carries data as before");
	close(p[0]);
	close(p[1]);
}

/* An ordinary user past the per-user pipe-buffer soft limit (pipe-user-pages-soft): new
 * pipes get a page or two and may not grow. local_pipe_grow must keep such a pipe working
 * at the size it has. Run as a spare uid in a child, so no real user's quota is touched. */
static void
test_pipe_grow_quota(void)
{
	int st = 0, rep[2];
	pid_t pid;
	char line[128] = "";

	long soft = 0;
	FILE *f = fopen("/proc/sys/fs/pipe-user-pages-soft", "r");

	if (f != NULL) {
		if (fscanf(f, "%ld", &soft) != 1)
			soft = 0;
		fclose(f);
	}
	if (geteuid() != 0 || soft <= 0 || soft > 65536) {
		note("skip: the per-user quota case needs root (to become a spare uid) and a soft "
		     "limit (pipe-user-pages-soft %ld)",
		    soft);
		return;
	}
	if (pipe(rep) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		int fds[2], n = 0, before, after, grew = 0;

		close(rep[0]);
		if (setgid(54321) < 0 || setuid(54321) < 0)
			_exit(2);
		/* Use up the quota: grow pipes until one is refused. */
		for (int i = 0; i < 4096; i++) {
			if (pipe(fds) < 0)
				break;
			if (fcntl(fds[0], F_SETPIPE_SZ, LOCAL_PIPE_BULK) < 0)
				break;
			n++;
		}
		if (pipe(fds) < 0)
			_exit(3);
		before = fcntl(fds[0], F_GETPIPE_SZ);
		after = local_pipe_grow(fds[0]);
		grew = write(fds[1], "abc", 3) == 3 && read(fds[0], (char[4]){ 0 }, 4) == 3;
		dprintf(rep[1], "%d %d %d %d\n", n, before, after, grew);
		_exit(0);
	}
	close(rep[1]);
	if (pid > 0) {
		ssize_t k = read(rep[0], line, sizeof(line) - 1);

		line[k > 0 ? k : 0] = '\0';
		waitpid(pid, &st, 0);
	}
	close(rep[0]);
	{
		int n = 0, before = 0, after = 0, works = 0;
		int got = sscanf(line, "%d %d %d %d", &n, &before, &after, &works);

		ok(got == 4 && n > 0, "a spare uid used up its pipe quota (%d pipes grown)", n);
		ok(after == before && after > 0 && works,
		    "past the quota a pipe keeps its size (%d bytes) and works", after);
	}
}

/* A background process that writes a lot: its pipe grows, and every byte reaches the
 * record in order. */
static void
test_drain_bulk(void)
{
	char sdir[300];
	int fds[3], err = 0, big = 0;
	struct bgrec *b;
	pid_t pid;
	uint64_t total = 3u << 20;

	snprintf(sdir, sizeof(sdir), "%s/bulk", dir);
	mkdir(sdir, 0700);
	b = bgrec_new(sdir, fds, &err);
	if (!ok(b != NULL, "a background record"))
		return;
	close(fds[0]);
	pid = fork();
	if (pid == 0) {
		static char chunk[4096];

		for (uint64_t k = 0; k < total; k += sizeof(chunk)) {
			for (size_t i = 0; i < sizeof(chunk); i++)
				chunk[i] = at(k + i);
			if (write(fds[1], chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
				_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	while (b->out >= 0) {
		struct pollfd pf = { b->out, POLLIN, 0 };

		if (poll(&pf, 1, 10000) <= 0)
			break;
		bgrec_drain(b);
		if (b->out >= 0 && fcntl(b->out, F_GETPIPE_SZ) >= LOCAL_PIPE_BULK)
			big = 1;
	}
	waitpid(pid, NULL, 0);
	is_int(outrec_total(b->dir), (long long)total, "every byte of 3 MiB reached the record");
	{
		struct buf r = { 0 };
		struct err e = { 0 };
		uint64_t next;

		ok(outrec_read(b->dir, 0, (size_t)total, &r, &next, &e) == 0 && r.len == total &&
		        is_stream(r.p, r.len, 0),
		    "in order, byte for byte");
		buf_fini(&r);
	}
	if (geteuid() == 0)
		ok(big, "the pipe of a busy writer grew to %d bytes", LOCAL_PIPE_BULK);
	bgrec_free(b);
}

int
main(void)
{
	char tmpl[] = "/tmp/smcp-output-XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(dir, sizeof(dir), "%s", tmpl);
	test_head_only();
	test_ring();
	test_prune();
	test_pipe_grow();
	test_pipe_grow_quota();
	test_drain_bulk();
	local_rmtree(AT_FDCWD, dir);
	return done_testing();
}
