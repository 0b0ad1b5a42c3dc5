/*
 * mem.h -- allocation that never returns NULL.
 *
 * xmalloc and friends abort with a message on stderr when memory is truly exhausted
 * (redis zmalloc, h2o "or dies"). Sizes chosen by untrusted input are capped by the
 * caller (arena max, buf max) before they reach here.
 */
#ifndef UTIL_MEM_H
#define UTIL_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
