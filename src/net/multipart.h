/*
 * multipart.h -- multipart/form-data bodies (RFC 7578) built into a struct buf the caller
 * owns:
 *
 *	struct buf body; struct http_multipart m;
 *	buf_init(&body, cap);
 *	http_multipart_begin(&m, &body, e);
 *	http_multipart_part(&m, "metadata", "metadata", "application/json", js, jl, e);
 *	http_multipart_part(&m, "file", "a.txt", NULL, data, n, e);
 *	http_multipart_end(&m, e);
 *	header "Content-Type: " m.content_type; body.p/body.len as the request body.
 *
 * The boundary is 32 random hex digits, so it cannot plausibly occur in the data. A
 * NULL filename makes a plain field; a NULL content_type with a filename means
 * application/octet-stream. '"', CR and LF in names and filenames are written as %22,
 * %0D and %0A (WHATWG HTML). http_multipart_part_head() writes only a part's headers:
 * append its data to the buffer yourself before the next part or the end.
 *
 * Owns:    nothing: struct http_multipart lives in the caller and points at its buffer.
 * Borrows: out for as long as m is used; names, filenames and data only during a call.
 * Errors:  ERR_TOOBIG when the buffer's cap is reached; http_multipart_begin() returns
 *          ERR_IO when the system has no random bytes for the boundary.
 * Threads: one struct http_multipart belongs to one thread.
 */
#ifndef NET_MULTIPART_H
#define NET_MULTIPART_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct http_multipart {
	struct buf *out;
	char boundary[48];     /* "sandbox-mcp-" and 32 hex digits */
	char content_type[96]; /* "multipart/form-data; boundary=..." */
	size_t nparts;
};

int http_multipart_begin(struct http_multipart *m, struct buf *out, struct err *e);
int http_multipart_part_head(struct http_multipart *m, const char *name, const char *filename,
    const char *content_type, struct err *e);
int http_multipart_part(struct http_multipart *m, const char *name, const char *filename,
    const char *content_type, const void *data, size_t len, struct err *e);
int http_multipart_end(struct http_multipart *m, struct err *e);

#endif
