/* arena.c -- a chain of blocks; big requests get a block of their own.
 *
 * Freed blocks of the standard size wait in a small process-wide cache for the next arena:
 * a request arena is made and freed per call, and handing the block back to malloc each
 * time costs an munmap or madvise, which in a multi-threaded process is a TLB shootdown
 * across CPUs. Sanitizer builds skip the cache, so a use after free is still caught. */
#include "util/arena.h"
#include "util/mem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define ARENA_BLOCK_MIN (16 * 1024)
#define ARENA_ALIGN     16

struct block {
	struct block *next;
	size_t used, cap;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
	struct block *head;
	size_t total, max;
};

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_NOCACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_NOCACHE 1
#endif
#endif
#ifndef ARENA_NOCACHE
#define ARENA_CACHE 8
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct block *cache[ARENA_CACHE];
static size_t ncache;
#endif

static struct block *
block_new(size_t cap)
{
	struct block *b = NULL;

#ifndef ARENA_NOCACHE
	if (cap == ARENA_BLOCK_MIN) {
		pthread_mutex_lock(&cache_mu);
		if (ncache > 0)
			b = cache[--ncache];
		pthread_mutex_unlock(&cache_mu);
	}
#endif
	if (b == NULL)
		b = xmalloc(sizeof(*b) + cap);
	b->used = 0;
	b->cap = cap;
	return b;
}

static void
block_free(struct block *b)
{
#ifndef ARENA_NOCACHE
	if (b->cap == ARENA_BLOCK_MIN) {
		pthread_mutex_lock(&cache_mu);
		if (ncache < ARENA_CACHE) {
			cache[ncache++] = b;
			b = NULL;
		}
		pthread_mutex_unlock(&cache_mu);
	}
#endif
	free(b);
}

struct arena *
arena_new(size_t max)
{
	struct arena *a = xcalloc(1, sizeof(*a));

	a->max = max;
	return a;
}

void
arena_free(struct arena *a)
{
	struct block *b, *next;

	if (a == NULL)
		return;
	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		block_free(b);
	}
	free(a);
}

void *
arena_alloc(struct arena *a, size_t n)
{
	struct block *b = a->head;
	size_t cap;

	/* Checked before rounding up: a size near SIZE_MAX would wrap to a tiny block
	 * (and a block header plus a size over SIZE_MAX / 2 could wrap in xmalloc). */
	if (n > a->max || n > SIZE_MAX / 2)
		return NULL;
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	if (n > a->max || a->total > a->max - n)
		return NULL;
	if (b == NULL || b->cap - b->used < n) {
		cap = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
		b = block_new(cap);
		/* A block made for one big request goes behind the head so the head's
		 * free space stays usable for small ones. */
		if (a->head != NULL && n > ARENA_BLOCK_MIN) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	a->total += n;
	b->used += n;
	return b->data + b->used - n;
}

void *
arena_zalloc(struct arena *a, size_t n)
{
	void *p = arena_alloc(a, n);

	if (p != NULL)
		memset(p, 0, n);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		return NULL;
	p = arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *
arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	p = arena_alloc(a, (size_t)n + 1);
	if (p != NULL)
		vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

size_t
arena_used(const struct arena *a)
{
	return a->total;
}
