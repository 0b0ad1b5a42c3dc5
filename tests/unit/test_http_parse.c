/* test_http_parse.c -- response heads and chunked bodies, at every split, on guard pages. */
#include "net/http.h"
#include "net/http_parse.h"
#include "split.h"
#include "tap.h"

#include <stdlib.h>

/* ---- response heads -------------------------------------------------------------- */

struct head_case {
	const char *name;
	const char *in;
	int code; /* 0: parses; else ERR_* on the whole input */
	int status, minor;
	const char *reason;
	const char *fields; /* "name=value|name=value" */
	size_t trailing;    /* bytes after the head that belong to the body */
};

static const struct head_case head_cases[] = {
	{ "simple", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0, 200, 1, "OK",
	    "Content-Length=5", 0 },
	{ "with body bytes after", "HTTP/1.1 200 OK\r\nA: b\r\n\r\nhello", 0, 200, 1, "OK", "A=b",
	    5 },
	{ "HTTP/1.0", "HTTP/1.0 404 Not Found\r\n\r\n", 0, 404, 0, "Not Found", "", 0 },
	{ "no reason", "HTTP/1.1 204\r\n\r\n", 0, 204, 1, "", "", 0 },
	{ "empty reason", "HTTP/1.1 500 \r\nX: y\r\n\r\n", 0, 500, 1, "", "X=y", 0 },
	{ "reason with spaces and obs-text", "HTTP/1.1 200 Very \xc3\xa9 OK\r\n\r\n", 0, 200, 1,
	    "Very \xc3\xa9 OK", "", 0 },
	{ "bare LF everywhere", "HTTP/1.1 301 Moved\nLocation: /x\nA:  b  \n\n", 0, 301, 1, "Moved",
	    "Location=/x|A=b", 0 },
	{ "mixed line ends", "HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\n", 0, 200, 1, "OK", "A=1|B=2", 0 },
	{ "empty value", "HTTP/1.1 200 OK\r\nX-Empty:\r\nY:   \r\n\r\n", 0, 200, 1, "OK",
	    "X-Empty=|Y=", 0 },
	{ "tabs around value", "HTTP/1.1 200 OK\r\nA:\t v \t\r\n\r\n", 0, 200, 1, "OK", "A=v", 0 },
	{ "obs-fold", "HTTP/1.1 200 OK\r\nA: one\r\n two\r\n\tthree\r\nB: x\r\n\r\n", 0, 200, 1,
	    "OK", "A=one   two  \tthree|B=x", 0 },
	{ "obs-fold with bare LF", "HTTP/1.1 200 OK\nA: one\n two\n\n", 0, 200, 1, "OK",
	    "A=one  two", 0 },
	{ "obs-fold onto an empty value", "HTTP/1.1 200 OK\r\nA:\r\n  v\r\n\r\n", 0, 200, 1, "OK",
	    "A=v", 0 },
	{ "100 continue", "HTTP/1.1 100 Continue\r\n\r\n", 0, 100, 1, "Continue", "", 0 },
	{ "999", "HTTP/1.1 999 Odd\r\n\r\n", 0, 999, 1, "Odd", "", 0 },
	{ "token chars in names", "HTTP/1.1 200 OK\r\nX-!#$%&'*+.^_`|~: v\r\n\r\n", 0, 200, 1, "OK",
	    "X-!#$%&'*+.^_`|~=v", 0 },
	{ "value with colon", "HTTP/1.1 200 OK\r\nLocation: http://h:1/p\r\n\r\n", 0, 200, 1, "OK",
	    "Location=http://h:1/p", 0 },
	/* errors */
	{ "not HTTP", "HTTX/1.1 200 OK\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "HTTP/2", "HTTP/2 200 OK\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "two-digit status", "HTTP/1.1 20 OK\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "status 099", "HTTP/1.1 099 X\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "letters in status", "HTTP/1.1 2x0 OK\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "no space after version", "HTTP/1.1\t200 OK\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "control char in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "bare CR in status line", "HTTP/1.1 200 O\rK\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "space before colon", "HTTP/1.1 200 OK\r\nA : b\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL,
	    0 },
	{ "no colon", "HTTP/1.1 200 OK\r\nAbc\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "empty name", "HTTP/1.1 200 OK\r\n: b\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "bad name char", "HTTP/1.1 200 OK\r\nA(b: c\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "NUL in value", "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL, 0 },
	{ "bare CR in value", "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", ERR_PROTO, 0, 0, NULL, NULL,
	    0 },
	{ "fold before first field", "HTTP/1.1 200 OK\r\n folded\r\n\r\n", ERR_PROTO, 0, 0, NULL,
	    NULL, 0 },
	{ "status line only LF then junk", "HTTP/1.1 200 OK\n\x7f: x\n\n", ERR_PROTO, 0, 0, NULL,
	    NULL, 0 },
};

/* The sizes of the "NUL in value" case: strlen would stop at the NUL. */
static size_t
case_len(const struct head_case *c)
{
	if (strcmp(c->name, "NUL in value") == 0)
		return sizeof("HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n") - 1;
	return strlen(c->in);
}

static void
fields_str(const struct http_head *h, char *out, size_t n)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < h->nfields && o < n; i++) {
		o += (size_t)snprintf(out + o, n - o, "%s%.*s=%.*s", i ? "|" : "",
		    (int)h->fields[i].name.len, h->fields[i].name.p, (int)h->fields[i].value.len,
		    h->fields[i].value.p);
	}
}

static void
test_head_case(const struct head_case *c)
{
	struct http_field fields[HTTP_HEADERS_MAX];
	struct http_head h;
	struct err e = { 0 };
	size_t len = case_len(c), i, bad_prefix = 0;
	char *buf;
	ssize_t r;
	char got[1024];

	/* Every proper prefix: MORE for a good head; MORE or the same error for a bad one. */
	for (i = 0; i < len - c->trailing; i++) {
		buf = (char *)guard_copy(c->in, i);
		h.fields = fields;
		h.nfields = HTTP_HEADERS_MAX;
		err_clear(&e);
		r = http_parse_response(buf, i, &h, &e);
		if (c->code == 0
		        ? r != HTTP_PARSE_MORE
		        : !(r == HTTP_PARSE_MORE || (r == HTTP_PARSE_ERR && e.code == c->code))) {
			bad_prefix = i + 1;
			break;
		}
	}
	ok(bad_prefix == 0, "head %s: every prefix is incomplete%s", c->name,
	    c->code ? " or the same error" : "");
	if (bad_prefix)
		note("  prefix of %zu bytes gave %zd (%s)", bad_prefix - 1, r, e.msg);
	buf = (char *)guard_copy(c->in, len);
	h.fields = fields;
	h.nfields = HTTP_HEADERS_MAX;
	err_clear(&e);
	r = http_parse_response(buf, len, &h, &e);
	if (c->code != 0) {
		ok(r == HTTP_PARSE_ERR && e.code == c->code, "head %s: error %s", c->name,
		    err_name(c->code));
		if (r != HTTP_PARSE_ERR)
			note("  got %zd", r);
		return;
	}
	is_int(r, (ssize_t)(len - c->trailing), "head %s: consumed", c->name);
	if (r <= 0) {
		note("  error: %s", e.msg);
		return;
	}
	is_int(h.status, c->status, "head %s: status", c->name);
	is_int(h.minor_version, c->minor, "head %s: minor version", c->name);
	snprintf(got, sizeof(got), "%.*s", (int)h.reason.len, h.reason.p);
	is_str(got, c->reason, "head %s: reason", c->name);
	fields_str(&h, got, sizeof(got));
	is_str(got, c->fields, "head %s: fields", c->name);
	/* Parsing again from scratch (after obs-fold edited the buffer) gives the same. */
	h.nfields = HTTP_HEADERS_MAX;
	r = http_parse_response(buf, len, &h, &e);
	fields_str(&h, got, sizeof(got));
	ok(r == (ssize_t)(len - c->trailing) && strcmp(got, c->fields) == 0,
	    "head %s: parsing the same buffer again agrees", c->name);
	guard_retire();
}

static void
test_head_caps(void)
{
	struct http_field fields[HTTP_HEADERS_MAX + 8];
	struct http_head h;
	struct err e = { 0 };
	struct buf b;
	ssize_t r;
	int i;

	/* A status line that never ends is refused at the cap, not buffered. */
	buf_init(&b, 0);
	buf_puts(&b, "HTTP/1.1 200 ", NULL);
	while (b.len < HTTP_STATUS_LINE_BYTES_MAX)
		buf_putc(&b, 'x', NULL);
	h.fields = fields;
	h.nfields = HTTP_HEADERS_MAX;
	r = http_parse_response(b.p, HTTP_STATUS_LINE_BYTES_MAX - 1, &h, &e);
	is_int(r, HTTP_PARSE_MORE, "status line just under the cap: more");
	r = http_parse_response(b.p, b.len, &h, &e);
	ok(r == HTTP_PARSE_ERR && e.code == ERR_TOOBIG, "status line at the cap: too big");
	note("  %s", e.msg);
	buf_fini(&b);

	/* Headers that never end: too big at 64 KiB, while incomplete. */
	buf_init(&b, 0);
	buf_puts(&b, "HTTP/1.1 200 OK\r\n", NULL);
	while (b.len < HTTP_HEAD_BYTES_MAX + 100)
		buf_puts(&b,
		    "X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
		    NULL);
	h.nfields = HTTP_HEADERS_MAX;
	err_clear(&e);
	r = http_parse_response(b.p, HTTP_HEAD_BYTES_MAX - 1, &h, &e);
	ok(r == HTTP_PARSE_MORE ||
	        (r == HTTP_PARSE_ERR && e.code == ERR_TOOBIG && strstr(e.msg, "fields") != NULL),
	    "head just under 64 KiB: more (or too many "
	    "fields)");
	h.nfields = HTTP_HEADERS_MAX + 8;
	err_clear(&e);
	r = http_parse_response(b.p, HTTP_HEAD_BYTES_MAX - 1, &h, &e);
	is_int(r, HTTP_PARSE_MORE, "head just under 64 KiB with room for the fields: more");
	h.nfields = HTTP_HEADERS_MAX + 8;
	err_clear(&e);
	r = http_parse_response(b.p, b.len, &h, &e);
	ok(r == HTTP_PARSE_ERR && e.code == ERR_TOOBIG && strstr(e.msg, "64 KiB") != NULL,
	    "head over 64 KiB: too big, incomplete as it is");
	note("  %s", e.msg);
	buf_fini(&b);

	/* Field count: exactly at capacity works, one more is too big. */
	buf_init(&b, 0);
	buf_puts(&b, "HTTP/1.1 200 OK\r\n", NULL);
	for (i = 0; i < HTTP_HEADERS_MAX; i++)
		buf_printf(&b, NULL, "H%d: %d\r\n", i, i);
	buf_puts(&b, "\r\n", NULL);
	h.nfields = HTTP_HEADERS_MAX;
	err_clear(&e);
	r = http_parse_response(b.p, b.len, &h, &e);
	ok(r == (ssize_t)b.len && h.nfields == HTTP_HEADERS_MAX, "128 fields fit 128 slots");
	b.len -= 2;
	buf_puts(&b, "One-More: x\r\n\r\n", NULL);
	h.nfields = HTTP_HEADERS_MAX;
	err_clear(&e);
	r = http_parse_response(b.p, b.len, &h, &e);
	ok(r == HTTP_PARSE_ERR && e.code == ERR_TOOBIG, "129 fields in 128 slots: too big");
	note("  %s", e.msg);
	h.nfields = 0;
	err_clear(&e);
	r = http_parse_response((char *)"HTTP/1.1 200 OK\r\n\r\n", 19, &h, &e);
	ok(r == 19 && h.nfields == 0, "no fields with capacity 0");
	buf_fini(&b);

	/* Trailer section cap. */
	{
		char t[] = "A: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n";
		size_t nf = 4;

		err_clear(&e);
		r = http_parse_fields(t, strlen(t), fields, &nf, 16, &e);
		ok(r == HTTP_PARSE_ERR && e.code == ERR_TOOBIG,
		    "trailers over their cap: too "
		    "big");
		nf = 4;
		err_clear(&e);
		r = http_parse_fields(t, strlen(t), fields, &nf, 1024, &e);
		ok(r == (ssize_t)strlen(t) && nf == 1, "trailers under their cap: parsed");
		nf = 4;
		r = http_parse_fields((char *)"\r\n", 2, fields, &nf, 1024, &e);
		ok(r == 2 && nf == 0, "empty trailer section: CRLF");
		nf = 4;
		r = http_parse_fields((char *)"\n", 1, fields, &nf, 1024, &e);
		ok(r == 1 && nf == 0, "empty trailer section: bare LF");
		nf = 4;
		r = http_parse_fields((char *)"", 0, fields, &nf, 1024, &e);
		is_int(r, HTTP_PARSE_MORE, "empty input: more (the final CRLF is missing)");
		nf = 4;
		r = http_parse_fields((char *)"X: 1\r\n", 6, fields, &nf, 1024, &e);
		is_int(r, HTTP_PARSE_MORE, "trailer without the final CRLF: more");
	}
}

/* ---- chunked ------------------------------------------------------------------------ */

struct chunk_case {
	const char *name;
	const char *in;
	int code;             /* 0: decodes; else the error */
	const char *data;     /* expected body */
	const char *trailers; /* "name=value|..." */
	bool incomplete;      /* input ends before the body does */
};

static const struct chunk_case chunk_cases[] = {
	{ "one chunk", "5\r\nhello\r\n0\r\n\r\n", 0, "hello", "", false },
	{ "two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 0, "hello world", "", false },
	{ "hex upper and lower", "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", 0,
	    "0123456789abcdefghij", "", false },
	{ "leading zeros", "0005\r\nhello\r\n000\r\n\r\n", 0, "hello", "", false },
	{ "bare LF", "5\nhello\n0\n\n", 0, "hello", "", false },
	{ "extensions", "5;name=value\r\nhello\r\n3 ; a=\"q;x\" ; b\r\nabc\r\n0;last\r\n\r\n", 0,
	    "helloabc", "", false },
	{ "BWS before extension", "5 \t;x\r\nhello\r\n0\r\n\r\n", 0, "hello", "", false },
	{ "trailers", "3\r\nabc\r\n0\r\nX-Sum: 42\r\nY:  z \r\n\r\n", 0, "abc", "X-Sum=42|Y=z",
	    false },
	{ "trailers with bare LF", "3\nabc\n0\nA: 1\n\n", 0, "abc", "A=1", false },
	{ "empty body", "0\r\n\r\n", 0, "", "", false },
	{ "binary data with CRLF inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", 0, "\r\n\r\n", "", false },
	{ "missing final CRLF", "5\r\nhello\r\n0\r\n", 0, "hello", "", true },
	{ "missing last chunk", "5\r\nhello\r\n", 0, "hello", "", true },
	{ "cut in data", "5\r\nhel", 0, "hel", "", true },
	/* errors */
	{ "no digits", "\r\nhello\r\n0\r\n\r\n", ERR_PROTO, NULL, NULL, false },
	{ "bad hex", "5x\r\nhello\r\n0\r\n\r\n", ERR_PROTO, NULL, NULL, false },
	{ "space then digit", "5 5\r\nhello\r\n0\r\n\r\n", ERR_PROTO, NULL, NULL, false },
	{ "negative", "-5\r\nhello\r\n0\r\n\r\n", ERR_PROTO, NULL, NULL, false },
	{ "0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", ERR_PROTO, NULL, NULL, false },
	{ "data longer than size", "3\r\nhello\r\n0\r\n\r\n", ERR_PROTO, NULL, NULL, false },
	{ "CR without LF after size", "5\rhello\r\n0\r\n\r\n", ERR_PROTO, NULL, NULL, false },
	{ "CR without LF after data", "5\r\nhello\rX0\r\n\r\n", ERR_PROTO, NULL, NULL, false },
	{ "64-bit overflow", "10000000000000000\r\n", ERR_PROTO, NULL, NULL, false },
	{ "control char in extension", "5;a\x01\r\nhello\r\n0\r\n\r\n", ERR_PROTO, NULL, NULL,
	    false },
};

struct chunk_run {
	struct buf data;
	struct buf tail; /* bytes after the last chunk: the trailer section */
	char trailers[512];
	int code;
	bool done;
};

/* Feeds in[0..len) cut at the given points; pieces live on guard pages. */
static void
chunk_feed(const char *in, size_t len, const size_t *cuts, size_t ncuts, struct chunk_run *run)
{
	struct http_chunked d = { 0 };
	struct http_field tf[16];
	struct err e = { 0 };
	size_t start = 0, k;

	memset(run, 0, sizeof(*run));
	buf_init(&run->data, 0);
	buf_init(&run->tail, 0);
	for (k = 0; k <= ncuts && !run->done && run->code == 0; k++) {
		size_t end = k < ncuts ? cuts[k] : len, off = 0;
		const char *p = guard_copy(in + start, end - start);
		size_t n = end - start;

		while (off < n && run->code == 0 && !run->done) {
			struct str data;
			ssize_t r;

			if (http_chunked_in_trailers(&d)) {
				size_t nf = 16;

				buf_append(&run->tail, p + off, n - off, NULL);
				off = n;
				r = http_parse_fields(run->tail.p, run->tail.len, tf, &nf, 1024,
				    &e);
				if (r == HTTP_PARSE_ERR) {
					run->code = e.code;
				} else if (r > 0) {
					struct http_head hh = { .fields = tf, .nfields = nf };

					fields_str(&hh, run->trailers, sizeof(run->trailers));
					http_chunked_end(&d);
					run->done = true;
				}
				break;
			}
			r = http_chunked_decode(&d, p + off, n - off, &data, &e);
			if (r == HTTP_PARSE_ERR) {
				run->code = e.code;
				break;
			}
			if (data.len > 0) {
				if (data.p < p + off || data.p + data.len > p + n) {
					run->code = -100; /* data outside the input */
					break;
				}
				buf_append(&run->data, data.p, data.len, NULL);
			}
			if (r == 0 && !http_chunked_in_trailers(&d)) {
				run->code = -101; /* no progress */
				break;
			}
			off += (size_t)r;
		}
		guard_retire();
		start = end;
	}
	if (run->done && !http_chunked_done(&d))
		run->code = -102;
}

static bool
chunk_run_matches(const struct chunk_case *c, const struct chunk_run *run)
{
	if (c->code != 0)
		return run->code == c->code;
	if (run->code != 0)
		return false;
	if (run->done == c->incomplete)
		return false;
	if (strlen(c->data) != run->data.len ||
	    memcmp(c->data, run->data.p ? run->data.p : "", run->data.len) != 0)
		return false;
	return c->incomplete || strcmp(run->trailers, c->trailers) == 0;
}

static void
test_chunk_case(const struct chunk_case *c)
{
	size_t len = strlen(c->in), i, j, bad = 0, cuts[2];
	struct chunk_run run;

	chunk_feed(c->in, len, NULL, 0, &run);
	ok(chunk_run_matches(c, &run), "chunked %s: whole", c->name);
	if (!chunk_run_matches(c, &run))
		note("  code %d done %d data \"%.*s\" trailers \"%s\"", run.code, run.done,
		    (int)run.data.len, run.data.p ? run.data.p : "", run.trailers);
	buf_fini(&run.data);
	buf_fini(&run.tail);
	/* Every 1-byte split point. */
	for (i = 1; i < len && !bad; i++) {
		cuts[0] = i;
		chunk_feed(c->in, len, cuts, 1, &run);
		if (!chunk_run_matches(c, &run))
			bad = i;
		buf_fini(&run.data);
		buf_fini(&run.tail);
	}
	ok(bad == 0, "chunked %s: every split in two", c->name);
	if (bad)
		note("  split at %zu", bad);
	/* Every pair of split points (three pieces). */
	bad = 0;
	for (i = 1; i < len && !bad; i++) {
		for (j = i; j < len && !bad; j++) {
			cuts[0] = i;
			cuts[1] = j;
			chunk_feed(c->in, len, cuts, 2, &run);
			if (!chunk_run_matches(c, &run))
				bad = i * 1000 + j;
			buf_fini(&run.data);
			buf_fini(&run.tail);
		}
	}
	ok(bad == 0, "chunked %s: every split in three", c->name);
	if (bad)
		note("  split at %zu and %zu", bad / 1000, bad % 1000);
	/* One byte at a time. */
	{
		size_t *all = malloc(len * sizeof(*all));

		for (i = 1; i < len; i++)
			all[i - 1] = i;
		chunk_feed(c->in, len, all, len > 0 ? len - 1 : 0, &run);
		ok(chunk_run_matches(c, &run), "chunked %s: one byte at a time", c->name);
		buf_fini(&run.data);
		buf_fini(&run.tail);
		free(all);
	}
}

static void
test_chunk_caps(void)
{
	struct http_chunked d = { 0 };
	struct err e = { 0 };
	struct str data;
	struct buf b;
	ssize_t r;
	size_t i;

	/* A chunk-size line of extensions that never ends. */
	buf_init(&b, 0);
	buf_puts(&b, "5;", NULL);
	while (b.len < HTTP_CHUNK_LINE_BYTES_MAX + 10)
		buf_puts(&b, "x=y;", NULL);
	r = http_chunked_decode(&d, b.p, b.len, &data, &e);
	ok(r == HTTP_PARSE_ERR && e.code == ERR_TOOBIG, "huge chunk-size line: too big");
	note("  %s", e.msg);
	/* The same fed in small pieces still stops at the cap. */
	memset(&d, 0, sizeof(d));
	err_clear(&e);
	for (i = 0, r = 0; i < b.len && r >= 0; i += 7) {
		size_t n = b.len - i < 7 ? b.len - i : 7;

		r = http_chunked_decode(&d, b.p + i, n, &data, &e);
	}
	ok(r == HTTP_PARSE_ERR && e.code == ERR_TOOBIG,
	    "huge chunk-size line in pieces: too "
	    "big");
	buf_fini(&b);
	/* Many leading zeros: still a line cap, not a number problem. */
	buf_init(&b, 0);
	while (b.len < HTTP_CHUNK_LINE_BYTES_MAX + 1)
		buf_putc(&b, '0', NULL);
	buf_puts(&b, "5\r\n", NULL);
	memset(&d, 0, sizeof(d));
	err_clear(&e);
	r = http_chunked_decode(&d, b.p, b.len, &data, &e);
	ok(r == HTTP_PARSE_ERR && e.code == ERR_TOOBIG, "4 KiB of leading zeros: too big");
	buf_fini(&b);
	/* The largest 64-bit size is accepted as a number. */
	memset(&d, 0, sizeof(d));
	err_clear(&e);
	r = http_chunked_decode(&d, "ffffffffffffffff\r\nab", 20, &data, &e);
	ok(r == 20 && data.len == 2 && d.left == UINT64_MAX - 2, "size 2^64-1 decodes");
	/* Zero-length input is fine anywhere. */
	memset(&d, 0, sizeof(d));
	r = http_chunked_decode(&d, "", 0, &data, &e);
	ok(r == 0 && data.len == 0, "empty input consumes nothing");
	/* One data run per call: the second chunk waits for the next call. */
	memset(&d, 0, sizeof(d));
	r = http_chunked_decode(&d, "1\r\na\r\n1\r\nb\r\n0\r\n\r\n", 19, &data, &e);
	ok(r == 9 && data.len == 1 && data.p[0] == 'a', "one data run per call (%zd)", r);
	r = http_chunked_decode(&d, "b\r\n0\r\n\r\n", 8, &data, &e);
	ok(r == 6 && data.len == 1 && data.p[0] == 'b' && http_chunked_in_trailers(&d),
	    "second call: the second run and the last chunk");
	r = http_chunked_decode(&d, "\r\n", 2, &data, &e);
	ok(r == 0 && http_chunked_in_trailers(&d), "in trailers: nothing consumed");
	http_chunked_end(&d);
	ok(http_chunked_done(&d) && !http_chunked_in_trailers(&d), "end: done");
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++)
		test_head_case(&head_cases[i]);
	test_head_caps();
	for (i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++)
		test_chunk_case(&chunk_cases[i]);
	test_chunk_caps();
	return done_testing();
}
