/*
 * buf.h -- owned, growable byte buffer with an optional cap.
 *
 * Owns:    b->p (heap); release with buf_fini(). A zero-filled struct buf is empty and valid.
 * Bounds:  when b->max is non-zero, growth past it fails with ERR_TOOBIG.
 * Invariant: p[len] is always '\0' once p is non-NULL, so text can be used as a C string.
 * Reading: buf_consume(b, n) drops n bytes from the front (memmove), keeping identity.
 */
#ifndef UTIL_BUF_H
#define UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/err.h"

struct buf {
	char *p;
	size_t len, cap;
	size_t max; /* 0 = no cap */
};

void buf_init(struct buf *b, size_t max);
void buf_fini(struct buf *b);
/* Makes room for n more bytes; 0 or ERR_TOOBIG (e set) when over max. */
int buf_reserve(struct buf *b, size_t n, struct err *e);
int buf_append(struct buf *b, const void *p, size_t n, struct err *e);
int buf_puts(struct buf *b, const char *s, struct err *e);
int buf_putc(struct buf *b, char c, struct err *e);
int buf_printf(struct buf *b, struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Hands the bytes to the caller (free() them); the buffer becomes empty. */
char *buf_steal(struct buf *b);

#endif
