/*
 * arena.h -- bump allocator for one request's memory.
 *
 * Owns:    every block handed out; arena_free() releases them all at once.
 * Bounds:  total bytes never exceed the max given to arena_new(); past it arena_alloc()
 *          returns NULL and the caller reports ERR_TOOBIG. This is what bounds memory
 *          for input whose size a peer chooses.
 * Threads: an arena belongs to one thread at a time.
 */
#ifndef UTIL_ARENA_H
#define UTIL_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

struct arena *arena_new(size_t max);
void arena_free(struct arena *a);

/* Returns n bytes aligned for any type, or NULL when the arena's max would be passed. */
void *arena_alloc(struct arena *a, size_t n);
/* As arena_alloc, zero-filled. */
void *arena_zalloc(struct arena *a, size_t n);
/* Copies n bytes and appends a NUL; NULL when over max. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Bytes handed out so far (for tests and bench). */
size_t arena_used(const struct arena *a);

#endif
