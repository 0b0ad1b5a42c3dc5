/*
 * fuzz_chunked.c -- libFuzzer target for the chunked decoder (http_parse.h).
 *
 * The first byte picks a piece size (1-256); the rest is a chunked body fed in pieces
 * of that size, each piece in its own heap copy that is freed right after the call, so a
 * decoder that kept a pointer into an old piece would read freed memory (ASan). The
 * same body fed whole must give the same data, the same verdict (error code, reached
 * trailers) and the same trailer section. Every data run must lie inside the consumed
 * prefix. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"
#include "net/http_parse.h"
#include "util/buf.h"

struct outcome {
	struct buf data;
	struct buf tail;
	int code;
	int trailers;   /* reached the trailer section */
	ssize_t tparse; /* http_parse_fields on the tail */
	size_t ntrailers;
};

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_chunked: %s\n", what);
	abort();
}

static void
run(const uint8_t *in, size_t len, size_t piece, struct outcome *o)
{
	struct http_chunked d = { 0 };
	struct http_field tf[HTTP_HEADERS_MAX];
	struct err e = { 0 };
	size_t start = 0;

	memset(o, 0, sizeof(*o));
	buf_init(&o->data, 0);
	buf_init(&o->tail, 0);
	while (start < len && o->code == 0) {
		size_t n = len - start < piece ? len - start : piece, off = 0;
		char *p = malloc(n);

		memcpy(p, in + start, n);
		while (off < n) {
			struct str data;
			ssize_t r;

			if (http_chunked_in_trailers(&d)) {
				buf_append(&o->tail, p + off, n - off, NULL);
				off = n;
				break;
			}
			r = http_chunked_decode(&d, p + off, n - off, &data, &e);
			if (r == HTTP_PARSE_ERR) {
				if (e.code != ERR_PROTO && e.code != ERR_TOOBIG)
					fail("error code");
				o->code = e.code;
				break;
			}
			if ((size_t)r > n - off)
				fail("consumed past the input");
			if (data.len > 0) {
				if (data.p < p + off || data.p + data.len > p + off + (size_t)r)
					fail("data outside the consumed prefix");
				buf_append(&o->data, data.p, data.len, NULL);
			}
			if (r == 0 && !http_chunked_in_trailers(&d))
				fail("no progress");
			off += (size_t)r;
		}
		free(p);
		start += n;
	}
	o->trailers = http_chunked_in_trailers(&d);
	if (o->trailers) {
		o->ntrailers = HTTP_HEADERS_MAX;
		o->tparse = http_parse_fields(o->tail.p ? o->tail.p : (char *)"", o->tail.len, tf,
		    &o->ntrailers, HTTP_TRAILER_BYTES_MAX, &e);
		if (o->tparse > (ssize_t)o->tail.len)
			fail("trailers consumed past the input");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome a, b;
	size_t piece;

	if (size == 0)
		return 0;
	piece = (size_t)data[0] + 1;
	run(data + 1, size - 1, piece, &a);
	run(data + 1, size - 1, size, &b);
	if (a.code != b.code || a.trailers != b.trailers)
		fail("pieces and whole disagree on the verdict");
	if (a.code == 0 &&
	    (a.data.len != b.data.len ||
	        memcmp(a.data.p ? a.data.p : "", b.data.p ? b.data.p : "", a.data.len) != 0))
		fail("pieces and whole give different data");
	if (a.trailers && (a.tparse != b.tparse || a.ntrailers != b.ntrailers))
		fail("pieces and whole give different trailers");
	buf_fini(&a.data);
	buf_fini(&a.tail);
	buf_fini(&b.data);
	buf_fini(&b.tail);
	return 0;
}
