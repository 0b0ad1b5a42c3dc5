/*
 * err.h -- error codes and one-sentence messages, first error wins.
 *
 * Owns:    nothing; struct err lives in the caller (usually on the stack).
 * Errors:  every fallible function in the tree returns 0 (ERR_OK) or an ERR_* code
 *          and fills a caller-provided struct err with one sentence a user can act on:
 *          "what failed: why: what to do". Messages never contain secrets.
 * Threads: a struct err belongs to one thread.
 */
#ifndef UTIL_ERR_H
#define UTIL_ERR_H

#include <stddef.h>

enum {
	ERR_OK,
	ERR_INVAL,       /* bad argument or bad input */
	ERR_TOOBIG,      /* over a size cap */
	ERR_IO,          /* local I/O or socket failure */
	ERR_TLS,         /* TLS handshake or record failure */
	ERR_PROTO,       /* peer broke a protocol */
	ERR_HTTP,        /* peer answered with an HTTP error status */
	ERR_TIMEOUT,     /* a deadline passed */
	ERR_CANCELLED,   /* the call was cancelled */
	ERR_NOTFOUND,    /* no such sandbox, file, process */
	ERR_BACKEND,     /* the platform refused or failed */
	ERR_UNSUPPORTED, /* the backend cannot do this */
	ERR_EXISTS,      /* target already exists */
	ERR__MAX
};

#define ERR_MSG_MAX 512

struct err {
	int code;
	char msg[ERR_MSG_MAX];
};

/* Sets code and message unless an error is already set; returns the code in force.
 * A NULL e is accepted and ignored. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends context ("sandbox_create: ") to a set message; no-op when none is set. */
void err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears e so it can be reused. */
void err_clear(struct err *e);

/* Short constant name of a code ("timeout"), for logs. */
const char *err_name(int code);

#endif
