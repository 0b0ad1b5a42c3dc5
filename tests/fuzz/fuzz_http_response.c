/*
 * fuzz_http_response.c -- libFuzzer target for the response head parser (http_parse.h).
 *
 * For every input (a response head, maybe followed by body bytes):
 *  - http_parse_response never reads outside the input (ASan) and returns a length
 *    <= size, MORE, or ERR with ERR_PROTO/ERR_TOOBIG and a message;
 *  - on success, status is 100-999, the minor version 0 or 1, every field name is a
 *    non-empty token and every slice lies inside the input; parsing the same (possibly
 *    obs-fold-edited) buffer again gives the same length and fields;
 *  - every shorter prefix of a successfully parsed head is MORE (or the same cap error),
 *    never a success;
 *  - with a smaller field capacity the parser fails with ERR_TOOBIG or finds the same
 *    count;
 *  - what follows the head is run through the chunked decoder and the trailer parser.
 * Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http.h"
#include "net/http_parse.h"

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_http_response: %s\n", what);
	abort();
}

static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void
check_inside(const char *buf, size_t len, struct str s)
{
	if (s.len > 0 && (s.p < buf || s.p + s.len > buf + len))
		fail("slice outside the input");
}

static void
check_body(const char *p, size_t n)
{
	struct http_chunked d = { 0 };
	struct http_field tf[16];
	struct err e = { 0 };
	struct str data;
	size_t off = 0;

	while (off < n) {
		ssize_t r = http_chunked_decode(&d, p + off, n - off, &data, &e);

		if (r == HTTP_PARSE_ERR) {
			if (e.code != ERR_PROTO && e.code != ERR_TOOBIG)
				fail("chunked error code");
			return;
		}
		if ((size_t)r > n - off)
			fail("chunked consumed past the input");
		if (data.len > 0 && (data.p < p + off || data.p + data.len > p + off + (size_t)r))
			fail("chunk data outside the consumed prefix");
		if (http_chunked_in_trailers(&d)) {
			char *t = malloc(n - off - (size_t)r + 1);
			size_t nf = 16, tl = n - off - (size_t)r;
			ssize_t tr;

			memcpy(t, p + off + (size_t)r, tl);
			tr = http_parse_fields(t, tl, tf, &nf, HTTP_TRAILER_BYTES_MAX, &e);
			if (tr > (ssize_t)tl || (tr == HTTP_PARSE_ERR && e.code == 0))
				fail("trailer result");
			free(t);
			return;
		}
		if (r == 0)
			fail("chunked made no progress");
		off += (size_t)r;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_field fields[HTTP_HEADERS_MAX], fields2[HTTP_HEADERS_MAX];
	struct http_head h, h2;
	struct err e = { 0 };
	char *buf = malloc(size + 1), *copy;
	ssize_t r, r2;
	size_t i, cut;

	memcpy(buf, data, size);
	h.fields = fields;
	h.nfields = HTTP_HEADERS_MAX;
	r = http_parse_response(buf, size, &h, &e);
	if (r == HTTP_PARSE_ERR) {
		if ((e.code != ERR_PROTO && e.code != ERR_TOOBIG) || e.msg[0] == '\0')
			fail("error without a code or message");
		goto out;
	}
	if (r == HTTP_PARSE_MORE) {
		if (size >= HTTP_HEAD_BYTES_MAX)
			fail("more past the head cap");
		goto out;
	}
	if (r <= 0 || (size_t)r > size)
		fail("bad length");
	if (h.status < 100 || h.status > 999 || (h.minor_version != 0 && h.minor_version != 1))
		fail("bad status or version");
	check_inside(buf, size, h.reason);
	for (i = 0; i < h.nfields; i++) {
		size_t j;

		if (h.fields[i].name.len == 0)
			fail("empty field name");
		for (j = 0; j < h.fields[i].name.len; j++) {
			if (!is_tchar((unsigned char)h.fields[i].name.p[j]))
				fail("field name not a token");
		}
		check_inside(buf, size, h.fields[i].name);
		check_inside(buf, size, h.fields[i].value);
	}
	/* Again on the same buffer (obs-fold edits are stable). */
	h2.fields = fields2;
	h2.nfields = HTTP_HEADERS_MAX;
	r2 = http_parse_response(buf, size, &h2, &e);
	if (r2 != r || h2.nfields != h.nfields || h2.status != h.status)
		fail("second parse differs");
	for (i = 0; i < h.nfields; i++) {
		if (h2.fields[i].value.len != h.fields[i].value.len ||
		    memcmp(h2.fields[i].value.p, h.fields[i].value.p, h.fields[i].value.len))
			fail("second parse gives other values");
	}
	/* Prefixes: never complete. Checking a few cut points keeps the target fast. */
	copy = malloc((size_t)r + 1);
	for (cut = 0; cut < (size_t)r; cut += 1 + (size_t)r / 16) {
		memcpy(copy, data, cut);
		h2.nfields = HTTP_HEADERS_MAX;
		err_clear(&e);
		r2 = http_parse_response(copy, cut, &h2, &e);
		if (r2 >= 0)
			fail("a prefix of a head parsed as complete");
	}
	/* A smaller capacity: the same count, or too big. */
	if (h.nfields > 0) {
		memcpy(copy, data, (size_t)r);
		h2.nfields = h.nfields - 1;
		err_clear(&e);
		r2 = http_parse_response(copy, (size_t)r, &h2, &e);
		if (r2 != HTTP_PARSE_ERR || e.code != ERR_TOOBIG)
			fail("fewer slots than fields did not fail with too big");
	}
	free(copy);
	check_body(buf + r, size - (size_t)r);
out:
	free(buf);
	return 0;
}
