/*
 * test_connect.c -- net/connect without a network: the envelope decoder fed every
 * split (guard pages, split.h), the end-of-stream JSON, Connect error bodies and
 * HTTP-status mapping, and the sentences users see. Calls over real sockets are
 * tested by tests/net/test_connect.py.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/connect.h"
#include "split.h"
#include "tap.h"

#define OUT_MAX (1u << 20)

struct out {
	char s[OUT_MAX];
	size_t len;
};

static void
out_puts(struct out *o, const char *s)
{
	size_t n = strlen(s);

	if (o->len + n >= OUT_MAX)
		n = OUT_MAX - 1 - o->len;
	memcpy(o->s + o->len, s, n);
	o->len += n;
	o->s[o->len] = '\0';
}

/* Frames render as "F<flags> <len> <first 16 bytes, hex>\n". */
static void
out_frame(struct out *o, const struct connect_frame *f)
{
	char line[96];
	size_t i, k;

	k = (size_t)snprintf(line, sizeof(line), "F%x %zu ", f->flags, f->payload.len);
	for (i = 0; i < f->payload.len && i < 16; i++)
		k += (size_t)snprintf(line + k, sizeof(line) - k, "%02x",
		    (unsigned char)f->payload.p[i]);
	snprintf(line + k, sizeof(line) - k, "\n");
	out_puts(o, line);
}

static void
out_err(struct out *o, int code)
{
	char s[32];

	snprintf(s, sizeof(s), "ERR %d\n", code);
	out_puts(o, s);
}

static void
run(size_t max, const char *in, size_t len, const size_t *cuts, size_t ncuts, struct out *o)
{
	struct connect_dec d;
	struct connect_frame f;
	struct err e = { 0 }, e2 = { 0 };
	size_t i, prev = 0, end, n;
	const char *p;
	ssize_t r;
	int rc;

	o->len = 0;
	o->s[0] = '\0';
	connect_dec_init(&d, max);
	for (i = 0; i <= ncuts; i++) {
		end = i < ncuts ? cuts[i] : len;
		p = guard_copy(in + prev, end - prev);
		n = end - prev;
		for (;;) {
			r = connect_dec_next(&d, p, n, &f, &e);
			if (r == DEC_MORE)
				break;
			if (r == DEC_ERR) {
				out_err(o, e.code);
				if (connect_dec_next(&d, "\0\0\0\0\0", 5, &f, &e2) != DEC_ERR ||
				    e2.code != e.code || strcmp(e2.msg, e.msg) != 0 ||
				    connect_dec_end(&d, &e2) != e.code)
					out_puts(o, "NOTSTICKY\n");
				goto done;
			}
			if (r < 1 || (size_t)r > n) {
				out_puts(o, "BADCOUNT\n");
				goto done;
			}
			out_frame(o, &f);
			p += r;
			n -= (size_t)r;
		}
		guard_retire();
		prev = end;
	}
	rc = connect_dec_end(&d, &e);
	if (rc != 0)
		out_err(o, rc);
	else
		out_puts(o, connect_dec_ended(&d) ? "END\n" : "EOF\n");
done:
	connect_dec_fini(&d);
}

static struct out got;

static void
check(const char *name, size_t max, const char *in, size_t len, const char *want)
{
	size_t cuts[2], i, j, bad = 0, total = 0, *bytes;

	run(max, in, len, NULL, 0, &got);
	if (!ok(strcmp(got.s, want) == 0, "%s: whole", name))
		note("  got:\n%s  want:\n%s", got.s, want);
	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		run(max, in, len, cuts, 1, &got);
		total++;
		if (strcmp(got.s, want) != 0 && bad++ == 0)
			note("  cut at %zu: got:\n%s", i, got.s);
	}
	ok(bad == 0, "%s: all %zu single cuts", name, total);
	if (len <= 100) {
		bad = total = 0;
		for (i = 0; i <= len; i++) {
			for (j = i; j <= len; j++) {
				cuts[0] = i;
				cuts[1] = j;
				run(max, in, len, cuts, 2, &got);
				total++;
				if (strcmp(got.s, want) != 0 && bad++ == 0)
					note("  cuts at %zu,%zu: got:\n%s", i, j, got.s);
			}
		}
		ok(bad == 0, "%s: all %zu double cuts", name, total);
	}
	bytes = malloc((len + 1) * sizeof(*bytes));
	for (i = 0; i < len; i++)
		bytes[i] = i + 1;
	run(max, in, len, bytes, len, &got);
	free(bytes);
	if (!ok(strcmp(got.s, want) == 0, "%s: one byte at a time", name))
		note("  got:\n%s", got.s);
}

#define CASE(name, max, in, want) check(name, max, in, sizeof(in) - 1, want)

static void
test_decoder(void)
{
	CASE("one message", 0, "\x00\x00\x00\x00\x05hello", "F0 5 68656c6c6f\nEOF\n");
	CASE("empty message", 0, "\x00\x00\x00\x00\x00", "F0 0 \nEOF\n");
	CASE("empty stream", 0, "", "EOF\n");
	CASE("messages then end", 0,
	    "\x00\x00\x00\x00\x07\x0a\x05\x0a\x03\x08\x97\x75"
	    "\x00\x00\x00\x00\x00"
	    "\x00\x00\x00\x00\x02\x0a\x08"
	    "\x02\x00\x00\x00\x02{}",
	    "F0 7 0a050a03089775\nF0 0 \nF0 2 0a08\nF2 2 7b7d\nEND\n");
	CASE("end with error", 0,
	    "\x02\x00\x00\x00\x36{\"error\":{\"code\":\"not_found\",\"message\":\"no such pid\"}}",
	    "F2 54 7b226572726f72223a7b22636f646522\nEND\n");
	CASE("compressed is refused", 0,
	    "\x00\x00\x00\x00\x01x\x01\x00\x00\x00\x03"
	    "abc",
	    "F0 1 78\nERR 5\n");
	CASE("compressed end is refused", 0, "\x03\x00\x00\x00\x02{}", "ERR 5\n");
	CASE("reserved bits pass", 0, "\x80\x00\x00\x00\x01z", "F80 1 7a\nEOF\n");
	CASE("message == max", 4,
	    "\x00\x00\x00\x00\x04"
	    "abcd",
	    "F0 4 61626364\nEOF\n");
	CASE("message > max", 4,
	    "\x00\x00\x00\x00\x03"
	    "abc\x00\x00\x00\x00\x05"
	    "abcde",
	    "F0 3 616263\nERR 2\n");
	CASE("huge length > default max", 0, "\x00\xff\xff\xff\xff", "ERR 2\n");
	CASE("end stream > max", 4, "\x02\x00\x00\x00\x05{    }", "ERR 2\n");
	CASE("data after end", 0, "\x02\x00\x00\x00\x02{}\x00", "F2 2 7b7d\nERR 5\n");
	CASE("message after end", 0, "\x02\x00\x00\x00\x02{}\x00\x00\x00\x00\x00",
	    "F2 2 7b7d\nERR 5\n");
	CASE("cut in header", 0, "\x00\x00\x00\x00\x01x\x00\x00", "F0 1 78\nERR 5\n");
	CASE("cut in payload", 0, "\x00\x00\x00\x00\x04xy", "ERR 5\n");
	CASE("cut after header", 0, "\x00\x00\x00\x00\x04", "ERR 5\n");
	CASE("end without payload", 0, "\x02\x00\x00\x00\x00", "F2 0 \nEND\n");

	/* A 200 KB message in many reads. */
	{
		size_t n = 5 + 200000 + 7, i, nc = 0;
		char *in = malloc(n);
		static size_t cuts[400];

		in[0] = 0;
		in[1] = 0;
		in[2] = (char)(200000 >> 16);
		in[3] = (char)(200000 >> 8 & 0xff);
		in[4] = (char)(200000 & 0xff);
		for (i = 0; i < 200000; i++)
			in[5 + i] = (char)i;
		memcpy(in + 5 + 200000, "\x02\x00\x00\x00\x02{}", 7);
		for (i = 3; i < n && nc < 400; i += 601)
			cuts[nc++] = i;
		run(0, in, n, cuts, nc, &got);
		ok(strcmp(got.s, "F0 200000 000102030405060708090a0b0c0d0e0f\nF2 2 7b7d\nEND\n") ==
		        0,
		    "a 200 KB message across %zu reads", nc + 1);
		run(0, in, n, NULL, 0, &got);
		ok(strcmp(got.s, "F0 200000 000102030405060708090a0b0c0d0e0f\nF2 2 7b7d\nEND\n") ==
		        0,
		    "a 200 KB message in one read");
		free(in);
	}
}

static void
test_zero_copy_and_put(void)
{
	struct connect_dec d;
	struct connect_frame f;
	struct err e = { 0 };
	struct buf b = { 0 }, small;
	const char *p;
	ssize_t r;
	size_t i;

	ok(connect_envelope_put(&b, 0, "abc", 3, &e) == 0 &&
	        connect_envelope_put(&b, 0, NULL, 0, &e) == 0 &&
	        connect_envelope_put(&b, CONNECT_FLAG_END, "{}", 2, &e) == 0,
	    "envelope_put x3");
	ok(b.len == 8 + 5 + 7 &&
	        memcmp(b.p,
	            "\x00\x00\x00\x00\x03"
	            "abc"
	            "\x00\x00\x00\x00\x00"
	            "\x02\x00\x00\x00\x02{}",
	            b.len) == 0,
	    "envelope_put bytes");

	connect_dec_init(&d, 0);
	p = guard_copy(b.p, b.len);
	r = connect_dec_next(&d, p, b.len, &f, &e);
	ok(r == 8 && f.flags == 0 && f.payload.p == p + 5 && f.payload.len == 3,
	    "zero-copy: a whole frame points into the caller's buffer");
	r = connect_dec_next(&d, p + 8, b.len - 8, &f, &e);
	ok(r == 5 && f.payload.len == 0, "empty frame");
	ok(!connect_dec_ended(&d), "not ended before the end frame");
	r = connect_dec_next(&d, p + 13, b.len - 13, &f, &e);
	ok(r == 7 && f.flags == CONNECT_FLAG_END && f.payload.p == p + 18, "end frame in place");
	ok(connect_dec_ended(&d), "ended after the end frame");
	is_int(connect_dec_next(&d, p + 20, 0, &f, &e), DEC_MORE, "no bytes after end: DEC_MORE");
	is_int(connect_dec_end(&d, &e), 0, "clean EOF after end");
	guard_retire();
	connect_dec_fini(&d);

	/* A zero-filled decoder works with the default cap. */
	memset(&d, 0, sizeof(d));
	r = connect_dec_next(&d, b.p, b.len, &f, &e);
	ok(r == 8 && f.payload.len == 3, "zero-filled decoder");
	connect_dec_fini(&d);

	buf_init(&small, 6);
	err_clear(&e);
	ok(connect_envelope_put(&small, 0, "abc", 3, &e) == ERR_TOOBIG,
	    "envelope_put into a capped buf fails with ERR_TOOBIG");
	buf_fini(&small);

	/* Error messages are sentences that say what happened. */
	connect_dec_init(&d, 0);
	err_clear(&e);
	r = connect_dec_next(&d, "\x01\x00\x00\x00\x01z", 6, &f, &e);
	ok(r == DEC_ERR && e.code == ERR_PROTO && strstr(e.msg, "compress") != NULL,
	    "compressed: %s", e.msg);
	connect_dec_fini(&d);
	connect_dec_init(&d, 10);
	err_clear(&e);
	r = connect_dec_next(&d, "\x00\x00\x00\x00\x0b", 5, &f, &e);
	ok(r == DEC_ERR && e.code == ERR_TOOBIG && strstr(e.msg, "11 bytes") != NULL &&
	        strstr(e.msg, "10-byte") != NULL,
	    "too big: %s", e.msg);
	connect_dec_fini(&d);
	connect_dec_init(&d, 0);
	err_clear(&e);
	r = connect_dec_next(&d, "\x00\x00\x00\x00\x09xy", 7, &f, &e);
	ok(r == DEC_MORE && connect_dec_end(&d, &e) == ERR_PROTO && strstr(e.msg, "7 of 9") != NULL,
	    "cut: %s", e.msg);
	connect_dec_fini(&d);

	/* Random envelope streams round-trip through put and the decoder. */
	{
		uint32_t x = 12345;
		size_t bad = 0, k, nc, cuts[4];
		struct out want;
		char frame[64];
		struct connect_frame wf;

		for (i = 0; i < 500; i++) {
			buf_reset(&b);
			want.len = 0;
			want.s[0] = '\0';
			for (k = 0; k < (x >> 3) % 6; k++) {
				size_t n = (x >> 5) % 40, j;

				for (j = 0; j < n; j++)
					frame[j] = (char)(x >> (j % 24));
				connect_envelope_put(&b, 0, frame, n, &e);
				wf.flags = 0;
				wf.payload = (struct str){ frame, n };
				out_frame(&want, &wf);
				x = x * 1103515245u + 12345u;
			}
			connect_envelope_put(&b, CONNECT_FLAG_END, "{}", 2, &e);
			out_puts(&want, "F2 2 7b7d\nEND\n");
			nc = (x >> 7) % 4;
			for (k = 0; k < nc; k++)
				cuts[k] = (x >> (k * 5)) % (b.len + 1);
			for (k = 1; k < nc; k++)
				if (cuts[k] < cuts[k - 1])
					cuts[k] = cuts[k - 1];
			run(0, b.p, b.len, cuts, nc, &got);
			if (strcmp(got.s, want.s) != 0 && bad++ == 0)
				note("  got:\n%s  want:\n%s", got.s, want.s);
			x = x * 1103515245u + 12345u;
		}
		ok(bad == 0, "500 random envelope streams round-trip");
	}
	buf_fini(&b);
}

static void
test_codes(void)
{
	int i, bad = 0;

	for (i = 1; i < CONNECT__MAX; i++) {
		const char *n = connect_code_name(i);

		if (connect_code_parse(n, strlen(n)) != i)
			bad++;
	}
	ok(bad == 0, "every code name parses back to its code");
	is_str(connect_code_name(CONNECT_NOT_FOUND), "not_found", "name not_found");
	is_str(connect_code_name(CONNECT_UNAUTHENTICATED), "unauthenticated",
	    "name unauthenticated");
	is_str(connect_code_name(0), "ok", "name ok");
	is_str(connect_code_name(99), "unknown", "name out of range");
	is_str(connect_code_name(-3), "unknown", "name negative");
	is_int(connect_code_parse("ok", 2), -1, "\"ok\" is not an error code");
	is_int(connect_code_parse("not_foun", 8), -1, "prefix is not a code");
	is_int(connect_code_parse("NOT_FOUND", 9), -1, "codes are lower-case");
	is_int(connect_code_parse("canceled", 8), CONNECT_CANCELED, "canceled");
	is_int(connect_code_parse("unauthenticated", 15), 16, "unauthenticated is 16");

	is_int(connect_code_from_http(200), CONNECT_OK, "200 ok");
	is_int(connect_code_from_http(400), CONNECT_INTERNAL, "400 internal");
	is_int(connect_code_from_http(401), CONNECT_UNAUTHENTICATED, "401 unauthenticated");
	is_int(connect_code_from_http(403), CONNECT_PERMISSION_DENIED, "403 permission_denied");
	is_int(connect_code_from_http(404), CONNECT_UNIMPLEMENTED, "404 unimplemented");
	is_int(connect_code_from_http(429), CONNECT_UNAVAILABLE, "429 unavailable");
	is_int(connect_code_from_http(502), CONNECT_UNAVAILABLE, "502 unavailable");
	is_int(connect_code_from_http(503), CONNECT_UNAVAILABLE, "503 unavailable");
	is_int(connect_code_from_http(504), CONNECT_UNAVAILABLE, "504 unavailable");
	is_int(connect_code_from_http(500), CONNECT_UNKNOWN, "500 unknown");
	is_int(connect_code_from_http(418), CONNECT_UNKNOWN, "418 unknown");

	is_int(connect_code_err(CONNECT_OK), ERR_OK, "err ok");
	is_int(connect_code_err(CONNECT_NOT_FOUND), ERR_NOTFOUND, "err not_found");
	is_int(connect_code_err(CONNECT_DEADLINE_EXCEEDED), ERR_TIMEOUT, "err deadline");
	is_int(connect_code_err(CONNECT_CANCELED), ERR_CANCELLED, "err canceled");
	is_int(connect_code_err(CONNECT_ALREADY_EXISTS), ERR_EXISTS, "err already_exists");
	is_int(connect_code_err(CONNECT_UNIMPLEMENTED), ERR_UNSUPPORTED, "err unimplemented");
	is_int(connect_code_err(CONNECT_INVALID_ARGUMENT), ERR_INVAL, "err invalid_argument");
	is_int(connect_code_err(CONNECT_UNAUTHENTICATED), ERR_BACKEND, "err unauthenticated");
	is_int(connect_code_err(CONNECT_UNAVAILABLE), ERR_BACKEND, "err unavailable");
}

#define S(lit) lit, sizeof(lit) - 1

static void
end_case(const char *name, const char *p, size_t n, int want_rc, int want_code,
    const char *want_msg)
{
	struct arena *a = arena_new(1 << 16);
	struct connect_status st = { 0 };
	struct err e = { 0 };
	int rc;

	st.message = "";
	rc = connect_end_parse(p, n, &st, a, &e);
	if (!ok(rc == want_rc &&
	            (rc != 0 ||
	                (st.code == want_code && strcmp(st.message, want_msg) == 0 &&
	                    st.remote == (want_code != CONNECT_OK))),
	        "end-of-stream: %s", name))
		note("  rc %d code %d message \"%s\" err \"%s\"", rc, st.code, st.message, e.msg);
	arena_free(a);
}

static void
test_end_parse(void)
{
	end_case("{}", S("{}"), 0, CONNECT_OK, "");
	end_case("spaces", S(" { } "), 0, CONNECT_OK, "");
	end_case("metadata only", S("{\"metadata\":{\"k\":[\"v\"]}}"), 0, CONNECT_OK, "");
	end_case("error null", S("{\"error\":null}"), 0, CONNECT_OK, "");
	end_case("not_found",
	    S("{\"error\":{\"code\":\"not_found\",\"message\":\"process with "
	      "pid 12 not found\"}}"),
	    0, CONNECT_NOT_FOUND, "process with pid 12 not found");
	end_case("with details and metadata",
	    S("{\"error\":{\"code\":\"invalid_argument\","
	      "\"message\":\"cwd '/x' does not exist\",\"details\":[{\"type\":\"t\",\"value\":"
	      "\"AAA\"}]},\"metadata\":{\"k\":[\"v\"]}}"),
	    0, CONNECT_INVALID_ARGUMENT, "cwd '/x' does not exist");
	end_case("unknown code string", S("{\"error\":{\"code\":\"bogus\",\"message\":\"m\"}}"), 0,
	    CONNECT_UNKNOWN, "m");
	end_case("missing code", S("{\"error\":{\"message\":\"m\"}}"), 0, CONNECT_UNKNOWN, "m");
	end_case("numeric code", S("{\"error\":{\"code\":5}}"), 0, CONNECT_UNKNOWN, "");
	end_case("message with newline",
	    S("{\"error\":{\"code\":\"internal\",\"message\":"
	      "\"a\\nb\\tc\"}}"),
	    0, CONNECT_INTERNAL, "a b c");
	end_case("empty payload", S(""), ERR_PROTO, 0, "");
	end_case("array", S("[]"), ERR_PROTO, 0, "");
	end_case("truncated", S("{\"error\":"), ERR_PROTO, 0, "");
	end_case("error is a string", S("{\"error\":\"x\"}"), ERR_PROTO, 0, "");
	end_case("binary", S("\x0a\x05"), ERR_PROTO, 0, "");
}

static void
body_case(const char *name, int status, const char *reason, const char *p, size_t n, int want_code,
    bool want_http, int want_err, const char *want_sentence)
{
	struct arena *a = arena_new(1 << 16);
	struct connect_status st;
	struct err e = { 0 };
	int rc;

	memset(&st, 0, sizeof(st));
	connect_error_body(status, reason, p, n, &st, a);
	rc = connect_status_err(&st, &e);
	if (!ok(st.code == want_code && st.from_http == want_http && st.http_status == status &&
	            st.remote && rc == want_err && e.code == want_err &&
	            strcmp(e.msg, want_sentence) == 0,
	        "error body: %s", name))
		note("  code %d from_http %d rc %d msg \"%s\"", st.code, st.from_http, rc, e.msg);
	arena_free(a);
}

static void
test_error_body(void)
{
	body_case("connect not_found", 404, "Not Found",
	    S("{\"code\":\"not_found\",\"message\":\"process with pid 12 not found\"}"),
	    CONNECT_NOT_FOUND, false, ERR_NOTFOUND, "not_found: process with pid 12 not found");
	body_case("connect code wins over status", 500, "Internal Server Error",
	    S("{\"code\":\"already_exists\",\"message\":\"dir exists\"}"), CONNECT_ALREADY_EXISTS,
	    false, ERR_EXISTS, "already_exists: dir exists");
	body_case("connect with details", 400, NULL,
	    S("{\"code\":\"invalid_argument\",\"message\":\"bad\",\"details\":[{\"type\":\"x\","
	      "\"value\":\"AA\"}]}"),
	    CONNECT_INVALID_ARGUMENT, false, ERR_INVAL, "invalid_argument: bad");
	body_case("connect without message", 404, "Not Found", S("{\"code\":\"not_found\"}"),
	    CONNECT_NOT_FOUND, false, ERR_NOTFOUND,
	    "not_found: the requested object was not found");
	body_case("envd 401 numeric code", 401, "Unauthorized",
	    S("{\"code\":401,\"message\":\"unauthorized access, please provide a valid access "
	      "token or method signing if supported\"}"),
	    CONNECT_UNAUTHENTICATED, true, ERR_BACKEND,
	    "unauthenticated: the server answered HTTP 401, not a Connect response: unauthorized "
	    "access, please provide a valid access token or method signing if supported");
	body_case("proxy 502 text", 502, "Bad Gateway", S("Bad Gateway\n"), CONNECT_UNAVAILABLE,
	    true, ERR_BACKEND,
	    "unavailable: the server answered HTTP 502, not a Connect response: "
	    "Bad Gateway");
	body_case("gateway 502 text", 502, "Bad Gateway",
	    S("API Error: healthy sandbox abc not found\nmore"), CONNECT_UNAVAILABLE, true,
	    ERR_BACKEND,
	    "unavailable: the server answered HTTP 502, not a Connect response: "
	    "API Error: healthy sandbox abc not found");
	body_case("503 empty body uses reason", 503, "Service Unavailable", "", 0,
	    CONNECT_UNAVAILABLE, true, ERR_BACKEND,
	    "unavailable: the server answered HTTP 503, "
	    "not a Connect response: Service Unavailable");
	body_case("html body", 500, "Internal Server Error", S("<html><body>oops</body></html>"),
	    CONNECT_UNKNOWN, true, ERR_BACKEND,
	    "unknown: the server answered HTTP 500, not a "
	    "Connect response: Internal Server Error");
	body_case("400 junk", 400, NULL, S("{not json"), CONNECT_INTERNAL, true, ERR_BACKEND,
	    "internal: the server answered HTTP 400, not a Connect response");
	body_case("404 fastapi", 404, "Not Found", S("{\"detail\":\"Not Found\"}"),
	    CONNECT_UNIMPLEMENTED, true, ERR_UNSUPPORTED,
	    "unimplemented: the server answered "
	    "HTTP 404, not a Connect response: Not Found");
	body_case("429", 429, "Too Many Requests", "", 0, CONNECT_UNAVAILABLE, true, ERR_BACKEND,
	    "unavailable: the server answered HTTP 429, not a Connect response: Too Many Requests");
	body_case("403 unknown code string", 403, "Forbidden",
	    S("{\"code\":\"FORBIDDEN\",\"message\":\"no\"}"), CONNECT_PERMISSION_DENIED, true,
	    ERR_BACKEND,
	    "permission_denied: the server answered HTTP 403, not a Connect "
	    "response: no");
	body_case("control bytes cleaned", 404, NULL,
	    S("{\"code\":\"not_found\",\"message\":\"a\\r\\nb\\u0000c\\u001b[31m\"}"),
	    CONNECT_NOT_FOUND, false, ERR_NOTFOUND, "not_found: a b c [31m");
}

/* The arena cap swept from 0 up: never a crash, always a code and a sentence. */
static void
test_arena_sweep(void)
{
	static const char body[] = "{\"code\":\"not_found\",\"message\":\"process with pid 12 "
	                           "not found\",\"details\":[{\"type\":\"x\",\"value\":\"AA\"}]}";
	static const char end[] = "{\"error\":{\"code\":\"internal\",\"message\":\"m\"},"
	                          "\"metadata\":{\"k\":[\"v\"]}}";
	size_t max;
	int bad = 0;

	for (max = 0; max <= 4096; max += 16) {
		struct arena *a = arena_new(max);
		struct connect_status st;
		struct err e = { 0 };
		int rc;

		memset(&st, 0, sizeof(st));
		connect_error_body(404, "Not Found", body, sizeof(body) - 1, &st, a);
		rc = connect_status_err(&st, &e);
		if (st.message == NULL || rc == 0 || e.msg[0] == '\0' ||
		    (st.code != CONNECT_NOT_FOUND && st.code != CONNECT_UNIMPLEMENTED))
			bad++;
		err_clear(&e);
		memset(&st, 0, sizeof(st));
		st.message = "";
		rc = connect_end_parse(end, sizeof(end) - 1, &st, a, &e);
		if (rc != 0 ? rc != ERR_PROTO : st.code != CONNECT_INTERNAL || st.message == NULL)
			bad++;
		arena_free(a);
	}
	ok(bad == 0, "arena cap swept 0..4096: error parsing degrades, never fails");
}

int
main(void)
{
	test_decoder();
	test_zero_copy_and_put();
	test_codes();
	test_end_parse();
	test_error_body();
	test_arena_sweep();
	return done_testing();
}
