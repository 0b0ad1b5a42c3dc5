/*
 * split.h -- guard-page input buffers for decoder split tests (test-only helper).
 *
 * guard_copy() copies a piece of input so that it ends exactly where a PROT_NONE
 * page begins (picohttpparser's trick): a decoder reading one byte past the end
 * faults. guard_retire() scribbles over the piece and makes its pages PROT_NONE,
 * so a decoder that kept a pointer into a read it was told it could drop reads
 * garbage or faults. Two regions alternate, so the piece just retired stays
 * protected while the next one is decoded.
 */
#ifndef TESTS_SPLIT_H
#define TESTS_SPLIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_REGION_MAX (8u << 20) /* largest piece a test may feed */

struct guard_region {
	char *base;  /* GUARD_REGION_MAX bytes, then one PROT_NONE page */
	char *piece; /* where the current piece starts, or NULL */
	size_t len;
};

static struct guard_region guard_regions[2];
static int guard_next;

static size_t
guard_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static void
guard_setup(struct guard_region *g)
{
	size_t pg = guard_page();
	char *m = mmap(NULL, GUARD_REGION_MAX + pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (mprotect(m + GUARD_REGION_MAX, pg, PROT_NONE) != 0) {
		perror("mprotect");
		exit(2);
	}
	g->base = m;
}

/* Returns a copy of p[0..n) whose last byte is the last byte before a guard page. */
static const char *
guard_copy(const char *p, size_t n)
{
	struct guard_region *g = &guard_regions[guard_next];

	if (n > GUARD_REGION_MAX) {
		fprintf(stderr, "split.h: piece of %zu bytes is too big\n", n);
		exit(2);
	}
	if (g->base == NULL)
		guard_setup(g);
	if (g->piece != NULL)
		mprotect(g->base, GUARD_REGION_MAX, PROT_READ | PROT_WRITE);
	g->piece = g->base + GUARD_REGION_MAX - n;
	g->len = n;
	if (n > 0)
		memcpy(g->piece, p, n);
	return g->piece;
}

/* The decoder said it is done with the current piece: poison it. */
static void
guard_retire(void)
{
	struct guard_region *g = &guard_regions[guard_next];
	size_t pg = guard_page();
	size_t off;

	if (g->piece == NULL)
		return;
	memset(g->piece, 0xa5, g->len);
	off = (size_t)(g->piece - g->base) / pg * pg;
	mprotect(g->base + off, GUARD_REGION_MAX - off, PROT_NONE);
	guard_next ^= 1;
}

#endif
