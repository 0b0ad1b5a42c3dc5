/*
 * test_local_output.c -- a background process's output record (src/backends/local/output.c):
 * what the supervisor appends and what process_output reads back, at every boundary of
 * the head and the ring, with the dropped middle marked, and the record count capped.
 */
#include "backends/local/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	    is_stream(b.p, b.len, 0), "the whole short stream reads back");
	buf_reset(&b);
	ok(outrec_read(dir, 990, 5, &b, &next, &e) == 0 && b.len == 5 && next == 995 &&
	    is_stream(b.p, b.len, 990), "a slice from an offset, capped at max");
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
	    next == BG_HEAD_MAX && is_stream(b.p, 10, BG_HEAD_MAX - 10), "the head's last bytes");
	buf_reset(&b);
	ok(outrec_read(dir, BG_HEAD_MAX - 10, 30, &b, &next, &e) == 0 &&
	    is_stream(b.p, 10, BG_HEAD_MAX - 10) && strstr(b.p, "bytes of output dropped") &&
	    next == tail_from + 20, "across the gap: head, a marker, the ring's first bytes");
	nl = b.p != NULL ? strrchr(b.p, '\n') : NULL;
	ok(nl != NULL && is_stream(nl + 1, 20, tail_from), "... and those are the right bytes");
	buf_reset(&b);
	ok(outrec_read(dir, tail_from, 100, &b, &next, &e) == 0 && b.len == 100 &&
	    is_stream(b.p, 100, tail_from), "the ring's oldest byte");
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
	local_rmtree(AT_FDCWD, dir);
	return done_testing();
}
