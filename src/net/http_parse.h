/*
 * http_parse.h -- HTTP/1.1 response head parser and chunked body decoder (RFC 9112).
 *
 * Shape:   picohttpparser's. The head parser returns the bytes consumed (> 0),
 *          HTTP_PARSE_MORE (-2) when the head is not complete yet, or HTTP_PARSE_ERR (-1)
 *          with *e set. It never reads past buf+len, allocates nothing, and its outputs
 *          are slices into buf. It may be called again on a longer buffer from scratch.
 * Caps:    the status line may not pass HTTP_STATUS_LINE_BYTES_MAX, the whole head
 *          HTTP_HEAD_BYTES_MAX (both in net/http.h), and the fields the capacity the
 *          caller gives; past a cap the result is an error (ERR_TOOBIG) even while the
 *          head is incomplete, so a caller never buffers more than the cap.
 * Errors:  ERR_PROTO or ERR_TOOBIG; the message is a phrase that reads after
 *          "<host> sent ": "a malformed status line", "response headers over 64 KiB".
 * Lines:   end in CRLF or, leniently (RFC 9112 §2.2), a bare LF.
 * obs-fold: unfolded, as RFC 9112 §5.2 requires of a user agent: the CRLF before a
 *          continuation line is overwritten in place with spaces and the value slice
 *          runs on; so buf is not const. A continuation before any field is an error.
 * Threads: no shared state.
 */
#ifndef NET_HTTP_PARSE_H
#define NET_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"
#include "util/str.h"

#define HTTP_PARSE_MORE (-2)
#define HTTP_PARSE_ERR  (-1)

/* A chunk-size line with its extensions may not be longer than this. */
#define HTTP_CHUNK_LINE_BYTES_MAX 4096

struct http_field {
	struct str name;  /* a token, never empty */
	struct str value; /* without leading and trailing spaces and tabs */
};

struct http_head {
	int minor_version; /* 0 or 1 */
	int status;        /* 100-999 */
	struct str reason;
	struct http_field *fields; /* the caller's array */
	size_t nfields;            /* in: its capacity; out: fields found */
};

/* Parses "HTTP/1.x NNN reason" CRLF, the header fields and the empty line. */
ssize_t http_parse_response(char *buf, size_t len, struct http_head *h, struct err *e);

/* Parses header fields up to and including the empty line that ends them, as in a
 * chunked trailer section; bytes_max caps the section. *nfields is capacity in, count out. */
ssize_t http_parse_fields(char *buf, size_t len, struct http_field *fields, size_t *nfields,
    size_t bytes_max, struct err *e);

/*
 * Chunked decoder (RFC 9112 §7.1). The state is valid when zero-filled and keeps no
 * pointer into the input, so input may arrive in pieces of any size.
 * Each call consumes a prefix of in[0..len) and returns its length, or HTTP_PARSE_ERR.
 * *data is set to the chunk data inside that prefix (possibly empty; at most one run
 * per call). Chunk extensions are skipped. After the last chunk ("0" line) the decoder
 * stops consuming and http_chunked_in_trailers() is true: the caller parses the
 * trailer section (at least the final CRLF) with http_parse_fields() and then calls
 * http_chunked_end(). A return of 0 with len > 0 happens only in that state or after it.
 */
struct http_chunked {
	int state;
	uint64_t left;     /* data bytes of the current chunk still to come */
	size_t line_bytes; /* bytes of the current chunk-size line seen so far */
};

ssize_t http_chunked_decode(struct http_chunked *d, const char *in, size_t len, struct str *data,
    struct err *e);
bool http_chunked_in_trailers(const struct http_chunked *d);
void http_chunked_end(struct http_chunked *d);
bool http_chunked_done(const struct http_chunked *d);

#endif
